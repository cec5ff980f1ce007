"""``ptcalc explain``: where every page table of a workload comes from.

For one cell of an evaluation (a scheme on a page-size column), per group and
mapping: the tables each process needs per level, which shared tables it
links in and with whom it shares them, and for every part of a mapping whose
tables stay private the rule that stopped the sharing and the smallest change
that would let it share -- computed by evaluating the changed workload, never
canned.  Nothing here prints; ``ptcalc.render.explain_*`` render an
:class:`Explanation`.

Attribution (``Cell.attribution``; per process of a group, per level below
the PGD):

* a mapping's **own** tables are the blocks at that level that only this
  mapping's private (process-owned) parts touch;
* blocks touched by two or more mappings of the same process (two small
  mappings in one 2 MiB block share one PTE table, docs/semantics.md
  section 2) are one line of their own, **between mappings**;
* the PGD is one per process (PGD line);

so own tables of the mappings + between mappings + PGD = the model's
``GroupResult.own_tables``, level by level.  Shared tables are grouped in
**pools**, one per sharing key (docs/semantics.md section 3): the tables of a
pool are counted once, and physical tables per level = sum over groups of
count x own tables + the pools' tables = ``SchemeResult.tables``.

Findings (``Cell.findings``): ``ptcalc.model.explain.rules``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ptcalc.model.explain.types import (EXTRA_RULES, NOTES, RULE_OF_WHY, Explanation, Finding, FindingList, FindingPart,
                                        Fix, GroupExplain, MappingExplain, Partner, Pool, Sharing, Totals, VmpteNote,
                                        ZoneSpan)

if TYPE_CHECKING:
    from ptcalc.model.evaluate import Cell

__all__ = ["EXTRA_RULES", "NOTES", "RULE_OF_WHY", "Explanation", "Finding", "FindingList", "FindingPart", "Fix",
           "GroupExplain", "MappingExplain", "Partner", "Pool", "Sharing", "Totals", "VmpteNote", "ZoneSpan", "explain"]


def explain(cell: Cell, findings: bool = True) -> Explanation:
    """Explain every table of ``cell`` (see the module docstring).

    ``findings=False`` leaves out the rules and fixes (which evaluate the
    workload once per candidate change) and gives the attribution alone.
    """
    a = cell.attribution
    w = cell.column.workload
    assert w is not None
    aligned = cell.aligned
    return Explanation(workload=w, scheme=cell.scheme, options=cell.model_options, column=cell.column,
                       result=cell.result, groups=a.groups, pools=a.pools, totals=a.totals,
                       findings=cell.findings if findings else (), vmpte=a.vmpte, table_bytes=dict(a.table_bytes),
                       aligned_physical_bytes=None if aligned is None else aligned.result.physical_bytes)
