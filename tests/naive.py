"""Slow, obviously correct twins of the compiled kernels.

Plain Python: a set of dirty pages instead of a bitmap, a list for the send
order, Python integers for the random stream.  Each function consumes the same
splitmix64 stream in the same order as :mod:`precopy._kernel`, so on small VMs
the two agree exactly.
"""

from __future__ import annotations

import math


MASK = (1 << 64) - 1
GOLD = 0x9E3779B97F4A7C15

KIND_IDLE, KIND_HOTCOLD, KIND_ALIAS, KIND_SEQUENTIAL, KIND_TRACE = 0, 1, 2, 3, 4
REASONS = ("running", "downtime_limit", "dirty_pages", "round_pages", "no_dirty_pages",
           "max_rounds", "max_data", "timeout", "round_limit")


def splitmix64(state):
    """Advance ``state`` and return (new state, 64-bit output)."""
    state = (state + GOLD) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


class Writer:
    """The guest's write stream: phases, each a kind of write process."""

    def __init__(self, c, n_pages, seed):
        self.c, self.n_pages = c, n_pages
        self.j, self.m, self.P, self.s = 0, 0, 0.0, seed

    def page(self, kind, a, b, thr, off):
        self.s, z = splitmix64(self.s)
        lo, hi = z & 0xFFFFFFFF, z >> 32
        if kind == KIND_HOTCOLD:
            return a + ((hi * b) >> 32) if lo < thr else (hi * self.n_pages) >> 32
        i = (hi * b) >> 32
        return a + i if lo < int(self.c.alias_prob[off + i]) else a + int(self.c.alias_idx[off + i])

    def _phase(self):
        c, j = self.c, self.j
        return (int(c.kind[j]), float(c.dur[j]), float(c.rate[j]), int(c.a[j]), int(c.b[j]),
                int(c.thr[j]), int(c.off[j]), int(c.n[j]))

    def _next_phase(self, dur):
        self.P = self.P + dur
        self.m = 0
        self.j = (self.j + 1) % len(self.c.kind)

    def writes_until(self, tau1):
        """All pages written up to guest time tau1, in order (skip-off engine)."""
        out = []
        while True:
            kind, dur, rate, a, b, thr, off, n = self._phase()
            E = self.P + dur
            upto = min(tau1, E)
            if kind == KIND_TRACE:
                while self.m < n and self.P + float(self.c.trace_t[off + self.m]) <= upto:
                    out.append(int(self.c.trace_p[off + self.m]))
                    self.m += 1
            elif kind != KIND_IDLE:
                target = math.floor(rate * (upto - self.P))
                for k in range(self.m, target):
                    out.append(a + (k % b) if kind == KIND_SEQUENTIAL else self.page(kind, a, b, thr, off))
                self.m = max(self.m, target)
            if tau1 < E:
                return out
            self._next_phase(dur)

    def next_write(self):
        """(guest time, page) of the next write, or (inf, 0)."""
        laps = 0
        while True:
            kind, dur, rate, a, b, thr, off, n = self._phase()
            if kind == KIND_TRACE:
                if self.m < n and float(self.c.trace_t[off + self.m]) < dur:
                    self.m += 1
                    return self.P + float(self.c.trace_t[off + self.m - 1]), int(self.c.trace_p[off + self.m - 1])
            elif kind != KIND_IDLE:
                limit = math.floor(rate * dur) if dur < math.inf else 2**62
                if self.m + 1 <= limit:
                    tau = self.P + (self.m + 1) / rate
                    page = a + (self.m % b) if kind == KIND_SEQUENTIAL else self.page(kind, a, b, thr, off)
                    self.m += 1
                    return tau, page
            if dur == math.inf:
                return math.inf, 0
            self._next_phase(dur)
            if self.j == 0:
                laps += 1
                if laps > 1:
                    return math.inf, 0


def xen_permute(i, nr):
    """Xen legacy's permute(): rotate the index left by 10 within order_nr bits,
    repeated while the result is out of range."""
    order = (nr - 1).bit_length()
    if order <= 10:
        return i
    while True:
        i = ((i >> (order - 10)) | (i << 10)) & ((1 << order) - 1)
        if i < nr:
            return i


class Clock:
    """Wall time <-> guest time under a piecewise-constant throttle."""

    def __init__(self, thr_t, thr_f):
        self.t = [float(x) for x in thr_t] + [math.inf]
        self.f = [float(x) for x in thr_f]

    def seg(self, t):
        i = 0
        while i + 1 < len(self.f) and self.t[i + 1] <= t:
            i += 1
        return i

    def tau_at(self, t, t0, tau0):
        i, ta, tau = self.seg(t0), t0, tau0
        while True:
            if t <= self.t[i + 1]:
                return tau + self.f[i] * (t - ta)
            tau += self.f[i] * (self.t[i + 1] - ta)
            ta = self.t[i + 1]
            i += 1

    def t_at(self, tau, t0, tau0):
        if tau <= tau0:
            return t0
        i, ta, tau_a = self.seg(t0), t0, tau0
        while True:
            end, f = self.t[i + 1], self.f[i]
            if f > 0:
                t = ta + (tau - tau_a) / f
                if t <= end:
                    return t
            if end == math.inf:
                return math.inf
            tau_a += f * (end - ta)
            ta = end
            i += 1


def simulate(vm, workload, link, policy, seed=0, throttle=None, switchover=None):
    """Pure-Python pre-copy simulation with the kernel's semantics.

    Returns a dict with the summary fields and a list of round dicts.
    """
    from precopy.simulate import _check_throttle
    from precopy.vm import Switchover

    sw = switchover or Switchover()
    c = workload.compile(vm, seed=seed)
    n, P, H = vm.n_pages, float(vm.page_bytes), float(policy.header_bytes)
    nzero = vm.n_zero_pages
    full = P + H
    rate_bps = link.goodput_bps if policy.max_bandwidth_bps is None else min(link.goodput_bps, policy.max_bandwidth_bps)
    rate = rate_bps / 8.0
    decision = (policy.switchover_bandwidth_bps or rate_bps) / 8.0
    limit = policy.downtime_limit_s
    max_data = -1 if policy.max_data_factor is None else math.floor(policy.max_data_factor * n)
    clock = Clock(*_check_throttle(throttle))
    writer = Writer(c, n, seed)
    order = [xen_permute(i, n) for i in range(n)] if policy.send_order == "permuted" else list(range(n))

    t = tau = 0.0
    rounds = []
    dirty_set = set(range(n))
    first = True
    reason = 0
    total_bytes, total_pages = 0.0, 0
    pending = writer.next_write() if policy.page_skip else None
    if policy.check_before_first_round and limit is not None and n * P < decision * limit:
        reason = 1
    while reason == 0:
        t0, tau0 = t, tau
        throttle_now = clock.f[clock.seg(t0)]
        log = set()
        if not policy.page_skip:
            rbytes = (n - nzero) * full + nzero * H if first else len(dirty_set) * full
            sent, skipped = len(dirty_set), 0
            t1 = t0 + rbytes / rate
            tau1 = clock.tau_at(t1, t0, tau0)
            pages = writer.writes_until(tau1)
            log.update(pages)
            writes = len(pages)
        else:
            todo = [p for p in order if p in dirty_set]
            pos, rb, sent, skipped, writes = 0, 0.0, 0, 0, 0
            p_tau, p_page = pending
            p_t = clock.t_at(p_tau, t0, tau0)
            while True:
                while pos < len(todo) and not (t0 + rb / rate > p_t):
                    p = todo[pos]
                    pos += 1
                    if p in log:
                        skipped += 1
                    else:
                        sent += 1
                        rb += H if (first and p >= n - nzero) else full
                if pos >= len(todo) and p_t > t0 + rb / rate:
                    break
                log.add(p_page)
                writes += 1
                p_tau, p_page = writer.next_write()
                p_t = clock.t_at(p_tau, t0, tau0)
            pending = (p_tau, p_page)
            rbytes = rb
            t1 = t0 + rb / rate
            tau1 = clock.tau_at(t1, t0, tau0)
        rounds.append(dict(start_s=t0, duration_s=rbytes / rate, pages_sent=sent, pages_skipped=skipped,
                           pages_dirtied=len(log), bytes_sent=rbytes, writes=writes,
                           throttle=throttle_now, stop_copy=False))
        t, tau = t1, tau1
        total_bytes += rbytes
        total_pages += sent
        dirty_set = log
        first = False
        d = len(dirty_set)
        if d == 0:
            reason = 4
        elif limit is not None and d * P < decision * limit:
            reason = 1
        elif policy.min_dirty_pages > 0 and d < policy.min_dirty_pages:
            reason = 2
        elif policy.min_round_pages > 0 and sent + skipped < policy.min_round_pages:
            reason = 3
        elif policy.max_rounds > 0 and len(rounds) + 1 >= policy.max_rounds:
            reason = 5
        elif max_data >= 0 and total_pages > max_data:
            reason = 6
        elif t >= policy.timeout_s:
            reason = 7
    d = len(dirty_set)
    fbytes = (n - nzero) * full + nzero * H if first else d * full
    final_s = fbytes / (link.goodput_bps / 8.0)
    if d > 0:
        rounds.append(dict(start_s=t, duration_s=final_s, pages_sent=d, pages_skipped=0, pages_dirtied=0,
                           bytes_sent=fbytes, writes=0, throttle=0.0, stop_copy=True))
    downtime = final_s + sw.device_state_bytes / (link.goodput_bps / 8.0) + sw.resume_s
    return dict(total_time_s=t + downtime, downtime_s=downtime, precopy_time_s=t,
                bytes_sent=total_bytes + fbytes + sw.device_state_bytes, pages_sent=total_pages + d,
                n_rounds=len(rounds), converged=1 <= reason <= 4, stop_reason=REASONS[reason],
                final_pages=d, rounds=rounds)
