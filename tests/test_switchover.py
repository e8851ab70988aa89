"""The switchover: downtime part by part, and QEMU's announce schedule."""

import pytest

import precopy as pc
from precopy import workloads as W

VM = pc.VM(memory_bytes=pc.MiB(256))
WL = W.HotCold(wws_bytes=pc.MiB(16), hot_fraction=0.9, writes_per_s=20_000)
LINK = pc.Link(rate_bps=pc.Gbps(10))


def test_defaults_are_qemus():
    sw = pc.Switchover()
    assert (sw.device_state_bytes, sw.resume_s) == (0, 0.009)
    assert (sw.announce_initial_s, sw.announce_max_s, sw.announce_rounds, sw.announce_step_s) == (0.05, 0.55, 5, 0.1)
    # QEMU sends the first RARP at resume, then after 50, 150, 250, 350 ms
    assert sw.announce_times_s == pytest.approx((0.0, 0.05, 0.2, 0.45, 0.8))
    assert sw.announce_s == 0.0 and sw.announce_window_s == pytest.approx(0.8)


def test_existing_field_names_and_positions_still_work():
    sw = pc.Switchover(1000, 0.02)
    assert sw.device_state_bytes == 1000 and sw.resume_s == 0.02
    assert pc.Switchover(device_state_bytes=5, resume_s=0.0).announce_s == 0.0


def test_announce_step_is_capped_by_max():
    sw = pc.Switchover(announce_rounds=6, announce_initial_s=0.05, announce_step_s=0.2, announce_max_s=0.3)
    gaps = [b - a for a, b in zip(sw.announce_times_s, sw.announce_times_s[1:])]
    assert gaps == pytest.approx([0.05, 0.25, 0.3, 0.3, 0.3])


def test_announce_heard_counts_toward_downtime():
    base = pc.simulate(VM, WL, LINK, "qemu", seed=1)
    lost_first = pc.simulate(VM, WL, LINK, "qemu", seed=1, switchover=pc.Switchover(announce_heard=2))
    lost_two = pc.simulate(VM, WL, LINK, "qemu", seed=1, switchover=pc.Switchover(announce_heard=3))
    assert base.announce_s == 0.0
    assert lost_first.announce_s == pytest.approx(0.05) and lost_two.announce_s == pytest.approx(0.2)
    assert lost_first.downtime_s - base.downtime_s == pytest.approx(0.05)
    assert lost_first.total_time_s - base.total_time_s == pytest.approx(0.05)
    assert base.announce_window_s == pytest.approx(0.8)


def test_no_announcement():
    sw = pc.Switchover(announce_rounds=0)
    assert sw.announce_times_s == () and sw.announce_s == 0.0 and sw.announce_window_s == 0.0


def test_result_reports_each_part_and_they_sum():
    sw = pc.Switchover(device_state_bytes=pc.MiB(2), resume_s=0.015, announce_heard=2)
    r = pc.simulate(VM, WL, LINK, "qemu", seed=1, switchover=sw)
    parts = r.downtime_parts
    assert list(parts) == ["final_transfer_s", "device_state_s", "resume_s", "announce_s"]
    assert parts["device_state_s"] == pytest.approx(pc.MiB(2) / LINK.goodput_Bps)
    assert parts["resume_s"] == 0.015 and parts["announce_s"] == pytest.approx(0.05)
    assert parts["final_transfer_s"] == pytest.approx(r.final_pages * (VM.page_bytes + 8) / LINK.goodput_Bps)
    assert sum(parts.values()) == pytest.approx(r.downtime_s, rel=1e-12)
    assert r.final_transfer_s == r.rounds["duration_s"][-1]
    assert "announce 50.0" in r.summary()


def test_postcopy_downtime_has_no_memory_part():
    sw = pc.Switchover(device_state_bytes=pc.MiB(1))
    busy = W.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=100_000)
    r = pc.simulate(VM, busy, pc.Link(rate_bps=pc.Gbps(1)), "qemu", seed=1, switchover=sw,
                    aids=[pc.aids.PostCopy(after_rounds=1, on_no_progress=False)])
    assert r.stop_reason == "postcopy"
    assert r.downtime_parts["final_transfer_s"] == 0
    assert r.downtime_s == pytest.approx(r.device_state_s + r.resume_s + r.announce_s)


@pytest.mark.parametrize("kw, name", [
    (dict(announce_initial_s=0), "announce_initial_s"),
    (dict(announce_max_s=-1), "announce_max_s"),
    (dict(announce_rounds=1001), "announce_rounds"),
    (dict(announce_step_s=20), "announce_step_s"),
    (dict(announce_heard=6), "announce_heard"),
    (dict(announce_heard=0), "announce_heard"),
    (dict(resume_s=-0.1), "resume_s"),
    (dict(device_state_bytes=1.5), "device_state_bytes"),
])
def test_bad_switchover_names_the_parameter(kw, name):
    with pytest.raises(ValueError, match=name):
        pc.Switchover(**kw)


@pytest.mark.parametrize("model", ["saturation", "hotcold", "geometric"])
def test_every_downtime_part_agrees_between_simulation_and_each_model(model):
    """Regression: the analytic models left the announcement out of the downtime
    (0.027 s against the simulator's 0.227 s with announce_heard=3)."""
    sw = pc.Switchover(announce_heard=3, device_state_bytes=pc.MiB(4), resume_s=0.018)
    wl = W.Uniform(writes_per_s=2_000)
    sim = pc.simulate(VM, wl, LINK, "qemu", switchover=sw, seed=1)
    ana = pc.analytic.predict(VM, wl, LINK, "qemu", switchover=sw, model=model)
    assert set(ana.downtime_parts) == set(sim.downtime_parts)
    for part in ("device_state_s", "resume_s", "announce_s"):
        assert ana.downtime_parts[part] == sim.downtime_parts[part], part
    assert sim.announce_s == pytest.approx(0.2)
    for r in (sim, ana):
        assert r.downtime_s == pytest.approx(sum(r.downtime_parts.values()), rel=1e-12)
        assert r.final_transfer_s == pytest.approx(r.final_pages * (VM.page_bytes + 8) * 8 / r.final_rate_bps,
                                                   rel=1e-9)
        assert r.total_time_s == pytest.approx(r.precopy_time_s + r.downtime_s, rel=1e-12)


def test_compare_does_not_count_the_announcement_as_model_error():
    sw = pc.Switchover(announce_heard=3)
    c = pc.analytic.compare(VM, W.Uniform(writes_per_s=2_000), LINK, "qemu", switchover=sw, seeds=3,
                            models=("saturation",))
    sim_dt = c.simulated["downtime_s"]
    assert c.models["saturation"].downtime_s == pytest.approx(sim_dt, rel=0.05)
