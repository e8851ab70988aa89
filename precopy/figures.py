"""Every figure of the notebooks, one function each, and ``precopy figures`` to redraw them.

Each figure is a function named after it that takes plain parameters (with the
defaults the notebooks use) and returns a Matplotlib figure; :func:`register`
records it with the notebook it belongs to.  :func:`render` writes it as PNG and
PDF, byte-for-byte the same on every run (fixed seeds, fixed file metadata), and
``manifest.json`` lists every file with the function that drew it and its
parameters, so a figure in a paper traces back to its code.

Safe to interrupt and to run twice at once: every input (data files, the
output folder, an existing manifest) is checked before anything is drawn; each
file is written under a temporary name and renamed into place; the manifest is
updated after the files, atomically, under a lock on the output folder, so its
hashes always describe the files on disk and concurrent runs keep each other's
entries.  ``--jobs N`` draws in N worker processes, byte for byte the same.

Command line::

    precopy figures                 # all figures into ./figures
    precopy figures --out DIR convergence_maps downtime_vs_wws
    precopy figures --list
    precopy figures --jobs 2        # two worker processes, the same bytes

References
----------
showyourwork (Luger et al., 2021): one function per figure, one command rebuilds all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:                                     # pragma: no cover - Windows
    fcntl = None

from . import __version__
from ._figure_registry import REGISTRY, FigureSpec, register
from .units import GiB, Gbps, MiB

__all__ = ["register", "REGISTRY", "FigureSpec", "render", "render_all", "figure_params", "save",
           "check_out_dir", "check_inputs", "read_manifest", "add_arguments", "run"]


#: File formats written for each figure.
FORMATS = ("png", "pdf")

#: Fixed file metadata: no dates, no versions that differ between machines.
_METADATA = {
    "png": {"Software": "precopy figures"},
    "pdf": {"Creator": "precopy figures", "Producer": "precopy figures", "CreationDate": None,
            "ModDate": None},
    "svg": {"Creator": "precopy figures", "Date": None},
}


def figure_params(name: str, quick: bool = False, **overrides) -> dict:
    """The parameters a figure is drawn with (defaults, quick variant, overrides)."""
    spec = _spec(name)
    params = dict(spec.params)
    if quick:
        params.update(spec.quick)
    unknown = set(overrides) - set(params)
    if unknown:
        raise ValueError(f"parameters of figure {name!r} are {sorted(params)}; got unknown {sorted(unknown)}")
    params.update(overrides)
    return params


def _spec(name):
    if name not in REGISTRY:
        raise ValueError(f"figure name must be one of {', '.join(REGISTRY)}; got {name!r}")
    return REGISTRY[name]


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return repr(x)


def save(fig, path, fmt: str | None = None) -> Path:
    """Save ``fig`` with fixed metadata so the same figure gives the same bytes.

    The file is written under a temporary name in the same folder and then
    renamed over ``path``, so an interrupted save leaves the old file (or none),
    never a truncated one.

    Parameters
    ----------
    fig : Figure
    path : str or Path
    fmt : {"png", "pdf", "svg"}, optional
        Default: the file suffix.

    Returns
    -------
    Path
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in _METADATA:
        raise ValueError(f"fmt must be one of {', '.join(_METADATA)}; got {fmt!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(fig, path, fmt)
    try:
        _replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    return path


def _write_temp(fig, path: Path, fmt: str) -> Path:
    """Write ``fig`` to a hidden temporary file beside ``path``; return its path."""
    from .plotting import style
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f, style():
            fig.savefig(f, format=fmt, metadata=_METADATA[fmt])
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _replace(src, dst):
    """Atomic rename (a seam for the interrupt tests)."""
    os.replace(src, dst)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _entry(spec, params, quick, path):
    return {"file": path.name, "figure": spec.name, "function": spec.function, "notebook": spec.notebook,
            "parameters": _jsonable(params), "quick": bool(quick), "sha256": _sha256(path)}


def render(name: str, out_dir=".", *, quick: bool = False, formats=FORMATS, **overrides) -> list[dict]:
    """Draw one figure and write it in each format (each file atomically).

    This does not touch ``manifest.json``: :func:`render_all` does.

    Returns
    -------
    list of dict
        Manifest entries: ``file``, ``figure``, ``function``, ``notebook``,
        ``parameters``, ``sha256``.
    """
    spec = _spec(name)
    params = figure_params(name, quick=quick, **overrides)
    check_inputs([name])
    fig = spec.func(**params)
    return [_entry(spec, params, quick, save(fig, Path(out_dir) / f"{name}.{fmt}", fmt)) for fmt in formats]


# ---------------------------------------------------------------------------------------------
# the output folder: checks, lock, manifest

MANIFEST = "manifest.json"
LOCK = ".precopy-figures.lock"


def _why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def check_out_dir(out_dir) -> Path:
    """Make sure ``out_dir`` is (or can be made) a writable folder; return it.

    Raises
    ------
    ValueError
        One line naming the problem: a file in the way, no permission, a
        read-only file system.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out_dir}: names an existing file, not a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--out {out_dir}: {parent} is a file, not a folder")
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {out_dir}: cannot create the folder ({_why(e)})") from None
    try:
        fd, name = tempfile.mkstemp(prefix=".precopy-write-test.", dir=out)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise ValueError(f"--out {out_dir}: cannot write into the folder ({_why(e)})") from None
    return out


@contextlib.contextmanager
def _locked(out_dir: Path):
    """Hold an exclusive lock on ``out_dir`` (a lock file inside it) while the block runs."""
    path = out_dir / LOCK
    try:
        f = open(path, "a+b")
    except OSError as e:
        raise ValueError(f"--out {out_dir}: cannot create the lock file {LOCK} ({_why(e)})") from None
    with f:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        else:                                           # pragma: no cover - Windows
            import msvcrt
            f.seek(0)
            while True:
                try:
                    msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            else:                                       # pragma: no cover - Windows
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)


def read_manifest(out_dir) -> list[dict]:
    """The entries of ``out_dir/manifest.json`` (empty if there is none).

    Raises
    ------
    ValueError
        If the file exists but is not a manifest written by ``precopy figures``.
    """
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return []
    bad = f"{path} is not a precopy figures manifest"
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as e:
        msg = e.strerror if isinstance(e, OSError) else str(e).splitlines()[0]
        raise ValueError(f"{bad} ({msg}): move it away or delete it") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or not all(isinstance(e, dict) and isinstance(e.get("file"), str)
                                              and isinstance(e.get("figure"), str) for e in files):
        raise ValueError(f"{bad} (expected an object with a list 'files' of entries with 'file' and "
                         f"'figure'): move it away or delete it")
    return files


def _write_manifest(out_dir: Path, entries: dict) -> dict:
    order = {n: i for i, n in enumerate(REGISTRY)}
    files = sorted(entries.values(), key=lambda e: (order.get(e["figure"], len(order)), e["figure"], e["file"]))
    manifest = {"generator": "precopy figures", "precopy_version": __version__, "files": files}
    path = out_dir / MANIFEST
    fd, name = tempfile.mkstemp(prefix=f".{MANIFEST}.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(name, 0o644)
        _replace(name, path)
    except BaseException:
        _unlink(name)
        raise
    return manifest


def _commit(out_dir: Path, drawn: list[tuple[Path, Path, dict]]) -> dict:
    """Put one figure's files in place and record them, under the folder lock.

    ``drawn`` holds (temporary file, final path, manifest entry).  The
    manifest is first rewritten without the entries of the files about to be
    replaced, then the files are renamed, then the manifest gets their new
    entries: at every moment each hash in the manifest describes the file on
    disk (an interrupt can only leave an entry missing, never wrong).
    """
    with _locked(out_dir):
        entries = {e["file"]: e for e in read_manifest(out_dir)}
        replaced = [dst.name for _, dst, _ in drawn]
        if any(f in entries for f in replaced):
            for f in replaced:
                entries.pop(f, None)
            _write_manifest(out_dir, entries)
        for tmp, dst, _ in drawn:
            _replace(tmp, dst)
        for _, dst, e in drawn:
            entries[dst.name] = e
        return _write_manifest(out_dir, entries)


def render_all(names=None, out_dir="figures", *, quick: bool = False, formats=FORMATS, progress: bool = True,
               jobs: int = 1):
    """Draw figures (default: all), write them and update ``manifest.json`` in ``out_dir``.

    Everything is checked before the first figure is drawn: the names, the
    formats, the output folder (writable), an existing manifest (well formed)
    and every data file the figures read.  Each figure's files are written
    under temporary names and renamed into place, and the manifest is updated
    after them, atomically and under a lock on the folder, so an interrupt
    leaves only complete files and a manifest whose hashes match them, and
    concurrent runs into one folder keep each other's entries.

    Parameters
    ----------
    names : sequence of str, optional
        Figures to draw (default: all, in :data:`REGISTRY` order).
    out_dir : str or Path
    quick : bool
        The smaller variants (recorded in the manifest).
    formats : sequence of str
    progress : bool
        A progress bar (tqdm).
    jobs : int, default 1
        Worker processes drawing figures in parallel (-1: one per CPU).  The
        figures of one notebook are drawn by one worker (they share their
        computations); the files are byte for byte those of ``jobs=1``.

    Returns
    -------
    dict
        The manifest written.
    """
    names = list(REGISTRY) if not names else list(dict.fromkeys(names))
    for n in names:
        _spec(n)
    formats = tuple(formats)
    for f in formats:
        if f not in _METADATA:
            raise ValueError(f"formats must be among {', '.join(_METADATA)}; got {f!r}")
    if not formats:
        raise ValueError("formats must name at least one of " + ", ".join(_METADATA))
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or not (jobs >= 1 or jobs == -1):
        raise ValueError(f"jobs (worker processes) must be an integer >= 1, or -1 for one per CPU; got {jobs!r}")
    jobs = (os.cpu_count() or 1) if jobs == -1 else int(jobs)
    out_dir = check_out_dir(out_dir)
    read_manifest(out_dir)
    check_inputs(names)
    from tqdm.auto import tqdm
    manifest = None
    bar = tqdm(total=len(names), desc="figures", unit="fig", disable=not progress)
    try:
        groups = _groups(names)
        if jobs == 1 or len(groups) == 1:
            for n in names:
                bar.set_postfix_str(n)
                manifest = _commit_all(out_dir, _draw(n, out_dir, quick, formats))
                bar.update(1)
            return manifest
        return _render_parallel(groups, out_dir, quick, formats, min(jobs, len(groups)), bar)
    finally:
        bar.close()


def _commit_all(out_dir: Path, drawn) -> dict:
    """:func:`_commit`, then remove whatever temporary file an interrupt left unrenamed."""
    try:
        return _commit(out_dir, drawn)
    finally:
        for tmp, _, _ in drawn:
            if tmp.exists():
                _unlink(tmp)


def _groups(names) -> list[list[str]]:
    """The names grouped by notebook (figures of one notebook share computations), in order."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(REGISTRY[n].notebook, []).append(n)
    return list(groups.values())


def _draw(name, out_dir: Path, quick, formats) -> list:
    """Draw one figure into temporary files beside its final names: [(tmp, dst, entry)]."""
    spec = _spec(name)
    params = figure_params(name, quick=quick)
    fig = spec.func(**params)
    drawn = []
    try:
        for fmt in formats:
            dst = out_dir / f"{name}.{fmt}"
            tmp = _write_temp(fig, dst, fmt)
            e = _entry(spec, params, quick, tmp)
            e["file"] = dst.name
            drawn.append((tmp, dst, e))
    except BaseException:
        for tmp, _, _ in drawn:
            _unlink(tmp)
        raise
    return drawn


def _draw_group(names, out_dir, quick, formats) -> list:
    """Worker process: draw a group of figures; [(name, [(tmp, dst, entry)])].

    The sweeps behind the figures may start joblib's (loky) worker pool here,
    which keeps the cores busy once the other groups are done; it is shut down
    before returning, or this worker would wait for its idle workers to time
    out (300 s) before it could exit.
    """
    out, out_dir = [], Path(out_dir)
    try:
        for n in names:
            out.append((n, _draw(n, out_dir, quick, formats)))
    except BaseException:
        for _, drawn in out:
            for tmp, _, _ in drawn:
                _unlink(tmp)
        raise
    finally:
        _shutdown_loky()
    return out


def _shutdown_loky():
    """Stop joblib's reusable loky pool of this process, if one was started."""
    import sys
    mod = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(mod, "_executor", None) if mod is not None else None
    if executor is not None:
        executor.shutdown(wait=True)


def _render_parallel(groups, out_dir: Path, quick, formats, jobs, bar) -> dict:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    manifest = None
    # spawn: workers import the package afresh (numba loads its disk cache; no forked threads)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    pending = {pool.submit(_draw_group, g, str(out_dir), quick, formats) for g in groups}
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                for name, drawn in fut.result():
                    manifest = _commit_all(out_dir, drawn)
                    bar.set_postfix_str(name)
                    bar.update(1)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        for fut in pending:     # drawn by a worker but not committed: remove the temporary files
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                for _, drawn in fut.result():
                    for tmp, _, _ in drawn:
                        _unlink(tmp)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return manifest


def check_inputs(names) -> None:
    """Check that every data file the named figures read is there, before drawing any.

    Raises
    ------
    ValueError
        Naming the figure and the missing dataset.
    """
    from . import datasets
    for n in names:
        for ds in _spec(n).inputs:
            try:
                datasets.path(ds)
            except (ValueError, OSError) as e:
                raise ValueError(f"figure {n} needs dataset {ds}, which cannot be read: {e}") from None


# ---------------------------------------------------------------------------------------------
# shared computations (memoised within a process so figures that share a sweep compute it once)

_memo: dict = {}


def _memoised(key, compute):
    if key not in _memo:
        if len(_memo) > 16:
            _memo.clear()
        _memo[key] = compute()
    return _memo[key]


def _policies(labels):
    from .sweeps import default_policies
    allp = default_policies()
    bad = [p for p in labels if p not in allp]
    if bad:
        raise ValueError(f"policies must be among {list(allp)}; got {bad}")
    return {p: allp[p] for p in labels}


def convergence_grids(memory_bytes, wws_bytes, writes_per_s, rate_gbps, policies, timeout_s, seed):
    """The convergence grids of notebook 3 (memoised): policy label -> Sweep."""
    from .sweeps import convergence_grid
    from .vm import VM

    key = ("grids", memory_bytes, wws_bytes, tuple(writes_per_s), tuple(rate_gbps), tuple(policies),
           timeout_s, seed)

    def compute():
        vm = VM(memory_bytes=memory_bytes)
        return {label: convergence_grid(vm, writes_per_s, [Gbps(r) for r in rate_gbps], pol,
                                        wws_bytes=wws_bytes, timeout_s=timeout_s, seed=seed)
                for label, pol in _policies(policies).items()}
    return _memoised(key, compute)


def _geom(lo, hi, n):
    return tuple(float(x) for x in np.geomspace(lo, hi, n))


# ---------------------------------------------------------------------------------------------
# the figures, in notebook order

@register("01_quickstart.ipynb", quick={"memory_bytes": GiB(1), "wws_bytes": MiB(64)})
def quickstart_timeline(memory_bytes=GiB(16), wws_bytes=GiB(1), hot_fraction=0.9, writes_per_s=200_000.0,
                        link="10GbE", policy="QEMU (no cap)", seed=1):
    """One migration round by round: bytes sent and dirtied, and the stop.

    Parameters
    ----------
    memory_bytes, wws_bytes : int
        Guest memory and hot-set size (bytes).
    hot_fraction : float
        Share of writes on the hot set.
    writes_per_s : float
        Guest page writes per second.
    link : str
        Fitted link profile (:func:`precopy.links.profile`), one stream.
    policy : str
        A label of :func:`precopy.sweeps.default_policies`.
    seed : int

    Returns
    -------
    Figure
    """
    from .links import profile
    from .plotting import plot_timeline
    from .simulate import simulate
    from .vm import VM
    from .workloads import HotCold
    r = simulate(VM(memory_bytes=memory_bytes),
                 HotCold(wws_bytes=wws_bytes, hot_fraction=hot_fraction, writes_per_s=writes_per_s),
                 profile(link).link(), _policies([policy])[policy], seed=seed)
    return plot_timeline(r, label=policy)


_WWS = tuple(MiB(2**k) for k in range(4, 12))       # 16 MiB .. 2 GiB


@register("02_downtime_vs_wws.ipynb",
          quick={"memory_bytes": GiB(1), "wws_bytes": (MiB(16), MiB(64), MiB(256)),
                 "policies": ("QEMU (no cap)", "Xen v2"), "timeout_s": 300.0})
def downtime_vs_wws(memory_bytes=GiB(4), wws_bytes=_WWS, hot_fraction=0.9, writes_per_s=50_000.0,
                    links_gbps=(1.0, 10.0, 25.0), fitted_links=True,
                    policies=("QEMU", "QEMU (no cap)", "Xen legacy", "Xen v2", "VMware", "SimGrid"),
                    timeout_s=600.0, seed=1):
    """Downtime and total migration time against working-set size, per link and policy (full width, 7.16 in).

    Parameters
    ----------
    memory_bytes : int
    wws_bytes : sequence of int
        Hot-set sizes swept (bytes).
    hot_fraction, writes_per_s : float
    links_gbps : sequence of float
        Nominal Ethernet rates.
    fitted_links : bool
        Fitted link profiles (one stream) rather than nominal rates.
    policies : sequence of str
        Labels of :func:`precopy.sweeps.default_policies`.
    timeout_s : float
        Simulated time after which a migration still iterating is stopped.
    seed : int

    Returns
    -------
    Figure
    """
    from .plotting import plot_wws_sweep
    sw = wws_results(memory_bytes, wws_bytes, hot_fraction, writes_per_s, links_gbps, fitted_links, policies,
                     timeout_s, seed)
    return plot_wws_sweep(sw, figsize=(7.16, 3.9))


def wws_results(memory_bytes, wws_bytes, hot_fraction, writes_per_s, links_gbps, fitted_links, policies,
                timeout_s, seed):
    """The working-set sweep of notebook 2 (memoised): a Sweep with axes policy, link, wws_bytes."""
    from .sweeps import ethernet_links, wws_sweep
    from .vm import VM
    key = ("wws", memory_bytes, tuple(wws_bytes), hot_fraction, writes_per_s, tuple(links_gbps), fitted_links,
           tuple(policies), timeout_s, seed)

    def compute():
        return wws_sweep(VM(memory_bytes=memory_bytes), list(wws_bytes), writes_per_s,
                         links=ethernet_links(links_gbps, fitted=fitted_links), policies=_policies(policies),
                         hot_fraction=hot_fraction, timeout_s=timeout_s, seed=seed)
    return _memoised(key, compute)


@register("02_downtime_vs_wws.ipynb",
          quick={"memory_bytes": GiB(1), "wws_bytes": (MiB(16), MiB(64), MiB(256)),
                 "policies": ("QEMU (no cap)", "Xen v2"), "timeout_s": 300.0})
def downtime_vs_wws_column(memory_bytes=GiB(4), wws_bytes=_WWS, hot_fraction=0.9, writes_per_s=50_000.0,
                           links_gbps=(1.0, 10.0, 25.0), fitted_links=True,
                           policies=("QEMU", "QEMU (no cap)", "Xen legacy", "Xen v2", "VMware", "SimGrid"),
                           timeout_s=600.0, seed=1):
    """The same as :func:`downtime_vs_wws`, one column wide (3.5 in): one row per policy.

    Parameters
    ----------
    memory_bytes, wws_bytes, hot_fraction, writes_per_s, links_gbps, fitted_links, policies, timeout_s, seed
        As for :func:`downtime_vs_wws` (the sweep is shared).

    Returns
    -------
    Figure
    """
    from .plotting import plot_wws_sweep
    sw = wws_results(memory_bytes, wws_bytes, hot_fraction, writes_per_s, links_gbps, fitted_links, policies,
                     timeout_s, seed)
    return plot_wws_sweep(sw, transpose=True, figsize=(3.5, 1.0 * len(policies) + 1.0))


_MAP_POLICIES = ("QEMU (no cap)", "Xen legacy", "Xen v2", "VMware", "SimGrid")
_MAP_WRITES = _geom(1e3, 1e6, 11)                          # 0.3 decades apart
_MAP_RATES = _geom(10 ** -0.4, 10 ** 1.6, 11)               # 0.4 .. 40 Gbit/s, through 1 and 10
_MAP_QUICK = {"memory_bytes": MiB(128), "wws_bytes": MiB(16), "writes_per_s": _geom(1e3, 1e6, 4),
              "rate_gbps": _geom(0.5, 50, 4), "timeout_s": 30.0}


@register("03_convergence_map.ipynb", quick=_MAP_QUICK)
def convergence_maps(memory_bytes=MiB(512), wws_bytes=MiB(64), writes_per_s=_MAP_WRITES, rate_gbps=_MAP_RATES,
                     policies=_MAP_POLICIES, timeout_s=120.0, seed=1):
    """Where pre-copy converges: downtime over write rate x link rate, per stop rule.

    Parameters
    ----------
    memory_bytes, wws_bytes : int
    writes_per_s : sequence of float
        Grid of guest page-write rates.
    rate_gbps : sequence of float
        Grid of nominal link rates (MTU 1500 framing).
    policies : sequence of str
    timeout_s : float
    seed : int

    Returns
    -------
    Figure
    """
    from .plotting import plot_convergence_maps
    grids = convergence_grids(memory_bytes, wws_bytes, writes_per_s, rate_gbps, policies, timeout_s, seed)
    return plot_convergence_maps(grids)


@register("03_convergence_map.ipynb", quick=_MAP_QUICK)
def stop_rule_tradeoff(memory_bytes=MiB(512), wws_bytes=MiB(64), writes_per_s=_MAP_WRITES, rate_gbps=_MAP_RATES,
                       policies=_MAP_POLICIES, timeout_s=120.0, seed=1, at_gbps=10.0):
    """How each stop rule trades downtime for total time on one link.

    Parameters
    ----------
    memory_bytes, wws_bytes, writes_per_s, rate_gbps, policies, timeout_s, seed
        As for :func:`convergence_maps` (the grids are shared).
    at_gbps : float
        The link rate shown (nearest grid column).

    Returns
    -------
    Figure
    """
    from .plotting import plot_tradeoff
    grids = convergence_grids(memory_bytes, wws_bytes, writes_per_s, rate_gbps, policies, timeout_s, seed)
    return plot_tradeoff(grids, Gbps(at_gbps))


_AN_WRITES = _geom(1e3, 1e6, 13)
_AN_QUICK = {"memory_bytes": MiB(128), "wws_bytes": MiB(16), "writes_per_s": _geom(1e3, 1e6, 4), "seeds": 2}


def _model_sweep(memory_bytes, make_workload, writes_per_s, link, policy, seeds, models=None):
    from .links import profile
    from .sweeps import model_sweep
    from .vm import VM
    return model_sweep(VM(memory_bytes=memory_bytes), [make_workload(w) for w in writes_per_s],
                       profile(link).link(), policy, param="writes_per_s", values=list(writes_per_s),
                       seeds=seeds, models=models)


@register("04_analytic_models.ipynb", quick=_AN_QUICK)
def analytic_vs_simulation(memory_bytes=GiB(1), wws_bytes=MiB(64), hot_fraction=0.9, writes_per_s=_AN_WRITES,
                           link="10GbE", policy="QEMU (no cap)", timeout_s=600.0, seeds=3):
    """The geometric, hot/cold and saturation models against the simulator, uniform and hot/cold writes.

    Parameters
    ----------
    memory_bytes, wws_bytes : int
    hot_fraction : float
    writes_per_s : sequence of float
        Write rates swept.
    link : str
        Fitted link profile.
    policy : str
    timeout_s : float
    seeds : int
        Seeds simulated per point.

    Returns
    -------
    Figure

    References
    ----------
    See :mod:`precopy.analytic` for the models and their sources.
    """
    from .plotting import new_figure, plot_model_comparison
    from .workloads import HotCold, Uniform
    pol = _policies([policy])[policy].with_(timeout_s=timeout_s)
    uni = _model_sweep(memory_bytes, lambda w: Uniform(writes_per_s=w), writes_per_s, link, pol, seeds)
    hc = _model_sweep(memory_bytes, lambda w: HotCold(wws_bytes=wws_bytes, hot_fraction=hot_fraction,
                                                      writes_per_s=w), writes_per_s, link, pol, seeds)
    fig, axes = new_figure(3, 2, figsize=(9.0, 7.2), sharex=True, sharey="row")
    from .plotting import format_bytes
    plot_model_comparison(uni, axes=axes[:, 0], title="uniform writes over all memory")
    plot_model_comparison(hc, axes=axes[:, 1], legend=False,
                          title=f"{hot_fraction:.0%} of writes on a {format_bytes(wws_bytes)} hot set")
    for ax in axes[:, 1]:
        ax.set_ylabel("")
    return fig


@register("04_analytic_models.ipynb", quick=_AN_QUICK)
def page_skip_models(memory_bytes=GiB(1), wws_bytes=MiB(64), hot_fraction=0.9, writes_per_s=_AN_WRITES,
                     link="10GbE", policy="Xen legacy", seeds=3):
    """Page skip (Xen legacy): the simulator with and without skip against the analytic models.

    Parameters
    ----------
    memory_bytes, wws_bytes, hot_fraction, writes_per_s, link, policy, seeds
        As for :func:`analytic_vs_simulation`.

    Returns
    -------
    Figure
    """
    from .plotting import format_bytes, plot_model_comparison
    from .workloads import HotCold

    def wl(w):
        return HotCold(wws_bytes=wws_bytes, hot_fraction=hot_fraction, writes_per_s=w)
    pol = _policies([policy])[policy]
    with_skip = _model_sweep(memory_bytes, wl, writes_per_s, link, pol.with_(page_skip=True, sync_cadence="pass"),
                             seeds)
    without = _model_sweep(memory_bytes, wl, writes_per_s, link, pol.with_(page_skip=False), seeds,
                           models=("saturation",))
    return plot_model_comparison(with_skip, metrics=("bytes_sent", "total_time_s"), reference=without,
                                 reference_label="simulated without page skip",
                                 title=f"{policy} with page skip, {format_bytes(wws_bytes)} hot set")


@register("05_validation.ipynb", quick={"seeds": 1},
          inputs=("published_migrations.csv", "validation_map.csv"))
def measured_vs_predicted(seeds=5):
    """Published migrations: measured total time, downtime and data sent against the predictions.

    Parameters
    ----------
    seeds : int
        Seeds per scenario (:func:`precopy.validation.validate`).

    Returns
    -------
    Figure
    """
    from .plotting import plot_measured_vs_predicted
    from .validation import validate
    return plot_measured_vs_predicted(validate(seeds=seeds).rows)


@register("05_validation.ipynb", quick={"max_streams": 4}, inputs=("link_fit_points.csv",))
def link_fit(max_streams=16):
    """The link model fitted to published migration throughputs: goodput per stream count, fit quality.

    Parameters
    ----------
    max_streams : int
        Largest stream count drawn.

    Returns
    -------
    Figure
    """
    from .linkfit import fit_links
    from .links import profiles
    from .plotting import plot_link_fit
    fit = fit_links()
    return plot_link_fit(fit.points, fit.fitted_gbps, profiles(), max_streams=max_streams)


@register("07_host_drain.ipynb", quick={"order": "as-listed"})
def drain_gantt(vms="examples/drain_vms.csv", link="25GbE", max_parallel=2, order="largest-first", seed=0):
    """Gantt chart of draining the example fleet: live, paused and post-copy phases per VM."""
    from .drain import drain_gantt as draw
    return draw(vms=vms, link=link, max_parallel=max_parallel, order=order, seed=seed)


# ---------------------------------------------------------------------------------------------
# command line

def add_arguments(p):
    p.add_argument("names", nargs="*", metavar="NAME", help="figures to draw (default: all; see --list)")
    p.add_argument("--out", default="figures", metavar="DIR", help="output folder (default: ./figures)")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.add_argument("--quick", action="store_true",
                   help="smaller grids for a fast check (recorded in the manifest)")
    p.add_argument("--formats", default=",".join(FORMATS), metavar="FMT[,FMT]",
                   help="file formats (default: png,pdf; svg also possible)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--jobs", type=int, default=DEFAULT_JOBS, metavar="N",
                   help=f"draw in N worker processes (-1: one per CPU; default {DEFAULT_JOBS}: the sweeps inside "
                        f"each already use every core, the drawing does not); the same bytes as with 1")


#: Worker processes of ``precopy figures`` by default: two (one on a single-CPU machine).  The
#: sweeps behind the figures run on every core anyway; a second worker draws and saves (serial
#: Matplotlib work) meanwhile: all figures in 51 s instead of 72 s on an idle 2-core machine.
DEFAULT_JOBS = min(2, os.cpu_count() or 1)


def run(args) -> int:
    if args.list:
        width = max(len(n) for n in REGISTRY)
        for n, spec in REGISTRY.items():
            print(f"{n:<{width}}  {spec.notebook:<28}  {spec.description}")
        return 0
    formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    try:
        manifest = render_all(args.names or None, args.out, quick=args.quick, formats=formats,
                              progress=not args.no_progress, jobs=args.jobs)
    except OSError as e:            # disk full, folder removed under us ...: one line, no traceback
        where = f" ({e.filename})" if e.filename else ""
        raise ValueError(f"writing figures into {args.out} failed{where}: {_why(e)}") from None
    n = len({e["figure"] for e in manifest["files"]})
    print(f"wrote {len(args.names) if args.names else len(REGISTRY)} figure(s) to {Path(args.out).resolve()} "
          f"(manifest lists {n}): {Path(args.out) / 'manifest.json'}")
    return 0
from . import operator_figures  # noqa: E402,F401  (notebook 06: plan_pareto, eta_progress, orchestrator_outcomes)
