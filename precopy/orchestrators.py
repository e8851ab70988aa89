"""The orchestrators above the hypervisor: KubeVirt, OpenStack Nova, libvirt's virsh.

What decides a production migration's outcome is often not QEMU's stop rule
alone but the layer that starts the migration and watches it: it sets the
downtime limit (and raises it over time), caps the bandwidth, and after a
completion timeout or a stall aborts the migration, pauses the guest to force
it through, or switches to post-copy.  Each class here holds one orchestrator's
settings under their real names, with their documented defaults and sources,
and turns them into

* a QEMU :class:`~precopy.policies.Policy` (initial downtime limit, bandwidth cap),
* convergence aids (:mod:`precopy.aids`: auto-converge, post-copy after the first pass),
* run-time controls (the ``Controls`` of :mod:`precopy.policies`): a downtime
  schedule, a completion timeout and a progress timeout, each with an action
  in ``{"abort", "force", "postcopy"}``,

collected in a :class:`Plan`.  :func:`replay` runs the plan on the expected-value
round model (the saturation model of :mod:`precopy.analytic`, with the plan's
controls and post-copy aid decided at every bitmap sync by the one stop rule of
:mod:`precopy._stoprule`; plans with auto-converge or dirty-limit, which the
analytic engine does not model, run a round loop of their own); outcomes are
*aborted* (the VM stays on the source, no downtime), *forced* (paused and
completed with a long downtime) or *converged* / *not_converged*, a switch to
post-copy counting as converged with stop reason ``postcopy``, as the
simulator reports them.
:func:`simulate` runs the same plan through the page-level simulator, the
controls passed as ``policy.controls`` (``precopy.policies.Controls``); the two
agree within a few per cent on the cases of ``tests/test_operator.py``.

Controls are checked at bitmap syncs (round boundaries): an orchestrator that
polls every 0.4 s (KubeVirt) or 0.5 s (Nova) acts within a round in reality;
here it acts at the next sync.  Remaining data for the progress test is the
dirty data at each sync (what the next round must send).

References
----------
KubeVirt ``pkg/virt-launcher/virtwrap/live-migration-source.go`` (migration
monitor: ``acceptableCompletionTime = completionTimeoutPerGiB x
getVMIMigrationDataSize``, in decimal GB rounded up; ``processInflightMigration``),
``pkg/virt-config`` defaults; KubeVirt enhancements VEP 248 (stall detection,
``progressTimeout`` repurposed) and VEP 291 (dynamic downtime tuning:
``initialMs`` 150, ``steps`` 7, ``startAfterIteration`` 3, ``cooldownSeconds``
10, ceiling ``maxDowntimeMs``, 1050 in its example).
OpenStack Nova ``nova/conf/libvirt.py`` (``live_migration_downtime`` 500 ms,
``_steps`` 10, ``_delay`` 75 s per GiB, ``live_migration_completion_timeout``
800 s per GiB, ``live_migration_timeout_action`` abort | force_complete,
``live_migration_permit_post_copy``, ``live_migration_permit_auto_converge``),
``nova/virt/libvirt/migration.py`` (``downtime_steps``, ``update_downtime``,
``should_trigger_timeout_action``), ``nova/virt/libvirt/driver.py`` (data size:
RAM in GiB, at least 2).
libvirt ``docs/manpages/virsh.rst``: ``migrate --timeout`` with
``--timeout-suspend`` (default) or ``--timeout-postcopy``,
``--postcopy-after-precopy``, ``--auto-converge``, ``migrate-setmaxdowntime``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _validate as v
from .aids import AutoConverge, PostCopy
from .policies import QEMU, Policy
from .units import GiB, MiB

__all__ = ["Plan", "KubeVirt", "Nova", "Libvirt", "NoOrchestrator", "ReplayResult", "replay", "simulate",
           "nova_downtime_steps", "kubevirt_data_size_gb", "get", "NAMES", "ACTIONS", "OUTCOMES"]

ACTIONS = ("abort", "force", "postcopy")
#: Outcomes, as the simulator reports them (a switch to post-copy completes: "converged", stop reason "postcopy").
OUTCOMES = ("converged", "not_converged", "aborted", "forced")
#: QEMU's largest downtime-limit: 2000 s (``migration/options.c``, MAX_MIGRATE_DOWNTIME_SECONDS).
QEMU_MAX_DOWNTIME_S = 2000.0


@dataclass(frozen=True)
class Plan:
    """What an orchestrator asks of the hypervisor for one VM.

    Attributes
    ----------
    name : str
    policy : Policy
        QEMU stop rule with the initial downtime limit and the bandwidth cap.
    aids : tuple
        Convergence aids (:mod:`precopy.aids`).
    downtime_schedule : tuple of (start_s, downtime_limit_s)
        Piecewise-constant downtime limit over wall time, first start 0.
    completion_timeout_s, completion_action
        Timeout since the start (s) and what happens then (``abort``,
        ``force``, ``postcopy``); None: no timeout.
    progress_timeout_s, progress_action
        Stall test: no new minimum of the dirty data at a sync for that long.
    downtime_ramp : dict or None
        VEP 291's iteration-triggered ramp (``initial_s``, ``step_s``,
        ``max_s``, ``start_after_iteration``, ``cooldown_s``); resolved into
        ``downtime_schedule`` once the time of that iteration is known.
    postcopy_after_first_pass : bool
        Switch to post-copy once the bulk pass is done (``--postcopy-after-precopy``).
    notes : tuple of str
        The setting -> model mapping, one line each, with sources.
    """

    name: str
    policy: Policy
    aids: tuple = ()
    downtime_schedule: tuple = ()
    completion_timeout_s: float | None = None
    completion_action: str = "abort"
    progress_timeout_s: float | None = None
    progress_action: str = "abort"
    downtime_ramp: dict | None = None
    postcopy_after_first_pass: bool = False
    notes: tuple = ()

    def __post_init__(self):
        v.choice(self.completion_action, "completion_action", ACTIONS)
        v.choice(self.progress_action, "progress_action", ACTIONS)
        sched = tuple((float(a), float(b)) for a, b in self.downtime_schedule)
        if sched and sched[0][0] != 0.0:
            raise ValueError(f"downtime_schedule must start at 0 s; got {sched[0][0]:g}")
        if any(b2[0] <= b1[0] for b1, b2 in zip(sched, sched[1:])):
            raise ValueError("downtime_schedule (s) start times must increase")
        object.__setattr__(self, "downtime_schedule", sched)

    def downtime_at(self, t_s: float) -> float:
        """The downtime limit (s) in force at ``t_s``."""
        lim = self.policy.downtime_limit_s
        for start, d in self.downtime_schedule:
            if t_s >= start:
                lim = d
        return lim

    def controls_kwargs(self) -> dict:
        """The fields of ``precopy.policies.Controls`` this plan sets."""
        d = {}
        if self.downtime_schedule:
            d["downtime_schedule"] = self.downtime_schedule
        if self.completion_timeout_s is not None:
            d["completion_timeout_s"] = self.completion_timeout_s
            d["completion_action"] = self.completion_action
        if self.progress_timeout_s is not None:
            d["progress_timeout_s"] = self.progress_timeout_s
            d["progress_action"] = self.progress_action
        return d

    def describe(self) -> str:
        return "\n".join([f"{self.name}:"] + [f"  - {n}" for n in self.notes])


def _mib_rate(x, name):
    """A bandwidth in MiB/s: None or 0 = unlimited."""
    if x is None or x == 0:
        return None
    return v.real(x, name, "MiB/s (0 = unlimited)", lo=0.0, hi=1e7, lo_open=True) * MiB(1) * 8.0


class _CheckVM:
    """A stand-in guest for checking settings at construction (1 GiB, 4 KiB pages)."""

    memory_bytes = 2**30
    page_bytes = 4096


_CHECK_VM = _CheckVM()


@dataclass(frozen=True)
class NoOrchestrator:
    """QEMU alone (``orchestrator=none``): its own 300 ms limit and the given cap.

    Examples
    --------
    >>> import precopy as pc
    >>> NoOrchestrator().plan(pc.VM(memory_bytes=pc.GiB(1))).completion_timeout_s is None
    True
    """

    downtime_limit_ms: float = 300.0
    max_bandwidth_mibps: float | None = 128.0

    name = "none"

    def __post_init__(self):
        # check every setting now, not at the first plan(): a bad value is refused where it is typed
        self.plan(_CHECK_VM)

    def plan(self, vm) -> Plan:
        pol = QEMU(downtime_limit_s=v.real(self.downtime_limit_ms, "downtime_limit_ms", "ms", lo=0.0,
                                           hi=QEMU_MAX_DOWNTIME_S * 1e3) / 1e3,
                   max_bandwidth_bps=_mib_rate(self.max_bandwidth_mibps, "max_bandwidth_mibps"))
        return Plan("none", pol, notes=("QEMU's own stop rule, no orchestrator",))


def kubevirt_data_size_gb(memory_bytes: int) -> int:
    """KubeVirt's migration data size: guest memory in decimal GB, rounded up
    (``resource.Quantity.ScaledValue(resource.Giga)``).

    Examples
    --------
    >>> kubevirt_data_size_gb(16 * 2**30)
    18
    """
    memory_bytes = v.integer(memory_bytes, "memory_bytes", "bytes", lo=1, hi=2**62)
    return int(math.ceil(memory_bytes / 1e9))


@dataclass(frozen=True)
class KubeVirt:
    """KubeVirt's live-migration settings (``spec.configuration.migrations`` / a MigrationPolicy).

    Parameters
    ----------
    bandwidth_per_migration_mibps : float or None, default None
        ``bandwidthPerMigration`` (MiB/s; a Kubernetes quantity per second):
        0 / None = no limit (the current default; ``64Mi`` in releases before 0.5x).
    completion_timeout_per_gib_s : float, default 150
        ``completionTimeoutPerGiB``: the migration may take this many seconds per
        GB of guest memory (KubeVirt counts decimal GB, rounded up).  150 is the
        default VEP 248 states; releases up to about v1.3 used 800.
    progress_timeout_s : float, default 150
        ``progressTimeout``: abort when the remaining data has not reached a new
        minimum for this long (0 = off).
    allow_auto_converge : bool, default False
        ``allowAutoConverge``: QEMU auto-converge with its defaults.
    allow_post_copy : bool, default False
        ``allowPostCopy``: "migrations will still start in pre-copy, but switch
        to post-copy when CompletionTimeoutPerGiB triggers".
    allow_workload_disruption : bool or None, default None
        ``allowWorkloadDisruption``: on the completion timeout, switch to
        post-copy (if allowed) or pause the guest instead of aborting.  None:
        follows ``allow_post_copy`` (how KubeVirt fills it when unset).
    max_downtime_ms : float or None
        ``maxDowntimeMs`` (VEP 252), the ceiling of the VEP 291 ramp.
    downtime_tuning : bool or dict, default False
        VEP 291 ``spec.experimental.downtimeTuning``: True for its defaults
        (``initialMs`` 150, ``steps`` 7, ``startAfterIteration`` 3,
        ``cooldownSeconds`` 10) or a dict overriding them.  The limit starts at
        ``initialMs``; once iteration ``startAfterIteration`` is reached it rises
        by ``maxDowntimeMs / steps`` every ``cooldownSeconds`` up to the ceiling
        (the VEP's table: 150, 300, ..., 1050 ms).
    stall_detection : bool, default False
        VEP 248: the stall test drives a switchover (post-copy or pause, when
        disruption is allowed) instead of an abort.  Modelled as the progress
        timeout with that action; VEP 248's local-minimum wait (5 sample
        iterations) is not modelled.

    Examples
    --------
    >>> import precopy as pc
    >>> p = KubeVirt(allow_post_copy=True).plan(pc.VM(memory_bytes=pc.GiB(16)))
    >>> p.completion_timeout_s, p.completion_action, p.progress_timeout_s
    (2700.0, 'postcopy', 150.0)
    """

    bandwidth_per_migration_mibps: float | None = None
    completion_timeout_per_gib_s: float = 150.0
    progress_timeout_s: float = 150.0
    allow_auto_converge: bool = False
    allow_post_copy: bool = False
    allow_workload_disruption: bool | None = None
    max_downtime_ms: float | None = None
    downtime_tuning: object = False
    stall_detection: bool = False

    name = "kubevirt"

    def __post_init__(self):
        # check every setting now, not at the first plan(): a bad value is refused where it is typed
        self.plan(_CHECK_VM)

    def plan(self, vm) -> Plan:
        _mib_rate(self.bandwidth_per_migration_mibps, "bandwidth_per_migration_mibps (bandwidthPerMigration)")
        per = v.real(self.completion_timeout_per_gib_s, "completion_timeout_per_gib_s (completionTimeoutPerGiB)",
                     "s per GiB", lo=0.0, hi=1e7)
        pt = v.real(self.progress_timeout_s, "progress_timeout_s (progressTimeout)", "s", lo=0.0, hi=1e9)
        for f in ("allow_auto_converge", "allow_post_copy", "stall_detection"):
            if not isinstance(getattr(self, f), bool):
                raise ValueError(f"{f} must be True or False; got {getattr(self, f)!r}")
        disrupt = self.allow_post_copy if self.allow_workload_disruption is None else self.allow_workload_disruption
        if not isinstance(disrupt, bool):
            raise ValueError(f"allow_workload_disruption must be True, False or None; got {disrupt!r}")
        gb = kubevirt_data_size_gb(vm.memory_bytes)
        timeout = per * gb if per > 0 else None
        action = ("postcopy" if self.allow_post_copy else "force") if disrupt else "abort"
        notes = [f"bandwidthPerMigration {self.bandwidth_per_migration_mibps or 0:g} MiB/s "
                 f"({'unlimited' if not self.bandwidth_per_migration_mibps else 'pre-copy cap'})",
                 f"completionTimeoutPerGiB {per:g} s x {gb} GB (memory in decimal GB, rounded up) = "
                 f"{timeout or 0:g} s, then {action}"
                 + (" (allowPostCopy)" if action == "postcopy" else
                    " (allowWorkloadDisruption: pause the guest)" if action == "force" else ""),
                 f"progressTimeout {pt:g} s without a new minimum of remaining data: "
                 f"{'switchover (VEP 248 stall detection)' if self.stall_detection and disrupt else 'abort'}"]
        aids = []
        if self.allow_auto_converge:
            aids.append(AutoConverge())
            notes.append("allowAutoConverge: QEMU auto-converge (20 % then +10 %)")
        ramp = None
        limit_s = 0.3
        if self.downtime_tuning:
            d = dict(initialMs=150.0, steps=7, startAfterIteration=3, cooldownSeconds=10.0)
            if isinstance(self.downtime_tuning, dict):
                for k in self.downtime_tuning:
                    if k not in d:
                        raise ValueError(f"downtime_tuning keys must be among {', '.join(d)}; got {k!r}")
                d.update(self.downtime_tuning)
            elif self.downtime_tuning is not True:
                raise ValueError(f"downtime_tuning must be True, False or a dict; got {self.downtime_tuning!r}")
            if self.max_downtime_ms is None:
                raise ValueError("downtime_tuning needs max_downtime_ms (maxDowntimeMs, VEP 252), the ceiling of "
                                 "the ramp")
            mx = v.real(self.max_downtime_ms, "max_downtime_ms (maxDowntimeMs)", "ms", lo=1.0, hi=QEMU_MAX_DOWNTIME_S * 1e3)
            ini = v.real(d["initialMs"], "downtimeTuning.initialMs", "ms", lo=1.0, hi=mx)
            steps = v.integer(d["steps"], "downtimeTuning.steps", "steps", lo=1, hi=1000)
            it0 = v.integer(d["startAfterIteration"], "downtimeTuning.startAfterIteration", "iterations", lo=0)
            cd = v.real(d["cooldownSeconds"], "downtimeTuning.cooldownSeconds", "s", lo=0.0, lo_open=True)
            ramp = dict(initial_s=ini / 1e3, step_s=mx / steps / 1e3, max_s=mx / 1e3, start_after_iteration=it0,
                        cooldown_s=cd)
            limit_s = ini / 1e3
            notes.append(f"VEP 291 downtime tuning: {ini:g} ms, then +{mx / steps:g} ms every {cd:g} s from "
                         f"iteration {it0} up to maxDowntimeMs {mx:g}")
        elif self.max_downtime_ms is not None:
            limit_s = v.real(self.max_downtime_ms, "max_downtime_ms (maxDowntimeMs)", "ms", lo=1.0, hi=QEMU_MAX_DOWNTIME_S * 1e3) / 1e3
            notes.append(f"maxDowntimeMs {limit_s * 1e3:g} as the downtime limit")
        pol = QEMU(downtime_limit_s=limit_s,
                   max_bandwidth_bps=_mib_rate(self.bandwidth_per_migration_mibps,
                                                       "bandwidth_per_migration_mibps (bandwidthPerMigration)"))
        return Plan("kubevirt", pol, aids=tuple(aids), completion_timeout_s=timeout, completion_action=action,
                    progress_timeout_s=pt if pt > 0 else None,
                    progress_action=action if (self.stall_detection and disrupt) else "abort",
                    downtime_ramp=ramp, notes=tuple(notes))


def nova_downtime_steps(data_gb: float, downtime_ms: int = 500, steps: int = 10, delay_s: int = 75):
    """Nova's downtime steps (``nova/virt/libvirt/migration.py``, ``downtime_steps``).

    ``delay = int(delay_s x data_gb)``, ``base = downtime / steps``,
    ``offset = (downtime - base) / steps``; step ``i`` (0..steps) sets
    ``int(base + offset x i)`` ms once ``int(delay x i)`` seconds have elapsed.

    Examples
    --------
    >>> list(nova_downtime_steps(3.0, 400, 10, 30))[:3]      # Nova's docstring example
    [(0, 40), (90, 76), (180, 112)]
    """
    data_gb = v.real(data_gb, "data_gb", "GB", lo=0.0, hi=1e9)
    downtime_ms = v.integer(downtime_ms, "downtime_ms", "ms", lo=1, hi=2_000_000)
    steps = v.integer(steps, "steps", "steps", lo=1, hi=10_000)
    delay_s = v.integer(delay_s, "delay_s", "s per GB", lo=0, hi=10**7)
    return _downtime_steps(data_gb, downtime_ms, steps, delay_s)


def _downtime_steps(data_gb, downtime_ms, steps, delay_s):
    delay = int(delay_s * data_gb)
    base = downtime_ms / steps
    offset = (downtime_ms - base) / steps
    for i in range(steps + 1):
        yield (int(delay * i), int(base + offset * i))


@dataclass(frozen=True)
class Nova:
    """OpenStack Nova's libvirt live-migration options (``[libvirt]`` in nova.conf).

    Parameters
    ----------
    live_migration_downtime : int, default 500
        Maximum downtime (ms), reached in steps; Nova's minimum is 100.
    live_migration_downtime_steps : int, default 10
        Steps to reach it (minimum 3).
    live_migration_downtime_delay : int, default 75
        Seconds between steps, per GiB of guest RAM (+ disk), with at least
        2 GiB counted (minimum 3; 10 in older releases).
    live_migration_completion_timeout : int, default 800
        Seconds per GiB before the timeout action (0 = off).
    live_migration_timeout_action : {'abort', 'force_complete'}, default 'abort'
        ``force_complete`` pauses the guest, or switches to post-copy when it is
        permitted.
    live_migration_permit_post_copy : bool, default False
    live_migration_permit_auto_converge : bool, default False
        Used only when post-copy is not permitted (Nova's rule).
    live_migration_bandwidth : float, default 0
        MiB/s, 0 = unlimited.

    The schedule is Nova's :func:`nova_downtime_steps` for ``data_gb = max(2,
    RAM GiB)`` (shared storage: no disk is copied); the completion timeout is
    ``live_migration_completion_timeout x data_gb``.

    Examples
    --------
    >>> import precopy as pc
    >>> p = Nova().plan(pc.VM(memory_bytes=pc.GiB(4)))
    >>> p.downtime_schedule[:3], p.completion_timeout_s
    (((0.0, 0.05), (300.0, 0.095), (600.0, 0.14)), 3200.0)
    """

    live_migration_downtime: int = 500
    live_migration_downtime_steps: int = 10
    live_migration_downtime_delay: int = 75
    live_migration_completion_timeout: int = 800
    live_migration_timeout_action: str = "abort"
    live_migration_permit_post_copy: bool = False
    live_migration_permit_auto_converge: bool = False
    live_migration_bandwidth: float = 0.0

    name = "nova"

    def __post_init__(self):
        # check every setting now, not at the first plan(): a bad value is refused where it is typed
        self.plan(_CHECK_VM)

    def plan(self, vm) -> Plan:
        dt = v.integer(self.live_migration_downtime, "live_migration_downtime", "ms", lo=100, hi=2_000_000)
        st = v.integer(self.live_migration_downtime_steps, "live_migration_downtime_steps", "steps", lo=3, hi=10**4)
        dl = v.integer(self.live_migration_downtime_delay, "live_migration_downtime_delay", "s per GiB", lo=3,
                       hi=10**6)
        ct = v.integer(self.live_migration_completion_timeout, "live_migration_completion_timeout", "s per GiB",
                       lo=0, hi=10**7)
        ta = v.choice(self.live_migration_timeout_action, "live_migration_timeout_action",
                      ("abort", "force_complete"))
        for f in ("live_migration_permit_post_copy", "live_migration_permit_auto_converge"):
            if not isinstance(getattr(self, f), bool):
                raise ValueError(f"{f} must be True or False; got {getattr(self, f)!r}")
        data_gb = max(2.0, vm.memory_bytes / GiB(1))
        sched = tuple((float(t), ms / 1e3) for t, ms in nova_downtime_steps(data_gb, dt, st, dl))
        action = "abort" if ta == "abort" else ("postcopy" if self.live_migration_permit_post_copy else "force")
        aids = []
        notes = [f"downtime steps: {sched[0][1] * 1e3:g} ms at 0 s, then every {int(dl * data_gb)} s "
                 f"(= {dl} s x {data_gb:g} GiB) up to {dt} ms in {st} steps (nova_downtime_steps)",
                 f"completion timeout {ct} s x {data_gb:g} GiB = {ct * data_gb:g} s, then "
                 f"{ta}{' -> post-copy' if action == 'postcopy' else ' -> pause' if action == 'force' else ''}"]
        if self.live_migration_permit_auto_converge and not self.live_migration_permit_post_copy:
            aids.append(AutoConverge())
            notes.append("permit_auto_converge (post-copy not permitted): QEMU auto-converge")
        pol = QEMU(downtime_limit_s=sched[0][1],
                   max_bandwidth_bps=_mib_rate(self.live_migration_bandwidth, "live_migration_bandwidth"))
        return Plan("nova", pol, aids=tuple(aids), downtime_schedule=sched,
                    completion_timeout_s=ct * data_gb if ct > 0 else None, completion_action=action,
                    notes=tuple(notes))


@dataclass(frozen=True)
class Libvirt:
    """``virsh migrate --live`` options, and ``virsh migrate-setmaxdowntime`` during it.

    Parameters
    ----------
    timeout_s : float or None
        ``--timeout``: after this many seconds, ``--timeout-suspend`` (the
        default: pause the guest and finish) or ``--timeout-postcopy``.
    timeout_postcopy : bool, default False
        ``--timeout-postcopy`` instead of ``--timeout-suspend``.
    postcopy_after_precopy : bool, default False
        ``--postcopy-after-precopy``: switch to post-copy once the first pass is done.
    auto_converge : bool, default False
        ``--auto-converge``.
    max_downtime_ms : float, default 300
        The downtime limit (QEMU's 300 ms unless set).
    setmaxdowntime : sequence of (at_s, downtime_ms)
        ``migrate-setmaxdowntime`` calls during the migration.
    bandwidth_mibps : float or None, default None
        ``--bandwidth`` (MiB/s); libvirt migrates unlimited by default.

    Examples
    --------
    >>> import precopy as pc
    >>> p = Libvirt(timeout_s=60, setmaxdowntime=[(30, 1000)]).plan(pc.VM(memory_bytes=pc.GiB(1)))
    >>> p.downtime_schedule, p.completion_action
    (((0.0, 0.3), (30.0, 1.0)), 'force')
    """

    timeout_s: float | None = None
    timeout_postcopy: bool = False
    postcopy_after_precopy: bool = False
    auto_converge: bool = False
    max_downtime_ms: float = 300.0
    setmaxdowntime: tuple = ()
    bandwidth_mibps: float | None = None

    name = "libvirt"

    def __post_init__(self):
        # check every setting now, not at the first plan(): a bad value is refused where it is typed
        self.plan(_CHECK_VM)

    def plan(self, vm) -> Plan:
        for f in ("timeout_postcopy", "postcopy_after_precopy", "auto_converge"):
            v.flag(getattr(self, f), f)
        lim = v.real(self.max_downtime_ms, "max_downtime_ms", "ms", lo=1.0, hi=QEMU_MAX_DOWNTIME_S * 1e3) / 1e3
        notes = [f"downtime limit {lim * 1e3:g} ms"]
        sched = [(0.0, lim)]
        if isinstance(self.setmaxdowntime, (str, bytes, dict)) or not hasattr(self.setmaxdowntime, "__iter__"):
            raise ValueError(f"setmaxdowntime must be a sequence of (at_s, downtime_ms); got {self.setmaxdowntime!r}")
        for i, pair in enumerate(self.setmaxdowntime):
            try:
                at, ms = pair
            except (TypeError, ValueError):
                raise ValueError(f"setmaxdowntime[{i}] must be (at_s, downtime_ms); got {pair!r}") from None
            at = v.real(at, f"setmaxdowntime[{i}] time", "s", lo=0.0, lo_open=True)
            ms = v.real(ms, f"setmaxdowntime[{i}] downtime", "ms", lo=1.0, hi=QEMU_MAX_DOWNTIME_S * 1e3)
            sched.append((at, ms / 1e3))
            notes.append(f"migrate-setmaxdowntime {ms:g} ms at {at:g} s")
        aids = []
        if self.auto_converge:
            aids.append(AutoConverge())
            notes.append("--auto-converge: QEMU auto-converge")
        if self.postcopy_after_precopy:
            aids.append(PostCopy(after_rounds=1, on_no_progress=False))
            notes.append("--postcopy-after-precopy: post-copy once the first pass is done")
        to = None
        if self.timeout_s is not None:
            to = v.real(self.timeout_s, "timeout_s", "s", lo=0.0, lo_open=True)
            notes.append(f"--timeout {to:g} s, then {'post-copy (--timeout-postcopy)' if self.timeout_postcopy else 'suspend the guest and finish (--timeout-suspend)'}")
        pol = QEMU(downtime_limit_s=lim, max_bandwidth_bps=_mib_rate(self.bandwidth_mibps, "bandwidth_mibps"))
        return Plan("libvirt", pol, aids=tuple(aids), downtime_schedule=tuple(sorted(sched)) if len(sched) > 1 else (),
                    completion_timeout_s=to, completion_action="postcopy" if self.timeout_postcopy else "force",
                    postcopy_after_first_pass=self.postcopy_after_precopy, notes=tuple(notes))


_ORCH = {"none": NoOrchestrator, "kubevirt": KubeVirt, "nova": Nova, "libvirt": Libvirt}
NAMES = tuple(_ORCH)


def get(name: str, **settings):
    """An orchestrator by name (``none``, ``kubevirt``, ``nova``, ``libvirt``) with settings.

    Examples
    --------
    >>> get("nova", live_migration_timeout_action="force_complete").live_migration_timeout_action
    'force_complete'
    """
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _ORCH:
        raise ValueError(f"orchestrator must be one of {', '.join(map(repr, NAMES))}; got {name!r}")
    try:
        return _ORCH[key](**settings)
    except TypeError as e:
        raise ValueError(f"orchestrator {key!r}: {e}") from None


def _plan_of(orchestrator, vm) -> Plan:
    if isinstance(orchestrator, Plan):
        return orchestrator
    if not hasattr(orchestrator, "plan") or not hasattr(orchestrator, "name"):
        raise ValueError(f"orchestrator must be KubeVirt, Nova, Libvirt, NoOrchestrator or a Plan; "
                         f"got {orchestrator!r}")
    return orchestrator.plan(vm)


# --- replay on the expected-value round model -------------------------------------------------------

@dataclass(frozen=True)
class ReplayResult:
    """Outcome of a replayed migration (expected values).

    ``outcome`` is one of :data:`OUTCOMES` and ``stop_reason`` one of
    ``downtime_limit``, ``postcopy``, ``aborted``, ``forced``, ``timeout``, as
    the simulator reports them; ``trigger`` names the rule that ended
    pre-copy (``downtime_limit``, ``completion_timeout``, ``progress_timeout``,
    ``postcopy_after_rounds``, ``timeout``); ``events`` lists ``(t_s, text)``;
    ``rounds`` holds one dict per round.
    """

    orchestrator: str
    outcome: str
    stop_reason: str
    total_time_s: float
    downtime_s: float
    precopy_time_s: float
    postcopy_s: float
    bytes_sent: float
    n_rounds: int
    trigger: str = ""
    rounds: tuple = field(repr=False, default=())
    events: tuple = field(repr=False, default=())

    @property
    def converged(self) -> bool:
        return self.outcome == "converged"

    def summary(self) -> str:
        lines = [f"{self.orchestrator}: {self.outcome} ({self.stop_reason}, {self.trigger}) after {self.n_rounds} "
                 f"rounds: "
                 f"total {self.total_time_s:.1f} s, downtime {self.downtime_s * 1e3:.0f} ms"
                 + (f", post-copy {self.postcopy_s:.1f} s" if self.postcopy_s else "")]
        lines += [f"  {t:8.1f} s  {txt}" for t, txt in self.events]
        return "\n".join(lines)


def _distinct(wl, vm):
    """Expected distinct pages a workload dirties in t seconds of guest time: f(t)."""
    from .workloads import HotCold, Idle
    from .workload_fit import expected_distinct_pages
    N = vm.n_pages
    if isinstance(wl, Idle):
        return lambda t, g=1.0: 0.0
    if not isinstance(wl, HotCold):
        raise ValueError(f"workload must be Idle, Uniform or HotCold for the replay; got {type(wl).__name__}")
    H = wl.wws_bytes / vm.page_bytes
    return lambda t, g=1.0: float(expected_distinct_pages(N, wl.writes_per_s * g, H, wl.hot_fraction, t)[0])


def replay(vm, workload, link, orchestrator, *, switchover=None, max_time_s: float | None = None) -> ReplayResult:
    """Replay a migration under an orchestrator on the expected-value round model.

    Round 0 sends all memory; each round lasts (pages x (page + 8 B header)) /
    pre-copy rate, and the next round sends the expected distinct pages the
    guest dirtied meanwhile (the saturation model,
    :func:`precopy.analytic.saturation`, with the plan's downtime schedule,
    timeouts and post-copy aid as ``policy.controls`` and ``aids``).  At each
    bitmap sync the one stop rule (:mod:`precopy._stoprule`, as in the
    simulator) decides, in this order: QEMU's switchover test against the
    downtime limit in force; post-copy after the first pass (or after
    ``PostCopy.after_rounds``); the completion timeout; the progress timeout (no
    new minimum of the dirty pages for that long).  Plans with auto-converge or
    dirty-limit run a round loop of their own (the analytic engine has no guest
    throttle): there, after those tests, auto-converge's throttle step or
    dirty-limit's quota (guest write rate x ``1 - throttle``), and a new minimum
    must be a page fewer.  A forced switchover pauses the guest: QEMU goes on
    sending at the pre-copy rate until what is left fits the downtime limit, then
    stops and copies the rest at the link goodput (the downtime is all of it);
    post-copy sends the dirty data after a resume (device state only in the
    downtime); an abort leaves the VM on the source.

    Parameters
    ----------
    vm, workload, link
        As for :func:`precopy.simulate` (workload Idle, Uniform or HotCold).
    orchestrator : KubeVirt, Nova, Libvirt, NoOrchestrator or Plan
    switchover : Switchover, optional
        Device state, resume time (default ``Switchover()``).
    max_time_s : float, optional
        A migration still iterating then is reported as not converged
        (default: the policy's ``timeout_s``, 3600 s).

    Returns
    -------
    ReplayResult

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(8))
    >>> busy = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=60_000)
    >>> gbe = pc.Link.from_profile("1GbE")
    >>> replay(vm, busy, gbe, KubeVirt(allow_post_copy=True)).trigger     # the stall fires first
    'progress_timeout'
    >>> r = replay(vm, busy, gbe, KubeVirt(allow_post_copy=True, completion_timeout_per_gib_s=20))
    >>> r.outcome, r.stop_reason, r.trigger
    ('converged', 'postcopy', 'completion_timeout')
    """
    from .simulate import check_scenario
    from .vm import VM
    if not isinstance(vm, VM):
        raise ValueError(f"vm must be a precopy.VM; got {type(vm).__name__}")
    plan = _plan_of(orchestrator, vm)
    pol = plan.policy
    if max_time_s is None:
        max_time_s = pol.timeout_s
    max_time_s = v.real(max_time_s, "max_time_s", "s", lo=0.0, hi=1e9, lo_open=True)
    _, so, _ = check_scenario(vm, workload, link, pol.with_(timeout_s=max(pol.timeout_s, max_time_s)), switchover)
    hdr = pol.header_bytes
    P = vm.page_bytes
    rate = link.goodput_bps / 8.0
    if pol.max_bandwidth_bps is not None:
        rate = min(rate, pol.max_bandwidth_bps / 8.0)
    full = link.goodput_bps / 8.0
    f = _distinct(workload, vm)
    from .aids import DirtyLimit
    ac = next((a for a in plan.aids if isinstance(a, (AutoConverge, DirtyLimit))), None)
    if ac is None:
        return _replay_engine(vm, workload, link, plan, switchover, so, max_time_s)
    # auto-converge and dirty-limit slow the guest down: the analytic engine has no guest throttle,
    # so these plans keep the round loop below
    pc_after = next((a.after_rounds for a in plan.aids if isinstance(a, PostCopy) and a.after_rounds), None)
    if plan.postcopy_after_first_pass:
        pc_after = 1
    g, thr, ac_count, ac_last, ac_sent, ac_dirt = 1.0, 0.0, 0, 0.0, 0.0, 0.0
    sched = list(plan.downtime_schedule)
    ramp = plan.downtime_ramp
    ramp_next = None
    if ramp is not None:
        sched = [(0.0, ramp["initial_s"])]

    def limit_at(t):
        lim = pol.downtime_limit_s
        for start, d in sched:
            if t >= start:
                lim = d
        return lim

    t, pages, sent = 0.0, float(vm.n_pages), 0.0
    rounds, events = [], []
    best, best_t = math.inf, 0.0
    it = 0
    dev_s = float(so.device_time_s(full)) + so.resume_s

    def finish(outcome, reason, trigger, final_pages, rate_final, pc_s=0.0, downtime=None):
        nonlocal sent
        fb = final_pages * (P + hdr)
        dt = dev_s + (fb / rate_final if downtime is None else downtime)
        sent += fb + pc_s * rate_final
        return ReplayResult(plan.name, outcome, reason, t + dt + pc_s, dt, t, pc_s, sent,
                            len(rounds) + (1 if final_pages > 0 or reason == "postcopy" else 0), trigger,
                            tuple(rounds), tuple(events))

    def aborted(trigger):
        return ReplayResult(plan.name, "aborted", "aborted", t, 0.0, t, 0.0, sent, len(rounds), trigger,
                            tuple(rounds), tuple(events))

    def act(action, trigger, pg, lim):
        if action == "abort":
            return aborted(trigger)
        if action == "force":
            return finish("forced", "forced", trigger, pg, full, downtime=forced_s(pg, lim))
        return finish("converged", "postcopy", trigger, 0, full, pc_s=pg * (P + hdr) / full)

    def forced_s(pg, lim):
        """Paused guest: QEMU sends at the pre-copy rate until the rest fits the limit, then stops and copies."""
        b = pg * (P + hdr)
        fit = min(b, rate * lim)
        return (b - fit) / rate + fit / full

    # QEMU checks the downtime rule before the bulk pass too
    if pages * P < rate * limit_at(0.0):
        return finish("converged", "downtime_limit", "downtime_limit", pages, full)
    while True:
        dur = pages * (P + hdr) / rate
        newd = min(f(dur * g), float(vm.n_pages))
        rounds.append(dict(round=it, start_s=t, duration_s=dur, pages_sent=pages, pages_dirtied=newd,
                           downtime_limit_s=limit_at(t), throttle=thr))
        sent += pages * (P + hdr)
        ac_sent += pages * (P + hdr)
        ac_dirt += newd * P
        t += dur
        it += 1
        pages = newd
        # VEP 291: the ramp's cooldown starts at the sync that completes iteration startAfterIteration
        if ramp is not None:
            if ramp_next is None and it >= ramp["start_after_iteration"]:
                ramp_next = t + ramp["cooldown_s"]
            while ramp_next is not None and t >= ramp_next and sched[-1][1] < ramp["max_s"]:
                new = min(ramp["max_s"], sched[-1][1] + ramp["step_s"])
                sched.append((ramp_next, new))
                events.append((ramp_next, f"downtime limit -> {new * 1e3:.0f} ms (VEP 291 ramp)"))
                ramp_next += ramp["cooldown_s"]
        lim = limit_at(t)
        if pages * P < rate * lim:
            return finish("converged", "downtime_limit", "downtime_limit", pages, full)
        if pc_after is not None and it == pc_after:
            events.append((t, f"post-copy after {it} live round(s)"))
            return act("postcopy", "postcopy_after_rounds", pages, lim)
        if plan.completion_timeout_s is not None and t >= plan.completion_timeout_s:
            events.append((t, f"completion timeout ({plan.completion_timeout_s:.0f} s): {plan.completion_action}"))
            return act(plan.completion_action, "completion_timeout", pages, lim)
        if pages < best - 1.0:               # a new minimum: at least one page fewer (expected counts creep)
            best, best_t = pages, t
        elif plan.progress_timeout_s is not None and t - best_t >= plan.progress_timeout_s:
            events.append((t, f"no progress for {t - best_t:.0f} s (>= {plan.progress_timeout_s:.0f} s): "
                              f"{plan.progress_action}"))
            return act(plan.progress_action, "progress_timeout", pages, lim)
        if ac is not None and t - ac_last >= ac.check_interval_s:
            if ac_dirt > ac.trigger * ac_sent:
                ac_count += 1
                if isinstance(ac, DirtyLimit) and g == 1.0 and ac_count >= 2:
                    w = float(getattr(workload, "writes_per_s", 0.0))
                    g = min(1.0, ac.vcpus * ac.vcpu_dirty_limit_Bps / P / w) if w > 0 else 1.0
                    thr = 1.0 - g
                    events.append((t, f"dirty-limit: guest writes held at {g:.0%}"))
                elif isinstance(ac, AutoConverge) and ac_count >= 2:
                    ac_count = 0
                    thr = ac.initial if thr == 0 else min(ac.max, thr + ac.increment)
                    g = 1.0 - thr
                    events.append((t, f"auto-converge throttle {thr:.0%}"))
            ac_last, ac_sent, ac_dirt = t, 0.0, 0.0
        if t >= max_time_s:
            return finish("not_converged", "timeout", "timeout", pages, full)
        if len(rounds) > 1_000_000:
            return finish("not_converged", "round_limit", "round_limit", pages, full)


def _ramp_schedule(ramp, starts):
    """VEP 291's downtime steps once iteration ``start_after_iteration`` is known to end at
    ``starts[k]`` (the start of round k): ``(schedule, [(t, limit) of each step])``."""
    k = ramp["start_after_iteration"]
    sched = [(0.0, ramp["initial_s"])]
    if k >= len(starts):
        return tuple(sched)
    t0, cur = float(starts[k]) + ramp["cooldown_s"], ramp["initial_s"]
    while cur < ramp["max_s"]:
        cur = min(ramp["max_s"], cur + ramp["step_s"])
        sched.append((t0, cur))
        t0 += ramp["cooldown_s"]
    return tuple(sched)


def _replay_engine(vm, workload, link, plan, switchover, so, max_time_s) -> ReplayResult:
    """:func:`replay` on the analytic engine: the saturation model with the plan's controls
    and post-copy aid, decided by the one stop rule (:mod:`precopy._stoprule`)."""
    from . import analytic
    from .policies import Controls
    pol = plan.policy
    P, hdr = vm.page_bytes, pol.header_bytes
    full = link.goodput_bps / 8.0
    rate = full if pol.max_bandwidth_bps is None else min(full, pol.max_bandwidth_bps / 8.0)
    aids = tuple(a for a in plan.aids if isinstance(a, PostCopy))
    if plan.postcopy_after_first_pass and not aids:
        aids = (PostCopy(after_rounds=1, on_no_progress=False),)
    # a timeout shorter than the bulk pass ends pre-copy at the first sync, as a timeout of exactly the bulk pass
    bulk_s = vm.n_pages * (P + hdr) / rate
    base = pol.with_(timeout_s=max(max_time_s, bulk_s))
    kw = plan.controls_kwargs()
    events = []

    def run(kw):
        p = base.with_(controls=Controls(**kw)) if kw else base
        return analytic.saturation(vm, workload, link, p, switchover, aids=aids)

    if plan.downtime_ramp is not None:
        # the ramp starts at the sync that completes iteration startAfterIteration: find it on a first run
        kw["downtime_schedule"] = _ramp_schedule(plan.downtime_ramp, run(kw).rounds["start_s"])
    r = run(kw)
    sched = kw.get("downtime_schedule", ((0.0, pol.downtime_limit_s),))

    def limit_at(t):
        return [d for start, d in sched if t >= start][-1]

    t = r.precopy_time_s
    if plan.downtime_ramp is not None:
        events += [(ts, f"downtime limit -> {d * 1e3:.0f} ms (VEP 291 ramp)") for ts, d in sched[1:] if ts <= t]
    tb = r.rounds
    live = ~np.asarray(tb["stop_copy"], bool)
    rounds = tuple(dict(round=i, start_s=float(tb["start_s"][j]), duration_s=float(tb["duration_s"][j]),
                        pages_sent=float(tb["pages_sent"][j]), pages_dirtied=float(tb["pages_dirtied"][j]),
                        downtime_limit_s=limit_at(float(tb["start_s"][j])), throttle=0.0)
                   for i, j in enumerate(np.flatnonzero(live)))
    pages = rounds[-1]["pages_dirtied"] if rounds else float(vm.n_pages)     # dirty at the last sync
    reason, n = r.stop_reason, len(rounds)
    pc = next(iter(aids), None)
    trigger = reason
    if reason in ("postcopy", "aborted", "forced"):
        if reason == "postcopy" and pc is not None and pc.after_rounds and n >= pc.after_rounds:
            trigger = "postcopy_after_rounds"
            events.append((t, f"post-copy after {n} live round(s)"))
        elif reason == "postcopy" and pc is not None and pc.on_no_progress and not (
                plan.completion_timeout_s is not None and t >= plan.completion_timeout_s):
            trigger = "postcopy_no_progress"
            events.append((t, f"post-copy: a round shrank the dirty set by less than {pc.min_progress:.0%}"))
        elif plan.completion_timeout_s is not None and t >= plan.completion_timeout_s:
            trigger = "completion_timeout"
            events.append((t, f"completion timeout ({plan.completion_timeout_s:.0f} s): {plan.completion_action}"))
        else:
            trigger = "progress_timeout"
            events.append((t, f"no progress for >= {plan.progress_timeout_s:.0f} s: {plan.progress_action}"))
    dev_s = r.downtime_s - r.final_transfer_s
    downtime, pc_s, sent, n_rounds = r.downtime_s, 0.0, r.bytes_sent, r.n_rounds
    if reason == "postcopy":
        # the VM resumes on the destination (device state only in the downtime); the dirty pages follow
        pc_s = pages * (P + hdr) / full
        sent += pages * (P + hdr)
        n_rounds = n + 1
    elif reason == "forced":
        # paused guest: QEMU sends at the pre-copy rate until the rest fits the limit, then stops and copies
        b = pages * (P + hdr)
        fit = min(b, rate * limit_at(t))
        downtime = dev_s + (b - fit) / rate + fit / full
    return ReplayResult(plan.name, r.outcome, reason, t + downtime + pc_s, downtime, t, pc_s, sent, n_rounds,
                        trigger, rounds, tuple(events))


def simulate(vm, workload, link, orchestrator, *, seed: int = 0, switchover=None):
    """Run an orchestrator's plan through the page-level simulator.

    The plan's downtime schedule and timeouts become ``policy.controls``
    (:class:`precopy.policies.Controls`), its aids the simulator's ``aids``.
    VEP 291's ramp starts at an iteration: a first run finds when that
    iteration ends (the rounds before it do not depend on the ramp), and the
    ramp is then scheduled from there.

    Returns
    -------
    MigrationResult
        With ``outcome`` and ``stop_reason`` as the simulator reports them.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(8))
    >>> busy = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=60_000)
    >>> r = simulate(vm, busy, pc.Link.from_profile("1GbE"), KubeVirt(completion_timeout_per_gib_s=20), seed=1)
    >>> r.outcome, r.downtime_s
    ('aborted', 0.0)
    """
    from . import policies
    from .simulate import simulate as sim
    plan = _plan_of(orchestrator, vm)
    Controls = getattr(policies, "Controls", None)
    if Controls is None:
        raise ValueError("the page-level simulator of this precopy has no run-time controls "
                         "(precopy.policies.Controls); use precopy.orchestrators.replay")
    kw = plan.controls_kwargs()
    pol = plan.policy
    if plan.downtime_ramp is not None:
        # the ramp starts at the sync that completes iteration startAfterIteration: find it on a first run
        r0 = sim(vm, workload, link, pol, seed=seed, switchover=switchover, aids=plan.aids)
        starts = np.asarray(r0.rounds["start_s"])
        if plan.downtime_ramp["start_after_iteration"] < len(starts):
            kw["downtime_schedule"] = _ramp_schedule(plan.downtime_ramp, starts)
    pol = pol.with_(controls=Controls(**kw)) if kw else pol
    return sim(vm, workload, link, pol, seed=seed, switchover=switchover, aids=plan.aids)
