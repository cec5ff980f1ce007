"""Touched ranges: the pages of a mapping that are faulted in.

A mapping's ``touched`` is a tuple of ``(start, end)`` byte offsets from the
mapping start: sorted, disjoint, non-adjacent, page-aligned.  In a workload
file it is written as the ``touch`` key, either a prefix (``touch: 1.0``,
``touch: 300MiB``) or a list of ranges::

    touch: [0-2M, 4M-6M, 1G-1050M]     # start-end, binary sizes, end exclusive
    touch: [[0, 2MiB], [4MiB, 6MiB]]   # the same as pairs

This module formats and normalises that list (the loader parses it, with
located errors) and compresses it: a real process touches scattered pages,
and ``ptcalc scan`` must write a 300 GiB mapping as a small file.
``coarsen`` merges two ranges whenever that cannot change any page-table
count (see its docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported by the functions that use it (scan), not by the loader
    import numpy as np

from ptcalc.units import GiB, KiB, MiB, TiB

Range = tuple[int, int]

_SHORT_UNITS = (("T", TiB), ("G", GiB), ("M", MiB), ("K", KiB))


def format_offset(n: int) -> str:
    """Shortest exact spelling of a byte offset: the largest of T/G/M/K that
    divides it, else plain bytes.

    >>> format_offset(0), format_offset(2 * MiB), format_offset(GiB + 8 * KiB), format_offset(100)
    ('0', '2M', '1048584K', '100')
    """
    if n == 0:
        return "0"
    for suffix, unit in _SHORT_UNITS:
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def format_range(r: Range) -> str:
    """``start-end``, as the workload format writes one touched range.

    >>> format_range((4 * MiB, 6 * MiB))
    '4M-6M'
    """
    return f"{format_offset(r[0])}-{format_offset(r[1])}"


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, disjoint, non-adjacent ranges covering the same bytes: sort,
    leave out empty ranges, and merge overlapping or adjacent ones.

    >>> merge_ranges([(8, 9), (5, 5), (4, 6), (0, 4), (2, 3)])
    [(0, 6), (8, 9)]
    """
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if lo >= hi:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def normalise(ranges: Iterable[Range], page_size: int) -> tuple[Range, ...]:
    """Round each range outward to ``page_size`` (touching a byte faults its
    page), sort, and merge overlapping or adjacent ranges.

    >>> normalise([(8192, 9000), (0, 4096), (4096, 5000)], 4096)
    ((0, 12288),)
    """
    return tuple(merge_ranges((s // page_size * page_size, -(-e // page_size) * page_size) for s, e in ranges))


def coarsen(starts: np.ndarray, ends: np.ndarray, address: int, offset: int,
            block: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge touched ranges across gaps that add no new ``block``.

    ``starts``/``ends`` are sorted, disjoint byte offsets from the start of a
    mapping at ``address`` with file ``offset``.  A gap between two ranges is
    filled when it lies in the ``block``-sized blocks (PMD_SIZE: what one PTE
    table maps) that hold the last byte before it and the first byte after it,
    both in virtual-address space and in file-offset space.  Then the merged
    ranges touch exactly the same blocks of both spaces, so every table count
    is unchanged: per-process tables at every level (each level's blocks are
    unions of PMD_SIZE blocks), the shared tables of every scheme (keyed by
    VA window or file block; zone boundaries inside a mapping are multiples
    of PMD_SIZE) and mshare's host tree (file blocks).  This holds for the
    segment's page size and for every what-if page size (ranges rounded out
    to 2 MiB or 1 GiB pages touch the same pages).  What it does change is
    the touched *bytes*, i.e. the shmem memory the budget counts.

    >>> M = 1 << 20
    >>> import numpy as np
    >>> s, e = coarsen(np.array([0, M, 5 * M]), np.array([4096, M + 4096, 5 * M + 4096]), 0, 0, 2 * M)
    >>> [(int(a) // 4096, int(b) // 4096) for a, b in zip(s, e)]
    [(0, 257), (1280, 1281)]
    """
    import numpy as np

    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if starts.size <= 1:
        return starts, ends
    gap_lo = ends[:-1]   # first untouched byte of each gap
    gap_hi = starts[1:]  # first touched byte after it

    def no_new_block(base: int) -> np.ndarray:
        return (base + gap_hi) // block - (base + gap_lo - 1) // block <= 1

    merge = no_new_block(address) & no_new_block(offset)
    keep_start = np.concatenate(([True], ~merge))
    keep_end = np.concatenate((~merge, [True]))
    return starts[keep_start], ends[keep_end]


def _block_ranges(starts: np.ndarray, ends: np.ndarray, base: int, size: int, block: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The ``block``-aligned blocks (of the space where the mapping starts at
    ``base``) holding a touched byte, merged, as offsets from the mapping start
    clipped to ``[0, size)``."""
    import numpy as np

    lo = (base + starts) // block
    hi = (base + ends - 1) // block + 1
    first = np.flatnonzero(np.concatenate(([True], lo[1:] > hi[:-1])))
    last = np.concatenate((first[1:] - 1, [lo.size - 1]))
    return np.maximum(lo[first] * block - base, 0), np.minimum(hi[last] * block - base, size)


def intersect_ranges(a_starts: np.ndarray, a_ends: np.ndarray, b_starts: np.ndarray, b_ends: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The intersection of two sorted lists of disjoint ranges (ends exclusive).

    >>> import numpy as np
    >>> s, e = intersect_ranges(np.array([0, 10]), np.array([5, 20]), np.array([3, 12]), np.array([11, 30]))
    >>> s.tolist(), e.tolist()
    ([3, 10, 12], [5, 11, 20])
    """
    import numpy as np

    pos = np.concatenate((a_starts, b_starts, a_ends, b_ends))
    step = np.concatenate((np.ones(a_starts.size + b_starts.size, np.int64),
                           -np.ones(a_ends.size + b_ends.size, np.int64)))
    order = np.lexsort((step, pos))  # at one position, an end (-1) before a start
    pos, depth = pos[order], np.cumsum(step[order])
    opens = np.flatnonzero(depth == 2)
    s, e = pos[opens], pos[opens + 1]
    keep = s < e
    return s[keep], e[keep]


def fill_blocks(starts: np.ndarray, ends: np.ndarray, address: int, offset: int, size: int,
                block: int) -> tuple[np.ndarray, np.ndarray]:
    """Touched ranges filled to every byte whose ``block`` holds a touched byte
    both by virtual address and by file offset, within the mapping (``size``
    bytes at ``address``, file ``offset``).

    The filled ranges touch exactly the same blocks of both spaces, so every
    table count is unchanged (see :func:`coarsen`, whose merged gaps they
    include), and they depend only on which blocks are touched: processes
    that touch other pages of the same blocks get the same ranges.  When
    ``address - offset`` is a multiple of ``block`` the two spaces' blocks
    coincide and every touched block is filled whole.

    >>> M = 1 << 20
    >>> import numpy as np
    >>> s, e = fill_blocks(np.array([M, 5 * M]), np.array([M + 4096, 5 * M + 4096]), 0, 0, 7 * M, 2 * M)
    >>> [(int(a) // M, int(b) // M) for a, b in zip(s, e)]
    [(0, 2), (4, 6)]
    >>> # 1 MiB past a block in VA, at offset 0: a page at 1.5 MiB touches VA block 1 and
    >>> # file block 0, whose common part is [1 MiB, 2 MiB) of the mapping
    >>> s, e = fill_blocks(np.array([M + M // 2]), np.array([M + M // 2 + 4096]), 3 * M, 0, 7 * M, 2 * M)
    >>> [(int(a) // 1024, int(b) // 1024) for a, b in zip(s, e)]
    [(1024, 2048)]
    """
    import numpy as np

    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if starts.size == 0:
        return starts, ends
    va = _block_ranges(starts, ends, address, size, block)
    if (address - offset) % block == 0:
        return va
    return intersect_ranges(*va, *_block_ranges(starts, ends, offset, size, block))


def as_ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[Range, ...]:
    """numpy start/end arrays as a tuple of Python-int pairs."""
    return tuple(zip((int(x) for x in starts), (int(x) for x in ends)))


def touch_value(ranges: Sequence[Range], size: int) -> float | int | list[str]:
    """The value the workload file's ``touch`` key gets for ``ranges``:
    ``1.0`` for the whole mapping, ``0`` for nothing, a size (bytes) for a
    prefix, else the list of ``start-end`` strings.

    >>> touch_value([(0, 4096)], 8192), touch_value([], 8192), touch_value([(4096, 8192)], 8192)
    (4096, 0, ['4K-8K'])
    """
    if not ranges:
        return 0
    if len(ranges) == 1 and ranges[0][0] == 0:
        return 1.0 if ranges[0][1] == size else ranges[0][1]
    return [format_range(r) for r in ranges]
