"""The platform layer without a kernel: /proc and /sys parsers fed fake
contents (copied from a 6.18 machine and trimmed), the memfd flag encoding,
the tunables that must be put back, and signals turned into cleanup."""

from __future__ import annotations

import os
import signal

import pytest

from ptcalc.linux import kernel
from ptcalc.linux.kernel import (
    Interrupted,
    KernelError,
    Reading,
    Tunables,
    memfd_flags,
    parse_pagetables,
    parse_vmpte,
    signals_as_exceptions,
    signals_deferred,
)
from ptcalc.linux.procfs import (
    MapsEntry,
    SmapsEntry,
    parse_cpu_flags,
    parse_kb_fields,
    parse_maps,
    parse_smaps,
    parse_stat,
    parse_sysfs_choice,
    pmd_mapped_bytes,
    pti_active,
)

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

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

SMAPS = """\
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


# --- /proc parsers --------------------------------------------------------


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
    vmas = parse_smaps(SMAPS)
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
    vmas = parse_smaps(SMAPS)
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
    text = "12 (kworker/0:1) I 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 20 0 1 0 50 0 0"
    state, ppid, flags, _ = parse_stat(text)
    assert flags & kernel.PF_KTHREAD and ppid == 2 and state == "I"


def test_cpu_flags_and_pti():
    assert "la57" not in parse_cpu_flags("processor\t: 0\nflags\t\t: fpu vme pse pae\n")
    assert pti_active("Mitigation: PTI\n")
    assert not pti_active("Not affected\n")


# --- memfd flags ------------------------------------------------------------


def test_memfd_size_flags_match_the_uapi_encoding():
    # include/uapi/linux/memfd.h: MFD_HUGE_2MB = 21 << 26, MFD_HUGE_1GB = 30 << 26
    assert memfd_flags(2 * MiB) == kernel.MFD_CLOEXEC | kernel.MFD_HUGETLB | (21 << 26)
    assert memfd_flags(GiB) == kernel.MFD_CLOEXEC | kernel.MFD_HUGETLB | (30 << 26)
    assert memfd_flags(None) == kernel.MFD_CLOEXEC


@pytest.mark.skipif(not hasattr(os, "MFD_HUGE_2MB"), reason="os has no MFD_HUGE_* constants here")
def test_memfd_size_flags_match_the_c_library():
    assert memfd_flags(2 * MiB) & ~kernel.MFD_CLOEXEC == os.MFD_HUGETLB | os.MFD_HUGE_2MB
    assert memfd_flags(GiB) & ~kernel.MFD_CLOEXEC == os.MFD_HUGETLB | os.MFD_HUGE_1GB


def test_memfd_size_must_be_a_power_of_two():
    with pytest.raises(ValueError):
        memfd_flags(3 * MiB)


# --- readings -----------------------------------------------------------------


def test_reading_subtracts_other_processes_and_their_pgds():
    r = Reading(pagetables=1000 * 4096, vmpte={(1, 10): 40 * 4096, (2, 20): 60 * 4096})
    assert r.corrected(0) == 900 * 4096
    assert r.corrected(4096) == 898 * 4096  # two PGDs
    assert r.without({2}).corrected(4096) == 959 * 4096


# --- tunables (fake sysfs files) -------------------------------------------


def _choice_file(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_tunables_restore_the_first_value(tmp_path):
    pool = _choice_file(tmp_path, "nr_hugepages", "7\n")
    thp = _choice_file(tmp_path, "shmem_enabled", "always within_size advise [never] deny force\n")
    with Tunables() as t:
        t.set(pool, "100")
        t.set(pool, "200")  # a second write must not forget the original
        t.set(thp, "advise")
        assert open(pool).read() == "200"
        assert t.saved == [(pool, "7"), (thp, "never")]
    assert open(pool).read() == "7"
    assert open(thp).read() == "never"
    assert t.restore_problems == []


def test_tunables_restore_on_an_exception(tmp_path):
    pool = _choice_file(tmp_path, "nr_hugepages", "0\n")
    with pytest.raises(RuntimeError):
        with Tunables() as t:
            t.set(pool, "512")
            raise RuntimeError("boom")
    assert open(pool).read() == "0"


def test_tunables_missing_file_is_a_clear_error(tmp_path):
    with Tunables() as t, pytest.raises(KernelError, match="does not exist"):
        t.set(str(tmp_path / "hugepages-4kB" / "nr_hugepages"), "1")


# --- signals ------------------------------------------------------------------


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_signals_become_interrupted(sig, status):
    before = signal.getsignal(sig)
    with pytest.raises(Interrupted) as info:
        with signals_as_exceptions():
            os.kill(os.getpid(), sig)
            signal.sigtimedwait([], 0.5)  # give the handler a bytecode boundary
    assert info.value.exit_status == status
    assert signal.getsignal(sig) == before


def test_signals_deferred_until_cleanup_ends():
    order = []
    with pytest.raises(Interrupted):
        with signals_as_exceptions():
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                order.append("cleanup finished")
            order.append("not reached")
    assert order == ["cleanup finished"]


def test_interrupted_is_not_an_exception():
    # so no `except Exception` between the handler and the CLI swallows it
    assert not issubclass(Interrupted, Exception)
