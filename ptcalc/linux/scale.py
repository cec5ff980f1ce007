"""``measure --scale N``: a production workload shrunk to fit a test machine,
keeping what decides page-table sharing.

    kept                                              divided by N
    ------------------------------------------------  ---------------------------------------
    addresses; offsets modulo PUD_SIZE (1 GiB on      process counts (rounded up)
    x86-64); the partial PUD_SIZE windows at either   whole PUD_SIZE windows of every mapping
    end of a mapping; mappings smaller than a window  (rounded up, at least one), with the
    each process's private file mappings and stacks   touched ranges inside them
                                                      whole windows of offsets (rounded down)
                                                      each process's anonymous private memory
                                                      (to whole pages, at least one), at its
                                                      address, touched ranges in proportion

A window is what one PMD table covers (``Arch.pud_size``); segments grow when
a scaled mapping needs it.  The model is computed for the scaled workload,
so the comparison with the kernel stays exact.
"""

from __future__ import annotations

from dataclasses import replace

from ptcalc.errors import UsageError
from ptcalc.workload.touched import merge_ranges
from ptcalc.workload.types import Mapping, PrivateMapping, Workload

SCALE_RULE = (
    "process counts are divided by N (rounded up); in every mapping the whole 1 GiB windows "
    "(PUD_SIZE: one PMD table each) are divided by N (rounded up, at least one) and touched "
    "ranges inside them shrink in proportion; addresses, the partial windows at either end of "
    "a mapping, and offsets modulo 1 GiB are kept, so each mapping keeps its alignment and "
    "which processes can share with which; whole GiB of offsets are divided by N (rounded "
    "down) and segments grow if a scaled mapping needs it; each process's anonymous private "
    "memory is divided by N (whole pages, at least one) at its address, its file mappings and "
    "stack kept. The model is computed for the scaled workload, so the comparison stays exact."
)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _scale_mapping(m: Mapping, n: int, page: int, window: int) -> Mapping:
    head = (-m.address) % window  # bytes from the address to the next window boundary
    k = (m.size - head) // window if m.size >= head + window else 0
    if k == 0:
        size, kept = m.size, 0
    else:
        kept = _ceil_div(k, n)
        size = m.size - (k - kept) * window

    def squeeze(p: int, up: bool) -> int:
        # monotone map of [0, m.size] onto [0, size]: head and tail kept, the whole windows squeezed
        if k == 0 or p <= head:
            return p
        if p >= head + k * window:
            return p - (k - kept) * window
        scaled = (p - head) * kept
        q = _ceil_div(scaled, k * page) if up else scaled // (k * page)
        return head + q * page

    # squeeze is monotone: the ranges stay in order, merge_ranges only merges
    touched = merge_ranges((squeeze(s, False), squeeze(e, True)) for s, e in m.touched)
    offset = (m.offset // (n * window)) * window + m.offset % window
    return replace(m, size=size, offset=offset, touched=tuple(touched))


def _scale_private(p: PrivateMapping, n: int) -> PrivateMapping:
    """Anonymous private memory divided by ``n``: whole pages, at least one,
    at the same address; touched ranges shrink in proportion (monotone, so
    they stay sorted; merged where they meet)."""
    page = p.page_size
    size = max(page, _ceil_div(_ceil_div(p.size, n), page) * page)

    def squeeze(x: int, up: bool) -> int:
        q = x * size
        pages = _ceil_div(q, p.size * page) if up else q // (p.size * page)
        return min(pages * page, size)

    touched = merge_ranges(r for r in ((squeeze(a, False), squeeze(b, True)) for a, b in p.touched) if r[0] < r[1])
    return replace(p, size=size, touched=tuple(touched))


def scale_workload(w: Workload, n: int) -> Workload:
    """``w`` divided by ``n`` for a small machine (the rule is ``SCALE_RULE``).

    >>> from ptcalc.model.geometry import X86_64
    >>> from ptcalc.units import GiB, MiB
    >>> from ptcalc.workload.types import Host, ProcessGroup, Segment
    >>> seg = Segment("sga", 300 * GiB, "hugetlb", 2 * MiB)
    >>> m = Mapping("sga", 0, 300 * GiB, 1 << 40, touched=((0, 300 * GiB),))
    >>> w = Workload(Host(None, X86_64), {"sga": seg}, (ProcessGroup("db", 1500, (m,)),))
    >>> s = scale_workload(w, 10)
    >>> s.groups[0].count, s.groups[0].mappings[0].size // GiB, s.segments["sga"].size // GiB
    (150, 30, 30)
    """
    if n == 1:
        return w
    if n < 1:
        raise UsageError(f"--scale must be a positive whole number, got {n}")
    window = w.arch.pud_size  # one PMD table's span
    groups = []
    reach: dict[str, int] = {}
    for g in w.groups:
        maps = []
        for m in g.mappings:
            seg = w.segments[m.segment]
            sm = _scale_mapping(m, n, seg.page_size, window)
            maps.append(sm)
            reach[m.segment] = max(reach.get(m.segment, 0), sm.offset + sm.size)
        private = tuple(_scale_private(p, n) if p.kind == "anon" else p for p in g.private_mappings)
        groups.append(replace(g, count=_ceil_div(g.count, n), mappings=tuple(maps), private_mappings=private))
    segments = {}
    for name, seg in w.segments.items():
        q, r = divmod(seg.size, window)
        size = _ceil_div(q, n) * window + r
        size = max(_ceil_div(size, seg.page_size) * seg.page_size, reach.get(name, 0))
        segments[name] = replace(seg, size=size)
    title = f"{w.title} (scaled 1/{n})"
    return replace(w, segments=segments, groups=tuple(groups), name=title)


def windows_of(w: Workload) -> list[tuple[int, int]]:
    """The runs ``[first, end)`` of top-table windows (what one PUD table
    covers, ``Arch`` level ``pud``; the PGD entry's span without one) the
    workload's mappings, shared and private, lie in: sorted, disjoint, runs
    of adjacent windows merged."""
    span = window_span(w)
    runs: set[tuple[int, int]] = set()
    for g in w.groups:
        for m in (*g.mappings, *g.private_mappings):
            runs.add((m.address // span, _ceil_div(m.address + m.size, span)))
    merged: list[list[int]] = []
    for first, end in sorted(runs):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([first, end])
    return [(a, b) for a, b in merged]


def window_span(w: Workload) -> int:
    """What one top-table window spans: one PUD table (512 GiB on x86-64), or a PGD entry without a PUD level."""
    pud = w.arch.level("pud")
    return pud.table_span if pud is not None else w.arch.pgd.entry_span


def relocate_workload(w: Workload, taken: list[tuple[int, int]]) -> tuple[Workload, list[tuple[int, int, int]]]:
    """``w`` with every run of its windows that meets an address range in
    ``taken`` (the measuring process's own mappings) moved, whole, to the
    lowest run of free windows of the same length from ``Arch.auto_base``
    up.  A whole top-table window holds every PUD, PMD and PTE table of what
    is in it, and moving it by a multiple of its span keeps every address's
    offset modulo PUD_SIZE (what hugetlb PMD sharing keys on): each process's
    tables and their sharing are the same, only in other windows.  Returns
    the workload and the moves (first window, new first window, windows).
    Raises UsageError when there is no room."""
    span = window_span(w)
    busy = sorted({(s // span, _ceil_div(e, span)) for s, e in taken})
    runs = windows_of(w)

    def clash(first: int, end: int, spans: list[tuple[int, int]]) -> bool:
        return any(a < end and first < b for a, b in spans)

    moving = [r for r in runs if clash(r[0], r[1], busy)]
    if not moving:
        return w, []
    occupied = busy + [r for r in runs if r not in moving]
    limit = w.arch.user_limit // span
    moves: list[tuple[int, int, int]] = []
    for first, end in moving:
        n = end - first
        at = w.arch.auto_base // span
        while clash(at, at + n, occupied):
            at += 1
        if at + n > limit:
            raise UsageError(f"{w.source}: no room to move the workload's mappings clear of the measuring "
                             "process's own memory")
        occupied.append((at, at + n))
        moves.append((first, at, n))

    def moved(address: int) -> int:
        for first, at, n in moves:
            if first <= address // span < first + n:
                return address + (at - first) * span
        return address

    groups = tuple(replace(g, mappings=tuple(replace(m, address=moved(m.address)) for m in g.mappings),
                           private_mappings=tuple(replace(p, address=moved(p.address))
                                                  for p in g.private_mappings))
                   for g in w.groups)
    return replace(w, groups=groups), moves
