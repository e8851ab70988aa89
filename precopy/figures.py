"""Every figure of the notebooks, one function each, and ``precopy figures`` to redraw them.

Each figure is a function named after it that takes plain parameters (with the
defaults the notebooks use) and returns a Matplotlib figure; :func:`register`
records it with the notebook it belongs to.  :func:`render` writes it as PNG and
PDF, byte-for-byte the same on every run (fixed seeds, fixed file metadata), and
``manifest.json`` lists every file with the function that drew it and its
parameters, so a figure in a paper traces back to its code.

Command line::

    precopy figures                 # all figures into ./figures
    precopy figures --out DIR convergence_maps downtime_vs_wws
    precopy figures --list

References
----------
showyourwork (Luger et al., 2021): one function per figure, one command rebuilds all.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__
from .units import GiB, Gbps, MiB

__all__ = ["register", "REGISTRY", "FigureSpec", "render", "render_all", "figure_params", "save",
           "add_arguments", "run"]

#: name -> FigureSpec, in registration (= notebook) order
REGISTRY: dict[str, "FigureSpec"] = {}

#: File formats written for each figure.
FORMATS = ("png", "pdf")

#: Fixed file metadata: no dates, no versions that differ between machines.
_METADATA = {
    "png": {"Software": "precopy figures"},
    "pdf": {"Creator": "precopy figures", "Producer": "precopy figures", "CreationDate": None,
            "ModDate": None},
    "svg": {"Creator": "precopy figures", "Date": None},
}


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its function, default parameters and a quick variant."""

    name: str
    func: Callable
    notebook: str
    params: dict
    quick: dict = field(default_factory=dict)

    @property
    def function(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def description(self) -> str:
        doc = inspect.getdoc(self.func) or ""
        return doc.splitlines()[0] if doc else ""


def register(notebook: str, quick: dict | None = None):
    """Decorator: register a figure function under its own name.

    Parameters
    ----------
    notebook : str
        The notebook that shows this figure.
    quick : dict, optional
        Parameter overrides for a fast, smaller rendering (``--quick``; tests).
    """
    def deco(func):
        sig = inspect.signature(func)
        params = {k: p.default for k, p in sig.parameters.items()}
        missing = [k for k, d in params.items() if d is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"figure {func.__name__}: every parameter needs a default; missing {missing}")
        unknown = set(quick or {}) - set(params)
        if unknown:
            raise TypeError(f"figure {func.__name__}: quick overrides unknown parameters {sorted(unknown)}")
        REGISTRY[func.__name__] = FigureSpec(func.__name__, func, notebook, params, dict(quick or {}))
        return func
    return deco


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
    from .plotting import style
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in _METADATA:
        raise ValueError(f"fmt must be one of {', '.join(_METADATA)}; got {fmt!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with style():
        fig.savefig(path, format=fmt, metadata=_METADATA[fmt])
    return path


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def render(name: str, out_dir=".", *, quick: bool = False, formats=FORMATS, **overrides) -> list[dict]:
    """Draw one figure and write it in each format.

    Returns
    -------
    list of dict
        Manifest entries: ``file``, ``figure``, ``function``, ``notebook``,
        ``parameters``, ``sha256``.
    """
    spec = _spec(name)
    params = figure_params(name, quick=quick, **overrides)
    fig = spec.func(**params)
    out = []
    for fmt in formats:
        path = save(fig, Path(out_dir) / f"{name}.{fmt}", fmt)
        out.append({"file": path.name, "figure": name, "function": spec.function, "notebook": spec.notebook,
                    "parameters": _jsonable(params), "quick": bool(quick), "sha256": _sha256(path)})
    return out


def render_all(names=None, out_dir="figures", *, quick: bool = False, formats=FORMATS, progress: bool = True):
    """Draw figures (default: all), write them and update ``manifest.json`` in ``out_dir``.

    Returns
    -------
    dict
        The manifest written.
    """
    names = list(REGISTRY) if not names else list(names)
    for n in names:
        _spec(n)
    for f in formats:
        if f not in _METADATA:
            raise ValueError(f"formats must be among {', '.join(_METADATA)}; got {f!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    entries = {}
    if manifest_path.exists():
        try:
            for e in json.loads(manifest_path.read_text()).get("files", []):
                entries[e["file"]] = e
        except (ValueError, KeyError, AttributeError):
            entries = {}
    from tqdm.auto import tqdm
    bar = tqdm(names, desc="figures", unit="fig", disable=not progress)
    for n in bar:
        bar.set_postfix_str(n)
        for e in render(n, out_dir, quick=quick, formats=formats):
            entries[e["file"]] = e
    order = {n: i for i, n in enumerate(REGISTRY)}
    files = sorted(entries.values(), key=lambda e: (order.get(e["figure"], 1e9), e["file"]))
    manifest = {"generator": "precopy figures", "precopy_version": __version__, "files": files}
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest


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
    return plot_timeline(r)


_WWS = tuple(MiB(2**k) for k in range(4, 12))       # 16 MiB .. 2 GiB


@register("02_downtime_vs_wws.ipynb",
          quick={"memory_bytes": GiB(1), "wws_bytes": (MiB(16), MiB(64), MiB(256)),
                 "policies": ("QEMU (no cap)", "Xen v2"), "timeout_s": 300.0})
def downtime_vs_wws(memory_bytes=GiB(4), wws_bytes=_WWS, hot_fraction=0.9, writes_per_s=50_000.0,
                    links_gbps=(1.0, 10.0, 25.0), fitted_links=True,
                    policies=("QEMU", "QEMU (no cap)", "Xen legacy", "Xen v2", "VMware", "SimGrid"),
                    timeout_s=600.0, seed=1):
    """Downtime and total migration time against working-set size, per link and policy.

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
    from .sweeps import ethernet_links, wws_sweep
    from .vm import VM
    sw = wws_sweep(VM(memory_bytes=memory_bytes), list(wws_bytes), writes_per_s,
                   links=ethernet_links(links_gbps, fitted=fitted_links),
                   policies=_policies(policies), hot_fraction=hot_fraction, timeout_s=timeout_s, seed=seed)
    return plot_wws_sweep(sw)


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
    with_skip = _model_sweep(memory_bytes, wl, writes_per_s, link, pol.with_(page_skip=True), seeds)
    without = _model_sweep(memory_bytes, wl, writes_per_s, link, pol.with_(page_skip=False), seeds,
                           models=("saturation",))
    return plot_model_comparison(with_skip, metrics=("bytes_sent", "total_time_s"), reference=without,
                                 reference_label="simulated without page skip",
                                 title=f"{policy} with page skip, {format_bytes(wws_bytes)} hot set")


@register("05_validation.ipynb", quick={"seeds": 1})
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


@register("05_validation.ipynb", quick={"max_streams": 4})
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


def run(args) -> int:
    if args.list:
        width = max(len(n) for n in REGISTRY)
        for n, spec in REGISTRY.items():
            print(f"{n:<{width}}  {spec.notebook:<28}  {spec.description}")
        return 0
    formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    manifest = render_all(args.names or None, args.out, quick=args.quick, formats=formats,
                          progress=not args.no_progress)
    n = len({e["figure"] for e in manifest["files"]})
    print(f"wrote {len(args.names) if args.names else len(REGISTRY)} figure(s) to {Path(args.out).resolve()} "
          f"(manifest lists {n}): {Path(args.out) / 'manifest.json'}")
    return 0
from . import operator_figures  # noqa: E402,F401  (notebook 06: plan_pareto, eta_progress, orchestrator_outcomes)
