"""The analytic engine's steady-state fast path against full iteration.

Once the pages a round sends are near the fixed point of the round map, the engine
adds the rounds up to the next event in closed form (``precopy.analytic._steady``) and
runs the last ones explicitly.  Here: the fast path against full iteration (the private
``_full=True``) on random configurations across policies, controls and stop reasons,
within the named tolerances of ``precopy.config``:

* the stop reason is the same;
* rounds are equal, or one apart when a cap on time (``timeout``, a completion
  timeout) ends pre-copy: the skipped rounds' time is exact only to ``STEADY_TEST_RTOL``,
  so the cap can fall on the other side of a round boundary; times and bytes then
  differ by at most one steady round;
* otherwise times and bytes agree within ``STEADY_TEST_RTOL``, and the pages left for
  the stop-and-copy within two pages plus that tolerance: which of the two write
  counts of the floor() jitter the last round has is not kept by the closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

import precopy as pc
from precopy import analytic as A
from precopy.config import STEADY_TEST_RTOL

P = pc.policies
C = P.Controls

N_PAGES = 2**19          # 2 GiB of 4 KiB pages
FIELDS = ("total_time_s", "precopy_time_s", "bytes_sent")

POLICIES = {
    "qemu_uncapped": P.QEMU(max_bandwidth_bps=None),
    "qemu_default": P.QEMU(),
    "qemu_short_timeout": P.QEMU(max_bandwidth_bps=None, timeout_s=600.0),
    "xen": P.Xen(),
    "xen_legacy": P.XenLegacy(),                       # page skip: full iteration
    "vmware": P.VMware(),
    "simgrid": P.SimGrid(),
    "custom_caps": P.Custom(max_rounds=400, max_data_factor=40.0, downtime_target_s=0.05, header_bytes=8),
    "custom_data": P.Custom(max_data_factor=25.0, downtime_target_s=0.02),
    "nova_steps": P.QEMU(max_bandwidth_bps=None, controls=C(
        downtime_schedule=[(0, 0.05), (200, 0.1), (400, 0.2), (800, 0.4)], completion_timeout_s=1500,
        completion_action="force")),
    "completion_abort": P.QEMU(max_bandwidth_bps=None, controls=C(completion_timeout_s=900)),
    "completion_postcopy": P.QEMU(max_bandwidth_bps=None, controls=C(completion_timeout_s=700,
                                                                     completion_action="postcopy")),
    "progress_timeout": P.QEMU(max_bandwidth_bps=None, controls=C(progress_timeout_s=150)),
}


def _configs(seed, n):
    """Random hot/cold configurations over converging and non-converging regimes."""
    rng = np.random.default_rng(seed)
    w = 10 ** rng.uniform(2.5, 6.0, n)
    g = 10 ** rng.uniform(np.log10(1.2e8), np.log10(1.2e10), n)
    H = rng.choice([0, 2**10, 2**14, 2**16, 2**18], n)
    f = np.where(H > 0, rng.choice([0.5, 0.9, 0.99], n), 0.0)
    return w, g, H.astype(float), f


def _check(fast, full, rate_Bps):
    assert np.array_equal(fast.stop_reason, full.stop_reason)
    dr = fast.n_rounds - full.n_rounds
    time_cap = np.isin(full.stop_reason, ["timeout", "aborted", "forced", "postcopy"])
    assert np.all((dr == 0) | ((np.abs(dr) == 1) & time_cap)), np.unique(dr)
    same = dr == 0
    for f in FIELDS:
        a, b = getattr(fast, f), getattr(full, f)
        np.testing.assert_allclose(a[same], b[same], rtol=STEADY_TEST_RTOL, err_msg=f)
    # one round apart: at most one steady round of time (its pages are left for the stop-and-copy)
    one = ~same
    round_s = (full.final_bytes + 2 * 4096.0) / rate_Bps
    assert np.all(np.abs(fast.precopy_time_s - full.precopy_time_s)[one] <= 1.01 * round_s[one])
    np.testing.assert_allclose(fast.final_bytes, full.final_bytes, rtol=STEADY_TEST_RTOL, atol=2 * 4104.0)
    return dr


@pytest.mark.parametrize("model", [A.saturation_model, A.hotcold_model], ids=["saturation", "hotcold"])
@pytest.mark.parametrize("name", list(POLICIES))
def test_fast_path_equals_full_iteration(model, name):
    pol = POLICIES[name]
    w, g, H, f = _configs(sum(map(ord, name)), 300)
    fast = model(w, g, N_PAGES, H, f, policy=pol)
    full = model(w, g, N_PAGES, H, f, policy=pol, _full=True)
    rate = g if pol.max_bandwidth_bps is None else np.minimum(g, pol.max_bandwidth_bps / 8)
    _check(fast, full, rate)


def test_the_sample_covers_the_stop_reasons_and_long_runs():
    """The random sample above reaches every stop reason the fast path must respect,
    with migrations of thousands of rounds (else the comparison proves little)."""
    seen, longest = set(), 0
    for name, pol in POLICIES.items():
        w, g, H, f = _configs(sum(map(ord, name)), 300)
        r = A.saturation_model(w, g, N_PAGES, H, f, policy=pol)
        seen |= set(r.stop_reason.tolist())
        longest = max(longest, int(r.n_rounds.max()))
    assert {"downtime_limit", "timeout", "max_rounds", "max_data", "dirty_pages", "forced", "aborted",
            "postcopy"} <= seen
    assert longest > 1000


def test_fast_path_identical_across_runs():
    w, g, H, f = _configs(7, 500)
    pol = POLICIES["nova_steps"]
    a = A.saturation_model(w, g, N_PAGES, H, f, policy=pol)
    b = A.saturation_model(w, g, N_PAGES, H, f, policy=pol)
    for k in A.AnalyticArrays.__dataclass_fields__:
        assert np.array_equal(getattr(a, k), getattr(b, k)), k


def test_long_timeout_run_is_exact():
    """A migration that iterates ~10^4 identical rounds to the one-hour timeout: the
    fast path gives the same rounds and times (the configuration of the benchmark
    grid that took longest)."""
    w, g = 35707.86, 1.4112e8
    pol = P.QEMU(max_bandwidth_bps=None)
    fast = A.saturation_model(w, g, 2**21, 2**18, 0.9, policy=pol)
    full = A.saturation_model(w, g, 2**21, 2**18, 0.9, policy=pol, _full=True)
    assert full.stop_reason.item() == "timeout" and full.n_rounds.item() > 5000
    assert fast.n_rounds.item() == full.n_rounds.item()
    assert fast.total_time_s.item() == pytest.approx(full.total_time_s.item(), rel=STEADY_TEST_RTOL)
