"""Workloads for the live-kernel tests of ``ptcalc measure``, with the page
tables each needs worked out by hand from x86-64 geometry (PTE table = 2 MiB,
PMD table = 1 GiB, PUD table = 512 GiB) and the cases of model.md
sections 1-3.

This VM populates memory at a few hundred MB/s, so most cases touch
*sparsely*: the first page of every 2 MiB block (4 KiB pages) or of every
1 GiB window (2 MiB pages).  A table exists as soon as one page below it is
touched, so that needs exactly the tables of touching everything -- the
hand-derived numbers are the same as for the fully touched cases of model.md.
The 300 MiB case touches all of its pages for real.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptcalc.model.geometry import X86_64
from ptcalc.workload.types import Host, Mapping, PrivateMapping, ProcessGroup, Segment, Workload

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
BASE = 1 * TiB  # 512 GiB-aligned; nothing of the test process lives there


def sparse(address: int, size: int, block: int, page: int) -> tuple[tuple[int, int], ...]:
    """One page in every ``block`` the mapping [address, address + size) overlaps
    (its first page in that block), as touched ranges relative to the mapping."""
    out: list[tuple[int, int]] = []
    b = address // block * block
    while b < address + size:
        s = max(b, address) - address
        if out and out[-1][1] >= s:
            out[-1] = (out[-1][0], s + page)
        else:
            out.append((s, s + page))
        b += block
    return tuple(out)


def mapping(seg: str, size: int, address: int, page: int, *, offset: int = 0, prot: str = "rw",
            touch: str | tuple[tuple[int, int], ...] = "sparse") -> Mapping:
    if touch == "sparse":
        block = 2 * MiB if page == 4 * KiB else GiB
        touched = sparse(address, size, block, page)
    elif touch == "all":
        touched = ((0, size),)
    else:
        touched = touch  # type: ignore[assignment]
    return Mapping(seg, offset, size, address, prot, touched=() if prot == "none" else touched)


def own(kind: str, size: int, address: int, page: int = 4 * KiB,
        touched: tuple[tuple[int, int], ...] | None = None) -> PrivateMapping:
    """A private mapping of each process, all of it touched unless ``touched``."""
    return PrivateMapping(kind, address, size, page, ((0, size),) if touched is None else touched)  # type: ignore[arg-type]


def workload(segments: list[Segment], *groups: ProcessGroup, name: str) -> Workload:
    return Workload(host=Host(memory=None, arch=X86_64), segments={s.name: s for s in segments},
                    groups=tuple(groups), name=name, source=f"<{name}>")


@dataclass(frozen=True)
class Case:
    """A workload and what the kernel must show for it (hand-derived)."""

    workload: Workload
    tables: dict[str, int]
    """Physical tables per level (PGD excluded: never in the delta)."""
    vmpte: tuple[int, ...]
    """VmPTE growth of one process of each group, bytes."""
    scale: int = 1

    def pagetables_bytes(self, pud_counted: bool) -> int:
        """The PageTables growth on a kernel that does / does not count PUD tables."""
        n = self.tables["pte"] + self.tables["pmd"] + (self.tables["pud"] if pud_counted else 0)
        return n * 4 * KiB


def _4k(size: int) -> Segment:
    return Segment("shm", size, "shmem", 4 * KiB)


def _huge(size: int, page: int = 2 * MiB, name: str = "huge") -> Segment:
    return Segment(name, size, "hugetlb", page)


def _t(pte: int, pmd: int, pud: int) -> dict[str, int]:
    return {"pte": pte, "pmd": pmd, "pud": pud}


CASES: dict[str, Case] = {
    # model.md 1: 1 GiB of 4 KiB shmem at a 1 GiB-aligned address, one process:
    # 512 PTE tables (1 GiB / 2 MiB) + 1 PMD + 1 PUD = 514 tables = 2,056 KiB.
    "4k-1g-aligned": Case(
        workload([_4k(GiB)], ProcessGroup("p", 1, (mapping("shm", GiB, BASE, 4 * KiB),)), name="4k-1g-aligned"),
        _t(512, 1, 1), (2056 * KiB,)),
    # shifted by 4 KiB: [BASE+4K, BASE+1G+4K) touches 513 2 MiB blocks and two
    # 1 GiB windows: 513 + 2 + 1 = 516 tables.
    "4k-1g-shifted-4k": Case(
        workload([_4k(GiB)], ProcessGroup("p", 1, (mapping("shm", GiB, BASE + 4 * KiB, 4 * KiB),)),
                 name="4k-1g-shifted-4k"),
        _t(513, 2, 1), (516 * 4 * KiB,)),
    # only the first 300 MiB touched, every page of it: 150 + 1 + 1 = 152.
    "4k-300m-touched": Case(
        workload([_4k(GiB)], ProcessGroup("p", 1, (mapping("shm", GiB, BASE, 4 * KiB,
                                                           touch=((0, 300 * MiB),)),)),
                 name="4k-300m-touched"),
        _t(150, 1, 1), (152 * 4 * KiB,)),
    # 2 GiB straddling the 512 GiB boundary at 1.5 TiB: 1024 PTE tables, two
    # PMD tables (one per 1 GiB window) and 2 PUD tables (one per 512 GiB window).
    "4k-2g-straddles-512g": Case(
        workload([_4k(2 * GiB)], ProcessGroup("p", 1, (mapping("shm", 2 * GiB, BASE + 511 * GiB, 4 * KiB),)),
                 name="4k-2g-straddles-512g"),
        _t(1024, 2, 2), (1028 * 4 * KiB,)),
    # Two 1 MiB mappings of different segments in one 2 MiB block share one PTE
    # table (tables are per VA block, not per mapping): 1 + 1 + 1 = 3.
    "4k-two-mappings-one-block": Case(
        workload([Segment("a", MiB, "shmem", 4 * KiB), Segment("b", MiB, "shmem", 4 * KiB)],
                 ProcessGroup("p", 1, (mapping("a", MiB, BASE, 4 * KiB, touch="all"),
                                       mapping("b", MiB, BASE + MiB, 4 * KiB, touch="all"))),
                 name="4k-two-mappings-one-block"),
        _t(1, 1, 1), (12 * KiB,)),
    # model.md 3, hugetlb-pmd: aligned 2 GiB of 2 MiB hugetlb in 4 processes:
    # 2 shared PMD tables + 4 PUD = 6; VmPTE = own PUD + 2 attached PMD = 12 KiB.
    "hugetlb-2g-x4-aligned": Case(
        workload([_huge(2 * GiB)], ProcessGroup("p", 4, (mapping("huge", 2 * GiB, BASE, 2 * MiB),)),
                 name="hugetlb-2g-x4-aligned"),
        _t(0, 2, 4), (12 * KiB,)),
    # shifted by 2 MiB: windows [B+1G, B+2G) shared (1 PMD), the partial head
    # and tail windows private: 1 + 4 x (1 PUD + 2 PMD) = 13; VmPTE 16 KiB.
    "hugetlb-2g-x4-shifted-2m": Case(
        workload([_huge(2 * GiB)], ProcessGroup("p", 4, (mapping("huge", 2 * GiB, BASE + 2 * MiB, 2 * MiB),)),
                 name="hugetlb-2g-x4-shifted-2m"),
        _t(0, 9, 4), (16 * KiB,)),
    # 2 read-write + 2 read-only processes: vm_flags differ, two shared sets:
    # 2 x 2 PMD + 4 PUD = 8.  A fifth process maps it PROT_NONE: no tables at all.
    "hugetlb-2rw-2r-1none": Case(
        workload([_huge(2 * GiB)],
                 ProcessGroup("rw", 2, (mapping("huge", 2 * GiB, BASE, 2 * MiB),)),
                 ProcessGroup("r", 2, (mapping("huge", 2 * GiB, BASE, 2 * MiB, prot="r"),)),
                 ProcessGroup("none", 1, (mapping("huge", 2 * GiB, BASE, 2 * MiB, prot="none"),)),
                 name="hugetlb-2rw-2r-1none"),
        _t(0, 4, 4), (12 * KiB, 12 * KiB, 0)),
    # Two groups at the same address whose file offsets differ by 2 MiB:
    # (address - offset) mod 1 GiB differs, so no sharing across the groups:
    # one shared PMD per group + 4 PUD = 6 (5 if they shared).
    "hugetlb-offsets-differ-2m": Case(
        workload([_huge(GiB + 2 * MiB)],
                 ProcessGroup("at 0", 2, (mapping("huge", GiB, BASE, 2 * MiB),)),
                 ProcessGroup("at 2M", 2, (mapping("huge", GiB, BASE, 2 * MiB, offset=2 * MiB),)),
                 name="hugetlb-offsets-differ-2m"),
        _t(0, 2, 4), (8 * KiB, 8 * KiB)),
    # 1 GiB at BASE + 2 MiB: no whole 1 GiB window inside, nothing shared:
    # 2 x (1 PUD + 2 PMD) = 6; VmPTE 12 KiB.
    "hugetlb-no-whole-window": Case(
        workload([_huge(GiB)], ProcessGroup("p", 2, (mapping("huge", GiB, BASE + 2 * MiB, 2 * MiB),)),
                 name="hugetlb-no-whole-window"),
        _t(0, 4, 2), (12 * KiB,)),
    # 64 processes x 4 GiB: 4 shared PMD + 64 PUD = 68; VmPTE 4 PMD + 1 PUD = 20 KiB.
    "hugetlb-4g-x64": Case(
        workload([_huge(4 * GiB)], ProcessGroup("p", 64, (mapping("huge", 4 * GiB, BASE, 2 * MiB),)),
                 name="hugetlb-4g-x64"),
        _t(0, 4, 64), (20 * KiB,)),
    # model.md 5 (300 GiB SGA, 2 MiB hugetlb, 1500 processes) with --scale 100:
    # 3 whole windows (300 / 100) and 15 processes: 3 shared PMD + 15 PUD = 18;
    # VmPTE 1 PUD + 3 PMD = 16 KiB.
    "hugetlb-sga-300g-x1500-scaled": Case(
        workload([_huge(300 * GiB, name="sga")],
                 ProcessGroup("servers", 1500, (mapping("sga", 300 * GiB, BASE, 2 * MiB),)),
                 name="hugetlb-sga-300g-x1500"),
        _t(0, 3, 15), (16 * KiB,), scale=100),
    # shmem THP: 64 MiB of 2 MiB pages, all touched, 2 processes; PMD-mapped
    # THPs need no PTE table: 2 x (1 PMD + 1 PUD) = 4; VmPTE 8 KiB.
    "shmem-thp-64m-x2": Case(
        workload([Segment("thp", 64 * MiB, "shmem", 2 * MiB)],
                 ProcessGroup("p", 2, (mapping("thp", 64 * MiB, BASE, 2 * MiB, touch="all"),)),
                 name="shmem-thp-64m-x2"),
        _t(0, 2, 2), (8 * KiB,)),
    # hugetlb 1 GiB pages, one page mapped and touched by 2 processes: a 1 GiB
    # page is a PUD entry, so 1 PUD table each = 2; VmPTE 4 KiB.
    "hugetlb-1g-pages-x2": Case(
        workload([_huge(GiB, page=GiB, name="giant")],
                 ProcessGroup("p", 2, (mapping("giant", GiB, BASE, GiB, touch="all"),)),
                 name="hugetlb-1g-pages-x2"),
        _t(0, 0, 2), (4 * KiB,)),
    # Both pools' kinds in one process: 2 GiB of 2 MiB hugetlb at BASE (2 shared
    # PMD tables) and 8 MiB of shmem THP at BASE + 2 GiB (its own PMD table, in
    # the same 512 GiB window: the same PUD table).  2 shared PMD + 2 x (1 PUD
    # + 1 PMD) = 6; VmPTE 1 PUD + 2 attached PMD + 1 own PMD = 16 KiB.
    "mixed-hugetlb-thp-x2": Case(
        workload([_huge(2 * GiB), Segment("thp", 8 * MiB, "shmem", 2 * MiB)],
                 ProcessGroup("p", 2, (mapping("huge", 2 * GiB, BASE, 2 * MiB),
                                       mapping("thp", 8 * MiB, BASE + 2 * GiB, 2 * MiB, touch="all"))),
                 name="mixed-hugetlb-thp-x2"),
        _t(0, 4, 2), (16 * KiB,)),
    # Whole processes (issue 13): each process's own memory, 2 processes.
    # Anonymous 3 MiB at BASE (2 blocks: 2 PTE tables), a private file mapping
    # of 4 MiB at BASE + 4 MiB read (2 more), a 132 KiB stack at the end of the
    # first 1 GiB window (1 more); one PMD and one PUD table: 7 tables each,
    # 14 in all; VmPTE 28 KiB.
    "private-anon-file-stack-x2": Case(
        workload([], ProcessGroup("p", 2, (), private_mappings=(
            own("anon", 3 * MiB, BASE), own("file", 4 * MiB, BASE + 4 * MiB),
            own("stack", 132 * KiB, BASE + GiB - 132 * KiB))), name="private-anon-file-stack-x2"),
        _t(10, 2, 2), (28 * KiB,)),
    # Anonymous THP: 8 MiB of 2 MiB pages at BASE, one process, every huge page
    # touched: each keeps the PTE table __do_huge_pmd_anonymous_page deposits
    # (pgtable_trans_huge_deposit): 4 PTE + 1 PMD + 1 PUD = 6 (docs/whole-process.md
    # measured the same); VmPTE 24 KiB.  (Without THP, 4 KiB pages: the same 6.)
    "private-anon-thp": Case(
        workload([], ProcessGroup("p", 1, (), private_mappings=(own("anon", 8 * MiB, BASE, page=2 * MiB),)),
                 name="private-anon-thp"),
        _t(4, 1, 1), (24 * KiB,)),
    # Tables shared between a process's own mappings and shared ones, 2 processes:
    # 4 MiB of 4 KiB shmem at BASE (2 PTE tables), anonymous 2 MiB at BASE +
    # 4 MiB (1 PTE), 1 MiB of the shmem at BASE + 8 MiB and a private file
    # mapping of 1 MiB right after it, in the same 2 MiB block (1 PTE table for
    # both), and 2 GiB of 2 MiB hugetlb at BASE + 1 GiB (2 shared PMD tables).
    # Each process: 4 PTE, the PMD table of [BASE, BASE + 1 GiB) (shmem and
    # private alike), 1 PUD for everything: 6 own + 2 attached PMD = VmPTE 32 KiB;
    # physical 2 x 6 + 2 = 14: 8 PTE, 2 + 2 PMD, 2 PUD.
    "mixed-private-and-shared-x2": Case(
        workload([_4k(8 * MiB), _huge(2 * GiB)],
                 ProcessGroup("p", 2, (mapping("shm", 4 * MiB, BASE, 4 * KiB, touch="all"),
                                       mapping("shm", 1 * MiB, BASE + 8 * MiB, 4 * KiB, offset=4 * MiB,
                                               touch="all"),
                                       mapping("huge", 2 * GiB, BASE + GiB, 2 * MiB)),
                              private_mappings=(own("anon", 2 * MiB, BASE + 4 * MiB),
                                                own("file", 1 * MiB, BASE + 9 * MiB))),
                 name="mixed-private-and-shared-x2"),
        _t(8, 4, 2), (32 * KiB,)),
    # A real 64 MiB file, read by 2 processes: 2 x (32 PTE + 1 PMD + 1 PUD) = 68.
    "file-64m-x2": Case(
        workload([Segment("data", 64 * MiB, "file", 4 * KiB)],
                 ProcessGroup("p", 2, (mapping("data", 64 * MiB, BASE, 4 * KiB, prot="r", touch="all"),)),
                 name="file-64m-x2"),
        _t(64, 2, 2), (34 * 4 * KiB,)),
}
