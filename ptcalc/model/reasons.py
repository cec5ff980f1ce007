"""Words for the rules that stop sharing (``model.Why``), for reports and ``explain``."""

from __future__ import annotations

from typing import Any

from ptcalc.model import xp as _xp
from ptcalc.model.geometry import Arch
from ptcalc.model.layout import Layout
from ptcalc.model.schemes import Why, Zones
from ptcalc.units import format_size


def _spans(arch: Arch) -> tuple[str, str]:
    pmd_size = format_size(arch.levels[0].table_span)
    pmd = arch.level("pmd")
    pud_size = format_size(pmd.table_span) if pmd else "PUD_SIZE"
    return pmd_size, pud_size


def reason(why: Why, level: str, arch: Arch) -> str:
    """One sentence: why tables at ``level`` ("pmd" or "pte") are not shared.

    >>> from ptcalc.model.geometry import X86_64
    >>> reason(Why.MISALIGNED, "pmd", X86_64)
    'address not congruent to the file offset modulo 1 GiB'
    """
    pmd_size, pud_size = _spans(arch)
    window = pud_size if level == "pmd" else pmd_size
    share = arch.pmd_share_size
    return {
        Why.SHARED: "shared",
        Why.PRIVATE_SCHEME: "the private scheme shares nothing",
        Why.NOT_HUGETLB: "mainline Linux shares page tables only for hugetlb mappings",
        Why.NOT_PMD_PAGES: (f"hugetlb PMD sharing needs {format_size(share)} pages (huge_pte_alloc)"
                            if share else "this architecture has no hugetlb PMD sharing"),
        Why.ARCH_NO_PMD_SHARE: f"{arch.name} has no hugetlb PMD sharing (CONFIG_ARCH_WANT_HUGE_PMD_SHARE)",
        Why.PROT_NONE: "a PROT_NONE mapping is never faulted in: it has no page tables",
        Why.USERFAULTFD: "userfaultfd write-protect/minor registration needs private tables "
                         "(uffd_disable_huge_pmd_share)",
        Why.SOFT_DIRTY: "soft-dirty tracking needs per-process tables",
        Why.BELOW_THRESHOLD: "the segment is smaller than the file-cached size threshold",
        Why.MISALIGNED: f"address not congruent to the file offset modulo {window}",
        Why.NO_WHOLE_WINDOW: f"no whole {window}-aligned {window} window lies inside the mapping",
        Why.NO_TABLES_AT_LEVEL: (f"its pages are mapped above the {level.upper()} level: "
                                 f"there are no {level.upper()} tables to share"),
        Why.PTSHARE_ALIGNMENT: f"ptshare needs the address and size to be multiples of {pmd_size}",
    }[why]


def most_common(codes: Any) -> Why:
    """The most frequent code; of equally frequent ones, the one seen first
    (as ``Counter.most_common``).  Counted with array operations: a large
    workload has 100,000 mappings."""
    xp = _xp.namespace_of(codes)
    codes = codes.astype(xp.int64)
    counts = xp.group_sum(codes, xp.ones(codes.size, dtype=xp.int64), len(Why)).tolist()
    best = max(counts)
    uniq, first = xp.unique_index(codes)
    seen = {c: i for c, i in zip(uniq.tolist(), first.tolist())}
    return Why(min((seen[c], c) for c, k in enumerate(counts) if k == best)[1])


def dominant(layout: Layout, z: Zones) -> tuple[Why, str] | None:
    """The most common reason, over touched mappings, that a scheme shares
    nothing at the level it would share most at; None if something is shared."""
    xp = layout.xp
    touched = xp.zeros(layout.n_rows, dtype=xp.bool_)
    touched[layout.piece_row] = True
    if not touched.any():
        return None
    if z.scheme == "mshare" and z.upper == "pmd":  # ptshare
        codes, level = z.why_pte[touched], "pte"
    elif z.scheme == "file-cached":
        if ((z.why_pte[touched] == Why.SHARED) | (z.why_pmd[touched] == Why.SHARED)).any():
            return None
        # report the PTE-level reason for base pages, the PMD-level one otherwise
        if (layout.row_leaf[touched] == 0).any():
            return most_common(z.why_pte[touched]), "pte"
        return most_common(z.why_pmd[touched]), "pmd"
    else:
        codes, level = z.why_pmd[touched], "pmd"
    if (codes == Why.SHARED).any():
        return None
    return most_common(codes), level
