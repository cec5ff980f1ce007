"""hugetlb pools and THP settings: read them, raise them, put them back.

Every read and write goes through a ``ptcalc.linux.procfs.ProcFS``, so the
same code runs on a fake /sys in the tests.  Paths are spelled as on a real
machine.

    tunable                          file                                                  value
    -------------------------------  ----------------------------------------------------  ---------
    hugetlb pool of a page size      /sys/kernel/mm/hugepages/hugepages-NkB/nr_hugepages   pages
    its free / reserved pages        .../hugepages-NkB/free_hugepages, resv_hugepages      pages
    shmem THP policy                 /sys/kernel/mm/transparent_hugepage/shmem_enabled     [choice]
    per-size shmem THP policy        .../transparent_hugepage/hugepages-NkB/shmem_enabled  [choice] (6.8+)

``Tunables`` writes them and remembers the first value of each, so that
``restore()`` (run on every exit path) puts the machine back as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ptcalc.linux.errors import KernelError
from ptcalc.linux.parsers import hugepage_dir_size
from ptcalc.linux.procfs import HUGEPAGES, ProcFS
from ptcalc.linux.signals import signals_deferred
from ptcalc.units import KiB, MiB

THP = "/sys/kernel/mm/transparent_hugepage"
THP_SHMEM_ENABLED = f"{THP}/shmem_enabled"


def hugetlb_pool_path(page_size: int, what: str = "nr_hugepages") -> str:
    """/sys/kernel/mm/hugepages/hugepages-{N}kB/``what`` (mm/hugetlb_sysfs.c).

    >>> hugetlb_pool_path(2 * MiB)
    '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
    """
    return f"{HUGEPAGES}/hugepages-{page_size // KiB}kB/{what}"


def thp_shmem_size_path(page_size: int = 2 * MiB) -> str:
    """Per-size shmem THP policy (6.8+; ``inherit`` follows shmem_enabled).

    >>> thp_shmem_size_path()
    '/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/shmem_enabled'
    """
    return f"{THP}/hugepages-{page_size // KiB}kB/shmem_enabled"


def read_hugetlb_pool(fs: ProcFS, page_size: int, what: str = "nr_hugepages") -> int:
    """A hugetlb pool counter (nr_hugepages, free_hugepages, resv_hugepages, ...)."""
    path = hugetlb_pool_path(page_size, what)
    value = fs.read_value(path)
    if value is None:
        raise KernelError(f"this kernel has no hugetlb pages of {page_size // KiB} KiB "
                          f"({path} does not exist)")
    return int(value)


def hugetlb_pools(fs: ProcFS) -> dict[int, int]:
    """nr_hugepages of every hugetlb page size, by page size (unreadable pools left out)."""
    pools: dict[int, int] = {}
    for name in fs.listdir(HUGEPAGES):
        size = hugepage_dir_size(name)
        text = fs.text(f"{HUGEPAGES}/{name}/nr_hugepages") if size is not None else None
        if size is not None and text is not None and text.strip().isdigit():
            pools[size] = int(text)
    return pools


def shmem_thp_changes(fs: ProcFS, pmd_size: int) -> list[tuple[str, str]]:
    """The THP settings to change so that shmem mappings given MADV_HUGEPAGE get
    PMD-mapped THPs of ``pmd_size``: (path, value) pairs, none when they do already."""
    top = fs.read_value(THP_SHMEM_ENABLED)
    if top is None:
        raise KernelError(f"this kernel has no shmem THP (no {THP_SHMEM_ENABLED})")
    changes = []
    # mm/shmem.c (shmem_huge_global_enabled(), shmem_is_huge() before 6.11): "advise"
    # gives THPs to VMAs with VM_HUGEPAGE, i.e. after MADV_HUGEPAGE
    if top in ("never", "deny"):
        changes.append((THP_SHMEM_ENABLED, "advise"))
    # 6.8+: per-size policy; "inherit" follows shmem_enabled
    if fs.read_value(thp_shmem_size_path(pmd_size)) == "never":
        changes.append((thp_shmem_size_path(pmd_size), "inherit"))
    return changes


class Tunables:
    """Writes sysfs tunables and puts every one back as it found it.

    Use as a context manager: ``restore()`` runs on every exit path.  Values
    are written as text; the old value is the selected choice for choice
    files (``[never]`` -> ``never``).  ``before_write(path, old, new)`` is
    told before each write (``ptcalc.linux.runstate.Journal.tunable``), so
    that a run killed with SIGKILL can be repaired.
    """

    def __init__(self, fs: ProcFS | None = None,
                 before_write: Callable[[str, str, str], None] | None = None) -> None:
        self.fs = fs or ProcFS()
        self._saved: list[tuple[str, str]] = []
        self._before_write = before_write
        self.restore_problems: list[str] = []

    def remember(self, path: str, old: str) -> None:
        """``restore()`` writes ``old`` back to ``path`` (the first value remembered wins)."""
        if all(p != path for p, _ in self._saved):
            self._saved.append((path, old))

    def set(self, path: str, value: str) -> None:
        """Write ``value`` to ``path``, remembering the old value the first time."""
        old = self.fs.read_value(path)
        if old is None:
            raise KernelError(f"{path} does not exist on this kernel")
        self.remember(path, old)
        if self._before_write is not None:
            first = next(o for p, o in self._saved if p == path)
            self._before_write(path, first, value)
        try:
            self.fs.write(path, value)
        except PermissionError:
            raise KernelError(f"cannot write {path}: measure needs root for this "
                              "(hugetlb pools, THP settings)") from None
        except OSError as e:
            raise KernelError(f"cannot write {value!r} to {path}: {e.strerror}") from None

    @property
    def saved(self) -> list[tuple[str, str]]:
        """(path, value to restore), in the order first written."""
        return list(self._saved)

    def restore(self) -> None:
        """Write back every saved value, last first; hugetlb pools are retried
        briefly (pages being freed return to the pool asynchronously).
        SIGINT/SIGTERM arriving meanwhile wait until it is done."""
        with signals_deferred():
            self._restore()

    def _restore(self) -> None:
        problems = []
        for path, old in reversed(self._saved):
            for _ in range(50):
                try:
                    self.fs.write(path, old)
                except OSError as e:
                    problems.append(f"could not restore {path} to {old!r}: {e.strerror}")
                    break
                if self.fs.read_value(path) == old:
                    break
                time.sleep(0.1)
            else:
                problems.append(f"{path} is {self.fs.read_value(path)!r}, not {old!r}, after restoring")
        self._saved.clear()
        self.restore_problems = problems

    def __enter__(self) -> Tunables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
