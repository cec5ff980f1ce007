"""Groups whose explanations are the same but for names, and findings that
say the same thing: what ``explain`` merges.

A workload with ``instances: [{name: pg, count: 40, ...}]`` has 40 copies of
every group of the instance, each mapping its own copy of the segments
(``pg-7/shared_memory``) at the same addresses: their tables, pools and
findings are the same, figure for figure, and explain says so once.

Two groups are **alike** when everything explain shows of them is equal once
names are set aside: process count, tables per level, and per mapping its
segment (size, backing, page size), range, protection, touched pages, own and
attached tables, the rules that decided and the pools it uses -- segments,
pools and partner groups matched by the order they first appear in the
group.  Each group's class lists the alike groups in workload order; the
first is the one shown.  A finding of a group is worded with the names of its
class's first group (segments and partner groups translated), so findings
that read the same there are one (:func:`finding_key`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, fields
from itertools import chain
from typing import Any

import numpy as np

from ptcalc.model.explain.types import Explanation, Finding, FindingList, Fix, GroupExplain, RowRanges
from ptcalc.model.intervals import key_ids


@dataclass(frozen=True)
class Alike:
    """The classes of alike groups of an :class:`Explanation`."""

    classes: tuple[tuple[int, ...], ...]
    """Group indices, each class in workload order; classes in order of their first group."""
    first: tuple[int, ...]
    """Per group, the first group of its class (the one shown)."""
    segments: tuple[dict[str, str], ...]
    """Per group, its segments' names -> the first group's segments' names."""
    partners: tuple[dict[str, str], ...]
    """Per group, the groups it shares with -> those of the first group."""


def _items(d: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(d.items()))


def pool_signatures(e: Explanation) -> list[tuple[Hashable, ...]]:
    """What explain shows of each pool, but its id (once per pool: a pool can
    have as many users as the workload has mappings)."""
    return [(p.kind, p.protection, p.alignment, _items(p.tables), _items(p.shared), tuple(n for _, _, n in p.users))
            for p in e.pools]


def signature(e: Explanation, g: GroupExplain, pool_sigs: list[tuple[Hashable, ...]]
              ) -> tuple[Hashable, list[str], list[str]]:
    """What explain shows of ``g`` with names replaced by the order they first
    appear in it; and those names (segments, partner groups) in that order."""
    segs: dict[str, int] = {}
    partners: dict[str, int] = {}
    pools: dict[int, int] = {}
    segments = e.workload.segments

    def seg(name: str) -> tuple[int, int, str, int]:
        s = segments[name]
        return segs.setdefault(name, len(segs)), s.size, s.backing, s.page_size

    def pool(i: int) -> tuple[Hashable, ...]:
        return pools.setdefault(i, len(pools)), pool_sigs[i]

    mappings = tuple(
        (me.index, seg(m.segment), m.offset, m.size, m.address, m.protection, m.touched, m.auto, m.userfaultfd,
         m.soft_dirty, me.backing, me.page_size, _items(me.own), _items(me.attached), me.why_pmd, me.why_pte,
         me.zones,
         tuple((pool(s.pool), s.level, s.tables, s.attached, s.shared, s.sharers, s.more_partners,
                tuple((partners.setdefault(p.group, len(partners)), p.mapping, p.processes, p.tables)
                      for p in s.partners))
               for s in me.sharing))
        for me in g.mappings for m in (me.mapping,))
    private = tuple((pe.index, pe.mapping.kind, pe.mapping.name, pe.mapping.address, pe.mapping.size,
                     pe.mapping.page_size, pe.mapping.touched, _items(pe.own)) for pe in g.private_mappings)
    sig = (g.count, g.per_process_bytes, g.vmpte_bytes, _items(g.own), _items(g.attached),
           _items(g.between_mappings), _items(g.private_tables), _items(g.mixed_tables), g.vmpte_parts,
           g.default_layout, mappings, private)
    return sig, list(segs), list(partners)


def _outline(g: GroupExplain) -> Hashable:
    """Part of ``signature`` that is cheap to make: groups whose outlines
    differ are not alike."""
    return (g.count, g.per_process_bytes, g.vmpte_bytes, _items(g.own), _items(g.attached), len(g.mappings),
            len(g.private_mappings))


def alike(e: Explanation) -> Alike:
    """The alike groups of ``e`` (see the module docstring).  A group whose
    outline no other group has is alike to none: its signature is not made,
    and its name maps are empty (its names are its class's first's)."""
    by_outline: dict[Hashable, list[int]] = {}
    for gi, g in enumerate(e.groups):
        by_outline.setdefault(_outline(g), []).append(gi)
    first = list(range(len(e.groups)))
    seg_maps: list[dict[str, str]] = [{} for _ in e.groups]
    partner_maps: list[dict[str, str]] = [{} for _ in e.groups]
    classes: list[tuple[int, ...]] = []
    pool_sigs: list[tuple[Hashable, ...]] | None = None
    for candidates in by_outline.values():
        if len(candidates) == 1:
            classes.append((candidates[0],))
            continue
        if pool_sigs is None:
            pool_sigs = pool_signatures(e)
        by_sig: dict[Hashable, list[int]] = {}
        names: dict[int, tuple[list[str], list[str]]] = {}
        for gi in candidates:
            sig, segs, partners = signature(e, e.groups[gi], pool_sigs)
            by_sig.setdefault(sig, []).append(gi)
            names[gi] = (segs, partners)
        for members in by_sig.values():
            r = members[0]
            for gi in members:
                first[gi] = r
                seg_maps[gi] = dict(zip(names[gi][0], names[r][0]))
                partner_maps[gi] = dict(zip(names[gi][1], names[r][1]))
            classes.append(tuple(members))
    return Alike(classes=tuple(sorted(classes, key=lambda c: c[0])), first=tuple(first), segments=tuple(seg_maps),
                 partners=tuple(partner_maps))


def _fix_key(f: Fix | None, segs: dict[str, str], groups: dict[str, str]) -> Hashable:
    if f is None:
        return None
    if not segs and not groups:  # no names to translate
        return (f.kind, f.physical_before, f.physical_after, f.change_bytes, f.delta, f.new_range, f.new_offset,
                f.segment, f.page_size, f.threshold, f.protection, f.like)
    return (f.kind, f.physical_before, f.physical_after, f.change_bytes, f.delta, f.new_range, f.new_offset,
            segs.get(f.segment, f.segment) if f.segment is not None else None, f.page_size, f.threshold,
            f.protection, tuple(groups.get(n, n) for n in f.like))


class _Keys:
    """``finding_key``'s parts that findings share, made once each: a
    workload's findings share a few tables dicts, fixes and name maps
    (100,000 findings, a few hundred distinct parts).  Keyed by the parts'
    ids, which stay valid while the explanation they belong to lives."""

    def __init__(self) -> None:
        self.items: dict[int, tuple[tuple[str, int], ...]] = {}
        self.fixes: dict[tuple[int, int, int], Hashable] = {}
        self.alternatives: dict[tuple[int, int, int], Hashable] = {}

    def tables(self, d: dict[str, int]) -> tuple[tuple[str, int], ...]:
        out = self.items.get(id(d))
        if out is None:
            out = self.items[id(d)] = _items(d)
        return out

    def fix(self, f: Fix | None, segs: dict[str, str], groups: dict[str, str]) -> Hashable:
        k = (id(f), id(segs), id(groups))
        out = self.fixes.get(k, self)
        if out is self:
            out = self.fixes[k] = _fix_key(f, segs, groups)
        return out

    def fixes_of(self, fs: tuple[Fix, ...], segs: dict[str, str], groups: dict[str, str]) -> Hashable:
        k = (id(fs), id(segs), id(groups))
        out = self.alternatives.get(k)
        if out is None:
            out = self.alternatives[k] = tuple([_fix_key(x, segs, groups) for x in fs])
        return out


_NO_RANGES = frozenset({"not-hugetlb", "private-scheme", "prot-none"})
"""Rules whose findings merge whatever their ranges (the reason says all)."""
_DEFAULTS = {f.name: f.default for f in fields(Finding)}


def _head(a: Alike, k: _Keys, group: int, f: dict[str, Any]) -> tuple[Hashable, ...]:
    """What a finding (its fields ``f``) of ``group`` says but its tables and where
    (``finding_key``), worded for its class's first group."""
    segs, groups = a.segments[group], a.partners[group]
    if not segs and not groups:  # no names to translate (a group alike to none)
        segment, others = f["segment"], f["others"]
    else:
        segment = segs.get(f["segment"], f["segment"]) if f["segment"] is not None else None
        others = tuple(groups.get(n, n) for n in f["others"])
    return (f["rule"], f["level"], f["note"], f["why"], f["why_level"], f["span"], segment, f["segment_size"],
            f["protection"], others, f["their_protection"], f["alignment"], f["their_alignment"],
            k.fix(f["fix"], segs, groups), k.fixes_of(f["alternatives"], segs, groups))


def finding_key(a: Alike, f: Finding, keys: _Keys | None = None) -> Hashable:
    """What a finding says, worded for its class's first group: findings with
    the same key read the same (a finding about particular ranges of one
    mapping also keeps the mapping, and merges only with its copies');
    ``keys``: the parts made so far (``merged``)."""
    k = keys or _Keys()
    key: tuple[Hashable, ...] = (_head(a, k, f.group, vars(f)), k.tables(f.tables))
    if f.ranges and f.rule not in _NO_RANGES:
        key += (a.first[f.group], f.mapping, f.ranges)  # ranges are in the reason or specific to the mapping
    return key


def merged(e: Explanation, a: Alike | None = None) -> list[list[int]]:
    """The findings of ``e`` (indices) that say the same thing, merged, in order."""
    a = a or alike(e)
    fl = e.findings
    keys = _Keys()
    if not isinstance(fl, FindingList):
        out: list[list[int]] = []
        index: dict[Hashable, int] = {}
        for i, f in enumerate(fl):
            j = index.setdefault(finding_key(a, f, keys), len(out))
            if j == len(out):
                out.append([i])
            else:
                out[j].append(i)
        return out
    return _merged_parts(a, fl, keys)


def _merged_parts(a: Alike, fl: FindingList, k: _Keys) -> list[list[int]]:
    """``merged`` of findings kept as parts: a key is (head, tables, where) by
    numbers -- the head (what ``finding_key`` has but tables and where) made
    once per part and group, the tables numbered once per distinct dict,
    where (the class's first group, the mapping and the ranges, for rules
    whose findings merge only with their copies) as columns -- and the
    findings with the same numbers are one."""
    n = len(fl)
    if n == 0:
        return []
    part = fl.part
    by_part = np.lexsort((fl.at, part))  # per part, its findings in its order
    sizes = np.bincount(part, minlength=len(fl.parts)).tolist()
    cols = np.zeros((6, n), np.int64)  # head, tables, where: kind (0 none), first group, mapping, range or ranges
    lo_hi = np.zeros((2, n), np.int64)
    heads: dict[Hashable, int] = {}
    items: dict[Hashable, int] = {}
    several: dict[Hashable, int] = {}  # ranges of more than one interval, numbered
    first = np.asarray(a.first, dtype=np.int64)
    at = 0
    for p, size in zip(fl.parts, sizes):
        where = by_part[at:at + size]
        at += size
        distinct, index = p.tables_index()
        tc = np.fromiter((items.setdefault(k.tables(d), len(items)) for d in distinct), np.int64, len(distinct))
        cols[1, where] = tc[np.asarray(index, dtype=np.int64)]
        group = np.asarray(p.group, dtype=np.int64)
        if p.fields is None:  # findings made one by one: their heads and rules one by one
            fs = [p.finding(j) for j in range(size)]
            cols[0, where] = [heads.setdefault(_head(a, k, f.group, vars(f)), len(heads)) for f in fs]
            ranged = np.fromiter((f.rule not in _NO_RANGES for f in fs), bool, size)
        else:
            f = {**_DEFAULTS, **p.fields}
            gs, inverse = np.unique(group, return_inverse=True)
            of_maps: dict[tuple[int, int] | None, int] = {}  # groups with the same name maps: the same head
            hs = []
            for g in gs.tolist():
                segs, partners = a.segments[g], a.partners[g]
                mk = (id(segs), id(partners)) if segs or partners else None
                h = of_maps.get(mk)
                if h is None:
                    h = of_maps[mk] = heads.setdefault(_head(a, k, g, f), len(heads))
                hs.append(h)
            hc = np.array(hs, np.int64)
            cols[0, where] = hc[inverse.reshape(-1)]
            ranged = np.full(size, f["rule"] not in _NO_RANGES)
        if not ranged.any():
            continue
        ranges = p.ranges()
        rr = ranges if isinstance(ranges, RowRanges) else None
        count = rr.counts() if rr is not None else np.fromiter(map(len, ranges), np.int64, size)
        has = ranged & (count > 0)
        one = np.flatnonzero(has & (count == 1))
        many = np.flatnonzero(has & (count > 1))
        w = where[has]
        cols[2, w] = 1
        cols[3, w] = first[group[has]]
        cols[4, w] = np.asarray(p.mapping, dtype=np.int64)[has]
        if one.size and rr is not None:  # (one range each: ``single``, on the columns)
            lo_hi[0, where[one]] = rr.lo[one]
            lo_hi[1, where[one]] = rr.hi[one]
        elif one.size:
            lo_hi[:, where[one]] = np.fromiter(chain.from_iterable([ranges[j][0] for j in one.tolist()]), np.int64,
                                               2 * one.size).reshape(-1, 2).T
        if many.size:
            cols[5, where[many]] = [several.setdefault(ranges[j], len(several) + 1) for j in many.tolist()]
    code = key_ids(*cols, lo_hi[0], lo_hi[1])
    # each key's findings in order, keys in the order of their first finding
    order = np.argsort(code, kind="stable")
    sc = code[order]
    starts = np.flatnonzero(np.concatenate([[True], sc[1:] != sc[:-1]]))
    rank = np.argsort(order[starts], kind="stable").tolist()
    flat = order.tolist()
    bounds = starts.tolist() + [n]
    return [flat[bounds[r]:bounds[r + 1]] for r in rank]


__all__ = ["Alike", "alike", "finding_key", "merged", "signature"]
