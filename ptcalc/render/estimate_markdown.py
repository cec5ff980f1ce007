"""``estimate --format markdown``: pastes cleanly into a ticket (GitHub/GitLab/Jira markdown)."""

from __future__ import annotations

import re

from ptcalc.names import markdown as md
from ptcalc.render.facts import (SCHEME_BLURB, advice, assumptions, demand_lines, fit_sentence, host_line,
                                 more_groups_line, pagetables_line, private_vmpte, shown_groups)
from ptcalc.model.evaluate import Cell, Evaluation
from ptcalc.render.words import column_label, column_title, note_text, placement_notes, placement_text
from ptcalc.units import format_kib, format_size


_PIPE = re.compile(r"(?<!\\)\|")


def md_escape(s: str) -> str:
    """Keep table cells intact: pipes would split them (a name's, escaped by
    :func:`ptcalc.names.markdown`, already are)."""
    return _PIPE.sub(r"\\|", s)


def md_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    """A GitHub-flavoured markdown table."""
    align = align or ["l"] * len(header)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(md_escape(h) for h in header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows]
    return out


def render(report: Evaluation, heading: str | None = None) -> str:
    """The report; ``heading`` replaces its first line's text (a host of several)."""
    w = report.workload
    lines = [f"### {heading or f'ptcalc estimate: {md(w.title)}'}", "", f"{md(w.source)}: {host_line(w)}", ""]
    header = ["scheme"] + [f"**{column_label(c)}** (configured)" if c.configured else column_label(c)
                          for c in report.columns]
    rows = []
    for scheme in report.schemes:
        row = [f"`{scheme}`"]
        for col in report.columns:
            c = report.cell(scheme, col.key)
            if c is None:
                row.append(f"n/a: {col.unavailable}")
                continue
            text = f"{format_size(c.result.physical_bytes)} **{(c.verdict or 'n/a').upper()}**"
            note = note_text(c.note, report.workload.arch)
            if note:
                text += f"<br>_{note}_"
            placed = placement_text(c)
            if placed:
                text += f"<br>_{placed}_"
            row.append(text)
        rows.append(row)
    lines += ["Physical page-table memory and verdict:", ""] + md_table(header, rows) + [""]
    notes = placement_notes(report)
    if notes:
        lines += [f"_{n}_" for n in notes] + [""]

    cells = report.configured_cells()
    lines += [f"Per process, as configured ({column_title(report.configured)}): tables it owns / VmPTE it shows:", ""]
    header = ["group", "processes"] + [f"`{c.scheme}`" for c in cells]
    rows = []
    shown, hidden, processes = shown_groups(report)
    tb = report.workload.arch.table_bytes(report.workload.host.pti)

    def shown_cell(c: Cell, gi: int) -> str:
        gr = c.result.groups[gi]
        text = f"{format_kib(gr.per_process_bytes)} / {format_kib(gr.vmpte_bytes)}"
        own = private_vmpte(gr, tb)
        return text if own is None else f"{text} (own mappings {format_kib(own)})"

    for gi in shown:
        g = cells[0].result.groups[gi]
        rows.append([md(g.name), f"{g.count:,}"] + [shown_cell(c, gi) for c in cells])
    lines += md_table(header, rows, ["l", "r"] + ["r"] * len(cells)) + [""]
    if hidden:
        lines += [more_groups_line(hidden, processes), ""]

    lines += [f"Verdict, as configured ({column_title(report.configured)}):", ""]
    rows = []
    for c in cells:
        b = c.budget
        rows.append([f"`{c.scheme}`", format_size(c.result.physical_bytes), format_size(c.result.vmpte_total),
                     format_size(b.demand_bytes),
                     format_size(b.available_bytes) if b.available_bytes is not None else "n/a",
                     f"**{(c.verdict or 'n/a').upper()}**",
                     f"{c.max_processes:,}" if c.max_processes is not None else "n/a"])
    lines += md_table(["scheme", "page tables", "VmPTE summed", "demand", "available", "verdict", "max processes"],
                      rows, ["l", "r", "r", "r", "r", "l", "r"]) + [""]
    short = [fit_sentence(c.budget, c.verdict) for c in cells if c.verdict == "wont-start"]
    lines += [f"- {s}" for s in short[:1]]
    fixed = ", ".join(f"{label} {format_size(n)}" for label, n in demand_lines(cells[0].budget)
                      if label != "page tables")
    lines += [f"Besides page tables the demand holds: {fixed}.", ""]
    line = pagetables_line(report)
    if line:
        lines += [line, ""]
    for line in advice(report):
        lines.append(f"- hugetlb pool: {line}")
    lines += ["", "<details><summary>Schemes and assumptions</summary>", ""]
    lines += [f"- `{s}`: {SCHEME_BLURB[s]}" for s in report.schemes]
    lines += [f"- {a}" for a in assumptions(report)]
    lines += ["", "</details>", ""]
    return "\n".join(lines)
