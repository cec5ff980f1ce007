"""``measure`` as rich tables: tables per level, PageTables, VmPTE per group, verdict."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ptcalc.linux.measure import MeasureResult
from ptcalc.render.console import Style
from ptcalc.render.measure_facts import (PAGETABLES_UNTRUSTED, VERDICT_LABEL, VERDICT_STYLE, calibration_line,
                                         header_line, kernel_vmpte_text, repaired_lines, tables_of, verdict_detail)
from ptcalc.units import format_kib


def _mark(ok: bool, style: Style) -> Text:
    if ok:
        return Text("=" if style.ascii_only else "✓", style="green")
    return Text("DIFFERS", style="bold red")


def page_tables(r: MeasureResult, style: Style) -> Table:
    t = Table(title="Page tables (physical): the model per level, the kernel's PageTables delta",
              box=style.box, title_justify="left")
    t.add_column("level")
    t.add_column("model tables", justify="right")
    t.add_column("in the PageTables delta")
    for row in r.levels:
        t.add_row(row.level, f"{row.model_tables:,}", Text(row.why, style="" if row.counted else "dim"))
    t.add_section()
    size = r.counted_table_bytes
    t.add_row(Text("model", style="bold"), f"{format_kib(r.model_pagetables_bytes)}",
              tables_of(r.model_pagetables_bytes, size))
    mark = (Text(PAGETABLES_UNTRUSTED, style="yellow") if r.noise else _mark(r.pagetables_agree, style))
    t.add_row(Text("kernel", style="bold"), f"{format_kib(r.kernel_pagetables_bytes)}",
              Text.assemble(tables_of(r.kernel_pagetables_bytes, size), "  ", mark))
    return t


def vmpte(r: MeasureResult, style: Style) -> Table:
    t = Table(title="VmPTE per process (growth)", box=style.box, title_justify="left")
    t.add_column("group")
    t.add_column("processes", justify="right")
    t.add_column("model", justify="right")
    t.add_column("kernel", justify="right")
    t.add_column("")
    for g in r.groups:
        t.add_row(g.name, f"{g.count:,}", format_kib(g.model_vmpte),
                  kernel_vmpte_text(g.kernel_values(), g.count), _mark(g.agree, style))
    return t


def render(r: MeasureResult, console: Console, style: Style) -> None:
    console.print(Text(f"ptcalc measure {style.dash} {r.title}", style="bold"), Text(f"  ({r.source})", style="dim"))
    console.print(header_line(r))
    console.print(Text(calibration_line(r), style="dim"))
    console.print()
    console.print(page_tables(r, style))
    console.print(vmpte(r, style))
    console.print(Text.assemble((VERDICT_LABEL[r.verdict].upper(), VERDICT_STYLE[r.verdict]), "  ",
                                verdict_detail(r)))
    notes = [*repaired_lines(r.repaired), *r.notes]
    if notes:
        console.print(Text("Notes:", style="bold"))
        for n in notes:
            console.print(Text(f"  - {n}", style="dim"))
