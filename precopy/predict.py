"""Predict migrations from a scenario table: one migration per row.

``precopy predict SCENARIOS.csv -o RESULTS.csv`` and :func:`predict_table` run
the page-level simulator for every row over several seeds, on a link whose
goodput comes from the fitted link model (:func:`precopy.links.profile`), and
add the analytic model's prediction beside it.  ``precopy simulate`` runs one
scenario given as flags and prints its summary and round table.

Input columns (units in the names; required ones marked *):

=====================  ==========================================================
``scenario`` *          identifier, unique in the table
``memory_mib`` *        guest memory (MiB), a whole number of pages
``page_kib``            page size (KiB), power of two; default 4
``link_gbps`` *         nominal line rate (Gbit/s); the fitted profile gives the goodput
``mtu``                 Ethernet MTU (bytes); default 1500
``streams``             parallel migration streams; default 1
``workload`` *          ``idle``, ``uniform``, ``hotcold``, ``zipf`` or ``sequential``
``wws_mib``             hot set (hotcold, required), written region (sequential,
                        required; zipf, optional: default all memory), MiB
``write_mibps``         page writes per second x page size (MiB/s); required
                        unless idle
``hot_fraction``        share of writes on the hot set (hotcold); default 0.9
``zipf_s``              Zipf exponent (zipf); default 1.0
``zero_fraction``       share of memory that is zero at the start; default 0
``policy`` *            ``xen-legacy``, ``xen-nsdi05``, ``xen``, ``qemu``, ``vmware``, ``simgrid``
``hypervisor``          the fitted hypervisor/era preset (:mod:`precopy.hypervisors`) whose
                        switchover term, sender ceiling and idle-guest background
                        dirtying apply: ``auto`` (default: the policy's own, ``qemu``
                        for qemu, ``xen-3`` for xen-nsdi05, ``vmware-8`` for vmware,
                        none for the others), ``none`` (the textbook model: 9 ms
                        resume, a silent idle guest), or a preset name (``qemu``,
                        ``qemu-2.x``, ``xen-3``, ``vmware-6``, ``vmware-8``) that runs
                        the row's policy
``device_state_mib``    state that cannot be pre-copied (a vGPU frame buffer, VFIO
                        device state), copied while the VM is stopped (MiB); with a
                        preset at its fitted device-state rate (vMotion of vGPU
                        VMs), else at the link rate; default 0
``downtime_limit_ms``   downtime limit (qemu, vmware, simgrid); default: the policy's
``max_bandwidth_mibps`` pre-copy rate cap (MiB/s); default: the policy's (qemu 128);
                        0 = unlimited
``seeds``               seeds to run (0 .. seeds-1); default 5
``per_stream_gbps``     override of the fitted per-stream ceiling (Gbit/s)
``rtt_ms``              round-trip time (ms); with the TCP window it limits a stream
``compress_ratio``      page compression (:class:`precopy.aids.Compression`): page
                        bytes / compressed bytes; empty = no compression
``compress_mibps``      page data one compressor thread handles (MiB/s); empty =
                        not limiting (needs ``compress_ratio``)
``compress_threads``    compressor threads; default one per stream (multifd)
``decompress_mibps``    page data one decompressor thread handles (MiB/s)
``decompress_threads``  decompressor threads; default as compressor threads
=====================  ==========================================================

Convergence aids and orchestrators have their own columns, listed with their
meanings in :mod:`precopy.operator_columns`: ``auto_converge``,
``auto_converge_initial_pct``, ``auto_converge_increment_pct``, ``postcopy``
(``off``, ``after-first-pass``, ``on-timeout``) with ``postcopy_after_s``,
``xbzrle_cache_mib``, ``dirty_limit_mibps``, ``multifd_channels``, and
``orchestrator`` (``none``, ``kubevirt``, ``nova``, ``libvirt``) with its settings
(``kubevirt_*``, ``nova_*``, ``libvirt_*``).

A value that does not apply to a row (e.g. ``wws_mib`` for ``uniform``, or a
downtime limit for ``xen``) is an error rather than silently ignored.  Output
columns: :data:`OUTPUT_COLUMNS`; ``total_time_s``, ``downtime_ms``,
``data_sent_mib`` and ``rounds`` are medians over the seeds, ``converged`` the
majority verdict, ``stop_reason`` the most common one, and ``*_p5``/``*_p95``
the 5th and 95th percentiles over seeds.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from . import _validate as v
from .links import Link, profile
from .operator_columns import OPERATOR_COLUMNS, parse_columns
from .operator_columns import apply as apply_operator_columns
from .policies import DEFAULT_TIMEOUT_S, NAMES as POLICY_NAMES, Policy, get as get_policy
from .units import MiB, KiB, parse_byte_rate, parse_bytes, parse_rate_bps, parse_seconds
from .vm import VM, Switchover

__all__ = ["Scenario", "INPUT_COLUMNS", "REQUIRED_COLUMNS", "OUTPUT_COLUMNS", "WORKLOADS",
           "parse_scenario", "read_scenarios", "predict_scenario", "predict_table", "predict_csv",
           "write_results"]

WORKLOADS = ("idle", "uniform", "hotcold", "zipf", "sequential")
REQUIRED_COLUMNS = ("scenario", "memory_mib", "link_gbps", "workload", "policy")
INPUT_COLUMNS = ("scenario", "memory_mib", "page_kib", "link_gbps", "mtu", "streams", "workload", "wws_mib",
                 "write_mibps", "hot_fraction", "zipf_s", "zero_fraction", "policy", "hypervisor", "device_state_mib", "downtime_limit_ms",
                 "max_bandwidth_mibps", "seeds", "per_stream_gbps", "rtt_ms", "compress_ratio", "compress_mibps",
                 "compress_threads", "decompress_mibps", "decompress_threads") + OPERATOR_COLUMNS
OUTPUT_COLUMNS = ("scenario", "total_time_s", "downtime_ms", "data_sent_mib", "rounds", "converged",
                  "stop_reason", "total_time_s_p5", "total_time_s_p95", "downtime_ms_p5", "downtime_ms_p95",
                  "analytic_total_time_s", "analytic_downtime_ms")
#: The policies that have a downtime limit, and the name of its constructor argument.
_DOWNTIME_ARG = {"qemu": "downtime_limit_s", "vmware": "switchover_goal_s", "simgrid": "max_downtime_s"}
#: ``hypervisor = auto``: the fitted preset of each policy (policies absent here have none: textbook terms).
AUTO_HYPERVISOR = {"qemu": "qemu", "xen-nsdi05": "xen-3", "vmware": "vmware-8"}
#: A migration still iterating after max(this, 10 x its bulk-pass time) is reported as not converged.
MIN_TIMEOUT_S = DEFAULT_TIMEOUT_S
MAX_SEEDS = 1000


@dataclass(frozen=True)
class Scenario:
    """One validated table row, ready to simulate."""

    scenario: str
    vm: VM
    workload: object
    link: Link
    policy: Policy
    seeds: int
    row: int = 0
    aids: tuple = ()
    switchover: Switchover = Switchover()
    hypervisor: str | None = None

    @property
    def label(self) -> str:
        return f"row {self.row} (scenario {self.scenario!r})" if self.row else f"scenario {self.scenario!r}"


class _RowError(ValueError):
    pass


def _where(row, line):
    if row is None:
        return ""
    return f"row {row} (line {line}): " if line else f"row {row}: "


def _blank(x) -> bool:
    # NaN is a value (and rejected by the range checks), not an empty cell: a
    # pandas DataFrame's missing cells are turned into None by _rows_of.
    return x is None or (isinstance(x, str) and x.strip() == "")


def parse_scenario(raw: dict, row: int | None = None, line: int | None = None) -> Scenario:
    """Validate one row (a dict of column -> value; strings or numbers) into a :class:`Scenario`.

    Parameters
    ----------
    raw : dict
        Column name -> value.  Empty strings and None mean "not given"; NaN and
        infinite numbers are rejected (in a pandas DataFrame given to
        :func:`predict_table`, missing cells are "not given").
    row, line : int, optional
        Row number (1-based, data rows) and file line, for error messages.

    Raises
    ------
    ValueError
        Naming the row and the column, for an unknown column, a missing required
        value, or an invalid or inapplicable value.

    Examples
    --------
    >>> s = parse_scenario({"scenario": "a", "memory_mib": 1024, "link_gbps": 10, "workload": "hotcold",
    ...                     "wws_mib": 64, "write_mibps": 100, "policy": "qemu"})
    >>> s.vm.memory_bytes == 2**30, s.workload.writes_per_s, s.seeds
    (True, 25600.0, 5)
    >>> s.hypervisor, round(s.switchover.resume_s * 1e3, 1) > 9.0      # the fitted QEMU switchover term
    ('qemu', True)
    """
    from collections.abc import Mapping
    if row is not None:
        row = v.integer(row, "row", "row number", lo=1, hi=2**62)
    if line is not None:
        line = v.integer(line, "line", "line number", lo=1, hi=2**62)
    where = _where(row, line)
    if not isinstance(raw, Mapping):
        raise _RowError(f"{where}raw (a scenario row) must be a dict of column -> value; got {type(raw).__name__}")

    def err(col, msg):
        return _RowError(f"{where}column {col!r}: {msg}")

    for k in raw:
        if k not in INPUT_COLUMNS:
            raise _RowError(f"{where}unknown column {k!r} (allowed: {', '.join(INPUT_COLUMNS)})")
    val = {k: (None if _blank(raw.get(k)) else raw.get(k)) for k in INPUT_COLUMNS}
    for k in REQUIRED_COLUMNS:
        if val[k] is None:
            raise err(k, "a value is required; got an empty cell")

    def num(col, unit, *, lo=None, hi=None, lo_open=False, default=None, integer=False):
        try:
            return v.cell_number(val[col], col, unit, lo=lo, hi=hi, lo_open=lo_open, whole=integer, default=default)
        except ValueError as e:
            raise err(col, str(e)) from None

    def text(col, options):
        x = str(val[col]).strip().lower().replace("_", "-")
        if x not in options:
            raise err(col, f"must be one of {', '.join(map(repr, options))}; got {val[col]!r}")
        return x

    def forbid(col, why):
        if val[col] is not None:
            raise err(col, f"does not apply {why}; leave it empty (got {val[col]!r})")

    scen = str(val["scenario"]).strip()
    page_kib = num("page_kib", "KiB", lo=0.5, hi=2**20, default=4.0)
    page_bytes = page_kib * 1024
    if not float(page_bytes).is_integer() or int(page_bytes) & (int(page_bytes) - 1):
        raise err("page_kib", f"must give a power-of-two page size in [0.5, 1048576] KiB; got {val['page_kib']!r}")
    page_bytes = int(page_bytes)
    mem_mib = num("memory_mib", "MiB", lo=0.0, hi=2**24, lo_open=True)
    mem_bytes = mem_mib * MiB(1)
    if not float(mem_bytes).is_integer() or int(mem_bytes) % page_bytes:
        raise err("memory_mib", f"must be a whole number of {page_bytes}-byte pages; got {val['memory_mib']!r}")
    zero = num("zero_fraction", "fraction", lo=0.0, hi=1.0, default=0.0)
    try:
        vm = VM(memory_bytes=int(mem_bytes), page_bytes=page_bytes, zero_fraction=zero)
    except ValueError as e:
        raise err("memory_mib", str(e)) from None

    def region(col, required_for):
        x = num(col, "MiB", lo=0.0, hi=mem_mib, lo_open=True)
        if x is None:
            if required_for:
                raise err(col, f"a value is required for workload {required_for!r}; got an empty cell")
            return None
        b = x * MiB(1)
        if not float(b).is_integer() or int(b) % page_bytes:
            raise err(col, f"must be a whole number of {page_bytes}-byte pages (MiB); got {val[col]!r}")
        return int(b)

    wl_name = text("workload", WORKLOADS)
    from . import workloads as W
    if wl_name == "idle":
        for c in ("wws_mib", "hot_fraction", "zipf_s"):
            forbid(c, "to workload 'idle'")
        if num("write_mibps", "MiB/s", lo=0.0, hi=1e7, default=0.0) != 0.0:
            raise err("write_mibps", f"must be empty or 0 for workload 'idle'; got {val['write_mibps']!r}")
        wl = W.Idle()
    else:
        rate_mibps = num("write_mibps", "MiB/s", lo=0.0, hi=1e7)
        if rate_mibps is None:
            raise err("write_mibps", f"a value is required for workload {wl_name!r}; got an empty cell")
        wps = rate_mibps * MiB(1) / page_bytes
        if wl_name == "uniform":
            for c in ("wws_mib", "hot_fraction", "zipf_s"):
                forbid(c, "to workload 'uniform'")
            wl = W.Uniform(writes_per_s=wps)
        elif wl_name == "hotcold":
            forbid("zipf_s", "to workload 'hotcold'")
            wws = region("wws_mib", "hotcold")
            h = num("hot_fraction", "fraction", lo=0.0, hi=1.0, default=0.9)
            wl = W.HotCold(wws_bytes=wws, hot_fraction=h, writes_per_s=wps)
        elif wl_name == "zipf":
            forbid("hot_fraction", "to workload 'zipf'")
            wws = region("wws_mib", None)
            s = num("zipf_s", "Zipf exponent", lo=0.0, hi=10.0, default=1.0)
            wl = W.Zipf(s=s, writes_per_s=wps, region_bytes=wws)
        else:
            for c in ("hot_fraction", "zipf_s"):
                forbid(c, "to workload 'sequential'")
            wws = region("wws_mib", "sequential")
            wl = W.Sequential(region_bytes=wws, writes_per_s=wps)
    try:
        wl.validate(vm)
    except ValueError as e:
        raise err("wws_mib", str(e)) from None

    link_gbps = num("link_gbps", "Gbit/s", lo=1e-6, hi=1e4)
    mtu = num("mtu", "bytes", lo=576, hi=65535, default=1500, integer=True)
    streams = num("streams", "count", lo=1, hi=1024, default=1, integer=True)
    streams_given = val["streams"] is not None
    per_stream = num("per_stream_gbps", "Gbit/s", lo=1e-6, hi=1e4)
    rtt_ms = num("rtt_ms", "ms", lo=0.0, hi=10_000.0, default=0.0)

    pol_name = text("policy", POLICY_NAMES)
    from . import hypervisors as H
    hv_name = "auto" if val["hypervisor"] is None else text("hypervisor", ("auto", "none") + H.NAMES)
    if hv_name == "auto":
        hv_name = AUTO_HYPERVISOR.get(pol_name, "none")
    hv = None if hv_name == "none" else H.get(hv_name)
    if hv is not None and hv.policy_name != pol_name:
        raise err("hypervisor", f"preset {hv_name!r} runs policy {hv.policy_name!r}, but the row's policy is "
                                f"{pol_name!r}; use policy {hv.policy_name!r}, or hypervisor 'auto' or 'none'")
    kw = {}
    dl = num("downtime_limit_ms", "ms", lo=0.0, hi=3.6e6)
    if dl is not None:
        if pol_name not in _DOWNTIME_ARG:
            raise err("downtime_limit_ms", f"does not apply to policy {pol_name!r} (no downtime limit; "
                                           f"applies to {', '.join(_DOWNTIME_ARG)}); leave it empty")
        kw[_DOWNTIME_ARG[pol_name]] = dl / 1e3
    mb = num("max_bandwidth_mibps", "MiB/s (0 = unlimited)", lo=0.0, hi=1e6)
    seeds = num("seeds", "count", lo=1, hi=MAX_SEEDS, default=5, integer=True)
    try:
        policy = get_policy(pol_name, **kw) if hv is None else hv.policy(**kw)
    except ValueError as e:
        raise err("downtime_limit_ms", str(e)) from None
    if mb is not None:
        bw = None if mb == 0 else mb * MiB(1) * 8.0
        if bw is not None and bw < 1e3:
            raise err("max_bandwidth_mibps", f"must be 0 (unlimited) or at least {1e3 / 8 / MiB(1):.3g} MiB/s; "
                                              f"got {val['max_bandwidth_mibps']!r}")
        policy = policy.with_(max_bandwidth_bps=bw)
    try:
        ops = parse_columns(raw, policy=pol_name, streams=streams if streams_given else None,
                            page_bytes=vm.page_bytes, downtime_limit_given=dl is not None,
                            max_bandwidth_given=mb is not None)
    except ValueError as e:
        raise _RowError(f"{where}{e}") from None
    if ops.streams is not None:
        streams = ops.streams
    elif hv is not None and not streams_given:
        streams = hv.streams_for(link_gbps * 1e9)          # vSphere 7.0 U2+: streams scaled to the link
    if per_stream is None and hv is not None and hv.per_stream_bps is not None:
        per_stream = hv.per_stream_bps / 1e9                # the preset's fitted sender ceiling
    try:
        link = profile(link_gbps * 1e9).link(mtu=mtu, streams=streams, rtt_s=rtt_ms / 1e3,
                                            per_stream_bps=None if per_stream is None else per_stream * 1e9)
    except ValueError as e:
        raise err("link_gbps", str(e)) from None
    rate = link.goodput_bps if policy.max_bandwidth_bps is None else min(link.goodput_bps, policy.max_bandwidth_bps)
    bulk_s = vm.memory_bytes * 8.0 / rate
    if 10.0 * bulk_s > 1e9:
        raise err("link_gbps", f"sending {mem_mib:g} MiB once at {rate / 1e9:.3g} Gbit/s takes {bulk_s:.3g} s; "
                               f"precopy simulates at most 1e9 s")
    policy = policy.with_(timeout_s=max(MIN_TIMEOUT_S, 10.0 * bulk_s))
    aids = ()
    ratio = num("compress_ratio", "page bytes / compressed bytes", lo=1.0, hi=1e6)
    if ratio is None:
        for c in ("compress_mibps", "compress_threads", "decompress_mibps", "decompress_threads"):
            forbid(c, "without compress_ratio")
    else:
        from .aids import Compression
        cm = num("compress_mibps", "MiB/s", lo=0.0, hi=1e7, lo_open=True)
        dm = num("decompress_mibps", "MiB/s", lo=0.0, hi=1e7, lo_open=True)
        aids = (Compression(ratio=ratio, cpu_Bps=None if cm is None else cm * MiB(1),
                            threads=num("compress_threads", "threads", lo=1, hi=1024, integer=True),
                            decompress_cpu_Bps=None if dm is None else dm * MiB(1),
                            decompress_threads=num("decompress_threads", "threads", lo=1, hi=1024,
                                                   integer=True)),)
    try:
        policy, aids = apply_operator_columns(ops, vm, policy, aids)
    except ValueError as e:
        raise _RowError(f"{where}{e}") from None
    dev = num("device_state_mib", "MiB", lo=0.0, hi=2.0**30, default=0.0) * MiB(1)
    switchover = Switchover(device_state_bytes=int(dev))
    if hv is not None:
        try:                                                # fitted fixed + per-GiB term, fitted device rate
            switchover = hv.switchover(vm.memory_bytes, dev)
        except ValueError as e:
            raise err("device_state_mib", str(e)) from None
        if wl_name == "idle":                               # an idle guest still rewrites a small set
            wl = hv.idle_workload(vm.memory_bytes, vm.page_bytes)
    return Scenario(scenario=scen, vm=vm, workload=wl, link=link, policy=policy, seeds=seeds, row=row or 0,
                    aids=aids, switchover=switchover, hypervisor=hv_name if hv is not None else None)


def _analytic_result(sc: Scenario):
    """The analytic model's result, or None where it does not apply (the analytic
    models know no convergence aids)."""
    if sc.aids:
        return None
    from . import analytic
    try:
        return analytic.predict(sc.vm, sc.workload, sc.link, sc.policy, switchover=sc.switchover)
    except ValueError:
        return None


def _analytic(sc: Scenario):
    """The analytic model's (total time s, downtime s), or (nan, nan) where it does not apply."""
    a = _analytic_result(sc)
    if a is None:
        return math.nan, math.nan
    return float(a.total_time_s), float(a.downtime_s)


def predict_scenario(sc: Scenario, *, keep_results: bool = False) -> dict:
    """Simulate one scenario over its seeds; return an output row (see :data:`OUTPUT_COLUMNS`).

    With ``keep_results`` the per-seed :class:`~precopy.results.MigrationResult`
    objects are returned under the key ``"results"`` as well.
    """
    from .simulate import Prepared
    v.instance(sc, "sc", Scenario, "a precopy.predict.Scenario (from parse_scenario)")
    v.flag(keep_results, "keep_results")
    prep = Prepared(sc.vm, sc.workload, sc.link, sc.policy, sc.switchover, aids=sc.aids)
    res = [prep.run(seed=s) for s in range(sc.seeds)]
    tt = np.array([r.total_time_s for r in res])
    dt = np.array([r.downtime_s for r in res]) * 1e3
    data = np.array([r.bytes_sent for r in res]) / MiB(1)
    rounds = np.array([r.n_rounds for r in res], dtype=float)
    conv = sum(r.converged for r in res)
    reasons = Counter(r.stop_reason for r in res).most_common()
    top = max(c for _, c in reasons)
    # the most common stop reason; ties go to the one of the median-time run
    med_run = res[int(np.argsort(tt)[len(tt) // 2])]
    tied = [r for r, c in reasons if c == top]
    reason = med_run.stop_reason if med_run.stop_reason in tied else tied[0]
    a_tt, a_dt = _analytic(sc)
    out = {
        "scenario": sc.scenario,
        "total_time_s": float(np.median(tt)),
        "downtime_ms": float(np.median(dt)),
        "data_sent_mib": float(np.median(data)),
        "rounds": float(np.median(rounds)),
        "converged": conv * 2 > len(res),
        "stop_reason": reason,
        "total_time_s_p5": float(np.percentile(tt, 5)),
        "total_time_s_p95": float(np.percentile(tt, 95)),
        "downtime_ms_p5": float(np.percentile(dt, 5)),
        "downtime_ms_p95": float(np.percentile(dt, 95)),
        "analytic_total_time_s": a_tt,
        "analytic_downtime_ms": a_dt * 1e3,
    }
    if keep_results:
        out["results"] = res
    return out


def _rows_of(table):
    """Normalise a table (list of dicts, dict of columns, or a DataFrame) to a list of dicts."""
    from collections.abc import Mapping
    what = "table must be a list of dicts (column -> value), a dict of columns, or a pandas DataFrame"
    if hasattr(table, "to_dict") and hasattr(table, "columns"):     # pandas DataFrame: NaN marks a missing cell
        return [{k: (None if isinstance(x, float) and math.isnan(x) else x) for k, x in r.items()}
                for r in table.to_dict("records")]
    if isinstance(table, Mapping):
        cols = list(table)
        for c in cols:
            if isinstance(table[c], (str, bytes)) or not hasattr(table[c], "__len__"):
                raise ValueError(f"{what}; column {c!r} of the dict is not a sequence: {table[c]!r}")
        n = {len(table[c]) for c in cols}
        if len(n) > 1:
            raise ValueError(f"table columns must have equal lengths; got {sorted(n)}")
        k = n.pop() if n else 0
        return [{c: table[c][i] for c in cols} for i in range(k)]
    if isinstance(table, (str, bytes)) or not hasattr(table, "__iter__"):
        raise ValueError(f"{what}; got {type(table).__name__}")
    rows = list(table)
    for i, r in enumerate(rows, start=1):
        if not isinstance(r, Mapping):
            raise ValueError(f"row {i}: table rows must be dicts (column -> value); got {type(r).__name__} {r!r:.80}")
    return [dict(r) for r in rows]


def _check_ids(scenarios):
    seen = {}
    for s in scenarios:
        if s.scenario in seen:
            raise ValueError(f"row {s.row}: column 'scenario': duplicate id {s.scenario!r} "
                             f"(also row {seen[s.scenario]})")
        seen[s.scenario] = s.row


def predict_table(table, *, progress: bool = False, n_jobs: int | None = 1) -> list[dict]:
    """Predict every row of a scenario table.

    Parameters
    ----------
    table : list of dict, dict of columns, or pandas.DataFrame
        Rows with the columns of :data:`INPUT_COLUMNS` (see the module docs).
    progress : bool, default False
        Print one line per finished row on stderr (a progress bar with ``n_jobs != 1``).
    n_jobs : int or None, default 1
        Worker processes, as in scikit-learn (-1: every CPU); see
        :func:`precopy.sweeps.parallel_map`.  The result does not depend on it.

    Returns
    -------
    list of dict
        One output row per input row, keys :data:`OUTPUT_COLUMNS`.

    Raises
    ------
    ValueError
        Naming the row and the column; every row is checked before any is simulated.

    Examples
    --------
    >>> out = predict_table([{"scenario": "idle-1g", "memory_mib": 256, "link_gbps": 1,
    ...                       "workload": "idle", "policy": "qemu", "max_bandwidth_mibps": 0, "seeds": 1}])
    >>> # QEMU's cadence: the bulk pass's last ~300 ms (no zero pages here) go in the downtime
    >>> out[0]["converged"], out[0]["rounds"], 200 < out[0]["downtime_ms"] < 330
    (True, 3.0, True)
    """
    v.flag(progress, "progress")
    rows = _rows_of(table)
    scenarios = [parse_scenario(r, row=i) for i, r in enumerate(rows, start=1)]
    _check_ids(scenarios)
    if n_jobs != 1:
        from .sweeps import parallel_map
        return parallel_map(predict_scenario, scenarios, n_jobs=n_jobs, progress=bool(progress), desc="rows")
    out = []
    for sc in scenarios:
        out.append(predict_scenario(sc))
        if progress:
            o = out[-1]
            print(f"{sc.label}: {o['total_time_s']:.3f} s, {o['downtime_ms']:.1f} ms", file=sys.stderr)
    return out


def table_rows(path, what: str, columns, required=()):
    """The rows of a CSV table, after checking the file and its header: ``(row, line, cells)``
    for each non-blank line (``row`` counts data rows from 1, ``line`` is the file line,
    ``cells`` maps column -> text).  Errors (ValueError) name the file: unreadable or not
    text, empty, an unknown, duplicated or missing required column, a row whose cell count
    differs from the header's.  :func:`read_scenarios` and :func:`precopy.drain.read_vms`
    read their tables with it.
    """
    path = v.file_name(path, "path")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ValueError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text (UTF-8 CSV) file: undecodable byte at offset {e.start}") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValueError(f"{path}: empty file; the first line must be a header with columns "
                         f"{', '.join(required)}") from None
    for h in header:
        if h not in columns:
            raise ValueError(f"{path}: unknown column {h!r} in the header (allowed: {', '.join(columns)})")
    dup = [h for h, c in Counter(header).items() if c > 1]
    if dup:
        raise ValueError(f"{path}: column {dup[0]!r} appears more than once in the header")
    for c in required:
        if c not in header:
            raise ValueError(f"{path}: required column {c!r} is missing from the header")
    row = 0
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue                                   # blank line
        row += 1
        if len(cells) != len(header):
            raise ValueError(f"{path}: row {row} (line {line}): has {len(cells)} cells, the header has {len(header)}")
        yield row, line, dict(zip(header, cells))


def read_scenarios(path) -> list[Scenario]:
    """Read and validate a scenario CSV (every row checked before returning).

    Raises
    ------
    ValueError
        For a missing header, an unknown or duplicated column, a missing required
        column, or any invalid row (naming the row, its file line and the column).
    """
    path = v.file_name(path, "path")
    scenarios = []
    for row, line, raw in table_rows(path, "scenario file", INPUT_COLUMNS, REQUIRED_COLUMNS):
        try:
            scenarios.append(parse_scenario(raw, row=row, line=line))
        except _RowError as e:
            raise ValueError(f"{path}: {e}") from None
    try:
        _check_ids(scenarios)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return scenarios


def csv_cell(x):
    """One value as a CSV cell of a results table (booleans as True/False, missing as empty, 6 digits)."""
    if isinstance(x, (bool, np.bool_)):
        return "True" if x else "False"
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def _result_rows(rows) -> list:
    """Output rows: dicts holding every column of :data:`OUTPUT_COLUMNS`."""
    if isinstance(rows, (str, bytes, dict)) or not hasattr(rows, "__iter__"):
        raise ValueError(f"rows must be a sequence of result dicts (from predict_scenario); got {type(rows).__name__}")
    rows = list(rows)
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise ValueError(f"rows[{i}] must be a result dict (from predict_scenario); got {type(r).__name__}")
        missing = [c for c in OUTPUT_COLUMNS if c not in r]
        if missing:
            raise ValueError(f"rows[{i}] lacks the column(s) {', '.join(missing)} of a result row")
    return rows


def write_results(rows, path) -> None:
    """Write output rows to ``path`` atomically: a temporary file in the same
    folder, renamed into place only when complete."""
    path = v.output_file(path, "path")
    rows = _result_rows(rows)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(OUTPUT_COLUMNS)
            for r in rows:
                w.writerow([csv_cell(r[c]) for c in OUTPUT_COLUMNS])
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def predict_csv(in_path, out_path, *, progress: bool = False) -> list[dict]:
    """Read a scenario CSV, predict every row, write the results CSV.

    Nothing is written unless every row was read, validated and simulated; a
    header-only input gives a header-only output.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> src = os.path.join(d, "s.csv")
    >>> _ = open(src, "w").write("scenario,memory_mib,link_gbps,workload,policy\\n")
    >>> predict_csv(src, os.path.join(d, "r.csv"))
    []
    >>> open(os.path.join(d, "r.csv")).read().splitlines()[0].split(",")[:3]
    ['scenario', 'total_time_s', 'downtime_ms']
    """
    v.flag(progress, "progress")
    v.file_name(in_path, "in_path")
    v.output_file(out_path, "out_path")        # before any row is simulated
    scenarios = read_scenarios(in_path)
    out = []
    for sc in scenarios:
        try:
            out.append(predict_scenario(sc))
        except ValueError as e:
            raise ValueError(f"{in_path}: {sc.label}: {e}") from None
        if progress:
            o = out[-1]
            print(f"{sc.label}: {o['total_time_s']:.3f} s, {o['downtime_ms']:.1f} ms", file=sys.stderr)
    write_results(out, out_path)
    return out


# --- How much work a run is ---------------------------------------------------------------------

#: Default bound on the page writes one command may simulate (``--max-writes``): about three
#: minutes at :data:`WRITES_PER_S_ESTIMATE`.  Above it the command refuses to start and says how to
#: shorten the run (a shorter ``--timeout``) or to allow it (a larger ``--max-writes``).
MAX_WRITES = 1e10
#: Page writes the kernel applies per second on one core (order of magnitude, measured with
#: ``benchmarks/bench_kernel.py``); used only to turn the work estimate into an expected duration.
WRITES_PER_S_ESTIMATE = 5e7
#: Runs expected to take longer than this (seconds) show a progress bar.
PROGRESS_AFTER_S = 2.0


@dataclass(frozen=True)
class Work:
    """The work of simulating a scenario, estimated before it runs.

    ``writes`` counts the kernel's work in page writes: per seed, one bulk pass
    of pages plus, for each round of the migration that will be simulated (the
    analytic model's rounds, up to the policy's timeout; the timeout when no
    analytic prediction applies), the round's page writes, or, where the
    kernel draws a round's dirty set at once instead of each write
    (:mod:`precopy._dirtyset`: no page skip, XBZRLE or post-copy, and a
    workload with a set law), at most the pages that law can touch.
    ``seconds`` is that over :data:`WRITES_PER_S_ESTIMATE`.
    """

    writes: float
    simulated_s: float
    writes_per_s: float
    seeds: int

    @property
    def seconds(self) -> float:
        return self.writes / WRITES_PER_S_ESTIMATE


def _set_law_pages(sc: Scenario) -> float | None:
    """Pages a round's set draw can cost at most (None: the kernel applies every write)."""
    from . import workloads as W
    from .aids import PostCopy, XBZRLE
    from .config import DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE, DIRTYSET_MIN_WRITES_PER_PAGE
    if sc.policy.page_skip or any(isinstance(a, (XBZRLE, PostCopy)) for a in sc.aids):
        return None
    n = float(sc.vm.n_pages)
    if isinstance(sc.workload, (W.Uniform, W.HotCold, W.Sequential)):
        return max(1.0, DIRTYSET_MIN_WRITES_PER_PAGE) * n
    if isinstance(sc.workload, W.Zipf):
        return DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE * n
    return None


def estimate_work(sc: Scenario) -> Work:
    """Estimate the kernel's work (in page writes) of simulating ``sc`` over its seeds (see :class:`Work`).

    Examples
    --------
    >>> sc = parse_scenario({"scenario": "a", "memory_mib": 1024, "link_gbps": 10, "workload": "uniform",
    ...                      "write_mibps": 40, "policy": "qemu", "seeds": 2})
    >>> w = estimate_work(sc)
    >>> w.writes_per_s, w.seeds, w.simulated_s <= sc.policy.timeout_s
    (10240.0, 2, True)
    """
    wps = float(getattr(sc.workload, "writes_per_s", 0.0) or 0.0)
    timeout = float(sc.policy.timeout_s)
    per_seed = float(sc.vm.n_pages)
    if wps <= 0.0:
        return Work(writes=sc.seeds * per_seed, simulated_s=0.0, writes_per_s=wps, seeds=sc.seeds)
    a = _analytic_result(sc)
    if a is None or not math.isfinite(a.total_time_s):
        sim_s = timeout
        durations = [timeout]
    else:
        sim_s = min(timeout, max(float(a.total_time_s), 0.0))
        t = a.rounds
        durations = [float(d) for d, stop in zip(t["duration_s"], t["stop_copy"]) if not stop and d == d]
        if not durations:
            durations = [sim_s]
    cap = _set_law_pages(sc)
    for d in durations:
        n = wps * d
        per_seed += n if cap is None else min(n, cap)
    return Work(writes=sc.seeds * per_seed, simulated_s=sim_s, writes_per_s=wps, seeds=sc.seeds)


def _duration_text(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"


def check_work(items, max_writes: float, *, what: str = "this run") -> float:
    """Refuse (ValueError) a run whose estimated page writes exceed ``max_writes``.

    ``items`` are (label, :class:`Work`) pairs; the message names the largest ones and the
    ways out.  Returns the total estimated writes.
    """
    total = sum(w.writes for _, w in items)
    if total <= max_writes:
        return total
    big = sorted(items, key=lambda lw: -lw[1].writes)[:3]
    parts = "; ".join(f"{lab}: {w.writes:.2g} writes ({w.writes_per_s:.3g} writes/s x up to "
                      f"{w.simulated_s:.4g} s simulated x {w.seeds} seed(s))" for lab, w in big)
    raise ValueError(
        f"{what} would simulate about {total:.2g} page writes (about {_duration_text(total / WRITES_PER_S_ESTIMATE)} "
        f"here), above the bound of {max_writes:.2g} (--max-writes); {parts}. "
        f"Shorten the simulated time with a smaller --timeout (e.g. --timeout 60s), or allow it with "
        f"--max-writes {10 ** math.ceil(math.log10(total)):.0e}")


def _progress_bar(total, desc, unit, enabled):
    if not enabled:
        return None
    from tqdm import tqdm
    fmt = ("{desc}: {bar} {n:.0f}/{total:.0f} s elapsed of about {total:.0f} s estimated" if unit == "s"
           else None)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True,
                bar_format=fmt)


def _run_in_thread(fn, *, expected_s: float, progress: bool, desc: str):
    """Run ``fn()`` in a worker thread (the kernel releases the GIL) while the main thread
    stays responsive to Ctrl-C and, for runs expected to last more than
    :data:`PROGRESS_AFTER_S`, shows an elapsed-time bar against the estimate."""
    import threading
    import time
    box = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as e:          # handed to the main thread
            box["error"] = e

    t = threading.Thread(target=work, daemon=True, name="precopy-simulate")
    t0 = time.perf_counter()
    t.start()
    bar = None
    try:
        while True:
            el = time.perf_counter() - t0
            if bar is None and progress and (expected_s > PROGRESS_AFTER_S or el > PROGRESS_AFTER_S):
                bar = _progress_bar(round(max(expected_s, el, 0.1), 1), desc, "s", True)
            if bar is not None:
                if el > bar.total:
                    bar.total = round(el * 1.5, 1)
                bar.n = round(el, 1)
                bar.refresh()
            if not t.is_alive():
                break
            t.join(0.1)
    finally:
        if bar is not None:
            bar.close()
    if "error" in box:
        raise box["error"]
    return box["value"]


# --- CLI: precopy predict ---------------------------------------------------------------------

def _add_work_arguments(p):
    p.add_argument("--max-writes", type=float, default=MAX_WRITES, metavar="N",
                   help=f"refuse to start above about N simulated page writes (default {MAX_WRITES:.0e}, "
                        f"a few minutes; inf: no bound); the estimate is printed when refused")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def add_arguments(p):
    p.add_argument("scenarios", metavar="SCENARIOS.csv", help="scenario table (columns: see `precopy.predict`)")
    p.add_argument("-o", "--output", required=True, metavar="RESULTS.csv", help="results table to write")
    p.add_argument("--progress", action="store_true", help="also print one line per finished row on stderr")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes, as scikit-learn's n_jobs (-1: every CPU; default 1); "
                        "the results do not depend on it")
    _add_work_arguments(p)


def _positive(x, flag):
    """``x`` if it is a positive number (``inf``: no bound); else a ValueError naming ``flag``."""
    if not (isinstance(x, (int, float)) and not math.isnan(x) and x > 0):
        raise ValueError(f"{flag} must be a positive number (inf: no bound); got {x!r}")
    return x


def run(args) -> int:
    max_writes = _positive(args.max_writes, "--max-writes")
    scenarios = read_scenarios(args.scenarios)
    works = [(sc.label, estimate_work(sc)) for sc in scenarios]
    total = check_work(works, max_writes, what=f"{args.scenarios} ({len(scenarios)} rows)")
    show = not args.no_progress and total / WRITES_PER_S_ESTIMATE > PROGRESS_AFTER_S
    if args.jobs == 0 or args.jobs < -1:
        raise ValueError(f"--jobs must be a positive number of workers or -1 (every CPU); got {args.jobs}")
    if args.jobs != 1:
        from .sweeps import parallel_map
        out = parallel_map(predict_scenario, scenarios, n_jobs=args.jobs, progress=show, desc="rows")
        write_results(out, args.output)
        print(f"wrote {len(out)} row(s) to {args.output}")
        return 0
    bar = _progress_bar(len(scenarios), "predict", "row", show)
    out = []
    try:
        for sc in scenarios:
            try:
                out.append(predict_scenario(sc))
            except ValueError as e:
                raise ValueError(f"{args.scenarios}: {sc.label}: {e}") from None
            if bar is not None:
                bar.update(1)
            if args.progress:
                o = out[-1]
                print(f"{sc.label}: {o['total_time_s']:.3f} s, {o['downtime_ms']:.1f} ms", file=sys.stderr)
    finally:
        if bar is not None:
            bar.close()
    write_results(out, args.output)
    print(f"wrote {len(out)} row(s) to {args.output}")
    return 0


# --- CLI: precopy simulate --------------------------------------------------------------------

def _fraction(flag):
    def parse(text):
        try:
            x = float(text)
        except ValueError:
            raise ValueError(f"{flag} must be a number in [0, 1]; got {text!r}") from None
        if not math.isfinite(x):
            raise ValueError(f"{flag} must be a finite number; got {text!r}")
        return x
    return parse


def simulate_add_arguments(p):
    p.add_argument("--memory", required=True, help="guest memory with its unit, e.g. 16GiB (or 16G)")
    p.add_argument("--page", default="4KiB", help="page size (default 4KiB)")
    p.add_argument("--workload", choices=WORKLOADS, default=None,
                   help="write pattern (default: hotcold with --wws, uniform with only --write-rate, else idle)")
    p.add_argument("--wws", help="hot set / written region, e.g. 1GiB")
    p.add_argument("--write-rate", help="page writes per second x page size, e.g. 200MiB/s")
    p.add_argument("--hot-fraction", type=str, help="share of writes on the hot set (default 0.9)")
    p.add_argument("--zipf-s", type=str, help="Zipf exponent (default 1.0)")
    p.add_argument("--zero-fraction", type=str, help="share of memory that is zero (default 0)")
    p.add_argument("--link", required=True, help="nominal link rate or profile, e.g. 25GbE, 10Gbps")
    p.add_argument("--mtu", type=int, help="Ethernet MTU in bytes (default 1500)")
    p.add_argument("--streams", type=int, help="parallel streams / multifd channels (default 1)")
    p.add_argument("--per-stream", help="per-stream ceiling, e.g. 12Gbps (default: fitted)")
    p.add_argument("--rtt", help="round-trip time, e.g. 0.5ms (default 0)")
    p.add_argument("--policy", default="qemu", help=f"one of {', '.join(POLICY_NAMES)} (default qemu)")
    from .hypervisors import NAMES as HV_NAMES
    p.add_argument("--hypervisor", default="auto",
                   help=f"fitted preset whose switchover term, sender ceiling and idle-guest background apply: "
                        f"auto (the policy's own), none (textbook: 9 ms resume, silent idle guest), or one of "
                        f"{', '.join(HV_NAMES)} (default auto)")
    p.add_argument("--device-state", help="state that cannot be pre-copied, copied while the VM is stopped, e.g. "
                                          "8GiB of vGPU frame buffer (default 0)")
    p.add_argument("--downtime-limit", help="downtime limit, e.g. 300ms (default: the policy's)")
    p.add_argument("--max-bandwidth",
                   help="pre-copy cap, e.g. 128MiB/s or 10Gbps; 0 = unlimited (default: the policy's; qemu 128MiB/s)")
    p.add_argument("--timeout", help="stop a migration that has not converged after this much migration time, "
                                     "e.g. 600s (default: max(1h, 10 x the bulk pass))")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--plot", metavar="FILE",
                   help="draw the migration timeline (rate over time, and bytes per round) to FILE (png, pdf, svg)")
    p.add_argument("--rounds-csv", metavar="FILE", help="also write the round table as CSV")
    _add_work_arguments(p)
    from .aids import add_cli_arguments
    add_cli_arguments(p)


#: scenario column -> (flag, attribute of the parsed arguments)
_FLAGS = {"memory_mib": ("--memory", "memory"), "page_kib": ("--page", "page"), "link_gbps": ("--link", "link"),
          "wws_mib": ("--wws", "wws"), "write_mibps": ("--write-rate", "write_rate"),
          "hot_fraction": ("--hot-fraction", "hot_fraction"), "zipf_s": ("--zipf-s", "zipf_s"),
          "zero_fraction": ("--zero-fraction", "zero_fraction"), "mtu": ("--mtu", "mtu"),
          "streams": ("--streams", "streams"), "policy": ("--policy", "policy"),
          "hypervisor": ("--hypervisor", "hypervisor"), "device_state_mib": ("--device-state", "device_state"),
          "downtime_limit_ms": ("--downtime-limit", "downtime_limit"),
          "max_bandwidth_mibps": ("--max-bandwidth", "max_bandwidth"), "per_stream_gbps": ("--per-stream", "per_stream"),
          "rtt_ms": ("--rtt", "rtt"), "workload": ("--workload", "workload")}


def simulate_row(args) -> dict:
    """Turn ``precopy simulate`` flags into a scenario row (dict of columns).

    Quantities need their unit (``16GiB``, ``200MiB/s``, ``300ms``): a bare number is
    refused where it would be ambiguous.
    """
    row = {"scenario": "cli", "seeds": 1, "policy": args.policy, "hypervisor": args.hypervisor}
    page = parse_bytes(args.page, name="--page")
    row["page_kib"] = page / KiB(1)
    row["memory_mib"] = parse_bytes(args.memory, name="--memory") / MiB(1)
    rate = parse_rate_bps(args.link, name="--link")
    row["link_gbps"] = rate / 1e9
    if args.wws:
        row["wws_mib"] = parse_bytes(args.wws, name="--wws") / MiB(1)
    if args.write_rate:
        row["write_mibps"] = parse_byte_rate(args.write_rate, "--write-rate") / MiB(1)
    wl = args.workload or ("hotcold" if args.wws else ("uniform" if args.write_rate else "idle"))
    row["workload"] = wl
    for flag, col in (("hot_fraction", "hot_fraction"), ("zipf_s", "zipf_s"), ("zero_fraction", "zero_fraction")):
        x = getattr(args, flag)
        if x is not None:
            row[col] = _fraction("--" + flag.replace("_", "-"))(x)
    for flag, col in (("mtu", "mtu"), ("streams", "streams")):
        x = getattr(args, flag)
        if x is not None:
            row[col] = x
    if args.per_stream:
        row["per_stream_gbps"] = parse_rate_bps(args.per_stream, name="--per-stream") / 1e9
    if args.rtt:
        row["rtt_ms"] = parse_seconds(args.rtt, "--rtt") * 1e3
    if args.downtime_limit:
        row["downtime_limit_ms"] = parse_seconds(args.downtime_limit, "--downtime-limit") * 1e3
    if args.device_state:
        row["device_state_mib"] = parse_bytes(args.device_state, name="--device-state") / MiB(1)
    if args.max_bandwidth is not None:
        mb = str(args.max_bandwidth).strip().lower()
        row["max_bandwidth_mibps"] = 0.0 if mb in ("0", "unlimited", "none") else (
            parse_byte_rate(args.max_bandwidth, "--max-bandwidth") / MiB(1))
    return row


def _flag_error(e, args=None):
    """Row errors name columns; the CLI user typed flags (and sees the value as typed)."""
    msg = str(e)
    m = re.match(r"column '([a-z_]+)': (.*)", msg, re.S)
    if not (m and m.group(1) in _FLAGS):
        return ValueError(msg)
    flag, attr = _FLAGS[m.group(1)]
    body = m.group(2)
    typed = getattr(args, attr, None) if args is not None else None
    if typed is not None:
        body = re.sub(r"got [^;]*$", f"got {str(typed)!r}", body)
    return ValueError(f"{flag}: {body}")


_REASON_TEXT = {
    "timeout": "stopped by the {timeout} timeout",
    "max_rounds": "stopped by the policy's cap of {max_rounds} rounds",
    "max_data": "stopped by the policy's cap on data sent ({max_data} x memory)",
    "round_limit": "stopped by the guard on the number of rounds",
    "max_rate": "stopped when the adaptive rate reached its maximum",
}


def _rate_text(Bps: float) -> str:
    """A byte rate with a unit that shows it (``128 B/s``, ``3.5 MiB/s``, ``1082 MiB/s``, ``12 GiB/s``)."""
    for unit, size, floor in (("GiB/s", 2.0**30, 10 * 2.0**30), ("MiB/s", 2.0**20, 2.0**20), ("KiB/s", 2.0**10, 2.0**10)):
        if Bps >= floor:
            x = Bps / size
            return f"{x:.0f} {unit}" if x >= 10 else f"{x:.3g} {unit}"
    return f"{Bps:.3g} B/s"


def verdict(r, sc: Scenario) -> list[str]:
    """The first lines ``precopy simulate`` prints: did the migration converge, and if not,
    why, and which flag changes it."""
    pol = sc.policy
    mib = MiB(1)
    if r.converged:
        return [f"converged: {r.n_rounds} rounds, total {r.total_time_s:.3f} s, VM paused "
                f"{r.downtime_s * 1e3:.1f} ms, {r.bytes_sent / mib:.0f} MiB sent "
                f"({r.data_factor:.2f} x memory)"]
    why = _REASON_TEXT.get(r.stop_reason, "stopped ({reason})").format(
        timeout=f"{pol.timeout_s:.4g} s", max_rounds=pol.max_rounds, max_data=f"{pol.max_data_factor or 0:g}",
        reason=r.stop_reason)
    lines = [f"did NOT converge: {why} after {r.n_rounds} rounds ({r.total_time_s:.4g} s in total); the forced "
             f"stop-and-copy paused the VM for {r.downtime_s * 1e3:.0f} ms, and {r.data_factor:.2f} x memory "
             f"was sent"]
    t = r.rounds
    live = [i for i in range(len(t)) if not t["stop_copy"][i]]
    if not live:
        return lines
    last = t[live[-1]]
    send_Bps = (float(last["rate_bps"]) if "rate_bps" in t.columns else r.rate_bps) / 8.0
    link_Bps = sc.link.goodput_bps / 8.0
    write_Bps = float(getattr(sc.workload, "writes_per_s", 0.0) or 0.0) * sc.vm.page_bytes
    remaining = float(last["pages_dirtied"]) * sc.vm.page_bytes
    need_s = remaining / send_Bps if send_Bps > 0 else math.inf
    lim = pol.downtime_limit_s
    lim_text = f"the {lim * 1e3:.0f} ms downtime limit" if lim is not None else "what the stop rule accepts"
    lines.append(f"  why: each round still leaves about {remaining / mib:.0f} MiB dirty, {need_s:.3g} s to send at "
                 f"{_rate_text(send_Bps)}, above {lim_text}; the guest writes {_rate_text(write_Bps)} "
                 f"of pages")
    capped = pol.max_bandwidth_bps is not None and pol.max_bandwidth_bps / 8.0 < 0.95 * link_Bps
    if capped:
        lines.append(f"  pre-copy is capped at {_rate_text(pol.max_bandwidth_bps / 8)} by the policy's "
                     f"max-bandwidth ({'QEMU' if pol.name == 'qemu' else pol.name}'s default unless set), "
                     f"while the link could send {_rate_text(link_Bps)}")
        lines.append("  try: --max-bandwidth 0 (unlimited, libvirt's default) or a higher cap such as "
                     f"--max-bandwidth {math.ceil(link_Bps / mib)}MiB/s")
    elif pol.adaptive_rate is not None and send_Bps < 0.95 * link_Bps:
        lines.append(f"  the policy's adaptive rate ({r.rate_text()}) follows the dirtying rate instead of "
                     f"the link's {_rate_text(link_Bps)}")
        lines.append("  try: another --policy (xen, or qemu --max-bandwidth 0), or a convergence aid "
                     "(--auto-converge, --postcopy)")
    else:
        tries = []
        if lim is not None and math.isfinite(need_s):
            tries.append(f"a larger --downtime-limit (sending the remainder takes about {need_s * 1e3:.0f}ms)")
        tries.append("a faster --link or more --streams")
        tries.append("a convergence aid: --auto-converge, --dirty-limit 1MiB/s, --xbzrle 1GiB or --postcopy")
        lines.append("  try: " + ", or ".join(tries))
    return lines


def hypervisor_line(sc: Scenario) -> str:
    """What the scenario's hypervisor preset adds, in one line (``precopy simulate`` prints it)."""
    if sc.hypervisor is None:
        return ("hypervisor: none (textbook terms: 9 ms resume, an idle guest writes nothing; "
                "--hypervisor auto applies the fitted ones)")
    from .hypervisors import get
    hv = get(sc.hypervisor)
    ps = hv.per_stream_bps
    sender = "line-bound sender" if ps is None else f"sender ceiling {ps / 1e9:.3g} Gbit/s per stream"
    return (f"hypervisor {hv.name} (fitted, precopy/data/calibration.json): switchover "
            f"{sc.switchover.resume_s * 1e3:.1f} ms for {sc.vm.memory_bytes / 2**30:.4g} GiB, {sender}, an idle "
            f"guest rewrites {hv.background_set_bytes / MiB(1):.3g} MiB at {hv.background_Bps / MiB(1):.3g} MiB/s")


def simulate_run(args) -> int:
    row = simulate_row(args)
    try:
        sc = parse_scenario(row)
    except ValueError as e:
        raise _flag_error(e, args) from None
    if args.timeout:
        t = parse_seconds(args.timeout, "--timeout")
        try:
            sc = replace(sc, policy=sc.policy.with_(timeout_s=t))
        except ValueError as e:
            raise ValueError(f"--timeout: {e}") from None
    seed = v.seed(args.seed, "--seed")
    max_writes = _positive(args.max_writes, "--max-writes")
    from .aids import from_cli
    aids = sc.aids + from_cli(args)
    work = estimate_work(replace(sc, aids=aids))        # the flags' aids decide the kernel's path too
    check_work([("the migration", work)], max_writes)
    from .simulate import simulate
    r = _run_in_thread(lambda: simulate(sc.vm, sc.workload, sc.link, sc.policy, seed=seed,
                                        switchover=sc.switchover, aids=aids),
                       expected_s=work.seconds, progress=not args.no_progress,
                       desc=f"simulating up to {work.simulated_s:.4g} s of migration")
    # files first: a reader that stops early (| head) must not cost them
    if args.rounds_csv:
        r.rounds.to_csv(args.rounds_csv)
    if args.plot:
        from .plotting import plot_migration
        fig = plot_migration(r)
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
    link = sc.link
    for line in verdict(r, sc):
        print(line)
    print()
    print(f"VM {args.memory} ({sc.vm.n_pages} pages of {sc.vm.page_bytes} B), "
          f"workload {row['workload']}"
          f"{' (the preset' + chr(39) + 's background dirtying)' if row['workload'] == 'idle' and sc.hypervisor else ''}"
          f": {sc.workload!r}")
    print(hypervisor_line(sc))
    extra = " (extrapolation)" if profile(link.rate_bps).extrapolation else ""
    print(f"link {link.profile}{extra}: MTU {link.mtu}, {link.streams} stream(s), goodput "
          f"{link.goodput_bps / 1e9:.3f} Gbit/s (bound by {link.bottleneck}); pre-copy at {r.rate_text()}")
    # the summary's note names the Python keyword; the verdict above already named the flag
    print("\n".join(ln for ln in r.summary().splitlines() if not ln.lstrip().startswith("note: pre-copy ran capped")))
    print()
    print(repr(r.rounds))
    a_tt, a_dt = _analytic(sc) if not aids else (math.nan, math.nan)
    if not math.isnan(a_tt):
        print(f"\nanalytic model: total {a_tt:.3f} s, downtime {a_dt * 1e3:.1f} ms")
    if args.rounds_csv:
        print(f"wrote the round table to {args.rounds_csv}")
    if args.plot:
        print(f"wrote the timeline to {args.plot}")
    return 0
