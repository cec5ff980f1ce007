"""PageTables of the machine and VmPTE of every process, read together and settled.

``measure`` compares the growth of /proc/meminfo ``PageTables`` with the
model.  That counter is one number for the whole machine, so each reading
also takes the VmPTE of every other user process, in one consistent
snapshot, and the growth is compared less what they changed by.

    reading                          file                          unit
    -------------------------------  ----------------------------  -----------
    PageTables of the machine        /proc/meminfo ``PageTables:`` kB -> bytes
      (per-CPU deltas folded first)  /proc/sys/vm/stat_refresh     (write, root)
    VmPTE of a process               /proc/PID/status ``VmPTE:``   kB -> bytes
    user processes, start times      /proc/PID/stat                flags, ticks

Every file is read through one ``ptcalc.linux.procfs.ProcFS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ptcalc.linux.errors import KernelError, ProcessError
from ptcalc.linux.procfs import ProcFS

PF_KTHREAD = 0x00200000  # include/linux/sched.h


def other_processes(fs: ProcFS, skip: frozenset[int] | set[int]) -> frozenset[tuple[int, int]]:
    """(pid, start time) of every user process except those in ``skip``.

    Kernel threads (no page tables of their own) and zombies (tables already
    freed) are left out.
    """
    out = set()
    for pid in fs.pids():
        if pid in skip:
            continue
        try:
            state, _ppid, flags, start = fs.stat(pid)
        except (ProcessError, OSError, IndexError, ValueError):
            continue
        if flags & PF_KTHREAD or state in ("Z", "X"):
            continue
        out.add((pid, start))
    return frozenset(out)


@dataclass(frozen=True)
class Reading:
    """PageTables of the machine and the VmPTE of every other user process, read together."""

    pagetables: int
    vmpte: dict[tuple[int, int], int]
    """(pid, start time) -> VmPTE bytes of every user process but the skipped ones."""
    consistent: bool = True
    """No process started, exited or changed its VmPTE while the reading was taken."""

    def corrected(self, pgd_bytes: int) -> int:
        """PageTables less what the other processes hold: their VmPTE and, when
        PageTables counts them, their PGDs (``pgd_bytes`` each, 0 if not)."""
        return self.pagetables - sum(self.vmpte.values()) - pgd_bytes * len(self.vmpte)

    def without(self, pids: set[int]) -> Reading:
        """The same reading with ``pids`` not counted as other processes."""
        return replace(self, vmpte={k: v for k, v in self.vmpte.items() if k[0] not in pids})


def _vmptes(fs: ProcFS, procs: frozenset[tuple[int, int]]) -> dict[tuple[int, int], int] | None:
    out = {}
    for key in procs:
        try:
            out[key] = fs.vmpte(key[0])
        except (ProcessError, OSError, KernelError):
            return None
    return out


def read_snapshot(fs: ProcFS, skip: frozenset[int] | set[int] = frozenset(), tries: int = 50) -> Reading:
    """PageTables and the VmPTE of every user process not in ``skip``, taken
    so that none of them changed meanwhile (retried up to ``tries`` times)."""
    last: Reading | None = None
    for _ in range(tries):
        procs = other_processes(fs, skip)
        first = _vmptes(fs, procs)
        value = fs.pagetables()
        second = _vmptes(fs, procs) if other_processes(fs, skip) == procs else None
        if first is not None and first == second:
            return Reading(value, first)
        last = Reading(value, first or {}, consistent=False)
        time.sleep(0.01)
    assert last is not None
    return last


def settle_pagetables(fs: ProcFS, interval: float, pgd_bytes: int, skip: frozenset[int] | set[int] = frozenset(),
                      timeout: float = 30.0) -> tuple[Reading, bool]:
    """Read until two consecutive readings ``interval`` apart agree; (reading, settled).

    Page-table pages are freed after an RCU grace period (mm/mmu_gather.c
    ``tlb_remove_table`` -> ``tlb_remove_table_rcu``), so tables of processes
    that just exited still count for a while.  Other processes (ptcalc's own
    included) change PageTables as they run, start and exit, so what must
    agree is PageTables less what they hold (``Reading.corrected``).  Not
    settled when that did not happen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    prev = read_snapshot(fs, skip)
    while True:
        time.sleep(interval)
        cur = read_snapshot(fs, skip)
        if cur.consistent and prev.consistent and cur.corrected(pgd_bytes) == prev.corrected(pgd_bytes):
            return cur, True
        if time.monotonic() > deadline:
            return cur, False
        prev = cur
