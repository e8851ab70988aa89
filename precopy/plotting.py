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
           "plot_link_fit", "format_bytes", "format_seconds", "format_count", "NONCONVERGED_LABEL", "TIMEOUT_LABEL",
           "policy_name", "stop_reason_text", "source_name", "link_evidence"]

#: The one style file (shipped as package data).
STYLE = Path(__file__).with_name("precopy.mplstyle")

#: Legend text for points whose migration a cap, not the stop rule, ended.
NONCONVERGED_LABEL = "did not converge (forced stop)"
#: Label of the plateau of migrations a timeout ended.
TIMEOUT_LABEL = "did not converge (stopped at the timeout)"

#: Policy identifiers (``Policy.name``) as people write them.
POLICY_NAMES = {"qemu": "QEMU", "xen": "Xen", "xen-legacy": "Xen legacy", "xen-nsdi05": "Xen (Clark et al. 2005)",
                "vmware": "VMware", "simgrid": "SimGrid", "custom": "custom policy"}

#: Why pre-copy stopped (``stop_reason``), in words.
STOP_REASONS = {
    "running": "still running",
    "downtime_limit": "the rest fits the downtime limit",
    "dirty_pages": "few dirty pages left",
    "round_pages": "a round sent few pages",
    "no_dirty_pages": "no dirty pages left",
    "max_rounds": "round limit reached",
    "max_data": "data limit reached",
    "timeout": "timeout",
    "round_limit": "round limit reached",
    "postcopy": "switched to post-copy",
    "max_rate": "rate limit reached",
    "aborted": "aborted",
    "forced": "forced to stop",
}

#: Analytic model identifiers as people write them.
MODEL_NAMES = {"saturation": "saturation", "geometric": "geometric", "hotcold": "hot/cold"}

#: Sources of the published migrations (``source_id`` of ``published_migrations.csv``) for legends.
SOURCE_NAMES = {
    "S1_clark2005": "Clark et al. 2005 (Xen)",
    "S3_deshpande2016agile": "Deshpande et al. 2016 (QEMU/KVM)",
    "S4_qemu_mtcompress_doc": "QEMU docs: multi-thread compression",
    "S5_qemu_qatzip_doc": "QEMU docs: QATzip compression",
    "S6_qemu_rdma_doc": "QEMU docs: RDMA",
    "S7_qemu_dsa_doc": "QEMU DSA zero-page patches",
    "S8_qemu_multifd_zeropage_cover": "QEMU multifd zero-page patches",
    "S9_qemu_multifd_tls_cover": "QEMU multifd TLS patches",
    "S10_qemu_multifd_rdma_cover": "QEMU multifd RDMA patches",
    "S12_opnfv_kvmfornfv": "OPNFV KVM for NFV",
    "S13_cloudhv_pr7669": "Cloud Hypervisor PR 7669",
    "S14_aidanfinn_hyperv2012": "A. Finn, Hyper-V 2012 (blog)",
    "N1_vmware67_vgpu_stun": "VMware vSphere 6.7 vGPU stun times",
    "N3_qemu_autoconverge_commit2013": "QEMU auto-converge commit (2013)",
    "N6_doddamani2019_vee": "Doddamani et al. 2019 (VEE)",
    "N7_deshpande2014_sg": "Deshpande et al. 2014 (IEEE CLOUD)",
    "N9_balamuruhans2019_power8": "POWER8 hugepage guest (2019 blog)",
    "N10_osic2017_openstack": "OSIC OpenStack benchmark (2017)",
    "Q1_quintela2022_ramsize": "QEMU info migrate, Quintela 2022",
    "Q2_consul2023_ppc_dirtyring": "QEMU info migrate, POWER9 dirty ring 2023",
}


def policy_name(name: str) -> str:
    """A policy identifier as people write it (labels from :func:`precopy.sweeps.default_policies` pass through).

    Examples
    --------
    >>> policy_name("qemu"), policy_name("xen-legacy"), policy_name("QEMU (no cap)")
    ('QEMU', 'Xen legacy', 'QEMU (no cap)')
    """
    return POLICY_NAMES.get(str(name), str(name))


def stop_reason_text(reason: str) -> str:
    """Why pre-copy stopped, in words.

    Examples
    --------
    >>> stop_reason_text("downtime_limit"), stop_reason_text("timeout")
    ('the rest fits the downtime limit', 'timeout')
    """
    return STOP_REASONS.get(str(reason), str(reason).replace("_", " "))


def source_name(source_id: str) -> str:
    """A published source's name for a legend (unknown ids lose their ``S<n>_`` prefix and underscores).

    Examples
    --------
    >>> source_name("S1_clark2005"), source_name("S99_some_new_source")
    ('Clark et al. 2005 (Xen)', 'some new source')
    """
    sid = str(source_id)
    if sid in SOURCE_NAMES:
        return SOURCE_NAMES[sid]
    head, _, rest = sid.partition("_")
    if rest and head[:1] == "S" and head[1:].isdigit():
        sid = rest
    return sid.replace("_", " ")

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


def plot_timeline(result, ax=None, label: str | None = None) -> Figure:
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
    label : str, optional
        The policy's name in the title (default: from ``result.policy``).

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
        why = stop_reason_text(result.stop_reason)
        ax.text(stop_x, 0.80, f"stop: {why} \nat {format_seconds(result.precopy_time_s)} \n"
                f"downtime {format_seconds(result.downtime_s)} " if right else
                f" stop: {why}\n at {format_seconds(result.precopy_time_s)}\n"
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
        ax.set_title(f"{label or policy_name(result.policy)}: {verdict} after {result.n_rounds} rounds, "
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
        ax.set_title(f"{policy_name(result.policy)}: {verdict} ({stop_reason_text(result.stop_reason)}), "
                     f"{result.n_rounds} rounds, "
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


def _log2_bytes_axis(ax, values, max_ticks: int = 4):
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(_BYTES)
    ax.xaxis.set_minor_formatter(NullFormatter())
    v = np.asarray(values, float)
    step = max(1, -(-len(v) // max_ticks))
    if max_ticks <= 3 and len(v) > 3:          # narrow panels: the ends and the middle
        ax.set_xticks(v[sorted({0, len(v) // 2, len(v) - 1})])
        return
    ax.set_xticks(v[::step])


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
                   legend: str | None = "figure", transpose: bool = False, figsize=None) -> Figure:
    """Downtime and total time against writable working-set size.

    One column per policy, one row per metric (or, with ``transpose``, one row
    per policy and one column per metric), one line per link; the y axis is
    shared by the panels of one metric.  Points whose migration did not
    converge are kept and marked ``x`` (their values are those of the forced
    stop-and-copy); where a timeout stopped them, the total time sits on a
    plateau at the timeout, drawn as a dotted line and labelled
    :data:`TIMEOUT_LABEL`.

    Parameters
    ----------
    sweep : Sweep
        From :func:`precopy.sweeps.wws_sweep` (axes policy, link, wws_bytes).
    metrics : sequence of str, default (downtime_s, total_time_s)
        Sweep fields to plot, one row (column) each.
    axes : 2-D array of Axes, optional
        ``(len(metrics), n_policies)`` axes to draw into (``(n_policies,
        len(metrics))`` with ``transpose``).
    highlight : (link label, wws_bytes), optional
        A point to ring (the widget's current selection).
    legend : {"figure", "axes", None}, default "figure"
        One legend above the figure, one in the first axes, or none.
    transpose : bool, default False
        Policies in rows, metrics in columns (a narrow, tall figure: the
        column-width variant).
    figsize : (float, float), optional
        Inches (default: from the grid).

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
    npol, nmet = len(policies), len(metrics)
    shape = (npol, nmet) if transpose else (nmet, npol)
    with style():
        if axes is None:
            if figsize is None:
                figsize = ((1.75 * nmet + 0.6, 1.3 * npol + 0.9) if transpose
                           else (2.6 * npol + 0.6, 2.3 * nmet + 0.4))
            fig, axes = new_figure(*shape, figsize=figsize, squeeze=False, sharex=True,
                                   sharey="col" if transpose else "row")
        else:
            axes = np.asarray(axes, dtype=object).reshape(shape)
            fig = axes[0, 0].figure
        x = np.asarray(wws, float)
        panel_in = fig.get_figwidth() / shape[1]
        narrow = panel_in < 2.0            # small markers, fewer ticks, one x label for the figure
        ms, xms, xmew = (2.8, 4.5, 1.2) if narrow else (4, 7, 1.8)
        reasons = np.asarray(sweep.stop_reason).astype(str)
        timeout = sweep.params.get("timeout_s")
        any_timeout = False
        for j, pol in enumerate(policies):
            for i, m in enumerate(metrics):
                ax = axes[j, i] if transpose else axes[i, j]
                vals = np.asarray(getattr(sweep, m), float)
                for k, link in enumerate(links):
                    y = vals[j, k]
                    conv = sweep.converged[j, k]
                    color = f"C{k % 8}"
                    ax.plot(x, y, ls=_LINESTYLES[k % len(_LINESTYLES)], color=color, lw=1.0 if narrow else 1.2,
                            label=link)
                    ax.plot(x[conv], y[conv], _MARKERS[k % len(_MARKERS)], color=color, ms=ms)
                    ax.plot(x[~conv], y[~conv], "x", color=color, ms=xms, mew=xmew)
                timed_out = reasons[j] == "timeout"
                if m in ("total_time_s", "precopy_time_s") and timed_out.any():
                    level = float(timeout) if timeout else float(np.min(np.asarray(sweep.precopy_time_s)[j][timed_out]))
                    ax.axhline(level, color="0.35", ls=":", lw=1.0, zorder=1)
                    any_timeout = True
                if highlight is not None:
                    hl_link, hl_wws = highlight
                    if hl_link in links and hl_wws in wws:
                        k, q = links.index(hl_link), wws.index(hl_wws)
                        ax.plot([x[q]], [vals[j, k, q]], "o", ms=12, mfc="none", mec="k", mew=1.5, zorder=5)
                _metric_axis(ax, m)
                _log2_bytes_axis(ax, x, max_ticks=3 if narrow else 4)
                if narrow:
                    ax.tick_params(labelsize=6.5)
                last_row = (j == npol - 1) if transpose else (i == nmet - 1)
                if last_row and not narrow:
                    ax.set_xlabel("writable working set")
                if transpose:
                    if j == 0:
                        ax.set_title(_METRIC_LABELS[m], fontsize=8)
                    ax.set_ylabel(policy_name(pol) if i == 0 else "", fontsize=8)
                else:
                    if i == 0:
                        ax.set_title(policy_name(pol), fontsize=8 if narrow else None)
                    if j > 0:
                        ax.set_ylabel("")
                    elif narrow:
                        ax.yaxis.label.set_size(8)
        if narrow and axes.size == shape[0] * shape[1] and axes[0, 0].figure is fig:
            fig.supxlabel("writable working set (hot set)", fontsize=8)
        handles = [Line2D([], [], color=f"C{k % 8}", ls=_LINESTYLES[k % len(_LINESTYLES)],
                          marker=_MARKERS[k % len(_MARKERS)], ms=4, label=lab) for k, lab in enumerate(links)]
        handles.append(Line2D([], [], color="0.3", marker="x", ls="none", ms=7, mew=1.8, label=NONCONVERGED_LABEL))
        if any_timeout:
            handles.append(Line2D([], [], color="0.35", ls=":", lw=1.0, label=TIMEOUT_LABEL))
        if legend == "figure":
            ncol = len(handles) if not transpose else 2
            fig.legend(handles=handles, loc="outside upper center", ncol=ncol, fontsize=7 if not transpose else 6.5)
        elif legend == "axes":
            axes[0, 0].legend(handles=handles, fontsize=7, loc="upper left")
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
        ax.set_title(policy_name(sweep.params.get("policy", "")) if title is None else title)
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


#: Two policies' curves closer than this everywhere (relative) would hide one under the other.
SAME_CURVE_RTOL = 0.02


def _max_rel_gap(a, b) -> float:
    """Largest relative difference between paired arrays (inf where shapes differ)."""
    worst = 0.0
    for x, y in zip(a, b):
        x, y = np.asarray(x, float), np.asarray(y, float)
        if x.shape != y.shape:
            return float("inf")
        scale = np.maximum(np.abs(x), np.abs(y))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(scale > 0, np.abs(x - y) / scale, 0.0)
        if r.size:
            worst = max(worst, float(np.nanmax(r)))
    return worst


def plot_tradeoff(grids: dict, rate_bps: float) -> Figure:
    """How each stop rule trades downtime for total time, at one link rate.

    Left: downtime against guest write rate; middle: total migration time; right:
    the two against each other (each policy's points joined in write-rate order).
    Non-convergent points are marked ``x``.  A policy whose points are exactly
    those of an earlier one (within :data:`SAME_CURVE_RTOL`) would hide under
    it: it is drawn as large hollow circles around the other's points and its
    legend entry says which policy it coincides with, and how closely.

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
        drawn, handles = {}, []
        for k, (label, g) in enumerate(grids.items()):
            _check_sweep(g, ("writes_per_s", "rate_bps"))
            rates = np.asarray(g.axes["rate_bps"], float)
            j = int(np.argmin(np.abs(np.log(rates) - np.log(rate_bps))))
            shown = rates[j]
            w = np.asarray(g.axes["writes_per_s"], float)
            d, tt, conv = g.downtime_s[:, j], g.total_time_s[:, j], g.converged[:, j]
            color = f"C{k % 8}"
            ls, mk = _LINESTYLES[k % len(_LINESTYLES)], _MARKERS[k % len(_MARKERS)]
            # a policy whose points coincide with an earlier one's would hide exactly under it:
            # say so in the legend and draw it as large hollow markers around the other's
            twin, gap = None, 0.0
            for lab, (w0, d0, t0, c0) in drawn.items():
                gap = _max_rel_gap((d0, t0), (d, tt))
                if np.array_equal(w0, w) and np.array_equal(c0, conv) and gap <= SAME_CURVE_RTOL:
                    twin = lab
                    break
            drawn[label] = (w, d, tt, conv)
            name = policy_name(label)
            if twin is not None:
                same = "same values as" if gap == 0 else f"within {gap:.1%} of"
                handles.append(Line2D([], [], ls="none", marker="o", ms=8, mfc="none", mec=color, mew=1.4,
                                      label=f"{name} (circles): {same} {policy_name(twin)}"))
                for ax, x, y in ((axes[0], w, d), (axes[1], w, tt), (axes[2], tt, d)):
                    ax.plot(x, y, ls="none", marker="o", ms=8, mfc="none", mec=color, mew=1.4, zorder=1)
                continue
            handles.append(Line2D([], [], ls=ls, color=color, lw=1.2, marker=mk, ms=3.5, label=name))
            for ax, x, y in ((axes[0], w, d), (axes[1], w, tt), (axes[2], tt, d)):
                ax.plot(x, y, ls=ls, color=color, lw=1.2, marker=mk, ms=3.5, mfc="none")
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
        handles.append(Line2D([], [], color="0.3", marker="x", ls="none", ms=6, mew=1.6, label=NONCONVERGED_LABEL))
        fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 4), fontsize=7)
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
                ax.plot(x[ok], yy[ok], ls, color=color, lw=1.4, label=f"{MODEL_NAMES.get(name, name)} model")
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
    Hollow: the row shares data with a fit (in-sample).  Colour: the source,
    named in the legend (:data:`SOURCE_NAMES`, or the row's ``source_name``).

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
    ``precopy/data/published_migrations.csv`` and ``precopy/data/validation_map.csv`` (sources and
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
    colors = {s: f"C{i % 10}" for i, s in enumerate(sources)}
    names = {}
    for r in rows:      # a row may carry its own display name; else the table of known sources
        names.setdefault(r["source_id"], r.get("source_name") or source_name(r["source_id"]))
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
        handles = [Line2D([], [], color=colors[s], marker="o", ls="none", label=names[s]) for s in sources]
        handles += [Line2D([], [], color="0.3", marker="o", mfc="none", ls="none", label="in-sample (shares a fit)"),
                    Line2D([], [], color="0.3", marker="x", ls="none", mew=2, label="convergence verdict wrong"),
                    Patch(color="0.92", label="within a factor of 2")]
        fig.legend(handles=handles, loc="outside right center", fontsize=7)
    return fig


_CLASS_MARKERS = {"modern": ("o", True, "published migration, modern stack"),
                  "hyperv-2012": ("s", False, "published migration, Hyper-V 2012"),
                  "none": ("^", False, "raw TCP (iperf), not a migration")}


def link_evidence(points, rate_gbps: float) -> dict:
    """Which published points stand behind a link rate's curve.

    Returns
    -------
    dict
        ``modern``: ids of used points at this rate from modern migration
        stacks (the class the curves show); ``other``: ids of used points at
        this rate of other stream classes.  A rate without ``modern`` points is
        extrapolated by the model for the curves drawn.

    Examples
    --------
    >>> import precopy as pc
    >>> pts = pc.linkfit.fit_links().points
    >>> link_evidence(pts, 25.0)
    {'modern': [], 'other': []}
    """
    at = [p for p in points if getattr(p, "use", True) and p.link_gbps is not None
          and np.isclose(float(p.link_gbps), float(rate_gbps))]
    return {"modern": [p.point_id for p in at if p.stream_class == "modern"],
            "other": [p.point_id for p in at if p.stream_class != "modern"]}


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _count_classes(points, ids):
    ids = set(ids)
    names = {"hyperv-2012": "Hyper-V 2012", "none": "raw TCP"}
    counts = {}
    for p in points:
        if p.point_id in ids:
            counts[p.stream_class] = counts.get(p.stream_class, 0) + 1
    return " + ".join(f"{n} {names.get(c, c)}" for c, n in counts.items())


def plot_link_fit(points, fitted_gbps, profiles, max_streams: int = 16, axes=None) -> Figure:
    """The fitted link model: goodput against streams per profile, and fitted against measured.

    One model (line efficiency, soft-min sharpness and a per-stream ceiling
    per stream class) is fitted to all published points at once.  Left: each
    profile's goodput (one line per nominal rate, MTU 1500, the ``modern``
    stream class) against the number of streams, with the published
    throughputs (colour: the link rate; grey: rate not stated).  A curve is
    solid where published migrations of modern stacks were measured at that
    rate and dashed where there are none (there the curve is the model's
    extrapolation); the legend gives the number of points behind each rate.
    Right: every fitted point, measured against the model, with a +-10 % band.

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
    ``precopy/data/link_fit_points.csv`` (the published throughputs and their sources).

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
            fig, axes = new_figure(1, 2, figsize=(10.0, 4.4), width_ratios=[1.35, 1])
        ax, bx = axes
        fig = ax.figure
        n = np.arange(1, max_streams + 1)
        rates = {}
        for k, (name, pr) in enumerate(profiles.items()):
            color = f"C{k % 8}"
            gbps = pr.rate_bps / 1e9
            rates[gbps] = color
            ev = link_evidence(points, gbps)
            g = [pr.link(streams=int(s)).goodput_bps / 1e9 for s in n]
            label = f"{gbps:g} GbE: "
            other = _count_classes(points, ev["other"])
            n_other = len(ev["other"])
            if ev["modern"]:
                label += (f"fitted to {len(ev['modern'])} modern-stack" + (f" + {other}" if other else "")
                          + (" points" if len(ev["modern"]) + n_other > 1 else " point"))
            elif other:
                label += f"extrapolated (only {other} point{'s' if n_other > 1 else ''})"
            else:
                label += "extrapolated (no published point)"
            ax.plot(n, g, "-" if ev["modern"] else "--", color=color, label=label)
        classes = set()
        for p in points:
            color = rates.get(p.link_gbps, "0.55") if p.link_gbps is not None else "0.55"
            mk, filled, _ = _CLASS_MARKERS.get(p.stream_class, ("D", False, p.stream_class))
            classes.add(p.stream_class)
            ax.plot(p.streams, p.achieved_gbps, mk, color=color, mfc=color if filled else "none", ms=6, mew=1.4)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8, 16, 32][: int(np.log2(max(max_streams, max(p.streams for p in points)))) + 1])
        ax.xaxis.set_major_formatter(_PLAIN)
        ax.set_yscale("log")
        _log_axis(ax, "y")
        ax.set_xlabel("migration streams (concurrent migrations for Hyper-V)")
        ax.set_ylabel("goodput (Gbit/s)")
        ax.set_title("model per link rate (lines, MTU 1500) and published points", fontsize=9)
        handles, _ = ax.get_legend_handles_labels()
        for c in ("modern", "hyperv-2012", "none"):
            if c in classes:
                mk, filled, text = _CLASS_MARKERS[c]
                handles.append(Line2D([], [], color="0.3", marker=mk, mfc="0.3" if filled else "none", ls="none",
                                      label=text))
        if any(p.link_gbps is None for p in points):
            handles.append(Line2D([], [], color="0.55", marker="o", ls="none", label="link rate not stated"))
        handles.append(Line2D([], [], color="0.3", ls="--", label="dashed: no modern-stack migration measured"))
        fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncol=3)
        meas = np.array([p.achieved_gbps for p in points])
        lo, hi = min(meas.min(), fitted.min()) / 1.5, max(meas.max(), fitted.max()) * 1.5
        g = np.geomspace(lo, hi, 50)
        bx.fill_between(g, g / 1.1, g * 1.1, color="0.9", lw=0, label="within 10 %")
        bx.plot(g, g, color="0.4", lw=0.8)
        for p, f in zip(points, fitted):
            color = rates.get(p.link_gbps, "0.55") if p.link_gbps is not None else "0.55"
            mk, filled, _ = _CLASS_MARKERS.get(p.stream_class, ("D", False, p.stream_class))
            bx.plot(p.achieved_gbps, f, mk, color=color, mfc=color if filled else "none", ms=5, mew=1.2)
        bx.set_xlim(lo, hi)
        bx.set_ylim(lo, hi)
        _log_axis(bx, "x")
        _log_axis(bx, "y")
        bx.set_aspect("equal", adjustable="box")
        bx.set_xlabel("published throughput (Gbit/s)")
        bx.set_ylabel("fitted model (Gbit/s)")
        bx.set_title(f"all {len(points)} points, one fit", fontsize=9)
        bx.legend(fontsize=7, loc="upper left")
    return fig
