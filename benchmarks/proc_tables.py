"""Count a live process's page tables from /proc, independently of ptcalc's model.

Ground truth for whole-process page tables (issue 13).  For one process this
reads ``/proc/PID/smaps`` (the VMAs, their KernelPageSize, AnonHugePages,
ShmemPmdMapped ...) and ``/proc/PID/pagemap`` (one 64-bit entry per 4 KiB
virtual page), and counts the x86-64 page tables the kernel must hold for the
entries it finds:

* an entry *occupies* a page-table slot when the pagemap says present (bit 63),
  swapped (bit 62: swap and migration entries live in PTEs too), uffd-wp
  (bit 57) or guard region (bit 58: a PTE marker);
* a PTE table per 2 MiB block holding an occupied 4 KiB-level entry;
* a PMD table per 1 GiB block holding an occupied entry mapped at 4 KiB or at
  2 MiB (hugetlb with KernelPageSize 2048 kB, PMD-mapped THP);
* a PUD table per 512 GiB block holding any occupied entry;
* plus one PTE table per PMD-mapped *anonymous* THP: the table the kernel
  preallocates and deposits under the huge PMD (``__do_huge_pmd_anonymous_page``
  -> ``pgtable_trans_huge_deposit`` + ``mm_inc_nr_ptes`` in mm/huge_memory.c),
  counted in VmPTE although it is not linked into the tree.  PMD-mapped shmem
  or file THP deposits nothing on x86-64 (``do_set_pmd`` deposits only when
  ``arch_needs_pgtable_deposit()``, false there).

VmPTE (``mm_pgtables_bytes``) is 4 KiB times the number of PTE, PMD and PUD
tables (x86-64 4-level; the PGD is not in it), so the count can be compared
with the kernel's figure table for table.  Where they differ the process holds
tables without an occupied entry (e.g. a PTE table emptied by zapping that the
kernel keeps until munmap or exit).

Each table is also attributed to the *kinds* of mapping whose entries it holds
(``KINDS``): a PMD table covering a library and the shared segment is counted
once, under the kind ``libs+segment``.

Which pages are PMD-mapped THP is asked from the kernel with the PAGEMAP_SCAN
ioctl (``PAGE_IS_HUGE``, Linux 6.7+), only for VMAs whose smaps says they have
some (AnonHugePages, ShmemPmdMapped, FilePmdMapped).

Needs root (or ptrace access to the process) and numpy.
"""

from __future__ import annotations

import ctypes
import os
import re
from dataclasses import dataclass, field

import numpy as np

PAGE = 4096
PTE_SHIFT, PMD_SHIFT, PUD_SHIFT = 21, 30, 39  # what one table of each level covers (x86-64)
LEVELS = ("pte", "pmd", "pud")

PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_FILE = 1 << 61
PM_GUARD_REGION = 1 << 58
PM_UFFD_WP = 1 << 57
PM_OCCUPIED = PM_PRESENT | PM_SWAP | PM_GUARD_REGION | PM_UFFD_WP

# The kinds of mapping, in the order labels list them.
KINDS = ("text", "libs", "bss", "heap", "anon", "stack", "vdso", "segment", "shared")
KIND_DOC = {
    "text": "the program binary's own file mappings (MAP_PRIVATE)",
    "libs": "other MAP_PRIVATE file mappings: shared libraries, ld.so, locale archive, ...",
    "bss": "anonymous private mapping right after a file mapping (a .bss extension made by the ELF loader)",
    "heap": "[heap] (brk)",
    "anon": "other anonymous private mappings (malloc's mmaps, ...)",
    "stack": "[stack]",
    "vdso": "[vdso], [vvar], [vvar_vclock]",
    "segment": "the largest MAP_SHARED mapping (PostgreSQL's main shared memory)",
    "shared": "other MAP_SHARED mappings (SysV, /dev/shm, ...)",
}

_SMAPS_HEAD = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$")


@dataclass
class Vma:
    start: int
    end: int
    perms: str
    offset: int
    inode: int
    path: str
    fields: dict[str, int] = field(default_factory=dict)  # smaps "Key: N kB" lines, in bytes
    thp_eligible: int | None = None
    vmflags: str = ""
    kind: str = ""

    @property
    def shared(self) -> bool:
        return self.perms[3] == "s"

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def page_size(self) -> int:
        return self.fields.get("KernelPageSize", PAGE)


def parse_smaps(text: str) -> list[Vma]:
    """The VMAs of an smaps file, each with its numeric fields in bytes."""
    vmas: list[Vma] = []
    for line in text.splitlines():
        m = _SMAPS_HEAD.match(line)
        if m:
            vmas.append(Vma(int(m[1], 16), int(m[2], 16), m[3], int(m[4], 16), int(m[6]), m[7]))
            continue
        key, _, rest = line.partition(":")
        rest = rest.strip()
        if not vmas:
            continue
        if key == "VmFlags":
            vmas[-1].vmflags = rest
        elif key == "THPeligible":
            vmas[-1].thp_eligible = int(rest)
        elif rest.endswith(" kB"):
            vmas[-1].fields[key] = int(rest[:-3]) * 1024
    return vmas


def parse_status(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def kb(status: dict[str, str], key: str) -> int:
    """A ``Key: N kB`` status field in bytes."""
    return int(status[key].split()[0]) * 1024


def classify(vmas: list[Vma], exe: str) -> None:
    """Set each VMA's ``kind`` (see KINDS)."""
    shared = [v for v in vmas if v.shared]
    biggest = max(shared, key=lambda v: v.size) if shared else None
    prev: Vma | None = None
    for v in vmas:
        if v.shared:
            v.kind = "segment" if v is biggest else "shared"
        elif v.path == "[heap]":
            v.kind = "heap"
        elif v.path.startswith("[stack"):
            v.kind = "stack"
        elif v.path in ("[vdso]", "[vvar]", "[vvar_vclock]"):
            v.kind = "vdso"
        elif v.path.startswith("/"):
            v.kind = "text" if v.path == exe else "libs"
        elif v.path == "" and prev is not None and prev.end == v.start and prev.path.startswith("/") \
                and not prev.shared:
            v.kind = "bss"
        else:
            v.kind = "anon"
        prev = v


# --- PAGEMAP_SCAN (Linux 6.7+): which pages are mapped by a huge PMD -----------------------
PAGE_IS_PRESENT = 1 << 3
PAGE_IS_HUGE = 1 << 6


class _PmScanArg(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in (
        "size", "flags", "start", "end", "walk_end", "vec", "vec_len", "max_pages",
        "category_inverted", "category_mask", "category_anyof_mask", "return_mask")]


class _PageRegion(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64), ("categories", ctypes.c_uint64)]


PAGEMAP_SCAN = (3 << 30) | (ctypes.sizeof(_PmScanArg) << 16) | (ord("f") << 8) | 16  # _IOWR('f', 16, ...)
_libc = ctypes.CDLL(None, use_errno=True)


def huge_regions(fd: int, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) runs of pages that are present and PAGE_IS_HUGE (THP or hugetlb)."""
    out: list[tuple[int, int]] = []
    vec = (_PageRegion * 512)()
    while start < end:
        arg = _PmScanArg(size=ctypes.sizeof(_PmScanArg), start=start, end=end, vec=ctypes.addressof(vec),
                         vec_len=512, category_mask=PAGE_IS_PRESENT | PAGE_IS_HUGE,
                         return_mask=PAGE_IS_PRESENT | PAGE_IS_HUGE)
        n = _libc.ioctl(fd, ctypes.c_ulong(PAGEMAP_SCAN), ctypes.byref(arg))
        if n < 0:
            raise OSError(ctypes.get_errno(), "PAGEMAP_SCAN: " + os.strerror(ctypes.get_errno()))
        out.extend((vec[i].start, vec[i].end) for i in range(n))
        if arg.walk_end <= start:
            break
        start = arg.walk_end
    return out


# --- reading pagemap ----------------------------------------------------------------------
def read_pagemap(fd: int, start: int, end: int, chunk: int = 1 << 16) -> np.ndarray:
    """The pagemap entries of [start, end), one uint64 per 4 KiB page."""
    parts = []
    vpn, last = start // PAGE, end // PAGE
    while vpn < last:
        n = min(chunk, last - vpn)
        buf = os.pread(fd, n * 8, vpn * 8)
        parts.append(np.frombuffer(buf, dtype=np.uint64))
        vpn += len(buf) // 8
        if len(buf) == 0:
            break
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


@dataclass
class VmaPages:
    """What the pagemap says about one VMA."""
    occupied: int = 0      # 4 KiB pages with an occupied entry
    present: int = 0
    swapped: int = 0
    marker: int = 0        # guard region / uffd-wp markers
    pmd_mapped: int = 0    # 2 MiB units mapped by one PMD entry (hugetlb or THP)
    pud_mapped: int = 0
    deposited: int = 0     # PMD-mapped anonymous THP: one deposited PTE table each
    runs: list[tuple[int, int]] = field(default_factory=list)  # [start, end) runs of occupied pages


def _runs(vpns: np.ndarray) -> list[tuple[int, int]]:
    if len(vpns) == 0:
        return []
    cut = np.flatnonzero(np.diff(vpns) != 1) + 1
    starts = np.concatenate(([vpns[0]], vpns[cut]))
    ends = np.concatenate((vpns[cut - 1], [vpns[-1]])) + 1
    return [(int(s) * PAGE, int(e) * PAGE) for s, e in zip(starts, ends)]


@dataclass
class ProcessTables:
    pid: int
    title: str
    exe: str
    status: dict[str, str]
    vmas: list[Vma]
    pages: list[VmaPages]
    counts: dict[str, int]                      # tables per level ("pte" includes deposited)
    deposited: int                              # of which deposited PTE tables (anon THP)
    by_kind: dict[str, dict[str, int]]          # level -> kind label ("libs+segment") -> tables
    vmpte_kernel: int                           # bytes, from status, read before and after
    blocks: dict[str, list[int]] = field(default_factory=dict)  # level -> table indices (va >> shift)

    @property
    def vmpte_counted(self) -> int:
        return sum(self.counts.values()) * PAGE


def _label(mask: int) -> str:
    return "+".join(k for i, k in enumerate(KINDS) if mask >> i & 1)


def _tables(blocks: np.ndarray, kinds: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Distinct table indices and, per kind label, how many tables hold entries of exactly those kinds."""
    if len(blocks) == 0:
        return blocks, {}
    order = np.lexsort((kinds, blocks))
    b, k = blocks[order], kinds[order]
    first = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
    masks = np.bitwise_or.reduceat(np.left_shift(1, k.astype(np.int64)), first)
    labels: dict[str, int] = {}
    for mask, n in zip(*np.unique(masks, return_counts=True)):
        labels[_label(int(mask))] = int(n)
    return b[first], labels


class ProcessGone(Exception):
    pass


def read_text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


def count_process(pid: int, keep_runs: bool = True) -> ProcessTables:
    """Count ``pid``'s page tables from its pagemap; re-read while its VmPTE moves (3 tries)."""
    for _ in range(3):
        try:
            r = _count_once(pid, keep_runs)
        except (FileNotFoundError, ProcessLookupError) as e:
            raise ProcessGone(pid) from e
        if r is not None:
            return r
    raise RuntimeError(f"pid {pid}: VmPTE kept changing while its pagemap was read")


def _count_once(pid: int, keep_runs: bool) -> ProcessTables | None:
    base = f"/proc/{pid}"
    status0 = parse_status(read_text(f"{base}/status"))
    title = read_text(f"{base}/cmdline").replace("\0", " ").strip()
    try:
        exe = os.readlink(f"{base}/exe")
    except OSError:
        exe = ""
    vmas = parse_smaps(read_text(f"{base}/smaps"))
    classify(vmas, exe)
    fd = os.open(f"{base}/pagemap", os.O_RDONLY)
    vpns_4k: list[np.ndarray] = []   # occupied entries mapped at 4 KiB
    kinds_4k: list[np.ndarray] = []
    vpns_big: list[np.ndarray] = []  # occupied entries mapped by a PMD (2 MiB) entry
    kinds_big: list[np.ndarray] = []
    vpns_pud: list[np.ndarray] = []  # mapped by a PUD (1 GiB) entry
    kinds_pud: list[np.ndarray] = []
    pages: list[VmaPages] = []
    deposited = 0
    dep_kind: dict[str, int] = {}
    try:
        for v in vmas:
            p = VmaPages()
            pages.append(p)
            if v.path == "[vsyscall]":  # emulated, above TASK_SIZE: no user page tables
                continue
            e = read_pagemap(fd, v.start, v.end)
            occ = (e & np.uint64(PM_OCCUPIED)) != 0
            idx = np.flatnonzero(occ)
            vpn = (v.start // PAGE + idx).astype(np.int64)
            p.occupied = len(idx)
            p.present = int(np.count_nonzero(e & np.uint64(PM_PRESENT)))
            p.swapped = int(np.count_nonzero(e & np.uint64(PM_SWAP)))
            p.marker = int(np.count_nonzero(e & np.uint64(PM_GUARD_REGION | PM_UFFD_WP)))
            if keep_runs:
                p.runs = _runs(vpn)
            kind = np.full(len(vpn), KINDS.index(v.kind), dtype=np.int64)
            if v.page_size == 1 << 30:
                vpns_pud.append(vpn), kinds_pud.append(kind)
                p.pud_mapped = len(np.unique(vpn >> 18))
                continue
            if v.page_size == 1 << 21:
                vpns_big.append(vpn), kinds_big.append(kind)
                p.pmd_mapped = len(np.unique(vpn >> 9))
                continue
            huge = v.fields.get("AnonHugePages", 0) + v.fields.get("ShmemPmdMapped", 0) \
                + v.fields.get("FilePmdMapped", 0)
            if huge and len(vpn):
                is_big = np.zeros(len(vpn), bool)
                for s, t in huge_regions(fd, v.start, v.end):
                    is_big |= (vpn >= s // PAGE) & (vpn < t // PAGE)
                p.pmd_mapped = len(np.unique(vpn[is_big] >> 9))
                if not v.shared and not v.path.startswith("/"):
                    p.deposited = p.pmd_mapped  # anonymous THP deposits a PTE table per huge PMD
                    dep_kind[v.kind] = dep_kind.get(v.kind, 0) + p.deposited
                deposited += p.deposited
                vpns_big.append(vpn[is_big]), kinds_big.append(kind[is_big])
                vpn, kind = vpn[~is_big], kind[~is_big]
            vpns_4k.append(vpn), kinds_4k.append(kind)
    finally:
        os.close(fd)
    status1 = parse_status(read_text(f"{base}/status"))
    if kb(status0, "VmPTE") != kb(status1, "VmPTE"):
        return None

    def cat(xs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs) if xs else np.zeros(0, np.int64)

    v4, k4 = cat(vpns_4k), cat(kinds_4k)
    vb, kb_ = cat(vpns_big), cat(kinds_big)
    vp, kp = cat(vpns_pud), cat(kinds_pud)
    counts, by_kind, blocks = {}, {}, {}
    pte_b, by_kind["pte"] = _tables(v4 >> 9, k4)
    pmd_b, by_kind["pmd"] = _tables(np.concatenate((v4, vb)) >> 18, np.concatenate((k4, kb_)))
    pud_b, by_kind["pud"] = _tables(np.concatenate((v4, vb, vp)) >> 27, np.concatenate((k4, kb_, kp)))
    for k, n in dep_kind.items():
        by_kind["pte"][f"{k} (deposited)"] = n
    counts = {"pte": len(pte_b) + deposited, "pmd": len(pmd_b), "pud": len(pud_b)}
    blocks = {"pte": [int(x) for x in pte_b], "pmd": [int(x) for x in pmd_b], "pud": [int(x) for x in pud_b]}
    return ProcessTables(pid, title, exe, status1, vmas, pages, counts, deposited, by_kind,
                         kb(status1, "VmPTE"), blocks)


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes (``HugePages_*`` counts as they are)."""
    out = {}
    for line in read_text("/proc/meminfo").splitlines():
        k, _, v = line.partition(":")
        parts = v.split()
        out[k] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out


if __name__ == "__main__":  # python benchmarks/proc_tables.py PID...
    import sys
    for a in sys.argv[1:]:
        t = count_process(int(a), keep_runs=False)
        print(f"{t.pid} {t.title[:40]!r}: counted {t.counts} (+{t.deposited} deposited) = "
              f"{t.vmpte_counted // 1024} KiB, kernel VmPTE {t.vmpte_kernel // 1024} KiB")
        for lvl in LEVELS:
            print("  ", lvl, dict(sorted(t.by_kind[lvl].items(), key=lambda kv: -kv[1])))
