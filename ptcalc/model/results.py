"""What a page-table computation produces, for one scheme over one workload.

The closed-form model (``ptcalc.model.tables``) and the brute-force simulator
(``ptcalc.simulator.walk``) both return these types, so they can be compared field
by field.  Counts are tables (not pages, not bytes) per level, keyed by the
kernel's level names; every dict has all five keys, folded levels at 0.

    field                     where an operator sees it
    ------------------------  --------------------------------------------------
    tables                    /proc/meminfo PageTables (physical, shared once;
                              which levels it counts depends on the kernel)
    groups[i].vmpte_bytes     /proc/PID/status VmPTE of one process of the
                              group, for the workload's mappings
    groups[i].own_tables      tables only that process uses (freed at its exit)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import mul

from ptcalc.model.geometry import LEVEL_NAMES, VMPTE_LEVELS
from ptcalc.sequences import CachedSequence


def zero_levels() -> dict[str, int]:
    """A per-level count with every level at 0.

    >>> zero_levels()
    {'pte': 0, 'pmd': 0, 'pud': 0, 'p4d': 0, 'pgd': 0}
    """
    return {name: 0 for name in LEVEL_NAMES}


@dataclass(frozen=True)
class GroupResult:
    """Page tables of one process of a group (all processes of a group are alike)."""

    name: str
    count: int
    own_tables: dict[str, int]
    """Tables this process owns alone, per level (PGD included)."""
    attached_tables: dict[str, int]
    """Shared tables this process links in and VmPTE counts, per level."""
    per_process_bytes: int
    """Bytes of ``own_tables``."""
    vmpte_bytes: int
    """VmPTE for the workload's mappings: own + attached pte/pmd/pud tables."""
    private_tables: dict[str, int] = field(default_factory=zero_levels)
    """Of ``own_tables``, those only the process's private mappings use (text,
    libraries, heap, stack; no PGD)."""
    mixed_tables: dict[str, int] = field(default_factory=zero_levels)
    """Of ``own_tables``, those that cover both a private mapping and a shared
    segment's mapping (counted once)."""

    @property
    def segment_tables(self) -> dict[str, int]:
        """Of ``own_tables``, those only the shared segments' mappings use (no PGD)."""
        return {n: self.own_tables[n] - self.private_tables[n] - self.mixed_tables[n] - (n == "pgd")
                for n in LEVEL_NAMES}

    def vmpte_parts(self, table_bytes: dict[str, int]) -> VmptePart:
        """This process's VmPTE split into the shared segments' part (own and
        attached tables only their mappings use), the private mappings' part,
        and the tables covering both."""
        own, attached, private, mixed = ([d[n] for n in LEVEL_NAMES] for d in (
            self.own_tables, self.attached_tables, self.private_tables, self.mixed_tables))
        return vmpte_part(own, attached, private, mixed, table_bytes)


def vmpte_part(own: Sequence[int], attached: Sequence[int], private: Sequence[int], mixed: Sequence[int],
               table_bytes: dict[str, int]) -> VmptePart:
    """:meth:`GroupResult.vmpte_parts` from a process's tables per level (each
    in LEVEL_NAMES order): the segments' part is what it owns beyond the
    private and mixed tables (and its PGD), and what it links in."""
    segments = priv = mix = 0
    for n, o, a, p, m in zip(LEVEL_NAMES, own, attached, private, mixed):
        if n in VMPTE_LEVELS and n in table_bytes:
            b = table_bytes[n]
            segments += (o - p - m - (n == "pgd")) * b + a * b
            priv += p * b
            mix += m * b
    return VmptePart(segments=segments, private=priv, mixed=mix)


@dataclass(frozen=True)
class VmptePart:
    """A process's VmPTE by what its tables map (they add up to its VmPTE)."""

    segments: int
    """Tables only the shared segments' mappings use, shared ones it links in included."""
    private: int
    """Tables only its private mappings use (text, libraries, heap, stack)."""
    mixed: int
    """Tables that cover both."""

    @property
    def dominant(self) -> str:
        """``private`` or ``segments``: the larger part (``segments`` on a tie)."""
        return "private" if self.private > self.segments else "segments"


class GroupResults(CachedSequence[GroupResult]):
    """Every group's :class:`GroupResult`, kept as columns (one list per
    field, one per level for the table counts) and built as objects when
    read: an estimate of 1,000 groups computes 12 results and shows 30 rows.
    A read-only sequence; equal to any sequence of equal GroupResults."""

    __slots__ = ("names", "counts", "own", "attached", "per_process_bytes", "vmpte_bytes", "private", "mixed")

    def __init__(self, names: list[str], counts: list[int], own: list[list[int]], attached: list[list[int]],
                 per_process_bytes: list[int], vmpte_bytes: list[int], private: list[list[int]] | None = None,
                 mixed: list[list[int]] | None = None) -> None:
        """``own``, ``attached``, ``private`` and ``mixed``: one list per
        level, in LEVEL_NAMES order (``private``/``mixed`` None: all 0)."""
        self.names = names
        self.counts = counts
        self.own = own
        self.attached = attached
        self.per_process_bytes = per_process_bytes
        self.vmpte_bytes = vmpte_bytes
        zeros = [[0] * len(names) for _ in LEVEL_NAMES]
        self.private = private if private is not None else zeros
        self.mixed = mixed if mixed is not None else zeros
        super().__init__(len(names))

    @classmethod
    def of(cls, groups: Iterable[GroupResult]) -> GroupResults:
        """The columns of ready GroupResult objects."""
        gs = list(groups)
        return cls([g.name for g in gs], [g.count for g in gs],
                   [[g.own_tables[name] for g in gs] for name in LEVEL_NAMES],
                   [[g.attached_tables[name] for g in gs] for name in LEVEL_NAMES],
                   [g.per_process_bytes for g in gs], [g.vmpte_bytes for g in gs],
                   [[g.private_tables[name] for g in gs] for name in LEVEL_NAMES],
                   [[g.mixed_tables[name] for g in gs] for name in LEVEL_NAMES])

    def _make(self, i: int) -> GroupResult:
        return GroupResult(
            name=self.names[i], count=self.counts[i],
            own_tables={name: col[i] for name, col in zip(LEVEL_NAMES, self.own)},
            attached_tables={name: col[i] for name, col in zip(LEVEL_NAMES, self.attached)},
            per_process_bytes=self.per_process_bytes[i], vmpte_bytes=self.vmpte_bytes[i],
            private_tables={name: col[i] for name, col in zip(LEVEL_NAMES, self.private)},
            mixed_tables={name: col[i] for name, col in zip(LEVEL_NAMES, self.mixed)})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GroupResults):
            return (self.names, self.counts, self.own, self.attached, self.per_process_bytes, self.vmpte_bytes,
                    self.private, self.mixed) == (
                other.names, other.counts, other.own, other.attached, other.per_process_bytes, other.vmpte_bytes,
                other.private, other.mixed)
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GroupResults({list(self)!r})"

    def vmpte_parts(self, table_bytes: dict[str, int]) -> list[VmptePart]:
        """Every group's :meth:`GroupResult.vmpte_parts`, from the columns
        (no GroupResult made: a JSON estimate of 1,000 groups asks 16 cells)."""
        return [vmpte_part(o, a, p, m, table_bytes)
                for o, a, p, m in zip(zip(*self.own), zip(*self.attached), zip(*self.private), zip(*self.mixed))]

    def own_bytes_total(self) -> int:
        """Bytes of the tables each process owns alone, over every process
        (count x per_process_bytes, summed)."""
        return sum(map(mul, self.counts, self.per_process_bytes))

    def vmpte_total(self) -> int:
        """VmPTE over every process (count x vmpte_bytes, summed)."""
        return sum(map(mul, self.counts, self.vmpte_bytes))


@dataclass(frozen=True)
class SchemeResult:
    """Page tables of the whole workload under one scheme."""

    scheme: str
    tables: dict[str, int]
    """Physical tables per level, shared ones once."""
    shared_tables: dict[str, int]
    """Of ``tables``, those with two or more sharers."""
    physical_bytes: int
    shared_bytes: int
    groups: GroupResults
    mshare_regions: int = 0
    """mshare host mms (one per segment and protection); their PGDs are in ``tables``."""
    notes: tuple[str, ...] = field(default=())
    """Why the scheme shares less than it might (for the report)."""

    @property
    def vmpte_total(self) -> int:
        """VmPTE summed over every process: overstates memory when tables are shared."""
        return self.groups.vmpte_total()
