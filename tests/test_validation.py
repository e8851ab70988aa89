"""Validation against published measurements: the mapping, its rules, the report."""

import csv
import math

import numpy as np
import pytest

import precopy as pc
from precopy import datasets, validation as V, workload_fit as wf
from precopy.cli import main

CLARK_CAP_MIBPS = 100e6 / 8 / 2**20


@pytest.fixture(scope="module")
def report():
    return V.validate(seeds=1)


def test_every_published_row_is_mapped_once_with_a_reason_when_excluded():
    pub = datasets.read_csv("published_migrations.csv")
    mp = datasets.read_csv("validation_map.csv")
    assert sorted(int(m["pub_row"]) for m in mp) == list(range(1, len(pub) + 1))
    for m in mp:
        assert pub[int(m["pub_row"]) - 1]["source_id"] == m["source_id"]
        assert m["status"] in ("included", "excluded")
        if m["status"] == "excluded":
            assert m["exclusion_reason"].strip()
        else:
            assert m["workload_rule"] in V.WORKLOAD_RULES and m["assumptions"].strip()


def test_optimised_transports_are_excluded():
    pub = datasets.read_csv("published_migrations.csv")
    for m in datasets.read_csv("validation_map.csv"):
        system = pub[int(m["pub_row"]) - 1]["system"].lower()
        if any(k in system for k in ("compress", "zstd", "qatzip", "rdma", "zero-page", "tls")) \
                and "no compression" not in system:
            assert m["status"] == "excluded", m["pub_row"]


def test_rules_are_applied_uniformly():
    """No per-row tuning: the scenario columns follow the written rules."""
    pub = datasets.read_csv("published_migrations.csv")
    for m in datasets.read_csv("validation_map.csv"):
        if m["status"] != "included":
            continue
        p = pub[int(m["pub_row"]) - 1]
        assert m["mtu"] == "1500"                                          # rule M
        assert m["downtime_limit_ms"] == ""                                # rule T: no source states one
        if p["system"].startswith("Xen"):
            assert m["policy"] == "xen-legacy"                             # rule P
            assert float(m["max_bandwidth_mibps"]) == CLARK_CAP_MIBPS      # rule D
        else:
            assert m["policy"] == "qemu" and float(m["max_bandwidth_mibps"]) == 0   # rules P, B
        assert m["link_gbps"] == p["link_gbps"]
        streams = 8 if "8 ch" in p["system"] else 1
        assert int(m["streams"]) == streams


def test_workload_rules():
    sc, meta, _ = V.scenario_rows(seeds=1)
    pub = datasets.read_csv("published_migrations.csv")
    by = {s["scenario"]: (s, m) for s, m in zip(sc, meta)}
    for s, m in by.values():
        rule = m["workload_rule"]
        p = pub[m["pub_row"] - 1]
        if rule in ("W1", "W5"):
            assert s["workload"] == "idle" and s["zero_fraction"] == 0
        elif rule == "W2":
            assert s["workload"] == "idle" and 0 < s["zero_fraction"] < 1
        elif rule == "W4":
            assert not m["score_data"]
            # the zero share reproduces the published transferred bytes through QEMU's 8-byte headers
            n = float(p["vm_mem_mib"]) * 256
            nz = n * (1 - s["zero_fraction"])
            assert (nz * 4104 + (n - nz) * 8) / 2**20 == pytest.approx(float(p["data_sent_mib"]), rel=1e-9)
        elif rule == "W3":
            assert s["workload"] == "hotcold"
    f = wf.fit_clark("specweb99")
    s = by["clark-specweb99"][0]
    assert s["write_mibps"] == pytest.approx(f.write_mibps)
    assert s["hot_fraction"] == pytest.approx(f.values["hot_fraction"])
    assert by["qemu-multifd8-silesia"][0]["zero_fraction"] == pytest.approx(1 - 54 / 64)
    assert by["clark-mmuncher"][0]["wws_mib"] == 256


def test_report_errors_are_computed_from_the_rows(report):
    assert report.summary["n_included"] == len(report.rows) >= 8
    assert report.summary["n_included"] + report.summary["n_excluded"] == 46
    for r in report.rows:
        for k in ("total_time_s", "downtime_ms", "data_sent_mib"):
            meas, pred, ape = r[f"measured_{k}"], r[f"predicted_{k}"], r[f"ape_{k}"]
            if ape is not None:
                assert ape == pytest.approx(abs(pred - meas) / meas * 100)
            elif meas is not None and k != "data_sent_mib":
                pytest.fail(f"{r['scenario']} {k} measured but not scored")
        assert r["verdict_ok"] == (r["measured_converged"] == r["predicted_converged"])
    tt = [r["ape_total_time_s"] for r in report.rows]
    s = report.summary["all"]["total_time_s"]
    assert s["n"] == len(tt)
    assert s["median"] == pytest.approx(np.median(tt))
    assert s["p90"] == pytest.approx(np.percentile(tt, 90))
    v = report.summary["verdicts"]
    assert v["right"] + v["wrong"] == len(report.rows)
    oos = [r for r in report.rows if not r["in_sample"]]
    assert report.summary["out_of_sample"]["total_time_s"]["n"] == len(oos)


def test_predictions_match_predict_table(report):
    # the report is the predict command on the derived scenario table
    from precopy.predict import predict_table
    again = predict_table(report.scenarios[:2])
    for a, b in zip(again, report.predictions[:2]):
        assert a["total_time_s"] == b["total_time_s"]


def test_ape_summary():
    e = V.ape_summary([])
    assert e["n"] == 0 and math.isnan(e["median"]) and math.isnan(e["p90"])
    s = V.ape_summary([1.0, None, 3.0, float("nan"), 5.0])
    assert s == {"n": 3, "median": 3.0, "p90": pytest.approx(4.6)}


def test_bad_map_is_rejected(tmp_path):
    src = (datasets.data_dir() / "validation_map.csv").read_text().splitlines()
    f = tmp_path / "m.csv"
    f.write_text("\n".join(src[:-1]) + "\n")                 # a published row left unmapped
    with pytest.raises(ValueError, match="pub_row"):
        V.scenario_rows(f)
    bad = [src[0]] + [ln.replace(",W5,", ",W9,", 1) if ln.startswith("1,") else ln for ln in src[1:]]
    f.write_text("\n".join(bad) + "\n")
    with pytest.raises(ValueError, match="workload_rule"):
        V.scenario_rows(f)


def test_cli_validate(tmp_path, capsys):
    out = tmp_path / "v.csv"
    sc = tmp_path / "s.csv"
    assert main(["validate", "--seeds", "1", "--csv", str(out), "--scenarios-out", str(sc)]) == 0
    text = capsys.readouterr().out
    assert "median / p90" in text and "convergence verdicts" in text and "excluded rows" in text
    rows = list(csv.DictReader(open(out)))
    assert len(rows) >= 8 and "ape_total_time_s" in rows[0]
    # the derived scenario table is a valid `precopy predict` input
    assert main(["predict", str(sc), "-o", str(tmp_path / "r.csv")]) == 0
