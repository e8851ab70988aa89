"""Hypervisor and era presets: defaults, stream scaling, switchover terms, registration."""

import math

import pytest

from precopy import hypervisors as H, policies
from precopy.calibration import Calibration, load
from precopy.units import GiB, MiB
from precopy.workloads import HotCold, Idle


def test_presets_are_registered_with_the_policies():
    for name in ("qemu-2.x", "xen-3", "vmware-6", "vmware-8"):
        assert policies.get(name) == H.get(name).policy()
    assert policies.get("qemu-2.x").max_bandwidth_bps == 32 * MiB(1) * 8     # QEMU's old MAX_THROTTLE
    assert policies.get("qemu").max_bandwidth_bps == 128 * MiB(1) * 8
    assert policies.get("xen-3").adaptive_rate is not None
    assert policies.get("vmware-8").downtime_limit_s == 0.5
    with pytest.raises(ValueError, match="qemu-2.x"):
        policies.get("qemu-9.x")
    with pytest.raises(ValueError, match="hypervisor"):
        H.get("hyperv")


def test_policy_keywords_override_era_defaults():
    p = H.get("qemu-2.x").policy(max_bandwidth_bps=None, downtime_limit_s=0.03)
    assert p.max_bandwidth_bps is None and p.downtime_limit_s == 0.03


def test_stream_ceilings_and_vmware8_stream_scaling():
    v6, v8 = H.get("vmware-6"), H.get("vmware-8")
    ps = v6.per_stream_bps
    assert 14e9 < ps < 17e9
    assert v6.streams_for(100e9) == 1                       # one stream per vmknic
    assert v8.streams_for(10e9) == 1
    assert v8.streams_for(100e9) == math.ceil(100e9 / ps)
    assert v8.streams_for(100e9, streams=2) == 2            # stated streams win
    # achieved rate = min(link goodput, streams x ceiling): one stream saturates near its ceiling
    one = v6.link(100e9).goodput_bps
    many = v8.link(100e9).goodput_bps
    assert one < 1.01 * ps and many > 5 * one
    assert H.get("xen-3").per_stream_bps is None and H.get("qemu-2.x").per_stream_bps is None
    with pytest.raises(ValueError, match="streams"):
        v8.streams_for(10e9, streams=0)


def test_switchover_terms_follow_the_calibration():
    cal = Calibration({"switchover_fixed_s[qemu]": {"value": 0.02}, "switchover_per_gib_s[qemu]": {"value": 0.001},
                       "device_rate_mibps[vmware]": {"value": 100.0},
                       "device_fixed_s[vmware]": {"value": 1.5}})
    q = H.get("qemu").with_calibration(cal)
    assert q.switchover_s(GiB(64)) == pytest.approx(0.02 + 0.064)
    assert q.switchover(GiB(1)).resume_s == pytest.approx(0.021)
    x = H.get("xen-3").with_calibration(cal)
    assert x.switchover_s(GiB(1)) == pytest.approx(0.02)    # no Xen rows: the QEMU fixed term, no per-GiB term
    vm6 = H.get("vmware-6").with_calibration(cal)
    assert vm6.device_state_s(MiB(1000)) == pytest.approx(11.5)       # the vGPU stun: fixed + bytes / rate
    assert vm6.switchover_s(GiB(1)) == pytest.approx(0.021)           # a vMotion without vGPU: no device term
    sw = vm6.switchover(GiB(1), device_bytes=MiB(1000))
    assert sw.resume_s == pytest.approx(0.021 + 1.5) and sw.device_time_s(1e12) == pytest.approx(10.0)
    assert vm6.device_state_s(0) == 0
    with pytest.raises(ValueError, match="device-state"):
        q.device_state_s(MiB(1))
    with pytest.raises(ValueError, match="memory_bytes"):
        q.switchover_s(-1)


def test_idle_workload_is_a_saturating_background_set():
    cal = Calibration({"background_set_mib": {"value": 8.0}, "background_mibps": {"value": 2.0}})
    wl = H.get("qemu").with_calibration(cal).idle_workload(GiB(4))
    assert isinstance(wl, HotCold) and wl.wws_bytes == MiB(8) and wl.hot_fraction == 1.0
    assert wl.writes_per_s == pytest.approx(2 * MiB(1) / 4096)
    assert isinstance(H.get("qemu").with_calibration(Calibration({})).idle_workload(GiB(4)), Idle)
    # the set never exceeds memory
    assert H.background_workload(GiB(8), MiB(1), GiB(1)).wws_bytes == GiB(1)
    with pytest.raises(ValueError, match="rate_Bps"):
        H.background_workload(MiB(1), -1.0, GiB(1))


def test_stored_presets_carry_fitted_sourced_values():
    cal = load()
    for name in ("background_set_mib", "background_mibps", "switchover_fixed_s[qemu]", "per_stream_gbps[vmware]",
                 "device_rate_mibps[vmware]"):
        rec = cal.params[name]
        assert rec["value"] is not None and rec["rows"] and rec["method"], name
    for hv in H.PRESETS.values():
        assert hv.description and hv.sources


def test_qemu_dirty_sync_count():
    assert H.qemu_dirty_sync_count(2) == 3
    assert H.qemu_dirty_sync_count(5, converged=False) == 5
    with pytest.raises(ValueError, match="n_rounds"):
        H.qemu_dirty_sync_count(0)
