"""What the kernel's page-table counters count, by kernel version.

Three views of one workload's page tables (docs/semantics.md section 4):

    view         counts                                                    where an operator sees it
    -----------  --------------------------------------------------------  ---------------------------
    physical     every table once, shared ones too, every PGD              (what decides an OOM)
    PageTables   the physical tables of the levels this kernel's           /proc/meminfo PageTables
                 NR_PAGETABLE counts
    VmPTE        per process, the PTE, PMD and PUD tables it links in,     /proc/PID/status VmPTE
                 shared ones included, never PGD or P4D

Which levels NR_PAGETABLE counts grew over the years (commits from
torvalds/linux; docs/whole-process.md has the evidence and the measurements
on 6.1 and 6.18):

    level    counted since   commit
    -------  --------------  --------------------------------------------------------------
    PTE      always          pgtable_page_ctor (now pagetable_pte_ctor)
    PMD      5.10            b2b29d6d0119 "mm: account PMD tables like PTE tables"
    PUD      6.7             55d2a0bd5ead "mm: add statistics for PUD level pagetable"
    P4D      6.14            59f85e657673 "mm: pgtable: add statistics for P4D level page table"
    PGD      6.14            68c601de75d8 "mm: introduce ctor/dtor at PGD level" (x86 via
                             8be08280251f "asm-generic: pgalloc: provide generic __pgd_{alloc,free}")

VmPTE (``mm_pgtables_bytes``: nr_ptes + nr_pmds + nr_puds, never the P4D or
the PGD) has been so since 4.15 (af5b0f6a09e4 "mm: consolidate page table
accounting"); ptcalc models that.

>>> pagetables_levels(parse_kernel("6.1.0-27-amd64"))
('pte', 'pmd')
>>> pagetables_levels(parse_kernel("6.18.44"))
('pte', 'pmd', 'pud', 'p4d', 'pgd')
"""

from __future__ import annotations

import re

from ptcalc.model.geometry import LEVEL_NAMES
from ptcalc.model.results import SchemeResult

KernelVersion = tuple[int, int]
"""(major, minor) of a kernel release: ``(6, 18)``."""

COUNTED_SINCE: dict[str, KernelVersion] = {
    "pte": (0, 0),
    "pmd": (5, 10),  # b2b29d6d0119 "mm: account PMD tables like PTE tables"
    "pud": (6, 7),  # 55d2a0bd5ead "mm: add statistics for PUD level pagetable"
    "p4d": (6, 14),  # 59f85e657673 "mm: pgtable: add statistics for P4D level page table"
    "pgd": (6, 14),  # 68c601de75d8 "mm: introduce ctor/dtor at PGD level"
}
"""The first release whose NR_PAGETABLE counts tables of each level."""

LATEST: KernelVersion = (6, 14)
"""What ``host.kernel`` defaults to: the accounting of 6.14 and later (every level)."""

KERNEL_PATTERN = r"\s*[0-9]{1,3}\.[0-9]{1,3}(?:[.\-+~_][0-9A-Za-z.+~_\-]*)?\s*"
"""A kernel release as ``uname -r`` prints it (``6.18.44``, ``6.1.0-27-amd64``) or just ``6.18``."""

_RELEASE = re.compile(r"\s*([0-9]{1,3})\.([0-9]{1,3})(?:[.\-+~_][0-9A-Za-z.+~_\-]*)?\s*")


def parse_kernel(text: str) -> KernelVersion:
    """(major, minor) of a kernel release; ValueError when it is not one.

    >>> parse_kernel("6.18.44-fc-v1272"), parse_kernel("5.10")
    ((6, 18), (5, 10))
    """
    m = _RELEASE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a kernel release (such as 6.18 or 6.1.0-27-amd64)")
    return int(m.group(1)), int(m.group(2))


def pagetables_levels(version: KernelVersion | None) -> tuple[str, ...]:
    """The levels /proc/meminfo PageTables counts on ``version`` (None: :data:`LATEST`)."""
    v = LATEST if version is None else version
    return tuple(n for n in LEVEL_NAMES if v >= COUNTED_SINCE[n])


def pagetables_bytes(result: SchemeResult, table_bytes: dict[str, int], version: KernelVersion | None) -> int:
    """The physical tables of ``result`` that PageTables counts on ``version``, in bytes:
    what /proc/meminfo PageTables would grow by for the workload."""
    return sum(result.tables[n] * table_bytes.get(n, 0) for n in pagetables_levels(version))


__all__ = ["COUNTED_SINCE", "KERNEL_PATTERN", "LATEST", "KernelVersion", "pagetables_bytes", "pagetables_levels",
           "parse_kernel"]
