"""Result types: a migration's summary and its per-round table."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, fields

import numpy as np

from .reasons import STOP_REASONS, converged, outcome

__all__ = ["RoundTable", "MigrationResult", "downtime_parts", "assemble"]


class RoundTable:
    """A small column table: one row per round, the stop-and-copy last.

    Columns (units in the names): ``round``, ``start_s``, ``duration_s``,
    ``pages_sent``, ``pages_skipped``, ``pages_dirtied`` (distinct pages written
    during the round), ``bytes_sent``, ``writes`` (page writes during the round),
    ``throttle`` (guest speed factor at the round's start, 1 = unthrottled),
    ``cpu_throttle`` (the slowdown a convergence aid imposed during the round:
    QEMU's throttle percentage / 100 for auto-converge, ``1 - g`` for dirty-limit
    and SDPS), ``guest_lost_s`` (guest seconds the aid took away in the round;
    for the post-copy row, the time the guest waited for faulted pages),
    ``xbzrle_hits`` (pages sent as XBZRLE deltas), ``expected_downtime_s`` (the
    downtime QEMU would report at the sync ending the round: pages then set x
    page size / decision bandwidth; 0 for the stop-and-copy and post-copy rows),
    ``stop_copy`` (True for the
    final round sent while the VM is paused), ``postcopy`` (True for the
    post-copy phase: pages pushed or faulted while the VM runs on the
    destination).

    Index by column name for a numpy array (``t["bytes_sent"]``), by integer for a
    row dict; :meth:`to_pandas`, :meth:`to_csv` and :meth:`to_dict` export it;
    Jupyter shows it as an HTML table.
    """

    def __init__(self, columns: dict[str, np.ndarray]):
        self._cols = {k: np.asarray(v) for k, v in columns.items()}
        lengths = {len(v) for v in self._cols.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns must have equal lengths; got {lengths}")

    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    def __len__(self) -> int:
        return len(next(iter(self._cols.values()))) if self._cols else 0

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._cols[key]
        return {k: v[key].item() for k, v in self._cols.items()}

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other):
        return (isinstance(other, RoundTable) and self.columns == other.columns
                and all(np.array_equal(self._cols[k], other._cols[k], equal_nan=True) for k in self._cols))

    def to_dict(self) -> dict[str, np.ndarray]:
        return dict(self._cols)

    def to_pandas(self):
        """A pandas DataFrame (pandas is optional: ``pip install 'precopy[pandas]'``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("RoundTable.to_pandas() needs pandas, an optional dependency: "
                              "pip install 'precopy[pandas]' (or pandas itself); "
                              "to_dict() and to_csv() work without it") from None
        return pd.DataFrame(self._cols)

    def to_csv(self, path=None) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(self.columns)
        for row in self:
            w.writerow([_fmt(x) for x in row.values()])
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", newline="") as f:
                f.write(text)
        return text

    def _rows_text(self, limit=40):
        cols = self.columns
        rows = [[_fmt(x) for x in r.values()] for r in self]
        if len(rows) > limit:
            rows = rows[: limit // 2] + [["..."] * len(cols)] + rows[-limit // 2:]
        return cols, rows

    def __repr__(self):
        cols, rows = self._rows_text()
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
        line = lambda r: "  ".join(x.rjust(w) for x, w in zip(r, widths))  # noqa: E731
        return "\n".join([line(cols)] + [line(r) for r in rows])

    def _repr_html_(self):
        cols, rows = self._rows_text()
        head = "".join(f"<th>{c}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{x}</td>" for x in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(x):
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class MigrationResult:
    """Outcome of one simulated migration.

    Times in seconds, sizes in bytes.  ``downtime_s`` is the sum of
    ``final_transfer_s``, ``device_state_s``, ``resume_s`` and ``announce_s``
    (see :attr:`downtime_parts`); ``total_time_s`` is ``precopy_time_s +
    downtime_s + postcopy_s``.  ``outcome`` is ``'converged'``,
    ``'not_converged'``, ``'aborted'`` (a run-time control cancelled the
    migration: the VM stays on the source, no downtime) or ``'forced'`` (a
    control paused the VM and sent what remained).  ``converged`` is False when a cap (round count,
    data factor, timeout) rather than the stop rule ended pre-copy; then the
    reported downtime is that of the forced stop-and-copy.  A switch to
    post-copy (``stop_reason='postcopy'``) counts as converged: the migration
    completes with a bounded downtime, but for ``postcopy_s`` a failure of
    either host or of the link loses the VM.

    Costs of the convergence aids (zero when the aid is off):
    ``guest_slowdown_s`` (guest seconds lost to throttling during pre-copy),
    ``max_cpu_throttle``, ``postcopy_s`` / ``postcopy_pages`` /
    ``postcopy_faults`` / ``postcopy_stall_s`` (time the guest waited for
    faulted pages), ``xbzrle_hits`` / ``xbzrle_misses`` / ``xbzrle_overflows`` /
    ``xbzrle_saved_bytes``, ``compression_saved_bytes``; :attr:`aid_costs`
    gathers them.

    ``sync_count`` is QEMU's ``dirty-sync-count``: the setup sync, one per sync
    that ends a pre-copy round (with ``sync_cadence='threshold'`` also the
    immediate one of a guest that fits the threshold before any page is sent),
    and the one inside the downtime (or at the switch to post-copy); an aborted
    migration has none of the last.  0 where a model does not count syncs.
    """

    total_time_s: float
    downtime_s: float
    precopy_time_s: float
    bytes_sent: float
    pages_sent: int
    n_rounds: int
    converged: bool
    stop_reason: str
    final_pages: int
    final_transfer_s: float
    device_state_s: float
    resume_s: float
    rate_bps: float
    final_rate_bps: float
    memory_bytes: int
    rounds: RoundTable = field(repr=False)
    policy: str = ""
    seed: int = 0
    extras: dict = field(default_factory=dict, repr=False)
    announce_s: float = 0.0
    announce_window_s: float = 0.0
    aids: tuple = ()
    guest_slowdown_s: float = 0.0
    max_cpu_throttle: float = 0.0
    postcopy_s: float = 0.0
    postcopy_pages: int = 0
    postcopy_faults: int = 0
    postcopy_stall_s: float = 0.0
    xbzrle_hits: int = 0
    xbzrle_misses: int = 0
    xbzrle_overflows: int = 0
    xbzrle_saved_bytes: float = 0.0
    compression_saved_bytes: float = 0.0
    outcome: str = ""
    sync_count: int = 0

    @property
    def data_factor(self) -> float:
        """Bytes sent over guest memory."""
        return self.bytes_sent / self.memory_bytes

    @property
    def downtime_parts(self) -> dict[str, float]:
        """The downtime broken into its parts (seconds): final memory transfer,
        device state, resume and network announcement."""
        return {"final_transfer_s": self.final_transfer_s, "device_state_s": self.device_state_s,
                "resume_s": self.resume_s, "announce_s": self.announce_s,
                **self.extras.get("downtime_parts", {})}

    @property
    def aid_costs(self) -> dict[str, float]:
        """What the convergence aids cost or saved (only the aids in use)."""
        d: dict[str, float] = {}
        if any(a in self.aids for a in ("auto-converge", "dirty-limit", "sdps")):
            d.update(guest_slowdown_s=self.guest_slowdown_s, max_cpu_throttle=self.max_cpu_throttle)
        if "postcopy" in self.aids:
            d.update(postcopy_s=self.postcopy_s, postcopy_pages=self.postcopy_pages,
                     postcopy_faults=self.postcopy_faults, postcopy_stall_s=self.postcopy_stall_s)
        if "xbzrle" in self.aids:
            d.update(xbzrle_hits=self.xbzrle_hits, xbzrle_misses=self.xbzrle_misses,
                     xbzrle_overflows=self.xbzrle_overflows, xbzrle_saved_bytes=self.xbzrle_saved_bytes)
        if "compression" in self.aids:
            d.update(compression_saved_bytes=self.compression_saved_bytes)
        return d

    def rate_text(self) -> str:
        """The pre-copy rate, or its range when it changed from round to round."""
        t = self.rounds
        if "rate_bps" in t.columns:
            live = ~t["stop_copy"] & ~t["postcopy"] if "postcopy" in t.columns else ~t["stop_copy"]
            r = t["rate_bps"][live]
            if len(r) and r.min() != r.max():
                return f"{r.min() / 1e9:.3f}-{r.max() / 1e9:.3f} Gbit/s (adaptive)"
        return f"{self.rate_bps / 1e9:.3f} Gbit/s"

    def summary(self) -> str:
        """A few readable lines."""
        verdict = {"aborted": "ABORTED (the VM stays on the source)", "forced": "FORCED to switch over"}.get(
            self.outcome, "converged" if self.converged else "did NOT converge")
        lines = [f"{self.policy}: {verdict} ({self.stop_reason}) after {self.n_rounds} rounds",
                 f"  total time {self.total_time_s:.3f} s, downtime {self.downtime_s * 1e3:.1f} ms "
                 f"(final {self.final_transfer_s * 1e3:.1f} + device {self.device_state_s * 1e3:.1f} "
                 f"+ resume {self.resume_s * 1e3:.1f} + announce {self.announce_s * 1e3:.1f})",
                 f"  sent {self.bytes_sent / 2**20:.1f} MiB = {self.data_factor:.2f} x memory, "
                 f"at {self.rate_text()} pre-copy"]
        if not self.converged and self.rate_bps < self.final_rate_bps:
            lines.append(f"  note: pre-copy ran capped at {self.rate_bps / 1e9:.3f} of the link's "
                         f"{self.final_rate_bps / 1e9:.3f} Gbit/s (the policy's max_bandwidth_bps or "
                         f"adaptive rate); QEMU(max_bandwidth_bps=None) is libvirt's unlimited setting")
        if self.aids:
            lines.append(f"  aids: {', '.join(self.aids)}")
        if self.guest_slowdown_s > 0 or self.max_cpu_throttle > 0:
            lines.append(f"  guest slowdown: {self.guest_slowdown_s:.3f} guest-s lost, "
                         f"throttle up to {self.max_cpu_throttle * 100:.0f} %")
        if self.stop_reason == "postcopy":
            lines.append(f"  post-copy: {self.postcopy_s:.3f} s for {self.postcopy_pages} pages, "
                         f"{self.postcopy_faults} faults ({self.postcopy_stall_s * 1e3:.1f} ms stalled); "
                         f"a host or link failure during it loses the VM")
        if "xbzrle" in self.aids:
            lines.append(f"  XBZRLE: {self.xbzrle_hits} hits, {self.xbzrle_misses} misses, "
                         f"{self.xbzrle_overflows} overflows, {self.xbzrle_saved_bytes / 2**20:.1f} MiB saved")
        if "compression" in self.aids:
            lines.append(f"  compression: {self.compression_saved_bytes / 2**20:.1f} MiB saved")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """Scalar fields as a plain dict (no table)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("rounds", "extras")}


def downtime_parts(reason: str, final_transfer_s: float, switchover, final_rate_Bps: float) -> dict[str, float]:
    """The parts of the downtime (seconds): final memory transfer, device state
    (sent at the final rate), resume and network announcement.  An aborted
    migration has none: the VM never stopped.

    Examples
    --------
    >>> import precopy as pc
    >>> d = downtime_parts("downtime_limit", 0.1, pc.Switchover(announce_heard=3), 1e9)
    >>> round(d["announce_s"], 3), round(sum(d.values()), 3)
    (0.2, 0.309)
    """
    if reason == "aborted":
        return {"final_transfer_s": 0.0, "device_state_s": 0.0, "resume_s": 0.0, "announce_s": 0.0}
    return {"final_transfer_s": float(final_transfer_s),
            "device_state_s": float(switchover.device_time_s(final_rate_Bps)),
            "resume_s": float(switchover.resume_s), "announce_s": float(switchover.announce_s)}


#: RoundTable columns of a migration, in order (after ``round``)
ROUND_COLUMNS = ("start_s", "duration_s", "pages_sent", "pages_skipped", "pages_dirtied", "bytes_sent", "writes",
                 "throttle", "cpu_throttle", "guest_lost_s", "xbzrle_hits", "rate_bps", "expected_downtime_s",
                 "stop_copy", "postcopy")
_INT_COLUMNS = ("pages_sent", "pages_skipped", "pages_dirtied", "writes", "xbzrle_hits")
_BOOL_COLUMNS = ("stop_copy", "postcopy")


def assemble(*, reason: int, t_stop_s: float, final_transfer_s: float, final_pages, total_bytes: float,
             total_pages, postcopy_s: float, columns: dict, switchover, rate_bps: float,
             final_rate_bps: float, memory_bytes: int, policy: str, integral: bool = True) -> dict:
    """The fields every migration result shares, from a round engine's outputs.

    One place for the downtime sum, ``total_time_s``, ``converged``, ``outcome``
    and the per-round table, used by the simulator, the analytic models and
    storage.  ``columns`` are the engine's per-round columns (any subset of
    :data:`ROUND_COLUMNS`, in any order; ``rate_Bps`` in bytes/s becomes
    ``rate_bps``); post-copy rows are moved after the
    switchover blackout.  ``integral``: page counts are whole numbers (the
    simulator) rather than expectations (the models).  Returns a dict of
    keyword arguments for :class:`MigrationResult` (or a model's result class).
    """
    name = STOP_REASONS[reason]
    parts = downtime_parts(name, final_transfer_s, switchover, final_rate_bps / 8.0)
    downtime = parts["final_transfer_s"] + parts["device_state_s"] + parts["resume_s"] + parts["announce_s"]
    cols = {}
    columns = dict(columns)
    if "rate_Bps" in columns:        # engines count in bytes/s; results report bit/s
        columns["rate_bps"] = np.asarray(columns.pop("rate_Bps")) * 8.0
    k = len(next(iter(columns.values())))
    for c in ROUND_COLUMNS:
        if c not in columns:
            continue
        x = np.asarray(columns[c])
        if c in _BOOL_COLUMNS:
            x = x > 0
        elif integral and c in _INT_COLUMNS:
            x = x.astype(np.int64)
        cols[c] = x
    if "postcopy" in cols:
        cols["start_s"] = np.where(cols["postcopy"], cols["start_s"] + downtime, cols["start_s"])
    table = RoundTable({"round": np.arange(k), **cols})
    return dict(
        total_time_s=float(t_stop_s + downtime + postcopy_s), downtime_s=float(downtime),
        precopy_time_s=float(t_stop_s),
        bytes_sent=float(total_bytes + (0.0 if name == "aborted" else switchover.device_state_bytes)),
        pages_sent=int(total_pages) if integral else float(total_pages), n_rounds=k,
        converged=converged(name), stop_reason=name, outcome=outcome(name),
        final_pages=int(final_pages) if integral else float(final_pages),
        final_transfer_s=parts["final_transfer_s"], device_state_s=parts["device_state_s"],
        resume_s=parts["resume_s"], announce_s=parts["announce_s"],
        announce_window_s=0.0 if name == "aborted" else float(switchover.announce_window_s),
        rate_bps=float(rate_bps), final_rate_bps=float(final_rate_bps), memory_bytes=memory_bytes, rounds=table,
        policy=policy)
