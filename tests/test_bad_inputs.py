"""Every public constructor and function parameter, fed bad values.

A table maps each public callable to valid base arguments and, for each of its
parameters (enumerated with ``inspect.signature``), a list of bad values: a wrong
type, NaN, infinities, negative, zero or out-of-range values as applicable.  Each
must raise ``ValueError`` whose message names the parameter and, for a number,
gives the allowed range.  A parameter without a table entry (or a documented
exemption) fails :func:`test_every_parameter_has_a_table_entry`, and a public
callable without a table entry fails :func:`test_every_public_callable_is_covered`.
"""

from __future__ import annotations

import inspect
import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import precopy as pc
from precopy import aids as A
from precopy import calibrate as CF
from precopy import calibration as CA
from precopy import drain as DR
from precopy import eta as ET
from precopy import hvstats as HV
from precopy import hypervisors as HY
from precopy import operator_columns as OC
from precopy import orchestrators as O
from precopy import planning as PL
from precopy import scenario as SC
from precopy import analytic as AN
from precopy import datasets as DS
from precopy import linkfit as LF
from precopy import links as L
from precopy import policies as P
from precopy import predict as PR
from precopy import storage as S
from precopy import sweeps as SW
from precopy import units as U
from precopy import validation as VA
from precopy import workload_fit as WF
from precopy import workloads as W
from precopy.simulate import check_scenario

NAN, INF = math.nan, math.inf
MISSING = "no/such/dir/missing.csv"

# --- bad-value families --------------------------------------------------------------------------------
# "s" is a wrong type (a string where a number belongs); numbers are tagged so that the test also asks
# for a range in the message.
REAL_POS = ["1.0", [1.0], NAN, INF, -INF, -1.0, 0.0]          # a finite number > 0
REAL_NONNEG = ["1.0", [1.0], NAN, INF, -INF, -1.0]            # a finite number >= 0
FRAC = ["0.5", NAN, INF, -0.1, 1.5]                           # a share in [0, 1]
INT_POS = ["1", 1.5, NAN, INF, -1, 0, 10**400]                       # a whole number >= 1
INT_NONNEG = ["1", 1.5, NAN, INF, -1, 10**400]                       # a whole number >= 0
BOOL = ["yes", 2, None]
SEED = ["1", 1.5, NAN, -1, 2**64]
THREADS = ["2", 1.5, NAN, 0, -1]
CONTROLS_BAD = [1, "x", {"completion_timeout_s": 1.0}]
NONNUMERIC = (str, list, type(None), dict, tuple, bool)


def vec(values):
    """For parameters that take arrays too (the analytic models broadcast): drop the one-element list."""
    return [x for x in values if not isinstance(x, list)]


def _numeric(x) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


# --- a small valid scenario used as base arguments -------------------------------------------------------
VM = pc.VM(memory_bytes=pc.MiB(4))
WL = W.HotCold(wws_bytes=pc.KiB(64), hot_fraction=0.9, writes_per_s=1000)
LINK = pc.Link(rate_bps=1e9)
POL = P.QEMU(max_bandwidth_bps=None)
DISK = S.Disk(size_bytes=pc.MiB(4))
SPATH = S.StoragePath(rate_Bps=1e8)
TR_T = np.array([0.0, 0.001, 0.002])
TR_P = np.array([1, 2, 3])
DUR = np.array([1.0, 0.5, 0.25])
SAMPLE_T = np.array([0.1, 0.2, 0.4])
PREP = pc.Prepared(VM, WL, LINK, POL)
PROFILE = L.profile("10GbE")
EXAMPLES = Path(__file__).resolve().parents[1] / "precopy" / "data" / "examples"     # example reports and tables
N_JOBS = ["2", 1.5, NAN, INF, 0, -10**6]
BACKEND = [1, "nope"]
CLIENT = [1, "x"]
NIC = DR.NIC(rate_bps=1e10)
DVM = DR.DrainVM(name="a", vm=VM, workload=WL, policy=POL)
DRS = HV.DirtyRateSample(interval_s=1.0, dirty_rate_Bps=1e6)


def _once(fn):
    cache = []

    def get():
        if not cache:
            cache.append(fn())
        return cache[0]
    return get


SNAPS = _once(lambda: HV.read_job_stats(EXAMPLES / "virsh_domjobinfo_series.txt"))
DR_FIT = _once(lambda: HV.fit_dirty_rate(HV.read_dirty_rate(EXAMPLES / "qmp_dirty_rate_sampling.json")))
CASES = _once(lambda: VA.cases(seeds=1)[0])


@dataclass
class Target:
    """One public callable: how to call it, valid base arguments, bad values per parameter."""

    name: str
    sig: object                      # what inspect.signature reads
    call: object                     # called with the merged keyword arguments
    base: dict
    bad: dict                        # parameter -> list of bad values
    names: dict = field(default_factory=dict)     # parameter -> the name the message must carry
    exempt: dict = field(default_factory=dict)    # parameter -> why no bad value exists
    positional: tuple = ()           # parameters passed positionally (positional-only or *args)


def T(name, fn, base, bad, *, sig=None, names=None, exempt=None, call=None):
    return Target(name, sig if sig is not None else fn, call if call is not None else fn, base, bad,
                  names or {}, exempt or {})


def _tmp_npz(tmp, name, **arrays):
    p = Path(tmp) / name
    np.savez(p, **arrays)
    return str(p)


def targets(tmp):
    """The table (``tmp``: a folder for bad files)."""
    tmp = Path(tmp)
    text_file = tmp / "not_npz.npz"
    text_file.write_text("hello")
    bad_csv = tmp / "bad.csv"
    bad_csv.write_text("a,b\n1,2\n")
    bin_file = tmp / "binary.csv"
    bin_file.write_bytes(b"\x00\xff\xfe\x00garbage")
    npz_no_interval = _tmp_npz(tmp, "noint.npz", bitmaps=np.zeros((2, 1), np.uint8), n_pages=8)
    npz_obj = tmp / "obj.npz"
    np.savez(npz_obj, times_s=np.array([0.0, 0.1]), pages=np.array([1, "x"], dtype=object))
    npz_nan = _tmp_npz(tmp, "nan.npz", times_s=np.array([0.0, NAN]), pages=np.array([1, 2]))
    npz_u64 = _tmp_npz(tmp, "u64.npz", times_s=np.array([0.0, 0.1]), pages=np.array([1, 2**63], np.uint64))
    npz_interval_arr = _tmp_npz(tmp, "intarr.npz", bitmaps=np.zeros((2, 1), np.uint8), interval_s=np.ones(3))
    npz_empty = _tmp_npz(tmp, "empty.npz", foo=np.zeros(1))
    dirpath = str(tmp)
    PATHS = [123, MISSING, dirpath, str(text_file)]
    CSV_PATHS = [123, MISSING, dirpath, str(bin_file)]

    row = {"scenario": "a", "memory_mib": 4, "link_gbps": 1, "workload": "hotcold", "wws_mib": 1,
           "write_mibps": 1, "policy": "qemu", "seeds": 1}
    sc = PR.parse_scenario(row)
    ok_table = [row]
    good_csv = tmp / "good.csv"
    good_csv.write_text(",".join(row) + "\n" + ",".join(str(x) for x in row.values()) + "\n")
    DRAIN_CSV = str(EXAMPLES / "drain_vms.csv")
    DIRTY_PATH = str(EXAMPLES / "qmp_dirty_rate_sampling.json")
    JOB_PATH = str(EXAMPLES / "virsh_domjobinfo_series.txt")
    DIRTY_TEXT = Path(DIRTY_PATH).read_text()
    JOB_TEXT = Path(JOB_PATH).read_text()

    t = [
        # --- the guest -------------------------------------------------------------------------------
        T("VM", pc.VM, dict(memory_bytes=pc.MiB(4)),
          dict(memory_bytes=INT_POS + [1000, 2**60], page_bytes=INT_POS + [3000, 2**31, 256],
               zero_fraction=FRAC)),
        T("Switchover", pc.Switchover, {},
          dict(device_state_bytes=INT_NONNEG, resume_s=REAL_NONNEG + [1e6],
               announce_initial_s=REAL_POS + [1e6], announce_max_s=REAL_NONNEG + [1e6],
               announce_rounds=INT_NONNEG + [10**6], announce_step_s=REAL_POS + [1e6],
               announce_heard=INT_POS + [6], device_rate_Bps=REAL_POS + [1e20])),
        # --- links -----------------------------------------------------------------------------------
        T("Link", pc.Link, dict(rate_bps=1e9),
          dict(rate_bps=REAL_POS + [1e20], mtu=INT_POS + [100, 10**6], streams=INT_POS + [10**6],
               per_stream_bps=REAL_POS, cap_bps=REAL_POS, rtt_s=REAL_NONNEG + [1e6],
               stack_efficiency=REAL_POS + [1.5], sharpness=REAL_POS + [1e6], window_bytes=INT_POS + [10],
               profile=[1, ["x"]])),
        T("Link.from_profile", pc.Link.from_profile, dict(name="10GbE"),
          dict(name=["nope", NAN, -1.0, None, [1]], mtu=INT_POS + [100], streams=INT_POS, cap_bps=REAL_POS,
               rtt_s=REAL_NONNEG, per_stream_bps=REAL_POS, stream_class=["nope", 1])),
        T("LinkProfile.link", L.LinkProfile.link, dict(),
          dict(mtu=INT_POS + [100], streams=INT_POS, cap_bps=REAL_POS, rtt_s=REAL_NONNEG,
               per_stream_bps=REAL_POS, stream_class=["nope", 1]),
          call=lambda **kw: PROFILE.link(**kw), exempt={"self": "the bound profile"}),
        T("LinkProfile", L.LinkProfile,
          dict(name="x", rate_bps=1e10, stack_efficiency=0.97, sharpness=4.0, per_stream_bps={"modern": 15e9},
               window_bytes=2**22, extrapolation=False),
          dict(name=[1, None], rate_bps=REAL_POS, stack_efficiency=REAL_POS + [1.5], sharpness=REAL_POS,
               per_stream_bps=[1.0, {"modern": NAN}, {"modern": -1.0}], window_bytes=INT_POS,
               extrapolation=BOOL, evidence=[1, "x"])),
        T("framing_efficiency", L.framing_efficiency, dict(mtu=1500), dict(mtu=INT_POS + [100, 10**6])),
        T("soft_min", L.soft_min, dict(a=1.0, b=2.0, sharpness=2.0),
          dict(a=["1", NAN, -1.0, 0.0], b=["1", NAN, -1.0, 0.0], sharpness=["2", NAN, INF, -1.0, 0.0])),
        T("profile", L.profile, dict(name="10GbE"),
          dict(name=["nope", NAN, INF, -1.0, 0.0, None, [1]], path=[123] + PATHS[1:])),
        T("profiles", L.profiles, {}, dict(path=[123] + PATHS[1:])),
        T("fitted_parameters", L.fitted_parameters, {}, dict(path=[123] + PATHS[1:])),
        # --- workloads -------------------------------------------------------------------------------
        T("Uniform", W.Uniform, dict(writes_per_s=1.0), dict(writes_per_s=REAL_NONNEG + [1e12])),
        T("HotCold", W.HotCold, dict(wws_bytes=4096, writes_per_s=1.0),
          dict(wws_bytes=INT_NONNEG, hot_fraction=FRAC, writes_per_s=REAL_NONNEG + [1e12],
               offset_bytes=INT_NONNEG)),
        T("Zipf", W.Zipf, dict(writes_per_s=1.0),
          dict(s=REAL_NONNEG + [11.0], writes_per_s=REAL_NONNEG + [1e12], region_bytes=INT_POS,
               offset_bytes=INT_NONNEG)),
        T("Sequential", W.Sequential, dict(region_bytes=4096, writes_per_s=1.0),
          dict(region_bytes=INT_POS, writes_per_s=REAL_NONNEG + [1e12], offset_bytes=INT_NONNEG)),
        T("Phased", W.Phased, dict(phases=[(W.Idle(), 1.0)]),
          dict(phases=[[], None, 5, [(W.Idle(),)], [("x", 1.0)], [(W.Idle(), NAN)], [(W.Idle(), INF)],
                       [(W.Idle(), -1.0)], [(W.Idle(), 0.0)], [(W.Idle(), 1e-300)], [(W.Idle(), "1")]],
               repeat=BOOL)),
        T("Trace", W.Trace, dict(times_s=TR_T, pages=TR_P),
          dict(times_s=[None, "x", [[0.0]], [NAN, 0.1, 0.2], [INF, 1.0, 2.0], [-1.0, 0.0, 0.1], [0.2, 0.1, 0.3],
                        [0.0, 0.1, 1e308], ["a", "b", "c"], [0.0, 0.1]],
               pages=[None, "x", [[1]], [1.0, 2.0, 3.0], [-1, 2, 3], np.array([1, 2, 2**63], np.uint64),
                      [1, 2, 2**40], [1, 2]],
               duration_s=REAL_POS + [1e-300, 0.001, 1e12],
               loop=BOOL, page_bytes=INT_POS + [3000, 2**31])),
        *[T(f"{type(wl).__name__}.{m}", getattr(W.Workload, m), dict(vm=VM, seed=0) if m != "validate" else
            dict(vm=VM), dict(vm=[None, 1, "x"], seed=SEED) if m != "validate" else dict(vm=[None, 1, "x"]),
            call=lambda wl=wl, m=m, **kw: getattr(wl, m)(**kw), exempt={"self": "the workload"})
          for wl in (WL, W.Zipf(writes_per_s=1.0), W.Sequential(region_bytes=4096, writes_per_s=1.0))
          for m in ("compile", "page_probabilities", "validate")],
        T("Trace.from_bitmaps", W.Trace.from_bitmaps,
          dict(bitmaps=np.zeros((2, 1), np.uint8), interval_s=0.1, n_pages=8),
          dict(bitmaps=[None, "x", np.zeros(3, np.uint8), np.zeros((2, 3), np.uint8), np.full((2, 8), 0.5)],
               interval_s=REAL_POS + [1e-300], n_pages=INT_POS + [2**40], loop=BOOL,
               page_bytes=INT_POS + [3000]),
          names={"bitmaps": "bitmaps"}),
        T("Trace.load", W.Trace.load, dict(path=None),
          dict(path=PATHS + [str(npz_obj), npz_no_interval, npz_nan, npz_u64, npz_interval_arr, npz_empty],
               loop=BOOL),
          call=lambda path=None, **kw: W.Trace.load(path if path is not None else npz_ok, **kw)),
        T("Trace.record", W.Trace.record, dict(workload=WL, vm=VM, duration_s=0.01),
          dict(workload=[None, "x", 1], vm=[None, "x", 1], duration_s=REAL_POS + [1e-300, 1e9],
               seed=SEED, loop=BOOL, max_writes=INT_POS + [2**40])),
        T("Trace.save", W.Trace.save, dict(path=None),
          dict(path=[123, MISSING, dirpath]),
          call=lambda path=None: W.Trace(times_s=TR_T, pages=TR_P).save(path), exempt={"self": "the trace"}),
        # --- policies --------------------------------------------------------------------------------
        T("Policy", P.Policy, {},
          dict(name=[1, None, ""], downtime_limit_s=REAL_NONNEG + [1e6], min_dirty_pages=INT_NONNEG + [2**60],
               min_round_pages=INT_NONNEG + [2**60], max_rounds=INT_NONNEG + [1, 10**7],
               max_data_factor=REAL_POS + [0.5, 1e9], max_bandwidth_bps=REAL_POS + [1.0, 1e20],
               switchover_bandwidth_bps=REAL_POS + [1e20], page_skip=BOOL, send_order=["random", 1, None],
               header_bytes=INT_NONNEG + [2**30], check_before_first_round=BOOL,
               timeout_s=REAL_POS + [1e12], min_dirty_bytes=INT_NONNEG + [2**70],
               adaptive_rate=[1, "x", {"min_bps": 1}], final_bandwidth_bps=REAL_POS, controls=CONTROLS_BAD,
               sync_cadence=["chunk", 1, None])),
        T("AdaptiveRate", P.AdaptiveRate, {},
          dict(min_bps=REAL_POS + [1e20], increment_bps=REAL_NONNEG + [1e20], max_bps=REAL_POS + [1.0])),
        T("QEMU", P.QEMU, {},
          dict(downtime_limit_s=REAL_NONNEG + [1e6], max_bandwidth_bps=REAL_POS,
               switchover_bandwidth_bps=REAL_POS, page_skip=BOOL, timeout_s=REAL_POS, controls=CONTROLS_BAD,
               sync_cadence=["chunk", 1])),
        T("threshold_chunk_bytes", P.threshold_chunk_bytes, dict(link_goodput_bps=1e9),
          dict(link_goodput_bps=REAL_POS + [1e20], max_bandwidth_bps=REAL_POS + [1e20])),
        T("XenLegacy", P.XenLegacy, {},
          dict(max_rounds=INT_NONNEG + [1], max_data_factor=REAL_POS + [0.5], min_round_pages=INT_NONNEG,
               timeout_s=REAL_POS, controls=CONTROLS_BAD)),
        T("XenNSDI05", P.XenNSDI05, {},
          dict(min_bps=REAL_POS, increment_bps=REAL_NONNEG, max_bps=REAL_POS + [1.0],
               min_remaining_bytes=INT_NONNEG, max_rounds=INT_NONNEG + [1], max_data_factor=REAL_POS + [0.5],
               timeout_s=REAL_POS, controls=CONTROLS_BAD)),
        T("Xen", P.Xen, {},
          dict(max_iterations=INT_POS, min_dirty_pages=INT_NONNEG, timeout_s=REAL_POS, controls=CONTROLS_BAD)),
        T("VMware", P.VMware, {}, dict(switchover_goal_s=REAL_NONNEG + [1e6], timeout_s=REAL_POS, controls=CONTROLS_BAD)),
        T("SimGrid", P.SimGrid, {}, dict(max_downtime_s=REAL_NONNEG + [1e6], timeout_s=REAL_POS, controls=CONTROLS_BAD)),
        T("Custom", P.Custom, {},
          dict(max_rounds=INT_NONNEG + [1], min_dirty_pages=INT_NONNEG, downtime_target_s=REAL_NONNEG,
               max_data_factor=REAL_POS + [0.5], min_round_pages=INT_NONNEG, page_skip=BOOL,
               send_order=["random", 1], header_bytes=INT_NONNEG, max_bandwidth_bps=REAL_POS,
               timeout_s=REAL_POS, controls=CONTROLS_BAD)),
        T("policies.get", P.get, dict(name="qemu"),
          dict(name=["nope", 1, None], kwargs=[{"nope": 1}, {"downtime_limit_s": NAN}]),
          call=lambda name="qemu", kwargs=None: P.get(name, **(kwargs or {})),
          names={"kwargs": None, "name": "policy"}),
        T("Policy.with_", P.Policy.with_, {},
          dict(changes=[{"nope": 1}, {"timeout_s": NAN}]),
          call=lambda changes=None: POL.with_(**(changes or {})), exempt={"self": "the policy"},
          names={"changes": None}),
        # --- aids ------------------------------------------------------------------------------------
        T("AutoConverge", A.AutoConverge, {},
          dict(initial=FRAC + [0.0], increment=FRAC + [0.0], max=FRAC + [0.1], trigger=FRAC + [0.0],
               check_interval_s=REAL_POS + [1e6], tailslow=BOOL)),
        T("DirtyLimit", A.DirtyLimit, {},
          dict(vcpu_dirty_limit_Bps=REAL_POS + [1e20], vcpus=INT_POS + [10**6], trigger=FRAC + [0.0],
               check_interval_s=REAL_POS, tolerance_Bps=REAL_NONNEG + [1e20])),
        T("SDPS", A.SDPS, {}, dict(target_ratio=FRAC + [0.0])),
        T("XBZRLE", A.XBZRLE, {},
          dict(cache_bytes=INT_POS + [100, 2**41], bytes_per_write=INT_POS + [2**31],
               run_overhead_bytes=INT_NONNEG + [100], delta_fraction=FRAC, encode_Bps=REAL_POS + [1.0])),
        T("XBZRLE.slots", A.XBZRLE.slots, dict(page_bytes=4096, memory_bytes=pc.MiB(4)),
          dict(page_bytes=INT_POS + [3000], memory_bytes=INT_POS + [pc.MiB(1)]),
          call=lambda **kw: A.XBZRLE(cache_bytes=pc.MiB(2)).slots(**kw), exempt={"self": "the aid"}),
        T("Compression", A.Compression, {},
          dict(ratio=REAL_POS + [0.5], cpu_Bps=REAL_POS, threads=INT_POS + [10**6],
               decompress_cpu_Bps=REAL_POS, decompress_threads=INT_POS + [10**6])),
        T("Compression.page_time_s", A.Compression.page_time_s,
          dict(wire_bytes=4096.0, rate_Bps=1e8, page_bytes=4096, streams=1),
          dict(wire_bytes=REAL_NONNEG, rate_Bps=REAL_POS, page_bytes=INT_POS, streams=INT_POS),
          call=lambda **kw: A.Compression(ratio=2.0).page_time_s(**kw), exempt={"self": "the aid"}),
        T("PostCopy", A.PostCopy, {},
          dict(after_rounds=INT_POS + [10**7], on_no_progress=BOOL, min_progress=FRAC,
               fault_overhead_s=REAL_NONNEG + [10.0])),
        T("check_aids", A.check_aids, dict(aids=[]),
          dict(aids=[1, "x", [1], [A.SDPS(), A.SDPS()], [A.SDPS(), A.AutoConverge()]])),
        # --- simulation --------------------------------------------------------------------------------
        T("simulate", pc.simulate, dict(vm=VM, workload=WL, link=LINK, policy=POL),
          dict(vm=[None, 1, "x"], workload=[None, 1, "x"], link=[None, 1, "x"], policy=[1, "nope"],
               seed=SEED, switchover=[1, "x"],
               throttle=[1, [], [(1.0, 0.5)], [(0.0, NAN)], [(0.0, 1.5)], [(0.0, 1.0), (0.0, 0.5)],
                         [(NAN, 1.0)]],
               aids=[1, "x", [1]])),
        T("Prepared", pc.Prepared, dict(vm=VM, workload=WL, link=LINK, policy=POL),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], policy=[1, "nope"], switchover=[1],
               throttle=[1, [(1.0, 0.5)], [(0.0, NAN)]], aids=[1, [1]])),
        T("Prepared.run", pc.Prepared.run, {}, dict(seed=SEED),
          call=lambda **kw: PREP.run(**kw), exempt={"self": "the prepared scenario"}),
        T("check_scenario", check_scenario,
          dict(vm=VM, workload=WL, link=LINK, policy=POL, switchover=None),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], policy=[1, "nope"], switchover=[1])),
        T("warmup", pc.warmup, {}, {}),
        # --- analytic models ---------------------------------------------------------------------------
        T("analytic.predict", AN.predict, dict(vm=VM, workload=WL, link=LINK, policy=POL),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], policy=[1, "nope"], switchover=[1],
               model=["nope", 1, None])),
        T("analytic.compare", AN.compare, dict(vm=VM, workload=WL, link=LINK, policy=POL, seeds=1),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], policy=[1, "nope"], switchover=[1],
               seeds=["2", 1.5, NAN, 0, -1, 10**9], models=["nope", ["nope"], 1, []])),
        T("analytic.geometric", AN.geometric, dict(vm=VM, workload=WL, link=LINK, policy=POL),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], policy=[1, "nope"], switchover=[1])),
        T("analytic.saturation", AN.saturation, dict(vm=VM, workload=WL, link=LINK, policy=POL),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], policy=[1, "nope"], switchover=[1],
               seed=SEED, aids=[1, "x", [1]])),
        T("analytic.hotcold", AN.hotcold, dict(vm=VM, workload=WL, link=LINK, policy=POL),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], policy=[1, "nope"], switchover=[1])),
        T("expected_distinct_pages", AN.expected_distinct_pages, dict(writes=10.0, probabilities=[0.5, 0.5]),
          dict(writes=["1", NAN, INF, -1.0], probabilities=["x", [0.5, 0.4], [[0.5, 0.5]], [NAN, 1.0],
                                                             [-0.5, 1.5]])),
        T("expected_distinct_uniform", AN.expected_distinct_uniform, dict(writes=10.0, n_pages=100),
          dict(writes=["1", NAN, INF, -1.0], n_pages=INT_POS)),
        T("expected_distinct_hotcold", AN.expected_distinct_hotcold,
          dict(writes=10.0, n_pages=100, hot_pages=10, hot_fraction=0.9),
          dict(writes=["1", NAN, INF, -1.0], n_pages=INT_POS, hot_pages=INT_NONNEG + [101],
               hot_fraction=FRAC)),
        T("page_groups", AN.page_groups, dict(probabilities=[0.5, 0.5]),
          dict(probabilities=["x", [0.5, 0.4], [[0.5, 0.5]], [NAN, 1.0], [-0.5, 1.5]])),
        T("geometric_model", AN.geometric_model, dict(memory_bytes=2**20, dirty_Bps=1e6, rate_Bps=1e8),
          dict(memory_bytes=vec(REAL_POS), dirty_Bps=vec(REAL_NONNEG), rate_Bps=vec(REAL_POS),
               threshold_bytes=vec(REAL_NONNEG), final_rate_Bps=vec(REAL_POS), resume_s=vec(REAL_NONNEG),
               max_rounds=vec(INT_NONNEG), min_remaining_bytes=vec(REAL_NONNEG), min_round_bytes=vec(REAL_NONNEG),
               max_bytes=["1", NAN, -1.0], timeout_s=["1", NAN, -1.0, 0.0], stop_before_first=BOOL,
               empty_bytes=vec(REAL_NONNEG))),
        T("saturation_model", AN.saturation_model, dict(writes_per_s=1e3, link_Bps=1e8, n_pages=1024),
          dict(writes_per_s=vec(REAL_NONNEG), link_Bps=vec(REAL_POS), n_pages=vec(INT_POS),
               hot_pages=vec(INT_NONNEG) + [2000], hot_fraction=vec(FRAC), policy=[1, "nope"],
               page_bytes=vec(INT_POS) + [256, 2**31], zero_pages=vec(INT_NONNEG) + [2000],
               probabilities=["x", [0.5, 0.5], [NAN] * 1024], switchover=[1, "x"])),
        T("hotcold_model", AN.hotcold_model, dict(writes_per_s=1e3, link_Bps=1e8, n_pages=1024),
          dict(writes_per_s=vec(REAL_NONNEG), link_Bps=vec(REAL_POS), n_pages=vec(INT_POS),
               hot_pages=vec(INT_NONNEG) + [2000], hot_fraction=vec(FRAC), policy=[1, "nope"],
               page_bytes=vec(INT_POS) + [256, 2**31], zero_pages=vec(INT_NONNEG) + [2000],
               switchover=[1, "x"])),
        # --- storage -------------------------------------------------------------------------------------
        T("Disk", S.Disk, dict(size_bytes=pc.MiB(4)),
          dict(size_bytes=INT_POS + [1000, 2**70], block_bytes=INT_POS + [1000, 2**40])),
        T("StoragePath", S.StoragePath, dict(rate_Bps=1e8),
          dict(rate_Bps=REAL_POS + [1e20], rtt_s=REAL_NONNEG + [1e6], dst_extra_write_latency_s=REAL_NONNEG + [1e6])),
        T("Snapshot", S.Snapshot, {},
          dict(downtime_target_s=REAL_NONNEG, max_commits=INT_POS, commit_Bps=["1", NAN, -1.0, 0.0],
               timeout_s=REAL_POS)),
        T("DirtyBlockTracking", S.DirtyBlockTracking, {},
          dict(downtime_target_s=REAL_NONNEG, max_passes=INT_POS, timeout_s=REAL_POS)),
        T("Mirror", S.Mirror, {}, dict(io_depth=INT_POS + [10**7], timeout_s=REAL_POS)),
        T("migrate_disk", S.migrate_disk, dict(disk=DISK, workload=WL, path=SPATH),
          dict(disk=[None, 1], workload=[None, 1], path=[None, 1, "x"], strategy=["nope", 1, None],
               seed=SEED, switchover=[1])),
        T("migrate_vm", S.migrate_vm,
          dict(vm=VM, workload=WL, link=LINK, policy=POL, disk=DISK, disk_workload=WL),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], policy=[1, "nope"], disk=[None, 1],
               disk_workload=[None, 1], strategy=[1, "x", S.Snapshot()], seed=SEED, switchover=[1],
               throttle=[1, [(1.0, 0.5)]], aids=[1, [1]])),
        # --- tables and sweeps -----------------------------------------------------------------------------
        T("predict_table", pc.predict_table, dict(table=ok_table),
          dict(table=[1, "x", [["scenario", "a"]], [dict(row, hot_fraction=NAN)], [dict(row, memory_mib=INF)],
                      [dict(row, zero_fraction=NAN)], [dict(row, workload="zipf", wws_mib=None, zipf_s=NAN)],
                      {"scenario": "a"}, [dict(row, nope=1)]],
               progress=BOOL, n_jobs=N_JOBS),
          names={"table": None}),
        T("parse_scenario", PR.parse_scenario, dict(raw=row),
          dict(raw=[1, ["scenario"], dict(row, seeds=NAN), dict(row, link_gbps=INF)], row=INT_POS, line=INT_POS),
          names={"raw": None}),
        T("read_scenarios", PR.read_scenarios, dict(path=str(good_csv)), dict(path=CSV_PATHS)),
        T("predict_scenario", PR.predict_scenario, dict(sc=sc),
          dict(sc=[None, 1, row], keep_results=BOOL)),
        T("predict_csv", PR.predict_csv, dict(in_path=str(good_csv), out_path=str(tmp / "out.csv")),
          dict(in_path=CSV_PATHS, out_path=[123, str(tmp / "no" / "dir" / "out.csv"), dirpath],
               progress=BOOL)),
        T("write_results", PR.write_results, dict(rows=[], path=str(tmp / "w.csv")),
          dict(rows=[1, [1], [{"scenario": "a"}]], path=[123, str(tmp / "no" / "dir" / "w.csv"), dirpath])),
        T("run_all", SW.run_all, dict(scenarios=[PREP]),
          dict(scenarios=[1, [1], [(VM, WL)], [(VM, 1, LINK, POL)]], seed=SEED, threads=THREADS,
               progress=[1, "x"], n_jobs=N_JOBS, backend=BACKEND, client=CLIENT)),
        T("wws_sweep", SW.wws_sweep, dict(vm=VM, wws_bytes=[pc.KiB(64)], writes_per_s=1e3,
                                           links={"l": LINK}, policies={"p": POL}),
          dict(vm=[None, 1], wws_bytes=[[NAN], [-4096], [], "x", [pc.GiB(1)]], writes_per_s=REAL_NONNEG,
               links=[1, [], [1]], policies=[1, [], ["nope"]], hot_fraction=FRAC, seed=SEED,
               timeout_s=REAL_POS, page_skip=[1, "x"], switchover=[1], threads=THREADS, progress=[1, "x"], n_jobs=N_JOBS, backend=BACKEND, client=CLIENT)),
        T("convergence_grid", SW.convergence_grid, dict(vm=VM, writes_per_s=[1e3], rate_bps=[1e9]),
          dict(vm=[None, 1], writes_per_s=[[NAN], [-1.0], [], "x"], rate_bps=[[NAN], [-1.0], [], "x", [0.0]],
               policy=[1, "nope"], wws_bytes=[NAN, -1, pc.GiB(1), "x"], hot_fraction=FRAC, seed=SEED,
               timeout_s=REAL_POS, mtu=INT_POS + [100], switchover=[1], threads=THREADS, progress=[1, "x"], n_jobs=N_JOBS, backend=BACKEND, client=CLIENT,
               engine=["exact", 1, None])),
        T("model_sweep", SW.model_sweep, dict(vm=VM, workloads=[WL], link=LINK, policy=POL, param="w",
                                               values=[1.0], seeds=1),
          dict(vm=[None, 1], workloads=[[], [1], 1], link=[None, 1], policy=[1, "nope"], param=["", 1, None],
               values=[[], [1.0, 2.0], 1], seeds=["2", 1.5, NAN, 0, -1], models=["nope", ["nope"], 1],
               switchover=[1], threads=THREADS, progress=[1, "x"], n_jobs=N_JOBS, backend=BACKEND, client=CLIENT)),
        T("ethernet_links", SW.ethernet_links, {}, dict(gbe=[1, "x", [NAN], [-1.0], [0.0], [INF]], fitted=BOOL)),
        T("default_policies", SW.default_policies, {}, {}),
        # --- units -----------------------------------------------------------------------------------------
        *[T(f"units.{n}", getattr(U, n), dict(x=1.0), dict(x=["16", None, [1], NAN, INF, -INF]))
          for n in ("KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "kbps", "Mbps", "Gbps", "MiBps", "GiBps",
                    "ms", "us")],
        T("to_MiB", U.to_MiB, dict(nbytes=1.0), dict(nbytes=["16", None, NAN, INF])),
        T("to_Gbps", U.to_Gbps, dict(bps=1.0), dict(bps=["16", None, NAN, INF])),
        T("parse_bytes", U.parse_bytes, dict(text="4KiB", name="--the-flag"),
          dict(text=[1, None, "", "nan", "inf", "-1KiB", "4 furlongs", "1e400B"], name=[1, None]),
          names={"text": "--the-flag"}),
        T("parse_rate_bps", U.parse_rate_bps, dict(text="1Gbps", name="--the-flag"),
          dict(text=[1, None, "", "nan", "inf", "-1Gbps", "4 furlongs"], name=[1, None]),
          names={"text": "--the-flag"}),
        T("parse_byte_rate", U.parse_byte_rate, dict(text="1MiB/s", name="--the-flag"),
          dict(text=[1, None, "", "nan", "inf", "-1MiB/s", "4 furlongs"], name=[1, None]),
          names={"text": "--the-flag"}),
        T("parse_seconds", U.parse_seconds, dict(text="1ms", name="--the-flag"),
          dict(text=[1, None, "", "nan", "inf", "-1ms", "4 furlongs"], name=[1, None]),
          names={"text": "--the-flag"}),
        # --- data, fitting, validation -------------------------------------------------------------------
        T("datasets.data_dir", DS.data_dir, {}, {}),
        T("datasets.path", DS.path, dict(name="link_fit_points.csv"), dict(name=[1, None, MISSING, "../x.csv"])),
        T("datasets.read_csv", DS.read_csv, dict(name="link_fit_points.csv"),
          dict(name=[1, None, MISSING, str(bin_file)])),
        T("load_points", LF.load_points, {}, dict(path=[1, MISSING, str(bin_file), str(bad_csv)])),
        T("mtu_by_rule", LF.mtu_by_rule, dict(points=[]), dict(points=[1, [1], "x"])),
        T("model_gbps", LF.model_gbps, None, {}, exempt={
            "theta": "checked by test_model_gbps_rejects_bad_input", "link_gbps": "idem", "mtu": "idem",
            "streams": "idem", "stream_class": "idem"}),
        T("fit_links", LF.fit_links, {}, dict(path=[1, MISSING, str(bin_file), str(bad_csv)],
                                              check_mtu_rule=BOOL)),
        T("write_profiles", LF.write_profiles, dict(out_path=str(tmp / "p.json")),
          dict(points_path=[1, MISSING, str(bad_csv)], out_path=[1, dirpath])),
        T("expected_distinct_pages (fit)", WF.expected_distinct_pages,
          dict(n_pages=1000, writes_per_s=1e3, wws_pages=10, hot_fraction=0.9, t_s=[1.0]),
          dict(n_pages=INT_POS, writes_per_s=REAL_NONNEG, wws_pages=REAL_NONNEG + [2000], hot_fraction=FRAC,
               t_s=["x", [NAN], [-1.0], [INF]])),
        T("expected_round_pages", WF.expected_round_pages,
          dict(n_pages=1000, writes_per_s=1e3, wws_pages=10, hot_fraction=0.9, durations_s=[1.0, 0.5]),
          dict(n_pages=INT_POS, writes_per_s=REAL_NONNEG, wws_pages=REAL_NONNEG + [2000], hot_fraction=FRAC,
               durations_s=["x", [NAN], [-1.0], [INF]], page_skip=BOOL, first_round=BOOL)),
        T("fit_rounds", WF.fit_rounds, dict(durations_s=DUR, memory_bytes=pc.MiB(64), pages_sent=[16384, 900, 400]),
          dict(durations_s=["x", [NAN, 1.0, 1.0], [-1.0, 1.0, 1.0], [1.0]], memory_bytes=INT_POS + [1000],
               pages_sent=["x", [NAN, 1, 1], [-1, 1, 1], [1]], bytes_sent=["x", [NAN, 1, 1], [-1.0, 1, 1]],
               page_bytes=INT_POS + [3000], header_bytes=INT_NONNEG, page_skip=BOOL,
               fixed=[1, {"nope": 1}, {"hot_fraction": NAN}])),
        T("fit_dirty_samples", WF.fit_dirty_samples,
          dict(intervals_s=SAMPLE_T, dirty_pages=[100, 180, 300], memory_bytes=pc.MiB(64)),
          dict(intervals_s=["x", [NAN, 1.0, 2.0], [-1.0, 1.0, 2.0], [1.0]],
               dirty_pages=["x", [NAN, 1, 1], [-1, 1, 1], [1]], memory_bytes=INT_POS + [1000],
               page_bytes=INT_POS + [3000], fixed=[1, {"nope": 1}, {"hot_fraction": NAN}])),
        T("sample_dirty_pages", WF.sample_dirty_pages, dict(vm=VM, workload=WL, intervals_s=SAMPLE_T),
          dict(vm=[None, 1], workload=[None, 1], intervals_s=["x", [NAN], [-1.0], [INF], []], seed=SEED)),
        T("clark_runs", WF.clark_runs, {}, {}),
        T("clark_round_durations", WF.clark_round_durations,
          dict(mib_sent=[100.0, 10.0, 5.0], total_time_s=30.0, downtime_s=0.2),
          dict(mib_sent=["x", [NAN, 1.0], [-1.0, 1.0], []], total_time_s=REAL_POS, downtime_s=REAL_NONNEG,
               first_s=REAL_POS, final_s=REAL_POS, start_mbps=REAL_POS, increment_mbps=REAL_NONNEG,
               max_mbps=REAL_POS)),
        T("clark_demo", WF.clark_demo, dict(run="specweb99", seeds=1),
          dict(run=["nope", 1, None], seeds=["1", 1.5, NAN, 0, -1, 10**9], rate_bps=REAL_POS)),
        T("scenario_rows", VA.scenario_rows, dict(seeds=1),
          dict(map_path=[1, MISSING, str(bin_file), str(bad_csv)], seeds=["1", 1.5, NAN, 0, -1, 10**9])),
        T("validate", VA.validate, dict(seeds=1),
          dict(map_path=[1, MISSING, str(bin_file), str(bad_csv)], seeds=["1", 1.5, NAN, 0, -1, 10**9],
               cv=["nope", 1], sources=[1, "nope", ["nope"]], more_map_path=[1, MISSING, str(bin_file), str(bad_csv)],
               calibration=[1, "x"], fit_seeds=["1", 1.5, NAN, 0, -1, 10**9], progress=BOOL)),
        T("format_report", VA.format_report, dict(rep=None), dict(rep=[1, "x", None])),
        T("ape_summary", VA.ape_summary, dict(errors=[1.0]), dict(errors=[1, "x", [-1.0], [INF]])),
        # --- run-time controls (policies.Controls and the controls= of every policy factory) ----------------
        T("Controls", P.Controls, {},
          dict(downtime_schedule=[1, "x", [], [(1.0, 0.3)], [(0.0, NAN)], [(0.0, -1.0)], [(NAN, 0.3)],
                                  [(0.0, 0.3), (0.0, 0.5)], [(0.0, INF)]],
               completion_timeout_s=REAL_POS, completion_action=["nope", 1, None],
               progress_timeout_s=REAL_POS, progress_action=["nope", 1, None],
               rate_schedule=[1, "x", [], [(1.0, 1e9)], [(0.0, NAN)], [(0.0, -1.0)], [(0.0, INF)],
                              [(0.0, 1e9), (0.0, 2e9)]])),
        # --- parallel execution ------------------------------------------------------------------------
        T("parallel_map", SW.parallel_map, dict(fn=abs, items=[1, -2], n_jobs=1),
          dict(fn=[1, None, "x"], items=[1, None], n_jobs=N_JOBS, backend=BACKEND, client=CLIENT,
               progress=[1, "x"], desc=[1, None], threads=THREADS,
               cost=[1, "x", [NAN, 1.0], [-1.0, 1.0], [1.0]])),
        # --- host drains ---------------------------------------------------------------------------------
        T("drain.NIC", DR.NIC, dict(rate_bps=1e10), dict(rate_bps=REAL_POS + [1e20], mtu=INT_POS + [100, 10**6])),
        T("drain.Host", DR.Host, dict(nics=(NIC,)),
          dict(nics=[1, "x", (), (1,)], pooled=BOOL, stream_class=["nope", 1, None])),
        T("drain.Orchestrator", DR.Orchestrator, dict(name="o", max_parallel=2),
          dict(name=[1, None, ""], max_parallel=INT_POS + [10**7], max_parallel_cluster=INT_POS,
               completion_timeout_per_gib_s=REAL_POS, completion_timeout_min_gib=REAL_NONNEG,
               progress_timeout_s=REAL_POS, source=[1, None], policy=["nope", 1, None],
               hypervisor=["nope", 1, None], postcopy=BOOL, platform=[1, "x"])),
        T("drain.DrainVM", DR.DrainVM, dict(name="a", vm=VM, workload=WL, policy=POL),
          dict(name=[1, None, ""], vm=[None, 1], workload=[None, 1], policy=[None, 1, "nope"],
               streams=INT_POS + [10**6], priority=["1", NAN, INF, -INF], write_Bps=REAL_NONNEG,
               row=INT_NONNEG, switchover=[1, "x"], per_stream_bps=REAL_POS, hypervisor=["nope", 1],
               auto_streams=BOOL)),
        T("drain.max_min_fair", DR.max_min_fair, dict(capacity_bps=1e9, ceiling_bps=[1e9, 1e9]),
          # capacity_bps takes a sequence (one capacity per resource): a one-element list is valid, 0 is not
          dict(capacity_bps=vec(REAL_POS), ceiling_bps=["x", [NAN], [-1.0], [[1.0]]], usage=["x", [NAN], [1.0]])),
        T("drain.parse_link", DR.parse_link, dict(text="25GbE"),
          dict(text=[1, None, "", "nope", "-1GbE", "nanGbE", "2x"], pooled=BOOL)),
        T("drain.preset", DR.preset, dict(name="kubevirt"), dict(name=["nope", 1, None], host=[1, "x"]),
          names={"name": "preset"}),
        T("drain.read_vms", DR.read_vms, dict(path=DRAIN_CSV),
          dict(path=CSV_PATHS + [str(bad_csv)], defaults=[1, "x", {"nope": 1}, {"policy": "nope"}])),
        T("drain.drain", DR.drain, dict(vms=[DVM], link="25GbE"),
          dict(vms=[1, "x", [], [1]], link=[1, None, "nope"], max_parallel=INT_POS, order=["nope", 1, None],
               orchestrator=[1, "nope"], pooled=BOOL, seed=SEED)),
        T("drain.compare", DR.compare, dict(vms=[DVM], link="25GbE", n_jobs=1),
          dict(vms=[1, "x", [], [1]], link=[1, None, "nope"], orders=[1, "nope", ["nope"], []], n_jobs=N_JOBS,
               client=CLIENT, progress=[1, "x"], kwargs=[{"nope": 1}, {"seed": -1}]),
          call=lambda kwargs=None, **kw: DR.compare(**kw, **(kwargs or {})), sig=DR.compare,
          names={"kwargs": None}),
        T("drain.plot_drain_gantt", DR.plot_drain_gantt, dict(result=None),
          dict(result=[1, "x"]), exempt={"ax": "a matplotlib Axes, drawn into by matplotlib"},
          call=lambda result=None, **kw: DR.plot_drain_gantt(result, **kw), names={"result": "result"}),
        T("drain.validate_concurrent", DR.validate_concurrent, {}, dict(seed=SEED)),
        T("drain.rate_model", DR.rate_model, {}, {}),
        T("drain.drain_gantt", DR.drain_gantt, dict(vms=DRAIN_CSV),
          dict(vms=[1, MISSING, str(bin_file)], link=[1, "nope"], max_parallel=INT_POS, order=["nope", 1],
               seed=SEED)),
        # --- hypervisor statistics (file and text parsers) --------------------------------------------------
        T("hvstats.example_path", HV.example_path, dict(name="qmp_query_migrate.json"),
          dict(name=[1, None, "nope.json"])),
        T("DirtyRateSample", HV.DirtyRateSample, dict(interval_s=1.0, dirty_rate_Bps=1e6),
          dict(interval_s=REAL_POS + [1e9], dirty_rate_Bps=REAL_NONNEG + [1e20], mode=["nope", 1, None],
               sample_pages_per_gib=INT_POS + [10**9], vcpu_rates_Bps=[1, "x", [NAN], [-1.0]],
               start_time_s=REAL_NONNEG)),
        T("DirtyRateReport", HV.DirtyRateReport, dict(samples=(DRS,), memory_bytes=pc.MiB(4), page_bytes=4096),
          dict(samples=[1, "x", (), (1,)], memory_bytes=INT_POS + [1000], page_bytes=INT_POS + [3000],
               source=[1, None], fmt=[1, None])),
        T("MigrationSnapshot", HV.MigrationSnapshot,
          dict(elapsed_s=1.0, status="active", memory_total_bytes=pc.MiB(4), memory_processed_bytes=0.0,
               memory_remaining_bytes=pc.MiB(4)),
          dict(elapsed_s=REAL_NONNEG, status=[1, None], memory_total_bytes=REAL_POS,
               memory_processed_bytes=REAL_NONNEG, memory_remaining_bytes=REAL_NONNEG + [pc.MiB(8)],
               bandwidth_Bps=REAL_NONNEG, dirty_pages_per_s=REAL_NONNEG, page_bytes=INT_POS + [3000],
               iteration=INT_NONNEG, expected_downtime_s=REAL_NONNEG, downtime_s=REAL_NONNEG,
               cpu_throttle_pct=REAL_NONNEG + [101.0], postcopy_requests=INT_NONNEG, fmt=[1, None])),
        T("read_dirty_rate", HV.read_dirty_rate, dict(path=DIRTY_PATH),
          dict(path=PATHS + [str(bad_csv), str(bin_file), JOB_PATH], memory_bytes=INT_POS + [1000],
               page_bytes=INT_POS + [3000])),
        T("parse_dirty_rate", HV.parse_dirty_rate, dict(text=DIRTY_TEXT),
          dict(text=[1, None, "", "{", "[]", '{"return": {}}', "garbage", '{"return": {"status": "measured"}}'],
               memory_bytes=INT_POS + [1000], page_bytes=INT_POS + [3000], label=[1, None]),
          names={"text": "input"}),
        T("read_job_stats", HV.read_job_stats, dict(path=JOB_PATH),
          dict(path=PATHS + [str(bad_csv), str(bin_file)])),
        T("parse_job_stats", HV.parse_job_stats, dict(text=JOB_TEXT),
          dict(text=[1, None, "", "{", "garbage", "Job type: Unbounded\nTime elapsed: nan ms\n"], label=[1, None]),
          names={"text": "input"}),
        T("fit_dirty_rate", HV.fit_dirty_rate, dict(report=None),
          dict(report=[1, "x"]), call=lambda report=None: HV.fit_dirty_rate(report)),
        T("predict_dirty_rate", HV.predict_dirty_rate, dict(fit=None, link=LINK),
          dict(fit=[1, "x"], link=[None, 1, "x"], policy=[1, "nope"]),
          call=lambda fit=None, **kw: HV.predict_dirty_rate(fit if fit is not None else DR_FIT(), **kw)),
        # --- estimates of a running migration ---------------------------------------------------------------
        T("eta.estimate", ET.estimate, dict(snapshot=None),
          dict(snapshot=[1, "x"], downtime_limit_s=REAL_POS, timeout_s=REAL_POS, workload=[1, "x"]),
          call=lambda snapshot=None, **kw: ET.estimate(snapshot if snapshot is not None else SNAPS()[0], **kw)),
        T("eta.estimate_series", ET.estimate_series, dict(snapshots=None),
          dict(snapshots=[1, "x", [1]], downtime_limit_s=REAL_POS, timeout_s=REAL_POS,
               progress_timeout_s=REAL_POS, workload=[1, "x"]),
          call=lambda snapshots=None, **kw: ET.estimate_series(snapshots if snapshots is not None else SNAPS(), **kw)),
        T("eta.progress", ET.progress, dict(snapshots=None),
          dict(snapshots=[1, "x", [1]], downtime_limit_s=REAL_POS, workload=[1, "x"]),
          call=lambda snapshots=None, **kw: ET.progress(snapshots if snapshots is not None else SNAPS(), **kw)),
        T("eta.plot_eta", ET.plot_eta, dict(snapshots=None),
          dict(snapshots=[1, "x", [1]], downtime_limit_s=REAL_POS, progress_timeout_s=REAL_POS, workload=[1, "x"]),
          exempt={"fig": "a matplotlib Figure, drawn into by matplotlib"},
          call=lambda snapshots=None, **kw: ET.plot_eta(snapshots if snapshots is not None else SNAPS(), **kw)),
        T("eta.format_estimates", ET.format_estimates, dict(est=[]), dict(est=[1, "x", [1]])),
        # --- orchestrators (a rate or timeout of 0 means "unlimited" / "off", as in their configuration) -------------------------------------------------------------------------------
        T("KubeVirt", O.KubeVirt, {},
          dict(bandwidth_per_migration_mibps=REAL_NONNEG, completion_timeout_per_gib_s=REAL_NONNEG,
               progress_timeout_s=REAL_NONNEG, allow_auto_converge=BOOL, allow_post_copy=BOOL,
               allow_workload_disruption=["yes", 2], max_downtime_ms=REAL_POS, downtime_tuning=[1, "x"],
               stall_detection=BOOL)),
        T("Nova", O.Nova, {},
          dict(live_migration_downtime=INT_POS, live_migration_downtime_steps=INT_POS,
               live_migration_downtime_delay=INT_NONNEG, live_migration_completion_timeout=INT_NONNEG,
               live_migration_timeout_action=["nope", 1, None], live_migration_permit_post_copy=BOOL,
               live_migration_permit_auto_converge=BOOL, live_migration_bandwidth=REAL_NONNEG)),
        T("Libvirt", O.Libvirt, {},
          dict(timeout_s=REAL_POS, timeout_postcopy=BOOL, postcopy_after_precopy=BOOL, auto_converge=BOOL,
               max_downtime_ms=REAL_NONNEG, setmaxdowntime=[1, "x", [(NAN, 1.0)], [(0.0, -1.0)], [(0.0,)]],
               bandwidth_mibps=REAL_NONNEG)),
        T("NoOrchestrator", O.NoOrchestrator, {}, dict(downtime_limit_ms=REAL_NONNEG, max_bandwidth_mibps=REAL_NONNEG)),
        T("orchestrators.replay", O.replay, dict(vm=VM, workload=WL, link=LINK, orchestrator=O.NoOrchestrator()),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], orchestrator=[None, 1, "nope"], switchover=[1],
               max_time_s=REAL_POS)),
        T("orchestrators.simulate", O.simulate, dict(vm=VM, workload=WL, link=LINK, orchestrator=O.NoOrchestrator()),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], orchestrator=[None, 1, "nope"], seed=SEED,
               switchover=[1])),
        T("nova_downtime_steps", O.nova_downtime_steps, dict(data_gb=4.0),
          dict(data_gb=REAL_NONNEG, downtime_ms=INT_POS, steps=INT_POS + [10**7], delay_s=INT_NONNEG)),
        T("kubevirt_data_size_gb", O.kubevirt_data_size_gb, dict(memory_bytes=pc.GiB(1)),
          dict(memory_bytes=INT_POS)),
        T("orchestrators.get", O.get, dict(name="kubevirt"),
          dict(name=["nope", 1, None], settings=[{"nope": 1}, {"progress_timeout_s": NAN}]),
          call=lambda name="kubevirt", settings=None: O.get(name, **(settings or {})),
          names={"settings": None, "name": "orchestrator"}),
        # --- planning ------------------------------------------------------------------------------------
        T("plan", PL.plan, dict(vm=VM, workload=WL, link=LINK, total_budget_s=10.0, downtime_budget_s=0.3, seeds=1),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], total_budget_s=REAL_POS,
               downtime_budget_s=REAL_POS, downtime_limit_s=REAL_POS, max_bandwidth_bps=REAL_POS,
               seeds=["1", 1.5, NAN, 0, -1, 10**9], pareto=BOOL, switchover=[1, "x", 0.2])),
        T("pareto_front", PL.pareto_front, dict(vm=VM, workload=WL, link=LINK, limits_s=[0.3]),
          dict(vm=[None, 1], workload=[None, 1], link=[None, 1], limits_s=[1, "x", [NAN], [-1.0], [INF], []],
               max_bandwidth_bps=REAL_POS, switchover=[1, "x", 0.2])),
        T("plot_pareto", PL.plot_pareto, dict(p_or_rows=None), dict(p_or_rows=[1, "x", [1]]),
          exempt={"ax": "a matplotlib Axes, drawn into by matplotlib"},
          call=lambda p_or_rows=None, **kw: PL.plot_pareto(p_or_rows, **kw)),
        T("format_plan", PL.format_plan, dict(p=None), dict(p=[1, "x", {}])),
        # --- operator columns of a scenario row ------------------------------------------------------------
        T("OperatorSettings", OC.OperatorSettings, {},
          dict(aids=[1, "x", (1,)], streams=INT_POS + [10**6], orchestrator=[1, "nope"],
               controls=[1, "x", {"nope": 1}])),
        T("operator_columns.apply", OC.apply, dict(settings=OC.OperatorSettings(), vm=VM, policy=POL),
          dict(settings=[None, 1], vm=[None, 1], policy=[None, 1, "nope"], aids=[1, [1]])),
        T("parse_columns", OC.parse_columns, dict(raw={}),
          dict(raw=[1, "x", None, {"auto_converge": "maybe"}, {"xbzrle_cache_mib": NAN},
                    {"multifd_channels": 0}, {"dirty_limit_mibps": -1.0}, {"orchestrator": "nope"}],
               policy=["nope", 1, None], streams=INT_POS, page_bytes=INT_POS + [3000],
               downtime_limit_given=BOOL, max_bandwidth_given=BOOL),
          names={"raw": None}),
        # --- calibration ---------------------------------------------------------------------------------
        T("Calibration", CA.Calibration, dict(params={}), dict(params=[1, "x", None, {"nope": NAN}])),
        T("calibration.load", CA.load, {}, dict(path=[1] + PATHS[1:] + [str(bin_file)])),
        T("calibrate.fit", CF.fit, dict(cases=[], ram_part=lambda c, bg: 0.0),
          dict(cases=[1, "x", [1]], ram_part=[1, "x", None])),
        T("calibration.save", CA.save, dict(cal=None, path=str(tmp / "cal.json")),
          dict(cal=[1, "x"], path=[1, dirpath, str(tmp / "no" / "dir" / "cal.json")], meta=[1, "x"]),
          call=lambda cal=None, **kw: CA.save(cal if cal is not None else CA.load(), **kw)),
        T("fit_stream_ceilings", CF.fit_stream_ceilings, {}, dict(rows=[1, ["nope"], []], name=["nope", 1, None])),
        T("fit_device_state", CF.fit_device_state, dict(cases=[]), dict(cases=[1, "x", [1]])),
        T("fit_switchover", CF.fit_switchover, dict(cases=[], ram_part=lambda c, bg: 0.0),
          dict(cases=[1, "x", [1]], ram_part=[1, "x", None], grid_mibps=["x", [NAN], [-1.0], []],
               grid_set_mib=["x", [NAN], [-1.0], []])),
        # --- hypervisor presets ----------------------------------------------------------------------------
        T("hypervisors.get", HY.get, dict(name="qemu"), dict(name=["nope", 1, None]), names={"name": "hypervisor"}),
        T("qemu_dirty_sync_count", HY.qemu_dirty_sync_count, dict(n_rounds=3),
          dict(n_rounds=INT_NONNEG, converged=BOOL)),
        T("background_workload", HY.background_workload, dict(set_bytes=4096.0, rate_Bps=1e6, memory_bytes=pc.MiB(4)),
          # a set larger than memory is capped at memory by design (the docstring, tests/test_hypervisors.py):
          # an idle guest with the calibrated set size may be smaller than that set
          dict(set_bytes=REAL_NONNEG, rate_Bps=REAL_NONNEG, memory_bytes=INT_POS + [1000],
               page_bytes=INT_POS + [3000])),
        # --- scenario internals that are public, data files, validation ---------------------------------------
        T("resolve_policy", SC.resolve_policy, dict(policy=POL), dict(policy=[1, "nope"], switchover=[1, "x"])),
        T("check_throttle", SC.check_throttle, dict(throttle=None),
          dict(throttle=[1, [], [(1.0, 0.5)], [(0.0, NAN)], [(0.0, 1.5)], [(NAN, 1.0)]])),
        T("scenario.rate_schedule", SC.rate_schedule, dict(policy=POL, link=LINK),
          dict(policy=[None, 1, "x"], link=[None, 1, "x"])),
        T("expected_distinct_groups", AN.expected_distinct_groups,
          dict(writes=10.0, probs=[0.1, 0.01], counts=[5, 50]),
          # counts may be fractional: the workload fits relax the hot-set size to a real number of pages
          dict(writes=["1", NAN, INF, -1.0], probs=["x", [NAN, 0.01], [-0.1, 0.01], [0.5, 0.5]],
               counts=["x", [NAN, 50], [-5, 50], [5]])),
        T("datasets.files", DS.files, {}, {}),
        T("datasets.read_bytes", DS.read_bytes, dict(name="link_fit_points.csv"), dict(name=[1, None, MISSING])),
        T("validation.cases", VA.cases, dict(seeds=1),
          dict(map_path=[1, MISSING, str(bin_file), str(bad_csv)],
               more_map_path=[1, MISSING, str(bin_file), str(bad_csv)], seeds=["1", 1.5, NAN, 0, -1, 10**9])),
        T("validation.predict_case", VA.predict_case, dict(case=None, cal=None),
          dict(case=[1, "x"], cal=[1, "x"]),
          exempt={"seeds": "probing it needs a real case and calibration: a full simulation per value"},
          call=lambda case=None, cal=None, **kw: VA.predict_case(case if case is not None else CASES()[0],
                                                                 cal if cal is not None else CA.load(), **kw)),
        T("validation.RamPart", VA.RamPart, {}, dict(seeds=["1", 1.5, NAN, 0, -1, 10**9])),
        T("validation.cv_predictions", VA.cv_predictions, dict(seeds=1),
          dict(seeds=["1", 1.5, NAN, 0, -1, 10**9], sources=[1, "nope", ["nope"]])),
    ]
    npz_ok = _tmp_npz(tmp, "ok.npz", times_s=TR_T, pages=TR_P)
    return t


#: Bad values still open, by (target, parameter): (reason, indices into the table's list).  Each is a strict
#: xfail, so it fails the suite once fixed and its entry must then go.
KNOWN_OPEN: dict = {}
#: Open since the new modules arrived (found by this table; not fixed in the time): (target, parameter) ->
#: indices, by module.  Each is a strict xfail: a fix makes it XPASS and its entry must then go.
_OPEN_BY_MODULE: dict = {}          # every known gap is closed; a new one is listed here by module
_OPEN_REASON: dict = {}
for _m, _entries in _OPEN_BY_MODULE.items():
    for _k, _ix in _entries.items():
        KNOWN_OPEN[_k] = (_OPEN_REASON.get(_m, f"{_m} does not yet check this parameter before use (issue 12 section "
                                               f"3: a ValueError naming it, with unit and range)"), _ix)
#: Open cases not even run (none at present): (target, parameter, index).
NOT_RUN: set = set()

#: Public callables that take no input worth probing, or are results (outputs, not inputs).
NOT_INPUTS = {
    "MigrationResult", "RoundTable", "AnalyticResult", "AnalyticArrays", "Comparison", "Sweep", "ModelSweep",
    "StorageResult", "CombinedResult", "LinkFit", "WorkloadFit", "FitPoint", "ClarkRun", "ValidationReport",
    "Scenario", "Workload", "Idle", "Aid",
    # results of the newer modules (outputs), and what their functions build for one another
    "DrainResult", "DrainComparison", "DirtyRateFit", "Estimate", "ReplayResult", "PlanResult", "Rates",
    "Plan", "Hypervisor", "Case",
}
#: Public callables not probed, with the reason.
NOT_PROBED = {
    "interruptible": "internal bridge between a compiled kernel and Ctrl-C; takes a compiled function",
}

_TMP = None


def _table():
    global _TMP, _TARGETS
    if _TMP is None:
        import tempfile
        _TMP = tempfile.mkdtemp(prefix="precopy-bad-inputs-")
        _TARGETS = targets(_TMP)
    return _TARGETS


def _params(t: Target):
    sig = inspect.signature(t.sig)
    out = []
    for name, p in sig.parameters.items():
        if p.kind is p.VAR_POSITIONAL:
            continue
        out.append(name)
    return out


def _cases():
    for t in _table():
        for p, values in t.bad.items():
            reason, open_ = KNOWN_OPEN.get((t.name, p), ("", ()))
            for i, x in enumerate(values):
                marks = []
                if i in open_:
                    marks = [pytest.mark.xfail(strict=True, reason=reason, run=(t.name, p, i) not in NOT_RUN)]
                yield pytest.param(t, p, x, id=f"{t.name}-{p}-{i}", marks=marks)


#: a message about a number must give its range: an interval or a stated bound
_RANGE = re.compile(r"[\[(][^\[\]()]*,[^\[\]()]*[\])]|at least|at most|>=|<=|> 0|positive|non-negative|"
                    r"multiple of|exceed|below|above")
_NUMBER = re.compile(r"number|integer|whole|multiple|finite|\bin \[")


FILE_PARAMS = {"path", "map_path", "in_path", "out_path", "points_path"}


def _is_file_param(t, param):
    return param in FILE_PARAMS or (t.name.startswith("datasets.") and param == "name")


def check_one(t: Target, param: str, bad) -> str | None:
    """None if ``bad`` for ``param`` raises the promised ValueError, else what happened instead."""
    kw = dict(t.base)
    kw[param] = bad
    name = t.names.get(param, param)
    try:
        t.call(**kw)
    except ValueError as e:
        msg = str(e)
        named = name is None or name in msg
        if not named and _is_file_param(t, param) and isinstance(bad, str) and bad in msg:
            named = True        # a file is best named by itself
        if not named:
            return f"ValueError without the name {name!r}: {msg}"
        if _numeric(bad) and name is not None and _NUMBER.search(msg) and not _RANGE.search(msg):
            return f"ValueError without a range: {msg}"
        return None
    except Exception as e:      # noqa: BLE001 - the point is to catch the wrong kind
        return f"{type(e).__name__}: {e}"
    return "accepted"


@pytest.mark.parametrize("t, param, bad", list(_cases()))
def test_bad_value_raises_value_error_naming_the_parameter(t, param, bad):
    problem = check_one(t, param, bad)
    assert problem is None, f"{t.name}({param}={bad!r}): {problem}"


@pytest.mark.parametrize("t", _table(), ids=lambda t: t.name)
def test_every_parameter_has_a_table_entry(t):
    missing = [p for p in _params(t) if p not in t.bad and p not in t.exempt and p not in ("self", "cls")]
    assert not missing, f"{t.name}: parameters without bad values in the table: {missing}"
    for p in t.bad:
        assert p in _params(t) or p in ("kwargs", "changes"), f"{t.name}: table names unknown parameter {p!r}"


def test_every_public_callable_is_covered():
    import importlib
    covered = {id(t.sig) for t in _table()}        # by identity: a same-named function elsewhere does not count
    missing = []
    for m in ("precopy", "precopy.vm", "precopy.links", "precopy.workloads", "precopy.policies", "precopy.aids",
              "precopy.simulate", "precopy.analytic", "precopy.storage", "precopy.predict", "precopy.sweeps",
              "precopy.units", "precopy.datasets", "precopy.linkfit", "precopy.workload_fit",
              "precopy.validation", "precopy.scenario", "precopy.drain", "precopy.hvstats", "precopy.eta",
              "precopy.orchestrators", "precopy.planning", "precopy.operator_columns", "precopy.calibration", "precopy.calibrate",
              "precopy.hypervisors"):
        mod = importlib.import_module(m)
        for n in getattr(mod, "__all__", ()):
            obj = getattr(mod, n)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or n in NOT_INPUTS or n in NOT_PROBED:
                continue
            if id(obj) not in covered:
                missing.append(f"{m}.{n}")
    assert not missing, f"public callables without a bad-input table entry: {missing}"


def test_model_gbps_rejects_bad_input():
    theta = [LF.fit_links().values[n] for n in LF.PARAM_NAMES]
    good = dict(theta=theta, link_gbps=10.0, mtu=1500, streams=1, stream_class="modern")
    LF.model_gbps(**good)
    for p, bad in [("link_gbps", NAN), ("link_gbps", -1.0), ("mtu", 10), ("streams", 0), ("streams", 1.5),
                   ("stream_class", "nope"), ("theta", {"nope": 1})]:
        problem = check_one(Target("model_gbps", LF.model_gbps, LF.model_gbps, good, {}), p, bad)
        assert problem is None, f"model_gbps({p}={bad!r}): {problem}"


# --- the specific failures of issue 12 section 3, each as its own regression test -------------------------

def test_uint64_page_numbers_at_or_above_2_63_are_rejected_not_wrapped():
    tr_pages = np.array([1, 2**63], np.uint64)
    with pytest.raises(ValueError, match=r"pages \(page index\).*\[0, "):
        pc.simulate(pc.VM(memory_bytes=pc.GiB(1)), W.Trace(times_s=[0.0, 1e-3], pages=tr_pages),
                    pc.Link(rate_bps=1e10), P.QEMU(max_bandwidth_bps=None))
    # in range for uint64 but beyond the VM: named, with the VM's range
    tr = W.Trace(times_s=[0.0, 1e-3], pages=np.array([1, 2**20], np.uint64))
    with pytest.raises(ValueError, match=r"pages \(page index\) must be in \[0, 262143\]"):
        pc.simulate(pc.VM(memory_bytes=pc.GiB(1)), tr, pc.Link(rate_bps=1e10))


@pytest.mark.parametrize("make", [
    lambda: W.Phased([(W.Uniform(writes_per_s=10), 1e-300), (W.Idle(), 1e-300)]),
    lambda: W.Trace(times_s=[0.0], pages=[1], duration_s=1e-300, loop=True),
    lambda: W.Trace(times_s=[0.0, 1e-300], pages=[1, 2], loop=True),
    lambda: W.Trace.from_bitmaps(np.ones((2, 8), bool), interval_s=1e-300, loop=True),
], ids=["phased", "trace", "trace-default-duration", "bitmaps"])
def test_phases_shorter_than_the_floor_are_rejected(make):
    with pytest.raises(ValueError, match=r"duration_s|interval_s") as e:
        make()
    assert "1e-06" in str(e.value) and "s" in str(e.value)


def test_phase_floor_runs_in_bounded_time():
    # the shortest allowed phase: at most 1e6 phase changes per simulated second
    wl = W.Phased([(W.Uniform(writes_per_s=1e7), W.MIN_PHASE_S), (W.Idle(), W.MIN_PHASE_S)])
    r = pc.simulate(pc.VM(memory_bytes=pc.MiB(1)), wl, pc.Link(rate_bps=1e9), P.Custom(max_rounds=3))
    assert r.n_rounds == 3 and math.isfinite(r.total_time_s)


def test_enormous_trace_times_are_rejected_not_inf():
    with pytest.raises(ValueError, match=r"times_s \(s\)"):
        W.Trace(times_s=[0.0, 1e308], pages=[1, 2])
    with pytest.raises(ValueError, match=r"duration_s \(s"):
        W.Trace(times_s=[0.0, 1.0], pages=[1, 2], duration_s=1e300)


@pytest.mark.parametrize("col", ["hot_fraction", "zero_fraction", "zipf_s"])
def test_nan_in_a_row_is_rejected_not_replaced_by_the_default(col):
    row = {"scenario": "a", "memory_mib": 4, "link_gbps": 1, "workload": "zipf" if col == "zipf_s" else "hotcold",
           "write_mibps": 1, "policy": "qemu", "seeds": 1, col: NAN}
    if col != "zipf_s":
        row["wws_mib"] = 1
    with pytest.raises(ValueError, match=f"column '{col}'.*nan"):
        pc.predict_table([row])


def test_dataframe_missing_cells_still_mean_default():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame([{"scenario": "a", "memory_mib": 4, "link_gbps": 1, "workload": "hotcold", "wws_mib": 1,
                        "write_mibps": 1, "policy": "qemu", "seeds": 1, "hot_fraction": 0.5},
                       {"scenario": "b", "memory_mib": 4, "link_gbps": 1, "workload": "hotcold", "wws_mib": 1,
                        "write_mibps": 1, "policy": "qemu", "seeds": 1}])      # hot_fraction NaN: not given
    rows = PR._rows_of(df)
    assert rows[1]["hot_fraction"] is None
    assert PR.parse_scenario(rows[1]).workload.hot_fraction == 0.9


@pytest.mark.parametrize("flag", ["--hot-fraction", "--zero-fraction", "--zipf-s"])
def test_cli_nan_flags_are_rejected(flag, capsys):
    from precopy.cli import main
    args = ["simulate", "--memory", "4MiB", "--write-rate", "1MiB/s", "--link", "1Gbps", flag, "nan"]
    args += ["--workload", "zipf"] if flag == "--zipf-s" else ["--wws", "1MiB"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert flag in err and "nan" in err


def test_vmware_reports_its_own_argument():
    with pytest.raises(ValueError, match=r"switchover_goal_s \(s\).*\[0, 3600\]") as e:
        P.VMware(switchover_goal_s=-1)
    assert "downtime_limit_s" not in str(e.value)


def test_xbzrle_cache_larger_than_memory_is_refused_before_allocating():
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"XBZRLE.cache_bytes \(bytes\) must be in \[4096, memory_bytes="):
            pc.Prepared(pc.VM(memory_bytes=pc.GiB(1)), WL, LINK, POL, aids=[A.XBZRLE(cache_bytes=2**40)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20          # nothing near the 4 GiB the 1 TiB cache would take


def test_trace_record_buffer_is_bounded():
    with pytest.raises(ValueError, match=r"max_writes \(writes\).*\[1, 268435456\]"):
        W.Trace.record(W.Uniform(writes_per_s=1e11), VM, duration_s=1e7, max_writes=2**40)


def test_npz_errors_name_the_path_and_the_entry(tmp_path):
    with pytest.raises(ValueError, match="path .*no such trace file"):
        W.Trace.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "b.npz", bitmaps=np.zeros((2, 1), np.uint8), n_pages=8)
    with pytest.raises(ValueError, match="'interval_s'"):
        W.Trace.load(tmp_path / "b.npz")
    np.savez(tmp_path / "o.npz", times_s=np.zeros(2), pages=np.array([1, None], dtype=object))
    with pytest.raises(ValueError, match="path .*o.npz"):
        W.Trace.load(tmp_path / "o.npz")
    (tmp_path / "t.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="path .*t.npz.*not a .npz"):
        W.Trace.load(tmp_path / "t.npz")


def test_predict_table_rejects_a_list_row_by_row_number():
    with pytest.raises(ValueError, match=r"row 1: table rows must be dicts"):
        pc.predict_table([["scenario", "a"]])


def test_allocations_beyond_physical_memory_are_refused_before_allocating():
    """The 32 GiB inputs: per-page probabilities and Zipf tables of a 2**32-page guest."""
    import tracemalloc
    from precopy._validate import physical_memory_bytes
    total = physical_memory_bytes()
    if total is None or total >= 8 * (2**32 - 1):
        pytest.skip("this machine holds 32 GiB: the refusal cannot be provoked")
    vm = pc.VM(memory_bytes=(2**32 - 1) * 4096)
    tracemalloc.start()
    try:
        for call in (lambda: W.Zipf(writes_per_s=1).page_probabilities(vm),
                     lambda: W.Uniform(writes_per_s=1).page_probabilities(vm),
                     lambda: AN.saturation(vm, W.Zipf(writes_per_s=1e3), pc.Link(rate_bps=1e11),
                                           P.QEMU(max_bandwidth_bps=None, timeout_s=1e8))):
            with pytest.raises(ValueError, match=r"memory_bytes .* needs about \d+\.0 GiB .* at most"):
                call()
        # the kernel's own Zipf tables no longer grow with the guest: large regions are drawn in
        # constant memory (precopy._zipf), so compiling the workload is no longer refused
        W.Zipf(writes_per_s=1).compile(vm)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20


# --- checks before the work, and the parsers' own field bounds ----------------------------------------------

def test_predict_csv_checks_its_output_before_simulating(tmp_path, monkeypatch):
    src = tmp_path / "s.csv"
    src.write_text("scenario,memory_mib,link_gbps,workload,policy\na,4,1,idle,qemu\n")

    def no_work(*a, **k):
        raise AssertionError("simulated before the output was checked")
    monkeypatch.setattr(PR, "predict_scenario", no_work)
    for out, what in ((tmp_path / "no" / "r.csv", "does not exist"), (tmp_path, "is a folder")):
        with pytest.raises(ValueError, match=f"out_path .*{what}"):
            PR.predict_csv(src, out)


def test_validate_checks_its_arguments_before_building_cases(monkeypatch):
    def no_work(*a, **k):
        raise AssertionError("cases were built before the arguments were checked")
    monkeypatch.setattr(VA, "cases", no_work)
    for kw, name in ((dict(fit_seeds=0), "fit_seeds"), (dict(progress=None), "progress"),
                     (dict(calibration="x"), "calibration"), (dict(sources="S4"), "sources")):
        with pytest.raises(ValueError, match=name):
            VA.validate(seeds=1, **kw)


def test_drain_compare_checks_its_keywords_before_running(monkeypatch):
    def no_work(*a, **k):
        raise AssertionError("a drain ran before the keywords were checked")
    monkeypatch.setattr(DR, "drain", no_work)
    with pytest.raises(ValueError, match="'nope'"):
        DR.compare([DVM], "25GbE", n_jobs=1, nope=1)
    for kw, name in ((dict(seed=-1), r"seed \(integer seed\)"), (dict(max_parallel=0), r"max_parallel \(migrations\)"),
                     (dict(orchestrator="nope"), "orchestrator"), (dict(orchestrator=3), "orchestrator")):
        with pytest.raises(ValueError, match=name):
            DR.compare([DVM], "25GbE", n_jobs=1, **kw)


def _json_edit(name, edit):
    import json
    d = json.loads((EXAMPLES / name).read_text())
    edit(d["return"])
    return json.dumps(d)


@pytest.mark.parametrize("text, field", [
    (lambda: _json_edit("qmp_query_migrate.json", lambda r: r["ram"].update({"page-size": 3000})), "'page-size'"),
    (lambda: _json_edit("qmp_query_migrate.json", lambda r: r.update({"cpu-throttle-percentage": 150})),
     "'cpu-throttle-percentage'"),
    (lambda: (EXAMPLES / "virsh_domjobinfo.txt").read_text().replace("4096         bytes", "3000 bytes"),
     "'Page size'"),
    (lambda: (EXAMPLES / "virsh_domjobinfo.txt").read_text() + "Auto converge throttle: 150 %\n",
     "'Auto converge throttle'"),
], ids=["qmp-page-size", "qmp-throttle", "virsh-page-size", "virsh-throttle"])
def test_job_stats_fields_out_of_range_are_named(text, field):
    with pytest.raises(ValueError, match=f"field {field}.*(power of two|<= 100)"):
        HV.parse_job_stats(text())


@pytest.mark.parametrize("over, field", [
    ({"calc-time": 7200}, "'calc-time'"), ({"start-time": -1}, "'start-time'"),
    ({"sample-pages": 2**22}, "'sample-pages'"),
], ids=["calc-time", "start-time", "sample-pages"])
def test_dirty_rate_fields_out_of_range_are_named(over, field):
    import json
    d = {"status": "measured", "dirty-rate": 100, "start-time": 1, "calc-time": 2, "calc-time-unit": "second",
         "sample-pages": 512, "mode": "page-sampling"}
    d.update(over)
    with pytest.raises(ValueError, match=f"field {field}"):
        HV.parse_dirty_rate(json.dumps({"return": d}), memory_bytes=pc.GiB(8))


def test_report_files_are_named_by_their_path(tmp_path):
    b = tmp_path / "b.json"
    b.write_bytes(b"\x00\xff\xfe")
    for read in (HV.read_dirty_rate, HV.read_job_stats):
        with pytest.raises(ValueError, match=f"path {re.escape(str(b))}: not a text"):
            read(b)
        with pytest.raises(ValueError, match=f"path {re.escape(str(tmp_path / 'no.json'))}: cannot read"):
            read(tmp_path / "no.json")
    # what the file held is still reported under the file's name
    assert HV.read_dirty_rate(EXAMPLES / "qmp_dirty_rate_sampling.json").source == "qmp_dirty_rate_sampling.json"
