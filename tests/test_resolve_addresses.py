"""``resolve_addresses`` places auto mappings exactly as its first, plainly
quadratic version did (kept here as the reference), only faster."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptcalc.model.geometry import ARM64_4K, ARM64_16K, ARM64_64K, X86_64, X86_64_LA57
from ptcalc.workload.address_space import highest_gap
from ptcalc.workload.types import Mapping, auto_address, resolve_addresses

GiB, TiB = 1 << 30, 1 << 40


def reference(group_mappings, arch):
    win, align = arch.auto_window, arch.auto_align  # PUD_SIZE: 1 GiB on x86-64
    taken = sorted((m.address // win, -(-m.end // win)) for m, auto in group_mappings if not auto)
    out = []
    for m, auto in group_mappings:
        if not auto:
            out.append(m)
            continue
        need = -(-(m.offset % align + m.size) // win)
        first = arch.auto_base // win
        while True:
            clash = [t for t in taken if t[0] < first + need and first < t[1]]
            if not clash:
                break
            first = max(t[1] for t in clash)
        address = auto_address(m.offset, first * win, align)
        if address + m.size > arch.user_limit:
            raise ValueError("no room")
        taken.append((first, first + need))
        taken.sort()
        out.append(replace(m, address=address, auto=True))
    return out


MAPPING = st.tuples(
    st.booleans(),  # auto
    st.integers(min_value=0, max_value=4096),  # offset in MiB
    st.integers(min_value=1, max_value=1 << 20),  # size in MiB (up to 1 TiB)
    st.integers(min_value=0, max_value=300),  # explicit address in 512 GiB windows
    st.integers(min_value=0, max_value=511),  # and GiB within the window
)


@settings(max_examples=200, deadline=None)
@given(st.lists(MAPPING, max_size=12), st.sampled_from([X86_64, X86_64_LA57, ARM64_4K, ARM64_16K, ARM64_64K]))
def test_same_placement_as_the_reference(specs, arch):
    group = []
    end = 0
    for auto, offset, size, window, gib in specs:
        m = Mapping(segment="s", offset=offset << 20, size=size << 20, address=0)
        if not auto:
            # explicit mappings laid out without overlaps, as the loader ensures
            address = max(end, window * 512 * GiB + gib * GiB)
            m = replace(m, address=address)
            end = m.end
        group.append((m, auto))
    try:
        expected = reference(group, arch)
    except ValueError:
        with pytest.raises(ValueError):
            resolve_addresses(group, arch)
        return
    assert resolve_addresses(group, arch) == expected


def test_100_auto_mappings_fill_consecutive_windows():
    group = [(Mapping(segment="s", offset=i * GiB, size=GiB, address=0), True) for i in range(100)]
    out = resolve_addresses(group, X86_64)
    assert [m.address for m in out] == [TiB + i * 512 * GiB for i in range(100)]


NEAR_BASE = st.tuples(
    st.booleans(),  # auto
    st.integers(min_value=0, max_value=4096),  # offset in MiB
    st.integers(min_value=1, max_value=1 << 20),  # size in MiB (up to 1 TiB)
    st.sampled_from([0, 1, 2, 3, 4, 6, 9, 255]),  # explicit address in 512 GiB windows: often in the auto area
    st.integers(min_value=0, max_value=511),  # and GiB within the window
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(NEAR_BASE, max_size=8), min_size=1, max_size=5), st.sampled_from([X86_64, X86_64_LA57]),
       st.sampled_from(["numpy", "python"]))
def test_side_by_side_placement_is_first_fit_where_it_applies(groups, arch, backend):
    # Many processes placed at once on arrays: wherever place_side_by_side
    # says it applies, its addresses are place_addresses' (first-fit).
    from ptcalc.model import xp
    from ptcalc.workload.types import place_addresses, place_side_by_side

    ns = xp.backend(backend)
    rows, group_of, expected = [], [], []
    for gi, specs in enumerate(groups):
        spans, end = [], 0
        for auto, offset, size, window, gib in specs:
            address = 0 if auto else max(end, window * 512 * GiB + gib * GiB)
            if not auto:
                end = address + (size << 20)
            spans.append((address, size << 20, offset << 20, auto))
        rows += spans
        group_of += [gi] * len(spans)
        try:
            expected.append(place_addresses(spans, arch))
        except ValueError:
            expected.append(None)
    col = [ns.asarray([r[k] for r in rows], ns.int64) for k in range(3)]
    placed, ok = place_side_by_side(ns.asarray(group_of, ns.int64), col[0], col[1], col[2],
                                    ns.asarray([r[3] for r in rows], ns.bool_), len(groups), arch)
    placed = placed.tolist()
    for gi, simple in enumerate(ok):
        if simple:
            got = [a for a, g in zip(placed, group_of) if g == gi]
            assert expected[gi] is not None and got == expected[gi]
        else:
            # it does not apply only when an explicit mapping lies in the way
            # or an auto one would end past the user limit
            assert expected[gi] is None or expected[gi] != [
                a for a, g in zip(placed, group_of) if g == gi] or any(
                not r[3] for r, g in zip(rows, group_of) if g == gi)


def _brute_highest(spans, size, align, limit, low, phase):
    """The highest start = phase (mod align) in [low, limit - size] clear of
    every span, found by trying each start from the top."""
    start = (limit - size - phase) // align * align + phase
    while start >= low:
        if all(e <= start or s >= start + size for s, e in spans):
            return start
        start -= align
    return None


@settings(max_examples=300)
@given(spans=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 40)).map(lambda t: (t[0], t[0] + t[1])),
                      max_size=6),
       size=st.integers(1, 30), align=st.sampled_from([1, 2, 4, 8]), limit=st.integers(0, 110),
       low=st.integers(0, 10), phase=st.integers(0, 7))
def test_highest_gap_is_the_highest_free_start(spans, size, align, limit, low, phase):
    # spans may overlap or nest (one inside another): the gap above the
    # inner one is not free while the outer one covers it
    phase %= align
    spans = sorted(spans)
    assert highest_gap(spans, size, align, limit, low, phase) == _brute_highest(spans, size, align, limit, low, phase)


def test_highest_gap_sees_a_span_inside_another():
    # (10, 20) lies inside (0, 100): [20, 100) is not free, so 150 bytes
    # below 200 do not fit above 0 (the walk once judged [20, 200) free: 50)
    assert highest_gap([(0, 100), (10, 20)], 150, 1, 200, 0) is None
    assert highest_gap([(0, 100), (10, 20)], 100, 1, 200, 0) == 100
    assert highest_gap([(0, 100), (10, 20)], 60, 1, 130, 0) is None
