"""Sweeps: many migrations over a grid of parameters, on every core or on a Dask cluster.

A sweep builds one scenario per grid point and runs them all with the same seed
(common random numbers, so curves are smooth and a difference between two
points is the parameter's effect, not noise).  The seed belongs to the
scenario, never to the worker, and every point is independent of every other,
so the result is the same bit for bit whatever runs it:

* ``n_jobs`` (as in scikit-learn: ``-1`` every CPU, ``-2`` all but one,
  ``None`` the active :func:`joblib.parallel_config`'s count, 1 outside one)
  worker processes of joblib's ``loky`` backend by default.  A worker receives
  the scenario (plain dataclasses) and the name of a function of this package;
  it imports the package, and numba loads the compiled kernels from its on-disk
  cache instead of compiling them again (a pickled compiled function would be
  recompiled in every worker);
* ``backend=`` any joblib backend: ``"threading"`` (the kernel releases the
  GIL), or ``"dask"`` inside a :class:`distributed.Client`;
* ``client=`` a :class:`distributed.Client`: the scenarios become Dask futures
  on its cluster (install the ``precopy[dask]`` extra).

``progress=True`` draws a tqdm bar (a widget in notebooks), or Dask's own
progress bar with ``client=``; a callable ``progress(done, total)`` is called
as scenarios finish.  :func:`parallel_map` is the one engine all of them use
(:func:`precopy.predict.predict_table` and :func:`precopy.drain.compare` too).

:func:`wws_sweep` varies the writable working-set size across links and
policies; :func:`convergence_grid` varies guest write rate and link bandwidth.
Both return a :class:`Sweep`: arrays shaped like the grid plus its axes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from . import _validate as v
from .links import Link
from .policies import Policy, get as get_policy
from .results import MigrationResult
from .simulate import Prepared
from .units import Gbps
from .vm import VM, Switchover
from .workloads import HotCold

__all__ = ["Sweep", "ModelSweep", "parallel_map", "run_all", "wws_sweep", "convergence_grid", "model_sweep",
           "ethernet_links",
           "default_policies",
           "METRICS"]

#: Per-point outcomes a :class:`Sweep` stores (all :class:`MigrationResult` fields).
METRICS = ("downtime_s", "total_time_s", "precopy_time_s", "bytes_sent", "n_rounds", "converged",
           "stop_reason")


def ethernet_links(gbe=(1, 10, 25), fitted: bool = True) -> dict[str, Link]:
    """One migration stream on Ethernet links, MTU 1500: ``{"10 GbE": Link, ...}``.

    Parameters
    ----------
    gbe : sequence of float, default (1, 10, 25)
        Nominal line rates in Gbit/s.
    fitted : bool, default True
        Use the link model fitted to published migration throughputs
        (:func:`precopy.links.profile`: stack efficiency and the ceiling of one
        stream, about 15 Gbit/s, so one stream on 25 GbE gets about 15 Gbit/s).
        False: the nominal rate with Ethernet/TCP framing only.

    Returns
    -------
    dict of str to Link

    Examples
    --------
    >>> links = ethernet_links()
    >>> list(links)
    ['1 GbE', '10 GbE', '25 GbE']
    >>> links["25 GbE"].goodput_bps < ethernet_links(fitted=False)["25 GbE"].goodput_bps
    True
    """
    from .links import profile
    if not isinstance(fitted, bool):
        raise ValueError(f"fitted must be True or False; got {fitted!r}")
    if isinstance(gbe, (str, bytes)) or not hasattr(gbe, "__iter__"):
        raise ValueError(f"gbe must be a sequence of line rates (Gbit/s) in [1e-06, 10000]; got {gbe!r}")
    out = {}
    for g in gbe:
        g = v.real(g, "gbe", "Gbit/s", lo=1e-6, hi=1e4)
        out[f"{g:g} GbE"] = profile(Gbps(g)).link() if fitted else Link(rate_bps=Gbps(g))
    return out


def default_policies() -> dict[str, Policy]:
    """The stop rules compared throughout the notebooks, each with its system's defaults.

    QEMU appears twice: with its own 128 MiB/s ``max-bandwidth`` default, and as
    libvirt usually runs it, with no bandwidth cap (see
    ``docs/reference.md``).

    Returns
    -------
    dict of str to Policy
        Display label to policy, in a fixed order.

    Examples
    --------
    >>> list(default_policies())
    ['QEMU', 'QEMU (no cap)', 'Xen legacy', 'Xen v2', 'VMware', 'SimGrid']
    """
    return {
        "QEMU": get_policy("qemu"),
        "QEMU (no cap)": get_policy("qemu", max_bandwidth_bps=None),
        "Xen legacy": get_policy("xen-legacy"),
        "Xen v2": get_policy("xen"),
        "VMware": get_policy("vmware"),
        "SimGrid": get_policy("simgrid"),
    }


@dataclass(frozen=True)
class Sweep:
    """Outcomes of a grid of migrations.

    Attributes
    ----------
    axes : dict of str to tuple
        Grid axes in order, name to values (numbers, or labels for policies and
        links).  Every metric array has shape ``tuple(len(x) for x in axes.values())``.
    downtime_s, total_time_s, precopy_time_s, bytes_sent : ndarray of float
        Per-point results (seconds, bytes).  For a point that did not converge
        these are the values of the forced stop-and-copy.
    n_rounds : ndarray of int
    converged : ndarray of bool
        False where a cap (rounds, data, timeout) ended pre-copy, not the stop rule.
    stop_reason : ndarray of str
    params : dict
        The fixed inputs (plain numbers and strings), for manifests and titles.
    """

    axes: dict
    downtime_s: np.ndarray
    total_time_s: np.ndarray
    precopy_time_s: np.ndarray
    bytes_sent: np.ndarray
    n_rounds: np.ndarray
    converged: np.ndarray
    stop_reason: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple:
        return tuple(len(x) for x in self.axes.values())

    def sel(self, **labels) -> "Sweep":
        """The sub-sweep at one value of some axes (those axes are dropped).

        Examples
        --------
        >>> import precopy as pc
        >>> sw = wws_sweep(pc.VM(memory_bytes=pc.MiB(64)), [pc.MiB(1), pc.MiB(4)], 1e4,
        ...                links=ethernet_links([10]), policies={"Xen v2": pc.policies.Xen()})
        >>> sw.sel(policy="Xen v2", link="10 GbE").shape
        (2,)
        """
        idx = []
        axes = {}
        params = dict(self.params)
        for name, values in self.axes.items():
            if name in labels:
                want = labels[name]
                matches = [i for i, x in enumerate(values) if x == want]
                if not matches:
                    raise ValueError(f"{name} must be one of {list(values)!r}; got {want!r}")
                idx.append(matches[0])
                params[name] = want
            else:
                idx.append(slice(None))
                axes[name] = values
        unknown = set(labels) - set(self.axes)
        if unknown:
            raise ValueError(f"axis names must be among {list(self.axes)}; got {sorted(unknown)}")
        t = tuple(idx)
        return Sweep(axes, *(getattr(self, m)[t] for m in METRICS), params=params)

    def rows(self) -> list[dict]:
        """One dict per grid point: axis values and metrics (plain Python values)."""
        out = []
        names = list(self.axes)
        for index in np.ndindex(*self.shape):
            row = {n: _plain(self.axes[n][i]) for n, i in zip(names, index)}
            row.update({m: _plain(getattr(self, m)[index]) for m in METRICS})
            out.append(row)
        return out


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    return x


def _threads(threads, n):
    if threads is None:
        return max(1, min(os.cpu_count() or 1, n))
    return v.integer(threads, "threads", "worker threads", lo=1, hi=1024)


def _check_n_jobs(n_jobs):
    if n_jobs is None:
        return None
    n = v.integer(n_jobs, "n_jobs", "worker processes (-1: every CPU)", lo=-1024, hi=1024)
    if n == 0:
        raise ValueError("n_jobs (worker processes) must be a non-zero integer in [-1024, 1024] "
                         "(-1: every CPU, -2: all but one); got 0")
    return n


def _progress_callback(progress, total, desc):
    """``(callback(done), close())`` for ``progress`` in {None, False, True, callable}."""
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc=desc, unit="scenario", leave=False)

        def tick(done):
            bar.update(done - bar.n)
        return tick, bar.close
    if callable(progress):
        return (lambda done: progress(done, total)), lambda: None
    raise ValueError(f"progress must be True, False, None or a callable(done, total); got {progress!r}")


def parallel_map(fn, items, *, n_jobs: int | None = -1, backend: str | None = None, client=None,
                 progress=None, desc: str = "precopy", threads: int | None = None, cost=None) -> list:
    """``[fn(x) for x in items]`` on worker processes, threads or a Dask cluster, in input order.

    Parameters
    ----------
    fn : callable
        A function defined at module level (workers import it by name).
    items : sequence
        Its arguments, one per call; each must pickle (plain dataclasses and arrays do).
    n_jobs : int or None, default -1
        Workers, as in scikit-learn: ``-1`` one per CPU, ``-2`` all but one,
        ``None`` the count of the active :func:`joblib.parallel_config` (1
        outside one).  One worker, or one item, runs in this process.
    backend : str or None
        A joblib backend name (``"loky"``, ``"threading"``, ``"dask"``...);
        default: the active :func:`joblib.parallel_config`'s, ``"loky"`` outside one.
    client : distributed.Client, optional
        Run every item as a Dask future on this client's cluster instead
        (``n_jobs`` and ``backend`` are then not used).
    progress : bool, callable(done, total) or None
        True: a tqdm progress bar (Dask's progress bar with ``client``); a
        callable is called with the count of finished items.  An exception it
        raises abandons the items not yet started.
    desc : str
        Label of the progress bar.
    threads : int, optional
        Run on this many threads of this process (the ``"threading"`` backend).
    cost : sequence of float, optional
        An estimate of each item's work (any unit).  The items then start
        longest first (results still in input order), so that a few long
        items do not run alone at the end while the other workers idle.

    Returns
    -------
    list
        ``fn(item)`` for each item, in input order.  Identical whatever the
        backend and the number of workers, as long as ``fn`` is deterministic.

    Examples
    --------
    >>> parallel_map(abs, [-1, 2, -3], n_jobs=1)
    [1, 2, 3]
    """
    if not callable(fn):
        raise ValueError(f"fn must be a callable taking one item; got {type(fn).__name__}")
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise ValueError(f"items must be an iterable of work items; got {type(items).__name__}")
    if not isinstance(desc, str):
        raise ValueError(f"desc (the progress label) must be a str; got {type(desc).__name__}")
    items = list(items)
    n = len(items)
    n_jobs = _check_n_jobs(n_jobs)
    if backend is not None and not isinstance(backend, str):
        raise ValueError(f"backend must be a joblib backend name such as 'loky', 'threading' or 'dask'; "
                         f"got {backend!r}")
    if backend is not None:
        import joblib.parallel as jp
        known = sorted(set(jp.BACKENDS) | set(getattr(jp, "EXTERNAL_BACKENDS", {})))
        if backend not in known:
            raise ValueError(f"backend must be a registered joblib backend ({', '.join(known)}); got {backend!r}")
    order = _longest_first(cost, n)
    if order is not None:
        out = parallel_map(fn, [items[i] for i in order], n_jobs=n_jobs, backend=backend, client=client,
                           progress=progress, desc=desc, threads=threads)
        back = [None] * n
        for k, i in enumerate(order):
            back[i] = out[k]
        return back
    tick, close = _progress_callback(progress, n, desc)
    try:
        if client is not None:
            return _dask_map(fn, items, client, progress, tick)
        if threads is not None:
            backend, n_jobs = "threading", _threads(threads, n)
        import joblib
        # the backend goes through parallel_config: Parallel(backend="dask") fails on some joblib/dask pairs
        with joblib.parallel_config(backend=backend) if backend is not None else _nullcontext():
            workers = joblib.effective_n_jobs(n_jobs)
            if workers == 1 or n <= 1:
                out = []
                for i, x in enumerate(items):
                    out.append(fn(x))
                    if tick is not None:
                        tick(i + 1)
                return out
            par = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
            gen = par(joblib.delayed(fn)(x) for x in items)
            out = []
            try:
                for r in gen:
                    out.append(r)
                    if tick is not None:
                        tick(len(out))
            except BaseException:
                import warnings
                with warnings.catch_warnings():       # joblib reports the tasks it cancels: that is the point
                    warnings.simplefilter("ignore")
                    gen.close()
                raise
            return out
    finally:
        close()


def _longest_first(cost, n):
    """Indices in decreasing ``cost`` (ties in input order), or None without costs."""
    if cost is None:
        return None
    c = v.reals(cost, "cost", "estimated work per item", lo=0.0)
    if c.shape != (n,):
        raise ValueError(f"cost must hold one estimate per item ({n}); got {c.size}")
    return [int(i) for i in np.argsort(-c, kind="stable")]


def _work_estimate(spec) -> float:
    """Page writes a scenario may simulate: the guest's write rate x its policy's timeout (a bound
    that orders the long runs first; cheap to compute, no simulation)."""
    if isinstance(spec, Prepared):
        wl, pol = spec.workload, spec.policy
    else:
        wl, pol = spec[1], spec[3]
    wps = float(getattr(wl, "writes_per_s", 0.0) or 0.0)
    timeout = float(getattr(pol, "timeout_s", 3600.0) or 3600.0)
    return wps * timeout


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


#: Dask tasks per worker thread: each task runs a strided share of the items, so
#: the scheduler handles a few dozen tasks per thread instead of one per scenario
#: (its per-task cost competed with the workers for the cores), and, with the
#: items in longest-first order, every task gets a similar mix of cheap and
#: expensive scenarios.
DASK_TASKS_PER_THREAD = 16


def _run_share(fn, share):
    """``[fn(x) for x in share]`` (module level: Dask workers import it by name)."""
    return [fn(x) for x in share]


def _dask_map(fn, items, client, progress, tick):
    try:
        from distributed import as_completed
    except ImportError:
        raise ValueError("client= needs dask.distributed; install the precopy[dask] extra") from None
    if not hasattr(client, "map") or not hasattr(client, "gather"):
        raise ValueError(f"client must be a distributed.Client; got {type(client).__name__}")
    n = len(items)
    try:
        threads = sum(client.nthreads().values())
    except Exception:          # a client without workers yet: one task per item, as before
        threads = n
    k = max(1, min(n, DASK_TASKS_PER_THREAD * max(1, threads)))
    shares = [items[i::k] for i in range(k)]           # task i runs items i, i + k, i + 2k, ...
    futures = client.map(_run_share, [fn] * k, shares, pure=False)
    try:
        if progress is True:
            from distributed import progress as dask_progress
            dask_progress(futures)
        elif tick is not None:
            size = {f.key: len(sh) for f, sh in zip(futures, shares)}
            done = 0
            for fut in as_completed(futures):
                done += size[fut.key]
                tick(done)
        parts = client.gather(futures)
    except BaseException:
        client.cancel(futures)
        raise
    out = [None] * n
    for i, part in enumerate(parts):
        out[i::k] = part
    return out


def _check_scenarios(scenarios):
    if isinstance(scenarios, (str, bytes)) or not hasattr(scenarios, "__iter__"):
        raise ValueError(f"scenarios must be a sequence of precopy.Prepared or (vm, workload, link, policy"
                         f"[, switchover]) tuples; got {type(scenarios).__name__}")
    items = list(scenarios)
    for i, s in enumerate(items):
        if isinstance(s, Prepared):
            continue
        if not isinstance(s, tuple) or len(s) not in (4, 5):
            raise ValueError(f"scenarios[{i}] must be a precopy.Prepared or a tuple (vm, workload, link, "
                             f"policy[, switchover]); got {s!r}")
        try:
            Prepared(*s)      # validates; its zeroed buffers are never touched and freed at once
        except ValueError as e:
            raise ValueError(f"scenarios[{i}]: {e}") from None
    return items


def _run_one(job):
    """Run one scenario tuple with its seed (module level: workers import it by name)."""
    spec, seed = job
    return (spec if isinstance(spec, Prepared) else Prepared(*spec)).run(seed)


def run_all(scenarios, seed: int = 0, threads: int | None = None, progress=None, *, n_jobs: int | None = -1,
            backend: str | None = None, client=None) -> list[MigrationResult]:
    """Run many scenarios on every core (or a Dask cluster), results in input order.

    Parameters
    ----------
    scenarios : sequence of Prepared or of tuples
        Each item a tuple ``(vm, workload, link, policy)`` or ``(vm, workload,
        link, policy, switchover)``, or a :class:`precopy.Prepared`.  Tuples are
        all validated before anything runs, then prepared one by one on the
        workers, so that only as many page bitmaps exist at once as there are
        workers.  A :class:`~precopy.Prepared` owns its buffers and runs on a
        thread of this process: with any of them the sweep runs on threads.
    seed : int, default 0
        Seed of every scenario (common random numbers).  It belongs to the
        scenario, never to a worker.
    threads : int or None
        Run on this many threads instead of processes (the kernel releases the GIL).
    progress : bool, callable(done, total) or None
        True: a progress bar (tqdm; Dask's with ``client``).  A callable is
        called in order after each finished scenario, from the calling thread;
        an exception it raises abandons the rest: scenarios not yet started are
        cancelled, running ones finish, and the exception propagates.
    n_jobs : int or None, default -1
        Worker processes as in scikit-learn (see :func:`parallel_map`).
    backend : str or None
        A joblib backend name; default ``"loky"`` (processes).
    client : distributed.Client, optional
        Run on this Dask cluster.

    Returns
    -------
    list of MigrationResult
        The same, bit for bit, whatever ``n_jobs``, ``threads``, ``backend`` or ``client``.

    Raises
    ------
    ValueError
        For an invalid scenario, before any of them runs.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.MiB(16))
    >>> specs = [(vm, pc.workloads.Idle(), pc.Link(rate_bps=pc.Gbps(g)), "xen") for g in (1, 10)]
    >>> [r.n_rounds for r in run_all(specs, seed=1)]      # an idle guest: one pass, nothing left
    [1, 1]
    """
    seed = v.seed(seed)
    items = _check_scenarios(scenarios)
    if threads is None and any(isinstance(s, Prepared) for s in items):
        threads = _threads(None, len(items))
    cost = None if len(items) < 2 else [_work_estimate(s) for s in items]
    return parallel_map(_run_one, [(s, seed) for s in items], n_jobs=n_jobs, backend=backend, client=client,
                        progress=progress, desc="scenarios", threads=threads, cost=cost)


def _collect(results, shape, axes, params) -> Sweep:
    def arr(name, dtype):
        return np.array([getattr(r, name) for r in results], dtype=dtype).reshape(shape)
    return Sweep(
        axes=axes,
        downtime_s=arr("downtime_s", np.float64),
        total_time_s=arr("total_time_s", np.float64),
        precopy_time_s=arr("precopy_time_s", np.float64),
        bytes_sent=arr("bytes_sent", np.float64),
        n_rounds=arr("n_rounds", np.int64),
        converged=arr("converged", bool),
        stop_reason=arr("stop_reason", object),
        params=params,
    )


def _labelled(things, kind, name, convert):
    """A dict label -> object from a dict, a sequence, or one object."""
    if isinstance(things, dict):
        items = list(things.items())
    elif isinstance(things, (kind, str)):
        items = [(None, things)]
    else:
        try:
            items = [(None, t) for t in things]
        except TypeError:
            raise ValueError(f"{name} must be a {kind.__name__}, a sequence or a dict of them; "
                             f"got {things!r}") from None
    out = {}
    for label, t in items:
        t = convert(t)
        out[str(label) if label is not None else _auto_label(t)] = t
    if not out:
        raise ValueError(f"{name} must hold at least one {kind.__name__}; got none")
    return out


def _auto_label(t):
    if isinstance(t, Link):
        return f"{t.rate_bps / 1e9:g} GbE"
    return t.name


def _as_link(x):
    if not isinstance(x, Link):
        raise ValueError(f"links must be precopy.Link objects; got {x!r}")
    return x


def _as_policy(x, name="policies"):
    if isinstance(x, str):
        try:
            return get_policy(x)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    if not isinstance(x, Policy):
        raise ValueError(f"{name} must be precopy.policies.Policy objects or policy names; got {x!r}")
    return x


def _timeout(policy, timeout_s):
    if timeout_s is None:
        return policy
    return policy.with_(timeout_s=timeout_s)


def wws_sweep(vm: VM, wws_bytes, writes_per_s: float, links=None, policies=None, *,
              hot_fraction: float = 0.9, seed: int = 0, timeout_s: float | None = None,
              page_skip: bool | None = None, switchover: Switchover | None = None,
              threads: int | None = None, progress=None, n_jobs: int | None = -1, backend: str | None = None,
              client=None) -> Sweep:
    """Downtime and total time against writable working-set size.

    The guest runs a :class:`~precopy.workloads.HotCold` workload: a share
    ``hot_fraction`` of ``writes_per_s`` page writes falls on a hot set of each
    size in ``wws_bytes``, the rest anywhere in memory.

    Parameters
    ----------
    vm : VM
        The guest.
    wws_bytes : sequence of int
        Hot-set sizes in bytes, each a multiple of the page size.
    writes_per_s : float
        Guest page writes per second.
    links : dict of str to Link, sequence of Link, or Link; default :func:`ethernet_links`
    policies : dict of str to Policy, sequence of Policy or names; default :func:`default_policies`
    hot_fraction : float, default 0.9
        Share of writes that land in the hot set.
    seed : int, default 0
        One seed for every point.
    timeout_s : float or None
        Overrides every policy's ``timeout_s`` (seconds of simulated time after
        which a migration that is still iterating is stopped as non-convergent).
    page_skip : bool or None
        Overrides every policy's ``page_skip``; None keeps each policy's own.
    switchover : Switchover, optional
    threads : int or None
        Run on threads instead of processes (the result does not depend on it).
    progress : bool, callable(done, total) or None
        A progress bar, or a callback (see :func:`run_all`).
    n_jobs, backend, client
        Where the points run: see :func:`parallel_map`.  The result does not
        depend on them.

    Returns
    -------
    Sweep
        Axes ``policy`` (labels), ``link`` (labels), ``wws_bytes``.

    Examples
    --------
    >>> import precopy as pc
    >>> sw = wws_sweep(pc.VM(memory_bytes=pc.MiB(256)), [pc.MiB(8), pc.MiB(64)], 20_000,
    ...                links=ethernet_links([10]), policies=["xen"], seed=1)
    >>> sw.shape, list(sw.axes)
    ((1, 1, 2), ['policy', 'link', 'wws_bytes'])
    """
    if not isinstance(vm, VM):
        raise ValueError(f"vm must be a precopy.VM; got {type(vm).__name__}")
    wws = [v.integer(w, "wws_bytes", "bytes", lo=1) for w in np.atleast_1d(np.asarray(wws_bytes)).tolist()]
    if not wws:
        raise ValueError("wws_bytes (bytes) must hold at least one size; got none")
    writes_per_s = v.real(writes_per_s, "writes_per_s", "page writes per second", lo=0.0, hi=1e11)
    hot_fraction = v.fraction(hot_fraction, "hot_fraction")
    if timeout_s is not None:
        timeout_s = v.real(timeout_s, "timeout_s", "s", lo=0.0, hi=1e9, lo_open=True)
    if page_skip is not None and not isinstance(page_skip, bool):
        raise ValueError(f"page_skip must be True, False or None; got {page_skip!r}")
    links = _labelled(ethernet_links() if links is None else links, Link, "links", _as_link)
    policies = _labelled(default_policies() if policies is None else policies, Policy, "policies", _as_policy)
    if page_skip is not None:
        # the page-skip engine syncs at the end of each pass
        policies = {k: p.with_(page_skip=page_skip, sync_cadence="pass" if page_skip else p.sync_cadence)
                    for k, p in policies.items()}
    policies = {k: _timeout(p, timeout_s) for k, p in policies.items()}
    workloads = [HotCold(wws_bytes=w, hot_fraction=hot_fraction, writes_per_s=writes_per_s) for w in wws]
    scenarios = [(vm, wl, link, pol, switchover)
                 for pol in policies.values() for link in links.values() for wl in workloads]
    results = run_all(scenarios, seed=seed, threads=threads, progress=progress, n_jobs=n_jobs, backend=backend,
                      client=client)
    axes = {"policy": tuple(policies), "link": tuple(links), "wws_bytes": tuple(wws)}
    params = {"memory_bytes": vm.memory_bytes, "page_bytes": vm.page_bytes, "writes_per_s": writes_per_s,
              "hot_fraction": hot_fraction, "seed": v.seed(seed), "timeout_s": timeout_s,
              "page_skip": page_skip}
    return _collect(results, (len(policies), len(links), len(wws)), axes, params)


def convergence_grid(vm: VM, writes_per_s, rate_bps, policy="qemu", *, wws_bytes=None,
                     hot_fraction: float = 0.9, seed: int = 0, timeout_s: float | None = None,
                     mtu: int | None = 1500, switchover: Switchover | None = None,
                     threads: int | None = None, progress=None, n_jobs: int | None = -1,
                     backend: str | None = None, client=None, engine: str = "simulate") -> Sweep:
    """Downtime over a grid of guest write rate x link rate, for one policy.

    Parameters
    ----------
    vm : VM
    writes_per_s : sequence of float
        Guest page writes per second (grid axis 0).
    rate_bps : sequence of float
        Nominal link rates in bit/s (grid axis 1); each becomes
        ``Link(rate_bps=r, mtu=mtu)``.
    policy : Policy or str, default ``"qemu"``
    wws_bytes : int or None
        Hot-set size of the :class:`~precopy.workloads.HotCold` workload
        (default: 1/8 of memory).
    hot_fraction : float, default 0.9
    seed : int, default 0
    timeout_s : float or None
        Overrides the policy's ``timeout_s``.
    mtu : int or None, default 1500
    switchover : Switchover, optional
    threads : int or None
    progress : bool, callable(done, total) or None
    n_jobs, backend, client
        Where the points run: see :func:`parallel_map` (simulator only).
    engine : {'simulate', 'analytic'}, default 'simulate'
        ``'simulate'``: every point through the page-level simulator (one seed).
        ``'analytic'``: the expected-value saturation model over the whole grid
        at once (:func:`precopy.analytic.saturation_model`, vectorised, one core,
        about 1 us a point: a 1000 x 1000 grid in under a second), with the same
        VM, workload, links, policy and switchover; ``seed``, ``threads``,
        ``progress``, ``n_jobs``, ``backend`` and ``client`` are then unused.
        The policy's controls may not hold a ``rate_schedule`` here.  Its rounds
        are whole passes, whatever the policy's ``sync_cadence`` (the array
        model's steady-state shortcut needs them).

    Returns
    -------
    Sweep
        Axes ``writes_per_s`` and ``rate_bps``; ``params['engine']`` says which.

    Examples
    --------
    >>> import numpy as np, precopy as pc
    >>> g = convergence_grid(pc.VM(memory_bytes=pc.MiB(64)), [1e3, 1e5], [pc.Gbps(1), pc.Gbps(10)],
    ...                      policy="xen", seed=1)
    >>> g.shape
    (2, 2)
    >>> a = convergence_grid(pc.VM(memory_bytes=pc.GiB(8)), np.geomspace(1e3, 1e6, 200),
    ...                      np.geomspace(pc.Gbps(1), pc.Gbps(100), 300),
    ...                      pc.policies.QEMU(max_bandwidth_bps=None), engine="analytic")
    >>> a.shape, a.params["engine"], round(float(a.converged.mean()), 2)
    ((200, 300), 'analytic', 0.81)
    """
    if not isinstance(vm, VM):
        raise ValueError(f"vm must be a precopy.VM; got {type(vm).__name__}")
    w = [v.real(x, "writes_per_s", "page writes per second", lo=0.0, hi=1e11)
         for x in np.atleast_1d(np.asarray(writes_per_s, dtype=object)).tolist()]
    r = [v.real(x, "rate_bps", "bit/s", lo=1e3, hi=1e13) for x in np.atleast_1d(np.asarray(rate_bps, dtype=object)).tolist()]
    if not w or not r:
        raise ValueError("writes_per_s and rate_bps must each hold at least one value")
    pol = _as_policy(policy, "policy")
    if timeout_s is not None:
        timeout_s = v.real(timeout_s, "timeout_s", "s", lo=0.0, hi=1e9, lo_open=True)
        pol = pol.with_(timeout_s=timeout_s)
    if wws_bytes is None:
        wws_bytes = (vm.n_pages // 8) * vm.page_bytes
    wws_bytes = v.integer(wws_bytes, "wws_bytes", "bytes", lo=1)
    hot_fraction = v.fraction(hot_fraction, "hot_fraction")
    engine = v.choice(engine, "engine", ("simulate", "analytic"))
    links = [Link(rate_bps=x, mtu=mtu) for x in r]
    axes = {"writes_per_s": tuple(w), "rate_bps": tuple(r)}
    params = {"memory_bytes": vm.memory_bytes, "page_bytes": vm.page_bytes, "wws_bytes": wws_bytes,
              "hot_fraction": hot_fraction, "policy": pol.name, "seed": v.seed(seed),
              "timeout_s": pol.timeout_s, "mtu": mtu, "engine": engine}
    if engine == "analytic":
        return _analytic_grid(vm, w, links, pol, wws_bytes, hot_fraction, switchover, axes, params)
    scenarios = [(vm, HotCold(wws_bytes=wws_bytes, hot_fraction=hot_fraction, writes_per_s=x),
                  link, pol, switchover)
                 for x in w for link in links]
    results = run_all(scenarios, seed=seed, threads=threads, progress=progress, n_jobs=n_jobs, backend=backend,
                      client=client)
    return _collect(results, (len(w), len(r)), axes, params)


def _analytic_grid(vm, w, links, pol, wws_bytes, hot_fraction, switchover, axes, params) -> Sweep:
    """:func:`convergence_grid` through the vectorised saturation model."""
    from . import analytic
    wl = HotCold(wws_bytes=wws_bytes, hot_fraction=hot_fraction, writes_per_s=0.0)
    H, f = wl.hot_region(vm)[1], wl.hot_share()          # as the simulator draws the writes
    r = analytic.saturation_model(np.asarray(w, np.float64)[:, None],
                                  np.array([lk.goodput_Bps for lk in links])[None, :], vm.n_pages, H, f,
                                  policy=pol, page_bytes=vm.page_bytes, zero_pages=vm.n_zero_pages,
                                  switchover=switchover)
    return Sweep(axes=axes, downtime_s=r.downtime_s, total_time_s=r.total_time_s,
                 precopy_time_s=r.precopy_time_s, bytes_sent=r.bytes_sent, n_rounds=r.n_rounds.astype(np.int64),
                 converged=np.asarray(r.converged, bool), stop_reason=r.stop_reason, params=params)


@dataclass(frozen=True)
class ModelSweep:
    """The simulator (mean and spread over seeds) beside the analytic models, along one parameter.

    Attributes
    ----------
    param : str
        Name of the varied parameter (e.g. ``"writes_per_s"``).
    values : tuple
        Its values, one per point.
    simulated : dict of str to ndarray
        Mean over seeds of ``total_time_s``, ``downtime_s``, ``bytes_sent``,
        ``n_rounds``; ``<metric>_std`` the standard deviation; ``converged`` the
        share of seeds that converged.
    models : dict of str to dict of str to ndarray
        Per analytic model: the same metrics, ``converged`` (bool) and
        ``stop_reason``.
    skipped : dict of str to str
        Models that do not apply to the workload, with the reason.
    params : dict
        The fixed inputs.
    """

    param: str
    values: tuple
    simulated: dict
    models: dict
    skipped: dict
    params: dict = field(default_factory=dict)

    def ratio(self, model: str, metric: str = "total_time_s") -> np.ndarray:
        """Model prediction over simulated mean, per point."""
        if model not in self.models:
            raise ValueError(f"model must be one of {list(self.models)}; got {model!r}")
        return np.asarray(self.models[model][metric], float) / np.asarray(self.simulated[metric], float)


def model_sweep(vm: VM, workloads, link: Link, policy="qemu", *, param: str, values, seeds=3,
                models=None, switchover: Switchover | None = None, threads: int | None = None,
                progress=None, n_jobs: int | None = -1, backend: str | None = None, client=None) -> ModelSweep:
    """Run :func:`precopy.analytic.compare` at every point of a one-parameter sweep.

    Parameters
    ----------
    vm : VM
    workloads : sequence of Workload
        One workload per value of the parameter.
    link : Link
    policy : Policy or str, default ``"qemu"``
    param : str
        Name of the parameter, for labels.
    values : sequence of float
        The parameter's values (same length as ``workloads``).
    seeds : int or sequence of int, default 3
        Seeds simulated per point (see :func:`precopy.analytic.compare`).
    models : sequence of str, optional
        Analytic models (default: all of :data:`precopy.analytic.MODELS`).
    switchover : Switchover, optional
    threads : int or None
        Run the points on threads instead of processes (the result does not depend on it).
    progress : bool, callable(done, total) or None
    n_jobs, backend, client
        Where the points run: see :func:`parallel_map`.

    Returns
    -------
    ModelSweep

    Examples
    --------
    >>> import precopy as pc
    >>> w = [1e3, 1e5]
    >>> ms = model_sweep(pc.VM(memory_bytes=pc.MiB(256)), [pc.workloads.Uniform(writes_per_s=x) for x in w],
    ...                  pc.Link(rate_bps=pc.Gbps(10)), "qemu", param="writes_per_s", values=w, seeds=2)
    >>> sorted(ms.models), ms.simulated["total_time_s"].shape
    (['geometric', 'hotcold', 'saturation'], (2,))
    """
    from . import analytic
    if not isinstance(vm, VM):
        raise ValueError(f"vm must be a precopy.VM; got {type(vm).__name__}")
    v.callback(progress, "progress")
    for name, x in (("workloads", workloads), ("values", values)):
        if isinstance(x, (str, bytes)) or not hasattr(x, "__iter__"):
            raise ValueError(f"{name} must be a sequence; got {type(x).__name__}")
    if models is not None and (isinstance(models, str) or not hasattr(models, "__iter__")):
        raise ValueError(f"models must be a sequence of model names ({', '.join(analytic.MODELS)}) or None; "
                         f"got {models!r}")
    workloads, values = list(workloads), list(values)
    if not workloads or len(workloads) != len(values):
        raise ValueError(f"workloads and values must be non-empty and of equal length; got "
                         f"{len(workloads)} and {len(values)}")
    if not isinstance(param, str) or not param:
        raise ValueError(f"param must be a non-empty name; got {param!r}")
    models = tuple(analytic.MODELS if models is None else models)
    for m in models:
        v.choice(m, "models[]", analytic.MODELS)
    pol = _as_policy(policy, "policy")
    for wl in workloads:                # validate every point before running any
        Prepared(vm, wl, link, pol, switchover)
    jobs = [(vm, wl, link, pol, switchover, seeds, models) for wl in workloads]
    comps = parallel_map(_compare_one, jobs, n_jobs=n_jobs, backend=backend, client=client, progress=progress,
                         desc="points", threads=threads)
    metrics = ("total_time_s", "downtime_s", "bytes_sent", "n_rounds")
    sim = {m: np.array([c.simulated[m] for c in comps]) for m in metrics}
    sim.update({m + "_std": np.array([c.simulated[m + "_std"] for c in comps]) for m in metrics})
    sim["converged"] = np.array([c.simulated["converged"] for c in comps])
    sim["stop_reason"] = np.array([c.simulated["stop_reason"] for c in comps], dtype=object)
    names = [m for m in models if all(m in c.models for c in comps)]
    out = {}
    for name in names:
        d = {m: np.array([float(getattr(c.models[name], m)) for c in comps]) for m in metrics}
        d["converged"] = np.array([bool(c.models[name].converged) for c in comps])
        d["stop_reason"] = np.array([c.models[name].stop_reason for c in comps], dtype=object)
        out[name] = d
    skipped = {}
    for c in comps:
        skipped.update(c.skipped)
    for m in models:
        if m not in out and m not in skipped:
            skipped[m] = "does not apply at every point"
    params = {"memory_bytes": vm.memory_bytes, "policy": pol.name, "link_goodput_bps": link.goodput_bps,
              "seeds": list(comps[0].seeds)}
    return ModelSweep(param=param, values=tuple(values), simulated=sim, models=out, skipped=skipped, params=params)


def _compare_one(job):
    """One point of :func:`model_sweep` (module level: workers import it by name)."""
    from . import analytic
    vm, wl, link, pol, switchover, seeds, models = job
    return analytic.compare(vm, wl, link, pol, switchover, seeds=seeds, models=models)
