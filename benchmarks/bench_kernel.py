"""Kernel speed against a C reference loop, and a 1 TiB guest that does not converge.

Runs, after one warm-up call, each scenario and prints one JSON line each:
{"scenario", "wall_s", "rounds", "total_time_s", "downtime_s", ...}.

A: 16 GiB VM, 4 KiB pages, 1 GiB hot set taking 90 % of 200,000 page writes/s
   (the rest uniform over all memory), 9.4 Gbit/s on the wire, no headers, no
   device state, stop when the next round would take < 0.3 s or after 30 rounds,
   page skip off.
B: 64 GiB, 4 GiB hot set taking 90 % of 2,000,000 writes/s, 23.5 Gbit/s, same rule.
TiB: 1 TiB VM, 4 KiB pages, 64 GiB hot set taking 90 % of 100 million page
   writes/s, 25 GbE (the link model's payload rate), QEMU's stop rule without
   its 128 MiB/s bandwidth cap (as libvirt runs it), one-hour timeout.  About
   3.6e11 page writes: the kernel's set path (``precopy._dirtyset``) draws
   each round's dirty set in time proportional to pages.  Target: under 30 s
   on one core.

A and B also run the C reference loop ``benchmarks/precopy_loop.c`` (the same
write law and stop rule, with nothing else), built with the system C compiler
when one is found (``$CC``, ``cc``, ``gcc`` or ``clang``); without one the
benchmark says so and prints the kernel's numbers alone.  The ratio lines give
kernel wall time / C wall time.

With ``--per-write`` the kernel draws every write (its set path off), the work
the C loop does; the default lets the kernel's switch rule choose.

Usage: python benchmarks/bench_kernel.py [--repeats N] [--no-c] [--per-write] [--only A,B,TiB]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import precopy as pc

SCENARIOS = {
    "A": dict(mem_gib=16, wws_gib=1, writes=200_000, gbps=9.4, repeats=10),
    "B": dict(mem_gib=64, wws_gib=4, writes=2_000_000, gbps=23.5, repeats=3),
}
C_SOURCE = Path(__file__).resolve().parent / "precopy_loop.c"


def prepared(sc):
    vm = pc.VM(memory_bytes=pc.GiB(sc["mem_gib"]), page_bytes=pc.KiB(4))
    wl = pc.workloads.HotCold(wws_bytes=pc.GiB(sc["wws_gib"]), hot_fraction=0.9, writes_per_s=sc["writes"])
    link = pc.Link(rate_bps=pc.Gbps(sc["gbps"]), mtu=None)          # the rate is payload
    pol = pc.policies.Custom(max_rounds=30, downtime_target_s=0.3)  # no headers, skip off
    return pc.Prepared(vm, wl, link, pol, switchover=pc.Switchover(device_state_bytes=0, resume_s=0.0))


def prepared_tib():
    vm = pc.VM(memory_bytes=pc.TiB(1), page_bytes=pc.KiB(4))
    wl = pc.workloads.HotCold(wws_bytes=pc.GiB(64), hot_fraction=0.9, writes_per_s=100e6)
    link = pc.Link.from_profile("25GbE")
    pol = pc.policies.QEMU(max_bandwidth_bps=None, timeout_s=3600.0)
    return pc.Prepared(vm, wl, link, pol)


def _timed(p, repeats):
    p.run(seed=0)                                  # warm-up: compile or load from cache
    walls = []
    for i in range(repeats):
        t0 = time.perf_counter()
        r = p.run(seed=i + 1)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), r


def run_kernel(name, repeats=None):
    sc = SCENARIOS[name]
    wall, r = _timed(prepared(sc), repeats or sc["repeats"])
    return {"scenario": name, "wall_s": wall, "rounds": r.n_rounds,
            "total_time_s": r.total_time_s, "downtime_s": r.downtime_s}


def run_tib(repeats=None):
    p = prepared_tib()
    wall, r = _timed(p, repeats or 1)
    return {"scenario": "TiB", "wall_s": wall, "rounds": r.n_rounds, "total_time_s": r.total_time_s,
            "downtime_s": r.downtime_s, "stop_reason": r.stop_reason,
            "page_writes": float(sum(r.rounds["writes"]))}


def find_cc():
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def build_c(workdir):
    """Compile the reference loop; returns the binary, or None with the reason."""
    cc = find_cc()
    if cc is None:
        return None, "no C compiler found (set CC, or install cc/gcc/clang)"
    exe = Path(workdir) / "precopy_loop"
    for flags in (["-O3", "-march=native"], ["-O2"]):
        res = subprocess.run([cc, *flags, "-o", str(exe), str(C_SOURCE), "-lm"], capture_output=True, text=True, check=False)
        if res.returncode == 0:
            return exe, f"{Path(cc).name} {' '.join(flags)}"
    return None, f"{cc} failed: {res.stderr.strip()[:200]}"


def run_c(exe, name):
    sc = SCENARIOS[name]
    args = [str(sc["mem_gib"]), str(sc["wws_gib"]), "0.9", str(sc["writes"]), str(sc["gbps"]), str(sc["repeats"])]
    out = subprocess.run([str(exe), *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-c", action="store_true", help="do not build or run the C reference loop")
    ap.add_argument("--only", default="A,B,TiB", help="comma-separated scenarios (A, B, TiB)")
    ap.add_argument("--per-write", action="store_true", help="turn the kernel's set path off")
    args = ap.parse_args()
    if args.per_write:
        from precopy import config
        config.DIRTYSET_MIN_WRITES_PER_PAGE = config.DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE = float("inf")
        config.DIRTYSET_SEQUENTIAL = False
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    ours = {}
    for n in only:
        ours[n] = run_tib(args.repeats) if n == "TiB" else run_kernel(n, args.repeats)
        print(json.dumps(ours[n]), flush=True)
    ab = [n for n in only if n in SCENARIOS]
    if args.no_c or not ab:
        return
    with tempfile.TemporaryDirectory() as tmp:
        exe, how = build_c(tmp)
        if exe is None:
            print(json.dumps({"c_reference": f"not run: {how}"}))
            return
        print(json.dumps({"c_reference": f"benchmarks/precopy_loop.c built with {how}"}))
        for n in ab:
            c = run_c(exe, n)
            print(json.dumps({
                "scenario": n, "c_wall_s": c["wall_s_per_repeat"], "kernel_wall_s": ours[n]["wall_s"],
                "wall_ratio": ours[n]["wall_s"] / c["wall_s_per_repeat"],
                "rounds": [ours[n]["rounds"], c["rounds"]],
                "total_time_rel_diff": ours[n]["total_time_s"] / c["total_time_s"] - 1,
                "downtime_rel_diff": ours[n]["downtime_s"] / c["downtime_s"] - 1,
            }), flush=True)


if __name__ == "__main__":
    main()
