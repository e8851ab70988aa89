"""Analytic models of pre-copy migration, on the simulator's own inputs.

Three models predict what :func:`precopy.simulate` measures, from the same
``(vm, workload, link, policy, switchover)``:

``geometric``
    Liu et al. (HPDC 2011): every page write dirties a page not yet dirty, so the
    data of round ``i`` is ``V_mem * lambda**i`` with ``lambda = D / R``.  Closed
    form (:func:`geometric_model`).
``hotcold``
    A two-class model in the style of Aldhalaan & Menasce (EPEW 2013): the hot
    set fills at its own write rate until it is full, cold writes each dirty a new
    page.  One closed-form map per round (:func:`hotcold_model`).
``saturation``
    The expected number of *distinct* pages a round's writes dirty,
    ``E(n) = sum_i 1 - (1 - p_i)**n`` over per-page write probabilities ``p_i``
    (:func:`expected_distinct_pages`), iterated round by round as QEMU's predictor
    does (:func:`saturation_model`).  For the uniform and hot/cold workloads the
    sum is taken in closed form per group of equally likely pages.

All three apply the policy's stop rule exactly as the kernel
(:func:`precopy._kernel.simulate_kernel`) does at each bitmap sync:

* round 0 sends all ``N`` pages, zero pages header-only: ``(N - Z)(P + h) + Z h``
  bytes (``P`` page bytes, ``h`` the policy's header bytes, ``Z`` zero pages); a
  later round sends its ``d`` dirty pages at ``P + h`` bytes each;
* rounds run at the pre-copy rate ``R = min(link goodput, max_bandwidth_bps)``;
  the stop-and-copy, device state included, at the full link goodput;
* after each live round, with ``d`` the pages now dirty, pre-copy stops at the
  first of: ``d == 0`` (``no_dirty_pages``); ``d P < B * downtime_limit_s``
  (``downtime_limit``, ``B`` the decision bandwidth: ``switchover_bandwidth_bps``
  or ``R``); ``d < min_dirty_pages`` (``dirty_pages``); the round just finished
  sent fewer than ``min_round_pages`` (``round_pages``); live rounds + 1 >=
  ``max_rounds`` (``max_rounds``); pages sent > ``floor(max_data_factor N)``
  (``max_data``); elapsed time >= ``timeout_s`` (``timeout``).  The first four
  count as converged.  QEMU also applies the downtime rule before round 0
  (``check_before_first_round``): a small VM is sent whole while stopped;
* downtime = final bytes / goodput + device state / goodput + resume time;
  total time = pre-copy time + downtime; ``n_rounds`` counts the stop-and-copy
  unless nothing was left to send.

With ``policy.sync_cadence == 'threshold'`` (QEMU's, see :class:`precopy.policies.Policy`)
the one-scenario round models (:func:`saturation`, :func:`hotcold`, and so
:func:`predict` and :func:`compare` with them) mirror the kernel's cadence in
expectation (:func:`geometric` is Liu et al.'s closed form over whole passes): a
round sends whole chunks of pages (the first pass's never-sent pages as the bulk
pass does, zero pages header-only) until the pages still set fit the threshold at
the round's start; the pages it sends are taken as a random sample of those set
(each page group keeps the same share; in the kernel they are the next pages in
address order), and at the sync a page is set if it stayed set or was written
(saturation: per page group; hot/cold: per class; geometric: every write is a
new page; Sequential: in proportion to the rest's share of memory); the rest of
the first pass goes into the stop-and-copy as the bulk pass sends it.  The array
models (:func:`saturation_model`, :func:`hotcold_model`, the sweeps' analytic
grids) iterate whole passes whatever the cadence, so that their steady-state
shortcut holds.

Page skip (``policy.page_skip``, Xen legacy: a page rewritten before the sender
reaches it waits for the next round) is modelled in expectation by the saturation
model only (:func:`_skip_duration`); the hot/cold model sends every dirty page,
and in the geometric model no page is written twice, so nothing is skipped.
Throttling is not modelled.  A result lists such approximations in ``notes``.

References
----------
H. Liu, H. Jin, C.-Z. Xu, X. Liao, "Performance and energy modeling for live
migration of virtual machines", HPDC 2011, doi:10.1145/1996130.1996154.

A. Aldhalaan, D. A. Menasce, "Analytic Performance Modeling and Optimization of
Live VM Migration", EPEW 2013, LNCS 8168, doi:10.1007/978-3-642-40725-3_4.

QEMU calc-dirty-rate (sampling mode), a merged commit of 2023 states that
the distinct dirty pages of ``w`` uniform writes/s over ``S`` pages after ``t`` s
are ``S (1 - (1 - 1/S)**(w t))``.  A. Gudkov, migration predictor (qemu-devel,
2023, not merged): iterate rounds on the distinct-pages curve.  Both as summarised
in ``docs/reference.md`` sections 1 and 4.

Examples
--------
>>> import precopy as pc
>>> vm = pc.VM(memory_bytes=pc.GiB(1))
>>> wl = pc.workloads.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=20_000)
>>> link = pc.Link(rate_bps=pc.Gbps(10))
>>> r = pc.analytic.predict(vm, wl, link, "qemu")
>>> r.converged, r.stop_reason, r.n_rounds
(True, 'downtime_limit', 5)
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, fields

import numpy as np
from numba import njit
from numba.core import cgutils
from numba.extending import intrinsic

from typing import NamedTuple

from . import _kernel as K
from . import _validate as v
from .aids import check_aids
from ._stoprule import (R_ABORTED, R_DOWNTIME, R_NEVER, R_POSTCOPY, R_RUNNING, STOP_REASONS, StopRule,
                        converged, downtime_ok, reason_names, step_value, stop_rule, stop_rule_numbers)
from .config import NJIT, ROUND_TABLE_CAPACITY, STEADY_MARGIN, STEADY_MAX_SLOPE, STEADY_RTOL
from .links import Link
from .policies import Policy
from .results import RoundTable, assemble
from .scenario import Prepared, check_scenario, rate_schedule, resolve_policy
from .vm import VM, Switchover
from .workloads import HotCold, Idle, Phased, Sequential, Trace, Workload

__all__ = [
    "MODELS", "AnalyticResult", "AnalyticArrays", "Comparison",
    "expected_distinct_pages", "expected_distinct_groups", "expected_distinct_uniform",
    "expected_distinct_hotcold", "page_groups",
    "geometric_model", "saturation_model", "hotcold_model",
    "geometric", "saturation", "hotcold", "predict", "compare",
]

#: Model names accepted by :func:`predict`.
MODELS = ("saturation", "geometric", "hotcold")

# stop reasons: the one table (precopy._stoprule), "never" included
_REASONS = STOP_REASONS
_R_NEVER = R_NEVER
_R_EMPTY, _R_DOWNTIME, _R_DIRTY, _R_ROUND, _R_MAXROUNDS, _R_MAXDATA, _R_TIMEOUT = 4, 1, 2, 3, 5, 6, 7

#: Tests and benchmarks only: True makes the array models iterate every round (no
#: steady-state fast path, see ``_steady``), as a reference for the fast path.
_FULL_ITERATION = False

# the engine's round loop is inlined into its callers (a call costs more than a round)
_INLINE = dict(inline="always", **{k: v for k, v in NJIT.items() if k != "cache"})

# engine model kinds
_K_GEOM, _K_HOTCOLD, _K_SAT, _K_SEQ = 0, 1, 2, 3
_KIND_NAME = {_K_GEOM: "geometric", _K_HOTCOLD: "hotcold", _K_SAT: "saturation", _K_SEQ: "saturation"}

# per-round table columns of the engine
_C_START, _C_DUR, _C_SENT, _C_DIRTIED, _C_BYTES, _C_WRITES, _C_FINAL, _C_SKIP, _C_RATE = range(9)
_N_COLS = 9
# scalar outputs of the engine
_O_T_STOP, _O_FINAL_PAGES, _O_FINAL_BYTES, _O_REASON, _O_TOTAL_BYTES, _O_TOTAL_PAGES, _O_ROWS = range(7)
_N_OUT = 7
_U32 = 2**32


# =============================================================================
# results
# =============================================================================

@dataclass(frozen=True)
class AnalyticResult:
    """One model's prediction for one scenario, shaped like :class:`MigrationResult`.

    Times in seconds, sizes in bytes; page counts are expectations (floats).
    ``rounds`` has the simulator's columns (``round``, ``start_s``,
    ``duration_s``, ``pages_sent``, ``pages_skipped`` (0 unless the saturation
    model skips pages), ``pages_dirtied``,
    ``bytes_sent``, ``writes``, ``throttle``, ``stop_copy``), the stop-and-copy last.
    ``stop_reason`` is one of the kernel's reasons, or ``'never'`` when the closed
    form proves that no rule or cap ever fires.  ``notes`` lists what the model
    leaves out for this scenario.
    """

    model: str
    total_time_s: float
    downtime_s: float
    precopy_time_s: float
    bytes_sent: float
    pages_sent: float
    n_rounds: int
    converged: bool
    stop_reason: str
    final_pages: float
    final_transfer_s: float
    device_state_s: float
    resume_s: float
    rate_bps: float
    final_rate_bps: float
    memory_bytes: int
    rounds: RoundTable = field(repr=False)
    policy: str = ""
    notes: tuple = ()
    announce_s: float = 0.0
    announce_window_s: float = 0.0
    outcome: str = ""

    @property
    def data_factor(self) -> float:
        """Bytes sent over guest memory."""
        return self.bytes_sent / self.memory_bytes

    @property
    def downtime_parts(self) -> dict[str, float]:
        """The downtime broken into its parts (seconds), as the simulator's."""
        return {"final_transfer_s": self.final_transfer_s, "device_state_s": self.device_state_s,
                "resume_s": self.resume_s, "announce_s": self.announce_s}

    def summary(self) -> str:
        """A few readable lines."""
        verdict = "converged" if self.converged else "did NOT converge"
        lines = [f"{self.model} model, {self.policy}: {verdict} ({self.stop_reason}) after {self.n_rounds} rounds",
                 f"  total time {self.total_time_s:.3f} s, downtime {self.downtime_s * 1e3:.1f} ms "
                 f"(final {self.final_transfer_s * 1e3:.1f} + device {self.device_state_s * 1e3:.1f} "
                 f"+ resume {self.resume_s * 1e3:.1f} + announce {self.announce_s * 1e3:.1f})",
                 f"  sent {self.bytes_sent / 2**20:.1f} MiB = {self.data_factor:.2f} x memory, "
                 f"at {self.rate_bps / 1e9:.3f} Gbit/s pre-copy"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """Scalar fields as a plain dict (no table)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rounds"}


@dataclass(frozen=True)
class AnalyticArrays:
    """Predictions for an array of scenarios (the low-level, vectorised models).

    Every field is an array of the broadcast shape of the inputs.  ``stop_reason``
    holds strings; ``n_rounds`` counts the stop-and-copy (a float array: ``inf``
    when a closed form proves the migration never stops).
    """

    total_time_s: np.ndarray
    downtime_s: np.ndarray
    precopy_time_s: np.ndarray
    bytes_sent: np.ndarray
    final_bytes: np.ndarray
    n_rounds: np.ndarray
    converged: np.ndarray
    stop_reason: np.ndarray

    @property
    def shape(self) -> tuple:
        return self.total_time_s.shape

    def __getitem__(self, idx) -> dict:
        """The fields of one scenario (``idx`` indexes the arrays) as a dict."""
        out = {}
        for k in self.__dataclass_fields__:
            x = np.asarray(getattr(self, k))[idx]
            out[k] = x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else (
                x.item() if isinstance(x, np.generic) else x)
        return out


_reason_names = reason_names


# =============================================================================
# input checks for arrays
# =============================================================================

def _arr(x, name, unit, *, lo=None, hi=None, lo_open=False, allow_inf=False, integral=False):
    """``x`` as a float array after checking every element (ValueError otherwise)."""
    rng = v.fmt_range(lo, hi, lo_open, False)
    kind = "whole numbers" if integral else "numbers"
    fin = "" if allow_inf else "finite "
    what = f"{name} ({unit}) must be {fin}{kind} in {rng}"
    try:
        raw = np.asarray(x)
        if raw.dtype.kind not in "iuf":         # strings, objects and booleans are not numbers
            raise TypeError
        a = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what}; got {x!r}") from None
    bad = np.isnan(a)
    if not allow_inf:
        bad |= np.isinf(a)
    if lo is not None:
        bad |= (a < lo) | ((a == lo) if lo_open else False)
    if hi is not None:
        bad |= a > hi
    if integral:
        bad |= np.isfinite(a) & (a != np.floor(a))
    if np.any(bad):
        if a.ndim == 0:
            raise ValueError(f"{what}; got {a.item()!r}")
        at = np.argwhere(bad)[0]
        raise ValueError(f"{what}; got {float(a[tuple(at)])!r} (at index {at.tolist()})")
    return a


# =============================================================================
# distinct pages after n writes (the saturation formula)
# =============================================================================

def expected_distinct_groups(writes, probs, counts):
    """Expected distinct pages after ``writes`` independent writes, pages grouped
    by equal write probability: ``sum_g counts_g (1 - (1 - p_g)**writes)``,
    broadcast over ``writes`` (the one implementation behind every
    ``expected_distinct_*`` function of the package).

    Examples
    --------
    >>> round(float(expected_distinct_groups(1000, np.array([1e-3]), np.array([1000.0]))), 1)
    632.3
    """
    w = _arr(writes, "writes", "page writes", lo=0.0)
    p = _arr(probs, "probs", "probability of a write per page of the group", lo=0.0, hi=1.0)
    c = _arr(counts, "counts", "pages in the group", lo=0.0)      # real: fits relax the hot-set size
    if p.ndim != 1 or c.shape != p.shape:
        raise ValueError(f"probs and counts must be 1-D arrays of one length (one entry per group of pages); "
                         f"got shapes {p.shape} and {c.shape}")
    mass = float(np.sum(p * c))
    if mass > 1.0 + 1e-9:
        raise ValueError(f"probs (probability of a write per page) times counts (pages) must sum to at most 1 "
                         f"(every write lands on one page); got {mass:.6g}")
    return _distinct_groups(w, p, c)


def _distinct_groups(writes, probs, counts):
    """:func:`expected_distinct_groups` on checked arrays (the callers below check their inputs)."""
    n = np.asarray(writes, np.float64)[..., None]
    logq = np.log1p(-probs)                        # -inf where p == 1
    with np.errstate(invalid="ignore"):
        part = -np.expm1(n * logq)                 # nan only for n == 0 and p == 1
    part = np.where(n == 0, 0.0, part)
    return np.sum(counts * part, axis=-1)


def expected_distinct_uniform(writes, n_pages):
    """Expected distinct pages after ``writes`` uniform writes over ``n_pages``.

    ``S (1 - (1 - 1/S)**n)``: the formula of QEMU's calc-dirty-rate commit.
    Vectorised: the arguments broadcast.

    Parameters
    ----------
    writes : array_like of float
        Number of page writes, >= 0.
    n_pages : array_like of int
        Pages the writes fall on, >= 1.

    Returns
    -------
    ndarray
        Expected distinct pages written, in ``[0, min(writes, n_pages)]``.

    References
    ----------
    QEMU calc-dirty-rate commit (2023), ``docs/reference.md`` sec. 1.

    Examples
    --------
    >>> float(expected_distinct_uniform(0, 1000))
    0.0
    >>> round(float(expected_distinct_uniform(1000, 1000)), 2)    # 1000 (1 - 1/e)
    632.3
    """
    n = _arr(writes, "writes", "page writes", lo=0.0)
    s = _arr(n_pages, "n_pages", "pages", lo=1.0, integral=True)
    with np.errstate(invalid="ignore"):
        e = -s * np.expm1(n * np.log1p(-1.0 / s))
    return np.where(n == 0, 0.0, e)


def expected_distinct_hotcold(writes, n_pages, hot_pages, hot_fraction):
    """Expected distinct pages after ``writes`` hot/cold writes (closed form).

    A share ``f = hot_fraction`` of writes falls uniformly on the ``H = hot_pages``
    hot pages, the rest uniformly on all ``N = n_pages`` pages (hot ones included),
    as :class:`precopy.workloads.HotCold` draws them.  A hot page is written with
    probability ``p_h = f/H + (1-f)/N``, any other with ``p_c = (1-f)/N``, so

    ``E(n) = H (1 - (1 - p_h)**n) + (N - H) (1 - (1 - p_c)**n)``.

    Parameters
    ----------
    writes : array_like of float
        Number of page writes, >= 0.
    n_pages : array_like of int
        Guest pages ``N`` >= 1.
    hot_pages : array_like of int
        Hot-set pages ``H`` in ``[0, N]`` (``H = 0`` needs ``hot_fraction = 0``).
    hot_fraction : array_like of float
        Share of writes aimed at the hot set, in [0, 1].

    Returns
    -------
    ndarray
        Expected distinct pages, broadcast over the arguments.

    Examples
    --------
    >>> round(float(expected_distinct_hotcold(10**6, 1000, 100, 0.9)), 3)   # everything written
    1000.0
    >>> float(expected_distinct_hotcold(50, 1000, 0, 0.0)) == float(expected_distinct_uniform(50, 1000))
    True
    """
    n = _arr(writes, "writes", "page writes", lo=0.0)
    N = _arr(n_pages, "n_pages", "pages", lo=1.0, integral=True)
    H = _arr(hot_pages, "hot_pages", "pages", lo=0.0, integral=True)
    f = _arr(hot_fraction, "hot_fraction", "fraction", lo=0.0, hi=1.0)
    if np.any(H > N):
        raise ValueError("hot_pages (pages) must be in [0, n_pages]")
    if np.any((H == 0) & (f > 0)):
        raise ValueError("hot_pages (pages) must be at least 1 when hot_fraction > 0")
    probs, counts = _hotcold_groups(N, H, f)
    n, probs, counts = np.broadcast_arrays(n[..., None], probs, counts)
    return _distinct_groups(n[..., 0], probs, counts)


def _hotcold_groups(N, H, f):
    """(probs, counts) arrays with a last axis of 2 groups: hot, cold."""
    N, H, f = np.broadcast_arrays(np.asarray(N, np.float64), np.asarray(H, np.float64), np.asarray(f, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_hot = np.where(H > 0, f / np.where(H > 0, H, 1.0), 0.0) + (1.0 - f) / N
    p_cold = (1.0 - f) / N
    return np.stack([p_hot, p_cold], -1), np.stack([H, N - H], -1)


def page_groups(probabilities):
    """Group equal per-page write probabilities: ``(probs, counts)``.

    Pages that are never written (probability 0) are dropped.

    Parameters
    ----------
    probabilities : array_like of float
        Probability that one write hits each page; entries in [0, 1] summing to 1
        (or all zero: a guest that never writes).

    Returns
    -------
    probs, counts : ndarray
        The distinct non-zero probabilities and how many pages have each.

    Examples
    --------
    >>> page_groups([0.25, 0.25, 0.5, 0.0])
    (array([0.25, 0.5 ]), array([2., 1.]))
    """
    p = _arr(probabilities, "probabilities", "probability per page", lo=0.0, hi=1.0)
    if p.ndim != 1 or p.size == 0:
        raise ValueError("probabilities (probability per page) must be a non-empty 1-D array")
    total = p.sum()
    if total != 0.0 and abs(total - 1.0) > 1e-9:
        raise ValueError(f"probabilities (probability per page) must sum to 1 (or all be 0); got sum {total!r}")
    vals, counts = np.unique(p[p > 0], return_counts=True)
    return vals, counts.astype(np.float64)


def expected_distinct_pages(writes, probabilities):
    """Expected distinct pages after ``writes`` independent writes.

    ``E(n) = sum_i 1 - (1 - p_i)**n`` over the per-page write probabilities
    ``p_i``.  Pages with equal probabilities are summed as one group
    (:func:`page_groups`), so a workload with few distinct probabilities costs
    little whatever its size.  Vectorised over ``writes``.

    Parameters
    ----------
    writes : array_like of float
        Number of page writes, >= 0.
    probabilities : array_like of float
        Per-page write probabilities, e.g. ``workload.page_probabilities(vm)``.

    Returns
    -------
    ndarray
        Expected distinct pages, shaped like ``writes``; 0 at 0 writes, increasing,
        below the number of pages with non-zero probability.

    References
    ----------
    QEMU calc-dirty-rate commit (2023), ``docs/reference.md`` sec. 1.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.full(1000, 1 / 1000)
    >>> bool(np.isclose(expected_distinct_pages(1000, p), expected_distinct_uniform(1000, 1000)))
    True
    """
    n = _arr(writes, "writes", "page writes", lo=0.0)
    probs, counts = page_groups(probabilities)
    return _distinct_groups(n, probs, counts)


# =============================================================================
# Liu et al.'s geometric model, closed form
# =============================================================================

def _geo_sum(V, lam, k):
    """Bytes of rounds 0..k-1: V (1 - lam**k) / (1 - lam) (k >= 1; lam = 1: V k)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        L = np.log(lam)
        ratio = np.expm1(k * L) / np.expm1(L)
        out = V * np.where(lam == 1.0, k, ratio)
    return np.where(k == 0, 0.0, out)


def _first_below(c, lam, x):
    """Estimate of the first k >= 1 with c * lam**k < x (inf if never); c > 0, lam >= 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k_dec = np.maximum(np.floor(np.log(x / c) / np.log(lam)) + 1.0, 1.0)     # 0 < lam < 1
        k = np.where(x <= 0.0, np.inf,
                     np.where(lam == 0.0, 1.0,
                              np.where(lam < 1.0, k_dec, np.where(c * lam < x, 1.0, np.inf))))
    return np.where(np.isnan(k), np.inf, k)


def _refine(pred, k, k_min=1.0):
    """Exact first k for a predicate that, once true, stays true (k an estimate)."""
    k = np.where(np.isfinite(k), np.maximum(np.floor(k), k_min), np.inf)
    for _ in range(4):
        kk = np.where(np.isfinite(k), k, k_min)
        k = np.where(np.isfinite(k) & ~pred(kk), k + 1.0, k)
        kk = np.where(np.isfinite(k), k, k_min)
        k = np.where(np.isfinite(k) & (k > k_min) & pred(np.maximum(kk - 1.0, k_min)), k - 1.0, k)
    return k


def _first_sum_above(V, lam, M, strict=True):
    """First k >= 1 with S_k (> or >=) M where S_k = V (1 - lam**k)/(1 - lam)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = 1.0 - M * (1.0 - lam) / V                    # lam < 1: S_k > M <=> lam**k < y
        k_lt = _first_below(np.ones_like(V), lam, y)
        k_gt = np.floor(np.log1p(M * (lam - 1.0) / V) / np.log(lam)) + 1.0
        k_eq = np.floor(M / V) + 1.0
        k = np.where(lam < 1.0, k_lt, np.where(lam > 1.0, k_gt, k_eq))
        k = np.where(np.isinf(M), np.inf, k)
    k = np.where(np.isnan(k), np.inf, k)

    def pred(kk):
        s = _geo_sum(V, lam, kk)
        return s > M if strict else s >= M
    return _refine(pred, k)


def geometric_model(memory_bytes, dirty_Bps, rate_Bps, threshold_bytes=0.0, *, final_rate_Bps=None,
                    resume_s=0.0, max_rounds=0, min_remaining_bytes=0.0, min_round_bytes=0.0,
                    max_bytes=np.inf, timeout_s=np.inf, stop_before_first=False,
                    empty_bytes=0.0) -> AnalyticArrays:
    """Liu et al.'s geometric model of pre-copy, in closed form, over arrays.

    With ``lambda = D / R``, round ``i`` (``i = 0, 1, ...``) sends
    ``V_mem lambda**i`` bytes in ``V_mem lambda**i / R`` seconds; after ``k`` live
    rounds ``V_mem lambda**k`` bytes remain.  Pre-copy stops after the first
    ``n >= 1`` live rounds where a rule holds (checked in the kernel's order):
    nothing remains (``D = 0``, or remaining ``< empty_bytes``: less than one
    page is no page); remaining ``< threshold_bytes``
    (``downtime_limit``; Liu's ``n = ceil(log_lambda(V_thd / V_mem))`` with a
    strict comparison); remaining ``< min_remaining_bytes`` (``dirty_pages``);
    round ``n - 1`` sent ``< min_round_bytes`` (``round_pages``); ``n + 1 >=
    max_rounds`` (``max_rounds``); bytes sent ``> max_bytes`` (``max_data``);
    elapsed ``>= timeout_s`` (``timeout``).  The stop-and-copy then sends
    ``V_mem lambda**n`` at ``final_rate_Bps``:

    * total sent ``V_mem (1 - lambda**(n+1)) / (1 - lambda)``,
    * downtime ``V_mem lambda**n / final_rate_Bps + resume_s``,
    * total time ``V_mem (1 - lambda**n) / ((1 - lambda) R) + downtime``.

    With ``lambda >= 1`` the remaining data never shrinks: without a cap the
    result is ``n_rounds = inf`` and ``stop_reason = 'never'``; with a cap,
    ``converged = False``.  All arguments broadcast.

    Parameters
    ----------
    memory_bytes : array_like
        ``V_mem``, bytes sent by the first round (> 0).
    dirty_Bps : array_like
        ``D``, bytes dirtied per second (>= 0), as they cost on the wire.
    rate_Bps : array_like
        ``R``, pre-copy transfer rate in bytes/s (> 0).
    threshold_bytes : array_like, default 0
        ``V_thd``: stop once fewer bytes than this remain.
    final_rate_Bps : array_like, optional
        Rate of the stop-and-copy (default ``rate_Bps``).
    resume_s : array_like, default 0
        ``T_resume``, fixed downtime added to the final transfer (s).
    max_rounds : array_like of int, default 0
        Cap on all rounds, stop-and-copy included (0: none; else >= 2).
    min_remaining_bytes, min_round_bytes : array_like, default 0
        Further stop rules (0: off), see above.
    max_bytes : array_like, default inf
        Cap on bytes sent by live rounds.
    timeout_s : array_like, default inf
        Cap on pre-copy time (s).
    stop_before_first : array_like of bool, default False
        Send everything while stopped, without live rounds (QEMU's check before
        the bulk pass, decided by the caller).
    empty_bytes : array_like, default 0
        A remainder below this counts as nothing left (``no_dirty_pages``, no
        stop-and-copy); :func:`geometric` passes one page on the wire.  Without
        it a continuous remainder with ``lambda < 1`` shrinks forever and only
        the threshold or a cap stops pre-copy.

    Returns
    -------
    AnalyticArrays
        With ``dirty_ratio`` (lambda) and ``live_rounds`` (n) in addition.

    References
    ----------
    H. Liu, H. Jin, C.-Z. Xu, X. Liao, "Performance and energy modeling for live
    migration of virtual machines", HPDC 2011, doi:10.1145/1996130.1996154.

    Examples
    --------
    >>> r = geometric_model(1000.0, 50.0, 100.0, threshold_bytes=100.0)   # lambda = 0.5
    >>> int(r.live_rounds), float(r.bytes_sent), float(r.total_time_s)    # 1000+500+250+125, then 62.5
    (4, 1937.5, 19.375)
    >>> geometric_model(1000.0, 150.0, 100.0, threshold_bytes=100.0).stop_reason.item()
    'never'
    """
    V = _arr(memory_bytes, "memory_bytes", "bytes", lo=0.0, lo_open=True)
    D = _arr(dirty_Bps, "dirty_Bps", "bytes/s", lo=0.0)
    R = _arr(rate_Bps, "rate_Bps", "bytes/s", lo=0.0, lo_open=True)
    thd = _arr(threshold_bytes, "threshold_bytes", "bytes", lo=0.0)
    Rf = R if final_rate_Bps is None else _arr(final_rate_Bps, "final_rate_Bps", "bytes/s", lo=0.0, lo_open=True)
    T_res = _arr(resume_s, "resume_s", "s", lo=0.0)
    mr = _arr(max_rounds, "max_rounds", "rounds", lo=0.0, integral=True)
    if np.any(mr == 1):
        raise ValueError("max_rounds (rounds) must be 0 (no cap) or >= 2: the bulk pass and the "
                         "stop-and-copy are two rounds; got 1")
    mrem = _arr(min_remaining_bytes, "min_remaining_bytes", "bytes", lo=0.0)
    mround = _arr(min_round_bytes, "min_round_bytes", "bytes", lo=0.0)
    M = _arr(max_bytes, "max_bytes", "bytes", lo=0.0, allow_inf=True)
    T = _arr(timeout_s, "timeout_s", "s", lo=0.0, lo_open=True, allow_inf=True)
    empty = _arr(empty_bytes, "empty_bytes", "bytes", lo=0.0)
    sbf = np.asarray(stop_before_first)
    if sbf.dtype != bool:
        raise ValueError(f"stop_before_first must be True/False (or a bool array); got {stop_before_first!r}")
    V, D, R, thd, Rf, T_res, mr, mrem, mround, M, T, sbf, empty = np.broadcast_arrays(
        V, D, R, thd, Rf, T_res, mr, mrem, mround, M, T, sbf, empty)
    lam = D / R

    def rem(k):
        with np.errstate(over="ignore", invalid="ignore"):
            return V * lam ** k

    inf = np.full(V.shape, np.inf)
    k_empty = np.where(lam == 0.0, 1.0, _refine(lambda k: rem(k) < empty, _first_below(V, lam, empty)))
    k_thd = _refine(lambda k: rem(k) < thd, _first_below(V, lam, thd))
    k_min = _refine(lambda k: rem(k) < mrem, _first_below(V, lam, mrem))
    k_round1 = np.where(V < mround, 1.0, 1.0 + _first_below(V, lam, mround))
    k_round = _refine(lambda k: rem(k - 1.0) < mround, k_round1)
    k_maxr = np.where(mr > 0, mr - 1.0, inf)
    k_data = _first_sum_above(V, lam, M, strict=True)
    k_time = _first_sum_above(V, lam, T * R, strict=False)
    ks = np.stack([k_empty, k_thd, k_min, k_round, k_maxr, k_data, k_time])
    codes = np.array([_R_EMPTY, _R_DOWNTIME, _R_DIRTY, _R_ROUND, _R_MAXROUNDS, _R_MAXDATA, _R_TIMEOUT])
    n = ks.min(axis=0)
    reason = np.where(np.isinf(n), _R_NEVER, codes[np.argmax(ks == n[None], axis=0)])
    n = np.where(sbf, 0.0, n)
    reason = np.where(sbf, _R_DOWNTIME, reason)
    precopy_bytes = np.where(np.isinf(n), np.inf, _geo_sum(V, lam, n))
    final = np.where(np.isinf(n), np.nan, np.where(reason == _R_EMPTY, 0.0, rem(n)))
    final = np.where(n == 0, V, final)
    downtime = final / Rf + T_res
    precopy_s = precopy_bytes / R
    total_s = np.where(np.isinf(n), np.inf, precopy_s + downtime)
    n_rounds = n + np.where(final > 0, 1.0, 0.0)
    n_rounds = np.where(np.isinf(n), np.inf, n_rounds)
    a = np.asarray
    return GeometricArrays(
        total_time_s=a(total_s), downtime_s=a(downtime), precopy_time_s=a(precopy_s),
        bytes_sent=a(np.where(np.isinf(n), np.inf, precopy_bytes + final)), final_bytes=a(final),
        n_rounds=a(n_rounds), converged=a((reason >= 1) & (reason <= 4)), stop_reason=_reason_names(reason),
        dirty_ratio=a(lam), live_rounds=a(n))


@dataclass(frozen=True)
class GeometricArrays(AnalyticArrays):
    """:class:`AnalyticArrays` plus the geometric model's ``dirty_ratio`` (lambda)
    and ``live_rounds`` (n)."""

    dirty_ratio: np.ndarray = None
    live_rounds: np.ndarray = None


# =============================================================================
# the round-by-round engine (hot/cold and saturation models)
# =============================================================================

#: RK4 steps over the send order when integrating a round with page skip
_SKIP_STEPS = 32


@njit(**NJIT)
def _skip_rate(tau, y, g_logq, w, k):
    """d tau / d u: seconds per unit of send-order position at round time ``tau``."""
    s = 0.0
    for g in range(y.shape[0]):
        if tau > 0.0:
            s += y[g] * math.exp(w * tau * g_logq[g])
        else:
            s += y[g]
    return k * s


@njit(**NJIT)
def _skip_duration(y, g_logq, w, k):
    """Duration of a round with page skip, sending in an order independent of groups.

    ``y[g]`` expected set pages of group ``g``; ``k`` seconds per sent page.  The
    sender at position ``u`` (share of the set visited) has spent ``tau(u)``; the
    page there is of group ``g`` with probability ``y[g] / L`` and was rewritten
    (hence skipped, costing nothing) with probability ``1 - q_g**(w tau)``, so
    ``d tau / d u = k sum_g y[g] q_g**(w tau)``; integrated by RK4.
    """
    h = 1.0 / _SKIP_STEPS
    tau = 0.0
    for _ in range(_SKIP_STEPS):
        k1 = _skip_rate(tau, y, g_logq, w, k)
        k2 = _skip_rate(tau + 0.5 * h * k1, y, g_logq, w, k)
        k3 = _skip_rate(tau + 0.5 * h * k2, y, g_logq, w, k)
        k4 = _skip_rate(tau + h * k3, y, g_logq, w, k)
        tau += h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
    return tau


class EngineScenario(NamedTuple):
    """One scenario of the round engine (bytes, seconds, bytes/s).  ``rate_t``
    / ``rate_f`` are the controls' rate schedule (factor of ``rate_Bps``);
    ``hot_*``, ``cold_rate``, ``seq_pages`` the hot/cold and Sequential models'
    numbers, ``g_cnt`` / ``g_logq`` the saturation model's page groups;
    ``threshold``: QEMU's sync cadence, checked every ``chunk_pages`` pages."""

    n_pages: float
    n_zero: float
    page_bytes: float
    hdr_bytes: float
    w: float
    rate_Bps: float
    decision_Bps: float
    decision_follows_rate: bool
    check_first: bool
    skip: bool
    ar_on: bool
    ar_min: float
    ar_inc: float
    clk: K.Clocks
    hot_pages: float
    hot_rate: float
    cold_rate: float
    seq_pages: float
    g_cnt: np.ndarray
    g_logq: np.ndarray
    threshold: bool = False
    chunk_pages: float = 1.0


@njit(**_INLINE)
def _decision(sc, t):
    if sc.decision_follows_rate:
        return sc.decision_Bps * step_value(sc.clk.rate_t, sc.clk.rate_f, t)
    return sc.decision_Bps


@njit(**_INLINE)
def _distinct(sc, writes):
    """Expected pages of the saturation model's groups dirtied by ``writes`` writes."""
    d = 0.0
    if writes > 0:
        for g in range(sc.g_cnt.shape[0]):
            d += sc.g_cnt[g] * -math.expm1(writes * sc.g_logq[g])
    return d


@njit(**_INLINE)
def _steady(kind, sc, rule, work, clk, rseg, t, rows, total_pages, dirty, prev_dirty, writes, reff, dec):
    """Rounds a migration near the fixed point of its round map can skip, in O(1).

    Returns ``(rounds, seconds, pages, dirty)``: the skipped rounds, their time
    and pages, and the dirty pages after the last of them (``rounds`` 0: not
    near the fixed point, or no room before the next event).

    With ``k`` seconds per page, a round sending ``d`` pages dirties ``F(d)``:

    * saturation kind, ``F(d) = E(floor-counted w k d writes)``, ``E`` the
      expected distinct pages.  The write counts settle in a band ``{n, n+1}``
      the map keeps (``w k E(n) >= n`` and ``w k E(n+1) <= n+1``; ``n`` from a
      Newton step on the last round): a share ``a`` of rounds has ``n+1``
      writes, ``n + a = w k (E(n) + a (E(n+1) - E(n)))`` since the write count of
      a span is exact, so the mean round sends ``d* = E(n) + a (E(n+1) - E(n))``;
    * hot/cold kind with the hot set full, ``F(d) = H + lambda_c d``, fixed
      point ``d* = H / (1 - lambda_c)``.

    Within ``STEADY_RTOL`` of ``d*`` the deviation shrinks by the slope ``s`` of
    the map each round (exactly for hot/cold, to first order otherwise), so
    ``K`` rounds send ``K d* + (d - d*)(1 - s**K)/(1 - s)`` pages.  The stop
    rule itself (:func:`precopy._stoprule.stop_rule`) is asked at both ends of
    the range the rounds stay in, so nothing that depends on the dirty pages
    fires within it; what depends on time, rounds and data is left to
    :func:`_steady_jump`.
    """
    k = (sc.page_bytes + sc.hdr_bytes) / reff
    d_up = dirty * (1.0 + 3.0 * STEADY_RTOL) + 1.0     # bounds the pages of the rounds to skip
    if _steady_jump(rule, clk, rseg, t, rows, total_pages, k * d_up, d_up) == 0:
        return 0, 0.0, 0.0, dirty                       # no room (the last rounds before an event)
    if kind == 2:
        de = 0.0                            # dE/dn at the last round's writes
        for g in range(sc.g_cnt.shape[0]):
            if sc.g_logq[g] > -np.inf:
                de -= sc.g_cnt[g] * sc.g_logq[g] * math.exp(writes * sc.g_logq[g])
        lam = sc.w * k * de
        if lam > STEADY_MAX_SLOPE:
            return 0, 0.0, 0.0, dirty
        n_star = writes + (sc.w * k * dirty - writes) / (1.0 - lam)      # a Newton step
        if abs(n_star - writes) * de > 2.0 * STEADY_RTOL * dirty + 2.0:
            return 0, 0.0, 0.0, dirty                   # still far from the fixed point
        found = False
        e0 = 0.0
        e1 = 0.0
        for c in range(3):
            n0 = math.floor(n_star) + (0.0 if c == 0 else (-1.0 if c == 1 else 1.0))
            if n0 < 0.0:
                continue
            e0 = _distinct(sc, n0)
            e1 = _distinct(sc, n0 + 1.0)
            lam = sc.w * k * (e1 - e0)
            if sc.w * k * e0 >= n0 and sc.w * k * e1 <= n0 + 1.0:
                found = True
                break
        if not found or lam > STEADY_MAX_SLOPE:
            return 0, 0.0, 0.0, dirty
        d_star = e0 + (sc.w * k * e0 - n0) / (1.0 - lam) * (e1 - e0)
        d_lo = e0 if e0 < dirty else dirty
        d_hi = e1 if e1 > dirty else dirty
    else:
        lam = sc.cold_rate * k
        if lam > STEADY_MAX_SLOPE:
            return 0, 0.0, 0.0, dirty
        d_star = sc.hot_pages / (1.0 - lam)
        d_lo = dirty if dirty < d_star else d_star
        d_hi = dirty if dirty > d_star else d_star
        if d_lo < 1.0 or sc.hot_rate * k * d_lo < sc.hot_pages:
            return 0, 0.0, 0.0, dirty
    if abs(dirty - d_star) > STEADY_RTOL * d_star:
        return 0, 0.0, 0.0, dirty
    scratch = work[2:4]         # the stop rule updates its progress tracker (work[:2]): a copy
    for d in (d_lo, d_hi):
        scratch[0] = work[0]
        scratch[1] = work[1]
        if stop_rule(rule, scratch, t, d, sc.page_bytes, dec, d, rows, total_pages, d, np.inf) != R_RUNNING:
            return 0, 0.0, 0.0, dirty
    kj = _steady_jump(rule, clk, rseg, t, rows, total_pages, k * d_hi, d_hi)
    if kj == 0:
        return 0, 0.0, 0.0, dirty
    dev = dirty - d_star
    pages = kj * d_star + dev * (1.0 - lam ** kj) / (1.0 - lam)
    return kj, k * pages, pages, d_star + dev * lam ** kj


@njit(**_INLINE)
def _steady_jump(rule, clk, rseg, t, rows, total_pages, dur, pages):
    """Rounds that can be skipped from a steady state (rounds of ``dur`` s sending
    ``pages`` pages each, identical within the tolerance) before the first event
    that could stop or change the migration: timeout, completion timeout,
    max_rounds, max_data, the round guard, the post-copy round count, the next
    downtime-schedule or rate-schedule step.  ``STEADY_MARGIN`` rounds are kept
    for the explicit loop, so the stop rule itself decides."""
    t_end = rule.timeout_s if rule.timeout_s < rule.completion_s else rule.completion_s
    for i in range(rule.dl_t.shape[0]):
        if rule.dl_t[i] > t:
            if rule.dl_t[i] < t_end:
                t_end = rule.dl_t[i]
            break
    if rseg + 1 < clk.rate_t.shape[0] and clk.rate_t[rseg + 1] < t_end:
        t_end = clk.rate_t[rseg + 1]
    k = math.floor((t_end - t) / dur) if dur > 0.0 else 0.0
    lim = float(rule.round_guard - rows)
    if rule.max_rounds > 0 and rule.max_rounds - 1 - rows < lim:
        lim = float(rule.max_rounds - 1 - rows)
    if rule.pc_on and rule.pc_after > 0 and rule.pc_after - rows < lim:
        lim = float(rule.pc_after - rows)
    if rule.max_data_pages >= 0 and pages > 0.0:
        kd = math.floor((rule.max_data_pages - total_pages) / pages)
        if kd < lim:
            lim = kd
    if lim < k:
        k = lim
    k -= STEADY_MARGIN
    return int(k) if k >= 1.0 else 0


@njit(**_INLINE)
def _engine(kind, sc, rule, table, out, work, fast):
    """Iterate expected rounds with the kernel's stop rule
    (:func:`precopy._stoprule.stop_rule`); mirrors the kernel's round loop.

    Returns the number of table rows, or -1 if ``table`` (when it has rows) is too
    small.  A table with zero rows records nothing.  ``sc.skip`` (saturation kind
    only) models page skip with :func:`_skip_duration`.  Clark et al.'s adaptive
    rate and the controls' rate schedule act as in the kernel.  ``work`` is
    scratch space of at least ``4 + len(sc.g_cnt)`` floats.

    With ``fast`` (and no table), once a migration of the hot/cold or saturation
    kind is in the steady state of its round map (:func:`_steady`), the rounds up
    to the next event that could stop or change it (:func:`_steady_jump`) are
    added in O(1) and the last rounds run explicitly: the stop rule makes the
    final decision.  Not with page skip, adaptive rate, a progress timeout or
    post-copy on no progress (full iteration then).
    """
    cap = table.shape[0]
    record = cap > 0
    n_pages = sc.n_pages
    n_zero = sc.n_zero
    page_bytes = sc.page_bytes
    hdr_bytes = sc.hdr_bytes
    w = sc.w
    g_cnt = sc.g_cnt
    g_logq = sc.g_logq
    clk = sc.clk
    full_cost = page_bytes + hdr_bytes
    skip = sc.skip and kind == 2 and w > 0.0
    prog = work          # [0:2] the progress tracker, [2:4] scratch, [4:] y
    if skip:             # y: expected pages of each group in the synced set
        for g in range(g_cnt.shape[0]):
            work[4 + g] = g_cnt[g]
    t = 0.0
    tau = 0.0
    rseg = 0
    m = 0.0          # writes counted so far (the kernel's floor(rate * guest time))
    rows = 0
    total_bytes = 0.0
    total_pages = 0.0
    reason = R_RUNNING
    dirty = float(n_pages)
    prev_dirty = dirty
    prog[0] = dirty
    prog[1] = 0.0
    first = True
    steady = (fast and not record and (kind == 1 or kind == 2) and not skip and not sc.ar_on
              and rule.progress_s == np.inf and not (rule.pc_on and rule.pc_noprog) and not sc.threshold)
    thr = sc.threshold
    bulk_left = float(n_pages)    # QEMU's cadence: pages of the first pass not sent yet
    if thr:     # the pages set, all at setup: saturation by group in work[4:] and the pages of no
        work[2] = sc.hot_pages                  # group (never written) in work[2]; hot/cold by
        work[3] = n_pages - sc.hot_pages        # class in work[2], work[3]
        if kind == 2:
            work[2] = n_pages
            for g in range(g_cnt.shape[0]):
                work[4 + g] = g_cnt[g]
                work[2] -= g_cnt[g]
    link_Bps = sc.rate_Bps
    rate_Bps = link_Bps
    if sc.ar_on and sc.ar_min < link_Bps:
        rate_Bps = sc.ar_min
    if sc.check_first and downtime_ok(rule, 0.0, dirty * page_bytes, _decision(sc, 0.0)):
        reason = R_DOWNTIME
    while reason == R_RUNNING:
        if record and rows >= cap:
            return -1
        t0 = t
        tau0 = tau
        rseg = K.segment(t0, rseg, clk.rate_t)
        if first:
            rbytes = (n_pages - n_zero) * full_cost + n_zero * hdr_bytes
        else:
            rbytes = dirty * full_cost
        visited = dirty
        sent = dirty
        if thr:     # QEMU's cadence: whole chunks until the pages still set fit the threshold
            thr_b = _decision(sc, t0) * step_value(rule.dl_t, rule.dl_s, t0) if rule.has_dl else 0.0
            sent = dirty - thr_b / page_bytes
            if sent < 1.0:
                sent = 1.0
            sent = math.ceil(sent / sc.chunk_pages) * sc.chunk_pages     # whole pages, whole chunks
            if sent > dirty:
                sent = dirty
            kb = sent if sent < bulk_left else bulk_left
            pos = n_pages - bulk_left
            lo = pos if pos > n_pages - n_zero else n_pages - n_zero
            nz = pos + kb - lo if pos + kb > lo else 0.0
            rbytes = (kb - nz) * full_cost + nz * hdr_bytes + (sent - kb) * full_cost
            bulk_left -= kb
            visited = sent
            keep = 1.0 - sent / dirty      # the pages sent: a random sample of those set
            for g in range(g_cnt.shape[0]):
                work[4 + g] *= keep
            work[2] *= keep
            work[3] *= keep
        if skip:
            cost = rbytes / dirty
            frac = _skip_duration(work[4:4 + g_cnt.shape[0]], g_logq, w, cost / rate_Bps) / (rbytes / rate_Bps)
            if frac > 1.0:
                frac = 1.0
            sent = dirty * frac
            rbytes = sent * cost
        sig = rbytes / rate_Bps
        t1 = K.send_end(t0, sig, rseg, clk)
        dur = sig / clk.rate_f[0] if clk.rate_t.shape[0] == 1 else t1 - t0
        tau1 = tau0 + 1.0 * (t1 - t0)
        if kind == 2 or kind == 3:
            target = np.floor(w * tau1)
            writes = target - m
            if writes > 0:
                m = target
            else:
                writes = 0.0
            if kind == 2:
                dirtied = 0.0
                for g in range(g_cnt.shape[0]):
                    yg = g_cnt[g] * -math.expm1(writes * g_logq[g]) if writes > 0 else 0.0
                    if not thr:
                        work[4 + g] = yg
                    elif g_cnt[g] > 0.0:    # QEMU's cadence: written pages not set already join
                        work[4 + g] += (g_cnt[g] - work[4 + g]) * (yg / g_cnt[g])
                    dirtied += yg
            else:
                dirtied = writes if writes < sc.seq_pages else sc.seq_pages
        else:
            gdur = tau1 - tau0
            writes = w * gdur
            if kind == 0:
                dirtied = writes
            else:
                hot = sc.hot_rate * gdur
                if hot > sc.hot_pages:
                    hot = sc.hot_pages
                dirtied = hot + sc.cold_rate * gdur
            if dirtied < 1.0:      # less than one page is no page
                dirtied = 0.0
        t = t1
        tau = tau1
        total_bytes += rbytes
        total_pages += sent
        if record:
            table[rows, _C_START] = t0
            table[rows, _C_DUR] = dur
            table[rows, _C_SENT] = sent
            table[rows, _C_DIRTIED] = dirtied
            table[rows, _C_BYTES] = rbytes
            table[rows, _C_WRITES] = writes
            table[rows, _C_FINAL] = 0.0
            table[rows, _C_SKIP] = visited - sent
            table[rows, _C_RATE] = rate_Bps * clk.rate_f[rseg]
        rows += 1
        first = False
        prev_dirty = dirty
        if thr:     # the rest stays set; the pages written that were not set join it
            rest = dirty - sent
            if kind == 2:
                dirty = work[2]
                for g in range(g_cnt.shape[0]):
                    dirty += work[4 + g]
            elif kind == 1:
                hot = dirtied - sc.cold_rate * (tau1 - tau0) if dirtied > 0.0 else 0.0
                cold = dirtied - hot
                if sc.hot_pages > 0.0:
                    work[2] += (sc.hot_pages - work[2]) * (hot / sc.hot_pages)
                if n_pages > sc.hot_pages:
                    work[3] += (n_pages - sc.hot_pages - work[3]) * (cold / (n_pages - sc.hot_pages))
                dirty = work[2] + work[3]
            elif kind == 0:     # Liu et al.: every write dirties a page not yet dirty
                dirty = rest + dirtied
            else:               # Sequential: the sweep meets the rest as if at random
                dirty = rest + dirtied * (1.0 - rest / n_pages)
        else:
            dirty = dirtied
        next_rate = dirty * page_bytes / dur + sc.ar_inc if (sc.ar_on and dur > 0.0) else np.inf
        reason = stop_rule(rule, prog, t, dirty, page_bytes, _decision(sc, t), visited, rows, total_pages,
                           prev_dirty, next_rate)
        if sc.ar_on and reason == R_RUNNING:
            rate_Bps = next_rate if next_rate > sc.ar_min else sc.ar_min
            if rate_Bps > link_Bps:
                rate_Bps = link_Bps
        if steady and reason == R_RUNNING and abs(dirty - prev_dirty) <= STEADY_RTOL * dirty:
            kj, dt, dp, dirty = _steady(kind, sc, rule, work, clk, rseg, t, rows, total_pages, dirty, prev_dirty,
                                        writes, rate_Bps * clk.rate_f[rseg], _decision(sc, t))
            if kj > 0:
                t += dt
                tau += dt
                total_pages += dp
                total_bytes += dp * full_cost
                rows += kj
                m = np.floor(w * tau)
    if reason == R_ABORTED or reason == R_POSTCOPY:
        fbytes = 0.0        # no stop-and-copy (post-copy: the pages move after the switch)
    elif first:
        fbytes = (n_pages - n_zero) * full_cost + n_zero * hdr_bytes
    elif thr and bulk_left > 0.0:    # the first pass's rest goes as the bulk pass does
        lo = n_pages - bulk_left if n_pages - bulk_left > n_pages - n_zero else n_pages - n_zero
        nz = n_pages - lo
        fbytes = (bulk_left - nz) * full_cost + nz * hdr_bytes + (dirty - bulk_left) * full_cost
    else:
        fbytes = dirty * full_cost
    final_pages = dirty if fbytes > 0 else 0.0
    if fbytes > 0:
        if record:
            if rows >= cap:
                return -1
            table[rows, _C_START] = t
            table[rows, _C_DUR] = np.nan
            table[rows, _C_SENT] = dirty
            table[rows, _C_DIRTIED] = 0.0
            table[rows, _C_BYTES] = fbytes
            table[rows, _C_WRITES] = 0.0
            table[rows, _C_FINAL] = 1.0
            table[rows, _C_SKIP] = 0.0
            table[rows, _C_RATE] = np.nan
        rows += 1
    out[_O_T_STOP] = t
    out[_O_FINAL_PAGES] = final_pages
    out[_O_FINAL_BYTES] = fbytes
    out[_O_REASON] = reason
    out[_O_TOTAL_BYTES] = total_bytes + fbytes
    out[_O_TOTAL_PAGES] = total_pages + final_pages
    out[_O_ROWS] = rows
    return rows


@njit(**NJIT)
def _engine_one(kind, sc, rule, table, out, work, fast):
    """:func:`_engine` for one scenario, compiled and cached on its own (``_engine`` is
    inlined into its callers, so it has no cache of its own)."""
    return _engine(kind, sc, rule, table, out, work, fast)


@intrinsic
def _borrow(typingctx, arr):
    """A view of ``arr`` without reference counting (no meminfo), for the inner
    loop of :func:`_engine_many`; only for arrays that outlive every use of the
    view (numba frees an array after its last use in a function)."""
    def codegen(context, builder, sig, args):
        src = context.make_array(arr)(context, builder, value=args[0])
        dst = context.make_array(arr)(context, builder)
        dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
        dst.parent = cgutils.get_null_value(dst.parent.type)
        for f in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(dst, f, getattr(src, f))
        return dst._getvalue()
    return arr(arr), codegen


@njit(**NJIT)
def _engine_many(kind, base, rule, n_pages, n_zero, page_bytes, w, rate_Bps, decision_Bps, max_data_pages,
                 g_cnt, g_logq, hot_pages, hot_rate, cold_rate, outs, table, work, fast):
    """:func:`_engine` over flat arrays of scenarios (one row of ``outs`` each);
    ``base`` holds what they share, ``g_cnt``/``g_logq`` have one row per
    scenario or a single shared row; ``table`` has no rows, ``work`` is the
    engine's scratch space.  The caller owns every array."""
    # borrowed views: the caller's arrays outlive the loop, and counting references
    # (atomically) to each array of each configuration cost more than its rounds
    table = _borrow(table)
    work = _borrow(work)
    g_cnt = _borrow(g_cnt)
    g_logq = _borrow(g_logq)
    outs = _borrow(outs)
    c = base.clk
    clk = K.Clocks(_borrow(c.thr_t), _borrow(c.thr_f), _borrow(c.rate_t), _borrow(c.rate_f))
    dl_t = _borrow(rule.dl_t)
    dl_s = _borrow(rule.dl_s)
    shared = g_cnt.shape[0] == 1
    for i in range(outs.shape[0]):
        gi = 0 if shared else i
        sc = EngineScenario(n_pages[i], n_zero[i], page_bytes[i], base.hdr_bytes, w[i], rate_Bps[i],
                            decision_Bps[i], base.decision_follows_rate, base.check_first, base.skip, base.ar_on,
                            base.ar_min, base.ar_inc, clk, hot_pages[i], hot_rate[i], cold_rate[i], 0.0,
                            g_cnt[gi], g_logq[gi], base.threshold, base.chunk_pages)
        r = StopRule(rule.has_dl, dl_t, dl_s, rule.min_dirty, rule.min_round_pages, rule.max_rounds,
                     max_data_pages[i], rule.timeout_s, rule.round_guard, rule.ar_on, rule.ar_max, rule.pc_on,
                     rule.pc_after, rule.pc_noprog, rule.pc_minprog, rule.completion_s, rule.completion_action,
                     rule.progress_s, rule.progress_action)
        _engine(kind, sc, r, table, outs[i], work, fast)


def _base(policy, clk, *, n_pages=0.0, n_zero=0.0, page_bytes=4096.0, w=0.0, rate_Bps=1.0, decision_Bps=1.0,
          threshold=False, chunk_pages=1.0,
          hot_pages=0.0, hot_rate=0.0, cold_rate=0.0, seq_pages=0.0, g_cnt=None, g_logq=None):
    """An :class:`EngineScenario` from a checked policy and the scenario's numbers."""
    ar = policy.adaptive_rate
    z = np.zeros(0)
    return EngineScenario(
        float(n_pages), float(n_zero), float(page_bytes), float(policy.header_bytes), float(w), float(rate_Bps),
        float(decision_Bps), policy.switchover_bandwidth_bps is None, bool(policy.check_before_first_round),
        bool(policy.page_skip), ar is not None, 0.0 if ar is None else ar.min_Bps,
        0.0 if ar is None else ar.increment_Bps, clk, float(hot_pages), float(hot_rate), float(cold_rate),
        float(seq_pages), z if g_cnt is None else g_cnt, z if g_logq is None else g_logq, bool(threshold),
        float(chunk_pages))


def _clocks(rate_t=None, rate_f=None):
    """The engine's clocks: no throttle; the controls' rate schedule (factors of the first rate)."""
    if rate_t is None:
        rate_t, rate_f = [0.0], [1.0]
    return K.Clocks(np.zeros(1), np.ones(1), np.array(rate_t, np.float64), np.array(rate_f, np.float64))


def _model_arrays(kind, writes_per_s, link_Bps, n_pages, hot_pages, hot_fraction, policy, page_bytes,
                  zero_pages, probabilities, switchover):
    """Shared body of :func:`saturation_model` and :func:`hotcold_model`."""
    policy, switchover = resolve_policy(policy, switchover)
    w = _arr(writes_per_s, "writes_per_s", "page writes per second", lo=0.0, hi=1e11)
    G = _arr(link_Bps, "link_Bps", "bytes/s", lo=1e3 / 8, hi=1e13 / 8)
    N = _arr(n_pages, "n_pages", "pages", lo=1.0, hi=2.0**32 - 1, integral=True)
    P = _arr(page_bytes, "page_bytes", "bytes", lo=512.0, hi=2.0**30, integral=True)
    Z = _arr(zero_pages, "zero_pages", "pages", lo=0.0, integral=True)
    H = _arr(hot_pages, "hot_pages", "pages", lo=0.0, integral=True)
    f = _arr(hot_fraction, "hot_fraction", "fraction", lo=0.0, hi=1.0)
    w, G, N, P, Z, H, f = np.broadcast_arrays(w, G, N, P, Z, H, f)
    if np.any(Z > N):
        raise ValueError("zero_pages (pages) must be in [0, n_pages]")
    if np.any(H > N):
        raise ValueError("hot_pages (pages) must be in [0, n_pages]")
    if np.any((H == 0) & (f > 0) & (w > 0)):
        raise ValueError("hot_pages (pages) must be at least 1 when hot_fraction > 0")
    shape = w.shape
    if policy.min_dirty_bytes and np.unique(P).size > 1:
        raise ValueError("page_bytes (bytes) must be a single value when the policy has min_dirty_bytes")
    if policy.controls is not None and policy.controls.rate_schedule is not None:
        raise ValueError("policy.controls.rate_schedule must be None for the array models (it is a wall-clock "
                         "schedule of one scenario); use analytic.saturation or analytic.hotcold")
    rule = stop_rule_numbers(policy, int(P.flat[0]) if P.size else 4096, 1)
    R = G if policy.max_bandwidth_bps is None else np.minimum(G, policy.max_bandwidth_bps / 8.0)
    B = R if policy.switchover_bandwidth_bps is None else np.full(shape, policy.switchover_bandwidth_bps / 8.0)
    bulk_s = N * P / R
    if np.any(bulk_s > policy.timeout_s):
        raise ValueError(f"timeout_s (s) must exceed the time to send memory once at the pre-copy rate "
                         f"(up to {bulk_s.max():.6g} s); got {policy.timeout_s}")
    size = int(np.prod(shape))
    # contiguous and writable (a read-only broadcast view would be another signature to compile)
    flat = lambda a: np.require(np.broadcast_to(a, shape).reshape(size), np.float64, ["C", "W"])  # noqa: E731
    if probabilities is not None:
        if kind != _K_SAT:
            raise ValueError("probabilities are used by the saturation model only")
        if np.any(H != 0) or np.any(f != 0):
            raise ValueError("hot_pages and hot_fraction must be 0 when probabilities are given "
                             "(the probabilities already describe the hot set)")
        probs, counts = page_groups(probabilities)
        if np.any(N != len(np.asarray(probabilities))):
            raise ValueError(f"n_pages (pages) must equal len(probabilities)={len(np.asarray(probabilities))}")
        g_p, g_c = probs[None, :], counts[None, :]
    else:
        g_p, g_c = _hotcold_groups(flat(N), flat(H), flat(f))
    with np.errstate(divide="ignore"):
        g_logq = np.ascontiguousarray(np.log1p(-g_p), np.float64)
    g_c = np.ascontiguousarray(g_c, np.float64)
    Nf, Hf, ff, wf = flat(N), flat(H), flat(f), flat(w)
    hot_rate = wf * (ff + (1.0 - ff) * Hf / Nf)
    cold_rate = wf * (1.0 - ff) * (Nf - Hf) / Nf
    max_data = (np.full(size, -1.0) if policy.max_data_factor is None
                else np.floor(policy.max_data_factor * Nf))
    outs = np.zeros((size, _N_OUT))
    _engine_many(kind, _base(policy, _clocks()), rule, Nf, flat(Z), flat(P), wf, flat(R), flat(B), max_data,
                 g_c, g_logq, Hf, hot_rate, cold_rate, outs, np.zeros((0, _N_COLS)), np.zeros(4 + g_c.shape[1]),
                 not _FULL_ITERATION)
    Gf = flat(G) if policy.final_bandwidth_bps is None else np.minimum(flat(G), policy.final_bandwidth_bps / 8.0)
    reason = outs[:, _O_REASON].astype(np.int64)
    ran = reason != R_ABORTED       # an aborted migration never stops the VM
    final_s = outs[:, _O_FINAL_BYTES] / Gf
    # the downtime parts of precopy.results.downtime_parts, over arrays
    downtime = np.where(ran, final_s + switchover.device_time_s(Gf) + switchover.resume_s
                        + switchover.announce_s, 0.0)
    rs = lambda a: np.asarray(a).reshape(shape)  # noqa: E731
    return AnalyticArrays(
        total_time_s=rs(outs[:, _O_T_STOP] + downtime), downtime_s=rs(downtime),
        precopy_time_s=rs(outs[:, _O_T_STOP]),
        bytes_sent=rs(outs[:, _O_TOTAL_BYTES] + np.where(ran, switchover.device_state_bytes, 0.0)),
        final_bytes=rs(outs[:, _O_FINAL_BYTES]), n_rounds=rs(outs[:, _O_ROWS]),
        converged=rs(converged(reason)), stop_reason=rs(_reason_names(reason)))


def saturation_model(writes_per_s, link_Bps, n_pages, hot_pages=0, hot_fraction=0.0, *, policy=None,
                     page_bytes=4096, zero_pages=0, probabilities=None, switchover=None) -> AnalyticArrays:
    """The saturation model over arrays of hot/cold (or uniform) scenarios.

    Rounds are whole passes over the synced set, whatever the policy's
    ``sync_cadence`` (the one-scenario :func:`saturation` follows QEMU's).

    Round by round, as the kernel runs: round 0 sends all pages; a round of
    ``d`` pages lasts ``d (page + header) / R``; the writes it sees are counted as
    the kernel counts them, ``floor(w t_end) - floor(w t_start)``; the next round
    sends the expected distinct pages those writes dirty (closed form per group,
    :func:`expected_distinct_hotcold`, or ``probabilities`` grouped by
    :func:`page_groups`).  The policy's stop rule and caps apply after each round
    (see the module notes).  Arguments before ``*`` broadcast.

    With ``policy.page_skip`` a page of the synced set is skipped when it is
    rewritten before the sender reaches it.  Taking send positions independent of
    write probabilities (true for Xen's permuted order), the time ``tau`` spent
    after visiting a share ``u`` of the set obeys
    ``d tau / d u = (P + h) / R * sum_g y_g (1 - p_g)**(w tau)``, ``y_g`` the
    expected set pages of group ``g``; it is integrated per round (RK4) and the
    round sends ``tau(1) R / (P + h)`` pages.  The next set is still every page
    written during the round.

    Parameters
    ----------
    writes_per_s : array_like
        Guest page writes per second.
    link_Bps : array_like
        Link goodput in bytes/s (``link.goodput_Bps``); pre-copy runs at
        ``min(link_Bps, policy.max_bandwidth_bps / 8)``, the stop-and-copy at
        ``link_Bps``.
    n_pages : array_like of int
        Guest pages.
    hot_pages : array_like of int, default 0
        Hot-set pages (0 with ``hot_fraction=0``: uniform writes).
    hot_fraction : array_like of float, default 0
        Share of writes aimed at the hot set.
    policy : Policy or str, default QEMU()
        Stop rule, caps, header bytes, rate cap, page skip.
    page_bytes : array_like of int, default 4096
        Page size.
    zero_pages : array_like of int, default 0
        Pages sent header-only by round 0.
    probabilities : array_like, optional
        Per-page write probabilities replacing the hot/cold pair (for Zipf and
        other stationary workloads); then ``n_pages`` must equal its length.
    switchover : Switchover, optional
        Device state and resume time of the downtime.

    Returns
    -------
    AnalyticArrays

    References
    ----------
    QEMU calc-dirty-rate commit (2023) and A. Gudkov's migration predictor
    (qemu-devel, 2023, not merged), ``docs/reference.md`` sec. 1 and 4.

    Examples
    --------
    >>> import numpy as np, precopy as pc
    >>> w = np.array([1e4, 2e4, 4e4])
    >>> r = saturation_model(w, pc.Link(rate_bps=pc.Gbps(10)).goodput_Bps, n_pages=262144,
    ...                      hot_pages=16384, hot_fraction=0.9, policy="qemu")
    >>> r.n_rounds.tolist(), r.converged.tolist()
    ([3.0, 4.0, 7.0], [True, True, True])
    """
    return _model_arrays(_K_SAT, writes_per_s, link_Bps, n_pages, hot_pages, hot_fraction, policy,
                         page_bytes, zero_pages, probabilities, switchover)


def hotcold_model(writes_per_s, link_Bps, n_pages, hot_pages=0, hot_fraction=0.0, *, policy=None,
                  page_bytes=4096, zero_pages=0, switchover=None) -> AnalyticArrays:
    """A two-class (hot/cold) model over arrays of scenarios.

    What is modelled (after Aldhalaan & Menasce, EPEW 2013, whose hot/cold
    split it follows; the map below is this package's): with ``w`` writes/s,
    ``f`` the hot share, ``H`` hot and ``N`` total pages,

    * hot pages are written at ``w_h = w (f + (1 - f) H / N)`` writes/s and the
      hot set is dirtied *at that rate until it is full*: ``min(H, w_h t)`` pages
      in a round of ``t`` seconds (instant saturation instead of the exponential
      approach);
    * cold pages are written at ``w_c = w (1 - f)(N - H) / N`` writes/s, each
      write dirtying a new page: ``w_c t`` (Liu's geometric term);
    * so a round of ``d`` pages lasts ``t = d (P + h) / R`` and leaves
      ``min(H, w_h t) + w_c t`` dirty: a geometric sequence with ratio
      ``(w_h + w_c)(P + h) / R`` while the hot set is not full, an affine one
      ``H + lambda_c d`` (fixed point ``H / (1 - lambda_c)``, the writable working
      set floor) once it is.

    Both terms bound the expected distinct pages from above, so this model
    dirties at least as much per round as the saturation model; it tends to the
    geometric model as ``H -> 0``.  Rounds, caps and stop rules are as in
    :func:`saturation_model`, with continuous write counts ``w t``; less than
    one page left counts as none (``no_dirty_pages``).

    Parameters
    ----------
    writes_per_s, link_Bps, n_pages, hot_pages, hot_fraction, policy, page_bytes, zero_pages, switchover
        As in :func:`saturation_model`.

    Returns
    -------
    AnalyticArrays

    References
    ----------
    A. Aldhalaan, D. A. Menasce, "Analytic Performance Modeling and Optimization
    of Live VM Migration", EPEW 2013, doi:10.1007/978-3-642-40725-3_4.

    Examples
    --------
    >>> import precopy as pc
    >>> r = hotcold_model(2e4, pc.Link(rate_bps=pc.Gbps(10)).goodput_Bps, n_pages=262144,
    ...                   hot_pages=16384, hot_fraction=0.9, policy="qemu")
    >>> r.stop_reason.item(), int(r.n_rounds)
    ('downtime_limit', 5)
    """
    return _model_arrays(_K_HOTCOLD, writes_per_s, link_Bps, n_pages, hot_pages, hot_fraction, policy,
                         page_bytes, zero_pages, None, switchover)


# =============================================================================
# scenarios from (vm, workload, link, policy)
# =============================================================================

@dataclass(frozen=True)
class _Scenario:
    vm: VM
    workload: Workload
    link: Link
    policy: Policy
    switchover: Switchover
    rates: object            # precopy.scenario.Rates
    max_data_pages: float    # -1: no cap

    @property
    def rate_Bps(self):
        return self.rates.rate_Bps

    @property
    def final_Bps(self):
        return self.rates.final_rate_Bps

    @property
    def decision_Bps(self):
        return self.rates.decision_Bps

    @property
    def full_cost(self):
        return float(self.vm.page_bytes + self.policy.header_bytes)

    @property
    def bulk_bytes(self):
        vm, h = self.vm, float(self.policy.header_bytes)
        return (vm.n_pages - vm.n_zero_pages) * self.full_cost + vm.n_zero_pages * h

    def notes(self, kind):
        """What a model of ``kind`` leaves out or approximates for this scenario."""
        pol, out = self.policy, []
        if pol.sync_cadence == "threshold" and kind == _K_GEOM:
            out.append("Liu et al.'s closed form iterates whole passes: QEMU's sync cadence is not modelled")
        elif pol.sync_cadence == "threshold":
            out.append("QEMU's sync cadence in expectation: each round sends whole chunks until the pages still "
                       "set fit the threshold, taken as a random sample of the pages set")
        if pol.controls is not None and pol.controls.rate_schedule is not None and pol.page_skip:
            out.append("with a rate schedule, page skip is integrated at the base rate")
        if not pol.page_skip:
            return tuple(out)
        if kind == _K_HOTCOLD:
            out.append("page skip is not modelled: every dirty page of a round is sent")
        elif kind == _K_SEQ:
            out.append("page skip is not modelled for a Sequential workload: every dirty page of a round is sent")
        elif kind == _K_GEOM:
            out.append("page skip has no effect in the geometric model: no page is written twice")
        else:
            out.append("page skip modelled in expectation, send positions independent of write probabilities"
                       + (" (the policy's address order is treated as such)" if pol.send_order == "address" else ""))
            if self.vm.n_zero_pages:
                out.append("with page skip, round 0 charges every sent page the mean bulk cost (zero pages included)")
        return tuple(out)


def _scenario(vm, workload, link, policy, switchover) -> _Scenario:
    """Validate like :class:`precopy.Prepared`, allocating nothing."""
    policy, switchover, rates = check_scenario(vm, workload, link, policy, switchover)
    max_data = -1.0 if policy.max_data_factor is None else float(math.floor(policy.max_data_factor * vm.n_pages))
    return _Scenario(vm, workload, link, policy, switchover, rates, max_data)


def _result(kind, sc: _Scenario, total_live_s, final_pages, final_bytes, reason, total_bytes, total_pages,
            table_cols) -> AnalyticResult:
    cols = dict(table_cols)
    final = np.asarray(cols["stop_copy"], bool)
    final_s = final_bytes / sc.final_Bps
    cols["duration_s"] = np.where(final, final_s, cols["duration_s"])
    cols["throttle"] = np.where(final, 0.0, 1.0)
    if "rate_Bps" in cols:
        cols["rate_Bps"] = np.where(final, sc.final_Bps, cols["rate_Bps"])
    k = len(final)
    cols.setdefault("pages_skipped", np.zeros(k))
    fields = assemble(reason=int(reason), t_stop_s=total_live_s, final_transfer_s=final_s, final_pages=final_pages,
                      total_bytes=total_bytes, total_pages=total_pages, postcopy_s=0.0, columns=cols,
                      switchover=sc.switchover, rate_bps=sc.rates.rate_bps, final_rate_bps=sc.rates.final_rate_bps,
                      memory_bytes=sc.vm.memory_bytes, policy=sc.policy.name, integral=False)
    return AnalyticResult(model=_KIND_NAME[kind], notes=sc.notes(kind), **fields)


def _run_engine(kind, sc: _Scenario, g_cnt=None, g_p=None, hot_pages=0.0, hot_rate=0.0, cold_rate=0.0,
                seq_pages=0.0, aids=()) -> AnalyticResult:
    """One scenario through :func:`_engine`, with its per-round table."""
    vm, pol = sc.vm, sc.policy
    g_cnt = np.zeros(0) if g_cnt is None else np.ascontiguousarray(g_cnt, np.float64)
    with np.errstate(divide="ignore"):      # p = 1: log1p(-1) = -inf, handled by the engine
        g_logq = np.zeros(0) if g_p is None else np.ascontiguousarray(np.log1p(-np.asarray(g_p, np.float64)))
    _, rate_t, rate_f = rate_schedule(pol, sc.link)
    chunk = 1.0
    if pol.sync_cadence == "threshold":     # QEMU's cadence: its estimate checked every chunk it sends
        from .policies import threshold_chunk_bytes
        goodput, rate = sc.link.goodput_bps, sc.rates.rate_bps
        chunk = max(1, int(threshold_chunk_bytes(goodput, rate if rate < goodput else None) // sc.full_cost))
    esc = _base(pol, _clocks(rate_t, rate_f), n_pages=vm.n_pages, n_zero=vm.n_zero_pages, page_bytes=vm.page_bytes,
                threshold=pol.sync_cadence == "threshold", chunk_pages=chunk,
                w=sc.workload.writes_per_s, rate_Bps=sc.rate_Bps, decision_Bps=sc.decision_Bps,
                hot_pages=hot_pages, hot_rate=hot_rate, cold_rate=cold_rate, seq_pages=seq_pages, g_cnt=g_cnt,
                g_logq=g_logq)
    rule = stop_rule_numbers(pol, vm.page_bytes, vm.n_pages, aids)
    table = np.zeros((ROUND_TABLE_CAPACITY, _N_COLS))
    out = np.zeros(_N_OUT)
    while True:
        rows = _engine_one(kind, esc, rule, table, out, np.zeros(4 + g_cnt.shape[0]), False)
        if rows >= 0:
            break
        table = np.zeros((2 * table.shape[0], _N_COLS))
    tb = table[:rows]
    cols = {"start_s": tb[:, _C_START], "duration_s": tb[:, _C_DUR], "pages_sent": tb[:, _C_SENT],
            "pages_skipped": tb[:, _C_SKIP], "pages_dirtied": tb[:, _C_DIRTIED], "bytes_sent": tb[:, _C_BYTES],
            "writes": tb[:, _C_WRITES], "rate_Bps": tb[:, _C_RATE], "stop_copy": tb[:, _C_FINAL] > 0}
    return _result(kind, sc, out[_O_T_STOP], out[_O_FINAL_PAGES], out[_O_FINAL_BYTES],
                   int(out[_O_REASON]), out[_O_TOTAL_BYTES], out[_O_TOTAL_PAGES], cols)


def _hot_params(wl, vm):
    """(H, f as the kernel draws it) for Idle / Uniform / HotCold workloads."""
    if isinstance(wl, Idle):
        return 0, 0.0
    return wl.hot_region(vm)[1], wl.hot_share()


# =============================================================================
# convenience: one scenario, the simulator's inputs
# =============================================================================

def geometric(vm: VM, workload: Workload, link: Link, policy: Policy | str | None = None,
              switchover: Switchover | None = None) -> AnalyticResult:
    """Liu et al.'s geometric model for a simulator scenario.

    The simulator's inputs map onto Liu's notation as follows: ``V_mem`` is the
    bulk pass on the wire, ``(N - Z)(P + h) + Z h``; every write dirties a page not
    yet dirty (the regime ``w t << N``), costing ``P + h`` bytes, so ``D = w (P + h)``;
    ``R`` is the pre-copy rate; the downtime rule ``d P < B * downtime_limit_s``
    becomes ``V_thd = B * downtime_limit_s * (P + h) / P``; ``min_dirty_pages`` and
    ``min_round_pages`` become ``m (P + h)`` bytes; ``max_data_factor`` becomes
    ``V_mem + (floor(f N) - N)(P + h)`` bytes; QEMU's check before the bulk pass
    uses ``N P``; less than one page left counts as none (the kernel stops with
    ``no_dirty_pages`` when a round sees no write).  The mean write rate is used
    for non-stationary workloads.

    Parameters
    ----------
    vm, workload, link, policy, switchover
        As for :func:`precopy.simulate` (policy default QEMU()).

    Returns
    -------
    AnalyticResult
        With per-round series from the closed form (``pages_sent`` of round
        ``i >= 1`` is ``V_mem lambda**i / (P + h)``).

    References
    ----------
    H. Liu, H. Jin, C.-Z. Xu, X. Liao, HPDC 2011, doi:10.1145/1996130.1996154.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(1))
    >>> r = geometric(vm, pc.workloads.Uniform(writes_per_s=2000), pc.Link(rate_bps=pc.Gbps(1)), "simgrid")
    >>> r.n_rounds, r.stop_reason
    (4, 'downtime_limit')
    """
    sc = _scenario(vm, workload, link, policy, switchover)
    pol, vm = sc.policy, sc.vm
    if pol.controls is not None:
        raise ValueError(f"policy {pol.name!r} has controls: the geometric model is a closed form without "
                         "run-time schedules or timeouts; use model='saturation' or 'hotcold'")
    if pol.adaptive_rate is not None:
        raise ValueError(f"policy {pol.name!r} has an adaptive_rate: the geometric model assumes one constant "
                         "rate; use model='saturation' or 'hotcold'")
    N, P, fc = float(vm.n_pages), float(vm.page_bytes), sc.full_cost
    V0 = sc.bulk_bytes
    w = float(workload.writes_per_s)
    R = sc.rate_Bps
    has_dl = pol.downtime_limit_s is not None
    thd = sc.decision_Bps * pol.downtime_limit_s * fc / P if has_dl else 0.0
    max_bytes = np.inf if sc.max_data_pages < 0 else V0 + (sc.max_data_pages - N) * fc
    sbf = bool(pol.check_before_first_round and has_dl and N * P < sc.decision_Bps * pol.downtime_limit_s)
    g = geometric_model(V0, w * fc, R, thd, final_rate_Bps=sc.final_Bps, resume_s=0.0,
                        max_rounds=pol.max_rounds,
                        min_remaining_bytes=max(pol.min_dirty_pages, -(-pol.min_dirty_bytes // vm.page_bytes)) * fc,
                        min_round_bytes=pol.min_round_pages * fc, max_bytes=max_bytes,
                        timeout_s=pol.timeout_s, stop_before_first=sbf, empty_bytes=fc)
    n = float(g.live_rounds)
    lam = float(g.dirty_ratio)
    reason = _REASONS.index(g.stop_reason.item())
    if not math.isfinite(n):      # unreachable: below one page or the timeout always stops it
        raise RuntimeError("the geometric model never stops for this scenario")
    n = int(n)
    i = np.arange(n, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        live_bytes = V0 * lam ** i
    starts = np.concatenate([[0.0], np.cumsum(live_bytes / R)])
    final_bytes = float(g.final_bytes)
    pages = np.concatenate([[N], live_bytes[1:] / fc]) if n > 0 else np.zeros(0)
    dirtied = live_bytes * lam / fc
    if reason == _R_EMPTY and n > 0:
        dirtied[-1] = 0.0          # less than one page is no page
    final_pages = N if n == 0 else final_bytes / fc
    has_final = final_bytes > 0
    k = n + (1 if has_final else 0)
    cols = {"start_s": starts[:k],
            "duration_s": np.concatenate([live_bytes / R, [np.nan] * int(has_final)]),
            "pages_sent": np.concatenate([pages, [final_pages] * int(has_final)]),
            "pages_dirtied": np.concatenate([dirtied, [0.0] * int(has_final)]),
            "bytes_sent": np.concatenate([live_bytes, [final_bytes] * int(has_final)]),
            "writes": np.concatenate([w * live_bytes / R, [0.0] * int(has_final)]),
            "stop_copy": np.arange(k) >= n}
    total_live_s = float(g.precopy_time_s)
    total_pages = N + float(np.sum(pages[1:])) + final_pages if n > 0 else N
    return _result(_K_GEOM, sc, total_live_s, final_pages, final_bytes, reason, float(g.bytes_sent),
                   total_pages, cols)


def saturation(vm: VM, workload: Workload, link: Link, policy: Policy | str | None = None,
               switchover: Switchover | None = None, *, seed: int = 0, aids=()) -> AnalyticResult:
    """The saturation model for a simulator scenario.

    Rounds are iterated as in :func:`saturation_model`; the distinct pages a
    round's ``n`` writes dirty are ``E(n) = sum_i 1 - (1 - p_i)**n``, in closed
    form for :class:`~precopy.workloads.Uniform` and
    :class:`~precopy.workloads.HotCold` (two groups), from
    ``workload.page_probabilities(vm, seed)`` grouped by equal value for other
    stationary random workloads (:class:`~precopy.workloads.Zipf`), and exactly
    ``min(n, region pages)`` for :class:`~precopy.workloads.Sequential` (a sweep
    of ``n`` consecutive writes).  Phased and trace workloads have no stationary
    distribution and raise ``ValueError``.  Page skip is modelled as described in
    :func:`saturation_model` (not for Sequential workloads; see ``notes``).

    Parameters
    ----------
    vm, workload, link, policy, switchover
        As for :func:`precopy.simulate` (policy default QEMU()).
    seed : int, default 0
        Seed of the Zipf rank permutation (it does not change the probabilities,
        only where they sit).
    aids : sequence of aids, default ()
        Convergence aids as for :func:`precopy.simulate`; only the switch of a
        :class:`precopy.aids.PostCopy` aid is modelled (the stop rule's
        ``postcopy`` reason: pre-copy ends, nothing is sent stopped), others are
        ignored.

    Returns
    -------
    AnalyticResult

    References
    ----------
    QEMU calc-dirty-rate commit (2023) and A. Gudkov's migration predictor
    (qemu-devel, 2023, not merged), ``docs/reference.md`` sec. 1 and 4.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.MiB(512))
    >>> r = saturation(vm, pc.workloads.Uniform(writes_per_s=20_000), pc.Link(rate_bps=pc.Gbps(10)), "qemu")
    >>> r.n_rounds, [round(x) for x in r.rounds["pages_dirtied"][:2]]
    (8, [57667, 28390])
    """
    sc = _scenario(vm, workload, link, policy, switchover)
    seed = v.seed(seed)
    aids = check_aids(aids)
    vm, wl = sc.vm, sc.workload
    if isinstance(wl, (Phased, Trace)):
        raise ValueError(f"workload must be stationary for the saturation model (Idle, Uniform, HotCold, Zipf, "
                         f"Sequential); got {type(wl).__name__}")
    if isinstance(wl, Sequential):
        return _run_engine(_K_SEQ, sc, seq_pages=wl.region_bytes // vm.page_bytes, aids=tuple(aids))
    if isinstance(wl, (HotCold, Idle)):
        H, f = _hot_params(wl, vm)
        p, c = _hotcold_groups(vm.n_pages, H, f)
    else:
        p, c = page_groups(wl.page_probabilities(vm, v.seed(seed)))
    keep = c > 0
    return _run_engine(_K_SAT, sc, g_cnt=c[keep], g_p=p[keep], aids=tuple(aids))


def hotcold(vm: VM, workload: Workload, link: Link, policy: Policy | str | None = None,
            switchover: Switchover | None = None) -> AnalyticResult:
    """The hot/cold model (:func:`hotcold_model`) for a simulator scenario.

    Needs a :class:`~precopy.workloads.HotCold` (or ``Uniform``, ``Idle``)
    workload; the hot share is the one the kernel draws (``hot_fraction``
    rounded to 1/2**32).

    Parameters
    ----------
    vm, workload, link, policy, switchover
        As for :func:`precopy.simulate` (policy default QEMU()).

    Returns
    -------
    AnalyticResult

    References
    ----------
    A. Aldhalaan, D. A. Menasce, EPEW 2013, doi:10.1007/978-3-642-40725-3_4.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(1))
    >>> wl = pc.workloads.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=20_000)
    >>> hotcold(vm, wl, pc.Link(rate_bps=pc.Gbps(10)), "qemu").n_rounds
    6
    """
    sc = _scenario(vm, workload, link, policy, switchover)
    if not isinstance(sc.workload, (HotCold, Idle)):
        raise ValueError(f"workload must be HotCold, Uniform or Idle for the hotcold model; "
                         f"got {type(sc.workload).__name__}")
    H, f = _hot_params(sc.workload, sc.vm)
    w, N = float(sc.workload.writes_per_s), float(sc.vm.n_pages)
    return _run_engine(_K_HOTCOLD, sc, hot_pages=H, hot_rate=w * (f + (1.0 - f) * H / N),
                       cold_rate=w * (1.0 - f) * (N - H) / N)


def predict(vm: VM, workload: Workload, link: Link, policy: Policy | str | None = None,
            switchover: Switchover | None = None, model: str = "saturation") -> AnalyticResult:
    """Predict a migration with one analytic model.

    Parameters
    ----------
    vm, workload, link, policy, switchover
        As for :func:`precopy.simulate` (policy default QEMU()).
    model : {'saturation', 'geometric', 'hotcold'}
        Which model (:func:`saturation`, :func:`geometric`, :func:`hotcold`).

    Returns
    -------
    AnalyticResult

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(1))
    >>> wl = pc.workloads.Uniform(writes_per_s=1000)
    >>> r = predict(vm, wl, pc.Link(rate_bps=pc.Gbps(10)), "qemu", model="geometric")
    >>> r.stop_reason, r.n_rounds
    ('downtime_limit', 2)
    """
    v.choice(model, "model", MODELS)
    fn = {"saturation": saturation, "geometric": geometric, "hotcold": hotcold}[model]
    return fn(vm, workload, link, policy, switchover)


# =============================================================================
# compare with the simulator
# =============================================================================

_METRICS = ("total_time_s", "downtime_s", "bytes_sent", "n_rounds")


@dataclass(frozen=True)
class Comparison:
    """The simulator (mean over seeds) next to each analytic model, one scenario.

    Attributes
    ----------
    seeds : tuple of int
        Seeds simulated.
    simulations : tuple of MigrationResult
        One per seed.
    simulated : dict
        Mean and standard deviation over seeds of ``total_time_s``, ``downtime_s``,
        ``bytes_sent``, ``n_rounds`` (keys ``<metric>`` and ``<metric>_std``), and
        ``converged`` (share of seeds that converged).
    simulated_rounds : RoundTable
        Per live round: ``round``, ``n_seeds`` reaching it, mean ``duration_s``,
        ``pages_sent``, ``pages_dirtied``, ``bytes_sent``, ``writes``.
    models : dict of str to AnalyticResult
        Each model that applies to the workload.
    skipped : dict of str to str
        Models that do not apply, with the reason.
    """

    seeds: tuple
    simulations: tuple = field(repr=False)
    simulated: dict
    simulated_rounds: RoundTable = field(repr=False)
    models: dict = field(repr=False)
    skipped: dict = field(default_factory=dict)

    def relative_errors(self) -> dict:
        """``{model: {metric: (model - simulated mean) / simulated mean}}``."""
        out = {}
        for name, r in self.models.items():
            out[name] = {m: (float(getattr(r, m)) - self.simulated[m]) / self.simulated[m]
                         if self.simulated[m] else float("nan") for m in _METRICS}
        return out

    def rows(self) -> list:
        """The comparison table as a list of dicts (one per source)."""
        s = self.simulated
        rows = [{"source": f"simulated (mean of {len(self.seeds)})", "total_time_s": s["total_time_s"],
                 "downtime_s": s["downtime_s"], "bytes_sent": s["bytes_sent"], "n_rounds": s["n_rounds"],
                 "converged": f"{s['converged']:.0%}", "stop_reason": s["stop_reason"],
                 "err_total_time": "", "err_bytes": ""}]
        errs = self.relative_errors()
        for name, r in self.models.items():
            rows.append({"source": name, "total_time_s": r.total_time_s, "downtime_s": r.downtime_s,
                         "bytes_sent": r.bytes_sent, "n_rounds": r.n_rounds,
                         "converged": "yes" if r.converged else "no", "stop_reason": r.stop_reason,
                         "err_total_time": f"{errs[name]['total_time_s']:+.2%}",
                         "err_bytes": f"{errs[name]['bytes_sent']:+.2%}"})
        return rows

    def _cells(self):
        head = ["source", "total time (s)", "downtime (ms)", "sent (MiB)", "rounds", "converged",
                "stop reason", "err time", "err sent"]
        body = []
        for r in self.rows():
            body.append([r["source"], f"{r['total_time_s']:.4g}", f"{r['downtime_s'] * 1e3:.4g}",
                         f"{r['bytes_sent'] / 2**20:.5g}", f"{r['n_rounds']:.3g}", r["converged"],
                         r["stop_reason"], r["err_total_time"], r["err_bytes"]])
        return head, body

    def summary(self) -> str:
        """The comparison as a fixed-width text table."""
        head, body = self._cells()
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        line = lambda r: "  ".join(x.ljust(wd) if i == 0 else x.rjust(wd)  # noqa: E731
                                   for i, (x, wd) in enumerate(zip(r, widths)))
        out = [line(head)] + [line(b) for b in body]
        out += [f"({name} not applicable: {why})" for name, why in self.skipped.items()]
        out += [f"note ({name}): {n}" for name, r in self.models.items() for n in r.notes]
        return "\n".join(out)

    def __str__(self):
        return self.summary()

    def _repr_html_(self):
        head, body = self._cells()
        h = "".join(f"<th>{html.escape(x)}</th>" for x in head)
        b = "".join("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in r) + "</tr>" for r in body)
        foot = "".join(f"<p>{html.escape(name)} not applicable: {html.escape(why)}</p>"
                       for name, why in self.skipped.items())
        return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>{foot}"


def compare(vm: VM, workload: Workload, link: Link, policy: Policy | str | None = None,
            switchover: Switchover | None = None, *, seeds=10,
            models=MODELS) -> Comparison:
    """Simulate a scenario over several seeds and set each analytic model beside it.

    Parameters
    ----------
    vm, workload, link, policy, switchover
        As for :func:`precopy.simulate` (policy default QEMU()).
    seeds : int or sequence of int, default 10
        A count (seeds ``0 .. seeds-1``) or the seeds themselves.
    models : sequence of str, default all of :data:`MODELS`
        Which models to run; those that do not apply to the workload (hotcold on
        a Zipf workload, saturation on a phased one) are listed in ``skipped``.

    Returns
    -------
    Comparison
        ``summary()`` prints a table; in Jupyter it shows as HTML.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.MiB(256))
    >>> c = compare(vm, pc.workloads.Uniform(writes_per_s=10_000), pc.Link(rate_bps=pc.Gbps(10)), "qemu", seeds=3)
    >>> sorted(c.models), abs(c.relative_errors()["saturation"]["total_time_s"]) < 0.02
    (['geometric', 'hotcold', 'saturation'], True)
    """
    sc = _scenario(vm, workload, link, policy, switchover)
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        n = v.integer(seeds, "seeds", "count", lo=1, hi=100_000)
        seed_list = tuple(range(n))
    else:
        try:
            seed_list = tuple(v.seed(s, "seeds[]") for s in seeds)
        except TypeError:
            raise ValueError(f"seeds must be a count >= 1 or a sequence of seeds; got {seeds!r}") from None
        if not seed_list:
            raise ValueError("seeds must be a count >= 1 or a non-empty sequence of seeds; got an empty sequence")
    if isinstance(models, str):
        models = (models,)
    if not hasattr(models, "__iter__"):
        raise ValueError(f"models must be a model name or a sequence of them ({', '.join(MODELS)}); got {models!r}")
    models = tuple(v.choice(m, "models[]", MODELS) for m in models)
    if not models:
        raise ValueError(f"models must name at least one of {', '.join(MODELS)}; got none")
    prep = Prepared(sc.vm, sc.workload, sc.link, sc.policy, sc.switchover)
    sims = tuple(prep.run(s) for s in seed_list)
    simulated = {}
    for m in _METRICS:
        vals = np.array([float(getattr(r, m)) for r in sims])
        simulated[m] = float(vals.mean())
        simulated[m + "_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    simulated["converged"] = float(np.mean([r.converged for r in sims]))
    reasons = [r.stop_reason for r in sims]
    simulated["stop_reason"] = max(set(reasons), key=reasons.count)
    live = [r.rounds for r in sims]
    k_max = max(int(np.sum(~t["stop_copy"])) for t in live)
    cols = {"round": np.arange(k_max), "n_seeds": np.zeros(k_max, np.int64)}
    names = ("duration_s", "pages_sent", "pages_dirtied", "bytes_sent", "writes")
    sums = {c: np.zeros(k_max) for c in names}
    for t in live:
        k = int(np.sum(~t["stop_copy"]))
        cols["n_seeds"][:k] += 1
        for c in names:
            sums[c][:k] += t[c][:k]
    for c in names:
        cols[c] = sums[c] / np.maximum(cols["n_seeds"], 1)
    fns = {"saturation": saturation, "geometric": geometric, "hotcold": hotcold}
    out, skipped = {}, {}
    for m in models:
        try:
            out[m] = fns[m](sc.vm, sc.workload, sc.link, sc.policy, sc.switchover)
        except ValueError as e:
            skipped[m] = str(e)
    return Comparison(seeds=seed_list, simulations=sims, simulated=simulated,
                      simulated_rounds=RoundTable(cols), models=out, skipped=skipped)
