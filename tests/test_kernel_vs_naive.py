"""The compiled kernel and the pure-Python twin agree exactly on small VMs."""

import numpy as np
import pytest

import precopy as pc
from precopy import workloads as W
from precopy.policies import Custom, QEMU, SimGrid, VMware, Xen, XenLegacy, XenNSDI05

import naive

pytestmark = pytest.mark.usefixtures("per_write_path")

VM_SMALL = pc.VM(memory_bytes=pc.KiB(4) * 4096, zero_fraction=0.125)   # 4096 pages
LINK = pc.Link(rate_bps=pc.Mbps(200))


def _workloads():
    rng = np.random.default_rng(5)
    times = np.sort(rng.uniform(0, 0.2, 3000))
    return {
        "idle": W.Idle(),
        "uniform": W.Uniform(writes_per_s=20_000),
        "hotcold": W.HotCold(wws_bytes=pc.KiB(4) * 256, hot_fraction=0.9, writes_per_s=40_000, offset_bytes=pc.KiB(400)),
        "zipf": W.Zipf(s=1.1, writes_per_s=30_000, region_bytes=pc.KiB(4) * 2048),
        "sequential": W.Sequential(region_bytes=pc.KiB(4) * 1024, writes_per_s=15_000, offset_bytes=pc.KiB(8)),
        "phased": W.Phased([(W.Idle(), 0.3), (W.HotCold(wws_bytes=pc.KiB(4) * 64, writes_per_s=80_000), 0.2),
                            (W.Sequential(region_bytes=pc.KiB(4) * 300, writes_per_s=10_000), 0.25)]),
        "trace": W.Trace(times_s=times, pages=rng.integers(0, 4096, len(times)), duration_s=0.2, loop=True),
    }


POLICIES = {
    "qemu": QEMU(max_bandwidth_bps=None),
    "qemu-skip": QEMU(max_bandwidth_bps=None, page_skip=True),
    "xen-legacy": XenLegacy(),
    "xen-legacy-address": XenLegacy().with_(send_order="address"),
    "xen-legacy-noskip": XenLegacy().with_(page_skip=False),
    "xen": Xen(),
    "xen-nsdi05": XenNSDI05(min_bps=20e6, increment_bps=10e6, max_bps=150e6),
    "xen-nsdi05-noskip": XenNSDI05(min_bps=20e6, increment_bps=10e6, max_bps=150e6).with_(page_skip=False),
    "vmware": VMware(),
    "simgrid": SimGrid(timeout_s=5.0),
    "custom": Custom(max_rounds=12, downtime_target_s=0.002, max_data_factor=4.0, header_bytes=16),
}
POLICIES = {k: p.with_(timeout_s=3.0) for k, p in POLICIES.items()}   # keep the twin quick

FIELDS = ("total_time_s", "downtime_s", "precopy_time_s", "bytes_sent", "pages_sent", "n_rounds",
          "converged", "stop_reason", "final_pages", "sync_count")
COLUMNS = ("start_s", "duration_s", "pages_sent", "pages_skipped", "pages_dirtied", "bytes_sent",
           "writes", "throttle", "rate_bps", "stop_copy", "expected_downtime_s")


def assert_same(r, ref):
    for f in FIELDS:
        assert getattr(r, f) == ref[f], f
    assert len(r.rounds) == len(ref["rounds"])
    for col in COLUMNS:
        assert list(r.rounds[col]) == [row[col] for row in ref["rounds"]], col


@pytest.mark.parametrize("wl_name", list(_workloads()))
@pytest.mark.parametrize("pol_name", list(POLICIES))
def test_kernel_matches_naive(wl_name, pol_name):
    wl, pol = _workloads()[wl_name], POLICIES[pol_name]
    r = pc.simulate(VM_SMALL, wl, LINK, pol, seed=11)
    ref = naive.simulate(VM_SMALL, wl, LINK, pol, seed=11)
    assert_same(r, ref)


@pytest.mark.parametrize("skip", [False, True])
def test_kernel_matches_naive_with_throttle(skip):
    wl = W.HotCold(wws_bytes=pc.KiB(4) * 512, hot_fraction=0.8, writes_per_s=60_000)
    pol = Custom(max_rounds=8, downtime_target_s=0.001, page_skip=skip, send_order="permuted")
    thr = [(0.0, 1.0), (0.05, 0.5), (0.2, 0.0), (0.25, 0.8)]
    r = pc.simulate(VM_SMALL, wl, LINK, pol, seed=3, throttle=thr)
    ref = naive.simulate(VM_SMALL, wl, LINK, pol, seed=3, throttle=thr)
    assert_same(r, ref)
    assert set(r.rounds["throttle"][~r.rounds["stop_copy"]]) <= {1.0, 0.5, 0.0, 0.8}


@pytest.mark.parametrize("seed", [0, 1, 2**40 + 17])
def test_seeds_and_sizes(seed):
    vm = pc.VM(memory_bytes=pc.KiB(4) * 1000)          # not a multiple of 64 pages
    wl = W.HotCold(wws_bytes=pc.KiB(4) * 100, hot_fraction=0.7, writes_per_s=30_000)
    for pol in (XenLegacy(), QEMU(max_bandwidth_bps=None, downtime_limit_s=0.001, timeout_s=2.0)):
        assert_same(pc.simulate(vm, wl, LINK, pol, seed=seed), naive.simulate(vm, wl, LINK, pol, seed=seed))


def test_splitmix_reference_values():
    # splitmix64 with state 0: published first outputs (Vigna's reference implementation)
    s, out = 0, []
    for _ in range(3):
        s, z = naive.splitmix64(s)
        out.append(z)
    assert out == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


@pytest.mark.parametrize("n", [1000, 1024, 2048, 3000, 4096, 70001])
def test_xen_permutation_is_a_bijection_with_inverse(n):
    from precopy import _kernel as K
    order = K.xen_order(n)
    seq = [K.xen_permute(i, n, order) for i in range(n)]
    assert sorted(seq) == list(range(n))
    assert seq == [naive.xen_permute(i, n) for i in range(n)]
    assert all(K.xen_unpermute(p, n, order) == i for i, p in enumerate(seq))
    if n > 2048:
        assert seq[:3] == [0, 1 << 10, 2 << 10] or n & (n - 1)   # power of two: pure rotation


def test_permuted_skip_on_non_power_of_two_vm():
    vm = pc.VM(memory_bytes=pc.KiB(4) * 3000)
    wl = W.HotCold(wws_bytes=pc.KiB(4) * 300, hot_fraction=0.9, writes_per_s=30_000)
    pol = XenLegacy(timeout_s=3.0)
    assert_same(pc.simulate(vm, wl, LINK, pol, seed=5), naive.simulate(vm, wl, LINK, pol, seed=5))


# --- convergence aids: the kernel and the twin agree exactly with each aid on ----------------

from precopy import aids as AIDS  # noqa: E402

AID_SETS = {
    "autoconverge": [AIDS.AutoConverge(check_interval_s=0.05)],
    "autoconverge-tailslow": [AIDS.AutoConverge(check_interval_s=0.02, increment=0.3, tailslow=True)],
    "dirtylimit": [AIDS.DirtyLimit(vcpus=2, vcpu_dirty_limit_Bps=pc.MiB(8), tolerance_Bps=pc.MiB(1),
                                   check_interval_s=0.05)],
    "sdps": [AIDS.SDPS()],
    "xbzrle": [AIDS.XBZRLE(cache_bytes=pc.KiB(4) * 512)],
    "xbzrle-fixed": [AIDS.XBZRLE(cache_bytes=pc.KiB(4) * 256, delta_fraction=0.3, encode_Bps=5e7)],
    "xbzrle-overflow": [AIDS.XBZRLE(cache_bytes=pc.KiB(4) * 1024, bytes_per_write=1500)],
    "compression": [AIDS.Compression(ratio=2.5, cpu_Bps=2e7, threads=1)],
    "compression-xbzrle": [AIDS.Compression(ratio=3.0), AIDS.XBZRLE(cache_bytes=pc.KiB(4) * 512)],
    "postcopy-after": [AIDS.PostCopy(after_rounds=2)],
    "postcopy-noprog": [AIDS.PostCopy(min_progress=0.2, fault_overhead_s=1e-4)],
    "postcopy-autoconverge": [AIDS.PostCopy(after_rounds=6, on_no_progress=False),
                              AIDS.AutoConverge(check_interval_s=0.02)],
    "all": [AIDS.SDPS(target_ratio=0.95), AIDS.XBZRLE(cache_bytes=pc.KiB(4) * 128),
            AIDS.Compression(ratio=2.0, cpu_Bps=1e8, decompress_cpu_Bps=5e7),
            AIDS.PostCopy(after_rounds=5, on_no_progress=False)],
}
AID_POLICIES = {
    "qemu": QEMU(max_bandwidth_bps=None, downtime_limit_s=0.002, timeout_s=3.0),
    "qemu-skip": QEMU(max_bandwidth_bps=None, downtime_limit_s=0.002, page_skip=True, timeout_s=3.0),
    "xen-legacy": XenLegacy(max_rounds=40, timeout_s=3.0),
}
AID_FIELDS = FIELDS + ("final_transfer_s", "guest_slowdown_s", "max_cpu_throttle", "postcopy_s",
                       "postcopy_pages", "postcopy_faults", "postcopy_stall_s")
AID_COLUMNS = COLUMNS + ("cpu_throttle", "guest_lost_s", "xbzrle_hits", "postcopy")
HOT = W.HotCold(wws_bytes=pc.KiB(4) * 1024, hot_fraction=0.9, writes_per_s=60_000, offset_bytes=pc.KiB(40))


def assert_same_aids(r, ref):
    for f in AID_FIELDS:
        assert getattr(r, f) == ref[f], f
    for f in ("xbzrle_hits", "xbzrle_misses", "xbzrle_overflows", "xbzrle_saved_bytes"):
        assert getattr(r, f) == ref.get(f, 0), f
    assert len(r.rounds) == len(ref["rounds"])
    for col in AID_COLUMNS:
        assert list(r.rounds[col]) == [row[col] for row in ref["rounds"]], col


@pytest.mark.parametrize("aid_name", list(AID_SETS))
@pytest.mark.parametrize("pol_name", list(AID_POLICIES))
def test_kernel_matches_naive_with_aids(aid_name, pol_name):
    aids, pol = AID_SETS[aid_name], AID_POLICIES[pol_name]
    r = pc.simulate(VM_SMALL, HOT, LINK, pol, seed=7, aids=aids)
    ref = naive.simulate(VM_SMALL, HOT, LINK, pol, seed=7, aids=aids)
    assert_same_aids(r, ref)


@pytest.mark.parametrize("wl_name", ["zipf", "sequential", "phased", "trace"])
@pytest.mark.parametrize("aid_name", ["autoconverge", "dirtylimit", "sdps", "xbzrle", "postcopy-noprog", "all"])
@pytest.mark.parametrize("skip", [False, True])
def test_aids_other_workloads(wl_name, aid_name, skip):
    pol = AID_POLICIES["qemu-skip" if skip else "qemu"]
    wl = _workloads()[wl_name]
    r = pc.simulate(VM_SMALL, wl, LINK, pol, seed=5, aids=AID_SETS[aid_name])
    ref = naive.simulate(VM_SMALL, wl, LINK, pol, seed=5, aids=AID_SETS[aid_name])
    assert_same_aids(r, ref)


@pytest.mark.parametrize("skip", [False, True])
def test_aids_with_throttle_schedule_and_switchover(skip):
    pol = AID_POLICIES["qemu-skip" if skip else "qemu"]
    thr = [(0.0, 1.0), (0.3, 0.6), (0.9, 0.9)]
    sw = pc.Switchover(device_state_bytes=pc.KiB(300), announce_heard=3)
    for aids in (AID_SETS["autoconverge"], AID_SETS["postcopy-after"], AID_SETS["all"]):
        r = pc.simulate(VM_SMALL, HOT, LINK, pol, seed=2, throttle=thr, switchover=sw, aids=aids)
        ref = naive.simulate(VM_SMALL, HOT, LINK, pol, seed=2, throttle=thr, switchover=sw, aids=aids)
        assert_same_aids(r, ref)


def test_aid_cases_exercise_their_paths():
    """Guard against a comparison that passes because nothing happened."""
    pol = AID_POLICIES["qemu"]
    got = {k: pc.simulate(VM_SMALL, HOT, LINK, pol, seed=7, aids=a) for k, a in AID_SETS.items()}
    assert got["autoconverge"].max_cpu_throttle >= 0.3
    assert got["dirtylimit"].max_cpu_throttle > 0.5
    assert got["sdps"].max_cpu_throttle > 0
    assert got["xbzrle"].xbzrle_hits > 0 and got["xbzrle"].xbzrle_misses > 0
    assert got["xbzrle-overflow"].xbzrle_overflows > 0
    assert got["compression"].compression_saved_bytes > 0
    assert got["postcopy-after"].stop_reason == "postcopy" and got["postcopy-after"].postcopy_faults > 0
    assert got["postcopy-noprog"].stop_reason == "postcopy"
    assert got["postcopy-autoconverge"].max_cpu_throttle > 0 and got["postcopy-autoconverge"].n_rounds == 7
    assert got["all"].stop_reason == "postcopy" and got["all"].xbzrle_hits > 0
