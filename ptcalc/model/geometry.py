"""Page-table geometry of each architecture, as data.

A profile lists the paging levels present (folded levels are absent), leaf
first.  Each level says what one entry maps (``1 << shift``), how many entries
a table holds and how many bytes one table takes.  Everything else the model
needs (which level a page size is a leaf at, the span one table covers, the
hugetlb PMD-sharing window, the mshare alignment) is derived from that, so
the model and the simulator have no per-architecture code paths.

    level   x86_64 (4-level)         one entry maps    one table covers
    -----   ----------------------   ---------------   ----------------
    pte     arch/x86 PTRS_PER_PTE    4 KiB             2 MiB
    pmd     PTRS_PER_PMD             2 MiB             1 GiB
    pud     PTRS_PER_PUD             1 GiB             512 GiB
    p4d     (5-level only)           512 GiB           256 TiB
    pgd     PTRS_PER_PGD             512 GiB/256 TiB   the address space

The five profiles (``ARCHES``) and every derived figure are tabulated in
docs/architectures.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptcalc.units import GiB, KiB, MiB, TiB

LEVEL_NAMES: tuple[str, ...] = ("pte", "pmd", "pud", "p4d", "pgd")
"""Every level name, leaf first; JSON and tables always list all five."""

VMPTE_LEVELS: frozenset[str] = frozenset({"pte", "pmd", "pud"})
"""Levels counted in VmPTE: ``mm_pgtables_bytes()`` (include/linux/mm.h) sums
``mm_inc_nr_ptes``/``nr_pmds``/``nr_puds``; the PGD and P4D are never counted."""

ENTRY_BYTES = 8
"""sizeof(pte_t) .. sizeof(pgd_t) on every 64-bit profile."""


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
    """First address above user space (TASK_SIZE)."""
    hugetlb_sizes: tuple[int, ...]
    """hugetlb page sizes the architecture offers (arch_hugetlb_valid_size), ascending."""
    pmd_share: bool
    """CONFIG_ARCH_WANT_HUGE_PMD_SHARE: hugetlb PMD tables are shared (mm/hugetlb.c)."""
    pti_pgd_bytes: int | None = None
    """PGD size when page-table isolation is on (x86: an order-1 PGD), else None
    (arm64's KPTI switches the kernel's TTBR1 tables, the user PGD stays as is)."""
    auto_window: int = 512 * GiB
    """``address: auto`` gives each mapping windows of this size of its own
    (a multiple of ``pud_size``)."""
    auto_base: int = 1 * TiB
    """First address ``address: auto`` places a mapping at (a multiple of ``auto_window``)."""
    map_window: int = 0
    """DEFAULT_MAP_WINDOW: the top of the address space a process gets without
    asking for more (an mmap hint above it): STACK_TOP, and what ``mmap_base()``
    and ELF_ET_DYN_BASE are computed from.  0: ``user_limit``."""

    def __post_init__(self) -> None:
        # A profile is data typed in by hand: refuse one that is not a paging geometry.
        names = [lv.name for lv in self.levels]
        if names[0] != "pte" or names[-1] != "pgd" or names != [n for n in LEVEL_NAMES if n in names]:
            raise ValueError(f"{self.name}: levels must be pte .. pgd in order, got {names}")
        for lower, upper in zip(self.levels, self.levels[1:]):
            if upper.shift != lower.shift + lower.entries.bit_length() - 1 or lower.entries & (lower.entries - 1):
                raise ValueError(f"{self.name}: {upper.name} entries must map exactly one {lower.name} table")
        if self.user_limit > self.pgd.table_span:
            raise ValueError(f"{self.name}: user space exceeds what the PGD maps")
        for size in self.hugetlb_sizes:
            self.leaf_index(size)
        if self.auto_window % self.pud_size or self.auto_base % self.auto_window:
            raise ValueError(f"{self.name}: auto windows must be PUD_SIZE multiples, the base a window multiple")
        if self.map_window == 0:
            object.__setattr__(self, "map_window", self.user_limit)  # (frozen: the documented way)
        if self.map_window > self.user_limit:
            raise ValueError(f"{self.name}: the default map window exceeds user space")

    @property
    def base_page(self) -> int:
        """PAGE_SIZE."""
        return self.levels[0].entry_span

    @property
    def pmd_size(self) -> int:
        """PMD_SIZE: what one PTE table covers (2 MiB on x86-64, 32 MiB on arm64 16K)."""
        return self.levels[0].table_span

    @property
    def pud_size(self) -> int:
        """PUD_SIZE: what one PMD table covers (1 GiB on x86-64, 64 GiB on arm64 16K).

        On a 3-level geometry the kernel folds the PUD into the PGD and PUD_SIZE
        is PGDIR_SIZE, which is again what one PMD table covers (4 TiB on arm64 64K).
        """
        pmd = self.level("pmd")
        assert pmd is not None  # every profile has a PMD level (checked in __post_init__)
        return pmd.table_span

    @property
    def hpage_size(self) -> int:
        """HPAGE_SIZE, the default hugetlb page size (mm/hugetlb.c default_hstate,
        ``vm.nr_hugepages``): PMD_SIZE on every profile (arm64 asm/page.h
        HPAGE_SHIFT = PMD_SHIFT)."""
        return self.pmd_size

    @property
    def auto_align(self) -> int:
        """``address: auto`` places a mapping at ``offset mod auto_align``: PUD_SIZE,
        the hugetlb PMD-sharing window (and the file-cached one)."""
        return self.pud_size

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
        """Bytes of one process's PGD (8 KiB on x86-64 with PTI: ``PGD_ALLOCATION_ORDER``;
        PTRS_PER_PGD x 8 bytes from a kmem_cache on arm64 16K/64K)."""
        if pti and self.pti_pgd_bytes is not None:
            return self.pti_pgd_bytes
        return self.pgd.table_bytes

    def table_bytes(self, pti: bool) -> dict[str, int]:
        """Bytes of one table, per level present (the PGD: :meth:`pgd_bytes`).

        >>> X86_64.table_bytes(pti=True)
        {'pte': 4096, 'pmd': 4096, 'pud': 4096, 'pgd': 8192}
        """
        out = {lv.name: lv.table_bytes for lv in self.levels}
        out[self.pgd.name] = self.pgd_bytes(pti)
        return out

    def leaf_index(self, page_size: int) -> int:
        """Index in ``levels`` of the level whose entries map ``page_size`` pages.

        A page bigger than one entry but a multiple of it is a contiguous
        mapping (arm64 CONT_PTE/CONT_PMD) and still needs that level's table.

        >>> X86_64.levels[X86_64.leaf_index(2 * MiB)].name
        'pmd'
        >>> ARM64_16K.levels[ARM64_16K.leaf_index(1 * GiB)].name  # CONT_PMD_SIZE
        'pmd'
        """
        best = None
        for i, lv in enumerate(self.levels[:-1]):
            if page_size >= lv.entry_span and page_size % lv.entry_span == 0:
                best = i
        if best is None:
            raise ValueError(f"{page_size} is not a page size of {self.name}")
        return best

    def page_kind(self, page_size: int) -> str:
        """How the kernel maps ``page_size`` pages: ``"pte"``, ``"cont-pte"``,
        ``"pmd"``, ``"cont-pmd"`` or ``"pud"`` (the level, ``cont-`` when the
        page spans several entries with the contiguous bit).

        >>> [ARM64_4K.page_kind(s) for s in ARM64_4K.page_sizes()]
        ['pte', 'cont-pte', 'pmd', 'cont-pmd', 'pud']
        """
        lv = self.levels[self.leaf_index(page_size)]
        return lv.name if page_size == lv.entry_span else f"cont-{lv.name}"

    def page_sizes(self) -> tuple[int, ...]:
        """Base page plus every hugetlb size: every page size a workload may use."""
        return (self.base_page, *self.hugetlb_sizes)

    def whatif_page_sizes(self) -> tuple[int, ...]:
        """Page sizes the what-if columns show: the base page, PMD_SIZE and
        the largest hugetlb size (PUD_SIZE on x86-64 and arm64 4K, CONT_PMD_SIZE
        on arm64 16K/64K).

        Contiguous-PTE pages need exactly the base page's tables, and a
        contiguous-PMD size between PMD and PUD (32 MiB on arm64 4K) exactly
        the PMD size's tables minus its sharing, so they add no column
        (docs/architectures.md).

        >>> [s // KiB for s in ARM64_16K.whatif_page_sizes()]
        [16, 32768, 1048576]
        """
        sizes = [self.base_page]
        if self.pmd_size in self.hugetlb_sizes:
            sizes.append(self.pmd_size)
        if self.hugetlb_sizes and max(self.hugetlb_sizes) not in sizes:
            sizes.append(max(self.hugetlb_sizes))
        return tuple(sizes)

    @property
    def pmd_share_size(self) -> int | None:
        """Page size that hugetlb PMD sharing applies to (PMD_SIZE), if any."""
        if not self.pmd_share:
            return None
        return self.pmd_size

    @property
    def mshare_align(self) -> int:
        """mshare region alignment: P4D_SIZE (mshare v3 ``mshare_align = P4D_SIZE``),
        what one P4D entry maps, or one PGD entry when the P4D is folded
        (PGDIR_SIZE: 512 GiB on x86-64 4-level and arm64 4K, 128 TiB on arm64
        16K, 4 TiB on arm64 64K) -- the level whose entry points at the host's tables."""
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


def _arm64_levels(page_shift: int, va_bits: int) -> tuple[Level, ...]:
    """arm64 stage-1 tables for a granule and VA size, as the kernel builds them.

    arch/arm64/include/asm/pgtable-hwdef.h: a table is one page of 8-byte
    descriptors, so each level resolves PAGE_SHIFT - 3 bits;
    ``ARM64_HW_PGTABLE_LEVELS(va_bits) = (va_bits - 4) / (PAGE_SHIFT - 3)``;
    ``ARM64_HW_PGTABLE_LEVEL_SHIFT(n) = (PAGE_SHIFT - 3) * (4 - n) + 3``;
    ``PTRS_PER_PGD = 1 << (VA_BITS - PGDIR_SHIFT)``.  With 3 levels the PUD is
    folded (pgtable-nopud.h).  The PGD is ``PGD_SIZE = PTRS_PER_PGD * 8`` bytes
    (arch/arm64/include/asm/pgalloc.h); arch/arm64/mm/pgd.c ``pgd_alloc()``
    takes it from the ``pgd_cache`` kmem_cache when it is smaller than a page
    (``pgdir_is_page_size()``), so it costs PGD_SIZE bytes, not a page.
    """
    bits = page_shift - 3
    n = (va_bits - 4) // bits
    page = 1 << page_shift
    names = ("pte", "pmd", "pud")[: n - 1]
    levels = [Level(name, page_shift + i * bits, 1 << bits, page) for i, name in enumerate(names)]
    pgdir_shift = page_shift + (n - 1) * bits
    ptrs_per_pgd = 1 << (va_bits - pgdir_shift)
    levels.append(Level("pgd", pgdir_shift, ptrs_per_pgd, ptrs_per_pgd * ENTRY_BYTES))
    return tuple(levels)


X86_64 = Arch(
    name="x86_64",
    description="x86-64, 4-level paging (48-bit virtual addresses)",
    levels=_x86_levels(la57=False),
    # arch/x86/include/asm/page_64_types.h: TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE
    user_limit=(1 << 47) - 4 * KiB,
    # arch/x86/mm/hugetlbpage.c arch_hugetlb_valid_size(): PMD_SIZE, and PUD_SIZE with GBPAGES
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
    # arch/x86/include/asm/page_64_types.h: DEFAULT_MAP_WINDOW = (1 << 47) -
    # PAGE_SIZE whatever the paging depth: a process gets addresses above 47
    # bits only by asking with an mmap hint (arch_get_unmapped_area_topdown)
    map_window=(1 << 47) - 4 * KiB,
    hugetlb_sizes=(2 * MiB, 1 * GiB),
    pmd_share=True,
    pti_pgd_bytes=8 * KiB,
)

# arm64, 48-bit VA (CONFIG_ARM64_VA_BITS_48).  Shared by the three granules:
# * TASK_SIZE_64 = 1 << vabits_actual = 1 << 48 (arch/arm64/include/asm/processor.h;
#   no guard page is subtracted, unlike x86).
# * hugetlb sizes: arch/arm64/mm/hugetlbpage.c __hugetlb_valid_size() accepts
#   CONT_PTE_SIZE, PMD_SIZE, CONT_PMD_SIZE, and PUD_SIZE where
#   pud_sect_supported() (4K granule only); its support matrix:
#       granule   CONT PTE   PMD    CONT PMD   PUD
#       4K        64K        2M     32M        1G
#       16K       2M         32M    1G
#       64K       2M         512M   16G
#   (CONT_PTE_SHIFT/CONT_PMD_SHIFT from CONFIG_ARM64_CONT_{PTE,PMD}_SHIFT).
# * hugetlb PMD sharing: arch/arm64/Kconfig selects ARCH_WANT_HUGE_PMD_SHARE
#   "if ARM64_4K_PAGES || (ARM64_16K_PAGES && !ARM64_VA_BITS_36)"; in
#   huge_pte_alloc() only sz == PMD_SIZE calls huge_pmd_share() -- contiguous
#   sizes never share.
_ARM64_USER = 1 << 48

ARM64_4K = Arch(
    name="arm64-4k",
    description="arm64, 4 KiB granule, 4 levels (48-bit virtual addresses)",
    levels=_arm64_levels(page_shift=12, va_bits=48),  # the x86-64 4-level geometry
    user_limit=_ARM64_USER,
    hugetlb_sizes=(64 * KiB, 2 * MiB, 32 * MiB, 1 * GiB),
    pmd_share=True,
)

ARM64_16K = Arch(
    name="arm64-16k",
    description="arm64, 16 KiB granule, 4 levels (48-bit virtual addresses)",
    # 2048-entry 16 KiB tables: PTE table 32 MiB, PMD table 64 GiB, PUD table
    # 128 TiB; the PGD has 2 entries (PGD_SIZE 16 bytes, from pgd_cache).
    levels=_arm64_levels(page_shift=14, va_bits=48),
    user_limit=_ARM64_USER,
    hugetlb_sizes=(2 * MiB, 32 * MiB, 1 * GiB),
    pmd_share=True,
    # One PUD table covers 128 TiB, half of user space, so "a window of its
    # own" is one PMD table's span (PUD_SIZE, 64 GiB) instead: each auto
    # mapping gets PMD tables of its own; all of them share the PUD table
    # below 128 TiB, as every mapping of a real process does.
    auto_window=64 * GiB,
    auto_base=1 * TiB,
)

ARM64_64K = Arch(
    name="arm64-64k",
    description="arm64, 64 KiB granule, 3 levels (48-bit virtual addresses)",
    # 8192-entry 64 KiB tables: PTE table 512 MiB, PMD table 4 TiB; no PUD
    # level; the PGD has 64 entries (PGD_SIZE 512 bytes, from pgd_cache).
    levels=_arm64_levels(page_shift=16, va_bits=48),
    user_limit=_ARM64_USER,
    hugetlb_sizes=(2 * MiB, 512 * MiB, 16 * GiB),
    pmd_share=False,  # no ARCH_WANT_HUGE_PMD_SHARE with 64 KiB pages
    # PUD_SIZE (what a PMD table covers, one PGD entry) is 4 TiB: the window
    # and its alignment; user space holds 64 of them, the first left free.
    auto_window=4 * TiB,
    auto_base=4 * TiB,
)

ARCHES: dict[str, Arch] = {a.name: a for a in (X86_64, X86_64_LA57, ARM64_4K, ARM64_16K, ARM64_64K)}
"""Every profile by the name the workload's ``host.arch`` uses."""
