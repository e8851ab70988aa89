"""Figures of notebook 06 (plan a migration), registered with :mod:`precopy.figures` (through :mod:`precopy._figure_registry`).

Each function draws from the shipped example reports in ``precopy/data/examples/``
(synthetic, written to QEMU's and libvirt's schemas; see ``data/README.md``).
"""

from __future__ import annotations

from ._figure_registry import register

__all__ = ["plan_pareto", "eta_progress", "orchestrator_outcomes"]

NOTEBOOK = "06_plan_a_migration.ipynb"


def _fitted(report):
    from .hvstats import example_path, fit_dirty_rate, read_dirty_rate
    from .vm import VM
    f = fit_dirty_rate(read_dirty_rate(example_path(report)))
    return VM(memory_bytes=f.report.memory_bytes, page_bytes=f.report.page_bytes), f.workload


@register(NOTEBOOK, quick={"seeds": 1})
def plan_pareto(report="qmp_dirty_rate_sampling.json", link_gbps=2.5, total_budget_s=60.0,
                downtime_budget_s=0.1, seeds=2):
    """Total time against downtime over the downtime limit for the probed guest, with the budgets.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .links import Link
    from .planning import plan, plot_pareto
    vm, wl = _fitted(report)
    p = plan(vm, wl, Link(rate_bps=link_gbps * 1e9), total_budget_s=total_budget_s,
             downtime_budget_s=downtime_budget_s, seeds=seeds)
    return plot_pareto(p)


@register(NOTEBOOK)
def eta_progress(stats="virsh_domjobinfo_series.txt", downtime_limit_s=0.3, progress_timeout_s=150.0):
    """A migration in flight: remaining data, the monotone progress measure, the predicted finish.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .eta import plot_eta
    from .hvstats import example_path, read_job_stats
    return plot_eta(read_job_stats(example_path(stats)), downtime_limit_s=downtime_limit_s,
                    progress_timeout_s=progress_timeout_s)


@register(NOTEBOOK)
def orchestrator_outcomes(report="qmp_dirty_rate_sampling.json", link_profile="1GbE"):
    """The probed guest under each orchestrator's defaults and variants: outcome, total time, downtime.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from . import orchestrators as O
    from .links import Link
    vm, wl = _fitted(report)
    link = Link.from_profile(link_profile)
    cases = [("QEMU alone, 128 MiB/s", O.NoOrchestrator()),
             ("QEMU alone, unlimited", O.NoOrchestrator(max_bandwidth_mibps=None)),
             ("KubeVirt defaults", O.KubeVirt()),
             ("KubeVirt allowPostCopy", O.KubeVirt(allow_post_copy=True, progress_timeout_s=0)),
             ("KubeVirt allowAutoConverge", O.KubeVirt(allow_auto_converge=True)),
             ("KubeVirt VEP 291 ramp to 1050 ms", O.KubeVirt(max_downtime_ms=1050, downtime_tuning=True)),
             ("Nova defaults", O.Nova()),
             ("Nova force-complete, post-copy permitted", O.Nova(live_migration_timeout_action="force_complete",
                                                        live_migration_permit_post_copy=True)),
             ("virsh --timeout 300 (suspend)", O.Libvirt(timeout_s=300)),
             ("virsh --postcopy-after-precopy", O.Libvirt(postcopy_after_precopy=True))]
    res = [(label, O.replay(vm, wl, link, o, max_time_s=7200.0)) for label, o in cases]
    colors = {"converged": "C2", "postcopy": "C0", "forced": "C1", "aborted": "C3", "not_converged": "0.5"}

    words = {"converged": "converged", "postcopy": "post-copy", "forced": "forced", "aborted": "aborted",
             "not_converged": "did not converge"}

    def kind(r):
        return "postcopy" if r.stop_reason == "postcopy" else r.outcome

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.0, 4.2), sharey=True)
    y = np.arange(len(res))
    for i, (label, r) in enumerate(res):
        a1.barh(i, r.total_time_s, color=colors[kind(r)])
        a2.barh(i, max(r.downtime_s * 1e3, 1e-1), color=colors[kind(r)])
        a1.text(r.total_time_s, i, f" {words[kind(r)]}", va="center", fontsize="x-small")
    a1.set_yticks(y, [lab for lab, _ in res], fontsize="small")
    a1.invert_yaxis()
    a1.set_xscale("log")
    a1.set_xlabel("total time (s)")
    a2.set_xscale("log")
    a2.set_xlabel("downtime (ms; aborted: none)")
    probe = str(report).rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("_", " ")
    link_words = link_profile.replace("GbE", " GbE") if isinstance(link_profile, str) else link_profile
    fig.suptitle(f"{vm.memory_bytes / 2**30:g} GiB guest fitted to the probe '{probe}', {link_words}",
                 fontsize="small")
    fig.subplots_adjust(left=0.3, wspace=0.08)
    return fig
