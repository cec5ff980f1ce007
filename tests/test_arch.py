"""Architecture profiles: geometry and derived figures, worked out by hand.

Every expected value is derived in the comment beside it from the kernel's
definitions (arch/arm64/include/asm/pgtable-hwdef.h: a table is one page of
8-byte entries, so PAGE_SIZE / 8 entries; PTRS_PER_PGD = 1 << (VA_BITS -
PGDIR_SHIFT); arch/arm64/mm/hugetlbpage.c support matrix; arch/arm64/Kconfig
ARCH_WANT_HUGE_PMD_SHARE) -- never copied from the code's output.
"""

from __future__ import annotations

import pytest

from ptcalc.model.geometry import ARCHES, ARM64_4K, ARM64_16K, ARM64_64K, X86_64, X86_64_LA57, Arch, Level
from ptcalc.workload.types import Mapping, resolve_addresses

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


def spans(arch):
    return {lv.name: (lv.entries, lv.table_bytes, lv.entry_span, lv.table_span) for lv in arch.levels}


def test_the_five_profiles():
    assert sorted(ARCHES) == ["arm64-16k", "arm64-4k", "arm64-64k", "x86_64", "x86_64-la57"]


def test_arm64_4k_is_the_x86_64_geometry():
    # 4 KiB granule, 48-bit VA: (48 - 4) // 9 = 4 levels of 512-entry 4 KiB
    # tables, PGDIR_SHIFT 39, PTRS_PER_PGD 1 << (48 - 39) = 512: a 4 KiB PGD.
    assert spans(ARM64_4K) == spans(X86_64) == {
        "pte": (512, 4 * KiB, 4 * KiB, 2 * MiB),
        "pmd": (512, 4 * KiB, 2 * MiB, 1 * GiB),
        "pud": (512, 4 * KiB, 1 * GiB, 512 * GiB),
        "pgd": (512, 4 * KiB, 512 * GiB, 256 * TiB),
    }
    assert ARM64_4K.pgd_bytes(False) == 4 * KiB


def test_arm64_16k_geometry():
    # 16 KiB granule: 14 - 3 = 11 bits a level, 2048 entries; (48 - 4) // 11 = 4
    # levels.  PTE table 2048 x 16 KiB = 32 MiB, PMD table 2048 x 32 MiB = 64
    # GiB, PUD table 2048 x 64 GiB = 128 TiB; PGDIR_SHIFT 14 + 3 x 11 = 47, so
    # PTRS_PER_PGD = 1 << (48 - 47) = 2 and PGD_SIZE = 2 x 8 = 16 bytes.
    assert spans(ARM64_16K) == {
        "pte": (2048, 16 * KiB, 16 * KiB, 32 * MiB),
        "pmd": (2048, 16 * KiB, 32 * MiB, 64 * GiB),
        "pud": (2048, 16 * KiB, 64 * GiB, 128 * TiB),
        "pgd": (2, 16, 128 * TiB, 256 * TiB),
    }
    assert ARM64_16K.base_page == 16 * KiB
    assert ARM64_16K.pgd_bytes(False) == 16


def test_arm64_64k_geometry():
    # 64 KiB granule: 13 bits a level, 8192 entries; (48 - 4) // 13 = 3 levels
    # (PUD folded).  PTE table 8192 x 64 KiB = 512 MiB, PMD table 8192 x 512
    # MiB = 4 TiB; PGDIR_SHIFT 16 + 2 x 13 = 42, PTRS_PER_PGD = 1 << 6 = 64,
    # PGD_SIZE = 64 x 8 = 512 bytes.
    assert spans(ARM64_64K) == {
        "pte": (8192, 64 * KiB, 64 * KiB, 512 * MiB),
        "pmd": (8192, 64 * KiB, 512 * MiB, 4 * TiB),
        "pgd": (64, 512, 4 * TiB, 256 * TiB),
    }
    assert ARM64_64K.level("pud") is None
    assert ARM64_64K.pgd_bytes(False) == 512


def test_pti_enlarges_only_the_x86_pgd():
    # x86-64 PTI: an order-1 PGD (8 KiB).  arm64 KPTI switches TTBR1 (kernel)
    # tables at EL0 entry/exit; the user PGD is unchanged.
    assert X86_64.pgd_bytes(True) == X86_64_LA57.pgd_bytes(True) == 8 * KiB
    assert [a.pgd_bytes(True) for a in (ARM64_4K, ARM64_16K, ARM64_64K)] == [4 * KiB, 16, 512]


@pytest.mark.parametrize("arch, pmd, pud", [
    (X86_64, 2 * MiB, 1 * GiB),
    (X86_64_LA57, 2 * MiB, 1 * GiB),
    (ARM64_4K, 2 * MiB, 1 * GiB),
    (ARM64_16K, 32 * MiB, 64 * GiB),
    (ARM64_64K, 512 * MiB, 4 * TiB),  # 3 levels: PUD_SIZE = PGDIR_SIZE = what a PMD table covers
], ids=lambda a: getattr(a, "name", None))
def test_pmd_size_and_pud_size(arch, pmd, pud):
    assert (arch.pmd_size, arch.pud_size, arch.auto_align) == (pmd, pud, pud)


def test_hugetlb_sizes_per_granule():
    # arch/arm64/mm/hugetlbpage.c: CONT PTE, PMD, CONT PMD, and PUD on 4K only.
    # 4K: 16 x 4 KiB, 2 MiB, 16 x 2 MiB, 1 GiB; 16K: 128 x 16 KiB, 32 MiB,
    # 32 x 32 MiB; 64K: 32 x 64 KiB, 512 MiB, 32 x 512 MiB.
    assert ARM64_4K.hugetlb_sizes == (64 * KiB, 2 * MiB, 32 * MiB, 1 * GiB)
    assert ARM64_16K.hugetlb_sizes == (2 * MiB, 32 * MiB, 1 * GiB)
    assert ARM64_64K.hugetlb_sizes == (2 * MiB, 512 * MiB, 16 * GiB)
    assert X86_64.hugetlb_sizes == X86_64_LA57.hugetlb_sizes == (2 * MiB, 1 * GiB)
    assert ARM64_16K.page_sizes() == (16 * KiB, 2 * MiB, 32 * MiB, 1 * GiB)


@pytest.mark.parametrize("arch, kinds", [
    (X86_64, ["pte", "pmd", "pud"]),
    (ARM64_4K, ["pte", "cont-pte", "pmd", "cont-pmd", "pud"]),
    (ARM64_16K, ["pte", "cont-pte", "pmd", "cont-pmd"]),
    (ARM64_64K, ["pte", "cont-pte", "pmd", "cont-pmd"]),
], ids=lambda a: getattr(a, "name", None))
def test_page_kinds(arch, kinds):
    assert [arch.page_kind(s) for s in arch.page_sizes()] == kinds


def test_leaf_levels_of_contiguous_sizes():
    # A contiguous page needs the table of the level its entries are in.
    leaf = {a.name: [a.levels[a.leaf_index(s)].name for s in a.page_sizes()] for a in ARCHES.values()}
    assert leaf["arm64-4k"] == ["pte", "pte", "pmd", "pmd", "pud"]
    assert leaf["arm64-16k"] == ["pte", "pte", "pmd", "pmd"]
    assert leaf["arm64-64k"] == ["pte", "pte", "pmd", "pmd"]
    with pytest.raises(ValueError):
        ARM64_16K.leaf_index(4 * KiB)  # below the base page


def test_pmd_sharing():
    # arch/arm64/Kconfig: ARCH_WANT_HUGE_PMD_SHARE if ARM64_4K_PAGES ||
    # (ARM64_16K_PAGES && !ARM64_VA_BITS_36); only PMD_SIZE pages share.
    assert [a.pmd_share_size for a in (X86_64, X86_64_LA57, ARM64_4K, ARM64_16K, ARM64_64K)] == [
        2 * MiB, 2 * MiB, 2 * MiB, 32 * MiB, None]


def test_user_space_and_mshare_alignment():
    # TASK_SIZE: x86-64 (1 << 47) - 4 KiB, LA57 (1 << 56) - 4 KiB, arm64
    # 1 << 48 = 256 TiB.  mshare_align = P4D_SIZE: P4D folded into the PGD
    # except on LA57, so what one PGD entry maps: 512 GiB, 128 TiB, 4 TiB.
    assert X86_64.user_limit == 128 * TiB - 4 * KiB
    assert X86_64_LA57.user_limit == (1 << 56) - 4 * KiB
    assert ARM64_4K.user_limit == ARM64_16K.user_limit == ARM64_64K.user_limit == 256 * TiB
    assert [a.mshare_align for a in (X86_64, X86_64_LA57, ARM64_4K, ARM64_16K, ARM64_64K)] == [
        512 * GiB, 512 * GiB, 512 * GiB, 128 * TiB, 4 * TiB]


def test_whatif_page_sizes():
    # Base page, PMD_SIZE and the largest hugetlb size (PUD on x86-64 and
    # arm64 4K, CONT_PMD on 16K and 64K); contiguous-PTE sizes and arm64 4K's
    # 32 MiB CONT_PMD are not columns but stay valid page sizes.
    assert X86_64.whatif_page_sizes() == (4 * KiB, 2 * MiB, 1 * GiB)
    assert ARM64_4K.whatif_page_sizes() == (4 * KiB, 2 * MiB, 1 * GiB)
    assert ARM64_16K.whatif_page_sizes() == (16 * KiB, 32 * MiB, 1 * GiB)
    assert ARM64_64K.whatif_page_sizes() == (64 * KiB, 512 * MiB, 16 * GiB)
    for a in ARCHES.values():
        assert set(a.whatif_page_sizes()) <= set(a.page_sizes())


def test_a_profile_that_is_not_a_geometry_is_refused():
    good = dict(name="t", description="t", user_limit=1 << 48, hugetlb_sizes=(), pmd_share=False,
                auto_window=4 * TiB, auto_base=4 * TiB)
    Arch(levels=ARM64_64K.levels, **good)
    with pytest.raises(ValueError, match="one pte table"):  # PMD entry maps 2 PTE tables
        Arch(levels=(Level("pte", 16, 8192, 64 * KiB), Level("pmd", 30, 8192, 64 * KiB),
                     Level("pgd", 43, 32, 256)), **good)
    with pytest.raises(ValueError, match="in order"):
        Arch(levels=tuple(reversed(ARM64_64K.levels)), **good)
    with pytest.raises(ValueError, match="user space"):
        Arch(levels=ARM64_64K.levels, **{**good, "user_limit": 1 << 49})
    with pytest.raises(ValueError, match="not a page size"):
        Arch(levels=ARM64_64K.levels, **{**good, "hugetlb_sizes": (4 * KiB,)})
    with pytest.raises(ValueError, match="PUD_SIZE multiples"):  # 64 GiB windows < 4 TiB PUD_SIZE
        Arch(levels=ARM64_64K.levels, **{**good, "auto_window": 64 * GiB, "auto_base": 1 * TiB})


# --- address: auto ---------------------------------------------------------------------

def auto(segment, size, offset=0):
    return (Mapping(segment, offset, size, 0), True)


@pytest.mark.parametrize("arch, first, window, align", [
    (X86_64, 1 * TiB, 512 * GiB, 1 * GiB),
    (ARM64_4K, 1 * TiB, 512 * GiB, 1 * GiB),
    (ARM64_16K, 1 * TiB, 64 * GiB, 64 * GiB),
    (ARM64_64K, 4 * TiB, 4 * TiB, 4 * TiB),
], ids=lambda a: getattr(a, "name", None))
def test_auto_placement(arch, first, window, align):
    # Three auto mappings: 3 windows' worth, then 1 window, then 1 window;
    # each at window + offset mod PUD_SIZE.  The first has offset 3 PUD_SIZE +
    # 2 PMD_SIZE (so offset mod PUD_SIZE = 2 PMD_SIZE) and size 2 PUD_SIZE +
    # ... enough to need ceil((2 PMD + 2.5 windows) / window) = 3 windows.
    pmd = arch.pmd_size
    big = 2 * window + window // 2
    ms = resolve_addresses([auto("a", big, offset=3 * align + 2 * pmd), auto("b", pmd), auto("c", align, offset=align)],
                           arch)
    assert [m.address for m in ms] == [first + 2 * pmd, first + 3 * window, first + 4 * window]
    assert all(m.auto for m in ms)
    assert (ms[0].address - ms[0].offset) % align == 0  # congruent: best case for PMD sharing


def test_auto_windows_on_16k_stay_below_one_pud_table():
    # 16K: a PUD table covers 128 TiB, half of user space; windows of 64 GiB
    # (one PMD table each) give ~4,000 windows, 1 TiB .. 256 TiB.
    ms = resolve_addresses([auto(f"s{i}", 32 * MiB) for i in range(100)], ARM64_16K)
    assert [m.address for m in ms[:3]] == [1 * TiB, 1 * TiB + 64 * GiB, 1 * TiB + 128 * GiB]
    assert ms[-1].address == 1 * TiB + 99 * 64 * GiB
    # the 64 GiB PMD tables are the mapping's own; the 128 TiB PUD table is shared by all
    assert len({m.address // (64 * GiB) for m in ms}) == 100
    assert len({m.address // (128 * TiB) for m in ms}) == 1


@pytest.mark.parametrize("arch, windows", [(ARM64_16K, 4080), (ARM64_64K, 63), (X86_64, 253)],
                         ids=lambda a: getattr(a, "name", None))
def test_auto_placement_runs_out_at_the_user_limit(arch, windows):
    # Whole windows between auto_base and TASK_SIZE: 16K (256 TiB - 1 TiB) /
    # 64 GiB = 4080; 64K (256 - 4) TiB / 4 TiB = 63; x86-64 (128 TiB - 4 KiB
    # - 1 TiB) / 512 GiB = 253.99 -> 253.  A mapping of that many windows is
    # placed; one window more is not.
    room = windows * arch.auto_window
    (m,) = resolve_addresses([auto("s", room)], arch)
    assert m.end <= arch.user_limit
    with pytest.raises(ValueError, match="no room"):
        resolve_addresses([auto("s", room + arch.auto_window)], arch)


def test_docs_tabulate_every_profile():
    # docs/architectures.md has a section per profile whose level table is the profile's.
    from pathlib import Path

    from ptcalc.units import format_size

    doc = (Path(__file__).parent.parent / "docs" / "architectures.md").read_text()
    for a in ARCHES.values():
        section = doc.split(f"\n## {a.name}\n", 1)[1].split("\n## ", 1)[0]
        for lv in a.levels:
            row = (f"| {lv.name} | {lv.entries:,} | {format_size(lv.table_bytes)} | "
                   f"{format_size(lv.entry_span)} | {format_size(lv.table_span)} |")
            assert row in section, (a.name, row)
        assert f"| what-if columns | {format_size(a.base_page)}," in section
        assert f"| mshare alignment | {format_size(a.mshare_align)}" in section
