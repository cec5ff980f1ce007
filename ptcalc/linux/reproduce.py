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
    VmPTE of a process               /proc/PID/status, before and after it maps
    PageTables of the machine        /proc/meminfo, settled, less other processes' share

A child allocates nothing between the two readings of its VmPTE: it builds
everything it needs and runs every code path once before it reports ready (a
forked child faults in text pages -- and page tables for them -- on first use).
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
from ptcalc.linux.readings import settle_pagetables
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
    set_comm,
    set_parent_death_signal,
)
from ptcalc.linux.tunables import read_hugetlb_pool
from ptcalc.units import format_size
from ptcalc.workload.types import ProcessGroup, Workload

Progress = Callable[[str], None]

# --------------------------------------------------------------------------- children

_REC = struct.Struct("<iiii")  # child index, kind, mapping index, errno
READY, DONE, FAIL_MMAP, FAIL_ADVISE, FAIL_POPULATE = 1, 2, 3, 4, 5

ChildOp = tuple[int, int, int, int, int, int, int, tuple[tuple[int, int], ...]]
"""(address, size, prot, fd, offset, THP advice or 0, populate advice or 0, ((address, length), ...))."""


def _child(index: int, ops: tuple[ChildOp, ...], rec_w: int, parent: int, comm: str) -> None:
    """A measuring process: warm up, report ready, wait for SIGUSR1, map and
    populate, report, then wait to be killed.  Never returns."""
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

        def work() -> bytes:
            for i, (addr, size, prot, fd, off, thp, pop, ranges) in enumerate(ops):
                e = mmap_fixed(addr, size, prot, fd, off)
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

        # warm-up: the same calls, with arguments that do nothing
        for _ in range(2):
            mmap_fixed(0, 0, PROT_NONE, -1, 0)  # EINVAL: length 0
            madvise(0, 0, MADV_POPULATE_WRITE)
            pack(index, FAIL_MMAP, 0, 0)
            signal.sigtimedwait(waitset, 0)
        os.write(rec_w, ready)
        signal.sigwait(waitset)
        os.write(rec_w, work())
        while True:
            signal.sigwait(waitset)
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

    def __init__(self, comm: str) -> None:
        self.comm = comm
        self.pids: list[int] = []
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
        for i in range(len(self.pids)):
            kind, _, _ = self.wait(i)
            if kind != READY:  # pragma: no cover - the child protocol broke
                raise KernelError(f"measuring process {i} sent {kind} instead of ready")

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
        ops.append((m.address, m.size, prot, fds[m.segment], m.offset, thp, pop, ranges))
    return tuple(ops)


def origin(w: Workload, gi: int, mi: int) -> str:
    """The key path of mapping ``mi`` of group ``gi`` for messages."""
    m = w.groups[gi].mappings[mi]
    return m.origin or f"processes[{gi}].mappings[{mi}]"


_ERRNO_HINT = {
    errno_mod.EEXIST: "something is already mapped there in the measuring process",
    errno_mod.ENOMEM: "out of memory (for hugetlb: the pool has too few free pages)",
    errno_mod.EINVAL: "invalid argument (MADV_POPULATE_READ/WRITE need Linux 5.14 or later)",
    errno_mod.EFAULT: "the range could not be populated",
}


def failure(fs: ProcFS, w: Workload, gi: int, kind: int, mi: int, err: int) -> KernelError:
    """What a measuring process reported going wrong, as one located message."""
    m = w.groups[gi].mappings[mi]
    what = {FAIL_MMAP: "mmap(MAP_FIXED_NOREPLACE)", FAIL_ADVISE: "madvise(MADV_[NO]HUGEPAGE)",
            FAIL_POPULATE: "madvise(MADV_POPULATE_READ/WRITE)"}.get(kind, f"step {kind}")
    name = errno_mod.errorcode.get(err, str(err))
    hint = _ERRNO_HINT.get(err, os.strerror(err))
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
    """Per group, per process: VmPTE growth, bytes."""
    pagetables_delta: int
    """PageTables growth less what other processes' VmPTE (and PGDs) changed by."""
    others_adjust: int
    """That correction, bytes."""
    settled: bool
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


def reproduce(fs: ProcFS, w: Workload, fds: dict[str, int], pgd_bytes: int, settle: float,
              say: Progress) -> Raw:
    """Fork the workload's processes, map and populate one process at a time,
    and read VmPTE of each and the PageTables growth of the machine (less
    other processes' VmPTE and, where PageTables counts them, ``pgd_bytes``
    per PGD: the calibration's)."""
    groups_of: list[int] = []
    with Children(f"ptcm-{os.getpid()}"[:15]) as kids:
        for gi, g in enumerate(w.groups):
            ops = child_ops(w, g, fds)
            for _ in range(g.count):
                kids.spawn(ops)
                groups_of.append(gi)
        say(f"started {len(groups_of):,} process{'es' if len(groups_of) != 1 else ''}")
        kids.wait_ready()
        mine = set(kids.pids)
        base = [fs.vmpte(pid) for pid in kids.pids]
        say("waiting for PageTables to settle (baseline)")
        pt0, ok0 = settle_pagetables(fs, settle, pgd_bytes, skip=mine)
        after: list[int] = []
        faults = sum(g.count * sum(m.touched_bytes // w.segments[m.segment].page_size
                                   for m in g.mappings if m.protection != "none") for g in w.groups)
        say(f"mapping and populating ({faults:,} page faults)")
        for i, gi in enumerate(groups_of):
            kids.go(i)
            kind, mi, err = kids.wait(i)
            if kind != DONE:
                raise failure(fs, w, gi, kind, mi, err)
            after.append(fs.vmpte(kids.pids[i]))
        thp: list[str] = []
        first = 0
        for gi, g in enumerate(w.groups):
            if g.count:
                thp += _check_thp(fs, w, kids.pids[first], gi)
            first += g.count
        say("waiting for PageTables to settle")
        pt1, ok1 = settle_pagetables(fs, settle, pgd_bytes, skip=mine)
    vmpte: list[list[int]] = [[] for _ in w.groups]
    for i, gi in enumerate(groups_of):
        vmpte[gi].append(after[i] - base[i])
    delta = pt1.corrected(pgd_bytes) - pt0.corrected(pgd_bytes)
    return Raw(tuple(tuple(v) for v in vmpte), delta, pt1.pagetables - pt0.pagetables - delta,
               ok0 and ok1, tuple(thp))
