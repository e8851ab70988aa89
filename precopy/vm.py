"""The virtual machine being migrated: memory, pages, zero pages and switchover costs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as v
from .units import KiB

__all__ = ["VM", "Switchover"]

#: Largest page count the kernel addresses (page indices are drawn with 32-bit
#: multiply-shift): 2**32 pages is 16 TiB of 4 KiB pages.
MAX_PAGES = 2**32 - 1


@dataclass(frozen=True)
class VM:
    """A guest whose memory is migrated page by page.

    Parameters
    ----------
    memory_bytes : int
        Guest memory in bytes; a whole multiple of ``page_bytes``.
    page_bytes : int, default 4 KiB
        Page size in bytes: a power of two from 512 B to 1 GiB (x86 uses 4 KiB;
        hugepage-backed guests are tracked at 4 KiB by KVM, 2 MiB by some tools).
    zero_fraction : float, default 0
        Share of memory that is zero at the start of migration.  These pages sit at
        the top of the guest's address space, and the first (bulk) round sends them
        header-only, as QEMU does (``migration/ram.c``, ``save_zero_page``).  A page
        written during migration is no longer zero.

    Examples
    --------
    >>> import precopy as pc
    >>> vm = pc.VM(memory_bytes=pc.GiB(16))
    >>> vm.n_pages
    4194304
    """

    memory_bytes: int
    page_bytes: int = KiB(4)
    zero_fraction: float = 0.0

    def __post_init__(self):
        mem = v.integer(self.memory_bytes, "memory_bytes", "bytes", lo=1)
        page = v.integer(self.page_bytes, "page_bytes", "bytes", lo=512, hi=2**30)
        if page & (page - 1):
            raise ValueError(
                f"page_bytes (bytes) must be a power of two in [512, 1073741824]; got {self.page_bytes!r}"
            )
        if mem % page:
            raise ValueError(
                f"memory_bytes (bytes) must be a whole multiple of page_bytes={page}; got {self.memory_bytes!r}"
            )
        if mem // page > MAX_PAGES:
            raise ValueError(
                f"memory_bytes (bytes) must hold at most {MAX_PAGES} pages of {page} B "
                f"(at most {MAX_PAGES * page} bytes); got {self.memory_bytes!r}"
            )
        object.__setattr__(self, "memory_bytes", mem)
        object.__setattr__(self, "page_bytes", page)
        object.__setattr__(self, "zero_fraction", v.fraction(self.zero_fraction, "zero_fraction"))

    @property
    def n_pages(self) -> int:
        """Number of guest pages."""
        return self.memory_bytes // self.page_bytes

    @property
    def n_zero_pages(self) -> int:
        """Pages that are zero at the start (``floor(zero_fraction * n_pages)``)."""
        return int(self.zero_fraction * self.n_pages)


@dataclass(frozen=True)
class Switchover:
    """What the frozen VM costs beyond its last memory pages, part by part.

    Downtime = final memory transfer + ``device_state_bytes`` / rate + ``resume_s``
    + ``announce_s``.  Each part is reported separately by the result
    (:attr:`precopy.MigrationResult.downtime_parts`).

    The network announcement: once the VM resumes on the destination, the
    hypervisor broadcasts RARP / gratuitous-ARP packets carrying the VM's MAC so
    that the switches learn its new port (VMware vMotion, QEMU "announce").
    QEMU sends the first one as the destination starts (``qemu_announce_self``
    from ``process_incoming_migration_bh``), then ``announce_rounds - 1`` more,
    the gap before packet k+1 being ``announce_initial_s + (k-1) x
    announce_step_s`` capped at ``announce_max_s`` (``net/announce.c``,
    ``qemu_announce_timer_step``): with the defaults at 0, 50, 200, 450 and
    800 ms after resume.  Only the wait for the announcement that the network
    actually hears counts as outage: ``announce_s`` is the send time of packet
    number ``announce_heard`` (default the first, at 0 s, so the default
    downtime has no announcement part); the later packets are repeats in case
    earlier ones are lost, and the whole schedule is reported as
    :attr:`announce_window_s`, not as downtime.  Set ``announce_heard=2`` to
    model a lost first packet (+50 ms), and so on.

    Parameters
    ----------
    device_state_bytes : int, default 0
        CPU and device state sent while the VM is stopped (bytes).  No source we
        could read gives a typical size; it is small next to memory, so the default
        is 0.  Set it for your platform; at most 2**50 bytes (1 PiB).
    device_rate_Bps : float or None, default None
        Rate at which that state is copied (bytes/s) when something slower than
        the link bounds it, e.g. a vGPU frame buffer read out of the GPU
        (:meth:`precopy.hypervisors.Hypervisor.switchover` sets the fitted rate);
        None: the link's final rate.  The device state then takes
        ``device_state_bytes / min(final rate, device_rate_Bps)``.
    resume_s : float, default 0.009
        Time from the last byte received to the VM running on the target (s).
        Default: the 9 ms resume measured by Clark et al. (NSDI 2005, Sec. 6.3,
        SPECweb99: "201 ms copy + 9 ms resume").
    announce_initial_s : float, default 0.05
        QEMU ``announce-initial`` (50 ms), in [0.001, 100] s.
    announce_max_s : float, default 0.55
        QEMU ``announce-max`` (550 ms), in [0, 100] s.
    announce_rounds : int, default 5
        QEMU ``announce-rounds`` (5), in [0, 1000]; 0 sends none (the switches
        then learn the new port from the guest's own traffic, not modelled:
        ``announce_s`` is 0).
    announce_step_s : float, default 0.1
        QEMU ``announce-step`` (100 ms), in [0.001, 10] s.
    announce_heard : int, default 1
        Which announcement the network first hears, in [1, announce_rounds].

    References
    ----------
    QEMU ``net/announce.c``; ``migration/options.c``
    (``DEFAULT_MIGRATE_ANNOUNCE_*`` 50, 550, 5, 100 ms; ranges from
    ``migrate_params_check``); ``migration/migration.c``
    (``process_incoming_migration_bh``).

    Examples
    --------
    >>> sw = Switchover()
    >>> sw.resume_s, sw.announce_s, [round(x, 3) for x in sw.announce_times_s]
    (0.009, 0.0, [0.0, 0.05, 0.2, 0.45, 0.8])
    >>> Switchover(announce_heard=2).announce_s
    0.05
    """

    device_state_bytes: int = 0
    resume_s: float = 0.009
    announce_initial_s: float = 0.05
    announce_max_s: float = 0.55
    announce_rounds: int = 5
    announce_step_s: float = 0.1
    announce_heard: int = 1
    device_rate_Bps: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "device_state_bytes",
                           v.integer(self.device_state_bytes, "device_state_bytes", "bytes", lo=0, hi=2**50))
        if self.device_rate_Bps is not None:
            object.__setattr__(self, "device_rate_Bps", v.real(self.device_rate_Bps, "device_rate_Bps", "bytes/s",
                                                               lo=1.0, hi=1e13))
        object.__setattr__(self, "resume_s", v.real(self.resume_s, "resume_s", "s", lo=0.0, hi=3600.0))
        object.__setattr__(self, "announce_initial_s",
                           v.real(self.announce_initial_s, "announce_initial_s", "s", lo=0.001, hi=100.0))
        object.__setattr__(self, "announce_max_s",
                           v.real(self.announce_max_s, "announce_max_s", "s", lo=0.0, hi=100.0))
        object.__setattr__(self, "announce_rounds",
                           v.integer(self.announce_rounds, "announce_rounds", "packets", lo=0, hi=1000))
        object.__setattr__(self, "announce_step_s",
                           v.real(self.announce_step_s, "announce_step_s", "s", lo=0.001, hi=10.0))
        object.__setattr__(self, "announce_heard",
                           v.integer(self.announce_heard, "announce_heard", "packet number", lo=1,
                                     hi=max(self.announce_rounds, 1)))

    def device_time_s(self, final_rate_Bps):
        """Time to copy the device state at ``final_rate_Bps`` (bytes/s; a number or an array),
        bounded by :attr:`device_rate_Bps` when set.

        Examples
        --------
        >>> Switchover(device_state_bytes=2**30, device_rate_Bps=2**27).device_time_s(1.25e9)
        8.0
        """
        rate = final_rate_Bps if self.device_rate_Bps is None else np.minimum(final_rate_Bps, self.device_rate_Bps)
        t = self.device_state_bytes / rate
        return float(t) if np.ndim(t) == 0 else t

    @property
    def announce_times_s(self) -> tuple:
        """Send times of the announcement packets, seconds after resume (QEMU's timer)."""
        out = []
        t = 0.0
        left = self.announce_rounds
        while left > 0:
            out.append(t)
            left -= 1
            if left:
                step = self.announce_initial_s + (self.announce_rounds - left - 1) * self.announce_step_s
                if step < 0 or step > self.announce_max_s:
                    step = self.announce_max_s
                t += step
        return tuple(out)

    @property
    def announce_s(self) -> float:
        """Outage part of the announcement: send time of packet ``announce_heard``."""
        times = self.announce_times_s
        return times[self.announce_heard - 1] if times else 0.0

    @property
    def announce_window_s(self) -> float:
        """Time from resume to the last announcement packet (not downtime)."""
        times = self.announce_times_s
        return times[-1] if times else 0.0
