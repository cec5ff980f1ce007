"""What ``explain`` produces: plain data, rendered by ``ptcalc.render.explain_*``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ptcalc.model.schemes import Why
from ptcalc.model.results import SchemeResult, VmptePart
from ptcalc.model.whatif import Column
from ptcalc.sequences import TupleSequence
from ptcalc.workload.types import Mapping, ModelOptions, PrivateMapping, Workload, made  # noqa: F401 (made: re-exported)

Interval = tuple[int, int]

# Rule identifiers (JSON ``rule``) and the model's reason codes they come from.
RULE_OF_WHY: dict[Why, str] = {
    Why.PRIVATE_SCHEME: "private-scheme",
    Why.NOT_HUGETLB: "not-hugetlb",
    Why.NOT_PMD_PAGES: "not-pmd-pages",
    Why.ARCH_NO_PMD_SHARE: "arch-no-pmd-share",
    Why.PROT_NONE: "prot-none",
    Why.USERFAULTFD: "userfaultfd",
    Why.SOFT_DIRTY: "soft-dirty",
    Why.BELOW_THRESHOLD: "below-threshold",
    Why.MISALIGNED: "misaligned",
    Why.NO_WHOLE_WINDOW: "no-whole-window",
    Why.NO_TABLES_AT_LEVEL: "no-tables-at-level",
    Why.PTSHARE_ALIGNMENT: "ptshare-alignment",
}
EXTRA_RULES: tuple[str, ...] = ("partial-window", "alone", "alignment-differs", "protection-differs")
"""Rules explain adds: a window only partly inside the mapping, no other
sharer, and sharers kept apart by their alignment or protection."""

NOTES: tuple[str, ...] = ("no-single-change", "file-not-hugetlb", "segment-too-small", "prot-none-no-tables",
                          "above-level", "private-baseline", "nothing-to-save", "mshare-from-two", "no-gain-yet")
"""Codes of ``Finding.note``: why there is no fix, or what else to know
(``ptcalc.render.explain_words`` words them)."""


@dataclass(frozen=True)
class Fix:
    """A change to the workload and what it saves, as the model computes it."""

    kind: str
    """move | grow | hugetlb-pages | threshold | protection | userfaultfd | soft-dirty"""
    physical_before: int
    physical_after: int
    change_bytes: int
    """How big the change is (|shift|, bytes added); 0 for flag changes."""
    delta: int | None = None
    """move: the signed shift in bytes."""
    new_range: Interval | None = None
    """move/grow: the mapping's new [start, end) virtual addresses."""
    new_offset: int | None = None
    segment: str | None = None
    """hugetlb-pages: the segment to put on them."""
    page_size: int | None = None
    """hugetlb-pages: the page size."""
    threshold: int | None = None
    """threshold: the file-cached threshold that would do."""
    protection: str | None = None
    """protection: the protection to map the mapping with."""
    like: tuple[str, ...] = ()
    """protection: the groups that map it so."""

    @property
    def saves(self) -> int:
        return self.physical_before - self.physical_after

    @property
    def change(self) -> tuple[object, ...]:
        """What the fix changes (two fixes alike here are one)."""
        return (self.kind, self.delta, self.new_range, self.new_offset, self.segment, self.page_size,
                self.threshold, self.protection, self.like)


@dataclass(frozen=True)
class Finding:
    """A part of a mapping whose tables are not shared, and why."""

    group: int
    mapping: int
    """Index of the mapping in its group (workload order); -1 for the group."""
    level: str
    """The level whose tables stay private: pte, pmd, or 'all'."""
    rule: str
    """A ``RULE_OF_WHY`` value or one of ``EXTRA_RULES``."""
    ranges: tuple[Interval, ...]
    """Virtual-address ranges concerned (zone bounds, not only touched pages)."""
    tables: dict[str, int]
    """Per process, tables (pte/pmd) that stay private because of this."""
    fix: Fix | None = None
    alternatives: tuple[Fix, ...] = ()
    note: str | None = None
    """Why there is no fix, or what else to know: one of ``NOTES``."""
    why: Why | None = None
    """The model's rule (the ``RULE_OF_WHY`` rules), worded at ``why_level``."""
    why_level: str = "pmd"
    span: int | None = None
    """partial-window: the window size (PUD_SIZE for pmd, PMD_SIZE for pte);
    segment-too-small: the window the segment is smaller than."""
    segment: str | None = None
    """The segment (mshare alone, segment-too-small)."""
    segment_size: int | None = None
    protection: str | None = None
    """This mapping's protection (mshare alone, alignment/protection-differs)."""
    others: tuple[str, ...] = ()
    """alignment/protection-differs: the groups of the other pool."""
    their_protection: str | None = None
    alignment: int | str | None = None
    """alignment/protection-differs: this pool's and the other pool's ``address - offset`` class."""
    their_alignment: int | str | None = None


class RowRanges(Sequence[tuple[Interval, ...]]):
    """Per finding of a part made at once, its ``ranges``, kept as columns:
    most findings' one range (``lo``, ``hi`` where ``single``; int64) and the
    few of two or more (``many``, by index); a tuple made when read (a list
    of 100,000 tuples held 17 MiB)."""

    __slots__ = ("lo", "hi", "single", "many")

    def __init__(self, lo: np.ndarray, hi: np.ndarray, single: np.ndarray,
                 many: dict[int, tuple[Interval, ...]]) -> None:
        self.lo, self.hi, self.single, self.many = lo, hi, single, many

    def __len__(self) -> int:
        return int(self.single.size)

    def __getitem__(self, j: int) -> tuple[Interval, ...]:  # type: ignore[override]
        if self.single[j]:
            return ((int(self.lo[j]), int(self.hi[j])),)
        return self.many.get(j, ())

    def counts(self) -> np.ndarray:
        """Per finding, how many ranges it has (int64)."""
        out = self.single.astype(np.int64)
        for j, iv in self.many.items():
            out[j] = len(iv)
        return out


class FindingPart:
    """Findings made at once: a rule's findings on many rows, alike but for
    where they are -- every :class:`Finding` field but ``group``,
    ``mapping``, ``ranges`` and ``tables`` the same (``fields``), those per
    finding (``ranges()``, ``tables()``: made when first asked, for all at
    once) -- or a few findings made one by one (``fields`` None).  A
    Finding of a part is made only when read (``finding``)."""

    __slots__ = ("fields", "group", "mapping", "_ranges", "_tables", "_tables_list", "_made")

    def __init__(self, fields: dict[str, Any] | None, group: list[int], mapping: list[int],
                 ranges: Callable[[], Sequence[tuple[Interval, ...]]] | Sequence[tuple[Interval, ...]],
                 tables: Callable[[], tuple[list[dict[str, int]], list[int]]] | list[dict[str, int]],
                 made_: list[Finding] | None = None) -> None:
        self.fields = fields
        """The fields its findings share (every field but the four per finding, defaults left out);
        None: its findings were made one by one."""
        self.group = group
        self.mapping = mapping
        self._ranges = ranges
        self._tables: Callable[[], tuple[list[dict[str, int]], list[int]]] | tuple[list[dict[str, int]], list[int]]
        if callable(tables):
            self._tables = tables
        else:
            seen: dict[int, int] = {}
            distinct: list[dict[str, int]] = []
            index = []
            for d in tables:
                k = seen.get(id(d))
                if k is None:
                    k = seen[id(d)] = len(distinct)
                    distinct.append(d)
                index.append(k)
            self._tables = (distinct, index)
        self._tables_list: list[dict[str, int]] | None = None if callable(tables) else tables
        self._made = made_

    @classmethod
    def each(cls, findings: list[Finding]) -> FindingPart:
        """Findings made one by one, as a part."""
        return cls(None, [f.group for f in findings], [f.mapping for f in findings], [f.ranges for f in findings],
                   [f.tables for f in findings], findings)

    def __len__(self) -> int:
        return len(self.group)

    def ranges(self) -> Sequence[tuple[Interval, ...]]:
        """Per finding, its ``ranges`` (a :class:`RowRanges`, or a list)."""
        if callable(self._ranges):
            self._ranges = self._ranges()
        return self._ranges

    def tables_index(self) -> tuple[list[dict[str, int]], list[int]]:
        """The findings' distinct ``tables`` dicts, and per finding the index of its own."""
        if callable(self._tables):
            self._tables = self._tables()
        return self._tables

    def tables(self) -> list[dict[str, int]]:
        """Per finding, its ``tables`` (findings with the same figures share one dict: read only)."""
        if self._tables_list is None:
            distinct, index = self.tables_index()
            self._tables_list = [distinct[k] for k in index]
        return self._tables_list

    def finding(self, j: int) -> Finding:
        if self._made is not None:
            return self._made[j]
        assert self.fields is not None
        return made(Finding, group=self.group[j], mapping=self.mapping[j], ranges=self.ranges()[j],
                    tables=self.tables()[j], **self.fields)


class FindingList(TupleSequence[Finding]):
    """A cell's findings, by group and mapping, kept as the parts they were
    made in (:class:`FindingPart`); each :class:`Finding` made when first
    read (the text shows 50 of 100,000; JSON and the merge read the parts).
    Reads as the tuple of them (indexing, iteration, ``len``, ``==``)."""

    __slots__ = ("parts", "part", "at", "group", "mapping", "_part", "_at")

    def __init__(self, parts: tuple[FindingPart, ...], part: np.ndarray, at: np.ndarray, group: list[int],
                 mapping: list[int]) -> None:
        self.parts = parts
        self.part = part
        """Per finding, its part (an index into ``parts``; int64)..."""
        self.at = at
        """... and its place in that part."""
        self.group = group
        """Per finding, its ``group``."""
        self.mapping = mapping
        """Per finding, its ``mapping``."""
        self._part: list[int] = part.tolist()
        self._at: list[int] = at.tolist()
        super().__init__(len(self._part))

    def _make(self, index: int) -> Finding:
        return self.parts[self._part[index]].finding(self._at[index])

    def __repr__(self) -> str:
        return f"FindingList({len(self)} findings)"


@dataclass(frozen=True)
class Partner:
    group: str
    mapping: int
    processes: int
    tables: int
    """Tables of the pool both use."""


@dataclass(frozen=True)
class Sharing:
    """A mapping's use of one pool of shared tables."""

    pool: int
    level: str
    tables: int
    """Per process: tables of the pool this mapping's touched pages use."""
    attached: bool
    """Counted in VmPTE (linked in by the process itself)."""
    shared: int
    """Of ``tables``, those with two or more sharers."""
    sharers: tuple[int, int]
    """The fewest and most users one of these tables has, this mapping's own processes
    included: the table's reference count (per process mapping; mshare: per process
    attached to the region)."""
    partners: tuple[Partner, ...]
    """The first few other mappings (of other groups, or of this group's other processes)
    using them, in the order of their first table in common (``partners.NAMED`` at most;
    mshare: one per group, its first such mapping)."""
    more_partners: bool
    """Whether other mappings beyond ``partners`` use them too."""


@dataclass(frozen=True)
class ZoneSpan:
    """One non-empty zone of a mapping (docs/semantics.md section 3)."""

    kind: str
    """``private``, ``shared-pte``, ``shared-pmd`` or ``mshare`` (an mshare region)."""
    start: int
    end: int
    """Virtual addresses ``[start, end)``."""


@dataclass(frozen=True)
class MappingExplain:
    group: int
    index: int
    source: Sequence[Mapping] = field(repr=False, compare=False)
    """Its group's mappings (``mapping``: the one this explains, made when read)."""
    backing: str
    page_size: int
    own: dict[str, int]
    """Per process: tables at each level only this mapping needs (process-owned)."""
    attached: dict[str, int]
    """Per process: shared tables it links in (counted in VmPTE)."""
    sharing: tuple[Sharing, ...]
    why_pmd: Why = Why.SHARED
    why_pte: Why = Why.SHARED
    """The rule that decided, per level: ``Why.SHARED`` where some of its
    tables at that level are shared, else why none is."""
    zones: tuple[ZoneSpan, ...] = ()
    """The scheme's zones of the mapping, in address order."""

    @property
    def mapping(self) -> Mapping:
        return self.source[self.index]


class Placed(NamedTuple):
    """Where a group's mappings are and what they map, as their Mapping
    objects have it, and their tables as their :class:`MappingExplain` has
    them, per mapping (columns: ``MappingExplains.placed``)."""

    origin: list[str]
    segment: list[str]
    offset: list[int]
    size: list[int]
    address: list[int]
    auto: list[bool]
    protection: list[str]
    backing: list[str]
    page_size: list[int]
    own: list[dict[str, int]]
    attached: list[dict[str, int]]
    sharing: list[tuple[Sharing, ...]]


class MappingExplains(TupleSequence[MappingExplain]):
    """A group's :class:`MappingExplain` objects, each made when first read
    (``make(index)``): the text and markdown outputs show a few mappings of a
    few groups, and 100,000 objects made for them cost more than the rest of
    the attribution.  Reads as the tuple of them (indexing, iteration,
    ``len``, ``==``)."""

    __slots__ = ("_build", "_segment", "_placed", "_own")

    def __init__(self, n: int, make: Callable[[int], MappingExplain], segment: Callable[[int], str],
                 placed: Callable[[], Placed], own: Callable[[], list[dict[str, int]]]) -> None:
        super().__init__(n)
        self._build = make
        self._segment = segment
        self._placed = placed
        self._own = own

    def own(self) -> list[dict[str, int]]:
        """Per mapping, its ``own`` tables (those of ``self[i]``), without
        making a MappingExplain (the tables list the mappings owning the most)."""
        return self._own()

    def segment(self, index: int) -> str:
        """Mapping ``index``'s segment name, without making its MappingExplain."""
        return self._segment(index)

    def placed(self) -> Placed:
        """The mappings' places and fields (those of ``self[i].mapping``) and
        tables (of ``self[i]``) as columns, without making a Mapping or a
        MappingExplain (JSON lists them for every mapping)."""
        return self._placed()

    def _make(self, index: int) -> MappingExplain:
        return self._build(index)

    def __repr__(self) -> str:
        return f"MappingExplains({len(self)} mappings)"


@dataclass(frozen=True)
class PrivateExplain:
    """One of a process's own mappings (never shared: MAP_PRIVATE)."""

    group: int
    index: int
    """Its index in the group's ``private_mappings``."""
    mapping: PrivateMapping
    own: dict[str, int]
    """Per process: tables at each level only this mapping needs."""


@dataclass(frozen=True)
class GroupExplain:
    name: str
    count: int
    mappings: MappingExplains
    """Made when read."""
    between_mappings: dict[str, int]
    """Per process: tables two or more of its mappings use (counted once)."""
    own: dict[str, int]
    """Per process, every table it owns (mappings + between + PGD) = the model's own_tables."""
    attached: dict[str, int]
    per_process_bytes: int
    vmpte_bytes: int
    private_mappings: tuple[PrivateExplain, ...] = ()
    default_layout: bool = False
    """The private mappings are the kernel's default layout (none listed)."""
    private_tables: dict[str, int] = field(default_factory=dict)
    """Of ``own``, tables only its private mappings use."""
    mixed_tables: dict[str, int] = field(default_factory=dict)
    """Of ``own``, tables that cover a private mapping and a shared segment's."""
    vmpte_parts: VmptePart | None = None
    """Its VmPTE split into the segments', the private mappings' and the mixed part."""


@dataclass(frozen=True)
class Pool:
    """Shared tables under one sharing key, counted once."""

    id: int
    kind: str
    """pmd (shared PMD tables), pte (shared PTE tables) or mshare (a region's host mm)."""
    segment: str
    protection: str
    alignment: int | str | None
    """pmd: (address - offset) mod PUD_SIZE; pte under ptshare: address - offset or 'auto'; else None."""
    tables: dict[str, int]
    shared: dict[str, int]
    """Of ``tables``, those with two or more sharers."""
    users: tuple[tuple[int, int, int], ...]
    """(group, mapping index, processes) of every mapping using the pool."""


@dataclass(frozen=True)
class Totals:
    """Physical tables per level: processes' own + pools = the model's figure."""

    own: dict[str, int]
    pools: dict[str, int]
    total: dict[str, int]
    model: dict[str, int]


@dataclass(frozen=True)
class VmpteNote:
    summed_bytes: int
    physical_bytes: int
    own_bytes: int
    """Own PTE/PMD/PUD tables, summed over processes (in both figures)."""
    attached_bytes: int
    """Shared tables linked in, once per process that links them (VmPTE only)."""
    attachments: int
    """How many (process, shared table) links that is."""
    top_bytes: int
    """PGD/P4D tables of the processes (physical only: VmPTE never counts them)."""
    pool_bytes: int
    """Distinct shared tables and mshare host tables (physical, once)."""
    linked_bytes: int
    """Of ``pool_bytes``, the tables some process links in itself (the ones VmPTE counts)."""
    processes: int
    unlinked: str
    """What the pool tables no process links in are: ``mshare-host`` (the
    region's host mm), ``ptshare`` (the shared mm's PTE tables) or
    ``below-shared-pmd`` (PTE tables below shared PMD tables)."""


@dataclass(frozen=True)
class Explanation:
    """One cell explained: its attribution and its findings."""

    workload: Workload
    scheme: str
    options: ModelOptions
    column: Column
    result: SchemeResult
    groups: tuple[GroupExplain, ...]
    pools: tuple[Pool, ...]
    totals: Totals
    findings: Sequence[Finding]
    """A :class:`FindingList` (or a tuple)."""
    vmpte: VmpteNote
    table_bytes: dict[str, int] = field(default_factory=dict)
    aligned_physical_bytes: int | None = None
    """When the column placed mappings as the kernel would (``column.replaced``):
    the physical bytes with them at their best address instead."""

