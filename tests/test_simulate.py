"""The brute-force simulator against numbers derived by hand.

Sections 1-3 of ../shared/reference/model.md give page-table counts verified
on a live kernel; each is reproduced here.  The mshare, ptshare and
file-cached cases (proposals, not in mainline) are derived by hand from
docs/semantics.md; each test says how.  Workloads are built directly from
the dataclasses.  Geometry (x86-64): a PTE table covers 2 MiB, a PMD table
1 GiB, a PUD table 512 GiB; every table is 4 KiB (PGD 8 KiB with PTI).
"""

import pytest

from ptcalc.model.geometry import X86_64, X86_64_LA57
from ptcalc.simulator.walk import page_visits, simulate
from ptcalc.units import GiB, KiB, MiB, TiB
from ptcalc.workload.types import (
    Host,
    Mapping,
    ModelOptions,
    ProcessGroup,
    Segment,
    Workload,
    resolve_addresses,
)

T = 1 * TiB  # an address at the start of an otherwise empty 512 GiB window


def seg(name="sga", size=1 * GiB, backing="shmem", page=4 * KiB):
    return Segment(name=name, size=size, backing=backing, page_size=page)


def mp(size, address, offset=0, segment="sga", touched=None, **kw):
    if touched is None:
        touched = ((0, size),)
    return Mapping(segment=segment, offset=offset, size=size, address=address, touched=touched, **kw)


def every_2mib(size):
    """One page in every 2 MiB of the mapping: for a 2 MiB-aligned mapping (and
    file offset), the same tables as touching it all, at 1/512 of the walk."""
    return tuple((i, i + 4 * KiB) for i in range(0, size, 2 * MiB))


S1G = every_2mib(1 * GiB)


def grp(count, *mappings, name="db"):
    return ProcessGroup(name=name, count=count, mappings=tuple(mappings))


def wl(segments, *groups, arch=X86_64, pti=False, **options):
    return Workload(
        host=Host(memory=None, arch=arch, pti=pti),
        segments={s.name: s for s in segments},
        groups=tuple(groups),
        options=ModelOptions(**options),
    )


def lv(pte=0, pmd=0, pud=0, p4d=0, pgd=0):
    return {"pte": pte, "pmd": pmd, "pud": pud, "p4d": p4d, "pgd": pgd}


def nbytes(levels, pgd=4 * KiB):
    return sum(n * (pgd if name == "pgd" else 4 * KiB) for name, n in levels.items())


# --- model.md section 1: one process, private tables ---------------------------------


def test_1gib_aligned_fully_touched_is_514_tables():
    # 1 GiB / 2 MiB = 512 PTE tables, one PMD table (one 1 GiB window), one PUD table.
    r = simulate(wl([seg()], grp(1, mp(1 * GiB, T))), "private")
    assert r.tables == lv(pte=512, pmd=1, pud=1, pgd=1)
    assert r.groups[0].vmpte_bytes == 2056 * KiB  # 514 x 4 KiB, no PGD in VmPTE
    assert r.groups[0].own_tables == lv(pte=512, pmd=1, pud=1, pgd=1)
    assert r.groups[0].attached_tables == lv()
    assert r.groups[0].per_process_bytes == 2060 * KiB
    assert r.physical_bytes == 2060 * KiB
    assert r.shared_tables == lv() and r.shared_bytes == 0 and r.mshare_regions == 0


def test_shifted_by_4kib_is_516_tables():
    # [T+4K, T+1G+4K) touches 513 2 MiB blocks and 2 1 GiB windows.
    r = simulate(wl([seg()], grp(1, mp(1 * GiB, T + 4 * KiB))), "private")
    assert r.tables == lv(pte=513, pmd=2, pud=1, pgd=1)
    assert r.groups[0].vmpte_bytes == 516 * 4 * KiB


def test_300mib_touched_is_152_tables():
    r = simulate(wl([seg()], grp(1, mp(1 * GiB, T, touched=((0, 300 * MiB),)))), "private")
    assert r.tables == lv(pte=150, pmd=1, pud=1, pgd=1)


def test_2gib_straddling_512gib_boundary_needs_two_pud_tables():
    # [511 GiB, 513 GiB): PUD tables of the 512 GiB blocks 0 and 1.
    r = simulate(wl([seg(size=2 * GiB)], grp(1, mp(2 * GiB, 511 * GiB))), "private")
    assert r.tables == lv(pte=1024, pmd=2, pud=2, pgd=1)


def test_two_mappings_in_one_2mib_block_share_one_pte_table():
    # Tables are per VA block, not per mapping (model.md 1, verified).
    a, b = seg("a", 1 * MiB), seg("b", 1 * MiB)
    r = simulate(wl([a, b], grp(1, mp(1 * MiB, T, segment="a"), mp(1 * MiB, T + 1 * MiB, segment="b"))), "private")
    assert r.tables == lv(pte=1, pmd=1, pud=1, pgd=1)


def test_2mib_pages_need_no_pte_and_1gib_pages_only_a_pud():
    r2 = simulate(wl([seg(backing="hugetlb", page=2 * MiB)], grp(1, mp(1 * GiB, T))), "private")
    assert r2.tables == lv(pmd=1, pud=1, pgd=1)
    r1 = simulate(wl([seg(size=2 * GiB, backing="hugetlb", page=1 * GiB)], grp(1, mp(2 * GiB, T))), "private")
    assert r1.tables == lv(pud=1, pgd=1)


def test_pgd_is_8kib_with_pti_and_counted_even_with_nothing_touched():
    r = simulate(wl([seg()], grp(3, mp(1 * GiB, T, touched=())), pti=True), "private")
    assert r.tables == lv(pgd=3)
    assert r.physical_bytes == 3 * 8 * KiB
    assert r.groups[0].per_process_bytes == 8 * KiB and r.groups[0].vmpte_bytes == 0


def test_la57_adds_one_p4d_table_per_256tib_block():
    # 5-level paging: the page also needs a P4D table; two mappings in two
    # 256 TiB blocks need two.
    a = seg("a", 4 * KiB)
    r = simulate(
        wl([a], grp(1, mp(4 * KiB, T, segment="a"), mp(4 * KiB, 256 * TiB, segment="a")), arch=X86_64_LA57),
        "private",
    )
    assert r.tables == lv(pte=2, pmd=2, pud=2, p4d=2, pgd=1)
    assert r.groups[0].vmpte_bytes == 6 * 4 * KiB  # P4D not in VmPTE


def test_protection_none_touches_nothing():
    r = simulate(wl([seg()], grp(2, mp(1 * GiB, T, touched=(), protection="none"))), "private")
    assert r.tables == lv(pgd=2)


def test_multi_range_touched():
    # Pages [0, 4K) and [2M+4K, 2M+8K) and [1G+2M, 1G+4M) of a 2 GiB mapping at T:
    # PTE blocks 0, 1, 513; PMD windows 0, 1.
    touched = ((0, 4 * KiB), (2 * MiB + 4 * KiB, 2 * MiB + 8 * KiB), (1 * GiB + 2 * MiB, 1 * GiB + 4 * MiB))
    r = simulate(wl([seg(size=2 * GiB)], grp(1, mp(2 * GiB, T, touched=touched))), "private")
    assert r.tables == lv(pte=3, pmd=2, pud=1, pgd=1)


# --- model.md sections 2-3: hugetlb PMD sharing (mainline) ----------------------------


def huge(size=2 * GiB, name="sga"):
    return seg(name, size, backing="hugetlb", page=2 * MiB)


def test_hugetlb_2gib_4_processes_2_shared_pmd_4_pud():
    r = simulate(wl([huge()], grp(4, mp(2 * GiB, T))), "hugetlb-pmd")
    assert r.tables == lv(pmd=2, pud=4, pgd=4)
    assert r.shared_tables == lv(pmd=2)
    assert r.shared_bytes == 8 * KiB
    g = r.groups[0]
    assert g.own_tables == lv(pud=1, pgd=1)
    assert g.attached_tables == lv(pmd=2)
    # model.md 2: VmPTE 12 KiB each while PageTables grows by 24 KiB (6 tables).
    assert g.vmpte_bytes == 12 * KiB
    assert r.vmpte_total == 48 * KiB
    assert (r.tables["pte"] + r.tables["pmd"] + r.tables["pud"]) * 4 * KiB == 24 * KiB
    assert r.physical_bytes == 24 * KiB + 4 * 4 * KiB


def test_hugetlb_shifted_by_2mib_13_tables():
    # [T+2M, T+2G+2M): window T+1G is whole (shared); windows T and T+2G are
    # partial -> 2 private PMD tables per process.  1 + 4 x (1 PUD + 2 PMD) = 13.
    r = simulate(wl([huge()], grp(4, mp(2 * GiB, T + 2 * MiB))), "hugetlb-pmd")
    assert r.tables == lv(pmd=1 + 8, pud=4, pgd=4)
    assert r.shared_tables == lv(pmd=1)
    g = r.groups[0]
    assert g.own_tables == lv(pmd=2, pud=1, pgd=1) and g.attached_tables == lv(pmd=1)
    assert g.vmpte_bytes == 4 * 4 * KiB


def test_hugetlb_rw_and_r_are_two_shared_sets_8_tables():
    r = simulate(
        wl([huge()], grp(2, mp(2 * GiB, T), name="rw"), grp(2, mp(2 * GiB, T, protection="r"), name="ro")),
        "hugetlb-pmd",
    )
    assert r.tables == lv(pmd=4, pud=4, pgd=4)
    assert r.shared_tables == lv(pmd=4)


def test_hugetlb_offsets_differing_by_2mib_do_not_share_across_groups():
    # Same address T; offsets 0 and 2 MiB: (address - offset) mod 1 GiB is 0 for
    # one group and 1 GiB - 2 MiB for the other.  Each group shares its own 2.
    r = simulate(
        wl([huge(4 * GiB)], grp(2, mp(2 * GiB, T), name="a"), grp(2, mp(2 * GiB, T, offset=2 * MiB), name="b")),
        "hugetlb-pmd",
    )
    assert r.tables == lv(pmd=4, pud=4, pgd=4)
    assert r.shared_tables == lv(pmd=4)


def test_hugetlb_without_a_whole_1gib_window_shares_nothing():
    # [T+2M, T+1G+2M) has no whole window: 2 private PMD tables per process.
    r = simulate(wl([huge(1 * GiB)], grp(2, mp(1 * GiB, T + 2 * MiB))), "hugetlb-pmd")
    assert r.tables == lv(pmd=4, pud=2, pgd=2)
    assert r.shared_tables == lv()
    assert r.groups[0].attached_tables == lv()


def test_hugetlb_64_processes_4gib_68_tables():
    r = simulate(wl([huge(4 * GiB)], grp(64, mp(4 * GiB, T))), "hugetlb-pmd")
    assert r.tables == lv(pmd=4, pud=64, pgd=64)
    assert r.groups[0].vmpte_bytes == 5 * 4 * KiB


def test_hugetlb_1gib_pages_and_4kib_shmem_share_nothing_under_hugetlb_pmd():
    giga = seg(size=2 * GiB, backing="hugetlb", page=1 * GiB)
    assert simulate(wl([giga], grp(4, mp(2 * GiB, T))), "hugetlb-pmd").tables == lv(pud=4, pgd=4)
    r = simulate(wl([seg()], grp(2, mp(1 * GiB, T))), "hugetlb-pmd")
    assert r.tables == lv(pte=1024, pmd=2, pud=2, pgd=2)


@pytest.mark.parametrize("uffd,shares", [("none", True), ("missing", True), ("wp", False), ("minor", False)])
def test_hugetlb_userfaultfd_wp_and_minor_disable_sharing(uffd, shares):
    # uffd_disable_huge_pmd_share(): wp and minor registrations only.
    r = simulate(wl([huge()], grp(4, mp(2 * GiB, T, userfaultfd=uffd))), "hugetlb-pmd")
    assert r.tables == (lv(pmd=2, pud=4, pgd=4) if shares else lv(pmd=8, pud=4, pgd=4))


def test_hugetlb_single_process_window_is_attached_but_not_shared():
    # A whole window gets the sharable PMD table even with one process: counted
    # once physically and in VmPTE (attached), but it has one sharer only.
    r = simulate(wl([huge()], grp(1, mp(2 * GiB, T))), "hugetlb-pmd")
    assert r.tables == lv(pmd=2, pud=1, pgd=1)
    assert r.shared_tables == lv()
    assert r.groups[0].own_tables == lv(pud=1, pgd=1)
    assert r.groups[0].attached_tables == lv(pmd=2)
    assert r.groups[0].vmpte_bytes == 12 * KiB


def test_hugetlb_same_file_window_mapped_twice_in_one_process():
    # huge_pmd_share() finds the other VMA of the same mm in the file's i_mmap:
    # one physical PMD table with two sharers, in VmPTE once per mapping.
    r = simulate(wl([huge(1 * GiB)], grp(1, mp(1 * GiB, T), mp(1 * GiB, T + 4 * GiB))), "hugetlb-pmd")
    assert r.tables == lv(pmd=1, pud=1, pgd=1)
    assert r.shared_tables == lv(pmd=1)
    assert r.groups[0].attached_tables == lv(pmd=2)
    assert r.groups[0].vmpte_bytes == 3 * 4 * KiB


# --- mshare v3 (hand-derived from semantics.md 3.3) -----------------------------------


def test_mshare_v3_one_host_tree_for_all_processes():
    # Host mm: 512 PTE + 1 PMD + 1 PUD over file [0, 1G), plus its own PGD;
    # each process keeps only its PGD, and VmPTE counts nothing of the region.
    # The host's tables below the attach level are the region's shared tables;
    # its own PGD is overhead no process walks, so it has no sharers.
    r = simulate(wl([seg()], grp(4, mp(1 * GiB, T, touched=S1G))), "mshare")
    assert r.tables == lv(pte=512, pmd=1, pud=1, pgd=5)
    assert r.shared_tables == lv(pte=512, pmd=1, pud=1)
    assert r.mshare_regions == 1
    g = r.groups[0]
    assert g.own_tables == lv(pgd=1) and g.attached_tables == lv() and g.vmpte_bytes == 0
    assert g.per_process_bytes == 4 * KiB


def test_mshare_v3_host_layout_follows_file_offset_not_address():
    # The VA is 4 KiB off (private: 516 tables) but the host lays the region
    # out at host address = file offset: still 514.
    r = simulate(wl([seg()], grp(2, mp(1 * GiB, T + 4 * KiB))), "mshare")
    assert r.tables == lv(pte=512, pmd=1, pud=1, pgd=3)


def test_mshare_v3_one_region_per_segment_and_protection():
    rw = grp(2, mp(1 * GiB, T, touched=S1G), name="rw")
    ro = grp(2, mp(1 * GiB, T, touched=S1G, protection="r"), name="ro")
    r = simulate(wl([seg()], rw, ro), "mshare")
    assert r.mshare_regions == 2
    assert r.tables == lv(pte=1024, pmd=2, pud=2, pgd=4 + 2)


def test_mshare_v3_host_tree_is_union_of_touched_file_ranges():
    # Group a touches file [0, 4M) (PTE blocks 0, 1), group b file [1G, 1G+2M)
    # (block 512), one process each: host 3 PTE + 2 PMD + 1 PUD + PGD.  Only
    # the PUD table and the host PGD are under both processes' touched pages.
    r = simulate(
        wl(
            [seg(size=2 * GiB)],
            grp(1, mp(2 * GiB, T, touched=((0, 4 * MiB),)), name="a"),
            grp(1, mp(2 * GiB, 3 * T, touched=((1 * GiB, 1 * GiB + 2 * MiB),)), name="b"),
        ),
        "mshare",
    )
    assert r.tables == lv(pte=3, pmd=2, pud=1, pgd=3)
    assert r.shared_tables == lv(pud=1)


def test_mshare_v3_region_with_nothing_touched_has_no_host_tables():
    # A shared table (the host PGD included) exists once a touched page falls
    # under it (semantics.md 3.4): nothing touched, no host mm counted.
    r = simulate(wl([seg()], grp(3, mp(1 * GiB, T, touched=()))), "mshare")
    assert r.tables == lv(pgd=3) and r.mshare_regions == 0


def test_mshare_v3_la57_process_keeps_a_p4d_table():
    # 5-level: attach at the P4D entry.  Each process owns PGD + 1 P4D; the host
    # owns PUD/PMD/PTE + its own P4D + PGD.
    r = simulate(wl([seg()], grp(2, mp(1 * GiB, T, touched=S1G)), arch=X86_64_LA57), "mshare")
    assert r.tables == lv(pte=512, pmd=1, pud=1, p4d=3, pgd=3)
    assert r.shared_tables == lv(pte=512, pmd=1, pud=1)  # not the host's own P4D/PGD
    assert r.groups[0].own_tables == lv(p4d=1, pgd=1)
    assert r.groups[0].vmpte_bytes == 0


def test_mshare_v3_1gib_pages_host_holds_only_puds():
    giga = seg(size=2 * GiB, backing="hugetlb", page=1 * GiB)
    r = simulate(wl([giga], grp(3, mp(2 * GiB, T))), "mshare")
    assert r.tables == lv(pud=1, pgd=4)


# --- mshare ptshare (MAP_SHARED_PT, Dec 2022) -----------------------------------------


def test_ptshare_shares_pte_tables_only_and_vmpte_excludes_them():
    # 512 shared PTE tables; each process keeps 1 PMD + 1 PUD: VmPTE 8 KiB.
    r = simulate(wl([seg()], grp(4, mp(1 * GiB, T, touched=S1G))), "mshare", ModelOptions(mshare_variant="ptshare"))
    assert r.tables == lv(pte=512, pmd=4, pud=4, pgd=4)
    assert r.shared_tables == lv(pte=512)
    assert r.mshare_regions == 0
    assert r.groups[0].own_tables == lv(pmd=1, pud=1, pgd=1)
    assert r.groups[0].attached_tables == lv()
    assert r.groups[0].vmpte_bytes == 8 * KiB


def test_ptshare_explicit_addresses_must_match_auto_is_best_case():
    # Explicit: the key has address - offset, so different addresses share nothing.
    groups = (grp(1, mp(1 * GiB, T, touched=S1G), name="a"), grp(1, mp(1 * GiB, T + 2 * GiB, touched=S1G), name="b"))
    r = simulate(wl([seg()], *groups, mshare_variant="ptshare"), "mshare")
    assert r.tables == lv(pte=1024, pmd=2, pud=2, pgd=2)
    # auto: the token 'auto' stands for "the same address in every process".
    groups = (
        grp(1, mp(1 * GiB, T, touched=S1G, auto=True), name="a"),
        grp(1, mp(1 * GiB, T + 2 * GiB, touched=S1G, auto=True), name="b"),
    )
    r = simulate(wl([seg()], *groups, mshare_variant="ptshare"), "mshare")
    assert r.tables == lv(pte=512, pmd=2, pud=2, pgd=2)
    assert r.shared_tables == lv(pte=512)


def test_ptshare_needs_pmd_aligned_address_and_size_and_base_pages():
    opts = ModelOptions(mshare_variant="ptshare")
    r = simulate(wl([seg()], grp(2, mp(1 * GiB, T + 4 * KiB))), "mshare", opts)
    assert r.tables == lv(pte=2 * 513, pmd=4, pud=2, pgd=2)
    r = simulate(wl([seg(size=2 * GiB)], grp(2, mp(1 * GiB + 4 * KiB, T))), "mshare", opts)
    assert r.tables == lv(pte=2 * 513, pmd=4, pud=2, pgd=2)
    r = simulate(wl([huge()], grp(2, mp(2 * GiB, T))), "mshare", opts)
    assert r.tables == lv(pmd=4, pud=2, pgd=2)


# --- file-cached (the seed thread's proposal) -----------------------------------------


def test_file_cached_aligned_1gib_window_shares_pmd_and_pte_tables():
    # address = offset (mod 1 GiB): the whole window is a cached PMD table with
    # its 512 cached PTE tables below; each process owns its PUD and VmPTE
    # counts PUD + the attached PMD only.
    r = simulate(wl([seg()], grp(4, mp(1 * GiB, T, touched=S1G))), "file-cached")
    assert r.tables == lv(pte=512, pmd=1, pud=4, pgd=4)
    assert r.shared_tables == lv(pte=512, pmd=1)
    g = r.groups[0]
    assert g.own_tables == lv(pud=1, pgd=1) and g.attached_tables == lv(pmd=1)
    assert g.vmpte_bytes == 8 * KiB


def test_file_cached_2mib_congruent_shares_pte_tables_only():
    # [T+2M, T+1G+2M), offset 0: no whole window with address = offset mod 1 GiB;
    # all 512 2 MiB blocks are whole and congruent: shared PTE tables; each process
    # owns 2 PMD + 1 PUD and has 512 PTE tables attached: VmPTE 515 x 4 KiB.
    r = simulate(wl([seg()], grp(4, mp(1 * GiB, T + 2 * MiB, touched=S1G))), "file-cached")
    assert r.tables == lv(pte=512, pmd=8, pud=4, pgd=4)
    g = r.groups[0]
    assert g.own_tables == lv(pmd=2, pud=1, pgd=1) and g.attached_tables == lv(pte=512)
    assert g.vmpte_bytes == 515 * 4 * KiB


def test_file_cached_one_pte_cache_behind_shared_pmd_and_shared_pte_zones():
    # Group a (2 processes) reaches file [0, 1G) through a cached PMD table,
    # group b (2 processes, 2 MiB-congruent only) through shared-PTE zones:
    # the same 512 PTE tables.  PMD: 1 cached + 2 x 2 private of group b.
    r = simulate(
        wl(
            [seg()],
            grp(2, mp(1 * GiB, T, touched=S1G), name="a"),
            grp(2, mp(1 * GiB, 3 * T + 2 * MiB, touched=S1G), name="b"),
        ),
        "file-cached",
    )
    assert r.tables == lv(pte=512, pmd=5, pud=4, pgd=4)
    assert r.shared_tables == lv(pte=512, pmd=1)


def test_file_cached_4kib_misaligned_stays_private():
    r = simulate(wl([seg()], grp(2, mp(1 * GiB, T + 4 * KiB))), "file-cached")
    assert r.tables == lv(pte=2 * 513, pmd=4, pud=2, pgd=2)


def test_file_cached_partial_blocks_at_the_ends_are_private():
    # [T+1M, T+7M), offset 1 MiB (congruent mod 2 MiB): blocks T+2M and T+4M are
    # whole (shared), T and T+6M partial (private PTE tables per process).
    s = seg(size=16 * MiB)
    r = simulate(wl([s], grp(3, mp(6 * MiB, T + 1 * MiB, offset=1 * MiB))), "file-cached")
    assert r.tables == lv(pte=2 + 3 * 2, pmd=3, pud=3, pgd=3)
    assert r.shared_tables == lv(pte=2)
    assert r.groups[0].own_tables == lv(pte=2, pmd=1, pud=1, pgd=1)
    assert r.groups[0].attached_tables == lv(pte=2)


@pytest.mark.parametrize(
    "kw",
    [{"protection": "r"}, {"userfaultfd": "missing"}, {"userfaultfd": "minor"}],
)
def test_file_cached_shares_with_other_flags(kw):
    r = simulate(wl([seg()], grp(2, mp(1 * GiB, T, touched=S1G, **kw))), "file-cached")
    assert r.tables == lv(pte=512, pmd=1, pud=2, pgd=2)


@pytest.mark.parametrize("kw", [{"userfaultfd": "wp"}, {"soft_dirty": True}])
def test_file_cached_gives_up_for_uffd_wp_and_soft_dirty(kw):
    r = simulate(wl([seg()], grp(2, mp(1 * GiB, T, touched=S1G, **kw))), "file-cached")
    assert r.tables == lv(pte=1024, pmd=2, pud=2, pgd=2)


def test_file_cached_threshold_is_on_segment_size():
    w = wl([seg()], grp(2, mp(1 * GiB, T, touched=S1G)), file_cached_threshold=2 * GiB)
    assert simulate(w, "file-cached").tables == lv(pte=1024, pmd=2, pud=2, pgd=2)
    # options passed explicitly win over the workload's
    r = simulate(w, "file-cached", ModelOptions(file_cached_threshold=1 * GiB))
    assert r.tables == lv(pte=512, pmd=1, pud=2, pgd=2)


def test_file_cached_shmem_thp_shares_pmd_only_and_1gib_pages_nothing():
    thp = seg(size=2 * GiB, page=2 * MiB)
    r = simulate(wl([thp], grp(3, mp(2 * GiB, T))), "file-cached")
    assert r.tables == lv(pmd=2, pud=3, pgd=3)
    giga = seg(size=2 * GiB, page=1 * GiB)
    assert simulate(wl([giga], grp(3, mp(2 * GiB, T))), "file-cached").tables == lv(pud=3, pgd=3)


def test_file_cached_hugetlb_follows_mainline_rules():
    # hugetlb keeps mainline PMD sharing: the 13-table case, no threshold.
    w = wl([huge()], grp(4, mp(2 * GiB, T + 2 * MiB)), file_cached_threshold=4 * GiB)
    assert simulate(w, "file-cached").tables == lv(pmd=9, pud=4, pgd=4)


# --- the seed thread's workload, scaled down ------------------------------------------


def auto_group(count, size, segment="sga", **kw):
    m = Mapping(segment=segment, offset=0, size=size, address=0, touched=((0, size),), **kw)
    (placed,) = resolve_addresses([(m, True)], X86_64)
    return grp(count, placed)


def test_seed_scaled_300mib_x_15_private():
    # 300 GiB x 1500 scaled by 1/1024 in size and 1/100 in processes: each
    # process 150 PTE + 1 PMD + 1 PUD.  Leaf PTE tables: 15 x 300 MiB / 512 =
    # 8.79 MiB, the cover letter's 878.9 GiB scaled by 1/(1024 x 100).
    g = auto_group(15, 300 * MiB)
    assert g.mappings[0].address == 1 * TiB
    r = simulate(wl([seg(size=300 * MiB)], g), "private")
    assert r.tables == lv(pte=15 * 150, pmd=15, pud=15, pgd=15)
    assert r.tables["pte"] * 4 * KiB * 1024 * 100 == 878 * GiB + 928 * MiB  # 878.906 GiB


def test_seed_scaled_300mib_x_5_other_schemes():
    # Processes scaled by 1/300 to keep the walk short.
    w = wl([seg(size=300 * MiB)], auto_group(5, 300 * MiB))
    # hugetlb-pmd: 4 KiB shmem is never shared.
    assert simulate(w, "hugetlb-pmd").tables == lv(pte=5 * 150, pmd=5, pud=5, pgd=5)
    # mshare v3: one host tree (150 + 1 + 1) and its PGD.
    assert simulate(w, "mshare").tables == lv(pte=150, pmd=1, pud=1, pgd=6)
    # file-cached: auto gives address = offset mod 1 GiB but 300 MiB holds no
    # whole 1 GiB window: all 150 2 MiB blocks are shared-PTE zones.
    r = simulate(w, "file-cached")
    assert r.tables == lv(pte=150, pmd=5, pud=5, pgd=5)
    assert r.groups[0].vmpte_bytes == (1 + 1 + 150) * 4 * KiB


def test_seed_scaled_hugetlb_30gib_x_15():
    # 300 GiB hugetlb x 1500 scaled by 1/10 and 1/100: 30 shared PMD + 15 PUD;
    # VmPTE = (30 + 1) x 4 KiB = 124 KiB (the unscaled 1,204 KiB = (300 + 1) x 4 KiB).
    w = wl([huge(30 * GiB)], auto_group(15, 30 * GiB))
    r = simulate(w, "hugetlb-pmd")
    assert r.tables == lv(pmd=30, pud=15, pgd=15)
    assert r.groups[0].vmpte_bytes == 124 * KiB
    assert simulate(w, "private").tables == lv(pmd=15 * 30, pud=15, pgd=15)


# --- the simulator's own contract -----------------------------------------------------


def test_budget_refuses_big_workloads():
    w = wl([seg(size=4 * GiB)], grp(5, mp(4 * GiB, T)))
    assert page_visits(w) == 5 * 1024 * 1024
    with pytest.raises(ValueError, match="budget"):
        simulate(w, "private")
    small = wl([seg()], grp(2, mp(1 * GiB, T, touched=((0, 8 * KiB),))))
    with pytest.raises(ValueError, match="budget"):
        simulate(small, "private", budget=3)
    assert simulate(small, "private", budget=4).tables == lv(pte=2, pmd=2, pud=2, pgd=2)


def test_unknown_scheme_or_variant():
    w = wl([seg()], grp(1, mp(1 * GiB, T, touched=())))
    with pytest.raises(ValueError, match="scheme"):
        simulate(w, "hugetlb")
    with pytest.raises(ValueError, match="variant"):
        simulate(w, "mshare", ModelOptions(mshare_variant="v2"))


def test_groups_are_reported_in_order_with_counts():
    r = simulate(wl([huge()], grp(2, mp(2 * GiB, T), name="a"), grp(3, mp(2 * GiB, 2 * T), name="b")), "hugetlb-pmd")
    assert [(g.name, g.count) for g in r.groups] == [("a", 2), ("b", 3)]
    assert r.tables == lv(pmd=2, pud=5, pgd=5)
    assert r.shared_tables == lv(pmd=2)
