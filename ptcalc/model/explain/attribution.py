"""Who owns which page table: per mapping, between mappings, and in shared pools.

The same counting as ``ptcalc.model.tables.count`` (the same helpers, the same
keys), split by mapping and by sharing key so the parts can be shown; the
sums equal the model's figures (tests/test_explain.py checks they do on
generated workloads).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ptcalc.model.geometry import LEVEL_NAMES, VMPTE_LEVELS
from ptcalc.model.explain.types import GroupExplain, Interval, Partner, Pool, Sharing, VmpteNote
from ptcalc.model.intervals import dedupe_within, distinct_blocks, first_of, key_ids, merge_within, union_and_shared
from ptcalc.model.layout import Layout
from ptcalc.model.schemes import ZONE_KIND
from ptcalc.model.tables import count, cut, zones
from ptcalc.workload.touched import merge_ranges
from ptcalc.units import format_size
from ptcalc.model.results import zero_levels
from ptcalc.workload.types import PROTECTIONS, Mapping, ModelOptions, Workload

I64 = np.int64


# --- interval helpers (few intervals: mappings and touched ranges) -----------------------

def length(iv: list[Interval]) -> int:
    """Blocks covered by merged intervals."""
    return sum(hi - lo for lo, hi in iv)


def overlap(a: list[Interval], b: list[Interval]) -> int:
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


class Context:
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
        self.kind = np.array(ZONE_KIND, dtype=np.int8)[parts.zone]
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


def own_attribution(cx: Context) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
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


def attached_tables(cx: Context) -> dict[int, dict[str, int]]:
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
class PoolBuild:
    pool: Pool
    row_intervals: dict[int, dict[str, list[Interval]]]
    """Per row, per level: the pool's blocks it uses (block numbers in the pool's space)."""
    attached_rows: set[int]


def keyed_pools(cx: Context, kind_name: str, mask: np.ndarray, li: int, class_of: np.ndarray,
                 attach_mask: np.ndarray | None) -> list[PoolBuild]:
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
    out: list[PoolBuild] = []
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
        per_row = {r: {n: merge_ranges(iv) for n, iv in lv.items()} for r, lv in per_row.items()}
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
        out.append(PoolBuild(
            pool=Pool(id=-1, kind=kind_name, segment=cx.seg_names[int(lay.row_seg[r0])],
                      protection=PROTECTIONS[int(lay.row_prot[r0])], alignment=alignment, tables=tables,
                      shared=shared, users=users),
            row_intervals=per_row, attached_rows=attached_rows))
    return out


def mshare_pools(cx: Context) -> list[PoolBuild]:
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
    out: list[PoolBuild] = []
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
        per_row = {r: {n: merge_ranges(iv) for n, iv in lv.items()} for r, lv in per_row.items()}
        r0 = int(rows[km][0])
        users = tuple((int(lay.row_index[r][0]), int(lay.row_index[r][1]), cx.counts[lay.row_index[r][0]])
                      for r in sorted(per_row))
        out.append(PoolBuild(
            pool=Pool(id=-1, kind="mshare", segment=cx.seg_names[int(lay.row_seg[r0])],
                      protection=PROTECTIONS[int(lay.row_prot[r0])], alignment=None, tables=tables,
                      shared=shared, users=users),
            row_intervals=per_row, attached_rows=set()))
    return out


def pools(cx: Context) -> list[PoolBuild]:
    """Every pool of shared tables under the scheme: PMD, PTE and mshare host pools."""
    z, lay = cx.z, cx.layout
    builds: list[PoolBuild] = []
    if z.upper == "pmd" and cx.pmd_i is not None and cx.pud_size is not None:
        d = lay.row_addr - lay.row_off
        builds += keyed_pools(cx, "pmd", cx.kind == 2, cx.pmd_i, d % cx.pud_size, np.ones(cx.kind.shape, bool))
    m_pte = cx.kind == 1
    if z.upper == "pmd" and z.scheme == "file-cached":
        m_pte = m_pte | ((cx.kind == 2) & (cx.leaf == 0))
    attach = (cx.kind == 1) if z.attached_pte else None
    builds += keyed_pools(cx, "pte", m_pte, 0, z.pte_key_class, attach)
    if z.upper == "mshare":
        builds += mshare_pools(cx)
    for i, b in enumerate(builds):
        b.pool = replace(b.pool, id=i)
    return builds


def sharing_of(cx: Context, builds: list[PoolBuild]) -> dict[int, list[Sharing]]:
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
                    ov = overlap(iv, lv2[level])
                    if ov:
                        gi2, mi2 = lay.row_index[r2]
                        partners.append(Partner(group=cx.w.groups[gi2].name, mapping=mi2,
                                                processes=cx.counts[g2], tables=ov))
                        others += lv2[level]
                n = length(iv)
                if cx.counts[g] >= 2:
                    shared = n
                elif cx.counts[g] == 0:
                    shared = 0
                else:
                    shared = overlap(iv, merge_ranges(others))
                out.setdefault(r, []).append(Sharing(
                    pool=b.pool.id, level=level, tables=n, attached=r in b.attached_rows, shared=shared,
                    partners=tuple(partners)))
    return out


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
    unlinked = pool_bytes - linked
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
        lines.append(
            f"VmPTE adds {format_size(att_bytes)}: {links:,} links to shared tables, each shared table counted "
            f"in every process that links it in, while physically those tables exist once ({format_size(linked)}). "
            "The OOM killer's badness adds the same per-process figure, so every sharer is charged for them.")
    elif linked:
        lines.append(f"Physical adds the shared tables, counted once ({format_size(linked)}).")
    if unlinked:
        if cx.z.upper == "mshare":
            what = "the mshare host mm's tables, which belong to the region, not to the processes"
        elif cx.scheme == "mshare":
            what = "ptshare's shared PTE tables, which belong to the shared mm"
        else:
            what = "the PTE tables below shared PMD tables, which no process links in itself"
        lines.append(f"Physical adds {what} ({format_size(unlinked)}).")
    if top:
        lines.append(f"Physical adds the processes' PGD/P4D tables ({format_size(top)}), which VmPTE never counts.")
    return VmpteNote(summed_bytes=summed, physical_bytes=physical, own_bytes=own_vm, attached_bytes=att_bytes,
                     attachments=links, top_bytes=top, pool_bytes=pool_bytes, linked_bytes=linked,
                     text=" ".join(lines))
