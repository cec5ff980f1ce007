"""The one reader of /proc and /sys, rooted where you point it.

Everything ptcalc reads from (or writes to) the running kernel's /proc and
/sys goes through a ``ProcFS``: ``ptcalc scan``, ``ptcalc measure``, the
host facts (``ptcalc.linux.host``), the PageTables readings
(``ptcalc.linux.readings``) and the tunables (``ptcalc.linux.tunables``).
``ProcFS()`` reads the real files; ``ProcFS(proc=..., sys=...)`` reads a tree
built elsewhere -- tests build small fake ones in a temporary directory --
the way psutil's ``PROCFS_PATH`` / ``get_procfs_path()`` root its reads.
Paths are always spelled as on the real machine (``/proc/meminfo``,
``/sys/kernel/mm/...``) and mapped to the roots here, in one place.

A process's files (``/proc/PID/...``) raise ``ProcessGone`` when the process
went away while we read (ESRCH; ENOENT once /proc/PID is gone; a short
pagemap read) and ``NoAccess`` when they are closed to us (EACCES, EPERM):
``_process_files`` is the one place that translates them, as psutil's
``wrap_exceptions`` does.  Parsing is ``ptcalc.linux.parsers``' (pure
functions of the text); every method here opens one file and hands its text
to one parser.

    method                 file                                                parser
    ---------------------  --------------------------------------------------  ----------------------
    pids                   /proc/[0-9]*                                        -
    pid_text               /proc/PID/{smaps,status,comm,stat,maps}             (the caller's)
    smaps / maps           /proc/PID/smaps, /proc/PID/maps                     parse_smaps, parse_maps
    status / vmpte         /proc/PID/status                                    parse_status, parse_vmpte
    stat                   /proc/PID/stat                                      parse_stat
    open_pagemap / pread   /proc/PID/pagemap                                   (pagemap_touched)
    pagemap_regions        /proc/PID/pagemap, ioctl(PAGEMAP_SCAN)              (ptcalc.linux.pagemap)
    mapped_file_size       /proc/PID/map_files/START-END                       st_size
    meminfo                /proc/meminfo                                       parse_kb_fields
    pagetables             /proc/meminfo, after /proc/sys/vm/stat_refresh      parse_pagetables
    sysvipc_shm            /proc/sysvipc/shm                                   parse_sysvipc_shm
    mountinfo              /proc/self/mountinfo                                parse_mountinfo
    filesystem_type        /proc/self/mountinfo                                parse_mountinfo_fstype
    cpu_flags              /proc/cpuinfo                                       parse_cpu_flags
    machine                /proc/sys/kernel/arch (uname -m before 6.1)         -
    kernel_release         /proc/sys/kernel/osrelease (uname -r)               -
    pti                    /sys/devices/system/cpu/vulnerabilities/meltdown    pti_active
    hugetlb_sizes          /sys/kernel/mm/hugepages/hugepages-*kB              hugepage_dir_size
    read_value / write     any sysfs file (pools, THP settings)                parse_sysfs_choice
"""

from __future__ import annotations

import errno
import os
import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ptcalc.linux.errors import NoAccess, ProcessGone
from ptcalc.linux.parsers import (
    PAGEMAP_ENTRY_BYTES,
    MapsEntry,
    ShmSegment,
    SmapsEntry,
    hugepage_dir_size,
    parse_cpu_flags,
    parse_kb_fields,
    parse_maps,
    parse_mountinfo,
    parse_mountinfo_fstype,
    parse_pagetables,
    parse_smaps,
    parse_stat,
    parse_status,
    parse_sysfs_choice,
    parse_sysvipc_shm,
    parse_vmpte,
    pti_active,
)

PROC = "/proc"
SYS = "/sys"

HUGEPAGES = "/sys/kernel/mm/hugepages"
"""One ``hugepages-NkB`` directory per hugetlb page size (mm/hugetlb_sysfs.c)."""

MELTDOWN = "/sys/devices/system/cpu/vulnerabilities/meltdown"

PAGE_SIZE = mmap.PAGESIZE
"""One pagemap entry per PAGE_SIZE page."""

Pid = int | str
"""A process id, or ``"self"``."""


class ProcFS:
    """Reads /proc and /sys below ``proc`` and ``sys`` (the real ones by default)."""

    def __init__(self, proc: str = PROC, sys: str = SYS) -> None:
        self.proc = proc
        self.sys = sys

    def __repr__(self) -> str:
        return f"ProcFS(proc={self.proc!r}, sys={self.sys!r})"

    @property
    def is_live(self) -> bool:
        """Rooted at the real /proc and /sys of this machine."""
        return self.proc == PROC and self.sys == SYS

    # ------------------------------------------------------------------ paths

    def path(self, path: str) -> str:
        """Where ``path`` (``/proc/...`` or ``/sys/...``, as on a real machine) is here.

        >>> ProcFS("/tmp/p", "/tmp/s").path("/sys/kernel/mm/hugepages")
        '/tmp/s/kernel/mm/hugepages'
        >>> ProcFS("/tmp/p", "/tmp/s").path("/proc/42/smaps")
        '/tmp/p/42/smaps'
        """
        for real, root in ((PROC, self.proc), (SYS, self.sys)):
            if path == real or path.startswith(real + "/"):
                return root + path[len(real):]
        raise ValueError(f"{path!r} is not below {PROC} or {SYS}")

    # ------------------------------------------------------------------ system-wide files

    def read(self, path: str) -> str:
        """The text of a file below /proc or /sys; OSError when it cannot be read."""
        with open(self.path(path), encoding="utf-8", errors="replace") as f:
            return f.read()

    def text(self, path: str, default: str | None = None) -> str | None:
        """The text of a file below /proc or /sys, or ``default`` when absent or unreadable."""
        try:
            return self.read(path)
        except OSError:
            return default

    def listdir(self, path: str) -> list[str]:
        """Names in a directory below /proc or /sys, sorted; none when it is absent."""
        try:
            return sorted(os.listdir(self.path(path)))
        except OSError:
            return []

    def write(self, path: str, value: str) -> None:
        """Write ``value`` to a file below /proc or /sys (a tunable); OSError as it comes."""
        with open(self.path(path), "w") as f:
            f.write(value)

    def read_value(self, path: str) -> str | None:
        """The value of a sysfs file: the selected choice (``always [madvise] never`` ->
        ``madvise``) or the text stripped (``nr_hugepages``); None when absent."""
        try:
            return parse_sysfs_choice(self.read(path))
        except FileNotFoundError:
            return None

    # ------------------------------------------------------------------ a process's files

    def _pid_path(self, pid: Pid, name: str) -> str:
        return os.path.join(self.proc, str(pid), name)

    @contextmanager
    def _process_files(self, pid: Pid, name: str) -> Iterator[None]:
        """Turn an OSError of /proc/PID/``name`` into ``ProcessGone`` or ``NoAccess``
        (psutil's ``wrap_exceptions``): ESRCH, or ENOENT once /proc/PID itself is
        gone, means the process exited; EACCES/EPERM that we may not look.  A file
        missing from a live process (smaps without CONFIG_PROC_PAGE_MONITOR) stays
        an OSError."""
        try:
            yield
        except OSError as e:
            where = f"{PROC}/{pid}/{name}"
            reason = e.strerror or str(e)
            if e.errno == errno.ESRCH or (e.errno == errno.ENOENT
                                          and not os.path.isdir(os.path.join(self.proc, str(pid)))):
                raise ProcessGone(pid, where, reason) from None
            if e.errno in (errno.EACCES, errno.EPERM):
                raise NoAccess(pid, where, reason) from None
            raise

    def pids(self) -> list[int]:
        """Every process id, ascending."""
        return sorted(int(n) for n in os.listdir(self.proc) if n.isdigit())

    def pid_text(self, pid: Pid, name: str) -> str:
        """A text file of one process (``smaps``, ``status``, ``comm``, ``stat``, ``maps``)."""
        with self._process_files(pid, name):
            with open(self._pid_path(pid, name), "rb") as f:
                return f.read().decode("utf-8", "surrogateescape")

    def smaps(self, pid: Pid) -> list[SmapsEntry]:
        """The mappings of ``pid`` with their smaps counters."""
        return parse_smaps(self.pid_text(pid, "smaps"))

    def maps(self, pid: Pid = "self") -> list[MapsEntry]:
        """The mappings of ``pid`` (no counters)."""
        return parse_maps(self.pid_text(pid, "maps"))

    def status(self, pid: Pid) -> dict[str, str]:
        """/proc/PID/status, raw ``key -> value`` strings."""
        return parse_status(self.pid_text(pid, "status"))

    def vmpte(self, pid: Pid) -> int:
        """VmPTE of ``pid`` in bytes; KernelError when it has none (a kernel thread)."""
        return parse_vmpte(self.pid_text(pid, "status"))

    def stat(self, pid: Pid) -> tuple[str, int, int, int]:
        """(state, ppid, flags, start time) of ``pid``."""
        return parse_stat(self.pid_text(pid, "stat"))

    def open_pagemap(self, pid: Pid) -> int:
        """An fd on /proc/PID/pagemap (PTRACE_MODE_READ: pagemap_open())."""
        with self._process_files(pid, "pagemap"):
            return os.open(self._pid_path(pid, "pagemap"), os.O_RDONLY)

    def pread(self, fd: int, length: int, offset: int, pid: Pid = "?") -> bytes:
        """Read exactly ``length`` bytes of pagemap at ``offset``: a short read means
        the process's address space went away."""
        with self._process_files(pid, "pagemap"):
            data = os.pread(fd, length, offset)
        if len(data) != length:
            raise ProcessGone(pid, f"{PROC}/{pid}/pagemap",
                              f"short pagemap read ({len(data)} of {length} bytes)")
        return data

    def pagemap_cells(self, fd: int, start: int, end: int, offset: int, block: int,
                      pid: Pid = "?") -> tuple[Any, Any, bool]:
        """``ptcalc.linux.pagemap.touched_cells`` of the pagemap ``fd``: the
        cells of a mapping holding an entry, and whether one is huge.
        ProcessGone when the process exited before or during the walk."""
        from ptcalc.linux.pagemap import touched_cells

        with self._process_files(pid, "pagemap"):
            out = touched_cells(fd, start, end, offset, block)
        self.pread(fd, PAGEMAP_ENTRY_BYTES, start // PAGE_SIZE * PAGEMAP_ENTRY_BYTES, pid)
        return out

    def pagemap_first(self, fd: int, starts: Any, ends: Any, pid: Pid = "?") -> tuple[Any, bool]:
        """``ptcalc.linux.pagemap.first_entries`` of the pagemap ``fd``: per
        range, its first page with an entry (-1: none), and whether one is
        huge.  ProcessGone when the process exited before or during the walk."""
        from ptcalc.linux.pagemap import first_entries

        with self._process_files(pid, "pagemap"):
            out = first_entries(fd, starts, ends)
        if len(starts):
            self.pread(fd, PAGEMAP_ENTRY_BYTES, int(starts[0]) // PAGE_SIZE * PAGEMAP_ENTRY_BYTES, pid)
        return out

    def pagemap_regions(self, fd: int, start: int, end: int, pid: Pid = "?") -> list[Any]:
        """PAGEMAP_SCAN (Linux 6.7+) over ``[start, end)`` of the pagemap ``fd``:
        arrays of ``ptcalc.linux.pagemap.PAGE_REGION`` records of the pages with an
        entry, huge ones (PAGE_IS_HUGE: a PMD-mapped THP, a hugetlb page) apart.
        OSError as the kernel gives it when the ioctl is refused; ProcessGone
        when the process exited before or during the walk."""
        from ptcalc.linux.pagemap import PAGE_IS_HUGE, scan_regions

        with self._process_files(pid, "pagemap"):
            out = list(scan_regions(fd, start, end, return_mask=PAGE_IS_HUGE))
        # a walk of an exited process's mm is empty: one entry read tells (pagemap_read()
        # returns 0 bytes once the mm is gone)
        self.pread(fd, PAGEMAP_ENTRY_BYTES, start // PAGE_SIZE * PAGEMAP_ENTRY_BYTES, pid)
        return out

    def mapped_file_size(self, pid: Pid, start: int, end: int) -> int | None:
        """st_size of the file behind a mapping, via /proc/PID/map_files
        (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE); None when unavailable."""
        try:
            return os.stat(self._pid_path(pid, f"map_files/{start:x}-{end:x}")).st_size
        except OSError:
            return None

    # ------------------------------------------------------------------ the machine

    def meminfo(self) -> dict[str, int]:
        """/proc/meminfo, sizes in bytes and HugePages_* in pages; empty when unreadable."""
        return parse_kb_fields(self.text(f"{PROC}/meminfo", "") or "")

    def refresh_vmstat(self) -> bool:
        """Fold every CPU's vmstat deltas into the global counters now.

        Writing /proc/sys/vm/stat_refresh (root only) runs ``vmstat_refresh()``
        (mm/vmstat.c); without it /proc/meminfo lags by up to the per-CPU
        thresholds until the next ``vm.stat_interval`` fold.  False if not allowed.
        """
        try:
            self.write(f"{PROC}/sys/vm/stat_refresh", "1")
            return True
        except OSError:
            return False

    def pagetables(self) -> int:
        """PageTables of the machine in bytes, per-CPU deltas folded first when allowed."""
        self.refresh_vmstat()
        return parse_pagetables(self.read(f"{PROC}/meminfo"))

    def sysvipc_shm(self) -> dict[int, ShmSegment]:
        """SysV shared memory segments by shmid; none when unreadable."""
        return parse_sysvipc_shm(self.text(f"{PROC}/sysvipc/shm", "") or "")

    def mountinfo(self) -> dict[tuple[int, int], str]:
        """Filesystem type of every mounted device (as this process sees the mounts)."""
        return parse_mountinfo(self.text(f"{PROC}/self/mountinfo", "") or "")

    def filesystem_type(self, path: str) -> str | None:
        """The filesystem type holding ``path`` (``ext4``, ``tmpfs``, ...), None if unknown."""
        text = self.text(f"{PROC}/self/mountinfo")
        return None if text is None else parse_mountinfo_fstype(text, os.path.realpath(path))

    def cpu_flags(self) -> frozenset[str]:
        """The CPU flags of /proc/cpuinfo (x86); none when it cannot be read."""
        return parse_cpu_flags(self.text(f"{PROC}/cpuinfo", "") or "")

    def machine(self) -> str:
        """``uname -m`` of the kernel: /proc/sys/kernel/arch (kernel/utsname_sysctl.c,
        since 6.1), else this process's uname (the real machine's, whatever the root)."""
        return (self.text(f"{PROC}/sys/kernel/arch", "") or "").strip() or os.uname().machine

    def kernel_release(self) -> str:
        """``uname -r``: /proc/sys/kernel/osrelease, else this process's uname."""
        return (self.text(f"{PROC}/sys/kernel/osrelease", "") or "").strip() or os.uname().release

    def pti(self) -> bool:
        """Is page-table isolation active (the x86 PGD is then 8 KiB)?"""
        return pti_active(self.text(MELTDOWN, "") or "")

    def hugetlb_sizes(self) -> tuple[int, ...]:
        """hugetlb page sizes this kernel offers (the hugepages-NkB directories), ascending."""
        return tuple(sorted(size for size in map(hugepage_dir_size, self.listdir(HUGEPAGES))
                            if size is not None))
