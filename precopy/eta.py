"""When will the migration in flight finish, and will it?  ``precopy eta``.

From one snapshot of a running migration's statistics (QMP ``query-migrate``,
``virsh domjobinfo``; :mod:`precopy.hvstats`) or a series of them, estimate the
remaining time and the verdict, with a progress measure that never runs
backwards.

Model (QEMU's stop rule, Liu et al.'s geometric rounds).  A round that starts
with ``S`` dirty bytes lasts ``S / B`` at the measured bandwidth ``B``; the guest
dirties distinct pages at ``D`` bytes/s meanwhile (QEMU's ``dirty-pages-rate`` x
page size, measured over the last round), so the next round starts with
``lambda S``, ``lambda = D / B``.  QEMU switches over at the first sync where the
dirty bytes fit ``B x downtime_limit_s``.  From a snapshot with ``R`` bytes still
in the bitmap, the current round ends after ``R / B``; it began with ``S0`` bytes
(``expected-downtime x B``, QEMU's estimate made at that sync, else ``R``), so the
next sync finds ``lambda S0`` and the rounds continue geometrically.  With
``lambda >= 1`` the dirty set never shrinks: the verdict is *not converging*.
In the bulk pass QEMU has not measured a dirty rate yet (it reports 0); the
estimate is then the bulk pass alone, marked as a lower bound.

A series adds the stall test of KubeVirt (``progressTimeout``: the remaining
data has not reached a new minimum for that long; VEP 248 refines it): such a
migration is *stalled* whatever ``lambda`` says.

Progress that never runs backwards.  QEMU's ``remaining`` jumps up at each
bitmap sync (memory re-dirtied), so ``1 - remaining / total`` runs backwards.
:func:`progress` reports instead the share of all the data the migration will
send that it has already sent, with the later rounds the outlook predicts
counted as still to send, held at its running maximum: monotone by
construction, flat while the migration does not converge, 1 at completion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _validate as v
from .hvstats import MigrationSnapshot, read_job_stats

__all__ = ["Estimate", "estimate", "estimate_series", "progress", "plot_eta", "format_estimates"]

#: A round must shrink the dirty set by at least this share for the geometric outlook to be
#: trusted.  Real working sets saturate: the distinct pages dirtied per second rise as rounds
#: get shorter, so a ratio this close to 1 means a plateau, not a slow convergence (this
#: model's choice, not a hypervisor's number).
MIN_SHRINK = 0.05

VERDICTS = ("converging", "not converging", "stalled", "first pass", "completed", "failed", "cancelled",
            "post-copy", "will time out")


@dataclass(frozen=True)
class Estimate:
    """The outlook of a migration at one snapshot.

    Attributes
    ----------
    elapsed_s : float
    remaining_s : float
        Predicted time to completion (s); ``inf`` when it never converges.
        In the first pass, a lower bound (the bulk pass alone).
    verdict : str
        One of :data:`VERDICTS`.
    reason : str
        One line: why.
    ratio : float or nan
        ``lambda = dirty rate / bandwidth`` (nan while unknown).
    rounds_left : float
        Predicted bitmap syncs before switchover (inf if never).
    final_bytes : float
        Predicted dirty bytes at switchover (0 when unknown).
    downtime_s : float
        Predicted downtime, ``final_bytes / B`` (nan when unknown).
    progress : float
        The monotone progress measure in [0, 1] (see :func:`progress`).
    """

    elapsed_s: float
    remaining_s: float
    verdict: str
    reason: str
    ratio: float
    rounds_left: float
    final_bytes: float
    downtime_s: float
    progress: float = 0.0

    @property
    def finish_s(self) -> float:
        return self.elapsed_s + self.remaining_s


def _saturating(s: MigrationSnapshot, f, B, limit_bytes, timeout_s, downtime_limit_s) -> Estimate:
    """Outlook with a known workload: rounds iterate on its distinct-pages curve f(t) (pages)."""
    P = s.page_bytes
    R = s.memory_remaining_bytes
    first = (s.iteration is not None and s.iteration <= 1) or not s.dirty_pages_per_s
    S0 = s.memory_total_bytes if first else max(s.expected_downtime_s * B if s.expected_downtime_s else R, R)
    t = R / B
    S = f(S0 / B) * P
    k = 1
    while S >= limit_bytes:
        nxt = f(S / B) * P
        if nxt >= S * (1.0 - MIN_SHRINK) or k >= 100_000:
            return _deadline(Estimate(s.elapsed_s, math.inf, "not converging",
                                      f"the workload's dirty set levels off at {S / 2**20:.0f} MiB, above the "
                                      f"{limit_bytes / 2**20:.0f} MiB that fit {downtime_limit_s * 1e3:.0f} ms "
                                      f"at {B / 2**20:.0f} MiB/s", S / (B * max(S0 / B, 1e-12)), math.inf, S,
                                      S / B), timeout_s)
        t += S / B
        S = nxt
        k += 1
    lam = (f(S0 / B) * P) / S0 if S0 > 0 else 0.0
    return _deadline(Estimate(s.elapsed_s, t + S / B, "converging",
                              f"with the given workload the dirty set shrinks to {S / 2**20:.1f} MiB after about "
                              f"{k} more sync(s): {S / B * 1e3:.0f} ms of downtime (limit "
                              f"{downtime_limit_s * 1e3:.0f} ms)", lam, float(k), S, S / B), timeout_s)


def _one(s: MigrationSnapshot, downtime_limit_s: float, timeout_s: float | None, f=None) -> Estimate:
    el = s.elapsed_s
    if s.status in ("completed", "failed", "cancelled"):
        return Estimate(el, 0.0, s.status, f"the job reports status {s.status!r}", math.nan, 0.0, 0.0,
                        s.downtime_s if s.downtime_s is not None else math.nan)
    if s.status.startswith("postcopy"):
        B = s.bandwidth_Bps or math.nan
        rem = s.memory_remaining_bytes / B if B and B > 0 else math.inf
        return Estimate(el, rem, "post-copy", "running in post-copy: the rest is pushed once, no more rounds",
                        math.nan, 0.0, 0.0, math.nan)
    B = s.bandwidth_Bps
    if not B or B <= 0:
        return Estimate(el, math.inf, "first pass", "no bandwidth measured yet", math.nan, math.inf, 0.0,
                        math.nan)
    R = s.memory_remaining_bytes
    limit_bytes = B * downtime_limit_s
    if f is not None:
        return _saturating(s, f, B, limit_bytes, timeout_s, downtime_limit_s)
    first = (s.iteration is not None and s.iteration <= 1) or not s.dirty_pages_per_s
    if first:
        t = R / B
        return _deadline(Estimate(el, t, "first pass",
                                  f"bulk pass: {R / 2**20:.0f} MiB left at {B / 2**20:.0f} MiB/s; no dirty rate "
                                  f"measured yet, so the time shown is a lower bound", math.nan, math.nan, 0.0,
                                  math.nan), timeout_s)
    D = s.dirty_rate_Bps
    lam = D / B
    S0 = s.expected_downtime_s * B if s.expected_downtime_s else R
    S0 = max(S0, R)
    t = R / B
    if lam >= 1.0 - MIN_SHRINK:
        return _deadline(Estimate(el, math.inf, "not converging",
                                  f"the guest dirties {D / 2**20:.0f} MiB/s against {B / 2**20:.0f} MiB/s sent "
                                  f"(lambda {lam:.2f} >= {1 - MIN_SHRINK:g}): the dirty set no longer shrinks",
                                  lam, math.inf, 0.0, math.inf), timeout_s)
    S = lam * S0
    k = 1
    while S >= limit_bytes and k < 100_000:
        t += S / B
        S *= lam
        k += 1
    return _deadline(Estimate(el, t + S / B, "converging",
                              f"lambda = {lam:.2f}: the dirty set shrinks {1 / lam:.1f}x per round; switchover "
                              f"after about {k} more sync(s) at {S / B * 1e3:.0f} ms of downtime "
                              f"(limit {downtime_limit_s * 1e3:.0f} ms)", lam, float(k), S, S / B), timeout_s)


def _deadline(e: Estimate, timeout_s):
    if timeout_s is None or e.verdict in ("completed", "failed", "cancelled"):
        return e
    if e.finish_s > timeout_s and e.verdict != "first pass":
        return Estimate(e.elapsed_s, e.remaining_s, "will time out",
                        e.reason + f"; predicted finish {e.finish_s:.0f} s is past the completion timeout "
                                   f"{timeout_s:.0f} s", e.ratio, e.rounds_left, e.final_bytes, e.downtime_s,
                        e.progress)
    return e


def _curve(workload, snapshot):
    """f(t): expected distinct pages the workload dirties in t seconds on the snapshot's guest."""
    if workload is None:
        return None
    from .orchestrators import _distinct
    from .vm import VM
    P = snapshot.page_bytes
    mem = int(round(snapshot.memory_total_bytes / P)) * P
    return _distinct(workload, VM(memory_bytes=mem, page_bytes=P))


def _snapshots(snapshots, name="snapshots") -> list:
    """A list of :class:`~precopy.hvstats.MigrationSnapshot` (from :func:`precopy.hvstats.read_job_stats`)."""
    what = f"{name} must be a sequence of precopy.hvstats.MigrationSnapshot (from read_job_stats)"
    if isinstance(snapshots, (str, bytes, dict)) or not hasattr(snapshots, "__iter__"):
        raise ValueError(f"{what}; got {type(snapshots).__name__}")
    snaps = list(snapshots)
    for i, s in enumerate(snaps):
        if not isinstance(s, MigrationSnapshot):
            raise ValueError(f"{what}; got {type(s).__name__} at index {i}")
    return snaps


def _limits(downtime_limit_s, timeout_s=None, progress_timeout_s=None):
    v.real(downtime_limit_s, "downtime_limit_s", "s", lo=0.0, hi=3600.0, lo_open=True)
    if timeout_s is not None:
        v.real(timeout_s, "timeout_s", "s", lo=0.0, lo_open=True)
    if progress_timeout_s is not None:
        v.real(progress_timeout_s, "progress_timeout_s", "s", lo=0.0, lo_open=True)


def estimate(snapshot: MigrationSnapshot, *, downtime_limit_s: float = 0.3,
             timeout_s: float | None = None, workload=None) -> Estimate:
    """The outlook from one snapshot.

    Parameters
    ----------
    snapshot : MigrationSnapshot
    downtime_limit_s : float, default 0.3
        QEMU's ``downtime-limit`` in force (300 ms unless changed).
    timeout_s : float, optional
        A completion timeout (s since the start) the orchestrator enforces.
    workload : Idle, Uniform or HotCold, optional
        The guest's workload, e.g. fitted to a dirty-rate probe
        (:func:`precopy.hvstats.fit_dirty_rate`).  Then the later rounds follow
        its distinct-pages curve (the saturation model) instead of the
        geometric extrapolation of the last measured dirty rate, and the first
        pass gets a real outlook instead of a lower bound.

    Examples
    --------
    >>> from precopy.hvstats import read_job_stats, example_path
    >>> e = estimate(read_job_stats(example_path("virsh_domjobinfo.txt"))[0])
    >>> e.verdict, math.isinf(e.remaining_s)
    ('not converging', True)
    """
    v.instance(snapshot, "snapshot", MigrationSnapshot, "a precopy.hvstats.MigrationSnapshot (from read_job_stats)")
    _limits(downtime_limit_s, timeout_s)
    return _one(snapshot, downtime_limit_s, timeout_s, _curve(workload, snapshot))


def progress(snapshots, *, downtime_limit_s: float = 0.3, workload=None) -> np.ndarray:
    """The monotone progress measure of a series (fractions in [0, 1]).

    The share of all the data the migration will send that it has sent:
    ``processed / (processed + still to send)``, where *still to send* is the
    bitmap's remaining data plus the later rounds the outlook predicts
    (:func:`estimate`: ``eta x bandwidth``).  In the first pass no dirty rate
    is known yet and only the remaining data counts (an upper bound on
    progress); a migration whose outlook is *not converging* has infinitely
    much still to send and gains nothing.  The running maximum makes the series
    non-decreasing: re-dirtied memory never moves it back.  1 at completion.

    Examples
    --------
    >>> from precopy.hvstats import read_job_stats, example_path
    >>> p = progress(read_job_stats(example_path("virsh_domjobinfo_series.txt")))
    >>> bool(np.all(np.diff(p) >= 0)), float(p.max()) < 0.95
    (True, True)
    """
    snapshots = _snapshots(snapshots)
    _limits(downtime_limit_s)
    out = []
    best = 0.0
    f = _curve(workload, snapshots[0]) if snapshots else None
    for s in snapshots:
        e = _one(s, downtime_limit_s, None, f)
        if e.verdict == "completed":
            x = 1.0
        elif e.verdict == "first pass" or not math.isfinite(e.remaining_s) or not s.bandwidth_Bps:
            x = s.memory_processed_bytes / (s.memory_processed_bytes + s.memory_remaining_bytes) \
                if e.verdict == "first pass" else 0.0
        else:
            todo = max(e.remaining_s * s.bandwidth_Bps, s.memory_remaining_bytes)
            x = s.memory_processed_bytes / (s.memory_processed_bytes + todo)
        best = max(best, min(max(x, 0.0), 1.0))
        out.append(best)
    return np.array(out)


def _stalled(snaps, i, window_s):
    """KubeVirt's progressTimeout test at snapshot i: no new minimum of remaining for window_s."""
    t_i = snaps[i].elapsed_s
    best_t, best = snaps[0].elapsed_s, math.inf
    for s in snaps[: i + 1]:
        if s.memory_remaining_bytes < best:
            best, best_t = s.memory_remaining_bytes, s.elapsed_s
    return t_i - best_t > window_s, t_i - best_t


def estimate_series(snapshots, *, downtime_limit_s: float = 0.3, timeout_s: float | None = None,
                    progress_timeout_s: float | None = 150.0, workload=None) -> list[Estimate]:
    """The outlook at every snapshot of a series, with the stall test and the progress measure.

    Parameters
    ----------
    snapshots : list of MigrationSnapshot
        In time order (:func:`precopy.hvstats.read_job_stats`).
    downtime_limit_s, timeout_s, workload
        As :func:`estimate`.
    progress_timeout_s : float or None, default 150
        KubeVirt's ``progressTimeout``: a migration whose remaining data has not
        reached a new minimum for this long is *stalled*.  None: no stall test.

    Examples
    --------
    >>> from precopy.hvstats import read_job_stats, example_path
    >>> es = estimate_series(read_job_stats(example_path("qmp_query_migrate_series.json")))
    >>> es[-1].verdict, round(es[-1].finish_s, 1) > es[-1].elapsed_s
    ('converging', True)
    """
    snaps = _snapshots(snapshots)
    if not snaps:
        raise ValueError("snapshots must hold at least one MigrationSnapshot")
    _limits(downtime_limit_s, timeout_s, progress_timeout_s)
    prog = progress(snaps, downtime_limit_s=downtime_limit_s, workload=workload)
    out = []
    for i, s in enumerate(snaps):
        e = estimate(s, downtime_limit_s=downtime_limit_s, timeout_s=timeout_s, workload=workload)
        if progress_timeout_s is not None and e.verdict in ("converging", "not converging", "will time out"):
            st, since = _stalled(snaps, i, progress_timeout_s)
            if st:
                e = Estimate(e.elapsed_s, math.inf, "stalled",
                             f"no new minimum of the remaining data for {since:.0f} s (> progressTimeout "
                             f"{progress_timeout_s:.0f} s)", e.ratio, math.inf, e.final_bytes, e.downtime_s)
        out.append(Estimate(*[getattr(e, f) for f in ("elapsed_s", "remaining_s", "verdict", "reason", "ratio",
                                                       "rounds_left", "final_bytes", "downtime_s")],
                            progress=float(prog[i])))
    return out


def format_estimates(est) -> str:
    """A readable table of a series of estimates."""
    if isinstance(est, (str, bytes, dict)) or not hasattr(est, "__iter__"):
        raise ValueError(f"est must be a sequence of precopy.eta.Estimate (from estimate_series); "
                         f"got {type(est).__name__}")
    est = list(est)
    for i, e in enumerate(est):
        if not isinstance(e, Estimate):
            raise ValueError(f"est must be a sequence of precopy.eta.Estimate (from estimate_series); "
                             f"got {type(e).__name__} at index {i}")
    lines = [f"{'elapsed s':>10s} {'progress':>9s} {'lambda':>7s} {'eta s':>9s} {'downtime ms':>12s}  verdict"]
    for e in est:
        eta = "inf" if math.isinf(e.remaining_s) else f"{e.remaining_s:.1f}"
        dt = "-" if math.isnan(e.downtime_s) else ("inf" if math.isinf(e.downtime_s) else f"{e.downtime_s * 1e3:.0f}")
        lam = "-" if math.isnan(e.ratio) else f"{e.ratio:.2f}"
        lines.append(f"{e.elapsed_s:10.1f} {e.progress:9.1%} {lam:>7s} {eta:>9s} {dt:>12s}  {e.verdict}")
    if est:
        lines.append(f"now: {est[-1].verdict}: {est[-1].reason}")
    return "\n".join(lines)


def plot_eta(snapshots, *, downtime_limit_s: float = 0.3, progress_timeout_s: float | None = 150.0, workload=None,
             fig=None):
    """Progress figure of a migration in flight: remaining data (it jumps up at each
    sync), the monotone progress measure, and the predicted finish time.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from precopy.hvstats import read_job_stats, example_path
    >>> fig = plot_eta(read_job_stats(example_path("virsh_domjobinfo_series.txt")))
    >>> len(fig.axes)
    3
    """
    import matplotlib.pyplot as plt
    snaps = _snapshots(snapshots)
    if not snaps:
        raise ValueError("snapshots must hold at least one MigrationSnapshot")
    _limits(downtime_limit_s, None, progress_timeout_s)
    est = estimate_series(snaps, downtime_limit_s=downtime_limit_s, progress_timeout_s=progress_timeout_s,
                          workload=workload)
    t = np.array([s.elapsed_s for s in snaps])
    if fig is None:
        fig = plt.figure(figsize=(7.0, 6.0))
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    ax1.plot(t, [s.memory_remaining_bytes / 2**20 for s in snaps], marker="o", ms=3, label="remaining (QEMU)")
    ax1.set_ylabel("remaining (MiB)")
    ax1.legend(loc="upper right", fontsize="small")
    ax2.plot(t, [e.progress * 100 for e in est], marker="o", ms=3, color="C2", label="progress (monotone)")
    ax2.plot(t, [100 * (1 - s.memory_remaining_bytes / s.memory_total_bytes) for s in snaps], ls="--", color="0.5",
             label="1 - remaining / total")
    ax2.set_ylabel("progress (%)")
    ax2.set_ylim(0, 105)
    ax2.legend(loc="lower right", fontsize="small")
    fin = np.array([e.finish_s if math.isfinite(e.finish_s) else np.nan for e in est])
    ax3.plot(t, fin, marker="o", ms=3, color="C1", label="predicted finish")
    never = np.array([not math.isfinite(e.finish_s) for e in est])
    if never.any():
        top = np.nanmax(fin) if np.isfinite(fin).any() else t.max() * 2
        ax3.scatter(t[never], np.full(never.sum(), top), marker="^", color="C3",
                    label="never (not converging / stalled)")
    ax3.set_ylabel("finish (s)")
    ax3.set_xlabel("elapsed (s)")
    ax3.legend(loc="upper left", fontsize="small")
    ax1.set_title(f"{est[-1].verdict}: {est[-1].reason[:90]}", fontsize="small")
    return fig


# --- CLI: precopy eta ----------------------------------------------------------------------------

def add_arguments(p):
    p.add_argument("stats", metavar="FILE", help="QMP query-migrate JSON (one or a series, JSON Lines) or "
                                                  "virsh domjobinfo text (blocks separated by blank lines)")
    p.add_argument("--downtime-limit", default="300ms", help="downtime limit in force (default 300ms)")
    p.add_argument("--timeout", help="completion timeout since the start, e.g. 1200s (optional)")
    p.add_argument("--progress-timeout", default="150s",
                   help="stall test: no new minimum of remaining data for this long (default 150s, KubeVirt's "
                        "progressTimeout); 0 = off")
    p.add_argument("--dirty-rate", metavar="FILE",
                   help="a dirty-rate probe of the guest (QMP query-dirty-rate / virsh domstats --dirtyrate): "
                        "its fitted workload drives the outlook, the first pass included")
    p.add_argument("--plot", metavar="FILE", help="draw the progress figure (png, pdf, svg)")


def run(args) -> int:
    from .units import parse_seconds
    snaps = read_job_stats(args.stats)
    dl = parse_seconds(args.downtime_limit, "--downtime-limit")
    to = None if args.timeout is None else parse_seconds(args.timeout, "--timeout")
    pt = parse_seconds(args.progress_timeout, "--progress-timeout")
    wl = None
    if args.dirty_rate:
        from .hvstats import fit_dirty_rate, read_dirty_rate
        fit = fit_dirty_rate(read_dirty_rate(args.dirty_rate, memory_bytes=int(snaps[0].memory_total_bytes),
                                             page_bytes=snaps[0].page_bytes))
        wl = fit.workload
        print(fit.summary().splitlines()[-1])
    est = estimate_series(snaps, downtime_limit_s=dl, timeout_s=to, progress_timeout_s=pt if pt > 0 else None,
                          workload=wl)
    print(format_estimates(est))
    if args.plot:
        fig = plot_eta(snaps, downtime_limit_s=dl, progress_timeout_s=pt if pt > 0 else None, workload=wl)
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"wrote the progress figure to {args.plot}")
    return 0
