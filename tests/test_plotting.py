"""Plots draw the data they are given: bar heights, markers for non-convergence, hatched cells."""

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.figure import Figure

import precopy as pc
from precopy import plotting as pl
from precopy import sweeps


@pytest.fixture(scope="module")
def converged():
    vm = pc.VM(memory_bytes=pc.MiB(512))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(32), writes_per_s=30_000)
    return pc.simulate(vm, wl, pc.Link(rate_bps=pc.Gbps(10)), pc.policies.QEMU(max_bandwidth_bps=None), seed=1)


@pytest.fixture(scope="module")
def stuck():
    vm = pc.VM(memory_bytes=pc.MiB(512))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(128), writes_per_s=100_000)
    return pc.simulate(vm, wl, pc.Link(rate_bps=pc.Gbps(1)), pc.policies.Xen(), seed=1)


def test_style_file_is_package_data_and_used():
    assert pl.STYLE.is_file() and pl.STYLE.suffix == ".mplstyle"
    with pl.style():
        assert mpl.rcParams["svg.hashsalt"] == "precopy"
        assert mpl.rcParams["axes.spines.top"] is False


def test_timeline_bars_are_the_round_table(converged):
    r = converged
    fig = pl.plot_timeline(r)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    sent, dirtied, final = (np.array([p.get_height() for p in c.patches]) for c in ax.containers)
    t = r.rounds
    live = ~t["stop_copy"]
    assert np.array_equal(sent, t["bytes_sent"][live])
    per_page = t["bytes_sent"][1] / t["pages_sent"][1]
    assert np.allclose(dirtied, t["pages_dirtied"][live] * per_page)
    assert np.array_equal(final, t["bytes_sent"][~live])
    # the stop line sits between the last live round and the stop-and-copy
    stop = [line for line in ax.lines if line.get_linestyle() == "--"][0]
    assert stop.get_xdata()[0] == pytest.approx(live.sum() - 0.5)
    assert "converged" in ax.get_title() and "NOT" not in ax.get_title()
    assert ax.get_ylabel() == "bytes per round" and "round" in ax.get_xlabel()
    assert any(pl.stop_reason_text(r.stop_reason) in t.get_text() for t in ax.texts)


def test_timeline_of_nonconvergent_run_says_so(stuck):
    assert not stuck.converged
    ax = pl.plot_timeline(stuck).axes[0]
    assert "did NOT converge" in ax.get_title()


def test_timeline_into_given_axes(converged, stuck):
    fig, axes = pl.new_figure(1, 2)
    out = pl.plot_timeline(converged, ax=axes[1])
    assert out is fig and axes[1].containers and not axes[0].containers
    with pytest.raises(ValueError, match="result"):
        pl.plot_timeline("not a result")


def test_timeline_many_rounds_uses_steps():
    vm = pc.VM(memory_bytes=pc.MiB(64))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(32), writes_per_s=50_000)
    r = pc.simulate(vm, wl, pc.Link(rate_bps=pc.Gbps(1)), pc.policies.Custom(max_rounds=60), seed=1)
    assert r.n_rounds == 60
    ax = pl.plot_timeline(r).axes[0]
    lines = [line for line in ax.lines if len(line.get_xdata()) > 2]
    assert np.array_equal(lines[0].get_ydata(), r.rounds["bytes_sent"][:-1])


@pytest.fixture(scope="module")
def sweep():
    return sweeps.wws_sweep(pc.VM(memory_bytes=pc.MiB(256)), [pc.MiB(4), pc.MiB(32), pc.MiB(128)], 40_000,
                            links=sweeps.ethernet_links([1, 10]),
                            policies={"Xen v2": pc.policies.Xen(), "VMware": pc.policies.VMware(timeout_s=60.0)},
                            seed=3)


def test_wws_sweep_keeps_and_marks_nonconvergent_points(sweep):
    fig = pl.plot_wws_sweep(sweep)
    assert len(fig.axes) == 4        # 2 metrics x 2 policies
    for j in range(2):
        for i, metric in enumerate(("downtime_s", "total_time_s")):
            ax = fig.axes[i * 2 + j]
            lines = ax.lines
            for k in range(2):
                full, conv, nonconv = lines[3 * k: 3 * k + 3]
                vals = getattr(sweep, metric)[j, k]
                c = sweep.converged[j, k]
                assert np.array_equal(full.get_ydata(), vals)             # nothing dropped
                assert np.array_equal(conv.get_ydata(), vals[c])
                assert np.array_equal(nonconv.get_ydata(), vals[~c])
                assert nonconv.get_marker() == "x"
    assert fig.axes[0].get_ylabel() == "downtime (s)"
    assert fig.axes[2].get_ylabel() == "total migration time (s)"
    assert fig.legends and pl.NONCONVERGED_LABEL in [t.get_text() for t in fig.legends[0].get_texts()]
    assert (~sweep.converged).sum() > 0


def test_wws_sweep_highlight_and_errors(sweep):
    fig = pl.plot_wws_sweep(sweep, highlight=("10 GbE", pc.MiB(32)), legend="axes")
    ring = [line for line in fig.axes[0].lines if line.get_markersize() == 12][0]
    assert ring.get_ydata()[0] == sweep.downtime_s[0, 1, 1]
    with pytest.raises(ValueError, match="metrics"):
        pl.plot_wws_sweep(sweep, metrics=("colour",))
    with pytest.raises(ValueError, match="legend"):
        pl.plot_wws_sweep(sweep, legend="left")
    with pytest.raises(ValueError, match="sweep must have axes"):
        pl.plot_wws_sweep(sweep.sel(policy="VMware"))


@pytest.fixture(scope="module")
def grid():
    return sweeps.convergence_grid(pc.VM(memory_bytes=pc.MiB(64)), [1e3, 3e4, 1e6],
                                   [pc.Gbps(0.5), pc.Gbps(5), pc.Gbps(50)], "simgrid", timeout_s=20.0, seed=1)


def test_convergence_map_hatches_exactly_the_nonconvergent_cells(grid):
    assert grid.converged.any() and not grid.converged.all()
    fig = pl.plot_convergence_map(grid)
    ax = fig.axes[0]
    mesh = ax.collections[0]
    assert np.array_equal(np.asarray(mesh.get_array()).reshape(3, 3), grid.downtime_s.T)
    hatched = [c for c in ax.collections if isinstance(c, PatchCollection)]
    assert len(hatched) == 1 and len(hatched[0].get_paths()) == (~grid.converged).sum()
    outline = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert outline and len(outline[0].get_segments()) > 0
    assert ax.get_xlabel() == "guest page writes per second"
    assert ax.get_ylabel() == "link rate (Gbit/s)"
    assert len(fig.axes) == 2      # with its colour bar


def test_convergence_maps_share_one_scale(grid):
    other = sweeps.convergence_grid(pc.VM(memory_bytes=pc.MiB(64)), [1e3, 3e4, 1e6],
                                    [pc.Gbps(0.5), pc.Gbps(5), pc.Gbps(50)], "xen", timeout_s=20.0, seed=1)
    fig = pl.plot_convergence_maps({"SimGrid": grid, "Xen v2": other})
    meshes = [ax.collections[0] for ax in fig.axes[:2]]
    assert meshes[0].norm.vmin == meshes[1].norm.vmin and meshes[0].norm.vmax == meshes[1].norm.vmax
    assert [ax.get_title() for ax in fig.axes[:2]] == ["SimGrid", "Xen v2"]
    with pytest.raises(ValueError, match="grids"):
        pl.plot_convergence_maps({})


def test_tradeoff_picks_the_nearest_column(grid):
    fig = pl.plot_tradeoff({"SimGrid": grid}, pc.Gbps(6))
    ax = fig.axes[0]
    assert np.array_equal(ax.lines[0].get_ydata(), grid.downtime_s[:, 1])
    assert np.array_equal(fig.axes[1].lines[0].get_ydata(), grid.total_time_s[:, 1])


def test_formatters():
    assert pl.format_bytes(pc.GiB(16)) == "16 GiB"
    assert pl.format_seconds(0.0123) == "12.3 ms"
    assert pl.format_count(2e5) == "200k"


@pytest.fixture(scope="module")
def model_sweep():
    w = [1e3, 3e4, 1e6]
    return sweeps.model_sweep(pc.VM(memory_bytes=pc.MiB(64)), [pc.workloads.Uniform(writes_per_s=x) for x in w],
                              pc.Link(rate_bps=pc.Gbps(1)), pc.policies.QEMU(max_bandwidth_bps=None, timeout_s=30.0),
                              param="writes_per_s", values=w, seeds=2)


def test_model_comparison_draws_simulator_models_and_ratio(model_sweep):
    ms = model_sweep
    fig = pl.plot_model_comparison(ms)
    top, mid, ratio = fig.axes
    sim_line = top.containers[0].lines[0]          # errorbar: the data line
    conv = ms.simulated["converged"] >= 0.5
    assert np.array_equal(sim_line.get_ydata(), ms.simulated["total_time_s"][conv])
    sat = [line for line in top.lines if line.get_label() == "saturation model"][0]
    assert np.array_equal(sat.get_ydata(), ms.models["saturation"]["total_time_s"])
    ratios = [line for line in ratio.lines if line.get_marker() == "."]
    assert len(ratios) == len(ms.models)
    assert np.allclose(ratios[0].get_ydata(), ms.ratio(list(ms.models)[0]))
    assert ratio.get_xlabel() == "guest page writes per second"
    assert not conv.all()                           # the 1e6 point is marked, not dropped
    xs = [line for line in top.lines if line.get_marker() == "x" and line.get_color() == "k"][0]
    assert np.array_equal(xs.get_ydata(), ms.simulated["total_time_s"][~conv])


def test_model_comparison_errors(model_sweep):
    with pytest.raises(ValueError, match="ModelSweep"):
        pl.plot_model_comparison("x")
    with pytest.raises(ValueError, match="metrics"):
        pl.plot_model_comparison(model_sweep, metrics=("speed",))
    fig, axes = pl.new_figure(2, 1)
    with pytest.raises(ValueError, match="axes"):
        pl.plot_model_comparison(model_sweep, axes=axes)


def test_measured_vs_predicted_points_and_markers():
    rows = [
        {"source_id": "A", "measured_total_time_s": 10.0, "predicted_total_time_s": 12.0, "verdict_ok": True,
         "in_sample": ""},
        {"source_id": "B", "measured_total_time_s": 5.0, "predicted_total_time_s": 20.0, "verdict_ok": False,
         "in_sample": "workload"},
        {"source_id": "B", "measured_total_time_s": None, "predicted_total_time_s": 3.0, "verdict_ok": True,
         "in_sample": ""},
    ]
    fig = pl.plot_measured_vs_predicted(rows, metrics=("total_time_s",))
    ax = fig.axes[0]
    pts = [(line.get_xdata()[0], line.get_ydata()[0], line.get_marker()) for line in ax.lines
           if len(line.get_xdata()) == 1]
    assert (10.0, 12.0, "o") in pts and (5.0, 20.0, "x") in pts and len(pts) == 2
    assert ax.get_xlabel() == "measured total migration time (s)"
    with pytest.raises(ValueError, match="rows"):
        pl.plot_measured_vs_predicted([])
    with pytest.raises(ValueError, match="measured_downtime_ms"):
        pl.plot_measured_vs_predicted(rows, metrics=("downtime_ms",))


def test_link_fit_plot():
    from precopy import linkfit
    fit = linkfit.fit_links()
    fig = pl.plot_link_fit(fit.points, fit.fitted_gbps, pc.links.profiles(), max_streams=8)
    ax, bx = fig.axes
    lines = [line for line in ax.lines if line.get_label().startswith("10 GbE")]
    assert np.allclose(lines[0].get_ydata()[0], pc.links.profile("10GbE").link().goodput_bps / 1e9)
    scatter = [line for line in bx.lines if len(line.get_xdata()) == 1]
    assert len(scatter) == len(fit.points)
    with pytest.raises(ValueError, match="equal length"):
        pl.plot_link_fit(fit.points, fit.fitted_gbps[:-1], pc.links.profiles())


def test_plotting_does_not_import_the_simulator():
    """Plotting takes results: importing it loads neither sweeps nor the kernel (nor numba)."""
    import subprocess
    import sys
    from pathlib import Path
    pkg = Path(pl.__file__).resolve().parent
    code = (
        "import sys, types\n"
        # load precopy.plotting without running precopy/__init__ (which imports everything)
        f"m = types.ModuleType('precopy'); m.__path__ = [{str(pkg)!r}]; sys.modules['precopy'] = m\n"
        "import precopy.plotting\n"
        "bad = sorted(n for n in ('precopy.sweeps', 'precopy.simulate', 'precopy._kernel', 'numba')"
        " if n in sys.modules)\n"
        "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_plotting_checks_sweep_types_without_importing_sweeps():
    with pytest.raises(ValueError, match="precopy.sweeps.Sweep"):
        pl.plot_wws_sweep({"axes": {}})
    with pytest.raises(ValueError, match="ModelSweep"):
        pl.plot_model_comparison(object())


# ---------------------------------------------------------------------------------------------
# figures a reviewer accepts

def _texts(fig):
    from matplotlib.text import Text
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def test_wws_sweep_shares_y_within_a_row_and_labels_the_timeout_plateau(sweep):
    fig = pl.plot_wws_sweep(sweep)
    a = np.array(fig.axes).reshape(2, 2)
    for i in range(2):
        assert a[i, 0].get_shared_y_axes().joined(a[i, 0], a[i, 1])
        assert a[i, 0].get_ylim() == a[i, 1].get_ylim()
    assert not a[0, 0].get_shared_y_axes().joined(a[0, 0], a[1, 0])
    timed_out = np.asarray(sweep.stop_reason) == "timeout"
    assert timed_out.any()
    assert pl.TIMEOUT_LABEL == "did not converge (stopped at the timeout)"
    assert pl.TIMEOUT_LABEL in [t.get_text() for t in fig.legends[0].get_texts()]
    # a dotted line at the timeout in the total-time panel of the policy that timed out
    j = int(np.flatnonzero(timed_out.any(axis=(1, 2)))[0])
    flat = [line for line in a[1, j].lines if line.get_linestyle() == ":"]
    level = flat[0].get_ydata()[0]
    assert 60.0 <= level <= sweep.total_time_s[j][timed_out[j]].min()       # VMware's 60 s timeout


def test_wws_sweep_column_variant_puts_policies_in_rows(sweep):
    fig = pl.plot_wws_sweep(sweep, transpose=True, figsize=(3.5, 3.0))
    assert fig.get_figwidth() == 3.5
    a = np.array(fig.axes).reshape(2, 2)                   # policy x metric
    assert a[0, 0].get_ylabel() == "Xen v2" and a[1, 0].get_ylabel() == "VMware"
    assert a[0, 0].get_title() == "downtime (s)"
    assert a[0, 0].get_shared_y_axes().joined(a[0, 0], a[1, 0])
    assert np.array_equal(a[1, 1].lines[0].get_ydata(), sweep.total_time_s[1, 0])


def test_tradeoff_says_when_one_policy_hides_under_another(grid):
    fig = pl.plot_tradeoff({"QEMU (no cap)": grid, "VMware": grid}, pc.Gbps(5))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "VMware (circles): same values as QEMU (no cap)" in labels
    hollow = [line for line in fig.axes[0].lines if line.get_markerfacecolor() == "none" and line.get_marker() == "o"
              and line.get_markersize() == 8]
    assert len(hollow) == 1 and np.array_equal(hollow[0].get_ydata(), grid.downtime_s[:, 1])
    fig = pl.plot_tradeoff({"QEMU (no cap)": grid}, pc.Gbps(5))
    assert not any("same" in t.get_text() for t in fig.legends[0].get_texts())


def test_measured_vs_predicted_names_sources_in_the_legend():
    rows = [{"source_id": "S1_clark2005", "measured_total_time_s": 10.0, "predicted_total_time_s": 12.0,
             "verdict_ok": True, "in_sample": ""},
            {"source_id": "S42_some_new_paper", "measured_total_time_s": 3.0, "predicted_total_time_s": 4.0,
             "verdict_ok": True, "in_sample": ""}]
    labels = [t.get_text() for t in pl.plot_measured_vs_predicted(rows, metrics=("total_time_s",))
              .legends[0].get_texts()]
    assert "Clark et al. 2005 (Xen)" in labels and "some new paper" in labels
    assert not any("_" in lab for lab in labels)


def test_link_fit_says_which_rates_are_fitted_and_which_extrapolated():
    from precopy import linkfit
    fit = linkfit.fit_links()
    fig = pl.plot_link_fit(fit.points, fit.fitted_gbps, pc.links.profiles())
    curves = {line.get_label().split(":")[0]: line for line in fig.axes[0].lines if ": " in line.get_label()}
    measured = {p.link_gbps for p in fit.points if p.use and p.stream_class == "modern" and p.link_gbps}
    for pr in pc.links.profiles().values():
        gbps = pr.rate_bps / 1e9
        line = curves[f"{gbps:g} GbE"]
        if gbps in measured:            # modern-stack migrations measured at this rate
            assert "fitted" in line.get_label() and line.get_linestyle() == "-", line.get_label()
        else:
            assert "extrapolated" in line.get_label() and line.get_linestyle() == "--", line.get_label()
    assert {40.0, 100.0} <= measured and 25.0 not in measured      # what data/link_fit_points.csv holds
    assert pl.link_evidence(fit.points, 25.0) == {"modern": [], "other": []}


def test_timeline_uses_peoples_words(converged):
    fig = pl.plot_timeline(converged)
    texts = _texts(fig)
    assert fig.axes[0].get_title().startswith("QEMU: converged")
    assert not any("downtime_limit" in t or "qemu" in t for t in texts)
    assert any("downtime limit" in t for t in texts)
    assert pl.plot_timeline(converged, label="QEMU (no cap)").axes[0].get_title().startswith("QEMU (no cap):")
