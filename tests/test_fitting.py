"""Workload fitting: the saturation model against the simulator, parameter recovery, Clark et al."""

import math

import numpy as np
import pytest

import precopy as pc
from precopy import workload_fit as wf
from precopy.policies import Custom, XenLegacy

VM = pc.VM(memory_bytes=pc.MiB(64))          # 16384 pages


def test_expected_distinct_pages_matches_simulator():
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(4), hot_fraction=0.8, writes_per_s=20_000)
    t = np.array([0.125, 0.5, 2.0])
    sims = np.mean([wf.sample_dirty_pages(VM, wl, t, seed=s) for s in range(4)], axis=0)
    exp_ = wf.expected_distinct_pages(VM.n_pages, 20_000, 1024, 0.8, t)
    assert sims == pytest.approx(exp_, rel=0.02)


def test_expected_distinct_pages_limits():
    assert wf.expected_distinct_pages(1000, 0.0, 10, 0.9, [5.0])[0] == 0.0
    assert wf.expected_distinct_pages(1000, 1e6, 10, 0.9, [100.0])[0] == pytest.approx(1000.0)
    d = wf.expected_distinct_pages(1000, 1e3, 100, 0.9, np.linspace(0.01, 10, 50))
    assert np.all(np.diff(d) > 0)


def test_skip_model_matches_xen_legacy_rounds():
    # with page skip a dirty page is sent only if not re-dirtied before its turn
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(2), hot_fraction=0.9, writes_per_s=30_000)
    link = pc.Link(rate_bps=pc.Mbps(400), mtu=None)
    pol = XenLegacy(max_rounds=4)
    got, want = [], []
    for s in range(4):
        r = pc.simulate(VM, wl, link, pol, seed=s)
        T = r.rounds["duration_s"]
        e = wf.expected_round_pages(VM.n_pages, 30_000, 512, 0.9, T, page_skip=True, first_round=True)
        got.append(r.rounds["pages_sent"][:3])
        want.append(e[:3])
    assert np.mean(got, axis=0) == pytest.approx(np.mean(want, axis=0), rel=0.05)
    # without skip, round 1 would be much larger: the skip term matters here
    no_skip = wf.expected_round_pages(VM.n_pages, 30_000, 512, 0.9, T, page_skip=False)
    assert no_skip[0] > 1.1 * np.mean(want, axis=0)[1]


@pytest.mark.parametrize("skip", [False, True])
def test_fit_rounds_recovers_parameters_from_exact_expectations(skip):
    T = np.array([3.0, 0.8, 0.3, 0.12, 0.06, 0.03, 0.02])
    n = VM.n_pages
    truth = dict(writes_per_s=8000.0, wws=1000.0, h=0.85)
    e = wf.expected_round_pages(n, truth["writes_per_s"], truth["wws"], truth["h"], T, page_skip=skip,
                                first_round=True)
    f = wf.fit_rounds(T, memory_bytes=VM.memory_bytes, pages_sent=e, page_skip=skip)
    assert f.values["writes_per_s"] == pytest.approx(8000.0, rel=1e-4)
    assert f.values["wws_bytes"] == pytest.approx(1000.0 * 4096, rel=1e-4)
    assert f.values["hot_fraction"] == pytest.approx(0.85, abs=1e-5)
    assert f.rms_log_residual < 1e-6
    assert f.workload.wws_bytes == 1000 * 4096


def test_fit_dirty_samples_from_simulator_within_uncertainty():
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(8), hot_fraction=0.7, writes_per_s=6000)
    t = np.array([0.125, 0.25, 0.5, 1, 2, 4, 8, 16])
    d = wf.sample_dirty_pages(VM, wl, t, seed=3)
    f = wf.fit_dirty_samples(t, d, memory_bytes=VM.memory_bytes)
    for name, true in (("writes_per_s", 6000), ("wws_bytes", pc.MiB(8)), ("hot_fraction", 0.7)):
        se = f.std_errors[name]
        assert se > 0
        assert abs(f.values[name] - true) < max(4 * se, 0.05 * true), name
    assert f.write_mibps == pytest.approx(f.values["writes_per_s"] * 4096 / 2**20)


def test_fixed_parameters_stay_fixed():
    T = np.array([2.0, 0.5, 0.2, 0.1])
    e = wf.expected_round_pages(VM.n_pages, 20_000, 2048, 1.0, T, first_round=True)
    f = wf.fit_rounds(T, memory_bytes=VM.memory_bytes, pages_sent=e,
                      fixed={"wws_bytes": pc.MiB(8), "hot_fraction": 1.0})
    assert f.fixed == ("wws_bytes", "hot_fraction")
    assert f.values["wws_bytes"] == pc.MiB(8) and f.std_errors["wws_bytes"] == 0
    assert f.values["writes_per_s"] == pytest.approx(20_000, rel=1e-5)


def test_bytes_and_pages_agree():
    T = [2.0, 0.5, 0.2, 0.1]
    e = wf.expected_round_pages(VM.n_pages, 20_000, 2048, 0.9, T, first_round=True)
    a = wf.fit_rounds(T, memory_bytes=VM.memory_bytes, pages_sent=e)
    b = wf.fit_rounds(T, memory_bytes=VM.memory_bytes, bytes_sent=e * (4096 + 8), header_bytes=8)
    assert a.values["writes_per_s"] == pytest.approx(b.values["writes_per_s"], rel=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(pages_sent=[100, 10, 5]), "one entry per round"),          # length mismatch
    (dict(pages_sent=[100, 10]), "pages_sent"),
    (dict(pages_sent=[100, 0, 5, 1]), "pages"),
    (dict(), "exactly one"),
    (dict(pages_sent=[100, 10, 5, 1], bytes_sent=[1, 2, 3, 4]), "exactly one"),
    (dict(pages_sent=[100, 10, 5, 1], fixed={"rate": 1}), "fixed"),
])
def test_fit_rounds_rejects_bad_input(kwargs, match):
    T = [1.0, 0.5, 0.2, math.nan] if len(kwargs.get("pages_sent", [0] * 4)) == 4 else [1.0, 0.5, 0.2, 0.1]
    with pytest.raises(ValueError, match=match):
        wf.fit_rounds(T, memory_bytes=VM.memory_bytes, **kwargs)
    with pytest.raises(ValueError, match="durations_s"):
        wf.fit_rounds([1.0, -0.5, 0.1], memory_bytes=VM.memory_bytes, pages_sent=[100, 10, 5])


def test_clark_durations_follow_rule_d():
    runs = wf.clark_runs()
    sw = runs["specweb99"]
    assert sw.durations_s[0] == 54.1 and sw.durations_s[-1] == 0.201
    assert sw.durations_s[:-1].sum() + sw.downtime_s == pytest.approx(sw.total_time_s)
    assert sw.mib_sent.sum() == pytest.approx(959.5, abs=0.05)        # the published 960 MB
    q = runs["quake3"]
    assert q.durations_s[0] == pytest.approx(56.3 * 2**20 * 8 / 100e6)   # first pass at 100 Mbit/s
    assert q.mib_sent[-1] == pytest.approx(148 / 1024)


def test_clark_fit_and_round_by_round_simulation():
    d = wf.clark_demo("specweb99", seeds=1)
    f = d["fit"]
    assert f.rms_log_residual < 0.3
    for n in wf.PARAMS:
        assert f.std_errors[n] > 0
    # the simulated bulk pass skips what the fitted hot set re-dirties: close to the published 676.8 MB
    assert d["rows"][0]["simulated_mib"] == pytest.approx(676.8, rel=0.05)
    assert d["rows"][1]["simulated_mib"] == pytest.approx(126.7, rel=0.25)
    text = wf.format_demo(d)
    assert "round-by-round" in text and "676.80" in text


def test_cli_fit_workload_rounds(tmp_path, capsys):
    from precopy.cli import main
    T = [2.0, 0.5, 0.2, 0.1, 0.05]
    e = wf.expected_round_pages(VM.n_pages, 20_000, 2048, 0.9, T, first_round=True)
    f = tmp_path / "r.csv"
    f.write_text("duration_s,pages_sent\n" + "\n".join(f"{t},{p}" for t, p in zip(T, e)) + "\n")
    assert main(["fit-workload", "--rounds", str(f), "--memory", "64MiB"]) == 0
    out = capsys.readouterr().out
    assert "writes_per_s" in out and "20000" in out
    bad = tmp_path / "b.csv"
    bad.write_text("duration_s,pages\n1,2\n")
    assert main(["fit-workload", "--rounds", str(bad), "--memory", "64MiB"]) == 2
    assert "pages_sent" in capsys.readouterr().err


def test_cli_fit_workload_dirty_samples(tmp_path, capsys):
    from precopy.cli import main
    t = [0.125, 0.25, 0.5, 1, 2, 4, 8]
    d = wf.expected_distinct_pages(VM.n_pages, 5000, 2048, 0.75, t)
    f = tmp_path / "d.csv"
    f.write_text("interval_s,dirty_pages\n" + "\n".join(f"{a},{b}" for a, b in zip(t, d)) + "\n")
    assert main(["fit-workload", "--dirty-samples", str(f), "--memory", "64MiB"]) == 0
    out = capsys.readouterr().out
    assert "hot_fraction" in out and "0.75" in out
    assert main(["fit-workload", "--dirty-samples", str(f)]) == 2
    assert "--memory" in capsys.readouterr().err
