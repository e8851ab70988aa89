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
#: Relative tolerance of the saturation model under QEMU's sync cadence (pages sent
#: taken as a random sample of the pages set) vs the kernel's mean: total time,
#: downtime and data sent.
CADENCE_SATURATION_RTOL = 0.05
#: Relative tolerance of Liu et al.'s geometric model vs the kernel in its regime.
GEOMETRIC_RTOL = 0.02
#: Relative tolerance for floating-point identities (bytes, times) in tests.
IDENTITY_RTOL = 1e-12

#: Set path (``precopy._dirtyset``): writes per page of a uniform range below which
#: the range is drawn write by write (the per-write law) instead of word by word.
#: Both are exact; this only picks the cheaper (one binomial per 64 pages against
#: one draw per write).
DIRTYSET_DENSE_WRITES_PER_PAGE = 0.25
#: Switch rule of the skip-off kernel: a hot/cold phase interval takes the set path
#: when its expected hot writes reach this many per hot page, or its cold writes
#: this many per page of memory.
DIRTYSET_MIN_WRITES_PER_PAGE = 1.0
#: The same for Zipf (alias-table) phases, whose set draw is Poissonised: per page
#: of the Zipf region.  At 16 the Poissonised law's variance of the number of
#: distinct pages exceeds the exact one by at most about 2.5 % (Zipf exponent 1,
#: the worst case), with the same mean.
DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE = 16.0
#: Sequential sweeps take the set path whenever page skip and XBZRLE are off (a
#: range set: exactly the pages the per-write path sets, with no random draws).
DIRTYSET_SEQUENTIAL = True

#: Largest Zipf region (pages) drawn through an alias table (16 bytes per page);
#: larger regions use the constant-memory draw of ``precopy._zipf`` (rejection-
#: inversion and a keyed permutation, about 80 ns a write instead of a few).
ZIPF_TABLE_MAX_PAGES = 2**24
#: Significance level of each statistical set-path-vs-per-write test (KS and
#: chi-square over many seeds); the seeds are fixed, so the tests are deterministic.
DIRTYSET_TEST_ALPHA = 1e-3

#: (The STEADY_* settings are compiled into the cached engine: numba does not see a change
#: here, so delete the package's ``__pycache__/analytic.*.nbi``/``.nbc`` files after one.)
#: Analytic engine (``precopy.analytic._engine``): once the pages a round sends are within
#: this relative distance of the fixed point of the round map, the rounds up to the next
#: event are added in closed form (the deviation shrinking geometrically) instead of one by
#: one.  The linearisation error is about STEADY_RTOL**2 / (2 (1 - slope)**2) rounds.
STEADY_RTOL = 1e-2
#: A map whose slope (contraction per round) is above this is iterated instead (near 1 the
#: deviation and the floor() jitter of the write count die out too slowly).
STEADY_MAX_SLOPE = 0.99
#: Rounds before the first event that could stop or change such a migration (timeout,
#: caps, schedule steps) that are run explicitly, so the stop rule itself decides.
STEADY_MARGIN = 2
#: Fast path vs full iteration (tests): relative tolerance on times, bytes and pages;
#: rounds are equal, or one apart where a cap on time falls within the last round.
STEADY_TEST_RTOL = 1e-5
