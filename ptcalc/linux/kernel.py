"""The running Linux kernel: the syscalls ``measure`` needs, /proc and /sys.

This is ptcalc's platform layer (like psutil's ``_pslinux``).  Parsing the
text of /proc and /sys files is ``ptcalc.linux.procfs``'s (tested anywhere with fake
contents); readers here open the real files and hand the text to a parser.

    what                          where                                           unit
    ----------------------------  ----------------------------------------------  -----------
    VmPTE of a process            /proc/PID/status  ``VmPTE:``                    kB -> bytes
    page tables of the machine    /proc/meminfo     ``PageTables:``               kB -> bytes
    hugetlb pool of a page size   /sys/kernel/mm/hugepages/hugepages-NkB/nr_hugepages  pages
    shmem THP policy              /sys/kernel/mm/transparent_hugepage/shmem_enabled    [choice]
    per-size shmem THP policy     .../transparent_hugepage/hugepages-2048kB/shmem_enabled (6.8+)
    PMD-mapped THP of a mapping   /proc/PID/smaps   ``ShmemPmdMapped:``/``FilePmdMapped:``  kB

Nothing here knows about workloads; ``ptcalc.linux.measure`` orchestrates.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as errno_mod
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import FrameType

from ptcalc.errors import PtcalcError
from ptcalc.linux.procfs import (
    MapsEntry,
    SmapsEntry,
    hugepage_dir_size,
    parse_cpu_flags,
    parse_kb_fields,
    parse_maps,
    parse_mountinfo_fstype,
    parse_smaps,
    parse_stat,
    parse_sysfs_choice,
    pti_active,
)
from ptcalc.units import GiB, KiB, MiB

PROC = "/proc"
SYS_MM = "/sys/kernel/mm"

# include/uapi/asm-generic/mman-common.h
PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_ANONYMOUS = 0x20
MAP_FIXED_NOREPLACE = 0x100000  # since 4.17; older kernels treat it as a hint
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
MADV_POPULATE_READ = 22  # since 5.14: mm/madvise.c madvise_populate()
MADV_POPULATE_WRITE = 23
# include/uapi/linux/memfd.h, include/uapi/asm-generic/hugetlb_encode.h
MFD_CLOEXEC = 0x0001
MFD_HUGETLB = 0x0004
MFD_HUGE_SHIFT = 26  # HUGETLB_FLAG_ENCODE_SHIFT: the size flag is log2(page size) << 26
# include/uapi/linux/prctl.h
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15

MAP_FAILED = ctypes.c_void_p(-1).value


class KernelError(PtcalcError):
    """The running kernel or machine cannot do what ``measure`` needs (exit 2)."""


# --------------------------------------------------------------------------- syscalls

_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """The C library, with the prototypes ``measure`` calls (loaded once)."""
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        lib.mmap.restype = ctypes.c_void_p
        lib.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                             ctypes.c_int64]
        lib.munmap.restype = ctypes.c_int
        lib.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.madvise.restype = ctypes.c_int
        lib.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.prctl.restype = ctypes.c_int
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        _libc = lib
    return _libc


def memfd_flags(hugetlb_page_size: int | None) -> int:
    """memfd_create() flags for a plain memfd (None) or a hugetlb one of that page size.

    >>> hex(memfd_flags(2 * MiB)), hex(memfd_flags(GiB)), memfd_flags(None)
    ('0x54000005', '0x78000005', 1)
    """
    if hugetlb_page_size is None:
        return MFD_CLOEXEC
    shift = hugetlb_page_size.bit_length() - 1
    if 1 << shift != hugetlb_page_size:
        raise ValueError(f"{hugetlb_page_size} is not a power of two")
    return MFD_CLOEXEC | MFD_HUGETLB | (shift << MFD_HUGE_SHIFT)


def memfd_create(name: str, size: int, hugetlb_page_size: int | None = None) -> int:
    """A memfd of ``size`` bytes: shmem, or hugetlbfs with that page size.

    ``os.memfd_create`` is the C library's wrapper of the syscall
    (mm/memfd.c ``memfd_create``); ``ftruncate`` sizes it.  Nothing is
    allocated yet: hugetlb pages are reserved at mmap, allocated at fault.
    """
    try:
        fd = os.memfd_create(name, memfd_flags(hugetlb_page_size))
    except OSError as e:
        if hugetlb_page_size is not None and e.errno in (errno_mod.EINVAL, errno_mod.ENOENT):
            raise KernelError(f"this kernel has no hugetlb pages of {hugetlb_page_size // KiB} KiB "
                              f"(memfd_create MFD_HUGETLB: {e.strerror})") from None
        raise KernelError(f"memfd_create: {e.strerror}") from None
    try:
        os.ftruncate(fd, size)
    except OSError as e:
        os.close(fd)
        raise KernelError(f"ftruncate of a {size}-byte memfd: {e.strerror}") from None
    return fd


def mmap_fixed(address: int, length: int, prot: int, fd: int, offset: int) -> int:
    """mmap(MAP_SHARED | MAP_FIXED_NOREPLACE) at exactly ``address``; 0 or an errno.

    Returns an errno instead of raising so that a forked child can call it
    without allocating (see ``ptcalc.linux.measure``).  EEXIST: something is
    mapped there already.
    """
    lib = libc()
    got = lib.mmap(address, length, prot, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, offset)
    if got is None or got == MAP_FAILED:
        return ctypes.get_errno() or errno_mod.EINVAL
    if got != address:  # a kernel before 4.17 took the flag as a hint
        lib.munmap(got, length)
        return errno_mod.EEXIST
    return 0


def madvise(address: int, length: int, advice: int) -> int:
    """madvise(); 0 or an errno (MADV_POPULATE_* fault the range in: mm/madvise.c)."""
    if libc().madvise(address, length, advice) != 0:
        return ctypes.get_errno() or errno_mod.EINVAL
    return 0


def munmap(address: int, length: int) -> int:
    """munmap(); 0 or an errno."""
    if libc().munmap(address, length) != 0:
        return ctypes.get_errno() or errno_mod.EINVAL
    return 0


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """prctl(PR_SET_PDEATHSIG): the kernel kills this process if its parent dies."""
    libc().prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def set_comm(name: str) -> None:
    """prctl(PR_SET_NAME): what /proc/PID/comm shows (15 bytes at most)."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    libc().prctl(PR_SET_NAME, ctypes.cast(buf, ctypes.c_void_p).value or 0, 0, 0, 0)


# --------------------------------------------------------------------------- fields measure needs


def _required_field(text: str, key: str, where: str, why: str = "") -> int:
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
    return _required_field(status_text, "VmPTE", "/proc/PID/status",
                           " (kernel thread, zombie, or kernel older than 2.6.10)")


def parse_pagetables(meminfo_text: str) -> int:
    """PageTables in bytes from the text of /proc/meminfo (NR_PAGETABLE).

    >>> parse_pagetables("MemTotal: 100 kB\\nPageTables:   1676 kB\\nSecPageTables: 0 kB\\n")
    1716224
    """
    return _required_field(meminfo_text, "PageTables", "/proc/meminfo")


# --------------------------------------------------------------------------- readers


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def read_vmpte(pid: int) -> int:
    """VmPTE of process ``pid`` in bytes."""
    return parse_vmpte(_read(f"{PROC}/{pid}/status"))


def read_smaps(pid: int) -> list[SmapsEntry]:
    """The VMAs of process ``pid`` with their smaps fields."""
    return parse_smaps(_read(f"{PROC}/{pid}/smaps"))


def read_maps(pid: int | str = "self") -> list[MapsEntry]:
    """The VMAs of process ``pid`` (no fields)."""
    return parse_maps(_read(f"{PROC}/{pid}/maps"))


def filesystem_type(path: str) -> str | None:
    """The filesystem type holding ``path`` (``ext4``, ``tmpfs``, ...), None if unknown."""
    try:
        return parse_mountinfo_fstype(_read(f"{PROC}/self/mountinfo"), os.path.realpath(path))
    except OSError:
        return None


def read_meminfo() -> dict[str, int]:
    """/proc/meminfo, sizes in bytes and HugePages_* in pages."""
    return parse_kb_fields(_read(f"{PROC}/meminfo"))


def refresh_vmstat() -> bool:
    """Fold every CPU's vmstat deltas into the global counters now.

    Writing /proc/sys/vm/stat_refresh (root only) runs ``vmstat_refresh()``
    (mm/vmstat.c); without it /proc/meminfo lags by up to the per-CPU
    thresholds until the next ``vm.stat_interval`` fold.  False if not allowed.
    """
    try:
        with open(f"{PROC}/sys/vm/stat_refresh", "w") as f:
            f.write("1")
        return True
    except OSError:
        return False


def read_pagetables() -> int:
    """PageTables of the machine in bytes, per-CPU deltas folded first when allowed."""
    refresh_vmstat()
    return parse_pagetables(_read(f"{PROC}/meminfo"))


PF_KTHREAD = 0x00200000  # include/linux/sched.h


def other_processes(skip: frozenset[int] | set[int]) -> frozenset[tuple[int, int]]:
    """(pid, start time) of every user process except those in ``skip``.

    Kernel threads (no page tables of their own) and zombies (tables already
    freed) are left out.
    """
    out = set()
    for name in os.listdir(PROC):
        if not name.isdigit() or int(name) in skip:
            continue
        try:
            state, _ppid, flags, start = parse_stat(_read(f"{PROC}/{name}/stat"))
        except (OSError, IndexError, ValueError):
            continue
        if flags & PF_KTHREAD or state in ("Z", "X"):
            continue
        out.add((int(name), start))
    return frozenset(out)


@dataclass(frozen=True)
class Reading:
    """PageTables of the machine and the VmPTE of every other user process, read together."""

    pagetables: int
    vmpte: dict[tuple[int, int], int]
    """(pid, start time) -> VmPTE bytes of every user process but the skipped ones."""
    consistent: bool = True
    """No process started, exited or changed its VmPTE while the reading was taken."""

    def corrected(self, pgd_bytes: int) -> int:
        """PageTables less what the other processes hold: their VmPTE and, when
        PageTables counts them, their PGDs (``pgd_bytes`` each, 0 if not)."""
        return self.pagetables - sum(self.vmpte.values()) - pgd_bytes * len(self.vmpte)

    def without(self, pids: set[int]) -> Reading:
        """The same reading with ``pids`` not counted as other processes."""
        return replace(self, vmpte={k: v for k, v in self.vmpte.items() if k[0] not in pids})


def _vmptes(procs: frozenset[tuple[int, int]]) -> dict[tuple[int, int], int] | None:
    out = {}
    for key in procs:
        try:
            out[key] = read_vmpte(key[0])
        except (OSError, KernelError):
            return None
    return out


def read_snapshot(skip: frozenset[int] | set[int] = frozenset(), tries: int = 50) -> Reading:
    """PageTables and the VmPTE of every user process not in ``skip``, taken
    so that none of them changed meanwhile (retried up to ``tries`` times)."""
    last: Reading | None = None
    for _ in range(tries):
        procs = other_processes(skip)
        first = _vmptes(procs)
        value = read_pagetables()
        second = _vmptes(procs) if other_processes(skip) == procs else None
        if first is not None and first == second:
            return Reading(value, first)
        last = Reading(value, first or {}, consistent=False)
        time.sleep(0.01)
    assert last is not None
    return last


def settle_pagetables(interval: float, pgd_bytes: int, skip: frozenset[int] | set[int] = frozenset(),
                      timeout: float = 30.0) -> tuple[Reading, bool]:
    """Read until two consecutive readings ``interval`` apart agree; (reading, settled).

    Page-table pages are freed after an RCU grace period (mm/mmu_gather.c
    ``tlb_remove_table`` -> ``tlb_remove_table_rcu``), so tables of processes
    that just exited still count for a while.  Other processes (ptcalc's own
    included) change PageTables as they run, start and exit, so what must
    agree is PageTables less what they hold (``Reading.corrected``).  Not
    settled when that did not happen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    prev = read_snapshot(skip)
    while True:
        time.sleep(interval)
        cur = read_snapshot(skip)
        if cur.consistent and prev.consistent and cur.corrected(pgd_bytes) == prev.corrected(pgd_bytes):
            return cur, True
        if time.monotonic() > deadline:
            return cur, False
        prev = cur


def read_pti() -> bool:
    """Is page-table isolation active on this machine?"""
    try:
        return pti_active(_read("/sys/devices/system/cpu/vulnerabilities/meltdown"))
    except OSError:
        return False


def hugetlb_sizes_supported() -> tuple[int, ...]:
    """hugetlb page sizes this kernel offers (the hugepages-NkB directories)."""
    try:
        names = os.listdir(f"{SYS_MM}/hugepages")
    except OSError:
        return ()
    return tuple(sorted(size for size in map(hugepage_dir_size, names) if size is not None))


def hugetlb_pool_path(page_size: int, what: str = "nr_hugepages") -> str:
    """/sys/kernel/mm/hugepages/hugepages-{N}kB/``what``.

    >>> hugetlb_pool_path(2 * MiB)
    '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
    """
    return f"{SYS_MM}/hugepages/hugepages-{page_size // KiB}kB/{what}"


def read_hugetlb_pool(page_size: int, what: str = "nr_hugepages") -> int:
    """A hugetlb pool counter (nr_hugepages, free_hugepages, resv_hugepages, ...)."""
    try:
        return int(_read(hugetlb_pool_path(page_size, what)).strip())
    except FileNotFoundError:
        raise KernelError(f"this kernel has no hugetlb pages of {page_size // KiB} KiB "
                          f"({hugetlb_pool_path(page_size, what)} does not exist)") from None


THP_SHMEM_ENABLED = f"{SYS_MM}/transparent_hugepage/shmem_enabled"


def thp_shmem_size_path(page_size: int = 2 * MiB) -> str:
    """Per-size shmem THP policy (6.8+; ``inherit`` follows shmem_enabled)."""
    return f"{SYS_MM}/transparent_hugepage/hugepages-{page_size // KiB}kB/shmem_enabled"


def read_choice(path: str) -> str | None:
    """The selected value of a sysfs choice file, or None when it does not exist."""
    try:
        return parse_sysfs_choice(_read(path))
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------- tunables


class Tunables:
    """Writes sysfs tunables and puts every one back as it found it.

    Use as a context manager: ``restore()`` runs on every exit path.  Values
    are written as text; the old value is the selected choice for choice
    files (``[never]`` -> ``never``).
    """

    def __init__(self) -> None:
        self._saved: list[tuple[str, str]] = []
        self.restore_problems: list[str] = []

    def set(self, path: str, value: str) -> None:
        """Write ``value`` to ``path``, remembering the old value the first time."""
        old = read_choice(path)
        if old is None:
            raise KernelError(f"{path} does not exist on this kernel")
        if all(p != path for p, _ in self._saved):
            self._saved.append((path, old))
        try:
            with open(path, "w") as f:
                f.write(value)
        except PermissionError:
            raise KernelError(f"cannot write {path}: measure needs root for this "
                              "(hugetlb pools, THP settings)") from None
        except OSError as e:
            raise KernelError(f"cannot write {value!r} to {path}: {e.strerror}") from None

    @property
    def saved(self) -> list[tuple[str, str]]:
        """(path, value to restore), in the order first written."""
        return list(self._saved)

    def restore(self) -> None:
        """Write back every saved value, last first; hugetlb pools are retried
        briefly (pages being freed return to the pool asynchronously).
        SIGINT/SIGTERM arriving meanwhile wait until it is done."""
        with signals_deferred():
            self._restore()

    def _restore(self) -> None:
        problems = []
        for path, old in reversed(self._saved):
            for _ in range(50):
                try:
                    with open(path, "w") as f:
                        f.write(old)
                except OSError as e:
                    problems.append(f"could not restore {path} to {old!r}: {e.strerror}")
                    break
                if read_choice(path) == old:
                    break
                time.sleep(0.1)
            else:
                problems.append(f"{path} is {read_choice(path)!r}, not {old!r}, after restoring")
        self._saved.clear()
        self.restore_problems = problems

    def __enter__(self) -> Tunables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()


# --------------------------------------------------------------------------- signals


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; cleanup runs as the exception unwinds.

    A BaseException, like KeyboardInterrupt, so no ``except Exception``
    swallows it.  ``exit_status`` is 128 + the signal number (130, 143).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


CLEANUP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _cleanup_signals_to(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` takes SIGINT, SIGTERM and SIGHUP inside the block; the
    original handlers are back when the block exits."""
    old = {s: signal.getsignal(s) for s in CLEANUP_SIGNALS}
    for s in CLEANUP_SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into ``Interrupted`` inside the block.

    Without this SIGTERM would kill the process with the hugetlb pools still
    raised.  The original handlers are back when the block exits.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    with _cleanup_signals_to(handler):
        yield


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP off in the block (cleanup that must
    finish); one that arrived meanwhile is raised again when the block ends.

    Python handlers always run in the main thread, but with helper threads
    about (numpy's BLAS) the kernel may deliver the signal to any of them, so
    blocking it with pthread_sigmask in this thread would not hold it off:
    the handlers are swapped for ones that only take note instead.
    """
    pending: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    try:
        with _cleanup_signals_to(note):
            yield
    finally:
        if pending:
            signal.raise_signal(pending[0])


# --------------------------------------------------------------------------- the machine


def is_root() -> bool:
    return os.geteuid() == 0


def kernel_release() -> str:
    """``uname -r``."""
    return os.uname().release


def running_arch_name() -> str | None:
    """The ptcalc profile of the running kernel (``x86_64``, ``x86_64-la57``), None if unknown.

    5-level paging is in use when the CPU and kernel have it: the kernel
    clears the ``la57`` flag when it runs 4-level (arch/x86/kernel/cpu).
    """
    if os.uname().machine != "x86_64":
        return None
    try:
        flags = parse_cpu_flags(_read(f"{PROC}/cpuinfo"))
    except OSError:
        return "x86_64"
    return "x86_64-la57" if "la57" in flags else "x86_64"


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists (a zombie counts as gone)."""
    try:
        return parse_stat(_read(f"{PROC}/{pid}/stat"))[0] != "Z"
    except (OSError, IndexError, ValueError):
        return False



