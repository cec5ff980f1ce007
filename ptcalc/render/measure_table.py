"""``measure`` as rich tables: tables per level, PageTables, VmPTE per group, verdict."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ptcalc.linux.measure import MeasureResult
from ptcalc.render.console import Style
from ptcalc.render.layout import Col, Grid, print_grid, print_text
from ptcalc.render.measure_facts import (PAGETABLES_UNTRUSTED, VERDICT_LABEL, VERDICT_STYLE, calibration_line,
                                         header_line, kernel_vmpte_text, repaired_lines, tables_of, verdict_detail)
from ptcalc.units import format_kib


def _mark(ok: bool, style: Style) -> Text:
    if ok:
        return Text("=" if style.ascii_only else "✓", style="green")
    return Text("DIFFERS", style="bold red")


def page_tables(r: MeasureResult, style: Style) -> Grid:
    t = Grid([Col("level"), Col("model tables", justify="right"), Col("in the PageTables delta", prose=True,
                                                                       min_width=16)],
             title=Text("Page tables (physical): the model per level, the kernel's PageTables delta", style="bold"))
    for row in r.levels:
        t.add(row.level, f"{row.model_tables:,}", Text(row.why, style="" if row.counted else "dim"))
    size = r.counted_table_bytes
    t.add(Text("model", style="bold"), f"{format_kib(r.model_pagetables_bytes)}",
          tables_of(r.model_pagetables_bytes, size), section=True)
    mark = (Text(PAGETABLES_UNTRUSTED, style="yellow") if r.noise else _mark(r.pagetables_agree, style))
    t.add(Text("kernel", style="bold"), f"{format_kib(r.kernel_pagetables_bytes)}",
          Text.assemble(tables_of(r.kernel_pagetables_bytes, size), "  ", mark))
    return t


def vmpte(r: MeasureResult, style: Style) -> Grid:
    t = Grid([Col("group", prose=True, min_width=12), Col("processes", justify="right"),
              Col("model", justify="right"), Col("kernel", justify="right", prose=True), Col("")],
             title=Text("VmPTE per process (growth)", style="bold"))
    for g in r.groups:
        t.add(g.name, f"{g.count:,}", format_kib(g.model_vmpte), kernel_vmpte_text(g.kernel_values(), g.count),
              _mark(g.agree, style))
    return t


def render(r: MeasureResult, console: Console, style: Style) -> None:
    heading = Text(f"ptcalc measure {style.dash} {r.title}", style="bold")
    heading.append(f"   ({r.source})", style="dim")
    print_text(console, heading)
    print_text(console, header_line(r))
    print_text(console, Text(calibration_line(r), style="dim"))
    console.print()
    print_grid(console, page_tables(r, style), style)
    print_grid(console, vmpte(r, style), style)
    print_text(console, Text.assemble((VERDICT_LABEL[r.verdict].upper(), VERDICT_STYLE[r.verdict]), "  ",
                                      verdict_detail(r)), hanging="  ")
    notes = [*repaired_lines(r.repaired), *r.notes]
    if notes:
        print_text(console, Text("Notes:", style="bold"))
        for n in notes:
            print_text(console, Text(f"  - {n}", style="dim"), hanging="    ")
