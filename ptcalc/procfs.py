"""Linux /proc and /sys parsing for ``ptcalc scan``: text in, records out.

Every parser takes the contents of one file (str, or bytes for pagemap) and
returns plain records, so it can be tested with strings copied from a real
machine (the psutil style).  Reading the files is ``ProcFS``'s job; deciding
what they mean for a workload is ``ptcalc.scan``'s.

    file                                  parser                 what it gives
    ------------------------------------  ---------------------  ----------------------------------
    /proc/PID/smaps                       parse_smaps            mappings with sizes and VmFlags
    /proc/PID/maps (a header line)        parse_maps_line        address, perms, offset, dev, inode, path
    /proc/PID/pagemap                     pagemap_touched        which 4 KiB pages have an entry
    /proc/PID/status                      parse_status           Name, VmPTE, ...
    /proc/sysvipc/shm                     parse_sysvipc_shm      SysV key, shmid, size, nattch
    /proc/meminfo                         parse_meminfo          MemTotal, ...
    /proc/self/mountinfo                  parse_mountinfo        device -> filesystem type
    /proc/cpuinfo                         parse_cpu_flags        la57
    /sys/.../vulnerabilities/meltdown     pti_active             "Mitigation: PTI"
    /sys/kernel/mm/hugepages/hugepages-*  hugepage_dir_size      hugetlb pool page sizes
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field

import numpy as np

from ptcalc.units import KiB

PAGEMAP_ENTRY_BYTES = 8
"""One 64-bit entry per PAGE_SIZE page (Documentation/admin-guide/mm/pagemap.rst)."""

PM_PRESENT = 1 << 63
"""fs/proc/task_mmu.c: page present (a present PTE, PMD or hugetlb entry)."""

PM_SWAP = 1 << 62
"""fs/proc/task_mmu.c: a swap (or migration) entry in the page table."""


class ProcessGone(Exception):
    """The process exited while we read it (ENOENT/ESRCH)."""


class NoAccess(Exception):
    """The process's files are not readable to us (EACCES/EPERM)."""


@dataclass(frozen=True)
class MapsEntry:
    """One line of /proc/PID/maps (the header line of an smaps entry)."""

    start: int
    end: int
    perms: str
    """Four characters: r/w/x, then ``s`` (MAP_SHARED) or ``p`` (private)."""
    offset: int
    """File offset of ``start`` in bytes (vm_pgoff << PAGE_SHIFT)."""
    dev: tuple[int, int]
    """(major, minor) of the backing file's device."""
    inode: int
    path: str
    """As the kernel prints it, without the `` (deleted)`` suffix."""
    deleted: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def shared(self) -> bool:
        """MAP_SHARED (VM_MAYSHARE): ``s`` in the fourth column."""
        return self.perms[3:4] == "s"


@dataclass(frozen=True)
class SmapsEntry:
    """One mapping of /proc/PID/smaps: the maps line plus its counters."""

    maps: MapsEntry
    fields: dict[str, int] = field(default_factory=dict)
    """``Size``, ``Rss``, ``KernelPageSize``, ... in bytes (smaps prints kB)."""
    vmflags: frozenset[str] = frozenset()
    """Two-letter VmFlags: ``ht`` hugetlb, ``sh`` shared, ``io``, ``pf``, ..."""

    @property
    def kernel_page_size(self) -> int:
        """vma_kernel_pagesize(): the hugetlb page size, else PAGE_SIZE."""
        return self.fields.get("KernelPageSize", 4 * KiB)

    @property
    def hugetlb(self) -> bool:
        return "ht" in self.vmflags


@dataclass(frozen=True)
class ShmSegment:
    """One SysV shared memory segment (a line of /proc/sysvipc/shm)."""

    key: int
    shmid: int
    size: int
    nattch: int
    rss: int | None = None
    swap: int | None = None


_MAPS_RE = re.compile(
    r"^([0-9a-f]+)-([0-9a-f]+)\s+([-rwxsp]{4})\s+([0-9a-f]+)\s+([0-9a-f]+):([0-9a-f]+)\s+(\d+)\s*(.*)$")

_DELETED = " (deleted)"


def parse_maps_line(line: str) -> MapsEntry:
    """Parse one /proc/PID/maps line (show_map_vma() in fs/proc/task_mmu.c).

    >>> e = parse_maps_line("7f2a00000000-7f2a40000000 rw-s 00000000 00:01 32794   /SYSV0052e2c1 (deleted)")
    >>> hex(e.start), e.size >> 20, e.shared, e.dev, e.inode, e.path, e.deleted
    ('0x7f2a00000000', 1024, True, (0, 1), 32794, '/SYSV0052e2c1', True)
    """
    m = _MAPS_RE.match(line.rstrip("\n"))
    if m is None:
        raise ValueError(f"not a maps line: {line!r}")
    start, end, perms, off, major, minor, inode, path = m.groups()
    deleted = path.endswith(_DELETED)
    if deleted:
        path = path[: -len(_DELETED)]
    return MapsEntry(start=int(start, 16), end=int(end, 16), perms=perms, offset=int(off, 16),
                     dev=(int(major, 16), int(minor, 16)), inode=int(inode), path=path, deleted=deleted)


def parse_maps(text: str) -> list[MapsEntry]:
    """Parse all of /proc/PID/maps."""
    return [parse_maps_line(line) for line in text.splitlines() if line.strip()]


_HEADER_RE = re.compile(r"^[0-9a-f]+-[0-9a-f]+\s")


def parse_smaps(text: str) -> list[SmapsEntry]:
    """Parse /proc/PID/smaps: a maps line, then ``Key:  N kB`` lines and ``VmFlags:``.

    >>> s = parse_smaps('''7f0000000000-7f0000400000 rw-s 00000000 00:0f 1025  /memfd:pool (deleted)
    ... Size:               4096 kB
    ... KernelPageSize:     2048 kB
    ... Rss:                   0 kB
    ... VmFlags: rd wr sh mr mw me ms de ht
    ... ''')
    >>> s[0].kernel_page_size >> 20, s[0].hugetlb, s[0].maps.path
    (2, True, '/memfd:pool')
    """
    out: list[SmapsEntry] = []
    header: MapsEntry | None = None
    fields: dict[str, int] = {}
    flags: frozenset[str] = frozenset()
    for line in text.splitlines():
        if not line.strip():
            continue
        if _HEADER_RE.match(line):
            if header is not None:
                out.append(SmapsEntry(header, fields, flags))
            header, fields, flags = parse_maps_line(line), {}, frozenset()
            continue
        if header is None:
            raise ValueError(f"smaps: counter before any mapping: {line!r}")
        key, _, rest = line.partition(":")
        if key == "VmFlags":
            flags = frozenset(rest.split())
            continue
        parts = rest.split()
        if not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue  # e.g. "ProtectionKey:" variants, future text fields
        if len(parts) > 1 and parts[1] == "kB":
            value *= KiB
        fields[key] = value
    if header is not None:
        out.append(SmapsEntry(header, fields, flags))
    return out


def parse_status(text: str) -> dict[str, str]:
    """Parse /proc/PID/status into raw ``key -> value`` strings."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def status_bytes(status: dict[str, str], key: str) -> int | None:
    """A ``NNN kB`` field of /proc/PID/status in bytes (``VmPTE``), None if absent.

    >>> status_bytes(parse_status("Name:\\tcat\\nVmPTE:\\t      44 kB\\n"), "VmPTE")
    45056
    """
    value = status.get(key)
    if value is None:
        return None
    parts = value.split()
    n = int(parts[0])
    return n * KiB if len(parts) > 1 and parts[1] == "kB" else n


def parse_sysvipc_shm(text: str) -> dict[int, ShmSegment]:
    """Parse /proc/sysvipc/shm (sysvipc_shm_proc_show() in ipc/shm.c), by shmid.

    Columns are found by the header line, so older kernels without
    ``rss``/``swap`` parse too.

    >>> t = ('       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid'
    ...      '      atime      dtime      ctime                   rss                  swap\\n'
    ...      '   5432001      32794   600            1073741824  1000  1001     12    26    26    26    26'
    ...      ' 1700000000          0 1700000000             536870912                     0\\n')
    >>> seg = parse_sysvipc_shm(t)[32794]
    >>> hex(seg.key), seg.size >> 20, seg.nattch, seg.rss >> 20
    ('0x52e2c1', 1024, 12, 512)
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return {}
    cols = lines[0].split()
    try:
        ik, ii, isz, ina = (cols.index(c) for c in ("key", "shmid", "size", "nattch"))
    except ValueError:
        raise ValueError(f"/proc/sysvipc/shm: unexpected header {lines[0]!r}") from None
    irss = cols.index("rss") if "rss" in cols else None
    iswap = cols.index("swap") if "swap" in cols else None
    out: dict[int, ShmSegment] = {}
    for line in lines[1:]:
        f = line.split()
        if len(f) < len(cols):
            continue
        # the key is printed with %10d: a negative int for keys >= 2**31
        key = int(f[ik]) & 0xFFFFFFFF
        out[int(f[ii])] = ShmSegment(
            key=key, shmid=int(f[ii]), size=int(f[isz]), nattch=int(f[ina]),
            rss=int(f[irss]) if irss is not None else None,
            swap=int(f[iswap]) if iswap is not None else None)
    return out


def parse_meminfo(text: str) -> dict[str, int]:
    """Parse /proc/meminfo into bytes (``kB`` values) or counts (HugePages_*).

    >>> parse_meminfo("MemTotal:       24684096 kB\\nHugePages_Total:       4\\n")
    {'MemTotal': 25276514304, 'HugePages_Total': 4}
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or not parts:
            continue
        n = int(parts[0])
        out[key] = n * KiB if len(parts) > 1 and parts[1] == "kB" else n
    return out


def parse_mountinfo(text: str) -> dict[tuple[int, int], str]:
    """Filesystem type of every mounted device, from /proc/self/mountinfo.

    >>> parse_mountinfo("25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684096k\\n")
    {(0, 23): 'tmpfs'}
    """
    out: dict[tuple[int, int], str] = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) < 7 or "-" not in f[6:]:
            continue
        major, _, minor = f[2].partition(":")
        fstype = f[f.index("-", 6) + 1]
        out[(int(major), int(minor))] = fstype
    return out


def parse_cpu_flags(text: str) -> frozenset[str]:
    """The ``flags`` of the first CPU in /proc/cpuinfo (x86)."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def pti_active(meltdown: str) -> bool:
    """Page-table isolation is on: /sys/devices/system/cpu/vulnerabilities/meltdown
    says ``Mitigation: PTI`` (arch/x86/kernel/cpu/bugs.c), and the PGD is 8 KiB.

    >>> pti_active("Mitigation: PTI\\n"), pti_active("Not affected\\n")
    (True, False)
    """
    return meltdown.strip() == "Mitigation: PTI"


def hugepage_dir_size(name: str) -> int | None:
    """Page size of a /sys/kernel/mm/hugepages entry (``hugepages-2048kB``).

    >>> hugepage_dir_size("hugepages-1048576kB") >> 30
    1
    """
    m = re.fullmatch(r"hugepages-(\d+)kB", name)
    return int(m.group(1)) * KiB if m else None


def pagemap_touched(data: bytes) -> np.ndarray:
    """Which entries of a pagemap read have a page-table entry: present (bit
    63) or swapped/migrating (bit 62), as pte_to_pagemap_entry(),
    pagemap_pmd_range() and pagemap_hugetlb_range() report them.

    A THP or hugetlb page reports every 4 KiB entry it covers.

    >>> import struct
    >>> pagemap_touched(struct.pack("<4Q", 0, 1 << 63 | 5, 1 << 62, 1 << 55)).tolist()
    [False, True, True, False]
    """
    if len(data) % PAGEMAP_ENTRY_BYTES:
        raise ValueError(f"pagemap data of {len(data)} bytes is not whole 8-byte entries")
    v = np.frombuffer(data, dtype="<u8")
    return (v & np.uint64(PM_PRESENT | PM_SWAP)) != 0


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end indices of the runs of True in ``mask`` (ends exclusive).

    >>> [a.tolist() for a in runs(np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool))]
    [[0, 3, 6], [2, 4, 7]]
    """
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False])).astype(np.int8)
    d = np.diff(m)
    return np.flatnonzero(d == 1).astype(np.int64), np.flatnonzero(d == -1).astype(np.int64)


class ProcFS:
    """Reads /proc and /sys (or copies of them under other roots, for tests).

    Errors of a process's own files become ``ProcessGone`` or ``NoAccess``.
    """

    def __init__(self, proc: str = "/proc", sys: str = "/sys") -> None:
        self.proc = proc
        self.sys = sys

    def _pid_path(self, pid: int, name: str) -> str:
        return os.path.join(self.proc, str(pid), name)

    @staticmethod
    def _translate(e: OSError) -> Exception:
        if e.errno in (errno.ENOENT, errno.ESRCH):
            return ProcessGone(str(e))
        if e.errno in (errno.EACCES, errno.EPERM):
            return NoAccess(str(e))
        return e

    def pids(self) -> list[int]:
        """Every process id, ascending."""
        return sorted(int(n) for n in os.listdir(self.proc) if n.isdigit())

    def pid_text(self, pid: int, name: str) -> str:
        """A text file of one process (``smaps``, ``status``, ``comm``)."""
        try:
            with open(self._pid_path(pid, name), "rb") as f:
                return f.read().decode("utf-8", "surrogateescape")
        except OSError as e:
            raise self._translate(e) from None

    def open_pagemap(self, pid: int) -> int:
        """An fd on /proc/PID/pagemap (PTRACE_MODE_READ: pagemap_open())."""
        try:
            return os.open(self._pid_path(pid, "pagemap"), os.O_RDONLY)
        except OSError as e:
            raise self._translate(e) from None

    def pread(self, fd: int, length: int, offset: int) -> bytes:
        """Read exactly ``length`` bytes at ``offset``: a short pagemap read means
        the process's address space went away."""
        try:
            data = os.pread(fd, length, offset)
        except OSError as e:
            raise self._translate(e) from None
        if len(data) != length:
            raise ProcessGone(f"short pagemap read ({len(data)} of {length} bytes)")
        return data

    def mapped_file_size(self, pid: int, start: int, end: int) -> int | None:
        """st_size of the file behind a mapping, via /proc/PID/map_files
        (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE); None when unavailable."""
        try:
            return os.stat(self._pid_path(pid, f"map_files/{start:x}-{end:x}")).st_size
        except OSError:
            return None

    def text(self, path: str, default: str | None = None) -> str | None:
        """A system-wide file below /proc or /sys, or ``default`` when absent."""
        root = self.sys if path.startswith("/sys/") else self.proc
        rel = path.split("/", 2)[2]
        try:
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return default

    def listdir(self, path: str) -> list[str]:
        root = self.sys if path.startswith("/sys/") else self.proc
        try:
            return sorted(os.listdir(os.path.join(root, path.split("/", 2)[2])))
        except OSError:
            return []
