"""Which rule stops a scheme from sharing, over a whole workload (``Why`` codes;
``ptcalc.render.words`` words them)."""

from __future__ import annotations

from typing import Any

from ptcalc.model import xp as _xp
from ptcalc.model.layout import Layout
from ptcalc.model.schemes import Why, Zones


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
    if layout.has_private:
        touched = touched & ~layout.row_private  # (a process's own mappings are never shared)
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
