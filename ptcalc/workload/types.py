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
    host.kernel                       Host.kernel               (major, minor)
    segments.NAME.size                Segment.size              bytes
    segments.NAME.backing             Segment.backing           shmem|hugetlb|file
    segments.NAME.page_size           Segment.page_size         bytes
    processes[i].count                ProcessGroup.count        processes
    processes[i].private_memory       ProcessGroup.private_memory  bytes
    processes[i].mappings[j].*        Mapping.*                 bytes
    processes[i].private_mappings[j]  PrivateMapping            bytes

A group's mappings are one :class:`Mappings`: a table of distinct
:class:`MappingSpec` (everything but the address), a code into it, an
address and an ``auto`` flag per mapping.  It reads as the tuple of
:class:`Mapping` objects it stands for, and builds them only when read; a
group built by hand from Mapping objects gets one too.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from typing import Any, Literal, TypeVar

from ptcalc.model.geometry import Arch
from ptcalc.sequences import LazySequence
from ptcalc.units import GiB, KiB, MiB  # noqa: F401 (GiB: doctests)

Backing = Literal["shmem", "hugetlb", "file"]
Protection = Literal["rw", "r", "none"]
Userfaultfd = Literal["none", "missing", "wp", "minor"]
PrivateKind = Literal["anon", "file", "stack"]

BACKINGS: tuple[Backing, ...] = ("shmem", "hugetlb", "file")
PRIVATE_KINDS: tuple[PrivateKind, ...] = ("anon", "file", "stack")
"""What a process's own (MAP_PRIVATE) mapping holds: anonymous memory (heap,
malloc arenas, a PGA, guest RAM), a private file mapping (program text and
data, shared libraries: page-cache pages, private page tables), or the stack."""
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
    kernel: tuple[int, int] | None = None
    """``host.kernel`` (major, minor): which levels its PageTables counts
    (``ptcalc.model.accounting``); None: the latest accounting."""

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


class _Span:
    """What a mapping at ``[address, address + size)`` with ``touched``
    ranges (relative to its start) says of itself."""

    address: int
    size: int
    touched: tuple[tuple[int, int], ...]

    @property
    def end(self) -> int:
        return self.address + self.size

    @property
    def touched_bytes(self) -> int:
        return sum(e - s for s, e in self.touched)


@dataclass(frozen=True)
class Mapping(_Span):
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



T = TypeVar("T")
_DEFAULTS: dict[type, dict[str, Any]] = {}


def made(cls: type[T], **values: Any) -> T:
    """``cls(**values)`` for a frozen dataclass that has neither a
    ``__post_init__`` nor a default factory (Mapping; explain's Finding,
    MappingExplain, ZoneSpan), without the generated ``__init__``, which sets
    each field through ``object.__setattr__`` (a third of the time; a large
    explanation makes 100,000 of each): ``values`` over the defaults as the instance's
    ``__dict__`` -- the same object.  Every field without a default must be
    in ``values``; a name that is not a field must not."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        fs = fields(cls)  # type: ignore[arg-type]
        assert all(f.default_factory is MISSING for f in fs) and not hasattr(cls, "__post_init__")
        defaults = _DEFAULTS[cls] = {f.name: f.default for f in fs}
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", values if len(values) == len(defaults) else {**defaults, **values})
    return obj


@dataclass(frozen=True)
class MappingSpec:
    """What a mapping maps, everything but where: its segment, offset and
    size, protection, touched ranges (relative to the mapping's start) and
    flags.  :class:`Mappings` keeps each distinct one once."""

    segment: str
    offset: int
    size: int
    protection: Protection = "rw"
    touched: tuple[tuple[int, int], ...] = ()
    userfaultfd: Userfaultfd = "none"
    soft_dirty: bool = False

    @classmethod
    def of(cls, m: Mapping) -> MappingSpec:
        """``m`` without its address (and origin)."""
        return cls(m.segment, m.offset, m.size, m.protection, m.touched, m.userfaultfd, m.soft_dirty)


class SpecTable(LazySequence[MappingSpec]):
    """Distinct :class:`MappingSpec` kept as columns, one per field -- the
    integers as int64 arrays (``array('q')``: 8 bytes a value, not a Python
    int's 40; every size and offset is at most MAX_SIZE, 2**57) --
    (``touched`` as its ranges end to end: spec i's are ``touch_start`` and
    ``touch_end`` from ``touch_first[i]`` to ``touch_first[i + 1]``).  The
    loader's table of a document's mappings: a file of 100,000 different
    mappings is read column by column into it, and the model gathers each
    field from the columns (:meth:`ptcalc.model.layout.Rows.of`); a
    MappingSpec is built only when something reads one.

    >>> t = SpecTable.of([MappingSpec("sga", 0, 1 << 30, touched=((0, 4096), (8192, 12288)))])
    >>> len(t), t[0].touched, t.size.tolist()
    (1, ((0, 4096), (8192, 12288)), [1073741824])
    """

    __slots__ = ("segment", "offset", "size", "protection", "userfaultfd", "soft_dirty", "touch_first",
                 "touch_start", "touch_end")

    def __init__(self) -> None:
        self.segment: list[str] = []
        self.offset: array[int] = array("q")
        self.size: array[int] = array("q")
        self.protection: list[str] = []
        self.userfaultfd: list[str] = []
        self.soft_dirty: list[bool] = []
        self.touch_first: array[int] = array("q", [0])
        self.touch_start: array[int] = array("q")
        self.touch_end: array[int] = array("q")

    @classmethod
    def of(cls, specs: Sequence[MappingSpec]) -> SpecTable:
        """``specs`` as a table (itself if it is one)."""
        if isinstance(specs, SpecTable):
            return specs
        t = cls()
        for s in specs:
            t.append(s)
        return t

    def append(self, s: MappingSpec) -> None:
        self.segment.append(s.segment)
        self.offset.append(s.offset)
        self.size.append(s.size)
        self.protection.append(s.protection)
        self.userfaultfd.append(s.userfaultfd)
        self.soft_dirty.append(s.soft_dirty)
        self.touch_start.extend(a for a, _ in s.touched)
        self.touch_end.extend(b for _, b in s.touched)
        self.touch_first.append(len(self.touch_start))

    def add(self, segment: str, offset: int, size: int, protection: str, touch_start: Sequence[int],
            touch_end: Sequence[int], userfaultfd: str, soft_dirty: bool) -> None:
        """:meth:`append` of the spec with these fields (``touched`` as its
        starts and ends), without making it."""
        self.segment.append(segment)
        self.offset.append(offset)
        self.size.append(size)
        self.protection.append(protection)
        self.userfaultfd.append(userfaultfd)
        self.soft_dirty.append(soft_dirty)
        self.touch_start.extend(touch_start)
        self.touch_end.extend(touch_end)
        self.touch_first.append(len(self.touch_start))

    def renamed(self, segment: list[str]) -> SpecTable:
        """The same specs, each of its own segment in ``segment`` (an instance's copy)."""
        t = SpecTable()
        for name in self.__slots__:
            setattr(t, name, getattr(self, name))
        t.segment = segment
        return t

    def touched(self, i: int) -> tuple[tuple[int, int], ...]:
        a, b = self.touch_first[i], self.touch_first[i + 1]
        return tuple(zip(self.touch_start[a:b], self.touch_end[a:b]))

    def __len__(self) -> int:
        return len(self.size)

    def _make(self, index: int) -> MappingSpec:
        return MappingSpec(self.segment[index], self.offset[index], self.size[index],
                           self.protection[index], self.touched(index),  # type: ignore[arg-type]
                           self.userfaultfd[index], self.soft_dirty[index])  # type: ignore[arg-type]


MAPPING_FIELDS: tuple[str, ...] = (
    "segment", "offset", "size", "address", "protection", "touched", "auto", "userfaultfd", "soft_dirty",
)
"""Mapping's fields but ``origin``, in order: the columns of ``ProcessGroup.columns()``."""


@dataclass(frozen=True, eq=False, repr=False)
class Mappings(LazySequence[Mapping]):
    """A process group's mappings, kept as columns: mapping j is
    ``specs[codes[j]]`` at ``addresses[j]`` (``auto[j]``: placed by ptcalc).

    The one representation of a group's mappings (``ProcessGroup.mappings``
    is always one).  It reads as the tuple of :class:`Mapping` objects it
    stands for -- indexing, iteration, ``len``, ``==`` with a tuple -- and
    builds them only when they are read: the loader keeps a generated
    workload's 100,000 mappings as codes into one table of its few hundred
    distinct specs (``specs``, a tuple shared by every group of the
    document), and the model gathers each field from that table
    (:meth:`ptcalc.model.layout.Rows.of`).

    Mapping j's ``origin`` is ``origins[j]`` when given, else
    ``{origin}[{j}]`` (``processes[0].mappings[3]``), else ``""``.

    >>> s = MappingSpec("sga", 0, 1 << 30, touched=((0, 1 << 30),))
    >>> ms = Mappings((s,), (0, 0), (1 << 40, 1 << 41), (True, False), "processes[0].mappings")
    >>> len(ms), ms[1].address == 1 << 41, ms[1].origin
    (2, True, 'processes[0].mappings[1]')
    >>> ms == tuple(ms) and Mappings.of(tuple(ms)) == ms
    True
    """

    specs: Sequence[MappingSpec]
    """A tuple, or the loader's :class:`SpecTable`."""
    codes: tuple[int, ...]
    addresses: tuple[int, ...]
    auto: tuple[bool, ...]
    origin: str = ""
    origins: tuple[str, ...] | None = None

    @classmethod
    def of(cls, mappings: Sequence[Mapping]) -> Mappings:
        """``mappings`` as a Mappings (itself if it is one): each distinct
        spec once, in order of first use."""
        if isinstance(mappings, Mappings):
            return mappings
        code_of: dict[MappingSpec, int] = {}
        codes = tuple(code_of.setdefault(MappingSpec.of(m), len(code_of)) for m in mappings)
        origins = tuple(m.origin for m in mappings)
        return cls(tuple(code_of), codes, tuple(m.address for m in mappings), tuple(m.auto for m in mappings),
                   origins=origins if any(origins) else None)

    def origin_of(self, j: int) -> str:
        if self.origins is not None:
            return self.origins[j]
        return f"{self.origin}[{j}]" if self.origin else ""

    @cached_property
    def objects(self) -> tuple[Mapping, ...]:
        """The Mapping objects, built on first use."""
        specs, out = self.specs, []
        if isinstance(specs, SpecTable):  # from the columns, without a MappingSpec each
            seg, off, size, prot, uffd, soft, touched = (specs.segment, specs.offset, specs.size, specs.protection,
                                                         specs.userfaultfd, specs.soft_dirty, specs.touched)
            origin_of = self.origin_of
            return tuple(made(Mapping, segment=seg[c], offset=off[c], size=size[c], address=address,
                              protection=prot[c], touched=touched(c), auto=auto, userfaultfd=uffd[c],
                              soft_dirty=soft[c], origin=origin_of(j))
                         for j, (c, address, auto) in enumerate(zip(self.codes, self.addresses, self.auto)))
        for j, (code, address, auto) in enumerate(zip(self.codes, self.addresses, self.auto)):
            s = specs[code]
            out.append(Mapping(s.segment, s.offset, s.size, address, s.protection, s.touched, auto, s.userfaultfd,
                               s.soft_dirty, self.origin_of(j)))
        return tuple(out)

    def columns(self) -> tuple[tuple[Any, ...], ...]:
        """The fields as columns, in :data:`MAPPING_FIELDS` order."""
        if not self.codes:
            return ((),) * len(MAPPING_FIELDS)
        specs = self.specs
        if isinstance(specs, SpecTable):
            codes = self.codes

            def col(values: Sequence[Any]) -> tuple[Any, ...]:
                return tuple(map(values.__getitem__, codes))

            return (col(specs.segment), col(specs.offset), col(specs.size), self.addresses, col(specs.protection),
                    tuple(map(specs.touched, codes)), self.auto, col(specs.userfaultfd), col(specs.soft_dirty))
        rows = map(specs.__getitem__, self.codes)
        segment, offset, size, protection, touched, uffd, soft_dirty = zip(*(
            (s.segment, s.offset, s.size, s.protection, s.touched, s.userfaultfd, s.soft_dirty) for s in rows))
        return segment, offset, size, self.addresses, protection, touched, self.auto, uffd, soft_dirty

    def __len__(self) -> int:
        return len(self.codes)

    def _make(self, index: int) -> Mapping:
        return self.objects[index]

    def __iter__(self) -> Iterator[Mapping]:
        return iter(self.objects)

    def __add__(self, other: Sequence[Mapping]) -> tuple[Mapping, ...]:
        """Concatenation, as of the tuple (``group.mappings + (m,)``)."""
        if isinstance(other, (tuple, Mappings)):
            return self.objects + tuple(other)
        return NotImplemented

    def __radd__(self, other: Sequence[Mapping]) -> tuple[Mapping, ...]:
        if isinstance(other, tuple):
            return other + self.objects
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mappings):
            if (self.specs is other.specs and self.codes == other.codes and self.addresses == other.addresses
                    and self.auto == other.auto and self.origin == other.origin
                    and self.origins == other.origins):
                return True
            return self.objects == other.objects
        if isinstance(other, tuple):
            return self.objects == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.objects)  # as the tuple it equals

    def __repr__(self) -> str:
        return repr(self.objects)


@dataclass(frozen=True)
class PrivateMapping(_Span):
    """One of a process's own mappings (MAP_PRIVATE): its page tables are the
    process's own under every scheme.

    ``page_size`` is the base page, or PMD_SIZE: for ``anon`` an anonymous
    transparent huge page mapped by a PMD entry, which keeps a deposited PTE
    table under it (``pgtable_trans_huge_deposit``, mm/huge_memory.c); for
    ``file`` a PMD-mapped page-cache folio (``do_set_pmd``, no deposit on
    x86-64 and arm64: ``arch_needs_pgtable_deposit()`` is false).  ``touched``
    is as for :class:`Mapping`: ranges relative to the start.
    """

    kind: PrivateKind
    address: int
    size: int
    page_size: int
    touched: tuple[tuple[int, int], ...] = ()
    auto: bool = False
    """The address was ``auto``: placed where the kernel's top-down mmap would put it."""
    name: str = ""
    """A label (``text``, ``libraries``, ``heap``) for reports."""
    origin: str = ""
    """Key path in the workload file (``processes[0].private_mappings[2]``), or
    ``default layout`` for the mappings of the kernel's default process layout."""



@dataclass(frozen=True)
class ProcessGroup:
    """``count`` identical processes, each with ``mappings`` at the same addresses.

    ``mappings`` may be given as any sequence of :class:`Mapping`; it is
    always kept as :class:`Mappings` (which reads as that tuple).
    ``private_mappings`` are each process's own mappings (text, libraries,
    heap, stack): the loader lists the kernel's default layout
    (:mod:`ptcalc.workload.address_space`) when a file lists none;
    ``default_layout`` says so.  A group built by hand has none unless given.
    """

    name: str
    count: int
    mappings: Sequence[Mapping]
    private_memory: int = 0
    origin: str = ""
    private_mappings: tuple[PrivateMapping, ...] = ()
    default_layout: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.mappings, Mappings):
            # the documented way for a frozen dataclass to normalise a field
            object.__setattr__(self, "mappings", Mappings.of(self.mappings))

    def columns(self) -> tuple[tuple[Any, ...], ...]:
        """The mappings' fields as columns, in :data:`MAPPING_FIELDS` order."""
        return Mappings.of(self.mappings).columns()


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


# Compatibility: address placement lives in ptcalc.workload.placement.
from ptcalc.workload.placement import (auto_address, place_addresses, place_side_by_side,  # noqa: E402, F401
                                       resolve_addresses)
