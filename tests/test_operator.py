"""Hypervisor reports (parsers, malformed input), precopy eta, orchestrator replay, precopy plan."""

import json
import math

import numpy as np
import pytest

import precopy as pc
from precopy import eta as E
from precopy import hvstats as H
from precopy import orchestrators as O

DIRTY = ["qmp_dirty_rate_sampling.json", "qmp_dirty_rate_ring.json", "qmp_dirty_rate_bitmap.json",
         "virsh_domstats_dirtyrate.txt"]
JOBS = ["qmp_query_migrate.json", "qmp_query_migrate_series.json", "virsh_domjobinfo.txt",
        "virsh_domjobinfo_series.txt"]
MEM8 = pc.GiB(8)


def text(name):
    return H.example_path(name).read_text()


# --- every shipped example parses, fits and predicts ----------------------------------------------

@pytest.mark.parametrize("name", DIRTY)
def test_dirty_rate_examples_parse_fit_and_predict(name):
    rep = H.parse_dirty_rate(text(name), memory_bytes=MEM8, label=name)
    assert rep.memory_bytes == MEM8 and len(rep.samples) >= 1
    f = H.fit_dirty_rate(rep)
    assert f.kind in ("hotcold", "uniform") and f.writes_per_s_se > 0
    # the model guest of make_examples.py writes 60,000 pages/s: every fit recovers it within 10 %
    assert f.workload.writes_per_s == pytest.approx(60_000, rel=0.10)
    rows = H.predict_dirty_rate(f, pc.Link.from_profile("10GbE"), pc.policies.QEMU(max_bandwidth_bps=None))
    assert rows[0]["total_time_s"] <= rows[1]["total_time_s"] <= rows[2]["total_time_s"]


def test_hotcold_fit_recovers_the_model_guest():
    f = H.fit_dirty_rate(H.read_dirty_rate(H.example_path("qmp_dirty_rate_sampling.json")))
    assert f.fit.values["wws_bytes"] == pytest.approx(pc.GiB(1), rel=0.1)
    assert f.fit.values["hot_fraction"] == pytest.approx(0.9, abs=0.03)


def test_dirty_ring_reports_per_vcpu_rates_and_memory_from_the_input():
    r = H.parse_dirty_rate(text("qmp_dirty_rate_ring.json"), memory_bytes=MEM8)
    s = r.samples[0]
    assert s.mode == "dirty-ring" and len(s.vcpu_rates_Bps) == 4 and s.interval_s == 1.0
    assert H.read_dirty_rate(H.example_path("virsh_domstats_dirtyrate.txt")).memory_bytes == MEM8


@pytest.mark.parametrize("name", JOBS)
def test_job_examples_parse(name):
    snaps = H.parse_job_stats(text(name), label=name)
    assert all(0 <= s.memory_remaining_bytes <= s.memory_total_bytes for s in snaps)
    assert [s.elapsed_s for s in snaps] == sorted(s.elapsed_s for s in snaps)


# --- malformed input: one ValueError naming the field ------------------------------------------------

def _qmp_dirty(**over):
    d = {"status": "measured", "dirty-rate": 100, "start-time": 1, "calc-time": 2, "calc-time-unit": "second",
         "sample-pages": 512, "mode": "page-sampling"}
    d.update(over)
    return json.dumps({"return": {k: v for k, v in d.items() if v is not None}})


@pytest.mark.parametrize("doc, field", [
    (_qmp_dirty(**{"dirty-rate": None}), "dirty-rate"),
    (_qmp_dirty(**{"calc-time": None}), "calc-time"),
    (_qmp_dirty(**{"calc-time-unit": "minute"}), "calc-time-unit"),
    (_qmp_dirty(**{"dirty-rate": -5}), "dirty-rate"),
    (_qmp_dirty(status="measuring"), "status"),
    (_qmp_dirty(mode="dirty-ring"), "vcpu-dirty-rate"),
    (_qmp_dirty(**{"dirty-rate": 10 ** 9}), "dirty-rate"),
    (_qmp_dirty()[:-20], "truncated"),
])
def test_malformed_qmp_dirty_rate(doc, field):
    with pytest.raises(ValueError, match=field):
        H.parse_dirty_rate(doc, memory_bytes=MEM8)


@pytest.mark.parametrize("edit, field", [
    (lambda s: s.replace("  dirtyrate.megabytes_per_second=213\n", ""), "dirtyrate.megabytes_per_second"),
    (lambda s: s.replace("dirtyrate.megabytes_per_second=213", "dirtyrate.megabytes_per_second=-213"),
     "dirtyrate.megabytes_per_second"),
    (lambda s: s.replace("dirtyrate.calc_status=2", "dirtyrate.calc_status=1", 1), "calc_status"),
    (lambda s: s.replace("dirtyrate.calc_period=1", "dirtyrate.calc_period=1s"), "calc_period"),
])
def test_malformed_domstats(edit, field):
    with pytest.raises(ValueError, match=field):
        H.parse_dirty_rate(edit(text("virsh_domstats_dirtyrate.txt")))


def test_missing_memory_is_named():
    with pytest.raises(ValueError, match="memory_bytes"):
        H.parse_dirty_rate(text("qmp_dirty_rate_ring.json"))


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["return"]["ram"].pop("remaining"), "remaining"),
    (lambda d: d["return"].pop("total-time"), "total-time"),
    (lambda d: d["return"]["ram"].__setitem__("dirty-pages-rate", -3), "dirty-pages-rate"),
    (lambda d: d["return"].__setitem__("status", "running"), "status"),
    (lambda d: d["return"]["ram"].__setitem__("remaining", 10 ** 13), "remaining"),
])
def test_malformed_query_migrate(edit, field):
    d = json.loads(text("qmp_query_migrate.json"))
    edit(d)
    with pytest.raises(ValueError, match=field):
        H.parse_job_stats(json.dumps(d))


def test_truncated_query_migrate():
    with pytest.raises(ValueError, match="truncated"):
        H.parse_job_stats(text("qmp_query_migrate.json")[:200])


@pytest.mark.parametrize("edit, field", [
    (lambda s: "\n".join(ln for ln in s.splitlines() if not ln.startswith("Memory remaining")), "Memory remaining"),
    (lambda s: s.replace("MiB\nMemory total", "MB\nMemory total").replace(" MiB\n", " MB\n"), "unit 'MB'"),
    (lambda s: s.replace("Dirty rate:       ", "Dirty rate:       -"), "Dirty rate"),
    (lambda s: s.replace("Time elapsed:     120000       ms", "Time elapsed:     120000       s"),
     "Time elapsed"),
])
def test_malformed_domjobinfo(edit, field):
    with pytest.raises(ValueError, match=field):
        H.parse_job_stats(edit(text("virsh_domjobinfo.txt")))


def test_cli_reports_a_malformed_file_in_one_line(tmp_path, capsys):
    from precopy import cli
    p = tmp_path / "bad.json"
    p.write_text(_qmp_dirty(**{"dirty-rate": -1}))
    assert cli.main(["dirty-rate", str(p), "--memory", "8GiB"]) == 2
    err = capsys.readouterr().err
    assert "dirty-rate" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# --- precopy eta -----------------------------------------------------------------------------------

def test_eta_progress_never_runs_backwards_though_remaining_does():
    snaps = H.read_job_stats(H.example_path("virsh_domjobinfo_series.txt"))
    rem = np.array([s.memory_remaining_bytes for s in snaps])
    assert np.any(np.diff(rem) > 0)                      # memory re-dirtied: QEMU's remaining jumps up
    est = E.estimate_series(snaps)
    p = np.array([e.progress for e in est])
    assert np.all(np.diff(p) >= 0) and 0 <= p.min() and p.max() <= 1


def test_eta_verdicts_on_the_examples():
    conv = E.estimate_series(H.read_job_stats(H.example_path("qmp_query_migrate_series.json")))
    assert conv[0].verdict == "first pass" and conv[-1].verdict == "converging"
    assert conv[-1].downtime_s < 0.3 and math.isfinite(conv[-1].remaining_s)
    stuck = E.estimate_series(H.read_job_stats(H.example_path("virsh_domjobinfo_series.txt")))
    assert stuck[-1].verdict in ("not converging", "stalled") and math.isinf(stuck[-1].remaining_s)


def test_eta_geometric_closed_form():
    # R left, lambda = 0.5, S0 = R: rounds R/B, R/2B, R/4B ... until below B x limit
    s = H.MigrationSnapshot(elapsed_s=10.0, status="active", memory_total_bytes=2**33,
                            memory_processed_bytes=2**33, memory_remaining_bytes=2**30, bandwidth_Bps=2**30,
                            dirty_pages_per_s=2**29 / 4096, iteration=2)
    e = E.estimate(s, downtime_limit_s=0.3)
    # 1 + 0.5 + 0.25 (0.25 GiB < 0.3 GiB: switchover) -> 1.75 s
    assert e.remaining_s == pytest.approx(1.75) and e.verdict == "converging"
    assert E.estimate(s, downtime_limit_s=0.3, timeout_s=11.0).verdict == "will time out"


def test_eta_figure():
    fig = E.plot_eta(H.read_job_stats(H.example_path("qmp_query_migrate_series.json")))
    assert len(fig.axes) == 3


# --- orchestrators, quoting their documents -----------------------------------------------------------

@pytest.mark.parametrize("wl", [pc.workloads.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.9, writes_per_s=40_000),
                                pc.workloads.Uniform(writes_per_s=20_000), pc.workloads.Idle()], ids=repr)
@pytest.mark.parametrize("profile", ["1GbE", "10GbE"])
def test_replay_without_controls_is_the_saturation_model(wl, profile):
    from precopy.analytic import saturation
    vm = pc.VM(memory_bytes=pc.GiB(2))
    link = pc.Link.from_profile(profile)
    o = O.NoOrchestrator(max_bandwidth_mibps=None)
    r = O.replay(vm, wl, link, o)
    # the replay runs the saturation model with the plan's policy (QEMU's sync cadence included)
    a = saturation(vm, wl, link, o.plan(vm).policy, pc.Switchover())
    assert (r.outcome == "converged") == a.converged and r.n_rounds == a.n_rounds
    # the same model computed twice; the analytic engine evaluates the distinct-pages sum its own way
    # (page groups, the kernel's quantised hot share), so the two agree to about 1e-5, not to the last bit
    rtol = 1e-4
    assert r.total_time_s == pytest.approx(a.total_time_s, rel=rtol)
    assert r.downtime_s == pytest.approx(a.downtime_s, rel=rtol)
    assert r.precopy_time_s == pytest.approx(a.precopy_time_s, rel=rtol)


def test_nova_downtime_steps_match_novas_docstring():
    # nova/virt/libvirt/migration.py: "with 10 steps, 30 second step delay, 3 GB of RAM and 400ms target
    # maximum downtime, the downtime will be increased every 90 seconds": 40, 76, 112 ... 400 ms
    steps = list(O.nova_downtime_steps(3.0, 400, 10, 30))
    assert steps[0] == (0, 40) and steps[1] == (90, 76) and steps[-1] == (900, 400)
    assert [t for t, _ in steps] == [90 * i for i in range(11)]


def test_nova_migration_downtime_steps_up_every_delay_x_gib_seconds():
    vm = pc.VM(memory_bytes=pc.GiB(4))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(24), hot_fraction=0.95, writes_per_s=20_000)
    link = pc.Link.from_profile("1GbE")
    nova = O.Nova(live_migration_downtime_delay=5)          # 5 s x 4 GiB = a step every 20 s
    plan = nova.plan(vm)
    assert [t for t, _ in plan.downtime_schedule] == [20.0 * i for i in range(11)]
    r = O.replay(vm, wl, link, nova)
    assert r.outcome == "converged"
    lims = [row["downtime_limit_s"] for row in r.rounds]
    starts = [row["start_s"] for row in r.rounds]
    # every round runs under the step in force at its start ...
    assert all(lim == plan.downtime_at(t) for lim, t in zip(lims, starts))
    # ... the limit rose over the migration, and it switched over when the step in force let what was left
    # through (under QEMU's cadence what is left is the pass's unsent rest plus the newly dirtied pages: the
    # stop-and-copy's memory part, the downtime less the resume)
    assert lims[-1] > lims[0]
    t_end = starts[-1] + r.rounds[-1]["duration_s"]
    assert r.downtime_s - pc.Switchover().resume_s <= plan.downtime_at(t_end)
    assert r.stop_reason == "downtime_limit"


def test_kubevirt_switches_to_postcopy_when_the_completion_timeout_fires():
    # KubeVirt API: "If set to true, migrations will still start in pre-copy, but switch to post-copy when
    # CompletionTimeoutPerGiB triggers"; acceptableCompletionTime = completionTimeoutPerGiB x data size (GB)
    vm = pc.VM(memory_bytes=pc.GiB(8))
    busy = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=60_000)
    link = pc.Link.from_profile("1GbE")
    kv = O.KubeVirt(allow_post_copy=True, completion_timeout_per_gib_s=20)
    assert kv.plan(vm).completion_timeout_s == 20 * 9          # 8 GiB = 8.59 GB -> 9
    r = O.replay(vm, busy, link, kv)
    assert (r.outcome, r.stop_reason, r.trigger) == ("converged", "postcopy", "completion_timeout")
    assert 180.0 < r.precopy_time_s <= 180.0 + max(row["duration_s"] for row in r.rounds)
    assert r.downtime_s < 0.05 and r.postcopy_s > 0
    # without allowPostCopy (and no workload disruption) the same timeout aborts: the VM stays on the source
    a = O.replay(vm, busy, link, O.KubeVirt(completion_timeout_per_gib_s=20))
    assert a.outcome == "aborted" and a.downtime_s == 0.0
    # with allowWorkloadDisruption but no post-copy the guest is paused: a long downtime
    f = O.replay(vm, busy, link, O.KubeVirt(completion_timeout_per_gib_s=20, allow_workload_disruption=True))
    assert f.outcome == "forced" and f.downtime_s > 1.0


def test_libvirt_and_nova_actions():
    vm = pc.VM(memory_bytes=pc.GiB(8))
    busy = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=60_000)
    link = pc.Link.from_profile("1GbE")
    assert O.replay(vm, busy, link, O.Libvirt(timeout_s=120)).outcome == "forced"
    assert O.replay(vm, busy, link, O.Libvirt(timeout_s=120, timeout_postcopy=True)).stop_reason == "postcopy"
    r = O.replay(vm, busy, link, O.Libvirt(postcopy_after_precopy=True))
    assert r.trigger == "postcopy_after_rounds" and r.stop_reason == "postcopy" and r.n_rounds == 2
    n = O.Nova(live_migration_completion_timeout=30, live_migration_timeout_action="force_complete",
               live_migration_permit_post_copy=True)
    assert O.replay(vm, busy, link, n).stop_reason == "postcopy"
    assert O.replay(vm, busy, link, O.Nova(live_migration_completion_timeout=30)).outcome == "aborted"


def test_kubevirt_vep291_ramp_raises_the_limit_in_steps():
    vm = pc.VM(memory_bytes=pc.GiB(8))
    busy = pc.workloads.HotCold(wws_bytes=pc.MiB(160), hot_fraction=0.95, writes_per_s=40_000)
    link = pc.Link.from_profile("1GbE")
    r = O.replay(vm, busy, link, O.KubeVirt(max_downtime_ms=1050, downtime_tuning=True))
    lims = sorted({round(row["downtime_limit_s"], 3) for row in r.rounds})
    assert lims[0] == 0.15 and all(b - a == pytest.approx(0.15) for a, b in zip(lims, lims[1:]))


@pytest.mark.parametrize("bad", [dict(live_migration_downtime=50), dict(live_migration_downtime_steps=2),
                                 dict(live_migration_timeout_action="pause")])
def test_nova_rejects_out_of_range_settings(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        O.Nova(**bad).plan(pc.VM(memory_bytes=pc.GiB(1)))


def test_plans_give_controls():
    p = O.Nova().plan(pc.VM(memory_bytes=pc.GiB(1)))
    kw = p.controls_kwargs()
    assert kw["completion_timeout_s"] == 1600 and kw["completion_action"] == "abort"
    assert kw["downtime_schedule"][0] == (0.0, 0.05)


# --- precopy plan ----------------------------------------------------------------------------------------

def test_plan_finds_the_boundary_settings():
    from precopy.analytic import saturation
    from precopy.planning import plan
    vm = pc.VM(memory_bytes=pc.GiB(2))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.9, writes_per_s=40_000)
    link = pc.Link.from_profile("10GbE")
    p = plan(vm, wl, link, total_budget_s=30, downtime_budget_s=0.5, seeds=1, pareto=False)
    bw = p.least_bandwidth_bps
    sw = pc.hypervisors.get("qemu").switchover(vm.memory_bytes)     # the default: QEMU's fitted term
    assert sw.resume_s > pc.Switchover().resume_s
    assert p.baseline["downtime_limit_s"] == pytest.approx(0.5 - sw.resume_s)
    q = pc.policies.QEMU(downtime_limit_s=p.baseline["downtime_limit_s"], max_bandwidth_bps=bw, timeout_s=3600)
    a = saturation(vm, wl, link, q, sw)
    assert a.converged and a.total_time_s <= 30 and a.downtime_s <= 0.5
    below = saturation(vm, wl, link, q.with_(max_bandwidth_bps=bw / 1.01 ** 10 * 0.97), sw)
    assert not (below.converged and below.total_time_s <= 30 and below.downtime_s <= 0.5)
    assert p.confirmations["bandwidth"]["meets_budgets"] == 1.0
    assert any(name.startswith("kubevirt completionTimeoutPerGiB") for name, _, _ in p.recommendations)


def test_plan_counts_the_switchover_it_is_given():
    from precopy.planning import plan
    vm = pc.VM(memory_bytes=pc.GiB(2))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.9, writes_per_s=40_000)
    link = pc.Link.from_profile("10GbE")
    textbook = plan(vm, wl, link, total_budget_s=30, downtime_budget_s=0.5, seeds=1, pareto=False,
                    switchover=pc.Switchover())
    assert textbook.baseline["downtime_limit_s"] == pytest.approx(0.5 - pc.Switchover().resume_s)
    heavy = pc.Switchover(resume_s=0.2)          # e.g. device state that takes 200 ms to restore
    p = plan(vm, wl, link, total_budget_s=30, downtime_budget_s=0.5, seeds=1, pareto=False, switchover=heavy)
    assert p.baseline["downtime_limit_s"] == pytest.approx(0.3)
    assert p.confirmations["bandwidth"]["downtime_s"] <= 0.5
    with pytest.raises(ValueError, match="switchover must be a precopy.Switchover"):
        plan(vm, wl, link, total_budget_s=30, downtime_budget_s=0.5, switchover=0.2)


def test_plan_picks_an_aid_when_pre_copy_alone_fails():
    from precopy.planning import plan
    vm = pc.VM(memory_bytes=pc.GiB(2))
    busy = pc.workloads.HotCold(wws_bytes=pc.MiB(512), hot_fraction=0.9, writes_per_s=40_000)
    p = plan(vm, busy, pc.Link.from_profile("1GbE"), total_budget_s=120, downtime_budget_s=1.0, seeds=1,
             pareto=False)
    assert p.baseline["converged"] is False or p.baseline["total_time_s"] > 120
    assert p.gentlest_aid in ("auto-converge", "dirty-limit", "post-copy")


def test_pareto_front_is_non_dominated():
    from precopy.planning import pareto_front
    vm = pc.VM(memory_bytes=pc.GiB(2))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(128), hot_fraction=0.9, writes_per_s=30_000)
    rows = pareto_front(vm, wl, pc.Link.from_profile("1GbE"))
    front = [r for r in rows if r["pareto"]]
    assert front
    for r in front:
        assert not any(o["converged"] and o["total_time_s"] < r["total_time_s"] and o["downtime_s"] < r["downtime_s"]
                       for o in rows)


# --- scenario-table columns -----------------------------------------------------------------------

def test_operator_columns_defaults_and_values():
    from precopy.operator_columns import OPERATOR_COLUMNS, parse_columns
    s = parse_columns({})
    assert s.aids == () and s.orchestrator is None and s.streams is None and s.controls == {}
    s = parse_columns({"auto_converge": "on"})
    assert s.aids[0].initial == 0.2 and s.aids[0].increment == 0.1       # cpu-throttle-initial / -increment
    s = parse_columns({"postcopy": "on-timeout", "postcopy_after_s": "90"})
    assert s.controls == {"completion_timeout_s": 90.0, "completion_action": "postcopy"}
    s = parse_columns({"postcopy": "after-first-pass", "xbzrle_cache_mib": 64, "dirty_limit_mibps": 2, "vcpus": 4})
    kinds = sorted(type(a).__name__ for a in s.aids)
    assert kinds == ["DirtyLimit", "PostCopy", "XBZRLE"] and s.aids[2].vcpus == 4
    s = parse_columns({"orchestrator": "kubevirt", "kubevirt_allow_post_copy": "true",
                       "kubevirt_completion_timeout_per_gib_s": 20})
    assert s.orchestrator.allow_post_copy and s.orchestrator.completion_timeout_per_gib_s == 20
    s = parse_columns({"orchestrator": "libvirt", "libvirt_timeout_s": 60, "libvirt_timeout_action": "postcopy"})
    assert s.orchestrator.timeout_postcopy
    assert len(set(OPERATOR_COLUMNS)) == len(OPERATOR_COLUMNS)


@pytest.mark.parametrize("row, col", [
    ({"auto_converge": "maybe"}, "auto_converge"),
    ({"auto_converge_initial_pct": 30}, "auto_converge_initial_pct"),
    ({"auto_converge": "on", "auto_converge_initial_pct": 150}, "auto_converge_initial_pct"),
    ({"postcopy": "on-timeout"}, "postcopy_after_s"),
    ({"postcopy_after_s": 5}, "postcopy_after_s"),
    ({"xbzrle_cache_mib": 3}, "xbzrle_cache_mib"),
    ({"vcpus": 2}, "vcpus"),
    ({"auto_converge": "on", "dirty_limit_mibps": 1}, "dirty_limit_mibps"),
    ({"multifd_channels": 4, "_streams": 2}, "multifd_channels"),
    ({"orchestrator": "vmware"}, "orchestrator"),
    ({"nova_downtime_ms": 400}, "nova_downtime_ms"),
    ({"orchestrator": "nova", "nova_downtime_ms": 50}, "live_migration_downtime"),
    ({"orchestrator": "nova", "nova_timeout_action": "pause"}, "nova_timeout_action"),
    ({"orchestrator": "kubevirt", "kubevirt_allow_post_copy": "perhaps"}, "kubevirt_allow_post_copy"),
    ({"orchestrator": "kubevirt", "auto_converge": "on"}, "auto_converge"),
    ({"orchestrator": "kubevirt", "_downtime": True}, "downtime_limit_ms"),
    ({"orchestrator": "nova", "_policy": "xen"}, "orchestrator"),
    ({"auto_converge": "on", "_policy": "vmware"}, "auto_converge"),
])
def test_operator_columns_errors_name_the_column(row, col):
    from precopy.operator_columns import parse_columns
    kw = {"policy": row.pop("_policy", "qemu"), "streams": row.pop("_streams", None),
          "downtime_limit_given": row.pop("_downtime", False)}
    with pytest.raises(ValueError, match=col):
        parse_columns(row, **kw)


@pytest.mark.parametrize("call, what", [
    (lambda: O.replay("vm", pc.workloads.Idle(), pc.Link.from_profile("1GbE"), O.Nova()), "vm"),
    (lambda: O.replay(pc.VM(memory_bytes=pc.GiB(1)), "idle", pc.Link.from_profile("1GbE"), O.Nova()), "workload"),
    (lambda: O.replay(pc.VM(memory_bytes=pc.GiB(1)), pc.workloads.Idle(), 10e9, O.Nova()), "link"),
    (lambda: O.replay(pc.VM(memory_bytes=pc.GiB(1)), pc.workloads.Idle(), pc.Link.from_profile("1GbE"), "nova"),
     "orchestrator"),
    (lambda: O.get("ovirt"), "orchestrator"),
    (lambda: O.get("nova", live_migration_speed=3), "orchestrator 'nova'"),
    (lambda: O.KubeVirt(downtime_tuning=True).plan(pc.VM(memory_bytes=pc.GiB(1))), "max_downtime_ms"),
    (lambda: O.KubeVirt(completion_timeout_per_gib_s=-1).plan(pc.VM(memory_bytes=pc.GiB(1))),
     "completionTimeoutPerGiB"),
    (lambda: O.Libvirt(setmaxdowntime=[(10,)]).plan(pc.VM(memory_bytes=pc.GiB(1))), "setmaxdowntime"),
])
def test_orchestrator_bad_input_is_named(call, what):
    with pytest.raises(ValueError, match=what):
        call()


def test_plan_bad_budgets_are_named():
    from precopy.planning import plan
    vm, wl, link = pc.VM(memory_bytes=pc.GiB(1)), pc.workloads.Idle(), pc.Link.from_profile("1GbE")
    with pytest.raises(ValueError, match="total_budget_s"):
        plan(vm, wl, link, total_budget_s=0, downtime_budget_s=0.1)
    with pytest.raises(ValueError, match="downtime_budget_s"):
        plan(vm, wl, link, total_budget_s=10, downtime_budget_s=-1)
    with pytest.raises(ValueError, match="workload"):
        plan(vm, pc.workloads.Zipf(writes_per_s=10), link, total_budget_s=10, downtime_budget_s=0.1)


def test_eta_with_the_probed_workload_judges_the_first_pass():
    snaps = H.read_job_stats(H.example_path("virsh_domjobinfo_series.txt"))
    fit = H.fit_dirty_rate(H.read_dirty_rate(H.example_path("qmp_dirty_rate_sampling.json")))
    est = E.estimate_series(snaps, workload=fit.workload)
    assert est[0].verdict == "not converging"                 # known in the bulk pass, 100 s before the data says so
    assert E.estimate_series(snaps)[0].verdict == "first pass"
    # the converging example's guest (make_examples.py): a 512 MiB hot set, 90 % of 40,000 writes/s
    conv = H.read_job_stats(H.example_path("qmp_query_migrate_series.json"))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(512), hot_fraction=0.9, writes_per_s=40_000)
    e = E.estimate_series(conv, workload=wl)
    assert e[0].verdict == "converging" and e[0].downtime_s < 0.3
    assert all(np.diff([x.progress for x in e]) >= 0)
    # the outlook in the bulk pass: the bulk pass ends at ~7.6 s and one more round follows
    assert e[0].finish_s == pytest.approx(conv[-1].elapsed_s, abs=1.5)


def test_truncated_json_lines_names_the_line():
    lines = text("qmp_dirty_rate_sampling.json").splitlines()
    lines[3] = lines[3][:40]
    with pytest.raises(ValueError, match="truncated or invalid JSON at line 4"):
        H.parse_dirty_rate("\n".join(lines))


# --- the page-level simulator with the orchestrator's controls (needs precopy.policies.Controls) -------

needs_controls = pytest.mark.skipif(not hasattr(pc.policies, "Controls"),
                                    reason="the simulator's run-time controls (precopy.policies.Controls) are not here")


@needs_controls
def test_simulated_nova_steps_and_kubevirt_actions_agree_with_the_replay():
    link = pc.Link.from_profile("1GbE")
    vm = pc.VM(memory_bytes=pc.GiB(4))
    wl = pc.workloads.HotCold(wws_bytes=pc.MiB(24), hot_fraction=0.95, writes_per_s=20_000)
    nova = O.Nova(live_migration_downtime_delay=5)
    r = O.replay(vm, wl, link, nova)
    sims = [O.simulate(vm, wl, link, nova, seed=s) for s in range(3)]
    assert all(s.outcome == "converged" for s in sims)
    assert np.mean([s.total_time_s for s in sims]) == pytest.approx(r.total_time_s, rel=0.05)
    vm8 = pc.VM(memory_bytes=pc.GiB(8))
    busy = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=60_000)
    for kv, outcome, reason in [(O.KubeVirt(allow_post_copy=True, completion_timeout_per_gib_s=20), "converged",
                                 "postcopy"),
                                (O.KubeVirt(completion_timeout_per_gib_s=20), "aborted", "aborted"),
                                (O.KubeVirt(completion_timeout_per_gib_s=20, allow_workload_disruption=True),
                                 "forced", "forced")]:
        s = O.simulate(vm8, busy, link, kv, seed=1)
        r = O.replay(vm8, busy, link, kv)
        assert (s.outcome, s.stop_reason) == (r.outcome, r.stop_reason) == (outcome, reason)
        assert s.total_time_s == pytest.approx(r.total_time_s, rel=0.05)
        assert s.downtime_s == pytest.approx(r.downtime_s, rel=0.05, abs=0.002)


@needs_controls
def test_simulated_vep291_ramp_follows_the_replay():
    link = pc.Link.from_profile("1GbE")
    vm = pc.VM(memory_bytes=pc.GiB(8))
    busy = pc.workloads.HotCold(wws_bytes=pc.MiB(160), hot_fraction=0.95, writes_per_s=40_000)
    kv = O.KubeVirt(max_downtime_ms=1050, downtime_tuning=True)
    # the replay iterates whole passes: compare it with the simulator's pass cadence
    import dataclasses
    plan = kv.plan(vm)
    plan = dataclasses.replace(plan, policy=plan.policy.with_(sync_cadence="pass"))
    r = O.replay(vm, busy, link, plan)
    s = O.simulate(vm, busy, link, plan, seed=0)
    assert s.outcome == r.outcome == "converged"
    assert s.total_time_s == pytest.approx(r.total_time_s, rel=0.1)
    # QEMU's own cadence converges too
    assert O.simulate(vm, busy, link, kv, seed=0).outcome == "converged"


def test_query_migrate_series_skips_setup_and_reads_completed():
    first = json.dumps({"return": {"status": "setup"}})
    done = json.loads(text("qmp_query_migrate.json"))
    done["return"].update(status="completed", downtime=180)
    done["return"]["ram"]["remaining"] = 0
    snaps = H.parse_job_stats("\n".join([first, text("qmp_query_migrate.json").replace("\n", ""),
                                         json.dumps(done)]))
    assert len(snaps) == 2 and snaps[-1].status == "completed" and snaps[-1].downtime_s == 0.18
    e = E.estimate_series(snaps)
    assert e[-1].verdict == "completed" and e[-1].progress == 1.0


@needs_controls
def test_columns_applied_to_a_row_run_in_the_simulator():
    from precopy.operator_columns import apply, parse_columns
    vm = pc.VM(memory_bytes=pc.GiB(8))
    busy = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=60_000)
    link = pc.Link.from_profile("1GbE")
    base = pc.policies.QEMU(max_bandwidth_bps=None, timeout_s=3600)
    s = parse_columns({"postcopy": "on-timeout", "postcopy_after_s": 100})
    pol, aids = apply(s, vm, base)
    r = pc.simulate(vm, busy, link, pol, seed=0, aids=aids)
    assert r.stop_reason == "postcopy" and 100 <= r.precopy_time_s < 130
    s = parse_columns({"orchestrator": "nova", "nova_completion_timeout_s": 30})      # 30 s x 8 GiB, abort
    pol, aids = apply(s, vm, base)
    assert pol.controls.downtime_schedule[0] == (0.0, 0.05)
    r = pc.simulate(vm, busy, link, pol, seed=0, aids=aids)
    assert r.outcome == "aborted" and 240 <= r.total_time_s < 280
