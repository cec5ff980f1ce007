"""The sharing schemes, one module each, and :func:`zones`, which dispatches.

    scheme        module          what shares                                 status
    ------------  --------------  ------------------------------------------  -------------------
    private       private         nothing                                     baseline
    hugetlb-pmd   hugetlb_pmd     PMD tables of PMD_SIZE hugetlb mappings     mainline Linux
    mshare        mshare          an opt-in region's tables (v3) / PTEs only  proposal
    file-cached   file_cached     PTE and PMD tables cached on the file       proposal (seed thread)

Each module's ``zones(layout, options)`` says, per mapping, where it shares
(:class:`Zones`) and why it does not (:class:`Why`); the counting is the
same for all (``ptcalc.model.tables.count``).  Private mappings (a process's
text, libraries, heap, stack) never share, whatever the scheme
(:func:`~ptcalc.model.schemes.common.keep_private`, applied here once).
"""

from __future__ import annotations

from collections.abc import Callable

from ptcalc.model.layout import Layout
from ptcalc.model.schemes import file_cached, hugetlb_pmd, mshare, private
from ptcalc.model.schemes.common import ZONE_KIND, Why, Zones, keep_private
from ptcalc.workload.types import ModelOptions

SCHEMES: tuple[str, ...] = ("private", "hugetlb-pmd", "mshare", "file-cached")

_ZONES: dict[str, Callable[[Layout, ModelOptions], Zones]] = {
    "private": private.zones,
    "hugetlb-pmd": hugetlb_pmd.zones,
    "mshare": mshare.zones,
    "file-cached": file_cached.zones,
}


def zones(layout: Layout, scheme: str, options: ModelOptions) -> Zones:
    """Split every mapping into its five zones under ``scheme``."""
    try:
        of = _ZONES[scheme]
    except KeyError:
        raise ValueError(f"unknown scheme {scheme!r}") from None
    return keep_private(layout, of(layout, options))


__all__ = ["SCHEMES", "ZONE_KIND", "Why", "Zones", "zones"]
