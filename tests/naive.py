"""Slow, obviously correct twins of the compiled kernels.

Plain Python: a set of dirty pages instead of a bitmap, a list for the send
order, Python integers for the random stream.  Each function consumes the same
splitmix64 stream in the same order as :mod:`precopy._kernel`, so on small VMs
the two agree exactly.
"""

from __future__ import annotations

import math

import naive_zipf


MASK = (1 << 64) - 1
MAX_IDLE_LAPS = 1 << 20
GOLD = 0x9E3779B97F4A7C15

KIND_IDLE, KIND_HOTCOLD, KIND_ALIAS, KIND_SEQUENTIAL, KIND_TRACE, KIND_ZIPF = 0, 1, 2, 3, 4, 5
REASONS = ("running", "downtime_limit", "dirty_pages", "round_pages", "no_dirty_pages",
           "max_rounds", "max_data", "timeout", "round_limit", "postcopy", "max_rate", "aborted", "forced")
POSTCOPY = 9
MAX_RATE = 10
ABORTED = 11
FORCED = 12
ACTION = {"abort": ABORTED, "force": FORCED, "postcopy": POSTCOPY}


def is_converged(reason):
    return 1 <= reason <= 4 or reason == POSTCOPY


def outcome(reason):
    if reason in (ABORTED, FORCED):
        return REASONS[reason]
    return "converged" if is_converged(reason) else "not_converged"


def at(schedule, t):
    """Value of a piecewise-constant schedule [(start, value), ...] at time t."""
    val = schedule[0][1]
    for start, x in schedule:
        if start <= t:
            val = x
    return val


class Controls:
    """The policy's run-time controls, as plain numbers (all off without them)."""

    def __init__(self, policy, goodput_bps):
        c = policy.controls
        self.downtime = None if c is None else c.downtime_schedule
        self.completion = None if c is None else c.completion_timeout_s
        self.completion_action = None if c is None else ACTION[c.completion_action]
        self.progress = None if c is None else c.progress_timeout_s
        self.progress_action = None if c is None else ACTION[c.progress_action]
        rs = None if c is None else c.rate_schedule
        self.rates = None if rs is None else [(s, min(goodput_bps, r)) for s, r in rs]
        self.best, self.best_t = math.inf, 0.0

    def limit(self, policy, t):
        """Downtime limit in force at t (None: no downtime rule)."""
        return at(self.downtime, t) if self.downtime is not None else policy.downtime_limit_s

    def rate_factor(self, t):
        return 1.0 if self.rates is None else at(self.rates, t) / self.rates[0][1]

    def sender(self):
        """The sender's clock: base-rate seconds of work over wall time."""
        if self.rates is None:
            return Clock([0.0], [1.0])
        return Clock([s for s, _ in self.rates], [r / self.rates[0][1] for _, r in self.rates])

    def fired(self, t, dirty):
        """The reason a control ends pre-copy at this sync (0: none); tracks progress."""
        if dirty < self.best:
            self.best, self.best_t = dirty, t
        if self.completion is not None and t >= self.completion:
            return self.completion_action
        if self.progress is not None and t - self.best_t >= self.progress:
            return self.progress_action
        return 0


def send_time(sender, t0, sig):
    """Wall time at which a round started at t0 has done sig base-rate seconds of sending."""
    return sender.t_at(sig, t0, 0.0) if sig > 0 else t0


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
        self.e = 0.0     # write-clock fraction carried into the phase

    def page(self, kind, a, b, thr, off):
        if kind == KIND_ZIPF:
            self.s, p = naive_zipf.page(self.s, a, b, self.c.alias_prob[off:off + 9])
            return p
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
        kind, _, rate = self._phase()[:3]
        if kind not in (KIND_IDLE, KIND_TRACE):      # the write clock runs on into the next phase
            x = self.e + rate * dur
            self.e = x - math.floor(x)
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
                target = math.floor(self.e + rate * dur) if dur < math.inf else 2**62
                if tau1 < E:
                    target = min(target, math.floor(self.e + rate * (tau1 - self.P)))
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
                limit = math.floor(self.e + rate * dur) if dur < math.inf else 2**62
                if self.m + 1 <= limit:
                    tau = self.P + ((self.m + 1) - self.e) / rate
                    page = a + (self.m % b) if kind == KIND_SEQUENTIAL else self.page(kind, a, b, thr, off)
                    self.m += 1
                    return tau, page
            if dur == math.inf:
                return math.inf, 0
            self._next_phase(dur)
            if self.j == 0:
                laps += 1
                if laps > MAX_IDLE_LAPS:      # so many laps without a write: none will come
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

    def tau_at(self, t, t0, tau0, g=1.0):
        i, ta, tau = self.seg(t0), t0, tau0
        while True:
            f = self.f[i] * g
            if t <= self.t[i + 1]:
                return tau + f * (t - ta)
            tau += f * (self.t[i + 1] - ta)
            ta = self.t[i + 1]
            i += 1

    def t_at(self, tau, t0, tau0, g=1.0):
        if tau <= tau0:
            return t0
        i, ta, tau_a = self.seg(t0), t0, tau0
        while True:
            end, f = self.t[i + 1], self.f[i] * g
            if f > 0:
                t = ta + (tau - tau_a) / f
                if t <= end:
                    return t
            if end == math.inf:
                return math.inf
            tau_a += f * (end - ta)
            ta = end
            i += 1


class XBCache:
    """QEMU's XBZRLE page cache (direct-mapped, CACHED_PAGE_LIFETIME 2) and the
    per-page write counts of the delta model."""

    def __init__(self, xb, page_bytes, header_bytes, costs):
        self.nslots = xb.cache_bytes // page_bytes
        self.addr = [-1] * self.nslots
        self.age = [0] * self.nslots
        self.wc = {}
        self.xb = xb
        self.P = float(page_bytes)
        self.hdr = float(header_bytes) + 3.0
        self.per_write = float(xb.bytes_per_write + xb.run_overhead_bytes)
        self.fixed = -1.0 if xb.delta_fraction is None else xb.delta_fraction * float(page_bytes)
        self.cpu_t = 0.0 if xb.encode_Bps is None else float(page_bytes) / xb.encode_Bps
        self.costs = costs
        self.hits = self.misses = self.overflows = 0
        self.saved = 0.0

    def write(self, p):
        self.wc[p] = self.wc.get(p, 0) + 1

    def send(self, p, gen, last, final):
        """(bytes, seconds, outcome) of re-sending page p."""
        c = self.costs
        slot = p % self.nslots
        k = self.wc.pop(p, 0)
        if self.addr[slot] == p:
            self.age[slot] = gen
            enc = self.fixed if self.fixed >= 0.0 else k * self.per_write
            if enc == 0.0:
                return 0.0, 0.0, "same"
            if enc > self.P:
                return c["b_full"], (c["tf_full"] if final else c["t_full"]), "overflow"
            b = self.hdr + enc
            tt = b / (c["frate"] if final else c["rate"])
            tt = max(tt, self.cpu_t)
            return b, tt, "hit"
        if not last and (self.addr[slot] < 0 or self.age[slot] + 2 <= gen):
            self.addr[slot], self.age[slot] = p, gen
        return c["b_full"], (c["tf_full"] if final else c["t_full"]), "miss"

    def count(self, b, kind):
        """Book an outcome; returns 1 for a delta-encoded page."""
        if kind == "miss":
            self.misses += 1
        elif kind == "overflow":
            self.overflows += 1
        else:
            self.hits += 1
            self.saved += self.costs["b_full"] - b
            return 1
        return 0


def costs(vm, link, policy, aids):
    """Per-page bytes and seconds by page class, from first principles."""
    from precopy import aids as A
    P, H = float(vm.page_bytes), float(policy.header_bytes)
    rate_bps = link.goodput_bps if policy.max_bandwidth_bps is None else min(link.goodput_bps, policy.max_bandwidth_bps)
    if policy.controls is not None and policy.controls.rate_schedule is not None:
        rate_bps = min(link.goodput_bps, policy.controls.rate_schedule[0][1])
    frate_bps = link.goodput_bps if policy.final_bandwidth_bps is None else min(link.goodput_bps,
                                                                                 policy.final_bandwidth_bps)
    rate, frate = rate_bps / 8.0, frate_bps / 8.0
    comp, xb = A.find(aids, A.Compression), A.find(aids, A.XBZRLE)
    c = dict(rate=rate, frate=frate, rate_bps=rate_bps, b_zero=H, t_zero=H / rate, tf_zero=H / frate)
    plain = P + H

    def ctime(b, r):
        t = b / r
        n = link.streams if comp.threads is None else comp.threads
        if comp.cpu_Bps is not None:
            t = max(t, vm.page_bytes / (n * comp.cpu_Bps))
        if comp.decompress_cpu_Bps is not None:
            nd = n if comp.decompress_threads is None else comp.decompress_threads
            t = max(t, vm.page_bytes / (nd * comp.decompress_cpu_Bps))
        return t

    if comp is None:
        c.update(b_bulk=plain, t_bulk=plain / rate, tf_bulk=plain / frate,
                 b_full=plain, t_full=plain / rate, tf_full=plain / frate)
    else:
        bc = H + P / comp.ratio
        c.update(b_bulk=bc, t_bulk=ctime(bc, rate), tf_bulk=ctime(bc, frate))
        if xb is None:
            c.update(b_full=bc, t_full=c["t_bulk"], tf_full=c["tf_bulk"])
        else:
            c.update(b_full=plain, t_full=plain / rate, tf_full=plain / frate)
    # every class's time is its bytes / rate unless a CPU ceiling says otherwise: then times are
    # computed as bytes / rate, as without aids
    c["uniform"] = comp is None and (xb is None or xb.encode_Bps is None)
    pc = A.find(aids, A.PostCopy)
    c.update(pc_b=plain, pc_t=plain / frate, pc_extra=link.rtt_s + (pc.fault_overhead_s if pc else 0.0))
    if policy.switchover_bandwidth_bps is not None:
        c["decision"] = policy.switchover_bandwidth_bps / 8.0
    elif comp is not None:
        c["decision"] = (8.0 * c["b_full"] / c["t_full"]) / 8.0
    else:
        c["decision"] = rate_bps / 8.0
    return c


def postcopy(R, tau, pending, writer, c):
    """Pure-Python post-copy phase: returns (duration, faults, stall, pushed, writes)."""
    R = set(R)
    order = sorted(R)
    idx = 0
    faults = pushed = writes = 0
    stall = t_end = 0.0
    a_t, a_tau = 0.0, tau
    p_tau, p_page = pending

    def pop():
        nonlocal idx
        while order[idx] not in R:
            idx += 1
        R.remove(order[idx])
        return order[idx]

    inflight, push_end = -1, 0.0
    if R:
        inflight, push_end = pop(), c["pc_t"]
    while inflight >= 0:
        tw = a_t + (p_tau - a_tau) if p_tau < math.inf else math.inf
        if push_end <= tw:
            pushed += 1
            t_end = max(t_end, push_end)
            if R:
                inflight = pop()
                push_end = push_end + c["pc_t"]
            else:
                inflight = -1
        else:
            writes += 1
            if p_page == inflight:
                faults += 1
                stall += push_end - tw
                a_t, a_tau = push_end, p_tau
            elif p_page in R:
                R.remove(p_page)
                faults += 1
                lat = c["pc_extra"] + c["pc_t"]
                stall += lat
                a_t, a_tau = tw + lat, p_tau
                push_end = push_end + c["pc_t"]
                t_end = max(t_end, a_t)
            p_tau, p_page = writer.next_write()
    return t_end, faults, stall, pushed, writes


def simulate(vm, workload, link, policy, seed=0, throttle=None, switchover=None, aids=None, cost_override=None):
    """Pure-Python pre-copy simulation with the kernel's semantics, aids included.

    ``cost_override`` replaces entries of :func:`costs` (the snapshot strategy
    prices a block as a copy plus a commit).  Returns a dict with the summary
    fields and a list of round dicts.
    """
    from precopy import aids as A
    from precopy.simulate import _check_throttle
    from precopy.vm import Switchover

    aids = A.check_aids(aids)
    ac, dl, sd = A.find(aids, A.AutoConverge), A.find(aids, A.DirtyLimit), A.find(aids, A.SDPS)
    xbz, pcy = A.find(aids, A.XBZRLE), A.find(aids, A.PostCopy)
    trig = ac or dl
    slow = ac or dl or sd
    sw = switchover or Switchover()
    c = workload.compile(vm, seed=seed)
    cost = costs(vm, link, policy, aids)
    cost.update(cost_override or {})
    n, P = vm.n_pages, float(vm.page_bytes)
    nzero = vm.n_zero_pages
    decision = cost["decision"]
    rate, uniform = cost["rate"], cost["uniform"]
    ar = policy.adaptive_rate          # Clark et al.'s per-round rate (bytes/s below)
    if ar is not None:
        rate = min(ar.min_bps / 8.0, cost["rate"])
    min_dirty = max(policy.min_dirty_pages, math.ceil(policy.min_dirty_bytes / vm.page_bytes))
    limit = policy.downtime_limit_s
    max_data = -1 if policy.max_data_factor is None else math.floor(policy.max_data_factor * n)
    clock = Clock(*_check_throttle(throttle))
    ctl = Controls(policy, link.goodput_bps)
    sender = ctl.sender()
    follows = policy.switchover_bandwidth_bps is None
    writer = Writer(c, n, seed)
    xb = XBCache(xbz, vm.page_bytes, policy.header_bytes, cost) if xbz else None
    order = [xen_permute(i, n) for i in range(n)] if policy.send_order == "permuted" else list(range(n))

    t = tau = 0.0
    g = 1.0
    rounds = []
    dirty_set = set(range(n))
    first = True
    reason = 0
    total_bytes, total_pages = 0.0, 0
    n_bulk_full = n_full = 0
    ac_cnt, ac_t_last, ac_dirty, ac_xfer, ac_p, dl_on = 0, 0.0, 0, 0.0, 0.0, False
    total_lost = max_thr = 0.0
    if dl:
        dl_cap = dl.vcpus * dl.vcpu_dirty_limit_Bps / vm.page_bytes
        dl_tol = dl.vcpus * dl.tolerance_Bps / vm.page_bytes
    pending = writer.next_write() if policy.page_skip else None
    limit = ctl.limit(policy, 0.0)
    if policy.check_before_first_round and limit is not None and n * P < decision * (ctl.rate_factor(0.0) if follows else 1.0) * limit:
        reason = 1
    while reason == 0:
        t0, tau0 = t, tau
        f0 = ctl.rate_factor(t0)
        throttle_now = clock.f[clock.seg(t0)] * g
        gen = len(rounds) + 1
        log = set()
        hits = 0
        if not policy.page_skip:
            if first:
                rbytes = (n - nzero) * cost["b_bulk"] + nzero * cost["b_zero"]
                dur = (n - nzero) * cost["t_bulk"] + nzero * cost["t_zero"]
                n_bulk_full += n - nzero
            elif xb:
                rbytes = dur = 0.0
                for p in sorted(dirty_set):
                    b, tt, kind = xb.send(p, gen, False, False)
                    rbytes += b
                    dur += tt
                    hits += xb.count(b, kind)
                    n_full += kind in ("miss", "overflow")
            else:
                rbytes = len(dirty_set) * cost["b_full"]
                dur = len(dirty_set) * cost["t_full"]
                n_full += len(dirty_set)
            sig = rbytes / rate if uniform else dur
            sent, skipped = len(dirty_set), 0
            t1 = send_time(sender, t0, sig)
            dur = sig / sender.f[0] if len(sender.f) == 1 else t1 - t0
            tau1 = clock.tau_at(t1, t0, tau0, g)
            pages = writer.writes_until(tau1)
            log.update(pages)
            if xb:
                for p in pages:
                    xb.write(p)
            writes = len(pages)
        else:
            todo = [p for p in order if p in dirty_set]
            pos, rb, rt, sent, skipped, writes = 0, 0.0, 0.0, 0, 0, 0
            p_tau, p_page = pending
            p_t = clock.t_at(p_tau, t0, tau0, g)
            while True:
                while pos < len(todo) and not (send_time(sender, t0, rb / rate if uniform else rt) > p_t):
                    p = todo[pos]
                    pos += 1
                    if p in log:
                        skipped += 1
                        continue
                    sent += 1
                    if first:
                        if p >= n - nzero:
                            rb += cost["b_zero"]
                            rt += cost["t_zero"]
                        else:
                            rb += cost["b_bulk"]
                            rt += cost["t_bulk"]
                            n_bulk_full += 1
                        if xb:
                            xb.wc.pop(p, None)
                    elif xb:
                        b, tt, kind = xb.send(p, gen, False, False)
                        rb += b
                        rt += tt
                        hits += xb.count(b, kind)
                        n_full += kind in ("miss", "overflow")
                    else:
                        rb += cost["b_full"]
                        rt += cost["t_full"]
                        n_full += 1
                if pos >= len(todo) and p_t > send_time(sender, t0, rb / rate if uniform else rt):
                    break
                log.add(p_page)
                if xb:
                    xb.write(p_page)
                writes += 1
                p_tau, p_page = writer.next_write()
                p_t = clock.t_at(p_tau, t0, tau0, g)
            pending = (p_tau, p_page)
            sig = rb / rate if uniform else rt
            rbytes = rb
            t1 = send_time(sender, t0, sig)
            dur = sig / sender.f[0] if len(sender.f) == 1 else t1 - t0
            tau1 = clock.tau_at(t1, t0, tau0, g)
        lost = (1.0 - g) * clock.tau_at(t1, t0, 0.0, 1.0) if slow else 0.0
        total_lost += lost
        rounds.append(dict(start_s=t0, duration_s=dur, pages_sent=sent, pages_skipped=skipped,
                           pages_dirtied=len(log), bytes_sent=rbytes, writes=writes,
                           throttle=throttle_now, cpu_throttle=1.0 - g, guest_lost_s=lost, xbzrle_hits=hits,
                           rate_bps=rate * f0 * 8.0, stop_copy=False, postcopy=False))
        t, tau = t1, tau1
        total_bytes += rbytes
        total_pages += sent
        prev_dirty = len(dirty_set)
        dirty_set = log
        first = False
        d = len(dirty_set)
        limit = ctl.limit(policy, t)
        fired = ctl.fired(t, d)
        if d == 0:
            reason = 4
        elif limit is not None and d * P < decision * (ctl.rate_factor(t) if follows else 1.0) * limit:
            reason = 1
        elif min_dirty > 0 and d < min_dirty:
            reason = 2
        elif policy.min_round_pages > 0 and sent + skipped < policy.min_round_pages:
            reason = 3
        elif ar is not None and d * P / dur + ar.increment_bps / 8.0 > ar.max_bps / 8.0:
            reason = MAX_RATE
        elif pcy and ((pcy.after_rounds and len(rounds) >= pcy.after_rounds) or
                      (pcy.on_no_progress and len(rounds) >= 2 and
                       (prev_dirty - d) < pcy.min_progress * prev_dirty)):
            reason = POSTCOPY
        elif fired:
            reason = fired
        elif policy.max_rounds > 0 and len(rounds) + 1 >= policy.max_rounds:
            reason = 5
        elif max_data >= 0 and total_pages > max_data:
            reason = 6
        elif t >= policy.timeout_s:
            reason = 7
        if ar is not None and reason == 0:    # next round: the dirtying rate + the increment
            rate = min(max(d * P / dur + ar.increment_bps / 8.0, ar.min_bps / 8.0), cost["rate"])
        if slow and reason == 0:
            if sd:
                if d > 0 and dur > 0.0:
                    g = min(g * sd.target_ratio * (P / cost["t_full"]) / (d * P / dur), 1.0)
            else:
                ac_dirty += d
                ac_xfer += rbytes
                if t > ac_t_last + trig.check_interval_s:
                    d_bytes = ac_dirty * P
                    thr_bytes = ac_xfer * trig.trigger
                    if d_bytes > thr_bytes:
                        ac_cnt += 1
                        if ac_cnt >= 2:
                            ac_cnt = 0
                            if ac:
                                if ac_p == 0.0:
                                    ac_p = ac.initial
                                else:
                                    inc = ac.increment
                                    if ac.tailslow:
                                        cpu_now = 1.0 - ac_p
                                        inc = min(cpu_now - cpu_now * (thr_bytes / d_bytes), inc)
                                    ac_p = min(ac_p + inc, ac.max)
                                g = 1.0 - ac_p
                            else:
                                dl_on = True
                    ac_t_last, ac_dirty, ac_xfer = t, 0, 0.0
                if dl_on and writes > 0 and tau1 > tau0:
                    natural = writes / (tau1 - tau0)
                    if abs(natural * g - dl_cap) > dl_tol:
                        g = min(dl_cap / natural, 1.0)
            max_thr = max(max_thr, 1.0 - g)
    d = len(dirty_set)
    final_Bps = cost["frate"]
    announce = sw.announce_s
    out = dict(guest_slowdown_s=total_lost, max_cpu_throttle=max_thr, postcopy_s=0.0, postcopy_pages=0,
               postcopy_faults=0, postcopy_stall_s=0.0)
    if reason == POSTCOPY:
        if not policy.page_skip:
            pending = writer.next_write()
        downtime = 0.0 + sw.device_state_bytes / final_Bps + sw.resume_s + announce
        pc_dur, faults, stall, pushed, pc_writes = postcopy(dirty_set, tau, pending, writer, cost)
        pc_bytes = d * cost["pc_b"]
        rounds.append(dict(start_s=t + downtime, duration_s=pc_dur, pages_sent=d, pages_skipped=0,
                           pages_dirtied=0, bytes_sent=pc_bytes, writes=pc_writes, throttle=1.0,
                           cpu_throttle=0.0, guest_lost_s=stall, xbzrle_hits=0, rate_bps=final_Bps * 8.0,
                           stop_copy=False, postcopy=True))
        out.update(postcopy_s=pc_dur, postcopy_pages=d, postcopy_faults=faults, postcopy_stall_s=stall,
                   postcopy_pushed=pushed)
        fbytes, final_s, fpages = 0.0, 0.0, 0
        total_bytes += pc_bytes
        total_pages += d
    elif reason == ABORTED:      # the VM stays on the source: no stop-and-copy, no downtime
        fbytes, final_s, fpages, downtime = 0.0, 0.0, 0, 0.0
    else:
        fhits = 0
        if first:
            fbytes = (n - nzero) * cost["b_bulk"] + nzero * cost["b_zero"]
            final_s = (n - nzero) * cost["tf_bulk"] + nzero * cost["tf_zero"]
            n_bulk_full += n - nzero
        elif xb:
            fbytes = final_s = 0.0
            for p in sorted(dirty_set):
                b, tt, kind = xb.send(p, len(rounds) + 1, True, True)
                fbytes += b
                final_s += tt
                fhits += xb.count(b, kind)
                n_full += kind in ("miss", "overflow")
        else:
            fbytes = d * cost["b_full"]
            final_s = d * cost["tf_full"]
            n_full += d
        if uniform:
            final_s = fbytes / final_Bps
        if d > 0:
            rounds.append(dict(start_s=t, duration_s=final_s, pages_sent=d, pages_skipped=0, pages_dirtied=0,
                               bytes_sent=fbytes, writes=0, throttle=0.0, cpu_throttle=0.0, guest_lost_s=0.0,
                               xbzrle_hits=fhits, rate_bps=final_Bps * 8.0, stop_copy=True, postcopy=False))
        fpages = d
        total_bytes += fbytes
        total_pages += d
        downtime = final_s + sw.device_state_bytes / final_Bps + sw.resume_s + announce
    if xb:
        out.update(xbzrle_hits=xb.hits, xbzrle_misses=xb.misses, xbzrle_overflows=xb.overflows,
                   xbzrle_saved_bytes=xb.saved)
    out.update(n_bulk_full=n_bulk_full, n_full=n_full)
    device = 0 if reason == ABORTED else sw.device_state_bytes
    return dict(total_time_s=t + downtime + out["postcopy_s"], downtime_s=downtime, precopy_time_s=t,
                bytes_sent=total_bytes + device, pages_sent=total_pages,
                n_rounds=len(rounds), converged=is_converged(reason), outcome=outcome(reason),
                stop_reason=REASONS[reason], final_pages=fpages, final_transfer_s=final_s, rounds=rounds, **out)


def mirror(disk_vm, workload, t_block, lat_extra, io_depth, timeout_s, seed=0):
    """Pure-Python twin of ``mirror_kernel``.

    Returns (time, writes, mirrored, reason, copied, stall, latency sum, latency max).
    """
    from collections import deque
    c = workload.compile(disk_vm, seed=seed)
    n = disk_vm.n_pages
    writer = Writer(c, n, seed)
    p_tau, p_page = writer.next_write()
    a_t = a_tau = 0.0
    cur, c_done, srv, copied, t = 0, t_block, t_block, 0, 0.0
    writes = mirrored = 0
    stall = lat_sum = lat_max = 0.0
    inflight = deque()
    reason = 1
    while True:
        tw = a_t + (p_tau - a_tau) if p_tau < math.inf else math.inf
        if c_done <= tw:
            if c_done > timeout_s:
                reason, t = 7, timeout_s
                break
            copied, t = cur + 1, c_done
            if copied == n:
                break
            cur += 1
            c_done = srv + t_block
            srv = c_done
            continue
        if tw > timeout_s:
            reason, t = 7, timeout_s
            break
        if p_page <= cur:
            while inflight and inflight[0] <= tw:
                inflight.popleft()
            if io_depth and len(inflight) == io_depth:
                stall += inflight[0] - tw
                a_t, a_tau = inflight[0], p_tau
                continue
            srv = max(tw, srv) + t_block
            done = srv + lat_extra
            lat_sum += done - tw
            lat_max = max(lat_max, done - tw)
            if io_depth:
                inflight.append(done)
            mirrored += 1
        writes += 1
        p_tau, p_page = writer.next_write()
    return t, writes, mirrored, reason, copied, stall, lat_sum, lat_max


def saturation(vm, workload, link, policy, switchover=None, seed=0):
    """Plain twin of the analytic saturation model's round loop (page skip off).

    Page by page: a round of ``d`` pages lasts ``d x (page + header) / rate``;
    the writes it sees are counted as the kernel counts them
    (``floor(w x guest time)`` minus those already counted); the next round is
    the expected number of distinct pages those writes touch,
    ``sum_i 1 - (1 - p_i) ** writes`` (a Sequential writer: ``min(writes,
    region)``); the stop rules are the kernel's, Clark's adaptive rate included.
    Returns (rounds list, stop reason, pre-copy time, final bytes, total bytes).
    """
    from precopy import workloads as W
    from precopy.scenario import check_scenario

    policy, sw, (rate_bps, final_bps, decision_bps) = check_scenario(vm, workload, link, policy, switchover)
    assert not policy.page_skip
    n, P, H = vm.n_pages, float(vm.page_bytes), float(policy.header_bytes)
    nzero = vm.n_zero_pages
    w = float(workload.writes_per_s)
    probs = None if isinstance(workload, W.Sequential) else workload.page_probabilities(vm, seed)
    region = workload.region_bytes // vm.page_bytes if isinstance(workload, W.Sequential) else 0
    rate, decision = rate_bps / 8.0, decision_bps / 8.0
    ar = policy.adaptive_rate
    if ar is not None:
        rate = min(ar.min_bps / 8.0, rate)
    min_dirty = max(policy.min_dirty_pages, math.ceil(policy.min_dirty_bytes / vm.page_bytes))
    max_data = -1 if policy.max_data_factor is None else math.floor(policy.max_data_factor * n)
    limit = policy.downtime_limit_s
    ctl = Controls(policy, link.goodput_bps)
    sender = ctl.sender()
    follows = policy.switchover_bandwidth_bps is None
    t = counted = 0.0
    dirty, first, reason, rounds, total_bytes, total_pages = float(n), True, 0, [], 0.0, 0.0
    limit = ctl.limit(policy, 0.0)
    if policy.check_before_first_round and limit is not None and n * P < decision * limit:
        reason = 1
    while reason == 0:
        rbytes = (n - nzero) * (P + H) + nzero * H if first else dirty * (P + H)
        t1 = send_time(sender, t, rbytes / rate)
        dur = rbytes / rate / sender.f[0] if len(sender.f) == 1 else t1 - t
        t = t1
        writes = max(math.floor(w * t) - counted, 0.0)
        counted += writes
        if probs is None:
            new = min(writes, region)
        else:
            new = float(sum(1.0 - (1.0 - p) ** writes for p in probs if p > 0))
        rounds.append(dict(duration_s=dur, pages_sent=dirty, pages_dirtied=new, bytes_sent=rbytes, writes=writes))
        total_bytes += rbytes
        total_pages += dirty
        first, dirty = False, new
        nxt = dirty * P / dur + ar.increment_bps / 8.0 if ar is not None else 0.0
        limit = ctl.limit(policy, t)
        fired = ctl.fired(t, dirty)
        if dirty == 0:
            reason = 4
        elif limit is not None and dirty * P < decision * (ctl.rate_factor(t) if follows else 1.0) * limit:
            reason = 1
        elif min_dirty > 0 and dirty < min_dirty:
            reason = 2
        elif policy.min_round_pages > 0 and rounds[-1]["pages_sent"] < policy.min_round_pages:
            reason = 3
        elif ar is not None and nxt > ar.max_bps / 8.0:
            reason = MAX_RATE
        elif fired:
            reason = fired
        elif policy.max_rounds > 0 and len(rounds) + 1 >= policy.max_rounds:
            reason = 5
        elif max_data >= 0 and total_pages > max_data:
            reason = 6
        elif t >= policy.timeout_s:
            reason = 7
        if ar is not None and reason == 0:
            rate = min(max(nxt, ar.min_bps / 8.0), rate_bps / 8.0)
    if reason in (ABORTED, POSTCOPY):
        fbytes = 0.0
    else:
        fbytes = (n - nzero) * (P + H) + nzero * H if first else dirty * (P + H)
    return rounds, REASONS[reason], t, fbytes, total_bytes + fbytes
