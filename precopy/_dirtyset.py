"""Private compiled draws of the *set* of pages that ``n`` writes dirty.

The per-write path (:func:`precopy._kernel._apply_until`) draws one page per
write: its cost grows with the write rate.  When a round's writes far outnumber
the pages they can reach, only the set of pages they hit matters to a skip-off
round (the sender reads a bitmap, not a write order), and that set can be drawn
directly from its distribution in time proportional to the pages, not the
writes.  This module does that for each page-choice law of
:mod:`precopy.workloads`; the random stream is the project's splitmix64 state
(``rs[0]``), so results are reproducible from a seed.  The set path consumes the
stream differently from the per-write path: the two agree in distribution, not
draw for draw (the statistical tests in ``tests/test_dirtyset.py`` check it).

Laws and methods
----------------
Uniform over ``[a, a+b)`` (exact)
    The ``n`` writes are split over the 64-page words of the range by
    conditional binomials (``c_w ~ Bin(n_left, cells_w / cells_left)``: the
    multinomial, exactly).  Given ``c`` writes in a full word, the number of
    distinct pages hit is drawn from the occupancy law of 64 cells (a table
    built once by the recursion ``P_{c+1}(d) = P_c(d) d/64 + P_c(d-1)
    (65-d)/64``), and the pages themselves are a uniform subset of that size
    (by symmetry).  Beyond ``OCC_MAX_DRAWS`` writes a word is full with
    probability above ``1 - 2**-53``.  Partial words at the range ends use the
    coupon collector: the wait for the next new page among ``w`` with ``k``
    seen is geometric with success ``(w-k)/w``, and the new page is uniform
    among the unseen.  When the range is sparse (fewer than
    ``DIRTYSET_DENSE_WRITES_PER_PAGE`` writes per page) the writes are drawn
    one by one instead (the per-write law, exact).
Hot/cold mix (exact)
    Each write is hot with probability ``thr / 2**32`` independently of its
    page, so ``n_hot ~ Bin(n, thr / 2**32)`` and the two parts are independent
    uniform draws over the hot range and over all memory.
Zipf through an alias table (Poissonised)
    A write picks bucket ``i`` uniformly and keeps page ``a+i`` with
    probability ``t_i = prob_i / 2**32``, else goes to ``a + alias_i``.  With
    the number of writes Poisson with mean ``n`` instead of exactly ``n``,
    bucket ``i`` sends independent Poisson(``n t_i / b``) writes to its own
    page and Poisson(``n (1-t_i) / b``) to its alias, so each bucket needs two
    coins.  The difference from exactly ``n`` writes is the variance of the
    total (``n`` instead of 0): it changes the variance of the number of
    distinct pages by about ``(sum_i n p_i e^{-n p_i})**2 / n`` (``p_i`` the
    page probabilities) and leaves its mean unchanged to first order.  From
    ``DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE`` = 16 writes per page (the kernel's
    switch rule) that is at most about 2.5 % of the variance (Zipf exponent 1,
    the worst; under 1 % for exponents below 0.5 or above 1.5), below what the
    statistical tests see.  Sparse draws use the per-write law (exact).
Sequential sweep (exact, deterministic)
    Writes ``m, m+1, ..., m+n-1`` of a sweep over ``[a, a+b)`` hit a range of
    at most ``b`` pages (wrapping once): a range set, identical to the per-write
    path.

One approximation is shared with nothing else: the per-write draw maps 32
random bits to a page of a ``b``-page range by multiply-shift, which gives each
page ``floor`` or ``ceil`` of ``2**32 / b`` of the 2**32 values; the word split
above treats pages as equally likely.  The relative difference in one page's
probability is at most ``b / 2**32`` (``2**-4`` for a 1 TiB guest of 4 KiB pages
that is not a power of two in pages; zero when ``b`` divides ``2**32``).

The switch rule (:func:`set_path_pays`): use the set path for a rate phase when
no per-write order or count is needed (no page skip, no XBZRLE write counts, not
during post-copy) and the writes of the interval reach
``DIRTYSET_MIN_WRITES_PER_PAGE`` per page of the law's support (for a hot/cold
mix: per page of the hot set for the hot share, or per page of memory for the
cold share; ``DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE`` for Zipf).  Sequential sweeps
always take it (it is exact and consumes no random numbers).

References
----------
W. Hörmann, "The generation of binomial random variates", J. Statist. Comput.
Simul. 46 (1993) 101-110, doi:10.1080/00949659308811496 (the BTRD binomial
sampler used for means of 10 and more).
N. L. Johnson and S. Kotz, *Urn Models and Their Application* (Wiley, 1977),
ch. 3 (occupancy distributions).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from .config import NJIT

KIND_IDLE, KIND_HOTCOLD, KIND_ALIAS, KIND_SEQUENTIAL, KIND_TRACE = 0, 1, 2, 3, 4

_NJIT_INLINE = {k: v for k, v in NJIT.items() if k != "cache"}
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LO32 = np.uint64(0xFFFFFFFF)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_U1, _U6, _U11, _U27, _U30, _U31, _U32, _U63 = (np.uint64(k) for k in (1, 6, 11, 27, 30, 31, 32, 63))
_TWO32 = 4294967296.0
_INV53 = 1.0 / 9007199254740992.0
#: above this many expected writes on a page it is hit with probability > 1 - 2**-32
_SURE_X = 22.2
#: Stirling-series corrections fc(k) = ln k! - ((k+1/2) ln(k+1) - (k+1) + ln(2 pi)/2), k = 0..9
_FC = np.array([0.08106146679532726, 0.04134069595540929, 0.02767792568499834, 0.02079067210376509,
                0.01664469118982119, 0.01387612882307075, 0.01189670994589177, 0.01041126526197209,
                0.009255462182712733, 0.008330563433362871])

#: Largest write count of one 64-page word that the occupancy table holds; with
#: more, every page of the word is hit with probability above 1 - 2**-53.
OCC_MAX_DRAWS = 2624


@functools.lru_cache(maxsize=1)
def occupancy_cdf() -> np.ndarray:
    """``cdf[c, d]``: probability that ``c`` uniform writes to 64 pages hit at most ``d``.

    Shape ``(OCC_MAX_DRAWS + 1, 65)``, float64; row ``c`` reaches exactly 1 at
    ``d = min(c, 64)``.  Built by the exact recursion on ``c``.

    Examples
    --------
    >>> cdf = occupancy_cdf()
    >>> float(cdf[1, 0]), float(cdf[1, 1])
    (0.0, 1.0)
    """
    pmf = np.zeros((OCC_MAX_DRAWS + 1, 65))
    pmf[0, 0] = 1.0
    d = np.arange(65, dtype=np.float64)
    for c in range(OCC_MAX_DRAWS):
        row = pmf[c] * (d / 64.0)
        row[1:] += pmf[c, :-1] * ((64.0 - d[:-1]) / 64.0)
        pmf[c + 1] = row
    cdf = np.cumsum(pmf, axis=1)
    for c in range(OCC_MAX_DRAWS + 1):
        cdf[c, min(c, 64):] = 1.0
    return cdf


# --- the random stream ------------------------------------------------------
@njit(inline="always", **_NJIT_INLINE)
def _next(s):
    """Advance splitmix64 state ``s``; returns (state, 64-bit output)."""
    s = s + _GOLD
    z = s
    z = (z ^ (z >> _U30)) * _M1
    z = (z ^ (z >> _U27)) * _M2
    return s, z ^ (z >> _U31)


@njit(inline="always", **_NJIT_INLINE)
def _unif(s):
    """A uniform double in [0, 1) (53 bits); returns (state, u)."""
    s, z = _next(s)
    return s, np.float64(z >> _U11) * _INV53


@njit(inline="always", **_NJIT_INLINE)
def _setbit(bm, p):
    bm[p >> _U6] |= _U1 << (p & _U63)


@njit(**NJIT)
def _fc(k):
    """Stirling-series correction of ln k! (Hörmann 1993, BTRD)."""
    if k < 10:
        return _FC[k]
    r = 1.0 / (k + 1.0)
    r2 = r * r
    return (1.0 / 12.0 - (1.0 / 360.0 - r2 / 1260.0) * r2) * r


@njit(**NJIT)
def binomial(s, n, p):
    """One Binomial(``n``, ``p``) variate from splitmix64 state ``s``: returns (state, k).

    Inversion when ``n min(p, 1-p) < 10``, else Hörmann's BTRD (transformed
    rejection with decomposition); both exact up to floating point.
    """
    if n <= 0 or p <= 0.0:
        return s, np.int64(0)
    if p >= 1.0:
        return s, np.int64(n)
    flip = p > 0.5
    if flip:
        p = 1.0 - p
    nf = np.float64(n)
    k = np.int64(0)
    if nf * p < 10.0:
        q = 1.0 - p
        sr = p / q
        aa = (nf + 1.0) * sr
        r0 = math.exp(nf * math.log1p(-p))
        while True:
            s, u = _unif(s)
            r = r0
            k = np.int64(0)
            ok = True
            while u > r:
                u -= r
                k += 1
                if k > n or r <= 0.0:   # rounding left u in the tail: draw again
                    ok = False
                    break
                r *= aa / k - sr
            if ok:
                break
    else:
        m = np.floor((nf + 1.0) * p)
        r = p / (1.0 - p)
        nr = (nf + 1.0) * r
        npq = nf * p * (1.0 - p)
        snpq = math.sqrt(npq)
        b = 1.15 + 2.53 * snpq
        a = -0.0873 + 0.0248 * b + 0.01 * p
        c = nf * p + 0.5
        alpha = (2.83 + 5.1 / b) * snpq
        vr = 0.92 - 4.2 / b
        urvr = 0.86 * vr
        mi = np.int64(m)
        while True:
            s, v = _unif(s)
            if v <= urvr:
                u = v / vr - 0.43
                k = np.int64(np.floor((2.0 * a / (0.5 - abs(u)) + b) * u + c))
                break
            if v >= vr:
                s, u = _unif(s)
                u = u - 0.5
            else:
                u = v / vr - 0.93
                u = (0.5 if u > 0.0 else -0.5) - u
                s, v = _unif(s)
                v = v * vr
            us = 0.5 - abs(u)
            kf = np.floor((2.0 * a / us + b) * u + c)
            if kf < 0.0 or kf > nf:
                continue
            k = np.int64(kf)
            v = v * alpha / (a / (us * us) + b)
            km = abs(k - mi)
            if km <= 15:
                f = 1.0
                if mi < k:
                    i = mi
                    while i < k:
                        i += 1
                        f *= nr / i - r
                elif mi > k:
                    i = k
                    while i < mi:
                        i += 1
                        v *= nr / i - r
                if v <= f:
                    break
                continue
            if v <= 0.0:
                break
            v = math.log(v)
            kmf = np.float64(km)
            rho = (kmf / npq) * (((kmf / 3.0 + 0.625) * kmf + 1.0 / 6.0) / npq + 0.5)
            t = -kmf * kmf / (2.0 * npq)
            if v < t - rho:
                break
            if v > t + rho:
                continue
            nm = nf - m + 1.0
            h = (m + 0.5) * math.log((m + 1.0) / (r * nm)) + _fc(mi) + _fc(n - mi)
            nk = nf - kf + 1.0
            if v <= h + (nf + 1.0) * math.log(nm / nk) + (kf + 0.5) * math.log(nk * r / (kf + 1.0)) \
                    - _fc(k) - _fc(n - k):
                break
    if flip:
        k = n - k
    return s, k


# --- one 64-page word ---------------------------------------------------------
@njit(**NJIT)
def _subset64(s, d):
    """A uniformly random 64-bit mask with ``d`` bits set; returns (state, mask)."""
    if d >= 64:
        return s, _ALL
    if d <= 0:
        return s, np.uint64(0)
    z = np.uint64(0)
    left = 0
    if d >= 32:
        mask = _ALL
        need = 64 - d
        while need > 0:
            if left == 0:
                s, z = _next(s)
                left = 10
            bit = _U1 << (z & _U63)
            z = z >> _U6
            left -= 1
            if mask & bit:
                mask ^= bit
                need -= 1
    else:
        mask = np.uint64(0)
        need = d
        while need > 0:
            if left == 0:
                s, z = _next(s)
                left = 10
            bit = _U1 << (z & _U63)
            z = z >> _U6
            left -= 1
            if not (mask & bit):
                mask |= bit
                need -= 1
    return s, mask


@njit(**NJIT)
def _word64(s, c, occ):
    """Pages hit by ``c`` uniform writes to one full 64-page word: (state, mask)."""
    if c > occ.shape[0] - 1:
        return s, _ALL
    s, u = _unif(s)
    lo = 0
    hi = min(64, c)          # cdf[c, hi] == 1
    while lo < hi:                    # smallest d with cdf[c, d] > u
        mid = (lo + hi) >> 1
        if occ[c, mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return _subset64(s, lo)


@njit(**NJIT)
def _partial_word(s, c, w):
    """Pages hit by ``c`` uniform writes to ``w`` < 64 cells (coupon collector):
    (state, mask of the low ``w`` bits)."""
    mask = np.uint64(0)
    k = 0
    used = np.int64(0)
    while k < w:
        if k > 0:
            s, u = _unif(s)
            u = 1.0 - u                              # (0, 1]
            extra = np.floor(math.log(u) / math.log(k / w))
            if used + 1.0 + extra > c:
                break
            used += 1 + np.int64(extra)
        else:
            used = 1
            if c < 1:
                break
        s, z = _next(s)
        r = np.int64(((z >> _U32) * np.uint64(w - k)) >> _U32)
        j = 0
        for i in range(w):
            bit = _U1 << np.uint64(i)
            if not (mask & bit):
                if j == r:
                    mask |= bit
                    break
                j += 1
        k += 1
    return s, mask


# --- whole laws ----------------------------------------------------------------
@njit(**NJIT)
def uniform_set(s, n, a, b, bm, occ, dense):
    """Set the pages hit by ``n`` writes uniform over ``[a, a+b)``; returns the state.

    Sparse (``n < dense * b``, ``dense`` normally
    ``config.DIRTYSET_DENSE_WRITES_PER_PAGE``): one draw per write, the per-write
    law.  Dense: the exact word split (module notes).
    """
    if n <= 0 or b <= 0:
        return s
    if n < dense * b:
        ua = np.uint64(a)
        ub = np.uint64(b)
        for _ in range(n):
            s, z = _next(s)
            _setbit(bm, ua + (((z >> _U32) * ub) >> _U32))
        return s
    lo = a
    hi = a + b
    n_left = np.int64(n)
    b_left = np.int64(b)
    w = lo >> 6
    while n_left > 0:
        wlo = w * 64
        c_lo = max(wlo, lo)
        c_hi = min(wlo + 64, hi)
        cells = c_hi - c_lo
        if cells == b_left:
            c = n_left
        else:
            s, c = binomial(s, n_left, cells / b_left)
        if c > 0:
            if cells == 64:
                s, mask = _word64(s, c, occ)
            else:
                s, mask = _partial_word(s, c, cells)
                mask = mask << np.uint64(c_lo - wlo)
            bm[w] |= mask
        n_left -= c
        b_left -= cells
        w += 1
    return s


@njit(**NJIT)
def hotcold_set(s, n, a, h, thr, n_pages, bm, occ, dense):
    """Pages hit by ``n`` writes of the hot/cold law: hot (``[a, a+h)``) with
    probability ``thr / 2**32``, else uniform over all ``n_pages``."""
    if thr >= np.uint64(4294967296):
        nh = np.int64(n)
    elif thr == np.uint64(0):
        nh = np.int64(0)
    else:
        s, nh = binomial(s, n, np.float64(thr) / _TWO32)
    if nh > 0 and h > 0:
        s = uniform_set(s, nh, a, h, bm, occ, dense)
    elif nh > 0:                          # an empty hot set: the per-write draw lands on page a
        _setbit(bm, np.uint64(a))
    return uniform_set(s, n - nh, 0, n_pages, bm, occ, dense)


@njit(**NJIT)
def alias_set(s, n, a, b, alias_prob, alias_idx, off, bm, dense):
    """Pages hit by ``n`` writes through an alias table over ``b`` buckets at
    page offset ``a`` (Poissonised when dense; module notes)."""
    if n <= 0:
        return s
    ub = np.uint64(b)
    if n < dense * b:
        for _ in range(n):
            s, z = _next(s)
            i = np.int64(((z >> _U32) * ub) >> _U32)
            if (z & _LO32) < alias_prob[off + i]:
                _setbit(bm, np.uint64(a + i))
            else:
                _setbit(bm, np.uint64(a + alias_idx[off + i]))
        return s
    lam = np.float64(n) / b
    full = np.uint64(4294967296)
    for i in range(b):
        t = alias_prob[off + i]
        x1 = lam * (np.float64(t) / _TWO32)
        x2 = lam - x1 if t < full else 0.0
        need1 = x1 > 0.0 and x1 < _SURE_X
        need2 = x2 > 0.0 and x2 < _SURE_X
        z = np.uint64(0)
        if need1 or need2:
            s, z = _next(s)
        if x1 >= _SURE_X or (need1 and np.float64(z & _LO32) >= math.exp(-x1) * _TWO32):
            _setbit(bm, np.uint64(a + i))
        if x2 >= _SURE_X or (need2 and np.float64(z >> _U32) >= math.exp(-x2) * _TWO32):
            _setbit(bm, np.uint64(a + alias_idx[off + i]))
    return s


@njit(**NJIT)
def set_range(bm, lo, hi):
    """Set bits ``lo .. hi-1`` of bitmap ``bm``."""
    if hi <= lo:
        return
    w0 = lo >> 6
    w1 = (hi - 1) >> 6
    m0 = _ALL << np.uint64(lo & 63)
    m1 = _ALL >> np.uint64(63 - ((hi - 1) & 63))
    if w0 == w1:
        bm[w0] |= m0 & m1
        return
    bm[w0] |= m0
    for w in range(w0 + 1, w1):
        bm[w] = _ALL
    bm[w1] |= m1


@njit(**NJIT)
def sequential_set(m, n, a, b, bm):
    """Pages hit by writes ``m .. m+n-1`` of a sweep over ``[a, a+b)``."""
    if n <= 0:
        return
    if n >= b:
        set_range(bm, a, a + b)
        return
    pos = m % b
    end = pos + n
    if end <= b:
        set_range(bm, a + pos, a + end)
    else:
        set_range(bm, a + pos, a + b)
        set_range(bm, a, a + end - b)


@njit(**NJIT)
def draw_set(s, kind, n, m, a, b, thr, off, n_pages, alias_prob, alias_idx, bm, occ, dense):
    """Set in ``bm`` the pages dirtied by writes ``m+1 .. m+n`` of one rate phase;
    returns the advanced splitmix64 state.

    ``kind``, ``a``, ``b``, ``thr``, ``off`` are the phase's row of the compiled
    workload (:mod:`precopy.workloads`), ``s`` the splitmix64 state, ``occ``
    :func:`occupancy_cdf`, ``dense`` the writes per page below which a range is
    drawn write by write (``config.DIRTYSET_DENSE_WRITES_PER_PAGE``).  Idle and
    trace phases are not rate phases: nothing is done for them.
    """
    if kind == KIND_HOTCOLD:
        s = hotcold_set(s, n, a, b, thr, n_pages, bm, occ, dense)
    elif kind == KIND_ALIAS:
        s = alias_set(s, n, a, b, alias_prob, alias_idx, off, bm, dense)
    elif kind == KIND_SEQUENTIAL:
        sequential_set(m, n, a, b, bm)
    return s


@njit(**NJIT)
def dirty_set(kind, n, m, a, b, thr, off, n_pages, alias_prob, alias_idx, rs, bm, occ, dense):
    """:func:`draw_set` with the state in ``rs[0]`` (advanced in place)."""
    rs[0] = draw_set(rs[0], kind, n, m, a, b, thr, off, n_pages, alias_prob, alias_idx, bm, occ, dense)


@njit(**NJIT)
def set_path_pays(kind, n, b, thr, n_pages, k_min, k_alias):
    """The switch rule: True when ``n`` writes of this rate phase should take the
    set path (the caller has already excluded page skip, XBZRLE and post-copy).

    Sequential: always.  Hot/cold: when the expected hot writes reach ``k_min``
    per hot page, or the cold ones ``k_min`` per page of memory.  Zipf: ``k_alias``
    per page of its region.  The kernel passes
    ``config.DIRTYSET_MIN_WRITES_PER_PAGE`` and
    ``config.DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE``.
    """
    if kind == KIND_SEQUENTIAL:
        return True
    nf = np.float64(n)
    if kind == KIND_HOTCOLD:
        f = np.float64(thr) / _TWO32
        f = min(f, 1.0)
        if b > 0 and nf * f >= k_min * b:
            return True
        return nf * (1.0 - f) >= k_min * n_pages
    if kind == KIND_ALIAS:
        return nf >= k_alias * b
    return False


def expected_distinct(kind, n, a, b, thr, n_pages, alias_prob=None, alias_idx=None, off=0):
    """Expected number of distinct pages that ``n`` writes of one rate phase dirty.

    Exact for the per-write law of each kind (hot/cold and uniform with ideal
    uniform draws within a range).  Lets a caller estimate the set path's work
    (proportional to these pages, or to the law's support for a dense draw)
    against the per-write path's ``n``.

    Examples
    --------
    >>> round(expected_distinct(KIND_HOTCOLD, 1000, 0, 0, 0, 1000), 2)   # 1000 (1 - (1 - 1/1000)^1000)
    632.3
    """
    n = float(n)
    if n <= 0:
        return 0.0
    if kind == KIND_SEQUENTIAL:
        return float(min(n, b))
    if kind == KIND_HOTCOLD:
        f = min(int(thr), 2**32) / 2**32
        cold = (1.0 - f) / n_pages
        out = (n_pages - b) * -math.expm1(n * math.log1p(-cold)) if cold > 0 else 0.0
        if b > 0:
            out += b * -math.expm1(n * math.log1p(-(f / b + cold)))
        return float(out)
    if kind == KIND_ALIAS:
        keep = np.asarray(alias_prob[off:off + b], np.float64) / 2**32
        p = keep / b
        np.add.at(p, np.asarray(alias_idx[off:off + b]), (1.0 - keep) / b)
        return float(np.sum(-np.expm1(n * np.log1p(-np.minimum(p, 1.0 - 1e-300)))))
    return 0.0
