"""Sentences and figures every ``measure`` format shows, worded once."""

from __future__ import annotations

from ptcalc.linux.measure import MeasureResult
from ptcalc.units import format_kib

VERDICT_LABEL: dict[str, str] = {
    "agree": "model = kernel",
    "disagree": "model != kernel",
    "inconclusive": "inconclusive",
}

VERDICT_STYLE: dict[str, str] = {
    "agree": "bold green",
    "disagree": "bold red",
    "inconclusive": "bold yellow",
}


def header_line(r: MeasureResult) -> str:
    scaled = f"; scaled 1/{r.scale}" if r.scale != 1 else ""
    procs = r.workload.process_count
    return (f"kernel {r.kernel}; {procs:,} process{'es' if procs != 1 else ''}{scaled}; "
            f"model scheme {r.scheme} (what mainline Linux does)")


def calibration_line(r: MeasureResult) -> str:
    c = r.calibration
    levels = "PTE, PMD and PUD tables" if c.pud_counted else "PTE and PMD tables only (not PUD)"
    pgd = (f"and PGDs ({format_kib(c.pgd_bytes)} per new process)" if c.pgd_counted
           else "and no PGDs")
    return (f"calibration: one 4 KiB page in an empty 512 GiB window grew PageTables by "
            f"{c.pagetables_tables} tables and VmPTE by {format_kib(c.vmpte_bytes)}: "
            f"this kernel's PageTables counts {levels} {pgd}")


def tables_of(nbytes: int) -> str:
    return f"{nbytes // 4096:,} tables" if nbytes % 4096 == 0 else f"{nbytes:,} B"


def kernel_vmpte_text(values: list[tuple[int, int]], count: int) -> str:
    """``2,056 KiB (all 4)`` or ``12 KiB x 3, 16 KiB x 1``; ``-`` for a group of no processes."""
    if not values:
        return "-"
    if len(values) == 1:
        v, n = values[0]
        return f"{format_kib(v)}" + (f" (all {n:,})" if count > 1 else "")
    return ", ".join(f"{format_kib(v)} x {n:,}" for v, n in values)


def verdict_detail(r: MeasureResult) -> str:
    """What backs the verdict: all equal, the rows that differ, or why it is inconclusive."""
    if r.verdict == "agree":
        return "every compared figure is equal"
    if r.verdict == "disagree":
        return "; ".join(r.differences())
    return "; ".join(r.problems)
