"""Numerical settings in one place: kernel compile flags and test tolerances.

No kernel hard-codes its own flags (the stumpy habit).  ``fastmath`` stays off:
the kernel compares floating-point times and counts writes with ``floor``, and
bit-identical results between the compiled kernel and the pure-Python twin in
``tests/naive.py`` depend on IEEE semantics.
"""

#: Options passed to every ``numba.njit`` in :mod:`precopy._kernel`.
NJIT = dict(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")

#: Initial capacity of the per-round table; grown (and the run repeated, which is
#: deterministic) if a migration needs more rounds.
ROUND_TABLE_CAPACITY = 64

#: Hard ceiling on rounds per migration, a guard against stop rules that never
#: fire on microscopic rounds; reaching it stops with ``stop_reason='round_limit'``.
MAX_ROUNDS_GUARD = 1_000_000

#: Relative tolerance of the kernel-mean vs saturation-model test.
SATURATION_RTOL = 0.02
#: Relative tolerance of Liu et al.'s geometric model vs the kernel in its regime.
GEOMETRIC_RTOL = 0.02
#: Relative tolerance for floating-point identities (bytes, times) in tests.
IDENTITY_RTOL = 1e-12
