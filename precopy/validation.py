"""Validate predictions against published measurements.

``precopy/data/validation_map.csv`` maps every row of ``precopy/data/published_migrations.csv``
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
from dataclasses import dataclass, field

import numpy as np

from . import _validate as _v
from . import datasets
from .predict import INPUT_COLUMNS, MIN_TIMEOUT_S
from .units import KiB, MiB

__all__ = ["WORKLOAD_RULES", "COMPRESSION_RULES", "scenario_rows", "validate", "ValidationReport", "format_report",
           "ape_summary", "MAP_FILE", "MORE_MAP_FILE", "Case", "cases", "predict_case", "RamPart", "cv_predictions"]

MAP_FILE = "validation_map.csv"
MORE_MAP_FILE = "validation_map_more.csv"
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


def _ape(pred, meas):
    if meas is None or pred is None or (isinstance(pred, float) and math.isnan(pred)) or meas == 0:
        return None
    return abs(pred - meas) / abs(meas) * 100.0


# --- validation cases: every included row of every map, as one model input -------------------

#: The policy column of ``validation_map.csv`` -> hypervisor preset (:mod:`precopy.hypervisors`).
POLICY_TO_HYPERVISOR = {"qemu": "qemu", "xen-nsdi05": "xen-3"}
KINDS = ("sim", "downtime", "device")
MORE_WORKLOAD_RULES = ("W1", "W6", "W7", "W8")


@dataclass
class Case:
    """One included published row, ready to predict with any calibration.

    ``kind``: ``sim`` (simulated), ``downtime`` (only the downtime is predicted:
    switchover term + the published downtime RAM) or ``device`` (a vGPU stun
    time: switchover term + device state).  ``workload`` None means an idle guest
    with the calibrated background writes.
    """

    scenario: str
    source_id: str
    file: str
    row: int
    hypervisor: str
    kind: str
    memory_bytes: int
    page_bytes: int = KiB(4)
    zero_fraction: float = 0.0
    workload: object = None
    link_bps: float | None = None
    mtu: int = 1500
    streams: int = 1
    policy_kwargs: dict = field(default_factory=dict)
    timeout_s: float | None = None
    aids: tuple = ()
    device_bytes: float = 0.0
    downtime_ram_bytes: float | None = None
    throughput_bps: float | None = None
    measured: dict = field(default_factory=dict)
    score: dict = field(default_factory=dict)
    rounds_kind: str | None = None
    workload_rule: str = ""
    in_sample: str = ""
    assumptions: str = ""

    @property
    def uses_background(self) -> bool:
        return self.kind == "sim" and self.workload is None


def _old_cases(map_path, seeds):
    """Cases of ``validation_map.csv`` (rows of ``published_migrations.csv``)."""
    from .predict import parse_scenario
    scenarios, meta, excluded = scenario_rows(map_path, seeds)
    mp = {int(m["pub_row"]): m for m in datasets.read_csv(map_path)}
    out = []
    for sc, mt in zip(scenarios, meta):
        m = mp[mt["pub_row"]]
        s = parse_scenario(sc)
        hv = POLICY_TO_HYPERVISOR[m["policy"].strip()]
        kw = {}
        if hv == "qemu":
            mb = _f(m["max_bandwidth_mibps"])
            kw["max_bandwidth_bps"] = None if not mb else mb * MiB(1) * 8.0
            if _f(m["downtime_limit_ms"]) is not None:
                kw["downtime_limit_s"] = _f(m["downtime_limit_ms"]) / 1e3
        rule = mt["workload_rule"].strip()
        background = rule in ("W1", "W2", "W4", "W5")
        pub_rounds = mt["rounds"]
        score = {"total_time_s": mt["total_time_s"] is not None, "downtime_ms": mt["downtime_ms"] is not None,
                 "data_sent_mib": bool(mt["score_data"]) and mt["data_sent_mib"] is not None,
                 "rounds": pub_rounds is not None}
        out.append(Case(
            scenario=sc["scenario"], source_id=mt["source_id"], file="published_migrations.csv",
            row=mt["pub_row"], hypervisor=hv, kind="sim", memory_bytes=s.vm.memory_bytes,
            page_bytes=s.vm.page_bytes, zero_fraction=s.vm.zero_fraction,
            workload=None if background else s.workload, link_bps=float(m["link_gbps"]) * 1e9,
            mtu=int(m["mtu"]), streams=int(m["streams"]), policy_kwargs=kw, aids=s.aids,
            measured={"total_time_s": mt["total_time_s"], "downtime_ms": mt["downtime_ms"],
                      "data_sent_mib": mt["data_sent_mib"], "rounds": pub_rounds, "converged": mt["converged"]},
            score=score, rounds_kind="rounds" if pub_rounds is not None else None, workload_rule=rule,
            in_sample=mt["in_sample"], assumptions=mt["assumptions"]))
    return out, excluded


_MORE_COLUMNS = ("file", "row", "source_id", "status", "exclusion_reason", "scenario", "hypervisor", "kind",
                 "link_gbps", "mtu", "streams", "max_bandwidth_mibps", "downtime_limit_ms", "workload_rule",
                 "write_mibps", "device_mib", "timeout_s", "measured_converged", "assumptions")


def _check_more_map_path(more_map_path):
    """None, or a readable mapping file with the columns of ``validation_map_more.csv`` (errors name it)."""
    if more_map_path is None:
        return
    _v.file_name(more_map_path, "more_map_path")
    try:
        mp = datasets.read_csv(more_map_path)
    except ValueError as e:
        raise ValueError(f"more_map_path: {e}") from None
    missing = [c for c in _MORE_COLUMNS if mp and c not in mp[0]]
    if missing or not mp:
        raise ValueError(f"more_map_path {more_map_path!s}: missing column(s) "
                         f"{', '.join(missing or _MORE_COLUMNS)}")


def _more_cases(map_path):
    """Cases of ``validation_map_more.csv`` (rows of the files it names)."""
    mp = datasets.read_csv(map_path)
    files = {}
    seen = {}
    for m in mp:
        files.setdefault(m["file"], datasets.read_csv(m["file"]))
        seen.setdefault(m["file"], []).append(int(m["row"]))
    for f, rows in seen.items():
        if sorted(rows) != list(range(1, len(files[f]) + 1)):
            raise ValueError(f"{map_path}: column 'row' must list every row of {f} (1..{len(files[f])}) "
                             f"exactly once")
    out, excluded = [], []
    for i, m in enumerate(mp, start=1):
        p = files[m["file"]][int(m["row"]) - 1]
        if p["source_id"] != m["source_id"]:
            raise ValueError(f"{map_path} row {i}: source_id {m['source_id']!r} does not match {m['file']} "
                             f"row {m['row']} ({p['source_id']!r})")
        status = m["status"].strip()
        if status == "excluded":
            if not m["exclusion_reason"].strip():
                raise ValueError(f"{map_path} row {i}: an excluded row needs an exclusion_reason")
            excluded.append({"pub_row": f"{m['file']}:{m['row']}", "source_id": p["source_id"],
                             "system": p["system"], "reason": m["exclusion_reason"]})
            continue
        if status != "included":
            raise ValueError(f"{map_path} row {i}: column 'status' must be 'included' or 'excluded'; got {status!r}")
        kind = m["kind"].strip()
        if kind not in KINDS:
            raise ValueError(f"{map_path} row {i}: column 'kind' must be one of {KINDS}; got {kind!r}")
        rule = m["workload_rule"].strip()
        if rule not in MORE_WORKLOAD_RULES:
            raise ValueError(f"{map_path} row {i}: column 'workload_rule' must be one of {MORE_WORKLOAD_RULES}; "
                             f"got {rule!r}")
        if not m["assumptions"].strip():
            raise ValueError(f"{map_path} row {i}: an included row needs its assumptions")
        from .hypervisors import get as get_hv
        hv = get_hv(m["hypervisor"]).name
        mem = _f(p.get("vm_mem_mib", ""))
        mem_bytes = int(round(mem * MiB(1))) if mem is not None else 0
        zero = 0.0
        workload = None
        if rule == "W6":
            zero = float(p["duplicate_pages"]) / (mem_bytes / KiB(4))
        elif rule == "W7":
            from .workloads import Uniform
            workload = Uniform(writes_per_s=float(m["write_mibps"]) * MiB(1) / KiB(4))
        kw = {}
        mb = _f(m["max_bandwidth_mibps"])
        if mb is not None:
            kw["max_bandwidth_bps"] = None if mb == 0 else mb * MiB(1) * 8.0
        if _f(m["downtime_limit_ms"]) is not None:
            kw["downtime_limit_s"] = _f(m["downtime_limit_ms"]) / 1e3
        conv = m["measured_converged"].strip() == "yes"
        meas_rounds = _f(p.get("dirty_sync_count", "")) if "dirty_sync_count" in p else _f(p.get("rounds", ""))
        window = _f(m["timeout_s"])
        verdict_only = kind == "sim" and window is not None and not conv
        meas = {"total_time_s": _f(p.get("total_time_s", "")), "downtime_ms": _f(p.get("downtime_ms", "")),
                "data_sent_mib": _f(p.get("data_sent_mib", "")), "rounds": meas_rounds, "converged": conv}
        if verdict_only or kind == "device":
            meas["total_time_s"] = None
            meas["data_sent_mib"] = None
            meas["rounds"] = None
        score = {"total_time_s": kind == "sim" and meas["total_time_s"] is not None,
                 "downtime_ms": meas["downtime_ms"] is not None and conv,
                 "data_sent_mib": kind == "sim" and meas["data_sent_mib"] is not None,
                 "rounds": kind == "sim" and meas["rounds"] is not None}
        dram = _f(p.get("downtime_ram_kib", "")) if "downtime_ram_kib" in p else None
        thr = _f(p.get("throughput_mbps", "")) if "throughput_mbps" in p else None
        out.append(Case(
            scenario=m["scenario"], source_id=p["source_id"], file=m["file"], row=int(m["row"]), hypervisor=hv,
            kind=kind, memory_bytes=mem_bytes, zero_fraction=zero, workload=workload,
            link_bps=None if _f(m["link_gbps"]) is None else _f(m["link_gbps"]) * 1e9,
            mtu=int(_f(m["mtu"]) or 1500), streams=int(_f(m["streams"]) or 1), policy_kwargs=kw,
            timeout_s=window, device_bytes=(_f(m["device_mib"]) or 0.0) * MiB(1),
            downtime_ram_bytes=None if dram is None else dram * KiB(1),
            throughput_bps=None if thr is None else thr * 1e6, measured=meas, score=score,
            rounds_kind="qemu_sync" if "dirty_sync_count" in p and score["rounds"] else
            ("rounds" if score["rounds"] else None),
            workload_rule=rule, in_sample="", assumptions=m["assumptions"]))
    return out, excluded


def cases(map_path=MAP_FILE, more_map_path=MORE_MAP_FILE, seeds: int = 1):
    """Every included published row as a :class:`Case`, and the excluded rows.

    Examples
    --------
    >>> cs, ex = cases()
    >>> len({c.scenario for c in cs}) == len(cs)
    True
    """
    _v.integer(seeds, "seeds", "count", lo=1, hi=1000)
    _check_more_map_path(more_map_path)
    a, ea = _old_cases(map_path, seeds)
    b, eb = ([], []) if more_map_path is None else _more_cases(more_map_path)
    return a + b, ea + eb


# --- prediction ---------------------------------------------------------------------------

def _hv(case, cal):
    from .hypervisors import get
    return get(case.hypervisor).with_calibration(cal)


def _prepared(case, cal, switchover=None, bg="calibrated"):
    from .hypervisors import background_workload
    from .simulate import Prepared
    from .vm import VM
    hv = _hv(case, cal)
    vm = VM(memory_bytes=case.memory_bytes, page_bytes=case.page_bytes, zero_fraction=case.zero_fraction)
    if case.workload is not None:
        wl = case.workload
    elif bg == "calibrated":
        wl = hv.idle_workload(vm.memory_bytes, case.page_bytes)
    else:
        set_mib, mibps = (0.0, 0.0) if bg is None else bg
        wl = background_workload(set_mib * MiB(1), mibps * MiB(1), vm.memory_bytes, case.page_bytes)
    policy = hv.policy(**case.policy_kwargs)
    link = hv.link(case.link_bps, mtu=case.mtu, streams=case.streams)
    rate = link.goodput_bps if policy.max_bandwidth_bps is None else min(link.goodput_bps, policy.max_bandwidth_bps)
    bulk_s = vm.memory_bytes * 8.0 / rate
    timeout = case.timeout_s if case.timeout_s is not None else max(MIN_TIMEOUT_S, 10.0 * bulk_s)
    policy = policy.with_(timeout_s=timeout)
    sw = hv.switchover(vm.memory_bytes) if switchover is None else switchover
    return Prepared(vm, wl, link, policy, sw, aids=case.aids)


class RamPart:
    """``ram_part(case, bg)``: the memory part of a case's downtime (s), with an idle
    guest's background ``bg = (set_mib, mibps)`` (None: none); simulated once per
    (case, background) and cached."""

    def __init__(self, seeds: int = 1):
        self.seeds = _v.integer(seeds, "seeds", "count", lo=1, hi=1000)
        self._cache = {}

    def __call__(self, case, bg):
        if case.kind == "downtime":
            if case.downtime_ram_bytes is None or not case.throughput_bps:
                return 0.0
            return case.downtime_ram_bytes * 8.0 / case.throughput_bps
        if case.kind != "sim":
            return 0.0
        key = (case.scenario, tuple(bg) if (case.uses_background and bg is not None) else None)
        if key not in self._cache:
            from .calibration import Calibration
            from .vm import Switchover
            prep = _prepared(case, Calibration({}), Switchover(resume_s=0.0), bg=key[1])
            self._cache[key] = float(np.median([prep.run(seed=s).downtime_s for s in range(self.seeds)]))
        return self._cache[key]


def predict_case(case, cal, seeds: int = 1) -> dict:
    """Predicted ``total_time_s``, ``downtime_ms``, ``data_sent_mib``, ``rounds``,
    ``converged`` and ``stop_reason`` of one case under calibration ``cal``."""
    from .calibration import Calibration
    _v.instance(case, "case", Case, "a precopy.validation.Case (from cases())")
    _v.instance(cal, "cal", Calibration, "a precopy.calibration.Calibration")
    seeds = _v.integer(seeds, "seeds", "count", lo=1, hi=1000)
    hv = _hv(case, cal)
    nan = math.nan
    if case.kind == "device":
        if cal.device_rate_Bps(hv.family) is None:
            # no row outside this source fits a device-state rate: nothing to predict with
            return {"total_time_s": nan, "downtime_ms": nan, "data_sent_mib": nan, "rounds": nan,
                    "converged": None, "stop_reason": "no_fitted_parameter"}
        dt = hv.device_state_s(case.device_bytes)          # the published vGPU stun time: fixed + bytes / rate
        ok = case.timeout_s is None or dt <= case.timeout_s
        return {"total_time_s": nan, "downtime_ms": dt * 1e3, "data_sent_mib": nan, "rounds": nan,
                "converged": ok, "stop_reason": "device_state" if ok else "switchover_timeout"}
    if case.kind == "downtime":
        dt = hv.switchover_s(case.memory_bytes) + RamPart()(case, None)
        return {"total_time_s": nan, "downtime_ms": dt * 1e3, "data_sent_mib": nan, "rounds": nan,
                "converged": True, "stop_reason": "downtime_limit"}
    prep = _prepared(case, cal)
    res = [prep.run(seed=s) for s in range(seeds)]
    tt = np.array([r.total_time_s for r in res])
    med = res[int(np.argsort(tt)[len(tt) // 2])]
    conv = sum(r.converged for r in res) * 2 > len(res)
    rounds = float(np.median([r.n_rounds for r in res]))
    if case.rounds_kind == "qemu_sync":     # QEMU's dirty-sync-count, as the simulated cadence counts it
        rounds = float(np.median([r.sync_count for r in res]))
    return {"total_time_s": float(np.median(tt)), "downtime_ms": float(np.median([r.downtime_s for r in res])) * 1e3,
            "data_sent_mib": float(np.median([r.bytes_sent for r in res])) / MiB(1), "rounds": rounds,
            "converged": bool(conv), "stop_reason": med.stop_reason}


# --- the report -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ValidationReport:
    """Per-row comparisons and the summary of :func:`validate`.

    ``mode`` is ``'in-sample'`` (every parameter fitted on all rows) or
    ``'cv-source'`` (each source predicted by parameters refitted without it);
    ``calibrations`` maps each held-out source to its refitted parameters (CV only).
    """

    rows: list
    excluded: list
    summary: dict
    mode: str = "in-sample"
    calibrations: dict = field(default_factory=dict)
    cases: list = field(default_factory=list)


_METRIC_NAMES = ("total_time_s", "downtime_ms", "data_sent_mib", "rounds")


def _row(case, pred, label):
    r = {"scenario": case.scenario, "source_id": case.source_id, "source_label": case.source_id,
         "pub_row": case.row if case.file == "published_migrations.csv" else f"{case.file}:{case.row}",
         "file": case.file, "hypervisor": case.hypervisor, "kind": case.kind,
         "workload_rule": case.workload_rule, "in_sample": case.in_sample, "prediction": label}
    for k in _METRIC_NAMES:
        meas = case.measured.get(k)
        p = pred[k]
        r[f"measured_{k}"] = meas
        r[f"predicted_{k}"] = None if isinstance(p, float) and math.isnan(p) else p
        r[f"ape_{k}"] = _ape(r[f"predicted_{k}"], meas) if case.score.get(k) else None
    r["abs_err_downtime_ms"] = (abs(r["predicted_downtime_ms"] - r["measured_downtime_ms"])
                                if r["ape_downtime_ms"] is not None else None)
    r["analytic_total_time_s"] = math.nan
    r["ape_analytic_total_time_s"] = None
    r["measured_converged"] = case.measured["converged"]
    r["predicted_converged"] = pred["converged"]
    r["stop_reason"] = pred["stop_reason"]
    r["verdict_ok"] = (None if pred["converged"] is None
                       else bool(pred["converged"]) == bool(case.measured["converged"]))
    r["assumptions"] = case.assumptions
    return r


def _abs_summary(xs):
    e = np.array([x for x in xs if x is not None], float)
    if len(e) == 0:
        return {"n": 0, "median": math.nan, "p90": math.nan}
    return {"n": int(len(e)), "median": float(np.median(e)), "p90": float(np.percentile(e, 90))}


def _summarise(rows, excluded):
    summary = {"all": {}, "out_of_sample": {}, "by_source": {}}
    for k in _METRIC_NAMES:
        summary["all"][k] = ape_summary(r[f"ape_{k}"] for r in rows)
        summary["out_of_sample"][k] = ape_summary(r[f"ape_{k}"] for r in rows if not r["in_sample"])
    summary["all"]["downtime_abs_ms"] = _abs_summary(r["abs_err_downtime_ms"] for r in rows)
    summary["all"]["analytic_total_time_s"] = ape_summary(r["ape_analytic_total_time_s"] for r in rows)
    trio = ("total_time_s", "downtime_ms", "data_sent_mib")
    summary["all"]["pooled"] = ape_summary(r[f"ape_{n}"] for r in rows for n in trio)
    summary["out_of_sample"]["pooled"] = ape_summary(r[f"ape_{n}"] for r in rows if not r["in_sample"] for n in trio)
    for src in sorted({r["source_id"] for r in rows}):
        rs = [r for r in rows if r["source_id"] == src]
        d = {k: ape_summary(r[f"ape_{k}"] for r in rs) for k in _METRIC_NAMES}
        d["downtime_abs_ms"] = _abs_summary(r["abs_err_downtime_ms"] for r in rs)
        d["verdicts"] = {"right": sum(r["verdict_ok"] is True for r in rs),
                         "wrong": sum(r["verdict_ok"] is False for r in rs),
                         "unpredicted": sum(r["verdict_ok"] is None for r in rs)}
        d["n"] = len(rs)
        summary["by_source"][src] = d
    right = sum(r["verdict_ok"] is True for r in rows)
    none = sum(r["verdict_ok"] is None for r in rows)
    summary["verdicts"] = {"right": right, "wrong": len(rows) - right - none, "unpredicted": none}
    summary["n_included"], summary["n_excluded"] = len(rows), len(excluded)
    return summary


def _add_analytic(rows, cs, cal):
    """The analytic model's total time beside the simulator's, for plain simulated rows."""
    from .vm import VM
    try:
        from .analytic import predict as apredict
    except ImportError:   # pragma: no cover
        return
    for r, c in zip(rows, cs):
        if c.kind != "sim" or c.aids or c.timeout_s is not None:
            continue
        try:
            prep = _prepared(c, cal)
            a = apredict(VM(c.memory_bytes, c.page_bytes, c.zero_fraction), prep.workload, prep.link,
                         prep.policy, switchover=prep.switchover)
        except ValueError:
            continue
        r["analytic_total_time_s"] = float(a.total_time_s)
        if c.score.get("total_time_s"):
            r["ape_analytic_total_time_s"] = _ape(float(a.total_time_s), c.measured["total_time_s"])


def validate(map_path=MAP_FILE, seeds: int = 5, *, cv: str | None = None, sources=None,
             more_map_path=MORE_MAP_FILE, calibration=None, fit_seeds: int | None = None,
             progress: bool = False) -> ValidationReport:
    """Predict every included published measurement and compare.

    Parameters
    ----------
    map_path, more_map_path : path or str
        The mapping files (``precopy/data/validation_map.csv``, ``precopy/data/validation_map_more.csv``;
        ``more_map_path=None`` leaves the second out).
    seeds : int, default 5
        Seeds per predicted scenario.
    cv : {None, 'source'}
        None: in-sample (the stored calibration, or ``calibration``).  ``'source'``:
        leave-one-source-out: for each source, every parameter is refitted
        (:func:`precopy.calibrate.fit`) without that source's rows, which are
        then predicted.
    sources : sequence of str, optional
        Only these sources (both modes); the CV fits still use all other sources.
    calibration : precopy.calibration.Calibration, optional
        In-sample parameters (default: :func:`precopy.calibration.load`).
    fit_seeds : int, optional
        Seeds per simulated row inside the CV fits (default ``min(seeds, 3)``).

    Returns
    -------
    ValidationReport
        ``rows``: per case, measured and predicted values with absolute percentage
        errors (``ape_*``, percent; None where not scored), the absolute downtime
        error (``abs_err_downtime_ms``) and ``verdict_ok``; ``summary``: median and
        p90 per metric for all rows, out-of-sample rows and per source, and the
        convergence verdicts.

    Examples
    --------
    >>> rep = validate(seeds=1, sources=["S4_qemu_mtcompress_doc"])
    >>> rep.mode, rep.summary["verdicts"]["right"] + rep.summary["verdicts"]["wrong"] == len(rep.rows)
    ('in-sample', True)
    """
    from . import calibration as C
    from .calibrate import fit as fit_calibration
    seeds = _v.integer(seeds, "seeds", "count", lo=1, hi=1000)
    if cv not in (None, "source"):
        raise ValueError(f"cv must be None or 'source'; got {cv!r}")
    sources = _sources(sources)
    if calibration is not None:
        _v.instance(calibration, "calibration", C.Calibration, "a precopy.calibration.Calibration or None")
    if fit_seeds is not None:
        fit_seeds = _v.integer(fit_seeds, "fit_seeds", "count", lo=1, hi=1000)
    _v.flag(progress, "progress")
    cs, excluded = cases(map_path, more_map_path, seeds)
    known = sorted({c.source_id for c in cs})
    if sources is not None:
        sources = list(sources)
        bad = [s for s in sources if s not in known]
        if bad:
            raise ValueError(f"sources must name included sources ({', '.join(known)}); got {bad}")
    chosen = [c for c in cs if sources is None or c.source_id in sources]
    rows, cals = [], {}
    if cv is None:
        cal = C.load() if calibration is None else calibration
        for c in chosen:
            rows.append(_row(c, predict_case(c, cal, seeds), "in-sample"))
        _add_analytic(rows, chosen, cal)
        mode = "in-sample"
    else:
        ram = RamPart(min(seeds, 3) if fit_seeds is None else fit_seeds)
        order = [s for s in known if sources is None or s in sources]
        by_case = {}
        for src in order:
            train = [c for c in cs if c.source_id != src]
            cal = fit_calibration(train, ram)
            cals[src] = cal
            for c in cs:
                if c.source_id == src:
                    by_case[c.scenario] = (c, _row(c, predict_case(c, cal, seeds), f"cv: refit without {src}"))
            if progress:
                import sys
                print(f"cv: {src} done", file=sys.stderr)
        rows = [by_case[c.scenario][1] for c in chosen]
        for src in order:
            idx = [i for i, c in enumerate(chosen) if c.source_id == src]
            sub = [rows[i] for i in idx]
            _add_analytic(sub, [chosen[i] for i in idx], cals[src])
        mode = "cv-source"
    return ValidationReport(rows=rows, excluded=excluded, summary=_summarise(rows, excluded), mode=mode,
                            calibrations=cals, cases=chosen)


def _sources(sources):
    """None, or a list of source ids (str); whether they exist is checked against the cases."""
    if sources is None:
        return None
    if isinstance(sources, (str, bytes)) or not hasattr(sources, "__iter__"):
        raise ValueError(f"sources must be a sequence of source ids (e.g. ['S4_qemu_mtcompress_doc']) or None; "
                         f"got {sources!r}")
    sources = list(sources)
    bad = [x for x in sources if not isinstance(x, str)]
    if bad:
        raise ValueError(f"sources must be a sequence of source ids (str); got {bad[0]!r}")
    return sources


def cv_predictions(seeds: int = 3, sources=None) -> list:
    """Leave-one-source-out predictions, one dict per published row with
    ``source_label`` (the source id), ``measured_<metric>``, ``predicted_<metric>``,
    ``verdict_ok`` and ``in_sample`` (empty: every row is predicted by parameters
    fitted without its source) -- the input of
    :func:`precopy.plotting.plot_measured_vs_predicted`."""
    seeds = _v.integer(seeds, "seeds", "count", lo=1, hi=1000)
    rep = validate(seeds=seeds, cv="source", sources=_sources(sources))
    out = []
    for r in rep.rows:
        d = dict(r)
        d["in_sample"] = ""
        out.append(d)
    return out


def _n(x, fmt):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        width = fmt.split(".")[0]
        return "-".rjust(int(width)) if width.isdigit() else "-"
    return format(x, fmt)


def format_report(rep: ValidationReport) -> str:
    """The per-row table, the per-source table and the summary as text."""
    if not isinstance(rep, ValidationReport):
        raise ValueError(f"rep must be a ValidationReport (from validate()); got {type(rep).__name__}")
    L = []
    title = {"in-sample": "IN-SAMPLE: every parameter fitted on all rows (optimistic)",
             "cv-source": "CROSS-VALIDATED (leave one source out): each source predicted by parameters "
                          "refitted without its rows"}[rep.mode]
    L.append(title)
    hdr = (f"{'scenario':24s} {'rule':4s} {'total s meas':>12s} {'pred':>9s} {'err%':>6s} "
           f"{'downtime ms':>11s} {'pred':>8s} {'err%':>6s} {'data MiB':>9s} {'pred':>9s} {'err%':>6s} "
           f"{'rounds':>6s} {'pred':>5s} {'conv meas/pred':>14s}")
    L.append(hdr)
    for r in rep.rows:
        pc_ = r["predicted_converged"]
        conv = f"{'yes' if r['measured_converged'] else 'no'}/{'-' if pc_ is None else ('yes' if pc_ else 'no')}"
        conv += "" if r["verdict_ok"] in (True, None) else " WRONG"
        L.append(f"{r['scenario']:24s} {r['workload_rule']:4s} "
                 f"{_n(r['measured_total_time_s'], '12.2f')} {_n(r['predicted_total_time_s'], '9.2f')} "
                 f"{_n(r['ape_total_time_s'], '6.0f')} "
                 f"{_n(r['measured_downtime_ms'], '11.0f')} {_n(r['predicted_downtime_ms'], '8.0f')} "
                 f"{_n(r['ape_downtime_ms'], '6.0f')} "
                 f"{_n(r['measured_data_sent_mib'], '9.0f')} {_n(r['predicted_data_sent_mib'], '9.0f')} "
                 f"{_n(r['ape_data_sent_mib'], '6.0f')} "
                 f"{_n(r['measured_rounds'], '6.0f')} {_n(r['predicted_rounds'], '5.0f')} {conv:>14s}")
    L.append("")
    ins = [f"{r['scenario']} ({r['in_sample']})" for r in rep.rows if r["in_sample"]]
    if ins:
        L.append("rows sharing data with a workload/link/compression fit: " + ", ".join(ins))
    s = rep.summary
    L.append(f"\nper source: median / p90 absolute % error (n); downtime also absolute ms; verdicts right/wrong")
    L.append(f"  {'source':32s} {'total time':>16s} {'downtime':>16s} {'downtime ms':>16s} {'data sent':>16s} "
             f"{'rounds':>16s} {'verdicts':>8s}")
    for src, d in s["by_source"].items():
        def cell(a, unit="%"):
            return "-" if a["n"] == 0 else f"{a['median']:.0f}/{a['p90']:.0f}{unit} ({a['n']})"
        L.append(f"  {src:32s} {cell(d['total_time_s']):>16s} {cell(d['downtime_ms']):>16s} "
                 f"{cell(d['downtime_abs_ms'], ''):>16s} {cell(d['data_sent_mib']):>16s} {cell(d['rounds']):>16s} "
                 f"{d['verdicts']['right']:>3d}/{d['verdicts']['wrong']}"
                 + (f" ({d['verdicts']['unpredicted']} not predictable)" if d['verdicts']['unpredicted'] else ""))
    L.append(f"\nabsolute percentage error, median / p90 (n) over {s['n_included']} included rows "
             f"({s['n_excluded']} excluded) [{rep.mode}]:")
    for scope, label in (("all", "all rows"), ("out_of_sample", "rows outside other fits")):
        parts = []
        for k in ("total_time_s", "downtime_ms", "data_sent_mib", "rounds", "pooled"):
            a = s[scope][k]
            parts.append(f"{k} {_n(a['median'], '.0f')}% / {_n(a['p90'], '.0f')}% ({a['n']})")
        L.append(f"  {label:23s} " + "; ".join(parts))
    a = s["all"]["downtime_abs_ms"]
    L.append(f"  downtime absolute error: {_n(a['median'], '.0f')} ms / {_n(a['p90'], '.0f')} ms ({a['n']})")
    a = s["all"]["analytic_total_time_s"]
    L.append(f"  analytic model, total time: {_n(a['median'], '.0f')}% / {_n(a['p90'], '.0f')}% ({a['n']})")
    L.append(f"convergence verdicts: {s['verdicts']['right']} right, {s['verdicts']['wrong']} wrong"
             + (f", {s['verdicts']['unpredicted']} not predictable (no other source fits their parameter)"
                if s["verdicts"]["unpredicted"] else ""))
    L.append("\nexcluded rows:")
    for e in rep.excluded:
        L.append(f"  {str(e['pub_row']):>33s} {e['source_id']:32s} {e['reason']}")
    return "\n".join(L)


# --- CLI: precopy validate -----------------------------------------------------------------

def add_arguments(p):
    p.add_argument("--map", default=MAP_FILE, help="mapping file (default precopy/data/validation_map.csv)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per scenario (default 5)")
    p.add_argument("--cv", choices=("source",), default=None,
                   help="cross-validate: 'source' refits every parameter without each source and predicts it")
    p.add_argument("--source", action="append", metavar="SOURCE_ID",
                   help="only this source (repeatable); CV fits still use all other sources")
    p.add_argument("--csv", metavar="FILE", help="also write the per-row comparison as CSV")
    p.add_argument("--scenarios-out", metavar="FILE",
                   help="also write the scenario table derived from validation_map.csv (input of `precopy predict`)")


def run(args) -> int:
    import csv
    seeds = _v.integer(args.seeds, "--seeds", "count", lo=1, hi=1000)
    rep = validate(args.map, seeds, cv=args.cv, sources=args.source, progress=args.cv is not None)
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
        scen, _, _ = scenario_rows(args.map, seeds)
        cols = [c for c in INPUT_COLUMNS if any(c in x for x in scen)]
        with open(args.scenarios_out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for x in scen:
                w.writerow(x)
        print(f"wrote {args.scenarios_out}")
    return 0


# --- CLI: precopy calibrate (the fit runs on this module's cases) ----------------------------

def calibrate_add_arguments(p):
    p.add_argument("--seeds", type=int, default=3, help="seeds per simulated row (default 3)")
    p.add_argument("--output", metavar="FILE", help="where to write (default: precopy/data/calibration.json)")
    p.add_argument("--dry-run", action="store_true", help="print the fit, write nothing")


def calibrate_run(args) -> int:
    """``precopy calibrate``: fit every preset parameter (:func:`precopy.calibrate.fit`) to the
    validation cases and write ``precopy/data/calibration.json``."""
    from .calibrate import fit
    from .calibration import save
    seeds = _v.integer(args.seeds, "--seeds", "count", lo=1, hi=100)
    cs, _ = cases()
    cal = fit(cs, RamPart(seeds))
    print(cal.summary())
    if not args.dry_run:
        p = save(cal, args.output, meta={"seeds": seeds})
        print(f"\nwrote {p}")
    return 0
