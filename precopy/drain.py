"""Host drains: every VM of a host migrates away, sharing the host's links under an orchestrator's limits.

``precopy drain VMS.csv --link 25GbE --max-parallel 2 --order shortest-first -o RESULTS.csv``
and :func:`drain` answer how long a maintenance drain takes and which order
finishes it.  The model:

* **Concurrency.**  The orchestrator starts migrations in the chosen order,
  at most ``max_parallel`` at once (its per-host and per-cluster limits,
  :data:`PRESETS`); a slot freed by a finished or aborted migration starts the
  next one at once.
* **Link sharing.**  The host's NICs carry the migrations.  Each migration
  runs on one NIC (the one with the fewest migrations when it starts), or, with
  ``pooled=True``, on all of them together (SMB multichannel, multi-NIC
  vMotion).  Concurrent migrations share a NIC max-min fairly
  (:func:`max_min_fair`), each also bounded by its own ceiling: its streams'
  per-stream ceiling from the fitted link model (:mod:`precopy.links`) and its
  policy's ``max_bandwidth``.  The shares change whenever a migration starts
  or ends.
* **Pages.**  Each VM is still simulated page by page, with its share as a
  piecewise-constant pre-copy rate over its own wall time; its stop-and-copy
  runs at the share in force when its schedule last changed.  A VM is simulated
  again whenever its share changes (the page stream before the change is the
  same, so only the future changes); unchanged schedules are not re-run.
* **Timeouts.**  A migration still iterating after :data:`TIMEOUT_BULK_PASSES`
  times its bulk-pass time at the smallest share it can get is stopped as not
  converged (forced stop-and-copy, a long downtime).  An orchestrator with a completion timeout (Nova, KubeVirt:
  800 s per GiB of memory) aborts a migration still in pre-copy at that time,
  and KubeVirt's progress timeout one whose remaining data stopped shrinking:
  the VM stays on the host (verdict ``aborted``), and its slot and bandwidth
  are freed.

Orderings (:data:`ORDERS`): ``as-listed``, ``largest-first`` (memory),
``least-dirtying-first`` (guest write rate), ``shortest-first`` (predicted
migration time alone on the host, from :func:`precopy.analytic.predict`), and
``busiest-first-postcopy`` (highest write rate first, every VM with
:class:`precopy.aids.PostCopy`, which switches a migration that stops
progressing to post-copy; only on platforms with post-copy: not vSphere or
Hyper-V, where :func:`compare` leaves it out).  A ``priority`` column orders first (higher first).

The VM table has the workload columns of ``precopy predict``
(:mod:`precopy.predict`) with ``vm`` for ``scenario`` and without the link
columns, which come from the host: ``vm``, ``memory_mib``, ``page_kib``,
``workload``, ``wws_mib``, ``write_mibps``, ``hot_fraction``, ``zipf_s``,
``zero_fraction``, ``policy`` (default: the orchestrator's, ``vmware`` for
``vsphere``, else ``qemu``), ``hypervisor`` (the fitted preset whose switchover
term and sender ceiling apply, as in :mod:`precopy.predict`; default: the
orchestrator's, ``auto`` except ``none`` for Hyper-V), ``downtime_limit_ms``,
``max_bandwidth_mibps`` (default 0: unlimited, as libvirt runs QEMU),
``streams`` (default 1), ``priority`` (default 0).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from . import _validate as v
from .predict import csv_cell   # one CSV cell format for every results table
from .links import Link, profile

__all__ = ["NIC", "Host", "Orchestrator", "PRESETS", "ORDERS", "VM_COLUMNS", "RESULT_COLUMNS", "DrainVM",
           "DrainResult", "DrainComparison", "max_min_fair", "parse_link", "preset", "read_vms", "drain",
           "compare", "plot_drain_gantt", "validate_concurrent", "rate_model", "drain_gantt"]

ORDERS = ("as-listed", "largest-first", "least-dirtying-first", "shortest-first", "busiest-first-postcopy")
VM_COLUMNS = ("vm", "memory_mib", "page_kib", "workload", "wws_mib", "write_mibps", "hot_fraction", "zipf_s",
              "zero_fraction", "policy", "hypervisor", "downtime_limit_ms", "max_bandwidth_mibps", "streams",
              "priority")
RESULT_COLUMNS = ("order", "vm", "start_s", "end_s", "total_time_s", "precopy_time_s", "downtime_ms",
                  "postcopy_s", "verdict", "stop_reason", "nic", "mean_rate_gbps", "data_sent_mib")
#: A migration still iterating after this many bulk passes at its smallest possible share is stopped
#: as not converged (a forced stop-and-copy), unless the orchestrator aborted it earlier.
TIMEOUT_BULK_PASSES = 10.0
#: Relative tolerance of the water-filling loop (a flow within it of its bound is frozen).
FAIR_RTOL = 1e-12


# --- the host and the orchestrator ---------------------------------------------------------------

@dataclass(frozen=True)
class NIC:
    """One network interface of the source host carrying migrations.

    Parameters
    ----------
    rate_bps : float
        Nominal line rate (bits/s); the fitted link profile of that rate gives
        its payload capacity and the per-stream ceiling.
    mtu : int, default 1500
        Ethernet MTU (bytes).
    """

    rate_bps: float
    mtu: int = 1500

    def __post_init__(self):
        object.__setattr__(self, "rate_bps", v.real(self.rate_bps, "rate_bps", "bit/s", lo=1e6, hi=1e13))
        object.__setattr__(self, "mtu", v.integer(self.mtu, "mtu", "bytes", lo=576, hi=65535))

    def link(self, streams: int = 1, stream_class: str = "modern", per_stream_bps: float | None = None) -> Link:
        """The fitted :class:`~precopy.links.Link` of one migration with ``streams`` streams on this NIC
        (``per_stream_bps``: the migration's own sender ceiling, e.g. its hypervisor preset's)."""
        return profile(self.rate_bps).link(mtu=self.mtu, streams=streams, stream_class=stream_class,
                                           per_stream_bps=per_stream_bps)

    @property
    def capacity_bps(self) -> float:
        """Payload bits/s the NIC carries for all migrations together (framing and stack efficiency)."""
        return self.link().line_bps


@dataclass(frozen=True)
class Host:
    """The source host's migration NICs.

    Parameters
    ----------
    nics : sequence of NIC
    pooled : bool, default False
        False: each migration runs on one NIC.  True: the NICs form one pool
        (SMB multichannel, multi-NIC vMotion); they must share one MTU.
    stream_class : str, default ``'modern'``
        Per-stream ceiling of the fitted link model (:data:`precopy.links.STREAM_CLASSES`).
    """

    nics: tuple
    pooled: bool = False
    stream_class: str = "modern"

    def __post_init__(self):
        if isinstance(self.nics, (str, bytes, dict)) or not hasattr(self.nics, "__iter__"):
            raise ValueError(f"nics must be a non-empty sequence of precopy.drain.NIC; got {self.nics!r}")
        nics = tuple(self.nics)
        if not nics or not all(isinstance(n, NIC) for n in nics):
            raise ValueError(f"nics must be a non-empty sequence of precopy.drain.NIC; got {self.nics!r}")
        if not isinstance(self.pooled, bool):
            raise ValueError(f"pooled must be True or False; got {self.pooled!r}")
        if self.pooled and len({n.mtu for n in nics}) > 1:
            raise ValueError(f"nics must share one mtu (bytes) when pooled; got {sorted({n.mtu for n in nics})}")
        from .links import STREAM_CLASSES
        v.choice(self.stream_class, "stream_class", STREAM_CLASSES)
        object.__setattr__(self, "nics", nics)

    @property
    def resources(self) -> list[float]:
        """Capacities (bits/s) of the shared resources: one per NIC, or one pool."""
        caps = [n.capacity_bps for n in self.nics]
        return [sum(caps)] if self.pooled else caps

    def link(self, resource: int, streams: int, per_stream_bps: float | None = None) -> Link:
        """The link one migration with ``streams`` streams (each at most ``per_stream_bps``, default
        the host's stream class) sees alone on a resource."""
        v.integer(resource, "resource", "index of Host.resources", lo=0, hi=len(self.resources) - 1)
        if per_stream_bps is not None:
            v.real(per_stream_bps, "per_stream_bps", "bit/s", lo=1e3, hi=1e13)
        if self.pooled:
            total = sum(n.rate_bps for n in self.nics)
            return profile(total).link(mtu=self.nics[0].mtu, streams=streams, stream_class=self.stream_class,
                                       per_stream_bps=per_stream_bps)
        return self.nics[resource].link(streams, self.stream_class, per_stream_bps)

    @property
    def min_rate_bps(self) -> float:
        return min(n.rate_bps for n in self.nics)


def parse_link(text, pooled: bool = False) -> Host:
    """A :class:`Host` from text: ``"25GbE"``, ``"2x25GbE"``, ``"10GbE:9000"`` (MTU) or
    ``"25GbE,10GbE"`` (several NICs).

    Examples
    --------
    >>> h = parse_link("2x25GbE:9000")
    >>> len(h.nics), h.nics[0].rate_bps, h.nics[0].mtu
    (2, 25000000000.0, 9000)
    """
    return _host(text, pooled, "text")


def _host(text, pooled, name):
    """:func:`parse_link` with error messages naming ``name`` (``text``, or the ``link`` of a drain)."""
    from .units import parse_rate_bps
    v.flag(pooled, "pooled")
    if isinstance(text, Host):
        return text
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a Host or a description of its NICs such as '25GbE', '2x10GbE' or "
                         f"'10GbE:9000'; got {type(text).__name__}")
    nics = []
    for part in text.split(","):
        part = part.strip()
        count, mtu = 1, 1500
        if ":" in part:
            part, m = part.split(":", 1)
            try:
                mtu = int(m)
            except ValueError:
                raise ValueError(f"{name}: MTU must be an integer number of bytes; got {m!r}") from None
        low = part.lower()
        if "x" in low and low.split("x", 1)[0].strip().isdigit():
            c, part = part.split(low[low.index("x")], 1)
            count = int(c)
        if not 1 <= count <= 64:
            raise ValueError(f"{name}: NIC count must be in [1, 64]; got {count}")
        rate = parse_rate_bps(part.strip().replace("GbE", "Gbps").replace("gbe", "Gbps"), name=name)
        nics += [NIC(rate_bps=rate, mtu=mtu)] * count
    return Host(nics=tuple(nics), pooled=pooled)


@dataclass(frozen=True)
class Orchestrator:
    """Concurrency limits and timeouts of a drain.

    Parameters
    ----------
    name : str
    max_parallel : int
        Migrations out of the host at once.
    max_parallel_cluster : int or None
        Migrations in the whole cluster at once (with one host draining, the
        smaller of the two limits binds).
    completion_timeout_per_gib_s : float or None
        A migration still in pre-copy after this many seconds per GiB of guest
        memory is aborted (None: never).
    completion_timeout_min_gib : float, default 0
        Lower bound of the GiB count in that product (Nova: 2 GiB).
    progress_timeout_s : float or None
        A migration whose remaining data has not reached a new minimum for this
        long is aborted (KubeVirt's ``progressTimeout``).  Needs the kernel's
        run-time controls (:class:`precopy.policies.Controls`); ignored, and
        said so by :func:`rate_model`, without them.
    source : str
        Where the numbers come from.
    policy : str, default ``"qemu"``
        Stop rule of the VM table's rows that leave ``policy`` empty (vSphere: ``vmware``).
    hypervisor : str, default ``"auto"``
        Fitted hypervisor preset of rows that leave ``hypervisor`` empty (see
        :mod:`precopy.predict`); ``"none"`` where precopy has none fitted (Hyper-V).
    postcopy : bool, default True
        Whether the platform can switch a migration to post-copy (QEMU-based
        ones can; vMotion and Hyper-V cannot), which the
        ``busiest-first-postcopy`` ordering needs.
    platform : precopy.orchestrators.KubeVirt or Nova, optional
        The orchestrator's per-migration settings (:mod:`precopy.orchestrators`,
        the one definition of their defaults).  When given, each VM's completion
        and progress timeouts, their actions and the downtime-limit schedule
        come from ``platform.plan(vm)`` and override the numbers above.
    """

    name: str
    max_parallel: int
    max_parallel_cluster: int | None = None
    completion_timeout_per_gib_s: float | None = None
    completion_timeout_min_gib: float = 0.0
    progress_timeout_s: float | None = None
    source: str = ""
    policy: str = "qemu"
    hypervisor: str = "auto"
    postcopy: bool = True
    platform: object = None

    def __post_init__(self):
        v.text(self.name, "name", empty=False)
        v.text(self.source, "source")
        object.__setattr__(self, "max_parallel", v.integer(self.max_parallel, "max_parallel", "migrations",
                                                           lo=1, hi=10_000))
        if self.max_parallel_cluster is not None:
            object.__setattr__(self, "max_parallel_cluster",
                               v.integer(self.max_parallel_cluster, "max_parallel_cluster", "migrations",
                                         lo=1, hi=100_000))
        if self.completion_timeout_per_gib_s is not None:
            object.__setattr__(self, "completion_timeout_per_gib_s",
                               v.real(self.completion_timeout_per_gib_s, "completion_timeout_per_gib_s",
                                      "s per GiB", lo=0.0, hi=1e9, lo_open=True))
        if self.progress_timeout_s is not None:
            object.__setattr__(self, "progress_timeout_s",
                               v.real(self.progress_timeout_s, "progress_timeout_s", "s", lo=0.0, hi=1e9,
                                      lo_open=True))
        object.__setattr__(self, "completion_timeout_min_gib",
                           v.real(self.completion_timeout_min_gib, "completion_timeout_min_gib", "GiB",
                                  lo=0.0, hi=1e6))
        from .hypervisors import NAMES as HV_NAMES
        from .policies import NAMES as POLICY_NAMES
        v.choice(self.policy, "policy", POLICY_NAMES)
        v.choice(self.hypervisor, "hypervisor", ("auto", "none") + HV_NAMES)
        v.flag(self.postcopy, "postcopy")
        if self.platform is not None and not callable(getattr(self.platform, "plan", None)):
            raise ValueError(f"platform must be None or a precopy.orchestrators setting with a plan(vm) method "
                             f"(KubeVirt, Nova, Libvirt); got {type(self.platform).__name__}")

    @property
    def limit(self) -> int:
        """Migrations that may run at once from one draining host."""
        c = self.max_parallel_cluster
        return self.max_parallel if c is None else min(self.max_parallel, c)

    def controls_for(self, vm) -> dict:
        """Run-time controls (:class:`precopy.policies.Controls` keywords) this orchestrator sets
        for one VM: completion and progress timeouts with their actions, the downtime schedule."""
        if self.platform is not None:
            plan = self.platform.plan(vm)
            out = {}
            if plan.completion_timeout_s is not None:
                out.update(completion_timeout_s=plan.completion_timeout_s, completion_action=plan.completion_action)
            if plan.progress_timeout_s is not None:
                out.update(progress_timeout_s=plan.progress_timeout_s, progress_action=plan.progress_action)
            if len(plan.downtime_schedule) > 1:
                out["downtime_schedule"] = tuple(plan.downtime_schedule)
            return out
        out = {}
        tmo = self.timeout_s(vm.memory_bytes)
        if math.isfinite(tmo):
            out.update(completion_timeout_s=tmo, completion_action="abort")
        if self.progress_timeout_s is not None:
            out.update(progress_timeout_s=self.progress_timeout_s, progress_action="abort")
        return out

    def timeout_s(self, memory_bytes: int) -> float:
        """The completion timeout of a guest of that size (inf without one)."""
        memory_bytes = v.integer(memory_bytes, "memory_bytes", "bytes", lo=0)
        if self.platform is not None:
            from .vm import VM
            if memory_bytes == 0:
                return 0.0
            return self.controls_for(VM(memory_bytes=memory_bytes)).get("completion_timeout_s", math.inf)
        if self.completion_timeout_per_gib_s is None:
            return math.inf
        gib = max(memory_bytes / 2**30, self.completion_timeout_min_gib)
        return self.completion_timeout_per_gib_s * gib


_SOURCES = {
    "kubevirt": ("KubeVirt MigrationConfiguration defaults: parallelOutboundMigrationsPerNode 2, "
                 "parallelMigrationsPerCluster 5 (kubevirt pkg/virt-config/virt-config.go); per migration the "
                 "settings of precopy.orchestrators.KubeVirt(): completionTimeoutPerGiB 150 s per decimal GB "
                 "(VEP 248; releases up to about v1.3 used 800) and progressTimeout 150 s, both cancelling the "
                 "migration unless post-copy is allowed."),
    "nova": ("OpenStack Nova: [DEFAULT] max_concurrent_live_migrations = 1 (Nova configuration reference); "
             "per migration the settings of precopy.orchestrators.Nova(): the downtime limit in steps, "
             "live_migration_completion_timeout = 800 s per GiB of RAM + disk with a lower bound of 2 GiB, "
             "live_migration_timeout_action = abort."),
    "vsphere": ("VMware vCenter network limits for vMotion: maximum cost 4 per host on 1 GigE, 8 on 10 GigE "
                "(vSphere 6.5/6.7 'Limits on Simultaneous Migrations'); 8 per host on faster links "
                "(VMware performance blog, 'vCenter Limits for Concurrent vMotion', 2021). No timeout. No "
                "post-copy (vMotion slows the guest instead: SDPS). Rows default to the vmware policy."),
    "hyperv": ("Hyper-V host setting 'Simultaneous live migrations' (Set-VMHost "
               "-MaximumVirtualMachineMigrations), default 2 (Microsoft Learn, 'Set up hosts for live "
               "migration without Failover Clustering'); failover clusters with the 2022-09 update default "
               "to MaximumParallelMigrations 1. No timeout. No post-copy. precopy has no fitted Hyper-V stop "
               "rule: rows default to QEMU's stop rule with the textbook switchover (hypervisor 'none')."),
}

#: Preset names (see :func:`preset`).
PRESETS = ("kubevirt", "nova", "vsphere", "hyperv")


def preset(name: str, host: Host | None = None) -> Orchestrator:
    """An orchestrator's default limits, with their sources.

    Parameters
    ----------
    name : str
        ``"kubevirt"``, ``"nova"``, ``"vsphere"`` or ``"hyperv"``.
    host : Host, optional
        vSphere's limit depends on the vMotion link: 4 below 10 GbE, else 8
        (default: 10 GbE or faster).

    Examples
    --------
    >>> preset("kubevirt").limit, preset("nova").limit, preset("hyperv").limit
    (2, 1, 2)
    >>> preset("vsphere", parse_link("1GbE")).limit, preset("vsphere", parse_link("25GbE")).limit
    (4, 8)
    """
    name = v.choice(str(name).strip().lower(), "preset", PRESETS)
    if host is not None:
        v.instance(host, "host", Host, "a precopy.drain.Host or None")
    src = _SOURCES[name]
    if name == "kubevirt":
        from .orchestrators import KubeVirt
        kv = KubeVirt()
        return Orchestrator("kubevirt", 2, 5, completion_timeout_per_gib_s=kv.completion_timeout_per_gib_s,
                            progress_timeout_s=kv.progress_timeout_s, source=src, platform=kv)
    if name == "nova":
        from .orchestrators import Nova
        nv = Nova()
        return Orchestrator("nova", 1, completion_timeout_per_gib_s=float(nv.live_migration_completion_timeout),
                            completion_timeout_min_gib=2.0, source=src, platform=nv)
    if name == "vsphere":
        slow = host is not None and host.min_rate_bps < 10e9
        return Orchestrator("vsphere", 4 if slow else 8, source=src, policy="vmware", postcopy=False)
    return Orchestrator("hyperv", 2, source=src, hypervisor="none", postcopy=False)


# --- max-min fair sharing -------------------------------------------------------------------------

def _rates(x, name, what):
    """A number or a 1-D sequence of numbers (bit/s) as a float array; the range is the caller's to check."""
    msg = f"{name} (bit/s) must be a number or a 1-D sequence of numbers, {what}"
    if isinstance(x, (str, bytes)) or x is None:
        raise ValueError(f"{msg}; got {x!r}")
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{msg}; got {type(x).__name__} ({e})") from None
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{msg}; got dtype {a.dtype}")
    if a.ndim > 1:
        raise ValueError(f"{msg}; got shape {a.shape}")
    return a.astype(np.float64).reshape(-1)


def max_min_fair(capacity_bps, ceiling_bps, usage=None) -> np.ndarray:
    """Max-min fair rates of flows sharing resources, each flow also bounded by its own ceiling.

    Progressive filling: every unfrozen flow's rate rises at the same pace; a
    flow freezes when it reaches its ceiling or when a resource it uses is full.

    Parameters
    ----------
    capacity_bps : sequence of float
        Capacity of each resource (bits/s), > 0.
    ceiling_bps : sequence of float
        Each flow's own bound (bits/s), > 0; ``inf`` for none (then the flow
        must use a resource).
    usage : array of bool, shape (flows, resources), optional
        Which resources each flow uses; default: every flow uses every resource.

    Returns
    -------
    ndarray of float
        One rate per flow (bits/s).

    Examples
    --------
    >>> max_min_fair([10.0], [3.0, np.inf, np.inf]).tolist()
    [3.0, 3.5, 3.5]
    """
    cap = _rates(capacity_bps, "capacity_bps", "finite and > 0")
    ceil = _rates(ceiling_bps, "ceiling_bps", "> 0 (inf: no ceiling)")
    if cap.size == 0 or not np.all(np.isfinite(cap)) or np.any(cap <= 0):
        raise ValueError(f"capacity_bps (bit/s) must be finite and > 0; got {cap.tolist()}")
    if np.any(np.isnan(ceil)) or np.any(ceil <= 0):
        raise ValueError(f"ceiling_bps (bit/s) must be > 0 (inf: no ceiling); got {ceil.tolist()}")
    nf = ceil.size
    use = np.ones((nf, cap.size), bool) if usage is None else np.asarray(usage, dtype=bool)
    if use.shape != (nf, cap.size):
        raise ValueError(f"usage must have shape (flows, resources) = {(nf, cap.size)}; got {use.shape}")
    if np.any(~use.any(axis=1) & ~np.isfinite(ceil)):
        raise ValueError("ceiling_bps must be finite for a flow that uses no resource")
    rate = np.zeros(nf)
    rem = cap.copy()
    frozen = np.zeros(nf, bool)
    for _ in range(nf + cap.size + 1):
        active = ~frozen
        if not active.any():
            break
        n_r = use[active].sum(axis=0)
        headroom = ceil[active] - rate[active]
        per_res = np.where(n_r > 0, rem / np.maximum(n_r, 1), np.inf)
        delta = min(per_res.min(), headroom.min())
        rate[active] += delta
        rem -= delta * n_r
        full = rem <= FAIR_RTOL * cap
        rem[full] = 0.0
        at_ceiling = ceil - rate <= FAIR_RTOL * np.where(np.isfinite(ceil), ceil, 1.0)
        frozen |= at_ceiling | (use & full[None, :]).any(axis=1)
    rate = np.minimum(rate, ceil)
    return rate


# --- the VM table ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DrainVM:
    """One VM of a drain, validated.

    Parameters
    ----------
    name : str
        Unique within the drain.
    vm : precopy.VM
    workload : precopy.workloads.Workload
    policy : precopy.policies.Policy
    streams : int, default 1
        Link streams of its migration, in [1, 1024].
    priority : float, default 0
        Higher migrates first, in [-1e9, 1e9].
    write_Bps : float, default 0
        The guest's page-write rate (bytes/s), for the write-rate orderings.
    row : int, default 0
        Row of the VM table it came from (0: not from a table).
    """

    name: str
    vm: object
    workload: object
    policy: object
    streams: int = 1
    priority: float = 0.0
    write_Bps: float = 0.0
    row: int = 0
    switchover: object = None         # precopy.vm.Switchover (None: the textbook default)
    per_stream_bps: float | None = None   # the hypervisor preset's sender ceiling (None: the host's)
    hypervisor: str | None = None
    auto_streams: bool = False        # streams chosen from the host's link (vSphere 7.0 U2+), not given

    def __post_init__(self):
        from .policies import Policy
        from .vm import VM
        from .workloads import Workload
        v.text(self.name, "name", empty=False)
        v.instance(self.vm, "vm", VM, "a precopy.VM")
        v.instance(self.workload, "workload", Workload, "a precopy.workloads.Workload")
        v.instance(self.policy, "policy", Policy, "a precopy.policies.Policy")
        object.__setattr__(self, "streams", v.integer(self.streams, "streams", "count", lo=1, hi=1024))
        object.__setattr__(self, "priority", v.real(self.priority, "priority", "rank (higher migrates first)",
                                                    lo=-1e9, hi=1e9))
        object.__setattr__(self, "write_Bps", v.real(self.write_Bps, "write_Bps", "bytes/s", lo=0.0))
        object.__setattr__(self, "row", v.integer(self.row, "row", "table row", lo=0, hi=2**31 - 1))
        from .hypervisors import NAMES as HV_NAMES
        from .vm import Switchover
        if self.switchover is not None:
            v.instance(self.switchover, "switchover", Switchover, "a precopy.Switchover or None")
        if self.per_stream_bps is not None:
            object.__setattr__(self, "per_stream_bps", v.real(self.per_stream_bps, "per_stream_bps", "bit/s",
                                                              lo=1e3, hi=1e13))
        if self.hypervisor is not None:
            v.choice(self.hypervisor, "hypervisor", HV_NAMES)
        v.flag(self.auto_streams, "auto_streams")


def _blank(x) -> bool:
    return x is None or (isinstance(x, str) and x.strip() == "") or (isinstance(x, float) and math.isnan(x))


def _parse_vm(raw: dict, row: int, line: int | None = None, defaults: dict | None = None) -> DrainVM:
    from .predict import parse_scenario
    where = f"row {row} (line {line}): " if line else f"row {row}: "
    for k in raw:
        if k not in VM_COLUMNS:
            raise ValueError(f"{where}unknown column {k!r} (allowed: {', '.join(VM_COLUMNS)})")
    r = {k: raw[k] for k in raw if not _blank(raw[k])}
    for k in ("vm", "memory_mib", "workload"):
        if k not in r:
            raise ValueError(f"{where}column {k!r}: a value is required; got an empty cell")
    prio = r.pop("priority", 0.0)
    try:
        prio = v.real(float(prio), "priority", "rank (higher migrates first)", lo=-1e9, hi=1e9)
    except (TypeError, ValueError):
        raise ValueError(f"{where}column 'priority': must be a number (higher migrates first); "
                         f"got {raw.get('priority')!r}") from None
    row_in = {("scenario" if k == "vm" else k): val for k, val in r.items()}
    for k, x in (defaults or {"policy": "qemu"}).items():
        row_in.setdefault(k, x)
    row_in.setdefault("max_bandwidth_mibps", 0)
    row_in["link_gbps"] = 10          # placeholder line rate for validation; the host's links replace it
    row_in["seeds"] = 1
    try:
        sc = parse_scenario(row_in, row=row, line=line)
    except ValueError as e:
        raise ValueError(str(e).replace("column 'scenario'", "column 'vm'")) from None
    wl = sc.workload
    write_Bps = float(getattr(wl, "writes_per_s", 0.0)) * sc.vm.page_bytes
    ps, auto = None, False
    if sc.hypervisor is not None:          # the preset's sender ceiling; its stream scaling unless streams are given
        from .hypervisors import get as get_hv
        hv = get_hv(sc.hypervisor)
        ps, auto = hv.per_stream_bps, hv.auto_streams and "streams" not in r
    return DrainVM(name=sc.scenario, vm=sc.vm, workload=wl, policy=sc.policy, streams=sc.link.streams,
                   priority=prio, write_Bps=write_Bps, row=row, switchover=sc.switchover, per_stream_bps=ps,
                   hypervisor=sc.hypervisor, auto_streams=auto)


def _vms_of(table, defaults: dict | None = None) -> list[DrainVM]:
    if isinstance(table, (str, os.PathLike)):
        try:
            return read_vms(table, defaults=defaults)
        except ValueError as e:
            raise ValueError(f"vms: {e}") from None
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        rows = table.to_dict("records")
    elif isinstance(table, dict):
        cols = list(table)
        n = {len(table[c]) for c in cols}
        if len(n) > 1:
            raise ValueError(f"vms columns must have equal lengths; got {sorted(n)}")
        k = n.pop() if n else 0
        rows = [{c: table[c][i] for c in cols} for i in range(k)]
    elif isinstance(table, bytes) or not hasattr(table, "__iter__"):
        raise ValueError(f"vms must be a path, a list of dicts, a dict of columns, a DataFrame or a list of "
                         f"DrainVM; got {type(table).__name__}")
    else:
        rows = list(table)
    if rows and all(isinstance(r, DrainVM) for r in rows):
        _check_names(rows)
        return rows
    for i, r in enumerate(rows, start=1):
        if not isinstance(r, dict):
            raise ValueError(f"vms: row {i} must be a dict of columns (or every row a DrainVM); "
                             f"got {type(r).__name__}")
    out = [_parse_vm(dict(r), i, defaults=defaults) for i, r in enumerate(rows, start=1)]
    _check_names(out)
    return out


def _check_names(vms):
    seen = {}
    for d in vms:
        if d.name in seen:
            raise ValueError(f"row {d.row}: column 'vm': duplicate name {d.name!r} (also row {seen[d.name]})")
        seen[d.name] = d.row
    if not vms:
        raise ValueError("vms must hold at least one VM; got none")


def _check_defaults(defaults):
    """``defaults`` of :func:`read_vms`: None or a dict of VM-table columns (policy and hypervisor checked)."""
    if defaults is None:
        return None
    if not isinstance(defaults, dict):
        raise ValueError(f"defaults must be None or a dict of VM-table columns -> value; got "
                         f"{type(defaults).__name__}")
    for k in defaults:
        if k not in VM_COLUMNS:
            raise ValueError(f"defaults: unknown column {k!r} (allowed: {', '.join(VM_COLUMNS)})")
    from .hypervisors import NAMES as HV_NAMES
    from .policies import NAMES as POLICY_NAMES
    if "policy" in defaults:
        v.choice(defaults["policy"], "defaults['policy']", POLICY_NAMES)
    if "hypervisor" in defaults:
        v.choice(defaults["hypervisor"], "defaults['hypervisor']", ("auto", "none") + HV_NAMES)
    return defaults


def read_vms(path, *, defaults: dict | None = None) -> list[DrainVM]:
    """Read and validate a VM table (CSV with the columns of :data:`VM_COLUMNS`).

    ``defaults`` (column -> value) fills the cells a row leaves empty (default
    ``{"policy": "qemu"}``; :func:`drain` passes its orchestrator's ``policy``
    and ``hypervisor``).

    Raises
    ------
    ValueError
        Naming the file, the row, its line and the column.
    """
    defaults = _check_defaults(defaults)
    path = v.file_name(path, "path")
    from .predict import table_rows
    vms = []
    for row, line, raw in table_rows(path, "VM table", VM_COLUMNS, ("vm", "memory_mib", "workload")):
        try:
            vms.append(_parse_vm(raw, row, line, defaults))
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    try:
        _check_names(vms)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return vms


# --- simulating one VM under a rate schedule ------------------------------------------------------

def _controls_class():
    """The kernel's ``Controls`` when it has ``rate_schedule``, else None."""
    try:
        from .policies import Controls
    except ImportError:
        return None
    if "rate_schedule" not in {f.name for f in dataclasses.fields(Controls)}:
        return None
    return Controls


def rate_model() -> str:
    """``"schedule"`` when the kernel applies a piecewise-constant rate inside rounds;
    ``"mean"`` otherwise (each VM runs at the mean of its schedule over its own
    migration, found by fixed-point iteration)."""
    return "schedule" if _controls_class() is not None else "mean"


_MEAN_ITERATIONS = 4


def _schedule_mean(schedule, duration_s):
    """Time-average of a piecewise-constant schedule over [0, duration_s]."""
    if duration_s <= 0:
        return schedule[0][1]
    acc = 0.0
    for k, (t, r) in enumerate(schedule):
        if t >= duration_s:
            break
        t_next = schedule[k + 1][0] if k + 1 < len(schedule) else math.inf
        acc += r * (min(t_next, duration_s) - t)
    return acc / duration_s


def _simulate_vm(job):
    """One VM under a rate schedule.

    ``job`` is ``(DrainVM, link, schedule, postcopy, seed)`` or, with the
    orchestrator's settings, ``(..., controls)``: the keywords of
    :meth:`Orchestrator.controls_for` (timeouts with their actions, downtime
    schedule).  With the kernel's run-time controls a timeout aborts the
    migration at a bitmap sync (``outcome == 'aborted'``); otherwise the drain
    checks the completion timeout itself.
    """
    from .simulate import simulate
    from .vm import Switchover
    d, link, schedule, postcopy, seed = job[:5]
    extra = job[5] if len(job) > 5 and job[5] is not None else {}
    aids = None
    if postcopy:
        from .aids import PostCopy
        aids = [PostCopy()]
    # the stop-and-copy (and post-copy) run at the share in force when the schedule was last changed
    policy = d.policy.with_(final_bandwidth_bps=schedule[-1][1])
    Controls = _controls_class()
    if Controls is not None:
        ctl = {"rate_schedule": tuple(schedule)}
        ctl.update(extra)
        pol = policy.with_(controls=Controls(**ctl))
        return simulate(d.vm, d.workload, link, pol, seed=seed, switchover=d.switchover or Switchover(), aids=aids)
    rate = schedule[0][1]
    res = None
    for _ in range(_MEAN_ITERATIONS):
        res = simulate(d.vm, d.workload, link, policy.with_(max_bandwidth_bps=rate), seed=seed,
                       switchover=d.switchover or Switchover(), aids=aids)
        new = _schedule_mean(schedule, res.precopy_time_s)
        if len(schedule) == 1 or abs(new - rate) <= 1e-4 * rate:
            break
        rate = new
    return res


# --- the drain ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DrainResult:
    """Outcome of one drain.

    Attributes
    ----------
    order : str
    rows : list of dict
        One per VM in the order they started, keys :data:`RESULT_COLUMNS`
        (``start_s``/``end_s`` since the drain began; ``end_s`` is the abort
        time for an aborted migration).
    makespan_s : float
        When the last migration ended (finished or aborted).
    n_aborted, n_not_converged, n_postcopy : int
    limit : int
        Migrations at once.
    orchestrator : str
    rate_model : str
        ``"schedule"`` or ``"mean"`` (see :func:`rate_model`).
    results : dict of str to MigrationResult
        The last simulation of each VM (None for none).
    """

    order: str
    rows: list
    makespan_s: float
    n_aborted: int
    n_not_converged: int
    n_postcopy: int
    limit: int
    orchestrator: str
    rate_model: str
    results: dict = field(default_factory=dict, repr=False)

    @property
    def n_failed(self) -> int:
        """Aborted plus not converged (forced stop-and-copy)."""
        return self.n_aborted + self.n_not_converged

    def summary(self) -> str:
        worst = max((r["downtime_ms"] for r in self.rows), default=0.0)
        return (f"drain ({self.order}, {self.limit} at once, {self.orchestrator}): makespan {self.makespan_s:.1f} s, "
                f"{len(self.rows)} VMs, {self.n_aborted} aborted, {self.n_not_converged} not converged, "
                f"{self.n_postcopy} post-copy, worst downtime {worst:.0f} ms")

    def write_csv(self, path) -> None:
        _write_rows(self.rows, path)

    def plot_gantt(self, ax=None):
        return plot_drain_gantt(self, ax=ax)


def _order(vms, order, host, seed):
    idx = list(range(len(vms)))
    if order == "as-listed":
        key = [0.0] * len(vms)
    elif order == "largest-first":
        key = [-d.vm.memory_bytes for d in vms]
    elif order == "least-dirtying-first":
        key = [d.write_Bps for d in vms]
    elif order == "busiest-first-postcopy":
        key = [-d.write_Bps for d in vms]
    else:
        key = [_predicted_alone_s(d, host, seed) for d in vms]
    return sorted(idx, key=lambda i: (-vms[i].priority, key[i], i))


def _predicted_alone_s(d, host, seed):
    """Predicted migration time of a VM alone on the host: the analytic model, or the simulator where it
    does not apply."""
    link = host.link(0, d.streams, d.per_stream_bps)
    try:
        from . import analytic
        return float(analytic.predict(d.vm, d.workload, link, d.policy).total_time_s)
    except (ValueError, ImportError, AttributeError):
        from .simulate import simulate
        return simulate(d.vm, d.workload, link, d.policy, seed=seed).total_time_s


def _verdict(res, aborted):
    if aborted:
        return "aborted"
    outcome = getattr(res, "outcome", None)
    if res.stop_reason == "postcopy" or res.postcopy_s > 0:
        return "postcopy"
    if outcome is not None:
        return outcome
    return "converged" if res.converged else "not_converged"


def _orchestrator(orchestrator, host, max_parallel=None) -> Orchestrator:
    if isinstance(orchestrator, str):
        v.choice(orchestrator.strip().lower(), "orchestrator", PRESETS)
        orchestrator = preset(orchestrator, host)
    if orchestrator is not None and not isinstance(orchestrator, Orchestrator):
        raise ValueError(f"orchestrator must be a preset name ({', '.join(PRESETS)}) or a "
                         f"precopy.drain.Orchestrator; got {orchestrator!r}")
    if orchestrator is None:
        orchestrator = Orchestrator("custom", 2 if max_parallel is None else max_parallel)
    return orchestrator


def _defaults(orchestrator) -> dict:
    """Cells the orchestrator fills where a VM row leaves them empty."""
    return {"policy": orchestrator.policy, "hypervisor": orchestrator.hypervisor}


def _with_host_streams(vms, host):
    """Streams of the VMs whose preset scales them to the link (vSphere 7.0 U2+), for this host."""
    from .hypervisors import get as get_hv
    rate = sum(n.rate_bps for n in host.nics) if host.pooled else host.min_rate_bps
    return [dataclasses.replace(d, streams=get_hv(d.hypervisor).streams_for(rate)) if d.auto_streams else d
            for d in vms]


def drain(vms, link="25GbE", *, max_parallel: int | None = None, order: str = "as-listed",
          orchestrator: Orchestrator | str | None = None, pooled: bool = False, seed: int = 0) -> DrainResult:
    """Simulate draining a host: every VM migrates, sharing the host's links, under concurrency limits.

    Parameters
    ----------
    vms : path, list of dict, dict of columns, DataFrame, or list of DrainVM
        The VM table (columns :data:`VM_COLUMNS`; see the module docs).
    link : str or Host, default ``"25GbE"``
        The host's migration NICs: ``"25GbE"``, ``"2x10GbE"``, ``"10GbE:9000"``
        (MTU), ``"25GbE,10GbE"``, or a :class:`Host`.
    max_parallel : int, optional
        Migrations at once; default the orchestrator's limit (2 without one).
    order : str, default ``"as-listed"``
        One of :data:`ORDERS`.
    orchestrator : Orchestrator or str, optional
        A preset name (:data:`PRESETS`) or an :class:`Orchestrator`; its
        completion timeout aborts migrations.  ``max_parallel`` overrides its limit.
    pooled : bool, default False
        The NICs form one pool (see :class:`Host`).
    seed : int, default 0
        VM number ``i`` (in table order) uses seed ``seed + i``, whatever the order.

    Returns
    -------
    DrainResult

    Examples
    --------
    >>> vms = [{"vm": f"v{i}", "memory_mib": 256, "workload": "hotcold", "wws_mib": 16, "write_mibps": 40}
    ...        for i in range(3)]
    >>> r = drain(vms, "10GbE", max_parallel=2)
    >>> [row["vm"] for row in r.rows], r.n_failed
    (['v0', 'v1', 'v2'], 0)
    >>> r.rows[2]["start_s"] == min(r.rows[0]["end_s"], r.rows[1]["end_s"])
    True
    """
    host = _host(link, pooled, "link (--link)")
    order = v.choice(str(order).strip().lower(), "order", ORDERS)
    orchestrator = _orchestrator(orchestrator, host, max_parallel)
    vms = _with_host_streams(_vms_of(vms, _defaults(orchestrator)), host)
    if order == "busiest-first-postcopy" and not orchestrator.postcopy:
        raise ValueError(f"order 'busiest-first-postcopy' needs post-copy, which orchestrator "
                         f"{orchestrator.name!r} does not have; choose another order")
    if max_parallel is not None:
        orchestrator = dataclasses.replace(orchestrator, max_parallel=max_parallel, max_parallel_cluster=None)
    seed = v.seed(seed)
    limit = orchestrator.limit
    postcopy = order == "busiest-first-postcopy"
    caps = host.resources
    n_res = len(caps)

    # each VM: a policy timeout long enough for the slowest share it can get (the orchestrator aborts earlier)
    queue = _order(vms, order, host, seed)
    min_share = min(caps) / max(1, limit if host.pooled else math.ceil(limit / n_res))
    specs = {}
    for i, d in enumerate(vms):
        low = min([min_share] + [host.link(r, d.streams, d.per_stream_bps).goodput_bps for r in range(n_res)]
                  + ([d.policy.max_bandwidth_bps] if d.policy.max_bandwidth_bps is not None else []))
        bulk_s = d.vm.memory_bytes * 8.0 / low
        specs[i] = dataclasses.replace(d, policy=d.policy.with_(timeout_s=TIMEOUT_BULK_PASSES * bulk_s))

    t = 0.0
    active = {}            # i -> dict(start, res, link, ceiling, schedule, result, end, aborted)
    done_rows = []
    results = {}
    cache = {}
    model = rate_model()

    def run(i, a):
        key = (i, tuple(a["schedule"]))
        if key not in cache:
            if len(cache) > 4 * limit + 16:
                cache.clear()
            cache[key] = _simulate_vm((specs[i], a["link"], a["schedule"], postcopy, seed + i,
                                       orchestrator.controls_for(vms[i].vm)))
        res = cache[key]
        tmo = orchestrator.timeout_s(vms[i].vm.memory_bytes)
        if getattr(res, "outcome", "") == "aborted":           # the kernel's run-time controls aborted it
            aborted, end = True, res.total_time_s
        else:
            aborted = res.precopy_time_s > tmo
            end = tmo if aborted else res.total_time_s
        a["result"], a["aborted"] = res, aborted
        # a migration cannot end before the moment its share changed (the mean-rate model is not causal)
        a["end"] = max(t, a["start"] + end)

    pending = list(queue)
    while pending or active:
        while pending and len(active) < limit:
            i = pending.pop(0)
            load = [sum(1 for a in active.values() if a["res"] == r) for r in range(n_res)]
            r = 0 if host.pooled else int(np.argmin(load))
            lk = host.link(r, vms[i].streams, vms[i].per_stream_bps)
            ceiling = lk.goodput_bps
            if specs[i].policy.max_bandwidth_bps is not None:
                ceiling = min(ceiling, specs[i].policy.max_bandwidth_bps)
            active[i] = {"start": t, "res": r, "link": lk, "ceiling": ceiling, "schedule": [], "result": None,
                         "end": math.inf, "aborted": False}
        ids = sorted(active)
        usage = np.zeros((len(ids), n_res), bool)
        for k, i in enumerate(ids):
            usage[k, active[i]["res"]] = True
        shares = max_min_fair(caps, [active[i]["ceiling"] for i in ids], usage)
        for k, i in enumerate(ids):
            a = active[i]
            rel = t - a["start"]
            if not a["schedule"] or a["schedule"][-1][1] != shares[k]:
                if a["schedule"] and a["schedule"][-1][0] == rel:
                    a["schedule"][-1] = (rel, float(shares[k]))
                else:
                    a["schedule"].append((rel, float(shares[k])))
                run(i, a)
        t_next = min(a["end"] for a in active.values())
        for i in [i for i in ids if active[i]["end"] <= t_next]:
            a = active.pop(i)
            res = a["result"]
            results[vms[i].name] = res
            dur = a["end"] - a["start"]
            sent = res.bytes_sent if not a["aborted"] else float("nan")
            done_rows.append({
                "order": order, "vm": vms[i].name, "start_s": a["start"], "end_s": a["end"],
                "total_time_s": dur,
                "precopy_time_s": dur if a["aborted"] else res.precopy_time_s,
                "downtime_ms": 0.0 if a["aborted"] else res.downtime_s * 1e3,
                "postcopy_s": 0.0 if a["aborted"] else res.postcopy_s,
                "verdict": _verdict(res, a["aborted"]),
                "stop_reason": "aborted" if a["aborted"] else res.stop_reason,
                "nic": "pool" if host.pooled else a["res"],
                "mean_rate_gbps": _schedule_mean(a["schedule"], dur) / 1e9,
                "data_sent_mib": sent / 2**20,
            })
        t = t_next
    start_rank = {name: k for k, name in enumerate(vms[i].name for i in queue)}
    done_rows.sort(key=lambda r: (r["start_s"], start_rank[r["vm"]]))
    return DrainResult(
        order=order, rows=done_rows, makespan_s=max(r["end_s"] for r in done_rows),
        n_aborted=sum(r["verdict"] == "aborted" for r in done_rows),
        n_not_converged=sum(r["verdict"] in ("not_converged", "forced") for r in done_rows),
        n_postcopy=sum(r["verdict"] == "postcopy" for r in done_rows),
        limit=limit, orchestrator=orchestrator.name, rate_model=model, results=results)


# --- comparing orderings --------------------------------------------------------------------------

@dataclass(frozen=True)
class DrainComparison:
    """Every ordering of one drain.

    Attributes
    ----------
    drains : dict of str to DrainResult
    best : str
        The ordering with the fewest failed migrations (aborted or not
        converged), then the shortest makespan, then the lowest worst downtime.
    """

    drains: dict
    best: str

    def table(self) -> list[dict]:
        """One row per ordering: makespan, failures, post-copy count, worst downtime."""
        return [{"order": o, "makespan_s": r.makespan_s, "n_aborted": r.n_aborted,
                 "n_not_converged": r.n_not_converged, "n_postcopy": r.n_postcopy,
                 "worst_downtime_ms": max(x["downtime_ms"] for x in r.rows), "best": o == self.best}
                for o, r in self.drains.items()]

    def summary(self) -> str:
        lines = [f"{'order':<24} {'makespan_s':>10} {'aborted':>7} {'not_conv':>8} {'postcopy':>8} "
                 f"{'worst_dt_ms':>11}"]
        for row in self.table():
            lines.append(f"{row['order']:<24} {row['makespan_s']:>10.1f} {row['n_aborted']:>7d} "
                         f"{row['n_not_converged']:>8d} {row['n_postcopy']:>8d} {row['worst_downtime_ms']:>11.0f}"
                         + ("  <- best" if row["best"] else ""))
        return "\n".join(lines)

    def rows(self) -> list[dict]:
        return [r for d in self.drains.values() for r in d.rows]


def _drain_job(job):
    vms, link, kw = job
    return drain(vms, link, **kw)


def compare(vms, link="25GbE", *, orders=ORDERS, n_jobs: int | None = -1, client=None, progress=None,
            **kwargs) -> DrainComparison:
    """Run one drain per ordering (in parallel, see :func:`precopy.sweeps.parallel_map`) and pick the best.

    Parameters
    ----------
    vms, link
        As :func:`drain`.
    orders : sequence of str, default :data:`ORDERS`
    n_jobs, client, progress
        Where the drains run; the result does not depend on it.
    **kwargs
        ``max_parallel``, ``orchestrator``, ``pooled``, ``seed`` as :func:`drain`.

    Returns
    -------
    DrainComparison
    """
    from .sweeps import parallel_map
    unknown = sorted(set(kwargs) - {"max_parallel", "orchestrator", "pooled", "seed"})
    if unknown:
        raise ValueError(f"compare takes max_parallel, orchestrator, pooled and seed besides its own arguments; "
                         f"got {', '.join(map(repr, unknown))}")
    if "seed" in kwargs:
        v.seed(kwargs["seed"])
    if kwargs.get("max_parallel") is not None:
        v.integer(kwargs["max_parallel"], "max_parallel", "migrations", lo=1, hi=10_000)
    host = _host(link, kwargs.pop("pooled", False), "link (--link)")
    orch = _orchestrator(kwargs.get("orchestrator"), host, kwargs.get("max_parallel"))
    vms = _vms_of(vms, _defaults(orch))
    if isinstance(orders, (str, bytes)) or not hasattr(orders, "__iter__"):
        raise ValueError(f"orders must be a sequence of ordering names ({', '.join(ORDERS)}); got {orders!r}")
    every = orders is ORDERS
    orders = [v.choice(str(o).strip().lower(), "orders", ORDERS) for o in orders]
    if every and not orch.postcopy:       # the default list: only the orderings this platform can run
        orders = [o for o in orders if o != "busiest-first-postcopy"]
    if not orders:
        raise ValueError("orders must hold at least one ordering; got none")
    out = parallel_map(_drain_job, [(vms, host, dict(kwargs, order=o)) for o in orders], n_jobs=n_jobs,
                       client=client, progress=progress, desc="orderings")
    drains = dict(zip(orders, out))
    best = min(orders, key=lambda o: (drains[o].n_failed, drains[o].makespan_s,
                                      max(r["downtime_ms"] for r in drains[o].rows), orders.index(o)))
    return DrainComparison(drains=drains, best=best)


# --- validation against published concurrent migrations ----------------------------------------

def validate_concurrent(seed: int = 0) -> list[dict]:
    """Predict the published concurrent-migration times (Hyper-V WS2012, 1/10/20 VMs at once).

    The rows of ``precopy/data/published_migrations.csv`` with source
    ``S14_aidanfinn_hyperv2012``: N idle 512 MiB VMs migrated at once over one
    1 GbE or 10 GbE link; the published figure is the time to migrate all N.
    Each is predicted as a drain of N idle VMs with ``max_parallel = N`` on the
    fitted link with the ``hyperv-2012`` per-stream ceiling (MTU as in
    ``precopy/data/link_fit_points.csv``: 9000 on the 1 GbE lab, 1500 on 10 GbE).

    Returns
    -------
    list of dict
        ``link_gbps``, ``n_vms``, ``published_s``, ``predicted_s``,
        ``error_pct`` (predicted / published - 1, in %).

    Notes
    -----
    The ``hyperv-2012`` per-stream ceiling was fitted to the single-VM
    throughputs of the same blog post (and the 1 GbE concurrent throughputs
    inform the line efficiency), so the 1-VM rows are not independent; the
    concurrent rows test the sharing model and the concurrency limit.
    """
    import re
    from .datasets import read_csv
    out = []
    for row in read_csv("published_migrations.csv"):
        if row["source_id"] != "S14_aidanfinn_hyperv2012":
            continue
        m = re.search(r"\((\d+) concurrent", row["system"])
        n = int(m.group(1))
        gbps = float(row["link_gbps"])
        mib = int(float(row["vm_mem_mib"]))
        host = Host(nics=(NIC(gbps * 1e9, 9000 if gbps < 10 else 1500),), stream_class="hyperv-2012")
        vms = [{"vm": f"vm{k}", "memory_mib": mib, "workload": "idle", "policy": "xen"} for k in range(n)]
        r = drain(vms, host, max_parallel=n, seed=seed)
        pub = float(row["total_time_s"])
        out.append({"link_gbps": gbps, "n_vms": n, "published_s": pub, "predicted_s": r.makespan_s,
                    "error_pct": 100.0 * (r.makespan_s / pub - 1.0)})
    return out


# --- output ---------------------------------------------------------------------------------------



def _write_rows(rows, path):
    path = v.output_file(path, "path")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(RESULT_COLUMNS)
            for r in rows:
                w.writerow([csv_cell(r[c]) for c in RESULT_COLUMNS])
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def plot_drain_gantt(result: DrainResult, ax=None):
    """Gantt chart of a drain: one bar per VM, live pre-copy, paused (downtime) and post-copy phases.

    Parameters
    ----------
    result : DrainResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> vms = [{"vm": f"v{i}", "memory_mib": 128, "workload": "idle"} for i in range(3)]
    >>> fig = plot_drain_gantt(drain(vms, "1GbE", max_parallel=2))
    >>> len(fig.axes[0].get_yticks())
    3
    """
    from matplotlib.patches import Patch
    from .plotting import new_figure, style
    if not isinstance(result, DrainResult):
        raise ValueError(f"result must be a precopy.drain.DrainResult; got {type(result).__name__}")
    rows = result.rows
    if ax is None:
        fig, ax = new_figure(figsize=(8, max(2.5, 0.22 * len(rows) + 1.2)))
    else:
        fig = ax.figure
    colours = {"live": "#4c72b0", "paused": "#c44e52", "postcopy": "#dd8452", "aborted": "#8c8c8c"}
    with style():
        for y, r in enumerate(rows):
            if r["verdict"] == "aborted":
                ax.barh(y, r["end_s"] - r["start_s"], left=r["start_s"], color=colours["aborted"], hatch="//",
                        edgecolor="white", height=0.7)
                continue
            live = r["precopy_time_s"]
            down = r["downtime_ms"] / 1e3
            ax.barh(y, live, left=r["start_s"], color=colours["live"], height=0.7)
            ax.barh(y, max(down, 1e-3 * result.makespan_s), left=r["start_s"] + live, color=colours["paused"],
                    height=0.7)
            if r["postcopy_s"] > 0:
                ax.barh(y, r["postcopy_s"], left=r["start_s"] + live + down, color=colours["postcopy"], height=0.7)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([r["vm"] for r in rows], fontsize=7 if len(rows) > 20 else None)
        ax.invert_yaxis()
        ax.set_xlabel("time since the drain began (s)")
        ax.set_title(f"{result.order}: makespan {result.makespan_s:.1f} s, {result.limit} at once")
        ax.legend(handles=[Patch(color=c, label=k) for k, c in colours.items()], loc="lower right", fontsize=7)
    return fig


def drain_gantt(vms="examples/drain_vms.csv", link="25GbE", max_parallel=2, order="largest-first", seed=0):
    """Gantt chart of draining the example fleet (notebook 7): live, paused and post-copy phases per VM.

    Parameters
    ----------
    vms : str
        A VM table, by path or by name inside the data folder (:func:`precopy.datasets.path`).
    link : str
        The host's NICs (see :func:`parse_link`).
    max_parallel : int
    order : str
        One of :data:`ORDERS`.
    seed : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .datasets import path
    try:
        table = read_vms(path(v.file_name(vms, "vms")))
    except ValueError as e:
        raise ValueError(f"vms: {e}") from None
    return plot_drain_gantt(drain(table, link, max_parallel=max_parallel, order=order, seed=seed))


# --- CLI: precopy drain ---------------------------------------------------------------------------

def add_arguments(p):
    p.add_argument("vms", metavar="VMS.csv", help="VM table (columns: see `precopy.drain`)")
    p.add_argument("--link", default="25GbE",
                   help="the host's migration NICs, e.g. 25GbE, 2x10GbE, 10GbE:9000 (MTU) (default 25GbE)")
    p.add_argument("--pooled", action="store_true", help="the NICs form one pool (SMB multichannel, multi-NIC vMotion)")
    p.add_argument("--max-parallel", type=int, help="migrations at once (default: the preset's, else 2)")
    p.add_argument("--preset", choices=PRESETS, help="orchestrator limits and timeouts")
    p.add_argument("--order", default="all", choices=ORDERS + ("all",),
                   help="ordering strategy; 'all' compares every one (default)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--jobs", type=int, default=-1, help="worker processes for --order all (default: every CPU)")
    p.add_argument("-o", "--output", required=True, metavar="RESULTS.csv", help="per-VM results to write")
    p.add_argument("--plot", metavar="FILE", help="draw the Gantt chart (of the best ordering) to FILE")


def run(args) -> int:
    if args.max_parallel is not None:
        v.integer(args.max_parallel, "--max-parallel", "migrations", lo=1, hi=10_000)
    vms = args.vms           # read by drain/compare, with the orchestrator's defaults for empty cells
    kw = dict(max_parallel=args.max_parallel, orchestrator=args.preset, seed=args.seed)
    if args.order == "all":
        cmp_ = compare(vms, args.link, n_jobs=args.jobs, pooled=args.pooled, **kw)
        best = cmp_.drains[cmp_.best]
        print(cmp_.summary())
        print(f"best ordering: {cmp_.best}")
        _write_rows(cmp_.rows(), args.output)
        n = len(cmp_.rows())
    else:
        best = drain(vms, args.link, order=args.order, pooled=args.pooled, **kw)
        print(best.summary())
        best.write_csv(args.output)
        n = len(best.rows)
    if best.rate_model != "schedule":
        print("note: each VM ran at the mean of its fair-share schedule (this kernel has no rate_schedule)")
    print(f"wrote {n} row(s) to {args.output}")
    if args.plot:
        fig = plot_drain_gantt(best)
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"wrote the Gantt chart to {args.plot}")
    return 0


class _CallableModule(type(os)):
    """``pc.drain(...)`` calls :func:`drain`; ``pc.drain.compare`` and the rest stay reachable."""

    def __call__(self, *args, **kwargs):
        return drain(*args, **kwargs)


import sys as _sys  # noqa: E402

_sys.modules[__name__].__class__ = _CallableModule
