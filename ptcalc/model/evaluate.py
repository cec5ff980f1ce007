"""One entry point: everything a command shows about a workload, :func:`evaluate`.

    Workload --Layout.from_workload--> Layout            (model.layout: one row per mapping)
    Layout   --whatif.columns--------> Column per page size, configured + what-ifs
    Column   --zones(scheme)---------> Zones             (model.schemes: the sharing rules)
    Zones    --count-----------------> SchemeResult      (model.tables: tables per level, VmPTE)
    SchemeResult + Column --budget---> Budget            (model.budget: demand, verdict, max processes)
    all of it ----------------------> Cell, one per (scheme, column), in an Evaluation

``estimate`` shows every cell; ``check``, ``explain`` and ``sweep`` one
column (configured, or a what-if page size); ``measure``'s model side and
``scan``'s writer the configured column.  None of them computes a rule of
its own: each asks the Evaluation.  Nothing is computed before it is read:
the columns on first access, a cell when it is asked for (a column's cells
share its layout, its resident pages and its ``private`` count), so that
asking for one scheme costs one scheme.

>>> from ptcalc.model.geometry import X86_64
>>> from ptcalc.workload.types import Host, Mapping, ProcessGroup, Segment, Workload
>>> GiB = 1 << 30
>>> w = Workload(host=Host(memory=64 * GiB, arch=X86_64),
...              segments={"s": Segment("s", GiB, "hugetlb", 2 << 20)},
...              groups=(ProcessGroup("p", 4, (Mapping("s", 0, GiB, 1 << 40, touched=((0, GiB),)),)),))
>>> ev = evaluate(w, Options(schemes=("private", "hugetlb-pmd"), columns=CONFIGURED))
>>> [(c.scheme, c.result.tables["pmd"], c.verdict) for c in ev.cells]
[('private', 4, 'ok'), ('hugetlb-pmd', 1, 'ok')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from ptcalc.errors import ParameterError, PtcalcError
from ptcalc.model.budget import Budget, budget
from ptcalc.model.geometry import Arch
from ptcalc.model.layout import Layout
from ptcalc.model.reasons import dominant
from ptcalc.model.results import SchemeResult
from ptcalc.model.schemes import Why
from ptcalc.model.tables import SCHEMES, Zones, count, resident_bytes, resident_on_pages, tally, zones
from ptcalc.model.whatif import ALL_COLUMNS, CONFIGURED, Column, Kept, columns, convert_segments
from ptcalc.units import format_size
from ptcalc.workload.types import ModelOptions, Workload

if TYPE_CHECKING:
    from ptcalc.model.explain.attribution import Attribution
    from ptcalc.model.explain.types import FindingList

__all__ = ["ALL_COLUMNS", "CONFIGURED", "VIEWS", "Cell", "Evaluation", "Hosts", "Note", "Options", "evaluate"]

VIEWS: tuple[str, ...] = ("physical", "pagetables", "vmpte")
"""The accounting views of a cell's page tables (``Cell.figure``)."""


@dataclass(frozen=True)
class Options:
    """What to evaluate, and the command line's overrides of the workload's settings."""

    schemes: tuple[str, ...] = SCHEMES
    """The schemes, in the order shown."""
    columns: str | int = ALL_COLUMNS
    """:data:`ALL_COLUMNS` (configured and what-ifs), :data:`CONFIGURED`, or a
    page size: the what-if column with every shmem/hugetlb segment on it."""
    file_cached_threshold: int | None = None
    """Overrides ``options.file_cached_threshold`` of the workload."""
    mshare_variant: str | None = None
    """Overrides ``options.mshare_variant`` of the workload."""
    headroom_percent: int | None = None
    """Overrides ``host.headroom`` of the workload."""


class Cell:
    """One scheme on one page-size column: its tables, its budget, why it
    shares nothing if it does not, and (for ``explain``) who owns every
    table and which rule decided.  Each is computed when first read."""

    def __init__(self, cells: _ColumnCells, scheme: str) -> None:
        self._cells = cells
        self.scheme = scheme
        self.column: Column = cells.column
        self.model_options: ModelOptions = cells.ev.model_options

    def __repr__(self) -> str:
        return f"Cell({self.scheme!r}, {self.column.key!r})"

    @property
    def layout(self) -> Layout:
        """The column's workload as the model's arrays (a best case's made
        anew on each read; a what-if column's made again when read after the
        evaluation let it go: ``Column.layout``)."""
        return self._cells.layout

    @property
    def arch(self) -> Arch:
        """The workload's architecture (the layout's, without making it)."""
        return self._cells.ev.workload.arch

    @property
    def table_bytes(self) -> dict[str, int]:
        """Bytes of one table per level on the workload's host (PTI doubles the PGD)."""
        w = self._cells.ev.workload
        return w.arch.table_bytes(w.host.pti)

    @cached_property
    def zones(self) -> Zones:
        """The scheme's zones on the column's layout (kept until the note is
        made: a column of 100,000 mappings would otherwise hold every
        scheme's zone arrays to the end)."""
        return zones(self.layout, self.scheme, self.model_options)

    @cached_property
    def result(self) -> SchemeResult:
        """Tables per level, shared tables, and per group the tables one process
        owns and the VmPTE it shows."""
        if self.column.best_case:
            # a best case is shown by its figures (no note): its cells are
            # counted together on a layout that is not kept
            return self._cells.best_case(self.scheme)
        if self.scheme == "private":
            return self._cells.private
        return _counted(self.layout, self.zones, self._cells.private)

    @cached_property
    def budget(self) -> Budget:
        w = self._cells.budget_workload
        assert w is not None
        return budget(w, self.result, self._cells.resident, use_configured_pools=self.column.configured)

    @cached_property
    def note(self) -> Note | None:
        """Why this scheme saves nothing here (it then equals ``private``)."""
        if self.scheme == "private":
            return None
        note = _note(self.layout, self.zones, self.result, self._cells.private)
        self.__dict__.pop("zones", None)
        return note

    @cached_property
    def pagetables_bytes(self) -> int:
        """What /proc/meminfo PageTables would count of this cell's tables on
        the workload's kernel (``host.kernel``; ``ptcalc.model.accounting``)."""
        from ptcalc.model.accounting import pagetables_bytes

        w = self.cells_workload
        return pagetables_bytes(self.result, w.arch.table_bytes(w.host.pti), w.host.kernel)

    @property
    def cells_workload(self) -> Workload:
        w = self._cells.budget_workload
        assert w is not None
        return w

    def figure(self, view: str) -> int:
        """Page-table bytes in one accounting view: ``physical`` (every table
        once: what decides an OOM), ``pagetables`` (what the kernel's
        PageTables counts) or ``vmpte`` (VmPTE summed over every process)."""
        if view == "physical":
            return self.result.physical_bytes
        if view == "pagetables":
            return self.pagetables_bytes
        if view == "vmpte":
            return self.result.vmpte_total
        raise ValueError(f"unknown accounting view {view!r}; choose from {', '.join(VIEWS)}")

    @property
    def aligned(self) -> Cell | None:
        """When the column re-placed mappings as the kernel would
        (``Column.replaced``): this scheme with them at their best address
        (congruent to the file offset modulo PUD_SIZE), when that gives fewer
        tables; else None.  Moved away from the kernel's choice, a mapping can
        leave PMD/PUD tables it shared with its neighbours (a PostgreSQL
        segment among the libraries): then the kernel's placement is the best
        of the two, and no best case is shown."""
        col = self.column.aligned
        if col is None:
            return None
        best = self._cells.ev._cells_of(col).cell(self.scheme)
        return best if best.result.physical_bytes < self.result.physical_bytes else None

    @property
    def verdict(self) -> str | None:
        return self.budget.verdict

    @property
    def max_processes(self) -> int | None:
        return self.budget.max_processes

    @cached_property
    def attribution(self) -> Attribution:
        """Per group and mapping the tables each process owns and the pools of
        shared tables it uses, with whom (``ptcalc.model.explain``)."""
        from ptcalc.model.explain.attribution import attribute

        return attribute(self)

    @cached_property
    def findings(self) -> FindingList:
        """Every part of a mapping whose tables are not shared, the rule that
        decided and the smallest change that would share them."""
        from ptcalc.model.explain.rules import find

        return find(self)


class _ColumnCells:
    """The cells of one column, each made when first asked for."""

    def __init__(self, ev: Evaluation, column: Column) -> None:
        self.ev = ev
        self.column = column
        self._cells: dict[str, Cell] = {}
        self._best: dict[str, SchemeResult] = {}

    @property
    def layout(self) -> Layout:
        """The column's layout; a best case's made anew (``Column.layout``)."""
        layout = self.column.layout
        assert layout is not None
        return layout

    def best_case(self, scheme: str) -> SchemeResult:
        """A best case's result of ``scheme``: the evaluation's schemes counted
        together on one layout made for them, which is then dropped."""
        got = self._best.get(scheme)
        if got is None:
            layout = self.layout
            opts = self.ev.model_options
            private = count(layout, zones(layout, "private", opts))
            for s in dict.fromkeys((*self.ev.schemes, scheme)):
                self._best[s] = private if s == "private" else _counted(layout, zones(layout, s, opts), private)
            got = self._best[scheme]
        return got

    @cached_property
    def budget_workload(self) -> Workload | None:
        return self.column.budget_workload()

    @cached_property
    def resident(self) -> dict[str, int]:
        """Per segment name, the bytes any process touches (``resident_bytes``)."""
        w = self.budget_workload
        assert w is not None
        if self.column.best_case:
            # a best case has its column's mappings at other addresses: the
            # same file ranges touched, the same resident bytes
            of = next((cc for cc in self.ev._by_column.values() if cc.column.aligned is self.column), None)
            if of is not None:
                return of.resident
        names = list(w.segments)
        if not self.column.configured or self.ev.options.columns == ALL_COLUMNS:
            # a what-if column's: the configured layout's touched ranges in its
            # pages (``resident_on_pages``: made for every column at once, the
            # configured one's too when every column is shown)
            got = self.ev._whatif_residents.get(
                None if self.column.configured else tuple(s.page_size for s in w.segments.values()))
            if got is not None:
                return {names[i]: b for i, b in got.items()}
        return {names[i]: b for i, b in resident_bytes(self.layout).items()}

    @cached_property
    def private(self) -> SchemeResult:
        if self.column.best_case:
            return self.best_case("private")
        layout = self.layout
        return count(layout, zones(layout, "private", self.ev.model_options))

    def cell(self, scheme: str) -> Cell:
        if scheme not in self._cells:
            self._cells[scheme] = Cell(self, scheme)
        return self._cells[scheme]


@dataclass(frozen=True)
class Note:
    """Why a scheme saves nothing over ``private`` in a cell (``ptcalc.render.words`` words it).

    ``kind``: ``costs-more`` (an mshare region's host mm costs more than the
    private tables it replaces), ``one-user`` (touched pages lie in ranges the
    scheme shares, but no two processes map any of them alike: each set of
    shareable tables has one user, as explain's ``alone`` finding says),
    ``nothing-shareable`` (no touched page lies in a range the scheme shares),
    or ``rule``: the rule ``why`` stops sharing at ``level`` for most touched
    mappings.
    """

    kind: str
    why: Why | None = None
    level: str | None = None


def _counted(layout: Layout, z: Zones, private: SchemeResult) -> SchemeResult:
    """The tables of ``z``'s scheme; a scheme that shares nothing here counts
    as private does, table for table: one count serves both."""
    return replace(private, scheme=z.scheme) if z.shares_nothing else count(layout, z)


def _note(layout: Layout, z: Zones, result: SchemeResult, private: SchemeResult) -> Note | None:
    """Why ``z.scheme`` saves nothing over ``private`` here, or None when it does."""
    if z.scheme == "private" or result.physical_bytes < private.physical_bytes:
        return None
    if result.physical_bytes > private.physical_bytes:
        return Note("costs-more")
    found = dominant(layout, z)
    if found is None:
        # some touched mapping is shareable under the scheme's rules: do its touched
        # pages lie in a shared zone (then they have one user), or outside every one?
        in_shared_zone = bool((tally(layout, z).kind > 0).any())
        return Note("one-user" if in_shared_zone else "nothing-shareable")
    return Note("rule", why=found[0], level=found[1])


class Evaluation:
    """Everything a command shows about one workload (see the module docstring)."""

    def __init__(self, workload: Workload, options: Options) -> None:
        for s in options.schemes:
            if s not in SCHEMES:
                raise ValueError(f"unknown scheme {s!r}; choose from {', '.join(SCHEMES)}")
        if options.headroom_percent is not None:
            workload = replace(workload, host=replace(workload.host, headroom_percent=options.headroom_percent))
        opts = workload.options
        if options.file_cached_threshold is not None:
            opts = replace(opts, file_cached_threshold=options.file_cached_threshold)
        if options.mshare_variant is not None:
            opts = replace(opts, mshare_variant=options.mshare_variant)
        self.workload = workload
        """The workload, with the overrides of ``options`` applied."""
        self.options = options
        self.model_options: ModelOptions = opts
        self.schemes = options.schemes
        self._by_column: dict[str, _ColumnCells] = {}
        if isinstance(options.columns, int):
            self._check_page_size(options.columns)

    def _check_page_size(self, page_size: int) -> None:
        arch = self.workload.arch
        if page_size not in arch.page_sizes():
            sizes = ", ".join(format_size(p).replace(" ", "") for p in arch.page_sizes())
            raise ParameterError("page_size", f"{format_size(page_size)} is not a page size of {arch.name} "
                                              f"(choose from configured, {sizes})")

    @cached_property
    def layout(self) -> Layout:
        """The workload as configured, as the model's arrays."""
        return Layout.from_workload(self.workload, backend=None)

    @cached_property
    def _whatif_residents(self) -> dict[tuple[int, ...] | None, dict[int, int]]:
        """Per what-if column's page sizes (each segment's, in order), the
        bytes of each segment any process touches (segment index -> bytes):
        the configured layout's touched file ranges in whole pages of each
        (``tables.resident_on_pages``), one union for all of them; under
        None the configured column's, when every column is shown."""
        w = self.workload
        arch = w.arch
        pages: list[tuple[int, ...] | None] = list(dict.fromkeys(
            tuple(s.page_size for s in convert_segments(w, size).values())
            for size in (arch.base_page, *arch.whatif_page_sizes()[1:])))
        if self.options.columns == ALL_COLUMNS:
            pages.append(None)
        return dict(zip(pages, resident_on_pages(self.layout, pages)))

    @cached_property
    def columns(self) -> tuple[Column, ...]:
        """The selected page-size columns (``Options.columns``), in the order shown.

        Every column selected (``estimate``): each what-if column's cells are
        settled as soon as it is converted (:meth:`_settle`), and its layout
        let go before the next conversion, so that one what-if layout lives
        at a time beside the configured one (four of 104,000 rows: 59 MiB)."""
        settle = self._settle if self.options.columns == ALL_COLUMNS and self.schemes else None
        return columns(self.workload, self.layout, self.options.columns, then=settle)

    def _settle(self, column: Column) -> None:
        """Make every figure a report shows of ``column``'s cells -- result,
        budget, note, PageTables view, best case -- then let go of the
        column's layout (``Column.release``: made again if read later, by
        ``explain`` or ``check``).  The best case is counted after the
        column's own layout is let go: one layout at a time."""
        cc = self._cells_of(column)
        cells = [cc.cell(s) for s in self.schemes]
        for c in cells:
            c.budget, c.note, c.pagetables_bytes  # noqa: B018 (each made and kept)
        column.release(best_case=False)
        for c in cells:
            best = c.aligned
            if best is not None:
                best.budget  # noqa: B018
        column.release()

    @property
    def configured(self) -> Column:
        """The configured column (when the selection has it)."""
        return next(c for c in self.columns if c.configured)

    @property
    def column(self) -> Column:
        """The one column a selection of one column chose; raises PtcalcError
        when that what-if is not available for this workload."""
        cols = self.columns
        if not cols:  # pragma: no cover - a page size of the arch that is no what-if size
            raise PtcalcError(f"{self.workload.source}: no {format_size(int(self.options.columns))} column")
        c = cols[0]
        if c.unavailable is not None:
            raise PtcalcError(f"{self.workload.source}: the {c.key} what-if is not available: {c.unavailable}")
        return c

    def _cells_of(self, column: Column) -> _ColumnCells:
        if column.key not in self._by_column:
            self._by_column[column.key] = _ColumnCells(self, column)
        return self._by_column[column.key]

    def cell(self, scheme: str, column_key: str | None = None) -> Cell | None:
        """The cell of ``scheme`` in the column ``column_key`` (default: the one
        column selected, or the configured one); None when that column is not
        available."""
        for col in self.columns:
            if column_key is None:
                chosen = col.configured if self.options.columns == ALL_COLUMNS else True
            else:
                chosen = col.key == column_key
            if chosen:
                if not col.available:
                    return None
                return self._cells_of(col).cell(scheme)
        return None

    def selected_cell(self, scheme: str) -> Cell:
        """The cell of ``scheme`` in the one column selected (``Options.columns``);
        raises PtcalcError when that what-if is not available."""
        return self._cells_of(self.column).cell(scheme)

    def cells_of(self, column: Column) -> tuple[Cell, ...]:
        """Every scheme's cell in ``column`` (none when it is not available)."""
        if not column.available:
            return ()
        cc = self._cells_of(column)
        return tuple(cc.cell(s) for s in self.schemes)

    @property
    def cells(self) -> tuple[Cell, ...]:
        """Every cell, column by column, schemes in order."""
        return tuple(c for col in self.columns for c in self.cells_of(col))

    def configured_cells(self) -> tuple[Cell, ...]:
        return self.cells_of(self.configured)

    @property
    def resident(self) -> dict[str, int]:
        """Per segment name, the bytes of the configured workload's segments any
        process touches (the union of touched file ranges)."""
        return self._cells_of(self.configured).resident

    def with_counts(self, counts: Sequence[int]) -> Evaluation:
        """The same evaluation (the same columns and layouts) with each
        group's process count replaced: what ``sweep`` evaluates at."""
        w = replace(self.workload, groups=tuple(replace(g, count=c) for g, c in zip(self.workload.groups, counts)))
        ev = Evaluation(w, self.options)
        ev.__dict__["layout"] = self.layout.with_counts(counts)
        ev.__dict__["columns"] = tuple(
            replace(c, source=w, kept=None if (lay := c.layout) is None else Kept(lay.with_counts(counts)))
            for c in self.columns)  # (a released column's layout is made again on each read: read once)
        return ev

    @cached_property
    def has_auto(self) -> bool:
        """Some mapping's address was ``auto`` (placed by ptcalc)."""
        return bool(self.layout.row_auto.any())


@dataclass(frozen=True)
class Hosts:
    """Every document (host) of one workload file, evaluated alike."""

    source: str
    evaluations: tuple[Evaluation, ...]


def evaluate(workload: Workload, options: Options | None = None) -> Evaluation:
    """Evaluate ``workload`` (see the module docstring); ``options`` default
    to every scheme on every column."""
    return Evaluation(workload, options or Options())
