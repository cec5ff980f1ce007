"""The representations the fast paths use must stand for exactly the same
workload and results as the plain ones:

* ``Mappings`` (a group's mappings as codes into a table of distinct
  specs): it reads as the tuple of Mapping objects it stands for, whether
  its table is its own or shared by many groups (as the loader shares one
  per document), and the model's Layout is the same either way -- on the
  property-test workloads (several pieces per mapping, untouched mappings,
  userfaultfd, soft-dirty, every geometry) and on both array backends;
* ``GroupResults`` (per-group results kept as columns) reads as the tuple of
  GroupResult objects it stands for;
* the loader's fast path finds the same overlapping mappings as the
  group-by-group path, and gives the same message.
"""

from dataclasses import replace

import pytest
from hypothesis import given, note
from test_model_properties import comparable, describe, workloads

from ptcalc.model import xp
from ptcalc.errors import WorkloadError
from ptcalc.workload.loader import loads_workload
from ptcalc.model.layout import Layout
from ptcalc.model.tables import compute, count, zones
from ptcalc.model.evaluate import evaluate
from ptcalc.model.geometry import X86_64
from ptcalc.render.words import note_text
from ptcalc.model.results import GroupResult, GroupResults
from ptcalc.workload.types import MAPPING_FIELDS, Mapping, Mappings, MappingSpec, ProcessGroup, Workload

LAYOUT_ARRAYS = ("row_group", "row_seg", "row_addr", "row_end", "row_off", "row_page", "row_leaf", "row_backing",
                 "row_prot", "row_uffd_blocks_pmd_share", "row_uffd_wp", "row_soft_dirty", "row_seg_size",
                 "row_auto", "row_mi", "piece_row", "piece_start", "piece_end")


def shared(w: Workload) -> Workload:
    """``w`` with every group's mappings codes into one table of the
    workload's distinct specs, as the loader keeps a document's."""
    code_of: dict[MappingSpec, int] = {}
    per_group = [[code_of.setdefault(MappingSpec.of(m), len(code_of)) for m in g.mappings] for g in w.groups]
    table = tuple(code_of)
    groups = []
    for g, codes in zip(w.groups, per_group):
        ms = Mappings(table, tuple(codes), tuple(m.address for m in g.mappings), tuple(m.auto for m in g.mappings),
                      f"{g.origin}.mappings" if g.origin else "")
        groups.append(replace(g, mappings=ms))
    return replace(w, groups=tuple(groups))


def as_lists(layout):
    return {f: [int(x) for x in getattr(layout, f).tolist()] for f in LAYOUT_ARRAYS}


def with_origins(w: Workload) -> Workload:
    """``w`` with origins as the loader gives them (group ``processes[i]``,
    mapping j ``processes[i].mappings[j]``)."""
    groups = []
    for i, g in enumerate(w.groups):
        origin = f"processes[{i}]"
        groups.append(replace(g, origin=origin, mappings=tuple(
            replace(m, origin=f"{origin}.mappings[{j}]") for j, m in enumerate(g.mappings))))
    return replace(w, groups=tuple(groups))


@given(w=workloads())
def test_groups_of_one_shared_table_are_the_same_workload(w):
    w = with_origins(w)
    note(describe(w))
    c = shared(w)
    tables = {id(g.mappings.specs) for g in c.groups}
    assert len(tables) <= 1
    for g, cg in zip(w.groups, c.groups):
        assert isinstance(g.mappings, Mappings) and g.mappings.origins is not None
        assert cg.columns() == tuple(tuple(getattr(m, f) for m in g.mappings) for f in MAPPING_FIELDS)
        assert cg.mappings == g.mappings  # origins included: {group}.mappings[j]
        assert cg.mappings == tuple(g.mappings) and tuple(cg.mappings) == tuple(g.mappings)
        assert cg == g
    assert c == w


@given(w=workloads())
def test_a_layout_from_one_table_is_the_layout_from_a_table_per_group(w):
    note(describe(w))
    c = shared(w)
    for backend in xp.BACKENDS:
        plain, from_shared = Layout.from_workload(w, backend=backend), Layout.from_workload(c, backend=backend)
        assert as_lists(from_shared) == as_lists(plain), backend
        assert from_shared.row_index == plain.row_index
        for scheme in ("private", "hugetlb-pmd", "mshare", "file-cached"):
            assert comparable(count(from_shared, zones(from_shared, scheme, w.options))) == \
                comparable(count(plain, zones(plain, scheme, w.options)))


def test_groups_of_different_tables_are_put_end_to_end():
    from test_model import BASE, GiB, grp, mp, wl

    from ptcalc.workload.types import Segment

    s = Segment("s", 4 * GiB, "shmem", 4096)
    w = wl([s], grp(2, mp("s", GiB, BASE), name="a"), grp(3, mp("s", GiB, BASE, offset=GiB), name="b"),
           grp(1, mp("s", GiB, BASE), mp("s", GiB, BASE + 2 * GiB, offset=GiB), name="c"))
    mixed = replace(w, groups=(shared(replace(w, groups=w.groups[:1])).groups[0],
                               *shared(replace(w, groups=w.groups[1:])).groups))
    assert mixed.groups[0].mappings.specs is not mixed.groups[1].mappings.specs
    assert mixed.groups[1].mappings.specs is mixed.groups[2].mappings.specs
    assert mixed == w
    for backend in xp.BACKENDS:
        layout = as_lists(Layout.from_workload(mixed, backend=backend))
        assert layout == as_lists(Layout.from_workload(w, backend=backend))
        # by hand: rows (group, address) in order, offsets 0, 1 GiB, 0, 1 GiB
        assert layout["row_group"] == [0, 1, 2, 2]
        assert layout["row_off"] == [0, GiB, 0, GiB]
        assert layout["row_addr"] == [BASE, BASE, BASE, BASE + 2 * GiB]


def test_mappings_read_as_the_tuple_they_stand_for():
    GiB = 1 << 30
    a = Mapping("s", 0, GiB, 1 << 40, touched=((0, GiB),), origin="x[0]")
    b = Mapping("s", GiB, GiB, 1 << 41, protection="r", auto=True, origin="x[1]")
    g = ProcessGroup("p", 3, (a, b))  # hand-built, as many tests do
    ms = g.mappings
    assert isinstance(ms, Mappings) and len(ms.specs) == 2 and ms.codes == (0, 1)
    assert len(ms) == 2 and ms[0] == a and ms[-1] == b and ms[:1] == (a,) and list(ms) == [a, b]
    assert ms == (a, b) and (a, b) == ms and ms != (a,) and ms != (b, a)
    assert hash(ms) == hash((a, b)) and repr(ms) == repr((a, b))
    assert b in ms and ms.index(b) == 1
    assert ms + (a,) == (a, b, a) and (b,) + ms == (b, a, b)
    # the same mapping twice is one spec
    again = ProcessGroup("p", 3, (a, replace(a, address=1 << 42, origin="x[2]"))).mappings
    assert again.specs == (MappingSpec.of(a),) and again.codes == (0, 0) and again[1].origin == "x[2]"
    # replace() takes a tuple, as dataclasses do
    h = replace(g, mappings=(b,))
    assert isinstance(h.mappings, Mappings) and h.mappings == (b,)
    # origins: given, else the list's key path, else none
    plain = Mappings(ms.specs, (1, 0), (1, 2), (False, False))
    assert [m.origin for m in plain] == ["", ""]
    assert [m.origin for m in replace(plain, origin="processes[4].mappings")] == \
        ["processes[4].mappings[0]", "processes[4].mappings[1]"]
    assert ProcessGroup("empty", 1, ()).mappings == () and not ProcessGroup("empty", 1, ()).mappings
    with pytest.raises(IndexError):
        ms[2]


# --- GroupResults --------------------------------------------------------------------

def test_group_results_read_as_the_tuple_they_stand_for():
    own = [[1, 2], [0, 1], [0, 0], [0, 0], [1, 1]]  # per level (pte, pmd, pud, p4d, pgd), per group
    att = [[0, 3], [0, 0], [0, 0], [0, 0], [0, 0]]
    gr = GroupResults(["a", "b"], [10, 0], own, att, [8192, 16384], [4096, 24576])
    a = GroupResult("a", 10, {"pte": 1, "pmd": 0, "pud": 0, "p4d": 0, "pgd": 1},
                    {"pte": 0, "pmd": 0, "pud": 0, "p4d": 0, "pgd": 0}, 8192, 4096)
    b = GroupResult("b", 0, {"pte": 2, "pmd": 1, "pud": 0, "p4d": 0, "pgd": 1},
                    {"pte": 3, "pmd": 0, "pud": 0, "p4d": 0, "pgd": 0}, 16384, 24576)
    assert len(gr) == 2 and gr[0] == a and gr[1] == b and gr[-1] == b
    assert list(gr) == [a, b] and gr[:1] == (a,)
    assert gr == (a, b) and gr == [a, b] and gr != (a,) and gr != (b, a)
    assert gr == GroupResults.of([a, b]) and gr[0] is gr[0]
    # 10 processes x 8 KiB; the group of 0 processes adds nothing
    assert gr.own_bytes_total() == 10 * 8192
    assert gr.vmpte_total() == 10 * 4096


def test_scheme_results_total_their_groups():
    from test_model import BASE, GiB, grp, mp, wl

    from ptcalc.workload.types import Segment

    # 1 GiB touched on 4 KiB pages: 512 PTE tables + 1 PMD + 1 PUD + the PGD
    # per process = 515 tables of 4 KiB; 3 + 5 processes
    s = Segment("s", GiB, "shmem", 4096)
    w = wl([s], grp(3, mp("s", GiB, BASE), name="a"), grp(5, mp("s", GiB, BASE), name="b"))
    r = compute(w, "private")
    assert r.groups.own_bytes_total() == 8 * 515 * 4096
    # VmPTE counts the pte, pmd and pud tables, not the PGD
    assert r.vmpte_total == 8 * 514 * 4096


# --- a scheme that shares nothing counts as private does --------------------------------

def test_a_scheme_sharing_nothing_is_counted_as_private():
    from test_model import BASE, GiB, grp, mp, wl

    from ptcalc.workload.types import Segment

    # shmem only: hugetlb PMD sharing applies to nothing
    s = Segment("s", 2 * GiB, "shmem", 4096)
    w = wl([s], grp(4, mp("s", 2 * GiB, BASE), name="a"))
    report = evaluate(w)
    layout = report.configured.layout
    z = zones(layout, "hugetlb-pmd", w.options)
    assert z.shares_nothing and not zones(layout, "file-cached", w.options).shares_nothing
    cell = report.cell("hugetlb-pmd", report.configured.key)
    assert comparable(cell.result) == comparable(count(layout, z))
    assert note_text(cell.note, X86_64) == "equals private: mainline Linux shares page tables only for hugetlb mappings"


# --- the loader's fast path: overlapping mappings --------------------------------------

def _both_ways(text, monkeypatch):
    from ptcalc.workload import fastyaml

    def load():
        try:
            return loads_workload(text, "t.yaml")
        except WorkloadError as e:
            return str(e)

    fast = load()
    with monkeypatch.context() as m:
        m.setattr(fastyaml, "parse_documents", lambda text, max_nodes=None: None)
        slow = load()
    return fast, slow


def _doc(groups):
    return "segments:\n  s: {size: 8GiB}\nprocesses:\n" + "".join(
        f"- count: 1\n  mappings:\n" + "".join(f"  - {{segment: s, size: 1GiB, address: {a}}}\n" for a in addrs)
        for addrs in groups)


def test_overlaps_found_on_arrays_are_the_groups_overlaps(monkeypatch):
    ok = ["0x10000000000", "0x10040000000", "auto"]
    # group 2: its third mapping starts 512 MiB into its first
    bad = ["0x20000000000", "auto", "0x20020000000"]
    fast, slow = _both_ways(_doc([ok, ok, bad, ok]), monkeypatch)
    assert fast == slow
    assert slow.startswith("t.yaml:") and "processes[2].mappings[2].address" in slow
    assert "overlaps mappings[0]" in slow
    # one ending where the next starts is no overlap, nor the same address in two groups
    fine = ["0x10000000000", "0x10040000000"]
    fast, slow = _both_ways(_doc([fine, fine]), monkeypatch)
    assert isinstance(fast, Workload) and fast == slow


def test_fast_read_groups_are_coded_and_give_the_slow_paths_layout(monkeypatch):
    # block-style mappings with several touched ranges, flags and an untouched
    # one: read by fastyaml item by item, kept as codes all the same
    text = """segments:
  s: {size: 8GiB}
  h: {size: 4GiB, backing: hugetlb, page_size: 2MiB}
processes:
- count: 3
  mappings:
  - segment: s
    size: 1GiB
    touch:
    - 0-2M
    - 8M-10M
    userfaultfd: wp
  - segment: h
    size: 2GiB
    address: 0x20000000000
    soft_dirty: true
  - {segment: s, offset: 1GiB, size: 1GiB, protection: none}
- count: 2
  mappings:
  - {segment: s, size: 1GiB, touch: 0.5}
  - {segment: h, size: 2GiB, touch: 10%}
"""
    fast, slow = _both_ways(text, monkeypatch)
    assert isinstance(fast, Workload) and fast == slow
    # either way, every group's mappings are codes into the document's one table
    for w in (fast, slow):
        assert len({id(g.mappings.specs) for g in w.groups}) == 1
        assert len(w.groups[0].mappings.specs) == 5
    for backend in xp.BACKENDS:
        assert as_lists(Layout.from_workload(fast, backend=backend)) == \
            as_lists(Layout.from_workload(slow, backend=backend))
