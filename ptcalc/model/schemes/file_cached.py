"""``file-cached``: the generic proposal of the seed thread (docs/semantics.md
section 3.2; not mainline).

David Hildenbrand's suggestion on linux-mm: page tables of MAP_SHARED
mappings are cached on the file and reused, like hugetlb's but for any
file or shmem segment above a size threshold (``ModelOptions.file_cached_threshold``).
hugetlb segments keep mainline's rule exactly (``hugetlb_pmd``); shmem and
file segments share a PMD table for a PUD_SIZE window wholly inside the
mapping when ``address == offset (mod PUD_SIZE)``, and (base pages only) a
PTE table for a PMD_SIZE block wholly inside it when ``address == offset
(mod PMD_SIZE)``.  PROT_NONE, userfaultfd-wp and soft-dirty mappings keep
private tables; shared tables count in VmPTE as hugetlb's do.
"""

from __future__ import annotations

from ptcalc.model.intervals import mod
from ptcalc.model.layout import Array, Layout
from ptcalc.model.schemes import hugetlb_pmd
from ptcalc.model.schemes.common import PROT_NONE, Why, Zones, whole_windows, zones_of
from ptcalc.workload.types import ModelOptions


def zones(layout: Layout, options: ModelOptions) -> Zones:
    xp = layout.xp
    n = layout.n_rows
    arch = layout.arch
    pmd_lv = layout.level_index("pmd")
    pmd_size = arch.levels[0].table_span  # PMD_SIZE: what one PTE table covers
    pud_size = arch.levels[pmd_lv].table_span if pmd_lv is not None else None  # PUD_SIZE: one PMD table
    prot_none = layout.row_prot == PROT_NONE
    d = layout.row_d  # address of file offset 0 in this mapping
    share, hugetlb_why = hugetlb_pmd.pmd_share(layout)
    other = ~share.hugetlb
    eligible = (other & ~prot_none & ~layout.row_uffd_wp & ~layout.row_soft_dirty
                & (layout.row_seg_size >= options.file_cached_threshold))
    has_pmd_tables = layout.row_leaf <= (pmd_lv if pmd_lv is not None else -1)
    congruent_pud = (mod(d, pud_size) == 0) if pud_size is not None else xp.zeros(n, dtype=xp.bool_)
    f_pmd = eligible & has_pmd_tables & congruent_pud & share.w_any
    b_lo, b_hi, b_any = whole_windows(layout, pmd_size)
    base_pages = layout.row_leaf == 0
    congruent_pmd = mod(d, pmd_size) == 0
    pte_on = eligible & base_pages & congruent_pmd & b_any

    def why() -> tuple[Array, Array]:
        i8 = xp.int8
        h_why, h_why_pte = hugetlb_why()
        base_why = xp.select(
            [prot_none, layout.row_uffd_wp, layout.row_soft_dirty,
             layout.row_seg_size < options.file_cached_threshold],
            [Why.PROT_NONE, Why.USERFAULTFD, Why.SOFT_DIRTY, Why.BELOW_THRESHOLD],
            Why.SHARED).astype(i8)
        f_pmd_why = xp.select(
            [base_why != Why.SHARED, ~has_pmd_tables, ~congruent_pud, ~share.w_any],
            [base_why, Why.NO_TABLES_AT_LEVEL, Why.MISALIGNED, Why.NO_WHOLE_WINDOW],
            Why.SHARED).astype(i8)
        f_pte_why = xp.select(
            [base_why != Why.SHARED, ~base_pages, ~congruent_pmd, ~b_any],
            [base_why, Why.NO_TABLES_AT_LEVEL, Why.MISALIGNED, Why.NO_WHOLE_WINDOW],
            Why.SHARED).astype(i8)
        return (xp.where(other, f_pmd_why, h_why).astype(i8),
                xp.where(other, f_pte_why, h_why_pte).astype(i8))

    return zones_of(layout, "file-cached", why, pmd_on=xp.where(other, f_pmd, share.on), w_lo=share.w_lo,
                    w_hi=share.w_hi, pte_on=pte_on, p_lo=b_lo, p_hi=b_hi, attached_pte=True)
