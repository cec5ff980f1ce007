#!/usr/bin/env python3
"""Scan at scale: P processes sharing S GiB, timed as ``ptcalc scan`` reads them.

    python benchmarks/scan_scale.py                      # 100 processes x 4 GiB, full and 10% (minutes)
    python benchmarks/scan_scale.py --quick              # 10 x 1 GiB, one round: a smoke test
    python benchmarks/scan_scale.py -P 50 -S 2GiB --touch 100,10,1 --runs 5
    python benchmarks/scan_scale.py -P 100 -S 4GiB --touch 10 --align   # the memfd 2 MiB-aligned
    python benchmarks/scan_scale.py -P 100 -S 4GiB --touch 10 --jobs 2  # also read in 2 workers

The driver makes one memfd of S bytes, allocates it whole (fallocate: an SGA
is resident), maps it MAP_SHARED (MADV_NOHUGEPAGE: 4 KiB pages) where the
kernel puts it (shmem_get_unmapped_area() aligns it to 2 MiB only when shmem
THP may be used: here it is not, so its blocks of addresses and of file
offsets differ) or, with ``--align``, at a 2 MiB boundary (an Oracle SGA's
fixed address; tests/scan_forker.py's map_aligned()), and forks P
children; each child touches its part -- all of it (MADV_POPULATE_WRITE), or
a fraction of its pages scattered at random (its own seed: PostgreSQL
backends touch different buffers; the pages are drawn before the fork, so
that the children do the same work), or with ``--touch 10c`` one contiguous
run of them (each child its own place: a process that filled part of a
segment) -- and waits.  Then, each in a fresh
process started by ``/usr/bin/time`` (so its peak RSS is its own, not the
driver's):

    what                         reads
    ---------------------------  ------------------------------------------------------------
    ptcalc scan                  ``python -m ptcalc scan -p PID ... -o FILE`` of the P children:
                                 the first read in full, the others (the same maps) without
                                 smaps (ptcalc.linux.scan_read.Reader)
    ptcalc scan --jobs N         the same in N worker processes (``--jobs N``, N > 1: this row is
                                 added; every other ``ptcalc scan`` row is ``--jobs 1``)
    ptcalc scan --read-all       the same, every process read in full (the exact scan)
    ptcalc scan, 1 process       the first child alone: what reading one process costs
    smaps                        /proc/PID/smaps of each (the kernel walks every PTE for Rss)
    maps + status                /proc/PID/maps and /proc/PID/status (counters, no walk)
    pagemap: read fallback       ptcalc.linux.pagemap, method="read" (1 MiB preads, numpy)
    pagemap: PAGEMAP_SCAN        ptcalc.linux.pagemap, method="ioctl" (Linux 6.7+)
    cells: PAGEMAP_SCAN          ptcalc.linux.pagemap.touched_cells: one ioctl per 2 MiB block
                                 holding a page (what ``ptcalc scan`` reads of a partly touched
                                 segment VmPTE does not decide; not a page reader: its ranges
                                 are blocks)
    file blocks: PAGEMAP_SCAN    ptcalc.linux.pagemap.first_entries over each 2 MiB block of the
                                 segment: one ioctl each (what ``ptcalc scan`` reads of a
                                 misaligned segment whose blocks VmPTE decided)
    model: VmPTE of a process    the model's VmPTE of one process with its segment present in
                                 every block, and with every mapping whole (the room for empty
                                 tables) (scan._process_vmpte, its cache empty each time):
                                 what a process whose own mappings no other process shares
                                 costs (the benchmark's children share one evaluation)

Each row gives the median over the rounds of the wall time and the user
and system CPU (the readers: of the reading alone, imports excluded;
``ptcalc scan`` and its start-up floor: the whole process), the peak RSS
of that process, address-space pages per second (P x S / 4 KiB / seconds),
the cost per page (or per process, for counters that walk nothing) and the
extrapolation to the seed host, 1,500 processes x 300 GiB: linear in P x S
for what walks pages, in P for counters; ``ptcalc scan`` by its parts (see
``extrapolate``: the first process's walks scale with S, each further
process's walk of a partly touched segment with P x S, the rest with P);
``--read-all`` its start-up plus the rest linear in P x S; ``--jobs N`` as ``ptcalc
scan``, each further process's cost divided by the speed-up measured here (each further
process of ``--jobs 1`` over each further process of ``--jobs N``: what N workers gave
on this machine, not N).  The two pagemap readers must return identical ranges (a digest of
each process's runs is compared), and the files ``ptcalc scan`` and ``ptcalc
scan --read-all`` write must give the same estimate (``ptcalc estimate
--format json``: every cell's page tables, memory and verdict).

numpy's MADV_HUGEPAGE of big arrays is turned off (NUMPY_MADVISE_HUGEPAGE=0):
khugepaged would collapse the children's heaps into THP at its own pace, and
two scans a few seconds apart would see different processes.

The run holds the kernel lock (/tmp/ptcalc-kernel.lock) from before the
children start until they are gone: page tables of P x S/512 bytes come and
go, which other kernel experiments on this machine would see.  Nothing else
is changed (no hugetlb pool, no THP setting).  A JSON record goes to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import hashlib
import json
import mmap
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# numpy madvises its big arrays MADV_HUGEPAGE: khugepaged would then collapse the
# children's heaps into THP at its own pace, changing them between two scans
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
KERNEL_LOCK = "/tmp/ptcalc-kernel.lock"
PAGE = mmap.PAGESIZE
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SEED_PROCESSES, SEED_SIZE = 1500, 300 * GiB
MADV_POPULATE_WRITE = 23  # include/uapi/asm-generic/mman-common.h, Linux 5.14
PR_SET_PDEATHSIG = 1


def parse_size(text: str) -> int:
    units = {"k": KiB, "m": MiB, "g": GiB, "t": 1 << 40}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    return int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)


def fmt_size(n: float) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


# --- the worker: one reading, in a process of its own ------------------------------------------


def worker(args: argparse.Namespace) -> int:
    """Read what ``args.what`` names for every pid and print JSON: the seconds
    spent reading (imports excluded) and the CPU of it (user, system), pages
    and runs found, a digest of the runs."""
    import resource

    def cpu() -> tuple[float, float]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime, ru.ru_stime

    pids = [int(p) for p in args.pids.split(",")]
    start, end = args.start, args.end
    digest = hashlib.sha256()
    pages = runs = nbytes = 0
    if args.what in ("smaps", "maps+status"):
        names = ["smaps"] if args.what == "smaps" else ["maps", "status"]
        c0, t0 = cpu(), time.perf_counter()
        for pid in pids:
            for name in names:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    nbytes += len(f.read())
        seconds, c1 = time.perf_counter() - t0, cpu()
        print(json.dumps({"seconds": seconds, "user": c1[0] - c0[0], "sys": c1[1] - c0[1]}))
        return 0
    import numpy as np

    from ptcalc.linux import pagemap as pm

    method = args.what
    if method == "model":
        return _model_worker(pids)
    blocks = np.arange(start - start % (2 * MiB), end, 2 * MiB, dtype=np.int64)  # the file blocks (offset 0)

    def read(fd: int) -> tuple[np.ndarray, np.ndarray]:
        if method == "cells":  # the 2 MiB blocks holding a page, one ioctl each (offset 0)
            s, e, _ = pm.touched_cells(fd, start, end, 0, 2 * MiB)
        elif method == "blocks":  # each file block's first page, one ioctl each
            lo = np.maximum(blocks + start % (2 * MiB), start)
            hi = np.minimum(blocks + start % (2 * MiB) + 2 * MiB, end)
            found, _ = pm.first_entries(fd, lo, hi)
            s, e = lo[found >= 0], hi[found >= 0]
        else:
            s, e = pm.present_arrays(fd, start, end, method=method)
        return s - start, e - start

    fds = [os.open(f"/proc/{pid}/pagemap", os.O_RDONLY) for pid in pids]
    pm.pagemap_scan_supported(fds[0])  # the one-time probe, outside the timing
    c0, t0 = cpu(), time.perf_counter()
    for fd in fds:
        s, e = read(fd)
        pages += int((e - s).sum()) // PAGE
        runs += int(s.size)
        digest.update(s.astype("<i8").tobytes())
        digest.update(e.astype("<i8").tobytes())
    seconds, c1 = time.perf_counter() - t0, cpu()
    for fd in fds:
        os.close(fd)
    print(json.dumps({"seconds": seconds, "user": c1[0] - c0[0], "sys": c1[1] - c0[1], "pages": pages, "runs": runs, "digest": digest.hexdigest()[:16]}))
    return 0


def _model_worker(pids: list[int]) -> int:
    """The model's VmPTE of each process with its segment present in every
    block (what ``_deduce`` compares with VmPTE) and with every mapping whole
    (the room it leaves for empty tables), timed alone, evaluated afresh for
    each (no cache)."""
    import resource

    from ptcalc.linux.host import read_host, running_arch
    from ptcalc.linux.procfs import ProcFS
    from ptcalc.linux.scan import _process_vmpte
    from ptcalc.linux.scan_read import read_process, unseen, whole

    fs = ProcFS()
    arch = running_arch(fs, lambda: False)
    host, fstypes = read_host(fs, arch), fs.mountinfo()
    reads = [read_process(fs, pid, arch.base_page, "ioctl", None) for pid in pids]
    hyps = []
    for r in reads:
        assert r is not None
        hyps.append([whole(v, cells=True) if v.entry.maps.shared and v.entry.maps.size > 2 * MiB else v
                     for v in r.vmas])
    mosts = [[v if unseen(v.entry) else whole(v) for v in vmas] for vmas in hyps]
    _process_vmpte(host, fstypes)(hyps[0])  # imports and first-call costs, outside the timing
    t0 = time.perf_counter()
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    for vmas, most in zip(hyps, mosts):
        model = _process_vmpte(host, fstypes)
        model(vmas)
        model(most)
    seconds = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "user": c1.ru_utime - c0.ru_utime, "sys": c1.ru_stime - c0.ru_stime}))
    return 0


# --- the children ------------------------------------------------------------------------------


@dataclass
class Children:
    pids: list[int] = field(default_factory=list)
    go: int = -1  # write end: closing it lets every child exit

    def stop(self) -> None:
        if self.go >= 0:
            os.close(self.go)
            self.go = -1
        for pid in self.pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.pids.clear()


def start_children(view: "np.ndarray", address: int, processes: int, fraction: float,
                   contiguous: bool = False) -> Children:
    """Fork ``processes`` children that touch ``fraction`` of the mapping's pages
    (1.0: all of them) -- scattered at random, or ``contiguous``: one run each,
    child k's starting k/P of the way in (wrapping) -- and wait; returns once
    every one has touched."""
    import numpy as np

    npages = view.size // PAGE
    n = max(1, int(npages * fraction))
    # every child's pages drawn here, before the forks: the children then do the same work
    plans = [None if fraction >= 1.0 else
             (np.arange(k * npages // processes, k * npages // processes + n) % npages) * PAGE if contiguous else
             np.sort(np.random.default_rng(k).choice(npages, n, replace=False)) * PAGE
             for k in range(processes)]
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    kids = Children(go=go_w)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for k in range(processes):
        pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                os.close(ready_r)
                os.close(go_w)
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the driver
                plan = plans[k]
                if plan is None:
                    if libc.madvise(address, view.size, MADV_POPULATE_WRITE):
                        raise OSError(ctypes.get_errno(), "MADV_POPULATE_WRITE")
                else:
                    view[plan] = 1
                os.write(ready_w, b"r")
                os.read(go_r, 1)  # returns when the driver closes go_w (or dies)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        kids.pids.append(pid)
    os.close(ready_w)
    os.close(go_r)
    got = 0
    while got < processes:
        chunk = os.read(ready_r, processes - got)
        if not chunk:
            kids.stop()
            raise SystemExit(f"only {got} of {processes} children got ready")
        got += len(chunk)
    os.close(ready_r)
    return kids


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    argv: list[str]
    per: str = "page"
    """What its cost grows with: "page" (P x S), "process" (P), "fixed" (start-up), "first" (one
    process's read: S), "scan" (the first process's read, then each further one: P) or "jobs"
    (``ptcalc scan --jobs N``: as "scan", each further process by the speed-up measured)."""
    wall: list[float] = field(default_factory=list)  # the figure: the reader's own time, or scan's wall
    user: list[float] = field(default_factory=list)
    sys: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    result: dict[str, object] = field(default_factory=dict)

    def run(self, env: dict[str, str]) -> None:
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name, *self.argv],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
            if p.returncode != 0:
                raise SystemExit(f"{self.name} failed (exit {p.returncode}): {' '.join(self.argv[:8])} ...\n{p.stderr}")
            elapsed, user, system, rss_kib = tf.read().split()[-4:]
        own = json.loads(p.stdout) if self.argv[1] not in ("-m", "-c") else {}
        self.wall.append(float(own.pop("seconds", elapsed)))  # the worker's own figures: the reading alone
        self.user.append(float(own.pop("user", user)))
        self.sys.append(float(own.pop("sys", system)))
        self.rss.append(int(rss_kib) * KiB)
        if self.result and own != self.result:
            raise SystemExit(f"{self.name}: a different answer this round: {own} vs {self.result}")
        self.result = own

    def reset(self) -> None:
        for figures in (self.wall, self.user, self.sys, self.rss):
            figures.clear()

    def summary(self) -> dict[str, object]:
        return {"median_s": statistics.median(self.wall), "per": self.per, "wall_s": self.wall, "user_s": self.user,
                "sys_s": self.sys, "peak_rss_bytes": max(self.rss), "result": self.result}


def scenario(args: argparse.Namespace, fraction: float, env: dict[str, str], contiguous: bool = False
             ) -> dict[str, object]:
    size, procs = args.size, args.processes
    import numpy as np

    fd = os.memfd_create("ptcalc-scan-scale")
    kids = Children()
    buf: mmap.mmap | None = None
    aligned: int | None = None
    try:
        os.ftruncate(fd, size)
        os.posix_fallocate(fd, 0, size)  # the whole segment resident, as an SGA is
        if args.align:  # at a 2 MiB boundary, MADV_NOHUGEPAGE (tests/scan_forker.py)
            sys.path.insert(0, str(ROOT / "tests"))
            from scan_forker import map_aligned

            start = aligned = map_aligned(fd, size)
            view = np.frombuffer((ctypes.c_ubyte * size).from_address(start), np.uint8)
        else:
            buf = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
            buf.madvise(mmap.MADV_NOHUGEPAGE)  # 4 KiB pages, whatever shmem_enabled says
            start = _address(buf)
            view = np.frombuffer(buf, np.uint8)
        t0 = time.perf_counter()
        kids = start_children(view, start, procs, fraction, contiguous)
        del view
        setup = time.perf_counter() - t0
        pids = ",".join(map(str, kids.pids))
        py = sys.executable
        me = str(Path(__file__).resolve())
        work = Path(tempfile.mkdtemp(prefix="ptcalc-scan-scale-"))
        every = sum((["-p", str(p)] for p in kids.pids), [])
        scan = [py, "-m", "ptcalc", "scan", "--quiet", "--jobs", "1"]
        rows = [Row("ptcalc start-up", [py, "-c", "import ptcalc.cli, ptcalc.linux.scan, ptcalc.render.scan_yaml"],
                    per="fixed"),
                Row("ptcalc scan", [*scan, *every, "-o", str(work / "fast.yaml")], per="scan"),
                Row("ptcalc scan --read-all", [*scan, "--read-all", *every, "-o", str(work / "all.yaml")]),
                *([Row(f"ptcalc scan --jobs {args.jobs}", [*scan[:-1], str(args.jobs), *every, "-o",
                                                           str(work / "jobs.yaml")], per="jobs")]
                  if args.jobs > 1 else []),
                Row("ptcalc scan, 1 process", [*scan, "-p", str(kids.pids[0]), "-o", str(work / "one.yaml")],
                    per="first")]
        for what, name in (("smaps", "smaps"), ("maps+status", "maps + status"),
                           ("read", "pagemap: read fallback"), ("ioctl", "pagemap: PAGEMAP_SCAN"),
                           ("cells", "cells: PAGEMAP_SCAN"), ("blocks", "file blocks: PAGEMAP_SCAN"),
                           ("model", "model: VmPTE of a process")):
            rows.append(Row(name, [py, me, "--worker", what, "--pids", pids, "--start", str(start),
                                   "--end", str(start + size)],
                            per="process" if what in ("maps+status", "model") else "page"))
        if not args.ioctl:
            rows = [r for r in rows if not r.name.endswith("PAGEMAP_SCAN") and not r.name.startswith("model")]
        order = list(rows)
        load0 = os.getloadavg()[0]
        for r in order:  # warm-up round, unmeasured
            r.run(env)
            r.reset()
        for _ in range(args.runs):
            random.shuffle(order)
            for r in order:
                r.run(env)
        readers = [r for r in rows if r.name.startswith("pagemap:")]
        decided = _decided(work / "fast.yaml")
        room = _room(work / "fast.yaml")
        same = len({json.dumps(r.result, sort_keys=True) for r in readers}) == 1
        if not same:
            raise SystemExit("the pagemap readers disagree: " + "; ".join(f"{r.name}: {r.result}" for r in readers))
        meminfo = _meminfo()
        same_estimate, groups = _same_estimate(work / "fast.yaml", work / "all.yaml", env)
        same_file_jobs = None
        if args.jobs > 1:  # byte for byte but the header's time
            same_file_jobs = _without_time(work / "jobs.yaml") == _without_time(work / "fast.yaml")
        shutil.rmtree(work, ignore_errors=True)
        out = {"fraction": fraction, "contiguous": contiguous, "aligned": bool(args.align), "decided": decided,
               "room": room, "jobs": args.jobs, "same_file_jobs": same_file_jobs,
               "setup_s": setup,
               "load": (load0, os.getloadavg()[0]), "same_ranges": same, "same_estimate": same_estimate,
               "groups": groups,
               "touched_pages_per_process": readers[0].result.get("pages", 0) // procs if readers else None,
               "runs_per_process": readers[0].result.get("runs", 0) // procs if readers else None,
               "page_tables_during": meminfo.get("PageTables"),
               "rows": {r.name: r.summary() for r in rows}}
        print_scenario(args, fraction, out)
        return out
    finally:
        kids.stop()
        if buf is not None:
            buf.close()
        if aligned is not None:
            ctypes.CDLL(None).munmap(ctypes.c_void_p(aligned), ctypes.c_size_t(size))
        os.close(fd)  # the last reference: the segment's pages are freed


def _decided(path: Path) -> int:
    """Processes whose segment blocks VmPTE decided, as the scanned file's header says (0: none)."""
    import re

    m = re.search(r"Blocks decided by VmPTE: (\d+) process", path.read_text())
    return int(m.group(1)) if m else 0


def _without_time(path: Path) -> str:
    """The file's text, its header line naming the scan's time left out."""
    return "".join(line for line in path.read_text().splitlines(True) if not line.startswith("# Workload scanned by"))


def _room(path: Path) -> str:
    """What the scanned file's header says the blocks VmPTE decided may hide
    (``render.scan_yaml._decided_room``), its comment lines joined; "" when none decided."""
    import re

    header = re.sub(r"\s+", " ", " ".join(line[2:] for line in path.read_text().splitlines() if line.startswith("# ")))
    m = re.search(r"(Exact: .*?block\.|In \d+ process(?:es)? of them .*?may hold no page)", header)
    return m.group(1) if m else ""


def _same_estimate(fast: Path, full: Path, env: dict[str, str]) -> tuple[bool, int]:
    """Whether the two scanned files describe the same processes (segments and
    groups, loaded) and give the same page tables in every cell (``ptcalc
    estimate --format json``), and the number of groups the first has.  (The
    host part is read at each scan: another test on this machine may change a
    hugetlb pool between the two.)"""
    from ptcalc.workload.loader import load_workload

    docs = []
    for path in (fast, full):
        out = subprocess.run([sys.executable, "-m", "ptcalc", "estimate", str(path), "--format", "json"],
                             capture_output=True, text=True, cwd=ROOT, env=env, check=True).stdout
        docs.append([(c["scheme"], c["column"], c["page_tables"]) for c in json.loads(out)["cells"]])
    a, b = load_workload(str(fast)), load_workload(str(full))
    same = docs[0] == docs[1] and a.segments == b.segments and a.groups == b.groups
    if not same:  # keep both files, say what differs
        keep = RESULTS / f"scan_scale-differ-{time.strftime('%Y%m%d-%H%M%S')}"
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(fast, keep / "fast.yaml")
        shutil.copy(full, keep / "read-all.yaml")
        print(f"(the two files differ -- page tables {'same' if docs[0] == docs[1] else 'differ'}, segments "
              f"{'same' if a.segments == b.segments else 'differ'}, groups {len(a.groups)} and {len(b.groups)}: "
              f"{keep})", file=sys.stderr)
    return same, len(a.groups)


def _address(buf: mmap.mmap) -> int:
    import numpy as np

    return int(np.frombuffer(buf, np.uint8).__array_interface__["data"][0])


def _meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            parts = v.split()
            out[k] = int(parts[0]) * (KiB if len(parts) > 1 else 1)
    return out


def extrapolate(out: dict, procs: int, size: int) -> dict[str, float]:
    """Each row's median scaled to 1,500 processes x 300 GiB by what it grows
    with: P x S for page walks, P for counters.  ``ptcalc scan`` as its parts:
    the first process, read in full: its walks of the segment -- smaps, and
    the cells (one PAGEMAP_SCAN per 2 MiB block holding a page: the "cells"
    row) when the segment is partly touched: those rows' cost per process --
    scaled by S, the rest of it (``ptcalc scan, 1 process`` less those walks)
    as it is; each further process (``ptcalc scan`` less the one process, over
    P - 1), read without smaps: its walk of a partly touched segment scaled
    by S, the rest as it is, times 1,499.  The walk of a partly touched
    segment: where VmPTE decided every process's blocks (the file's header
    says how many), none for a 2 MiB-aligned segment (a sample of 32 blocks,
    whatever S), one PAGEMAP_SCAN per file block for another (the "file
    blocks" row); else the cells row.  ``--read-all``: the start-up plus the
    rest scaled by P x S."""
    rows = out["rows"]
    floor = rows["ptcalc start-up"]["median_s"]
    one = rows["ptcalc scan, 1 process"]["median_s"]
    if out["fraction"] >= 1.0:
        walk_page = 0.0
    elif out.get("decided", 0) >= procs:
        walk_page = 0.0 if out.get("aligned") else rows["file blocks: PAGEMAP_SCAN"]["median_s"] / procs
    else:
        walk_page = rows.get("cells: PAGEMAP_SCAN", rows["pagemap: read fallback"])["median_s"] / procs
    walk = rows["smaps"]["median_s"] / procs + walk_page
    first = one - walk + walk * SEED_SIZE / size
    by = {"page": SEED_PROCESSES * SEED_SIZE / (procs * size), "process": SEED_PROCESSES / procs, "fixed": 1.0}
    est = {}
    for name, r in rows.items():
        med = r["median_s"]
        if r["per"] == "scan":
            each = max((med - one) / (procs - 1), 0.0) if procs > 1 else 0.0
            each_walk = min(walk_page, each)
            est[name] = first + (each - each_walk + each_walk * SEED_SIZE / size) * (SEED_PROCESSES - 1)
        elif r["per"] == "first":
            est[name] = first
        elif r["per"] == "jobs":  # below: as ptcalc scan's, each further process by the speed-up measured
            continue
        elif name == "ptcalc scan --read-all":
            est[name] = floor + (med - floor) * by["page"]
        else:
            est[name] = med * by[r["per"]]
    for name, r in rows.items():
        if r["per"] == "jobs":
            est[name] = first + (est["ptcalc scan"] - first) / speedup(out, procs)
    return est


def speedup(out: dict, procs: int) -> float:
    """Each further process of ``ptcalc scan`` (``--jobs 1``) over each further
    process of ``ptcalc scan --jobs N``, as measured (1.0 without that row)."""
    rows = out["rows"]
    jobs = next((r for r in rows.values() if r["per"] == "jobs"), None)
    if jobs is None or procs < 2:
        return 1.0
    one = rows["ptcalc scan, 1 process"]["median_s"]
    each = (rows["ptcalc scan"]["median_s"] - one) / (procs - 1)
    each_jobs = (jobs["median_s"] - one) / (procs - 1)
    return each / each_jobs if each_jobs > 0 else 1.0


def print_scenario(args: argparse.Namespace, fraction: float, out: dict) -> None:
    procs, size = args.processes, args.size
    pages = procs * size // PAGE
    est = extrapolate(out, procs, size)
    out["extrapolated_s"] = est
    print(f"\n{procs} processes x {fmt_size(size)} memfd"
          f" ({'2 MiB-aligned' if out.get('aligned') else 'where the kernel put it'}), each touching {fraction:.0%}"
          f"{' in one contiguous run' if out.get('contiguous') else ''}"
          f" ({out['touched_pages_per_process']:,} pages in {out['runs_per_process']:,} runs);"
          f" children ready in {out['setup_s']:.1f} s; PageTables {fmt_size(out['page_tables_during'] or 0)}")
    print(f"{'what':<24} {'median s':>9} {'user s':>7} {'sys s':>7} {'peak RSS':>10} {'Mpages/s':>9}"
          f" {'cost':>16} {'1,500 x 300 GiB':>16}")
    for name, r in out["rows"].items():
        med = r["median_s"]
        floor = out["rows"]["ptcalc start-up"]["median_s"]
        if r["per"] in ("page", "scan", "jobs"):
            rate = f"{pages / med / 1e6:.1f}"
            unit = f"{(med - (floor if name.startswith('ptcalc scan') else 0)) / pages * 1e9:.2f} ns/page"
        elif r["per"] == "first":
            rate, unit = f"{size // PAGE / med / 1e6:.1f}", "one process"
        elif r["per"] == "process":
            rate, unit = "", f"{med / procs * 1e3:.2f} ms/proc"
        else:
            rate, unit = "", "once"
        if name == "ptcalc scan --read-all":
            unit = f"{(med - floor) / pages * 1e9:.2f} ns/page"
        print(f"{name:<24} {med:>9.3f} {statistics.median(r['user_s']):>7.2f} {statistics.median(r['sys_s']):>7.2f}"
              f" {fmt_size(r['peak_rss_bytes']):>10} {rate:>9} {unit:>16} {_duration(est[name]):>16}")
    one = out["rows"]["ptcalc scan, 1 process"]["median_s"]
    each = (out["rows"]["ptcalc scan"]["median_s"] - one) / max(procs - 1, 1)
    print(f"load average {out['load'][0]:.2f} before, {out['load'][1]:.2f} after (2 CPUs: other work ran beside)")
    print(f"ptcalc scan: the first process {one - out['rows']['ptcalc start-up']['median_s']:.3f} s beyond the"
          f" start-up, each further one {each * 1e3:.2f} ms; {out['groups']} group(s) written; the same estimate"
          f" as --read-all: {'yes' if out['same_estimate'] else 'NO'}")
    print(f"(the pagemap readers returned the same ranges: {'yes' if out['same_ranges'] else 'NO'})")
    jobs = next((n for n, r in out["rows"].items() if r["per"] == "jobs"), None)
    if jobs is not None:
        each_jobs = (out["rows"][jobs]["median_s"] - one) / max(procs - 1, 1)
        print(f"{jobs}: each further process {each_jobs * 1e3:.2f} ms, {speedup(out, procs):.2f} x faster than"
              f" --jobs 1 here; the same file as --jobs 1 (but the header's time):"
              f" {'yes' if out['same_file_jobs'] else 'NO'}")
    model = out["rows"].get("model: VmPTE of a process")
    if fraction < 1.0:
        print(f"VmPTE decided the segment's blocks in {out.get('decided', 0)} of {procs} processes", end="")
        if model is not None and out.get("decided"):
            extra = model["median_s"] / procs * (SEED_PROCESSES - 1)
            out["extrapolated_distinct_s"] = est["ptcalc scan"] + extra
            print(f"; a host whose processes' own mappings all differ evaluates the model twice each"
                  f" (every block present, every mapping whole: {model['median_s'] / procs * 1e3:.2f} ms): {_duration(est['ptcalc scan'] + extra)}"
                  " extrapolated", end="")
        print()
        if out.get("room"):
            print(f"  {out['room']}")


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-P", "--processes", type=int, default=100)
    ap.add_argument("-S", "--size", type=parse_size, default=4 * GiB, help="shared segment size (4GiB)")
    ap.add_argument("--touch", default="100,10,10c",
                    help="percentages of pages each process touches, scattered; with c: one contiguous run"
                         " (100,10,10c)")
    ap.add_argument("--runs", type=int, default=3, help="measured rounds (after one warm-up round)")
    ap.add_argument("--quick", action="store_true", help="10 processes x 1 GiB, one round")
    ap.add_argument("--align", action="store_true", help="map the memfd at a 2 MiB boundary (as an SGA)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="also time ptcalc scan --jobs N (N > 1) beside --jobs 1 (default 1: not)")
    ap.add_argument("--no-lock", action="store_true", help="do not take the kernel lock (already held)")
    ap.add_argument("--out", type=Path, default=None, help="JSON record path (default benchmarks/results/...)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--pids", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--end", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.what = args.worker
        return worker(args)
    if sys.platform != "linux":
        raise SystemExit("this benchmark reads /proc: Linux only")
    if os.geteuid() != 0:
        print("note: not root; children of this user are still readable", file=sys.stderr)
    if not shutil.which("/usr/bin/time"):
        raise SystemExit("needs /usr/bin/time (Debian: apt-get install time)")
    if args.quick:
        args.processes, args.size, args.runs = 10, 1 * GiB, 1
    args.size = -(-args.size // PAGE) * PAGE
    fractions = [(float(x.rstrip("c")) / 100, x.endswith("c")) for x in args.touch.split(",")]
    need = args.size + args.processes * (args.size // 512 + 16 * MiB) + GiB
    avail = _meminfo().get("MemAvailable", 0)
    if avail < need:
        raise SystemExit(f"needs about {fmt_size(need)} of memory, {fmt_size(avail)} available")

    from ptcalc.linux import pagemap as pm

    probe = os.open("/proc/self/pagemap", os.O_RDONLY)
    args.ioctl = pm.pagemap_scan_supported(probe)
    os.close(probe)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    lock = None
    if not args.no_lock:
        lock = open(KERNEL_LOCK, "a")
        t0 = time.perf_counter()
        fcntl.flock(lock, fcntl.LOCK_EX)
        waited = time.perf_counter() - t0
        if waited > 1:
            print(f"(waited {waited:.0f} s for {KERNEL_LOCK})", file=sys.stderr)
    try:
        print(f"ptcalc scan scale: Linux {platform.release()}, {os.cpu_count()} CPUs,"
              f" {fmt_size(_meminfo()['MemTotal'])}; PAGEMAP_SCAN {'yes' if args.ioctl else 'no'};"
              f" {args.runs} round(s) after a warm-up; median seconds")
        results = [scenario(args, f, env, c) for f, c in fractions]
    finally:
        if lock is not None:
            lock.close()
    record = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "kernel": platform.release(),
              "python": platform.python_version(), "cpus": os.cpu_count(), "processes": args.processes,
              "size_bytes": args.size, "runs": args.runs, "jobs": args.jobs, "pagemap_scan": args.ioctl,
              "scenarios": results}
    out = args.out or RESULTS / f"scan_scale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"\nrecord: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
