"""``ptcalc scan`` on a real PostgreSQL server with many backends.

Runs only where PostgreSQL's server binaries are installed (Debian:
``apt-get install postgresql``) and we are root (the server runs as the
``postgres`` user; we read its processes' pagemap).  A throw-away cluster in a
temporary directory, reachable only through a Unix socket there, gets 16
backends that each read a table and then sleep.

The scan must find the main shared memory segment (MAP_SHARED|MAP_ANONYMOUS:
``/dev/zero (deleted)`` with ``huge_pages = off``) in every process, group the
backends that touched the same pages, and be exact where it can be checked
against the kernel: for every scanned process, the model's VmPTE over the
scan's mappings *plus* the process's private mappings (read from its pagemap
the same way) equals the kernel's VmPTE.  (PostgreSQL maps its segment among
the libraries, so its tables share PMD and PUD tables with them; the whole
process is what the kernel reports.)
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ptcalc.model.geometry import X86_64
from ptcalc.model.tables import compute
from ptcalc.linux.errors import ProcessGone
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.scan import read_touched, scan
from ptcalc.workload.touched import as_ranges
from ptcalc.workload.types import Mapping, Segment

pytestmark = pytest.mark.kernel

BACKENDS = 16


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return os.path.dirname(found[-1]) if found else None


BIN = _pg_bin()
if sys.platform != "linux" or os.geteuid() != 0 or BIN is None or os.uname().machine != "x86_64":
    pytest.skip("needs root on x86-64 Linux and PostgreSQL server binaries (/usr/lib/postgresql/*/bin)",
                allow_module_level=True)
try:
    pwd.getpwnam("postgres")
except KeyError:
    pytest.skip("no postgres user", allow_module_level=True)


def _as_postgres(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True,
                          text=True, **kw)


@pytest.fixture(scope="module")
def server():
    # not under pytest's tmp_path: its parents are closed to other users
    d = Path(tempfile.mkdtemp(prefix="ptcalc-pg-"))
    shutil.chown(d, "postgres")
    data = d / "data"
    try:
        _as_postgres([f"{BIN}/initdb", "-D", str(data), "-A", "trust", "--no-sync"])
    except subprocess.CalledProcessError as e:
        shutil.rmtree(d, ignore_errors=True)
        pytest.skip(f"initdb failed: {e.stderr.strip()[:200]}")
    with open(data / "postgresql.conf", "a") as f:
        f.write(f"listen_addresses = ''\nunix_socket_directories = '{d}'\nport = 54321\n"
                "shared_buffers = 128MB\nhuge_pages = off\nfsync = off\n"
                "max_parallel_workers_per_gather = 0\nautovacuum = off\n")
    _as_postgres([f"{BIN}/pg_ctl", "-D", str(data), "-l", str(d / "log"), "-w", "start"])
    psql = ["runuser", "-u", "postgres", "--", f"{BIN}/psql", "-h", str(d), "-p", "54321", "-q", "-X",
            "-d", "postgres"]
    clients: list[subprocess.Popen] = []
    try:
        subprocess.run([*psql, "-c", "CREATE TABLE t AS SELECT g AS id, repeat('x', 200) AS pad "
                                     "FROM generate_series(1, 100000) g"], check=True, capture_output=True)
        for _ in range(BACKENDS):
            clients.append(subprocess.Popen(
                [*psql, "-c", "SELECT count(*), sum(length(pad)) FROM t", "-c", "SELECT pg_sleep(600)"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        pid_file = data / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
        deadline = time.monotonic() + 30
        while True:
            kids = [int(p) for p in subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                                                   text=True).stdout.split()]
            busy = [p for p in kids if "pg_sleep" in _cmd(p) or _waiting(p)]
            if len(busy) >= BACKENDS or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(0.5)
        yield postmaster, kids
    finally:
        for c in clients:
            c.kill()
        subprocess.run(["runuser", "-u", "postgres", "--", f"{BIN}/pg_ctl", "-D", str(data), "-m", "immediate",
                        "-w", "stop"], capture_output=True)
        for c in clients:
            c.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)


def _cmd(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _waiting(pid: int) -> bool:
    """A backend sleeping in pg_sleep shows ``SELECT`` in its process title."""
    return "SELECT" in _cmd(pid)


def _private_mappings(pid: int, skip: set[int]):
    """Every mapping of ``pid`` not in ``skip`` (start addresses), as its own base-page
    or hugetlb segment, touched where the pagemap says so."""
    fs = ProcFS()
    segs, maps = {}, []
    fd = fs.open_pagemap(pid)
    base = X86_64.base_page
    try:
        for i, e in enumerate(fs.smaps(pid)):
            m = e.maps
            if m.start in skip or m.path == "[vsyscall]":
                continue
            ps = (e.kernel_page_size or base) if e.hugetlb else base
            s, t = read_touched(fs, pid, fd, m.start, m.end, ps, base)
            name = f"private-{i}"
            segs[name] = Segment(name, m.size, "hugetlb" if e.hugetlb else "shmem", ps)
            maps.append(Mapping(name, 0, m.size, m.start, touched=as_ranges(s, t)))
    finally:
        os.close(fd)
    return segs, maps


def test_scan_postgres_backends(server):
    postmaster, kids = server
    pids = [postmaster, *kids]
    r = scan(pids, touched="tables")
    w = r.workload
    # a process that exits between the listing and the scan is skipped and counted
    assert set(r.skipped) <= {"vanished"}
    assert w.process_count + r.skipped_total == len(pids)
    main = [n for n in w.segments if n.startswith("shared-anon-")]
    assert len(main) == 1, w.segments
    seg = w.segments[main[0]]
    assert seg.backing == "shmem" and seg.page_size == 4096 and seg.size > 128 << 20
    # every process maps it at the postmaster's address (inherited through fork)
    addrs = {m.address for g in w.groups for m in g.mappings if m.segment == main[0]}
    assert len(addrs) == 1 and w.process_count >= BACKENDS
    # backends that ran the same query touched the same pages: one group holds several
    assert max(g.count for g in w.groups) >= 2

    # exact against the kernel, process by process
    fs = ProcFS()
    checked = 0
    for g, note in zip(w.groups, r.group_notes):
        for pid in note.pids:
            try:
                before = fs.vmpte(pid)
                segs, extra = _private_mappings(pid, skip={m.address for m in g.mappings})
                after = fs.vmpte(pid)
            except ProcessGone:
                continue
            at_scan = dict(zip(note.pids, note.vmpte)).get(pid)
            if before != after or after != at_scan:
                continue  # the process changed since the scan or while we looked
            whole = replace(w, segments={**w.segments, **segs},
                            groups=(replace(g, count=1, mappings=g.mappings + tuple(extra)),))
            model = compute(whole, "private").groups[0].vmpte_bytes
            assert model == after, (pid, g.name, model, after)
            checked += 1
    assert checked >= w.process_count - 2
    assert w.arch is X86_64 or w.arch.name == "x86_64-la57"
