"""The what-if's placement against the running kernel (issue 14 item 1).

Processes with address-space randomisation off (identical layouts, as
processes forked from one parent have) let the kernel place a segment with
``mmap(NULL, ...)``: first on 4 KiB shmem pages, then on 2 MiB hugetlb pages.
A workload made of what the first shows -- the segment where the kernel put
it, and each process's own mappings with the pages the pagemap says are
present -- is converted to the 2 MiB hugetlb what-if; the what-if must put
the segment exactly where the kernel put the hugetlb mapping
(``hugetlb_get_unmapped_area``: 2 MiB-aligned, top-down), and the growth of
each process's VmPTE must be the model's for it (the segment's tables,
PMD tables shared across the processes where a whole 1 GiB window lies
inside, and tables it shares with the process's own mappings counted once).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from ptcalc.linux.pagemap import present_ranges
from ptcalc.linux.parsers import parse_maps
from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
from ptcalc.model.geometry import X86_64
from ptcalc.units import GiB, KiB, MiB, round_up
from ptcalc.workload.types import Host, Mapping, PrivateMapping, ProcessGroup, Segment, Workload

pytestmark = pytest.mark.kernel

HERE = Path(__file__).resolve().parent
POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
ADDR_NO_RANDOMIZE = 0x0040000
MFD_HUGETLB = 0x0004
MFD_HUGE_2MB = 21 << 26

PROCESSES = 3
SIZE = 3 * GiB + 6 * MiB + 12 * KiB  # not a multiple of 2 MiB: the 4 KiB placement is not 2 MiB-aligned
HUGE = round_up(SIZE, 2 * MiB)


def _skip_reason() -> str | None:
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return "needs x86-64 Linux"
    if os.geteuid() != 0:
        return "needs root (the hugetlb pool, other processes' pagemap)"
    if not os.path.exists(POOL):
        return "this kernel has no 2 MiB hugetlb pages"
    return None


@pytest.fixture
def pool():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    need = HUGE // (2 * MiB)
    before = int(open(POOL).read())
    with open(POOL, "w") as f:
        f.write(str(before + need))
    added = int(open(POOL).read()) - before
    try:
        if added < need:
            pytest.skip(f"could raise the 2 MiB hugetlb pool by {added} of {need} pages")
        yield
    finally:
        with open(POOL, "w") as f:
            f.write(str(max(int(open(POOL).read()) - added, before)))


def _no_aslr() -> None:
    ctypes.CDLL(None).personality(ADDR_NO_RANDOMIZE)


def _ask(child: subprocess.Popen, command: str) -> dict:
    child.stdin.write(command + "\n")
    child.stdin.flush()
    answer = json.loads(child.stdout.readline())
    assert "error" not in answer, (command, answer)
    return answer


def _own_mappings(pid: int, skip: tuple[int, int]) -> tuple[PrivateMapping, ...]:
    """Every mapping of ``pid`` but ``skip`` ([start, end)) and [vsyscall],
    with the pages that have a page-table entry (pagemap)."""
    out = []
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        for v in parse_maps(open(f"/proc/{pid}/maps").read()):
            if (v.start, v.end) == skip or v.path == "[vsyscall]":
                continue
            touched = tuple((s - v.start, e - v.start) for s, e in present_ranges(fd, v.start, v.end))
            kind = "stack" if v.path == "[stack]" else "file" if v.path.startswith("/") else "anon"
            out.append(PrivateMapping(kind, v.start, v.end - v.start, 4 * KiB, touched, name=v.path or kind))
    finally:
        os.close(fd)
    return tuple(out)


@contextlib.contextmanager
def _children():
    """PROCESSES children (tests/placement_child.py) with ASLR off, sharing a
    4 KiB memfd of SIZE and a 2 MiB hugetlb memfd of HUGE; ended on exit."""
    shmem = os.memfd_create("ptcalc-whatif-4k", 0)
    huge = os.memfd_create("ptcalc-whatif-2m", MFD_HUGETLB | MFD_HUGE_2MB)
    children: list[subprocess.Popen] = []
    try:
        os.ftruncate(shmem, SIZE)
        os.ftruncate(huge, HUGE)
        spec = json.dumps({"shmem_fd": shmem, "shmem_size": SIZE, "huge_fd": huge, "huge_size": HUGE,
                           "page": 2 * MiB})
        for _ in range(PROCESSES):
            children.append(subprocess.Popen([sys.executable, str(HERE / "placement_child.py"), spec],
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                             pass_fds=(shmem, huge), preexec_fn=_no_aslr))
        yield children
    finally:
        for c in children:
            c.stdin.close()
            c.wait(timeout=30)
        os.close(shmem)
        os.close(huge)


def _what_if(address: int, own: tuple[PrivateMapping, ...]):
    """The segment at ``address`` (4 KiB pages, wholly touched) with the
    process's own mappings ``own``, evaluated with the 2 MiB hugetlb what-if."""
    segment = Segment("seg", SIZE, "shmem", 4 * KiB)
    mapping = Mapping("seg", 0, SIZE, address, touched=((0, SIZE),), origin="processes[0].mappings[0]")
    w = Workload(host=Host(memory=24 * GiB, arch=X86_64), segments={"seg": segment},
                 groups=(ProcessGroup("children", PROCESSES, (mapping,), private_mappings=own),))
    return evaluate(w, Options(schemes=("hugetlb-pmd",), columns=2 * MiB))


def _vmpte_alone(own: tuple[PrivateMapping, ...]) -> int:
    """A process's VmPTE with only its own mappings ``own`` (as configured)."""
    w = Workload(host=Host(memory=24 * GiB, arch=X86_64), segments={"seg": Segment("seg", SIZE, "shmem", 4 * KiB)},
                 groups=(ProcessGroup("children", PROCESSES, (), private_mappings=own),))
    cell = evaluate(w, Options(schemes=("hugetlb-pmd",), columns=CONFIGURED)).selected_cell("hugetlb-pmd")
    return cell.result.groups[0].vmpte_bytes


def test_the_what_if_places_and_counts_as_the_kernel(pool):
    with _children() as children:
        a4k = {_ask(c, "map4k")["address"] for c in children}
        assert len(a4k) == 1, "with ASLR off the processes are laid out alike"
        (address,) = a4k
        own = _own_mappings(children[0].pid, (address, address + SIZE))
        for c in children:
            _ask(c, "unmap4k")
        got = [_ask(c, "maphuge") for c in children]
        kernel_address = {g["address"] for g in got}
        assert len(kernel_address) == 1
        growth = [g["after"] - g["before"] for g in got]

    ev = _what_if(address, own)
    (placed,) = ev.column.replaced
    assert placed.old_address == address and placed.reason == "misaligned"
    # where hugetlb_get_unmapped_area put it
    assert placed.address == kernel_address.pop()
    # the processes' VmPTE grew by the model's figure for the segment on 2 MiB
    # pages: its VmPTE with the segment less its VmPTE without it
    with_segment = ev.selected_cell("hugetlb-pmd").result.groups[0].vmpte_bytes
    assert growth == [with_segment - _vmpte_alone(own)] * PROCESSES


def test_a_mapping_made_after_the_segment_moves_below_it_as_the_kernel_puts_it(pool):
    # The process maps the segment, then (later) a small anonymous mapping,
    # which the kernel puts right below it.  On 2 MiB pages the kernel places
    # the segment first -- 2 MiB-aligned, as high as before -- and the later
    # mapping below it: the what-if must not push the segment below the later
    # mapping (where it would take another 1 GiB phase than its sharers that
    # made no such mapping), but move the later mapping below it.
    with _children() as children:
        (address,) = {_ask(c, "map4k")["address"] for c in children}
        (later,) = {_ask(c, "maplater")["address"] for c in children}
        assert later + 64 * KiB <= address, "the kernel put the later mapping below the segment"
        own = _own_mappings(children[0].pid, (address, address + SIZE))
        for c in children:
            _ask(c, "unmaplater")
            _ask(c, "unmap4k")
        got = [_ask(c, "maphuge") for c in children]
        (kernel_address,) = {g["address"] for g in got}
        after = [_ask(c, "maplater") for c in children]
        (kernel_later,) = {a["address"] for a in after}
        growth = [a["after"] - g["before"] for g, a in zip(got, after)]

    (mine,) = [i for i, p in enumerate(own) if p.address == later]
    ev = _what_if(address, own)
    col = ev.column
    (placed,) = col.replaced
    assert placed.address == kernel_address  # as high as hugetlb_get_unmapped_area put it
    assert col.workload.groups[0].private_mappings[mine].address == kernel_later  # and the later one below
    # VmPTE grew by the model's figure for the segment and the later mapping
    # where the kernel put them, against the process without either
    with_both = ev.selected_cell("hugetlb-pmd").result.groups[0].vmpte_bytes
    assert growth == [with_both - _vmpte_alone(own[:mine] + own[mine + 1:])] * PROCESSES
