"""Plain twin of storage's I/O mirroring kernel (``mirror_kernel``)."""

from __future__ import annotations

import math

from naive_writes import Writer


def mirror(disk_vm, workload, t_block, lat_extra, io_depth, timeout_s, seed=0):
    """Pure-Python twin of ``mirror_kernel``.

    Returns (time, writes, mirrored, reason, copied, stall, latency sum, latency max).
    """
    from collections import deque
    c = workload.compile(disk_vm, seed=seed)
    n = disk_vm.n_pages
    writer = Writer(c, n, seed)
    p_tau, p_page = writer.next_write()
    a_t = a_tau = 0.0
    cur, c_done, srv, copied, t = 0, t_block, t_block, 0, 0.0
    writes = mirrored = 0
    stall = lat_sum = lat_max = 0.0
    inflight = deque()
    reason = 1
    while True:
        tw = a_t + (p_tau - a_tau) if p_tau < math.inf else math.inf
        if c_done <= tw:
            if c_done > timeout_s:
                reason, t = 7, timeout_s
                break
            copied, t = cur + 1, c_done
            if copied == n:
                break
            cur += 1
            c_done = srv + t_block
            srv = c_done
            continue
        if tw > timeout_s:
            reason, t = 7, timeout_s
            break
        if p_page <= cur:
            while inflight and inflight[0] <= tw:
                inflight.popleft()
            if io_depth and len(inflight) == io_depth:
                stall += inflight[0] - tw
                a_t, a_tau = inflight[0], p_tau
                continue
            srv = max(tw, srv) + t_block
            done = srv + lat_extra
            lat_sum += done - tw
            lat_max = max(lat_max, done - tw)
            if io_depth:
                inflight.append(done)
            mirrored += 1
        writes += 1
        p_tau, p_page = writer.next_write()
    return t, writes, mirrored, reason, copied, stall, lat_sum, lat_max
