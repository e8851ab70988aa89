"""Kernel speed against the C yardstick (../shared/yardstick/run).

Runs, after one warm-up call, the two scenarios of the kernel issue and prints one
JSON line each: {"scenario", "wall_s", "rounds", "total_time_s", "downtime_s"}.
With --yardstick (default when the yardstick is found) it also builds and runs the
C loop in the same process tree and prints the ratios.

A: 16 GiB VM, 4 KiB pages, 1 GiB hot set taking 90 % of 200,000 page writes/s
   (the rest uniform over all memory), 9.4 Gbit/s on the wire, no headers, no
   device state, stop when the next round would take < 0.3 s or after 30 rounds,
   page skip off.
B: 64 GiB, 4 GiB hot set taking 90 % of 2,000,000 writes/s, 23.5 Gbit/s, same rule.

Usage: python benchmarks/bench_kernel.py [--repeats N] [--no-yardstick]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import time
from pathlib import Path

import precopy as pc

SCENARIOS = {
    "A": dict(mem_gib=16, wws_gib=1, writes=200_000, gbps=9.4, repeats=10),
    "B": dict(mem_gib=64, wws_gib=4, writes=2_000_000, gbps=23.5, repeats=3),
}
YARDSTICK = Path(__file__).resolve().parents[2] / "shared" / "yardstick" / "run"


def prepared(sc):
    vm = pc.VM(memory_bytes=pc.GiB(sc["mem_gib"]), page_bytes=pc.KiB(4))
    wl = pc.workloads.HotCold(wws_bytes=pc.GiB(sc["wws_gib"]), hot_fraction=0.9, writes_per_s=sc["writes"])
    link = pc.Link(rate_bps=pc.Gbps(sc["gbps"]), mtu=None)          # 9.4 Gbit/s of payload
    pol = pc.policies.Custom(max_rounds=30, downtime_target_s=0.3)  # no headers, skip off
    return pc.Prepared(vm, wl, link, pol, switchover=pc.Switchover(device_state_bytes=0, resume_s=0.0))


def run_kernel(name, repeats=None):
    sc = SCENARIOS[name]
    p = prepared(sc)
    p.run(seed=0)                                  # warm-up: compile or load from cache
    walls = []
    for i in range(repeats or sc["repeats"]):
        t0 = time.perf_counter()
        r = p.run(seed=i + 1)
        walls.append(time.perf_counter() - t0)
    return {"scenario": name, "wall_s": statistics.median(walls), "rounds": r.n_rounds,
            "total_time_s": r.total_time_s, "downtime_s": r.downtime_s}


def run_yardstick():
    out = subprocess.run(["bash", str(YARDSTICK)], capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.match(r"^([AB]) (\{.*\})$", line.strip())
        if m:
            res[m.group(1)] = json.loads(m.group(2))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-yardstick", action="store_true")
    args = ap.parse_args()
    ours = {n: run_kernel(n, args.repeats) for n in SCENARIOS}
    for n in SCENARIOS:
        print(json.dumps(ours[n]))
    if args.no_yardstick or not YARDSTICK.exists():
        return
    ys = run_yardstick()
    for n in SCENARIOS:
        y = ys[n]
        print(json.dumps({
            "scenario": n, "yardstick_wall_s": y["wall_s_per_repeat"], "kernel_wall_s": ours[n]["wall_s"],
            "wall_ratio": ours[n]["wall_s"] / y["wall_s_per_repeat"],
            "rounds": [ours[n]["rounds"], y["rounds"]],
            "total_time_rel_diff": ours[n]["total_time_s"] / y["total_time_s"] - 1,
            "downtime_rel_diff": ours[n]["downtime_s"] / y["downtime_s"] - 1,
        }))


if __name__ == "__main__":
    main()
