"""Input checks shared by every public constructor and function.

Every check raises ``ValueError`` naming the parameter, its unit and the allowed
range, before any compilation or allocation happens.  Nothing is clamped.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np


def fmt_range(lo, hi, lo_open, hi_open):
    """An interval as text, e.g. ``[0, inf)`` (for error messages)."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    def fmt(x):          # whole-number bounds exactly, others briefly
        return str(x) if isinstance(x, (int, np.integer)) and not isinstance(x, bool) else f"{x:g}"
    lo_s = "-inf" if lo is None else fmt(lo)
    hi_s = "inf" if hi is None else fmt(hi)
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


def page_size(value, name="page_bytes"):
    """A page size in bytes: a power of two from 512 B to 1 GiB (as :class:`precopy.VM`)."""
    page = integer(value, name, "bytes", lo=512, hi=2**30)
    if page & (page - 1):
        raise ValueError(f"{name} (bytes) must be a power of two in [512, 1073741824]; got {value!r}")
    return page


def text(value, name, *, empty=True):
    """A string (``empty=False``: a non-empty one)."""
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ValueError(f"{name} must be a {'' if empty else 'non-empty '}string; got {value!r}")
    return value


def seed(value, name="seed"):
    """A non-negative integer seed below 2**63."""
    return integer(value, name, "integer seed", lo=0, hi=2**63 - 1)


def flag(value, name):
    """True or False (a NumPy bool too); nothing else."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def instance(value, name, cls, what=None):
    """``value`` if it is an instance of ``cls``, else a ValueError naming ``name``."""
    if not isinstance(value, cls):
        raise ValueError(f"{name} must be {what or 'a ' + cls.__name__}; got {type(value).__name__}")
    return value


def callback(value, name):
    """None or a callable."""
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a callable or None; got {type(value).__name__}")
    return value


def file_name(value, name):
    """A file name (str or os.PathLike) as a ``pathlib.Path``; existence is the caller's to check."""
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name} must be a file name (str or os.PathLike); got {type(value).__name__}")
    return Path(value)


def output_file(value, name, *, writable: bool = False):
    """A file name to write (str or os.PathLike) as a ``pathlib.Path``: not a folder, in a folder
    that exists (and, with ``writable``, one the user may write in).  The command line checks
    its output flags with it too."""
    path = file_name(value, name)
    if path.is_dir():
        raise ValueError(f"{name} {path}: is a folder; give a file name (e.g. {path / 'out'}{path.suffix})")
    parent = path.parent
    if not parent.is_dir():
        what = "is a file, not a folder" if parent.exists() else "does not exist"
        raise ValueError(f"{name} {path}: cannot write it: its folder {parent} {what}")
    if writable and not os.access(parent, os.W_OK):
        raise ValueError(f"{name} {path}: cannot write it: no permission to write in {parent}")
    return path


def reals(value, name, unit, *, lo=None, hi=None, lo_open=False, hi_open=False, min_len=1, ndim=1):
    """A 1-D float64 array of finite numbers in the stated range (a copy)."""
    rng = _fmt_range(lo, hi, lo_open, hi_open)
    what = f"{name} ({unit}) must be a {ndim}-D array of finite numbers in {rng}"
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{what}; got {value!r}")
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}; got {type(value).__name__} ({e})") from None
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{what}; got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{what}; got shape {a.shape}")
    if a.size < min_len:
        raise ValueError(f"{what} with at least {min_len} value(s); got {a.size}")
    a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if lo is not None:
        bad |= (a < lo) | ((a == lo) if lo_open else False)
    if hi is not None:
        bad |= (a > hi) | ((a == hi) if hi_open else False)
    if bad.any():
        raise ValueError(f"{what}; got {a[bad].flat[0]!r} at index {int(np.flatnonzero(bad.ravel())[0])}")
    return a


def physical_memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def memory_budget(nbytes, name, value, what):
    """Refuse, before allocating, working memory beyond this machine's physical memory.

    ``nbytes`` is the estimated allocation, ``name``/``value`` the parameter that
    drives it and ``what`` the structure being built.  A ValueError names the
    parameter and the largest size the machine holds; nothing is clamped.
    """
    total = physical_memory_bytes()
    if total is not None and nbytes > total:
        raise ValueError(f"{name} ({value!r}) needs about {nbytes / 2**30:.1f} GiB of working memory for {what}, "
                         f"more than this machine's {total / 2**30:.1f} GiB of physical memory; "
                         f"allowed: at most {total / 2**30:.1f} GiB for {what}")


def cell_number(x, name, unit, *, lo=None, hi=None, lo_open=False, whole=False, default=None):
    """A table cell (text or number; None for an empty cell) as a checked number, or ``default``
    for an empty cell.  The ValueError says what the cell must be, without naming the column:
    callers (scenario, VM and operator tables) prefix their row and column."""
    if x is None:
        return default
    raw = x
    if isinstance(x, str):
        try:
            x = float(x.strip())
        except ValueError:
            raise ValueError(f"must be a number ({unit}); got {raw!r}") from None
    if whole:
        return integer(x, name, unit, lo=lo, hi=hi)
    return real(x, name, unit, lo=lo, hi=hi, lo_open=lo_open)
