"""Which pages of a virtual range have page-table entries: /proc/PID/pagemap, fast.

``ptcalc scan`` needs, for every shared mapping of every process, the runs of
pages that have an entry in the page tables.  Two ways to ask the kernel:

    kernel        how (fd: /proc/PID/pagemap, O_RDONLY)         what crosses into user space
    ------------  --------------------------------------------  -----------------------------------
    6.7+          ioctl(PAGEMAP_SCAN) for the pages that are    24 bytes per *run* of pages
                  PAGE_IS_PRESENT or PAGE_IS_SWAPPED            (struct page_region)
    any           pread() of the 8-byte entries, 1 MiB at a     8 bytes per *page*, then one numpy
                  time; bit 63 (present) or 62 (swapped)        pass over the high bytes

Both report the same entries (this module's tests check it on the running
kernel), entry by entry, as they are in the page tables:

    page-table entry (x86-64)                 pagemap entry (read)     PAGEMAP_SCAN category    counted
    ----------------------------------------  -----------------------  -----------------------  -------
    present PTE, the shared zero page too     bit 63 PM_PRESENT        PAGE_IS_PRESENT           yes
    swap PTE                                  bit 62 PM_SWAP           PAGE_IS_SWAPPED           yes
    migration, device-private/exclusive PTE   bit 62 PM_SWAP           PAGE_IS_SWAPPED           yes
    PTE marker (uffd-wp, guard, poison)       bit 62 PM_SWAP           PAGE_IS_SWAPPED           yes
    PMD-mapped THP (present or migrating)     63 / 62 on all 512       one region, PAGE_IS_HUGE  whole page
    hugetlb page, present                     63 on every 4 KiB entry  one region, PAGE_IS_HUGE  whole page
    hugetlb migration entry or marker         nothing (!)              PAGE_IS_SWAPPED           ioctl only
    none PTE (in a PTE table, or no table)    nothing                  not reported              no
    VM_PFNMAP mapping, no mapping at all      nothing                  not reported              no

"Counted" is what ptcalc calls touched: a non-none entry, which needs its
table.  A PTE table whose entries are all none (zapped by MADV_DONTNEED or a
partial munmap, not yet freed) still exists, and neither interface shows
it: both report entries, not tables.

Kernel sources (fs/proc/task_mmu.c): the read side is pagemap_read() ->
pagemap_pmd_range() / pte_to_pagemap_entry() (``is_swap_pte()``, i.e. not
none and not present, sets PM_SWAP) and pagemap_hugetlb_range() (only
``pte_present()`` sets a bit); the ioctl is do_pagemap_scan() ->
pagemap_scan_pmd_entry() / pagemap_page_category() (``is_swap_pte()`` ->
PAGE_IS_SWAPPED, guard markers also PAGE_IS_GUARD, commit "fs/proc: extend
the PAGEMAP_SCAN ioctl to report guard regions"), pagemap_scan_thp_entry() /
pagemap_thp_category() and pagemap_scan_hugetlb_entry() /
pagemap_hugetlb_category().  A hole (no table, no VMA) goes to
pagemap_scan_pte_hole(), which reports only VMA categories (none asked for
here); VM_PFNMAP VMAs are skipped by pagemap_scan_test_walk().

The ioctl is read-only as used here: ``flags`` is 0, never
PM_SCAN_WP_MATCHING (which would write-protect the matched pages).

    function                    gives
    --------------------------  ---------------------------------------------------------
    present_ranges(fd, s, e)    [(start, end), ...] byte addresses of the runs of entries
    present_arrays(fd, s, e)    the same as two int64 numpy arrays
    iter_present(fd, s, e)      the same in chunks (bounded memory for huge mappings)
    scan_regions(fd, s, e)      raw struct page_region records with categories (ioctl only)
    touched_cells(fd, s, e, o)  the 2 MiB blocks (cells) holding an entry, one ioctl each (ioctl only)
    first_entries(fd, ss, es)   per range, its first page with an entry (or -1), one ioctl each (ioctl only)
    entry_runs(data)            runs of entries of pagemap bytes (the fallback's parser)
    pagemap_scan_supported(fd)  whether this kernel has PAGEMAP_SCAN (probed once)

Every function takes ``method``: ``"auto"`` (the ioctl where the kernel has it,
else the read), ``"ioctl"`` or ``"read"`` (to force one, e.g. in tests).  A
process that exits while it is read gives ``OSError(ESRCH)`` from either.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import struct
import sys
from collections.abc import Iterator
from typing import Literal

import numpy as np

Method = Literal["auto", "ioctl", "read"]
METHODS: tuple[Method, ...] = ("auto", "ioctl", "read")

PAGE_SIZE = mmap.PAGESIZE
"""pagemap has one entry per PAGE_SIZE page of the address space (4 KiB on x86-64)."""

PAGEMAP_ENTRY_BYTES = 8
"""Documentation/admin-guide/mm/pagemap.rst: one 64-bit entry per page."""

PM_SWAP = 1 << 62
"""fs/proc/task_mmu.c PM_SWAP: the entry is a swap, migration or marker entry."""

PM_PRESENT = 1 << 63
"""fs/proc/task_mmu.c PM_PRESENT: the entry maps a page."""

# include/uapi/linux/fs.h (Linux 6.7, "fs/proc/task_mmu: implement IOCTL to get
# and optionally clear info about PTEs"): categories of struct page_region.
PAGE_IS_WPALLOWED = 1 << 0
PAGE_IS_WRITTEN = 1 << 1
PAGE_IS_FILE = 1 << 2
PAGE_IS_PRESENT = 1 << 3
PAGE_IS_SWAPPED = 1 << 4
PAGE_IS_PFNZERO = 1 << 5
PAGE_IS_HUGE = 1 << 6
PAGE_IS_SOFT_DIRTY = 1 << 7
PAGE_IS_GUARD = 1 << 8  # 6.15; an older kernel refuses it (EINVAL), so it is never asked for here
PM_SCAN_WP_MATCHING = 1 << 0  # write-protect what matched: never used here
PM_SCAN_CHECK_WPASYNC = 1 << 1

TOUCHED = PAGE_IS_PRESENT | PAGE_IS_SWAPPED
"""Any of these makes a page touched (``category_anyof_mask``): every non-none entry."""

PM_SCAN_ARG = struct.Struct("=12Q")
"""struct pm_scan_arg, twelve __u64 in this order (include/uapi/linux/fs.h):
size, flags, start, end, walk_end, vec, vec_len, max_pages,
category_inverted, category_mask, category_anyof_mask, return_mask.
do_pagemap_scan() -> pagemap_scan_get_args() refuses any other ``size`` (EINVAL)."""

PM_SCAN_WALK_END_OFFSET = 4 * 8
"""Byte offset of ``walk_end``, the one field the kernel writes back."""

PAGE_REGION = np.dtype([("start", "=u8"), ("end", "=u8"), ("categories", "=u8")])
"""struct page_region: start, end (exclusive) and categories, three __u64 (24 bytes)."""


def _iowr(kind: str, nr: int, size: int) -> int:
    """_IOWR() of include/uapi/asm-generic/ioctl.h: dir (read|write = 3) << 30 |
    size << 16 | type << 8 | nr.  x86, arm64 and riscv use this layout;
    alpha, mips, parisc, powerpc and sparc do not (they get the read fallback).

    >>> hex(_iowr("f", 16, 96))
    '0xc0606610'
    """
    return (3 << 30) | (size << 16) | (ord(kind) << 8) | nr


PAGEMAP_SCAN = _iowr("f", 16, PM_SCAN_ARG.size)
"""#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg) (include/uapi/linux/fs.h)."""

_GENERIC_IOCTL = not os.uname().machine.startswith(("alpha", "mips", "parisc", "ppc", "powerpc", "sparc"))

DEFAULT_VEC_LEN = 1 << 16
"""Regions per ioctl call (1.5 MiB of struct page_region).  The kernel fills
them 512 at a time (pagemap_scan_init_bounce_buffer(): PAGEMAP_WALK_SIZE >>
PAGE_SHIFT) and returns when they are all used or the range is walked."""

READ_CHUNK_ENTRIES = 1 << 17
"""Entries per pread() of the fallback: 1 MiB of entries, 512 MiB of address
space.  The numpy pass then reads what the kernel just wrote while it is
still in the cache: 13 ns a page in all here (6.18, a 2 GiB mapping), against
15-17 ns with 4-8 MiB reads and 16-18 ns with 128-512 KiB ones; the kernel's
share, pagemap_read() alone, is 11 ns."""

_HIGH_BYTE = 7 if sys.byteorder == "little" else 0
"""Bits 56-63 of a native u64 entry; PM_SWAP and PM_PRESENT are its top two bits."""

_supported: bool | None = None


# --- the fallback's parser -----------------------------------------------------------------


def entry_runs(data: bytes | bytearray | memoryview | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of touched entries (bit 63 or 62 set) in pagemap data: start and
    end indices (ends exclusive) of the entries, as int64 arrays.

    Every other bit (the PFN or swap offset 0-54, soft-dirty 55, exclusive 56,
    uffd-wp 57, guard region 58, file 61) is ignored.

    >>> e = struct.pack("=6Q", 1 << 63 | 42, 1 << 62, 0, 1 << 61 | 1 << 56 | 7, 1 << 63, 1 << 55)
    >>> [a.tolist() for a in entry_runs(e)]
    [[0, 4], [2, 5]]
    """
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    if raw.size % PAGEMAP_ENTRY_BYTES:
        raise ValueError(f"pagemap data of {raw.size} bytes is not whole 8-byte entries")
    touched = raw[_HIGH_BYTE::PAGEMAP_ENTRY_BYTES] >= 0x40  # bit 62 or 63 of the entry
    edges = np.flatnonzero(np.diff(touched, prepend=False, append=False))  # bool diff: not_equal
    return edges[0::2].astype(np.int64), edges[1::2].astype(np.int64)


def join_runs(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint runs with the ones that abut (an end equal to the next
    start) joined.

    >>> [a.tolist() for a in join_runs(np.array([0, 3, 5, 9]), np.array([3, 5, 7, 10]))]
    [[0, 9], [7, 10]]
    """
    if starts.size < 2:
        return starts, ends
    cut = starts[1:] != ends[:-1]
    return starts[np.concatenate(([True], cut))], ends[np.concatenate((cut, [True]))]


# --- PAGEMAP_SCAN ----------------------------------------------------------------------------


def _check_range(start: int, end: int) -> None:
    if start % PAGE_SIZE or end % PAGE_SIZE or not 0 <= start <= end:
        raise ValueError(f"range {start:#x}-{end:#x} is not page-aligned and ordered")


def pagemap_scan_supported(fd: int) -> bool:
    """Whether the kernel has the PAGEMAP_SCAN ioctl (Linux 6.7+), probed once
    per process with an empty range on ``fd``, an open /proc/PID/pagemap.

    A kernel without it has no ``unlocked_ioctl`` in proc_pagemap_operations:
    ENOTTY; one whose struct pm_scan_arg differs refuses ours: EINVAL.
    """
    global _supported
    if _supported is None:
        if not _GENERIC_IOCTL:
            _supported = False
            return False
        arg = bytearray(PM_SCAN_ARG.pack(PM_SCAN_ARG.size, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        try:
            fcntl.ioctl(fd, PAGEMAP_SCAN, arg, True)
            _supported = True
        except OSError as e:
            if e.errno not in (errno.ENOTTY, errno.EINVAL):
                raise
            _supported = False
    return _supported


def scan_regions(fd: int, start: int, end: int, *, anyof: int = TOUCHED, return_mask: int = TOUCHED | PAGE_IS_HUGE,
                 vec_len: int = DEFAULT_VEC_LEN) -> Iterator[np.ndarray]:
    """PAGEMAP_SCAN over ``[start, end)``: arrays of PAGE_REGION records (byte
    addresses) of the pages with any category of ``anyof``, in address order.

    The kernel merges neighbouring pages of equal categories (after
    ``return_mask``) into one region: a PMD-mapped THP or a hugetlb page is
    one region (PAGE_IS_HUGE), clipped to the range asked for.  Regions may
    still abut: the kernel starts a new one where it flushed its 512-region
    bounce buffer, or where one call ends and the next begins.

    When ``vec_len`` regions do not hold the answer, the kernel stops and
    the scan goes on where it stopped.  ``walk_end`` says where, except that
    do_pagemap_scan() writes back the ``walk_end`` of its last *internal*
    stop (a full bounce buffer), not ``end``, when the walk finished after
    such a stop (seen on 6.18: 2,048 regions in a 100,000-region vector,
    walk_end 3/4 of the way).  So: fewer regions than ``vec_len`` means the
    walk finished (max_pages is unlimited, so nothing else stops it early);
    a full vector goes on from ``max(walk_end, last region's end)``.
    """
    _check_range(start, end)
    if vec_len < 1:
        raise ValueError("vec_len must be at least 1")
    vec = np.empty(vec_len, dtype=PAGE_REGION)
    ptr = vec.__array_interface__["data"][0]
    arg = bytearray(PM_SCAN_ARG.size)
    addr = start
    while addr < end:
        # size, flags, start, end, walk_end, vec, vec_len, max_pages, inverted, mask, anyof, return
        PM_SCAN_ARG.pack_into(arg, 0, PM_SCAN_ARG.size, 0, addr, end, 0, ptr, vec_len, 0, 0, 0, anyof, return_mask)
        n = fcntl.ioctl(fd, PAGEMAP_SCAN, arg, True)
        if n:
            yield vec[:n].copy()
        if n < vec_len:
            return
        (walk_end,) = struct.unpack_from("=Q", arg, PM_SCAN_WALK_END_OFFSET)
        nxt = max(walk_end, int(vec["end"][n - 1]))
        if nxt <= addr:  # cannot happen: a full vector has output pages past addr
            raise RuntimeError(f"PAGEMAP_SCAN made no progress at {addr:#x}")
        addr = nxt


def _iter_ioctl(fd: int, start: int, end: int, vec_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    # return_mask 0: every region has categories 0, so the kernel merges all it can
    for regions in scan_regions(fd, start, end, return_mask=0, vec_len=vec_len):
        yield regions["start"].astype(np.int64), regions["end"].astype(np.int64)
    # a process gone before the walk gives ESRCH; one gone during it, an empty
    # walk: an entry read after it tells (pagemap_read() returns 0 bytes then)
    if end > start and len(os.pread(fd, PAGEMAP_ENTRY_BYTES, start // PAGE_SIZE * PAGEMAP_ENTRY_BYTES)) == 0:
        raise OSError(errno.ESRCH, "the process exited while its pagemap was scanned")


def touched_cells(fd: int, start: int, end: int, offset: int, block: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The cells of the mapping ``[start, end)`` (file ``offset`` at ``start``)
    that hold a page with an entry, as runs (starts, ends: int64 byte
    addresses, abutting cells joined), and whether an entry found is
    PAGE_IS_HUGE (a PMD-mapped THP or a hugetlb page: the caller then needs
    the pages).  A cell is what one ``block`` of virtual addresses and one
    ``block`` of file offsets have in common (the whole block when ``start -
    offset`` is a multiple of ``block``), clipped to the mapping: which cells
    hold an entry decides every table count (``workload.touched.fill_blocks``).

    One PAGEMAP_SCAN per cell found, with ``max_pages`` 1: pagemap_scan_output()
    cuts the first region found to one page, returns -ENOSPC, and the walk
    stops there (fs/proc/task_mmu.c), so the kernel visits the entries of a
    cell only up to its first one, and skips a block without a PTE table
    (pagemap_scan_pte_hole()) whole; the next call starts at the next cell.
    The cost is one ioctl per touched cell (3-4 us here) instead of a visit of
    every entry and one region per run of pages (docs/scan.md, "Speed").  As
    with scan_regions(), a process gone during the walk gives an empty one
    (the caller reads an entry after it to tell)."""
    _check_range(start, end)
    if offset % PAGE_SIZE or block % PAGE_SIZE or block <= 0:
        raise ValueError("offset and block must be page multiples")
    shift = (start - offset) % block  # file blocks begin where the address is shift modulo block
    vec = np.zeros(1, dtype=PAGE_REGION)
    arg = bytearray(PM_SCAN_ARG.pack(PM_SCAN_ARG.size, 0, start, end, 0, vec.__array_interface__["data"][0], 1, 1,
                                     0, 0, TOUCHED, TOUCHED | PAGE_IS_HUGE))
    out = vec.view(np.uint8).data  # the region the kernel writes, as bytes
    set_start, get_region = struct.Struct("=Q").pack_into, struct.Struct("=3Q").unpack_from
    ioctl, request = fcntl.ioctl, PAGEMAP_SCAN
    starts: list[int] = []
    ends: list[int] = []
    huge = False
    addr = start
    while addr < end:
        set_start(arg, 16, addr)  # pm_scan_arg.start
        if not ioctl(fd, request, arg, True):
            break
        page, _, categories = get_region(out, 0)
        huge = huge or bool(categories & PAGE_IS_HUGE)
        lo, hi = page - page % block, page - page % block + block
        if shift:
            flo = page - (page - shift) % block
            lo, hi = max(lo, flo), min(hi, flo + block)
        lo, hi = max(lo, start), min(hi, end)
        if ends and ends[-1] == lo:
            ends[-1] = hi
        else:
            starts.append(lo)
            ends.append(hi)
        addr = hi
    return np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64), huge


def first_entries(fd: int, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, bool]:
    """For each range ``[starts[i], ends[i])`` (page-aligned byte addresses),
    the address of its first page with an entry, -1 when it has none; and
    whether an entry found is PAGE_IS_HUGE (a PMD-mapped THP or a hugetlb
    page).  One PAGEMAP_SCAN per range with ``max_pages`` 1, as in
    :func:`touched_cells` (the walk stops at the first entry; a block without
    a PTE table is skipped whole).  As with scan_regions(), a process gone
    during the walk gives empty answers (the caller reads an entry after it
    to tell)."""
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    vec = np.zeros(1, dtype=PAGE_REGION)
    arg = bytearray(PM_SCAN_ARG.pack(PM_SCAN_ARG.size, 0, 0, 0, 0, vec.__array_interface__["data"][0], 1, 1,
                                     0, 0, TOUCHED, TOUCHED | PAGE_IS_HUGE))
    out = vec.view(np.uint8).data
    set_range, get_region = struct.Struct("=2Q").pack_into, struct.Struct("=3Q").unpack_from
    ioctl, request = fcntl.ioctl, PAGEMAP_SCAN
    found = np.full(starts.size, -1, dtype=np.int64)
    huge = False
    for i, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist())):
        _check_range(lo, hi)
        if lo == hi:
            continue
        set_range(arg, 16, lo, hi)  # pm_scan_arg.start, .end
        if ioctl(fd, request, arg, True):
            page, _, categories = get_region(out, 0)
            found[i] = page
            huge = huge or bool(categories & PAGE_IS_HUGE)
    return found, huge


# --- the read fallback -------------------------------------------------------------------------


def _iter_read(fd: int, start: int, end: int, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    first, n = start // PAGE_SIZE, (end - start) // PAGE_SIZE
    buf = np.empty(min(chunk, n) * PAGEMAP_ENTRY_BYTES, dtype=np.uint8)
    for lo in range(0, n, chunk):
        cnt = min(chunk, n - lo)
        view = buf[: cnt * PAGEMAP_ENTRY_BYTES]
        got = os.preadv(fd, [view.data], (first + lo) * PAGEMAP_ENTRY_BYTES)
        if got != view.size:  # pagemap_read() returns 0 bytes once the mm is gone
            raise OSError(errno.ESRCH, f"short pagemap read ({got} of {view.size} bytes)")
        s, e = entry_runs(view)
        if s.size:
            yield (s + (first + lo)) * PAGE_SIZE, (e + (first + lo)) * PAGE_SIZE


# --- the API ------------------------------------------------------------------------------------


def iter_present(fd: int, start: int, end: int, *, method: Method = "auto", vec_len: int = DEFAULT_VEC_LEN,
                 chunk: int = READ_CHUNK_ENTRIES) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Runs of pages of ``[start, end)`` with a page-table entry, as (starts,
    ends) int64 arrays of byte addresses, a chunk at a time, in address order;
    no run abuts the next, within a chunk or across chunks.

    ``fd`` is an open /proc/PID/pagemap (O_RDONLY is enough: PTRACE_MODE_READ
    at open, pagemap_open()).  ``start`` and ``end`` are page-aligned; they
    need not be one mapping's.
    """
    _check_range(start, end)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    use_ioctl = method == "ioctl" or (method == "auto" and pagemap_scan_supported(fd))
    source = _iter_ioctl(fd, start, end, vec_len) if use_ioctl else _iter_read(fd, start, end, chunk)
    held: tuple[np.ndarray, np.ndarray] | None = None  # the last run, which the next chunk may continue
    for s, e in source:
        s, e = join_runs(s, e)
        if held is not None:
            if s[0] == held[1][0]:
                s = s.copy()
                s[0] = held[0][0]
            else:
                yield held
        if s.size > 1:
            yield s[:-1], e[:-1]
        held = (s[-1:], e[-1:])
    if held is not None:
        yield held


def present_arrays(fd: int, start: int, end: int, *, method: Method = "auto", vec_len: int = DEFAULT_VEC_LEN,
                   chunk: int = READ_CHUNK_ENTRIES) -> tuple[np.ndarray, np.ndarray]:
    """All of iter_present() as one pair of int64 arrays (starts, ends)."""
    parts = list(iter_present(fd, start, end, method=method, vec_len=vec_len, chunk=chunk))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def present_ranges(fd: int, start: int, end: int, *, method: Method = "auto", vec_len: int = DEFAULT_VEC_LEN,
                   chunk: int = READ_CHUNK_ENTRIES) -> list[tuple[int, int]]:
    """The runs of pages of ``[start, end)`` with a page-table entry, as
    ``(start, end)`` byte addresses (ends exclusive), maximal and in order."""
    s, e = present_arrays(fd, start, end, method=method, vec_len=vec_len, chunk=chunk)
    return list(zip(s.tolist(), e.tolist()))
