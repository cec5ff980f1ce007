"""``ptcalc scan --jobs N``: processes read in forked workers (``ptcalc.linux.scan_jobs``)
write the same workload as read in one process, and count the same skips."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner
from test_scan import DeniedFS, _scan, fake  # noqa: F401  (fake: the fixture)

from ptcalc.cli import main
from ptcalc.linux.errors import WorkerError
from ptcalc.linux.scan_jobs import auto_jobs, jobs_for, read_all
from ptcalc.render.scan_yaml import render_scan

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forks, reads /proc")


def _no_children() -> bool:
    """This process has no child left (every worker reaped)."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.parametrize("touched", ["tables", "pages"])
def test_the_workload_written_is_the_same_for_any_number_of_jobs(fake, touched):  # noqa: F811
    texts = {}
    for jobs in (1, 2, 3):
        r = _scan(fake, touched=touched, jobs=jobs)
        # the fixture: 100-103 and 107 read; 104 denied, 105 gone after the listing,
        # 106 a kernel thread (no mm: neither read nor skipped)
        assert r.processes_read == 5
        assert dict(r.skipped) == {"permission denied": 1, "vanished": 1}
        texts[jobs] = render_scan(r)
    assert texts[2] == texts[1] and texts[3] == texts[1]
    assert _no_children()


def test_skips_are_counted_per_process_in_the_workers(fake):  # noqa: F811
    # 102's smaps missing while /proc/102 is there: unreadable; 104 denied; 998 and
    # 999 never existed (vanished), spread so that each worker meets some
    os.remove(fake.proc / "102" / "smaps")
    pids = [998, 100, 104, 101, 999, 102, 103, 107]
    for jobs in (1, 2, 3):
        r = _scan(fake, pids=pids, jobs=jobs)
        assert dict(r.skipped) == {"vanished": 2, "permission denied": 1, "unreadable (FileNotFoundError)": 1}
        assert r.processes_read == 4  # 100, 101, 103, 107
        assert sorted(p for n in r.group_notes for p in n.pids) == [100, 101, 103, 107]


def test_progress_counts_every_process(fake):  # noqa: F811
    seen = []
    _scan(fake, jobs=2, progress=lambda done, total: seen.append((done, total)))
    # every listed PID (100-107) once, whether read, skipped or a kernel thread
    assert seen == [(k, 8) for k in range(1, 9)]


def test_auto_jobs():
    # one per 4 CPUs, at most 8, at most one per 16 processes, at least 1
    assert [auto_jobs(1500, c) for c in (1, 2, 4, 7, 8, 12, 32, 33, 64, 256)] == [1, 1, 1, 1, 2, 3, 8, 8, 8, 8]
    assert [auto_jobs(p, 64) for p in (0, 15, 16, 47, 48, 1000)] == [1, 1, 1, 2, 3, 8]
    assert jobs_for(None, 1500) == auto_jobs(1500)
    assert (jobs_for(4, 3), jobs_for(4, 0), jobs_for(1, 100)) == (3, 1, 1)


def _kill_at(target: int):
    def read(pid: int) -> int:
        if pid == target:
            os.kill(os.getpid(), signal.SIGKILL)
        return pid * 2
    return read


def test_a_worker_killed_is_one_located_error_and_no_orphan():
    with pytest.raises(WorkerError) as e:
        list(read_all(_kill_at(13), list(range(10, 30)), 3))
    assert "was killed by SIGKILL while reading process 13" in str(e.value) and "\n" not in str(e.value)
    assert _no_children()
    # the results come in order, whatever worker read them
    assert list(read_all(_kill_at(-1), list(range(10, 30)), 3)) == [p * 2 for p in range(10, 30)]
    assert _no_children()


def test_a_worker_failing_is_one_located_error():
    def read(pid: int) -> int:
        if pid == 7:
            raise RuntimeError("boom")
        return pid

    with pytest.raises(WorkerError, match=r"failed reading process 7: RuntimeError: boom$"):
        list(read_all(read, list(range(20)), 2))
    assert _no_children()


def test_stopping_early_kills_and_reaps_the_workers():
    def read(pid: int) -> int:
        if pid:
            time.sleep(60)
        return pid

    t0 = time.monotonic()
    reads = read_all(read, list(range(8)), 2)
    assert next(reads) == 0
    reads.close()  # as an exception in the caller's loop closes it (scan's ``with closing``)
    assert time.monotonic() - t0 < 30 and _no_children()


CTRL_C = textwrap.dedent("""
    import os, sys, time
    from ptcalc.linux.scan_jobs import read_all

    def read(pid):
        with open(sys.argv[1], "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(60)
        return pid

    print("ready", flush=True)
    for _ in read_all(read, list(range(10)), 2):
        pass
""")


def test_ctrl_c_leaves_no_worker_behind(tmp_path):
    """SIGINT to the whole process group (a terminal's Ctrl-C): the workers ignore it,
    the parent kills and reaps them."""
    pids_file = tmp_path / "workers"
    p = subprocess.Popen([sys.executable, "-c", CTRL_C, str(pids_file)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert p.stdout.readline() == "ready\n"
        for _ in range(200):  # both workers reading
            if pids_file.exists() and len(pids_file.read_text().split()) >= 2:
                break
            time.sleep(0.05)
        workers = [int(x) for x in pids_file.read_text().split()]
        assert len(workers) == 2
        os.killpg(p.pid, signal.SIGINT)
        p.wait(timeout=20)
        assert "KeyboardInterrupt" in p.stderr.read()
        for pid in workers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_jobs_option_rejects_what_is_not_a_count(value):
    r = CliRunner().invoke(main, ["scan", "--jobs", value, "-p", "1"])
    assert r.exit_code == 2 and "Invalid value for '-j' / '--jobs'" in r.output
