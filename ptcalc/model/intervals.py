"""Interval arithmetic on arrays: block counts, merges and sweeps over
sorted ranges, vectorised over every range at once.

What the model counts tables with: a table at a level is a ``span``-block
(``span``: what one table of the level covers) that some touched range
reaches.  Every function takes arrays of one :mod:`ptcalc.model.xp` backend.
Spans and page sizes are powers of two on every architecture, so division
and remainder are shifts and masks (``ptcalc.units.floor_div``, ``ceil_div``,
``mod``, which work on arrays and ints alike).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ptcalc.model import xp as _xp
from ptcalc.units import ceil_div, floor_div, mod, round_up

__all__ = ["ascending", "block_bounds", "ceil_div", "dedupe_within", "distinct_blocks", "elementary_intervals", "first_of",
           "floor_div", "key_ids", "merge_sorted", "merge_within", "mod", "order_by", "prev_in_run", "rank",
           "round_up", "union_and_shared"]

Array = Any


def ascending(major: Array, minor: Array) -> Array:
    """Per pair of neighbours, whether (major, minor) strictly increases."""
    return (major[1:] > major[:-1]) | ((major[1:] == major[:-1]) & (minor[1:] > minor[:-1]))


def prev_in_run(xp: ModuleType, owner: Array, x: Array) -> Array:
    """Per element, ``x`` of the element before it when both have the same
    owner, else -1 (the first element of each owner's run)."""
    prev = xp.concatenate([xp.full(1, -1, dtype=xp.int64), x[:-1]])
    first = xp.concatenate([xp.ones(1, dtype=xp.bool_), owner[1:] != owner[:-1]])
    return xp.where(first, -1, prev)


def distinct_blocks(owner: Array, s: Array, e: Array, span: int, n_owners: int, mask: Array | None = None
                    ) -> Array:
    """Per owner, the number of distinct ``span``-blocks the ranges touch
    (those where ``mask`` is true, when given).

    Ranges must be sorted and disjoint within each owner, owners contiguous:
    then block-range ends are non-decreasing, and each range adds the blocks
    past its predecessor's last one.
    """
    xp = _xp.namespace_of(owner, s)
    if xp.NAME == "numpy" and span & (span - 1) == 0 and s.size:
        # in place: three arrays of the ranges' size (the masked ones' copies), no more
        np = _np()
        if mask is None:
            lo, hi = _blocks_numpy(s, e, span)
        else:
            # (by the masked positions: a boolean index of each array costs
            # several times as much where the mask changes often)
            at = np.flatnonzero(mask)
            if not at.size:
                return xp.zeros(n_owners, dtype=xp.int64)
            owner, lo, hi = owner[at], s[at], e[at]
            del at
            shift = span.bit_length() - 1
            lo >>= shift
            np.negative(hi, out=hi)
            hi >>= shift
            np.negative(hi, out=hi)
        prev = _prev_in_run_numpy(owner, hi)
        lo = np.maximum(lo, prev, out=lo)
        del prev
        hi -= lo
        np.maximum(hi, 0, out=hi)
        return xp.group_sum(owner, hi, n_owners)
    if mask is not None:
        owner, s, e = owner[mask], s[mask], e[mask]
    if s.size == 0:
        return xp.zeros(n_owners, dtype=xp.int64)
    lo = floor_div(s, span)
    hi = ceil_div(e, span)
    prev = prev_in_run(xp, owner, hi)
    return xp.group_sum(owner, xp.maximum(hi - xp.maximum(lo, prev), 0), n_owners)


def block_bounds(s: Array, e: Array, span: int) -> tuple[Array, Array]:
    """Per range ``[s, e)``, its first ``span``-block and the end of its last:
    ``floor_div(s, span)``, ``ceil_div(e, span)`` (on numpy with ``span`` a
    power of two: two new arrays, no temporary)."""
    xp = _xp.namespace_of(s, e)
    if xp.NAME == "numpy" and span & (span - 1) == 0:
        return _blocks_numpy(s, e, span)
    return floor_div(s, span), ceil_div(e, span)


def _wide(xp: ModuleType, a: Array) -> Array:
    """``a`` as int64 (numpy: a copy only when it is narrower)."""
    return a.astype(xp.int64, copy=False) if xp.NAME == "numpy" else a


def _np() -> ModuleType:
    import numpy

    return numpy


def _blocks_numpy(s: Array, e: Array, span: int) -> tuple[Array, Array]:
    """``floor_div(s, span)``, ``ceil_div(e, span)`` on numpy, two new arrays
    and no temporary (``span`` a power of two)."""
    np = _np()
    shift = span.bit_length() - 1
    lo = np.right_shift(s, shift)
    hi = np.negative(e)
    hi >>= shift
    np.negative(hi, out=hi)
    return lo, hi


def _prev_in_run_numpy(owner: Array, x: Array) -> Array:
    """:func:`prev_in_run` on numpy: one new array."""
    np = _np()
    prev = np.empty_like(x)
    if x.size:
        prev[0] = -1
        prev[1:] = x[:-1]
        np.copyto(prev[1:], -1, where=owner[1:] != owner[:-1])
    return prev


def dedupe_within(owner: Array, lo: Array, hi: Array) -> tuple[Array, Array]:
    """Trim block ranges (sorted within each owner) so an owner counts a block once."""
    if lo.size == 0:
        return lo, hi
    xp = _xp.namespace_of(owner, lo)
    lo = xp.maximum(lo, prev_in_run(xp, owner, hi))
    return lo, xp.maximum(hi, lo)


def merge_within(owner: Array, lo: Array, hi: Array) -> tuple[Array, Array, Array]:
    """Make block ranges disjoint within each owner (ranges may overlap and
    come in any order); returns (owner, lo, hi) sorted by owner, empty ranges
    dropped.  Owners must be dense ids >= 0, blocks >= 0."""
    if lo.size == 0:
        return owner, lo, hi
    xp = _xp.namespace_of(owner, lo)
    order = order_by(xp, owner, lo)
    return merge_sorted(xp, owner[order], lo[order], hi[order])


def merge_sorted(xp: ModuleType, owner: Array, lo: Array, hi: Array) -> tuple[Array, Array, Array]:
    """merge_within for ranges already sorted by (owner, lo)."""
    if lo.size == 0:
        return owner, lo, hi
    big = int(hi.max()) + 1
    if xp.NAME == "numpy" and xp.fits((int(owner.max()) + 1) * big):
        # as below, in place: the running max, then the merged ranges' starts in its array
        np = _np()
        run = owner * big
        run += hi
        np.maximum.accumulate(run, out=run)
        run -= owner * big
        prev = _prev_in_run_numpy(owner, run)
        del run
        lo = np.maximum(lo, prev, out=prev)
        keep = lo < hi
        if bool(keep.all()):
            return owner, lo, hi
        return owner[keep], lo[keep], hi[keep]
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
    lo = xp.maximum(lo, prev_in_run(xp, owner, run))
    keep = lo < hi
    return owner[keep], lo[keep], hi[keep]


def first_of(ids: Array, wanted: Array) -> Array:
    """For each id in ``wanted``, the index of its first occurrence in ``ids``."""
    xp = _xp.namespace_of(ids, wanted)
    uniq, first = xp.unique_index(ids)
    return first[xp.searchsorted(uniq, wanted)]


def order_by(xp: ModuleType, major: Array, minor: Array, stable: bool = True, then: Array | None = None) -> Array:
    """The order sorting by (major, minor): one sort of a combined key when
    it fits the backend's integers (a lexsort is several times slower).
    ``stable=False`` lets equal keys come in any order (a faster sort);
    ``then``: equal keys in the order of ``then`` (a lexsort only where
    some are equal)."""
    if not minor.size:
        return xp.arange(0)
    lo, hi = int(minor.min()), int(minor.max())
    span = hi - lo + 1
    if int(major.min()) >= 0 and xp.fits((int(major.max()) + 1) * span):
        combined = _wide(xp, major) * span + (minor - lo)
        if then is None:
            return xp.argsort(combined) if stable else xp.argsort_any(combined)
        order = xp.argsort(combined)
        key = combined[order]
        if not bool((key[1:] == key[:-1]).any()):
            return order
    return xp.lexsort((minor, major) if then is None else (then, minor, major))


def union_and_shared(key: Array, lo: Array, hi: Array, weight: Array) -> tuple[int, int]:
    """Over block ranges of many owners: blocks covered at all, and blocks
    covered with total weight >= 2 (two or more sharers).

    ``key`` separates independent block spaces (one per sharing key).
    Weights are clipped to 2, which is all the threshold needs and keeps the
    running sum far from overflow.
    """
    swept = elementary_intervals(key, lo, hi, weight)
    if swept is None:
        return 0, 0
    xp = _xp.namespace_of(key, lo)
    _, length, cover = swept
    if xp.NAME == "numpy":  # (sums where the cover is, without a copy of the lengths)
        return int(length.sum(where=cover > 0)), int(length.sum(where=cover >= 2))
    return int(xp.where(cover > 0, length, 0).sum()), int(xp.where(cover >= 2, length, 0).sum())


def elementary_intervals(key: Array, lo: Array, hi: Array, weight: Array | int,
           with_key: bool = False) -> tuple[Array | None, Array, Array] | None:
    """The elementary intervals between consecutive range ends, in (key,
    position) order: (each one's key if ``with_key``, its length, the total
    weight covering it); None when every range is empty.  ``weight``: per
    range, or one for all (an int).

    Every range has ended where one key's space gives way to the next: the
    interval between them is covered by nothing (its length is meaningless),
    so a sum of lengths where the cover is positive needs no key test."""
    xp = _xp.namespace_of(key, lo)
    keep = lo < hi
    if not keep.all():
        key, lo, hi = key[keep], lo[keep], hi[keep]
        if not isinstance(weight, int):
            weight = weight[keep]
    del keep
    if lo.size == 0:
        return None
    # Sweep the range ends in (key, position) order; the order among equal
    # (key, position) does not matter (no length lies between them).  When
    # (key, position, delta + 2) packs into one integer, one plain sort does
    # it: key, position - min and delta + 2 (0..4) in bit fields.
    p0 = int(lo.min())
    bits = (int(hi.max()) - p0).bit_length()
    if int(key.min()) >= 0 and xp.fits((int(key.max()) + 1) << (bits + 3)):
        if xp.NAME == "numpy":
            return _packed_sweep(key, lo, hi, p0, weight, bits, with_key)
        w = min(weight, 2) if isinstance(weight, int) else xp.minimum(weight, 2)
        base = key << bits
        packed = xp.sort(xp.concatenate([(((base + (lo - p0)) << 3) + (w + 2)),
                                         (((base + (hi - p0)) << 3) + (2 - w))]))
        delta = (packed & 7) - 2
        at = packed >> 3
        length = at[1:] - at[:-1]
        k = at[:-1] >> bits if with_key else None
    else:
        w = xp.full(lo.size, min(weight, 2), dtype=xp.int64) if isinstance(weight, int) else xp.minimum(weight, 2)
        pos = xp.concatenate([lo, hi])
        kk = xp.concatenate([key, key])
        order = xp.lexsort((pos, kk))
        pos, delta = pos[order], xp.concatenate([w, -w])[order]
        length = pos[1:] - pos[:-1]
        k = kk[order][:-1] if with_key else None
    return k, length, xp.cumsum(delta)[:-1]


def _packed_sweep(key: Array, lo: Array, hi: Array, p0: int, weight: Array | int, bits: int, with_key: bool
                  ) -> tuple[Array | None, Array, Array]:
    """:func:`elementary_intervals`' packed sweep on numpy, in place: besides
    the inputs, one array of every range end (the packed ends, then the
    cover), the lengths, and with ``with_key`` the keys -- no temporary of
    the inputs' size but a weight's clip (a count's largest temporaries)."""
    import numpy as np

    n = int(lo.size)
    packed = np.empty(2 * n, np.int64)
    w = min(weight, 2) if isinstance(weight, int) else np.minimum(weight, 2)
    for half, x, sign in ((packed[:n], lo, 1), (packed[n:], hi, -1)):
        np.left_shift(key, bits, out=half, dtype=np.int64)  # (a narrow key widened first)
        half += x
        half -= p0
        half <<= 3
        half += 2
        if sign > 0:
            half += w
        else:
            half -= w
    del w
    packed.sort()
    k = None
    if with_key:
        k = packed[:-1] >> (bits + 3)
    # the lengths: packed differences, less the delta fields' difference
    length = np.subtract(packed[1:], packed[:-1])
    packed &= 7
    length += packed[:-1]
    length -= packed[1:]
    length >>= 3
    packed -= 2
    np.cumsum(packed, out=packed)
    return k, length, packed[:-1]


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
            c = rank(xp, c)
        width = int(c.max()) + 1
        if ids is None:
            ids = _wide(xp, c)  # (a narrow column -- int8 segment codes -- widened before the arithmetic)
        else:
            if not xp.fits((int(ids.max()) + 1) * width):
                ids = rank(xp, ids)
            ids = ids * width + c
    return rank(xp, ids)


def rank(xp: ModuleType, values: Array) -> Array:
    """Each value's rank among the distinct values (order-preserving, dense).
    Values within a small range are ranked through a table of the range (no
    sort); others are sorted (``unique``)."""
    values = _wide(xp, values)
    lo = int(values.min())
    span = int(values.max()) - lo + 1
    if span > 4 * values.size + 4096:
        return xp.unique_inverse(values)
    present = xp.zeros(span, dtype=xp.bool_)
    present[values - lo] = True
    return (xp.cumsum(present.astype(xp.int64)) - 1)[values - lo]
