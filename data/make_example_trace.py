"""Write precopy/data/example_trace.npz: a small SYNTHETIC trace that shows the file format.

It is not a measurement.  It records 5 s of a phased model workload (a 2 MiB
sequential sweep, then a 4 MiB hot set) on a 64 MiB guest with precopy's own
write generator, and stores it as dirty bitmaps sampled every 100 ms: the same
form in which QEMU's dirty-bitmap syncs or a soft-dirty tracker would deliver a
real recording.  Run:  python data/make_example_trace.py
"""

from pathlib import Path

import numpy as np

import precopy as pc
from precopy import workloads as W

VM = pc.VM(memory_bytes=pc.MiB(64))
INTERVAL_S = 0.1
DURATION_S = 5.0
WORKLOAD = W.Phased([(W.Sequential(region_bytes=pc.MiB(2), offset_bytes=pc.MiB(8), writes_per_s=4000), 1.0),
                     (W.HotCold(wws_bytes=pc.MiB(4), offset_bytes=pc.MiB(32), hot_fraction=0.95,
                                writes_per_s=6000), 1.5)])


def main(path=Path(__file__).resolve().parents[1] / "precopy" / "data" / "example_trace.npz"):
    tr = W.Trace.record(WORKLOAD, VM, DURATION_S, seed=2005)
    k = int(round(DURATION_S / INTERVAL_S))
    dirty = np.zeros((k, VM.n_pages), bool)
    dirty[np.minimum((tr.times_s / INTERVAL_S).astype(int), k - 1), tr.pages] = True
    np.savez_compressed(path, bitmaps=np.packbits(dirty, axis=1, bitorder="little"),
                        interval_s=INTERVAL_S, n_pages=VM.n_pages, page_bytes=VM.page_bytes,
                        synthetic=True)
    return path


if __name__ == "__main__":
    print(main())
