"""``ptcalc sweep``: page-table memory and verdicts as the workload grows.

Two axes:

* **process count** (``--processes``).  By default every group is scaled by
  one factor, as ``estimate``'s "fits up to N processes" does: at a total of
  ``N`` processes group ``g`` (``p_g`` of ``N0`` processes in the workload)
  gets ``floor(p_g * N / N0)`` processes, and the ``N - sum`` processes left
  over go one each to the groups with the largest remainders
  ``p_g * N mod N0`` (ties: the group listed first) -- the largest-remainder
  method, so the counts always add up to ``N`` and are exact multiples when
  ``N0`` divides ``p_g * N``.  With one group (or ``--group NAME``: only that
  group grows, the others keep their counts) there is no rounding at all.

  For a fixed layout the model is affine in the counts: physical page tables
  = the shared tables (counted once; they depend only on which groups have
  any process) + sum over groups of ``count x`` the tables one process owns.
  So one model evaluation per scheme (and per set of non-empty groups, at
  most a few) gives every point; the points are evaluated with numpy, in
  int64 when the largest value provably fits in 2**62, else in Python ints
  (numpy object arrays).  Nothing is ever a float.

  The first count that does not fit is exact, not a grid point: below
  ``(available - fixed - slack) / slope`` every count fits and above
  ``(available - fixed + slack) / slope`` none does (slack: the rounding of
  counts, at most one process of each group); the counts between are
  evaluated exactly.  With one group this is ``budget.max_processes + 1``.

* **segment size** (``--size``, ``--segment NAME`` when there are several).
  Every point changes the layout, so each is a full model evaluation; at most
  :data:`MAX_SIZE_POINTS` points.  Mappings that map the whole segment grow
  with it (their touched ranges scale in proportion, rounded out to pages);
  mappings of part of the segment keep their place.  A configured hugetlb
  pool (``host.hugepages``) stays as configured.  The first size that does not
  fit is found by bisection (to the segment's page size) between the last
  grid point that fits and the first that does not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from ptcalc.errors import ParameterError
from ptcalc.model.budget import verdict_of
from ptcalc.model.evaluate import CONFIGURED, Evaluation, evaluate
from ptcalc.model.whatif import Column
from ptcalc.units import ceil_div, format_size, round_down, round_up
from ptcalc.workload.touched import merge_ranges
from ptcalc.workload.types import Mapping, ProcessGroup, Workload, resolve_addresses

MAX_COUNT_POINTS = 1_000_000
"""Most points ``--processes`` accepts (they are cheap: about one model evaluation in all)."""
MAX_SIZE_POINTS = 1_000
"""Most points ``--size`` accepts (each is a model evaluation per scheme)."""
DEFAULT_COUNT_POINTS = 100
DEFAULT_SIZE_POINTS = 20

_INT64_SAFE = 1 << 62


# --- the axis -----------------------------------------------------------------------

def nice_step(raw: int, sizes: bool, align: int = 1) -> int:
    """The smallest round step >= ``raw``: 1, 2, 2.5, 5 x 10^k processes, or a
    power of two times KiB/MiB/GiB/TiB (a multiple of ``align``) for sizes."""
    raw = max(raw, 1)
    if sizes:
        cands = sorted(m << shift for shift in (10, 20, 30, 40, 50) for m in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
        cands = [c for c in cands if c % align == 0]
    else:
        cands = sorted(m * 10**k // 2 for k in range(19) for m in (2, 4, 5, 10) if m * 10**k % 2 == 0)
    for c in cands:
        if c >= raw:
            return c
    return round_up(raw, align)


def grid(start: int, stop: int, step: int | None, default_points: int, limit: int, param: str,
         align: int = 1, sizes: bool = False) -> list[int]:
    """The points START, START+STEP, ... up to STOP, STOP always included.

    Without STEP, the smallest round step (:func:`nice_step`) giving at most
    ``default_points`` points, START and STOP included, the points in
    between on its multiples.  Raises ParameterError beyond
    ``limit`` points (``param``: the parameter the values came from).

    >>> [len(grid(a, b, None, 100, 10**6, "p")) for a, b in ((1, 10_000), (1, 100), (5, 995))]
    [51, 100, 51]
    >>> len(grid(1, 1_000_000, 1, 100, 1_000_000, "p"))
    1000000
    """
    if start % align or stop % align or (step is not None and step % align):
        raise ParameterError(param, f"every value must be a multiple of {format_size(align)} (the page size)")
    if step is None:
        raw = ceil_div(stop - start, max(default_points - 1, 1))
        while True:
            step = nice_step(raw, sizes, align)
            pts = [start] + list(range((start // step + 1) * step, stop, step)) + ([stop] if stop > start else [])
            if len(pts) <= default_points:
                return pts
            raw = step + 1  # START and STOP off the step's multiples added one: the next round step
    n = (stop - start) // step + 1 + (1 if (stop - start) % step else 0)  # STOP is a point too
    if n > limit:
        raise ParameterError(param, f"{n:,} points is more than the {limit:,} allowed; use a larger STEP")
    pts = list(range(start, stop + 1, step))
    if pts[-1] != stop:
        pts.append(stop)
    return pts


# --- results ------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    """One scheme over every point of the axis."""

    scheme: str
    page_table_bytes: list[int]
    vmpte_total_bytes: list[int]
    demand_bytes: list[int]
    verdicts: list[str | None]


@dataclass(frozen=True)
class Crossing:
    """Where a scheme first stops fitting."""

    scheme: str
    first_failing: int | None
    """Smallest axis value (process count or segment size) at which demand
    exceeds available memory or the workload cannot start; None when it fits
    everywhere searched (see ``status``)."""
    verdict: str | None
    """oom or wont-start at ``first_failing``."""
    status: str
    """``crosses`` (first_failing is exact), ``fits`` (fits at every point
    searched: for counts, every count; for sizes, up to the end of the range),
    ``never-fits`` (fails at the smallest value), ``unknown`` (no host memory)."""


@dataclass(frozen=True)
class SweepResult:
    workload: Workload
    axis: str  # "processes" or "size"
    points: list[int]
    series: tuple[Series, ...]
    crossings: tuple[Crossing, ...]
    available_bytes: int | None
    headroom_percent: int
    column: Column
    """The page-size column swept (configured, or a what-if)."""
    grows: str
    """What grows: ``all-groups`` (every group, scaled by one factor), ``group``
    (one group: the workload's only one, or ``grows_name`` chosen) or ``segment``."""
    grows_name: str | None
    """The group or segment that grows."""
    chosen: bool
    """One group was chosen to grow (``sweep_processes(group=...)``); the others keep their counts."""
    rounding: str
    """How counts or ranges are rounded: ``none`` (one group grows, its count is
    the axis value), ``largest-remainder`` (see the module docstring) or
    ``scale-touched`` (touched ranges scale with the segment, rounded out to pages)."""
    group_names: tuple[str, ...] = ()
    group_counts: list[tuple[int, ...]] | None = None
    """Per point, the count of every group (``processes`` axis)."""
    granularity: int = 1
    """Smallest step of the axis: 1 process, or the segment's page size."""
    demand_at: Callable[[list[int]], dict[str, list[int]]] | None = field(default=None, repr=False, compare=False)
    """Per scheme, the demand at any axis values (``processes`` axis: as
    cheap as the sweep itself), for a chart of more points than the table."""

    def series_for(self, scheme: str) -> Series:
        return next(s for s in self.series if s.scheme == scheme)

    def crossing_for(self, scheme: str) -> Crossing:
        return next(c for c in self.crossings if c.scheme == scheme)


# --- the process-count axis -----------------------------------------------------------

@dataclass(frozen=True)
class _Affine:
    """One scheme: demand and page tables as affine functions of the counts,
    for one set of non-empty groups."""

    shared: int  # physical page-table bytes not owned by any one process
    fixed: int  # shmem + hugetlb pools + shared
    own: tuple[int, ...]  # per group: page-table bytes one process owns
    vmpte: tuple[int, ...]
    per_process: tuple[int, ...]  # own + private memory + overhead
    short: bool


class CountSweeper:
    """Evaluates a workload at any process counts, exactly (see the module docstring).

    ``ev`` is the evaluation of one column (``Options.columns``: configured or
    a what-if page size) and of the schemes to sweep."""

    def __init__(self, ev: Evaluation, group: str | None = None) -> None:
        self.ev = ev
        workload = self.workload = ev.workload
        self.schemes = ev.schemes
        self.column = ev.column
        self.base = tuple(g.count for g in workload.groups)
        names = [g.name for g in workload.groups]
        if group is not None:
            if group not in names:
                raise ParameterError("group", f"no group named {group!r} (groups: {', '.join(names)})")
            if names.count(group) > 1:
                raise ParameterError("group", f"several groups are named {group!r}")
            self.group: int | None = names.index(group)
        else:
            self.group = None
            if sum(self.base) == 0:
                raise ParameterError("processes", "the workload has no processes to scale (every count is 0)")
        self._patterns: dict[tuple[bool, ...], Evaluation] = {}
        self._cache: dict[tuple[str, tuple[bool, ...]], _Affine] = {}
        self.available = workload.host.available
        self.headroom = workload.host.headroom_percent

    @property
    def grows(self) -> tuple[str, str | None]:
        """(``all-groups`` or ``group``, the group's name)."""
        if self.group is None and len(self.base) > 1:
            return "all-groups", None
        return "group", self.workload.groups[self.group or 0].name

    @property
    def rounding(self) -> str:
        return "none" if self.group is not None or len(self.base) == 1 else "largest-remainder"

    def _affine(self, scheme: str, present: tuple[bool, ...]) -> _Affine:
        """The evaluation with one process in each present group and none in
        the others: the shared tables, and what one process of each group adds."""
        key = (scheme, present)
        if key not in self._cache:
            if present not in self._patterns:
                self._patterns[present] = self.ev.with_counts([1 if p else 0 for p in present])
            cell = self._patterns[present].cell(scheme)
            assert cell is not None
            result, b = cell.result, cell.budget
            own = tuple(g.per_process_bytes for g in result.groups)
            shared = result.physical_bytes - sum(c * o for c, o in zip((int(p) for p in present), own))
            overhead = self.workload.host.process_overhead
            self._cache[key] = _Affine(
                shared=shared,
                fixed=b.shmem_bytes + b.hugetlb_bytes + shared,
                own=own,
                vmpte=tuple(g.vmpte_bytes for g in result.groups),
                per_process=tuple(o + g.private_memory + overhead for o, g in zip(own, self.workload.groups)),
                short=bool(b.pools.short),
            )
        return self._cache[key]

    # counts ------------------------------------------------------------------
    def counts(self, totals: list[int]) -> np.ndarray:
        """(points, groups) counts for axis values ``totals``; int64 or object."""
        n_groups = len(self.base)
        t_max = max(totals) if totals else 0
        big = t_max * max(max(self.base, default=0), 1) >= _INT64_SAFE or t_max >= _INT64_SAFE
        dtype = object if big else np.int64
        t = np.array(totals, dtype=dtype)
        if self.group is not None:
            out = np.tile(np.array(self.base, dtype=dtype), (len(totals), 1))
            out[:, self.group] = t
            return out
        p = np.array(self.base, dtype=dtype)
        n0 = sum(self.base)
        q = t[:, None] * p[None, :]
        fl = q // n0
        rem = q % n0
        short = t - fl.sum(axis=1)
        order = np.argsort(-rem, axis=1, kind="stable")  # ties: the group listed first
        ranks = np.empty((len(totals), n_groups), dtype=np.int64)
        np.put_along_axis(ranks, order, np.broadcast_to(np.arange(n_groups), ranks.shape), axis=1)
        return fl + (ranks < short[:, None].astype(np.int64)).astype(dtype)

    # evaluation --------------------------------------------------------------
    def evaluate(self, totals: list[int]) -> tuple[np.ndarray, dict[str, tuple[list[int], list[int], list[int]]]]:
        """Group counts, and per scheme (page tables, VmPTE summed, demand) at every point."""
        c = self.counts(totals)
        present = c > 0
        if present.size:
            patterns, inverse = np.unique(present, axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
        else:
            patterns, inverse = np.zeros((0, len(self.base)), dtype=bool), np.zeros(0, dtype=np.int64)
        out: dict[str, tuple[list[int], list[int], list[int]]] = {}
        for scheme in self.schemes:
            affs = [self._affine(scheme, tuple(bool(x) for x in pat)) for pat in patterns]
            most = max(max(totals, default=0), max(self.base, default=0))
            bound = (most * sum(max(a.per_process[i] + a.vmpte[i] for a in affs) for i in
                                                   range(len(self.base))) + max((a.fixed for a in affs), default=0)
                     if affs else 0)
            dtype = np.int64 if bound < _INT64_SAFE and c.dtype != object else object
            cc = c.astype(dtype)

            def vec(attr: str) -> np.ndarray:
                table = np.array([getattr(a, attr) for a in affs], dtype=dtype)
                return table[inverse] if affs else np.zeros((0, len(self.base)), dtype=dtype)

            own, vm, per = vec("own"), vec("vmpte"), vec("per_process")
            shared = np.array([a.shared for a in affs], dtype=dtype)[inverse] if affs else np.zeros(0, dtype)
            fixed = np.array([a.fixed for a in affs], dtype=dtype)[inverse] if affs else np.zeros(0, dtype)
            pt = shared + (cc * own).sum(axis=1)
            vt = (cc * vm).sum(axis=1)
            demand = fixed + (cc * per).sum(axis=1)
            out[scheme] = (pt.tolist(), vt.tolist(), demand.tolist())  # Python ints (int64 or object arrays)
        return c, out

    def short(self, scheme: str) -> bool:
        """The hugetlb pool is short (wont-start at every count)."""
        return self._affine(scheme, tuple(True for _ in self.base)).short

    def crossing(self, scheme: str) -> Crossing:
        """The exact smallest count that does not fit (see the module docstring)."""
        if self.available is None:
            return Crossing(scheme, None, None, "unknown")
        everyone = tuple(True for _ in self.base)
        if self._affine(scheme, everyone).short:
            return Crossing(scheme, 0, "wont-start", "never-fits")
        avail = self.available
        nobody = tuple(False for _ in self.base)
        if self.group is None:
            scaled = [i for i, p in enumerate(self.base) if p > 0]
            n0 = sum(self.base)
            hi_aff, lo_aff = self._affine(scheme, everyone), self._affine(scheme, nobody)
            slope = Fraction(sum(self.base[i] * hi_aff.per_process[i] for i in scaled), n0)
            intercept = 0
            slack = sum(hi_aff.per_process[i] for i in scaled)
        else:
            gi = self.group
            base_present = tuple(b > 0 or i == gi for i, b in enumerate(self.base))
            lo_present = tuple(b > 0 and i != gi for i, b in enumerate(self.base))
            hi_aff, lo_aff = self._affine(scheme, base_present), self._affine(scheme, lo_present)
            slope = Fraction(hi_aff.per_process[gi])
            intercept = sum(b * hi_aff.per_process[i] for i, b in enumerate(self.base) if i != gi)
            slack = 0
        # Every N with fixed_max + intercept + N*slope + slack <= avail fits;
        # every N with fixed_min + intercept + N*slope - slack > avail fails.
        fixed_max = max(hi_aff.fixed, lo_aff.fixed)
        fixed_min = min(hi_aff.fixed, lo_aff.fixed)
        if slope == 0:
            lo_n, hi_n = 0, 1
        else:
            room = avail - fixed_max - intercept - slack
            lo_n = max(0, math.floor(Fraction(room) / slope) + 1) if room >= 0 else 0
            hi_n = math.floor(Fraction(avail + slack - fixed_min - intercept) / slope) + 1
            hi_n = max(hi_n, lo_n)
        chunk = 1 << 20
        start = lo_n
        while start <= hi_n:
            pts = list(range(start, min(hi_n, start + chunk - 1) + 1))
            _, vals = self.evaluate(pts)
            demand = vals[scheme][2]
            for n, d in zip(pts, demand):
                if d > avail:
                    return Crossing(scheme, n, "oom", "never-fits" if n == 0 else "crosses")
            start += chunk
        return Crossing(scheme, None, None, "fits")  # slope 0: nothing grows


def sweep_processes(ev: Evaluation, points: list[int], group: str | None = None) -> SweepResult:
    """Sweep the process count of ``ev``'s one column over ``points`` (see the module docstring)."""
    sw = CountSweeper(ev, group)
    counts, vals = sw.evaluate(points)
    series = []
    for s in sw.schemes:
        pt, vt, demand = vals[s]
        short = sw.short(s)
        series.append(Series(s, pt, vt, demand, [verdict_of(d, sw.available, sw.headroom, short) for d in demand]))

    def demand_at(totals: list[int]) -> dict[str, list[int]]:
        _, more = sw.evaluate(totals)
        return {s: more[s][2] for s in sw.schemes}

    workload = sw.workload
    grows, name = sw.grows
    return SweepResult(
        workload=workload, axis="processes", points=points, series=tuple(series),
        crossings=tuple(sw.crossing(s) for s in sw.schemes), available_bytes=sw.available,
        headroom_percent=sw.headroom, column=sw.column, grows=grows, grows_name=name,
        chosen=sw.group is not None, rounding=sw.rounding,
        group_names=tuple(g.name for g in workload.groups),
        group_counts=[tuple(row) for row in counts.tolist()], demand_at=demand_at)


# --- the segment-size axis -------------------------------------------------------------

def _scale_touched(touched: tuple[tuple[int, int], ...], old: int, new: int, page: int,
                   ) -> tuple[tuple[int, int], ...]:
    def scaled(s: int, e: int) -> tuple[int, int]:
        return round_down(s * new // old, page), min(round_up(ceil_div(e * new, old), page), new)

    # both ends scale monotonically: the ranges stay in order, merge_ranges only merges
    return tuple(merge_ranges(scaled(s, e) for s, e in touched))


def resize_segment(workload: Workload, name: str, size: int) -> Workload:
    """``workload`` with segment ``name`` of ``size`` bytes (see the module docstring).

    Raises ParameterError when a mapping of part of the segment no longer fits in
    it, or a grown mapping overlaps another.
    """
    seg = workload.segments[name]
    ps = seg.page_size
    if size <= 0 or size % ps:
        raise ParameterError("size", f"{format_size(size)} is not a positive multiple of segment {name}'s "
                         f"page size ({format_size(ps)})")
    groups: list[ProcessGroup] = []
    for g in workload.groups:
        pairs: list[tuple[Mapping, bool]] = []
        changed = False
        for m in g.mappings:
            if m.segment != name:
                pairs.append((m, m.auto))
                continue
            if m.offset == 0 and m.size == seg.size:
                nm = replace(m, size=size, touched=_scale_touched(m.touched, m.size, size, ps))
                pairs.append((nm, m.auto))
                changed = True
            elif m.offset + m.size > size:
                where = m.origin or f"a mapping of group {g.name}"
                raise ParameterError("size", f"{format_size(size)}: {where} maps [{format_size(m.offset)}, "
                                 f"{format_size(m.offset + m.size)}) of segment {name}, beyond its new end")
            else:
                pairs.append((m, m.auto))
        if not changed:
            groups.append(g)
            continue
        try:
            ms = resolve_addresses(pairs, workload.arch) if any(a for _, a in pairs) else [m for m, _ in pairs]
        except ValueError as e:
            raise ParameterError("size", f"{format_size(size)}: {e}") from None
        spans = sorted((m.address, m.end, m.origin) for m in ms)
        for (_, a_end, _), (b_start, _, origin) in zip(spans, spans[1:]):
            if a_end > b_start:
                raise ParameterError("size", f"{format_size(size)}: the grown mapping of {name} overlaps "
                                 f"{origin or 'another mapping'} in group {g.name}")
        if any(m.end > workload.arch.user_limit for m in ms):
            raise ParameterError("size", f"{format_size(size)}: a mapping of {name} no longer fits below "
                             f"{workload.arch.user_limit:#x}")
        groups.append(replace(g, mappings=tuple(ms)))
    segments = dict(workload.segments)
    segments[name] = replace(seg, size=size)
    return replace(workload, segments=segments, groups=tuple(groups))


def smallest_size(workload: Workload, name: str) -> int:
    """The smallest size ``resize_segment`` accepts: one page, or the end of
    the furthest mapping of part of the segment."""
    seg = workload.segments[name]
    ends = [m.offset + m.size for g in workload.groups for m in g.mappings
            if m.segment == name and not (m.offset == 0 and m.size == seg.size)]
    return max([seg.page_size, *ends])


def pick_segment(workload: Workload, name: str | None) -> str:
    if name is None:
        if len(workload.segments) != 1:
            raise ParameterError("segment", f"the workload has {len(workload.segments)} segments: name the one to "
                                            f"resize ({', '.join(workload.segments)})")
        return next(iter(workload.segments))
    if name not in workload.segments:
        raise ParameterError("segment", f"no segment named {name!r} (segments: {', '.join(workload.segments)})")
    return name


def _size_point(ev: Evaluation, name: str, size: int) -> dict[str, tuple[int, int, int, str | None]]:
    """Every scheme at one size of segment ``name``: page tables, VmPTE summed, demand, verdict."""
    at = evaluate(resize_segment(ev.workload, name, size), ev.options)
    col = at.columns[0]
    if col.unavailable is not None:
        raise ParameterError("size", f"{format_size(size)} on {format_size(col.page_size or 0)} pages: {col.unavailable}")
    out: dict[str, tuple[int, int, int, str | None]] = {}
    for cell in at.cells_of(col):
        r, b = cell.result, cell.budget
        out[cell.scheme] = (r.physical_bytes, r.vmpte_total, b.demand_bytes, b.verdict)
    return out


def sweep_size(ev: Evaluation, segment: str | None, start: int, stop: int, step: int | None) -> SweepResult:
    """Sweep the size of one segment (see the module docstring) on ``ev``'s one
    column: every point is the configured workload resized and then, on a
    what-if column, converted to its page size."""
    column = ev.column
    if column.configured:  # (selected by its page size: the what-if that equals the workload)
        ev = Evaluation(ev.workload, replace(ev.options, columns=CONFIGURED))
    workload = ev.workload
    schemes = ev.schemes
    name = pick_segment(workload, segment)
    ps = workload.segments[name].page_size
    points = grid(start, stop, step, DEFAULT_SIZE_POINTS, MAX_SIZE_POINTS, "size", align=ps, sizes=True)

    def at(size: int) -> dict[str, tuple[int, int, int, str | None]]:
        return _size_point(ev, name, size)

    values = [at(p) for p in points]
    series = tuple(Series(s, [v[s][0] for v in values], [v[s][1] for v in values], [v[s][2] for v in values],
                          [v[s][3] for v in values]) for s in schemes)
    available = workload.host.available
    crossings = []
    for s in schemes:
        verdicts = [v[s][3] for v in values]
        if available is None and "wont-start" not in verdicts:
            crossings.append(Crossing(s, None, None, "unknown"))
            continue
        bad = [i for i, v in enumerate(verdicts) if v in ("oom", "wont-start")]
        if not bad:
            crossings.append(Crossing(s, None, None, "fits"))
            continue
        def fails(size: int, s: str = s) -> bool:
            return at(size)[s][3] in ("oom", "wont-start")

        i = bad[0]
        floor = smallest_size(workload, name)
        if i > 0:
            first = _bisect(points[i - 1], points[i], ps, fails)
        elif points[0] > floor and not fails(floor):
            first = _bisect(floor, points[0], ps, fails)  # below the range: still exact
        else:
            first = floor if fails(floor) else points[0]
        verdict = at(first)[s][3]
        status = "never-fits" if first == floor else "crosses"
        crossings.append(Crossing(s, first, verdict, status))
    return SweepResult(
        workload=workload, axis="size", points=points, series=series,
        crossings=tuple(crossings), available_bytes=available, headroom_percent=workload.host.headroom_percent,
        column=column, grows="segment", grows_name=name, chosen=segment is not None, rounding="scale-touched",
        group_names=tuple(g.name for g in workload.groups), granularity=ps)


def _bisect(fit: int, fail: int, align: int, fails: Callable[[int], bool]) -> int:
    """Smallest multiple of ``align`` in (fit, fail] that fails, assuming
    ``fails`` is monotone there (``fit`` fits or lies below the domain)."""
    lo, hi = fit // align, fail // align
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fails(mid * align):
            hi = mid
        else:
            lo = mid
    return hi * align
