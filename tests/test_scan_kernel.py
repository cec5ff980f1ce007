"""``ptcalc scan`` against the live kernel: our own processes, their VmPTE.

Five child processes map three segments at fixed addresses, each in a
512 GiB window of its own (so the tables they need are theirs alone): a 4 KiB
shmem memfd, a 2 MiB hugetlb memfd (PMD sharing) and a SysV segment. Three
children share layout A, two layout B; each touches scattered pages and
reports its VmPTE before and after mapping and touching.  The scan of those
five PIDs must find the two groups, the pages they touched, and a workload
whose model VmPTE (scheme ``hugetlb-pmd``, mainline) equals every child's
kernel delta exactly -- and the hand-counted tables below.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ptcalc.workload.loader import loads_workload
from ptcalc.model.tables import SCHEMES, compute
from ptcalc.render.scan_yaml import render_scan
from ptcalc.linux.scan import scan

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"
CHILD = Path(__file__).with_name("scan_child.py")

pytestmark = pytest.mark.kernel

if sys.platform != "linux" or os.geteuid() != 0:
    pytest.skip("needs root on Linux (hugetlb pool, other processes' pagemap)", allow_module_level=True)
if os.uname().machine != "x86_64":
    pytest.skip("the fixed addresses below assume x86-64", allow_module_level=True)

SHM_SIZE = 64 * MiB
HUGE_SIZE = GiB + 4 * MiB  # 514 pages of 2 MiB
SYSV_SIZE = 8 * MiB

# Layout A: three processes.
SHM_A = dict(address=0x100000000000 + 1 * MiB, offset=0, size=48 * MiB, prot="rw",
             touch=[0, 20 * KiB, 1 * MiB - 4 * KiB, 1 * MiB, 3 * MiB + 8 * KiB,
                    *range(10 * MiB, 10 * MiB + 64 * KiB, 4 * KiB), 20 * MiB, 48 * MiB - 4 * KiB])
HUGE_A = dict(address=0x110000000000, offset=0, size=HUGE_SIZE, prot="rw",
              touch=[0, 14 * MiB, 512 * MiB, GiB - 2 * MiB, GiB + 2 * MiB])
SYSV_A = dict(address=0x120000000000, size=SYSV_SIZE, prot="rw", touch=[0, 6 * MiB])
# Layout B: two processes.
SHM_B = dict(address=0x100000000000, offset=2 * MiB, size=32 * MiB, prot="r",
             touch=[0, 2 * MiB + 4 * KiB, 30 * MiB])
HUGE_B = dict(address=0x118000000000 + 4 * MiB, offset=2 * MiB, size=GiB, prot="rw",
              touch=[0, 600 * MiB, GiB - 2 * MiB])
SYSV_B = dict(address=0x128000000000, size=SYSV_SIZE, prot="r", touch=[4 * KiB])

# Hand count (x86-64: a PTE table maps 2 MiB, a PMD table 1 GiB, a PUD table 512 GiB).
# A: shm touches VA 2 MiB blocks 0,1,2,5,10,24 of its window (6 PTE, 1 PMD, 1 PUD);
#    hugetlb touches file window 0 (one PMD, shared) and window 1 (a private PMD), 1 PUD;
#    SysV touches blocks 0 and 3 (2 PTE, 1 PMD, 1 PUD).          = 8 PTE + 4 PMD + 3 PUD
# B: shm blocks 0, 1, 15 (3 PTE, 1 PMD, 1 PUD); hugetlb at 4 MiB past a 1 GiB boundary
#    has no whole window: 2 private PMD, 1 PUD; SysV 1 PTE, 1 PMD, 1 PUD. = 4 PTE + 4 PMD + 3 PUD
HAND_VMPTE = {"A": (8 + 4 + 3) * 4 * KiB, "B": (4 + 4 + 3) * 4 * KiB}


def _read(path: str) -> int:
    with open(path) as f:
        return int(f.read())


def _write(path: str, value: int) -> None:
    with open(path, "w") as f:
        f.write(str(value))


@pytest.fixture
def hugetlb_pool():
    """Add what the test needs to the 2 MiB pool; give back exactly that."""
    if not os.path.exists(POOL):
        pytest.skip("no 2 MiB hugetlb pool on this kernel")
    need = HUGE_SIZE // (2 * MiB)
    before = _read(f"{POOL}/nr_hugepages")
    _write(f"{POOL}/nr_hugepages", before + need)
    added = _read(f"{POOL}/nr_hugepages") - before
    try:
        if _read(f"{POOL}/free_hugepages") < need:
            pytest.skip(f"could not get {need} free 2 MiB huge pages")
        yield need
    finally:
        # subtract what we added (another user may have changed the pool meanwhile)
        _write(f"{POOL}/nr_hugepages", max(_read(f"{POOL}/nr_hugepages") - added, 0))


@pytest.fixture
def segments(hugetlb_pool):
    libc = ctypes.CDLL(None, use_errno=True)
    shm = os.memfd_create("ptcalc-scan-shm", 0)
    os.ftruncate(shm, SHM_SIZE)
    MFD_HUGETLB, MFD_HUGE_2MB = 0x4, 21 << 26
    huge = os.memfd_create("ptcalc-scan-huge", MFD_HUGETLB | MFD_HUGE_2MB)
    os.ftruncate(huge, HUGE_SIZE)
    key = 0x70740000 + os.getpid() % 0x10000
    IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0
    shmid = libc.shmget(key, SYSV_SIZE, IPC_CREAT | IPC_EXCL | 0o600)
    if shmid < 0:
        os.close(shm)
        os.close(huge)
        pytest.skip(f"shmget failed: errno {ctypes.get_errno()}")
    try:
        yield {"shm": shm, "huge": huge, "shmid": shmid, "key": key}
    finally:
        libc.shmctl(shmid, IPC_RMID, None)
        os.close(shm)
        os.close(huge)


def _spec(seg, shm, huge, sysv):
    return [dict(shm, fd=seg["shm"], nohuge=True), dict(huge, fd=seg["huge"]), dict(sysv, shmid=seg["shmid"])]


@pytest.fixture
def children(segments):
    layouts = {"A": _spec(segments, SHM_A, HUGE_A, SYSV_A), "B": _spec(segments, SHM_B, HUGE_B, SYSV_B)}
    procs: list[tuple[str, subprocess.Popen]] = []
    try:
        for name in ("A", "B", "A", "B", "A"):
            p = subprocess.Popen([sys.executable, str(CHILD), json.dumps(layouts[name])],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 pass_fds=(segments["shm"], segments["huge"]))
            procs.append((name, p))
            line = p.stdout.readline()  # one at a time: each faults in after the previous one
            report = json.loads(line) if line else {"error": "child died"}
            if "error" in report:
                pytest.fail(f"child {name}: {report['error']}")
            p.report = report  # type: ignore[attr-defined]
        yield [(name, p.pid, p.report["after"] - p.report["before"]) for name, p in procs]  # type: ignore
    finally:
        for _, p in procs:
            if p.stdin:
                p.stdin.close()
            p.wait(timeout=30)


def _only(w, names):
    """The workload with just the mappings of segments ``names``: the children
    map nothing else shared now (glibc's gconv-modules.cache, mapped before the
    first VmPTE reading, is left out as small), but a Python build might."""
    return replace(w, segments={n: s for n, s in w.segments.items() if n in names},
                   groups=tuple(replace(g, mappings=tuple(m for m in g.mappings if m.segment in names))
                                for g in w.groups))


def _pages(touch, size=4 * KiB):
    """Runs of the touched pages, as (start, end) byte ranges."""
    pages = sorted({t // size * size for t in touch})
    out: list[list[int]] = []
    for p in pages:
        if out and out[-1][1] == p:
            out[-1][1] = p + size
        else:
            out.append([p, p + size])
    return tuple((a, b) for a, b in out)


def test_scan_matches_kernel_vmpte(children, segments, hugetlb_pool):
    pids = [pid for _, pid, _ in children]
    exact = scan(pids, touched="pages")
    tables = scan(pids, touched="tables")
    assert not exact.skipped and not tables.skipped
    sysv_name = f"sysv-{segments['key']:#010x}"
    ours = {"memfd:ptcalc-scan-shm", "memfd:ptcalc-scan-huge", sysv_name}
    exact.workload = w = _only(exact.workload, ours)
    tables.workload = _only(tables.workload, ours)

    # the segments, found by (dev, inode) and named readably
    assert {n: (s.backing, s.page_size, s.size) for n, s in w.segments.items()} == {
        "memfd:ptcalc-scan-shm": ("shmem", 4 * KiB, SHM_SIZE),
        "memfd:ptcalc-scan-huge": ("hugetlb", 2 * MiB, HUGE_SIZE),
        sysv_name: ("shmem", 4 * KiB, SYSV_SIZE),
    }

    # two groups of identical layout, with the pages the children touched
    layout_of = {pid: name for name, pid, _ in children}
    assert sorted(g.count for g in w.groups) == [2, 3]
    for g, note in zip(w.groups, exact.group_notes):
        names = {layout_of[p] for p in note.pids}
        assert len(names) == 1 and g.count == len(note.pids)
        shm, huge, sysv = ((SHM_A, HUGE_A, SYSV_A) if names == {"A"} else (SHM_B, HUGE_B, SYSV_B))
        by_seg = {m.segment: m for m in g.mappings}
        m = by_seg["memfd:ptcalc-scan-shm"]
        assert (m.address, m.offset, m.size, m.protection) == (shm["address"], shm["offset"], shm["size"],
                                                               shm["prot"])
        assert m.touched == _pages(shm["touch"])
        m = by_seg["memfd:ptcalc-scan-huge"]
        assert (m.address, m.offset, m.size) == (huge["address"], huge["offset"], huge["size"])
        assert m.touched == _pages(huge["touch"], 2 * MiB)
        m = by_seg[sysv_name]
        assert (m.address, m.offset, m.size, m.protection) == (sysv["address"], 0, SYSV_SIZE, sysv["prot"])
        assert m.touched == _pages(sysv["touch"])

    # the model's VmPTE equals each child's kernel VmPTE delta and the hand count
    for scanned in (exact, tables):
        r = compute(scanned.workload, "hugetlb-pmd")
        for g, note in zip(r.groups, scanned.group_notes):
            deltas = {dict((pid, d) for _, pid, d in children)[p] for p in note.pids}
            layout = layout_of[note.pids[0]]
            assert deltas == {g.vmpte_bytes} == {HAND_VMPTE[layout]}, (layout, deltas, g)

    # compressing the ranges changes no table count under any scheme
    for scheme in SCHEMES:
        a, b = compute(exact.workload, scheme), compute(tables.workload, scheme)
        assert (a.tables, a.shared_tables, [(g.vmpte_bytes, g.per_process_bytes) for g in a.groups]) == \
               (b.tables, b.shared_tables, [(g.vmpte_bytes, g.per_process_bytes) for g in b.groups])
    # ... while the compressed file is shorter
    a_shm = next(m for m in tables.workload.groups[0].mappings if m.segment == "memfd:ptcalc-scan-shm")
    assert len(a_shm.touched) < len(next(m for m in w.groups[0].mappings if m.segment == a_shm.segment).touched)

    # the YAML the scan writes loads back into the same figures
    loaded = loads_workload(render_scan(tables), source="scan.yaml")
    assert loaded.host.arch.name == "x86_64" and loaded.host.hugepages[2 * MiB] >= hugetlb_pool
    r = compute(_only(loaded, ours), "hugetlb-pmd")
    assert sorted((g.count, g.vmpte_bytes) for g in r.groups) == [(2, HAND_VMPTE["B"]), (3, HAND_VMPTE["A"])]
