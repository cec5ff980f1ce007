"""``ptcalc scan``: build a workload from the processes running on this host.

For every process (or the ones asked for) it reads /proc/PID/smaps, keeps
the MAP_SHARED mappings of shared memory and files, reads which of their
pages have page-table entries from /proc/PID/pagemap, identifies each
segment across processes by the (device, inode) of its file, and groups
processes whose layout is identical into one process group with a count.
The host comes from /proc/meminfo, /proc/cpuinfo and /sys
(``ptcalc.linux.host``).

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

Private mappings are not segments: their resident private pages go into
the group's ``private_memory`` (approximate).  Device and special mappings
(VmFlags ``io``/``pf``, ``anon_inode:``, ``/dev/...``, DMA-BUF) are skipped
and counted.
"""

from __future__ import annotations

import os
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from ptcalc.errors import PtcalcError
from ptcalc.linux.errors import NoAccess, ProcessGone
from ptcalc.linux.host import high_va_possible, read_host, running_arch
from ptcalc.linux.parsers import (
    PAGEMAP_ENTRY_BYTES,
    ShmSegment,
    SmapsEntry,
    pagemap_touched,
    parse_smaps,
    parse_status,
    runs,
    status_bytes,
)
from ptcalc.linux.procfs import ProcFS
from ptcalc.model.geometry import Arch
from ptcalc.names import printable
from ptcalc.units import format_size
from ptcalc.workload.touched import Range, as_ranges, coarsen, normalise
from ptcalc.workload.types import Backing, Mapping, ProcessGroup, Protection, Segment, Userfaultfd, Workload

TOUCHED_MODES = ("tables", "pages")
"""``tables`` (default): merge gaps that change no table count; ``pages``: exact runs of pages."""

DEFAULT_MIN_SIZE = 1 << 20
"""Segments mapped smaller than this everywhere are left out (1 MiB: at most a
PTE table or two).  glibc maps gconv-modules.cache MAP_SHARED at a random
address in every process using iconv; kept, it would split every group."""

PAGEMAP_CHUNK_ENTRIES = 1 << 18
"""Entries per pagemap read: 2 MiB of entries cover 1 GiB of address space."""

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


@dataclass
class _Proc:
    pid: int
    comm: str
    shared: list[_Shared]
    private_bytes: int
    vmpte: int | None


@dataclass(frozen=True)
class SegmentNote:
    """What the scan knows about a segment beyond the workload fields."""

    source: str
    present_bytes: int
    """Pages present in the scanned processes, exactly (before coarsening)."""


@dataclass(frozen=True)
class GroupNote:
    pids: tuple[int, ...]
    comms: tuple[str, ...]
    vmpte: tuple[int, ...]
    """Kernel VmPTE of each process (whole process), as read during the scan."""


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
    other_processes: int
    """Processes read that map no shared segment (not in the workload)."""
    other_private_bytes: int
    ignored_mappings: Counter[str]
    notes: list[str]
    small_segments: dict[str, int] = field(default_factory=dict)
    """Segments left out as smaller than ``min_size``: name -> mappings."""
    min_size: int = DEFAULT_MIN_SIZE

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


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


# --- pagemap ---------------------------------------------------------------------------


def read_touched(fs: ProcFS, pid: int, fd: int, start: int, end: int, page_size: int,
                 base_page: int) -> tuple[np.ndarray, np.ndarray]:
    """Touched byte ranges of ``[start, end)`` of process ``pid``, from the
    mapping start (``fd``: its pagemap, one entry per ``base_page``).

    Base pages: every entry is read, in chunks.  Huge pages (hugetlb maps a
    whole page at once, and pagemap_hugetlb_range() reports every base-page
    entry of it alike): one entry per page is read.
    """
    n = (end - start) // base_page
    first = start // base_page
    if page_size == base_page:
        s_parts: list[np.ndarray] = []
        e_parts: list[np.ndarray] = []
        for lo in range(0, n, PAGEMAP_CHUNK_ENTRIES):
            cnt = min(PAGEMAP_CHUNK_ENTRIES, n - lo)
            data = fs.pread(fd, cnt * PAGEMAP_ENTRY_BYTES, (first + lo) * PAGEMAP_ENTRY_BYTES, pid)
            s, e = runs(pagemap_touched(data))
            s_parts.append(s + lo)
            e_parts.append(e + lo)
        s = np.concatenate(s_parts) if s_parts else np.zeros(0, np.int64)
        e = np.concatenate(e_parts) if e_parts else np.zeros(0, np.int64)
        if s.size > 1:  # join runs split at chunk boundaries
            keep = np.concatenate(([True], s[1:] != e[:-1]))
            s, e = s[keep], e[np.concatenate((keep[1:], [True]))]
        return s * base_page, e * base_page
    step = page_size // base_page
    pages = n // step
    mask = np.zeros(pages, dtype=bool)
    for k in range(pages):
        data = fs.pread(fd, PAGEMAP_ENTRY_BYTES, (first + k * step) * PAGEMAP_ENTRY_BYTES, pid)
        mask[k] = bool(pagemap_touched(data)[0])
    s, e = runs(mask)
    return s * page_size, e * page_size


# --- the scan ----------------------------------------------------------------------------


def mapped_bytes(e: SmapsEntry) -> int:
    """Bytes of the mapping present in this process's page tables, from smaps:
    ``Rss`` (smaps_pte_entry() counts present PTEs and PMDs), or for hugetlb
    ``Shared_Hugetlb + Private_Hugetlb`` (smaps_hugetlb_range()).  Equal to the
    size: every page is present; 0: none is (a shared mapping has no swap
    PTEs: shmem and file pages are unmapped, not swapped, in the page table).
    """
    if e.hugetlb:
        return e.fields.get("Shared_Hugetlb", 0) + e.fields.get("Private_Hugetlb", 0)
    return e.fields.get("Rss", 0)


def _read_process(fs: ProcFS, pid: int, fstypes: dict[tuple[int, int], str],
                  ignored: Counter[str], base: int) -> _Proc | None:
    """One process's modelled mappings and private memory; None for kernel threads."""
    smaps_text = fs.pid_text(pid, "smaps")
    if not smaps_text.strip():
        return None  # kernel thread or zombie: no mm
    entries = parse_smaps(smaps_text)
    # any local user sets a process's name: it reaches the operator's terminal
    # and the workload file only as printable text (ptcalc.names)
    comm = printable(fs.pid_text(pid, "comm").strip()) or str(pid)
    status = parse_status(fs.pid_text(pid, "status"))
    shared: list[_Shared] = []
    private = 0
    for e in entries:
        if not e.maps.shared:
            private += e.fields.get("Private_Clean", 0) + e.fields.get("Private_Dirty", 0)
            continue
        kind, backing, label = classify(e, fstypes)
        if backing is None:
            ignored[kind] += 1
            continue
        key = (e.maps.dev[0], e.maps.dev[1], e.maps.inode)
        shared.append(_Shared(entry=e, key=key, backing=backing, label=printable(label), kind=kind))
    todo = []
    for sh in shared:
        mapped = mapped_bytes(sh.entry)
        if mapped == sh.entry.maps.size:  # every page present: no need to read the pagemap
            sh.starts, sh.ends = np.zeros(1, np.int64), np.array([mapped], np.int64)
        elif mapped > 0:
            todo.append(sh)
    if todo:
        fd = fs.open_pagemap(pid)
        try:
            for sh in todo:
                m = sh.entry.maps
                ps = (sh.entry.kernel_page_size or base) if sh.backing == "hugetlb" else base
                sh.starts, sh.ends = read_touched(fs, pid, fd, m.start, m.end, ps, base)
        finally:
            os.close(fd)
    return _Proc(pid=pid, comm=comm, shared=shared, private_bytes=private,
                 vmpte=status_bytes(status, "VmPTE"))


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
    """Readable names, unique: a label shared by several segments gets ``#inode``."""
    used = Counter(labels.values())
    return {k: (f"{v}#{k[2]}" if used[v] > 1 else v) for k, v in labels.items()}


def scan(pids: Iterable[int] | None = None, *, fs: ProcFS | None = None, arch: Arch | None = None,
         touched: str = "tables", min_size: int = DEFAULT_MIN_SIZE,
         high_va: Callable[[], bool] = high_va_possible, now: datetime | None = None) -> ScanResult:
    """Scan processes (all but ourselves by default) into a workload.

    Segments that no process maps ``min_size`` bytes or more of are left out
    (and listed in ``small_segments``).
    """
    if touched not in TOUCHED_MODES:
        raise ValueError(f"touched must be one of {TOUCHED_MODES}")
    fs = fs or ProcFS()
    if arch is None:
        arch = running_arch(fs, high_va)
        if arch is None:
            raise PtcalcError(f"ptcalc scan knows x86_64 hosts only (this is {fs.machine()})")
    host = read_host(fs, arch)
    sysv = fs.sysvipc_shm()
    fstypes = fs.mountinfo()
    if pids is None:
        me = os.getpid()
        pid_list = [p for p in fs.pids() if p != me]
    else:
        pid_list = list(dict.fromkeys(pids))

    skipped: Counter[str] = Counter()
    ignored: Counter[str] = Counter()
    procs: list[_Proc] = []
    others = other_private = read = 0
    for pid in pid_list:
        try:
            p = _read_process(fs, pid, fstypes, ignored, arch.base_page)
        except ProcessGone:
            skipped["vanished"] += 1
            continue
        except NoAccess:
            skipped["permission denied"] += 1
            continue
        except (OSError, ValueError) as e:
            skipped[f"unreadable ({type(e).__name__})"] += 1
            continue
        if p is None:
            continue
        read += 1
        procs.append(p)

    base = arch.base_page
    pmd_size = arch.pmd_size  # one PTE table's span, also the THP size
    notes: list[str] = []

    # segments, by (dev, inode); the small ones are left out
    by_key: dict[SegKey, list[_Shared]] = {}
    for p in procs:
        for sh in p.shared:
            by_key.setdefault(sh.key, []).append(sh)
    small: dict[str, int] = {}
    for k in [k for k, v in by_key.items() if max(sh.entry.maps.size for sh in v) < min_size]:
        dropped = by_key.pop(k)
        small[dropped[0].label] = len(dropped)
    kept: list[_Proc] = []
    for p in procs:
        p.shared = [sh for sh in p.shared if sh.key in by_key]
        if p.shared:
            kept.append(p)
        else:
            others += 1
            other_private += p.private_bytes
    procs = kept
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
        present = _present_bytes(maps, ps)
        seg_notes[name] = SegmentNote(source=_source(first, sysv, fstypes), present_bytes=present)

    # processes: one layout each, then groups of equal layouts
    layouts: dict[tuple, list[_Proc]] = {}
    for p in procs:
        ms: list[Mapping] = []
        for sh in sorted(p.shared, key=lambda s: s.entry.maps.start):
            m = sh.entry.maps
            ps = page_of[sh.key]
            prot = protection_of(m.perms)
            rs = _touched(sh, ps, base, prot, touched, pmd_size, names[sh.key], notes)
            ms.append(Mapping(segment=names[sh.key], offset=m.offset, size=m.size, address=m.start,
                              protection=prot, touched=rs, userfaultfd=userfaultfd_of(sh.entry.vmflags)))
        layouts.setdefault(tuple(ms), []).append(p)
    groups: list[ProcessGroup] = []
    group_notes: list[GroupNote] = []
    used_names: Counter[str] = Counter()
    for layout, members in layouts.items():
        comms = tuple(sorted({p.comm for p in members}))
        label = ", ".join(comms[:4]) + (f" and {len(comms) - 4} more" if len(comms) > 4 else "")
        used_names[label] += 1
        gname = label if used_names[label] == 1 else f"{label} #{used_names[label]}"
        mean = -(-sum(p.private_bytes for p in members) // len(members))
        private = -(-mean // base) * base
        groups.append(ProcessGroup(name=gname, count=len(members), mappings=layout, private_memory=private))
        group_notes.append(GroupNote(pids=tuple(p.pid for p in members), comms=comms,
                                     vmpte=tuple(p.vmpte for p in members if p.vmpte is not None)))

    hostname = printable(socket.gethostname())
    when = now or datetime.now(timezone.utc)
    # The name stays the same from one scan of a host to the next (the time is in
    # the file's header comment), so that reports and metrics labels keep it.
    w = Workload(host=host, segments=segments, groups=tuple(groups), name=f"scan of {hostname}", source="<scan>")
    kernel = fs.kernel_release()
    return ScanResult(workload=w, hostname=hostname, when=when, kernel=kernel, touched_mode=touched,
                      processes_read=read, skipped=skipped, segment_notes=seg_notes, group_notes=group_notes,
                      other_processes=others, other_private_bytes=other_private, ignored_mappings=ignored,
                      notes=notes, small_segments=small, min_size=min_size)


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
        s, e = coarsen(s, e, m.start, m.offset, block)
    return as_ranges(s, e)


def _present_bytes(maps: list[_Shared], ps: int) -> int:
    """Union, over every scanned mapping of a segment, of its touched file ranges."""
    s = np.concatenate([sh.starts + sh.entry.maps.offset for sh in maps])
    e = np.concatenate([sh.ends + sh.entry.maps.offset for sh in maps])
    if s.size == 0:
        return 0
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    covered = np.concatenate(([s[0]], np.maximum.accumulate(e)[:-1]))
    return int(np.maximum(e - np.maximum(s, covered), 0).sum())

