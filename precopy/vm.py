"""The virtual machine being migrated: memory, pages, zero pages and switchover costs."""

from __future__ import annotations

from dataclasses import dataclass

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
    """What the frozen VM costs beyond its last memory pages.

    Downtime = final memory transfer + ``device_state_bytes`` / rate + ``resume_s``.

    Parameters
    ----------
    device_state_bytes : int, default 0
        CPU and device state sent while the VM is stopped (bytes).  No source we
        could read gives a typical size; it is small next to memory, so the default
        is 0.  Set it for your platform.
    resume_s : float, default 0.009
        Time from the last byte received to the VM running on the target (s).
        Default: the 9 ms resume measured by Clark et al. (NSDI 2005, Sec. 6.3,
        SPECweb99: "201 ms copy + 9 ms resume").

    Examples
    --------
    >>> Switchover().resume_s
    0.009
    """

    device_state_bytes: int = 0
    resume_s: float = 0.009

    def __post_init__(self):
        object.__setattr__(self, "device_state_bytes",
                           v.integer(self.device_state_bytes, "device_state_bytes", "bytes", lo=0))
        object.__setattr__(self, "resume_s", v.real(self.resume_s, "resume_s", "s", lo=0.0, hi=3600.0))
