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
    QEMU's cadence (``sync_cadence='threshold'``): a round sends whole chunks
    until the pages still set fit the threshold at its start, the never-sent
    pages of the first pass (the end of memory, zero pages last) costing what the
    bulk pass charges, and are a random sample of the pages set (each page stays
    set with the same probability); at the sync a page is set if it stayed or
    was written (a Sequential writer's pages join the rest in proportion to the
    rest's share of memory); the first pass's rest goes in the stop-and-copy at
    bulk prices.
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
    thr_mode = policy.sync_cadence == "threshold"
    unsent = float(n)         # pages of the first pass not sent yet (addresses n - unsent .. n-1)
    chunk_bytes = link.goodput_bps / 8.0 * 0.05
    if rate_bps < link.goodput_bps:
        chunk_bytes = min(chunk_bytes, rate_bps / 8.0 * 0.1)
    chunk = max(1, int(chunk_bytes // (P + H)))
    is_set = None if probs is None else [1.0] * len(probs)     # probability that page i is set
    limit = ctl.limit(policy, 0.0)
    if policy.check_before_first_round and limit is not None and n * P < decision * limit:
        reason = 1
    while reason == 0:
        rbytes = (n - nzero) * (P + H) + nzero * H if first else dirty * (P + H)
        sent = dirty
        if thr_mode:
            lim0 = ctl.limit(policy, t)
            thr = 0.0 if lim0 is None else decision * (ctl.rate_factor(t) if follows else 1.0) * lim0
            sent = min(dirty, math.ceil(max(1.0, dirty - thr / P) / chunk) * chunk)
            bulk = min(sent, unsent)
            start = n - unsent
            zeros = max(0.0, start + bulk - max(start, n - nzero))
            rbytes = (bulk - zeros) * (P + H) + zeros * H + (sent - bulk) * (P + H)
            unsent -= bulk
            if is_set is not None:
                is_set = [x * (1.0 - sent / dirty) for x in is_set]
        t1 = send_time(sender, t, rbytes / rate)
        dur = rbytes / rate / sender.f[0] if len(sender.f) == 1 else t1 - t
        t = t1
        writes = max(math.floor(w * t) - counted, 0.0)
        counted += writes
        if probs is None:
            new = min(writes, region)
        else:
            new = float(sum(1.0 - (1.0 - p) ** writes for p in probs if p > 0))
        rounds.append(dict(duration_s=dur, pages_sent=sent, pages_dirtied=new, bytes_sent=rbytes, writes=writes))
        total_bytes += rbytes
        total_pages += sent
        rest = dirty - sent
        if not thr_mode:
            nxt_dirty = new
        elif is_set is None:
            nxt_dirty = rest + new * (1.0 - rest / n)
        else:
            is_set = [x + (1.0 - x) * (1.0 - (1.0 - p) ** writes) for x, p in zip(is_set, probs)]
            nxt_dirty = float(sum(is_set))
        first, dirty = False, nxt_dirty
        nxt = new * P / dur + ar.increment_bps / 8.0 if ar is not None else 0.0
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
    elif thr_mode and not first:
        zeros = min(unsent, nzero)
        fbytes = (unsent - zeros) * (P + H) + zeros * H + (dirty - unsent) * (P + H)
    else:
        fbytes = (n - nzero) * (P + H) + nzero * H if first else dirty * (P + H)
    return rounds, REASONS[reason], t, fbytes, total_bytes + fbytes
