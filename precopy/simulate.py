"""The public entry point: :func:`simulate` one migration, page by page."""

from __future__ import annotations

import math

import numpy as np

from . import _kernel as K
from . import _validate as v
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
    return policy, switchover, (rate_bps, link.goodput_bps, policy.switchover_bandwidth_bps or rate_bps)


class Prepared:
    """A validated scenario with its buffers, ready to run many seeds quickly.

    :func:`simulate` builds one of these per call; sweeps and widgets keep one
    and call :meth:`run` with new seeds, reusing the bitmaps.
    """

    def __init__(self, vm: VM, workload: Workload, link: Link, policy: Policy,
                 switchover: Switchover | None = None, throttle=None):
        policy, switchover, rates = check_scenario(vm, workload, link, policy, switchover)
        self.thr_t, self.thr_f = _check_throttle(throttle)
        self.vm, self.workload, self.link, self.policy, self.switchover = vm, workload, link, policy, switchover
        self.rate_bps, self.final_rate_bps, self.decision_bps = rates
        # allocation happens only after every check passed
        self._compiled = {}
        self.nwords = (vm.n_pages + 63) // 64
        self.cur = np.zeros(self.nwords, np.uint64)
        self.nxt = np.zeros(self.nwords, np.uint64)
        self.sendlist = np.zeros(vm.n_pages if policy.page_skip else 1, np.uint64)
        self.table = np.zeros((ROUND_TABLE_CAPACITY, K.N_COLS), np.float64)
        self.out = np.zeros(K.N_SCALARS, np.float64)

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
        rate_Bps = self.rate_bps / 8.0
        final_Bps = self.final_rate_bps / 8.0
        max_data_pages = -1 if pol.max_data_factor is None else int(math.floor(pol.max_data_factor * vm.n_pages))
        while True:
            self.cur[:] = 0
            self.nxt[:] = 0
            rows = K.simulate_kernel(
                vm.n_pages, float(vm.page_bytes), float(pol.header_bytes), vm.n_zero_pages,
                rate_Bps, self.decision_bps / 8.0,
                pol.max_rounds, pol.min_dirty_pages, pol.min_round_pages,
                0.0 if pol.downtime_limit_s is None else pol.downtime_limit_s, pol.downtime_limit_s is not None,
                max_data_pages, pol.timeout_s, pol.page_skip, pol.send_order == "permuted",
                pol.check_before_first_round, MAX_ROUNDS_GUARD,
                c.kind, c.dur, c.rate, c.a, c.b, c.thr, c.off, c.n,
                c.alias_prob, c.alias_idx, c.trace_t, c.trace_p,
                self.thr_t, self.thr_f, K.xen_order(vm.n_pages), np.uint64(seed),
                self.cur, self.nxt, self.sendlist, self.table, self.out)
            if rows >= 0:
                break
            self.table = np.zeros((2 * self.table.shape[0], K.N_COLS), np.float64)
        return self._result(rows, seed, final_Bps)

    def _result(self, rows, seed, final_Bps):
        o, tb, sw = self.out, self.table[:rows].copy(), self.switchover
        final_transfer_s = float(o[K.S_FINAL_BYTES]) / final_Bps
        device_s = sw.device_state_bytes / final_Bps
        resume_s = sw.resume_s
        downtime = final_transfer_s + device_s + resume_s
        final = tb[:, K.C_FINAL] > 0
        tb[final, K.C_DUR] = final_transfer_s
        precopy_s = float(o[K.S_T_STOP])
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
            "stop_copy": final,
        })
        return MigrationResult(
            total_time_s=precopy_s + downtime,
            downtime_s=downtime,
            precopy_time_s=precopy_s,
            bytes_sent=float(o[K.S_TOTAL_BYTES] + sw.device_state_bytes),
            pages_sent=int(o[K.S_TOTAL_PAGES]),
            n_rounds=rows,
            converged=1 <= reason_code <= 4,
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
        )


def _seed_dependent(wl) -> bool:
    from .workloads import Phased, Zipf
    if isinstance(wl, Zipf):
        return True
    if isinstance(wl, Phased):
        return any(_seed_dependent(w) for w, _ in wl.phases)
    return False


def simulate(vm: VM, workload: Workload, link: Link, policy: Policy | str | None = None, *,
             seed: int = 0, switchover: Switchover | None = None, throttle=None) -> MigrationResult:
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
        Device-state size and resume time added to the downtime.
    throttle : sequence of (start_s, factor), optional
        Piecewise-constant guest speed factor in [0, 1] over wall time, starting at
        0 s: the guest's write rate is scaled by it (e.g. ``[(0, 1), (10, 0.5)]``).

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
    """
    return Prepared(vm, workload, link, policy, switchover, throttle).run(seed)


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
    from . import analytic
    for model in ("saturation", "hotcold", "geometric"):
        analytic.predict(vm, wls[1], link, Custom(max_rounds=5), model=model)
    analytic.predict(vm, wls[1], link, XenLegacy(max_rounds=5), model="saturation")
