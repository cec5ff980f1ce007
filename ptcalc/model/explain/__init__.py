"""``ptcalc explain``: where every page table of a workload comes from.

For one scheme, per group and mapping: the tables each process needs per
level, which shared tables it links in and with whom it shares them, and for
every part of a mapping whose tables stay private the rule that stopped the
sharing and the smallest change that would let it share -- computed by
re-running the model on the changed workload, never canned.  Nothing here
prints; ``ptcalc.render.explain_*`` render an :class:`Explanation`.

Attribution (per process of a group, per level below the PGD):

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
"""

from __future__ import annotations

from ptcalc.model.geometry import LEVEL_NAMES, VMPTE_LEVELS
from ptcalc.model.explain.attribution import attached_tables, Context, own_attribution, pools, sharing_of, vmpte_note
from ptcalc.model.explain.rules import Findings
from ptcalc.model.explain.types import (EXTRA_RULES, RULE_OF_WHY, Explanation, Finding, Fix, GroupExplain,
                                  MappingExplain, Partner, Pool, Sharing, Totals, VmpteNote)
from ptcalc.model.results import zero_levels
from ptcalc.workload.types import ModelOptions, Workload

__all__ = ["EXTRA_RULES", "RULE_OF_WHY", "Explanation", "Finding", "Fix", "GroupExplain", "MappingExplain",
           "Partner", "Pool", "Sharing", "Totals", "VmpteNote", "explain"]


def explain(workload: Workload, scheme: str, options: ModelOptions | None = None,
            column_label: str = "configured", findings: bool = True) -> Explanation:
    """Explain every table of ``workload`` under ``scheme`` (see the module docstring).

    ``findings=False`` skips the rules and fixes (which re-run the model per
    candidate change) and gives the attribution alone.
    """
    options = options or workload.options
    cx = Context(workload, scheme, options)
    own_rows, between = own_attribution(cx)
    att_rows = attached_tables(cx)
    builds = pools(cx)
    sharing = sharing_of(cx, builds)
    groups: list[GroupExplain] = []
    for gi, g in enumerate(workload.groups):
        maps = []
        own_total = dict(between[gi])
        att_total = zero_levels()
        for mi, m in enumerate(g.mappings):
            r = cx.row_of(gi, mi)
            seg = workload.segments[m.segment]
            maps.append(MappingExplain(group=gi, index=mi, mapping=m, backing=seg.backing, page_size=seg.page_size,
                                       own=own_rows[r], attached=att_rows[r],
                                       sharing=tuple(sorted(sharing.get(r, []), key=lambda s: (s.pool, s.level)))))
            for n in LEVEL_NAMES:
                own_total[n] += own_rows[r][n]
                att_total[n] += att_rows[r][n]
        own_total["pgd"] += 1
        per_process = sum(own_total[n] * cx.table_bytes.get(n, 0) for n in LEVEL_NAMES)
        vmpte = sum((own_total[n] + att_total[n]) * cx.table_bytes[n] for n in VMPTE_LEVELS if n in cx.table_bytes)
        groups.append(GroupExplain(name=g.name, count=g.count, mappings=tuple(maps), between_mappings=between[gi],
                                   own=own_total, attached=att_total, per_process_bytes=per_process,
                                   vmpte_bytes=vmpte))
    own_phys = zero_levels()
    for ge in groups:
        for n in LEVEL_NAMES:
            own_phys[n] += ge.count * ge.own[n]
    pool_tables = zero_levels()
    for b in builds:
        for n in LEVEL_NAMES:
            pool_tables[n] += b.pool.tables[n]
    totals = Totals(own=own_phys, pools=pool_tables,
                    total={n: own_phys[n] + pool_tables[n] for n in LEVEL_NAMES}, model=dict(cx.result.tables))
    found: list[Finding] = []
    if findings:
        f = Findings(cx, builds, sharing)
        f.rows()
        f.across_pools()
        found = sorted(f.out, key=lambda x: (x.group, x.mapping))
    return Explanation(workload=workload, scheme=scheme, options=options, column_label=column_label,
                       result=cx.result, groups=tuple(groups), pools=tuple(b.pool for b in builds), totals=totals,
                       findings=tuple(found), vmpte=vmpte_note(cx, groups, builds),
                       table_bytes=dict(cx.table_bytes))
