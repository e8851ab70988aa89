"""Validate predictions against published measurements.

``data/validation_map.csv`` maps every row of ``data/published_migrations.csv``
to a scenario (``status=included``) or says why it is left out (compression,
RDMA, zero-page offload, TLS, concurrency, missing data).  The rules that turn
a published description into scenario columns are written in ``data/README.md``
and applied here in code, the same way for every row:

* **P** policy by system: Xen (NSDI 2005) -> ``xen-nsdi05``; QEMU/KVM -> ``qemu``.
* **M** MTU 1500 unless a throughput proves jumbo frames (none of these rows).
* **B** QEMU ``max-bandwidth``: the stated value, else unlimited.
* **D** Clark et al.'s rate limiter as the paper states it (``XenNSDI05``): 100 Mbit/s
  first pass, then the dirtying rate + 50 Mbit/s, stop above 500 Mbit/s or below
  256 KB, stop-and-copy at 500 Mbit/s.
* **T** downtime limit: stated, else the policy default.
* **W1** idle guest -> ``idle``.  **W2** memory contents stated (``filled_mib``
  of data, the rest zero) -> ``idle`` with ``zero_fraction = 1 - filled/memory``.
  **W3** per-round transfers published -> hot/cold workload fitted to them
  (:func:`precopy.workload_fit.fit_clark`; in-sample).  **W4** idle QEMU guest
  with unstated contents but published transferred bytes -> zero share derived
  from those bytes (data sent then not scored).  **W5** a busy guest whose dirty
  rate is not published -> no writes and all memory non-zero (one full pass).
* **C1** compression of data with a published benchmark (the Silesia corpus) ->
  that benchmark's ratio and per-thread speeds (zstd README, lzbench).  **C2**
  compression of unstated contents with an uncompressed twin run (``pair_row``)
  -> ratio from the two runs' published transferred bytes, less QEMU's 8-byte
  page headers (data sent then not scored), speeds as C1 for the same
  compressor; the twin also supplies rule W4's zero share.

``precopy validate`` prints, per row, measured against predicted total time,
downtime and data sent with their absolute percentage errors, the convergence
verdicts, and a summary: median and 90th-percentile absolute percentage error
(all rows, and rows that share no data with any fit), and verdicts right/wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import datasets
from .predict import INPUT_COLUMNS, predict_table
from .units import KiB, MiB

__all__ = ["WORKLOAD_RULES", "COMPRESSION_RULES", "scenario_rows", "validate", "ValidationReport", "format_report",
           "ape_summary", "MAP_FILE"]

MAP_FILE = "validation_map.csv"
WORKLOAD_RULES = ("W1", "W2", "W3", "W4", "W5")
COMPRESSION_RULES = ("C1", "C2")
#: QEMU's per-page header on the wire (bytes), used by rule W4.
QEMU_HEADER_BYTES = 8
_METRICS = (("total_time_s", "total_time_s", 1.0), ("downtime_ms", "downtime_ms", 1.0),
            ("data_sent_mib", "data_sent_mib", 1.0))


def _f(s):
    s = (s or "").strip()
    return None if s == "" else float(s)


def _workload_columns(m, pub, rowno, twin=None):
    """Scenario workload columns for one included map row (rules W1-W5).

    ``twin`` is the published row of an uncompressed twin run (rule C2), whose
    transferred bytes rule W4 then uses."""
    twin = pub if twin is None else twin
    rule = m["workload_rule"].strip()
    mem_mib = float(pub["vm_mem_mib"])
    if rule in ("W1", "W5"):
        return {"workload": "idle", "zero_fraction": 0.0}
    if rule == "W2":
        filled = _f(m["filled_mib"])
        if filled is None or not 0 < filled <= mem_mib:
            raise ValueError(f"{MAP_FILE} row {rowno}: column 'filled_mib' must be in (0, vm_mem_mib] for rule W2")
        return {"workload": "idle", "zero_fraction": 1.0 - filled / mem_mib}
    if rule == "W3":
        from .workload_fit import fit_clark
        f = fit_clark(m["clark_run"].strip())
        pages = int(round(f.values["wws_bytes"] / KiB(4)))
        return {"workload": "hotcold", "wws_mib": pages * KiB(4) / MiB(1), "write_mibps": f.write_mibps,
                "hot_fraction": f.values["hot_fraction"]}
    if rule == "W4":
        data = _f(twin["data_sent_mib"])
        if data is None:
            raise ValueError(f"{MAP_FILE} row {rowno}: rule W4 needs the published data_sent_mib")
        n = mem_mib * MiB(1) / KiB(4)
        nonzero = (data * MiB(1) - QEMU_HEADER_BYTES * n) / KiB(4)
        return {"workload": "idle", "zero_fraction": 1.0 - nonzero / n}
    raise ValueError(f"{MAP_FILE} row {rowno}: column 'workload_rule' must be one of {WORKLOAD_RULES}; got {rule!r}")


def _mb_s_to_mibps(x):
    return x * 1e6 / MiB(1)


def _compression_columns(m, pub, twin, rowno):
    """Scenario compression columns for one included map row (rules C1, C2), or {}."""
    rule = m.get("compression_rule", "").strip()
    if not rule:
        return {}
    if rule not in COMPRESSION_RULES:
        raise ValueError(f"{MAP_FILE} row {rowno}: column 'compression_rule' must be empty or one of "
                         f"{COMPRESSION_RULES}; got {rule!r}")
    out = {}
    if rule == "C1":
        ratio = _f(m["compress_ratio"])
        if ratio is None:
            raise ValueError(f"{MAP_FILE} row {rowno}: rule C1 needs the benchmark's compress_ratio")
    else:
        if twin is None or _f(pub["data_sent_mib"]) is None or _f(twin["data_sent_mib"]) is None:
            raise ValueError(f"{MAP_FILE} row {rowno}: rule C2 needs a pair_row and both runs' data_sent_mib")
        if _f(m["compress_ratio"]) is not None:
            raise ValueError(f"{MAP_FILE} row {rowno}: rule C2 derives compress_ratio; leave the column empty")
        headers_mib = QEMU_HEADER_BYTES * float(pub["vm_mem_mib"]) * MiB(1) / KiB(4) / MiB(1)
        ratio = (_f(twin["data_sent_mib"]) - headers_mib) / (_f(pub["data_sent_mib"]) - headers_mib)
    out["compress_ratio"] = ratio
    for col, src in (("compress_mibps", "compress_mb_per_s"), ("decompress_mibps", "decompress_mb_per_s")):
        if _f(m[src]) is not None:
            out[col] = _mb_s_to_mibps(_f(m[src]))
    for col in ("compress_threads", "decompress_threads"):
        if _f(m[col]) is not None:
            out[col] = int(_f(m[col]))
    return out


def scenario_rows(map_path=MAP_FILE, seeds: int = 5):
    """The scenario table (predict input) and the measured values, for every included row.

    Returns
    -------
    scenarios : list of dict
        Predict input rows (columns of :data:`precopy.predict.INPUT_COLUMNS`).
    meta : list of dict
        Per scenario: ``pub_row``, ``source_id``, ``workload_description``,
        measured ``total_time_s``, ``downtime_ms``, ``data_sent_mib``, ``rounds``,
        ``converged``, ``score_data``, ``in_sample`` and ``assumptions``.
    excluded : list of dict
        ``pub_row``, ``source_id``, ``system``, ``reason`` of each excluded row.

    Examples
    --------
    >>> sc, meta, ex = scenario_rows(seeds=1)
    >>> len(sc) + len(ex) == len(datasets.read_csv("published_migrations.csv"))
    True
    """
    from . import _validate as v
    seeds = v.integer(seeds, "seeds", "count", lo=1, hi=1000)
    v.file_name(map_path, "map_path")
    pub = datasets.read_csv("published_migrations.csv")
    mp = datasets.read_csv(map_path)
    need = ("pub_row", "source_id", "status", "exclusion_reason", "scenario", "link_gbps", "mtu", "streams",
            "policy", "max_bandwidth_mibps", "downtime_limit_ms", "workload_rule", "assumptions", "in_sample",
            "measured_converged", "total_time_s_derived")
    missing = [c for c in need if mp and c not in mp[0]]
    if missing:
        raise ValueError(f"map_path {map_path!s}: missing column(s) {', '.join(missing)}")
    rows = sorted(int(m["pub_row"]) for m in mp)
    if rows != list(range(1, len(pub) + 1)):
        raise ValueError(f"{map_path}: column 'pub_row' must list every row of published_migrations.csv "
                         f"(1..{len(pub)}) exactly once")
    scenarios, meta, excluded = [], [], []
    for i, m in enumerate(mp, start=1):
        p = pub[int(m["pub_row"]) - 1]
        if p["source_id"] != m["source_id"]:
            raise ValueError(f"{map_path} row {i}: source_id {m['source_id']!r} does not match "
                             f"published_migrations.csv row {m['pub_row']} ({p['source_id']!r})")
        status = m["status"].strip()
        if status == "excluded":
            if not m["exclusion_reason"].strip():
                raise ValueError(f"{map_path} row {i}: an excluded row needs an exclusion_reason")
            excluded.append({"pub_row": int(m["pub_row"]), "source_id": p["source_id"], "system": p["system"],
                             "reason": m["exclusion_reason"]})
            continue
        if status != "included":
            raise ValueError(f"{map_path} row {i}: column 'status' must be 'included' or 'excluded'; got {status!r}")
        sc = {"scenario": m["scenario"], "memory_mib": float(p["vm_mem_mib"]), "link_gbps": float(m["link_gbps"]),
              "mtu": int(m["mtu"]), "streams": int(m["streams"]), "policy": m["policy"], "seeds": seeds}
        for c in ("max_bandwidth_mibps", "downtime_limit_ms"):
            if _f(m[c]) is not None:
                sc[c] = _f(m[c])
        pair = _f(m.get("pair_row", ""))
        twin = pub[int(pair) - 1] if pair is not None else None
        if twin is not None and twin["source_id"] != p["source_id"]:
            raise ValueError(f"{map_path} row {i}: pair_row {int(pair)} is from another source")
        sc.update(_workload_columns(m, p, i, twin))
        sc.update(_compression_columns(m, p, twin, i))
        assert set(sc) <= set(INPUT_COLUMNS)
        total = _f(m["total_time_s_derived"]) if _f(m["total_time_s_derived"]) is not None else _f(p["total_time_s"])
        meta.append({
            "pub_row": int(m["pub_row"]), "source_id": p["source_id"], "system": p["system"],
            "workload_description": p["workload"], "workload_rule": m["workload_rule"],
            "total_time_s": total, "downtime_ms": _f(p["downtime_ms"]), "data_sent_mib": _f(p["data_sent_mib"]),
            "rounds": _f(p["rounds"]), "converged": m["measured_converged"].strip() == "yes",
            "score_data": m["workload_rule"].strip() != "W4" and m.get("compression_rule", "").strip() != "C2",
            "in_sample": m["in_sample"].strip(), "assumptions": m["assumptions"],
        })
        scenarios.append(sc)
    return scenarios, meta, excluded


def ape_summary(errors) -> dict:
    """Median and 90th percentile (linear interpolation) of absolute percentage errors.

    Examples
    --------
    >>> ape_summary([10.0, 20.0, 30.0])
    {'n': 3, 'median': 20.0, 'p90': 28.0}
    """
    from . import _validate as v
    if isinstance(errors, (str, bytes)) or not hasattr(errors, "__iter__"):
        raise ValueError(f"errors must be a sequence of absolute percentage errors (%) in [0, inf) or None; "
                         f"got {errors!r}")
    e = [x for x in errors if x is not None and not (isinstance(x, float) and math.isnan(x))]
    e = np.array([v.real(x, "errors[]", "%", lo=0.0) for x in e], float)
    if len(e) == 0:
        return {"n": 0, "median": math.nan, "p90": math.nan}
    return {"n": int(len(e)), "median": float(np.median(e)), "p90": float(np.percentile(e, 90))}


@dataclass(frozen=True)
class ValidationReport:
    """Per-row comparisons and the summary of :func:`validate`."""

    rows: list
    excluded: list
    summary: dict
    scenarios: list
    predictions: list


def _ape(pred, meas):
    if meas is None or pred is None or (isinstance(pred, float) and math.isnan(pred)) or meas == 0:
        return None
    return abs(pred - meas) / abs(meas) * 100.0


def validate(map_path=MAP_FILE, seeds: int = 5) -> ValidationReport:
    """Predict every included published measurement and compare.

    Parameters
    ----------
    map_path : path or str
        The mapping file (default ``data/validation_map.csv``).
    seeds : int, default 5
        Seeds per scenario.

    Returns
    -------
    ValidationReport
        ``rows``: per scenario, measured and predicted values with absolute
        percentage errors (``ape_*``, percent) and ``verdict_ok``; ``summary``:
        :func:`ape_summary` per metric for all rows and for out-of-sample rows,
        pooled over metrics, and convergence verdicts right/wrong.

    Examples
    --------
    >>> rep = validate(seeds=1)
    >>> rep.summary["verdicts"]["right"] + rep.summary["verdicts"]["wrong"] == len(rep.rows)
    True
    """
    scenarios, meta, excluded = scenario_rows(map_path, seeds)
    preds = predict_table(scenarios)
    rows = []
    for sc, mt, pr in zip(scenarios, meta, preds):
        r = {"scenario": sc["scenario"], "pub_row": mt["pub_row"], "source_id": mt["source_id"],
             "workload_rule": mt["workload_rule"], "in_sample": mt["in_sample"]}
        for name, col, _ in _METRICS:
            r[f"measured_{name}"] = mt[name]
            r[f"predicted_{name}"] = pr[col]
            scored = not (name == "data_sent_mib" and not mt["score_data"])
            r[f"ape_{name}"] = _ape(pr[col], mt[name]) if scored else None
        r["analytic_total_time_s"] = pr["analytic_total_time_s"]
        r["ape_analytic_total_time_s"] = _ape(pr["analytic_total_time_s"], mt["total_time_s"])
        r["measured_rounds"] = mt["rounds"]
        r["predicted_rounds"] = pr["rounds"]
        r["measured_converged"] = mt["converged"]
        r["predicted_converged"] = pr["converged"]
        r["stop_reason"] = pr["stop_reason"]
        r["verdict_ok"] = bool(pr["converged"]) == mt["converged"]
        r["assumptions"] = mt["assumptions"]
        rows.append(r)
    summary = {"all": {}, "out_of_sample": {}}
    for name, _, _ in _METRICS:
        summary["all"][name] = ape_summary(r[f"ape_{name}"] for r in rows)
        summary["out_of_sample"][name] = ape_summary(r[f"ape_{name}"] for r in rows if not r["in_sample"])
    summary["all"]["analytic_total_time_s"] = ape_summary(r["ape_analytic_total_time_s"] for r in rows)
    pooled = [r[f"ape_{n}"] for r in rows for n, _, _ in _METRICS]
    summary["all"]["pooled"] = ape_summary(pooled)
    summary["out_of_sample"]["pooled"] = ape_summary(
        r[f"ape_{n}"] for r in rows if not r["in_sample"] for n, _, _ in _METRICS)
    right = sum(r["verdict_ok"] for r in rows)
    summary["verdicts"] = {"right": right, "wrong": len(rows) - right}
    summary["n_included"], summary["n_excluded"] = len(rows), len(excluded)
    return ValidationReport(rows=rows, excluded=excluded, summary=summary, scenarios=scenarios, predictions=preds)


def _n(x, fmt):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        width = fmt.split(".")[0]
        return "-".rjust(int(width)) if width.isdigit() else "-"
    return format(x, fmt)


def format_report(rep: ValidationReport) -> str:
    """The per-row table and the summary as text."""
    if not isinstance(rep, ValidationReport):
        raise ValueError(f"rep must be a ValidationReport (from validate()); got {type(rep).__name__}")
    L = []
    hdr = (f"{'scenario':24s} {'rule':4s} {'total s meas':>12s} {'pred':>9s} {'err%':>6s} "
           f"{'downtime ms':>11s} {'pred':>8s} {'err%':>6s} {'data MiB':>9s} {'pred':>9s} {'err%':>6s} "
           f"{'rounds':>6s} {'pred':>5s} {'conv meas/pred':>14s}")
    L.append(hdr)
    for r in rep.rows:
        conv = f"{'yes' if r['measured_converged'] else 'no'}/{'yes' if r['predicted_converged'] else 'no'}"
        conv += "" if r["verdict_ok"] else " WRONG"
        L.append(f"{r['scenario']:24s} {r['workload_rule']:4s} "
                 f"{_n(r['measured_total_time_s'], '12.2f')} {_n(r['predicted_total_time_s'], '9.2f')} "
                 f"{_n(r['ape_total_time_s'], '6.0f')} "
                 f"{_n(r['measured_downtime_ms'], '11.0f')} {_n(r['predicted_downtime_ms'], '8.0f')} "
                 f"{_n(r['ape_downtime_ms'], '6.0f')} "
                 f"{_n(r['measured_data_sent_mib'], '9.0f')} {_n(r['predicted_data_sent_mib'], '9.0f')} "
                 f"{_n(r['ape_data_sent_mib'], '6.0f')} "
                 f"{_n(r['measured_rounds'], '6.0f')} {_n(r['predicted_rounds'], '5.0f')} {conv:>14s}")
    L.append("")
    L.append("in-sample rows (share data with a fit): " +
             ", ".join(f"{r['scenario']} ({r['in_sample']})" for r in rep.rows if r["in_sample"]))
    s = rep.summary
    L.append(f"\nabsolute percentage error, median / p90 (n) over {s['n_included']} included rows "
             f"({s['n_excluded']} excluded):")
    for scope, label in (("all", "all rows"), ("out_of_sample", "out-of-sample rows")):
        parts = []
        for k in ("total_time_s", "downtime_ms", "data_sent_mib", "pooled"):
            a = s[scope][k]
            parts.append(f"{k} {_n(a['median'], '.0f')}% / {_n(a['p90'], '.0f')}% ({a['n']})")
        L.append(f"  {label:19s} " + "; ".join(parts))
    a = s["all"]["analytic_total_time_s"]
    L.append(f"  analytic model, total time: {_n(a['median'], '.0f')}% / {_n(a['p90'], '.0f')}% ({a['n']})")
    L.append(f"convergence verdicts: {s['verdicts']['right']} right, {s['verdicts']['wrong']} wrong")
    L.append("\nexcluded rows:")
    for e in rep.excluded:
        L.append(f"  {e['pub_row']:2d} {e['source_id']:32s} {e['reason']}")
    return "\n".join(L)


# --- CLI: precopy validate -----------------------------------------------------------------

def add_arguments(p):
    p.add_argument("--map", default=MAP_FILE, help="mapping file (default data/validation_map.csv)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per scenario (default 5)")
    p.add_argument("--csv", metavar="FILE", help="also write the per-row comparison as CSV")
    p.add_argument("--scenarios-out", metavar="FILE",
                   help="also write the derived scenario table (input of `precopy predict`)")


def run(args) -> int:
    import csv
    from . import _validate as v
    seeds = v.integer(args.seeds, "--seeds", "count", lo=1, hi=1000)
    rep = validate(args.map, seeds)
    print(format_report(rep))
    if args.csv:
        cols = list(rep.rows[0]) if rep.rows else []
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for r in rep.rows:
                w.writerow({k: ("" if x is None else x) for k, x in r.items()})
        print(f"\nwrote {args.csv}")
    if args.scenarios_out:
        cols = [c for c in INPUT_COLUMNS if any(c in s for s in rep.scenarios)]
        with open(args.scenarios_out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for s in rep.scenarios:
                w.writerow(s)
        print(f"wrote {args.scenarios_out}")
    return 0
