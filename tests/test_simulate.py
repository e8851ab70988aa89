"""Invariants, closed forms and input checks of the public simulate()."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import precopy as pc
from precopy import workloads as W
from precopy.config import IDENTITY_RTOL
from precopy.policies import Custom, QEMU, SimGrid, VMware, Xen, XenLegacy

VM = pc.VM(memory_bytes=pc.MiB(64))
LINK = pc.Link(rate_bps=pc.Gbps(1))
ALL_POLICIES = [QEMU(), QEMU(max_bandwidth_bps=None), XenLegacy(), Xen(), VMware(), SimGrid(timeout_s=30),
                Custom(max_rounds=10, downtime_target_s=0.05)]


@pytest.mark.parametrize("pol", ALL_POLICIES, ids=lambda p: p.name)
def test_idle_vm_one_round_sends_memory_plus_headers(pol):
    r = pc.simulate(VM, W.Idle(), LINK, pol, seed=0)
    # QEMU's cadence: the bulk pass stops when its rest fits the threshold; the rest goes in the downtime
    assert r.n_rounds == (2 if pol.sync_cadence == "threshold" else 1)
    assert r.sync_count == 3       # setup, the deciding sync, completion
    assert r.bytes_sent == VM.memory_bytes + VM.n_pages * pol.header_bytes
    assert r.converged


def test_idle_vm_zero_pages_are_header_only():
    vm = pc.VM(memory_bytes=pc.MiB(64), zero_fraction=0.25)
    r = pc.simulate(vm, W.Idle(), LINK, QEMU(), seed=0)
    z = vm.n_zero_pages
    assert z == vm.n_pages // 4
    assert r.bytes_sent == (vm.n_pages - z) * (vm.page_bytes + 8) + z * 8


def test_small_vm_under_qemu_is_sent_while_stopped():
    # QEMU checks its threshold before the bulk pass: 1 MiB fits 300 ms at any link here
    r = pc.simulate(pc.VM(memory_bytes=pc.MiB(1)), W.Uniform(writes_per_s=1e5), LINK, QEMU(), seed=0)
    assert r.n_rounds == 1 and r.rounds["stop_copy"][0] and r.precopy_time_s == 0.0


@pytest.mark.parametrize("pol", ALL_POLICIES, ids=lambda p: p.name)
@pytest.mark.parametrize("wl", [W.Uniform(writes_per_s=20_000), W.HotCold(wws_bytes=pc.MiB(4), writes_per_s=50_000),
                                W.Sequential(region_bytes=pc.MiB(32), writes_per_s=40_000)], ids=type)
def test_invariants(pol, wl):
    r = pc.simulate(VM, wl, LINK, pol, seed=4)
    t = r.rounds
    assert r.bytes_sent >= VM.memory_bytes
    assert math.isfinite(r.total_time_s) and math.isfinite(r.downtime_s)
    assert r.total_time_s == pytest.approx(r.precopy_time_s + r.downtime_s, rel=IDENTITY_RTOL)
    assert r.downtime_s == pytest.approx(r.final_transfer_s + r.device_state_s + r.resume_s, rel=IDENTITY_RTOL)
    assert t["bytes_sent"].sum() == pytest.approx(r.bytes_sent, rel=IDENTITY_RTOL)
    assert t["pages_sent"].sum() == r.pages_sent
    if not pol.page_skip:
        assert t["pages_skipped"].sum() == 0
    if pol.max_rounds:
        assert r.n_rounds <= pol.max_rounds
    # rounds are back to back; the stop-and-copy is last and only there
    live = ~t["stop_copy"]
    np.testing.assert_allclose(t["start_s"][1:], (t["start_s"] + t["duration_s"])[:-1], rtol=1e-12)
    assert not t["stop_copy"][:-1].any()
    # a live round dirties at most the pages it wrote
    assert (t["pages_dirtied"][live] <= t["writes"][live]).all()
    # each round sends what the previous one dirtied (no skip)
    if not pol.page_skip and pol.sync_cadence == "pass":
        assert (t["pages_sent"][1:] == t["pages_dirtied"][:-1]).all()
    elif pol.sync_cadence == "threshold":
        # QEMU's cadence: the pages set at a sync (its expected downtime x bandwidth) are what was
        # set before, less the pages sent, plus at most the pages dirtied; the next round sends
        # some of them, the stop-and-copy all
        pend = np.round(t["expected_downtime_s"] * r.rate_bps / 8 / VM.page_bytes).astype(np.int64)[live]
        before = np.concatenate([[VM.n_pages], pend[:-1]])
        sent, dirtied = t["pages_sent"][live], t["pages_dirtied"][live]
        assert (pend >= before - sent).all() and (pend <= before - sent + dirtied).all()
        assert (sent <= before).all()
        if t["stop_copy"][-1]:
            assert t["pages_sent"][-1] == pend[-1]
    assert r.converged == (r.stop_reason in ("downtime_limit", "dirty_pages", "round_pages", "no_dirty_pages"))


def test_page_skip_skips_and_saves_bytes():
    wl = W.HotCold(wws_bytes=pc.MiB(2), hot_fraction=0.95, writes_per_s=60_000)
    on = pc.simulate(VM, wl, LINK, XenLegacy(), seed=1)
    off = pc.simulate(VM, wl, LINK, XenLegacy().with_(page_skip=False), seed=1)
    assert on.rounds["pages_skipped"].sum() > 0
    assert off.rounds["pages_skipped"].sum() == 0
    assert on.rounds["bytes_sent"][0] < off.rounds["bytes_sent"][0]


def test_same_seed_same_result_other_seed_differs():
    wl = W.HotCold(wws_bytes=pc.MiB(8), writes_per_s=80_000)
    a = pc.simulate(VM, wl, LINK, Xen(), seed=7)
    b = pc.simulate(VM, wl, LINK, Xen(), seed=7)
    c = pc.simulate(VM, wl, LINK, Xen(), seed=8)
    assert a == b
    assert a.rounds["pages_dirtied"].tolist() != c.rounds["pages_dirtied"].tolist()


def test_same_result_on_any_thread_count():
    code = ("import precopy as pc; from precopy import workloads as W; "
            "r = pc.simulate(pc.VM(memory_bytes=pc.MiB(64)), W.Zipf(writes_per_s=5e4), pc.Link(rate_bps=1e9), "
            "'xen-legacy', seed=3); print(repr(r.total_time_s), repr(r.bytes_sent), r.n_rounds)")
    outs = set()
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout)
    r = pc.simulate(VM, W.Zipf(writes_per_s=5e4), pc.Link(rate_bps=1e9), "xen-legacy", seed=3)
    outs.add(f"{r.total_time_s!r} {r.bytes_sent!r} {r.n_rounds}\n")
    assert len(outs) == 1


def test_results_monotone_in_bandwidth():
    wl = W.Uniform(writes_per_s=20_000)
    prev = math.inf
    for gbps in (1, 2.5, 10, 25, 100):
        r = pc.simulate(VM, wl, pc.Link(rate_bps=pc.Gbps(gbps)), QEMU(max_bandwidth_bps=None), seed=2)
        assert r.total_time_s < prev
        prev = r.total_time_s


def test_non_converging_migration_times_out():
    # 64 MiB hot set rewritten far faster than 128 MiB/s can send it
    wl = W.HotCold(wws_bytes=pc.MiB(48), hot_fraction=1.0, writes_per_s=200_000)
    r = pc.simulate(VM, wl, LINK, QEMU(timeout_s=20.0), seed=0)
    assert not r.converged and r.stop_reason == "timeout"
    assert r.precopy_time_s >= 20.0 and math.isfinite(r.downtime_s)
    r2 = pc.simulate(VM, wl, LINK, XenLegacy(), seed=0)
    assert not r2.converged and r2.stop_reason in ("max_rounds", "max_data")


def test_final_copy_runs_at_full_link_rate():
    r = pc.simulate(VM, W.Uniform(writes_per_s=5_000), pc.Link(rate_bps=pc.Gbps(10)), QEMU(), seed=0)
    assert r.rate_bps == pytest.approx(128 * 2**20 * 8)
    assert r.final_rate_bps == pytest.approx(pc.Link(rate_bps=pc.Gbps(10)).goodput_bps)
    assert r.final_transfer_s == pytest.approx(r.final_pages * (4096 + 8) * 8 / r.final_rate_bps)


def test_throttle_scales_write_rate():
    wl = W.Uniform(writes_per_s=10_000)
    full = pc.simulate(VM, wl, LINK, Xen(), seed=0)
    half = pc.simulate(VM, wl, LINK, Xen(), seed=0, throttle=[(0.0, 0.5)])
    assert half.rounds["writes"][0] == pytest.approx(full.rounds["writes"][0] / 2, abs=1)
    stopped = pc.simulate(VM, wl, LINK, Xen(), seed=0, throttle=[(0.0, 0.0)])
    assert stopped.n_rounds == 1


def test_round_table_exports():
    r = pc.simulate(VM, W.Uniform(writes_per_s=10_000), LINK, QEMU(), seed=0)
    text = r.rounds.to_csv()
    assert text.splitlines()[0].startswith("round,start_s,duration_s")
    assert len(text.splitlines()) == len(r.rounds) + 1
    assert "<table>" in r.rounds._repr_html_()
    assert r.rounds[0]["round"] == 0 and "downtime" in r.summary()


# ---------------------------------------------------------------- bad input
BAD = [
    (lambda: pc.VM(memory_bytes=0), "memory_bytes"),
    (lambda: pc.VM(memory_bytes=-4096), "memory_bytes"),
    (lambda: pc.VM(memory_bytes=pc.MiB(1), page_bytes=3000), "page_bytes"),
    (lambda: pc.VM(memory_bytes=pc.MiB(1) + 512, page_bytes=4096), "memory_bytes"),
    (lambda: pc.VM(memory_bytes=float("nan")), "memory_bytes"),
    (lambda: pc.VM(memory_bytes=pc.MiB(1), zero_fraction=1.5), "zero_fraction"),
    (lambda: pc.VM(memory_bytes=pc.TiB(32), page_bytes=4096), "memory_bytes"),
    (lambda: W.HotCold(wws_bytes=pc.MiB(1), hot_fraction=-0.1, writes_per_s=1), "hot_fraction"),
    (lambda: W.HotCold(wws_bytes=pc.MiB(1), hot_fraction=float("nan"), writes_per_s=1), "hot_fraction"),
    (lambda: W.Uniform(writes_per_s=-5), "writes_per_s"),
    (lambda: W.Uniform(writes_per_s=float("inf")), "writes_per_s"),
    (lambda: W.Zipf(s=-1, writes_per_s=1), "s"),
    (lambda: W.Sequential(region_bytes=0, writes_per_s=1), "region_bytes"),
    (lambda: W.Phased([]), "phases"),
    (lambda: W.Phased([(W.Idle(), 0)]), "duration_s"),
    (lambda: pc.Link(rate_bps=0), "rate_bps"),
    (lambda: pc.Link(rate_bps=1e9, mtu=100), "mtu"),
    (lambda: pc.Link(rate_bps=1e9, streams=0), "streams"),
    (lambda: pc.policies.get("hyperv"), "policy"),
    (lambda: QEMU(downtime_limit_s=-0.1), "downtime_limit_s"),
    (lambda: XenLegacy(max_rounds=1), "max_rounds"),
    (lambda: Custom(send_order="random"), "send_order"),
    (lambda: pc.simulate(VM, W.HotCold(wws_bytes=pc.MiB(128), writes_per_s=1), LINK), "wws_bytes"),
    (lambda: pc.simulate(VM, W.HotCold(wws_bytes=pc.KiB(6), writes_per_s=1), LINK), "wws_bytes"),
    (lambda: pc.simulate(VM, W.Idle(), LINK, seed=-1), "seed"),
    (lambda: pc.simulate(VM, W.Idle(), LINK, throttle=[(1.0, 0.5)]), "start_s"),
    (lambda: pc.simulate(VM, W.Idle(), LINK, throttle=[(0.0, 1.5)]), "factor"),
    (lambda: pc.simulate(VM, W.Idle(), LINK, "nope"), "policy"),
    (lambda: pc.simulate(pc.VM(memory_bytes=pc.GiB(1)), W.Idle(), pc.Link(rate_bps=1e6), QEMU(timeout_s=1)),
     "timeout_s"),
    (lambda: pc.simulate(VM, W.Trace(times_s=[0.0], pages=np.array([10**9]), duration_s=1), LINK), "pages"),
]


@pytest.mark.parametrize("make,name", BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_input_raises_value_error_naming_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_bad_input_fails_before_any_compilation():
    code = ("import precopy as pc; from precopy import _kernel as K\n"
            "try:\n    pc.simulate(pc.VM(memory_bytes=pc.MiB(64)), pc.workloads.HotCold(wws_bytes=pc.GiB(1), "
            "writes_per_s=1), pc.Link(rate_bps=1e9))\nexcept ValueError as e:\n    print('ValueError', e)\n"
            "print(len(K.simulate_kernel.signatures), len(K.simulate_kernel.overloads))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ValueError") and "wws_bytes" in out
    assert out.strip().endswith("0 0")


def test_unit_helpers():
    assert pc.GiB(16) // pc.KiB(4) == 4194304
    assert pc.Gbps(10) == 1e10 and pc.ms(300) == 0.3
    assert pc.units.parse_bytes("16GiB") == pc.GiB(16)
    assert pc.units.parse_rate_bps("25GbE") == 25e9
    with pytest.raises(ValueError, match="size"):
        pc.units.parse_bytes("sixteen")


# ------------------------------------------------- Clark et al.'s adaptive rate
def test_nsdi05_rate_follows_the_dirtying_rate_plus_increment():
    from precopy.policies import XenNSDI05
    vm = pc.VM(memory_bytes=pc.MiB(256))
    wl = W.HotCold(wws_bytes=pc.MiB(8), hot_fraction=0.9, writes_per_s=3_000)
    r = pc.simulate(vm, wl, pc.Link(rate_bps=pc.Gbps(1)), XenNSDI05(), seed=0)
    t = r.rounds
    live = ~t["stop_copy"]
    assert t["rate_bps"][0] == 100e6                                  # the bulk pass at the minimum
    dirty_rate = t["pages_dirtied"][live] * vm.page_bytes * 8 / t["duration_s"][live]
    expect = np.clip(dirty_rate[:-1] + 50e6, 100e6, None)
    np.testing.assert_allclose(t["rate_bps"][live][1:], expect, rtol=1e-12)
    np.testing.assert_allclose(t["duration_s"][live], t["bytes_sent"][live] * 8 / t["rate_bps"][live], rtol=1e-12)
    if t["stop_copy"][-1]:
        assert t["rate_bps"][-1] == 500e6                             # the final copy at the maximum
    assert r.final_rate_bps == 500e6


def test_nsdi05_stops_on_rate_or_small_remainder():
    from precopy.policies import XenNSDI05
    vm = pc.VM(memory_bytes=pc.MiB(512))
    link = pc.Link(rate_bps=pc.Gbps(1))
    # MMuncher-like: a 256 MiB region rewritten faster than 500 Mbit/s: gives up, not converged
    heavy = pc.simulate(vm, W.Sequential(region_bytes=pc.MiB(256), writes_per_s=150_000), link, XenNSDI05(), seed=0)
    assert heavy.stop_reason == "max_rate" and not heavy.converged
    # a small hot set: converges once less than 256 KiB is dirty
    light = pc.simulate(vm, W.HotCold(wws_bytes=pc.KiB(128), hot_fraction=1.0, writes_per_s=2_000), link,
                        XenNSDI05(), seed=0)
    assert light.stop_reason == "dirty_pages" and light.converged
    assert light.final_pages * vm.page_bytes < 256 * 1024


def test_adaptive_rate_input_checks():
    from precopy.policies import AdaptiveRate, XenNSDI05
    with pytest.raises(ValueError, match="max_bps"):
        AdaptiveRate(min_bps=2e8, max_bps=1e8)
    with pytest.raises(ValueError, match="min_bps"):
        AdaptiveRate(min_bps=0)
    with pytest.raises(ValueError, match="aids"):
        pc.simulate(VM, W.Idle(), LINK, XenNSDI05(), aids=[pc.aids.SDPS()])
    with pytest.raises(ValueError, match="geometric"):
        pc.analytic.predict(VM, W.Uniform(writes_per_s=10), LINK, XenNSDI05(), model="geometric")


# --- threads, short phases, interrupts ------------------------------------------------------------

def test_one_prepared_from_two_threads_equals_serial():
    from precopy import sweeps
    vm = pc.VM(memory_bytes=pc.MiB(64))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(8), hot_fraction=0.9, writes_per_s=40_000)
    for pol in (pc.policies.QEMU(max_bandwidth_bps=None), pc.policies.XenLegacy()):
        p = pc.Prepared(vm, wl, pc.Link(rate_bps=pc.Gbps(1)), pol, aids=[pc.aids.XBZRLE(cache_bytes=pc.MiB(4))])
        serial = sweeps.run_all([p] * 6, seed=3, threads=1)
        threaded = sweeps.run_all([p] * 6, seed=3, threads=2)
        assert threaded == serial
        assert all(r == serial[0] for r in serial)
        assert serial[0].stop_reason != "running"


@pytest.mark.parametrize("phase_s", [0.3e-3, 0.05e-3, 1.7e-4])
def test_phases_shorter_than_a_write_interval_keep_their_writes(phase_s):
    # half the time uniform at 1e4 writes/s: 5000 writes/s, however short the phases
    wl = pc.workloads.Phased([(pc.workloads.Uniform(writes_per_s=1e4), phase_s), (pc.workloads.Idle(), phase_s)])
    vm = pc.VM(memory_bytes=pc.MiB(16))
    tr = pc.workloads.Trace.record(wl, vm, duration_s=1.0, seed=1)      # the skip-on engine's generator
    assert abs(len(tr.pages) - 5000) <= 2
    r = pc.simulate(vm, wl, pc.Link(rate_bps=pc.Mbps(100), mtu=None), pc.policies.Custom(max_rounds=4), seed=1)
    live = ~r.rounds["stop_copy"]
    rate = r.rounds["writes"][live].sum() / r.precopy_time_s          # the skip-off engine
    assert rate == pytest.approx(5000, rel=2e-3)


_INTERRUPT = """
import sys, time
import precopy as pc
vm = pc.VM(memory_bytes=pc.GiB(1))
wl = pc.workloads.Uniform(writes_per_s=1e9)
pol = pc.policies.{policy}(timeout_s=1e6)
pc.simulate(pc.VM(memory_bytes=pc.MiB(1)), pc.workloads.Uniform(writes_per_s=1e3), pc.Link(rate_bps=pc.Gbps(10)),
            pol.with_(timeout_s=1.0))   # compile / load
print("go", flush=True)
t0 = time.perf_counter()
try:
    pc.simulate(vm, wl, pc.Link(rate_bps=pc.Gbps(10)), pol)
except KeyboardInterrupt:
    print("interrupted after", time.perf_counter() - t0, flush=True)
    sys.exit(3)
print("finished", flush=True)
"""


@pytest.mark.parametrize("policy", ["Custom", "XenLegacy"])
def test_ctrl_c_stops_a_long_simulation(policy):
    import os
    import signal
    import subprocess
    import sys
    import time
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPT.format(policy=policy)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "go"
        time.sleep(1.0)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        waited = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, (out, err)
    assert "interrupted after" in out
    assert waited < 60      # generous: it stops within one batch of writes, well under a second when idle
