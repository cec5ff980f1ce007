"""Where ``address: auto`` puts mappings: the placement rule of
docs/workload-format.md, for one process (:func:`place_addresses`,
:func:`resolve_addresses`) and for many at once on arrays
(:func:`place_side_by_side`), and the check that a process's explicit
mappings do not overlap (:func:`overlapping_groups`).
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ptcalc.model.geometry import Arch
from ptcalc.units import GiB, MiB  # noqa: F401 (doctests)

if TYPE_CHECKING:
    from ptcalc.workload.types import Mapping


def auto_address(offset: int, window_base: int, align: int) -> int:
    """Where ``address: auto`` puts a mapping whose windows start at ``window_base``.

    The best case a careful deployment gets: address congruent to the file
    offset modulo ``align`` (PUD_SIZE, ``Arch.auto_align``: the hugetlb
    PMD-sharing window, 1 GiB on x86-64), in a window of its own.

    >>> hex(auto_address(3 * GiB + 2 * MiB, window_base=1 << 40, align=GiB))
    '0x10000200000'
    """
    return window_base + offset % align


def resolve_addresses(
    group_mappings: list[tuple[Mapping, bool]], arch: Arch, align: int | None = None
) -> list[Mapping]:
    """Give every ``auto`` mapping of one process a concrete address.

    ``group_mappings`` pairs each mapping (address ignored when auto) with
    whether it is auto.  Auto mappings are placed in order, each in the first
    run of ``arch.auto_window``-sized windows (from ``arch.auto_base``) that no
    other mapping of the process touches, at ``offset mod align`` into its
    first window (``align`` defaults to ``arch.auto_align``, PUD_SIZE; the
    window size is a multiple of it).  Raises ValueError when the address
    space runs out.
    """
    addresses = place_addresses(
        [(m.address, m.size, m.offset, auto) for m, auto in group_mappings], arch, align
    )
    return [
        replace(m, address=a, auto=True) if auto else m
        for (m, auto), a in zip(group_mappings, addresses)
    ]


def place_addresses(
    spans: list[tuple[int, int, int, bool]], arch: Arch, align: int | None = None
) -> list[int]:
    """:func:`resolve_addresses` on plain numbers: for each (address, size,
    offset, auto) of one process, its address (explicit ones unchanged;
    ``align`` defaults to ``arch.auto_align``)."""
    win = arch.auto_window
    if align is None:
        align = arch.auto_align
    # Taken windows as sorted, disjoint runs [start, end), adjacent runs merged
    # (merging changes no placement: a run only clashes where it overlaps), so
    # placing n auto mappings side by side costs O(n log n), not O(n^3).
    taken: list[list[int]] = []
    for start, end in sorted(
        {(address // win, -(-(address + size) // win)) for address, size, _, auto in spans if not auto}
    ):
        if taken and start <= taken[-1][1]:
            taken[-1][1] = max(taken[-1][1], end)
        else:
            taken.append([start, end])
    base = arch.auto_base // win
    out: list[int] = []
    for address, size, offset, auto in spans:
        if not auto:
            out.append(address)
            continue
        need = -(-(offset % align + size) // win)
        # The lowest first >= base with [first, first + need) clear of every run.
        first = base
        i = bisect.bisect_right(taken, [first, first])
        if i and taken[i - 1][1] > first:
            i -= 1
        while i < len(taken) and taken[i][0] < first + need:
            first = max(first, taken[i][1])
            i += 1
        address = auto_address(offset, first * win, align)
        if address + size > arch.user_limit:
            raise ValueError(
                f"no room for an auto-placed mapping of {size} bytes below "
                f"{arch.user_limit:#x}: give some mappings explicit addresses"
            )
        # Insert [first, first + need) at i, merging with touching neighbours.
        end = first + need
        if i < len(taken) and taken[i][0] == end:
            end = taken.pop(i)[1]
        if i and taken[i - 1][1] == first:
            taken[i - 1][1] = end
        else:
            taken.insert(i, [first, end])
        out.append(address)
    return out


def place_side_by_side(group: Any, address: Any, size: Any, offset: Any, auto: Any, n_groups: int, arch: Arch,
                       align: int | None = None) -> tuple[Any, list[bool]]:
    """:func:`place_addresses` for many processes at once, on arrays, where
    it is simple: when no explicit mapping of a process blocks the windows
    its auto mappings take side by side from ``arch.auto_base``, first-fit
    places them exactly there, one after another (each from the end of the
    one before).

    One row per mapping, ``group`` its process; rows grouped by process, in
    process order, each process's mappings in their order.  Returns the
    addresses and, per process, whether that held and every auto mapping
    fits below the user limit; the others must be placed by
    :func:`place_addresses`.  Arrays of one :mod:`ptcalc.model.xp` backend.
    """
    from ptcalc.model import xp as _xp

    xp = _xp.namespace_of(address)
    i64 = xp.int64
    if align is None:
        align = arch.auto_align
    win = arch.auto_window
    base = arch.auto_base // win
    need = xp.where(auto, -(-(offset % align + size) // win), 0)
    # each process's auto mappings take windows [base, end)
    end = base + xp.group_sum(group, need, n_groups)
    # windows taken by the auto mappings before a row in its process
    rows = xp.group_sum(group, xp.ones(group.size, dtype=i64), n_groups)
    start = (xp.cumsum(rows) - rows)[group]  # the process's first row
    taken = xp.cumsum(need) - need
    placed = (base + taken - taken[start]) * win + offset % align  # auto_address()
    out = xp.where(auto, placed, address)
    has_auto = end[group] > base
    blocked = ~auto & has_auto & (address // win < end[group]) & (-(-(address + size) // win) > base)
    too_high = auto & (out + size > arch.user_limit)
    bad = xp.group_sum(group, (blocked | too_high).astype(i64), n_groups)
    return out, [b == 0 for b in bad.tolist()]


def overlapping_groups(xp: Any, group: Any, address: Any, size: Any, auto: Any) -> list[int]:
    """The groups (ascending) two of whose explicit mappings overlap: rows
    sorted by (group, address), neighbours compared (if any two intervals
    overlap, some pair of neighbours does).  Arrays of one
    :mod:`ptcalc.model.xp` backend, one row per mapping, rows grouped by group."""
    explicit = ~auto
    if not explicit.any():
        return []
    g, a, e = group[explicit], address[explicit], (address + size)[explicit]
    if not bool((((g[1:] == g[:-1]) & (a[1:] >= a[:-1])) | (g[1:] > g[:-1])).all()):
        order = xp.lexsort((a, g))
        g, a, e = g[order], a[order], e[order]
    # e[:-1] > a[1:] for sorted neighbours of one group: the later one starts
    # before the earlier one ends
    clash = (g[1:] == g[:-1]) & (a[1:] < e[:-1])
    return sorted(set(g[1:][clash].tolist()))


__all__ = ["auto_address", "overlapping_groups", "place_addresses", "place_side_by_side", "resolve_addresses"]
