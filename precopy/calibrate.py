"""Fitting the parameters of the hypervisor presets to published rows in ``precopy/data/``.

``precopy calibrate`` (:func:`precopy.validation.calibrate_run`) fits every
parameter with :mod:`scipy.optimize` through :func:`fit` and writes
``precopy/data/calibration.json`` with :func:`precopy.calibration.save`; each
parameter is stored with its value, unit, method and the published rows it came
from.  :func:`fit` refits from any subset of the validation cases (``precopy
validate --cv source`` refits without each source).

Parameters and their rows:

* ``per_stream_gbps[vmware]``: one vMotion stream helper, fitted (least squares on
  log throughput, with the link model's shared line efficiency and sharpness) to
  the vMotion rows of ``precopy/data/migration_stream_throughput.csv`` (T1a-c, T2).
* ``device_fixed_s[vmware]`` and ``device_rate_mibps[vmware]``: the stun time of
  a vGPU VM is a fixed term + frame buffer / copy rate; fitted (least squares on
  log stun time) to the vSphere 6.7 table (``published_migrations_more.csv``,
  source N1).  Both describe vGPU migrations only (suspending and copying the
  GPU's state), so they apply only where device state is given; no published
  row gives the stun time of a vMotion without a vGPU, so ``vmware`` has no
  switchover term of its own and falls back to the QEMU terms (recorded as
  ``fallback``).
* ``background_mibps`` (idle guests' page writes, uniform over memory),
  ``switchover_fixed_s[qemu]``, ``switchover_per_gib_s[qemu]`` and
  ``switchover_fixed_s[xen]``: fitted together to every published downtime of a
  QEMU or Xen migration in the validation set.  The memory part of each downtime
  is simulated (or, where the source prints it, its published downtime RAM at
  the printed throughput); the switchover terms are linear in the residual and
  fitted by bounded least squares on log downtime for each candidate background
  rate, and the background rate by bounded scalar minimisation
  (:func:`scipy.optimize.minimize_scalar`) of the resulting sum of squares over
  a piecewise-linear interpolation (in log rate) of simulations on a fixed grid
  of rates.  A family without rows falls back to the QEMU terms (recorded as
  ``fallback``).
"""

from __future__ import annotations

import math

import numpy as np

from . import _validate as v
from .calibration import Calibration
from .units import GiB, MiB

__all__ = ["fit", "BG_GRID_MIBPS", "BG_GRID_SET_MIB", "fit_stream_ceilings", "fit_device_state", "fit_switchover",
           "UNMODELLED_WORKLOAD_RULES", "VMWARE_STREAM_ROWS"]

#: Background write rates (MiB/s) at which the memory part of each downtime is simulated.
BG_GRID_MIBPS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
#: Sizes (MiB) of the background set of pages an idle guest rewrites, on the same grid.
BG_GRID_SET_MIB = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
#: Workload rules whose memory part of the downtime is not modelled from published facts
#: (W5: a busy guest whose dirty rate is not published): their downtimes inform no fit.
UNMODELLED_WORKLOAD_RULES = ("W5",)
#: vMotion rows of precopy/data/migration_stream_throughput.csv fitted for the vMotion stream ceiling.
VMWARE_STREAM_ROWS = ("T1a", "T1b", "T1c", "T2")


def _cases(cases, name="cases"):
    """A list of validation cases (:class:`precopy.validation.Case` or alike: ``scenario``, ``kind``, ``measured``)."""
    if isinstance(cases, (str, bytes, dict)) or not hasattr(cases, "__iter__"):
        raise ValueError(f"{name} must be a sequence of validation cases (precopy.validation.Case); "
                         f"got {type(cases).__name__}")
    cases = list(cases)
    for i, c in enumerate(cases):
        if not all(hasattr(c, a) for a in ("scenario", "kind", "measured")):
            raise ValueError(f"{name}[{i}] must be a validation case (precopy.validation.Case); "
                             f"got {type(c).__name__}")
    return cases


def _ram_part(ram_part):
    if not callable(ram_part):
        raise ValueError(f"ram_part must be a callable ram_part(case, bg) -> s (e.g. precopy.validation.RamPart); "
                         f"got {type(ram_part).__name__}")
    return ram_part


# --- stream ceilings -----------------------------------------------------------------------

def fit_stream_ceilings(rows=VMWARE_STREAM_ROWS, name="vmware") -> dict:
    """Per-stream ceiling of one stream class fitted to rows of
    ``migration_stream_throughput.csv`` (least squares on log throughput).

    A row without a stated link (T2) is a single stream on an unbounded line.

    Examples
    --------
    >>> rec = fit_stream_ceilings()
    >>> 14 < rec["value"] < 17
    True
    """
    from scipy.optimize import least_squares
    from . import datasets
    from .hypervisors import PRESETS
    from .links import Link, fitted_parameters
    if isinstance(rows, (str, bytes)) or not hasattr(rows, "__iter__"):
        raise ValueError(f"rows must be a sequence of row ids (source_id of migration_stream_throughput.csv); "
                         f"got {rows!r}")
    rows = tuple(rows)
    if not rows:
        raise ValueError("rows must hold at least one row id (source_id of migration_stream_throughput.csv); got none")
    classes = sorted({h.stream_class for h in PRESETS.values() if h.stream_class not in (None, "qemu")})
    v.choice(name, "name", classes)
    par = fitted_parameters()["parameters"]
    eff, k = float(par["stack_efficiency"]["value"]), float(par["sharpness"]["value"])
    pts = [r for r in datasets.read_csv("migration_stream_throughput.csv") if r["source_id"] in rows]
    if len(pts) != len(rows):
        raise ValueError(f"migration_stream_throughput.csv: rows {rows} not all found")

    def model(ps_gbps, r):
        n = int(r["streams"])
        if not r["link_gbps"].strip():
            return n * ps_gbps * 1e9
        return Link(rate_bps=float(r["link_gbps"]) * 1e9, mtu=1500, streams=n, per_stream_bps=ps_gbps * 1e9,
                    stack_efficiency=eff, sharpness=k).goodput_bps

    meas = np.array([float(r["achieved_gbps"]) * 1e9 for r in pts])
    res = least_squares(lambda x: np.log([model(x[0], r) for r in pts]) - np.log(meas), [10.0],
                        bounds=([0.01], [1000.0]))
    resid = {r["source_id"]: float(e) for r, e in zip(pts, res.fun)}
    return {"value": float(res.x[0]), "unit": "Gbit/s", "rows": [r["source_id"] for r in pts],
            "file": "migration_stream_throughput.csv",
            "method": "scipy.optimize.least_squares on log achieved throughput; line efficiency and sharpness "
                      "from the link fit (MTU 1500)",
            "log_residuals": resid}


# --- device state (vGPU frame buffers) -----------------------------------------------------

def fit_device_state(cases) -> dict:
    """Fixed switchover term and device copy rate of the VMware family from the
    converged ``kind='device'`` cases (stun = fixed + bytes / rate)."""
    from scipy.optimize import least_squares
    cases = _cases(cases)
    pts = [c for c in cases if c.kind == "device" and c.measured["converged"] and c.measured["downtime_ms"]]
    if len(pts) < 2:
        return {}
    b = np.array([c.device_bytes for c in pts], float)
    d = np.array([c.measured["downtime_ms"] / 1e3 for c in pts])

    def f(x):
        return np.log(x[0] + b / (x[1] * MiB(1))) - np.log(d)

    res = least_squares(f, [1.0, 100.0], bounds=([0.0, 1e-3], [1e3, 1e6]))
    rows = [c.scenario for c in pts]
    meth = "scipy.optimize.least_squares on log stun time: stun = fixed + frame buffer / rate"
    return {"device_fixed_s[vmware]": {"value": float(res.x[0]), "unit": "s", "rows": rows, "method": meth},
            "device_rate_mibps[vmware]": {"value": float(res.x[1]), "unit": "MiB/s", "rows": rows, "method": meth}}


# --- switchover terms and background rate ---------------------------------------------------

def _family(c):
    from .hypervisors import get
    return get(c.hypervisor).family


def _grid(x, name, unit):
    """A strictly increasing grid of at least two positive values, as a tuple of floats."""
    a = v.reals(x, name, unit, lo=0.0, lo_open=True, min_len=2)
    if np.any(np.diff(a) <= 0):
        raise ValueError(f"{name} ({unit}) must be strictly increasing; got {a.tolist()}")
    return tuple(float(y) for y in a)


def fit_switchover(cases, ram_part, *, grid_mibps=BG_GRID_MIBPS, grid_set_mib=BG_GRID_SET_MIB) -> dict:
    """Fit the idle guests' background dirtying and the QEMU/Xen switchover terms.

    The background is a set of ``background_set_mib`` that an idle guest keeps
    rewriting at ``background_mibps`` (uniformly within the set), so the pages it
    leaves dirty saturate at the set size however long the migration runs.

    Parameters
    ----------
    cases : list
        Validation cases (:class:`precopy.validation.Case`); those with a measured
        downtime of a converged migration and family ``qemu`` or ``xen`` are used.
    ram_part : callable
        ``ram_part(case, bg)`` -> seconds: the memory part of the case's downtime
        with background ``bg = (set_mib, mibps)`` (or None: no background);
        simulated and cached by the caller.
    """
    from scipy.interpolate import RegularGridInterpolator
    from scipy.optimize import least_squares, minimize
    cases = _cases(cases)
    ram_part = _ram_part(ram_part)
    grid_mibps = _grid(grid_mibps, "grid_mibps", "MiB/s")
    grid_set_mib = _grid(grid_set_mib, "grid_set_mib", "MiB")
    pts = [c for c in cases if c.kind in ("sim", "downtime") and c.measured["downtime_ms"]
           and c.measured["converged"] and _family(c) in ("qemu", "xen")
           and getattr(c, "workload_rule", "") not in UNMODELLED_WORKLOAD_RULES]
    if not pts:
        return {}
    fam = [_family(c) for c in pts]
    mem = np.array([c.memory_bytes / GiB(1) for c in pts])
    meas = np.array([c.measured["downtime_ms"] / 1e3 for c in pts])
    bg_rows = [c for c in pts if c.uses_background]
    gx, gy = np.log10(np.array(grid_set_mib)), np.log10(np.array(grid_mibps))
    interps = []
    for c in pts:
        if c.uses_background:
            vals = np.array([[ram_part(c, (w, r)) for r in grid_mibps] for w in grid_set_mib])
            interps.append(RegularGridInterpolator((gx, gy), vals))
        else:
            interps.append(ram_part(c, None))
    qmem = sorted({round(m, 3) for m, f in zip(mem, fam) if f == "qemu"})
    per_gib = len(qmem) >= 2 and max(qmem) / max(min(qmem), 1e-9) >= 8
    has_x, has_q = "xen" in fam, "qemu" in fam
    nq = (1 + per_gib) if has_q else 0

    def inner(ram):
        def f(x):
            out = np.empty(len(pts))
            for i, fm in enumerate(fam):
                if fm == "qemu" or not has_q:
                    sw = x[0] + (x[1] * mem[i] if per_gib and has_q else 0.0)
                else:
                    sw = x[nq]
                out[i] = math.log(max(ram[i] + sw, 1e-6)) - math.log(meas[i])
            return out

        x0 = [0.02] * (max(nq, 1) + (1 if has_x and has_q else 0))
        if per_gib:
            x0[1] = 1e-4
        res = least_squares(f, x0, bounds=(0.0, np.inf))
        return float(np.sum(res.fun ** 2)), res

    def ram_at(z):
        return [float(it([z])[0]) if callable(it) else it for it in interps]

    def sse(z):
        return inner(ram_at(z))[0]

    best = None
    if bg_rows:
        cand = [(sse(np.array([x, y])), x, y) for x in gx for y in gy]
        s0, x0, y0 = min(cand)
        opt = minimize(sse, [x0, y0], method="L-BFGS-B", bounds=[(gx[0], gx[-1]), (gy[0], gy[-1])])
        best = np.array(opt.x) if opt.fun <= s0 else np.array([x0, y0])
    zero_ram = [ram_part(c, None) if c.uses_background else it for c, it in zip(pts, interps)]
    zero_sse = inner(zero_ram)[0]
    if best is not None and sse(best) < zero_sse:
        ram, set_mib, mibps = ram_at(best), float(10 ** best[0]), float(10 ** best[1])
    else:
        ram, set_mib, mibps = zero_ram, 0.0, 0.0
    s, res = inner(ram)
    names = [c.scenario for c in pts]
    qrows = [n for n, f in zip(names, fam) if f == "qemu"]
    xrows = [n for n, f in zip(names, fam) if f == "xen"]
    meth = ("scipy.optimize.least_squares (bounds >= 0) on log downtime for the switchover terms, inside "
            "scipy.optimize.minimize (L-BFGS-B, log10 set size and rate) for the background; the memory part "
            "of each downtime simulated on a grid of background sets and rates, interpolated bilinearly in logs")
    brows = [c.scenario for c in bg_rows]
    out = {"background_set_mib": {"value": set_mib, "unit": "MiB", "rows": brows, "method": meth,
                                  "grid": list(grid_set_mib), "sse_log": s},
           "background_mibps": {"value": mibps, "unit": "MiB/s", "rows": brows, "method": meth,
                                "grid": list(grid_mibps)}}
    x = list(res.x)
    if has_q:
        out["switchover_fixed_s[qemu]"] = {"value": x[0], "unit": "s", "rows": qrows, "method": meth}
        if per_gib:
            out["switchover_per_gib_s[qemu]"] = {"value": x[1], "unit": "s/GiB", "rows": qrows, "method": meth}
        else:
            out["switchover_per_gib_s[qemu]"] = {"value": None, "unit": "s/GiB", "rows": [],
                                                 "fallback": "0 (guest sizes span less than a factor of 8)"}
    else:
        out["switchover_fixed_s[qemu]"] = {"value": None, "unit": "s", "rows": [],
                                           "fallback": "0 (no QEMU downtime rows)"}
    if has_x:
        out["switchover_fixed_s[xen]"] = {"value": x[nq] if has_q else x[0], "unit": "s", "rows": xrows,
                                          "method": meth}
    else:
        out["switchover_fixed_s[xen]"] = {"value": None, "unit": "s", "rows": [],
                                          "fallback": "switchover_fixed_s[qemu]"}
    return out


def fit(cases, ram_part) -> Calibration:
    """Fit every parameter from ``cases`` (see the module notes).

    ``ram_part(case, bg)`` gives the memory part of a case's downtime with
    background ``(set_mib, mibps)`` or None (:class:`precopy.validation.RamPart`)."""
    cases = _cases(cases)
    ram_part = _ram_part(ram_part)
    params = {"per_stream_gbps[vmware]": fit_stream_ceilings()}
    params.update(fit_device_state(cases))
    params["switchover_fixed_s[vmware]"] = {"value": None, "unit": "s", "rows": [],
                                            "fallback": "switchover_fixed_s[qemu]"}
    if "device_fixed_s[vmware]" not in params:
        params["device_fixed_s[vmware]"] = {"value": None, "unit": "s", "rows": [],
                                                "fallback": "switchover_fixed_s[qemu]"}
        params["device_rate_mibps[vmware]"] = {"value": None, "unit": "MiB/s", "rows": []}
    params.update(fit_switchover(cases, ram_part))
    return Calibration(params)
