"""A workload flattened into arrays, one row per (group, mapping): what the
model computes on (:class:`Layout`).

Rows are sorted by (group, address); touched ranges are pieces in the same
order.  The arrays belong to one :mod:`ptcalc.model.xp` backend: numpy, or
pure Python for a tiny workload.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from functools import cached_property
from itertools import accumulate, chain
from operator import itemgetter
from types import ModuleType
from typing import Any

from ptcalc.model import xp as _xp
from ptcalc.model.geometry import Arch
from ptcalc.model.intervals import ascending, order_by
from ptcalc.workload.types import BACKINGS, CODED_FIELDS, MAPPING_FIELDS, PROTECTIONS, ProcessGroup, Segment, Workload

Array = Any
"""A 1-D array of the layout's backend (:mod:`ptcalc.model.xp`): numpy or pure Python."""

BACKING_CODE = {b: i for i, b in enumerate(BACKINGS)}
PROT_CODE = {p: i for i, p in enumerate(PROTECTIONS)}
BOOL_ROWS = frozenset({"row_uffd_blocks_pmd_share", "row_uffd_wp", "row_soft_dirty", "row_auto"})
"""The layout's boolean arrays (every other one is int64)."""


@dataclass(frozen=True)
class Layout:
    """A workload flattened into arrays, one row per (group, mapping).

    Rows are sorted by (group, address); ``piece_*`` list the touched ranges
    (absolute addresses) in the same order, so within a group every derived
    range is sorted and disjoint.  The arrays belong to one :mod:`ptcalc.model.xp`
    backend (``xp``): numpy, or pure Python for a tiny workload.
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
    row_mi: Array  # the mapping's index within its group
    # per touched piece
    piece_row: Array
    piece_start: Array
    piece_end: Array

    @classmethod
    def from_workload(cls, w: Workload, backend: str | None = "numpy") -> Layout:
        """Flatten ``w``.  ``backend``: ``numpy`` (the default, for callers
        that use numpy on the arrays), ``python``, or None to choose by size
        (:func:`ptcalc.model.xp.for_size`: pure Python for a few mappings)."""
        arch = w.arch
        coded = [c for c in map(ProcessGroup.coded, w.groups) if c is not None]
        if coded and len(coded) == len(w.groups) and all(c[0] is coded[0][0] for c in coded):
            r = Rows.from_codes(w, coded, backend)  # the loader's groups: one shared table
        else:
            r = Rows.from_columns(w, backend)
        xp, n = r.xp, r.n
        i64, b8 = xp.int64, xp.bool_
        rows = xp.asarray(r.sizes, i64)  # per group
        g_arr = xp.repeat(xp.arange(len(r.sizes)), rows)
        mi = xp.arange(n) - xp.repeat(xp.cumsum(rows) - rows, rows)
        a = r.addr
        # rows sorted by (group, address) (no two rows of a group share an
        # address); often they already are
        identity = n < 2 or bool(ascending(g_arr, a).all())
        order = xp.arange(n) if identity else order_by(xp, g_arr, a)

        def col(arr: Array) -> Array:
            return arr if identity else arr[order]

        row_seg = col(r.seg)
        row_addr = col(a)
        # touched pieces, absolute, in row order (usually one per mapping)
        piece_row = r.piece_row
        at = a[piece_row] if piece_row.size else xp.zeros(0, i64)
        piece_start = r.piece_start + at
        piece_end = r.piece_end + at
        if not identity:
            piece_row, piece_start, piece_end = pieces_reordered(xp, order, piece_row, piece_start, piece_end)
        return cls.assemble(
            w.host.pti, [g.count for g in w.groups], [g.name for g in w.groups], arch, list(w.segments.values()),
            row_group=col(g_arr),
            row_seg=row_seg,
            row_addr=row_addr,
            row_end=row_addr + col(r.size),
            row_off=col(r.off),
            row_prot=col(r.prot),
            row_uffd_blocks_pmd_share=col(r.uffd_pmd) if r.uffd_pmd is not None else xp.zeros(n, dtype=b8),
            row_uffd_wp=col(r.uffd_wp) if r.uffd_wp is not None else xp.zeros(n, dtype=b8),
            row_soft_dirty=col(r.soft_dirty),
            row_auto=col(r.auto),
            row_mi=col(mi),
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

        def per_row(values: list[int]) -> Array:
            return xp.asarray(values, i64)[row_seg] if n else xp.zeros(0, i64)

        return cls(
            arch=arch, pti=pti, counts=counts, group_names=group_names,
            row_page=per_row([s.page_size for s in segments]),
            row_leaf=per_row([arch.leaf_index(s.page_size) for s in segments]),
            row_backing=per_row([BACKING_CODE[s.backing] for s in segments]),
            row_seg_size=per_row([s.size for s in segments]),
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
        return replace(self, counts=list(counts))

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
    sizes: list[int]  # mappings per group
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
    def from_columns(cls, w: Workload, backend: str | None) -> Rows:
        """From the groups' columns (ProcessGroup.columns: the loader's groups
        never build their 100,000 Mapping objects), straight into arrays
        (fromiter): no million numpy item stores, no lists."""
        seg_id = {name: i for i, name in enumerate(w.segments)}
        per_group = [g.columns() for g in w.groups]
        sizes = [len(c[0]) for c in per_group]
        n = sum(sizes)

        def flat(field: str) -> Iterator[Any]:
            """One field of every mapping, group after group."""
            k = MAPPING_FIELDS.index(field)
            return chain.from_iterable(c[k] for c in per_group)

        touched = list(flat("touched"))
        n_pieces = sum(map(len, touched))
        xp = _xp.for_size(n + n_pieces) if backend is None else _xp.backend(backend)
        i64, b8 = xp.int64, xp.bool_

        def array(values: Iterator[Any], dtype: Any = i64) -> Array:
            return xp.fromiter(values, dtype, n)

        uffd_pmd = uffd_wp = None
        if not set(flat("userfaultfd")) <= {"none"}:  # uffd_disable_huge_pmd_share(): VM_UFFD_WP | VM_UFFD_MINOR
            uffd_pmd = array((u in ("wp", "minor") for u in flat("userfaultfd")), b8)
            uffd_wp = array((u == "wp" for u in flat("userfaultfd")), b8)
        p_rel = list(chain.from_iterable(touched))
        if len(p_rel) == n and set(map(len, touched)) <= {1}:
            piece_row = xp.arange(n)
        else:
            piece_row = xp.asarray([r for r, t in enumerate(touched) for _ in t], i64)
        return cls(
            xp=xp, sizes=sizes,
            seg=array(map(seg_id.__getitem__, flat("segment"))),
            addr=array(flat("address")),
            size=array(flat("size")),
            off=array(flat("offset")),
            prot=array(map(PROT_CODE.__getitem__, flat("protection"))),
            auto=array(flat("auto"), b8),
            soft_dirty=array(flat("soft_dirty"), b8),
            uffd_pmd=uffd_pmd, uffd_wp=uffd_wp,
            piece_row=piece_row,
            piece_start=xp.fromiter(map(itemgetter(0), p_rel), i64, n_pieces),
            piece_end=xp.fromiter(map(itemgetter(1), p_rel), i64, n_pieces),
        )

    @classmethod
    def from_codes(cls, w: Workload, coded: list[tuple[Sequence[tuple[Any, ...]], tuple[int, ...], tuple[int, ...]]],
                   backend: str | None) -> Rows:
        """From groups that share one table of distinct mappings
        (ProcessGroup.from_codes): each field an array over the table,
        gathered by code -- a few thousand Python values converted, not one
        per mapping and field."""
        seg_id = {name: i for i, name in enumerate(w.segments)}
        table = coded[0][0]
        sizes = [len(codes) for _, codes, _ in coded]
        n = sum(sizes)
        pieces = [len(row[CODED_FIELDS.index("touched")]) for row in table]
        n_pieces = sum(map(pieces.__getitem__, chain.from_iterable(codes for _, codes, _ in coded)))
        xp = _xp.for_size(n + n_pieces) if backend is None else _xp.backend(backend)
        i64, b8 = xp.int64, xp.bool_
        codes = xp.fromiter(chain.from_iterable(codes for _, codes, _ in coded), i64, n)

        def field(name: str, convert: Any = None, dtype: Any = i64) -> Array:
            """A field of every mapping: its values over the table, gathered by code."""
            k = CODED_FIELDS.index(name)
            values = [row[k] for row in table] if convert is None else [convert(row[k]) for row in table]
            return xp.asarray(values, dtype)[codes] if n else xp.zeros(0, dtype)

        uffd_pmd = uffd_wp = None
        if not {row[CODED_FIELDS.index("userfaultfd")] for row in table} <= {"none"}:
            uffd_pmd = field("userfaultfd", lambda u: u in ("wp", "minor"), b8)
            uffd_wp = field("userfaultfd", lambda u: u == "wp", b8)
        # every code's pieces, in one list; per row, the index of each of its pieces there
        flat = list(chain.from_iterable(row[CODED_FIELDS.index("touched")] for row in table))
        if set(pieces) <= {1}:  # one piece each (the usual case)
            piece_row = xp.arange(n)
            piece_index = codes
        else:
            per_row = xp.asarray(pieces, i64)[codes] if n else xp.zeros(0, i64)
            piece_row = xp.repeat(xp.arange(n), per_row)
            first = xp.asarray([0, *accumulate(pieces)][:-1], i64)  # a code's first piece in flat
            within = xp.arange(n_pieces) - xp.repeat(xp.cumsum(per_row) - per_row, per_row)
            piece_index = first[codes][piece_row] + within if n_pieces else xp.zeros(0, i64)
        starts = xp.asarray([p[0] for p in flat], i64)
        ends = xp.asarray([p[1] for p in flat], i64)
        return cls(
            xp=xp, sizes=sizes,
            seg=field("segment", seg_id.__getitem__),
            addr=xp.fromiter(chain.from_iterable(a for _, _, a in coded), i64, n),
            size=field("size"),
            off=field("offset"),
            prot=field("protection", PROT_CODE.__getitem__),
            auto=field("auto", dtype=b8),
            soft_dirty=field("soft_dirty", dtype=b8),
            uffd_pmd=uffd_pmd, uffd_wp=uffd_wp,
            piece_row=piece_row,
            piece_start=starts[piece_index] if n_pieces else xp.zeros(0, i64),
            piece_end=ends[piece_index] if n_pieces else xp.zeros(0, i64),
        )


def pieces_reordered(xp: ModuleType, order: Array, piece_row: Array, start: Array, end: Array,
                      ) -> tuple[Array, Array, Array]:
    """Touched pieces after the rows were reordered (``order``: new position ->
    old row): each piece's row renumbered, the pieces sorted by it."""
    n = len(order)
    inv = xp.zeros(n, dtype=xp.int64)
    inv[order] = xp.arange(n)
    piece_row = inv[piece_row]
    by_row = xp.argsort(piece_row)
    return piece_row[by_row], start[by_row], end[by_row]
