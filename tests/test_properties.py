"""Property tests over random valid configurations: runs finish, nothing is NaN,
invariants hold; invalid numbers raise ValueError naming the parameter."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import precopy as pc
from precopy import workloads as W
from precopy.policies import Custom, QEMU, SimGrid, VMware, Xen, XenLegacy, XenNSDI05

pages = st.integers(min_value=64, max_value=8192)
rates = st.floats(min_value=0.0, max_value=3e5, allow_nan=False)


@st.composite
def scenarios(draw):
    n = draw(pages)
    page = draw(st.sampled_from([4096, 8192]))
    vm = pc.VM(memory_bytes=n * page, page_bytes=page, zero_fraction=draw(st.floats(0, 1)))
    kind = draw(st.sampled_from(["idle", "uniform", "hotcold", "zipf", "sequential", "phased"]))
    w = draw(rates)
    hot = draw(st.integers(1, n)) * page
    if kind == "idle":
        wl = W.Idle()
    elif kind == "uniform":
        wl = W.Uniform(writes_per_s=w)
    elif kind == "hotcold":
        wl = W.HotCold(wws_bytes=hot, hot_fraction=draw(st.floats(0, 1)), writes_per_s=w)
    elif kind == "zipf":
        wl = W.Zipf(s=draw(st.floats(0, 3)), writes_per_s=w, region_bytes=hot)
    elif kind == "sequential":
        wl = W.Sequential(region_bytes=hot, writes_per_s=w)
    else:
        wl = W.Phased([(W.Uniform(writes_per_s=w), draw(st.floats(0.01, 1))),
                       (W.Idle(), draw(st.floats(0.01, 1)))], repeat=draw(st.booleans()))
    link = pc.Link(rate_bps=draw(st.floats(1e8, 1e11)), mtu=draw(st.sampled_from([None, 1500, 9000])))
    timeout = 5.0 + vm.memory_bytes * 8 / link.goodput_bps
    pol = draw(st.sampled_from([
        QEMU(timeout_s=timeout + vm.memory_bytes * 8 / (128 * 2**20 * 8)),
        QEMU(max_bandwidth_bps=None, page_skip=True, timeout_s=timeout),
        XenLegacy(timeout_s=timeout), Xen(timeout_s=timeout), VMware(timeout_s=timeout),
        XenNSDI05(timeout_s=timeout + vm.memory_bytes * 8 / 100e6),
        SimGrid(timeout_s=timeout),
        Custom(max_rounds=draw(st.integers(2, 40)), downtime_target_s=draw(st.floats(0, 1)),
               page_skip=draw(st.booleans()), send_order=draw(st.sampled_from(["address", "permuted"])),
               max_data_factor=draw(st.one_of(st.none(), st.floats(1, 10))), timeout_s=timeout),
    ]))
    aids = []
    if pol.adaptive_rate is None:
        aid = draw(st.sampled_from([None, "autoconverge", "sdps", "postcopy"]))
        if aid == "autoconverge":
            aids = [pc.aids.AutoConverge()]
        elif aid == "sdps":
            aids = [pc.aids.SDPS()]
        elif aid == "postcopy":
            aids = [pc.aids.PostCopy(after_rounds=draw(st.integers(1, 5)))]
    return vm, wl, link, pol, draw(st.integers(0, 2**32)), aids


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_any_valid_input_finishes_with_finite_consistent_outputs(sc):
    vm, wl, link, pol, seed, aids = sc
    r = pc.simulate(vm, wl, link, pol, seed=seed, aids=aids)
    for f in ("total_time_s", "downtime_s", "precopy_time_s", "bytes_sent", "final_transfer_s"):
        assert math.isfinite(getattr(r, f)) and getattr(r, f) >= 0, f
    t = r.rounds
    for c in t.columns:
        assert np.all(np.isfinite(t[c].astype(float))), c
    header_only = vm.n_zero_pages * (vm.page_bytes + pol.header_bytes) - vm.n_zero_pages * pol.header_bytes
    assert r.bytes_sent >= vm.memory_bytes - header_only
    assert r.n_rounds >= 1
    if pol.max_rounds:
        assert r.n_rounds <= pol.max_rounds
    if not pol.page_skip:
        assert t["pages_skipped"].sum() == 0
    assert r.precopy_time_s <= pol.timeout_s + vm.memory_bytes * 8 / r.rate_bps * 2
    assert r == pc.simulate(vm, wl, link, pol, seed=seed, aids=aids)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["memory_bytes", "page_bytes", "zero_fraction", "rate_bps", "writes_per_s",
                        "hot_fraction", "downtime_limit_s"]),
       st.one_of(st.just(float("nan")), st.just(float("inf")), st.floats(-1e12, -1e-9), st.just(0)))
def test_invalid_numbers_name_the_parameter(name, bad):
    import pytest
    make = {
        "memory_bytes": lambda x: pc.VM(memory_bytes=x),
        "page_bytes": lambda x: pc.VM(memory_bytes=pc.MiB(1), page_bytes=x),
        "zero_fraction": lambda x: pc.VM(memory_bytes=pc.MiB(1), zero_fraction=x if x != 0 else -1),
        "rate_bps": lambda x: pc.Link(rate_bps=x),
        "writes_per_s": lambda x: W.Uniform(writes_per_s=x if x != 0 else -1),
        "hot_fraction": lambda x: W.HotCold(wws_bytes=4096, hot_fraction=x if x != 0 else 2, writes_per_s=1),
        "downtime_limit_s": lambda x: QEMU(downtime_limit_s=x if x != 0 else -1),
    }[name]
    with pytest.raises(ValueError, match=name):
        make(bad)
