"""Figures drawn from results: one function per figure, each returning a Figure."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_timeline"]


def plot_timeline(result, ax=None):
    """Timeline of one migration: each round as a bar over its duration.

    A bar spans the round's start and end (s); its height is the round's transfer
    rate (Mbit/s), so its area is the data it sent, labelled in MiB (the style of
    Clark et al., NSDI 2005, Fig. 9).  The stop-and-copy round (the downtime) is
    drawn in a second colour.

    Parameters
    ----------
    result : MigrationResult
        From :func:`precopy.simulate`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made otherwise.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.MiB(64))
    >>> wl = pc.workloads.HotCold(wws_bytes=pc.MiB(4), writes_per_s=5000)
    >>> r = pc.simulate(vm, wl, pc.Link(rate_bps=pc.Gbps(1)), "xen", seed=1)
    >>> fig = plot_timeline(r)
    >>> fig.axes[0].get_xlabel()
    'time since migration start (s)'
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3.6))
    else:
        fig = ax.figure
    t = result.rounds
    start = np.asarray(t["start_s"], float)
    dur = np.asarray(t["duration_s"], float)
    sent = np.asarray(t["bytes_sent"], float)
    final = np.asarray(t["stop_copy"], bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_mbps = np.where(dur > 0, sent * 8 / dur / 1e6, 0.0)
    live = ~final
    ax.bar(start[live], rate_mbps[live], width=dur[live], align="edge", color="tab:blue",
           edgecolor="white", linewidth=0.5, label="pre-copy rounds")
    if final.any():
        ax.bar(start[final], rate_mbps[final], width=dur[final], align="edge", color="tab:red",
               label=f"stop-and-copy (downtime {result.downtime_s * 1e3:.0f} ms)")
    top = float(rate_mbps.max()) if len(rate_mbps) else 1.0
    for i in range(len(start)):
        if dur[i] > 0.05 * max(result.total_time_s, 1e-12):
            ax.annotate(f"{sent[i] / 2**20:.1f} MiB", (start[i] + dur[i] / 2, rate_mbps[i]),
                        textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    ax.set_xlim(0, result.total_time_s * 1.02 if result.total_time_s > 0 else 1)
    ax.set_ylim(0, top * 1.18 if top > 0 else 1)
    ax.set_xlabel("time since migration start (s)")
    ax.set_ylabel("transfer rate (Mbit/s)")
    verdict = "converged" if result.converged else "not converged"
    ax.set_title(f"{result.policy}: {result.n_rounds} rounds, {result.total_time_s:.2f} s total, "
                 f"{result.bytes_sent / 2**20:.0f} MiB sent ({verdict}, {result.stop_reason})", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
