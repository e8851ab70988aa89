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

The pure-Python twin in ``tests/naive.py`` mirrors both, operation for operation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .config import NJIT

# --- layout of the caller-allocated outputs ---------------------------------
# per-round table columns
C_START, C_DUR, C_SENT, C_SKIP, C_DIRTIED, C_BYTES, C_WRITES, C_THROTTLE, C_REMAIN, C_FINAL = range(10)
N_COLS = 10
# scalar outputs
S_T_STOP, S_FINAL_PAGES, S_FINAL_BYTES, S_REASON, S_TOTAL_BYTES, S_TOTAL_PAGES, S_LIVE_ROUNDS, S_RNG = range(8)
N_SCALARS = 8
# stop reasons (index into STOP_REASONS); 1..4 mean "converged"
STOP_REASONS = ("running", "downtime_limit", "dirty_pages", "round_pages", "no_dirty_pages",
                "max_rounds", "max_data", "timeout", "round_limit")
R_DOWNTIME, R_DIRTY, R_ROUND, R_EMPTY, R_MAXROUNDS, R_MAXDATA, R_TIMEOUT, R_ROUNDLIMIT = range(1, 9)

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
                 alias_prob, alias_idx, tr_t, tr_p, n_pages, bm):
    """Apply, in order, every write whose guest time is <= tau1 (skip-off engine).

    ``ws = [phase, writes done in phase]``, ``wf = [phase start (guest s)]``,
    ``rs = [rng state]``.  Write m (1-based) of a rate phase belongs when
    ``m <= floor(rate * (tau1 - phase start))``.  Returns the number of writes.
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
                else:  # KIND_SEQUENTIAL
                    pos = m % b
                    for _ in range(cnt):
                        p = np.uint64(a + pos)
                        bm[p >> _U6] |= _U1 << (p & _U63)
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


@njit(**NJIT)
def simulate_kernel(n_pages, page_bytes, hdr_bytes, n_zero,
                    rate_Bps, decision_Bps,
                    max_rounds, min_dirty, min_round_pages, downtime_limit_s, has_downtime_limit,
                    max_data_pages, timeout_s, skip, permuted, check_first, round_guard,
                    ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off, ph_n,
                    alias_prob, alias_idx, tr_t, tr_p,
                    thr_t, thr_f, order, seed,
                    cur, nxt, sendlist, table, out):
    """Run one migration.  Returns the number of table rows, or -1 if ``table``
    is too small (the caller grows it and runs again: the run is deterministic).

    ``cur``/``nxt`` are zeroed uint64 bitmaps of ceil(n_pages/64) words; ``sendlist``
    is a uint64 array of n_pages entries when ``skip`` (else length 1); ``order``
    is :func:`xen_order` of ``n_pages`` (used when ``permuted``).
    """
    cap = table.shape[0]
    nwords = cur.shape[0]
    full_cost = page_bytes + hdr_bytes
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
        if not skip:
            if first:
                rbytes = (n_pages - n_zero) * full_cost + n_zero * hdr_bytes
            else:
                rbytes = dirty * full_cost
            sent = dirty
            skipped = 0
            dur = rbytes / rate_Bps
            t1 = t0 + dur
            tau1 = _tau_at(t1, t0, tau0, seg, g, thr_t, thr_f)
            writes = _apply_until(tau1, ws, wf, rs, ph_kind, ph_dur, ph_rate, ph_a, ph_b, ph_thr, ph_off,
                                  ph_n, alias_prob, alias_idx, tr_t, tr_p, n_pages, nxt)
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
                        p = base + _DEBRUIJN_IDX[np.int64(((low * _DEBRUIJN) >> np.uint64(58)))]
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
                    if t0 + rb / rate_Bps > p_t:
                        break
                    p = sendlist[pos]
                    pos += 1
                    if (nxt[p >> _U6] >> (p & _U63)) & _U1:
                        skipped += 1
                    else:
                        sent += 1
                        if first and np.int64(p) >= n_zero_from:
                            rb += hdr_bytes
                        else:
                            rb += full_cost
                if pos >= L and p_t > t0 + rb / rate_Bps:
                    break
                q = buf_page[bi]
                nxt[q >> _U6] |= _U1 << (q & _U63)
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
            dur = rb / rate_Bps
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
        rows += 1
        first = False
        dirty = dirtied
        # ---- the stop rule ---------------------------------------------------------
        if dirty == 0:
            reason = R_EMPTY
        elif has_downtime_limit and dirty * page_bytes < decision_Bps * downtime_limit_s:
            reason = R_DOWNTIME
        elif min_dirty > 0 and dirty < min_dirty:
            reason = R_DIRTY
        elif min_round_pages > 0 and sent + skipped < min_round_pages:
            reason = R_ROUND
        elif max_rounds > 0 and rows + 1 >= max_rounds:
            reason = R_MAXROUNDS
        elif max_data_pages >= 0 and total_pages > max_data_pages:
            reason = R_MAXDATA
        elif t >= timeout_s:
            reason = R_TIMEOUT
        elif rows >= round_guard:
            reason = R_ROUNDLIMIT
    # ---- stop-and-copy (the VM is paused: no writes) -----------------------------
    if first:
        fbytes = (n_pages - n_zero) * full_cost + n_zero * hdr_bytes
    else:
        fbytes = dirty * full_cost
    if dirty > 0:
        if rows >= cap:
            return -1
        table[rows, C_START] = t
        table[rows, C_DUR] = np.nan       # filled in by the caller (final rate)
        table[rows, C_SENT] = dirty
        table[rows, C_SKIP] = 0
        table[rows, C_DIRTIED] = 0
        table[rows, C_BYTES] = fbytes
        table[rows, C_WRITES] = 0
        table[rows, C_THROTTLE] = 0.0
        table[rows, C_REMAIN] = 0
        table[rows, C_FINAL] = 1.0
        rows += 1
    out[S_T_STOP] = t
    out[S_FINAL_PAGES] = dirty
    out[S_FINAL_BYTES] = fbytes
    out[S_REASON] = reason
    out[S_TOTAL_BYTES] = total_bytes + fbytes
    out[S_TOTAL_PAGES] = total_pages + dirty
    out[S_LIVE_ROUNDS] = rows - (1 if dirty > 0 else 0)
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
