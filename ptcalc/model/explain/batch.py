"""Candidate fixes of single mappings, measured together (``rules._Fixer``).

A fix of one mapping (a move, a grow, a flag or protection change) changes
one layout row.  The model's physical tables are a sum (``tables.count_tally``):

    physical[level] = sum over groups of count x own[level] + the shared tables' unions

and a group's own tables at a level are the distinct blocks its rows' owned
parts touch, a pool's tables the distinct (key, file block) pairs its
ranges touch (ranges of groups of no process left out).  Changing row r of
group g changes g's own blocks and the pools r's old and new ranges are in,
nothing else (zones are per row: ``model.schemes``).  So, with C(x) the
number of *rows* whose ranges cover block x (a row's ranges made disjoint
first), the blocks only r covers are ``{x in R_old: C(x) = 1}`` and the
blocks r's new ranges would add are ``{x in R_new: C(x) = 0}`` plus
``{x in R_new and R_old: C(x) = 1}``:

    after = before + sum over levels of bytes x (count x own delta + pool delta)

The new rows' zones, parts and keyed blocks come from the model's own code
(``zones``, ``tally``, ``shared_pmd_blocks``, ``shared_pte_blocks``) run on
a layout of all the candidate rows at once; the measures are prefix sums
over the elementary intervals of C, looked up by binary search.  Cost:
O((rows + candidates) log) in numpy for all candidates together, where
evaluating the changed workload once per candidate was O(rows) each.
``tests/test_explain_fixes.py`` requires the same figure as that
evaluation on generated workloads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptcalc.model.intervals import ceil_div, dedupe_within, floor_div, key_ids
from ptcalc.model.layout import Layout
from ptcalc.model.schemes import zones
from ptcalc.model.tables import KeyedBlocks, Tally, shared_pmd_blocks, shared_pte_blocks, tally

I64 = np.int64
_LIMIT = 1 << 62


class Unsupported(Exception):
    """The batch cannot measure these candidates (evaluate them one by one)."""


@dataclass(frozen=True)
class Rows:
    """Candidate rows: per candidate, the row it replaces and the new row's fields."""

    source: np.ndarray
    addr: np.ndarray
    size: np.ndarray
    off: np.ndarray
    prot: np.ndarray
    uffd_pmd: np.ndarray
    uffd_wp: np.ndarray
    soft_dirty: np.ndarray
    auto: np.ndarray
    shift: np.ndarray
    """How far the row's touched pieces move (absolute addresses)."""


def _pack(key: np.ndarray, pos: np.ndarray, lo: int, span: int) -> np.ndarray:
    return key * span + (pos - lo)


class Cover:
    """C(x) over (key, block): how many rows' ranges cover each block, as
    elementary intervals with prefix measures of C = 0 and C = 1."""

    def __init__(self, key: np.ndarray, lo: np.ndarray, hi: np.ndarray, pmin: int, pmax: int) -> None:
        self.pmin = pmin - 1
        self.span = pmax - pmin + 3
        n_keys = int(key.max()) + 1 if key.size else 1
        if n_keys * self.span >= _LIMIT:
            raise Unsupported("block numbers too wide to pack")
        keep = lo < hi
        key, lo, hi = key[keep], lo[keep], hi[keep]
        ev = np.concatenate([_pack(key, lo, self.pmin, self.span), _pack(key, hi, self.pmin, self.span)])
        d = np.concatenate([np.ones(lo.size, I64), np.full(lo.size, -1, I64)])
        order = np.argsort(ev, kind="stable")
        ev, c = ev[order], np.cumsum(d[order])
        last = np.ones(ev.size, bool)
        last[:-1] = ev[1:] != ev[:-1]
        self.b = ev[last]  # boundaries
        self.c = c[last]  # C on [b[i], b[i+1]); 0 after the last
        seg = np.diff(self.b)
        zero = np.zeros(1, I64)
        self.p0 = np.concatenate([zero, np.cumsum(np.where(self.c[:-1] == 0, seg, 0))])
        self.p1 = np.concatenate([zero, np.cumsum(np.where(self.c[:-1] == 1, seg, 0))])

    def measure(self, j: int, key: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Per point, the measure of C = j below it (differences within one key are exact)."""
        px = _pack(key, pos, self.pmin, self.span)
        if self.b.size == 0:
            return px if j == 0 else np.zeros(px.size, I64)
        i = np.searchsorted(self.b, px, side="right") - 1
        before = i < 0
        ic = np.maximum(i, 0)
        p = self.p0 if j == 0 else self.p1
        inside = p[ic] + np.where(self.c[ic] == j, px - self.b[ic], 0)
        if j == 0:
            return np.where(before, px - self.b[0], inside)
        return np.where(before, 0, inside)

    def between(self, j: int, key: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Per range, the measure of C = j in ``[lo, hi)``."""
        if lo.size == 0:
            return np.zeros(0, I64)
        return self.measure(j, key, hi) - self.measure(j, key, lo)


def _intersections(owner: np.ndarray, key: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                   owner2: np.ndarray, key2: np.ndarray, lo2: np.ndarray, hi2: np.ndarray,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (owner, key): the intersection of two sets of ranges, each
    disjoint within its (owner, key): (owner, key, lo, hi) of the pieces."""
    k_all = key_ids(np.concatenate([owner, owner2]), np.concatenate([key, key2]))
    n1, n2 = lo.size, lo2.size
    ok = np.concatenate([k_all[:n1], k_all[:n1], k_all[n1:], k_all[n1:]])
    del k_all
    pos = np.concatenate([lo, hi, lo2, hi2])
    order = np.lexsort((pos, ok))
    pos, ok = pos[order], ok[order]
    # ranges of the first set open (+1 at a lo, -1 at a hi: the first n1
    # events are its los, the next n1 its his), then of the second
    a = np.cumsum((order < n1).view(np.int8) - ((order >= n1) & (order < 2 * n1)).view(np.int8), dtype=I64)
    b = np.cumsum(((order >= 2 * n1) & (order < 2 * n1 + n2)).view(np.int8) - (order >= 2 * n1 + n2).view(np.int8),
                  dtype=I64)
    m = (a[:-1] > 0) & (b[:-1] > 0) & (ok[1:] == ok[:-1]) & (pos[1:] > pos[:-1])
    del a, b, ok
    # each piece's owner and key: those of the event it starts at (no
    # reordered copy of every event's)
    at = order[:-1][m]
    first = at < 2 * n1
    i1 = at[first] % max(n1, 1)
    i2 = (at[~first] - 2 * n1) % max(n2, 1)
    own = np.empty(at.size, np.result_type(owner, owner2))
    kk = np.empty(at.size, np.result_type(key, key2))
    own[first], own[~first] = owner[i1], owner2[i2]
    kk[first], kk[~first] = key[i1], key2[i2]
    return own, kk, pos[:-1][m], pos[1:][m]


def _rows_disjoint(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block ranges made disjoint within each owner (sorted within it, as parts are)."""
    return dedupe_within(owner, lo, hi)


def _excl_delta(cover: Cover, n: int, old: tuple[np.ndarray, ...], new: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per candidate, |R_new minus the others| - |R_old minus the others|
    (``old``/``new``: candidate, key, lo, hi of its ranges, disjoint per candidate)."""
    oc, ok, olo, ohi = old
    nc, nk, nlo, nhi = new
    out = np.zeros(n, I64)
    np.add.at(out, oc, -cover.between(1, ok, olo, ohi))
    np.add.at(out, nc, cover.between(0, nk, nlo, nhi))
    ic, ik, ilo, ihi = _intersections(nc, nk, nlo, nhi, oc, ok, olo, ohi)
    np.add.at(out, ic, cover.between(1, ik, ilo, ihi))
    return out


def candidate_layout(lay: Layout, segments: list, cand: Rows) -> Layout:
    """Every candidate row as a layout of its own (candidate i: group i)."""
    q = cand.source.size
    piece_row = lay.piece_row
    bounds = np.searchsorted(piece_row, np.arange(lay.n_rows + 1))
    first, n_p = bounds[cand.source], bounds[cand.source + 1] - bounds[cand.source]
    p_row = np.repeat(np.arange(q), n_p)
    within = np.arange(p_row.size) - np.repeat(np.cumsum(n_p) - n_p, n_p)
    src = first[p_row] + within
    shift = cand.shift[p_row]
    return Layout.assemble(
        lay.pti, [1] * q, [""] * q, lay.arch, segments,
        row_group=np.arange(q, dtype=I64), row_seg=lay.row_seg[cand.source], row_addr=cand.addr,
        row_end=cand.addr + cand.size, row_off=cand.off, row_prot=cand.prot,
        row_uffd_blocks_pmd_share=cand.uffd_pmd, row_uffd_wp=cand.uffd_wp, row_soft_dirty=cand.soft_dirty,
        row_auto=cand.auto, row_mi=np.zeros(q, I64), piece_row=p_row,
        piece_start=lay.piece_start[src] + shift, piece_end=lay.piece_end[src] + shift)


def _ranges_of(rows: np.ndarray, source: np.ndarray, *cols: np.ndarray) -> tuple[np.ndarray, ...]:
    """The ranges (sorted by row) of each candidate's source row: (candidate, *cols)."""
    bounds = np.searchsorted(rows, np.arange(int(source.max()) + 2 if source.size else 1))
    first, n = bounds[source], bounds[source + 1] - bounds[source]
    c = np.repeat(np.arange(source.size), n)
    idx = first[c] + (np.arange(c.size) - np.repeat(np.cumsum(n) - n, n))
    return (c, *(x[idx] for x in cols))


def physical_after(lay: Layout, t: Tally, before: int, scheme: str, options: object, segments: list,
                   cand: Rows) -> list[int]:
    """Physical page-table bytes of the workload with each candidate row in
    place of its source row (see the module docstring)."""
    if t.zones.upper == "mshare":
        raise Unsupported("mshare regions")
    q = cand.source.size
    if q == 0:
        return []
    cl = candidate_layout(lay, segments, cand)
    tc = tally(cl, zones(cl, scheme, options))  # type: ignore[arg-type]
    levels = lay.arch.levels
    tb = lay.arch.table_bytes(lay.pti)
    src_group = lay.row_group[cand.source]
    most = max(lay.counts, default=0)
    # per candidate, the bytes it changes: int64 while every term is below
    # 2**58 (six terms at most: no overflow), else exact Python ints
    total = np.zeros(q, I64)
    exact: dict[int, int] = {}
    counts64 = np.asarray(lay.counts, dtype=I64)[src_group] if most < _LIMIT else None
    p, pc = t.parts, tc.parts

    def add(per_level: np.ndarray, by_count: bool, name: str) -> None:
        nonlocal total
        nb = tb.get(name, 0)
        if not nb:
            return
        biggest = int(np.abs(per_level).max(initial=0)) * (most if by_count else 1) * nb
        if biggest < 1 << 58 and (counts64 is not None or not by_count):
            total += per_level * (counts64 if by_count else 1) * nb
            return
        factor = np.asarray(lay.counts, dtype=object)[src_group] if by_count else 1  # Python ints: exact products
        vals = per_level.astype(object) * factor * nb
        for i in np.flatnonzero(per_level).tolist():
            exact[i] = exact.get(i, 0) + vals[i]

    # own tables: per level, rows' owned blocks keyed by group
    for li, lv in enumerate(levels[:-1]):
        span = lv.table_span
        m, mc = t.owned(li), tc.owned(li)
        rows = p.row[m]
        lo, hi = _rows_disjoint(rows, floor_div(p.start[m], span), ceil_div(p.end[m], span))
        crow = pc.row[mc]
        clo, chi = _rows_disjoint(crow, floor_div(pc.start[mc], span), ceil_div(pc.end[mc], span))
        if lo.size == 0 and clo.size == 0:
            continue
        pmin = int(min(lo.min() if lo.size else 0, clo.min() if clo.size else 0))
        pmax = int(max(hi.max() if hi.size else 0, chi.max() if chi.size else 0))
        cover = Cover(lay.row_group[rows], lo, hi, pmin, pmax)
        oc, olo, ohi = _ranges_of(rows, cand.source, lo, hi)
        old = (oc, src_group[oc], olo, ohi)
        new = (crow, src_group[crow], clo, chi)
        add(_excl_delta(cover, q, old, new), True, lv.name)

    # shared tables: per pool level, ranges of rows of groups with processes, keyed
    weight = lay.row_weight
    live = weight[cand.source] > 0
    for kb, kbc in ((shared_pmd_blocks(t), shared_pmd_blocks(tc)), (shared_pte_blocks(t), shared_pte_blocks(tc))):
        if kb is None and kbc is None:
            continue
        if kb is None:
            assert kbc is not None
            kb = _empty(kbc)
        if kbc is None:
            kbc = _empty(kb)
        name = levels[kb.level].name
        fm = weight[kb.rows] > 0
        rows, lo, hi = kb.rows[fm], kb.lo[fm], kb.hi[fm]
        seg_f, prot_f, cls_f = lay.row_seg[rows], lay.row_prot[rows], kb.cls[fm]
        cm = live[kbc.rows]
        crow, clo, chi = kbc.rows[cm], kbc.lo[cm], kbc.hi[cm]
        seg_c, prot_c, cls_c = cl.row_seg[crow], cl.row_prot[crow], kbc.cls[cm]
        if lo.size == 0 and clo.size == 0:
            continue
        keys = key_ids(np.concatenate([seg_f, seg_c]), np.concatenate([prot_f, prot_c]),
                       np.concatenate([cls_f, cls_c]))
        key_f, key_c = keys[:rows.size], keys[rows.size:]
        pmin = int(min(lo.min() if lo.size else 0, clo.min() if clo.size else 0))
        pmax = int(max(hi.max() if hi.size else 0, chi.max() if chi.size else 0))
        cover = Cover(key_f, lo, hi, pmin, pmax)
        # a group of no process: its ranges count nowhere (no source row)
        oc, okey, olo, ohi = _ranges_of(rows, np.where(live, cand.source, lay.n_rows), key_f, lo, hi)
        add(_excl_delta(cover, q, (oc, okey, olo, ohi), (crow, key_c, clo, chi)), False, name)
    out = total.tolist()
    for i, v in exact.items():
        out[i] += v
    return [before + d for d in out]


def _empty(like: KeyedBlocks) -> KeyedBlocks:
    z = np.zeros(0, I64)
    return KeyedBlocks(level=like.level, mask=np.zeros(0, bool), rows=z, key=z, cls=z, lo=z, hi=z)
