"""ptcalc.linux.pagemap: PAGEMAP_SCAN and the pagemap read agree, and equal what was touched.

The pure part runs anywhere: the ioctl number and struct layouts against the
uapi header worked out by hand, the fallback's parser on entries built here,
and the fallback's chunking on a file of such entries.

The kernel part (Linux; hugetlb and shmem THP need root) maps memory in this
process and in child processes, touches a pattern of pages, and requires
both methods to return exactly the runs of that pattern (worked out here from
the pattern, not by either method).  Huge pages are one run of the whole page
(or of the part of it inside the range asked for).
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptcalc.linux import pagemap as pm

PS = mmap.PAGESIZE
MiB = 1 << 20
HUGE = 2 * MiB
LINUX = sys.platform == "linux"
ROOT = LINUX and os.geteuid() == 0
POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"
THP = "/sys/kernel/mm/transparent_hugepage"

needs_linux = pytest.mark.skipif(not LINUX, reason="reads /proc/PID/pagemap: Linux only")
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (hugetlb pool, THP settings)")


def runs_of(pages: list[int] | set[int] | range) -> list[tuple[int, int]]:
    """Runs of page numbers, by walking them one by one (the test's own oracle)."""
    out: list[tuple[int, int]] = []
    for p in sorted(set(pages)):
        if out and out[-1][1] == p:
            out[-1] = (out[-1][0], p + 1)
        else:
            out.append((p, p + 1))
    return out


def as_bytes(base: int, page_runs: list[tuple[int, int]], unit: int = PS) -> list[tuple[int, int]]:
    return [(base + s * unit, base + e * unit) for s, e in page_runs]


# --- the interface, by hand from include/uapi/linux/fs.h and asm-generic/ioctl.h ---------------


def test_ioctl_number_is_iowr_f_16_of_96_bytes():
    # _IOWR('f', 16, struct pm_scan_arg): dir 3 (read|write) << 30, sizeof = 12 x 8 = 96 << 16,
    # 'f' = 0x66 << 8, nr 16 = 0x10  ->  0xc0000000 + 0x00600000 + 0x6600 + 0x10
    assert pm.PAGEMAP_SCAN == 0xC0606610
    assert pm.PM_SCAN_ARG.size == 96
    assert pm.PM_SCAN_WALK_END_OFFSET == 32  # size, flags, start, end, then walk_end
    assert pm.PAGE_REGION.itemsize == 24
    assert [pm.PAGE_REGION.fields[f][1] for f in ("start", "end", "categories")] == [0, 8, 16]


def test_category_bits():
    assert (pm.PAGE_IS_WPALLOWED, pm.PAGE_IS_WRITTEN, pm.PAGE_IS_FILE, pm.PAGE_IS_PRESENT, pm.PAGE_IS_SWAPPED,
            pm.PAGE_IS_PFNZERO, pm.PAGE_IS_HUGE, pm.PAGE_IS_SOFT_DIRTY) == (1, 2, 4, 8, 16, 32, 64, 128)
    assert pm.TOUCHED == 8 | 16
    assert (pm.PM_PRESENT, pm.PM_SWAP) == (2**63, 2**62)


# --- the fallback's parser on entries built here ---------------------------------------------

OTHER_BITS = [0, 1, 0x7FFFFFFFFFFFFF, 1 << 55, 1 << 56, 1 << 57, 1 << 58, 1 << 61]  # PFN, sd, excl, wp, guard, file


def build(kinds: list[str], noise: list[int] | None = None) -> bytes:
    """pagemap entries: 'p' present, 's' swapped, 'b' both, '-' none; other bits from ``noise``."""
    bit = {"p": pm.PM_PRESENT, "s": pm.PM_SWAP, "b": pm.PM_PRESENT | pm.PM_SWAP, "-": 0}
    noise = noise or [0] * len(kinds)
    return struct.pack(f"={len(kinds)}Q", *(bit[k] | n for k, n in zip(kinds, noise)))


def test_entry_runs_present_and_swapped_count_other_bits_do_not():
    kinds = list("pp-s--bps-----p")
    noise = [OTHER_BITS[i % len(OTHER_BITS)] for i in range(len(kinds))]
    s, e = pm.entry_runs(build(kinds, noise))
    assert list(zip(s.tolist(), e.tolist())) == [(0, 2), (3, 4), (6, 9), (14, 15)]


def test_entry_runs_edges():
    assert [a.tolist() for a in pm.entry_runs(b"")] == [[], []]
    assert [a.tolist() for a in pm.entry_runs(build(list("----")))] == [[], []]
    assert [a.tolist() for a in pm.entry_runs(build(list("pppp")))] == [[0], [4]]
    assert [a.tolist() for a in pm.entry_runs(build(list("-p-p")))] == [[1, 3], [2, 4]]
    with pytest.raises(ValueError, match="whole 8-byte entries"):
        pm.entry_runs(b"\0" * 12)


@given(st.lists(st.tuples(st.sampled_from("ps-b"), st.sampled_from(OTHER_BITS)), max_size=300))
def test_entry_runs_equals_a_walk_of_the_entries(entries):
    kinds = [k for k, _ in entries]
    s, e = pm.entry_runs(build(kinds, [n for _, n in entries]))
    assert list(zip(s.tolist(), e.tolist())) == runs_of([i for i, k in enumerate(kinds) if k != "-"])


def test_join_runs():
    s, e = pm.join_runs(np.array([0, 2, 4, 8], np.int64), np.array([2, 4, 6, 9], np.int64))
    assert (s.tolist(), e.tolist()) == ([0, 8], [6, 9])
    one = (np.array([3]), np.array([5]))
    assert pm.join_runs(*one) == one


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_read_fallback_on_a_file_of_entries(tmp_path, chunk):
    """The fallback reads any file laid out as pagemap: runs cut by chunks come back joined."""
    kinds = list(("pp-s--bps-----p" * 7)[:100]) + ["p"] * 40 + ["-"] * 9 + ["s"]
    path = tmp_path / "pagemap"
    first = 5  # entries before the range asked for, which must not show
    path.write_bytes(build(["p"] * first + kinds + ["p"] * 3))
    fd = os.open(path, os.O_RDONLY)
    try:
        start = first * PS
        got = pm.present_ranges(fd, start, start + len(kinds) * PS, method="read", chunk=chunk)
        chunks = list(pm.iter_present(fd, start, start + len(kinds) * PS, method="read", chunk=chunk))
    finally:
        os.close(fd)
    want = as_bytes(start, runs_of([i for i, k in enumerate(kinds) if k != "-"]))
    assert got == want
    flat = [(s, e) for a, b in chunks for s, e in zip(a.tolist(), b.tolist())]
    assert flat == want  # no run abuts the next, across chunks too


def test_short_read_is_a_vanished_process(tmp_path):
    path = tmp_path / "pagemap"
    path.write_bytes(build(["p"] * 4))
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as e:
            pm.present_ranges(fd, 0, 8 * PS, method="read")
        assert e.value.errno == errno.ESRCH
    finally:
        os.close(fd)


def test_bad_arguments():
    with pytest.raises(ValueError, match="page-aligned"):
        pm.present_ranges(0, 1, PS, method="read")
    with pytest.raises(ValueError, match="page-aligned"):
        pm.present_ranges(0, 2 * PS, PS, method="read")
    with pytest.raises(ValueError, match="method"):
        pm.present_ranges(0, 0, PS, method="fast")  # type: ignore[arg-type]


# --- the live kernel: memory of this process ---------------------------------------------------

NPAGES = 1024  # 4 MiB
PATTERNS = {
    "all": range(NPAGES),
    "none": [],
    "every other page": range(0, NPAGES, 2),
    "scattered": [0, 1, 17, 511, 512, 513, 700, 1000, NPAGES - 1],
}


def scan_both(fd: int, start: int, end: int, **kw) -> list[tuple[int, int]]:
    """The read's answer; the ioctl's too, required equal, where the kernel has it."""
    got = pm.present_ranges(fd, start, end, method="read", **kw)
    if pm.pagemap_scan_supported(fd):
        assert pm.present_ranges(fd, start, end, method="ioctl", **kw) == got
        for vec_len in (1, 2, 5):  # overflowing the vector: the scan goes on from walk_end
            assert pm.present_ranges(fd, start, end, method="ioctl", vec_len=vec_len) == got
    return got


def address(buf: mmap.mmap) -> int:
    return np.frombuffer(buf, np.uint8).__array_interface__["data"][0]


def touch(buf: mmap.mmap, pages, write: bool = True) -> None:
    a = np.frombuffer(buf, np.uint8)
    idx = np.asarray(list(pages), dtype=np.int64) * PS
    if write:
        a[idx] = 1
    else:
        int(a[idx].sum())  # read faults only


def new_mapping(kind: str, size: int = NPAGES * PS) -> tuple[mmap.mmap, int | None]:
    if kind == "private anonymous":
        m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        fd = None
    elif kind == "shared anonymous":
        m = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        fd = None
    else:
        fd = os.memfd_create("ptcalc-pagemap-test")
        os.ftruncate(fd, size)
        m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
    m.madvise(mmap.MADV_NOHUGEPAGE)
    return m, fd


@pytest.fixture
def self_pagemap():
    fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    yield fd
    os.close(fd)


@needs_linux
@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["private anonymous", "shared anonymous", "memfd"])
@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_this_process(self_pagemap, kind, pattern):
    m, fd = new_mapping(kind)
    try:
        touch(m, PATTERNS[pattern])
        base = address(m)
        assert scan_both(self_pagemap, base, base + NPAGES * PS) == as_bytes(base, runs_of(PATTERNS[pattern]))
        # a window that starts and ends inside runs clips them
        lo, hi = base + 511 * PS, base + 701 * PS
        want = [(max(s, lo), min(e, hi)) for s, e in as_bytes(base, runs_of(PATTERNS[pattern])) if s < hi and e > lo]
        assert scan_both(self_pagemap, lo, hi) == want
    finally:
        m.close()
        if fd is not None:
            os.close(fd)


def cells_by_hand(pages, start: int, end: int, offset: int, block: int) -> list[tuple[int, int]]:
    """The cells (a block of addresses and a block of file offsets in common,
    within the mapping) of each touched page, page by page, joined where they abut."""
    cells = set()
    for p in pages:
        va = start + p * PS
        fo = offset + p * PS
        lo = max(va - va % block, va - fo % block, start)
        hi = min(va - va % block + block, va - fo % block + block, end)
        cells.add((lo, hi))
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(cells):
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


@needs_linux
@pytest.mark.kernel
@pytest.mark.parametrize("offset_pages", [0, 256, 3])
@pytest.mark.parametrize("pattern", ["none", "all", "scattered", "random 2%", "first and last", "one block"])
def test_touched_cells_are_the_cells_of_the_touched_pages(self_pagemap, offset_pages, pattern):
    """touched_cells (one PAGEMAP_SCAN per cell, max_pages 1) finds exactly the
    cells of the pages touched, worked out page by page, for a memfd mapped at
    a file offset that puts the file's 2 MiB blocks off the address blocks."""
    if not pm.pagemap_scan_supported(self_pagemap):
        pytest.skip("PAGEMAP_SCAN needs Linux 6.7")
    npages = 4 * 512 + 100  # 8 MiB and a bit: the blocks at both ends are partial
    pages = {"none": [], "all": range(npages), "scattered": PATTERNS["scattered"],
             "random 2%": sorted(np.random.default_rng(7).choice(npages, npages // 50, replace=False).tolist()),
             "first and last": [0, npages - 1], "one block": range(600, 900)}[pattern]
    fd = os.memfd_create("ptcalc-cells-test")
    try:
        os.ftruncate(fd, (npages + offset_pages) * PS)
        m = mmap.mmap(fd, npages * PS, flags=mmap.MAP_SHARED, offset=offset_pages * PS)
        try:
            m.madvise(mmap.MADV_NOHUGEPAGE)
            touch(m, pages)
            start = address(m)
            end = start + npages * PS
            s, e, huge = pm.touched_cells(self_pagemap, start, end, offset_pages * PS, HUGE)
            assert list(zip(s.tolist(), e.tolist())) == cells_by_hand(pages, start, end, offset_pages * PS, HUGE)
            assert not huge
        finally:
            m.close()
    finally:
        os.close(fd)


@needs_linux
@pytest.mark.kernel
@pytest.mark.parametrize("pattern", ["none", "scattered", "first and last", "one block"])
def test_first_entries_are_the_first_touched_page_of_each_range(self_pagemap, pattern):
    """first_entries (one PAGEMAP_SCAN per range, max_pages 1): each range's
    first touched page, worked out page by page, or -1; ranges of whole
    blocks, of parts of blocks and an empty one."""
    if not pm.pagemap_scan_supported(self_pagemap):
        pytest.skip("PAGEMAP_SCAN needs Linux 6.7")
    npages = 4 * 512 + 100
    pages = {"none": [], "scattered": PATTERNS["scattered"], "first and last": [0, npages - 1],
             "one block": range(600, 900)}[pattern]
    fd = os.memfd_create("ptcalc-first-test")
    try:
        os.ftruncate(fd, npages * PS)
        m = mmap.mmap(fd, npages * PS, flags=mmap.MAP_SHARED)
        try:
            m.madvise(mmap.MADV_NOHUGEPAGE)
            touch(m, pages)
            start = address(m)
            cuts = sorted({0, 1, 300, 512, 700, 1024, 1536, 2047, 2048, npages - 1, npages})
            lo = np.array([start + a * PS for a in cuts[:-1]] + [start], np.int64)
            hi = np.array([start + b * PS for b in cuts[1:]] + [start], np.int64)
            want = [next((start + p * PS for p in sorted(pages) if a <= p < b), -1)
                    for a, b in zip(cuts[:-1], cuts[1:])] + [-1]
            found, huge = pm.first_entries(self_pagemap, lo, hi)
            assert found.tolist() == want and not huge
        finally:
            m.close()
    finally:
        os.close(fd)


@needs_linux
@pytest.mark.kernel
def test_read_faults_map_the_zero_page_and_count(self_pagemap):
    """A read fault on private anonymous memory maps the shared zero page:
    a present PTE (PAGE_IS_PRESENT | PAGE_IS_PFNZERO), so the page is touched."""
    m, _ = new_mapping("private anonymous")
    try:
        pages = range(0, NPAGES, 3)
        touch(m, pages, write=False)
        base = address(m)
        assert scan_both(self_pagemap, base, base + NPAGES * PS) == as_bytes(base, runs_of(pages))
        if pm.pagemap_scan_supported(self_pagemap):
            regions = np.concatenate(list(pm.scan_regions(self_pagemap, base, base + NPAGES * PS,
                                                          return_mask=pm.PAGE_IS_PFNZERO | pm.TOUCHED)))
            assert set(regions["categories"].tolist()) == {pm.PAGE_IS_PRESENT | pm.PAGE_IS_PFNZERO}
    finally:
        m.close()


MADV_GUARD_INSTALL = 102  # include/uapi/asm-generic/mman-common.h, Linux 6.13


@needs_linux
@pytest.mark.kernel
def test_guard_markers_are_entries(self_pagemap):
    """MADV_GUARD_INSTALL writes PTE markers into none PTEs, allocating PTE
    tables: not present, not none -- PM_SWAP in pagemap, PAGE_IS_SWAPPED in
    the ioctl (is_swap_pte()).  They count as touched: the table exists."""
    m, _ = new_mapping("private anonymous")
    try:
        guarded = [*range(5, 8), 600]
        try:
            for s, e in runs_of(guarded):
                m.madvise(MADV_GUARD_INSTALL, s * PS, (e - s) * PS)
        except OSError as e:
            pytest.skip(f"no guard regions on this kernel (madvise: {e.strerror})")
        written = [0, 8, 9]
        touch(m, written)
        base = address(m)
        assert scan_both(self_pagemap, base, base + NPAGES * PS) == as_bytes(base, runs_of(guarded + written))
        if pm.pagemap_scan_supported(self_pagemap):
            regions = np.concatenate(list(pm.scan_regions(self_pagemap, base, base + NPAGES * PS)))
            cats = {(int(r["start"] - base) // PS, int(r["end"] - base) // PS): int(r["categories"]) for r in regions}
            assert cats == {(0, 1): pm.PAGE_IS_PRESENT, (5, 8): pm.PAGE_IS_SWAPPED, (8, 10): pm.PAGE_IS_PRESENT,
                            (600, 601): pm.PAGE_IS_SWAPPED}
    finally:
        m.close()


@needs_linux
@pytest.mark.kernel
def test_zapped_pages_and_unmapped_holes_have_no_entries(self_pagemap):
    """Three 64-page parts written whole; then the second is zapped
    (MADV_DONTNEED: none PTEs, the PTE table stays) and the fourth unmapped
    (a hole between two VMAs, after a fifth part that stays): neither shows."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    part = 64 * PS
    m = mmap.mmap(-1, 5 * part, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        m.madvise(mmap.MADV_NOHUGEPAGE)
        base = address(m)
        a = np.frombuffer(m, np.uint8)
        a[:] = 1
        del a
        m.madvise(mmap.MADV_DONTNEED, part, part)
        assert libc.munmap(base + 3 * part, part) == 0
        with open("/proc/self/maps") as f:
            starts = {int(line.split("-")[0], 16) for line in f}
        assert base + 4 * part in starts  # two VMAs now, with a hole between
        want = [(base, base + part), (base + 2 * part, base + 3 * part), (base + 4 * part, base + 5 * part)]
        assert scan_both(self_pagemap, base, base + 5 * part) == want
    finally:
        m.close()  # munmap of the whole range, the hole included, is allowed


@needs_linux
@pytest.mark.kernel
def test_transparent_huge_page_is_one_region(self_pagemap):
    """An anonymous THP (PMD-mapped) reports all 512 entries: one run of 2 MiB,
    one PAGE_IS_HUGE region, whichever byte of it was touched."""
    if "[never]" in open(f"{THP}/enabled").read():
        pytest.skip("transparent huge pages are off ([never])")
    size = 3 * HUGE
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        base = address(m)
        block = -(-base // HUGE) * HUGE  # the first 2 MiB-aligned block inside
        m.madvise(mmap.MADV_HUGEPAGE)
        np.frombuffer(m, np.uint8)[block - base + 5 * PS] = 1
        if _smaps_kb(base, "AnonHugePages") < 2048:
            pytest.skip("the kernel did not give a THP (fragmented memory?)")
        assert scan_both(self_pagemap, base, base + size) == [(block, block + HUGE)]
        assert scan_both(self_pagemap, block + 100 * PS, block + 200 * PS) == [(block + 100 * PS, block + 200 * PS)]
        if pm.pagemap_scan_supported(self_pagemap):
            regions = np.concatenate(list(pm.scan_regions(self_pagemap, base, base + size)))
            assert regions.tolist() == [(block, block + HUGE, pm.PAGE_IS_PRESENT | pm.PAGE_IS_HUGE)]
    finally:
        m.close()


def _smaps_kb(start: int, key: str, pid: str = "self") -> int:
    """``key`` (kB) of the smaps entry starting at ``start``."""
    with open(f"/proc/{pid}/smaps") as f:
        inside = False
        for line in f:
            if "-" in line.split()[0] and line[0] in "0123456789abcdef" and ":" not in line.split()[0]:
                inside = int(line.split("-")[0], 16) == start
            elif inside and line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _choice(path: str) -> str:
    text = open(path).read()
    return text[text.index("[") + 1:text.index("]")] if "[" in text else text.strip()


@needs_root
@pytest.mark.kernel
def test_shmem_transparent_huge_page_is_one_region(self_pagemap):
    """A memfd THP (shmem_enabled=advise for the test, then put back): the
    case of a scanned shared segment with ShmemPmdMapped."""
    old = _choice(f"{THP}/shmem_enabled")
    per_size = f"{THP}/hugepages-2048kB/shmem_enabled"
    if os.path.exists(per_size) and _choice(per_size) not in ("inherit", "advise", "always", "within_size"):
        pytest.skip(f"2 MiB shmem THP is {_choice(per_size)!r} in {per_size}")
    _write(f"{THP}/shmem_enabled", "advise")
    fd = os.memfd_create("ptcalc-pagemap-thp")
    try:
        size = 2 * HUGE
        os.ftruncate(fd, size)
        m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
        try:
            m.madvise(mmap.MADV_HUGEPAGE)
            base = address(m)
            if base % HUGE:
                pytest.skip(f"the memfd mapping at {base:#x} is not 2 MiB aligned")
            np.frombuffer(m, np.uint8)[HUGE + 7 * PS] = 1
            if _smaps_kb(base, "ShmemPmdMapped") < 2048:
                pytest.skip("the kernel did not give a shmem THP")
            assert scan_both(self_pagemap, base, base + size) == [(base + HUGE, base + 2 * HUGE)]
            if pm.pagemap_scan_supported(self_pagemap):
                regions = np.concatenate(list(pm.scan_regions(self_pagemap, base, base + size)))
                assert regions.tolist() == [(base + HUGE, base + 2 * HUGE, pm.PAGE_IS_PRESENT | pm.PAGE_IS_HUGE)]
        finally:
            m.close()
    finally:
        os.close(fd)
        _write(f"{THP}/shmem_enabled", old)
        assert _choice(f"{THP}/shmem_enabled") == old


@pytest.fixture
def hugetlb_pages():
    """Four more 2 MiB pages in the pool; exactly those given back."""
    if not os.path.exists(POOL):
        pytest.skip("no 2 MiB hugetlb pool on this kernel")
    need = 4
    before = int(open(f"{POOL}/nr_hugepages").read())
    _write(f"{POOL}/nr_hugepages", str(before + need))
    added = int(open(f"{POOL}/nr_hugepages").read()) - before
    try:
        if int(open(f"{POOL}/free_hugepages").read()) < need:
            pytest.skip(f"could not get {need} free 2 MiB huge pages")
        yield need
    finally:
        _write(f"{POOL}/nr_hugepages", str(max(int(open(f"{POOL}/nr_hugepages").read()) - added, 0)))


@needs_root
@pytest.mark.kernel
def test_hugetlb_pages_are_whole_regions(self_pagemap, hugetlb_pages):
    """hugetlb 2 MiB: pagemap_hugetlb_range() reports every 4 KiB entry of a
    present page alike; PAGEMAP_SCAN one region per page (merged with a
    touched neighbour).  Pages 0, 1 and 3 of 4 touched, at odd bytes."""
    MFD_HUGETLB, MFD_HUGE_2MB = 0x4, 21 << 26
    fd = os.memfd_create("ptcalc-pagemap-huge", MFD_HUGETLB | MFD_HUGE_2MB)
    try:
        size = 4 * HUGE
        os.ftruncate(fd, size)
        m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
        try:
            base = address(m)
            assert base % HUGE == 0  # hugetlb_get_unmapped_area() aligns
            a = np.frombuffer(m, np.uint8)
            for off in (3 * PS + 1, HUGE + HUGE - 1, 3 * HUGE + 12345):
                a[off] = 1
            del a
            assert scan_both(self_pagemap, base, base + size) == as_bytes(base, [(0, 2), (3, 4)], HUGE)
            # ranges inside pages clip them: 1 MiB into page 0 .. 1 MiB into page 3
            lo, hi = base + MiB, base + 3 * HUGE + MiB
            assert scan_both(self_pagemap, lo, hi) == [(lo, base + 2 * HUGE), (base + 3 * HUGE, hi)]
            if pm.pagemap_scan_supported(self_pagemap):
                regions = np.concatenate(list(pm.scan_regions(self_pagemap, base, base + size)))
                huge = pm.PAGE_IS_PRESENT | pm.PAGE_IS_HUGE
                assert regions.tolist() == [(base, base + 2 * HUGE, huge), (base + 3 * HUGE, base + 4 * HUGE, huge)]
                # a one-region vector: one call per region, each whole
                one = [r.tolist() for r in pm.scan_regions(self_pagemap, base, base + size, vec_len=1)]
                assert one == [[(base, base + 2 * HUGE, huge)], [(base + 3 * HUGE, base + 4 * HUGE, huge)]]
        finally:
            m.close()
    finally:
        os.close(fd)


# --- the live kernel: other processes ----------------------------------------------------------

CHILD = r"""
import json, mmap, os, sys
import numpy as np
spec = json.loads(sys.argv[1])
keep, addrs = [], []
for m in spec:
    if m["kind"] == "memfd":
        buf = mmap.mmap(m["fd"], m["size"], flags=mmap.MAP_SHARED)
    else:
        buf = mmap.mmap(-1, m["size"], flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buf.madvise(mmap.MADV_NOHUGEPAGE)
    a = np.frombuffer(buf, np.uint8)
    a[np.asarray(m["pages"], dtype=np.int64) * mmap.PAGESIZE] = 1
    keep.append((buf, a))
    addrs.append(a.__array_interface__["data"][0])
print(json.dumps(addrs), flush=True)
sys.stdin.read()
"""


@needs_linux
@pytest.mark.kernel
def test_child_processes():
    """Three children share a memfd, each touching its own pages, plus a
    private mapping of its own; each child's pagemap shows its own pages only."""
    fd = os.memfd_create("ptcalc-pagemap-children")
    os.ftruncate(fd, NPAGES * PS)
    pages = {0: list(PATTERNS["scattered"]), 1: list(range(0, NPAGES, 2)), 2: list(range(NPAGES))}
    children = []
    try:
        for k, mine in pages.items():
            spec = [dict(kind="memfd", fd=fd, size=NPAGES * PS, pages=mine),
                    dict(kind="anon", size=64 * PS, pages=[k, 10 + k, 63])]
            p = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(spec)], pass_fds=(fd,),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            children.append((p, mine, k))
        for p, mine, k in children:
            shm, anon = json.loads(p.stdout.readline())
            pfd = os.open(f"/proc/{p.pid}/pagemap", os.O_RDONLY)
            try:
                assert scan_both(pfd, shm, shm + NPAGES * PS) == as_bytes(shm, runs_of(mine))
                assert scan_both(pfd, anon, anon + 64 * PS) == as_bytes(anon, runs_of([k, 10 + k, 63]))
            finally:
                os.close(pfd)
    finally:
        for p, _, _ in children:
            p.stdin.close()
            p.wait(timeout=30)
        os.close(fd)


@needs_linux
@pytest.mark.kernel
def test_exited_process_is_esrch():
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        with open(f"/proc/{p.pid}/maps") as f:
            lo, hi = (int(x, 16) for x in f.readline().split()[0].split("-"))
        pfd = os.open(f"/proc/{p.pid}/pagemap", os.O_RDONLY)
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    try:
        for method in ("read", "ioctl") if pm.pagemap_scan_supported(pfd) else ("read",):
            with pytest.raises(OSError) as e:
                pm.present_ranges(pfd, lo, hi, method=method)
            assert e.value.errno == errno.ESRCH, method
    finally:
        os.close(pfd)


@needs_linux
def test_this_kernel_has_pagemap_scan_when_6_7_or_later(self_pagemap):
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("the ioctl number is computed for asm-generic ioctl layouts")
    assert pm.pagemap_scan_supported(self_pagemap) == ((major, minor) >= (6, 7))
