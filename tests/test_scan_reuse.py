"""``ptcalc scan`` reads a process whose maps it has seen without smaps
(``scan_read.Reader``), on forked children of ours (no root needed: our own
children's pagemap): the same workload as reading each in full."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptcalc.linux.pagemap import pagemap_scan_supported
from ptcalc.linux.scan import scan
from ptcalc.model.tables import SCHEMES, compute
from ptcalc.render.scan_yaml import render_scan

KiB, MiB = 1 << 10, 1 << 20
FORKER = Path(__file__).with_name("scan_forker.py")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _scan_ioctl() -> bool:
    fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    try:
        return pagemap_scan_supported(fd)
    finally:
        os.close(fd)


@pytest.fixture
def workers():
    if not _scan_ioctl():
        pytest.skip("no PAGEMAP_SCAN (Linux 6.7+): every process is read in full")
    # three identical children; a fourth touches one more page, in a block of its own
    yield from _forked({"size": 64 * MiB, "touch": [0, 4 * KiB, 9 * MiB],
                        "children": [[20 * MiB], [20 * MiB], [20 * MiB], [20 * MiB, 40 * MiB]]})


def _forked(spec: dict) -> Iterator[list[int]]:
    """scan_forker.py's children for ``spec``: their PIDs, until the generator is closed."""
    p = subprocess.Popen([sys.executable, str(FORKER), json.dumps(spec)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line:
            pytest.fail("the forker died")
        yield json.loads(line)
    finally:
        p.stdin.close()
        p.wait(timeout=30)


def _figures(w):
    return [(s, compute(w, s).tables, [(g.count, g.vmpte_bytes) for g in compute(w, s).groups]) for s in SCHEMES]


def test_processes_with_seen_maps_are_read_without_smaps(workers):
    for touched in ("tables", "pages"):
        fast = scan(workers, touched=touched)
        full = scan(workers, touched=touched, reuse=False)
        assert (fast.reused, full.reused) == (3, 0)  # every child but the first
        assert not fast.vmpte_differences() and not full.vmpte_differences()
        assert fast.workload.groups == full.workload.groups and fast.workload.segments == full.workload.segments
        assert _figures(fast.workload) == _figures(full.workload)
        # the fourth child touched one more block: a group of its own
        assert sorted(g.count for g in fast.workload.groups) == [1, 3]
        assert {n.model_vmpte for n in fast.group_notes} == {v for n in fast.group_notes for v in n.vmpte}


@pytest.fixture
def same_blocks():
    if not _scan_ioctl():
        pytest.skip("no PAGEMAP_SCAN (Linux 6.7+)")
    # three children touch a page each, other pages of the same 2 MiB block (of
    # file offsets and of addresses: scan_forker.py maps the memfd 2 MiB-aligned)
    yield from _forked({"size": 64 * MiB, "touch": [],
                        "children": [[20 * MiB + 4 * KiB], [20 * MiB + 8 * KiB], [20 * MiB + 12 * KiB]]})


def test_partly_present_segment_is_read_by_blocks(same_blocks):
    """With ``touched="tables"`` a partly present segment is read by 2 MiB
    blocks (scan_read._read_cells): children touching other pages of the same
    block write what the exact scan writes -- one group of three -- and are
    read once; the exact scan counts the pages present (three, one per child:
    a fork copies no page-table entry of a shared file mapping,
    vma_needs_copy()), the one by blocks does not count them."""
    fast = scan(same_blocks)
    full = scan(same_blocks, reuse=False)
    pages = scan(same_blocks, touched="pages")
    assert fast.workload.groups == full.workload.groups and fast.workload.segments == full.workload.segments
    assert _figures(fast.workload) == _figures(full.workload)
    assert [g.count for g in fast.workload.groups] == [3]
    assert (fast.reused, full.reused) == (2, 0)
    assert not fast.vmpte_differences()
    (name,) = fast.workload.segments
    assert fast.segment_notes[name].present_bytes is None
    assert full.segment_notes[name].present_bytes == pages.segment_notes[name].present_bytes == 3 * 4 * KiB
    # by pages, each child its own page: three groups
    assert sorted(g.count for g in pages.workload.groups) == [1, 1, 1]
    assert "pages present in the scanned processes: read by 2 MiB blocks, not counted" in render_scan(fast)
    assert "pages present in the scanned processes: 12 KiB" in render_scan(full)
