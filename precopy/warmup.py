"""Compile every kernel path once, so that the first real call is fast."""

from __future__ import annotations

import numpy as np

from . import aids as A
from . import analytic, storage
from . import workloads as W
from .links import Link
from .policies import Custom, XenLegacy
from .scenario import Prepared
from .units import KiB, MiB
from .vm import VM

__all__ = ["warmup"]


def warmup() -> None:
    """Compile every kernel path once (skip on/off, each workload kind, the
    analytic models' round loops).

    With numba's cache on disk a second process loads them in milliseconds; call
    this when a notebook or widget starts so that the first slider move is fast.
    """
    vm = VM(memory_bytes=MiB(1), page_bytes=KiB(4), zero_fraction=0.1)
    link = Link(rate_bps=1e9)
    wls = [W.Idle(), W.HotCold(wws_bytes=KiB(64), writes_per_s=1e4), W.Zipf(writes_per_s=1e4),
           W.Sequential(region_bytes=KiB(64), writes_per_s=1e4),
           W.Trace(times_s=np.array([0.0, 1e-4]), pages=np.array([1, 2]), loop=True)]
    for wl in wls:
        for pol in (Custom(max_rounds=5), XenLegacy(max_rounds=5)):
            Prepared(vm, wl, link, pol).run(0)
            Prepared(vm, wl, link, pol, aids=[A.XBZRLE(cache_bytes=KiB(64))]).run(0)
    storage.migrate_disk(storage.Disk(size_bytes=MiB(1)), wls[1], storage.StoragePath(rate_Bps=1e8), "mirror")
    for model in ("saturation", "hotcold", "geometric"):
        analytic.predict(vm, wls[1], link, Custom(max_rounds=5), model=model)
    analytic.predict(vm, wls[1], link, XenLegacy(max_rounds=5), model="saturation")
