"""Sweeps: the same numbers as one simulate() per point, on any number of threads."""

import numpy as np
import pytest

import precopy as pc
from precopy import sweeps


VM = pc.VM(memory_bytes=pc.MiB(256))
WWS = [pc.MiB(4), pc.MiB(32), pc.MiB(128)]
LINKS = sweeps.ethernet_links([1, 10])
POLICIES = {"Xen v2": pc.policies.Xen(), "VMware": pc.policies.VMware(timeout_s=60.0)}


@pytest.fixture(scope="module")
def sweep():
    return sweeps.wws_sweep(VM, WWS, 40_000, links=LINKS, policies=POLICIES, seed=3)


def test_wws_sweep_equals_one_simulation_per_point(sweep):
    assert sweep.shape == (2, 2, 3)
    assert list(sweep.axes) == ["policy", "link", "wws_bytes"]
    for i, pol in enumerate(POLICIES.values()):
        for j, link in enumerate(LINKS.values()):
            for k, w in enumerate(WWS):
                r = pc.simulate(VM, pc.workloads.HotCold(wws_bytes=w, hot_fraction=0.9, writes_per_s=40_000),
                                link, pol, seed=3)
                assert sweep.downtime_s[i, j, k] == r.downtime_s
                assert sweep.total_time_s[i, j, k] == r.total_time_s
                assert sweep.bytes_sent[i, j, k] == r.bytes_sent
                assert sweep.n_rounds[i, j, k] == r.n_rounds
                assert sweep.converged[i, j, k] == r.converged
                assert sweep.stop_reason[i, j, k] == r.stop_reason


def test_sweep_has_both_outcomes(sweep):
    # the scenario is chosen so that some points converge and some do not
    assert sweep.converged.any() and not sweep.converged.all()


def test_result_does_not_depend_on_threads(sweep):
    one = sweeps.wws_sweep(VM, WWS, 40_000, links=LINKS, policies=POLICIES, seed=3, threads=1)
    for m in sweeps.METRICS:
        assert np.array_equal(getattr(one, m), getattr(sweep, m))


def test_sel_and_rows(sweep):
    sub = sweep.sel(policy="VMware", link="10 GbE")
    assert sub.shape == (3,) and list(sub.axes) == ["wws_bytes"]
    assert np.array_equal(sub.downtime_s, sweep.downtime_s[1, 1])
    assert sub.params["policy"] == "VMware"
    rows = sweep.rows()
    assert len(rows) == 12 and rows[0]["policy"] == "Xen v2" and rows[0]["wws_bytes"] == WWS[0]
    with pytest.raises(ValueError, match="policy must be one of"):
        sweep.sel(policy="nope")
    with pytest.raises(ValueError, match="axis names"):
        sweep.sel(colour="red")


def test_page_skip_and_timeout_overrides():
    sw = sweeps.wws_sweep(VM, [pc.MiB(32)], 40_000, links=LINKS, policies=["qemu"], page_skip=True,
                          timeout_s=50.0, seed=1)
    pol = pc.policies.QEMU(page_skip=True, timeout_s=50.0)
    r = pc.simulate(VM, pc.workloads.HotCold(wws_bytes=pc.MiB(32), writes_per_s=40_000), LINKS["1 GbE"], pol, seed=1)
    assert sw.downtime_s[0, 0, 0] == r.downtime_s
    assert sw.params["timeout_s"] == 50.0


def test_convergence_grid_equals_simulate():
    vm = pc.VM(memory_bytes=pc.MiB(64))
    w, r = [1e3, 3e5], [pc.Gbps(1), pc.Gbps(10)]
    g = sweeps.convergence_grid(vm, w, r, "simgrid", timeout_s=30.0, seed=2)
    assert g.shape == (2, 2)
    for i, x in enumerate(w):
        for j, y in enumerate(r):
            res = pc.simulate(vm, pc.workloads.HotCold(wws_bytes=pc.MiB(8), writes_per_s=x),
                              pc.Link(rate_bps=y), pc.policies.SimGrid(timeout_s=30.0), seed=2)
            assert g.downtime_s[i, j] == res.downtime_s
            assert g.converged[i, j] == res.converged
    # the fastest link and slowest writer converges, the reverse does not
    assert g.converged[0, 1] and not g.converged[1, 0]


def test_run_all_progress_in_order_and_tuples():
    vm = pc.VM(memory_bytes=pc.MiB(16))
    specs = [(vm, pc.workloads.Uniform(writes_per_s=1e3 * k), pc.Link(rate_bps=pc.Gbps(1)), "xen") for k in range(5)]
    seen = []
    out = sweeps.run_all(specs, seed=4, threads=2, progress=lambda d, n: seen.append((d, n)))
    assert seen == [(i, 5) for i in range(1, 6)]
    assert [r.total_time_s for r in out] == [pc.simulate(*s, seed=4).total_time_s for s in specs]


def test_invalid_scenario_raises_before_anything_runs():
    vm = pc.VM(memory_bytes=pc.GiB(1))
    ok = (vm, pc.workloads.Idle(), pc.Link(rate_bps=pc.Gbps(10)), "xen")
    bad = (vm, pc.workloads.Idle(), pc.Link(rate_bps=pc.Gbps(1)), pc.policies.Xen(timeout_s=1.0))
    seen = []
    with pytest.raises(ValueError, match="timeout_s"):
        sweeps.run_all([ok, bad], progress=lambda d, n: seen.append(d))
    assert seen == []
    with pytest.raises(ValueError, match=r"scenarios\[0\]"):
        sweeps.run_all(["qemu"])


@pytest.mark.parametrize("kwargs, match", [
    ({"wws_bytes": [-1]}, "wws_bytes"),
    ({"wws_bytes": []}, "wws_bytes"),
    ({"writes_per_s": -5}, "writes_per_s"),
    ({"hot_fraction": 1.5}, "hot_fraction"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"page_skip": "yes"}, "page_skip"),
    ({"links": [3]}, "links"),
    ({"policies": ["nope"]}, "policy"),
    ({"threads": 0}, "threads"),
])
def test_wws_sweep_rejects_bad_input(kwargs, match):
    args = dict(vm=VM, wws_bytes=WWS, writes_per_s=1e3, links=LINKS, policies=POLICIES)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sweeps.wws_sweep(**args)


def test_convergence_grid_analytic_equals_saturation_per_point():
    """engine='analytic': the vectorised saturation model, equal to analytic.saturation at
    each point (full iteration) within the fast path's tolerance; converging and not."""
    from precopy.config import STEADY_TEST_RTOL
    vm = pc.VM(memory_bytes=pc.MiB(512), zero_fraction=0.1)
    w, r = [1e3, 3e4, 3e5], [pc.Gbps(1), pc.Gbps(10)]
    # the array models iterate whole passes: compare with the one-scenario model on the pass cadence
    pol = pc.policies.QEMU(max_bandwidth_bps=None, timeout_s=600.0, sync_cadence="pass")
    so = pc.Switchover(device_state_bytes=pc.MiB(8), resume_s=0.01)
    g = sweeps.convergence_grid(vm, w, r, pol, wws_bytes=pc.MiB(32), hot_fraction=0.8, switchover=so,
                                engine="analytic")
    assert g.shape == (3, 2) and g.params["engine"] == "analytic"
    assert g.converged.any() and not g.converged.all()
    for i, x in enumerate(w):
        for j, y in enumerate(r):
            one = pc.analytic.saturation(vm, pc.workloads.HotCold(wws_bytes=pc.MiB(32), hot_fraction=0.8,
                                                                  writes_per_s=x),
                                         pc.Link(rate_bps=y), pol, switchover=so)
            assert g.n_rounds[i, j] == one.n_rounds
            assert g.stop_reason[i, j] == one.stop_reason
            assert g.converged[i, j] == one.converged
            for m in ("downtime_s", "total_time_s", "precopy_time_s", "bytes_sent"):
                assert getattr(g, m)[i, j] == pytest.approx(getattr(one, m), rel=STEADY_TEST_RTOL), m
    with pytest.raises(ValueError, match="engine"):
        sweeps.convergence_grid(vm, w, r, pol, engine="exact")


def test_convergence_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="rate_bps"):
        sweeps.convergence_grid(VM, [1e3], [0.0])
    with pytest.raises(ValueError, match="writes_per_s"):
        sweeps.convergence_grid(VM, [float("nan")], [1e9])
    with pytest.raises(ValueError, match="vm"):
        sweeps.convergence_grid("vm", [1e3], [1e9])


def test_defaults():
    assert list(sweeps.ethernet_links()) == ["1 GbE", "10 GbE", "25 GbE"]
    assert sweeps.ethernet_links()["25 GbE"].rate_bps == pc.Gbps(25)
    pols = sweeps.default_policies()
    assert pols["QEMU"].max_bandwidth_bps == pc.policies.QEMU().max_bandwidth_bps
    assert pols["QEMU (no cap)"].max_bandwidth_bps is None
    assert pols["Xen legacy"].page_skip


def test_progress_exception_abandons_the_rest():
    ran = []

    class Counting(pc.Prepared):
        def run(self, seed=0):
            ran.append(self.link.rate_bps)
            return super().run(seed)

    vm = pc.VM(memory_bytes=pc.GiB(1))     # each run takes milliseconds (10 million page writes)
    scen = [Counting(vm, pc.workloads.Uniform(writes_per_s=1e6), pc.Link(rate_bps=pc.Gbps(1 + k / 100)), "xen")
            for k in range(40)]

    class Stop(Exception):
        pass

    def progress(done, total):
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        sweeps.run_all(scen, threads=2, progress=progress)
    assert 2 <= len(ran) < 40


def test_model_sweep_is_compare_at_every_point():
    from precopy import analytic
    vm = pc.VM(memory_bytes=pc.MiB(128))
    w = [2e3, 5e4]
    wls = [pc.workloads.HotCold(wws_bytes=pc.MiB(8), writes_per_s=x) for x in w]
    link = pc.Link(rate_bps=pc.Gbps(10))
    ms = sweeps.model_sweep(vm, wls, link, "qemu", param="writes_per_s", values=w, seeds=2, threads=2)
    assert ms.values == tuple(w) and sorted(ms.models) == sorted(analytic.MODELS)
    for i, wl in enumerate(wls):
        c = analytic.compare(vm, wl, link, "qemu", seeds=2)
        assert ms.simulated["total_time_s"][i] == c.simulated["total_time_s"]
        assert ms.simulated["downtime_s_std"][i] == c.simulated["downtime_s_std"]
        for m, r in c.models.items():
            assert ms.models[m]["bytes_sent"][i] == r.bytes_sent
            assert ms.models[m]["converged"][i] == r.converged
        assert ms.ratio("saturation")[i] == c.models["saturation"].total_time_s / c.simulated["total_time_s"]
    with pytest.raises(ValueError, match="model must be one of"):
        ms.ratio("nope")


def test_model_sweep_lists_models_that_do_not_apply():
    vm = pc.VM(memory_bytes=pc.MiB(64))
    wls = [pc.workloads.Zipf(s=1.0, writes_per_s=1e4)]
    ms = sweeps.model_sweep(vm, wls, pc.Link(rate_bps=pc.Gbps(10)), "xen", param="writes_per_s", values=[1e4],
                            seeds=1)
    assert "hotcold" in ms.skipped and "hotcold" not in ms.models and "saturation" in ms.models


def test_model_sweep_rejects_bad_input():
    vm = pc.VM(memory_bytes=pc.MiB(64))
    wl = pc.workloads.Uniform(writes_per_s=1e3)
    link = pc.Link(rate_bps=pc.Gbps(1))
    with pytest.raises(ValueError, match="equal length"):
        sweeps.model_sweep(vm, [wl], link, param="writes_per_s", values=[1, 2])
    with pytest.raises(ValueError, match="models"):
        sweeps.model_sweep(vm, [wl], link, param="writes_per_s", values=[1], models=["exact"])
    with pytest.raises(ValueError, match="param"):
        sweeps.model_sweep(vm, [wl], link, param="", values=[1])


# --- backends: processes, threads, Dask -------------------------------------------------------

def _grid(**kw):
    vm = pc.VM(memory_bytes=pc.MiB(64))
    return sweeps.convergence_grid(vm, [2e3, 4e4, 3e5], [pc.Gbps(1), pc.Gbps(10)], "qemu", timeout_s=30.0,
                                   seed=5, **kw)


def _same(a, b):
    for m in sweeps.METRICS:
        x, y = getattr(a, m), getattr(b, m)
        assert x.dtype == y.dtype and np.array_equal(x, y), m
    assert a.axes == b.axes and a.params == b.params


@pytest.fixture(scope="module")
def serial_grid():
    return _grid(n_jobs=1)


def test_processes_and_threads_equal_serial_bit_for_bit(serial_grid):
    _same(serial_grid, _grid(n_jobs=2))                      # loky worker processes
    _same(serial_grid, _grid(n_jobs=2, backend="threading"))
    _same(serial_grid, _grid(threads=3))
    _same(serial_grid, _grid(n_jobs=-1))


def test_dask_local_cluster_equals_serial_bit_for_bit(serial_grid):
    distributed = pytest.importorskip("distributed")
    import joblib
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        seen = []
        _same(serial_grid, _grid(client=client, progress=lambda d, n: seen.append((d, n))))
        assert seen == [(i, 6) for i in range(1, 7)]
        with joblib.parallel_config(backend="dask"):
            _same(serial_grid, _grid(n_jobs=-1))
        _same(serial_grid, _grid(backend="dask"))
        _same(serial_grid, _grid(client=client, progress=True))       # Dask's own progress bar


def test_dask_runs_strided_shares_in_input_order():
    # more items than tasks: each task runs a strided share; results come back in input order
    distributed = pytest.importorskip("distributed")
    from precopy.sweeps import DASK_TASKS_PER_THREAD, parallel_map
    items = list(range(-37, 0))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        seen = []
        assert parallel_map(abs, items, client=client, progress=lambda d, n: seen.append((d, n))) \
            == [abs(x) for x in items]
        assert len(seen) == 2 * DASK_TASKS_PER_THREAD                 # one tick per task
        assert [d for d, _ in seen] == sorted({d for d, _ in seen}) and seen[-1] == (37, 37)
        assert parallel_map(abs, [-5], client=client) == [5]
        assert parallel_map(abs, [], client=client) == []


def test_workers_load_the_numba_cache_instead_of_compiling():
    # a fresh worker process (as loky and Dask start them) imports the kernel and loads it from the cache
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    vm = pc.VM(memory_bytes=pc.MiB(4))
    pc.simulate(vm, pc.workloads.Uniform(writes_per_s=1e3), pc.Link(rate_bps=pc.Gbps(1)), "xen")  # cache on disk
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as ex:
        hits, misses = ex.submit(_kernel_stats_after_one_run).result()
    assert misses == 0 and hits >= 1


def _kernel_stats_after_one_run():
    from precopy import _kernel
    vm = pc.VM(memory_bytes=pc.MiB(4))
    pc.simulate(vm, pc.workloads.Uniform(writes_per_s=1e3), pc.Link(rate_bps=pc.Gbps(1)), "xen")
    st = _kernel.simulate_kernel.stats
    return sum(st.cache_hits.values()), sum(st.cache_misses.values())


def test_progress_bar_and_bad_parallel_arguments(serial_grid, capsys):
    _same(serial_grid, _grid(n_jobs=1, progress=True))
    with pytest.raises(ValueError, match="n_jobs"):
        _grid(n_jobs=0)
    with pytest.raises(ValueError, match="n_jobs"):
        _grid(n_jobs=1.5)
    with pytest.raises(ValueError, match="progress"):
        _grid(n_jobs=1, progress="yes")
    with pytest.raises(ValueError, match="backend"):
        _grid(backend=3)
    with pytest.raises(ValueError, match="client"):
        _grid(client=object())


def test_parallel_map_keeps_order():
    assert sweeps.parallel_map(abs, range(-20, 0), n_jobs=2) == list(range(20, 0, -1))
    assert sweeps.parallel_map(abs, [], n_jobs=2) == []


def test_predict_table_on_two_processes_equals_serial():
    rows = [{"scenario": f"r{k}", "memory_mib": 128, "link_gbps": 10, "workload": "hotcold", "wws_mib": 16,
             "write_mibps": 50 * k, "policy": "qemu", "seeds": 2} for k in range(1, 5)]
    assert pc.predict_table(rows, n_jobs=2) == pc.predict_table(rows)


_CALLS = []


def _record(x):
    _CALLS.append(x)
    return -x


def test_costly_items_start_first_and_results_keep_input_order():
    from precopy.sweeps import parallel_map
    _CALLS.clear()
    items = [1, 2, 3, 4, 5]
    assert parallel_map(_record, items, n_jobs=1, cost=[0.0, 5.0, 1.0, 5.0, 9.0]) == [-1, -2, -3, -4, -5]
    assert _CALLS == [5, 2, 4, 3, 1]                       # longest first, ties in input order
    assert parallel_map(_record, items, n_jobs=2, cost=[1, 2, 3, 4, 5]) == [-1, -2, -3, -4, -5]
    with pytest.raises(ValueError, match="cost must hold one estimate per item"):
        parallel_map(_record, items, n_jobs=1, cost=[1.0])
    with pytest.raises(ValueError, match="cost"):
        parallel_map(_record, items, n_jobs=1, cost=[1.0, 2.0, -1.0, 0.0, 0.0])
