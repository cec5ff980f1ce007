"""The comparison ``estimate`` shows: a cell per (scheme, page-size column).

Pure data; ``ptcalc.render`` turns it into a table, JSON or markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ptcalc.model.geometry import X86_64, Arch
from ptcalc.model.budget import Budget, budget
from ptcalc.model.layout import Layout
from ptcalc.model.tables import SCHEMES, Zones, count, resident_bytes, zones
from ptcalc.model.results import SchemeResult
from ptcalc.units import GiB, MiB, format_size
from ptcalc.model.whatif import Column, columns
from ptcalc.model.reasons import dominant, reason
from ptcalc.workload.types import ModelOptions, Workload


@dataclass(frozen=True)
class Cell:
    scheme: str
    column: Column
    result: SchemeResult
    budget: Budget
    note: str | None = None
    """Why this scheme saves nothing here (it then equals ``private``)."""

    @property
    def verdict(self) -> str | None:
        return self.budget.verdict

    @property
    def max_processes(self) -> int | None:
        return self.budget.max_processes


@dataclass(frozen=True)
class Report:
    workload: Workload
    options: ModelOptions
    columns: tuple[Column, ...]
    cells: tuple[Cell, ...]
    schemes: tuple[str, ...]

    def cell(self, scheme: str, column_key: str) -> Cell | None:
        for c in self.cells:
            if c.scheme == scheme and c.column.key == column_key:
                return c
        return None

    @property
    def configured(self) -> Column:
        return next(c for c in self.columns if c.configured)

    def configured_cells(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.column.configured)


def _note(workload: Workload, layout: Layout, z: Zones, result: SchemeResult,
          private: SchemeResult) -> str | None:
    """Why ``z.scheme`` saves nothing over ``private`` here, or None when it does."""
    if z.scheme == "private" or result.physical_bytes < private.physical_bytes:
        return None
    if result.physical_bytes > private.physical_bytes:
        return "costs more than private here: the region's host mm needs its own top-level tables"
    found = dominant(layout, z)
    if found is None:
        return "equals private: no touched page lies in a shareable range"
    return f"equals private: {reason(found[0], found[1], workload.arch)}"


def column_cells(column: Column, schemes: tuple[str, ...], options: ModelOptions) -> list[Cell]:
    """Every scheme's cell for one page-size column."""
    w = column.budget_workload()
    layout = column.layout
    if w is None or layout is None:
        return []
    names = list(w.segments)
    resident = {names[i]: b for i, b in resident_bytes(layout).items()}
    private = count(layout, zones(layout, "private", options))
    cells = []
    for s in schemes:  # one scheme's zones at a time: each is a few arrays of every row
        if s == "private":
            cells.append(_cell(column, w, resident, private, None))
            continue
        z = zones(layout, s, options)
        # a scheme that shares nothing here counts as private does, table for table
        r = replace(private, scheme=s) if z.shares_nothing else count(layout, z)
        cells.append(_cell(column, w, resident, r, _note(w, layout, z, r, private)))
    return cells


def _cell(column: Column, w: Workload, resident: dict[str, int], r: SchemeResult, note: str | None) -> Cell:
    return Cell(scheme=r.scheme, column=column, result=r,
                budget=budget(w, r, resident, use_configured_pools=column.configured), note=note)


def build_report(workload: Workload, options: ModelOptions | None = None,
                 schemes: tuple[str, ...] = SCHEMES) -> Report:
    """Every scheme over the configured and what-if page-size columns."""
    options = options or workload.options
    cols = columns(workload)
    found = [column_cells(col, schemes, options) for col in cols]
    cells = [cell for col_cells in found for cell in col_cells]
    return Report(workload=workload, options=options, columns=cols, cells=tuple(cells), schemes=schemes)


def _hugepagesz(ps: int) -> str:
    """A page size as the kernel's ``hugepagesz=`` parameter spells it (memparse): 1G, 32M, 64K."""
    for unit, factor in (("G", GiB), ("M", MiB), ("K", 1024)):
        if ps % factor == 0:
            return f"{ps // factor}{unit}"
    return str(ps)


def pool_advice(b: Budget, arch: Arch = X86_64) -> list[str]:
    """What to set so the hugetlb pools fit the segments exactly.

    ``vm.nr_hugepages`` sizes the default pool, PMD_SIZE pages (HPAGE_SIZE on
    x86-64 and arm64); pages above PMD_SIZE are gigantic on every profile
    (above the buddy allocator's largest block, MAX_PAGE_ORDER: 4 MiB, 32 MiB
    and 512 MiB on arm64 4K/16K/64K by arch/arm64/Kconfig ARCH_FORCE_MAX_ORDER),
    so a boot-time reservation is the reliable way to get them.
    """
    out: list[str] = []
    for ps, n in sorted(b.pools.required.items()):
        have = (b.pools.configured or {}).get(ps) if b.pools.configured is not None else None
        if ps == arch.hpage_size:
            how = f"sysctl vm.nr_hugepages={n}"
        else:
            kb = ps // 1024
            how = f"echo {n} > /sys/kernel/mm/hugepages/hugepages-{kb}kB/nr_hugepages"
            if ps > arch.pmd_size:
                how += f" (or boot with hugepagesz={_hugepagesz(ps)} hugepages={n})"
        if have is None:
            out.append(f"{format_size(ps)} pages: {n:,} needed ({format_size(n * ps)}): {how}")
        elif have < n:
            out.append(f"{format_size(ps)} pages: pool has {have:,}, segments need {n:,}: {how}")
        else:
            out.append(f"{format_size(ps)} pages: pool has {have:,}, segments need {n:,}")
    return out
