"""A mapping's partners in a pool of shared tables, against the pairwise definition.

``model/explain/partners.py`` finds, per mapping and level, the first few
other users of its tables, how many users each of its tables has and how
many have another user, in one sweep.  Here each of those is derived the
slow way, comparing the mapping with every other user of the pool (what
explain did before it summarised partners), on generated workloads and on a
pool of thousands of users.
"""

from __future__ import annotations

from hypothesis import given, note, settings
from test_explain import GiB, MiB, TiB, grp, mp, wl
from test_model_properties import VARIANTS, describe, options_for, workloads

from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
from ptcalc.model.explain.attribution import attribute
from ptcalc.model.explain import explain as explain_cell
from ptcalc.model.explain.partners import NAMED
from ptcalc.render.explain_words import pool_users_text
from ptcalc.workload.touched import merge_ranges
from ptcalc.workload.types import Segment


def overlap(a, b):
    return sum(max(0, min(y, d) - max(x, c)) for x, y in a for c, d in b)


def first_common(a, b):
    return min(max(x, c) for x, y in a for c, d in b if max(x, c) < min(y, d))


def expected(attr):
    """Per (row, pool, level): (shared, sharers, partners, more), pairwise."""
    cx = attr.context
    lay, counts, groups = cx.layout, cx.counts, cx.w.groups
    out = {}
    for b in attr.builds:
        mshare = b.pool.kind == "mshare"
        levels = {lv for per in b.row_intervals.values() for lv in per}
        for level in levels:
            at = sorted((r for r in b.row_intervals if level in b.row_intervals[r]), key=lambda r: lay.row_index[r])
            group = {r: int(lay.row_group[r]) for r in at}
            if mshare:  # users are groups: a process attaches its region once
                keys = list(dict.fromkeys(group[r] for r in at))
                members = {k: [r for r in at if group[r] == k] for k in keys}
                user_of = {r: group[r] for r in at}
            else:
                keys = at
                members = {r: [r] for r in at}
                user_of = {r: r for r in at}
            ivs = {k: merge_ranges([iv for r in members[k] for iv in b.row_intervals[r][level]]) for k in keys}
            weight = {k: counts[group[members[k][0]]] for k in keys}
            for r in at:
                iv = b.row_intervals[r][level]
                c = counts[group[r]]
                others = [k for k in keys if k != user_of[r] and weight[k] and overlap(iv, ivs[k])]
                if c >= 2:
                    shared = sum(y - x for x, y in iv)
                elif c == 0:
                    shared = 0
                else:
                    shared = overlap(iv, merge_ranges([x for k in others for x in ivs[k]]))
                # users of each table of the mapping: every breakpoint inside it
                points = {x for x, _ in iv} | {p for k in keys for a, z in ivs[k] for p in (a, z)
                                               if any(x <= p < y for x, y in iv)}
                users = [sum(weight[k] for k in keys if any(a <= p < z for a, z in ivs[k])) for p in points]
                sharers = (min(users), max(users)) if users else (0, 0)
                order = sorted(others, key=lambda k: (first_common(iv, ivs[k]), lay.row_index[members[k][0]]))
                named = []
                for k in order[:NAMED]:
                    r2 = next(r2 for r2 in members[k] if overlap(iv, b.row_intervals[r2][level]))
                    gi2, mi2 = lay.row_index[r2]
                    named.append((groups[gi2].name, mi2, counts[group[r2]], overlap(iv, ivs[k])))
                out[(r, b.pool.id, level)] = (shared, sharers, named, len(order) > NAMED)
    return out


def got(attr):
    out = {}
    for r, ss in attr.sharing.items():
        for s in ss:
            out[(r, s.pool, s.level)] = (s.shared, s.sharers,
                                         [(p.group, p.mapping, p.processes, p.tables) for p in s.partners],
                                         s.more_partners)
    return out


def attribution(w, scheme, opts):
    ev = evaluate(w, Options(schemes=(scheme,), columns=CONFIGURED, file_cached_threshold=opts.file_cached_threshold,
                             mshare_variant=opts.mshare_variant))
    return attribute(ev.selected_cell(scheme))


@settings(max_examples=150)
@given(workloads(max_groups=4))
def test_partners_equal_the_pairwise_definition(w):
    note(describe(w))
    for scheme, overrides in VARIANTS:
        a = attribution(w, scheme, options_for(w, overrides))
        assert got(a) == expected(a), scheme


def test_a_pool_of_thousands_of_users_names_three_and_counts_them_all():
    # 2,000 groups map 1 GiB windows of one 64 GiB hugetlb segment, all congruent
    # mod 1 GiB (one pool of shared PMD tables); group g maps window g mod 64,
    # so each window has 2,000 / 64 = 31 or 32 users, each a group of (g mod 3) + 1
    # processes.
    seg = Segment("s", 64 * GiB, "hugetlb", 2 * MiB)
    n = 2000
    groups = [grp(g % 3 + 1, mp("s", GiB, TiB + g * 2 * GiB, offset=(g % 64) * GiB), name=f"g{g}") for g in range(n)]
    w = wl([seg], *groups, memory=64 * TiB)
    a = attribution(w, "hugetlb-pmd", w.options)
    (pool,) = a.pools
    assert pool.tables["pmd"] == 64
    for gi in (0, 1, 63, 64, 1999):
        (s,) = a.groups[gi].mappings[0].sharing
        window = [g for g in range(n) if g % 64 == gi % 64]
        users = sum(g % 3 + 1 for g in window)
        assert (s.tables, s.shared, s.sharers) == (1, 1, (users, users))
        partners = [g for g in window if g != gi][:NAMED]
        assert [(p.group, p.mapping, p.processes, p.tables) for p in s.partners] == \
            [(f"g{g}", 0, g % 3 + 1, 1) for g in partners]
        assert s.more_partners
    # the pool's users in text and markdown: the first 8, then how many more
    e = explain_cell(evaluate(w, Options(schemes=("hugetlb-pmd",), columns=CONFIGURED)).selected_cell("hugetlb-pmd"))
    rest = sum(g % 3 + 1 for g in range(8, n))
    assert pool_users_text(e, e.pools[0]) == ", ".join(f"g{g} #0 ({g % 3 + 1})" for g in range(8)) + \
        f", and {n - 8:,} more mappings ({rest:,} processes)"
