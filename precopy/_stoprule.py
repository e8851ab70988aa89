"""The one stop rule: "stop pre-copy now, and why", checked at every bitmap sync.

Used by the page-level kernel (:mod:`precopy._kernel`) and by the analytic
round loop (:mod:`precopy.analytic`); the reason codes, ``converged`` and the
migration ``outcome`` are defined in :mod:`precopy.reasons` (no numba, so results
and plots can use them) and nowhere else.

At a sync, the first of these that holds ends pre-copy (``docs/reference.md``
gives each rule's source):

1. convergence: nothing left (``no_dirty_pages``); remaining bytes below the
   decision bandwidth x the downtime limit in force (``downtime_limit``; the
   limit may follow a ``downtime_schedule``); fewer dirty pages than
   ``min_dirty_pages`` (``dirty_pages``); the last round visited fewer pages
   than ``min_round_pages`` (``round_pages``);
2. Clark et al.'s adaptive rate would exceed its maximum (``max_rate``);
3. the post-copy aid's switch (``postcopy``);
4. the run-time controls: ``completion_timeout_s`` reached, or no new minimum
   of the remaining dirty pages for ``progress_timeout_s``; each acts by
   aborting (``aborted``), forcing the stop-and-copy (``forced``) or switching
   to post-copy (``postcopy``);
5. caps: ``max_rounds``, ``max_data_factor``, ``timeout_s``, the round guard.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from . import aids as A
from .config import MAX_ROUNDS_GUARD, NJIT
from .reasons import (  # noqa: F401  (the one table of reasons, re-exported)
    STOP_REASONS, CONVERGED_REASONS, OUTCOMES, ACTIONS, ACT_ABORT, ACT_FORCE, ACT_POSTCOPY, R_RUNNING,
    R_DOWNTIME, R_DIRTY, R_ROUND, R_EMPTY, R_MAXROUNDS, R_MAXDATA, R_TIMEOUT, R_ROUNDLIMIT, R_POSTCOPY,
    R_MAXRATE, R_ABORTED, R_FORCED, R_NEVER, _ACTION_REASON, _CONVERGED_CODES, converged, outcome,
    reason_names)

# inlined into the kernel's and the analytic engine's round loops (a call per round costs
# more than the rule); numba does not cache inlined functions on their own
_INLINE = dict(inline="always", **{k: v for k, v in NJIT.items() if k != "cache"})


class StopRule(NamedTuple):
    """The numbers of the stop rule, in kernel units (pages, bytes, seconds).

    ``dl_t``/``dl_s`` is the downtime limit over wall time (one entry without a
    schedule); ``has_dl`` False turns the downtime rule off.  ``completion_s``
    and ``progress_s`` are ``inf`` when off; their actions are ``ACT_*`` codes.
    ``pc_*`` is the post-copy aid's switch (``pc_after`` 0: no round count).
    """

    has_dl: bool
    dl_t: np.ndarray
    dl_s: np.ndarray
    min_dirty: int
    min_round_pages: int
    max_rounds: int
    max_data_pages: float
    timeout_s: float
    round_guard: int
    ar_on: bool
    ar_max: float
    pc_on: bool
    pc_after: int
    pc_noprog: bool
    pc_minprog: float
    completion_s: float
    completion_action: int
    progress_s: float
    progress_action: int


@njit(**_INLINE)
def step_value(ts, vs, t):
    """Value at time ``t`` of the piecewise-constant schedule ``(ts, vs)`` (``ts[0] = 0``)."""
    i = 0
    n = ts.shape[0]
    while i + 1 < n and ts[i + 1] <= t:
        i += 1
    return vs[i]


@njit(**_INLINE)
def downtime_ok(rule, t, remaining_bytes, decision_Bps):
    """The downtime rule at wall time ``t``: remaining bytes fit the limit in force."""
    if not rule.has_dl:
        return False
    return remaining_bytes < decision_Bps * step_value(rule.dl_t, rule.dl_s, t)


@njit(**_INLINE)
def stop_rule(rule, prog, t, dirty, page_bytes, decision_Bps, visited, rows, total_pages, prev_dirty,
              next_rate):
    """Stop reason at a sync (``R_RUNNING``: go on).

    ``t`` wall time of the sync, ``dirty`` pages now dirty (a float for the
    analytic models), ``visited`` pages the last round sent or skipped, ``rows``
    live rounds so far, ``total_pages`` pages sent so far, ``prev_dirty`` the
    dirty pages the last round started from, ``next_rate`` the adaptive rate the
    next round would run at (bytes/s).  ``prog = [least dirty pages so far, wall
    time it was reached]`` is the progress tracker, updated here.
    """
    if dirty < prog[0]:
        prog[0] = dirty
        prog[1] = t
    if dirty == 0:
        return R_EMPTY
    if downtime_ok(rule, t, dirty * page_bytes, decision_Bps):
        return R_DOWNTIME
    if rule.min_dirty > 0 and dirty < rule.min_dirty:
        return R_DIRTY
    if rule.min_round_pages > 0 and visited < rule.min_round_pages:
        return R_ROUND
    if rule.ar_on and next_rate > rule.ar_max:
        return R_MAXRATE
    if rule.pc_on and ((rule.pc_after > 0 and rows >= rule.pc_after) or
                       (rule.pc_noprog and rows >= 2 and (prev_dirty - dirty) < rule.pc_minprog * prev_dirty)):
        return R_POSTCOPY
    if t >= rule.completion_s:
        return _ACTION_CODES[rule.completion_action]
    if t - prog[1] >= rule.progress_s:
        return _ACTION_CODES[rule.progress_action]
    if rule.max_rounds > 0 and rows + 1 >= rule.max_rounds:
        return R_MAXROUNDS
    if rule.max_data_pages >= 0 and total_pages > rule.max_data_pages:
        return R_MAXDATA
    if t >= rule.timeout_s:
        return R_TIMEOUT
    if rows >= rule.round_guard:
        return R_ROUNDLIMIT
    return R_RUNNING


_ACTION_CODES = np.array(_ACTION_REASON, np.int64)


def new_progress(n_pages):
    """A fresh progress tracker for :func:`stop_rule`: all pages dirty at time 0."""
    return np.array([float(n_pages), 0.0])


def stop_rule_numbers(policy, page_bytes, n_pages, aids=(), round_guard=None) -> StopRule:
    """The :class:`StopRule` of a checked policy (and its post-copy aid, if any)."""
    ctl = policy.controls
    if ctl is not None and ctl.downtime_schedule is not None:
        dl_t = np.array([s for s, _ in ctl.downtime_schedule], np.float64)
        dl_s = np.array([d for _, d in ctl.downtime_schedule], np.float64)
        has_dl = True
    else:
        has_dl = policy.downtime_limit_s is not None
        dl_t = np.zeros(1)
        dl_s = np.array([policy.downtime_limit_s if has_dl else 0.0])
    pc = A.find(aids, A.PostCopy)
    ar = policy.adaptive_rate
    inf = float("inf")
    min_dirty = max(policy.min_dirty_pages, -(-policy.min_dirty_bytes // page_bytes))
    return StopRule(
        has_dl=bool(has_dl), dl_t=dl_t, dl_s=dl_s, min_dirty=int(min_dirty),
        min_round_pages=int(policy.min_round_pages), max_rounds=int(policy.max_rounds),
        max_data_pages=-1.0 if policy.max_data_factor is None else float(np.floor(policy.max_data_factor * n_pages)),
        timeout_s=float(policy.timeout_s),
        round_guard=int(MAX_ROUNDS_GUARD if round_guard is None else round_guard),
        ar_on=ar is not None, ar_max=0.0 if ar is None else ar.max_Bps,
        pc_on=pc is not None, pc_after=0 if pc is None or pc.after_rounds is None else int(pc.after_rounds),
        pc_noprog=bool(pc is not None and pc.on_no_progress),
        pc_minprog=0.0 if pc is None else float(pc.min_progress),
        completion_s=inf if ctl is None or ctl.completion_timeout_s is None else float(ctl.completion_timeout_s),
        completion_action=0 if ctl is None else ACTIONS.index(ctl.completion_action),
        progress_s=inf if ctl is None or ctl.progress_timeout_s is None else float(ctl.progress_timeout_s),
        progress_action=0 if ctl is None else ACTIONS.index(ctl.progress_action))
