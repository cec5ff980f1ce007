"""Why tables are not shared, and the smallest change that would share them.

Every rule comes from the model's zones (``model.Why``, docs/semantics.md
section 3) or from comparing pools of the same file (alignment, protection,
a single user).  Every fix is a changed workload that the model evaluates:
the saving reported is the model's, and the fix shown is the smallest change
(in bytes moved or added; flag changes count as none) that saves anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from ptcalc.model.explain import batch
from ptcalc.model.explain.attribution import I64, Context, PoolBuild, RowSharing, overlap
from ptcalc.model.explain.types import (RULE_OF_WHY, Finding, FindingList, FindingPart, Fix, Interval, RowRanges,
                                        made)
from ptcalc.model.intervals import distinct_blocks, key_ids, order_by
from ptcalc.model.layout import PROT_CODE, Layout, pieces_reordered
from ptcalc.model.schemes import Why, zones
from ptcalc.model.tables import count
from ptcalc.units import round_down, round_up
from ptcalc.workload.touched import merge_ranges
from ptcalc.workload.types import PROTECTIONS, Mapping, ModelOptions, Workload

if TYPE_CHECKING:
    from ptcalc.model.evaluate import Cell
    from ptcalc.model.whatif import Column


class _Pending:
    """A fix of one mapping whose saving is measured with the others
    (``_Fixer.resolve``): its index there, and the Fix's fields but
    ``physical_after`` (None for a move or a grow: they follow from the
    pending change, ``_Fixer.fields``)."""

    __slots__ = ("index", "fields")

    def __init__(self, index: int, fields: dict[str, Any] | None = None) -> None:
        self.index = index
        self.fields = fields


class _Window:
    """The moves and grows ``Findings.window_fixes`` asks for one row, made for
    every row at once (``_Fixer.windows``): then the indices of its pending
    fixes, in the order the per-row code made them, ``first`` to ``first + n``."""

    __slots__ = ("row", "span", "target", "first", "n")

    def __init__(self, row: int, span: int, target: int | None) -> None:
        self.row = row
        self.span = span
        self.target = target
        self.first = 0
        self.n = 0


class _Fixer:
    """Applies candidate changes to the workload and measures them with the model.

    Changes of one mapping are collected (``_Pending``) and measured together
    by ``resolve`` (``ptcalc.model.explain.batch``); ``slow=True`` measures
    each by evaluating the changed workload (the reference the batch is
    tested against)."""

    def __init__(self, cx: Context, slow: bool = False) -> None:
        self.cx = cx
        self.before = cx.result.physical_bytes
        self.slow = slow
        self._hugetlb: dict[str, Fix | None] = {}
        self._threshold: dict[int, Fix] = {}
        self._whatif: tuple[Layout, Column | None, Layout | None] | None = None
        self._limit = cx.w.arch.user_limit
        self._seg_size = {name: seg.size for name, seg in cx.w.segments.items()}
        self.pending: list[tuple[Any, ...]] = []
        """Per pending fix: row, old mapping, how (``_new_mapping``), then the
        new address, size, offset, protection, userfaultfd, soft_dirty and
        auto, and how far its touched pages move."""
        self.measured: list[int] = []
        """The pending fixes ``resolve`` measured (the others overlap another mapping: None)."""
        self.block: dict[str, np.ndarray] = {}
        """The window requests' fixes (``windows``), pending after those of
        ``pending``, as columns: row, kind (0 move, 1 grow), start, end (a
        grow's), then the ``batch.Rows`` fields."""

    def _physical(self, w: Workload, options: ModelOptions | None = None) -> int:
        return physical_bytes(w, self.cx.scheme, options or self.cx.options)

    def _with_mapping(self, gi: int, mi: int, new: Mapping) -> Workload | None:
        w = self.cx.w
        g = w.groups[gi]
        seg = w.segments[new.segment]
        if new.address < 0 or new.end > w.arch.user_limit or new.offset < 0 or new.offset + new.size > seg.size:
            return None
        for j, other in enumerate(g.mappings):
            if j != mi and other.address < new.end and new.address < other.end:
                return None
        mappings = tuple(new if j == mi else m for j, m in enumerate(g.mappings))
        groups = tuple(replace(x, mappings=mappings) if i == gi else x for i, x in enumerate(w.groups))
        return replace(w, groups=groups)

    def _pend(self, r: int, how: tuple[Any, ...], address: int, size: int, offset: int,
              fields: dict[str, Any], changes: dict[str, Any] | None = None) -> _Pending | None:
        """A fix of row ``r``'s mapping making it ``[address, address + size)`` at
        ``offset`` (``changes``: its other new fields); ``how``: how to build the
        new Mapping (``_new_mapping``).  Its fields come from the layout's row
        (no Mapping object: ``_change`` fetches it if it is needed)."""
        cx = self.cx
        if (address < 0 or address + size > self._limit or offset < 0
                or offset + size > self._seg_size[cx.row_segment[r]]):
            return None  # (what _with_mapping refuses first)
        c = changes or {}
        prot, uffd_pmd, uffd_wp, soft_dirty, auto = cx.row_flags(r)
        self.pending.append((r, None, how, address, size, offset, c.get("protection", PROTECTIONS[prot]),
                             _uffd_bits(c["userfaultfd"]) if "userfaultfd" in c else (uffd_pmd, uffd_wp),
                             c.get("soft_dirty", soft_dirty), c.get("auto", False if how[0] != "flag" else auto),
                             address - cx.extent(r)[0] if how[0] != "grow" else 0))
        fields["physical_before"] = self.before
        return _Pending(len(self.pending) - 1, fields)

    @staticmethod
    def _new_mapping(m: Mapping, how: tuple[Any, ...]) -> Mapping:
        if how[0] == "move":
            return replace(m, address=m.address + how[1], auto=False)
        if how[0] == "grow":
            start, end = how[1], how[2]
            head = m.address - start
            return replace(m, address=start, offset=m.offset - head, size=end - start,
                           touched=tuple((s + head, e + head) for s, e in m.touched), auto=False)
        return replace(m, **how[1])

    def _room(self, m: Mapping, address: int, size: int, offset: int) -> bool:
        """What ``_with_mapping`` checks first: the changed mapping inside the
        address space and its segment."""
        return not (address < 0 or address + size > self._limit or offset < 0
                    or offset + size > self._seg_size[m.segment])

    def move(self, gi: int, mi: int, delta: int, m: Mapping | None = None, r: int | None = None) -> _Pending | None:
        """``m``, ``r``: the mapping and its row, when the caller has them."""
        if delta == 0:
            return None
        if m is None:
            m = self.cx.w.groups[gi].mappings[mi]
        a = m.address + delta
        size, offset = m.size, m.offset
        if not self._room(m, a, size, offset):
            return None
        self.pending.append((self.cx.row_of(gi, mi) if r is None else r, m, ("move", delta), a, size, offset,
                             m.protection, _uffd_bits(m.userfaultfd), m.soft_dirty, False, delta))
        return _Pending(len(self.pending) - 1)

    def grow(self, gi: int, mi: int, start: int, end: int, m: Mapping | None = None,
             r: int | None = None) -> _Pending | None:
        if m is None:
            m = self.cx.w.groups[gi].mappings[mi]
        address, size = m.address, m.size
        m_end = address + size
        if start > address or end < m_end or (start == address and end == m_end):
            return None
        offset = m.offset - (address - start)
        if not self._room(m, start, end - start, offset):
            return None
        self.pending.append((self.cx.row_of(gi, mi) if r is None else r, m, ("grow", start, end), start, end - start,
                             offset, m.protection, _uffd_bits(m.userfaultfd), m.soft_dirty, False, 0))
        return _Pending(len(self.pending) - 1)

    def flag(self, gi: int, mi: int, kind: str, change: int = 0, like: tuple[str, ...] = (),
             **changes: Any) -> _Pending | None:
        """Any other change to the mapping (``changes`` are Mapping fields);
        ``change`` is its size in bytes (0 for flags); ``like``: the groups
        whose mappings are so."""
        cx = self.cx
        r = cx.row_of(gi, mi)
        old_address, end, offset = cx.extent(r)
        size = end - old_address
        address = changes.get("address", old_address)
        moved = address != old_address
        old_protection = PROTECTIONS[cx.row_flags(r)[0]]
        prot = changes.get("protection", old_protection)
        protection = prot if prot != old_protection else None
        return self._pend(r, ("flag", changes), address, size, offset,
                          dict(kind=kind, change_bytes=change, delta=address - old_address if moved else None,
                               new_range=(address, address + size) if moved else None, protection=protection,
                               like=like), changes)

    def windows(self, requests: list[_Window], more: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Pend the fixes of every window request: per row, the moves making
        ``address`` (no target) or ``address - offset`` congruent to the target
        modulo ``span`` (both signed shifts, smallest each way), then the grows
        to the window bounds at the start, at the end and at both -- each as
        ``move`` and ``grow`` would pend it, in that order.  ``more``: further
        requests as columns (row, span, target or -1 for none), after
        ``requests``; their pending fixes' first indices and counts are
        returned (``requests``' are set on them)."""
        n_obj = len(requests)
        req_rows = np.fromiter((q.row for q in requests), I64, n_obj)
        span = np.fromiter((q.span for q in requests), I64, n_obj)
        target = np.fromiter((-1 if q.target is None else q.target for q in requests), I64, n_obj)
        if more is not None:
            req_rows = np.concatenate([req_rows, more[0]])
            span = np.concatenate([span, more[1]])
            target = np.concatenate([target, more[2]])
        n = req_rows.size
        if n == 0:
            return np.zeros(0, I64), np.zeros(0, I64)
        has_t = target >= 0
        target = np.maximum(target, 0)
        cx = self.cx
        lay = cx.layout
        # the requests' mappings as the layout has them (no Mapping object each)
        a = lay.row_addr[req_rows]
        size = lay.row_end[req_rows] - a
        off = lay.row_off[req_rows]
        seg_size = np.array([self._seg_size[name] for name in cx.seg_names], I64)[lay.row_seg[req_rows]]
        end = a + size
        limit = self._limit
        off_ok = (off >= 0) & (off + size <= seg_size)
        # moves (``_shifts_to``): none when already congruent
        up = (target - np.where(has_t, a - off, a)) % span
        down = up - span
        move_up = (up != 0) & (a + up >= 0) & (a + up + size <= limit) & off_ok
        move_down = (up != 0) & (a + down >= 0) & (a + down + size <= limit) & off_ok
        # grows to the window bounds
        lo = a - a % span
        hi = -((-end) // span) * span

        def grow_ok(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
            o = off - (a - start)
            return (~((start > a) | (stop < end) | ((start == a) & (stop == end)))
                    & (start >= 0) & (stop <= limit) & (o >= 0) & (o + (stop - start) <= seg_size))

        g1, g2, g3 = grow_ok(lo, end), grow_ok(a, hi), grow_ok(lo, hi)
        # per request its five candidates in the order the per-row code made them:
        # move up, move down, grow to the start's window, to the end's, to both
        valid = np.stack([move_up, move_down, g1, g2, g3], axis=1).reshape(-1)
        at = np.flatnonzero(valid)
        req = at // 5  # each candidate's request

        def pick(*per_kind: np.ndarray) -> np.ndarray:
            """The candidates' values of a field (per request, one array per kind of candidate)."""
            return np.stack(per_kind, axis=1).reshape(-1)[at]

        addr = pick(a + up, a + down, lo, a, lo)
        new_size = pick(size, size, end - lo, hi - a, hi - lo)
        # most candidates would overlap another mapping of the process, which
        # ``resolve`` refuses (None): they are left out here, before their
        # other fields are made (a window fix that is not pended saves nothing either)
        clash, _ = _overlaps(lay, req_rows[req], addr, addr + new_size)
        if clash.any():
            valid[at[clash]] = False
            keep = ~clash
            at, req, addr, new_size = at[keep], req[keep], addr[keep], new_size[keep]
        zero = np.zeros(n, I64)
        self.block = {
            "row": req_rows[req],
            "kind": np.array([0, 0, 1, 1, 1], I64)[at % 5],
            "start": pick(zero, zero, lo, a, lo),
            "end": pick(zero, zero, end, hi, hi),
            "addr": addr,
            "size": new_size,
            "off": pick(off, off, off - (a - lo), off, off - (a - lo)),
            "shift": pick(up, down, zero, zero, zero),
        }
        for name, per_row in (("prot", lay.row_prot), ("uffd_pmd", lay.row_uffd_blocks_pmd_share),
                              ("uffd_wp", lay.row_uffd_wp), ("soft_dirty", lay.row_soft_dirty)):
            self.block[name] = per_row[self.block["row"]]
        self.block["auto"] = np.zeros(at.size, bool)
        counts = valid.reshape(n, 5).sum(axis=1)
        firsts = len(self.pending) + np.cumsum(counts) - counts
        for q, f, c in zip(requests, firsts[:n_obj].tolist(), counts[:n_obj].tolist()):
            q.first, q.n = f, c
        return firsts[n_obj:], counts[n_obj:]

    def release(self) -> None:
        """Let go of what measuring the fixes kept (the what-if column's
        layouts, the pending fixes): the findings outlive it (their parts
        read the Findings when shown), the fixes are measured by then."""
        self._whatif = None
        self.pending = []
        self.measured = []
        self.block = {}

    def resolve(self) -> list[int | None]:
        """Per pending fix, the physical bytes after it; None where the changed
        mapping would overlap another of its group's mappings."""
        cx = self.cx
        blk = self.block
        n = len(self.pending) + (blk["row"].size if blk else 0)
        self.measured = []
        if self.slow:
            out: list[int | None] = []
            for i in range(n):
                out.append(self._evaluated(i))
            self.measured = list(range(n))
            return out
        lay = cx.layout
        if n == 0:
            return []
        rows = _candidate_rows(self.pending, np.fromiter((p[0] for p in self.pending), I64, len(self.pending)))
        if blk:  # the window requests' fixes, after the others
            rows = batch.Rows(**{name: np.concatenate([getattr(rows, name), blk["row" if name == "source" else name]])
                                 for name in _ROWS_FIELDS})
        source = rows.source
        addr = rows.addr
        end = addr + rows.size
        clash, private = _overlaps(lay, source, addr, end)
        ok = ~clash & ~private
        idx = np.flatnonzero(ok)
        out = [None] * n
        after: Sequence[int | None]
        try:
            cand = batch.Rows(**{name: getattr(rows, name)[idx] for name in _ROWS_FIELDS})
            after = batch.physical_after(lay, cx.t, self.before, cx.scheme, cx.options, list(cx.w.segments.values()),
                                         cand)
        except batch.Unsupported:
            idx = np.flatnonzero(~clash)
            after = [self._evaluated(i) for i in idx.tolist()]
        else:
            # a change onto a process's own mapping: the model would count
            # overlapping ranges; evaluate it as the workload says
            for i in np.flatnonzero(private & ~clash).tolist():
                out[i] = self._evaluated(i)
                self.measured.append(i)
        measured = idx.tolist()
        for i, a in zip(measured, after):
            out[i] = a
        self.measured += measured
        return out

    def _change(self, i: int) -> tuple[int, Mapping, tuple[Any, ...], int, int, int]:
        """Pending fix ``i``: its row, the old mapping, how (``_new_mapping``),
        and the new address, size and offset."""
        if i < len(self.pending):
            r, m, how, address, size, offset = self.pending[i][:6]
            return r, m if m is not None else self.cx.mapping(r), how, address, size, offset
        r, how, address, size, offset = self._block_change(i - len(self.pending))
        return r, self.cx.mapping(r), how, address, size, offset

    def _block_change(self, j: int) -> tuple[int, tuple[Any, ...], int, int, int]:
        """Window fix ``j`` (``block``): its row, how, and the new address, size and offset."""
        b = self.block
        r = int(b["row"][j])
        how = (("move", int(b["shift"][j])) if b["kind"][j] == 0
               else ("grow", int(b["start"][j]), int(b["end"][j])))
        return r, how, int(b["addr"][j]), int(b["size"][j]), int(b["off"][j])

    def _evaluated(self, i: int) -> int | None:
        """Pending fix ``i`` measured by evaluating the changed workload."""
        r, m, how = self._change(i)[:3]
        gi, mi = self.cx.group_mapping(r)
        w = self._with_mapping(gi, mi, self._new_mapping(m, how))
        return None if w is None else self._physical(w)

    def fields(self, i: int) -> dict[str, Any]:
        """The Fix fields but ``physical_after`` of pending move or grow ``i``
        (a window fix's old size from the layout's row: no Mapping object)."""
        if i < len(self.pending):
            _, m, how, address, size, offset = self._change(i)
            old_size = m.size
        else:
            r, how, address, size, offset = self._block_change(i - len(self.pending))
            lay = self.cx.layout
            old_size = int(lay.row_end[r] - lay.row_addr[r])
        if how[0] == "move":
            delta = how[1]
            return {"physical_before": self.before, "kind": "move", "change_bytes": abs(delta), "delta": delta,
                    "new_range": (address, address + size), "new_offset": offset}
        return {"physical_before": self.before, "kind": "grow", "change_bytes": size - old_size,
                "new_range": (address, address + size), "new_offset": offset}

    def fix(self, f: Fix | _Pending | None, after: list[int | None]) -> Fix | None:
        if not isinstance(f, _Pending):
            return f
        a = after[f.index]
        return None if a is None else Fix(physical_after=a, **(f.fields or self.fields(f.index)))

    def saving(self, f: Fix | _Pending | None, after: list[int | None]) -> Fix | None:
        """``fix``, but None for a pending fix that saves nothing (``_best``
        leaves those out: they need not be made)."""
        if not isinstance(f, _Pending):
            return f
        a = after[f.index]
        if a is None or a >= self.before:
            return None
        return Fix(physical_after=a, **(f.fields or self.fields(f.index)))

    def threshold(self, size: int) -> Fix:
        """The file-cached threshold at ``size`` (one answer per size)."""
        if size not in self._threshold:
            opts = replace(self.cx.options, file_cached_threshold=size)
            self._threshold[size] = Fix(kind="threshold", physical_before=self.before,
                                        physical_after=self._physical(self.cx.w, opts), change_bytes=0,
                                        threshold=size)
        return self._threshold[size]

    def hugetlb_pages(self, segment: str) -> Fix | None:
        """The segment on PMD-sized hugetlb pages, the rest of the workload unchanged
        (one answer per segment, however many mappings ask)."""
        if segment not in self._hugetlb:
            self._hugetlb[segment] = self._hugetlb_pages(segment)
        return self._hugetlb[segment]

    def _hugetlb_pages(self, segment: str) -> Fix | None:
        w = self.cx.w
        size = w.arch.pmd_share_size
        if size is None or w.segments[segment].backing == "file":
            return None
        if self.slow:
            after = self._hugetlb_after_slow(segment, size)
        else:
            after = self._hugetlb_after(segment, size)
        if after is None:
            return None
        return Fix(kind="hugetlb-pages", physical_before=self.before, physical_after=after,
                   change_bytes=0, segment=segment, page_size=size)

    def _hugetlb_after_slow(self, segment: str, size: int) -> int | None:
        """The reference: the changed workload built and evaluated."""
        from ptcalc.model.evaluate import Options, evaluate

        w = self.cx.w
        whatif = evaluate(w, Options(schemes=(), columns=size)).columns
        conv = whatif[0].workload if whatif else None
        if conv is None:  # the what-if is not available: some mapping cannot be placed on those pages
            return None
        segments = dict(w.segments)
        segments[segment] = conv.segments[segment]
        groups = []
        for g, cg in zip(w.groups, conv.groups):
            ms = tuple(cm if m.segment == segment else m for m, cm in zip(g.mappings, cg.mappings))
            spans = sorted((m.address, m.end) for m in ms)
            if any(a_end > b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])):
                return None
            groups.append(replace(g, mappings=ms))
        new = replace(w, segments=segments, groups=tuple(groups))
        return self._physical(new)

    def _hugetlb_after(self, segment: str, size: int) -> int | None:
        """The workload with ``segment``'s mappings as the what-if column on
        ``size`` hugetlb pages has them (the rest as configured), counted on
        arrays: the column's rows of that segment in place of the configured ones."""
        from ptcalc.model.whatif import columns

        w = self.cx.w
        if self._whatif is None:
            # the what-if column of the workload as configured: when the cell
            # is of the configured column, on the layout it has (not made again)
            cell_col = self.cx.cell.column
            configured = cell_col.layout if cell_col.configured else None
            layout = configured if configured is not None else Layout.from_workload(w, backend=None)
            cols = columns(w, layout, size)
            col = cols[0] if cols else None
            conv_layout = None
            if col is not None and col.segments is not None:
                conv_layout = col.layout
            self._whatif = (layout.on("numpy"), col, None if conv_layout is None else conv_layout.on("numpy"))
        lay, col, conv = self._whatif
        if col is None or conv is None or col.segments is None:
            return None  # the what-if is not available: some mapping cannot be placed on those pages
        if list(col.segments) != list(w.segments):
            return self._hugetlb_after_slow(segment, size)
        si = list(w.segments).index(segment)
        keep = ~((lay.row_mi >= 0) & (lay.row_seg == si))
        take = (conv.row_mi >= 0) & (conv.row_seg == si)
        rows: dict[str, np.ndarray] = {}
        for name in _ROW_FIELDS:
            rows[name] = np.concatenate([getattr(lay, name)[keep], getattr(conv, name)[take]])
        # pieces: renumber each side's rows into the joined rows
        n_keep = int(keep.sum())
        new_of_lay = np.cumsum(keep) - 1
        new_of_conv = n_keep + np.cumsum(take) - 1
        pl, pc = keep[lay.piece_row], take[conv.piece_row]
        piece_row = np.concatenate([new_of_lay[lay.piece_row[pl]], new_of_conv[conv.piece_row[pc]]])
        p_start = np.concatenate([lay.piece_start[pl], conv.piece_start[pc]])
        p_end = np.concatenate([lay.piece_end[pl], conv.piece_end[pc]])
        xp = lay.xp
        order = order_by(xp, rows["row_group"], rows["row_addr"])
        rows = {name: a[order] for name, a in rows.items()}
        piece_row, p_start, p_end = pieces_reordered(xp, order, piece_row, p_start, p_end)
        shared = rows["row_mi"] >= 0
        g, a, e = rows["row_group"][shared], rows["row_addr"][shared], rows["row_end"][shared]
        if ((g[1:] == g[:-1]) & (e[:-1] > a[1:])).any():
            return None  # two mappings of a process would overlap
        segments = dict(w.segments)
        segments[segment] = col.segments[segment]
        new = Layout.assemble(lay.pti, lay.counts, lay.group_names, lay.arch, list(segments.values()),
                              piece_row=piece_row, piece_start=p_start, piece_end=p_end, **rows)
        return count(new, zones(new, self.cx.scheme, self.cx.options)).physical_bytes


_ROW_FIELDS = ("row_group", "row_seg", "row_addr", "row_end", "row_off", "row_prot", "row_uffd_blocks_pmd_share",
               "row_uffd_wp", "row_soft_dirty", "row_auto", "row_mi")
"""The layout's row arrays that are not taken from the segments (``Layout.assemble``)."""


def physical_bytes(w: Workload, scheme: str, options: ModelOptions) -> int:
    """Physical page-table bytes of ``w`` (as configured) under ``scheme``, with the model options ``options``."""
    from ptcalc.model.evaluate import CONFIGURED, Options, evaluate

    ev = evaluate(w, Options(schemes=(scheme,), columns=CONFIGURED, mshare_variant=options.mshare_variant,
                             file_cached_threshold=options.file_cached_threshold))
    return ev.selected_cell(scheme).result.physical_bytes


def _overlaps(lay: Layout, source: np.ndarray, addr: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per changed row (``source``, now ``[addr, end)``): whether it overlaps
    another shared mapping of its group (the change is not made), and
    whether it overlaps one of the group's private mappings.  The changes
    are looked up ``_CHUNK`` at a time (338,000 window candidates at once
    held 30 MiB of temporaries)."""
    priv = lay.row_private
    out = []
    for rows in (np.flatnonzero(~priv), np.flatnonzero(priv)):
        hit = np.zeros(source.size, bool)
        if rows.size:
            g, a, e = lay.row_group[rows], lay.row_addr[rows], lay.row_end[rows]
            # per group, the running maximum end of its rows in address order
            # (rows in (group, address) order: ``Layout``)
            assert bool((g[1:] >= g[:-1]).all())
            run = e
            if rows.size > 1 and bool((g[1:] == g[:-1]).any()):
                # a running maximum that starts again at each group: on the
                # ends' ranks, offset by group (a later group's offset is above
                # every rank of the ones before)
                ends, rank = np.unique(e, return_inverse=True)
                offset = g * ends.size
                run = ends[np.maximum.accumulate(offset + rank.reshape(-1)) - offset]
            below = _Below(g, a)
            for c0 in range(0, source.size, _CHUNK):
                src, lo, hi = source[c0:c0 + _CHUNK], addr[c0:c0 + _CHUNK], end[c0:c0 + _CHUNK]
                group = lay.row_group[src]
                # the last row of the group starting below ``hi`` (a row at ``hi`` does not count)
                j = below.last(group, hi)
                ok = (j >= 0) & (g[np.maximum(j, 0)] == group)
                jj = np.maximum(j, 0)
                # the row itself does not count: look below it (shared rows do not overlap one another)
                self_ = ok & (rows[jj] == src)
                prev = jj - 1
                ok_prev = self_ & (prev >= 0) & (g[np.maximum(prev, 0)] == group)
                hit[c0:c0 + _CHUNK] = np.where(self_, ok_prev & (run[np.maximum(prev, 0)] > lo), ok & (run[jj] > lo))
        out.append(hit)
    return out[0], out[1]


_CHUNK = 1 << 16


class _Below:
    """Rows in (group, address) order (``g``, ``a``), searched for the last
    row of a group below an address: the addresses made increasing across
    groups (each group's moved past the one before's; exact, when the moved
    addresses fit int64, else group by group)."""

    def __init__(self, g: np.ndarray, a: np.ndarray) -> None:
        self.g, self.a = g, a
        starts = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]]))
        self.starts = starts
        ids = g[starts]
        self.top = int(ids[-1])
        self.index = np.full(self.top + 1, -1, I64)  # per group number, its place among the rows' groups
        self.index[ids] = np.arange(ids.size)
        lows, highs = a[starts].tolist(), a[np.concatenate([starts[1:], [g.size]]) - 1].tolist()
        base, shift = 0, []
        for lo, hi in zip(lows, highs):
            shift.append(base - lo)
            base += hi - lo + 1
        self.wide = base >= 1 << 62
        if not self.wide:
            self.shift = np.array(shift, I64)
            self.low, self.high = np.array(lows, I64), np.array(highs, I64)
            self.key = np.repeat(self.shift, np.diff(np.concatenate([starts, [g.size]]))) + a

    def last(self, group: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Per query (``group``, ``end``), the index of the last row with that
        group and an address below ``end``; -1 or a row of another group when
        there is none."""
        at = self.index[np.minimum(group, self.top)]
        present = (at >= 0) & (group <= self.top)  # (else: a group with no rows here)
        at = np.maximum(at, 0)
        if self.wide:
            j = np.full(group.size, -1, I64)
            bounds = self.starts.tolist() + [self.g.size]
            for k in np.unique(at[present]).tolist():
                q = np.flatnonzero(present & (at == k))
                j[q] = bounds[k] - 1 + np.searchsorted(self.a[bounds[k]:bounds[k + 1]], end[q], side="left")
            return j
        q = np.clip(end, self.low[at], self.high[at] + 1) + self.shift[at]
        return np.where(present, np.searchsorted(self.key, q, side="left") - 1, -1)


_ROWS_FIELDS = tuple(f.name for f in fields(batch.Rows))


def _candidate_rows(pending: list[tuple[Any, ...]], source: np.ndarray) -> batch.Rows:
    """The new rows of the pending fixes (``_Fixer.pending``), as ``batch.Rows``."""
    n = len(pending)

    def col(i: int, dtype: Any = I64) -> np.ndarray:
        return np.fromiter((p[i] for p in pending), dtype, n)

    uffd = [p[7] for p in pending]
    return batch.Rows(
        source=source, addr=col(3), size=col(4), off=col(5),
        prot=np.fromiter((PROT_CODE[p[6]] for p in pending), I64, n),
        uffd_pmd=np.fromiter((u[0] for u in uffd), bool, n),
        uffd_wp=np.fromiter((u[1] for u in uffd), bool, n),
        soft_dirty=col(8, bool), auto=col(9, bool), shift=col(10))


def _uffd_bits(userfaultfd: str) -> tuple[bool, bool]:
    """A userfaultfd mode as the layout's rows have it: whether it blocks PMD
    sharing (``row_uffd_blocks_pmd_share``), whether it is write-protect
    (``row_uffd_wp``)."""
    return userfaultfd in ("wp", "minor"), userfaultfd == "wp"


def _best(fixes: list[Fix | None]) -> tuple[Fix | None, tuple[Fix, ...]]:
    """The smallest change that saves anything (ties: the larger saving), and the others."""
    good = [f for f in fixes if f is not None and f.saves > 0]
    if not good:
        return None, ()
    good.sort(key=lambda f: (f.change_bytes, -f.saves))
    best = good[0]
    rest = sorted((f for f in good[1:] if f.change != best.change), key=lambda f: -f.saves)
    seen: set[tuple[object, ...]] = set()
    uniq = []
    for f in rest:
        if f.change not in seen:
            seen.add(f.change)
            uniq.append(f)
    return best, tuple(uniq)


def _shifts_to(address: int, target: int, modulus: int) -> list[int]:
    """Both signed shifts (smallest magnitude each way) making address ≡ target (mod modulus)."""
    up = (target - address) % modulus
    return [up] if up == 0 else [up, up - modulus]


# the reason codes, looked up once (an enum member's attribute lookup is slow in a loop of 100,000 rows)
_W_BELOW_THRESHOLD = Why.BELOW_THRESHOLD
_W_MISALIGNED = Why.MISALIGNED
_W_NOT_HUGETLB = Why.NOT_HUGETLB
_W_NOT_PMD_PAGES = Why.NOT_PMD_PAGES
_W_NO_TABLES_AT_LEVEL = Why.NO_TABLES_AT_LEVEL
_W_NO_WHOLE_WINDOW = Why.NO_WHOLE_WINDOW
_W_PRIVATE_SCHEME = Why.PRIVATE_SCHEME
_W_PROT_NONE = Why.PROT_NONE
_W_PTSHARE_ALIGNMENT = Why.PTSHARE_ALIGNMENT
_W_SHARED = Why.SHARED
_W_SOFT_DIRTY = Why.SOFT_DIRTY
_W_USERFAULTFD = Why.USERFAULTFD
_WHOLE_MAPPING = frozenset({_W_PRIVATE_SCHEME, _W_NOT_HUGETLB, _W_PROT_NONE, _W_USERFAULTFD, _W_SOFT_DIRTY,
                            _W_BELOW_THRESHOLD})
"""Rules about the whole mapping (its finding's level is 'all')."""
_ALL_ZONES = (0, 1, 2, 3, 4)
_PER_SEGMENT = frozenset({_W_NOT_HUGETLB, _W_NOT_PMD_PAGES, _W_PROT_NONE, _W_NO_TABLES_AT_LEVEL, _W_PRIVATE_SCHEME})
"""Rules whose fixes and note ``rule_fixes`` gives the same for every row of a
segment, none of them pending (measured already or none)."""


_ADDED = 1 << 40
"""The place (``Findings.seq``) of the first finding ``add`` takes: after
those of the per-segment runs (placed by their row)."""


class _Run:
    """Findings on many rows with the same fields (``fields``), their ranges
    and tables those of each row in ``zone_set`` (the tables of level
    ``only``, when given): rows, their places in the output, and for a
    window run each row's window request."""

    __slots__ = ("fields", "zone_set", "only", "rows", "seq", "windows")

    def __init__(self, fields: dict[str, Any], zone_set: tuple[int, ...], only: str | None) -> None:
        self.fields = fields
        self.zone_set = zone_set
        self.only = only
        self.rows: list[int] = []
        self.seq: list[int] = []
        self.windows: list[_Window | int] = []
        """Per row, its window request: an object, or its place in ``Findings.window_columns``."""


class Findings:
    def __init__(self, cx: Context, builds: list[PoolBuild], sharing: RowSharing, slow: bool = False) -> None:
        self.cx = cx
        self.builds = builds
        self.sharing = sharing
        self.fixer = _Fixer(cx, slow)
        self.out: list[tuple[int, Finding]] = []
        """Findings made one by one, each after its place in the output (``seq``)."""
        self.added: list[tuple[Any, ...]] = []
        self.seq = _ADDED
        """The place of the next finding ``add`` takes: a cell's findings are
        by group and mapping, then in the order the per-row code made them (the
        per-segment runs' first, then ``add``'s: ``rows`` places a row's at
        ``_ADDED + 4 x row``, ``across_pools``' come after every row's)."""
        self.windows: list[_Window] = []
        self.window_columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        """Window requests made at once (``_window_rows``): row, span, target (-1: none)."""
        self._n_window_columns = 0
        self._per_segment: dict[tuple[Why, str], tuple[list[Any], dict[str, Any]]] = {}
        self._tables: dict[tuple[int, ...], list[tuple[str, list[int]]]] = {}
        self._known_tables: dict[tuple[tuple[int, ...], tuple[int, ...]], dict[str, int]] = {}
        self._whole: dict[tuple[Why, str, str], _Run] = {}
        self._window_runs: dict[tuple[Any, ...], _Run] = {}
        self.parts: list[tuple[FindingPart, list[int]]] = []
        """The findings made at once, each part with its findings' places (``seq``)."""
        self._where: list[tuple[np.ndarray, np.ndarray]] = []
        """Per part of ``parts``, its findings' groups and mappings (int64)."""
        self._zones_of_row: list[int] | None = None
        self._zone_bits = np.zeros(0, I64)
        self._tables_arr: dict[tuple[int, ...], list[np.ndarray]] = {}
        self._bounds_arr = np.zeros((0, 6), I64)

    # helpers ---------------------------------------------------------------
    def tables_in(self, r: int, zone_set: tuple[int, ...]) -> dict[str, int]:
        """Per process, the row's own PTE/PMD tables from its parts in these
        zones (rows with the same figures share one dict: read only)."""
        per_level = self._tables.get(zone_set)
        if per_level is None:
            per_level = self._tables[zone_set] = self._tables_of(zone_set)
        key = (zone_set, tuple([col[r] for _, col in per_level]))
        out = self._known_tables.get(key)
        if out is None:
            out = self._known_tables[key] = {name: n for (name, _), n in zip(per_level, key[1]) if n}
        return out

    def _tables_of(self, zone_set: tuple[int, ...]) -> list[tuple[str, list[int]]]:
        """``tables_in`` of every row: per level (pte, pmd), per row, the
        distinct blocks of its owned parts in ``zone_set`` (parts are in row
        and address order)."""
        cx = self.cx
        p = cx.parts
        in_set = np.isin(p.zone, zone_set)
        out = []
        for name in ("pte", "pmd"):
            li = cx.layout.level_index(name)
            if li is None:
                continue
            k = in_set & (cx.own_min <= li)
            n = distinct_blocks(p.row, p.start, p.end, cx.levels[li].table_span, cx.layout.n_rows, mask=k)
            out.append((name, n.tolist()))
        return out

    def ranges_in(self, r: int, zone_set: tuple[int, ...]) -> tuple[Interval, ...]:
        cx = self.cx
        if self._zones_of_row is None:
            bits = np.zeros(cx.layout.n_rows, dtype=I64)
            np.bitwise_or.at(bits, cx.parts.row, np.left_shift(1, cx.parts.zone.astype(I64)))
            self._zone_bits = bits
            self._bounds_arr = np.asarray(cx.z.bounds)
            self._zones_of_row = bits.tolist()
        row_bits: int = self._zones_of_row[r]
        b = cx.zone_bounds(r)
        if not row_bits & (row_bits - 1):  # parts in one zone (or none)
            z = row_bits.bit_length() - 1
            return ((b[z], b[z + 1]),) if row_bits and z in zone_set and b[z] < b[z + 1] else ()
        return tuple(merge_ranges([(b[z], b[z + 1]) for z in sorted(zone_set) if row_bits >> z & 1]))

    def add(self, r: int, level: str, rule: str, ranges: tuple[Interval, ...], tables: dict[str, int],
            fixes: list[Any], note: str | None = None, **detail: Any) -> None:
        """A finding on row ``r``; ``detail``: the Finding fields its rule is
        worded with.  Made in ``finish``, once the fixes are measured."""
        self.added.append((r, level, rule, ranges, tables, fixes, note, detail, self.seq))
        self.seq += 1

    def add_window(self, r: int, level: str, rule: str, zone_set: tuple[int, ...], only: str | None, w: _Window,
                   detail: dict[str, Any]) -> None:
        """``add`` of a finding on row ``r`` whose one fix is the window request
        ``w``, its ranges and tables those of the row in ``zone_set`` (the
        tables of level ``only``, when given): made in ``finish`` with the
        other rows' findings of the same fields, at once."""
        key = (level, rule, zone_set, only, *detail.items())
        run = self._window_runs.get(key)
        if run is None:
            run = self._window_runs[key] = _Run({"level": level, "rule": rule, **detail}, zone_set, only)
        run.rows.append(r)
        run.seq.append(self.seq)
        run.windows.append(w)
        self.seq += 1

    def _part(self, run: _Run, fields: dict[str, Any], pick: list[int] | None = None) -> None:
        """The findings of ``run`` (its rows ``pick``, or all) as a part with ``fields``."""
        rows = run.rows if pick is None else [run.rows[k] for k in pick]
        seq = run.seq if pick is None else [run.seq[k] for k in pick]
        lay = self.cx.layout
        idx = np.fromiter(rows, I64, len(rows))
        zone_set, only = run.zone_set, run.only
        group, mapping = lay.row_group[idx], lay.row_mi[idx]
        self._where.append((group, mapping))
        part = FindingPart(fields, group.tolist(), mapping.tolist(),
                           functools.partial(self._ranges_of_rows, rows, zone_set),
                           functools.partial(self._tables_of_rows, rows, zone_set, only))
        self.parts.append((part, seq))

    def _ranges_of_rows(self, rows: list[int], zone_set: tuple[int, ...]) -> RowRanges:
        """``ranges_in`` of each of ``rows``: a row whose parts are in one zone on arrays."""
        if not rows:
            return RowRanges(np.zeros(0, I64), np.zeros(0, I64), np.zeros(0, bool), {})
        if self._zones_of_row is None:
            self.ranges_in(rows[0], zone_set)  # (the rows' zones and bounds)
        idx = np.fromiter(rows, I64, len(rows))
        bits = self._zone_bits[idx]
        one = (bits & (bits - 1)) == 0  # parts in one zone (or none)
        z = np.zeros(idx.size, I64)
        for k in range(1, 6):
            z[bits == (1 << k)] = k
        b = self._bounds_arr
        lo, hi = b[idx, z], b[idx, np.minimum(z + 1, b.shape[1] - 1)]
        single = np.isin(z, zone_set) & (bits != 0) & (lo < hi) & one
        many: dict[int, tuple[Interval, ...]] = {}
        ranges_in = self.ranges_in
        for k in np.flatnonzero(~one).tolist():
            got = ranges_in(rows[k], zone_set)
            if len(got) == 1:
                (lo[k], hi[k]), single[k] = got[0], True
            elif got:
                many[k] = got
        return RowRanges(lo, hi, single, many)

    def _tables_of_rows(self, rows: list[int], zone_set: tuple[int, ...], only: str | None
                        ) -> tuple[list[dict[str, int]], list[int]]:
        """``tables_in`` of each of ``rows`` (the tables of level ``only``, when
        given): the distinct dicts, and per row the index of its own."""
        if not rows:
            return [], []
        self.tables_in(rows[0], zone_set)  # (the rows' tables at each level)
        cols = self._tables_arr.get(zone_set)
        if cols is None:
            cols = self._tables_arr[zone_set] = [np.asarray(col, dtype=I64) for _, col in self._tables[zone_set]]
        if not cols:
            distinct, index = [self.tables_in(rows[0], zone_set)], [0] * len(rows)
        else:
            idx = np.fromiter(rows, I64, len(rows))
            _, first, inverse = np.unique(key_ids(*[col[idx] for col in cols]), return_index=True,
                                          return_inverse=True)
            distinct = [self.tables_in(rows[k], zone_set) for k in first.tolist()]
            index = inverse.reshape(-1).tolist()
        if only is not None:
            distinct = [{k: v for k, v in d.items() if k == only} for d in distinct]
        return distinct, index

    def finish(self) -> None:
        """Measure the pending fixes and make the findings."""
        fixer = self.fixer
        more = None
        if self.window_columns:
            more = tuple(np.concatenate([c[k] for c in self.window_columns]) for k in range(3))
        first_c, n_c = fixer.windows(self.windows, more)  # type: ignore[arg-type]
        self.windows = []
        after = fixer.resolve()
        before = fixer.before
        fix = fixer.saving
        group_mapping = self.cx.group_mapping
        known: dict[int, tuple[Fix | None, tuple[Fix, ...]]] = {}  # per fixes list of ``_per_segment``
        shared = {id(fixes) for fixes, _ in self._per_segment.values()}
        # the window runs: a row none of whose window fixes saves anything has
        # no fix (most rows: its findings are one part per run); the others
        # are made one by one, as those of ``add``
        good = np.zeros(len(after), bool)  # (most fixes were refused: only those measured can save)
        saves = [i for i in fixer.measured if (a := after[i]) is not None and a < before]
        good[np.array(saves, I64)] = True
        so_far = np.concatenate([np.zeros(1, I64), np.cumsum(good, dtype=I64)])
        for run in self._window_runs.values():
            if all(type(w) is int for w in run.windows):
                at = np.array(run.windows, I64)
                first, n = first_c[at], n_c[at]
            else:
                first = np.fromiter((w.first if isinstance(w, _Window) else first_c[w] for w in run.windows), I64,
                                    len(run.windows))
                n = np.fromiter((w.n if isinstance(w, _Window) else n_c[w] for w in run.windows), I64,
                                len(run.windows))
            saving = (so_far[first + n] - so_far[first]) > 0
            none = np.flatnonzero(~saving).tolist()
            if none:
                self._part(run, {**run.fields, "fix": None, "alternatives": (), "note": "no-single-change"},
                           None if len(none) == len(run.rows) else none)
            if len(none) < len(run.rows):
                detail = {k: v for k, v in run.fields.items() if k not in ("level", "rule")}
                ranges = self._ranges_of_rows(run.rows, run.zone_set)
                distinct, index = self._tables_of_rows(run.rows, run.zone_set, run.only)
                for k in np.flatnonzero(saving).tolist():
                    w = run.windows[k]
                    if not isinstance(w, _Window):  # (its pending fixes are what ``finish`` reads)
                        w = _Window(run.rows[k], 0, None)
                        w.first, w.n = int(first[k]), int(n[k])
                    self.added.append((run.rows[k], run.fields["level"], run.fields["rule"], ranges[k],
                                       distinct[index[k]], [w], None, detail, run.seq[k]))
        self._window_runs = {}
        for r, level, rule, ranges, tables, fixes, note, detail, seq in self.added:
            gi, mi = group_mapping(r)
            if id(fixes) in shared:
                if id(fixes) not in known:
                    known[id(fixes)] = _best([fix(f, after) for f in fixes])
                best, alts = known[id(fixes)]
                if best is None and note is None and fixes:
                    note = "no-single-change"
                self.out.append((seq, made(Finding, group=gi, mapping=mi, level=level, rule=rule, ranges=ranges,
                                           tables=tables, fix=best, alternatives=alts, note=note, **detail)))
                continue
            candidates: list[Fix | None] = []
            for f in fixes:
                if type(f) is _Window:
                    for i in range(f.first, f.first + f.n):
                        a = after[i]
                        if a is not None and a < before:
                            candidates.append(Fix(physical_after=a, **fixer.fields(i)))
                else:
                    candidates.append(fix(f, after))
            best, alts = _best(candidates)
            if best is None and note is None and fixes:
                note = "no-single-change"
            self.out.append((seq, made(Finding, group=gi, mapping=mi, level=level, rule=rule, ranges=ranges,
                                       tables=tables, fix=best, alternatives=alts, note=note, **detail)))
        self.added = []
        for run in self._whole.values():
            self._part(run, run.fields)
        self._whole = {}
        self.window_columns = []
        fixer.release()

    def findings(self) -> FindingList:
        """Every finding made (``finish`` first), by group and mapping."""
        parts = [p for p, _ in self.parts]
        seqs = [np.asarray(seq, dtype=I64) for _, seq in self.parts]
        where = list(self._where)
        if self.out:
            each = FindingPart.each([f for _, f in self.out])
            parts.append(each)
            seqs.append(np.array([seq for seq, _ in self.out], I64))
            where.append((np.array(each.group, I64), np.array(each.mapping, I64)))
        part = np.repeat(np.arange(len(parts), dtype=I64), [len(p) for p in parts])
        if not parts:
            return FindingList((), part, part, [], [])
        at = np.concatenate([np.arange(len(p), dtype=I64) for p in parts])
        group = np.concatenate([g for g, _ in where])
        mapping = np.concatenate([m for _, m in where])
        seq = np.concatenate(seqs)
        order = np.lexsort((seq, mapping, group))
        return FindingList(tuple(parts), part[order], at[order], group[order].tolist(), mapping[order].tolist())

    # fixes by rule ---------------------------------------------------------
    def window_fixes(self, r: int, span: int, target_class: int | None) -> list[Any]:
        """Moves that make windows of ``span`` whole (or congruent: ``address -
        offset`` to ``target_class``; None: the start aligned), and the grows
        that cover the partial windows at either end (pended for every row
        at once in ``finish``: ``_Fixer.windows``)."""
        w = _Window(r, span, target_class)
        self.windows.append(w)
        return [w]

    def rule_fixes(self, r: int, why: Why, level: str) -> tuple[list[Fix | _Pending | None], dict[str, Any]]:
        """The fixes for rule ``why``, and when there are none the note why
        (``note`` and the fields it is worded with)."""
        cx = self.cx
        segment = cx.row_segment[r]
        if why == _W_NOT_HUGETLB or why == _W_NOT_PMD_PAGES:
            # one answer per segment: the same list for every row (``finish`` picks its best once)
            key = (why, segment)
            known = self._per_segment.get(key)
            if known is None:
                fix = self.fixer.hugetlb_pages(segment)
                if why == _W_NOT_HUGETLB and fix is None and cx.w.segments[segment].backing == "file":
                    known = self._per_segment[key] = ([], {"note": "file-not-hugetlb"})
                else:
                    known = self._per_segment[key] = ([fix], {})
            return known[0], dict(known[1])
        gi, mi = cx.group_mapping(r)
        seg = cx.w.segments[segment]
        span: int = (cx.pud_size if level == "pmd" else cx.pmd_size) or cx.pmd_size
        if why == _W_MISALIGNED:
            target: int | None = 0  # file-cached: address ≡ offset
            fixes = self.window_fixes(r, span, target)
            if level == "pte" and cx.pud_size is not None:
                m = cx.mapping(r)
                fixes += [self.fixer.move(gi, mi, d) for d in _shifts_to(m.address - m.offset, 0, cx.pud_size)]
            return fixes, {}
        if why == _W_NO_WHOLE_WINDOW:
            if seg.size < span:
                return [], {"note": "segment-too-small", "segment": seg.name, "segment_size": seg.size, "span": span}
            target = 0 if (cx.scheme == "file-cached" and seg.backing != "hugetlb") else None
            return self.window_fixes(r, span, target), {}
        if why == _W_PTSHARE_ALIGNMENT:
            s2 = cx.pmd_size
            m = cx.mapping(r)
            fixes = [self.fixer.move(gi, mi, d) for d in _shifts_to(m.address, 0, s2)]
            lo, hi = round_down(m.address, s2), round_up(m.end, s2)
            fixes.append(self.fixer.grow(gi, mi, lo, hi))
            fixes.append(self.fixer.grow(gi, mi, m.address, m.address + round_up(m.size, s2)))
            return fixes, {}
        if why == _W_USERFAULTFD:
            return [self.fixer.flag(gi, mi, "userfaultfd", userfaultfd="missing")], {}
        if why == _W_SOFT_DIRTY:
            return [self.fixer.flag(gi, mi, "soft-dirty", soft_dirty=False)], {}
        if why == _W_BELOW_THRESHOLD:
            return [self.fixer.threshold(seg.size)], {}
        if why == _W_PROT_NONE:
            return [], {"note": "prot-none-no-tables"}
        if why == _W_NO_TABLES_AT_LEVEL:
            return [], {"note": "above-level"}
        if why == _W_PRIVATE_SCHEME:
            return [], {"note": "private-baseline"}
        return [], {}

    # per row ---------------------------------------------------------------
    def whole_row(self, r: int, why: Why, level: str) -> None:
        """A finding on the whole of row ``r``: rule ``why`` decided at ``level``."""
        if why in _PER_SEGMENT:
            same = self._whole_run(r, why, level)
            same.rows.append(r)
            same.seq.append(r)  # (before every ``add``: ``_ADDED``)
            return
        fixes, detail = self.rule_fixes(r, why, level)
        note = detail.pop("note", None)
        level_shown = "all" if why in _WHOLE_MAPPING else level
        if note is None and not detail and len(fixes) == 1 and type(fixes[0]) is _Window:
            self.add_window(r, level_shown, RULE_OF_WHY[why], _ALL_ZONES, None, fixes[0],
                            {"why": why, "why_level": level})
            return
        self.add(r, level_shown, RULE_OF_WHY[why], self.ranges_in(r, _ALL_ZONES), self.tables_in(r, _ALL_ZONES), fixes,
                 note, why=why, why_level=level, **detail)

    def _whole_run(self, r: int, why: Why, level: str) -> _Run:
        """The run of rule ``why`` (a per-segment one) at ``level`` on row
        ``r``'s segment: the same fixes (none pending: nothing to measure)
        and note for every row of the segment, made once."""
        key = (why, level, self.cx.row_segment[r])
        same = self._whole.get(key)
        if same is None:
            fixes, detail = self.rule_fixes(r, why, level)
            note = detail.pop("note", None)
            best, alts = _best(fixes)  # type: ignore[arg-type]
            if best is None and note is None and fixes:
                note = "no-single-change"
            same = self._whole[key] = _Run({"level": "all" if why in _WHOLE_MAPPING else level,
                                            "rule": RULE_OF_WHY[why], "fix": best, "alternatives": alts,
                                            "note": note, "why": why, "why_level": level, **detail},
                                           _ALL_ZONES, None)
        return same

    def partial(self, r: int, level: str, zone_set: tuple[int, ...]) -> None:
        cx = self.cx
        if not self.ranges_in(r, zone_set):
            return
        span = cx.pud_size if level == "pmd" else cx.pmd_size
        assert span is not None
        seg = cx.w.segments[cx.row_segment[r]]
        target = 0 if (cx.scheme == "file-cached" and seg.backing != "hugetlb") else None
        (w,) = self.window_fixes(r, span, target)
        self.add_window(r, level, "partial-window", zone_set, level, w, {"span": span})

    def rows(self) -> None:
        """Every row's findings (the rules of its zones), in row order: the
        rows whose findings are made at once (a per-segment rule's, and
        ``no-whole-window`` with its window fixes) picked on arrays, the
        others one by one."""
        cx = self.cx
        z = cx.z
        lay = cx.layout
        n = lay.n_rows
        scheme = cx.scheme
        shared = int(_W_SHARED)
        why_pmd, why_pte = np.asarray(z.why_pmd), np.asarray(z.why_pte)
        touched = np.bincount(cx.parts.row, minlength=n) > 0
        prot_none = lay.row_prot == PROT_CODE["none"]
        live = ~lay.row_private & ~prot_none & touched
        # per row: 1 prot-none, 2 a whole-row rule (``why``, ``pmd_level``), 3 partial PMD windows, 4 file-cached base pages
        kind = np.where(prot_none & ~lay.row_private, 1 if scheme != "private" else 0, 0)
        why = np.zeros(n, I64)
        pmd_level = np.ones(n, bool)
        if scheme == "private":
            kind[live] = 2
            why[:] = int(_W_PRIVATE_SCHEME)
        elif z.upper == "mshare":
            pass  # everything not PROT_NONE is in a region
        elif scheme == "mshare":  # ptshare
            w = live & (why_pte != shared)
            kind[w] = 2
            why, pmd_level = why_pte.astype(I64), np.zeros(n, bool)
        else:
            is_hugetlb = np.array([s.backing == "hugetlb" for s in cx.w.segments.values()] + [False], bool)
            row_seg = np.minimum(lay.row_seg, len(cx.w.segments))  # (a process's own rows: none)
            hp = live & ((scheme == "hugetlb-pmd") | is_hugetlb[row_seg] | (lay.row_leaf > 0))
            # PMD-level sharing only (hugetlb rows; file-cached THP / 1 GiB rows)
            kind[hp & (why_pmd != shared)] = 2
            kind[hp & (why_pmd == shared)] = 3
            fc = live & ~hp  # file-cached, base pages
            kind[fc & (why_pte != shared)] = 2
            kind[fc & (why_pte == shared)] = 4
            why = np.where(hp, why_pmd, why_pte).astype(I64)
            pmd_level = hp
        # whole-row rules made at once: a per-segment rule's rows, and no-whole-window's
        whole = kind == 2
        per_segment = whole & np.isin(why, [int(w) for w in _PER_SEGMENT])
        self._whole_rows(np.flatnonzero(per_segment), why, pmd_level)
        window = whole & (why == int(_W_NO_WHOLE_WINDOW))
        if window.any():
            kind[np.flatnonzero(window)[self._window_rows(np.flatnonzero(window), pmd_level)]] = 0
        kind[per_segment] = 0
        partial_pmd = np.flatnonzero(kind == 3)
        if partial_pmd.size:  # (``partial`` of a row with no parts in those zones adds nothing)
            ranges = self._ranges_of_rows(partial_pmd.tolist(), (0, 4))
            kind[partial_pmd[ranges.counts() == 0]] = 0
        whys = {int(w): w for w in Why}
        for r, k in zip(np.flatnonzero(kind).tolist(), kind[kind > 0].tolist()):
            self.seq = _ADDED + 4 * r  # (a row's findings in the order they are added, rows in order)
            if k == 1:
                self.add(r, "all", "prot-none", (), {}, [], "nothing-to-save", why=_W_PROT_NONE)
            elif k == 2:
                self.whole_row(r, whys[int(why[r])], "pmd" if pmd_level[r] else "pte")
            elif k == 3:
                self.partial(r, "pmd", (0, 4))
            else:
                self.partial(r, "pte", (0, 4))
                wp = whys[int(why_pmd[r])]
                if wp != _W_SHARED:
                    if self.ranges_in(r, (1, 3)):
                        fixes, detail = self.rule_fixes(r, wp, "pmd")
                        self.add(r, "pmd", RULE_OF_WHY[wp], self.ranges_in(r, (1, 3)),
                                 {"pmd": self.tables_in(r, (1, 3)).get("pmd", 0)}, fixes, why=wp, **detail)
                else:
                    self.partial(r, "pmd", (1, 3))
        self.seq = _ADDED + 4 * n

    def _whole_rows(self, rows: np.ndarray, why: np.ndarray, pmd_level: np.ndarray) -> None:
        """``whole_row`` of rows whose rule is a per-segment one, at once: per
        (rule, level, segment) its run, its fields made for its first row."""
        if rows.size == 0:
            return
        lay = self.cx.layout
        key = key_ids(why[rows], pmd_level[rows].astype(I64), lay.row_seg[rows])
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")  # each key's rows in row order
        bounds = np.searchsorted(inverse[order], np.arange(first.size + 1))
        whys = {int(w): w for w in Why}
        for k, r0 in enumerate(rows[first].tolist()):
            run = self._whole_run(r0, whys[int(why[r0])], "pmd" if pmd_level[r0] else "pte")
            members = rows[order[bounds[k]:bounds[k + 1]]].tolist()
            run.rows.extend(members)
            run.seq.extend(members)  # (before every ``add``: ``_ADDED``)

    def _window_rows(self, rows: np.ndarray, pmd_level: np.ndarray) -> np.ndarray:
        """``whole_row`` of rows whose rule is ``no-whole-window``, at once,
        but where the segment is smaller than the window (``rule_fixes``):
        which of ``rows`` were taken."""
        cx = self.cx
        lay = cx.layout
        segs = list(cx.w.segments.values())
        size = np.array([s.size for s in segs], I64)[lay.row_seg[rows]]
        span_pmd = cx.pud_size or cx.pmd_size
        span = np.where(pmd_level[rows], span_pmd, cx.pmd_size)
        take = size >= span
        target0 = np.array([cx.scheme == "file-cached" and s.backing != "hugetlb" for s in segs], bool)
        why = _W_NO_WHOLE_WINDOW
        for level, at_pmd in (("pmd", True), ("pte", False)):
            sel = np.flatnonzero(take & (pmd_level[rows] == at_pmd))
            if sel.size == 0:
                continue
            rs = rows[sel].tolist()
            self.window_columns.append((rows[sel], span[sel], np.where(target0[lay.row_seg[rows[sel]]], 0, -1)))
            ws = range(self._n_window_columns, self._n_window_columns + sel.size)
            self._n_window_columns += sel.size
            fields = {"why": why, "why_level": level}
            key = (level, RULE_OF_WHY[why], _ALL_ZONES, None, *fields.items())
            run = self._window_runs.get(key)
            if run is None:
                run = self._window_runs[key] = _Run({"level": level, "rule": RULE_OF_WHY[why], **fields}, _ALL_ZONES,
                                                    None)
            run.rows.extend(rs)
            run.seq.extend([_ADDED + 4 * r for r in rs])
            run.windows.extend(ws)
        return take

    # across pools ----------------------------------------------------------
    def across_pools(self) -> None:
        """Mappings that could share more: kept apart from another pool of the
        same file by alignment or protection, or alone in their pool."""
        cx = self.cx
        lay = cx.layout
        counts, group_of = cx.counts, lay.row_group.tolist()  # (a row's group)
        reported: set[tuple[int, int]] = set()  # (pool, row)
        theirs_of: dict[int, tuple[list[Interval], tuple[str, ...]]] = {}  # per pool: its live blocks, its groups
        procs_of = {b.pool.id: sum(n for _, _, n in b.pool.users) for b in self.builds}
        for b in self.builds:
            p = b.pool
            if p.kind == "mshare":
                procs = sum(n for _, _, n in p.users)
                live = [u for u in p.users if u[2]]
                if procs == 1:
                    gi, mi, _ = live[0]
                    self.add(cx.row_of(gi, mi), "all", "alone", (), {}, [], "mshare-from-two", segment=p.segment,
                             protection=p.protection)
                continue
            level = "pmd" if p.kind == "pmd" else "pte"
            procs1 = procs_of[p.id]
            for b2 in self.builds:
                p2 = b2.pool
                if p2.id == p.id or p2.kind != p.kind or p2.segment != p.segment:
                    continue
                procs2 = procs_of[p2.id]
                if procs2 == 0 or (procs1, -p.id) > (procs2, -p2.id):
                    continue  # report on the smaller pool's mappings only
                got = theirs_of.get(p2.id)
                if got is None:  # (the same for every pool it is compared with)
                    live2 = [(r2, iv) for r2, iv in b2.row_intervals.items()
                             if counts[group_of[r2]] > 0]
                    got = theirs_of[p2.id] = (merge_ranges([x for _, lv in live2 for x in lv.get(level, [])]),
                                              tuple(sorted({cx.w.groups[g2].name for g2, _, n in p2.users if n})))
                theirs, names = got
                for r, per_level in b.row_intervals.items():
                    if (p.id, r) in reported or counts[group_of[r]] == 0:
                        continue
                    common = overlap(per_level.get(level, []), theirs)
                    if not common:
                        continue
                    gi, mi = cx.group_mapping(r)
                    address, end, offset = cx.extent(r)
                    fixes: list[Fix | _Pending | None] = []
                    a1, a2 = p.alignment, p2.alignment
                    span = cx.pud_size if level == "pmd" else cx.pmd_size
                    deltas: list[int] = []
                    if a1 != a2 and isinstance(a1, int) and isinstance(a2, int) and span is not None:
                        deltas = _shifts_to(address - offset, a2, span) if p.kind == "pmd" else [a2 - a1]
                    if p2.protection != p.protection:
                        # page_table_shareable(): the same vm_flags (and alignment)
                        rule = "protection-differs"
                        if deltas:
                            fixes += [self.fixer.flag(gi, mi, "protection", change=abs(d), like=names,
                                                      protection=p2.protection, address=address + d, auto=False)
                                      for d in deltas]
                        else:
                            fixes.append(self.fixer.flag(gi, mi, "protection", like=names, protection=p2.protection))
                    else:
                        rule = "alignment-differs"
                        fixes += [self.fixer.move(gi, mi, d) for d in deltas]
                    self.add(r, level, rule, ((address, end),), {level: common}, fixes, others=names,
                             protection=p.protection, their_protection=p2.protection, alignment=a1,
                             their_alignment=a2, span=span)
                    reported.add((p.id, r))
            for r, per_level in b.row_intervals.items():
                if (p.id, r) in reported or counts[group_of[r]] == 0:
                    continue
                alone = self.sharing.alone(p.id, r)
                if alone is not None and alone > 0:
                    address, end, _ = cx.extent(r)
                    self.add(r, level, "alone", ((address, end),), {level: alone}, [], "no-gain-yet")


def find(cell: Cell, slow: bool = False) -> FindingList:
    """Every finding of ``cell``, by group and mapping (``Cell.findings``).
    ``slow``: measure every fix by evaluating the changed workload (the
    reference for the batch measure)."""
    a = cell.attribution
    f = Findings(a.context, a.builds, a.sharing, slow)
    f.rows()
    f.across_pools()
    f.finish()
    return f.findings()
