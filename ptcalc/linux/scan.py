"""``ptcalc scan``: build a workload of whole processes from the ones running here.

For every process (or the ones asked for) it reads /proc/PID/smaps and which
pages of each mapping have page-table entries (/proc/PID/pagemap:
``ptcalc.linux.scan_read``).  MAP_SHARED mappings of shared memory and files
become segment mappings, each segment identified across processes by the
(device, inode) of its file; every other mapping with pages present becomes
the process's ``private_mappings`` (``ptcalc.linux.scan_private``).  Processes
whose layouts -- both parts -- are identical form one process group with a
count.  The model's VmPTE of each group is then compared with the kernel's
VmPTE of every member (:meth:`ScanResult.vmpte_differences`).  The host comes
from /proc/meminfo, /proc/cpuinfo and /sys (``ptcalc.linux.host``), the
kernel release (``host.kernel``) from /proc/sys/kernel/osrelease.

Processes are read one after another, or with ``jobs`` in that many forked
workers (``ptcalc.linux.scan_jobs``), their readings taken back in PID order:
everything after the reading is the same either way.

Every file is read through one ``ptcalc.linux.procfs.ProcFS`` (``scan(fs=...)``
reads a fake tree as well as the real one); parsing is
``ptcalc.linux.parsers``'; writing YAML is ``ptcalc.workload.writer``'s.

What is modelled (docs/scan.md has the details):

    maps path / VmFlags                 backing   segment name
    ----------------------------------  --------  --------------------------
    /SYSV<key> (deleted)                shmem     sysv-0x<key> (or sysv-shmid-N)
    /memfd:<name> (deleted)             shmem     memfd:<name>
    /dev/zero (deleted)                 shmem     shared-anon-<inode>
    [anon_shmem:<name>]                 shmem     anon_shmem:<name>
    a file on tmpfs                     shmem     its path
    VmFlags ``ht`` (any of the above)   hugetlb   as above; /anon_hugepage -> anon-hugepage-<inode>
    any other file                      file      its path

Shared device and special mappings (VmFlags ``io``/``pf``, ``anon_inode:``,
``/dev/...``, DMA-BUF) are skipped and counted.
"""

from __future__ import annotations

import os
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial

import numpy as np

from ptcalc.errors import PtcalcError
from ptcalc.linux.errors import NoAccess, ProcessGone
from ptcalc.linux.host import high_va_possible, read_host, running_arch
from ptcalc.linux.parsers import ShmSegment, SmapsEntry
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.proctitle import plain_label, printable, process_class
from ptcalc.linux.scan_jobs import jobs_for, read_all
from ptcalc.linux.scan_private import Own, private_kind, private_rows
from ptcalc.linux.scan_read import Method, ModelVmpte, ProcessRead, Reader, VmaRead, read_touched, unseen
from ptcalc.model.accounting import parse_kernel
from ptcalc.model.geometry import Arch
from ptcalc.model.xp import backend
from ptcalc.units import format_size
from ptcalc.workload.touched import Range, as_ranges, fill_blocks, normalise
from ptcalc.workload.types import (Backing, Host, Mapping, PrivateMapping, ProcessGroup, Protection, Segment,
                                   Userfaultfd, Workload)

__all__ = ["DEFAULT_MIN_SIZE", "TOUCHED_MODES", "GroupNote", "ScanResult", "SegmentNote", "classify",
           "protection_of", "read_touched", "scan", "userfaultfd_of"]

TOUCHED_MODES = ("tables", "pages")
"""``tables`` (default): merge gaps that change no table count; ``pages``: exact runs of pages."""

DEFAULT_MIN_SIZE = 1 << 20
"""Shared mappings smaller than this in every process are not segments (1 MiB:
at most a PTE table or two); they are written as the processes' private file
mappings (their tables are each process's own under every scheme: below the
file-cached threshold, no whole 1 GiB window for hugetlb sharing).  glibc maps
gconv-modules.cache MAP_SHARED at a random address in every process using
iconv; as a segment it would need one per address."""

MODEL_CACHE = 256
"""Distinct readings whose model VmPTE a scan keeps (``_process_vmpte``); forked
workers read alike one after another, so a few suffice."""

MAX_LABEL = 160
"""Longest segment name taken from a path (characters)."""

SegKey = tuple[int, int, int]
"""(device major, device minor, inode): a segment's identity across processes."""


@dataclass
class _Shared:
    """One modelled mapping of one process, before the segment is decided."""

    entry: SmapsEntry
    key: SegKey
    backing: Backing
    label: str
    """Readable name from the path (before collision handling)."""
    kind: str
    """sysv, memfd, anon, tmpfs, hugetlbfs, file."""
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Touched byte ranges from the mapping start, at the granularity read."""
    huge_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    huge_ends: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """The ones a huge PMD maps (PMD-mapped THP), when the walk told."""
    cells: bool = False
    """``starts``/``ends`` are the cells holding a page (scan_read.VmaRead.cells), not the pages."""


@dataclass
class _Proc:
    pid: int
    comm: str
    cmdline: str
    shared: list[_Shared]
    owns: list[Own]
    counters: dict[str, int]
    settled: bool
    like: int | None = None
    """The PID of the identical process whose reading this one shares."""

    @property
    def vmpte(self) -> int | None:
        return self.counters.get("VmPTE")


@dataclass(frozen=True)
class SegmentNote:
    """What the scan knows about a segment beyond the workload fields."""

    source: str
    present_bytes: int | None
    """Pages present in the scanned processes, exactly (before coarsening);
    None when some process's mapping was read by cells (``touched="tables"``
    reads a partly present mapping 2 MiB block by block, not page by page)."""


@dataclass(frozen=True)
class GroupNote:
    pids: tuple[int, ...]
    comms: tuple[str, ...]
    vmpte: tuple[int | None, ...]
    """Kernel VmPTE of each process (whole process), as read during the scan (None: not shown)."""
    model_vmpte: int | None = None
    """VmPTE the model gives each process of the group (mainline, ``hugetlb-pmd``)."""
    unsettled: tuple[int, ...] = ()
    """PIDs whose VmPTE moved while they were read, in every attempt."""
    private_rows: int = 0
    """Rows of ``private_mappings`` (touched extents) of each process."""

    def differing(self) -> list[tuple[int, int]]:
        """(pid, kernel VmPTE) of the processes whose VmPTE is not the model's."""
        if self.model_vmpte is None:
            return []
        return [(p, v) for p, v in zip(self.pids, self.vmpte) if v is not None and v != self.model_vmpte]


@dataclass(frozen=True)
class HostPageTables:
    """The machine's PageTables beside the model of a scan of every process:
    what an operator compares (``/proc/meminfo``, in bytes)."""

    before: int
    """PageTables as the scan started."""
    after: int
    """PageTables as it ended."""
    model: int
    """The scanned file's model, as this kernel's PageTables counts (the
    configured workload, mainline ``hugetlb-pmd``: ``Cell.pagetables_bytes``)."""
    scanner: int | None
    """The scanning process's own tables (VmPTE and its PGD), which the
    kernel counts and the file leaves out; None when unreadable."""


@dataclass
class ScanResult:
    """A scanned workload and what the YAML header says about the scan."""

    workload: Workload
    hostname: str
    when: datetime
    kernel: str
    touched_mode: str
    processes_read: int
    skipped: Counter[str]
    """Unreadable processes by reason (``vanished``, ``permission denied``)."""
    segment_notes: dict[str, SegmentNote]
    group_notes: list[GroupNote]
    ignored_mappings: Counter[str]
    """Shared mappings not modelled (devices, special files), by kind."""
    notes: list[str]
    small_segments: dict[str, int] = field(default_factory=dict)
    """Shared mappings left out of the segments as smaller than ``min_size`` (written as
    private file mappings): name -> mappings."""
    min_size: int = DEFAULT_MIN_SIZE
    unseen_mappings: Counter[str] = field(default_factory=Counter)
    """Private mappings whose entries no pagemap interface shows (``[vvar]``, devices), by path."""
    reused: int = 0
    """Processes read without smaps, their maps those of one read before (``scan_read.Reader``)."""
    decided: int = 0
    """Processes whose partly present shared mappings' blocks VmPTE decided (``scan_read._deduce``)."""
    decided_room: Counter[int] = field(default_factory=Counter)
    """Of those, by the room each one's VmPTE leaves for empty tables elsewhere
    (bytes, ``ProcessRead.room``): how many processes; room 0 is exact."""
    pagetables: HostPageTables | None = None
    """A scan of every process on the live machine: its PageTables beside the model."""

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def vmpte_differences(self) -> list[tuple[int, int, int]]:
        """(pid, kernel VmPTE, model VmPTE) of every process whose VmPTE the model
        does not reproduce (tables the pagemap cannot see, or a process that changed)."""
        return [(pid, v, g.model_vmpte) for g in self.group_notes for pid, v in g.differing()
                if g.model_vmpte is not None]


# --- classification ----------------------------------------------------------------


def protection_of(perms: str) -> Protection:
    """``rw`` when writable, ``r`` when readable or executable, else ``none``.

    >>> protection_of("rw-s"), protection_of("r-xs"), protection_of("---s")
    ('rw', 'r', 'none')
    """
    if perms[1] == "w":
        return "rw"
    if perms[0] == "r" or perms[2] == "x":
        return "r"
    return "none"


def userfaultfd_of(vmflags: frozenset[str]) -> Userfaultfd:
    """The userfaultfd registration that matters most for sharing, from smaps
    VmFlags (``uw`` VM_UFFD_WP, ``ui`` VM_UFFD_MINOR, ``um`` VM_UFFD_MISSING).

    >>> userfaultfd_of(frozenset({"rd", "um", "uw"})), userfaultfd_of(frozenset({"rd"}))
    ('wp', 'none')
    """
    for flag, mode in (("uw", "wp"), ("ui", "minor"), ("um", "missing")):
        if flag in vmflags:
            return mode  # type: ignore[return-value]
    return "none"


def classify(e: SmapsEntry, fstypes: dict[tuple[int, int], str]) -> tuple[str, Backing | None, str]:
    """(kind, backing, label) of a MAP_SHARED mapping; backing None = not modelled
    (kind then says why: ``device``, ``special``).

    >>> from ptcalc.linux.parsers import parse_smaps
    >>> e = parse_smaps("7f00-7f01 rw-s 0 00:01 7  /memfd:wayland (deleted)\\nVmFlags: rd wr sh\\n")[0]
    >>> classify(e, {})
    ('memfd', 'shmem', 'memfd:wayland')
    """
    m = e.maps
    path = m.path
    hugetlb = e.hugetlb
    if not hugetlb and ({"io", "pf"} & e.vmflags):
        return "device", None, path  # VM_IO / VM_PFNMAP: remap_pfn_range, not page cache
    if path.startswith("/SYSV"):
        # ipc/shm.c newseg(): the file is named "SYSV%08x" after the key, its inode is the shmid
        key = int(path[5:13], 16) if re.fullmatch(r"/SYSV[0-9a-f]{8}", path) else 0
        label = f"sysv-{key:#010x}" if key else f"sysv-shmid-{m.inode}"
        return "sysv", "hugetlb" if hugetlb else "shmem", label
    if path.startswith("/memfd:"):
        return "memfd", "hugetlb" if hugetlb else "shmem", path[1:]
    if path == "/dev/zero" and m.deleted:
        # shmem_zero_setup(): MAP_SHARED|MAP_ANONYMOUS (or mmap of /dev/zero)
        return "anon", "shmem", f"shared-anon-{m.inode}"
    if path == "/anon_hugepage":
        return "anon", "hugetlb", f"anon-hugepage-{m.inode}"
    if path.startswith("[anon_shmem:"):
        return "anon", "hugetlb" if hugetlb else "shmem", path[1:-1]
    if hugetlb:
        return "hugetlbfs", "hugetlb", path
    if not path.startswith("/") or path.startswith("/dmabuf:") or "anon_inode:" in path:
        return "special", None, path
    fstype = fstypes.get(m.dev)
    if fstype in ("tmpfs", "shmem", "ramfs"):
        return "tmpfs", "shmem", path  # e.g. /dev/shm/PostgreSQL.NNN (POSIX shm)
    if fstype in ("proc", "sysfs", "devtmpfs", "debugfs", "tracefs", "devpts") or path.startswith("/dev/"):
        return "special", None, path
    return "file", "file", path


def _segment_page_size(maps: list[_Shared], base: int, pmd: int, notes: list[str], name: str) -> int:
    """hugetlb: KernelPageSize.  shmem/file: 2 MiB when every mapping is wholly
    PMD-mapped THP (Shmem/FilePmdMapped == Rss, 2 MiB aligned), else base
    pages (with a note when some THP is PMD-mapped: its PTE tables, which the
    kernel does not have, are then counted)."""
    first = maps[0]
    if first.backing == "hugetlb":
        return first.entry.kernel_page_size or base
    pmd_mapped = [sh.entry.fields.get("ShmemPmdMapped", 0) + sh.entry.fields.get("FilePmdMapped", 0)
                  for sh in maps]
    if not any(pmd_mapped):
        return base
    rss = [sh.entry.fields.get("Rss", 0) for sh in maps]
    aligned = all(sh.entry.maps.start % pmd == 0 and sh.entry.maps.end % pmd == 0
                  and sh.entry.maps.offset % pmd == 0 for sh in maps)
    if aligned and all(p == r for p, r in zip(pmd_mapped, rss)):
        return pmd
    notes.append(f"segment {name}: {format_size(sum(pmd_mapped))} of {format_size(sum(rss))} resident "
                 f"is PMD-mapped THP; counted as {format_size(base)} pages, so its PTE tables are overstated")
    return base


def _source(sh: _Shared, sysv: dict[int, ShmSegment], fstypes: dict[tuple[int, int], str]) -> str:
    m = sh.entry.maps
    dev = f"dev {m.dev[0]:x}:{m.dev[1]:02x} inode {m.inode}"
    if sh.kind == "sysv":
        seg = sysv.get(m.inode)
        if seg is not None:
            rss = f", {format_size(seg.rss)} resident" if seg.rss is not None else ""
            return (f"SysV key {seg.key:#010x}, shmid {seg.shmid}, {format_size(seg.size)}, "
                    f"{seg.nattch} attached{rss}")
        return f"SysV shmid {m.inode} ({m.path})"
    if sh.kind == "memfd":
        return f"memfd {m.path[len('/memfd:'):]!r} ({dev})"
    if sh.kind == "anon":
        return f"shared anonymous memory, {m.path}{' (deleted)' if m.deleted else ''} ({dev})"
    fstype = fstypes.get(m.dev, "unknown fs")
    return f"{'deleted ' if m.deleted else ''}file on {fstype} ({dev})"


def _name_segments(labels: dict[SegKey, str]) -> dict[SegKey, str]:
    """Readable names, unique: a label shared by several segments gets `` (inode N)``.
    (No ``#``: the loader's fast reader takes quoted names without one.)"""
    used = Counter(labels.values())
    return {k: (f"{v} (inode {k[2]})" if used[v] > 1 else v) for k, v in labels.items()}


def _split(r: ProcessRead, fstypes: dict[tuple[int, int], str], ignored: Counter[str], unseen_paths: Counter[str],
           arch: Arch, notes: list[str]) -> _Proc:
    """A process read, split into its shared mappings (segment candidates) and its own."""
    shared: list[_Shared] = []
    owns: list[Own] = []
    prev: SmapsEntry | None = None
    for v in r.vmas:
        e = v.entry
        if e.maps.shared:
            kind, backing, label = classify(e, fstypes)
            label = printable(label, MAX_LABEL)  # a path from /proc: safe to print
            if backing is None:
                ignored[kind] += 1
            else:
                s, t = v.joined()
                hs, he = v.huge_runs()
                key = (e.maps.dev[0], e.maps.dev[1], e.maps.inode)
                shared.append(_Shared(e, key, backing, label, kind, s, t, hs, he, v.cells))
        elif unseen(e):
            if e.maps.path != "[vsyscall]":  # above TASK_SIZE: no user page tables at all
                unseen_paths[e.maps.path or f"device {e.maps.dev[0]:x}:{e.maps.dev[1]:02x}"] += 1
        else:
            kind, name = private_kind(e, prev)
            s, t = v.joined()
            hs, he = v.huge_runs()
            if e.hugetlb:  # private hugetlb: every page a huge entry, no deposited table
                hs, he = s, t
                _note_gib(e, arch, notes)
            start = e.maps.start
            owns.append(Own(kind, name, start, e.maps.end, s + start, t + start, hs + start, he + start))
        prev = e
    return _Proc(r.pid, r.comm, r.cmdline, shared, owns, r.counters, r.settled, r.like)


def _note_gib(e: SmapsEntry, arch: Arch, notes: list[str]) -> None:
    page = e.kernel_page_size or arch.pmd_size
    if page > arch.pmd_size:
        notes.append(f"a MAP_PRIVATE hugetlb mapping of {format_size(page)} pages at {e.maps.start:#x} is written "
                     f"as {format_size(arch.pmd_size)} pages (private mappings have no larger ones): its PMD "
                     "tables are overstated")


def _small_owns(p: _Proc, dropped: dict[SegKey, str]) -> list[Own]:
    """The process's mappings of segments left out as small: its own file mappings."""
    out = []
    for sh in p.shared:
        if sh.key not in dropped:
            continue
        m = sh.entry.maps
        hs, he = (sh.starts, sh.ends) if sh.backing == "hugetlb" else (sh.huge_starts, sh.huge_ends)
        name = plain_label(dropped[sh.key].rsplit("/", 1)[-1])
        out.append(Own("file", name, m.start, m.end, sh.starts + m.start, sh.ends + m.start, hs + m.start,
                       he + m.start))
    return out


def scan(pids: Iterable[int] | None = None, *, fs: ProcFS | None = None, arch: Arch | None = None,
         touched: str = "tables", min_size: int = DEFAULT_MIN_SIZE,
         high_va: Callable[[], bool] = high_va_possible, now: datetime | None = None,
         method: Method = "auto", progress: Callable[[int, int], None] | None = None,
         reuse: bool = True, jobs: int | None = 1) -> ScanResult:
    """Scan processes (all but ourselves by default) into a workload of whole
    processes: each group's shared mappings and its own (``private_mappings``).

    Shared mappings that no process maps ``min_size`` bytes or more of are not
    segments (listed in ``small_segments``): each process's mapping of one is
    one of its own file mappings.  ``method``: how the pagemap is read
    (``ptcalc.linux.scan_read``).  ``progress(done, total)`` is called after
    each process.  ``reuse``: an identical process is read once
    (``scan_read.Reader``; never with ``touched="pages"``, which asks for
    every process's own pages).  ``jobs``: processes are read in this many
    forked workers (``ptcalc.linux.scan_jobs``; None: ``scan_jobs.auto_jobs``),
    1 in this process; the result is the same for any number.
    """
    if touched not in TOUCHED_MODES:
        raise ValueError(f"touched must be one of {TOUCHED_MODES}")
    fs = fs or ProcFS()
    if arch is None:
        arch = running_arch(fs, high_va)
        if arch is None:
            raise PtcalcError(f"ptcalc scan knows x86_64 hosts only (this is {fs.machine()})")
    release = fs.kernel_release()
    host = read_host(fs, arch)
    try:
        host = replace(host, kernel=parse_kernel(release))
    except ValueError:
        pass  # not a release we can read: the latest accounting
    sysv = fs.sysvipc_shm()
    fstypes = fs.mountinfo()
    before = _machine_pagetables(fs) if pids is None else None
    if pids is None:
        me = os.getpid()
        pid_list = [p for p in fs.pids() if p != me]
    else:
        pid_list = list(dict.fromkeys(pids))

    base = arch.base_page
    pmd_size = arch.pmd_size  # one PTE table's span, also the THP size
    skipped: Counter[str] = Counter()
    ignored: Counter[str] = Counter()
    unseen_paths: Counter[str] = Counter()
    notes: list[str] = []
    procs: list[_Proc] = []
    thp_unknown: list[str] = []
    def is_shmem(e: SmapsEntry) -> bool:
        """Pages status RssShmem counts: shared shmem, and private mappings of tmpfs files."""
        return (e.maps.shared and classify(e, fstypes)[1] == "shmem") or \
            (not e.maps.shared and fstypes.get(e.maps.dev) in ("tmpfs", "shmem"))

    # tables: a partly present shared mapping is read by cells (one ioctl per 2 MiB block
    # holding a page, scan_read._read_cells), or decided by VmPTE (scan_read._deduce);
    # --read-all (reuse False) reads every page
    tables = touched == "tables" and reuse
    reader = Reader(fs, base, method, reuse=reuse, is_shmem=is_shmem, block=pmd_size if tables else None,
                    model=_process_vmpte(host, fstypes) if tables else None)
    split_of: dict[int, tuple[_Proc, Counter[str], Counter[str]]] = {}
    present: dict[SegKey, tuple[np.ndarray, np.ndarray]] = {}
    by_cells: set[SegKey] = set()  # segments some process's mapping of was read by cells
    decided = reused = 0
    room: Counter[int] = Counter()
    workers = jobs_for(jobs, len(pid_list))
    if workers > 1 and tables:  # what the model imports when first evaluated, once: the workers fork after it
        backend("numpy")
    with closing(read_all(partial(_read_one if workers == 1 else _read_in_worker, reader), pid_list,
                          workers)) as reads:
        for done, (pid, (r, skip, was_reused)) in enumerate(zip(pid_list, reads), 1):
            reused += was_reused
            if skip is not None:
                skipped[skip] += 1
            if r is not None:
                decided += r.decided
                if r.decided:
                    room[r.room] += 1
                thp_unknown += [f"pid {pid}: {m}" for m in r.thp_unknown]
                like = split_of.get(r.like) if r.like is not None else None
                if like is None and r.like is not None and not r.vmas:  # (_read_in_worker)
                    raise RuntimeError(f"pid {r.pid} was read like pid {r.like}, which was not read before it")
                if like is not None:  # an identical process: its reading split once
                    p = replace(like[0], pid=r.pid, comm=r.comm, cmdline=r.cmdline, counters=r.counters, like=r.like)
                    ign, uns = like[1], like[2]
                else:
                    ign, uns = Counter(), Counter()
                    p = _split(r, fstypes, ign, uns, arch, notes)
                    for sh in p.shared:
                        # the exact pages present, by file offset, kept as one union per segment;
                        # the process then keeps its ranges compressed (what it writes anyway)
                        m = sh.entry.maps
                        if sh.cells:
                            by_cells.add(sh.key)
                        else:
                            present[sh.key] = _union(present.get(sh.key), sh.starts + m.offset, sh.ends + m.offset)
                        if touched == "tables":
                            sh.starts, sh.ends = fill_blocks(sh.starts, sh.ends, m.start, m.offset, m.size, pmd_size)
                    split_of[r.pid] = (p, ign, uns)
                ignored.update(ign)
                unseen_paths.update(uns)
                procs.append(p)
            if progress is not None:
                progress(done, len(pid_list))
    if thp_unknown:
        notes.append("PMD-mapped THP could not be located (pagemap PFNs need CAP_SYS_ADMIN; PAGEMAP_SCAN Linux "
                     "6.7) and is counted as 4 KiB pages, which overstates its PTE tables: "
                     + "; ".join(thp_unknown[:5]) + (f" and {len(thp_unknown) - 5} more" if len(thp_unknown) > 5
                                                     else ""))

    # segments, by (dev, inode); the small ones become the processes' own mappings
    by_key: dict[SegKey, list[_Shared]] = {}
    for p in procs:
        for sh in p.shared:
            by_key.setdefault(sh.key, []).append(sh)
    small: dict[str, int] = {}
    dropped: dict[SegKey, str] = {}
    for k in [k for k, v in by_key.items() if max(sh.entry.maps.size for sh in v) < min_size]:
        maps = by_key.pop(k)
        dropped[k] = maps[0].label
        small[maps[0].label] = len(maps)
    names = _name_segments({k: v[0].label for k, v in by_key.items()})
    segments: dict[str, Segment] = {}
    seg_notes: dict[str, SegmentNote] = {}
    page_of: dict[SegKey, int] = {}
    for k in sorted(by_key, key=lambda k: names[k]):
        maps = by_key[k]
        name = names[k]
        ps = _segment_page_size(maps, base, pmd_size, notes, name)
        page_of[k] = ps
        first = maps[0]
        extent = max(sh.entry.maps.offset + sh.entry.maps.size for sh in maps)
        file_size = None
        if first.kind == "sysv" and first.entry.maps.inode in sysv:
            file_size = sysv[first.entry.maps.inode].size
        else:
            for p in procs:
                found = next((s for s in p.shared if s.key == k), None)
                if found is not None:
                    file_size = fs.mapped_file_size(p.pid, found.entry.maps.start, found.entry.maps.end)
                    if file_size is not None:
                        break
        size = max(extent, file_size or 0)
        size = -(-size // ps) * ps
        segments[name] = Segment(name=name, size=size, backing=first.backing, page_size=ps)
        union = present.get(k)
        seg_notes[name] = SegmentNote(source=_source(first, sysv, fstypes),
                                      present_bytes=None if k in by_cells else
                                      int((union[1] - union[0]).sum()) if union else 0)

    # processes: one layout each (shared and own mappings), then groups of equal layouts
    layouts: dict[tuple[str, tuple[Mapping, ...], tuple[PrivateMapping, ...]], list[_Proc]] = {}
    own_tuples: dict[tuple[PrivateMapping, ...], tuple[PrivateMapping, ...]] = {}
    # identical processes share their readings' arrays: each distinct one is compressed once
    ranges_of: dict[tuple[int, int, str, int, int, int], tuple[Range, ...]] = {}
    own_of: dict[int, tuple[PrivateMapping, ...]] = {}
    for p in procs:
        ms: list[Mapping] = []
        for sh in sorted((s for s in p.shared if s.key in by_key), key=lambda s: s.entry.maps.start):
            m = sh.entry.maps
            ps = page_of[sh.key]
            prot = protection_of(m.perms)
            memo = (id(sh.starts), ps, prot, m.start, m.offset, m.size)
            rs = ranges_of.get(memo)
            if rs is None:
                rs = ranges_of[memo] = _touched(sh, ps, base, prot, touched, pmd_size, names[sh.key], notes)
            ms.append(_mapping(sh, names[sh.key], rs))
        own = own_of.get(p.like) if p.like is not None else None
        if own is None:
            own = private_rows(p.owns + _small_owns(p, dropped), arch, touched)
            own = own_tuples.setdefault(own, own)  # one tuple per distinct layout: the model reads it once
            own_of[p.pid] = own
        layouts.setdefault((process_class(p.comm, p.cmdline), tuple(ms), own), []).append(p)
    groups: list[ProcessGroup] = []
    group_notes: list[GroupNote] = []
    used_names: Counter[str] = Counter()
    # named by the processes' class (their title: proctitle.process_class), the
    # biggest group of a class first, then by lowest PID: stable between scans
    named = [(label, -len(members), min(p.pid for p in members), layout, own, members)
             for (label, layout, own), members in layouts.items()]
    named.sort(key=lambda t: t[:3])
    for label, _, _, layout, own, members in named:
        used_names[label] += 1
        gname = label if used_names[label] == 1 else f"{label} ({used_names[label]})"
        groups.append(ProcessGroup(name=gname, count=len(members), mappings=layout,
                                   private_memory=_private_memory(members, base), private_mappings=own))
        group_notes.append(GroupNote(pids=tuple(p.pid for p in members),
                                     comms=tuple(sorted({printable(p.comm) for p in members})),
                                     vmpte=tuple(p.vmpte for p in members),
                                     unsettled=tuple(p.pid for p in members if not p.settled),
                                     private_rows=len(own)))

    notes = list(dict.fromkeys(notes))
    hostname = printable(socket.gethostname())
    when = now or datetime.now(timezone.utc)
    # The name stays the same from one scan of a host to the next (the time is in
    # the file's header comment), so that reports and metrics labels keep it.
    w = Workload(host=host, segments=segments, groups=tuple(groups), name=f"scan of {hostname}", source="<scan>")
    host_tables = None
    if groups:
        vmpte, model_pagetables = model_figures(w)
        group_notes = [replace(n, model_vmpte=v) for n, v in zip(group_notes, vmpte)]
        after = _machine_pagetables(fs) if before is not None else None
        if before is not None and after is not None:
            host_tables = HostPageTables(before=before, after=after, model=model_pagetables,
                                         scanner=_own_tables(fs, arch, host.pti, host.kernel))
    return ScanResult(workload=w, hostname=hostname, when=when, kernel=release, touched_mode=touched,
                      processes_read=len(procs), skipped=skipped, segment_notes=seg_notes, group_notes=group_notes,
                      ignored_mappings=ignored, notes=notes, small_segments=small, min_size=min_size,
                      unseen_mappings=unseen_paths, reused=reused, pagetables=host_tables,
                      decided=decided, decided_room=room)


def _read_one(reader: Reader, pid: int) -> tuple[ProcessRead | None, str | None, bool]:
    """``reader.read(pid)``; why the process was skipped (``ScanResult.skipped``),
    or None; whether it was read without smaps (``Reader.reused``).  Run in a
    worker with ``--jobs N`` (``scan_jobs``), so it raises nothing it expects."""
    was = reader.reused
    try:
        return reader.read(pid), None, reader.reused > was
    except ProcessGone:
        return None, "vanished", False
    except NoAccess:
        return None, "permission denied", False
    except (OSError, ValueError) as e:
        return None, f"unreadable ({type(e).__name__})", False


def _read_in_worker(reader: Reader, pid: int) -> tuple[ProcessRead | None, str | None, bool]:
    """:func:`_read_one` in a worker (``scan_jobs``): a reading that is an earlier
    one's (``like``) goes back without its mappings, which the parent does not
    read (it reuses its split of the earlier one, which the same worker read
    before and so came back first): a Python process's mappings pickle and
    unpickle in about 4 ms each way."""
    r, skip, reused = _read_one(reader, pid)
    if r is not None and r.like is not None:
        r = replace(r, vmas=[])
    return r, skip, reused


def _process_vmpte(host: Host, fstypes: dict[tuple[int, int], str]) -> ModelVmpte:
    """The model's VmPTE (:func:`model_vmpte`) of one process whose mappings
    read as the readings given, its shared mappings as segments of their own
    and the rest as its private mappings, written as with ``--touched
    tables`` (the same tables as its pages; a small shared mapping as a
    segment has the tables it has as a private file row: its own at every
    level), counted as :func:`model_vmpte` counts (``hugetlb-pmd``, the
    mappings as configured).  Processes whose readings are equal -- forked
    workers -- share one evaluation (keyed by what the readings say, not
    by object)."""
    from ptcalc.model.tables import compute

    arch = host.arch
    base, block = arch.base_page, arch.pmd_size
    cache: dict[tuple[object, ...], int | None] = {}

    def vmpte(vmas: list[VmaRead]) -> int | None:
        # (Rss only where something is PMD-mapped: _segment_page_size reads it
        # then, nothing else does; processes touching different pages of one
        # layout share the evaluation of every block present)
        said = tuple((v.entry.maps, v.entry.vmflags, v.entry.kernel_page_size, v.pmd_mapped,
                      v.entry.fields.get("Rss") if v.pmd_mapped else None, v.starts.tobytes(), v.ends.tobytes(),
                      None if v.huge is None else v.huge.tobytes()) for v in vmas)
        if said in cache:
            return cache[said]
        if len(cache) >= MODEL_CACHE:  # bounded: a key holds every run of a process's reading
            cache.clear()
        cache[said] = got = _evaluate(vmas)
        return got

    def _evaluate(vmas: list[VmaRead]) -> int | None:
        p = _split(ProcessRead(0, "", "", {}, vmas), fstypes, Counter(), Counter(), arch, [])
        by_key: dict[SegKey, list[_Shared]] = {}
        for sh in p.shared:
            by_key.setdefault(sh.key, []).append(sh)
        segments: dict[str, Segment] = {}
        maps: list[Mapping] = []
        for key, shs in by_key.items():
            name = f"{key[0]:x}:{key[1]:x}:{key[2]}"
            ps = _segment_page_size(shs, base, block, [], name)
            size = max(sh.entry.maps.offset + sh.entry.maps.size for sh in shs)
            segments[name] = Segment(name=name, size=-(-size // ps) * ps, backing=shs[0].backing, page_size=ps)
            maps += (_mapping(sh, name, _touched(sh, ps, base, protection_of(sh.entry.maps.perms), "tables", block,
                                                 name, [])) for sh in shs)
        maps.sort(key=lambda m: m.address)
        own = private_rows(p.owns, arch, "tables")
        if not maps and not own:
            return None
        w = Workload(host=host, segments=segments, groups=(ProcessGroup(name="p", count=1, mappings=tuple(maps),
                                                                        private_mappings=own),))
        return int(compute(w, "hugetlb-pmd").groups.vmpte_bytes[0])

    return vmpte


def _mapping(sh: _Shared, segment: str, touched: tuple[Range, ...]) -> Mapping:
    """``sh`` as a mapping of ``segment`` with its ``touched`` ranges (``_touched``)."""
    m = sh.entry.maps
    return Mapping(segment=segment, offset=m.offset, size=m.size, address=m.start, protection=protection_of(m.perms),
                   touched=touched, userfaultfd=userfaultfd_of(sh.entry.vmflags))


def _private_memory(members: list[_Proc], base: int) -> int:
    """The group's anonymous memory per process: RssAnon (status: MM_ANONPAGES, the
    resident anonymous pages), averaged and rounded up to a page."""
    anon = [p.counters.get("RssAnon", 0) for p in members]
    mean = -(-sum(anon) // len(anon))
    return -(-mean // base) * base


def model_figures(w: Workload) -> tuple[list[int], int]:
    """Per group, the VmPTE the model gives each of its processes on mainline Linux
    (``hugetlb-pmd``: each process links one table per block at each level, shared
    or not): what the kernel's VmPTE of a scanned process must equal; and the
    whole file's tables as the kernel's PageTables counts them (``host.kernel``)."""
    from ptcalc.model.evaluate import CONFIGURED, Options, evaluate

    cell = evaluate(w, Options(schemes=("hugetlb-pmd",), columns=CONFIGURED)).selected_cell("hugetlb-pmd")
    return list(cell.result.groups.vmpte_bytes), cell.pagetables_bytes


def model_vmpte(w: Workload) -> list[int]:
    """Per group, the model's VmPTE of each process (:func:`model_figures`)."""
    return model_figures(w)[0]


def _machine_pagetables(fs: ProcFS) -> int | None:
    """PageTables of the machine now, or None where there is none to read (a fake /proc)."""
    try:
        return fs.pagetables()
    except (OSError, PtcalcError, ValueError):
        return None


def _own_tables(fs: ProcFS, arch: Arch, pti: bool, kernel: tuple[int, int] | None) -> int | None:
    """The scanning process's own page tables as PageTables counts them: its
    VmPTE (PTE/PMD/PUD) and, where that kernel counts it, its PGD."""
    from ptcalc.model.accounting import pagetables_levels

    try:
        own = fs.vmpte("self")
    except (OSError, PtcalcError, ValueError):
        return None
    return own + (arch.table_bytes(pti)["pgd"] if "pgd" in pagetables_levels(kernel) else 0)


def _touched(sh: _Shared, ps: int, base: int, prot: Protection, mode: str, block: int, name: str,
             notes: list[str]) -> tuple[Range, ...]:
    """The mapping's touched ranges at its segment's page size, compressed."""
    m = sh.entry.maps
    if sh.starts.size == 0:
        return ()
    if prot == "none":
        notes.append(f"segment {name}: a PROT_NONE mapping at {m.start:#x} has pages present; "
                     "the workload format counts none for it")
        return ()
    s, e = sh.starts, sh.ends
    if ps != base and sh.backing != "hugetlb":  # PMD-mapped THP: read per base page, round out
        rs = normalise(as_ranges(s, e), ps)
        s = np.array([r[0] for r in rs], dtype=np.int64)
        e = np.array([r[1] for r in rs], dtype=np.int64)
    if mode == "tables":
        s, e = fill_blocks(s, e, m.start, m.offset, m.size, block)
    return as_ranges(s, e)


def _union(acc: tuple[np.ndarray, np.ndarray] | None, s: np.ndarray, e: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """The union of the sorted disjoint ranges ``acc`` and ``(s, e)``, merged
    (overlapping and abutting ranges joined)."""
    if acc is not None:
        s, e = np.concatenate((acc[0], s)), np.concatenate((acc[1], e))
        order = np.argsort(s, kind="stable")
        s, e = s[order], e[order]
    if s.size < 2:
        return s, e
    reach = np.maximum.accumulate(e)
    new = np.concatenate(([True], s[1:] > reach[:-1]))
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:] - 1, [s.size - 1]))
    return s[first], reach[last]
