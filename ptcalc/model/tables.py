"""The closed-form page-table model: interval arithmetic, no page walks.

Given a workload and a scheme's zones (``ptcalc.model.schemes``: where each
mapping shares), count the page tables every process owns, the shared
tables, and what VmPTE each process shows -- the rules are
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

from dataclasses import dataclass
from operator import mul
from typing import Any

from ptcalc.model import xp as _xp
from ptcalc.model.geometry import LEVEL_NAMES, VMPTE_LEVELS
from ptcalc.model.intervals import (_wide, block_bounds, ceil_div, dedupe_within, distinct_blocks, key_ids,
                                    merge_sorted, mod, order_by, rank, union_and_shared)
from ptcalc.model.layout import Array, Layout
from ptcalc.model.results import GroupResults, SchemeResult, zero_levels
from ptcalc.model.schemes import SCHEMES, ZONE_KIND, Why, Zones, zones
from ptcalc.workload.types import ModelOptions, Workload

__all__ = ["SCHEMES", "KeyedBlocks", "Parts", "RegionRanges", "Tally", "Why", "Zones", "compute", "count",
           "count_tally", "cut", "region_ranges", "resident_bytes", "resident_on_pages", "shared_pmd_blocks",
           "shared_pte_blocks", "tally", "touched_union", "zones"]


@dataclass(frozen=True)
class Parts:
    """Touched ranges cut by zones: sorted and disjoint within each group."""

    row: Array
    zone: Array
    start: Array
    end: Array
    row_is_part: bool = False
    """Part i is row i's (``row`` is 0, 1, 2, ...): per-row arrays are per-part as they are."""

    @property
    def index(self) -> Array:
        """``row`` as the backend's index type: numpy gathers by an int32
        index (a layout's ``piece_row``) take a path about twice as slow
        (made on each read: a copy kept would add to the count's peak)."""
        return _wide(_xp.namespace_of(self.row), self.row)

    def of_row(self, values: Array) -> Array:
        """A per-row array, per part."""
        return values if self.row_is_part else values[self.index]


def cut(layout: Layout, z: Zones) -> Parts:
    """Intersect every touched piece with every zone of its mapping."""
    xp = layout.xp
    pr = layout.piece_row
    one_each = layout.piece_per_row
    nonempty = [z.cols[k] < z.cols[k + 1] for k in range(5)]
    if not _in_two_zones(xp, nonempty):
        # every mapping lies in one zone (private: zone 0; mshare v3: zone 2):
        # the parts are the touched pieces, in their mapping's zone
        zone_of_row = xp.select(nonempty, list(range(5)), 0)
        if xp.NAME == "numpy":  # (zone numbers 0..4: int8, as _cut_numpy's)
            zone_of_row = zone_of_row.astype(xp.int8)
        # (gathered by int64 indexes: quicker than by the int32 ``piece_row``)
        return Parts(row=pr, zone=zone_of_row if one_each else zone_of_row[_wide(xp, pr)], start=layout.piece_start,
                     end=layout.piece_end, row_is_part=one_each)
    if xp.NAME == "numpy":
        return _cut_numpy(pr, layout.piece_start, layout.piece_end, z.cols, one_each)
    active = [k for k in range(5) if nonempty[k].any()]  # zones of some mapping (the others cut nothing)
    # per piece, the inner bounds of its mapping's zones that some zone needs
    # (zone 0 begins at the mapping's start and zone 4 ends at its end: a
    # piece lies inside its mapping)
    b = {k: z.cols[k] if one_each else z.cols[k][pr] for k in sorted({*active, *(j + 1 for j in active)})
         if 0 < k < 5}
    s = xp.interleave([layout.piece_start if k == 0 else xp.maximum(layout.piece_start, b[k]) for k in active])
    e = xp.interleave([layout.piece_end if k == 4 else xp.minimum(layout.piece_end, b[k + 1]) for k in active])
    keep = s < e  # piece-major, zone-minor: stays sorted by address
    flat = xp.arange(len(active) * pr.size)[keep]  # piece x len(active) + i, zone active[i], of every part
    zone = xp.asarray(active, xp.int64)[flat % len(active)]
    return Parts(row=pr[flat // len(active)], zone=zone, start=s[keep], end=e[keep])


def _in_two_zones(xp: Any, nonempty: list[Array]) -> bool:
    """Whether some row has two or more non-empty zones (numpy: the flags
    summed as int8 views, no int64 copy of each)."""
    if xp.NAME != "numpy":
        return bool((sum(ne.astype(xp.int64) for ne in nonempty) > 1).any())
    import numpy as np

    n = nonempty[0].view(np.int8) + nonempty[1].view(np.int8)
    for ne in nonempty[2:]:
        n += ne.view(np.int8)
    return bool((n > 1).any())


def _cut_numpy(pr: Array, start: Array, end: Array, cols: tuple[Array, ...], one_each: bool) -> Parts:
    """:func:`cut` on numpy.  The zones tile each mapping in order, so the
    zone holding a piece's first byte is the number of inner bounds at or
    below it, that of its last byte the number below its end: a piece whose
    two are the same zone (nearly all) is one part as it is; only the others
    are cut zone by zone.  ``cols``: per row, the bounds of its zones
    (``Zones.cols``); ``one_each``: piece i is row i's."""
    import numpy as np

    n = int(pr.size)
    # (zone numbers 0..4: int8, as the zones' kinds are)
    first = np.zeros(n, np.int8)
    last = np.zeros(n, np.int8)
    at = None if one_each else pr.astype(np.int64, copy=False)  # (a gather by int64 indexes is quicker)
    for c in cols[1:5]:
        c = c if at is None else c[at]
        first += c <= start
        last += c < end
    del c, at
    split = np.flatnonzero(first != last)
    if not split.size:
        return Parts(row=pr, zone=first, start=start, end=end, row_is_part=one_each)
    split_row = pr[split]
    # the pieces in several zones, cut by each zone, piece-major and zone-minor
    ss, se = start[split], end[split]
    s = np.empty((5, split.size), np.int64)
    e = np.empty((5, split.size), np.int64)
    for k in range(5):
        np.maximum(ss, cols[k][split_row], out=s[k])
        np.minimum(se, cols[k + 1][split_row], out=e[k])
    keep = (s < e).T
    per_piece = np.ones(n, np.int64)
    per_piece[split] = keep.sum(axis=1)
    # every piece's parts: the piece repeated, the split ones' parts then
    # written over their copies, in order
    split_parts = per_piece[split]
    at = np.cumsum(per_piece) - per_piece  # each piece's first part
    to = np.repeat(at[split] - (np.cumsum(split_parts) - split_parts), split_parts) + np.arange(int(split_parts.sum()))
    row = np.repeat(pr, per_piece)
    zone = np.repeat(first, per_piece)
    zone[to] = np.broadcast_to(np.arange(5, dtype=np.int8), (split.size, 5))[keep]
    p_start = np.repeat(start, per_piece)
    p_start[to] = s.T[keep]
    p_end = np.repeat(end, per_piece)
    p_end[to] = e.T[keep]
    return Parts(row=row, zone=zone, start=p_start, end=p_end)


@dataclass(frozen=True)
class Tally:
    """A scheme's zones applied to a layout: the touched parts (``cut``) and,
    per part, what every count of them reads -- the table of docs/semantics.md
    section 3, written once for ``count`` and for ``explain``'s attribution."""

    layout: Layout
    zones: Zones
    parts: Parts
    group: Array
    """Per part, its group."""
    leaf: Array
    """Per part, the index of the level its pages are mapped at."""
    kind: Array
    """Per part, its zone's kind: 0 private, 1 shared-PTE, 2 shared-upper."""
    own_min: Array
    """Per part, the lowest level whose table the process owns itself."""
    pmd_i: int | None
    attach_i: int
    """The mshare attach level: p4d where present, else the pgd."""

    def owned(self, li: int) -> Array:
        """Per part, whether the process owns its tables at level ``li``."""
        return self.own_min <= li


def tally(layout: Layout, z: Zones) -> Tally:
    """Cut ``layout``'s touched ranges by ``z`` and tell each part's tables apart."""
    xp = layout.xp
    levels = layout.arch.levels
    parts = cut(layout, z)
    # level indexes (0..4) as int8 on numpy: a tally's per-part arrays are
    # what every count holds while it counts
    row_leaf = layout.row_leaf.astype(xp.int8, copy=False) if xp.NAME == "numpy" else layout.row_leaf
    leaf = parts.of_row(row_leaf)
    del row_leaf
    # (numpy: ``take`` of the small table by the int8 zones, about half the
    # time of a fancy index by them)
    kinds = xp.asarray(ZONE_KIND, dtype=xp.int8)
    kind = kinds.take(parts.zone) if xp.NAME == "numpy" else kinds[parts.zone]
    pmd_i = layout.level_index("pmd")
    attach_i = layout.level_index("p4d") or len(levels) - 1
    # the process owns: in a private zone every level from the leaf up; in a
    # shared-PTE zone the PMD level and up; in a shared-PMD zone the PUD level
    # and up; in an mshare region only the attach level and up
    upper_own = attach_i if z.upper == "mshare" else (pmd_i if pmd_i is not None else 0) + 1
    private_leaf = leaf
    if layout.has_private and bool(layout.row_deposit.any()):
        # anonymous THP: __do_huge_pmd_anonymous_page() (mm/huge_memory.c)
        # deposits a preallocated PTE table under every PMD-mapped huge page
        # (pgtable_trans_huge_deposit, mm_inc_nr_ptes): one PTE table per
        # touched PMD_SIZE block, as with base pages
        private_leaf = xp.where(parts.of_row(layout.row_deposit), 0, leaf)
    own_min = xp.where(kind == 0, private_leaf, xp.where(kind == 1, xp.maximum(leaf, 1), upper_own))
    # per part, its group: an owner id the counts compare and sum by, never
    # multiply (int32 on numpy below 2**31 groups)
    row_group = layout.row_group
    if xp.NAME == "numpy" and len(layout.counts) < 2**31:
        row_group = row_group.astype(xp.int32)
    return Tally(layout=layout, zones=z, parts=parts, group=parts.of_row(row_group), leaf=leaf, kind=kind,
                 own_min=own_min, pmd_i=pmd_i, attach_i=attach_i)


@dataclass(frozen=True)
class KeyedBlocks:
    """The shared tables of one level: per touched range (part) that reaches
    them, its file blocks ``[lo, hi)`` (deduplicated within its mapping) under
    its sharing key.  A shared table is a (key, block) some range covers."""

    level: int
    mask: Array
    """The parts these ranges are."""
    rows: Array
    key: Array
    """Dense sharing-key ids: (segment, protection, alignment class)."""
    cls: Array
    """The alignment class of the key (per range)."""
    lo: Array
    hi: Array


def _keyed(t: Tally, li: int, mask: Array, cls_of_row: Array) -> KeyedBlocks:
    layout, parts = t.layout, t.parts
    span = layout.arch.levels[li].table_span
    rows = parts.index[mask]
    shift = ceil_div(layout.row_d[rows], span)  # VA block b is file block b - shift
    lo, hi = dedupe_within(rows, *block_bounds(parts.start[mask], parts.end[mask], span))
    cls = cls_of_row[rows]
    key = key_ids(layout.row_seg[rows], layout.row_prot[rows], cls)
    return KeyedBlocks(level=li, mask=mask, rows=rows, key=key, cls=cls, lo=lo - shift, hi=hi - shift)


def shared_pmd_blocks(t: Tally) -> KeyedBlocks | None:
    """Shared PMD tables (hugetlb-pmd, file-cached): one per (key, file window),
    the key (segment, protection, (address - offset) mod PUD_SIZE)."""
    if t.zones.upper != "pmd" or t.pmd_i is None:
        return None
    m = t.kind == 2
    if not m.any():
        return None
    return _keyed(t, t.pmd_i, m, mod(t.layout.row_d, t.layout.arch.levels[t.pmd_i].table_span))


def shared_pte_blocks(t: Tally) -> KeyedBlocks | None:
    """Shared PTE tables (the file-cached PTE cache, ptshare): one per (key,
    file block).  Under file-cached the PTE tables below a shared PMD table are
    the cache's too: one PTE cache per (segment, protection)."""
    z = t.zones
    m = t.kind == 1
    if z.upper == "pmd" and z.scheme == "file-cached":
        m = m | ((t.kind == 2) & (t.leaf == 0))
    if not m.any():
        return None
    return _keyed(t, 0, m, z.pte_key_class)


@dataclass(frozen=True)
class RegionRanges:
    """mshare v3: the touched file ranges of every mapping in a region, keyed
    by region (segment, protection) -- what the regions' host mms map."""

    mask: Array
    rows: Array
    key: Array
    group: Array
    leaf: Array
    start: Array
    end: Array
    """File offsets."""


def region_ranges(t: Tally) -> RegionRanges | None:
    if t.zones.upper != "mshare":
        return None
    layout, parts = t.layout, t.parts
    m = (t.kind == 2) & (parts.of_row(layout.row_weight) > 0)  # a group of 0 processes attaches nothing
    if not m.any():
        return None
    rows = parts.row[m]
    d = layout.row_d[rows]
    start, end = parts.start[m], parts.end[m]
    start -= d  # (copies: in place)
    end -= d
    del d
    # the region of each row, then of each range: ranked again among the ranges
    # (the same dense ids as key_ids of the ranges' columns, with fewer copies of them)
    key = rank(layout.xp, key_ids(layout.row_seg, layout.row_prot)[rows])
    return RegionRanges(mask=m, rows=rows, key=key, group=layout.row_group[rows], leaf=t.leaf[m], start=start,
                        end=end)


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
    return count_tally(tally(layout, z))


def count_tally(t: Tally) -> SchemeResult:
    """Count the tables of a tally (see :func:`count`)."""
    layout, z, parts = t.layout, t.zones, t.parts
    xp = layout.xp
    i64 = xp.int64
    arch = layout.arch
    levels = arch.levels
    n_groups = len(layout.counts)
    p_group = t.group

    # per level name, per group: tables one process owns / links in (VmPTE)
    zero = xp.zeros(n_groups, dtype=i64)
    own: dict[str, Array] = {name: zero for name in LEVEL_NAMES}
    attached: dict[str, Array] = {name: zero for name in LEVEL_NAMES}
    # a level where the process owns the tables of every part (often the upper
    # ones: no copies) counts the blocks of all the touched pieces, whatever
    # the zones: counted once per layout (``Layout.piece_blocks``)
    owned = [t.owned(li) for li in range(len(levels) - 1)]
    owns_all = [bool(o.all()) for o in owned]
    memo = layout.piece_blocks
    priv = parts.of_row(layout.row_private) if layout.has_private else None
    # per level, the parts of shared mappings whose tables the process owns
    # (None: all of them); none at all where only the private mappings' own
    # (mshare: a region's tables are the host's)
    shared_owned: list[Array | None] = [None] * len(owned)
    for li, lv in enumerate(levels[:-1]):
        if owns_all[li]:
            got = memo.get(("all", li))
            if got is None:
                got = memo[("all", li)] = distinct_blocks(p_group, parts.start, parts.end, lv.table_span, n_groups)
            own[lv.name] = got
            continue
        m = owned[li]
        if priv is not None:
            ms = shared_owned[li] = m & ~priv
            if not bool(ms.any()):
                # the private mappings' blocks alone: the same for every scheme
                got = memo.get(("private", li))
                if got is None:
                    got = memo[("private", li)] = distinct_blocks(p_group, parts.start, parts.end,
                                                                   lv.table_span, n_groups, mask=m)
                own[lv.name] = got
                continue
        own[lv.name] = distinct_blocks(p_group, parts.start, parts.end, lv.table_span, n_groups, mask=m)
    own["pgd"] = xp.ones(n_groups, dtype=i64)
    private_l = mixed_l = None
    if layout.has_private:
        # tables per group only private mappings use (|own| - |shared|) and
        # those covering both (|private| + |shared| - |own|)
        private_l, mixed_l = [], []
        assert priv is not None
        for li, lv in enumerate(levels):
            if li == len(levels) - 1:
                private_l.append([0] * n_groups)
                mixed_l.append([0] * n_groups)
                continue
            span = lv.table_span
            # a private mapping is one private zone under every scheme
            # (``schemes.keep_private``): its parts and what the process owns
            # of them are the same for every scheme; the others' too where the
            # process owns every part's tables
            p_n = memo.get(("private", li))
            s_n = memo.get(("shared", li)) if owns_all[li] else None
            ms = shared_owned[li]
            if ms is not None and not bool(ms.any()):
                s_n = zero  # (and p_n is what the process owns)
            if p_n is None or s_n is None:
                m = owned[li]
                if p_n is None:
                    mp = m & priv
                    p_n = memo[("private", li)] = distinct_blocks(p_group, parts.start, parts.end,
                                                                   span, n_groups, mask=mp)
                if s_n is None:
                    ms = m & ~priv if ms is None else ms
                    s_n = distinct_blocks(p_group, parts.start, parts.end, span, n_groups, mask=ms)
                    if owns_all[li]:
                        memo[("shared", li)] = s_n
            private_l.append((own[lv.name] - s_n).tolist())
            mixed_l.append((p_n + s_n - own[lv.name]).tolist())
        private_l = _by_level_names(levels, private_l)
        mixed_l = _by_level_names(levels, mixed_l)

    shared_tables = zero_levels()
    physical = zero_levels()
    counts = layout.counts
    weight_of_row = layout.row_weight

    for kb in (shared_pmd_blocks(t), shared_pte_blocks(t)):
        if kb is None:
            continue
        lv = levels[kb.level]
        # VmPTE: huge_pmd_share() links each shared PMD table into the process
        # (mm_inc_nr_pmds); under file-cached a process links the PTE tables
        # of its shared-PTE zones, not those below a shared PMD table
        via = (t.kind == 2) if lv.name == "pmd" else ((t.kind == 1) if z.attached_pte else None)
        if via is not None:
            a = kb.mask & via
            attached[lv.name] = distinct_blocks(p_group, parts.start, parts.end, lv.table_span, n_groups, mask=a)
        u, s = union_and_shared(kb.key, kb.lo, kb.hi, weight_of_row[kb.rows])
        physical[lv.name] += u
        shared_tables[lv.name] += s

    # --- mshare v3: one host tree per (segment, protection), over file offsets
    regions = 0
    if z.upper == "mshare":
        regions = _host_trees(t, physical, shared_tables)

    table_bytes = arch.table_bytes(layout.pti)
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
    groups = GroupResults(layout.group_names, counts, own_l, att_l, per_process, vmpte, private_l, mixed_l)
    for name, col in zip(LEVEL_NAMES, own_l):
        physical[name] += sum(map(mul, counts, col))
    physical_bytes = sum(physical[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
    shared_bytes = sum(shared_tables[n] * table_bytes.get(n, 0) for n in LEVEL_NAMES)
    return SchemeResult(scheme=z.scheme, tables=physical, shared_tables=shared_tables,
                        physical_bytes=physical_bytes, shared_bytes=shared_bytes,
                        groups=groups, mshare_regions=regions)


def _host_trees(t: Tally, physical: dict[str, int], shared_tables: dict[str, int]) -> int:
    """mshare v3: add the tables of the regions' host trees (one per
    (segment, protection) that anything touched, over file offsets) to
    ``physical`` and ``shared_tables``; returns the number of regions.

    The ranges are :func:`region_ranges`', made here without its dense
    keys: a process attaches a region once, whatever its mappings in it, so
    the owners are (group, region), numbered ``group * n_regions + region``
    (the regions numbered over the rows: a few), their ranges merged per
    owner.  One sort by (owner, file offset) serves every level (a block
    index is monotone in the offset); the rows come in group order, so the
    ranges nearly do too (a stable sort is then quickest).  Each owner's
    region and weight are arithmetic on its number.

    They are the same in every layout of a conversion (``Layout.file_counts``:
    its mappings placed by the kernel and at their best addresses), and
    counted once for them."""
    memo = t.layout.file_counts
    got = None if memo is None else memo.get("mshare host trees")
    if got is None:
        got = _host_tree_tables(t)
        if memo is not None:
            memo["mshare host trees"] = got
    regions, tables, shared = got
    for name, n in tables.items():
        physical[name] += n
    for name, n in shared.items():
        shared_tables[name] += n
    return regions


def _host_tree_tables(t: Tally) -> tuple[int, dict[str, int], dict[str, int]]:
    """:func:`_host_trees`' regions, tables and shared tables per level."""
    layout, parts = t.layout, t.parts
    xp = layout.xp
    i64 = xp.int64
    physical = {"pgd": 0}
    shared_tables: dict[str, int] = {}
    m = (t.kind == 2) & (parts.of_row(layout.row_weight) > 0)  # a group of 0 processes attaches nothing
    if not bool(m.any()):
        return 0, {}, {}
    at = _positions(xp, m)
    del m
    rows = parts.index[at]
    region_of_row = key_ids(layout.row_seg, layout.row_prot)
    n_reg = int(region_of_row.max()) + 1
    present = xp.zeros(n_reg, dtype=xp.bool_)
    present[region_of_row[rows]] = True
    # the host mm's own PGD, one per region that anything touched
    regions = int(present.astype(i64).sum())
    oid = _wide(xp, layout.row_group) * n_reg
    oid += region_of_row
    oid = oid[rows]
    del region_of_row, present
    d = layout.row_d[rows]
    del rows
    fs = parts.start[at]
    fs -= d  # (copies: in place)
    fe = parts.end[at]
    fe -= d
    leaf = t.leaf[at]
    del d, at
    weight_of_group = xp.minimum(xp.asarray(layout.counts, dtype=i64), 2)
    # (merging needs no particular order among equal (owner, offset))
    order = order_by(xp, oid, fs)
    oid = oid[order]
    fs = fs[order]
    fe = fe[order]
    leaf = leaf[order]
    del order  # (the sorted copies serve every level)
    for li, lv in enumerate(layout.arch.levels[:-1]):
        lm = leaf <= li
        every = bool(lm.all())
        lo, hi = block_bounds(fs if every else fs[lm], fe if every else fe[lm], lv.table_span)
        if li < t.attach_i:
            owner, lo, hi = merge_sorted(xp, oid if every else oid[lm], lo, hi)
            group = owner // n_reg
            region = owner - group * n_reg  # (not in place: ``owner`` may be ``oid`` itself)
            del owner
            u, s = union_and_shared(region, lo, hi, weight_of_group[group])
            del region, group
        else:
            # the host's own P4D tables: counted once, but no process walks them
            u, _ = union_and_shared((oid if every else oid[lm]) % n_reg, lo, hi, xp.ones(lo.size, dtype=i64))
            s = 0
        del lo, hi, lm  # (let go before the next level's are made)
        physical[lv.name] = u
        shared_tables[lv.name] = s
    physical["pgd"] += regions
    return regions, physical, shared_tables


def _positions(xp: Any, mask: Array) -> Array:
    """The indexes where ``mask`` is true (numpy: a gather by them costs less
    than a boolean index of each array where the mask changes often)."""
    if xp.NAME == "numpy":
        import numpy

        return numpy.flatnonzero(mask)
    return xp.arange(mask.size)[mask]


def _by_level_names(levels: Any, per_level: list[list[int]]) -> list[list[int]]:
    """Columns per present level (``levels`` order) as columns per LEVEL_NAMES (folded levels 0)."""
    by_name = {lv.name: col for lv, col in zip(levels, per_level)}
    n = len(per_level[0]) if per_level else 0
    return [by_name.get(name, [0] * n) for name in LEVEL_NAMES]


def resident_bytes(layout: Layout) -> dict[int, int]:
    """Per segment (index in ``workload.segments``), bytes of the segment that
    any process touches: the union of touched file ranges.

    Pieces are page-aligned, so the union in bytes is the pages' memory.
    """
    union = touched_union(layout)
    if union is None:
        return {}
    seg, lo, hi = union
    del union
    n_segs = int(seg.max()) + 1
    hi -= lo  # (the union's own arrays: in place)
    per_seg = layout.xp.group_sum(seg, hi, n_segs).tolist()
    return {s: per_seg[s] for s in sorted(set(seg.tolist()))}


def touched_union(layout: Layout) -> tuple[Array, Array, Array] | None:
    """The file ranges the shared mappings' touched pieces cover, per segment
    (index in ``workload.segments``): (segment, start, end) sorted by
    segment and start, disjoint, those that overlap or touch made one; None
    when nothing is touched.  (A process's own memory -- private mappings
    -- is the budget's private memory, not here.)"""
    if layout.piece_row.size == 0:
        return None
    xp = layout.xp
    rows = _wide(xp, layout.piece_row)  # (gathers by int64 indexes are quicker)
    start, end = layout.piece_start, layout.piece_end
    if layout.has_private:
        shared = ~(layout.row_private if layout.piece_per_row else layout.row_private[rows])
        if not shared.any():
            return None
        rows, lo, hi = rows[shared], start[shared], end[shared]
        del shared
    else:
        if layout.piece_per_row:
            rows = None  # (piece i is row i's)
        lo, hi = start + 0, end + 0
    # file offsets: each piece less its mapping's address - offset
    d = layout.row_d if rows is None else layout.row_d[rows]
    lo -= d
    hi -= d
    del d
    seg = _wide(xp, layout.row_seg if rows is None else layout.row_seg[rows])
    del rows
    order = order_by(xp, seg, lo, stable=False)  # (merging needs no order among equal starts)
    return merge_sorted(xp, seg[order], lo[order], hi[order])


def resident_on_pages(layout: Layout, pages: list[tuple[int, ...] | None]) -> list[dict[int, int]]:
    """``resident_bytes`` of ``layout`` converted to other pages, for each
    list of ``pages`` (per segment, its page size there; None: the bytes
    themselves, ``resident_bytes``): the touched file ranges' union
    (:func:`touched_union`) counted in whole pages.  A what-if
    column rounds each touched range outwards to its segment's new pages
    (``whatif._layout_at``: in file offsets, the start down and the end up
    to a page, the mapping's offset being a page's), and the pages a union
    of ranges touches are the pages its parts touch: one union serves every
    column."""
    union = touched_union(layout)
    if union is None:
        return [{} for _ in pages]
    xp = layout.xp
    seg, lo, hi = union
    del union
    n_segs = int(seg.max()) + 1
    present = sorted(set(seg.tolist()))
    out = []
    for page_of in pages:
        if page_of is None:
            per_seg = xp.group_sum(seg, hi - lo, n_segs).tolist()
            out.append({s: per_seg[s] for s in present})
            continue
        total = [0] * n_segs
        for p in sorted(set(page_of[s] for s in present)):
            on = xp.asarray([page_of[s] == p for s in range(n_segs)], xp.bool_)[seg]
            every = bool(on.all())
            for s, n in enumerate(distinct_blocks(seg, lo, hi, p, n_segs, mask=None if every else on).tolist()):
                total[s] += n * p
        out.append({s: total[s] for s in present})
    return out
