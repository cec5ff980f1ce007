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
workload runs the same code on :mod:`ptcalc.xp`'s pure-Python arrays instead
of numpy (identical results; importing numpy would cost more than the run).

>>> from ptcalc.arch import X86_64
>>> from ptcalc.workload import Host, Mapping, ProcessGroup, Segment, Workload
>>> GiB = 1 << 30
>>> w = Workload(host=Host(memory=None, arch=X86_64),
...              segments={"s": Segment("s", GiB, "shmem", 4096)},
...              groups=(ProcessGroup("p", 1, (Mapping("s", 0, GiB, 1 << 40, touched=((0, GiB),)),)),))
>>> r = compute(w, "private")
>>> r.tables["pte"], r.tables["pmd"], r.tables["pud"], r.groups[0].vmpte_bytes // 1024
(512, 1, 1, 2056)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from types import ModuleType
from typing import Any

from ptcalc import xp as _xp
from ptcalc.arch import LEVEL_NAMES, VMPTE_LEVELS, Arch
from ptcalc.results import GroupResult, SchemeResult, zero_levels
from ptcalc.workload import BACKINGS, PROTECTIONS, ModelOptions, Workload

SCHEMES: tuple[str, ...] = ("private", "hugetlb-pmd", "mshare", "file-cached")

Array = Any
"""A 1-D array of the layout's backend (:mod:`ptcalc.xp`): numpy or pure Python."""

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
    range is sorted and disjoint.  The arrays belong to one :mod:`ptcalc.xp`
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
    row_index: list[tuple[int, int]]  # (group index, mapping index in group)
    # per touched piece
    piece_row: Array
    piece_start: Array
    piece_end: Array

    @classmethod
    def from_workload(cls, w: Workload, backend: str | None = "numpy") -> Layout:
        """Flatten ``w``.  ``backend``: ``numpy`` (the default, for callers
        that use numpy on the arrays), ``python``, or None to choose by size
        (:func:`ptcalc.xp.for_size`: pure Python for a few mappings)."""
        arch = w.arch
        seg_names = list(w.segments)
        seg_id = {n: i for i, n in enumerate(seg_names)}
        segs = list(w.segments.values())
        # Column by column (one comprehension each), not row by row: 100,000
        # mappings cost a few list passes, not a million numpy item stores.
        gm = [(gi, mi, m) for gi, g in enumerate(w.groups) for mi, m in enumerate(g.mappings)]
        n = len(gm)
        n_pieces = sum(len(m.touched) for _, _, m in gm)
        xp = _xp.for_size(n + n_pieces) if backend is None else _xp.backend(backend)
        i64, b8 = xp.int64, xp.bool_
        group = [gi for gi, _, _ in gm]
        addr = [m.address for _, _, m in gm]
        # rows sorted by (group, address): a stable sort on (group, address) keys
        order = xp.lexsort((xp.asarray(addr, i64), xp.asarray(group, i64))).tolist() if n else []

        def col(values: list[Any], dtype: Any = i64) -> Array:
            return xp.asarray([values[i] for i in order], dtype)

        ms = [gm[i][2] for i in order]
        seg = [seg_id[m.segment] for m in ms]
        # per segment, then gathered per row
        seg_page = [s.page_size for s in segs]
        seg_leaf = [arch.leaf_index(s.page_size) for s in segs]
        seg_backing = [_BACKING[s.backing] for s in segs]
        seg_size = [s.size for s in segs]
        p_row = [r for r, m in enumerate(ms) for _ in m.touched]
        p_start = [m.address + s for m in ms for s, _ in m.touched]
        p_end = [m.address + e for m in ms for _, e in m.touched]
        return cls(
            arch=arch,
            pti=w.host.pti,
            counts=[g.count for g in w.groups],
            group_names=[g.name for g in w.groups],
            row_group=col(group),
            row_seg=xp.asarray(seg, i64),
            row_addr=xp.asarray([m.address for m in ms], i64),
            row_end=xp.asarray([m.address + m.size for m in ms], i64),
            row_off=xp.asarray([m.offset for m in ms], i64),
            row_page=xp.asarray([seg_page[s] for s in seg], i64),
            row_leaf=xp.asarray([seg_leaf[s] for s in seg], i64),
            row_backing=xp.asarray([seg_backing[s] for s in seg], i64),
            row_prot=xp.asarray([_PROT[m.protection] for m in ms], i64),
            # uffd_disable_huge_pmd_share(): VM_UFFD_WP | VM_UFFD_MINOR
            row_uffd_blocks_pmd_share=xp.asarray([m.userfaultfd in ("wp", "minor") for m in ms], b8),
            row_uffd_wp=xp.asarray([m.userfaultfd == "wp" for m in ms], b8),
            row_soft_dirty=xp.asarray([bool(m.soft_dirty) for m in ms], b8),
            row_seg_size=xp.asarray([seg_size[s] for s in seg], i64),
            row_auto=xp.asarray([bool(m.auto) for m in ms], b8),
            row_index=[(gm[i][0], gm[i][1]) for i in order],
            piece_row=xp.asarray(p_row, i64),
            piece_start=xp.asarray(p_start, i64),
            piece_end=xp.asarray(p_end, i64),
        )

    @property
    def xp(self) -> ModuleType:
        """The array backend of this layout (numpy or pure Python)."""
        return _xp.namespace_of(self.row_addr)

    @property
    def n_rows(self) -> int:
        return int(self.row_addr.shape[0])

    def level_index(self, name: str) -> int | None:
        for i, lv in enumerate(self.arch.levels):
            if lv.name == name:
                return i
        return None


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
    why_pmd: Array
    why_pte: Array
    pte_key_class: Array  # ptshare: address - offset, or -1 for auto; else 0
    attached_pte: bool  # shared-PTE tables count in VmPTE (file-cached, not ptshare)

    @cached_property
    def bounds(self) -> Any:
        """Row r's zone boundaries ``bounds[r][0..5]``: a (rows, 6) numpy
        array, or a list of 6-tuples for a pure-Python layout."""
        if _xp.namespace_of(self.cols[0]).NAME == "numpy":
            import numpy as np

            return np.stack(self.cols, axis=1)
        return list(zip(*(c.tolist() for c in self.cols)))


def _roundup(x: Array, a: int) -> Array:
    return -((-x) // a) * a


def zones(layout: Layout, scheme: str, options: ModelOptions) -> Zones:
    """Split every mapping into its five zones under ``scheme``."""
    xp = layout.xp
    i8 = xp.int8
    arch = layout.arch
    a, e, off = layout.row_addr, layout.row_end, layout.row_off
    n = layout.n_rows
    pmd_lv = layout.level_index("pmd")
    # PMD_SIZE (what one PTE table covers) and PUD_SIZE (what one PMD table covers)
    pmd_size = arch.levels[0].table_span
    pud_size = arch.levels[pmd_lv].table_span if pmd_lv is not None else None
    why_pmd = xp.full(n, Why.PRIVATE_SCHEME, dtype=i8)
    why_pte = xp.full(n, Why.PRIVATE_SCHEME, dtype=i8)
    pte_class = xp.zeros(n, dtype=xp.int64)
    prot_none = layout.row_prot == _PROT_NONE
    d = a - off  # address of file offset 0 in this mapping

    def whole_windows(size: int) -> tuple[Array, Array, Array]:
        lo = _roundup(a, size)
        hi = (e // size) * size
        return lo, hi, lo < hi

    # zone bounds: [a, z1) private, [z1, z2) shared-PTE, [z2, z3) shared
    # upper, [z3, z4) shared-PTE, [z4, e) private; by default all private
    z1 = z2 = z3 = z4 = e
    upper = "pmd"
    attached_pte = False

    if scheme == "private":
        pass
    elif scheme == "mshare" and options.mshare_variant == "v3":
        upper = "mshare"
        ok = ~prot_none
        why_pmd = xp.where(ok, Why.SHARED, Why.PROT_NONE).astype(i8)
        why_pte = why_pmd.copy()
        z1 = z2 = xp.where(ok, a, e)  # the whole mapping is the region's
    elif scheme == "mshare":  # ptshare: MAP_SHARED_PT, PTE tables only
        base = layout.row_leaf == 0
        aligned = (a % pmd_size == 0) & ((e - a) % pmd_size == 0)
        ok = base & aligned & ~prot_none
        why_pte = xp.select(
            [prot_none, ~base, ~aligned], [Why.PROT_NONE, Why.NO_TABLES_AT_LEVEL, Why.PTSHARE_ALIGNMENT],
            Why.SHARED).astype(i8)
        why_pmd = xp.full(n, Why.PRIVATE_SCHEME, dtype=i8)
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
        above_pmd = layout.row_leaf > (pmd_lv if pmd_lv is not None else -1)
        h_why = xp.select(
            [~hugetlb, xp.full(n, share_size is None, dtype=xp.bool_), above_pmd, ~pmd_pages, prot_none,
             layout.row_uffd_blocks_pmd_share, ~w_any],
            [Why.NOT_HUGETLB, Why.ARCH_NO_PMD_SHARE, Why.NO_TABLES_AT_LEVEL, Why.NOT_PMD_PAGES, Why.PROT_NONE,
             Why.USERFAULTFD, Why.NO_WHOLE_WINDOW],
            Why.SHARED).astype(i8)
        pmd_on = h_ok & w_any
        why_pmd = h_why
        why_pte = xp.where(hugetlb, Why.NO_TABLES_AT_LEVEL, Why.NOT_HUGETLB).astype(i8)
        pte_on = xp.zeros(n, dtype=xp.bool_)
        p_lo = p_hi = a
        if scheme == "file-cached":
            attached_pte = True
            other = ~hugetlb
            eligible = (other & ~prot_none & ~layout.row_uffd_wp & ~layout.row_soft_dirty
                        & (layout.row_seg_size >= options.file_cached_threshold))
            base_why = xp.select(
                [prot_none, layout.row_uffd_wp, layout.row_soft_dirty,
                 layout.row_seg_size < options.file_cached_threshold],
                [Why.PROT_NONE, Why.USERFAULTFD, Why.SOFT_DIRTY, Why.BELOW_THRESHOLD],
                Why.SHARED).astype(i8)
            has_pmd_tables = layout.row_leaf <= (pmd_lv if pmd_lv is not None else -1)
            congruent_pud = (d % pud_size == 0) if pud_size is not None else xp.zeros(n, dtype=xp.bool_)
            f_pmd = eligible & has_pmd_tables & congruent_pud & w_any
            f_pmd_why = xp.select(
                [base_why != Why.SHARED, ~has_pmd_tables, ~congruent_pud, ~w_any],
                [base_why, Why.NO_TABLES_AT_LEVEL, Why.MISALIGNED, Why.NO_WHOLE_WINDOW],
                Why.SHARED).astype(i8)
            b_lo, b_hi, b_any = whole_windows(pmd_size)
            base_pages = layout.row_leaf == 0
            congruent_pmd = d % pmd_size == 0
            pte_on = eligible & base_pages & congruent_pmd & b_any
            f_pte_why = xp.select(
                [base_why != Why.SHARED, ~base_pages, ~congruent_pmd, ~b_any],
                [base_why, Why.NO_TABLES_AT_LEVEL, Why.MISALIGNED, Why.NO_WHOLE_WINDOW],
                Why.SHARED).astype(i8)
            why_pmd = xp.where(other, f_pmd_why, h_why).astype(i8)
            why_pte = xp.where(other, f_pte_why, why_pte).astype(i8)
            pmd_on = xp.where(other, f_pmd, pmd_on)
            p_lo, p_hi = b_lo, b_hi
        z1 = xp.where(pte_on, p_lo, xp.where(pmd_on, w_lo, e))
        z2 = xp.where(pmd_on, w_lo, xp.where(pte_on, p_hi, e))
        z3 = xp.where(pmd_on, w_hi, z2)
        z4 = xp.where(pte_on, p_hi, z3)
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    return Zones(scheme=scheme, upper=upper, cols=(a, z1, z2, z3, z4, e), why_pmd=why_pmd, why_pte=why_pte,
                 pte_key_class=pte_class, attached_pte=attached_pte)


@dataclass(frozen=True)
class Parts:
    """Touched ranges cut by zones: sorted and disjoint within each group."""

    row: Array
    zone: Array
    start: Array
    end: Array


def cut(layout: Layout, z: Zones) -> Parts:
    """Intersect every touched piece with every zone of its mapping."""
    xp = layout.xp
    pr = layout.piece_row
    b = [c[pr] for c in z.cols]  # per piece, the bounds of its mapping's zones
    s = xp.interleave([xp.maximum(layout.piece_start, b[k]) for k in range(5)])
    e = xp.interleave([xp.minimum(layout.piece_end, b[k + 1]) for k in range(5)])
    keep = s < e  # piece-major, zone-minor: stays sorted by address
    zone = xp.interleave([xp.full(pr.size, k, dtype=xp.int8) for k in range(5)])
    rows = xp.interleave([pr] * 5)
    return Parts(row=rows[keep], zone=zone[keep], start=s[keep], end=e[keep])


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
    lo = s // span
    hi = -((-e) // span)
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
    order = xp.lexsort((lo, owner))
    owner, lo, hi = owner[order], lo[order], hi[order]
    big = int(hi.max()) + 1
    if int(owner.max()) * big < (1 << 62):
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


def union_and_shared(key: Array, lo: Array, hi: Array, weight: Array) -> tuple[int, int]:
    """Over block ranges of many owners: blocks covered at all, and blocks
    covered with total weight >= 2 (two or more sharers).

    ``key`` separates independent block spaces (one per sharing key).
    Weights are clipped to 2, which is all the threshold needs and keeps the
    running sum far from overflow.
    """
    xp = _xp.namespace_of(key, lo)
    keep = lo < hi
    if not keep.any():
        return 0, 0
    key, lo, hi, w = key[keep], lo[keep], hi[keep], xp.minimum(weight[keep], 2)
    pos = xp.concatenate([lo, hi])
    delta = xp.concatenate([w, -w])
    k = xp.concatenate([key, key])
    order = xp.lexsort((pos, k))
    pos, delta, k = pos[order], delta[order], k[order]
    cover = xp.cumsum(delta)
    length = pos[1:] - pos[:-1]
    same = k[1:] == k[:-1]
    c = cover[:-1]
    union = int(length[same & (c > 0)].sum())
    shared = int(length[same & (c >= 2)].sum())
    return union, shared


def key_ids(*cols: Array) -> Array:
    """Dense ids for rows of key columns, in the rows' lexicographic order.

    Column by column (the rank of each column's values, combined with the
    ids so far and re-ranked): numpy's ``unique(axis=0)`` sorts rows as
    opaque byte strings and is two orders of magnitude slower.
    """
    xp = _xp.namespace_of(*cols)
    if cols[0].size == 0:
        return xp.zeros(0, dtype=xp.int64)
    ids = xp.unique_inverse(cols[0])
    for c in cols[1:]:
        inv = xp.unique_inverse(c)
        ids = xp.unique_inverse(ids * (int(inv.max()) + 1) + inv)
    return ids


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
    p_group = layout.row_group[parts.row]
    p_leaf = layout.row_leaf[parts.row]
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
        own[lv.name] = distinct_blocks(p_group[m], parts.start[m], parts.end[m], lv.table_span, n_groups)
    own["pgd"] = xp.ones(n_groups, dtype=i64)

    shared_tables = zero_levels()
    physical = zero_levels()
    counts = layout.counts
    weight_of_row = (xp.minimum(xp.asarray(counts, dtype=i64), 2)[layout.row_group] if layout.n_rows
                     else xp.zeros(0, dtype=i64))

    # --- shared PMD tables (hugetlb-pmd, file-cached): one per (key, file window)
    if z.upper == "pmd" and pmd_i is not None:
        m = kind == 2
        if m.any():
            rows = parts.row[m]
            span = levels[pmd_i].table_span
            attached["pmd"] = distinct_blocks(p_group[m], parts.start[m], parts.end[m], span, n_groups)
            d = layout.row_addr[rows] - layout.row_off[rows]
            shift = -((-d) // span)  # ceil(d / span): VA window w is file window w - shift
            lo, hi = dedupe_within(rows, parts.start[m] // span, -((-parts.end[m]) // span))
            key = key_ids(layout.row_seg[rows], layout.row_prot[rows], d % span)
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
        d = layout.row_addr[rows] - layout.row_off[rows]
        shift = -((-d) // pte_span)
        lo, hi = dedupe_within(rows, parts.start[m_pte] // pte_span, -((-parts.end[m_pte]) // pte_span))
        cls = z.pte_key_class[rows]
        key = key_ids(layout.row_seg[rows], layout.row_prot[rows], cls)
        u, s = union_and_shared(key, lo - shift, hi - shift, weight_of_row[rows])
        physical["pte"] += u
        shared_tables["pte"] += s

    # --- mshare v3: one host tree per (segment, protection), over file offsets
    regions = 0
    if z.upper == "mshare":
        m = (kind == 2) & (weight_of_row[parts.row] > 0)  # a group of 0 processes attaches nothing
        if m.any():
            rows = parts.row[m]
            d = layout.row_addr[rows] - layout.row_off[rows]
            fs, fe = parts.start[m] - d, parts.end[m] - d
            key = key_ids(layout.row_seg[rows], layout.row_prot[rows])
            grp = layout.row_group[rows]
            leaf = p_leaf[m]
            w_group = xp.minimum(xp.asarray(counts, dtype=i64), 2)
            for li, lv in enumerate(levels[:-1]):
                lm = leaf <= li
                lo, hi = fs[lm] // lv.table_span, -((-fe[lm]) // lv.table_span)
                if li < attach_i:
                    # a process attaches a region once, whatever its mappings in it
                    oid = key_ids(key[lm], grp[lm])
                    owner, lo, hi = merge_within(oid, lo, hi)
                    first = first_of(oid, owner)
                    u, s = union_and_shared(key[lm][first], lo, hi, w_group[grp[lm][first]])
                else:
                    # the host's own P4D tables: counted once, but no process walks them
                    u, _ = union_and_shared(key[lm], lo, hi, xp.ones(lo.size, dtype=i64))
                    s = 0
                physical[lv.name] += u
                shared_tables[lv.name] += s
            # the host mm's own PGD, one per region that anything touched
            regions = int(xp.unique(key).size)
            physical["pgd"] += regions

    table_bytes = {lv.name: lv.table_bytes for lv in levels}
    table_bytes["pgd"] = arch.pgd_bytes(layout.pti)
    # Python ints from here on: a count of 10**9 processes times their tables
    # overflows int64 bytes (1 PiB segment: 2**38 tables x 4 KiB x 10**9).
    own_l = {name: own[name].tolist() for name in LEVEL_NAMES}
    att_l = {name: attached[name].tolist() for name in LEVEL_NAMES}
    groups: list[GroupResult] = []
    for gi in range(n_groups):
        own_g = {name: int(own_l[name][gi]) for name in LEVEL_NAMES}
        att_g = {name: int(att_l[name][gi]) for name in LEVEL_NAMES}
        per_process = sum(own_g[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
        vmpte = sum((own_g[n] + att_g[n]) * table_bytes[n] for n in VMPTE_LEVELS if n in table_bytes)
        groups.append(GroupResult(
            name=layout.group_names[gi], count=counts[gi], own_tables=own_g, attached_tables=att_g,
            per_process_bytes=per_process, vmpte_bytes=vmpte))
        for name in LEVEL_NAMES:
            physical[name] += counts[gi] * own_g[name]
    physical_bytes = sum(physical[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
    shared_bytes = sum(shared_tables[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
    return SchemeResult(scheme=z.scheme, tables=physical, shared_tables=shared_tables,
                        physical_bytes=physical_bytes, shared_bytes=shared_bytes,
                        groups=tuple(groups), mshare_regions=regions)


def resident_bytes(layout: Layout) -> dict[int, int]:
    """Per segment (index in ``workload.segments``), bytes of the segment that
    any process touches: the union of touched file ranges.

    Pieces are page-aligned, so the union in bytes is the pages' memory.
    """
    if layout.piece_row.size == 0:
        return {}
    xp = layout.xp
    rows = layout.piece_row
    d = layout.row_addr[rows] - layout.row_off[rows]
    seg = layout.row_seg[rows]
    # every segment at once: the segment is the key of its own block space
    fs, fe = layout.piece_start - d, layout.piece_end - d
    out: dict[int, int] = {}
    for s in xp.unique(seg).tolist():
        m = seg == s
        u, _ = union_and_shared(xp.zeros(int(m.sum()), dtype=xp.int64), fs[m], fe[m],
                                xp.ones(int(m.sum()), dtype=xp.int64))
        out[int(s)] = u
    return out
