"""What every sharing scheme produces: a mapping's five zones and the codes
of the rules that stop sharing (docs/semantics.md section 3).

A scheme splits each mapping (layout row) into at most five contiguous
zones, in address order::

    [private head][shared-PTE head][shared-upper][shared-PTE tail][private tail]

``cols[k]`` .. ``cols[k + 1]`` is zone k of every row.  ``model.tables``
counts the tables of every zone; the scheme modules say where the zones are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from ptcalc.model import xp as _xp
from ptcalc.units import floor_div, round_up
from ptcalc.model.layout import BACKING_CODE, PROT_CODE, Array, Layout

# Zone numbers, in address order within a mapping (docs/semantics.md section 3).
Z_PRIVATE_HEAD, Z_PTE_HEAD, Z_UPPER, Z_PTE_TAIL, Z_PRIVATE_TAIL = range(5)
ZONE_KIND = (0, 1, 2, 1, 0)
"""Per zone: 0 private, 1 shared-PTE, 2 shared-upper (PMD tables or an mshare region)."""

HUGETLB = BACKING_CODE["hugetlb"]
PROT_NONE = PROT_CODE["none"]


class Why(IntEnum):
    """Why a mapping's tables at one level are not shared (0: they are).

    The rule each code names, and where it comes from, is in the scheme
    module that gives it; ``ptcalc.render.reasons`` words them.
    """

    SHARED = 0
    PRIVATE_SCHEME = 1
    NOT_HUGETLB = 2
    NOT_PMD_PAGES = 3
    ARCH_NO_PMD_SHARE = 4
    PROT_NONE = 5
    USERFAULTFD = 6
    SOFT_DIRTY = 7
    BELOW_THRESHOLD = 8
    MISALIGNED = 9
    NO_WHOLE_WINDOW = 10
    NO_TABLES_AT_LEVEL = 11
    PTSHARE_ALIGNMENT = 12
    PRIVATE_MAPPING = 13


@dataclass(frozen=True)
class Zones:
    """Where each mapping (row) shares, under one scheme.

    ``cols[k]`` .. ``cols[k+1]`` is zone k of every row (``bounds`` has them
    as a (rows, 6) array for numpy layouts).  ``upper`` says what zone 2
    shares: ``"pmd"`` (a PMD table per window) or ``"mshare"`` (the region's
    host tree).  ``why_pmd`` / ``why_pte`` say, per row, why the PMD-level /
    PTE-level tables are not shared (Why.SHARED when they are, for at least
    part of the mapping).
    """

    scheme: str
    upper: str
    cols: tuple[Array, Array, Array, Array, Array, Array]
    pte_key_class: Array  # ptshare: address - offset, or -1 for auto; else 0
    attached_pte: bool  # shared-PTE tables count in VmPTE (file-cached, not ptshare)
    why: Callable[[], tuple[Array, Array]] = field(repr=False, compare=False)
    """Computes (why_pmd, why_pte): only reports and ``explain`` read them."""

    @cached_property
    def _why(self) -> tuple[Array, Array]:
        return self.why()

    @cached_property
    def shares_nothing(self) -> bool:
        """Every row lies wholly in its first, private zone (and zone 2 is
        not an mshare region): the tables count exactly as under ``private``."""
        return self.upper == "pmd" and bool((self.cols[1] == self.cols[5]).all())

    @property
    def why_pmd(self) -> Array:
        return self._why[0]

    @property
    def why_pte(self) -> Array:
        return self._why[1]

    @cached_property
    def bounds(self) -> Any:
        """Row r's zone boundaries ``bounds[r][0..5]``: a (rows, 6) numpy
        array, or a list of 6-tuples for a pure-Python layout."""
        if _xp.namespace_of(self.cols[0]).NAME == "numpy":
            import numpy as np

            return np.stack(self.cols, axis=1)
        return list(zip(*(c.tolist() for c in self.cols)))


def keep_private(layout: Layout, z: Zones) -> Zones:
    """``z`` with every private mapping (``Layout.row_private``) wholly in its
    private zone, under every scheme.

    A MAP_PRIVATE mapping's tables are its process's own: hugetlb PMD sharing
    needs VM_MAYSHARE (mm/hugetlb.c ``vma_shareable``: ``vma->vm_flags &
    VM_MAYSHARE``), the file-cached proposal caches the tables of MAP_SHARED
    mappings, and an mshare region holds shared objects.  (A proposal that
    shared the tables of read-only private file mappings -- program text,
    libraries -- would change this; none of these does.)
    """
    if not layout.has_private:
        return z
    xp = layout.xp
    priv = layout.row_private
    a, e = layout.row_addr, layout.row_end
    # (a bound that is the mapping's end already stays; one bound array that
    # several zones share -- the private scheme's, mshare's -- is made once)
    made: dict[int, Array] = {id(e): e}
    for c in z.cols[1:5]:
        if id(c) not in made:
            made[id(c)] = xp.where(priv, e, c)
    cols = (a, *(made[id(c)] for c in z.cols[1:5]), e)
    why_of = z.why

    def why() -> tuple[Array, Array]:
        why_pmd, why_pte = why_of()
        return (xp.where(priv, Why.PRIVATE_MAPPING, why_pmd).astype(xp.int8),
                xp.where(priv, Why.PRIVATE_MAPPING, why_pte).astype(xp.int8))

    return Zones(scheme=z.scheme, upper=z.upper, cols=cols,  # type: ignore[arg-type]
                 pte_key_class=z.pte_key_class, attached_pte=z.attached_pte, why=why)


def whole_windows(layout: Layout, size: int) -> tuple[Array, Array, Array]:
    """Per row, the ``size``-aligned windows wholly inside the mapping:
    ``[lo, hi)`` and whether there is any."""
    a, e = layout.row_addr, layout.row_end
    lo = round_up(a, size)
    hi = floor_div(e, size) * size
    return lo, hi, lo < hi


def codes(layout: Layout, code: Why) -> Array:
    """``code`` for every row."""
    return layout.xp.full(layout.n_rows, code, dtype=layout.xp.int8)


def zones_of(layout: Layout, scheme: str, why: Callable[[], tuple[Array, Array]], *,
             pmd_on: Array | None = None, w_lo: Array | None = None, w_hi: Array | None = None,
             pte_on: Array | None = None, p_lo: Array | None = None, p_hi: Array | None = None,
             pte_key_class: Array | None = None, attached_pte: bool = False) -> Zones:
    """The five zones of rows that share PMD tables over ``[w_lo, w_hi)``
    where ``pmd_on`` and PTE tables over ``[p_lo, p_hi)`` (minus the PMD
    zone) where ``pte_on``; everything else private."""
    xp = layout.xp
    n = layout.n_rows
    a, e = layout.row_addr, layout.row_end
    no = xp.zeros(n, dtype=xp.bool_)
    pmd_on = no if pmd_on is None else pmd_on
    pte_on = no if pte_on is None else pte_on
    w_lo = a if w_lo is None else w_lo
    w_hi = a if w_hi is None else w_hi
    p_lo = a if p_lo is None else p_lo
    p_hi = a if p_hi is None else p_hi
    z1 = xp.where(pte_on, p_lo, xp.where(pmd_on, w_lo, e))
    z2 = xp.where(pmd_on, w_lo, xp.where(pte_on, p_hi, e))
    z3 = xp.where(pmd_on, w_hi, z2)
    z4 = xp.where(pte_on, p_hi, z3)
    return Zones(scheme=scheme, upper="pmd", cols=(a, z1, z2, z3, z4, e),
                 pte_key_class=xp.zeros(n, dtype=xp.int64) if pte_key_class is None else pte_key_class,
                 attached_pte=attached_pte, why=why)
