"""Workload files for the arm64 profiles: page sizes, the user address limit,
auto placement, and an estimate through the CLI.

Page sizes and limits are those of docs/architectures.md (derived in
tests/test_arch.py); expected table counts are worked out in the comments.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ptcalc.model.geometry import ARM64_4K, ARM64_16K, ARM64_64K
from ptcalc.cli import main
from ptcalc.errors import WorkloadError
from ptcalc.workload.loader import loads_workload

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


def load(arch, segment, mapping="{segment: s}", host=""):
    return loads_workload(
        f"host: {{arch: {arch}{host}}}\n"
        f"segments: {{s: {segment}}}\n"
        f"processes: [{{count: 2, mappings: [{mapping}]}}]\n",
        "w.yaml",
    )


def error(*args, **kw):
    with pytest.raises(WorkloadError) as e:
        load(*args, **kw)
    return str(e.value)


def test_arch_names():
    assert load("arm64-4k", "{size: 1GiB}").arch is ARM64_4K
    assert load("arm64-16k", "{size: 1GiB}").arch is ARM64_16K
    assert load("arm64-64k", "{size: 1GiB}").arch is ARM64_64K
    # uname -m says aarch64; the granule decides the profile
    assert "arm64-4k, arm64-16k or arm64-64k (getconf PAGESIZE" in error("aarch64", "{size: 1GiB}")


@pytest.mark.parametrize("arch, backing, page", [
    ("arm64-4k", "shmem", "4KiB"), ("arm64-4k", "shmem", "2MiB"),
    ("arm64-4k", "hugetlb", "64KiB"), ("arm64-4k", "hugetlb", "2MiB"),
    ("arm64-4k", "hugetlb", "32MiB"), ("arm64-4k", "hugetlb", "1GiB"),
    ("arm64-16k", "shmem", "16KiB"), ("arm64-16k", "shmem", "32MiB"), ("arm64-16k", "file", "16KiB"),
    ("arm64-16k", "hugetlb", "2MiB"), ("arm64-16k", "hugetlb", "32MiB"), ("arm64-16k", "hugetlb", "1GiB"),
    ("arm64-64k", "shmem", "64KiB"), ("arm64-64k", "shmem", "512MiB"),
    ("arm64-64k", "hugetlb", "2MiB"), ("arm64-64k", "hugetlb", "512MiB"), ("arm64-64k", "hugetlb", "16GiB"),
])
def test_page_sizes_each_profile_allows(arch, backing, page):
    w = load(arch, f"{{size: 32GiB, backing: {backing}, page_size: {page}}}")
    assert w.segments["s"].page_size in w.arch.page_sizes()


@pytest.mark.parametrize("arch, backing, page, message", [
    # below the base page, or not a size of the granule
    ("arm64-16k", "shmem", "4KiB", "4 KiB is not a page size on arm64-16k (16 KiB, 2 MiB, 32 MiB or 1 GiB)"),
    ("arm64-64k", "hugetlb", "1GiB", "1 GiB is not a page size on arm64-64k (64 KiB, 2 MiB, 512 MiB or 16 GiB)"),
    ("arm64-64k", "hugetlb", "32MiB", "32 MiB is not a page size on arm64-64k"),
    ("arm64-16k", "hugetlb", "64KiB", "64 KiB is not a page size on arm64-16k"),
    # contiguous sizes are hugetlb only; shmem THP is PMD_SIZE
    ("arm64-16k", "shmem", "2MiB", "shmem pages are 16 KiB or 32 MiB (transparent huge pages)"),
    ("arm64-4k", "shmem", "64KiB", "shmem pages are 4 KiB or 2 MiB"),
    ("arm64-16k", "hugetlb", "16KiB", "a hugetlb segment needs a huge page size (2 MiB, 32 MiB or 1 GiB)"),
])
def test_page_sizes_each_profile_refuses(arch, backing, page, message):
    assert message in error(arch, f"{{size: 32GiB, backing: {backing}, page_size: {page}}}")


@pytest.mark.parametrize("arch, default", [("arm64-4k", 2 * MiB), ("arm64-16k", 32 * MiB), ("arm64-64k", 512 * MiB)])
def test_hugetlb_default_page_size_is_pmd_size(arch, default):
    # SHM_HUGETLB without a size flag uses the default hstate, HPAGE_SIZE = PMD_SIZE
    # (not the smallest hugetlb size, which is a contiguous-PTE one on arm64).
    assert load(arch, "{size: 16GiB, backing: hugetlb}").segments["s"].page_size == default


def test_hugepages_pools_per_profile():
    w = load("arm64-16k", "{size: 1GiB, backing: hugetlb}", host=", hugepages: {32MiB: 64, 1GiB: 2, 2MiB: 8}")
    assert w.host.hugepages == {32 * MiB: 64, GiB: 2, 2 * MiB: 8}
    assert "4 MiB is not a hugetlb page size on arm64-16k (2 MiB, 32 MiB, 1 GiB)" in error(
        "arm64-16k", "{size: 1GiB}", host=", hugepages: {4MiB: 3}")


def test_user_address_limit_is_256_tib():
    # arm64 48-bit VA: TASK_SIZE = 1 << 48, no page kept back.  A 1 GiB
    # mapping may end exactly at 256 TiB, and may lie above 128 TiB (x86-64's limit).
    w = load("arm64-16k", "{size: 1GiB}", mapping="{segment: s, address: 0xffffc0000000}")
    assert w.groups[0].mappings[0].end == 256 * TiB
    assert load("arm64-64k", "{size: 1GiB}", mapping="{segment: s, address: 200TiB}").groups[0].mappings[0].address \
        == 200 * TiB
    msg = error("arm64-16k", "{size: 1GiB}", mapping="{segment: s, address: 0xffffc0004000}")
    assert msg.endswith("ends above the user address space of arm64-16k, which ends at 0x1000000000000 "
                        "(TASK_SIZE, 256 TiB)")
    assert "does not fit in the user address space of arm64-4k" in error("arm64-4k", "{size: 300TiB}")


def test_explicit_address_must_be_page_aligned():
    # 64 KiB contiguous-PTE pages need 64 KiB-aligned addresses
    assert "is not a multiple of the page size (64 KiB)" in error(
        "arm64-4k", "{size: 1GiB, backing: hugetlb, page_size: 64KiB}",
        mapping="{segment: s, address: 0x10000001000}")


def test_auto_placement_per_profile():
    # Two auto mappings: 16K windows are 64 GiB from 1 TiB, 64K windows 4 TiB
    # from 4 TiB, 4K windows 512 GiB from 1 TiB.
    def addresses(arch):
        w = loads_workload(
            f"host: {{arch: {arch}}}\n"
            "segments: {a: {size: 1GiB, backing: hugetlb}, b: {size: 1GiB}}\n"
            "processes: [{count: 1, mappings: [{segment: a}, {segment: b}]}]\n")
        return [m.address for m in w.groups[0].mappings]

    assert addresses("arm64-16k") == [1 * TiB, 1 * TiB + 64 * GiB]
    assert addresses("arm64-64k") == [4 * TiB, 8 * TiB]
    assert addresses("arm64-4k") == [1 * TiB, 1 * TiB + 512 * GiB]


def test_auto_placement_runs_out_on_16k():
    # 200 TiB + 100 TiB cannot both fit between 1 TiB and 256 TiB
    with pytest.raises(WorkloadError) as e:
        loads_workload(
            "host: {arch: arm64-16k}\n"
            "segments: {s: {size: 200TiB}, t: {size: 100TiB}}\n"
            "processes: [{count: 1, mappings: [{segment: s}, {segment: t}]}]\n", "w.yaml")
    assert "no room below 0x1000000000000 to place every auto mapping (each takes 64 GiB windows" in str(e.value)


# --- the CLI ----------------------------------------------------------------------------

SGA_16K = """\
name: SGA on arm64 16K
host:
  memory: 64GiB
  arch: arm64-16k
segments:
  sga: {size: 128GiB, backing: hugetlb, page_size: 32MiB}
processes:
  - name: db
    count: 4
    mappings:
      - segment: sga
    private_mappings: []   # (the SGA's tables alone)
"""


def test_estimate_arm64_16k_json():
    r = CliRunner().invoke(main, ["estimate", "-", "--format", "json"], input=SGA_16K)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    cells = {(c["scheme"], c["column"]): c for c in doc["cells"]}
    assert sorted({col for _, col in cells}) == ["16KiB", "1GiB-hugetlb", "32MiB-hugetlb"]
    # configured: 128 GiB of 32 MiB pages at 1 TiB (auto) in 4 processes:
    # 2 shared 64 GiB PMD tables + 4 PUD tables of 16 KiB, 4 PGDs of 16 bytes.
    c = cells[("hugetlb-pmd", "32MiB-hugetlb")]
    assert c["configured"] is True and c["page_size"] == 32 * MiB
    t = c["page_tables"]
    assert (t["tables"]["pte"], t["tables"]["pmd"], t["tables"]["pud"], t["tables"]["pgd"]) == (0, 2, 4, 4)
    assert t["physical_bytes"] == 6 * 16 * KiB + 4 * 16
    assert t["groups"][0]["vmpte_bytes"] == 48 * KiB  # own PUD + 2 attached PMD
    # private: 4 x (2 PMD + 1 PUD)
    assert cells[("private", "32MiB-hugetlb")]["page_tables"]["tables"]["pmd"] == 8
    # 1 GiB pages are CONT_PMD on 16K: never shared, 4 x (2 PMD + 1 PUD)
    assert cells[("hugetlb-pmd", "1GiB-hugetlb")]["page_tables"]["tables"]["pmd"] == 8
    # 16 KiB shmem: 128 GiB / 32 MiB = 4096 PTE tables per process
    assert cells[("private", "16KiB")]["page_tables"]["tables"]["pte"] == 4 * 4096


def test_estimate_arm64_16k_table_and_markdown():
    for fmt in ("table", "markdown"):
        r = CliRunner().invoke(main, ["estimate", "-", "--format", fmt], input=SGA_16K)
        assert r.exit_code == 0, r.output
        assert "arm64-16k" in r.output
        assert "sysctl vm.nr_hugepages=4096" in r.output  # 128 GiB / 32 MiB pages


def test_estimate_arm64_64k_has_no_pmd_sharing():
    # 3 processes x 4 GiB of 512 MiB hugetlb at 4 TiB: each one PMD table of
    # 64 KiB and a 512-byte PGD, under hugetlb-pmd exactly as under private.
    text = SGA_16K.replace("arm64-16k", "arm64-64k").replace("128GiB", "4GiB").replace("32MiB", "512MiB") \
        .replace("count: 4", "count: 3")
    r = CliRunner().invoke(main, ["estimate", "-", "--format", "json", "-s", "private", "-s", "hugetlb-pmd"],
                           input=text)
    assert r.exit_code == 0, r.output
    cells = {(c["scheme"], c["column"]): c for c in json.loads(r.output)["cells"]}
    for scheme in ("private", "hugetlb-pmd"):
        assert cells[(scheme, "512MiB-hugetlb")]["page_tables"]["physical_bytes"] == 3 * (64 * KiB + 512)


def test_estimate_refuses_an_x86_page_size_on_16k():
    r = CliRunner().invoke(main, ["estimate", "-"], input=SGA_16K.replace("32MiB", "4KiB").replace(
        "backing: hugetlb, ", ""))
    assert r.exit_code == 2
    assert "4 KiB is not a page size on arm64-16k" in r.output
