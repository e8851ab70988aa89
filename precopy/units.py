"""Unit helpers, so that no call site multiplies by 1024 by hand.

Sizes are in bytes (binary prefixes: ``KiB``, ``MiB``, ``GiB``, ``TiB``; decimal
``KB``, ``MB``, ``GB`` for sources that use them).  Rates on the wire are in bits
per second (``Mbps``, ``Gbps`` are decimal, as network rates are); memory write
rates are in bytes per second (``MiBps``).  Times are in seconds (``ms``, ``us``).

Examples
--------
>>> from precopy.units import GiB, Gbps, ms
>>> GiB(16) // KiB(4)
4194304
>>> Gbps(10) / 8 / GiB(1)           # 10 Gbit/s is about 1.16 GiB/s
1.1641532182693481
>>> ms(300)
0.3
"""

from __future__ import annotations

import re

__all__ = [
    "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB",
    "kbps", "Mbps", "Gbps", "MiBps", "GiBps", "ms", "us",
    "parse_bytes", "parse_rate_bps", "parse_byte_rate", "parse_seconds", "to_MiB", "to_Gbps",
]

_KI = 1024


def KiB(x: float) -> int | float:
    """``x`` kibibytes in bytes (an ``int`` when exact)."""
    return _exact(x * _KI)


def MiB(x: float) -> int | float:
    """``x`` mebibytes in bytes (an ``int`` when exact)."""
    return _exact(x * _KI**2)


def GiB(x: float) -> int | float:
    """``x`` gibibytes in bytes (an ``int`` when exact)."""
    return _exact(x * _KI**3)


def TiB(x: float) -> int | float:
    """``x`` tebibytes in bytes (an ``int`` when exact)."""
    return _exact(x * _KI**4)


def KB(x: float) -> int | float:
    """``x`` kilobytes (10**3) in bytes."""
    return _exact(x * 1e3)


def MB(x: float) -> int | float:
    """``x`` megabytes (10**6) in bytes."""
    return _exact(x * 1e6)


def GB(x: float) -> int | float:
    """``x`` gigabytes (10**9) in bytes."""
    return _exact(x * 1e9)


def kbps(x: float) -> float:
    """``x`` kilobits per second in bits per second."""
    return float(x) * 1e3


def Mbps(x: float) -> float:
    """``x`` megabits per second in bits per second."""
    return float(x) * 1e6


def Gbps(x: float) -> float:
    """``x`` gigabits per second in bits per second."""
    return float(x) * 1e9


def MiBps(x: float) -> float:
    """``x`` MiB per second in bytes per second."""
    return float(x) * _KI**2


def GiBps(x: float) -> float:
    """``x`` GiB per second in bytes per second."""
    return float(x) * _KI**3


def ms(x: float) -> float:
    """``x`` milliseconds in seconds."""
    return float(x) * 1e-3


def us(x: float) -> float:
    """``x`` microseconds in seconds."""
    return float(x) * 1e-6


def to_MiB(nbytes: float) -> float:
    """Bytes in MiB."""
    return nbytes / _KI**2


def to_Gbps(bps: float) -> float:
    """Bits per second in Gbit/s."""
    return bps / 1e9


def _exact(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": _KI, "kib": _KI, "kb": 1e3,
    "m": _KI**2, "mib": _KI**2, "mb": 1e6,
    "g": _KI**3, "gib": _KI**3, "gb": 1e9,
    "t": _KI**4, "tib": _KI**4, "tb": 1e12,
}
_RATE_UNITS = {
    "bps": 1, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9, "tbps": 1e12,
    "gbe": 1e9, "g": 1e9, "m": 1e6,
}
_NUM = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z/]*)\s*$")


def parse_bytes(text: str, *, name: str = "size") -> int | float:
    """Parse a size such as ``"16GiB"``, ``"4KiB"``, ``"512MB"`` or ``"4096"``.

    Raises
    ------
    ValueError
        naming ``name`` when the text is not a size.

    Examples
    --------
    >>> parse_bytes("16GiB") == GiB(16)
    True
    """
    m = _NUM.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _SIZE_UNITS:
        raise ValueError(
            f"{name} must be a size in bytes such as '16GiB', '4KiB' or '512MB' "
            f"(units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB); got {text!r}"
        )
    return _exact(float(m.group(1)) * _SIZE_UNITS[unit])


def parse_rate_bps(text: str, *, name: str = "rate") -> float:
    """Parse a link rate such as ``"25GbE"``, ``"10Gbps"``, ``"940Mbps"``; bits/s.

    Examples
    --------
    >>> parse_rate_bps("25GbE")
    25000000000.0
    """
    m = _NUM.match(str(text))
    unit = (m.group(2).lower().replace("/s", "ps").replace("bit", "b") if m else None)
    if not m or unit not in _RATE_UNITS:
        raise ValueError(
            f"{name} must be a rate in bits per second such as '25GbE', '10Gbps' "
            f"or '940Mbps'; got {text!r}"
        )
    return float(m.group(1)) * _RATE_UNITS[unit]


def parse_byte_rate(text: str, name: str = "rate") -> int | float:
    """Parse a memory or disk rate such as ``"200MiB/s"``, ``"1GiBps"`` or ``"4096"``
    (bytes per second).

    Examples
    --------
    >>> parse_byte_rate("200MiB/s") == MiB(200)
    True
    """
    t = str(text).strip()
    for suf in ("/s", "ps"):
        if t.lower().endswith(suf):
            t = t[: -len(suf)]
            break
    return parse_bytes(t, name=name)


_TIME = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us)?\s*$")


def parse_seconds(text: str, name: str = "time") -> float:
    """Parse a duration such as ``"300ms"``, ``"0.3s"``, ``"50us"`` or ``"2"`` (seconds).

    Examples
    --------
    >>> parse_seconds("300ms")
    0.3
    """
    m = _TIME.match(str(text).lower())
    if not m:
        raise ValueError(f"{name} must be a time such as '300ms' or '0.3s'; got {text!r}")
    return float(m.group(1)) * {"ms": 1e-3, "us": 1e-6, "s": 1.0, None: 1.0}[m.group(2)]
