"""Top-down placement of many processes' mappings at once, on numpy arrays.

The kernel places a new mapping at the highest start that is aligned as
asked, ends at or below a limit and is clear of every mapping of the
process (``vm_unmapped_area`` with VM_UNMAPPED_AREA_TOPDOWN, ``align_mask``
and ``align_offset``, mm/mmap.c; :func:`ptcalc.workload.address_space.highest_gap`
is the same rule on one process's span list).  The what-if's re-placement
(:func:`ptcalc.model.whatif.kernel_place`) places each process's moving
mappings one after another, each clear of those placed before it.  Walking
that in Python costs about 10 us a mapping; :class:`TopDown` does it for
every process in step -- the k-th mapping of every process together -- in a
few array operations a step:

* the spans that stay (``fixed``) are merged per process once, into the
  free gaps between them; the highest gap below a limit that can hold a
  mapping is found by bisection and by a table of the widest gap in each
  run of 2**k gaps (so a walk down past many narrow gaps is a few lookups);
* the spans placed so far are kept per process as blocks: spans closer
  than the smallest mapping still to place are one block (nothing that is
  placed fits between them, so the same places are found).  A place from
  the fixed gaps that meets a block is searched again below the block's
  start -- nothing of the mapping's size fits in it, and above its start
  it is not clear.

Every result is the rule's exact answer (tests/test_whatif.py checks the
placements against an independent mapping-by-mapping reference;
tests/test_topdown.py checks :class:`TopDown` against a brute force).
"""

from __future__ import annotations

from typing import Any

import numpy as np

INF = 1 << 62
"""Past every address (the last gap's end; an empty block's start)."""
PACK_BOUND = 1 << 62
"""Keys packed in an int64 stay below this (:meth:`TopDown.stacked`; else it walks by doubling)."""

Array = Any


def _round_down(x: Array, align: Array, phase: Array) -> Array:
    """The highest value <= ``x`` that is ``phase`` modulo ``align``, per element."""
    return x - np.mod(x - phase, align)


class TopDown:
    """One placement: the spans that stay, per process, and those placed so far.

    ``n_groups`` processes, numbered 0..n_groups-1; ``fixed_*``: the spans that
    stay (any order; they may overlap); ``need``: per process, the smallest
    size that will be placed (spans closer than it are kept as one block);
    ``low``: no mapping starts below it (mmap_min_addr: the base page);
    ``high``: no limit is above it (TASK_SIZE), when known: the gaps are
    then searched by one sorted key instead of by bisection.
    """

    def __init__(self, n_groups: int, fixed_group: Array, fixed_start: Array, fixed_end: Array, need: Array,
                 low: int, high: int | None = None) -> None:
        self.n_groups = n_groups
        self.low = low
        self.need = np.asarray(need, np.int64)
        g, s, e = _merged(np.asarray(fixed_group, np.int64), np.asarray(fixed_start, np.int64),
                          np.asarray(fixed_end, np.int64))
        # the free gaps of each process, in address order: [low, s0), [e0, s1), ..., [e_last, INF)
        n_spans = np.bincount(g, minlength=n_groups)
        n_gaps = n_spans + 1
        self.gap_begin = np.concatenate([np.zeros(1, np.int64), np.cumsum(n_gaps)[:-1]])
        self.gap_stop = self.gap_begin + n_gaps
        total = int(n_gaps.sum())
        lo = np.full(total, low, np.int64)
        hi = np.full(total, INF, np.int64)
        # the i-th span (of all) is span i - span_first[g] of its process: it
        # ends that process's gap of the same number and begins the next
        span_first = np.concatenate([np.zeros(1, np.int64), np.cumsum(n_spans)[:-1]])
        at = self.gap_begin[g] + np.arange(g.size) - span_first[g]
        hi[at] = s
        lo[at + 1] = np.maximum(e, low)
        self.lo, self.hi = lo, hi
        self._gaps = (lo.copy(), hi.copy())
        self.at_once = max(4 * total, 1 << 16)
        """The most gaps :meth:`fixed` tries at once for a mapping that fits
        the widest gaps but not at its alignment (more: gap by gap)."""
        # (process, gap start) as one sorted int64 key, when it fits: the last
        # gap beginning below a limit is then one searchsorted, not a bisection
        # (``high``: no limit, and so no placed end, is above it)
        self._bits: int | None = None
        if high is not None:
            self._bits = (max(int(lo.max(initial=0)), high) + 1).bit_length() + 1
            if (n_groups << self._bits) >= 1 << 62:
                self._bits = None
        if self._bits is not None:
            self._gap_group = np.repeat(np.arange(n_groups, dtype=np.int64), n_gaps)
            self.key = (self._gap_group << self._bits) | lo
            self._key0 = self.key.copy()
        # widest[k][i]: the widest of gaps i-2**k+1 .. i (a run may span processes: lookups check)
        width = hi - lo
        self.widest = [width]
        span = 1
        while span < int(n_gaps.max(initial=1)):
            w = self.widest[-1]
            self.widest.append(np.maximum(w, np.concatenate([np.full(span, -1, np.int64), w[:-span]])))
            span *= 2
        self.clear()

    def clear(self) -> None:
        """Forget the spans placed so far (the fixed ones stay)."""
        if hasattr(self, "_gaps"):
            self.lo[:], self.hi[:] = self._gaps
            if self._bits is not None:
                self.key[:] = self._key0
        # the blocks placed so far: one row per process, unused slots INF / -INF
        self.block_start = np.full((self.n_groups, 4), INF, np.int64)
        self.block_end = np.full((self.n_groups, 4), -INF, np.int64)
        self.block_gap = np.zeros((self.n_groups, 4), np.int64)  # the fixed gap each block starts in
        self.used = 0  # slots in use (a prefix of the columns)

    def fixed(self, g: Array, limit: Array, size: Array, align: Array, phase: Array, top: Array | None = None
              ) -> tuple[Array, Array]:
        """Per query, the highest start ``phase`` mod ``align`` of ``size`` bytes
        ending at or below ``limit``, at or above ``low``, clear of the fixed
        spans of process ``g`` (the placed ones are not looked at), and the
        gap it is in; -1 if none.  ``top``: the last gap of the process that
        begins below the limit, when the caller knows it."""
        lo, hi = self.lo, self.hi
        first = self.gap_begin[g]
        if top is None:
            top = self._last_gap_below(g, limit)
        out = np.full(g.shape, -1, np.int64)
        gap = np.full(g.shape, -1, np.int64)
        has = top >= first
        t = np.where(has, top, 0)
        p = _round_down(np.minimum(hi[t], limit) - size, align, phase)
        fits = has & (p >= lo[t])
        out[fits], gap[fits] = p[fits], t[fits]
        # else the highest gap below it that holds the mapping
        todo = np.flatnonzero(has & ~fits)
        pos = top[todo] - 1
        tried = False
        while todo.size:
            z, f = size[todo], first[todo]
            if tried:
                # wide enough, but not at this alignment (a best case's
                # PUD_SIZE-congruent start): every gap down to the first
                # that surely holds it, tried at once
                todo, pos = self._below(todo, pos, z, f, align[todo], phase[todo], out, gap)
                if not todo.size:
                    break
                z, f = size[todo], first[todo]
            pos = self._skip_below(pos, f, z)
            found = pos >= f
            q = np.maximum(pos, 0)
            p = _round_down(hi[q] - z, align[todo], phase[todo])
            fits = found & (p >= lo[q])
            out[todo[fits]], gap[todo[fits]] = p[fits], q[fits]
            again = found & ~fits  # wide enough, but not at this alignment: below it
            todo, pos = todo[again], pos[again] - 1
            tried = True
        return out, gap

    def _skip_below(self, pos: Array, f: Array, width: Array) -> Array:
        """Per query, the highest gap at or below ``pos`` (of a process whose
        first gap is ``f``) whose width in the widest-gap table is at least
        ``width``; ``f - 1`` (or less) if none.  (``pos`` is changed.)"""
        # a run of 2**k gaps longer than every query's gaps below it skips nothing
        d = pos - f  # gaps of the process below ``pos`` (pos >= first - 1 >= -1: an index)
        reach = int(d.max()) + 1
        for k in range(min(len(self.widest), max(reach, 1).bit_length()) - 1, -1, -1):
            step = 1 << k
            skip = (d >= step - 1) & (self.widest[k][pos] < width)
            back = skip * step
            pos -= back
            d -= back
        return pos

    def _below(self, todo: Array, pos: Array, z: Array, f: Array, align: Array, phase: Array, out: Array,
               gap: Array) -> tuple[Array, Array]:
        """:meth:`fixed`'s search below gap ``pos`` for the queries ``todo``,
        gap by gap on arrays: a gap at least ``z + align - 1`` wide holds an
        aligned start (the widest-gap table finds the highest that may be:
        its widths are upper bounds), so the answer is the highest gap from
        ``pos`` down to that one where it fits -- all of them tried at once.
        Writes the answers found into ``out`` and ``gap``; returns the
        queries left (that gap narrower now than the table says) and the gap
        below which to go on.  Too many gaps to try at once: all are left."""
        floor = self._skip_below(pos.copy(), f, z + align - 1)
        bottom = np.maximum(floor, f)
        n = np.maximum(pos - bottom + 1, 0)  # the gaps tried, from ``pos`` down
        total = int(n.sum())
        if total > self.at_once:  # (the gap-by-gap walk: no array of them all)
            return todo, pos
        which = np.repeat(np.arange(todo.size), n)
        q = np.repeat(pos + (np.cumsum(n) - n), n) - np.arange(total)
        fits = _round_down(self.hi[q] - z[which], align[which], phase[which]) >= self.lo[q]
        hit = np.flatnonzero(fits)
        # the first that fits of each query (the highest gap)
        hit = hit[np.concatenate([np.ones(min(hit.size, 1), bool), which[hit[1:]] != which[hit[:-1]]])]
        got = which[hit]
        qg = q[hit]
        out[todo[got]] = _round_down(self.hi[qg] - z[got], align[got], phase[got])
        gap[todo[got]] = qg
        # no gap fits: below ``floor`` when it is a gap of the process, else none
        left = np.ones(todo.size, bool)
        left[got] = False
        left &= floor >= f
        return todo[left], floor[left] - 1

    def _last_gap_below(self, g: Array, limit: Array, original: bool = False) -> Array:
        """Per query, the last gap of process ``g`` that begins below ``limit``
        (as placing left the gaps, or with ``original`` as nothing placed
        left them); ``gap_begin[g] - 1`` if none."""
        if self._bits is not None:
            key = self._key0 if original else self.key
            q = np.clip(limit, 0, (1 << self._bits) - 1)  # (above every gap's start: the same answer)
            q |= np.left_shift(g, self._bits, dtype=np.int64)
            return np.searchsorted(key, q) - 1  # (the last key below: of an earlier process if none)
        # by bisection over the process's gaps
        lo = self._gaps[0] if original else self.lo
        a, b = self.gap_begin[g], self.gap_stop[g]
        while True:
            open_ = a < b
            if not open_.any():
                break
            mid = (a + b) >> 1
            below = lo[np.minimum(mid, lo.size - 1)] < limit
            a = np.where(open_ & below, mid + 1, a)
            b = np.where(open_ & ~below, mid, b)
        return a - 1

    def stacked(self, g: Array, size: Array, align: Array, limit: Array, below: Array) -> tuple[Array, Array]:
        """The remaining mappings of every process placed at once where each
        goes right below the one before it (the first right below ``below``,
        the lowest start placed so far in its process, INF if none) or at its
        own limit; and per process whether that is the rule's answer for every
        one of them (the others are placed step by step: ``fixed``,
        ``settle``, ``add``).

        The queries come in placement order, grouped by process (``g``
        non-decreasing, ``limit`` non-increasing within a process).  Where a
        process's mappings share one alignment, ``below`` is aligned to it
        and each size is a multiple of it, the highest aligned start ending
        at or below ``limit[k]`` and below ``below`` clear of the mappings
        placed before is ``min(round_down(limit[k] - size[k]), start[k-1] -
        size[k])``: higher, it meets mapping k-1, or the mapping at
        ``below``, or a mapping j < k placed at its own limit (above which
        less than one alignment is left, and ``limit[k] <= limit[j]``).
        That is a running minimum of ``round_down(limit - size) + C`` (and
        ``below``) less ``C``, ``C`` the running sum of the sizes.  It is the
        rule's answer when every start so found lies in a free gap of the
        fixed spans, and the process has no room at or above ``below`` for
        its smallest mapping left at its highest limit (what ``fixed`` and
        ``settle`` find there, placed mappings and all, is below ``below``:
        then none of them has room there)."""
        n = int(g.size)
        ok = np.zeros(self.n_groups, bool)
        start = np.full(n, -1, np.int64)
        if not n:
            return start, ok
        # int64 bounds: every limit and running sum of sizes far below 2**62
        if int(size.max()) * n + int(np.abs(limit).max()) >= 1 << 61 or bool((size <= 0).any()):
            return start, ok
        new = np.concatenate([np.ones(1, bool), g[1:] != g[:-1]])
        first = np.flatnonzero(new)
        # first on the processes (a step's cost), then on every mapping left
        # of those that pass: the first one's place in a free gap of the fixed
        # spans, and no room left at or above ``below`` (the first of each
        # process has the highest limit)
        gf, af, zf, bf = g[first], align[first], size[first], below[first]
        c1 = np.minimum(_round_down(limit[first] - zf, af, 0), bf - zf)
        t1 = self._last_gap_below(gf, c1 + 1, original=True)
        keep = t1 >= self.gap_begin[gf]
        t1 = np.where(keep, t1, 0)
        keep &= c1 + zf <= self._gaps[1][t1]
        if bool((bf < INF).any()):
            z_least = np.minimum.reduceat(size, first)
            none = np.zeros(first.size, np.int64)
            room, _ = self.settle(gf, *self.fixed(gf, limit[first], z_least, af, none), z_least, af, none)
            keep &= room < bf
        sel = None
        if not bool(keep.all()):
            if not keep.any():
                return start, ok
            sel = np.flatnonzero(keep[np.cumsum(new) - 1])
            g, size, align, limit, below = g[sel], size[sel], align[sel], limit[sel], below[sel]
            new = np.concatenate([np.ones(1, bool), g[1:] != g[:-1]])
            first = np.flatnonzero(new)
        n = int(g.size)
        run = np.cumsum(new) - 1  # each query's process run
        # one alignment per process (a power of two), every size and ``below`` a multiple of it
        bad = (align != align[first][run]) | ((size & (align - 1)) != 0)
        bad |= (below < INF) & ((below & (align - 1)) != 0)
        c = np.cumsum(size)
        c -= (c[first] - size[first])[run]  # the running sum within each process
        v = _round_down(limit - size, align, 0)
        v += c
        np.minimum(v, below, out=v)  # (INF where nothing is placed: above every v)
        # the running minimum within each process: one accumulate of (the
        # processes after it, v) packed in an int64 (processes ascending: a
        # process's keys lie below every earlier one's), else by doubling
        v0 = int(v.min())
        big = int(v.max()) - v0 + 1
        last = int(g.max())
        if (last - int(g.min()) + 1) * big < PACK_BOUND:
            off = (last - g.astype(np.int64)) * big
            v -= v0
            v += off
            np.minimum.accumulate(v, out=v)
            v -= off
            v += v0
            del off
        else:
            d = 1
            while d < n:
                together = g[d:] == g[:-d]
                if not together.any():
                    break
                v[d:] = np.where(together, np.minimum(v[d:], v[:-d]), v[d:])
                d *= 2
        v -= c
        # in a free gap of the fixed spans (the first begins at ``low``)
        t = self._last_gap_below(g, v + 1, original=True)
        has = t >= self.gap_begin[g]
        t = np.where(has, t, 0)
        bad |= ~has | (v + size > self._gaps[1][t]) | (v < self._gaps[0][t])
        ok[g] = True
        ok[g[bad]] = False
        if sel is None:
            start[:] = v
        else:
            start[sel] = v
        return start, ok

    def settle(self, g: Array, start: Array, gap: Array, size: Array, align: Array, phase: Array
               ) -> tuple[Array, Array]:
        """``start`` (the fixed gaps' answer for each query, in ``gap``; -1 for
        none) made clear of the blocks placed so far: where it meets one, the
        fixed gaps' answer below that block's start, and so on; -1 if none."""
        out, where_ = start.copy(), gap.copy()
        todo = np.flatnonzero(out >= 0)
        while todo.size and self.used:
            p, z = out[todo], size[todo]
            gt = g[todo]
            bs = self.block_start[gt, : self.used]
            be = self.block_end[gt, : self.used]
            meets = (bs < (p + z)[:, None]) & (be > p[:, None])
            hit = meets.any(axis=1)
            if not hit.any():
                break
            todo, gt, meets, bs = todo[hit], gt[hit], meets[hit], bs[hit]
            j = np.where(meets, bs, INF).argmin(axis=1)  # the lowest block it meets
            below = bs[np.arange(j.size), j]
            # the gap that block starts in; the last one beginning below its start
            bg = self.block_gap[gt, j]
            top = np.where(self.lo[bg] < below, bg, bg - 1)
            out[todo], where_[todo] = self.fixed(gt, below, size[todo], align[todo], phase[todo], top)
            todo = todo[out[todo] >= 0]
        return out, where_

    def add(self, g: Array, start: Array, end: Array, gap: Array) -> None:
        """Place ``[start, end)`` (in fixed gap ``gap``) in process ``g`` (one
        span per process a call)."""
        # the gap it went into keeps what is left below it (or above it) when
        # the rest is too narrow for anything still to place: later searches
        # then find the space beside it without meeting its block.  (The
        # widest-gap table is not updated: it stays an upper bound.)
        need_g = self.need[g]
        upper = self.hi[gap] - end < need_g
        lower = ~upper & (start - self.lo[gap] < need_g)
        self.hi[gap[upper]] = start[upper]
        self.lo[gap[lower]] = end[lower]
        if self._bits is not None:
            raised = gap[lower]
            self.key[raised] = (self._gap_group[raised] << self._bits) | end[lower]
        if self.used == self.block_start.shape[1]:
            self._compact()
        if not self.used:
            self.block_start[g, 0], self.block_end[g, 0], self.block_gap[g, 0] = start, end, gap
            self.used = 1
            return
        bs = self.block_start[g, : self.used]
        be = self.block_end[g, : self.used]
        bg = self.block_gap[g, : self.used]
        need = self.need[g][:, None]
        joins = (bs - end[:, None] < need) & (start[:, None] - be < need)
        lowest = np.where(joins, bs, INF)
        j = lowest.argmin(axis=1)
        first_joined = lowest[np.arange(j.size), j]
        below = first_joined < start  # a joined block starts lower: the new block starts where it does
        new_start = np.where(below, first_joined, start)
        new_gap = np.where(below, bg[np.arange(j.size), j], gap)
        new_end = np.maximum(end, np.where(joins, be, -INF).max(axis=1, initial=-INF))
        self.block_start[g, : self.used] = np.where(joins, INF, bs)
        self.block_end[g, : self.used] = np.where(joins, -INF, be)
        self.block_start[g, self.used] = new_start
        self.block_end[g, self.used] = new_end
        self.block_gap[g, self.used] = new_gap
        self.used += 1

    def _compact(self) -> None:
        """The blocks in use moved to the front of each row, with room for as many again."""
        used = self.block_start < INF
        keep = max(int(used.sum(axis=1).max(initial=0)), 1)
        order = np.argsort(~used, axis=1, kind="stable")[:, :keep]
        width = 2 * keep + 4
        new = []
        for old, fill in ((self.block_start, INF), (self.block_end, -INF), (self.block_gap, 0)):
            a = np.full((self.n_groups, width), fill, np.int64)
            a[:, :keep] = np.take_along_axis(old, order, axis=1)
            new.append(a)
        self.block_start, self.block_end, self.block_gap = new
        self.used = keep


def _merged(g: Array, s: Array, e: Array) -> tuple[Array, Array, Array]:
    """The spans per process sorted, those that overlap or touch made one."""
    order = np.lexsort((s, g))
    g, s, e = g[order], s[order], e[order]
    if g.size < 2:
        return g, s, e
    # within a process, reach[i]: the furthest end of spans 0..i (a running
    # maximum that starts again at each process)
    same = g[1:] == g[:-1]
    if bool((same & (e[1:] < e[:-1])).any()):  # a span inside another: the running maximum the slow way
        reach = e.tolist()
        gl = g.tolist()
        for i in range(1, len(reach)):
            if gl[i] == gl[i - 1] and reach[i - 1] > reach[i]:
                reach[i] = reach[i - 1]
        reach_a = np.asarray(reach, np.int64)
    else:
        reach_a = e
    starts = np.concatenate([np.ones(1, bool), ~same | (s[1:] > reach_a[:-1])])
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:], [g.size]]) - 1
    return g[first], s[first], reach_a[last]
