"""``ProcFS``, the one reader of /proc and /sys: on small fake trees built in
tmp_path (any machine, no root), and -- marked ``kernel`` -- on the real ones,
against figures the kernel gives through other doors (sysconf, uname)."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import sys

import pytest
from fake_tree import GiB, KiB, MiB, PAGE, FakeTree, stat_line

from ptcalc.linux.errors import KernelError, NoAccess, ProcessError, ProcessGone
from ptcalc.linux.parsers import PM_PRESENT, pagemap_touched
from ptcalc.linux.procfs import ProcFS

SMAPS = """\
7f0000000000-7f0000400000 rw-s 00000000 00:01 1025                       /memfd:pool (deleted)
Size:               4096 kB
KernelPageSize:        4 kB
Rss:                   8 kB
VmFlags: rd wr sh mr mw me ms
7ffc2a1de000-7ffc2a1ff000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Rss:                  20 kB
VmFlags: rd wr mr mw me gd ac
"""


@pytest.fixture
def tree(tmp_path):
    t = FakeTree(tmp_path).machine(pools={2 * MiB: 7, GiB: 0}, meltdown="Mitigation: PTI\n",
                                   cpu_flags="fpu la57 pse", release="6.18.44-fake")
    t.process(100, "postgres", smaps=SMAPS, vmpte=200 * KiB,
              pagemap={0x7F0000000000: PM_PRESENT | 5, 0x7F0000001000: PM_PRESENT | 6}, pagemap_end=1 << 47)
    t.process(2, "kthreadd", vmpte=None, stat=stat_line(2, "kthreadd", state="S", ppid=0, flags=0x208040))
    return t


@pytest.fixture
def fs(tree):
    return ProcFS(*tree.roots)


def test_paths_are_spelled_as_on_the_real_machine(tree, fs):
    assert fs.path("/proc/meminfo") == str(tree.proc / "meminfo")
    assert fs.path("/sys/kernel/mm/hugepages") == str(tree.sys / "kernel/mm/hugepages")
    assert fs.path("/proc") == str(tree.proc)
    with pytest.raises(ValueError):
        fs.path("/etc/passwd")
    with pytest.raises(ValueError):
        fs.path("/process")  # not below /proc
    assert not fs.is_live and ProcFS().is_live


def test_system_wide_facts(fs):
    assert fs.meminfo()["MemTotal"] == 24634652 * KiB
    assert fs.pagetables() == 1676 * KiB
    assert fs.kernel_release() == "6.18.44-fake"
    assert fs.machine() == "x86_64"
    assert "la57" in fs.cpu_flags()
    assert fs.pti() is True
    assert fs.hugetlb_sizes() == (2 * MiB, GiB)
    assert fs.mountinfo() == {(0, 23): "tmpfs", (254, 0): "ext4"}
    assert fs.sysvipc_shm() == {}  # no /proc/sysvipc/shm: none


def test_absent_system_files(tmp_path):
    fs = ProcFS(*FakeTree(tmp_path).roots)
    assert fs.meminfo() == {} and fs.cpu_flags() == frozenset() and fs.pti() is False
    assert fs.hugetlb_sizes() == () and fs.listdir("/sys/kernel/mm/hugepages") == []
    assert fs.text("/proc/nothing", "dflt") == "dflt" and fs.read_value("/sys/nothing") is None
    assert fs.kernel_release() == os.uname().release  # no osrelease: this process's uname
    assert fs.machine() == os.uname().machine
    with pytest.raises(OSError):
        fs.read("/proc/meminfo")
    FakeTree(tmp_path).file("proc/meminfo", "MemTotal: 1 kB\n")
    with pytest.raises(KernelError, match="PageTables"):
        fs.pagetables()


def test_stat_refresh_is_written_before_pagetables_are_read(tree, fs):
    assert fs.refresh_vmstat() is True
    assert tree.read("proc/sys/vm/stat_refresh") == "1"
    os.remove(tree.proc / "sys/vm/stat_refresh")
    os.rmdir(tree.proc / "sys/vm")
    assert fs.refresh_vmstat() is False  # not allowed (here: not there): PageTables is read anyway
    assert fs.pagetables() == 1676 * KiB


def test_sysfs_values_and_writes(tree, fs):
    assert fs.read_value("/sys/kernel/mm/transparent_hugepage/shmem_enabled") == "never"
    assert fs.read_value("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") == "7"
    fs.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "9")
    assert tree.read("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") == "9"


def test_a_process_files(fs):
    assert fs.pids() == [2, 100]
    assert fs.vmpte(100) == 200 * KiB
    assert fs.status(100)["Name"] == "postgres"
    assert fs.stat(100) == ("S", 1, 0x400100, 777)
    pool, stack = fs.smaps(100)
    assert (pool.maps.path, pool.fields["Rss"], stack.maps.path) == ("/memfd:pool", 8 * KiB, "[stack]")
    assert [m.start for m in fs.maps(100)] == [0x7F0000000000, 0x7FFC2A1DE000]
    assert fs.pid_text(100, "comm") == "postgres\n"
    with pytest.raises(KernelError, match="VmPTE"):
        fs.vmpte(2)  # a kernel thread has no mm


def test_pagemap_reads_exact_entries(fs):
    fd = fs.open_pagemap(100)
    try:
        data = fs.pread(fd, 3 * 8, 0x7F0000000000 // PAGE * 8, 100)
        assert pagemap_touched(data).tolist() == [True, True, False]
        assert struct.unpack("<Q", data[8:16])[0] == PM_PRESENT | 6
        with pytest.raises(ProcessGone, match="short pagemap read"):
            fs.pread(fd, 16, (1 << 47) // PAGE * 8 - 8, 100)  # past the end: the mm went away
    finally:
        os.close(fd)


def test_map_files_size_needs_the_link(fs):
    assert fs.mapped_file_size(100, 0x7F0000000000, 0x7F0000400000) is None


def test_a_vanished_process_is_one_typed_error(tree, fs):
    shutil.rmtree(tree.proc / "100")
    for read in (lambda: fs.smaps(100), lambda: fs.vmpte(100), lambda: fs.stat(100), lambda: fs.open_pagemap(100)):
        with pytest.raises(ProcessGone) as info:
            read()
        assert info.value.pid == 100 and info.value.path.startswith("/proc/100/")


def test_a_missing_file_of_a_live_process_is_not_a_vanished_process(tree, fs):
    # /proc/PID is there: the file is missing for another reason (smaps
    # without CONFIG_PROC_PAGE_MONITOR), which scan reports as unreadable
    os.remove(tree.proc / "100" / "smaps")
    with pytest.raises(FileNotFoundError):
        fs.smaps(100)


@pytest.mark.parametrize("err, kind", [(errno.ESRCH, ProcessGone), (errno.EACCES, NoAccess),
                                       (errno.EPERM, NoAccess)])
def test_errno_translation_in_one_place(fs, err, kind):
    # as root every file of a fake tree is readable: raise the errno the kernel would
    with pytest.raises(kind) as info:
        with fs._process_files(100, "smaps"):
            raise OSError(err, os.strerror(err))
    assert isinstance(info.value, ProcessError) and info.value.reason == os.strerror(err)
    assert str(info.value) == f"/proc/100/smaps: {os.strerror(err)}"
    with pytest.raises(OSError) as other:
        with fs._process_files(100, "smaps"):
            raise OSError(errno.EIO, "I/O error")
    assert not isinstance(other.value, ProcessError)


# --- the real /proc and /sys ---------------------------------------------------------

live = pytest.mark.skipif(sys.platform != "linux", reason="reads the real /proc")


@live
@pytest.mark.kernel
def test_real_proc_against_other_doors():
    fs = ProcFS()
    # MemTotal and sysinfo's totalram are both totalram_pages() (mm/show_mem.c si_meminfo)
    assert fs.meminfo()["MemTotal"] == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert fs.kernel_release() == os.uname().release
    assert fs.machine() == os.uname().machine
    assert os.getpid() in fs.pids()
    assert fs.stat(os.getpid())[1] == os.getppid()
    assert fs.vmpte(os.getpid()) > 0
    own = fs.maps("self")
    assert any(m.start <= id(own) < m.end for m in own)  # this list lives in one of our mappings
    assert fs.pagetables() > 0 and fs.pagetables() % KiB == 0
    for size in fs.hugetlb_sizes():
        assert os.path.isdir(f"/sys/kernel/mm/hugepages/hugepages-{size // KiB}kB")
