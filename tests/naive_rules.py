"""Plain twin of the stop rule's parts: reason codes, outcome, and the run-time
controls (downtime and rate schedules, completion and progress timeouts)."""

from __future__ import annotations

import math

from naive_writes import Clock

REASONS = ("running", "downtime_limit", "dirty_pages", "round_pages", "no_dirty_pages",
           "max_rounds", "max_data", "timeout", "round_limit", "postcopy", "max_rate", "aborted", "forced")
POSTCOPY = 9
MAX_RATE = 10
ABORTED = 11
FORCED = 12
ACTION = {"abort": ABORTED, "force": FORCED, "postcopy": POSTCOPY}


def is_converged(reason):
    return 1 <= reason <= 4 or reason == POSTCOPY


def outcome(reason):
    if reason in (ABORTED, FORCED):
        return REASONS[reason]
    return "converged" if is_converged(reason) else "not_converged"


def at(schedule, t):
    """Value of a piecewise-constant schedule [(start, value), ...] at time t."""
    val = schedule[0][1]
    for start, x in schedule:
        if start <= t:
            val = x
    return val


class Controls:
    """The policy's run-time controls, as plain numbers (all off without them)."""

    def __init__(self, policy, goodput_bps):
        c = policy.controls
        self.downtime = None if c is None else c.downtime_schedule
        self.completion = None if c is None else c.completion_timeout_s
        self.completion_action = None if c is None else ACTION[c.completion_action]
        self.progress = None if c is None else c.progress_timeout_s
        self.progress_action = None if c is None else ACTION[c.progress_action]
        rs = None if c is None else c.rate_schedule
        self.rates = None if rs is None else [(s, min(goodput_bps, r)) for s, r in rs]
        self.best, self.best_t = math.inf, 0.0

    def limit(self, policy, t):
        """Downtime limit in force at t (None: no downtime rule)."""
        return at(self.downtime, t) if self.downtime is not None else policy.downtime_limit_s

    def rate_factor(self, t):
        return 1.0 if self.rates is None else at(self.rates, t) / self.rates[0][1]

    def sender(self):
        """The sender's clock: base-rate seconds of work over wall time."""
        if self.rates is None:
            return Clock([0.0], [1.0])
        return Clock([s for s, _ in self.rates], [r / self.rates[0][1] for _, r in self.rates])

    def fired(self, t, dirty):
        """The reason a control ends pre-copy at this sync (0: none); tracks progress."""
        if dirty < self.best:
            self.best, self.best_t = dirty, t
        if self.completion is not None and t >= self.completion:
            return self.completion_action
        if self.progress is not None and t - self.best_t >= self.progress:
            return self.progress_action
        return 0


def send_time(sender, t0, sig):
    """Wall time at which a round started at t0 has done sig base-rate seconds of sending."""
    return sender.t_at(sig, t0, 0.0) if sig > 0 else t0
