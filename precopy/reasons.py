"""Stop reasons and migration outcomes: the one table, and what each reason means.

Pure Python (no numba), so that results, tables and plots can name reasons
without loading the compiler; :mod:`precopy._stoprule` (the compiled stop rule)
uses the same codes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STOP_REASONS", "CONVERGED_REASONS", "OUTCOMES", "ACTIONS", "converged", "outcome", "reason_names"]

#: Stop reasons, indexed by code.  "never" is only proved by closed forms.
STOP_REASONS = ("running", "downtime_limit", "dirty_pages", "round_pages", "no_dirty_pages",
                "max_rounds", "max_data", "timeout", "round_limit", "postcopy", "max_rate",
                "aborted", "forced", "never")
(R_RUNNING, R_DOWNTIME, R_DIRTY, R_ROUND, R_EMPTY, R_MAXROUNDS, R_MAXDATA, R_TIMEOUT, R_ROUNDLIMIT,
 R_POSTCOPY, R_MAXRATE, R_ABORTED, R_FORCED, R_NEVER) = range(len(STOP_REASONS))
#: Reasons that mean the migration converged: a convergence rule fired, or the
#: switch to post-copy (which completes with a bounded downtime).
CONVERGED_REASONS = ("downtime_limit", "dirty_pages", "round_pages", "no_dirty_pages", "postcopy")
#: Outcomes of a migration.
OUTCOMES = ("converged", "not_converged", "aborted", "forced")
#: Actions of the run-time controls, by code.
ACTIONS = ("abort", "force", "postcopy")
ACT_ABORT, ACT_FORCE, ACT_POSTCOPY = range(3)
_ACTION_REASON = (R_ABORTED, R_FORCED, R_POSTCOPY)

_CONVERGED_CODES = np.array([r in CONVERGED_REASONS for r in STOP_REASONS])


def converged(reason) -> bool | np.ndarray:
    """Whether a stop reason (code or name, or an array of codes) means convergence.

    Examples
    --------
    >>> converged("downtime_limit"), converged("timeout"), converged(9)
    (True, False, True)
    """
    if isinstance(reason, str):
        return reason in CONVERGED_REASONS
    if np.ndim(reason) == 0:
        return bool(_CONVERGED_CODES[int(reason)])
    return _CONVERGED_CODES[np.asarray(reason, np.int64)]


def outcome(reason) -> str:
    """The migration's outcome for a stop reason (code or name).

    Examples
    --------
    >>> outcome("timeout"), outcome("forced"), outcome("postcopy")
    ('not_converged', 'forced', 'converged')
    """
    name = reason if isinstance(reason, str) else STOP_REASONS[int(reason)]
    if name in ("aborted", "forced"):
        return name
    return "converged" if name in CONVERGED_REASONS else "not_converged"


def reason_names(codes):
    """Stop-reason codes to an object array of names, same shape (0-d included)."""
    codes = np.asarray(codes, np.int64)
    return np.array(STOP_REASONS, dtype=object)[codes.reshape(-1)].reshape(codes.shape)


