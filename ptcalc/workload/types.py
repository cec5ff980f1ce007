"""The workload: a host, shared segments, and groups of identical processes.

These types are what the loader produces and what the model, the simulator
and ``measure`` consume.  After loading every value is concrete and
validated: sizes are exact byte counts, ``address: auto`` has been resolved
(``Mapping.auto`` remembers it), touched ranges are page-aligned.

    YAML key                          field                     unit
    --------------------------------  ------------------------  -----------------
    host.memory                       Host.memory               bytes (or None)
    host.arch                         Host.arch                 profile
    host.pti                          Host.pti                  PGD 8 KiB if true
    host.reserved                     Host.reserved             bytes
    host.hugepages                    Host.hugepages            page size -> count
    host.process_overhead             Host.process_overhead     bytes per process
    segments.NAME.size                Segment.size              bytes
    segments.NAME.backing             Segment.backing           shmem|hugetlb|file
    segments.NAME.page_size           Segment.page_size         bytes
    processes[i].count                ProcessGroup.count        processes
    processes[i].private_memory       ProcessGroup.private_memory  bytes
    processes[i].mappings[j].*        Mapping.*                 bytes
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any, Literal

from ptcalc.model.geometry import Arch
from ptcalc.units import GiB, KiB, MiB  # noqa: F401 (GiB: doctests)

Backing = Literal["shmem", "hugetlb", "file"]
Protection = Literal["rw", "r", "none"]
Userfaultfd = Literal["none", "missing", "wp", "minor"]

BACKINGS: tuple[Backing, ...] = ("shmem", "hugetlb", "file")
PROTECTIONS: tuple[Protection, ...] = ("rw", "r", "none")
USERFAULTFD_MODES: tuple[Userfaultfd, ...] = ("none", "missing", "wp", "minor")

DEFAULT_PROCESS_OVERHEAD = 96 * KiB
"""Assumed kernel memory per process besides the modelled page tables: the
tables for its own text, heap and stack (VmPTE of an idle process is 44-48 KiB
on 6.18), a 16 KiB kernel stack (THREAD_SIZE) and ~32 KiB of task, mm, VMA and
file structures."""

DEFAULT_FILE_CACHED_THRESHOLD = 2 * MiB
"""Smallest segment file-cached sharing applies to ("file > X MiB" in the seed
thread leaves X open; 2 MiB is the smallest file a PTE table could serve)."""

MSHARE_VARIANTS = ("v3", "ptshare")


@dataclass(frozen=True)
class ModelOptions:
    """Knobs of the proposals, which the thread and the patch series leave open."""

    file_cached_threshold: int = DEFAULT_FILE_CACHED_THRESHOLD
    mshare_variant: str = "v3"


@dataclass(frozen=True)
class Host:
    memory: int | None
    arch: Arch
    pti: bool = False
    reserved: int = 0
    hugepages: dict[int, int] | None = None
    """Configured hugetlb pools (page size -> pages); None = size them to fit."""
    process_overhead: int = DEFAULT_PROCESS_OVERHEAD
    headroom_percent: int = 10
    """``tight`` below this much free memory, as a percentage of what is available."""

    @property
    def available(self) -> int | None:
        """Memory the workload may use: host memory minus what is reserved."""
        if self.memory is None:
            return None
        return self.memory - self.reserved


@dataclass(frozen=True)
class Segment:
    name: str
    size: int
    backing: Backing
    page_size: int


@dataclass(frozen=True)
class Mapping:
    """One mapping of a segment in every process of a group.

    ``touched`` lists the faulted-in ranges as (start, end) byte offsets from
    the start of the mapping: sorted, disjoint, non-adjacent, page-aligned.
    A ``touch: 0.3`` prefix is the single range ``(0, ceil(0.3 * size))``.
    """

    segment: str
    offset: int
    size: int
    address: int
    protection: Protection = "rw"
    touched: tuple[tuple[int, int], ...] = ()
    auto: bool = False
    """The address was ``auto``: placed by ptcalc, the best case (see resolve_addresses)."""
    userfaultfd: Userfaultfd = "none"
    soft_dirty: bool = False
    """Soft-dirty tracking is in use (clear_refs 4): file-cached sharing gives up."""
    origin: str = ""
    """Key path in the workload file, for messages (``processes[0].mappings[1]``)."""

    @property
    def end(self) -> int:
        return self.address + self.size

    @property
    def touched_bytes(self) -> int:
        return sum(e - s for s, e in self.touched)


MAPPING_FIELDS: tuple[str, ...] = (
    "segment", "offset", "size", "address", "protection", "touched", "auto", "userfaultfd", "soft_dirty",
)
"""Mapping's fields but ``origin``, in order: the columns of ``ProcessGroup.columns()``."""
CODED_FIELDS: tuple[str, ...] = tuple(f for f in MAPPING_FIELDS if f != "address")
"""The fields of a row of ``ProcessGroup.from_codes``' table: all but the address."""


@dataclass(frozen=True)
class ProcessGroup:
    name: str
    count: int
    mappings: tuple[Mapping, ...]
    private_memory: int = 0
    origin: str = ""

    @classmethod
    def from_columns(cls, name: str, count: int, columns: tuple[tuple[Any, ...], ...], private_memory: int = 0,
                     origin: str = "") -> ProcessGroup:
        """A group whose mappings are given as columns, one tuple per field of
        :data:`MAPPING_FIELDS`; mapping j's origin is ``{origin}.mappings[j]``.

        The Mapping objects are built when ``mappings`` is first read (then
        kept, as for any group): ``estimate`` on 100,000 mappings reads only
        the columns (:meth:`columns`), and building the objects would cost
        more than all of its model computation.
        """
        g = object.__new__(cls)
        g.__dict__.update(name=name, count=count, private_memory=private_memory, origin=origin,
                          _columns=columns)
        return g

    @classmethod
    def from_codes(cls, name: str, count: int, table: Sequence[tuple[Any, ...]], codes: tuple[int, ...],
                   addresses: tuple[int, ...], private_memory: int = 0, origin: str = "") -> ProcessGroup:
        """A group whose mapping j is ``table[codes[j]]`` (its fields but the
        address, in :data:`CODED_FIELDS` order) at ``addresses[j]``; origins
        as for :meth:`from_columns`.

        How the loader keeps a generated workload, whose groups map the same
        few mappings: many groups share one table, and the model reads them
        all from it at once (:meth:`coded`); the columns and the Mapping
        objects are built when read.
        """
        g = object.__new__(cls)
        g.__dict__.update(name=name, count=count, private_memory=private_memory, origin=origin,
                          _coded=(table, codes, addresses))
        return g

    def coded(self) -> tuple[Sequence[tuple[Any, ...]], tuple[int, ...], tuple[int, ...]] | None:
        """(table, codes, addresses) of a group made by :meth:`from_codes`, else None."""
        return self.__dict__.get("_coded")

    def columns(self) -> tuple[tuple[Any, ...], ...]:
        """The mappings' fields as columns, in :data:`MAPPING_FIELDS` order."""
        cols = self.__dict__.get("_columns")
        if cols is not None:
            return cols  # type: ignore[no-any-return]
        coded = self.coded()
        if coded is not None:
            table, codes, addresses = coded
            fields = list(zip(*map(table.__getitem__, codes))) or [()] * len(CODED_FIELDS)
            fields.insert(MAPPING_FIELDS.index("address"), addresses)
            cols = self.__dict__["_columns"] = tuple(fields)
            return cols
        return tuple(tuple(map(attrgetter(f), self.mappings)) for f in MAPPING_FIELDS)


class _MappingsFromColumns:
    """``ProcessGroup.mappings`` of a group made by ``from_columns`` or
    ``from_codes``: the Mapping objects, built on first access and stored on the instance (whose
    attribute then shadows this non-data descriptor, as for any group)."""

    def __get__(self, group: ProcessGroup | None, owner: type | None = None) -> Any:
        if group is None:
            return self
        columns = group.columns()
        origins = [f"{group.origin}.mappings[{j}]" for j in range(len(columns[0]))]
        mappings = tuple(map(Mapping, *columns, origins))
        group.__dict__["mappings"] = mappings
        return mappings


# Added after @dataclass, so that it is not taken for the field's default.
ProcessGroup.mappings = _MappingsFromColumns()  # type: ignore[assignment, misc]


@dataclass(frozen=True)
class Workload:
    host: Host
    segments: dict[str, Segment]
    groups: tuple[ProcessGroup, ...]
    name: str | None = None
    source: str = "<workload>"
    options: ModelOptions = field(default_factory=ModelOptions)

    @property
    def arch(self) -> Arch:
        return self.host.arch

    @property
    def process_count(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def title(self) -> str:
        return self.name or self.source

    def page_sizes(self) -> set[int]:
        return {s.page_size for s in self.segments.values()}


def auto_address(offset: int, window_base: int, align: int) -> int:
    """Where ``address: auto`` puts a mapping whose windows start at ``window_base``.

    The best case a careful deployment gets: address congruent to the file
    offset modulo ``align`` (PUD_SIZE, ``Arch.auto_align``: the hugetlb
    PMD-sharing window, 1 GiB on x86-64), in a window of its own.

    >>> hex(auto_address(3 * GiB + 2 * MiB, window_base=1 << 40, align=GiB))
    '0x10000200000'
    """
    return window_base + offset % align


def resolve_addresses(
    group_mappings: list[tuple[Mapping, bool]], arch: Arch, align: int | None = None
) -> list[Mapping]:
    """Give every ``auto`` mapping of one process a concrete address.

    ``group_mappings`` pairs each mapping (address ignored when auto) with
    whether it is auto.  Auto mappings are placed in order, each in the first
    run of ``arch.auto_window``-sized windows (from ``arch.auto_base``) that no
    other mapping of the process touches, at ``offset mod align`` into its
    first window (``align`` defaults to ``arch.auto_align``, PUD_SIZE; the
    window size is a multiple of it).  Raises ValueError when the address
    space runs out.
    """
    addresses = place_addresses(
        [(m.address, m.size, m.offset, auto) for m, auto in group_mappings], arch, align
    )
    return [
        replace(m, address=a, auto=True) if auto else m
        for (m, auto), a in zip(group_mappings, addresses)
    ]


def place_addresses(
    spans: list[tuple[int, int, int, bool]], arch: Arch, align: int | None = None
) -> list[int]:
    """:func:`resolve_addresses` on plain numbers: for each (address, size,
    offset, auto) of one process, its address (explicit ones unchanged;
    ``align`` defaults to ``arch.auto_align``)."""
    win = arch.auto_window
    if align is None:
        align = arch.auto_align
    # Taken windows as sorted, disjoint runs [start, end), adjacent runs merged
    # (merging changes no placement: a run only clashes where it overlaps), so
    # placing n auto mappings side by side costs O(n log n), not O(n^3).
    taken: list[list[int]] = []
    for start, end in sorted(
        {(address // win, -(-(address + size) // win)) for address, size, _, auto in spans if not auto}
    ):
        if taken and start <= taken[-1][1]:
            taken[-1][1] = max(taken[-1][1], end)
        else:
            taken.append([start, end])
    base = arch.auto_base // win
    out: list[int] = []
    for address, size, offset, auto in spans:
        if not auto:
            out.append(address)
            continue
        need = -(-(offset % align + size) // win)
        # The lowest first >= base with [first, first + need) clear of every run.
        first = base
        i = bisect.bisect_right(taken, [first, first])
        if i and taken[i - 1][1] > first:
            i -= 1
        while i < len(taken) and taken[i][0] < first + need:
            first = max(first, taken[i][1])
            i += 1
        address = auto_address(offset, first * win, align)
        if address + size > arch.user_limit:
            raise ValueError(
                f"no room for an auto-placed mapping of {size} bytes below "
                f"{arch.user_limit:#x}: give some mappings explicit addresses"
            )
        # Insert [first, first + need) at i, merging with touching neighbours.
        end = first + need
        if i < len(taken) and taken[i][0] == end:
            end = taken.pop(i)[1]
        if i and taken[i - 1][1] == first:
            taken[i - 1][1] = end
        else:
            taken.insert(i, [first, end])
        out.append(address)
    return out


def place_side_by_side(group: Any, address: Any, size: Any, offset: Any, auto: Any, n_groups: int, arch: Arch,
                       align: int | None = None) -> tuple[Any, list[bool]]:
    """:func:`place_addresses` for many processes at once, on arrays, where
    it is simple: when no explicit mapping of a process blocks the windows
    its auto mappings take side by side from ``arch.auto_base``, first-fit
    places them exactly there, one after another (each from the end of the
    one before).

    One row per mapping, ``group`` its process; rows grouped by process, in
    process order, each process's mappings in their order.  Returns the
    addresses and, per process, whether that held and every auto mapping
    fits below the user limit; the others must be placed by
    :func:`place_addresses`.  Arrays of one :mod:`ptcalc.model.xp` backend.
    """
    from ptcalc.model import xp as _xp

    xp = _xp.namespace_of(address)
    i64 = xp.int64
    if align is None:
        align = arch.auto_align
    win = arch.auto_window
    base = arch.auto_base // win
    need = xp.where(auto, -(-(offset % align + size) // win), 0)
    # each process's auto mappings take windows [base, end)
    end = base + xp.group_sum(group, need, n_groups)
    # windows taken by the auto mappings before a row in its process
    rows = xp.group_sum(group, xp.ones(group.size, dtype=i64), n_groups)
    start = (xp.cumsum(rows) - rows)[group]  # the process's first row
    taken = xp.cumsum(need) - need
    placed = (base + taken - taken[start]) * win + offset % align  # auto_address()
    out = xp.where(auto, placed, address)
    has_auto = end[group] > base
    blocked = ~auto & has_auto & (address // win < end[group]) & (-(-(address + size) // win) > base)
    too_high = auto & (out + size > arch.user_limit)
    bad = xp.group_sum(group, (blocked | too_high).astype(i64), n_groups)
    return out, [b == 0 for b in bad.tolist()]
