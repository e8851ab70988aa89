"""Host drains: fair sharing, the event logic (with a fluid twin), orderings, presets, timeouts, CLI."""

import csv
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import precopy as pc
from precopy import drain as D
from precopy.config import IDENTITY_RTOL

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "precopy" / "data" / "examples" / "drain_vms.csv"


# --- max-min fairness -------------------------------------------------------------------------------

def naive_water_level(capacity, ceilings):
    """One resource: the level L with sum(min(c_i, L)) = capacity (or every flow at its ceiling), by bisection."""
    ceilings = np.asarray(ceilings, float)
    if np.sum(ceilings) <= capacity:
        return ceilings.copy()
    lo, hi = 0.0, capacity
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.minimum(ceilings, mid).sum() > capacity:
            hi = mid
        else:
            lo = mid
    return np.minimum(ceilings, lo)


def test_fair_share_single_resource_matches_the_water_level():
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = rng.integers(1, 9)
        cap = rng.uniform(1, 100)
        ceil = rng.uniform(0.5, 60, n)
        ceil[rng.random(n) < 0.3] = np.inf
        if np.all(np.isinf(ceil)) or rng.random() < 0.5:
            pass
        got = D.max_min_fair([cap], ceil)
        want = naive_water_level(cap, np.where(np.isinf(ceil), cap, ceil))
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_fair_share_several_resources_is_max_min_fair():
    rng = np.random.default_rng(2)
    for _ in range(200):
        nf, nr = rng.integers(1, 7), rng.integers(1, 4)
        cap = rng.uniform(1, 50, nr)
        ceil = rng.uniform(0.5, 40, nf)
        use = rng.random((nf, nr)) < 0.6
        use[np.arange(nf), rng.integers(0, nr, nf)] = True
        rate = D.max_min_fair(cap, ceil, use)
        load = (use * rate[:, None]).sum(axis=0)
        assert np.all(load <= cap * (1 + 1e-9)) and np.all(rate <= ceil * (1 + 1e-12))
        full = load >= cap * (1 - 1e-9)
        for i in range(nf):        # each flow is at its ceiling, or has a full resource where it is largest
            if rate[i] >= ceil[i] * (1 - 1e-9):
                continue
            bott = [r for r in range(nr) if use[i, r] and full[r] and rate[i] >= rate[use[:, r]].max() * (1 - 1e-9)]
            assert bott, (cap, ceil, use, rate)


def test_fair_share_examples_and_errors():
    assert D.max_min_fair([10.0], [3.0, np.inf, np.inf]).tolist() == [3.0, 3.5, 3.5]
    assert D.max_min_fair([10.0], [20.0, 20.0]).tolist() == [5.0, 5.0]
    assert D.max_min_fair([10.0, 4.0], [np.inf, np.inf], [[1, 0], [0, 1]]).tolist() == [10.0, 4.0]
    with pytest.raises(ValueError, match="capacity_bps"):
        D.max_min_fair([0.0], [1.0])
    with pytest.raises(ValueError, match="ceiling_bps"):
        D.max_min_fair([1.0], [-1.0])
    with pytest.raises(ValueError, match="usage"):
        D.max_min_fair([1.0], [1.0], [[1, 1]])


# --- the event logic, with a fluid twin of the simulator --------------------------------------------

def fluid_vm(job):
    """An idle guest as a fluid: memory bytes at the schedule's rates, nothing else."""
    d, link, schedule, postcopy, seed = job[:5]
    left = d.vm.memory_bytes * 8.0
    for k, (t, r) in enumerate(schedule):
        t_next = schedule[k + 1][0] if k + 1 < len(schedule) else math.inf
        if left <= r * (t_next - t):
            end = t + left / r
            break
        left -= r * (t_next - t)
    return SimpleNamespace(precopy_time_s=end, total_time_s=end, downtime_s=0.0, postcopy_s=0.0,
                           stop_reason="no_dirty_pages", converged=True, bytes_sent=float(d.vm.memory_bytes))


@pytest.fixture
def fluid(monkeypatch):
    monkeypatch.setattr(D, "_simulate_vm", fluid_vm)
    monkeypatch.setattr(D, "rate_model", lambda: "schedule")


def idle_vms(mib):
    return [{"vm": f"v{i}", "memory_mib": m, "workload": "idle"} for i, m in enumerate(mib)]


def test_work_conserving_when_ceilings_do_not_bind(fluid):
    # two at once on 25 GbE: each share (about 11.4 Gbit/s) is below the per-stream ceiling (about 15)
    mib = [1024, 3072, 2048, 512, 4096, 1024, 2048]
    r = D.drain(idle_vms(mib), "25GbE", max_parallel=2)
    cap = D.NIC(25e9).capacity_bps
    # the link is full from 0 until only one VM is left
    last = max(r.rows, key=lambda x: x["end_s"])
    others_end = max(x["end_s"] for x in r.rows if x is not last)
    sent_alone = (last["end_s"] - others_end) * D.NIC(25e9).link().goodput_bps
    assert others_end * cap + sent_alone == pytest.approx(sum(mib) * 2**20 * 8, rel=1e-9)
    # a slot freed starts the next VM at once, in the listed order
    assert [x["vm"] for x in r.rows] == [f"v{i}" for i in range(len(mib))]
    ends = sorted(x["end_s"] for x in r.rows)
    assert sorted(x["start_s"] for x in r.rows)[2:] == pytest.approx(ends[:len(mib) - 2])


def test_one_at_a_time_runs_at_the_ceiling(fluid):
    mib = [1024, 2048, 512]
    r = D.drain(idle_vms(mib), "25GbE", max_parallel=1)
    g = D.NIC(25e9).link().goodput_bps
    assert r.makespan_s == pytest.approx(sum(mib) * 2**20 * 8 / g, rel=IDENTITY_RTOL)
    assert all(x["mean_rate_gbps"] == pytest.approx(g / 1e9) for x in r.rows)


def test_rates_change_when_a_migration_ends(fluid):
    # 1 GbE, two at once: both share the line; when the small one ends the big one gets all of it
    r = D.drain(idle_vms([256, 1024]), "1GbE", max_parallel=2)
    cap = D.NIC(1e9).capacity_bps
    small, big = r.rows[0], r.rows[1]
    assert small["end_s"] == pytest.approx(256 * 2**20 * 8 / (cap / 2))
    solo = min(cap, D.NIC(1e9).link().goodput_bps)
    assert big["end_s"] == pytest.approx(small["end_s"] + (1024 - 256) * 2**20 * 8 / solo)


def test_nics_pinned_and_pooled(fluid):
    vms = idle_vms([1024, 1024])
    two = D.drain(vms, "2x10GbE", max_parallel=2)
    assert {x["nic"] for x in two.rows} == {0, 1}        # one migration per NIC: no sharing
    one = D.drain(vms, "10GbE", max_parallel=2)
    assert two.makespan_s < one.makespan_s
    pooled = D.drain(vms, "2x10GbE", max_parallel=2, pooled=True)
    assert {x["nic"] for x in pooled.rows} == {"pool"}


# --- the real simulator -----------------------------------------------------------------------------

def test_idle_vms_match_the_fluid_twin_within_page_overheads():
    vms = idle_vms([1024, 2048, 512, 1024])
    real = D.drain(vms, "10GbE", max_parallel=2)
    assert real.n_failed == 0 and all(x["verdict"] == "converged" for x in real.rows)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(D, "_simulate_vm", fluid_vm)
        fl = D.drain(vms, "10GbE", max_parallel=2)
    # page headers and the switchover add a little: within 2 %
    assert real.makespan_s == pytest.approx(fl.makespan_s, rel=0.02)


def _check_drain(r, names, limit):
    assert {x["vm"] for x in r.rows} == names and r.limit == limit
    running = [(x["start_s"], x["end_s"]) for x in r.rows]
    for t, _ in running:            # never more than the limit at once
        assert sum(s <= t < e for s, e in running) <= r.limit
    assert r.makespan_s == max(e for _, e in running)


def test_example_table_every_ordering_and_preset():
    vms = D.read_vms(EXAMPLE)
    names = {d.name for d in vms}
    c = D.compare(vms, "25GbE", max_parallel=2, n_jobs=1)
    assert set(c.drains) == set(D.ORDERS) and c.best in D.ORDERS
    for o, r in c.drains.items():
        assert r.order == o
        _check_drain(r, names, 2)
    best = c.drains[c.best]
    assert all((best.n_failed, best.makespan_s) <= (d.n_failed, d.makespan_s) for d in c.drains.values())
    assert len(c.table()) == 5 and "<- best" in c.summary()
    for pre in D.PRESETS:
        r = D.drain(vms, "25GbE", orchestrator=pre, order="largest-first")
        _check_drain(r, names, D.preset(pre, D.parse_link("25GbE")).limit)
        assert r.orchestrator == pre


def test_orderings():
    vms = [{"vm": "small-busy", "memory_mib": 128, "workload": "uniform", "write_mibps": 200},
           {"vm": "big-quiet", "memory_mib": 512, "workload": "uniform", "write_mibps": 5},
           {"vm": "mid", "memory_mib": 256, "workload": "uniform", "write_mibps": 50, "priority": 0},
           {"vm": "urgent", "memory_mib": 128, "workload": "idle", "priority": 5}]

    def started(order):
        return [x["vm"] for x in D.drain(vms, "10GbE", max_parallel=1, order=order).rows]

    assert started("as-listed") == ["urgent", "small-busy", "big-quiet", "mid"]
    assert started("largest-first") == ["urgent", "big-quiet", "mid", "small-busy"]
    assert started("least-dirtying-first") == ["urgent", "big-quiet", "mid", "small-busy"]
    assert started("busiest-first-postcopy") == ["urgent", "small-busy", "mid", "big-quiet"]
    short = started("shortest-first")
    assert short[0] == "urgent" and short[-1] == "big-quiet"


def test_completion_timeout_aborts_and_frees_the_slot():
    vms = [{"vm": "busy", "memory_mib": 1024, "workload": "uniform", "write_mibps": 2000},
           {"vm": "idle", "memory_mib": 256, "workload": "idle"}]
    orch = D.Orchestrator("strict", 1, completion_timeout_per_gib_s=20.0)
    r = D.drain(vms, "1GbE", orchestrator=orch)
    busy, idle = r.rows
    assert busy["verdict"] == "aborted" and busy["downtime_ms"] == 0.0
    # aborted at the timeout (or, with the kernel's run-time controls, at the first bitmap sync after it)
    rounds = r.results["busy"].rounds
    assert 20.0 <= busy["end_s"] <= 20.0 + rounds["duration_s"].max() * (1 + IDENTITY_RTOL)
    assert idle["start_s"] == busy["end_s"] and idle["verdict"] == "converged"
    assert r.n_aborted == 1
    free = D.drain(vms, "1GbE", max_parallel=1)
    assert free.rows[0]["verdict"] == "not_converged" and free.n_not_converged == 1


def test_postcopy_ordering_finishes_the_busy_vm_in_postcopy():
    vms = [{"vm": "busy", "memory_mib": 1024, "workload": "uniform", "write_mibps": 2000},
           {"vm": "idle", "memory_mib": 512, "workload": "idle"}]
    r = D.drain(vms, "1GbE", max_parallel=1, order="busiest-first-postcopy")
    assert r.rows[0]["vm"] == "busy" and r.rows[0]["verdict"] == "postcopy" and r.n_postcopy == 1
    assert r.rows[0]["postcopy_s"] > 0


def test_compare_is_the_same_on_two_processes():
    vms = idle_vms([256, 128, 512])
    a = D.compare(vms, "10GbE", max_parallel=2, n_jobs=1)
    b = D.compare(vms, "10GbE", max_parallel=2, n_jobs=2)
    assert a.rows() == b.rows() and a.best == b.best


def test_presets():
    assert D.preset("kubevirt").max_parallel == 2 and D.preset("kubevirt").max_parallel_cluster == 5
    # KubeVirt's completionTimeoutPerGiB (150 s, precopy.orchestrators.KubeVirt) times the guest's memory in
    # decimal GB rounded up: 6 GiB = 6.44 GB -> 7
    assert D.preset("kubevirt").timeout_s(6 * 2**30) == 150.0 * 7
    kv = D.preset("kubevirt").controls_for(pc.VM(memory_bytes=6 * 2**30))
    assert kv == {"completion_timeout_s": 1050.0, "completion_action": "abort", "progress_timeout_s": 150.0,
                  "progress_action": "abort"}
    nova = D.preset("nova").controls_for(pc.VM(memory_bytes=4 * 2**30))      # Nova steps its downtime limit
    assert nova["completion_timeout_s"] == 3200.0 and nova["downtime_schedule"][:2] == ((0.0, 0.05), (300.0, 0.095))
    assert D.preset("nova").limit == 1 and D.preset("nova").timeout_s(2**29) == 1600.0
    assert D.preset("vsphere", D.parse_link("1GbE")).limit == 4
    assert D.preset("vsphere", D.parse_link("10GbE")).limit == 8
    assert D.preset("hyperv").limit == 2 and math.isinf(D.preset("hyperv").timeout_s(2**30))
    for p in D.PRESETS:
        assert D.preset(p).source
    with pytest.raises(ValueError, match="preset"):
        D.preset("proxmox")


@pytest.mark.parametrize("rows, match", [
    ([{"vm": "a", "memory_mib": 64, "workload": "idle", "colour": 1}], "unknown column 'colour'"),
    ([{"vm": "a", "memory_mib": 64}], "column 'workload'"),
    ([{"vm": "a", "memory_mib": 64, "workload": "idle", "priority": "high"}], "priority"),
    ([{"vm": "a", "memory_mib": 64, "workload": "idle"}] * 2, "duplicate name"),
    ([{"vm": "a", "memory_mib": -1, "workload": "idle"}], "memory_mib"),
    ([], "at least one VM"),
])
def test_bad_vm_tables(rows, match):
    with pytest.raises(ValueError, match=match):
        D.drain(rows, "10GbE")


def test_bad_arguments():
    vms = idle_vms([64])
    with pytest.raises(ValueError, match="order"):
        D.drain(vms, "10GbE", order="random")
    with pytest.raises(ValueError, match="max_parallel"):
        D.drain(vms, "10GbE", max_parallel=0)
    with pytest.raises(ValueError, match="--link"):
        D.drain(vms, "fast")
    with pytest.raises(ValueError, match="mtu"):
        D.drain(vms, "10GbE:100")
    with pytest.raises(ValueError, match="orchestrator"):
        D.drain(vms, "10GbE", orchestrator=3)
    with pytest.raises(ValueError, match="mtu"):
        D.Host(nics=(D.NIC(10e9, 1500), D.NIC(10e9, 9000)), pooled=True)


def test_cli_writes_results_and_gantt(tmp_path, capsys):
    from precopy.cli import main
    out = tmp_path / "r.csv"
    png = tmp_path / "g.png"
    rc = main(["drain", str(EXAMPLE), "--link", "25GbE", "--max-parallel", "2", "--order", "shortest-first",
               "-o", str(out), "--plot", str(png)])
    assert rc == 0 and png.stat().st_size > 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 10 and list(rows[0]) == list(D.RESULT_COLUMNS)
    assert "makespan" in capsys.readouterr().out
    small = tmp_path / "vms.csv"
    small.write_text("vm,memory_mib,workload,write_mibps\na,256,uniform,50\nb,128,idle,\nc,512,uniform,10\n")
    rc = main(["drain", str(small), "--link", "10GbE", "--preset", "nova", "--jobs", "1", "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "best ordering:" in text and len(list(csv.DictReader(out.open()))) == 15
    assert main(["drain", str(EXAMPLE), "--link", "fast", "-o", str(out)]) == 2


def test_pc_drain_is_callable_and_a_module():
    import precopy as pc
    vms = idle_vms([64, 64])
    assert pc.drain(vms, "10GbE").rows == D.drain(vms, "10GbE").rows
    assert pc.drain.compare is D.compare and pc.drain.ORDERS == D.ORDERS


def test_a_later_rate_change_leaves_the_past_unchanged():
    # the drain re-simulates a VM when its share changes and keeps what happened before: that needs a
    # causal kernel (same rounds before the change, whatever the rates after it)
    if D.rate_model() != "schedule":
        pytest.skip("this kernel has no rate_schedule")
    d = D._parse_vm({"vm": "a", "memory_mib": 512, "workload": "hotcold", "wws_mib": 256, "write_mibps": 400}, 1)
    link = D.parse_link("10GbE").link(0, 1)
    base = D._simulate_vm((d, link, [(0.0, 4e9)], False, 3))
    t_change = base.rounds["start_s"][2]
    later = D._simulate_vm((d, link, [(0.0, 4e9), (t_change, 8e9)], False, 3))
    for col in ("pages_sent", "pages_dirtied", "writes"):
        assert np.array_equal(base.rounds[col][:2], later.rounds[col][:2]), col
    for col in ("start_s", "duration_s"):
        np.testing.assert_allclose(base.rounds[col][:2], later.rounds[col][:2], rtol=IDENTITY_RTOL)
    assert later.total_time_s < base.total_time_s


# --- presets bring their platform: stop rule, fitted terms, post-copy or not -----------------------

_VMS = [{"vm": f"v{i}", "memory_mib": 512, "workload": "hotcold", "wws_mib": 32, "write_mibps": 20 * (i + 1)}
        for i in range(3)]


def test_presets_fill_the_rows_with_their_platform():
    from precopy import drain as D
    from precopy import hypervisors as H
    r = D.drain(_VMS, "25GbE", orchestrator="vsphere", order="as-listed")
    assert r.n_failed == 0
    vms = D._vms_of(_VMS, D._defaults(D.preset("vsphere")))
    assert {d.policy.name for d in vms} == {"vmware"} and {d.hypervisor for d in vms} == {"vmware-8"}
    assert D._with_host_streams(vms, D.parse_link("25GbE"))[0].streams == H.get("vmware-8").streams_for(25e9)
    assert vms[0].switchover == H.get("vmware-8").switchover(pc.MiB(512))
    kv = D._vms_of(_VMS, D._defaults(D.preset("kubevirt")))
    assert {d.hypervisor for d in kv} == {"qemu"} and kv[0].switchover == H.get("qemu").switchover(pc.MiB(512))
    hv = D._vms_of(_VMS, D._defaults(D.preset("hyperv")))           # no fitted Hyper-V terms: textbook
    assert {d.hypervisor for d in hv} == {None} and hv[0].switchover == pc.Switchover()
    # a row's own policy and hypervisor win over the preset's
    own = D._vms_of([dict(_VMS[0], policy="qemu", hypervisor="none")], D._defaults(D.preset("vsphere")))
    assert own[0].policy.name == "qemu" and own[0].hypervisor is None


def test_fitted_switchover_is_in_every_downtime():
    from precopy import drain as D
    from precopy import hypervisors as H
    r = D.drain(_VMS, "25GbE", orchestrator="kubevirt", order="as-listed")
    fitted_ms = H.get("qemu").switchover_s(pc.MiB(512)) * 1e3
    assert all(row["downtime_ms"] >= fitted_ms for row in r.rows)


def test_postcopy_ordering_only_where_the_platform_has_post_copy():
    from precopy import drain as D
    for name in ("vsphere", "hyperv"):
        with pytest.raises(ValueError, match="needs post-copy, which orchestrator"):
            D.drain(_VMS, "10GbE", orchestrator=name, order="busiest-first-postcopy")
        assert "busiest-first-postcopy" not in D.compare(_VMS, "10GbE", orchestrator=name, n_jobs=1).drains
    assert "busiest-first-postcopy" in D.compare(_VMS, "10GbE", orchestrator="kubevirt", n_jobs=1).drains
