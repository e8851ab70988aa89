"""Live widgets: move a slider, the migration is simulated again and redrawn.

:class:`MigrationExplorer` shows one migration's round timeline and, with
``sweep=True``, downtime and total migration time against working-set size on
1, 10 and 25 GbE, with the current choice ringed.  Its controls (memory, hot-set
size, write rate, link, policy, page skip) each trigger one simulation and one
redraw; a control that changes the sweep (memory, write rate, policy, page skip)
also recomputes the sweep, on a background thread by default, so the timeline
answers at once and the curves follow.

Kernels are compiled when the explorer is created, with a visible note, so the
first slider move is as fast as the others.  The figure is an ordinary
Matplotlib figure rendered to PNG into an ``ipywidgets.Image``: the plotted data
are reachable from Python (``explorer.figure``, ``explorer.result``,
``explorer.sweep``), which is how the tests drive it without a browser.
"""

from __future__ import annotations

import html
import io
import threading
import time

import numpy as np

from . import _validate as v
from .plotting import format_bytes, format_count, format_seconds, new_figure, plot_timeline, plot_wws_sweep, style
from .simulate import Prepared, warmup
from .sweeps import default_policies, ethernet_links, wws_sweep
from .units import GiB, MiB
from .vm import VM
from .workloads import HotCold

__all__ = ["MigrationExplorer", "ensure_compiled", "MEMORY_CHOICES", "WWS_CHOICES", "WRITE_RATE_CHOICES"]

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
        Recompute the sweep on a background thread (the timeline updates first);
        False computes it before the control returns (tests, scripts).
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
        ``update_s`` (both, plus handing the image over), ``sweep_s``.

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
        return pol.with_(page_skip=bool(self.controls["page_skip"].value), timeout_s=self.timeout_s)

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
            scen = self.scenario()
            result = Prepared(*scen).run(self.seed)
        except ValueError as e:
            self._set_status(f"error: {e}", error=True)
            return
        t1 = time.perf_counter()
        stale = self.show_sweep and self._sweep_key() != self._sweep_key_drawn
        with self._lock:
            self.result = result
            self._draw_result()
            if stale:
                self._mark_sweep_stale()
            png = self._render(full=initial)
        t2 = time.perf_counter()
        self.image.value = png
        self.updates += 1
        t3 = time.perf_counter()
        self.timings = {"simulate_s": t1 - t0, "draw_s": t2 - t1, "update_s": t3 - t0,
                        "sweep_s": self.timings.get("sweep_s", 0.0)}
        note = getattr(self, "_pending_note", "")
        self._pending_note = ""
        self._set_status(self._summary(result) + (f" &middot; {note}" if note else ""))
        if stale:
            self._request_sweep(self._sweep_key(), synchronous=initial or not self.background)

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
        pol = self._policies[policy].with_(page_skip=skip, timeout_s=self.timeout_s)
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
    def _draw_result(self):
        with style():
            self._ax_tl.cla()
            plot_timeline(self.result, ax=self._ax_tl)
            for ax, ring, m in zip(self._ax_sweep, getattr(self, "_rings", []), ("downtime_s", "total_time_s")):
                ring.set_data([self.controls["wws"].value], [getattr(self.result, m)])
                ring.set_color("k")

    def _draw_sweep(self):
        with style():
            for ax in self._ax_sweep:
                ax.cla()
            plot_wws_sweep(self.sweep, axes=[[self._ax_sweep[0]], [self._ax_sweep[1]]], legend="axes")
            self._ax_sweep[0].set_title(f"{self.sweep.axes['policy'][0]}: downtime", fontsize=9)
            self._ax_sweep[1].set_title("total migration time", fontsize=9)
            self._rings = []
            for ax, m in zip(self._ax_sweep, ("downtime_s", "total_time_s")):
                (ring,) = ax.plot([self.controls["wws"].value], [getattr(self.result, m)], "o", ms=13,
                                  mfc="none", mec="k", mew=1.6, zorder=6, label="current", animated=True)
                self._rings.append(ring)

    def _mark_sweep_stale(self):
        # a note next to the status (no redraw): the old curves stay until the new ones arrive
        self._set_sweep_note("updating the sweep...")

    def _render(self, full: bool) -> bytes:
        """Draw and encode the figure.

        A full draw lays the figure out (the first time only; the layout is then
        frozen) and keeps a copy of everything except the timeline and the rings;
        other updates restore that copy and draw only those (Agg blitting).
        """
        from matplotlib.image import imsave
        fig = self.figure
        canvas = fig.canvas
        with style():
            if full or self._background is None:
                self._ax_tl.set_animated(True)
                canvas.draw()
                if fig.get_layout_engine() is not None:
                    fig.set_layout_engine("none")      # keep these positions from now on
                self._background = canvas.copy_from_bbox(fig.bbox)
            else:
                canvas.restore_region(self._background)
            fig.draw_artist(self._ax_tl)
            for ax, ring in zip(self._ax_sweep, getattr(self, "_rings", [])):
                ax.draw_artist(ring)
            rgba = np.asarray(canvas.buffer_rgba())
            buf = io.BytesIO()
            imsave(buf, rgba[..., :3], format="png", pil_kwargs={"compress_level": 1})
        return buf.getvalue()

    # ---- public -------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background sweep is drawn; True if nothing is pending."""
        return self._idle.wait(timeout)

    def plotted(self) -> dict:
        """The data now drawn: bar heights of the timeline, sweep lines (for tests).

        Returns
        -------
        dict
            ``timeline``: list of arrays, one per bar series or line; ``sweep``:
            list of (x, y) arrays of the sweep lines; ``ring``: (wws, downtime)
            of the current point.
        """
        with self._lock:
            tl = [np.array([p.get_height() for p in c.patches]) for c in self._ax_tl.containers]
            tl += [np.asarray(line.get_ydata(), float) for line in self._ax_tl.lines if len(line.get_xdata()) > 2]
            sweep = [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
                     for ax in self._ax_sweep for line in ax.lines if line not in getattr(self, "_rings", [])]
            ring = None
            if getattr(self, "_rings", None):
                x, y = self._rings[0].get_data()
                ring = (float(x[0]), float(y[0]))
            return {"timeline": tl, "sweep": sweep, "ring": ring}

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self):
        return f"MigrationExplorer({self._sweep_key()!r}, wws={self.controls['wws'].value})"
