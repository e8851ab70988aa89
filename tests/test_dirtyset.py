"""The set draws of precopy._dirtyset against the per-write twins of tests/naive_dirtyset.py.

The set path consumes the random stream differently from the per-write path,
so the comparisons are statistical: many fixed seeds, a two-sample KS test on
the number of distinct pages per call, and a per-page test of how often each
page is hit against its exact probability.  Each test is deterministic (fixed
seeds) and would fail with probability ``DIRTYSET_TEST_ALPHA`` if the laws
were equal and the seeds random.
"""

from __future__ import annotations

import math
from fractions import Fraction

import naive
import naive_dirtyset as N
import numpy as np
import pytest
from numba import njit
from scipy import stats

import precopy as pc
from precopy import _dirtyset as D
from precopy.config import (
    DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE,
    DIRTYSET_DENSE_WRITES_PER_PAGE,
    DIRTYSET_MIN_WRITES_PER_PAGE,
    DIRTYSET_TEST_ALPHA,
)

SEEDS = 1500
_NONE_P = np.zeros(1, np.uint64)
_NONE_I = np.zeros(1, np.int64)


def set_draw(kind, seed, n, a, b, thr, n_pages, ap=_NONE_P, ai=_NONE_I, m=0,
             dense=DIRTYSET_DENSE_WRITES_PER_PAGE):
    bm = np.zeros((n_pages + 63) // 64, np.uint64)
    rs = np.array([seed], np.uint64)
    D.dirty_set(kind, n, m, a, b, np.uint64(thr), 0, n_pages, ap, ai, rs, bm, D.occupancy_cdf(), dense)
    return N.bitmap_to_bool(bm, n_pages)


def _ks(x, y):
    return stats.ks_2samp(x, y, method="asymp").pvalue


def _marginals_ok(hits, q, seeds):
    """Per-page hit counts over ``seeds`` draws against probabilities ``q``:
    a two-sided binomial test per page, Bonferroni over pages."""
    q = np.asarray(q, float)
    lo = stats.binom.sf(hits - 1, seeds, q)      # P(X >= hits)
    hi = stats.binom.cdf(hits, seeds, q)         # P(X <= hits)
    p = np.minimum(1.0, 2 * np.minimum(lo, hi))
    return p.min() * len(q) > DIRTYSET_TEST_ALPHA, p.min() * len(q)


def test_splitmix_block_matches_plain_integers():
    z = N.splitmix64_block(12345, 50)
    s = 12345
    for k in range(50):
        s, out = naive.splitmix64(s)
        assert int(z[k]) == out


@njit
def _binomials(seed, n, p, k):
    s = np.uint64(seed)
    out = np.empty(k, np.int64)
    for i in range(k):
        s, out[i] = D.binomial(s, n, p)
    return out


@pytest.mark.parametrize("n,p", [(10, 0.3), (100, 0.05), (40, 0.6), (1000, 0.5), (1000, 0.97),
                                 (10**6, 0.01), (3 * 10**10, 64 / 2**28), (10**9, 0.3), (7, 1.0), (7, 0.0)])
def test_binomial_sampler_chi_square(n, p):
    x = _binomials(17, n, p, 40_000)
    assert x.min() >= 0 and x.max() <= n
    if p in (0.0, 1.0):
        assert np.all(x == n * p)
        return
    edges = np.unique(np.quantile(x, np.linspace(0, 1, 31)).astype(np.int64))
    edges = np.concatenate(([-1], edges[1:-1], [n]))
    expected = np.diff(stats.binom.cdf(edges, n, p)) * len(x)
    observed = np.array([np.sum((x > edges[i]) & (x <= edges[i + 1])) for i in range(len(edges) - 1)])
    assert expected.min() > 5
    chi = np.sum((observed - expected) ** 2 / expected)
    assert stats.chi2.sf(chi, len(expected) - 1) > DIRTYSET_TEST_ALPHA


def _occupancy_exact(c, d, w=64):
    """P(c uniform writes to w cells hit exactly d), inclusion-exclusion in exact fractions."""
    tot = sum((-1) ** j * math.comb(d, j) * Fraction(d - j, w) ** c for j in range(d + 1))
    return math.comb(w, d) * tot


def test_occupancy_table():
    cdf = D.occupancy_cdf()
    assert cdf.shape == (D.OCC_MAX_DRAWS + 1, 65)
    assert np.all(np.diff(cdf, axis=1) >= -1e-15)
    assert np.all(cdf[:, 64] == 1.0)
    for c in (0, 1, 2, 5, 20, 64, 100):
        for d in range(min(c, 64) + 1):
            pmf = cdf[c, d] - (cdf[c, d - 1] if d else 0.0)
            assert abs(pmf - float(_occupancy_exact(c, d))) < 1e-12
    # beyond the table a word is full: the last row leaves less than 2**-53 below 64
    assert cdf[-1, 63] < 2.0**-53


@pytest.mark.parametrize("n,a,b", [(300, 37, 1000), (1000, 37, 1000), (3000, 5, 1000), (10000, 64, 1024),
                                   (60, 3, 20), (5000, 1, 126)])
def test_uniform_set_matches_per_write(n, a, b):
    thr = 2**32                                           # every write in [a, a+b)
    ds, dp = [], []
    hits = np.zeros(a + b)
    for k in range(SEEDS):
        h = set_draw(D.KIND_HOTCOLD, 1000 + k, n, a, b, thr, a + b)
        assert not h[:a].any()
        hits += h
        ds.append(h.sum())
        dp.append(N.hotcold_pages(10**6 + k, n, a, b, thr, a + b).sum())
    assert _ks(ds, dp) > DIRTYSET_TEST_ALPHA
    q = 1.0 - (1.0 - 1.0 / b) ** n
    ok, p = _marginals_ok(hits[a:], np.full(b, q), SEEDS)
    assert ok, p
    assert abs(np.mean(ds) - D.expected_distinct(D.KIND_HOTCOLD, n, a, b, thr, a + b)) < 5 * np.std(ds) / np.sqrt(SEEDS) + 1e-9


@pytest.mark.parametrize("n", [500, 2000, 8000, 40000])
def test_hotcold_set_matches_per_write(n):
    n_pages, a, h, thr = 2000, 100, 200, int(0.9 * 2**32)
    ds, dp = [], []
    hits = np.zeros(n_pages)
    for k in range(SEEDS):
        x = set_draw(D.KIND_HOTCOLD, 1000 + k, n, a, h, thr, n_pages)
        hits += x
        ds.append(x.sum())
        dp.append(N.hotcold_pages(10**6 + k, n, a, h, thr, n_pages).sum())
    assert _ks(ds, dp) > DIRTYSET_TEST_ALPHA
    f = thr / 2**32
    p = np.full(n_pages, (1 - f) / n_pages)
    p[a:a + h] += f / h
    ok, pv = _marginals_ok(hits, 1.0 - (1.0 - p) ** n, SEEDS)
    assert ok, pv


def test_hotcold_set_is_reproducible_and_seed_dependent():
    args = (D.KIND_HOTCOLD, 5, 30000, 100, 300, int(0.8 * 2**32), 4000)
    assert np.array_equal(set_draw(*args), set_draw(*args))
    assert not np.array_equal(set_draw(*args), set_draw(D.KIND_HOTCOLD, 6, *args[2:]))


@pytest.mark.parametrize("s", [0.5, 1.0, 1.5])
@pytest.mark.parametrize("per_page", [DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE, 2 * DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE])
def test_alias_set_matches_per_write(s, per_page):
    vm = pc.VM(memory_bytes=pc.KiB(4) * 1024)
    c = pc.workloads.Zipf(s=s, writes_per_s=1.0, region_bytes=pc.KiB(4) * 1000,
                          offset_bytes=pc.KiB(4) * 24).compile(vm, seed=3)
    a, b, ap, ai = int(c.a[0]), int(c.b[0]), c.alias_prob, c.alias_idx
    n = int(per_page * b)
    ds, dp = [], []
    hits = np.zeros(vm.n_pages)
    for k in range(SEEDS):
        x = set_draw(D.KIND_ALIAS, 1000 + k, n, a, b, 0, vm.n_pages, ap, ai)
        hits += x
        ds.append(x.sum())
        dp.append(N.alias_pages(10**6 + k, n, a, b, ap, ai, vm.n_pages).sum())
    assert not hits[:a].any()
    assert _ks(ds, dp) > DIRTYSET_TEST_ALPHA
    if np.var(ds) + np.var(dp) > 0:                                  # spreads agree too
        assert stats.levene(ds, dp).pvalue > DIRTYSET_TEST_ALPHA
    p = np.zeros(vm.n_pages)
    p[a:a + b] = pc.workloads.alias_probabilities(ap, ai)
    ok, pv = _marginals_ok(hits[a:a + b], 1.0 - (1.0 - p[a:a + b]) ** n, SEEDS)
    assert ok, pv
    assert abs(np.mean(ds) - D.expected_distinct(D.KIND_ALIAS, n, a, b, 0, vm.n_pages, ap, ai)) \
        < 5 * np.std(ds) / np.sqrt(SEEDS) + 1e-3


def test_sparse_alias_is_the_per_write_law():
    """Below the dense threshold the alias set draw is the per-write draw itself."""
    vm = pc.VM(memory_bytes=pc.KiB(4) * 512)
    c = pc.workloads.Zipf(s=1.2, writes_per_s=1.0).compile(vm, seed=1)
    for seed in range(20):
        n = 100
        x = set_draw(D.KIND_ALIAS, seed, n, 0, 512, 0, 512, c.alias_prob, c.alias_idx)
        assert np.array_equal(x, N.alias_pages(seed, n, 0, 512, c.alias_prob, c.alias_idx, 512))


def test_sparse_uniform_is_the_per_write_law():
    for seed in range(20):
        x = set_draw(D.KIND_HOTCOLD, seed, 50, 10, 1000, 2**32, 1010)
        assert np.array_equal(x, N.uniform_pages(seed, 50, 10, 1000))


@pytest.mark.parametrize("m,n,a,b", [(0, 5, 3, 10), (7, 5, 3, 10), (9, 10, 3, 10), (4, 100, 0, 64),
                                     (123, 70, 61, 200), (0, 0, 0, 5), (5, 199, 1, 200), (63, 1, 60, 130)])
def test_sequential_set_is_the_per_write_sweep(m, n, a, b):
    n_pages = a + b + 7
    x = set_draw(D.KIND_SEQUENTIAL, 1, n, a, b, 0, n_pages, m=m)
    assert np.array_equal(x, N.sequential_pages(m, n, a, b, n_pages))


@pytest.mark.parametrize("lo,hi", [(0, 0), (0, 1), (3, 64), (0, 64), (63, 65), (5, 300), (64, 128), (1, 127)])
def test_set_range(lo, hi):
    bm = np.zeros(6, np.uint64)
    D.set_range(bm, lo, hi)
    x = N.bitmap_to_bool(bm, 384)
    assert x.sum() == max(hi - lo, 0) and x[lo:hi].all()


def test_switch_rule():
    hot = int(0.9 * 2**32)
    k, ka = DIRTYSET_MIN_WRITES_PER_PAGE, DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE
    assert D.set_path_pays(D.KIND_SEQUENTIAL, 1, 100, 0, 100, k, ka)
    assert not D.set_path_pays(D.KIND_HOTCOLD, 10, 1000, hot, 10**6, k, ka)
    assert D.set_path_pays(D.KIND_HOTCOLD, 2000, 1000, hot, 10**6, k, ka)          # hot part dense
    assert D.set_path_pays(D.KIND_HOTCOLD, 2 * 10**6, 0, 0, 10**6, k, ka)          # uniform, dense
    assert not D.set_path_pays(D.KIND_HOTCOLD, 10**5, 0, 0, 10**6, k, ka)
    assert D.set_path_pays(D.KIND_ALIAS, int(ka * 1000), 1000, 0, 10**6, k, ka)
    assert not D.set_path_pays(D.KIND_ALIAS, int(ka * 1000) - 1, 1000, 0, 10**6, k, ka)
    assert not D.set_path_pays(D.KIND_TRACE, 10**9, 10, 0, 10, k, ka)
    assert not D.set_path_pays(D.KIND_IDLE, 10**9, 10, 0, 10, k, ka)


def test_dense_threshold_changes_nothing_measurable():
    """The word path and the write-by-write path of a uniform range agree in law."""
    n, a, b = 800, 11, 1000
    d_words = [set_draw(D.KIND_HOTCOLD, k, n, a, b, 2**32, a + b, dense=0.0).sum() for k in range(SEEDS)]
    d_writes = [set_draw(D.KIND_HOTCOLD, 10**6 + k, n, a, b, 2**32, a + b, dense=1e9).sum() for k in range(SEEDS)]
    assert _ks(d_words, d_writes) > DIRTYSET_TEST_ALPHA
