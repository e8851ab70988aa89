"""Drive the explorer's controls without a browser and check what is drawn."""

import numpy as np
import pytest

import precopy as pc
from precopy import sweeps
from precopy.widgets import MEMORY_CHOICES, WRITE_RATE_CHOICES, WWS_CHOICES, MigrationExplorer

SMALL = dict(memory_bytes=pc.GiB(1), wws_bytes=pc.MiB(64), writes_per_s=20_000.0, link="10 GbE",
             policy="QEMU (no cap)", timeout_s=60.0)


@pytest.fixture
def ex():
    return MigrationExplorer(**SMALL, background=False)


def _expected(ex):
    return pc.simulate(*ex.scenario(), seed=ex.seed)


def test_created_ready_with_everything_drawn(ex):
    assert ex.compile_s >= 0
    assert ex.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "error" not in ex.status.value and "converged" in ex.status.value
    d = ex.plotted()
    r = _expected(ex)
    assert ex.result.total_time_s == r.total_time_s
    assert np.array_equal(d["timeline"][0], r.rounds["bytes_sent"][~r.rounds["stop_copy"]])
    # the sweep: 3 links x (line, converged markers, non-converged markers) x 2 panels
    assert ex.sweep.axes["wws_bytes"] == tuple(w for w in WWS_CHOICES if w <= pc.GiB(1))
    assert len(d["sweep"]) == 18
    assert d["ring"] == (pc.MiB(64), r.downtime_s)


def test_hot_set_slider_resimulates_and_redraws(ex):
    before, png = ex.plotted(), ex.image.value
    sweep_before = ex.sweep
    ex.controls["wws"].value = pc.MiB(512)
    after = ex.plotted()
    r = _expected(ex)
    assert ex.result.downtime_s == r.downtime_s
    assert np.array_equal(after["timeline"][0], r.rounds["bytes_sent"][~r.rounds["stop_copy"]])
    assert not np.array_equal(after["timeline"][1], before["timeline"][1])
    assert after["ring"] == (pc.MiB(512), r.downtime_s) != before["ring"]
    assert ex.image.value != png
    assert ex.sweep is sweep_before        # the hot set does not change the sweep


def test_link_toggle(ex):
    ex.controls["link"].value = "1 GbE"
    r = _expected(ex)
    assert ex.result.rate_bps == sweeps.ethernet_links()["1 GbE"].goodput_bps     # the fitted 1 GbE profile
    assert ex.result.downtime_s == r.downtime_s
    k = ex.sweep.axes["link"].index("1 GbE")
    q = ex.sweep.axes["wws_bytes"].index(pc.MiB(64))
    assert ex.plotted()["ring"][1] == ex.sweep.downtime_s[0, k, q]     # ring sits on its curve


def test_write_rate_recomputes_the_sweep(ex):
    old = [y.copy() for _, y in ex.plotted()["sweep"]]
    ex.controls["writes"].value = 200_000.0
    assert ex.sweep.params["writes_per_s"] == 200_000.0
    new = [y for _, y in ex.plotted()["sweep"]]
    assert any(not np.array_equal(a, b) for a, b in zip(old, new))
    # the plotted sweep is the simulation's
    r = pc.simulate(pc.VM(memory_bytes=pc.GiB(1)),
                    pc.workloads.HotCold(wws_bytes=pc.MiB(256), writes_per_s=200_000.0),
                    sweeps.ethernet_links()["25 GbE"], pc.policies.QEMU(max_bandwidth_bps=None, timeout_s=60.0), seed=1)
    k, q = ex.sweep.axes["link"].index("25 GbE"), ex.sweep.axes["wws_bytes"].index(pc.MiB(256))
    assert ex.sweep.downtime_s[0, k, q] == r.downtime_s


def test_policy_sets_its_page_skip_and_checkbox_overrides(ex):
    ex.controls["policy"].value = "Xen legacy"
    assert ex.controls["page_skip"].value is True
    assert ex.result.policy == "xen-legacy" and ex.sweep.axes["policy"] == ("Xen legacy",)
    skipped_on = ex.result.rounds["pages_skipped"].sum()
    ex.controls["page_skip"].value = False
    assert ex.result.rounds["pages_skipped"].sum() == 0 and ex.result.downtime_s == _expected(ex).downtime_s
    assert skipped_on > 0
    assert ex.sweep.params["page_skip"] is False


def test_memory_shrinks_the_hot_set_choices():
    ex = MigrationExplorer(**{**SMALL, "memory_bytes": pc.GiB(2), "wws_bytes": pc.GiB(2)}, sweep=False,
                           background=False)
    ex.controls["memory"].value = pc.GiB(1)
    assert ex.controls["wws"].value == pc.GiB(1)
    assert max(v for _, v in ex.controls["wws"].options) == pc.GiB(1)
    assert "hot set changed" in ex.status.value
    assert ex.result.memory_bytes == pc.GiB(1)


def test_background_sweep_arrives():
    ex = MigrationExplorer(**SMALL, background=True)
    ex.controls["writes"].value = 50_000.0
    assert ex.result.rounds["writes"].sum() > 0          # the timeline answered at once
    assert ex.wait(120)
    assert ex.sweep.params["writes_per_s"] == 50_000.0
    q = ex.sweep.axes["wws_bytes"].index(pc.MiB(64))
    k = ex.sweep.axes["link"].index("10 GbE")
    assert ex.sweep.downtime_s[0, k, q] == ex.result.downtime_s


def test_timings_recorded(ex):
    ex.controls["wws"].value = pc.MiB(128)
    t = ex.timings
    assert set(t) >= {"simulate_s", "draw_s", "update_s", "sweep_s"}
    assert t["update_s"] >= t["simulate_s"] > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"memory_bytes": pc.GiB(3)}, "memory_bytes"),
    ({"wws_bytes": pc.GiB(2)}, "wws_bytes"),
    ({"writes_per_s": 123.0}, "writes_per_s"),
    ({"link": "40 GbE"}, "link"),
    ({"policy": "hyper-v"}, "policy"),
    ({"page_skip": "on"}, "page_skip"),
    ({"timeout_s": -1}, "timeout_s"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MigrationExplorer(**{**SMALL, **kwargs}, sweep=False, background=False)


def test_choices_are_sorted_and_cover_the_defaults():
    assert list(MEMORY_CHOICES) == sorted(MEMORY_CHOICES) and pc.GiB(16) in MEMORY_CHOICES
    assert pc.GiB(1) in WWS_CHOICES and 200_000.0 in WRITE_RATE_CHOICES


def test_stale_background_sweep_is_abandoned_for_the_latest():
    ex = MigrationExplorer(**SMALL, background=True)
    ex.controls["page_skip"].value = True        # starts a (slower) page-skip sweep
    ex.controls["writes"].value = 50_000.0       # ... which is now stale
    ex.controls["page_skip"].value = False
    assert ex.wait(120)
    assert ex.sweep.params["page_skip"] is False and ex.sweep.params["writes_per_s"] == 50_000.0
    assert ex.sweep_note.value == ""


# ---------------------------------------------------------------------------------------------
# keeping up with the hand: in-place updates, slow cases in the background

def _timeline_artists(ex):
    ax = ex.figure.axes[0]
    return {id(a) for a in ax.get_children()}


def test_slider_updates_the_timeline_in_place(ex):
    fig, before = ex.figure, _timeline_artists(ex)
    ex.controls["wws"].value = pc.MiB(128)
    ex.controls["wws"].value = pc.MiB(32)
    assert ex.figure is fig
    assert _timeline_artists(ex) == before          # the same artists, new data: nothing re-created
    assert ex.timings["full_redraw"] is False        # limits unchanged: only the moving parts were drawn
    r = _expected(ex)
    assert np.array_equal(ex.plotted()["timeline"][0], r.rounds["bytes_sent"][~r.rounds["stop_copy"]])


def test_blitted_image_equals_a_full_redraw(ex):
    ex.controls["wws"].value = pc.MiB(128)
    assert ex.timings["full_redraw"] is False
    blitted = ex.image.value
    full = ex._render(full=True)
    assert blitted == full


def test_png_encoder_round_trips():
    import io

    from PIL import Image

    from precopy.widgets import _png
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(_png(rgba))).convert("RGB"))
    assert np.array_equal(back, rgba[..., :3])


class _SlowPrepared:
    """A Prepared whose run takes 0.4 s longer (a migration that runs to its timeout)."""

    def __init__(self, *a, **k):
        from precopy.simulate import Prepared
        self._p = Prepared(*a, **k)

    def run(self, seed):
        import time
        time.sleep(0.4)
        return self._p.run(seed)


def test_slow_simulation_greys_out_the_stale_result_then_draws_the_new(monkeypatch):
    import precopy.widgets as wmod
    ex = MigrationExplorer(**SMALL, sweep=False, background=True)
    old = ex.result
    png = ex.image.value
    monkeypatch.setattr(wmod, "Prepared", _SlowPrepared)
    ex.controls["wws"].value = pc.MiB(256)
    assert ex.result is old                              # not waited for ...
    assert ex.plotted()["faded"] and ex.image.value != png        # ... the stale one is greyed out at once
    assert ex.timings["answered_s"] < 0.4
    assert "simulating" in ex.status.value
    assert ex.wait(30)
    assert not ex.plotted()["faded"]
    assert ex.result.downtime_s == _expected(ex).downtime_s and ex.timings["late"] is True
    assert ex.timings["update_s"] >= 0.4


def test_a_newer_change_supersedes_a_slow_one(monkeypatch):
    import precopy.widgets as wmod
    ex = MigrationExplorer(**SMALL, sweep=False, background=True)
    monkeypatch.setattr(wmod, "Prepared", _SlowPrepared)
    ex.controls["wws"].value = pc.MiB(256)
    ex.controls["wws"].value = pc.MiB(512)               # while the first still runs
    assert ex.wait(30)
    assert ex.result.downtime_s == _expected(ex).downtime_s
    assert ex.result.rounds["pages_dirtied"].sum() == _expected(ex).rounds["pages_dirtied"].sum()
    assert ex.updates == 2                              # the initial draw and the latest; the stale one dropped


def test_stale_sweep_is_veiled_until_the_new_one_arrives():
    ex = MigrationExplorer(**SMALL, background=True)
    assert not ex.plotted()["sweep_faded"]
    ex.controls["writes"].value = 50_000.0
    assert ex.plotted()["sweep_faded"] and "updating" in ex.sweep_note.value
    assert ex.wait(120)
    assert not ex.plotted()["sweep_faded"] and ex.sweep.params["writes_per_s"] == 50_000.0
