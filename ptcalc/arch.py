"""Page-table geometry of each architecture, as data.

A profile lists the paging levels present (folded levels are absent), leaf
first.  Each level says what one entry maps (``1 << shift``), how many entries
a table holds and how many bytes one table takes.  Everything else the model
needs (which level a page size is a leaf at, the span one table covers, the
hugetlb PMD-sharing window, the mshare alignment) is derived from that.

    level   x86_64 (4-level)         one entry maps    one table covers
    -----   ----------------------   ---------------   ----------------
    pte     arch/x86 PTRS_PER_PTE    4 KiB             2 MiB
    pmd     PTRS_PER_PMD             2 MiB             1 GiB
    pud     PTRS_PER_PUD             1 GiB             512 GiB
    p4d     (5-level only)           512 GiB           256 TiB
    pgd     PTRS_PER_PGD             512 GiB/256 TiB   the address space
"""

from __future__ import annotations

from dataclasses import dataclass

from ptcalc.units import GiB, KiB, MiB, TiB

LEVEL_NAMES: tuple[str, ...] = ("pte", "pmd", "pud", "p4d", "pgd")
"""Every level name, leaf first; JSON and tables always list all five."""

VMPTE_LEVELS: frozenset[str] = frozenset({"pte", "pmd", "pud"})
"""Levels counted in VmPTE: ``mm_pgtables_bytes()`` (include/linux/mm.h) sums
``mm_inc_nr_ptes``/``nr_pmds``/``nr_puds``; the PGD and P4D are never counted."""


@dataclass(frozen=True)
class Level:
    """One paging level: ``name`` as the kernel spells it."""

    name: str
    shift: int
    entries: int
    table_bytes: int

    @property
    def entry_span(self) -> int:
        """Bytes of address space one entry maps (PMD_SIZE for ``pmd``)."""
        return 1 << self.shift

    @property
    def table_span(self) -> int:
        """Bytes of address space one table of this level covers."""
        return self.entries << self.shift


@dataclass(frozen=True)
class Arch:
    """A paging geometry and what the kernel supports on it."""

    name: str
    description: str
    levels: tuple[Level, ...]
    """Present levels, leaf (``pte``) first, ``pgd`` last."""
    user_limit: int
    """First address above user space (TASK_SIZE_MAX)."""
    hugetlb_sizes: tuple[int, ...]
    """hugetlb page sizes the architecture offers."""
    pmd_share: bool
    """CONFIG_ARCH_WANT_HUGE_PMD_SHARE: hugetlb PMD tables are shared (mm/hugetlb.c)."""
    pti_pgd_bytes: int | None = None
    """PGD size when page-table isolation is on (x86: an order-1 PGD), else None."""
    auto_window: int = 512 * GiB
    """``address: auto`` gives each mapping windows of this size of its own."""
    auto_base: int = 1 * TiB
    """First address ``address: auto`` places a mapping at."""

    @property
    def base_page(self) -> int:
        """PAGE_SIZE."""
        return self.levels[0].entry_span

    def level(self, name: str) -> Level | None:
        """The level called ``name``, or None when it is folded."""
        for lv in self.levels:
            if lv.name == name:
                return lv
        return None

    @property
    def pgd(self) -> Level:
        return self.levels[-1]

    def pgd_bytes(self, pti: bool) -> int:
        """Bytes of one process's PGD (8 KiB on x86-64 with PTI: ``PGD_ALLOCATION_ORDER``)."""
        if pti and self.pti_pgd_bytes is not None:
            return self.pti_pgd_bytes
        return self.pgd.table_bytes

    def leaf_index(self, page_size: int) -> int:
        """Index in ``levels`` of the level whose entries map ``page_size`` pages.

        A page bigger than one entry but a multiple of it is a contiguous
        mapping (arm64 CONT_PTE/CONT_PMD) and still needs that level's table.

        >>> X86_64.levels[X86_64.leaf_index(2 * MiB)].name
        'pmd'
        """
        best = None
        for i, lv in enumerate(self.levels[:-1]):
            if page_size >= lv.entry_span and page_size % lv.entry_span == 0:
                best = i
        if best is None:
            raise ValueError(f"{page_size} is not a page size of {self.name}")
        return best

    def page_sizes(self) -> tuple[int, ...]:
        """Base page plus every hugetlb size."""
        return (self.base_page, *self.hugetlb_sizes)

    @property
    def pmd_share_size(self) -> int | None:
        """Page size that hugetlb PMD sharing applies to (PMD_SIZE), if any."""
        pmd = self.level("pmd")
        if not self.pmd_share or pmd is None:
            return None
        return pmd.entry_span

    @property
    def mshare_align(self) -> int:
        """mshare region alignment: P4D_SIZE, what one PGD (4-level) or P4D
        (5-level) entry maps -- the level whose entry is pointed at the host's
        tables (mshare v3, ``MSHARE_ALIGN``)."""
        top = self.level("p4d") or self.pgd
        return top.entry_span


def _x86_levels(la57: bool) -> tuple[Level, ...]:
    # arch/x86/include/asm/pgtable_64_types.h: every level is a 4 KiB table of
    # 512 eight-byte entries; PMD_SHIFT 21, PUD_SHIFT 30, P4D_SHIFT 39,
    # PGDIR_SHIFT 39 (4-level) or 48 (5-level).
    levels = [
        Level("pte", 12, 512, 4 * KiB),
        Level("pmd", 21, 512, 4 * KiB),
        Level("pud", 30, 512, 4 * KiB),
    ]
    if la57:
        levels.append(Level("p4d", 39, 512, 4 * KiB))
        levels.append(Level("pgd", 48, 512, 4 * KiB))
    else:
        levels.append(Level("pgd", 39, 512, 4 * KiB))
    return tuple(levels)


X86_64 = Arch(
    name="x86_64",
    description="x86-64, 4-level paging (48-bit virtual addresses)",
    levels=_x86_levels(la57=False),
    # arch/x86/include/asm/page_64_types.h: TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE
    user_limit=(1 << 47) - 4 * KiB,
    hugetlb_sizes=(2 * MiB, 1 * GiB),
    pmd_share=True,
    pti_pgd_bytes=8 * KiB,
)

X86_64_LA57 = Arch(
    name="x86_64-la57",
    description="x86-64, 5-level paging (57-bit virtual addresses)",
    levels=_x86_levels(la57=True),
    # TASK_SIZE_MAX with LA57: (1 << 56) - PAGE_SIZE
    user_limit=(1 << 56) - 4 * KiB,
    hugetlb_sizes=(2 * MiB, 1 * GiB),
    pmd_share=True,
    pti_pgd_bytes=8 * KiB,
)

ARCHES: dict[str, Arch] = {a.name: a for a in (X86_64, X86_64_LA57)}
"""Every profile by the name the workload's ``host.arch`` uses."""
