"""Storage VMotion: the three strategies, their twins, and disk + memory migration."""

import numpy as np
import pytest

import precopy as pc
from precopy import storage as S
from precopy import workloads as W

import naive

pytestmark = pytest.mark.usefixtures("per_write_path")

DISK = S.Disk(size_bytes=pc.GiB(1))                         # 16384 blocks of 64 KiB
PATH = S.StoragePath(rate_Bps=pc.MiBps(200), rtt_s=0.0005)
HEAVY = W.Uniform(writes_per_s=4_000)                        # 250 MiB/s of block writes > 200 MiB/s path
LIGHT = W.HotCold(wws_bytes=pc.MiB(128), hot_fraction=0.9, writes_per_s=800)


# --- the mirror kernel and its twin agree exactly ----------------------------------------

SMALL = S.Disk(size_bytes=pc.KiB(64) * 3000)
SMALL_PATH = S.StoragePath(rate_Bps=pc.MiBps(50), rtt_s=0.0002, dst_extra_write_latency_s=0.0001)


def _small_workloads():
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0, 0.5, 2000))
    return {
        "hotcold": W.HotCold(wws_bytes=pc.KiB(64) * 300, hot_fraction=0.8, writes_per_s=1500),
        "hot-at-end": W.HotCold(wws_bytes=pc.KiB(64) * 300, writes_per_s=1500, offset_bytes=pc.KiB(64) * 2700),
        "uniform-heavy": W.Uniform(writes_per_s=2000),
        "sequential": W.Sequential(region_bytes=pc.KiB(64) * 500, writes_per_s=900),
        "zipf": W.Zipf(s=1.2, writes_per_s=1200),
        "trace": W.Trace(times_s=times, pages=rng.integers(0, 3000, len(times)), duration_s=0.5, loop=True),
        "idle": W.Idle(),
    }


def _mirror_both(wl, depth, timeout_s=20.0, seed=4):
    strat = S.Mirror(io_depth=depth, timeout_s=timeout_s)
    r = S.migrate_disk(SMALL, wl, SMALL_PATH, strat, seed=seed)
    t_block = SMALL.block_bytes / SMALL_PATH.rate_Bps
    ref = naive.mirror(SMALL.as_vm(), wl, t_block, SMALL_PATH.rtt_s + SMALL_PATH.dst_extra_write_latency_s,
                       depth or 0, timeout_s, seed=seed)
    return r, ref


@pytest.mark.parametrize("wl_name", list(_small_workloads()))
@pytest.mark.parametrize("depth", [1, 4, 32, None])
def test_mirror_kernel_matches_naive(wl_name, depth):
    wl = _small_workloads()[wl_name]
    r, (t, writes, mirrored, reason, copied, stall, lat_sum, lat_max) = _mirror_both(wl, depth)
    assert r.copy_time_s == t and r.writes == writes and r.mirrored_writes == mirrored
    assert r.converged == (reason == 1) and r.blocks_sent == copied + mirrored
    assert r.guest_stall_s == stall and r.max_write_latency_added_s == lat_max
    assert r.write_latency_added_s == (lat_sum / mirrored if mirrored else 0.0)


def test_mirror_twin_comparison_exercises_backpressure_and_timeout():
    wl = _small_workloads()["uniform-heavy"]
    r, _ = _mirror_both(wl, 4)
    assert r.guest_stall_s > 0 and r.converged
    r, ref = _mirror_both(wl, None, timeout_s=2.0)
    assert not r.converged and ref[3] == 7 and r.copy_time_s == 2.0


# --- dirty block tracking and snapshot run the pre-copy kernel over blocks ---------------

def test_dbt_is_precopy_over_blocks_and_matches_the_twin():
    strat = S.DirtyBlockTracking(downtime_target_s=0.05, max_passes=12, timeout_s=60)
    r = S.migrate_disk(SMALL, _small_workloads()["hotcold"], SMALL_PATH, strat, seed=2)
    ref = naive.simulate(SMALL.as_vm(), _small_workloads()["hotcold"], pc.Link(rate_bps=SMALL_PATH.rate_Bps * 8,
                         mtu=None), strat._policy(), seed=2, switchover=pc.Switchover(resume_s=0.0))
    assert r.copy_time_s == ref["precopy_time_s"] and r.final_transfer_s == ref["final_transfer_s"]
    assert r.n_rounds == ref["n_rounds"] and r.stop_reason == ref["stop_reason"]
    assert list(r.rounds["blocks_dirtied"]) == [x["pages_dirtied"] for x in ref["rounds"]]
    assert r.downtime_s == r.final_transfer_s + r.switch_s
    assert r.total_time_s == pytest.approx(r.copy_time_s + r.downtime_s, rel=1e-12)


@pytest.mark.parametrize("commit_Bps", [None, pc.MiBps(80), float("inf")])
def test_snapshot_matches_the_twin(commit_Bps):
    strat = S.Snapshot(downtime_target_s=0.05, max_commits=10, commit_Bps=commit_Bps, timeout_s=60)
    wl = _small_workloads()["hotcold"]
    r = S.migrate_disk(SMALL, wl, SMALL_PATH, strat, seed=2)
    c_rate = SMALL_PATH.rate_Bps if commit_Bps is None else commit_Bps
    t = SMALL.block_bytes / SMALL_PATH.rate_Bps + SMALL.block_bytes / c_rate
    override = {} if commit_Bps == float("inf") else dict(t_full=t, tf_full=t, decision=SMALL.block_bytes / t,
                                                          uniform=False)
    ref = naive.simulate(SMALL.as_vm(), wl, pc.Link(rate_bps=SMALL_PATH.rate_Bps * 8, mtu=None), strat._policy(),
                         seed=2, cost_override=override)
    assert r.copy_time_s == ref["precopy_time_s"] and r.final_transfer_s == ref["final_transfer_s"]
    assert r.n_rounds == ref["n_rounds"] and r.stop_reason == ref["stop_reason"]
    dirtied = [x["pages_dirtied"] for x in ref["rounds"] if not x["stop_copy"]]
    assert r.delta_bytes == dirtied[0] * SMALL.block_bytes
    assert r.delta_total_bytes == sum(dirtied) * SMALL.block_bytes
    assert r.peak_delta_bytes == max(dirtied) * SMALL.block_bytes


def test_snapshot_with_instant_commit_moves_what_dbt_moves():
    wl = _small_workloads()["hotcold"]
    snap = S.migrate_disk(SMALL, wl, SMALL_PATH, S.Snapshot(downtime_target_s=0.05, commit_Bps=float("inf")), seed=1)
    dbt = S.migrate_disk(SMALL, wl, SMALL_PATH, S.DirtyBlockTracking(downtime_target_s=0.05), seed=1)
    assert snap.bytes_sent == dbt.bytes_sent and snap.total_time_s == dbt.total_time_s
    slow = S.migrate_disk(SMALL, wl, SMALL_PATH, S.Snapshot(downtime_target_s=0.05), seed=1)
    assert slow.commit_s > snap.commit_s > 0


def test_snapshot_delta_grows_with_the_write_rate():
    deltas, commits = [], []
    for wps in (100, 300, 900, 2700):
        wl = W.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.5, writes_per_s=wps)
        r = S.migrate_disk(DISK, wl, PATH, S.Snapshot(timeout_s=200), seed=1)
        deltas.append(r.delta_bytes)
        commits.append(r.commit_s)
        # the first delta is what was written while the base was copied
        assert r.rounds["duration_s"][0] == pytest.approx(DISK.size_bytes / PATH.rate_Bps)
    assert all(b > a for a, b in zip(deltas, deltas[1:]))
    assert all(b > a for a, b in zip(commits, commits[1:]))
    assert deltas[-1] <= DISK.size_bytes


# --- mirroring always converges; its costs ------------------------------------------------

def test_mirror_converges_where_dirty_block_tracking_does_not():
    dbt = S.migrate_disk(DISK, HEAVY, PATH, S.DirtyBlockTracking(timeout_s=120), seed=1)
    snap = S.migrate_disk(DISK, HEAVY, PATH, S.Snapshot(timeout_s=120), seed=1)
    mir = S.migrate_disk(DISK, HEAVY, PATH, S.Mirror(), seed=1)
    assert not dbt.converged and dbt.stop_reason == "timeout" and dbt.downtime_s > 1.0
    assert not snap.converged
    assert mir.converged and mir.n_rounds == 1 and mir.final_blocks == 0
    assert mir.downtime_s == mir.switch_s == pc.Switchover().resume_s
    # the costs: mirrored bandwidth and write latency, both reported
    assert mir.mirrored_writes > 0 and mir.mirrored_bytes == mir.mirrored_writes * DISK.block_bytes
    assert mir.mirror_rate_Bps == pytest.approx(mir.mirrored_bytes / mir.copy_time_s)
    assert mir.bytes_sent == DISK.size_bytes + mir.mirrored_bytes
    floor = PATH.rtt_s + DISK.block_bytes / PATH.rate_Bps
    assert mir.write_latency_added_s >= floor and mir.max_write_latency_added_s >= mir.write_latency_added_s
    assert 0 < mir.mean_write_latency_added_s < mir.write_latency_added_s
    assert mir.guest_stall_s > 0                      # the guest's writes were held back
    assert "mirrored" in mir.summary()


def test_mirror_of_an_idle_disk_is_one_plain_copy():
    r = S.migrate_disk(DISK, W.Idle(), PATH, "mirror")
    assert r.copy_time_s == pytest.approx(DISK.size_bytes / PATH.rate_Bps)
    assert r.mirrored_writes == 0 and r.write_latency_added_s == 0 and r.mean_write_latency_added_s == 0


def test_mirror_only_mirrors_blocks_already_copied():
    first = W.HotCold(wws_bytes=pc.MiB(64), hot_fraction=1.0, writes_per_s=500)
    last = W.HotCold(wws_bytes=pc.MiB(64), hot_fraction=1.0, writes_per_s=500,
                     offset_bytes=DISK.size_bytes - pc.MiB(64))
    a = S.migrate_disk(DISK, first, PATH, "mirror", seed=1)
    b = S.migrate_disk(DISK, last, PATH, "mirror", seed=1)
    assert a.mirrored_writes > 20 * max(b.mirrored_writes, 1)
    assert a.writes == pytest.approx(500 * a.copy_time_s, abs=2)


def test_mirror_latency_follows_the_path():
    near = S.migrate_disk(DISK, LIGHT, PATH, "mirror", seed=1)
    far = S.migrate_disk(DISK, LIGHT, S.StoragePath(rate_Bps=PATH.rate_Bps, rtt_s=0.01,
                                                  dst_extra_write_latency_s=0.002), "mirror", seed=1)
    assert far.write_latency_added_s - near.write_latency_added_s == pytest.approx(0.0115, rel=0.05)


def test_mirror_without_backpressure_can_starve_the_copy():
    r = S.migrate_disk(DISK, HEAVY, PATH, S.Mirror(io_depth=None, timeout_s=100), seed=1)
    assert not r.converged and r.stop_reason == "timeout"


def test_shallower_queues_stall_the_guest_more_and_copy_faster():
    deep = S.migrate_disk(DISK, HEAVY, PATH, S.Mirror(io_depth=32), seed=1)
    one = S.migrate_disk(DISK, HEAVY, PATH, S.Mirror(io_depth=1), seed=1)
    assert one.copy_time_s < deep.copy_time_s
    assert one.mirrored_writes < deep.mirrored_writes
    assert one.write_latency_added_s < deep.write_latency_added_s


def test_strategies_compared_on_a_light_workload():
    res = {name: S.migrate_disk(DISK, LIGHT, PATH, name, seed=1) for name in S.STRATEGIES}
    assert all(r.converged for r in res.values())
    assert res["mirror"].downtime_s < res["dirty-block-tracking"].downtime_s
    assert res["snapshot"].delta_bytes > 0 and res["dirty-block-tracking"].delta_bytes == 0
    for r in res.values():
        assert r.bytes_sent >= DISK.size_bytes
        assert set(r.downtime_parts) == {"final_transfer_s", "switch_s"}


def test_same_seed_same_storage_result():
    for name in S.STRATEGIES:
        a = S.migrate_disk(DISK, LIGHT, PATH, name, seed=9)
        b = S.migrate_disk(DISK, LIGHT, PATH, name, seed=9)
        assert a.total_time_s == b.total_time_s and a.rounds == b.rounds


# --- disk then memory, over one network ---------------------------------------------------

VM = pc.VM(memory_bytes=pc.GiB(1))
MEM_WL = W.HotCold(wws_bytes=pc.MiB(64), writes_per_s=20_000)
LINK = pc.Link(rate_bps=pc.Gbps(10))


def test_combined_migration_reports_both_phases():
    dwl = W.HotCold(wws_bytes=pc.MiB(256), writes_per_s=2_000)
    r = S.migrate_vm(VM, MEM_WL, LINK, "qemu", DISK, dwl, seed=1)
    assert r.converged and r.storage.strategy == "mirror"
    assert r.downtime_s == r.memory.downtime_s and r.downtime_parts == r.memory.downtime_parts
    assert r.total_time_s == pytest.approx(r.storage.copy_time_s + r.memory.total_time_s, rel=1e-12)
    assert r.storage.switch_s == 0                     # the disk switches with the memory
    mirror_bps = 2_000 * DISK.block_bytes * 8
    assert r.memory.final_rate_bps == pytest.approx(LINK.goodput_bps - mirror_bps)
    assert r.memory_phase_mirrored_bytes == pytest.approx(2_000 * DISK.block_bytes * r.memory.precopy_time_s)
    assert r.bytes_sent == pytest.approx(r.storage.bytes_sent + r.memory_phase_mirrored_bytes + r.memory.bytes_sent)
    t = r.rounds
    assert list(t["phase"]) == ["disk"] + ["memory"] * len(r.memory.rounds)
    assert t["start_s"][1] == pytest.approx(r.storage.copy_time_s)
    assert "disk + memory" in r.summary()
    # the disk's mirrored writes slow the memory phase
    alone = pc.simulate(VM, MEM_WL, LINK, "qemu", seed=1)
    assert r.memory.total_time_s > alone.total_time_s


def test_combined_rejects_what_cannot_work():
    with pytest.raises(ValueError, match="writes_per_s"):
        S.migrate_vm(VM, MEM_WL, LINK, "qemu", DISK, W.Uniform(writes_per_s=40_000))
    with pytest.raises(ValueError, match="Mirror"):
        S.migrate_vm(VM, MEM_WL, LINK, "qemu", DISK, LIGHT, strategy=S.DirtyBlockTracking())


def test_combined_with_aids():
    busy = W.HotCold(wws_bytes=pc.MiB(256), writes_per_s=50_000)
    r = S.migrate_vm(VM, busy, LINK, pc.policies.QEMU(timeout_s=120), DISK, LIGHT, seed=1,
                     aids=[pc.aids.AutoConverge()])
    assert r.converged and r.memory.guest_slowdown_s > 0


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("make, name", [
    (lambda: S.Disk(size_bytes=0), "size_bytes"),
    (lambda: S.Disk(size_bytes=pc.MiB(1), block_bytes=3000), "block_bytes"),
    (lambda: S.Disk(size_bytes=pc.MiB(1) + 1), "size_bytes"),
    (lambda: S.Disk(size_bytes=2**50, block_bytes=512), "size_bytes"),
    (lambda: S.StoragePath(rate_Bps=0), "rate_Bps"),
    (lambda: S.StoragePath(rate_Bps=1e8, rtt_s=-1), "rtt_s"),
    (lambda: S.StoragePath(rate_Bps=1e8, dst_extra_write_latency_s=20), "dst_extra_write_latency_s"),
    (lambda: S.DirtyBlockTracking(downtime_target_s=0), "downtime_target_s"),
    (lambda: S.DirtyBlockTracking(max_passes=1), "max_passes"),
    (lambda: S.Snapshot(max_commits=0), "max_commits"),
    (lambda: S.Snapshot(commit_Bps=1), "commit_Bps"),
    (lambda: S.Mirror(io_depth=0), "io_depth"),
    (lambda: S.Mirror(timeout_s=0), "timeout_s"),
    (lambda: S.migrate_disk(DISK, LIGHT, PATH, "rsync"), "strategy"),
    (lambda: S.migrate_disk(DISK, LIGHT, PATH, S.DirtyBlockTracking(timeout_s=1)), "timeout_s"),
    (lambda: S.migrate_disk(DISK, W.HotCold(wws_bytes=pc.GiB(2), writes_per_s=10), PATH), "wws_bytes"),
    (lambda: S.migrate_disk(DISK, LIGHT, PATH, seed=-1), "seed"),
])
def test_bad_storage_input_names_the_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make()


# --- command line ---------------------------------------------------------------------------

def test_cli_storage_compares_the_strategies(capsys):
    from precopy.cli import main
    assert main(["storage", "--disk", "1GiB", "--path-rate", "200MiB/s", "--write-rate", "250MiB/s",
                 "--timeout", "120s", "--rtt", "0.5ms"]) == 0
    out = capsys.readouterr().out
    assert "storage snapshot: did NOT converge" in out and "storage dirty-block-tracking: did NOT converge" in out
    assert "storage mirror: converged" in out and "mirrored" in out
    assert main(["storage", "--disk", "1GiB", "--path-rate", "fast"]) == 2
    assert "--path-rate" in capsys.readouterr().err


def test_cli_simulate_with_aids(capsys):
    from precopy.cli import main
    base = ["simulate", "--memory", "1GiB", "--wws", "256MiB", "--write-rate", "195MiB/s", "--link", "10GbE"]
    assert main(base + ["--auto-converge", "--xbzrle", "64MiB"]) == 0
    out = capsys.readouterr().out
    assert "aids: auto-converge, xbzrle" in out and "guest slowdown" in out and "XBZRLE:" in out
    assert main(base + ["--postcopy"]) == 0
    assert "post-copy:" in capsys.readouterr().out
    assert main(base + ["--sdps", "--dirty-limit", "1MiB/s"]) == 2
    assert "at most one guest-slowdown aid" in capsys.readouterr().err
    assert main(base + ["--compress", "0.5"]) == 2
    assert "--compress" in capsys.readouterr().err
