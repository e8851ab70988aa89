"""Storage VMotion: moving a running VM's disk, and disk + memory without shared storage.

A :class:`Disk` is to storage migration what a :class:`~precopy.VM` is to memory
migration: a size and a block size, the block being the unit the copier tracks.
Its guest writes reuse the memory workload models over blocks instead of pages
(``HotCold(wws_bytes=..., writes_per_s=<block writes per second>)``).  A
:class:`StoragePath` is the copy path: throughput, round trip and the
destination's extra write latency.

The three generations VMware shipped, each a strategy (reference section 3):

* :class:`Snapshot` (ESX 3.5): guest writes go to a delta disk while the base is
  copied; the delta is then copied and committed into the destination copy while
  the writes meanwhile go to a helper delta, and so on until a helper is small
  enough to commit with the VM stunned.  Reports the delta sizes and the commit
  time.
* :class:`DirtyBlockTracking` (ESX 4.x): a full copy, then passes over the blocks
  changed during the previous pass until the rest fits the stun goal (or a pass
  cap), then a short suspend for the remainder: memory pre-copy over blocks, run
  by the same kernel.
* :class:`Mirror` (ESX 5.0): one pass; guest writes to blocks already copied are
  mirrored synchronously to both sides, so it always converges, at the cost of
  mirrored bandwidth and added write latency.  QEMU's ``blockdev-mirror`` offers
  the same two ideas as ``copy-mode=background`` (dirty-bitmap passes) and
  ``copy-mode=write-blocking`` (mirroring).

:func:`migrate_disk` runs one of them and returns a :class:`StorageResult`;
:func:`migrate_vm` moves disk then memory over one network, as vSphere 5.1+ does
without shared storage, and returns a :class:`CombinedResult`.

References
----------
A. Mashtizadeh, E. Celebi, T. Garfinkel, M. Cai, "The Design and Evolution of
Live Storage Migration in VMware ESX", USENIX ATC 2011 (the three generations;
its measurements were not readable to us, so no number here comes from it).
QEMU ``qapi/block-core.json`` (``blockdev-mirror``: ``copy-mode``, default
granularity 64 KiB).  ``docs/reference.md``, section 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from . import _validate as v
from .links import Link
from .policies import DEFAULT_TIMEOUT_S, QEMU, Policy
from .results import MigrationResult, RoundTable
from .units import KiB, parse_byte_rate, parse_seconds
from .vm import VM, Switchover
from .workloads import Workload

__all__ = ["Disk", "StoragePath", "Snapshot", "DirtyBlockTracking", "Mirror", "StorageResult",
           "CombinedResult", "migrate_disk", "migrate_vm", "STRATEGIES"]


@dataclass(frozen=True)
class Disk:
    """A virtual disk to move.

    Parameters
    ----------
    size_bytes : int
        Disk size in bytes, a whole multiple of ``block_bytes``.
    block_bytes : int, default 64 KiB
        Tracking and copy granularity: a power of two from 512 B to 1 GiB.  The
        default is ``blockdev-mirror``'s default granularity (64 KiB, QEMU
        ``qapi/block-core.json``).  A guest write is one block.

    Examples
    --------
    >>> import precopy as pc
    >>> pc.storage.Disk(size_bytes=pc.GiB(40)).n_blocks
    655360
    """

    size_bytes: int
    block_bytes: int = KiB(64)

    def __post_init__(self):
        size = v.integer(self.size_bytes, "size_bytes", "bytes", lo=1)
        block = v.integer(self.block_bytes, "block_bytes", "bytes", lo=512, hi=2**30)
        if block & (block - 1):
            raise ValueError(f"block_bytes (bytes) must be a power of two in [512, 1073741824]; got {block}")
        if size % block:
            raise ValueError(f"size_bytes (bytes) must be a whole multiple of block_bytes={block}; got {size}")
        object.__setattr__(self, "size_bytes", size)
        object.__setattr__(self, "block_bytes", block)
        self.as_vm()                     # the block-count limit of the kernel

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return self.size_bytes // self.block_bytes

    def as_vm(self) -> VM:
        """The disk seen as memory whose pages are blocks (what the kernel moves)."""
        try:
            return VM(memory_bytes=self.size_bytes, page_bytes=self.block_bytes)
        except ValueError as e:
            raise ValueError(str(e).replace("memory_bytes", "size_bytes").replace("page_bytes", "block_bytes")
                             .replace("pages", "blocks")) from None


@dataclass(frozen=True)
class StoragePath:
    """Where the copy goes: throughput and latency between the two datastores.

    Parameters
    ----------
    rate_Bps : float
        Copy throughput in bytes per second (reading the source, writing the
        destination, and the network between them if any), in [1e3, 1e13].
    rtt_s : float, default 0
        Round trip between source and destination (s): a mirrored write waits for
        the destination's acknowledgement.  0 when both datastores sit on one host.
    dst_extra_write_latency_s : float, default 0
        How much longer a write takes on the destination than on the source (s).

    Examples
    --------
    >>> import precopy as pc
    >>> pc.storage.StoragePath(rate_Bps=pc.MiBps(400)).rate_Bps
    419430400.0
    """

    rate_Bps: float
    rtt_s: float = 0.0
    dst_extra_write_latency_s: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "rate_Bps", v.real(self.rate_Bps, "rate_Bps", "bytes/s", lo=1e3, hi=1e13))
        object.__setattr__(self, "rtt_s", v.real(self.rtt_s, "rtt_s", "s", lo=0.0, hi=10.0))
        object.__setattr__(self, "dst_extra_write_latency_s",
                           v.real(self.dst_extra_write_latency_s, "dst_extra_write_latency_s", "s", lo=0.0, hi=10.0))


def _timeout(x, name):
    return v.real(x, name, "s", lo=0.0, hi=1e9, lo_open=True)


@dataclass(frozen=True)
class DirtyBlockTracking:
    """ESX 4.x Storage VMotion: iterative copy of changed blocks, then a short suspend.

    Pass 0 copies every block; each later pass copies the blocks written during
    the previous one (a dirty-block bitmap, synced between passes).  The copy
    stops when the blocks left fit ``downtime_target_s`` at the path rate, or
    after ``max_passes`` passes, or at ``timeout_s``; the VM is then suspended,
    the rest copied, and it resumes on the destination disk.  The same
    convergence risk as memory pre-copy: a disk written faster than the path
    copies never fits the target.

    Parameters
    ----------
    downtime_target_s : float, default 0.5
        Stun goal for the last copy (s), in (0, 3600].  VMware does not publish
        Storage VMotion's; the ~500 ms vMotion switchover goal is reused.
    max_passes : int or None, default None
        Most passes, the final one included (None: no cap), in [2, 1e6].
    timeout_s : float, default 3600
        Simulated-time limit.

    Examples
    --------
    >>> import precopy as pc
    >>> pc.storage.DirtyBlockTracking().downtime_target_s
    0.5
    """

    downtime_target_s: float = 0.5
    max_passes: int | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    name = "dirty-block-tracking"

    def __post_init__(self):
        object.__setattr__(self, "downtime_target_s",
                           v.real(self.downtime_target_s, "downtime_target_s", "s", lo=0.0, hi=3600.0, lo_open=True))
        if self.max_passes is not None:
            object.__setattr__(self, "max_passes", v.integer(self.max_passes, "max_passes", "passes", lo=2, hi=10**6))
        object.__setattr__(self, "timeout_s", _timeout(self.timeout_s, "timeout_s"))

    def _policy(self):
        return Policy(self.name, downtime_limit_s=self.downtime_target_s, max_rounds=self.max_passes or 0,
                      timeout_s=self.timeout_s)


@dataclass(frozen=True)
class Snapshot:
    """ESX 3.5 Storage VMotion: copy the base while writes go to a delta, then commit.

    While the base disk is copied, guest writes go to a delta disk (its size: the
    distinct blocks written, so it grows with the write rate).  The delta is then
    copied and committed into the destination copy; writes meanwhile go to a
    helper delta, which is committed next, and so on until a helper's commit fits
    ``downtime_target_s``: that one is committed with the VM stunned.  Each
    delta block is copied at the path rate and then committed at ``commit_Bps``
    (a commit reads the delta and writes the base: by default it costs as much
    as the copy).  Reports the first delta, the largest, all of them, and the
    time spent committing.

    Parameters
    ----------
    downtime_target_s : float, default 0.5
        Stun goal for the last commit (s), in (0, 3600]; as
        :class:`DirtyBlockTracking`.
    max_commits : int or None, default None
        Most live commits before the stunned one (None: no cap), in [1, 1e6].
    commit_Bps : float or None, default None
        Commit throughput (bytes/s); None: the path's rate.
    timeout_s : float, default 3600
        Simulated-time limit.

    Notes
    -----
    With the commit as fast as the copy (``commit_Bps`` infinite) the data
    moved equals :class:`DirtyBlockTracking`'s; the snapshot's costs are the
    delta disks' space, the commit, and the redo-log overhead on every guest
    write (not modelled).

    Examples
    --------
    >>> import precopy as pc
    >>> pc.storage.Snapshot().commit_Bps is None
    True
    """

    downtime_target_s: float = 0.5
    max_commits: int | None = None
    commit_Bps: float | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    name = "snapshot"

    def __post_init__(self):
        object.__setattr__(self, "downtime_target_s",
                           v.real(self.downtime_target_s, "downtime_target_s", "s", lo=0.0, hi=3600.0, lo_open=True))
        if self.max_commits is not None:
            object.__setattr__(self, "max_commits",
                               v.integer(self.max_commits, "max_commits", "commits", lo=1, hi=10**6 - 1))
        if self.commit_Bps is not None:
            object.__setattr__(self, "commit_Bps", v.real(self.commit_Bps, "commit_Bps", "bytes/s", lo=1e3,
                                                          allow_inf=True))
        object.__setattr__(self, "timeout_s", _timeout(self.timeout_s, "timeout_s"))

    def _policy(self):
        return Policy(self.name, downtime_limit_s=self.downtime_target_s,
                      max_rounds=0 if self.max_commits is None else self.max_commits + 2, timeout_s=self.timeout_s)


@dataclass(frozen=True)
class Mirror:
    """ESX 5.0 Storage VMotion: one copy pass with synchronous I/O mirroring.

    The copier walks the disk once in block order.  A guest write to a block
    already copied (or being copied) goes to both sides and completes only when
    the destination acknowledges it; a write ahead of the cursor lands on the
    source only (the copier will get to it).  The path is one first-come
    first-served queue shared by the copier (one block at a time) and the
    mirrored writes (one block each).  A mirrored write's added latency is its
    wait in that queue + one block time + ``rtt_s`` +
    ``dst_extra_write_latency_s``.  Because the writes are synchronous, a guest
    keeping at most ``io_depth`` of them in flight is held back when all are
    outstanding: its writes slow to what the path can mirror and the copier
    always keeps a share of the path, so the single pass always ends; what the
    guest pays is write latency and stalled time.  When the pass ends both sides
    are equal and the VM switches with nothing left to copy.

    Parameters
    ----------
    io_depth : int or None, default 32
        Mirrored writes the guest keeps in flight before it waits (a single
        synchronous writer has 1; None: never waits, so mirrored traffic may
        starve the copier and the pass end only at ``timeout_s``).  No source
        gives a typical guest's depth; 32 is this model's choice.
    timeout_s : float, default 3600
        Simulated-time limit.

    Examples
    --------
    >>> import precopy as pc
    >>> pc.storage.Mirror().io_depth
    32
    """

    io_depth: int | None = 32
    timeout_s: float = DEFAULT_TIMEOUT_S

    name = "mirror"

    def __post_init__(self):
        if self.io_depth is not None:
            object.__setattr__(self, "io_depth", v.integer(self.io_depth, "io_depth", "writes in flight",
                                                           lo=1, hi=2**20))
        object.__setattr__(self, "timeout_s", _timeout(self.timeout_s, "timeout_s"))


STRATEGIES = {"snapshot": Snapshot, "dirty-block-tracking": DirtyBlockTracking, "mirror": Mirror}


@dataclass(frozen=True)
class StorageResult:
    """Outcome of one simulated Storage VMotion.

    The fields shared with :class:`~precopy.MigrationResult` mean the same
    (blocks for pages): ``total_time_s = copy_time_s + downtime_s``, ``downtime_s =
    final_transfer_s + switch_s``.  Strategy-specific: ``delta_bytes`` (the
    snapshot's first delta, written while the base was copied),
    ``peak_delta_bytes``, ``delta_total_bytes`` (all deltas, the stunned one
    included), ``commit_s`` (time spent copying and committing deltas);
    ``mirrored_writes`` / ``mirrored_bytes`` / ``mirror_rate_Bps`` (mean over
    the pass), ``write_latency_added_s`` (mean over mirrored writes),
    ``max_write_latency_added_s``, ``mean_write_latency_added_s`` (averaged
    over all guest writes during the pass) and ``guest_stall_s`` (time the
    guest waited with all its mirrored writes in flight).
    """

    strategy: str
    total_time_s: float
    downtime_s: float
    copy_time_s: float
    bytes_sent: float
    blocks_sent: int
    n_rounds: int
    converged: bool
    stop_reason: str
    final_blocks: int
    final_transfer_s: float
    switch_s: float
    rate_Bps: float
    disk_bytes: int
    block_bytes: int
    writes: int
    rounds: RoundTable = field(repr=False)
    seed: int = 0
    delta_bytes: float = 0.0
    peak_delta_bytes: float = 0.0
    delta_total_bytes: float = 0.0
    commit_s: float = 0.0
    mirrored_writes: int = 0
    mirrored_bytes: float = 0.0
    mirror_rate_Bps: float = 0.0
    write_latency_added_s: float = 0.0
    max_write_latency_added_s: float = 0.0
    mean_write_latency_added_s: float = 0.0
    guest_stall_s: float = 0.0

    @property
    def data_factor(self) -> float:
        """Bytes sent over disk size."""
        return self.bytes_sent / self.disk_bytes

    @property
    def downtime_parts(self) -> dict[str, float]:
        """The stun broken into its parts (seconds)."""
        return {"final_transfer_s": self.final_transfer_s, "switch_s": self.switch_s}

    def summary(self) -> str:
        """A few readable lines."""
        verdict = "converged" if self.converged else "did NOT converge"
        lines = [f"storage {self.strategy}: {verdict} ({self.stop_reason}) after {self.n_rounds} rounds",
                 f"  total time {self.total_time_s:.3f} s, downtime {self.downtime_s * 1e3:.1f} ms "
                 f"(final {self.final_transfer_s * 1e3:.1f} + switch {self.switch_s * 1e3:.1f})",
                 f"  sent {self.bytes_sent / 2**20:.1f} MiB = {self.data_factor:.2f} x disk at "
                 f"{self.rate_Bps / 2**20:.1f} MiB/s"]
        if self.strategy == "snapshot":
            lines.append(f"  delta {self.delta_bytes / 2**20:.1f} MiB (peak {self.peak_delta_bytes / 2**20:.1f}, "
                         f"all {self.delta_total_bytes / 2**20:.1f}), commit {self.commit_s:.3f} s")
        if self.strategy == "mirror":
            lines.append(f"  mirrored {self.mirrored_writes} writes = {self.mirrored_bytes / 2**20:.1f} MiB "
                         f"({self.mirror_rate_Bps / 2**20:.2f} MiB/s), +{self.write_latency_added_s * 1e3:.3f} ms "
                         f"per mirrored write (max {self.max_write_latency_added_s * 1e3:.3f}; "
                         f"{self.mean_write_latency_added_s * 1e3:.3f} ms over all writes), "
                         f"guest stalled {self.guest_stall_s:.3f} s")
        return "\n".join(lines)


def _check_common(disk, workload, path, strategy, switchover):
    if not isinstance(disk, Disk):
        raise ValueError(f"disk must be a precopy.storage.Disk; got {type(disk).__name__}")
    if not isinstance(workload, Workload):
        raise ValueError(f"workload must be a precopy.workloads.Workload (block writes); got {type(workload).__name__}")
    if not isinstance(path, StoragePath):
        raise ValueError(f"path must be a precopy.storage.StoragePath; got {type(path).__name__}")
    if isinstance(strategy, str):
        key = strategy.strip().lower().replace("_", "-")
        if key not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}; got {strategy!r}")
        strategy = STRATEGIES[key]()
    if not isinstance(strategy, (Snapshot, DirtyBlockTracking, Mirror)):
        raise ValueError(f"strategy must be Snapshot, DirtyBlockTracking or Mirror; got {strategy!r}")
    switchover = Switchover() if switchover is None else switchover
    if not isinstance(switchover, Switchover):
        raise ValueError(f"switchover must be a precopy.Switchover; got {type(switchover).__name__}")
    vm = disk.as_vm()
    workload.validate(vm)
    return vm, strategy, switchover


def migrate_disk(disk: Disk, workload: Workload, path: StoragePath, strategy="mirror", *,
                 seed: int = 0, switchover: Switchover | None = None) -> StorageResult:
    """Simulate one Storage VMotion of ``disk`` while the guest writes ``workload``.

    Parameters
    ----------
    disk : Disk
        Size and block size.
    workload : Workload
        Guest block writes (any memory workload, over blocks: ``writes_per_s``
        is block writes per second, region sizes are bytes of the disk).
    path : StoragePath
        Copy throughput and latencies.
    strategy : Snapshot, DirtyBlockTracking, Mirror or their names, default 'mirror'
        The Storage VMotion generation.
    seed : int, default 0
        Seed of the block-choice random stream.  Same seed, same result.
    switchover : Switchover, optional
        Its ``resume_s`` is the time to switch the VM to the destination disk
        (fast suspend/resume; default 9 ms).  Nothing else moves: the VM stays on
        its host, so there is no device state or network announcement.

    Returns
    -------
    StorageResult

    Raises
    ------
    ValueError
        Naming the parameter, its unit and allowed range, before anything is
        compiled or allocated.

    Examples
    --------
    >>> import precopy as pc
    >>> disk = pc.storage.Disk(size_bytes=pc.GiB(1))
    >>> wl = pc.workloads.Uniform(writes_per_s=4_000)        # 250 MiB/s of 64 KiB writes
    >>> path = pc.storage.StoragePath(rate_Bps=pc.MiBps(200), rtt_s=0.0005)
    >>> dbt = pc.storage.migrate_disk(disk, wl, path, pc.storage.DirtyBlockTracking(timeout_s=120), seed=1)
    >>> mir = pc.storage.migrate_disk(disk, wl, path, "mirror", seed=1)
    >>> dbt.converged, mir.converged, mir.final_blocks
    (False, True, 0)
    >>> mir.write_latency_added_s > path.rtt_s, mir.guest_stall_s > 0
    (True, True)
    """
    seed = v.seed(seed)
    vm, strategy, switchover = _check_common(disk, workload, path, strategy, switchover)
    if isinstance(strategy, Mirror):
        return _mirror(disk, vm, workload, path, strategy, seed, switchover.resume_s)
    return _iterative(disk, vm, workload, path, strategy, seed, switchover.resume_s)


def _iterative(disk, vm, workload, path, strategy, seed, switch_s):
    """DBT and snapshot: the pre-copy kernel over blocks."""
    link = Link(rate_bps=path.rate_Bps * 8.0, mtu=None)
    bulk_s = disk.size_bytes / path.rate_Bps
    if bulk_s > strategy.timeout_s:
        raise ValueError(f"timeout_s (s) must exceed the time to copy the disk once ({bulk_s:.6g} s); "
                         f"got {strategy.timeout_s}")
    from .scenario import Prepared          # the compiled kernel loads only when a storage run starts
    prep = Prepared(vm, workload, link, strategy._policy())
    if isinstance(strategy, Snapshot) and strategy.commit_Bps != float("inf"):
        # a delta block is copied, then committed into the destination copy
        commit_Bps = path.rate_Bps if strategy.commit_Bps is None else strategy.commit_Bps
        t = disk.block_bytes / path.rate_Bps + disk.block_bytes / commit_Bps
        # a delta block costs more time than its bytes / rate
        prep.override_costs(t_full=t, tf_full=t, uniform=False, decision_bps=8.0 * disk.block_bytes / t)
    r = prep.run(seed)
    t = r.rounds
    live = ~t["stop_copy"]
    rows = RoundTable({
        "round": t["round"], "start_s": t["start_s"], "duration_s": t["duration_s"],
        "blocks_sent": t["pages_sent"], "blocks_dirtied": t["pages_dirtied"], "bytes_sent": t["bytes_sent"],
        "writes": t["writes"], "mirrored_writes": np.zeros(len(t), np.int64), "stop_copy": t["stop_copy"],
    })
    extra = {}
    if isinstance(strategy, Snapshot):
        deltas = t["pages_dirtied"][live] * float(disk.block_bytes)
        extra = dict(delta_bytes=float(deltas[0]), peak_delta_bytes=float(deltas.max()),
                     delta_total_bytes=float(deltas.sum()),
                     commit_s=float(t["duration_s"][1:].sum()))
    return StorageResult(
        strategy=strategy.name, total_time_s=r.precopy_time_s + r.final_transfer_s + switch_s,
        downtime_s=r.final_transfer_s + switch_s, copy_time_s=r.precopy_time_s, bytes_sent=r.bytes_sent,
        blocks_sent=r.pages_sent, n_rounds=r.n_rounds, converged=r.converged, stop_reason=r.stop_reason,
        final_blocks=r.final_pages, final_transfer_s=r.final_transfer_s, switch_s=switch_s,
        rate_Bps=path.rate_Bps, disk_bytes=disk.size_bytes, block_bytes=disk.block_bytes,
        writes=int(t["writes"].sum()), rounds=rows, seed=seed, **extra)


def _mirror(disk, vm, workload, path, strategy, seed, switch_s):
    c = workload.compile(vm, seed=seed)
    from . import _kernel as K
    from .scenario import interruptible
    out = np.zeros(K.N_MIRROR, np.float64)
    depth = 0 if strategy.io_depth is None else strategy.io_depth
    ring = np.zeros(max(depth, 1), np.float64)
    mp = K.MirrorPath(t_block=disk.block_bytes / path.rate_Bps, lat_extra=path.rtt_s + path.dst_extra_write_latency_s,
                      io_depth=int(depth), timeout_s=float(strategy.timeout_s))
    ws = K.new_write_state(np.uint64(seed))
    interruptible(K.mirror_kernel, ws.stop, c, ws, mp, ring, out)
    o = dict(zip(K.MIRROR_FIELDS, out))
    copy_s = float(o["time"])
    writes, mirrored = int(o["writes"]), int(o["mirrored"])
    copied = int(o["copied"])
    converged = int(o["reason"]) == 1
    sent = copied + mirrored
    block = float(disk.block_bytes)
    rows = RoundTable({
        "round": np.arange(1), "start_s": np.zeros(1), "duration_s": np.array([copy_s]),
        "blocks_sent": np.array([sent]), "blocks_dirtied": np.zeros(1, np.int64),
        "bytes_sent": np.array([sent * block]), "writes": np.array([writes]),
        "mirrored_writes": np.array([mirrored]), "stop_copy": np.zeros(1, bool),
    })
    return StorageResult(
        strategy=strategy.name, total_time_s=copy_s + switch_s, downtime_s=switch_s, copy_time_s=copy_s,
        bytes_sent=sent * block, blocks_sent=sent, n_rounds=1, converged=converged,
        stop_reason="mirror_complete" if converged else "timeout", final_blocks=0, final_transfer_s=0.0,
        switch_s=switch_s, rate_Bps=path.rate_Bps, disk_bytes=disk.size_bytes, block_bytes=disk.block_bytes,
        writes=writes, rounds=rows, seed=seed, mirrored_writes=mirrored, mirrored_bytes=mirrored * block,
        mirror_rate_Bps=mirrored * block / copy_s if copy_s > 0 else 0.0,
        write_latency_added_s=float(o["lat_sum"]) / mirrored if mirrored else 0.0,
        max_write_latency_added_s=float(o["lat_max"]),
        mean_write_latency_added_s=float(o["lat_sum"]) / writes if writes else 0.0,
        guest_stall_s=float(o["stall"]))


@dataclass(frozen=True)
class CombinedResult:
    """Disk then memory over one network (vSphere 5.1+ without shared storage).

    ``storage`` is the disk phase (a mirror pass), ``memory`` the memory
    migration that follows; the disk switches to the destination together with
    the memory, so the only downtime is the memory switchover.  During the memory
    phase every disk write is mirrored (the disk is fully copied), taking
    ``mirror_rate_Bps`` of the network away from memory pre-copy.

    ``total_time_s = storage.copy_time_s + memory.total_time_s``; ``bytes_sent``
    counts the disk pass, the mirrored writes of both phases and the memory.
    """

    storage: StorageResult
    memory: MigrationResult
    total_time_s: float
    downtime_s: float
    bytes_sent: float
    converged: bool
    mirror_rate_Bps: float
    memory_phase_mirrored_bytes: float

    @property
    def downtime_parts(self) -> dict[str, float]:
        """The memory switchover's parts (the disk adds none)."""
        return self.memory.downtime_parts

    @property
    def rounds(self) -> RoundTable:
        """Both phases in one table: a ``phase`` column ('disk' / 'memory'),
        start times on one clock, bytes and units (``units_sent``: blocks or pages)."""
        d, m = self.storage.rounds, self.memory.rounds
        off = self.storage.copy_time_s
        return RoundTable({
            "phase": np.array(["disk"] * len(d) + ["memory"] * len(m)),
            "round": np.concatenate([d["round"], m["round"]]),
            "start_s": np.concatenate([d["start_s"], m["start_s"] + off]),
            "duration_s": np.concatenate([d["duration_s"], m["duration_s"]]),
            "units_sent": np.concatenate([d["blocks_sent"], m["pages_sent"]]),
            "bytes_sent": np.concatenate([d["bytes_sent"], m["bytes_sent"]]),
            "writes": np.concatenate([d["writes"], m["writes"]]),
            "stop_copy": np.concatenate([d["stop_copy"], m["stop_copy"]]),
        })

    def summary(self) -> str:
        """Both phases, then the totals."""
        verdict = "converged" if self.converged else "did NOT converge"
        return (f"disk + memory: {verdict}, total {self.total_time_s:.3f} s, downtime "
                f"{self.downtime_s * 1e3:.1f} ms, sent {self.bytes_sent / 2**20:.1f} MiB; disk writes mirrored "
                f"at {self.mirror_rate_Bps / 2**20:.2f} MiB/s during the memory phase\n"
                + self.storage.summary() + "\n" + self.memory.summary())


def migrate_vm(vm: VM, workload: Workload, link: Link, policy: Policy | str | None, disk: Disk,
               disk_workload: Workload, *, strategy: Mirror | None = None, seed: int = 0,
               switchover: Switchover | None = None, throttle=None, aids=None) -> CombinedResult:
    """Migrate a VM without shared storage: its disk first, then its memory.

    vSphere 5.1+ ("XvMotion", enhanced vMotion) copies the disk with I/O
    mirroring over the vMotion network, then migrates memory over the same
    network while the disk stays mirrored, and switches both at once.  The disk
    phase uses the link's goodput and round trip as its :class:`StoragePath`;
    during the memory phase the mirrored disk writes (``disk_workload.writes_per_s
    x block_bytes`` on average) are taken off the link's goodput.

    Parameters
    ----------
    vm, workload, link, policy, switchover, throttle, aids
        As in :func:`precopy.simulate`.
    disk, disk_workload : Disk, Workload
        The disk and its block writes.
    strategy : Mirror, optional
        The disk phase (only mirroring keeps the copy in sync while memory moves).
    seed : int, default 0
        Seed for both phases.

    Returns
    -------
    CombinedResult

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(1))
    >>> wl = pc.workloads.HotCold(wws_bytes=pc.MiB(64), writes_per_s=20_000)
    >>> disk = pc.storage.Disk(size_bytes=pc.GiB(8))
    >>> dwl = pc.workloads.HotCold(wws_bytes=pc.GiB(1), writes_per_s=500)
    >>> r = pc.storage.migrate_vm(vm, wl, pc.Link(rate_bps=pc.Gbps(10)), "qemu", disk, dwl, seed=1)
    >>> r.converged, r.downtime_s == r.memory.downtime_s, r.storage.mirrored_writes > 0
    (True, True, True)
    """
    strategy = Mirror() if strategy is None else strategy
    if not isinstance(strategy, Mirror):
        raise ValueError("strategy must be precopy.storage.Mirror for a combined migration (disk blocks written "
                         f"while memory moves must reach the destination); got {strategy!r}")
    if not isinstance(link, Link):
        raise ValueError(f"link must be a precopy.Link; got {type(link).__name__}")
    path = StoragePath(rate_Bps=link.goodput_Bps, rtt_s=link.rtt_s)
    v.instance(disk_workload, "disk_workload", Workload, "a precopy.workloads.Workload (block writes)")
    dvm, strategy, _ = _check_common(disk, disk_workload, path, strategy, None)
    mirror_Bps = disk_workload.writes_per_s * disk.block_bytes
    left_bps = link.goodput_bps - 8.0 * mirror_Bps
    if left_bps < 1e3:
        raise ValueError(f"disk_workload writes_per_s (block writes per second) must leave room on the link for "
                         f"memory: {disk_workload.writes_per_s:g} x {disk.block_bytes} B mirrored needs "
                         f"{8 * mirror_Bps:.6g} bit/s of {link.goodput_bps:.6g}; got {disk_workload.writes_per_s!r}")
    cap = left_bps if link.cap_bps is None else min(link.cap_bps, left_bps)
    mem_link = Link(rate_bps=link.rate_bps, mtu=link.mtu, streams=link.streams, per_stream_bps=link.per_stream_bps,
                    cap_bps=cap, rtt_s=link.rtt_s)
    pol = QEMU() if policy is None else policy
    from .scenario import Prepared
    prep = Prepared(vm, workload, mem_link, pol, switchover, throttle, aids)      # validates before any work
    storage = migrate_disk(disk, disk_workload, path, strategy, seed=seed, switchover=Switchover(resume_s=0.0))
    memory = prep.run(seed)
    live_s = memory.precopy_time_s + memory.postcopy_s
    mirrored_mem = mirror_Bps * live_s
    return CombinedResult(
        storage=storage, memory=memory, total_time_s=storage.copy_time_s + memory.total_time_s,
        downtime_s=memory.downtime_s, bytes_sent=storage.bytes_sent + mirrored_mem + memory.bytes_sent,
        converged=storage.converged and memory.converged, mirror_rate_Bps=mirror_Bps,
        memory_phase_mirrored_bytes=mirrored_mem)



# --- CLI: precopy storage -------------------------------------------------------------------

def add_arguments(p):
    p.add_argument("--disk", required=True, help="disk size, e.g. 40GiB")
    p.add_argument("--block", default="64KiB", help="block size (default 64KiB, blockdev-mirror's granularity)")
    p.add_argument("--path-rate", required=True, help="copy throughput, e.g. 400MiB/s")
    p.add_argument("--rtt", default="0", help="round trip to the destination datastore, e.g. 0.5ms (default 0)")
    p.add_argument("--wws", help="written region (hot set), e.g. 4GiB; without it writes are uniform")
    p.add_argument("--hot-fraction", help="share of writes on --wws (default 0.9; needs --wws)")
    p.add_argument("--write-rate", default="0", help="guest block writes x block size, e.g. 50MiB/s (default 0)")
    p.add_argument("--strategy", default="all", choices=["all", *STRATEGIES],
                   help="Storage VMotion generation (default: compare all three)")
    p.add_argument("--downtime-target", default="500ms", help="stun goal of snapshot and DBT (default 500ms)")
    p.add_argument("--io-depth", default="32", help="mirrored writes in flight before the guest waits (default 32)")
    p.add_argument("--timeout", default="3600s", help="simulated-time limit (default 3600s)")
    p.add_argument("--seed", default="0", help="random seed (default 0)")


#: internal parameter names -> the flag a user of ``precopy storage`` typed
_STORAGE_FLAGS = {"size_bytes": "--disk", "memory_bytes": "--disk", "block_bytes": "--block",
                  "rate_Bps": "--path-rate", "rtt_s": "--rtt", "wws_bytes + offset_bytes": "--wws",
                  "wws_bytes": "--wws", "hot_fraction": "--hot-fraction", "writes_per_s": "--write-rate",
                  "downtime_target_s": "--downtime-target", "io_depth": "--io-depth", "timeout_s": "--timeout",
                  "seed": "--seed"}


def _flagged(make, typed: dict):
    """``make()``, with a ValueError's internal parameter names replaced by the flags a user
    typed (``rate_Bps`` -> ``--path-rate``) and the value by the text typed (``typed``: flag -> text)."""
    try:
        return make()
    except ValueError as e:
        msg = str(e)
        m = re.match(r"([A-Za-z_]+(?: \+ [a-z_]+)?)", msg)
        lead = _STORAGE_FLAGS.get(m.group(1)) if m else None
        if lead:
            msg = lead + msg[m.end():]
        for name, flag in _STORAGE_FLAGS.items():
            msg = msg.replace(f"{name}=", f"{flag}=")
        if lead and typed.get(lead) is not None:
            msg = re.sub(r"got ([^;]*)$", lambda g: f"got {typed[lead]!r} (= {g.group(1)})", msg)
        raise ValueError(msg) from None


def _whole(text, flag):
    try:
        return int(str(text).strip())
    except ValueError:
        raise ValueError(f"{flag} must be a whole number; got {text!r}") from None


def _fraction(text, flag):
    try:
        x = float(text)
    except ValueError:
        raise ValueError(f"{flag} must be a number in [0, 1]; got {text!r}") from None
    return x


def run(args) -> int:
    from . import workloads as W
    from .units import parse_bytes
    typed = {"--disk": args.disk, "--block": args.block, "--path-rate": args.path_rate, "--rtt": args.rtt,
             "--wws": args.wws, "--hot-fraction": args.hot_fraction, "--write-rate": args.write_rate,
             "--downtime-target": args.downtime_target, "--io-depth": args.io_depth, "--timeout": args.timeout,
             "--seed": args.seed}
    block = parse_bytes(args.block, name="--block")
    size = parse_bytes(args.disk, name="--disk")
    disk = _flagged(lambda: Disk(size_bytes=size, block_bytes=block), typed)
    rate = parse_byte_rate(args.path_rate, "--path-rate")
    rtt = parse_seconds(args.rtt, "--rtt")
    path = _flagged(lambda: StoragePath(rate_Bps=rate, rtt_s=rtt), typed)
    wps = parse_byte_rate(args.write_rate, "--write-rate") / disk.block_bytes
    if args.hot_fraction is not None and not args.wws:
        raise ValueError(f"--hot-fraction applies to the written region: give --wws too (got --hot-fraction "
                         f"{args.hot_fraction!r} alone)")
    if args.wws:
        wws = parse_bytes(args.wws, name="--wws")
        h = 0.9 if args.hot_fraction is None else _fraction(args.hot_fraction, "--hot-fraction")
        wl = _flagged(lambda: W.HotCold(wws_bytes=wws, hot_fraction=h, writes_per_s=wps), typed)
    else:
        wl = _flagged(lambda: W.Uniform(writes_per_s=wps) if wps > 0 else W.Idle(), typed)
    target = parse_seconds(args.downtime_target, "--downtime-target")
    timeout = parse_seconds(args.timeout, "--timeout")
    depth = _whole(args.io_depth, "--io-depth")
    seed = _whole(args.seed, "--seed")
    make = {"snapshot": lambda: Snapshot(downtime_target_s=target, timeout_s=timeout),
            "dirty-block-tracking": lambda: DirtyBlockTracking(downtime_target_s=target, timeout_s=timeout),
            "mirror": lambda: Mirror(io_depth=depth, timeout_s=timeout)}
    names = list(STRATEGIES) if args.strategy == "all" else [args.strategy]
    strategies = [_flagged(make[name], typed) for name in names]     # every flag checked before any simulation
    for i, strategy in enumerate(strategies):
        r = _flagged(lambda: migrate_disk(disk, wl, path, strategy, seed=seed), typed)
        print(("\n" if i else "") + r.summary())
    return 0
