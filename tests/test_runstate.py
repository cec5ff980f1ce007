"""measure's state file and ``repair``, on a fake /proc and /sys: what a run
killed with SIGKILL leaves is found and put back (the live SIGKILL test is
in tests/test_measure.py)."""

from __future__ import annotations

import json
import os

import pytest
from fake_tree import GiB, MiB, FakeTree, stat_line

from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.runstate import Journal, repair
from ptcalc.linux.tunables import THP_SHMEM_ENABLED, Tunables, hugetlb_pool_path
from ptcalc.render.measure_facts import repaired_lines

POOL_2M = hugetlb_pool_path(2 * MiB)
DEAD = 4_000_000  # a pid no fake process has (above pid_max's default)


@pytest.fixture
def tree(tmp_path):
    t = FakeTree(tmp_path / "root").machine(pools={2 * MiB: 7, GiB: 0})
    t.process(os.getpid(), "python", stat=stat_line(os.getpid(), "python", start=1000))
    return t


@pytest.fixture
def fs(tree):
    return ProcFS(*tree.roots)


def _as_dead(path, pid=DEAD):
    """The state file as the process ``pid``, now gone, left it."""
    doc = json.loads(path.read_text())
    doc["pid"] = pid
    new = path.with_name(f"measure-{pid}.json")
    new.write_text(json.dumps(doc))
    path.unlink()
    return new


def test_journal_records_before_each_write_and_goes_on_close(tmp_path, tree, fs):
    state = tmp_path / "state"
    j = Journal(fs, str(state))
    j.open()
    path = state / f"measure-{os.getpid()}.json"
    seen = []

    class Watching(ProcFS):
        def write(self, p, value):
            seen.append(json.loads(path.read_text())["tunables"])  # what the file said before this write
            super().write(p, value)

    with Tunables(Watching(*tree.roots), before_write=j.tunable) as t:
        t.set(POOL_2M, "1031")
        t.set(THP_SHMEM_ENABLED, "advise")
        j.children("ptcm-1", [11, 12])
        doc = json.loads(path.read_text())
    assert seen[0] == [{"path": POOL_2M, "old": "7", "new": "1031"}]
    assert seen[1][1] == {"path": THP_SHMEM_ENABLED, "old": "never", "new": "advise"}
    assert doc["children"] == {"comm": "ptcm-1", "pids": [11, 12]} and doc["start_time"] == 1000
    j.close()
    assert not path.exists()


def test_repair_puts_back_what_a_killed_run_left(tmp_path, tree, fs):
    state = tmp_path / "state"
    j = Journal(fs, str(state))
    j.open()
    t = Tunables(fs, before_write=j.tunable)
    t.set(POOL_2M, "1031")  # 7 + 1,024 pages
    t.set(THP_SHMEM_ENABLED, "advise")
    # ... and the run was killed: nothing restored; its file names a dead process
    left = _as_dead(state / f"measure-{os.getpid()}.json")
    assert fs.read_value(POOL_2M) == "1031"
    (rep,) = repair(fs, str(state))
    assert fs.read_value(POOL_2M) == "7" and tree.read("sys/kernel/mm/transparent_hugepage/shmem_enabled") == "never"
    assert rep.pid == DEAD and rep.restored == ((POOL_2M, "1031", "7"), (THP_SHMEM_ENABLED, "advise", "never"))
    assert not left.exists()
    assert repaired_lines([rep]) == [f"measure pid {DEAD} (killed): {POOL_2M} was 1031, put back to 7",
                                     f"measure pid {DEAD} (killed): {THP_SHMEM_ENABLED} was advise, put back to never"]
    assert repair(fs, str(state)) == []  # nothing left the second time


def test_repair_leaves_alone_what_someone_changed_since(tmp_path, tree, fs):
    state = tmp_path / "state"
    j = Journal(fs, str(state))
    j.open()
    Tunables(fs, before_write=j.tunable).set(POOL_2M, "1031")
    _as_dead(state / f"measure-{os.getpid()}.json")
    tree.file("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "2000\n")  # an administrator, since
    (rep,) = repair(fs, str(state))
    assert fs.read_value(POOL_2M) == "2000" and rep.left == ((POOL_2M, "2000", "7"),) and rep.restored == ()
    assert "changed since by someone else: left alone (it was 7 before that run)" in repaired_lines([rep])[0]


def test_repair_skips_a_live_run_and_its_own(tmp_path, tree, fs):
    state = tmp_path / "state"
    j = Journal(fs, str(state))
    j.open()
    Tunables(fs, before_write=j.tunable).set(POOL_2M, "1031")
    assert repair(fs, str(state)) == []  # this process: alive
    # another process, alive (pid and start time match)
    tree.process(4242, "ptcalc", stat=stat_line(4242, "ptcalc", start=5000))
    doc = json.loads((state / f"measure-{os.getpid()}.json").read_text())
    (state / "measure-4242.json").write_text(json.dumps({**doc, "pid": 4242, "start_time": 5000}))
    assert repair(fs, str(state)) == []
    # the same pid, since reused by another process (start time differs): the run is gone
    (state / "measure-4242.json").write_text(json.dumps({**doc, "pid": 4242, "start_time": 4000}))
    (rep,) = repair(fs, str(state))
    assert rep.pid == 4242 and fs.read_value(POOL_2M) == "7"


def test_repair_ends_only_its_own_measuring_processes(tmp_path, tree, fs, monkeypatch):
    # pid 50 is a measuring process of the dead run (comm, started after it);
    # pid 51 is someone else's now (comm differs); pid 52 started before the
    # run (a reused pid cannot be older than the run that recorded it)
    tree.process(50, "ptcm-4000000", stat=stat_line(50, "ptcm-4000000", start=1200))
    tree.process(51, "bash", stat=stat_line(51, "bash", start=1200))
    tree.process(52, "ptcm-4000000", stat=stat_line(52, "ptcm-4000000", start=900))
    killed = []

    def kill(pid, sig):
        killed.append(pid)
        (tree.proc / str(pid) / "comm").write_text("gone\n")

    monkeypatch.setattr(os, "kill", kill)
    state = tmp_path / "state"
    state.mkdir()
    (state / f"measure-{DEAD}.json").write_text(json.dumps({
        "version": 1, "pid": DEAD, "start_time": 1000, "tunables": [],
        "children": {"comm": "ptcm-4000000", "pids": [50, 51, 52, 53]}}))
    (rep,) = repair(fs, str(state))
    assert killed == [50] and rep.ended == (50,)
    assert repaired_lines([rep]) == [f"measure pid {DEAD} (killed): ended 1 measuring process still running"]
