"""``ptcalc scan`` reads a process whose maps it has seen without smaps
(``scan_read.Reader``), on forked children of ours (no root needed: our own
children's pagemap): the same workload as reading each in full."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ptcalc.linux.pagemap import pagemap_scan_supported
from ptcalc.linux.scan import scan
from ptcalc.model.tables import SCHEMES, compute

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
    spec = {"size": 64 * MiB, "touch": [0, 4 * KiB, 9 * MiB],
            "children": [[20 * MiB], [20 * MiB], [20 * MiB], [20 * MiB, 40 * MiB]]}
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
