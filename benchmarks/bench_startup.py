"""Start-up cost of the package and the command line, beside numpy's.

Each line is the median wall time of N fresh interpreters (default 15) running one
statement: ``pass`` (the interpreter alone), ``import numpy``, ``import precopy``,
and ``precopy --help``.  Targets (issue 12): ``import precopy`` under twice
``import numpy``; ``precopy --help`` under 0.3 s.  Also reports, from
``python -X importtime``, the cumulative import time of the ``precopy`` and
``numpy`` packages themselves (interpreter start-up excluded).

Usage: python benchmarks/bench_startup.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

CASES = {
    "python": "pass",
    "import numpy": "import numpy",
    "import precopy": "import precopy",
    "precopy --help": ("import sys, io, contextlib\nfrom precopy.cli import main\n"
                       "with contextlib.redirect_stdout(io.StringIO()):\n"
                       "    try:\n        main(['--help'])\n    except SystemExit:\n        pass"),
}


def wall(code: str, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def importtime(module: str, repeats: int) -> float:
    """Median cumulative import time (s) of ``module`` from ``-X importtime``."""
    ts = []
    for _ in range(repeats):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                             capture_output=True, text=True, check=True).stderr
        for line in err.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S+)\s*$", line)
            if m and m.group(2) == module:
                ts.append(int(m.group(1)) * 1e-6)
    return statistics.median(ts)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    out = {name: round(wall(code, a.repeats), 4) for name, code in CASES.items()}
    out["importtime numpy"] = round(importtime("numpy", a.repeats), 4)
    out["importtime precopy"] = round(importtime("precopy", a.repeats), 4)
    out["import precopy / import numpy (wall)"] = round(out["import precopy"] / out["import numpy"], 3)
    print(json.dumps(out))
