"""``instances:`` -- several instances (an Oracle SGA, its ASM instance, many
PostgreSQL clusters) on one host: expansion into ordinary segments and
groups, scoping of segment names, located errors, the expansion limits, the
fast YAML path against libyaml, and page-table figures derived by hand from
the x86-64 geometry (docs/workload-format.md, docs/semantics.md).
"""

import json
import textwrap

import pytest

from clihelp import CONFIGS, run, write

from ptcalc.workload import fastyaml
from ptcalc.workload import instances as expand
from ptcalc.errors import WorkloadError
from ptcalc.workload.loader import load_workload, loads_workload, loads_workloads

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
T = 4 * KiB  # every x86-64 table is 4 KiB (the PGD too, without PTI)

CONSOLIDATED = CONFIGS / "consolidated-oracle-asm-postgres.yaml"

PG_AND_ASM = """\
host: {memory: 512GiB}
instances:
  - name: pg
    count: 3
    segments:
      shared_memory: {size: 4GiB}
    processes:
      - name: backends
        count: 100
        private_memory: 16MiB
        mappings:
          - segment: shared_memory
            touch: 0.5
      - count: 6
        mappings:
          - segment: shared_memory
  - name: asm
    segments:
      sga: {size: 1GiB}
    processes:
      - {name: background, count: 30, mappings: [{segment: sga}]}
"""


def load(text, source="x.yaml"):
    return loads_workload(textwrap.dedent(text), source)


def error(text, source="x.yaml"):
    with pytest.raises(WorkloadError) as e:
        loads_workloads(textwrap.dedent(text), source)
    return str(e.value)


def slow(monkeypatch, text, source="x.yaml"):
    """loads_workloads through libyaml only (the fast reader declines)."""
    with monkeypatch.context() as m:
        m.setattr(fastyaml, "parse_documents", lambda text, max_nodes=None: None)
        try:
            return loads_workloads(text, source)
        except WorkloadError as e:
            return str(e)


def fast(text, source="x.yaml"):
    try:
        return loads_workloads(text, source)
    except WorkloadError as e:
        return str(e)


# --- expansion -------------------------------------------------------------------


def test_copies_are_named_and_scoped():
    w = load(PG_AND_ASM)
    assert list(w.segments) == ["pg-1/shared_memory", "pg-2/shared_memory", "pg-3/shared_memory", "asm/sga"]
    assert [s.name for s in w.segments.values()] == list(w.segments)
    assert all(w.segments[f"pg-{k}/shared_memory"].size == 4 * GiB for k in (1, 2, 3))
    assert w.segments["asm/sga"].size == GiB
    names = [g.name for g in w.groups]
    assert names == ["pg-1: backends", "pg-1: group 2", "pg-2: backends", "pg-2: group 2",
                     "pg-3: backends", "pg-3: group 2", "asm: background"]
    assert [g.count for g in w.groups] == [100, 6] * 3 + [30]
    assert w.process_count == 3 * 106 + 30
    # each copy's processes map their own copy's segment, at the address the
    # template's auto placement gives (1 TiB: the first 512 GiB window)
    for k in (1, 2, 3):
        (m,) = w.groups[2 * (k - 1)].mappings
        assert m.segment == f"pg-{k}/shared_memory"
        assert (m.address, m.size, m.touched, m.auto) == (TiB, 4 * GiB, ((0, 2 * GiB),), True)
        assert w.groups[2 * (k - 1)].private_memory == 16 * MiB
        assert m.origin == "instances[0].processes[0].mappings[0]"
    assert w.groups[1].origin == "instances[0].processes[1]"
    (m,) = w.groups[-1].mappings
    assert (m.segment, m.address, m.origin) == ("asm/sga", TiB, "instances[1].processes[0].mappings[0]")


def test_instances_alongside_top_level_segments_and_processes():
    w = load("""\
        segments: {sga: {size: 2GiB}}
        processes: [{name: servers, count: 10, mappings: [{segment: sga}]}]
        instances:
          - name: asm
            segments: {sga: {size: 1GiB}}
            processes: [{count: 2, mappings: [{segment: sga}]}]
        """)
    assert list(w.segments) == ["sga", "asm/sga"]
    assert [(g.name, g.count) for g in w.groups] == [("servers", 10), ("asm: group 1", 2)]
    assert w.groups[0].mappings[0].segment == "sga" and w.groups[1].mappings[0].segment == "asm/sga"


def test_a_file_without_instances_loads_as_before():
    # the seed: one segment, one group, under the names and key paths it always had
    w = load_workload(CONFIGS / "oracle-sga-300g.yaml")
    assert list(w.segments) == ["sga"] and [g.name for g in w.groups] == ["dedicated servers"]
    assert w.groups[0].origin == "processes[0]"


def test_explicit_addresses_and_every_mapping_field_are_copied():
    w = load("""\
        instances:
          - name: db
            count: 2
            segments:
              a: {size: 4GiB, backing: hugetlb, page_size: 2MiB}
              b: {size: 1GiB, backing: file}
            processes:
              - count: 4
                mappings:
                  - {segment: a, offset: 1GiB, size: 2GiB, address: 0x7f0040000000, protection: r, userfaultfd: missing}
                  - {segment: b, touch: 10%, soft_dirty: true}
        """)
    first, second = w.groups
    for k, g in ((1, first), (2, second)):
        a, b = g.mappings
        assert (a.segment, a.offset, a.size, a.address, a.protection, a.userfaultfd, a.auto) == (
            f"db-{k}/a", GiB, 2 * GiB, 0x7F0040000000, "r", "missing", False)
        # b is auto-placed clear of a, which takes the 512 GiB window at
        # 0x7f0000000000 (window 254): b gets the first window from 1 TiB
        # (window 2); touch 10% of 1 GiB = ceil(107,374,182.4) bytes -> 26,215 pages
        assert (b.segment, b.address, b.soft_dirty, b.touched) == (f"db-{k}/b", TiB, True,
                                                                   ((0, 26215 * 4 * KiB),))
    assert w.segments["db-2/a"].backing == "hugetlb" and w.segments["db-2/b"].backing == "file"


# --- errors ----------------------------------------------------------------------


@pytest.mark.parametrize("edit, message", [
    # a mapping names a segment of its own instance only
    (("- segment: shared_memory", "- segment: sga"),
     "x.yaml:12:22: instances[0].processes[0].mappings[0].segment: no segment named 'sga' "
     "(segments: 'shared_memory'); a mapping names a segment of its own instance"),
    (("count: 3", "count: 0"),
     "x.yaml:4:12: instances[0].count: a count of copies must be at least 1, got 0"),
    (("size: 4GiB", "size: 4GiBs"),
     "x.yaml:6:29: instances[0].segments.shared_memory.size: unknown unit 'GiBs' in '4GiBs' (sizes are binary: "
     "K, M, G, T, P with optional B or iB, e.g. 300GiB)"),
    (("count: 100", "count: lots"),
     "x.yaml:9:16: instances[0].processes[0].count: expected a whole number, got 'lots'"),
    (("name: asm", "name: pg"),
     "x.yaml:17:11: instances[1].name: instance name 'pg' is already used by instances[0]"),
    (("name: asm", "name: pg-2"),
     "x.yaml:17:11: instances[1].name: 'pg-2' would name both copy 2 of instances[0] ('pg', count 3) and this "
     "instance (copies of an instance with count N are NAME-1 .. NAME-N); rename one"),
    (("name: asm", "name: a/b"),
     "x.yaml:17:11: instances[1].name: an instance name cannot contain '/', which separates it from its "
     "segments' names (NAME/SEGMENT)"),
    (("  - name: asm\n", "  - nme: asm\n"),
     "x.yaml:17:5: instances[1].nme: unknown key 'nme' (did you mean 'name'?)"),
    (("    segments:\n      sga", "    segment:\n      sga"),
     "x.yaml:18:5: instances[1].segment: unknown key 'segment' (did you mean 'segments'?)"),
])
def test_errors_are_located_in_the_instance(edit, message, monkeypatch):
    text = PG_AND_ASM.replace(*edit)
    assert text != PG_AND_ASM
    assert fast(text) == message
    assert slow(monkeypatch, text) == message


def test_missing_keys_are_located_at_the_instance():
    assert error("instances:\n  - {count: 2}\n") == (
        "x.yaml:2:5: instances[0].name: required key 'name' is missing (every instance needs one, e.g. name: pg)")
    assert error("instances:\n  - name: pg\n    processes: []\n") == (
        "x.yaml:2:5: instances[0].segments: required key 'segments' is missing (an instance has segments of "
        "its own)")
    assert error("instances:\n  - name: pg\n    segments: {s: {size: 1GiB}}\n") == (
        "x.yaml:2:5: instances[0].processes: required key 'processes' is missing (the instance's processes "
        "that map its segments)")
    assert error("instances: []\n") == (
        "x.yaml:1:12: instances: at least one instance is needed (or leave the key out)")
    assert error("instances: {pg: 1}\n") == (
        "x.yaml:1:12: instances: expected a list of instances (- name: pg ...), got a mapping")
    # top-level segments and processes go together when instances are there
    assert error("segments: {s: {size: 1GiB}}\ninstances: [{name: a, segments: {s: {size: 1GiB}}, "
                 "processes: [{count: 1}]}]\n") == (
        "x.yaml:1:1: processes: required key 'processes' is missing (top-level segments need top-level "
        "processes; or move them into an instance)")
    # without instances, as ever
    assert error("segments: {s: {size: 1GiB}}\n") == "x.yaml:1:1: processes: required key 'processes' is missing"


def test_a_copy_cannot_take_a_top_level_segment_name():
    assert error("""\
        segments: {'pg/s': {size: 1GiB}}
        processes: [{count: 1, mappings: [{segment: pg/s}]}]
        instances:
          - name: pg
            segments: {s: {size: 1GiB}}
            processes: [{count: 1}]
        """) == ("x.yaml:4:11: instances[0].name: segment 'pg/s' of this instance has the name of a top-level "
                 "segment; rename one")


def test_earlier_copy_name_clashes_with_a_later_instances_copies():
    assert error("""\
        instances:
          - {name: pg-2, segments: {s: {size: 1GiB}}, processes: [{count: 1}]}
          - {name: pg, count: 3, segments: {s: {size: 1GiB}}, processes: [{count: 1}]}
        """) == ("x.yaml:3:12: instances[1].name: 'pg-2' would name both instances[0] and copy 2 of this "
                 "instance (copies of an instance with count N are NAME-1 .. NAME-N); rename one")


# --- limits ----------------------------------------------------------------------


def instance(count, groups=1, mappings=1, segments=1):
    segs = ", ".join(f"s{i}: {{size: 1GiB}}" for i in range(segments))
    maps = ", ".join(f"{{segment: s{j % segments}, size: 4KiB, offset: {j * 4}KiB}}" for j in range(mappings))
    procs = "\n".join(f"      - {{count: 1, mappings: [{maps}]}}" for _ in range(groups))
    return (f"  - name: i\n    count: {count}\n    segments: {{{segs}}}\n    processes:\n{procs}\n")


@pytest.mark.parametrize("count, groups, mappings, segments, message", [
    (10_001, 1, 1, 1, "10,001 copies of instance 'i' (1 segment each) bring the file to 10,001 segments; "
                      "instances may expand a file to at most 10,000 segments"),
    (5_001, 2, 1, 1, "5,001 copies of instance 'i' (2 process groups each) bring the file to 10,002 process "
                     "groups; instances may expand a file to at most 10,000 process groups"),
    (1_001, 1, 100, 1, "1,001 copies of instance 'i' (100 mappings each) bring the file to 100,100 mappings; "
                       "instances may expand a file to at most 100,000 mappings"),
    (2 ** 40 + 1, 1, 1, 1, "a count of copies of 1,099,511,627,777 is more than the limit of 1,099,511,627,776 "
                           "(2^40)"),
])
def test_expansion_limits_are_located_at_count(count, groups, mappings, segments, message, monkeypatch):
    text = "instances:\n" + instance(count, groups, mappings, segments)
    assert fast(text) == f"x.yaml:3:12: instances[0].count: {message}"
    assert slow(monkeypatch, text) == f"x.yaml:3:12: instances[0].count: {message}"


def test_expansion_up_to_the_limits_loads():
    w = loads_workload("instances:\n" + instance(10_000), "x.yaml")
    assert len(w.segments) == 10_000 == len(w.groups)
    assert list(w.segments)[-1] == "i-10000/s0"
    w = loads_workload("instances:\n" + instance(1_000, mappings=100), "x.yaml")
    assert sum(len(g.mappings) for g in w.groups) == expand.MAX_MAPPINGS


def test_the_limit_counts_what_the_file_writes_out_and_every_document():
    # 9,999 copies plus two top-level segments: one too many
    top = "segments: {a: {size: 1GiB}, b: {size: 1GiB}}\nprocesses: [{count: 1}]\n"
    assert fast(top + "instances:\n" + instance(9_999)).endswith(
        "bring the file to 10,001 segments; instances may expand a file to at most 10,000 segments")
    # 6,000 copies in each of two documents
    doc = "instances:\n" + instance(6_000)
    message = fast(doc + "---\n" + doc)
    assert message.startswith("x.yaml:10:12: instances[0].count: 6,000 copies of instance 'i' (1 segment each) "
                              "bring the file to 12,000 segments")


# --- fast path == libyaml ------------------------------------------------------------


def test_fast_path_reads_instances_as_libyaml_does(monkeypatch):
    assert fastyaml.parse_documents(CONSOLIDATED.read_text()) is not None
    for text in (PG_AND_ASM, CONSOLIDATED.read_text()):
        assert fast(text) == slow(monkeypatch, text)
    # the same mapping text means another segment in another instance: the
    # reader's memo of mapping texts must not carry over between instances
    text = """\
instances:
  - name: a
    segments:
      s: {size: 1GiB}
    processes:
      - count: 1
        mappings:
          - {segment: s, touch: 0.5}
  - name: b
    segments:
      s: {size: 4GiB}
    processes:
      - count: 1
        mappings:
          - {segment: s, touch: 0.5}
"""
    assert fastyaml.parse_documents(text) is not None
    got = fast(text)
    assert got == slow(monkeypatch, text)
    (w,) = got
    assert [g.mappings[0].touched for g in w.groups] == [((0, GiB // 2),), ((0, 2 * GiB),)]


# --- numbers by hand ------------------------------------------------------------------

# N identical PostgreSQL clusters, each a 4 GiB shmem segment (4 KiB pages)
# mapped whole and touched whole by P processes, auto-placed at 1 TiB (1 GiB
# aligned, alone in its 512 GiB window).  One process of one cluster needs
#   PTE: 4 GiB / 2 MiB = 2048, PMD: 4 GiB / 1 GiB = 4, PUD: 1, PGD: 1
# = 2054 tables; VmPTE counts PTE+PMD+PUD = 2053 tables = 8,212 KiB.
# The clusters share nothing: different segments, different processes.
N, P = 7, 40
PER_PROCESS = 2048 + 4 + 1 + 1


def clusters(backing="shmem", page="4KiB"):
    return f"""\
host: {{memory: 1TiB, process_overhead: 0}}
instances:
  - name: pg
    count: {N}
    segments:
      shared_memory: {{size: 4GiB, backing: {backing}, page_size: {page}}}
    processes:
      - name: backends
        count: {P}
        mappings:
          - segment: shared_memory
        private_mappings: []  # (the shared memory's tables alone)
"""


def configured(doc, scheme):
    (cell,) = [c for c in doc["cells"] if c["configured"] and c["scheme"] == scheme]
    return cell["page_tables"]


def test_n_identical_clusters_by_hand(tmp_path):
    path = write(tmp_path, "pg.yaml", clusters())
    r = run("estimate", path, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # private (and hugetlb-pmd, which shares nothing on shmem): N x P x one process's tables
    for scheme in ("private", "hugetlb-pmd"):
        pt = configured(doc, scheme)
        assert pt["tables"] == {"pgd": N * P, "p4d": 0, "pud": N * P, "pmd": 4 * N * P,
                                "pte": 2048 * N * P}
        assert pt["physical_bytes"] == N * P * PER_PROCESS * T
        assert pt["shared_bytes"] == 0
        assert len(pt["groups"]) == N
        assert {(g["count"], g["per_process_bytes"], g["vmpte_bytes"]) for g in pt["groups"]} == {
            (P, PER_PROCESS * T, 2053 * T)}
    # mshare v3: one host tree per cluster's segment (PGD + PUD + 4 PMD + 2048
    # PTE), each process keeps only its PGD
    pt = configured(doc, "mshare")
    assert pt["tables"] == {"pgd": N * P + N, "p4d": 0, "pud": N, "pmd": 4 * N, "pte": 2048 * N}
    assert pt["physical_bytes"] == (N * P + N * PER_PROCESS) * T


def test_n_identical_hugetlb_clusters_share_within_a_cluster_only(tmp_path):
    # 2 MiB hugetlb, aligned: each cluster's 4 PMD tables are shared by its P
    # processes, never with another cluster's (another file); each process owns
    # its PUD and PGD, and its VmPTE shows its PUD + the 4 PMD it attached
    path = write(tmp_path, "pg.yaml", clusters("hugetlb", "2MiB"))
    doc = json.loads(run("estimate", path, "--format", "json").stdout)
    pt = configured(doc, "hugetlb-pmd")
    assert pt["tables"] == {"pgd": N * P, "p4d": 0, "pud": N * P, "pmd": 4 * N, "pte": 0}
    assert pt["physical_bytes"] == (2 * N * P + 4 * N) * T
    assert pt["shared_bytes"] == 4 * N * T
    assert {(g["per_process_bytes"], g["vmpte_bytes"]) for g in pt["groups"]} == {(2 * T, 5 * T)}
    # private: each process its own 4 PMD tables too
    assert configured(doc, "private")["tables"] == {"pgd": N * P, "p4d": 0, "pud": N * P, "pmd": 4 * N * P,
                                                           "pte": 0}


def test_the_expanded_file_equals_the_written_out_one(tmp_path):
    # the same N clusters written out by hand, segment by segment and group by group
    segs = "".join(f"  pg-{k}/shared_memory: {{size: 4GiB}}\n" for k in range(1, N + 1))
    groups = "".join(f"  - name: 'pg-{k}: backends'\n    count: {P}\n    mappings:\n"
                     f"      - segment: pg-{k}/shared_memory\n    private_mappings: []\n" for k in range(1, N + 1))
    written = write(tmp_path, "written.yaml", "host: {memory: 1TiB, process_overhead: 0}\n"
                                              f"segments:\n{segs}processes:\n{groups}")
    expanded = write(tmp_path, "expanded.yaml", clusters())
    a = json.loads(run("estimate", written, "--format", "json").stdout)
    b = json.loads(run("estimate", expanded, "--format", "json").stdout)
    for doc in (a, b):
        doc.pop("source"), doc.pop("workload")
    assert a == b


# --- the shipped config ----------------------------------------------------------------


def test_consolidated_config_expands_as_its_comments_say():
    w = load_workload(CONSOLIDATED)
    assert list(w.segments)[:2] == ["oracle/sga", "asm/sga"]
    assert [f"pg-{k}/shared_memory" for k in range(1, 41)] == list(w.segments)[2:]
    assert w.segments["oracle/sga"].size == 96 * GiB and w.segments["oracle/sga"].backing == "hugetlb"
    assert w.host.hugepages == {2 * MiB: 49160} and 96 * GiB // (2 * MiB) == 49152
    # processes: Oracle 70 + 400, ASM 30 + 8, 40 clusters x (50 + 3 + 6)
    assert w.process_count == 470 + 38 + 40 * 59
    assert len(w.groups) == 2 + 2 + 40 * 3


def test_consolidated_config_through_every_command():
    path = str(CONSOLIDATED)
    r = run("estimate", path)
    assert r.exit_code == 0, r.output
    assert "Oracle + ASM + 40 PostgreSQL clusters on one host" in r.stdout
    assert run("explain", path).exit_code == 0
    r = run("sweep", path, "--size", "1GiB:8GiB:1GiB", "--segment", "pg-7/shared_memory", "--format", "json")
    assert r.exit_code == 0, r.output
    r = run("sweep", path, "--processes", "1000:4000", "--group", "pg-7: client backends", "--format", "csv")
    assert r.exit_code == 0, r.output
