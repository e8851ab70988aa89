"""Sweep speed-up on worker processes and on a Dask cluster (not a test: prints its figures).

A 200-scenario sweep (an 8 GiB guest, hot/cold writes at 20 rates x 10 link rates, QEMU
without a bandwidth cap) runs

* on joblib's loky backend with 1 and with 2 worker processes (target: 2 workers >= 1.8x);
* on a Dask ``LocalCluster`` with 1 and with 2 worker processes of one thread each
  (target: >= 1.7x),

after a warm-up that starts the workers and loads the numba cache in each, and checks
that every run gives the serial result bit for bit.  Prints one JSON line per run and
the speed-ups, and first a control: the speed-up of a pure-Python busy loop on 2 loky
processes, i.e. how much parallelism the machine offers right now (about 2 on an idle
2-core machine; other load shows there first).

Usage: python benchmarks/bench_sweeps.py [--scenarios 200] [--no-dask]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import precopy as pc
from precopy import sweeps


def grid(n, **kw):
    rows = 20
    cols = max(1, n // rows)
    vm = pc.VM(memory_bytes=pc.GiB(8))
    return sweeps.convergence_grid(vm, np.geomspace(1e3, 3e5, rows), np.geomspace(1e9, 25e9, cols),
                                   pc.policies.QEMU(max_bandwidth_bps=None, timeout_s=300.0), seed=1, **kw)


def same(a, b):
    return all(np.array_equal(getattr(a, m), getattr(b, m)) for m in sweeps.METRICS)


def timed(label, n, ref=None, **kw):
    t = time.perf_counter()
    sw = grid(n, **kw)
    wall = time.perf_counter() - t
    ok = True if ref is None else same(ref, sw)
    print(json.dumps({"run": label, "scenarios": int(np.prod(sw.shape)), "wall_s": round(wall, 3),
                      "identical_to_serial": ok}))
    return wall, sw


def _burn(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


def control():
    """Speed-up of a CPU-bound pure-Python loop on 2 loky processes over 1 in this process."""
    import joblib
    joblib.Parallel(n_jobs=2)(joblib.delayed(_burn)(10) for _ in range(4))
    walls = {}
    for k in (1, 2):
        t = time.perf_counter()
        joblib.Parallel(n_jobs=k)(joblib.delayed(_burn)(2_000_000) for _ in range(16))
        walls[k] = time.perf_counter() - t
    print(json.dumps({"control_cpu_burn_speedup_2_vs_1": round(walls[1] / walls[2], 2)}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=200)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args(argv)
    n = args.scenarios
    control()
    grid(20, n_jobs=1)                                   # compile / load the cache here
    grid(20, n_jobs=2)                                   # start both loky workers, load their cache
    t1, ref = timed("loky, 1 worker", n, n_jobs=1)
    t2, _ = timed("loky, 2 workers", n, ref, n_jobs=2)
    print(json.dumps({"speedup_loky_2_vs_1": round(t1 / t2, 2), "target": 1.8}))
    if args.no_dask:
        return 0
    from distributed import Client, LocalCluster
    res = {}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
                Client(c) as client:
            client.run(pc.warmup)                        # imports precopy, loads the numba cache
            grid(20, client=client)
            res[workers], _ = timed(f"dask LocalCluster, {workers} worker process(es)", n, ref, client=client)
    print(json.dumps({"speedup_dask_2_vs_1": round(res[1] / res[2], 2), "target": 1.7}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
