"""``ptcalc scan`` lets VmPTE decide the blocks of a partly present segment
(``scan_read._deduce``), on the live kernel: forked children of ours map one
memfd (tests/scan_forker.py) and touch scattered pages of it.

Where every 2 MiB block holds a page of each child, the kernel's VmPTE is the
most the model gives with every block present: no block is read by cells,
only a sample; where one child left a block untouched its VmPTE is 4 KiB
lower and that child's segment is read by cells.  Either way the workload is
the exact scan's (every page read) and its tables those of the pages present
(``--touched pages``), and every child's VmPTE is the model's.

The children are idle while they are scanned, but the machine is shared: a
round in which a child's VmPTE or the exact scan moved (reclaim, say) is
repeated, and after three such rounds the test is inconclusive (skipped),
never failed.
"""

from __future__ import annotations

import sys
from collections import defaultdict

import pytest
from test_scan_reuse import _forked, _scan_ioctl
from test_scan_vmpte import _figures

from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.scan import scan

KiB, MiB = 1 << 10, 1 << 20
BLOCK = 2 * MiB
SIZE = 32 * MiB  # 16 blocks
ROUNDS = 3

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")]


class Counting(ProcFS):
    """The live /proc, with the blocks and ranges the scan probes noted, per PID."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.first: dict[int, int] = defaultdict(int)

    def pagemap_cells(self, fd, start, end, offset, block, pid="?"):
        self.cells[pid].append((start, end))
        return super().pagemap_cells(fd, start, end, offset, block, pid)

    def pagemap_first(self, fd, starts, ends, pid="?"):
        self.first[pid] += len(starts)
        return super().pagemap_first(fd, starts, ends, pid)


def _pages(k: int, skip: int | None = None) -> list[int]:
    """Child ``k``'s pages: one in each block (but block ``skip``), each child at other offsets."""
    return [b * BLOCK + ((b * 7 + k * 13) % 500) * 4 * KiB for b in range(SIZE // BLOCK) if b != skip]


def _vmpte(pid: int) -> int:
    return ProcFS().vmpte(pid)


def _memfd(pid: int) -> tuple[int, int]:
    for e in ProcFS().maps(pid):
        if e.path.startswith("/memfd:ptcalc-scan-forker"):
            return e.start, e.end
    raise AssertionError(f"no memfd in {pid}'s maps")


def _check(spec: dict, deduced: dict[int, bool]) -> None:
    """Scan the forker's children of ``spec``; ``deduced``: by child index,
    whether VmPTE decides its segment (no cell of the segment's whole blocks
    read) or not (read by cells)."""
    if not _scan_ioctl():
        pytest.skip("no PAGEMAP_SCAN (Linux 6.7+)")
    gen = _forked(spec)
    pids = next(gen)
    try:
        moved = []
        for _ in range(ROUNDS):
            before = [_vmpte(p) for p in pids]
            exact = scan(pids, reuse=False)
            fs = Counting()
            fast = scan(pids, fs=fs)
            pages = scan(pids, touched="pages")
            again = scan(pids, reuse=False)
            after = [_vmpte(p) for p in pids]
            if before != after or exact.workload != again.workload:
                moved.append((before, after))
                continue
            assert not fast.vmpte_differences() and not exact.vmpte_differences()
            assert fast.decided == sum(deduced.values()) and exact.decided == 0
            assert fast.workload.groups == exact.workload.groups
            assert fast.workload.segments == exact.workload.segments
            assert _figures(fast.workload) == _figures(exact.workload) == _figures(pages.workload)
            for k, pid in enumerate(pids):
                lo, hi = _memfd(pid)
                inner = (-(-lo // BLOCK) * BLOCK, hi // BLOCK * BLOCK)
                read_inner = any(s < inner[1] and e > inner[0] for s, e in fs.cells[pid])
                assert read_inner != deduced[k], (k, fs.cells[pid])
                if deduced[k]:
                    assert fs.first[pid] >= min(32, (inner[1] - inner[0]) // BLOCK)
            return
        pytest.skip(f"inconclusive: the children's VmPTE or pages moved in each of {ROUNDS} rounds: {moved}")
    finally:
        gen.close()


def test_every_block_present_is_decided_by_vmpte():
    _check({"size": SIZE, "touch": [], "children": [_pages(k) for k in range(3)]}, {0: True, 1: True, 2: True})


def test_an_untouched_block_reads_cells():
    """Child 1 leaves block 5 untouched: its VmPTE is one PTE table short of
    the most, so its segment is read by cells; the others' are decided."""
    _check({"size": SIZE, "touch": [], "children": [_pages(0), _pages(1, skip=5), _pages(2)]},
           {0: True, 1: False, 2: True})


def test_misaligned_mapping_is_decided_by_vmpte():
    """The memfd 48 KiB past a 2 MiB boundary (file offset 0): its whole
    blocks decided by VmPTE, its file blocks read one PAGEMAP_SCAN each."""
    _check({"size": SIZE, "touch": [], "shift": 48 * KiB, "children": [_pages(k) for k in range(3)]},
           {0: True, 1: True, 2: True})
