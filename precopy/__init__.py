"""precopy: simulate and model pre-copy live migration of virtual machines.

>>> import precopy as pc
>>> vm = pc.VM(memory_bytes=pc.GiB(16), page_bytes=pc.KiB(4))
>>> wl = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=200_000)
>>> link = pc.Link(rate_bps=pc.Gbps(10))
>>> r = pc.simulate(vm, wl, link, policy=pc.policies.QEMU(downtime_limit_s=0.3), seed=1)
>>> r.converged
True
"""

from . import analytic, datasets, linkfit, links, policies, units, validation, workload_fit, workloads
from .links import Link
from .predict import predict_table
from .results import MigrationResult, RoundTable
from .simulate import Prepared, simulate, warmup
from .units import GB, KB, MB, GiB, GiBps, KiB, MiB, MiBps, TiB, Gbps, Mbps, kbps, ms, us
from .vm import VM, Switchover

__version__ = "0.1.0"

__all__ = [
    "VM", "Switchover", "Link", "simulate", "warmup", "Prepared", "MigrationResult", "RoundTable",
    "workloads", "policies", "analytic", "units", "links", "datasets", "linkfit", "workload_fit", "validation",
    "predict_table",
    "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "kbps", "Mbps", "Gbps", "MiBps", "GiBps", "ms", "us",
]
