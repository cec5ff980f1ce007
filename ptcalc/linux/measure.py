"""``ptcalc measure``: plan a workload's reproduction on the running kernel, run it, compare.

The kernel is the second oracle (docs/measure.md).  For a loaded workload
this module

1. optionally scales it down (``ptcalc.linux.scale``), and computes the model's
   figures for exactly the workload it will run: the ``hugetlb-pmd`` scheme,
   which is what mainline Linux does (it equals ``private`` except for 2 MiB
   hugetlb mappings);
2. checks the machine can hold it (``plan``) and that every address is free;
3. raises hugetlb pools and THP settings as needed (``ptcalc.linux.tunables``),
   putting them back on every exit path;
4. has ``ptcalc.linux.reproduce`` create one memfd per segment (shmem, shmem
   THP, hugetlb 2 MiB / 1 GiB, or a real file) and fork the stated number of
   processes; each maps its group's mappings at their addresses
   (MAP_FIXED_NOREPLACE) and faults in exactly the touched ranges
   (MADV_POPULATE_READ/WRITE), one process at a time; VmPTE of every process
   is read before and after, and the PageTables delta of the machine, settled
   and repeated -- the workload unmapped and mapped again -- until it can be
   trusted (``ptcalc.linux.readings``: all of the noise handling);
5. compares (``MeasureResult``): a VmPTE that differs is a difference, always
   (it is exact); a PageTables growth that could not be trusted is
   ``inconclusive``, never a difference.

Before it changes anything it writes what it will change to a state file
(``ptcalc.linux.runstate``), and first repairs what an earlier run killed
with SIGKILL left.

Which levels PageTables counts differs between kernels (6.1: PTE and PMD
tables; 6.18: PUD tables too), so ``ptcalc.linux.calibrate`` finds out on
this kernel by touching one page in an empty window of one PUD table's span.
PGD tables never appear in the delta: every process exists before the
baseline is taken.

Every /proc and /sys file is read (and every tunable written) through one
``ptcalc.linux.procfs.ProcFS``, ``run(fs=...)``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace

from ptcalc.errors import UsageError
from ptcalc.linux.calibrate import Calibration, calibrate
from ptcalc.linux.errors import KernelError
from ptcalc.linux.host import is_root, running_arch
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.reproduce import Phase, Raw, Segments, origin, reproduce
from ptcalc.linux.runstate import Journal, Repaired, repair
from ptcalc.linux.scale import SCALE_RULE, relocate_workload, scale_workload, window_span
from ptcalc.linux.signals import signals_as_exceptions, signals_deferred
from ptcalc.linux.tunables import Tunables, hugetlb_pool_path, read_hugetlb_pool, shmem_thp_changes
from ptcalc.model.results import SchemeResult
from ptcalc.units import GiB, KiB, MiB, format_size
from ptcalc.workload.types import Workload

SCHEME = "hugetlb-pmd"
"""What mainline Linux implements: hugetlb 2 MiB mappings share PMD tables
(mm/hugetlb.c ``huge_pmd_share``); everything else is private."""

MAX_PROCESSES = 8192
"""measure forks one process per workload process; more is a job for --scale."""

CHILD_BYTES = 2 * MiB
"""Memory one forked measuring process costs (about 1.1 MiB measured: its own
page tables and the pages copy-on-write breaks), with margin."""

Model = Callable[[Workload], SchemeResult]
Progress = Callable[[str], None]


# --------------------------------------------------------------------------- memory plan


def _union_length(ranges: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for s, e in sorted(ranges):
        if end is None or s > end:
            total += e - s
            end = e
        elif e > end:
            total += e - end
            end = e
    return total


@dataclass(frozen=True)
class Plan:
    """What reproducing a workload takes from this machine."""

    shmem_bytes: int
    """Touched pages of shmem (and file) segments: the union of touched file ranges."""
    file_write_bytes: int
    """Of those, pages of file segments written (protection rw): disk space a real file needs."""
    hugetlb_pages: dict[int, int]
    """Pages per hugetlb page size that mmap reserves: the union of mapped file ranges."""
    page_table_bytes: int
    """The model's physical page tables."""
    processes: int
    own_bytes: int = 0
    """The processes' own mappings: their anonymous memory, and the one file
    their private file mappings read."""

    @property
    def hugetlb_bytes(self) -> int:
        return sum(ps * n for ps, n in self.hugetlb_pages.items())

    @property
    def process_bytes(self) -> int:
        return self.processes * CHILD_BYTES

    @property
    def total(self) -> int:
        return self.shmem_bytes + self.hugetlb_bytes + self.page_table_bytes + self.process_bytes + self.own_bytes

    def describe(self) -> str:
        parts = [f"shmem/file {format_size(self.shmem_bytes)}"]
        for ps, n in sorted(self.hugetlb_pages.items()):
            parts.append(f"hugetlb {n:,} x {format_size(ps)}")
        if self.own_bytes:
            parts.append(f"the processes' own mappings {format_size(self.own_bytes)}")
        parts.append(f"page tables {format_size(self.page_table_bytes)}")
        parts.append(f"{self.processes:,} processes ~{format_size(self.process_bytes)}")
        return ", ".join(parts)


def plan(w: Workload, model_result: SchemeResult) -> Plan:
    """Memory the reproduction of ``w`` needs (before any of it is allocated)."""
    touched: dict[str, list[tuple[int, int]]] = {}
    mapped: dict[str, list[tuple[int, int]]] = {}
    for g in w.groups:
        for m in g.mappings:
            mapped.setdefault(m.segment, []).append((m.offset, m.offset + m.size))
            if m.protection != "none":
                touched.setdefault(m.segment, []).extend((m.offset + s, m.offset + e) for s, e in m.touched)
    shmem = 0
    written = 0
    pages: dict[int, int] = {}
    for name, seg in w.segments.items():
        if seg.backing == "file":
            written += _union_length([(m.offset + s, m.offset + e) for g in w.groups for m in g.mappings
                                      if m.segment == name and m.protection == "rw" for s, e in m.touched])
        if seg.backing == "hugetlb":
            # hugetlbfs_file_mmap -> hugetlb_reserve_pages(): a shared mapping
            # reserves its file range in the inode's resv_map, once per page
            n = _union_length(mapped.get(name, [])) // seg.page_size
            if n:
                pages[seg.page_size] = pages.get(seg.page_size, 0) + n
        else:
            shmem += _union_length(touched.get(name, []))
    # the processes' own mappings: anonymous memory per process, and the page
    # cache of the one file the private file mappings read
    own = sum(g.count * p.touched_bytes for g in w.groups for p in g.private_mappings if p.kind != "file")
    cache = max((p.size for g in w.groups for p in g.private_mappings if p.kind == "file"), default=0)
    return Plan(shmem, written, pages, model_result.physical_bytes, w.process_count, own + cache)


def _margin(meminfo: dict[str, int]) -> int:
    return max(512 * MiB, meminfo.get("MemTotal", 0) // 16)


def shortfall(p: Plan, meminfo: dict[str, int]) -> int:
    """Bytes of memory ``p`` lacks: what it needs, hugetlb pages to add to the
    pools included, beyond MemAvailable less the safety margin (0: it fits).

    >>> shortfall(Plan(0, 0, {2 * MiB: 4096}, 0, 0), {"MemTotal": 16 * GiB, "MemAvailable": 6 * GiB})
    3221225472
    """
    return max(0, p.total - (meminfo.get("MemAvailable", 0) - _margin(meminfo)))


def fits(p: Plan, meminfo: dict[str, int]) -> bool:
    """True when ``p`` leaves a safety margin of MemAvailable free."""
    return p.processes <= MAX_PROCESSES and shortfall(p, meminfo) == 0


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class GroupMeasurement:
    """VmPTE of one group's processes: the model's figure and each process's reading."""

    name: str
    count: int
    model_vmpte: int
    kernel_vmpte: tuple[int, ...]
    """VmPTE growth of every process of the group, bytes (delta from its baseline)."""

    @property
    def agree(self) -> bool:
        return all(v == self.model_vmpte for v in self.kernel_vmpte)

    def kernel_values(self) -> list[tuple[int, int]]:
        """(VmPTE, number of processes showing it), most common first."""
        return Counter(self.kernel_vmpte).most_common()


@dataclass(frozen=True)
class LevelRow:
    level: str
    model_tables: int
    counted: bool
    """Part of the PageTables delta on this kernel."""
    why: str


@dataclass(frozen=True)
class MeasureResult:
    """The model next to the kernel, for one workload on this machine.

        field                     where it comes from
        ------------------------  ------------------------------------------------
        levels[i].model_tables    ptcalc.model.tables, hugetlb-pmd scheme, per level
        model_pagetables_bytes    those tables of the levels PageTables counts here
        kernel_pagetables_bytes   /proc/meminfo PageTables after - before, less the
                                  VmPTE change of every other process meanwhile
        groups[i].model_vmpte     ptcalc.model.tables VmPTE of one process of the group
        groups[i].kernel_vmpte    /proc/PID/status VmPTE after - before, per process
    """

    title: str
    source: str
    scale: int
    workload: Workload
    """The workload that ran (scaled when ``scale`` > 1)."""
    kernel: str
    scheme: str
    calibration: Calibration
    levels: tuple[LevelRow, ...]
    model_pagetables_bytes: int
    kernel_pagetables_bytes: int
    others_adjust_bytes: int
    """VmPTE change of every other process during the run (ptcalc's own included), subtracted."""
    groups: tuple[GroupMeasurement, ...]
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    """Why the workload could not be reproduced as written (the kernel could not
    allocate THPs): nothing can be compared, the verdict is inconclusive."""
    noise: tuple[str, ...] = ()
    """Why the PageTables growth could not be trusted (``ptcalc.linux.readings``):
    it is not compared; VmPTE, exact, still is."""
    transitions: tuple[int | None, ...] = ()
    """The PageTables growth each mapping and unmapping of the workload showed."""
    repaired: tuple[Repaired, ...] = ()
    """What earlier runs killed with SIGKILL had left, put back first."""
    elapsed: float = 0.0
    model: SchemeResult | None = field(default=None, compare=False)

    @property
    def pagetables_agree(self) -> bool:
        return self.model_pagetables_bytes == self.kernel_pagetables_bytes

    @property
    def counted_table_bytes(self) -> int | None:
        """Bytes of one table of the levels the PageTables delta counts (4 KiB on
        x86-64; the page size on arm64), None if those levels' tables differ in size."""
        sizes = {lv.table_bytes for lv in self.workload.arch.levels
                 if any(row.level == lv.name and row.counted for row in self.levels)}
        return sizes.pop() if len(sizes) == 1 else None

    @property
    def verdict(self) -> str:
        """``agree``, ``disagree``, or ``inconclusive`` (``problems``, ``noise``).

        In this order: a reproduction that is not the workload compares
        nothing; a VmPTE that differs is a difference whatever the rest (it
        is exact: only its own process changes it); a PageTables growth that
        could not be trusted is inconclusive, never a difference.
        """
        if self.problems:
            return "inconclusive"
        if not all(g.agree for g in self.groups):
            return "disagree"
        if self.noise:
            return "inconclusive"
        return "agree" if self.pagetables_agree else "disagree"

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the verdict is inconclusive (empty otherwise)."""
        return self.problems + self.noise if self.verdict == "inconclusive" else ()

    def differences(self) -> list[str]:
        """One line per compared figure where the kernel differs from the model
        (PageTables only when its growth could be trusted)."""
        out = []
        if not self.pagetables_agree and not self.noise:
            out.append(f"PageTables: model {self.model_pagetables_bytes // KiB:,} KiB, "
                       f"kernel {self.kernel_pagetables_bytes // KiB:,} KiB")
        for g in self.groups:
            if not g.agree:
                seen = ", ".join(f"{v // KiB:,} KiB x {n}" for v, n in g.kernel_values())
                out.append(f"VmPTE of {g.name}: model {g.model_vmpte // KiB:,} KiB, kernel {seen}")
        return out


# --------------------------------------------------------------------------- checks


def check_supported(fs: ProcFS, w: Workload) -> None:
    """Refuse what measure cannot reproduce faithfully on this machine."""
    arch = running_arch(fs)
    if arch is None:
        raise KernelError(f"measure runs on x86-64 Linux only (this is {fs.machine()})")
    running = arch.name
    if running != "x86_64":
        raise KernelError(f"measure supports 4-level x86-64 paging only; this kernel uses {running}")
    if w.arch.name != running:
        raise UsageError(f"{w.source}: host.arch is {w.arch.name} but this machine is {running}; "
                         "measure reproduces the workload on the running kernel")
    base = format_size(w.arch.base_page)
    for name, seg in w.segments.items():
        if seg.backing in ("shmem", "file") and seg.page_size not in (w.arch.base_page, w.arch.pmd_size):
            raise UsageError(f"{w.source}: segments.{name}: {seg.backing} with {format_size(seg.page_size)} "
                             "pages does not exist in Linux")
        if seg.backing == "file" and seg.page_size != w.arch.base_page:
            raise UsageError(f"{w.source}: segments.{name}: measure maps file segments with {base} pages only")
    for gi, g in enumerate(w.groups):
        for mi, m in enumerate(g.mappings):
            if m.userfaultfd != "none":
                raise UsageError(f"{w.source}: {origin(w, gi, mi)}: measure does not register userfaultfd "
                                 f"(userfaultfd: {m.userfaultfd}); remove it to measure the rest")
        for j, p in enumerate(g.private_mappings):
            if p.kind == "file" and p.page_size != w.arch.base_page:
                # a PMD-mapped page-cache folio depends on the filesystem and
                # readahead, not on what measure can ask for
                raise UsageError(f"{w.source}: {origin(w, gi, len(g.mappings) + j)}: measure maps private file "
                                 f"mappings with {base} pages only")


def moved_notes(w: Workload, moves: list[tuple[int, int, int]]) -> list[str]:
    """What ``relocate_workload`` moved, for the report."""
    span = window_span(w)
    return [f"the mappings in {format_size(n * span)} at {first * span:#x} are measured at {at * span:#x} "
            f"(the measuring process has memory in that window; moved whole, every table count is the same)"
            for first, at, n in moves]


def _thp_changes(fs: ProcFS, w: Workload) -> list[tuple[str, str]]:
    """The THP settings to change so shmem THP segments get PMD-mapped THPs."""
    if not any(s.backing == "shmem" and s.page_size == w.arch.pmd_size for s in w.segments.values()):
        return []
    return shmem_thp_changes(fs, w.arch.pmd_size)


def check_tunables(fs: ProcFS, w: Workload, p: Plan) -> None:
    """Before anything runs: this kernel has the hugetlb sizes and THP the
    workload needs, and we may change pools and settings and fold the
    kernel's per-CPU counters (root)."""
    supported = fs.hugetlb_sizes()
    for ps, n in sorted(p.hugetlb_pages.items()):
        if ps not in supported:
            raise KernelError(f"{w.source}: this kernel has no hugetlb pages of {format_size(ps)} "
                              f"({hugetlb_pool_path(ps)} does not exist)")
        if not is_root():
            raise KernelError(f"{w.source}: measure needs root to raise the {format_size(ps)} hugetlb pool by "
                              f"{n:,} pages ({hugetlb_pool_path(ps)}); run it as root")
    changes = _thp_changes(fs, w)
    if changes and not is_root():
        raise KernelError(f"{w.source}: measure needs root to enable shmem THP "
                          f"({', '.join(f'{path} = {value}' for path, value in changes)}); run it as root")
    if not is_root():
        # without vmstat_refresh() per-CPU deltas of NR_PAGETABLE reach
        # /proc/meminfo late and not at all below their thresholds: a delta of
        # a few tables would be read wrong
        raise KernelError(f"{w.source}: measure needs root to read PageTables exactly (it folds the "
                          "per-CPU counters through /proc/sys/vm/stat_refresh); run it as root")


def apply_tunables(w: Workload, t: Tunables, p: Plan, say: Progress, phase: Phase = lambda p: None) -> list[str]:
    """Raise hugetlb pools and enable shmem THP as the workload needs, through
    ``t`` (which puts everything back); returns notes for the report.
    ``phase`` is told ``pools`` after the first pool is raised, ``thp`` after
    the first THP setting is changed."""
    notes = []
    for ps, n in sorted(p.hugetlb_pages.items()):
        old = read_hugetlb_pool(t.fs, ps)
        # add to whatever is there: other users of the pool keep their pages
        t.set(hugetlb_pool_path(ps), str(old + n))
        phase("pools")
        got = read_hugetlb_pool(t.fs, ps) - old
        if got < n:
            raise KernelError(f"{w.source}: could raise the {format_size(ps)} hugetlb pool by only {got:,} of the "
                              f"{n:,} pages needed ({format_size(n * ps)}): not enough free "
                              f"{'contiguous ' if ps >= GiB else ''}memory; try --scale")
        say(f"raised the {format_size(ps)} hugetlb pool from {old:,} to {old + n:,} pages")
        notes.append(f"hugetlb {format_size(ps)} pool raised by {n:,} pages for the run, then restored to {old:,}")
    changes = _thp_changes(t.fs, w)
    for path, value in changes:
        t.set(path, value)
        phase("thp")
        say(f"set {path} to {value}")
    if changes:
        notes.append("shmem THP enabled for MADV_HUGEPAGE mappings for the run "
                     "(" + ", ".join(f"{path} = {value}" for path, value in changes) + "), then restored")
    return notes


@contextmanager
def _cleanup_uninterrupted(stack: ExitStack) -> Iterator[ExitStack]:
    """Run ``stack``'s cleanup with SIGINT/SIGTERM held off until it is done."""
    try:
        yield stack
    finally:
        with signals_deferred():
            stack.close()


# --------------------------------------------------------------------------- measure


def file_notes(fs: ProcFS, w: Workload, p: Plan, file_dir: str | None) -> list[str]:
    """Say what backs ``file`` segments; refuse a directory without the space."""
    if not any(s.backing == "file" for s in w.segments.values()):
        return []
    if file_dir is None:
        return [f"file segments are mapped as shmem (a memfd) standing in for page cache: the same "
                f"{format_size(w.arch.base_page)} page tables"]
    fstype = fs.filesystem_type(file_dir) or "unknown filesystem"
    st = os.statvfs(file_dir)
    free = st.f_bavail * st.f_frsize
    if p.file_write_bytes > free:
        raise KernelError(f"{w.source}: file segments would write {format_size(p.file_write_bytes)} to "
                          f"{file_dir} ({fstype}), which has {format_size(free)} free; use --file-dir or "
                          "--file-as-shmem")
    what = " (tmpfs: that is shmem too)" if fstype == "tmpfs" else ""
    return [f"file segments are real files on {fstype} in {file_dir}{what}, unlinked and gone at the end"]


def default_model(w: Workload) -> SchemeResult:
    from ptcalc.model.evaluate import CONFIGURED, Options, evaluate

    return evaluate(w, Options(schemes=(SCHEME,), columns=CONFIGURED)).selected_cell(SCHEME).result


def suggest_scale(w: Workload, model: Model, meminfo: dict[str, int]) -> int | None:
    """The smallest power-of-two --scale at which ``w`` fits this machine."""
    n = 2
    while n <= 1 << 20:
        s = scale_workload(w, n)
        if fits(plan(s, model(s)), meminfo):
            return n
        n *= 2
    return None


def run(workload: Workload, *, scale: int = 1, model: Model | None = None, file_dir: str | None = None,
        settle: float = 0.5, progress: Progress | None = None, warn: Progress | None = None,
        fs: ProcFS | None = None, phase: Phase | None = None) -> MeasureResult:
    """Reproduce ``workload`` on the running kernel and compare with the model.

    ``file_dir``: where ``file`` segments get a real (unlinked) file; None
    maps them as shmem instead.  ``progress`` gets what is happening,
    ``warn`` a tunable that could not be put back (on every exit path).
    ``fs``: where /proc and /sys are (the real ones by default).  ``phase``
    is told each phase once something of it is done: ``pools`` (a hugetlb
    pool raised), ``thp``, ``forking`` (a process forked), ``reading`` (a
    PageTables reading begins), ``mapping`` (a process mapped the
    workload), ``unmapping``.
    Raises PtcalcError (exit 2) when it cannot measure, and
    ``ptcalc.linux.signals.Interrupted`` on SIGINT/SIGTERM/SIGHUP -- after
    putting every pool and THP setting back and reaping every process.
    First puts back what earlier runs killed with SIGKILL left
    (``ptcalc.linux.runstate``).
    """
    fs = fs or ProcFS()
    say = progress or (lambda s: None)
    step = phase or (lambda p: None)
    model = model or default_model
    started = time.monotonic()
    repaired: list[Repaired] = []
    if fs.is_live and is_root():
        repaired = repair(fs)
        for r in repaired:
            say(f"put back what measure pid {r.pid} left when it was killed")
    w = scale_workload(workload, scale)
    check_supported(fs, w)
    result = model(w)
    p = plan(w, result)
    meminfo = fs.meminfo()
    if not fits(p, meminfo):
        n = suggest_scale(workload, model, meminfo) if scale == 1 else None
        hint = f"; try --scale {n}" if n else "; use a larger --scale"
        if p.processes > MAX_PROCESSES:
            raise UsageError(f"{w.source}: {p.processes:,} processes is more than measure forks "
                             f"({MAX_PROCESSES:,} at most){hint}")
        raise KernelError(f"{w.source}: reproducing this workload needs about {format_size(p.total)} "
                          f"({p.describe()}) but only {format_size(meminfo.get('MemAvailable', 0))} is "
                          f"available, less a {format_size(_margin(meminfo))} margin: "
                          f"{format_size(shortfall(p, meminfo))} short; nothing was changed{hint}")
    # the workload's windows clear of the measuring process's own memory
    # (whose page tables exist already): moved whole, every table count kept
    # (the model's result is the same for the moved workload)
    w, moves = relocate_workload(w, [(v.start, v.end) for v in fs.maps("self")])
    check_tunables(fs, w, p)
    notes = file_notes(fs, w, p, file_dir) + moved_notes(w, moves)
    journal = Journal(fs)
    tunables = Tunables(fs, before_write=journal.tunable)
    try:
        with signals_as_exceptions():
            if fs.is_live:
                journal.open()
            cal = calibrate(fs, w.arch, settle, say)
            with _cleanup_uninterrupted(ExitStack()) as stack:
                stack.enter_context(tunables)
                notes += apply_tunables(w, tunables, p, say, step)
                segs = stack.enter_context(Segments())
                segs.open(w, file_dir)
                raw = reproduce(fs, w, segs.fds, cal.pgd_bytes, cal.pud_counted, settle, say, step,
                                journal.children)
    finally:
        for problem in tunables.restore_problems:
            (warn or say)(f"warning: {problem}")
        if not tunables.restore_problems:
            journal.close()
    notes += tunables.restore_problems
    return _compare(workload, w, scale, result, cal, raw, notes, time.monotonic() - started, fs.kernel_release(),
                    tuple(repaired))


def counted_levels(cal: Calibration) -> dict[str, tuple[bool, str]]:
    """Per level: is it part of this kernel's PageTables delta, and why (not)."""
    pud = ("counted" if cal.pud_counted else
           "not counted: this kernel's PageTables counts PTE and PMD tables only (calibration)")
    return {
        "pte": (True, "counted"),
        "pmd": (True, "counted"),
        "pud": (cal.pud_counted, pud),
        "p4d": (False, "folded on 4-level paging"),
        "pgd": (False, "not in the delta: every process's PGD exists before the baseline"),
    }


def _compare(original: Workload, w: Workload, scale: int, result: SchemeResult, cal: Calibration, raw: Raw,
             notes: list[str], elapsed: float, kernel: str, repaired: tuple[Repaired, ...] = ()) -> MeasureResult:
    counted = counted_levels(cal)
    table_bytes = {lv.name: lv.table_bytes for lv in w.arch.levels}
    levels = tuple(LevelRow(name, result.tables[name], counted[name][0], counted[name][1])
                   for name in result.tables)
    model_pt = sum(row.model_tables * table_bytes.get(row.level, 0) for row in levels if row.counted)
    groups = tuple(GroupMeasurement(g.name, g.count, gr.vmpte_bytes, raw.vmpte[gi])
                   for gi, (g, gr) in enumerate(zip(w.groups, result.groups, strict=True)))
    if raw.others_adjust:
        notes.append(f"other processes (ptcalc's own included) changed PageTables by {raw.others_adjust // KiB:,} KiB "
                     "during the run (their VmPTE, and PGDs of those that started or exited); subtracted")
    if len(raw.transitions) > 1:
        seen = ", ".join("-" if d is None else f"{d // KiB:,} KiB" for d in raw.transitions)
        notes.append(f"PageTables growth as the workload was mapped, unmapped, mapped ...: {seen}")
    if scale != 1:
        notes.insert(0, f"scaled 1/{scale}: {SCALE_RULE}")
    return MeasureResult(
        title=original.title, source=original.source, scale=scale, workload=w, kernel=kernel,
        scheme=SCHEME, calibration=cal, levels=levels, model_pagetables_bytes=model_pt,
        kernel_pagetables_bytes=raw.pagetables_delta, others_adjust_bytes=raw.others_adjust, groups=groups,
        notes=tuple(notes), problems=raw.thp_problems, noise=raw.noise, transitions=raw.transitions,
        repaired=repaired, elapsed=elapsed, model=result)
