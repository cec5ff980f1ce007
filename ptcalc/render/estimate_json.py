"""``estimate --format json``: every number exact, in bytes.

Schema version 2 (2 adds whole processes: per group the tables of its
private mappings and the VmPTE split, per cell the PageTables view, the
host's kernel).  The fields named in the README are a contract; fields may
be added, never renamed or removed without a new ``schema_version``.  A file
of several YAML documents (hosts) gives ``{"schema_version": 2, "source":
FILE, "hosts": [...]}``, one object per document as a file of one gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ptcalc.model.budget import Budget
from ptcalc.model.geometry import LEVEL_NAMES
from ptcalc.render.jsontext import Lines, Raw, dumps, lines_pieces, lines_text, records
from ptcalc.render.facts import about, assumptions, host_facts, options_facts
from ptcalc.render.words import column_label, note_text
from ptcalc.model.evaluate import Cell, Evaluation, Hosts
from ptcalc.model.whatif import Column, ReplacedRows
from ptcalc.model.results import SchemeResult

SCHEMA_VERSION = 2


def _pages(d: dict[int, int] | None) -> dict[str, int] | None:
    return None if d is None else {str(ps): n for ps, n in sorted(d.items())}


def page_tables_json(r: SchemeResult, table_bytes: dict[str, int], pagetables_bytes: int | None = None
                     ) -> dict[str, Any]:
    """The ``page_tables`` object of a cell (also used by other commands);
    its groups from ``r.groups``' columns (no GroupResult object per group)."""
    gr = r.groups
    return {
        "physical_bytes": r.physical_bytes,
        "pagetables_bytes": pagetables_bytes,
        "shared_bytes": r.shared_bytes,
        "tables": dict(r.tables),
        "shared_tables": dict(r.shared_tables),
        "vmpte_total_bytes": r.vmpte_total,
        "mshare_regions": r.mshare_regions,
        "groups": Lines([
            {
                "name": name,
                "count": count,
                "per_process_bytes": per_process,
                "vmpte_bytes": vmpte,
                "own_tables": dict(zip(LEVEL_NAMES, own)),
                "attached_tables": dict(zip(LEVEL_NAMES, attached)),
                "private_tables": dict(zip(LEVEL_NAMES, private)),
                "mixed_tables": dict(zip(LEVEL_NAMES, mixed)),
                "vmpte_parts": {"segments_bytes": p.segments, "private_bytes": p.private, "mixed_bytes": p.mixed,
                                "dominant": p.dominant},
            }
            for name, count, per_process, vmpte, own, attached, private, mixed, p in zip(
                gr.names, gr.counts, gr.per_process_bytes, gr.vmpte_bytes, zip(*gr.own), zip(*gr.attached),
                zip(*gr.private), zip(*gr.mixed), gr.vmpte_parts(table_bytes))
        ]),
    }


def memory_json(b: Budget) -> dict[str, Any]:
    return {
        "demand_bytes": b.demand_bytes,
        "available_bytes": b.available_bytes,
        "free_bytes": b.free_bytes,
        "headroom_percent": b.headroom_percent,
        "breakdown": {
            "shmem_bytes": b.shmem_bytes,
            "hugetlb_pool_bytes": b.hugetlb_bytes,
            "page_table_bytes": b.page_table_bytes,
            "private_memory_bytes": b.private_bytes,
            "process_overhead_bytes": b.overhead_bytes,
        },
        "page_cache_bytes": b.page_cache_bytes,
        "hugetlb_pages_required": _pages(b.pools.required),
        "hugetlb_pages_configured": _pages(b.pools.configured),
        "hugetlb_pages_short": _pages(b.pools.short) or None,
    }


_REPLACED = ('{"group": %d, "mapping": %d, "old_address": %d, "address": %d, "aligned_address": %d, '
             '"reason": "%s"}')
"""A re-placed mapping as :func:`records` encodes it (integers and a fixed word)."""


def replaced_json(column: Column, level: int = 3) -> Raw:
    """A column's re-placed mappings (the same in each of its cells), encoded
    once; from the columns of a :class:`ReplacedRows` directly (tens of
    thousands on a large host), without an object or a dict per mapping."""
    rows = column.replaced
    if isinstance(rows, ReplacedRows):
        reasons = ["misaligned" if m else "overlap" for m in rows.misaligned]
        return lines_text(list(map(_REPLACED.__mod__, zip(rows.group, rows.mapping, rows.old_address, rows.address,
                                                          rows.aligned_address, reasons))), level)
    return records([{"group": r.group, "mapping": r.mapping, "old_address": r.old_address, "address": r.address,
                     "aligned_address": r.aligned_address, "reason": r.reason} for r in rows], level)


def replaced_pieces(column: Column, level: int = 3) -> list[str]:
    """:func:`replaced_json` in pieces (the same text when joined): the
    re-placed mappings encoded a few thousand at a time, never all at once
    as strings beside their joined text."""
    rows = column.replaced
    if isinstance(rows, ReplacedRows):
        items = (_REPLACED % (g, m, old, a, best, "misaligned" if mis else "overlap")
                 for cols in rows.in_chunks(4096) for g, m, old, a, best, mis in zip(*cols))
        return lines_pieces(items, level)
    return [replaced_json(column, level)]


def cell_json(c: Cell, replaced: Raw | None = None) -> dict[str, Any]:
    return {
        "scheme": c.scheme,
        "column": c.column.key,
        "label": column_label(c.column),
        "page_size": c.column.page_size,
        "configured": c.column.configured,
        "page_tables": page_tables_json(c.result, c.table_bytes, c.pagetables_bytes),
        "memory": memory_json(c.budget),
        "verdict": c.verdict,
        "max_processes": c.max_processes,
        "note": note_text(c.note, c.arch),
        "replaced": replaced if replaced is not None else replaced_json(c.column),
        "aligned": _aligned_json(c),
    }


def _aligned_json(c: Cell) -> dict[str, Any] | None:
    """The best case of a column whose mappings the kernel would re-place:
    them at addresses congruent to their file offset modulo PUD_SIZE."""
    a = c.aligned
    if a is None:
        return None
    return {"physical_bytes": a.result.physical_bytes, "vmpte_total_bytes": a.result.vmpte_total,
            "demand_bytes": a.budget.demand_bytes, "verdict": a.verdict, "max_processes": a.max_processes}


def _document(report: Evaluation, cells: Any) -> dict[str, Any]:
    w = report.workload
    return {
        "schema_version": SCHEMA_VERSION,
        **about(w),
        "host": host_facts(w),
        "options": options_facts(report.model_options),
        "columns": [
            {"key": c.key, "label": column_label(c), "page_size": c.page_size, "configured": c.configured,
             "unavailable": c.unavailable, "replaced": len(c.replaced)}
            for c in report.columns
        ],
        "cells": cells,
        "assumptions": assumptions(report),
    }


def render(report: Evaluation) -> str:
    return "".join(render_pieces(report))


_MARK = Raw("\x00")
"""Where a piece written on its own goes: a NUL is never in JSON text (it is
escaped in strings)."""


def render_pieces(report: Evaluation) -> Iterator[str]:
    """:func:`render`'s text in pieces, a cell at a time, for the command to
    write as they come (``cli._common.emit``): the text of 100,000 re-placed
    mappings in 16 cells is 63 MB, held neither whole nor encoded whole."""
    return _pieces(report, 0)


def _shifted(obj: Any, level: int) -> tuple[str, str]:
    """``obj``'s text at depth ``level`` (encoded alone at depth 0, then
    moved), split at its one :data:`_MARK`."""
    before, after = dumps(obj).replace("\n", "\n" + "  " * level).split(_MARK)
    return before, after


def _pieces(report: Evaluation, level: int) -> Iterator[str]:
    """The report of one workload at depth ``level`` of the text, in pieces,
    a cell at a time.  Each column's re-placed mappings are encoded once and
    written as they are, in each of its cells."""
    head, tail = _shifted(_document(report, _MARK), level)
    yield head
    cells = report.cells
    if not cells:
        yield "[]"
    pad = "\n" + "  " * (level + 2)
    replaced: dict[str, list[str]] = {}
    for i, c in enumerate(cells):
        key = c.column.key
        if key not in replaced:
            replaced = {key: replaced_pieces(c.column, level + 3)}  # columns come one after another
        before, after = _shifted(cell_json(c, _MARK), level + 2)
        yield ("[" if i == 0 else ",") + pad + before
        yield from replaced[key]
        yield after
    if cells:
        yield "\n" + "  " * (level + 1) + "]"
    yield tail


def render_hosts(hosts: Hosts) -> Iterator[str]:
    """A file of several workloads (YAML documents, a host each), in pieces
    as :func:`render_pieces` writes them: each host's object as
    :func:`render` writes it, in file order."""
    head, tail = _shifted({"schema_version": SCHEMA_VERSION, "source": hosts.source, "hosts": _MARK}, 0)
    yield head
    if not hosts.evaluations:
        yield "[]"
    for i, r in enumerate(hosts.evaluations):
        yield ("[" if i == 0 else ",") + "\n" + "  " * 2
        yield from _pieces(r, 2)
    if hosts.evaluations:
        yield "\n  ]"
    yield tail
