"""One migration scenario: validation, defaults, the kernel's named inputs, and
:class:`Prepared`, which runs it for many seeds.

Everything here is checked before anything is compiled or allocated.  Public
sizes are bytes and public rates bits/s; :class:`Rates` converts to the
kernel's bytes/s once.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from . import _kernel as K
from . import _stoprule as SR
from . import _validate as v
from . import aids as A
from . import config as _config
from ._dirtyset import occupancy_cdf
from .config import ROUND_TABLE_CAPACITY
from .links import Link
from .policies import QEMU, Policy
from .policies import get as get_policy
from .results import MigrationResult, assemble
from .vm import VM, Switchover
from .workloads import Workload

__all__ = ["Rates", "Prepared", "check_scenario", "resolve_policy", "check_throttle", "rate_schedule", "interruptible"]


class Rates(NamedTuple):
    """The three rates of a scenario in bits/s, with their bytes/s values.

    ``rate_bps`` pre-copy (``min(link goodput, max_bandwidth_bps)``, or the
    first entry of a rate schedule), ``final_rate_bps`` the stop-and-copy,
    ``decision_bps`` the bandwidth the stop rule judges with.

    Examples
    --------
    >>> Rates(8e9, 1e10, 8e9).rate_Bps
    1000000000.0
    """

    rate_bps: float
    final_rate_bps: float
    decision_bps: float

    @property
    def rate_Bps(self) -> float:
        return self.rate_bps / 8.0

    @property
    def final_rate_Bps(self) -> float:
        return self.final_rate_bps / 8.0

    @property
    def decision_Bps(self) -> float:
        return self.decision_bps / 8.0


def check_throttle(throttle):
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
        policy = get_policy(policy)
    if not isinstance(policy, Policy):
        raise ValueError(f"policy must be a precopy.policies.Policy or a policy name; got {policy!r}")
    switchover = Switchover() if switchover is None else switchover
    if not isinstance(switchover, Switchover):
        raise ValueError(f"switchover must be a precopy.Switchover; got {type(switchover).__name__}")
    return policy, switchover


def rate_schedule(policy, link):
    """(first pre-copy rate bit/s, wall starts, rate factors relative to it) of the
    policy's rate schedule (lists; one entry without a schedule)."""
    if not isinstance(policy, Policy):
        raise ValueError(f"policy must be a precopy.policies.Policy; got {policy!r}")
    if not isinstance(link, Link):
        raise ValueError(f"link must be a precopy.Link; got {type(link).__name__}")
    sched = policy.controls.rate_schedule if policy.controls is not None else None
    if sched is None:
        rate = link.goodput_bps
        if policy.max_bandwidth_bps is not None:
            rate = min(rate, policy.max_bandwidth_bps)
        return rate, [0.0], [1.0]
    rates = [min(link.goodput_bps, r) for _, r in sched]
    return rates[0], [s for s, _ in sched], [r / rates[0] for r in rates]


def check_scenario(vm, workload, link, policy, switchover):
    """Validate one scenario, allocating nothing.

    Returns ``(policy, switchover, Rates)`` with names resolved and defaults
    filled: pre-copy runs at ``min(link goodput, max_bandwidth_bps)`` (or as the
    controls' ``rate_schedule`` says), the stop-and-copy at full goodput (or
    ``final_bandwidth_bps``), and the stop rule judges with the pre-copy rate or
    the policy's override.
    """
    if not isinstance(vm, VM):
        raise ValueError(f"vm must be a precopy.VM; got {type(vm).__name__}")
    if not isinstance(workload, Workload):
        raise ValueError(f"workload must be a precopy.workloads.Workload; got {type(workload).__name__}")
    if not isinstance(link, Link):
        raise ValueError(f"link must be a precopy.Link; got {type(link).__name__}")
    policy, switchover = resolve_policy(policy, switchover)
    workload.validate(vm)
    rate_bps, _, _ = rate_schedule(policy, link)
    bulk_s = vm.memory_bytes * 8.0 / rate_bps
    if bulk_s > policy.timeout_s:
        raise ValueError(
            f"timeout_s (s) must exceed the time to send memory once at the pre-copy rate "
            f"({bulk_s:.6g} s for {vm.memory_bytes} bytes at {rate_bps:.6g} bit/s); got {policy.timeout_s}"
        )
    final_bps = link.goodput_bps
    if policy.final_bandwidth_bps is not None:
        final_bps = min(final_bps, policy.final_bandwidth_bps)
    return policy, switchover, Rates(rate_bps, final_bps, policy.switchover_bandwidth_bps or rate_bps)


def _costs(vm, link, policy, aids, rates):
    """Per-page wire bytes and pipeline seconds by page class (:class:`precopy._kernel.Costs`)."""
    P = float(vm.page_bytes)
    H = float(policy.header_bytes)
    plain = P + H
    R, F = rates.rate_Bps, rates.final_rate_Bps
    comp = A.find(aids, A.Compression)
    xb = A.find(aids, A.XBZRLE)
    c = dict(page=P, rate=R, frate=F, b_zero=H, t_zero=H / R, tf_zero=H / F)
    if comp is None:
        c.update(b_bulk=plain, t_bulk=plain / R, tf_bulk=plain / F, b_full=plain, t_full=plain / R,
                 tf_full=plain / F)
    else:
        bc = H + P / comp.ratio
        c.update(b_bulk=bc, t_bulk=comp.page_time_s(bc, R, vm.page_bytes, link.streams),
                 tf_bulk=comp.page_time_s(bc, F, vm.page_bytes, link.streams))
        if xb is None:
            c.update(b_full=bc, t_full=c["t_bulk"], tf_full=c["tf_bulk"])
        else:   # QEMU stops compressing once XBZRLE starts (after the bulk pass)
            c.update(b_full=plain, t_full=plain / R, tf_full=plain / F)
    c.update(xb_hdr=0.0, xb_per_write=0.0, xb_fixed=0.0, xb_cpu_t=0.0)
    if xb is not None:
        c.update(xb_hdr=H + 3.0,          # header, encoding flag (1 B), encoded length (2 B)
                 xb_per_write=float(xb.bytes_per_write + xb.run_overhead_bytes),
                 xb_fixed=-1.0 if xb.delta_fraction is None else xb.delta_fraction * P,
                 xb_cpu_t=0.0 if xb.encode_Bps is None else P / xb.encode_Bps)
    # every class's time is its bytes / rate unless a CPU ceiling says otherwise
    c["uniform"] = bool(comp is None and (xb is None or xb.encode_Bps is None))
    pc = A.find(aids, A.PostCopy)
    c.update(pc_b=plain, pc_t=plain / F, pc_extra=link.rtt_s + (pc.fault_overhead_s if pc is not None else 0.0))
    return K.Costs(**{f: float(c[f]) if f != "uniform" else c[f] for f in K.Costs._fields})


def _aid_params(vm, aids) -> K.AidParams:
    """The guest-slowdown aid's parameters (mode ``AID_NONE`` without one)."""
    p = dict(mode=K.AID_NONE, initial=0.0, increment=0.0, max=0.0, trigger=0.0, interval=0.0, tailslow=False,
             dl_cap=0.0, dl_tol=0.0, sdps_ratio=0.0)
    for aid in aids:
        if isinstance(aid, A.AutoConverge):
            p.update(mode=K.AID_AUTOCONVERGE, initial=aid.initial, increment=aid.increment, max=aid.max,
                     trigger=aid.trigger, interval=aid.check_interval_s, tailslow=bool(aid.tailslow))
        elif isinstance(aid, A.DirtyLimit):
            p.update(mode=K.AID_DIRTYLIMIT, trigger=aid.trigger, interval=aid.check_interval_s,
                     dl_cap=aid.vcpus * aid.vcpu_dirty_limit_Bps / vm.page_bytes,
                     dl_tol=aid.vcpus * aid.tolerance_Bps / vm.page_bytes)
        elif isinstance(aid, A.SDPS):
            p.update(mode=K.AID_SDPS, sdps_ratio=aid.target_ratio)
    return K.AidParams(**{f: (int(x) if f == "mode" else x if f == "tailslow" else float(x))
                          for f, x in p.items()})


class Prepared:
    """A validated scenario with its kernel inputs, ready to run many seeds quickly.

    :func:`precopy.simulate` builds one of these per call; sweeps and widgets
    keep one and call :meth:`run` with new seeds.  Each run allocates its own
    work arrays, so one ``Prepared`` may run from several threads at once.
    Arguments as :func:`precopy.simulate`.
    """

    def __init__(self, vm: VM, workload: Workload, link: Link, policy: Policy,
                 switchover: Switchover | None = None, throttle=None, aids=None):
        policy, switchover, rates = check_scenario(vm, workload, link, policy, switchover)
        self.aids = A.check_aids(aids)
        if policy.adaptive_rate is not None and self.aids:
            raise ValueError("aids must be empty with a policy that has an adaptive_rate (Clark et al.'s "
                             f"per-round rate limit models a Xen without them); got {len(self.aids)} aid(s)")
        xb = A.find(self.aids, A.XBZRLE)
        self._n_slots = xb.slots(vm.page_bytes, vm.memory_bytes) if xb is not None else 1
        thr_t, thr_f = check_throttle(throttle)
        self.vm, self.workload, self.link, self.policy, self.switchover = vm, workload, link, policy, switchover
        _, rate_t, rate_f = rate_schedule(policy, link)
        self.clocks = K.Clocks(thr_t, thr_f, np.array(rate_t, np.float64), np.array(rate_f, np.float64))
        self.cost = _costs(vm, link, policy, self.aids, rates)
        if len(rate_t) > 1 and not self.cost.uniform:
            raise ValueError("controls.rate_schedule needs per-page times of bytes / rate: no Compression aid and "
                             "no XBZRLE encode_Bps ceiling; got one")
        if policy.switchover_bandwidth_bps is None and A.find(self.aids, A.Compression) is not None:
            # QEMU measures its bandwidth in wire bytes: the compressed rate
            rates = rates._replace(decision_bps=8.0 * self.cost.b_full / self.cost.t_full)
        self.rates = rates
        self.aid = _aid_params(vm, self.aids)
        self.rule = SR.stop_rule_numbers(policy, vm.page_bytes, vm.n_pages, self.aids)
        self._protocol()
        self._compiled = {}
        self._lock = threading.Lock()

    # rates in bits/s, as the results report them
    @property
    def rate_bps(self) -> float:
        return self.rates.rate_bps

    @property
    def final_rate_bps(self) -> float:
        return self.rates.final_rate_bps

    @property
    def decision_bps(self) -> float:
        return self.rates.decision_bps

    def _protocol(self):
        pol, ar = self.policy, self.policy.adaptive_rate
        self.protocol = K.Protocol(
            n_zero=int(self.vm.n_zero_pages), skip=bool(pol.page_skip), permuted=pol.send_order == "permuted",
            order=int(K.xen_order(self.vm.n_pages)), check_first=bool(pol.check_before_first_round),
            decision_Bps=float(self.rates.decision_Bps),
            decision_follows_rate=pol.switchover_bandwidth_bps is None,
            ar_on=ar is not None, ar_min=0.0 if ar is None else ar.min_Bps,
            ar_inc=0.0 if ar is None else ar.increment_Bps,
            set_k_min=float(_config.DIRTYSET_MIN_WRITES_PER_PAGE),
            set_k_alias=float(_config.DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE),
            set_dense=float(_config.DIRTYSET_DENSE_WRITES_PER_PAGE), set_seq=bool(_config.DIRTYSET_SEQUENTIAL),
            threshold=pol.sync_cadence == "threshold", chunk=self._chunk_pages())

    def _chunk_pages(self):
        """Pages QEMU's cadence sends between two checks of the estimate (whole pages
        on the wire, at least one)."""
        if self.policy.sync_cadence != "threshold":
            return 1
        from .policies import threshold_chunk_bytes
        wire = self.vm.page_bytes + self.policy.header_bytes
        goodput, rate = self.link.goodput_bps, self.rates.rate_bps    # rate: capped, or a schedule's first
        return max(1, int(threshold_chunk_bytes(goodput, rate if rate < goodput else None) // wire))

    def override_costs(self, decision_bps: float | None = None, **costs) -> None:
        """Replace per-page costs (fields of :class:`precopy._kernel.Costs`, bytes
        and seconds) and, optionally, the decision bandwidth (bit/s): the hook
        for models that price a page differently (storage's snapshot commit)."""
        bad = set(costs) - set(K.Costs._fields)
        if bad:
            raise ValueError(f"costs must be fields of Costs ({', '.join(K.Costs._fields)}); got {sorted(bad)}")
        self.cost = self.cost._replace(**{k: (bool(x) if k == "uniform" else float(x)) for k, x in costs.items()})
        if decision_bps is not None:
            self.rates = self.rates._replace(decision_bps=float(decision_bps))
            self._protocol()

    def write_process(self, seed):
        """The workload's compiled tables for ``seed`` (cached; only a
        seed-dependent workload compiles anew for each seed)."""
        key = seed if self.workload.seed_dependent else None
        with self._lock:
            wp = self._compiled.get(key)
        if wp is None:
            wp = self.workload.compile(self.vm, seed=seed)
            with self._lock:
                if len(self._compiled) > 8:
                    self._compiled.clear()
                self._compiled[key] = wp
        return wp

    def _buffers(self):
        n, nwords = self.vm.n_pages, (self.vm.n_pages + 63) // 64
        buf = K.Buffers(np.zeros(nwords, np.uint64), np.zeros(nwords, np.uint64),
                        np.zeros(nwords if self.policy.page_skip and self.policy.send_order == "permuted" else 1,
                                 np.uint64),
                        np.full(self._n_slots, -1, np.int64), np.zeros(self._n_slots, np.int64), occupancy_cdf())
        wc = np.zeros(n, np.int64) if A.find(self.aids, A.XBZRLE) is not None else None
        return buf, wc

    def run(self, seed: int = 0) -> MigrationResult:
        """Simulate with ``seed``; same seed, same result (on any thread)."""
        seed = v.seed(seed)
        wp = self.write_process(seed)
        cap = ROUND_TABLE_CAPACITY
        while True:
            buf, wc = self._buffers()
            ws = K.new_write_state(np.uint64(seed))
            table = np.zeros((cap, K.N_COLS), np.float64)
            out = np.zeros(K.N_SCALARS, np.float64)
            rows = interruptible(K.simulate_kernel, ws.stop, wp, ws, self.protocol, self.rule, self.aid,
                                  self.cost, self.clocks, buf, wc, table, out)
            if rows >= 0:
                break
            cap *= 2
        return self._result(rows, table, out, seed)

    def _result(self, rows, table, out, seed):
        o = dict(zip(K.OUT_FIELDS, out))
        sw = self.switchover
        fields = assemble(
            reason=int(o["reason"]), t_stop_s=o["t_stop"], final_transfer_s=o["final_time"],
            final_pages=o["final_pages"], total_bytes=o["total_bytes"], total_pages=o["total_pages"],
            postcopy_s=o["pc_dur"], columns=dict(zip(K.TABLE_COLUMNS, table[:rows].T.copy())), switchover=sw,
            rate_bps=self.rates.rate_bps, final_rate_bps=self.rates.final_rate_bps,
            memory_bytes=self.vm.memory_bytes, policy=self.policy.name)
        comp = A.find(self.aids, A.Compression)
        comp_saved = 0.0
        if comp is not None:
            plain = self.vm.page_bytes + self.policy.header_bytes
            n_comp = o["n_bulk_full"] + (0.0 if A.find(self.aids, A.XBZRLE) is not None else o["n_full"])
            comp_saved = float(n_comp * (plain - self.cost.b_bulk))
        return MigrationResult(
            **fields, seed=seed, aids=tuple(a.label for a in self.aids),
            guest_slowdown_s=float(o["lost"]), max_cpu_throttle=float(o["max_thr"]),
            postcopy_s=float(o["pc_dur"]), postcopy_pages=int(o["pc_pages"]), postcopy_faults=int(o["pc_faults"]),
            postcopy_stall_s=float(o["pc_stall"]), xbzrle_hits=int(o["xb_hits"]),
            xbzrle_misses=int(o["xb_misses"]), xbzrle_overflows=int(o["xb_overflows"]),
            xbzrle_saved_bytes=float(o["xb_saved"]), compression_saved_bytes=comp_saved,
            sync_count=int(o["syncs"]))


#: seconds between two looks at a pending KeyboardInterrupt while a kernel runs
INTERRUPT_POLL_S = 0.05


def interruptible(kernel, stop, *args):
    """Run ``kernel(*args)``; on the main thread, in a helper thread so that
    Ctrl-C (KeyboardInterrupt) sets ``stop`` and the kernel returns within one
    batch of writes; the interrupt is then raised again here."""
    if threading.current_thread() is not threading.main_thread():
        return kernel(*args)
    box = []
    th = threading.Thread(target=lambda: box.append(kernel(*args)), daemon=True)
    th.start()
    try:
        while th.is_alive():
            th.join(INTERRUPT_POLL_S)
    except KeyboardInterrupt:
        stop[0] = 1
        th.join()
        raise
    if not box:
        raise RuntimeError("the simulation kernel failed")
    return box[0]
