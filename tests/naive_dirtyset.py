"""Slow, obviously correct twins of the set draws in :mod:`precopy._dirtyset`.

Each twin draws the pages of ``n`` writes one write at a time, with the
per-write law of :mod:`precopy._kernel` (splitmix64, 32-bit multiply-shift for
the page, the low 32 bits against the hot or alias threshold), and returns the
set of pages hit.  The splitmix64 stream is run with numpy's wrapping uint64
arithmetic, so one call draws all ``n`` numbers at once; :func:`splitmix64_block`
is checked against :func:`naive.splitmix64` (plain Python integers).

The set draw and these twins use the random stream differently, so they agree
in distribution, not draw for draw: ``tests/test_dirtyset.py`` compares them
over many seeds.
"""

from __future__ import annotations

import numpy as np

GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LO32 = np.uint64(0xFFFFFFFF)


def splitmix64_block(seed, n):
    """The first ``n`` splitmix64 outputs after state ``seed`` (uint64 array)."""
    with np.errstate(over="ignore"):
        s = np.uint64(seed) + GOLD * np.arange(1, n + 1, dtype=np.uint64)
        z = (s ^ (s >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def _range_pages(hi32, a, b):
    return np.uint64(a) + ((hi32 * np.uint64(b)) >> np.uint64(32))


def uniform_pages(seed, n, a, b):
    """Pages hit by ``n`` writes uniform over ``[a, a+b)`` (bool array over ``a+b`` pages)."""
    z = splitmix64_block(seed, n)
    hit = np.zeros(a + b, bool)
    hit[_range_pages(z >> np.uint64(32), a, b).astype(np.int64)] = True
    return hit


def hotcold_pages(seed, n, a, h, thr, n_pages):
    """Pages hit by ``n`` writes of the hot/cold law (bool array over ``n_pages``)."""
    z = splitmix64_block(seed, n)
    hi = z >> np.uint64(32)
    hot = (z & _LO32) < np.uint64(thr)
    p = np.where(hot, _range_pages(hi, a, h), _range_pages(hi, 0, n_pages))
    hit = np.zeros(n_pages, bool)
    hit[p.astype(np.int64)] = True
    return hit


def alias_pages(seed, n, a, b, alias_prob, alias_idx, n_pages):
    """Pages hit by ``n`` writes through an alias table (bool array over ``n_pages``)."""
    z = splitmix64_block(seed, n)
    i = ((z >> np.uint64(32)) * np.uint64(b)) >> np.uint64(32)
    i = i.astype(np.int64)
    keep = (z & _LO32) < np.asarray(alias_prob, np.uint64)[i]
    p = a + np.where(keep, i, np.asarray(alias_idx)[i])
    hit = np.zeros(n_pages, bool)
    hit[p] = True
    return hit


def sequential_pages(m, n, a, b, n_pages):
    """Pages hit by writes ``m .. m+n-1`` of a sweep over ``[a, a+b)``."""
    hit = np.zeros(n_pages, bool)
    for k in range(m, m + n):
        hit[a + k % b] = True
    return hit


def bitmap_to_bool(bm, n_pages):
    """A uint64 bitmap as a bool array of ``n_pages`` entries."""
    bits = np.unpackbits(bm.view(np.uint8), bitorder="little")
    return bits[:n_pages].astype(bool)
