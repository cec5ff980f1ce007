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

The conversion works on the model's arrays (:class:`ptcalc.model.tables.Layout`),
vectorised over mappings: a column of 100,000 mappings costs a few array
operations, not 100,000 new Mapping objects.  :func:`convert` builds the
converted Workload from them when a caller wants the objects.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import Any

from ptcalc.model.intervals import _wide, ascending, key_ids, merge_within, order_by, rank
from ptcalc.model.layout import Layout, pieces_reordered, segment_columns
from ptcalc.sequences import LazySequence
from ptcalc.units import ceil_div, floor_div, format_size, mod, round_down, round_up, size_token
from ptcalc.workload.address_space import add_span, coalesce, highest_gap
from ptcalc.workload.types import Backing, Mappings, Segment, SpecTable, Workload, place_addresses


@dataclass(frozen=True)
class Replaced:
    """A mapping the what-if places again, as the kernel would on its new pages."""

    group: int
    mapping: int
    """Its index in the group's mappings."""
    old_address: int
    address: int
    """Where the kernel would put it: aligned to the new page size, top-down."""
    aligned_address: int
    """The best case: congruent to its file offset modulo PUD_SIZE."""
    reason: str
    """``misaligned`` (its address is not a multiple of the new page) or
    ``overlap`` (grown to whole pages, it would overlap another mapping)."""


class ReplacedRows(LazySequence[Replaced]):
    """The mappings a what-if placed again (:class:`Replaced`), in (group,
    mapping) order, kept as arrays of the layout's backend: an object is made
    only for the one read, a list of Python ints only for a column asked for
    as a whole (a column of a large host re-places tens of thousands: 8 bytes
    a value, not a Python int's 32-40)."""

    def __init__(self, group: Any, mapping: Any, old_address: Any, address: Any, aligned_address: Any,
                 misaligned: Any) -> None:
        self._cols = (group, mapping, old_address, address, aligned_address, misaligned)

    @classmethod
    def of(cls, layout: Layout, replace: Any, misaligned: Any, addr: Any, best: Any,
           errors: dict[int, str]) -> ReplacedRows:
        """The rows in ``replace`` outside the processes in ``errors``."""
        xp = layout.xp
        rows = xp.arange(layout.n_rows)[replace]
        if rows.size:
            g, m = layout.row_group[rows], layout.row_mi[rows]
            rows = rows[xp.lexsort((m, g))]
        if errors:
            rows = rows[xp.asarray([gi not in errors for gi in layout.row_group[rows].tolist()], xp.bool_)]
        return cls(*(a[rows] for a in (layout.row_group, layout.row_mi, layout.row_addr, addr, best, misaligned)))

    group = property(lambda self: self._cols[0].tolist(), doc="Each one's group, as a list.")
    mapping = property(lambda self: self._cols[1].tolist(), doc="Each one's index in its group's mappings.")
    old_address = property(lambda self: self._cols[2].tolist(), doc="Each one's address as written.")
    address = property(lambda self: self._cols[3].tolist(), doc="Each one's address as the kernel would place it.")
    aligned_address = property(lambda self: self._cols[4].tolist(), doc="Each one's best-case address.")
    misaligned = property(lambda self: self._cols[5].tolist(), doc="Each one misaligned (else an overlap).")

    def __len__(self) -> int:
        return int(self._cols[0].shape[0])

    def in_chunks(self, size: int) -> Iterator[tuple[list[Any], ...]]:
        """The columns -- group, mapping, old_address, address,
        aligned_address, misaligned -- as lists, ``size`` rows at a time (a
        large column's Python ints are never all made at once)."""
        for i in range(0, len(self), size):
            yield tuple(c[i:i + size].tolist() for c in self._cols)

    def _make(self, i: int) -> Replaced:
        g, m, old, a, best, mis = (c[i] for c in self._cols)
        return Replaced(group=int(g), mapping=int(m), old_address=int(old), address=int(a), aligned_address=int(best),
                        reason="misaligned" if mis else "overlap")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ReplacedRows({len(self)} mappings)"


class Kept:
    """Where a column's layout comes from: a layout kept as it is (the
    configured one), or a conversion (:func:`convert_placed`) kept until let
    go (:meth:`release`) and made again when read after that."""

    __slots__ = ("_layout", "_make_aligned", "_converted", "_convert")

    def __init__(self, layout: Layout | None = None, conversion: Conversion | None = None,
                 convert: Callable[[], Conversion] | None = None) -> None:
        """``layout``: kept for good; or ``conversion`` (the column's) and
        ``convert``, which makes it again."""
        self._layout = layout if layout is not None else None if conversion is None else conversion.layout
        self._make_aligned = None if conversion is None else conversion.make_aligned
        self._converted = conversion is not None or layout is not None
        self._convert = convert

    def _again(self) -> None:
        assert self._convert is not None
        conv = self._convert()
        self._layout, self._make_aligned, self._converted = conv.layout, conv.make_aligned, True

    def layout(self) -> Layout:
        if self._layout is None:
            self._again()
            assert self._layout is not None
        return self._layout

    @property
    def held(self) -> bool:
        """Whether the layout is held now (else it is made again when read)."""
        return self._layout is not None

    def aligned(self) -> Layout | None:
        """The best case's layout, made anew (None when there is none)."""
        if not self._converted:
            self._again()
        return None if self._make_aligned is None else self._make_aligned()

    def release(self, best_case: bool = True) -> None:
        if self._convert is None:
            return
        self._layout = None
        if best_case:
            self._make_aligned, self._converted = None, False


@dataclass(frozen=True)
class Column:
    """One page-size column of the comparison (``ptcalc.render.words`` names it)."""

    key: str
    """``configured`` (the workload as written, when it is no what-if), or the
    what-if's: the page size as one word, ``-hugetlb`` for hugetlb pages (``2MiB-hugetlb``)."""
    page_size: int | None
    """The page size of every segment, None when they differ."""
    configured: bool
    """The workload as configured (alone, or merged with the what-if it equals)."""
    hugetlb: bool = False
    """A what-if on hugetlb pages (else on the base page, or no what-if)."""
    pages: tuple[tuple[int, str], ...] = ()
    """(page size, backing) of the configured workload's segments, sorted."""
    unavailable: str | None = None
    """Why the what-if cannot be placed (the conversion's message), or None."""
    kept: Kept | None = field(default=None, repr=False, compare=False)
    """Where the column's layout comes from (None when unavailable): read it
    as ``layout``."""
    segments: dict[str, Segment] | None = field(default=None, repr=False)
    """The column's segments (None when unavailable)."""
    source: Workload | None = field(default=None, repr=False, compare=False)
    """The workload as configured."""
    replaced: Sequence[Replaced] = ()
    """Explicit mappings the kernel would place elsewhere on these pages (their
    address is not aligned to them, or they would overlap another mapping):
    placed as ``hugetlb_get_unmapped_area`` would (:func:`kernel_place`)."""
    aligned: Column | None = field(default=None, repr=False, compare=False)
    """When mappings were re-placed: the same column with them at the best
    address instead, congruent to their file offset modulo PUD_SIZE (what hugetlb
    PMD sharing needs), just below the kernel's choice; None where that is
    the kernel's choice for every one of them."""
    best_case: bool = False
    """This column is another's ``aligned`` (its best case)."""

    @property
    def layout(self) -> Layout | None:
        """The column's workload as the model's arrays (None when unavailable).
        A what-if column's is made again when read after :meth:`release`; a
        best case's is made anew on each read (it is not kept: only its
        cells' figures are shown, and its arrays, as many as a column's,
        would otherwise live to the end)."""
        if self.kept is None:
            return None
        return self.kept.aligned() if self.best_case else self.kept.layout()

    @property
    def available(self) -> bool:
        """The column has a layout (a what-if the kernel would not refuse)."""
        return self.kept is not None

    def release(self, best_case: bool = True) -> None:
        """Let go of the column's layout (and, with ``best_case``, what makes
        its best case's): they are made again if read later.  The
        configured column's layout is the evaluation's, and stays."""
        if self.kept is not None:
            self.kept.release(best_case)

    @property
    def merged(self) -> bool:
        """The configured column that is also a what-if column (key not ``configured``)."""
        return self.configured and self.key != CONFIGURED

    @cached_property
    def workload(self) -> Workload | None:
        """The column's workload (None when unavailable), built on first use."""
        if self.layout is None or self.source is None or self.segments is None:
            return None
        if self.configured:
            return self.source
        return materialise(self.source, self.layout, self.segments)

    @cached_property
    def moved_private(self) -> tuple[tuple[int, int, int, int], ...]:
        """The processes' own mappings moved out of a re-placed mapping's way
        (:func:`displace_later`): (group, index, old address, address)."""
        w, src = self.workload, self.source
        if not self.replaced or w is None or src is None or w is src:
            return ()
        return tuple((gi, j, p.address, q.address)
                     for gi, (g, h) in enumerate(zip(src.groups, w.groups))
                     for j, (p, q) in enumerate(zip(g.private_mappings, h.private_mappings)) if p.address != q.address)

    def budget_workload(self) -> Workload | None:
        """What ``budget`` reads of the column's workload -- host, segments,
        group counts and private memory -- without building its mappings."""
        if self.source is None or self.segments is None:
            return None
        return self.source if self.configured else replace(self.source, segments=self.segments)


def _down_shift(x: Any, shift: Any) -> Any:
    """``x`` down to a multiple of ``2 ** shift`` (per element: each row by its own page size)."""
    return (x >> shift) << shift


def _up_shift(x: Any, shift: Any) -> Any:
    return -((-x >> shift) << shift)


def _shift_of(page_size: int) -> int:
    """log2 of a page size (a power of two on every architecture)."""
    if page_size & (page_size - 1):
        raise ValueError(f"page size {page_size} is not a power of two")
    return page_size.bit_length() - 1


def convert_segments(workload: Workload, page_size: int) -> dict[str, Segment]:
    """``workload``'s segments on ``page_size`` pages: shmem/hugetlb ones move
    (hugetlb unless it is the base page), file ones only to the base page;
    sizes round up to the new page."""
    base = workload.arch.base_page
    segments: dict[str, Segment] = {}
    for name, seg in workload.segments.items():
        if seg.backing == "file":
            ps = base if page_size == base else seg.page_size
            segments[name] = replace(seg, page_size=ps, size=round_up(seg.size, ps))
        else:
            backing: Backing = "shmem" if page_size == base else "hugetlb"
            segments[name] = replace(seg, backing=backing, page_size=page_size, size=round_up(seg.size, page_size))
    return segments


def _auto_align(workload: Workload) -> int:
    # the alignment ``address: auto`` keeps (resolve_addresses' default)
    return workload.arch.auto_align


def convert_layout(layout: Layout, workload: Workload, page_size: int) -> tuple[Layout, dict[str, Segment]]:
    """``layout`` (of ``workload``) with shmem/hugetlb segments on ``page_size``
    pages (see :func:`convert_placed`, which also says what was placed again)."""
    c = convert_placed(layout, workload, page_size)
    return c.layout, c.segments


@dataclass(frozen=True)
class Conversion:
    """A layout converted to other pages: where the kernel would put the
    mappings (``layout``), and with the re-placed ones at their best address
    (``aligned``, None when nothing was re-placed or when that is where the
    kernel puts them)."""

    layout: Layout
    segments: dict[str, Segment]
    replaced: Sequence[Replaced] = ()
    make_aligned: Callable[[], Layout] | None = field(default=None, repr=False, compare=False)
    """Makes ``aligned`` (None when nothing was re-placed): the best case's
    layout is made when it is counted, and not kept (see ``Column.layout``)."""

    @property
    def aligned(self) -> Layout | None:
        """The layout with the re-placed mappings at their best address (made anew on each read)."""
        return None if self.make_aligned is None else self.make_aligned()


def convert_placed(layout: Layout, workload: Workload, page_size: int) -> Conversion:
    """``layout`` (of ``workload``) with shmem/hugetlb segments on ``page_size``
    pages; raises ValueError, with the reason, when the kernel itself would
    refuse a mapping (no room in the address space).

    Per mapping: the file range rounds outwards to the new page (the offset
    down, the end up, within the rounded segment), the address moves down
    with the offset, touched ranges round outwards and merge.  Auto-placed
    mappings are placed again; where no mapping of a process changes the
    auto windows it occupies (almost always), each keeps its window, and the
    placement is not redone.  An explicit mapping whose address is then not
    aligned to its new pages, or that would overlap another mapping, is
    placed as the kernel places a mapping of those pages (:func:`kernel_place`).
    """
    xp = layout.xp
    i64 = xp.int64
    arch = workload.arch
    segments = convert_segments(workload, page_size)
    segs = list(segments.values())
    n = layout.n_rows
    row_seg = layout.row_seg
    # (private mappings' rows keep their pages: segment_columns lists them unchanged)
    pages, _, sizes = segment_columns(arch, segs)
    page = xp.asarray(pages, i64)[row_seg] if n else xp.zeros(0, i64)
    shift = xp.asarray([_shift_of(p) for p in pages], i64)[row_seg] if n else xp.zeros(0, i64)
    seg_size = xp.asarray(sizes, i64)[row_seg] if n else xp.zeros(0, i64)
    a, e, off, auto = layout.row_addr, layout.row_end, layout.row_off, layout.row_auto
    new_off = _down_shift(off, shift)
    delta = off - new_off
    new_size = xp.minimum(_up_shift(off + (e - a), shift), seg_size) - new_off
    explicit_addr = a - delta
    misaligned = ~auto & (_down_shift(explicit_addr, shift) != explicit_addr)

    # Auto placement: a mapping keeps its windows when neither its own window
    # count (auto) nor the windows it blocks (explicit) change.
    win, align = arch.auto_window, _auto_align(workload)
    old_windows = xp.where(auto, ceil_div(mod(off, align) + (e - a), win), ceil_div(e, win) - floor_div(a, win))
    new_windows = xp.where(auto, ceil_div(mod(new_off, align) + new_size, win),
                           ceil_div(explicit_addr + new_size, win) - floor_div(explicit_addr, win))
    moved_start = ~auto & (floor_div(explicit_addr, win) != floor_div(a, win))
    new_addr = xp.where(auto, floor_div(a, win) * win + mod(new_off, align), explicit_addr)
    past_end = auto & (new_addr + new_size > arch.user_limit)  # placement raises there
    redo = (old_windows != new_windows) | moved_start | past_end
    errors: dict[int, str] = {}
    if redo.any():
        new_addr = _place_again(layout, redo, new_addr, new_size, new_off, errors)

    # Mappings the kernel would put elsewhere on these pages: misaligned ones,
    # then one of two that would overlap once grown to whole pages.
    replace = misaligned
    replaced: Sequence[Replaced] = ()
    placed_some = False  # (some row re-placed outside ``errors``)
    aligned_addr = new_addr
    for _ in range(3):
        move = _to_move(layout, overlap_pairs(layout, new_addr, new_size), page != layout.row_page)
        if move:
            flags = xp.zeros(layout.n_rows, dtype=xp.bool_)
            flags[xp.asarray(move, i64)] = True
            replace = replace | flags
        elif placed_some or not replace.any():
            break
        new_addr, aligned_addr = _kernel_places(layout, workload, replace, new_addr, new_size, new_off, page, errors)
        placed_some = _placed_some(layout, replace, errors)
    if placed_some:
        ids = _mapping_ids(layout, replace)
        placed = placed_once(layout, replace, new_addr, new_size, errors, ids)
        # (the best case's places are the kernel's where it is the kernel's placement: the same array)
        aligned_addr = placed if aligned_addr is new_addr else placed_once(layout, replace, aligned_addr, new_size,
                                                                           errors, ids)
        new_addr = placed
        replaced = ReplacedRows.of(layout, replace, misaligned, new_addr, aligned_addr, errors)
    pairs = overlap_pairs(layout, new_addr, new_size)
    bad_groups = set(errors) | set(layout.row_group[pairs[1]].tolist())
    if bad_groups:
        raise ValueError(_problem(layout, workload, min(bad_groups), page_size, errors, pairs))
    # (the best case's mappings are the column's at other addresses: what is
    # counted over file offsets is the same, counted once)
    file_counts: dict[str, Any] = {}
    placed = _layout_at(layout, arch, segs, new_addr, new_size, new_off, delta, shift, auto, file_counts)
    make_aligned = None
    # (no best case where it is the kernel's placement: 1 GiB pages, aligned
    # to their size, are aligned to PUD_SIZE; its cells would be the column's)
    if replaced and not bool((aligned_addr == new_addr).all()):
        def make_aligned() -> Layout:
            return _layout_at(layout, arch, segs, aligned_addr, new_size, new_off, delta, shift, auto, file_counts)
    return Conversion(layout=placed, segments=segments, replaced=replaced, make_aligned=make_aligned)


def overlap_pairs(layout: Layout, addr: Any, size: Any) -> tuple[Any, Any]:
    """(earlier, later) rows of one group that overlap, in address order (the
    earlier starts first; ``earlier`` is the first of the mappings before
    ``later`` that reaches furthest), as two int64 arrays of the layout's
    backend: empty, almost always."""
    xp = layout.xp
    n = layout.n_rows
    if n < 2:
        return xp.zeros(0, dtype=xp.int64), xp.zeros(0, dtype=xp.int64)
    # rows in (group, address) order: as they are, nearly always (a sort only when not)
    if bool(ascending(layout.row_group, addr).all()):
        order = xp.arange(n)
        g, s, end = layout.row_group, addr, addr + size
    else:
        order = order_by(xp, layout.row_group, addr, then=layout.row_mi)
        g, s, end = layout.row_group[order], addr[order], (addr + size)[order]
    # if any two mappings of a group overlap, some neighbours do
    same = g[1:] == g[:-1]
    neighbours = same & (end[:-1] > s[1:])
    if not neighbours.any():
        return xp.zeros(0, dtype=xp.int64), xp.zeros(0, dtype=xp.int64)
    big = int(end.max()) + 1
    if xp.NAME == "numpy" and int(g.min()) >= 0 and xp.fits((int(g.max()) + 1) * big):
        # reach[i], at[i]: the furthest end of the group's rows up to i, and
        # the first of them to reach it: one running maximum of (group,
        # end) packed in an int64 (groups ascending, so it starts again at
        # each group), and the last place up to i where it grew
        import numpy as np

        off = _wide(xp, g) * big
        reach = off + end
        np.maximum.accumulate(reach, out=reach)
        at = np.arange(n)
        at[1:][reach[1:] == reach[:-1]] = 0
        np.maximum.accumulate(at, out=at)
        reach -= off
        del off
        later = xp.arange(1, n)[same & (reach[:-1] > s[1:])]
        return order[at[later - 1]], order[later]
    if xp.NAME == "numpy":  # (groups x addresses beyond 2**62: by doubling)
        reach, at = end.copy(), xp.arange(n)
        d = 1
        while d < n:
            together = g[d:] == g[:-d]
            if not together.any():
                break
            pv, pi, cv, ci = reach[:-d], at[:-d], reach[d:], at[d:]
            take = together & ((pv > cv) | ((pv == cv) & (pi < ci)))
            reach[d:], at[d:] = xp.where(take, pv, cv), xp.where(take, pi, ci)
            d *= 2
        later = xp.arange(1, n)[same & (reach[:-1] > s[1:])]
        return order[at[later - 1]], order[later]
    bad = set(g[1:][neighbours].tolist())
    rows = order.tolist()
    last: dict[int, tuple[int, int]] = {}  # group -> (furthest end so far, its row)
    earlier_rows, later_rows = [], []
    for i, (gi, start, stop) in enumerate(zip(g.tolist(), s.tolist(), end.tolist())):
        if gi not in bad:
            continue
        reach_, row = last.get(gi, (-1, -1))
        if reach_ > start:
            earlier_rows.append(row)
            later_rows.append(rows[i])
        if stop > reach_:
            last[gi] = (stop, rows[i])
    return xp.asarray(earlier_rows, xp.int64), xp.asarray(later_rows, xp.int64)


def _to_move(layout: Layout, pairs: tuple[Any, Any], changed: Any) -> list[int]:
    """Of each overlapping pair, the row the kernel would place elsewhere:
    the one whose pages changed (the mapping the what-if makes anew), the
    later one of two; a process's private mappings, auto mappings and
    mappings that keep their pages keep their places where they can.
    Sorted, each row once."""
    xp = layout.xp
    earlier, later = pairs
    if not later.size:
        return []
    movable = ~layout.row_private & ~layout.row_auto
    # the later one first, unless only the earlier one has new pages
    later_first = changed[later] | ~changed[earlier]
    first = xp.where(later_first, later, earlier)
    second = xp.where(later_first, earlier, later)
    pick = xp.where(movable[first], first, xp.where(movable[second], second, -1))
    pick = pick[pick >= 0]
    if xp.NAME == "numpy":  # (each row once, in order: by a table of the rows, no sort)
        import numpy as np

        chosen = np.zeros(layout.n_rows, bool)
        chosen[pick] = True
        return np.flatnonzero(chosen).tolist()  # type: ignore[no-any-return]
    return sorted(set(pick.tolist()))


def kernel_place(layout: Layout, workload: Workload, replace: Any, misaligned: Any, explicit_addr: Any,
                 new_addr: Any, new_size: Any, new_off: Any, page: Any, errors: dict[int, str]
                 ) -> tuple[Any, Any, ReplacedRows]:
    """The rows in ``replace`` placed as the kernel places a mapping of their
    new pages, each in its process, highest first (top-down, the kernel gave
    later mappings lower addresses: this replays the order they were
    created in), clear of everything else: the highest page-aligned gap that ends at or below where the
    mapping ended (placed top-down, it ended where the next mapping began:
    ``unmapped_area_topdown`` returns the top of a gap; that mapping is not
    always in the file), top-down (``hugetlb_get_unmapped_area``, fs/hugetlbfs/inode.c
    -> ``mm_get_unmapped_area_vmflags`` -> ``arch_get_unmapped_area_topdown``,
    arch/x86/kernel/sys_x86_64.c, with ``align_mask = huge_page_mask_align()``
    from ``get_align_mask()``: aligned to the huge page size, not to the
    PUD_SIZE window PMD sharing needs), else the highest below the top of
    the default map window, else of the address space.  Returns the new addresses, the best-case ones
    (congruent to the file offset modulo PUD_SIZE: an mmap or shmat address
    hint), and what moved; a process with no room goes to ``errors``."""
    addr_a, best_a = _kernel_places(layout, workload, replace, new_addr, new_size, new_off, page, errors)
    return addr_a, best_a, ReplacedRows.of(layout, replace, misaligned, addr_a, best_a, errors)


def _kernel_places(layout: Layout, workload: Workload, replace: Any, new_addr: Any, new_size: Any, new_off: Any,
                   page: Any, errors: dict[int, str]) -> tuple[Any, Any]:
    """:func:`kernel_place`'s new and best-case addresses (the same array
    where the best case is the kernel's placement)."""
    new_addr = displace_later(layout, workload.arch, replace, new_addr, new_size, page)
    if layout.xp.NAME == "numpy":
        return _place_in_step(layout, workload, replace, new_addr, new_size, new_off, page, errors)
    return _place_one_by_one(layout, workload, replace, new_addr, new_size, new_off, page, errors)


def _placed_some(layout: Layout, replace: Any, errors: dict[int, str]) -> bool:
    """Whether some row in ``replace`` is outside the processes in ``errors``
    (``ReplacedRows.of`` would list it)."""
    groups = layout.row_group[replace]
    if not errors:
        return bool(groups.size)
    return any(g not in errors for g in set(groups.tolist()))


def displace_later(layout: Layout, arch: Any, replace: Any, new_addr: Any, new_size: Any, page: Any) -> Any:
    """``new_addr`` with the private mappings that stand where a re-placed
    mapping goes, and that the process created after it, moved below it.

    The kernel placed the mapping on its huge pages when the process created
    it, before the later ones: top-down (``arch_get_unmapped_area_topdown``),
    each later mapping went below those before it.  So a private mapping
    below a re-placed one (created later: a PostgreSQL process's small DSM
    file and its anonymous mappings right under the main segment) does not
    keep the segment from its place -- the highest one ending by where it
    ended, below the next mapping above it -- it is placed again, highest
    first, as the kernel placed it: the highest gap aligned to its page
    below that next mapping, clear of everything else (the gap the
    segment's alignment leaves above it, when it fits, else below it).
    Mappings above a re-placed one (created before it: the libraries) stay;
    tests/test_whatif_kernel.py checks both places against the kernel's."""
    xp = layout.xp
    if not layout.has_private or not bool(replace.any()):
        return new_addr
    concerned = _in_the_way(layout, arch, replace, new_addr, new_size, page)
    if not concerned:
        return new_addr
    group = layout.row_group.tolist()
    rows_of: dict[int, list[int]] = {g: [] for g in concerned}
    for r, g in enumerate(group):
        if g in concerned:
            rows_of[g].append(r)
    chosen, private = replace.tolist(), layout.row_private.tolist()
    addr, size, pg = new_addr.tolist(), new_size.tolist(), page.tolist()
    a0, e0 = layout.row_addr.tolist(), layout.row_end.tolist()
    changed = False
    for rows in rows_of.values():
        others = sorted((r for r in rows if not chosen[r]), key=addr.__getitem__)
        starts = [addr[r] for r in others]
        places: list[tuple[int, int]] = []  # where each re-placed mapping goes, nothing later in its way
        displaced: dict[int, int] = {}  # row -> the top of the space it was made in
        for m in (r for r in rows if chosen[r]):
            # its space ends where it ended (no mapping of the process starts
            # inside [a0, e0): the next one above starts at e0 or higher)
            space = e0[m]
            spot = round_down(min(space, round_down(arch.user_limit, pg[m])) - size[m], pg[m])
            if spot >= a0[m] or spot < arch.base_page:
                continue
            places.append((spot, spot + size[m]))
            # the process's mappings in [spot, a0): none overlap, so only the one
            # starting last below spot can reach into it
            for r in others[max(bisect_left(starts, spot) - 1, 0):bisect_left(starts, a0[m])]:
                if private[r] and addr[r] + size[r] > spot:
                    displaced[r] = max(displaced.get(r, 0), space)
        if not displaced:
            continue
        taken = coalesce([(addr[r], addr[r] + size[r]) for r in others if r not in displaced] + places, 1)
        for r in sorted(displaced, key=lambda r: -addr[r]):
            # the highest gap below the mapping above the re-placed one: the
            # kernel searched from there down when the process made it (a gap
            # left above the re-placed mapping by its alignment included)
            top = round_down(arch.user_limit, pg[r])
            limits = (min(displaced[r], top), min(arch.map_window, top), top)
            spot_r = next((x for x in (highest_gap(taken, size[r], pg[r], lim, arch.base_page) for lim in limits)
                           if x is not None), None)
            if spot_r is None:
                continue  # stays: the overlap it then has is reported
            addr[r] = spot_r
            add_span(taken, (spot_r, spot_r + size[r]), 1)
            changed = True
    return xp.asarray(addr, xp.int64) if changed else new_addr


def _in_the_way(layout: Layout, arch: Any, replace: Any, new_addr: Any, new_size: Any, page: Any) -> set[int]:
    """The processes with a private mapping where one of their re-placed
    mappings goes with nothing later in its way -- ``[spot, old start)``,
    spot the highest start on its pages that ends by its old end (a mapping
    above it starts there or higher) -- found on arrays for every process at
    once: :func:`displace_later` walks only those."""
    xp = layout.xp
    i64 = xp.int64
    mv = xp.arange(layout.n_rows)[replace]
    pg = page[mv]
    top = pg * (arch.user_limit // pg)  # the last whole page of the address space
    end = xp.minimum(layout.row_end[mv], top) - new_size[mv]
    spot = (end // pg) * pg
    a0 = layout.row_addr[mv]
    keep = (spot < a0) & (spot >= arch.base_page)
    wg, wlo, whi = merge_within(layout.row_group[mv][keep], spot[keep], a0[keep])
    pr = xp.arange(layout.n_rows)[layout.row_private]
    gp, ps = layout.row_group[pr], new_addr[pr]
    pe = ps + new_size[pr]
    if not wg.size or not pr.size:
        return set()
    # (process, address) as one sortable key: addresses ranked among all the ends
    ranks = rank(xp, xp.concatenate([wlo, ps, pe]))
    width = int(ranks.max()) + 1
    nw, npr = int(wlo.size), int(ps.size)
    key_w = wg * width + ranks[:nw]
    key_e = gp * width + ranks[nw + npr:]
    # the last (disjoint) window of the process starting below the mapping's end
    at = xp.searchsorted(key_w, key_e) - 1
    ok = at >= 0
    at = xp.where(ok, at, 0)
    hit = ok & (wg[at] == gp) & (whi[at] > ps)
    return set(gp[hit].tolist())


def _mapping_ids(layout: Layout, replace: Any) -> Any:
    """Per row in ``replace``, an id of its mapping's key (segment, offset,
    old address and end): what :func:`placed_once` groups by."""
    mv = layout.xp.arange(layout.n_rows)[replace]
    return key_ids(layout.row_seg[mv], layout.row_off[mv], layout.row_addr[mv], layout.row_end[mv])


def placed_once(layout: Layout, replace: Any, addr: Any, size: Any, errors: dict[int, str], ids: Any = None) -> Any:
    """``addr`` with each re-placed mapping that several processes had at one
    address (the same segment, offset and size: made once and inherited
    through fork, or attached where the application asked) at one place
    again: the lowest of the places found for it in each process, where that
    is clear in the process.  The kernel placed it once, in the process that
    made it, clear of every mapping that process had; a scanned process lists
    its own mappings by the blocks it touched, so a mapping in the way shows
    in some processes only, and the lowest place is the one that saw it.
    ``ids``: :func:`_mapping_ids` of ``replace``, when made already."""
    xp = layout.xp
    mv = xp.arange(layout.n_rows)[replace]
    if mv.size < 2:
        return addr
    # only mappings whose key (segment, offset, old address and end) rows got
    # different places are walked: on arrays, the lowest and highest place per key
    if ids is None:
        ids = _mapping_ids(layout, replace)
    order = order_by(xp, ids, addr[mv])
    ids_s, at_s = ids[order], addr[mv][order]
    first = xp.concatenate([xp.ones(1, dtype=xp.bool_), ids_s[1:] != ids_s[:-1]])
    last = xp.concatenate([first[1:], xp.ones(1, dtype=xp.bool_)])
    spread = ids_s[first][at_s[first] != at_s[last]]
    if not spread.size:
        return addr
    wanted = set(spread.tolist())
    rows = [r for r, i in zip(mv.tolist(), ids.tolist()) if i in wanted]
    seg, off, a0, e0 = (layout.row_seg.tolist(), layout.row_off.tolist(), layout.row_addr.tolist(),
                        layout.row_end.tolist())
    group = layout.row_group.tolist()
    by_key: dict[tuple[int, int, int, int], list[int]] = {}
    for r in rows:
        if group[r] not in errors:
            by_key.setdefault((seg[r], off[r], a0[r], e0[r]), []).append(r)
    at, sz = addr.tolist(), size.tolist()
    rows_of: dict[int, list[int]] = {}
    changed, moved = False, True
    while moved:  # a mapping moved down can clear the place of another: until none moves
        moved = False
        for same in by_key.values():
            low = min(at[r] for r in same)
            for r in same:
                if at[r] == low:
                    continue
                if not rows_of:
                    for x, g in enumerate(group):
                        rows_of.setdefault(g, []).append(x)
                end = low + sz[r]
                if all(at[x] >= end or at[x] + sz[x] <= low for x in rows_of[group[r]] if x != r):
                    at[r] = low
                    moved = changed = True
    return xp.asarray(at, xp.int64) if changed else addr


def _no_room(workload: Workload, gi: int, mi: int, size: int, page: int) -> str:
    m = workload.groups[gi].mappings[mi]
    return (f"{m.origin or m.segment}: no room for {format_size(size)} of {format_size(page)} pages in the "
            "address space (the kernel would refuse the mapping: ENOMEM)")


def _place_one_by_one(layout: Layout, workload: Workload, replace: Any, new_addr: Any, new_size: Any,
                      new_off: Any, page: Any, errors: dict[int, str]) -> tuple[Any, Any]:
    """:func:`kernel_place`'s placement, each process's mappings one after
    another in Python (for the pure-Python backend's small layouts)."""
    xp = layout.xp
    arch = workload.arch
    pud = arch.pud_size
    rows = xp.arange(layout.n_rows)[replace].tolist()
    groups = sorted(set(layout.row_group[replace].tolist()))
    addr, size, noff, pg = new_addr.tolist(), new_size.tolist(), new_off.tolist(), page.tolist()
    end = layout.row_end.tolist()
    group_of, mi = layout.row_group.tolist(), layout.row_mi.tolist()
    chosen = set(rows)
    rows_of: dict[int, list[int]] = {gi: [] for gi in groups}  # the rows of each group concerned
    for r, gi in enumerate(group_of):
        mine = rows_of.get(gi)
        if mine is not None:
            mine.append(r)
    placed: dict[bool, list[int]] = {}
    for aligned in (False, True):
        at = list(addr)
        for gi in groups:
            if gi in errors:
                continue
            mine = rows_of[gi]
            # highest first: the order a top-down allocator created them in
            moving = sorted((r for r in mine if r in chosen), key=lambda r: (-end[r], mi[r]))
            # spans closer than the smallest mapping to place are one: the
            # same places are found, past fewer spans
            need = min(size[r] for r in moving)
            taken = coalesce(((at[r], at[r] + size[r]) for r in mine if r not in chosen), need)
            for r in moving:
                top = round_down(arch.user_limit, pg[r])  # TASK_SIZE: the last whole page of the address space
                limits = (min(end[r], top), min(arch.map_window, top), top)
                spot = next((x for x in (highest_gap(taken, size[r], pg[r], lim, arch.base_page) for lim in limits)
                             if x is not None), None)
                if spot is None:
                    errors.setdefault(gi, _no_room(workload, gi, mi[r], size[r], pg[r]))
                    break
                if aligned:
                    # the best case: congruent to the file offset modulo PUD_SIZE, just below
                    phase = noff[r] % pud
                    spot = next((x for x in (highest_gap(taken, size[r], pud, lim, arch.base_page, phase)
                                             for lim in (spot + size[r], min(arch.map_window, top), top))
                                 if x is not None), spot)
                at[r] = spot
                add_span(taken, (spot, spot + size[r]), need)
        placed[aligned] = at
    i64 = xp.int64
    return xp.asarray(placed[False], i64), xp.asarray(placed[True], i64)


def _place_in_step(layout: Layout, workload: Workload, replace: Any, new_addr: Any, new_size: Any, new_off: Any,
                   page: Any, errors: dict[int, str]) -> tuple[Any, Any]:
    """:func:`kernel_place`'s placement on numpy arrays: every process's k-th
    mapping to place at once (:class:`ptcalc.model.topdown.TopDown`), the same
    places as :func:`_place_one_by_one`."""
    import numpy as np

    from ptcalc.model.topdown import INF, TopDown

    arch = workload.arch
    pud = arch.pud_size
    group, mi = layout.row_group, layout.row_mi
    moving = np.flatnonzero(replace)
    # the processes concerned, numbered by their place here (by a table of
    # the groups, not ``np.unique``: its first call imports numpy.ma, 11-17 ms)
    concerned = np.zeros(len(layout.counts), bool)
    concerned[group[moving]] = True
    groups = np.flatnonzero(concerned)
    dense: np.ndarray = np.asarray(np.searchsorted(groups, group))
    stay = np.flatnonzero(concerned[group] & ~replace)  # the other rows of those processes
    # the moving rows by process, each process's highest first (the order a
    # top-down allocator created them in); the k-th of each process is placed in step k
    moving = moving[order_by(layout.xp, group[moving], -layout.row_end[moving], then=mi[moving])]
    mg = dense[moving]
    per_group = np.bincount(mg, minlength=groups.size)
    first = np.concatenate([np.zeros(1, np.int64), np.cumsum(per_group)[:-1]])
    rank = np.arange(moving.size) - first[mg]
    by_step = order_by(layout.xp, rank, mg)  # positions in ``moving``, step by step
    step_ends = np.cumsum(np.bincount(rank, minlength=int(per_group.max(initial=0))))
    size = new_size[moving]
    pg = page[moving]
    need = np.minimum.reduceat(size, first) if moving.size else np.zeros(0, np.int64)
    top = pg * (arch.user_limit // pg)  # TASK_SIZE: the last whole page of the address space
    limits = (np.minimum(layout.row_end[moving], top), np.minimum(arch.map_window, top), top)
    zero = np.zeros(moving.size, np.int64)
    phase = np.mod(new_off[moving], pud)
    pud_a = np.full(moving.size, pud, np.int64)
    placer = TopDown(groups.size, dense[stay], new_addr[stay], new_addr[stay] + new_size[stay], need, arch.base_page,
                     arch.user_limit)
    # pages that are multiples of PUD_SIZE, with file offsets on them (1 GiB
    # pages on x86-64): the kernel's place is congruent to the offset modulo
    # PUD_SIZE already, and the best case places every mapping there too
    kernel_is_best = bool((np.mod(pg, pud) == 0).all()) and not bool(phase.any())
    # the fixed spans' answers at the limits known before anything is placed
    spot_at = [placer.fixed(mg, lim, size, pg, zero) for lim in limits]
    best_at = [] if kernel_is_best else [placer.fixed(mg, lim, size, pud_a, phase) for lim in limits[1:]]
    out: dict[bool, Any] = {}
    for aligned in (False, True):
        if aligned and kernel_is_best:
            out[True] = out[False]
            break
        placer.clear()
        at = new_addr.copy()
        dead = np.isin(groups, list(errors))
        lowest = np.full(groups.size, INF, np.int64)  # per process, the lowest start placed so far
        begin = 0
        for step, stop in enumerate(step_ends.tolist()):
            if not aligned and (step == 0 or step & (step - 1) == 0 and step.bit_length() % 2 == 0):
                # steps 0, 2, 8, 32, ...: the processes whose mappings left
                # each go right below the one before, all placed at once
                rest = np.flatnonzero((rank >= step) & ~dead[mg])
                if rest.size:
                    g = mg[rest]
                    spot, done = placer.stacked(g, size[rest], pg[rest], limits[0][rest], lowest[g])
                    fast = done[g]
                    at[moving[rest[fast]]] = spot[fast]
                    dead |= done
            q = by_step[begin:stop]
            begin = stop
            q = q[~dead[mg[q]]]
            if not q.size:
                continue
            g, z, a = mg[q], size[q], pg[q]
            spot = np.full(q.size, -1, np.int64)
            gap = np.full(q.size, -1, np.int64)
            left = np.arange(q.size)
            for cand, cand_gap in spot_at:  # the first limit with room
                ql = q[left]
                spot[left], gap[left] = placer.settle(g[left], cand[ql], cand_gap[ql], z[left], a[left], zero[ql])
                left = left[spot[left] < 0]
                if not left.size:
                    break
            if left.size:  # no room: the process's first such mapping is named, the rest of it not placed
                for i in left.tolist():
                    r = int(moving[q[i]])
                    errors.setdefault(int(group[r]), _no_room(workload, int(group[r]), int(mi[r]), int(z[i]),
                                                                   int(a[i])))
                dead[g[left]] = True
                keep = spot >= 0
                q, g, z, spot, gap = q[keep], g[keep], z[keep], spot[keep], gap[keep]
            if aligned:
                # the best case: congruent to the file offset modulo PUD_SIZE, just below
                ph, pa = phase[q], pud_a[q]
                best, best_gap = placer.settle(g, *placer.fixed(g, spot + z, z, pa, ph, gap), z, pa, ph)
                for cand, cand_gap in best_at:
                    left = np.flatnonzero(best < 0)
                    if not left.size:
                        break
                    ql = q[left]
                    best[left], best_gap[left] = placer.settle(g[left], cand[ql], cand_gap[ql], z[left], pa[left],
                                                               ph[left])
                found = best >= 0
                spot, gap = np.where(found, best, spot), np.where(found, best_gap, gap)
            at[moving[q]] = spot
            placer.add(g, spot, spot + z, gap)
            lowest[g] = np.minimum(lowest[g], spot)
        out[aligned] = at
    return out[False], out[True]


def _layout_at(layout: Layout, arch: Any, segs: list[Segment], new_addr: Any, new_size: Any, new_off: Any,
               delta: Any, shift: Any, auto: Any, file_counts: dict[str, Any] | None = None) -> Layout:
    """The converted layout with the mappings at ``new_addr`` (``file_counts``:
    ``Layout.file_counts``, shared with the same conversion's other placement)."""
    xp = layout.xp
    i64 = xp.int64
    n = layout.n_rows
    a = layout.row_addr
    # rows in (group, new address) order, ties by mapping order; the
    # conversion seldom reorders anything: sort only when it did
    identity = n < 2 or bool(ascending(layout.row_group, new_addr).all())
    order = xp.arange(n) if identity else order_by(xp, layout.row_group, new_addr, then=layout.row_mi)

    def take(x: Any) -> Any:
        return x if identity else x[order]

    # Touched ranges, relative to the mapping: round outwards, merge runs
    # that now touch (ends stay non-decreasing within a mapping).
    pr = layout.piece_row
    pi = _wide(xp, pr)  # (gathers by int64 indexes: quicker than by the int32 piece_row)
    to_rel = (delta - a)[pi]  # (a piece less its mapping's address, plus its offset's rounding)
    sh = shift[pi]
    s = _down_shift(layout.piece_start + to_rel, sh)
    t = xp.minimum(_up_shift(layout.piece_end + to_rel, sh), new_size[pi])
    del to_rel, sh
    if pr.size:
        prev_t = xp.concatenate([xp.full(1, -1, dtype=i64), t[:-1]])
        new_row = xp.concatenate([xp.ones(1, dtype=xp.bool_), pr[1:] != pr[:-1]])
        starts = new_row | (s > prev_t)
        if not bool(starts.all()):  # (else the pieces stay as they are: piece_row shared with ``layout``)
            ends = xp.concatenate([starts[1:], xp.ones(1, dtype=xp.bool_)])
            pr, pi, s, t = pr[starts], pi[starts], s[starts], t[ends]
    # back to absolute addresses, rows in (group, address) order
    at = new_addr[pi]
    del pi
    p_start, p_end = s + at, t + at
    del at
    if not identity:
        pr, p_start, p_end = pieces_reordered(xp, order, pr, p_start, p_end)
    placed = Layout.assemble(
        layout.pti, layout.counts, layout.group_names, arch, segs,
        row_group=layout.row_group,  # (sorted by group already: the order keeps it)
        row_seg=take(layout.row_seg),
        row_addr=take(new_addr),
        row_end=take(new_addr + new_size),
        row_off=take(new_off),
        row_prot=take(layout.row_prot),
        row_uffd_blocks_pmd_share=take(layout.row_uffd_blocks_pmd_share),
        row_uffd_wp=take(layout.row_uffd_wp),
        row_soft_dirty=take(layout.row_soft_dirty),
        row_auto=take(auto),
        row_mi=take(layout.row_mi),
        piece_row=pr,
        piece_start=p_start,
        piece_end=p_end,
    )
    return placed if file_counts is None else replace(placed, file_counts=file_counts)


def _place_again(layout: Layout, redo: Any, new_addr: Any, new_size: Any, new_off: Any,
                 errors: dict[int, str]) -> Any:
    """``new_addr`` with the mappings of every process that has a ``redo`` row
    placed again, each process in its written order (a placement that fails
    goes to ``errors``)."""
    xp = layout.xp
    again = set(layout.row_group[redo].tolist())
    # the rows of those processes (a few of them, as a rule), in row order
    if xp.NAME == "numpy":
        import numpy as np

        rows = np.flatnonzero(np.isin(layout.row_group, np.fromiter(again, np.int64, len(again))))
    else:
        rows = xp.asarray([r for r, gi in enumerate(layout.row_group.tolist()) if gi in again], xp.int64)
    rows_of: dict[int, list[int]] = {}  # positions in ``rows``
    for i, gi in enumerate(layout.row_group[rows].tolist()):
        rows_of.setdefault(gi, []).append(i)
    addr, size, noff = new_addr[rows].tolist(), new_size[rows].tolist(), new_off[rows].tolist()
    auto, mi = layout.row_auto[rows].tolist(), layout.row_mi[rows].tolist()
    for gi, mine in rows_of.items():
        mine.sort(key=mi.__getitem__)
        try:
            placed = place_addresses([(addr[i], size[i], noff[i], bool(auto[i])) for i in mine], layout.arch)
        except ValueError as e:
            errors[gi] = str(e)
            continue
        for i, p in zip(mine, placed):
            addr[i] = p
    out = new_addr + 0
    out[rows] = xp.asarray(addr, xp.int64)
    return out


def _problem(layout: Layout, workload: Workload, gi: int, page_size: int, errors: dict[int, str],
             pairs: tuple[Any, Any]) -> str:
    """The message for process ``gi``'s first problem."""
    if gi in errors:
        return errors[gi]
    group, mis = layout.row_group.tolist(), layout.row_mi.tolist()
    mi = [mis[r] for pair in zip(pairs[0].tolist(), pairs[1].tolist()) if group[pair[1]] == gi for r in pair]
    m = workload.groups[gi].mappings[min(i for i in mi if i >= 0)]  # name the shared mapping (one is)
    return f"{m.origin or m.segment}: overlaps another mapping on {format_size(page_size)} pages"


def materialise(workload: Workload, layout: Layout, segments: dict[str, Segment]) -> Workload:
    """The Workload a converted layout stands for: each mapping with its new
    offset, size, address and touched ranges.  Built as columns (one
    :class:`SpecTable` of every group's specs, each group's mappings as codes
    into it, its columns gathered from the layout's rows at once): a Mapping
    object is made only when one is read."""
    import numpy as np

    i64 = np.int64
    n_rows = layout.n_rows
    row_addr = np.asarray(layout.row_addr, dtype=i64)
    addr, end, off = row_addr.tolist(), layout.row_end.tolist(), layout.row_off.tolist()
    piece_row = np.asarray(layout.piece_row, dtype=i64)
    by_row = np.argsort(piece_row, kind="stable")  # a row's pieces in their order
    piece_row = piece_row[by_row]
    rel_start = (np.asarray(layout.piece_start, dtype=i64)[by_row] - row_addr[piece_row])
    rel_end = (np.asarray(layout.piece_end, dtype=i64)[by_row] - row_addr[piece_row])
    bounds = np.searchsorted(piece_row, np.arange(n_rows + 1))
    row_of: list[list[int]] = [[-1] * len(g.mappings) for g in workload.groups]
    moved: dict[int, dict[int, int]] = {}  # group -> private index -> its new address
    for r, (gi, mi) in enumerate(layout.row_index):
        if mi >= 0:
            row_of[gi][mi] = r
        elif workload.groups[gi].private_mappings[-1 - mi].address != addr[r]:
            moved.setdefault(gi, {})[-1 - mi] = addr[r]  # out of a re-placed mapping's way (displace_later)
    # per entry of the new table (every shared mapping of every group with one, in order):
    # its row (-1: not in the layout, kept as it was) and its old spec's fields
    table = SpecTable()
    entry_row: list[int] = []
    entry_size: list[int] = []
    entry_offset: list[int] = []
    kept: list[tuple[int, SpecTable, int]] = []  # (entry, specs, code) of the mappings kept as they were
    firsts: list[int] = []
    for g, rows in zip(workload.groups, row_of):
        firsts.append(len(entry_row))
        if not rows:
            continue
        old = Mappings.of(g.mappings)
        specs = SpecTable.of(old.specs)
        codes = old.codes
        for c in codes:
            table.segment.append(specs.segment[c])
            table.protection.append(specs.protection[c])
            table.userfaultfd.append(specs.userfaultfd[c])
            table.soft_dirty.append(specs.soft_dirty[c])
        for r, c in zip(rows, codes):
            if r < 0:
                kept.append((len(entry_row), specs, c))
                entry_size.append(specs.size[c])
                entry_offset.append(specs.offset[c])
            else:
                entry_size.append(end[r] - addr[r])
                entry_offset.append(off[r])
            entry_row.append(r)
    table.offset = array("q", entry_offset)
    table.size = array("q", entry_size)
    rows_e = np.asarray(entry_row, dtype=i64)
    placed = rows_e >= 0
    rr = np.where(placed, rows_e, 0)
    n_touch = np.where(placed, bounds[rr + 1] - bounds[rr], 0)
    for e, specs, c in kept:
        n_touch[e] = specs.touch_first[c + 1] - specs.touch_first[c]
    first = np.concatenate([np.zeros(1, i64), np.cumsum(n_touch)])
    t_start = np.zeros(int(first[-1]), i64)
    t_end = np.zeros(int(first[-1]), i64)
    from_rows = np.where(placed, n_touch, 0)  # the placed entries' touched ranges: their row's pieces
    ent = np.repeat(np.arange(rows_e.size), from_rows)
    within = np.arange(ent.size) - np.repeat(np.cumsum(from_rows) - from_rows, from_rows)
    src = bounds[rr[ent]] + within
    t_start[first[ent] + within] = rel_start[src]
    t_end[first[ent] + within] = rel_end[src]
    for e, specs, c in kept:
        a, b = specs.touch_first[c], specs.touch_first[c + 1]
        t_start[first[e]:first[e + 1]] = specs.touch_start[a:b]
        t_end[first[e]:first[e + 1]] = specs.touch_end[a:b]
    table.touch_first = array("q", first.tobytes())
    table.touch_start = array("q", t_start.tobytes())
    table.touch_end = array("q", t_end.tobytes())
    groups = []
    for gi, (g, rows, f) in enumerate(zip(workload.groups, row_of, firsts)):
        if not rows:
            groups.append(g)
            continue
        old = Mappings.of(g.mappings)
        addresses = tuple(old.addresses[j] if r < 0 else addr[r] for j, r in enumerate(rows))
        new = Mappings(table, tuple(range(f, f + len(rows))), addresses, old.auto, old.origin, old.origins)
        if gi in moved:
            private = tuple(replace(p, address=moved[gi][j]) if j in moved[gi] else p
                            for j, p in enumerate(g.private_mappings))
            groups.append(replace(g, mappings=new, private_mappings=private))
        else:
            groups.append(replace(g, mappings=new))
    return replace(workload, segments=segments, groups=tuple(groups))


def convert(workload: Workload, page_size: int) -> Workload:
    """``workload`` with shmem/hugetlb segments on ``page_size`` pages
    (hugetlb unless it is the base page).  Raises ValueError when a mapping
    cannot be placed."""
    layout = Layout.from_workload(workload, backend=None)
    new, segments = convert_layout(layout, workload, page_size)
    return materialise(workload, new, segments)


def _same(layout: Layout, new: Layout) -> bool:
    """Whether a converted layout is the configured one (nothing moved or grew)."""
    if layout.piece_row.size != new.piece_row.size:
        return False
    return all(bool((getattr(layout, f) == getattr(new, f)).all())
               for f in ("row_addr", "row_end", "row_off", "piece_row", "piece_start", "piece_end"))


def page_kinds(workload: Workload) -> tuple[tuple[int, str], ...]:
    """(page size, backing) of the workload's segments, distinct and sorted."""
    return tuple(sorted({(s.page_size, s.backing) for s in workload.segments.values()}))


ALL_COLUMNS = "all"
"""Select every column: the configured one and every what-if (what ``estimate`` shows)."""
CONFIGURED = "configured"
"""Select the configured column alone."""


def columns(workload: Workload, layout: Layout | None = None, select: str | int = ALL_COLUMNS,
            then: Callable[[Column], None] | None = None) -> tuple[Column, ...]:
    """The configured column and the what-if columns, duplicates merged.

    ``layout``: the workload's, if already built (else built here, on the
    backend its size calls for).  ``select``: every column (:data:`ALL_COLUMNS`),
    the configured one alone (:data:`CONFIGURED`), or the what-if column of
    that page size alone (which may be the configured one, merged).  A
    column the selection leaves out is converted only when it could be the
    configured one (its segments are the configured ones), so that one
    column costs one conversion.  The page size must be a what-if size
    (``Arch.whatif_page_sizes``).  ``then`` is called with each available
    what-if column as soon as it is made, before the next one is converted:
    it may count the column's cells and let go of its layout
    (``Column.release``), so that one what-if layout lives at a time."""
    arch = workload.arch
    if layout is None:
        layout = Layout.from_workload(workload, backend=None)
    wanted = [(arch.base_page, False)] + [(hs, True) for hs in arch.whatif_page_sizes()[1:]]
    kinds = page_kinds(workload)
    sizes = {ps for ps, _ in kinds}
    out: list[Column] = []
    configured_found = False
    for size, hugetlb in wanted:
        key = size_token(size) + ("-hugetlb" if hugetlb else "")
        shown = select == ALL_COLUMNS or select == size
        if not shown and (configured_found or convert_segments(workload, size) != workload.segments):
            continue  # left out, and cannot be the configured column
        try:
            conv = convert_placed(layout, workload, size)
        except ValueError as e:
            if shown:
                out.append(Column(key=key, page_size=size, configured=False, hugetlb=hugetlb, pages=kinds,
                                  unavailable=str(e)))
            continue
        new, segments = conv.layout, conv.segments
        same = segments == workload.segments and _same(layout, new)
        if same and not configured_found:
            configured_found = True
            if shown or select == CONFIGURED:
                out.append(Column(key=key, page_size=size, configured=True, hugetlb=hugetlb, pages=kinds,
                                  kept=Kept(layout), segments=workload.segments, source=workload))
        elif shown:
            # (the conversion is made again if the layout is read after ``then`` let it go)
            kept = Kept(conversion=conv, convert=partial(convert_placed, layout, workload, size))
            aligned = None
            if conv.make_aligned is not None:
                aligned = Column(key=f"{key}-aligned", page_size=size, configured=False, hugetlb=hugetlb,
                                 pages=kinds, kept=kept, segments=segments, source=workload, best_case=True)
            col = Column(key=key, page_size=size, configured=False, hugetlb=hugetlb, pages=kinds, kept=kept,
                         segments=segments, source=workload, replaced=conv.replaced, aligned=aligned)
            del conv, new
            out.append(col)
            if then is not None:
                then(col)
    if not configured_found and select in (ALL_COLUMNS, CONFIGURED):
        out.insert(0, Column(key=CONFIGURED, page_size=sizes.pop() if len(sizes) == 1 else None, configured=True,
                             pages=kinds, kept=Kept(layout), segments=workload.segments, source=workload))
    return tuple(out)
