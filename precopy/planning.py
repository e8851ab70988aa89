"""The inverse question: what does this VM need to migrate within its budgets?  ``precopy plan``, ``pc.plan``.

Given a VM, its workload (a fitted one from a dirty-rate probe, :mod:`precopy.hvstats`,
or any Idle/Uniform/HotCold workload), a link and budgets for the total time and
the downtime, :func:`plan` finds

* the **least bandwidth** (QEMU ``max-bandwidth``, KubeVirt ``bandwidthPerMigration``),
* the **fewest streams** (multifd channels on the link's fitted profile),
* the **smallest downtime limit**,
* the **gentlest aid** (none; auto-converge with the smallest initial throttle;
  dirty-limit at the largest quota; post-copy),

each by root finding (:func:`scipy.optimize.brentq` on the log of the setting)
on a monotone metric: ``budget excess = max(total / total budget, downtime /
downtime budget) - 1``, set to +1 where the migration does not converge.  More
bandwidth, streams, downtime allowance or throttle never make a migration
slower in the model, so the excess falls with the setting and its sign change
is the answer.  The metric is the analytic saturation model
(:func:`precopy.analytic.saturation`) for the link settings and the
expected-value replay (:func:`precopy.orchestrators.replay`) for the aids; each
answer is then confirmed by the page-level simulator over several seeds.

It also draws the **Pareto front** of total time against downtime over the
downtime limit (and over the ceiling of KubeVirt's VEP 291 ramp), and
recommends **orchestrator settings** for the VM, each with its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _validate as v
from .units import MiB

__all__ = ["PlanResult", "plan", "pareto_front", "plot_pareto", "format_plan"]

#: The smallest downtime limit searched (s): "any limit from here up" when it already suffices.
DOWNTIME_LIMIT_FLOOR_S = 1e-4
#: Step (a factor) and number of steps by which the least bandwidth is raised above the analytic
#: boundary until the page-level simulation confirms it.
CONFIRM_STEP, CONFIRM_STEPS = 1.01, 10
#: Seeds used to confirm each answer with the page-level simulator.
CONFIRM_SEEDS = 3


@dataclass(frozen=True)
class PlanResult:
    """What :func:`plan` found.  Rates in bit/s, times in s; None where no value meets the budgets."""

    budgets: dict
    baseline: dict
    least_bandwidth_bps: float | None
    fewest_streams: int | None
    smallest_downtime_limit_s: float | None
    gentlest_aid: str
    aid_setting: dict
    confirmations: dict
    pareto: list = field(repr=False, default_factory=list)
    kubevirt_ramp: list = field(repr=False, default_factory=list)
    recommendations: list = field(default_factory=list)


def _excess(total_s, downtime_s, converged, T, D):
    if not converged or not math.isfinite(total_s):
        return 1.0
    return max(total_s / T, downtime_s / D) - 1.0


def _sat(vm, wl, link, policy, switchover=None):
    from .analytic import saturation
    return saturation(vm, wl, link, policy, _switchover(vm, switchover))


def _switchover(vm, switchover=None):
    """The switchover of a plan: as given, else the fitted QEMU preset's for this guest
    (:meth:`precopy.hypervisors.Hypervisor.switchover`)."""
    from .vm import VM, Switchover
    if switchover is not None:
        return v.instance(switchover, "switchover", Switchover, "a precopy.Switchover or None (the fitted QEMU term)")
    v.instance(vm, "vm", VM, "a precopy.VM")
    from .hypervisors import get
    return get("qemu").switchover(vm.memory_bytes)


def _least(fn, lo, hi, *, log=True, xtol=1e-3):
    """Smallest x in [lo, hi] with fn(x) <= 0 for a non-increasing fn (None if fn(hi) > 0)."""
    from scipy.optimize import brentq
    if fn(hi) > 0:
        return None
    if fn(lo) <= 0:
        return lo
    if log:
        g = lambda z: fn(math.exp(z)) if fn(math.exp(z)) <= 0 else max(fn(math.exp(z)), 1e-9)
        z = brentq(g, math.log(lo), math.log(hi), xtol=xtol)
        x = math.exp(z)
    else:
        g = lambda x: fn(x) if fn(x) <= 0 else max(fn(x), 1e-9)
        x = brentq(g, lo, hi, xtol=xtol * (hi - lo))
    # brentq stops within xtol of the sign change; step to the feasible side
    k = 0
    while fn(x) > 0 and k < 60:
        x = x * (1 + xtol) if log else x + xtol * (hi - lo)
        k += 1
    return min(x, hi)


def _confirm(vm, wl, link, policy, aids, T, D, seeds, switchover=None):
    from .simulate import Prepared
    prep = Prepared(vm, wl, link, policy, _switchover(vm, switchover), aids=aids)
    res = [prep.run(seed=s) for s in range(seeds)]
    ok = [r.converged and r.total_time_s <= T and r.downtime_s <= D for r in res]
    return {"seeds": seeds, "meets_budgets": float(np.mean(ok)),
            "total_time_s": float(np.mean([r.total_time_s for r in res])),
            "downtime_s": float(np.mean([r.downtime_s for r in res])),
            "converged": float(np.mean([r.converged for r in res]))}


def pareto_front(vm, workload, link, *, limits_s=None, max_bandwidth_bps=None, switchover=None) -> list[dict]:
    """Total time against downtime over the downtime limit (analytic saturation model).

    ``switchover`` as in :func:`plan`.  Returns one row per limit: ``downtime_limit_s``, ``total_time_s``,
    ``downtime_s``, ``converged``, ``pareto`` (True on the front: no other
    limit gives both a shorter total and a shorter downtime).

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(2))
    >>> wl = pc.workloads.HotCold(wws_bytes=pc.MiB(128), hot_fraction=0.9, writes_per_s=30_000)
    >>> rows = pareto_front(vm, wl, pc.Link.from_profile("10GbE"))
    >>> any(r["pareto"] for r in rows)
    True
    """
    from .policies import QEMU
    limits = np.geomspace(0.005, 5.0, 25) if limits_s is None else \
        v.reals(limits_s, "limits_s", "s (QEMU downtime limits)", lo=0.0, hi=3600.0)
    rows = []
    for lim in limits:
        a = _sat(vm, workload, link, QEMU(downtime_limit_s=float(lim), max_bandwidth_bps=max_bandwidth_bps),
                 switchover)
        rows.append({"downtime_limit_s": float(lim), "total_time_s": float(a.total_time_s),
                     "downtime_s": float(a.downtime_s), "converged": bool(a.converged)})
    for r in rows:
        r["pareto"] = r["converged"] and not any(
            o["converged"] and o["total_time_s"] <= r["total_time_s"] and o["downtime_s"] <= r["downtime_s"]
            and (o["total_time_s"] < r["total_time_s"] or o["downtime_s"] < r["downtime_s"]) for o in rows)
    return rows


def _kubevirt_ramp(vm, workload, link, ceilings_ms, bw_bps, switchover=None):
    from .orchestrators import KubeVirt, replay
    out = []
    for mx in ceilings_ms:
        k = KubeVirt(max_downtime_ms=float(mx), downtime_tuning=True, progress_timeout_s=0,
                     completion_timeout_per_gib_s=0,
                     bandwidth_per_migration_mibps=None if bw_bps is None else bw_bps / 8 / MiB(1))
        r = replay(vm, workload, link, k, max_time_s=7200.0, switchover=_switchover(vm, switchover))
        out.append({"max_downtime_ms": float(mx), "total_time_s": r.total_time_s, "downtime_s": r.downtime_s,
                    "outcome": r.outcome})
    return out


def _aid_excess(vm, wl, link, pol, aid, T, D, switchover=None):
    from .orchestrators import Plan, replay
    r = replay(vm, wl, link, Plan("aid", pol, aids=(aid,)), max_time_s=max(10 * T, 3600.0),
               switchover=_switchover(vm, switchover))
    return _excess(r.total_time_s, r.downtime_s, r.outcome == "converged", T, D)


def plan(vm, workload, link, *, total_budget_s: float, downtime_budget_s: float,
         downtime_limit_s: float | None = None,
         max_bandwidth_bps: float | None = None, seeds: int = CONFIRM_SEEDS, pareto: bool = True,
         switchover=None) -> PlanResult:
    """Settings that make this migration meet its budgets.

    Parameters
    ----------
    vm, workload, link
        The VM, its workload (Idle, Uniform or HotCold: e.g.
        ``fit_dirty_rate(...).workload``) and the link.
    total_budget_s, downtime_budget_s : float
        Budgets for the total migration time and the downtime (s).
    downtime_limit_s : float, optional
        QEMU's downtime limit while searching the other settings; default: the
        downtime budget less the switchover's resume time, so that a migration
        that converges meets the downtime budget.
    max_bandwidth_bps : float or None
        The pre-copy cap used while searching the other settings (None: the link).
    seeds : int, default 3
        Seeds of the confirming simulations.
    pareto : bool, default True
        Also compute the Pareto front and the KubeVirt ramp sweep.
    switchover : precopy.Switchover, optional
        What the frozen VM costs beyond its last pages; default the fitted QEMU
        preset's switchover term for this guest (``precopy.hypervisors.get("qemu")
        .switchover(vm.memory_bytes)``), so that the downtime budget is met on a
        real QEMU, not only by the memory copy.  ``precopy.Switchover()`` gives
        the textbook 9 ms resume.

    Returns
    -------
    PlanResult

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(2))
    >>> wl = pc.workloads.HotCold(wws_bytes=pc.MiB(256), hot_fraction=0.9, writes_per_s=40_000)
    >>> p = plan(vm, wl, pc.Link.from_profile("10GbE"), total_budget_s=30, downtime_budget_s=0.5, seeds=1,
    ...          pareto=False)
    >>> p.least_bandwidth_bps < pc.Link.from_profile("10GbE").goodput_bps, p.gentlest_aid
    (True, 'none')
    """
    from .aids import AutoConverge, DirtyLimit, PostCopy
    from .links import profile
    from .policies import QEMU
    from .vm import Switchover
    from .simulate import check_scenario
    from .workloads import HotCold, Idle
    T = v.real(total_budget_s, "total_budget_s", "s", lo=0.0, lo_open=True, hi=1e8)
    D = v.real(downtime_budget_s, "downtime_budget_s", "s", lo=0.0, lo_open=True, hi=3600.0)
    v.flag(pareto, "pareto")
    check_scenario(vm, workload, link, QEMU(max_bandwidth_bps=None, timeout_s=1e9), None)
    if not isinstance(workload, (HotCold, Idle)):
        raise ValueError(f"workload must be Idle, Uniform or HotCold for plan (the aid search replays it); "
                         f"got {type(workload).__name__}")
    seeds = v.integer(seeds, "seeds", "count", lo=1, hi=100)
    if switchover is not None and not isinstance(switchover, Switchover):
        raise ValueError(f"switchover must be a precopy.Switchover or None (the fitted QEMU term); "
                         f"got {type(switchover).__name__}")
    sw = _switchover(vm, switchover)
    sat = lambda *a: _sat(*a, sw)                                      # noqa: E731
    confirm = lambda *a: _confirm(*a, switchover=sw)                   # noqa: E731
    aid_excess = lambda *a: _aid_excess(*a, switchover=sw)             # noqa: E731
    if downtime_limit_s is None:
        # QEMU's limit covers the final memory copy only: leave the rest of the switchover out
        res_s = sw.resume_s + sw.announce_s
        downtime_limit_s = D - res_s if D > 2 * res_s else D / 2
    downtime_limit_s = v.real(downtime_limit_s, "downtime_limit_s", "s", lo=0.0, hi=3600.0, lo_open=True)
    # a migration still iterating after 20 total budgets is "not converged" for the search
    base_pol = QEMU(downtime_limit_s=downtime_limit_s, max_bandwidth_bps=max_bandwidth_bps,
                    timeout_s=max(3600.0, 20.0 * T))
    a0 = sat(vm, workload, link, base_pol)
    baseline = {"total_time_s": a0.total_time_s, "downtime_s": a0.downtime_s, "converged": a0.converged,
                "stop_reason": a0.stop_reason, "rate_bps": a0.rate_bps, "downtime_limit_s": downtime_limit_s}
    confirmations = {}
    # 1. least bandwidth (pre-copy cap on this link)
    good = link.goodput_bps

    def f_bw(bps):
        a = sat(vm, workload, link, base_pol.with_(max_bandwidth_bps=bps))
        return _excess(a.total_time_s, a.downtime_s, a.converged, T, D)

    lo_bw = vm.memory_bytes * 8.0 / T          # memory sent once within the budget: nothing slower can do
    bw = _least(f_bw, lo_bw, good) if lo_bw < good else None
    if bw is not None:
        # the analytic boundary, then up in 1 % steps until the page-level simulation agrees (its rounds
        # are whole pages and its writes discrete, so right at the boundary it may land just over a budget)
        for _ in range(CONFIRM_STEPS + 1):
            c = confirm(vm, workload, link, base_pol.with_(max_bandwidth_bps=bw), (), T, D, seeds)
            if c["meets_budgets"] == 1.0 or bw * CONFIRM_STEP > good:
                break
            bw *= CONFIRM_STEP
        confirmations["bandwidth"] = c
    # 2. fewest streams on this link's fitted profile
    streams = None
    try:
        prof = profile(link.rate_bps)
    except ValueError:
        prof = None
    if prof is not None:
        for n in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64):
            ln = prof.link(mtu=link.mtu, streams=n)
            a = sat(vm, workload, ln, base_pol)
            if _excess(a.total_time_s, a.downtime_s, a.converged, T, D) <= 0:
                streams = n
                confirmations["streams"] = confirm(vm, workload, ln, base_pol, (), T, D, seeds)
                break
    # 3. smallest downtime limit: a larger limit never lengthens the migration, so root-find on the
    #    total-time excess, then check the downtime budget at the answer
    def f_dl(lim):
        a = sat(vm, workload, link, base_pol.with_(downtime_limit_s=lim))
        return 1.0 if not a.converged else a.total_time_s / T - 1.0

    dl = _least(f_dl, DOWNTIME_LIMIT_FLOOR_S, 3600.0)
    if dl is not None:
        a = sat(vm, workload, link, base_pol.with_(downtime_limit_s=dl))
        if a.downtime_s > D:
            dl = None
    if dl is not None:
        confirmations["downtime_limit"] = confirm(vm, workload, link, base_pol.with_(downtime_limit_s=dl), (),
                                                   T, D, seeds)
    # 4. gentlest aid
    aid_name, aid_setting = "none", {}
    if _excess(a0.total_time_s, a0.downtime_s, a0.converged, T, D) > 0:
        aid_name = "none meets the budgets"
        ac_ini = _least(lambda x: aid_excess(vm, workload, link, base_pol, AutoConverge(initial=x, max=0.99), T, D),
                        0.01, 0.99, log=False, xtol=1e-2)
        if ac_ini is not None:
            aid_name, aid_setting = "auto-converge", {"initial": round(ac_ini, 3), "increment": 0.10}
            confirmations["aid"] = confirm(vm, workload, link, base_pol, (AutoConverge(initial=ac_ini),), T, D,
                                            seeds)
        else:
            hi_q = max(float(getattr(workload, "writes_per_s", 1.0)) * vm.page_bytes, 2.0 * MiB(1))

            def f_dlim(q):       # larger quota = gentler; excess rises with q, so search on -log q
                return aid_excess(vm, workload, link, base_pol, DirtyLimit(vcpu_dirty_limit_Bps=q), T, D)

            q = _largest(f_dlim, MiB(1) / 16, hi_q)
            if q is not None:
                aid_name, aid_setting = "dirty-limit", {"vcpu_dirty_limit_mibps": round(q / MiB(1), 3), "vcpus": 1}
                confirmations["aid"] = confirm(vm, workload, link, base_pol, (DirtyLimit(vcpu_dirty_limit_Bps=q),),
                                                T, D, seeds)
            elif aid_excess(vm, workload, link, base_pol, PostCopy(after_rounds=1, on_no_progress=False), T, D) <= 0:
                aid_name, aid_setting = "post-copy", {"after_rounds": 1}
                confirmations["aid"] = confirm(vm, workload, link, base_pol,
                                                (PostCopy(after_rounds=1, on_no_progress=False),), T, D, seeds)
    pf = pareto_front(vm, workload, link, max_bandwidth_bps=max_bandwidth_bps, switchover=sw) if pareto else []
    kr = _kubevirt_ramp(vm, workload, link, (300, 600, 1050, 2000, 5000), max_bandwidth_bps, sw) if pareto else []
    res = PlanResult(budgets={"total_s": T, "downtime_s": D}, baseline=baseline, least_bandwidth_bps=bw,
                     fewest_streams=streams, smallest_downtime_limit_s=dl, gentlest_aid=aid_name,
                     aid_setting=aid_setting, confirmations=confirmations, pareto=pf, kubevirt_ramp=kr)
    object.__setattr__(res, "recommendations", _recommend(vm, res, a0, sw))
    return res


def _largest(fn, lo, hi):
    """Largest x in [lo, hi] with fn(x) <= 0 for a non-decreasing fn (None if fn(lo) > 0)."""
    x = _least(lambda y: fn(lo * hi / y), lo, hi)
    return None if x is None else lo * hi / x


def _recommend(vm, p: PlanResult, a0, sw) -> list[tuple]:
    """(setting, value, reason) for KubeVirt and Nova."""
    from .orchestrators import kubevirt_data_size_gb
    gb = kubevirt_data_size_gb(vm.memory_bytes)
    T = p.budgets["total_s"]
    out = []
    per = max(1, math.ceil(T / gb))
    out.append(("kubevirt completionTimeoutPerGiB", per,
                f"{per} s x {gb} GB = {per * gb} s covers the {T:g} s total budget; the default 150 would allow "
                f"{150 * gb} s"))
    rounds = a0.rounds
    if a0.converged and len(rounds) > 1:
        longest = float(np.max(rounds["duration_s"]))
        pt = max(30, int(math.ceil(3 * longest)))
        out.append(("kubevirt progressTimeout", pt,
                    f"3 x the longest predicted round ({longest:.1f} s): a healthy migration reaches a new "
                    f"minimum well within it"))
    else:
        out.append(("kubevirt progressTimeout", 150,
                    "the default: this migration does not converge unaided, so the stall test should fire"))
    D = p.budgets["downtime_s"]
    if p.smallest_downtime_limit_s is not None:
        other_s = sw.resume_s + sw.announce_s       # the switchover beyond the memory copy
        ceiling = int(math.floor((D - other_s) * 1e3)) if D > 2 * other_s else int(D * 1e3 / 2)
        lo = p.smallest_downtime_limit_s * 1e3
        lo_txt = ("any limit converges within the total budget" if p.smallest_downtime_limit_s <= DOWNTIME_LIMIT_FLOOR_S
                  else f"the smallest that meets both budgets is {lo:.1f} ms")
        out.append(("kubevirt maxDowntimeMs / nova live_migration_downtime", max(ceiling, 1),
                    f"the largest limit whose switchover fits the {D * 1e3:g} ms budget (less "
                    f"{other_s * 1e3:.3g} ms of switchover) gives the shortest migration; {lo_txt}"
                    + ("; Nova's minimum is 100 ms" if ceiling < 100 else "")))
    else:
        out.append(("kubevirt maxDowntimeMs / nova live_migration_downtime", None,
                    "no downtime limit converges within both budgets: use an aid"))
    if p.gentlest_aid == "none":
        out.append(("allowAutoConverge / allowPostCopy", "false / false",
                    "pre-copy alone meets the budgets"))
    elif p.gentlest_aid == "auto-converge":
        out.append(("allowAutoConverge", "true",
                    f"auto-converge from {p.aid_setting['initial']:.0%} throttle is the gentlest aid that meets "
                    f"the budgets"))
    elif p.gentlest_aid == "dirty-limit":
        out.append(("QEMU dirty-limit", f"{p.aid_setting['vcpu_dirty_limit_mibps']:g} MiB/s per vCPU",
                    "the largest dirty-rate quota that meets the budgets (auto-converge does not)"))
    elif p.gentlest_aid == "post-copy":
        out.append(("allowPostCopy / live_migration_permit_post_copy", "true",
                    "only post-copy meets the budgets; a host or link failure during it loses the VM"))
    else:
        out.append(("aids", "none suffices", "no aid meets both budgets on this link: more bandwidth is needed"))
    return out


def format_plan(p: PlanResult) -> str:
    """Readable text of a :class:`PlanResult`."""
    v.instance(p, "p", PlanResult, "a precopy.planning.PlanResult (from plan())")
    b = p.baseline
    L = [f"budgets: total {p.budgets['total_s']:g} s, downtime {p.budgets['downtime_s'] * 1e3:g} ms",
         f"as configured: {'converges' if b['converged'] else 'does NOT converge'} ({b['stop_reason']}), "
         f"total {b['total_time_s']:.1f} s, downtime {b['downtime_s'] * 1e3:.0f} ms "
         f"(saturation model, pre-copy at {b['rate_bps'] / 1e9:.3f} Gbit/s)", ""]

    def conf(k):
        c = p.confirmations.get(k)
        if not c:
            return ""
        return (f"   [simulated, {c['seeds']} seeds: meets budgets {c['meets_budgets']:.0%}, total "
                f"{c['total_time_s']:.1f} s, downtime {c['downtime_s'] * 1e3:.0f} ms]")

    bw = "none on this link" if p.least_bandwidth_bps is None else (
        f"{p.least_bandwidth_bps / 1e9:.3f} Gbit/s = {p.least_bandwidth_bps / 8 / MiB(1):.0f} MiB/s")
    L.append(f"least bandwidth:        {bw}{conf('bandwidth')}")
    L.append(f"fewest streams:         {p.fewest_streams if p.fewest_streams else 'none up to 64'}{conf('streams')}")
    dl = "none" if p.smallest_downtime_limit_s is None else (
        f"{p.smallest_downtime_limit_s * 1e3:.1f} ms"
        + (" (the search floor: any limit converges in time)" if p.smallest_downtime_limit_s <= DOWNTIME_LIMIT_FLOOR_S
           else ""))
    L.append(f"smallest downtime limit: {dl}{conf('downtime_limit')}")
    aid = p.gentlest_aid + (f" {p.aid_setting}" if p.aid_setting else "")
    L.append(f"gentlest aid:           {aid}{conf('aid')}")
    if p.pareto:
        L += ["", "Pareto front over the downtime limit (saturation model):",
              f"{'limit ms':>9s} {'total s':>9s} {'downtime ms':>12s}  front"]
        for r in p.pareto:
            if r["converged"]:
                L.append(f"{r['downtime_limit_s'] * 1e3:9.1f} {r['total_time_s']:9.1f} "
                         f"{r['downtime_s'] * 1e3:12.1f}  {'*' if r['pareto'] else ''}")
    if p.kubevirt_ramp:
        L += ["", "KubeVirt VEP 291 ramp (150 ms, 7 steps, from iteration 3, 10 s cooldown) by maxDowntimeMs:"]
        for r in p.kubevirt_ramp:
            L.append(f"  maxDowntimeMs {r['max_downtime_ms']:6.0f}: {r['outcome']}, total {r['total_time_s']:.1f} s, "
                     f"downtime {r['downtime_s'] * 1e3:.0f} ms")
    L += ["", "recommended settings:"]
    for name, val, why in p.recommendations:
        L.append(f"  {name} = {val}: {why}")
    return "\n".join(L)


def plot_pareto(p_or_rows, *, ax=None):
    """Total time against downtime over the downtime limit, the front highlighted.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(2))
    >>> wl = pc.workloads.HotCold(wws_bytes=pc.MiB(128), hot_fraction=0.9, writes_per_s=30_000)
    >>> fig = plot_pareto(pareto_front(vm, wl, pc.Link.from_profile("10GbE")))
    >>> len(fig.axes)
    1
    """
    import matplotlib.pyplot as plt
    rows = p_or_rows.pareto if isinstance(p_or_rows, PlanResult) else p_or_rows
    what = "p_or_rows must be a PlanResult (from plan()) or the rows of pareto_front()"
    if isinstance(rows, (str, bytes, dict)) or not hasattr(rows, "__iter__"):
        raise ValueError(f"{what}; got {type(p_or_rows).__name__}")
    rows = list(rows)
    keys = ("downtime_limit_s", "total_time_s", "downtime_s", "converged", "pareto")
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or any(k not in r for k in keys):
            raise ValueError(f"{what}: each row a dict with {', '.join(keys)}; got {r!r} at index {i}")
    ramp = p_or_rows.kubevirt_ramp if isinstance(p_or_rows, PlanResult) else []
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
    else:
        fig = ax.figure
    ok = [r for r in rows if r["converged"]]
    ax.plot([r["downtime_s"] * 1e3 for r in ok], [r["total_time_s"] for r in ok], "o", color="0.6", ms=4,
            label="downtime limit swept")
    front = sorted((r for r in ok if r["pareto"]), key=lambda r: r["downtime_s"])
    ax.plot([r["downtime_s"] * 1e3 for r in front], [r["total_time_s"] for r in front], "-o", color="C0", ms=5,
            label="Pareto front")
    for r in front[:: max(1, len(front) // 5)]:
        ax.annotate(f"{r['downtime_limit_s'] * 1e3:.0f} ms", (r["downtime_s"] * 1e3, r["total_time_s"]),
                    textcoords="offset points", xytext=(4, 4), fontsize="x-small")
    conv = [r for r in ramp if r["outcome"] == "converged"]
    if conv:
        ax.plot([r["downtime_s"] * 1e3 for r in conv], [r["total_time_s"] for r in conv], "s", color="C1", ms=5,
                label="KubeVirt VEP 291 ramp (by maxDowntimeMs)")
    if isinstance(p_or_rows, PlanResult):
        b = p_or_rows.budgets
        ax.axvline(b["downtime_s"] * 1e3, ls="--", color="C3", lw=1)
        ax.axhline(b["total_s"], ls="--", color="C3", lw=1, label="budgets")
    ax.set_xscale("log")
    ax.set_xlabel("downtime (ms)")
    ax.set_ylabel("total time (s)")
    ax.legend(fontsize="small")
    return fig


# --- CLI: precopy plan ---------------------------------------------------------------------------

def add_arguments(p):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dirty-rate", metavar="FILE",
                     help="QMP query-dirty-rate JSON or virsh domstats --dirtyrate text: fit the workload")
    src.add_argument("--write-rate", help="uniform page-write rate x page size, e.g. 200MiB/s (with --wws: hot/cold)")
    p.add_argument("--wws", help="hot set, e.g. 1GiB (with --write-rate)")
    p.add_argument("--hot-fraction", type=float, default=0.9, help="share of writes on the hot set (default 0.9)")
    p.add_argument("--memory", help="guest memory, e.g. 8GiB (required unless the dirty-rate file holds it)")
    p.add_argument("--link", required=True, help="nominal link rate or profile, e.g. 10GbE")
    p.add_argument("--total-budget", required=True, help="total-time budget, e.g. 120s")
    p.add_argument("--downtime-budget", required=True, help="downtime budget, e.g. 500ms")
    p.add_argument("--downtime-limit", help="QEMU downtime limit while searching the other settings "
                                            "(default: the downtime budget less the switchover term)")
    p.add_argument("--switchover", help="what the frozen VM costs beyond its memory copy, e.g. 9ms (default: "
                                         "QEMU's fitted switchover term for this guest)")
    p.add_argument("--seeds", type=int, default=CONFIRM_SEEDS, help="seeds of the confirming simulations")
    p.add_argument("--plot", metavar="FILE", help="draw the Pareto front (png, pdf, svg)")


def run(args) -> int:
    from . import workloads as W
    from .hvstats import fit_dirty_rate, read_dirty_rate
    from .links import Link
    from .units import parse_byte_rate, parse_bytes, parse_rate_bps, parse_seconds
    from .vm import VM, Switchover
    mem = None if args.memory is None else parse_bytes(args.memory, name="--memory")
    if args.dirty_rate:
        f = fit_dirty_rate(read_dirty_rate(args.dirty_rate, memory_bytes=mem))
        print(f.summary())
        vm, wl = VM(memory_bytes=f.report.memory_bytes, page_bytes=f.report.page_bytes), f.workload
    else:
        if mem is None:
            raise ValueError("--memory is required with --write-rate")
        vm = VM(memory_bytes=mem)
        wps = parse_byte_rate(args.write_rate, "--write-rate") / vm.page_bytes
        wl = (W.HotCold(wws_bytes=parse_bytes(args.wws, name="--wws"), hot_fraction=args.hot_fraction,
                        writes_per_s=wps) if args.wws else W.Uniform(writes_per_s=wps))
    rate = parse_rate_bps(args.link, name="--link")
    link = Link.from_profile(args.link) if args.link.lower().endswith("gbe") else Link(rate_bps=rate)
    p = plan(vm, wl, link, total_budget_s=parse_seconds(args.total_budget, "--total-budget"),
             downtime_budget_s=parse_seconds(args.downtime_budget, "--downtime-budget"),
             downtime_limit_s=None if args.downtime_limit is None else parse_seconds(args.downtime_limit,
                                                                                      "--downtime-limit"),
             seeds=args.seeds,
             switchover=None if args.switchover is None else Switchover(
                 resume_s=parse_seconds(args.switchover, "--switchover")))
    print(format_plan(p))
    if args.plot:
        plot_pareto(p).savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"wrote the Pareto front to {args.plot}")
    return 0
