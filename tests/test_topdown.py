"""TopDown (every process's k-th mapping placed at once, on arrays) against
a brute force: each process's mappings placed one after another at the
highest aligned start below the limit that is clear of everything, found
by trying every start from the top."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_resolve_addresses import _brute_highest

from ptcalc.model import topdown
from ptcalc.model.topdown import INF, TopDown


def _brute(spans, size, align, phase, limit, low):
    """The highest clear start, tried from the top (test_resolve_addresses' reference)."""
    return _brute_highest(spans, size, align, limit, low, phase)


def _one_by_one(fixed, moves, low):
    """One process's mappings (size, align, phase, limits) placed one after
    another, each at the first limit with room (None: not placed)."""
    taken, got = list(fixed), []
    for size, align, phase, limits in moves:
        spot = next((x for x in (_brute(taken, size, align, phase, lim, low) for lim in limits) if x is not None),
                    None)
        got.append(spot)
        if spot is not None:
            taken.append((spot, spot + size))
    return got


def _placer(fixed_per_group, need, low, high=1000):
    fg = np.asarray([g for g, fixed in enumerate(fixed_per_group) for _ in fixed], np.int64)
    fs = np.asarray([s for fixed in fixed_per_group for s, _ in fixed], np.int64)
    fe = np.asarray([e for fixed in fixed_per_group for _, e in fixed], np.int64)
    return TopDown(len(fixed_per_group), fg, fs, fe, np.asarray(need, np.int64), low, high)


spans_st = st.lists(st.tuples(st.integers(0, 200), st.integers(1, 30)).map(lambda t: (t[0], t[0] + t[1])),
                    max_size=8)
moves_st = st.lists(st.tuples(st.integers(1, 40), st.sampled_from([1, 2, 4, 8, 16]), st.integers(0, 15),
                              st.lists(st.integers(0, 260), min_size=1, max_size=3)), min_size=1, max_size=6)


@pytest.mark.parametrize("keyed", [True, False], ids=["searched", "bisected"])
@settings(max_examples=300, deadline=None)
@given(groups=st.lists(st.tuples(spans_st, moves_st), min_size=1, max_size=4), low=st.integers(0, 8))
def test_top_down_in_step_is_one_by_one(keyed, groups, low):
    # expected: per process, its mappings one after another, each at the
    # first limit (of up to three) with room, else not placed
    expected = [_one_by_one(fixed, [(size, align, phase % align, limits) for size, align, phase, limits in moves],
                            low) for fixed, moves in groups]
    # (keyed: the gaps searched by one sorted key; else by bisection, as
    # where the highest address is not known or the keys would not fit int64)
    placer = _placer([fixed for fixed, _ in groups], [min(z for z, *_ in moves) for _, moves in groups], low,
                     1000 if keyed else None)
    got = [[] for _ in groups]
    steps = max(len(moves) for _, moves in groups)
    for k in range(steps):
        who = [g for g, (_, moves) in enumerate(groups) if k < len(moves)]
        mv = [groups[g][1][k] for g in who]
        g = np.asarray(who, np.int64)
        z = np.asarray([m[0] for m in mv], np.int64)
        a = np.asarray([m[1] for m in mv], np.int64)
        ph = np.asarray([m[2] % m[1] for m in mv], np.int64)
        spot = np.full(len(who), -1, np.int64)
        gap = np.full(len(who), -1, np.int64)
        for j in range(3):
            left = np.flatnonzero(spot < 0)
            has = np.asarray([len(mv[i][3]) > j for i in left], bool)
            left = left[has] if left.size else left
            if not left.size:
                continue
            lim = np.asarray([mv[i][3][j] for i in left], np.int64)
            p, pg = placer.fixed(g[left], lim, z[left], a[left], ph[left])
            spot[left], gap[left] = placer.settle(g[left], p, pg, z[left], a[left], ph[left])
        for i, gi in enumerate(who):
            got[gi].append(None if spot[i] < 0 else int(spot[i]))
        ok = spot >= 0
        # a process whose mapping found no room stops there in ptcalc; here
        # it goes on (placing nothing), which the brute force does too
        if ok.any():
            placer.add(g[ok], spot[ok], spot[ok] + z[ok], gap[ok])
    assert got == expected


stack_st = st.tuples(st.sampled_from([1, 2, 4, 8]),
                     st.lists(st.tuples(st.integers(1, 6), st.integers(0, 300)), min_size=1, max_size=6))


@settings(max_examples=300, deadline=None)
@given(groups=st.lists(st.tuples(spans_st, stack_st), min_size=1, max_size=4), low=st.integers(0, 8),
       after=st.integers(0, 3))
def test_stacked_places_as_one_by_one(groups, low, after):
    # one alignment per process, sizes multiples of it, limits non-increasing:
    # after ``after`` steps placed one by one, the processes ``stacked`` says
    # are done get the brute force's places for every mapping left
    moves = [sorted(((z * a, lim) for z, lim in ms), key=lambda m: -m[1]) for _, (a, ms) in groups]
    aligns = [a for _, (a, _) in groups]
    expected = [_one_by_one(fixed, [(z, a, 0, [lim]) for z, lim in ms], low)
                for (fixed, _), ms, a in zip(groups, moves, aligns)]
    placer = _placer([fixed for fixed, _ in groups], [min(z for z, _ in ms) for ms in moves], low)
    lowest = np.full(len(groups), INF, np.int64)
    for k in range(after):  # the first steps one by one (the brute force's places)
        for gi, ms in enumerate(moves):
            if k < len(ms) and expected[gi][k] is not None and all(x is not None for x in expected[gi][:k]):
                spot = expected[gi][k]
                p, gap = placer.fixed(np.asarray([gi]), np.asarray([spot + ms[k][0]]), np.asarray([ms[k][0]]),
                                      np.asarray([aligns[gi]]), np.zeros(1, np.int64))
                assert p[0] == spot
                placer.add(np.asarray([gi]), p, p + ms[k][0], gap)
                lowest[gi] = min(lowest[gi], spot)
    rest = [(gi, k) for gi, ms in enumerate(moves) for k in range(after, len(ms))
            if all(x is not None for x in expected[gi][:after])]
    if not rest:
        return
    g = np.asarray([gi for gi, _ in rest], np.int64)
    z = np.asarray([moves[gi][k][0] for gi, k in rest], np.int64)
    a = np.asarray([aligns[gi] for gi, _ in rest], np.int64)
    lim = np.asarray([moves[gi][k][1] for gi, k in rest], np.int64)
    start, ok = placer.stacked(g, z, a, lim, lowest[g])
    for i, (gi, k) in enumerate(rest):
        if ok[gi]:
            assert start[i] == expected[gi][k], (gi, k)
    # the running minimum by doubling (keys too wide to pack) gives the same
    saved = topdown.PACK_BOUND
    topdown.PACK_BOUND = 0
    try:
        start2, ok2 = placer.stacked(g, z, a, lim, lowest[g])
    finally:
        topdown.PACK_BOUND = saved
    assert start2.tolist() == start.tolist() and ok2.tolist() == ok.tolist()


many_spans_st = st.lists(st.tuples(st.integers(0, 400), st.integers(1, 12)).map(lambda t: (t[0], t[0] + t[1])),
                         max_size=30)


@pytest.mark.parametrize("at_once", [True, False], ids=["at-once", "gap-by-gap"])
@settings(max_examples=300, deadline=None)
@given(groups=st.lists(st.tuples(many_spans_st, st.lists(st.tuples(st.integers(1, 30), st.sampled_from([1, 4, 16, 64]),
                                                                  st.integers(0, 63), st.integers(0, 450)),
                                                        min_size=1, max_size=4)), min_size=1, max_size=3),
       low=st.integers(0, 8))
def test_fixed_finds_an_aligned_start_among_many_gaps(at_once, groups, low):
    # many narrow gaps that hold the size but not at a wide alignment (a best
    # case's PUD_SIZE-congruent start below a 2 MiB mapping's): the gaps down
    # to the first that surely holds it are tried at once, or gap by gap
    placer = _placer([fixed for fixed, _ in groups], [1] * len(groups), low, 1000)
    if not at_once:
        placer.at_once = 0
    q = [(gi, size, align, phase % align, limit) for gi, (_, qs) in enumerate(groups) for size, align, phase, limit in qs]
    g, z, a, ph, lim = (np.asarray(col, np.int64) for col in zip(*q))
    got, gap = placer.fixed(g, lim, z, a, ph)
    expected = [_brute(groups[gi][0], size, align, phase, limit, low) for gi, size, align, phase, limit in q]
    assert [None if x < 0 else int(x) for x in got] == expected
    for x, t, size in zip(got.tolist(), gap.tolist(), z.tolist()):  # the gap named holds the mapping
        if x >= 0:
            assert placer.lo[t] <= x and x + size <= placer.hi[t]
