"""``explain`` as rich tables: per group and mapping, pools, totals, findings."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ptcalc.model.explain import Explanation, GroupExplain
from ptcalc.render.console import Style
from ptcalc.render.explain_words import (finding_tables, fix_text, grouped, levels_of, mapping_label, note_text,
                                         pages, pool_label, private_label, private_pages, private_va_range,
                                         placement_lines, reason_text, sharing_text, split_text, va_range, vmpte_text,
                                         where_all)
from ptcalc.render.facts import SCHEME_BLURB, host_line
from ptcalc.render.words import explain_column_label
from ptcalc.units import format_count, format_kib, format_size


def _n(x: int) -> str:
    return format_count(x) if x else "-"


def group_table(e: Explanation, g: GroupExplain, style: Style) -> Table:
    levels = levels_of(e)
    below = tuple(n for n in levels if n != "pgd")
    t = Table(title=f"{g.name}: {g.count:,} process{'es' if g.count != 1 else ''}; each owns "
                    f"{format_size(g.per_process_bytes)}, VmPTE {format_kib(g.vmpte_bytes)}",
              box=style.box, title_justify="left", show_lines=True)
    t.add_column("mapping")
    t.add_column("virtual addresses", no_wrap=True)
    t.add_column("pages", no_wrap=True)
    for n in below:
        t.add_column(f"own {n.upper()}", justify="right")
    t.add_column("shared tables it uses (per process)")
    for me in g.mappings:
        shared = "\n".join(sharing_text(e, s, g.count) for s in me.sharing) or "-"
        t.add_row(mapping_label(me), va_range(me), pages(me), *[_n(me.own[n]) for n in below], shared)
    base = e.workload.arch.base_page
    for pe in g.private_mappings:
        t.add_row(private_label(pe), private_va_range(pe), private_pages(pe, base), *[_n(pe.own[n]) for n in below],
                  "- (MAP_PRIVATE: its own)")
    if any(g.between_mappings[n] for n in below):
        t.add_row(Text("tables used by several of its mappings", style="italic"), "", "",
                  *[_n(g.between_mappings[n]) for n in below], "counted once")
    t.add_row(Text("PGD (one per process)", style="italic"), "", "", *["" for _ in below], "")
    t.add_row(Text("owned per process (= model)", style="bold"), "", "", *[_n(g.own[n]) for n in below],
              f"+ 1 PGD; links {', '.join(f'{v:,} {k.upper()}' for k, v in g.attached.items() if v) or 'no'} "
              "shared tables (in VmPTE)")
    return t


def pools_table(e: Explanation, style: Style) -> Table:
    levels = levels_of(e)
    t = Table(title="Shared tables, counted once (pools)", box=style.box, title_justify="left")
    t.add_column("pool")
    for n in levels:
        t.add_column(n.upper(), justify="right")
    t.add_column("with 2+ sharers", justify="right")
    t.add_column("used by")
    for p in e.pools:
        users = ", ".join(f"{e.groups[g].name} #{mi} ({n:,})" for g, mi, n in p.users)
        t.add_row(pool_label(p), *[_n(p.tables[n]) for n in levels], _n(sum(p.shared.values())), users)
    return t


def totals_table(e: Explanation, style: Style) -> Table:
    levels = levels_of(e)
    t = Table(title="Physical tables per level: processes' own + pools = the model's count", box=style.box,
              title_justify="left")
    t.add_column("")
    for n in levels:
        t.add_column(n.upper(), justify="right")
    t.add_column("bytes", justify="right")
    tb = e.table_bytes

    def b(d: dict[str, int]) -> str:
        return format_size(sum(d[n] * tb[n] for n in levels))

    t.add_row(f"processes' own (sum of count {style.times} own)", *[_n(e.totals.own[n]) for n in levels],
              b(e.totals.own))
    t.add_row("pools (shared, once)", *[_n(e.totals.pools[n]) for n in levels], b(e.totals.pools))
    t.add_row(Text("total", style="bold"), *[_n(e.totals.total[n]) for n in levels], b(e.totals.total))
    return t


def render(e: Explanation, console: Console, style: Style) -> None:
    w = e.workload
    console.print(Text(f"ptcalc explain {style.dash} {w.title} {style.dash} scheme {e.scheme}, {explain_column_label(e.column)}",
                       style="bold"))
    console.print(Text(f"{e.scheme}: {SCHEME_BLURB[e.scheme]}", style="dim"))
    console.print(host_line(w))
    console.print()
    for line in placement_lines(e):
        console.print(Text(line))
    for g in e.groups:
        console.print(group_table(e, g, style))
        split = split_text(g)
        if split:
            console.print(Text(f"  {split}.", style="dim"))
    if e.pools:
        console.print(pools_table(e, style))
    console.print(totals_table(e, style))
    console.print()
    console.print(Text("Why tables are not shared, and the smallest change that would share them", style="bold"))
    if not e.findings:
        console.print("  Every touched page's shareable tables are shared.")
    for i, (fs, f) in enumerate(grouped(e), 1):
        t = Text(f"{i:>3}. ")
        t.append(where_all(e, fs), style="bold")
        t.append(f" [{f.rule}, {f.level}]: {finding_tables(f)}: {reason_text(e, f)}.")
        console.print(t)
        if f.fix is not None:
            console.print(Text(f"     Fix: {fix_text(f.fix)}.", style="green"))
            for a in f.alternatives:
                console.print(Text(f"     Or:  {fix_text(a)}.", style="dim"))
        note = note_text(f)
        if note:
            console.print(Text(f"     {note}.", style="dim"))
    console.print()
    console.print(Text("VmPTE and physical memory", style="bold"))
    console.print(f"  {vmpte_text(e.vmpte)}")
