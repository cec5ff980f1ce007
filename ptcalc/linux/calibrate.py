"""Which page-table levels this kernel's PageTables counts, found by experiment.

``VmPTE`` (``mm_pgtables_bytes()``) has always counted PTE, PMD and PUD
tables; ``PageTables`` (NR_PAGETABLE) counts PUD tables and PGDs only since
the 2025 "account page tables at all levels" work (6.18 does, 6.1 does not).
``calibrate`` finds out on the running kernel with the same pieces as a
measurement (``ptcalc.linux.reproduce``):

    step                                              PageTables grows by       VmPTE grows by
    ------------------------------------------------  ------------------------  --------------------
    fork one process                                  its VmPTE + its PGD,      -
                                                      or + nothing
    it touches one base page in an empty window of    3 tables (PTE, PMD, PUD)  PTE + PMD + PUD
    one PUD table's span (512 GiB on x86-64)          or 2 (PTE, PMD)           tables, always
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ptcalc.linux.errors import KernelError
from ptcalc.linux.parsers import MapsEntry
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.readings import settle_pagetables
from ptcalc.linux.reproduce import DONE, Children, Segments, child_ops, failure
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


def _calibrate_once(fs: ProcFS, w: Workload, settle: float, pgd_size: int) -> Calibration | str:
    tables = _one_page_tables(w.arch)
    vmpte_want = sum(tables.values())
    with Segments() as segs, Children(f"ptcm-{os.getpid()}"[:15]) as kids:
        segs.open(w, None)
        pre, ok = settle_pagetables(fs, settle, 0, timeout=10)
        kids.spawn(child_ops(w, w.groups[0], segs.fds))
        kids.wait_ready()
        base_all, ok2 = settle_pagetables(fs, settle, 0, timeout=10)
        child = {kids.pids[0]}
        born = base_all.vmpte.keys() - pre.vmpte.keys()
        gone = pre.vmpte.keys() - base_all.vmpte.keys()
        if not (ok and ok2) or child - {pid for pid, _ in born}:
            return "PageTables did not settle"
        # each process that started adds its PGD if PageTables counts PGDs,
        # each that exited takes one away: exactly one candidate must fit
        grew = base_all.corrected(0) - pre.corrected(0)
        net = len(born) - len(gone)
        fit = [pgd for pgd in (0, pgd_size) if grew == pgd * net]
        if len(fit) != 1:
            return f"{net} new process(es) added {grew:,} bytes besides their VmPTE"
        pgd = fit[0]
        base = base_all.without(child)
        vm0 = fs.vmpte(kids.pids[0])
        kids.go(0)
        kind, mi, err = kids.wait(0)
        if kind != DONE:
            raise failure(fs, w, 0, kind, mi, err)
        vm = fs.vmpte(kids.pids[0]) - vm0
        after, ok3 = settle_pagetables(fs, settle, pgd, skip=child, timeout=10)
        delta = after.corrected(pgd) - base.corrected(pgd)
        counted = {vmpte_want: 3, vmpte_want - tables["pud"]: 2}.get(delta)
        if not ok3 or counted is None or vm != vmpte_want:
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
    raise KernelError("calibration failed: forking one process should add its VmPTE and perhaps a PGD to "
                      f"PageTables, and one {format_size(page)} page in an empty {format_size(pud.table_span)} "
                      f"window 2 or 3 tables and {format_size(sum(_one_page_tables(arch).values()))} of "
                      "VmPTE, but: " + "; ".join(dict.fromkeys(seen)) + " (is the machine busy? run again when "
                      "fewer processes start and exit)")
