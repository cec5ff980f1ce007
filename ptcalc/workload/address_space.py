"""Where the kernel puts a process's own mappings, and the default process layout.

A process's page tables cover all of its mappings, not only the shared
segment: program text and data, shared libraries, heap, anonymous mmaps,
stack.  When a workload file lists no ``private_mappings`` for a group, the
loader gives every process of it the kernel's default layout
(:func:`default_private_mappings`), with ``private_memory`` as its heap.
``address: auto`` on a private mapping puts it where the kernel's top-down
mmap would (:func:`place_private`).

The layout is the one the kernel builds with address-space randomisation
off (``kernel.randomize_va_space = 0``, or ``setarch -R``): every random
offset below is 0, so it is exact and reproducible.  With ASLR on (the
default) the offsets move whole regions; what that changes in page tables
is at most one PMD table (the stack in a 1 GiB block of its own, the heap in
another) and one PUD table (the mmap area below a 512 GiB boundary) per
process: docs/whole-process.md has the measured figures.

    region               kernel (x86-64)                                    here
    -------------------  -------------------------------------------------  --------------------------
    stack                STACK_TOP = TASK_SIZE_LOW = DEFAULT_MAP_WINDOW;    [stack_top - 132 KiB,
                         randomize_stack_top() subtracts a random offset    stack_top)
    mmap area            arch_pick_mmap_layout() -> mmap_base(): top-down   libraries just below
                         from PAGE_ALIGN(task_size - gap - rnd), gap =      mmap_base; auto private
                         RLIMIT_STACK + stack_guard_gap (+ stack random),   mappings top-down below
                         clamped to [128 MiB, 5/6 task_size]                them
    program              load_elf_binary(): an ET_DYN with an interpreter   the program at
                         at ELF_ET_DYN_BASE (DEFAULT_MAP_WINDOW / 3 * 2)    elf_et_dyn_base
                         + arch_mmap_rnd()
    heap                 mm->brk = end of bss; arch_randomize_brk() moves   right after the program
                         it when randomize_va_space > 1
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from operator import itemgetter

from ptcalc.model.geometry import Arch
from ptcalc.units import KiB, MiB, round_down, round_up
from ptcalc.workload.types import PrivateMapping

RLIMIT_STACK = 8 * MiB
"""_STK_LIM (include/uapi/linux/resource.h): the default stack rlimit."""

STACK_GUARD_PAGES = 256
"""mm/mmap.c: ``stack_guard_gap = 256UL << PAGE_SHIFT``."""

MIN_GAP = 128 * MiB
"""arch/x86/mm/mmap.c mmap_base() ``gap_min = SIZE_128M`` (mm/util.c ``MIN_GAP``
for the generic layout arm64 uses)."""

STACK_SIZE = 132 * KiB
"""The initial stack VMA of a process (``[stack]`` in /proc/PID/maps: the
128 KiB ``setup_arg_pages`` expands it to, plus the page with the arguments
and environment)."""

PROGRAM_SIZE = 8 * MiB
"""The default program image (text, data, bss), all of it touched: 5 PTE
tables from ELF_ET_DYN_BASE on x86-64, as a PostgreSQL 15 backend's 8.7 MiB
program (5.7 MiB touched in 5 blocks, docs/whole-process.md)."""

LIBRARIES_SIZE = 30 * MiB
"""The default shared libraries, ld.so and locale files, counted by what
decides their page tables: the 2 MiB blocks holding touched pages.  A
PostgreSQL 15 backend maps 61 MiB of them and touches 3.8 MiB, in 15 blocks
plus the one the vdso and ld.so share; 30 MiB just below ``mmap_base`` holds
16 blocks on x86-64."""


def stack_top(arch: Arch) -> int:
    """STACK_TOP for a 64-bit task: DEFAULT_MAP_WINDOW (x86-64:
    ``STACK_TOP = TASK_SIZE_LOW``; arm64: ``STACK_TOP_MAX =
    DEFAULT_MAP_WINDOW_64``)."""
    return arch.map_window


def mmap_base(arch: Arch) -> int:
    """Where the top-down mmap area starts: ``mmap_base()`` of
    arch/x86/mm/mmap.c (and mm/util.c) with no randomisation:
    ``PAGE_ALIGN(task_size - clamp(rlimit + guard gap, 128 MiB, task_size / 6 * 5))``.

    >>> from ptcalc.model.geometry import X86_64
    >>> hex(mmap_base(X86_64))
    '0x7ffff7fff000'
    """
    task_size = arch.map_window
    gap = RLIMIT_STACK + STACK_GUARD_PAGES * arch.base_page
    gap = min(max(gap, MIN_GAP), task_size // 6 * 5)
    return round_up(task_size - gap, arch.base_page)


def elf_et_dyn_base(arch: Arch) -> int:
    """Where a position-independent program is loaded: ELF_ET_DYN_BASE
    (x86-64: ``DEFAULT_MAP_WINDOW / 3 * 2``; arm64: ``2 * DEFAULT_MAP_WINDOW_64
    / 3``), page-aligned down (load_elf_binary's ``ELF_PAGESTART``).

    >>> from ptcalc.model.geometry import X86_64
    >>> hex(elf_et_dyn_base(X86_64))
    '0x555555554000'
    """
    return round_down(arch.map_window // 3 * 2, arch.base_page)


def default_private_mappings(arch: Arch, private_memory: int) -> tuple[PrivateMapping, ...]:
    """The kernel's default layout of one process (see the module docstring):
    the program at ELF_ET_DYN_BASE, ``private_memory`` as its heap right
    after it, the shared libraries just below ``mmap_base`` and the stack at
    STACK_TOP; everything touched.

    >>> from ptcalc.model.geometry import X86_64
    >>> [(m.name, hex(m.address), m.size // KiB) for m in default_private_mappings(X86_64, 3 * MiB)]
    [('program', '0x555555554000', 8192), ('heap', '0x555555d54000', 3072), ('libraries', '0x7ffff61ff000', 30720), ('stack', '0x7ffffffde000', 132)]
    """
    page = arch.base_page
    out = []
    program = elf_et_dyn_base(arch)
    size = round_up(PROGRAM_SIZE, page)
    out.append(_whole("file", program, size, page, "program"))
    if private_memory > 0:
        heap = round_up(private_memory, page)
        out.append(_whole("anon", program + size, heap, page, "heap"))
    libraries = round_up(LIBRARIES_SIZE, page)
    out.append(_whole("file", mmap_base(arch) - libraries, libraries, page, "libraries"))
    stack = round_up(STACK_SIZE, page)
    out.append(_whole("stack", stack_top(arch) - stack, stack, page, "stack"))
    return tuple(out)


def _whole(kind: str, address: int, size: int, page: int, name: str) -> PrivateMapping:
    return PrivateMapping(kind, address, size, page, ((0, size),), name=name,  # type: ignore[arg-type]
                          origin="default layout")


def place_private(arch: Arch, taken: Iterable[tuple[int, int]], wanted: Sequence[tuple[str, int, int]]
                  ) -> list[int]:
    """Addresses for auto private mappings of one process, as the kernel's
    top-down allocator gives them in this order (``arch_get_unmapped_area_topdown``
    -> ``vm_unmapped_area`` with VM_UNMAPPED_AREA_TOPDOWN: the highest gap
    below the limit that fits).

    ``taken``: [start, end) of every mapping already placed in the process.
    ``wanted``: (kind, size, align) per auto mapping, in order; a stack goes
    below STACK_TOP, anything else below ``mmap_base``; ``align`` is the
    page size (PMD_SIZE for a transparent huge page mapping: anonymous
    mappings of PMD multiples are PMD-aligned, ``thp_get_unmapped_area``).
    Raises ValueError when no gap fits.

    >>> from ptcalc.model.geometry import X86_64
    >>> [hex(a) for a in place_private(X86_64, [], [("anon", 4 * MiB, 2 * MiB), ("anon", 4096, 4096)])]
    ['0x7ffff7a00000', '0x7ffff7ffe000']
    """
    spans = sorted(taken)
    out = []
    for kind, size, align in wanted:
        limit = stack_top(arch) if kind == "stack" else mmap_base(arch)
        address = highest_gap(spans, size, align, limit, arch.base_page)
        if address is None:
            raise ValueError(f"no gap of {size} bytes below {limit:#x} for an auto {kind} mapping")
        out.append(address)
        spans.append((address, address + size))
        spans.sort()
    return out


def highest_gap(spans: list[tuple[int, int]], size: int, align: int, limit: int, low: int, phase: int = 0
                ) -> int | None:
    """The highest start of ``size`` bytes that is ``phase`` modulo ``align``,
    ends at or below ``limit``, starts at or above ``low`` and is clear of
    every span (sorted by start; they may overlap, or one lie inside
    another): ``vm_unmapped_area`` with VM_UNMAPPED_AREA_TOPDOWN,
    ``align_mask`` and ``align_offset``.

    >>> hex(highest_gap([(0x7ffff0000000, 0x7ffff8000000)], 6 << 20, 2 << 20, 0x7ffff7fff000, 4096))
    '0x7fffefa00000'
    >>> highest_gap([(0, 100), (10, 20)], 150, 1, 200, 0) is None  # [20, 200) is not free: (0, 100) covers it
    True
    """
    # spans starting at or above the limit are passed over; the others are
    # coalesced first, so that a gap above one span is not taken for free
    # while an earlier, longer span still covers it
    spans = coalesce(spans[:bisect_left(spans, limit, key=itemgetter(0))], 1)
    hi = limit
    for start, end in reversed(spans):
        if end < hi:
            candidate = round_down(hi - size - phase, align) + phase
            if candidate >= end and candidate >= low:
                return candidate
        hi = min(hi, start)
    candidate = round_down(hi - size - phase, align) + phase
    return candidate if candidate >= low else None


def coalesce(spans: Iterable[tuple[int, int]], need: int) -> list[tuple[int, int]]:
    """``spans`` sorted, with every two that overlap or leave a gap smaller
    than ``need`` between them made one: :func:`highest_gap` finds the same
    place for anything of ``need`` bytes or more, passing fewer spans.

    >>> coalesce([(30, 40), (0, 10), (12, 20), (5, 8)], 4)
    [(0, 20), (30, 40)]
    """
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start - out[-1][1] < need:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def add_span(spans: list[tuple[int, int]], span: tuple[int, int], need: int) -> None:
    """Insert ``span`` into coalesced ``spans`` (:func:`coalesce`), keeping them so.

    >>> s = [(0, 10), (30, 40)]; add_span(s, (12, 25), 4); s
    [(0, 25), (30, 40)]
    """
    i = bisect_left(spans, span)
    start, end = span
    j = i
    if i and start - spans[i - 1][1] < need:  # joins the one before
        i -= 1
        start, end = spans[i][0], max(end, spans[i][1])
    while j < len(spans) and spans[j][0] - end < need:  # and those after
        end = max(end, spans[j][1])
        j += 1
    spans[i:j] = [(start, end)]


__all__ = ["LIBRARIES_SIZE", "MIN_GAP", "PROGRAM_SIZE", "RLIMIT_STACK", "STACK_GUARD_PAGES", "STACK_SIZE",
           "add_span", "coalesce", "default_private_mappings", "elf_et_dyn_base", "highest_gap", "mmap_base", "place_private", "stack_top"]
