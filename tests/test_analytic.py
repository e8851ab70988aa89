"""Analytic models: closed forms, vectorisation, bad input, and agreement with the kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

import precopy as pc
from precopy import analytic as A
from precopy.config import GEOMETRIC_RTOL, IDENTITY_RTOL, SATURATION_RTOL

P = pc.policies
W = pc.workloads

#: seeds averaged when the kernel is compared with a model
N_SEEDS = 20


def _sims(vm, wl, link, pol, seeds=N_SEEDS, switchover=None):
    prep = pc.Prepared(vm, wl, link, pol, switchover)
    return [prep.run(s) for s in range(seeds)]


def _mean(sims, field):
    return float(np.mean([getattr(r, field) for r in sims]))


def _rel(a, b):
    return abs(a - b) / abs(b)


def _assert_margin(res, pol, link, margin=0.05):
    """The model's downtime-limit decisions are not knife-edge (else a mean over
    seeds could legitimately differ by a round)."""
    thr = (pol.switchover_bandwidth_bps or min(link.goodput_bps, pol.max_bandwidth_bps or np.inf)) / 8
    thr_pages = thr * pol.downtime_limit_s / 4096
    live = ~res.rounds["stop_copy"]
    d = res.rounds["pages_dirtied"][live]
    assert np.all(d[:-1] > (1 + margin) * thr_pages)
    assert d[-1] < (1 - margin) * thr_pages


# ---------------------------------------------------------------------------
# the saturation formula
# ---------------------------------------------------------------------------

def test_expected_distinct_zero_monotone_bounded():
    S = 5000
    n = np.array([0, 1, 2, 10, 100, 1e3, 1e4, 1e5, 1e6])
    for e in (A.expected_distinct_uniform(n, S), A.expected_distinct_hotcold(n, S, 300, 0.8),
              A.expected_distinct_pages(n, W.Zipf(s=1.2, writes_per_s=1).page_probabilities(
                  pc.VM(memory_bytes=S * 4096)))):
        assert e[0] == 0.0
        assert np.all(np.diff(e) > 0)
        assert np.all(e <= np.minimum(n, S) * (1 + IDENTITY_RTOL))
    assert A.expected_distinct_uniform(1, S) == pytest.approx(1.0, rel=IDENTITY_RTOL)
    assert A.expected_distinct_uniform(1e9, S) == pytest.approx(S, rel=IDENTITY_RTOL)


def _naive_distinct(n, p):
    """Per page, no grouping, no log1p: sum_i 1 - (1 - p_i)**n."""
    return float(sum(1.0 - (1.0 - pi) ** n for pi in p))


def test_uniform_closed_form_equals_per_page_sum():
    S = 3000
    p = np.full(S, 1.0 / S)
    for n in (1, 17, 2500, 40000):
        assert A.expected_distinct_uniform(n, S) == pytest.approx(_naive_distinct(n, p), rel=1e-9)
        assert A.expected_distinct_pages(n, p) == pytest.approx(_naive_distinct(n, p), rel=1e-9)


def test_hotcold_closed_form_equals_per_page_sum():
    vm = pc.VM(memory_bytes=pc.MiB(8))
    wl = W.HotCold(wws_bytes=pc.KiB(400), hot_fraction=0.85, writes_per_s=1.0, offset_bytes=pc.KiB(64))
    p = wl.page_probabilities(vm)
    f = wl._threshold() / 2**32              # the share the kernel draws
    for n in (0, 5, 300, 5000, 60000):
        naive = _naive_distinct(n, p)
        assert A.expected_distinct_hotcold(n, vm.n_pages, 100, f) == pytest.approx(naive, rel=1e-9, abs=1e-12)
        assert A.expected_distinct_pages(n, p) == pytest.approx(naive, rel=1e-9, abs=1e-12)


def test_page_groups():
    vm = pc.VM(memory_bytes=pc.MiB(4))
    p = W.HotCold(wws_bytes=pc.KiB(64), hot_fraction=0.5, writes_per_s=1).page_probabilities(vm)
    probs, counts = A.page_groups(p)
    assert len(probs) == 2 and counts.sum() == vm.n_pages
    assert float(np.sum(probs * counts)) == pytest.approx(1.0, rel=IDENTITY_RTOL)
    probs, counts = A.page_groups(W.Sequential(region_bytes=pc.KiB(40), writes_per_s=1).page_probabilities(vm))
    assert probs.tolist() == [0.1] and counts.tolist() == [10.0]


def test_hotcold_map_bounds_expected_distinct():
    """The hot/cold model's round map dirties at least the expected distinct pages."""
    N, H, f, w = 262144, 16384, 0.9, 50_000.0
    w_h = w * (f + (1 - f) * H / N)
    w_c = w * (1 - f) * (N - H) / N
    t = np.geomspace(1e-4, 100, 60)
    upper = np.minimum(H, w_h * t) + w_c * t
    assert np.all(A.expected_distinct_hotcold(w * t, N, H, f) <= upper * (1 + IDENTITY_RTOL))


# ---------------------------------------------------------------------------
# Liu et al.'s geometric model
# ---------------------------------------------------------------------------

def test_geometric_sum_identity_and_liu_round_count():
    rng = np.random.default_rng(7)
    V = rng.uniform(1e8, 1e10, 200)
    lam = rng.uniform(0.05, 0.95, 200)
    R = rng.uniform(1e7, 1e9, 200)
    thd = V * rng.uniform(1e-4, 0.5, 200)
    resume = 0.009
    g = A.geometric_model(V, lam * R, R, thd, resume_s=resume)
    n = g.live_rounds
    assert np.all(g.converged) and set(g.stop_reason) == {"downtime_limit"}
    # Liu: n = ceil(log_lambda(V_thd / V_mem)) (no exact powers in random data)
    np.testing.assert_array_equal(n, np.maximum(np.ceil(np.log(thd / V) / np.log(lam)), 1))
    np.testing.assert_allclose(g.bytes_sent, V * (1 - lam ** (n + 1)) / (1 - lam), rtol=1e-12)
    np.testing.assert_allclose(g.downtime_s, V * lam ** n / R + resume, rtol=1e-12)
    np.testing.assert_allclose(g.total_time_s, V * (1 - lam ** n) / ((1 - lam) * R) + g.downtime_s, rtol=1e-12)
    np.testing.assert_array_equal(g.n_rounds, n + 1)


def test_geometric_lambda_at_least_one_never_converges():
    V, R = 1e9, 1e8
    for lam in (1.0, 1.3, 4.0):
        g = A.geometric_model(V, lam * R, R, threshold_bytes=1e6)
        assert g.stop_reason.item() == "never" and not g.converged and np.isinf(g.n_rounds)
        assert np.isinf(g.total_time_s) and np.isinf(g.bytes_sent)
        c = A.geometric_model(V, lam * R, R, threshold_bytes=1e6, max_rounds=12)
        assert c.stop_reason.item() == "max_rounds" and not c.converged and int(c.n_rounds) == 12
        expect = V * 12 if lam == 1.0 else V * (lam ** 12 - 1) / (lam - 1)
        assert float(c.bytes_sent) == pytest.approx(expect, rel=1e-12)
        t = A.geometric_model(V, lam * R, R, threshold_bytes=1e6, timeout_s=100.0)
        assert t.stop_reason.item() == "timeout" and not t.converged
        assert float(t.precopy_time_s) >= 100.0 > float(t.precopy_time_s) - V * lam ** (float(t.live_rounds) - 1) / R
        d = A.geometric_model(V, lam * R, R, threshold_bytes=1e6, max_bytes=5e9)
        assert d.stop_reason.item() == "max_data" and float(d.precopy_time_s) * R > 5e9
    # lambda > 1 but the first remainder is already below the threshold: stops at once
    g = A.geometric_model(V, 1.5 * R, R, threshold_bytes=2e9)
    assert g.converged and int(g.live_rounds) == 1


def test_geometric_less_than_one_page_is_none():
    """Without a downtime rule a shrinking remainder stops once below one page,
    as the kernel stops when a round sees no write."""
    vm = pc.VM(memory_bytes=pc.MiB(64))
    wl = W.Uniform(writes_per_s=1000)
    link = pc.Link(rate_bps=pc.Gbps(1))
    pol = P.Custom(max_data_factor=2.0)
    g = A.geometric(vm, wl, link, pol)
    r = pc.simulate(vm, wl, link, pol, seed=0)
    assert g.stop_reason == r.stop_reason == "no_dirty_pages" and g.final_pages == 0
    assert g.n_rounds == len(g.rounds) and not g.rounds["stop_copy"].any()
    assert g.total_time_s == pytest.approx(r.total_time_s, rel=GEOMETRIC_RTOL)
    lam = 1000 * 4096 / link.goodput_Bps
    assert g.n_rounds == 1 + math.ceil(math.log(1 / (1000 * 64 * 2**20 / link.goodput_Bps)) / math.log(lam))


def test_geometric_idle_and_stop_before_first():
    g = A.geometric_model(1e9, 0.0, 1e8, 1e6)
    assert g.stop_reason.item() == "no_dirty_pages" and int(g.n_rounds) == 1 and float(g.bytes_sent) == 1e9
    g = A.geometric_model(1e9, 5e7, 1e8, 1e6, stop_before_first=True, final_rate_Bps=2e8)
    assert int(g.n_rounds) == 1 and float(g.downtime_s) == 5.0 and float(g.precopy_time_s) == 0.0


# whole passes (QEMU with the pass cadence): where the closed form and the round
# models are exact; QEMU's own cadence: test_saturation_follows_qemus_cadence
_SCENARIO_POLICIES = [P.QEMU(sync_cadence="pass"), P.QEMU(max_bandwidth_bps=None, sync_cadence="pass"), P.Xen(),
                      P.XenLegacy().with_(page_skip=False),
                      P.VMware(), P.SimGrid(), P.Custom(max_rounds=7), P.Custom(max_data_factor=1.3),
                      P.Custom(min_dirty_pages=3000, timeout_s=60),
                      P.QEMU(switchover_bandwidth_bps=pc.Gbps(5), sync_cadence="pass"),
                      P.QEMU(timeout_s=5, sync_cadence="pass")]


@pytest.mark.parametrize("pol", _SCENARIO_POLICIES, ids=lambda p: p.name)
def test_geometric_closed_form_equals_round_iteration(pol):
    vm = pc.VM(memory_bytes=pc.MiB(256), zero_fraction=0.2)
    link = pc.Link(rate_bps=pc.Gbps(1))
    sw = pc.Switchover(device_state_bytes=pc.MiB(1))
    for w in (0.0, 2e3, 2e4, 4e4, 1e5):
        wl = W.Uniform(writes_per_s=w)
        closed = A.geometric(vm, wl, link, pol, sw)
        sc = A._scenario(vm, wl, link, pol, sw)
        it = A._run_engine(A._K_GEOM, sc)
        assert (closed.n_rounds, closed.stop_reason) == (it.n_rounds, it.stop_reason)
        for f in ("total_time_s", "downtime_s", "bytes_sent", "pages_sent", "final_pages"):
            assert getattr(closed, f) == pytest.approx(getattr(it, f), rel=1e-9), f
        for c in ("start_s", "duration_s", "pages_sent", "pages_dirtied", "bytes_sent", "writes"):
            np.testing.assert_allclose(closed.rounds[c], it.rounds[c], rtol=1e-9, err_msg=c)


def test_hotcold_model_without_hot_set_is_geometric():
    vm = pc.VM(memory_bytes=pc.MiB(512))
    link = pc.Link(rate_bps=pc.Gbps(10))
    for pol in (P.QEMU(sync_cadence="pass"), P.Xen(), P.SimGrid()):   # the closed form: whole passes
        wl = W.Uniform(writes_per_s=3e4)
        g, h = A.geometric(vm, wl, link, pol), A.hotcold(vm, wl, link, pol)
        assert (g.n_rounds, g.stop_reason) == (h.n_rounds, h.stop_reason)
        assert h.total_time_s == pytest.approx(g.total_time_s, rel=1e-9)
        assert h.bytes_sent == pytest.approx(g.bytes_sent, rel=1e-9)


# ---------------------------------------------------------------------------
# stop rules exactly as the kernel: Sequential writes are deterministic
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("pol", _SCENARIO_POLICIES, ids=lambda p: p.name)
def test_saturation_equals_kernel_exactly_for_sequential_writes(pol):
    """A sweep of n writes dirties exactly min(n, region) pages, so the model is the
    kernel itself: same rounds, stop reason, times and bytes, bit for bit."""
    vm = pc.VM(memory_bytes=pc.MiB(256), zero_fraction=0.25)
    link = pc.Link(rate_bps=pc.Gbps(1))
    sw = pc.Switchover(device_state_bytes=pc.MiB(1))
    for wl in (W.Sequential(region_bytes=pc.MiB(32), writes_per_s=3e4),
               W.Sequential(region_bytes=pc.MiB(200), writes_per_s=2e4, offset_bytes=pc.MiB(8)),
               W.Sequential(region_bytes=pc.MiB(4), writes_per_s=5e3), W.Idle()):
        r = pc.simulate(vm, wl, link, pol, seed=3, switchover=sw)
        a = A.saturation(vm, wl, link, pol, sw)
        assert (a.n_rounds, a.stop_reason, a.converged) == (r.n_rounds, r.stop_reason, r.converged)
        for f in ("total_time_s", "downtime_s", "precopy_time_s", "bytes_sent", "pages_sent", "final_pages"):
            assert getattr(a, f) == getattr(r, f), f
        for c in ("start_s", "duration_s", "pages_sent", "pages_dirtied", "bytes_sent", "writes", "stop_copy"):
            np.testing.assert_array_equal(a.rounds[c], r.rounds[c], err_msg=c)


def test_check_before_first_round_all_models():
    vm = pc.VM(memory_bytes=pc.MiB(16))           # 16 MiB < 128 MiB/s x 0.3 s
    link = pc.Link(rate_bps=pc.Gbps(10))
    wl = W.HotCold(wws_bytes=pc.MiB(1), writes_per_s=1e5)
    r = pc.simulate(vm, wl, link, "qemu")
    assert (r.n_rounds, r.stop_reason) == (1, "downtime_limit")
    for m in A.MODELS:
        a = A.predict(vm, wl, link, "qemu", model=m)
        assert (a.n_rounds, a.stop_reason, a.converged) == (1, "downtime_limit", True)
        assert a.total_time_s == pytest.approx(r.total_time_s, rel=IDENTITY_RTOL)
        assert a.bytes_sent == pytest.approx(r.bytes_sent, rel=IDENTITY_RTOL)


# ---------------------------------------------------------------------------
# the kernel's mean over seeds against the saturation model
# ---------------------------------------------------------------------------

def _check_saturation_against_kernel(vm, wl, link, pol, seeds=N_SEEDS, check_margin=True):
    sims = _sims(vm, wl, link, pol, seeds)
    model = A.saturation(vm, wl, link, pol)
    if check_margin:
        _assert_margin(model, pol, link)
    probs = wl.page_probabilities(vm)
    # per round: distinct pages the kernel dirtied, given its write count, against E(writes)
    k = min(int(np.sum(~r.rounds["stop_copy"])) for r in sims)
    errs = []
    for i in range(k):
        dirtied = np.mean([r.rounds["pages_dirtied"][i] for r in sims])
        expect = np.mean([A.expected_distinct_pages(r.rounds["writes"][i], probs) for r in sims])
        errs.append(_rel(dirtied, expect))
        assert errs[-1] < SATURATION_RTOL, (i, dirtied, expect)
        # and the model's own round series against the kernel's mean
        assert _rel(model.rounds["pages_dirtied"][i], dirtied) < SATURATION_RTOL, i
    for f in ("total_time_s", "bytes_sent", "n_rounds", "downtime_s"):
        assert _rel(getattr(model, f), _mean(sims, f)) < SATURATION_RTOL, f
    assert all(r.stop_reason == model.stop_reason for r in sims)
    return errs


def test_saturation_matches_kernel_uniform():
    errs = _check_saturation_against_kernel(pc.VM(memory_bytes=pc.MiB(512)), W.Uniform(writes_per_s=20_000),
                                            pc.Link(rate_bps=pc.Gbps(10)), P.QEMU(sync_cadence="pass"))
    assert len(errs) == 5


def test_saturation_matches_kernel_hotcold():
    wl = W.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=20_000)
    errs = _check_saturation_against_kernel(pc.VM(memory_bytes=pc.GiB(1)), wl, pc.Link(rate_bps=pc.Gbps(10)),
                                            P.QEMU(sync_cadence="pass"))
    assert len(errs) == 3


def test_saturation_matches_kernel_hotcold_capped():
    """Hot set above the threshold: never converges, stopped by Xen's 6 rounds."""
    wl = W.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.985, writes_per_s=200_000)
    pol = P.Custom(max_rounds=6, downtime_target_s=0.3, max_bandwidth_bps=pc.MiBps(128) * 8, header_bytes=8)
    _check_saturation_against_kernel(pc.VM(memory_bytes=pc.GiB(1)), wl, pc.Link(rate_bps=pc.Gbps(10)), pol,
                                     seeds=5, check_margin=False)
    assert not A.saturation(pc.VM(memory_bytes=pc.GiB(1)), wl, pc.Link(rate_bps=pc.Gbps(10)), pol).converged


def test_saturation_matches_kernel_zipf():
    _check_saturation_against_kernel(pc.VM(memory_bytes=pc.MiB(256)), W.Zipf(s=1.0, writes_per_s=40_000),
                                      pc.Link(rate_bps=pc.Gbps(10)), P.QEMU(sync_cadence="pass"), seeds=10)


@pytest.mark.parametrize("vm, wl, link, pol", [
    (pc.VM(memory_bytes=pc.MiB(512)), W.Uniform(writes_per_s=20_000), pc.Link(rate_bps=pc.Gbps(10)), P.QEMU()),
    (pc.VM(memory_bytes=pc.GiB(1)), W.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=20_000),
     pc.Link(rate_bps=pc.Gbps(10)), P.QEMU()),
    (pc.VM(memory_bytes=pc.GiB(1)), W.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=20_000),
     pc.Link(rate_bps=pc.Gbps(10)), P.QEMU(max_bandwidth_bps=None)),
    (pc.VM(memory_bytes=pc.MiB(256)), W.Zipf(s=1.0, writes_per_s=40_000), pc.Link(rate_bps=pc.Gbps(10)), P.QEMU()),
    (pc.VM(memory_bytes=pc.GiB(1), zero_fraction=0.3),
     W.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.9, writes_per_s=30_000), pc.Link(rate_bps=pc.Gbps(1)),
     P.QEMU(max_bandwidth_bps=None)),
], ids=["uniform", "hotcold-capped", "hotcold", "zipf", "hot-set-above-threshold"])
def test_saturation_follows_qemus_cadence(vm, wl, link, pol):
    """QEMU's sync cadence in expectation against the kernel's mean over seeds."""
    from precopy.config import CADENCE_SATURATION_RTOL
    sims = _sims(vm, wl, link, pol, 8)
    model = A.saturation(vm, wl, link, pol)
    assert all(r.stop_reason == model.stop_reason for r in sims)
    for f in ("total_time_s", "downtime_s", "bytes_sent"):
        assert _rel(getattr(model, f), _mean(sims, f)) < CADENCE_SATURATION_RTOL, f
    assert any("sync cadence" in n for n in model.notes)


def test_saturation_with_page_skip_matches_kernel():
    """Xen legacy (permuted order, page skip): skipped pages modelled in expectation."""
    vm = pc.VM(memory_bytes=pc.GiB(1))
    wl = W.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=50_000)
    link = pc.Link(rate_bps=pc.Gbps(10))
    sims = _sims(vm, wl, link, P.XenLegacy(), seeds=10)
    model = A.saturation(vm, wl, link, P.XenLegacy())
    assert any("page skip modelled" in n for n in model.notes)
    assert np.sum(model.rounds["pages_skipped"]) > 0
    for f in ("total_time_s", "bytes_sent", "n_rounds", "pages_sent"):
        assert _rel(getattr(model, f), _mean(sims, f)) < SATURATION_RTOL, f
    skipped = np.mean([np.sum(r.rounds["pages_skipped"]) for r in sims])
    assert _rel(float(np.sum(model.rounds["pages_skipped"])), skipped) < 0.05
    # without the skip model the same scenario is clearly off: the effect is real
    plain = A.saturation(vm, wl, link, P.XenLegacy().with_(page_skip=False))
    assert _rel(plain.bytes_sent, _mean(sims, "bytes_sent")) > 2 * SATURATION_RTOL


# ---------------------------------------------------------------------------
# Liu's geometric model in its regime: writes far below the page count
# ---------------------------------------------------------------------------

def test_geometric_matches_kernel_when_writes_are_sparse():
    vm = pc.VM(memory_bytes=pc.GiB(1))
    link = pc.Link(rate_bps=pc.Gbps(1))
    errs = []
    for w in (500, 3000):                    # lambda about 0.017 and 0.10
        wl = W.Uniform(writes_per_s=w)
        sims = _sims(vm, wl, link, P.SimGrid(), seeds=10)
        g = A.geometric(vm, wl, link, P.SimGrid())
        assert g.n_rounds == _mean(sims, "n_rounds")
        e = [_rel(getattr(g, f), _mean(sims, f)) for f in ("total_time_s", "bytes_sent")]
        assert max(e) < GEOMETRIC_RTOL
        errs.append(max(e))
    assert errs[0] < errs[1]                 # the model degrades as collisions grow


# ---------------------------------------------------------------------------
# vectorisation: arrays give what a loop of scalars gives
# ---------------------------------------------------------------------------

def test_saturation_and_hotcold_arrays_equal_scalar_loop(monkeypatch):
    link = pc.Link(rate_bps=pc.Gbps(10))
    w = np.array([0.0, 5e3, 2e4, 8e4])[:, None, None]
    G = np.array([link.goodput_Bps, pc.Link(rate_bps=pc.Gbps(1)).goodput_Bps])[None, :, None]
    H = np.array([0, 4096, 16384])[None, None, :]
    f = np.where(H > 0, 0.75, 0.0)
    pol = P.QEMU(max_bandwidth_bps=None, sync_cadence="pass")    # the array models iterate whole passes
    for fn_arr, fn_one in ((A.saturation_model, A.saturation), (A.hotcold_model, A.hotcold)):
        # full iteration, as the scalar models run (the fast path: tests/test_analytic_fast.py)
        monkeypatch.setattr(A, "_FULL_ITERATION", True)
        arr = fn_arr(w, G, 131072, H, f, policy=pol)
        assert arr.shape == (4, 2, 3)
        for i, j, k in np.ndindex(arr.shape):
            vm = pc.VM(memory_bytes=pc.MiB(512))
            wl = (W.Uniform(writes_per_s=w[i, 0, 0]) if H[0, 0, k] == 0 else
                  W.HotCold(wws_bytes=int(H[0, 0, k]) * 4096, hot_fraction=0.75, writes_per_s=w[i, 0, 0]))
            lk = pc.Link(rate_bps=G[0, j, 0] * 8, mtu=None)
            one = fn_one(vm, wl, lk, pol)
            assert arr.n_rounds[i, j, k] == one.n_rounds
            assert arr.stop_reason[i, j, k] == one.stop_reason
            assert arr.total_time_s[i, j, k] == pytest.approx(one.total_time_s, rel=IDENTITY_RTOL)
            assert arr.bytes_sent[i, j, k] == pytest.approx(one.bytes_sent, rel=IDENTITY_RTOL)
            assert arr.downtime_s[i, j, k] == pytest.approx(one.downtime_s, rel=IDENTITY_RTOL)


def test_saturation_model_with_probabilities_equals_convenience():
    vm = pc.VM(memory_bytes=pc.MiB(64))
    wl = W.Zipf(s=1.1, writes_per_s=1e4)
    link = pc.Link(rate_bps=pc.Gbps(1))
    ws = np.array([1e3, 1e4, 5e4])
    arr = A.saturation_model(ws, link.goodput_Bps, vm.n_pages, probabilities=wl.page_probabilities(vm), policy="xen")
    for i, w in enumerate(ws):
        one = A.saturation(vm, W.Zipf(s=1.1, writes_per_s=w), link, "xen")
        assert arr.n_rounds[i] == one.n_rounds
        assert arr.total_time_s[i] == pytest.approx(one.total_time_s, rel=IDENTITY_RTOL)


def test_geometric_arrays_equal_scalar_loop():
    V = np.array([1e8, 1e9, 4e9])[:, None]
    D = np.array([0.0, 1e7, 5e7, 9e7, 2e8])[None, :]
    arr = A.geometric_model(V, D, 1e8, 2e7, max_rounds=30, timeout_s=500.0)
    for i, j in np.ndindex(arr.shape):
        one = A.geometric_model(V[i, 0], D[0, j], 1e8, 2e7, max_rounds=30, timeout_s=500.0)
        a, b = arr[i, j], one[()]
        for k in ("n_rounds", "converged", "stop_reason", "live_rounds"):
            assert a[k] == b[k], k
        for k in ("total_time_s", "downtime_s", "precopy_time_s", "bytes_sent", "final_bytes"):
            assert a[k] == pytest.approx(b[k], rel=IDENTITY_RTOL), k


# ---------------------------------------------------------------------------
# results, predict, compare
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("model", A.MODELS)
def test_result_is_self_consistent(model):
    vm = pc.VM(memory_bytes=pc.MiB(512), zero_fraction=0.1)
    wl = W.HotCold(wws_bytes=pc.MiB(32), hot_fraction=0.8, writes_per_s=30_000)
    sw = pc.Switchover(device_state_bytes=pc.MiB(2), resume_s=0.02)
    for pol in (P.QEMU(), P.Xen(), P.XenLegacy(), P.Custom(max_rounds=4)):
        r = A.predict(vm, wl, pc.Link(rate_bps=pc.Gbps(10)), pol, sw, model=model)
        assert r.model == model and isinstance(r, A.AnalyticResult)
        assert r.total_time_s == pytest.approx(r.precopy_time_s + r.downtime_s, rel=IDENTITY_RTOL)
        assert r.downtime_s == pytest.approx(r.final_transfer_s + r.device_state_s + r.resume_s, rel=IDENTITY_RTOL)
        assert r.bytes_sent == pytest.approx(np.sum(r.rounds["bytes_sent"]) + sw.device_state_bytes,
                                             rel=IDENTITY_RTOL)
        assert r.pages_sent == pytest.approx(np.sum(r.rounds["pages_sent"]), rel=IDENTITY_RTOL)
        assert r.n_rounds == len(r.rounds) and r.rounds["stop_copy"][-1]
        assert r.bytes_sent >= vm.memory_bytes * 0.9
        assert model in r.summary() and r.as_dict()["n_rounds"] == r.n_rounds
        assert np.all(np.isfinite(r.rounds["bytes_sent"]))


def test_models_monotone_in_bandwidth():
    vm = pc.VM(memory_bytes=pc.GiB(1))
    wl = W.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=20_000)
    for m in A.MODELS:
        t = [A.predict(vm, wl, pc.Link(rate_bps=pc.Gbps(g)), P.QEMU(max_bandwidth_bps=None), model=m).total_time_s
             for g in (2, 5, 10, 25)]
        assert np.all(np.diff(t) < 0), m


def test_compare():
    vm = pc.VM(memory_bytes=pc.MiB(256))
    c = A.compare(vm, W.Uniform(writes_per_s=10_000), pc.Link(rate_bps=pc.Gbps(10)), "qemu", seeds=3)
    assert c.seeds == (0, 1, 2) and len(c.simulations) == 3
    assert set(c.models) == set(A.MODELS) and not c.skipped
    err = c.relative_errors()
    assert abs(err["saturation"]["total_time_s"]) < SATURATION_RTOL
    assert abs(err["saturation"]["n_rounds"]) < SATURATION_RTOL
    text = c.summary()
    assert all(m in text for m in A.MODELS) and "simulated" in text
    assert c._repr_html_().startswith("<table>")
    sr = c.simulated_rounds
    # QEMU's cadence: the first round is the bulk pass until its rest fits the threshold
    assert sr["n_seeds"][0] == 3 and sr["pages_sent"][0] == c.simulations[0].rounds["pages_sent"][0] < vm.n_pages
    c2 = A.compare(vm, W.Zipf(s=1.0, writes_per_s=1e4), pc.Link(rate_bps=pc.Gbps(10)), "qemu", seeds=[5, 9],
                   models=("saturation", "hotcold"))
    assert c2.seeds == (5, 9) and set(c2.models) == {"saturation"} and "hotcold" in c2.skipped
    assert "hotcold not applicable" in c2.summary()


def test_notes_on_page_skip():
    vm = pc.VM(memory_bytes=pc.MiB(64))
    wl = W.HotCold(wws_bytes=pc.MiB(4), writes_per_s=1e4)
    link = pc.Link(rate_bps=pc.Gbps(1))
    assert A.predict(vm, wl, link, P.QEMU(sync_cadence="pass")).notes == ()
    assert len(A.predict(vm, wl, link, "qemu").notes) == 1
    assert "sync cadence" in A.predict(vm, wl, link, "qemu").notes[0]
    assert "modelled in expectation" in A.predict(vm, wl, link, "xen-legacy").notes[0]
    assert "not modelled" in A.predict(vm, wl, link, "xen-legacy", model="hotcold").notes[0]
    assert "no effect" in A.predict(vm, wl, link, "xen-legacy", model="geometric").notes[0]


def test_phased_workload():
    vm = pc.VM(memory_bytes=pc.MiB(64))
    wl = W.Phased([(W.Idle(), 1.0), (W.Uniform(writes_per_s=1e4), 1.0)])
    link = pc.Link(rate_bps=pc.Gbps(1))
    g = A.predict(vm, wl, link, "qemu", model="geometric")        # mean write rate
    assert g.rounds["writes"][0] == pytest.approx(5e3 * g.rounds["duration_s"][0], rel=IDENTITY_RTOL)
    for m in ("saturation", "hotcold"):
        with pytest.raises(ValueError, match="workload"):
            A.predict(vm, wl, link, "qemu", model=m)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

_VM = pc.VM(memory_bytes=pc.MiB(64))
_WL = W.Uniform(writes_per_s=1e3)
_LINK = pc.Link(rate_bps=pc.Gbps(1))


@pytest.mark.parametrize("call, name", [
    (lambda: A.expected_distinct_uniform(-1, 10), "writes"),
    (lambda: A.expected_distinct_uniform(5, 0), "n_pages"),
    (lambda: A.expected_distinct_uniform(5, 10.5), "n_pages"),
    (lambda: A.expected_distinct_uniform(np.nan, 10), "writes"),
    (lambda: A.expected_distinct_hotcold(5, 10, 11, 0.5), "hot_pages"),
    (lambda: A.expected_distinct_hotcold(5, 10, 0, 0.5), "hot_pages"),
    (lambda: A.expected_distinct_hotcold(5, 10, 2, 1.5), "hot_fraction"),
    (lambda: A.expected_distinct_pages(5, [0.5, 0.4]), "probabilities"),
    (lambda: A.expected_distinct_pages(5, [[0.5, 0.5]]), "probabilities"),
    (lambda: A.page_groups([-0.1, 1.1]), "probabilities"),
    (lambda: A.geometric_model(0.0, 1.0, 1.0), "memory_bytes"),
    (lambda: A.geometric_model(1.0, -1.0, 1.0), "dirty_Bps"),
    (lambda: A.geometric_model(1.0, 1.0, 0.0), "rate_Bps"),
    (lambda: A.geometric_model(1.0, 1.0, 1.0, -5.0), "threshold_bytes"),
    (lambda: A.geometric_model(1.0, 1.0, 1.0, max_rounds=1), "max_rounds"),
    (lambda: A.geometric_model(1.0, 1.0, 1.0, max_rounds=2.5), "max_rounds"),
    (lambda: A.geometric_model(1.0, 1.0, 1.0, timeout_s=0.0), "timeout_s"),
    (lambda: A.geometric_model(1.0, 1.0, 1.0, stop_before_first=1), "stop_before_first"),
    (lambda: A.geometric_model([1.0, np.inf], 1.0, 1.0), "memory_bytes"),
    (lambda: A.saturation_model(-1.0, 1e8, 100), "writes_per_s"),
    (lambda: A.saturation_model(1.0, 0.0, 100), "link_Bps"),
    (lambda: A.saturation_model(1.0, 1e8, 0), "n_pages"),
    (lambda: A.saturation_model(1.0, 1e8, 100, zero_pages=101), "zero_pages"),
    (lambda: A.saturation_model(1.0, 1e8, 100, 200, 0.5), "hot_pages"),
    (lambda: A.saturation_model(1.0, 1e8, 100, probabilities=np.full(50, 0.02)), "n_pages"),
    (lambda: A.saturation_model(1.0, 1e8, 100, policy=42), "policy"),
    (lambda: A.saturation_model(1.0, 1e8, 100, 10, 0.5, probabilities=np.full(100, 0.01)), "hot_pages"),
    (lambda: A.saturation_model(1.0, 1e3, 10**6, policy=P.QEMU(timeout_s=1.0)), "timeout_s"),
    (lambda: A.hotcold_model(1.0, 1e8, 100, switchover="x"), "switchover"),
    (lambda: A.predict(_VM, _WL, _LINK, "qemu", model="liu"), "model"),
    (lambda: A.predict("vm", _WL, _LINK), "vm"),
    (lambda: A.predict(_VM, "wl", _LINK), "workload"),
    (lambda: A.predict(_VM, _WL, 1e9), "link"),
    (lambda: A.predict(_VM, _WL, _LINK, "kvm"), "policy"),
    (lambda: A.predict(_VM, _WL, _LINK, P.QEMU(timeout_s=0.1)), "timeout_s"),
    (lambda: A.predict(_VM, W.HotCold(wws_bytes=pc.MiB(128), writes_per_s=1), _LINK), "wws_bytes"),
    (lambda: A.hotcold(_VM, W.Zipf(writes_per_s=1e3), _LINK), "workload"),
    (lambda: A.saturation(_VM, W.Trace(times_s=[0.0], pages=[1]), _LINK), "workload"),
    (lambda: A.saturation(_VM, W.Zipf(writes_per_s=1e3), _LINK, seed=-1), "seed"),
    (lambda: A.compare(_VM, _WL, _LINK, seeds=0), "seeds"),
    (lambda: A.compare(_VM, _WL, _LINK, seeds=[]), "seeds"),
    (lambda: A.compare(_VM, _WL, _LINK, seeds=[1, -2]), "seeds"),
    (lambda: A.compare(_VM, _WL, _LINK, seeds=2, models=("liu",)), "models"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_zero_writes_and_tiny_vm():
    vm = pc.VM(memory_bytes=4096)
    for m in A.MODELS:
        r = A.predict(vm, W.Idle(), pc.Link(rate_bps=pc.Gbps(1)), "xen", model=m)
        assert r.n_rounds == 1 and r.stop_reason == "no_dirty_pages" and math.isfinite(r.total_time_s)


def test_saturation_follows_the_adaptive_rate():
    """Clark et al.'s adaptive rate in the round loop: model vs kernel mean (skip off)."""
    vm = pc.VM(memory_bytes=pc.MiB(512))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(16), hot_fraction=0.9, writes_per_s=8_000)
    pol = pc.policies.XenNSDI05().with_(page_skip=False)
    link = pc.Link(rate_bps=pc.Gbps(1))
    sims = [pc.simulate(vm, wl, link, pol, seed=s) for s in range(10)]
    a = pc.analytic.predict(vm, wl, link, pol, model="saturation")
    assert a.n_rounds == sims[0].n_rounds
    assert a.total_time_s == pytest.approx(np.mean([r.total_time_s for r in sims]), rel=SATURATION_RTOL)
    assert a.bytes_sent == pytest.approx(np.mean([r.bytes_sent for r in sims]), rel=SATURATION_RTOL)


@pytest.mark.parametrize("wl", [
    pc.workloads.Uniform(writes_per_s=20_000),
    pc.workloads.HotCold(wws_bytes=pc.MiB(16), hot_fraction=0.9, writes_per_s=30_000),
    pc.workloads.Zipf(s=1.1, writes_per_s=20_000, region_bytes=pc.MiB(32)),
    pc.workloads.Sequential(region_bytes=pc.MiB(8), writes_per_s=5_000),
], ids=lambda w: type(w).__name__)
@pytest.mark.parametrize("pol", [
    pc.policies.QEMU(max_bandwidth_bps=None), pc.policies.Xen(), pc.policies.SimGrid(timeout_s=60),
    pc.policies.XenNSDI05().with_(page_skip=False),
    pc.policies.Custom(max_rounds=8, downtime_target_s=0.01, max_data_factor=2.5, header_bytes=8),
], ids=lambda p: p.name)
def test_saturation_engine_matches_its_plain_twin(wl, pol):
    import naive
    vm = pc.VM(memory_bytes=pc.MiB(128), zero_fraction=0.1)
    link = pc.Link(rate_bps=pc.Gbps(1))
    a = pc.analytic.saturation(vm, wl, link, pol, seed=3)
    rounds, reason, t, fbytes, total = naive.saturation(vm, wl, link, pol, seed=3)
    assert a.stop_reason == reason
    live = ~a.rounds["stop_copy"]
    assert int(live.sum()) == len(rounds)
    for col in ("duration_s", "pages_sent", "pages_dirtied", "bytes_sent", "writes"):
        np.testing.assert_allclose(a.rounds[col][live], [r[col] for r in rounds], rtol=1e-9, atol=1e-9,
                                   err_msg=col)
    assert a.precopy_time_s == pytest.approx(t, rel=1e-12)
    assert a.bytes_sent == pytest.approx(total, rel=1e-9)
