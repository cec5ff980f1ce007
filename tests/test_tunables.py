"""hugetlb pools and THP settings on a fake /sys: read, raise, put back -- and
``measure``'s checks and changes that go through them."""

from __future__ import annotations

import pytest
from fake_tree import GiB, MiB, FakeTree
from measure_cases import CASES

from ptcalc.linux import measure
from ptcalc.linux.errors import KernelError
from ptcalc.linux.measure import plan
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.tunables import (
    THP_SHMEM_ENABLED,
    Tunables,
    hugetlb_pool_path,
    hugetlb_pools,
    read_hugetlb_pool,
    shmem_thp_changes,
    thp_shmem_size_path,
)

POOL_2M = hugetlb_pool_path(2 * MiB)
POOL_1G = hugetlb_pool_path(GiB)


class _Result:
    physical_bytes = 0


@pytest.fixture
def tree(tmp_path):
    return FakeTree(tmp_path).machine(pools={2 * MiB: 7, GiB: 0})


@pytest.fixture
def fs(tree):
    return ProcFS(*tree.roots)


def test_pools_read(fs):
    assert hugetlb_pools(fs) == {2 * MiB: 7, GiB: 0}
    assert read_hugetlb_pool(fs, 2 * MiB) == 7
    assert read_hugetlb_pool(fs, 2 * MiB, "resv_hugepages") == 0
    with pytest.raises(KernelError, match="no hugetlb pages of 64 KiB .*hugepages-64kB/nr_hugepages does not exist"):
        read_hugetlb_pool(fs, 64 << 10)


def test_unreadable_pool_is_left_out(tree, fs):
    tree.file("sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "garbage\n")
    tree.file("sys/kernel/mm/hugepages/not-a-pool/nr_hugepages", "3\n")
    assert hugetlb_pools(fs) == {2 * MiB: 7}


def test_tunables_restore_the_first_value(tree, fs):
    with Tunables(fs) as t:
        t.set(POOL_2M, "100")
        t.set(POOL_2M, "200")  # a second write must not forget the original
        t.set(THP_SHMEM_ENABLED, "advise")
        assert tree.read("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") == "200"
        assert t.saved == [(POOL_2M, "7"), (THP_SHMEM_ENABLED, "never")]
    assert tree.read("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") == "7"
    assert tree.read("sys/kernel/mm/transparent_hugepage/shmem_enabled") == "never"
    assert t.restore_problems == []


def test_tunables_restore_on_an_exception(tree, fs):
    with pytest.raises(RuntimeError):
        with Tunables(fs) as t:
            t.set(POOL_1G, "512")
            raise RuntimeError("boom")
    assert tree.read("sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages") == "0"


def test_tunables_missing_file_is_a_clear_error(fs):
    with Tunables(fs) as t, pytest.raises(KernelError, match="hugepages-4kB/nr_hugepages does not exist"):
        t.set(hugetlb_pool_path(4 << 10), "1")


class _Sticky(ProcFS):
    """A kernel that does not take back what was written (pages still in use)."""

    def write(self, path, value):
        if path == POOL_2M and value == "7":
            return
        super().write(path, value)


def test_a_value_that_does_not_come_back_is_reported(tree, monkeypatch):
    monkeypatch.setattr("ptcalc.linux.tunables.time.sleep", lambda s: None)
    with Tunables(_Sticky(*tree.roots)) as t:
        t.set(POOL_2M, "9")
    assert t.restore_problems == [f"{POOL_2M} is '9', not '7', after restoring"]


@pytest.mark.parametrize("top, per_size, changes", [
    ("always within_size advise [never] deny force\n", "always [inherit] within_size advise never\n",
     [(THP_SHMEM_ENABLED, "advise")]),
    ("always within_size [advise] never deny force\n", "always inherit within_size advise [never]\n",
     [(thp_shmem_size_path(2 * MiB), "inherit")]),
    ("[always] within_size advise never deny force\n", None, []),  # before 6.8: no per-size file
])
def test_shmem_thp_changes(tree, fs, top, per_size, changes):
    tree.file("sys/kernel/mm/transparent_hugepage/shmem_enabled", top)
    if per_size is None:
        (tree.sys / "kernel/mm/transparent_hugepage/hugepages-2048kB/shmem_enabled").unlink()
    else:
        tree.file("sys/kernel/mm/transparent_hugepage/hugepages-2048kB/shmem_enabled", per_size)
    assert shmem_thp_changes(fs, 2 * MiB) == changes


def test_no_shmem_thp_is_a_clear_error(tmp_path):
    fs = ProcFS(*FakeTree(tmp_path).machine(thp=False).roots)
    with pytest.raises(KernelError, match="no shmem THP"):
        shmem_thp_changes(fs, 2 * MiB)


# --- what measure does with them -------------------------------------------------------


def test_measure_raises_pools_and_thp_and_says_so(tree, fs):
    # CASES["mixed-hugetlb-thp-x2"]: a 2 MiB hugetlb segment and a shmem THP one
    w = CASES["mixed-hugetlb-thp-x2"].workload
    p = plan(w, _Result())  # type: ignore[arg-type]
    (pages,) = p.hugetlb_pages.values()
    said = []
    with Tunables(fs) as t:
        notes = measure.apply_tunables(w, t, p, said.append)
        assert read_hugetlb_pool(fs, 2 * MiB) == 7 + pages
        assert fs.read_value(THP_SHMEM_ENABLED) == "advise"
    assert read_hugetlb_pool(fs, 2 * MiB) == 7 and tree.read("sys/kernel/mm/transparent_hugepage/shmem_enabled") \
        == "never"
    assert said[0] == f"raised the 2 MiB hugetlb pool from 7 to {7 + pages:,} pages"
    assert notes[0] == f"hugetlb 2 MiB pool raised by {pages:,} pages for the run, then restored to 7"
    assert notes[1].startswith("shmem THP enabled for MADV_HUGEPAGE mappings for the run "
                               f"({THP_SHMEM_ENABLED} = advise)")


class _Stingy(ProcFS):
    """A kernel that finds only 100 more huge pages, whatever is asked."""

    def write(self, path, value):
        if path == POOL_2M:
            value = str(min(int(value), int(self.read_value(path) or 0) + 100))
        super().write(path, value)


def test_pool_that_cannot_be_raised_says_how_many_pages(tree):
    w = CASES["hugetlb-2g-x4-aligned"].workload  # 1,024 pages of 2 MiB
    p = plan(w, _Result())  # type: ignore[arg-type]
    fs = _Stingy(*tree.roots)
    with pytest.raises(KernelError, match="by only 100 of the 1,024 pages needed"):
        with Tunables(fs) as t:
            measure.apply_tunables(w, t, p, lambda s: None)
    assert read_hugetlb_pool(fs, 2 * MiB) == 7  # and put back


def test_missing_hugetlb_size_is_a_clear_error(tmp_path):
    fs = ProcFS(*FakeTree(tmp_path).machine(pools={2 * MiB: 0}).roots)
    w = CASES["hugetlb-1g-pages-x2"].workload
    with pytest.raises(KernelError, match="no hugetlb pages of 1 GiB .*hugepages-1048576kB/nr_hugepages"):
        measure.check_tunables(fs, w, plan(w, _Result()))  # type: ignore[arg-type]
