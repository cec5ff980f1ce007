"""``ptcalc explain``: where every page table of a workload comes from.

For one scheme, per group and mapping: the tables each process needs per
level, which shared tables it links in and with whom it shares them, and for
every part of a mapping whose tables stay private the rule that stopped the
sharing and the smallest change that would let it share -- computed by
re-running the model on the changed workload, never canned.  Nothing here
prints; ``ptcalc.render.explain_*`` render an :class:`Explanation`.

Attribution (per process of a group, per level below the PGD):

* a mapping's **own** tables are the blocks at that level that only this
  mapping's private (process-owned) parts touch;
* blocks touched by two or more mappings of the same process (two small
  mappings in one 2 MiB block share one PTE table, docs/semantics.md
  section 2) are one line of their own, **between mappings**;
* the PGD is one per process (PGD line);

so own tables of the mappings + between mappings + PGD = the model's
``GroupResult.own_tables``, level by level.  Shared tables are grouped in
**pools**, one per sharing key (docs/semantics.md section 3): the tables of a
pool are counted once, and physical tables per level = sum over groups of
count x own tables + the pools' tables = ``SchemeResult.tables``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ptcalc.arch import LEVEL_NAMES, VMPTE_LEVELS
from ptcalc.model import (ZONE_KIND, Layout, Why, count, cut, dedupe_within, distinct_blocks, first_of, key_ids,
                          merge_within, union_and_shared, zones)
from ptcalc.results import SchemeResult, zero_levels
from ptcalc.units import format_size
from ptcalc.whatif import convert
from ptcalc.why import reason as why_reason
from ptcalc.workload import PROTECTIONS, Mapping, ModelOptions, Workload

I64 = np.int64
Interval = tuple[int, int]

# Rule identifiers (JSON ``rule``) and the model's reason codes they come from.
RULE_OF_WHY: dict[Why, str] = {
    Why.PRIVATE_SCHEME: "private-scheme",
    Why.NOT_HUGETLB: "not-hugetlb",
    Why.NOT_PMD_PAGES: "not-pmd-pages",
    Why.ARCH_NO_PMD_SHARE: "arch-no-pmd-share",
    Why.PROT_NONE: "prot-none",
    Why.USERFAULTFD: "userfaultfd",
    Why.SOFT_DIRTY: "soft-dirty",
    Why.BELOW_THRESHOLD: "below-threshold",
    Why.MISALIGNED: "misaligned",
    Why.NO_WHOLE_WINDOW: "no-whole-window",
    Why.NO_TABLES_AT_LEVEL: "no-tables-at-level",
    Why.PTSHARE_ALIGNMENT: "ptshare-alignment",
}
EXTRA_RULES: tuple[str, ...] = ("partial-window", "alone", "alignment-differs", "protection-differs")
"""Rules explain adds: a window only partly inside the mapping, no other
sharer, and sharers kept apart by their alignment or protection."""

PROT_WORDS = {"rw": "read-write", "r": "read-only", "none": "PROT_NONE"}


# --- result types ---------------------------------------------------------------------

@dataclass(frozen=True)
class Fix:
    """A change to the workload and what it saves, as the model computes it."""

    kind: str
    """move | grow | hugetlb-pages | threshold | protection | userfaultfd | soft-dirty"""
    text: str
    physical_before: int
    physical_after: int
    change_bytes: int
    """How big the change is (|shift|, bytes added); 0 for flag changes."""
    delta: int | None = None
    """move: the signed shift in bytes."""
    new_range: Interval | None = None
    """move/grow: the mapping's new [start, end) virtual addresses."""
    new_offset: int | None = None

    @property
    def saves(self) -> int:
        return self.physical_before - self.physical_after


@dataclass(frozen=True)
class Finding:
    """A part of a mapping whose tables are not shared, and why."""

    group: int
    mapping: int
    """Index of the mapping in its group (workload order); -1 for the group."""
    level: str
    """The level whose tables stay private: pte, pmd, or 'all'."""
    rule: str
    reason: str
    ranges: tuple[Interval, ...]
    """Virtual-address ranges concerned (zone bounds, not only touched pages)."""
    tables: dict[str, int]
    """Per process, tables (pte/pmd) that stay private because of this."""
    fix: Fix | None = None
    alternatives: tuple[Fix, ...] = ()
    note: str | None = None
    """Why there is no fix, or what else to know."""


@dataclass(frozen=True)
class Partner:
    group: str
    mapping: int
    processes: int
    tables: int
    """Tables of the pool both use."""


@dataclass(frozen=True)
class Sharing:
    """A mapping's use of one pool of shared tables."""

    pool: int
    level: str
    tables: int
    """Per process: tables of the pool this mapping's touched pages use."""
    attached: bool
    """Counted in VmPTE (linked in by the process itself)."""
    shared: int
    """Of ``tables``, those with two or more sharers."""
    partners: tuple[Partner, ...]
    """Other mappings (of other groups, or of this group's other processes) using them."""


@dataclass(frozen=True)
class MappingExplain:
    group: int
    index: int
    mapping: Mapping
    backing: str
    page_size: int
    own: dict[str, int]
    """Per process: tables at each level only this mapping needs (process-owned)."""
    attached: dict[str, int]
    """Per process: shared tables it links in (counted in VmPTE)."""
    sharing: tuple[Sharing, ...]


@dataclass(frozen=True)
class GroupExplain:
    name: str
    count: int
    mappings: tuple[MappingExplain, ...]
    between_mappings: dict[str, int]
    """Per process: tables two or more of its mappings use (counted once)."""
    own: dict[str, int]
    """Per process, every table it owns (mappings + between + PGD) = the model's own_tables."""
    attached: dict[str, int]
    per_process_bytes: int
    vmpte_bytes: int


@dataclass(frozen=True)
class Pool:
    """Shared tables under one sharing key, counted once."""

    id: int
    kind: str
    """pmd (shared PMD tables), pte (shared PTE tables) or mshare (a region's host mm)."""
    segment: str
    protection: str
    alignment: int | str | None
    """pmd: (address - offset) mod PUD_SIZE; pte under ptshare: address - offset or 'auto'; else None."""
    tables: dict[str, int]
    shared: dict[str, int]
    """Of ``tables``, those with two or more sharers."""
    users: tuple[tuple[int, int, int], ...]
    """(group, mapping index, processes) of every mapping using the pool."""


@dataclass(frozen=True)
class Totals:
    """Physical tables per level: processes' own + pools = the model's figure."""

    own: dict[str, int]
    pools: dict[str, int]
    total: dict[str, int]
    model: dict[str, int]


@dataclass(frozen=True)
class VmpteNote:
    summed_bytes: int
    physical_bytes: int
    own_bytes: int
    """Own PTE/PMD/PUD tables, summed over processes (in both figures)."""
    attached_bytes: int
    """Shared tables linked in, once per process that links them (VmPTE only)."""
    attachments: int
    """How many (process, shared table) links that is."""
    top_bytes: int
    """PGD/P4D tables of the processes (physical only: VmPTE never counts them)."""
    pool_bytes: int
    """Distinct shared tables and mshare host tables (physical, once)."""
    text: str


@dataclass(frozen=True)
class Explanation:
    workload: Workload
    scheme: str
    options: ModelOptions
    column_label: str
    result: SchemeResult
    groups: tuple[GroupExplain, ...]
    pools: tuple[Pool, ...]
    totals: Totals
    findings: tuple[Finding, ...]
    vmpte: VmpteNote
    table_bytes: dict[str, int] = field(default_factory=dict)


# --- interval helpers (few intervals: mappings and touched ranges) -----------------------

def _merge(iv: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(iv):
        if lo >= hi:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _length(iv: list[Interval]) -> int:
    return sum(hi - lo for lo, hi in iv)


def _overlap(a: list[Interval], b: list[Interval]) -> int:
    """Total length of the intersection of two merged interval lists."""
    i = j = total = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


# --- the computation ------------------------------------------------------------------------

class _Context:
    """Layout, zones, parts and the per-part arrays count() uses."""

    def __init__(self, workload: Workload, scheme: str, options: ModelOptions) -> None:
        self.w = workload
        self.scheme = scheme
        self.options = options
        self.layout = layout = Layout.from_workload(workload)
        self.z = z = zones(layout, scheme, options)
        self.result = count(layout, z)
        self.parts = parts = cut(layout, z)
        self.arch = arch = layout.arch
        self.levels = arch.levels
        self.top = len(self.levels) - 1
        self.pmd_i = layout.level_index("pmd")
        self.attach_i = layout.level_index("p4d") or self.top
        self.kind = ZONE_KIND[parts.zone]
        self.leaf = layout.row_leaf[parts.row]
        self.group_of_part = layout.row_group[parts.row]
        if z.upper == "mshare":
            upper_own = np.full(self.kind.shape, self.attach_i, dtype=I64)
        else:
            upper_own = np.full(self.kind.shape, (self.pmd_i if self.pmd_i is not None else 0) + 1, dtype=I64)
        self.own_min = np.where(self.kind == 0, self.leaf,
                                np.where(self.kind == 1, np.maximum(self.leaf, 1), upper_own))
        self.counts = layout.counts
        self.row_weight = (np.minimum(np.array(self.counts, dtype=I64), 2)[layout.row_group]
                           if layout.n_rows else np.zeros(0, I64))
        self.table_bytes = {lv.name: lv.table_bytes for lv in self.levels}
        self.table_bytes["pgd"] = arch.pgd_bytes(layout.pti)
        self.seg_names = list(workload.segments)
        # PMD_SIZE and PUD_SIZE: what one PTE table and one PMD table cover
        self.pmd_size = self.levels[0].table_span
        self.pud_size = self.levels[self.pmd_i].table_span if self.pmd_i is not None else None

    def row_of(self, gi: int, mi: int) -> int:
        return self.layout.row_index.index((gi, mi))

    def mapping(self, r: int) -> Mapping:
        gi, mi = self.layout.row_index[r]
        return self.w.groups[gi].mappings[mi]

    def blocks(self, mask: np.ndarray, li: int) -> np.ndarray:
        """Per row, distinct blocks at level ``li`` of the parts in ``mask``."""
        p = self.parts
        return distinct_blocks(p.row[mask], p.start[mask], p.end[mask], self.levels[li].table_span,
                               self.layout.n_rows)


def _own_attribution(cx: _Context) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    """Per row: tables only it needs; per group: tables shared between mappings."""
    n_rows, n_groups = cx.layout.n_rows, len(cx.counts)
    own = {r: zero_levels() for r in range(n_rows)}
    between = {g: zero_levels() for g in range(n_groups)}
    p = cx.parts
    for li, lv in enumerate(cx.levels[:-1]):
        m = cx.own_min <= li
        per_row = cx.blocks(m, li)
        span = lv.table_span
        # first and last block of every row's own parts: only these can be
        # shared with another mapping (mappings of a process never overlap)
        ends: dict[int, tuple[int, int]] = {}
        for r, s, e in zip(p.row[m].tolist(), p.start[m].tolist(), p.end[m].tolist()):
            first, last = s // span, (e - 1) // span
            ends[r] = (ends[r][0], last) if r in ends else (first, last)
        users: dict[tuple[int, int], set[int]] = {}
        for r, (first, last) in ends.items():
            g = int(cx.layout.row_group[r])
            users.setdefault((g, first), set()).add(r)
            users.setdefault((g, last), set()).add(r)
        multi = {k for k, rs in users.items() if len(rs) >= 2}
        for r in range(n_rows):
            n = int(per_row[r])
            if r in ends:
                g = int(cx.layout.row_group[r])
                first, last = ends[r]
                n -= (g, first) in multi
                if last != first:
                    n -= (g, last) in multi
            own[r][lv.name] = n
        for g, _ in multi:
            between[g][lv.name] += 1
    return own, between


def _attached(cx: _Context) -> dict[int, dict[str, int]]:
    """Per row: shared tables it links in (VmPTE), as count() does."""
    out = {r: zero_levels() for r in range(cx.layout.n_rows)}
    if cx.z.upper == "pmd" and cx.pmd_i is not None:
        per_row = cx.blocks(cx.kind == 2, cx.pmd_i)
        for r in range(cx.layout.n_rows):
            out[r]["pmd"] = int(per_row[r])
    if cx.z.attached_pte:
        per_row = cx.blocks(cx.kind == 1, 0)
        for r in range(cx.layout.n_rows):
            out[r]["pte"] = int(per_row[r])
    return out


@dataclass
class _PoolBuild:
    pool: Pool
    row_intervals: dict[int, dict[str, list[Interval]]]
    """Per row, per level: the pool's blocks it uses (block numbers in the pool's space)."""
    attached_rows: set[int]


def _keyed_pools(cx: _Context, kind_name: str, mask: np.ndarray, li: int, class_of: np.ndarray,
                 attach_mask: np.ndarray | None) -> list[_PoolBuild]:
    """Pools of shared PMD or PTE tables, one per (segment, protection, class)."""
    if not mask.any():
        return []
    p, lay = cx.parts, cx.layout
    rows = p.row[mask]
    span = cx.levels[li].table_span
    d = lay.row_addr[rows] - lay.row_off[rows]
    shift = -((-d) // span)  # VA block b is file block b - shift
    lo, hi = dedupe_within(rows, p.start[mask] // span, -((-p.end[mask]) // span))
    key = key_ids(lay.row_seg[rows], lay.row_prot[rows], class_of[rows])
    attach = attach_mask[mask] if attach_mask is not None else np.zeros(rows.shape, dtype=bool)
    out: list[_PoolBuild] = []
    name = cx.levels[li].name
    for k in np.unique(key).tolist():
        km = key == k
        u, s = union_and_shared(np.zeros(int(km.sum()), dtype=I64), (lo - shift)[km], (hi - shift)[km],
                                cx.row_weight[rows[km]])
        per_row: dict[int, dict[str, list[Interval]]] = {}
        attached_rows: set[int] = set()
        for r, a, b, at in zip(rows[km].tolist(), (lo - shift)[km].tolist(), (hi - shift)[km].tolist(),
                               attach[km].tolist()):
            if a < b:
                per_row.setdefault(r, {}).setdefault(name, []).append((a, b))
                if at:
                    attached_rows.add(r)
        per_row = {r: {n: _merge(iv) for n, iv in lv.items()} for r, lv in per_row.items()}
        r0 = int(rows[km][0])
        cls = int(class_of[r0])
        if kind_name == "pte" and cx.z.scheme == "mshare":
            alignment: int | str | None = "auto" if cls == -1 else cls
        elif kind_name == "pmd":
            alignment = cls
        else:
            alignment = None
        tables, shared = zero_levels(), zero_levels()
        tables[name], shared[name] = u, s
        users = tuple((int(lay.row_index[r][0]), int(lay.row_index[r][1]), cx.counts[lay.row_index[r][0]])
                      for r in sorted(per_row))
        out.append(_PoolBuild(
            pool=Pool(id=-1, kind=kind_name, segment=cx.seg_names[int(lay.row_seg[r0])],
                      protection=PROTECTIONS[int(lay.row_prot[r0])], alignment=alignment, tables=tables,
                      shared=shared, users=users),
            row_intervals=per_row, attached_rows=attached_rows))
    return out


def _mshare_pools(cx: _Context) -> list[_PoolBuild]:
    """mshare v3: one host mm per (segment, protection), as count() counts it."""
    p, lay = cx.parts, cx.layout
    m = (cx.kind == 2) & (cx.row_weight[p.row] > 0)
    if not m.any():
        return []
    rows = p.row[m]
    d = lay.row_addr[rows] - lay.row_off[rows]
    fs, fe = p.start[m] - d, p.end[m] - d
    key = key_ids(lay.row_seg[rows], lay.row_prot[rows])
    grp = lay.row_group[rows]
    leaf = cx.leaf[m]
    w_group = np.minimum(np.array(cx.counts, dtype=I64), 2)
    out: list[_PoolBuild] = []
    for k in np.unique(key).tolist():
        km = key == k
        tables, shared = zero_levels(), zero_levels()
        per_row: dict[int, dict[str, list[Interval]]] = {}
        for li, lv in enumerate(cx.levels[:-1]):
            lm = km & (leaf <= li)
            if not lm.any():
                continue
            lo, hi = fs[lm] // lv.table_span, -((-fe[lm]) // lv.table_span)
            for r, a, b in zip(rows[lm].tolist(), lo.tolist(), hi.tolist()):
                per_row.setdefault(r, {}).setdefault(lv.name, []).append((a, b))
            if li < cx.attach_i:
                oid = key_ids(grp[lm])
                owner, mlo, mhi = merge_within(oid, lo, hi)
                first = first_of(oid, owner)
                u, s = union_and_shared(np.zeros(owner.shape, dtype=I64), mlo, mhi, w_group[grp[lm][first]])
            else:  # the host's own P4D tables: no process walks them
                u, _ = union_and_shared(np.zeros(lo.shape, dtype=I64), lo, hi, np.ones_like(lo))
                s = 0
            tables[lv.name], shared[lv.name] = u, s
        tables["pgd"] = 1  # the host mm's PGD
        per_row = {r: {n: _merge(iv) for n, iv in lv.items()} for r, lv in per_row.items()}
        r0 = int(rows[km][0])
        users = tuple((int(lay.row_index[r][0]), int(lay.row_index[r][1]), cx.counts[lay.row_index[r][0]])
                      for r in sorted(per_row))
        out.append(_PoolBuild(
            pool=Pool(id=-1, kind="mshare", segment=cx.seg_names[int(lay.row_seg[r0])],
                      protection=PROTECTIONS[int(lay.row_prot[r0])], alignment=None, tables=tables,
                      shared=shared, users=users),
            row_intervals=per_row, attached_rows=set()))
    return out


def _pools(cx: _Context) -> list[_PoolBuild]:
    z, lay = cx.z, cx.layout
    builds: list[_PoolBuild] = []
    if z.upper == "pmd" and cx.pmd_i is not None and cx.pud_size is not None:
        d = lay.row_addr - lay.row_off
        builds += _keyed_pools(cx, "pmd", cx.kind == 2, cx.pmd_i, d % cx.pud_size, np.ones(cx.kind.shape, bool))
    m_pte = cx.kind == 1
    if z.upper == "pmd" and z.scheme == "file-cached":
        m_pte = m_pte | ((cx.kind == 2) & (cx.leaf == 0))
    attach = (cx.kind == 1) if z.attached_pte else None
    builds += _keyed_pools(cx, "pte", m_pte, 0, z.pte_key_class, attach)
    if z.upper == "mshare":
        builds += _mshare_pools(cx)
    for i, b in enumerate(builds):
        b.pool = replace(b.pool, id=i)
    return builds


def _sharing(cx: _Context, builds: list[_PoolBuild]) -> dict[int, list[Sharing]]:
    """Per row: its pools, how many of its tables there have another sharer, and who."""
    out: dict[int, list[Sharing]] = {}
    lay = cx.layout
    for b in builds:
        mshare = b.pool.kind == "mshare"
        for r, per_level in b.row_intervals.items():
            g = int(lay.row_group[r])
            for level, iv in per_level.items():
                partners: list[Partner] = []
                others: list[Interval] = []
                for r2, lv2 in b.row_intervals.items():
                    if r2 == r or level not in lv2:
                        continue
                    g2 = int(lay.row_group[r2])
                    if mshare and g2 == g:
                        continue  # a process attaches its region once
                    if cx.counts[g2] == 0:
                        continue
                    ov = _overlap(iv, lv2[level])
                    if ov:
                        gi2, mi2 = lay.row_index[r2]
                        partners.append(Partner(group=cx.w.groups[gi2].name, mapping=mi2,
                                                processes=cx.counts[g2], tables=ov))
                        others += lv2[level]
                n = _length(iv)
                if cx.counts[g] >= 2:
                    shared = n
                elif cx.counts[g] == 0:
                    shared = 0
                else:
                    shared = _overlap(iv, _merge(others))
                out.setdefault(r, []).append(Sharing(
                    pool=b.pool.id, level=level, tables=n, attached=r in b.attached_rows, shared=shared,
                    partners=tuple(partners)))
    return out


# --- findings and fixes ------------------------------------------------------------------

class _Fixer:
    """Applies candidate changes to the workload and measures them with the model."""

    def __init__(self, cx: _Context) -> None:
        self.cx = cx
        self.before = cx.result.physical_bytes
        self._seen: dict[tuple, int | None] = {}

    def _physical(self, w: Workload, options: ModelOptions | None = None) -> int:
        return count_physical(w, self.cx.scheme, options or self.cx.options)

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

    def move(self, gi: int, mi: int, delta: int) -> Fix | None:
        if delta == 0:
            return None
        m = self.cx.w.groups[gi].mappings[mi]
        w = self._with_mapping(gi, mi, replace(m, address=m.address + delta, auto=False))
        if w is None:
            return None
        after = self._physical(w)
        sign = "+" if delta > 0 else "-"
        return Fix(kind="move", text=f"move the mapping by {sign}{format_size(abs(delta))} "
                                     f"(to {m.address + delta:#x})",
                   physical_before=self.before, physical_after=after, change_bytes=abs(delta), delta=delta,
                   new_range=(m.address + delta, m.end + delta), new_offset=m.offset)

    def grow(self, gi: int, mi: int, start: int, end: int) -> Fix | None:
        m = self.cx.w.groups[gi].mappings[mi]
        if start > m.address or end < m.end or (start, end) == (m.address, m.end):
            return None
        head = m.address - start
        new = replace(m, address=start, offset=m.offset - head, size=end - start,
                      touched=tuple((s + head, e + head) for s, e in m.touched), auto=False)
        w = self._with_mapping(gi, mi, new)
        if w is None:
            return None
        after = self._physical(w)
        return Fix(kind="grow", text=f"grow the mapping to cover [{start:#x}, {end:#x}) (file offsets "
                                     f"{format_size(new.offset)} to {format_size(new.offset + new.size)})",
                   physical_before=self.before, physical_after=after, change_bytes=(end - start) - m.size,
                   new_range=(start, end), new_offset=new.offset)

    def flag(self, gi: int, mi: int, kind: str, text: str, **changes: object) -> Fix | None:
        m = self.cx.w.groups[gi].mappings[mi]
        w = self._with_mapping(gi, mi, replace(m, **changes))  # type: ignore[arg-type]
        if w is None:
            return None
        return Fix(kind=kind, text=text, physical_before=self.before, physical_after=self._physical(w),
                   change_bytes=0)

    def threshold(self, size: int) -> Fix:
        opts = replace(self.cx.options, file_cached_threshold=size)
        return Fix(kind="threshold",
                   text=f"lower the file-cached threshold to {format_size(size)} or less "
                        f"(--file-cached-threshold {format_size(size).replace(' ', '')})",
                   physical_before=self.before, physical_after=self._physical(self.cx.w, opts), change_bytes=0)

    def hugetlb_pages(self, segment: str) -> Fix | None:
        """The segment on PMD-sized hugetlb pages, the rest of the workload unchanged."""
        w = self.cx.w
        size = w.arch.pmd_share_size
        if size is None or w.segments[segment].backing == "file":
            return None
        try:
            conv = convert(w, size)
        except ValueError:
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
        return Fix(kind="hugetlb-pages",
                   text=f"put segment {segment} on {format_size(size)} hugetlb pages "
                        f"(SHM_HUGETLB / MAP_HUGETLB, hugetlbfs)",
                   physical_before=self.before, physical_after=self._physical(new), change_bytes=0)


def count_physical(w: Workload, scheme: str, options: ModelOptions) -> int:
    """Physical page-table bytes of ``w`` under ``scheme`` (the model)."""
    layout = Layout.from_workload(w)
    return count(layout, zones(layout, scheme, options)).physical_bytes


def _best(fixes: list[Fix | None]) -> tuple[Fix | None, tuple[Fix, ...]]:
    """The smallest change that saves anything (ties: the larger saving), and the others."""
    good = [f for f in fixes if f is not None and f.saves > 0]
    if not good:
        return None, ()
    good.sort(key=lambda f: (f.change_bytes, -f.saves))
    best = good[0]
    rest = sorted((f for f in good[1:] if f.text != best.text), key=lambda f: -f.saves)
    seen: set[str] = set()
    uniq = []
    for f in rest:
        if f.text not in seen:
            seen.add(f.text)
            uniq.append(f)
    return best, tuple(uniq)


def _shifts_to(address: int, target: int, modulus: int) -> list[int]:
    """Both signed shifts (smallest magnitude each way) making address ≡ target (mod modulus)."""
    up = (target - address) % modulus
    return [up] if up == 0 else [up, up - modulus]


class _Findings:
    def __init__(self, cx: _Context, builds: list[_PoolBuild], sharing: dict[int, list[Sharing]]) -> None:
        self.cx = cx
        self.builds = builds
        self.sharing = sharing
        self.fixer = _Fixer(cx)
        self.out: list[Finding] = []
        p = cx.parts
        self.row_parts: dict[int, np.ndarray] = {}
        for r in range(cx.layout.n_rows):
            self.row_parts[r] = np.nonzero(p.row == r)[0]

    # helpers ---------------------------------------------------------------
    def tables_in(self, r: int, zone_set: tuple[int, ...]) -> dict[str, int]:
        """Per process, the row's own PTE/PMD tables from its parts in these zones."""
        cx = self.cx
        idx = self.row_parts[r]
        idx = idx[np.isin(cx.parts.zone[idx], zone_set)]
        out: dict[str, int] = {}
        for name in ("pte", "pmd"):
            li = cx.layout.level_index(name)
            if li is None:
                continue
            k = idx[cx.own_min[idx] <= li]
            if k.size == 0:
                continue
            span = cx.levels[li].table_span
            s, e = cx.parts.start[k], cx.parts.end[k]
            n = int(distinct_blocks(np.zeros(k.size, dtype=I64), s, e, span, 1)[0])
            if n:
                out[name] = n
        return out

    def ranges_in(self, r: int, zone_set: tuple[int, ...]) -> tuple[Interval, ...]:
        cx = self.cx
        idx = self.row_parts[r]
        zs = sorted(set(int(z) for z in cx.parts.zone[idx]) & set(zone_set))
        b = cx.z.bounds[r]
        return tuple(_merge([(int(b[z]), int(b[z + 1])) for z in zs]))

    def add(self, r: int, level: str, rule: str, reason: str, ranges: tuple[Interval, ...],
            tables: dict[str, int], fixes: list[Fix | None], note: str | None = None) -> None:
        gi, mi = self.cx.layout.row_index[r]
        best, alts = _best(fixes)
        if best is None and note is None and fixes:
            note = "no single change to this mapping would save page-table memory here"
        self.out.append(Finding(group=gi, mapping=mi, level=level, rule=rule, reason=reason, ranges=ranges,
                                tables=tables, fix=best, alternatives=alts, note=note))

    def reason(self, why: Why, level: str) -> str:
        return why_reason(why, level, self.cx.arch)

    # fixes by rule ---------------------------------------------------------
    def window_fixes(self, r: int, span: int, target_class: int | None) -> list[Fix | None]:
        """Moves that make windows of ``span`` whole (or congruent), and the grows
        that cover the partial windows at either end."""
        cx = self.cx
        gi, mi = cx.layout.row_index[r]
        m = cx.mapping(r)
        fixes: list[Fix | None] = []
        if target_class is None:  # align the start
            for dlt in _shifts_to(m.address, 0, span):
                fixes.append(self.fixer.move(gi, mi, dlt))
        else:  # make address - offset ≡ target_class
            for dlt in _shifts_to(m.address - m.offset, target_class, span):
                fixes.append(self.fixer.move(gi, mi, dlt))
        lo, hi = m.address // span * span, -(-m.end // span) * span
        fixes.append(self.fixer.grow(gi, mi, lo, m.end))
        fixes.append(self.fixer.grow(gi, mi, m.address, hi))
        fixes.append(self.fixer.grow(gi, mi, lo, hi))
        return fixes

    def rule_fixes(self, r: int, why: Why, level: str) -> tuple[list[Fix | None], str | None]:
        cx = self.cx
        gi, mi = cx.layout.row_index[r]
        m = cx.mapping(r)
        seg = cx.w.segments[m.segment]
        span = (cx.pud_size if level == "pmd" else cx.pmd_size) or cx.pmd_size
        if why == Why.NOT_HUGETLB:
            fix = self.fixer.hugetlb_pages(m.segment)
            if fix is None and seg.backing == "file":
                return [], ("a file on a regular filesystem cannot use hugetlb pages; the file-cached "
                            "proposal or mshare would share its tables")
            return [fix], None
        if why == Why.NOT_PMD_PAGES:
            return [self.fixer.hugetlb_pages(m.segment)], None
        if why == Why.MISALIGNED:
            target = 0  # file-cached: address ≡ offset
            fixes = self.window_fixes(r, span, target)
            if level == "pte" and cx.pud_size is not None:
                fixes += [self.fixer.move(gi, mi, d) for d in _shifts_to(m.address - m.offset, 0, cx.pud_size)]
            return fixes, None
        if why == Why.NO_WHOLE_WINDOW:
            if seg.size < span:
                return [], (f"segment {seg.name} ({format_size(seg.size)}) is smaller than one "
                            f"{format_size(span)} window: no table of this level can be shared")
            target = 0 if (cx.scheme == "file-cached" and seg.backing != "hugetlb") else None
            return self.window_fixes(r, span, target), None
        if why == Why.PTSHARE_ALIGNMENT:
            s2 = cx.pmd_size
            fixes = [self.fixer.move(gi, mi, d) for d in _shifts_to(m.address, 0, s2)]
            lo, hi = m.address // s2 * s2, -(-m.end // s2) * s2
            fixes.append(self.fixer.grow(gi, mi, lo, hi))
            fixes.append(self.fixer.grow(gi, mi, m.address, m.address + -(-m.size // s2) * s2))
            return fixes, None
        if why == Why.USERFAULTFD:
            return [self.fixer.flag(gi, mi, "userfaultfd",
                                    "register the range with userfaultfd in missing mode only "
                                    "(no write-protect or minor faults)", userfaultfd="missing")], None
        if why == Why.SOFT_DIRTY:
            return [self.fixer.flag(gi, mi, "soft-dirty",
                                    "stop soft-dirty tracking of this process (no clear_refs 4)",
                                    soft_dirty=False)], None
        if why == Why.BELOW_THRESHOLD:
            return [self.fixer.threshold(seg.size)], None
        if why == Why.PROT_NONE:
            return [], "a PROT_NONE mapping is never faulted in: it has no tables to share"
        if why == Why.NO_TABLES_AT_LEVEL:
            return [], "its pages are mapped by entries above this level: there is nothing to share here"
        if why == Why.ARCH_NO_PMD_SHARE:
            return [], None
        if why == Why.PRIVATE_SCHEME:
            return [], "the private scheme is the baseline: compare it with --scheme hugetlb-pmd, mshare or file-cached"
        return [], None

    # per row ---------------------------------------------------------------
    def whole_row(self, r: int, why: Why, level: str) -> None:
        fixes, note = self.rule_fixes(r, why, level)
        lv = "all" if why in (Why.PRIVATE_SCHEME, Why.NOT_HUGETLB, Why.PROT_NONE, Why.USERFAULTFD,
                              Why.SOFT_DIRTY, Why.BELOW_THRESHOLD) else level
        self.add(r, lv, RULE_OF_WHY[why], self.reason(why, level), self.ranges_in(r, (0, 1, 2, 3, 4)),
                 self.tables_in(r, (0, 1, 2, 3, 4)), fixes, note)

    def partial(self, r: int, level: str, zone_set: tuple[int, ...]) -> None:
        cx = self.cx
        if not self.ranges_in(r, zone_set):
            return
        span = cx.pud_size if level == "pmd" else cx.pmd_size
        assert span is not None
        m = cx.mapping(r)
        seg = cx.w.segments[m.segment]
        target = 0 if (cx.scheme == "file-cached" and seg.backing != "hugetlb") else None
        where = [f"[{a:#x}, {b:#x})" for a, b in self.ranges_in(r, zone_set)]
        reason = (f"{' and '.join(where)} lie in {format_size(span)} windows only partly inside the mapping: "
                  f"a {level.upper()} table is shared only for a {format_size(span)}-aligned window wholly "
                  f"inside it ({'vma_shareable' if level == 'pmd' else 'the file-cached rule'})")
        tables = {k: v for k, v in self.tables_in(r, zone_set).items() if k == level or level == "pte"}
        self.add(r, level, "partial-window", reason, self.ranges_in(r, zone_set), tables,
                 self.window_fixes(r, span, target))

    def rows(self) -> None:
        cx = self.cx
        z = cx.z
        lay = cx.layout
        for r in range(lay.n_rows):
            m = cx.mapping(r)
            touched = self.row_parts[r].size > 0
            if m.protection == "none":
                if cx.scheme != "private":
                    self.add(r, "all", "prot-none", self.reason(Why.PROT_NONE, "pmd"), (), {}, [],
                             "nothing to share and nothing to save")
                continue
            if not touched:
                continue
            leaf = int(lay.row_leaf[r])
            wp, wt = Why(int(z.why_pmd[r])), Why(int(z.why_pte[r]))
            if cx.scheme == "private":
                self.whole_row(r, Why.PRIVATE_SCHEME, "pmd")
            elif z.upper == "mshare":
                continue  # everything not PROT_NONE is in a region
            elif cx.scheme == "mshare":  # ptshare
                if wt != Why.SHARED:
                    self.whole_row(r, wt, "pte")
            elif cx.scheme == "hugetlb-pmd" or cx.w.segments[m.segment].backing == "hugetlb" or leaf > 0:
                # PMD-level sharing only (hugetlb rows; file-cached THP / 1 GiB rows)
                if wp != Why.SHARED:
                    self.whole_row(r, wp, "pmd")
                else:
                    self.partial(r, "pmd", (0, 4))
            else:  # file-cached, base pages
                if wt != Why.SHARED:
                    self.whole_row(r, wt, "pte")
                    continue
                self.partial(r, "pte", (0, 4))
                if wp != Why.SHARED:
                    if self.ranges_in(r, (1, 3)):
                        fixes, note = self.rule_fixes(r, wp, "pmd")
                        self.add(r, "pmd", RULE_OF_WHY[wp], self.reason(wp, "pmd"), self.ranges_in(r, (1, 3)),
                                 {"pmd": self.tables_in(r, (1, 3)).get("pmd", 0)}, fixes, note)
                else:
                    self.partial(r, "pmd", (1, 3))

    # across pools ----------------------------------------------------------
    def pools(self) -> None:
        """Mappings that could share but do not: alone, or apart by alignment or protection."""
        cx = self.cx
        lay = cx.layout
        by_row = {(s.pool, r): s for r, ss in self.sharing.items() for s in ss}
        for b in self.builds:
            p = b.pool
            if p.kind == "mshare":
                procs = sum(n for _, _, n in p.users if n)
                if procs == 1:
                    gi, mi, _ = p.users[0]
                    r = cx.row_of(gi, mi)
                    self.add(r, "all", "alone",
                             f"only one process maps region ({p.segment}, {p.protection}): its host mm's "
                             "tables cost more than private tables would", (), {}, [],
                             "mshare pays off from two processes on")
                continue
            level = "pmd" if p.kind == "pmd" else "pte"
            for r, per_level in b.row_intervals.items():
                s = by_row.get((p.id, r))
                if s is None or level not in per_level or cx.counts[int(lay.row_group[r])] == 0:
                    continue
                alone = s.tables - s.shared
                if alone <= 0:
                    continue
                mine = per_level[level]
                gi, mi = lay.row_index[r]
                m = cx.mapping(r)
                reported = False
                for b2 in self.builds:
                    p2 = b2.pool
                    if p2.id == p.id or p2.kind != p.kind or p2.segment != p.segment:
                        continue
                    theirs = _merge([iv for lv in b2.row_intervals.values() for iv in lv.get(level, [])])
                    if not _overlap(mine, theirs):
                        continue
                    procs2 = sum(n for _, _, n in p2.users)
                    procs1 = sum(n for _, _, n in p.users)
                    if (procs1, -p.id) > (procs2, -p2.id):
                        continue  # the larger pool's mappings are not the ones to change
                    names = sorted({cx.w.groups[g2].name for g2, _, n in p2.users if n})
                    who = ", ".join(names)
                    fixes: list[Fix | None] = []
                    if p2.protection != p.protection:
                        rule = "protection-differs"
                        reason = (f"{who} map{'s' if len(names) == 1 else ''} the same file "
                                  f"{'windows' if level == 'pmd' else 'blocks'} {PROT_WORDS[p2.protection]}, "
                                  f"this mapping is {PROT_WORDS[p.protection]}: tables are shared only between "
                                  "mappings with the same vm_flags (page_table_shareable)")
                        fixes.append(self.fixer.flag(
                            gi, mi, "protection", f"map it {PROT_WORDS[p2.protection]}, as {who} "
                            f"{'does' if len(names) == 1 else 'do'} (if the application allows)",
                            protection=p2.protection))
                    else:
                        rule = "alignment-differs"
                        a1, a2 = p.alignment, p2.alignment
                        span = cx.pud_size if level == "pmd" else cx.pmd_size
                        reason = (f"{who} map{'s' if len(names) == 1 else ''} the same file windows with "
                                  f"address - offset = {_fmt_class(a2)} "
                                  f"{'(mod ' + format_size(span) + ')' if p.kind == 'pmd' else ''}, this mapping "
                                  f"with {_fmt_class(a1)}: tables are shared only between mappings with the same "
                                  "alignment (page_table_shareable)").replace("  ", " ")
                        if isinstance(a1, int) and isinstance(a2, int) and span is not None:
                            if p.kind == "pmd":
                                deltas = _shifts_to(m.address - m.offset, a2, span)
                            else:
                                deltas = [a2 - a1]
                            fixes += [self.fixer.move(gi, mi, d) for d in deltas]
                    self.add(r, level, rule, reason, ((m.address, m.end),), {level: alone}, fixes)
                    reported = True
                    break
                if not reported:
                    self.add(r, level, "alone",
                             f"no other process maps these file {'windows' if level == 'pmd' else 'blocks'} "
                             "with the same alignment and protection: the tables are shareable but have one user",
                             ((m.address, m.end),), {level: alone}, [],
                             "nothing to gain until another process maps them")


def _fmt_class(c: int | str | None) -> str:
    if isinstance(c, int):
        return format_size(c) if c else "0"
    return str(c)


def _vmpte_note(cx: _Context, groups: list[GroupExplain], pool_tables: dict[str, int]) -> VmpteNote:
    tb = cx.table_bytes
    r = cx.result
    own_vm = sum(g.count * sum(g.own[n] * tb[n] for n in VMPTE_LEVELS if n in tb) for g in groups)
    att_bytes = sum(g.count * sum(g.attached[n] * tb[n] for n in VMPTE_LEVELS if n in tb) for g in groups)
    links = sum(g.count * sum(g.attached.values()) for g in groups)
    top = sum(g.count * sum(g.own[n] * tb[n] for n in ("p4d", "pgd") if n in tb) for g in groups)
    pool_bytes = sum(pool_tables[n] * tb.get(n, 0) for n in LEVEL_NAMES)
    summed, physical = r.vmpte_total, r.physical_bytes
    processes = sum(g.count for g in groups)
    if summed > physical:
        head = f"exceeds the physical page tables ({format_size(physical)}) by {format_size(summed - physical)}"
    elif summed < physical:
        head = f"is below the physical page tables ({format_size(physical)}) by {format_size(physical - summed)}"
    else:
        head = f"equals the physical page tables ({format_size(physical)})"
    lines = [f"VmPTE summed over the {processes:,} processes ({format_size(summed)}) {head}."]
    lines.append(f"Both hold the PTE/PMD/PUD tables the processes own ({format_size(own_vm)}).")
    if links:
        avg = links / max(pool_tables["pte"] + pool_tables["pmd"], 1)
        lines.append(
            f"VmPTE adds {format_size(att_bytes)}: every shared table is counted in each process that links it "
            f"in ({links:,} links, on average {avg:,.1f} per shared table), while physically the shared tables "
            f"exist once ({format_size(pool_bytes)}). The OOM killer's badness adds the same per-process figure, "
            "so every sharer is charged for them.")
    elif pool_bytes:
        owner = "the mshare host mm's tables" if cx.z.upper == "mshare" else "the shared tables"
        lines.append(f"Physical adds {owner} ({format_size(pool_bytes)}), which no process's VmPTE counts.")
    if top:
        lines.append(f"Physical adds the processes' PGD/P4D tables ({format_size(top)}), which VmPTE never counts.")
    text = " ".join(lines)
    return VmpteNote(summed_bytes=summed, physical_bytes=physical, own_bytes=own_vm, attached_bytes=att_bytes,
                     attachments=links, top_bytes=top, pool_bytes=pool_bytes, text=text)


def explain(workload: Workload, scheme: str, options: ModelOptions | None = None,
            column_label: str = "configured") -> Explanation:
    """Explain every table of ``workload`` under ``scheme`` (see the module docstring)."""
    options = options or workload.options
    cx = _Context(workload, scheme, options)
    own_rows, between = _own_attribution(cx)
    att_rows = _attached(cx)
    builds = _pools(cx)
    sharing = _sharing(cx, builds)
    lay = cx.layout
    groups: list[GroupExplain] = []
    for gi, g in enumerate(workload.groups):
        maps = []
        own_total = dict(between[gi])
        att_total = zero_levels()
        for mi, m in enumerate(g.mappings):
            r = cx.row_of(gi, mi)
            seg = workload.segments[m.segment]
            maps.append(MappingExplain(group=gi, index=mi, mapping=m, backing=seg.backing, page_size=seg.page_size,
                                       own=own_rows[r], attached=att_rows[r],
                                       sharing=tuple(sorted(sharing.get(r, []), key=lambda s: (s.pool, s.level)))))
            for n in LEVEL_NAMES:
                own_total[n] += own_rows[r][n]
                att_total[n] += att_rows[r][n]
        own_total["pgd"] += 1
        per_process = sum(own_total[n] * cx.table_bytes.get(n, 0) for n in LEVEL_NAMES)
        vmpte = sum((own_total[n] + att_total[n]) * cx.table_bytes[n] for n in VMPTE_LEVELS if n in cx.table_bytes)
        groups.append(GroupExplain(name=g.name, count=g.count, mappings=tuple(maps), between_mappings=between[gi],
                                   own=own_total, attached=att_total, per_process_bytes=per_process,
                                   vmpte_bytes=vmpte))
    own_phys = zero_levels()
    for g in groups:
        for n in LEVEL_NAMES:
            own_phys[n] += g.count * g.own[n]
    pool_tables = zero_levels()
    for b in builds:
        for n in LEVEL_NAMES:
            pool_tables[n] += b.pool.tables[n]
    totals = Totals(own=own_phys, pools=pool_tables,
                    total={n: own_phys[n] + pool_tables[n] for n in LEVEL_NAMES}, model=dict(cx.result.tables))
    f = _Findings(cx, builds, sharing)
    f.rows()
    f.pools()
    order = {(gi, mi): i for i, (gi, mi) in enumerate(sorted(lay.row_index))}
    findings = sorted(f.out, key=lambda x: (order.get((x.group, x.mapping), -1), x.level))
    return Explanation(workload=workload, scheme=scheme, options=options, column_label=column_label,
                       result=cx.result, groups=tuple(groups), pools=tuple(b.pool for b in builds), totals=totals,
                       findings=tuple(findings), vmpte=_vmpte_note(cx, groups, pool_tables),
                       table_bytes=dict(cx.table_bytes))
