"""Private compiled kernels: the page-level pre-copy simulation.

Only named bundles of arrays and scalars (``typing.NamedTuple``: numba compiles
and disk-caches kernels that take them) cross this boundary;
:mod:`precopy.scenario` validates everything first and builds them.  Two round
engines share one driver, :func:`simulate_kernel`:

* ``skip off`` (QEMU, Xen v2, VMware, SimGrid): which pages a round sends does not
  depend on the send order, so a round is "send the synced set, apply every write
  that happens meanwhile to the dirty log".  Per write: one splitmix64 draw and one
  bit set.  Per round: one popcount and one clear of the log.
* ``skip on`` (Xen legacy): writes and the sender are interleaved in time; when the
  sender reaches a page whose bit is already set again in the log, the page is
  skipped (it will go in the next round).

With QEMU's sync cadence (``Protocol.threshold``, :attr:`precopy.policies.Policy.sync_cadence`)
the skip-off engine's round is not a whole pass: the bitmap starts all set, a
round sends the next pages set from where the pass stands (whole chunks, until
the pages still set fit the threshold, :func:`_send_from`), and the sync ORs the
log into the bitmap (:func:`_or_clear`); the never-sent rest of the first pass is
priced as the bulk pass prices it, also in the stop-and-copy
(:func:`_price_final_threshold`).

The stop decision is :func:`precopy._stoprule.stop_rule`, shared with the
analytic models.  Convergence aids (``precopy.aids``) ride on the same driver: a
guest-speed factor ``g`` changed only at bitmap syncs (auto-converge,
dirty-limit, SDPS), per-page costs per page class (compression; XBZRLE's cache,
consulted page by page outside the write loop), and a post-copy phase after the
last live round.  The plain path (no XBZRLE) never touches per-page write
counts: ``wc`` is ``None`` there and numba prunes those branches at compile time.

Two wall-clock schedules act inside rounds: the guest ``throttle`` (guest time
runs ``f`` times as fast as wall time) and the pre-copy ``rate_schedule`` (the
sender's clock: a round needing ``s`` seconds at the base rate ends when the
integral of the rate factor reaches ``s``).

Every kernel polls ``WriteState.stop`` (per batch of writes and per round) and
returns early when it is set: the caller sets it on KeyboardInterrupt.

The pure-Python twin in ``tests/naive.py`` mirrors all of it, operation for operation.
"""

from __future__ import annotations

from collections import namedtuple
from typing import NamedTuple

import numpy as np
from numba import njit

from ._stoprule import STOP_REASONS  # noqa: F401  (re-exported: the one table of reasons)
from ._stoprule import R_ABORTED, R_DOWNTIME, R_POSTCOPY, R_RUNNING, downtime_ok, step_value, stop_rule
from . import _zipf
from ._dirtyset import draw_set, set_path_pays
from .config import NJIT

_INLINE = dict(inline="always", **{k: v for k, v in NJIT.items() if k != "cache"})


def _index(name, fields):
    """A constant namedtuple ``field -> position`` (numba folds its attributes)."""
    return namedtuple(name, fields)(*range(len(fields)))


#: Columns of the per-round table, in :class:`precopy.RoundTable`'s names (the
#: rate in bytes/s: :func:`precopy.results.assemble` reports it in bit/s).
TABLE_COLUMNS = ("start_s", "duration_s", "pages_sent", "pages_skipped", "pages_dirtied", "bytes_sent", "writes",
                 "throttle", "stop_copy", "cpu_throttle", "guest_lost_s", "xbzrle_hits", "postcopy", "rate_Bps",
                 "expected_downtime_s")
COL = _index("Col", TABLE_COLUMNS)
N_COLS = len(TABLE_COLUMNS)
#: Scalar outputs of :func:`simulate_kernel`.
OUT_FIELDS = ("t_stop", "final_pages", "final_bytes", "reason", "total_bytes", "total_pages", "live_rounds",
              "final_time", "lost", "max_thr", "xb_hits", "xb_misses", "xb_overflows", "xb_saved",
              "n_bulk_full", "n_bulk_zero", "n_full", "pc_pages", "pc_dur", "pc_faults", "pc_stall", "pc_pushed",
              "pc_writes", "pc_bytes", "syncs")
OUT = _index("Out", OUT_FIELDS)
N_SCALARS = len(OUT_FIELDS)

# guest-slowdown aids
AID_NONE, AID_AUTOCONVERGE, AID_DIRTYLIMIT, AID_SDPS = 0, 1, 2, 3
# XBZRLE outcome of one page
XB_MISS, XB_HIT, XB_OVERFLOW, XB_SAME = 0, 1, 2, 3
#: CACHED_PAGE_LIFETIME of QEMU's page cache (migration/page_cache.c)
XB_LIFETIME = 2

KIND_IDLE, KIND_HOTCOLD, KIND_ALIAS, KIND_SEQUENTIAL, KIND_TRACE, KIND_ZIPF = 0, 1, 2, 3, 4, 5
#: writes generated per batch by the skip-on engine
WRITE_BATCH = 4096
#: writes applied between two polls of the stop flag (skip-off engine)
POLL_WRITES = 1 << 16
#: laps of a cyclic workload's phases without a write after which the write
#: generator concludes that none will come (the write clock carried across
#: phases can need many laps of short phases for one write)
MAX_IDLE_LAPS = 1 << 20
#: return value of a kernel stopped by its caller
STOPPED = -2


class Costs(NamedTuple):
    """Per-page wire bytes (``b_*``) and pipeline seconds (``t_*`` at the pre-copy
    rate, ``tf_*`` at the final rate) by page class, rates in bytes/s.
    ``uniform``: every class takes bytes / rate (no CPU ceilings), and times are
    then computed as bytes / rate.  ``xb_*``: XBZRLE; ``pc_*``: post-copy."""

    page: float
    rate: float
    frate: float
    b_bulk: float
    t_bulk: float
    tf_bulk: float
    b_zero: float
    t_zero: float
    tf_zero: float
    b_full: float
    t_full: float
    tf_full: float
    xb_hdr: float
    xb_per_write: float
    xb_fixed: float
    xb_cpu_t: float
    pc_t: float
    pc_b: float
    pc_extra: float
    uniform: bool


class Protocol(NamedTuple):
    """How rounds are run: zero pages, page skip, Xen's send order, the decision
    bandwidth (bytes/s; scaled by the rate schedule when ``decision_follows_rate``),
    Clark et al.'s adaptive rate (bytes/s) and the sync cadence (``threshold``:
    QEMU's, a round ends when the pages still set fit the threshold, checked every
    ``chunk`` pages sent)."""

    n_zero: int
    skip: bool
    permuted: bool
    order: int
    check_first: bool
    decision_Bps: float
    decision_follows_rate: bool
    ar_on: bool
    ar_min: float
    ar_inc: float
    set_k_min: float
    set_k_alias: float
    set_dense: float
    set_seq: bool
    threshold: bool
    chunk: int


class AidParams(NamedTuple):
    """Parameters of the guest-slowdown aid (``mode``: ``AID_*``)."""

    mode: int
    initial: float
    increment: float
    max: float
    trigger: float
    interval: float
    tailslow: bool
    dl_cap: float
    dl_tol: float
    sdps_ratio: float


class Clocks(NamedTuple):
    """Wall-time schedules: guest throttle ``(thr_t, thr_f)`` and pre-copy rate
    factor ``(rate_t, rate_f)`` (rate / base rate), each starting at 0."""

    thr_t: np.ndarray
    thr_f: np.ndarray
    rate_t: np.ndarray
    rate_f: np.ndarray


class Buffers(NamedTuple):
    """Caller-allocated work arrays of one run: zeroed bitmaps ``cur``/``nxt`` of
    ceil(n_pages / 64) words, ``sendlist`` (with page skip in Xen's order: a bitmap
    of scan positions, ceil(n_pages / 64) words; else 1 word), XBZRLE's cache
    slots ``xb_addr`` (filled with -1) / ``xb_age``, and the set path's occupancy
    table ``occ`` (:func:`precopy._dirtyset.occupancy_cdf`, read only)."""

    cur: np.ndarray
    nxt: np.ndarray
    sendlist: np.ndarray
    xb_addr: np.ndarray
    xb_age: np.ndarray
    occ: np.ndarray


class WriteState(NamedTuple):
    """Where the write stream is: ``pos = [phase, writes done in it]``, ``clock =
    [phase start (guest s), write-clock fraction carried into the phase]``,
    ``rng = [splitmix64 state]``, ``stop = [set by the caller to stop]``."""

    pos: np.ndarray
    clock: np.ndarray
    rng: np.ndarray
    stop: np.ndarray


def new_write_state(seed, stop=None) -> WriteState:
    """The write stream of ``seed`` at guest time 0 (``stop``: a shared flag array)."""
    return WriteState(np.zeros(2, np.int64), np.zeros(2, np.float64), np.full(1, np.uint64(seed), np.uint64),
                      np.zeros(1, np.int64) if stop is None else stop)


class Pending(NamedTuple):
    """A batch of upcoming writes (guest time, page) and ``idx = [next, count]``."""

    tau: np.ndarray
    page: np.ndarray
    idx: np.ndarray


@njit(**NJIT)
def new_pending(size):
    """An empty batch of ``size`` pending writes."""
    return Pending(np.empty(size, np.float64), np.empty(size, np.uint64), np.zeros(2, np.int64))


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


@njit(**_INLINE)
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




# --- the write stream ----------------------------------------------------------------------------

@njit(**_INLINE)
def _setbit(bm, p):
    bm[p >> _U6] |= _U1 << (p & _U63)


@njit(**_INLINE)
def _draw_hotcold(s, ua, ub, un, thr):
    """Next state and page of a hot/cold write: the hot set ``[ua, ua + ub)`` when
    the low 32 bits fall below ``thr``, else any of ``un`` pages."""
    s = s + _GOLD
    z = _mix(s)
    if (z & _LO32) < thr:
        return s, ua + (((z >> _U32) * ub) >> _U32)
    return s, ((z >> _U32) * un) >> _U32


@njit(**_INLINE)
def _draw_alias(s, ua, ub, off, alias_prob, alias_idx):
    """Next state and page of an alias-table write (Walker/Vose) over ``[ua, ua + ub)``."""
    s = s + _GOLD
    z = _mix(s)
    i = np.int64(((z >> _U32) * ub) >> _U32)
    if (z & _LO32) < alias_prob[off + i]:
        return s, ua + np.uint64(i)
    return s, ua + np.uint64(alias_idx[off + i])


@njit(**_INLINE)
def _draw_table(s, kind, ua, ub, off, wp):
    """Next state and page of a Zipf write: through the alias table, or, for a
    region too large for one (``KIND_ZIPF``), by :func:`precopy._zipf.page`."""
    if kind == KIND_ZIPF:
        s, p = _zipf.page(s, np.int64(ua), np.int64(ub), wp.alias_prob, off)
        return s, np.uint64(p)
    return _draw_alias(s, ua, ub, off, wp.alias_prob, wp.alias_idx)


@njit(**_INLINE)
def _phase_limit(rate, dur, e):
    """Writes of a rate phase of ``dur`` guest seconds entered with write-clock fraction ``e``."""
    return np.int64(np.floor(e + rate * dur)) if dur < np.inf else np.int64(2**62)


@njit(**_INLINE)
def _next_phase(wp, ws, j, P, e):
    """Leave phase ``j`` (started at ``P``, entered with fraction ``e``) at its end:
    returns (next phase, its start, the fraction it inherits).  The write clock
    runs on across phases, so phases shorter than one write interval keep their
    share of writes."""
    dur = wp.dur[j]
    kind = wp.kind[j]
    if kind != KIND_IDLE and kind != KIND_TRACE:
        x = e + wp.rate[j] * dur
        e = x - np.floor(x)
    j = j + 1
    if j == wp.kind.shape[0]:
        j = 0
    return j, P + dur, e


@njit(**_INLINE)
def _set_path(kind, n, b, thr, n_pages, proto):
    """The switch rule: draw the set of pages ``n`` writes dirty instead of each write."""
    if kind == KIND_SEQUENTIAL:
        return proto.set_seq
    return set_path_pays(kind, n, b, thr, n_pages, proto.set_k_min, proto.set_k_alias)


@njit(**NJIT)
def _apply_until(tau1, wp, ws, bm, wc, proto, occ):
    """Apply, in order, every write whose guest time is <= tau1 (skip-off engine).

    Write m (1-based) of a rate phase entered at guest time ``P`` with write-clock
    fraction ``e`` belongs when ``m <= floor(e + rate * (tau1 - P))``, and all
    ``floor(e + rate * duration)`` of them once the phase has ended.  ``wc``
    (per-page write counts for XBZRLE) is None on the plain path: numba prunes
    its updates.  On the plain path, when a phase's writes in the interval pass
    the switch rule (:func:`_set_path`), the set of pages they dirty is drawn at
    once (:func:`precopy._dirtyset.draw_set`: the same law, not the same draws).
    Returns the number of writes, or -1 if stopped by the caller.
    """
    j = ws.pos[0]
    m = ws.pos[1]
    P = ws.clock[0]
    e = ws.clock[1]
    s = ws.rng[0]
    n_pages = wp.n_pages
    total = 0
    while True:
        kind = wp.kind[j]
        E = P + wp.dur[j]
        upto = tau1 if tau1 < E else E
        if kind == KIND_TRACE:
            off = wp.off[j]
            nn = wp.n[j]
            while m < nn and P + wp.trace_t[off + m] <= upto:
                _setbit(bm, np.uint64(wp.trace_p[off + m]))
                if wc is not None:
                    wc[wp.trace_p[off + m]] += 1
                m += 1
                total += 1
        elif kind != KIND_IDLE:
            # a finished phase has all its writes; else those up to tau1
            target = _phase_limit(wp.rate[j], wp.dur[j], e)
            if tau1 < E:
                upto_target = np.int64(np.floor(e + wp.rate[j] * (tau1 - P)))
                if upto_target < target:
                    target = upto_target
            a = wp.a[j]
            b = wp.b[j]
            ua = np.uint64(a)
            ub = np.uint64(b)
            if wc is None and target > m and _set_path(kind, target - m, b, wp.thr[j], n_pages, proto):
                s = draw_set(s, kind, target - m, m, a, b, wp.thr[j], wp.off[j], n_pages, wp.alias_prob,
                             wp.alias_idx, bm, occ, proto.set_dense)
                total += target - m
                m = target
            while m < target:
                cnt = target - m
                if cnt > POLL_WRITES:
                    cnt = POLL_WRITES
                if kind == KIND_HOTCOLD:
                    thr = wp.thr[j]
                    un = np.uint64(n_pages)
                    for _ in range(cnt):
                        s, p = _draw_hotcold(s, ua, ub, un, thr)
                        _setbit(bm, p)
                        if wc is not None:
                            wc[p] += 1
                elif kind == KIND_ALIAS or kind == KIND_ZIPF:
                    off = wp.off[j]
                    for _ in range(cnt):
                        s, p = _draw_table(s, kind, ua, ub, off, wp)
                        _setbit(bm, p)
                        if wc is not None:
                            wc[p] += 1
                else:  # KIND_SEQUENTIAL
                    pos = m % b
                    for _ in range(cnt):
                        p = np.uint64(a + pos)
                        _setbit(bm, p)
                        if wc is not None:
                            wc[p] += 1
                        pos += 1
                        if pos == b:
                            pos = 0
                m += cnt
                total += cnt
                if ws.stop[0] != 0:
                    return -1
        if tau1 < E:
            break
        # the phase ended inside this interval: move to the next one
        j, P, e = _next_phase(wp, ws, j, P, e)
        m = 0
    ws.pos[0] = j
    ws.pos[1] = m
    ws.clock[0] = P
    ws.clock[1] = e
    ws.rng[0] = s
    return total


@njit(**NJIT)
def _fill_writes(pd, wp, ws):
    """Generate the next writes, in order, into ``pd.tau``/``pd.page`` (from index 0).

    Write m (1-based) of a rate phase entered at ``P`` with fraction ``e`` happens
    at guest time ``P + (m - e) / rate`` while ``m <= floor(e + rate * duration)``;
    trace events at ``P + t_k`` while ``t_k < duration``.  Returns how many were
    written: fewer than the buffer holds only when no write will ever come again
    (``MAX_IDLE_LAPS`` laps of the phases without one, or a last phase of infinite
    duration), or when the caller set the stop flag (then none).  One call per batch: numba
    would otherwise reference-count the arrays on every per-write call.
    """
    if ws.stop[0] != 0:
        return 0
    buf_tau = pd.tau
    buf_page = pd.page
    cap = buf_tau.shape[0]
    j = ws.pos[0]
    m = ws.pos[1]
    P = ws.clock[0]
    e = ws.clock[1]
    s = ws.rng[0]
    k = 0
    k_lap = 0
    idle_laps = 0
    while k < cap:
        kind = wp.kind[j]
        dur = wp.dur[j]
        if kind == KIND_TRACE:
            off = wp.off[j]
            nn = wp.n[j]
            while k < cap and m < nn and wp.trace_t[off + m] < dur:
                buf_tau[k] = P + wp.trace_t[off + m]
                buf_page[k] = np.uint64(wp.trace_p[off + m])
                m += 1
                k += 1
            if k == cap:
                break
        elif kind != KIND_IDLE:
            rate = wp.rate[j]
            limit = _phase_limit(rate, dur, e)
            a = wp.a[j]
            ua = np.uint64(a)
            ub = np.uint64(wp.b[j])
            if kind == KIND_SEQUENTIAL:
                b = wp.b[j]
                while k < cap and m < limit:
                    buf_tau[k] = P + ((m + 1) - e) / rate
                    buf_page[k] = np.uint64(a + (m % b))
                    m += 1
                    k += 1
            elif kind == KIND_HOTCOLD:
                thr = wp.thr[j]
                un = np.uint64(wp.n_pages)
                while k < cap and m < limit:
                    s, buf_page[k] = _draw_hotcold(s, ua, ub, un, thr)
                    buf_tau[k] = P + ((m + 1) - e) / rate
                    m += 1
                    k += 1
            else:  # KIND_ALIAS, KIND_ZIPF
                off = wp.off[j]
                while k < cap and m < limit:
                    s, buf_page[k] = _draw_table(s, kind, ua, ub, off, wp)
                    buf_tau[k] = P + ((m + 1) - e) / rate
                    m += 1
                    k += 1
            if k == cap:
                break
        if dur == np.inf:
            break
        j, P, e = _next_phase(wp, ws, j, P, e)
        m = 0
        if j == 0:
            if k == k_lap:
                idle_laps += 1
                if idle_laps > MAX_IDLE_LAPS:   # no write for so many laps: none will come
                    break
            else:
                idle_laps = 0
            k_lap = k
    ws.pos[0] = j
    ws.pos[1] = m
    ws.clock[0] = P
    ws.clock[1] = e
    ws.rng[0] = s
    return k


@njit(**_INLINE)
def _refill(pd, wp, ws):
    """Start a new batch of pending writes."""
    pd.idx[1] = _fill_writes(pd, wp, ws)
    pd.idx[0] = 0


@njit(**_INLINE)
def _advance(pd, wp, ws):
    """Consume the next pending write (refilling the batch when it runs out)."""
    pd.idx[0] += 1
    if pd.idx[0] == pd.idx[1] and pd.idx[1] == pd.tau.shape[0]:
        _refill(pd, wp, ws)


@njit(**_INLINE)
def _pending_tau(pd):
    """Guest time of the next pending write (inf if none will come)."""
    return pd.tau[pd.idx[0]] if pd.idx[0] < pd.idx[1] else np.inf


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
def segment(t, seg, thr_t):
    """Index of the throttle segment holding wall time ``t`` (search from ``seg``)."""
    nseg = thr_t.shape[0]
    while seg + 1 < nseg and thr_t[seg + 1] <= t:
        seg += 1
    return seg


@njit(**_INLINE)
def _ctz(low):
    """Index of the single set bit of ``low`` (a power of two)."""
    return _DEBRUIJN_IDX[np.int64((low * _DEBRUIJN) >> np.uint64(58))]


@njit(**_INLINE)
def _testbit(bm, p):
    return (bm[p >> _U6] >> (p & _U63)) & _U1




@njit(**_INLINE)
def send_end(t0, sig, rseg, clk):
    """Wall time at which the sender, starting at ``t0`` in rate segment ``rseg``,
    has done ``sig`` seconds of work at the base rate."""
    if clk.rate_t.shape[0] == 1:
        return t0 + sig / clk.rate_f[0]
    return _t_at(sig, t0, 0.0, rseg, 1.0, clk.rate_t, clk.rate_f)


# --- pricing pages -------------------------------------------------------------------------------

@njit(**NJIT)
def _xb_send(p, gen, last, final, buf, wc, cost):
    """Send page ``p`` (not in the bulk pass) through QEMU's XBZRLE cache.

    Returns (bytes, seconds, outcome).  ``gen`` is the sync generation; ``last``
    marks the stop-and-copy (no insertions); ``final`` prices time at the final
    rate.  Mirrors ``save_xbzrle_page`` and ``page_cache.c``.
    """
    xb_addr = buf.xb_addr
    xb_age = buf.xb_age
    mask = xb_addr.shape[0] - 1
    slot = p & mask
    k = wc[p]
    wc[p] = 0
    t_full = cost.tf_full if final else cost.t_full
    if xb_addr[slot] == p:
        xb_age[slot] = gen
        if cost.xb_fixed >= 0.0:
            enc = cost.xb_fixed
        else:
            enc = k * cost.xb_per_write
        if enc == 0.0:
            return 0.0, 0.0, XB_SAME
        if enc > cost.page:
            return cost.b_full, t_full, XB_OVERFLOW
        b = cost.xb_hdr + enc
        tt = b / (cost.frate if final else cost.rate)
        if tt < cost.xb_cpu_t:
            tt = cost.xb_cpu_t
        return b, tt, XB_HIT
    if not last:
        if xb_addr[slot] < 0 or xb_age[slot] + XB_LIFETIME <= gen:
            xb_addr[slot] = p
            xb_age[slot] = gen
    return cost.b_full, t_full, XB_MISS


@njit(**_INLINE)
def _xb_tally(kind, b, cost, out):
    """Count one XBZRLE outcome in ``out``; returns 1 for a hit (encoded or
    unchanged page), 0 for a page sent in full (miss or overflow)."""
    if kind == XB_MISS:
        out[OUT.xb_misses] += 1
        return 0
    if kind == XB_OVERFLOW:
        out[OUT.xb_overflows] += 1
        return 0
    out[OUT.xb_hits] += 1
    out[OUT.xb_saved] += cost.b_full - b
    return 1


@njit(**NJIT)
def _xb_round(bm, gen, last, final, buf, wc, cost, out):
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
            b, tt, kind = _xb_send(p, gen, last, final, buf, wc, cost)
            rb += b
            rt += tt
            hit = _xb_tally(kind, b, cost, out)
            hits += hit
            nfull += 1 - hit
    return rb, rt, hits, nfull


@njit(**_INLINE)
def _page_cost(p, first, n_zero_from, gen, buf, wc, cost, out):
    """(bytes, seconds, hit) of sending page ``p`` in a live round of the skip-on
    engine, with the bulk/full/XBZRLE counts booked in ``out``."""
    if first:
        if wc is not None:
            wc[p] = 0
        if np.int64(p) >= n_zero_from:
            out[OUT.n_bulk_zero] += 1
            return cost.b_zero, cost.t_zero, 0
        out[OUT.n_bulk_full] += 1
        return cost.b_bulk, cost.t_bulk, 0
    if wc is not None:
        b, tt, kind = _xb_send(np.int64(p), gen, False, False, buf, wc, cost)
        hit = _xb_tally(kind, b, cost, out)
        out[OUT.n_full] += 1 - hit
        return b, tt, hit
    out[OUT.n_full] += 1
    return cost.b_full, cost.t_full, 0


@njit(**NJIT)
def _price_set(first, final, dirty, n_pages, n_zero, gen, buf, wc, cost, out):
    """(bytes, seconds, XBZRLE hits) of sending a whole synced set: the bulk pass
    when ``first`` (zero pages header-only), else the ``dirty`` pages of
    ``buf.cur`` (XBZRLE when ``wc`` is an array); ``final`` prices the
    stop-and-copy (final rate, no cache insertions).  Books the counts in ``out``."""
    hits = 0
    if first:
        full = n_pages - n_zero
        rbytes = full * cost.b_bulk + n_zero * cost.b_zero
        if final:
            secs = full * cost.tf_bulk + n_zero * cost.tf_zero
        else:
            secs = full * cost.t_bulk + n_zero * cost.t_zero
        out[OUT.n_bulk_full] += full
        out[OUT.n_bulk_zero] += n_zero
    elif wc is not None:
        rbytes, secs, hits, nf = _xb_round(buf.cur, gen, final, final, buf, wc, cost, out)
        out[OUT.n_full] += nf
    else:
        rbytes = dirty * cost.b_full
        secs = dirty * (cost.tf_full if final else cost.t_full)
        out[OUT.n_full] += dirty
    if cost.uniform:
        secs = rbytes / (cost.frate if final else cost.rate)
    return rbytes, secs, hits


@njit(**_INLINE)
def _row(table, r, start, dur, sent, skipped, dirtied, nbytes, writes, throttle, stop_copy, cpu_thr, lost,
         hits, postcopy, rate_Bps, exp_dt):
    """Write row ``r`` of the per-round table."""
    table[r, COL.start_s] = start
    table[r, COL.duration_s] = dur
    table[r, COL.pages_sent] = sent
    table[r, COL.pages_skipped] = skipped
    table[r, COL.pages_dirtied] = dirtied
    table[r, COL.bytes_sent] = nbytes
    table[r, COL.writes] = writes
    table[r, COL.throttle] = throttle
    table[r, COL.stop_copy] = stop_copy
    table[r, COL.cpu_throttle] = cpu_thr
    table[r, COL.guest_lost_s] = lost
    table[r, COL.xbzrle_hits] = hits
    table[r, COL.postcopy] = postcopy
    table[r, COL.rate_Bps] = rate_Bps
    table[r, COL.expected_downtime_s] = exp_dt


# --- one round of each engine --------------------------------------------------------------------

@njit(**NJIT)
def _order_bitmap(n_pages, order, cur, posbm):
    """Mark in ``posbm`` the position in Xen's scan order of every page of ``cur``."""
    for w in range(posbm.shape[0]):
        posbm[w] = np.uint64(0)
    for w in range(cur.shape[0]):
        x = cur[w]
        base = w * 64
        while x:
            low = x & (~x + _U1)
            _setbit(posbm, np.uint64(xen_unpermute(base + _ctz(low), n_pages, order)))
            x = x ^ low


@njit(**_INLINE)
def _next_send(first, permuted, i, w, x, src, n_pages, order):
    """The next page a skip-on round visits: (more, page, i, w, x).

    The bulk pass visits positions ``i = 0 .. n_pages-1``; a later round the set
    bits of ``src`` in order (word ``w``, bits ``x`` still to visit): the pages of
    the synced set in address order, or their positions in Xen's order
    (:func:`_order_bitmap`), mapped back to pages by :func:`xen_permute`.
    """
    if first:
        if i >= n_pages:
            return False, np.uint64(0), i, w, x
        q = i
        i += 1
    else:
        while x == 0:
            w += 1
            if w >= src.shape[0]:
                return False, np.uint64(0), i, w, x
            x = src[w]
        low = x & (~x + _U1)
        q = w * 64 + _ctz(low)
        x = x ^ low
    if permuted:
        q = xen_permute(q, n_pages, order)
    return True, np.uint64(q), i, w, x


@njit(**NJIT)
def _skip_round(first, t0, tau0, seg, rseg, g, rate, gen, wp, ws, pd, proto, cost, clk, buf, wc, out):
    """A live round of the skip-on engine: send the list while applying the writes
    in time order; a page whose bit is set again when its turn comes is skipped.

    Returns (bytes, base-rate seconds, sent, skipped, writes, XBZRLE hits).
    """
    n_pages = wp.n_pages
    nxt = buf.nxt
    permuted = proto.permuted
    src = buf.sendlist if permuted else buf.cur
    if permuted and not first:
        _order_bitmap(n_pages, proto.order, buf.cur, src)
    i = 0
    w = -1
    x = np.uint64(0)
    more, q_send, i, w, x = _next_send(first, permuted, i, w, x, src, n_pages, proto.order)
    uniform = cost.uniform
    n_zero_from = n_pages - proto.n_zero
    thr_t = clk.thr_t
    thr_f = clk.thr_f
    rb = 0.0
    rt = 0.0
    sent = 0
    skipped = 0
    writes = 0
    hits = 0
    # wall time of guest time tau: this segment's linear map, else the general walk
    seg_f = thr_f[seg] * g
    seg_end = thr_t[seg + 1] if seg + 1 < thr_t.shape[0] else np.inf
    p_t = _pending_wall(pd, t0, tau0, seg, g, seg_f, seg_end, clk)
    while True:
        while more:
            if send_end(t0, rb / rate if uniform else rt, rseg, clk) > p_t:
                break
            p = q_send
            more, q_send, i, w, x = _next_send(first, permuted, i, w, x, src, n_pages, proto.order)
            if _testbit(nxt, p):
                skipped += 1
            else:
                sent += 1
                b, tt, hit = _page_cost(p, first, n_zero_from, gen, buf, wc, cost, out)
                rb += b
                rt += tt
                hits += hit
        if not more and p_t > send_end(t0, rb / rate if uniform else rt, rseg, clk):
            break
        q = pd.page[pd.idx[0]]
        _setbit(nxt, q)
        if wc is not None:
            wc[q] += 1
        writes += 1
        _advance(pd, wp, ws)
        p_t = _pending_wall(pd, t0, tau0, seg, g, seg_f, seg_end, clk)
    return rb, (rb / rate if uniform else rt), sent, skipped, writes, hits


@njit(**_INLINE)
def _pending_wall(pd, t0, tau0, seg, g, seg_f, seg_end, clk):
    """Wall time of the next pending write (inf if none)."""
    if pd.idx[0] >= pd.idx[1]:
        return np.inf
    tau = pd.tau[pd.idx[0]]
    p_t = t0 + (tau - tau0) / seg_f if seg_f > 0.0 else np.inf
    if not p_t <= seg_end:
        p_t = _t_at(tau, t0, tau0, seg, g, clk.thr_t, clk.thr_f)
    return p_t


# --- post-copy and the slowdown aids --------------------------------------------------------------

@njit(**NJIT)
def _postcopy(R, tau, pd, wp, ws, cost, out):
    """The post-copy phase: push the pages of ``R`` in address order while the
    guest runs on the destination; a write to a page not yet there is a demand
    fault.  Times are seconds after the destination resumed; the guest runs at
    full speed from guest time ``tau``, stalled while it waits for a page.
    ``pd`` holds the pending writes.  Fills the ``pc_*`` outputs; returns the
    phase's duration.
    """
    pc_t = cost.pc_t
    extra = cost.pc_extra
    rem = popcount(R)
    out[OUT.pc_pages] = rem
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
        tw = a_t + (_pending_tau(pd) - a_tau)
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
            q = pd.page[pd.idx[0]]
            if np.int64(q) == inflight:
                # the page is already on its way: wait for it
                faults += 1
                stall += push_end - tw
                a_t = push_end
                a_tau = pd.tau[pd.idx[0]]
            elif _testbit(R, q):
                R[q >> _U6] ^= _U1 << (q & _U63)
                rem -= 1
                faults += 1
                lat = extra + pc_t
                stall += lat
                a_t = tw + lat
                a_tau = pd.tau[pd.idx[0]]
                push_end = push_end + pc_t
                if a_t > t_end:
                    t_end = a_t
            _advance(pd, wp, ws)
    out[OUT.pc_dur] = t_end
    out[OUT.pc_faults] = faults
    out[OUT.pc_stall] = stall
    out[OUT.pc_pushed] = pushed
    out[OUT.pc_writes] = writes
    out[OUT.pc_bytes] = out[OUT.pc_pages] * cost.pc_b
    return t_end


#: state of the slowdown aids between syncs (a float array, these positions)
AID_STATE = ("cnt", "t_last", "dirty", "xfer", "p", "dl_on", "max_thr")
AST = _index("AidState", AID_STATE)
N_AST = len(AID_STATE)


@njit(**NJIT)
def _aid_sync(aid, ast, g, t, dirtied, rbytes, writes, tau0, tau1, dur, page_bytes, t_full):
    """What a slowdown aid does at a bitmap sync; returns the new guest-speed factor.

    SDPS matches the dirty rate to ``target_ratio`` x the transmit rate at every
    sync.  Auto-converge and dirty-limit share QEMU's trigger: at a sync more
    than ``check_interval_s`` after the last check, bytes dirtied since then >
    ``trigger`` x bytes sent counts once; the second count fires (and resets).
    Auto-converge then raises its throttle; dirty-limit switches on and, from
    then on, holds the measured write rate at its quota.  ``ast`` holds the state.
    """
    if aid.mode == AID_SDPS:
        if dirtied > 0 and dur > 0.0:
            gn = g * aid.sdps_ratio * (page_bytes / t_full) / (dirtied * page_bytes / dur)
            g = gn if gn < 1.0 else 1.0
    else:
        ast[AST.dirty] += dirtied
        ast[AST.xfer] += rbytes
        if t > ast[AST.t_last] + aid.interval:
            d_bytes = ast[AST.dirty] * page_bytes
            thr_bytes = ast[AST.xfer] * aid.trigger
            if d_bytes > thr_bytes:
                ast[AST.cnt] += 1.0
                if ast[AST.cnt] >= 2.0:
                    ast[AST.cnt] = 0.0
                    if aid.mode == AID_AUTOCONVERGE:
                        p = ast[AST.p]
                        if p == 0.0:
                            p = aid.initial
                        else:
                            inc = aid.increment
                            if aid.tailslow:
                                cpu_now = 1.0 - p
                                ideal = cpu_now - cpu_now * (thr_bytes / d_bytes)
                                if ideal < inc:
                                    inc = ideal
                            p = p + inc
                            if p > aid.max:
                                p = aid.max
                        ast[AST.p] = p
                        g = 1.0 - p
                    else:
                        ast[AST.dl_on] = 1.0
            ast[AST.t_last] = t
            ast[AST.dirty] = 0.0
            ast[AST.xfer] = 0.0
        if ast[AST.dl_on] > 0.0 and writes > 0 and tau1 > tau0:
            natural = writes / (tau1 - tau0)
            current = natural * g
            if abs(current - aid.dl_cap) > aid.dl_tol:
                gn = aid.dl_cap / natural
                g = gn if gn < 1.0 else 1.0
    if 1.0 - g > ast[AST.max_thr]:
        ast[AST.max_thr] = 1.0 - g
    return g


# --- the driver ----------------------------------------------------------------------------------

@njit(**NJIT)
def simulate_kernel(wp, ws, proto, rule, aid, cost, clk, buf, wc, table, out):
    """Run one migration.  Returns the number of table rows, -1 if ``table`` is
    too small (the caller grows it and runs again: the run is deterministic), or
    ``STOPPED`` if the caller set ``ws.stop``.

    ``wp`` the compiled write process, ``ws`` its state (:func:`new_write_state`),
    ``proto`` the round protocol, ``rule`` the stop rule, ``aid`` the slowdown
    aid, ``cost`` per-page costs, ``clk`` the throttle and rate schedules, ``buf``
    the zeroed work arrays; XBZRLE is on when ``wc`` (zeroed per-page write
    counts) is an array.  ``out`` (zeroed, ``OUT`` fields) gets the totals.
    """
    cap = table.shape[0]
    n_pages = wp.n_pages
    page_bytes = cost.page
    # Clark et al.'s adaptive rate (needs uniform costs): the bulk pass at the
    # minimum, then the last round's dirtying rate + an increment
    rate = cost.rate
    if proto.ar_on and proto.ar_min < rate:
        rate = proto.ar_min
    t = 0.0
    tau = 0.0
    seg = 0
    rseg = 0
    g = 1.0
    rows = 0
    total_bytes = 0.0
    total_pages = 0
    reason = R_RUNNING
    ast = np.zeros(N_AST, np.float64)   # slowdown-aid state (see _aid_sync)
    prog = np.array([float(n_pages), 0.0])   # progress tracker of the stop rule
    dirty = n_pages    # the bulk pass: every page is to be sent
    prev_dirty = n_pages
    first = True
    # QEMU's cadence: the bitmap holds every page still to send (all of them at
    # setup); ``pos`` is where the pass stands, ``bulk`` until it first wraps
    thr_mode = proto.threshold
    pos = 0
    bulk = True
    if thr_mode:
        _fill_ones(buf.cur, n_pages)
    out[OUT.syncs] = 1.0     # the setup sync
    pd = new_pending(WRITE_BATCH if proto.skip else 1)
    if proto.skip:
        _refill(pd, wp, ws)
    if proto.check_first and downtime_ok(rule, 0.0, dirty * page_bytes,
                                         _decision(proto, clk, 0.0)):
        reason = R_DOWNTIME
        if thr_mode:     # the estimate fit the threshold: QEMU syncs, then stops
            out[OUT.syncs] += 1.0
    while reason == R_RUNNING:
        if rows >= cap:
            return -1
        if ws.stop[0] != 0:
            return STOPPED
        # ---- one live round over the synced set -----------------------------------
        t0 = t
        tau0 = tau
        seg = segment(t0, seg, clk.thr_t)
        rseg = segment(t0, rseg, clk.rate_t)
        throttle_now = clk.thr_f[seg] * g
        if proto.skip:
            rbytes, sig, sent, skipped, writes, hits = _skip_round(
                first, t0, tau0, seg, rseg, g, rate, rows + 1, wp, ws, pd, proto, cost, clk, buf, wc, out)
        elif thr_mode:
            sent = _round_pages(dirty, _threshold_bytes(proto, rule, clk, t0), page_bytes, proto.chunk)
            rbytes, sig, hits, pos, bulk = _send_from(buf.cur, pos, bulk, sent, n_pages, proto.n_zero, rows + 1,
                                                      buf, wc, cost, out)
            if cost.uniform:
                sig = rbytes / rate
            skipped = 0
        else:
            rbytes, sig, hits = _price_set(first, False, dirty, n_pages, proto.n_zero, rows + 1, buf, wc, cost, out)
            if cost.uniform:
                sig = rbytes / rate
            sent = dirty
            skipped = 0
        t1 = send_end(t0, sig, rseg, clk)
        dur = sig / clk.rate_f[0] if clk.rate_t.shape[0] == 1 else t1 - t0
        tau1 = _tau_at(t1, t0, tau0, seg, g, clk.thr_t, clk.thr_f)
        if not proto.skip:
            writes = _apply_until(tau1, wp, ws, buf.nxt, wc, proto, buf.occ)
            if writes < 0:
                return STOPPED
        # ---- sync: the log becomes the next set (threshold: is ORed into it) -----
        if thr_mode:
            dirtied, pending = _or_clear(buf)
        else:
            dirtied = popcount(buf.nxt)
            _swap_clear(buf)
            pending = dirtied
        out[OUT.syncs] += 1.0
        dec = _decision(proto, clk, t1)
        t = t1
        tau = tau1
        total_bytes += rbytes
        total_pages += sent
        lost = 0.0
        if aid.mode != AID_NONE:
            lost = (1.0 - g) * _tau_at(t1, t0, 0.0, seg, 1.0, clk.thr_t, clk.thr_f)
            out[OUT.lost] += lost
        _row(table, rows, t0, dur, sent, skipped, dirtied, rbytes, writes, throttle_now, 0.0, 1.0 - g, lost,
             hits, 0.0, rate * clk.rate_f[rseg], pending * page_bytes / dec)
        rows += 1
        first = False
        prev_dirty = dirty
        dirty = pending
        next_rate = 0.0
        if proto.ar_on:
            next_rate = dirtied * page_bytes / dur + proto.ar_inc if dur > 0.0 else np.inf
        reason = stop_rule(rule, prog, t, dirty, page_bytes, dec, sent + skipped, rows,
                           total_pages, prev_dirty, next_rate)
        if reason == R_RUNNING:
            if proto.ar_on:
                rate = next_rate if next_rate > proto.ar_min else proto.ar_min
                if rate > cost.rate:
                    rate = cost.rate
            if aid.mode != AID_NONE:   # guest-slowdown aids act at the sync
                g = _aid_sync(aid, ast, g, t, dirtied, rbytes, writes, tau0, tau1, dur, page_bytes, cost.t_full)
    out[OUT.max_thr] = ast[AST.max_thr]
    out[OUT.t_stop] = t
    out[OUT.reason] = reason
    if reason == R_POSTCOPY:    # ---- the VM resumes on the destination ----------------------
        if rows >= cap:
            return -1
        if not proto.skip:
            pd = new_pending(WRITE_BATCH)
            _refill(pd, wp, ws)
        out[OUT.syncs] += 1.0     # the sync that starts post-copy
        pc_dur = _postcopy(buf.cur, tau, pd, wp, ws, cost, out)
        if ws.stop[0] != 0:
            return STOPPED
        # the caller adds the switchover blackout to the start
        _row(table, rows, t, pc_dur, dirty, 0, 0, out[OUT.pc_bytes], out[OUT.pc_writes], 1.0, 0.0, 0.0,
             out[OUT.pc_stall], 0, 1.0, cost.frate, 0.0)
        rows += 1
        out[OUT.total_bytes] = total_bytes + out[OUT.pc_bytes]
        out[OUT.total_pages] = total_pages + dirty
        out[OUT.live_rounds] = rows - 1
    elif reason == R_ABORTED:   # ---- the VM stays on the source --------------------------------
        out[OUT.total_bytes] = total_bytes
        out[OUT.total_pages] = total_pages
        out[OUT.live_rounds] = rows
    else:                       # ---- stop-and-copy: the VM is paused, no writes ---------------
        if thr_mode:
            fbytes, ftime, fhits = _price_final_threshold(buf.cur, pos, bulk, n_pages, proto.n_zero, rows + 1, buf,
                                                          wc, cost, out)
        else:
            fbytes, ftime, fhits = _price_set(first, True, dirty, n_pages, proto.n_zero, rows + 1, buf, wc, cost,
                                              out)
        out[OUT.syncs] += 1.0     # the completion sync, inside the downtime
        if dirty > 0:
            if rows >= cap:
                return -1
            _row(table, rows, t, ftime, dirty, 0, 0, fbytes, 0, 0.0, 1.0, 0.0, 0.0, fhits, 0.0, cost.frate, 0.0)
            rows += 1
        out[OUT.final_pages] = dirty
        out[OUT.final_bytes] = fbytes
        out[OUT.final_time] = ftime
        out[OUT.total_bytes] = total_bytes + fbytes
        out[OUT.total_pages] = total_pages + dirty
        out[OUT.live_rounds] = rows - (1 if dirty > 0 else 0)
    return rows


@njit(**_INLINE)
def _decision(proto, clk, t):
    """Decision bandwidth (bytes/s) at wall time ``t``."""
    if proto.decision_follows_rate:
        return proto.decision_Bps * step_value(clk.rate_t, clk.rate_f, t)
    return proto.decision_Bps


@njit(**_INLINE)
def _swap_clear(buf):
    """The dirty log becomes the synced set; the log starts empty."""
    cur = buf.cur
    nxt = buf.nxt
    for w in range(cur.shape[0]):
        cur[w] = nxt[w]
        nxt[w] = np.uint64(0)


# --- QEMU's sync cadence (Protocol.threshold) -----------------------------------------------------

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(**_INLINE)
def _popcount64(x):
    """Set bits of one word (SWAR)."""
    x = x - ((x >> _U1) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(**_INLINE)
def _highbit(x):
    """Index of the highest set bit of a non-zero word."""
    h = 0
    for sh in (32, 16, 8, 4, 2, 1):
        if x >> np.uint64(sh):
            x = x >> np.uint64(sh)
            h += sh
    return h


@njit(**NJIT)
def _fill_ones(bm, n_pages):
    """Set the bits of pages 0 .. n_pages-1 (QEMU's bitmap at setup)."""
    for w in range(bm.shape[0]):
        bm[w] = _ALL
    r = n_pages & 63
    if r:
        bm[bm.shape[0] - 1] = (_U1 << np.uint64(r)) - _U1


@njit(**NJIT)
def _clear_range(bm, a, b):
    """Clear the bits of pages ``a .. b-1``."""
    while a < b:
        lo = a & 63
        nb = 64 - lo
        if nb > b - a:
            nb = b - a
        if nb == 64:
            mask = _ALL
        else:
            mask = ((_U1 << np.uint64(nb)) - _U1) << np.uint64(lo)
        bm[a >> 6] &= ~mask
        a += nb


@njit(**_INLINE)
def _or_clear(buf):
    """The sync of QEMU's cadence: OR the dirty log into the bitmap (the unsent
    rest of the pass stays set) and clear the log.  Returns (pages in the log,
    pages now set)."""
    cur = buf.cur
    nxt = buf.nxt
    logged = 0
    pending = 0
    for w in range(cur.shape[0]):
        x = nxt[w]
        if x:
            logged += _popcount64(x)
            cur[w] = cur[w] | x
            nxt[w] = np.uint64(0)
        if cur[w]:
            pending += _popcount64(cur[w])
    return logged, pending


@njit(**_INLINE)
def _threshold_bytes(proto, rule, clk, t):
    """QEMU's ``threshold_size`` at wall time ``t``: decision bandwidth x the
    downtime limit in force (0 without a downtime rule)."""
    if not rule.has_dl:
        return 0.0
    return _decision(proto, clk, t) * step_value(rule.dl_t, rule.dl_s, t)


@njit(**_INLINE)
def _round_pages(dirty, thr, page_bytes, chunk):
    """Pages a round of QEMU's cadence sends: the fewest whole chunks of ``chunk``
    pages (at least one), or all ``dirty`` pages, after which the pages still set
    fit the threshold, ``(dirty - k) x page <= thr``."""
    m = np.floor(thr / page_bytes)
    if m >= dirty:
        k = np.int64(1)
    else:
        k = np.int64(dirty - np.int64(m))
        if k < 1:
            k = np.int64(1)
        while k > 1 and (dirty - (k - 1)) * page_bytes <= thr:
            k -= 1
        while k < dirty and (dirty - k) * page_bytes > thr:
            k += 1
    if chunk > 1:
        k = ((k + chunk - 1) // chunk) * chunk
        if k > dirty:
            k = np.int64(dirty)
    return k


@njit(**NJIT)
def _send_from(cur, pos, bulk, k, n_pages, n_zero, gen, buf, wc, cost, out):
    """Send the next ``k`` pages set in ``cur`` from position ``pos`` in address
    order, wrapping to page 0 at the end of memory, and clear their bits.

    Until the pass first wraps (``bulk``) the pages from ``pos`` on were never
    sent: they go as the bulk pass does (zero pages header-only).  Other pages go
    in full, or through XBZRLE when ``wc`` is an array.  Returns (bytes, seconds
    at the pre-copy rate, XBZRLE hits, new position, new bulk flag); books the
    page counts in ``out``.
    """
    rb = 0.0
    rt = 0.0
    hits = 0
    nfull = 0
    left = k
    nw = cur.shape[0]
    zstart = n_pages - n_zero
    empty_walks = 0
    while left > 0:
        if pos >= n_pages:
            pos = 0
            bulk = False
        if bulk:
            m = n_pages - pos
            if m > left:
                m = left
            b = pos + m
            lo = pos if pos > zstart else zstart
            nz = b - lo if b > lo else 0
            nf = m - nz
            rb += nf * cost.b_bulk + nz * cost.b_zero
            rt += nf * cost.t_bulk + nz * cost.t_zero
            out[OUT.n_bulk_full] += nf
            out[OUT.n_bulk_zero] += nz
            if wc is not None:
                for p in range(pos, b):
                    wc[p] = 0
            _clear_range(cur, pos, b)
            pos = b
            left -= m
            continue
        found = False
        w = pos >> 6
        if w < nw:
            x = cur[w] & (_ALL << np.uint64(pos & 63))
            while left > 0:
                if x == 0:
                    w += 1
                    if w >= nw:
                        break
                    x = cur[w]
                    continue
                found = True
                if wc is None:
                    c = _popcount64(x)
                    if c <= left:
                        cur[w] &= ~x
                        nfull += c
                        left -= c
                        pos = w * 64 + _highbit(x) + 1
                        x = np.uint64(0)
                        continue
                low = x & (~x + _U1)
                p = w * 64 + _ctz(low)
                x = x ^ low
                cur[w] = cur[w] ^ low
                pos = p + 1
                left -= 1
                if wc is None:
                    nfull += 1
                else:
                    bx, tt, kind = _xb_send(np.int64(p), gen, False, False, buf, wc, cost)
                    rb += bx
                    rt += tt
                    hit = _xb_tally(kind, bx, cost, out)
                    hits += hit
                    out[OUT.n_full] += 1 - hit
        if left > 0:
            pos = n_pages      # the end of memory: wrap
            if not found:
                empty_walks += 1
                if empty_walks > 1:   # cannot happen (k <= pages set); never loop
                    break
    if nfull > 0:
        rb += nfull * cost.b_full
        rt += nfull * cost.t_full
        out[OUT.n_full] += nfull
    return rb, rt, hits, pos, bulk


@njit(**NJIT)
def _price_final_threshold(cur, pos, bulk, n_pages, n_zero, gen, buf, wc, cost, out):
    """(bytes, seconds, XBZRLE hits) of the stop-and-copy of QEMU's cadence: the
    never-sent rest of the first pass as the bulk pass sends it (zero pages
    header-only), then every other page set, in full or through XBZRLE, at the
    final rate.  Clears the rest's bits; books the counts in ``out``."""
    rb = 0.0
    rt = 0.0
    hits = 0
    if bulk and pos < n_pages:
        m = n_pages - pos
        zstart = n_pages - n_zero
        lo = pos if pos > zstart else zstart
        nz = n_pages - lo
        nf = m - nz
        rb += nf * cost.b_bulk + nz * cost.b_zero
        rt += nf * cost.tf_bulk + nz * cost.tf_zero
        out[OUT.n_bulk_full] += nf
        out[OUT.n_bulk_zero] += nz
        _clear_range(cur, pos, n_pages)
    if wc is not None:
        xb, xt, hits, nf = _xb_round(cur, gen, True, True, buf, wc, cost, out)
        rb += xb
        rt += xt
        out[OUT.n_full] += nf
    else:
        rest = popcount(cur)
        if rest > 0:
            rb += rest * cost.b_full
            rt += rest * cost.tf_full
            out[OUT.n_full] += rest
    if cost.uniform:
        rt = rb / cost.frate
    return rb, rt, hits


@njit(**NJIT)
def record_writes(duration, wp, seed, out_t, out_p):
    """Emit the write stream of a workload up to guest time ``duration`` (exclusive)
    into ``out_t``/``out_p``; returns the count, or -1 if the buffers are too small."""
    ws = WriteState(np.zeros(2, np.int64), np.zeros(2, np.float64), np.full(1, np.uint64(seed), np.uint64),
                    np.zeros(1, np.int64))
    pd = new_pending(WRITE_BATCH)
    k = 0
    while True:
        bn = _fill_writes(pd, wp, ws)
        for i in range(bn):
            if pd.tau[i] >= duration:
                return k
            if k >= out_t.shape[0]:
                return -1
            out_t[k] = pd.tau[i]
            out_p[k] = np.int64(pd.page[i])
            k += 1
        if bn < WRITE_BATCH:
            return k


# --- Storage VMotion's I/O mirroring (one pass) --------------------------------
#: scalar outputs of mirror_kernel
MIRROR_FIELDS = ("time", "writes", "mirrored", "reason", "copied", "stall", "lat_sum", "lat_max")
MOUT = _index("MirrorOut", MIRROR_FIELDS)
N_MIRROR = len(MIRROR_FIELDS)


class MirrorPath(NamedTuple):
    """The mirror's path: seconds per block, extra latency of a mirrored write,
    writes in flight before the guest waits (0: no limit), the time limit."""

    t_block: float
    lat_extra: float
    io_depth: int
    timeout_s: float


@njit(**NJIT)
def mirror_kernel(wp, ws, path, ring, out):
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
    n_blocks = wp.n_pages
    t_block = path.t_block
    io_depth = path.io_depth
    timeout_s = path.timeout_s
    pd = new_pending(WRITE_BATCH)
    _refill(pd, wp, ws)
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
        tw = a_t + (_pending_tau(pd) - a_tau)
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
            if np.int64(pd.page[pd.idx[0]]) <= cur:
                while cnt > 0 and ring[head] <= tw:
                    head += 1
                    if head == io_depth:
                        head = 0
                    cnt -= 1
                if io_depth > 0 and cnt == io_depth:
                    # every slot busy: the guest waits for the oldest mirrored write
                    stall += ring[head] - tw
                    a_t = ring[head]
                    a_tau = pd.tau[pd.idx[0]]
                    continue
                start = tw if tw > srv else srv
                srv = start + t_block
                done = srv + path.lat_extra
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
            _advance(pd, wp, ws)
    out[MOUT.time] = t
    out[MOUT.writes] = writes
    out[MOUT.mirrored] = mirrored
    out[MOUT.reason] = reason
    out[MOUT.copied] = copied
    out[MOUT.stall] = stall
    out[MOUT.lat_sum] = lat_sum
    out[MOUT.lat_max] = lat_max
    return copied
