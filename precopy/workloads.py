"""Page-write processes: how a running guest dirties its memory.

Every workload is a stream of page writes.  Rate-based workloads write at a
constant rate ``writes_per_s`` (writes per second of *guest* time: a throttle
slows the guest clock, see :func:`precopy.simulate`); write ``m`` of a phase
happens at guest time ``m / writes_per_s``.  Which page each write hits is drawn
from one 64-bit random number per write (splitmix64), so runs are reproducible
from a seed and the pure-Python twin in ``tests/naive.py`` consumes the same
stream.

Workloads: :class:`Idle`, :class:`Uniform`, :class:`HotCold`, :class:`Zipf`,
:class:`Sequential`, :class:`Phased` and :class:`Trace`.  Each knows its per-page
write probabilities (:meth:`Workload.page_probabilities`), which the analytic
saturation model uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple
from pathlib import Path

import numpy as np

from . import _validate as v

__all__ = [
    "Workload", "Idle", "Uniform", "HotCold", "Zipf", "Sequential", "Phased", "Trace",
    "KIND_IDLE", "KIND_HOTCOLD", "KIND_ALIAS", "KIND_SEQUENTIAL", "KIND_TRACE", "KIND_ZIPF",
    "MIN_PHASE_S", "MAX_PHASE_S", "MAX_WRITES_PER_S", "MAX_RECORD_WRITES",
]

KIND_IDLE, KIND_HOTCOLD, KIND_ALIAS, KIND_SEQUENTIAL, KIND_TRACE, KIND_ZIPF = 0, 1, 2, 3, 4, 5
_U32 = 2**32

#: Shortest phase or trace (and bitmap sampling interval) a workload may have, in
#: seconds of guest time.  The kernel does about as much work to enter a phase as
#: to apply one write, and a repeating workload enters ``1 / duration`` phases per
#: simulated second, so without a floor a 1e-300 s phase never finishes.  One
#: microsecond caps that at 10**6 phase changes per simulated second (the cost of
#: a 10**6 writes/s guest) and is far below anything pre-copy resolves: bitmap
#: syncs and rounds last milliseconds or more.
MIN_PHASE_S = 1e-6
#: Longest phase or trace, in seconds of guest time: the largest ``timeout_s`` a
#: policy accepts (a longer phase never ends within a migration).
MAX_PHASE_S = 1e9
#: Highest mean write rate of any workload (page writes per second of guest time).
MAX_WRITES_PER_S = 1e11
#: Most writes :meth:`Trace.record` may allocate room for (16 bytes each: 4 GiB).
MAX_RECORD_WRITES = 2**28
#: Peak working memory the Zipf tables take per page of the region while they are
#: built (ranks, weights, permutation, the alias table and its work lists):
#: 73 bytes measured with ``tracemalloc`` over 2**22 pages, rounded up.  Used to
#: refuse, before allocating, a region the machine cannot hold.
ZIPF_TABLE_BYTES_PER_PAGE = 80
#: Page indices must fit the kernel's addressing (:data:`precopy.vm.MAX_PAGES`).
_MAX_PAGE_INDEX = 2**32 - 2
#: Largest guest a VM may describe: 2**32 - 1 pages of 1 GiB (sizes and offsets above it fit no VM).
_MAX_BYTES = (2**32 - 1) * 2**30


@dataclass
class _Phase:
    kind: int
    duration_s: float
    rate: float = 0.0
    a: int = 0          # region start page
    b: int = 0          # region pages (hot pages for HOTCOLD)
    thr: int = 0        # HOTCOLD: hot threshold on the low 32 random bits
    alias_prob: np.ndarray | None = None
    alias_idx: np.ndarray | None = None
    trace_t: np.ndarray | None = None
    trace_p: np.ndarray | None = None


class WriteProcess(NamedTuple):
    """Flat arrays the kernel reads: one row per phase plus the shared tables
    (a ``NamedTuple``: numba compiles kernels that take it)."""

    kind: np.ndarray
    dur: np.ndarray
    rate: np.ndarray
    a: np.ndarray
    b: np.ndarray
    thr: np.ndarray
    off: np.ndarray
    n: np.ndarray
    alias_prob: np.ndarray
    alias_idx: np.ndarray
    trace_t: np.ndarray
    trace_p: np.ndarray
    n_pages: int


_Compiled = WriteProcess


def _compile_phases(phases: list[_Phase], n_pages: int) -> WriteProcess:
    k = len(phases)
    kind = np.empty(k, np.int64); dur = np.empty(k, np.float64); rate = np.empty(k, np.float64)
    a = np.empty(k, np.int64); b = np.empty(k, np.int64); thr = np.empty(k, np.uint64)
    off = np.zeros(k, np.int64); n = np.zeros(k, np.int64)
    probs, idxs, tts, tps = [], [], [], []
    aoff = toff = 0
    for i, ph in enumerate(phases):
        kind[i], dur[i], rate[i], a[i], b[i], thr[i] = ph.kind, ph.duration_s, ph.rate, ph.a, ph.b, ph.thr
        if ph.kind in (KIND_ALIAS, KIND_ZIPF):
            off[i], n[i] = aoff, len(ph.alias_prob)
            probs.append(ph.alias_prob); idxs.append(ph.alias_idx); aoff += len(ph.alias_prob)
        elif ph.kind == KIND_TRACE:
            off[i], n[i] = toff, len(ph.trace_t)
            tts.append(ph.trace_t); tps.append(ph.trace_p); toff += len(ph.trace_t)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(1, dt)  # noqa: E731
    return WriteProcess(kind, dur, rate, a, b, thr, off, n, cat(probs, np.uint64), cat(idxs, np.int64),
                        cat(tts, np.float64), cat(tps, np.int64), int(n_pages))


def _per_page(vm, seed):
    """Check ``seed``, and refuse a per-page probability array (8 bytes a page) the machine cannot hold."""
    v.seed(seed)
    v.memory_budget(8 * vm.n_pages, "memory_bytes", vm.memory_bytes, "per-page write probabilities")


def _pages_of(nbytes, vm, name):
    """Bytes to a whole number of pages, or a ValueError."""
    if nbytes % vm.page_bytes:
        raise ValueError(f"{name} (bytes) must be a whole multiple of page_bytes={vm.page_bytes}; got {nbytes!r}")
    return nbytes // vm.page_bytes


def _region(offset_bytes, region_bytes, vm, name):
    _check_vm(vm)
    a = _pages_of(offset_bytes, vm, f"{name} offset_bytes")
    b = vm.n_pages - a if region_bytes is None else _pages_of(region_bytes, vm, f"{name} region")
    if b < 1 or a + b > vm.n_pages:
        raise ValueError(
            f"{name}: offset_bytes + region size (bytes) must lie within memory_bytes={vm.memory_bytes} "
            f"and the region must hold at least one page; got offset {offset_bytes}, region {region_bytes}"
        )
    return a, b


def alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for the discrete distribution ``p``.

    Returns ``(threshold, alias)``: draw bucket ``i`` uniformly, keep ``i`` if a
    uniform 32-bit number is below ``threshold[i]`` (out of 2**32), else take
    ``alias[i]``.  Thresholds are rounded to 1/2**32.

    Examples
    --------
    >>> thr, al = alias_table(np.array([0.5, 0.25, 0.25]))
    >>> len(thr), len(al)
    (3, 3)
    """
    from . import _zipf          # compiled: the same stacks, entry for entry, in a fraction of the memory
    return _zipf.alias_table(p)


def alias_probabilities(thr: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """Exact probabilities an alias table draws (the inverse of :func:`alias_table`)."""
    k = len(thr)
    keep = thr.astype(np.float64) / _U32
    p = keep / k
    np.add.at(p, alias, (1.0 - keep) / k)
    return p


class Workload:
    """Base class: a seeded stream of guest page writes."""

    #: writes per second of guest time (mean, for phased workloads)
    writes_per_s: float = 0.0
    #: True when :meth:`compile` draws from the seed (the tables differ from seed
    #: to seed); False when only the kernel's page-choice stream does.
    seed_dependent: bool = False

    def _phases(self, vm, rng: np.random.Generator) -> list[_Phase]:  # pragma: no cover - abstract
        raise NotImplementedError

    def compile(self, vm, seed: int = 0) -> WriteProcess:
        """Flatten into the arrays the kernel reads (validates against ``vm``)."""
        _check_vm(vm)
        return _compile_phases(self._phases(vm, np.random.default_rng(v.seed(seed))), vm.n_pages)

    def page_probabilities(self, vm, seed: int = 0) -> np.ndarray:
        """Probability that one write hits each page (length ``vm.n_pages``).

        Defined for stationary random workloads; phased and trace workloads raise.
        """
        raise ValueError(f"{type(self).__name__} has no stationary per-page write distribution")

    def validate(self, vm):
        """Raise ValueError if this workload does not fit ``vm`` (allocates nothing)."""


def _rate(x, name="writes_per_s"):
    return v.real(x, name, "page writes per second", lo=0.0, hi=MAX_WRITES_PER_S)


def _duration(x, name):
    return v.real(x, name, "s of guest time", lo=MIN_PHASE_S, hi=MAX_PHASE_S)


def _check_vm(vm):
    from .vm import VM
    if not isinstance(vm, VM):
        raise ValueError(f"vm must be a precopy.VM; got {type(vm).__name__}")
    return vm


_flag = v.flag


@dataclass(frozen=True)
class Idle(Workload):
    """A guest that writes nothing: pre-copy needs exactly one round.

    Examples
    --------
    >>> Idle().writes_per_s
    0.0
    """

    writes_per_s: float = field(default=0.0, init=False)

    def _phases(self, vm, rng):
        return [_Phase(KIND_IDLE, math.inf)]

    def page_probabilities(self, vm, seed=0):
        _per_page(vm, seed)
        return np.zeros(vm.n_pages)


@dataclass(frozen=True)
class HotCold(Workload):
    """A writable working set: a hot region takes a share of writes.

    A share ``hot_fraction`` of writes falls uniformly on the hot set of
    ``wws_bytes`` starting at ``offset_bytes``; the rest falls uniformly on *all*
    memory (hot set included), the two-class model of Aldhalaan & Menasce (EPEW
    2013) and of the benchmark scenarios.

    Parameters
    ----------
    wws_bytes : int
        Hot-set (writable working set) size in bytes, a multiple of the page size.
    hot_fraction : float, default 0.9
        Share of writes going to the hot set, in [0, 1].
    writes_per_s : float
        Page writes per second of guest time.
    offset_bytes : int, default 0
        Where the hot set starts in guest memory (matters only with page skip).

    Examples
    --------
    >>> import precopy as pc
    >>> wl = pc.workloads.HotCold(wws_bytes=pc.GiB(1), hot_fraction=0.9, writes_per_s=200_000)
    """

    wws_bytes: int = 0
    hot_fraction: float = 0.9
    writes_per_s: float = 0.0
    offset_bytes: int = 0

    def __post_init__(self):
        object.__setattr__(self, "wws_bytes", v.integer(self.wws_bytes, "wws_bytes", "bytes", lo=0, hi=_MAX_BYTES))
        object.__setattr__(self, "hot_fraction", v.fraction(self.hot_fraction, "hot_fraction"))
        object.__setattr__(self, "writes_per_s", _rate(self.writes_per_s))
        object.__setattr__(self, "offset_bytes", v.integer(self.offset_bytes, "offset_bytes", "bytes", lo=0, hi=_MAX_BYTES))

    def _hot(self, vm):
        _check_vm(vm)
        h = _pages_of(self.wws_bytes, vm, "wws_bytes")
        a = _pages_of(self.offset_bytes, vm, "offset_bytes")
        if a + h > vm.n_pages:
            raise ValueError(
                f"wws_bytes + offset_bytes (bytes) must be in [0, memory_bytes={vm.memory_bytes}]; "
                f"got {self.wws_bytes} + {self.offset_bytes}"
            )
        if h == 0 and self.hot_fraction > 0 and self.writes_per_s > 0:
            raise ValueError("wws_bytes (bytes) must be at least one page when hot_fraction > 0; got 0")
        return a, h

    def validate(self, vm):
        self._hot(vm)

    def hot_region(self, vm) -> tuple[int, int]:
        """(first page, pages) of the hot set in ``vm``."""
        return self._hot(vm)

    def hot_share(self) -> float:
        """Share of writes aimed at the hot set, exactly as the kernel draws it
        (``hot_fraction`` rounded to a 32-bit threshold)."""
        return self._threshold() / _U32

    def _threshold(self):
        return min(int(round(self.hot_fraction * _U32)), _U32)

    def _phases(self, vm, rng):
        a, h = self._hot(vm)
        if self.writes_per_s == 0:
            return [_Phase(KIND_IDLE, math.inf)]
        return [_Phase(KIND_HOTCOLD, math.inf, self.writes_per_s, a, h, self._threshold())]

    def page_probabilities(self, vm, seed=0):
        a, h = self._hot(vm)
        hot = self._threshold() / _U32          # exactly what the kernel draws
        _per_page(vm, seed)
        p = np.full(vm.n_pages, (1.0 - hot) / vm.n_pages)
        if h:
            p[a:a + h] += hot / h
        return p


@dataclass(frozen=True)
class Uniform(HotCold):
    """Writes uniformly at random over all of memory.

    Examples
    --------
    >>> import precopy as pc
    >>> wl = pc.workloads.Uniform(writes_per_s=50_000)
    """

    writes_per_s: float = 0.0
    wws_bytes: int = field(default=0, init=False)
    hot_fraction: float = field(default=0.0, init=False)
    offset_bytes: int = field(default=0, init=False)


@dataclass(frozen=True)
class Zipf(Workload):
    """Zipf-skewed page popularity: the k-th most popular page is written with
    probability proportional to ``1 / k**s``.

    Popularity ranks are scattered over the region by a permutation drawn from the
    simulation seed, so hot pages are not contiguous.

    Parameters
    ----------
    s : float, default 1.0
        Zipf exponent, in [0, 10] (0 is uniform).
    writes_per_s : float
        Page writes per second of guest time.
    region_bytes : int or None
        Size of the written region (default: all memory from ``offset_bytes``).
    offset_bytes : int, default 0
        Start of the region.

    Examples
    --------
    >>> import precopy as pc
    >>> wl = pc.workloads.Zipf(s=1.1, writes_per_s=100_000, region_bytes=pc.GiB(2))
    """

    s: float = 1.0
    writes_per_s: float = 0.0
    region_bytes: int | None = None
    offset_bytes: int = 0

    #: the rank permutation is drawn from the seed
    seed_dependent = True

    def __post_init__(self):
        object.__setattr__(self, "s", v.real(self.s, "s", "Zipf exponent", lo=0.0, hi=10.0))
        object.__setattr__(self, "writes_per_s", _rate(self.writes_per_s))
        if self.region_bytes is not None:
            object.__setattr__(self, "region_bytes", v.integer(self.region_bytes, "region_bytes", "bytes", lo=1, hi=_MAX_BYTES))
        object.__setattr__(self, "offset_bytes", v.integer(self.offset_bytes, "offset_bytes", "bytes", lo=0, hi=_MAX_BYTES))

    def _check(self, vm):
        return _region(self.offset_bytes, self.region_bytes, vm, "Zipf")

    def validate(self, vm):
        self._check(vm)

    def _probs(self, b, rng):
        name, value = (("region_bytes", self.region_bytes) if self.region_bytes is not None
                       else ("memory_bytes (the Zipf region: all memory from offset_bytes)", b))
        v.memory_budget(b * ZIPF_TABLE_BYTES_PER_PAGE, name, value, f"the Zipf popularity table of {b} pages")
        ranks = np.arange(1, b + 1, dtype=np.float64)
        w = ranks ** (-self.s)
        w /= w.sum()
        return w[rng.permutation(b)]

    def _large(self, b, rng):
        """Parameters of the constant-memory draw (regions above ``ZIPF_TABLE_MAX_PAGES``)."""
        from . import _zipf
        return _zipf.params(b, self.s, int(rng.integers(0, 2**63)))

    def _phases(self, vm, rng):
        from .config import ZIPF_TABLE_MAX_PAGES
        a, b = self._check(vm)
        if self.writes_per_s == 0:
            return [_Phase(KIND_IDLE, math.inf)]
        if b > ZIPF_TABLE_MAX_PAGES:
            prm = self._large(b, rng)
            return [_Phase(KIND_ZIPF, math.inf, self.writes_per_s, a, b, 0, alias_prob=prm,
                           alias_idx=np.zeros(len(prm), np.int64))]
        thr, alias = alias_table(self._probs(b, rng))
        return [_Phase(KIND_ALIAS, math.inf, self.writes_per_s, a, b, 0, alias_prob=thr, alias_idx=alias)]

    def page_probabilities(self, vm, seed=0):
        from .config import ZIPF_TABLE_MAX_PAGES
        a, b = self._check(vm)
        _per_page(vm, seed)
        if b > ZIPF_TABLE_MAX_PAGES:
            from . import _zipf
            return _zipf.page_probabilities(a, b, self.s, self._large(b, np.random.default_rng(seed)), vm.n_pages)
        thr, alias = alias_table(self._probs(b, np.random.default_rng(v.seed(seed))))
        p = np.zeros(vm.n_pages)
        p[a:a + b] = alias_probabilities(thr, alias)
        return p


@dataclass(frozen=True)
class Sequential(Workload):
    """A writer sweeping a region page after page, wrapping at its end.

    The memory-stress program of Clark et al. (NSDI 2005, Sec. 6.5, "MMuncher")
    writes a 256 MB region faster than the link can send it.

    Parameters
    ----------
    region_bytes : int
        Size of the swept region in bytes.
    writes_per_s : float
        Pages written per second of guest time.
    offset_bytes : int, default 0
        Start of the region.

    Examples
    --------
    >>> import precopy as pc
    >>> wl = pc.workloads.Sequential(region_bytes=pc.MiB(256), writes_per_s=50_000)
    """

    region_bytes: int = 0
    writes_per_s: float = 0.0
    offset_bytes: int = 0

    def __post_init__(self):
        object.__setattr__(self, "region_bytes", v.integer(self.region_bytes, "region_bytes", "bytes", lo=1, hi=_MAX_BYTES))
        object.__setattr__(self, "writes_per_s", _rate(self.writes_per_s))
        object.__setattr__(self, "offset_bytes", v.integer(self.offset_bytes, "offset_bytes", "bytes", lo=0, hi=_MAX_BYTES))

    def validate(self, vm):
        _region(self.offset_bytes, self.region_bytes, vm, "Sequential")

    def _phases(self, vm, rng):
        a, b = _region(self.offset_bytes, self.region_bytes, vm, "Sequential")
        if self.writes_per_s == 0:
            return [_Phase(KIND_IDLE, math.inf)]
        return [_Phase(KIND_SEQUENTIAL, math.inf, self.writes_per_s, a, b)]

    def page_probabilities(self, vm, seed=0):
        a, b = _region(self.offset_bytes, self.region_bytes, vm, "Sequential")
        _per_page(vm, seed)
        p = np.zeros(vm.n_pages)
        p[a:a + b] = 1.0 / b
        return p


@dataclass(frozen=True)
class Phased(Workload):
    """Workloads one after another, each for a duration of guest time.

    Parameters
    ----------
    phases : sequence of (Workload, duration_s)
        Each workload runs for ``duration_s`` seconds of guest time, in
        [:data:`MIN_PHASE_S`, :data:`MAX_PHASE_S`] = [1e-6, 1e9] s.  Nested
        :class:`Phased` and :class:`Trace` workloads are allowed; each phase
        restarts its own sequence when it comes round again.
    repeat : bool, default True
        Cycle through the phases forever; if False the guest is idle after the last.

    Examples
    --------
    >>> import precopy as pc
    >>> wl = pc.workloads.Phased([(pc.workloads.Idle(), 5.0),
    ...                           (pc.workloads.Uniform(writes_per_s=1e5), 2.0)])
    """

    phases: tuple = ()
    repeat: bool = True

    def __post_init__(self):
        try:
            ph = tuple(tuple(p) for p in self.phases)
        except TypeError:
            raise ValueError("phases must be a non-empty sequence of (Workload, duration_s) pairs; "
                             f"got {self.phases!r}") from None
        if not ph:
            raise ValueError("phases must be a non-empty sequence of (Workload, duration_s) pairs; got none")
        for i, p in enumerate(ph):
            if len(p) != 2 or not isinstance(p[0], Workload):
                raise ValueError(f"phases[{i}] must be a (Workload, duration_s) pair; got {p!r}")
        ph = tuple((w, _duration(d, f"phases[{i}] duration_s")) for i, (w, d) in enumerate(ph))
        object.__setattr__(self, "phases", ph)
        object.__setattr__(self, "repeat", _flag(self.repeat, "repeat"))

    @property
    def seed_dependent(self) -> bool:  # type: ignore[override]
        return any(w.seed_dependent for w, _ in self.phases)

    @property
    def writes_per_s(self) -> float:  # type: ignore[override]
        total = sum(d for _, d in self.phases)
        return sum(w.writes_per_s * d for w, d in self.phases) / total

    def validate(self, vm):
        for wl, _ in self.phases:
            wl.validate(vm)

    def _phases(self, vm, rng):
        out = []
        for wl, d in self.phases:
            sub = wl._phases(vm, rng)
            if len(sub) == 1:
                out.append(_clone(sub[0], float(d)))
            else:   # a nested sequence: run its phases, truncated to d
                left = float(d)
                for s in sub:
                    take = min(s.duration_s, left)
                    out.append(_clone(s, take))
                    left -= take
                    if left <= 0:
                        break
                if left > 0:
                    out.append(_Phase(KIND_IDLE, left))
        if not self.repeat:
            out.append(_Phase(KIND_IDLE, math.inf))
        return out


def _clone(ph: _Phase, d: float) -> _Phase:
    return _Phase(ph.kind, d, ph.rate, ph.a, ph.b, ph.thr, ph.alias_prob, ph.alias_idx, ph.trace_t, ph.trace_p)


def _trace_times(x):
    """``times_s`` of a trace as float64, finite, in [0, MAX_PHASE_S], non-decreasing."""
    what = f"times_s (s) must be a 1-D array of finite, non-decreasing guest times in [0, {MAX_PHASE_S:g}]"
    if x is None or isinstance(x, (str, bytes)):
        raise ValueError(f"{what}; got {x!r}")
    try:
        t = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}; got {type(x).__name__} ({e})") from None
    if t.ndim != 1 or not (np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)):
        raise ValueError(f"{what}; got an array of shape {t.shape} and dtype {t.dtype}")
    t = t.astype(np.float64)
    if len(t) and (not np.all(np.isfinite(t)) or t[0] < 0 or t[-1] > MAX_PHASE_S or np.any(np.diff(t) < 0)):
        bad = "not finite" if not np.all(np.isfinite(t)) else (
            "decreasing" if np.any(np.diff(t) < 0) else f"from {t[0]:g} to {t[-1]:g}")
        raise ValueError(f"{what}; got values {bad}")
    return t


def _trace_pages(x):
    """``pages`` of a trace as int64, checked on the original dtype (so that uint64
    values at or above 2**63 cannot wrap negative)."""
    what = f"pages (page index) must be a 1-D array of integers in [0, {_MAX_PAGE_INDEX}]"
    if x is None or isinstance(x, (str, bytes)):
        raise ValueError(f"{what}; got {x!r}")
    try:
        p = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}; got {type(x).__name__} ({e})") from None
    if p.ndim != 1:
        raise ValueError(f"{what}; got an array of shape {p.shape}")
    if len(p) == 0:
        return np.zeros(0, np.int64)
    if not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"{what}; got dtype {p.dtype}")
    lo, hi = p.min(), p.max()          # compared as Python ints: no wrap-around
    if int(lo) < 0 or int(hi) > _MAX_PAGE_INDEX:
        raise ValueError(f"{what}; got values from {int(lo)} to {int(hi)}")
    return p.astype(np.int64)


def _scalar(z, key, path, kind):
    """A scalar entry of a trace file, as a Python number."""
    a = z[key]
    if a.shape != () or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"path {path!s}: entry {key!r} must be a numeric scalar ({kind}); "
                         f"got shape {a.shape} and dtype {a.dtype}")
    x = a.item()
    if kind == "integer":
        if isinstance(x, float):
            if not (np.isfinite(x) and float(x).is_integer()):
                raise ValueError(f"path {path!s}: entry {key!r} must be a whole number; got {x!r}")
            x = int(x)
    return x


@dataclass(frozen=True, eq=False)
class Trace(Workload):
    """Replay recorded page writes.

    Parameters
    ----------
    times_s : array of float
        Guest time of each write, seconds from the start of the trace,
        non-decreasing, in [0, duration_s).
    pages : array of int
        Page index of each write, in [0, vm.n_pages) (checked on the array's own
        dtype: a uint64 page frame number never wraps negative).
    duration_s : float or None
        Length of the trace in [1e-6, 1e9] s (:data:`MIN_PHASE_S`,
        :data:`MAX_PHASE_S`); default: last time + the mean gap.  The trace's
        mean rate ``len(times_s) / duration_s`` is at most 1e11 writes/s.
    loop : bool, default False
        Replay again from the start when the trace ends; otherwise idle after it.
    page_bytes : int or None
        Page size the trace was recorded at (checked against the VM), a power of
        two in [512, 2**30] bytes.

    Notes
    -----
    File format (``.npz``, see :meth:`load` and :meth:`save`): either arrays
    ``times_s`` (float64) and ``pages`` (int64) of equal length, or dirty bitmaps
    sampled at intervals: ``bitmaps`` (uint8, shape ``(k, ceil(n_pages/8))``,
    little-endian bit order as ``numpy.packbits(..., bitorder='little')``) with a
    scalar ``interval_s``; the pages dirty in sample ``j`` are replayed as writes
    spread evenly over ``[j, j+1) * interval_s`` in address order.  Optional
    scalars: ``page_bytes`` (checked against the VM), ``duration_s``.

    Examples
    --------
    >>> import numpy as np
    >>> tr = Trace(times_s=np.array([0.0, 0.5]), pages=np.array([3, 7]), duration_s=1.0)
    >>> tr.writes_per_s
    2.0
    """

    times_s: np.ndarray = None
    pages: np.ndarray = None
    duration_s: float | None = None
    loop: bool = False
    page_bytes: int | None = None

    def __post_init__(self):
        t = _trace_times(self.times_s)
        p = _trace_pages(self.pages)
        if len(t) != len(p):
            raise ValueError(f"times_s (s) and pages (page index) must have equal lengths; got {len(t)} and {len(p)}")
        if self.duration_s is None:
            # last time + the mean gap (1 s for a single write at 0)
            d = (t[-1] + (t[-1] / max(len(t) - 1, 1) if t[-1] > 0 else 1.0)) if len(t) else 1.0
            if not MIN_PHASE_S <= d <= MAX_PHASE_S:
                raise ValueError(f"duration_s (s of guest time) must be in [{MIN_PHASE_S:g}, {MAX_PHASE_S:g}]; "
                                 f"the default (last write time + mean gap) is {d:g}: pass duration_s")
        else:
            d = _duration(self.duration_s, "duration_s")
        if len(t) and t[-1] >= d:
            raise ValueError(f"duration_s (s) must exceed the last write time {t[-1]}; got {d}")
        if len(t) / d > MAX_WRITES_PER_S:
            raise ValueError(f"duration_s (s): the trace's write rate len(times_s) / duration_s must be at most "
                             f"{MAX_WRITES_PER_S:g} writes/s; got {len(t)} writes in {d:g} s")
        object.__setattr__(self, "times_s", t)
        object.__setattr__(self, "pages", p)
        object.__setattr__(self, "duration_s", float(d))
        object.__setattr__(self, "loop", _flag(self.loop, "loop"))
        if self.page_bytes is not None:
            pb = v.integer(self.page_bytes, "page_bytes", "bytes", lo=512, hi=2**30)
            if pb & (pb - 1):
                raise ValueError(f"page_bytes (bytes) must be a power of two in [512, 1073741824]; "
                                 f"got {self.page_bytes!r}")
            object.__setattr__(self, "page_bytes", pb)

    @property
    def writes_per_s(self) -> float:  # type: ignore[override]
        return len(self.times_s) / self.duration_s

    def validate(self, vm):
        _check_vm(vm)
        if len(self.pages) and self.pages.max() >= vm.n_pages:
            raise ValueError(f"pages (page index) must be in [0, {vm.n_pages - 1}] (vm.n_pages={vm.n_pages}); "
                             f"got {self.pages.max()}")
        if self.page_bytes is not None and self.page_bytes != vm.page_bytes:
            raise ValueError(f"page_bytes (bytes) of the trace ({self.page_bytes}) must equal the VM's ({vm.page_bytes})")

    def _phases(self, vm, rng):
        self.validate(vm)
        ph = _Phase(KIND_TRACE, self.duration_s, 0.0, trace_t=self.times_s, trace_p=self.pages)
        return [ph] if self.loop else [ph, _Phase(KIND_IDLE, math.inf)]

    @classmethod
    def from_bitmaps(cls, bitmaps, interval_s, n_pages=None, loop=False, page_bytes=None):
        """Build a trace from dirty bitmaps sampled every ``interval_s`` seconds.

        ``bitmaps`` is a boolean array ``(k, n_pages)`` or packed uint8 rows
        (``numpy.packbits(..., bitorder='little')``, with ``n_pages`` given).
        ``interval_s`` is in [1e-6, 1e9] s (:data:`MIN_PHASE_S`, :data:`MAX_PHASE_S`).
        """
        interval_s = _duration(interval_s, "interval_s")
        if n_pages is not None:
            n_pages = v.integer(n_pages, "n_pages", "pages", lo=1, hi=_MAX_PAGE_INDEX + 1)
        try:
            bm = np.asarray(bitmaps)
        except (TypeError, ValueError) as e:
            raise ValueError(f"bitmaps must be a 2-D array (samples x pages, or samples x packed bytes); "
                             f"got {type(bitmaps).__name__} ({e})") from None
        if bm.ndim != 2 or not (bm.dtype == bool or np.issubdtype(bm.dtype, np.integer)):
            raise ValueError("bitmaps must be a 2-D boolean or uint8 array (samples x pages, or samples x "
                             f"packed bytes); got shape {bm.shape} and dtype {bm.dtype}")
        if bm.dtype == np.uint8 and n_pages is not None and bm.shape[1] != n_pages:
            if bm.shape[1] != -(-n_pages // 8):
                raise ValueError(f"bitmaps: packed rows must hold ceil(n_pages / 8) = {-(-n_pages // 8)} bytes "
                                 f"(or n_pages={n_pages} unpacked flags); got {bm.shape[1]}")
            bm = np.unpackbits(bm, axis=1, bitorder="little")[:, :n_pages]
        elif bm.dtype != bool and bm.size and (bm.min() < 0 or bm.max() > 1):
            raise ValueError("bitmaps: unpacked rows must hold 0/1 flags (pass n_pages for packed uint8 rows); "
                             f"got values up to {bm.max()}")
        if bm.shape[1] > _MAX_PAGE_INDEX + 1:
            raise ValueError(f"bitmaps: at most {_MAX_PAGE_INDEX + 1} pages per row; got {bm.shape[1]}")
        if len(bm) * interval_s > MAX_PHASE_S:
            raise ValueError(f"interval_s (s) x number of samples must be at most {MAX_PHASE_S:g} s; "
                             f"got {len(bm)} x {interval_s:g}")
        bm = bm.astype(bool)
        times, pages = [], []
        for j, row in enumerate(bm):
            pg = np.flatnonzero(row)
            times.append(interval_s * (j + np.arange(len(pg)) / max(len(pg), 1)))
            pages.append(pg)
        t = np.concatenate(times) if times else np.zeros(0)
        p = np.concatenate(pages) if pages else np.zeros(0, np.int64)
        return cls(times_s=t, pages=p, duration_s=interval_s * len(bm) if len(bm) else None, loop=loop,
                   page_bytes=page_bytes)

    @classmethod
    def load(cls, path, loop=False):
        """Load a trace from ``.npz`` (format in the class notes).

        Raises
        ------
        ValueError
            Naming ``path`` and the entry, for a missing or unreadable file, a file
            that is not ``.npz``, object (pickled) arrays, or missing or malformed
            entries.
        """
        import zipfile
        v.file_name(path, "path")
        loop = _flag(loop, "loop")
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise ValueError(f"path {path!s}: no such trace file") from None
        except IsADirectoryError:
            raise ValueError(f"path {path!s}: is a directory, not a trace file") from None
        except OSError as e:
            raise ValueError(f"path {path!s}: cannot read the trace file ({e.strerror or e})") from None
        except (ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"path {path!s}: not a .npz trace file ({e})") from None
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError(f"path {path!s}: not a .npz trace file (a single .npy array)")
        try:
            with z:
                pb = _scalar(z, "page_bytes", path, "integer") if "page_bytes" in z else None
                if "bitmaps" in z:
                    if "interval_s" not in z:
                        raise ValueError(f"path {path!s}: a bitmap trace file needs the scalar entry "
                                         f"'interval_s' (s) beside 'bitmaps'")
                    bm = z["bitmaps"]
                    n = _scalar(z, "n_pages", path, "integer") if "n_pages" in z else None
                    try:
                        return cls.from_bitmaps(bm, _scalar(z, "interval_s", path, "s"), n_pages=n, loop=loop,
                                                page_bytes=pb)
                    except ValueError as e:
                        raise ValueError(f"path {path!s}: {e}") from None
                if "times_s" not in z or "pages" not in z:
                    raise ValueError(f"path {path!s}: a trace file needs arrays times_s and pages, or bitmaps "
                                     f"and interval_s; got entries {', '.join(z.files) or 'none'}")
                d = _scalar(z, "duration_s", path, "s") if "duration_s" in z else None
                times, pages = z["times_s"], z["pages"]
                try:
                    return cls(times_s=times, pages=pages, duration_s=d, loop=loop, page_bytes=pb)
                except ValueError as e:
                    raise ValueError(f"path {path!s}: {e}") from None
        except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
            raise ValueError(f"path {path!s}: corrupt .npz trace file ({e})") from None
        except ValueError as e:
            if str(e).startswith(f"path {path!s}"):
                raise
            raise ValueError(f"path {path!s}: not a valid trace file ({e})") from None

    @classmethod
    def record(cls, workload, vm, duration_s, seed=0, loop=False, max_writes=50_000_000):
        """Record ``duration_s`` seconds of another workload's write stream as a trace.

        Uses the simulator's own write generator, so the trace holds exactly the
        writes (guest times and pages) that workload makes with this seed.

        Parameters
        ----------
        workload : Workload
            The write process to record.
        vm : VM
            The guest it writes to.
        duration_s : float
            Guest time to record, in [1e-6, 1e7] s.
        seed : int, default 0
            Seed of the write stream, in [0, 2**63).
        loop : bool, default False
            Whether the recorded trace loops when replayed.
        max_writes : int, default 50,000,000
            Most writes to record, in [1, 2**28] (:data:`MAX_RECORD_WRITES`); the
            buffer holds 16 bytes per write and is sized from the expected count.

        Examples
        --------
        >>> import precopy as pc
        >>> vm = pc.VM(memory_bytes=pc.MiB(1))
        >>> tr = Trace.record(Uniform(writes_per_s=1000), vm, duration_s=0.5, seed=1)
        >>> len(tr.pages), tr.duration_s      # writes at 1 ms, 2 ms, ... 499 ms (0.5 s is outside)
        (499, 0.5)
        """
        from . import _kernel as K
        if not isinstance(workload, Workload):
            raise ValueError(f"workload must be a precopy Workload; got {type(workload).__name__}")
        _check_vm(vm)
        duration_s = v.real(duration_s, "duration_s", "s", lo=MIN_PHASE_S, hi=1e7)
        seed = v.seed(seed)
        loop = _flag(loop, "loop")
        if isinstance(workload, Trace):
            laps = duration_s / workload.duration_s if workload.loop else 1.0
            expected = len(workload.pages) * math.ceil(min(laps, 1e18))
        else:
            expected = workload.writes_per_s * duration_s
        max_writes = v.integer(max_writes, "max_writes", "writes", lo=1, hi=MAX_RECORD_WRITES)
        if expected > max_writes:
            raise ValueError(f"duration_s (s) x writes_per_s must stay below max_writes={max_writes} writes; "
                             f"got about {expected:.0f}")
        workload.validate(vm)
        c = workload.compile(vm, seed=seed)
        size = min(int(expected * 1.1) + 16, max_writes)
        v.memory_budget(16 * size, "max_writes", max_writes, "the recorded trace (16 bytes per write)")
        while True:
            out_t = np.empty(size, np.float64)
            out_p = np.empty(size, np.int64)
            k = K.record_writes(duration_s, c, np.uint64(v.seed(seed)), out_t, out_p)
            if k >= 0:
                return cls(times_s=out_t[:k].copy(), pages=out_p[:k].copy(), duration_s=duration_s,
                           loop=loop, page_bytes=vm.page_bytes)
            if size >= max_writes:
                raise ValueError(f"the workload made more than max_writes={max_writes} writes in duration_s")
            size = min(2 * size, max_writes)
            v.memory_budget(16 * size, "max_writes", max_writes, "the recorded trace (16 bytes per write)")

    def save(self, path):
        """Write the trace as ``.npz`` with arrays ``times_s``, ``pages``, ``duration_s``
        (NumPy adds ``.npz`` to a name without it)."""
        target = v.file_name(path, "path")
        if target.is_dir():
            raise ValueError(f"path {path!s}: is a directory; give a file name for the trace")
        if not (target.parent if str(target.parent) else Path(".")).is_dir():
            raise ValueError(f"path {path!s}: folder {target.parent} does not exist")
        extra = {} if self.page_bytes is None else {"page_bytes": self.page_bytes}
        try:
            np.savez_compressed(path, times_s=self.times_s, pages=self.pages, duration_s=self.duration_s, **extra)
        except OSError as e:
            raise ValueError(f"path {path!s}: cannot write the trace ({e.strerror or e})") from None
