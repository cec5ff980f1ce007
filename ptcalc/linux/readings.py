"""PageTables of the machine and VmPTE of every process: read together, settled, repeated.

``measure`` compares the growth of /proc/meminfo ``PageTables`` with the
model.  VmPTE of a process is exact: only that process changes it.
PageTables is one number for the whole machine, and more than the workload
moves it.  Every piece of the noise handling is in this module, so that it
applies to any figure measure compares:

    what else moves PageTables                       what this module does
    -----------------------------------------------  ------------------------------------------------
    other processes' page tables                     a reading takes the VmPTE (and PGD) of every
                                                     other user process in one consistent snapshot
                                                     and subtracts them (``Reading.corrected``)
    tables freed after an RCU grace period           ``quiesce``: membarrier(MEMBARRIER_CMD_GLOBAL)
      (mm/mmu_gather.c ``tlb_remove_table_rcu``)       waits for one before every reading
    PGDs of exited processes that a CPU still        ``quiesce``: this process runs once on every
      holds as its lazy-TLB mm (kernel/sched/core.c    CPU, which drops those references
      ``finish_task_switch`` -> ``mmdrop_lazy_tlb``)
    processes being forked, exec'd or exiting,       ``settle_pagetables``: they only ever add,
      whose tables no /proc/PID/status shows yet /     so the smallest value is taken, once seen
      any more                                         SETTLE_READINGS times
    kernel page tables (vmalloc: a forked process's  ``Cycles``: the workload is unmapped and mapped
      stack) and anything else no VmPTE shows          again; two cycles in a row must read the same,
                                                     or the growth must be exactly what the
                                                     processes' VmPTE explains (``Explained``)

When no reading can be trusted the figure is *inconclusive* (``Cycles.noise``),
never a difference.  Nothing here sees the model: only the kernel's own
figures decide whether a reading is trusted, so a wrong model cannot be
taken for noise.

    reading                          file                          unit
    -------------------------------  ----------------------------  -----------
    PageTables of the machine        /proc/meminfo ``PageTables:`` kB -> bytes
      (per-CPU deltas folded first)  /proc/sys/vm/stat_refresh     (write, root)
    VmPTE of a process               /proc/PID/status ``VmPTE:``   kB -> bytes
    user processes, start times      /proc/PID/stat                flags, ticks

Every file is read through one ``ptcalc.linux.procfs.ProcFS``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ptcalc.linux.errors import KernelError, ProcessError
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.syscalls import synchronize_rcu
from ptcalc.units import format_kib

PF_EXITING = 0x00000004  # include/linux/sched.h
PF_KTHREAD = 0x00200000

SETTLE_READINGS = 3
"""Times the smallest reading must have been seen before it is taken (``settle_pagetables``)."""

MAX_ROUNDS = 4
"""Times the workload is mapped, at most, before the PageTables growth is
called inconclusive (``Cycles``)."""


def _census(fs: ProcFS, skip: frozenset[int] | set[int]) -> tuple[frozenset[tuple[int, int]], bool]:
    """(pid, start time) of every user process except those in ``skip``, and
    whether one of them is exiting (PF_EXITING: its tables are being freed,
    and no VmPTE shows them any more)."""
    out = set()
    exiting = False
    for pid in fs.pids():
        if pid in skip:
            continue
        try:
            state, _ppid, flags, start = fs.stat(pid)
        except (ProcessError, OSError, IndexError, ValueError):
            continue
        if flags & PF_KTHREAD or state in ("Z", "X"):
            continue
        exiting = exiting or bool(flags & PF_EXITING)
        out.add((pid, start))
    return frozenset(out), exiting


def other_processes(fs: ProcFS, skip: frozenset[int] | set[int]) -> frozenset[tuple[int, int]]:
    """(pid, start time) of every user process except those in ``skip``.

    Kernel threads (no page tables of their own) and zombies (tables already
    freed) are left out.
    """
    return _census(fs, skip)[0]


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
    so that none of them started, exited, was exiting or changed its VmPTE
    meanwhile (retried up to ``tries`` times)."""
    last: Reading | None = None
    for _ in range(tries):
        procs, exiting = _census(fs, skip)
        first = _vmptes(fs, procs)
        value = fs.pagetables()
        again, exiting_after = _census(fs, skip)
        second = _vmptes(fs, procs) if again == procs else None
        if first is not None and first == second and not (exiting or exiting_after):
            return Reading(value, first)
        last = Reading(value, first or {}, consistent=False)
        time.sleep(0.01)
    assert last is not None
    return last


def quiesce(fs: ProcFS) -> None:
    """Let what is being freed be freed before a reading (on the live machine only).

    Run on every CPU this process may use: a CPU that last ran a process
    which has exited since keeps that process's mm -- and its PGD, counted
    in PageTables -- as its lazy-TLB mm until it switches to another user
    process (kernel/sched/core.c ``finish_task_switch`` ->
    ``mmdrop_lazy_tlb_sched`` -> ``__mmdrop`` -> ``mm_free_pgd``).  Then wait
    for an RCU grace period, after which tables freed through
    ``tlb_remove_table`` are on their way back (``synchronize_rcu``).
    """
    if not fs.is_live:
        return
    try:
        cpus = os.sched_getaffinity(0)
        for cpu in sorted(cpus):
            os.sched_setaffinity(0, {cpu})  # migrates this thread there before returning
        os.sched_setaffinity(0, cpus)
    except OSError:
        pass
    synchronize_rcu()


def settle_pagetables(fs: ProcFS, interval: float, pgd_bytes: int, skip: frozenset[int] | set[int] = frozenset(),
                      timeout: float = 30.0, need: int = SETTLE_READINGS) -> tuple[Reading, bool]:
    """Read, ``interval`` apart, until the smallest value seen has been seen
    ``need`` times; (a reading of that value, settled).

    What is read is PageTables less what other processes hold
    (``Reading.corrected``), each reading after ``quiesce``, from consistent
    snapshots only.  What else moves it between readings only ever adds to
    it: a table is counted in PageTables before any VmPTE shows it and
    after none does any more (``__pte_alloc`` accounts the page before
    ``mm_inc_nr_ptes``; ``free_pte_range`` does ``mm_dec_nr_ptes`` before
    the RCU-deferred free); a process being forked, exec'd or exiting holds
    tables no /proc/PID/status shows.  So the smallest value is the settled
    one, once it has been seen ``need`` times (RCU-deferred frees drain
    downwards to it).  On a quiet machine that is ``need`` equal readings.
    Not settled when that did not happen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    low: list[Reading] = []
    last: Reading | None = None
    while True:
        quiesce(fs)
        last = read_snapshot(fs, skip)
        if last.consistent:
            value = last.corrected(pgd_bytes)
            if not low or value < low[0].corrected(pgd_bytes):
                low = [last]
            elif value == low[0].corrected(pgd_bytes):
                low.append(last)
            if len(low) >= need:
                return low[-1], True
        if time.monotonic() > deadline:
            return last, False
        time.sleep(interval)


# --------------------------------------------------------------------------- repeated readings


@dataclass(frozen=True)
class Explained:
    """What the workload's own processes say the PageTables growth can be:
    kernel figures only (their VmPTE growth, exact), never the model.

    ``VmPTE`` (``mm_pgtables_bytes``) counts the PTE, PMD and PUD tables a
    process uses, a shared hugetlb PMD table in every sharer (mm/hugetlb.c
    ``huge_pmd_share`` -> ``mm_inc_nr_pmds``).  So where PageTables counts
    PUD tables, the physical growth is at least the largest process's VmPTE
    growth and at most their sum, and exactly the sum where no table can be
    shared.
    """

    low: int
    high: int

    @property
    def exact(self) -> bool:
        return self.low == self.high

    def allows(self, delta: int) -> bool:
        return self.low <= delta <= self.high


def explained_by_vmpte(growth: Sequence[int], pud_counted: bool, may_share: bool) -> Explained:
    """The growth of PageTables that the processes' VmPTE growth allows.

    ``pud_counted``: PageTables counts PUD tables here (the calibration);
    where it does not, every bound but the sum is unknown.  ``may_share``:
    the workload has hugetlb mappings whose PMD tables the kernel may share
    (2 MiB pages), between processes or within one.

    >>> explained_by_vmpte([16384, 16384, 12288], True, True)
    Explained(low=16384, high=45056)
    >>> explained_by_vmpte([16384, 12288], True, False).exact
    True
    >>> explained_by_vmpte([16384, 12288], False, False)
    Explained(low=0, high=28672)
    """
    total = sum(growth)
    if not pud_counted:
        return Explained(0, total)
    if may_share:
        return Explained(max(growth, default=0), total)
    return Explained(total, total)


@dataclass
class Cycles:
    """PageTables read with the workload unmapped and mapped, alternately,
    until its growth can be trusted.

    ``readings[0]`` is the baseline (nothing mapped); odd readings are taken
    with the workload mapped, even ones after it was unmapped again (None: a
    reading that did not settle).  The growth is trusted when

    1. one transition (mapping or unmapping) moved PageTables by exactly what
       the processes' VmPTE explains, when that is exact (``Explained.exact``:
       nothing shared), or
    2. four readings in a row -- two of each state, a full cycle apart --
       read the same per state, and the growth is one ``Explained`` allows.

    A change that is not the workload's -- a process half-forked at one
    reading, a kernel page table allocated meanwhile, a PGD freed late --
    shows up in one reading or one cycle, not in two cycles alike.
    """

    pgd_bytes: int
    explained: Explained | None = None
    readings: list[Reading | None] = field(default_factory=list)

    def add(self, reading: Reading | None) -> None:
        self.readings.append(reading)

    def _values(self) -> list[int | None]:
        return [None if r is None else r.corrected(self.pgd_bytes) for r in self.readings]

    def transitions(self) -> list[int | None]:
        """The growth each transition showed (mapped less unmapped), in order."""
        v = self._values()
        out: list[int | None] = []
        for i in range(1, len(v)):
            a, b = v[i - 1], v[i]
            out.append(None if a is None or b is None else (b - a if i % 2 else a - b))
        return out

    def trusted(self) -> tuple[int, int] | None:
        """(index of the unmapped reading, of the mapped one) whose difference
        is the trusted growth, or None (yet)."""
        v = self._values()
        ex = self.explained
        if ex is not None and ex.exact:
            for i in range(len(v) - 1, 0, -1):
                a, b = v[i - 1], v[i]
                if a is not None and b is not None and (b - a if i % 2 else a - b) == ex.low:
                    return (i - 1, i) if i % 2 else (i, i - 1)
        for i in range(len(v) - 4, -1, -1):
            a, b, c, d = v[i:i + 4]
            if a is None or b is None or a != c or b != d:
                continue
            off, on = (i, i + 1) if i % 2 == 0 else (i + 1, i)
            if ex is None or ex.allows(v[on] - v[off]):  # type: ignore[operator]
                return off, on
        return None

    def delta(self) -> int | None:
        """The trusted growth of PageTables (corrected), or None."""
        t = self.trusted()
        if t is None:
            return None
        v = self._values()
        return v[t[1]] - v[t[0]]  # type: ignore[operator]

    def others_adjust(self) -> int:
        """What other processes' VmPTE and PGDs changed meanwhile, subtracted: for the
        trusted pair of readings, else the first mapping."""
        t = self.trusted() or (0, 1)
        if len(self.readings) <= max(t):
            return 0
        off, on = self.readings[t[0]], self.readings[t[1]]
        if off is None or on is None:
            return 0
        return (on.pagetables - off.pagetables) - (on.corrected(self.pgd_bytes) - off.corrected(self.pgd_bytes))

    def noise(self) -> list[str]:
        """Why the growth cannot be trusted; empty when it can."""
        if self.trusted() is not None:
            return []
        seen = self.transitions()
        unsettled = sum(r is None for r in self.readings)
        shown = ", ".join("-" if d is None else format_kib(d) for d in seen) or "-"
        out = []
        if unsettled:
            out.append(f"PageTables did not settle in {unsettled} of {len(self.readings)} readings "
                       "(processes starting and exiting)")
        ex = self.explained
        v = self._values()
        steady = [i for i in range(len(v) - 3) if None not in v[i:i + 4] and v[i] == v[i + 2]
                  and v[i + 1] == v[i + 3]]
        if steady and ex is not None:
            want = format_kib(ex.low) if ex.exact else f"{format_kib(ex.low)} to {format_kib(ex.high)}"
            out.append(f"PageTables grew by {shown} as the workload was mapped and unmapped in turn: steady, "
                       f"but not what its processes' VmPTE (exact) allows ({want}); something outside them "
                       "allocated or freed page tables meanwhile")
        else:
            out.append(f"PageTables grew by {shown} as the workload was mapped and unmapped in turn: no two "
                       "cycles in a row read the same (other activity on the machine)")
        return out
