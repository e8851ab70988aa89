"""Hypervisor and era presets: stop rule, sender ceiling and switchover terms together.

A :class:`Hypervisor` bundles what precopy needs to predict one real system:

* its stop rule (a :class:`~precopy.policies.Policy` factory with the era's defaults);
* its sender throughput: the achieved rate is ``min(link goodput, streams x
  per-stream ceiling)`` (the soft minimum of :class:`precopy.links.Link`), with
  the ceiling of that hypervisor and era, and (vSphere 7.0 U2 and later) the
  number of streams chosen from the link speed;
* its switchover cost: a fixed term plus a term per GiB of guest memory (the
  final dirty-bitmap sync walks the whole bitmap), replacing the 9 ms resume of
  :class:`precopy.vm.Switchover`; and, for state that cannot be pre-copied (a
  vGPU frame buffer), a device-state copy rate;
* the background dirtying of an "idle" guest (timers, logging, page cache): a
  small set of pages it keeps rewriting, so what it leaves dirty saturates at
  that set's size.

The fitted numbers come from :mod:`precopy.calibration` (fitted by :mod:`precopy.calibrate`, ``precopy calibrate``),
which stores every parameter with the published rows it was fitted to in
``precopy/data/calibration.json``.  A parameter without any usable row is not
invented: it is ``None`` and the preset says what it falls back to.

Presets (:data:`PRESETS`): ``qemu`` (QEMU 5.2 and later: 300 ms downtime limit,
128 MiB/s default cap), ``qemu-2.x`` (QEMU 1.x-5.1: 32 MiB/s default cap),
``xen-3`` (Xen 3 as Clark et al. measured it, NSDI 2005), ``vmware-6`` (vSphere
6.x: one stream per vMotion vmknic) and ``vmware-8`` (vSphere 7.0 U2 and later:
streams scaled to the link, one per ~15 Gbit/s).

Examples
--------
>>> from precopy import hypervisors as H
>>> sorted(H.PRESETS)
['qemu', 'qemu-2.x', 'vmware-6', 'vmware-8', 'xen-3']
>>> H.get("vmware-8").streams_for(100e9) >= 6
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import _validate as v
from .policies import ERAS
from .units import GiB

__all__ = ["Hypervisor", "PRESETS", "NAMES", "get", "qemu_dirty_sync_count", "FAMILIES", "background_workload"]

FAMILIES = ("qemu", "xen", "vmware")


def _calibrated():
    from .calibration import load
    return load()


@dataclass(frozen=True)
class Hypervisor:
    """One hypervisor and era: stop rule, sender ceiling, switchover terms.

    Parameters
    ----------
    name : str
        Preset name (``qemu``, ``qemu-2.x``, ``xen-3``, ``vmware-6``, ``vmware-8``).
    family : {'qemu', 'xen', 'vmware'}
        Which fitted switchover terms apply.
    policy_name : str
        Base policy (:func:`precopy.policies.get` name).
    policy_defaults : tuple of (str, object)
        Era defaults passed to the policy factory (e.g. QEMU's old 32 MiB/s cap).
    stream_class : str or None
        Key of the fitted per-stream ceiling in the calibration (``None``: line-bound,
        no published ceiling).
    auto_streams : bool
        Choose the number of streams from the link (vSphere 7.0 U2+ stream scaling).
    description, sources : str
        What the preset models and where its defaults come from.
    """

    name: str
    family: str
    policy_name: str
    policy_defaults: tuple = ()
    stream_class: str | None = None
    auto_streams: bool = False
    description: str = ""
    sources: str = ""
    _cal: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        v.choice(self.family, "family", FAMILIES)

    # --- fitted parameters ------------------------------------------------------------
    def _params(self):
        return self._cal if self._cal is not None else _calibrated()

    def with_calibration(self, cal) -> "Hypervisor":
        """A copy that reads its fitted parameters from ``cal`` (a
        :class:`precopy.calibration.Calibration`) instead of the stored file."""
        from .calibration import Calibration
        v.instance(cal, "cal", Calibration, "a precopy.calibration.Calibration")
        return Hypervisor(self.name, self.family, self.policy_name, self.policy_defaults, self.stream_class,
                          self.auto_streams, self.description, self.sources, cal)

    @property
    def per_stream_bps(self) -> float | None:
        """Fitted ceiling of one migration stream (bits/s), or None (line-bound)."""
        if self.stream_class is None:
            return None
        return self._params().per_stream_bps(self.stream_class)

    def streams_for(self, link_bps: float, streams: int | None = None) -> int:
        """Streams used on a link of ``link_bps``: as given, else one (or, with
        stream scaling, one per per-stream ceiling of link rate)."""
        if streams is not None:
            return v.integer(streams, "streams", "count", lo=1, hi=1024)
        if not self.auto_streams or self.per_stream_bps is None:
            return 1
        return max(1, math.ceil(v.real(link_bps, "link_bps", "bit/s", lo=1e3, hi=1e13) / self.per_stream_bps))

    def switchover_s(self, memory_bytes: int) -> float:
        """Fixed switchover time of a guest of ``memory_bytes`` (s): fixed term plus
        the per-GiB term of this family."""
        p = self._params()
        mem = v.real(memory_bytes, "memory_bytes", "bytes", lo=0.0)
        return p.switchover_fixed_s(self.family) + p.switchover_per_gib_s(self.family) * mem / GiB(1)

    def device_state_s(self, device_bytes: float) -> float:
        """Stop-and-copy time of non-pre-copyable device state (s), e.g. a vGPU
        frame buffer: this family's fitted fixed device term + the bytes at its
        fitted device copy rate (0 bytes -> 0)."""
        b = v.real(device_bytes, "device_bytes", "bytes", lo=0.0)
        if b == 0:
            return 0.0
        rate = self._params().device_rate_Bps(self.family)
        if rate is None:
            raise ValueError(f"no fitted device-state rate for family {self.family!r}")
        return self._params().device_fixed_s(self.family) + b / rate

    @property
    def background_Bps(self) -> float:
        """Background dirtying of an idle guest (bytes of page writes per second)."""
        return self._params().background_Bps

    # --- model objects ----------------------------------------------------------------
    def policy(self, **kwargs):
        """The stop rule with this era's defaults (keyword arguments override them)."""
        import inspect
        from .policies import _FACTORIES
        allowed = tuple(inspect.signature(_FACTORIES[self.policy_name]).parameters)
        for k in kwargs:
            if k not in allowed:
                raise ValueError(f"{k} is not a parameter of policy {self.policy_name!r} "
                                 f"(allowed: {', '.join(allowed)})")
        kw = dict(self.policy_defaults)
        kw.update(kwargs)
        return _FACTORIES[self.policy_name](**kw)

    def link(self, link_bps: float, *, mtu: int = 1500, streams: int | None = None, cap_bps=None):
        """A :class:`precopy.links.Link` with this hypervisor's stream ceiling."""
        from .links import profile
        n = self.streams_for(link_bps, streams)
        ps = self.per_stream_bps
        return profile(link_bps).link(mtu=mtu, streams=n, cap_bps=cap_bps,
                                      per_stream_bps=ps if ps is not None else None,
                                      stream_class="none" if ps is None else "modern")

    def switchover(self, memory_bytes: int, device_bytes: float = 0, **kwargs):
        """A :class:`precopy.vm.Switchover` whose resume term is this family's fitted
        switchover time for ``memory_bytes``, with ``device_bytes`` of state that
        cannot be pre-copied (a vGPU frame buffer) copied at this family's fitted
        device-state rate after its fixed device term (an error where none is fitted)."""
        from .vm import Switchover
        dev = v.real(device_bytes, "device_bytes", "bytes", lo=0.0, hi=2.0**50)
        if dev > 0:
            rate = self._params().device_rate_Bps(self.family)
            if rate is None:
                raise ValueError(f"device_bytes: no device-state copy rate is fitted for hypervisor family "
                                 f"{self.family!r} (only for: "
                                 f"{', '.join(f for f in FAMILIES if self._params().device_rate_Bps(f))}); "
                                 f"use hypervisor 'none' to send the device state at the link rate")
            kwargs.update(device_state_bytes=int(dev), device_rate_Bps=rate)
            return Switchover(resume_s=self.switchover_s(memory_bytes) + self._params().device_fixed_s(self.family),
                              **kwargs)
        return Switchover(resume_s=self.switchover_s(memory_bytes), **kwargs)

    @property
    def background_set_bytes(self) -> float:
        """Size of the set of pages an idle guest keeps rewriting (bytes)."""
        return self._params().background_set_bytes

    def idle_workload(self, memory_bytes: int, page_bytes: int = 4096):
        """An idle guest of ``memory_bytes``: writes at :attr:`background_Bps`, uniform
        over its background set of :attr:`background_set_bytes` (rounded to whole
        pages, at most all memory); :class:`precopy.workloads.Idle` when either is 0."""
        return background_workload(self.background_set_bytes, self.background_Bps, memory_bytes, page_bytes)


def background_workload(set_bytes: float, rate_Bps: float, memory_bytes: int, page_bytes: int = 4096):
    """Writes at ``rate_Bps`` uniform over a set of ``set_bytes`` (whole pages, at
    least one, at most all memory); :class:`precopy.workloads.Idle` when either is 0.

    Examples
    --------
    >>> background_workload(2**20, 2**20, 2**30).wws_bytes
    1048576
    """
    from .vm import MAX_PAGES
    from .workloads import HotCold, Idle
    s = v.real(set_bytes, "set_bytes", "bytes", lo=0.0)
    r = v.real(rate_Bps, "rate_Bps", "bytes/s", lo=0.0)
    page_bytes = v.page_size(page_bytes, "page_bytes")
    memory_bytes = v.integer(memory_bytes, "memory_bytes", "bytes", lo=page_bytes, hi=MAX_PAGES * page_bytes)
    if memory_bytes % page_bytes:
        raise ValueError(f"memory_bytes (bytes) must be a whole multiple of page_bytes={page_bytes}; "
                         f"got {memory_bytes!r}")
    if s <= 0 or r <= 0:
        return Idle()
    pages = min(max(1, int(round(s / page_bytes))), int(memory_bytes // page_bytes))
    return HotCold(wws_bytes=pages * page_bytes, hot_fraction=1.0, writes_per_s=r / page_bytes)


def qemu_dirty_sync_count(n_rounds: int, converged: bool = True) -> int:
    """QEMU's ``dirty-sync-count`` at the end of a migration of ``n_rounds`` rounds
    simulated with ``sync_cadence='pass'``.

    QEMU syncs the dirty bitmap once in setup (``ram_init_bitmaps``), once each
    time the pending estimate falls below the switchover threshold during a pass
    (``ram_state_pending_exact``; that sync decides whether to switch over), and
    once more inside the downtime (``ram_save_complete``).  With the pass cadence
    precopy's rounds are the bulk pass, the live rounds (each ending at one
    deciding sync) and the stop-and-copy, so a converged migration of
    ``n_rounds`` rounds shows ``n_rounds + 1`` syncs; one still iterating shows
    ``n_rounds`` (no completion sync yet).  Simulated results carry the count
    directly (``MigrationResult.sync_count``, for either cadence); the validation
    compares that one.

    Examples
    --------
    >>> qemu_dirty_sync_count(2)      # idle guest: bulk pass + stop-and-copy
    3
    """
    n = v.integer(n_rounds, "n_rounds", "rounds", lo=1, hi=2**63 - 1)
    v.flag(converged, "converged")
    return n + 1 if converged else n


PRESETS = {
    "qemu": Hypervisor(
        "qemu", "qemu", *ERAS["qemu"], "qemu",
        description="QEMU/KVM 5.2 and later: downtime-limit 300 ms, max-bandwidth 128 MiB/s (pass "
                    "max_bandwidth_bps=None for libvirt's unlimited), one pre-copy stream (multifd: streams = "
                    "channels) at the pooled fitted per-stream ceiling",
        sources="migration/options.c (DEFAULT_MIGRATE_SET_DOWNTIME 300, MAX_THROTTLE 128 MiB/s since 2020); "
                "per-stream ceiling: pooled link fit (vMotion, Cloud Hypervisor); switchover and background "
                "rate: calibration.json"),
    "qemu-2.x": Hypervisor(
        "qemu-2.x", "qemu", *ERAS["qemu-2.x"], None,
        description="QEMU/KVM 1.x-5.1: max-bandwidth default 32 MiB/s (MAX_THROTTLE 32 << 20); downtime-limit "
                    "300 ms (QEMU 1.x used 30 ms: pass downtime_limit_s=0.03); the era's published single streams "
                    "reach 1 GbE line rate, no faster link measured: line-bound",
        sources="migration/migration.c of QEMU 1.x-2.x (MAX_THROTTLE (32 << 20); QEMU 1.x: max_downtime = "
                "30000000 ns); QEMU docs/multi-thread-compression.txt (0.89-0.94 Gbit/s on 1 GbE)"),
    "xen-3": Hypervisor(
        "xen-3", "xen", *ERAS["xen-3"], None,
        description="Xen 3 as Clark et al. measured it: adaptive rate 100-500 Mbit/s, 256 KB stop, final copy "
                    "at 500 Mbit/s; switchover term fitted to their downtimes",
        sources="Clark et al., NSDI 2005, Sec. 5.1 and 6"),
    "vmware-6": Hypervisor(
        "vmware-6", "vmware", *ERAS["vmware-6"], "vmware",
        description="vSphere 6.x vMotion: 500 ms switchover goal, one stream helper per vMotion vmknic at "
                    "the fitted per-stream ceiling (~15 Gbit/s)",
        sources="Broadcom KB 323379 (18/28/36 Gbit/s with 1/2/3 vmknics on 40 GbE); N. Hagoort, "
                "'Auto-Tuning vMotion Streams' (2021): one stream helper ~15 GbE"),
    "vmware-8": Hypervisor(
        "vmware-8", "vmware", *ERAS["vmware-8"], "vmware", True,
        description="vSphere 7.0 U2 and later (8.x): as vmware-6, with the number of streams scaled to the "
                    "link (one per per-stream ceiling of link rate)",
        sources="N. Hagoort, 'Auto-Tuning vMotion Streams' (2021, vSphere 7.0 U2)"),
}
NAMES = tuple(PRESETS)


def get(name: str) -> Hypervisor:
    """A preset by name.

    Examples
    --------
    >>> get("qemu-2.x").policy().max_bandwidth_bps == 32 * 2**20 * 8
    True
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in PRESETS:
        raise ValueError(f"hypervisor must be one of {', '.join(map(repr, NAMES))}; got {name!r}")
    return PRESETS[key]
