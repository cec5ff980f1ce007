"""Sentences and figures every estimate format shows, worded once."""

from __future__ import annotations

from typing import Any

from ptcalc.model.accounting import pagetables_levels
from ptcalc.model.budget import Budget
from ptcalc.model.evaluate import Evaluation
from ptcalc.model.geometry import LEVEL_NAMES, X86_64, Arch
from ptcalc.model.results import GroupResult
from ptcalc.render.words import count_of
from ptcalc.units import GiB, MiB, format_size
from ptcalc.workload.types import ModelOptions, Workload

SCHEME_BLURB: dict[str, str] = {
    "private": "no sharing: every process builds its own tables",
    "hugetlb-pmd": "mainline Linux: PMD-sized hugetlb mappings (2 MiB on x86-64) share PMD tables",
    "mshare": "proposal: opt-in region whose tables all sharers use",
    "file-cached": "proposal: tables cached on the file for aligned MAP_SHARED mappings",
}


MAX_GROUP_ROWS = 30
"""Most process groups the per-process table lists (JSON always lists all)."""


def shown_groups(report: Evaluation, limit: int = MAX_GROUP_ROWS) -> tuple[list[int], int, int]:
    """Which groups the per-process table shows: (group indices, groups left
    out, processes in them).  All of them, in workload order, up to
    ``limit``; beyond it the ``limit`` whose processes own the most page
    tables (count x per-process bytes, the largest over the schemes shown),
    largest first."""
    cells = report.configured_cells()
    n = len(cells[0].result.groups) if cells else 0
    if n <= limit:
        return list(range(n)), 0, 0
    counts = cells[0].result.groups.counts
    weight = [c * max(pp) for c, *pp in zip(counts, *(c.result.groups.per_process_bytes for c in cells))]
    top = sorted(range(n), key=lambda i: (-weight[i], i))[:limit]
    hidden = set(range(n)) - set(top)
    return top, len(hidden), sum(counts[i] for i in hidden)


def private_vmpte(g: GroupResult, table_bytes: dict[str, int]) -> int | None:
    """The part of a process's VmPTE only its own (private) mappings use,
    None when it has none."""
    if not any(g.private_tables.values()) and not any(g.mixed_tables.values()):
        return None
    return g.vmpte_parts(table_bytes).private


def pagetables_line(report: Evaluation) -> str | None:
    """What /proc/meminfo PageTables would show, when the workload's kernel
    counts fewer levels than the physical figure (None otherwise)."""
    h = report.workload.host
    levels = pagetables_levels(h.kernel)
    if len(levels) == len(LEVEL_NAMES):
        return None
    cells = report.configured_cells()
    kernel = f"{h.kernel[0]}.{h.kernel[1]}" if h.kernel else "?"
    shown = ", ".join(f"{c.scheme} {format_size(c.pagetables_bytes)}" for c in cells)
    return (f"/proc/meminfo PageTables on Linux {kernel} counts {'/'.join(levels).upper()} tables only: "
            f"it would show {shown}.")


def more_groups_line(hidden: int, processes: int) -> str:
    """The line standing for the groups the per-process table leaves out."""
    return (f"... and {hidden:,} more group{'s' if hidden != 1 else ''} ({count_of(processes, 'process', 'processes')}); "
            "--format json lists every group")


def about(w: Workload) -> dict[str, Any]:
    """Which workload a JSON document is about: its title and file."""
    return {"workload": w.title, "source": w.source}


def options_facts(o: ModelOptions) -> dict[str, Any]:
    """The model options, as JSON shows them."""
    return {"file_cached_threshold": o.file_cached_threshold, "mshare_variant": o.mshare_variant}


def host_facts(w: Workload) -> dict[str, Any]:
    h = w.host
    return {
        "memory_bytes": h.memory,
        "reserved_bytes": h.reserved,
        "available_bytes": h.available,
        "arch": h.arch.name,
        "pti": h.pti,
        "hugepages": None if h.hugepages is None else {str(k): v for k, v in sorted(h.hugepages.items())},
        "process_overhead_bytes": h.process_overhead,
        "headroom_percent": h.headroom_percent,
        "kernel": None if h.kernel is None else f"{h.kernel[0]}.{h.kernel[1]}",
        "pagetables_levels": list(pagetables_levels(h.kernel)),
        "processes": w.process_count,
        "groups": len(w.groups),
        "private_layout": [("default" if g.default_layout else "listed") for g in w.groups],
    }


def host_line(w: Workload) -> str:
    h = w.host
    procs = f"{count_of(w.process_count, 'process', 'processes')} in {count_of(len(w.groups), 'group')}"
    arch = f"{h.arch.name}{', PTI' if h.pti else ''}"
    if h.memory is None:
        return f"host: memory not given (no verdicts), {arch}; {procs}"
    mem = f"{format_size(h.memory)}"
    if h.reserved:
        mem += f" ({format_size(h.reserved)} reserved, {format_size(h.available or 0)} available)"
    return f"host: {mem}, {arch}; {procs}"


def demand_lines(b: Budget, times: str = "×") -> list[tuple[str, int]]:
    """(label, bytes) of everything in the demand, in the order shown."""
    lines = [("shmem segments (touched pages)", b.shmem_bytes)]
    if b.hugetlb_bytes or b.pools.required:
        lines.append(("hugetlb pools", b.hugetlb_bytes))
    lines.append(("page tables", b.page_table_bytes))
    if b.private_bytes:
        lines.append(("private memory", b.private_bytes))
    lines.append(("per-process kernel overhead", b.overhead_bytes))
    return lines


def fit_sentence(b: Budget, verdict: str | None) -> str:
    """``demand of available: VERDICT; fits up to N processes``."""
    if b.available_bytes is None:
        return f"demand {format_size(b.demand_bytes)} (no host memory given)"
    text = f"{format_size(b.demand_bytes)} of {format_size(b.available_bytes)}"
    if verdict == "wont-start":
        short = ", ".join(f"{n:,} x {format_size(ps)}" for ps, n in sorted(b.pools.short.items()))
        return f"{text}: the hugetlb pool is {short} pages short: the workload cannot start"
    mp = b.max_processes
    if mp is not None:
        text += f"; fits up to {count_of(mp, 'process', 'processes')}"
    return text


def assumptions(report: Evaluation) -> list[str]:
    """What the figures rest on, stated so a reader can challenge it."""
    w = report.workload
    h = w.host
    out = [
        "Page tables: every process's whole address space -- the shared segments' mappings and its own "
        "(private) mappings: program, libraries, heap, stack -- plus one PGD per process "
        f"({format_size(h.arch.pgd_bytes(h.pti))}); VmPTE counts PTE, PMD and PUD tables, never PGD/P4D.",
        f"Per-process kernel overhead assumed {format_size(h.process_overhead)} (host.process_overhead): "
        "kernel stack, task, mm and VMA structures; not page tables.",
        f"tight: less than {h.headroom_percent}% of available memory stays free. "
        "max processes: all groups scaled by one factor until demand reaches available memory.",
    ]
    defaults = sum(1 for g in w.groups if g.default_layout)
    if defaults:
        which = "every group" if defaults == len(w.groups) else f"{defaults:,} of {len(w.groups):,} groups"
        out.append(f"Private mappings ({which}, none listed): the kernel's default process layout with ASLR off "
                   "(program at ELF_ET_DYN_BASE, private_memory as its heap, 30 MiB of libraries below mmap_base, "
                   "the stack at STACK_TOP; docs/whole-process.md); ASLR adds at most a PMD and a PUD table per "
                   "process.")
    levels = pagetables_levels(h.kernel)
    if len(levels) < len(LEVEL_NAMES):
        kernel = f"{h.kernel[0]}.{h.kernel[1]}" if h.kernel else "this kernel"
        out.append(f"/proc/meminfo PageTables on Linux {kernel} (host.kernel) counts {', '.join(levels).upper()} "
                   "tables only; the physical figures count every level.")
    if any(s.backing == "hugetlb" for s in w.segments.values()) or len(report.columns) > 1:
        out.append("hugetlb segments reserve their whole size from the pool (shmget/mmap reservation); "
                   "without host.hugepages the pools are sized to fit.")
    if any(s.backing == "file" for s in w.segments.values()):
        out.append("file segments: touched pages are reclaimable page cache, shown but not in demand.")
    if report.has_auto:
        out.append("address: auto is the best case: address congruent to the file offset modulo "
                   f"{format_size(h.arch.auto_align)}, each mapping in a {format_size(h.arch.auto_window)} "
                   "window of its own.")
    if "mshare" in report.schemes:
        if report.model_options.mshare_variant == "v3":
            out.append("mshare (v3 proposal, not mainline): one region per segment and protection, "
                       f"{format_size(h.arch.mshare_align)}-aligned; its host mm owns the tables; "
                       "VmPTE of attached processes excludes them.")
        else:
            out.append(f"mshare as ptshare (Dec 2022 proposal): {format_size(h.arch.pmd_size)}-aligned mappings "
                       "share PTE tables only; VmPTE excludes them.")
    if "file-cached" in report.schemes:
        out.append(f"file-cached (seed-thread proposal, not mainline): segments of at least "
                   f"{format_size(report.model_options.file_cached_threshold)}; VmPTE counts attached tables as "
                   "hugetlb does.")
    return out


def advice(report: Evaluation) -> list[str]:
    """hugetlb pool settings for the configured column."""
    cells = report.configured_cells()
    if not cells:
        return []
    return pool_advice(cells[0].budget, report.workload.arch)


def _hugepagesz(ps: int) -> str:
    """A page size as the kernel's ``hugepagesz=`` parameter spells it (memparse): 1G, 32M, 64K."""
    for unit, factor in (("G", GiB), ("M", MiB), ("K", 1024)):
        if ps % factor == 0:
            return f"{ps // factor}{unit}"
    return str(ps)


def pool_advice(b: Budget, arch: Arch = X86_64) -> list[str]:
    """What to set so the hugetlb pools fit the segments exactly.

    ``vm.nr_hugepages`` sizes the default pool, PMD_SIZE pages (HPAGE_SIZE on
    x86-64 and arm64); pages above PMD_SIZE are gigantic on every profile
    (above the buddy allocator's largest block, MAX_PAGE_ORDER: 4 MiB, 32 MiB
    and 512 MiB on arm64 4K/16K/64K by arch/arm64/Kconfig ARCH_FORCE_MAX_ORDER),
    so a boot-time reservation is the reliable way to get them.
    """
    out: list[str] = []
    for ps, n in sorted(b.pools.required.items()):
        have = (b.pools.configured or {}).get(ps) if b.pools.configured is not None else None
        if ps == arch.hpage_size:
            how = f"sysctl vm.nr_hugepages={n}"
        else:
            kb = ps // 1024
            how = f"echo {n} > /sys/kernel/mm/hugepages/hugepages-{kb}kB/nr_hugepages"
            if ps > arch.pmd_size:
                how += f" (or boot with hugepagesz={_hugepagesz(ps)} hugepages={n})"
        if have is None:
            out.append(f"{format_size(ps)} pages: {n:,} needed ({format_size(n * ps)}): {how}")
        elif have < n:
            out.append(f"{format_size(ps)} pages: pool has {have:,}, segments need {n:,}: {how}")
        else:
            out.append(f"{format_size(ps)} pages: pool has {have:,}, segments need {n:,}")
    return out
