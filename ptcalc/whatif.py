"""What-if columns: the same workload with its shared segments on other pages.

The comparison table shows the workload as configured and, beside it, the
same workload with every shmem/hugetlb segment on the base page (shmem), on
PMD-sized hugetlb pages and on the largest hugetlb pages of the architecture
(``Arch.whatif_page_sizes``: 4 KiB, 2 MiB, 1 GiB on x86-64; 16 KiB, 32 MiB,
1 GiB on arm64 16K).  ``file`` segments live on a filesystem and cannot
become hugetlb; they keep their pages (and go to the base page in the base
page column).  Converting rounds each segment up, each mapping outwards, to the new
page size; an explicit address that then is not aligned makes the column
unavailable, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ptcalc.units import format_size
from ptcalc.workload import Mapping, ProcessGroup, Segment, Workload, resolve_addresses


@dataclass(frozen=True)
class Column:
    """One page-size column of the comparison."""

    key: str
    label: str
    page_size: int | None
    """The page size of every segment, None when they differ."""
    configured: bool
    workload: Workload | None
    unavailable: str | None = None


def _down(x: int, a: int) -> int:
    return x // a * a


def _up(x: int, a: int) -> int:
    return -(-x // a) * a


def convert(workload: Workload, page_size: int) -> Workload:
    """``workload`` with shmem/hugetlb segments on ``page_size`` pages
    (hugetlb unless it is the base page).  Raises ValueError when a mapping
    cannot be placed."""
    base = workload.arch.base_page
    segments: dict[str, Segment] = {}
    for name, seg in workload.segments.items():
        if seg.backing == "file":
            ps = base if page_size == base else seg.page_size
            segments[name] = replace(seg, page_size=ps, size=_up(seg.size, ps))
        else:
            backing = "shmem" if page_size == base else "hugetlb"
            segments[name] = replace(seg, backing=backing, page_size=page_size, size=_up(seg.size, page_size))
    groups: list[ProcessGroup] = []
    for g in workload.groups:
        placed: list[tuple[Mapping, bool]] = []
        for m in g.mappings:
            ps = segments[m.segment].page_size
            new_off = _down(m.offset, ps)
            delta = m.offset - new_off
            new_size = min(_up(m.offset + m.size, ps), segments[m.segment].size) - new_off
            touched = tuple((_down(s + delta, ps), min(_up(e + delta, ps), new_size)) for s, e in m.touched)
            merged: list[tuple[int, int]] = []
            for s, e in touched:
                if merged and s <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], e))
                else:
                    merged.append((s, e))
            address = m.address - delta
            if not m.auto and address % ps:
                raise ValueError(
                    f"{m.origin or m.segment}: address {m.address:#x} is not aligned to "
                    f"{format_size(ps)} pages")
            placed.append((replace(m, offset=new_off, size=new_size, address=address,
                                   touched=tuple(merged)), m.auto))
        mappings = resolve_addresses(placed, workload.arch) if any(a for _, a in placed) else [m for m, _ in placed]
        ordered = sorted(mappings, key=lambda m: m.address)
        for prev, nxt in zip(ordered, ordered[1:]):
            if prev.end > nxt.address:
                raise ValueError(f"{nxt.origin or nxt.segment}: overlaps another mapping on "
                                 f"{format_size(page_size)} pages")
        groups.append(replace(g, mappings=tuple(mappings)))
    return replace(workload, segments=segments, groups=tuple(groups))


def _describe(workload: Workload) -> tuple[str, int | None]:
    kinds = sorted({(s.page_size, s.backing) for s in workload.segments.values()})
    sizes = {ps for ps, _ in kinds}
    page_size = sizes.pop() if len(sizes) == 1 else None
    text = ", ".join(f"{format_size(ps)} {b}" for ps, b in kinds)
    return text, page_size


def columns(workload: Workload) -> tuple[Column, ...]:
    """The configured column and the what-if columns, duplicates merged."""
    arch = workload.arch
    wanted = [(arch.base_page, f"{format_size(arch.base_page)}", format_size(arch.base_page).replace(" ", ""))]
    for hs in arch.whatif_page_sizes()[1:]:
        wanted.append((hs, f"{format_size(hs)} hugetlb", format_size(hs).replace(" ", "") + "-hugetlb"))
    text, ps = _describe(workload)
    out: list[Column] = []
    configured_found = False
    for size, label, key in wanted:
        try:
            w = convert(workload, size)
        except ValueError as e:
            out.append(Column(key=key, label=label, page_size=size, configured=False,
                              workload=None, unavailable=str(e)))
            continue
        same = w.segments == workload.segments and w.groups == workload.groups
        if same and not configured_found:
            configured_found = True
            out.append(Column(key=key, label=text, page_size=size, configured=True,
                              workload=workload))
        else:
            out.append(Column(key=key, label=label, page_size=size, configured=False,
                              workload=w))
    if not configured_found:
        out.insert(0, Column(key="configured", label=f"configured ({text})", page_size=ps, configured=True,
                             workload=workload))
    return tuple(out)
