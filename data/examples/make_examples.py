"""Write the example hypervisor reports in precopy/data/examples/: SYNTHETIC, written to the schemas.

None of these files was captured from a hypervisor.  Each is written to the
documented schema of its source (QEMU ``qapi/migration.json``: ``DirtyRateInfo``,
``MigrationInfo``; libvirt ``virsh domstats --dirtyrate`` and ``virsh
domjobinfo`` as the virsh manual and ``tools/virsh-domain*.c`` print them), and
its numbers come from precopy's own page-level simulator running a stated model
guest, so that the parsers, ``precopy eta`` and ``precopy plan`` have realistic
input.  Run:  python data/examples/make_examples.py
"""

import json
import math
from pathlib import Path

import numpy as np

import precopy as pc
from precopy import workloads as W
from precopy.workload_fit import sample_dirty_pages

HERE = Path(__file__).resolve().parents[2] / "precopy" / "data" / "examples"
#: The model guest of the dirty-rate probes: 8 GiB, a 1 GiB hot set taking 90 % of
#: 60,000 page writes/s (234 MiB/s of page writes).
VM = pc.VM(memory_bytes=pc.GiB(8))
BUSY = W.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=60_000)
WINDOWS_S = (1, 2, 4, 8, 16, 32)
START = 1_764_000_000          # a QEMU realtime-clock start-time, seconds


def _rates_mibps(windows, seed):
    d = sample_dirty_pages(VM, BUSY, list(windows), seed=seed)
    return [int(math.floor(di * VM.page_bytes / t / 2**20)) for di, t in zip(d, windows)]   # QEMU truncates


def dirty_rate_files():
    rates = _rates_mibps(WINDOWS_S, seed=11)
    # page sampling: one calc-dirty-rate / query-dirty-rate exchange per window, as a QMP transcript (JSON Lines)
    lines = [json.dumps({"return": {"base-memory": VM.memory_bytes, "plugged-memory": 0}})]
    t0 = START
    for t, r in zip(WINDOWS_S, rates):
        lines.append(json.dumps({"return": {"status": "measured", "sample-pages": 512, "dirty-rate": r,
                                            "mode": "page-sampling", "start-time": t0, "calc-time": t,
                                            "calc-time-unit": "second"}}))
        t0 += t + 1
    (HERE / "qmp_dirty_rate_sampling.json").write_text("\n".join(lines) + "\n")
    # dirty ring, 4 vCPUs: one 1-second window; the guest's writes split unevenly over the vCPUs
    r1 = _rates_mibps([1], seed=12)[0]
    share = np.array([0.55, 0.25, 0.15, 0.05])
    per = [int(x) for x in np.floor(share * r1)]
    msg = {"return": {"status": "measured", "sample-pages": 0, "dirty-rate": r1, "mode": "dirty-ring",
                      "start-time": START, "calc-time": 1000, "calc-time-unit": "millisecond",
                      "vcpu-dirty-rate": [{"id": i, "dirty-rate": x} for i, x in enumerate(per)]}}
    (HERE / "qmp_dirty_rate_ring.json").write_text(json.dumps(msg, indent=2) + "\n")
    # dirty bitmap: three windows in one JSON array
    wins = (1, 4, 16)
    rb = _rates_mibps(wins, seed=13)
    arr = [{"return": {"status": "measured", "sample-pages": 0, "dirty-rate": r, "mode": "dirty-bitmap",
                       "start-time": START + 100 * i, "calc-time": t, "calc-time-unit": "second"}}
           for i, (t, r) in enumerate(zip(wins, rb))]
    (HERE / "qmp_dirty_rate_bitmap.json").write_text(json.dumps(arr, indent=2) + "\n")
    # virsh domstats --dirtyrate --balloon after domdirtyrate-calc, once per window
    blocks = []
    rv = _rates_mibps((1, 4, 16), seed=14)
    for i, (t, r) in enumerate(zip((1, 4, 16), rv)):
        blocks.append("\n".join([
            "Domain: 'web01'",
            f"  balloon.current={VM.memory_bytes // 1024}",
            f"  balloon.maximum={VM.memory_bytes // 1024}",
            "  dirtyrate.calc_status=2",
            f"  dirtyrate.calc_start_time={START + 100 * i}",
            f"  dirtyrate.calc_period={t}",
            f"  dirtyrate.megabytes_per_second={r}",
            "  dirtyrate.calc_mode=page-sampling"]))
    (HERE / "virsh_domstats_dirtyrate.txt").write_text("\n\n".join(blocks) + "\n")


def _snapshots(r, every_s, t_end_s):
    """Statistics every ``every_s`` seconds of a simulated migration, as QEMU counts them:
    remaining = the dirty bitmap (falls while a round sends, jumps at each sync)."""
    t = r.rounds
    out = []
    page = r.rounds["bytes_sent"][0] / max(r.rounds["pages_sent"][0], 1)
    for k in range(1, int(t_end_s / every_s) + 1):
        now = k * every_s
        live = [i for i in range(len(t)) if not t["stop_copy"][i] and t["start_s"][i] <= now]
        if not live:
            break
        i = live[-1]
        if now > t["start_s"][i] + t["duration_s"][i] and i == len(t) - 2:
            break                                   # pre-copy over
        frac = min(1.0, (now - t["start_s"][i]) / t["duration_s"][i])
        sent_before = float(np.sum(t["bytes_sent"][:i]))
        rem = float(t["pages_sent"][i]) * (1 - frac) * 4096
        prev_rate = 0 if i == 0 else int(t["pages_dirtied"][i - 1] / t["duration_s"][i - 1])
        out.append(dict(now=now, transferred=int(sent_before + frac * t["bytes_sent"][i]), remaining=int(rem),
                        iteration=i + 1, dirty_pages_rate=prev_rate, rate_Bps=r.rate_bps / 8.0,
                        expected_downtime_ms=int(float(t["pages_sent"][i]) * page / (r.rate_bps / 8) * 1e3)))
    return out, page


def pretty(nbytes):
    """virsh's vshPrettyCapacity: the largest binary unit that keeps the value >= 1, 3 decimals."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    i = 0
    x = float(nbytes)
    while x >= 1024 and i < len(units) - 1:
        x /= 1024
        i += 1
    return f"{x:.3f} {units[i]}"


def job_files():
    vm = pc.VM(memory_bytes=pc.GiB(8))
    # converging: 10 Gbit/s, unlimited pre-copy (libvirt's setting)
    link = pc.Link.from_profile("10GbE")
    wl = W.HotCold(wws_bytes=pc.MiB(512), hot_fraction=0.9, writes_per_s=40_000)
    r = pc.simulate(vm, wl, link, pc.policies.QEMU(max_bandwidth_bps=None), seed=21)
    snaps, _ = _snapshots(r, 0.5, r.precopy_time_s)
    lines = []
    for s in snaps:
        lines.append(json.dumps({"return": {
            "status": "active", "setup-time": 9, "total-time": int(s["now"] * 1000),
            "expected-downtime": s["expected_downtime_ms"],
            "ram": {"transferred": s["transferred"], "remaining": s["remaining"], "total": vm.memory_bytes,
                    "duplicate": 0, "normal": s["transferred"] // 4104, "normal-bytes": s["transferred"] // 4104 * 4096,
                    "dirty-pages-rate": s["dirty_pages_rate"], "mbps": round(s["rate_Bps"] * 8 / 1e6, 3),
                    "dirty-sync-count": s["iteration"], "postcopy-requests": 0, "page-size": 4096,
                    "multifd-bytes": 0, "pages-per-second": int(s["rate_Bps"] / 4104),
                    "precopy-bytes": s["transferred"], "downtime-bytes": 0, "postcopy-bytes": 0,
                    "dirty-sync-missed-zero-copy": 0}}}))
    (HERE / "qmp_query_migrate_series.json").write_text("\n".join(lines) + "\n")
    # one snapshot on its own
    (HERE / "qmp_query_migrate.json").write_text(json.dumps(json.loads(lines[len(lines) // 2]), indent=2) + "\n")
    # not converging: the busy guest under a 128 MiB/s cap (QEMU's max-bandwidth default)
    r2 = pc.simulate(vm, BUSY, link, pc.policies.QEMU(timeout_s=240), seed=22)
    snaps2, _ = _snapshots(r2, 10.0, 230.0)
    blocks = []
    for s in snaps2:
        blocks.append("\n".join([
            "Job type:         Unbounded",
            "Operation:        Outgoing migration",
            f"Time elapsed:     {int(s['now'] * 1000):<12d} ms",
            f"Data processed:   {pretty(s['transferred'])}",
            f"Data remaining:   {pretty(s['remaining'])}",
            f"Data total:       {pretty(vm.memory_bytes)}",
            f"Memory processed: {pretty(s['transferred'])}",
            f"Memory remaining: {pretty(s['remaining'])}",
            f"Memory total:     {pretty(vm.memory_bytes)}",
            f"Memory bandwidth: {pretty(s['rate_Bps'])}/s",
            f"Dirty rate:       {s['dirty_pages_rate']:<12d} pages/s",
            "Page size:        4096         bytes",
            f"Iteration:        {s['iteration']}",
            "Postcopy requests: 0",
            "Constant pages:   0",
            f"Normal pages:     {s['transferred'] // 4104}",
            f"Normal data:      {pretty(s['transferred'] // 4104 * 4096)}",
            f"Expected downtime: {s['expected_downtime_ms']:<11d} ms",
            "Setup time:       9            ms"]))
    (HERE / "virsh_domjobinfo_series.txt").write_text("\n\n".join(blocks) + "\n")
    (HERE / "virsh_domjobinfo.txt").write_text(blocks[len(blocks) // 2] + "\n")


if __name__ == "__main__":
    dirty_rate_files()
    job_files()
    print(sorted(p.name for p in HERE.iterdir()))
