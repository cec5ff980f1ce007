"""A workload flattened into arrays, one row per (group, mapping): what the
model computes on (:class:`Layout`).

Rows are sorted by (group, address); touched ranges are pieces in the same
order.  The arrays belong to one :mod:`ptcalc.model.xp` backend: numpy, or
pure Python for a tiny workload.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from dataclasses import field as data_field
from operator import sub
from functools import cached_property
from itertools import accumulate, chain
from types import ModuleType
from typing import Any

from ptcalc.model import xp as _xp
from ptcalc.model.geometry import Arch
from ptcalc.model.intervals import ascending, order_by
from ptcalc.workload.types import (BACKINGS, PRIVATE_KINDS, PROTECTIONS, Mappings, PrivateMapping, Segment,
                                   SpecTable, Workload)

Array = Any
"""A 1-D array of the layout's backend (:mod:`ptcalc.model.xp`): numpy or pure Python."""

PRIVATE_BACKINGS = ("private-anon", "private-file", "private-stack")
"""The backing codes of private mappings (``PrivateMapping.kind``), after the segments'."""
BACKING_CODE = {b: i for i, b in enumerate(BACKINGS + PRIVATE_BACKINGS)}
PRIVATE_CODE = {k: BACKING_CODE[b] for k, b in zip(PRIVATE_KINDS, PRIVATE_BACKINGS)}
PROT_CODE: dict[str, int] = {p: i for i, p in enumerate(PROTECTIONS)}
BOOL_ROWS = frozenset({"row_uffd_blocks_pmd_share", "row_uffd_wp", "row_soft_dirty", "row_auto"})
"""The layout's boolean arrays (every other one is int64 but ``piece_row``,
``row_seg``, ``row_prot``, ``row_leaf`` and ``row_backing``: see
:meth:`Layout.assemble`)."""
ROW_INDEX_LIMIT = 2**31
"""``piece_row`` is int32 on numpy for a layout of fewer rows than this (else int64)."""


@dataclass(frozen=True)
class Layout:
    """A workload flattened into arrays, one row per (group, mapping).

    Rows are sorted by (group, address); ``piece_*`` list the touched ranges
    (absolute addresses) in the same order, so within a group every derived
    range is sorted and disjoint.  The arrays belong to one :mod:`ptcalc.model.xp`
    backend (``xp``): numpy, or pure Python for a tiny workload.

    A group's private mappings (text, libraries, heap, stack) are rows too,
    each with a segment of its own kind and page size after the workload's
    segments (:func:`segment_columns`): their tables count with the group's
    other tables, block by block, and no scheme shares them
    (``row_private``).
    """

    arch: Arch
    pti: bool
    counts: list[int]  # per group, Python ints
    group_names: list[str]
    # per row
    row_group: Array
    row_seg: Array
    row_addr: Array
    row_end: Array
    row_off: Array
    row_page: Array
    row_leaf: Array
    row_backing: Array
    row_prot: Array
    row_uffd_blocks_pmd_share: Array
    row_uffd_wp: Array
    row_soft_dirty: Array
    row_seg_size: Array
    row_auto: Array
    row_mi: Array
    """The mapping's index within its group; ``-1 - j`` for the group's j-th
    private mapping (a row of a private mapping is ``row_private``)."""
    # per touched piece
    piece_row: Array
    piece_start: Array
    piece_end: Array
    file_counts: dict[str, Any] | None = data_field(default=None, compare=False, repr=False)
    """Counts over file offsets (mshare's host trees: ``model.tables``),
    shared by the layouts of one conversion, which differ only in where the
    mappings are (the kernel's placement and the best case); None: this
    layout's own, not kept."""

    @classmethod
    def from_workload(cls, w: Workload, backend: str | None = "numpy") -> Layout:
        """Flatten ``w``.  ``backend``: ``numpy`` (the default, for callers
        that use numpy on the arrays), ``python``, or None to choose by size
        (:func:`ptcalc.model.xp.for_size`: pure Python for a few mappings)."""
        arch = w.arch
        r = Rows.of(w, backend)
        xp, n = r.xp, r.n
        b8 = xp.bool_
        a = r.addr
        # rows sorted by (group, address) (no two rows of a group share an
        # address); often they already are
        identity = n < 2 or bool(ascending(r.group, a).all())
        order = xp.arange(n) if identity else order_by(xp, r.group, a)

        def col(arr: Array) -> Array:
            return arr if identity else arr[order]

        row_seg = col(r.seg)
        row_addr = col(a)
        # touched pieces, absolute, in row order (usually one per mapping)
        piece_row = r.piece_row
        at = a[piece_row] if piece_row.size else xp.zeros(0, xp.int64)
        piece_start = r.piece_start + at
        piece_end = r.piece_end + at
        if not identity:
            piece_row, piece_start, piece_end = pieces_reordered(xp, order, piece_row, piece_start, piece_end)
        return cls.assemble(
            w.host.pti, [g.count for g in w.groups], [g.name for g in w.groups], arch, list(w.segments.values()),
            row_group=col(r.group),
            row_seg=row_seg,
            row_addr=row_addr,
            row_end=row_addr + col(r.size),
            row_off=col(r.off),
            row_prot=col(r.prot),
            row_uffd_blocks_pmd_share=col(r.uffd_pmd) if r.uffd_pmd is not None else xp.zeros(n, dtype=b8),
            row_uffd_wp=col(r.uffd_wp) if r.uffd_wp is not None else xp.zeros(n, dtype=b8),
            row_soft_dirty=col(r.soft_dirty),
            row_auto=col(r.auto),
            row_mi=col(r.mi),
            piece_row=piece_row,
            piece_start=piece_start,
            piece_end=piece_end,
        )

    @classmethod
    def assemble(cls, pti: bool, counts: list[int], group_names: list[str], arch: Arch, segments: Sequence[Segment],
                 **rows: Array) -> Layout:
        """A layout from its row and piece arrays (``rows``: every ``row_*`` and
        ``piece_*`` field but those of the segments, sorted by (group, address));
        the columns each row takes from its segment (page size, leaf level,
        backing, segment size) are gathered from ``segments``."""
        xp = _xp.namespace_of(rows["row_addr"])
        i64 = xp.int64
        row_seg = rows["row_seg"]
        n = int(row_seg.shape[0])
        page, backing, size = segment_columns(arch, segments)

        def per_row(values: list[int], small: bool = False) -> Array:
            # (``small``: codes and level indexes, compared only: int8 on numpy)
            dt = xp.int8 if small and xp.NAME == "numpy" else i64
            return xp.asarray(values, dt)[row_seg] if n else xp.zeros(0, dt)

        if xp.NAME == "numpy":
            # codes, compared and used as indexes (key arithmetic widens them:
            # ``key_ids``, ``elementary_intervals``): int8 (int16 past 127 segments)
            rows["row_prot"] = rows["row_prot"].astype(xp.int8, copy=False)
            rows["row_seg"] = row_seg = row_seg.astype(xp.int8 if len(page) < 128 else xp.int16, copy=False)
        if xp.NAME == "numpy" and n < ROW_INDEX_LIMIT:
            # a piece's row is an index below n: int32 when n fits (a 104,000-row
            # layout's 266,000 pieces: 1 MiB less per layout, and per part)
            rows["piece_row"] = rows["piece_row"].astype(xp.int32, copy=False)

        return cls(
            arch=arch, pti=pti, counts=counts, group_names=group_names,
            row_page=per_row(page),
            row_leaf=per_row([arch.leaf_index(p) for p in page], small=True),
            row_backing=per_row(backing, small=True),
            row_seg_size=per_row(size),
            **rows,
        )

    @property
    def xp(self) -> ModuleType:
        """The array backend of this layout (numpy or pure Python)."""
        return _xp.namespace_of(self.row_addr)

    @cached_property
    def row_index(self) -> list[tuple[int, int]]:
        """Per row, (group index, mapping index in the group)."""
        return list(zip(self.row_group.tolist(), self.row_mi.tolist()))

    @property
    def n_rows(self) -> int:
        return int(self.row_addr.shape[0])

    @cached_property
    def row_private(self) -> Array:
        """Per row, a private mapping (MAP_PRIVATE: never shared by any scheme)."""
        return self.row_mi < 0

    @cached_property
    def has_private(self) -> bool:
        return bool(self.row_private.any()) if self.n_rows else False

    @cached_property
    def row_deposit(self) -> Array:
        """Per row, anonymous THP: a private anon mapping of PMD_SIZE pages,
        whose every huge page keeps a deposited PTE table (``model.tables.tally``)."""
        return (self.row_backing == PRIVATE_CODE["anon"]) & (self.row_page == self.arch.pmd_size)

    @cached_property
    def row_d(self) -> Array:
        """Per row, the address of file offset 0 (``row_addr - row_off``)."""
        return self.row_addr - self.row_off

    @cached_property
    def row_weight(self) -> Array:
        """Per row, its group's process count clipped to 2: all a sharing count needs."""
        xp = self.xp
        if not self.n_rows:
            return xp.zeros(0, dtype=xp.int64)
        return xp.minimum(xp.asarray(self.counts, dtype=xp.int64), 2)[self.row_group]

    @cached_property
    def piece_blocks(self) -> dict[tuple[str, int], Array]:
        """Per (which pieces, level index), the distinct table blocks per group
        the touched pieces cover, filled in by ``model.tables.count_tally``
        (``"all"``, ``"private"`` or ``"shared"`` pieces): the same for every
        scheme's zones of this layout, since the zones of a mapping tile it
        and the parts they cut cover what the pieces cover."""
        return {}

    @cached_property
    def piece_per_row(self) -> bool:
        """Every row has one touched piece, piece i row i's (``piece_row`` is
        0, 1, 2, ...: per-row arrays are per-piece as they are)."""
        n = self.n_rows
        return self.piece_row.size == n and bool((self.piece_row == self.xp.arange(n)).all())

    def on(self, backend: str) -> Layout:
        """The same layout on another array backend (``numpy`` or ``python``)."""
        if self.xp.NAME == backend:
            return self
        xp = _xp.backend(backend)
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name.startswith(("row_", "piece_"))}
        return replace(self, **{name: xp.asarray(a.tolist(), xp.bool_ if name in BOOL_ROWS else xp.int64)
                                for name, a in arrays.items()})

    def with_counts(self, counts: Sequence[int]) -> Layout:
        """The same mappings with each group's process count replaced."""
        return replace(self, counts=list(counts), file_counts=None)

    def level_index(self, name: str) -> int | None:
        for i, lv in enumerate(self.arch.levels):
            if lv.name == name:
                return i
        return None


@dataclass(frozen=True)
class Rows:
    """A workload's mappings as arrays, in group order (then mapping order):
    what :meth:`Layout.from_workload` sorts and completes.  Pieces are the
    touched ranges relative to their mapping.  ``uffd_*`` None: all False."""

    xp: ModuleType
    group: Array
    mi: Array
    """Per row, the mapping's index in its group (``-1 - j`` for private mapping j)."""
    seg: Array
    addr: Array
    size: Array
    off: Array
    prot: Array
    auto: Array
    soft_dirty: Array
    uffd_pmd: Array | None
    uffd_wp: Array | None
    piece_row: Array
    piece_start: Array
    piece_end: Array

    @property
    def n(self) -> int:
        return int(self.addr.shape[0])

    @classmethod
    def of(cls, w: Workload, backend: str | None) -> Rows:
        """From the groups' mappings (:class:`~ptcalc.workload.types.Mappings`:
        codes into tables of distinct specs): each field an array over the
        specs, gathered by code -- a few thousand Python values converted, not
        one per mapping and field.  The loader's groups share one table per
        document (and per instance copy); groups built otherwise have one
        each.  The tables are put end to end."""
        seg_id = {name: i for i, name in enumerate(w.segments)}
        groups = [Mappings.of(g.mappings) for g in w.groups]
        base_of: dict[int, int] = {}  # id(table) -> its first spec in specs
        tables: list[SpecTable] = []
        bases = []
        n_specs = 0
        for m in groups:
            base = base_of.get(id(m.specs))
            if base is None:
                base = base_of[id(m.specs)] = n_specs
                tables.append(SpecTable.of(m.specs))
                n_specs += len(m.specs)
            bases.append(base)
        specs = tables[0] if len(tables) == 1 else _joined(tables)
        sizes = [len(m) for m in groups]
        n = sum(sizes)
        first = specs.touch_first
        pieces = list(map(sub, first[1:], first[:-1]))

        def all_codes() -> Iterator[int]:
            """Every mapping's code into ``specs``, group after group."""
            if len(base_of) == 1:
                return chain.from_iterable(m.codes for m in groups)
            return chain.from_iterable(map(base.__add__, m.codes) for base, m in zip(bases, groups))

        one_each = set(pieces) <= {1}  # one touched piece per spec (the usual case)
        n_pieces = n if one_each and pieces else sum(map(pieces.__getitem__, all_codes()))
        xp = _xp.for_size(n + n_pieces) if backend is None else _xp.backend(backend)
        i64, b8 = xp.int64, xp.bool_
        codes = xp.fromiter(all_codes(), i64, n)

        def field(values: Sequence[Any], dtype: Any = i64) -> Array:
            """A field of every mapping: its values over the specs, gathered by code."""
            return xp.asarray(values, dtype)[codes] if n else xp.zeros(0, dtype)

        def column(name: str, dtype: Any = i64) -> Array:
            """A per-mapping column of every group (addresses, auto)."""
            return xp.fromiter(chain.from_iterable(getattr(m, name) for m in groups), dtype, n)

        uffd_pmd = uffd_wp = None
        uffd = specs.userfaultfd
        if not set(uffd) <= {"none"}:  # uffd_disable_huge_pmd_share(): VM_UFFD_WP | VM_UFFD_MINOR
            uffd_pmd = field([u in ("wp", "minor") for u in uffd], b8)
            uffd_wp = field([u == "wp" for u in uffd], b8)
        # every spec's pieces end to end (specs.touch_*); per row, the index of each of its pieces there
        if one_each:
            piece_row = xp.arange(n)
            piece_index = codes
        else:
            per_row = xp.asarray(pieces, i64)[codes] if n else xp.zeros(0, i64)
            piece_row = xp.repeat(xp.arange(n), per_row)
            firsts = xp.asarray(first[:-1], i64)  # a spec's first piece
            within = xp.arange(n_pieces) - xp.repeat(xp.cumsum(per_row) - per_row, per_row)
            piece_index = firsts[codes][piece_row] + within if n_pieces else xp.zeros(0, i64)
        starts = xp.asarray(specs.touch_start, i64)
        ends = xp.asarray(specs.touch_end, i64)
        rows = xp.asarray(sizes, i64)  # per group
        shared = cls(
            xp=xp,
            group=xp.repeat(xp.arange(len(sizes)), rows),
            mi=xp.arange(n) - xp.repeat(xp.cumsum(rows) - rows, rows),
            seg=field(list(map(seg_id.__getitem__, specs.segment))),
            addr=column("addresses"),
            size=field(specs.size),
            off=field(specs.offset),
            prot=field(list(map(PROT_CODE.__getitem__, specs.protection))),
            auto=column("auto", b8),
            soft_dirty=field(specs.soft_dirty, b8),
            uffd_pmd=uffd_pmd, uffd_wp=uffd_wp,
            piece_row=piece_row,
            piece_start=starts[piece_index] if n_pieces else xp.zeros(0, i64),
            piece_end=ends[piece_index] if n_pieces else xp.zeros(0, i64),
        )
        if not any(g.private_mappings for g in w.groups):
            return shared
        return shared.plus(cls.private(xp, w, len(seg_id)))

    @classmethod
    def private(cls, xp: ModuleType, w: Workload, n_segments: int) -> Rows:
        """The rows of every group's private mappings: each distinct tuple of
        them (the default layout is one tuple for every group alike) read
        once, gathered per group."""
        i64, b8 = xp.int64, xp.bool_
        arch = w.arch
        base_of: dict[int, int] = {}
        flat: list[PrivateMapping] = []
        bases, lens = [], []
        for g in w.groups:
            t = g.private_mappings
            b = base_of.get(id(t))
            if b is None:
                b = base_of[id(t)] = len(flat)
                flat.extend(t)
            bases.append(b)
            lens.append(len(t))
        n = sum(lens)
        counts = xp.asarray(lens, i64)
        group = xp.repeat(xp.arange(len(lens)), counts)
        j = xp.arange(n) - xp.repeat(xp.cumsum(counts) - counts, counts)
        idx = xp.repeat(xp.asarray(bases, i64), counts) + j

        def field(values: list[Any], dtype: Any = i64) -> Array:
            return xp.asarray(values, dtype)[idx]

        kinds = [(m.kind, m.page_size) for m in flat]
        seg_of = {k: private_segment(arch, *k, n_segments) for k in set(kinds)}  # (a few kinds, many mappings)
        seg = field(list(map(seg_of.__getitem__, kinds)))
        pieces = [len(m.touched) for m in flat]
        per_row = xp.asarray(pieces, i64)[idx]
        n_pieces = int(per_row.sum()) if n else 0
        piece_row = xp.repeat(xp.arange(n), per_row)
        first = xp.asarray([0, *accumulate(pieces)][:-1], i64)
        within = xp.arange(n_pieces) - xp.repeat(xp.cumsum(per_row) - per_row, per_row)
        piece_index = first[idx][piece_row] + within if n_pieces else xp.zeros(0, i64)
        touched = list(chain.from_iterable(m.touched for m in flat))
        starts = xp.asarray([p[0] for p in touched], i64)
        ends = xp.asarray([p[1] for p in touched], i64)
        zeros = xp.zeros(n, i64)
        return cls(
            xp=xp, group=group, mi=-1 - j, seg=seg,
            addr=field([m.address for m in flat]),
            size=field([m.size for m in flat]),
            off=zeros,
            prot=xp.full(n, PROT_CODE["rw"], i64),
            auto=xp.zeros(n, b8),  # placed already: what-ifs never move them
            soft_dirty=xp.zeros(n, b8),
            uffd_pmd=None, uffd_wp=None,
            piece_row=piece_row,
            piece_start=starts[piece_index] if n_pieces else xp.zeros(0, i64),
            piece_end=ends[piece_index] if n_pieces else xp.zeros(0, i64),
        )

    def plus(self, other: Rows) -> Rows:
        """These rows, then ``other``'s (pieces renumbered)."""
        xp = self.xp
        cat = xp.concatenate
        b8 = xp.bool_

        def flags(a: Array | None, b: Array | None, n_a: int, n_b: int) -> Array | None:
            if a is None and b is None:
                return None
            return cat([a if a is not None else xp.zeros(n_a, b8), b if b is not None else xp.zeros(n_b, b8)])

        return Rows(
            xp=xp,
            group=cat([self.group, other.group]), mi=cat([self.mi, other.mi]), seg=cat([self.seg, other.seg]),
            addr=cat([self.addr, other.addr]), size=cat([self.size, other.size]), off=cat([self.off, other.off]),
            prot=cat([self.prot, other.prot]), auto=cat([self.auto, other.auto]),
            soft_dirty=cat([self.soft_dirty, other.soft_dirty]),
            uffd_pmd=flags(self.uffd_pmd, other.uffd_pmd, self.n, other.n),
            uffd_wp=flags(self.uffd_wp, other.uffd_wp, self.n, other.n),
            piece_row=cat([self.piece_row, other.piece_row + self.n]),
            piece_start=cat([self.piece_start, other.piece_start]),
            piece_end=cat([self.piece_end, other.piece_end]),
        )


def _joined(tables: list[SpecTable]) -> SpecTable:
    """Several spec tables end to end, as one."""
    out = SpecTable()
    for t in tables:
        shift = len(out.touch_start)
        for name in ("segment", "offset", "size", "protection", "userfaultfd", "soft_dirty", "touch_start",
                     "touch_end"):
            getattr(out, name).extend(getattr(t, name))
        out.touch_first.extend(map(shift.__add__, t.touch_first[1:]))
    return out


def private_segment(arch: Arch, kind: str, page_size: int, n_segments: int) -> int:
    """The segment index of a private mapping's rows: after the workload's
    ``n_segments``, one per (kind, page size) (:func:`segment_columns`)."""
    return n_segments + 2 * PRIVATE_KINDS.index(kind) + (page_size != arch.base_page)  # type: ignore[arg-type]


def segment_columns(arch: Arch, segments: Sequence[Segment]) -> tuple[list[int], list[int], list[int]]:
    """Per segment index, its page size, backing code and size: the
    workload's ``segments``, then the private mappings' (each kind on the
    base page and on PMD_SIZE pages; their size the user address space,
    which no private mapping exceeds)."""
    page = [s.page_size for s in segments]
    backing = [BACKING_CODE[s.backing] for s in segments]
    size = [s.size for s in segments]
    for kind in PRIVATE_KINDS:
        for ps in (arch.base_page, arch.pmd_size):
            page.append(ps)
            backing.append(PRIVATE_CODE[kind])
            size.append(arch.user_limit)
    return page, backing, size


def pieces_reordered(xp: ModuleType, order: Array, piece_row: Array, start: Array, end: Array,
                      ) -> tuple[Array, Array, Array]:
    """Touched pieces after the rows were reordered (``order``: new position ->
    old row): each piece's row renumbered, the pieces sorted by it."""
    n = len(order)
    if xp.NAME == "numpy" and n and piece_row.size and bool((piece_row[1:] >= piece_row[:-1]).all()):
        # the pieces in row order (as a layout keeps them): each row's run of
        # pieces moved whole, in the new row order -- a gather, no sort
        import numpy as np

        per_row = np.bincount(piece_row, minlength=n)
        first = np.cumsum(per_row)
        first -= per_row  # each old row's first piece
        moved = per_row[order]
        new_first = np.cumsum(moved)
        new_first -= moved
        by_row = np.repeat(first[order] - new_first, moved)
        by_row += np.arange(by_row.size)
        return np.repeat(np.arange(n, dtype=piece_row.dtype), moved), start[by_row], end[by_row]
    inv = xp.zeros(n, dtype=xp.int64)
    inv[order] = xp.arange(n)
    piece_row = inv[piece_row]
    by_row = xp.argsort(piece_row)
    return piece_row[by_row], start[by_row], end[by_row]
