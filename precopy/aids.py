"""Convergence aids: what real hypervisors do when pre-copy does not converge.

Pass any of these to :func:`precopy.simulate` as ``aids=[...]``:

* guest slowdown, at most one of :class:`AutoConverge` (QEMU ``auto-converge``),
  :class:`DirtyLimit` (QEMU ``dirty-limit``, 8.1+) and :class:`SDPS` (VMware's
  Stun During Page Send, vSphere 5+);
* fewer bytes per page: :class:`XBZRLE` (QEMU's delta encoding of re-sent pages)
  and :class:`Compression` (QEMU compress threads / multifd zlib, zstd, QATzip);
  several streams come from the link model (``Link(streams=...,
  per_stream_bps=...)``);
* :class:`PostCopy`: switch the VM to the destination before all memory is
  there, and fetch the rest by demand faults and a background push.

Each aid is a frozen dataclass that checks its numbers when built (a
``ValueError`` naming the parameter, its unit and its range).  Defaults are the
hypervisors' own, with the source in each docstring; where no source gives a
number, the docstring says the default is this model's choice.

The slowdown aids act through the guest-speed factor ``g`` of the kernel: at a
bitmap sync they may change it, and the guest's write rate during the next round
is multiplied by ``g`` (on top of any ``throttle`` schedule).  Each round records
the aid's slowdown ``1 - g`` in the ``cpu_throttle`` column and the guest
seconds it cost in ``guest_lost_s``; the result sums them in
``guest_slowdown_s``.

References
----------
QEMU ``migration/ram.c`` (``migration_trigger_throttle``,
``mig_throttle_guest_down``, ``save_xbzrle_page``), ``migration/page_cache.c``,
``migration/options.c`` (defaults), ``system/dirtylimit.c``;
``docs/devel/migration/postcopy.rst``; OpenStack Nova
``nova/virt/libvirt/migration.py`` (``should_switch_to_postcopy``); VMware,
"VMware vSphere vMotion Architecture, Performance and Best Practices in VMware
vSphere 5" (SDPS).  Summary in ``docs/reference.md``, sections 2 and 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as v
from .units import MiB, parse_byte_rate

__all__ = ["Aid", "AutoConverge", "DirtyLimit", "SDPS", "XBZRLE", "Compression", "PostCopy",
           "check_aids"]


class Aid:
    """Base class of the convergence aids (for ``isinstance`` checks)."""

    #: short label used in results and reports
    label = "aid"


def _flag(x, name):
    if not isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {x!r}")
    return bool(x)


@dataclass(frozen=True)
class AutoConverge(Aid):
    """QEMU's auto-converge: throttle the vCPUs in steps while dirtying outpaces sending.

    At a bitmap sync at least ``check_interval_s`` after the last check, QEMU
    compares the bytes dirtied since that check with the bytes sent: if dirtied >
    ``trigger`` x sent, a counter goes up (it is never reset when the test fails);
    when it reaches 2 it is reset and the throttle rises: first to ``initial``,
    then by ``increment`` (or, with ``tailslow``, by just enough to bring the dirty
    rate to the trigger level, at most ``increment``), never above ``max``.  A vCPU
    throttled at p runs (1 - p) of each 10 ms slice, so the guest writes (1 - p)
    as fast: the kernel's guest-speed factor becomes ``1 - p``.

    Parameters
    ----------
    initial : float, default 0.20
        ``cpu-throttle-initial`` (20 %), in [0.01, 0.99].
    increment : float, default 0.10
        ``cpu-throttle-increment`` (10 %), in [0.01, 0.99].
    max : float, default 0.99
        ``max-cpu-throttle`` (99 %), in [initial, 0.99].
    trigger : float, default 0.50
        ``throttle-trigger-threshold`` (50 %), in [0.01, 1].
    check_interval_s : float, default 1.0
        Least time between two checks (QEMU: a sync more than 1000 ms after the
        last one), in (0, 3600] s.
    tailslow : bool, default False
        ``cpu-throttle-tailslow``.

    Notes
    -----
    QEMU since 2024 also forces a bitmap sync every 5 s while auto-converge is on;
    precopy syncs only at round boundaries, so a round longer than 5 s is checked
    only at its end.

    References
    ----------
    QEMU ``migration/ram.c``: ``migration_bitmap_sync``,
    ``migration_trigger_throttle``, ``mig_throttle_guest_down``;
    ``migration/options.c`` for the defaults.

    Examples
    --------
    >>> import precopy as pc
    >>> ac = pc.aids.AutoConverge()
    >>> ac.initial, ac.increment, ac.max
    (0.2, 0.1, 0.99)
    """

    initial: float = 0.20
    increment: float = 0.10
    max: float = 0.99
    trigger: float = 0.50
    check_interval_s: float = 1.0
    tailslow: bool = False

    label = "auto-converge"

    def __post_init__(self):
        ini = v.real(self.initial, "AutoConverge.initial", "fraction of vCPU time", lo=0.01, hi=0.99)
        object.__setattr__(self, "initial", ini)
        object.__setattr__(self, "increment",
                           v.real(self.increment, "AutoConverge.increment", "fraction of vCPU time", lo=0.01, hi=0.99))
        object.__setattr__(self, "max", v.real(self.max, "AutoConverge.max", "fraction of vCPU time", lo=ini, hi=0.99))
        object.__setattr__(self, "trigger",
                           v.real(self.trigger, "AutoConverge.trigger", "dirtied/sent ratio", lo=0.01, hi=1.0))
        object.__setattr__(self, "check_interval_s",
                           v.real(self.check_interval_s, "AutoConverge.check_interval_s", "s", lo=0.0, hi=3600.0,
                                  lo_open=True))
        object.__setattr__(self, "tailslow", _flag(self.tailslow, "AutoConverge.tailslow"))


@dataclass(frozen=True)
class DirtyLimit(Aid):
    """QEMU's dirty-limit (8.1+): a per-vCPU dirty-rate quota once dirtying outpaces sending.

    The trigger is auto-converge's (same counter, threshold and interval).  From
    the sync where it fires, each vCPU's dirty rate is held at the quota: the
    guest's write rate becomes ``vcpus x vcpu_dirty_limit_Bps / page_bytes``
    page writes per second, unless it is already lower.  The rate is re-measured
    at every later sync (writes per guest second in the last round) and the guest
    speed re-set, except while the measured rate is within ``tolerance_Bps`` per
    vCPU of the quota (QEMU's controller stops adjusting there).

    Parameters
    ----------
    vcpu_dirty_limit_Bps : float, default 1 MiB/s
        ``vcpu-dirty-limit``: 1 "MB/s"; QEMU's dirty rates are MiB/s (page counts
        x page size >> 20, ``system/dirtylimit.c``).  In (0, 1e12] bytes/s.
    vcpus : int, default 1
        vCPUs of the guest (QEMU's ``-smp`` default is 1), in [1, 4096].
    trigger, check_interval_s : float
        As in :class:`AutoConverge` (defaults 0.5 and 1 s).
    tolerance_Bps : float, default 25 MiB/s
        ``DIRTYLIMIT_TOLERANCE_RANGE`` (25 MB/s, ``system/dirtylimit.c``).

    Notes
    -----
    precopy's writes are page-dirtying events; KVM's dirty ring logs a page only
    on its first write after each harvest, so for workloads that re-write pages
    faster than the ring is harvested this quota is stricter than QEMU's.
    QEMU's controller approaches the quota over periods of
    ``x-vcpu-dirty-limit-period`` (1 s); here it holds from the sync on.

    References
    ----------
    QEMU ``migration/ram.c`` (``migration_dirty_limit_guest``),
    ``migration/options.c`` (``DEFAULT_MIGRATE_VCPU_DIRTY_LIMIT``),
    ``system/dirtylimit.c``.

    Examples
    --------
    >>> import precopy as pc
    >>> pc.aids.DirtyLimit(vcpus=4).vcpu_dirty_limit_Bps
    1048576.0
    """

    vcpu_dirty_limit_Bps: float = MiB(1)
    vcpus: int = 1
    trigger: float = 0.50
    check_interval_s: float = 1.0
    tolerance_Bps: float = MiB(25)

    label = "dirty-limit"

    def __post_init__(self):
        object.__setattr__(self, "vcpu_dirty_limit_Bps",
                           v.real(self.vcpu_dirty_limit_Bps, "DirtyLimit.vcpu_dirty_limit_Bps", "bytes/s",
                                  lo=0.0, hi=1e12, lo_open=True))
        object.__setattr__(self, "vcpus", v.integer(self.vcpus, "DirtyLimit.vcpus", "vCPUs", lo=1, hi=4096))
        object.__setattr__(self, "trigger",
                           v.real(self.trigger, "DirtyLimit.trigger", "dirtied/sent ratio", lo=0.01, hi=1.0))
        object.__setattr__(self, "check_interval_s",
                           v.real(self.check_interval_s, "DirtyLimit.check_interval_s", "s", lo=0.0, hi=3600.0,
                                  lo_open=True))
        object.__setattr__(self, "tolerance_Bps",
                           v.real(self.tolerance_Bps, "DirtyLimit.tolerance_Bps", "bytes/s", lo=0.0, hi=1e12))


@dataclass(frozen=True)
class SDPS(Aid):
    """VMware's Stun During Page Send: slow the vCPUs just enough for pre-copy to gain.

    At every bitmap sync the dirty rate of the last round (distinct pages
    dirtied x page size / round time) is compared with the transmit rate (page
    bytes per second the sender moves); the guest speed is set so that the dirty
    rate becomes ``target_ratio`` x the transmit rate:
    ``g <- min(1, g x target_ratio x transmit / dirty)``.  The slowdown is
    lifted again as soon as the guest dirties less than that.

    Parameters
    ----------
    target_ratio : float, default 0.8
        Dirty rate / transmit rate that SDPS aims for, in (0, 1).  VMware states
        only that SDPS keeps the dirty rate below the transmit rate; 0.8 (each
        round at least 20 % shorter than the last) is this model's choice.

    References
    ----------
    VMware, "VMware vSphere vMotion Architecture, Performance and Best Practices
    in VMware vSphere 5" (2011), on SDPS; ``docs/reference.md``
    sections 2 and 3.

    Examples
    --------
    >>> import precopy as pc
    >>> pc.aids.SDPS().target_ratio
    0.8
    """

    target_ratio: float = 0.8

    label = "sdps"

    def __post_init__(self):
        object.__setattr__(self, "target_ratio",
                           v.real(self.target_ratio, "SDPS.target_ratio", "dirty rate / transmit rate",
                                  lo=0.0, hi=1.0, lo_open=True, hi_open=True))


@dataclass(frozen=True)
class XBZRLE(Aid):
    """QEMU's XBZRLE: re-sent pages travel as XOR run-length deltas against a cache.

    The cache is QEMU's: a direct-mapped table of ``cache_bytes / page_bytes``
    slots indexed by page number; a page found in it (a hit) is sent as a delta
    (page header + 3 bytes + encoded length), or as a full page if the encoding
    would exceed the page (an overflow); a miss sends the full page and inserts
    it, unless its slot holds another page touched in this or the previous sync
    generation.  The bulk (first) pass does not use the cache; the stop-and-copy
    uses hits but inserts nothing.

    Compression model: a hit's encoded length is ``delta_fraction x page_bytes``
    when ``delta_fraction`` is set; otherwise it grows with the page writes since
    the page was last sent, ``k x (bytes_per_write + run_overhead_bytes)``, the
    cost of k separate changed runs in QEMU's format (a ULEB128 zero-run length,
    a ULEB128 changed-run length, then the changed bytes).

    Parameters
    ----------
    cache_bytes : int, default 64 MiB
        ``xbzrle-cache-size`` (64 MiB), in [512, 2**40] bytes and at most the
        guest's memory; the number of page slots it holds must be a power of two,
        as QEMU requires.
    bytes_per_write : int, default 64
        Bytes one page write changes.  No source measures this for a generic
        guest; 64 (one cache line) is this model's choice.  A guest that rewrites
        whole pages has ``bytes_per_write = page_bytes`` and gains nothing.
    run_overhead_bytes : int, default 3
        Length bytes per changed run (ULEB128: 2 for a zero run of up to 16383 B,
        1 for a changed run of up to 127 B).
    delta_fraction : float or None
        Fixed encoded size of every hit, as a fraction of the page, in [0, 1];
        overrides the per-write model.
    encode_Bps : float or None
        Page bytes per second the encoder processes (a CPU ceiling on hits);
        None: not limiting.

    References
    ----------
    QEMU ``migration/ram.c`` (``save_xbzrle_page``, ``find_dirty_block``),
    ``migration/page_cache.c`` (``CACHED_PAGE_LIFETIME`` 2), ``docs/xbzrle.txt``
    (format, 64 MiB default).

    Examples
    --------
    >>> import precopy as pc
    >>> pc.aids.XBZRLE().cache_bytes
    67108864
    """

    cache_bytes: int = MiB(64)
    bytes_per_write: int = 64
    run_overhead_bytes: int = 3
    delta_fraction: float | None = None
    encode_Bps: float | None = None

    label = "xbzrle"

    def __post_init__(self):
        object.__setattr__(self, "cache_bytes",
                           v.integer(self.cache_bytes, "XBZRLE.cache_bytes", "bytes", lo=512, hi=2**40))
        object.__setattr__(self, "bytes_per_write",
                           v.integer(self.bytes_per_write, "XBZRLE.bytes_per_write", "bytes", lo=1, hi=2**30))
        object.__setattr__(self, "run_overhead_bytes",
                           v.integer(self.run_overhead_bytes, "XBZRLE.run_overhead_bytes", "bytes", lo=0, hi=64))
        if self.delta_fraction is not None:
            object.__setattr__(self, "delta_fraction", v.fraction(self.delta_fraction, "XBZRLE.delta_fraction"))
        if self.encode_Bps is not None:
            object.__setattr__(self, "encode_Bps",
                               v.real(self.encode_Bps, "XBZRLE.encode_Bps", "bytes/s", lo=1e3, hi=1e13))

    def slots(self, page_bytes: int, memory_bytes: int | None = None) -> int:
        """Cache slots for a page size (ValueError unless a power of two >= 1).

        With ``memory_bytes`` the cache may not exceed guest memory, QEMU's rule
        ("cache size exceeds guest ram size", ``migration/ram.c``); checked here,
        before the cache is allocated.
        """
        page_bytes = v.integer(page_bytes, "page_bytes", "bytes", lo=512, hi=2**30)
        if page_bytes & (page_bytes - 1):
            raise ValueError(f"page_bytes (bytes) must be a power of two in [512, 1073741824]; got {page_bytes}")
        if memory_bytes is not None:
            memory_bytes = v.integer(memory_bytes, "memory_bytes", "bytes", lo=page_bytes, hi=2**62)
        if memory_bytes is not None and self.cache_bytes > memory_bytes:
            raise ValueError(
                f"XBZRLE.cache_bytes (bytes) must be in [{page_bytes}, memory_bytes={memory_bytes}]: QEMU refuses "
                f"a cache larger than guest memory; got {self.cache_bytes}")
        n = self.cache_bytes // page_bytes
        if self.cache_bytes % page_bytes or n < 1 or n & (n - 1):
            raise ValueError(
                f"XBZRLE.cache_bytes (bytes) must be a power-of-two number of pages of {page_bytes} B "
                f"(QEMU's rule); got {self.cache_bytes}")
        return n


@dataclass(frozen=True)
class Compression(Aid):
    """Page compression before sending (QEMU compress threads, multifd zlib/zstd/QATzip).

    A non-zero page costs ``header + page_bytes / ratio`` bytes on the wire and
    takes ``max(wire bytes / link rate, page_bytes / (threads x cpu_Bps),
    page_bytes / (decompress_threads x decompress_cpu_Bps))`` seconds: the link
    and the compressor and decompressor threads form a pipeline, and the
    slowest sets the pace.  Zero pages are found before compression and stay
    header-only.  Combined with :class:`XBZRLE`, compression is used only in the
    first pass, as in QEMU (``save_page_use_compression``: "xbzrle can do better
    than compression").  QEMU measures its bandwidth in wire bytes, so the stop
    rule sees the compressed rate.

    Parameters
    ----------
    ratio : float
        Page bytes / compressed bytes, in [1, 1e6].  It depends on the memory's
        contents: on the Silesia corpus zstd level 1 reaches 2.877 at 330 MB/s
        per thread and zlib level 1 2.730 at 95 MB/s (zstd README, lzbench,
        zstd 0.8.2 and zlib 1.2.8 on a Core i7-3930K).
    cpu_Bps : float or None
        Page bytes per second one compressor thread handles (None: not limiting).
    threads : int or None
        Compressor threads; None: one per link stream (multifd compresses in each
        channel's thread).  QEMU's old ``compress-threads`` default is 8.
    decompress_cpu_Bps : float or None
        Page bytes per second one decompressor thread handles (None: not limiting).
    decompress_threads : int or None
        Decompressor threads; None: as many as compressor threads.

    Examples
    --------
    >>> import precopy as pc
    >>> pc.aids.Compression(ratio=2.877, cpu_Bps=330e6).ratio
    2.877
    """

    ratio: float = 1.0
    cpu_Bps: float | None = None
    threads: int | None = None
    decompress_cpu_Bps: float | None = None
    decompress_threads: int | None = None

    label = "compression"

    def __post_init__(self):
        object.__setattr__(self, "ratio", v.real(self.ratio, "Compression.ratio", "page bytes / compressed bytes",
                                                 lo=1.0, hi=1e6))
        for f in ("cpu_Bps", "decompress_cpu_Bps"):
            if getattr(self, f) is not None:
                object.__setattr__(self, f, v.real(getattr(self, f), f"Compression.{f}", "bytes/s",
                                                   lo=1e3, hi=1e13))
        for f in ("threads", "decompress_threads"):
            if getattr(self, f) is not None:
                object.__setattr__(self, f, v.integer(getattr(self, f), f"Compression.{f}", "threads",
                                                      lo=1, hi=1024))

    def page_time_s(self, wire_bytes: float, rate_Bps: float, page_bytes: int, streams: int) -> float:
        """Seconds one compressed page occupies the pipeline at ``rate_Bps``."""
        wire_bytes = v.real(wire_bytes, "wire_bytes", "bytes", lo=0.0)
        rate_Bps = v.real(rate_Bps, "rate_Bps", "bytes/s", lo=0.0, lo_open=True)
        page_bytes = v.integer(page_bytes, "page_bytes", "bytes", lo=1, hi=2**30)
        streams = v.integer(streams, "streams", "count", lo=1, hi=1024)
        t = wire_bytes / rate_Bps
        n = streams if self.threads is None else self.threads
        if self.cpu_Bps is not None:
            t = max(t, page_bytes / (n * self.cpu_Bps))
        if self.decompress_cpu_Bps is not None:
            nd = n if self.decompress_threads is None else self.decompress_threads
            t = max(t, page_bytes / (nd * self.decompress_cpu_Bps))
        return t


@dataclass(frozen=True)
class PostCopy(Aid):
    """Switch to post-copy: run the VM on the destination and fetch the rest on demand.

    Post-copy starts at a bitmap sync after ``after_rounds`` live rounds, or, with
    ``on_no_progress``, from the second sync on when a round shrank the dirty set
    by less than ``min_progress`` (OpenStack Nova's rule: "if migration progress
    is less than 10 % per iteration after the first memory page copying pass, the
    migration is switched to postcopy mode").  A migration that meets its stop
    rule first finishes as plain pre-copy.

    At the switch the VM stops, its device state is sent and it resumes on the
    destination (the downtime: no memory is sent while it is stopped).  The pages
    still dirty are then pushed in address order at the link goodput; a guest
    write to a page not yet received is a demand fault: the page is fetched at
    once (``link.rtt_s`` + one page time + ``fault_overhead_s``), sharing the link
    with the push, and the guest waits for it.  The destination guest runs
    unthrottled.

    Parameters
    ----------
    after_rounds : int or None
        Switch after this many live rounds (1: after the bulk pass), in [1, 1e6].
    on_no_progress : bool, default True
        Switch when a round shrinks the dirty set by less than ``min_progress``.
    min_progress : float, default 0.10
        Nova's 10 %, in [0, 1].
    fault_overhead_s : float, default 0
        Per-fault cost beyond the network (userfaultfd, wake-up), in [0, 1] s.
        No source gives it; 0 makes the stall a lower bound.

    Notes
    -----
    The workload's writes stand in for all its accesses: reads of missing pages
    fault too, so the fault count is a lower bound.  A workload is one stream of
    writes, so a fault stalls the whole guest (exact for one vCPU; an upper bound
    on the stall for several).  During post-copy neither side holds the whole VM:
    a failure of either host or of the link loses it (QEMU
    ``docs/devel/migration/postcopy.rst``); the result reports the length of that
    window as ``postcopy_s``.

    References
    ----------
    QEMU ``docs/devel/migration/postcopy.rst``; OpenStack Nova
    ``nova/virt/libvirt/migration.py`` (``should_switch_to_postcopy``, Ocata-Train).

    Examples
    --------
    >>> import precopy as pc
    >>> pc.aids.PostCopy(after_rounds=1).after_rounds
    1
    """

    after_rounds: int | None = None
    on_no_progress: bool = True
    min_progress: float = 0.10
    fault_overhead_s: float = 0.0

    label = "postcopy"

    def __post_init__(self):
        if self.after_rounds is not None:
            object.__setattr__(self, "after_rounds",
                               v.integer(self.after_rounds, "PostCopy.after_rounds", "rounds", lo=1, hi=10**6))
        object.__setattr__(self, "on_no_progress", _flag(self.on_no_progress, "PostCopy.on_no_progress"))
        object.__setattr__(self, "min_progress", v.fraction(self.min_progress, "PostCopy.min_progress"))
        object.__setattr__(self, "fault_overhead_s",
                           v.real(self.fault_overhead_s, "PostCopy.fault_overhead_s", "s", lo=0.0, hi=1.0))
        if self.after_rounds is None and not self.on_no_progress:
            raise ValueError("PostCopy needs after_rounds (rounds, in [1, 1000000]) or on_no_progress=True; "
                             "got neither")


_SLOWDOWN = (AutoConverge, DirtyLimit, SDPS)


def check_aids(aids) -> tuple:
    """Validate an ``aids`` argument: None, one aid or a sequence of them.

    At most one aid of each kind, and at most one guest-slowdown aid
    (:class:`AutoConverge`, :class:`DirtyLimit`, :class:`SDPS`): QEMU refuses
    auto-converge together with dirty-limit, and SDPS is VMware's own.

    Examples
    --------
    >>> [type(a).__name__ for a in check_aids([XBZRLE(), AutoConverge()])]
    ['XBZRLE', 'AutoConverge']
    """
    if aids is None:
        return ()
    if isinstance(aids, Aid):
        aids = (aids,)
    try:
        aids = tuple(aids)
    except TypeError:
        raise ValueError(f"aids must be an aid (precopy.aids.*) or a sequence of them; got {aids!r}") from None
    for i, a in enumerate(aids):
        if not isinstance(a, Aid):
            raise ValueError(f"aids[{i}] must be a precopy.aids aid (AutoConverge, DirtyLimit, SDPS, XBZRLE, "
                             f"Compression, PostCopy); got {a!r}")
    kinds = [type(a) for a in aids]
    if len(set(kinds)) != len(kinds):
        raise ValueError("aids must hold at most one aid of each kind; got "
                         f"{', '.join(k.__name__ for k in kinds)}")
    slow = [k.__name__ for k in kinds if k in _SLOWDOWN]
    if len(slow) > 1:
        raise ValueError(f"aids may hold at most one guest-slowdown aid (AutoConverge, DirtyLimit, SDPS); "
                         f"got {', '.join(slow)}")
    return aids


def find(aids, kind):
    """The aid of type ``kind`` in a checked tuple, or None."""
    for a in aids:
        if isinstance(a, kind):
            return a
    return None



# --- command-line flags (``precopy simulate``) ---------------------------------------------------

def add_cli_arguments(p):
    """The aid flags of ``precopy simulate`` (each off unless given)."""
    g = p.add_argument_group("convergence aids (precopy.aids)")
    g.add_argument("--auto-converge", action="store_true", help="QEMU auto-converge with its defaults")
    g.add_argument("--dirty-limit", metavar="RATE", help="QEMU dirty-limit: per-vCPU quota, e.g. 1MiB/s")
    g.add_argument("--vcpus", type=int, default=1, help="vCPUs for --dirty-limit (default 1)")
    g.add_argument("--sdps", action="store_true", help="VMware SDPS (rate-matching slowdown)")
    g.add_argument("--xbzrle", metavar="CACHE", help="QEMU XBZRLE with this cache, e.g. 64MiB")
    g.add_argument("--compress", metavar="RATIO", type=float, help="page compression ratio (page / compressed)")
    g.add_argument("--compress-rate", metavar="RATE", help="per-thread compressor throughput, e.g. 330MB/s")
    g.add_argument("--compress-threads", type=int, help="compressor threads (default: one per stream)")
    g.add_argument("--postcopy", action="store_true",
                   help="switch to post-copy when a round shrinks the dirty set by less than 10%% (Nova)")
    g.add_argument("--postcopy-after", metavar="ROUNDS", type=int, help="switch to post-copy after ROUNDS rounds")


def from_cli(args) -> tuple:
    """The aids the flags of :func:`add_cli_arguments` ask for (ValueError naming the flag)."""
    out = []
    try:
        if args.auto_converge:
            out.append(AutoConverge())
        if args.dirty_limit:
            out.append(DirtyLimit(vcpu_dirty_limit_Bps=parse_byte_rate(args.dirty_limit, "--dirty-limit"),
                                  vcpus=args.vcpus))
        if args.sdps:
            out.append(SDPS())
        if args.xbzrle:
            from .units import parse_bytes
            out.append(XBZRLE(cache_bytes=parse_bytes(args.xbzrle, name="--xbzrle")))
        if args.compress is not None:
            rate = None if args.compress_rate is None else parse_byte_rate(args.compress_rate, "--compress-rate")
            out.append(Compression(ratio=args.compress, cpu_Bps=rate, threads=args.compress_threads))
        elif args.compress_rate is not None or args.compress_threads is not None:
            raise ValueError("--compress-rate and --compress-threads need --compress RATIO")
        if args.postcopy or args.postcopy_after is not None:
            out.append(PostCopy(after_rounds=args.postcopy_after, on_no_progress=bool(args.postcopy)))
    except ValueError as e:
        msg = str(e)
        for cls, flag in (("AutoConverge.", "--auto-converge "), ("DirtyLimit.vcpus", "--vcpus"),
                          ("DirtyLimit.", "--dirty-limit "), ("SDPS.", "--sdps "), ("XBZRLE.", "--xbzrle "),
                          ("Compression.ratio", "--compress"), ("Compression.cpu_Bps", "--compress-rate"),
                          ("Compression.threads", "--compress-threads"), ("PostCopy.", "--postcopy-after ")):
            if msg.startswith(cls):
                msg = flag + msg[len(cls):] if cls.endswith(".") else flag + msg[len(cls):]
                break
        raise ValueError(msg) from None
    return check_aids(out)
