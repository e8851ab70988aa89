"""QEMU's dirty-bitmap sync cadence (``Policy.sync_cadence='threshold'``): the
kernel agrees exactly with the plain twin (workloads, zero pages, aids, controls,
checks every page or every chunk), and the invariants QEMU's loop implies hold."""

import pytest

import precopy as pc
from precopy import aids as A
from precopy import workloads as W
from precopy.config import IDENTITY_RTOL
from precopy.policies import Controls, Custom, QEMU, VMware, Xen, XenLegacy, XenNSDI05

import naive
from test_kernel_vs_naive import AID_COLUMNS, AID_FIELDS, LINK, VM_SMALL, _workloads, assert_same

pytestmark = pytest.mark.usefixtures("per_write_path")

# 1000 pages (not a multiple of 64), 30 % zero pages at the end
VM_ZERO = pc.VM(memory_bytes=pc.KiB(4) * 1000, zero_fraction=0.3)
#: 0.4 Mbit/s: QEMU checks its estimate after every page (chunk of 1 page)
SLOW = pc.Link(rate_bps=4e5)
#: 4 Mbit/s: every 5 pages
MID = pc.Link(rate_bps=4e6)


def _chunk(vm, link, pol):
    from precopy.scenario import Prepared
    return Prepared(vm, W.Idle(), link, pol).protocol.chunk


def test_chunk_is_qemus_check_interval():
    assert _chunk(VM_ZERO, SLOW, QEMU(max_bandwidth_bps=None)) == 1
    assert _chunk(VM_ZERO, MID, QEMU(max_bandwidth_bps=None)) == int(MID.goodput_bps / 8 * 0.05 // 4104) == 5
    # capped at 128 MiB/s on 10 GbE: one 100 ms window of the cap (12.8 MiB)
    vm = pc.VM(memory_bytes=pc.GiB(1))
    link = pc.Link(rate_bps=pc.Gbps(10))
    assert _chunk(vm, link, QEMU()) == int(pc.MiB(128) * 0.1 // 4104)
    assert _chunk(vm, link, QEMU(sync_cadence="pass")) == 1


def _wl():
    return {
        "idle": W.Idle(),
        "uniform": W.Uniform(writes_per_s=40),
        "hotcold": W.HotCold(wws_bytes=pc.KiB(4) * 64, hot_fraction=0.9, writes_per_s=60, offset_bytes=pc.KiB(40)),
        "zero-region": W.HotCold(wws_bytes=pc.KiB(4) * 100, hot_fraction=1.0, writes_per_s=30,
                                 offset_bytes=pc.KiB(4) * 850),
        "sequential": W.Sequential(region_bytes=pc.KiB(4) * 200, writes_per_s=25, offset_bytes=pc.KiB(8)),
    }


@pytest.mark.parametrize("link_name", ["slow", "mid"])
@pytest.mark.parametrize("wl_name", list(_wl()))
@pytest.mark.parametrize("limit_s", [0.05, 0.3])
def test_threshold_cadence_matches_twin_small_chunks(link_name, wl_name, limit_s):
    link = SLOW if link_name == "slow" else MID
    pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=limit_s, timeout_s=400.0)
    wl = _wl()[wl_name]
    r = pc.simulate(VM_ZERO, wl, link, pol, seed=3)
    ref = naive.simulate(VM_ZERO, wl, link, pol, seed=3)
    assert_same(r, ref)


@pytest.mark.parametrize("wl_name", list(_workloads()))
@pytest.mark.parametrize("zero", [0.0, 0.4])
def test_threshold_cadence_matches_twin_workloads(wl_name, zero):
    vm = pc.VM(memory_bytes=pc.KiB(4) * 4096, zero_fraction=zero)
    for pol in (QEMU(max_bandwidth_bps=None, downtime_limit_s=0.004, timeout_s=3.0),
                QEMU(max_bandwidth_bps=pc.Mbps(120), timeout_s=3.0),
                Custom(downtime_target_s=0.003, max_rounds=40, timeout_s=3.0).with_(sync_cadence="threshold")):
        r = pc.simulate(vm, _workloads()[wl_name], LINK, pol, seed=9)
        ref = naive.simulate(vm, _workloads()[wl_name], LINK, pol, seed=9)
        assert_same(r, ref)


AIDS = {
    "autoconverge": [A.AutoConverge(check_interval_s=0.05)],
    "dirtylimit": [A.DirtyLimit(vcpus=2, vcpu_dirty_limit_Bps=pc.MiB(8), tolerance_Bps=pc.MiB(1),
                                check_interval_s=0.05)],
    "xbzrle": [A.XBZRLE(cache_bytes=pc.KiB(4) * 512)],
    "xbzrle-fixed": [A.XBZRLE(cache_bytes=pc.KiB(4) * 256, delta_fraction=0.3, encode_Bps=5e7)],
    "compression": [A.Compression(ratio=2.5, cpu_Bps=2e7, threads=1)],
    "compression-xbzrle": [A.Compression(ratio=3.0), A.XBZRLE(cache_bytes=pc.KiB(4) * 512)],
    "postcopy": [A.PostCopy(after_rounds=4)],
    "postcopy-noprog": [A.PostCopy(min_progress=0.2, fault_overhead_s=1e-4)],
    "all": [A.SDPS(target_ratio=0.95), A.XBZRLE(cache_bytes=pc.KiB(4) * 128),
            A.Compression(ratio=2.0, cpu_Bps=1e8, decompress_cpu_Bps=5e7),
            A.PostCopy(after_rounds=5, on_no_progress=False)],
}
HOT = W.HotCold(wws_bytes=pc.KiB(4) * 1024, hot_fraction=0.9, writes_per_s=60_000, offset_bytes=pc.KiB(40))


def assert_same_aids(r, ref):
    for f in AID_FIELDS + ("sync_count",):
        assert getattr(r, f) == ref[f], f
    for f in ("xbzrle_hits", "xbzrle_misses", "xbzrle_overflows", "xbzrle_saved_bytes"):
        assert getattr(r, f) == ref.get(f, 0), f
    assert len(r.rounds) == len(ref["rounds"])
    for col in AID_COLUMNS + ("expected_downtime_s",):
        assert list(r.rounds[col]) == [row[col] for row in ref["rounds"]], col


@pytest.mark.parametrize("aid_name", list(AIDS))
@pytest.mark.parametrize("zero", [0.0, 0.25])
def test_threshold_cadence_matches_twin_with_aids(aid_name, zero):
    vm = pc.VM(memory_bytes=pc.KiB(4) * 4096, zero_fraction=zero)
    pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=0.002, timeout_s=3.0)
    r = pc.simulate(vm, HOT, LINK, pol, seed=7, aids=AIDS[aid_name])
    ref = naive.simulate(vm, HOT, LINK, pol, seed=7, aids=AIDS[aid_name])
    assert_same_aids(r, ref)


def test_threshold_cadence_aid_cases_exercise_their_paths():
    pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=0.002, timeout_s=3.0)
    got = {k: pc.simulate(VM_SMALL, HOT, LINK, pol, seed=7, aids=a) for k, a in AIDS.items()}
    assert got["autoconverge"].max_cpu_throttle > 0
    assert got["xbzrle"].xbzrle_hits > 0
    assert got["postcopy"].stop_reason == "postcopy"


CONTROLS = {
    "downtime-ramp": Controls(downtime_schedule=[(0, 0.0002), (0.4, 0.002), (0.9, 0.02)]),
    "complete-abort": Controls(completion_timeout_s=0.5),
    "complete-force": Controls(completion_timeout_s=0.5, completion_action="force"),
    "complete-postcopy": Controls(completion_timeout_s=0.5, completion_action="postcopy"),
    "progress-force": Controls(progress_timeout_s=0.3, progress_action="force"),
    "rate-drop": Controls(rate_schedule=[(0, 150e6), (0.3, 60e6), (0.8, 200e6)]),
    "all": Controls(downtime_schedule=[(0, 0.0001), (1.0, 0.001)], completion_timeout_s=2.0,
                    completion_action="force", progress_timeout_s=0.6, progress_action="abort",
                    rate_schedule=[(0, 200e6), (0.25, 100e6)]),
}


@pytest.mark.parametrize("ctl_name", list(CONTROLS))
@pytest.mark.parametrize("wl_name", ["hotcold", "zipf", "phased"])
def test_threshold_cadence_matches_twin_with_controls(ctl_name, wl_name):
    pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=0.0002, timeout_s=3.0, controls=CONTROLS[ctl_name])
    wl = _workloads()[wl_name]
    r = pc.simulate(VM_SMALL, wl, LINK, pol, seed=7)
    ref = naive.simulate(VM_SMALL, wl, LINK, pol, seed=7)
    assert_same(r, ref)
    assert r.outcome == ref["outcome"]


def test_threshold_cadence_matches_twin_with_throttle_and_switchover():
    pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=0.002, timeout_s=3.0)
    thr = [(0.0, 1.0), (0.3, 0.6), (0.9, 0.9)]
    sw = pc.Switchover(device_state_bytes=pc.KiB(300), announce_heard=3)
    for aids in (AIDS["autoconverge"], AIDS["all"]):
        r = pc.simulate(VM_SMALL, HOT, LINK, pol, seed=2, throttle=thr, switchover=sw, aids=aids)
        ref = naive.simulate(VM_SMALL, HOT, LINK, pol, seed=2, throttle=thr, switchover=sw, aids=aids)
        assert_same_aids(r, ref)


# --- invariants of QEMU's loop ----------------------------------------------------------------

CASES = [(VM_ZERO, wl, link, lim) for wl in _wl().values() for link in (SLOW, MID) for lim in (0.05, 0.3)]


@pytest.mark.parametrize("seed", [0, 1])
def test_invariants_of_the_threshold_cadence(seed):
    checked = 0
    for vm, wl, link, lim in CASES:
        pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=lim, timeout_s=400.0)
        r = pc.simulate(vm, wl, link, pol, seed=seed)
        live = ~r.rounds["stop_copy"]
        n_live = int((~r.rounds["stop_copy"]).sum())
        if not r.converged:
            continue
        checked += 1
        thr_bytes = r.rate_bps / 8.0 * lim
        # one round per sync; setup and completion syncs around them
        assert n_live == r.sync_count - 2
        # the RAM part of the downtime: what was set at the deciding sync fits the threshold
        assert r.final_pages * vm.page_bytes < thr_bytes
        wire = (vm.page_bytes + pol.header_bytes) / vm.page_bytes
        assert r.final_transfer_s <= lim * wire * (r.rate_bps / r.final_rate_bps) * (1 + IDENTITY_RTOL)
        # QEMU's expected downtime at the deciding sync is below the limit; at the others not
        exp = r.rounds["expected_downtime_s"][live]
        assert exp[-1] < lim * (1 + IDENTITY_RTOL)
        assert all(e >= lim * (1 - IDENTITY_RTOL) for e in exp[:-1])
        # every page of memory was sent at least once (the bulk pass, possibly across rounds)
        assert r.pages_sent >= vm.n_pages
    assert checked >= len(CASES) // 2


def test_downtime_is_close_to_the_threshold_for_an_idle_guest():
    """The idle guest that QEMU's cadence is about: the bulk pass stops when what
    is left of it fits the threshold, and that rest goes inside the downtime (its
    zero pages header-only)."""
    vm = pc.VM(memory_bytes=pc.GiB(1), zero_fraction=0.5)
    link = pc.Link(rate_bps=pc.Gbps(10))
    pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=0.3)
    thr = pol.downtime_limit_s * link.goodput_bps / 8.0
    r = pc.simulate(vm, W.Idle(), link, pol)
    assert r.sync_count == 3 and r.n_rounds == 2
    chunk = _chunk(vm, link, pol)
    # the pages left when the estimate first fits: less than a chunk below the threshold
    assert thr - chunk * vm.page_bytes < r.final_pages * vm.page_bytes < thr
    # they are the end of memory, whose zero pages (the last half) go header-only
    nz = min(r.final_pages, vm.n_zero_pages)
    H = pol.header_bytes
    assert r.rounds["bytes_sent"][-1] == (r.final_pages - nz) * (vm.page_bytes + H) + nz * H
    # the pass cadence sends all memory first and leaves nothing
    p = pc.simulate(vm, W.Idle(), link, pol.with_(sync_cadence="pass"))
    assert p.final_pages == 0 and p.downtime_s < r.downtime_s


def test_pass_cadence_is_unchanged_for_xen_vmware_and_textbook():
    for pol in (Xen(), XenLegacy(), XenNSDI05(), VMware(), Custom(max_rounds=5)):
        assert pol.sync_cadence == "pass"
    assert QEMU().sync_cadence == "threshold"
    assert pc.hypervisors.get("qemu-2.x").policy().sync_cadence == "threshold"


def test_orchestrators_build_on_the_threshold_cadence():
    from precopy import orchestrators as O
    vm = pc.VM(memory_bytes=pc.GiB(4))
    for o in (O.NoOrchestrator(), O.Libvirt(), O.KubeVirt(), O.Nova()):
        assert o.plan(vm).policy.sync_cadence == "threshold"


def test_sync_count_of_the_pass_cadence():
    vm, wl = VM_SMALL, _workloads()["hotcold"]
    r = pc.simulate(vm, wl, LINK, QEMU(max_bandwidth_bps=None, downtime_limit_s=0.002, sync_cadence="pass",
                                       timeout_s=3.0))
    assert r.sync_count == 1 + int((~r.rounds["stop_copy"]).sum()) + 1
    a = pc.simulate(vm, wl, LINK, QEMU(max_bandwidth_bps=None, downtime_limit_s=0.0002, timeout_s=3.0,
                                       controls=Controls(completion_timeout_s=0.5)))
    assert a.outcome == "aborted" and a.sync_count == 1 + a.n_rounds


@pytest.mark.parametrize("bad, match", [
    (dict(sync_cadence="chunk"), "sync_cadence must be one of 'pass', 'threshold'"),
    (dict(sync_cadence="threshold", page_skip=True), "sync_cadence must be 'pass' with page_skip"),
    (dict(sync_cadence="threshold", adaptive_rate=pc.policies.AdaptiveRate()), "sync_cadence must be 'pass' with an"),
    (dict(sync_cadence=None), "sync_cadence must be one of"),
])
def test_sync_cadence_is_checked(bad, match):
    with pytest.raises(ValueError, match=match):
        pc.policies.Policy(**bad)
    with pytest.raises(ValueError, match="sync_cadence"):
        QEMU().with_(page_skip=True)
