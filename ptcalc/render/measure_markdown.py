"""``measure --format markdown``: pastes cleanly into a ticket."""

from __future__ import annotations

from ptcalc.linux.measure import MeasureResult
from ptcalc.names import markdown as md
from ptcalc.render.estimate_markdown import md_table
from ptcalc.render.measure_facts import (PAGETABLES_UNTRUSTED, VERDICT_LABEL, calibration_line, header_line,
                                         kernel_vmpte_text, repaired_lines, tables_of, verdict_detail)
from ptcalc.units import format_kib


def _mark(ok: bool) -> str:
    return "=" if ok else "**differs**"


def render(r: MeasureResult) -> str:
    lines = [f"### ptcalc measure: {md(r.title)}", "", f"{md(r.source)}: {header_line(r)}", "",
             calibration_line(r) + ".", ""]
    rows = [[f"`{row.level}`", f"{row.model_tables:,}", row.why] for row in r.levels]
    lines += ["Page tables (physical), per level:", ""]
    lines += md_table(["level", "model tables", "in the PageTables delta"], rows, ["l", "r", "l"]) + [""]
    size = r.counted_table_bytes
    lines += md_table(
        ["", "model", "kernel", ""],
        [["PageTables delta", f"{format_kib(r.model_pagetables_bytes)} ({tables_of(r.model_pagetables_bytes, size)})",
          f"{format_kib(r.kernel_pagetables_bytes)} ({tables_of(r.kernel_pagetables_bytes, size)})",
          PAGETABLES_UNTRUSTED if r.noise else _mark(r.pagetables_agree)]],
        ["l", "r", "r", "l"]) + [""]
    lines += ["VmPTE per process (growth while mapping the workload):", ""]
    rows = [[md(g.name), f"{g.count:,}", format_kib(g.model_vmpte), kernel_vmpte_text(g.kernel_values(), g.count),
             _mark(g.agree)] for g in r.groups]
    lines += md_table(["group", "processes", "model", "kernel", ""], rows, ["l", "r", "r", "r", "l"]) + [""]
    lines += [f"**{VERDICT_LABEL[r.verdict]}**: {verdict_detail(r)}", ""]
    notes = [*repaired_lines(r.repaired), *r.notes]
    if notes:
        lines += [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)
