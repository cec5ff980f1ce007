"""``estimate`` on a file of several workloads (YAML documents, a host each):
a summary of every host, then each host's report as a file of one gives it.

The summary has a row per host: its configured column, and per scheme the
physical page tables and the verdict (the figures of that host's own report).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ptcalc.render import estimate_markdown, estimate_table
from ptcalc.render.console import Style, verdict_text
from ptcalc.render.layout import Col, Grid, print_grid, print_text
from ptcalc.model.evaluate import Evaluation, Hosts
from ptcalc.names import markdown as md
from ptcalc.render.words import column_title
from ptcalc.units import format_size


def host_title(report: Evaluation) -> str:
    """A host's name in headings: its workload's ``name``, else ``FILE#N`` (document N)."""
    return report.workload.title


def _memory(report: Evaluation) -> str:
    memory = report.workload.host.memory
    return format_size(memory) if memory is not None else "not given"


def render_table(hosts: Hosts, console: Console, style: Style) -> None:
    reports, source = hosts.evaluations, hosts.source
    n = len(reports)
    print_text(console, Text(f"ptcalc estimate {style.dash} {source}: {n} hosts (YAML documents)", style="bold"))
    schemes = reports[0].schemes

    def summary(between: str) -> Grid:
        """A row per host; ``between`` a figure and its verdict: a blank, or a line break (narrower)."""
        g = Grid([Col("host"), Col("memory", justify="right"),
                  Col("processes", justify="right"), Col("pages", prose=True, min_width=12)],
                 title="Every host, as configured: physical page-table memory and verdict")
        for scheme in schemes:
            g.cols.append(Col(scheme))
        for r in reports:
            cells = {c.scheme: c for c in r.configured_cells()}
            row: list[str | Text] = [Text(host_title(r), style="bold"), _memory(r), f"{r.workload.process_count:,}",
                                     column_title(r.configured)]
            for scheme in schemes:
                c = cells[scheme]
                label, vstyle = verdict_text(c.verdict)
                row.append(Text.assemble(format_size(c.result.physical_bytes), between, (label, vstyle)))
            g.add(*row)
        return g

    stacked = summary("\n")
    stacked.title = None
    print_grid(console, summary("  "), style, stacked)
    for i, r in enumerate(reports, 1):
        console.print()
        console.rule(characters="-" if style.ascii_only else "─")
        print_text(console, Text(f"host {i} of {n}: {host_title(r)}", style="bold"))
        estimate_table.render(r, console, style)


def render_markdown(hosts: Hosts) -> str:
    reports, source = hosts.evaluations, hosts.source
    n = len(reports)
    schemes = reports[0].schemes
    lines = [f"## ptcalc estimate: `{source}`, {n} hosts", "",
             "Every host, as configured: physical page-table memory and verdict:", ""]
    rows = []
    for i, r in enumerate(reports, 1):
        cells = {c.scheme: c for c in r.configured_cells()}
        rows.append([str(i), md(host_title(r)), _memory(r), f"{r.workload.process_count:,}", column_title(r.configured)]
                    + [f"{format_size(cells[s].result.physical_bytes)} **{(cells[s].verdict or 'n/a').upper()}**"
                       for s in schemes])
    lines += estimate_markdown.md_table(["#", "host", "memory", "processes", "pages"] + [f"`{s}`" for s in schemes],
                                        rows, ["r", "l", "r", "r", "l"] + ["l"] * len(schemes)) + [""]
    for i, r in enumerate(reports, 1):
        lines.append(estimate_markdown.render(r, heading=f"Host {i} of {n}: {md(host_title(r))}"))
    return "\n".join(lines)
