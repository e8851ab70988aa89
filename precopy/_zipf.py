"""Private compiled Zipf page draws in constant memory, for regions too large for an alias table.

An alias table costs two numbers per page of the Zipf region (two 4-byte numbers
even at their narrowest: 2 GiB for a 1 TiB guest of 4 KiB pages).  For large
regions the workload instead draws

* the popularity **rank** ``k`` in ``1..b`` with probability ``k**-s / H_{b,s}``
  by Hörmann and Derflinger's rejection-inversion (exact up to floating point,
  a few logarithms per draw, no table), and
* the **page** ``a + perm(k - 1)``, where ``perm`` is a bijection of
  ``[0, b)`` keyed by the seed: a four-round Feistel network on the smallest
  even number of bits covering ``b``, with cycle walking (values ``>= b`` are
  permuted again until they fall inside; fewer than 4 steps on average).  It
  plays the role of the seeded ``rng.permutation`` of the table-based Zipf.

All parameters of one such phase fit in :data:`N_PARAMS` 64-bit words, which the
compiled workload keeps in its shared tables (:func:`params`).

References
----------
W. Hörmann, G. Derflinger, "Rejection-inversion to generate variates from
monotone discrete distributions", ACM TOMACS 6(3) (1996) 169-184,
doi:10.1145/235025.235029.
M. Luby, C. Rackoff, "How to construct pseudorandom permutations from
pseudorandom functions", SIAM J. Comput. 17(2) (1988) 373-386,
doi:10.1137/0217022 (Feistel networks); J. Black, P. Rogaway, "Ciphers with
arbitrary finite domains", CT-RSA 2002, doi:10.1007/3-540-45760-7_9 (cycle
walking).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .config import NJIT

_NJIT_INLINE = {k: v for k, v in NJIT.items() if k != "cache"}
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_U11, _U27, _U30, _U31 = (np.uint64(k) for k in (11, 27, 30, 31))
_INV53 = 1.0 / 9007199254740992.0

# layout of a phase's parameter words (float64 values stored by their bits)
P_S, P_HX1, P_HN, P_SQ, P_BITS, P_K0, P_K1, P_K2, P_K3 = range(9)
N_PARAMS = 9
#: Feistel rounds
_ROUNDS = 4


@njit(inline="always", **_NJIT_INLINE)
def _mix(z):
    z = (z ^ (z >> _U30)) * _M1
    z = (z ^ (z >> _U27)) * _M2
    return z ^ (z >> _U31)


@njit(**NJIT)
def _helper1(x):
    """log1p(x) / x, continuous at 0."""
    if abs(x) > 1e-8:
        return math.log1p(x) / x
    return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))


@njit(**NJIT)
def _helper2(x):
    """expm1(x) / x, continuous at 0."""
    if abs(x) > 1e-8:
        return math.expm1(x) / x
    return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))


@njit(**NJIT)
def _h(x, s):
    """x**-s."""
    return math.exp(-s * math.log(x))


@njit(**NJIT)
def _hint(x, s):
    """H(x) = integral of t**-s: (x**(1-s) - 1) / (1-s), log x at s = 1."""
    lx = math.log(x)
    return _helper2((1.0 - s) * lx) * lx


@njit(**NJIT)
def _hint_inv(y, s):
    """Inverse of :func:`_hint`."""
    t = y * (1.0 - s)
    if t < -1.0:          # rounding at the lower end
        t = -1.0
    return math.exp(_helper1(t) * y)


def params(b, s, seed):
    """The parameter words of a large-region Zipf phase over ``b`` ranks (uint64 array).

    Examples
    --------
    >>> params(1000, 1.0, 0).shape
    (9,)
    """
    b = int(b)
    s = float(s)
    out = np.zeros(N_PARAMS, np.uint64)
    f = np.zeros(4, np.float64)
    f[0] = s
    f[1] = float(_hint(1.5, s) - 1.0)
    f[2] = float(_hint(b + 0.5, s))
    f[3] = 2.0 - float(_hint_inv(_hint(2.5, s) - _h(2.0, s), s))
    out[:4] = f.view(np.uint64)
    bits = max(2, (b - 1).bit_length())
    bits += bits & 1
    out[P_BITS] = bits
    z = np.uint64(seed) ^ np.uint64(0xD1B54A32D192ED03)
    for r in range(_ROUNDS):
        with np.errstate(over="ignore"):
            z = np.uint64(z + _GOLD)
        out[P_K0 + r] = _mix(z)
    return out


@njit(**NJIT)
def permute(x, b, prm, off):
    """The keyed bijection of ``[0, b)`` (Feistel network with cycle walking)."""
    bits = np.int64(prm[off + P_BITS])
    half = bits >> 1
    hmask = np.uint64((1 << half) - 1)
    uh = np.uint64(half)
    v = np.uint64(x)
    while True:
        left = v >> uh
        right = v & hmask
        for r in range(_ROUNDS):
            f = _mix(right ^ prm[off + P_K0 + r]) & hmask
            left, right = right, left ^ f
        v = (left << uh) | right
        if v < np.uint64(b):
            return np.int64(v)


@njit(**NJIT)
def rank(s_state, b, prm, off):
    """One Zipf rank in ``1..b`` (rejection-inversion); returns (state, rank)."""
    s = prm[off + P_S:off + P_S + 1].view(np.float64)[0]
    hx1 = prm[off + P_HX1:off + P_HX1 + 1].view(np.float64)[0]
    hn = prm[off + P_HN:off + P_HN + 1].view(np.float64)[0]
    sq = prm[off + P_SQ:off + P_SQ + 1].view(np.float64)[0]
    st = s_state
    while True:
        st = st + _GOLD
        u01 = np.float64(_mix(st) >> _U11) * _INV53
        u = hn + u01 * (hx1 - hn)
        x = _hint_inv(u, s)
        k = np.int64(x + 0.5)
        if k < 1:
            k = 1
        elif k > b:
            k = b
        if k - x <= sq or u >= _hint(k + 0.5, s) - _h(np.float64(k), s):
            return st, k


@njit(**NJIT)
def page(s_state, a, b, prm, off):
    """One Zipf page of the region ``[a, a+b)``; returns (state, page)."""
    st, k = rank(s_state, b, prm, off)
    return st, a + permute(k - 1, b, prm, off)


def rank_probabilities(b, s):
    """Exact probabilities of ranks ``1..b`` (float64), for tests and the analytic models."""
    w = np.arange(1, b + 1, dtype=np.float64) ** (-float(s))
    return w / w.sum()


@njit(**NJIT)
def _alias_build(q, thr, alias, small, large):
    k = q.shape[0]
    ns = 0
    nl = 0
    for i in range(k):
        if q[i] < 1.0:
            small[ns] = i
            ns += 1
    for i in range(k):
        if q[i] >= 1.0:
            large[nl] = i
            nl += 1
    for i in range(k):
        alias[i] = i
        thr[i] = np.uint64(4294967296)
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        nl -= 1
        lg = large[nl]
        v = np.round(q[s] * 4294967296.0)
        thr[s] = np.uint64(v) if v < 4294967296.0 else np.uint64(4294967296)
        alias[s] = lg
        q[lg] = q[lg] + q[s] - 1.0
        if q[lg] < 1.0:
            small[ns] = lg
            ns += 1
        else:
            large[nl] = lg
            nl += 1


def alias_table(p):
    """Walker/Vose alias table of ``p`` in compiled code: the same tables, entry
    for entry, as the list-based construction in :func:`precopy.workloads.alias_table`
    (same stack order), in 28 bytes per entry of working memory.

    Returns ``(threshold, alias)``: uint64 thresholds out of 2**32 and int64 aliases.
    """
    p = np.asarray(p, np.float64)
    k = len(p)
    q = p * (k / p.sum())
    thr = np.empty(k, np.uint64)
    alias = np.empty(k, np.int64)
    small = np.empty(k, np.int32 if k < 2**31 else np.int64)
    large = np.empty(k, small.dtype)
    _alias_build(q, thr, alias, small, large)
    return thr, alias


@njit(**NJIT)
def _scatter(out, a, b, w, prm):
    for r in range(b):
        out[a + permute(r, b, prm, 0)] = w[r]


def page_probabilities(a, b, s, prm, n_pages):
    """Per-page write probabilities (float64, length ``n_pages``) of a large-region
    Zipf phase: rank probabilities placed by the keyed permutation."""
    out = np.zeros(n_pages)
    _scatter(out, int(a), int(b), rank_probabilities(b, s), np.asarray(prm, np.uint64))
    return out
