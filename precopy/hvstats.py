"""Read what hypervisors report: dirty-rate probes and the statistics of a running migration.

Two kinds of input, each in the JSON of QEMU's monitor (QMP) and in libvirt's
``virsh`` text:

* **dirty-rate probes** (:func:`read_dirty_rate`): the ``DirtyRateInfo`` that
  QMP ``query-dirty-rate`` returns after ``calc-dirty-rate`` (QEMU 5.2+; modes
  ``page-sampling``, ``dirty-bitmap``, ``dirty-ring`` with per-vCPU rates since
  6.2; ``calc-time-unit`` since 8.2), and the ``dirtyrate.*`` fields that
  ``virsh domstats --dirtyrate`` prints after ``virsh domdirtyrate-calc``.
  One probe measures one window: ``dirty-rate`` MiB/s over ``calc-time`` is the
  number of distinct pages the guest dirtied in that window.  Several probes with
  different windows (the same command run with ``calc-time`` 1, 2, 4 ... s) trace
  the distinct-pages curve that identifies a hot/cold workload
  (:func:`precopy.workload_fit.fit_dirty_samples`); a single probe identifies
  only a uniform write rate.
* **job statistics of a migration in flight** (:func:`read_job_stats`): the
  ``MigrationInfo`` of QMP ``query-migrate`` and the text of ``virsh
  domjobinfo``, one snapshot or a series (see :mod:`precopy.eta`).

Every parser turns malformed input (a missing field, a wrong unit, a negative
count, truncated JSON) into one ``ValueError`` that names the field; nothing is
clamped.

Units as the sources define them: QEMU's ``dirty-rate`` is MiB/s
(``qapi/migration.json``: "in units of MiB/s"); libvirt's
``dirtyrate.megabytes_per_second`` is the same number passed through
(``src/qemu/qemu_driver.c``); ``query-migrate`` sizes are bytes, ``mbps`` is
Mbit/s, times are ms; ``virsh domjobinfo`` prints sizes with binary prefixes
(``vshPrettyCapacity``: B, KiB, MiB, GiB, TiB) and times in ms.

References
----------
QEMU ``qapi/migration.json`` (``DirtyRateInfo``, ``calc-dirty-rate``,
``MigrationInfo``, ``MigrationStats``); libvirt ``docs/manpages/virsh.rst``
(``domdirtyrate-calc``, ``domstats --dirtyrate``, ``domjobinfo``) and
``virConnectGetAllDomainStats`` (``VIR_DOMAIN_STATS_DIRTYRATE`` keys).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _validate as v
from .units import GiB, KiB, MiB

__all__ = ["example_path", "DirtyRateSample", "DirtyRateReport", "MigrationSnapshot", "read_dirty_rate", "parse_dirty_rate",
           "read_job_stats", "parse_job_stats", "DirtyRateFit", "fit_dirty_rate", "predict_dirty_rate"]

#: QEMU's default ``sample-pages`` per GiB (``calc-dirty-rate``).
DEFAULT_SAMPLE_PAGES = 512
_MODES = ("page-sampling", "dirty-bitmap", "dirty-ring")
_STATUSES = ("unstarted", "measuring", "measured")
#: libvirt's virDomainDirtyRateStatus as printed by ``virsh domstats``.
_VIRSH_STATUS = {"0": "unstarted", "1": "measuring", "2": "measured"}
#: Largest window accepted (s).  QEMU's ``calc-dirty-rate`` allows at most 60 s
#: (``migration/dirtyrate.h``: ``MAX_FETCH_DIRTYRATE_TIME_SEC``, since 8.2 ``MAX_CALC_TIME_MS``);
#: an hour leaves room without admitting nonsense.
MAX_INTERVAL_S = 3600.0
#: Largest rate accepted (bytes/s): 1 PB/s, far beyond any memory bus.
MAX_RATE_BPS = 1e15
_MAX_RATE_MIBPS = MAX_RATE_BPS / 2**20
#: Largest ``sample-pages`` per GiB: every page of a GiB of 512-byte pages (QEMU itself takes at
#: most 16384, ``MAX_SAMPLE_PAGE_COUNT``).
MAX_SAMPLE_PAGES = 2**21
#: Largest counter (``dirty-sync-count``, ``postcopy-requests``): QEMU's uint64.
MAX_COUNT = 2**64 - 1


# --- small checked readers ------------------------------------------------------------------------

def example_path(name: str) -> Path:
    """Path of a shipped example report in ``precopy/data/examples/`` (see ``data/README.md``).

    Examples
    --------
    >>> example_path("qmp_query_migrate.json").name
    'qmp_query_migrate.json'
    """
    from . import datasets
    v.text(name, "name", empty=False)
    p = datasets.data_dir() / "examples" / name
    if not p.is_file():
        have = sorted(q.name for q in (datasets.data_dir() / "examples").iterdir() if q.is_file())
        raise ValueError(f"name {name!r}: no such example report in the package's data/examples "
                         f"(available: {', '.join(have)})")
    return datasets.path(Path("examples") / name)


def _load_json(text: str, label: str):
    """A JSON value, a JSON array, or JSON Lines (one QMP message per line)."""
    s = text.strip()
    if not s:
        raise ValueError(f"{label}: empty input")
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        whole = e
    out = []
    for i, line in enumerate(s.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            if len(out) == 0 and i == whole.lineno:
                e = whole                       # not JSON Lines either: report the document's error
            raise ValueError(f"{label}: truncated or invalid JSON at line {i if e is not whole else e.lineno}, "
                             f"column {e.colno}: {e.msg}") from None
    return out


def _check_text(text, label):
    if not isinstance(text, str):
        raise ValueError(f"{label}: text must be a string (the report's contents); got {type(text).__name__}")


def _num(obj, key, where, unit, *, integer=False, lo=0.0, hi=None, required=True, default=None):
    if key not in obj or obj[key] is None:
        if required:
            raise ValueError(f"{where}: field {key!r} ({unit}) is missing")
        return default
    x = obj[key]
    if isinstance(x, bool) or not isinstance(x, (int, float)) or (isinstance(x, float) and not math.isfinite(x)):
        raise ValueError(f"{where}: field {key!r} ({unit}) must be a number; got {x!r}")
    if integer and not float(x).is_integer():
        raise ValueError(f"{where}: field {key!r} ({unit}) must be a whole number; got {x!r}")
    if lo is not None and x < lo:
        raise ValueError(f"{where}: field {key!r} ({unit}) must be >= {lo:g}; got {x!r}")
    if hi is not None and x > hi:
        raise ValueError(f"{where}: field {key!r} ({unit}) must be <= {hi:g}; got {x!r}")
    return int(x) if integer else float(x)


def _choice(obj, key, where, options, *, required=True, default=None):
    if key not in obj:
        if required:
            raise ValueError(f"{where}: field {key!r} is missing (one of {', '.join(options)})")
        return default
    x = obj[key]
    if x not in options:
        raise ValueError(f"{where}: field {key!r} must be one of {', '.join(map(repr, options))}; got {x!r}")
    return x


# --- dirty-rate probes ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DirtyRateSample:
    """One dirty-rate measurement window.

    Attributes
    ----------
    interval_s : float
        The window (``calc-time``), seconds.
    dirty_rate_Bps : float
        Distinct bytes dirtied in the window per second (QEMU's MiB/s x 2**20).
    mode : str
        ``page-sampling``, ``dirty-bitmap`` or ``dirty-ring``.
    sample_pages_per_gib : int
        Pages sampled per GiB (page sampling only).
    vcpu_rates_Bps : tuple of float
        Per-vCPU rates (dirty ring), bytes/s.
    start_time_s : float
        ``start-time`` as reported (seconds of QEMU's clock).
    """

    interval_s: float
    dirty_rate_Bps: float
    mode: str = "page-sampling"
    sample_pages_per_gib: int = DEFAULT_SAMPLE_PAGES
    vcpu_rates_Bps: tuple = ()
    start_time_s: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "interval_s", v.real(self.interval_s, "interval_s", "s", lo=0.0, lo_open=True,
                                                      hi=MAX_INTERVAL_S))
        object.__setattr__(self, "dirty_rate_Bps", v.real(self.dirty_rate_Bps, "dirty_rate_Bps", "bytes/s", lo=0.0,
                                                          hi=MAX_RATE_BPS))
        v.choice(self.mode, "mode", _MODES)
        sp = v.integer(self.sample_pages_per_gib, "sample_pages_per_gib", "pages per GiB",
                       lo=1 if self.mode == "page-sampling" else 0, hi=MAX_SAMPLE_PAGES)
        object.__setattr__(self, "sample_pages_per_gib", sp)
        vc = v.reals(self.vcpu_rates_Bps, "vcpu_rates_Bps", "bytes/s", lo=0.0, hi=MAX_RATE_BPS, min_len=0)
        object.__setattr__(self, "vcpu_rates_Bps", tuple(float(x) for x in vc))
        object.__setattr__(self, "start_time_s", v.real(self.start_time_s, "start_time_s", "s", lo=0.0))

    def dirty_pages(self, page_bytes: int) -> float:
        """Distinct pages dirtied in the window."""
        page_bytes = v.page_size(page_bytes, "page_bytes")
        return self.dirty_rate_Bps * self.interval_s / page_bytes


@dataclass(frozen=True)
class DirtyRateReport:
    """The dirty-rate probes of one guest, with its memory.

    ``memory_bytes`` comes from the input when it holds it (QMP
    ``query-memory-size-summary``'s ``base-memory``; ``balloon.maximum`` KiB in
    ``virsh domstats``), else from the caller.
    """

    samples: tuple
    memory_bytes: int
    page_bytes: int
    source: str = ""
    fmt: str = ""

    def __post_init__(self):
        from .vm import MAX_PAGES
        smp = self.samples
        if isinstance(smp, (str, bytes, dict)) or not hasattr(smp, "__iter__"):
            raise ValueError(f"samples must be a non-empty sequence of DirtyRateSample; got {smp!r}")
        smp = tuple(smp)
        if not smp or not all(isinstance(x, DirtyRateSample) for x in smp):
            raise ValueError(f"samples must be a non-empty sequence of DirtyRateSample; got {self.samples!r}")
        object.__setattr__(self, "samples", smp)
        page = v.page_size(self.page_bytes, "page_bytes")
        mem = v.integer(self.memory_bytes, "memory_bytes", "bytes", lo=page, hi=MAX_PAGES * page)
        if mem % page:
            raise ValueError(f"memory_bytes (bytes) must be a whole multiple of page_bytes={page}; "
                             f"got {self.memory_bytes!r}")
        object.__setattr__(self, "page_bytes", page)
        object.__setattr__(self, "memory_bytes", mem)
        v.text(self.source, "source")
        v.text(self.fmt, "fmt")

    @property
    def intervals_s(self) -> np.ndarray:
        return np.array([s.interval_s for s in self.samples])

    @property
    def dirty_pages(self) -> np.ndarray:
        return np.array([s.dirty_pages(self.page_bytes) for s in self.samples])

    def measurement_se_pages(self) -> np.ndarray:
        """Standard error of each window's distinct-page count (pages).

        QEMU reports whole MiB/s (the rate is truncated), a rounding error with
        standard deviation ``1/sqrt(12)`` MiB/s over the window; page sampling
        adds the binomial error of estimating the dirty share from
        ``sample_pages_per_gib x memory GiB`` sampled pages.
        """
        n_pages = self.memory_bytes / self.page_bytes
        out = []
        for s in self.samples:
            trunc = MiB(1) / math.sqrt(12.0) * s.interval_s / self.page_bytes
            var = trunc ** 2
            if s.mode == "page-sampling":
                n_s = max(1.0, s.sample_pages_per_gib * self.memory_bytes / GiB(1))
                p = min(max(s.dirty_pages(self.page_bytes) / n_pages, 0.0), 1.0)
                var += (n_pages ** 2) * p * (1 - p) / n_s
            out.append(math.sqrt(var))
        return np.array(out)


def _dirty_info(obj, where) -> DirtyRateSample | None:
    """One QMP DirtyRateInfo (or None for a message that is not one)."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object (QMP DirtyRateInfo); got {type(obj).__name__}")
    if "return" in obj:
        obj = obj["return"]
        if not isinstance(obj, dict):
            return None
    if "error" in obj:
        err = obj["error"]
        raise ValueError(f"{where}: QMP error {err.get('class', '')}: {err.get('desc', err)}")
    if "base-memory" in obj or ("execute" in obj) or ("event" in obj) or not obj:
        return None
    status = _choice(obj, "status", where, _STATUSES)
    if status != "measured":
        raise ValueError(f"{where}: field 'status' is {status!r}: the probe has not finished (need 'measured')")
    unit = _choice(obj, "calc-time-unit", where, ("second", "millisecond"), required=False, default="second")
    t = _num(obj, "calc-time", where, unit + "s", integer=True, lo=1,
             hi=MAX_INTERVAL_S * (1000 if unit == "millisecond" else 1))
    t_s = t / 1000.0 if unit == "millisecond" else float(t)
    rate = _num(obj, "dirty-rate", where, "MiB/s", integer=True, lo=0, hi=_MAX_RATE_MIBPS)
    mode = _choice(obj, "mode", where, _MODES, required=False, default="page-sampling")
    sp = _num(obj, "sample-pages", where, "pages per GiB", integer=True, lo=0, hi=MAX_SAMPLE_PAGES, required=False,
              default=DEFAULT_SAMPLE_PAGES)
    if mode == "page-sampling" and sp < 1:
        raise ValueError(f"{where}: field 'sample-pages' (pages per GiB) must be >= 1 in page-sampling mode; "
                         f"got {sp}")
    vc = ()
    if "vcpu-dirty-rate" in obj:
        lst = obj["vcpu-dirty-rate"]
        if not isinstance(lst, list):
            raise ValueError(f"{where}: field 'vcpu-dirty-rate' must be a list of {{id, dirty-rate}}; got {lst!r}")
        rates = []
        for j, e in enumerate(lst):
            w = f"{where}: vcpu-dirty-rate[{j}]"
            if not isinstance(e, dict):
                raise ValueError(f"{w}: expected an object with 'id' and 'dirty-rate'")
            _num(e, "id", w, "vCPU index", integer=True, lo=0)
            rates.append(_num(e, "dirty-rate", w, "MiB/s", integer=True, lo=0, hi=_MAX_RATE_MIBPS) * MiB(1))
        vc = tuple(rates)
    elif mode == "dirty-ring":
        raise ValueError(f"{where}: field 'vcpu-dirty-rate' (MiB/s per vCPU) is missing; dirty-ring mode reports it")
    start = _num(obj, "start-time", where, "s", lo=0, required=False, default=0.0)
    return DirtyRateSample(interval_s=t_s, dirty_rate_Bps=rate * MiB(1), mode=mode, sample_pages_per_gib=sp,
                           vcpu_rates_Bps=vc, start_time_s=start)


def _parse_qmp_dirty(data, label):
    items = data if isinstance(data, list) else [data]
    samples, mem = [], None
    for i, obj in enumerate(items):
        where = f"{label}: message {i + 1}" if len(items) > 1 else label
        if isinstance(obj, dict) and isinstance(obj.get("return"), dict) and "base-memory" in obj["return"]:
            r = obj["return"]
            mem = _num(r, "base-memory", where, "bytes", integer=True, lo=1) + \
                _num(r, "plugged-memory", where, "bytes", integer=True, lo=0, required=False, default=0)
            continue
        s = _dirty_info(obj, where)
        if s is not None:
            samples.append(s)
    return samples, mem


_KV = re.compile(r"^\s*([A-Za-z0-9_.]+)=(.*)$")


def _parse_domstats(text, label):
    """``virsh domstats --dirtyrate`` (optionally with --balloon): one domain."""
    blocks, cur = [], None
    for ln, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("Domain:"):
            cur = {"_line": ln, "_name": line.split(":", 1)[1].strip().strip("'")}
            blocks.append(cur)
            continue
        m = _KV.match(line)
        if not m:
            raise ValueError(f"{label} line {ln}: expected 'key=value' or \"Domain: 'name'\"; got {line.strip()!r}")
        if cur is None:
            raise ValueError(f"{label} line {ln}: a field before the \"Domain: 'name'\" line")
        cur[m.group(1)] = m.group(2).strip()
    if not blocks:
        raise ValueError(f"{label}: no \"Domain: 'name'\" block (virsh domstats --dirtyrate output)")
    samples, mem = [], None

    def num(b, key, unit, where, *, integer=True, lo=0, hi=None):
        if key not in b:
            raise ValueError(f"{where}: field {key!r} ({unit}) is missing")
        s = b[key]
        try:
            x = float(s)
        except ValueError:
            raise ValueError(f"{where}: field {key!r} ({unit}) must be a number; got {s!r}") from None
        if not math.isfinite(x) or (integer and not x.is_integer()):
            raise ValueError(f"{where}: field {key!r} ({unit}) must be a whole number; got {s!r}")
        if lo is not None and x < lo:
            raise ValueError(f"{where}: field {key!r} ({unit}) must be >= {lo}; got {s!r}")
        if hi is not None and x > hi:
            raise ValueError(f"{where}: field {key!r} ({unit}) must be <= {hi:g}; got {s!r}")
        return x

    for b in blocks:
        where = f"{label} (domain {b['_name']!r}, line {b['_line']})"
        if "balloon.maximum" in b:
            mem = int(num(b, "balloon.maximum", "KiB", where, lo=1)) * KiB(1)
        st = b.get("dirtyrate.calc_status")
        if st is None:
            raise ValueError(f"{where}: field 'dirtyrate.calc_status' is missing (run virsh domdirtyrate-calc "
                             f"first, then virsh domstats --dirtyrate)")
        status = _VIRSH_STATUS.get(st, st)
        if status not in _STATUSES:
            raise ValueError(f"{where}: field 'dirtyrate.calc_status' must be 0, 1 or 2; got {st!r}")
        if status != "measured":
            raise ValueError(f"{where}: field 'dirtyrate.calc_status' is {st} ({status}): the probe has not "
                             f"finished (need 2, measured)")
        period = num(b, "dirtyrate.calc_period", "s", where, lo=1, hi=MAX_INTERVAL_S)
        rate = num(b, "dirtyrate.megabytes_per_second", "MiB/s", where, hi=_MAX_RATE_MIBPS)
        mode = b.get("dirtyrate.calc_mode", "page-sampling")
        if mode not in _MODES:
            raise ValueError(f"{where}: field 'dirtyrate.calc_mode' must be one of {', '.join(_MODES)}; "
                             f"got {mode!r}")
        vkeys = sorted((k for k in b if re.fullmatch(r"dirtyrate\.vcpu\.\d+\.megabytes_per_second", k)),
                       key=lambda k: int(k.split(".")[2]))
        vc = tuple(num(b, k, "MiB/s", where, hi=_MAX_RATE_MIBPS) * MiB(1) for k in vkeys)
        if mode == "dirty-ring" and not vc:
            raise ValueError(f"{where}: field 'dirtyrate.vcpu.0.megabytes_per_second' (MiB/s) is missing; "
                             f"dirty-ring mode reports per-vCPU rates")
        start = num(b, "dirtyrate.calc_start_time", "s", where) if "dirtyrate.calc_start_time" in b else 0.0
        samples.append(DirtyRateSample(interval_s=period, dirty_rate_Bps=rate * MiB(1), mode=mode,
                                       vcpu_rates_Bps=vc, start_time_s=start))
    return samples, mem


def parse_dirty_rate(text: str, *, memory_bytes: int | None = None, page_bytes: int = KiB(4),
                     label: str = "input") -> DirtyRateReport:
    """Parse dirty-rate probes from text (QMP JSON / JSON Lines, or ``virsh domstats``).

    Parameters
    ----------
    text : str
        The file's contents.
    memory_bytes : int, optional
        Guest memory (bytes); required unless the input holds it.  Given both,
        they must agree.
    page_bytes : int, default 4 KiB
        Guest page size (QEMU's target page size; ``page-size`` of ``query-migrate``).
    label : str
        Name used in error messages.

    Returns
    -------
    DirtyRateReport

    Raises
    ------
    ValueError
        Naming the field, for a missing field, a wrong unit, a negative count,
        an unfinished probe or truncated JSON.

    Examples
    --------
    >>> r = parse_dirty_rate('{"return": {"status": "measured", "dirty-rate": 108, "start-time": 1, '
    ...                      '"calc-time": 10, "calc-time-unit": "second", "sample-pages": 512, '
    ...                      '"mode": "page-sampling"}}', memory_bytes=2**33)
    >>> r.samples[0].interval_s, round(float(r.dirty_pages[0]))
    (10.0, 276480)
    """
    v.text(label, "label")
    _check_text(text, label)
    page_bytes = v.page_size(page_bytes, "page_bytes")
    if memory_bytes is not None:
        from .vm import MAX_PAGES
        memory_bytes = v.integer(memory_bytes, "memory_bytes", "bytes", lo=page_bytes, hi=MAX_PAGES * page_bytes)
    s = text.lstrip()
    if s.startswith("{") or s.startswith("["):
        samples, mem = _parse_qmp_dirty(_load_json(text, label), label)
        fmt = "qmp"
    elif s.startswith("Domain:"):
        samples, mem = _parse_domstats(text, label)
        fmt = "virsh-domstats"
    else:
        raise ValueError(f"{label}: not a dirty-rate report: expected QMP JSON ('{{' or '[') or virsh domstats "
                         f"text (\"Domain: 'name'\")")
    if not samples:
        raise ValueError(f"{label}: no measured DirtyRateInfo in the input (fields 'status', 'dirty-rate', "
                         f"'calc-time')")
    if memory_bytes is not None:
        if mem is not None and mem != memory_bytes:
            raise ValueError(f"memory_bytes (bytes) = {memory_bytes} disagrees with the {mem} bytes the input "
                             f"reports")
    elif mem is None:
        raise ValueError(f"{label}: the guest memory is not in the input (QMP query-memory-size-summary or "
                         f"virsh domstats --balloon); pass memory_bytes (--memory)")
    else:
        memory_bytes = mem
    if memory_bytes % page_bytes:
        raise ValueError(f"memory_bytes (bytes) must be a whole number of {page_bytes}-byte pages; got {memory_bytes}")
    rep = DirtyRateReport(samples=tuple(sorted(samples, key=lambda x: x.interval_s)), memory_bytes=memory_bytes,
                          page_bytes=page_bytes, source=label, fmt=fmt)
    n_pages = memory_bytes // page_bytes
    for i, (smp, d) in enumerate(zip(rep.samples, rep.dirty_pages)):
        if d > n_pages * 1.0001:
            raise ValueError(f"{label}: sample {i + 1}: field 'dirty-rate' = {smp.dirty_rate_Bps / MiB(1):g} MiB/s "
                             f"over {smp.interval_s:g} s is {d:.0f} pages, more than the guest's {n_pages} pages "
                             f"(wrong memory size or unit?)")
    return rep


def read_dirty_rate(path, *, memory_bytes: int | None = None, page_bytes: int = KiB(4)) -> DirtyRateReport:
    """Read dirty-rate probes from a file (see :func:`parse_dirty_rate`).

    Examples
    --------
    >>> r = read_dirty_rate(example_path("qmp_dirty_rate_sampling.json"))
    >>> r.fmt, len(r.samples), r.memory_bytes // 2**30
    ('qmp', 6, 8)
    """
    from dataclasses import replace
    p = v.file_name(path, "path")
    page_bytes = v.page_size(page_bytes, "page_bytes")
    rep = parse_dirty_rate(_read_text(p), memory_bytes=memory_bytes, page_bytes=page_bytes, label=f"path {p}")
    return replace(rep, source=p.name)


def _read_text(p: Path) -> str:
    """A report file's text; a ValueError naming the path if it cannot be read as UTF-8 text."""
    try:
        return p.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"path {p}: cannot read the file ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"path {p}: not a text (UTF-8) file: undecodable byte at offset {e.start}") from None


@dataclass(frozen=True)
class DirtyRateFit:
    """A workload fitted to dirty-rate probes, with its uncertainty.

    Attributes
    ----------
    report : DirtyRateReport
    fit : WorkloadFit or None
        The hot/cold fit (several windows) or the uniform fit (one window);
        None for an idle guest (every window zero).
    writes_per_s_se : float
        Standard error of the page-write rate (page writes/s): the fit's own
        where it has residual degrees of freedom, combined with the
        measurement error (:meth:`DirtyRateReport.measurement_se_pages`).
    kind : str
        ``'hotcold'``, ``'uniform'`` or ``'idle'``.
    """

    report: DirtyRateReport
    fit: object
    writes_per_s_se: float
    kind: str

    @property
    def workload(self):
        from .workloads import Idle
        return Idle() if self.fit is None else self.fit.workload

    def workload_at(self, z: float):
        """The workload with its write rate moved by ``z`` standard errors (never below 0)."""
        z = v.real(z, "z", "standard errors", lo=-100.0, hi=100.0)
        from dataclasses import replace
        from .workloads import Idle
        if self.fit is None:
            return Idle()
        wl = self.fit.workload
        w = max(float(wl.writes_per_s) + z * self.writes_per_s_se, 1e-3)
        return replace(wl, writes_per_s=w)

    def summary(self) -> str:
        r = self.report
        lines = [f"{r.source}: {len(r.samples)} window(s) of {r.fmt} ({', '.join(sorted({s.mode for s in r.samples}))}), "
                 f"guest {r.memory_bytes / GiB(1):g} GiB, pages of {r.page_bytes} B"]
        for s, d, se in zip(r.samples, r.dirty_pages, r.measurement_se_pages()):
            lines.append(f"  {s.interval_s:8.3f} s: {s.dirty_rate_Bps / MiB(1):8.0f} MiB/s = {d:10.0f} "
                         f"distinct pages (+- {se:.0f})")
        if self.fit is None:
            lines.append("fitted workload: idle (no dirty pages measured)")
        else:
            lines.append(f"fitted workload ({self.kind}): {self.fit.write_mibps:.1f} MiB/s of page writes "
                         f"(+- {self.writes_per_s_se * r.page_bytes / MiB(1):.1f}), hot set {self.fit.wws_mib:.1f} MiB, "
                         f"hot fraction {self.fit.values['hot_fraction']:.3f}")
        return "\n".join(lines)


def fit_dirty_rate(report: DirtyRateReport) -> DirtyRateFit:
    """Fit a workload to dirty-rate probes (:func:`precopy.workload_fit.fit_dirty_samples`).

    Three or more distinct windows: a hot/cold workload (write rate, hot set,
    hot fraction).  One or two: a uniform workload (the hot fraction held at 0),
    whose write rate follows from the saturation formula.  Every window zero:
    an idle guest.

    Examples
    --------
    >>> f = fit_dirty_rate(read_dirty_rate(example_path("qmp_dirty_rate_sampling.json")))
    >>> f.kind, f.writes_per_s_se > 0
    ('hotcold', True)
    """
    from .workload_fit import fit_dirty_samples
    v.instance(report, "report", DirtyRateReport, "a precopy.hvstats.DirtyRateReport (from read_dirty_rate)")
    t, d = report.intervals_s, report.dirty_pages
    if np.all(d == 0):
        return DirtyRateFit(report=report, fit=None, writes_per_s_se=0.0, kind="idle")
    zero = np.flatnonzero(d == 0)
    if len(zero):
        raise ValueError(f"{report.source}: sample {int(zero[0]) + 1}: field 'dirty-rate' is 0 MiB/s while other "
                         f"windows are not; a zero window cannot be fitted on a log scale (drop it or lengthen "
                         f"calc-time)")
    distinct = len(np.unique(t))
    kind = "hotcold" if distinct >= 3 else "uniform"
    fixed = None if kind == "hotcold" else {"hot_fraction": 0.0, "wws_bytes": 0.0}
    # one window per length: average repeated windows of the same length
    tu = np.unique(t)
    du = np.array([d[t == x].mean() for x in tu])
    fit = fit_dirty_samples(tu, du, memory_bytes=report.memory_bytes, page_bytes=report.page_bytes, fixed=fixed)
    # measurement error -> write-rate error (delta method on the uniform saturation curve at the
    # longest window, the one that constrains the rate least well)
    N = report.memory_bytes / report.page_bytes
    se_pages = report.measurement_se_pages()
    w_err = []
    for ti, di, si in zip(t, d, se_pages):
        if di < N:
            w_err.append(N / (ti * (N - di)) * si)
    meas = float(np.sqrt(np.mean(np.square(w_err)) / len(w_err))) if w_err else 0.0
    fit_se = fit.std_errors["writes_per_s"]
    fit_se = 0.0 if not math.isfinite(fit_se) else fit_se
    return DirtyRateFit(report=report, fit=fit, writes_per_s_se=math.hypot(fit_se, meas), kind=kind)


# --- job statistics of a migration in flight ------------------------------------------------------------

@dataclass(frozen=True)
class MigrationSnapshot:
    """One reading of a migration's statistics (``query-migrate`` or ``virsh domjobinfo``).

    Times in seconds, sizes in bytes, rates in bytes/s.  ``None`` where the
    source did not report the value.
    """

    elapsed_s: float
    status: str
    memory_total_bytes: float
    memory_processed_bytes: float
    memory_remaining_bytes: float
    bandwidth_Bps: float | None = None
    dirty_pages_per_s: float | None = None
    page_bytes: int = KiB(4)
    iteration: int | None = None
    expected_downtime_s: float | None = None
    downtime_s: float | None = None
    cpu_throttle_pct: float | None = None
    postcopy_requests: int | None = None
    fmt: str = ""

    def __post_init__(self):
        def real(name, unit, hi=None, optional=False):
            x = getattr(self, name)
            if optional and x is None:
                return
            object.__setattr__(self, name, v.real(x, name, unit, lo=0.0, hi=hi))

        def count(name, unit):
            x = getattr(self, name)
            if x is not None:
                object.__setattr__(self, name, v.integer(x, name, unit, lo=0, hi=MAX_COUNT))

        real("elapsed_s", "s")
        v.choice(self.status, "status", _QEMU_STATUS)
        object.__setattr__(self, "memory_total_bytes", v.real(self.memory_total_bytes, "memory_total_bytes", "bytes",
                                                              lo=0.0, lo_open=True))
        real("memory_processed_bytes", "bytes")
        real("memory_remaining_bytes", "bytes", hi=self.memory_total_bytes)
        real("bandwidth_Bps", "bytes/s", optional=True)
        real("dirty_pages_per_s", "pages/s", optional=True)
        object.__setattr__(self, "page_bytes", v.page_size(self.page_bytes, "page_bytes"))
        count("iteration", "bitmap syncs")
        real("expected_downtime_s", "s", optional=True)
        real("downtime_s", "s", optional=True)
        real("cpu_throttle_pct", "%", hi=100.0, optional=True)
        count("postcopy_requests", "requests")
        v.text(self.fmt, "fmt")

    @property
    def dirty_rate_Bps(self) -> float | None:
        return None if self.dirty_pages_per_s is None else self.dirty_pages_per_s * self.page_bytes


_QEMU_STATUS = ("none", "setup", "cancelling", "cancelled", "active", "postcopy-active", "postcopy-paused",
                "postcopy-recover-setup", "postcopy-recover", "completed", "failed", "colo", "pre-switchover",
                "device", "wait-unplug")


def _qmp_snapshot(obj, where) -> MigrationSnapshot | None:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object (QMP MigrationInfo); got {type(obj).__name__}")
    if "return" in obj:
        obj = obj["return"]
    if not isinstance(obj, dict) or "event" in obj or "execute" in obj:
        return None
    if "error" in obj:
        raise ValueError(f"{where}: QMP error {obj['error']}")
    status = _choice(obj, "status", where, _QEMU_STATUS)
    if "ram" not in obj:
        if status in ("none", "setup"):
            return None                 # QEMU reports no statistics before the first pass starts
        raise ValueError(f"{where}: field 'ram' (MigrationStats) is missing")
    ram = obj["ram"]
    if not isinstance(ram, dict):
        raise ValueError(f"{where}: field 'ram' must be an object (MigrationStats); got {ram!r}")
    w = f"{where}: ram"
    total = _num(ram, "total", w, "bytes", integer=True, lo=1)
    rem = _num(ram, "remaining", w, "bytes", integer=True)
    tr = _num(ram, "transferred", w, "bytes", integer=True)
    if rem > total:
        raise ValueError(f"{w}: field 'remaining' (bytes) = {rem} exceeds field 'total' = {total}")
    page = _num(ram, "page-size", w, "bytes", integer=True, lo=512, hi=2**30, required=False, default=KiB(4))
    if page & (page - 1):
        raise ValueError(f"{w}: field 'page-size' (bytes) must be a power of two; got {page}")
    mbps = _num(ram, "mbps", w, "Mbit/s", required=False)
    dpr = _num(ram, "dirty-pages-rate", w, "pages/s", integer=True, required=False)
    it = _num(ram, "dirty-sync-count", w, "syncs", integer=True, required=False)
    pcr = _num(ram, "postcopy-requests", w, "requests", integer=True, required=False)
    tt = _num(obj, "total-time", where, "ms", integer=True)
    ed = _num(obj, "expected-downtime", where, "ms", integer=True, required=False)
    dt = _num(obj, "downtime", where, "ms", integer=True, required=False)
    thr = _num(obj, "cpu-throttle-percentage", where, "%", hi=100, required=False)
    return MigrationSnapshot(elapsed_s=tt / 1e3, status=status, memory_total_bytes=float(total),
                             memory_processed_bytes=float(tr), memory_remaining_bytes=float(rem),
                             bandwidth_Bps=None if mbps is None else mbps * 1e6 / 8.0,
                             dirty_pages_per_s=None if dpr is None else float(dpr), page_bytes=int(page),
                             iteration=it, expected_downtime_s=None if ed is None else ed / 1e3,
                             downtime_s=None if dt is None else dt / 1e3, cpu_throttle_pct=thr,
                             postcopy_requests=pcr, fmt="qmp")


_SIZE_UNITS = {"B": 1, "KiB": KiB(1), "MiB": MiB(1), "GiB": GiB(1), "TiB": KiB(1) ** 4}
_JOB_TYPES = {"none": "none", "bounded": "active", "unbounded": "active", "completed": "completed",
              "failed": "failed", "cancelled": "cancelled"}


def _parse_domjobinfo(text, label):
    """``virsh domjobinfo`` text: one block, or several separated by blank lines."""
    blocks, cur = [], None
    for ln, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            cur = None
            continue
        if ":" not in line:
            raise ValueError(f"{label} line {ln}: expected 'Field: value' (virsh domjobinfo); got {line.strip()!r}")
        k, val = line.split(":", 1)
        if cur is None:
            cur = {"_line": ln}
            blocks.append(cur)
        cur[k.strip()] = (val.strip(), ln)
    if not blocks:
        raise ValueError(f"{label}: empty input (virsh domjobinfo output expected)")
    out = []
    for b in blocks:
        where = f"{label} (block at line {b['_line']})"

        def get(key, required=True, b=b, where=where):
            if key not in b:
                if required:
                    raise ValueError(f"{where}: field {key!r} is missing")
                return None
            return b[key]

        def size(key, required=True, get=get):
            x = get(key, required)
            if x is None:
                return None
            s, ln = x
            m = re.fullmatch(r"(-?[0-9.]+)\s*([A-Za-z]+)", s)
            if not m:
                raise ValueError(f"{label} line {ln}: field {key!r} must be a size like '1.500 GiB'; got {s!r}")
            if m.group(2) not in _SIZE_UNITS:
                raise ValueError(f"{label} line {ln}: field {key!r} has unit {m.group(2)!r}; virsh prints "
                                 f"{', '.join(_SIZE_UNITS)}")
            try:
                n = float(m.group(1))
            except ValueError:
                raise ValueError(f"{label} line {ln}: field {key!r} must be a number; got {s!r}") from None
            if n < 0:
                raise ValueError(f"{label} line {ln}: field {key!r} must be >= 0; got {s!r}")
            return n * _SIZE_UNITS[m.group(2)]

        def plain(key, unit, required=True, integer=False, get=get):
            x = get(key, required)
            if x is None:
                return None
            s, ln = x
            m = re.fullmatch(r"(-?[0-9.]+)\s*(\S*)", s)
            if not m:
                raise ValueError(f"{label} line {ln}: field {key!r} must be a number ({unit}); got {s!r}")
            if m.group(2) not in ("", unit):
                raise ValueError(f"{label} line {ln}: field {key!r} has unit {m.group(2)!r}; expected {unit!r}")
            n = float(m.group(1))
            if n < 0 or (integer and not n.is_integer()):
                raise ValueError(f"{label} line {ln}: field {key!r} ({unit}) must be a "
                                 f"{'whole ' if integer else ''}number >= 0; got {s!r}")
            return n

        jt, ln = get("Job type")
        status = _JOB_TYPES.get(jt.lower())
        if status is None:
            raise ValueError(f"{label} line {ln}: field 'Job type' must be one of Unbounded, Bounded, Completed, "
                             f"Failed, Cancelled, None; got {jt!r}")
        if status == "none":
            continue
        total = size("Memory total")
        rem = size("Memory remaining")
        proc = size("Memory processed")
        if total <= 0:
            raise ValueError(f"{where}: field 'Memory total' must be > 0")
        if rem > total * 1.0005 + 1024:
            raise ValueError(f"{where}: field 'Memory remaining' ({rem:.0f} B) exceeds field 'Memory total' "
                             f"({total:.0f} B)")
        bw = get("Memory bandwidth", required=False)
        bw_Bps = None
        if bw is not None:
            s, ln = bw
            m = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]+)/s", s)
            if not m or m.group(2) not in _SIZE_UNITS:
                raise ValueError(f"{label} line {ln}: field 'Memory bandwidth' must be like '112.000 MiB/s' "
                                 f"(units {', '.join(u + '/s' for u in _SIZE_UNITS)}); got {s!r}")
            bw_Bps = float(m.group(1)) * _SIZE_UNITS[m.group(2)]
        el = plain("Time elapsed", "ms")
        page = plain("Page size", "bytes", required=False, integer=True)
        dr = plain("Dirty rate", "pages/s", required=False, integer=True)
        it = plain("Iteration", "", required=False, integer=True)
        ed = plain("Expected downtime", "ms", required=False)
        td = plain("Total downtime", "ms", required=False)
        thr = plain("Auto converge throttle", "%", required=False)
        if thr is not None and thr > 100:
            raise ValueError(f"{where}: field 'Auto converge throttle' (%) must be <= 100; got {thr:g}")
        if page and (not 512 <= page <= 2**30 or int(page) & (int(page) - 1)):
            raise ValueError(f"{where}: field 'Page size' (bytes) must be a power of two in [512, 1073741824]; "
                             f"got {page:g}")
        pcr = plain("Postcopy requests", "", required=False, integer=True)
        out.append(MigrationSnapshot(elapsed_s=el / 1e3, status=status, memory_total_bytes=total,
                                     memory_processed_bytes=proc, memory_remaining_bytes=min(rem, total),
                                     bandwidth_Bps=bw_Bps, dirty_pages_per_s=dr,
                                     page_bytes=int(page) if page else KiB(4),
                                     iteration=None if it is None else int(it),
                                     expected_downtime_s=None if ed is None else ed / 1e3,
                                     downtime_s=None if td is None else td / 1e3, cpu_throttle_pct=thr,
                                     postcopy_requests=None if pcr is None else int(pcr), fmt="virsh-domjobinfo"))
    return out


def parse_job_stats(text: str, *, label: str = "input") -> list[MigrationSnapshot]:
    """Parse migration statistics (QMP ``query-migrate`` JSON / JSON Lines, or ``virsh domjobinfo``).

    Returns the snapshots in time order (one or more).

    Examples
    --------
    >>> s = parse_job_stats('{"return": {"status": "active", "total-time": 5000, "expected-downtime": 300, '
    ...                     '"ram": {"transferred": 4294967296, "remaining": 1073741824, "total": 8589934592, '
    ...                     '"mbps": 9000.0, "dirty-pages-rate": 20000, "page-size": 4096, '
    ...                     '"dirty-sync-count": 2}}}')
    >>> s[0].elapsed_s, s[0].iteration, s[0].bandwidth_Bps
    (5.0, 2, 1125000000.0)
    """
    v.text(label, "label")
    _check_text(text, label)
    s = text.lstrip()
    if s.startswith("{") or s.startswith("["):
        data = _load_json(text, label)
        items = data if isinstance(data, list) else [data]
        snaps = []
        for i, obj in enumerate(items):
            where = f"{label}: message {i + 1}" if len(items) > 1 else label
            x = _qmp_snapshot(obj, where)
            if x is not None:
                snaps.append(x)
    elif s.startswith("Job type"):
        snaps = _parse_domjobinfo(text, label)
    else:
        raise ValueError(f"{label}: not migration statistics: expected QMP query-migrate JSON or virsh domjobinfo "
                         f"text ('Job type: ...')")
    if not snaps:
        raise ValueError(f"{label}: no migration statistics in the input (no MigrationInfo / no job)")
    for a, b in zip(snaps, snaps[1:]):
        if b.elapsed_s < a.elapsed_s:
            raise ValueError(f"{label}: field 'total-time' / 'Time elapsed' goes backwards "
                             f"({a.elapsed_s * 1e3:.0f} ms then {b.elapsed_s * 1e3:.0f} ms): snapshots must be "
                             f"in time order")
    return snaps


def read_job_stats(path) -> list[MigrationSnapshot]:
    """Read migration statistics from a file (see :func:`parse_job_stats`).

    Examples
    --------
    >>> s = read_job_stats(example_path("virsh_domjobinfo_series.txt"))
    >>> len(s) > 3, s[0].fmt
    (True, 'virsh-domjobinfo')
    """
    p = v.file_name(path, "path")
    return parse_job_stats(_read_text(p), label=f"path {p}")


def predict_dirty_rate(fit: DirtyRateFit, link, policy=None) -> list[dict]:
    """The analytic saturation model's prediction for the fitted workload, at the fit
    and at +- 1 standard error of the write rate (the uncertainty band).

    Examples
    --------
    >>> import precopy as pc
    >>> f = fit_dirty_rate(read_dirty_rate(example_path("qmp_dirty_rate_sampling.json")))
    >>> rows = predict_dirty_rate(f, pc.Link.from_profile("10GbE"), pc.policies.QEMU(max_bandwidth_bps=None))
    >>> [r["case"] for r in rows]
    ['-1 se', 'fit', '+1 se']
    """
    from .analytic import saturation
    from .policies import QEMU
    from .vm import VM, Switchover
    v.instance(fit, "fit", DirtyRateFit, "a precopy.hvstats.DirtyRateFit (from fit_dirty_rate)")
    vm = VM(memory_bytes=fit.report.memory_bytes, page_bytes=fit.report.page_bytes)
    pol = QEMU() if policy is None else policy
    out = []
    for z, name in ((-1.0, "-1 se"), (0.0, "fit"), (1.0, "+1 se")):
        a = saturation(vm, fit.workload_at(z), link, pol, Switchover())
        out.append({"case": name, "write_mibps": float(getattr(fit.workload_at(z), "writes_per_s", 0.0))
                    * vm.page_bytes / MiB(1), "total_time_s": float(a.total_time_s),
                    "downtime_s": float(a.downtime_s), "converged": bool(a.converged), "stop_reason": a.stop_reason})
    return out


# --- CLI: precopy dirty-rate ---------------------------------------------------------------------

def add_arguments(p):
    p.add_argument("report", metavar="FILE", help="QMP query-dirty-rate JSON (object, array or JSON Lines) or "
                                                   "virsh domstats --dirtyrate text")
    p.add_argument("--memory", help="guest memory, e.g. 8GiB (unless the file holds it)")
    p.add_argument("--page", default="4KiB", help="guest page size (default 4KiB)")
    p.add_argument("--link", default="10GbE", help="link profile or rate for the prediction (default 10GbE)")
    p.add_argument("--downtime-limit", default="300ms", help="QEMU downtime limit (default 300ms)")
    p.add_argument("--max-bandwidth", default="0",
                   help="pre-copy cap, e.g. 128MiB/s; 0 = unlimited, libvirt's setting (default 0)")


def run(args) -> int:
    from .links import Link
    from .policies import QEMU
    from .units import parse_byte_rate, parse_bytes, parse_rate_bps, parse_seconds
    from .vm import MAX_PAGES
    page = v.page_size(parse_bytes(args.page, name="--page"), "--page")
    mem = None if args.memory is None else parse_bytes(args.memory, name="--memory")
    if mem is not None:
        mem = v.integer(mem, "--memory", "bytes", lo=page, hi=MAX_PAGES * page)
        if mem % page:
            raise ValueError(f"--memory (bytes) must be a whole multiple of --page ({page} B); got {args.memory!r}")
    rep = read_dirty_rate(args.report, memory_bytes=mem, page_bytes=page)
    f = fit_dirty_rate(rep)
    print(f.summary())
    if f.fit is not None:
        print()
        print(f.fit.table())
    rate = parse_rate_bps(args.link, name="--link")
    link = Link.from_profile(args.link) if args.link.lower().endswith("gbe") else Link(rate_bps=rate)
    mb = str(args.max_bandwidth).strip().lower()
    cap = None if mb in ("0", "none", "unlimited") else parse_byte_rate(args.max_bandwidth, "--max-bandwidth") * 8.0
    pol = QEMU(downtime_limit_s=parse_seconds(args.downtime_limit, "--downtime-limit"), max_bandwidth_bps=cap)
    print(f"\nprediction (saturation model) on {link.profile or args.link}, goodput {link.goodput_bps / 1e9:.3f} "
          f"Gbit/s, downtime limit {pol.downtime_limit_s * 1e3:g} ms:")
    for r in predict_dirty_rate(f, link, pol):
        verdict = "converges" if r["converged"] else "does NOT converge"
        print(f"  {r['case']:>6s}: {r['write_mibps']:7.1f} MiB/s writes -> {verdict} ({r['stop_reason']}), "
              f"total {r['total_time_s']:.1f} s, downtime {r['downtime_s'] * 1e3:.0f} ms")
    return 0
