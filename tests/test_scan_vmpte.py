"""``ptcalc scan`` lets VmPTE decide which 2 MiB blocks of a partly present
shared mapping hold a page (``scan_read._deduce``), on fake /proc trees.

A fake tree's pagemap is a regular file, which takes no PAGEMAP_SCAN ioctl:
:class:`IoctlFS` answers the three questions the scan asks of it (the runs of
pages with an entry, the cells holding one, the first entry of a range) from
the file's entries, page by page, and counts them.  Every VmPTE below is
counted by hand from the geometry (x86-64, 4 KiB pages: a PTE table per 2 MiB
block holding a page, a PMD table per 1 GiB, a PUD table per 512 GiB).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timezone

import numpy as np
import pytest
from test_scan import FakeProc, _pages, smaps_entry

from ptcalc.linux import scan_read
from ptcalc.linux.pagemap import PAGE_IS_PRESENT, PAGE_REGION
from ptcalc.linux.parsers import PM_PRESENT, PM_SWAP
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.scan import scan
from ptcalc.model.tables import SCHEMES, compute
from ptcalc.render.scan_yaml import header_lines, render_scan

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4 * KiB
TABLE = 4 * KiB
SEG_ADDR = 0x10000000  # 256 MiB: 2 MiB-aligned, in the first 1 GiB window
SEG_SIZE = 16 * MiB    # eight 2 MiB blocks
TEXT_ADDR, HEAP_ADDR = 0x40000000, 0x80000000  # 1 GiB windows 1 and 2
END = HEAP_ADDR + 4 * MiB  # the fake pagemap's extent


class IoctlFS(ProcFS):
    """PAGEMAP_SCAN as the kernel answers it, from the fake pagemap's entries
    (bit 63 present or 62 swap/migration/marker: an entry), one page at a time."""

    def __init__(self, fake: FakeProc) -> None:
        super().__init__(str(fake.proc), str(fake.sys))
        self.calls: Counter[str] = Counter()

    def _entries(self, fd: int, start: int, end: int) -> list[int]:
        data = os.pread(fd, (end - start) // PAGE * 8, start // PAGE * 8)
        values = np.zeros((end - start) // PAGE, np.uint64)
        values[:len(data) // 8] = np.frombuffer(data, "<u8")
        return [start + int(i) * PAGE for i in np.flatnonzero(values & np.uint64(PM_PRESENT | PM_SWAP))]

    def pagemap_regions(self, fd, start, end, pid="?"):
        self.calls["regions"] += 1
        runs: list[list[int]] = []
        for a in self._entries(fd, start, end):
            if runs and runs[-1][1] == a:
                runs[-1][1] = a + PAGE
            else:
                runs.append([a, a + PAGE])
        out = np.zeros(len(runs), PAGE_REGION)
        out["start"] = [r[0] for r in runs]
        out["end"] = [r[1] for r in runs]
        out["categories"] = PAGE_IS_PRESENT
        return [out] if runs else []

    def pagemap_cells(self, fd, start, end, offset, block, pid="?"):
        """Each page's cell: its block of addresses and its block of file offsets in common."""
        self.calls["cells"] += 1
        cells: list[list[int]] = []
        for a in self._entries(fd, start, end):
            file_block = a - (offset + a - start) % block  # the address where a's file block begins
            lo = max(a - a % block, file_block, start)
            hi = min(a - a % block + block, file_block + block, end)
            if cells and cells[-1][1] >= lo:
                cells[-1][1] = max(cells[-1][1], hi)
            else:
                cells.append([lo, hi])
        return (np.array([c[0] for c in cells], np.int64), np.array([c[1] for c in cells], np.int64), False)

    def pagemap_first(self, fd, starts, ends, pid="?"):
        self.calls["first"] += len(starts)
        found = []
        for s, e in zip(starts, ends):
            pages = self._entries(fd, int(s), int(e))
            found.append(pages[0] if pages else -1)
        return np.array(found, np.int64), False


def seg_smaps(shift: int = 0) -> str:
    """A 16 MiB memfd at SEG_ADDR + ``shift``, file offset 0, the program's text and its heap
    (in address order, as smaps lists them)."""
    return (smaps_entry(SEG_ADDR + shift, SEG_SIZE, "rw-s", 0, "00:01", 77, "/memfd:sga (deleted)")
            + smaps_entry(TEXT_ADDR, 8 * KiB, "r-xp", 0, "fe:00", 260386, "/usr/bin/oracle", flags="rd ex mr mw me")
            + smaps_entry(HEAP_ADDR, 4 * MiB, "rw-p", 0, "00:00", 0, "[heap]", flags="rd wr mr mw me ac"))


def own_pages() -> list[tuple[int, int]]:
    """The text's first page and the heap's: 1 PTE table each, 1 GiB windows 1 and 2."""
    return _pages(TEXT_ADDR, HEAP_ADDR)


def seg_pages(offsets, shift: int = 0) -> list[tuple[int, int]]:
    return _pages(*(SEG_ADDR + shift + o for o in offsets))


def vmpte(pte: int) -> int:
    """``pte`` PTE tables, the PMD tables of 1 GiB windows 0, 1 and 2 and one PUD table."""
    return (pte + 3 + 1) * TABLE


def _scan(fake: FakeProc, pids: list[int], **kw):
    fs = IoctlFS(fake)
    r = scan(pids, fs=fs, method="ioctl", high_va=lambda: False,
             now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), **kw)
    return r, fs.calls


def _figures(w):
    """Every scheme's tables, and every process's VmPTE (groups may differ: by pages, each
    process touching its own pages is a group of its own)."""
    return [(s, compute(w, s).tables, sorted(v for g, v in zip(w.groups, compute(w, s).groups.vmpte_bytes)
                                             for _ in range(g.count))) for s in SCHEMES]


def _same_as_exact(fake: FakeProc, pids: list[int], fast):
    """The scan's workload is the exact scan's (every page read), and its
    tables are those of the runs of pages (``--touched pages``)."""
    full, _ = _scan(fake, pids, reuse=False)
    pages, _ = _scan(fake, pids, touched="pages")
    assert fast.workload.groups == full.workload.groups and fast.workload.segments == full.workload.segments
    assert _figures(fast.workload) == _figures(full.workload) == _figures(pages.workload)


# every block of the segment holds a page; each process its own pages of them
EVERY_BLOCK = [[b * 2 * MiB + (b + k) % 7 * 100 * KiB for b in range(8)] for k in range(3)]


def test_vmpte_equal_to_the_maximum_decides_every_block(tmp_path):
    """Three processes of one layout (the first read with smaps, the others
    without), a page in each of the segment's eight blocks: 10 PTE tables,
    VmPTE 56 KiB, the most it can be -- no cell is read, only the sample
    (all eight blocks, each process), and the segment is touched whole."""
    fake = FakeProc(tmp_path)
    for k, offsets in enumerate(EVERY_BLOCK):
        fake.process(200 + k, "oracle", seg_smaps(), own_pages() + seg_pages(offsets), vmpte=vmpte(2 + 8),
                     pagemap_end=END)
    r, calls = _scan(fake, [200, 201, 202])
    assert calls["cells"] == 0 and calls["first"] == 3 * 8
    assert r.reused == 2 and r.decided == 3 and not r.vmpte_differences()
    assert "Blocks decided by VmPTE: 3 processes" in render_scan(r)
    # the heap's second 2 MiB block is covered and holds no page: room for one empty table each
    assert r.decided_room == {TABLE: 3} and "up to 3 blocks in all written touched may hold no page" in " ".join(header_lines(r))
    (g,) = r.workload.groups
    assert g.count == 3 and g.mappings[0].touched == ((0, SEG_SIZE),)
    assert r.group_notes[0].model_vmpte == vmpte(10)
    _same_as_exact(fake, [200, 201, 202], r)


def test_no_room_for_an_empty_table_is_exact(tmp_path):
    """The heap one 2 MiB block, holding a page: every block and window the
    process's mappings cover holds a table (8 + 2 PTE, 3 PMD, 1 PUD), so
    VmPTE leaves no room for an empty one and the decision is exact."""
    fake = FakeProc(tmp_path)
    smaps = (smaps_entry(SEG_ADDR, SEG_SIZE, "rw-s", 0, "00:01", 77, "/memfd:sga (deleted)")
             + smaps_entry(TEXT_ADDR, 8 * KiB, "r-xp", 0, "fe:00", 260386, "/usr/bin/oracle", flags="rd ex mr mw me")
             + smaps_entry(HEAP_ADDR, 2 * MiB, "rw-p", 0, "00:00", 0, "[heap]", flags="rd wr mr mw me ac"))
    fake.process(200, "oracle", smaps, own_pages() + seg_pages(EVERY_BLOCK[0]), vmpte=vmpte(10), pagemap_end=END)
    r, _ = _scan(fake, [200])
    assert r.decided == 1 and r.decided_room == {0: 1} and not r.vmpte_differences()
    assert "Exact: in none of them could an empty table elsewhere stand for an untouched block." in " ".join(header_lines(r))


def test_vmpte_lower_reads_cells(tmp_path):
    """Block 3 of the second process holds no page: 9 PTE tables, VmPTE
    52 KiB, below the 56 KiB of every block present -- its segment is read
    by cells, and touched as it is."""
    fake = FakeProc(tmp_path)
    gap = [o for o in EVERY_BLOCK[1] if not 6 * MiB <= o < 8 * MiB]
    fake.process(200, "oracle", seg_smaps(), own_pages() + seg_pages(EVERY_BLOCK[0]), vmpte=vmpte(10),
                 pagemap_end=END)
    fake.process(201, "oracle", seg_smaps(), own_pages() + seg_pages(gap), vmpte=vmpte(9), pagemap_end=END)
    r, calls = _scan(fake, [200, 201])
    assert calls["cells"] == 1 and calls["first"] == 8  # the first process's sample
    assert r.decided == 1 and not r.vmpte_differences()
    touched = sorted(g.mappings[0].touched for g in r.workload.groups)
    assert touched == [((0, 6 * MiB), (8 * MiB, SEG_SIZE)), ((0, SEG_SIZE),)]
    _same_as_exact(fake, [200, 201], r)


def test_failed_sample_reads_cells(tmp_path):
    """Block 3 holds no page, but VmPTE says 56 KiB: one table the pagemap
    cannot show (an empty one, say in the heap) balances it.  The sample
    finds block 3 without an entry: the segment is read by cells, so it is
    touched as it is, and the model is 4 KiB short of the kernel, as the
    scan then says."""
    fake = FakeProc(tmp_path)
    gap = [o for o in EVERY_BLOCK[0] if not 6 * MiB <= o < 8 * MiB]
    fake.process(200, "oracle", seg_smaps(), own_pages() + seg_pages(gap), vmpte=vmpte(10), pagemap_end=END)
    r, calls = _scan(fake, [200])
    assert calls["first"] == 8 and calls["cells"] == 1 and r.decided == 0
    assert "Blocks decided by VmPTE" not in render_scan(r)
    (g,) = r.workload.groups
    assert g.mappings[0].touched == ((0, 6 * MiB), (8 * MiB, SEG_SIZE))
    assert r.vmpte_differences() == [(200, vmpte(10), vmpte(9))]
    _same_as_exact(fake, [200], r)


SHIFT = 48 * KiB
# 48 KiB past a block boundary, at file offset 0: nine blocks of addresses (a
# partial one at each end), eight of file offsets.  Pages at offsets 2 MiB k +
# 100 KiB (address block k) for k = 0, 1, 2, 5, 6, 7; 6 MiB - 8 KiB (address
# block 3, file block 2); 8 MiB + 100 KiB (address block 4, file block 4);
# 16 MiB - 4 KiB (address block 8, file block 7): every block of addresses
# holds a page, file block 3 none.
MISALIGNED = ([k * 2 * MiB + 100 * KiB for k in (0, 1, 2, 5, 6, 7)]
              + [6 * MiB - 8 * KiB, 8 * MiB + 100 * KiB, SEG_SIZE - 4 * KiB])


def test_misaligned_mapping_reads_file_blocks(tmp_path):
    """A mapping whose address and file offset disagree modulo 2 MiB: VmPTE
    (9 + 2 PTE tables, 60 KiB) decides its seven whole blocks of addresses;
    its two partial ones are read by cells, and one PAGEMAP_SCAN per file
    block's part of the whole ones (8) says which file blocks hold a page.
    Touched: every byte whose block of addresses and block of file offsets
    both hold a page -- all but file block 3, [6 MiB, 8 MiB)."""
    fake = FakeProc(tmp_path)
    fake.process(200, "oracle", seg_smaps(SHIFT), own_pages() + seg_pages(MISALIGNED, SHIFT), vmpte=vmpte(11),
                 pagemap_end=END)
    other = [o + (4 * KiB if o % (2 * MiB) < MiB else -4 * KiB) for o in MISALIGNED]  # the same blocks
    fake.process(201, "oracle", seg_smaps(SHIFT), own_pages() + seg_pages(other, SHIFT), vmpte=vmpte(11),
                 pagemap_end=END)
    r, calls = _scan(fake, [200, 201])
    assert calls["cells"] == 2 * 2 and calls["first"] == 2 * (7 + 8)  # per process: 2 edges; sample, file blocks
    assert r.decided == 2 and not r.vmpte_differences()
    (g,) = r.workload.groups
    assert g.count == 2 and g.mappings[0].touched == ((0, 6 * MiB), (8 * MiB, SEG_SIZE))
    _same_as_exact(fake, [200, 201], r)


def test_sample_is_evenly_spaced_with_both_ends():
    block = 2 * MiB
    s = scan_read._sample(0, 64 * block, block)
    assert s.size == 32 and s[0] == 0 and s[-1] == 63 * block and np.unique(s).size == 32
    assert set((np.diff(s) // block).tolist()) == {2, 3}  # 63 blocks apart in 31 steps
    assert scan_read._sample(0, 5 * block, block).tolist() == [0, block, 2 * block, 3 * block, 4 * block]


@pytest.mark.parametrize("start,end,want", [(0, 4 * MiB, (0, 4 * MiB)), (4 * KiB, 4 * MiB, (2 * MiB, 4 * MiB)),
                                            (4 * KiB, 2 * MiB - 4 * KiB, (2 * MiB, 2 * MiB))])
def test_interior(start, end, want):
    assert scan_read._interior(start, end, 2 * MiB) == want
