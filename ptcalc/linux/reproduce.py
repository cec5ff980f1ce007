"""Run a workload on the live kernel and read what it accounted.

``ptcalc.linux.measure`` decides what to run and compares; this module runs it:
segments as memfds, one forked process per workload process, and the
readings of VmPTE and PageTables (``ptcalc.linux.readings``, through one
``ptcalc.linux.procfs.ProcFS``).  ``ptcalc.linux.calibrate`` uses the same
pieces to find out what this kernel's PageTables counts.

    step                             kernel side
    -------------------------------  -----------------------------------------------
    segment                          memfd_create (MFD_HUGETLB | size flag) + ftruncate
    process                          fork(); the child waits for SIGUSR1 (sigwait)
    mapping                          mmap(MAP_SHARED | MAP_FIXED_NOREPLACE) at its address
    touched range                    madvise(MADV_POPULATE_READ / MADV_POPULATE_WRITE)
    unmapping (to read again)        munmap: free_pgtables() frees the tables of a
                                     window no other mapping uses
    VmPTE of a process               /proc/PID/status, before and after it maps
    PageTables of the machine        /proc/meminfo, settled, less other processes' share,
                                     with the workload mapped and unmapped in turn
                                     until two cycles agree (``readings.Cycles``)

A child allocates nothing between the two readings of its VmPTE: it builds
everything it needs and runs every code path once before it reports ready (a
forked child faults in text pages -- and page tables for them -- on first use).
Each SIGUSR1 after the first toggles it: unmap everything, map it again, ...
"""

from __future__ import annotations

import errno as errno_mod
import gc
import os
import select
import signal
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from ptcalc.linux.errors import KernelError, ProcessError
from ptcalc.linux.parsers import SmapsEntry, pmd_mapped_bytes
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.readings import MAX_ROUNDS, Cycles, Explained, explained_by_vmpte, settle_pagetables
from ptcalc.linux.signals import signals_deferred
from ptcalc.linux.syscalls import (
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    MADV_POPULATE_READ,
    MADV_POPULATE_WRITE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    madvise,
    memfd_create,
    mmap_fixed,
    munmap,
    set_comm,
    set_parent_death_signal,
)
from ptcalc.linux.tunables import read_hugetlb_pool
from ptcalc.units import format_size
from ptcalc.workload.types import ProcessGroup, Workload

Progress = Callable[[str], None]
Spawned = Callable[[str, list[int]], None]
"""Told the name (comm) and pids of the measuring processes once forked
(``ptcalc.linux.runstate.Journal.children``)."""
Phase = Callable[[str], None]
"""Told each phase of a run once something of it is done (``ptcalc.linux.measure.run``)."""

# --------------------------------------------------------------------------- children

_REC = struct.Struct("<iiii")  # child index, kind, mapping index, errno
READY, DONE, FAIL_MMAP, FAIL_ADVISE, FAIL_POPULATE, UNMAPPED, FAIL_UNMAP = 1, 2, 3, 4, 5, 6, 7

ChildOp = tuple[int, int, int, int, int, int, int, tuple[tuple[int, int], ...], int]
"""(address, size, prot, fd, offset, THP advice or 0, populate advice or 0, ((address, length), ...),
private: 1 for MAP_PRIVATE (of ``fd``, or anonymous with ``fd`` -1))."""


def _child(index: int, ops: tuple[ChildOp, ...], rec_w: int, parent: int, comm: str) -> None:
    """A measuring process: warm up, report ready, wait for SIGUSR1, map and
    populate, report; on each SIGUSR1 after that unmap everything or map it
    again, and report; until it is killed.  Never returns."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills us
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        set_parent_death_signal()
        if os.getppid() != parent:
            os._exit(1)
        set_comm(comm)
        gc.disable()
        pack = _REC.pack
        waitset = {signal.SIGUSR1}
        ready = pack(index, READY, -1, 0)
        done = pack(index, DONE, -1, 0)
        unmapped = pack(index, UNMAPPED, -1, 0)
        spans = tuple((op[0], op[1]) for op in ops)

        def work() -> bytes:
            for i, (addr, size, prot, fd, off, thp, pop, ranges, private) in enumerate(ops):
                e = mmap_fixed(addr, size, prot, fd, off, private)
                if e:
                    return pack(index, FAIL_MMAP, i, e)
                if thp:
                    e = madvise(addr, size, thp)
                    if e:
                        return pack(index, FAIL_ADVISE, i, e)
                for a, n in ranges:
                    e = madvise(a, n, pop)
                    if e:
                        return pack(index, FAIL_POPULATE, i, e)
            return done

        def undo() -> bytes:
            for i, (addr, size) in enumerate(spans):
                e = munmap(addr, size)
                if e:
                    return pack(index, FAIL_UNMAP, i, e)
            return unmapped

        # warm-up: the same calls, with arguments that do nothing
        for _ in range(2):
            mmap_fixed(0, 0, PROT_NONE, -1, 0)  # EINVAL: length 0
            madvise(0, 0, MADV_POPULATE_WRITE)
            munmap(0, 0)  # EINVAL: length 0
            pack(index, FAIL_MMAP, 0, 0)
            signal.sigtimedwait(waitset, 0)
        os.write(rec_w, ready)
        while True:
            signal.sigwait(waitset)
            os.write(rec_w, work())
            signal.sigwait(waitset)
            os.write(rec_w, undo())
    except BaseException:
        pass
    finally:
        os._exit(0)


class Children:
    """The forked measuring processes; killed and reaped on exit, always.

    Children report on one shared pipe (fixed-size records, atomic below
    PIPE_BUF) and are told to go with SIGUSR1, so thousands of them need two
    file descriptors, not thousands.
    """

    def __init__(self, comm: str, on_spawned: Spawned | None = None) -> None:
        self.comm = comm
        self._on_spawned = on_spawned
        self.pids: list[int] = []
        self._ready = 0
        self._records: dict[int, tuple[int, int, int]] = {}
        self._buf = b""
        self._r, self._w = os.pipe()
        # children wait for SIGUSR1 with sigwait(): block it before fork so
        # none is lost (the parent never receives one)
        self._old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})

    def __enter__(self) -> Children:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def spawn(self, ops: tuple[ChildOp, ...]) -> int:
        """Fork one measuring process that will run ``ops``; its index."""
        index = len(self.pids)
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError as e:
            raise KernelError(f"fork failed after {index:,} measuring processes: {e.strerror} "
                              "(process limits, or memory; try --scale)") from None
        if pid == 0:
            os.close(self._r)
            _child(index, ops, self._w, parent, self.comm)
        self.pids.append(pid)
        return index

    def _poll(self, timeout: float) -> None:
        ready, _, _ = select.select([self._r], [], [], timeout)
        if ready:
            self._buf += os.read(self._r, 65536)
            while len(self._buf) >= _REC.size:
                idx, kind, mi, err = _REC.unpack(self._buf[:_REC.size])
                self._buf = self._buf[_REC.size:]
                self._records[idx] = (kind, mi, err)

    def _check_alive(self, index: int) -> None:
        pid = self.pids[index]
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            got, status = pid, 0
        if got == pid:
            self.pids[index] = -1
            raise KernelError(f"measuring process {index} (pid {pid}) died unexpectedly "
                              f"(wait status {status:#x}); the machine may be out of memory")

    def wait(self, index: int) -> tuple[int, int, int]:
        """The next record of child ``index``: (kind, mapping index, errno)."""
        while index not in self._records:
            self._poll(1.0)
            if index not in self._records:
                self._check_alive(index)
        return self._records.pop(index)

    def wait_ready(self) -> None:
        """Wait until every child forked since the last call reported ready;
        ``on_spawned`` learns their name and every pid first."""
        if self._on_spawned is not None:
            self._on_spawned(self.comm, list(self.pids))
        for i in range(self._ready, len(self.pids)):
            kind, _, _ = self.wait(i)
            if kind != READY:  # pragma: no cover - the child protocol broke
                raise KernelError(f"measuring process {i} sent {kind} instead of ready")
        self._ready = len(self.pids)

    def go(self, index: int) -> None:
        os.kill(self.pids[index], signal.SIGUSR1)

    def close(self) -> None:
        """SIGKILL and reap every child, close the pipe, restore the signal mask
        (SIGINT/SIGTERM arriving meanwhile wait until it is done)."""
        with signals_deferred():
            self._close()

    def _close(self) -> None:
        for pid in self.pids:
            if pid > 0:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pid in self.pids:
            if pid > 0:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        self.pids = []
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._r = self._w = -1
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old_mask)


# --------------------------------------------------------------------------- segments


class Segments:
    """One memfd (or unlinked real file) per segment; closed on exit."""

    PRIVATE_FILE = "\0private file"
    """The key of the file private file mappings map (``fds``): one memfd
    as large as the largest of them, mapped MAP_PRIVATE and read, as a
    program's text and libraries are."""

    def __init__(self) -> None:
        self.fds: dict[str, int] = {}

    def __enter__(self) -> Segments:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def open(self, w: Workload, file_dir: str | None) -> None:
        """Create every segment: hugetlb memfds of its page size, shmem memfds
        (base pages or THP: the mapping decides), real files in ``file_dir``."""
        for name, seg in w.segments.items():
            if seg.backing == "hugetlb":
                self.fds[name] = memfd_create(f"ptcalc:{name}", seg.size, seg.page_size)
            elif seg.backing == "file" and file_dir is not None:
                try:
                    fd, path = tempfile.mkstemp(prefix=f"ptcalc-{name}-", dir=file_dir)
                except OSError as e:
                    raise KernelError(f"segments.{name}: cannot create a file in {file_dir}: {e.strerror}") from None
                os.unlink(path)  # gone when the last reference goes
                self.fds[name] = fd
                try:
                    os.ftruncate(fd, seg.size)
                except OSError as e:
                    raise KernelError(f"segments.{name}: cannot size a file in {file_dir}: {e.strerror}") from None
            else:
                self.fds[name] = memfd_create(f"ptcalc:{name}", seg.size)
        largest = max((p.size for g in w.groups for p in g.private_mappings if p.kind == "file"), default=0)
        if largest:
            self.fds[self.PRIVATE_FILE] = memfd_create("ptcalc:private-file", largest)

    def close(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()


def _prot(protection: str) -> tuple[int, int]:
    """(mmap protection, MADV_POPULATE_* advice or 0) for a workload protection."""
    if protection == "rw":
        return PROT_READ | PROT_WRITE, MADV_POPULATE_WRITE
    if protection == "r":
        return PROT_READ, MADV_POPULATE_READ
    return PROT_NONE, 0


def child_ops(w: Workload, g: ProcessGroup, fds: dict[str, int]) -> tuple[ChildOp, ...]:
    """What a process of group ``g`` does, as plain integers."""
    pmd_size = w.arch.pmd_size
    ops: list[ChildOp] = []
    for m in g.mappings:
        seg = w.segments[m.segment]
        prot, pop = _prot(m.protection)
        if seg.backing == "hugetlb":
            thp = 0
        elif seg.page_size == pmd_size:
            thp = MADV_HUGEPAGE  # shmem THP: shmem_enabled=advise honours VM_HUGEPAGE
        else:
            thp = MADV_NOHUGEPAGE  # base pages even where shmem_enabled=always
        ranges = tuple((m.address + s, e - s) for s, e in m.touched) if pop else ()
        ops.append((m.address, m.size, prot, fds[m.segment], m.offset, thp, pop, ranges, 0))
    for p in g.private_mappings:
        # a process's own mappings: anonymous memory (heap, stack; THP where
        # PMD_SIZE pages: MADV_HUGEPAGE, which keeps a deposited PTE table --
        # and if no THP can be had the 4 KiB pages need the same PTE table),
        # and private file mappings read (text, libraries), from one memfd
        thp = MADV_HUGEPAGE if p.page_size == pmd_size else MADV_NOHUGEPAGE
        ranges = tuple((p.address + s, e - s) for s, e in p.touched)
        if p.kind == "file":
            ops.append((p.address, p.size, PROT_READ, fds[Segments.PRIVATE_FILE], 0, thp, MADV_POPULATE_READ,
                        ranges, 1))
        else:
            ops.append((p.address, p.size, PROT_READ | PROT_WRITE, -1, 0, thp, MADV_POPULATE_WRITE, ranges, 1))
    return tuple(ops)


def origin(w: Workload, gi: int, mi: int) -> str:
    """The key path of mapping ``mi`` of group ``gi`` for messages (after its
    shared mappings, ``child_ops`` lists its private ones)."""
    g = w.groups[gi]
    if mi >= len(g.mappings):
        j = mi - len(g.mappings)
        return g.private_mappings[j].origin or f"processes[{gi}].private_mappings[{j}]"
    m = g.mappings[mi]
    return m.origin or f"processes[{gi}].mappings[{mi}]"


_ERRNO_HINT = {
    errno_mod.EEXIST: "something is already mapped there in the measuring process",
    errno_mod.ENOMEM: "out of memory (for hugetlb: the pool has too few free pages)",
    errno_mod.EINVAL: "invalid argument (MADV_POPULATE_READ/WRITE need Linux 5.14 or later)",
    errno_mod.EFAULT: "the range could not be populated",
}


def failure(fs: ProcFS, w: Workload, gi: int, kind: int, mi: int, err: int) -> KernelError:
    """What a measuring process reported going wrong, as one located message."""
    what = {FAIL_MMAP: "mmap(MAP_FIXED_NOREPLACE)", FAIL_ADVISE: "madvise(MADV_[NO]HUGEPAGE)",
            FAIL_POPULATE: "madvise(MADV_POPULATE_READ/WRITE)", FAIL_UNMAP: "munmap"}.get(kind, f"step {kind}")
    name = errno_mod.errorcode.get(err, str(err))
    hint = _ERRNO_HINT.get(err, os.strerror(err))
    g = w.groups[gi]
    if mi >= len(g.mappings):  # one of the process's own mappings
        p = g.private_mappings[mi - len(g.mappings)]
        return KernelError(f"{w.source}: {origin(w, gi, mi)}: {what} of {format_size(p.size)} of private "
                           f"{p.kind} memory at {p.address:#x} failed: {name}, {hint}")
    m = g.mappings[mi]
    seg = w.segments[m.segment]
    if err == errno_mod.ENOMEM and seg.backing == "hugetlb":
        try:
            free = read_hugetlb_pool(fs, seg.page_size, "free_hugepages")
            resv = read_hugetlb_pool(fs, seg.page_size, "resv_hugepages")
            hint = (f"the {format_size(seg.page_size)} hugetlb pool has {free - resv:,} unreserved free pages "
                    "now; did another program take pages from it, or shrink it, meanwhile?")
        except KernelError:
            pass
    return KernelError(f"{w.source}: {origin(w, gi, mi)}: {what} of {format_size(m.size)} of segment "
                       f"{m.segment!r} at {m.address:#x} failed: {name}, {hint}")


# --------------------------------------------------------------------------- one reproduction


@dataclass(frozen=True)
class Raw:
    """What the kernel showed for one reproduction."""

    vmpte: tuple[tuple[int, ...], ...]
    """Per group, per process: VmPTE growth when it first mapped the workload, bytes."""
    pagetables_delta: int
    """PageTables growth less what other processes' VmPTE (and PGDs) changed by:
    the trusted one (``readings.Cycles``), else the first mapping's."""
    others_adjust: int
    """That correction, bytes."""
    transitions: tuple[int | None, ...]
    """The growth each mapping and unmapping showed, in order (None: did not settle)."""
    noise: tuple[str, ...]
    """Why the PageTables growth cannot be trusted (empty: it can)."""
    thp_problems: tuple[str, ...]


def _check_thp(fs: ProcFS, w: Workload, pid: int, gi: int) -> list[str]:
    """Did the kernel map shmem THP segments with PMDs, and base-page ones without?"""
    pmd_size = w.arch.pmd_size
    try:
        vmas: list[SmapsEntry] = fs.smaps(pid)
    except (ProcessError, OSError) as e:
        if any(w.segments[m.segment].page_size == pmd_size and w.segments[m.segment].backing != "hugetlb"
               for m in w.groups[gi].mappings):
            why = e.reason if isinstance(e, ProcessError) else e.strerror
            return [f"cannot read /proc/{pid}/smaps to check that shmem THPs were PMD-mapped: {why}"]
        return []
    problems = []
    for mi, m in enumerate(w.groups[gi].mappings):
        seg = w.segments[m.segment]
        if seg.backing == "hugetlb" or m.protection == "none":
            continue
        got = pmd_mapped_bytes(vmas, m.address, m.end)
        want = m.touched_bytes if seg.page_size == pmd_size else 0
        if got == want:
            continue
        if want:
            problems.append(f"{origin(w, gi, mi)}: the kernel could not allocate THPs for segment "
                            f"{m.segment!r}: {format_size(got)} of {format_size(want)} touched is "
                            "PMD-mapped (memory too fragmented?); the rest has PTE tables the model "
                            "does not expect")
        else:
            problems.append(f"{origin(w, gi, mi)}: the kernel PMD-mapped {format_size(got)} of segment "
                            f"{m.segment!r}, which should use {format_size(w.arch.base_page)} pages "
                            "(shmem_enabled=force?)")
    return problems


class Rounds:
    """Map the workload in every child, one at a time, and unmap it again,
    reading each child's VmPTE after it acts and PageTables after all have,
    until ``readings.Cycles`` trusts the growth (``MAX_ROUNDS`` mappings at
    most).  Used by ``reproduce`` and by the calibration."""

    def __init__(self, fs: ProcFS, w: Workload, kids: Children, groups_of: list[int], settle: float,
                 pgd_bytes: int, say: Progress, phase: Phase, timeout: float = 30.0) -> None:
        self.fs, self.w, self.kids, self.groups_of = fs, w, kids, groups_of
        self.settle, self.say, self.phase, self.timeout = settle, say, phase, timeout
        self.cycles = Cycles(pgd_bytes)
        self.growth: list[int] = []
        """VmPTE growth of every child the first time it mapped."""
        self.noise: list[str] = []
        self.base: list[int] = []

    def _read(self, what: str) -> None:
        self.phase("reading")
        self.say(f"waiting for PageTables to settle ({what})")
        reading, ok = settle_pagetables(self.fs, self.settle, self.cycles.pgd_bytes, skip=set(self.kids.pids),
                                        timeout=self.timeout)
        self.cycles.add(reading if ok else None)

    def _toggle(self, want: int, phase: str) -> list[int]:
        """Tell each child in turn to map (``want`` DONE) or unmap (UNMAPPED); VmPTE of each after."""
        out = []
        for i, gi in enumerate(self.groups_of):
            self.kids.go(i)
            kind, mi, err = self.kids.wait(i)
            if kind != want:
                raise failure(self.fs, self.w, gi, kind, mi, err)
            out.append(self.fs.vmpte(self.kids.pids[i]))
            if i == 0:
                self.phase(phase)
        return out

    def run(self, explain: Callable[[list[int]], Explained | None], first: Callable[[], None] = lambda: None) -> Cycles:
        """Read the baseline, then map and unmap in turn; ``explain`` gets the
        first mapping's VmPTE growth of every child, ``first`` is called while
        the workload is mapped the first time."""
        w = self.w
        self.base = [self.fs.vmpte(self.kids.pids[i]) for i in range(len(self.groups_of))]
        self._read("baseline")
        faults = sum(g.count * sum(m.touched_bytes // w.segments[m.segment].page_size
                                   for m in g.mappings if m.protection != "none") for g in w.groups)
        for n in range(MAX_ROUNDS):
            if n == 0:
                self.say(f"mapping and populating ({faults:,} page faults)")
            else:
                self.say(f"mapping again to read PageTables again (round {n + 1} of at most {MAX_ROUNDS})")
            after = self._toggle(DONE, "mapping")
            growth = [a - b for a, b in zip(after, self.base, strict=True)]
            if n == 0:
                self.growth = growth
                self.cycles.explained = explain(growth)
                first()
            elif growth != self.growth:
                self.noise.append(f"mapping the workload again gave {_changed(growth, self.growth)}: "
                                  "PageTables could not be read again")
                break
            self._read("mapped")
            if self.cycles.trusted() is not None or n == MAX_ROUNDS - 1:
                break
            self.say("unmapping, to read PageTables without the workload again")
            back = self._toggle(UNMAPPED, "unmapping")
            if back != self.base:
                self.noise.append(f"unmapping the workload left {_changed(back, self.base)}: PageTables could "
                                  "not be read again")
                break
            self._read("unmapped")
            if self.cycles.trusted() is not None:
                break
        return self.cycles

    def all_noise(self) -> tuple[str, ...]:
        return tuple(self.noise + self.cycles.noise()) if self.cycles.trusted() is None else ()


def _changed(now: list[int], before: list[int]) -> str:
    """``VmPTE 16 KiB, not 12 KiB, in 3 of 15 processes``."""
    diff = [(a, b) for a, b in zip(now, before, strict=True) if a != b]
    a, b = diff[0]
    return (f"a VmPTE of {format_size(a)}, not {format_size(b)}, in {len(diff):,} of {len(now):,} "
            f"process{'es' if len(now) != 1 else ''}")


def _may_share(w: Workload) -> bool:
    """Can the kernel share page tables in ``w``?  hugetlb PMD tables only, for
    2 MiB pages (mm/hugetlb.c ``huge_pmd_share``: between processes, or two
    mappings of the same file range in one)."""
    return any(s.backing == "hugetlb" and s.page_size == w.arch.pmd_size for s in w.segments.values())


def reproduce(fs: ProcFS, w: Workload, fds: dict[str, int], pgd_bytes: int, pud_counted: bool, settle: float,
              say: Progress, phase: Phase = lambda p: None, on_spawned: Spawned | None = None) -> Raw:
    """Fork the workload's processes, map and populate one process at a time,
    and read VmPTE of each and the PageTables growth of the machine (less
    other processes' VmPTE and, where PageTables counts them, ``pgd_bytes``
    per PGD: the calibration's), mapping and unmapping again until that
    growth can be trusted (``readings.Cycles``; ``pud_counted``: the
    calibration's)."""
    groups_of: list[int] = []
    with Children(f"ptcm-{os.getpid()}"[:15], on_spawned) as kids:
        for gi, g in enumerate(w.groups):
            ops = child_ops(w, g, fds)
            for _ in range(g.count):
                kids.spawn(ops)
                groups_of.append(gi)
                if len(groups_of) == 1:
                    phase("forking")
        say(f"started {len(groups_of):,} process{'es' if len(groups_of) != 1 else ''}")
        kids.wait_ready()
        thp: list[str] = []

        def check_thp() -> None:
            first = 0
            for gi, g in enumerate(w.groups):
                if g.count:
                    thp.extend(_check_thp(fs, w, kids.pids[first], gi))
                first += g.count

        rounds = Rounds(fs, w, kids, groups_of, settle, pgd_bytes, say, phase)
        cycles = rounds.run(lambda growth: explained_by_vmpte(growth, pud_counted, _may_share(w)), check_thp)
    vmpte: list[list[int]] = [[] for _ in w.groups]
    for i, gi in enumerate(groups_of):
        vmpte[gi].append(rounds.growth[i])
    seen = cycles.transitions()
    delta = cycles.delta()
    if delta is None:
        delta = seen[0] if seen and seen[0] is not None else 0
    return Raw(tuple(tuple(v) for v in vmpte), delta, cycles.others_adjust(), tuple(seen), rounds.all_noise(),
               tuple(thp))
