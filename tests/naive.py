"""Slow, obviously correct twins of the compiled kernels.

Plain Python: a set of dirty pages instead of a bitmap, a list for the send
order, Python integers for the random stream.  Each function consumes the same
splitmix64 stream in the same order as :mod:`precopy._kernel`, so on small VMs
the two agree exactly.

The twins are split like the kernels they check: the write stream and clocks
(:mod:`naive_writes`), the stop rule's reasons and run-time controls
(:mod:`naive_rules`), the page-level migration (here), storage's mirror
(:mod:`naive_storage`) and the analytic saturation loop (:mod:`naive_models`);
every name stays importable from here.
"""

from __future__ import annotations

import math

from naive_models import saturation  # noqa: F401
from naive_rules import (ABORTED, ACTION, FORCED, MAX_RATE, POSTCOPY, REASONS, Controls, at,  # noqa: F401
                         is_converged, outcome, send_time)
from naive_storage import mirror  # noqa: F401
from naive_writes import (GOLD, KIND_ALIAS, KIND_HOTCOLD, KIND_IDLE, KIND_SEQUENTIAL, KIND_TRACE, KIND_ZIPF,  # noqa: F401,E501
                          MASK, MAX_IDLE_LAPS, Clock, Writer, splitmix64, xen_permute)


class XBCache:
    """QEMU's XBZRLE page cache (direct-mapped, CACHED_PAGE_LIFETIME 2) and the
    per-page write counts of the delta model."""

    def __init__(self, xb, page_bytes, header_bytes, costs):
        self.nslots = xb.cache_bytes // page_bytes
        self.addr = [-1] * self.nslots
        self.age = [0] * self.nslots
        self.wc = {}
        self.xb = xb
        self.P = float(page_bytes)
        self.hdr = float(header_bytes) + 3.0
        self.per_write = float(xb.bytes_per_write + xb.run_overhead_bytes)
        self.fixed = -1.0 if xb.delta_fraction is None else xb.delta_fraction * float(page_bytes)
        self.cpu_t = 0.0 if xb.encode_Bps is None else float(page_bytes) / xb.encode_Bps
        self.costs = costs
        self.hits = self.misses = self.overflows = 0
        self.saved = 0.0

    def write(self, p):
        self.wc[p] = self.wc.get(p, 0) + 1

    def send(self, p, gen, last, final):
        """(bytes, seconds, outcome) of re-sending page p."""
        c = self.costs
        slot = p % self.nslots
        k = self.wc.pop(p, 0)
        if self.addr[slot] == p:
            self.age[slot] = gen
            enc = self.fixed if self.fixed >= 0.0 else k * self.per_write
            if enc == 0.0:
                return 0.0, 0.0, "same"
            if enc > self.P:
                return c["b_full"], (c["tf_full"] if final else c["t_full"]), "overflow"
            b = self.hdr + enc
            tt = b / (c["frate"] if final else c["rate"])
            tt = max(tt, self.cpu_t)
            return b, tt, "hit"
        if not last and (self.addr[slot] < 0 or self.age[slot] + 2 <= gen):
            self.addr[slot], self.age[slot] = p, gen
        return c["b_full"], (c["tf_full"] if final else c["t_full"]), "miss"

    def count(self, b, kind):
        """Book an outcome; returns 1 for a delta-encoded page."""
        if kind == "miss":
            self.misses += 1
        elif kind == "overflow":
            self.overflows += 1
        else:
            self.hits += 1
            self.saved += self.costs["b_full"] - b
            return 1
        return 0


def costs(vm, link, policy, aids):
    """Per-page bytes and seconds by page class, from first principles."""
    from precopy import aids as A
    P, H = float(vm.page_bytes), float(policy.header_bytes)
    rate_bps = link.goodput_bps if policy.max_bandwidth_bps is None else min(link.goodput_bps, policy.max_bandwidth_bps)
    if policy.controls is not None and policy.controls.rate_schedule is not None:
        rate_bps = min(link.goodput_bps, policy.controls.rate_schedule[0][1])
    frate_bps = link.goodput_bps if policy.final_bandwidth_bps is None else min(link.goodput_bps,
                                                                                 policy.final_bandwidth_bps)
    rate, frate = rate_bps / 8.0, frate_bps / 8.0
    comp, xb = A.find(aids, A.Compression), A.find(aids, A.XBZRLE)
    c = dict(rate=rate, frate=frate, rate_bps=rate_bps, b_zero=H, t_zero=H / rate, tf_zero=H / frate)
    plain = P + H

    def ctime(b, r):
        t = b / r
        n = link.streams if comp.threads is None else comp.threads
        if comp.cpu_Bps is not None:
            t = max(t, vm.page_bytes / (n * comp.cpu_Bps))
        if comp.decompress_cpu_Bps is not None:
            nd = n if comp.decompress_threads is None else comp.decompress_threads
            t = max(t, vm.page_bytes / (nd * comp.decompress_cpu_Bps))
        return t

    if comp is None:
        c.update(b_bulk=plain, t_bulk=plain / rate, tf_bulk=plain / frate,
                 b_full=plain, t_full=plain / rate, tf_full=plain / frate)
    else:
        bc = H + P / comp.ratio
        c.update(b_bulk=bc, t_bulk=ctime(bc, rate), tf_bulk=ctime(bc, frate))
        if xb is None:
            c.update(b_full=bc, t_full=c["t_bulk"], tf_full=c["tf_bulk"])
        else:
            c.update(b_full=plain, t_full=plain / rate, tf_full=plain / frate)
    # every class's time is its bytes / rate unless a CPU ceiling says otherwise: then times are
    # computed as bytes / rate, as without aids
    c["uniform"] = comp is None and (xb is None or xb.encode_Bps is None)
    pc = A.find(aids, A.PostCopy)
    c.update(pc_b=plain, pc_t=plain / frate, pc_extra=link.rtt_s + (pc.fault_overhead_s if pc else 0.0))
    if policy.switchover_bandwidth_bps is not None:
        c["decision"] = policy.switchover_bandwidth_bps / 8.0
    elif comp is not None:
        c["decision"] = (8.0 * c["b_full"] / c["t_full"]) / 8.0
    else:
        c["decision"] = rate_bps / 8.0
    return c


def postcopy(R, tau, pending, writer, c):
    """Pure-Python post-copy phase: returns (duration, faults, stall, pushed, writes)."""
    R = set(R)
    order = sorted(R)
    idx = 0
    faults = pushed = writes = 0
    stall = t_end = 0.0
    a_t, a_tau = 0.0, tau
    p_tau, p_page = pending

    def pop():
        nonlocal idx
        while order[idx] not in R:
            idx += 1
        R.remove(order[idx])
        return order[idx]

    inflight, push_end = -1, 0.0
    if R:
        inflight, push_end = pop(), c["pc_t"]
    while inflight >= 0:
        tw = a_t + (p_tau - a_tau) if p_tau < math.inf else math.inf
        if push_end <= tw:
            pushed += 1
            t_end = max(t_end, push_end)
            if R:
                inflight = pop()
                push_end = push_end + c["pc_t"]
            else:
                inflight = -1
        else:
            writes += 1
            if p_page == inflight:
                faults += 1
                stall += push_end - tw
                a_t, a_tau = push_end, p_tau
            elif p_page in R:
                R.remove(p_page)
                faults += 1
                lat = c["pc_extra"] + c["pc_t"]
                stall += lat
                a_t, a_tau = tw + lat, p_tau
                push_end = push_end + c["pc_t"]
                t_end = max(t_end, a_t)
            p_tau, p_page = writer.next_write()
    return t_end, faults, stall, pushed, writes


def simulate(vm, workload, link, policy, seed=0, throttle=None, switchover=None, aids=None, cost_override=None):
    """Pure-Python pre-copy simulation with the kernel's semantics, aids included.

    ``cost_override`` replaces entries of :func:`costs` (the snapshot strategy
    prices a block as a copy plus a commit).  Returns a dict with the summary
    fields and a list of round dicts.
    """
    from precopy import aids as A
    from precopy.simulate import _check_throttle
    from precopy.vm import Switchover

    aids = A.check_aids(aids)
    ac, dl, sd = A.find(aids, A.AutoConverge), A.find(aids, A.DirtyLimit), A.find(aids, A.SDPS)
    xbz, pcy = A.find(aids, A.XBZRLE), A.find(aids, A.PostCopy)
    trig = ac or dl
    slow = ac or dl or sd
    sw = switchover or Switchover()
    c = workload.compile(vm, seed=seed)
    cost = costs(vm, link, policy, aids)
    cost.update(cost_override or {})
    n, P = vm.n_pages, float(vm.page_bytes)
    nzero = vm.n_zero_pages
    decision = cost["decision"]
    rate, uniform = cost["rate"], cost["uniform"]
    ar = policy.adaptive_rate          # Clark et al.'s per-round rate (bytes/s below)
    if ar is not None:
        rate = min(ar.min_bps / 8.0, cost["rate"])
    min_dirty = max(policy.min_dirty_pages, math.ceil(policy.min_dirty_bytes / vm.page_bytes))
    limit = policy.downtime_limit_s
    max_data = -1 if policy.max_data_factor is None else math.floor(policy.max_data_factor * n)
    clock = Clock(*_check_throttle(throttle))
    ctl = Controls(policy, link.goodput_bps)
    sender = ctl.sender()
    follows = policy.switchover_bandwidth_bps is None
    writer = Writer(c, n, seed)
    xb = XBCache(xbz, vm.page_bytes, policy.header_bytes, cost) if xbz else None
    order = [xen_permute(i, n) for i in range(n)] if policy.send_order == "permuted" else list(range(n))

    t = tau = 0.0
    g = 1.0
    rounds = []
    dirty_set = set(range(n))
    first = True
    reason = 0
    total_bytes, total_pages = 0.0, 0
    n_bulk_full = n_full = 0
    ac_cnt, ac_t_last, ac_dirty, ac_xfer, ac_p, dl_on = 0, 0.0, 0, 0.0, 0.0, False
    total_lost = max_thr = 0.0
    if dl:
        dl_cap = dl.vcpus * dl.vcpu_dirty_limit_Bps / vm.page_bytes
        dl_tol = dl.vcpus * dl.tolerance_Bps / vm.page_bytes
    pending = writer.next_write() if policy.page_skip else None
    # QEMU's cadence: a round ends when the pages still set fit the threshold,
    # checked every `chunk` pages; the pass goes on from `pos`
    thr_mode = policy.sync_cadence == "threshold"
    pos = 0
    never_sent = set(range(n))
    chunk_bytes = link.goodput_bps / 8.0 * 0.05                    # QEMU's MAX_WAIT
    if cost["rate_bps"] < link.goodput_bps:                        # capped: one 100 ms window
        chunk_bytes = min(chunk_bytes, cost["rate_bps"] / 8.0 * 0.1)
    chunk = max(1, int(chunk_bytes // (vm.page_bytes + policy.header_bytes)))
    syncs = 1
    limit = ctl.limit(policy, 0.0)
    if policy.check_before_first_round and limit is not None and n * P < decision * (ctl.rate_factor(0.0) if follows else 1.0) * limit:
        reason = 1
        syncs += 1 if thr_mode else 0
    while reason == 0:
        t0, tau0 = t, tau
        f0 = ctl.rate_factor(t0)
        throttle_now = clock.f[clock.seg(t0)] * g
        gen = len(rounds) + 1
        log = set()
        hits = 0
        pending0 = len(dirty_set)
        if thr_mode:
            lim0 = ctl.limit(policy, t0)
            thr = 0.0 if lim0 is None else decision * (ctl.rate_factor(t0) if follows else 1.0) * lim0
            sent_pages = []
            while True:
                if pos >= n:
                    pos = 0
                if pos not in dirty_set:
                    pos += 1
                    continue
                dirty_set.remove(pos)
                sent_pages.append(pos)
                pos += 1
                if (len(sent_pages) % chunk == 0 or not dirty_set) and len(dirty_set) * P <= thr:
                    break
            rbytes = dur = 0.0
            nf = nz = nfull = 0
            fresh = [p for p in sent_pages if p in never_sent]      # never sent: as the bulk pass
            for p in fresh:
                never_sent.remove(p)
                nz += p >= n - nzero
                nf += p < n - nzero
                if xb:
                    xb.wc.pop(p, None)
            if nf + nz:
                rbytes += nf * cost["b_bulk"] + nz * cost["b_zero"]
                dur += nf * cost["t_bulk"] + nz * cost["t_zero"]
                n_bulk_full += nf
            for p in sent_pages:
                if p in fresh:
                    continue
                if xb:
                    b, tt, kind = xb.send(p, gen, False, False)
                    rbytes += b
                    dur += tt
                    hits += xb.count(b, kind)
                    n_full += kind in ("miss", "overflow")
                else:
                    nfull += 1
            if nfull:
                rbytes += nfull * cost["b_full"]
                dur += nfull * cost["t_full"]
                n_full += nfull
            sig = rbytes / rate if uniform else dur
            sent, skipped = len(sent_pages), 0
            t1 = send_time(sender, t0, sig)
            dur = sig / sender.f[0] if len(sender.f) == 1 else t1 - t0
            tau1 = clock.tau_at(t1, t0, tau0, g)
            pages = writer.writes_until(tau1)
            log.update(pages)
            if xb:
                for p in pages:
                    xb.write(p)
            writes = len(pages)
        elif not policy.page_skip:
            if first:
                rbytes = (n - nzero) * cost["b_bulk"] + nzero * cost["b_zero"]
                dur = (n - nzero) * cost["t_bulk"] + nzero * cost["t_zero"]
                n_bulk_full += n - nzero
            elif xb:
                rbytes = dur = 0.0
                for p in sorted(dirty_set):
                    b, tt, kind = xb.send(p, gen, False, False)
                    rbytes += b
                    dur += tt
                    hits += xb.count(b, kind)
                    n_full += kind in ("miss", "overflow")
            else:
                rbytes = len(dirty_set) * cost["b_full"]
                dur = len(dirty_set) * cost["t_full"]
                n_full += len(dirty_set)
            sig = rbytes / rate if uniform else dur
            sent, skipped = len(dirty_set), 0
            t1 = send_time(sender, t0, sig)
            dur = sig / sender.f[0] if len(sender.f) == 1 else t1 - t0
            tau1 = clock.tau_at(t1, t0, tau0, g)
            pages = writer.writes_until(tau1)
            log.update(pages)
            if xb:
                for p in pages:
                    xb.write(p)
            writes = len(pages)
        else:
            todo = [p for p in order if p in dirty_set]
            pos, rb, rt, sent, skipped, writes = 0, 0.0, 0.0, 0, 0, 0
            p_tau, p_page = pending
            p_t = clock.t_at(p_tau, t0, tau0, g)
            while True:
                while pos < len(todo) and not (send_time(sender, t0, rb / rate if uniform else rt) > p_t):
                    p = todo[pos]
                    pos += 1
                    if p in log:
                        skipped += 1
                        continue
                    sent += 1
                    if first:
                        if p >= n - nzero:
                            rb += cost["b_zero"]
                            rt += cost["t_zero"]
                        else:
                            rb += cost["b_bulk"]
                            rt += cost["t_bulk"]
                            n_bulk_full += 1
                        if xb:
                            xb.wc.pop(p, None)
                    elif xb:
                        b, tt, kind = xb.send(p, gen, False, False)
                        rb += b
                        rt += tt
                        hits += xb.count(b, kind)
                        n_full += kind in ("miss", "overflow")
                    else:
                        rb += cost["b_full"]
                        rt += cost["t_full"]
                        n_full += 1
                if pos >= len(todo) and p_t > send_time(sender, t0, rb / rate if uniform else rt):
                    break
                log.add(p_page)
                if xb:
                    xb.write(p_page)
                writes += 1
                p_tau, p_page = writer.next_write()
                p_t = clock.t_at(p_tau, t0, tau0, g)
            pending = (p_tau, p_page)
            sig = rb / rate if uniform else rt
            rbytes = rb
            t1 = send_time(sender, t0, sig)
            dur = sig / sender.f[0] if len(sender.f) == 1 else t1 - t0
            tau1 = clock.tau_at(t1, t0, tau0, g)
        lost = (1.0 - g) * clock.tau_at(t1, t0, 0.0, 1.0) if slow else 0.0
        total_lost += lost
        # the sync: the log becomes the set (QEMU's cadence: joins the unsent rest)
        d_log = len(log)
        dirty_set = dirty_set | log if thr_mode else log
        d = len(dirty_set)
        syncs += 1
        rounds.append(dict(start_s=t0, duration_s=dur, pages_sent=sent, pages_skipped=skipped,
                           pages_dirtied=d_log, bytes_sent=rbytes, writes=writes,
                           throttle=throttle_now, cpu_throttle=1.0 - g, guest_lost_s=lost, xbzrle_hits=hits,
                           rate_bps=rate * f0 * 8.0, stop_copy=False, postcopy=False,
                           expected_downtime_s=d * P / (decision * (ctl.rate_factor(t1) if follows else 1.0))))
        t, tau = t1, tau1
        total_bytes += rbytes
        total_pages += sent
        prev_dirty = pending0
        first = False
        limit = ctl.limit(policy, t)
        fired = ctl.fired(t, d)
        if d == 0:
            reason = 4
        elif limit is not None and d * P < decision * (ctl.rate_factor(t) if follows else 1.0) * limit:
            reason = 1
        elif min_dirty > 0 and d < min_dirty:
            reason = 2
        elif policy.min_round_pages > 0 and sent + skipped < policy.min_round_pages:
            reason = 3
        elif ar is not None and d_log * P / dur + ar.increment_bps / 8.0 > ar.max_bps / 8.0:
            reason = MAX_RATE
        elif pcy and ((pcy.after_rounds and len(rounds) >= pcy.after_rounds) or
                      (pcy.on_no_progress and len(rounds) >= 2 and
                       (prev_dirty - d) < pcy.min_progress * prev_dirty)):
            reason = POSTCOPY
        elif fired:
            reason = fired
        elif policy.max_rounds > 0 and len(rounds) + 1 >= policy.max_rounds:
            reason = 5
        elif max_data >= 0 and total_pages > max_data:
            reason = 6
        elif t >= policy.timeout_s:
            reason = 7
        if ar is not None and reason == 0:    # next round: the dirtying rate + the increment
            rate = min(max(d_log * P / dur + ar.increment_bps / 8.0, ar.min_bps / 8.0), cost["rate"])
        if slow and reason == 0:
            if sd:
                if d_log > 0 and dur > 0.0:
                    g = min(g * sd.target_ratio * (P / cost["t_full"]) / (d_log * P / dur), 1.0)
            else:
                ac_dirty += d_log
                ac_xfer += rbytes
                if t > ac_t_last + trig.check_interval_s:
                    d_bytes = ac_dirty * P
                    thr_bytes = ac_xfer * trig.trigger
                    if d_bytes > thr_bytes:
                        ac_cnt += 1
                        if ac_cnt >= 2:
                            ac_cnt = 0
                            if ac:
                                if ac_p == 0.0:
                                    ac_p = ac.initial
                                else:
                                    inc = ac.increment
                                    if ac.tailslow:
                                        cpu_now = 1.0 - ac_p
                                        inc = min(cpu_now - cpu_now * (thr_bytes / d_bytes), inc)
                                    ac_p = min(ac_p + inc, ac.max)
                                g = 1.0 - ac_p
                            else:
                                dl_on = True
                    ac_t_last, ac_dirty, ac_xfer = t, 0, 0.0
                if dl_on and writes > 0 and tau1 > tau0:
                    natural = writes / (tau1 - tau0)
                    if abs(natural * g - dl_cap) > dl_tol:
                        g = min(dl_cap / natural, 1.0)
            max_thr = max(max_thr, 1.0 - g)
    d = len(dirty_set)
    final_Bps = cost["frate"]
    announce = sw.announce_s
    out = dict(guest_slowdown_s=total_lost, max_cpu_throttle=max_thr, postcopy_s=0.0, postcopy_pages=0,
               postcopy_faults=0, postcopy_stall_s=0.0)
    if reason == POSTCOPY:
        if not policy.page_skip:
            pending = writer.next_write()
        downtime = 0.0 + sw.device_state_bytes / final_Bps + sw.resume_s + announce
        pc_dur, faults, stall, pushed, pc_writes = postcopy(dirty_set, tau, pending, writer, cost)
        pc_bytes = d * cost["pc_b"]
        rounds.append(dict(start_s=t + downtime, duration_s=pc_dur, pages_sent=d, pages_skipped=0,
                           pages_dirtied=0, bytes_sent=pc_bytes, writes=pc_writes, throttle=1.0,
                           cpu_throttle=0.0, guest_lost_s=stall, xbzrle_hits=0, rate_bps=final_Bps * 8.0,
                           stop_copy=False, postcopy=True, expected_downtime_s=0.0))
        out.update(postcopy_s=pc_dur, postcopy_pages=d, postcopy_faults=faults, postcopy_stall_s=stall,
                   postcopy_pushed=pushed)
        fbytes, final_s, fpages = 0.0, 0.0, 0
        total_bytes += pc_bytes
        total_pages += d
    elif reason == ABORTED:      # the VM stays on the source: no stop-and-copy, no downtime
        fbytes, final_s, fpages, downtime = 0.0, 0.0, 0, 0.0
    else:
        fhits = 0
        if first:
            fbytes = (n - nzero) * cost["b_bulk"] + nzero * cost["b_zero"]
            final_s = (n - nzero) * cost["tf_bulk"] + nzero * cost["tf_zero"]
            n_bulk_full += n - nzero
        elif thr_mode:       # the never-sent rest of the first pass goes as the bulk pass does
            tail = [p for p in sorted(dirty_set) if p in never_sent]
            rest = [p for p in sorted(dirty_set) if p not in never_sent]
            nz = sum(p >= n - nzero for p in tail)
            nf = len(tail) - nz
            fbytes = final_s = 0.0
            if tail:
                fbytes += nf * cost["b_bulk"] + nz * cost["b_zero"]
                final_s += nf * cost["tf_bulk"] + nz * cost["tf_zero"]
                n_bulk_full += nf
            if xb:
                xsum = xt = 0.0
                for p in rest:
                    b, tt, kind = xb.send(p, len(rounds) + 1, True, True)
                    xsum += b
                    xt += tt
                    fhits += xb.count(b, kind)
                    n_full += kind in ("miss", "overflow")
                fbytes += xsum
                final_s += xt
            elif rest:
                fbytes += len(rest) * cost["b_full"]
                final_s += len(rest) * cost["tf_full"]
                n_full += len(rest)
        elif xb:
            fbytes = final_s = 0.0
            for p in sorted(dirty_set):
                b, tt, kind = xb.send(p, len(rounds) + 1, True, True)
                fbytes += b
                final_s += tt
                fhits += xb.count(b, kind)
                n_full += kind in ("miss", "overflow")
        else:
            fbytes = d * cost["b_full"]
            final_s = d * cost["tf_full"]
            n_full += d
        if uniform:
            final_s = fbytes / final_Bps
        if d > 0:
            rounds.append(dict(start_s=t, duration_s=final_s, pages_sent=d, pages_skipped=0, pages_dirtied=0,
                               bytes_sent=fbytes, writes=0, throttle=0.0, cpu_throttle=0.0, guest_lost_s=0.0,
                               xbzrle_hits=fhits, rate_bps=final_Bps * 8.0, stop_copy=True, postcopy=False,
                               expected_downtime_s=0.0))
        fpages = d
        total_bytes += fbytes
        total_pages += d
        downtime = final_s + sw.device_state_bytes / final_Bps + sw.resume_s + announce
    if xb:
        out.update(xbzrle_hits=xb.hits, xbzrle_misses=xb.misses, xbzrle_overflows=xb.overflows,
                   xbzrle_saved_bytes=xb.saved)
    out.update(n_bulk_full=n_bulk_full, n_full=n_full, sync_count=syncs + (0 if reason == ABORTED else 1))
    device = 0 if reason == ABORTED else sw.device_state_bytes
    return dict(total_time_s=t + downtime + out["postcopy_s"], downtime_s=downtime, precopy_time_s=t,
                bytes_sent=total_bytes + device, pages_sent=total_pages,
                n_rounds=len(rounds), converged=is_converged(reason), outcome=outcome(reason),
                stop_reason=REASONS[reason], final_pages=fpages, final_transfer_s=final_s, rounds=rounds, **out)
