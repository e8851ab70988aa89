"""Validation against published measurements: the mapping, its rules, the report."""

import csv
import math

import numpy as np
import pytest

from precopy import datasets, validation as V, workload_fit as wf
from precopy.cli import main



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


def test_optimised_transports_are_excluded_or_modelled():
    """RDMA, zero-page offload and TLS rows are excluded; a compressed row is included only
    with its compression (rule C1 or C2)."""
    pub = datasets.read_csv("published_migrations.csv")
    for m in datasets.read_csv("validation_map.csv"):
        system = pub[int(m["pub_row"]) - 1]["system"].lower()
        if any(k in system for k in ("rdma", "zero-page", "tls", "qatzip")):
            assert m["status"] == "excluded", m["pub_row"]
        elif any(k in system for k in ("compress", "zstd")) and "no compression" not in system:
            assert m["status"] == "excluded" or m["compression_rule"] in V.COMPRESSION_RULES, m["pub_row"]
        else:
            assert m["compression_rule"] == "", m["pub_row"]


def test_compression_rules():
    sc, meta, _ = V.scenario_rows(seeds=1)
    pub = datasets.read_csv("published_migrations.csv")
    mp = {int(m["pub_row"]): m for m in datasets.read_csv("validation_map.csv")}
    seen = set()
    for s, mt in zip(sc, meta):
        m = mp[mt["pub_row"]]
        rule = m["compression_rule"]
        if not rule:
            assert "compress_ratio" not in s
            continue
        seen.add(rule)
        # the speeds are the benchmark's MB/s, converted to the predict table's MiB/s
        assert s["compress_mibps"] == pytest.approx(float(m["compress_mb_per_s"]) * 1e6 / 2**20)
        assert s["decompress_mibps"] == pytest.approx(float(m["decompress_mb_per_s"]) * 1e6 / 2**20)
        if rule == "C1":
            assert s["compress_ratio"] == float(m["compress_ratio"]) and mt["score_data"]
        else:
            assert not mt["score_data"] and m["compress_ratio"] == ""
            twin = pub[int(m["pair_row"]) - 1]
            p = pub[mt["pub_row"] - 1]
            assert twin["source_id"] == p["source_id"] and "no compression" in twin["system"]
            # the ratio maps the twin's page bytes onto this run's published bytes
            hdr = 8 * float(p["vm_mem_mib"]) * 256 / 2**20
            pages = float(twin["data_sent_mib"]) - hdr
            assert pages / s["compress_ratio"] + hdr == pytest.approx(float(p["data_sent_mib"]), rel=1e-12)
    assert seen == {"C1", "C2"}


def test_compressed_rows_predict_with_compression(report):
    by = {r["scenario"]: r for r in report.rows}
    plain, zstd = by["qemu-multifd8-silesia"], by["qemu-mfd8-silesia-zstd"]
    assert zstd["predicted_total_time_s"] < plain["predicted_total_time_s"]
    assert zstd["predicted_data_sent_mib"] < plain["predicted_data_sent_mib"] / 2.5
    # the analytic models know no compression: not scored for these rows
    assert math.isnan(zstd["analytic_total_time_s"])
    idle, idle_z = by["qemu-doc-idle"], by["qemu-doc-idle-zlib8"]
    # rule W4 derives the zero share from one pass; the idle guest's background pages add under 2 %
    assert idle_z["predicted_data_sent_mib"] == pytest.approx(idle_z["measured_data_sent_mib"], rel=0.02)
    assert idle_z["ape_data_sent_mib"] is None and idle["ape_data_sent_mib"] is None


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
            assert m["policy"] == "xen-nsdi05"                             # rules P and D
            assert m["max_bandwidth_mibps"] == ""                          # rule D: the adaptive rate
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
            # (of the uncompressed twin run when the row itself is compressed, rule C2)
            mp = {int(x["pub_row"]): x for x in datasets.read_csv("validation_map.csv")}
            pair = mp[m["pub_row"]]["pair_row"]
            src = pub[int(pair) - 1] if pair else p
            n = float(p["vm_mem_mib"]) * 256
            nz = n * (1 - s["zero_fraction"])
            assert (nz * 4104 + (n - nz) * 8) / 2**20 == pytest.approx(float(src["data_sent_mib"]), rel=1e-9)
        elif rule == "W3":
            assert s["workload"] == "hotcold"
    f = wf.fit_clark("specweb99")
    s = by["clark-specweb99"][0]
    assert s["write_mibps"] == pytest.approx(f.write_mibps)
    assert s["hot_fraction"] == pytest.approx(f.values["hot_fraction"])
    assert by["qemu-multifd8-silesia"][0]["zero_fraction"] == pytest.approx(1 - 54 / 64)
    assert by["clark-mmuncher"][0]["wws_mib"] == 256


def test_report_errors_are_computed_from_the_rows(report):
    cs, ex = V.cases()
    n_pub = sum(len(datasets.read_csv(f)) for f in ("published_migrations.csv", "published_migrations_more.csv",
                                                    "qemu_info_migrate.csv"))
    assert report.summary["n_included"] == len(report.rows) == len(cs) >= 20
    assert report.summary["n_included"] + report.summary["n_excluded"] == n_pub
    by_case = {c.scenario: c for c in cs}
    for r in report.rows:
        c = by_case[r["scenario"]]
        for k in ("total_time_s", "downtime_ms", "data_sent_mib", "rounds"):
            meas, pred, ape = r[f"measured_{k}"], r[f"predicted_{k}"], r[f"ape_{k}"]
            if ape is not None:
                assert c.score[k] and ape == pytest.approx(abs(pred - meas) / meas * 100)
            elif c.score.get(k):
                pytest.fail(f"{r['scenario']} {k} scored but has no error")
        if r["ape_downtime_ms"] is not None:
            assert r["abs_err_downtime_ms"] == pytest.approx(abs(r["predicted_downtime_ms"] - r["measured_downtime_ms"]))
        assert r["verdict_ok"] == (r["measured_converged"] == r["predicted_converged"])
    tt = [r["ape_total_time_s"] for r in report.rows if r["ape_total_time_s"] is not None]
    s = report.summary["all"]["total_time_s"]
    assert s["n"] == len(tt)
    assert s["median"] == pytest.approx(np.median(tt))
    assert s["p90"] == pytest.approx(np.percentile(tt, 90))
    v = report.summary["verdicts"]
    assert v["right"] + v["wrong"] + v["unpredicted"] == len(report.rows)
    assert report.mode == "in-sample"
    for src, d in report.summary["by_source"].items():
        assert d["n"] == sum(r["source_id"] == src for r in report.rows)


def test_predictions_are_predict_case_under_the_stored_calibration(report):
    from precopy import calibrate as CF, calibration as C
    cs, _ = V.cases()
    by = {r["scenario"]: r for r in report.rows}
    for c in cs[:3] + [c for c in cs if c.kind != "sim"][:2]:
        p = V.predict_case(c, C.load(), seeds=1)
        r = by[c.scenario]
        assert r["predicted_downtime_ms"] == pytest.approx(p["downtime_ms"], rel=1e-12)
        assert r["predicted_converged"] == p["converged"]


def test_idle_qemu_downtime_is_no_longer_the_bare_resume(report):
    """Converged QEMU guests: the downtime includes the fitted switchover term and the
    background pages, not just the 9 ms resume of the old model."""
    q = [r for r in report.rows if r["hypervisor"] == "qemu" and r["measured_downtime_ms"] and
         r["measured_converged"] and r["workload_rule"] != "W5"]
    assert q and all(r["predicted_downtime_ms"] > 15 for r in q)
    # and the published idle-guest range (24-337 ms) is where they land, within a factor of 3
    for r in q:
        assert r["measured_downtime_ms"] / 3 < r["predicted_downtime_ms"] < r["measured_downtime_ms"] * 3, r["scenario"]


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
    assert len(rows) >= 20 and "ape_total_time_s" in rows[0] and "abs_err_downtime_ms" in rows[0]
    # the derived scenario table is a valid `precopy predict` input
    assert main(["predict", str(sc), "-o", str(tmp_path / "r.csv")]) == 0


# --- the second map (new published rows) and leave-one-source-out -------------------------------

def test_more_map_lists_every_row_once_with_reasons():
    mp = datasets.read_csv("validation_map_more.csv")
    for f in {m["file"] for m in mp}:
        rows = datasets.read_csv(f)
        got = sorted(int(m["row"]) for m in mp if m["file"] == f)
        assert got == list(range(1, len(rows) + 1)), f
        for m in mp:
            if m["file"] == f:
                assert rows[int(m["row"]) - 1]["source_id"] == m["source_id"]
    for m in mp:
        assert m["status"] in ("included", "excluded")
        if m["status"] == "excluded":
            assert m["exclusion_reason"].strip()
        else:
            assert m["kind"] in V.KINDS and m["assumptions"].strip() and m["workload_rule"] in V.MORE_WORKLOAD_RULES


def test_new_published_rows_carry_provenance():
    for r in datasets.read_csv("qemu_info_migrate.csv"):
        for col in ("source_id", "source", "url", "where_read", "exactness", "note"):
            assert r[col].strip(), col
        # transferred bytes are the printed kbytes in MiB; page counts add up to at most the guest
        assert float(r["duplicate_pages"]) + float(r["normal_pages"]) <= float(r["vm_mem_mib"]) * 256 * 1.02
    for r in datasets.read_csv("published_migrations_more.csv"):
        assert r["source_id"].strip() and r["where_read"].strip() and r["exactness"].strip()


def test_bad_more_map_is_rejected(tmp_path):
    src = (datasets.data_dir() / "validation_map_more.csv").read_text().splitlines()
    f = tmp_path / "m.csv"
    f.write_text("\n".join(src[:-1]) + "\n")
    with pytest.raises(ValueError, match="row"):
        V.cases(more_map_path=f)
    bad = [src[0]] + [ln.replace(",device,", ",magic,", 1) for ln in src[1:]]
    f.write_text("\n".join(bad) + "\n")
    with pytest.raises(ValueError, match="kind"):
        V.cases(more_map_path=f)


def test_cv_short_form_refits_without_the_held_out_source():
    """The CI form of `precopy validate --cv source`: two sources, one seed."""
    held = ["S4_qemu_mtcompress_doc", "Q2_consul2023_ppc_dirtyring"]
    rep = V.validate(seeds=1, cv="source", sources=held, fit_seeds=1)
    assert rep.mode == "cv-source" and set(rep.calibrations) == set(held)
    assert {r["source_id"] for r in rep.rows} == set(held)
    for src, cal in rep.calibrations.items():
        mine = {r["scenario"] for r in rep.rows if r["source_id"] == src}
        for name, rec in cal.params.items():
            assert not mine & set(rec.get("rows", [])), (src, name)
        assert all(r["prediction"] == f"cv: refit without {src}" for r in rep.rows if r["source_id"] == src)
    assert set(rep.summary["by_source"]) == set(held)
    text = V.format_report(rep)
    assert "CROSS-VALIDATED" in text and "per source" in text and "downtime absolute error" in text


def test_cv_rejects_unknown_source_and_mode():
    with pytest.raises(ValueError, match="sources"):
        V.validate(seeds=1, cv="source", sources=["nope"])
    with pytest.raises(ValueError, match="cv"):
        V.validate(seeds=1, cv="row")


def test_device_rows_without_a_fitted_rate_are_not_predicted():
    from precopy.calibration import Calibration
    cs, _ = V.cases()
    dev = [c for c in cs if c.kind == "device"]
    assert dev
    p = V.predict_case(dev[0], Calibration({}))
    assert p["converged"] is None and math.isnan(p["downtime_ms"])
