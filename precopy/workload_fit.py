"""Fit workload parameters to what a migration or a dirty-rate probe observed.

Two kinds of observation identify a hot/cold workload
(:class:`precopy.workloads.HotCold`: ``writes_per_s`` page writes per second, a
share ``hot_fraction`` of them on a hot set of ``wws_bytes``, the rest uniform
over all memory):

* **per-round transfers** of a past migration, pages (or bytes) sent in each
  round with the round durations, as Clark et al. (NSDI 2005) published for
  SPECweb99, Quake 3 and MMuncher (:func:`fit_rounds`);
* **distinct dirty pages sampled at increasing intervals**, what QEMU's
  ``calc-dirty-rate`` measures (:func:`fit_dirty_samples`).

Both use the expected number of distinct pages a stationary random workload
dirties in ``t`` seconds: a page written with probability ``p`` per write stays
clean with probability ``(1 - p) ** (w t)``, so

    E[D(t)] = sum over pages of 1 - (1 - p) ** (w t)

(the saturation formula of the merged QEMU calc-dirty-rate commit, applied to the
two page classes).  With page skip (Xen legacy), a page dirtied in round ``i``
is sent in round ``i+1`` only if it is not written again before the sender
reaches it; with the send time uniform over the round that happens with
probability ``(1 - q) / (a T)``, ``q = exp(-a T)``, ``a = -w log(1 - p)``.

Parameters are fitted on the logarithm of the counts with
:func:`scipy.optimize.least_squares` (several starts, the best kept);
standard errors come from the Jacobian at the optimum.  Parameters a source
states (e.g. MMuncher's 256 MB region) can be fixed.

References
----------
C. Clark et al., "Live Migration of Virtual Machines", NSDI 2005, Sec. 6.
QEMU ``migration/dirtyrate.c`` (calc-dirty-rate); A. Gudkov, qemu-devel 2023.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _validate as v
from . import datasets
from .units import KiB, MiB

__all__ = [
    "WorkloadFit", "expected_distinct_pages", "expected_round_pages", "fit_rounds", "fit_dirty_samples",
    "sample_dirty_pages", "ClarkRun", "clark_runs", "clark_round_durations", "clark_demo", "PARAMS",
]

#: Fitted parameters, in order.
PARAMS = ("writes_per_s", "wws_bytes", "hot_fraction")
#: Clark et al.'s adaptive rate limit (NSDI 2005, Sec. 5.1): first pass at the
#: administrator's minimum (100 Mbit/s in Sec. 6), then the previous round's dirty
#: rate + 50 Mbit/s, at most 500 Mbit/s.
CLARK_START_MBPS, CLARK_INCREMENT_MBPS, CLARK_MAX_MBPS = 100.0, 50.0, 500.0


# --- the model --------------------------------------------------------------------------

def _classes(n_pages, writes_per_s, wws_pages, hot_fraction):
    """Page classes of a HotCold workload: (counts, per-page hazard in 1/s)."""
    N, H, h, w = float(n_pages), float(wws_pages), float(hot_fraction), float(writes_per_s)
    p_cold = (1.0 - h) / N
    p_hot = (h / H if H > 0 else 0.0) + p_cold
    counts = np.array([H, N - H])
    p = np.array([p_hot, p_cold])
    haz = -w * np.log1p(-np.minimum(p, 1.0 - 1e-16))
    return counts, haz


def expected_distinct_pages(n_pages, writes_per_s, wws_pages, hot_fraction, t_s):
    """Expected distinct pages a HotCold workload dirties in ``t_s`` seconds.

    Parameters
    ----------
    n_pages : int
        Guest pages.
    writes_per_s : float
        Page writes per second.
    wws_pages : float
        Hot-set size in pages (fractional values allowed while fitting).
    hot_fraction : float
        Share of writes on the hot set.
    t_s : float or array
        Interval(s) in seconds.

    Returns
    -------
    ndarray
        Expected distinct dirty pages per interval.

    Examples
    --------
    >>> round(float(expected_distinct_pages(1000, 1000, 0, 0.0, 1.0)[0]), 1)   # uniform: 1000 (1 - e^-1)
    632.3
    """
    from .analytic import expected_distinct_groups       # the package's one implementation
    t = np.atleast_1d(np.asarray(t_s, np.float64))
    N, H, h = float(n_pages), float(wws_pages), float(hot_fraction)
    p_cold = (1.0 - h) / N
    probs = np.array([(h / H if H > 0 else 0.0) + p_cold, p_cold])
    return expected_distinct_groups(float(writes_per_s) * t, probs, np.array([H, N - H]))


def _kept(x):
    """(1 - exp(-x)) / x, the chance a dirty page is not re-dirtied before its
    uniformly placed send time (x = hazard x round duration); 1 at x = 0."""
    x = np.asarray(x, np.float64)
    out = np.ones_like(x)
    nz = x > 1e-12
    out[nz] = -np.expm1(-x[nz]) / x[nz]
    return out


def expected_round_pages(n_pages, writes_per_s, wws_pages, hot_fraction, durations_s, page_skip=False,
                         first_round=False):
    """Expected pages sent in rounds 1..n given the durations of rounds 0..n.

    Round ``i+1`` sends the pages dirtied during round ``i``; the last round is
    the stop-and-copy (VM paused: nothing skipped).  With ``page_skip`` a page is
    skipped in a live round if re-dirtied before the sender reaches it, the bulk
    pass (round 0) included.

    Parameters
    ----------
    n_pages, writes_per_s, wws_pages, hot_fraction
        As in :func:`expected_distinct_pages`.
    durations_s : array of float
        Durations of rounds 0..n (the last one, the stop-and-copy, is not used).
    page_skip : bool, default False
        Xen-legacy page skip in the live rounds.
    first_round : bool, default False
        Also return round 0 (all pages, less those skipped when ``page_skip``).

    Returns
    -------
    ndarray
        Expected pages sent in rounds 1..n (length ``len(durations_s) - 1``),
        or 0..n with ``first_round``.

    Examples
    --------
    >>> e = expected_round_pages(1000, 100, 0, 0.0, [1.0, 0.5, 0.1])
    >>> [round(float(x), 1) for x in e]
    [95.2, 48.8]
    """
    T = np.asarray(durations_s, np.float64)
    counts, haz = _classes(n_pages, writes_per_s, wws_pages, hot_fraction)
    n = len(T) - 1
    out = np.empty(n)
    for j in range(1, n + 1):
        dirty = -np.expm1(-haz * T[j - 1])               # per page: written during round j-1
        if page_skip and j < n:
            dirty = dirty * _kept(haz * T[j])
        out[j - 1] = float(counts @ dirty)
    if first_round:
        first = float(counts @ _kept(haz * T[0])) if page_skip else float(counts.sum())
        out = np.concatenate([[first], out])
    return out


# --- fitting ------------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkloadFit:
    """Fitted HotCold parameters.

    Attributes
    ----------
    values : dict
        ``writes_per_s`` (page writes/s), ``wws_bytes`` (hot set, bytes),
        ``hot_fraction``.
    std_errors : dict
        Standard errors (same units); 0 for fixed parameters, nan without
        residual degrees of freedom.
    fixed : tuple of str
        Parameters held at given values.
    observed, predicted : ndarray
        The fitted counts (pages) and the model's expectation of them.
    x : ndarray
        Duration (s) of the round before each observed round (nan for round 0),
        or the sampling intervals (s).
    memory_bytes, page_bytes : int
    kind : str
        ``'rounds'`` or ``'dirty_samples'``.
    page_skip : bool
    first_round : int
        Index of the round of the first observation (0 with page skip, else 1).
    """

    values: dict
    std_errors: dict
    fixed: tuple
    observed: np.ndarray
    predicted: np.ndarray
    x: np.ndarray
    memory_bytes: int
    page_bytes: int
    kind: str
    page_skip: bool = False
    rms_log_residual: float = 0.0
    covariance: np.ndarray = field(default=None, repr=False)
    first_round: int = 1

    @property
    def write_mibps(self) -> float:
        """Page writes per second x page size, in MiB/s (the ``write_mibps`` scenario column)."""
        return self.values["writes_per_s"] * self.page_bytes / MiB(1)

    @property
    def wws_mib(self) -> float:
        return self.values["wws_bytes"] / MiB(1)

    @property
    def workload(self):
        """The fitted :class:`precopy.workloads.HotCold` (hot set rounded to whole pages)."""
        from .workloads import HotCold
        pages = int(round(self.values["wws_bytes"] / self.page_bytes))
        return HotCold(wws_bytes=pages * self.page_bytes, hot_fraction=self.values["hot_fraction"],
                       writes_per_s=self.values["writes_per_s"])

    @property
    def rel_residuals(self) -> np.ndarray:
        return self.predicted / self.observed - 1.0

    def table(self) -> str:
        """Parameters and observations as readable text."""
        units = {"writes_per_s": "page writes/s", "wws_bytes": "bytes", "hot_fraction": "fraction"}
        lines = [f"{'parameter':14s} {'value':>14s} {'std err':>12s}"]
        for n in PARAMS:
            tag = "  (fixed)" if n in self.fixed else ""
            lines.append(f"{n:14s} {self.values[n]:14.6g} {self.std_errors[n]:12.4g}  {units[n]}{tag}")
        lines.append(f"= {self.write_mibps:.3f} MiB/s of page writes, hot set {self.wws_mib:.2f} MiB; "
                     f"rms log residual {self.rms_log_residual:.3f}")
        label = "round" if self.kind == "rounds" else "sample"
        xl = "prev. round s" if self.kind == "rounds" else "interval s"
        lines.append(f"\n{label:>6s} {xl:>14s} {'observed':>10s} {'fitted':>10s} {'resid':>7s}  (pages)")
        for i, (x, o, p) in enumerate(zip(self.x, self.observed, self.predicted)):
            idx = i + self.first_round if self.kind == "rounds" else i
            lines.append(f"{idx:6d} {x:14.4g} {o:10.0f} {p:10.0f} {p / o - 1:+7.1%}")
        return "\n".join(lines)


def _check_counts(a, name, n_pages):
    a = np.asarray(a, np.float64)
    if a.ndim != 1 or len(a) == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0) or np.any(a > n_pages * 1.0001):
        raise ValueError(f"{name} (pages) must be a 1-D array of counts in (0, n_pages={n_pages}]")
    return a


def _fit(predict, observed, n_pages, fixed, x_obs, w_guess):
    """Least squares on log counts over the free parameters; several starts."""
    from scipy.optimize import least_squares

    logN = math.log(n_pages)
    free = [n for n in PARAMS if n not in fixed]

    def unpack(z):
        d = dict(fixed)
        for n, zi in zip(free, z):
            if n == "writes_per_s":
                d[n] = math.exp(zi)
            elif n == "wws_bytes":
                d[n] = math.exp(zi)         # pages while fitting
            else:
                d[n] = zi
        return d

    y = np.log(observed)

    def resid(z):
        d = unpack(z)
        pred = predict(d["writes_per_s"], d["wws_bytes"], d["hot_fraction"])
        return np.log(np.maximum(pred, 1e-300)) - y

    lo = {"writes_per_s": math.log(1e-3), "wws_bytes": 0.0, "hot_fraction": 0.0}
    hi = {"writes_per_s": math.log(1e11), "wws_bytes": logN, "hot_fraction": 1.0}
    starts = []
    for H in (n_pages * 1e-3, n_pages * 1e-2, n_pages * 0.1, n_pages * 0.5):
        for h in (0.5, 0.9, 0.99):
            for wf in (1.0, 10.0):
                st = {"writes_per_s": math.log(w_guess * wf), "wws_bytes": math.log(max(H, 1.0)), "hot_fraction": h}
                starts.append(np.array([min(max(st[n], lo[n] + 1e-9), hi[n] - 1e-9) for n in free]))
    if not free:
        starts = [np.zeros(0)]
    best = None
    for z0 in starts:
        if not free:
            r = resid(z0)
            best = (float(r @ r), z0, None, r)
            break
        sol = least_squares(resid, z0, bounds=([lo[n] for n in free], [hi[n] for n in free]),
                            xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
        if best is None or sol.cost * 2 < best[0] - 1e-12:
            best = (float(sol.fun @ sol.fun), sol.x, sol.jac, sol.fun)
    rss, z, J, r = best
    d = unpack(z)
    m, k = len(observed), len(free)
    se = {n: 0.0 for n in PARAMS}
    cov = np.zeros((k, k))
    if k and m > k:
        cov = np.linalg.pinv(J.T @ J) * rss / (m - k)
        sz = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        for n, zi, s in zip(free, z, sz):
            se[n] = math.exp(zi) * s if n in ("writes_per_s", "wws_bytes") else s
    elif k:
        for n in free:
            se[n] = math.nan
    pred = np.exp(y + r)
    return d, se, cov, pred, float(np.sqrt(np.mean(r ** 2)))


def _prepare_fixed(fixed, page_bytes, n_pages):
    fixed = dict(fixed or {})
    for k in fixed:
        if k not in PARAMS:
            raise ValueError(f"fixed must name parameters among {PARAMS}; got {k!r}")
    out = {}
    if "writes_per_s" in fixed:
        out["writes_per_s"] = v.real(fixed["writes_per_s"], "fixed writes_per_s", "page writes per second",
                                     lo=0.0, lo_open=True)
    if "wws_bytes" in fixed:
        b = v.real(fixed["wws_bytes"], "fixed wws_bytes", "bytes", lo=0.0, hi=n_pages * page_bytes)
        out["wws_bytes"] = b / page_bytes
    if "hot_fraction" in fixed:
        out["hot_fraction"] = v.fraction(fixed["hot_fraction"], "fixed hot_fraction")
    return out


def _finish(d, se, cov, fixed, observed, pred, x, memory_bytes, page_bytes, kind, skip, rms, first_round=0):
    values = {"writes_per_s": float(d["writes_per_s"]), "wws_bytes": float(d["wws_bytes"] * page_bytes),
              "hot_fraction": float(d["hot_fraction"])}
    se = {k: float(x) for k, x in se.items()}
    if not math.isnan(se["wws_bytes"]):
        se["wws_bytes"] = se["wws_bytes"] * page_bytes
    else:
        se["wws_bytes"] = math.nan
    return WorkloadFit(values=values, std_errors=se, fixed=tuple(n for n in PARAMS if n in fixed),
                       observed=observed, predicted=pred, x=np.asarray(x, np.float64), memory_bytes=memory_bytes,
                       page_bytes=page_bytes, kind=kind, page_skip=skip, rms_log_residual=rms, covariance=cov,
                       first_round=first_round)


def _vm_pages(memory_bytes, page_bytes):
    memory_bytes = v.integer(memory_bytes, "memory_bytes", "bytes", lo=1)
    page_bytes = v.integer(page_bytes, "page_bytes", "bytes", lo=512, hi=2**30)
    if memory_bytes % page_bytes:
        raise ValueError(f"memory_bytes (bytes) must be a whole multiple of page_bytes={page_bytes}; "
                         f"got {memory_bytes}")
    return memory_bytes, page_bytes, memory_bytes // page_bytes


def fit_rounds(durations_s, *, memory_bytes, pages_sent=None, bytes_sent=None, page_bytes=KiB(4),
               header_bytes=0, page_skip=False, fixed=None) -> WorkloadFit:
    """Fit a HotCold workload to the per-round transfers of one migration.

    Parameters
    ----------
    durations_s : array of float
        Duration of every round, the bulk pass first and the stop-and-copy last
        (its value is not used and may be nan).
    memory_bytes : int
        Guest memory (bytes).
    pages_sent, bytes_sent : array
        Pages (or bytes) sent in every round, same length as ``durations_s``;
        give exactly one.  Without page skip round 0 (the bulk pass) is not
        fitted: it sends all memory whatever the workload.
    page_bytes : int, default 4 KiB
    header_bytes : int, default 0
        Per-page header bytes included in ``bytes_sent``.
    page_skip : bool, default False
        The migration skipped pages re-dirtied in the current round (Xen legacy).
        Then round 0 is fitted too: the pages it skipped tell how fast the hot
        set is re-written.
    fixed : dict, optional
        Parameters to hold, e.g. ``{"wws_bytes": MiB(256), "hot_fraction": 1.0}``.

    Returns
    -------
    WorkloadFit

    Raises
    ------
    ValueError
        On mismatched lengths, non-positive counts or durations, or bad ``fixed``.

    References
    ----------
    C. Clark et al., NSDI 2005, Fig. 9 and Fig. 11 (per-round sizes).

    Examples
    --------
    >>> import precopy as pc
    >>> T = [2.0, 0.5, 0.2, 0.1, 0.05, 0.02]
    >>> sent = [262144] + [float(x) for x in expected_round_pages(262144, 20000, 2560, 0.9, T)]
    >>> f = fit_rounds(T, memory_bytes=pc.GiB(1), pages_sent=sent)
    >>> round(f.values["writes_per_s"]), round(f.values["wws_bytes"] / pc.MiB(1))
    (20000, 10)
    """
    memory_bytes, page_bytes, n_pages = _vm_pages(memory_bytes, page_bytes)
    if (pages_sent is None) == (bytes_sent is None):
        raise ValueError("give exactly one of pages_sent (pages) and bytes_sent (bytes)")
    header_bytes = v.integer(header_bytes, "header_bytes", "bytes", lo=0)
    T = np.asarray(durations_s, np.float64)
    if T.ndim != 1 or len(T) < 2:
        raise ValueError("durations_s (s) must list at least two rounds (the bulk pass and one more)")
    if not np.all(np.isfinite(T[:-1])) or np.any(T[:-1] <= 0):
        raise ValueError("durations_s (s) must be finite and > 0 for every round but the stop-and-copy")
    counts = (np.asarray(pages_sent, np.float64) if pages_sent is not None
              else np.asarray(bytes_sent, np.float64) / (page_bytes + header_bytes))
    if counts.shape != T.shape:
        raise ValueError(f"pages_sent/bytes_sent must have one entry per round ({len(T)}); got {counts.shape}")
    first = 0 if page_skip else 1
    obs = _check_counts(counts[first:], "pages sent per round", n_pages)
    fx = _prepare_fixed(fixed, page_bytes, n_pages)

    def predict(w, H, h):
        return expected_round_pages(n_pages, w, H, h, T, page_skip=page_skip, first_round=page_skip)

    w_guess = float(counts[1] / T[0])
    d, se, cov, pred, rms = _fit(predict, obs, n_pages, fx, T[:-1], max(w_guess, 1.0))
    x = np.concatenate([[np.nan], T[:-1]]) if page_skip else T[:-1]
    return _finish(d, se, cov, fx, obs, pred, x, memory_bytes, page_bytes, "rounds", page_skip, rms,
                   first_round=first)


def fit_dirty_samples(intervals_s, dirty_pages, *, memory_bytes, page_bytes=KiB(4), fixed=None) -> WorkloadFit:
    """Fit a HotCold workload to distinct dirty-page counts sampled at intervals.

    What QEMU's ``calc-dirty-rate`` (and the predictor of Gudkov, qemu-devel 2023)
    measures: the number of distinct pages dirtied in windows of increasing length.

    Parameters
    ----------
    intervals_s : array of float
        Window lengths (s), > 0.
    dirty_pages : array of float
        Distinct pages dirtied in each window.
    memory_bytes : int
    page_bytes : int, default 4 KiB
    fixed : dict, optional
        Parameters to hold.

    Returns
    -------
    WorkloadFit

    Examples
    --------
    >>> import precopy as pc
    >>> t = [0.125, 0.25, 0.5, 1, 2, 4, 8]
    >>> d = expected_distinct_pages(262144, 50000, 25600, 0.8, t)
    >>> f = fit_dirty_samples(t, d, memory_bytes=pc.GiB(1))
    >>> round(f.values["hot_fraction"], 3)
    0.8
    """
    memory_bytes, page_bytes, n_pages = _vm_pages(memory_bytes, page_bytes)
    t = np.asarray(intervals_s, np.float64)
    if t.ndim != 1 or len(t) == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("intervals_s (s) must be a non-empty 1-D array of positive durations")
    obs = _check_counts(dirty_pages, "dirty_pages", n_pages)
    if obs.shape != t.shape:
        raise ValueError(f"dirty_pages must have one entry per interval ({len(t)}); got {obs.shape}")
    fx = _prepare_fixed(fixed, page_bytes, n_pages)

    def predict(w, H, h):
        return expected_distinct_pages(n_pages, w, H, h, t)

    i0 = int(np.argmin(t))
    d, se, cov, pred, rms = _fit(predict, obs, n_pages, fx, t, max(float(obs[i0] / t[i0]), 1.0))
    return _finish(d, se, cov, fx, obs, pred, t, memory_bytes, page_bytes, "dirty_samples", False, rms)


def sample_dirty_pages(vm, workload, intervals_s, seed=0):
    """Distinct pages ``workload`` dirties in windows of the given lengths, from
    the page-level simulator (one independent window per interval, as a
    ``calc-dirty-rate`` probe would measure).

    The simulator's bulk pass over memory is timed to last exactly each
    interval, and the distinct pages written meanwhile are read from its round table.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.MiB(64))
    >>> d = sample_dirty_pages(vm, pc.workloads.Uniform(writes_per_s=1e4), [0.5, 1.0], seed=1)
    >>> bool(d[0] < d[1] < 1e4)
    True
    """
    from .links import Link
    from .policies import Custom
    from .simulate import simulate
    from .vm import VM

    t = np.asarray(intervals_s, np.float64)
    if t.ndim != 1 or len(t) == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("intervals_s (s) must be a non-empty 1-D array of positive durations")
    plain = VM(memory_bytes=vm.memory_bytes, page_bytes=vm.page_bytes)
    out = np.empty(len(t))
    for i, ti in enumerate(t):
        rate = plain.memory_bytes * 8.0 / ti
        r = simulate(plain, workload, Link(rate_bps=rate, mtu=None), Custom(max_rounds=2, timeout_s=2 * ti + 1),
                     seed=int(seed) + i)
        out[i] = r.rounds["pages_dirtied"][0]
    return out


# --- Clark et al. (NSDI 2005) ---------------------------------------------------------------

@dataclass(frozen=True)
class ClarkRun:
    """One migration of Clark et al. with its per-round sizes.

    ``durations_s`` follows rule D of ``data/README.md`` (:func:`clark_round_durations`).
    """

    name: str
    memory_bytes: int
    pages_sent: np.ndarray
    durations_s: np.ndarray
    total_time_s: float
    downtime_s: float
    published_durations: dict

    @property
    def mib_sent(self) -> np.ndarray:
        return self.pages_sent * KiB(4) / MiB(1)


_CLARK_WORKLOAD = {"specweb99": "SPECweb99", "quake3": "Quake 3", "mmuncher": "MMuncher"}
#: Resume/start-up part of each published downtime (Sec. 6.3: 9 ms; 6.4: 40 ms; 6.5 not split).
_CLARK_RESUME_S = {"specweb99": 0.009, "quake3": 0.040, "mmuncher": 0.0}


def clark_round_durations(mib_sent, *, total_time_s, downtime_s, first_s=None, final_s=None,
                          start_mbps=CLARK_START_MBPS, increment_mbps=CLARK_INCREMENT_MBPS,
                          max_mbps=CLARK_MAX_MBPS):
    """Round durations of a rate-limited Clark et al. migration (rule D).

    Clark et al. publish round sizes but not durations.  Their rate limiter
    sends the first pass at ``start_mbps`` (or its published duration), then each
    round at the previous round's dirty rate + ``increment_mbps``, at most
    ``max_mbps``.  That rule gives the relative durations of the later live
    rounds; they are then scaled by one common factor so that first pass + live
    rounds + downtime equal the published total time.  The stop-and-copy lasts
    ``final_s`` (published copy time) or ``downtime_s``.

    Returns
    -------
    ndarray
        Duration of each round (s), the stop-and-copy last.

    Examples
    --------
    >>> d = clark_round_durations([100.0, 10.0, 2.0, 1.0], total_time_s=10.0, downtime_s=0.1)
    >>> round(float(d[:-1].sum() + 0.1), 6)
    10.0
    """
    B = np.asarray(mib_sent, np.float64) * MiB(1) * 8 / 1e6       # Mbit
    n = len(B)
    T = np.empty(n)
    T[0] = first_s if first_s is not None else B[0] / start_mbps
    for i in range(1, n - 1):
        rate = min(max_mbps, B[i] / T[i - 1] + increment_mbps)
        T[i] = B[i] / rate
    live = T[1:n - 1].sum()
    target = total_time_s - downtime_s - T[0]
    if n > 2:
        if target <= 0:
            raise ValueError(f"total_time_s (s) must exceed the first pass + downtime; got {total_time_s}")
        T[1:n - 1] *= target / live
    T[n - 1] = downtime_s if final_s is None else final_s
    return T


def clark_runs() -> dict[str, ClarkRun]:
    """The three Clark et al. runs with per-round sizes (``data/clark2005_rounds.csv``).

    Sizes in the paper's MB and KB are taken as MiB and KiB (as in
    ``published_migrations.csv``); totals and downtimes come from
    ``published_migrations.csv``.

    Examples
    --------
    >>> runs = clark_runs()
    >>> sorted(runs), len(runs["specweb99"].pages_sent)
    (['mmuncher', 'quake3', 'specweb99'], 9)
    """
    rows = datasets.read_csv("clark2005_rounds.csv")
    pub = [r for r in datasets.read_csv("published_migrations.csv") if r["source_id"] == "S1_clark2005"]
    out = {}
    for run, key in _CLARK_WORKLOAD.items():
        rr = sorted((r for r in rows if r["run"] == run), key=lambda r: int(r["round"]))
        mib = np.array([float(r["amount"]) / (1024.0 if r["unit"] == "KB" else 1.0) for r in rr])
        prow = next(p for p in pub if p["workload"].startswith(key))
        mem = MiB(float(prow["vm_mem_mib"]))
        total, down = float(prow["total_time_s"]), float(prow["downtime_ms"]) / 1e3
        pubd = {int(r["round"]): float(r["duration_s"]) for r in rr if r["duration_s"].strip()}
        last = len(rr) - 1
        T = clark_round_durations(mib, total_time_s=total, downtime_s=down, first_s=pubd.get(0),
                                  final_s=pubd.get(last))
        out[run] = ClarkRun(name=run, memory_bytes=int(mem), pages_sent=mib * MiB(1) / KiB(4), durations_s=T,
                            total_time_s=total, downtime_s=down, published_durations=pubd)
    return out


#: Parameters the sources state, held fixed when fitting (rule W3 of data/README.md):
#: MMuncher writes a 256 MB region and nothing else.
CLARK_FIXED = {"mmuncher": {"wws_bytes": MiB(256), "hot_fraction": 1.0}}


def fit_clark(run: str) -> WorkloadFit:
    """Fit the HotCold workload of one Clark et al. run (page skip on, as in Xen 2005).

    Examples
    --------
    >>> f = fit_clark("specweb99")
    >>> f.rms_log_residual < 0.5
    True
    """
    runs = clark_runs()
    if run not in runs:
        raise ValueError(f"run must be one of {', '.join(map(repr, runs))}; got {run!r}")
    c = runs[run]
    return fit_rounds(c.durations_s, memory_bytes=c.memory_bytes, pages_sent=c.pages_sent, page_skip=True,
                      fixed=CLARK_FIXED.get(run))


def clark_demo(run: str, seeds: int = 3, rate_bps: float = CLARK_START_MBPS * 1e6):
    """Fit a Clark run, then simulate it with the fitted workload; compare round by round.

    The simulation uses the ``xen-legacy`` policy (page skip, permuted order) on a
    link whose pre-copy rate is Clark's first-pass rate (100 Mbit/s, rule D; the
    adaptive increase of later rounds is not modelled) and whose stop-and-copy
    runs at 1 Gbit/s (the testbed's switched GbE).

    Returns
    -------
    dict
        ``fit`` (:class:`WorkloadFit`), ``rows`` (per round: observed MiB, the
        fitted model's expectation given the observed durations, and the mean
        simulated MiB over ``seeds``), ``observed`` and ``simulated`` totals.

    Examples
    --------
    >>> d = clark_demo("quake3", seeds=1)
    >>> d["rows"][0]["observed_mib"] > 0
    True
    """
    from .links import Link
    from .policies import XenLegacy
    from .simulate import Prepared
    from .vm import VM

    fit = fit_clark(run)
    c = clark_runs()[run]
    vm = VM(memory_bytes=c.memory_bytes)
    link = Link.from_profile("1GbE", cap_bps=None)
    pol = XenLegacy().with_(max_bandwidth_bps=rate_bps)
    prep = Prepared(vm, fit.workload, link, pol)
    sims = [prep.run(seed=s) for s in range(seeds)]
    nmax = max(len(c.pages_sent), *(len(r.rounds) for r in sims))
    rows = []
    page_mib = KiB(4) / MiB(1)
    for i in range(nmax):
        obs = float(c.mib_sent[i]) if i < len(c.pages_sent) else math.nan
        j = i - fit.first_round
        exp_ = (c.memory_bytes / MiB(1) if j < 0 else
                (float(fit.predicted[j]) * page_mib if j < len(fit.predicted) else math.nan))
        sim = [r.rounds["pages_sent"][i] * page_mib if i < len(r.rounds) else 0.0 for r in sims]
        rows.append({"round": i, "observed_mib": obs, "fitted_mib": exp_, "simulated_mib": float(np.mean(sim))})
    return {"fit": fit, "rows": rows, "run": c,
            "observed": {"total_time_s": c.total_time_s, "downtime_s": c.downtime_s,
                         "data_mib": float(c.mib_sent.sum()), "rounds": len(c.pages_sent)},
            "simulated": {"total_time_s": float(np.mean([r.total_time_s for r in sims])),
                          "downtime_s": float(np.mean([r.downtime_s for r in sims])),
                          "data_mib": float(np.mean([r.bytes_sent for r in sims])) / MiB(1),
                          "rounds": float(np.mean([r.n_rounds for r in sims]))}}


def format_demo(d) -> str:
    """Readable text of :func:`clark_demo`'s result."""
    lines = [f"Clark et al. 2005, {d['run'].name}: fitted workload (page skip on)", d["fit"].table(), "",
             "round-by-round (MiB): observed | fitted model given observed durations | simulated "
             "(xen-legacy, 100 Mbit/s pre-copy)"]
    lines.append(f"{'round':>5s} {'observed':>10s} {'fitted':>10s} {'simulated':>10s}")
    for r in d["rows"]:
        f = lambda x: "-" if (x is None or (isinstance(x, float) and math.isnan(x))) else f"{x:10.2f}"  # noqa: E731
        lines.append(f"{r['round']:5d} {f(r['observed_mib']):>10s} {f(r['fitted_mib']):>10s} "
                     f"{f(r['simulated_mib']):>10s}")
    o, s = d["observed"], d["simulated"]
    lines.append(f"\ntotal time {o['total_time_s']:.1f} s observed, {s['total_time_s']:.1f} s simulated; "
                 f"downtime {o['downtime_s'] * 1e3:.0f} ms vs {s['downtime_s'] * 1e3:.0f} ms; "
                 f"data {o['data_mib']:.1f} MiB vs {s['data_mib']:.1f} MiB; "
                 f"rounds {o['rounds']} vs {s['rounds']:.1f}")
    return "\n".join(lines)


# --- CLI: precopy fit-workload -----------------------------------------------------------------

def add_arguments(p):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--clark", choices=sorted(_CLARK_WORKLOAD),
                     help="fit a Clark et al. (NSDI 2005) run from data/ and simulate it round by round")
    src.add_argument("--rounds", metavar="CSV",
                     help="CSV with columns duration_s and one of pages_sent, bytes_sent, mib_sent (one row per "
                          "round, bulk pass first, stop-and-copy last)")
    src.add_argument("--dirty-samples", metavar="CSV", help="CSV with columns interval_s and dirty_pages")
    p.add_argument("--memory", help="guest memory, e.g. 16GiB (required with --rounds/--dirty-samples)")
    p.add_argument("--page", default="4KiB", help="page size (default 4KiB)")
    p.add_argument("--page-skip", action="store_true", help="the migration skipped re-dirtied pages (Xen legacy)")
    p.add_argument("--seeds", type=int, default=3, help="simulation seeds for --clark (default 3)")


def _read_table(path, need_one_of, need):
    import csv
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no data rows")
    cols = set(rows[0])
    for c in need:
        if c not in cols:
            raise ValueError(f"{path}: missing column {c!r}")
    have = [c for c in need_one_of if c in cols]
    if need_one_of and len(have) != 1:
        raise ValueError(f"{path}: needs exactly one of the columns {', '.join(need_one_of)}")
    out = {}
    for c in list(need) + have:
        vals = []
        for i, r in enumerate(rows, start=1):
            s = (r[c] or "").strip()
            try:
                vals.append(float(s) if s else math.nan)
            except ValueError:
                raise ValueError(f"{path} row {i}: column {c!r} must be a number; got {s!r}") from None
        out[c] = np.array(vals)
    return out, (have[0] if have else None)


def run(args) -> int:
    from .units import parse_bytes
    if args.clark:
        print(format_demo(clark_demo(args.clark, seeds=v.integer(args.seeds, "seeds", "count", lo=1, hi=100))))
        return 0
    if not args.memory:
        raise ValueError("--memory is required with --rounds or --dirty-samples")
    mem = parse_bytes(args.memory, name="--memory")
    page = parse_bytes(args.page, name="--page")
    if args.rounds:
        cols, which = _read_table(args.rounds, ("pages_sent", "bytes_sent", "mib_sent"), ("duration_s",))
        kw = {"pages_sent": cols[which]} if which == "pages_sent" else {
            "bytes_sent": cols[which] * (MiB(1) if which == "mib_sent" else 1)}
        fit = fit_rounds(cols["duration_s"], memory_bytes=mem, page_bytes=page, page_skip=args.page_skip, **kw)
    else:
        cols, _ = _read_table(args.dirty_samples, (), ("interval_s", "dirty_pages"))
        fit = fit_dirty_samples(cols["interval_s"], cols["dirty_pages"], memory_bytes=mem, page_bytes=page)
    print(fit.table())
    return 0
