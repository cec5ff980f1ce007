"""PageTables and every other process's VmPTE, read together: on a fake /proc
whose figures are known, so the correction is checked by hand."""

from __future__ import annotations

import itertools

import pytest
from fake_tree import KiB, FakeTree, stat_line

from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.readings import (Cycles, Explained, Reading, explained_by_vmpte, other_processes, read_snapshot,
                                    settle_pagetables)


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


# --- repeated readings: which growth is trusted (no kernel) -------------------------------------------
# Readings are built by hand: PageTables of the machine with nothing else
# running, so ``corrected`` is the figure itself; "noise" below is a change
# no VmPTE shows (a kernel page table, a PGD freed late, a half-forked process).

T = 4 * KiB  # one table


def _cycles(values, explained=None):
    c = Cycles(pgd_bytes=0, explained=explained)
    for v in values:
        c.add(None if v is None else Reading(v, {}))
    return c


def test_exact_growth_is_trusted_after_one_cycle():
    # 4 KiB shmem in 2 processes, nothing shared: VmPTE grew by 5 tables each,
    # so PageTables must grow by exactly 10 tables
    ex = explained_by_vmpte([5 * T, 5 * T], pud_counted=True, may_share=False)
    assert ex == Explained(10 * T, 10 * T)
    c = _cycles([100 * T, 110 * T], ex)
    assert c.delta() == 10 * T and c.noise() == []
    # one table of noise at the mapped reading: not trusted until a later
    # transition moves by exactly 10 tables (unmapping: 111 -> 101)
    c = _cycles([100 * T, 111 * T], ex)
    assert c.delta() is None
    c.add(Reading(101 * T, {}))
    assert c.delta() == 10 * T and c.trusted() == (2, 1)


def test_shared_growth_needs_two_cycles_alike():
    # hugetlb: VmPTE allows 16 to 240 KiB (15 processes of 16 KiB, shared PMDs)
    ex = explained_by_vmpte([4 * T] * 15, pud_counted=True, may_share=True)
    assert ex == Explained(4 * T, 60 * T)
    # the flaky CI run: a 4 KiB table was freed late after the baseline
    # (68 KiB instead of 72); unmapping and mapping again shows 72, 72
    c = _cycles([101 * T, 118 * T], ex)
    assert c.delta() is None  # one cycle is not enough when tables are shared
    c.add(Reading(100 * T, {}))
    assert c.delta() is None  # 101 != 100: the baseline moved
    c.add(Reading(118 * T, {}))
    assert c.delta() is None  # still only one full cycle since
    c.add(Reading(100 * T, {}))
    assert c.delta() == 18 * T and c.trusted() == (2, 1)  # 118, 100, 118, 100
    assert c.transitions() == [17 * T, 18 * T, 18 * T, 18 * T]


def test_a_steady_wrong_model_is_not_noise():
    # the kernel says 19 tables, steadily, twice: that is the growth, whatever a
    # model says (nothing here knows the model)
    ex = Explained(4 * T, 60 * T)
    assert _cycles([100 * T, 119 * T, 100 * T, 119 * T], ex).delta() == 19 * T


def test_noise_that_never_repeats_is_inconclusive_with_the_reasons():
    ex = Explained(4 * T, 60 * T)
    c = _cycles([100 * T, 118 * T, 101 * T, 120 * T, 102 * T, None, 103 * T, 122 * T], ex)
    assert c.delta() is None
    (unsettled, cycles) = c.noise()
    assert "did not settle in 1 of 8 readings" in unsettled
    assert cycles.startswith("PageTables grew by 72 KiB, 68 KiB, 76 KiB, 72 KiB, -, -, 76 KiB ") and \
        "no two cycles in a row read the same" in cycles


def test_steady_but_unexplained_is_inconclusive():
    # 4 KiB pages, nothing shared: the processes' VmPTE says 10 tables; the
    # machine reads 11, steadily: something else holds a table, not the model's business
    ex = Explained(10 * T, 10 * T)
    c = _cycles([100 * T, 111 * T, 100 * T, 111 * T], ex)
    assert c.delta() is None
    (why,) = c.noise()
    assert "steady, but not what its processes' VmPTE (exact) allows (40 KiB)" in why


def test_others_adjust_is_of_the_trusted_pair():
    # a shell (VmPTE 8 KiB) started between the readings of the trusted pair
    c = Cycles(pgd_bytes=T, explained=Explained(2 * T, 2 * T))
    c.add(Reading(100 * T, {(1, 1): 4 * T}))
    c.add(Reading(105 * T, {(1, 1): 4 * T, (9, 9): 2 * T}))
    assert c.delta() == 2 * T
    assert c.others_adjust() == 3 * T  # its VmPTE and its PGD


class _Scripted(ProcFS):
    """The fake machine, its PageTables going through ``values`` (KiB), one per reading."""

    def __init__(self, roots, values):
        super().__init__(*roots)
        self.values = iter(values)
        self.reads = 0

    def pagetables(self):
        self.reads += 1
        return next(self.values) * KiB


def test_settled_is_the_smallest_value_seen_three_times(tmp_path):
    tree = FakeTree(tmp_path).machine()
    tree.process(1, "init", vmpte=96 * KiB, stat=stat_line(1, "init", ppid=0, start=10))
    # RCU-deferred frees drain (110 -> 100), then a process half-forked or
    # exiting adds some tables at two readings: 100 is seen three times
    fs = _Scripted(tree.roots, [110, 100, 104, 100, 130, 100, 100])
    r, ok = settle_pagetables(fs, 0.0, 0, timeout=5)
    assert ok and r.pagetables == 100 * KiB and fs.reads == 6
    # a quiet machine: three equal readings
    fs = _Scripted(tree.roots, [100, 100, 100, 90])
    r, ok = settle_pagetables(fs, 0.0, 0, timeout=5)
    assert ok and r.pagetables == 100 * KiB and fs.reads == 3
    # a lower value resets the count: 100 x 2, then 96 x 3
    fs = _Scripted(tree.roots, [100, 100, 96, 100, 96, 96])
    r, ok = settle_pagetables(fs, 0.0, 0, timeout=5)
    assert ok and r.pagetables == 96 * KiB and fs.reads == 6


def test_not_settled_when_the_smallest_is_never_seen_again(tmp_path):
    tree = FakeTree(tmp_path).machine()
    fs = _Scripted(tree.roots, itertools.count(100))
    r, ok = settle_pagetables(fs, 0.0, 0, timeout=0.2)
    assert not ok
