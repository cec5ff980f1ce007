"""The model and the simulator on the arm64 profiles, against numbers derived by hand.

Geometry (tests/test_arch.py derives it from the kernel headers):

    profile     table     PTE table covers   PMD table covers   PUD table covers   PGD
    arm64-4k    4 KiB     2 MiB              1 GiB              512 GiB            4 KiB
    arm64-16k   16 KiB    32 MiB             64 GiB             128 TiB            16 B (2 entries)
    arm64-64k   64 KiB    512 MiB            4 TiB              (no PUD)           512 B (64 entries)

Every expected value is worked out in the comment above it and checked
against both ``ptcalc.model.tables.compute`` and ``ptcalc.simulator.walk.simulate``.
"""

from __future__ import annotations

import pytest

from ptcalc.model.geometry import ARM64_4K, ARM64_16K, ARM64_64K
from ptcalc.model.budget import budget
from ptcalc.model.layout import Layout
from ptcalc.model.tables import SCHEMES, Why, compute, zones
from ptcalc.render.facts import pool_advice
from ptcalc.simulator.walk import simulate
from ptcalc.model.whatif import columns
from ptcalc.workload.types import Host, Mapping, ModelOptions, ProcessGroup, Segment, Workload, resolve_addresses

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
K16, K64 = 16 * KiB, 64 * KiB


def wl(arch, segments, *groups, pti=False, **options):
    return Workload(host=Host(memory=None, arch=arch, pti=pti), segments={s.name: s for s in segments},
                    groups=tuple(groups), options=ModelOptions(**options))


def mp(seg, size, address, offset=0, touch=None, prot="rw"):
    t = size if touch is None else touch
    return Mapping(seg, offset, size, address, prot, touched=((0, t),) if t else ())


def grp(count, *mappings, name="p"):
    return ProcessGroup(name, count, tuple(mappings))


def both(w, scheme):
    """The model's result, after checking the simulator agrees on every figure."""
    r = compute(w, scheme)
    s = simulate(w, scheme)
    assert (r.tables, r.shared_tables, r.physical_bytes, r.shared_bytes, r.groups) == (
        s.tables, s.shared_tables, s.physical_bytes, s.shared_bytes, s.groups)
    return r


def levels(r):
    return tuple(r.tables[n] for n in ("pte", "pmd", "pud", "pgd"))


# --- arm64-16k: 2048-entry 16 KiB tables -------------------------------------------------

def test_16k_one_gib_aligned():
    # 1 GiB of 16 KiB pages at 1 TiB (64 GiB-aligned): 1 GiB / 32 MiB = 32 PTE
    # tables, 1 PMD table (64 GiB), 1 PUD table (128 TiB), and the 16-byte PGD.
    # VmPTE = 34 x 16 KiB = 544 KiB; physical 544 KiB + 16 bytes.
    w = wl(ARM64_16K, [Segment("s", GiB, "shmem", K16)], grp(1, mp("s", GiB, 1 * TiB)))
    r = both(w, "private")
    assert levels(r) == (32, 1, 1, 1)
    assert r.groups[0].vmpte_bytes == 544 * KiB
    assert r.physical_bytes == 544 * KiB + 16


def test_16k_shifted_by_one_page():
    # [1 TiB + 16 KiB, 1 TiB + 1 GiB + 16 KiB) touches 33 32 MiB blocks, still
    # one 64 GiB window: 33 + 1 + 1.
    w = wl(ARM64_16K, [Segment("s", 2 * GiB, "shmem", K16)], grp(1, mp("s", GiB, 1 * TiB + K16)))
    assert levels(both(w, "private"))[:3] == (33, 1, 1)


def test_16k_straddling_a_pgd_entry():
    # 1 GiB at 128 TiB - 512 MiB: 32 PTE tables (512 MiB is a multiple of 32
    # MiB), 2 PMD tables (either side of 128 TiB, a 64 GiB boundary too), and
    # 2 PUD tables: the PGD's two entries (each maps 128 TiB) are both used.
    w = wl(ARM64_16K, [Segment("s", GiB, "shmem", K16)], grp(1, mp("s", GiB, 128 * TiB - 512 * MiB)))
    assert levels(both(w, "private")) == (32, 2, 2, 1)


def test_16k_one_page_costs_48_kib_of_vmpte():
    # One touched 16 KiB page: a PTE, a PMD and a PUD table, 3 x 16 KiB.  2000
    # processes: 2000 x (48 KiB + 16 bytes).
    w = wl(ARM64_16K, [Segment("s", K16, "shmem", K16)], grp(2000, mp("s", K16, 1 * TiB)))
    r = both(w, "private")
    assert r.groups[0].vmpte_bytes == 48 * KiB
    assert r.physical_bytes == 2000 * (48 * KiB + 16)


def sga16(count, address, page=32 * MiB, size=128 * GiB):
    return wl(ARM64_16K, [Segment("sga", size, "hugetlb", page)], grp(count, mp("sga", size, address)))


def test_16k_32mib_hugetlb_shares_pmd_tables_over_64gib_windows():
    # 128 GiB of 32 MiB hugetlb pages (PMD_SIZE) at 1 TiB in 4 processes:
    # 128 / 64 = 2 whole 64 GiB windows, each one shared PMD table; every
    # process keeps its PUD table and PGD.  Physical: 2 PMD + 4 PUD = 6 x 16
    # KiB + 4 x 16 bytes.  VmPTE: own PUD + 2 attached PMD = 48 KiB.
    r = both(sga16(4, 1 * TiB), "hugetlb-pmd")
    assert levels(r) == (0, 2, 4, 4)
    assert r.shared_tables["pmd"] == 2
    assert r.physical_bytes == 6 * K16 + 4 * 16
    assert r.groups[0].vmpte_bytes == 48 * KiB
    # private: 4 x (2 PMD + 1 PUD)
    assert levels(both(sga16(4, 1 * TiB), "private")) == (0, 8, 4, 4)


def test_16k_misaligned_by_one_pmd():
    # The same at 1 TiB + 32 MiB: windows [1T+64G, 1T+128G) lies wholly inside
    # [1T+32M, 1T+128G+32M), so 1 shared PMD table; the partial windows at
    # both ends get private PMD tables.  Per process 2 PMD + 1 PUD own, 1
    # attached: physical PMD 4 x 2 + 1 = 9; VmPTE (2 + 1 + 1) x 16 KiB.
    r = both(sga16(4, 1 * TiB + 32 * MiB), "hugetlb-pmd")
    assert levels(r) == (0, 9, 4, 4)
    assert r.groups[0].vmpte_bytes == 64 * KiB


def test_16k_contiguous_pmd_pages_are_never_shared():
    # 1 GiB pages on 16K are CONT_PMD (32 PMD entries): huge_pte_alloc() only
    # shares PMD_SIZE pages.  4 x (2 PMD + 1 PUD), nothing shared.
    w = sga16(4, 1 * TiB, page=1 * GiB)
    r = both(w, "hugetlb-pmd")
    assert levels(r) == (0, 8, 4, 4)
    assert r.shared_tables["pmd"] == 0
    z = zones(Layout.from_workload(w), "hugetlb-pmd", w.options)
    assert z.why_pmd.tolist() == [Why.NOT_PMD_PAGES]


def test_16k_contiguous_pte_pages_need_pte_tables():
    # 64 MiB of 2 MiB hugetlb pages (CONT_PTE: 128 PTE entries) at 1 TiB:
    # 64 / 32 = 2 PTE tables, 1 PMD, 1 PUD, per process; 3 processes, no
    # sharing under hugetlb-pmd.
    w = wl(ARM64_16K, [Segment("s", 64 * MiB, "hugetlb", 2 * MiB)], grp(3, mp("s", 64 * MiB, 1 * TiB)))
    assert levels(both(w, "hugetlb-pmd")) == (6, 3, 3, 3)


def test_16k_file_cached_shares_32mib_blocks():
    # 1 GiB of 16 KiB shmem, address = offset mod 32 MiB but not mod 64 GiB
    # (at 1 TiB, offset 32 MiB), 2 processes: no whole 64 GiB window, so the
    # 32 PTE tables of the 32 whole 32 MiB blocks are shared (cached on the
    # file); each process keeps 1 PMD + 1 PUD.  VmPTE: (1 + 1 + 32) x 16 KiB.
    w = wl(ARM64_16K, [Segment("s", 2 * GiB, "shmem", K16)], grp(2, mp("s", GiB, 1 * TiB, offset=32 * MiB)))
    r = both(w, "file-cached")
    assert levels(r) == (32, 2, 2, 2)
    assert r.shared_tables["pte"] == 32
    assert r.groups[0].vmpte_bytes == 34 * K16


def test_16k_mshare_region_attaches_at_the_pgd():
    # mshare v3 on 16K: the host mm holds PUD, PMD, PTE tables for the
    # region (laid out at file offsets: 1 GiB of 16 KiB pages = 32 + 1 + 1)
    # and its own 16-byte PGD; each of 3 processes only its PGD.
    w = wl(ARM64_16K, [Segment("s", GiB, "shmem", K16)], grp(3, mp("s", GiB, 128 * TiB)))
    r = both(w, "mshare")
    assert levels(r) == (32, 1, 1, 4)
    assert r.physical_bytes == 34 * K16 + 4 * 16
    assert r.groups[0].vmpte_bytes == 0


# --- arm64-64k: 3 levels, 8192-entry 64 KiB tables, no PMD sharing -----------------------

def test_64k_one_gib_private():
    # 1 GiB of 64 KiB pages at 4 TiB: 1 GiB / 512 MiB = 2 PTE tables, 1 PMD
    # table (4 TiB), no PUD level; PGD 512 bytes.  VmPTE 3 x 64 KiB.
    w = wl(ARM64_64K, [Segment("s", GiB, "shmem", K64)], grp(1, mp("s", GiB, 4 * TiB)))
    r = both(w, "private")
    assert levels(r) == (2, 1, 0, 1)
    assert r.groups[0].vmpte_bytes == 192 * KiB
    assert r.physical_bytes == 192 * KiB + 512


def test_64k_512mib_hugetlb_pages_need_no_pte_tables_and_are_never_shared():
    # 4 GiB of 512 MiB hugetlb pages (PMD entries) at 4 TiB in 3 processes:
    # each needs only a PMD table; arm64 64K has no ARCH_WANT_HUGE_PMD_SHARE.
    # 3 x 64 KiB + 3 x 512 bytes, VmPTE 64 KiB each, under both schemes.
    w = wl(ARM64_64K, [Segment("s", 4 * GiB, "hugetlb", 512 * MiB)], grp(3, mp("s", 4 * GiB, 4 * TiB)))
    for scheme in ("private", "hugetlb-pmd"):
        r = both(w, scheme)
        assert levels(r) == (0, 3, 0, 3)
        assert r.physical_bytes == 3 * K64 + 3 * 512
        assert r.groups[0].vmpte_bytes == 64 * KiB
        assert r.shared_bytes == 0
    z = zones(Layout.from_workload(w), "hugetlb-pmd", w.options)
    assert z.why_pmd.tolist() == [Why.ARCH_NO_PMD_SHARE]


def test_64k_16gib_contiguous_pmd_pages():
    # 32 GiB of 16 GiB pages (32 PMD entries each) at 4 TiB: 1 PMD table.
    w = wl(ARM64_64K, [Segment("s", 32 * GiB, "hugetlb", 16 * GiB)], grp(2, mp("s", 32 * GiB, 4 * TiB)))
    assert levels(both(w, "hugetlb-pmd")) == (0, 2, 0, 2)


def test_64k_file_cached_shares_512mib_blocks():
    # 2 GiB of 64 KiB shmem at 4 TiB, offset 0, 2 processes: PUD_SIZE is 4
    # TiB, so no whole window and no shared PMD table; the 4 whole 512 MiB
    # blocks share PTE tables.  Physical 4 PTE + 2 PMD; VmPTE (1 + 4) x 64 KiB.
    w = wl(ARM64_64K, [Segment("s", 2 * GiB, "shmem", K64)], grp(2, mp("s", 2 * GiB, 4 * TiB)))
    r = both(w, "file-cached")
    assert levels(r) == (4, 2, 0, 2)
    assert r.groups[0].vmpte_bytes == 5 * K64


def test_64k_mshare_attaches_at_the_pgd():
    # 1 GiB of 64 KiB pages, 3 processes: host tree 2 PTE + 1 PMD + its PGD;
    # processes 1 PGD each: 3 x 64 KiB + 4 x 512 bytes.
    w = wl(ARM64_64K, [Segment("s", GiB, "shmem", K64)], grp(3, mp("s", GiB, 8 * TiB)))
    r = both(w, "mshare")
    assert levels(r) == (2, 1, 0, 4)
    assert r.physical_bytes == 3 * K64 + 4 * 512


# --- arm64-4k: the x86-64 geometry, more hugetlb sizes --------------------------------------

def test_4k_matches_model_md_verified_numbers():
    # model.md section 1 (verified on x86-64; same geometry): 514 tables, 2,056 KiB.
    w = wl(ARM64_4K, [Segment("s", GiB, "shmem", 4 * KiB)], grp(1, mp("s", GiB, 1 * TiB)))
    r = both(w, "private")
    assert levels(r) == (512, 1, 1, 1)
    assert r.groups[0].vmpte_bytes == 2056 * KiB


def test_4k_64kib_contiguous_pte_pages_need_the_base_page_tables():
    # 1 GiB of 64 KiB hugetlb (16 PTE entries each): the same 512 + 1 + 1
    # tables as 4 KiB pages, and no sharing.
    w = wl(ARM64_4K, [Segment("s", GiB, "hugetlb", 64 * KiB)], grp(2, mp("s", GiB, 1 * TiB)))
    assert levels(both(w, "hugetlb-pmd")) == (1024, 2, 2, 2)


def test_4k_2mib_shares_32mib_does_not():
    # model.md: 4 processes x 2 GiB of 2 MiB hugetlb, aligned: 2 shared PMD
    # + 4 PUD = 6.  The same with 32 MiB CONT_PMD pages: 4 x (2 PMD + 1 PUD).
    def w(page):
        return wl(ARM64_4K, [Segment("s", 2 * GiB, "hugetlb", page)], grp(4, mp("s", 2 * GiB, 1 * TiB)))
    assert levels(both(w(2 * MiB), "hugetlb-pmd")) == (0, 2, 4, 4)
    assert levels(both(w(32 * MiB), "hugetlb-pmd")) == (0, 8, 4, 4)


# --- what-if columns, pool advice -----------------------------------------------------------

def test_16k_whatif_columns():
    # A 128 GiB 32 MiB-hugetlb SGA on 16K, auto-placed: columns 16 KiB (shmem),
    # the configured 32 MiB hugetlb, and 1 GiB hugetlb.  In the 1 GiB column
    # nothing is shared (CONT_PMD): 4 x (2 PMD + 1 PUD) = 12 tables of 16 KiB.
    (m,) = resolve_addresses([(Mapping("sga", 0, 128 * GiB, 0, touched=((0, 128 * GiB),)), True)], ARM64_16K)
    w = wl(ARM64_16K, [Segment("sga", 128 * GiB, "hugetlb", 32 * MiB)], grp(4, m))
    cols = columns(w)
    assert [(c.page_size, c.configured) for c in cols] == [(K16, False), (32 * MiB, True), (GiB, False)]
    r = compute(cols[2].workload, "hugetlb-pmd")
    assert levels(r) == (0, 8, 4, 4)
    assert r.physical_bytes == 12 * K16 + 4 * 16
    # and the configured column shares as above: 2 PMD + 4 PUD
    assert levels(compute(cols[1].workload, "hugetlb-pmd")) == (0, 2, 4, 4)


def test_4k_contiguous_pte_workload_keeps_its_own_column():
    # 64 KiB hugetlb is a valid size but not a what-if column: the configured
    # workload is a column of its own, before 4 KiB, 2 MiB and 1 GiB.  Its
    # tables are those of 4 KiB pages: 1 GiB aligned = 512 + 1 + 1.
    (m,) = resolve_addresses([(Mapping("s", 0, GiB, 0, touched=((0, GiB),)), True)], ARM64_4K)
    w = wl(ARM64_4K, [Segment("s", GiB, "hugetlb", 64 * KiB)], grp(1, m))
    cols = columns(w)
    assert [(c.page_size, c.configured) for c in cols] == [
        (64 * KiB, True), (4 * KiB, False), (2 * MiB, False), (GiB, False)]
    assert levels(compute(cols[0].workload, "private")) == levels(compute(cols[1].workload, "private")) == (
        512, 1, 1, 1)


def test_pool_advice_uses_the_default_hugepage_size():
    # vm.nr_hugepages sizes the PMD_SIZE pool: 32 MiB pages on 16K; 1 GiB
    # (CONT_PMD, gigantic) pages want a boot-time reservation.
    w = wl(ARM64_16K, [Segment("a", 64 * GiB, "hugetlb", 32 * MiB), Segment("b", 2 * GiB, "hugetlb", GiB)],
           grp(1, mp("a", 64 * GiB, 1 * TiB), mp("b", 2 * GiB, 2 * TiB)))
    b = budget(w, compute(w, "private"), {})
    lines = pool_advice(b, ARM64_16K)
    assert lines[0].endswith("sysctl vm.nr_hugepages=2048")  # 64 GiB / 32 MiB
    assert "hugepages-1048576kB" in lines[1] and "hugepagesz=1G hugepages=2" in lines[1]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_runs_on_every_arm64_profile(scheme):
    # A mapping at every kind of page of each profile, model == simulator.
    for arch in (ARM64_4K, ARM64_16K, ARM64_64K):
        segs = [Segment(f"s{i}", max(p, 2 * arch.pmd_size), "hugetlb" if i else "shmem", p)
                for i, p in enumerate(arch.page_sizes())]
        ms = [mp(s.name, s.size, arch.auto_base + i * arch.auto_window, touch=s.page_size)
              for i, s in enumerate(segs)]
        both(wl(arch, segs, grp(2, *ms)), scheme)
