"""Which page-table levels this kernel's PageTables counts, found by experiment.

``VmPTE`` (``mm_pgtables_bytes()``) has always counted PTE, PMD and PUD
tables; ``PageTables`` (NR_PAGETABLE) counts PUD tables and PGDs only since
the 2025 "account page tables at all levels" work (6.18 does, 6.1 does not).
``calibrate`` finds out on the running kernel with the same pieces as a
measurement (``ptcalc.linux.reproduce``):

    step                                              PageTables grows by       VmPTE grows by
    ------------------------------------------------  ------------------------  --------------------
    fork one process, then another                    its VmPTE + its PGD,      -
                                                      or + nothing (each)
    the first touches one base page in an empty       3 tables (PTE, PMD, PUD)  PTE + PMD + PUD
    window of one PUD table's span (512 GiB on        or 2 (PTE, PMD)           tables, always
    x86-64), unmaps it, touches it again, ...

Every reading is settled and the page is mapped and unmapped until two
cycles agree (``ptcalc.linux.readings``): noise on the machine makes an
attempt fail (up to six), never a wrong answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ptcalc.linux.errors import Inconclusive, KernelError
from ptcalc.linux.parsers import MapsEntry
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.readings import Explained, Reading, settle_pagetables
from ptcalc.linux.reproduce import ChildOp, Children, Rounds, Segments, child_ops
from ptcalc.model.geometry import Arch
from ptcalc.units import KiB, format_size
from ptcalc.workload.types import Host, Mapping, ProcessGroup, Segment, Workload

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Calibration:
    """What this kernel's PageTables counts, found by experiment.

        field               experiment
        ------------------  ----------------------------------------------------------
        pgd_bytes           fork one process: PageTables grows by its VmPTE plus this
        pagetables_tables   that process touches one base page in an empty window of
                            one PUD table's span: PageTables grows by 3 tables (PTE,
                            PMD, PUD) or 2
        vmpte_bytes         ... and its VmPTE by a PTE, a PMD and a PUD table, always
                            (12 KiB on x86-64)
    """

    pgd_bytes: int
    """PageTables less VmPTE of a new process: its PGD where PageTables counts
    PGD tables (6.18: 4 KiB, 8 KiB with PTI), 0 where it does not."""
    pagetables_tables: int
    vmpte_bytes: int

    @property
    def pud_counted(self) -> bool:
        return self.pagetables_tables == 3

    @property
    def pgd_counted(self) -> bool:
        return self.pgd_bytes > 0


_calibration: dict[str, Calibration] = {}


def free_window(vmas: list[MapsEntry], span: int, start: int = 1 << 40) -> int:
    """The first ``span``-aligned window from ``start`` up that no VMA touches.

    >>> from ptcalc.linux.parsers import parse_maps
    >>> hex(free_window(parse_maps("10000000000-10000001000 r--p 00000000 00:00 0"), 512 << 30))
    '0x18000000000'
    """
    taken = {b for v in vmas for b in range(v.start // span, (v.end - 1) // span + 1)}
    b = start // span
    while b in taken:
        b += 1
    return b * span


def _one_page_tables(arch: Arch) -> dict[str, int]:
    """Bytes of the PTE, PMD and PUD tables one page in an empty PUD-table window needs."""
    return {name: lv.table_bytes for name in ("pte", "pmd", "pud") if (lv := arch.level(name)) is not None}


def _pgd_growth(fs: ProcFS, kids: Children, ops: tuple[ChildOp, ...], settle: float, pgd_size: int,
                pre: Reading) -> tuple[int | str, Reading | None]:
    """Fork one more measuring process: what PageTables grew by besides its
    VmPTE since ``pre`` (its PGD, or nothing), or why that could not be read;
    and the reading after."""
    before = set(kids.pids)
    kids.spawn(ops)
    kids.wait_ready()
    post, ok = settle_pagetables(fs, settle, 0, timeout=30)
    child = set(kids.pids) - before
    born = post.vmpte.keys() - pre.vmpte.keys()
    gone = pre.vmpte.keys() - post.vmpte.keys()
    if not ok or child - {pid for pid, _ in born}:
        return "PageTables did not settle", None
    # each process that started adds its PGD if PageTables counts PGDs,
    # each that exited takes one away: exactly one candidate must fit
    grew = post.corrected(0) - pre.corrected(0)
    net = len(born) - len(gone)
    fit = [pgd for pgd in (0, pgd_size) if grew == pgd * net]
    if len(fit) != 1:
        return f"{net} new process(es) added {grew:,} bytes besides their VmPTE", None
    return fit[0], post


def _calibrate_once(fs: ProcFS, w: Workload, settle: float, pgd_size: int) -> Calibration | str:
    tables = _one_page_tables(w.arch)
    vmpte_want = sum(tables.values())
    with Segments() as segs, Children(f"ptcm-{os.getpid()}"[:15]) as kids:
        segs.open(w, None)
        # two processes forked one after the other must show the same PGD:
        # a process of someone else's starting or exiting at one reading does not
        ops = child_ops(w, w.groups[0], segs.fds)
        reading, ok = settle_pagetables(fs, settle, 0, timeout=30)
        if not ok:
            return "PageTables did not settle"
        pgds = []
        for _ in range(2):
            got, after = _pgd_growth(fs, kids, ops, settle, pgd_size, reading)
            if isinstance(got, str) or after is None:
                return str(got)
            pgds.append(got)
            reading = after
        if pgds[0] != pgds[1]:
            return f"two new processes added {pgds[0]:,} and {pgds[1]:,} bytes besides their VmPTE"
        pgd = int(pgds[0])
        # the first of them touches one page, unmaps it and touches it again
        # until two cycles agree (readings.Cycles): 3 tables or 2
        rounds = Rounds(fs, w, kids, [0], settle, pgd, lambda s: None, lambda p: None, timeout=30)
        cycles = rounds.run(lambda growth: Explained(sum(growth) - tables["pud"], sum(growth)))
        delta = cycles.delta()
        vm = rounds.growth[0] if rounds.growth else 0
        if delta is None:
            return "; ".join(rounds.all_noise())
        counted = {vmpte_want: 3, vmpte_want - tables["pud"]: 2}.get(delta)
        if counted is None or vm != vmpte_want:
            return f"one page added {delta // tables['pte']} tables and {vm // KiB} KiB of VmPTE"
        return Calibration(pgd, counted, vm)


def calibrate(fs: ProcFS, arch: Arch, settle: float, say: Progress) -> Calibration:
    """Find out which page-table levels this kernel's PageTables counts
    (``arch``: the running kernel's geometry).  Cached per kernel release for
    the life of the process."""
    key = fs.kernel_release()
    if key in _calibration:
        return _calibration[key]
    page = arch.base_page
    pud = arch.level("pud")
    if pud is None:
        raise KernelError(f"calibration needs a PUD level; {arch.name} folds it")
    pgd_size = arch.pgd_bytes(fs.pti())
    address = free_window(fs.maps("self"), pud.table_span)
    w = Workload(
        host=Host(memory=None, arch=arch),
        segments={"calibration": Segment("calibration", page, "shmem", page)},
        groups=(ProcessGroup("calibration", 1, (Mapping("calibration", 0, page, address,
                                                        touched=((0, page),)),)),),
        source="<calibration>",
    )
    say("calibrating: which page-table levels does PageTables count on this kernel?")
    seen = []
    for _ in range(6):
        got = _calibrate_once(fs, w, settle, pgd_size)
        if isinstance(got, Calibration):
            _calibration[key] = got
            return got
        seen.append(got)
    raise Inconclusive("calibration failed: forking one process should add its VmPTE and perhaps a PGD to "
                      f"PageTables, and one {format_size(page)} page in an empty {format_size(pud.table_span)} "
                      f"window 2 or 3 tables and {format_size(sum(_one_page_tables(arch).values()))} of "
                      "VmPTE, but: " + "; ".join(dict.fromkeys(seen)) + " (is the machine busy? run again when "
                      "fewer processes start and exit)")
