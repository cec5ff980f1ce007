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
from types import ModuleType
from typing import Any

from ptcalc.model import xp as _xp
from ptcalc.model.geometry import Arch
from ptcalc.model.intervals import ascending, order_by
from ptcalc.workload.types import BACKINGS, PROTECTIONS, Mappings, MappingSpec, Segment, Workload

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
        r = Rows.of(w, backend)
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
        specs: list[MappingSpec] = []
        bases = []
        for m in groups:
            base = base_of.get(id(m.specs))
            if base is None:
                base = base_of[id(m.specs)] = len(specs)
                specs.extend(m.specs)
            bases.append(base)
        sizes = [len(m) for m in groups]
        n = sum(sizes)
        pieces = [len(s.touched) for s in specs]

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

        def field(values: list[Any], dtype: Any = i64) -> Array:
            """A field of every mapping: its values over the specs, gathered by code."""
            return xp.asarray(values, dtype)[codes] if n else xp.zeros(0, dtype)

        def column(name: str, dtype: Any = i64) -> Array:
            """A per-mapping column of every group (addresses, auto)."""
            return xp.fromiter(chain.from_iterable(getattr(m, name) for m in groups), dtype, n)

        uffd_pmd = uffd_wp = None
        uffd = [s.userfaultfd for s in specs]
        if not set(uffd) <= {"none"}:  # uffd_disable_huge_pmd_share(): VM_UFFD_WP | VM_UFFD_MINOR
            uffd_pmd = field([u in ("wp", "minor") for u in uffd], b8)
            uffd_wp = field([u == "wp" for u in uffd], b8)
        # every spec's pieces, in one list; per row, the index of each of its pieces there
        flat = list(chain.from_iterable(s.touched for s in specs))
        if one_each:
            piece_row = xp.arange(n)
            piece_index = codes
        else:
            per_row = xp.asarray(pieces, i64)[codes] if n else xp.zeros(0, i64)
            piece_row = xp.repeat(xp.arange(n), per_row)
            first = xp.asarray([0, *accumulate(pieces)][:-1], i64)  # a spec's first piece in flat
            within = xp.arange(n_pieces) - xp.repeat(xp.cumsum(per_row) - per_row, per_row)
            piece_index = first[codes][piece_row] + within if n_pieces else xp.zeros(0, i64)
        starts = xp.asarray([p[0] for p in flat], i64)
        ends = xp.asarray([p[1] for p in flat], i64)
        return cls(
            xp=xp, sizes=sizes,
            seg=field([seg_id[s.segment] for s in specs]),
            addr=column("addresses"),
            size=field([s.size for s in specs]),
            off=field([s.offset for s in specs]),
            prot=field([PROT_CODE[s.protection] for s in specs]),
            auto=column("auto", b8),
            soft_dirty=field([s.soft_dirty for s in specs], b8),
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
