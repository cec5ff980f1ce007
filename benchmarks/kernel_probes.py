#!/usr/bin/env python3
"""Small experiments on the running kernel behind docs/whole-process.md.

    python benchmarks/kernel_probes.py            # all probes, about a minute, holds the kernel lock
    python benchmarks/kernel_probes.py thp window  # some of them

* ``window``: one page touched in each of N empty 512 GiB windows of this
  process: VmPTE grows by N x (PTE + PMD + PUD) tables; PageTables grows by the
  tables the kernel accounts in NR_PAGETABLE (N x 3 where PUD tables are
  counted, N x 2 where only PTE and PMD tables are, as on Debian's 6.1).
* ``pgd``: K idle processes (``sleep``): PageTables grows by their VmPTE plus,
  where the kernel accounts PGD pages in NR_PAGETABLE, one PGD each (4 KiB, or
  8 KiB with page-table isolation).
* ``thp``: an anonymous 8 MiB region at a 2 MiB-aligned address in an empty
  512 GiB window, madvise(MADV_HUGEPAGE), one byte touched per 2 MiB: four
  PMD-mapped THPs (smaps AnonHugePages 8192 kB), no PTE table in the tree
  (PAGEMAP_SCAN says PAGE_IS_HUGE) and still 4 PTE tables in VmPTE and
  PageTables: the deposited ones.  MADV_DONTNEED then frees them with the huge
  pages (zap_huge_pmd -> zap_deposited_table).  The same with MADV_NOHUGEPAGE:
  4 ordinary PTE tables.
* ``dontneed``: 4 KiB pages touched in 4 blocks of 2 MiB, then MADV_DONTNEED:
  with CONFIG_PT_RECLAIM (6.14+) the emptied PTE tables are freed at once;
  without it they stay until munmap or exit.
* ``remap``: a PTE table emptied by munmap, mmap(MAP_FIXED, PROT_NONE) or
  MADV_DONTNEED over its whole 2 MiB is freed; emptied over half of it (the
  other half still mapped) it stays, counted in VmPTE with no entry in it
  (``free_pgtables``/``free_pgd_range``: floor and ceiling).
* ``hugetlb_fork``: PostgreSQL's huge_pages=on segment (MAP_SHARED|MAP_ANONYMOUS|
  MAP_HUGETLB, inherited by fork): k children share each whole 1 GiB window's
  PMD table (``huge_pmd_share``); each child's VmPTE counts it, PageTables once.
* ``qemu``: a QEMU/KVM process's own tables by kind (skipped without QEMU).

Each probe prints its numbers; every figure is a delta between two readings
with RCU-deferred frees let drain.  PageTables is machine-wide: other work on
the machine shows up as noise (each probe runs three times).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import proc_tables  # noqa: E402
from postgres_cluster import kernel_lock, settle  # noqa: E402

PAGE = 4096
KiB = 1024
MAP_FIXED_NOREPLACE = 0x100000
MADV_DONTNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE = 4, 14, 15
BASE = 0x100000000000  # 16 TiB: far from the program (0x55..) and the mmap area (0x7f..)
WINDOW = 1 << 39       # what one PUD table covers

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def vmpte() -> int:
    return proc_tables.kb(proc_tables.parse_status(proc_tables.read_text("/proc/self/status")), "VmPTE")


def pagetables() -> int:
    return proc_tables.meminfo()["PageTables"]


def _map(addr: int, size: int) -> int:
    got = libc.mmap(addr, size, mmap.PROT_READ | mmap.PROT_WRITE,
                    mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
    if got != addr:
        raise OSError(ctypes.get_errno(), f"mmap at {addr:#x}: {os.strerror(ctypes.get_errno())}")
    return got


def _touch(addr: int) -> None:
    ctypes.c_char.from_address(addr).value = b"x"


def _advise(addr: int, size: int, advice: int) -> None:
    if libc.madvise(addr, size, advice) != 0:
        raise OSError(ctypes.get_errno(), f"madvise({advice}): {os.strerror(ctypes.get_errno())}")


def _readings(fn):  # noqa: ANN001
    settle()
    v0, p0 = vmpte(), pagetables()
    state = fn()
    settle()
    return vmpte() - v0, pagetables() - p0, state


def probe_window(n: int = 64) -> dict:
    """One page in each of n empty 512 GiB windows."""
    runs = []
    for r in range(3):
        addrs = [BASE + (i + r * n) * WINDOW for i in range(n)]

        def go() -> None:
            for a in addrs:
                _map(a, PAGE)
                _touch(a)
        dv, dp, _ = _readings(go)
        runs.append((dv, dp))
        for a in addrs:
            libc.munmap(a, PAGE)
    print(f"window: one 4 KiB page in each of {n} empty 512 GiB windows (3 runs)")
    for dv, dp in runs:
        print(f"  VmPTE +{dv // KiB} KiB = {dv // PAGE} tables ({dv // PAGE / n:g} a window);"
              f"  PageTables +{dp // KiB} KiB = {dp / PAGE:g} tables ({dp / PAGE / n:.2f} a window)")
    return {"n": n, "runs": runs}


def probe_pgd(k: int = 200) -> dict:
    """k idle processes: PageTables delta minus their VmPTE, per process."""
    runs = []
    for _ in range(3):
        settle()
        p0 = pagetables()
        kids = [subprocess.Popen(["sleep", "600"]) for _ in range(k)]
        try:
            time.sleep(0.5)
            settle()
            dp = pagetables() - p0
            vm = sum(proc_tables.kb(proc_tables.parse_status(proc_tables.read_text(f"/proc/{c.pid}/status")),
                                    "VmPTE") for c in kids)
        finally:
            for c in kids:
                c.kill()
            for c in kids:
                c.wait()
        runs.append((dp, vm))
    print(f"pgd: {k} idle processes (sleep) (3 runs)")
    for dp, vm in runs:
        print(f"  PageTables +{dp // KiB} KiB, their VmPTE {vm // KiB} KiB ({vm // k // KiB} KiB each);"
              f" difference {(dp - vm) / k:.0f} bytes a process")
    return {"k": k, "runs": runs}


def _region_facts(addr: int, size: int) -> dict:
    me = proc_tables.count_process(os.getpid(), keep_runs=False)
    vma = next(v for v in me.vmas if v.start == addr)
    pages = me.pages[me.vmas.index(vma)]
    fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    try:
        huge = proc_tables.huge_regions(fd, addr, addr + size)
    finally:
        os.close(fd)
    return {"AnonHugePages": vma.fields.get("AnonHugePages", 0), "pmd_mapped": pages.pmd_mapped,
            "deposited": pages.deposited, "occupied": pages.occupied, "thp_eligible": vma.thp_eligible,
            "counted_vmpte": me.vmpte_counted, "kernel_vmpte": me.vmpte_kernel,
            "huge_bytes": sum(e - s for s, e in huge)}


def probe_thp(size: int = 8 << 20) -> dict:
    enabled = proc_tables.read_text("/sys/kernel/mm/transparent_hugepage/enabled").strip()
    out = {"enabled": enabled, "runs": []}
    print(f"thp: anonymous {size >> 20} MiB, 2 MiB-aligned, in an empty 512 GiB window; THP enabled: {enabled}")
    for r in range(3):
        for advice, name in ((MADV_HUGEPAGE, "MADV_HUGEPAGE"), (MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE")):
            addr = BASE + (200 + 2 * r + (advice == MADV_NOHUGEPAGE)) * WINDOW

            def go() -> None:
                _map(addr, size)
                _advise(addr, size, advice)
                for off in range(0, size, 2 << 20):
                    _touch(addr + off)
            dv, dp, _ = _readings(go)
            facts = _region_facts(addr, size)  # after the readings: reading our own pagemap allocates
            dv2, dp2, _ = _readings(lambda: _advise(addr, size, MADV_DONTNEED))
            libc.munmap(addr, size)
            out["runs"].append({"advice": name, "vmpte": dv, "pagetables": dp, "dontneed_vmpte": dv2,
                                "dontneed_pagetables": dp2, **facts})
            print(f"  {name:<16} AnonHugePages {facts['AnonHugePages'] // KiB} kB, PMD-mapped (PAGEMAP_SCAN) "
                  f"{facts['pmd_mapped']}, VmPTE +{dv // PAGE} tables, PageTables +{dp / PAGE:g} tables; "
                  f"pagemap count {'==' if facts['counted_vmpte'] == facts['kernel_vmpte'] else '!='} VmPTE "
                  f"({facts['deposited']} deposited); after MADV_DONTNEED VmPTE {dv2 // PAGE:+d}, "
                  f"PageTables {dp2 / PAGE:+g} tables")
    return out


def probe_dontneed(blocks: int = 4) -> dict:
    runs = []
    for r in range(3):
        addr = BASE + (210 + r) * WINDOW  # below 128 TiB (47-bit user space)
        size = blocks << 21
        _map(addr, size)
        _advise(addr, size, MADV_NOHUGEPAGE)
        dv, dp, _ = _readings(lambda: [_touch(addr + o) for o in range(0, size, PAGE)])
        dv2, dp2, _ = _readings(lambda: _advise(addr, size, MADV_DONTNEED))
        dv3, dp3, _ = _readings(lambda: libc.munmap(addr, size))
        runs.append((dv, dp, dv2, dp2, dv3, dp3))
    print(f"dontneed: {blocks} x 2 MiB of 4 KiB pages touched, MADV_DONTNEED, munmap (3 runs)")
    for dv, dp, dv2, dp2, dv3, dp3 in runs:
        print(f"  touch: VmPTE +{dv // PAGE}, PageTables {dp / PAGE:+g}; MADV_DONTNEED: VmPTE {dv2 // PAGE:+d}, "
              f"PageTables {dp2 / PAGE:+g}; munmap: VmPTE {dv3 // PAGE:+d}, PageTables {dp3 / PAGE:+g} (tables)")
    return {"blocks": blocks, "runs": runs}






MAP_HUGETLB = 0x40000
HUGEPAGES_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"


def probe_hugetlb_fork(k: int = 200, size: int = 2 << 30) -> dict:
    """PostgreSQL's huge_pages=on segment: MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB, inherited by fork.
    k children each touch one huge page in every 1 GiB window of it.  Where the kernel shares
    the windows' PMD tables (huge_pmd_share), PageTables grows by (k - 1) x windows tables less
    than the sum of the children's VmPTE (each counts the shared table) plus their PGDs."""
    with open(HUGEPAGES_2M) as f:
        pool_before = int(f.read())
    need = size >> 21
    runs = []
    try:
        with open(HUGEPAGES_2M, "w") as f:
            f.write(str(pool_before + need))
        addr = libc.mmap(None, size + (1 << 30), 0,  # PROT_NONE
                         mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)  # find a 1 GiB-aligned hole
        libc.munmap(addr, size + (1 << 30))
        addr = (addr + (1 << 30) - 1) & ~((1 << 30) - 1)
        got = libc.mmap(addr, size, mmap.PROT_READ | mmap.PROT_WRITE,
                        mmap.MAP_SHARED | mmap.MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED_NOREPLACE, -1, 0)
        if got != addr:
            raise OSError(ctypes.get_errno(), "hugetlb mmap: " + os.strerror(ctypes.get_errno()))
        windows = size >> 30
        for w in range(windows):
            _touch(addr + (w << 30))  # the parent faults the pages in first
        for _ in range(3):
            settle()
            p0 = pagetables()
            kids = []
            for _ in range(k):
                pid = os.fork()
                if pid == 0:
                    for w in range(windows):
                        _touch(addr + (w << 30) + 4096)
                    os.kill(os.getpid(), 19)  # SIGSTOP: stay, with these tables
                    os._exit(0)
                kids.append(pid)
            for pid in kids:
                os.waitpid(pid, os.WUNTRACED)
            settle()
            dp = pagetables() - p0
            vm = sum(proc_tables.kb(proc_tables.parse_status(proc_tables.read_text(f"/proc/{p}/status")), "VmPTE")
                     for p in kids)
            for pid in kids:
                os.kill(pid, 9)
            for pid in kids:
                os.waitpid(pid, 0)
            runs.append((dp, vm))
        libc.munmap(addr, size)
    finally:
        with open(HUGEPAGES_2M, "w") as f:
            f.write(str(pool_before))
    print(f"hugetlb_fork: {size >> 30} GiB MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB at a 1 GiB-aligned address, "
          f"{k} forked children touching each 1 GiB window (3 runs)")
    for dp, vm in runs:
        extra = dp - vm - k * PAGE
        print(f"  PageTables +{dp // KiB} KiB, children's VmPTE {vm // KiB} KiB, + {k} PGDs: PageTables - VmPTE - PGDs"
              f" = {extra // KiB:+} KiB = {extra / PAGE:+.0f} tables (sharing predicts {-(k - 1) * windows:+d})")
    return {"k": k, "runs": runs}



def probe_remap(blocks: int = 2) -> dict:
    """Tables of a range replaced in place: 4 KiB pages touched in 2 x 2 MiB, then the upper 2 MiB
    either munmap()ed, or mmap(MAP_FIXED, PROT_NONE)ed over (what glibc's shrink_heap does to a
    thread arena's freed tail), or MADV_DONTNEED'd.  VmPTE says which leave the emptied PTE table."""
    out = {}
    for how in ("munmap", "mmap MAP_FIXED PROT_NONE", "MADV_DONTNEED"):
        runs = []
        for r in range(3):
            addr = BASE + (220 + r) * WINDOW + (1 << 30)  # 1 GiB into an empty window: no neighbours
            size = blocks << 21
            _map(addr, size)
            _advise(addr, size, MADV_NOHUGEPAGE)
            for o in range(0, size, PAGE):
                _touch(addr + o)
            v0 = vmpte()
            top = addr + size - (2 << 20)
            if how == "munmap":
                libc.munmap(top, 2 << 20)
            elif how == "MADV_DONTNEED":
                _advise(top, 2 << 20, MADV_DONTNEED)
            else:
                got = libc.mmap(top, 2 << 20, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x10, -1, 0)  # MAP_FIXED
                assert got == top
            runs.append((vmpte() - v0) // PAGE)
            libc.munmap(addr, size)
        out[how] = runs
    print("remap: 4 KiB pages touched in 2 x 2 MiB (2 PTE tables), then the upper 2 MiB ...")
    for how, runs in out.items():
        print(f"  {how:<26} VmPTE {', '.join(f'{x:+d}' for x in runs)} tables (3 runs)")
    # the same on half a block: the first 1 MiB of a 2 MiB block touched, then that 1 MiB emptied;
    # the other half stays mapped (untouched), so the PTE table is left with no entry in it
    part = {}
    for how in ("munmap", "mmap MAP_FIXED PROT_NONE", "MADV_DONTNEED"):
        runs = []
        for r in range(3):
            addr = BASE + (214 + r) * WINDOW + (1 << 30)
            _map(addr, 2 << 20)
            _advise(addr, 2 << 20, MADV_NOHUGEPAGE)
            for o in range(0, 1 << 20, PAGE):
                _touch(addr + o)
            v0 = vmpte()
            if how == "munmap":
                libc.munmap(addr, 1 << 20)
            elif how == "MADV_DONTNEED":
                _advise(addr, 1 << 20, MADV_DONTNEED)
            else:
                assert libc.mmap(addr, 1 << 20, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x10, -1, 0) == addr
            runs.append((vmpte() - v0) // PAGE)
            libc.munmap(addr, 2 << 20)
        part[how] = runs
    print("remap: the first 1 MiB of a 2 MiB block touched (1 PTE table), then that 1 MiB ...")
    for how, runs in part.items():
        print(f"  {how:<26} VmPTE {', '.join(f'{x:+d}' for x in runs)} tables (3 runs)")
    return {"whole_block": out, "half_block": part}



def probe_qemu(ram_mb: int = 4096) -> dict:
    """A QEMU/KVM process's own tables (docs/whole-process.md): paused before the guest runs
    (-S) and running SeaBIOS with no boot device; per kind of mapping.  Needs qemu-system-x86_64
    and /dev/kvm (Debian: apt-get install --no-install-recommends qemu-system-x86)."""
    import shutil
    from collections import defaultdict
    if not shutil.which("qemu-system-x86_64") or not os.path.exists("/dev/kvm"):
        print("qemu: skipped (no qemu-system-x86_64 or no /dev/kvm)")
        return {}
    out = {}
    for paused in (True, False):
        args = ["qemu-system-x86_64", "-machine", "q35,accel=kvm", "-m", str(ram_mb), "-smp", "2",
                "-display", "none", "-nodefaults", "-serial", "none", "-monitor", "none"] + (["-S"] if paused else [])
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(6)
            t = proc_tables.count_process(p.pid, keep_runs=False)
        finally:
            p.kill()
            p.wait()
        name = "paused (-S)" if paused else "running SeaBIOS"
        per: dict = defaultdict(lambda: [0, 0, 0])
        for v, pg in zip(t.vmas, t.pages):
            d = per[v.kind]
            d[0] += 1
            d[1] += v.size
            d[2] += pg.occupied * PAGE
        print(f"qemu {name}: VmPTE {t.vmpte_kernel // KiB} KiB, pagemap count {t.vmpte_counted // KiB} KiB "
              f"{t.counts} ({t.deposited} deposited), VmRSS {proc_tables.kb(t.status, 'VmRSS') // KiB} KiB")
        for k, (n, size, occ) in per.items():
            print(f"  {k:<8} {n:4} mappings {size // KiB:>10,} KiB mapped {occ // KiB:>8,} KiB touched")
        for lvl in ("pte", "pmd", "pud"):
            print(f"  {lvl}: {dict(sorted(t.by_kind[lvl].items(), key=lambda kv: -kv[1]))}")
        out[name] = {"vmpte": t.vmpte_kernel, "counted": t.vmpte_counted, "counts": t.counts}
    return out


PROBES = {"window": probe_window, "pgd": probe_pgd, "thp": probe_thp, "dontneed": probe_dontneed,
          "hugetlb_fork": probe_hugetlb_fork, "remap": probe_remap,
          "qemu": probe_qemu}

def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    names = argv or list(PROBES)
    unknown = [n for n in names if n not in PROBES]
    if unknown:
        print(f"unknown probe {', '.join(unknown)}; probes: {', '.join(PROBES)}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        raise SystemExit("needs root (PageTables deltas are only meaningful under the kernel lock; pagemap)")
    print(f"kernel {os.uname().release}")
    with kernel_lock():
        for n in names:
            PROBES[n]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
