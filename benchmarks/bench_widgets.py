"""How long one control change of the live explorer takes (simulate + redraw), 16 GiB guest.

Run:  PYTHONPATH=. python benchmarks/bench_widgets.py [--repeat N]

Prints one JSON object.  ``control_change_ms`` is the time from setting a control's
value until the control returns with a new PNG in the image widget: the new
result, or, for a simulation slower than ``precopy.widgets.ANSWER_WITHIN_S``,
the stale result greyed out (the browser then only swaps an image).
``result_ms`` is the time until the new result is drawn (the same, unless it
finished in the background; ``late`` counts those).  The explorer is created
first (kernels compiled, Matplotlib warmed), as in notebook 2, with background
sweeps and background simulations.

The machine is usually shared: run it on an idle machine, or say that it was not.

Medians measured on a 2-core machine shared with other jobs (ms; one run each):

=====================  ===============================  ===================================
control                before (redraw of the timeline   after (artists updated in place,
                       axes; load average 1.3)          slow cases in the background;
                                                        load average 7.4, so ~2.5x slower
                                                        simulations)
=====================  ===============================  ===================================
hot-set slider         94 (simulate 11, draw 82)        66 (simulate 28, draw 39)
link 10 <-> 25 GbE     81 (simulate 10, draw 72)        91 (simulate 28, draw 57)
link to 1 GbE          439 (simulate 349)               170 to the greyed answer; the
                                                        result after 1558 (simulate 1153)
page skip on           401 (simulate 111)               230 to the greyed answer; the
                                                        result after 1202 (simulate 971)
=====================  ===============================  ===================================

* ``hot_set_slider`` and ``link_10_25GbE``: one simulation and a redraw each;
* ``link_to_1GbE``: the guest does not converge on 1 GbE, so the migration is
  simulated for its full 600 s timeout;
* ``page_skip_on``: the skip engine (Xen legacy's) is much slower per write;
* ``write_rate``: the timeline answers at once; the sweep (33 migrations)
  follows on a background thread, ``sweep_ready_s`` after the control change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import precopy as pc
from precopy.widgets import MigrationExplorer


def _ms(xs):
    xs = sorted(xs)
    return {"median": round(statistics.median(xs) * 1e3, 1), "min": round(xs[0] * 1e3, 1),
            "max": round(xs[-1] * 1e3, 1), "n": len(xs)}


def change(ex, control, value):
    """Set one control; return (seconds until the new image is in place, timings)."""
    t0 = time.perf_counter()
    ex.controls[control].value = value
    dt = time.perf_counter() - t0
    return dt, dict(ex.timings)


def measure(ex, control, values, repeat, reset=None):
    times, result, sim, draw, late = [], [], [], [], 0
    for _ in range(repeat):
        for val in values:
            dt, _ = change(ex, control, val)
            ex.wait()
            t = dict(ex.timings)
            times.append(dt)
            result.append(t["update_s"])
            sim.append(t["simulate_s"])
            draw.append(t["draw_s"])
            late += bool(t.get("late"))
            if reset is not None:
                ex.controls[control].value = reset
            ex.wait()
    return {"control_change_ms": _ms(times), "result_ms": _ms(result), "simulate_ms": _ms(sim),
            "draw_ms": _ms(draw), "late": late}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    ex = MigrationExplorer(memory_bytes=pc.GiB(16), wws_bytes=pc.GiB(1), writes_per_s=200_000.0,
                           link="10 GbE", policy="QEMU (no cap)", background=True)
    created_s = time.perf_counter() - t0
    out = {
        "benchmark": "widgets: one control change (simulate + redraw)",
        "scenario": "16 GiB guest, 4 KiB pages, hot set 1 GiB taking 90 % of 200k page writes/s, "
                    "10 GbE, QEMU without bandwidth cap",
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "explorer_created_s": round(created_s, 2), "kernels_compiled_s": round(ex.compile_s, 2),
        "initial_sweep_s": round(ex.timings["sweep_s"], 2),
    }
    out["hot_set_slider"] = measure(ex, "wws", [pc.MiB(512), pc.GiB(2), pc.GiB(1), pc.MiB(256)], args.repeat)
    ex.controls["wws"].value = pc.GiB(1)
    out["link_10_25GbE"] = measure(ex, "link", ["25 GbE", "10 GbE"], args.repeat)
    out["link_to_1GbE"] = measure(ex, "link", ["1 GbE"], max(2, args.repeat // 3), reset="10 GbE")
    ex.controls["link"].value = "10 GbE"
    ex.wait()
    dt, _ = change(ex, "page_skip", True)
    ex.wait_result()                                  # the result, not the page-skip sweep
    t = dict(ex.timings)
    out["page_skip_on"] = {"control_change_ms": round(dt * 1e3, 1), "result_ms": round(t["update_s"] * 1e3, 1),
                           "simulate_ms": round(t["simulate_s"] * 1e3, 1), "late": bool(t.get("late"))}
    ex.controls["page_skip"].value = False           # abandons the slow page-skip sweep
    ex.wait()
    t0 = time.perf_counter()
    dt, t = change(ex, "writes", 100_000.0)
    ex.wait()
    out["write_rate"] = {"control_change_ms": round(dt * 1e3, 1),
                         "sweep_ready_s": round(time.perf_counter() - t0, 2),
                         "sweep_points": int(ex.sweep.downtime_s.size)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
