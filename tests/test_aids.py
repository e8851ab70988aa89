"""Convergence aids against the plain run: each makes a hopeless QEMU migration
finish, and each reports what it cost."""

import math

import numpy as np
import pytest

import precopy as pc
from precopy import aids as A
from precopy import workloads as W

# A 1 GiB guest rewriting a 256 MiB working set at 50,000 page writes/s (~195 MiB/s)
# against QEMU's default 128 MiB/s max-bandwidth: plain pre-copy never fits 300 ms.
VM = pc.VM(memory_bytes=pc.GiB(1))
BUSY = W.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.9, writes_per_s=50_000)
LINK = pc.Link(rate_bps=pc.Gbps(10))
QEMU = pc.policies.QEMU(timeout_s=120)


def run(aids=None, **kw):
    return pc.simulate(VM, kw.pop("wl", BUSY), kw.pop("link", LINK), kw.pop("policy", QEMU), seed=3,
                       aids=aids, **kw)


@pytest.fixture(scope="module")
def plain():
    return run()


def test_plain_qemu_does_not_converge(plain):
    assert not plain.converged and plain.stop_reason == "timeout"
    assert plain.guest_slowdown_s == 0 and plain.postcopy_s == 0 and plain.aid_costs == {}
    assert np.all(plain.rounds["cpu_throttle"] == 0)


@pytest.mark.parametrize("aid", [A.AutoConverge(), A.DirtyLimit(), A.SDPS()], ids=lambda a: a.label)
def test_slowdown_aids_converge_and_report_their_cost(plain, aid):
    r = run([aid])
    assert r.converged and r.stop_reason == "downtime_limit"
    assert r.total_time_s < plain.total_time_s
    assert r.downtime_s < QEMU.downtime_limit_s + r.resume_s + 1e-12
    assert r.guest_slowdown_s > 0 and 0 < r.max_cpu_throttle < 1
    assert set(r.aid_costs) == {"guest_slowdown_s", "max_cpu_throttle"}
    live = ~r.rounds["stop_copy"]
    # the reported cost is the sum of the per-round costs: duration x slowdown (no throttle schedule)
    lost = r.rounds["duration_s"][live] * r.rounds["cpu_throttle"][live]
    assert r.guest_slowdown_s == pytest.approx(lost.sum(), rel=1e-12)
    assert np.allclose(r.rounds["guest_lost_s"][live], lost, rtol=1e-12, atol=0)
    assert r.rounds["cpu_throttle"][0] == 0          # nothing is known before the first sync
    assert "guest slowdown" in r.summary()


def test_autoconverge_steps_follow_qemu():
    """20 %, then +10 % every second over-threshold check, capped at max."""
    r = run([A.AutoConverge(max=0.45)], policy=QEMU.with_(downtime_limit_s=0.001, timeout_s=60))
    steps = [x for x in dict.fromkeys(np.round(r.rounds["cpu_throttle"][~r.rounds["stop_copy"]], 12))]
    assert steps[:5] == [0.0, 0.2, 0.3, 0.4, 0.45]
    # each level lasts two checks while every round is longer than the 1 s interval
    cpu = r.rounds["cpu_throttle"]
    assert np.all(r.rounds["duration_s"][:7] > 1.0)
    assert list(np.round(cpu[:8], 12)) == [0.0, 0.0, 0.0, 0.2, 0.2, 0.3, 0.3, 0.4]
    assert r.max_cpu_throttle == pytest.approx(0.45)


def test_autoconverge_check_interval_gates_the_counter():
    # checks at most every 1000 s: the counter never reaches 2 before the timeout
    r = run([A.AutoConverge(check_interval_s=1000.0)])
    assert r.max_cpu_throttle == 0 and not r.converged


def test_autoconverge_tailslow_raises_less_when_close():
    fast = run([A.AutoConverge()], policy=QEMU.with_(downtime_limit_s=0.001, timeout_s=60))
    slow = run([A.AutoConverge(tailslow=True)], policy=QEMU.with_(downtime_limit_s=0.001, timeout_s=60))
    assert slow.max_cpu_throttle <= fast.max_cpu_throttle
    steps = np.diff(np.unique(slow.rounds["cpu_throttle"]))
    assert np.all(steps <= 0.2 + 1e-12)              # first jump 0.2, then at most +0.1


def test_dirty_limit_holds_the_quota():
    aid = A.DirtyLimit(vcpus=4, vcpu_dirty_limit_Bps=pc.MiB(16), tolerance_Bps=0.0)
    r = run([aid])
    assert r.converged
    cap = aid.vcpus * aid.vcpu_dirty_limit_Bps / VM.page_bytes          # page writes per guest second
    t = r.rounds
    on = (~t["stop_copy"]) & (t["cpu_throttle"] > 0)
    assert on.sum() >= 1
    rate = t["writes"][on] / t["duration_s"][on]          # the guest's page writes per second
    assert np.allclose(rate, cap, rtol=0.01)
    assert np.all(t["writes"][:1] / t["duration_s"][:1] > 2 * cap)    # before the trigger: unlimited


def test_dirty_limit_tolerance_leaves_mild_guests_alone():
    # QEMU stops adjusting within 25 MiB/s of the quota: a 1-vCPU guest dirtying ~24 MiB/s is not slowed
    mild = W.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.9, writes_per_s=6_000)
    r = run([A.DirtyLimit()], wl=mild, link=pc.Link(rate_bps=pc.Mbps(100)),
            policy=QEMU.with_(max_bandwidth_bps=None, downtime_limit_s=0.01, timeout_s=300))
    assert r.max_cpu_throttle == 0


def test_sdps_keeps_dirty_rate_below_transmit_rate():
    r = run([A.SDPS(target_ratio=0.5)])
    assert r.converged
    t = r.rounds
    live = ~t["stop_copy"]
    dirty_Bps = t["pages_dirtied"][live] * VM.page_bytes / t["duration_s"][live]
    xmit_Bps = r.rate_bps / 8 * VM.page_bytes / (VM.page_bytes + 8)
    engaged = t["cpu_throttle"][live] > 0
    assert engaged.sum() >= 2
    # once SDPS slows the guest, every round dirties less than the sender moves
    assert np.all(dirty_Bps[engaged] < xmit_Bps)


def test_postcopy_converges_reports_faults_and_risk(plain):
    r = run([A.PostCopy()])
    assert r.converged and r.stop_reason == "postcopy"
    assert r.final_pages == 0 and r.final_transfer_s == 0
    assert r.downtime_s == pytest.approx(r.resume_s + r.device_state_s + r.announce_s)
    assert r.postcopy_s > 0 and r.postcopy_faults > 0 and r.postcopy_pages > 0
    assert r.total_time_s == pytest.approx(r.precopy_time_s + r.downtime_s + r.postcopy_s, rel=1e-12)
    assert r.total_time_s < plain.total_time_s
    row = r.rounds[len(r.rounds) - 1]
    assert row["postcopy"] and row["pages_sent"] == r.postcopy_pages
    assert row["start_s"] == pytest.approx(r.precopy_time_s + r.downtime_s)
    assert row["guest_lost_s"] == r.postcopy_stall_s > 0
    # every page left at the switch crosses the link exactly once
    assert row["bytes_sent"] == r.postcopy_pages * (VM.page_bytes + 8)
    # the push alone would take pages x page time; faults share the link, so not less
    assert r.postcopy_s >= r.postcopy_pages * (VM.page_bytes + 8) / (LINK.goodput_bps / 8) * (1 - 1e-12)
    assert "loses the VM" in r.summary()
    # Nova's rule: switched at the first round that shrank the dirty set by less than 10 %
    # (QEMU's cadence: the pages set at each sync, which its expected downtime reports)
    live = ~r.rounds["postcopy"]
    d = np.round(r.rounds["expected_downtime_s"][live] * r.rate_bps / 8 / VM.page_bytes)
    prev = np.concatenate([[VM.n_pages], d[:-1]])
    shrink = (prev - d) / prev
    assert shrink[-1] < 0.10 and np.all(shrink[1:-1] >= 0.10)


def test_postcopy_after_rounds_and_rtt_cost():
    near = run([A.PostCopy(after_rounds=1, on_no_progress=False)])
    far = run([A.PostCopy(after_rounds=1, on_no_progress=False)], link=pc.Link(rate_bps=pc.Gbps(10), rtt_s=0.002))
    assert near.n_rounds == 2 and near.stop_reason == "postcopy"
    assert far.postcopy_stall_s > near.postcopy_stall_s
    assert far.postcopy_stall_s >= far.postcopy_faults * 0.002 * 0.5   # faults on in-flight pages wait less


def test_postcopy_not_used_when_precopy_converges():
    calm = W.HotCold(wws_bytes=pc.MiB(16), hot_fraction=0.9, writes_per_s=5_000)
    r = run([A.PostCopy(after_rounds=50, on_no_progress=False)], wl=calm)
    assert r.stop_reason == "downtime_limit" and r.postcopy_s == 0


def test_xbzrle_saves_bytes_but_not_in_the_first_pass(plain):
    r = run([A.XBZRLE(cache_bytes=pc.MiB(512))])
    ref = plain
    assert r.rounds["xbzrle_hits"][0] == 0 and r.rounds["xbzrle_hits"][1] == 0   # bulk pass; cache filled in round 1
    assert r.rounds["xbzrle_hits"][2] > 0
    assert r.xbzrle_saved_bytes > 0 and r.xbzrle_hits > 0 and r.xbzrle_misses > 0
    # same first two rounds, then a hit costs a delta instead of a page
    assert r.rounds["bytes_sent"][0] == ref.rounds["bytes_sent"][0]
    per_page = r.rounds["bytes_sent"][2] / r.rounds["pages_sent"][2]
    assert per_page < 0.5 * (VM.page_bytes + 8)
    assert r.converged and not ref.converged          # a cache holding the working set makes it converge


def test_xbzrle_cache_size_and_overflow():
    small = run([A.XBZRLE(cache_bytes=pc.MiB(8))], policy=QEMU.with_(timeout_s=20))
    big = run([A.XBZRLE(cache_bytes=pc.MiB(512))], policy=QEMU.with_(timeout_s=20))
    assert small.xbzrle_hits / (small.xbzrle_hits + small.xbzrle_misses) < \
        big.xbzrle_hits / (big.xbzrle_hits + big.xbzrle_misses)
    whole = run([A.XBZRLE(cache_bytes=pc.MiB(512), bytes_per_write=VM.page_bytes)], policy=QEMU.with_(timeout_s=20))
    assert whole.xbzrle_overflows > 0 and whole.xbzrle_saved_bytes == 0     # whole-page rewrites gain nothing


def test_xbzrle_fixed_delta_size():
    r = run([A.XBZRLE(cache_bytes=pc.MiB(512), delta_fraction=0.25)], policy=QEMU.with_(timeout_s=20))
    saved_per_hit = r.xbzrle_saved_bytes / r.xbzrle_hits
    assert saved_per_hit == pytest.approx((VM.page_bytes + 8) - (8 + 3 + 0.25 * VM.page_bytes))


def test_compression_ratio_and_cpu_ceiling():
    idle = W.Idle()
    pol = QEMU.with_(max_bandwidth_bps=None)
    base = run(wl=idle, policy=pol)
    comp = run([A.Compression(ratio=4.0)], wl=idle, policy=pol)
    assert comp.bytes_sent == pytest.approx(VM.n_pages * (8 + VM.page_bytes / 4.0))
    assert comp.compression_saved_bytes == pytest.approx(base.bytes_sent - comp.bytes_sent)
    assert comp.total_time_s < base.total_time_s
    # one slow thread: CPU-bound at page_bytes / cpu_Bps per page
    # (QEMU's cadence sends the last threshold's worth of the bulk pass inside the downtime)
    cpu = run([A.Compression(ratio=4.0, cpu_Bps=100e6, threads=1)], wl=idle, policy=pol)
    assert cpu.precopy_time_s + cpu.final_transfer_s == pytest.approx(VM.memory_bytes / 100e6, rel=1e-9)
    # threads default to the link's streams (multifd compresses per channel)
    multi = run([A.Compression(ratio=4.0, cpu_Bps=100e6)], wl=idle, policy=pol,
                link=pc.Link(rate_bps=pc.Gbps(10), streams=4))
    assert multi.precopy_time_s + multi.final_transfer_s == pytest.approx(VM.memory_bytes / 400e6, rel=1e-9)


def test_compression_then_xbzrle_as_qemu():
    # the pass cadence: round 0 is the whole bulk pass, round 1 the first after it
    r = run([A.Compression(ratio=4.0), A.XBZRLE(cache_bytes=pc.MiB(512))],
            policy=QEMU.with_(timeout_s=20, sync_cadence="pass"))
    t = r.rounds
    assert t["bytes_sent"][0] == pytest.approx(VM.n_pages * (8 + VM.page_bytes / 4.0))
    # round 1: compression is off and every page misses the empty cache: full pages
    assert t["bytes_sent"][1] == t["pages_sent"][1] * (VM.page_bytes + 8)
    assert r.compression_saved_bytes == pytest.approx(VM.n_pages * (VM.page_bytes - VM.page_bytes / 4.0))


def test_multiple_streams_via_link():
    one = pc.Link(rate_bps=pc.Gbps(100), per_stream_bps=pc.Gbps(15))
    four = pc.Link(rate_bps=pc.Gbps(100), streams=4, per_stream_bps=pc.Gbps(15))
    pol = QEMU.with_(max_bandwidth_bps=None)
    r1, r4 = run(wl=W.Idle(), link=one, policy=pol), run(wl=W.Idle(), link=four, policy=pol)
    assert r4.rate_bps == 4 * r1.rate_bps
    assert r4.total_time_s - r4.resume_s == pytest.approx((r1.total_time_s - r1.resume_s) / 4)


def test_same_seed_same_result_with_aids():
    aids = [A.AutoConverge(), A.XBZRLE(cache_bytes=pc.MiB(64)), A.PostCopy(after_rounds=4)]
    a, b = run(aids), run(aids)
    assert a.total_time_s == b.total_time_s and a.rounds == b.rounds and a.postcopy_faults == b.postcopy_faults


def test_prepared_reuses_buffers_with_aids():
    p = pc.Prepared(VM, BUSY, LINK, QEMU, aids=[A.XBZRLE(cache_bytes=pc.MiB(64)), A.SDPS()])
    r1, r2 = p.run(1), p.run(1)
    assert r1.rounds == r2.rounds and r1.xbzrle_hits == r2.xbzrle_hits


@pytest.mark.parametrize("make, name", [
    (lambda: A.AutoConverge(initial=0), "AutoConverge.initial"),
    (lambda: A.AutoConverge(increment=1.5), "AutoConverge.increment"),
    (lambda: A.AutoConverge(initial=0.5, max=0.3), "AutoConverge.max"),
    (lambda: A.AutoConverge(trigger=0), "AutoConverge.trigger"),
    (lambda: A.AutoConverge(check_interval_s=0), "AutoConverge.check_interval_s"),
    (lambda: A.AutoConverge(tailslow="yes"), "AutoConverge.tailslow"),
    (lambda: A.DirtyLimit(vcpu_dirty_limit_Bps=0), "DirtyLimit.vcpu_dirty_limit_Bps"),
    (lambda: A.DirtyLimit(vcpus=0), "DirtyLimit.vcpus"),
    (lambda: A.DirtyLimit(tolerance_Bps=-1), "DirtyLimit.tolerance_Bps"),
    (lambda: A.SDPS(target_ratio=1.0), "SDPS.target_ratio"),
    (lambda: A.XBZRLE(cache_bytes=100), "XBZRLE.cache_bytes"),
    (lambda: A.XBZRLE(bytes_per_write=0), "XBZRLE.bytes_per_write"),
    (lambda: A.XBZRLE(delta_fraction=1.5), "XBZRLE.delta_fraction"),
    (lambda: A.XBZRLE(encode_Bps=math.nan), "XBZRLE.encode_Bps"),
    (lambda: A.Compression(ratio=0.5), "Compression.ratio"),
    (lambda: A.Compression(ratio=2, cpu_Bps=-1), "Compression.cpu_Bps"),
    (lambda: A.Compression(ratio=2, threads=0), "Compression.threads"),
    (lambda: A.PostCopy(after_rounds=0), "PostCopy.after_rounds"),
    (lambda: A.PostCopy(min_progress=2), "PostCopy.min_progress"),
    (lambda: A.PostCopy(fault_overhead_s=-1), "PostCopy.fault_overhead_s"),
    (lambda: A.PostCopy(on_no_progress=False), "PostCopy needs after_rounds"),
])
def test_bad_aid_parameters_name_themselves(make, name):
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        make()


def test_bad_aid_combinations_fail_before_allocation(monkeypatch):
    import sys
    S = sys.modules["precopy.scenario"]

    def boom(*a, **k):
        raise AssertionError("allocated before validating")

    monkeypatch.setattr(S.np, "zeros", boom)
    with pytest.raises(ValueError, match="at most one guest-slowdown aid"):
        pc.Prepared(VM, BUSY, LINK, QEMU, aids=[A.AutoConverge(), A.DirtyLimit()])
    with pytest.raises(ValueError, match="at most one aid of each kind"):
        pc.Prepared(VM, BUSY, LINK, QEMU, aids=[A.XBZRLE(), A.XBZRLE()])
    with pytest.raises(ValueError, match=r"aids\[1\]"):
        pc.Prepared(VM, BUSY, LINK, QEMU, aids=[A.SDPS(), "auto-converge"])
    with pytest.raises(ValueError, match="power-of-two number of pages"):
        pc.Prepared(VM, BUSY, LINK, QEMU, aids=A.XBZRLE(cache_bytes=pc.MiB(48)))


def test_single_aid_and_none_accepted():
    assert run(A.SDPS()).aids == ("sdps",)
    assert run(None).aids == ()


# --- the predict table's compression columns --------------------------------------------------

def test_predict_table_compression_columns():
    from precopy.predict import parse_scenario, predict_table
    base = {"scenario": "z", "memory_mib": 1024, "link_gbps": 10, "workload": "idle", "policy": "qemu",
            "max_bandwidth_mibps": 0, "seeds": 1, "hypervisor": "none"}     # a silent guest, the 9 ms resume
    sc = parse_scenario({**base, "compress_ratio": 3, "compress_mibps": 100, "compress_threads": 2})
    (c,) = sc.aids
    assert (c.ratio, c.cpu_Bps, c.threads, c.decompress_cpu_Bps) == (3.0, 100 * pc.MiB(1), 2, None)
    plain, comp = predict_table([base, {**base, "scenario": "c", "compress_ratio": 3, "compress_mibps": 100,
                                        "compress_threads": 2}])
    # CPU-bound: 1 GiB at 2 x 100 MiB/s
    assert comp["total_time_s"] == pytest.approx(1024 / 200 + pc.Switchover().resume_s, rel=1e-6)
    assert comp["data_sent_mib"] == pytest.approx(plain["data_sent_mib"] / 3, rel=0.01)
    assert math.isnan(comp["analytic_total_time_s"]) and not math.isnan(plain["analytic_total_time_s"])
    with pytest.raises(ValueError, match="compress_mibps"):
        parse_scenario({**base, "compress_mibps": 100})
    with pytest.raises(ValueError, match="compress_ratio"):
        parse_scenario({**base, "compress_ratio": 0.5})


# --- property: any valid aid configuration finishes with finite, consistent numbers ---------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@st.composite
def aid_scenarios(draw):
    n = draw(st.integers(min_value=64, max_value=4096))
    vm = pc.VM(memory_bytes=n * 4096, zero_fraction=draw(st.floats(0, 0.5)))
    hot = draw(st.integers(1, n)) * 4096
    wl = W.HotCold(wws_bytes=hot, hot_fraction=draw(st.floats(0, 1)), writes_per_s=draw(st.floats(0, 2e5)))
    link = pc.Link(rate_bps=draw(st.floats(1e8, 1e10)), rtt_s=draw(st.floats(0, 0.01)))
    timeout = 3.0 + vm.memory_bytes * 8 / link.goodput_bps
    pol = draw(st.sampled_from([QEMU.with_(max_bandwidth_bps=None, timeout_s=timeout),
                                pc.policies.XenLegacy(timeout_s=timeout),
                                pc.policies.Custom(max_rounds=20, downtime_target_s=0.001, timeout_s=timeout)]))
    aids = []
    slow = draw(st.sampled_from([None, "ac", "dl", "sdps"]))
    if slow == "ac":
        aids.append(A.AutoConverge(check_interval_s=draw(st.floats(0.01, 2)), tailslow=draw(st.booleans())))
    elif slow == "dl":
        aids.append(A.DirtyLimit(vcpus=draw(st.integers(1, 8)), check_interval_s=draw(st.floats(0.01, 2))))
    elif slow == "sdps":
        aids.append(A.SDPS(target_ratio=draw(st.floats(0.05, 0.95))))
    if draw(st.booleans()):
        aids.append(A.XBZRLE(cache_bytes=4096 * 2 ** draw(st.integers(0, min(12, n.bit_length() - 1))),  # <= memory
                             bytes_per_write=draw(st.integers(1, 8192))))
    if draw(st.booleans()):
        cpu = draw(st.one_of(st.none(), st.floats(1e6, 1e10)))
        aids.append(A.Compression(ratio=draw(st.floats(1, 10)), cpu_Bps=cpu))
    if draw(st.booleans()):
        aids.append(A.PostCopy(after_rounds=draw(st.one_of(st.none(), st.integers(1, 5))), on_no_progress=True))
    return vm, wl, link, pol, aids


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(aid_scenarios(), st.integers(0, 2**32))
def test_any_aid_configuration_finishes_consistently(sc, seed):
    vm, wl, link, pol, aids = sc
    r = pc.simulate(vm, wl, link, pol, seed=seed, aids=aids)
    nums = [r.total_time_s, r.downtime_s, r.precopy_time_s, r.bytes_sent, r.guest_slowdown_s, r.postcopy_s,
            r.postcopy_stall_s, r.xbzrle_saved_bytes, r.compression_saved_bytes]
    assert all(math.isfinite(x) and x >= 0 for x in nums)
    assert r.total_time_s == pytest.approx(r.precopy_time_s + r.downtime_s + r.postcopy_s, rel=1e-12)
    assert r.downtime_s == pytest.approx(sum(r.downtime_parts.values()), rel=1e-12)
    assert 0 <= r.max_cpu_throttle < 1
    assert np.all((r.rounds["cpu_throttle"] >= 0) & (r.rounds["cpu_throttle"] < 1))
    # every page crosses at least once, and the table adds up to the result
    assert r.pages_sent >= vm.n_pages
    assert r.rounds["bytes_sent"].sum() == pytest.approx(r.bytes_sent, rel=1e-9)
    assert (r.stop_reason == "postcopy") == (r.postcopy_s > 0 or r.postcopy_pages > 0)
