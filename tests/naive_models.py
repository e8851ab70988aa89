"""Plain twin of the analytic saturation model's round loop."""

from __future__ import annotations

import math

from naive_rules import ABORTED, MAX_RATE, POSTCOPY, REASONS, Controls, send_time


def saturation(vm, workload, link, policy, switchover=None, seed=0):
    """Plain twin of the analytic saturation model's round loop (page skip off).

    Page by page: a round of ``d`` pages lasts ``d x (page + header) / rate``;
    the writes it sees are counted as the kernel counts them
    (``floor(w x guest time)`` minus those already counted); the next round is
    the expected number of distinct pages those writes touch,
    ``sum_i 1 - (1 - p_i) ** writes`` (a Sequential writer: ``min(writes,
    region)``); the stop rules are the kernel's, Clark's adaptive rate included.
    Returns (rounds list, stop reason, pre-copy time, final bytes, total bytes).
    """
    from precopy import workloads as W
    from precopy.scenario import check_scenario

    policy, sw, (rate_bps, final_bps, decision_bps) = check_scenario(vm, workload, link, policy, switchover)
    assert not policy.page_skip
    n, P, H = vm.n_pages, float(vm.page_bytes), float(policy.header_bytes)
    nzero = vm.n_zero_pages
    w = float(workload.writes_per_s)
    probs = None if isinstance(workload, W.Sequential) else workload.page_probabilities(vm, seed)
    region = workload.region_bytes // vm.page_bytes if isinstance(workload, W.Sequential) else 0
    rate, decision = rate_bps / 8.0, decision_bps / 8.0
    ar = policy.adaptive_rate
    if ar is not None:
        rate = min(ar.min_bps / 8.0, rate)
    min_dirty = max(policy.min_dirty_pages, math.ceil(policy.min_dirty_bytes / vm.page_bytes))
    max_data = -1 if policy.max_data_factor is None else math.floor(policy.max_data_factor * n)
    limit = policy.downtime_limit_s
    ctl = Controls(policy, link.goodput_bps)
    sender = ctl.sender()
    follows = policy.switchover_bandwidth_bps is None
    t = counted = 0.0
    dirty, first, reason, rounds, total_bytes, total_pages = float(n), True, 0, [], 0.0, 0.0
    limit = ctl.limit(policy, 0.0)
    if policy.check_before_first_round and limit is not None and n * P < decision * limit:
        reason = 1
    while reason == 0:
        rbytes = (n - nzero) * (P + H) + nzero * H if first else dirty * (P + H)
        t1 = send_time(sender, t, rbytes / rate)
        dur = rbytes / rate / sender.f[0] if len(sender.f) == 1 else t1 - t
        t = t1
        writes = max(math.floor(w * t) - counted, 0.0)
        counted += writes
        if probs is None:
            new = min(writes, region)
        else:
            new = float(sum(1.0 - (1.0 - p) ** writes for p in probs if p > 0))
        rounds.append(dict(duration_s=dur, pages_sent=dirty, pages_dirtied=new, bytes_sent=rbytes, writes=writes))
        total_bytes += rbytes
        total_pages += dirty
        first, dirty = False, new
        nxt = dirty * P / dur + ar.increment_bps / 8.0 if ar is not None else 0.0
        limit = ctl.limit(policy, t)
        fired = ctl.fired(t, dirty)
        if dirty == 0:
            reason = 4
        elif limit is not None and dirty * P < decision * (ctl.rate_factor(t) if follows else 1.0) * limit:
            reason = 1
        elif min_dirty > 0 and dirty < min_dirty:
            reason = 2
        elif policy.min_round_pages > 0 and rounds[-1]["pages_sent"] < policy.min_round_pages:
            reason = 3
        elif ar is not None and nxt > ar.max_bps / 8.0:
            reason = MAX_RATE
        elif fired:
            reason = fired
        elif policy.max_rounds > 0 and len(rounds) + 1 >= policy.max_rounds:
            reason = 5
        elif max_data >= 0 and total_pages > max_data:
            reason = 6
        elif t >= policy.timeout_s:
            reason = 7
        if ar is not None and reason == 0:
            rate = min(max(nxt, ar.min_bps / 8.0), rate_bps / 8.0)
    if reason in (ABORTED, POSTCOPY):
        fbytes = 0.0
    else:
        fbytes = (n - nzero) * (P + H) + nzero * H if first else dirty * (P + H)
    return rounds, REASONS[reason], t, fbytes, total_bytes + fbytes
