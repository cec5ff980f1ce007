"""The closed-form page-table model: interval arithmetic, no page walks.

Given a workload and a scheme, count the page tables every process owns, the
shared tables, and what VmPTE each process shows -- the rules are
docs/semantics.md.  The cost depends on the number of mappings, never on
segment sizes or process counts: every mapping becomes at most five address
zones (private / shared-PTE / shared-upper / shared-PTE / private), every
touched range is cut by those zones into parts, and tables are counted as
distinct blocks of the parts at each level.  The arithmetic is vectorised
over mappings with numpy int64 (addresses and per-process block counts stay
below 2**57); products with process counts are done in Python ints.  A tiny
workload runs the same code on :mod:`ptcalc.model.xp`'s pure-Python arrays instead
of numpy (identical results; importing numpy would cost more than the run).

>>> from ptcalc.model.geometry import X86_64
>>> from ptcalc.workload.types import Host, Mapping, ProcessGroup, Segment, Workload
>>> GiB = 1 << 30
>>> w = Workload(host=Host(memory=None, arch=X86_64),
...              segments={"s": Segment("s", GiB, "shmem", 4096)},
...              groups=(ProcessGroup("p", 1, (Mapping("s", 0, GiB, 1 << 40, touched=((0, GiB),)),)),))
>>> r = compute(w, "private")
>>> r.tables["pte"], r.tables["pmd"], r.tables["pud"], r.groups[0].vmpte_bytes // 1024
(512, 1, 1, 2056)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from itertools import accumulate, chain
from operator import itemgetter, mul
from types import ModuleType
from typing import Any

from ptcalc.model import xp as _xp
from ptcalc.model.geometry import LEVEL_NAMES, VMPTE_LEVELS, Arch
from ptcalc.model.results import GroupResults, SchemeResult, zero_levels
from ptcalc.workload.types import (BACKINGS, CODED_FIELDS, MAPPING_FIELDS, PROTECTIONS, ModelOptions, ProcessGroup,
                             Workload)

SCHEMES: tuple[str, ...] = ("private", "hugetlb-pmd", "mshare", "file-cached")

Array = Any
"""A 1-D array of the layout's backend (:mod:`ptcalc.model.xp`): numpy or pure Python."""

# Zone numbers, in address order within a mapping (docs/semantics.md section 3).
Z_PRIVATE_HEAD, Z_PTE_HEAD, Z_UPPER, Z_PTE_TAIL, Z_PRIVATE_TAIL = range(5)
_ZONE_KIND = (0, 1, 2, 1, 0)  # 0 private, 1 shared-PTE, 2 shared-upper

_BACKING = {b: i for i, b in enumerate(BACKINGS)}
_PROT = {p: i for i, p in enumerate(PROTECTIONS)}
_HUGETLB = _BACKING["hugetlb"]
_PROT_NONE = _PROT["none"]


def __getattr__(name: str) -> Any:
    # numpy forms of two constants, for code that works on numpy arrays
    # directly (explain); built on first use so importing the model does not
    # import numpy (a small workload never needs it).
    if name in ("ZONE_KIND", "I64"):
        import numpy as np

        return np.array(_ZONE_KIND, dtype=np.int8) if name == "ZONE_KIND" else np.int64
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Why(IntEnum):
    """Why a mapping's tables at one level are not shared (0: they are)."""

    SHARED = 0
    PRIVATE_SCHEME = 1
    NOT_HUGETLB = 2
    NOT_PMD_PAGES = 3
    ARCH_NO_PMD_SHARE = 4
    PROT_NONE = 5
    USERFAULTFD = 6
    SOFT_DIRTY = 7
    BELOW_THRESHOLD = 8
    MISALIGNED = 9
    NO_WHOLE_WINDOW = 10
    NO_TABLES_AT_LEVEL = 11
    PTSHARE_ALIGNMENT = 12


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
        segs = list(w.segments.values())
        coded = [c for c in map(ProcessGroup.coded, w.groups) if c is not None]
        if coded and len(coded) == len(w.groups) and all(c[0] is coded[0][0] for c in coded):
            r = _Rows.from_codes(w, coded, backend)  # the loader's groups: one shared table
        else:
            r = _Rows.from_columns(w, backend)
        xp, n = r.xp, r.n
        i64, b8 = xp.int64, xp.bool_
        rows = xp.asarray(r.sizes, i64)  # per group
        g_arr = xp.repeat(xp.arange(len(r.sizes)), rows)
        mi = xp.arange(n) - xp.repeat(xp.cumsum(rows) - rows, rows)
        a = r.addr
        # rows sorted by (group, address) (no two rows of a group share an
        # address); often they already are
        identity = n < 2 or bool(_ascending(g_arr, a).all())
        order = xp.arange(n) if identity else _order_by(xp, g_arr, a)

        def col(arr: Array) -> Array:
            return arr if identity else arr[order]

        # per segment, gathered per row
        seg_page = xp.asarray([s.page_size for s in segs], i64)
        seg_leaf = xp.asarray([arch.leaf_index(s.page_size) for s in segs], i64)
        seg_backing = xp.asarray([_BACKING[s.backing] for s in segs], i64)
        seg_size = xp.asarray([s.size for s in segs], i64)
        row_seg = col(r.seg)
        row_addr = col(a)
        # touched pieces, absolute, in row order (usually one per mapping)
        piece_row = r.piece_row
        at = a[piece_row] if piece_row.size else xp.zeros(0, i64)
        piece_start = r.piece_start + at
        piece_end = r.piece_end + at
        if not identity:
            piece_row, piece_start, piece_end = _pieces_reordered(xp, order, piece_row, piece_start, piece_end)
        no_rows = xp.zeros(0, i64)
        return cls(
            arch=arch,
            pti=w.host.pti,
            counts=[g.count for g in w.groups],
            group_names=[g.name for g in w.groups],
            row_group=col(g_arr),
            row_seg=row_seg,
            row_addr=row_addr,
            row_end=row_addr + col(r.size),
            row_off=col(r.off),
            row_page=seg_page[row_seg] if n else no_rows,
            row_leaf=seg_leaf[row_seg] if n else no_rows,
            row_backing=seg_backing[row_seg] if n else no_rows,
            row_prot=col(r.prot),
            row_uffd_blocks_pmd_share=col(r.uffd_pmd) if r.uffd_pmd is not None else xp.zeros(n, dtype=b8),
            row_uffd_wp=col(r.uffd_wp) if r.uffd_wp is not None else xp.zeros(n, dtype=b8),
            row_soft_dirty=col(r.soft_dirty),
            row_seg_size=seg_size[row_seg] if n else no_rows,
            row_auto=col(r.auto),
            row_mi=col(mi),
            piece_row=piece_row,
            piece_start=piece_start,
            piece_end=piece_end,
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

    def level_index(self, name: str) -> int | None:
        for i, lv in enumerate(self.arch.levels):
            if lv.name == name:
                return i
        return None


@dataclass(frozen=True)
class _Rows:
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
    def from_columns(cls, w: Workload, backend: str | None) -> _Rows:
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
            prot=array(map(_PROT.__getitem__, flat("protection"))),
            auto=array(flat("auto"), b8),
            soft_dirty=array(flat("soft_dirty"), b8),
            uffd_pmd=uffd_pmd, uffd_wp=uffd_wp,
            piece_row=piece_row,
            piece_start=xp.fromiter(map(itemgetter(0), p_rel), i64, n_pieces),
            piece_end=xp.fromiter(map(itemgetter(1), p_rel), i64, n_pieces),
        )

    @classmethod
    def from_codes(cls, w: Workload, coded: list[tuple[Sequence[tuple[Any, ...]], tuple[int, ...], tuple[int, ...]]],
                   backend: str | None) -> _Rows:
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
            prot=field("protection", _PROT.__getitem__),
            auto=field("auto", dtype=b8),
            soft_dirty=field("soft_dirty", dtype=b8),
            uffd_pmd=uffd_pmd, uffd_wp=uffd_wp,
            piece_row=piece_row,
            piece_start=starts[piece_index] if n_pieces else xp.zeros(0, i64),
            piece_end=ends[piece_index] if n_pieces else xp.zeros(0, i64),
        )


@dataclass(frozen=True)
class Zones:
    """Where each mapping (row) shares, under one scheme.

    ``cols[k]`` .. ``cols[k+1]`` is zone k of every row (``bounds`` has them
    as a (rows, 6) array for numpy layouts).  ``upper`` says what zone 2
    shares: ``"pmd"`` (a PMD table per window) or ``"mshare"`` (the region's
    host tree).  ``why_pmd`` / ``why_pte`` say, per row, why the PMD-level /
    PTE-level tables are not shared (Why.SHARED when they are, for at least
    part of the mapping).
    """

    scheme: str
    upper: str
    cols: tuple[Array, Array, Array, Array, Array, Array]
    pte_key_class: Array  # ptshare: address - offset, or -1 for auto; else 0
    attached_pte: bool  # shared-PTE tables count in VmPTE (file-cached, not ptshare)
    why: Callable[[], tuple[Array, Array]] = field(repr=False, compare=False)
    """Computes (why_pmd, why_pte): only reports and ``explain`` read them."""

    @cached_property
    def _why(self) -> tuple[Array, Array]:
        return self.why()

    @cached_property
    def shares_nothing(self) -> bool:
        """Every row lies wholly in its first, private zone (and zone 2 is
        not an mshare region): the tables count exactly as under ``private``."""
        return self.upper == "pmd" and bool((self.cols[1] == self.cols[5]).all())

    @property
    def why_pmd(self) -> Array:
        return self._why[0]

    @property
    def why_pte(self) -> Array:
        return self._why[1]

    @cached_property
    def bounds(self) -> Any:
        """Row r's zone boundaries ``bounds[r][0..5]``: a (rows, 6) numpy
        array, or a list of 6-tuples for a pure-Python layout."""
        if _xp.namespace_of(self.cols[0]).NAME == "numpy":
            import numpy as np

            return np.stack(self.cols, axis=1)
        return list(zip(*(c.tolist() for c in self.cols)))


def _ascending(major: Array, minor: Array) -> Array:
    """Per pair of neighbours, whether (major, minor) strictly increases."""
    return (major[1:] > major[:-1]) | ((major[1:] == major[:-1]) & (minor[1:] > minor[:-1]))


def _pieces_reordered(xp: ModuleType, order: Array, piece_row: Array, start: Array, end: Array,
                      ) -> tuple[Array, Array, Array]:
    """Touched pieces after the rows were reordered (``order``: new position ->
    old row): each piece's row renumbered, the pieces sorted by it."""
    n = len(order)
    inv = xp.zeros(n, dtype=xp.int64)
    inv[order] = xp.arange(n)
    piece_row = inv[piece_row]
    by_row = xp.argsort(piece_row)
    return piece_row[by_row], start[by_row], end[by_row]


def floor_div(x: Array, span: int) -> Array:
    """``x // span``: a shift when ``span`` is a power of two, as every table
    span and page size is (an arithmetic shift floors negative values too)."""
    if span & (span - 1) == 0 and span > 0:
        return x >> (span.bit_length() - 1)
    return x // span


def ceil_div(x: Array, span: int) -> Array:
    """``-(-x // span)``, the number of ``span`` blocks up to ``x``, rounded up."""
    return -floor_div(-x, span)


def mod(x: Array, span: int) -> Array:
    """``x % span`` (a mask for a power of two: the floored remainder, as %)."""
    if span & (span - 1) == 0 and span > 0:
        return x & (span - 1)
    return x % span


def _roundup(x: Array, a: int) -> Array:
    return ceil_div(x, a) * a


def zones(layout: Layout, scheme: str, options: ModelOptions) -> Zones:
    """Split every mapping into its five zones under ``scheme``."""
    xp = layout.xp
    i8 = xp.int8
    arch = layout.arch
    a, e = layout.row_addr, layout.row_end
    n = layout.n_rows
    pmd_lv = layout.level_index("pmd")
    # PMD_SIZE (what one PTE table covers) and PUD_SIZE (what one PMD table covers)
    pmd_size = arch.levels[0].table_span
    pud_size = arch.levels[pmd_lv].table_span if pmd_lv is not None else None
    pte_class = xp.zeros(n, dtype=xp.int64)
    prot_none = layout.row_prot == _PROT_NONE
    d = layout.row_d  # address of file offset 0 in this mapping

    def whole_windows(size: int) -> tuple[Array, Array, Array]:
        lo = _roundup(a, size)
        hi = floor_div(e, size) * size
        return lo, hi, lo < hi

    def nothing_shared() -> tuple[Array, Array]:
        return xp.full(n, Why.PRIVATE_SCHEME, dtype=i8), xp.full(n, Why.PRIVATE_SCHEME, dtype=i8)

    # zone bounds: [a, z1) private, [z1, z2) shared-PTE, [z2, z3) shared
    # upper, [z3, z4) shared-PTE, [z4, e) private; by default all private.
    # The reasons a row does not share (why_pmd, why_pte) are worked out only
    # when read (``why``).
    z1 = z2 = z3 = z4 = e
    upper = "pmd"
    attached_pte = False
    why: Callable[[], tuple[Array, Array]] = nothing_shared

    if scheme == "private":
        pass
    elif scheme == "mshare" and options.mshare_variant == "v3":
        upper = "mshare"
        ok = ~prot_none

        def mshare_why() -> tuple[Array, Array]:
            why_pmd = xp.where(ok, Why.SHARED, Why.PROT_NONE).astype(i8)
            return why_pmd, why_pmd.copy()

        why = mshare_why
        z1 = z2 = xp.where(ok, a, e)  # the whole mapping is the region's
    elif scheme == "mshare":  # ptshare: MAP_SHARED_PT, PTE tables only
        base = layout.row_leaf == 0
        aligned = (mod(a, pmd_size) == 0) & (mod(e - a, pmd_size) == 0)
        ok = base & aligned & ~prot_none

        def ptshare_why() -> tuple[Array, Array]:
            why_pte = xp.select(
                [prot_none, ~base, ~aligned], [Why.PROT_NONE, Why.NO_TABLES_AT_LEVEL, Why.PTSHARE_ALIGNMENT],
                Why.SHARED).astype(i8)
            return xp.full(n, Why.PRIVATE_SCHEME, dtype=i8), why_pte

        why = ptshare_why
        pte_class = xp.where(layout.row_auto, -1, d)
        z1 = xp.where(ok, a, e)  # the whole mapping shares PTE tables
        attached_pte = False
    elif scheme in ("hugetlb-pmd", "file-cached"):
        hugetlb = layout.row_backing == _HUGETLB
        share_size = arch.pmd_share_size
        # mm/hugetlb.c want_pmd_share(): VM_MAYSHARE, the PUD_SIZE window wholly
        # inside the vma (vma_shareable) and no uffd-wp/minor registration;
        # huge_pmd_share() only for PMD_SIZE pages (huge_pte_alloc).
        pmd_pages = layout.row_page == (share_size if share_size else -1)
        h_ok = hugetlb & pmd_pages & ~prot_none & ~layout.row_uffd_blocks_pmd_share
        if pud_size is not None:
            w_lo, w_hi, w_any = whole_windows(pud_size)
        else:
            w_lo, w_hi, w_any = a, a, xp.zeros(n, dtype=xp.bool_)

        def hugetlb_why() -> tuple[Array, Array]:
            above_pmd = layout.row_leaf > (pmd_lv if pmd_lv is not None else -1)
            h_why = xp.select(
                [~hugetlb, xp.full(n, share_size is None, dtype=xp.bool_), above_pmd, ~pmd_pages, prot_none,
                 layout.row_uffd_blocks_pmd_share, ~w_any],
                [Why.NOT_HUGETLB, Why.ARCH_NO_PMD_SHARE, Why.NO_TABLES_AT_LEVEL, Why.NOT_PMD_PAGES,
                 Why.PROT_NONE, Why.USERFAULTFD, Why.NO_WHOLE_WINDOW],
                Why.SHARED).astype(i8)
            return h_why, xp.where(hugetlb, Why.NO_TABLES_AT_LEVEL, Why.NOT_HUGETLB).astype(i8)

        why = hugetlb_why
        pmd_on = h_ok & w_any
        pte_on = xp.zeros(n, dtype=xp.bool_)
        p_lo = p_hi = a
        if scheme == "file-cached":
            attached_pte = True
            other = ~hugetlb
            eligible = (other & ~prot_none & ~layout.row_uffd_wp & ~layout.row_soft_dirty
                        & (layout.row_seg_size >= options.file_cached_threshold))
            has_pmd_tables = layout.row_leaf <= (pmd_lv if pmd_lv is not None else -1)
            congruent_pud = (mod(d, pud_size) == 0) if pud_size is not None else xp.zeros(n, dtype=xp.bool_)
            f_pmd = eligible & has_pmd_tables & congruent_pud & w_any
            b_lo, b_hi, b_any = whole_windows(pmd_size)
            base_pages = layout.row_leaf == 0
            congruent_pmd = mod(d, pmd_size) == 0
            pte_on = eligible & base_pages & congruent_pmd & b_any

            def file_cached_why() -> tuple[Array, Array]:
                h_why, h_why_pte = hugetlb_why()
                base_why = xp.select(
                    [prot_none, layout.row_uffd_wp, layout.row_soft_dirty,
                     layout.row_seg_size < options.file_cached_threshold],
                    [Why.PROT_NONE, Why.USERFAULTFD, Why.SOFT_DIRTY, Why.BELOW_THRESHOLD],
                    Why.SHARED).astype(i8)
                f_pmd_why = xp.select(
                    [base_why != Why.SHARED, ~has_pmd_tables, ~congruent_pud, ~w_any],
                    [base_why, Why.NO_TABLES_AT_LEVEL, Why.MISALIGNED, Why.NO_WHOLE_WINDOW],
                    Why.SHARED).astype(i8)
                f_pte_why = xp.select(
                    [base_why != Why.SHARED, ~base_pages, ~congruent_pmd, ~b_any],
                    [base_why, Why.NO_TABLES_AT_LEVEL, Why.MISALIGNED, Why.NO_WHOLE_WINDOW],
                    Why.SHARED).astype(i8)
                return (xp.where(other, f_pmd_why, h_why).astype(i8),
                        xp.where(other, f_pte_why, h_why_pte).astype(i8))

            why = file_cached_why
            pmd_on = xp.where(other, f_pmd, pmd_on)
            p_lo, p_hi = b_lo, b_hi
        z1 = xp.where(pte_on, p_lo, xp.where(pmd_on, w_lo, e))
        z2 = xp.where(pmd_on, w_lo, xp.where(pte_on, p_hi, e))
        z3 = xp.where(pmd_on, w_hi, z2)
        z4 = xp.where(pte_on, p_hi, z3)
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    return Zones(scheme=scheme, upper=upper, cols=(a, z1, z2, z3, z4, e), pte_key_class=pte_class,
                 attached_pte=attached_pte, why=why)


@dataclass(frozen=True)
class Parts:
    """Touched ranges cut by zones: sorted and disjoint within each group."""

    row: Array
    zone: Array
    start: Array
    end: Array
    row_is_part: bool = False
    """Part i is row i's (``row`` is 0, 1, 2, ...): per-row arrays are per-part as they are."""

    def of_row(self, values: Array) -> Array:
        """A per-row array, per part."""
        return values if self.row_is_part else values[self.row]


def cut(layout: Layout, z: Zones) -> Parts:
    """Intersect every touched piece with every zone of its mapping."""
    xp = layout.xp
    pr = layout.piece_row
    one_each = layout.piece_per_row
    nonempty = [z.cols[k] < z.cols[k + 1] for k in range(5)]
    if not (sum(ne.astype(xp.int64) for ne in nonempty) > 1).any():
        # every mapping lies in one zone (private: zone 0; mshare v3: zone 2):
        # the parts are the touched pieces, in their mapping's zone
        zone_of_row = xp.select(nonempty, list(range(5)), 0)
        return Parts(row=pr, zone=zone_of_row if one_each else zone_of_row[pr], start=layout.piece_start,
                     end=layout.piece_end, row_is_part=one_each)
    b = z.cols if one_each else [c[pr] for c in z.cols]  # per piece, the bounds of its mapping's zones
    active = [k for k in range(5) if nonempty[k].any()]  # zones of some mapping (the others cut nothing)
    s = xp.interleave([xp.maximum(layout.piece_start, b[k]) for k in active])
    e = xp.interleave([xp.minimum(layout.piece_end, b[k + 1]) for k in active])
    keep = s < e  # piece-major, zone-minor: stays sorted by address
    flat = xp.arange(len(active) * pr.size)[keep]  # piece x len(active) + i, zone active[i], of every part
    zone = xp.asarray(active, xp.int64)[flat % len(active)]
    return Parts(row=pr[flat // len(active)], zone=zone, start=s[keep], end=e[keep])


def _prev_in_run(xp: ModuleType, owner: Array, x: Array) -> Array:
    """Per element, ``x`` of the element before it when both have the same
    owner, else -1 (the first element of each owner's run)."""
    prev = xp.concatenate([xp.full(1, -1, dtype=xp.int64), x[:-1]])
    first = xp.concatenate([xp.ones(1, dtype=xp.bool_), owner[1:] != owner[:-1]])
    return xp.where(first, -1, prev)


def distinct_blocks(owner: Array, s: Array, e: Array, span: int, n_owners: int) -> Array:
    """Per owner, the number of distinct ``span``-blocks the ranges touch.

    Ranges must be sorted and disjoint within each owner, owners contiguous:
    then block-range ends are non-decreasing, and each range adds the blocks
    past its predecessor's last one.
    """
    xp = _xp.namespace_of(owner, s)
    if s.size == 0:
        return xp.zeros(n_owners, dtype=xp.int64)
    lo = floor_div(s, span)
    hi = ceil_div(e, span)
    prev = _prev_in_run(xp, owner, hi)
    return xp.group_sum(owner, xp.maximum(hi - xp.maximum(lo, prev), 0), n_owners)


def dedupe_within(owner: Array, lo: Array, hi: Array) -> tuple[Array, Array]:
    """Trim block ranges (sorted within each owner) so an owner counts a block once."""
    if lo.size == 0:
        return lo, hi
    xp = _xp.namespace_of(owner, lo)
    lo = xp.maximum(lo, _prev_in_run(xp, owner, hi))
    return lo, xp.maximum(hi, lo)


def merge_within(owner: Array, lo: Array, hi: Array) -> tuple[Array, Array, Array]:
    """Make block ranges disjoint within each owner (ranges may overlap and
    come in any order); returns (owner, lo, hi) sorted by owner, empty ranges
    dropped.  Owners must be dense ids >= 0, blocks >= 0."""
    if lo.size == 0:
        return owner, lo, hi
    xp = _xp.namespace_of(owner, lo)
    order = _order_by(xp, owner, lo)
    return _merge_sorted(xp, owner[order], lo[order], hi[order])


def _merge_sorted(xp: ModuleType, owner: Array, lo: Array, hi: Array) -> tuple[Array, Array, Array]:
    """merge_within for ranges already sorted by (owner, lo)."""
    if lo.size == 0:
        return owner, lo, hi
    big = int(hi.max()) + 1
    if xp.fits((int(owner.max()) + 1) * big):
        # running max of hi within each owner: offset owners apart, one cummax
        shifted = hi + owner * big
        run = xp.cummax(shifted) - owner * big
    else:  # pragma: no cover - block spaces beyond 2**62 / owners
        vals, own = hi.tolist(), owner.tolist()
        for i in range(1, len(vals)):
            if own[i] == own[i - 1]:
                vals[i] = max(vals[i], vals[i - 1])
        run = xp.asarray(vals, dtype=xp.int64)
    lo = xp.maximum(lo, _prev_in_run(xp, owner, run))
    keep = lo < hi
    return owner[keep], lo[keep], hi[keep]


def first_of(ids: Array, wanted: Array) -> Array:
    """For each id in ``wanted``, the index of its first occurrence in ``ids``."""
    xp = _xp.namespace_of(ids, wanted)
    uniq, first = xp.unique_index(ids)
    return first[xp.searchsorted(uniq, wanted)]


def _order_by(xp: ModuleType, major: Array, minor: Array, stable: bool = True) -> Array:
    """The order sorting by (major, minor): one sort of a combined key when
    it fits the backend's integers (a lexsort is several times slower).
    ``stable=False`` lets equal keys come in any order (a faster sort)."""
    lo, hi = int(minor.min()), int(minor.max())
    span = hi - lo + 1
    if int(major.min()) >= 0 and xp.fits((int(major.max()) + 1) * span):
        combined = major * span + (minor - lo)
        return xp.argsort(combined) if stable else xp.argsort_any(combined)
    return xp.lexsort((minor, major))


def union_and_shared(key: Array, lo: Array, hi: Array, weight: Array) -> tuple[int, int]:
    """Over block ranges of many owners: blocks covered at all, and blocks
    covered with total weight >= 2 (two or more sharers).

    ``key`` separates independent block spaces (one per sharing key).
    Weights are clipped to 2, which is all the threshold needs and keeps the
    running sum far from overflow.
    """
    swept = _sweep(key, lo, hi, weight)
    if swept is None:
        return 0, 0
    xp = _xp.namespace_of(key, lo)
    _, length, cover = swept
    return int(xp.where(cover > 0, length, 0).sum()), int(xp.where(cover >= 2, length, 0).sum())


def _sweep(key: Array, lo: Array, hi: Array, weight: Array,
           with_key: bool = False) -> tuple[Array | None, Array, Array] | None:
    """The elementary intervals between consecutive range ends, in (key,
    position) order: (each one's key if ``with_key``, its length, the total
    weight covering it); None when every range is empty.

    Every range has ended where one key's space gives way to the next: the
    interval between them is covered by nothing (its length is meaningless),
    so a sum of lengths where the cover is positive needs no key test."""
    xp = _xp.namespace_of(key, lo)
    keep = lo < hi
    if not keep.all():
        key, lo, hi, weight = key[keep], lo[keep], hi[keep], weight[keep]
    if lo.size == 0:
        return None
    w = xp.minimum(weight, 2)
    # Sweep the range ends in (key, position) order; the order among equal
    # (key, position) does not matter (no length lies between them).  When
    # (key, position, delta + 2) packs into one integer, one plain sort does
    # it: key, position - min and delta + 2 (0..4) in bit fields.
    p0 = int(lo.min())
    bits = (int(hi.max()) - p0).bit_length()
    if int(key.min()) >= 0 and xp.fits((int(key.max()) + 1) << (bits + 3)):
        base = key << bits
        packed = xp.sort(xp.concatenate([(((base + (lo - p0)) << 3) + (w + 2)),
                                         (((base + (hi - p0)) << 3) + (2 - w))]))
        delta = (packed & 7) - 2
        at = packed >> 3
        length = at[1:] - at[:-1]
        k = at[:-1] >> bits if with_key else None
    else:
        pos = xp.concatenate([lo, hi])
        kk = xp.concatenate([key, key])
        order = xp.lexsort((pos, kk))
        pos, delta = pos[order], xp.concatenate([w, -w])[order]
        length = pos[1:] - pos[:-1]
        k = kk[order][:-1] if with_key else None
    return k, length, xp.cumsum(delta)[:-1]


def key_ids(*cols: Array) -> Array:
    """Dense ids for rows of key columns, in the rows' lexicographic order.

    Column by column: each column's values (or their ranks, when the values
    are not small non-negative numbers) combined with the ids so far, ranked
    once at the end.  numpy's ``unique(axis=0)`` sorts rows as opaque byte
    strings and is two orders of magnitude slower.
    """
    xp = _xp.namespace_of(*cols)
    if cols[0].size == 0:
        return xp.zeros(0, dtype=xp.int64)
    ids = None
    for c in cols:
        if not (int(c.min()) >= 0 and int(c.max()) < (1 << 20)):
            c = _rank(xp, c)
        width = int(c.max()) + 1
        if ids is None:
            ids = c
        else:
            if not xp.fits((int(ids.max()) + 1) * width):
                ids = _rank(xp, ids)
            ids = ids * width + c
    return _rank(xp, ids)


def _rank(xp: ModuleType, values: Array) -> Array:
    """Each value's rank among the distinct values (order-preserving, dense).
    Values within a small range are ranked through a table of the range (no
    sort); others are sorted (``unique``)."""
    lo = int(values.min())
    span = int(values.max()) - lo + 1
    if span > 4 * values.size + 4096:
        return xp.unique_inverse(values)
    present = xp.zeros(span, dtype=xp.bool_)
    present[values - lo] = True
    return (xp.cumsum(present.astype(xp.int64)) - 1)[values - lo]


def compute(workload: Workload, scheme: str, options: ModelOptions | None = None,
            layout: Layout | None = None) -> SchemeResult:
    """Page tables of ``workload`` under ``scheme`` (see docs/semantics.md)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    options = options or workload.options
    layout = layout or Layout.from_workload(workload)
    z = zones(layout, scheme, options)
    return count(layout, z)


def count(layout: Layout, z: Zones) -> SchemeResult:
    """Count tables for a layout cut into zones."""
    xp = layout.xp
    i64 = xp.int64
    arch = layout.arch
    levels = arch.levels
    n_groups = len(layout.counts)
    parts = cut(layout, z)
    p_group = parts.of_row(layout.row_group)
    p_leaf = parts.of_row(layout.row_leaf)
    kind = xp.asarray(_ZONE_KIND, dtype=xp.int8)[parts.zone]
    pmd_i = layout.level_index("pmd")
    attach_i = layout.level_index("p4d") or len(levels) - 1
    # Lowest level whose table the process owns, per part.
    upper_own = attach_i if z.upper == "mshare" else (pmd_i if pmd_i is not None else 0) + 1
    own_min = xp.where(kind == 0, p_leaf, xp.where(kind == 1, xp.maximum(p_leaf, 1), upper_own))

    # per level name, per group: tables one process owns / links in (VmPTE)
    zero = xp.zeros(n_groups, dtype=i64)
    own: dict[str, Array] = {name: zero for name in LEVEL_NAMES}
    attached: dict[str, Array] = {name: zero for name in LEVEL_NAMES}
    for li, lv in enumerate(levels[:-1]):
        m = own_min <= li
        if m.all():  # (often, at the upper levels: no copies)
            own[lv.name] = distinct_blocks(p_group, parts.start, parts.end, lv.table_span, n_groups)
        else:
            own[lv.name] = distinct_blocks(p_group[m], parts.start[m], parts.end[m], lv.table_span, n_groups)
    own["pgd"] = xp.ones(n_groups, dtype=i64)

    shared_tables = zero_levels()
    physical = zero_levels()
    counts = layout.counts
    weight_of_row = layout.row_weight

    # --- shared PMD tables (hugetlb-pmd, file-cached): one per (key, file window)
    if z.upper == "pmd" and pmd_i is not None:
        m = kind == 2
        if m.any():
            rows = parts.row[m]
            span = levels[pmd_i].table_span
            attached["pmd"] = distinct_blocks(p_group[m], parts.start[m], parts.end[m], span, n_groups)
            d = layout.row_d[rows]
            shift = ceil_div(d, span)  # VA window w is file window w - shift
            lo, hi = dedupe_within(rows, floor_div(parts.start[m], span), ceil_div(parts.end[m], span))
            key = key_ids(layout.row_seg[rows], layout.row_prot[rows], mod(d, span))
            u, s = union_and_shared(key, lo - shift, hi - shift, weight_of_row[rows])
            physical["pmd"] += u
            shared_tables["pmd"] += s

    # --- shared PTE tables (file-cached PTE cache, ptshare)
    pte_span = levels[0].table_span
    m_pte = kind == 1
    if z.upper == "pmd" and z.scheme == "file-cached":
        m_pte = m_pte | ((kind == 2) & (p_leaf == 0))
    if m_pte.any():
        rows = parts.row[m_pte]
        if z.attached_pte:
            via = kind[m_pte] == 1
            attached["pte"] = distinct_blocks(
                p_group[m_pte][via], parts.start[m_pte][via], parts.end[m_pte][via], pte_span, n_groups)
        d = layout.row_d[rows]
        shift = ceil_div(d, pte_span)
        lo, hi = dedupe_within(rows, floor_div(parts.start[m_pte], pte_span), ceil_div(parts.end[m_pte], pte_span))
        cls = z.pte_key_class[rows]
        key = key_ids(layout.row_seg[rows], layout.row_prot[rows], cls)
        u, s = union_and_shared(key, lo - shift, hi - shift, weight_of_row[rows])
        physical["pte"] += u
        shared_tables["pte"] += s

    # --- mshare v3: one host tree per (segment, protection), over file offsets
    regions = 0
    if z.upper == "mshare":
        m = (kind == 2) & (parts.of_row(weight_of_row) > 0)  # a group of 0 processes attaches nothing
        if m.any():
            rows = parts.row[m]
            d = layout.row_d[rows]
            fs, fe = parts.start[m] - d, parts.end[m] - d
            key = key_ids(layout.row_seg[rows], layout.row_prot[rows])
            grp = layout.row_group[rows]
            # A process attaches a region once, whatever its mappings in it:
            # owners are (region, group), their ranges merged per owner.  One
            # sort by (owner, file offset) serves every level (a block index
            # is monotone in the offset); each owner's region and weight come
            # from a table indexed by the owner.
            oid = key_ids(key, grp)
            # (merging needs no particular order among equal (owner, offset))
            order = _order_by(xp, oid, fs, stable=False)
            oid, fs, fe, leaf = oid[order], fs[order], fe[order], p_leaf[m][order]
            n_owners = int(oid.max()) + 1
            key_of, group_of = xp.zeros(n_owners, dtype=i64), xp.zeros(n_owners, dtype=i64)
            key_of[oid] = key[order]  # every part of an owner has the owner's region and group
            group_of[oid] = grp[order]
            weight_of = xp.minimum(xp.asarray(counts, dtype=i64), 2)[group_of]
            for li, lv in enumerate(levels[:-1]):
                lm = leaf <= li
                lo, hi = floor_div(fs[lm], lv.table_span), ceil_div(fe[lm], lv.table_span)
                if li < attach_i:
                    owner, lo, hi = _merge_sorted(xp, oid[lm], lo, hi)
                    u, s = union_and_shared(key_of[owner], lo, hi, weight_of[owner])
                else:
                    # the host's own P4D tables: counted once, but no process walks them
                    u, _ = union_and_shared(key_of[oid[lm]], lo, hi, xp.ones(lo.size, dtype=i64))
                    s = 0
                physical[lv.name] += u
                shared_tables[lv.name] += s
            # the host mm's own PGD, one per region that anything touched
            regions = int(_rank(xp, key).max()) + 1
            physical["pgd"] += regions

    table_bytes = {lv.name: lv.table_bytes for lv in levels}
    table_bytes["pgd"] = arch.pgd_bytes(layout.pti)
    # Python ints from here on: a count of 10**9 processes times their tables
    # overflows int64 bytes (1 PiB segment: 2**38 tables x 4 KiB x 10**9).
    own_l = [own[name].tolist() for name in LEVEL_NAMES]
    att_l = [attached[name].tolist() for name in LEVEL_NAMES]
    # per group, bytes one process owns / shows in VmPTE: below 2**62 (a few
    # levels of at most 2**45 tables of 4 KiB), so array arithmetic is exact
    per_process = sum((own[name] * table_bytes.get(name, 0) for name in LEVEL_NAMES), zero).tolist()
    vmpte = sum(((own[name] + attached[name]) * table_bytes[name] for name in LEVEL_NAMES
                 if name in VMPTE_LEVELS and name in table_bytes), zero).tolist()
    # per group, as columns: the GroupResult objects are built when read
    groups = GroupResults(layout.group_names, counts, own_l, att_l, per_process, vmpte)
    for name, col in zip(LEVEL_NAMES, own_l):
        physical[name] += sum(map(mul, counts, col))
    physical_bytes = sum(physical[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
    shared_bytes = sum(shared_tables[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
    return SchemeResult(scheme=z.scheme, tables=physical, shared_tables=shared_tables,
                        physical_bytes=physical_bytes, shared_bytes=shared_bytes,
                        groups=groups, mshare_regions=regions)


def resident_bytes(layout: Layout) -> dict[int, int]:
    """Per segment (index in ``workload.segments``), bytes of the segment that
    any process touches: the union of touched file ranges.

    Pieces are page-aligned, so the union in bytes is the pages' memory.
    """
    if layout.piece_row.size == 0:
        return {}
    xp = layout.xp
    rows = layout.piece_row
    d = layout.row_d if layout.piece_per_row else layout.row_d[rows]
    seg = layout.row_seg if layout.piece_per_row else layout.row_seg[rows]
    # every segment at once: the segment is the key of its own block space
    swept = _sweep(seg, layout.piece_start - d, layout.piece_end - d, xp.ones(rows.size, dtype=xp.int64),
                   with_key=True)
    if swept is None:
        return {}
    k, length, cover = swept
    assert k is not None  # (with_key)
    covered = cover > 0
    per_seg = xp.group_sum(k[covered], length[covered], int(seg.max()) + 1).tolist()
    present = xp.zeros(len(per_seg), dtype=xp.bool_)  # the segments with touched pieces
    present[seg] = True
    return {s: per_seg[s] for s, p in enumerate(present.tolist()) if p}
