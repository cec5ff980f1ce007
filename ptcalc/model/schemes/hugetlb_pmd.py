"""``hugetlb-pmd``: mainline Linux, hugetlb mappings share PMD tables
(docs/semantics.md section 3.1).

mm/hugetlb.c: ``huge_pte_alloc()`` calls ``huge_pmd_share()`` only for
PMD_SIZE pages (``Arch.pmd_share_size``; arches without
CONFIG_ARCH_WANT_HUGE_PMD_SHARE never share); ``want_pmd_share()`` requires
VM_MAYSHARE, no userfaultfd write-protect/minor registration
(``uffd_disable_huge_pmd_share``) and, through ``vma_shareable()``, the
PUD_SIZE window wholly inside the vma; ``page_table_shareable()`` pairs
sharers with the same alignment within the PUD and identical vm_flags (the
same protection), which is the pool key ``model.tables`` counts with.
Everything else is private: there is no shared-PTE zone, and PUD tables are
never shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptcalc.model.layout import Array, Layout
from ptcalc.model.schemes.common import HUGETLB, PROT_NONE, Why, Zones, whole_windows, zones_of
from ptcalc.workload.types import ModelOptions


@dataclass(frozen=True)
class PmdShare:
    """Per row, whether and where hugetlb PMD sharing applies."""

    hugetlb: Array
    ok: Array
    """hugetlb, PMD_SIZE pages, not PROT_NONE, no uffd wp/minor."""
    w_lo: Array
    w_hi: Array
    w_any: Array
    """The PUD_SIZE windows wholly inside the mapping (vma_shareable)."""

    @property
    def on(self) -> Array:
        """Rows with a shared-PMD zone."""
        return self.ok & self.w_any


def pmd_share(layout: Layout) -> tuple[PmdShare, Array]:
    """Where hugetlb PMD sharing applies, and the codes ``(why_pmd, why_pte)``
    are computed from (a function: only reports read them)."""
    xp = layout.xp
    n = layout.n_rows
    arch = layout.arch
    pmd_lv = layout.level_index("pmd")
    prot_none = layout.row_prot == PROT_NONE
    hugetlb = layout.row_backing == HUGETLB
    share_size = arch.pmd_share_size
    pmd_pages = layout.row_page == (share_size if share_size else -1)
    ok = hugetlb & pmd_pages & ~prot_none & ~layout.row_uffd_blocks_pmd_share
    if pmd_lv is not None:
        w_lo, w_hi, w_any = whole_windows(layout, arch.levels[pmd_lv].table_span)
    else:
        w_lo, w_hi, w_any = layout.row_addr, layout.row_addr, xp.zeros(n, dtype=xp.bool_)

    def why() -> tuple[Array, Array]:
        i8 = xp.int8
        above_pmd = layout.row_leaf > (pmd_lv if pmd_lv is not None else -1)
        why_pmd = xp.select(
            [~hugetlb, xp.full(n, share_size is None, dtype=xp.bool_), above_pmd, ~pmd_pages, prot_none,
             layout.row_uffd_blocks_pmd_share, ~w_any],
            [Why.NOT_HUGETLB, Why.ARCH_NO_PMD_SHARE, Why.NO_TABLES_AT_LEVEL, Why.NOT_PMD_PAGES,
             Why.PROT_NONE, Why.USERFAULTFD, Why.NO_WHOLE_WINDOW],
            Why.SHARED).astype(i8)
        return why_pmd, xp.where(hugetlb, Why.NO_TABLES_AT_LEVEL, Why.NOT_HUGETLB).astype(i8)

    return PmdShare(hugetlb=hugetlb, ok=ok, w_lo=w_lo, w_hi=w_hi, w_any=w_any), why


def zones(layout: Layout, options: ModelOptions) -> Zones:
    """A shared-PMD zone over the whole PUD_SIZE windows of every eligible mapping."""
    share, why = pmd_share(layout)
    return zones_of(layout, "hugetlb-pmd", why, pmd_on=share.on, w_lo=share.w_lo, w_hi=share.w_hi)
