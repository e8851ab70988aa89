"""Start-up costs: `import precopy`, and the first simulation in a fresh process
(kernels loaded from numba's on-disk cache, not recompiled).

Prints one JSON line: {"import_s": ..., "warmup_s": ..., "cache_misses": ...}.
Run twice after a code change: the first run fills the cache.
"""

import json
import subprocess
import sys

CODE = r"""
import time, json
t0 = time.perf_counter()
import precopy as pc
t1 = time.perf_counter()
pc.warmup()
t2 = time.perf_counter()
from precopy import _kernel as K
print(json.dumps({"import_s": t1 - t0, "warmup_s": t2 - t1,
                  "cache_misses": sum(K.simulate_kernel.stats.cache_misses.values()),
                  "cache_hits": sum(K.simulate_kernel.stats.cache_hits.values())}))
"""

if __name__ == "__main__":
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout
    print(json.loads(out) and out.strip())
