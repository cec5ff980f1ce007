"""One process, read for ``ptcalc scan``: its mappings, and which pages of each
have a page-table entry.

    what                        from                                          read
    --------------------------  --------------------------------------------  -------------------------------
    mappings, flags, Rss, THP   /proc/PID/smaps                               always
    counters (VmPTE, RssAnon)   /proc/PID/status                              before and after the pages
    name, title                 /proc/PID/comm, /proc/PID/cmdline             always
    pages with an entry         /proc/PID/pagemap: PAGEMAP_SCAN (6.7+),       only mappings smaps cannot
                                one walk per run of mappings; else pread      decide (below)
    2 MiB blocks with an entry  VmPTE at the most the model gives with every  shared base-page mappings
                                whole block present, and a sample of 32       smaps cannot decide, when the
                                blocks (pagemap.first_entries); else          scan needs blocks (``block``)
                                PAGEMAP_SCAN, one call per block holding a
                                page (pagemap.touched_cells)
    PMD-mapped THP              PAGEMAP_SCAN PAGE_IS_HUGE; else the PFNs      mappings with AnonHugePages,
                                of 2 MiB-aligned runs (pagemap, root)         ShmemPmdMapped, FilePmdMapped

A mapping needs no pagemap when smaps decides it: every page present (``Rss``
equal to the size; hugetlb ``Shared_Hugetlb + Private_Hugetlb``) and none
PMD-mapped by a THP; or, on the pread path, nothing present and nothing
swapped.  ``[vsyscall]`` lies above TASK_SIZE (no user page tables) and
``VM_IO``/``VM_PFNMAP`` mappings (VmFlags ``io``/``pf``: devices, ``[vvar]``)
are skipped by the kernel's page walk (``walk_page_test()``, mm/pagewalk.c):
neither pagemap interface can show their entries.

VmPTE is read before and after; when it moved (the process faulted or freed
meanwhile) the process is read again, up to :data:`ATTEMPTS` times.

A process whose maps (every line) equal those of one read in full before is
read without smaps (:meth:`Reader.read_like`): smaps is what walks every
page-table entry of a process (for ``Rss``), 300 GiB of a 4 KiB SGA take
seconds, and its flags and page sizes are the other process's.  What smaps
decided for the other is decided for it by the status counter ``RssShmem``
(equal to the size of every shmem mapping: each is wholly present) or by a
PAGEMAP_SCAN walk (its own mappings, which are small; hugetlb, one entry per
huge page; files and shmem partly present, page by page).  Forked workers --
a PostgreSQL cluster, the children of a benchmark -- with a wholly present
SGA cost a read of /proc/PID/maps and status and a walk of their own small
mappings each; what is partly present is read, process by process, since it
may differ.

What a table count needs of a shared mapping is which 2 MiB blocks (cells:
``pagemap.touched_cells``) hold a page, not which pages (``--touched
tables``, ``workload.touched.fill_blocks``).  With ``block`` set
(:class:`Reader`; ``scan`` sets it for ``--touched tables`` unless
``--read-all``) a shared base-page mapping partly present is read by cells:
one PAGEMAP_SCAN per block holding a page, which stops at its first entry,
instead of a visit of every entry and a region per run of pages; its runs
are then the cells (``VmaRead.cells``), it has no page count, and a
segment's pages present are not counted.  A huge entry found (a PMD-mapped
THP) sends the mapping back to the page-by-page walk.  Before the cells,
VmPTE may decide the blocks (:func:`_deduce`, given ``model``: the model's
VmPTE of a process): when the kernel's VmPTE is the most the model gives
with every whole block of those mappings holding a page, every one holds a
PTE table; a sample of them is read to catch an empty table balancing an
untouched block, and a mapping whose address and file offset disagree
modulo 2 MiB has its file blocks read, one PAGEMAP_SCAN each.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ptcalc.linux.pagemap import PAGE_IS_HUGE, pagemap_scan_supported
from ptcalc.linux.parsers import (PAGEMAP_ENTRY_BYTES, MapsEntry, SmapsEntry, pagemap_touched, parse_kb_fields,
                                  parse_maps, parse_smaps, runs)
from ptcalc.linux.procfs import ProcFS
from ptcalc.workload.touched import fill_blocks

ATTEMPTS = 3
"""Reads of a process whose VmPTE moves while it is read, before the scan keeps the last."""

PAGEMAP_CHUNK_ENTRIES = 1 << 18
"""Entries per pagemap pread: 2 MiB of entries cover 1 GiB of address space."""

PFN_MASK = (1 << 55) - 1
"""Bits 0-54 of a present pagemap entry: the page frame number (0 without CAP_SYS_ADMIN)."""

PMD_FIELDS = ("AnonHugePages", "ShmemPmdMapped", "FilePmdMapped")
"""smaps fields counting bytes mapped by a huge PMD (smaps_pmd_entry(), fs/proc/task_mmu.c)."""

Method = str
"""``auto`` (PAGEMAP_SCAN where the kernel has it, on the live /proc), ``ioctl`` or ``read``."""

_EMPTY = np.zeros(0, np.int64)


@dataclass
class VmaRead:
    """One mapping and its pages with an entry: runs of byte offsets from its
    start (sorted, disjoint; they may abut where a huge run meets a base one).
    A hugetlb mapping's runs are whole huge pages."""

    entry: SmapsEntry
    starts: np.ndarray = field(default_factory=lambda: _EMPTY)
    ends: np.ndarray = field(default_factory=lambda: _EMPTY)
    huge: np.ndarray | None = None
    """Per run, whether a huge PMD maps it (a PMD-mapped THP); None: none does."""
    cells: bool = False
    """The runs are the cells holding an entry (:func:`ptcalc.linux.pagemap.touched_cells`),
    not the pages: what every table count needs, read in one ioctl per cell."""

    def joined(self) -> tuple[np.ndarray, np.ndarray]:
        """The runs with the abutting ones joined (computed once: identical
        processes share one reading)."""
        cached = self.__dict__.get("_joined")
        if cached is not None and cached[0] is self.starts:
            return cached[1], cached[2]
        s, e = self.starts, self.ends
        if s.size >= 2:
            cut = s[1:] != e[:-1]
            s, e = s[np.concatenate(([True], cut))], e[np.concatenate((cut, [True]))]
        self.__dict__["_joined"] = (self.starts, s, e)
        return s, e

    def huge_runs(self) -> tuple[np.ndarray, np.ndarray]:
        """The runs a huge PMD maps (2 MiB-aligned, whole huge pages)."""
        if self.huge is None or not self.huge.any():
            return _EMPTY, _EMPTY
        return self.starts[self.huge], self.ends[self.huge]

    @property
    def pmd_mapped(self) -> int:
        """Bytes smaps says huge PMDs map (THP: anonymous, shmem or file)."""
        return sum(self.entry.fields.get(k, 0) for k in PMD_FIELDS)


@dataclass
class ProcessRead:
    pid: int
    comm: str
    cmdline: str
    """/proc/PID/cmdline with NULs as spaces, as ``ps`` shows it (the process title)."""
    counters: dict[str, int]
    """/proc/PID/status fields with a number (``VmPTE``, ``RssAnon`` ...), bytes for ``kB``."""
    vmas: list[VmaRead]
    settled: bool = True
    """VmPTE was the same before and after the pages were read (in some attempt)."""
    thp_unknown: list[str] = field(default_factory=list)
    """Mappings whose PMD-mapped THP could not be located (pread path without PFNs)."""
    like: int | None = None
    """The PID whose reading this one is (an identical process read before), or None."""
    decided: bool = False
    """VmPTE decided which blocks of its partly present shared mappings hold a page (``_deduce``)."""
    room: int = 0
    """Where VmPTE decided: the bytes of tables the kernel's VmPTE could still
    hold empty elsewhere in the process (``_deduce``): up to as many of the
    blocks decided may hold no page.  0: the decision is exact."""

    @property
    def vmpte(self) -> int | None:
        return self.counters.get("VmPTE")


def mapped_bytes(e: SmapsEntry) -> int:
    """Bytes of the mapping present in this process's page tables, from smaps:
    ``Rss`` (smaps_pte_entry() counts present PTEs and PMDs), or for hugetlb
    ``Shared_Hugetlb + Private_Hugetlb`` (smaps_hugetlb_range())."""
    if e.hugetlb:
        return e.fields.get("Shared_Hugetlb", 0) + e.fields.get("Private_Hugetlb", 0)
    return e.fields.get("Rss", 0)


def unseen(e: SmapsEntry) -> bool:
    """A mapping whose entries no pagemap interface shows: ``[vsyscall]`` (above
    TASK_SIZE, no user page tables) and VM_IO/VM_PFNMAP ones (walk_page_test()
    skips them: ``[vvar]``, device memory)."""
    return e.maps.path == "[vsyscall]" or (not e.hugetlb and bool({"io", "pf"} & e.vmflags))


def use_ioctl(fs: ProcFS, fd: int, method: Method) -> bool:
    if method == "ioctl":
        return True
    return method == "auto" and fs.is_live and pagemap_scan_supported(fd)


def _names(fs: ProcFS, pid: int) -> tuple[str, str]:
    comm = fs.pid_text(pid, "comm").strip() or str(pid)
    try:
        cmdline = fs.pid_text(pid, "cmdline").replace("\0", " ").strip()
    except OSError:  # (ProcessGone and NoAccess go up: they are not OSErrors)
        cmdline = ""
    return comm, cmdline


def read_process(fs: ProcFS, pid: int, base: int, method: Method = "auto", block: int | None = None,
                 model: ModelVmpte | None = None) -> ProcessRead | None:
    """``pid``'s mappings and their pages with an entry; None for a kernel
    thread or a zombie (no mm).  ``block``: read the shared mappings that are
    partly present by cells of this size (:func:`_by_cells`), or where
    VmPTE decides them, not at all (``model``: :func:`_deduce`).
    ProcessGone / NoAccess as ProcFS raises them."""
    comm, cmdline = _names(fs, pid)
    read: ProcessRead | None = None
    for _ in range(ATTEMPTS):
        before = parse_kb_fields(fs.pid_text(pid, "status"))
        smaps_text = fs.pid_text(pid, "smaps")
        if not smaps_text.strip():
            return None  # kernel thread or zombie: no mm
        vmas = [VmaRead(e) for e in parse_smaps(smaps_text)]
        thp_unknown: list[str] = []
        room = _read_pages(fs, pid, vmas, base, method, thp_unknown, block, before.get("VmPTE"), model)
        after = parse_kb_fields(fs.pid_text(pid, "status"))
        settled = before.get("VmPTE") == after.get("VmPTE")
        read = ProcessRead(pid, comm, cmdline, after, vmas, settled, thp_unknown, decided=room is not None,
                           room=room or 0)
        if settled:
            break
    return read


MapsKey = tuple[tuple[int, int, str, int, tuple[int, int], int, str, bool], ...]
"""Every line of /proc/PID/maps, parsed: what two identical processes share."""


def maps_key(entries: list[SmapsEntry] | list[MapsEntry]) -> MapsKey:
    out = []
    for e in entries:
        m = e.maps if isinstance(e, SmapsEntry) else e
        out.append((m.start, m.end, m.perms, m.offset, m.dev, m.inode, m.path, m.deleted))
    return tuple(out)


class Reader:
    """Reads processes one after another; a process whose maps equal those of
    one read before in full is read without smaps (:meth:`read_like`).  ``reuse``
    False reads every process in full; so does a kernel without PAGEMAP_SCAN.
    ``is_shmem(entry)``: whether a mapping's pages are shmem (what status
    ``RssShmem`` counts)."""

    def __init__(self, fs: ProcFS, base: int, method: Method = "auto", reuse: bool = True,
                 is_shmem: Callable[[SmapsEntry], bool] = lambda e: False, block: int | None = None,
                 model: ModelVmpte | None = None) -> None:
        self.fs, self.base, self.method, self.is_shmem = fs, base, method, is_shmem
        self.block = block
        """Read shared mappings partly present by cells of this size (the PMD
        span; ``scan`` passes it for ``touched="tables"``), None: page by page."""
        self.model = model
        """The model's VmPTE of a process read so (``_deduce``); None: cells are always read."""
        # read_like walks with PAGEMAP_SCAN, which a fake tree's regular file cannot do
        self.reuse = reuse and method != "read" and (fs.is_live or method == "ioctl")
        self.seen: dict[str, ProcessRead] = {}
        """A process read in full, by the text of its /proc/PID/maps."""
        self.shmem_size: dict[int, int] = {}
        self.pages: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, ...]] = {}
        """Per process read in full, the size of its shmem mappings."""
        self.reused = 0
        """Processes read without smaps."""

    def read(self, pid: int) -> ProcessRead | None:
        fs = self.fs
        if not self.reuse:
            return read_process(fs, pid, self.base, self.method, self.block, self.model)
        maps = fs.pid_text(pid, "maps")
        if not maps.strip():
            return None  # kernel thread or zombie: no mm
        rep = self.seen.get(maps)
        if rep is not None:
            r = self.read_like(pid, rep)
            if r is not None:
                self.reused += 1
                return r
        r = read_process(fs, pid, self.base, self.method, self.block, self.model)
        if r is not None and rep is None and maps_key([v.entry for v in r.vmas]) == maps_key(parse_maps(maps)):
            self.seen[maps] = r  # (its smaps showed the maps read before it)
        return r

    def _pages(self, rep: ProcessRead, todo: list[int], hugetlb: list[tuple[int, int]]) -> tuple[np.ndarray, ...]:
        """``rep``'s pages in the mappings of ``todo``, as :func:`_canonical` gives a walk's."""
        key = (rep.pid, tuple(todo))
        got = self.pages.get(key)
        if got is None:
            parts = [(v.joined()[0] + v.entry.maps.start, v.joined()[1] + v.entry.maps.start,
                      v.huge_runs()[0] + v.entry.maps.start, v.huge_runs()[1] + v.entry.maps.start)
                     for v in (rep.vmas[i] for i in todo)]
            got = self.pages[key] = (*_join(_cat([p[0] for p in parts]), _cat([p[1] for p in parts])),
                                     *_join(_cat([p[2] for p in parts]), _cat([p[3] for p in parts])))
        return got

    def read_like(self, pid: int, rep: ProcessRead) -> ProcessRead | None:
        """``pid``, whose maps are ``rep``'s, read without smaps: ``rep``'s smaps
        gives the mappings' flags and page sizes; status ``RssShmem`` equal to
        the size of every shmem mapping says each is wholly present (as
        ``rep``'s then are); PAGEMAP_SCAN walks the rest (its own mappings,
        hugetlb, files, shmem partly present).  A mapping whose pages are
        ``rep``'s shares ``rep``'s reading; None when the process moved while
        read (it is then read in full)."""
        fs = self.fs
        before = parse_kb_fields(fs.pid_text(pid, "status"))
        shmem = self.shmem_size.get(rep.pid)
        if shmem is None:
            shmem = self.shmem_size[rep.pid] = sum(v.entry.maps.size for v in rep.vmas
                                                   if self.is_shmem(v.entry) and not v.entry.hugetlb)
        full_shmem = before.get("RssShmem") == shmem
        vmas: list[VmaRead] = []
        todo: list[int] = []
        by_cells: list[int] = []
        for i, v in enumerate(rep.vmas):
            e = v.entry
            if unseen(e) or (full_shmem and self.is_shmem(e) and not e.hugetlb and _whole(v)):
                vmas.append(v)
            else:
                vmas.append(VmaRead(e))
                (by_cells if _by_cells(e, self.block) else todo).append(i)
        fd = fs.open_pagemap(pid)
        try:
            if not use_ioctl(fs, fd, self.method):
                self.reuse = False  # without PAGEMAP_SCAN every process is read in full
                return None
            regions = _walk_regions(fs, pid, fd, vmas, todo)
            _assign(vmas, todo, regions)  # (read before the cells: what VmPTE decides needs them)
            pages, room = _read_cells(fs, pid, fd, vmas, by_cells, self.block, before.get("VmPTE"), self.model)
            if pages:  # a huge entry found: those mappings page by page
                by_cells = sorted(set(by_cells) - set(pages))
                more = _walk_regions(fs, pid, fd, vmas, pages)
                _assign(vmas, pages, more)
                todo = sorted(todo + pages)
                order = np.argsort(np.concatenate((regions[0], more[0])), kind="stable")
                rs, re_, huge = (np.concatenate((x, y))[order] for x, y in zip(regions, more))
                regions = (rs, re_, huge)
        finally:
            os.close(fd)
        after = parse_kb_fields(fs.pid_text(pid, "status"))
        if after.get("VmPTE") != before.get("VmPTE"):
            return None
        hugetlb = [(rep.vmas[i].entry.maps.start, rep.vmas[i].entry.maps.end) for i in todo
                   if rep.vmas[i].entry.hugetlb]
        mine = _canonical(regions, hugetlb)
        theirs = self._pages(rep, todo, hugetlb)
        same_pages = all(np.array_equal(x, y) for x, y in zip(mine, theirs))
        same_cells = {i for i in by_cells if _same_reading(vmas[i], rep.vmas[i])}
        same = same_pages and len(same_cells) == len(by_cells)
        if same:  # every walked mapping's pages (cells) are rep's: share its reading
            vmas = list(rep.vmas)
        else:
            walked = set(todo)
            for i in todo + by_cells:
                mv, rv = vmas[i], rep.vmas[i]
                if (same_pages and i in walked) or i in same_cells or (i in walked and _same_reading(mv, rv)):
                    vmas[i] = rv
                else:
                    vmas[i] = _with_counts(mv, self.is_shmem(mv.entry))
        comm, cmdline = _names(fs, pid)
        return ProcessRead(pid, comm, cmdline, after, vmas, True, rep.thp_unknown, like=rep.pid if same else None,
                           decided=room is not None, room=room or 0)


def _same_reading(mine: VmaRead, theirs: VmaRead) -> bool:
    """The same runs, read the same way (pages, or cells) or saying the same
    either way: none, or the whole mapping (every page present; every cell
    holding one: the same blocks)."""
    if not all(np.array_equal(x, y)
               for x, y in zip(mine.joined() + mine.huge_runs(), theirs.joined() + theirs.huge_runs())):
        return False
    s, e = mine.joined()
    return mine.cells == theirs.cells or s.size == 0 or (s.size == 1 and s[0] == 0 and e[0] == mine.entry.maps.size)


def _by_cells(e: SmapsEntry, block: int | None) -> bool:
    """Whether a mapping to walk is read by cells: a shared mapping of base
    pages (a segment, or a small one written as a private file row), when the
    scan needs blocks (``block``), not pages.  (Which cells hold a page decides
    every table count: ``workload.touched.fill_blocks`` for a segment, the VA
    blocks of a private row; its own private mappings stay page by page, they
    are small.)"""
    return block is not None and e.maps.shared and not e.hugetlb and not unseen(e)


ModelVmpte = Callable[[list[VmaRead]], "int | None"]
"""The model's VmPTE of a process whose mappings read as these (``scan`` makes
it: ``scan._process_vmpte``, a one-process workload), None when it cannot tell."""

SAMPLE_BLOCKS = 32
"""Blocks of each mapping whose tables VmPTE decided that are probed for an
entry all the same (evenly spaced, the first and the last among them)."""


def _read_cells(fs: ProcFS, pid: int, fd: int, vmas: list[VmaRead], todo: list[int], block: int | None,
                vmpte: int | None = None, model: ModelVmpte | None = None) -> tuple[list[int], int | None]:
    """Each mapping of ``todo`` its cells holding an entry (``cells`` set:
    runs from its start, filled as ``workload.touched.fill_blocks`` fills
    them, so that every way of reading them gives one answer); returns those
    where a huge entry (a PMD-mapped THP) was found, left to be read page by
    page, and where VmPTE decided the blocks, the room it leaves (else None): with the kernel's ``vmpte``
    and the ``model`` of the process's VmPTE, it does where it can
    (:func:`_deduce`); the rest are read one PAGEMAP_SCAN per cell."""
    pages: list[int] = []
    room: int | None = None
    if block is None:
        return pages, room
    if vmpte is not None and model is not None and todo:
        todo, pages, room = _deduce(fs, pid, fd, vmas, todo, block, vmpte, model)
    for i in todo:
        v = vmas[i]
        m = v.entry.maps
        s, e, huge = fs.pagemap_cells(fd, m.start, m.end, m.offset, block, pid)
        if huge:
            pages.append(i)
            continue
        _set_cells(v, s, e, block)
    return pages, room


def _set_cells(v: VmaRead, s: np.ndarray, e: np.ndarray, block: int) -> None:
    """``v``'s runs: the cells ``[s, e)`` (absolute addresses) holding an entry, filled."""
    m = v.entry.maps
    v.starts, v.ends = fill_blocks(s - m.start, e - m.start, m.start, m.offset, m.size, block)
    v.huge, v.cells = None, True


def _interior(start: int, end: int, block: int) -> tuple[int, int]:
    """The whole ``block``s of ``[start, end)``: ``[a, b)``, empty when none."""
    a, b = -(-start // block) * block, end // block * block
    return a, max(a, b)


def _sample(a: int, b: int, block: int, n: int = SAMPLE_BLOCKS) -> np.ndarray:
    """Up to ``n`` of the blocks of ``[a, b)``, evenly spaced, the first and the last among them."""
    count = (b - a) // block
    return a + np.unique(np.linspace(0, count - 1, min(n, count)).round().astype(np.int64)) * block


def _deduce(fs: ProcFS, pid: int, fd: int, vmas: list[VmaRead], todo: list[int], block: int, vmpte: int,
            model: ModelVmpte) -> tuple[list[int], list[int], int | None]:
    """Let VmPTE decide which blocks of the mappings of ``todo`` (shared,
    base pages, partly present) hold a PTE table; returns the mappings left
    to read by cells, those where a huge entry was found, and where VmPTE
    decided (every mapping with a whole block: none is left) the room it
    leaves, else None.

    VmPTE is mm_pgtables_bytes() (task_mem(), fs/proc/task_mmu.c): every PTE,
    PMD and PUD table of the process, empty or not; no table lies in a block
    no mapping covers (free_pgtables() -> free_pgd_range() frees those,
    mm/memory.c).  The model counts a table only where an entry needs it, so
    it never counts more than the kernel has.  Each mapping's partial blocks
    at its ends (which a neighbour may share) are read by cells first; then
    the model's VmPTE of the process with every whole block of those
    mappings holding a page (the rest as read) is the most VmPTE can be
    without a table the model cannot see.  When the kernel's VmPTE is that
    figure, every one of those blocks holds a PTE table, so a page: read,
    of a mapping whose address and file offset agree modulo ``block``,
    nothing more; of another, one PAGEMAP_SCAN per *file* block (its cells
    are what a block of addresses and one of file offsets have in common:
    every block of addresses holds a page, so the filled ranges are the
    file blocks that hold one).  An empty table (pages reclaimed,
    ``MADV_DONTNEED``, half of a block unmapped) counts in VmPTE and holds
    no page; with an untouched block elsewhere it could make the figures
    equal, so a sample of the blocks (:data:`SAMPLE_BLOCKS`) is probed for
    an entry: any without, or a huge one, and every mapping is read by
    cells.  When VmPTE is lower, some block holds no table: read by cells.

    What the sample cannot rule out is bounded: an untouched block balanced
    by an empty table elsewhere needs a block (or window) the mappings cover
    where the model counts no table.  The model's VmPTE with *every* mapping
    whole (a table wherever one can be) less the kernel's is the room left
    for such tables: returned, so that the scan can say how many decided
    blocks may hold no page (0: none can)."""
    hyp = list(vmas)
    edges: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    pages: list[int] = []
    for i in todo:
        m = vmas[i].entry.maps
        a, b = _interior(m.start, m.end, block)
        s_parts, e_parts = [], []
        for lo, hi in ((m.start, a), (b, m.end)) if a < b else ((m.start, m.end),):
            if lo < hi:
                s, e, huge = fs.pagemap_cells(fd, lo, hi, m.offset - m.start + lo, block, pid)
                if huge:
                    break
                s_parts.append(s)
                e_parts.append(e)
        else:
            es, ee = _cat(s_parts), _cat(e_parts)
            if a == b:  # no whole block (a small mapping): read by cells
                _set_cells(vmas[i], es, ee, block)
                continue
            edges[i] = (es, ee)
            full = VmaRead(vmas[i].entry, cells=True)
            order = np.argsort(np.concatenate((es, [a])), kind="stable")
            _set_cells(full, np.concatenate((es, [a]))[order], np.concatenate((ee, [b]))[order], block)
            hyp[i] = full
            continue
        pages.append(i)  # a huge entry: page by page
    todo = sorted(edges)
    if pages or not todo:
        return todo, pages, None
    if model(hyp) != vmpte:
        return todo, [], None
    for i in todo:
        m = vmas[i].entry.maps
        a, b = _interior(m.start, m.end, block)
        sample = _sample(a, b, block)
        found, huge = fs.pagemap_first(fd, sample, sample + block, pid)
        if huge or (found < 0).any():
            return todo, [], None
    for i in todo:
        v, m = vmas[i], vmas[i].entry.maps
        a, b = _interior(m.start, m.end, block)
        shift = (m.start - m.offset) % block
        if shift == 0:
            s, e = np.array([a], np.int64), np.array([b], np.int64)
        else:  # the file blocks' parts in [a, b): one begins where the address is shift modulo block
            bounds = np.arange(a - block + shift, b, block, dtype=np.int64)
            s, e = np.maximum(bounds, a), np.minimum(bounds + block, b)
            found, huge = fs.pagemap_first(fd, s, e, pid)
            if huge:  # this one and the ones after it by cells (which find it and go page by page)
                return todo[todo.index(i):], [], None
            s, e = s[found >= 0], e[found >= 0]
        es, ee = edges[i]
        s, e = np.concatenate((es, s)), np.concatenate((ee, e))
        order = np.argsort(s, kind="stable")
        _set_cells(v, s[order], e[order], block)
    most = model([v if unseen(v.entry) else whole(v) for v in hyp])
    return [], [], max(0, (most if most is not None else vmpte) - vmpte)


def whole(v: VmaRead, cells: bool | None = None) -> VmaRead:
    """``v`` read as every page present (one run: the whole mapping), read
    as cells or not as ``v`` was unless ``cells`` says."""
    return VmaRead(v.entry, np.zeros(1, np.int64), np.array([v.entry.maps.size], np.int64),
                   cells=v.cells if cells is None else cells)


def _whole(v: VmaRead) -> bool:
    """Every page of the mapping present, none PMD-mapped (as smaps or a walk said)."""
    return (v.starts.size == 1 and v.starts[0] == 0 and v.ends[0] == v.entry.maps.size
            and (v.huge is None or not v.huge.any()) and not v.pmd_mapped)


def _with_counts(v: VmaRead, shmem: bool) -> VmaRead:
    """``v`` with the smaps counters the scan reads (``Rss``, ``*PmdMapped``)
    made from its walk, its other fields (flags, page size) kept."""
    e = v.entry
    hs, he = v.huge_runs()
    pmd = int((he - hs).sum())
    fields = dict(e.fields)
    fields["Rss"] = int((v.ends - v.starts).sum())
    if v.cells:  # cells, not pages: no page count
        del fields["Rss"]
    for k in PMD_FIELDS:
        fields[k] = 0
    if pmd:
        fields["FilePmdMapped" if not shmem and e.maps.path.startswith("/") else
               "ShmemPmdMapped" if shmem else "AnonHugePages"] = pmd
    if e.hugetlb:
        fields["Shared_Hugetlb" if e.maps.shared else "Private_Hugetlb"] = fields["Rss"]
    return VmaRead(SmapsEntry(e.maps, fields, e.vmflags), v.starts, v.ends, v.huge, v.cells)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else _EMPTY


def _join(s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted runs with the abutting ones joined."""
    if s.size < 2:
        return s, e
    cut = s[1:] != e[:-1]
    return s[np.concatenate(([True], cut))], e[np.concatenate((cut, [True]))]


def _needs_walk(v: VmaRead, ioctl: bool) -> bool:
    """Whether smaps leaves the mapping's pages undecided (and decide them when it does not)."""
    e = v.entry
    if unseen(e):
        return False
    size = e.maps.size
    mapped = mapped_bytes(e)
    if mapped == size and not v.pmd_mapped:
        v.starts, v.ends = np.zeros(1, np.int64), np.array([size], np.int64)
        return False
    if mapped == 0 and e.fields.get("Swap", 0) == 0 and (e.maps.shared or not ioctl):
        # a shared mapping has no swap entries (shmem and file pages are unmapped when
        # reclaimed); a private one may hold PTE markers (guard regions, uffd-wp) that
        # only the walk sees: cheap with PAGEMAP_SCAN, which skips what has no tables
        return False
    return True


def _read_pages(fs: ProcFS, pid: int, vmas: list[VmaRead], base: int, method: Method,
                thp_unknown: list[str], block: int | None = None, vmpte: int | None = None,
                model: ModelVmpte | None = None) -> int | None:
    """Read what smaps leaves undecided; where VmPTE decided blocks, the room
    it leaves, else None (:func:`_read_cells`)."""
    ioctl_ok = method != "read"
    todo = [i for i, v in enumerate(vmas) if _needs_walk(v, ioctl_ok)]
    room: int | None = None
    if not todo:
        return room
    fd = fs.open_pagemap(pid)
    try:
        if use_ioctl(fs, fd, method):
            cells = [i for i in todo if _by_cells(vmas[i].entry, block) and not vmas[i].pmd_mapped]
            walk = sorted(set(todo) - set(cells))
            if walk:  # (read before the cells: what VmPTE decides needs them)
                _walk_ioctl(fs, pid, fd, vmas, walk)
            pages, room = _read_cells(fs, pid, fd, vmas, cells, block, vmpte, model)
            if pages:
                _walk_ioctl(fs, pid, fd, vmas, pages)
        else:
            for i in todo:
                _read_entries(fs, pid, fd, vmas[i], base, thp_unknown)
    finally:
        os.close(fd)
    return room


Regions = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Runs of pages with an entry: starts, ends (absolute) and whether a huge PMD maps each."""


def _walk_regions(fs: ProcFS, pid: int, fd: int, vmas: list[VmaRead], todo: list[int]) -> Regions:
    """PAGEMAP_SCAN over each run of consecutive mappings of ``todo``."""
    parts = []
    lo = 0
    while lo < len(todo):
        hi = lo
        while hi + 1 < len(todo) and todo[hi + 1] == todo[hi] + 1:
            hi += 1
        parts += fs.pagemap_regions(fd, vmas[todo[lo]].entry.maps.start, vmas[todo[hi]].entry.maps.end, pid)
        lo = hi + 1
    if not parts:
        return _EMPTY, _EMPTY, np.zeros(0, bool)
    regions = np.concatenate(parts)
    return (regions["start"].astype(np.int64), regions["end"].astype(np.int64),
            (regions["categories"] & PAGE_IS_HUGE) != 0)


def _assign(vmas: list[VmaRead], todo: list[int], regions: Regions) -> None:
    """Each mapping of ``todo`` its runs of ``regions``, cut at its bounds (the
    kernel merges regions across neighbouring mappings)."""
    rs, re_, huge = regions
    for i in todo:
        v = vmas[i]
        start, end = v.entry.maps.start, v.entry.maps.end
        a = int(np.searchsorted(re_, start, "right"))
        b = int(np.searchsorted(rs, end, "left"))
        s = np.maximum(rs[a:b], start) - start
        e = np.minimum(re_[a:b], end) - start
        v.starts, v.ends = s, e
        h = huge[a:b]
        v.huge = h if (h.any() and not v.entry.hugetlb) else None


def _walk_ioctl(fs: ProcFS, pid: int, fd: int, vmas: list[VmaRead], todo: list[int]) -> None:
    """PAGEMAP_SCAN over each run of consecutive mappings to walk, the regions
    then cut at the mappings' bounds."""
    _assign(vmas, todo, _walk_regions(fs, pid, fd, vmas, todo))


def _canonical(regions: Regions, hugetlb: list[tuple[int, int]]) -> tuple[np.ndarray, ...]:
    """Regions as a set of pages: the runs joined, and the huge (THP) runs joined
    (a hugetlb page's PAGE_IS_HUGE is no THP)."""
    rs, re_, huge = regions
    thp = huge.copy()
    for lo, hi in hugetlb:
        thp &= ~((rs >= lo) & (re_ <= hi))
    return (*_join(rs, re_), *_join(rs[thp], re_[thp]))


def _read_entries(fs: ProcFS, pid: int, fd: int, v: VmaRead, base: int, thp_unknown: list[str]) -> None:
    """The pread path: every entry of a base-page mapping, one per page of a
    hugetlb one; PMD-mapped THP located by the PFNs."""
    m = v.entry.maps
    page = (v.entry.kernel_page_size or base) if v.entry.hugetlb else base
    v.starts, v.ends = read_touched(fs, pid, fd, m.start, m.end, page, base)
    if v.pmd_mapped and not v.entry.hugetlb:
        blocks = thp_blocks(fs, pid, fd, m.start, m.end, base)
        if blocks is None or blocks.size * (1 << 21) != v.pmd_mapped:
            if not m.shared:  # (a shared mapping's segment decides its page size from smaps alone)
                thp_unknown.append(f"{m.start:#x}-{m.end:#x} {m.shown_path}".rstrip())
            return
        _mark_huge(v, blocks - m.start)


def _mark_huge(v: VmaRead, block_offsets: np.ndarray, block: int = 1 << 21) -> None:
    """Split the runs at the huge blocks (offsets) and flag those."""
    if block_offsets.size == 0:
        return
    hs, he = block_offsets, block_offsets + block
    cuts = np.union1d(np.concatenate((v.starts, v.ends)), np.concatenate((hs, he)))
    s, e = cuts[:-1], cuts[1:]
    s_in = np.searchsorted(v.ends, s, "right")
    inside = (s_in < v.starts.size) & (v.starts[np.minimum(s_in, v.starts.size - 1)] <= s)
    s, e = s[inside], e[inside]
    h_in = np.searchsorted(he, s, "right")
    huge = (h_in < hs.size) & (hs[np.minimum(h_in, hs.size - 1)] <= s)
    v.starts, v.ends, v.huge = s, e, huge


def read_touched(fs: ProcFS, pid: int, fd: int, start: int, end: int, page_size: int,
                 base_page: int) -> tuple[np.ndarray, np.ndarray]:
    """Touched byte ranges of ``[start, end)`` of process ``pid``, from the
    mapping start (``fd``: its pagemap, one entry per ``base_page``), by pread.

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


def thp_blocks(fs: ProcFS, pid: int, fd: int, start: int, end: int, base: int,
               block: int = 1 << 21) -> np.ndarray | None:
    """Addresses of the 2 MiB blocks of ``[start, end)`` that look PMD-mapped in
    the pagemap: every entry present, the PFNs one physically contiguous,
    2 MiB-aligned run (a huge page; a PTE-mapped one looks the same, so the
    caller checks the count against smaps).  None when the PFNs are hidden
    (pagemap shows them to CAP_SYS_ADMIN only)."""
    lo, hi = -(-start // block) * block, end // block * block
    if hi <= lo:
        return np.zeros(0, np.int64)
    per = block // base
    data = fs.pread(fd, (hi - lo) // base * PAGEMAP_ENTRY_BYTES, lo // base * PAGEMAP_ENTRY_BYTES, pid)
    v = np.frombuffer(data, dtype="<u8").reshape(-1, per)
    present = (v >> np.uint64(63)).astype(bool).all(axis=1)
    pfn = (v & np.uint64(PFN_MASK)).astype(np.int64)
    if present.any() and not pfn[present].any():
        return None
    contiguous = (np.diff(pfn, axis=1) == 1).all(axis=1) & (pfn[:, 0] % per == 0)
    return lo + np.flatnonzero(present & contiguous).astype(np.int64) * block
