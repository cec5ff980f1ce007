"""/proc and /sys parsers, fed with text copied from a Linux 6.18 x86-64 machine
(trimmed): pure functions of the text, so they run anywhere."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from ptcalc.linux.errors import KernelError
from ptcalc.linux.parsers import (
    PM_PRESENT,
    PM_SWAP,
    MapsEntry,
    SmapsEntry,
    hugepage_dir_size,
    pagemap_touched,
    parse_cpu_flags,
    parse_kb_fields,
    parse_maps,
    parse_maps_line,
    parse_mountinfo,
    parse_mountinfo_fstype,
    parse_pagetables,
    parse_smaps,
    parse_stat,
    parse_status,
    parse_sysfs_choice,
    parse_sysvipc_shm,
    parse_vmpte,
    pmd_mapped_bytes,
    pti_active,
    runs,
    status_bytes,
)
from ptcalc.linux.scan import classify, protection_of

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# /proc/PID/smaps of a process holding a SysV segment, an anonymous MAP_HUGETLB
# mapping, MAP_SHARED|MAP_ANONYMOUS memory, a hugetlb memfd and a shmem memfd
# (6.18; counters trimmed to the ones that matter, order kept).
SMAPS = """\
55d4c4a00000-55d4c4a02000 r--p 00000000 fe:00 260386                     /usr/bin/python3.11
Size:                  8 kB
KernelPageSize:        4 kB
Rss:                   8 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
VmFlags: rd mr mw me
55d4c6000000-55d4c6100000 rw-p 00000000 00:00 0                          [heap]
Size:               1024 kB
KernelPageSize:        4 kB
Rss:                 900 kB
Private_Clean:         0 kB
Private_Dirty:       900 kB
VmFlags: rd wr mr mw me ac
7fd1f4d00000-7fd1f4e00000 rw-s 00000000 00:01 5                          /SYSV1234abcd (deleted)
Size:               1024 kB
KernelPageSize:        4 kB
MMUPageSize:           4 kB
Rss:                   4 kB
Private_Clean:         0 kB
Private_Dirty:         4 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
THPeligible:           0
VmFlags: rd wr sh mr mw me ms
7fd1f4e00000-7fd1f5000000 rw-s 00000000 00:11 138014                     /anon_hugepage (deleted)
Size:               2048 kB
KernelPageSize:     2048 kB
MMUPageSize:        2048 kB
Rss:                   0 kB
Private_Hugetlb:    2048 kB
VmFlags: rd wr sh mr mw me ms de ht
7fd1f5000000-7fd1f5200000 rw-s 00000000 00:01 36                         /dev/zero (deleted)
Size:               2048 kB
KernelPageSize:        4 kB
Rss:                   4 kB
VmFlags: rd wr sh mr mw me ms
7fd1f5200000-7fd1f5600000 rw-s 00000000 00:11 138013                     /memfd:hdemo (deleted)
Size:               4096 kB
KernelPageSize:     2048 kB
MMUPageSize:        2048 kB
VmFlags: rd wr sh mr mw me ms de ht
7fd1f56ba000-7fd1f5aba000 rw-s 00200000 00:01 35                         /memfd:demo (deleted)
Size:               4096 kB
KernelPageSize:        4 kB
Rss:                   8 kB
Private_Dirty:         8 kB
VmFlags: rd wr sh mr mw me ms
7fd1f5b00000-7fd1f5b01000 r--s 00000000 fe:00 338846                     /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache
Size:                  4 kB
KernelPageSize:        4 kB
VmFlags: rd sh mr me ms
7fd1f5c00000-7fd1f5c10000 rw-s 100000000 00:06 620                      /dev/dri/card0
Size:                 64 kB
KernelPageSize:        4 kB
VmFlags: rd wr sh mr mw me ms io pf dd
7fd1f5d00000-7fd1f5d01000 rw-s 00000000 00:0f 1077                       anon_inode:[io_uring]
Size:                  4 kB
VmFlags: rd wr sh mr mw me ms
7fd1f5e00000-7fd1f5e40000 rw-s 00000000 00:17 9                          /dev/shm/PostgreSQL.1804289383
Size:                256 kB
KernelPageSize:        4 kB
VmFlags: rd wr sh mr mw me ms
7ffc2a1de000-7ffc2a1ff000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Rss:                  20 kB
Private_Dirty:        20 kB
VmFlags: rd wr mr mw me gd ac
"""

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334524k,nr_inodes=3083631,mode=755
25 24 0:23 / /dev/shm rw,relatime shared:3 - tmpfs tmpfs rw,size=24684096k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
"""


def test_maps_line_fields():
    e = parse_maps_line("7fd1f56ba000-7fd1f5aba000 rw-s 00200000 00:01 35      /memfd:demo (deleted)\n")
    assert (e.start, e.end, e.size) == (0x7FD1F56BA000, 0x7FD1F5ABA000, 4 * MiB)
    assert (e.perms, e.shared, e.offset, e.dev, e.inode) == ("rw-s", True, 2 * MiB, (0, 1), 35)
    assert (e.path, e.deleted) == ("/memfd:demo", True)


def test_maps_line_anonymous_and_path_with_spaces():
    anon = parse_maps_line("7ffc2a1de000-7ffc2a1ff000 rw-p 00000000 00:00 0")
    assert (anon.path, anon.shared, anon.inode) == ("", False, 0)
    spaced = parse_maps_line("7f00000000-7f00001000 r--s 00001000 fe:00 12   /srv/my data/file one.bin")
    assert spaced.path == "/srv/my data/file one.bin" and spaced.offset == 4 * KiB and spaced.dev == (254, 0)
    # 5-level addresses are wider than 12 hex digits
    big = parse_maps_line("ff000000000000-ff000040000000 rw-s 00000000 00:01 7  /SYSV00000000 (deleted)")
    assert big.start == 0xFF000000000000 and big.size == GiB


def test_maps_rejects_garbage():
    with pytest.raises(ValueError):
        parse_maps_line("not a maps line")
    assert len(parse_maps("7f00-7f01 r--p 0 00:00 0\n\n7f01-7f02 r--p 0 00:00 0\n")) == 2


def test_smaps_entries_sizes_and_flags():
    entries = parse_smaps(SMAPS)
    assert len(entries) == 12
    sysv, anon_huge, zero, hmemfd, memfd = entries[2:7]
    assert sysv.maps.path == "/SYSV1234abcd" and sysv.fields["Size"] == MiB and sysv.fields["Rss"] == 4 * KiB
    assert not sysv.hugetlb and sysv.kernel_page_size == 4 * KiB
    assert anon_huge.hugetlb and anon_huge.kernel_page_size == 2 * MiB
    assert hmemfd.hugetlb and hmemfd.kernel_page_size == 2 * MiB and hmemfd.fields["Size"] == 4 * MiB
    assert memfd.fields["Private_Dirty"] == 8 * KiB
    assert "sh" in zero.vmflags and "ht" not in zero.vmflags
    assert entries[8].vmflags >= {"io", "pf"}


def test_smaps_empty_for_kernel_threads():
    assert parse_smaps("") == []
    with pytest.raises(ValueError):
        parse_smaps("Size: 4 kB\n")


def test_classify_every_kind():
    fstypes = parse_mountinfo(MOUNTINFO)
    got = [classify(e, fstypes) for e in parse_smaps(SMAPS) if e.maps.shared]
    assert got == [
        ("sysv", "shmem", "sysv-0x1234abcd"),
        ("anon", "hugetlb", "anon-hugepage-138014"),
        ("anon", "shmem", "shared-anon-36"),
        ("memfd", "hugetlb", "memfd:hdemo"),
        ("memfd", "shmem", "memfd:demo"),
        ("file", "file", "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache"),
        ("device", None, "/dev/dri/card0"),
        ("special", None, "anon_inode:[io_uring]"),
        ("tmpfs", "shmem", "/dev/shm/PostgreSQL.1804289383"),
    ]


def test_classify_sysv_ipc_private_uses_the_shmid():
    e = parse_smaps("7f00-7f01 rw-s 0 00:01 32794  /SYSV00000000 (deleted)\nVmFlags: rd wr sh ht\n")[0]
    assert classify(e, {}) == ("sysv", "hugetlb", "sysv-shmid-32794")


def test_protection():
    assert [protection_of(p) for p in ("rw-s", "r--s", "r-xs", "--xs", "-w-s", "---s")] == \
           ["rw", "r", "r", "r", "rw", "none"]


def test_sysvipc_shm():
    text = (
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid"
        "      atime      dtime      ctime                   rss                  swap\n"
        " 305441741          5   600               1048576 28387 28387      1     0     0     0     0"
        " 1795641479          0 1795641479                  4096                     0\n"
        "-559038737     131078  1600          322122547200  4242  4243   1500    54   54   54   54"
        " 1795641479          0 1795641479          322122547200                     0\n"
        "         0     131079   600                    56  4242  4243      9    26   26   26   26"
        " 1795641479          0 1795641479                  4096                     0\n")
    segs = parse_sysvipc_shm(text)
    assert sorted(segs) == [5, 131078, 131079]
    assert (segs[5].key, segs[5].size, segs[5].nattch, segs[5].rss) == (0x1234ABCD, MiB, 1, 4 * KiB)
    # keys at or above 2**31 print negative (%10d of a key_t)
    assert segs[131078].key == 0xDEADBEEF and segs[131078].size == 300 * GiB and segs[131078].nattch == 1500
    assert segs[131079].key == 0 and segs[131079].size == 56


def test_sysvipc_shm_old_kernel_without_rss_and_empty():
    text = ("       key      shmid perms       size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime"
            "      ctime\n  5432001      32794   600 1073741824  1000  1001     12    26    26    26    26"
            " 1700000000          0 1700000000\n")
    seg = parse_sysvipc_shm(text)[32794]
    assert seg.rss is None and seg.nattch == 12 and seg.key == 5432001
    assert parse_sysvipc_shm("") == {}


def test_meminfo_status_mountinfo_cpuinfo():
    mi = parse_kb_fields("MemTotal:       24684096 kB\nMemFree:  100 kB\nHugePages_Total:    1026\n"
                       "Hugepagesize:       2048 kB\n")
    assert mi == {"MemTotal": 24684096 * KiB, "MemFree": 100 * KiB, "HugePages_Total": 1026,
                  "Hugepagesize": 2 * MiB}
    st = parse_status("Name:\tpostgres\nVmPTE:\t    1204 kB\nThreads:\t1\n")
    assert st["Name"] == "postgres" and status_bytes(st, "VmPTE") == 1204 * KiB
    assert status_bytes(st, "VmSwap") is None
    assert parse_mountinfo(MOUNTINFO) == {(0, 21): "proc", (0, 6): "devtmpfs", (0, 23): "tmpfs",
                                          (254, 0): "ext4"}
    flags = parse_cpu_flags("processor\t: 0\nflags\t\t: fpu vme pse la57 pti\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert "la57" in flags and "vme" in flags
    assert parse_cpu_flags("processor : 0\n") == frozenset()


def test_pti_and_hugepage_dirs():
    assert pti_active("Mitigation: PTI\n")
    assert not pti_active("Not affected\n") and not pti_active("Vulnerable\n") and not pti_active("")
    assert hugepage_dir_size("hugepages-2048kB") == 2 * MiB
    assert hugepage_dir_size("hugepages-1048576kB") == GiB
    assert hugepage_dir_size("nr_hugepages") is None


def _pagemap(*entries: int) -> bytes:
    return struct.pack(f"<{len(entries)}Q", *entries)


def test_pagemap_present_swapped_and_empty_entries():
    pfn = 0x1234
    data = _pagemap(
        PM_PRESENT | (1 << 61) | pfn,  # present file page
        0,                             # none
        PM_SWAP | (3 << 5) | 1,        # swapped: the PTE is still there
        1 << 55,                       # soft-dirty flag on a hole (VM_SOFTDIRTY): nothing mapped
        PM_PRESENT,                    # present without PFN (no CAP_SYS_ADMIN)
        1 << 56,                       # exclusive flag alone: not a mapping
    )
    assert pagemap_touched(data).tolist() == [True, False, True, False, True, False]
    with pytest.raises(ValueError):
        pagemap_touched(b"\0" * 12)


def test_mountinfo_fstype_of_a_path():
    assert parse_mountinfo_fstype(MOUNTINFO, "/dev/shm/PostgreSQL.1") == "tmpfs"
    assert parse_mountinfo_fstype(MOUNTINFO, "/var/tmp/x") == "ext4"
    assert parse_mountinfo_fstype("", "/") is None


def test_runs():
    s, e = runs(np.array([], dtype=bool))
    assert s.size == 0 and e.size == 0
    s, e = runs(np.ones(5, dtype=bool))
    assert (s.tolist(), e.tolist()) == ([0], [5])
    s, e = runs(np.array([0, 1, 0, 1, 1, 0, 0, 1], dtype=bool))
    assert (s.tolist(), e.tolist()) == ([1, 3, 7], [2, 5, 8])


# --- what measure reads: meminfo, status, stat, smaps THP counters, sysfs choices ----

MEMINFO = """\
MemTotal:       24634652 kB
MemFree:        22110452 kB
MemAvailable:   23011236 kB
Shmem:              8788 kB
KernelStack:        3040 kB
PageTables:         1676 kB
SecPageTables:         0 kB
AnonHugePages:         0 kB
ShmemHugePages:    65536 kB
ShmemPmdMapped:    65536 kB
HugePages_Total:    1024
HugePages_Free:     1020
HugePages_Rsvd:     1020
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:         2097152 kB
"""

STATUS = """\
Name:\tpython3
Umask:\t0022
State:\tS (sleeping)
Tgid:\t4242
Pid:\t4242
PPid:\t1
VmPeak:\t   25236 kB
VmSize:\t   25236 kB
VmRSS:\t   10112 kB
VmData:\t    5312 kB
VmPTE:\t      64 kB
VmSwap:\t       0 kB
Threads:\t1
"""

KTHREAD_STATUS = "Name:\tkworker/0:1\nState:\tI (idle)\nPid:\t12\nThreads:\t1\n"

THP_SMAPS = """\
10000000000-10004000000 rw-s 00000000 00:01 4711                       /memfd:ptcalc:thp (deleted)
Size:              65536 kB
KernelPageSize:        4 kB
Rss:               65536 kB
Shared_Hugetlb:        0 kB
ShmemPmdMapped:    65536 kB
FilePmdMapped:         0 kB
THPeligible:           1
VmFlags: rd wr sh mr mw me ms hg
10040000000-10080000000 rw-s 00000000 00:10 4712                       /memfd:ptcalc:huge (deleted)
Size:            1048576 kB
KernelPageSize:     2048 kB
Shared_Hugetlb:     4096 kB
ShmemPmdMapped:        0 kB
VmFlags: rd wr sh mr mw me ms de ht
7ffc1c7e5000-7ffc1c806000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Rss:                  16 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:      2048 kB
VmFlags: rd wr mr mw me gd ac
"""


def test_meminfo_fields_are_bytes_and_hugepage_counts_are_counts():
    f = parse_kb_fields(MEMINFO)
    assert f["PageTables"] == 1676 * 1024
    assert f["MemAvailable"] == 23011236 * 1024
    assert f["HugePages_Total"] == 1024  # a count of pages, no kB
    assert f["HugePages_Rsvd"] == 1020
    assert f["Hugetlb"] == 2 * GiB


def test_pagetables_from_meminfo():
    assert parse_pagetables(MEMINFO) == 1676 * KiB


def test_pagetables_missing_is_an_error():
    with pytest.raises(KernelError, match="PageTables"):
        parse_pagetables("MemTotal: 1 kB\n")


def test_vmpte_from_status():
    assert parse_vmpte(STATUS) == 64 * KiB


def test_kernel_thread_has_no_vmpte():
    # kernel threads have no mm: their status has no Vm* lines
    with pytest.raises(KernelError, match="VmPTE"):
        parse_vmpte(KTHREAD_STATUS)


def test_status_text_fields_are_not_numbers():
    f = parse_kb_fields(STATUS)
    assert "Name" not in f and "State" not in f
    assert f["Threads"] == 1 and f["PPid"] == 1


@pytest.mark.parametrize("text, value", [
    ("always within_size advise [never] deny force\n", "never"),
    ("always [inherit] within_size advise never\n", "inherit"),
    ("[always] madvise never\n", "always"),
    ("1024\n", "1024"),
    ("0", "0"),
])
def test_sysfs_choice(text, value):
    assert parse_sysfs_choice(text) == value


def test_smaps_vmas_and_fields():
    vmas = parse_smaps(THP_SMAPS)
    assert [(v.maps.start, v.maps.end) for v in vmas] == [
        (0x10000000000, 0x10004000000), (0x10040000000, 0x10080000000), (0x7ffc1c7e5000, 0x7ffc1c806000)]
    assert vmas[0].maps.shown_path == "/memfd:ptcalc:thp (deleted)"
    assert (vmas[0].maps.path, vmas[0].maps.deleted) == ("/memfd:ptcalc:thp", True)
    assert vmas[0].maps.perms == "rw-s"
    assert vmas[0].fields["ShmemPmdMapped"] == 64 * MiB
    assert vmas[1].fields["KernelPageSize"] == 2 * MiB
    assert vmas[0].fields["THPeligible"] == 1  # unitless
    assert vmas[2].maps.path == "[stack]"


def test_pmd_mapped_only_inside_the_range():
    vmas = parse_smaps(THP_SMAPS)
    assert pmd_mapped_bytes(vmas, 0x10000000000, 0x10004000000) == 64 * MiB
    # the hugetlb VMA has no PMD-mapped THP; the stack's FilePmdMapped is outside
    assert pmd_mapped_bytes(vmas, 0x10040000000, 0x10080000000) == 0
    assert pmd_mapped_bytes(vmas, 0, 1 << 47) == 64 * MiB + 2 * MiB


def test_maps_lines_have_no_fields():
    maps = "55d0a0000000-55d0a0021000 r--p 00000000 fd:00 123 /usr/bin/python3.11\n"
    (v,) = parse_smaps(maps)
    line = MapsEntry(0x55d0a0000000, 0x55d0a0021000, "r--p", 0, (0xfd, 0), 123, "/usr/bin/python3.11")
    assert v == SmapsEntry(line, {})
    assert parse_maps(maps) == [line]


def test_stat_with_parentheses_in_the_name():
    # comm may hold spaces and ')': the state follows the *last* ')'
    text = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10"
    assert parse_stat(text) == ("S", 1, 4194560, 98765)


def test_kernel_thread_flag():
    from ptcalc.linux.readings import PF_KTHREAD

    text = "12 (kworker/0:1) I 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 20 0 1 0 50 0 0"
    state, ppid, flags, _ = parse_stat(text)
    assert flags & PF_KTHREAD and ppid == 2 and state == "I"


def test_cpu_flags_and_pti():
    assert "la57" not in parse_cpu_flags("processor\t: 0\nflags\t\t: fpu vme pse pae\n")
    assert pti_active("Mitigation: PTI\n")
    assert not pti_active("Not affected\n")
