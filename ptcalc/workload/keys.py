"""Every key of the workload format, described once: its name, the kind of
value it takes, its default, allowed values and limits, whether it is
required, and what it means in one line.

The loader (:mod:`ptcalc.workload.reader`) takes from here which keys each
section knows, what each value is called in messages, its choices, limits
and defaults; ``ptcalc schema`` (:mod:`ptcalc.workload.schema`) turns it into
a JSON Schema; and a test checks that the key tables of
docs/workload-format.md say the same.  Rules that tie keys together (a
mapping's offset is a multiple of its segment's page size, ``reserved`` is
less than ``memory``, ...) are the reader's; the schema cannot say them.

>>> HOST["memory"].kind, HOST["memory"].minimum, HOST["arch"].default
(<Kind.SIZE: 'size'>, 1, 'x86_64')
>>> [k.name for k in SEGMENT.keys if k.required]
['size']
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ptcalc.model.geometry import ARCHES
from ptcalc.units import KiB  # noqa: F401 (doctests)
from ptcalc.workload.types import (BACKINGS, DEFAULT_FILE_CACHED_THRESHOLD, DEFAULT_PROCESS_OVERHEAD,
                                   MSHARE_VARIANTS, PRIVATE_KINDS, PROTECTIONS, USERFAULTFD_MODES)

MAX_COUNT = 1 << 40
"""Largest process count of a group, instance count and hugetlb pool (2^40)."""
MAX_SIZE = 1 << 57
"""Largest segment, host or per-process size (128 PiB, the 5-level address space)."""
MAX_HEADROOM = 99
"""Largest ``headroom`` percentage."""

DEFAULT_HEADROOM = 10
"""``headroom`` when left out (Host.headroom_percent)."""


class Kind(enum.Enum):
    """What a key's value is written as."""

    SIZE = "size"
    """Bytes: ``300GiB``, ``4096``, ``0x1000`` (binary units, exact)."""
    COUNT = "count"
    """A whole number (decimal digits; quoted is fine)."""
    BOOLEAN = "boolean"
    """``true``/``false`` (YAML 1.1's yes/no/on/off too)."""
    CHOICE = "choice"
    """One of ``choices``."""
    NAME = "name"
    """Non-empty text (a number or boolean is read as written)."""
    SEGMENT_NAME = "segment name"
    """The name of a segment of the workload (or of its instance)."""
    PERCENTAGE = "percentage"
    """A whole percentage, with or without ``%``."""
    PAGE_SIZE = "page size"
    """A size that is a page size of the arch."""
    KERNEL = "kernel"
    """A kernel release: ``6.18``, ``6.1.0-27-amd64``."""
    POOLS = "pools"
    """A mapping of hugetlb page size to page count."""
    ADDRESS = "address"
    """``auto`` or a virtual address (a size, decimal or hex)."""
    TOUCH = "touch"
    """A fraction 0..1, a percentage, a size, or a list of byte ranges."""
    SECTION = "section"
    """A mapping of the keys of ``section``."""
    NAMED = "named"
    """A mapping of names to ``section`` mappings."""
    LIST = "list"
    """A list of ``section`` mappings."""


@dataclass(frozen=True, eq=False)  # (compared as objects: no generated __eq__ to import)
class Key:
    """One key of a section."""

    name: str
    kind: Kind
    meaning: str
    """One line: what the key means (the schema's description)."""
    default: Any = None
    """The value when the key is left out (for ``Kind.SIZE``, bytes); None
    when there is none or it depends on other keys (``default_text`` says)."""
    default_text: str | None = None
    """The default as docs/workload-format.md writes it, when ``default``
    alone does not say it (see :meth:`documented_default`)."""
    required: bool = False
    why: str = ""
    """What ``required key 'K' is missing`` adds, e.g. `` (every segment needs a size)``."""
    what: str = ""
    """What messages call the value (``host memory must be more than 0``)."""
    choices: tuple[str, ...] = ()
    minimum: int = 0
    maximum: int | None = None
    section: Section | None = None
    """The section of a ``SECTION``, ``NAMED`` or ``LIST`` key."""
    non_empty: bool = False
    """A ``NAMED`` or ``LIST`` key needs at least one entry."""

    def documented_default(self) -> str:
        """The default as the docs' key tables write it (backticks aside).

        >>> HOST["process_overhead"].documented_default(), MAPPING["touch"].documented_default()
        ('96KiB', '1.0')
        """
        if self.required:
            return "required"
        if self.default_text is not None:
            return self.default_text
        return spelled(self.default, self.kind)


def spelled(value: Any, kind: Kind) -> str:
    """A default value as a workload file writes it.

    >>> spelled(96 * KiB, Kind.SIZE), spelled(0, Kind.SIZE), spelled(False, Kind.BOOLEAN), spelled((), Kind.LIST)
    ('96KiB', '0', 'false', '[]')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind is Kind.SIZE and isinstance(value, int):
        for unit, shift in (("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
            if value and value % (1 << shift) == 0:
                return f"{value >> shift}{unit}"
        return str(value)
    if kind is Kind.LIST and isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


@dataclass(frozen=True, eq=False)
class Section:
    """A YAML mapping of known keys: the workload itself, ``host``, a segment, ..."""

    name: str
    """How docs/workload-format.md titles its key table (``host``, ``Mappings``)."""
    what: str
    """What messages call it when it is not a mapping: ``a mapping (memory, arch, ...)``."""
    keys: tuple[Key, ...]
    """In the order messages list them (``known keys: ...``) and the docs' tables do."""
    meaning: str

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    @cached_property
    def by_name(self) -> dict[str, Key]:
        return {k.name: k for k in self.keys}

    def __getitem__(self, name: str) -> Key:
        return self.by_name[name]


MAPPING = Section("Mappings", "a mapping (segment, offset, size, ...)", (
    Key("segment", Kind.SEGMENT_NAME, "The segment this maps.", required=True, why=" (which segment this maps)"),
    Key("offset", Kind.SIZE, "Offset into the segment: a multiple of its page size, less than its size.",
        default=0, what="offset"),
    Key("size", Kind.SIZE, "Bytes mapped: a multiple of the page size; offset + size within the segment.",
        default_text="the rest of the segment", minimum=1, maximum=MAX_SIZE, what="a mapping's size"),
    Key("address", Kind.ADDRESS, "auto (placed by ptcalc, the best case) or the virtual address, a multiple of "
        "the page size.", default="auto"),
    Key("protection", Kind.CHOICE, "rw, r or none (PROT_NONE: never faulted in).", default="rw",
        choices=PROTECTIONS, what="protection"),
    Key("touch", Kind.TOUCH, "How much is faulted in: a fraction 0..1, a percentage, a size, or a list of "
        "byte ranges start-end.", default=1.0),
    Key("userfaultfd", Kind.CHOICE, "How the mapping is registered with userfaultfd (wp and minor disable "
        "hugetlb PMD sharing).", default="none", choices=USERFAULTFD_MODES, what="userfaultfd mode"),
    Key("soft_dirty", Kind.BOOLEAN, "Soft-dirty tracking is used on it (file-cached sharing gives up).",
        default=False),
), "A mapping of [offset, offset + size) of a segment at [address, address + size) in every process of the group.")

PRIVATE_MAPPING = Section("Private mappings", "a mapping (kind, size, address, ...)", (
    Key("kind", Kind.CHOICE, "anon (heap, malloc arenas, PGA, guest RAM), file (MAP_PRIVATE: program text, "
        "shared libraries) or stack.", default="anon", choices=PRIVATE_KINDS, what="kind"),
    Key("name", Kind.NAME, "Label in explain's output (text, libraries, heap).", default_text="the kind"),
    Key("size", Kind.SIZE, "Bytes mapped: a multiple of the page size.", required=True,
        why=" (every private mapping needs a size)", minimum=1, maximum=MAX_SIZE, what="a mapping's size"),
    Key("address", Kind.ADDRESS, "auto (where the kernel's top-down mmap puts it; a stack below STACK_TOP) or "
        "the virtual address, a multiple of the page size.", default="auto"),
    Key("page_size", Kind.PAGE_SIZE, "The base page, or PMD_SIZE: an anonymous transparent huge page (which "
        "keeps a deposited PTE table) or a PMD-mapped file folio.", default_text="the base page"),
    Key("touch", Kind.TOUCH, "How much is faulted in: a fraction 0..1, a percentage, a size, or a list of "
        "byte ranges start-end.", default=1.0),
), "One of each process's own (MAP_PRIVATE) mappings: its page tables are the process's own under every scheme.")

GROUP = Section("processes", "a mapping (name, count, private_memory, mappings, private_mappings)", (
    Key("name", Kind.NAME, "Label in the report.", default_text="group N (N counts from 1 in file order)"),
    Key("count", Kind.COUNT, "Processes in the group.", required=True, why=" (how many processes the group has)",
        what="process count", minimum=1, maximum=MAX_COUNT),
    Key("private_memory", Kind.SIZE, "Anonymous memory per process: the heap of the default layout when "
        "private_mappings is absent.", default_text="0, or what the listed anon and stack mappings touch",
        what="private memory"),
    Key("mappings", Kind.LIST, "The group's mappings of shared segments.", default=(), section=MAPPING,
        what="a list of mappings (- segment: NAME ...)"),
    Key("private_mappings", Kind.LIST, "Each process's own mappings (text, libraries, heap, stack); [] for "
        "none.", default_text="the kernel's default layout", section=PRIVATE_MAPPING,
        what="a list of private mappings (- kind: anon ...)"),
), "count identical processes, each with the group's mappings at the same addresses.")

SEGMENT = Section("segments", "a mapping (size, backing, page_size)", (
    Key("size", Kind.SIZE, "Bytes: a multiple of page_size, at most 128 PiB.", required=True,
        why=" (every segment needs a size)", minimum=1, maximum=MAX_SIZE, what="a segment's size"),
    Key("backing", Kind.CHOICE, "shmem (SysV shm, memfd, tmpfs), hugetlb (SHM_HUGETLB, MAP_HUGETLB, hugetlbfs) "
        "or file (page cache of a regular file).", default="shmem", choices=BACKINGS, what="backing"),
    Key("page_size", Kind.PAGE_SIZE, "The segment's page size: a huge page size for hugetlb; the base page or "
        "PMD_SIZE (transparent huge pages) otherwise.", default_text="the base page; PMD_SIZE for hugetlb"),
), "A shared segment: SysV shm, memfd, tmpfs, hugetlbfs or a regular file.")

HOST = Section("host", "a mapping (memory, arch, ...)", (
    Key("memory", Kind.SIZE, "RAM of the host; without it there are no verdicts.", default_text="none",
        minimum=1, maximum=MAX_SIZE, what="host memory"),
    Key("arch", Kind.CHOICE, "The paging geometry: x86-64 4- or 5-level, or arm64 with a 4, 16 or 64 KiB "
        "granule.", default="x86_64", choices=tuple(ARCHES), what="architecture"),
    Key("pti", Kind.BOOLEAN, "Page-table isolation: the PGD is 8 KiB instead of 4 KiB.", default=False),
    Key("reserved", Kind.SIZE, "Memory the workload cannot use (kernel, other services); less than memory.",
        default=0, what="reserved memory"),
    Key("hugepages", Kind.POOLS, "Configured hugetlb pools, page size to page count; absent: sized to fit.",
        default_text="absent", maximum=MAX_COUNT, what="a mapping of page size to page count, e.g. {2MiB: 1024}"),
    Key("process_overhead", Kind.SIZE, "Kernel memory per process other than page tables (kernel stack, task, "
        "mm and VMA structures).",
        default=DEFAULT_PROCESS_OVERHEAD, what="process overhead"),
    Key("headroom", Kind.PERCENTAGE, "Percent of available memory below which a verdict is tight.",
        default=DEFAULT_HEADROOM, maximum=MAX_HEADROOM),
    Key("kernel", Kind.KERNEL, "The kernel release (uname -r): which page-table levels its PageTables counts.",
        default_text="6.14 or later (every level)", what="kernel release"),
), "The machine: its memory, paging geometry and hugetlb pools.")

OPTIONS = Section("options", "a mapping (file_cached_threshold, mshare_variant)", (
    Key("file_cached_threshold", Kind.SIZE, "Smallest segment the file-cached proposal shares tables for.",
        default=DEFAULT_FILE_CACHED_THRESHOLD, what="threshold"),
    Key("mshare_variant", Kind.CHOICE, "v3 (PUD-level sharing in a P4D_SIZE-aligned region) or ptshare "
        "(PTE-level, MAP_SHARED_PT).", default="v3", choices=MSHARE_VARIANTS, what="mshare variant"),
), "Knobs of the proposals that the patch series leave open.")

_SEGMENTS_WHAT = "a mapping of segment names to segments, e.g. sga: {size: 300GiB}"
_PROCESSES_WHAT = "a list of process groups (- count: 1500 ...)"

INSTANCE = Section("instances", "a mapping (name, count, segments, processes)", (
    Key("name", Kind.NAME, "The instance's name: unique, without '/'.", required=True,
        why=" (every instance needs one, e.g. name: pg)"),
    Key("count", Kind.COUNT, "Identical copies of the instance (separate segments, separate processes).",
        default=1, what="count of copies", minimum=1, maximum=MAX_COUNT),
    Key("segments", Kind.NAMED, "The instance's segments.", required=True,
        why=" (an instance has segments of its own)", section=SEGMENT, non_empty=True, what=_SEGMENTS_WHAT),
    Key("processes", Kind.LIST, "The instance's process groups; a mapping names a segment of its own instance.",
        required=True, why=" (the instance's processes that map its segments)", section=GROUP, non_empty=True,
        what=_PROCESSES_WHAT),
), "One instance (or count identical copies) with segments and processes of its own.")

WORKLOAD = Section("workload", "a mapping", (
    Key("name", Kind.NAME, "The report's title (the file name when absent).", default_text="the file name"),
    Key("host", Kind.SECTION, "The host.", default_text="an x86_64 host of unknown memory", section=HOST),
    Key("segments", Kind.NAMED, "The shared segments, by name ({} for none: processes with their own "
        "mappings only).", default_text="required without instances", section=SEGMENT, what=_SEGMENTS_WHAT),
    Key("processes", Kind.LIST, "The process groups.", default_text="required without instances",
        section=GROUP, non_empty=True, what=_PROCESSES_WHAT),
    Key("instances", Kind.LIST, "Instances on the host, each with segments and processes of its own.",
        default_text="none", section=INSTANCE, non_empty=True, what="a list of instances (- name: pg ...)"),
    Key("options", Kind.SECTION, "Knobs of the sharing proposals.", default_text="their defaults",
        section=OPTIONS),
), "One host's workload: the host, shared segments and groups of identical processes (a YAML document).")

WORKLOAD_ALTERNATIVES: tuple[tuple[str, ...], ...] = (("segments", "processes"), ("instances",))
"""A workload has segments and processes, or instances, or all three."""

SECTIONS = (WORKLOAD, HOST, SEGMENT, GROUP, MAPPING, PRIVATE_MAPPING, INSTANCE, OPTIONS)
"""Every section, the workload first."""

__all__ = ["BACKINGS", "DEFAULT_FILE_CACHED_THRESHOLD", "DEFAULT_HEADROOM", "DEFAULT_PROCESS_OVERHEAD", "GROUP",
           "HOST", "INSTANCE", "MAPPING", "MAX_COUNT", "PRIVATE_MAPPING", "MAX_HEADROOM", "MAX_SIZE", "MSHARE_VARIANTS", "OPTIONS",
           "PROTECTIONS", "SECTIONS", "SEGMENT", "USERFAULTFD_MODES", "WORKLOAD", "WORKLOAD_ALTERNATIVES", "Key",
           "Kind", "Section", "spelled"]
