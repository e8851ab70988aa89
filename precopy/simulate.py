"""The public entry point: :func:`simulate` one migration, page by page."""

from __future__ import annotations

import math

import numpy as np

from . import _kernel as K
from . import _validate as v
from . import aids as A
from .config import MAX_ROUNDS_GUARD, ROUND_TABLE_CAPACITY
from .links import Link
from .policies import Policy, QEMU
from .results import MigrationResult, RoundTable
from .vm import VM, Switchover
from .workloads import Workload

__all__ = ["simulate", "warmup", "Prepared", "check_scenario"]


def _check_throttle(throttle):
    """Validate a throttle schedule: [(start_s, factor), ...] -> two arrays."""
    if throttle is None:
        return np.zeros(1), np.ones(1)
    try:
        pts = [tuple(p) for p in throttle]
    except TypeError:
        raise ValueError("throttle must be a sequence of (start_s, factor) pairs; "
                         f"got {throttle!r}") from None
    if not pts or any(len(p) != 2 for p in pts):
        raise ValueError(f"throttle must be a non-empty sequence of (start_s, factor) pairs; got {throttle!r}")
    ts = [v.real(p[0], f"throttle[{i}] start_s", "s", lo=0.0) for i, p in enumerate(pts)]
    fs = [v.fraction(p[1], f"throttle[{i}] factor") for i, p in enumerate(pts)]
    if ts[0] != 0.0:
        raise ValueError(f"throttle[0] start_s (s) must be 0; got {ts[0]}")
    if any(b <= a for a, b in zip(ts, ts[1:])):
        raise ValueError("throttle start_s (s) must be strictly increasing")
    return np.array(ts, np.float64), np.array(fs, np.float64)


def resolve_policy(policy, switchover=None):
    """``(policy, switchover)`` with defaults filled (QEMU(), Switchover()) and
    policy names looked up; ValueError for anything else."""
    if policy is None:
        policy = QEMU()
    if isinstance(policy, str):
        from .policies import get
        policy = get(policy)
    if not isinstance(policy, Policy):
        raise ValueError(f"policy must be a precopy.policies.Policy or a policy name; got {policy!r}")
    switchover = Switchover() if switchover is None else switchover
    if not isinstance(switchover, Switchover):
        raise ValueError(f"switchover must be a precopy.Switchover; got {type(switchover).__name__}")
    return policy, switchover


def check_scenario(vm, workload, link, policy, switchover):
    """Validate one scenario, allocating nothing.

    Returns ``(policy, switchover, (rate_bps, final_rate_bps, decision_bps))``
    with names resolved and defaults filled: pre-copy runs at
    ``min(link goodput, max_bandwidth_bps)``, the stop-and-copy at full goodput,
    and the stop rule judges with the pre-copy rate or the policy's override.
    """
    if not isinstance(vm, VM):
        raise ValueError(f"vm must be a precopy.VM; got {type(vm).__name__}")
    if not isinstance(workload, Workload):
        raise ValueError(f"workload must be a precopy.workloads.Workload; got {type(workload).__name__}")
    if not isinstance(link, Link):
        raise ValueError(f"link must be a precopy.Link; got {type(link).__name__}")
    policy, switchover = resolve_policy(policy, switchover)
    workload.validate(vm)
    rate_bps = link.goodput_bps
    if policy.max_bandwidth_bps is not None:
        rate_bps = min(rate_bps, policy.max_bandwidth_bps)
    bulk_s = vm.memory_bytes * 8.0 / rate_bps
    if bulk_s > policy.timeout_s:
        raise ValueError(
            f"timeout_s (s) must exceed the time to send memory once at the pre-copy rate "
            f"({bulk_s:.6g} s for {vm.memory_bytes} bytes at {rate_bps:.6g} bit/s); got {policy.timeout_s}"
        )
    final_bps = link.goodput_bps
    if policy.final_bandwidth_bps is not None:
        final_bps = min(final_bps, policy.final_bandwidth_bps)
    return policy, switchover, (rate_bps, final_bps, policy.switchover_bandwidth_bps or rate_bps)


class Prepared:
    """A validated scenario with its buffers, ready to run many seeds quickly.

    :func:`simulate` builds one of these per call; sweeps and widgets keep one
    and call :meth:`run` with new seeds, reusing the bitmaps (and, with
    :class:`~precopy.aids.XBZRLE`, the cache and write counts).  Arguments as
    :func:`simulate`.
    """

    def __init__(self, vm: VM, workload: Workload, link: Link, policy: Policy,
                 switchover: Switchover | None = None, throttle=None, aids=None):
        policy, switchover, rates = check_scenario(vm, workload, link, policy, switchover)
        self.aids = A.check_aids(aids)
        if policy.adaptive_rate is not None and self.aids:
            raise ValueError("aids must be empty with a policy that has an adaptive_rate (Clark et al.'s "
                             f"per-round rate limit models a Xen without them); got {len(self.aids)} aid(s)")
        xb = A.find(self.aids, A.XBZRLE)
        n_slots = xb.slots(vm.page_bytes, vm.memory_bytes) if xb is not None else 1
        self.thr_t, self.thr_f = _check_throttle(throttle)
        self.vm, self.workload, self.link, self.policy, self.switchover = vm, workload, link, policy, switchover
        self.rate_bps, self.final_rate_bps, self.decision_bps = rates
        self.cost = _costs(vm, link, policy, self.aids, self.rate_bps / 8.0, self.final_rate_bps / 8.0)
        self.aid_mode, self.aid = _aid_params(vm, self.aids)
        if policy.adaptive_rate is not None:
            ar = policy.adaptive_rate
            self.aid[K.A_AR_ON] = 1.0
            self.aid[K.A_AR_MIN], self.aid[K.A_AR_INC], self.aid[K.A_AR_MAX] = (
                ar.min_bps / 8.0, ar.increment_bps / 8.0, ar.max_bps / 8.0)
        # "fewer than N dirty bytes" is "fewer than ceil(N / page) dirty pages"
        self.min_dirty_pages = max(policy.min_dirty_pages, -(-policy.min_dirty_bytes // vm.page_bytes))
        if policy.switchover_bandwidth_bps is None and A.find(self.aids, A.Compression) is not None:
            # QEMU measures its bandwidth in wire bytes: the compressed rate
            self.decision_bps = 8.0 * self.cost[K.K_B_FULL] / self.cost[K.K_T_FULL]
        # allocation happens only after every check passed
        self._compiled = {}
        self.nwords = (vm.n_pages + 63) // 64
        self.cur = np.zeros(self.nwords, np.uint64)
        self.nxt = np.zeros(self.nwords, np.uint64)
        self.sendlist = np.zeros(vm.n_pages if policy.page_skip else 1, np.uint64)
        self.table = np.zeros((ROUND_TABLE_CAPACITY, K.N_COLS), np.float64)
        self.out = np.zeros(K.N_SCALARS, np.float64)
        self.xb_addr = np.full(n_slots, -1, np.int64)
        self.xb_age = np.zeros(n_slots, np.int64)
        self.wc = np.zeros(vm.n_pages, np.int64) if xb is not None else None

    def _arrays(self, seed):
        # Workload tables depend on the seed only for Zipf's rank permutation.
        key = seed if _seed_dependent(self.workload) else None
        if key not in self._compiled:
            if len(self._compiled) > 8:
                self._compiled.clear()
            self._compiled[key] = self.workload.compile(self.vm, seed=seed)
        return self._compiled[key]

    def run(self, seed: int = 0) -> MigrationResult:
        """Simulate with ``seed``; same seed, same result."""
        seed = v.seed(seed)
        vm, pol = self.vm, self.policy
        c = self._arrays(seed)
        max_data_pages = -1 if pol.max_data_factor is None else int(math.floor(pol.max_data_factor * vm.n_pages))
        while True:
            self.cur[:] = 0
            self.nxt[:] = 0
            self.out[:] = 0.0
            self.xb_addr[:] = -1
            self.xb_age[:] = 0
            if self.wc is not None:
                self.wc[:] = 0
            rows = K.simulate_kernel(
                vm.n_pages, vm.n_zero_pages, self.cost, self.decision_bps / 8.0,
                pol.max_rounds, self.min_dirty_pages, pol.min_round_pages,
                0.0 if pol.downtime_limit_s is None else pol.downtime_limit_s, pol.downtime_limit_s is not None,
                max_data_pages, pol.timeout_s, pol.page_skip, pol.send_order == "permuted",
                pol.check_before_first_round, MAX_ROUNDS_GUARD,
                c.kind, c.dur, c.rate, c.a, c.b, c.thr, c.off, c.n,
                c.alias_prob, c.alias_idx, c.trace_t, c.trace_p,
                self.thr_t, self.thr_f, K.xen_order(vm.n_pages), np.uint64(seed),
                self.aid_mode, self.aid, self.xb_addr, self.xb_age, self.wc,
                self.cur, self.nxt, self.sendlist, self.table, self.out)
            if rows >= 0:
                break
            self.table = np.zeros((2 * self.table.shape[0], K.N_COLS), np.float64)
        return self._result(rows, seed)

    def _result(self, rows, seed):
        o, tb, sw = self.out, self.table[:rows].copy(), self.switchover
        final_Bps = self.final_rate_bps / 8.0
        final_transfer_s = float(o[K.S_FINAL_TIME])
        device_s = sw.device_state_bytes / final_Bps
        resume_s = sw.resume_s
        announce_s = sw.announce_s
        downtime = final_transfer_s + device_s + resume_s + announce_s
        final = tb[:, K.C_FINAL] > 0
        post = tb[:, K.C_POST] > 0
        tb[post, K.C_START] += downtime
        precopy_s = float(o[K.S_T_STOP])
        postcopy_s = float(o[K.S_PC_DUR])
        reason_code = int(o[K.S_REASON])
        table = RoundTable({
            "round": np.arange(rows),
            "start_s": tb[:, K.C_START],
            "duration_s": tb[:, K.C_DUR],
            "pages_sent": tb[:, K.C_SENT].astype(np.int64),
            "pages_skipped": tb[:, K.C_SKIP].astype(np.int64),
            "pages_dirtied": tb[:, K.C_DIRTIED].astype(np.int64),
            "bytes_sent": tb[:, K.C_BYTES],
            "writes": tb[:, K.C_WRITES].astype(np.int64),
            "throttle": tb[:, K.C_THROTTLE],
            "cpu_throttle": tb[:, K.C_CPUTHR],
            "guest_lost_s": tb[:, K.C_LOST],
            "xbzrle_hits": tb[:, K.C_XBHITS].astype(np.int64),
            "rate_bps": tb[:, K.C_RATE],
            "stop_copy": final,
            "postcopy": post,
        })
        comp = A.find(self.aids, A.Compression)
        comp_saved = 0.0
        if comp is not None:
            plain = self.vm.page_bytes + self.policy.header_bytes
            n_comp = o[K.S_N_BULK_FULL] + (0.0 if A.find(self.aids, A.XBZRLE) is not None else o[K.S_N_FULL])
            comp_saved = float(n_comp * (plain - self.cost[K.K_B_BULK]))
        return MigrationResult(
            total_time_s=precopy_s + downtime + postcopy_s,
            downtime_s=downtime,
            precopy_time_s=precopy_s,
            bytes_sent=float(o[K.S_TOTAL_BYTES] + sw.device_state_bytes),
            pages_sent=int(o[K.S_TOTAL_PAGES]),
            n_rounds=rows,
            converged=1 <= reason_code <= 4 or reason_code == K.R_POSTCOPY,   # not caps, not max_rate
            stop_reason=K.STOP_REASONS[reason_code],
            final_pages=int(o[K.S_FINAL_PAGES]),
            final_transfer_s=final_transfer_s,
            device_state_s=device_s,
            resume_s=resume_s,
            rate_bps=self.rate_bps,
            final_rate_bps=self.final_rate_bps,
            memory_bytes=self.vm.memory_bytes,
            rounds=table,
            policy=self.policy.name,
            seed=seed,
            announce_s=announce_s,
            announce_window_s=sw.announce_window_s,
            aids=tuple(a.label for a in self.aids),
            guest_slowdown_s=float(o[K.S_LOST]),
            max_cpu_throttle=float(o[K.S_MAX_THR]),
            postcopy_s=postcopy_s,
            postcopy_pages=int(o[K.S_PC_PAGES]),
            postcopy_faults=int(o[K.S_PC_FAULTS]),
            postcopy_stall_s=float(o[K.S_PC_STALL]),
            xbzrle_hits=int(o[K.S_XB_HITS]),
            xbzrle_misses=int(o[K.S_XB_MISSES]),
            xbzrle_overflows=int(o[K.S_XB_OVERFLOWS]),
            xbzrle_saved_bytes=float(o[K.S_XB_SAVED]),
            compression_saved_bytes=comp_saved,
        )


def _costs(vm, link, policy, aids, rate_Bps, final_Bps):
    """Per-page wire bytes and pipeline seconds by page class (``_kernel.K_*``)."""
    P = float(vm.page_bytes)
    H = float(policy.header_bytes)
    plain = P + H
    c = np.zeros(K.N_COST, np.float64)
    c[K.K_PAGE], c[K.K_RATE], c[K.K_FRATE] = P, rate_Bps, final_Bps
    c[K.K_B_ZERO], c[K.K_T_ZERO], c[K.K_TF_ZERO] = H, H / rate_Bps, H / final_Bps
    comp = A.find(aids, A.Compression)
    xb = A.find(aids, A.XBZRLE)
    if comp is None:
        c[K.K_B_BULK] = c[K.K_B_FULL] = plain
        c[K.K_T_BULK] = c[K.K_T_FULL] = plain / rate_Bps
        c[K.K_TF_BULK] = c[K.K_TF_FULL] = plain / final_Bps
    else:
        bc = H + P / comp.ratio
        c[K.K_B_BULK] = bc
        c[K.K_T_BULK] = comp.page_time_s(bc, rate_Bps, vm.page_bytes, link.streams)
        c[K.K_TF_BULK] = comp.page_time_s(bc, final_Bps, vm.page_bytes, link.streams)
        if xb is None:
            c[K.K_B_FULL], c[K.K_T_FULL], c[K.K_TF_FULL] = c[K.K_B_BULK], c[K.K_T_BULK], c[K.K_TF_BULK]
        else:   # QEMU stops compressing once XBZRLE starts (after the bulk pass)
            c[K.K_B_FULL], c[K.K_T_FULL], c[K.K_TF_FULL] = plain, plain / rate_Bps, plain / final_Bps
    if xb is not None:
        c[K.K_XB_HDR] = H + 3.0          # header, encoding flag (1 B), encoded length (2 B)
        c[K.K_XB_PER_WRITE] = float(xb.bytes_per_write + xb.run_overhead_bytes)
        c[K.K_XB_FIXED] = -1.0 if xb.delta_fraction is None else xb.delta_fraction * P
        c[K.K_XB_CPU_T] = 0.0 if xb.encode_Bps is None else P / xb.encode_Bps
    # every class's time is its bytes / rate unless a CPU ceiling says otherwise
    c[K.K_UNIFORM] = float(comp is None and (xb is None or xb.encode_Bps is None))
    pc = A.find(aids, A.PostCopy)
    c[K.K_PC_B] = plain
    c[K.K_PC_T] = plain / final_Bps
    c[K.K_PC_EXTRA] = link.rtt_s + (pc.fault_overhead_s if pc is not None else 0.0)
    return c


def _aid_params(vm, aids):
    """(mode, parameter array) of the slowdown and post-copy aids (``_kernel.A_*``)."""
    a = np.zeros(K.N_AID, np.float64)
    mode = K.AID_NONE
    for aid in aids:
        if isinstance(aid, A.AutoConverge):
            mode = K.AID_AUTOCONVERGE
            a[K.A_INITIAL], a[K.A_INCREMENT], a[K.A_MAX] = aid.initial, aid.increment, aid.max
            a[K.A_TRIGGER], a[K.A_INTERVAL], a[K.A_TAILSLOW] = aid.trigger, aid.check_interval_s, float(aid.tailslow)
        elif isinstance(aid, A.DirtyLimit):
            mode = K.AID_DIRTYLIMIT
            a[K.A_TRIGGER], a[K.A_INTERVAL] = aid.trigger, aid.check_interval_s
            a[K.A_DL_CAP] = aid.vcpus * aid.vcpu_dirty_limit_Bps / vm.page_bytes
            a[K.A_DL_TOL] = aid.vcpus * aid.tolerance_Bps / vm.page_bytes
        elif isinstance(aid, A.SDPS):
            mode = K.AID_SDPS
            a[K.A_SDPS_RATIO] = aid.target_ratio
        elif isinstance(aid, A.PostCopy):
            a[K.A_PC_ON] = 1.0
            a[K.A_PC_AFTER] = 0.0 if aid.after_rounds is None else float(aid.after_rounds)
            a[K.A_PC_NOPROG] = float(aid.on_no_progress)
            a[K.A_PC_MINPROG] = aid.min_progress
    return mode, a


def _seed_dependent(wl) -> bool:
    from .workloads import Phased, Zipf
    if isinstance(wl, Zipf):
        return True
    if isinstance(wl, Phased):
        return any(_seed_dependent(w) for w, _ in wl.phases)
    return False


def simulate(vm: VM, workload: Workload, link: Link, policy: Policy | str | None = None, *,
             seed: int = 0, switchover: Switchover | None = None, throttle=None, aids=None) -> MigrationResult:
    """Simulate one pre-copy live migration page by page.

    Round 0 sends all memory (zero pages header-only); each later round sends the
    pages the dirty bitmap collected while the previous round ran; the policy's
    stop rule, checked at every bitmap sync, decides when to pause the VM and send
    the rest.  Guest writes are applied in time order at the workload's rate.

    Parameters
    ----------
    vm : VM
        Memory size, page size, zero pages.
    workload : Workload
        How the guest writes pages (see :mod:`precopy.workloads`).
    link : Link
        The network path; pre-copy runs at ``min(link.goodput_bps,
        policy.max_bandwidth_bps)`` and the stop-and-copy at ``link.goodput_bps``.
    policy : Policy or str, default ``policies.QEMU()``
        Stop rule and protocol details (see :mod:`precopy.policies`).
    seed : int, default 0
        Seed of the page-choice random stream.  Same seed, same result.
    switchover : Switchover, optional
        Device-state size, resume time and network announcement added to the
        downtime.
    throttle : sequence of (start_s, factor), optional
        Piecewise-constant guest speed factor in [0, 1] over wall time, starting at
        0 s: the guest's write rate is scaled by it (e.g. ``[(0, 1), (10, 0.5)]``).
    aids : aid or sequence of aids, optional
        Convergence aids from :mod:`precopy.aids`: ``AutoConverge``,
        ``DirtyLimit`` or ``SDPS`` (at most one), ``XBZRLE``, ``Compression``,
        ``PostCopy``.  Their costs are reported in the result
        (``guest_slowdown_s``, ``postcopy_s``, ``postcopy_faults``,
        ``xbzrle_saved_bytes`` ...).

    Returns
    -------
    MigrationResult
        ``total_time_s``, ``downtime_s`` (with its parts), ``bytes_sent``,
        ``converged``, ``stop_reason`` and the per-round table ``rounds``.

    Raises
    ------
    ValueError
        Naming the parameter, its unit and allowed range, before anything is
        compiled or allocated.

    References
    ----------
    C. Clark et al., "Live Migration of Virtual Machines", NSDI 2005.
    ``../shared/reference/precopy-reference.md`` for each system's stop rule.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(1))
    >>> wl = pc.workloads.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=20_000)
    >>> r = pc.simulate(vm, wl, pc.Link(rate_bps=pc.Gbps(10)), policy="qemu", seed=1)
    >>> r.converged, r.stop_reason
    (True, 'downtime_limit')
    >>> busy = pc.workloads.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.9, writes_per_s=50_000)
    >>> qemu = pc.policies.QEMU(timeout_s=120)       # 128 MiB/s: this guest outpaces it
    >>> pc.simulate(vm, busy, pc.Link(rate_bps=pc.Gbps(10)), qemu, seed=1).stop_reason
    'timeout'
    >>> r = pc.simulate(vm, busy, pc.Link(rate_bps=pc.Gbps(10)), qemu, seed=1, aids=[pc.aids.AutoConverge()])
    >>> r.converged, r.max_cpu_throttle
    (True, 0.5)
    """
    return Prepared(vm, workload, link, policy, switchover, throttle, aids).run(seed)


def warmup() -> None:
    """Compile every kernel path once (skip on/off, each workload kind, the
    analytic models' round loops).

    With numba's cache on disk a second process loads them in milliseconds; call
    this when a notebook or widget starts so that the first slider move is fast.
    """
    from . import workloads as W
    from .policies import Custom, XenLegacy
    from .units import KiB, MiB
    vm = VM(memory_bytes=MiB(1), page_bytes=KiB(4), zero_fraction=0.1)
    link = Link(rate_bps=1e9)
    wls = [W.Idle(), W.HotCold(wws_bytes=KiB(64), writes_per_s=1e4), W.Zipf(writes_per_s=1e4),
           W.Sequential(region_bytes=KiB(64), writes_per_s=1e4),
           W.Trace(times_s=np.array([0.0, 1e-4]), pages=np.array([1, 2]), loop=True)]
    for wl in wls:
        for pol in (Custom(max_rounds=5), XenLegacy(max_rounds=5)):
            simulate(vm, wl, link, pol, seed=0)
            simulate(vm, wl, link, pol, seed=0, aids=[A.XBZRLE(cache_bytes=KiB(64))])
    from . import storage
    storage.migrate_disk(storage.Disk(size_bytes=MiB(1)), wls[1], storage.StoragePath(rate_Bps=1e8), "mirror")
    from . import analytic
    for model in ("saturation", "hotcold", "geometric"):
        analytic.predict(vm, wls[1], link, Custom(max_rounds=5), model=model)
    analytic.predict(vm, wls[1], link, XenLegacy(max_rounds=5), model="saturation")
