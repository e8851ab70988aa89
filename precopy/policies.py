"""Stop rules of real hypervisors, as policies the kernel evaluates at every
bitmap sync.

A :class:`Policy` holds plain numbers; the named constructors set them to each
system's documented defaults.  Sources are in ``docs/reference.md``
(sections 2 and 3) and the files named in each docstring.

At each sync (a round boundary) the kernel stops pre-copy when any convergence
criterion holds (checked first) or any cap is reached:

* convergence: ``remaining dirty bytes < decision bandwidth x downtime_limit_s``
  (QEMU, VMware, SimGrid); ``remaining dirty pages < min_dirty_pages`` (Xen v2);
  ``pages sent + skipped in the last round < min_round_pages`` (Xen legacy); or
  nothing left to send;
* caps: ``max_rounds`` (all rounds, the stop-and-copy included);
  ``total pages sent > max_data_factor x memory pages``; simulated time reaching
  ``timeout_s``.  A capped migration reports ``converged=False``.

The decision bandwidth is the pre-copy transfer rate (what QEMU measures), or
``switchover_bandwidth_bps`` when set (QEMU's ``avail-switchover-bandwidth``).
Pre-copy runs at ``min(link goodput, max_bandwidth_bps)``; the stop-and-copy runs
at the full link goodput.

When the bitmap is synced (:attr:`Policy.sync_cadence`): ``'pass'`` (Xen, VMware,
SimGrid, the textbook loop) syncs at the end of each pass over the synced set;
``'threshold'`` (QEMU and what builds on it: libvirt, KubeVirt, Nova) syncs when
QEMU's pending estimate (pages still set in the bitmap x page size, zero pages
in full) falls to the threshold (decision bandwidth x downtime limit), and a pass
that does not switch over goes on from where it stands (``docs/validation.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import _validate as v
from .units import MiBps

__all__ = ["Policy", "AdaptiveRate", "Controls", "SYNC_CADENCES", "threshold_chunk_bytes", "QEMU", "XenLegacy", "XenNSDI05", "Xen", "VMware", "SimGrid", "Custom",
           "get", "NAMES"]

DEFAULT_TIMEOUT_S = 3600.0

#: When the dirty bitmap is synced (:attr:`Policy.sync_cadence`).
SYNC_CADENCES = ("pass", "threshold")
#: QEMU checks its pending estimate between two calls of ``ram_save_iterate``:
#: each sends for up to ``MAX_WAIT`` (50 ms, ``migration/ram.c``) or until the
#: rate limit's budget of one ``BUFFER_DELAY`` window (100 ms at
#: ``max-bandwidth``, ``migration/migration.c``) is spent.
QEMU_MAX_WAIT_S = 0.05
QEMU_BUFFER_DELAY_S = 0.1


def threshold_chunk_bytes(link_goodput_bps: float, max_bandwidth_bps: float | None = None) -> float:
    """Bytes QEMU sends between two checks of its pending estimate: 50 ms at the
    link's goodput or one 100 ms window of ``max-bandwidth``, whichever is less.

    Examples
    --------
    >>> threshold_chunk_bytes(10e9, 128 * 2**20 * 8) / 2**20   # 128 MiB/s cap: 12.8 MiB
    12.8
    """
    g = v.real(link_goodput_bps, "link_goodput_bps", "bit/s", lo=1e3, hi=1e13)
    b = g / 8.0 * QEMU_MAX_WAIT_S
    if max_bandwidth_bps is not None:
        cap = v.real(max_bandwidth_bps, "max_bandwidth_bps", "bit/s", lo=1e3, hi=1e13)
        b = min(b, cap / 8.0 * QEMU_BUFFER_DELAY_S)
    return b

#: Range of every downtime limit (s): :attr:`Policy.downtime_limit_s`.
_DOWNTIME = dict(lo=0.0, hi=3600.0)


@dataclass(frozen=True)
class AdaptiveRate:
    """Clark et al.'s dynamic rate limit (NSDI 2005, Sec. 5.1).

    The bulk pass runs at ``min_bps``; each later round at the previous round's
    dirtying rate (distinct pages dirtied x page size / round duration) plus
    ``increment_bps``, never below ``min_bps`` nor above the link.  Pre-copy
    ends when that rate would exceed ``max_bps`` (``stop_reason='max_rate'``,
    not converged).  The constants are libxc's (compiled out there).

    Examples
    --------
    >>> AdaptiveRate().max_bps
    500000000.0
    """

    min_bps: float = 100e6
    increment_bps: float = 50e6
    max_bps: float = 500e6

    def __post_init__(self):
        for f in ("min_bps", "increment_bps", "max_bps"):
            object.__setattr__(self, f, v.real(getattr(self, f), f, "bit/s", lo=0.0, hi=1e13,
                                               lo_open=f != "increment_bps"))
        if self.max_bps < self.min_bps:
            raise ValueError(f"max_bps (bit/s) must be >= min_bps={self.min_bps:g}; got {self.max_bps:g}")

    # the same rates in bytes/s, as the round engines count
    @property
    def min_Bps(self) -> float:
        return self.min_bps / 8.0

    @property
    def increment_Bps(self) -> float:
        return self.increment_bps / 8.0

    @property
    def max_Bps(self) -> float:
        return self.max_bps / 8.0


def _schedule(pts, name, value_name, unit, lo, hi, lo_open=False):
    """A piecewise-constant schedule ``[(start_s, value), ...]`` as a tuple of float pairs."""
    try:
        pts = [tuple(p) for p in pts]
    except TypeError:
        raise ValueError(f"{name} must be a sequence of (start_s, {value_name}) pairs; got {pts!r}") from None
    if not pts or any(len(p) != 2 for p in pts):
        raise ValueError(f"{name} must be a non-empty sequence of (start_s, {value_name}) pairs; got {pts!r}")
    ts = [v.real(p[0], f"{name}[{i}] start_s", "s", lo=0.0, hi=1e9) for i, p in enumerate(pts)]
    vs = [v.real(p[1], f"{name}[{i}] {value_name}", unit, lo=lo, hi=hi, lo_open=lo_open)
          for i, p in enumerate(pts)]
    if ts[0] != 0.0:
        raise ValueError(f"{name}[0] start_s (s) must be 0; got {ts[0]}")
    if any(b <= a for a, b in zip(ts, ts[1:])):
        raise ValueError(f"{name} start_s (s) must be strictly increasing; got {ts}")
    return tuple(zip(ts, vs))


#: What a run-time control does when it fires.
ACTIONS = ("abort", "force", "postcopy")


@dataclass(frozen=True)
class Controls:
    """Run-time controls of a migration: what an operator or orchestrator changes
    or enforces while it runs.  Times are wall-clock seconds since the start.

    Parameters
    ----------
    downtime_schedule : sequence of (start_s, downtime_limit_s), optional
        Piecewise-constant downtime limit, first start 0; replaces the policy's
        ``downtime_limit_s`` (Nova's stepwise increase, KubeVirt's ramp,
        ``virsh migrate-setmaxdowntime`` during a migration).  Limits in
        [0, 3600] s.
    completion_timeout_s : float, optional
        At the first bitmap sync at or after this time, ``completion_action``
        happens.  In (0, 1e9] s.
    completion_action : {'abort', 'force', 'postcopy'}, default 'abort'
        ``abort``: stop, the VM stays on the source (stop reason ``aborted``, no
        downtime); ``force``: pause now and send what remains (``forced``, a long
        downtime); ``postcopy``: switch to post-copy (``postcopy``).
    progress_timeout_s : float, optional
        ``progress_action`` happens at a sync when the remaining dirty pages have
        not reached a new minimum for this long (KubeVirt's progressTimeout).
        In (0, 1e9] s.
    progress_action : {'abort', 'force', 'postcopy'}, default 'abort'
    rate_schedule : sequence of (start_s, rate_bps), optional
        Piecewise-constant pre-copy rate cap over wall time, first start 0,
        applied inside rounds; replaces the policy's ``max_bandwidth_bps`` (the
        pre-copy rate is ``min(link goodput, rate)``).  Host drains (the fair
        share changes as other migrations start or end), ``virsh
        migrate-setspeed``.  Rates in [1e3, 1e13] bit/s.  Needs per-page times of
        bytes / rate (no compression or XBZRLE CPU ceiling) and no adaptive rate.

    Examples
    --------
    >>> c = Controls(downtime_schedule=[(0, 0.05), (30, 0.5)], completion_timeout_s=120,
    ...              completion_action="force")
    >>> c.downtime_schedule, c.completion_action
    (((0.0, 0.05), (30.0, 0.5)), 'force')
    """

    downtime_schedule: tuple | None = None
    completion_timeout_s: float | None = None
    completion_action: str = "abort"
    progress_timeout_s: float | None = None
    progress_action: str = "abort"
    rate_schedule: tuple | None = None

    def __post_init__(self):
        if self.downtime_schedule is not None:
            object.__setattr__(self, "downtime_schedule",
                               _schedule(self.downtime_schedule, "downtime_schedule", "downtime_limit_s", "s",
                                         0.0, 3600.0))
        if self.rate_schedule is not None:
            object.__setattr__(self, "rate_schedule",
                               _schedule(self.rate_schedule, "rate_schedule", "rate_bps", "bit/s", 1e3, 1e13))
        for f in ("completion_timeout_s", "progress_timeout_s"):
            if getattr(self, f) is not None:
                object.__setattr__(self, f, v.real(getattr(self, f), f, "s", lo=0.0, hi=1e9, lo_open=True))
        v.choice(self.completion_action, "completion_action", ACTIONS)
        v.choice(self.progress_action, "progress_action", ACTIONS)


@dataclass(frozen=True)
class Policy:
    """Numbers that define a stop rule.  Prefer the named constructors.

    Parameters
    ----------
    name : str
        Label for reports.
    downtime_limit_s : float or None
        Stop when remaining dirty bytes / decision bandwidth < this (seconds).
    min_dirty_pages : int
        Stop when fewer pages than this are dirty at a sync (0: off).
    min_round_pages : int
        Stop when the last round sent + skipped fewer pages than this (0: off).
    max_rounds : int
        Most rounds in all, the stop-and-copy included (0: no cap).
    max_data_factor : float or None
        Stop when pages sent exceed this multiple of the guest's pages.
    max_bandwidth_bps : float or None
        Pre-copy rate cap in bits/s of payload (None: unlimited).
    switchover_bandwidth_bps : float or None
        Bandwidth assumed by the stop decision instead of the measured rate.
    page_skip : bool
        Skip pages re-dirtied in this round before the sender reached them.
    send_order : {'address', 'permuted'}
        Order in which a round visits dirty pages.
    header_bytes : int
        Bytes on the wire per page beyond its contents.
    check_before_first_round : bool
        Apply the downtime rule before the bulk pass too (QEMU: a VM small enough
        is sent entirely while stopped).
    timeout_s : float
        Simulated-time limit; a migration still iterating then is stopped and
        reported as not converged.
    min_dirty_bytes : int
        Stop when fewer dirty bytes than this remain at a sync (0: off).
    adaptive_rate : AdaptiveRate or None
        Clark et al.'s per-round rate limit (None: a fixed pre-copy rate).
    final_bandwidth_bps : float or None
        Rate cap of the stop-and-copy in bits/s (None: the link's goodput).
    controls : Controls or None
        Run-time controls (downtime and rate schedules, completion and progress
        timeouts); None: none.
    sync_cadence : {'pass', 'threshold'}, default 'pass'
        When the dirty bitmap is synced, i.e. what a round is.  ``'pass'``: at the
        end of each pass over the synced set (a round sends the whole set).
        ``'threshold'`` (QEMU's ``migration_iteration_run``): whenever the pages
        still set in the bitmap (zero pages counted in full) fit the threshold
        (decision bandwidth x downtime limit, both as in force when the round
        started), checked after each chunk of pages QEMU sends between two
        checks (:func:`threshold_chunk_bytes`; at least one page, or all pages
        set); the stop rule is then evaluated on
        the synced bitmap (the unsent rest of the pass plus the pages dirtied
        since the last sync) and, if pre-copy goes on, the pass continues from
        where it stands, wrapping to page 0 at the end of memory.  A round then
        ends at every sync, and ``MigrationResult.sync_count`` is QEMU's
        ``dirty-sync-count``.  Needs ``page_skip=False`` and no
        ``adaptive_rate``; with ``check_before_first_round`` a guest that fits
        the threshold before any page is sent stops at once, as in QEMU.
    """

    name: str = "custom"
    downtime_limit_s: float | None = None
    min_dirty_pages: int = 0
    min_round_pages: int = 0
    max_rounds: int = 0
    max_data_factor: float | None = None
    max_bandwidth_bps: float | None = None
    switchover_bandwidth_bps: float | None = None
    page_skip: bool = False
    send_order: str = "address"
    header_bytes: int = 0
    check_before_first_round: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    min_dirty_bytes: int = 0
    adaptive_rate: AdaptiveRate | None = None
    final_bandwidth_bps: float | None = None
    controls: Controls | None = None
    sync_cadence: str = "pass"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string (a label for reports); got {self.name!r}")
        if self.downtime_limit_s is not None:
            object.__setattr__(self, "downtime_limit_s",
                               v.real(self.downtime_limit_s, "downtime_limit_s", "s", **_DOWNTIME))
        object.__setattr__(self, "min_dirty_pages", v.integer(self.min_dirty_pages, "min_dirty_pages", "pages", lo=0,
                                                                        hi=2**32))
        object.__setattr__(self, "min_round_pages", v.integer(self.min_round_pages, "min_round_pages", "pages", lo=0,
                                                                        hi=2**32))
        object.__setattr__(self, "max_rounds", v.integer(self.max_rounds, "max_rounds", "rounds", lo=0, hi=10**6))
        if self.max_rounds == 1:
            raise ValueError("max_rounds (rounds) must be 0 (no cap) or in [2, 1000000]: the bulk pass and "
                             "the stop-and-copy are two rounds; got 1")
        if self.max_data_factor is not None:
            object.__setattr__(self, "max_data_factor",
                               v.real(self.max_data_factor, "max_data_factor", "multiple of memory", lo=1.0, hi=1e6))
        object.__setattr__(self, "min_dirty_bytes", v.integer(self.min_dirty_bytes, "min_dirty_bytes", "bytes", lo=0,
                                                                        hi=2**62))
        if self.adaptive_rate is not None and not isinstance(self.adaptive_rate, AdaptiveRate):
            raise ValueError(f"adaptive_rate must be a precopy.policies.AdaptiveRate or None; got {self.adaptive_rate!r}")
        for f in ("max_bandwidth_bps", "switchover_bandwidth_bps", "final_bandwidth_bps"):
            if getattr(self, f) is not None:
                object.__setattr__(self, f, v.real(getattr(self, f), f, "bit/s", lo=1e3, hi=1e13))
        for f in ("page_skip", "check_before_first_round"):
            if not isinstance(getattr(self, f), bool):
                raise ValueError(f"{f} must be True or False; got {getattr(self, f)!r}")
        v.choice(self.send_order, "send_order", ("address", "permuted"))
        object.__setattr__(self, "header_bytes", v.integer(self.header_bytes, "header_bytes", "bytes", lo=0, hi=2**20))
        object.__setattr__(self, "timeout_s", v.real(self.timeout_s, "timeout_s", "s", lo=0.0, hi=1e9, lo_open=True))
        if self.controls is not None and not isinstance(self.controls, Controls):
            raise ValueError(f"controls must be a precopy.policies.Controls or None; got {self.controls!r}")
        if self.controls is not None and self.controls.rate_schedule is not None and self.adaptive_rate is not None:
            raise ValueError("controls.rate_schedule must be None with an adaptive_rate (both set the pre-copy "
                             "rate); got both")
        v.choice(self.sync_cadence, "sync_cadence", SYNC_CADENCES)
        if self.sync_cadence == "threshold" and self.page_skip:
            raise ValueError("sync_cadence must be 'pass' with page_skip=True (the page-skip engine syncs at the end "
                             "of each pass); got 'threshold'")
        if self.sync_cadence == "threshold" and self.adaptive_rate is not None:
            raise ValueError("sync_cadence must be 'pass' with an adaptive_rate (Clark et al.'s rate is set per "
                             "pass); got 'threshold'")

    def with_(self, **changes) -> "Policy":
        """A copy with some fields changed (validated again)."""
        from dataclasses import fields
        names = [f.name for f in fields(self)]
        for k in changes:
            if k not in names:
                raise ValueError(f"{k} is not a Policy field (fields: {', '.join(names)})")
        return replace(self, **changes)


def QEMU(downtime_limit_s: float = 0.3, max_bandwidth_bps: float | None = MiBps(128) * 8,
         switchover_bandwidth_bps: float | None = None, page_skip: bool = False,
         timeout_s: float = DEFAULT_TIMEOUT_S, controls: Controls | None = None,
         sync_cadence: str | None = None) -> Policy:
    """QEMU/KVM pre-copy (``migration/migration.c``, ``migration/options.c``, QEMU 8-9).

    Stops when the dirty bytes left after a bitmap sync are below
    ``bandwidth x downtime_limit_s``, where bandwidth is measured (or
    ``avail-switchover-bandwidth``).  No round cap: a migration that never fits
    the limit runs until cancelled; here until ``timeout_s``.

    Parameters
    ----------
    downtime_limit_s : float, default 0.3
        QEMU's ``downtime-limit`` (300 ms; 30 ms in releases before 2.x).
    max_bandwidth_bps : float or None, default 128 MiB/s
        QEMU's ``max-bandwidth`` (128 MiB/s since September 2020, 32 MiB/s before);
        libvirt usually sets it unlimited: pass ``None``.
    switchover_bandwidth_bps : float or None
        QEMU's ``avail-switchover-bandwidth``.
    page_skip : bool, default False
        QEMU skips only partly (a page is sent once per pass); off by default.
    sync_cadence : {'threshold', 'pass'} or None
        When the dirty bitmap is synced (:attr:`Policy.sync_cadence`).  None:
        ``'threshold'``, QEMU's own cadence (``migration_iteration_run``), or
        ``'pass'`` with ``page_skip=True`` (the page-skip engine syncs per pass).

    Each page carries an 8-byte header; zero pages are header-only; the stop rule
    is also checked before the bulk pass.

    Examples
    --------
    >>> QEMU().downtime_limit_s, QEMU(max_bandwidth_bps=None).max_bandwidth_bps
    (0.3, None)
    >>> QEMU().sync_cadence, QEMU(page_skip=True).sync_cadence
    ('threshold', 'pass')
    """
    if sync_cadence is None:
        sync_cadence = "pass" if page_skip is True else "threshold"
    return Policy("qemu", downtime_limit_s=downtime_limit_s, max_bandwidth_bps=max_bandwidth_bps,
                  switchover_bandwidth_bps=switchover_bandwidth_bps, page_skip=page_skip,
                  header_bytes=8, check_before_first_round=True, timeout_s=timeout_s, controls=controls,
                  sync_cadence=sync_cadence)


def XenLegacy(max_rounds: int = 30, max_data_factor: float = 3.0, min_round_pages: int = 50,
              timeout_s: float = DEFAULT_TIMEOUT_S, controls: Controls | None = None) -> Policy:
    """Xen's original pre-copy (``tools/libxc/xc_domain_save.c``; Clark et al., NSDI 2005).

    Stops when the last round sent + skipped fewer than 50 pages, after 30 rounds
    (``DEF_MAX_ITERS`` 29 live + the final), or once more than 3 x memory was sent
    (``DEF_MAX_FACTOR``).  Pages are visited in a permuted order and a page
    re-dirtied before its turn is skipped.  The order is Xen's own ``permute()``
    (a 10-bit rotation of the page index), see :func:`precopy._kernel.xen_permute`.  Each page costs 8 header bytes (its
    ``pfn_type`` entry).  The adaptive rate limit of Clark et al. is compiled out
    in libxc and not modelled.

    Examples
    --------
    >>> p = XenLegacy(); (p.max_rounds, p.page_skip, p.send_order)
    (30, True, 'permuted')
    """
    return Policy("xen-legacy", min_round_pages=min_round_pages, max_rounds=max_rounds,
                  max_data_factor=max_data_factor, page_skip=True, send_order="permuted",
                  header_bytes=8, timeout_s=timeout_s, controls=controls)


def XenNSDI05(min_bps: float = 100e6, increment_bps: float = 50e6, max_bps: float = 500e6,
              min_remaining_bytes: int = 256 * 1024, max_rounds: int = 30, max_data_factor: float = 3.0,
              timeout_s: float = DEFAULT_TIMEOUT_S, controls: Controls | None = None) -> Policy:
    """Xen as Clark et al. measured it (NSDI 2005, Sec. 5.1 and 6).

    "The first pre-copy round transfers pages at the minimum bandwidth. Each
    subsequent round counts the number of pages dirtied in the previous round,
    and divides this by the duration of the previous round to calculate the
    dirtying rate. The bandwidth limit for the next round is then determined by
    adding a constant increment to the previous round's dirtying rate [...]
    We terminate pre-copying when the calculated rate is greater than the
    administrator's chosen maximum, or when less than 256KB remains to be
    transferred. During the final stop-and-copy phase we [...] transfer memory
    at the maximum allowable rate."  Minimum 100 Mbit/s and increment 50 Mbit/s
    as in the paper; maximum 500 Mbit/s as in libxc.  Page skip, Xen's scan order
    and the 30-round / 3 x memory caps of ``xc_domain_save.c`` apply as in
    :func:`XenLegacy`.

    Examples
    --------
    >>> p = XenNSDI05(); p.adaptive_rate.min_bps, p.final_bandwidth_bps
    (100000000.0, 500000000.0)
    """
    min_remaining_bytes = v.integer(min_remaining_bytes, "min_remaining_bytes", "bytes", lo=0, hi=2**62)
    return Policy("xen-nsdi05", min_dirty_bytes=min_remaining_bytes, max_rounds=max_rounds,
                  max_data_factor=max_data_factor, page_skip=True, send_order="permuted", header_bytes=8,
                  timeout_s=timeout_s, adaptive_rate=AdaptiveRate(min_bps, increment_bps, max_bps),
                  final_bandwidth_bps=max_bps, controls=controls)


def Xen(max_iterations: int = 5, min_dirty_pages: int = 50, timeout_s: float = DEFAULT_TIMEOUT_S,
        controls: Controls | None = None) -> Policy:
    """Xen migration v2 (``tools/libs/guest/xg_sr_save.c``, ``simple_precopy_policy``).

    Stops when fewer than 50 pages are dirty (``SPP_TARGET_DIRTY_COUNT``) or after
    5 live iterations (``SPP_MAX_ITERATIONS``); no page skip; 8 header bytes per
    page (the PAGE_DATA record's pfn entry).

    Examples
    --------
    >>> Xen().max_rounds
    6
    """
    max_iterations = v.integer(max_iterations, "max_iterations", "rounds", lo=1, hi=10**6 - 1)
    return Policy("xen", min_dirty_pages=min_dirty_pages, max_rounds=max_iterations + 1,
                  header_bytes=8, timeout_s=timeout_s, controls=controls)


def VMware(switchover_goal_s: float = 0.5, timeout_s: float = DEFAULT_TIMEOUT_S,
           controls: Controls | None = None) -> Policy:
    """VMware vMotion: switch over once the remaining dirty set fits the ~500 ms
    switchover goal (vSphere 5 paper: switchover "generally less than a second").

    Round caps and header sizes are not published (unverified): none are applied.

    Examples
    --------
    >>> VMware().downtime_limit_s
    0.5
    """
    switchover_goal_s = v.real(switchover_goal_s, "switchover_goal_s", "s", **_DOWNTIME)
    return Policy("vmware", downtime_limit_s=switchover_goal_s, timeout_s=timeout_s, controls=controls)


def SimGrid(max_downtime_s: float = 0.03, timeout_s: float = DEFAULT_TIMEOUT_S,
            controls: Controls | None = None) -> Policy:
    """SimGrid's VM live-migration plugin: stop when remaining bytes < measured
    bandwidth x max downtime (default 30 ms).  SimGrid's own timeout is 1e7 s;
    precopy uses its common ``timeout_s`` default.

    Examples
    --------
    >>> SimGrid().downtime_limit_s
    0.03
    """
    max_downtime_s = v.real(max_downtime_s, "max_downtime_s", "s", **_DOWNTIME)
    return Policy("simgrid", downtime_limit_s=max_downtime_s, timeout_s=timeout_s, controls=controls)


def Custom(*, max_rounds: int = 0, min_dirty_pages: int = 0, downtime_target_s: float | None = None,
           max_data_factor: float | None = None, min_round_pages: int = 0, page_skip: bool = False,
           send_order: str = "address", header_bytes: int = 0, max_bandwidth_bps: float | None = None,
           timeout_s: float = DEFAULT_TIMEOUT_S, controls: Controls | None = None) -> Policy:
    """Any mix of round cap, remaining-pages threshold, predicted-downtime target
    and data cap.

    Examples
    --------
    >>> p = Custom(max_rounds=30, downtime_target_s=0.3)   # the benchmark rule
    >>> p.max_rounds, p.downtime_limit_s
    (30, 0.3)
    """
    if downtime_target_s is not None:
        downtime_target_s = v.real(downtime_target_s, "downtime_target_s", "s", **_DOWNTIME)
    return Policy("custom", downtime_limit_s=downtime_target_s, min_dirty_pages=min_dirty_pages,
                  min_round_pages=min_round_pages, max_rounds=max_rounds, max_data_factor=max_data_factor,
                  page_skip=page_skip, send_order=send_order, header_bytes=header_bytes,
                  max_bandwidth_bps=max_bandwidth_bps, check_before_first_round=True, timeout_s=timeout_s,
                  controls=controls)


_FACTORIES = {"qemu": QEMU, "xen-legacy": XenLegacy, "xen-nsdi05": XenNSDI05, "xen": Xen, "vmware": VMware,
              "simgrid": SimGrid}
NAMES = tuple(_FACTORIES)

#: Stop rules of hypervisor eras: name -> (base policy, the era's defaults as (argument, value) pairs).
#: :mod:`precopy.hypervisors` builds its presets (sender ceilings, switchover terms) on these, and
#: :func:`get` accepts their names.  QEMU before 5.2 capped pre-copy at 32 MiB/s (``MAX_THROTTLE
#: (32 << 20)``); Xen 3 is Clark et al.'s NSDI 2005 rule; vSphere 6 and 7.0 U2+ share vMotion's rule.
ERAS = {"qemu": ("qemu", ()), "qemu-2.x": ("qemu", (("max_bandwidth_bps", 32 * 2**20 * 8.0),)),
        "xen-3": ("xen-nsdi05", ()), "vmware-6": ("vmware", ()), "vmware-8": ("vmware", ())}


def get(name: str, **kwargs) -> Policy:
    """A policy by name: ``'qemu'``, ``'xen-legacy'``, ``'xen-nsdi05'``, ``'xen'``, ``'vmware'``,
    ``'simgrid'``, or a hypervisor/era preset of :mod:`precopy.hypervisors` (``'qemu-2.x'``,
    ``'xen-3'``, ``'vmware-6'``, ``'vmware-8'``: its stop rule with the era's defaults).

    Examples
    --------
    >>> get("xen").name
    'xen'
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a policy name, one of {', '.join(map(repr, NAMES))}; got {name!r}")
    key = name.strip().lower().replace("_", "-")
    if key in _FACTORIES:
        base, kw = key, {}
    elif key in ERAS:                 # an era: its base rule with the era's defaults
        base, defaults = ERAS[key]
        kw = dict(defaults)
    else:
        every = NAMES + tuple(e for e in ERAS if e not in _FACTORIES)
        raise ValueError(f"policy must be one of {', '.join(map(repr, every))}; got {name!r}")
    import inspect
    allowed = tuple(inspect.signature(_FACTORIES[base]).parameters)
    for k in kwargs:
        if k not in allowed:
            raise ValueError(f"{k} is not a parameter of policy {base!r} (allowed: {', '.join(allowed)})")
    kw.update(kwargs)
    return _FACTORIES[base](**kw)


