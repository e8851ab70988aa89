"""Scenario-table columns for convergence aids and orchestrators (``precopy predict``).

:func:`parse_columns` validates the columns below for one row and returns an
:class:`OperatorSettings` (aids, streams, orchestrator, run-time controls);
:mod:`precopy.predict` calls it from ``parse_scenario`` with the row's other
values.  Every column is optional; a value that does not apply to the row is an
error naming the column, as for the other columns.

===================================  ==============================================================
``auto_converge``                    ``on`` or ``off`` (default ``off``): QEMU auto-converge
``auto_converge_initial_pct``        ``cpu-throttle-initial`` (%), default 20; needs ``auto_converge=on``
``auto_converge_increment_pct``      ``cpu-throttle-increment`` (%), default 10; needs ``auto_converge=on``
``postcopy``                         ``off`` (default), ``after-first-pass`` (libvirt's
                                     ``--postcopy-after-precopy``) or ``on-timeout``
``postcopy_after_s``                 seconds after the start at which ``on-timeout`` switches; required
                                     with ``on-timeout`` and only there
``xbzrle_cache_mib``                 QEMU XBZRLE with this cache (MiB; a power-of-two number of pages)
``dirty_limit_mibps``                QEMU dirty-limit: per-vCPU dirty-rate quota (MiB/s)
``vcpus``                            vCPUs for ``dirty_limit_mibps`` (default 1; only with it)
``multifd_channels``                 QEMU multifd channels: the link's stream count (policy qemu;
                                     not together with a different ``streams``)
``orchestrator``                     ``none`` (default), ``kubevirt``, ``nova``, ``libvirt`` (policy qemu)
``kubevirt_bandwidth_per_migration_mibps``  ``bandwidthPerMigration`` (MiB/s, 0 = unlimited)
``kubevirt_completion_timeout_per_gib_s``   ``completionTimeoutPerGiB`` (default 150)
``kubevirt_progress_timeout_s``      ``progressTimeout`` (default 150; 0 = off)
``kubevirt_allow_auto_converge``     ``allowAutoConverge`` (``true``/``false``)
``kubevirt_allow_post_copy``         ``allowPostCopy``
``kubevirt_allow_workload_disruption``  ``allowWorkloadDisruption`` (default: as allowPostCopy)
``kubevirt_max_downtime_ms``         ``maxDowntimeMs`` (VEP 252)
``kubevirt_downtime_tuning``         VEP 291 ramp with its defaults (``true``/``false``; needs maxDowntimeMs)
``kubevirt_stall_detection``         VEP 248 (``true``/``false``)
``nova_downtime_ms``                 ``live_migration_downtime`` (default 500)
``nova_downtime_steps``              ``live_migration_downtime_steps`` (default 10)
``nova_downtime_delay_s``            ``live_migration_downtime_delay`` (s per GiB, default 75)
``nova_completion_timeout_s``        ``live_migration_completion_timeout`` (s per GiB, default 800)
``nova_timeout_action``              ``live_migration_timeout_action``: ``abort`` or ``force_complete``
``nova_permit_post_copy``            ``live_migration_permit_post_copy``
``nova_permit_auto_converge``        ``live_migration_permit_auto_converge``
``libvirt_timeout_s``                ``virsh migrate --timeout``
``libvirt_timeout_action``           ``suspend`` (default) or ``postcopy`` (``--timeout-postcopy``)
``libvirt_postcopy_after_precopy``   ``--postcopy-after-precopy``
``libvirt_auto_converge``            ``--auto-converge``
``libvirt_max_downtime_ms``          the downtime limit (``migrate-setmaxdowntime``; default 300)
===================================  ==============================================================

With an orchestrator the row's own ``downtime_limit_ms``, ``max_bandwidth_mibps``,
``auto_converge`` and ``postcopy`` are errors: the orchestrator's settings decide
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _validate as v
from .units import MiB

__all__ = ["OPERATOR_COLUMNS", "OperatorSettings", "apply", "parse_columns"]

_KV = ("kubevirt_bandwidth_per_migration_mibps", "kubevirt_completion_timeout_per_gib_s",
       "kubevirt_progress_timeout_s", "kubevirt_allow_auto_converge", "kubevirt_allow_post_copy",
       "kubevirt_allow_workload_disruption", "kubevirt_max_downtime_ms", "kubevirt_downtime_tuning",
       "kubevirt_stall_detection")
_NOVA = ("nova_downtime_ms", "nova_downtime_steps", "nova_downtime_delay_s", "nova_completion_timeout_s",
         "nova_timeout_action", "nova_permit_post_copy", "nova_permit_auto_converge")
_LV = ("libvirt_timeout_s", "libvirt_timeout_action", "libvirt_postcopy_after_precopy", "libvirt_auto_converge",
       "libvirt_max_downtime_ms")
#: Every column this module reads, in table order.
OPERATOR_COLUMNS = ("auto_converge", "auto_converge_initial_pct", "auto_converge_increment_pct", "postcopy",
                    "postcopy_after_s", "xbzrle_cache_mib", "dirty_limit_mibps", "vcpus", "multifd_channels",
                    "orchestrator") + _KV + _NOVA + _LV


@dataclass(frozen=True)
class OperatorSettings:
    """What the columns ask for.

    Attributes
    ----------
    aids : tuple
        :mod:`precopy.aids` instances.
    streams : int or None
        Link streams from ``multifd_channels`` (None: not given).
    orchestrator : object or None
        A :mod:`precopy.orchestrators` instance.
    controls : dict
        Run-time controls (fields of ``precopy.policies.Controls``) the aid
        columns ask for (``postcopy=on-timeout``).
    """

    aids: tuple = ()
    streams: int | None = None
    orchestrator: object = None
    controls: dict = field(default_factory=dict)

    def __post_init__(self):
        from . import aids as A
        from . import orchestrators as O
        from .policies import Controls
        object.__setattr__(self, "aids", A.check_aids(self.aids))
        if self.streams is not None:
            object.__setattr__(self, "streams", v.integer(self.streams, "streams", "count", lo=1, hi=1024))
        kinds = tuple(O._ORCH.values())
        if self.orchestrator is not None and not isinstance(self.orchestrator, kinds):
            raise ValueError(f"orchestrator must be None or one of precopy.orchestrators."
                             f"{', '.join(k.__name__ for k in kinds)}; got {self.orchestrator!r}")
        if not isinstance(self.controls, dict):
            raise ValueError(f"controls must be a dict of precopy.policies.Controls fields; got {self.controls!r}")
        try:
            Controls(**self.controls)
        except TypeError as e:
            raise ValueError(f"controls must be a dict of precopy.policies.Controls fields; got "
                             f"{self.controls!r} ({e})") from None
        except ValueError as e:
            raise ValueError(f"controls: {e}") from None


def _blank(x):
    # NaN is a value (and rejected by the range checks), not an empty cell, as in precopy.predict:
    # a pandas DataFrame's missing cells are turned into None before a row gets here.
    return x is None or (isinstance(x, str) and not x.strip())


def parse_columns(raw: dict, *, policy: str = "qemu", streams: int | None = None, page_bytes: int = 4096,
                  downtime_limit_given: bool = False, max_bandwidth_given: bool = False) -> OperatorSettings:
    """Validate the aid and orchestrator columns of one scenario row.

    Parameters
    ----------
    raw : dict
        Column -> value (strings or numbers; blank, None or nan = not given).
        Columns outside :data:`OPERATOR_COLUMNS` are ignored.
    policy : str
        The row's policy name (aids and orchestrators here are QEMU's).
    streams : int or None
        The row's ``streams`` value, if given.
    page_bytes : int, default 4096
        The row's page size (XBZRLE's cache must hold a power-of-two number of pages).
    downtime_limit_given, max_bandwidth_given : bool
        Whether the row sets ``downtime_limit_ms`` / ``max_bandwidth_mibps``
        (errors with an orchestrator).

    Raises
    ------
    ValueError
        ``column 'name': ...`` for a bad or inapplicable value.

    Examples
    --------
    >>> s = parse_columns({"auto_converge": "on", "auto_converge_initial_pct": 30, "multifd_channels": 4})
    >>> type(s.aids[0]).__name__, s.aids[0].initial, s.streams
    ('AutoConverge', 0.3, 4)
    >>> parse_columns({"orchestrator": "nova", "nova_timeout_action": "force_complete"}).orchestrator.name
    'nova'
    """
    from . import aids as A
    from . import orchestrators as O
    from .hypervisors import NAMES as PRESETS
    from .policies import NAMES as POLICIES

    if not isinstance(raw, dict):
        raise ValueError(f"raw must be a dict of column -> value (one scenario row); got {type(raw).__name__}")
    v.choice(policy.strip().lower().replace("_", "-") if isinstance(policy, str) else policy, "policy",
             POLICIES + PRESETS)
    if streams is not None:
        streams = v.integer(streams, "streams", "count", lo=1, hi=1024)
    page_bytes = v.page_size(page_bytes, "page_bytes")
    v.flag(downtime_limit_given, "downtime_limit_given")
    v.flag(max_bandwidth_given, "max_bandwidth_given")

    val = {k: (None if _blank(raw.get(k)) else raw.get(k)) for k in OPERATOR_COLUMNS}

    def err(col, msg):
        return ValueError(f"column {col!r}: {msg}")

    def forbid(col, why):
        if val[col] is not None:
            raise err(col, f"does not apply {why}; leave it empty (got {val[col]!r})")

    def num(col, unit, *, lo=None, hi=None, lo_open=False, integer=False, default=None):
        try:
            return v.cell_number(val[col], col, unit, lo=lo, hi=hi, lo_open=lo_open, whole=integer, default=default)
        except ValueError as e:
            raise err(col, str(e)) from None

    def text(col, options, default):
        x = val[col]
        if x is None:
            return default
        s = str(x).strip().lower().replace("_", "-")
        opts = [o.replace("_", "-") for o in options]
        if s not in opts:
            raise err(col, f"must be one of {', '.join(map(repr, options))}; got {x!r}")
        return options[opts.index(s)]

    def flag(col, default=None):
        x = val[col]
        if x is None:
            return default
        s = str(x).strip().lower()
        if s in ("true", "on", "yes", "1", "1.0"):
            return True
        if s in ("false", "off", "no", "0", "0.0"):
            return False
        raise err(col, f"must be true or false; got {x!r}")

    pol = str(policy).strip().lower()
    aids = []
    controls = {}
    ac = text("auto_converge", ("on", "off"), "off")
    if ac == "on":
        ini = num("auto_converge_initial_pct", "%", lo=1.0, hi=99.0, default=20.0)
        inc = num("auto_converge_increment_pct", "%", lo=1.0, hi=99.0, default=10.0)
        aids.append(A.AutoConverge(initial=ini / 100.0, increment=inc / 100.0))
    else:
        for c in ("auto_converge_initial_pct", "auto_converge_increment_pct"):
            forbid(c, "without auto_converge=on")
    pc = text("postcopy", ("off", "after-first-pass", "on-timeout"), "off")
    if pc == "on-timeout":
        t = num("postcopy_after_s", "s", lo=0.0, lo_open=True)
        if t is None:
            raise err("postcopy_after_s", "a value is required with postcopy=on-timeout; got an empty cell")
        controls = {"completion_timeout_s": t, "completion_action": "postcopy"}
    else:
        forbid("postcopy_after_s", "without postcopy=on-timeout")
        if pc == "after-first-pass":
            aids.append(A.PostCopy(after_rounds=1, on_no_progress=False))
    cache = num("xbzrle_cache_mib", "MiB", lo=0.0, hi=2**20, lo_open=True)
    if cache is not None:
        b = cache * MiB(1)
        if not float(b).is_integer():
            raise err("xbzrle_cache_mib", f"must be a whole number of bytes; got {val['xbzrle_cache_mib']!r}")
        try:
            xb = A.XBZRLE(cache_bytes=int(b))
            xb.slots(page_bytes)
        except ValueError as e:
            raise err("xbzrle_cache_mib", str(e)) from None
        aids.append(xb)
    dlim = num("dirty_limit_mibps", "MiB/s per vCPU", lo=0.0, hi=1e6, lo_open=True)
    if dlim is not None:
        if ac == "on":
            raise err("dirty_limit_mibps", "QEMU refuses dirty-limit together with auto-converge; leave one empty")
        aids.append(A.DirtyLimit(vcpu_dirty_limit_Bps=dlim * MiB(1),
                                 vcpus=num("vcpus", "vCPUs", lo=1, hi=4096, integer=True, default=1)))
    else:
        forbid("vcpus", "without dirty_limit_mibps")
    ch = num("multifd_channels", "channels", lo=1, hi=1024, integer=True)
    if ch is not None and streams is not None and streams != ch:
        raise err("multifd_channels", f"gives {ch} streams but column 'streams' gives {streams}; give one")
    orch_name = text("orchestrator", O.NAMES, "none")
    if pol != "qemu":
        for c in ("auto_converge", "postcopy", "xbzrle_cache_mib", "dirty_limit_mibps", "multifd_channels"):
            if val[c] is not None and not (c in ("auto_converge", "postcopy") and str(val[c]).strip().lower() == "off"):
                raise err(c, f"applies to policy 'qemu' only; got policy {policy!r}")
        if orch_name != "none":
            raise err("orchestrator", f"applies to policy 'qemu' only; got policy {policy!r}")
    own = {"kubevirt": _KV, "nova": _NOVA, "libvirt": _LV}
    for name, cols in own.items():
        if name != orch_name:
            for c in cols:
                forbid(c, f"to orchestrator {orch_name!r} (it is a {name} setting)")
    orch = None
    if orch_name != "none":
        if downtime_limit_given:
            raise ValueError(f"column 'downtime_limit_ms': does not apply with orchestrator {orch_name!r} (set the "
                             f"orchestrator's own downtime column); leave it empty")
        if max_bandwidth_given:
            raise ValueError(f"column 'max_bandwidth_mibps': does not apply with orchestrator {orch_name!r} (set "
                             f"the orchestrator's own bandwidth column); leave it empty")
        for c in ("auto_converge", "postcopy"):
            if val[c] is not None and str(val[c]).strip().lower() != "off":
                raise err(c, f"does not apply with orchestrator {orch_name!r}: its own settings decide it")
        try:
            if orch_name == "kubevirt":
                kw = {}
                for c, k, unit in (("kubevirt_bandwidth_per_migration_mibps", "bandwidth_per_migration_mibps",
                                    "MiB/s"),
                                   ("kubevirt_completion_timeout_per_gib_s", "completion_timeout_per_gib_s", "s"),
                                   ("kubevirt_progress_timeout_s", "progress_timeout_s", "s"),
                                   ("kubevirt_max_downtime_ms", "max_downtime_ms", "ms")):
                    x = num(c, unit, lo=0.0)
                    if x is not None:
                        kw[k] = x
                for c, k in (("kubevirt_allow_auto_converge", "allow_auto_converge"),
                             ("kubevirt_allow_post_copy", "allow_post_copy"),
                             ("kubevirt_allow_workload_disruption", "allow_workload_disruption"),
                             ("kubevirt_downtime_tuning", "downtime_tuning"),
                             ("kubevirt_stall_detection", "stall_detection")):
                    x = flag(c)
                    if x is not None:
                        kw[k] = x
                orch = O.KubeVirt(**kw)
            elif orch_name == "nova":
                kw = {}
                for c, k in (("nova_downtime_ms", "live_migration_downtime"),
                             ("nova_downtime_steps", "live_migration_downtime_steps"),
                             ("nova_downtime_delay_s", "live_migration_downtime_delay"),
                             ("nova_completion_timeout_s", "live_migration_completion_timeout")):
                    x = num(c, "integer", lo=0, integer=True)
                    if x is not None:
                        kw[k] = x
                kw["live_migration_timeout_action"] = text("nova_timeout_action", ("abort", "force_complete"),
                                                           "abort")
                for c, k in (("nova_permit_post_copy", "live_migration_permit_post_copy"),
                             ("nova_permit_auto_converge", "live_migration_permit_auto_converge")):
                    x = flag(c)
                    if x is not None:
                        kw[k] = x
                orch = O.Nova(**kw)
            else:
                kw = {"timeout_s": num("libvirt_timeout_s", "s", lo=0.0, lo_open=True),
                      "timeout_postcopy": text("libvirt_timeout_action", ("suspend", "postcopy"), "suspend")
                      == "postcopy"}
                if val["libvirt_timeout_action"] is not None and kw["timeout_s"] is None:
                    raise err("libvirt_timeout_action", "needs libvirt_timeout_s")
                for c, k in (("libvirt_postcopy_after_precopy", "postcopy_after_precopy"),
                             ("libvirt_auto_converge", "auto_converge")):
                    x = flag(c)
                    if x is not None:
                        kw[k] = x
                md = num("libvirt_max_downtime_ms", "ms", lo=1.0)
                if md is not None:
                    kw["max_downtime_ms"] = md
                orch = O.Libvirt(**kw)
            from .vm import VM
            orch.plan(VM(memory_bytes=MiB(1024)))        # checks every setting now, before any simulation
        except ValueError as e:
            raise ValueError(f"orchestrator {orch_name!r}: {e}") from None
    try:
        checked = A.check_aids(aids)
    except ValueError as e:
        raise err("auto_converge", str(e)) from None
    return OperatorSettings(aids=checked, streams=ch, orchestrator=orch, controls=controls)


def apply(settings: OperatorSettings, vm, policy, aids=()) -> tuple:
    """The row's policy and aids with these settings applied: ``(policy, aids)``.

    With an orchestrator, its plan (:meth:`precopy.orchestrators.KubeVirt.plan`
    and the others) replaces the policy's downtime limit and bandwidth cap (the
    row's ``timeout_s`` is kept) and adds its aids and run-time controls; the
    row's own aids (``xbzrle_cache_mib``, compression ...) are kept beside them.
    Run-time controls (an orchestrator, ``postcopy=on-timeout``) need
    ``precopy.policies.Controls``.  ``settings.streams`` is for the caller's link.

    Examples
    --------
    >>> import precopy as pc
    >>> s = parse_columns({"xbzrle_cache_mib": 64})
    >>> pol, aids = apply(s, pc.VM(memory_bytes=pc.GiB(1)), pc.policies.QEMU())
    >>> [a.label for a in aids]
    ['xbzrle']
    """
    from . import aids as A
    from . import policies
    from .vm import VM
    v.instance(settings, "settings", OperatorSettings, "a precopy.operator_columns.OperatorSettings")
    v.instance(vm, "vm", VM, "a precopy.VM")
    v.instance(policy, "policy", policies.Policy, "a precopy.policies.Policy")
    aids = A.check_aids(aids)
    controls = dict(settings.controls)
    extra = tuple(settings.aids)
    if settings.orchestrator is not None:
        plan = settings.orchestrator.plan(vm)
        if plan.downtime_ramp is not None:
            raise ValueError("column 'kubevirt_downtime_tuning': the VEP 291 ramp starts at an iteration, which a "
                             "scenario table cannot schedule in advance; use precopy.orchestrators.simulate or "
                             "replay")
        policy = policy.with_(downtime_limit_s=plan.policy.downtime_limit_s,
                              max_bandwidth_bps=plan.policy.max_bandwidth_bps)
        controls.update(plan.controls_kwargs())
        extra = extra + tuple(plan.aids)
    if controls:
        Controls = getattr(policies, "Controls", None)
        if Controls is None:
            raise ValueError("columns 'orchestrator' and 'postcopy=on-timeout' need the simulator's run-time "
                             "controls (precopy.policies.Controls), which this precopy lacks")
        policy = policy.with_(controls=Controls(**controls))
    return policy, A.check_aids(tuple(aids) + extra)
