#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster with many backends, measured process by process.

The ground truth for whole-process page tables (issue 13, docs/whole-process.md):
Debian's PostgreSQL server (``/usr/lib/postgresql/*/bin``) runs as the
unprivileged ``postgres`` user from a temporary directory (data directory and
Unix socket there, ``listen_addresses = ''``), with ``shared_buffers = 2GB`` and
``huge_pages = off`` or ``on``.  A table of about 300 MB is loaded into shared
buffers (``pg_prewarm``), then BACKENDS connections each read the whole table
(``SELECT count(*)``, a sequential scan through shared buffers) and stay
connected and idle.  Then, for every process of the cluster, it records pid,
process title, VmPTE, VmRSS, RssAnon/RssFile/RssShmem, ``/proc/PID/maps`` and
``smaps``, and the page tables counted from its pagemap (benchmarks/proc_tables.py:
per level and per kind of mapping, independently of ptcalc), and the
system-wide PageTables before the server starts, with the backends idle and
after it stopped.

    python benchmarks/postgres_cluster.py --huge-pages off            # about a minute
    python benchmarks/postgres_cluster.py --huge-pages on -o on.json.gz
    python benchmarks/postgres_cluster.py --huge-pages off --exec 'ptcalc scan {pids}'

``--exec`` runs a command while the backends are idle ({pids}: the cluster's
pids, space-separated; also in $PG_PIDS, the socket directory in $PGHOST, the port
in $PGPORT).  As a module::

    from postgres_cluster import Cluster
    with Cluster(huge_pages="on") as c:
        c.load_table(300 << 20)
        c.open_backends(50)
        pids = c.pids()

The clients are one Python process holding 50 psycopg connections (psycopg 3,
from PyPI: ``pip install -e '.[bench]'``), not 50 psql processes: the
system-wide PageTables delta then holds the cluster's page tables and one
client's, not 50 clients' (each psql would add about 100-200 KiB of its own),
and each query's completion and errors are known exactly rather than parsed
from a pipe.

Kernel experiment etiquette (the ptcalc brief): the whole run holds the
machine-wide lock /tmp/ptcalc-kernel.lock (as ``flock /tmp/ptcalc-kernel.lock``
would; ``--no-lock`` when an outer ``flock`` holds it already).  With
``huge_pages = on`` the 2 MiB hugetlb pool is grown by PostgreSQL's own
``shared_memory_size_in_huge_pages`` (``postgres -C`` on the stopped cluster)
and restored afterwards.  Every exit path (an error, Ctrl-C, SIGTERM, SIGHUP)
stops the server, restores the pool and removes the temporary directory.  A
SIGKILL cannot be caught: ``--cleanup`` then finds what such a run left
(``/tmp/ptcalc-pgcluster-*``, each with a restore.json) and undoes it.

Needs root (runuser, the hugetlb pool, other users' pagemap), x86-64 Linux.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import gzip
import json
import os
import platform
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import proc_tables  # noqa: E402  (benchmarks/proc_tables.py)

KERNEL_LOCK = "/tmp/ptcalc-kernel.lock"
HUGEPAGES_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
PREFIX = "ptcalc-pgcluster-"
PORT = 54329
MiB = 1 << 20


def pg_bin() -> str:
    """The newest Debian PostgreSQL server's bin directory (PostgreSQL 15 here)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise SystemExit("no PostgreSQL server under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    return os.path.dirname(found[-1])


def settle(seconds: float = 1.5) -> None:
    """Let RCU-deferred page-table frees drain before PageTables is read (the brief)."""
    subprocess.run(["sync"], check=False)
    time.sleep(seconds)


@contextlib.contextmanager
def kernel_lock(enabled: bool = True) -> Iterator[None]:
    if not enabled:
        yield
        return
    with open(KERNEL_LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {KERNEL_LOCK} ...", file=sys.stderr)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _Signals:
    """Turn SIGTERM/SIGHUP into SystemExit while a cluster is up, so ``finally`` runs."""

    def __enter__(self) -> "_Signals":
        self.old = {s: signal.signal(s, self._raise) for s in (signal.SIGTERM, signal.SIGHUP)}
        return self

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    def __exit__(self, *exc: object) -> None:
        for s, h in self.old.items():
            signal.signal(s, h)


def _write_pool(pages: int) -> int:
    with open(HUGEPAGES_2M, "w") as f:
        f.write(str(pages))
    with open(HUGEPAGES_2M) as f:
        return int(f.read())


class Cluster:
    """A throwaway cluster; a context manager that undoes everything on exit."""

    def __init__(self, huge_pages: str = "off", shared_buffers: str = "2GB", port: int = PORT,
                 extra_conf: str = "", aslr: bool = True) -> None:
        """``aslr=False`` starts the server with address-space randomisation off
        (``setarch -R``: every run lays the processes out alike)."""
        if huge_pages not in ("off", "on"):
            raise ValueError("huge_pages must be 'off' or 'on'")
        self.huge_pages, self.shared_buffers, self.port, self.extra_conf = huge_pages, shared_buffers, port, extra_conf
        self.aslr = aslr
        self.bin = pg_bin()
        self.dir: Path | None = None
        self.pool_before: int | None = None
        self.pool_pages = 0
        self.shared_memory_size_mb: int | None = None
        self.huge_pages_needed: int | None = None
        self.started = False
        self.conns: list[Any] = []
        self._signals = _Signals()

    # --- setup and teardown ---------------------------------------------------------------
    def _as_postgres(self, *cmd: str) -> str:
        r = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {(r.stderr or r.stdout).strip()[:500]}")
        return r.stdout

    @property
    def data(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    def _restore_file(self) -> None:
        assert self.dir is not None
        (self.dir / "restore.json").write_text(json.dumps(
            {"pool_before": self.pool_before, "bin": self.bin, "data": str(self.data)}))

    def __enter__(self) -> "Cluster":
        pwd.getpwnam("postgres")  # KeyError: no postgres user
        self._signals.__enter__()
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        # not under a private temp dir: its parents must be open to the postgres user
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX, dir="/tmp"))
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres")
        self._restore_file()
        self._as_postgres(f"{self.bin}/initdb", "-D", str(self.data), "-A", "trust", "--no-sync", "-E", "UTF8",
                          "--locale", "C")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"""
# ptcalc benchmarks/postgres_cluster.py
listen_addresses = ''
unix_socket_directories = '{self.dir}'
port = {self.port}
shared_buffers = {self.shared_buffers}
huge_pages = {self.huge_pages}
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
autovacuum = off
max_parallel_workers_per_gather = 0
jit = off
{self.extra_conf}
""")
        # PostgreSQL's own figure for its shared memory (PG 15: runtime-computed GUCs)
        self.shared_memory_size_mb = int(self._as_postgres(
            f"{self.bin}/postgres", "-C", "shared_memory_size", "-D", str(self.data)).strip())
        self.huge_pages_needed = int(self._as_postgres(
            f"{self.bin}/postgres", "-C", "shared_memory_size_in_huge_pages", "-D", str(self.data)).strip())
        if self.huge_pages == "on":
            with open(HUGEPAGES_2M) as f:
                self.pool_before = int(f.read())
            self._restore_file()
            want = self.pool_before + self.huge_pages_needed
            got = _write_pool(want)
            self.pool_pages = got
            if got < want:
                raise RuntimeError(f"hugetlb pool: asked for {want} 2 MiB pages, got {got}")
        norandom = [] if self.aslr else ["setarch", platform.machine(), "-R"]  # inherited by the postmaster
        self._as_postgres(*norandom, f"{self.bin}/pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
                          "-t", "120", "start")
        self.started = True

    def __exit__(self, *exc: object) -> None:
        try:
            for c in self.conns:
                with contextlib.suppress(Exception):
                    c.close()
            self.conns = []
            if self.started:
                subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/pg_ctl", "-D", str(self.data),
                                "-m", "fast", "-w", "-t", "60", "stop"], capture_output=True)
                self.started = False
            if self.pool_before is not None:
                _write_pool(self.pool_before)
                self.pool_before = None
        finally:
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
            self._signals.__exit__()

    # --- clients --------------------------------------------------------------------------
    def connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise SystemExit("needs psycopg 3: pip install -e '.[bench]'  (or: pip install psycopg)")
        return psycopg.connect(host=str(self.dir), port=self.port, user="postgres", dbname="postgres",
                               autocommit=True)

    def load_table(self, size: int = 300 * MiB) -> dict[str, int]:
        """Create table t of about ``size`` bytes and read it into shared buffers (pg_prewarm)."""
        rows = size // 244  # 4-byte id + 200-byte text: 244 bytes a row on an 8 KiB heap page (33 a page)
        with self.connect() as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            c.execute("CREATE TABLE t AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, %s) g",
                      (rows,))
            c.execute("VACUUM (FREEZE) t")  # hint bits set now, not by the first scans
            pages = c.execute("SELECT pg_prewarm('t')").fetchone()[0]
            relsize = c.execute("SELECT pg_relation_size('t')").fetchone()[0]
            cached = c.execute("SELECT count(*) FROM pg_buffercache WHERE relfilenode IS NOT NULL").fetchone()[0] \
                if self._has_buffercache(c) else -1
        return {"rows": rows, "pages": pages, "bytes": relsize, "buffers_used": cached}

    @staticmethod
    def _has_buffercache(c: Any) -> bool:
        try:
            c.execute("CREATE EXTENSION IF NOT EXISTS pg_buffercache")
            return True
        except Exception:
            return False

    def open_backends(self, n: int = 50, query: str = "SELECT count(*) FROM t") -> list[int]:
        """Open ``n`` connections; each runs ``query`` once (enable_seqscan on) and stays idle.
        Returns the backends' pids."""
        pids = []
        for _ in range(n):
            c = self.connect()
            c.execute("SET enable_seqscan = on")
            c.execute(query).fetchall()
            pids.append(c.info.backend_pid)
            self.conns.append(c)
        return pids

    # --- the processes --------------------------------------------------------------------
    def postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def pids(self) -> list[int]:
        """The postmaster and its children (auxiliary processes and backends)."""
        pm = self.postmaster()
        kids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = proc_tables.read_text(f"/proc/{d}/stat")
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pm:
                    kids.append(int(d))
        return [pm, *sorted(kids)]


# --- one measured run ---------------------------------------------------------------------
@dataclass
class Sample:
    pid: int
    title: str
    exe: str
    status: dict[str, int]          # the status fields below, in bytes
    counted: dict[str, int]         # tables per level from pagemap
    deposited: int
    by_kind: dict[str, dict[str, int]]
    vmpte_kernel: int
    maps: str
    smaps: str
    vmas: list[dict[str, Any]] = field(default_factory=list)  # per VMA: range, kind, pagemap facts


STATUS_FIELDS = ("VmPTE", "VmRSS", "RssAnon", "RssFile", "RssShmem", "VmSize", "VmData", "VmStk", "VmExe",
                 "VmLib", "HugetlbPages")


def sample(pid: int) -> Sample:
    smaps = proc_tables.read_text(f"/proc/{pid}/smaps")
    maps = proc_tables.read_text(f"/proc/{pid}/maps")
    t = proc_tables.count_process(pid)
    vmas = [{"start": v.start, "end": v.end, "perms": v.perms, "path": v.path, "kind": v.kind,
             "page_size": v.page_size, "rss": v.fields.get("Rss", 0),
             "anon_huge": v.fields.get("AnonHugePages", 0), "shmem_pmd": v.fields.get("ShmemPmdMapped", 0),
             "thp_eligible": v.thp_eligible, "occupied": p.occupied, "present": p.present, "swapped": p.swapped,
             "marker": p.marker, "pmd_mapped": p.pmd_mapped, "deposited": p.deposited, "runs": p.runs}
            for v, p in zip(t.vmas, t.pages)]
    status = {k: proc_tables.kb(t.status, k) for k in STATUS_FIELDS if k in t.status}
    return Sample(pid, t.title, t.exe, status, t.counts, t.deposited, t.by_kind, t.vmpte_kernel, maps, smaps, vmas)


QUERY = "SELECT count(*) FROM t"


def run(huge_pages: str = "off", backends: int = 50, table: int = 300 * MiB, shared_buffers: str = "2GB",
        lock: bool = True, during: Any = None, log: Any = print, settings: tuple[str, ...] = (),
        query: str = QUERY) -> dict[str, Any]:
    """One experiment: start, load, connect, measure every process, stop.  Returns the record.
    ``settings``: extra postgresql.conf lines (``key = value``), after (so overriding) the defaults."""
    rec: dict[str, Any] = {"huge_pages": huge_pages, "backends": backends, "shared_buffers": shared_buffers,
                           "settings": list(settings), "query": query,
                           "kernel": platform.release(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for k in ("enabled", "shmem_enabled", "defrag"):
        rec[f"thp_{k}"] = proc_tables.read_text(f"/sys/kernel/mm/transparent_hugepage/{k}").strip()
    rec["randomize_va_space"] = int(proc_tables.read_text("/proc/sys/kernel/randomize_va_space"))
    rec["mmap_rnd_bits"] = int(proc_tables.read_text("/proc/sys/vm/mmap_rnd_bits"))
    t0 = time.monotonic()
    with kernel_lock(lock):
        settle()
        rec["meminfo_before"] = proc_tables.meminfo()
        with Cluster(huge_pages, shared_buffers, extra_conf="\n".join(settings)) as c:
            rec["postgres"] = c._as_postgres(f"{c.bin}/postgres", "--version").strip()
            rec["shared_memory_size_mb"] = c.shared_memory_size_mb
            rec["shared_memory_size_in_huge_pages"] = c.huge_pages_needed
            rec["hugetlb_pool_pages"] = c.pool_pages
            log(f"{rec['postgres']}: huge_pages={huge_pages}, shared memory {c.shared_memory_size_mb} MB"
                f" ({c.huge_pages_needed} huge pages), up in {time.monotonic() - t0:.0f} s")
            rec["table"] = c.load_table(table)
            log(f"table t: {rec['table']['bytes'] / MiB:.0f} MiB, {rec['table']['pages']} pages prewarmed")
            me = os.getpid()
            rec["client_vmpte_before"] = proc_tables.kb(proc_tables.parse_status(
                proc_tables.read_text(f"/proc/{me}/status")), "VmPTE")
            rec["backend_pids"] = c.open_backends(backends, query)
            log(f"{backends} backends read t and idle ({time.monotonic() - t0:.0f} s)")
            settle()
            rec["meminfo_idle"] = proc_tables.meminfo()
            pids = c.pids()
            rec["samples"] = [asdict(sample(p)) for p in pids]
            rec["meminfo_after_sampling"] = proc_tables.meminfo()
            rec["client_vmpte"] = proc_tables.kb(proc_tables.parse_status(
                proc_tables.read_text(f"/proc/{me}/status")), "VmPTE")
            log(f"sampled {len(pids)} processes ({time.monotonic() - t0:.0f} s)")
            if during is not None:
                rec["during"] = during(c, pids)
        settle()
        rec["meminfo_stopped"] = proc_tables.meminfo()
    rec["seconds"] = round(time.monotonic() - t0, 1)
    return rec


# --- summary ------------------------------------------------------------------------------
def role(title: str) -> str:
    """postmaster / checkpointer / ... / backend, from the process title."""
    if not title.startswith("postgres: "):
        return "postmaster"
    words = title.split()
    return "backend" if len(words) > 2 and words[1] == "postgres" and words[2] == "postgres" \
        else " ".join(words[1:3]).rstrip()


def summary(rec: dict[str, Any]) -> str:
    kib = 1024
    lines = [f"{rec['postgres']}, huge_pages={rec['huge_pages']}, kernel {rec['kernel']}, "
             f"{len(rec['samples'])} processes, shared memory {rec['shared_memory_size_mb']} MB, "
             f"query {rec.get('query', QUERY)!r}" + "".join(f", {x}" for x in rec.get("settings", ()))]
    exact = sum(s["vmpte_kernel"] == sum(s["counted"].values()) * 4096 for s in rec["samples"])
    lines.append(f"pagemap count == VmPTE for {exact} of {len(rec['samples'])} processes")
    for s in rec["samples"]:
        counted = sum(s["counted"].values()) * 4096
        lines.append(f"  {s['pid']:>7} {role(s['title']):<28} VmPTE {s['vmpte_kernel'] // kib:>6} KiB  counted "
                     f"{counted // kib:>6} KiB (pte {s['counted']['pte']} [{s['deposited']} deposited], pmd "
                     f"{s['counted']['pmd']}, pud {s['counted']['pud']})  RSS {s['status']['VmRSS'] // kib} KiB")
    total = sum(s["vmpte_kernel"] for s in rec["samples"])
    delta = rec["meminfo_idle"]["PageTables"] - rec["meminfo_before"]["PageTables"]
    lines.append(f"sum of VmPTE {total // kib} KiB ({total / (1 << 20):.1f} MiB); PageTables before "
                 f"{rec['meminfo_before']['PageTables'] // kib} KiB, idle {rec['meminfo_idle']['PageTables'] // kib}"
                 f" KiB (delta {delta // kib} KiB), stopped {rec['meminfo_stopped']['PageTables'] // kib} KiB")
    return "\n".join(lines)


def cleanup_leftovers() -> int:
    """Undo what a SIGKILLed run left: stop its server, restore its pool, remove its directory."""
    n = 0
    for d in glob.glob(f"/tmp/{PREFIX}*"):
        try:
            info = json.loads(Path(d, "restore.json").read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("bin") and Path(info["data"], "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", f"{info['bin']}/pg_ctl", "-D", info["data"], "-m",
                            "immediate", "-w", "stop"], capture_output=True)
        if info.get("pool_before") is not None:
            _write_pool(info["pool_before"])
        shutil.rmtree(d, ignore_errors=True)
        print(f"cleaned {d}", file=sys.stderr)
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--huge-pages", choices=("off", "on"), default="off")
    ap.add_argument("--backends", type=int, default=50)
    ap.add_argument("--table-mb", type=int, default=300)
    ap.add_argument("--shared-buffers", default="2GB")
    ap.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra postgresql.conf setting (repeatable), e.g. --set jit=on")
    ap.add_argument("--query", default=QUERY, help=f"what each backend runs once (default: {QUERY})")
    ap.add_argument("-o", "--output", help="write the whole record as JSON (.gz: gzipped); "
                    "default benchmarks/results/postgres-<huge_pages>-<time>.json.gz")
    ap.add_argument("--exec", dest="exec_cmd", help="run this shell command while the backends idle "
                    "({pids} is replaced by the cluster's pids; env PG_PIDS, PGHOST, PGPORT)")
    ap.add_argument("--no-lock", action="store_true", help=f"do not take {KERNEL_LOCK} (an outer flock holds it)")
    ap.add_argument("--cleanup", action="store_true", help="undo what a killed run left, then exit")
    a = ap.parse_args(argv)
    if a.cleanup:
        cleanup_leftovers()
        return 0
    if os.geteuid() != 0:
        raise SystemExit("needs root (runuser, the hugetlb pool, the backends' pagemap)")

    def run_exec(c: Cluster, pids: list[int]) -> dict[str, Any]:
        env = {**os.environ, "PG_PIDS": " ".join(map(str, pids)), "PGHOST": str(c.dir), "PGPORT": str(c.port)}
        cmd = a.exec_cmd.replace("{pids}", " ".join(map(str, pids)))
        r = subprocess.run(cmd, shell=True, env=env, capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        return {"cmd": cmd, "rc": r.returncode, "stdout": r.stdout[-100000:]}

    rec = run(a.huge_pages, a.backends, a.table_mb * MiB, a.shared_buffers, lock=not a.no_lock,
              during=run_exec if a.exec_cmd else None,
              log=lambda m: print(m, file=sys.stderr),
              settings=tuple(" = ".join(x.split("=", 1)) for x in a.settings), query=a.query)
    out = Path(a.output) if a.output else HERE / "results" / \
        f"postgres-{a.huge_pages}-{time.strftime('%Y%m%d-%H%M%S')}.json.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if out.suffix == ".gz" else open
    with opener(out, "wt") as f:
        json.dump(rec, f)
    print(summary(rec))
    print(f"record: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
