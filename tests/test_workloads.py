"""Workload models: distributions, traces and the trace file format."""

from pathlib import Path

import numpy as np
import pytest

import precopy as pc
from precopy import workloads as W

DATA = pc.datasets.data_dir()          # the packaged datasets (precopy/data)
VM = pc.VM(memory_bytes=pc.MiB(16))
ALIAS_ATOL = 2.0 ** -31          # alias thresholds are rounded to 1/2**32


@pytest.mark.parametrize("wl", [W.Uniform(writes_per_s=1), W.HotCold(wws_bytes=pc.MiB(1), writes_per_s=1),
                                W.Zipf(s=1.3, writes_per_s=1, region_bytes=pc.MiB(4)),
                                W.Sequential(region_bytes=pc.MiB(2), writes_per_s=1)], ids=type)
def test_page_probabilities_sum_to_one(wl):
    p = wl.page_probabilities(VM, seed=3)
    assert p.shape == (VM.n_pages,) and np.all(p >= 0)
    assert p.sum() == pytest.approx(1.0, rel=1e-12)


def test_hotcold_share():
    wl = W.HotCold(wws_bytes=pc.MiB(1), hot_fraction=0.9, writes_per_s=1, offset_bytes=pc.MiB(2))
    p = wl.page_probabilities(VM)
    a, h = pc.MiB(2) // 4096, pc.MiB(1) // 4096
    cold_share_on_hot = 0.1 * h / VM.n_pages
    assert p[a:a + h].sum() == pytest.approx(0.9 + cold_share_on_hot, rel=1e-9)


def test_alias_table_reproduces_distribution():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(500) * 0.3)
    thr, al = W.alias_table(p)
    np.testing.assert_allclose(W.alias_probabilities(thr, al), p, atol=ALIAS_ATOL)


def test_zipf_empirical_frequencies_follow_the_table():
    vm = pc.VM(memory_bytes=pc.KiB(4) * 64)
    wl = W.Zipf(s=1.0, writes_per_s=1e5)
    tr = W.Trace.record(wl, vm, duration_s=2.0, seed=9)
    counts = np.bincount(tr.pages, minlength=vm.n_pages) / len(tr.pages)
    p = wl.page_probabilities(vm, seed=9)
    # 200,000 draws: binomial standard error <= sqrt(p/n) ~ 0.0015
    np.testing.assert_allclose(counts, p, atol=0.006)


def test_sequential_sweeps_in_order_and_wraps():
    vm = pc.VM(memory_bytes=pc.KiB(4) * 64)
    tr = W.Trace.record(W.Sequential(region_bytes=pc.KiB(4) * 10, offset_bytes=pc.KiB(4) * 5, writes_per_s=100),
                        vm, duration_s=0.25)
    # writes in [0, 0.25): the 25th falls at exactly 0.25 s and is not recorded
    assert tr.pages.tolist() == [5 + (k % 10) for k in range(24)]
    np.testing.assert_allclose(tr.times_s, np.arange(1, 25) / 100)


def test_phased_alternates_and_averages():
    wl = W.Phased([(W.Idle(), 1.0), (W.Uniform(writes_per_s=100), 1.0)])
    assert wl.writes_per_s == 50
    tr = W.Trace.record(wl, pc.VM(memory_bytes=pc.MiB(1)), duration_s=4.0)
    frac = tr.times_s % 2.0
    assert not ((frac > 0) & (frac < 1.0)).any()      # nothing inside an idle phase
    assert len(tr.pages) == 199                       # 100 per busy second; the write at 4.0 s is outside [0, 4)


@pytest.mark.usefixtures("per_write_path")     # the recording is write by write
def test_record_then_replay_gives_identical_skip_off_run():
    vm = pc.VM(memory_bytes=pc.MiB(64))
    wl = W.HotCold(wws_bytes=pc.MiB(8), writes_per_s=40_000)
    tr = W.Trace.record(wl, vm, duration_s=20.0, seed=4)
    pol = pc.policies.Xen()
    link = pc.Link(rate_bps=pc.Gbps(1))
    a = pc.simulate(vm, wl, link, pol, seed=4)
    b = pc.simulate(vm, tr, link, pol, seed=0)
    assert a.precopy_time_s < 20.0
    assert a.rounds["pages_dirtied"].tolist() == b.rounds["pages_dirtied"].tolist()
    assert a.total_time_s == b.total_time_s


def test_example_trace_file_loads_and_replays():
    tr = W.Trace.load(DATA / "example_trace.npz", loop=True)
    assert tr.duration_s == pytest.approx(5.0) and len(tr.pages) > 1000
    vm = pc.VM(memory_bytes=pc.MiB(64))
    r = pc.simulate(vm, tr, pc.Link(rate_bps=pc.Gbps(1)), "qemu", seed=0)
    assert r.rounds["writes"][0] > 0
    with pytest.raises(ValueError, match="page_bytes"):
        pc.simulate(pc.VM(memory_bytes=pc.MiB(256), page_bytes=8192), tr, pc.Link(rate_bps=1e9))


def test_trace_formats_round_trip(tmp_path):
    tr = W.Trace(times_s=np.array([0.0, 0.1, 0.1, 0.7]), pages=np.array([1, 5, 1, 9]), duration_s=1.0)
    tr.save(tmp_path / "t.npz")
    back = W.Trace.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.times_s, tr.times_s)
    np.testing.assert_array_equal(back.pages, tr.pages)
    bm = np.zeros((2, 16), bool)
    bm[0, [3, 4]] = True
    bm[1, [0]] = True
    np.savez(tmp_path / "b.npz", bitmaps=np.packbits(bm, axis=1, bitorder="little"), interval_s=0.5, n_pages=16)
    b = W.Trace.load(tmp_path / "b.npz")
    assert b.pages.tolist() == [3, 4, 0]
    np.testing.assert_allclose(b.times_s, [0.0, 0.25, 0.5])
    assert b.duration_s == 1.0
    np.savez(tmp_path / "bad.npz", foo=np.zeros(3))
    with pytest.raises(ValueError, match="times_s and pages"):
        W.Trace.load(tmp_path / "bad.npz")


def test_trace_input_checks():
    with pytest.raises(ValueError, match="non-decreasing"):
        W.Trace(times_s=[0.2, 0.1], pages=np.array([1, 2]))
    with pytest.raises(ValueError, match="equal length"):
        W.Trace(times_s=[0.1], pages=np.array([1, 2]))
    with pytest.raises(ValueError, match="duration_s"):
        W.Trace(times_s=[0.1, 0.5], pages=np.array([1, 2]), duration_s=0.5)


# --- seed dependence is a property of the workload class ----------------------------------------

def _all_subclasses(cls):
    out = []
    for c in cls.__subclasses__():
        out += [c] + _all_subclasses(c)
    return out


SAMPLES = {
    W.Idle: W.Idle(),
    W.Uniform: W.Uniform(writes_per_s=100),
    W.HotCold: W.HotCold(wws_bytes=pc.MiB(1), writes_per_s=100),
    W.Zipf: W.Zipf(s=1.1, writes_per_s=100, region_bytes=pc.MiB(4)),
    W.Sequential: W.Sequential(region_bytes=pc.MiB(1), writes_per_s=100),
    W.Phased: W.Phased([(W.Zipf(writes_per_s=10), 1.0), (W.Idle(), 1.0)]),
    W.Trace: W.Trace(times_s=[0.0, 0.1], pages=[1, 2]),
}


def _tables_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("cls", [c for c in _all_subclasses(W.Workload) if c.__module__ == W.__name__],
                         ids=lambda c: c.__name__)
def test_seed_dependence_is_declared_by_every_workload_class(cls):
    wl = SAMPLES[cls]            # a new workload class needs a sample here
    same = _tables_equal(wl.compile(VM, seed=1), wl.compile(VM, seed=2))
    assert same == (not wl.seed_dependent)


def test_phased_is_seed_dependent_exactly_when_a_phase_is():
    assert W.Phased([(W.Zipf(writes_per_s=10), 1.0)]).seed_dependent
    assert not W.Phased([(W.HotCold(wws_bytes=pc.MiB(1), writes_per_s=10), 1.0)]).seed_dependent


class _RandomOffset(W.HotCold):
    """A workload whose hot set moves with the seed (not on any hand-kept list)."""

    seed_dependent = True

    def _phases(self, vm, rng):
        ph = super()._phases(vm, rng)
        ph[0].a = int(rng.integers(0, vm.n_pages - ph[0].b))
        return ph


def test_prepared_compiles_a_seed_dependent_workload_for_each_seed():
    wl = _RandomOffset(wws_bytes=pc.MiB(1), writes_per_s=100)
    prep = pc.Prepared(VM, wl, pc.Link(rate_bps=pc.Gbps(1)), "qemu")
    offsets = {int(prep.write_process(s).a[0]) for s in (1, 2, 3)}
    assert len(offsets) == 3
    hc = pc.Prepared(VM, W.HotCold(wws_bytes=pc.MiB(1), writes_per_s=100), pc.Link(rate_bps=pc.Gbps(1)), "qemu")
    assert hc.write_process(1) is hc.write_process(2)      # not seed-dependent: compiled once


def test_uint64_page_frame_numbers_load_and_replay(tmp_path):
    """An .npz of u64 page frame numbers (the common format) replays as int64 pages."""
    pages = np.array([0, 7, 2**14 - 1, 3], np.uint64)
    np.savez(tmp_path / "u64.npz", times_s=np.array([0.0, 0.1, 0.2, 0.3]), pages=pages, duration_s=0.5)
    tr = W.Trace.load(tmp_path / "u64.npz")
    assert tr.pages.dtype == np.int64 and tr.pages.tolist() == [0, 7, 2**14 - 1, 3]
    r = pc.simulate(pc.VM(memory_bytes=pc.MiB(64)), tr, pc.Link(rate_bps=1e9), "xen")
    assert r.rounds["writes"].sum() >= 1
    with pytest.raises(ValueError, match=r"pages \(page index\) must be in \[0, 255\]"):
        pc.simulate(pc.VM(memory_bytes=pc.MiB(1)), tr, pc.Link(rate_bps=1e9), "xen")


def test_packed_bitmap_rows_must_match_n_pages():
    with pytest.raises(ValueError, match=r"ceil\(n_pages / 8\) = 2"):
        W.Trace.from_bitmaps(np.zeros((2, 3), np.uint8), interval_s=0.1, n_pages=16)


def test_phase_and_trace_duration_bounds_are_inclusive():
    W.Phased([(W.Idle(), W.MIN_PHASE_S), (W.Idle(), W.MAX_PHASE_S)])
    W.Trace(times_s=[0.0], pages=[1], duration_s=W.MIN_PHASE_S, loop=True)
    for bad in (W.MIN_PHASE_S / 2, W.MAX_PHASE_S * 2):
        with pytest.raises(ValueError, match=r"duration_s \(s of guest time\) must be .* in \[1e-06, 1e\+09\]"):
            W.Phased([(W.Idle(), bad)])
