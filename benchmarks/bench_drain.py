"""Drain speed (not a test: prints its figures).

100 VMs of 16 GiB with mixed workloads (idle, hot/cold, uniform and sequential writes,
cycling) drain over one 25 GbE NIC, two migrations at once, on one core (the drain
itself is sequential; ``n_jobs`` only parallelises several orderings).  Target: under
30 s.  Zipf guests are left out: building a 16 GiB Zipf page table takes seconds per VM
outside the kernel.

Usage: python benchmarks/bench_drain.py [--vms 100] [--order as-listed]
"""

from __future__ import annotations

import argparse
import json
import time

from precopy import drain as D

MIX = (
    {"workload": "idle"},
    {"workload": "hotcold", "wws_mib": 1024, "write_mibps": 400},
    {"workload": "uniform", "write_mibps": 200},
    {"workload": "sequential", "wws_mib": 2048, "write_mibps": 600},
    {"workload": "hotcold", "wws_mib": 512, "write_mibps": 100},
)


def fleet(n):
    return [dict({"vm": f"vm{i:03d}", "memory_mib": 16384}, **MIX[i % len(MIX)]) for i in range(n)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vms", type=int, default=100)
    ap.add_argument("--order", default="as-listed", choices=D.ORDERS)
    args = ap.parse_args(argv)
    D.drain(fleet(2), "25GbE", max_parallel=2)            # load the numba cache outside the timing
    t = time.perf_counter()
    r = D.drain(fleet(args.vms), "25GbE", max_parallel=2, order=args.order)
    wall = time.perf_counter() - t
    print(json.dumps({"vms": args.vms, "memory_gib": 16, "link": "25GbE", "max_parallel": 2, "order": args.order,
                      "wall_s": round(wall, 2), "target_s": 30, "makespan_s": round(r.makespan_s, 1),
                      "n_failed": r.n_failed, "rate_model": r.rate_model}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
