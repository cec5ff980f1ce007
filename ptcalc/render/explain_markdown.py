"""``explain --format markdown``: for pasting into a ticket."""

from __future__ import annotations

from ptcalc.model.explain import Explanation
from ptcalc.names import markdown as md
from ptcalc.render.estimate_markdown import md_table
from ptcalc.model.explain.alike import alike
from ptcalc.render.explain_words import (JSON_HINT, pool_users_text, MAX_FINDINGS, MAX_NAMES, alike_text, copies_text,
                                         finding_tables, fix_text, grouped, levels_of, mapping_label,
                                         more_findings_text, more_mappings_text, most, note_text, shown_mappings,
                                         pages, pool_label, private_rows,
                                         placement_lines, reason_text, sharing_text, split_text, va_range, vmpte_text,
                                         where_all)
from ptcalc.render.facts import MAX_GROUP_ROWS, SCHEME_BLURB, host_line, more_groups_line
from ptcalc.render.words import count_of, explain_column_label
from ptcalc.units import format_kib, format_size


def _n(x: int) -> str:
    return f"{x:,}" if x else "-"


MAX_POOL_ROWS = MAX_GROUP_ROWS
"""Most pools the pools table lists: those with the most tables."""


def render(e: Explanation) -> str:
    """The explanation as markdown: like the text output, the 30 groups, 40
    mappings of each, pools and 50 findings owning the most tables, and a
    line for the rest (JSON lists every one)."""
    w = e.workload
    levels = levels_of(e)
    below = tuple(n for n in levels if n != "pgd")
    out = [f"### ptcalc explain: {md(w.title)}, scheme `{e.scheme}`, {explain_column_label(e.column)}", "",
           f"{md(w.source)}: {host_line(w)}", "", f"_{e.scheme}: {SCHEME_BLURB[e.scheme]}_", ""]
    placed = placement_lines(e)
    if placed:
        out += [f"- {md(line)}" for line in placed] + [""]
    a = alike(e)
    weight = [sum(e.groups[i].count * e.groups[i].per_process_bytes for i in members) for members in a.classes]
    shown_classes = most(weight, MAX_GROUP_ROWS)
    for members in (a.classes[i] for i in shown_classes):
        g = e.groups[members[0]]
        out += [f"**{md(g.name)}**: {count_of(g.count, 'process', 'processes')}; each owns {format_size(g.per_process_bytes)}, "
                f"VmPTE {format_kib(g.vmpte_bytes)}", ""]
        rows = []
        shown = shown_mappings(e, g)
        for me in (g.mappings[i] for i in shown):
            shared = "<br>".join(md(sharing_text(e, s, g.count)) for s in me.sharing) or "-"
            rows.append([md(mapping_label(me)), f"`{va_range(me)}`", pages(me), *[_n(me.own[n]) for n in below],
                         shared])
        if len(shown) < len(g.mappings):
            rest = set(range(len(g.mappings))) - set(shown)
            owns = g.mappings.own()
            rows.append([f"_{more_mappings_text(len(rest))}_", "", "",
                         *[_n(sum(owns[i][n] for i in rest)) for n in below], JSON_HINT])
        for row in private_rows(g, w.arch.base_page):
            rows.append([md(row.label), f"`{row.va_range}`", row.pages, *[_n(row.own[n]) for n in below],
                         md(row.note)])
        if any(g.between_mappings[n] for n in below):
            rows.append(["_tables used by several of its mappings_", "", "",
                         *[_n(g.between_mappings[n]) for n in below], "counted once"])
        rows.append(["**owned per process** (+ 1 PGD)", "", "", *[_n(g.own[n]) for n in below],
                     f"links {', '.join(f'{v:,} {k.upper()}' for k, v in g.attached.items() if v) or 'no'} "
                     "shared tables"])
        out += md_table(["mapping", "virtual addresses", "pages", *[f"own {n.upper()}" for n in below],
                         "shared tables it uses (per process)"], rows,
                        ["l", "l", "l", *["r"] * len(below), "l"]) + [""]
        split = split_text(g)
        if split:
            out += [f"{md(split)}.", ""]
        if len(members) > 1:
            out += [f"{md(alike_text([e.groups[i].name for i in members[1:]]))}.", ""]
    if len(shown_classes) < len(a.classes):
        hidden = [m for i, c in enumerate(a.classes) if i not in set(shown_classes) for m in c]
        out += [f"_{md(more_groups_line(len(hidden), sum(e.groups[i].count for i in hidden)))}_", ""]
    if e.pools:
        pools = most([sum(p.tables.values()) for p in e.pools], MAX_POOL_ROWS)
        rows = [[md(pool_label(p)), *[_n(p.tables[n]) for n in levels], _n(sum(p.shared.values())),
                 pool_users_text(e, p, md)]
                for p in (e.pools[i] for i in pools)]
        if len(pools) < len(e.pools):
            listed = set(pools)
            unlisted = [p for i, p in enumerate(e.pools) if i not in listed]
            rows.append([f"_... and {len(unlisted):,} more pools_",
                         *[_n(sum(p.tables[n] for p in unlisted)) for n in levels],
                         _n(sum(sum(p.shared.values()) for p in unlisted)), JSON_HINT])
        out += ["Shared tables, counted once:", ""]
        out += md_table(["pool", *[n.upper() for n in levels], "with 2+ sharers", "used by"], rows,
                        ["l", *["r"] * len(levels), "r", "l"]) + [""]
    tb = e.table_bytes
    rows = []
    for label, d in (("processes' own (sum of count x own)", e.totals.own), ("pools (shared, once)", e.totals.pools),
                     ("**total**", e.totals.total)):
        rows.append([label, *[_n(d[n]) for n in levels], format_size(sum(d[n] * tb[n] for n in levels))])
    out += ["Physical tables per level:", ""]
    out += md_table(["", *[n.upper() for n in levels], "bytes"], rows, ["l", *["r"] * len(levels), "r"]) + [""]
    out += ["**Why tables are not shared**, and the smallest change that would share them:", ""]
    if not e.findings:
        out.append("- Every touched page's shareable tables are shared.")
    findings = grouped(e, a)
    for fs in findings[:MAX_FINDINGS]:
        f = e.findings[fs[0]]
        out.append(f"- **{md(where_all(e, fs, MAX_NAMES))}** (`{f.rule}`, {f.level}): {md(finding_tables(f))}: "
                   f"{md(reason_text(e, f))}.")
        copies = copies_text(e, fs)
        if copies:
            out.append(f"  - ({md(copies)}.)")
        if f.fix is not None:
            out.append(f"  - Fix: {md(fix_text(f.fix))}.")
            for alt in f.alternatives:
                out.append(f"  - Or: {md(fix_text(alt))}.")
        note = note_text(f)
        if note:
            out.append(f"  - {md(note)}.")
    if len(findings) > MAX_FINDINGS:
        more = findings[MAX_FINDINGS:]
        out.append(f"- _{md(more_findings_text(len(more), sum(len(ms) for ms in more)))}._")
    out += ["", f"**VmPTE and physical memory**: {vmpte_text(e.vmpte)}", ""]
    return "\n".join(out)
