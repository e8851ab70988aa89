"""Plain-Python twin of the constant-memory Zipf draw (precopy._zipf).

Python integers for the random stream and the Feistel network, ``math`` for the
rejection-inversion; the same splitmix64 numbers consumed in the same order, so
it agrees with the compiled draw page for page.
"""

from __future__ import annotations

import math
import struct

MASK = (1 << 64) - 1
GOLD = 0x9E3779B97F4A7C15


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _f64(word):
    return struct.unpack("<d", struct.pack("<Q", int(word)))[0]


def _h1(x):
    return math.log1p(x) / x if abs(x) > 1e-8 else 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))


def _h2(x):
    return math.expm1(x) / x if abs(x) > 1e-8 else 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))


def _hint(x, s):
    lx = math.log(x)
    return _h2((1.0 - s) * lx) * lx


def _hint_inv(y, s):
    t = max(y * (1.0 - s), -1.0)
    return math.exp(_h1(t) * y)


def rank(state, b, prm):
    """(new state, rank in 1..b) from parameter words ``prm``."""
    s, hx1, hn, sq = (_f64(prm[i]) for i in range(4))
    while True:
        state = (state + GOLD) & MASK
        u01 = (_mix(state) >> 11) * (1.0 / 9007199254740992.0)
        u = hn + u01 * (hx1 - hn)
        x = _hint_inv(u, s)
        k = min(max(int(x + 0.5), 1), b)
        if k - x <= sq or u >= _hint(k + 0.5, s) - math.exp(-s * math.log(k)):
            return state, k


def permute(x, b, prm):
    """The keyed bijection of [0, b)."""
    half = int(prm[4]) >> 1
    hmask = (1 << half) - 1
    v = x
    while True:
        left, right = v >> half, v & hmask
        for r in range(4):
            left, right = right, left ^ (_mix(right ^ int(prm[5 + r])) & hmask)
        v = (left << half) | right
        if v < b:
            return v


def page(state, a, b, prm):
    """(new state, page of [a, a+b))."""
    state, k = rank(state, b, prm)
    return state, a + permute(k - 1, b, prm)
