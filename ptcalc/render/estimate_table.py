"""``estimate`` as rich tables: comparison, per process, verdicts."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ptcalc.render.console import Style, verdict_text
from ptcalc.render.facts import (SCHEME_BLURB, advice, assumptions, demand_lines, fit_sentence, host_line,
                                 more_groups_line, pagetables_line, private_vmpte, shown_groups)
from ptcalc.model.evaluate import Cell, Evaluation
from ptcalc.render.words import column_label, column_title, note_text, placement_notes, placement_text
from ptcalc.units import format_kib, format_size


def _cell_text(c: Cell | None, reason: str | None) -> Text:
    if c is None:
        return Text(reason or "n/a", style="dim")
    label, style = verdict_text(c.verdict)
    t = Text()
    t.append(format_size(c.result.physical_bytes))
    t.append("  ")
    t.append(label, style=style)
    note = note_text(c.note, c.layout.arch)
    if note:
        t.append("\n")
        t.append(note, style="dim")
    placed = placement_text(c)
    if placed:
        t.append("\n")
        t.append(placed, style="dim")
    return t


def comparison(report: Evaluation, style: Style) -> Table:
    t = Table(title=f"Page-table memory (physical) by scheme and page size; {style.star} = as configured",
              box=style.box, title_justify="left", show_lines=True)
    t.add_column("scheme", no_wrap=True)
    for col in report.columns:
        head = f"{style.star} {column_label(col)}" if col.configured else column_label(col)
        t.add_column(head, min_width=16)
    for scheme in report.schemes:
        row: list[Text] = [Text(scheme, style="bold")]
        for col in report.columns:
            row.append(_cell_text(report.cell(scheme, col.key), col.unavailable and f"n/a: {col.unavailable}"))
        t.add_row(*row)
    return t


def per_process(report: Evaluation, style: Style) -> Table:
    col = report.configured
    t = Table(title=f"Per process, as configured ({column_title(col)}): the tables it owns, and the VmPTE it shows",
              box=style.box, title_justify="left")
    t.add_column("group")
    t.add_column("processes", justify="right")
    for scheme in report.schemes:
        t.add_column(scheme, justify="right")
    cells = {c.scheme: c for c in report.configured_cells()}
    first = next(iter(cells.values()))
    shown, hidden, processes = shown_groups(report)
    if hidden:
        t.title = f"{t.title}; the {len(shown)} groups owning the most"
    tb = first.layout.arch.table_bytes(first.layout.pti)
    for gi in shown:
        g = first.result.groups[gi]
        row = [g.name, f"{g.count:,}"]
        for scheme in report.schemes:
            gr = cells[scheme].result.groups[gi]
            text = f"owns {format_size(gr.per_process_bytes)}\nVmPTE {format_kib(gr.vmpte_bytes)}"
            own = private_vmpte(gr, tb)
            if own is not None:
                text += f"\n  own maps {format_kib(own)}"
            row.append(text)
        t.add_row(*row)
    if hidden:
        t.caption = more_groups_line(hidden, processes)
        t.caption_justify = "left"
    return t


def verdicts(report: Evaluation, style: Style) -> Panel:
    cells = report.configured_cells()
    b0 = cells[0].budget
    t = Table(box=style.box, show_header=True)
    t.add_column("scheme", no_wrap=True)
    t.add_column("page tables", justify="right")
    t.add_column("VmPTE summed", justify="right")
    t.add_column("demand", justify="right")
    t.add_column("available", justify="right")
    t.add_column("verdict", no_wrap=True)
    t.add_column("max processes", justify="right")
    for c in cells:
        label, vstyle = verdict_text(c.verdict)
        b = c.budget
        avail = format_size(b.available_bytes) if b.available_bytes is not None else "n/a"
        mp = f"{c.max_processes:,}" if c.max_processes is not None else "n/a"
        t.add_row(c.scheme, format_size(c.result.physical_bytes), format_size(c.result.vmpte_total),
                  format_size(b.demand_bytes), avail, Text(label, style=vstyle), mp)
    fixed = Text()
    for label, n in demand_lines(b0, style.times):
        if label == "page tables":
            continue
        fixed.append(f"{label}: {format_size(n)}   ")
    parts: list[Text | Table] = [Text(fixed.plain.rstrip(), style="dim"), t]
    line = pagetables_line(report)
    if line:
        parts.append(Text(line, style="dim"))
    for c in cells[:1]:
        if c.verdict == "wont-start":
            parts.append(Text(fit_sentence(c.budget, c.verdict), style="bold magenta"))
    for line in advice(report):
        parts.append(Text(f"hugetlb pool: {line}"))
    return Panel(Group(*parts), title=f"Verdict, as configured ({column_title(report.configured)})",
                 title_align="left", box=style.box)


def render(report: Evaluation, console: Console, style: Style) -> None:
    w = report.workload
    console.print(Text(f"ptcalc estimate {style.dash} {w.title}", style="bold"),
                  Text(f"  ({w.source})", style="dim") if w.name else "")
    console.print(host_line(w))
    console.print()
    console.print(comparison(report, style))
    for line in placement_notes(report.columns):
        console.print(Text(line, style="dim"))
    console.print(per_process(report, style))
    console.print(verdicts(report, style))
    console.print(Text("Schemes:", style="bold"))
    for scheme in report.schemes:
        console.print(Text(f"  {scheme}: {SCHEME_BLURB[scheme]}", style="dim"))
    console.print(Text("Assumptions:", style="bold"))
    for i, a in enumerate(assumptions(report), 1):
        console.print(Text(f"  {i}. {a}", style="dim"))
