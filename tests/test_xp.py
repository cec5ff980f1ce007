"""The model runs on two array backends -- numpy, and the pure-Python
stand-in small workloads use so they need not import numpy -- and must give
identical results: the same SchemeResult, zones, why-codes and parts, on the
property-test workloads (every scheme and mshare variant, x86-64 and
arm64-like geometries)."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from test_model_properties import _ARM_GEO, EXAMPLES, VARIANTS, comparable, describe, workloads

from ptcalc.model import xp
from ptcalc.model.intervals import ceil_div, floor_div, key_ids, merge_within, mod, union_and_shared
from ptcalc.model.layout import Layout
from ptcalc.model.tables import count, cut, resident_bytes, zones
from ptcalc.model.reasons import dominant

pure = xp.backend("python")


def as_lists(*arrays):
    return [[int(x) for x in a.tolist()] for a in arrays]


def assert_backends_agree(w):
    note(describe(w))
    layouts = {name: Layout.from_workload(w, backend=name) for name in xp.BACKENDS}
    a, b = layouts["numpy"], layouts["python"]
    assert isinstance(a.row_addr, np.ndarray) and isinstance(b.row_addr, pure.PyArray)
    for f in ("row_group", "row_seg", "row_addr", "row_end", "row_off", "row_page", "row_leaf", "row_backing",
              "row_prot", "row_uffd_blocks_pmd_share", "row_uffd_wp", "row_soft_dirty", "row_seg_size",
              "row_auto", "piece_row", "piece_start", "piece_end"):
        assert as_lists(getattr(a, f)) == as_lists(getattr(b, f)), f
    assert a.row_index == b.row_index
    assert resident_bytes(a) == resident_bytes(b)
    for scheme, overrides in VARIANTS:
        opts = replace(w.options, **overrides)
        za, zb = zones(a, scheme, opts), zones(b, scheme, opts)
        assert as_lists(*za.cols, za.why_pmd, za.why_pte, za.pte_key_class) == \
            as_lists(*zb.cols, zb.why_pmd, zb.why_pte, zb.pte_key_class), scheme
        assert [list(map(int, r)) for r in za.bounds] == [list(r) for r in zb.bounds]
        pa, pb = cut(a, za), cut(b, zb)
        assert as_lists(pa.row, pa.zone, pa.start, pa.end) == as_lists(pb.row, pb.zone, pb.start, pb.end)
        assert comparable(count(a, za)) == comparable(count(b, zb)), scheme
        assert dominant(a, za) == dominant(b, zb)


@settings(max_examples=2 * EXAMPLES)
@given(w=workloads())
def test_backends_agree(w):
    assert_backends_agree(w)


@given(w=workloads(geos=_ARM_GEO))
def test_backends_agree_on_arm64_like_geometries(w):
    assert_backends_agree(w)


def test_backend_chosen_by_size(monkeypatch):
    from ptcalc.model.geometry import X86_64
    from ptcalc.workload.types import Host, Mapping, ProcessGroup, Segment, Workload

    seg = Segment("s", 1 << 30, "shmem", 4096)
    small = Workload(Host(None, X86_64), {"s": seg}, (ProcessGroup("g", 1, (Mapping("s", 0, 1 << 30, 1 << 40,
                                                                                      touched=((0, 4096),)),)),))
    assert Layout.from_workload(small, backend=None).xp is pure
    assert Layout.from_workload(small).xp.NAME == "numpy"  # the default, for callers using numpy directly
    monkeypatch.setattr(xp, "SMALL", 0)
    assert Layout.from_workload(small, backend=None).xp.NAME == "numpy"
    with pytest.raises(ValueError, match="unknown array backend"):
        xp.backend("cupy")


def test_helpers_agree_on_overlapping_and_tied_ranges():
    # merge_within and union_and_shared on hand-made ranges with ties, overlaps
    # and unsorted owners; the expected figures are worked out by hand.
    owner, lo, hi = [1, 0, 1, 0, 1], [5, 0, 0, 3, 7], [9, 4, 6, 3, 8]
    for ns in (np, pure):
        o, l, h = merge_within(ns.asarray(owner), ns.asarray(lo), ns.asarray(hi))
        # owner 0: [0,4) ([3,3) empty); owner 1: [0,6), [6,9) (trimmed from [5,9)), [7,8) inside -> dropped
        assert as_lists(o, l, h) == [[0, 1, 1], [0, 0, 6], [4, 6, 9]]
        # two owners over key 0: [0,4) weight 1, [2,6) weight 2 -> union 6 blocks, >=2 on [2,6): 4
        u, s = union_and_shared(ns.asarray([0, 0]), ns.asarray([0, 2]), ns.asarray([4, 6]), ns.asarray([1, 2]))
        assert (u, s) == (6, 4)
        assert key_ids(ns.asarray([2, 1, 2, 1]), ns.asarray([7, 7, 5, 7])).tolist() == [2, 0, 1, 0]


@given(st.lists(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 12)), max_size=4), min_size=1, max_size=90),
       st.sampled_from([1, 4, 16]))
def test_distinct_blocks_and_sums_against_a_brute_force_count(per_owner, span):
    # per owner, ranges made sorted and disjoint (each starts at or past the
    # last one's end); the blocks each owner touches counted one by one
    from ptcalc.model.intervals import distinct_blocks

    owner, lo, hi, expect = [], [], [], []
    for o, ranges in enumerate(per_owner):
        at, blocks = 0, set()
        for gap, length in ranges:
            s, e = at + gap, at + gap + length
            owner.append(o), lo.append(s), hi.append(e)
            blocks |= {b // span for b in range(s, e)}
            at = e
        expect.append(len(blocks))
    for ns in (xp.backend("numpy"), pure):
        got = distinct_blocks(ns.asarray(owner), ns.asarray(lo), ns.asarray(hi), span, len(per_owner))
        assert got.tolist() == expect
        # the ranges where a mask is true (every third left out): counted on that subset
        mask = [i % 3 != 1 for i in range(len(owner))]
        sub = [set() for _ in per_owner]
        for o, s, e, k in zip(owner, lo, hi, mask):
            if k:
                sub[o] |= {b // span for b in range(s, e)}
        got = distinct_blocks(ns.asarray(owner), ns.asarray(lo), ns.asarray(hi), span, len(per_owner),
                              mask=ns.asarray(mask, ns.bool_))
        assert got.tolist() == [len(b) for b in sub]
        # an owner's values summed (the runs of a contiguous owner, or one by one)
        assert ns.group_sum(ns.asarray(owner), ns.asarray(hi), len(per_owner)).tolist() == [
            sum(h for o2, h in zip(owner, hi) if o2 == o) for o in range(len(per_owner))]


def test_seed_estimate_imports_only_what_it_needs():
    # The seed scenario runs on the pure-Python backend and is read by the
    # fast YAML reader: neither numpy nor yaml is imported; JSON and markdown
    # output do not import rich either.
    code = ("import sys; from ptcalc.cli import main\n"
            "sys.argv = ['ptcalc', 'estimate', 'configs/oracle-sga-300g.yaml', '-f', '{fmt}']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'yaml', 'rich'}), file=sys.stderr)\n")
    for fmt, expected in (("table", "['rich']"), ("json", "[]"), ("markdown", "[]")):
        r = subprocess.run([sys.executable, "-c", code.replace("{fmt}", fmt)], capture_output=True, text=True,
                           cwd=__file__.rsplit("/tests/", 1)[0])
        assert r.returncode == 0, r.stderr
        assert r.stderr.strip().splitlines()[-1] == expected, (fmt, r.stderr)


def test_most_common_code_as_counter_does():
    # ties go to the code seen first, as Counter.most_common does
    from collections import Counter

    from ptcalc.model.reasons import most_common

    for codes in ([3, 5, 5, 3, 2], [9, 1, 1, 9], [4], [7, 7, 2, 2, 2, 7, 1]):
        expected = Counter(codes).most_common(1)[0][0]
        for ns in (np, pure):
            assert most_common(ns.asarray(codes)) == expected


def test_key_ids_rank_by_table_and_by_sort_alike():
    # small ranges are ranked through a table, large ones sorted: same ids
    from ptcalc.model.intervals import rank
    numpy_ns = xp.backend("numpy")

    for values in ([5, 3, 5, 9], [1 << 40, 7, 1 << 40, -3], [0], [2, 2, 2]):
        for ns in (numpy_ns, pure):
            got = rank(ns, ns.asarray(values)).tolist()
            assert got == [sorted(set(values)).index(v) for v in values]


@settings(max_examples=200)
@given(rows=st.lists(st.tuples(st.integers(0, 5), st.integers(-(1 << 50), 1 << 50) | st.integers(-3, 3),
                               st.integers(0, 9)), max_size=30),
       packs=st.booleans())
def test_order_by_with_ties_in_another_order_sorts_as_python_does(rows, packs):
    # (major, minor) packed into one key, ties by ``then``: the order of a
    # Python sort of the triples (then the row number: a stable sort)
    from ptcalc.model.intervals import order_by

    for ns in (xp.backend("numpy"), pure):
        major, minor, then = (ns.asarray([r[i] for r in rows]) for i in range(3))
        if not packs and ns.NAME == "numpy":
            fits = ns.fits
            ns.fits = lambda bound: False
        try:
            got = order_by(ns, major, minor, then=then).tolist()
        finally:
            if not packs and ns.NAME == "numpy":
                ns.fits = fits
        assert got == sorted(range(len(rows)), key=lambda i: (rows[i], i))


def test_numpy_fallbacks_when_keys_do_not_pack(monkeypatch):
    # union_and_shared, merge_within and key_ids pack keys into one int64 when
    # they fit; forcing the lexsort/re-rank paths must not change any result
    numpy_ns = xp.backend("numpy")

    monkeypatch.setattr(numpy_ns, "fits", lambda bound: False)
    test_helpers_agree_on_overlapping_and_tied_ranges()


@settings(max_examples=60)
@given(w=workloads())
def test_backends_agree_with_numpy_fallbacks(w):
    numpy_ns = xp.backend("numpy")

    real = numpy_ns.fits
    numpy_ns.fits = lambda bound: False
    try:
        assert_backends_agree(w)
    finally:
        numpy_ns.fits = real


def test_only_the_command_line_tunes_its_process():
    code = ("import os, sys\n"
            "import ptcalc.model.tables\n"
            "from ptcalc.model import xp\n"
            "xp.backend('numpy')\n"
            "assert not xp._prepared and 'OPENBLAS_NUM_THREADS' not in os.environ\n"
            "import ptcalc.cli\n"
            "assert os.environ['OPENBLAS_NUM_THREADS'] == '1'\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENBLAS_NUM_THREADS"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    code = ("from ptcalc.model import xp\n"
            "import ptcalc.cli\n"
            "xp.backend('numpy')\n"
            "assert xp._prepared\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr


@given(values=st.lists(st.integers(-(1 << 60), 1 << 60), min_size=1, max_size=20),
       span=st.one_of(st.integers(0, 57).map(lambda k: 1 << k), st.integers(1, 1 << 40)))
def test_block_arithmetic_is_integer_division(values, span):
    # floor_div / ceil_div / mod shift and mask for a power of two: the same
    # numbers as Python's floored division and remainder, negatives included
    for backend in xp.BACKENDS:
        a = xp.backend(backend).asarray(values)
        assert [int(v) for v in floor_div(a, span).tolist()] == [v // span for v in values]
        assert [int(v) for v in ceil_div(a, span).tolist()] == [-(-v // span) for v in values]
        assert [int(v) for v in mod(a, span).tolist()] == [v % span for v in values]


def test_narrow_key_columns_are_widened_before_the_arithmetic():
    """Segment and protection codes are int8 in a numpy layout: ids combined
    from them (120 x 100 x 50 combinations, past int8 and int16) must be
    those of the same columns as int64 -- by hand: the rows' lexicographic
    ranks among the distinct rows."""
    rng = np.random.default_rng(7)
    seg, prot, cls = rng.integers(0, 120, 5000), rng.integers(0, 100, 5000), rng.integers(0, 50, 5000)
    rows = list(zip(seg.tolist(), prot.tolist(), cls.tolist()))
    rank_of = {r: i for i, r in enumerate(sorted(set(rows)))}
    want = [rank_of[r] for r in rows]
    assert key_ids(seg.astype(np.int8), prot.astype(np.int8), cls).tolist() == want
    assert key_ids(seg, prot, cls).tolist() == want


def test_layout_codes_are_narrow_and_count_alike():
    """A numpy layout keeps codes narrow (``Layout.assemble``); counting it
    gives what the pure-Python backend's int64 layout gives."""
    from pathlib import Path

    from ptcalc.workload.loader import load_workload

    w = load_workload(Path(__file__).resolve().parent.parent / "configs" / "consolidated-oracle-asm-postgres.yaml")
    lay = Layout.from_workload(w, backend="numpy")
    assert (lay.row_seg.dtype, lay.row_prot.dtype, lay.row_leaf.dtype, lay.piece_row.dtype) == (
        np.int8, np.int8, np.int8, np.int32)
    py = Layout.from_workload(w, backend="python")
    for scheme in ("private", "hugetlb-pmd", "mshare", "file-cached"):
        assert comparable(count(lay, zones(lay, scheme, w.options))) == comparable(
            count(py, zones(py, scheme, w.options)))
