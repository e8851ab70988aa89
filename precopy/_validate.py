"""Input checks shared by every public constructor and function.

Every check raises ``ValueError`` naming the parameter, its unit and the allowed
range, before any compilation or allocation happens.  Nothing is clamped.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def fmt_range(lo, hi, lo_open, hi_open):
    """An interval as text, e.g. ``[0, inf)`` (for error messages)."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"{left}{lo_s}, {hi_s}{right}"


_fmt_range = fmt_range


def real(value, name, unit, *, lo=None, hi=None, lo_open=False, hi_open=False,
         allow_inf=False):
    """Return ``value`` as a float after checking it lies in the stated range."""
    rng = _fmt_range(lo, hi, lo_open, hi_open)
    what = f"{name} ({unit}) must be a finite number in {rng}"
    if allow_inf:
        what = f"{name} ({unit}) must be a number in {rng}"
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{what}; got {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{what}; got {value!r}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{what}; got {value!r}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"{what}; got {value!r}")
    return v


def integer(value, name, unit, *, lo=None, hi=None):
    """Return ``value`` as an int after checking it is integral and in range."""
    rng = _fmt_range(lo, hi, False, False)
    what = f"{name} ({unit}) must be a whole number in {rng}"
    if isinstance(value, bool):
        raise ValueError(f"{what}; got {value!r}")
    if isinstance(value, (numbers.Integral, np.integer)):
        v = int(value)
    elif isinstance(value, (numbers.Real, np.floating)) and math.isfinite(value) and float(value).is_integer():
        v = int(value)
    else:
        raise ValueError(f"{what}; got {value!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{what}; got {value!r}")
    return v


def fraction(value, name):
    """A share in [0, 1]."""
    return real(value, name, "fraction", lo=0.0, hi=1.0)


def choice(value, name, options):
    """One of ``options`` (strings)."""
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def seed(value, name="seed"):
    """A non-negative integer seed below 2**63."""
    return integer(value, name, "integer seed", lo=0, hi=2**63 - 1)
