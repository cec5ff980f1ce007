"""``explain`` as rich tables: per group and mapping, pools, totals, findings."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ptcalc.model.explain import Explanation, GroupExplain
from ptcalc.render.console import Style
from ptcalc.model.explain.alike import alike
from ptcalc.render.explain_words import (JSON_HINT, pool_users_text, MAX_FINDINGS, MAX_NAMES, alike_text, copies_text,
                                         finding_tables, fix_text, grouped, levels_of, mapping_label,
                                         more_findings_text, more_mappings_text, most, note_text, shown_mappings,
                                         pages, pool_label, private_rows,
                                         placement_lines, reason_text, sharing_text, split_text, va_range, vmpte_text,
                                         where_all)
from ptcalc.render.facts import MAX_GROUP_ROWS, SCHEME_BLURB, host_line, more_groups_line
from ptcalc.render.layout import Col, Grid, print_grid, print_text
from ptcalc.render.words import count_of, explain_column_label
from ptcalc.units import format_count, format_kib, format_size


MAX_POOL_ROWS = MAX_GROUP_ROWS
"""Most pools the pools table lists: those with the most tables (JSON lists all)."""


def _n(x: int) -> str:
    return format_count(x) if x else "-"


def group_table(e: Explanation, g: GroupExplain, style: Style) -> Grid:
    levels = levels_of(e)
    below = tuple(n for n in levels if n != "pgd")
    t = Grid([Col("mapping", prose=True, min_width=14), Col("virtual addresses", prose=True), Col("pages")],
             title=Text(f"{g.name}: {count_of(g.count, 'process', 'processes')}; each owns "
                        f"{format_size(g.per_process_bytes)}, VmPTE {format_kib(g.vmpte_bytes)}", style="bold"),
             show_lines=True)
    for n in below:
        t.cols.append(Col(f"own {n.upper()}", justify="right"))
    t.cols.append(Col("shared tables it uses (per process)", prose=True, min_width=12))
    shown = shown_mappings(e, g)
    for i in shown:
        me = g.mappings[i]
        shared = "\n".join(sharing_text(e, s, g.count) for s in me.sharing) or "-"
        t.add(mapping_label(me), va_range(me, " - "), pages(me), *[_n(me.own[n]) for n in below], shared)
    hidden = len(g.mappings) - len(shown)
    if hidden:
        rest = set(range(len(g.mappings))) - set(shown)
        owns = g.mappings.own()
        t.add(Text(f"... and {hidden:,} more mappings", style="italic"), "", "",
              *[_n(sum(owns[i][n] for i in rest)) for n in below], JSON_HINT)
    base = e.workload.arch.base_page
    for row in private_rows(g, base, " - "):
        t.add(row.label, row.va_range, row.pages, *[_n(row.own[n]) for n in below], row.note)
    if any(g.between_mappings[n] for n in below):
        t.add(Text("tables used by several of its mappings", style="italic"), "", "",
              *[_n(g.between_mappings[n]) for n in below], "counted once")
    links = ", ".join(f"{v:,} {k.upper()}" for k, v in g.attached.items() if v) or "no"
    t.add(Text("owned per process (= model)", style="bold"), "", "", *[_n(g.own[n]) for n in below],
          f"+ 1 PGD; links {links} shared tables (in VmPTE)")
    return t


def pools_table(e: Explanation, style: Style) -> Grid:
    levels = levels_of(e)
    t = Grid([Col("pool", prose=True, min_width=16)], title=Text("Shared tables, counted once (pools)", style="bold"))
    for n in levels:
        t.cols.append(Col(n.upper(), justify="right"))
    t.cols += [Col("with 2+ sharers", justify="right"), Col("used by", prose=True, min_width=16)]
    shown = most([sum(p.tables.values()) for p in e.pools], MAX_POOL_ROWS)
    for i in shown:
        p = e.pools[i]
        t.add(pool_label(p), *[_n(p.tables[n]) for n in levels], _n(sum(p.shared.values())), pool_users_text(e, p))
    if len(shown) < len(e.pools):
        rest = [p for i, p in enumerate(e.pools) if i not in set(shown)]
        t.add(Text(f"... and {len(rest):,} more pools", style="italic"),
              *[_n(sum(p.tables[n] for p in rest)) for n in levels], _n(sum(sum(p.shared.values()) for p in rest)),
              JSON_HINT)
    return t


def totals_table(e: Explanation, style: Style) -> Grid:
    levels = levels_of(e)
    t = Grid([Col("", prose=True, min_width=12)],
             title=Text("Physical tables per level: processes' own + pools = the model's count", style="bold"))
    for n in levels:
        t.cols.append(Col(n.upper(), justify="right"))
    t.cols.append(Col("bytes", justify="right"))
    tb = e.table_bytes

    def b(d: dict[str, int]) -> str:
        return format_size(sum(d[n] * tb[n] for n in levels))

    t.add(f"processes' own (sum of count {style.times} own)", *[_n(e.totals.own[n]) for n in levels],
          b(e.totals.own))
    t.add("pools (shared, once)", *[_n(e.totals.pools[n]) for n in levels], b(e.totals.pools))
    t.add(Text("total", style="bold"), *[_n(e.totals.total[n]) for n in levels], b(e.totals.total))
    return t


def render(e: Explanation, console: Console, style: Style) -> None:
    w = e.workload
    print_text(console, Text(f"ptcalc explain {style.dash} {w.title} {style.dash} scheme {e.scheme}, "
                             f"{explain_column_label(e.column)}", style="bold"))
    print_text(console, f"{e.scheme}: {SCHEME_BLURB[e.scheme]}", style="dim")
    print_text(console, host_line(w))
    for line in placement_lines(e):
        console.print()
        print_text(console, line)
    a = alike(e)
    weight = [sum(e.groups[i].count * e.groups[i].per_process_bytes for i in members) for members in a.classes]
    shown = most(weight, MAX_GROUP_ROWS)
    for members in (a.classes[i] for i in shown):
        g = e.groups[members[0]]
        console.print()
        print_grid(console, group_table(e, g, style), style)
        split = split_text(g)
        if split:
            print_text(console, f"  {split}.", hanging="  ", style="dim")
        if len(members) > 1:
            print_text(console, f"  {alike_text([e.groups[i].name for i in members[1:]])}.", hanging="  ")
    if len(shown) < len(a.classes):
        rest = [m for i, c in enumerate(a.classes) if i not in set(shown) for m in c]
        console.print()
        print_text(console, more_groups_line(len(rest), sum(e.groups[i].count for i in rest)), style="dim")
    if e.pools:
        console.print()
        print_grid(console, pools_table(e, style), style)
    console.print()
    print_grid(console, totals_table(e, style), style)
    console.print()
    print_text(console, Text("Why tables are not shared, and the smallest change that would share them", style="bold"))
    if not e.findings:
        print_text(console, "  Every touched page's shareable tables are shared.")
    findings = grouped(e, a)
    for i, fs in enumerate(findings[:MAX_FINDINGS], 1):
        f = e.findings[fs[0]]
        t = Text(f"{i:>3}. ")
        t.append(where_all(e, fs, MAX_NAMES), style="bold")
        t.append(f" [{f.rule}, {f.level}]: {finding_tables(f)}: {reason_text(e, f)}.")
        print_text(console, t, hanging="     ")
        copies = copies_text(e, fs)
        if copies:
            print_text(console, Text(f"     ({copies}.)", style="dim"), hanging="     ")
        if f.fix is not None:
            print_text(console, Text(f"     Fix: {fix_text(f.fix)}.", style="green"), hanging="          ")
            for alt in f.alternatives:
                print_text(console, Text(f"     Or:  {fix_text(alt)}.", style="dim"), hanging="          ")
        note = note_text(f)
        if note:
            print_text(console, Text(f"     {note}.", style="dim"), hanging="     ")
    if len(findings) > MAX_FINDINGS:
        unlisted = findings[MAX_FINDINGS:]
        about = sum(len(ms) for ms in unlisted)
        print_text(console, Text(f"     {more_findings_text(len(unlisted), about)}.", style="dim"), hanging="     ")
    console.print()
    print_text(console, Text("VmPTE and physical memory", style="bold"))
    print_text(console, f"  {vmpte_text(e.vmpte)}", hanging="  ")
