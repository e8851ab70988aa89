"""Run-time controls (downtime and rate schedules, completion and progress timeouts):
the kernel agrees exactly with the plain twin, the analytic engine with its twin,
and each control does what it says."""

import numpy as np
import pytest

import precopy as pc
from precopy import workloads as W
from precopy.policies import Controls, Custom, QEMU, Xen, XenLegacy

import naive
from test_kernel_vs_naive import LINK, VM_SMALL, _workloads, assert_same

pytestmark = pytest.mark.usefixtures("per_write_path")

CONTROLS = {
    "downtime-ramp": Controls(downtime_schedule=[(0, 0.0002), (0.4, 0.002), (0.9, 0.02)]),
    "complete-abort": Controls(completion_timeout_s=0.5),
    "complete-force": Controls(completion_timeout_s=0.5, completion_action="force"),
    "complete-postcopy": Controls(completion_timeout_s=0.5, completion_action="postcopy"),
    "progress-abort": Controls(progress_timeout_s=0.3),
    "progress-force": Controls(progress_timeout_s=0.3, progress_action="force"),
    "rate-drop": Controls(rate_schedule=[(0, 150e6), (0.3, 60e6), (0.8, 200e6)]),
    "all": Controls(downtime_schedule=[(0, 0.0001), (1.0, 0.001)], completion_timeout_s=2.0,
                    completion_action="force", progress_timeout_s=0.6, progress_action="abort",
                    rate_schedule=[(0, 200e6), (0.25, 100e6)]),
}
POLICIES = {
    "qemu": QEMU(max_bandwidth_bps=None, downtime_limit_s=0.0002, timeout_s=3.0),
    "xen-legacy": XenLegacy(timeout_s=3.0),
    "xen": Xen(timeout_s=3.0),
}


@pytest.mark.parametrize("ctl_name", list(CONTROLS))
@pytest.mark.parametrize("pol_name", list(POLICIES))
@pytest.mark.parametrize("wl_name", ["hotcold", "zipf", "phased"])
def test_kernel_matches_naive_with_controls(ctl_name, pol_name, wl_name):
    wl = _workloads()[wl_name]
    pol = POLICIES[pol_name].with_(controls=CONTROLS[ctl_name])
    r = pc.simulate(VM_SMALL, wl, LINK, pol, seed=7)
    ref = naive.simulate(VM_SMALL, wl, LINK, pol, seed=7)
    assert_same(r, ref)
    assert r.outcome == ref["outcome"]


BUSY = W.HotCold(wws_bytes=pc.KiB(4) * 2048, hot_fraction=0.9, writes_per_s=60_000)


def _run(**ctl):
    pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=0.0001, timeout_s=5.0, controls=Controls(**ctl))
    return pc.simulate(VM_SMALL, BUSY, LINK, pol, seed=2)


def test_without_controls_the_busy_guest_times_out():
    r = _run()
    assert (r.stop_reason, r.outcome, r.converged) == ("timeout", "not_converged", False)


def test_completion_abort_leaves_the_vm_on_the_source():
    r = _run(completion_timeout_s=1.0)
    assert (r.stop_reason, r.outcome, r.converged) == ("aborted", "aborted", False)
    assert r.downtime_s == 0.0 and sum(r.downtime_parts.values()) == 0.0
    assert not r.rounds["stop_copy"].any() and r.final_pages == 0
    assert r.precopy_time_s >= 1.0 and r.total_time_s == r.precopy_time_s
    live_starts = r.rounds["start_s"]
    assert live_starts[-1] < 1.0          # the sync that fired is the first at or after 1 s


def test_completion_force_pauses_and_sends_the_rest():
    r = _run(completion_timeout_s=1.0, completion_action="force")
    assert (r.stop_reason, r.outcome) == ("forced", "forced")
    assert r.rounds["stop_copy"][-1] and r.final_pages > 0
    assert r.downtime_s == pytest.approx(sum(r.downtime_parts.values()), rel=1e-12)
    assert r.downtime_s > 0.0001          # far beyond the limit: that is what forcing costs


def test_completion_postcopy_switches():
    r = _run(completion_timeout_s=1.0, completion_action="postcopy")
    assert (r.stop_reason, r.outcome, r.converged) == ("postcopy", "converged", True)
    assert r.rounds["postcopy"][-1] and r.postcopy_s > 0 and r.final_pages == 0


def test_progress_timeout_fires_when_no_new_minimum():
    r = _run(progress_timeout_s=0.5, progress_action="force")
    assert r.stop_reason == "forced"
    # the dirty set stopped shrinking; the sync that fired is >= 0.5 s after its last minimum
    t = r.rounds["start_s"] + r.rounds["duration_s"]
    live = ~r.rounds["stop_copy"]
    d = r.rounds["pages_dirtied"][live]
    best_i = int(np.argmin(d))
    assert t[live][-1] - t[live][best_i] >= 0.5
    assert r.precopy_time_s < 5.0


def test_downtime_schedule_converges_once_the_limit_is_raised():
    r = _run(downtime_schedule=[(0, 0.0001), (0.7, 1.0)])
    assert (r.stop_reason, r.outcome) == ("downtime_limit", "converged")
    assert r.precopy_time_s >= 0.7
    assert 0.0001 < r.final_transfer_s < 1.0


def test_rate_schedule_changes_the_rate_inside_rounds():
    pol = Custom(max_rounds=3, controls=Controls(rate_schedule=[(0, 200e6), (0.05, 100e6)]))
    vm = pc.VM(memory_bytes=pc.MiB(16))
    r = pc.simulate(vm, W.Idle(), pc.Link(rate_bps=pc.Gbps(10), mtu=None), pol)
    # 16 MiB: 0.05 s at 200 Mbit/s sends 1.25 MB, the rest at 100 Mbit/s
    mem = vm.memory_bytes
    expect = 0.05 + (mem - 200e6 / 8 * 0.05) / (100e6 / 8)
    assert r.precopy_time_s == pytest.approx(expect, rel=1e-12)
    assert r.rounds["rate_bps"][0] == 200e6


def test_rate_schedule_is_capped_by_the_link_and_drives_the_decision():
    link = pc.Link(rate_bps=pc.Mbps(100), mtu=None)
    a = pc.simulate(VM_SMALL, W.Idle(), link, Custom(max_rounds=3, controls=Controls(rate_schedule=[(0, 1e9)])))
    b = pc.simulate(VM_SMALL, W.Idle(), link, Custom(max_rounds=3))
    assert a.precopy_time_s == b.precopy_time_s and a.rate_bps == b.rate_bps


def test_controls_validation():
    for kw, name in [(dict(downtime_schedule=[(1, 0.3)]), "downtime_schedule"),
                     (dict(downtime_schedule=[(0, 0.3), (0, 0.5)]), "downtime_schedule"),
                     (dict(downtime_schedule=[(0, -1)]), "downtime_limit_s"),
                     (dict(rate_schedule=[(0, 0)]), "rate_bps"),
                     (dict(rate_schedule="fast"), "rate_schedule"),
                     (dict(completion_timeout_s=0), "completion_timeout_s"),
                     (dict(progress_timeout_s=float("nan")), "progress_timeout_s"),
                     (dict(completion_action="wait"), "completion_action"),
                     (dict(progress_action=None), "progress_action")]:
        with pytest.raises(ValueError, match=name):
            Controls(**kw)
    with pytest.raises(ValueError, match="controls"):
        QEMU(controls={"completion_timeout_s": 1})
    with pytest.raises(ValueError, match="rate_schedule"):
        pc.policies.XenNSDI05(controls=Controls(rate_schedule=[(0, 1e9)]))
    with pytest.raises(ValueError, match="rate_schedule"):
        pc.Prepared(VM_SMALL, BUSY, LINK, QEMU(controls=Controls(rate_schedule=[(0, 1e8), (1, 2e8)])),
                    aids=[pc.aids.Compression(ratio=2.0)])


@pytest.mark.parametrize("ctl_name", ["downtime-ramp", "complete-abort", "complete-force", "progress-force",
                                      "rate-drop"])
@pytest.mark.parametrize("wl", [W.Uniform(writes_per_s=40_000),
                                W.HotCold(wws_bytes=pc.MiB(4), hot_fraction=0.9, writes_per_s=60_000)],
                         ids=lambda w: type(w).__name__)
def test_saturation_engine_matches_its_twin_with_controls(ctl_name, wl):
    vm = pc.VM(memory_bytes=pc.MiB(16), zero_fraction=0.1)
    pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=0.0002, timeout_s=3.0, controls=CONTROLS[ctl_name])
    a = pc.analytic.saturation(vm, wl, LINK, pol, seed=3)
    rounds, reason, t, fbytes, total = naive.saturation(vm, wl, LINK, pol, seed=3)
    assert a.stop_reason == reason
    live = ~a.rounds["stop_copy"]
    assert int(live.sum()) == len(rounds)
    for col in ("duration_s", "pages_sent", "pages_dirtied", "bytes_sent", "writes"):
        np.testing.assert_allclose(a.rounds[col][live], [r[col] for r in rounds], rtol=1e-9, atol=1e-9,
                                   err_msg=col)
    assert a.precopy_time_s == pytest.approx(t, rel=1e-12)
    assert a.bytes_sent == pytest.approx(total, rel=1e-9)
    assert a.outcome == naive.outcome(naive.REASONS.index(reason))
    if reason == "aborted":
        assert a.downtime_s == 0.0


def test_controls_on_the_array_models():
    pol = QEMU(max_bandwidth_bps=None, downtime_limit_s=0.0001, timeout_s=5.0,
               controls=Controls(completion_timeout_s=1.0))
    r = pc.analytic.saturation_model([1e3, 6e4], LINK.goodput_Bps, 4096, 2048, 0.9, policy=pol)
    assert r.converged[0] and r.stop_reason[1] == "aborted" and list(r.converged) == [True, False]
    assert r.downtime_s[1] == 0.0
    with pytest.raises(ValueError, match="rate_schedule"):
        pc.analytic.saturation_model(1e3, LINK.goodput_Bps, 4096, policy=QEMU(controls=Controls(
            rate_schedule=[(0, 1e9)])))
    with pytest.raises(ValueError, match="controls"):
        pc.analytic.geometric(VM_SMALL, BUSY, LINK, pol)
