"""The representations the fast paths use must stand for exactly the same
workload and results as the plain ones:

* ``ProcessGroup.from_codes`` (the loader keeps a fastyaml document's
  mappings as codes into one table of distinct mappings): its columns and
  Mapping objects, and the model's Layout built from the table, are those
  of the same group given mapping by mapping -- on the property-test
  workloads (several pieces per mapping, untouched mappings, userfaultfd,
  soft-dirty, every geometry) and on both array backends;
* ``GroupResults`` (per-group results kept as columns) reads as the tuple of
  GroupResult objects it stands for;
* the loader's fast path finds the same overlapping mappings as the
  group-by-group path, and gives the same message.
"""

from dataclasses import replace

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
from ptcalc.workload.types import CODED_FIELDS, MAPPING_FIELDS, ProcessGroup, Workload

LAYOUT_ARRAYS = ("row_group", "row_seg", "row_addr", "row_end", "row_off", "row_page", "row_leaf", "row_backing",
                 "row_prot", "row_uffd_blocks_pmd_share", "row_uffd_wp", "row_soft_dirty", "row_seg_size",
                 "row_auto", "row_mi", "piece_row", "piece_start", "piece_end")


def coded(w: Workload) -> Workload:
    """``w`` with every group made by ProcessGroup.from_codes, over one shared
    table of the distinct mappings (all fields but the address)."""
    table: list[tuple] = []
    code_of: dict[tuple, int] = {}
    groups = []
    for g in w.groups:
        codes = []
        for m in g.mappings:
            row = tuple(getattr(m, f) for f in CODED_FIELDS)
            codes.append(code_of.setdefault(row, len(table)))
            if codes[-1] == len(table):
                table.append(row)
        groups.append(ProcessGroup.from_codes(g.name, g.count, table, tuple(codes),
                                              tuple(m.address for m in g.mappings), g.private_memory, g.origin))
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
def test_coded_groups_are_the_same_workload(w):
    w = with_origins(w)
    note(describe(w))
    c = coded(w)
    for g, cg in zip(w.groups, c.groups):
        assert cg.coded() is not None and g.coded() is None
        assert cg.columns() == tuple(tuple(getattr(m, f) for m in g.mappings) for f in MAPPING_FIELDS)
        assert cg.mappings == g.mappings  # origins included: {group}.mappings[j]
        assert cg == g
    assert c == w


@given(w=workloads())
def test_a_layout_from_codes_is_the_layout_from_columns(w):
    note(describe(w))
    c = coded(w)
    for backend in xp.BACKENDS:
        plain, from_codes = Layout.from_workload(w, backend=backend), Layout.from_workload(c, backend=backend)
        assert as_lists(from_codes) == as_lists(plain), backend
        assert from_codes.row_index == plain.row_index
        for scheme in ("private", "hugetlb-pmd", "mshare", "file-cached"):
            assert comparable(count(from_codes, zones(from_codes, scheme, w.options))) == \
                comparable(count(plain, zones(plain, scheme, w.options)))


def test_groups_of_different_tables_are_read_column_by_column():
    # two tables: the layout cannot gather from one, and reads the columns
    from test_model import BASE, GiB, grp, mp, wl

    from ptcalc.workload.types import Segment

    s = Segment("s", 4 * GiB, "shmem", 4096)
    w = wl([s], grp(2, mp("s", GiB, BASE), name="a"), grp(3, mp("s", GiB, BASE, offset=GiB), name="b"))
    mixed = replace(w, groups=(coded(replace(w, groups=w.groups[:1])).groups[0],
                               coded(replace(w, groups=w.groups[1:])).groups[0]))
    assert mixed.groups[0].coded()[0] is not mixed.groups[1].coded()[0]
    assert as_lists(Layout.from_workload(mixed)) == as_lists(Layout.from_workload(w))


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
    assert all(g.coded() is not None for g in fast.groups) and all(g.coded() is None for g in slow.groups)
    for backend in xp.BACKENDS:
        assert as_lists(Layout.from_workload(fast, backend=backend)) == \
            as_lists(Layout.from_workload(slow, backend=backend))
