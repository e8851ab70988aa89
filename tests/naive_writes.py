"""Plain twins of the write stream and the clocks: the splitmix64 stream, the
phased write process (with the write clock carried across phases), Xen's scan
order and piecewise-linear clocks (throttle, rate schedule)."""

from __future__ import annotations

import math

import naive_zipf

MASK = (1 << 64) - 1
MAX_IDLE_LAPS = 1 << 20
GOLD = 0x9E3779B97F4A7C15
KIND_IDLE, KIND_HOTCOLD, KIND_ALIAS, KIND_SEQUENTIAL, KIND_TRACE, KIND_ZIPF = 0, 1, 2, 3, 4, 5


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
