"""/proc and /sys text in, records out: every parser of the Linux side.

Each parser takes the contents of one file (str, or bytes for pagemap) and
returns plain records, so it is tested with strings copied from a real
machine (the psutil style).  Opening the files is
``ptcalc.linux.procfs.ProcFS``'s job; deciding what they mean for a
workload is ``ptcalc.linux.scan``'s and ``ptcalc.linux.measure``'s.

    file                                  parser                 what it gives
    ------------------------------------  ---------------------  ----------------------------------
    /proc/PID/smaps                       parse_smaps            mappings with sizes and VmFlags
    /proc/PID/maps                        parse_maps(_line)      address, perms, offset, dev, inode, path
    /proc/PID/pagemap                     pagemap_touched        which PAGE_SIZE pages have an entry
    /proc/PID/status                      parse_status           Name, VmPTE, ... (status_bytes: kB -> bytes)
                                          parse_vmpte            VmPTE in bytes (required)
    /proc/PID/stat                        parse_stat             state, ppid, flags, start time
    /proc/sysvipc/shm                     parse_sysvipc_shm      SysV key, shmid, size, nattch
    /proc/meminfo                         parse_kb_fields        MemTotal, PageTables, HugePages_*, ...
                                          parse_pagetables       PageTables in bytes (required)
    /proc/self/mountinfo                  parse_mountinfo        device -> filesystem type
                                          parse_mountinfo_fstype filesystem type of a path
    /proc/cpuinfo                         parse_cpu_flags        la57
    /sys/.../vulnerabilities/meltdown     pti_active             "Mitigation: PTI"
    /sys/kernel/mm/hugepages/hugepages-*  hugepage_dir_size      hugetlb pool page sizes
    /sys/kernel/mm/transparent_hugepage   parse_sysfs_choice     "always [madvise] never" -> madvise

numpy is imported only by the pagemap helpers that need it, so that
``measure`` (which parses text only) does not pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ptcalc.linux.errors import KernelError
from ptcalc.units import KiB, MiB

if TYPE_CHECKING:
    import numpy as np

PAGEMAP_ENTRY_BYTES = 8
"""One 64-bit entry per PAGE_SIZE page (Documentation/admin-guide/mm/pagemap.rst)."""

PM_PRESENT = 1 << 63
"""fs/proc/task_mmu.c: page present (a present PTE, PMD or hugetlb entry)."""

PM_SWAP = 1 << 62
"""fs/proc/task_mmu.c: a swap (or migration) entry in the page table."""


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

    @property
    def shown_path(self) -> str:
        """The path as /proc/PID/maps shows it, `` (deleted)`` included."""
        return self.path + _DELETED if self.deleted else self.path


@dataclass(frozen=True)
class SmapsEntry:
    """One mapping of /proc/PID/smaps: the maps line plus its counters."""

    maps: MapsEntry
    fields: dict[str, int] = field(default_factory=dict)
    """``Size``, ``Rss``, ``KernelPageSize``, ... in bytes (smaps prints kB)."""
    vmflags: frozenset[str] = frozenset()
    """Two-letter VmFlags: ``ht`` hugetlb, ``sh`` shared, ``io``, ``pf``, ..."""

    @property
    def kernel_page_size(self) -> int | None:
        """vma_kernel_pagesize(): the hugetlb page size, else PAGE_SIZE; None
        when smaps has no ``KernelPageSize`` line (kernels before 2.6.29)."""
        return self.fields.get("KernelPageSize")

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

_KB_LINE = re.compile(r"^([A-Za-z0-9_()]+):\s+(\d+)(\s+kB)?\s*$")


def _kb_field(line: str) -> tuple[str, int] | None:
    """``Key:   123 kB`` -> (key, bytes); ``Key:   3`` -> (key, 3); anything else None."""
    m = _KB_LINE.match(line)
    if m is None:
        return None
    value = int(m.group(2))
    return m.group(1), value * KiB if m.group(3) else value


def parse_kb_fields(text: str) -> dict[str, int]:
    """``Key:   123 kB`` lines (/proc/meminfo, /proc/PID/status) -> bytes; unitless -> as is.

    Lines whose value is not one number (``Name:``, ``Uid:``) are left out.

    >>> f = parse_kb_fields("MemTotal:  1024 kB\\nHugePages_Total:   3\\nName:\\tbash\\n")
    >>> f["MemTotal"], f["HugePages_Total"], "Name" in f
    (1048576, 3, False)
    >>> parse_kb_fields("MemTotal:       24684096 kB\\nHugePages_Total:       4\\n")
    {'MemTotal': 25276514304, 'HugePages_Total': 4}
    """
    return dict(f for f in map(_kb_field, text.splitlines()) if f is not None)


def required_field(text: str, key: str, where: str, why: str = "") -> int:
    """The ``key`` field of a /proc file's text (bytes for ``kB``); KernelError when absent."""
    value = parse_kb_fields(text).get(key)
    if value is None:
        raise KernelError(f"no {key} line in {where}{why}")
    return value


def parse_vmpte(status_text: str) -> int:
    """VmPTE in bytes from the text of /proc/PID/status (``mm_pgtables_bytes()``).

    >>> parse_vmpte("Name:\\tx\\nVmPTE:\\t      48 kB\\nVmSwap:\\t0 kB\\n")
    49152
    """
    return required_field(status_text, "VmPTE", "/proc/PID/status",
                          " (kernel thread, zombie, or kernel older than 2.6.10)")


def parse_pagetables(meminfo_text: str) -> int:
    """PageTables in bytes from the text of /proc/meminfo (NR_PAGETABLE).

    >>> parse_pagetables("MemTotal: 100 kB\\nPageTables:   1676 kB\\nSecPageTables: 0 kB\\n")
    1716224
    """
    return required_field(meminfo_text, "PageTables", "/proc/meminfo")


def parse_smaps(text: str) -> list[SmapsEntry]:
    """Parse /proc/PID/smaps: a maps line, then ``Key:  N kB`` lines (in bytes;
    unitless ones such as ``THPeligible`` as they are) and ``VmFlags:``.
    Text with maps lines only (/proc/PID/maps) gives entries without fields.

    >>> s = parse_smaps('''7f0000000000-7f0000400000 rw-s 00000000 00:0f 1025  /memfd:pool (deleted)
    ... Size:               4096 kB
    ... KernelPageSize:     2048 kB
    ... Rss:                   0 kB
    ... VmFlags: rd wr sh mr mw me ms de ht
    ... ''')
    >>> s[0].kernel_page_size >> 20, s[0].hugetlb, s[0].maps.path
    (2, True, '/memfd:pool')
    >>> vmas = parse_smaps('''10000000000-10040000000 rw-s 00000000 00:01 42   /memfd:seg (deleted)
    ... Size:            1048576 kB
    ... ShmemPmdMapped:   307200 kB
    ... VmFlags: rd wr sh mr mw me ms hg
    ... 7ffd0000-7ffd1000 r--p 00000000 00:00 0
    ... ''')
    >>> hex(vmas[0].maps.start), vmas[0].fields["ShmemPmdMapped"] // MiB, vmas[0].maps.path, vmas[1].fields
    ('0x10000000000', 300, '/memfd:seg', {})
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
        kb = _kb_field(line)
        if kb is not None:  # else e.g. "ProtectionKey:" variants, future text fields
            fields[kb[0]] = kb[1]
    if header is not None:
        out.append(SmapsEntry(header, fields, flags))
    return out


def pmd_mapped_bytes(entries: list[SmapsEntry], start: int, end: int) -> int:
    """Bytes PMD-mapped by THPs (shmem or file) in the smaps entries inside ``[start, end)``.

    >>> pmd_mapped_bytes(parse_smaps("0-400000 rw-s 0 00:01 1\\nShmemPmdMapped: 2048 kB\\n"), 0, 4 * MiB)
    2097152
    """
    return sum(e.fields.get("ShmemPmdMapped", 0) + e.fields.get("FilePmdMapped", 0)
               for e in entries if start <= e.maps.start and e.maps.end <= end)


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


def parse_stat(text: str) -> tuple[str, int, int, int]:
    """(state, ppid, flags, starttime) from the text of /proc/PID/stat
    (do_task_stat() in fs/proc/array.c; comm may hold spaces and ``)``, so
    the fields follow the *last* ``)``).

    >>> parse_stat("42 (a b) S 1 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 777 9 10")
    ('S', 1, 4194560, 777)
    """
    rest = text.rsplit(")", 1)[1].split()
    return rest[0], int(rest[1]), int(rest[6]), int(rest[19])


def _mounts(text: str) -> Iterator[tuple[tuple[int, int], str, str]]:
    """(device, mount point, filesystem type) of every line of /proc/self/mountinfo
    (show_mountinfo() in fs/proc_namespace.c: the optional fields end at `` - ``)."""
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        f, tail = left.split(), right.split()
        if len(f) < 5 or not tail:
            continue
        major, _, minor = f[2].partition(":")
        yield (int(major), int(minor)), f[4].replace("\\040", " "), tail[0]


def parse_mountinfo(text: str) -> dict[tuple[int, int], str]:
    """Filesystem type of every mounted device, from /proc/self/mountinfo.

    >>> parse_mountinfo("25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684096k\\n")
    {(0, 23): 'tmpfs'}
    """
    return {dev: fstype for dev, _, fstype in _mounts(text)}


def parse_mountinfo_fstype(mountinfo_text: str, path: str) -> str | None:
    r"""The filesystem type of the mount holding ``path`` (longest mount point that is a prefix).

    >>> text = ("27 1 254:0 / / rw - ext4 /dev/vda rw\n"
    ...         "40 27 0:30 / /tmp rw,nosuid - tmpfs tmpfs rw\n")
    >>> parse_mountinfo_fstype(text, "/tmp/x"), parse_mountinfo_fstype(text, "/var/tmp")
    ('tmpfs', 'ext4')
    """
    best, fstype = -1, None
    for _, mount, kind in _mounts(mountinfo_text):
        inside = path == mount or path.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > best:
            best, fstype = len(mount), kind
    return fstype


def parse_cpu_flags(text: str) -> frozenset[str]:
    """The ``flags`` of the first CPU in /proc/cpuinfo (x86).

    >>> sorted(parse_cpu_flags("processor: 0\\nflags\\t\\t: fpu la57 pse\\n\\nprocessor: 1\\n"))
    ['fpu', 'la57', 'pse']
    """
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def pti_active(meltdown: str) -> bool:
    """Page-table isolation is on: /sys/devices/system/cpu/vulnerabilities/meltdown
    says ``Mitigation: PTI`` (arch/x86/kernel/cpu/bugs.c), and the PGD is 8 KiB
    (PGD_ALLOCATION_ORDER 1).

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


def parse_sysfs_choice(text: str) -> str:
    """The selected value of a sysfs choice file (``always [madvise] never``), or the text.

    >>> parse_sysfs_choice("always within_size advise [never] deny force\\n")
    'never'
    >>> parse_sysfs_choice("  12\\n")
    '12'
    """
    m = re.search(r"\[([^\]]+)\]", text)
    return m.group(1) if m else text.strip()


def pagemap_touched(data: bytes) -> np.ndarray:
    """Which entries of a pagemap read have a page-table entry: present (bit
    63) or swapped/migrating (bit 62), as pte_to_pagemap_entry(),
    pagemap_pmd_range() and pagemap_hugetlb_range() report them.

    A THP or hugetlb page reports every PAGE_SIZE entry it covers.

    >>> import struct
    >>> pagemap_touched(struct.pack("<4Q", 0, 1 << 63 | 5, 1 << 62, 1 << 55)).tolist()
    [False, True, True, False]
    """
    import numpy as np

    if len(data) % PAGEMAP_ENTRY_BYTES:
        raise ValueError(f"pagemap data of {len(data)} bytes is not whole 8-byte entries")
    v = np.frombuffer(data, dtype="<u8")
    return (v & np.uint64(PM_PRESENT | PM_SWAP)) != 0


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end indices of the runs of True in ``mask`` (ends exclusive).

    >>> import numpy as np
    >>> [a.tolist() for a in runs(np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool))]
    [[0, 3, 6], [2, 4, 7]]
    """
    import numpy as np

    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False])).astype(np.int8)
    d = np.diff(m)
    return np.flatnonzero(d == 1).astype(np.int64), np.flatnonzero(d == -1).astype(np.int64)
