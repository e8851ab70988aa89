"""The public entry point: :func:`simulate` one migration, page by page.

The scenario (validation, defaults, kernel inputs) is :mod:`precopy.scenario`;
warm-up is :mod:`precopy.warmup`.  Both names are re-exported here.
"""

from __future__ import annotations

from .links import Link
from .policies import Policy
from .results import MigrationResult
from .scenario import Prepared, check_scenario, check_throttle, resolve_policy
from .vm import VM, Switchover
from .warmup import warmup
from .workloads import Workload

__all__ = ["simulate", "warmup", "Prepared", "check_scenario", "resolve_policy", "check_throttle"]

_check_throttle = check_throttle     # old private name


def simulate(vm: VM, workload: Workload, link: Link, policy: Policy | str | None = None, *,
             seed: int = 0, switchover: Switchover | None = None, throttle=None, aids=None) -> MigrationResult:
    """Simulate one pre-copy live migration page by page.

    Round 0 sends all memory (zero pages header-only); each later round sends the
    pages the dirty bitmap collected while the previous round ran; the policy's
    stop rule, checked at every bitmap sync, decides when to pause the VM and send
    the rest.  Guest writes are applied in time order at the workload's rate.

    Parameters
    ----------
    vm : VM
        Memory size, page size, zero pages.
    workload : Workload
        How the guest writes pages (see :mod:`precopy.workloads`).
    link : Link
        The network path; pre-copy runs at ``min(link.goodput_bps,
        policy.max_bandwidth_bps)`` and the stop-and-copy at ``link.goodput_bps``.
    policy : Policy or str, default ``policies.QEMU()``
        Stop rule and protocol details (see :mod:`precopy.policies`).
    seed : int, default 0
        Seed of the page-choice random stream.  Same seed, same result.
    switchover : Switchover, optional
        Device-state size, resume time and network announcement added to the
        downtime.
    throttle : sequence of (start_s, factor), optional
        Piecewise-constant guest speed factor in [0, 1] over wall time, starting at
        0 s: the guest's write rate is scaled by it (e.g. ``[(0, 1), (10, 0.5)]``).
    aids : aid or sequence of aids, optional
        Convergence aids from :mod:`precopy.aids`: ``AutoConverge``,
        ``DirtyLimit`` or ``SDPS`` (at most one), ``XBZRLE``, ``Compression``,
        ``PostCopy``.  Their costs are reported in the result
        (``guest_slowdown_s``, ``postcopy_s``, ``postcopy_faults``,
        ``xbzrle_saved_bytes`` ...).  Run-time controls (downtime and rate
        schedules, completion and progress timeouts) ride on the policy:
        ``policy=QEMU(controls=Controls(...))``.

    Returns
    -------
    MigrationResult
        ``total_time_s``, ``downtime_s`` (with its parts), ``bytes_sent``,
        ``converged``, ``stop_reason``, ``outcome`` and the per-round table ``rounds``.

    Raises
    ------
    ValueError
        Naming the parameter, its unit and allowed range, before anything is
        compiled or allocated.

    References
    ----------
    C. Clark et al., "Live Migration of Virtual Machines", NSDI 2005.
    ``docs/reference.md`` for each system's stop rule.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(1))
    >>> wl = pc.workloads.HotCold(wws_bytes=pc.MiB(64), hot_fraction=0.9, writes_per_s=20_000)
    >>> r = pc.simulate(vm, wl, pc.Link(rate_bps=pc.Gbps(10)), policy="qemu", seed=1)
    >>> r.converged, r.stop_reason
    (True, 'downtime_limit')
    >>> busy = pc.workloads.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.9, writes_per_s=50_000)
    >>> qemu = pc.policies.QEMU(timeout_s=120)       # 128 MiB/s: this guest outpaces it
    >>> pc.simulate(vm, busy, pc.Link(rate_bps=pc.Gbps(10)), qemu, seed=1).stop_reason
    'timeout'
    >>> r = pc.simulate(vm, busy, pc.Link(rate_bps=pc.Gbps(10)), qemu, seed=1, aids=[pc.aids.AutoConverge()])
    >>> r.converged, r.max_cpu_throttle
    (True, 0.4)
    """
    return Prepared(vm, workload, link, policy, switchover, throttle, aids).run(seed)
