"""Link model: framing arithmetic, fitted profiles, streams, caps, the stored fit."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import precopy as pc
from precopy import linkfit, links
from precopy.links import ETH_OVERHEAD_BYTES, IP_TCP_HEADER_BYTES, Link, framing_efficiency, soft_min


# --- framing --------------------------------------------------------------------------

def test_header_sizes_from_standards():
    # preamble+SFD 8, MAC header 14, FCS 4, inter-frame gap 12; IPv4 20, TCP 20, timestamps 12
    assert ETH_OVERHEAD_BYTES == 38
    assert IP_TCP_HEADER_BYTES == 52


@pytest.mark.parametrize("mtu, payload, wire", [(1500, 1448, 1538), (9000, 8948, 9038), (576, 524, 614)])
def test_framing_efficiency_is_payload_over_wire_bytes(mtu, payload, wire):
    assert framing_efficiency(mtu) == pytest.approx(payload / wire, rel=1e-15)


def test_jumbo_frames_are_more_efficient():
    effs = [framing_efficiency(m) for m in (576, 1500, 4000, 9000, 65535)]
    assert all(a < b for a, b in zip(effs, effs[1:]))
    assert effs[-1] < 1.0


@pytest.mark.parametrize("bad", [575, 65536, 1500.5, "1500", True, None])
def test_framing_rejects_bad_mtu(bad):
    with pytest.raises(ValueError, match="mtu"):
        framing_efficiency(bad)


def test_plain_link_is_backward_compatible():
    # the original semantics: rate x framing, then hard min with streams x per-stream and cap
    link = Link(rate_bps=pc.Gbps(10))
    assert link.goodput_bps == pytest.approx(1e10 * 1448 / 1538, rel=1e-15)
    assert Link(rate_bps=pc.Gbps(9.4), mtu=None).goodput_bps == 9.4e9
    l2 = Link(rate_bps=pc.Gbps(40), streams=2, per_stream_bps=pc.Gbps(15))
    assert l2.goodput_bps == 30e9
    assert Link(rate_bps=pc.Gbps(10), cap_bps=pc.Gbps(2)).goodput_bps == 2e9
    assert link.goodput_Bps == link.goodput_bps / 8


@pytest.mark.parametrize("field, value", [("stack_efficiency", 0.0), ("stack_efficiency", 1.01),
                                          ("sharpness", 0.5), ("window_bytes", 10), ("streams", 0),
                                          ("rtt_s", -1.0), ("cap_bps", 0.0)])
def test_link_rejects_bad_parameters(field, value):
    with pytest.raises(ValueError, match=field):
        Link(rate_bps=1e9, **{field: value})


# --- soft minimum and the stream rule ---------------------------------------------------

def test_soft_min_bounds():
    assert soft_min(3.0, 7.0, None) == 3.0
    assert soft_min(3.0, math.inf, 4.0) == 3.0
    for k in (1.0, 2.0, 6.0, 20.0):
        s = soft_min(3.0, 7.0, k)
        assert s < 3.0
        assert s == soft_min(7.0, 3.0, k)
    assert soft_min(3.0, 7.0, 50.0) == pytest.approx(3.0, rel=1e-10)


@settings(max_examples=200, deadline=None)
@given(rate_gbps=st.floats(0.1, 400), mtu=st.sampled_from([1500, 9000]), n=st.integers(1, 63),
       per=st.floats(0.5, 60), k=st.one_of(st.none(), st.floats(1.0, 50.0)), rtt=st.floats(0.0, 0.2))
def test_more_streams_never_lower_throughput(rate_gbps, mtu, n, per, k, rtt):
    kw = dict(rate_bps=rate_gbps * 1e9, mtu=mtu, per_stream_bps=per * 1e9, sharpness=k, rtt_s=rtt,
              window_bytes=linkfit.WINDOW_BYTES)
    assert Link(streams=n + 1, **kw).goodput_bps >= Link(streams=n, **kw).goodput_bps
    # and never above the line or the streams
    g = Link(streams=n, **kw).goodput_bps
    assert g <= Link(streams=n, **kw).line_bps * (1 + 1e-12)
    assert g <= Link(streams=n, **kw).streams_bps * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(rate_gbps=st.floats(0.1, 400), n=st.integers(1, 32), cap_gbps=st.floats(0.001, 500),
       name=st.sampled_from(links.PROFILE_NAMES))
def test_a_cap_always_binds(rate_gbps, n, cap_gbps, name):
    link = Link.from_profile(name, streams=n, cap_bps=cap_gbps * 1e9)
    assert link.goodput_bps <= cap_gbps * 1e9
    free = Link.from_profile(name, streams=n)
    assert link.goodput_bps == min(free.goodput_bps, cap_gbps * 1e9)
    if cap_gbps * 1e9 < free.goodput_bps:
        assert link.bottleneck == "cap"


def test_rtt_limits_a_stream_through_the_window():
    near = Link.from_profile("25GbE", rtt_s=0.0001)
    far = Link.from_profile("25GbE", rtt_s=0.05)
    assert far.stream_ceiling_bps == pytest.approx(linkfit.WINDOW_BYTES * 8 / 0.05)
    assert far.goodput_bps < near.goodput_bps
    assert far.goodput_bps <= linkfit.WINDOW_BYTES * 8 / 0.05
    # more streams recover the long-distance loss
    assert Link.from_profile("25GbE", rtt_s=0.05, streams=8).goodput_bps > 4 * far.goodput_bps * 0.9


# --- fitted profiles ----------------------------------------------------------------------

def test_profiles_exist_and_flag_extrapolations():
    ps = links.profiles()
    assert list(ps) == ["1GbE", "10GbE", "25GbE", "40GbE", "100GbE"]
    assert [p.extrapolation for p in ps.values()] == [False, False, False, True, True]
    assert links.profile("25gbe").name == "25GbE"
    assert links.profile(pc.Gbps(10)).name == "10GbE"
    assert links.profile(pc.Gbps(50)).extrapolation
    with pytest.raises(ValueError, match="link profile"):
        links.profile("3GbE")


def test_profile_goodput_is_below_framed_line_rate_and_ordered():
    for name, p in links.profiles().items():
        for mtu in (1500, 9000):
            g = p.link(mtu=mtu).goodput_bps
            assert 0 < g <= p.rate_bps * framing_efficiency(mtu)
    g = [links.profile(n).link(streams=8).goodput_bps for n in links.PROFILE_NAMES]
    assert all(a < b for a, b in zip(g, g[1:]))


def test_one_stream_is_cpu_bound_on_fast_links():
    # one migration stream tops out near 15-18 Gbit/s (vMotion; reference sec. 3)
    one = Link.from_profile("25GbE").goodput_bps
    assert 12e9 < one < 18.5e9
    assert Link.from_profile("25GbE").bottleneck == "streams"
    assert Link.from_profile("1GbE").bottleneck == "line"


def test_stream_class_and_override():
    hv = Link.from_profile("10GbE", stream_class="hyperv-2012")
    assert hv.goodput_bps < 3.5e9
    assert Link.from_profile("10GbE", per_stream_bps=pc.Gbps(1)).goodput_bps <= 1e9
    with pytest.raises(ValueError, match="stream_class"):
        Link.from_profile("10GbE", stream_class="fast")


def test_fitted_profiles_reproduce_their_data_within_reported_residuals():
    rec = links.fitted_parameters()
    worst = rec["summary"]["max_abs_rel_residual"]
    assert worst < 0.25
    pts = {p.point_id: p for p in linkfit.load_points() if p.use}
    assert len(rec["residuals"]) == len(pts) == rec["summary"]["n_points"]
    for r in rec["residuals"]:
        p = pts[r["point_id"]]
        if p.link_gbps is None:       # a per-stream statement without a link: the stream term only
            link = Link(rate_bps=1e13, mtu=None, per_stream_bps=None)
            g = links.profile("1GbE").per_stream_bps[p.stream_class] * p.streams
        else:
            link = links.profile(p.link_gbps * 1e9).link(mtu=p.mtu, streams=p.streams,
                                                        stream_class=p.stream_class)
            g = link.goodput_bps
        assert g / 1e9 == pytest.approx(r["fitted_gbps"], rel=1e-9)
        assert abs(g / 1e9 / p.achieved_gbps - 1) <= worst + 1e-12
        assert abs(g / 1e9 / p.achieved_gbps - 1) == pytest.approx(abs(r["rel_residual"]), abs=1e-9)


def test_stored_profiles_match_a_fresh_fit(tmp_path):
    fresh = linkfit.fit_links()
    stored = links.fitted_parameters()["parameters"]
    for n in linkfit.PARAM_NAMES:
        assert stored[n]["value"] == pytest.approx(fresh.values[n], rel=1e-6)
        assert stored[n]["std_error"] == pytest.approx(fresh.std_errors[n], rel=1e-4)
        assert stored[n]["std_error"] > 0
    out = tmp_path / "p.json"
    linkfit.write_profiles(out_path=out)
    rec = json.loads(out.read_text())
    assert rec["summary"]["rms_log_residual"] == pytest.approx(fresh.rms_log_residual)
    assert {e["point_id"] for e in rec["excluded"]} >= {"T6a", "T6b", "T7", "T8"}
    # profiles read from the new file agree with the packaged ones
    assert links.profile("25GbE", path=out).stack_efficiency == pytest.approx(
        links.profile("25GbE").stack_efficiency, rel=1e-6)


def test_mtu_rule_matches_the_data_column():
    pts = linkfit.load_points()
    rule = linkfit.mtu_by_rule(pts)
    for p in pts:
        if p.use:
            assert p.mtu == rule[p.testbed], p.point_id


def test_fit_rejects_an_mtu_that_breaks_rule_m(tmp_path):
    src = (pc.datasets.data_dir() / "link_fit_points.csv").read_text().splitlines()
    bad = [src[0]] + [ln.replace(",9000,yes", ",1500,yes") if ln.startswith("T11a") else ln for ln in src[1:]]
    f = tmp_path / "pts.csv"
    f.write_text("\n".join(bad) + "\n")
    with pytest.raises(ValueError, match="mtu_assumed"):
        linkfit.fit_links(f)


def test_fit_recovers_known_parameters_from_synthetic_points(tmp_path):
    # generate points from known parameters with the same design; the fit must get them back
    truth = np.array([0.95, 5.0, 14.0, 3.0])
    src = (pc.datasets.data_dir() / "link_fit_points.csv").read_text().splitlines()
    import csv
    import io
    rows = list(csv.DictReader(io.StringIO("\n".join(src))))
    for r in rows:
        if r["use"] == "yes":
            lg = None if r["link_gbps"] == "" else float(r["link_gbps"])
            mtu = None if r["mtu_assumed"] == "" else int(r["mtu_assumed"])
            r["achieved_gbps"] = repr(linkfit.model_gbps(truth, lg, mtu, int(r["streams"]), r["stream_class"]))
    f = tmp_path / "pts.csv"
    with open(f, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fit = linkfit.fit_links(f, check_mtu_rule=False)
    assert fit.theta() == pytest.approx(truth, rel=1e-4)
    assert fit.rms_log_residual < 1e-6


def test_cli_fit_links_check(capsys):
    from precopy.cli import main
    assert main(["fit-links", "--check"]) == 0
    out = capsys.readouterr().out
    assert "stack_efficiency" in out and "match the fit" in out


def test_data_readme_quotes_the_stored_parameters():
    import re
    text = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text()   # the people-facing README
    stored = links.fitted_parameters()["parameters"]
    for name in linkfit.PARAM_NAMES:
        label = "sharpness` k" if name == "sharpness" else f"{name}`"
        m = re.search(re.escape(label) + r" \| ([0-9.]+) \| ([0-9.]+) \|", text)
        assert m, name
        value, se = m.group(1), m.group(2)
        digits = len(value.split(".")[1])
        assert float(value) == round(stored[name]["value"], digits), name
        assert float(se) == round(stored[name]["std_error"], len(se.split(".")[1])), name
