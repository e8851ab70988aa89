"""precopy: simulate and model pre-copy live migration of virtual machines.

>>> import precopy as pc
>>> vm = pc.VM(memory_bytes=pc.GiB(16), page_bytes=pc.KiB(4))
>>> wl = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=200_000)
>>> link = pc.Link(rate_bps=pc.Gbps(10))
>>> r = pc.simulate(vm, wl, link, policy=pc.policies.QEMU(max_bandwidth_bps=None), seed=1)
>>> r.converged, r.n_rounds
(True, 5)

Under QEMU's default 128 MiB/s ``max-bandwidth`` the hot set never fits 300 ms:

>>> r = pc.simulate(vm, wl, link, policy=pc.policies.QEMU(timeout_s=300), seed=1)
>>> r.converged, r.stop_reason
(False, 'timeout')
"""

from . import (aids, analytic, datasets, eta, hvstats, linkfit, links, orchestrators, planning, policies, storage,
               units, validation, workload_fit, workloads)
from .links import Link
from .planning import plan
from .predict import predict_table
from .results import MigrationResult, RoundTable
from .simulate import Prepared, simulate, warmup
from .units import GB, KB, MB, GiB, GiBps, KiB, MiB, MiBps, TiB, Gbps, Mbps, kbps, ms, us
from .vm import VM, Switchover

__version__ = "0.1.0"

__all__ = [
    "VM", "Switchover", "Link", "simulate", "warmup", "Prepared", "MigrationResult", "RoundTable",
    "workloads", "policies", "aids", "storage", "analytic", "units", "links", "datasets", "linkfit",
    "workload_fit", "validation", "predict_table", "hvstats", "eta", "orchestrators", "planning", "plan",
    "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "kbps", "Mbps", "Gbps", "MiBps", "GiBps", "ms", "us",
]
