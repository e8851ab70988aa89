"""Unit helpers, so that no call site multiplies by 1024 by hand.

Sizes are in bytes (binary prefixes: ``KiB``, ``MiB``, ``GiB``, ``TiB``; decimal
``KB``, ``MB``, ``GB`` for sources that use them).  Rates on the wire are in bits
per second (``Mbps``, ``Gbps`` are decimal, as network rates are); memory write
rates are in bytes per second (``MiBps``).  Times are in seconds (``ms``, ``us``).

The helpers take numbers; text such as ``"16GiB"`` (what a user types on the
command line) goes through the ``parse_*`` functions, which insist on a unit
wherever a bare number would be ambiguous (``"128"``: bytes? MiB? per second?).

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

import math
import numbers
import re

__all__ = [
    "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB",
    "kbps", "Mbps", "Gbps", "MiBps", "GiBps", "ms", "us",
    "parse_bytes", "parse_rate_bps", "parse_byte_rate", "parse_seconds", "to_MiB", "to_Gbps",
]

_KI = 1024


def _number(x, fn: str, param: str = "x"):
    """``x`` if it is a finite real number (int, float, numpy scalar); else a ValueError naming ``param``."""
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        if not math.isfinite(x):
            raise ValueError(f"{fn}({param}): {param} must be a finite number (|{param}| below 1.8e308); "
                             f"got {x!r}")
        return x
    hint = ""
    if isinstance(x, str) and not fn.startswith("to_"):
        parser = {"kbps": "parse_rate_bps", "Mbps": "parse_rate_bps", "Gbps": "parse_rate_bps",
                  "MiBps": "parse_byte_rate", "GiBps": "parse_byte_rate", "ms": "parse_seconds",
                  "us": "parse_seconds"}.get(fn, "parse_bytes")
        hint = f"; text with its unit goes through precopy.units.{parser}('{x.strip()}{fn}')"
    raise ValueError(f"{fn}({param}) takes a number; got {x!r} (a {type(x).__name__}){hint}")


def KiB(x: float) -> int | float:
    """``x`` kibibytes in bytes (an ``int`` when exact).

    Raises
    ------
    ValueError
        If ``x`` is not a number (a string such as ``"16"`` included).
    """
    return _exact(_number(x, "KiB") * _KI)


def MiB(x: float) -> int | float:
    """``x`` mebibytes in bytes (an ``int`` when exact)."""
    return _exact(_number(x, "MiB") * _KI**2)


def GiB(x: float) -> int | float:
    """``x`` gibibytes in bytes (an ``int`` when exact)."""
    return _exact(_number(x, "GiB") * _KI**3)


def TiB(x: float) -> int | float:
    """``x`` tebibytes in bytes (an ``int`` when exact)."""
    return _exact(_number(x, "TiB") * _KI**4)


def KB(x: float) -> int | float:
    """``x`` kilobytes (10**3) in bytes."""
    return _exact(_number(x, "KB") * 1e3)


def MB(x: float) -> int | float:
    """``x`` megabytes (10**6) in bytes."""
    return _exact(_number(x, "MB") * 1e6)


def GB(x: float) -> int | float:
    """``x`` gigabytes (10**9) in bytes."""
    return _exact(_number(x, "GB") * 1e9)


def kbps(x: float) -> float:
    """``x`` kilobits per second in bits per second."""
    return float(_number(x, "kbps")) * 1e3


def Mbps(x: float) -> float:
    """``x`` megabits per second in bits per second."""
    return float(_number(x, "Mbps")) * 1e6


def Gbps(x: float) -> float:
    """``x`` gigabits per second in bits per second."""
    return float(_number(x, "Gbps")) * 1e9


def MiBps(x: float) -> float:
    """``x`` MiB per second in bytes per second."""
    return float(_number(x, "MiBps")) * _KI**2


def GiBps(x: float) -> float:
    """``x`` GiB per second in bytes per second."""
    return float(_number(x, "GiBps")) * _KI**3


def ms(x: float) -> float:
    """``x`` milliseconds in seconds."""
    return float(_number(x, "ms")) * 1e-3


def us(x: float) -> float:
    """``x`` microseconds in seconds."""
    return float(_number(x, "us")) * 1e-6


def to_MiB(nbytes: float) -> float:
    """Bytes in MiB."""
    return _number(nbytes, "to_MiB", "nbytes") / _KI**2


def to_Gbps(bps: float) -> float:
    """Bits per second in Gbit/s."""
    return _number(bps, "to_Gbps", "bps") / 1e9


def _exact(v: float) -> int | float:
    f = float(v)
    return int(v) if f.is_integer() else f


# --- text with units (the command line) ------------------------------------------------------

#: sizes in bytes; K/M/G/T alone are binary (QEMU's and libvirt's "16G")
_SIZE_UNITS = {
    "B": 1, "b": None,
    "KiB": _KI, "MiB": _KI**2, "GiB": _KI**3, "TiB": _KI**4,
    "KB": 1e3, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "K": _KI, "k": _KI, "M": _KI**2, "G": _KI**3, "T": _KI**4,
}
#: bit prefixes (a lower-case b is a bit)
_BIT_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9, "t": 1e12, "T": 1e12}
_NUM = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z/]*)\s*$")

_SIZE_FORMS = "B, KiB, MiB, GiB, TiB (also K, M, G, T), KB, MB, GB, TB"
_BYTE_RATE_FORMS = "B/s, KiB/s, MiB/s, GiB/s, KB/s, MB/s, GB/s (or MiBps, ...), or bits: Mbps, Gbps"
_BIT_RATE_FORMS = "bps, kbps, Mbps, Gbps, GbE (or Gbit/s, Gb/s), or bytes: MiB/s, GB/s"
_TIME_FORMS = "us, ms, s, min, h"


def _label(name):
    """The flag or parameter name the messages carry: a non-empty str."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name (the label the messages carry) must be a non-empty str; got {name!r}")


def _split(text, name, what, forms, example):
    m = _NUM.match(str(text))
    if not m:
        raise ValueError(f"{name} must be {what} such as {example}; got {str(text)!r} "
                         f"(units: {forms})")
    value, unit = float(m.group(1)), m.group(2)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (below 1.8e308) with a unit; got {str(text)!r}")
    if unit == "" and value != 0.0:
        ex = example.split(",")[0].strip("' ")
        num = m.group(1)
        ex_unit = re.sub(r"^[0-9.]+", "", ex)
        raise ValueError(f"{name}: {str(text).strip()!r} has no unit, and a bare number is ambiguous; "
                         f"write it with one, e.g. '{num}{ex_unit}' (units: {forms})")
    return value, unit


def _size_factor(unit):
    if unit in _SIZE_UNITS:
        return _SIZE_UNITS[unit]
    low = unit.lower()
    for u in ("KiB", "MiB", "GiB", "TiB"):          # 'gib', 'GIB': unambiguous
        if low == u.lower():
            return _SIZE_UNITS[u]
    if low in ("byte", "bytes"):
        return 1
    return None


def parse_bytes(text: str, *, name: str = "size") -> int | float:
    """Parse a size such as ``"16GiB"``, ``"4KiB"``, ``"512MB"`` or ``"16G"`` (binary, as
    QEMU's ``-m 16G``) into bytes.

    A bare number is refused (``"16"``: bytes? GiB?), except ``"0"``; a bit unit
    (``"16Gb"``) is refused too.

    Raises
    ------
    ValueError
        naming ``name``, showing the accepted forms, when the text is not a size with a unit.

    Examples
    --------
    >>> parse_bytes("16GiB") == GiB(16)
    True
    >>> parse_bytes("4096B")
    4096
    >>> parse_bytes("16")
    Traceback (most recent call last):
    ...
    ValueError: size: '16' has no unit, and a bare number is ambiguous; write it with one, e.g. '16GiB' (units: B, KiB, MiB, GiB, TiB (also K, M, G, T), KB, MB, GB, TB)
    """
    _label(name)
    value, unit = _split(text, name, "a size in bytes", _SIZE_FORMS, "'16GiB', '4KiB' or '512MB'")
    if unit == "":
        return 0
    f = _size_factor(unit)
    if f is None:
        hint = " (a lower-case b is a bit; bytes are B)" if unit.endswith("b") else ""
        raise ValueError(f"{name} must be a size in bytes such as '16GiB', '4KiB' or '512MB'{hint}; "
                         f"got {str(text)!r} (units: {_SIZE_FORMS})")
    return _exact(value * f)


def _strip_per_second(unit):
    for suf in ("/s", "ps", "/sec"):
        if unit.endswith(suf) and len(unit) > len(suf):
            return unit[: -len(suf)], True
    return unit, False


def _bit_factor(unit):
    """bits/s per unit for 'Gbps', 'Gbit/s', 'Gb/s', 'GbE', 'G' (link speeds); else None."""
    low = unit
    for tail in ("bit/s", "bits/s", "bps", "b/s", "bE", "be"):
        if low.endswith(tail) and low[: -len(tail)] in _BIT_PREFIX:
            return _BIT_PREFIX[low[: -len(tail)]]
    if unit.lower() in ("gbe", "gbps", "mbps", "kbps", "tbps", "bps"):
        return _BIT_PREFIX[unit[0] if unit.lower() != "bps" else ""]
    return None


def parse_rate_bps(text: str, *, name: str = "rate") -> float:
    """Parse a link rate such as ``"25GbE"``, ``"10Gbps"``, ``"940Mbit/s"`` (bits per second);
    byte rates (``"1.25GB/s"``, ``"128MiB/s"``) are converted to bits.

    Raises
    ------
    ValueError
        naming ``name``, with the accepted forms, for a bare number or an unknown unit.

    Examples
    --------
    >>> parse_rate_bps("25GbE")
    25000000000.0
    >>> parse_rate_bps("1.25GB/s")
    10000000000.0
    """
    _label(name)
    value, unit = _split(text, name, "a rate in bits per second", _BIT_RATE_FORMS, "'25GbE', '10Gbps' or '940Mbps'")
    if unit == "":
        return 0.0
    f = _bit_factor(unit)
    if f is None and unit in ("G", "M", "T", "k", "K"):           # '10G': a link speed
        f = _BIT_PREFIX[unit]
    if f is None:
        base, per_s = _strip_per_second(unit)
        g = _size_factor(base) if per_s else None
        if g is not None and base not in ("b",):
            f = 8.0 * g
    if f is None:
        raise ValueError(f"{name} must be a rate in bits per second such as '25GbE', '10Gbps' or '940Mbps'; "
                         f"got {str(text)!r} (units: {_BIT_RATE_FORMS})")
    return value * f


def parse_byte_rate(text: str, name: str = "rate") -> int | float:
    """Parse a memory or disk rate such as ``"200MiB/s"``, ``"1GiBps"`` or ``"100MB/s"`` into
    bytes per second; bit rates (``"10Gbps"``) are converted to bytes.

    A bare number is refused (``"10000"``: bytes/s? MiB/s?), except ``"0"``.

    Examples
    --------
    >>> parse_byte_rate("200MiB/s") == MiB(200)
    True
    >>> parse_byte_rate("8Gbps")
    1000000000.0
    """
    _label(name)
    value, unit = _split(text, name, "a rate in bytes per second", _BYTE_RATE_FORMS,
                         "'200MiB/s', '1GiB/s' or '100MB/s'")
    if unit == "":
        return 0
    base, per_s = _strip_per_second(unit)
    f = _size_factor(base) if per_s else None
    if f is not None:
        return _exact(value * f)
    b = _bit_factor(unit)
    if b is not None:
        return value * b / 8.0
    hint = " (add '/s': a rate is per second)" if not per_s and _size_factor(unit) else ""
    raise ValueError(f"{name} must be a rate in bytes per second such as '200MiB/s', '1GiB/s' or '100MB/s'{hint}; "
                     f"got {str(text)!r} (units: {_BYTE_RATE_FORMS})")


_TIME_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}
_TIME = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµ]*)\s*$")


def parse_seconds(text: str, name: str = "time") -> float:
    """Parse a duration such as ``"300ms"``, ``"0.3s"``, ``"50us"`` or ``"2min"`` into seconds.

    A bare number is refused (``"300"``: seconds? ms?), except ``"0"``.

    Examples
    --------
    >>> parse_seconds("300ms")
    0.3
    >>> parse_seconds("300")
    Traceback (most recent call last):
    ...
    ValueError: time: '300' has no unit, and a bare number is ambiguous; write it with one, e.g. '300ms' (units: us, ms, s, min, h)
    """
    _label(name)
    m = _TIME.match(str(text).lower())
    if not m or (m.group(2) and m.group(2) not in _TIME_UNITS):
        raise ValueError(f"{name} must be a time such as '300ms' or '0.3s'; got {str(text)!r} (units: {_TIME_FORMS})")
    if not m.group(2):
        if float(m.group(1)) == 0.0:
            return 0.0
        raise ValueError(f"{name}: {str(text).strip()!r} has no unit, and a bare number is ambiguous; "
                         f"write it with one, e.g. '{m.group(1)}ms' (units: {_TIME_FORMS})")
    return float(m.group(1)) * _TIME_UNITS[m.group(2)]
