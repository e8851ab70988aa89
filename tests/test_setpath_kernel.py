"""The kernel's set path against its per-write path: same migrations in distribution.

With page skip off, a round only needs the set of pages its writes dirty; when
writes far outnumber pages the kernel draws that set directly
(``precopy._dirtyset``).  These tests run the same scenarios over many seeds
with the set path on (the default switch rule, and other thresholds) and off
(``DIRTYSET_MIN_WRITES_PER_PAGE = inf``), and compare the distributions of the
pages dirtied in each round, the total time and the number of rounds (two-sample
KS, level ``DIRTYSET_TEST_ALPHA``; fixed seeds, so deterministic).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import precopy as pc
from precopy import config
from precopy.config import DIRTYSET_TEST_ALPHA

SEEDS = 160


def _scenario(kind):
    vm = pc.VM(memory_bytes=pc.MiB(16))                   # 4096 pages
    if kind == "hotcold":
        wl = pc.workloads.HotCold(wws_bytes=pc.MiB(1), hot_fraction=0.9, writes_per_s=4e5)
    elif kind == "uniform":
        wl = pc.workloads.Uniform(writes_per_s=1.5e5)
    elif kind == "zipf":
        wl = pc.workloads.Zipf(s=1.0, writes_per_s=1e6)
    else:
        wl = pc.workloads.Phased([(pc.workloads.HotCold(wws_bytes=pc.MiB(1), hot_fraction=0.9,
                                                        writes_per_s=4e5), 0.05),
                                  (pc.workloads.Sequential(region_bytes=pc.MiB(4), writes_per_s=2e5), 0.05)])
    link = pc.Link(rate_bps=pc.Gbps(1), mtu=None)
    return vm, wl, link


def _runs(kind, policy, monkeypatch, k_min, first_seed):
    monkeypatch.setattr(config, "DIRTYSET_MIN_WRITES_PER_PAGE", k_min)
    monkeypatch.setattr(config, "DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE", 16.0 * k_min)
    vm, wl, link = _scenario(kind)
    p = pc.Prepared(vm, wl, link, policy)
    out = []
    for s in range(first_seed, first_seed + SEEDS):
        r = p.run(seed=s)
        out.append((r.n_rounds, r.total_time_s, list(r.rounds["pages_dirtied"]), float(sum(r.rounds["writes"]))))
    return out


def _compare(a, b):
    ra = np.array([x[0] for x in a])
    rb = np.array([x[0] for x in b])
    if ra.std() + rb.std() > 0:
        assert stats.ks_2samp(ra, rb, method="asymp").pvalue > DIRTYSET_TEST_ALPHA
    ta = np.array([x[1] for x in a])
    tb = np.array([x[1] for x in b])
    assert stats.ks_2samp(ta, tb, method="asymp").pvalue > DIRTYSET_TEST_ALPHA
    for k in range(2):                                    # pages dirtied in the first two rounds
        da = np.array([x[2][k] for x in a if len(x[2]) > k])
        db = np.array([x[2][k] for x in b if len(x[2]) > k])
        if len(da) > 20 and len(db) > 20 and da.std() + db.std() > 0:
            assert stats.ks_2samp(da, db, method="asymp").pvalue > DIRTYSET_TEST_ALPHA


POLICIES = {"xen": pc.policies.Xen(), "qemu": pc.policies.QEMU(max_bandwidth_bps=None, timeout_s=20.0)}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hotcold", "uniform", "zipf", "phased"])
@pytest.mark.parametrize("pol", sorted(POLICIES))
def test_set_path_agrees_with_per_write_path(kind, pol, monkeypatch):
    on = _runs(kind, POLICIES[pol], monkeypatch, config.DIRTYSET_MIN_WRITES_PER_PAGE, 1)
    off = _runs(kind, POLICIES[pol], monkeypatch, math.inf, 10_001)
    # the writes per round are the same numbers on both paths (they depend on time only)
    assert np.mean([x[3] for x in on]) == pytest.approx(np.mean([x[3] for x in off]), rel=0.05)
    _compare(on, off)


@pytest.mark.slow
def test_moving_the_switch_threshold_changes_nothing_measurable(monkeypatch):
    pol = POLICIES["xen"]
    runs = {k: _runs("hotcold", pol, monkeypatch, k, 1 + 1000 * i) for i, k in enumerate((0.25, 1.0, 4.0, 64.0))}
    base = runs.pop(1.0)
    for other in runs.values():
        _compare(base, other)


def test_set_path_is_taken_and_reproducible(monkeypatch):
    """On the busy scenario the set path runs (results differ from the per-write
    path for the same seed) and is deterministic for a seed."""
    vm, wl, link = _scenario("hotcold")
    pol = POLICIES["xen"]
    a = pc.simulate(vm, wl, link, pol, seed=5)
    b = pc.simulate(vm, wl, link, pol, seed=5)
    assert list(a.rounds["pages_dirtied"]) == list(b.rounds["pages_dirtied"])
    monkeypatch.setattr(config, "DIRTYSET_MIN_WRITES_PER_PAGE", math.inf)
    c = pc.simulate(vm, wl, link, pol, seed=5)
    assert a.rounds["writes"][0] == c.rounds["writes"][0]          # the bulk pass: same time, same writes
    assert list(a.rounds["pages_dirtied"]) != list(c.rounds["pages_dirtied"])


def test_sequential_set_path_is_exact(monkeypatch):
    """A sweep's set draw is the per-write sweep itself: identical results."""
    vm = pc.VM(memory_bytes=pc.MiB(16))
    wl = pc.workloads.Sequential(region_bytes=pc.MiB(2), writes_per_s=3e5)
    link = pc.Link(rate_bps=pc.Gbps(1), mtu=None)
    a = pc.simulate(vm, wl, link, pc.policies.Xen(), seed=1)
    monkeypatch.setattr(config, "DIRTYSET_MIN_WRITES_PER_PAGE", math.inf)
    monkeypatch.setattr(config, "DIRTYSET_SEQUENTIAL", False)
    b = pc.simulate(vm, wl, link, pc.policies.Xen(), seed=1)
    assert list(a.rounds["pages_dirtied"]) == list(b.rounds["pages_dirtied"])
    assert a.total_time_s == b.total_time_s
