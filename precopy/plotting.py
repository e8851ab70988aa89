"""Plots: functions that take results and return Matplotlib figures.

Notebooks, widgets and :mod:`precopy.figures` share these, so every figure in a
paper is drawn by the same code a reader can call.  Each function takes an
optional ``ax`` (or ``axes``) to draw into and returns the
:class:`~matplotlib.figure.Figure`; without one it makes a new figure in the
package style (:data:`STYLE`, ``precopy/precopy.mplstyle``).  New figures are
plain :class:`~matplotlib.figure.Figure` objects on an Agg canvas, outside
pyplot's global state, so they work headless and in threads, and Jupyter shows
them once (as the value of the cell).

Conventions: times in seconds, sizes in bytes (axes show binary units), link
rates in Gbit/s; a migration that did not converge is always drawn, marked with
``x`` (or hatched on maps), with the values of its forced stop-and-copy.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import matplotlib as mpl
import matplotlib.style  # noqa: F401  (registers mpl.style)
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .results import MigrationResult

__all__ = ["STYLE", "style", "new_figure", "plot_timeline", "plot_rate_timeline", "plot_migration", "plot_wws_sweep", "plot_convergence_map",
           "plot_convergence_maps", "plot_tradeoff", "plot_model_comparison", "plot_measured_vs_predicted",
           "plot_link_fit", "format_bytes", "format_seconds", "format_count", "NONCONVERGED_LABEL"]

#: The one style file (shipped as package data).
STYLE = Path(__file__).with_name("precopy.mplstyle")

#: Legend text for points whose migration a cap, not the stop rule, ended.
NONCONVERGED_LABEL = "did not converge (forced stop)"

_UNITS = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def style():
    """Context manager applying :data:`STYLE` (use around your own plotting)."""
    return mpl.style.context(STYLE)


def format_bytes(n: float) -> str:
    """A byte count in binary units, e.g. ``'1.5 GiB'``.

    Examples
    --------
    >>> format_bytes(2**30), format_bytes(3 * 2**19), format_bytes(100)
    ('1 GiB', '1.5 MiB', '100 B')
    """
    n = float(n)
    for unit, size in _UNITS:
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g} B"


def format_seconds(t: float) -> str:
    """A duration in s or ms, e.g. ``'273 ms'``, ``'17.9 s'``, ``'3620 s'``.

    Examples
    --------
    >>> format_seconds(0.2731), format_seconds(17.93), format_seconds(3621.4)
    ('273 ms', '17.9 s', '3621 s')
    """
    t = float(t)
    if abs(t) < 1:
        return f"{t * 1e3:.3g} ms"
    if abs(t) < 100:
        return f"{t:.3g} s"
    return f"{t:.0f} s"


#: Line styles and markers cycled with the colours, so that overlapping lines stay visible.
_LINESTYLES = ("-", "--", "-.", ":", (0, (6, 2)), (0, (1, 1)))
_MARKERS = ("o", "s", "^", "D", "v", "P")


_BYTES = FuncFormatter(lambda x, pos: format_bytes(x) if x > 0 else "0")


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize=None, squeeze: bool = True, **subplot_kw):
    """A figure on an Agg canvas, in the package style, and its axes.

    Returns
    -------
    (Figure, Axes or ndarray of Axes)
    """
    with style():
        fig = Figure(figsize=figsize)
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


@contextlib.contextmanager
def _drawing(ax, **new_kw):
    """Yield (fig, ax): the given axes, or a new figure's, with the style active."""
    with style():
        if ax is None:
            fig, ax = new_figure(**new_kw)
        else:
            fig = ax.figure
        yield fig, ax


def _wire_bytes_per_page(rounds) -> float:
    """Bytes a full page costs on the wire, read off the table (after round 0)."""
    sent = rounds["pages_sent"][1:]
    nbytes = rounds["bytes_sent"][1:]
    ok = sent > 0
    if ok.any():
        i = int(np.flatnonzero(ok)[0])
        return float(nbytes[i] / sent[i])
    return float(rounds["bytes_sent"][0] / max(rounds["pages_sent"][0], 1))


def plot_timeline(result, ax=None) -> Figure:
    """Bytes sent and bytes dirtied in each round, and where pre-copy stopped.

    One pair of bars per round: the bytes sent in the round, and the bytes the
    guest dirtied while it ran (distinct pages written, at the wire cost of a
    page), which the next round must send.  The stop-and-copy round, sent while
    the VM is paused, is drawn last in its own colour after a dashed line that
    marks the stop, labelled with the stop reason, the pre-copy time and the
    downtime.

    Parameters
    ----------
    result : MigrationResult
        From :func:`precopy.simulate` or :meth:`precopy.Prepared.run`.
    ax : matplotlib Axes, optional
        Draw here instead of a new figure.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import precopy as pc
    >>> r = pc.simulate(pc.VM(memory_bytes=pc.MiB(64)),
    ...                 pc.workloads.HotCold(wws_bytes=pc.MiB(8), writes_per_s=5e3),
    ...                 pc.Link(rate_bps=pc.Gbps(1)), "xen", seed=1)
    >>> fig = plot_timeline(r)
    >>> fig.axes[0].get_ylabel()
    'bytes per round'
    """
    if not isinstance(result, MigrationResult):
        raise ValueError(f"result must be a precopy.MigrationResult; got {type(result).__name__}")
    t = result.rounds
    with _drawing(ax) as (fig, ax):
        n = len(t)
        idx = np.arange(n)
        final = np.asarray(t["stop_copy"], bool)
        live = ~final
        sent = np.asarray(t["bytes_sent"], float)
        dirtied = np.asarray(t["pages_dirtied"], float) * _wire_bytes_per_page(t)
        if live.sum() <= 40:
            w = 0.42
            ax.bar(idx[live] - w / 2, sent[live], width=w, color="C0", label="sent (VM running)")
            ax.bar(idx[live] + w / 2, dirtied[live], width=w, color="C1", alpha=0.75,
                   label="dirtied while it ran")
        else:   # too many rounds for bars: steps
            ax.plot(idx[live], sent[live], color="C0", drawstyle="steps-mid", label="sent (VM running)")
            ax.plot(idx[live], dirtied[live], color="C1", drawstyle="steps-mid", label="dirtied while it ran")
            w = max(1.0, n / 60)
        if final.any():
            ax.bar(idx[final], sent[final], width=w, color="C2", label="stop-and-copy (VM paused)")
        stop_x = (int(np.flatnonzero(final)[0]) if final.any() else n) - 0.5
        ax.axvline(stop_x, color="0.2", ls="--", lw=1.0)
        verdict = "converged" if result.converged else "did NOT converge"
        right = stop_x > n / 2
        ax.text(stop_x, 0.80, f"stop: {result.stop_reason} \nat {format_seconds(result.precopy_time_s)} \n"
                f"downtime {format_seconds(result.downtime_s)} " if right else
                f" stop: {result.stop_reason}\n at {format_seconds(result.precopy_time_s)}\n"
                f" downtime {format_seconds(result.downtime_s)}",
                transform=ax.get_xaxis_transform(), ha="right" if right else "left",
                va="top", fontsize=7, color="0.15")
        positive = np.concatenate([sent[sent > 0], dirtied[dirtied > 0]])
        if positive.size:
            ax.set_yscale("log", base=2)
            lo, hi = positive.min() / 2, positive.max()
            ax.set_ylim(lo, hi * (hi / lo) ** 0.45)      # head room for the legend
            ax.yaxis.set_major_locator(LogLocator(base=2, numticks=7))
        ax.yaxis.set_major_formatter(_BYTES)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(-0.7, n - 0.3)
        if n <= 12:
            ax.set_xticks(idx)
        ax.set_xlabel("round (0 = bulk pass; stop-and-copy last)")
        ax.set_ylabel("bytes per round")
        ax.set_title(f"{result.policy}: {verdict} after {result.n_rounds} rounds, "
                     f"total {format_seconds(result.total_time_s)}", fontsize=9)
        ax.legend(loc="upper center", ncol=3, fontsize=7)
    return fig


def plot_rate_timeline(result, ax=None) -> Figure:
    """Transfer rate over wall-clock time: each round a bar over its duration.

    A bar spans the round's start and end (s); its height is the round's transfer
    rate (Mbit/s), so its area is the data it sent (labelled when the bar is wide
    enough), in the style of Clark et al. (NSDI 2005, Fig. 9).  The stop-and-copy
    round, the downtime, is drawn in its own colour.

    Parameters
    ----------
    result : MigrationResult
        From :func:`precopy.simulate` or :meth:`precopy.Prepared.run`.
    ax : matplotlib Axes, optional
        Draw here instead of a new figure.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import precopy as pc
    >>> r = pc.simulate(pc.VM(memory_bytes=pc.MiB(64)),
    ...                 pc.workloads.HotCold(wws_bytes=pc.MiB(4), writes_per_s=5e3),
    ...                 pc.Link(rate_bps=pc.Gbps(1)), "xen", seed=1)
    >>> fig = plot_rate_timeline(r)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('time since migration start (s)', 'transfer rate (Mbit/s)')
    """
    if not isinstance(result, MigrationResult):
        raise ValueError(f"result must be a precopy.MigrationResult; got {type(result).__name__}")
    t = result.rounds
    with _drawing(ax) as (fig, ax):
        start = np.asarray(t["start_s"], float)
        dur = np.asarray(t["duration_s"], float)
        sent = np.asarray(t["bytes_sent"], float)
        final = np.asarray(t["stop_copy"], bool)
        rate_mbps = np.zeros_like(sent)
        ok = dur > 0
        rate_mbps[ok] = sent[ok] * 8 / dur[ok] / 1e6
        live = ~final
        ax.bar(start[live], rate_mbps[live], width=dur[live], align="edge", color="C0",
               edgecolor="white", linewidth=0.4, label="pre-copy rounds (VM running)")
        if final.any():
            ax.bar(start[final], rate_mbps[final], width=np.maximum(dur[final], result.total_time_s * 2e-3),
                   align="edge", color="C2", label=f"stop-and-copy (downtime {format_seconds(result.downtime_s)})")
        span = max(result.total_time_s, 1e-12)
        for i in np.flatnonzero(dur > 0.06 * span):
            ax.annotate(format_bytes(sent[i]), (start[i] + dur[i] / 2, rate_mbps[i]), textcoords="offset points",
                        xytext=(0, 2), ha="center", fontsize=7)
        top = float(rate_mbps.max()) if rate_mbps.size else 0.0
        ax.set_xlim(0, span * 1.02)
        ax.set_ylim(0, top * 1.25 if top > 0 else 1.0)
        ax.set_xlabel("time since migration start (s)")
        ax.set_ylabel("transfer rate (Mbit/s)")
        verdict = "converged" if result.converged else "did NOT converge"
        ax.set_title(f"{result.policy}: {verdict} ({result.stop_reason}), {result.n_rounds} rounds, "
                     f"{format_bytes(result.bytes_sent)} in {format_seconds(result.total_time_s)}", fontsize=9)
        ax.legend(loc="upper right", fontsize=7)
    return fig


def plot_migration(result) -> Figure:
    """Both views of one migration: :func:`plot_rate_timeline` above :func:`plot_timeline`.

    Examples
    --------
    >>> import precopy as pc
    >>> r = pc.simulate(pc.VM(memory_bytes=pc.MiB(64)), pc.workloads.Idle(), pc.Link(rate_bps=pc.Gbps(1)), "qemu")
    >>> len(plot_migration(r).axes)
    2
    """
    fig, axes = new_figure(2, 1, figsize=(7.5, 6.0))
    plot_rate_timeline(result, ax=axes[0])
    plot_timeline(result, ax=axes[1])
    return fig


_METRIC_LABELS = {
    "downtime_s": "downtime (s)",
    "total_time_s": "total migration time (s)",
    "precopy_time_s": "pre-copy time (s)",
    "bytes_sent": "bytes sent",
    "n_rounds": "rounds",
}


def _sweep_type(name):
    """The class ``precopy.sweeps.<name>`` if sweeps is loaded, else None.

    Plotting never imports :mod:`precopy.sweeps` (and with it the simulation
    kernel): an object can only be a Sweep if whoever made it loaded sweeps.
    """
    mod = sys.modules.get(f"{__package__}.sweeps")
    return getattr(mod, name, None)


def _is_sweep(obj, name="Sweep"):
    cls = _sweep_type(name)
    return cls is not None and isinstance(obj, cls)


def _check_sweep(sweep, names):
    if not _is_sweep(sweep):
        raise ValueError(f"sweep must be a precopy.sweeps.Sweep; got {type(sweep).__name__}")
    if tuple(sweep.axes) != tuple(names):
        raise ValueError(f"sweep must have axes {tuple(names)}; got {tuple(sweep.axes)}")


def _log2_bytes_axis(ax, values):
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(_BYTES)
    ax.xaxis.set_minor_formatter(NullFormatter())
    v = np.asarray(values, float)
    if len(v) > 6:
        ax.set_xticks(v[::2])
    else:
        ax.set_xticks(v)


def format_count(x: float) -> str:
    """A count with an SI suffix: ``'500'``, ``'20k'``, ``'1.5M'``.

    Examples
    --------
    >>> format_count(500), format_count(2e4), format_count(1.5e6)
    ('500', '20k', '1.5M')
    """
    x = float(x)
    for suffix, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:g}{suffix}"
    return f"{x:g}"


_PLAIN = FuncFormatter(lambda y, pos: f"{y:g}")
_COUNT = FuncFormatter(lambda y, pos: format_count(y))


class _Log125(LogLocator):
    """Log ticks at 1-2-5 per decade on short ranges, at decades on long ones."""

    def tick_values(self, vmin, vmax):
        lo, hi = sorted((max(vmin, 1e-300), max(vmax, 1e-300)))
        self._subs = np.array([1.0, 2.0, 5.0]) if np.log10(hi / lo) <= 2.2 else np.array([1.0])
        return super().tick_values(vmin, vmax)


def _log_axis(ax, which, formatter=None):
    """Log scale with 1-2-5 ticks labelled as plain numbers (no 10^k notation)."""
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(_Log125(base=10, numticks=12))
    axis.set_major_formatter(formatter or _PLAIN)
    axis.set_minor_formatter(NullFormatter())


def _metric_axis(ax, metric):
    _log_axis(ax, "y")
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    if metric == "bytes_sent":
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(_BYTES)


def plot_wws_sweep(sweep, metrics=("downtime_s", "total_time_s"), axes=None, highlight=None,
                   legend: str | None = "figure") -> Figure:
    """Downtime and total time against writable working-set size.

    One column per policy, one row per metric, one line per link.  Points whose
    migration did not converge are kept and marked ``x`` (their values are those
    of the forced stop-and-copy).

    Parameters
    ----------
    sweep : Sweep
        From :func:`precopy.sweeps.wws_sweep` (axes policy, link, wws_bytes).
    metrics : sequence of str, default (downtime_s, total_time_s)
        Sweep fields to plot, one row each.
    axes : 2-D array of Axes, optional
        ``(len(metrics), n_policies)`` axes to draw into.
    highlight : (link label, wws_bytes), optional
        A point to ring (the widget's current selection).
    legend : {"figure", "axes", None}, default "figure"
        One legend above the figure, one in the first axes, or none.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import precopy as pc
    >>> from precopy import sweeps
    >>> sw = sweeps.wws_sweep(pc.VM(memory_bytes=pc.MiB(128)), [pc.MiB(4), pc.MiB(16)], 2e4,
    ...                       policies=["xen"], seed=1)
    >>> fig = plot_wws_sweep(sw)
    >>> len(fig.axes)
    2
    """
    _check_sweep(sweep, ("policy", "link", "wws_bytes"))
    if legend not in ("figure", "axes", None):
        raise ValueError(f"legend must be 'figure', 'axes' or None; got {legend!r}")
    metrics = tuple(metrics)
    for m in metrics:
        if m not in _METRIC_LABELS:
            raise ValueError(f"metrics must be among {list(_METRIC_LABELS)}; got {m!r}")
    policies, links, wws = (sweep.axes[k] for k in ("policy", "link", "wws_bytes"))
    ncols = len(policies)
    with style():
        if axes is None:
            fig, axes = new_figure(len(metrics), ncols, figsize=(2.6 * ncols + 0.6, 2.3 * len(metrics) + 0.4),
                                   squeeze=False, sharex=True)
        else:
            axes = np.asarray(axes, dtype=object).reshape(len(metrics), ncols)
            fig = axes[0, 0].figure
        x = np.asarray(wws, float)
        for j, pol in enumerate(policies):
            for i, m in enumerate(metrics):
                ax = axes[i, j]
                vals = np.asarray(getattr(sweep, m), float)
                for k, link in enumerate(links):
                    y = vals[j, k]
                    conv = sweep.converged[j, k]
                    color = f"C{k % 8}"
                    ax.plot(x, y, ls=_LINESTYLES[k % len(_LINESTYLES)], color=color, lw=1.2, label=link)
                    ax.plot(x[conv], y[conv], _MARKERS[k % len(_MARKERS)], color=color, ms=4)
                    ax.plot(x[~conv], y[~conv], "x", color=color, ms=7, mew=1.8)
                if highlight is not None:
                    hl_link, hl_wws = highlight
                    if hl_link in links and hl_wws in wws:
                        k, q = links.index(hl_link), wws.index(hl_wws)
                        ax.plot([x[q]], [vals[j, k, q]], "o", ms=12, mfc="none", mec="k", mew=1.5, zorder=5)
                _metric_axis(ax, m)
                _log2_bytes_axis(ax, x)
                if i == 0:
                    ax.set_title(pol)
                if i == len(metrics) - 1:
                    ax.set_xlabel("writable working set")
                if j > 0:
                    ax.set_ylabel("")
        handles = [Line2D([], [], color=f"C{k % 8}", ls=_LINESTYLES[k % len(_LINESTYLES)],
                          marker=_MARKERS[k % len(_MARKERS)], ms=4, label=lab) for k, lab in enumerate(links)]
        handles.append(Line2D([], [], color="0.3", marker="x", ls="none", ms=7, mew=1.8, label=NONCONVERGED_LABEL))
        if legend == "figure":
            fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), fontsize=7)
        elif legend == "axes":
            axes[0, 0].legend(handles=handles, fontsize=7)
    return fig


def _plain_colorbar(cbar):
    cbar.ax.yaxis.set_major_locator(_Log125(base=10, numticks=12))
    cbar.ax.yaxis.set_major_formatter(_PLAIN)
    cbar.ax.yaxis.set_minor_formatter(NullFormatter())
    return cbar


def _edges(values):
    """Cell edges (geometric midpoints) around log-spaced centres."""
    v = np.asarray(values, float)
    if len(v) == 1:
        return np.array([v[0] / 1.5, v[0] * 1.5])
    lv = np.log(v)
    mid = (lv[1:] + lv[:-1]) / 2
    return np.exp(np.concatenate([[lv[0] - (mid[0] - lv[0])], mid, [lv[-1] + (lv[-1] - mid[-1])]]))


def _map_norm(grids, metric):
    vals = np.concatenate([np.asarray(getattr(g, metric), float).ravel() for g in grids])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if not vals.size:
        return LogNorm(1e-3, 1.0)
    return LogNorm(vals.min(), vals.max())


def plot_convergence_map(sweep, ax=None, metric: str = "downtime_s", norm=None, colorbar: bool = True,
                         title: str | None = None, legend: bool = True) -> Figure:
    """Heat map of downtime over guest write rate x link rate, non-convergence outlined.

    Cells where a cap (rounds, data, timeout) rather than the stop rule ended
    pre-copy are hatched and the boundary of that region is drawn in black;
    their colour is the downtime of the forced stop-and-copy.

    Parameters
    ----------
    sweep : Sweep
        From :func:`precopy.sweeps.convergence_grid` (axes writes_per_s, rate_bps).
    ax : Axes, optional
    metric : str, default ``"downtime_s"``
    norm : matplotlib Normalize, optional
        Colour scale (default: log over this map's values).
    colorbar : bool, default True
    title : str, optional
        Default: the policy name.
    legend : bool, default True
        Explain the hatching in a legend.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import precopy as pc
    >>> from precopy import sweeps
    >>> g = sweeps.convergence_grid(pc.VM(memory_bytes=pc.MiB(64)), [1e3, 1e5], [pc.Gbps(1), pc.Gbps(10)],
    ...                             policy="xen", seed=1)
    >>> fig = plot_convergence_map(g)
    >>> fig.axes[0].get_xlabel()
    'guest page writes per second'
    """
    _check_sweep(sweep, ("writes_per_s", "rate_bps"))
    if metric not in _METRIC_LABELS:
        raise ValueError(f"metric must be among {list(_METRIC_LABELS)}; got {metric!r}")
    w = np.asarray(sweep.axes["writes_per_s"], float)
    r = np.asarray(sweep.axes["rate_bps"], float) / 1e9
    if np.any(w <= 0):
        raise ValueError("writes_per_s (page writes per second) must be > 0 on a convergence map's log axis")
    z = np.asarray(getattr(sweep, metric), float)
    conv = np.asarray(sweep.converged, bool)
    with _drawing(ax) as (fig, ax):
        xe, ye = _edges(w), _edges(r)
        norm = _map_norm([sweep], metric) if norm is None else norm
        mesh = ax.pcolormesh(xe, ye, z.T, norm=norm, shading="flat")
        # hatch the cells that did not converge ...
        cells = [Rectangle((xe[i], ye[j]), xe[i + 1] - xe[i], ye[j + 1] - ye[j])
                 for i in range(len(w)) for j in range(len(r)) if not conv[i, j]]
        if cells:
            ax.add_collection(PatchCollection(cells, facecolor="none", edgecolor="0.9", hatch="///",
                                              linewidth=0))
        # ... and outline the region: every cell edge between a converged and a non-converged cell
        segs = []
        for i in range(len(w)):
            for j in range(len(r)):
                if conv[i, j]:
                    continue
                if i == 0 or conv[i - 1, j]:
                    segs.append([(xe[i], ye[j]), (xe[i], ye[j + 1])])
                if i == len(w) - 1 or conv[i + 1, j]:
                    segs.append([(xe[i + 1], ye[j]), (xe[i + 1], ye[j + 1])])
                if j == 0 or conv[i, j - 1]:
                    segs.append([(xe[i], ye[j]), (xe[i + 1], ye[j])])
                if j == len(r) - 1 or conv[i, j + 1]:
                    segs.append([(xe[i], ye[j + 1]), (xe[i + 1], ye[j + 1])])
        if segs:
            from matplotlib.collections import LineCollection
            ax.add_collection(LineCollection(segs, colors="k", linewidths=1.6))
        _log_axis(ax, "x", _COUNT)
        _log_axis(ax, "y")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        ax.grid(False)
        ax.set_xlabel("guest page writes per second")
        ax.set_ylabel("link rate (Gbit/s)")
        ax.set_title(sweep.params.get("policy", "") if title is None else title)
        if cells and legend:
            ax.legend(handles=[Patch(facecolor="none", edgecolor="k", hatch="///", label=NONCONVERGED_LABEL)],
                      loc="lower right", fontsize=7, frameon=True)
        if colorbar:
            _plain_colorbar(fig.colorbar(mesh, ax=ax, label=_METRIC_LABELS[metric]))
    return fig


def plot_convergence_maps(grids: dict, metric: str = "downtime_s", ncols: int | None = None) -> Figure:
    """Several convergence maps side by side on one colour scale.

    Parameters
    ----------
    grids : dict of str to Sweep
        Title (policy label) to :func:`precopy.sweeps.convergence_grid` result.
    metric : str, default ``"downtime_s"``
    ncols : int, optional
        Panels per row (default: all in one row up to 3, then rows of 3).

    Returns
    -------
    Figure

    Examples
    --------
    >>> import precopy as pc
    >>> from precopy import sweeps
    >>> vm = pc.VM(memory_bytes=pc.MiB(64))
    >>> grids = {p: sweeps.convergence_grid(vm, [1e3, 1e5], [pc.Gbps(1), pc.Gbps(10)], p, seed=1)
    ...          for p in ("xen", "simgrid")}
    >>> [ax.get_title() for ax in plot_convergence_maps(grids).axes[:2]]
    ['xen', 'simgrid']
    """
    if not isinstance(grids, dict) or not grids:
        raise ValueError("grids must be a non-empty dict of label -> Sweep")
    n = len(grids)
    ncols = min(n, 3) if ncols is None else ncols
    nrows = -(-n // ncols)
    norm = _map_norm(list(grids.values()), metric)
    fig, axes = new_figure(nrows, ncols, figsize=(3.2 * ncols + 0.9, 2.9 * nrows), squeeze=False,
                           sharex=True, sharey=True)
    mesh = None
    for ax, (label, g) in zip(axes.ravel(), grids.items()):
        plot_convergence_map(g, ax=ax, metric=metric, norm=norm, colorbar=False, title=label, legend=False)
        mesh = ax.collections[0]
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax in axes[:, 1:].ravel():
        ax.set_ylabel("")
    for ax in axes[:-1, :].ravel():
        ax.set_xlabel("")
    with style():
        _plain_colorbar(fig.colorbar(mesh, ax=axes, label=_METRIC_LABELS[metric], shrink=0.9))
        fig.legend(handles=[Patch(facecolor="none", edgecolor="k", hatch="///", label=NONCONVERGED_LABEL
                                  + ": hatched, outlined")], loc="outside upper center", fontsize=8)
    return fig


def plot_tradeoff(grids: dict, rate_bps: float) -> Figure:
    """How each stop rule trades downtime for total time, at one link rate.

    Left: downtime against guest write rate; middle: total migration time; right:
    the two against each other (each policy's points joined in write-rate order).
    Non-convergent points are marked ``x``.

    Parameters
    ----------
    grids : dict of str to Sweep
        Policy label to :func:`precopy.sweeps.convergence_grid` result, all on the
        same axes.
    rate_bps : float
        Link rate (bit/s); the grid column nearest to it is shown.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import precopy as pc
    >>> from precopy import sweeps
    >>> g = sweeps.convergence_grid(pc.VM(memory_bytes=pc.MiB(64)), [1e3, 1e5], [pc.Gbps(1), pc.Gbps(10)],
    ...                             "xen", seed=1)
    >>> len(plot_tradeoff({"Xen v2": g}, pc.Gbps(10)).axes)
    3
    """
    if not isinstance(grids, dict) or not grids:
        raise ValueError("grids must be a non-empty dict of label -> Sweep")
    fig, axes = new_figure(1, 3, figsize=(10.5, 3.3))
    with style():
        shown = None
        for k, (label, g) in enumerate(grids.items()):
            _check_sweep(g, ("writes_per_s", "rate_bps"))
            rates = np.asarray(g.axes["rate_bps"], float)
            j = int(np.argmin(np.abs(np.log(rates) - np.log(rate_bps))))
            shown = rates[j]
            w = np.asarray(g.axes["writes_per_s"], float)
            d, tt, conv = g.downtime_s[:, j], g.total_time_s[:, j], g.converged[:, j]
            color = f"C{k % 8}"
            ls, mk = _LINESTYLES[k % len(_LINESTYLES)], _MARKERS[k % len(_MARKERS)]
            for ax, x, y in ((axes[0], w, d), (axes[1], w, tt), (axes[2], tt, d)):
                ax.plot(x, y, ls=ls, color=color, lw=1.2, marker=mk, ms=3.5, mfc="none", label=label)
                ax.plot(x[conv], y[conv], mk, color=color, ms=3.5)
                ax.plot(x[~conv], y[~conv], "x", color=color, ms=6, mew=1.6)
        for ax in axes[:2]:
            _log_axis(ax, "x", _COUNT)
        _log_axis(axes[2], "x")
        for ax in axes:
            _log_axis(ax, "y")
        axes[0].set_xlabel("guest page writes per second")
        axes[0].set_ylabel(_METRIC_LABELS["downtime_s"])
        axes[1].set_xlabel("guest page writes per second")
        axes[1].set_ylabel(_METRIC_LABELS["total_time_s"])
        axes[2].set_xlabel(_METRIC_LABELS["total_time_s"])
        axes[2].set_ylabel(_METRIC_LABELS["downtime_s"])
        handles, _ = axes[0].get_legend_handles_labels()
        handles.append(Line2D([], [], color="0.3", marker="x", ls="none", ms=6, mew=1.6, label=NONCONVERGED_LABEL))
        fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), fontsize=7)
        axes[1].set_title(f"stop rules on a {shown / 1e9:.3g} Gbit/s link", fontsize=10)
    return fig


_MODEL_STYLE = {"saturation": ("C0", "-"), "geometric": ("C1", "--"), "hotcold": ("C2", ":")}
_PARAM_LABELS = {"writes_per_s": "guest page writes per second", "wws_bytes": "writable working set",
                 "rate_bps": "link rate (bit/s)"}


def plot_model_comparison(ms, metrics=("total_time_s", "downtime_s"), axes=None, reference=None,
                          reference_label: str = "simulated, other setting", title: str | None = None,
                          legend: bool = True) -> Figure:
    """The simulator against the analytic models along one parameter, and their ratio.

    One row per metric (simulated mean over seeds as black dots with a one-sigma
    bar, each model a line), then a row with each model's prediction divided by
    the simulated mean for the first metric, with a +-5 % band: where the ratio
    leaves the band, the closed form no longer describes the simulation.  A point
    that did not converge is marked ``x`` (in the model's colour for a model,
    black for the simulator).

    Parameters
    ----------
    ms : ModelSweep
        From :func:`precopy.sweeps.model_sweep`.
    metrics : sequence of str, default (total_time_s, downtime_s)
    axes : sequence of Axes, optional
        ``len(metrics) + 1`` axes (one column) to draw into.
    reference : ModelSweep, optional
        Another sweep whose simulated mean is drawn as a grey dashed line
        (e.g. the same guest without page skip).
    reference_label : str
    title : str, optional
        Title of the first row.
    legend : bool, default True

    Returns
    -------
    Figure

    Examples
    --------
    >>> import precopy as pc
    >>> from precopy import sweeps
    >>> w = [1e3, 3e4]
    >>> ms = sweeps.model_sweep(pc.VM(memory_bytes=pc.MiB(128)), [pc.workloads.Uniform(writes_per_s=x) for x in w],
    ...                         pc.Link(rate_bps=pc.Gbps(10)), "qemu", param="writes_per_s", values=w, seeds=2)
    >>> len(plot_model_comparison(ms).axes)
    3
    """
    if not _is_sweep(ms, "ModelSweep"):
        raise ValueError(f"ms must be a precopy.sweeps.ModelSweep; got {type(ms).__name__}")
    if reference is not None and not _is_sweep(reference, "ModelSweep"):
        raise ValueError(f"reference must be a ModelSweep or None; got {type(reference).__name__}")
    metrics = tuple(metrics)
    for m in metrics:
        if m not in ("total_time_s", "downtime_s", "bytes_sent", "n_rounds"):
            raise ValueError(f"metrics must be among total_time_s, downtime_s, bytes_sent, n_rounds; got {m!r}")
    nrow = len(metrics) + 1
    with style():
        if axes is None:
            fig, axes = new_figure(nrow, 1, figsize=(4.6, 2.2 * nrow), sharex=True)
        axes = list(np.atleast_1d(axes))
        if len(axes) != nrow:
            raise ValueError(f"axes must hold len(metrics) + 1 = {nrow} axes; got {len(axes)}")
        fig = axes[0].figure
        x = np.asarray(ms.values, float)
        sim = ms.simulated
        sim_conv = np.asarray(sim["converged"], float) >= 0.5
        for ax, m in zip(axes, metrics):
            y, e = np.asarray(sim[m], float), np.asarray(sim[m + "_std"], float)
            ax.errorbar(x[sim_conv], y[sim_conv], yerr=e[sim_conv], fmt="o", color="k", ms=4, capsize=2,
                        label=f"simulated (mean of {len(ms.params.get('seeds', [])) or '?'} seeds)", zorder=4)
            ax.plot(x[~sim_conv], y[~sim_conv], "x", color="k", ms=7, mew=1.8, zorder=4)
            if reference is not None:
                ax.plot(np.asarray(reference.values, float), np.asarray(reference.simulated[m], float), "--",
                        color="0.55", lw=1.2, label=reference_label)
            for name, d in ms.models.items():
                color, ls = _MODEL_STYLE.get(name, ("C3", "-."))
                yy = np.asarray(d[m], float)
                ok = np.isfinite(yy)
                ax.plot(x[ok], yy[ok], ls, color=color, lw=1.4, label=f"{name} model")
                bad = ok & ~np.asarray(d["converged"], bool)
                ax.plot(x[bad], yy[bad], "x", color=color, ms=6, mew=1.5)
            if m == "bytes_sent":
                ax.set_yscale("log", base=2)
                ax.yaxis.set_major_formatter(_BYTES)
                ax.yaxis.set_minor_formatter(NullFormatter())
            else:
                _log_axis(ax, "y")
            ax.set_ylabel(_METRIC_LABELS[m])
        rax = axes[-1]
        m0 = metrics[0]
        rax.axhspan(0.95, 1.05, color="0.88", lw=0, label="within 5 %")
        rax.axhline(1.0, color="0.4", lw=0.8)
        for name in ms.models:
            color, ls = _MODEL_STYLE.get(name, ("C3", "-."))
            r = ms.ratio(name, m0)
            ok = np.isfinite(r) & (r > 0)
            rax.plot(x[ok], r[ok], ls, color=color, lw=1.4, marker=".", ms=5)
        _log_axis(rax, "y")
        rax.set_ylabel(f"model / simulated\n{_METRIC_LABELS[m0].split(' (')[0]}")
        for ax in axes:
            _log_axis(ax, "x", _COUNT if ms.param == "writes_per_s" else None)
        rax.set_xlabel(_PARAM_LABELS.get(ms.param, ms.param))
        if title:
            axes[0].set_title(title)
        if legend:
            handles, _ = axes[0].get_legend_handles_labels()
            handles.append(Line2D([], [], color="0.3", marker="x", ls="none", ms=6, mew=1.5,
                                  label=NONCONVERGED_LABEL))
            axes[0].legend(handles=handles, fontsize=7)
    return fig


def plot_measured_vs_predicted(rows, metrics=("total_time_s", "downtime_ms", "data_sent_mib"), axes=None) -> Figure:
    """Published measurements against the simulator's predictions, one panel per metric.

    Each point is one published migration (``precopy validate``), on log axes
    with the line of perfect agreement and a factor-of-two band.  Filled: the
    predicted convergence verdict matches the measured one; ``x``: it does not.
    Hollow: the row shares data with a fit (in-sample).  Colour: the source.

    Parameters
    ----------
    rows : sequence of dict
        :attr:`precopy.validation.ValidationReport.rows`: ``measured_<metric>``,
        ``predicted_<metric>``, ``verdict_ok``, ``in_sample``, ``source_id``.
    metrics : sequence of str
        Metric names as in the rows (units in the names).
    axes : sequence of Axes, optional

    Returns
    -------
    Figure

    References
    ----------
    ``data/published_migrations.csv`` and ``data/validation_map.csv`` (sources and
    mapping rules in ``data/README.md``).

    Examples
    --------
    >>> rows = [{"source_id": "S1", "measured_total_time_s": 71.0, "predicted_total_time_s": 80.0,
    ...          "verdict_ok": True, "in_sample": ""}]
    >>> plot_measured_vs_predicted(rows, metrics=("total_time_s",)).axes[0].get_xlabel()
    'measured total migration time (s)'
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one validation row")
    for m in metrics:
        for r in rows:
            if f"measured_{m}" not in r or f"predicted_{m}" not in r:
                raise ValueError(f"rows must have measured_{m} and predicted_{m}; got keys {sorted(r)[:8]}...")
    labels = {"total_time_s": "total migration time (s)", "downtime_ms": "downtime (ms)",
              "data_sent_mib": "data sent (MiB)", "rounds": "rounds"}
    sources = sorted({r["source_id"] for r in rows})
    colors = {s: f"C{i % 8}" for i, s in enumerate(sources)}
    with style():
        if axes is None:
            fig, axes = new_figure(1, len(metrics), figsize=(3.3 * len(metrics) + 2.0, 3.3))
        axes = list(np.atleast_1d(axes))
        fig = axes[0].figure
        for ax, m in zip(axes, metrics):
            pts = [(r[f"measured_{m}"], r[f"predicted_{m}"], r) for r in rows
                   if r[f"measured_{m}"] is not None and r[f"predicted_{m}"] is not None
                   and np.isfinite(r[f"measured_{m}"]) and np.isfinite(r[f"predicted_{m}"])
                   and r[f"measured_{m}"] > 0 and r[f"predicted_{m}"] > 0]
            if not pts:
                ax.text(0.5, 0.5, "no published values", transform=ax.transAxes, ha="center")
                ax.set_title(labels.get(m, m))
                continue
            allv = np.array([[a, b] for a, b, _ in pts], float)
            lo, hi = allv.min() / 2, allv.max() * 2
            g = np.geomspace(lo, hi, 50)
            ax.fill_between(g, g / 2, g * 2, color="0.92", lw=0, label="within a factor of 2")
            ax.plot(g, g, color="0.4", lw=0.8, label="prediction = measurement")
            for a, b, r in pts:
                c = colors[r["source_id"]]
                if not r.get("verdict_ok", True):
                    ax.plot(a, b, "x", color=c, ms=8, mew=2)
                else:
                    ax.plot(a, b, "o", ms=6, mec=c, mfc="none" if r.get("in_sample") else c, mew=1.5)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            _log_axis(ax, "x")
            _log_axis(ax, "y")
            ax.set_aspect("equal", adjustable="box")
            ax.set_xlabel(f"measured {labels.get(m, m)}")
            ax.set_ylabel(f"predicted {labels.get(m, m)}")
        handles = [Line2D([], [], color=colors[s], marker="o", ls="none", label=s) for s in sources]
        handles += [Line2D([], [], color="0.3", marker="o", mfc="none", ls="none", label="in-sample (shares a fit)"),
                    Line2D([], [], color="0.3", marker="x", ls="none", mew=2, label="convergence verdict wrong"),
                    Patch(color="0.92", label="within a factor of 2")]
        fig.legend(handles=handles, loc="outside right center", fontsize=7)
    return fig


def plot_link_fit(points, fitted_gbps, profiles, max_streams: int = 16, axes=None) -> Figure:
    """The fitted link model: goodput against streams per profile, and fitted against measured.

    Left: each profile's goodput (one line per nominal rate, MTU 1500, the
    ``modern`` stream class) against the number of streams, with the published
    throughputs measured at that rate (MTU as the fit assumed).  Right: every
    fitted point, measured against the model, with a +-10 % band.

    Parameters
    ----------
    points : sequence of precopy.linkfit.FitPoint
        The points the fit used.
    fitted_gbps : sequence of float
        The model's goodput at each point (``LinkFit.fitted_gbps``).
    profiles : dict of str to LinkProfile
        From :func:`precopy.links.profiles`.
    max_streams : int, default 16
    axes : pair of Axes, optional

    Returns
    -------
    Figure

    References
    ----------
    ``data/link_fit_points.csv`` (the published throughputs and their sources).

    Examples
    --------
    >>> import precopy as pc
    >>> fit = pc.linkfit.fit_links()
    >>> len(plot_link_fit(fit.points, fit.fitted_gbps, pc.links.profiles()).axes)
    2
    """
    points = list(points)
    fitted = np.asarray(fitted_gbps, float)
    if len(points) != len(fitted) or not points:
        raise ValueError(f"points and fitted_gbps must be non-empty and of equal length; got "
                         f"{len(points)} and {len(fitted)}")
    with style():
        if axes is None:
            fig, axes = new_figure(1, 2, figsize=(9.5, 3.8))
        ax, bx = axes
        fig = ax.figure
        n = np.arange(1, max_streams + 1)
        rates = {}
        for k, (name, pr) in enumerate(profiles.items()):
            color = f"C{k % 8}"
            rates[pr.rate_bps / 1e9] = color
            g = [pr.link(streams=int(s)).goodput_bps / 1e9 for s in n]
            ax.plot(n, g, "-" if not pr.extrapolation else "--", color=color,
                    label=f"{name}" + (" (extrapolated)" if pr.extrapolation else ""))
        for p in points:
            color = rates.get(p.link_gbps, "0.4")
            mk = "s" if p.stream_class != "modern" else "o"
            ax.plot(p.streams, p.achieved_gbps, mk, color=color, mfc="none" if p.stream_class != "modern" else color,
                    ms=6, mew=1.4)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8, 16][: int(np.log2(max_streams)) + 1])
        ax.xaxis.set_major_formatter(_PLAIN)
        ax.set_yscale("log")
        _log_axis(ax, "y")
        ax.set_xlabel("migration streams")
        ax.set_ylabel("goodput (Gbit/s)")
        handles, _ = ax.get_legend_handles_labels()
        handles += [Line2D([], [], color="0.3", marker="o", ls="none", label="published, modern stacks"),
                    Line2D([], [], color="0.3", marker="s", mfc="none", ls="none", label="published, Hyper-V 2012")]
        ax.legend(handles=handles, fontsize=7, ncol=2)
        meas = np.array([p.achieved_gbps for p in points])
        lo, hi = min(meas.min(), fitted.min()) / 1.5, max(meas.max(), fitted.max()) * 1.5
        g = np.geomspace(lo, hi, 50)
        bx.fill_between(g, g / 1.1, g * 1.1, color="0.9", lw=0, label="within 10 %")
        bx.plot(g, g, color="0.4", lw=0.8)
        for p, f in zip(points, fitted):
            color = rates.get(p.link_gbps, "0.4")
            bx.plot(p.achieved_gbps, f, "o", color=color, ms=5)
        bx.set_xlim(lo, hi)
        bx.set_ylim(lo, hi)
        _log_axis(bx, "x")
        _log_axis(bx, "y")
        bx.set_aspect("equal", adjustable="box")
        bx.set_xlabel("published throughput (Gbit/s)")
        bx.set_ylabel("fitted model (Gbit/s)")
        bx.legend(fontsize=7, loc="upper left")
    return fig
