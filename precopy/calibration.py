"""The fitted parameters of the hypervisor presets, as stored with the rows they came from.

``precopy/data/calibration.json`` holds every parameter of :mod:`precopy.hypervisors`
that is fitted to published rows (sender ceilings, switchover terms, device-state
rate, an idle guest's background dirtying), each with its value, unit, method and
the rows it was fitted to.  :func:`load` reads it (the presets use it);
:func:`save` writes one.  The fitting itself is :mod:`precopy.calibrate`
(``precopy calibrate``), which lists the parameters and their rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import _validate as v
from .units import MiB

__all__ = ["Calibration", "load", "save", "CALIBRATION_PATH"]

CALIBRATION_PATH = Path(__file__).resolve().parent / "data" / "calibration.json"


@dataclass(frozen=True)
class Calibration:
    """Fitted parameters (``params``: name -> record with ``value``, ``unit``, ``rows``...).

    Accessors return SI units (s, bit/s, bytes/s) and the documented fallbacks.
    """

    params: dict

    def __post_init__(self):
        if not isinstance(self.params, dict):
            raise ValueError(f"params must be a dict of parameter name -> record (a dict with 'value'); "
                             f"got {type(self.params).__name__}")
        for k, rec in self.params.items():
            if not isinstance(k, str) or not isinstance(rec, dict):
                raise ValueError(f"params must map parameter names (str) to records (dicts with 'value'); "
                                 f"got {k!r}: {rec!r}")
            x = rec.get("value")
            if x is not None:
                v.real(x, f"params[{k!r}]['value']", str(rec.get("unit", "")) or "unitless", lo=0.0)

    def value(self, name):
        rec = self.params.get(name)
        return None if rec is None else rec.get("value")

    def per_stream_bps(self, stream_class: str) -> float | None:
        """Per-stream ceiling (bits/s) of ``stream_class``; ``qemu`` uses the pooled
        fitted ceiling of the link model (:mod:`precopy.links`)."""
        if stream_class == "qemu":
            from .links import fitted_parameters
            return float(fitted_parameters()["parameters"]["per_stream_gbps[modern]"]["value"]) * 1e9
        x = self.value(f"per_stream_gbps[{stream_class}]")
        return None if x is None else x * 1e9

    def switchover_fixed_s(self, family: str) -> float:
        x = self.value(f"switchover_fixed_s[{family}]")
        if x is None:
            x = self.value("switchover_fixed_s[qemu]")
        return 0.0 if x is None else float(x)

    def switchover_per_gib_s(self, family: str) -> float:
        x = self.value(f"switchover_per_gib_s[{family}]")
        if x is None and family != "xen":
            x = self.value("switchover_per_gib_s[qemu]")
        return 0.0 if x is None else float(x)

    def device_fixed_s(self, family: str) -> float:
        """Fixed part of a stop-and-copy of non-pre-copyable device state (a vGPU's), s."""
        x = self.value(f"device_fixed_s[{family}]")
        return 0.0 if x is None else float(x)

    def device_rate_Bps(self, family: str) -> float | None:
        x = self.value(f"device_rate_mibps[{family}]")
        return None if x is None else x * MiB(1)

    @property
    def background_Bps(self) -> float:
        """Page writes of an idle guest (bytes/s), all on its background set."""
        x = self.value("background_mibps")
        return 0.0 if x is None else x * MiB(1)

    @property
    def background_set_bytes(self) -> float:
        """Size of the set of pages an idle guest keeps rewriting (bytes)."""
        x = self.value("background_set_mib")
        return 0.0 if x is None else x * MiB(1)

    def summary(self) -> str:
        """One line per parameter: value, unit and the rows it came from."""
        out = []
        for k, r in self.params.items():
            val = r.get("value")
            s = "None" if val is None else f"{val:.6g}"
            extra = f" (fallback: {r['fallback']})" if r.get("fallback") else ""
            out.append(f"{k:32s} {s:>12s} {r.get('unit', ''):10s} from {len(r.get('rows', []))} rows{extra}")
        return "\n".join(out)


@lru_cache(maxsize=4)
def _load(path: str) -> Calibration:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise ValueError(f"path {path}: cannot read the calibration file ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"path {path}: not a text (UTF-8 JSON) file: undecodable byte at offset {e.start}") \
            from None
    except json.JSONDecodeError as e:
        raise ValueError(f"path {path}: not a calibration file: invalid JSON at line {e.lineno}, column {e.colno}: "
                         f"{e.msg}") from None
    if not isinstance(doc, dict) or "parameters" not in doc:
        raise ValueError(f"path {path}: not a calibration file: no 'parameters' object")
    try:
        return Calibration(doc["parameters"])
    except ValueError as e:
        raise ValueError(f"path {path}: {e}") from None


def load(path=None) -> Calibration:
    """The stored calibration (``precopy/data/calibration.json``)."""
    return _load(str(CALIBRATION_PATH if path is None else v.file_name(path, "path")))


def save(cal: Calibration, path=None, *, meta: dict | None = None) -> Path:
    """Write ``cal`` as JSON (with ``meta``) and clear the load cache."""
    v.instance(cal, "cal", Calibration, "a precopy.calibration.Calibration")
    p = Path(CALIBRATION_PATH if path is None else v.output_file(path, "path"))
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"meta must be a dict (extra top-level entries of the file) or None; got {meta!r}")
    doc = {"about": "fitted by precopy.calibrate.fit (precopy calibrate); each parameter lists the published "
                    "rows it was fitted to (validation scenario names, or source ids of "
                    "precopy/data/migration_stream_throughput.csv)"}
    doc.update(meta or {})
    doc["parameters"] = cal.params
    p.write_text(json.dumps(doc, indent=1) + "\n")
    _load.cache_clear()
    return p
