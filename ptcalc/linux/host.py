"""What the running machine is: its paging geometry, memory, PTI and hugetlb pools.

``ptcalc scan`` writes these into the workload's ``host``; ``ptcalc measure``
checks the workload was written for this machine.  Both read them here,
through one ``ptcalc.linux.procfs.ProcFS``.

    fact                  source                                              used as
    --------------------  --------------------------------------------------  -------------------------
    machine               /proc/sys/kernel/arch (uname -m)                    x86_64 only
    5-level paging        /proc/cpuinfo ``la57`` and an mmap hint above       host.arch x86_64-la57
                          128 TiB that the kernel honours
    memory                /proc/meminfo ``MemTotal``                          host.memory
    PTI                   /sys/devices/system/cpu/vulnerabilities/meltdown    host.pti (8 KiB PGD)
    hugetlb pools         /sys/kernel/mm/hugepages/hugepages-*/nr_hugepages   host.hugepages
    kernel release        /proc/sys/kernel/osrelease (uname -r)               shown; calibration cache
    root                  geteuid() == 0                                      measure's pools, stat_refresh
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.syscalls import mmap_anonymous, munmap
from ptcalc.linux.tunables import hugetlb_pools
from ptcalc.model.geometry import X86_64, X86_64_LA57, Arch
from ptcalc.workload.types import Host

LOW_VA_TOP = 1 << 47
"""DEFAULT_MAP_WINDOW on x86-64: the kernel hands out addresses above it only
when asked with a hint there, and only with 5-level paging."""


def high_va_possible() -> bool:
    """Does mmap with a hint above 128 TiB return an address above it?

    Only with 5-level paging (arch/x86/kernel/sys_x86_64.c: addresses above
    DEFAULT_MAP_WINDOW are handed out only when the hint asks for them).
    """
    page = os.sysconf("SC_PAGE_SIZE")
    addr = mmap_anonymous(1 << 50, page)
    if addr is None:
        return False
    munmap(addr, page)
    return addr >= LOW_VA_TOP


def running_arch(fs: ProcFS, high_va: Callable[[], bool] = high_va_possible) -> Arch | None:
    """The paging profile of the running kernel; None when it is not x86-64.

    x86_64-la57 when the CPU has LA57 and the kernel gives out addresses above
    128 TiB (5-level paging on: the kernel clears ``la57`` from the CPU flags
    when it runs 4-level, early_identify_cpu() in arch/x86/kernel/cpu/common.c,
    and the probe catches the rest), else x86_64.
    """
    if fs.machine() != "x86_64":
        return None
    if "la57" in fs.cpu_flags() and high_va():
        return X86_64_LA57
    return X86_64


def read_host(fs: ProcFS, arch: Arch) -> Host:
    """Host memory, PTI and the hugetlb pools of this machine (pools of page
    sizes ``arch`` has no use for are left out)."""
    pools = {size: n for size, n in hugetlb_pools(fs).items() if size in arch.hugetlb_sizes}
    return Host(memory=fs.meminfo().get("MemTotal"), arch=arch, pti=fs.pti(), hugepages=pools or None)


def is_root() -> bool:
    return os.geteuid() == 0
