"""The system calls ``measure`` (and scan's address-space probe) makes, via ctypes.

    call                   what for                                            kernel side
    ---------------------  --------------------------------------------------  ---------------------------
    memfd_create           one file per segment: shmem, or hugetlbfs with      mm/memfd.c memfd_create
                           MFD_HUGETLB and the page size flag
    mmap_fixed             a mapping at exactly the workload's address         MAP_FIXED_NOREPLACE (4.17+)
    mmap_anonymous         a probe: where does the kernel put a hint?          mm/mmap.c, arch get_unmapped_area
    madvise                THP on/off (MADV_[NO]HUGEPAGE), fault in the        mm/madvise.c
                           touched ranges (MADV_POPULATE_READ/WRITE, 5.14+)
    munmap                 undo a probe or a misplaced mapping
    set_parent_death_signal  a forked measuring process dies with ptcalc      prctl(PR_SET_PDEATHSIG)
    set_comm               name the measuring processes (/proc/PID/comm)       prctl(PR_SET_NAME)
    synchronize_rcu        wait for an RCU grace period before a reading       membarrier(MEMBARRIER_CMD_GLOBAL)

Calls a forked child makes return an errno instead of raising, so that the
child allocates nothing between two readings of its VmPTE.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as errno_mod
import os
import signal

from ptcalc.linux.errors import KernelError
from ptcalc.units import GiB, KiB, MiB

# include/uapi/asm-generic/mman-common.h
PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_ANONYMOUS = 0x20
MAP_FIXED_NOREPLACE = 0x100000  # since 4.17; older kernels treat it as a hint
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
MADV_POPULATE_READ = 22  # since 5.14: mm/madvise.c madvise_populate()
MADV_POPULATE_WRITE = 23
# include/uapi/linux/memfd.h, include/uapi/asm-generic/hugetlb_encode.h
MFD_CLOEXEC = 0x0001
MFD_HUGETLB = 0x0004
MFD_HUGE_SHIFT = 26  # HUGETLB_FLAG_ENCODE_SHIFT: the size flag is log2(page size) << 26
# include/uapi/linux/prctl.h
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
# include/uapi/linux/membarrier.h; arch/x86/entry/syscalls/syscall_64.tbl
MEMBARRIER_CMD_GLOBAL = 1
SYS_MEMBARRIER_X86_64 = 324

MAP_FAILED = ctypes.c_void_p(-1).value


_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """The C library, with the prototypes ``measure`` calls (loaded once)."""
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        lib.mmap.restype = ctypes.c_void_p
        lib.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                             ctypes.c_int64]
        lib.munmap.restype = ctypes.c_int
        lib.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.madvise.restype = ctypes.c_int
        lib.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.prctl.restype = ctypes.c_int
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        lib.syscall.restype = ctypes.c_long
        _libc = lib
    return _libc


def memfd_flags(hugetlb_page_size: int | None) -> int:
    """memfd_create() flags for a plain memfd (None) or a hugetlb one of that page size.

    >>> hex(memfd_flags(2 * MiB)), hex(memfd_flags(GiB)), memfd_flags(None)
    ('0x54000005', '0x78000005', 1)
    """
    if hugetlb_page_size is None:
        return MFD_CLOEXEC
    shift = hugetlb_page_size.bit_length() - 1
    if 1 << shift != hugetlb_page_size:
        raise ValueError(f"{hugetlb_page_size} is not a power of two")
    return MFD_CLOEXEC | MFD_HUGETLB | (shift << MFD_HUGE_SHIFT)


def memfd_create(name: str, size: int, hugetlb_page_size: int | None = None) -> int:
    """A memfd of ``size`` bytes: shmem, or hugetlbfs with that page size.

    ``os.memfd_create`` is the C library's wrapper of the syscall
    (mm/memfd.c ``memfd_create``); ``ftruncate`` sizes it.  Nothing is
    allocated yet: hugetlb pages are reserved at mmap, allocated at fault.
    """
    try:
        fd = os.memfd_create(name, memfd_flags(hugetlb_page_size))
    except OSError as e:
        if hugetlb_page_size is not None and e.errno in (errno_mod.EINVAL, errno_mod.ENOENT):
            raise KernelError(f"this kernel has no hugetlb pages of {hugetlb_page_size // KiB} KiB "
                              f"(memfd_create MFD_HUGETLB: {e.strerror})") from None
        raise KernelError(f"memfd_create: {e.strerror}") from None
    try:
        os.ftruncate(fd, size)
    except OSError as e:
        os.close(fd)
        raise KernelError(f"ftruncate of a {size}-byte memfd: {e.strerror}") from None
    return fd


def mmap_fixed(address: int, length: int, prot: int, fd: int, offset: int, private: int = 0) -> int:
    """mmap(MAP_SHARED | MAP_FIXED_NOREPLACE) at exactly ``address``; 0 or an errno.
    ``private``: MAP_PRIVATE instead, of ``fd`` or (``fd`` -1) anonymous memory.

    Returns an errno instead of raising so that a forked child can call it
    without allocating (see ``ptcalc.linux.reproduce``).  EEXIST: something is
    mapped there already.
    """
    lib = libc()
    flags = (MAP_PRIVATE if private else MAP_SHARED) | MAP_FIXED_NOREPLACE | (MAP_ANONYMOUS if fd < 0 else 0)
    got = lib.mmap(address, length, prot, flags, fd, offset)
    if got is None or got == MAP_FAILED:
        return ctypes.get_errno() or errno_mod.EINVAL
    if got != address:  # a kernel before 4.17 took the flag as a hint
        lib.munmap(got, length)
        return errno_mod.EEXIST
    return 0


def madvise(address: int, length: int, advice: int) -> int:
    """madvise(); 0 or an errno (MADV_POPULATE_* fault the range in: mm/madvise.c)."""
    if libc().madvise(address, length, advice) != 0:
        return ctypes.get_errno() or errno_mod.EINVAL
    return 0


def mmap_anonymous(hint: int, length: int) -> int | None:
    """mmap(PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS) near ``hint``: where the kernel
    put it, or None when it refused."""
    got = libc().mmap(hint, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if got is None or got == MAP_FAILED:
        return None
    return int(got)


def munmap(address: int, length: int) -> int:
    """munmap(); 0 or an errno."""
    if libc().munmap(address, length) != 0:
        return ctypes.get_errno() or errno_mod.EINVAL
    return 0


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """prctl(PR_SET_PDEATHSIG): the kernel kills this process if its parent dies."""
    libc().prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def set_comm(name: str) -> None:
    """prctl(PR_SET_NAME): what /proc/PID/comm shows (15 bytes at most)."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    libc().prctl(PR_SET_NAME, ctypes.cast(buf, ctypes.c_void_p).value or 0, 0, 0, 0)


def synchronize_rcu() -> bool:
    """Wait for an RCU grace period: membarrier(MEMBARRIER_CMD_GLOBAL) calls
    ``synchronize_rcu()`` (kernel/sched/membarrier.c; a no-op on one CPU, where
    none is needed).  Page tables freed through ``tlb_remove_table()`` go back
    after one (mm/mmu_gather.c ``tlb_remove_table_rcu``).  False when the call
    is not available (another architecture, nohz_full, no CONFIG_MEMBARRIER)."""
    if os.uname().machine != "x86_64":
        return False
    lib = libc()
    return int(lib.syscall(SYS_MEMBARRIER_X86_64, MEMBARRIER_CMD_GLOBAL, 0, 0)) == 0
