"""``mshare``: the proposed opt-in shared region (docs/semantics.md section
3.3; not mainline).

Variant ``v3``: "Add support for shared PTEs across processes" (Khalid Aziz
2022; Anthony Yznaga, v3 of 19 Aug 2025).  A region's start and size are
multiples of P4D_SIZE (``Arch.mshare_align``); its host mm holds the PUD,
PMD and PTE tables, and each attaching process's PGD (or P4D) entry points
at the host's PUD table.  Here every mapping not PROT_NONE lies in the
region of its (segment, protection); VmPTE of an attached process excludes
the region's tables.

Variant ``ptshare``: the earlier ``MAP_SHARED_PT`` series (Dec 2022): only
base-page mappings whose address and size are multiples of PMD_SIZE, the
whole mapping sharing PTE tables (each process keeps its PMD and PUD
tables); the key is ``address - offset``, or ``auto`` for auto mappings
(the best case: every process maps the segment at the same address).
"""

from __future__ import annotations

from ptcalc.model.intervals import mod
from ptcalc.model.layout import Array, Layout
from ptcalc.model.schemes.common import PROT_NONE, Why, Zones, codes, zones_of
from ptcalc.workload.types import ModelOptions


def zones(layout: Layout, options: ModelOptions) -> Zones:
    if options.mshare_variant == "v3":
        return _v3(layout)
    return _ptshare(layout)


def _v3(layout: Layout) -> Zones:
    xp = layout.xp
    a, e = layout.row_addr, layout.row_end
    ok = ~(layout.row_prot == PROT_NONE)

    def why() -> tuple[Array, Array]:
        why_pmd = xp.where(ok, Why.SHARED, Why.PROT_NONE).astype(xp.int8)
        return why_pmd, why_pmd.copy()

    z = xp.where(ok, a, e)  # the whole mapping is the region's
    return Zones(scheme="mshare", upper="mshare", cols=(a, z, z, e, e, e),
                 pte_key_class=xp.zeros(layout.n_rows, dtype=xp.int64), attached_pte=False, why=why)


def _ptshare(layout: Layout) -> Zones:
    xp = layout.xp
    a, e = layout.row_addr, layout.row_end
    pmd_size = layout.arch.levels[0].table_span  # PMD_SIZE
    prot_none = layout.row_prot == PROT_NONE
    base = layout.row_leaf == 0
    aligned = (mod(a, pmd_size) == 0) & (mod(e - a, pmd_size) == 0)
    ok = base & aligned & ~prot_none

    def why() -> tuple[Array, Array]:
        why_pte = xp.select(
            [prot_none, ~base, ~aligned], [Why.PROT_NONE, Why.NO_TABLES_AT_LEVEL, Why.PTSHARE_ALIGNMENT],
            Why.SHARED).astype(xp.int8)
        return codes(layout, Why.PRIVATE_SCHEME), why_pte

    # the whole mapping shares PTE tables
    return zones_of(layout, "mshare", why, pte_on=ok, p_lo=a, p_hi=e,
                    pte_key_class=xp.where(layout.row_auto, -1, layout.row_d))
