"""Sentences and figures every ``measure`` format shows, worded once."""

from __future__ import annotations

from collections.abc import Sequence

from ptcalc.linux.measure import MeasureResult
from ptcalc.linux.runstate import Repaired
from ptcalc.units import format_kib, format_size

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
    arch = r.workload.arch  # the running kernel's: measure refuses any other
    pud = arch.level("pud")
    window = format_size(pud.table_span if pud is not None else arch.pgd.entry_span)
    levels = "PTE, PMD and PUD tables" if c.pud_counted else "PTE and PMD tables only (not PUD)"
    pgd = (f"and PGDs ({format_kib(c.pgd_bytes)} per new process)" if c.pgd_counted
           else "and no PGDs")
    return (f"calibration: one {format_size(arch.base_page)} page in an empty {window} window grew PageTables by "
            f"{c.pagetables_tables} tables and VmPTE by {format_kib(c.vmpte_bytes)}: "
            f"this kernel's PageTables counts {levels} {pgd}")


def tables_of(nbytes: int, table_bytes: int | None) -> str:
    """``23,100 tables`` when ``nbytes`` is whole tables of ``table_bytes`` (the
    arch's, ``MeasureResult.counted_table_bytes``), else the bytes.

    >>> tables_of(94_617_600, 4096), tables_of(94_617_600, 16384), tables_of(6144, 4096), tables_of(4096, None)
    ('23,100 tables', '5,775 tables', '6,144 B', '4,096 B')
    """
    if table_bytes and nbytes % table_bytes == 0:
        return f"{nbytes // table_bytes:,} tables"
    return f"{nbytes:,} B"


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
    return "; ".join(r.reasons)


PAGETABLES_UNTRUSTED = "not trusted (other activity): not compared"
"""The mark of a PageTables growth that could not be trusted (``MeasureResult.noise``)."""


def repaired_lines(repaired: Sequence[Repaired]) -> list[str]:
    """What ``ptcalc.linux.runstate.repair`` put back, one line per thing."""
    out = []
    for rep in repaired:
        who = f"measure pid {rep.pid} (killed)"
        if rep.ended:
            out.append(f"{who}: ended {len(rep.ended):,} measuring process{'es' if len(rep.ended) != 1 else ''} "
                       "still running")
        for path, found, old in rep.restored:
            out.append(f"{who}: {path} was {found}, put back to {old}")
        for path, now, old in rep.left:
            out.append(f"{who}: {path} is {now}, changed since by someone else: left alone "
                       f"(it was {old} before that run)")
        for problem in rep.problems:
            out.append(f"{who}: {problem}; its state file is kept for another `ptcalc measure --repair`")
        if not (rep.ended or rep.restored or rep.left or rep.problems):
            out.append(f"{who}: nothing was left changed")
    return out
