"""Speed of the analytic saturation model over a grid of 10^6 configurations (not a test).

The grid: an 8 GiB guest (2^21 pages of 4 KiB, no zero pages) whose writes are hot/cold,
90 % of them uniform over a 1 GiB hot set (2^18 pages) and the rest uniform over all of
memory (:class:`precopy.workloads.HotCold`), at ``--rates`` write rates (geomspace 1e3 ..
1e6 page writes/s) x ``--links`` link goodputs (geomspace from the 1 GbE to the 100 GbE
profile's ``goodput_Bps``).  Low write rates on fast links converge; high rates on slow
links do not and run to the policy's one-hour timeout, the regime that costs most.

Two policies: QEMU without a bandwidth cap (``max_bandwidth_bps=None``, as libvirt runs
it) and QEMU's defaults (128 MiB/s cap).  Each is timed after a warm-up call (compilation
and the numba cache are not counted).  One JSON line per policy: wall time, configurations
per second (best of ``--repeat`` runs, and the median), the share that converge, the mean
and largest number of rounds, the cost per configuration of the converging and of the
non-converging ones (timed apart), and with ``--full`` the same grid with the
steady-state fast path off (every round iterated, as before the fast path: slow).

Target (issue: sweeps on every core): 10^6 configurations in under 1 s on one core.

Usage: python benchmarks/bench_analytic.py [--rates 1000] [--links 1000] [--repeat 3] [--full]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import precopy as pc
from precopy import analytic

N_PAGES = 2**21          # 8 GiB of 4 KiB pages
HOT_PAGES = 2**18        # 1 GiB hot set
HOT_FRACTION = 0.9


def grid(n_rates, n_links):
    """(writes_per_s, link_Bps) as an (n_rates, n_links) broadcast pair."""
    lo = pc.Link.from_profile("1GbE").goodput_Bps
    hi = pc.Link.from_profile("100GbE").goodput_Bps
    w = np.geomspace(1e3, 1e6, n_rates)[:, None]
    g = np.geomspace(lo, hi, n_links)[None, :]
    return w, g


def run(w, g, policy, **kw):
    return analytic.saturation_model(w, g, N_PAGES, HOT_PAGES, HOT_FRACTION, policy=policy, **kw)


def timed(label, w, g, policy, repeat=3, **kw):
    run(w[:2], g[:, :2], policy, **kw)                  # warm-up: compile / load the cache
    walls = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = run(w, g, policy, **kw)
        walls.append(time.perf_counter() - t)
    wall = min(walls)
    n = r.total_time_s.size
    conv = r.converged
    out = {"run": label, "configurations": n, "wall_s": round(wall, 4), "wall_s_median": round(float(np.median(walls)), 4),
           "configurations_per_s": round(n / wall), "ns_per_configuration": round(wall / n * 1e9, 1),
           "converged_share": round(float(conv.mean()), 4),
           "mean_rounds": round(float(r.n_rounds.mean()), 2), "max_rounds": int(r.n_rounds.max())}
    # cost by regime: the converging and the non-converging configurations timed apart
    for name, mask in (("converging", conv), ("not_converging", ~conv)):
        if mask.any():
            ws, gs = np.broadcast_to(w, conv.shape)[mask], np.broadcast_to(g, conv.shape)[mask]
            t = time.perf_counter()
            run(ws[:, None], gs[:, None], policy, **kw)
            out[f"ns_per_{name}"] = round((time.perf_counter() - t) / mask.sum() * 1e9, 1)
    print(json.dumps(out), flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=int, default=1000)
    ap.add_argument("--links", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="also time full iteration (slow: 10-70 s per policy)")
    a = ap.parse_args()
    w, g = grid(a.rates, a.links)
    for label, pol in (("qemu_uncapped", pc.policies.QEMU(max_bandwidth_bps=None)),
                       ("qemu_default", pc.policies.QEMU())):
        timed(label, w, g, pol, repeat=a.repeat)
        if a.full:
            timed(label + "_full_iteration", w, g, pol, repeat=1, _full=True)


if __name__ == "__main__":
    main()
