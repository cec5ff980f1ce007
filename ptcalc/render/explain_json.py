"""``explain --format json``: every table count and fix, exact.  Schema version 3 (2 adds private
mappings, the VmPTE split and what-if placement; 3 names at most three
``partners`` per mapping and level, says with ``more_partners`` whether
there are others, and gives each table's users as ``sharers``: a pool of
thousands of users listed every pair before; and ``moved_private``, the
processes' own mappings a what-if moved out of a re-placed mapping's way).

Every group and every finding is listed; ``alike_groups`` names the groups
that are the same but for names (instance copies: the table and markdown
formats show the first of each), and ``merged_findings`` lists, as indices
into ``findings``, the findings that say the same thing (shown once there,
worded for the first) -- every finding is in exactly one list."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ptcalc.model.explain import Explanation, Finding, FindingList, Fix
from ptcalc.model.explain.types import Interval
from ptcalc.model.explain.alike import alike, merged
from ptcalc.render.jsontext import Lines, Raw, dumps, lines_text
from ptcalc.render.explain_words import fix_description, note_text, reason_text, vmpte_text
from ptcalc.render.facts import about, options_facts
from ptcalc.render.words import explain_column_label

SCHEMA_VERSION = 3


def _fix(f: Fix | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"kind": f.kind, "text": fix_description(f), "physical_before": f.physical_before,
            "physical_after": f.physical_after, "change_bytes": f.change_bytes, "delta": f.delta,
            "new_range": list(f.new_range) if f.new_range is not None else None, "new_offset": f.new_offset,
            "saves": f.saves}


def document(e: Explanation) -> dict[str, Any]:
    w = e.workload
    a = alike(e)
    reasons: dict[tuple[object, str], str] = {}
    fixes: dict[int, dict[str, Any] | None] = {}  # per Fix (by id): findings share them

    def fix(f: Fix | None) -> dict[str, Any] | None:
        out = fixes.get(id(f), fixes)
        if out is fixes:
            out = fixes[id(f)] = _fix(f)
        return out  # type: ignore[return-value]

    def reason(f: Finding) -> str:
        if f.why is None:
            return reason_text(e, f)
        key = (f.why, f.why_level)  # a model rule is worded from these alone
        if key not in reasons:
            reasons[key] = reason_text(e, f)
        return reasons[key]

    return {
        "schema_version": SCHEMA_VERSION,
        **about(w),
        "scheme": e.scheme,
        "column": explain_column_label(e.column),
        "options": options_facts(e.options),
        "table_bytes": e.table_bytes,
        "replaced": [{"group": e.groups[r.group].name, "mapping": r.mapping, "old_address": r.old_address,
                      "address": r.address, "aligned_address": r.aligned_address, "reason": r.reason}
                     for r in e.column.replaced],
        "moved_private": [{"group": e.groups[g].name, "private_mapping": j, "old_address": old, "address": new}
                          for g, j, old, new in e.column.moved_private],
        "aligned_physical_bytes": e.aligned_physical_bytes,
        "groups": Lines([
            {
                "name": g.name,
                "count": g.count,
                "per_process_bytes": g.per_process_bytes,
                "vmpte_bytes": g.vmpte_bytes,
                "own_tables": g.own,
                "attached_tables": g.attached,
                "between_mappings": g.between_mappings,
                "private_tables": g.private_tables,
                "mixed_tables": g.mixed_tables,
                "vmpte_parts": None if g.vmpte_parts is None else {
                    "segments_bytes": g.vmpte_parts.segments, "private_bytes": g.vmpte_parts.private,
                    "mixed_bytes": g.vmpte_parts.mixed, "dominant": g.vmpte_parts.dominant},
                "default_layout": g.default_layout,
                "private_mappings": [
                    {"index": pe.index, "name": pe.mapping.name, "kind": pe.mapping.kind,
                     "origin": pe.mapping.origin, "address": pe.mapping.address, "size": pe.mapping.size,
                     "page_size": pe.mapping.page_size, "auto": pe.mapping.auto,
                     "touched_bytes": pe.mapping.touched_bytes, "own_tables": pe.own}
                    for pe in g.private_mappings
                ],
                "mappings": [
                    {
                        "index": index,
                        "origin": origin,
                        "segment": segment,
                        "backing": backing,
                        "page_size": page_size,
                        "offset": offset,
                        "size": size,
                        "address": address,
                        "auto": auto,
                        "protection": protection,
                        "own_tables": own,
                        "attached_tables": attached,
                        "sharing": [
                            {"pool": s.pool, "level": s.level, "tables": s.tables, "attached": s.attached,
                             "shared": s.shared, "sharers": {"fewest": s.sharers[0], "most": s.sharers[1]},
                             "partners": [{"group": p.group, "mapping": p.mapping, "processes": p.processes,
                                           "tables": p.tables} for p in s.partners],
                             "more_partners": s.more_partners}
                            for s in sharing
                        ],
                    }
                    for index, (origin, segment, offset, size, address, auto, protection, backing, page_size, own,
                                attached, sharing) in enumerate(zip(*g.mappings.placed()))
                ],
            }
            for g in e.groups
        ]),
        "pools": [
            {"id": p.id, "kind": p.kind, "segment": p.segment, "protection": p.protection,
             "alignment": p.alignment, "tables": p.tables, "shared_tables": p.shared,
             "users": [{"group": e.groups[g].name, "mapping": mi, "processes": n} for g, mi, n in p.users]}
            for p in e.pools
        ],
        "totals": {"own": e.totals.own, "pools": e.totals.pools, "total": e.totals.total,
                   "physical_bytes": e.result.physical_bytes},
        "findings": _findings(e, fix, reason),
        "alike_groups": [[e.groups[i].name for i in members] for members in a.classes if len(members) > 1],
        "merged_findings": _index_lists(merged(e, a), 1),
        "vmpte": {"summed_bytes": e.vmpte.summed_bytes, "physical_bytes": e.vmpte.physical_bytes,
                  "own_bytes": e.vmpte.own_bytes, "attached_bytes": e.vmpte.attached_bytes,
                  "attachments": e.vmpte.attachments, "top_level_bytes": e.vmpte.top_bytes,
                  "pool_bytes": e.vmpte.pool_bytes, "linked_pool_bytes": e.vmpte.linked_bytes, "text": vmpte_text(e.vmpte)},
    }


def _finding(e: Explanation, f: Finding, fix: Callable[[Fix | None], dict[str, Any] | None],
             reason: Callable[[Finding], str]) -> dict[str, Any]:
    return {"group": e.groups[f.group].name, "mapping": f.mapping, "level": f.level, "rule": f.rule,
            "reason": reason(f), "ranges": [list(r) for r in f.ranges], "tables": f.tables, "fix": fix(f.fix),
            "alternatives": [fix(a) for a in f.alternatives], "note": note_text(f)}


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(", ", ": "))


def _findings(e: Explanation, fix: Callable[[Fix | None], dict[str, Any] | None],
              reason: Callable[[Finding], str]) -> Lines | Raw:
    """Every finding, a line each.  Of findings kept as parts
    (:class:`FindingList`), a part's shared fields are encoded once and each
    finding's line is put together from them and its own (group, mapping,
    ranges, tables): no Finding nor dict made per finding, the same text."""
    fl = e.findings
    if not isinstance(fl, FindingList):
        return Lines([_finding(e, f, fix, reason) for f in fl])
    names = [_compact(g.name) for g in e.groups]
    per_part: list[tuple[str, str, Sequence[tuple[Interval, ...]], list[str], list[int]] | None] = []
    for p in fl.parts:
        f0 = p.finding(0) if p.fields is not None and len(p) else None
        if f0 is None or f0.why is None:  # made one by one, or worded from its ranges
            per_part.append(None)
            continue
        mid = (f', "level": {_compact(f0.level)}, "rule": {_compact(f0.rule)}, "reason": {_compact(reason(f0))}, '
               '"ranges": ')
        tail = (f', "fix": {_compact(fix(f0.fix))}, "alternatives": {_compact([fix(a) for a in f0.alternatives])}, '
                f'"note": {_compact(note_text(f0))}}}')
        distinct, index = p.tables_index()
        per_part.append((mid, tail, p.ranges(), [_compact(t) for t in distinct], index))
    items = []
    for i, (pi, j, g, m) in enumerate(zip(fl.part.tolist(), fl.at.tolist(), fl.group, fl.mapping)):
        shared = per_part[pi]
        if shared is None:
            items.append(_compact(_finding(e, fl[i], fix, reason)))
            continue
        mid, tail, ranges, tables, index = shared
        rs = ", ".join([f"[{a}, {b}]" for a, b in ranges[j]])
        items.append(f'{{"group": {names[g]}, "mapping": {m}{mid}[{rs}], "tables": {tables[index[j]]}{tail}')
    return lines_text(items, 1)


def _index_lists(lists: list[list[int]], level: int) -> Raw:
    """A list of lists of numbers at ``level``, laid out as :func:`dumps`
    lays out nested lists (a number a line), in one join (100,000 numbers
    written one call each took a fifth of the JSON output's time)."""
    if not lists:
        return Raw("[]")
    pad = "\n" + "  " * (level + 1)
    inner = "\n" + "  " * (level + 2)
    return Raw("[" + pad + ("," + pad).join(["[" + inner + ("," + inner).join(map(str, xs)) + pad + "]"
                                              for xs in lists]) + "\n" + "  " * level + "]")


def render(e: Explanation) -> str:
    return dumps(document(e))
