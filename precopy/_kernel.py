"""Private compiled kernels: the page-level pre-copy simulation.

Only arrays and scalars cross this boundary; :func:`precopy.simulate` validates
everything first.  Two round engines share one driver:

* ``skip off`` (QEMU, Xen v2, VMware, SimGrid): which pages a round sends does not
  depend on the send order, so a round is "send the synced set, apply every write
  that happens meanwhile to the dirty log".  Per write: one splitmix64 draw and one
  bit set.  Per round: one popcount and one clear of the log.
* ``skip on`` (Xen legacy): writes and the sender are interleaved in time; when the
  sender reaches a page whose bit is already set again in the log, the page is
  skipped (it will go in the next round).

Convergence aids (``precopy.aids``) ride on the same driver: a guest-speed
factor ``g`` changed only at bitmap syncs (auto-converge, dirty-limit, SDPS),
per-page costs per page class (compression; XBZRLE's cache, consulted page by
page outside the write loop), and a post-copy phase after the last live round.
The plain path (no XBZRLE) never touches per-page write counts: ``wc`` is
``None`` there and numba prunes those branches at compile time.

The pure-Python twin in ``tests/naive.py`` mirrors all of it, operation for operation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .config import NJIT

# --- layout of the caller-allocated outputs ---------------------------------
# per-round table columns
(C_START, C_DUR, C_SENT, C_SKIP, C_DIRTIED, C_BYTES, C_WRITES, C_THROTTLE, C_REMAIN, C_FINAL,
 C_CPUTHR, C_LOST, C_XBHITS, C_POST, C_RATE) = range(15)
N_COLS = 15
# scalar outputs
(S_T_STOP, S_FINAL_PAGES, S_FINAL_BYTES, S_REASON, S_TOTAL_BYTES, S_TOTAL_PAGES, S_LIVE_ROUNDS, S_RNG,
 S_FINAL_TIME, S_LOST, S_MAX_THR, S_XB_HITS, S_XB_MISSES, S_XB_OVERFLOWS, S_XB_SAVED,
 S_N_BULK_FULL, S_N_BULK_ZERO, S_N_FULL, S_PC_PAGES, S_PC_DUR, S_PC_FAULTS, S_PC_STALL, S_PC_PUSHED,
 S_PC_WRITES, S_PC_BYTES) = range(25)
N_SCALARS = 25
# stop reasons (index into STOP_REASONS); 1..4 and 9 mean "converged"
STOP_REASONS = ("running", "downtime_limit", "dirty_pages", "round_pages", "no_dirty_pages",
                "max_rounds", "max_data", "timeout", "round_limit", "postcopy", "max_rate")
(R_DOWNTIME, R_DIRTY, R_ROUND, R_EMPTY, R_MAXROUNDS, R_MAXDATA, R_TIMEOUT, R_ROUNDLIMIT, R_POSTCOPY,
 R_MAXRATE) = range(1, 11)

# per-page costs (bytes on the wire, seconds of the pipeline) by page class; K_UNIFORM > 0
# when every class takes bytes / rate (no CPU ceilings): times are then computed as
# bytes / rate, exactly as without aids
(K_B_BULK, K_T_BULK, K_B_ZERO, K_T_ZERO, K_B_FULL, K_T_FULL, K_TF_BULK, K_TF_ZERO, K_TF_FULL,
 K_PAGE, K_RATE, K_FRATE, K_XB_HDR, K_XB_PER_WRITE, K_XB_FIXED, K_XB_CPU_T,
 K_PC_T, K_PC_B, K_PC_EXTRA, K_UNIFORM) = range(20)
N_COST = 20
# guest-slowdown aids
AID_NONE, AID_AUTOCONVERGE, AID_DIRTYLIMIT, AID_SDPS = 0, 1, 2, 3
(A_INITIAL, A_INCREMENT, A_MAX, A_TRIGGER, A_INTERVAL, A_TAILSLOW, A_DL_CAP, A_DL_TOL, A_SDPS_RATIO,
 A_PC_ON, A_PC_AFTER, A_PC_NOPROG, A_PC_MINPROG, A_AR_ON, A_AR_MIN, A_AR_INC, A_AR_MAX) = range(17)
N_AID = 17
# XBZRLE outcome of one page
XB_MISS, XB_HIT, XB_OVERFLOW, XB_SAME = 0, 1, 2, 3
#: CACHED_PAGE_LIFETIME of QEMU's page cache (migration/page_cache.c)
XB_LIFETIME = 2

KIND_IDLE, KIND_HOTCOLD, KIND_ALIAS, KIND_SEQUENTIAL, KIND_TRACE = 0, 1, 2, 3, 4
#: writes generated per batch by the skip-on engine
WRITE_BATCH = 4096

_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LO32 = np.uint64(0xFFFFFFFF)
_U30, _U27, _U31, _U32, _U6, _U1 = (np.uint64(k) for k in (30, 27, 31, 32, 6, 1))
_U63 = np.uint64(63)
# de Bruijn sequence for the index of a word's lowest set bit
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_IDX = np.array([0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51,
                          43, 22, 45, 39, 33, 30, 24, 18, 12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52,
                          21, 44, 32, 23, 11, 46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6],
                         dtype=np.int64)


def xen_order(n_pages):
    """Xen's ``order_nr``: bits needed for ``n_pages - 1`` (``xc_domain_save.c``)."""
    return int(n_pages - 1).bit_length()


@njit(**NJIT)
def xen_permute(i, nr, order):
    """Xen legacy's scan order (``permute()`` in ``tools/libxc/xc_domain_save.c``):
    rotate the ``order``-bit index left by 10 bits, again while the result is
    ``>= nr`` (cycle walking).  Guests of at most 2**10 pages (order <= 10) are
    scanned in address order, where Xen's shift would be undefined."""
    if order <= 10:
        return i
    mask = (1 << order) - 1
    while True:
        i = ((i >> (order - 10)) | (i << 10)) & mask
        if i < nr:
            return i


@njit(**NJIT)
def xen_unpermute(p, nr, order):
    """Inverse of :func:`xen_permute`: the position at which page ``p`` is visited."""
    if order <= 10:
        return p
    mask = (1 << order) - 1
    while True:
        p = ((p >> 10) | (p << (order - 10))) & mask
        if p < nr:
            return p


@njit(inline="always", **{k: v for k, v in NJIT.items() if k != "cache"})
def _mix(s):
    """splitmix64 output for state ``s`` (state already advanced)."""
    z = s
    z = (z ^ (z >> _U30)) * _M1
    z = (z ^ (z >> _U27)) * _M2
    return z ^ (z >> _U31)


@njit(**NJIT)
def popcount(words):
    """Number of set bits in a uint64 array (SWAR popcount)."""
    c = 0
    m1 = np.uint64(0x5555555555555555)
    m2 = np.uint64(0x3333333333333333)
    m4 = np.uint64(0x0F0F0F0F0F0F0F0F)
    h01 = np.uint64(0x0101010101010101)
    for i in range(words.shape[0]):
        x = words[i]
        x = x - ((x >> _U1) & m1)
        x = (x & m2) + ((x >> np.uint64(2)) & m2)
        x = (x + (x >> np.uint64(4))) & m4
        c += np.int64((x * h01) >> np.uint64(56))
    return c


@njit(inline="always", **{k: v for k, v in NJIT.items() if k != "cache"})
def _setbit(bm, p):
    bm[p >> _U6] |= _U1 << (p & _U63)


@njit(**NJIT)
def _apply_until(tau1, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off, ph_n,
                 alias_prob, alias_idx, tr_t, tr_p, n_pages, bm, wc):
    """Apply, in order, every write whose guest time is <= tau1 (skip-off engine).

    ``ws = [phase, writes done in phase]``, ``wf = [phase start (guest s)]``,
    ``rs = [rng state]``.  Write m (1-based) of a rate phase belongs when
    ``m <= floor(rate * (tau1 - phase start))``.  ``wc`` (per-page write counts
    for XBZRLE) is None on the plain path: numba prunes its updates.  Returns
    the number of writes.
    """
    nph = ph_kind.shape[0]
    j = ws[0]
    m = ws[1]
    P = wf[0]
    s = rs[0]
    total = 0
    while True:
        kind = ph_kind[j]
        E = P + ph_dur[j]
        upto = tau1 if tau1 < E else E
        if kind == KIND_TRACE:
            off = ph_off[j]
            nn = ph_n[j]
            while m < nn and P + tr_t[off + m] <= upto:
                _setbit(bm, np.uint64(tr_p[off + m]))
                if wc is not None:
                    wc[tr_p[off + m]] += 1
                m += 1
                total += 1
        elif kind != KIND_IDLE:
            target = np.int64(np.floor(ph_rate[j] * (upto - P)))
            cnt = target - m
            if cnt > 0:
                a = ph_a[j]
                b = ph_b[j]
                if kind == KIND_HOTCOLD:
                    thr = ph_thr[j]
                    ua = np.uint64(a)
                    ub = np.uint64(b)
                    un = np.uint64(n_pages)
                    for _ in range(cnt):
                        s = s + _GOLD
                        z = _mix(s)
                        if (z & _LO32) < thr:
                            p = ua + (((z >> _U32) * ub) >> _U32)
                        else:
                            p = ((z >> _U32) * un) >> _U32
                        bm[p >> _U6] |= _U1 << (p & _U63)
                        if wc is not None:
                            wc[p] += 1
                elif kind == KIND_ALIAS:
                    off = ph_off[j]
                    ub = np.uint64(b)
                    for _ in range(cnt):
                        s = s + _GOLD
                        z = _mix(s)
                        i = np.int64(((z >> _U32) * ub) >> _U32)
                        if (z & _LO32) < alias_prob[off + i]:
                            p = np.uint64(a + i)
                        else:
                            p = np.uint64(a + alias_idx[off + i])
                        bm[p >> _U6] |= _U1 << (p & _U63)
                        if wc is not None:
                            wc[p] += 1
                else:  # KIND_SEQUENTIAL
                    pos = m % b
                    for _ in range(cnt):
                        p = np.uint64(a + pos)
                        bm[p >> _U6] |= _U1 << (p & _U63)
                        if wc is not None:
                            wc[p] += 1
                        pos += 1
                        if pos == b:
                            pos = 0
                m = target
                total += cnt
        if tau1 < E:
            break
        # the phase ended inside this interval: move to the next one
        P = E
        m = 0
        j = j + 1
        if j == nph:
            j = 0
    ws[0] = j
    ws[1] = m
    wf[0] = P
    rs[0] = s
    return total


@njit(**NJIT)
def _fill_writes(buf_tau, buf_page, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off, ph_n,
                 alias_prob, alias_idx, tr_t, tr_p, n_pages):
    """Generate the next writes, in order, into ``buf_tau``/``buf_page`` (skip-on engine).

    Write m (1-based) of a rate phase happens at guest time ``start + m / rate``
    while ``m <= floor(rate * duration)``; trace events at ``start + t_k`` while
    ``t_k < duration``.  Returns how many were written: fewer than the buffer holds
    only when no write will ever come again.  (One call per batch: numba would
    otherwise reference-count the arrays on every per-write call.)
    """
    cap = buf_tau.shape[0]
    nph = ph_kind.shape[0]
    j = ws[0]
    m = ws[1]
    P = wf[0]
    s = rs[0]
    k = 0
    idle_laps = 0
    while k < cap:
        kind = ph_kind[j]
        dur = ph_dur[j]
        if kind == KIND_TRACE:
            off = ph_off[j]
            nn = ph_n[j]
            while k < cap and m < nn and tr_t[off + m] < dur:
                buf_tau[k] = P + tr_t[off + m]
                buf_page[k] = np.uint64(tr_p[off + m])
                m += 1
                k += 1
            if k > 0:
                idle_laps = 0
            if k == cap:
                break
        elif kind != KIND_IDLE:
            rate = ph_rate[j]
            limit = np.int64(np.floor(rate * dur)) if dur < np.inf else np.int64(2**62)
            a = ph_a[j]
            b = ph_b[j]
            if m < limit:
                idle_laps = 0
            if kind == KIND_SEQUENTIAL:
                while k < cap and m < limit:
                    buf_tau[k] = P + (m + 1) / rate
                    buf_page[k] = np.uint64(a + (m % b))
                    m += 1
                    k += 1
            elif kind == KIND_HOTCOLD:
                thr = ph_thr[j]
                ua = np.uint64(a)
                ub = np.uint64(b)
                un = np.uint64(n_pages)
                while k < cap and m < limit:
                    s = s + _GOLD
                    z = _mix(s)
                    if (z & _LO32) < thr:
                        buf_page[k] = ua + (((z >> _U32) * ub) >> _U32)
                    else:
                        buf_page[k] = ((z >> _U32) * un) >> _U32
                    buf_tau[k] = P + (m + 1) / rate
                    m += 1
                    k += 1
            else:  # KIND_ALIAS
                off = ph_off[j]
                ub = np.uint64(b)
                while k < cap and m < limit:
                    s = s + _GOLD
                    z = _mix(s)
                    i = np.int64(((z >> _U32) * ub) >> _U32)
                    if (z & _LO32) < alias_prob[off + i]:
                        buf_page[k] = np.uint64(a + i)
                    else:
                        buf_page[k] = np.uint64(a + alias_idx[off + i])
                    buf_tau[k] = P + (m + 1) / rate
                    m += 1
                    k += 1
            if k == cap:
                break
        if dur == np.inf:
            break
        P = P + dur
        m = 0
        j = j + 1
        if j == nph:
            j = 0
            idle_laps += 1
            if idle_laps > 1:   # a full lap of phases without any write: none will come
                break
    ws[0] = j
    ws[1] = m
    wf[0] = P
    rs[0] = s
    return k


@njit(**NJIT)
def _tau_at(t, t0, tau0, seg0, g, thr_t, thr_f):
    """Guest time at wall time ``t`` given the anchor (t0, tau0) in segment seg0."""
    i = seg0
    ta = t0
    tau = tau0
    nseg = thr_t.shape[0]
    while True:
        end = thr_t[i + 1] if i + 1 < nseg else np.inf
        f = thr_f[i] * g
        if t <= end:
            return tau + f * (t - ta)
        tau = tau + f * (end - ta)
        ta = end
        i += 1


@njit(**NJIT)
def _t_at(tau, t0, tau0, seg0, g, thr_t, thr_f):
    """Wall time at which the guest clock reaches ``tau`` (inf if never)."""
    i = seg0
    ta = t0
    tau_a = tau0
    nseg = thr_t.shape[0]
    if tau <= tau0:
        return t0
    while True:
        end = thr_t[i + 1] if i + 1 < nseg else np.inf
        f = thr_f[i] * g
        if f > 0.0:
            t = ta + (tau - tau_a) / f
            if t <= end:
                return t
        if end == np.inf:
            return np.inf
        tau_a = tau_a + f * (end - ta)
        ta = end
        i += 1


@njit(**NJIT)
def _segment(t, seg, thr_t):
    """Index of the throttle segment holding wall time ``t`` (search from ``seg``)."""
    nseg = thr_t.shape[0]
    while seg + 1 < nseg and thr_t[seg + 1] <= t:
        seg += 1
    return seg


@njit(inline="always", **{k: v for k, v in NJIT.items() if k != "cache"})
def _ctz(low):
    """Index of the single set bit of ``low`` (a power of two)."""
    return _DEBRUIJN_IDX[np.int64((low * _DEBRUIJN) >> np.uint64(58))]


@njit(inline="always", **{k: v for k, v in NJIT.items() if k != "cache"})
def _testbit(bm, p):
    return (bm[p >> _U6] >> (p & _U63)) & _U1


@njit(**NJIT)
def _xb_send(p, gen, last, final, xb_addr, xb_age, wc, cost):
    """Send page ``p`` (not in the bulk pass) through QEMU's XBZRLE cache.

    Returns (bytes, seconds, outcome).  ``gen`` is the sync generation; ``last``
    marks the stop-and-copy (no insertions); ``final`` prices time at the final
    rate.  Mirrors ``save_xbzrle_page`` and ``page_cache.c``.
    """
    mask = xb_addr.shape[0] - 1
    slot = p & mask
    k = wc[p]
    wc[p] = 0
    if xb_addr[slot] == p:
        xb_age[slot] = gen
        if cost[K_XB_FIXED] >= 0.0:
            enc = cost[K_XB_FIXED]
        else:
            enc = k * cost[K_XB_PER_WRITE]
        if enc == 0.0:
            return 0.0, 0.0, XB_SAME
        if enc > cost[K_PAGE]:
            if final:
                return cost[K_B_FULL], cost[K_TF_FULL], XB_OVERFLOW
            return cost[K_B_FULL], cost[K_T_FULL], XB_OVERFLOW
        b = cost[K_XB_HDR] + enc
        if final:
            tt = b / cost[K_FRATE]
        else:
            tt = b / cost[K_RATE]
        if tt < cost[K_XB_CPU_T]:
            tt = cost[K_XB_CPU_T]
        return b, tt, XB_HIT
    if not last:
        if xb_addr[slot] < 0 or xb_age[slot] + XB_LIFETIME <= gen:
            xb_addr[slot] = p
            xb_age[slot] = gen
    if final:
        return cost[K_B_FULL], cost[K_TF_FULL], XB_MISS
    return cost[K_B_FULL], cost[K_T_FULL], XB_MISS


@njit(inline="always", **{k: v for k, v in NJIT.items() if k != "cache"})
def _xb_tally(kind, b, cost, out):
    """Count one XBZRLE outcome in ``out``; returns 1 for a hit (encoded or
    unchanged page), 0 for a page sent in full (miss or overflow)."""
    if kind == XB_MISS:
        out[S_XB_MISSES] += 1
        return 0
    if kind == XB_OVERFLOW:
        out[S_XB_OVERFLOWS] += 1
        return 0
    out[S_XB_HITS] += 1
    out[S_XB_SAVED] += cost[K_B_FULL] - b
    return 1


@njit(**NJIT)
def _xb_round(bm, gen, last, final, xb_addr, xb_age, wc, cost, out):
    """Price every page of bitmap ``bm`` through XBZRLE, in address order.

    Adds hit/miss/overflow/saved counts to ``out``; returns (bytes, seconds,
    hits, full pages).
    """
    rb = 0.0
    rt = 0.0
    hits = 0
    nfull = 0
    for w in range(bm.shape[0]):
        x = bm[w]
        base = w * 64
        while x:
            low = x & (~x + _U1)
            p = base + _ctz(low)
            x = x ^ low
            b, tt, kind = _xb_send(p, gen, last, final, xb_addr, xb_age, wc, cost)
            rb += b
            rt += tt
            hit = _xb_tally(kind, b, cost, out)
            hits += hit
            nfull += 1 - hit
    return rb, rt, hits, nfull


@njit(**NJIT)
def _postcopy(R, tau, buf_tau, buf_page, bi, bn, cost, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr,
              ph_off, ph_n, alias_prob, alias_idx, tr_t, tr_p, n_pages, out):
    """The post-copy phase: push the pages of ``R`` in address order while the
    guest runs on the destination; a write to a page not yet there is a demand
    fault.  Times are seconds after the destination resumed; the guest runs at
    full speed from guest time ``tau``, stalled while it waits for a page.
    ``buf_tau[bi:bn]``/``buf_page[bi:bn]`` are the pending writes (refilled in
    batches).  Fills the S_PC_* outputs; returns the phase's duration.
    """
    pc_t = cost[K_PC_T]
    extra = cost[K_PC_EXTRA]
    rem = popcount(R)
    out[S_PC_PAGES] = rem
    faults = 0
    pushed = 0
    writes = 0
    stall = 0.0
    t_end = 0.0
    a_t = 0.0
    a_tau = tau
    w = 0
    inflight = np.int64(-1)
    push_end = 0.0
    if rem > 0:
        while R[w] == 0:
            w += 1
        low = R[w] & (~R[w] + _U1)
        R[w] = R[w] ^ low
        inflight = w * 64 + _ctz(low)
        rem -= 1
        push_end = pc_t
    while inflight >= 0:
        if bi < bn:
            tw = a_t + (buf_tau[bi] - a_tau)
        else:
            tw = np.inf
        if push_end <= tw:
            pushed += 1
            if push_end > t_end:
                t_end = push_end
            if rem > 0:
                while R[w] == 0:
                    w += 1
                low = R[w] & (~R[w] + _U1)
                R[w] = R[w] ^ low
                inflight = w * 64 + _ctz(low)
                rem -= 1
                push_end = push_end + pc_t
            else:
                inflight = -1
        else:
            writes += 1
            q = buf_page[bi]
            if np.int64(q) == inflight:
                # the page is already on its way: wait for it
                faults += 1
                stall += push_end - tw
                a_t = push_end
                a_tau = buf_tau[bi]
            elif _testbit(R, q):
                R[q >> _U6] ^= _U1 << (q & _U63)
                rem -= 1
                faults += 1
                lat = extra + pc_t
                stall += lat
                a_t = tw + lat
                a_tau = buf_tau[bi]
                push_end = push_end + pc_t
                if a_t > t_end:
                    t_end = a_t
            bi += 1
            if bi == bn and bn == WRITE_BATCH:
                bn = _fill_writes(buf_tau, buf_page, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr,
                                  ph_off, ph_n, alias_prob, alias_idx, tr_t, tr_p, n_pages)
                bi = 0
    out[S_PC_DUR] = t_end
    out[S_PC_FAULTS] = faults
    out[S_PC_STALL] = stall
    out[S_PC_PUSHED] = pushed
    out[S_PC_WRITES] = writes
    out[S_PC_BYTES] = out[S_PC_PAGES] * cost[K_PC_B]
    return t_end


# state of the slowdown aids between syncs
AST_CNT, AST_T_LAST, AST_DIRTY, AST_XFER, AST_P, AST_DL_ON, AST_MAX_THR = range(7)
N_AST = 7


@njit(**NJIT)
def _aid_sync(aid_mode, aid, ast, g, t, dirtied, rbytes, writes, tau0, tau1, dur, page_bytes, t_full):
    """What a slowdown aid does at a bitmap sync; returns the new guest-speed factor.

    SDPS matches the dirty rate to ``target_ratio`` x the transmit rate at every
    sync.  Auto-converge and dirty-limit share QEMU's trigger: at a sync more
    than ``check_interval_s`` after the last check, bytes dirtied since then >
    ``trigger`` x bytes sent counts once; the second count fires (and resets).
    Auto-converge then raises its throttle; dirty-limit switches on and, from
    then on, holds the measured write rate at its quota.  ``ast`` holds the state.
    """
    if aid_mode == AID_SDPS:
        if dirtied > 0 and dur > 0.0:
            gn = g * aid[A_SDPS_RATIO] * (page_bytes / t_full) / (dirtied * page_bytes / dur)
            g = gn if gn < 1.0 else 1.0
    else:
        ast[AST_DIRTY] += dirtied
        ast[AST_XFER] += rbytes
        if t > ast[AST_T_LAST] + aid[A_INTERVAL]:
            d_bytes = ast[AST_DIRTY] * page_bytes
            thr_bytes = ast[AST_XFER] * aid[A_TRIGGER]
            if d_bytes > thr_bytes:
                ast[AST_CNT] += 1.0
                if ast[AST_CNT] >= 2.0:
                    ast[AST_CNT] = 0.0
                    if aid_mode == AID_AUTOCONVERGE:
                        p = ast[AST_P]
                        if p == 0.0:
                            p = aid[A_INITIAL]
                        else:
                            inc = aid[A_INCREMENT]
                            if aid[A_TAILSLOW] > 0.0:
                                cpu_now = 1.0 - p
                                ideal = cpu_now - cpu_now * (thr_bytes / d_bytes)
                                if ideal < inc:
                                    inc = ideal
                            p = p + inc
                            if p > aid[A_MAX]:
                                p = aid[A_MAX]
                        ast[AST_P] = p
                        g = 1.0 - p
                    else:
                        ast[AST_DL_ON] = 1.0
            ast[AST_T_LAST] = t
            ast[AST_DIRTY] = 0.0
            ast[AST_XFER] = 0.0
        if ast[AST_DL_ON] > 0.0 and writes > 0 and tau1 > tau0:
            natural = writes / (tau1 - tau0)
            current = natural * g
            if abs(current - aid[A_DL_CAP]) > aid[A_DL_TOL]:
                gn = aid[A_DL_CAP] / natural
                g = gn if gn < 1.0 else 1.0
    if 1.0 - g > ast[AST_MAX_THR]:
        ast[AST_MAX_THR] = 1.0 - g
    return g


@njit(**NJIT)
def simulate_kernel(n_pages, n_zero, cost, decision_Bps,
                    max_rounds, min_dirty, min_round_pages, downtime_limit_s, has_downtime_limit,
                    max_data_pages, timeout_s, skip, permuted, check_first, round_guard,
                    ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off, ph_n,
                    alias_prob, alias_idx, tr_t, tr_p,
                    thr_t, thr_f, order, seed,
                    aid_mode, aid, xb_addr, xb_age, wc,
                    cur, nxt, sendlist, table, out):
    """Run one migration.  Returns the number of table rows, or -1 if ``table``
    is too small (the caller grows it and runs again: the run is deterministic).

    ``cur``/``nxt`` are zeroed uint64 bitmaps of ceil(n_pages/64) words; ``sendlist``
    is a uint64 array of n_pages entries when ``skip`` (else length 1); ``order``
    is :func:`xen_order` of ``n_pages`` (used when ``permuted``).  ``cost``
    holds the per-page costs (``K_*``), ``aid`` the aid parameters (``A_*``).
    XBZRLE is on when ``wc`` (zeroed int64 write counts, one per page) is an
    array; then ``xb_addr`` (filled with -1) and ``xb_age`` (zeros) are its
    cache slots.  ``out`` must be zeroed.
    """
    cap = table.shape[0]
    nwords = cur.shape[0]
    page_bytes = cost[K_PAGE]
    b_bulk = cost[K_B_BULK]
    t_bulk = cost[K_T_BULK]
    b_zero = cost[K_B_ZERO]
    t_zero = cost[K_T_ZERO]
    b_full = cost[K_B_FULL]
    t_full = cost[K_T_FULL]
    rate_Bps = cost[K_RATE]
    uniform = cost[K_UNIFORM] > 0.0
    # Clark et al.'s adaptive rate (needs uniform costs): the bulk pass at the
    # minimum, then the last round's dirtying rate + an increment
    ar_on = aid[A_AR_ON] > 0.0
    cur_rate = rate_Bps
    if ar_on and aid[A_AR_MIN] < rate_Bps:
        cur_rate = aid[A_AR_MIN]
    ws = np.zeros(2, np.int64)
    wf = np.zeros(1, np.float64)
    rs = np.full(1, np.uint64(seed), np.uint64)
    t = 0.0
    tau = 0.0
    seg = 0
    g = 1.0
    rows = 0
    total_bytes = 0.0
    total_pages = 0
    reason = 0
    n_bulk_full = 0
    n_bulk_zero = 0
    n_full = 0
    # slowdown-aid state, kept out of the round loop's registers (see _aid_sync)
    ast = np.zeros(N_AST, np.float64)
    total_lost = 0.0
    pc_on = aid[A_PC_ON] > 0.0
    pc_after = np.int64(aid[A_PC_AFTER])
    prev_dirty = n_pages
    # the bulk pass: every page is to be sent; zero pages (the top n_zero) header-only
    dirty = n_pages
    first = True
    # pending writes of the skip-on engine, generated in batches
    nseg = thr_t.shape[0]
    buf_tau = np.empty(WRITE_BATCH if skip else 1, np.float64)
    buf_page = np.empty(WRITE_BATCH if skip else 1, np.uint64)
    bn = 0
    bi = 0
    if skip:
        bn = _fill_writes(buf_tau, buf_page, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off,
                          ph_n, alias_prob, alias_idx, tr_t, tr_p, n_pages)
    if check_first and has_downtime_limit and dirty * page_bytes < decision_Bps * downtime_limit_s:
        reason = R_DOWNTIME
    while reason == 0:
        if rows >= cap:
            return -1
        # ---- one live round over the synced set -------------------------------
        t0 = t
        tau0 = tau
        seg = _segment(t0, seg, thr_t)
        throttle_now = thr_f[seg] * g
        hits = 0
        if not skip:
            if first:
                rbytes = (n_pages - n_zero) * b_bulk + n_zero * b_zero
                dur = (n_pages - n_zero) * t_bulk + n_zero * t_zero
                n_bulk_full += n_pages - n_zero
                n_bulk_zero += n_zero
            elif wc is not None:
                rbytes, dur, hits, nf = _xb_round(cur, rows + 1, False, False, xb_addr, xb_age, wc, cost, out)
                n_full += nf
            else:
                rbytes = dirty * b_full
                dur = dirty * t_full
                n_full += dirty
            if uniform:
                dur = rbytes / cur_rate
            sent = dirty
            skipped = 0
            t1 = t0 + dur
            tau1 = _tau_at(t1, t0, tau0, seg, g, thr_t, thr_f)
            writes = _apply_until(tau1, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off,
                                  ph_n, alias_prob, alias_idx, tr_t, tr_p, n_pages, nxt, wc)
        else:
            # this round's send list: Xen's permuted order, or address order
            L = 0
            if first:
                for i in range(n_pages):
                    sendlist[i] = xen_permute(i, n_pages, order) if permuted else i
                L = n_pages
            else:
                for w in range(nwords):
                    x = cur[w]
                    base = w * 64
                    while x:
                        low = x & (~x + _U1)
                        p = base + _ctz(low)
                        if permuted:   # sort key: position in Xen's order, page in the low bits
                            sendlist[L] = (np.uint64(xen_unpermute(p, n_pages, order)) << _U32) | np.uint64(p)
                        else:
                            sendlist[L] = p
                        L += 1
                        x = x ^ low
                if permuted:
                    sendlist[:L].sort()
                    for i in range(L):
                        sendlist[i] = sendlist[i] & _LO32
            pos = 0
            rb = 0.0
            rt = 0.0
            sent = 0
            skipped = 0
            writes = 0
            # wall time of guest time tau: this segment's linear map, else the general walk
            seg_f = thr_f[seg] * g
            seg_end = thr_t[seg + 1] if seg + 1 < nseg else np.inf
            p_t = np.inf
            if bi < bn:
                p_t = t0 + (buf_tau[bi] - tau0) / seg_f if seg_f > 0.0 else np.inf
                if not p_t <= seg_end:
                    p_t = _t_at(buf_tau[bi], t0, tau0, seg, g, thr_t, thr_f)
            n_zero_from = n_pages - n_zero
            while True:
                while pos < L:
                    if t0 + (rb / cur_rate if uniform else rt) > p_t:
                        break
                    p = sendlist[pos]
                    pos += 1
                    if (nxt[p >> _U6] >> (p & _U63)) & _U1:
                        skipped += 1
                    else:
                        sent += 1
                        if first:
                            if np.int64(p) >= n_zero_from:
                                rb += b_zero
                                rt += t_zero
                                n_bulk_zero += 1
                            else:
                                rb += b_bulk
                                rt += t_bulk
                                n_bulk_full += 1
                            if wc is not None:
                                wc[p] = 0
                        elif wc is not None:
                            b, tt, kind = _xb_send(np.int64(p), rows + 1, False, False, xb_addr, xb_age, wc, cost)
                            rb += b
                            rt += tt
                            hit = _xb_tally(kind, b, cost, out)
                            hits += hit
                            n_full += 1 - hit
                        else:
                            rb += b_full
                            rt += t_full
                            n_full += 1
                if pos >= L and p_t > t0 + (rb / cur_rate if uniform else rt):
                    break
                q = buf_page[bi]
                nxt[q >> _U6] |= _U1 << (q & _U63)
                if wc is not None:
                    wc[q] += 1
                writes += 1
                bi += 1
                if bi == bn and bn == WRITE_BATCH:
                    bn = _fill_writes(buf_tau, buf_page, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b,
                                      ph_thr, ph_off, ph_n, alias_prob, alias_idx, tr_t, tr_p, n_pages)
                    bi = 0
                if bi < bn:
                    p_t = t0 + (buf_tau[bi] - tau0) / seg_f if seg_f > 0.0 else np.inf
                    if not p_t <= seg_end:
                        p_t = _t_at(buf_tau[bi], t0, tau0, seg, g, thr_t, thr_f)
                else:
                    p_t = np.inf
            rbytes = rb
            dur = rb / cur_rate if uniform else rt
            t1 = t0 + dur
            tau1 = _tau_at(t1, t0, tau0, seg, g, thr_t, thr_f)
        # ---- sync: the log becomes the next set ---------------------------------
        dirtied = popcount(nxt)
        tmp = cur
        cur = nxt
        nxt = tmp
        for w in range(nwords):
            nxt[w] = np.uint64(0)
        t = t1
        tau = tau1
        total_bytes += rbytes
        total_pages += sent
        lost = 0.0
        if aid_mode != AID_NONE:
            lost = (1.0 - g) * _tau_at(t1, t0, 0.0, seg, 1.0, thr_t, thr_f)
            total_lost += lost
        table[rows, C_START] = t0
        table[rows, C_DUR] = dur
        table[rows, C_SENT] = sent
        table[rows, C_SKIP] = skipped
        table[rows, C_DIRTIED] = dirtied
        table[rows, C_BYTES] = rbytes
        table[rows, C_WRITES] = writes
        table[rows, C_THROTTLE] = throttle_now
        table[rows, C_REMAIN] = dirtied
        table[rows, C_FINAL] = 0.0
        table[rows, C_CPUTHR] = 1.0 - g
        table[rows, C_LOST] = lost
        table[rows, C_XBHITS] = hits
        table[rows, C_POST] = 0.0
        table[rows, C_RATE] = cur_rate * 8.0
        rows += 1
        first = False
        prev_dirty = dirty
        dirty = dirtied
        next_rate = 0.0
        if ar_on:
            next_rate = dirtied * page_bytes / dur + aid[A_AR_INC] if dur > 0.0 else np.inf
        # ---- the stop rule ---------------------------------------------------------
        if dirty == 0:
            reason = R_EMPTY
        elif has_downtime_limit and dirty * page_bytes < decision_Bps * downtime_limit_s:
            reason = R_DOWNTIME
        elif min_dirty > 0 and dirty < min_dirty:
            reason = R_DIRTY
        elif min_round_pages > 0 and sent + skipped < min_round_pages:
            reason = R_ROUND
        elif ar_on and next_rate > aid[A_AR_MAX]:
            reason = R_MAXRATE
        elif pc_on and ((pc_after > 0 and rows >= pc_after) or
                        (aid[A_PC_NOPROG] > 0.0 and rows >= 2 and
                         (prev_dirty - dirty) < aid[A_PC_MINPROG] * prev_dirty)):
            reason = R_POSTCOPY
        elif max_rounds > 0 and rows + 1 >= max_rounds:
            reason = R_MAXROUNDS
        elif max_data_pages >= 0 and total_pages > max_data_pages:
            reason = R_MAXDATA
        elif t >= timeout_s:
            reason = R_TIMEOUT
        elif rows >= round_guard:
            reason = R_ROUNDLIMIT
        if ar_on and reason == 0:
            cur_rate = next_rate if next_rate > aid[A_AR_MIN] else aid[A_AR_MIN]
            if cur_rate > rate_Bps:
                cur_rate = rate_Bps
        # ---- guest-slowdown aids act at the sync ---------------------------------
        if aid_mode != AID_NONE and reason == 0:
            g = _aid_sync(aid_mode, aid, ast, g, t, dirtied, rbytes, writes, tau0, tau1, dur, page_bytes, t_full)
    # ---- stop-and-copy (the VM is paused: no writes) -----------------------------
    out[S_LOST] = total_lost
    out[S_MAX_THR] = ast[AST_MAX_THR]
    if reason == R_POSTCOPY:
        if rows >= cap:
            return -1
        if not skip:
            buf_tau = np.empty(WRITE_BATCH, np.float64)
            buf_page = np.empty(WRITE_BATCH, np.uint64)
            bn = _fill_writes(buf_tau, buf_page, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off,
                              ph_n, alias_prob, alias_idx, tr_t, tr_p, n_pages)
            bi = 0
        pc_pages = dirty
        pc_dur = _postcopy(cur, tau, buf_tau, buf_page, bi, bn, cost, ws, wf, rs, ph_kind, ph_dur, ph_rate,
                           ph_a, ph_b, ph_thr, ph_off, ph_n, alias_prob, alias_idx, tr_t, tr_p, n_pages, out)
        table[rows, C_START] = t          # the caller adds the switchover blackout
        table[rows, C_DUR] = pc_dur
        table[rows, C_SENT] = pc_pages
        table[rows, C_SKIP] = 0
        table[rows, C_DIRTIED] = 0
        table[rows, C_BYTES] = out[S_PC_BYTES]
        table[rows, C_WRITES] = out[S_PC_WRITES]
        table[rows, C_THROTTLE] = 1.0
        table[rows, C_REMAIN] = 0
        table[rows, C_FINAL] = 0.0
        table[rows, C_CPUTHR] = 0.0
        table[rows, C_LOST] = out[S_PC_STALL]
        table[rows, C_XBHITS] = 0
        table[rows, C_POST] = 1.0
        table[rows, C_RATE] = cost[K_FRATE] * 8.0
        rows += 1
        out[S_T_STOP] = t
        out[S_FINAL_PAGES] = 0
        out[S_FINAL_BYTES] = 0.0
        out[S_FINAL_TIME] = 0.0
        out[S_REASON] = reason
        out[S_TOTAL_BYTES] = total_bytes + out[S_PC_BYTES]
        out[S_TOTAL_PAGES] = total_pages + pc_pages
        out[S_LIVE_ROUNDS] = rows - 1
        out[S_N_BULK_FULL] = n_bulk_full
        out[S_N_BULK_ZERO] = n_bulk_zero
        out[S_N_FULL] = n_full
        out[S_RNG] = float(rs[0] >> np.uint64(11))
        return rows
    fhits = 0
    if first:
        fbytes = (n_pages - n_zero) * b_bulk + n_zero * b_zero
        ftime = (n_pages - n_zero) * cost[K_TF_BULK] + n_zero * cost[K_TF_ZERO]
        n_bulk_full += n_pages - n_zero
        n_bulk_zero += n_zero
    elif wc is not None:
        fbytes, ftime, fhits, nf = _xb_round(cur, rows + 1, True, True, xb_addr, xb_age, wc, cost, out)
        n_full += nf
    else:
        fbytes = dirty * b_full
        ftime = dirty * cost[K_TF_FULL]
        n_full += dirty
    if uniform:
        ftime = fbytes / cost[K_FRATE]
    if dirty > 0:
        if rows >= cap:
            return -1
        table[rows, C_START] = t
        table[rows, C_DUR] = ftime
        table[rows, C_SENT] = dirty
        table[rows, C_SKIP] = 0
        table[rows, C_DIRTIED] = 0
        table[rows, C_BYTES] = fbytes
        table[rows, C_WRITES] = 0
        table[rows, C_THROTTLE] = 0.0
        table[rows, C_REMAIN] = 0
        table[rows, C_FINAL] = 1.0
        table[rows, C_CPUTHR] = 0.0
        table[rows, C_LOST] = 0.0
        table[rows, C_XBHITS] = fhits
        table[rows, C_POST] = 0.0
        table[rows, C_RATE] = cost[K_FRATE] * 8.0
        rows += 1
    out[S_T_STOP] = t
    out[S_FINAL_PAGES] = dirty
    out[S_FINAL_BYTES] = fbytes
    out[S_FINAL_TIME] = ftime
    out[S_REASON] = reason
    out[S_TOTAL_BYTES] = total_bytes + fbytes
    out[S_TOTAL_PAGES] = total_pages + dirty
    out[S_LIVE_ROUNDS] = rows - (1 if dirty > 0 else 0)
    out[S_N_BULK_FULL] = n_bulk_full
    out[S_N_BULK_ZERO] = n_bulk_zero
    out[S_N_FULL] = n_full
    out[S_RNG] = float(rs[0] >> np.uint64(11))
    return rows


@njit(**NJIT)
def record_writes(duration, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off, ph_n,
                  alias_prob, alias_idx, tr_t, tr_p, n_pages, seed, out_t, out_p):
    """Emit the write stream of a workload up to guest time ``duration`` (exclusive)
    into ``out_t``/``out_p``; returns the count, or -1 if the buffers are too small."""
    ws = np.zeros(2, np.int64)
    wf = np.zeros(1, np.float64)
    rs = np.full(1, np.uint64(seed), np.uint64)
    buf_tau = np.empty(WRITE_BATCH, np.float64)
    buf_page = np.empty(WRITE_BATCH, np.uint64)
    k = 0
    while True:
        bn = _fill_writes(buf_tau, buf_page, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off,
                          ph_n, alias_prob, alias_idx, tr_t, tr_p, n_pages)
        for i in range(bn):
            if buf_tau[i] >= duration:
                return k
            if k >= out_t.shape[0]:
                return -1
            out_t[k] = buf_tau[i]
            out_p[k] = np.int64(buf_page[i])
            k += 1
        if bn < WRITE_BATCH:
            return k


# --- Storage VMotion's I/O mirroring (one pass) --------------------------------
# scalar outputs of mirror_kernel
M_TIME, M_WRITES, M_MIRRORED, M_REASON, M_COPIED, M_STALL, M_LAT_SUM, M_LAT_MAX = range(8)
N_MIRROR = 8


@njit(**NJIT)
def mirror_kernel(n_blocks, t_block, lat_extra, io_depth, timeout_s, ph_kind, ph_dur, ph_rate, ph_a, ph_b,
                  ph_thr, ph_off, ph_n, alias_prob, alias_idx, tr_t, tr_p, seed, ring, out):
    """One copy pass in block order while guest writes to blocks at or behind the
    copy cursor are mirrored synchronously over the same path.

    The path is one FIFO server taking ``t_block`` per block: the copier keeps
    one block in it (the next is queued when the last completes), and each
    mirrored write queues one block.  Block ``cur`` is the copier's; a write to
    a block ``<= cur`` must also reach the destination (mirrored), a write ahead
    only lands on the source.  A mirrored write completes ``lat_extra`` (round
    trip + destination's extra write latency) after its block leaves the path;
    the guest keeps at most ``io_depth`` mirrored writes in flight (0: no
    limit) and otherwise waits, its clock stopped, for the oldest (``ring``
    holds their completion times).  Guest time runs with wall time.  Reason 1:
    the pass is done; 7: ``timeout_s`` came first.
    """
    ws = np.zeros(2, np.int64)
    wf = np.zeros(1, np.float64)
    rs = np.full(1, np.uint64(seed), np.uint64)
    buf_tau = np.empty(WRITE_BATCH, np.float64)
    buf_page = np.empty(WRITE_BATCH, np.uint64)
    bn = _fill_writes(buf_tau, buf_page, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off, ph_n,
                      alias_prob, alias_idx, tr_t, tr_p, n_blocks)
    bi = 0
    a_t = 0.0
    a_tau = 0.0
    cur = 0
    c_done = t_block
    srv = t_block
    copied = 0
    t = 0.0
    writes = 0
    mirrored = 0
    stall = 0.0
    lat_sum = 0.0
    lat_max = 0.0
    head = 0
    cnt = 0
    reason = 1
    while True:
        if bi < bn:
            tw = a_t + (buf_tau[bi] - a_tau)
        else:
            tw = np.inf
        if c_done <= tw:
            if c_done > timeout_s:
                reason = 7
                t = timeout_s
                break
            copied = cur + 1
            t = c_done
            if copied == n_blocks:
                break
            cur += 1
            c_done = srv + t_block
            srv = c_done
        else:
            if tw > timeout_s:
                reason = 7
                t = timeout_s
                break
            if np.int64(buf_page[bi]) <= cur:
                while cnt > 0 and ring[head] <= tw:
                    head += 1
                    if head == io_depth:
                        head = 0
                    cnt -= 1
                if io_depth > 0 and cnt == io_depth:
                    # every slot busy: the guest waits for the oldest mirrored write
                    stall += ring[head] - tw
                    a_t = ring[head]
                    a_tau = buf_tau[bi]
                    continue
                start = tw if tw > srv else srv
                srv = start + t_block
                done = srv + lat_extra
                lat = done - tw
                lat_sum += lat
                if lat > lat_max:
                    lat_max = lat
                if io_depth > 0:
                    k = head + cnt
                    if k >= io_depth:
                        k -= io_depth
                    ring[k] = done
                    cnt += 1
                mirrored += 1
            writes += 1
            bi += 1
            if bi == bn and bn == WRITE_BATCH:
                bn = _fill_writes(buf_tau, buf_page, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr,
                                  ph_off, ph_n, alias_prob, alias_idx, tr_t, tr_p, n_blocks)
                bi = 0
    out[M_TIME] = t
    out[M_WRITES] = writes
    out[M_MIRRORED] = mirrored
    out[M_REASON] = reason
    out[M_COPIED] = copied
    out[M_STALL] = stall
    out[M_LAT_SUM] = lat_sum
    out[M_LAT_MAX] = lat_max
    return copied
