"""``ptcalc scan`` on a real PostgreSQL server with many backends.

Runs only where PostgreSQL's server binaries are installed (Debian:
``apt-get install postgresql``) and we are root (the server runs as the
``postgres`` user; we read its processes' pagemap).  A throw-away cluster in a
temporary directory, reachable only through a Unix socket there, gets 16
backends that each read a table and then sleep.

The scan must find the main shared memory segment (MAP_SHARED|MAP_ANONYMOUS:
``/dev/zero (deleted)`` with ``huge_pages = off``) in every process, group the
backends that touched the same pages, and write whole processes: for every
scanned process, the model's VmPTE of the file ``ptcalc scan`` writes equals
the kernel's VmPTE, exactly.  (PostgreSQL maps its segment among the
libraries, so its tables share PMD and PUD tables with them; the whole
process is what the kernel reports.)  A process that changes while it is
read is read again; one still different after that fails the test.

And what huge pages would change: the same cluster with huge_pages = off and
= on, both with address-space randomisation off (laid out alike); the first
scan's hugetlb what-if gives the second's VmPTE, summed, exactly, on 2 MiB
pages and on 1 GiB pages (``huge_page_size = 1GB``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ptcalc.cli import main as cli
from ptcalc.linux.scan import scan
from ptcalc.model.evaluate import evaluate
from ptcalc.model.geometry import X86_64
from ptcalc.model.tables import compute
from ptcalc.render.scan_yaml import render_scan
from ptcalc.workload.loader import loads_workload

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
    with _cluster("off") as running:
        yield running


POOLS = {"2MB": "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
         "1GB": "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"}


@contextlib.contextmanager
def _cluster(huge_pages: str, aslr: bool = True, port: int = 54321, huge_page_size: str = "2MB"):
    """A throw-away cluster with BACKENDS backends that read the table and
    sleep: (postmaster pid, its children's pids).  ``aslr=False`` starts it
    under ``setarch -R`` (two clusters then lay their processes out alike);
    ``huge_pages="on"`` grows the hugetlb pool of ``huge_page_size`` by what
    the server asks for and puts it back."""
    pool = POOLS[huge_page_size]
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
        f.write(f"listen_addresses = ''\nunix_socket_directories = '{d}'\nport = {port}\n"
                f"shared_buffers = 128MB\nhuge_pages = {huge_pages}\nhuge_page_size = {huge_page_size}\n"
                "fsync = off\n"
                "max_parallel_workers_per_gather = 0\nautovacuum = off\n")
    pool_before = None
    clients: list[subprocess.Popen] = []
    psql = ["runuser", "-u", "postgres", "--", f"{BIN}/psql", "-h", str(d), "-p", str(port), "-q", "-X",
            "-d", "postgres"]
    try:
        if huge_pages == "on":
            need = int(_as_postgres([f"{BIN}/postgres", "-C", "shared_memory_size_in_huge_pages", "-D",
                                     str(data)]).stdout)
            pool_before = int(Path(pool).read_text())
            Path(pool).write_text(str(pool_before + need))
            if int(Path(pool).read_text()) < pool_before + need:
                pytest.skip(f"could not grow the {huge_page_size} hugetlb pool by {need} pages")
        norandom = [] if aslr else ["setarch", os.uname().machine, "-R"]  # inherited by the postmaster
        _as_postgres([*norandom, f"{BIN}/pg_ctl", "-D", str(data), "-l", str(d / "log"), "-w", "start"])
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
        if pool_before is not None:
            Path(pool).write_text(str(pool_before))


def _cmd(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _waiting(pid: int) -> bool:
    """A backend sleeping in pg_sleep shows ``SELECT`` in its process title."""
    return "SELECT" in _cmd(pid)


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
    # every process is whole: its own mappings are there (program, libraries, heap, stack)
    assert all({"file", "anon", "stack"} <= {p.kind for p in g.private_mappings} for g in w.groups)

    # exact against the kernel, process by process (a process that changed while it
    # was read -- a backend finishing its query -- is read once more)
    differ = {pid for pid, _, _ in r.vmpte_differences()}
    if differ:
        again = scan(sorted(differ), touched="tables")
        still = [d for d in again.vmpte_differences() if d[0] in differ]
        assert not still, still
    checked = sum(len(n.pids) for n in r.group_notes) - len(differ)
    assert checked >= w.process_count - 2
    # the file as written gives the same figures
    loaded = loads_workload(render_scan(r), source="scan.yaml")
    assert [g.vmpte_bytes for g in compute(loaded, "hugetlb-pmd").groups] == [n.model_vmpte for n in r.group_notes]
    assert w.arch is X86_64 or w.arch.name == "x86_64-la57"

    # issue 14: the huge-page what-ifs of the scanned host are answered, with the
    # mappings the kernel would place elsewhere placed as hugetlb_get_unmapped_area
    # would (aligned to the page size) and a best case congruent modulo 1 GiB
    ev = evaluate(loaded)
    cols = {c.key: c for c in ev.columns}
    four_k = ev.cell("hugetlb-pmd").result.physical_bytes
    for key, page in (("2MiB-hugetlb", 2 << 20), ("1GiB-hugetlb", 1 << 30)):
        col = cols[key]
        assert col.unavailable is None and col.layout is not None, col.unavailable
        for moved in col.replaced:
            m = loaded.groups[moved.group].mappings[moved.mapping]
            assert moved.address % page == 0 and (moved.aligned_address - m.offset) % (1 << 30) == 0, (key, moved)
        cell = ev.cell("hugetlb-pmd", key)
        assert cell is not None and cell.result.physical_bytes < four_k
        best = cell.aligned
        assert best is None or best.result.physical_bytes <= cell.result.physical_bytes
    out = CliRunner().invoke(cli, ["estimate", "-", "--width", "100"], input=render_scan(r)).output
    assert "2 MiB hugetlb" in out and "1 GiB hugetlb" in out and "n/a" not in out, out


def _scanned(huge_pages: str, huge_page_size: str = "2MB"):
    """A cluster started with address-space randomisation off, scanned: the
    file as written, loaded, and the kernel's VmPTE of every process."""
    with _cluster(huge_pages, aslr=False, port=54322, huge_page_size=huge_page_size) as (postmaster, kids):
        r = scan([postmaster, *kids], touched="tables")
    kernel = {p: v for n in r.group_notes for p, v in zip(n.pids, n.vmpte)}
    return loads_workload(render_scan(r), source=f"scan-{huge_pages}.yaml"), r, kernel


@pytest.mark.parametrize("huge_page_size, column, page", [("2MB", "2MiB-hugetlb", 2 << 20),
                                                          ("1GB", "1GiB-hugetlb", 1 << 30)])
def test_what_huge_pages_would_change_is_what_the_kernel_does(huge_page_size, column, page):
    # The same cluster twice, laid out alike (setarch -R): with huge_pages = off,
    # scanned and estimated on the hugetlb what-if of the page size (the segment
    # placed as hugetlb_get_unmapped_area would, the process's later mappings out
    # of its way); with huge_pages = on and that huge_page_size, what the kernel
    # reports.  The what-if's VmPTE, summed over the processes, is the kernel's,
    # exactly (the backends touch the same blocks in both runs; should one not,
    # the pair is run again), and the segment is where the kernel put it.
    if not os.path.exists(POOLS[huge_page_size]):
        pytest.skip(f"this kernel has no {huge_page_size} hugetlb pages")
    for attempt in range(3):
        off, _, _ = _scanned("off")
        on, r_on, kernel_on = _scanned("on", huge_page_size)
        (main_on,) = [n for n in on.segments if n.startswith("anon-hugepage-")]
        assert on.segments[main_on].page_size == page
        whatif = evaluate(off).cell("hugetlb-pmd", column)
        assert whatif is not None
        predicted = whatif.result.vmpte_total
        assert sum(n.model_vmpte * len(n.pids) for n in r_on.group_notes) == sum(kernel_on.values())
        if predicted == sum(kernel_on.values()):
            break
    assert predicted == sum(kernel_on.values()), (attempt, predicted, sum(kernel_on.values()))
    # and in every process the segment is where the postmaster's mmap put it
    (kernel_at,) = {m.address for g in on.groups for m in g.mappings if m.segment == main_on}
    placed = {off.groups[p.group].mappings[p.mapping].segment: set() for p in whatif.column.replaced}
    for p in whatif.column.replaced:
        placed[off.groups[p.group].mappings[p.mapping].segment].add(p.address)
    assert [a for name, a in placed.items() if name.startswith("shared-anon-")] == [{kernel_at}]
