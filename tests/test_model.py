"""The closed-form model against numbers derived by hand from the geometry.

Every expected value here is worked out in the comment above it from x86-64
geometry (PTE table = 2 MiB, PMD table = 1 GiB, PUD table = 512 GiB, 4 KiB
tables) or quoted from model.md's kernel-verified cases -- never copied from
the model's output.
"""

from __future__ import annotations

import pytest

from ptcalc.model.geometry import X86_64, X86_64_LA57
from ptcalc.model.tables import SCHEMES, compute
from ptcalc.workload.types import Host, Mapping, ModelOptions, ProcessGroup, Segment, Workload

KiB, MiB, GiB, TiB, PiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40, 1 << 50
BASE = 1 * TiB  # a 512 GiB-aligned, otherwise empty window


def wl(segments, *groups, arch=X86_64, pti=False):
    return Workload(host=Host(memory=512 * GiB, arch=arch, pti=pti),
                    segments={s.name: s for s in segments}, groups=tuple(groups))


def mp(seg, size, address, offset=0, touch=None, prot="rw", **kw):
    t = size if touch is None else touch
    return Mapping(seg, offset, size, address, prot, touched=((0, t),) if t else (), **kw)


def grp(count, *mappings, name="p"):
    return ProcessGroup(name, count, tuple(mappings))


def levels(r):
    return (r.tables["pte"], r.tables["pmd"], r.tables["pud"], r.tables["pgd"])


# --- model.md section 1: geometry, verified on 6.18 and 6.1 ---------------

def test_one_gib_aligned_4k():
    # 1 GiB / 2 MiB = 512 PTE tables, one PMD, one PUD: 514 tables = 2,056 KiB.
    r = compute(wl([Segment("s", GiB, "shmem", 4 * KiB)], grp(1, mp("s", GiB, BASE))), "private")
    assert levels(r) == (512, 1, 1, 1)
    assert r.groups[0].vmpte_bytes == 2056 * KiB
    assert r.physical_bytes == (514 + 1) * 4 * KiB  # + the PGD


def test_shifted_by_4k():
    # [BASE+4K, BASE+1G+4K) touches 513 2 MiB blocks and 2 1 GiB windows.
    r = compute(wl([Segment("s", 2 * GiB, "shmem", 4 * KiB)], grp(1, mp("s", GiB, BASE + 4 * KiB))), "private")
    assert levels(r)[:3] == (513, 2, 1)


def test_touch_300_mib():
    # 300 MiB / 2 MiB = 150 PTE tables + 1 PMD + 1 PUD = 152.
    r = compute(wl([Segment("s", GiB, "shmem", 4 * KiB)], grp(1, mp("s", GiB, BASE, touch=300 * MiB))), "private")
    assert levels(r)[:3] == (150, 1, 1)
    assert r.groups[0].vmpte_bytes == 152 * 4 * KiB


def test_straddling_512g_needs_two_puds():
    r = compute(wl([Segment("s", 2 * GiB, "shmem", 4 * KiB)], grp(1, mp("s", 2 * GiB, BASE - GiB))), "private")
    assert levels(r)[:3] == (1024, 2, 2)


def test_2m_pages_need_no_pte_1g_pages_no_pmd():
    r2 = compute(wl([Segment("s", 2 * GiB, "hugetlb", 2 * MiB)], grp(1, mp("s", 2 * GiB, BASE))), "private")
    assert levels(r2)[:3] == (0, 2, 1)
    r1 = compute(wl([Segment("s", 2 * GiB, "hugetlb", GiB)], grp(1, mp("s", 2 * GiB, BASE))), "private")
    assert levels(r1)[:3] == (0, 0, 1)


def test_two_mappings_in_one_2m_block_share_one_pte_table():
    # Two 4 KiB mappings of different segments inside one 2 MiB block: one PTE table.
    segs = [Segment("a", 4 * KiB, "shmem", 4 * KiB), Segment("b", 4 * KiB, "shmem", 4 * KiB)]
    r = compute(wl(segs, grp(1, mp("a", 4 * KiB, BASE), mp("b", 4 * KiB, BASE + 8 * KiB))), "private")
    assert levels(r)[:3] == (1, 1, 1)


def test_three_small_mappings_in_one_block_and_one_beyond():
    # Blocks touched: [BASE, +2M) by three mappings, and [BASE+2M, +4M) by the fourth.
    segs = [Segment(n, 4 * KiB, "shmem", 4 * KiB) for n in "abcd"]
    r = compute(wl(segs, grp(1, mp("a", 4 * KiB, BASE), mp("b", 4 * KiB, BASE + 64 * KiB),
                            mp("c", 4 * KiB, BASE + MiB), mp("d", 4 * KiB, BASE + 2 * MiB))), "private")
    assert levels(r)[:3] == (2, 1, 1)


def test_pti_pgd_is_8k():
    w = wl([Segment("s", GiB, "shmem", 4 * KiB)], grp(3, mp("s", GiB, BASE)), pti=True)
    r = compute(w, "private")
    assert r.physical_bytes == 3 * (514 * 4 * KiB + 8 * KiB)


# --- model.md section 3: hugetlb PMD sharing, verified cases ----------------

H2 = Segment("h", 4 * GiB, "hugetlb", 2 * MiB)


def test_hugetlb_aligned_2g_in_4_processes():
    # 2 shared PMD tables + 4 PUD tables = 6; VmPTE = 1 PUD + 2 PMD = 12 KiB each.
    r = compute(wl([H2], grp(4, mp("h", 2 * GiB, BASE))), "hugetlb-pmd")
    assert levels(r)[:3] == (0, 2, 4)
    assert r.groups[0].vmpte_bytes == 12 * KiB
    assert r.shared_tables["pmd"] == 2
    # Sum of VmPTE (48 KiB) overstates the physical 24 KiB below the PGDs.
    assert r.vmpte_total == 48 * KiB
    assert r.physical_bytes - 4 * 4 * KiB == 24 * KiB


def test_hugetlb_shifted_by_2m():
    # [BASE+2M, BASE+2G+2M): one whole window [BASE+1G, BASE+2G) shared;
    # each process: 1 PUD + 2 private PMD (the partial windows). 1 + 4*3 = 13.
    r = compute(wl([H2], grp(4, mp("h", 2 * GiB, BASE + 2 * MiB))), "hugetlb-pmd")
    assert r.tables["pmd"] + r.tables["pud"] == 13
    assert r.shared_tables["pmd"] == 1


def test_hugetlb_rw_and_r_two_sets():
    # 2 rw + 2 r processes: two shared sets of 2 PMD tables + 4 PUD = 8.
    r = compute(wl([H2], grp(2, mp("h", 2 * GiB, BASE), name="rw"),
                   grp(2, mp("h", 2 * GiB, BASE, prot="r"), name="r")), "hugetlb-pmd")
    assert r.tables["pmd"] + r.tables["pud"] == 8


def test_hugetlb_offsets_differing_by_2m_do_not_share_across_groups():
    # Group A maps file [0, 2G) at BASE; group B maps file [2M, 2G+2M) at BASE:
    # (address - offset) mod 1 GiB differs, so each group has its own PMD tables:
    # 2 PMD (A) + 2 PMD (B) + 4 PUD.
    r = compute(wl([H2], grp(2, mp("h", 2 * GiB, BASE), name="a"),
                   grp(2, mp("h", 2 * GiB, BASE, offset=2 * MiB), name="b")), "hugetlb-pmd")
    assert (r.tables["pmd"], r.tables["pud"]) == (4, 4)


def test_hugetlb_no_whole_window_shares_nothing():
    # 1 GiB mapping at BASE + 512 MiB: straddles two windows, holds neither whole.
    w = wl([H2], grp(4, mp("h", GiB, BASE + 512 * MiB)))
    assert compute(w, "hugetlb-pmd").tables == compute(w, "private").tables
    assert compute(w, "hugetlb-pmd").tables["pmd"] == 8


def test_hugetlb_64_processes_4g():
    # 64 x 4 GiB: 4 shared PMD + 64 PUD = 68.
    r = compute(wl([H2], grp(64, mp("h", 4 * GiB, BASE))), "hugetlb-pmd")
    assert r.tables["pmd"] + r.tables["pud"] == 68


def test_hugetlb_uffd_wp_disables_sharing():
    w = wl([H2], grp(4, mp("h", 2 * GiB, BASE, userfaultfd="wp")))
    assert compute(w, "hugetlb-pmd").tables["pmd"] == 8
    w = wl([H2], grp(4, mp("h", 2 * GiB, BASE, userfaultfd="missing")))
    assert compute(w, "hugetlb-pmd").tables["pmd"] == 2


def test_hugetlb_partial_touch_attaches_only_touched_windows():
    # Touch the first 1.5 GiB of an aligned 2 GiB mapping: windows 0 and 1 are
    # touched, both shared: 2 PMD + 4 PUD; each VmPTE 12 KiB.
    r = compute(wl([H2], grp(4, mp("h", 2 * GiB, BASE, touch=GiB + 512 * MiB))), "hugetlb-pmd")
    assert (r.tables["pmd"], r.tables["pud"]) == (2, 4)
    # Touch only 2 MiB: one window attached.
    r = compute(wl([H2], grp(4, mp("h", 2 * GiB, BASE, touch=2 * MiB))), "hugetlb-pmd")
    assert (r.tables["pmd"], r.tables["pud"]) == (1, 4)
    assert r.groups[0].vmpte_bytes == 8 * KiB


# --- model.md section 5: published figures --------------------------------

SGA = 300 * GiB


def seed(page_size, backing, count=1500):
    return wl([Segment("sga", SGA, backing, page_size)], grp(count, mp("sga", SGA, BASE)))


def test_seed_private_4k():
    r = compute(seed(4 * KiB, "shmem"), "private")
    # 1500 x 300 GiB / 512 (PTE tables are 1/512 of what they map) = 878.9 GiB
    assert r.tables["pte"] * 4 * KiB == 1500 * SGA // 512
    assert round(r.tables["pte"] * 4 * KiB / GiB, 1) == 878.9
    # + 300 PMD and 1 PUD per process: 880.6 GiB in all (the PGDs add 5.9 MiB).
    below_pgd = (r.tables["pte"] + r.tables["pmd"] + r.tables["pud"]) * 4 * KiB
    assert below_pgd == 1500 * (153600 + 300 + 1) * 4 * KiB
    assert round(below_pgd / GiB, 1) == 880.6
    assert round(r.physical_bytes / GiB, 1) == 880.6


def test_seed_hugetlb_2m():
    r = compute(seed(2 * MiB, "hugetlb"), "hugetlb-pmd")
    # 300 shared PMD tables + 1500 PUD tables: ~7 MiB below the PGDs.
    assert (r.tables["pte"], r.tables["pmd"], r.tables["pud"]) == (0, 300, 1500)
    assert (300 + 1500) * 4 * KiB == 7372800  # 7.03 MiB
    # Each VmPTE: 1 PUD + 300 attached PMD = 1,204 KiB; summed 1.72 GiB.
    assert r.groups[0].vmpte_bytes == 1204 * KiB
    assert round(r.vmpte_total / GiB, 2) == 1.72


def test_ptes_per_4k_page_for_2000_processes():
    # Cover letters: "When 2000 processes map the same page ... each one of them
    # requires 8 bytes for its PTE and together that adds up to 8K" -- 2000 x 8
    # bytes is in fact 16,000 bytes (the letters' 8K is 1000 processes' worth).
    # With full PTE tables (a 2 MiB block of 512 pages), PTE bytes per page:
    r = compute(wl([Segment("s", 2 * MiB, "shmem", 4 * KiB)], grp(2000, mp("s", 2 * MiB, BASE))), "private")
    assert r.tables["pte"] * 4 * KiB // 512 == 2000 * 8
    # And one page alone costs each process a whole 4 KiB PTE table.
    r = compute(wl([Segment("s", 4 * KiB, "shmem", 4 * KiB)], grp(2000, mp("s", 4 * KiB, BASE))), "private")
    assert r.tables["pte"] == 2000


def test_dba_blog_3g_sga():
    # 3 GiB / 512 = 6 MiB of PTEs per process; 330 processes ~ 1.98 GB (leaf only).
    w = wl([Segment("sga", 3 * GiB, "shmem", 4 * KiB)], grp(330, mp("sga", 3 * GiB, BASE)))
    r = compute(w, "private")
    assert r.groups[0].own_tables["pte"] * 4 * KiB == 6 * MiB
    assert r.tables["pte"] * 4 * KiB == 330 * 6 * MiB  # 1.93 GiB = 2.08 GB


# --- the proposals ---------------------------------------------------------

def test_mshare_seed_shares_everything_below_the_pgd():
    # Host tree over 300 GiB of 4 KiB pages: 153,600 PTE + 300 PMD + 1 PUD + its PGD;
    # each process keeps only its PGD and shows VmPTE 0 for the region.
    r = compute(seed(4 * KiB, "shmem"), "mshare")
    assert levels(r) == (153600, 300, 1, 1500 + 1)
    assert r.groups[0].vmpte_bytes == 0
    assert r.mshare_regions == 1
    # The host's PGD is the region's overhead: no process walks it, so not "shared".
    assert r.shared_tables == {"pte": 153600, "pmd": 300, "pud": 1, "p4d": 0, "pgd": 0}


def test_mshare_regions_per_protection():
    # rw and r processes use separate regions: two host trees of 2 GiB of 2 MiB pages
    # (2 PMD + 1 PUD + 1 PGD each).
    r = compute(wl([H2], grp(2, mp("h", 2 * GiB, BASE), name="rw"),
                   grp(2, mp("h", 2 * GiB, BASE, prot="r"), name="r")), "mshare")
    assert levels(r) == (0, 4, 2, 4 + 2)


def test_mshare_two_mappings_in_one_process_attach_once():
    # One process maps two halves of a segment: it attaches the region once, so
    # the host's tables have a single sharer and none is "shared".
    w = wl([H2], grp(1, mp("h", GiB, BASE), mp("h", GiB, 2 * BASE, offset=GiB)))
    r = compute(w, "mshare")
    assert (r.tables["pmd"], r.tables["pud"]) == (2, 1)
    assert r.shared_bytes == 0


def test_mshare_la57_process_keeps_a_p4d():
    w = wl([H2], grp(3, mp("h", 2 * GiB, BASE)), arch=X86_64_LA57)
    r = compute(w, "mshare")
    # per process: PGD + P4D; host: 2 PMD + 1 PUD + 1 P4D + 1 PGD
    assert r.tables == {"pte": 0, "pmd": 2, "pud": 1, "p4d": 3 + 1, "pgd": 3 + 1}


def test_ptshare_shares_pte_tables_only():
    # 1 GiB of 4 KiB pages, 2 MiB-aligned, 3 processes: 512 shared PTE tables;
    # each process keeps 1 PMD + 1 PUD; VmPTE excludes the host's PTE tables.
    w = Workload(host=Host(memory=None, arch=X86_64), segments={"s": Segment("s", GiB, "shmem", 4 * KiB)},
                 groups=(grp(3, mp("s", GiB, BASE)),), options=ModelOptions(mshare_variant="ptshare"))
    r = compute(w, "mshare")
    assert levels(r) == (512, 3, 3, 3)
    assert r.groups[0].vmpte_bytes == 2 * 4 * KiB


def test_ptshare_needs_pmd_aligned_address():
    w = Workload(host=Host(memory=None, arch=X86_64), segments={"s": Segment("s", 2 * GiB, "shmem", 4 * KiB)},
                 groups=(grp(3, mp("s", GiB, BASE + 4 * KiB)),), options=ModelOptions(mshare_variant="ptshare"))
    assert compute(w, "mshare").tables == compute(w, "private").tables


def test_file_cached_seed():
    # Aligned: 300 whole 1 GiB windows, all shared PMD tables with the PTE tables
    # below them: 153,600 PTE + 300 PMD once; 1500 private PUD; VmPTE 1 PUD + 300 PMD.
    r = compute(seed(4 * KiB, "shmem"), "file-cached")
    assert levels(r) == (153600, 300, 1500, 1500)
    assert r.groups[0].vmpte_bytes == 1204 * KiB


def test_file_cached_misaligned_by_2m_shares_pte_tables_only():
    # Address = BASE + 2 MiB, offset 0: congruent mod 2 MiB but not mod 1 GiB.
    # 1 GiB mapping: 512 whole 2 MiB blocks shared via the PTE cache; each
    # process owns the PMD tables of the 2 windows it spans, and its PUD.
    w = wl([Segment("s", GiB, "shmem", 4 * KiB)], grp(4, mp("s", GiB, BASE + 2 * MiB)))
    r = compute(w, "file-cached")
    assert levels(r) == (512, 4 * 2, 4, 4)
    # VmPTE: own 2 PMD + 1 PUD, attached 512 PTE tables.
    assert r.groups[0].vmpte_bytes == (3 + 512) * 4 * KiB


def test_file_cached_misaligned_by_4k_shares_nothing():
    w = wl([Segment("s", 2 * GiB, "shmem", 4 * KiB)], grp(4, mp("s", GiB, BASE + 4 * KiB, offset=0)))
    assert compute(w, "file-cached").tables == compute(w, "private").tables


def test_file_cached_threshold():
    w = Workload(host=Host(memory=None, arch=X86_64), segments={"s": Segment("s", GiB, "shmem", 4 * KiB)},
                 groups=(grp(2, mp("s", GiB, BASE)),), options=ModelOptions(file_cached_threshold=2 * GiB))
    assert compute(w, "file-cached").tables == compute(w, "private").tables


def test_file_cached_shared_pmd_and_pte_cache_are_one():
    # Group A maps the whole 1 GiB aligned (shared PMD + PTE tables below it);
    # group B maps only the second half, at an address congruent mod 2 MiB but
    # in its own window, so it shares the same 256 cached PTE tables through
    # its private PMD table. Physical PTE tables: 512 (not 512 + 256).
    w = wl([Segment("s", GiB, "shmem", 4 * KiB)],
           grp(2, mp("s", GiB, BASE), name="a"),
           grp(2, mp("s", 512 * MiB, 2 * TiB + 2 * MiB, offset=512 * MiB), name="b"))
    r = compute(w, "file-cached")
    assert r.tables["pte"] == 512
    # A: shared PMD (1) + 2 x PUD; B: 2 x (own PMD + PUD)
    assert r.tables["pmd"] == 1 + 2
    assert r.groups[1].vmpte_bytes == (1 + 1 + 256) * 4 * KiB


def test_prot_none_has_no_tables():
    w = wl([Segment("s", GiB, "shmem", 4 * KiB)], grp(4, mp("s", GiB, BASE, prot="none", touch=0)))
    for scheme in SCHEMES:
        r = compute(w, scheme)
        assert levels(r) == (0, 0, 0, 4)


# --- scale: exact integers, cost independent of sizes and counts -----------

def test_one_pib_times_a_billion_processes_is_exact():
    # 1 PiB exceeds 4-level user space, so 5-level paging. Mapped at 2 PiB,
    # 1 PiB of 4 KiB pages needs 2**50 / 2**21 = 2**29 PTE tables, 2**20 PMD,
    # 2**11 PUD and 2**50 / 2**48 = 4 P4D tables per process, + its PGD.
    w = wl([Segment("s", PiB, "shmem", 4 * KiB)], grp(10**9, mp("s", PiB, 2 * PiB)), arch=X86_64_LA57)
    r = compute(w, "private")
    per = 2**29 + 2**20 + 2**11 + 4 + 1
    assert r.physical_bytes == 10**9 * per * 4096
    assert r.physical_bytes > 2**63  # would overflow int64
    assert isinstance(r.physical_bytes, int)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_empty_touch_costs_only_pgds(scheme):
    w = wl([Segment("s", GiB, "shmem", 4 * KiB)], grp(5, mp("s", GiB, BASE, touch=0)))
    r = compute(w, scheme)
    assert r.physical_bytes == 5 * 4 * KiB
