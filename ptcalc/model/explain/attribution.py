"""Who owns which page table: per mapping, between mappings, and in shared pools.

The attribution of one cell (``Cell.attribution``): the same tally that
``model.tables.count`` counts (``tally``: the parts of every touched range,
their zone kinds and the lowest level each process owns) and the same keyed
blocks of shared tables (``shared_pmd_blocks``, ``shared_pte_blocks``,
``region_ranges``), split by mapping and by sharing key so that each part can
be shown.  The sums equal the cell's figures (tests/test_explain.py checks
they do on generated workloads).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ptcalc.model.explain.types import (GroupExplain, Interval, MappingExplain, MappingExplains, Partner, Placed,
                                        Pool, PrivateExplain, Sharing, Totals, VmpteNote, ZoneSpan, made)
from ptcalc.model.explain.partners import NAMED, Sweep, User, level_partners, overlap
from ptcalc.model.geometry import LEVEL_NAMES, VMPTE_LEVELS
from ptcalc.model.intervals import (ceil_div, distinct_blocks, first_of, floor_div, key_ids, merge_within,
                                    union_and_shared)
from ptcalc.model.results import SchemeResult, zero_levels
from ptcalc.model.schemes import ZONE_KIND, Why, zones
from ptcalc.model.tables import KeyedBlocks, region_ranges, shared_pmd_blocks, shared_pte_blocks, tally
from ptcalc.workload.touched import merge_ranges
from ptcalc.workload.types import PROTECTIONS, Mapping, Mappings

if TYPE_CHECKING:
    from ptcalc.model.evaluate import Cell

I64 = np.int64


# --- interval helpers (few intervals: mappings and touched ranges) -----------------------

def length(iv: list[Interval]) -> int:
    """Blocks covered by merged intervals."""
    return sum(hi - lo for lo, hi in iv)


# --- the computation ------------------------------------------------------------------------


class GroupRows:
    """One group's rows by mapping index (a private mapping ``j``: ``-1 -
    j``), on the context's order of rows by (group, mapping)."""

    __slots__ = ("order", "base")

    def __init__(self, order: np.ndarray, base: int) -> None:
        self.order, self.base = order, base

    def __getitem__(self, mi: int) -> int:
        return int(self.order[self.base + mi])

    def first(self, n: int) -> list[int]:
        """The rows of mappings ``0`` to ``n - 1``."""
        return self.order[self.base:self.base + n].tolist()  # type: ignore[no-any-return]


class Context:
    """One cell's layout (on numpy), zones and tally, as ``count`` has them."""

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        w = cell.column.workload
        assert w is not None
        self.w = w
        self.scheme = cell.scheme
        self.options = cell.model_options
        self.layout = layout = cell.layout.on("numpy")
        self.z = zones(layout, cell.scheme, cell.model_options)
        self.t = t = tally(layout, self.z)
        self.result: SchemeResult = cell.result
        self.parts = t.parts
        self.arch = arch = layout.arch
        self.levels = arch.levels
        self.top = len(self.levels) - 1
        self.pmd_i = t.pmd_i
        self.attach_i = t.attach_i
        self.kind = t.kind
        self.leaf = t.leaf
        self.group_of_part = t.group
        self.own_min = t.own_min
        self.counts = layout.counts
        self.row_weight = layout.row_weight
        self.table_bytes = arch.table_bytes(layout.pti)
        self.seg_names = list(w.segments)
        # PMD_SIZE and PUD_SIZE: what one PTE table and one PMD table cover
        self.pmd_size = arch.pmd_size
        self.pud_size = self.levels[self.pmd_i].table_span if self.pmd_i is not None else None

    def zone_bounds(self, r: int) -> list[int]:
        """Row ``r``'s zones' bounds (``zones``' ``bounds``; made per row when
        read: a list for every row held 30 MiB for 100,000 rows)."""
        return self.z.bounds[r].tolist()  # type: ignore[no-any-return]

    @cached_property
    def _by_mapping(self) -> tuple[np.ndarray, list[int]]:
        """The rows by (group, mapping index), and per group the place of its
        mapping 0 there (its private mappings, ``-1 - j``, just before)."""
        lay = self.layout
        order = np.lexsort((lay.row_mi, lay.row_group))
        n_groups = len(self.w.groups)
        first = np.searchsorted(lay.row_group[order], np.arange(n_groups))
        private = np.bincount(lay.row_group[lay.row_mi < 0], minlength=n_groups)
        return order, (first + private[:n_groups]).tolist()

    @cached_property
    def rows_of(self) -> list[GroupRows]:
        """Per group, its rows by mapping index (a private mapping ``j``: ``-1 - j``)."""
        order, base = self._by_mapping
        return [GroupRows(order, b) for b in base]

    def row_of(self, gi: int, mi: int) -> int:
        order, base = self._by_mapping
        return int(order[base[gi] + mi])

    def group_mapping(self, r: int) -> tuple[int, int]:
        """Row ``r``'s group and mapping index (as ``Layout.row_index`` has
        them, read from the columns: no tuple for every row)."""
        lay = self.layout
        return int(lay.row_group[r]), int(lay.row_mi[r])

    @cached_property
    def row_segment(self) -> list[str]:
        """Per row, its segment's name ("" for a process's own mapping: its
        rows' segments follow the workload's, ``layout.private_segment``)."""
        names = self.seg_names + [""] * (int(self.layout.row_seg.max(initial=0)) + 1 - len(self.seg_names))
        return [names[i] for i in self.layout.row_seg.tolist()]

    def extent(self, r: int) -> tuple[int, int, int]:
        """Row ``r``'s mapping's address, end and file offset (as its Mapping
        has them; read from the layout per row: the findings read a few
        thousand rows, and tuples for every row held 17 MiB for 100,000)."""
        lay = self.layout
        return int(lay.row_addr[r]), int(lay.row_end[r]), int(lay.row_off[r])

    def row_flags(self, r: int) -> tuple[int, bool, bool, bool, bool]:
        """Row ``r``'s protection (``PROT_CODE``), userfaultfd bits (blocks PMD
        sharing, write-protect), soft-dirty and auto, as the layout has them."""
        lay = self.layout
        return (int(lay.row_prot[r]), bool(lay.row_uffd_blocks_pmd_share[r]), bool(lay.row_uffd_wp[r]),
                bool(lay.row_soft_dirty[r]), bool(lay.row_auto[r]))

    def mapping(self, r: int) -> Mapping:
        """Row ``r``'s mapping (a shared one; its group's Mapping objects are
        built on first use, not every group's)."""
        gi, mi = self.group_mapping(r)
        return self.w.groups[gi].mappings[mi]

    def users_of(self, rows: list[int]) -> tuple[tuple[int, int, int], ...]:
        """Per row of ``rows``, its group, mapping index and the group's processes (``Pool.users``)."""
        at = np.array(rows, dtype=I64)
        groups = self.layout.row_group[at].tolist()
        counts = self.counts
        return tuple(zip(groups, self.layout.row_mi[at].tolist(), [counts[g] for g in groups]))

    def blocks(self, mask: np.ndarray, li: int) -> np.ndarray:
        """Per row, distinct blocks at level ``li`` of the parts in ``mask``."""
        p = self.parts
        return distinct_blocks(p.row, p.start, p.end, self.levels[li].table_span, self.layout.n_rows, mask=mask)


def own_attribution(cx: Context) -> tuple[list[dict[str, int]], dict[int, dict[str, int]], list[np.ndarray]]:
    """Per row: tables only it needs; per group: tables shared between mappings;
    and the first as columns (per level, in ``LEVEL_NAMES`` order, per row: int64)."""
    n_rows, n_groups = cx.layout.n_rows, len(cx.counts)
    own_cols: dict[str, np.ndarray] = {}
    between_cols: dict[str, list[int]] = {}
    p = cx.parts
    for li, lv in enumerate(cx.levels[:-1]):
        m = cx.t.owned(li)
        per_row = cx.blocks(m, li)
        between = np.zeros(n_groups, dtype=I64)
        at = np.flatnonzero(m)
        rows = p.row[at]
        if rows.size:
            span = lv.table_span
            # first and last block of every row's own parts: only these can be
            # shared with another mapping (mappings of a process never overlap)
            run = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
            last = np.concatenate([run[1:], [rows.size]]) - 1
            r = rows[run]
            first_b = floor_div(p.start[at[run]], span)
            last_b = floor_div(p.end[at[last]] - 1, span)
            g = cx.layout.row_group[r]
            # (group, block) keys of both ends; a key used by two or more rows is between mappings
            ids = key_ids(np.concatenate([g, g]), np.concatenate([first_b, last_b]))
            k = r.size
            id_first, id_last = ids[:k], ids[k:]
            n_ids = int(ids.max()) + 1
            pairs = np.sort(ids * n_rows + np.concatenate([r, r]))  # distinct (key, row) pairs (by sorting:
            pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])]  # numpy's hashed unique is slower here)
            multi = np.bincount(pairs // n_rows, minlength=n_ids) >= 2
            group_of_id = np.zeros(n_ids, dtype=I64)
            group_of_id[ids] = np.concatenate([g, g])
            per_row = per_row.copy()
            per_row[r] -= multi[id_first].astype(I64) + ((last_b != first_b) & multi[id_last]).astype(I64)
            np.add.at(between, group_of_id[multi], 1)
        own_cols[lv.name] = per_row.astype(I64, copy=False)
        between_cols[lv.name] = between.tolist()
    zero_rows, zero_groups = np.zeros(n_rows, I64), [0] * n_groups
    own_l = [own_cols.get(n, zero_rows) for n in LEVEL_NAMES]
    between_l = [between_cols.get(n, zero_groups) for n in LEVEL_NAMES]
    own = per_level_dicts(own_l)
    between_d = {g: dict(zip(LEVEL_NAMES, v)) for g, v in enumerate(zip(*between_l))}
    return own, between_d, own_l


def per_level_dicts(columns: list[np.ndarray]) -> list[dict[str, int]]:
    """Per row, its figures per level (``columns``: per level in ``LEVEL_NAMES``
    order, per row, int64) as a dict; rows with the same figures share one
    (read only, as every figure of an explanation): the distinct rows found
    on arrays, a dict made for each."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return []
    ids = key_ids(*columns)
    _, first = np.unique(ids, return_index=True)
    made_ = [dict(zip(LEVEL_NAMES, [int(c[r]) for c in columns])) for r in first.tolist()]
    return [made_[k] for k in ids.tolist()]


def attached_tables(cx: Context) -> tuple[list[dict[str, int]], list[np.ndarray]]:
    """Per row: shared tables it links in (VmPTE), as count() does; and as
    columns (per level, in ``LEVEL_NAMES`` order, per row: int64)."""
    zero = np.zeros(cx.layout.n_rows, I64)
    cols = {n: zero for n in LEVEL_NAMES}
    if cx.z.upper == "pmd" and cx.pmd_i is not None:
        cols["pmd"] = cx.blocks(cx.kind == 2, cx.pmd_i).astype(I64, copy=False)
    if cx.z.attached_pte:
        cols["pte"] = cx.blocks(cx.kind == 1, 0).astype(I64, copy=False)
    att_l = [cols[n] for n in LEVEL_NAMES]
    return per_level_dicts(att_l), att_l


def group_sums(cx: Context, columns: list[np.ndarray]) -> list[list[int]]:
    """Per group, per level: the sum of the columns (per level, per row,
    int64) over the group's rows, exact (int64 while no sum can pass
    2**62: a column's largest value times its rows; else Python ints)."""
    lay = cx.layout
    group = lay.row_group
    n = len(cx.counts)
    out = []
    for col in columns:
        if col.size == 0 or int(col.max()) * col.size < 1 << 62:  # (table counts are never negative)
            out.append(lay.xp.group_sum(group, col, n).tolist())
            continue
        total = np.zeros(n, dtype=object)  # exact: Python ints
        np.add.at(total, group, col.astype(object))
        out.append(total.tolist())
    return [list(v) for v in zip(*out)]


@dataclass
class PoolBuild:
    pool: Pool
    row_intervals: dict[int, dict[str, list[Interval]]]
    """Per row, per level: the pool's blocks it uses (block numbers in the pool's space)."""
    attached_rows: set[int]


def keyed_pools(cx: Context, kind_name: str, kb: KeyedBlocks | None) -> list[PoolBuild]:
    """Pools of shared PMD or PTE tables, one per sharing key of ``kb``."""
    if kb is None:
        return []
    lay = cx.layout
    rows, lo, hi, key = kb.rows, kb.lo, kb.hi, kb.key
    if kind_name == "pmd":  # huge_pmd_share() links every shared PMD table in
        attach = np.ones(rows.shape, dtype=bool)
    else:
        attach = (cx.kind[kb.mask] == 1) if cx.z.attached_pte else np.zeros(rows.shape, dtype=bool)
    out: list[PoolBuild] = []
    name = cx.levels[kb.level].name
    for k in np.unique(key).tolist():
        km = key == k
        u, s = union_and_shared(np.zeros(int(km.sum()), dtype=I64), lo[km], hi[km], cx.row_weight[rows[km]])
        per_row: dict[int, dict[str, list[Interval]]] = {}
        attached_rows: set[int] = set()
        for r, a, b, at in zip(rows[km].tolist(), lo[km].tolist(), hi[km].tolist(), attach[km].tolist()):
            if a < b:
                per_row.setdefault(r, {}).setdefault(name, []).append((a, b))
                if at:
                    attached_rows.add(r)
        per_row = {r: {n: merge_ranges(iv) for n, iv in lv.items()} for r, lv in per_row.items()}
        r0 = int(rows[km][0])
        cls = int(kb.cls[km][0])
        if kind_name == "pte" and cx.z.scheme == "mshare":
            alignment: int | str | None = "auto" if cls == -1 else cls
        elif kind_name == "pmd":
            alignment = cls
        else:
            alignment = None
        tables, shared = zero_levels(), zero_levels()
        tables[name], shared[name] = u, s
        users = cx.users_of(sorted(per_row))
        out.append(PoolBuild(
            pool=Pool(id=-1, kind=kind_name, segment=cx.seg_names[int(lay.row_seg[r0])],
                      protection=PROTECTIONS[int(lay.row_prot[r0])], alignment=alignment, tables=tables,
                      shared=shared, users=users),
            row_intervals=per_row, attached_rows=attached_rows))
    return out


def mshare_pools(cx: Context) -> list[PoolBuild]:
    """mshare v3: one host mm per (segment, protection), as count() counts it."""
    rr = region_ranges(cx.t)
    if rr is None:
        return []
    lay = cx.layout
    rows, key, grp, leaf, fs, fe = rr.rows, rr.key, rr.group, rr.leaf, rr.start, rr.end
    w_group = np.minimum(np.array(cx.counts, dtype=I64), 2)
    out: list[PoolBuild] = []
    for k in np.unique(key).tolist():
        km = key == k
        tables, shared = zero_levels(), zero_levels()
        per_row: dict[int, dict[str, list[Interval]]] = {}
        for li, lv in enumerate(cx.levels[:-1]):
            lm = km & (leaf <= li)
            if not lm.any():
                continue
            lo, hi = floor_div(fs[lm], lv.table_span), ceil_div(fe[lm], lv.table_span)
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
        per_row = {r: {n: merge_ranges(iv) for n, iv in lv.items()} for r, lv in per_row.items()}
        r0 = int(rows[km][0])
        users = cx.users_of(sorted(per_row))
        out.append(PoolBuild(
            pool=Pool(id=-1, kind="mshare", segment=cx.seg_names[int(lay.row_seg[r0])],
                      protection=PROTECTIONS[int(lay.row_prot[r0])], alignment=None, tables=tables,
                      shared=shared, users=users),
            row_intervals=per_row, attached_rows=set()))
    return out


def pools(cx: Context) -> list[PoolBuild]:
    """Every pool of shared tables under the scheme: PMD, PTE and mshare host pools."""
    builds = keyed_pools(cx, "pmd", shared_pmd_blocks(cx.t)) + keyed_pools(cx, "pte", shared_pte_blocks(cx.t))
    builds += mshare_pools(cx)
    for i, b in enumerate(builds):
        b.pool = replace(b.pool, id=i)
    return builds


class _LevelUsers:
    """One level of one pool: its rows in workload order, their users and the
    sweep over them (``partners.py``), made when a row of it is first read."""

    def __init__(self, cx: Context, b: PoolBuild, level: str, rows: list[int]) -> None:
        lay = cx.layout
        counts = cx.counts
        self.cx, self.b, self.level = cx, b, level
        self.mshare = mshare = b.pool.kind == "mshare"
        rs = np.array(rows, dtype=I64)
        at = rs[np.lexsort((lay.row_mi[rs], lay.row_group[rs]))].tolist()  # by (group, mapping)
        group = {r: int(g) for r, g in zip(at, lay.row_group[np.array(at, dtype=I64)].tolist())}
        self.group = group
        # the users: mappings; under mshare groups (a process attaches its region once)
        members: list[list[int]] = []
        index: dict[int, int] = {}
        user_of: dict[int, int] = {}
        for r in at:
            key = group[r] if mshare else r
            if key not in index:
                index[key] = len(members)
                members.append([])
            user_of[r] = index[key]
            members[index[key]].append(r)
        ri = b.row_intervals
        # (a user's order: the workload order of its first mapping, as a rank among the level's)
        rank = {r: k for k, r in enumerate(at)}
        self.users = [User(order=rank[m[0]], weight=counts[group[m[0]]],
                           intervals=merge_ranges([iv for r in m for iv in ri[r][level]]))
                      for m in members]
        self.members, self.user_of = members, user_of
        self.sweep = Sweep(self.users, NAMED + 2, [ri[r][level] for r in at] if mshare else ())
        self.named: dict[tuple[int, int], Partner] = {}

    def partner(self, ui: int, iv: list[Interval]) -> Partner:
        """User ``ui`` as a partner of the mapping with ``iv``: the user's
        first mapping with a table in common (a mapping is its own only one)."""
        ri, level = self.b.row_intervals, self.level
        for r2 in self.members[ui]:
            mine = ri[r2][level]
            common = overlap(iv, mine)
            if common:
                break
        else:
            raise AssertionError("a partner without a table in common")
        # the user's tables: this mapping's when it is the user's only one (most pools)
        together = self.users[ui].intervals
        key = (r2, common if together == mine else overlap(iv, together))
        got = self.named.get(key)
        if got is None:  # the same partner of many mappings: one object
            gi2, mi2 = self.cx.group_mapping(r2)
            got = self.named[key] = made(Partner, group=self.cx.w.groups[gi2].name, mapping=mi2,
                                         processes=self.cx.counts[self.group[r2]], tables=key[1])
        return got

    def sharing(self, r: int) -> Sharing:
        iv = self.b.row_intervals[r][self.level]
        c = self.cx.counts[self.group[r]]
        p = level_partners(self.sweep, iv, self.user_of[r], self.partner)
        n = length(iv)
        shared = n if c >= 2 else 0 if c == 0 else p.others
        return made(Sharing, pool=self.b.pool.id, level=self.level, tables=n, attached=r in self.b.attached_rows,
                    shared=shared, sharers=p.sharers, partners=p.partners, more_partners=p.more_partners)

    def alone(self, r: int) -> int:
        """Of row ``r``'s tables here, those no other user uses (``tables -
        shared`` of its Sharing, a process of its group alone: no partners named)."""
        iv = self.b.row_intervals[r][self.level]
        sweep = self.sweep
        others = 0
        for a, z in iv:
            s0, s1 = sweep.segments(a, z)
            if s0 < s1:
                others += sweep.shared_blocks(s0, s1)
        return length(iv) - others


class RowSharing:
    """Per row, its :class:`Sharing` of each pool and level it uses (in pool,
    then level order): how many of its tables there have another sharer, how
    many users its tables have, and the first few partners (``partners.py``:
    one sweep per pool and level, no pairs).  A row's are made when read
    (``get``: the text shows 40 mappings of 30 groups; JSON reads every
    row's), a level's sweep when a row of it is first read."""

    def __init__(self, cx: Context, builds: list[PoolBuild]) -> None:
        self.cx, self.builds = cx, builds
        self._at: dict[int, list[tuple[int, str]]] = {}
        """Per row, the (build, level) pairs it uses, in pool then level order."""
        self._rows: dict[tuple[int, str], list[int]] = {}
        for bi, b in enumerate(builds):
            levels = sorted({lv for per_level in b.row_intervals.values() for lv in per_level})
            for level in levels:
                rows = self._rows[(bi, level)] = [r for r, per_level in b.row_intervals.items() if level in per_level]
                for r in rows:
                    got = self._at.get(r)
                    if got is None:
                        self._at[r] = [(bi, level)]
                    else:
                        got.append((bi, level))
        self._levels: dict[tuple[int, str], _LevelUsers] = {}
        self._made: dict[int, list[Sharing]] = {}

    def _level(self, key: tuple[int, str]) -> _LevelUsers:
        got = self._levels.get(key)
        if got is None:
            got = self._levels[key] = _LevelUsers(self.cx, self.builds[key[0]], key[1], self._rows[key])
        return got

    def get(self, r: int) -> list[Sharing] | None:
        """Row ``r``'s sharing; None when it uses no pool."""
        got = self._made.get(r)
        if got is None:
            at = self._at.get(r)
            if at is None:
                return None
            got = self._made[r] = [self._level(key).sharing(r) for key in at]
        return got

    def __contains__(self, r: int) -> bool:
        return r in self._at

    def __len__(self) -> int:
        return len(self._at)

    def items(self) -> Iterator[tuple[int, list[Sharing]]]:
        """Every row's sharing (each made), in the order of its first pool and level."""
        for r in self._at:
            got = self.get(r)
            assert got is not None
            yield r, got

    def alone(self, pool: int, r: int) -> int | None:
        """``tables - shared`` of row ``r``'s Sharing of ``pool`` (its last
        level there), without naming partners; None when it uses no level of
        the pool.  ``r``'s group has processes."""
        key = None
        for k in self._at.get(r, ()):
            if self.builds[k[0]].pool.id == pool:
                key = k
        if key is None:
            return None
        c = self.cx.counts[int(self.cx.layout.row_group[r])]
        assert c > 0
        return 0 if c >= 2 else self._level(key).alone(r)


def sharing_of(cx: Context, builds: list[PoolBuild]) -> RowSharing:
    """Per row: its pools, how many of its tables there have another sharer,
    how many users its tables have, and the first few partners (each row's
    made when read: :class:`RowSharing`)."""
    return RowSharing(cx, builds)


def linked_tables(cx: Context, b: PoolBuild) -> int:
    """Tables of a pool that some process links in itself (counted in its VmPTE)."""
    level = "pmd" if b.pool.kind == "pmd" else "pte"
    if b.pool.kind == "mshare":
        return 0
    rows = [r for r in b.attached_rows if cx.counts[int(cx.layout.row_group[r])] > 0]
    return length(merge_ranges([iv for r in rows for iv in b.row_intervals[r].get(level, [])]))


def vmpte_note(cx: Context, groups: list[GroupExplain], builds: list[PoolBuild]) -> VmpteNote:
    tb = cx.table_bytes
    r = cx.result
    own_vm = sum(g.count * sum(g.own[n] * tb[n] for n in VMPTE_LEVELS if n in tb) for g in groups)
    att_bytes = sum(g.count * sum(g.attached[n] * tb[n] for n in VMPTE_LEVELS if n in tb) for g in groups)
    links = sum(g.count * sum(g.attached.values()) for g in groups)
    top = sum(g.count * sum(g.own[n] * tb[n] for n in ("p4d", "pgd") if n in tb) for g in groups)
    pool_bytes = sum(b.pool.tables[n] * tb.get(n, 0) for b in builds for n in LEVEL_NAMES)
    linked = sum(linked_tables(cx, b) * tb["pmd" if b.pool.kind == "pmd" else "pte"] for b in builds)
    if cx.z.upper == "mshare":
        unlinked = "mshare-host"
    elif cx.scheme == "mshare":
        unlinked = "ptshare"
    else:
        unlinked = "below-shared-pmd"
    return VmpteNote(summed_bytes=r.vmpte_total, physical_bytes=r.physical_bytes, own_bytes=own_vm,
                     attached_bytes=att_bytes, attachments=links, top_bytes=top, pool_bytes=pool_bytes,
                     linked_bytes=linked, processes=sum(g.count for g in groups), unlinked=unlinked)


@dataclass(frozen=True, eq=False)
class Attribution:
    """Who owns every table of one cell: per group and mapping (own tables,
    tables between mappings, the pools of shared tables each uses and with
    whom), the pools, and the totals, which equal the cell's figures."""

    groups: tuple[GroupExplain, ...]
    pools: tuple[Pool, ...]
    totals: Totals
    vmpte: VmpteNote
    table_bytes: dict[str, int]
    context: Context = field(repr=False)
    builds: list[PoolBuild] = field(repr=False)
    sharing: RowSharing = field(repr=False)


class _MappingMaker:
    """Makes a mapping's :class:`MappingExplain` from the attribution's
    columns when it is read (``MappingExplains``)."""

    def __init__(self, cx: Context, own_rows: list[dict[str, int]], att_rows: list[dict[str, int]],
                 sharing: RowSharing) -> None:
        self.cx = cx
        self.own_rows, self.att_rows, self.sharing = own_rows, att_rows, sharing
        whys = {int(w): w for w in Why}
        self.why_pmd = [whys[x] for x in cx.z.why_pmd.tolist()]
        self.why_pte = [whys[x] for x in cx.z.why_pte.tolist()]
        upper = "mshare" if cx.z.upper == "mshare" else "shared-pmd"
        self.kinds = [("private", "shared-pte", upper)[k] for k in ZONE_KIND]
        zb = cx.z.bounds
        # per row, a bit per non-empty zone (most rows have one: no generator needed)
        self.nonempty = ((zb[:, 1:] > zb[:, :-1]).astype(I64) << np.arange(5, dtype=I64)).sum(axis=1).tolist()
        self.segs = {name: (seg.backing, seg.page_size) for name, seg in cx.w.segments.items()}

    def segment(self, row_of: GroupRows, mi: int) -> str:
        return self.cx.row_segment[row_of[mi]]

    def own(self, gi: int, row_of: GroupRows) -> list[dict[str, int]]:
        own_rows = self.own_rows
        return [own_rows[r] for r in row_of.first(len(self.cx.w.groups[gi].mappings))]

    def placed(self, gi: int, row_of: GroupRows) -> Placed:
        cx = self.cx
        rows = row_of.first(len(cx.w.groups[gi].mappings))
        segment = cx.row_segment
        lay = cx.layout
        at = np.array(rows, dtype=I64)
        address = lay.row_addr[at].tolist()
        origin_of = Mappings.of(cx.w.groups[gi].mappings).origin_of
        segments = [segment[r] for r in rows]
        segs = self.segs
        return Placed(origin=[origin_of(mi) for mi in range(len(rows))], segment=segments,
                      offset=lay.row_off[at].tolist(), size=(lay.row_end[at] - lay.row_addr[at]).tolist(),
                      address=address, auto=lay.row_auto[at].tolist(),
                      protection=[PROTECTIONS[p] for p in lay.row_prot[at].tolist()],
                      backing=[segs[name][0] for name in segments], page_size=[segs[name][1] for name in segments],
                      own=[self.own_rows[r] for r in rows], attached=[self.att_rows[r] for r in rows],
                      sharing=[self.sorted_sharing(r) for r in rows])

    def sorted_sharing(self, r: int) -> tuple[Sharing, ...]:
        """Row ``r``'s sharing, by pool and level (``MappingExplain.sharing``)."""
        ss = self.sharing.get(r)
        return tuple(sorted(ss, key=lambda s: (s.pool, s.level))) if ss else ()

    def __call__(self, gi: int, row_of: GroupRows, mi: int) -> MappingExplain:
        r = row_of[mi]
        backing, page_size = self.segs[self.cx.row_segment[r]]
        bits = self.nonempty[r]
        kinds = self.kinds
        if bits & (bits - 1):
            b = self.cx.zone_bounds(r)
            zs: tuple[ZoneSpan, ...] = tuple(made(ZoneSpan, kind=kinds[k], start=b[k], end=b[k + 1])
                                             for k in range(5) if b[k] < b[k + 1])
        elif bits:
            k = bits.bit_length() - 1
            lo, hi = self.cx.z.bounds[r, k:k + 2].tolist()
            zs = (made(ZoneSpan, kind=kinds[k], start=lo, end=hi),)
        else:
            zs = ()
        return made(MappingExplain, group=gi, index=mi, source=self.cx.w.groups[gi].mappings, backing=backing, page_size=page_size,
                    own=self.own_rows[r], attached=self.att_rows[r],
                    sharing=self.sorted_sharing(r),
                    why_pmd=self.why_pmd[r], why_pte=self.why_pte[r], zones=zs)


def attribute(cell: Cell) -> Attribution:
    """The attribution of ``cell`` (see the module docstring)."""
    cx = Context(cell)
    workload = cx.w
    own_rows, between, own_cols = own_attribution(cx)
    att_rows, att_cols = attached_tables(cx)
    own_sums, att_sums = group_sums(cx, own_cols), group_sums(cx, att_cols)
    rows_of = cx.rows_of
    builds = pools(cx)
    sharing = sharing_of(cx, builds)
    make = _MappingMaker(cx, own_rows, att_rows, sharing)
    groups: list[GroupExplain] = []
    for gi, g in enumerate(workload.groups):
        # every table its rows own (mappings, private mappings) + between mappings
        own_total = {n: between[gi][n] + v for n, v in zip(LEVEL_NAMES, own_sums[gi])}
        att_total = dict(zip(LEVEL_NAMES, att_sums[gi]))
        row_of = rows_of[gi]
        maps = MappingExplains(len(g.mappings), partial(make, gi, row_of), partial(make.segment, row_of),
                               partial(make.placed, gi, row_of), partial(make.own, gi, row_of))
        privs = []
        for j, pm in enumerate(g.private_mappings):
            r = row_of[-1 - j]
            privs.append(PrivateExplain(group=gi, index=j, mapping=pm, own=own_rows[r]))
        own_total["pgd"] += 1
        per_process = sum(own_total[n] * cx.table_bytes.get(n, 0) for n in LEVEL_NAMES)
        vmpte = sum((own_total[n] + att_total[n]) * cx.table_bytes[n] for n in VMPTE_LEVELS if n in cx.table_bytes)
        gr = cx.result.groups[gi]
        groups.append(GroupExplain(name=g.name, count=g.count, mappings=maps, between_mappings=between[gi],
                                   own=own_total, attached=att_total, per_process_bytes=per_process,
                                   vmpte_bytes=vmpte, private_mappings=tuple(privs), default_layout=g.default_layout,
                                   private_tables=gr.private_tables, mixed_tables=gr.mixed_tables,
                                   vmpte_parts=gr.vmpte_parts(cx.table_bytes)))
    own_phys = zero_levels()
    for ge in groups:
        for n in LEVEL_NAMES:
            own_phys[n] += ge.count * ge.own[n]
    pool_tables = zero_levels()
    for b in builds:
        for n in LEVEL_NAMES:
            pool_tables[n] += b.pool.tables[n]
    totals = Totals(own=own_phys, pools=pool_tables,
                    total={n: own_phys[n] + pool_tables[n] for n in LEVEL_NAMES}, model=dict(cx.result.tables))
    return Attribution(groups=tuple(groups), pools=tuple(b.pool for b in builds), totals=totals,
                       vmpte=vmpte_note(cx, groups, builds), table_bytes=dict(cx.table_bytes), context=cx,
                       builds=builds, sharing=sharing)
