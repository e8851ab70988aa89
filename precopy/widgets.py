"""Live widgets: move a slider, the migration is simulated again and redrawn.

:class:`MigrationExplorer` shows one migration's round timeline and, with
``sweep=True``, downtime and total migration time against working-set size on
1, 10 and 25 GbE, with the current choice ringed.  Its controls (memory, hot-set
size, write rate, link, policy, page skip) each trigger one simulation and one
redraw; a control that changes the sweep (memory, write rate, policy, page skip)
also recomputes the sweep, on a background thread by default, so the timeline
answers at once and the curves follow.

Keeping up with the hand: the figure is drawn once; a slider move then only
updates the timeline's artists in place (bar polygons, the stop line and its
text, the title) over a cached copy of everything else (Agg blitting), and
re-draws the axes only when their limits must change (limits are "sticky":
they grow and shrink in steps).  A simulation that does not finish within
:data:`ANSWER_WITHIN_S` (a migration that does not converge runs to its
timeout; page skip is slower per write) goes on in the background: the stale
timeline is greyed out at once, marked "simulating...", and replaced when the
result arrives; a newer control change supersedes it.

Kernels are compiled when the explorer is created, with a visible note, so the
first slider move is as fast as the others.  The figure is an ordinary
Matplotlib figure rendered to PNG into an ``ipywidgets.Image``: the plotted data
are reachable from Python (``explorer.figure``, ``explorer.result``,
``explorer.sweep``), which is how the tests drive it without a browser.
"""

from __future__ import annotations

import html
import struct
import threading
import time
import zlib

import numpy as np
from matplotlib.patches import Rectangle

from . import _validate as v
from .plotting import format_bytes, format_count, format_seconds, new_figure, plot_wws_sweep, stop_reason_text, style
from .simulate import Prepared, warmup
from .sweeps import default_policies, ethernet_links, wws_sweep
from .units import GiB, MiB
from .vm import VM
from .workloads import HotCold

__all__ = ["MigrationExplorer", "ensure_compiled", "MEMORY_CHOICES", "WWS_CHOICES", "WRITE_RATE_CHOICES",
           "ANSWER_WITHIN_S"]

#: A simulation still running after this many seconds finishes in the background (stale result greyed out).
ANSWER_WITHIN_S = 0.04

#: Guest memory sizes offered by the memory slider (bytes).
MEMORY_CHOICES = tuple(GiB(k) for k in (1, 2, 4, 8, 16, 32, 64))
#: Hot-set sizes offered by the hot-set slider and swept (bytes): 16 MiB .. 64 GiB.
WWS_CHOICES = tuple(MiB(2**k) for k in range(4, 17))
#: Guest page-write rates offered by the write-rate slider (writes/s), 1-2-5 steps.
WRITE_RATE_CHOICES = tuple(float(m * 10**e) for e in range(3, 7) for m in (1, 2, 5) if m * 10**e <= 2e6)

_compiled_lock = threading.Lock()
_compiled_s: float | None = None


def ensure_compiled() -> float:
    """Compile (or load from numba's disk cache) every kernel path once per process.

    Returns
    -------
    float
        Seconds it took this time (0 if already done in this process).
    """
    global _compiled_s
    with _compiled_lock:
        if _compiled_s is not None:
            return 0.0
        t0 = time.perf_counter()
        warmup()
        _compiled_s = time.perf_counter() - t0
        return _compiled_s


class _Note:
    """A line of text shown in the notebook at once and updated in place."""

    def __init__(self, text):
        self.text = text
        self._handle = None
        try:
            from IPython import get_ipython
            shell = get_ipython()
            if shell is not None and getattr(shell, "kernel", None) is not None:
                from IPython.display import HTML, display
                self._handle = display(HTML(self._html(text)), display_id=True)
        except ImportError:     # pragma: no cover - IPython ships with ipywidgets
            pass

    @staticmethod
    def _html(text):
        return f"<div style='font-family: monospace; color: #444'>{html.escape(text)}</div>"

    def update(self, text):
        self.text = text
        if self._handle is not None:
            from IPython.display import HTML
            self._handle.update(HTML(self._html(text)))


def _choice(value, name, choices, fmt):
    for c in choices:
        if value == c:
            return c
    raise ValueError(f"{name} must be one of {', '.join(fmt(c) for c in choices)} (the slider's steps); "
                     f"got {value!r}")

def _png(rgba) -> bytes:
    """An RGB PNG of an RGBA image: no row filter, zlib level 1 (a few ms for a widget-sized figure).

    Plots are mostly flat colour, which deflate compresses well without PNG's
    row filters; Pillow's adaptive filtering costs about three times as long
    for the same size here.
    """
    h, w = rgba.shape[:2]
    raw = np.zeros((h, 1 + 3 * w), np.uint8)              # a 0 byte (filter "none") starts each row
    raw[:, 1:].reshape(h, w, 3)[...] = rgba[..., :3]

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 1)) + chunk(b"IEND", b""))


_FADED = 0.22           # alpha of a stale timeline while its successor is simulated


def _nice_rounds(n: int) -> int:
    """The x extent (in rounds) for ``n`` rounds: 6, 8, 12, 16, 24, 32, 48, ..."""
    c = 6
    while c < n:
        c = c * 4 // 3 if (c & (c - 1)) == 0 else c * 3 // 2
    return c


class _Timeline:
    """The round timeline of :func:`precopy.plotting.plot_timeline`, as artists updated in place.

    Bars are three polygon collections (sent, dirtied, stop-and-copy); the stop
    line, its text and the title are the other moving parts.  They are
    animated (left out of the cached background); the axes limits are sticky
    so that most updates leave ticks, labels and legend untouched.
    """

    def __init__(self, ax):
        from matplotlib.collections import PolyCollection
        from matplotlib.patches import Patch
        from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
        self.ax = ax
        self._MaxN = MaxNLocator
        with style():
            self.sent = PolyCollection([], facecolors="C0", edgecolors="none")
            self.dirtied = PolyCollection([], facecolors="C1", edgecolors="none", alpha=0.75)
            self.final = PolyCollection([], facecolors="C2", edgecolors="none")
            for c in (self.sent, self.dirtied, self.final):
                ax.add_collection(c, autolim=False)
            self.stop = ax.axvline(0.0, color="0.2", ls="--", lw=1.0)
            self.text = ax.text(0.0, 0.80, "", transform=ax.get_xaxis_transform(), va="top", fontsize=7,
                                color="0.15")
            self.busy = ax.text(0.5, 0.42, "", transform=ax.transAxes, ha="center", va="center", fontsize=9,
                                color="0.1", bbox={"boxstyle": "round", "fc": "white", "ec": "0.6", "alpha": 0.9})
            ax.set_yscale("log", base=2)
            ax.yaxis.set_major_locator(LogLocator(base=2, numticks=7))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda y, pos: format_bytes(y) if y > 0 else "0"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("round (0 = bulk pass; stop-and-copy last)")
            ax.set_ylabel("bytes per round")
            ax.legend(handles=[Patch(color="C0", label="sent (VM running)"),
                               Patch(color="C1", alpha=0.75, label="dirtied while it ran"),
                               Patch(color="C2", label="stop-and-copy (VM paused)")],
                      loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=7, handlelength=1.2,
                      columnspacing=1.0)
        self.moving = (self.sent, self.dirtied, self.final, self.stop, self.text, self.busy)
        for a in self.moving:
            a.set_animated(True)
        self.limits = None          # (x extent in rounds, y low, y high)
        self.heights = []

    @staticmethod
    def _bars(x, heights, width):
        keep = heights > 0
        x, h = x[keep], heights[keep]
        return [((a - width / 2, 1.0), (a - width / 2, b), (a + width / 2, b), (a + width / 2, 1.0))
                for a, b in zip(x, h)]

    def update(self, result, label: str) -> bool:
        """Show ``result``; True if the axes limits changed (the background must be redrawn)."""
        t = result.rounds
        n = len(t)
        idx = np.arange(n, dtype=float)
        final = np.asarray(t["stop_copy"], bool)
        live = ~final
        sent = np.asarray(t["bytes_sent"], float)
        pages = np.asarray(t["pages_sent"], float)
        nbytes = np.asarray(t["bytes_sent"], float)
        ok = pages[1:] > 0
        per_page = (float(nbytes[1:][ok][0] / pages[1:][ok][0]) if ok.any()
                    else float(nbytes[0] / max(pages[0], 1.0)))
        dirtied = np.asarray(t["pages_dirtied"], float) * per_page
        w = 0.42
        self.sent.set_verts(self._bars(idx[live] - w / 2, sent[live], w))
        self.dirtied.set_verts(self._bars(idx[live] + w / 2, dirtied[live], w))
        self.final.set_verts(self._bars(idx[final], sent[final], w))
        self.heights = [sent[live], dirtied[live], sent[final]]
        positive = np.concatenate([sent[sent > 0], dirtied[dirtied > 0]])
        changed = self._limits(n, positive)
        stop_x = (int(np.flatnonzero(final)[0]) if final.any() else n) - 0.5
        self.stop.set_xdata([stop_x, stop_x])
        why = stop_reason_text(result.stop_reason)
        right = stop_x > self.limits[0] / 2
        verdict = "converged" if result.converged else "did NOT converge"
        lines = (f"{label}: {verdict} after {result.n_rounds} rounds", f"stop: {why}",
                 f"at {format_seconds(result.precopy_time_s)}, downtime {format_seconds(result.downtime_s)}")
        self.text.set_text("\n".join(f"{x} " for x in lines) if right else "\n".join(f" {x}" for x in lines))
        self.text.set_x(stop_x)
        self.text.set_ha("right" if right else "left")
        return changed

    def _limits(self, n, positive) -> bool:
        old = self.limits
        xr = old[0] if old and old[0] / 3 <= n <= old[0] else _nice_rounds(n)
        if positive.size:
            need_lo, need_hi = float(positive.min()) / 2, float(positive.max())
        else:
            need_lo, need_hi = 1024.0, 2.0 ** 20
        lo = old[1] if old and old[1] <= need_lo < old[1] * 2 ** 6 else 2.0 ** np.floor(np.log2(need_lo))
        hi = old[2] if old and need_hi <= old[2] < need_hi * 2 ** 3 else 2.0 ** np.ceil(np.log2(need_hi))
        new = (xr, lo, hi)
        if new == old:
            return False
        self.limits = new
        ax = self.ax
        ax.set_xlim(-0.7, xr - 0.3)
        if xr <= 12:
            ax.set_xticks(np.arange(xr))
        else:
            ax.xaxis.set_major_locator(self._MaxN(nbins=8, integer=True))
        ax.set_ylim(lo, hi * (hi / lo) ** 0.3)               # head room for the stop text
        return True

    def fade(self, on: bool, note: str = ""):
        """Grey out the shown result (a newer one is being simulated), or restore it."""
        for c, alpha in ((self.sent, 1.0), (self.dirtied, 0.75), (self.final, 1.0)):
            c.set_alpha(_FADED * alpha if on else alpha)
        for a in (self.stop, self.text):
            a.set_alpha(_FADED if on else 1.0)
        self.busy.set_text(note if on else "")
        self.busy.set_visible(bool(on and note))


class _Stale(Exception):
    """Raised inside a sweep whose controls have changed since it started."""


class MigrationExplorer:
    """Sliders for one migration; its timeline and working-set sweep, redrawn live.

    Parameters
    ----------
    memory_bytes : int, default 16 GiB
        Guest memory, one of :data:`MEMORY_CHOICES`.
    wws_bytes : int, default 1 GiB
        Hot-set (writable working set) size, one of :data:`WWS_CHOICES`, at most
        ``memory_bytes``.
    writes_per_s : float, default 200 000
        Guest page writes per second, one of :data:`WRITE_RATE_CHOICES`.
    link : str, default ``"10 GbE"``
        One of ``"1 GbE"``, ``"10 GbE"``, ``"25 GbE"`` (:func:`precopy.sweeps.ethernet_links`).
    policy : str, default ``"QEMU (no cap)"``
        A label of :func:`precopy.sweeps.default_policies`.
    page_skip : bool or None
        Override the policy's page skip (None: the policy's own).
    hot_fraction : float, default 0.9
        Share of writes landing in the hot set.
    seed : int, default 1
    sweep : bool, default True
        Also show downtime and total time against working-set size on every link.
    timeout_s : float, default 600
        Simulated seconds after which a migration still iterating is stopped and
        marked non-convergent (QEMU, VMware and SimGrid have no round cap).
    background : bool, default True
        Recompute the sweep on a background thread (the timeline updates first),
        and finish a simulation slower than :data:`ANSWER_WITHIN_S` in the
        background (the stale timeline greyed out meanwhile); False computes
        everything before the control returns (tests, scripts).
    dpi : int, default 80
        Resolution of the rendered image.

    Attributes
    ----------
    controls : dict of str to ipywidgets widget
        ``memory``, ``wws``, ``writes``, ``link``, ``policy``, ``page_skip``.
    result : MigrationResult
        The migration currently drawn.
    sweep : Sweep or None
        The working-set sweep currently drawn (axes policy, link, wws_bytes).
    figure : matplotlib Figure
    image : ipywidgets.Image
        The rendered PNG the notebook shows.
    status : ipywidgets.HTML
    timings : dict
        Seconds spent by the last update: ``simulate_s``, ``draw_s``,
        ``update_s`` (both, plus handing the image over: control change to
        the new result on screen), ``answered_s`` (control change to the first
        new image: the result, or the greyed stale one), ``sweep_s``; ``late``
        (the result came from the background) and ``full_redraw`` (the axes
        limits changed).

    Examples
    --------
    >>> ex = MigrationExplorer(memory_bytes=GiB(1), wws_bytes=MiB(64), writes_per_s=20_000,
    ...                        sweep=False, background=False)
    >>> before = ex.result.downtime_s
    >>> ex.controls["wws"].value = MiB(256)
    >>> bool(ex.result.downtime_s != before)
    True
    """

    def __init__(self, memory_bytes=GiB(16), wws_bytes=GiB(1), writes_per_s=200_000.0, link="10 GbE",
                 policy="QEMU (no cap)", page_skip=None, *, hot_fraction=0.9, seed=1, sweep=True,
                 timeout_s=600.0, background=True, dpi=80):
        import ipywidgets as W

        # ---- validate everything first -------------------------------------------
        self._links = ethernet_links()
        self._policies = default_policies()
        memory_bytes = _choice(memory_bytes, "memory_bytes (bytes)", MEMORY_CHOICES, format_bytes)
        wws_bytes = _choice(wws_bytes, "wws_bytes (bytes)", [w for w in WWS_CHOICES if w <= memory_bytes],
                            format_bytes)
        writes_per_s = _choice(writes_per_s, "writes_per_s (page writes per second)", WRITE_RATE_CHOICES,
                               format_count)
        link = v.choice(link, "link", tuple(self._links))
        policy = v.choice(policy, "policy", tuple(self._policies))
        if page_skip is not None and not isinstance(page_skip, bool):
            raise ValueError(f"page_skip must be True, False or None; got {page_skip!r}")
        self.hot_fraction = v.fraction(hot_fraction, "hot_fraction")
        self.seed = v.seed(seed)
        self.timeout_s = v.real(timeout_s, "timeout_s", "s", lo=0.0, hi=1e9, lo_open=True)
        self.dpi = v.integer(dpi, "dpi", "dots per inch", lo=20, hi=600)
        if not isinstance(sweep, bool) or not isinstance(background, bool):
            raise ValueError("sweep and background must be True or False")
        self.show_sweep, self.background = sweep, background

        # ---- compile with a visible note ---------------------------------------------
        self.status = W.HTML()
        self.sweep_note = W.HTML()
        self.sweep_progress = (0, 0)
        self._set_status("compiling simulation kernels...")
        note = _Note("precopy: compiling simulation kernels (first use in this Python process; "
                     "numba caches them on disk)...")
        secs = ensure_compiled()
        note.update(f"precopy: kernels ready ({secs:.1f} s)." if secs else "precopy: kernels ready.")
        self.compile_s = secs

        # ---- controls --------------------------------------------------------------
        lay = W.Layout(width="330px")
        sty = {"description_width": "95px"}
        self.controls = {
            "memory": W.SelectionSlider(options=[(format_bytes(m), m) for m in MEMORY_CHOICES], value=memory_bytes,
                                        description="memory", layout=lay, style=sty),
            "wws": W.SelectionSlider(options=self._wws_options(memory_bytes), value=wws_bytes,
                                     description="hot set", layout=lay, style=sty),
            "writes": W.SelectionSlider(options=[(format_count(x) + "/s", x) for x in WRITE_RATE_CHOICES],
                                        value=writes_per_s, description="page writes", layout=lay, style=sty),
            "link": W.ToggleButtons(options=list(self._links), value=link, description="link",
                                    style={"description_width": "40px", "button_width": "70px"}),
            "policy": W.Dropdown(options=list(self._policies), value=policy, description="policy",
                                 layout=W.Layout(width="250px"), style={"description_width": "50px"}),
            "page_skip": W.Checkbox(value=self._policies[policy].page_skip if page_skip is None else page_skip,
                                    description="page skip", indent=False, layout=W.Layout(width="100px")),
        }
        for name, c in self.controls.items():
            c.observe(self._on_change, names="value")
        self.image = W.Image(format="png")
        self.widget = W.VBox([
            W.HBox([self.controls["memory"], self.controls["wws"], self.controls["writes"]]),
            W.HBox([self.controls["link"], self.controls["policy"], self.controls["page_skip"]]),
            W.HBox([self.status, self.sweep_note]), self.image])

        # ---- figure ---------------------------------------------------------------
        if self.show_sweep:
            self.figure, axes = new_figure(1, 3, figsize=(12.5, 3.6), width_ratios=[1.25, 1, 1])
            self._ax_tl, self._ax_sweep = axes[0], [axes[1], axes[2]]
        else:
            self.figure, self._ax_tl = new_figure(1, 1, figsize=(7.0, 3.6))
            self._ax_sweep = []
        self.figure.set_dpi(self.dpi)
        self._tl = _Timeline(self._ax_tl)
        self._rings, self._veils = [], []
        self._background = None
        self._lock = threading.RLock()
        self._hold = False
        self.result = None
        self.sweep = None
        self._sweep_key_drawn = None
        self._wanted = None
        self._worker = None
        self._idle = threading.Event()
        self._idle.set()
        self._token = 0                 # the latest control change; older results are dropped
        self._late = []                 # simulations answering in the background
        self.timings = {}
        self.updates = 0
        # the first full draw also warms Matplotlib (fonts, Agg) so later moves are fast
        self._refresh(initial=True)
        self.wait()

    # ---- scenario from the controls ---------------------------------------------------
    def _wws_options(self, memory_bytes):
        return [(format_bytes(w), w) for w in WWS_CHOICES if w <= memory_bytes]

    def _policy(self):
        pol = self._policies[self.controls["policy"].value]
        skip = bool(self.controls["page_skip"].value)    # the page-skip engine syncs per pass
        return pol.with_(page_skip=skip, sync_cadence="pass" if skip else pol.sync_cadence, timeout_s=self.timeout_s)

    def _vm(self):
        return VM(memory_bytes=self.controls["memory"].value)

    def _sweep_key(self):
        c = self.controls
        return (c["memory"].value, c["writes"].value, c["policy"].value, bool(c["page_skip"].value))

    def scenario(self):
        """The current (vm, workload, link, policy), as :func:`precopy.simulate` takes them."""
        c = self.controls
        wl = HotCold(wws_bytes=c["wws"].value, hot_fraction=self.hot_fraction, writes_per_s=c["writes"].value)
        return self._vm(), wl, self._links[c["link"].value], self._policy()

    # ---- reacting to controls --------------------------------------------------------------
    def _on_change(self, change):
        if self._hold:
            return
        owner = change["owner"]
        with self._holding():
            if owner is self.controls["memory"]:
                self._fit_wws(change["new"])
            elif owner is self.controls["policy"]:
                self.controls["page_skip"].value = self._policies[change["new"]].page_skip
        self._refresh()

    def _holding(self):
        ex = self

        class _Hold:
            def __enter__(self):
                ex._hold = True

            def __exit__(self, *a):
                ex._hold = False
        return _Hold()

    def _fit_wws(self, memory_bytes):
        w = self.controls["wws"]
        old = w.value
        w.options = self._wws_options(memory_bytes)
        fits = [x for _, x in w.options if x <= old]
        w.value = fits[-1] if fits else w.options[0][1]
        if w.value != old:
            self._pending_note = f"hot set changed to {format_bytes(w.value)} to fit memory"

    def _refresh(self, initial=False):
        t0 = time.perf_counter()
        try:
            prep = Prepared(*self.scenario())
        except ValueError as e:
            self._set_status(f"error: {e}", error=True)
            return
        with self._lock:
            self._token += 1
            token = self._token
        stale = self.show_sweep and self._sweep_key() != self._sweep_key_drawn
        if initial or not self.background:
            result = prep.run(self.seed)
            self._show(result, token, t0, time.perf_counter(), initial=initial)
            if stale:
                self._request_sweep(self._sweep_key(), synchronous=True)
            return
        if stale:
            self._mark_sweep_stale()        # veiled in the next image; recomputed once the timeline answered
        box = {}
        done = threading.Event()

        def simulate():
            try:
                box["result"] = prep.run(self.seed)
            except BaseException as e:      # shown to the user, never silent
                box["error"] = e
            box["t_sim"] = time.perf_counter()
            done.set()
            with self._lock:
                if box.get("late"):
                    self._finish(box, token, t0, late=True)

        th = threading.Thread(target=simulate, name="precopy-simulate", daemon=True)
        th.start()
        done.wait(ANSWER_WITHIN_S)
        png = None
        with self._lock:
            if done.is_set():
                self._finish(box, token, t0, late=False)
            else:
                box["late"] = True
                self._late = [x for x in self._late if x.is_alive()] + [th]
                if token == self._token:
                    # slow case: grey out the stale result now, draw the new one when it arrives
                    self._tl.fade(True, "simulating...")
                    png = self._render(full=False)
        if png is not None:
            self.image.value = png
            self.timings = {**self.timings, "answered_s": time.perf_counter() - t0, "late": True}
            self._set_status("simulating the new setting (greyed: the previous result)...")
        if stale:
            self._request_sweep(self._sweep_key(), synchronous=False)

    def _finish(self, box, token, t0, late):
        if "error" in box:
            if token == self._token:
                self._set_status(f"simulation failed: {html.escape(repr(box['error']))}", error=True)
            return
        self._show(box["result"], token, t0, box["t_sim"], late=late)

    def _show(self, result, token, t0, t_sim, initial=False, late=False):
        """Draw ``result`` (if no newer control change superseded it) and publish the image."""
        with self._lock:
            if token != self._token:
                return
            self.result = result
            full = self._draw_result() or initial
            png = self._render(full=full)
            t2 = time.perf_counter()
            self.image.value = png
            self.updates += 1
            t3 = time.perf_counter()
            self.timings = {"simulate_s": t_sim - t0, "draw_s": t2 - max(t_sim, t0), "update_s": t3 - t0,
                            "sweep_s": self.timings.get("sweep_s", 0.0), "late": late, "full_redraw": bool(full)}
            if not late:
                self.timings["answered_s"] = t3 - t0
        note = getattr(self, "_pending_note", "")
        self._pending_note = ""
        self._set_status(self._summary(result) + (f" &middot; {note}" if note else ""))

    def _summary(self, r):
        verdict = "converged" if r.converged else "<b>did not converge</b>"
        return (f"{verdict} ({r.stop_reason}), {r.n_rounds} rounds &middot; downtime "
                f"<b>{format_seconds(r.downtime_s)}</b> &middot; total <b>{format_seconds(r.total_time_s)}</b>"
                f" &middot; sent {format_bytes(r.bytes_sent)} &middot; "
                f"update {self.timings.get('update_s', 0) * 1e3:.0f} ms")

    def _set_status(self, text, error=False):
        color = "#b00" if error else "#333"
        self.status.value = f"<span style='color:{color}'>{text}</span>"

    # ---- the sweep ------------------------------------------------------------------------
    def _request_sweep(self, key, synchronous):
        with self._lock:
            self._wanted = key
            if synchronous:
                self._compute_sweep(key)
                return
            self._idle.clear()
            if self._worker is None:
                self._worker = threading.Thread(target=self._sweep_loop, name="precopy-sweep", daemon=True)
                self._worker.start()

    def _sweep_loop(self):
        try:
            while True:
                with self._lock:
                    key = self._wanted
                self._compute_sweep(key)
                with self._lock:
                    if self._wanted == key:
                        self._worker = None
                        self._idle.set()
                        return
        except BaseException as e:  # pragma: no cover - shown to the user, never silent
            with self._lock:
                self._worker = None
                self._idle.set()
            self._set_status(f"sweep failed: {html.escape(repr(e))}", error=True)

    def _compute_sweep(self, key):
        memory_bytes, writes, policy, skip = key
        vm = VM(memory_bytes=memory_bytes)
        pol = self._policies[policy]
        pol = pol.with_(page_skip=skip, sync_cadence="pass" if skip else pol.sync_cadence, timeout_s=self.timeout_s)
        wws = [w for w in WWS_CHOICES if w <= memory_bytes]

        def progress(done, total):
            if self._wanted != key:         # the controls moved on: abandon this sweep
                raise _Stale
            if self.background and (done % 3 == 0 or done == total):
                self.sweep_progress = (done, total)
                if self._ax_sweep:
                    self._set_sweep_note(f"sweep {done}/{total} migrations...")

        t0 = time.perf_counter()
        try:
            sw = wws_sweep(vm, wws, writes, links=self._links, policies={policy: pol}, page_skip=skip,
                           hot_fraction=self.hot_fraction, timeout_s=self.timeout_s, seed=self.seed,
                           progress=progress)
        except _Stale:
            return
        dt = time.perf_counter() - t0
        with self._lock:
            if self._wanted != key:
                return
            self.sweep = sw
            self._sweep_key_drawn = key
            self._draw_sweep()
            png = self._render(full=True)
            self.image.value = png
            self.timings["sweep_s"] = dt
            self._set_sweep_note("")

    def _set_sweep_note(self, text):
        self.sweep_note.value = f"<span style='color:#666; font-size: 90%'>{text}</span>" if text else ""

    # ---- drawing ------------------------------------------------------------------------------
    def _draw_result(self) -> bool:
        """Update the timeline and rings in place; True if the background must be redrawn."""
        with style():
            changed = self._tl.update(self.result, self.controls["policy"].value)
            self._tl.fade(False)
            for ring, m in zip(self._rings, ("downtime_s", "total_time_s")):
                ring.set_data([self.controls["wws"].value], [getattr(self.result, m)])
        return changed

    def _draw_sweep(self):
        with style():
            for ax in self._ax_sweep:
                ax.cla()
            plot_wws_sweep(self.sweep, axes=[[self._ax_sweep[0]], [self._ax_sweep[1]]], legend="axes")
            self._ax_sweep[0].set_title(f"{self.sweep.axes['policy'][0]}: downtime", fontsize=9)
            self._ax_sweep[1].set_title("total migration time", fontsize=9)
            self._rings, self._veils = [], []
            for ax in self._ax_sweep:
                self._veils.append(ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fc="white",
                                                          ec="none", alpha=1 - _FADED, zorder=10, animated=True,
                                                          visible=False)))
            for ax, m in zip(self._ax_sweep, ("downtime_s", "total_time_s")):
                (ring,) = ax.plot([self.controls["wws"].value], [getattr(self.result, m)], "o", ms=13,
                                  mfc="none", mec="k", mew=1.6, zorder=6, label="current", animated=True)
                self._rings.append(ring)

    def _mark_sweep_stale(self):
        # the old curves stay, behind a white veil (drawn over the cached background, no full
        # redraw), with a note next to the status, until the new ones arrive
        with self._lock:
            for veil in self._veils:
                veil.set_visible(True)
        self._set_sweep_note("updating the sweep...")

    def _render(self, full: bool) -> bytes:
        """Draw and encode the figure.

        A full draw lays the figure out (the first time only; the layout is then
        frozen) and keeps a copy of everything that does not move; other updates
        restore that copy and draw only the moving artists (Agg blitting): the
        timeline's bars, stop line, texts and title, and the rings.
        """
        fig = self.figure
        canvas = fig.canvas
        with style():
            if full or self._background is None:
                canvas.draw()
                if fig.get_layout_engine() is not None:
                    fig.set_layout_engine("none")      # keep these positions from now on
                self._background = canvas.copy_from_bbox(fig.bbox)
            else:
                canvas.restore_region(self._background)
            for a in self._tl.moving:
                if a.get_visible():
                    self._ax_tl.draw_artist(a)
            for ax, veil in zip(self._ax_sweep, self._veils):
                if veil.get_visible():
                    ax.draw_artist(veil)
            for ax, ring in zip(self._ax_sweep, self._rings):
                ax.draw_artist(ring)
            return _png(np.asarray(canvas.buffer_rgba()))

    # ---- public -------------------------------------------------------------------------------
    def wait_result(self, timeout: float | None = None) -> bool:
        """Block until simulations finishing in the background are drawn; True if none is pending."""
        end = None if timeout is None else time.monotonic() + timeout
        for th in list(self._late):
            th.join(None if end is None else max(0.0, end - time.monotonic()))
            if th.is_alive():
                return False
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until background simulations and the sweep are drawn; True if nothing is pending."""
        end = None if timeout is None else time.monotonic() + timeout
        if not self.wait_result(timeout):
            return False
        return self._idle.wait(None if end is None else max(0.0, end - time.monotonic()))

    def plotted(self) -> dict:
        """The data now drawn: bar heights of the timeline, sweep lines (for tests).

        Returns
        -------
        dict
            ``timeline``: arrays of bar heights (sent while running, dirtied
            while running, stop-and-copy); ``sweep``: list of (x, y) arrays of
            the sweep lines; ``ring``: (wws, downtime) of the current point;
            ``faded``: True while the timeline shows a stale result;
            ``sweep_faded``: True while the sweep shown is stale (veiled).
        """
        with self._lock:
            tl = [np.asarray(h, float).copy() for h in self._tl.heights]
            sweep = [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
                     for ax in self._ax_sweep for line in ax.lines if line not in self._rings]
            ring = None
            if self._rings:
                x, y = self._rings[0].get_data()
                ring = (float(x[0]), float(y[0]))
            return {"timeline": tl, "sweep": sweep, "ring": ring, "faded": self._tl.busy.get_visible(),
                    "sweep_faded": any(v.get_visible() for v in self._veils)}

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self):
        return f"MigrationExplorer({self._sweep_key()!r}, wws={self.controls['wws'].value})"
