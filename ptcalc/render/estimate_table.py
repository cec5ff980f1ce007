"""``estimate`` as rich tables: comparison, per process, verdicts.

Laid out by :mod:`ptcalc.render.layout`: at any width every figure and
verdict stays whole (a table when the columns fit, else a block per row)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ptcalc.model.evaluate import Cell, Evaluation
from ptcalc.render.console import Style, verdict_text
from ptcalc.render.facts import (SCHEME_BLURB, advice, assumptions, demand_lines, fit_sentence, host_line,
                                 more_groups_line, pagetables_line, private_vmpte, shown_groups)
from ptcalc.render.layout import Col, Grid, print_grid, print_text
from ptcalc.render.words import column_label, column_title, count_of, note_text, placement_notes, placement_text
from ptcalc.units import format_kib, format_size


def _figure(c: Cell) -> Text:
    """``880.6 GiB  OOM``: the physical page tables and the verdict."""
    label, style = verdict_text(c.verdict)
    return Text.assemble(format_size(c.result.physical_bytes), "  ", (label, style))


def comparison(report: Evaluation, style: Style) -> Grid:
    """A row per scheme, a column per page size: figure and verdict, and the
    note (why the scheme shares nothing) under them."""
    g = Grid([Col("scheme")], title=f"Page-table memory (physical) by scheme and page size; "
                                    f"{style.star} = as configured", show_lines=True)
    for col in report.columns:
        head = f"{style.star} {column_label(col)}" if col.configured else column_label(col)
        g.cols.append(Col(head, prose=True, min_width=16, keep=1))
    arch = report.workload.arch
    for scheme in report.schemes:
        row: list[str | Text] = [Text(scheme, style="bold")]
        for col in report.columns:
            c = report.cell(scheme, col.key)
            if c is None:
                row.append(Text(f"n/a: {col.unavailable}" if col.unavailable else "n/a", style="dim"))
                continue
            t = _figure(c)
            for extra in (note_text(c.note, arch), placement_text(c)):
                if extra:
                    t.append("\n")
                    t.append(extra, style="dim")
            row.append(t)
        g.add(*row)
    return g


def per_process(report: Evaluation, style: Style) -> Grid:
    col = report.configured
    g = Grid([Col("group", prose=True, min_width=12, keep=2)],
             title=f"Per process, as configured ({column_title(col)}): the tables it owns, and the VmPTE it shows")
    for scheme in report.schemes:
        g.cols.append(Col(scheme, justify="right"))
    cells = {c.scheme: c for c in report.configured_cells()}
    first = next(iter(cells.values()))
    shown, hidden, processes = shown_groups(report)
    if hidden:
        g.title = f"{g.title}; the {len(shown)} groups owning the most"
    tb = first.table_bytes
    for gi in shown:
        grp = first.result.groups[gi]
        row: list[str | Text] = [Text.assemble((grp.name, "bold"), "\n", count_of(grp.count, "process", "processes"))]
        for scheme in report.schemes:
            gr = cells[scheme].result.groups[gi]
            text = f"owns {format_size(gr.per_process_bytes)}\nVmPTE {format_kib(gr.vmpte_bytes)}"
            own = private_vmpte(gr, tb)
            if own is not None:
                text += f"\nof which its own mappings {format_kib(own)}"
            row.append(text)
        g.add(*row)
    if hidden:
        g.caption = more_groups_line(hidden, processes)
    return g


def verdicts(report: Evaluation, style: Style) -> Grid:
    g = Grid([Col("scheme"), Col("page tables", justify="right"), Col("VmPTE summed", justify="right"),
              Col("demand", justify="right"), Col("verdict"),
              Col("max processes", justify="right")])
    for c in report.configured_cells():
        label, vstyle = verdict_text(c.verdict)
        b = c.budget
        mp = f"{c.max_processes:,}" if c.max_processes is not None else "n/a"
        g.add(Text(c.scheme, style="bold"), format_size(c.result.physical_bytes), format_size(c.result.vmpte_total),
              format_size(b.demand_bytes), Text(label, style=vstyle), mp)
    return g


def render(report: Evaluation, console: Console, style: Style) -> None:
    w = report.workload
    heading = Text(f"ptcalc estimate {style.dash} {w.title}", style="bold")
    if w.name:
        heading.append(f"   ({w.source})", style="dim")
    print_text(console, heading)
    print_text(console, host_line(w))
    console.print()
    print_grid(console, comparison(report, style), style)
    for line in placement_notes(report):
        print_text(console, line, style="dim")
    console.print()
    print_grid(console, per_process(report, style), style)
    console.print()
    cells = report.configured_cells()
    print_text(console, Text(f"Verdict, as configured ({column_title(report.configured)})", style="bold"))
    b = cells[0].budget
    fixed = "; ".join(f"{label} {format_size(n)}" for label, n in demand_lines(b, style.times) if label != "page tables")
    avail = (f"available memory {format_size(b.available_bytes)}" if b.available_bytes is not None
             else "no host memory given: no verdicts")
    print_text(console, f"{avail}. Demand: page tables, and {fixed}.", style="dim")
    print_grid(console, verdicts(report, style), style)
    counted = pagetables_line(report)
    if counted:
        print_text(console, counted, style="dim")
    if cells[0].verdict == "wont-start":
        print_text(console, Text(fit_sentence(cells[0].budget, cells[0].verdict), style="bold magenta"))
    for line in advice(report):
        print_text(console, f"hugetlb pool: {line}", hanging="  ")
    console.print()
    print_text(console, Text("Schemes:", style="bold"))
    for scheme in report.schemes:
        print_text(console, f"  {scheme}: {SCHEME_BLURB[scheme]}", hanging="    ", style="dim")
    print_text(console, Text("Assumptions:", style="bold"))
    for i, a in enumerate(assumptions(report), 1):
        print_text(console, f"  {i}. {a}", hanging="     ", style="dim")
