"""precopy: simulate and model pre-copy live migration of virtual machines.

>>> import precopy as pc
>>> vm = pc.VM(memory_bytes=pc.GiB(16), page_bytes=pc.KiB(4))
>>> wl = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=200_000)
>>> link = pc.Link(rate_bps=pc.Gbps(10))
>>> r = pc.simulate(vm, wl, link, policy=pc.policies.QEMU(max_bandwidth_bps=None), seed=1)
>>> r.converged, r.n_rounds
(True, 8)

Under QEMU's default 128 MiB/s ``max-bandwidth`` the hot set never fits 300 ms:

>>> r = pc.simulate(vm, wl, link, policy=pc.policies.QEMU(timeout_s=300), seed=1)
>>> r.converged, r.stop_reason
(False, 'timeout')

Importing the package is cheap: the submodules (and numba, SciPy, Matplotlib behind
them) are imported on first use of a name, so ``import precopy`` and ``precopy --help``
start fast.
"""

import importlib
import sys
import types

from .units import GB, KB, MB, GiB, GiBps, KiB, MiB, MiBps, TiB, Gbps, Mbps, kbps, ms, us

__version__ = "0.1.0"

#: public submodules, imported on first access (``pc.workloads``, ``pc.policies``, ...)
_SUBMODULES = ("aids", "analytic", "datasets", "figures", "linkfit", "links", "plotting", "policies", "predict",
               "results", "storage", "sweeps", "units", "validation", "vm", "widgets", "workload_fit",
               "workloads", "drain", "calibration", "calibrate", "hypervisors", "scenario", "hvstats", "eta",
               "orchestrators", "planning")
#: public names -> the submodule that defines them
_NAMES = {
    "VM": "vm", "Switchover": "vm", "Link": "links", "predict_table": "predict",
    "MigrationResult": "results", "RoundTable": "results",
    "Prepared": "simulate", "warmup": "simulate", "plan": "planning",
}

__all__ = [
    "VM", "Switchover", "Link", "simulate", "warmup", "Prepared", "MigrationResult", "RoundTable",
    "workloads", "policies", "aids", "storage", "analytic", "units", "links", "datasets", "linkfit",
    "workload_fit", "validation", "predict_table", "drain", "hvstats", "eta", "orchestrators", "planning", "plan",
    "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "kbps", "Mbps", "Gbps", "MiBps", "GiBps", "ms", "us",
]


def __getattr__(name):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


def _function_over_submodule(name):
    """A package property: ``pc.<name>`` is the function ``precopy.<name>.<name>``, although
    ``precopy.<name>`` is also a submodule (which the import system records as an attribute
    of the package when it is imported): that must not replace the function."""

    def get(self):
        return getattr(importlib.import_module(f".{name}", __name__), name)

    def set_(self, value):
        if not isinstance(value, types.ModuleType):     # the import system setting the submodule
            raise AttributeError(f"precopy.{name} is the {name}() function; it cannot be replaced")

    return property(get, set_)


class _Package(types.ModuleType):
    simulate = _function_over_submodule("simulate")
    warmup = _function_over_submodule("warmup")


sys.modules[__name__].__class__ = _Package
