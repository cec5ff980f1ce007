"""A small fake /proc and /sys in a temporary directory, for ``ProcFS(proc, sys)``.

Files hold text copied from a Linux 6.18 x86-64 machine (trimmed), so the
readers above the parsers run anywhere, without root and without touching the
real kernel.  ``FakeTree.machine()`` writes the system-wide files every reader
expects; ``process()`` writes one process's files.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4 * KiB

MEMINFO = """\
MemTotal:       24634652 kB
MemFree:        22110452 kB
MemAvailable:   23011236 kB
PageTables:         1676 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""

THP_ENABLED = "always [madvise] never\n"
SHMEM_ENABLED = "always within_size advise [never] deny force\n"
SHMEM_ENABLED_2M = "always [inherit] within_size advise never\n"


def stat_line(pid: int, comm: str, state: str = "S", ppid: int = 1, flags: int = 0x400100, start: int = 777) -> str:
    """A /proc/PID/stat line (do_task_stat(): 52 fields; the ones parse_stat reads set)."""
    fields = [state, str(ppid), str(pid), str(pid), "0", "-1", str(flags)] + ["0"] * 12 + [str(start)] + ["0"] * 32
    return f"{pid} ({comm}) {' '.join(fields)}\n"


class FakeTree:
    """``root/proc`` and ``root/sys``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc = root / "proc"
        self.sys = root / "sys"
        self.proc.mkdir(parents=True, exist_ok=True)
        self.sys.mkdir(parents=True, exist_ok=True)

    @property
    def roots(self) -> tuple[str, str]:
        return str(self.proc), str(self.sys)

    def file(self, rel: str, text: str) -> Path:
        """Write ``text`` to ``root/rel`` (``proc/meminfo``, ``sys/kernel/mm/...``)."""
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text()

    def machine(self, *, arch: str = "x86_64", release: str = "6.18.0-test", cpu_flags: str = "fpu pse pae",
                meltdown: str = "Not affected\n", pools: dict[int, int] | None = None,
                thp: bool = True) -> FakeTree:
        """The system-wide files: meminfo, cpuinfo, uname, PTI, hugetlb pools, THP settings."""
        self.file("proc/meminfo", MEMINFO)
        self.file("proc/cpuinfo", f"processor\t: 0\nflags\t\t: {cpu_flags}\n\nprocessor\t: 1\nflags\t\t: fpu\n")
        self.file("proc/sys/kernel/arch", arch + "\n")
        self.file("proc/sys/kernel/osrelease", release + "\n")
        self.file("proc/sys/vm/stat_refresh", "")
        self.file("proc/self/mountinfo", "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw\n"
                                         "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
        self.file("sys/devices/system/cpu/vulnerabilities/meltdown", meltdown)
        for size, n in (pools if pools is not None else {2 * MiB: 0, GiB: 0}).items():
            d = f"sys/kernel/mm/hugepages/hugepages-{size // KiB}kB"
            for name, value in (("nr_hugepages", n), ("free_hugepages", n), ("resv_hugepages", 0)):
                self.file(f"{d}/{name}", f"{value}\n")
        if thp:
            self.file("sys/kernel/mm/transparent_hugepage/enabled", THP_ENABLED)
            self.file("sys/kernel/mm/transparent_hugepage/shmem_enabled", SHMEM_ENABLED)
            self.file("sys/kernel/mm/transparent_hugepage/hugepages-2048kB/shmem_enabled", SHMEM_ENABLED_2M)
        return self

    def process(self, pid: int, comm: str, *, smaps: str = "", vmpte: int | None = 48 * KiB,
                stat: str | None = None, pagemap: dict[int, int] | None = None, pagemap_end: int = 0) -> None:
        """/proc/PID/{comm,status,stat,smaps,maps,pagemap}.  ``pagemap``: page
        address -> 64-bit entry; the file is ``pagemap_end`` bytes of address space long."""
        self.file(f"proc/{pid}/comm", comm + "\n")
        vm = f"VmPTE:\t{vmpte // KiB:>8} kB\n" if vmpte is not None else ""
        self.file(f"proc/{pid}/status", f"Name:\t{comm}\nState:\tS (sleeping)\nPid:\t{pid}\n{vm}Threads:\t1\n")
        self.file(f"proc/{pid}/stat", stat if stat is not None else stat_line(pid, comm))
        self.file(f"proc/{pid}/smaps", smaps)
        self.file(f"proc/{pid}/maps", "".join(line + "\n" for line in smaps.splitlines()
                                              if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line)))
        with open(self.proc / str(pid) / "pagemap", "wb") as f:
            f.truncate(pagemap_end // PAGE * 8)
            for addr, entry in sorted((pagemap or {}).items()):
                f.seek(addr // PAGE * 8)
                f.write(struct.pack("<Q", entry))
