"""PageTables and every other process's VmPTE, read together: on a fake /proc
whose figures are known, so the correction is checked by hand."""

from __future__ import annotations

import pytest
from fake_tree import KiB, FakeTree, stat_line

from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.readings import Reading, other_processes, read_snapshot, settle_pagetables


def test_reading_subtracts_other_processes_and_their_pgds():
    r = Reading(pagetables=1000 * 4096, vmpte={(1, 10): 40 * 4096, (2, 20): 60 * 4096})
    assert r.corrected(0) == 900 * 4096
    assert r.corrected(4096) == 898 * 4096  # two PGDs
    assert r.without({2}).corrected(4096) == 959 * 4096


@pytest.fixture
def fs(tmp_path):
    t = FakeTree(tmp_path).machine()  # PageTables: 1676 kB
    t.process(1, "init", vmpte=96 * KiB, stat=stat_line(1, "init", ppid=0, start=10))
    t.process(2, "kthreadd", vmpte=None, stat=stat_line(2, "kthreadd", ppid=0, flags=0x208040, start=11))
    t.process(300, "bash", vmpte=64 * KiB, stat=stat_line(300, "bash", start=5000))
    t.process(301, "defunct", vmpte=None, stat=stat_line(301, "defunct", state="Z", start=5001))
    t.process(400, "ptcm-1", vmpte=12 * KiB, stat=stat_line(400, "ptcm-1", start=6000))
    return ProcFS(*t.roots)


def test_other_processes_leave_out_kernel_threads_zombies_and_ours(fs):
    assert other_processes(fs, {400}) == {(1, 10), (300, 5000)}
    assert other_processes(fs, set()) == {(1, 10), (300, 5000), (400, 6000)}


def test_snapshot_and_settled_reading(fs):
    r = read_snapshot(fs, {400})
    assert r.consistent and r.pagetables == 1676 * KiB
    assert r.vmpte == {(1, 10): 96 * KiB, (300, 5000): 64 * KiB}
    # 1676 - 96 - 64 KiB, less a 4 KiB PGD for each of the two other processes
    assert r.corrected(4 * KiB) == (1676 - 96 - 64 - 8) * KiB
    settled, ok = settle_pagetables(fs, 0.0, 4 * KiB, skip={400}, timeout=1)
    assert ok and settled == r
