"""TopDown (every process's k-th mapping placed at once, on arrays) against
a brute force: each process's mappings placed one after another at the
highest aligned start below the limit that is clear of everything, found
by trying every start from the top."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from test_resolve_addresses import _brute_highest

from ptcalc.model.topdown import TopDown


def _brute(spans, size, align, phase, limit, low):
    """The highest clear start, tried from the top (test_resolve_addresses' reference)."""
    return _brute_highest(spans, size, align, limit, low, phase)


spans_st = st.lists(st.tuples(st.integers(0, 200), st.integers(1, 30)).map(lambda t: (t[0], t[0] + t[1])),
                    max_size=8)
moves_st = st.lists(st.tuples(st.integers(1, 40), st.sampled_from([1, 2, 4, 8, 16]), st.integers(0, 15),
                              st.lists(st.integers(0, 260), min_size=1, max_size=3)), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(groups=st.lists(st.tuples(spans_st, moves_st), min_size=1, max_size=4), low=st.integers(0, 8))
def test_top_down_in_step_is_one_by_one(groups, low):
    # expected: per process, its mappings one after another, each at the
    # first limit (of up to three) with room, else not placed
    expected = []
    for fixed, moves in groups:
        taken, got = list(fixed), []
        for size, align, phase, limits in moves:
            phase %= align
            spot = next((x for x in (_brute(taken, size, align, phase, lim, low) for lim in limits)
                         if x is not None), None)
            got.append(spot)
            if spot is not None:
                taken.append((spot, spot + size))
        expected.append(got)
    fg = np.asarray([g for g, (fixed, _) in enumerate(groups) for _ in fixed], np.int64)
    fs = np.asarray([s for fixed, _ in groups for s, _ in fixed], np.int64)
    fe = np.asarray([e for fixed, _ in groups for _, e in fixed], np.int64)
    need = np.asarray([min(z for z, *_ in moves) for _, moves in groups], np.int64)
    placer = TopDown(len(groups), fg, fs, fe, need, low)
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
