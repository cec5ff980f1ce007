"""``ptcalc scan`` over a fake /proc and /sys: grouping, naming, skipping, the YAML."""

from __future__ import annotations

import os
import re
import shutil
import struct
from datetime import datetime, timezone

import pytest
import yaml
from fake_tree import FakeTree

from ptcalc.linux import scan_read
from ptcalc.model.geometry import X86_64
from ptcalc.model.tables import compute
from ptcalc.linux.errors import NoAccess
from ptcalc.linux.parsers import PM_PRESENT, PM_SWAP
from ptcalc.linux.procfs import ProcFS
from ptcalc.render.scan_yaml import render_scan
from ptcalc.linux.scan import read_touched, scan

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4 * KiB

SYSV_ADDR, ANON_ADDR, HUGE_ADDR, FILE_ADDR = 0x10000000, 0x20000000, 0x40000000, 0x30000000


def smaps_entry(start, size, perms, offset, dev, inode, path, *, page_kb=4, rss=None, private=0,
                flags="rd wr sh mr mw me ms", extra=""):
    rss_line = "Rss:            auto\n" if rss is None else f"Rss:            {rss // KiB} kB\n"
    if "ht" in flags.split():
        rss_line = "Rss:            0 kB\nShared_Hugetlb: auto\n"
    return (f"{start:x}-{start + size:x} {perms} {offset:08x} {dev} {inode:<10d}   {path}\n"
            f"Size:           {size // KiB} kB\nKernelPageSize: {page_kb} kB\nMMUPageSize:    {page_kb} kB\n"
            f"{rss_line}Private_Clean:  0 kB\nPrivate_Dirty:  {private // KiB} kB\n"
            f"{extra}VmFlags: {flags}\n")


def _fill_rss(smaps, pages):
    present = sorted(a for a, entry in pages if entry & PM_PRESENT)
    out, bounds = [], None
    for line in smaps.splitlines(keepends=True):
        head = line.split(" ", 1)[0]
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            lo, hi = (int(x, 16) for x in head.split("-"))
            bounds = (lo, hi)
        if line.endswith("auto\n"):
            n = sum(1 for a in present if bounds[0] <= a < bounds[1]) * PAGE
            line = line.replace("auto", f"{n // KiB} kB")
        out.append(line)
    return "".join(out)


TEXT_ADDR, HEAP_ADDR = 0x5500000000, 0x5600000000


def private_entries():
    """The program's text (8 KiB) and a 4 MiB heap: which pages are present is
    the ``pages`` given to FakeProc.process (``Rss: auto``)."""
    return (smaps_entry(TEXT_ADDR, 8 * KiB, "r--p", 0, "fe:00", 260386, "/usr/bin/postgres", flags="rd mr mw me")
            + smaps_entry(HEAP_ADDR, 4 * MiB, "rw-p", 0, "00:00", 0, "[heap]", flags="rd wr mr mw me ac"))


def heap_pages(n, *more):
    """The text's first page, the first ``n`` pages of the heap and the heap pages at offsets ``more``."""
    return _pages(TEXT_ADDR, *(HEAP_ADDR + i * PAGE for i in range(n)), *(HEAP_ADDR + m for m in more))


def postgres_smaps():
    return (private_entries()
            + smaps_entry(SYSV_ADDR, 64 * MiB, "rw-s", 0, "00:01", 32794, "/SYSV0052e2c1 (deleted)")
            + smaps_entry(ANON_ADDR, 8 * MiB, "rw-s", 0, "00:01", 36, "/dev/zero (deleted)")
            + smaps_entry(HUGE_ADDR, GiB, "rw-s", 0, "00:0e", 1025, "/memfd:pool (deleted)", page_kb=2048,
                          flags="rd wr sh mr mw me ms de ht"))


SYSVIPC = ("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid"
           "      atime      dtime      ctime                   rss                  swap\n"
           "   5432001      32794   600              67108864  1000  1001      3    26    26    26    26"
           " 1700000000          0 1700000000              20480                     0\n")


class FakeProc(FakeTree):
    """A /proc and /sys under tmp_path: a big la57 host with PTI and a 2 MiB pool."""

    def __init__(self, root):
        super().__init__(root)
        self.file("proc/meminfo", "MemTotal:       263921016 kB\nMemFree:  1000 kB\n")
        self.file("proc/sysvipc/shm", SYSVIPC)
        self.file("proc/self/mountinfo", "25 24 0:23 / /dev/shm rw - tmpfs tmpfs rw\n"
                                         "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
        self.file("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu la57\n")
        self.file("proc/sys/kernel/osrelease", "6.18.0-test\n")
        self.file("proc/sys/kernel/arch", "x86_64\n")
        self.file("sys/devices/system/cpu/vulnerabilities/meltdown", "Mitigation: PTI\n")
        self.file("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "600\n")
        self.file("sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n")

    def process(self, pid, comm, smaps, pages=(), vmpte=48 * KiB, pagemap_end=HEAP_ADDR + 4 * MiB, anon=0,
                cmdline=None):
        """``pages``: (address, pagemap entry) for each page with an entry.
        ``Rss: auto`` (hugetlb: ``Shared_Hugetlb: auto``) in ``smaps`` becomes
        the bytes of those pages present in the mapping, as the kernel says."""
        self.file(f"proc/{pid}/smaps", _fill_rss(smaps, pages))
        self.file(f"proc/{pid}/maps", "".join(line + "\n" for line in smaps.splitlines()
                                              if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line)))
        self.file(f"proc/{pid}/comm", comm + "\n")
        self.file(f"proc/{pid}/cmdline", (cmdline if cmdline is not None else comm) + "\0")
        self.file(f"proc/{pid}/status", f"Name:\t{comm}\nVmPTE:\t{vmpte // KiB} kB\nRssAnon:\t{anon // KiB} kB\n")
        with open(self.proc / str(pid) / "pagemap", "wb") as f:
            f.truncate(pagemap_end // PAGE * 8)
            for addr, entry in pages:
                f.seek(addr // PAGE * 8)
                f.write(struct.pack("<Q", entry))


class DeniedFS(ProcFS):
    """Like the real thing for a process we may not read (as root we may read
    every file of the fake tree), and for processes that exit right after
    the listing (their /proc/PID goes away before they are read)."""

    def __init__(self, proc, sys, denied=(), exiting=()):
        super().__init__(str(proc), str(sys))
        self.denied = denied
        self.exiting = exiting

    def pids(self):
        listed = sorted({*super().pids(), *self.exiting})
        for pid in self.exiting:
            shutil.rmtree(os.path.join(self.proc, str(pid)), ignore_errors=True)
        return listed

    def pid_text(self, pid, name):
        if pid in self.denied:
            raise NoAccess(pid, f"/proc/{pid}/{name}", "Permission denied")
        return super().pid_text(pid, name)


def _pages(*addrs, flag=PM_PRESENT):
    return [(a, flag | 0x1234) for a in addrs]


@pytest.fixture
def fake(tmp_path):
    fp = FakeProc(tmp_path)
    same = (_pages(SYSV_ADDR, SYSV_ADDR + PAGE, SYSV_ADDR + 3 * PAGE, SYSV_ADDR + 10 * MiB)
            # a swap-type entry (on a shared mapping: a page under migration) still has its PTE
            + _pages(ANON_ADDR + 5 * MiB) + _pages(ANON_ADDR + 5 * MiB + PAGE, flag=PM_SWAP)
            # a hugetlb page reports every 4 KiB entry it covers
            + _pages(*range(HUGE_ADDR + 6 * MiB, HUGE_ADDR + 8 * MiB, PAGE)))
    # By hand (x86-64: PTE table per 2 MiB block, PMD per 1 GiB, PUD per 512 GiB): 100 and 101
    # touch the text (1 PTE; 1 GiB window 340), heap block 0 (1 PTE; window 344), SysV blocks 0
    # and 5 (2 PTE), the shared anon block 2 (1 PTE; both in window 0) and the hugetlb window 1:
    # 5 PTE + 4 PMD + 1 PUD = 40 KiB.  101 touches other heap pages of the same block: the same
    # tables.  102 touches one more SysV block (+1 PTE = 44 KiB; its VmPTE says 48: one table
    # the pagemap cannot show).
    fp.process(100, "postgres", postgres_smaps(), same + heap_pages(512), vmpte=40 * KiB, anon=2 * MiB,
               cmdline="postgres: 15/main: app appdb [local] SELECT")
    fp.process(101, "postgres", postgres_smaps(), same + heap_pages(256, MiB + 512 * KiB), vmpte=40 * KiB,
               anon=MiB + PAGE, cmdline="postgres: app appdb 10.0.0.7(51234) idle")
    fp.process(102, "postgres", postgres_smaps(), same + heap_pages(256) + _pages(SYSV_ADDR + 40 * MiB),
               vmpte=48 * KiB, anon=MiB, cmdline="postgres: app appdb [local] idle in transaction")
    # text and heap blocks: 2 PTE + 2 PMD + 1 PUD
    fp.process(103, "bash", private_entries(), heap_pages(225), vmpte=20 * KiB, anon=900 * KiB,
               cmdline="/bin/bash\0--login")
    fp.process(104, "secret", postgres_smaps(), same)
    fp.process(105, "postgres", postgres_smaps(), same)  # exits after the listing: _scan
    fp.process(106, "kthreadd", "")
    # two small shared mappings, the process's own file mappings now: one more 2 MiB block
    # (3 PTE), 1 GiB window 0 (3 PMD), 1 PUD = 28 KiB
    fp.process(107, "iconv", private_entries()
               + smaps_entry(FILE_ADDR, 28 * KiB, "r--s", 0, "fe:00", 338846,
                             "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache")
               + smaps_entry(FILE_ADDR + MiB, 256 * KiB, "rw-s", 0, "00:17", 9, "/dev/shm/PostgreSQL.1804289383"),
               heap_pages(25) + _pages(FILE_ADDR, FILE_ADDR + MiB), vmpte=28 * KiB, anon=100 * KiB)
    return fp


def _scan(fake, **kw):
    fs = DeniedFS(fake.proc, fake.sys, denied={104}, exiting={105} if kw.get("pids") is None else ())
    return scan(fs=fs, high_va=lambda: False, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), **kw)


def test_groups_segments_and_skips(fake):
    r = _scan(fake, touched="pages")
    w = r.workload
    assert r.processes_read == 5  # 100-103 and 107; 104 denied, 105 gone, 106 a kernel thread
    assert dict(r.skipped) == {"permission denied": 1, "vanished": 1}
    # the small shared mappings are not segments: iconv's own file mappings
    assert r.small_segments == {"/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache": 1,
                                "/dev/shm/PostgreSQL.1804289383": 1}
    assert {n: (s.backing, s.page_size, s.size) for n, s in w.segments.items()} == {
        "sysv-0x0052e2c1": ("shmem", PAGE, 64 * MiB),        # size from /proc/sysvipc/shm
        "shared-anon-36": ("shmem", PAGE, 8 * MiB),          # no map_files here: the mapped extent
        "memfd:pool": ("hugetlb", 2 * MiB, GiB),             # KernelPageSize 2048 kB
    }
    # every process read is in the workload, whole; with exact pages the three postgres
    # backends differ (in their heaps, 102 in SysV too); groups are named by the processes'
    # class, in name order, then the biggest, then the lowest PID first
    assert [(g.name, g.count) for g in w.groups] == [
        ("bash", 1), ("iconv", 1), ("postgres: client backend", 1), ("postgres: client backend (2)", 1),
        ("postgres: client backend (3)", 1)]
    by_pid = {n.pids[0]: g for g, n in zip(w.groups, r.group_notes)}
    assert [n.pids for n in r.group_notes] == [(103,), (107,), (100,), (101,), (102,)]
    assert r.group_notes[2].vmpte == (40 * KiB,)
    # private_memory is RssAnon
    assert (by_pid[100].private_memory, by_pid[103].private_memory) == (2 * MiB, 900 * KiB)
    sysv, anon, huge = by_pid[100].mappings
    assert (sysv.segment, sysv.address, sysv.size, sysv.offset, sysv.protection) == \
           ("sysv-0x0052e2c1", SYSV_ADDR, 64 * MiB, 0, "rw")
    assert sysv.touched == ((0, 2 * PAGE), (3 * PAGE, 4 * PAGE), (10 * MiB, 10 * MiB + PAGE))
    assert anon.touched == ((5 * MiB, 5 * MiB + 2 * PAGE),)
    assert huge.touched == ((6 * MiB, 8 * MiB),)
    assert by_pid[102].mappings[0].touched[-1] == (40 * MiB, 40 * MiB + PAGE)
    # the private mappings: the runs of pages present, by kind and name
    assert [(p.kind, p.name, p.address, p.size, p.page_size) for p in by_pid[101].private_mappings] == [
        ("file", "postgres", TEXT_ADDR, PAGE, PAGE),
        ("anon", "heap", HEAP_ADDR, MiB, PAGE),
        ("anon", "heap", HEAP_ADDR + MiB + 512 * KiB, PAGE, PAGE)]
    assert [(p.kind, p.name, p.address, p.size) for p in by_pid[107].private_mappings][:2] == [
        ("file", "gconv-modules.cache", FILE_ADDR, PAGE), ("file", "PostgreSQL.1804289383", FILE_ADDR + MiB, PAGE)]
    # the host
    h = w.host
    assert (h.memory, h.arch.name, h.pti, h.hugepages, h.kernel) == (263921016 * KiB, "x86_64", True,
                                                                      {2 * MiB: 600, GiB: 0}, (6, 18))
    assert r.kernel == "6.18.0-test"
    # exact pages present across the scanned processes
    assert r.segment_notes["sysv-0x0052e2c1"].present_bytes == 4 * PAGE + PAGE
    assert "SysV key 0x0052e2c1, shmid 32794" in r.segment_notes["sysv-0x0052e2c1"].source


def test_vmpte_by_hand_and_the_ones_that_differ(fake):
    """The model's VmPTE of each group equals the hand count in the fixture, and
    the kernel's (here: the fake status) for every process but 102, whose VmPTE
    holds a table its pages do not explain."""
    for touched in ("pages", "tables"):
        r = _scan(fake, touched=touched)
        model = {p: n.model_vmpte for n in r.group_notes for p in n.pids}
        assert model == {100: 40 * KiB, 101: 40 * KiB, 102: 44 * KiB, 103: 20 * KiB, 107: 28 * KiB}
        assert r.vmpte_differences() == [(102, 48 * KiB, 44 * KiB)]


def test_tables_mode_compresses_without_changing_tables(fake):
    exact, tables = _scan(fake, touched="pages"), _scan(fake, touched="tables")
    # 100 and 101 touch other pages of the same heap block: one group now
    assert sorted(g.count for g in tables.workload.groups) == [1, 1, 1, 2]
    by_pid = {n.pids[0]: g for g, n in zip(tables.workload.groups, tables.group_notes)}
    sysv = by_pid[100].mappings[0]
    # pages 0, 1, 3 share the first 2 MiB block, 10 MiB is in another: both blocks whole
    # (the mapping's address and file offset are 2 MiB-aligned alike)
    assert sysv.touched == ((0, 2 * MiB), (10 * MiB, 12 * MiB))
    # the private mappings: the parts in 2 MiB blocks holding a page, each wholly touched
    assert [(p.name, p.address, p.size, p.touched) for p in by_pid[100].private_mappings] == [
        ("postgres", TEXT_ADDR, 8 * KiB, ((0, 8 * KiB),)), ("heap", HEAP_ADDR, 2 * MiB, ((0, 2 * MiB),))]
    for scheme in ("private", "hugetlb-pmd", "mshare", "file-cached"):
        a, b = compute(exact.workload, scheme), compute(tables.workload, scheme)
        assert sum(g.count * g.vmpte_bytes for g in a.groups) == sum(g.count * g.vmpte_bytes for g in b.groups)
        assert a.tables == b.tables


def test_min_size_zero_keeps_small_segments(fake):
    r = _scan(fake, min_size=0)
    assert "/dev/shm/PostgreSQL.1804289383" in r.workload.segments
    seg = r.workload.segments["/dev/shm/PostgreSQL.1804289383"]
    assert (seg.backing, seg.size) == ("shmem", 256 * KiB)  # tmpfs file: shmem
    assert r.workload.segments["/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache"].backing == "file"
    assert not r.small_segments
    # the same tables either way
    assert {p: n.model_vmpte for n in r.group_notes for p in n.pids}[107] == 28 * KiB


def test_pid_selection_and_missing_pid(fake):
    r = _scan(fake, pids=[102, 102, 999])
    assert [g.count for g in r.workload.groups] == [1]
    assert dict(r.skipped) == {"vanished": 1}


def test_a_live_process_without_smaps_is_unreadable_not_vanished(fake):
    # /proc/PID is there, its smaps is not (a kernel without CONFIG_PROC_PAGE_MONITOR):
    # not a process that exited
    os.remove(fake.proc / "102" / "smaps")
    r = _scan(fake, pids=[100, 102])
    assert dict(r.skipped) == {"unreadable (FileNotFoundError)": 1} and r.workload.process_count == 1


def test_arch_from_cpuinfo_and_probe(fake):
    fs = ProcFS(str(fake.proc), str(fake.sys))
    assert scan(fs=fs, high_va=lambda: True).workload.arch.name == "x86_64-la57"
    assert scan(fs=fs, high_va=lambda: False).workload.arch.name == "x86_64"
    fake.file("proc/cpuinfo", "flags\t\t: fpu\n")
    assert scan(fs=fs, high_va=lambda: True).workload.arch.name == "x86_64"


def test_short_pagemap_means_the_process_is_gone(fake):
    fake.process(108, "postgres", postgres_smaps(), _pages(SYSV_ADDR, ANON_ADDR), pagemap_end=ANON_ADDR)
    r = _scan(fake, pids=[100, 108])
    assert dict(r.skipped) == {"vanished": 1} and r.workload.process_count == 1


def test_pagemap_chunks_join_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_read, "PAGEMAP_CHUNK_ENTRIES", 8)
    fp = FakeProc(tmp_path)
    present = [0, 6, 7, 8, 9, 15, 16, 30]
    fp.process(1, "x", "", _pages(*(0x1000000 + p * PAGE for p in present)), pagemap_end=0x2000000)
    fs = ProcFS(str(fp.proc), str(fp.sys))
    fd = fs.open_pagemap(1)
    try:
        s, e = read_touched(fs, 1, fd, 0x1000000, 0x1000000 + 32 * PAGE, PAGE, PAGE)
    finally:
        os.close(fd)
    assert list(zip(s.tolist(), e.tolist())) == [(0, PAGE), (6 * PAGE, 10 * PAGE), (15 * PAGE, 17 * PAGE),
                                                (30 * PAGE, 31 * PAGE)]


def _thp_smaps(pmd_mapped, rss, start=0x40000000):
    return smaps_entry(start, 4 * MiB, "rw-s", 0, "00:01", 77, "/memfd:thp (deleted)", rss=rss,
                       extra=f"ShmemPmdMapped: {pmd_mapped // KiB} kB\n")


def test_shmem_thp_wholly_pmd_mapped_is_2mib_pages(tmp_path):
    fp = FakeProc(tmp_path)
    fp.process(1, "qemu", _thp_smaps(2 * MiB, 2 * MiB),
               _pages(*range(0x40200000, 0x40400000, PAGE)))
    r = scan(fs=ProcFS(str(fp.proc), str(fp.sys)), arch=X86_64)
    assert r.workload.segments["memfd:thp"].page_size == 2 * MiB
    assert r.workload.groups[0].mappings[0].touched == ((2 * MiB, 4 * MiB),)
    assert not r.notes


def test_shmem_thp_partly_pmd_mapped_stays_4kib_with_a_note(tmp_path):
    fp = FakeProc(tmp_path)
    fp.process(1, "qemu", _thp_smaps(2 * MiB, 2 * MiB + PAGE),
               _pages(0x40000000, *range(0x40200000, 0x40400000, PAGE)))
    r = scan(fs=ProcFS(str(fp.proc), str(fp.sys)), arch=X86_64)
    assert r.workload.segments["memfd:thp"].page_size == PAGE
    assert any("PMD-mapped THP" in n for n in r.notes)


def test_prot_none_mapping_touches_nothing(tmp_path):
    fp = FakeProc(tmp_path)
    fp.process(1, "x", smaps_entry(0x40000000, 4 * MiB, "---s", 0, "00:01", 5, "/memfd:guard (deleted)"),
               _pages(0x40000000))
    r = scan(fs=ProcFS(str(fp.proc), str(fp.sys)), arch=X86_64)
    m = r.workload.groups[0].mappings[0]
    assert (m.protection, m.touched) == ("none", ())
    assert any("PROT_NONE" in n for n in r.notes)


def test_same_label_different_inodes_get_unique_names(tmp_path):
    fp = FakeProc(tmp_path)
    fp.process(1, "a", smaps_entry(0x40000000, 2 * MiB, "rw-s", 0, "00:01", 5, "/memfd:buf (deleted)")
               + smaps_entry(0x50000000, 2 * MiB, "rw-s", 0, "00:01", 6, "/memfd:buf (deleted)"))
    r = scan(fs=ProcFS(str(fp.proc), str(fp.sys)), arch=X86_64)
    assert sorted(r.workload.segments) == ["memfd:buf (inode 5)", "memfd:buf (inode 6)"]


def test_yaml_text(fake):
    r = _scan(fake)
    text = render_scan(r)
    doc = yaml.safe_load(text)
    assert doc["host"] == {"memory": "263921016KiB", "arch": "x86_64", "pti": True, "kernel": "6.18",
                           "hugepages": {"2MiB": 600, "1GiB": 0}}
    assert doc["segments"]["memfd:pool"] == {"size": "1GiB", "backing": "hugetlb", "page_size": "2MiB"}
    assert [(g["name"], g["count"]) for g in doc["processes"]] == [
        ("bash", 1), ("iconv", 1), ("postgres: client backend", 2), ("postgres: client backend (2)", 1)]
    g0 = doc["processes"][2]
    # RssAnon 2 MiB and 1028 KiB: 1538 KiB, rounded up to a page
    assert (g0["name"], g0["count"], g0["private_memory"]) == ("postgres: client backend", 2, "1540KiB")
    assert g0["mappings"][0] == {"segment": "sysv-0x0052e2c1", "offset": 0, "size": "64MiB",
                                 "address": SYSV_ADDR, "protection": "rw", "touch": ["0-2M", "10M-12M"]}
    assert g0["mappings"][2]["touch"] == ["6M-8M"]
    assert text.startswith("# Workload scanned by `ptcalc scan` on ")
    assert "# Skipped (unreadable): 2 processes (1 permission denied, 1 vanished)." in text
    assert "# pid 100, 101" in text
    assert "# VmPTE (kernel, whole process, at scan time): 40 KiB\n" in text
    assert "# VmPTE of this group's model: 40 KiB, the kernel's exactly\n" in text
    assert "the kernel's differs for 1 process: pid 102 48 KiB (+4 KiB)" in text
    assert "# VmPTE: the model reproduces 4 of 5 processes exactly; 1 process holds 4 KiB of tables more" in text
    assert "Not segments: 2 shared mappings smaller than 1 MiB" in text
    # private mappings: one flow line each, which YAML reads as written
    assert "      - {kind: anon, name: heap, address: 0x5600000000, size: 2MiB}\n" in text
    assert g0["private_mappings"] == [{"kind": "file", "name": "postgres", "address": TEXT_ADDR, "size": "8KiB"},
                                      {"kind": "anon", "name": "heap", "address": HEAP_ADDR, "size": "2MiB"}]


def test_group_names_are_classes_safe_to_print(tmp_path):
    fp = FakeProc(tmp_path)
    seg = smaps_entry(0x40000000, 2 * MiB, "rw-s", 0, "00:01", 5, "/memfd:buf\x1b[2J (deleted)")
    fp.process(1, "evil\x1b]0;x\x07", seg, _pages(0x40000000), cmdline="evil\x1b]0;x\x07\0--flag")
    fp.process(2, "qemu-system-x86", seg, _pages(0x40000000),
               cmdline="/usr/bin/qemu-system-x86_64\0-name\0guest=vm1,debug-threads=on\0-m\0004G")
    r = scan(fs=ProcFS(str(fp.proc), str(fp.sys)), arch=X86_64)
    # the same layout, two programs: two groups, each named by its class
    # control characters are shown as visible escapes (ptcalc.names.printable), never dropped
    assert [g.name for g in r.workload.groups] == ["evil\\x1b]0;x\\x07", "qemu-system-x86_64 -name guest=vm1"]
    assert r.group_notes[0].comms == ("evil\\x1b]0;x\\x07",)
    assert list(r.workload.segments) == ["memfd:buf\\x1b[2J"]
    text = render_scan(r)
    assert "\x1b" not in text and "\x07" not in text


def test_userfaultfd_registration_from_vmflags(tmp_path):
    fp = FakeProc(tmp_path)
    fp.process(1, "qemu", smaps_entry(0x40000000, 4 * MiB, "rw-s", 0, "00:01", 5, "/memfd:ram (deleted)",
                                      flags="rd wr sh mr mw me ms um uw"), _pages(0x40000000))
    r = scan(fs=ProcFS(str(fp.proc), str(fp.sys)), arch=X86_64)
    assert r.workload.groups[0].mappings[0].userfaultfd == "wp"
    assert "        userfaultfd: wp\n" in render_scan(r)


def test_fully_present_or_empty_mappings_skip_the_pagemap(tmp_path):
    """smaps Rss (hugetlb: Shared_Hugetlb) equal to the size means every page is
    present; 0 means none: the pagemap (empty here: reading it would fail) is
    not read."""
    fp = FakeProc(tmp_path)
    fp.process(1, "oracle",
               smaps_entry(0x40000000, 4 * MiB, "rw-s", 0, "00:01", 5, "/SYSV00000001 (deleted)", rss=4 * MiB)
               + smaps_entry(0x80000000, 4 * MiB, "rw-s", 0, "00:01", 6, "/SYSV00000002 (deleted)", rss=0)
               + smaps_entry(0xC0000000, GiB, "rw-s", 0, "00:0e", 7, "/SYSV00000003 (deleted)", page_kb=2048,
                             flags="rd wr sh mr mw me ms de ht", extra="Shared_Hugetlb: 1048576 kB\n")
               .replace("Shared_Hugetlb: auto\n", ""),
               pagemap_end=0)
    r = scan(fs=ProcFS(str(fp.proc), str(fp.sys)), arch=X86_64)
    assert not r.skipped
    full, empty, huge = r.workload.groups[0].mappings
    assert (full.touched, empty.touched, huge.touched) == (((0, 4 * MiB),), (), ((0, GiB),))


def _layout(w):
    return ({n: (s.size, s.backing, s.page_size) for n, s in w.segments.items()},
            [(g.name, g.count, g.private_memory,
              [(m.segment, m.offset, m.size, m.address, m.protection, m.touched, m.userfaultfd)
               for m in g.mappings],
              [(p.kind, p.name, p.address, p.size, p.page_size, p.touched) for p in g.private_mappings])
             for g in w.groups],
            (w.host.memory, w.host.arch, w.host.pti, w.host.reserved, w.host.hugepages))


@pytest.mark.parametrize("touched", ["pages", "tables"])
def test_yaml_round_trips_through_the_loader(fake, touched):
    from ptcalc.workload.loader import loads_workload

    r = _scan(fake, touched=touched, min_size=0)
    loaded = loads_workload(render_scan(r), source="scan.yaml")
    assert _layout(loaded) == _layout(r.workload)
    assert loaded.name == r.workload.name


def test_touched_modes_spelled_once_in_effect():
    # the command line spells the modes without importing the scanner
    from ptcalc.cli import scan as command
    from ptcalc.linux.scan import TOUCHED_MODES

    assert command.TOUCHED_MODES == TOUCHED_MODES


def test_a_scan_of_every_process_sets_the_machines_pagetables_beside_the_model(tmp_path):
    from dataclasses import replace as dc_replace

    from ptcalc.linux.scan import HostPageTables
    from ptcalc.render.scan_yaml import pagetables_summary

    fp = FakeProc(tmp_path)
    seg = smaps_entry(0x40000000, 2 * MiB, "rw-s", 0, "00:01", 5, "/memfd:buf (deleted)")
    fp.process(1, "a", seg, _pages(0x40000000))
    fs = ProcFS(str(fp.proc), str(fp.sys))
    # some PIDs: no machine-wide figure; the fake meminfo has no PageTables line either
    assert scan([1], fs=fs, arch=X86_64).pagetables is None
    assert scan(fs=fs, arch=X86_64).pagetables is None
    fp.file("proc/meminfo", "MemTotal:       263921016 kB\nMemFree:  1000 kB\nPageTables:  4096 kB\n")
    r = scan(fs=fs, arch=X86_64)
    t = r.pagetables
    assert (t.before, t.after) == (4 * MiB, 4 * MiB) and t.scanner is None  # no /proc/self in the fake
    # the sentences, on figures given here: the scanner's 1 MiB taken from the
    # kernel's end nearer the model, 99 MiB / (100 MiB - 1 MiB)
    r = dc_replace(r, pagetables=HostPageTables(before=100 * MiB, after=101 * MiB, model=99 * MiB, scanner=MiB))
    assert pagetables_summary(r, short=True) == (
        "page tables: this file's model 99 MiB, the kernel's PageTables 100 MiB to 101 MiB "
        "(100.0% of the kernel's without this scan's own)")
    text = " ".join(line.lstrip("# ") for line in render_scan(r).splitlines() if line.startswith("#"))
    assert ("PageTables (kernel, /proc/meminfo) during the scan: 100 MiB to 101 MiB; this file's model as "
            "this kernel counts PageTables: 99 MiB, 100.0% of the kernel's without this scan's own. The "
            "kernel's also holds this scan's own process (1,024 KiB), processes that started or ended while it "
            "ran and the kernel's own page tables.") in text
