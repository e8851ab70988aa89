"""Fit the link model to published migration throughputs.

The model (:class:`precopy.links.Link`) predicts the goodput of ``n`` streams on
a link of nominal rate ``R`` and MTU ``m`` as::

    line    = R * framing_efficiency(m) * stack_efficiency
    streams = n * per_stream[class]
    goodput = (line**-k + streams**-k) ** (-1/k)          # k = sharpness

Four parameters are fitted with :func:`scipy.optimize.least_squares` on the
logarithm of the achieved throughputs in ``precopy/data/link_fit_points.csv``:
``stack_efficiency`` and ``sharpness`` (shared by every link), and the
per-stream ceilings of the ``modern`` and ``hyperv-2012`` stream classes.
Standard errors come from the Jacobian at the optimum
(``cov = s**2 (J^T J)^-1`` with ``s**2`` the residual variance).

MTU rule (rule M in ``data/README.md``): no source states its MTU.  A testbed
is assumed to use 1500 unless one of its published throughputs exceeds the
MTU-1500 payload capacity, which proves jumbo frames (then 9000).
:func:`mtu_by_rule` applies it; the ``mtu_assumed`` column must agree.

``precopy fit-links`` (:func:`run`) re-runs the fit and rewrites
``precopy/data/link_profiles.json``, from which :func:`precopy.links.profile` reads.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import datasets
from .links import PROFILE_NAMES, PROFILES_PATH, STREAM_CLASSES, framing_efficiency, soft_min

__all__ = ["FitPoint", "LinkFit", "load_points", "mtu_by_rule", "model_gbps", "fit_links", "write_profiles",
           "PARAM_NAMES", "POINTS_FILE", "WINDOW_BYTES", "PROFILE_RATES_GBPS", "EXTRAPOLATED"]

POINTS_FILE = "link_fit_points.csv"
PARAM_NAMES = ("stack_efficiency", "sharpness", "per_stream_gbps[modern]", "per_stream_gbps[hyperv-2012]")
_UNITS = ("fraction of framed payload capacity", "soft-min exponent", "Gbit/s", "Gbit/s")
_BOUNDS = (np.array([0.5, 1.0, 0.1, 0.1]), np.array([1.0, 50.0, 400.0, 400.0]))
_START = np.array([0.97, 4.0, 15.0, 3.0])
#: Bytes a TCP stream may have in flight (not fitted): Linux's default ``tcp_wmem``
#: maximum, 4 MiB (Documentation/networking/ip-sysctl.rst).  Bounds a stream to
#: ``window / RTT``; matters only when an RTT is given.
WINDOW_BYTES = 4 * 2**20
PROFILE_RATES_GBPS = {"1GbE": 1.0, "10GbE": 10.0, "25GbE": 25.0, "40GbE": 40.0, "100GbE": 100.0}
#: Profiles flagged as extrapolations: above the range of the whole-migration
#: measurements the model is validated on, with throughput points from vMotion and
#: Cloud Hypervisor only.
EXTRAPOLATED = ("40GbE", "100GbE")


@dataclass(frozen=True)
class FitPoint:
    """One published throughput used by (or excluded from) the fit."""

    point_id: str
    source_id: str
    system: str
    testbed: str
    stream_class: str
    link_gbps: float | None
    streams: int
    achieved_gbps: float
    mtu: int | None
    use: bool
    exclusion_reason: str
    exactness: str
    source: str


def _num(s):
    s = (s or "").strip()
    return None if s == "" else float(s)


def _file_name(x, name):
    if isinstance(x, bool) or not isinstance(x, (str, os.PathLike)):
        raise ValueError(f"{name} must be a file name (str or os.PathLike); got {type(x).__name__}")


def load_points(path=POINTS_FILE) -> list[FitPoint]:
    """Read ``precopy/data/link_fit_points.csv`` (all rows, used and excluded).

    Examples
    --------
    >>> pts = load_points()
    >>> sum(p.use for p in pts) >= 10
    True
    """
    out = []
    _file_name(path, "path")
    rows = datasets.read_csv(path)
    need = ("point_id", "source_id", "system", "testbed", "stream_class", "link_gbps", "streams", "achieved_gbps",
            "mtu_assumed", "use", "exclusion_reason", "exactness", "source")
    missing = [c for c in need if rows and c not in rows[0]]
    if missing:
        raise ValueError(f"path {path!s}: missing column(s) {', '.join(missing)}")
    for i, r in enumerate(rows, start=1):
        use = r["use"].strip().lower()
        if use not in ("yes", "no"):
            raise ValueError(f"{path} row {i}: column 'use' must be 'yes' or 'no'; got {r['use']!r}")
        cls = r["stream_class"].strip()
        if use == "yes" and cls not in STREAM_CLASSES:
            raise ValueError(f"{path} row {i}: column 'stream_class' must be one of {STREAM_CLASSES}; got {cls!r}")
        mtu = _num(r["mtu_assumed"])
        out.append(FitPoint(
            point_id=r["point_id"], source_id=r["source_id"], system=r["system"], testbed=r["testbed"],
            stream_class=cls, link_gbps=_num(r["link_gbps"]), streams=int(float(r["streams"])),
            achieved_gbps=float(r["achieved_gbps"]), mtu=None if mtu is None else int(mtu),
            use=use == "yes", exclusion_reason=r["exclusion_reason"], exactness=r["exactness"],
            source=r["source"]))
    return out


def mtu_by_rule(points: list[FitPoint]) -> dict[str, int | None]:
    """Rule M: per testbed, 9000 if any of its throughputs exceeds the MTU-1500
    payload capacity of its link, else 1500 (None when the link speed is unknown).

    Examples
    --------
    >>> rule = mtu_by_rule(load_points())
    >>> rule["chv-pr7669-100g"], rule["vmware-kb323379-40g"]
    (9000, 1500)
    """
    if isinstance(points, (str, bytes)) or not hasattr(points, "__iter__") or \
            not all(isinstance(p, FitPoint) for p in points):
        raise ValueError(f"points must be a list of FitPoint (from load_points()); got {points!r:.80}")
    cap = framing_efficiency(1500)
    out: dict[str, int | None] = {}
    for p in points:
        if not p.use:
            continue
        if p.link_gbps is None:
            out.setdefault(p.testbed, None)
            continue
        jumbo = p.achieved_gbps > p.link_gbps * cap
        out[p.testbed] = 9000 if (jumbo or out.get(p.testbed) == 9000) else 1500
    return out


def model_gbps(theta, link_gbps, mtu, streams, stream_class) -> float:
    """Goodput (Gbit/s) the model gives one point for parameters ``theta``
    (in the order of :data:`PARAM_NAMES`)."""
    from . import _validate as v
    if isinstance(theta, (str, bytes)) or not hasattr(theta, "__len__") or len(theta) != len(PARAM_NAMES):
        raise ValueError(f"theta must hold the {len(PARAM_NAMES)} parameters {', '.join(PARAM_NAMES)}; got {theta!r}")
    eta, k, s_modern, s_hv = (v.real(x, f"theta[{n}]", "model parameter", lo=0.0, lo_open=True)
                              for x, n in zip(theta, PARAM_NAMES))
    if link_gbps is not None:
        link_gbps = v.real(link_gbps, "link_gbps", "Gbit/s", lo=0.0, lo_open=True, hi=1e4)
    streams = v.integer(streams, "streams", "count", lo=1, hi=1024)
    v.choice(stream_class, "stream_class", STREAM_CLASSES)
    line = math.inf if link_gbps is None else link_gbps * framing_efficiency(mtu) * eta
    per = {"modern": s_modern, "hyperv-2012": s_hv, "none": math.inf}[stream_class]
    return soft_min(line, streams * per, k)


@dataclass(frozen=True)
class LinkFit:
    """Result of :func:`fit_links`.

    Attributes
    ----------
    values, std_errors : dict
        Parameter -> estimate, and its standard error (same units).
    covariance : ndarray
        Covariance of the estimates (order of :data:`PARAM_NAMES`).
    points : list of FitPoint
        The points fitted.
    fitted_gbps : ndarray
        Model goodput at each point.
    rms_log_residual : float
        Root-mean-square of ``log(fitted / measured)``.
    at_bound : tuple of str
        Parameters that ended on a bound (their standard error is not meaningful).
    """

    values: dict
    std_errors: dict
    covariance: np.ndarray
    points: list
    fitted_gbps: np.ndarray
    rms_log_residual: float
    at_bound: tuple

    @property
    def rel_residuals(self) -> np.ndarray:
        """``fitted / measured - 1`` per point."""
        return self.fitted_gbps / np.array([p.achieved_gbps for p in self.points]) - 1.0

    @property
    def max_abs_rel_residual(self) -> float:
        return float(np.max(np.abs(self.rel_residuals)))

    def theta(self) -> np.ndarray:
        return np.array([self.values[n] for n in PARAM_NAMES])

    def table(self) -> str:
        """Parameters and per-point residuals as readable text."""
        lines = [f"{'parameter':32s} {'value':>10s} {'std err':>10s}  unit"]
        for n, u in zip(PARAM_NAMES, _UNITS):
            flag = "  (at bound)" if n in self.at_bound else ""
            lines.append(f"{n:32s} {self.values[n]:10.4f} {self.std_errors[n]:10.4f}  {u}{flag}")
        lines.append(f"\n{len(self.points)} points, rms log residual {self.rms_log_residual:.4f}, "
                     f"max |relative residual| {self.max_abs_rel_residual:.4f}\n")
        lines.append(f"{'point':13s} {'class':12s} {'link':>5s} {'mtu':>5s} {'n':>3s} "
                     f"{'measured':>9s} {'fitted':>9s} {'resid':>7s}")
        for p, g, r in zip(self.points, self.fitted_gbps, self.rel_residuals):
            link = "-" if p.link_gbps is None else f"{p.link_gbps:g}"
            lines.append(f"{p.point_id:13s} {p.stream_class:12s} {link:>5s} {str(p.mtu or '-'):>5s} "
                         f"{p.streams:3d} {p.achieved_gbps:9.3f} {g:9.3f} {r:+7.1%}")
        return "\n".join(lines)


def fit_links(path=POINTS_FILE, *, check_mtu_rule: bool = True) -> LinkFit:
    """Fit the link model to the used points of ``precopy/data/link_fit_points.csv``.

    Parameters
    ----------
    path : path or str
        The points file (name in ``data/`` or a path).
    check_mtu_rule : bool, default True
        Check every ``mtu_assumed`` against rule M (off only for synthetic points).

    Returns
    -------
    LinkFit

    Raises
    ------
    ValueError
        If a point's ``mtu_assumed`` disagrees with rule M (:func:`mtu_by_rule`).

    References
    ----------
    ``data/README.md`` (rule M, point selection); SciPy ``optimize.least_squares``.

    Examples
    --------
    >>> f = fit_links()
    >>> 10 < f.values["per_stream_gbps[modern]"] < 20
    True
    """
    from scipy.optimize import least_squares

    _file_name(path, "path")
    if not isinstance(check_mtu_rule, bool):
        raise ValueError(f"check_mtu_rule must be True or False; got {check_mtu_rule!r}")
    pts = load_points(path)
    rule = mtu_by_rule(pts)
    used = [p for p in pts if p.use]
    for p in used:
        if check_mtu_rule and p.mtu != rule[p.testbed]:
            raise ValueError(f"{path}: point {p.point_id}: column 'mtu_assumed' is {p.mtu}, "
                             f"but rule M gives {rule[p.testbed]} for testbed {p.testbed}")
    y = np.log([p.achieved_gbps for p in used])

    def resid(theta):
        return np.log([model_gbps(theta, p.link_gbps, p.mtu, p.streams, p.stream_class) for p in used]) - y

    sol = least_squares(resid, _START, bounds=_BOUNDS, x_scale=np.array([0.05, 1.0, 1.0, 1.0]),
                        xtol=1e-12, ftol=1e-12, gtol=1e-12)
    m, k = len(used), len(PARAM_NAMES)
    s2 = float(sol.fun @ sol.fun) / max(m - k, 1)
    J = sol.jac
    cov = np.linalg.pinv(J.T @ J) * s2
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    lo, hi = _BOUNDS
    at_bound = tuple(n for n, x, a, b in zip(PARAM_NAMES, sol.x, lo, hi)
                     if abs(x - a) <= 1e-6 * max(1.0, abs(a)) or abs(x - b) <= 1e-6 * max(1.0, abs(b)))
    fitted = np.exp(y + sol.fun)
    return LinkFit(values=dict(zip(PARAM_NAMES, map(float, sol.x))), std_errors=dict(zip(PARAM_NAMES, map(float, se))),
                   covariance=cov, points=used, fitted_gbps=fitted,
                   rms_log_residual=float(np.sqrt(np.mean(sol.fun ** 2))), at_bound=at_bound)


def _goodput_with_se(fit: LinkFit, link_gbps, mtu, streams, cls="modern"):
    th = fit.theta()
    g0 = model_gbps(th, link_gbps, mtu, streams, cls)
    grad = np.zeros(len(th))
    for i in range(len(th)):
        h = 1e-6 * max(1.0, abs(th[i]))
        tp = th.copy()
        tp[i] += h
        grad[i] = (model_gbps(tp, link_gbps, mtu, streams, cls) - g0) / h
    return g0, float(math.sqrt(max(grad @ fit.covariance @ grad, 0.0)))


def fit_record(fit: LinkFit, points_path=POINTS_FILE) -> dict:
    """The JSON record :func:`write_profiles` stores (parameters, residuals, profiles)."""
    all_pts = load_points(points_path)
    profiles = {}
    for name in PROFILE_NAMES:
        rate = PROFILE_RATES_GBPS[name]
        table = {}
        for mtu in (1500, 9000):
            for n in (1, 2, 4, 8):
                g, se = _goodput_with_se(fit, rate, mtu, n)
                table[f"mtu{mtu}_streams{n}"] = {"goodput_gbps": round(g, 6), "std_error_gbps": round(se, 6)}
        profiles[name] = {
            "rate_gbps": rate,
            "extrapolation": name in EXTRAPOLATED,
            "evidence": [p.point_id for p in fit.points if p.link_gbps == rate],
            "goodput_modern_streams": table,
        }
    return {
        "model": ("goodput = softmin_k(R * framing_efficiency(mtu) * stack_efficiency, "
                  "streams * per_stream_gbps[class]); softmin_k(a, b) = (a^-k + b^-k)^(-1/k), "
                  "k = sharpness; then min(goodput, cap); per stream also <= window_bytes*8/rtt"),
        "method": "scipy.optimize.least_squares on log(goodput); std errors from (J^T J)^-1 * rss/(m - p)",
        "points_file": f"precopy/data/{Path(points_path).name}",
        "parameters": {n: {"value": fit.values[n], "std_error": fit.std_errors[n], "unit": u,
                           "at_bound": n in fit.at_bound}
                       for n, u in zip(PARAM_NAMES, _UNITS)},
        "correlation": _correlation(fit.covariance).round(4).tolist(),
        "fixed": {"window_bytes": WINDOW_BYTES,
                  "window_source": "Linux tcp_wmem maximum default (Documentation/networking/ip-sysctl.rst)"},
        "summary": {"n_points": len(fit.points), "n_parameters": len(PARAM_NAMES),
                    "rms_log_residual": fit.rms_log_residual,
                    "max_abs_rel_residual": fit.max_abs_rel_residual},
        "residuals": [
            {"point_id": p.point_id, "source_id": p.source_id, "system": p.system, "stream_class": p.stream_class,
             "link_gbps": p.link_gbps, "mtu": p.mtu, "streams": p.streams, "measured_gbps": p.achieved_gbps,
             "fitted_gbps": float(g), "rel_residual": float(r), "exactness": p.exactness, "source": p.source}
            for p, g, r in zip(fit.points, fit.fitted_gbps, fit.rel_residuals)],
        "excluded": [{"point_id": p.point_id, "source_id": p.source_id, "reason": p.exclusion_reason}
                     for p in all_pts if not p.use],
        "profiles": profiles,
    }


def _correlation(cov):
    d = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    return cov / np.outer(d, d)


def write_profiles(points_path=POINTS_FILE, out_path=PROFILES_PATH) -> LinkFit:
    """Re-run :func:`fit_links` and rewrite the stored profile file.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = write_profiles(out_path=os.path.join(d, "p.json"))
    >>> f.rms_log_residual < 0.2
    True
    """
    from . import links

    _file_name(points_path, "points_path")
    _file_name(out_path, "out_path")
    if Path(out_path).is_dir():
        raise ValueError(f"out_path {out_path!s}: is a directory; give the JSON file to write")
    fit = fit_links(points_path)
    rec = fit_record(fit, points_path)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")
    tmp.replace(out)
    links.forget_fitted_parameters()
    return fit


# --- CLI: precopy fit-links ------------------------------------------------------------

def add_arguments(p):
    p.add_argument("--points", default=POINTS_FILE,
                   help="fit points CSV (default: precopy/data/link_fit_points.csv)")
    p.add_argument("--output", default=str(PROFILES_PATH),
                   help="profile JSON to write (default: the packaged precopy/data/link_profiles.json)")
    p.add_argument("--check", action="store_true",
                   help="do not write; exit 1 if the stored parameters differ from a fresh fit")


def run(args) -> int:
    from .links import fitted_parameters

    if args.check:
        fit = fit_links(args.points)
        print(fit.table())
        stored = fitted_parameters(args.output)["parameters"]
        bad = [n for n in PARAM_NAMES
               if not math.isclose(stored[n]["value"], fit.values[n], rel_tol=1e-6, abs_tol=1e-9)]
        if bad:
            print(f"\nstored parameters in {args.output} are out of date: {', '.join(bad)}")
            return 1
        print(f"\nstored parameters in {args.output} match the fit")
        return 0
    fit = write_profiles(args.points, args.output)
    print(fit.table())
    print(f"\nwrote {args.output}")
    return 0
