"""Property tests over random valid configurations: runs finish, nothing is NaN,
invariants hold; invalid numbers raise ValueError naming the parameter."""

import dataclasses
import math

import numpy as np
import pytest
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


# --- traces, short phases, high write rates, shared objects (issue 12, section 3) ------------------------------

def _check_finite(r, vm):
    for f in ("total_time_s", "downtime_s", "precopy_time_s", "bytes_sent", "final_transfer_s"):
        assert math.isfinite(getattr(r, f)) and getattr(r, f) >= 0, f
    t = r.rounds
    for c in t.columns:
        assert np.all(np.isfinite(t[c].astype(float))), c
    assert np.all(t["pages_sent"] <= vm.n_pages)
    assert np.all(t["pages_dirtied"] <= vm.n_pages)


@st.composite
def traces(draw):
    n = draw(st.integers(min_value=64, max_value=4096))
    vm = pc.VM(memory_bytes=n * 4096)
    k = draw(st.integers(0, 400))
    gaps = draw(st.lists(st.floats(0.0, 0.01), min_size=k, max_size=k))
    times = np.cumsum(gaps) if k else np.zeros(0)
    dtype = draw(st.sampled_from([np.int32, np.int64, np.uint32, np.uint64]))
    top = {np.int32: 2**31 - 1, np.int64: 2**63 - 1, np.uint32: 2**32 - 1, np.uint64: 2**64 - 1}[dtype]
    out_of_range = draw(st.booleans())
    hi = top if out_of_range else n - 1
    pages = np.array(draw(st.lists(st.integers(0, hi), min_size=k, max_size=k)), dtype=dtype)
    last = float(times[-1]) if k else 0.0
    duration = draw(st.one_of(st.none(), st.floats(max(last, W.MIN_PHASE_S) * 1.001 + 1e-6, last + 5.0)))
    return vm, times, pages, duration, draw(st.booleans())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces(), st.integers(0, 2**32))
def test_any_trace_runs_or_is_rejected_by_name(tc, seed):
    """Any page dtype, any page value (uint64 at or above 2**63 included): pages beyond the VM are a
    ValueError naming ``pages``; the rest run to finite, consistent results, identical when repeated."""
    vm, times, pages, duration, loop = tc
    try:
        tr = W.Trace(times_s=times, pages=pages, duration_s=duration, loop=loop)
    except ValueError as e:
        assert "pages" in str(e) or "duration_s" in str(e)
        return
    link = pc.Link(rate_bps=1e9)
    pol = Custom(max_rounds=8, downtime_target_s=0.001, timeout_s=10.0)
    if len(pages) and int(pages.max()) >= vm.n_pages:
        with pytest.raises(ValueError, match=r"pages \(page index\)"):
            pc.simulate(vm, tr, link, pol, seed=seed)
        return
    r = pc.simulate(vm, tr, link, pol, seed=seed)
    _check_finite(r, vm)
    if not loop:      # a non-looping trace writes each recorded write at most once
        assert r.rounds["writes"].sum() <= len(pages)
    again = pc.simulate(vm, tr, link, pol, seed=seed + 1)      # a trace does not depend on the seed
    assert dataclasses.replace(again, seed=seed) == r


@st.composite
def short_phases(draw):
    n = draw(st.integers(min_value=64, max_value=2048))
    vm = pc.VM(memory_bytes=n * 4096)
    k = draw(st.integers(1, 4))
    phases = []
    for _ in range(k):
        d = draw(st.floats(W.MIN_PHASE_S, 1e-3))
        w = draw(st.sampled_from([W.Idle(), W.Uniform(writes_per_s=draw(st.floats(0, 1e7))),
                                  W.HotCold(wws_bytes=4096 * draw(st.integers(1, n)),
                                            writes_per_s=draw(st.floats(0, 1e7)))]))
        phases.append((w, d))
    return vm, W.Phased(phases, repeat=draw(st.booleans()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(short_phases(), st.integers(0, 2**32))
def test_phases_down_to_the_floor_finish_with_finite_results(sc, seed):
    vm, wl = sc
    r = pc.simulate(vm, wl, pc.Link(rate_bps=1e9), Custom(max_rounds=6, timeout_s=5.0), seed=seed)
    _check_finite(r, vm)
    assert r.n_rounds <= 6


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(2e-5, 2e-4), st.floats(1e4, 1e5))
def test_short_phases_keep_the_mean_write_rate(d, w):
    """Alternating busy and idle phases of length d: the guest writes w x (busy time), whatever d is,
    as the analytic models assume (within a few writes, not one lost per phase)."""
    wl = W.Phased([(W.Uniform(writes_per_s=w), d), (W.Idle(), d)])
    duration = 0.2
    tr = W.Trace.record(wl, pc.VM(memory_bytes=pc.MiB(1)), duration_s=duration)
    # exact busy time up to `duration` (the last cycle may end inside a busy or an idle phase)
    cycles, rest = divmod(duration, 2 * d)
    busy_s = cycles * d + min(rest, d)
    assert abs(len(tr.pages) - w * busy_s) <= 3


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(64, 1024), st.floats(1e6, 1e8), st.integers(2, 8), st.integers(0, 2**32),
       st.sampled_from(["uniform", "hotcold", "sequential", "zipf"]))
def test_high_write_rates_saturate_without_overflow(n, w, rounds, seed, kind):
    """10**6 to 10**8 writes/s on a small guest: every page is dirty in every round, counts never exceed
    the guest's pages, and the run stops at the round cap."""
    vm = pc.VM(memory_bytes=n * 4096)
    wl = {"uniform": W.Uniform(writes_per_s=w), "hotcold": W.HotCold(wws_bytes=4096 * (n // 2), writes_per_s=w),
          "sequential": W.Sequential(region_bytes=vm.memory_bytes, writes_per_s=w),
          "zipf": W.Zipf(s=1.0, writes_per_s=w)}[kind]
    r = pc.simulate(vm, wl, pc.Link(rate_bps=1e9), Custom(max_rounds=rounds, timeout_s=5.0), seed=seed)
    _check_finite(r, vm)
    assert r.n_rounds == rounds and not r.converged
    assert r.rounds["writes"][0] > 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_shared_objects_give_unchanged_results_across_calls_and_threads(sc):
    """One VM, workload, link and policy object reused by many calls, from several threads and between
    other scenarios: every result equals the first, and the objects are unchanged."""
    import copy
    import threading
    vm, wl, link, pol, seed, aids = sc
    before = [copy.deepcopy(x) for x in (vm, wl, link, pol)]
    first = pc.simulate(vm, wl, link, pol, seed=seed, aids=aids)
    other_vm = pc.VM(memory_bytes=vm.memory_bytes * 2, page_bytes=vm.page_bytes)
    got, errors = [], []

    def work():
        try:
            for _ in range(2):
                got.append(pc.simulate(vm, wl, link, pol, seed=seed, aids=aids))
                pc.simulate(other_vm, wl, link, pol, seed=seed + 1)        # interleave another scenario
        except BaseException as e:   # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert all(r == first for r in got)
    assert [repr(x) for x in (vm, wl, link, pol)] == [repr(x) for x in before]
    if not aids:
        from precopy.sweeps import run_all
        assert all(r == first for r in run_all([(vm, wl, link, pol)] * 3, seed=seed, threads=2))
