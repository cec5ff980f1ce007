"""Several hosts in one file: YAML documents separated by ``---``, a workload
each.  The loader (both readers, positions, limits), ``estimate`` (a summary
and a report per host; JSON ``hosts``), ``check`` (every host gated, named
FILE#N) and the commands that read one workload (a located exit-2 error).
"""

import json
import textwrap

import pytest

from clihelp import CONFIGS, SEED, one_segment, run, write
from test_fastyaml import graph

from ptcalc.workload import fastyaml, yamlnodes
from ptcalc.errors import WorkloadError
from ptcalc.workload.loader import MAX_DOCUMENTS, load_workload, load_workloads, loads_workload, loads_workloads

KiB = 1 << 10
T = 4 * KiB

# one_segment(N): a 10 GiB host, a 4 GiB shmem segment mapped whole by N
# processes, no per-process overhead.  Each process owns 2048 PTE + 4 PMD +
# 1 PUD + 1 PGD = 2054 tables (tests/test_check.py derives the thresholds):
# 638 processes are OK, 700 TIGHT, 766 OOM.
PER = 2054 * T


def fleet(*counts, names=True):
    """A file of one document per count (one_segment), named host-1, host-2, ..."""
    docs = []
    for i, n in enumerate(counts, 1):
        doc = one_segment(n)
        docs.append(doc.replace("name: test", f"name: host-{i}") if names else doc.replace("name: test\n", ""))
    return "---\n".join(docs)


# --- the loader ---------------------------------------------------------------------


def test_documents_are_workloads_in_file_order():
    ws = loads_workloads(fleet(10, 20, 30), "fleet.yaml")
    assert [w.name for w in ws] == ["host-1", "host-2", "host-3"]
    assert [w.groups[0].count for w in ws] == [10, 20, 30]
    assert [w.source for w in ws] == ["fleet.yaml#1", "fleet.yaml#2", "fleet.yaml#3"]
    # without a name a host is titled by its document
    ws = loads_workloads(fleet(10, 20, names=False), "fleet.yaml")
    assert [w.title for w in ws] == ["fleet.yaml#1", "fleet.yaml#2"]


def test_a_file_of_one_document_is_what_it_always_was():
    (w,) = load_workloads(SEED)
    assert w == load_workload(SEED)
    assert w.source == SEED and w.name == "Oracle SGA, 1500 dedicated servers"
    # a leading --- and a comment before it do not make a second document
    text = "# comment\n---\n" + one_segment(5)
    (w,) = loads_workloads(text, "x.yaml")
    assert w.source == "x.yaml" and w == loads_workload(text, "x.yaml")


def test_single_workload_readers_refuse_several_documents():
    with pytest.raises(WorkloadError) as e:
        loads_workload(fleet(10, 20, 30), "fleet.yaml", command="ptcalc sweep")
    # document 2 starts on the line after the first --- (one_segment is 17 lines)
    assert str(e.value) == (
        "fleet.yaml:19:1: a second workload (YAML document) starts here: this file holds 3 documents, one workload "
        "(host) each, and ptcalc sweep reads one; split the file, one document per file (ptcalc estimate and "
        "ptcalc check read every document)")
    assert len(one_segment(10).splitlines()) == 17


def test_errors_are_located_in_their_document_file_absolute(monkeypatch):
    text = fleet(10, 20, 30).replace("count: 30", "count: thirty")
    # document 3 starts at line 37 (17 lines + ---, twice); count is its line 13
    message = "fleet.yaml:49:12: processes[0].count: expected a whole number, got 'thirty'"
    for reader in ("fast", "libyaml"):
        with monkeypatch.context() as m:
            if reader == "libyaml":
                m.setattr(fastyaml, "parse_documents", lambda text, max_nodes=None: None)
            with pytest.raises(WorkloadError) as e:
                loads_workloads(text, "fleet.yaml")
            assert str(e.value) == message
    assert text.splitlines()[48] == "    count: thirty"


def test_fast_reader_reads_documents_as_libyaml_does(monkeypatch):
    texts = [
        fleet(10, 20, 30),
        "---\n" + fleet(1, 2),
        "# hosts\n---  # first\n" + fleet(1, 2),
        (CONFIGS / "consolidated-oracle-asm-postgres.yaml").read_text() + "---\n"
        + (CONFIGS / "oracle-sga-300g.yaml").read_text(),
    ]
    for text in texts:
        roots = fastyaml.parse_documents(text)
        assert roots is not None, text[:100]
        assert [graph(r) for r in roots] == [graph(r) for r in yamlnodes.compose_all(text, "t.yaml", 10)]
        fast = loads_workloads(text, "t.yaml")
        with monkeypatch.context() as m:
            m.setattr(fastyaml, "parse_documents", lambda text, max_nodes=None: None)
            assert loads_workloads(text, "t.yaml") == fast


def test_fast_reader_leaves_the_unusual_to_libyaml():
    doc = "segments:\n  s: {size: 1GiB}\nprocesses:\n- count: 1\n"
    for text in [
        doc + "---\n---\n" + doc,  # an empty document
        doc + "---\n",  # an empty last document
        doc + "...\n---\n" + doc,  # document end marker
        doc + "--- \n" + doc.replace("segments:", "--- segments:"),  # content on the --- line
        "%YAML 1.1\n---\n" + doc,  # a directive
    ]:
        assert fastyaml.parse_documents(text) is None, text
    # a single document is parse()'s business, as before
    assert fastyaml.parse_documents(doc) is not None
    assert fastyaml.parse_documents("---\n" + doc) is not None


@pytest.mark.parametrize("sep", ["---", "--- ", "---   # host 2", "----", "---x", "--- a: 1", " ---"])
@pytest.mark.parametrize("end", ["", "\n"])
def test_separator_lines_as_libyaml_reads_them(sep, end):
    doc = "segments:\n  s: {size: 1GiB}\nprocesses:\n- count: 1\n"
    text = doc + sep + "\n" + doc.rstrip("\n") + end
    roots = fastyaml.parse_documents(text)
    try:
        expected = [graph(r) for r in yamlnodes.compose_all(text, "t.yaml", 10)]
    except WorkloadError:
        expected = "error"
    if roots is not None:  # accepted: exactly what libyaml reads
        assert [graph(r) for r in roots] == expected
    # the fast reader takes a line of --- alone (a comment may follow)
    assert (roots is not None) == (sep in ("---", "--- ", "---   # host 2"))


def test_node_limit_holds_for_the_whole_file():
    # each document expands to 1,102,105 nodes with its aliases expanded
    # (the mapping, 2 keys, the list of 1,000 scalars, 1,100 copies of it in
    # another list): under 2,000,000 alone, over it together
    doc = "a: &a [" + ", ".join(["1"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 1100) + "]\n"
    assert yamlnodes.check_expansion(yamlnodes.compose(doc, "x"), "x") == 1 + 2 + 1001 + 1 + 1100 * 1001
    with pytest.raises(WorkloadError) as e:
        loads_workload(doc, "x.yaml")
    assert str(e.value) == ("x.yaml:1:1: a: unknown key 'a' (known keys: name, host, segments, processes, instances, "
                            "options)")
    with pytest.raises(WorkloadError) as e:
        loads_workloads(doc + "---\n" + doc, "x.yaml")
    # the second document's list b (line 5, after "b: ") is where the file passes the limit
    assert str(e.value) == ("x.yaml:5:4: with the documents before it, this expands to more than 2,000,000 YAML "
                            "nodes with its aliases expanded; that is past the limit for a file")


def test_document_limit():
    doc = "segments: {s: {size: 1GiB}}\nprocesses: [{count: 1}]\n"
    assert len(loads_workloads("---\n".join([doc] * MAX_DOCUMENTS), "x.yaml")) == 1000
    with pytest.raises(WorkloadError) as e:
        loads_workloads("---\n".join([doc] * (MAX_DOCUMENTS + 5)), "x.yaml")
    # document 1001 starts after 1000 documents of 3 lines (2 + ---)
    assert str(e.value) == ("x.yaml:3001:1: more than 1,000 YAML documents (workloads) in one file; "
                            "split it into several files")


# --- estimate -------------------------------------------------------------------------


def test_estimate_json_of_several_hosts(tmp_path):
    path = write(tmp_path, "fleet.yaml", fleet(638, 700, 766))
    r = run("estimate", path, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) == {"schema_version", "source", "hosts"}
    assert doc["schema_version"] == 2 and doc["source"] == path
    assert [h["workload"] for h in doc["hosts"]] == ["host-1", "host-2", "host-3"]
    assert [h["source"] for h in doc["hosts"]] == [f"{path}#{i}" for i in (1, 2, 3)]
    for h, n, verdict in zip(doc["hosts"], (638, 700, 766), ("ok", "tight", "oom")):
        (cell,) = [c for c in h["cells"] if c["configured"] and c["scheme"] == "private"]
        assert cell["page_tables"]["physical_bytes"] == n * PER
        assert cell["verdict"] == verdict
    # each host's object is what a file of that document alone gives (but its source)
    for i, n in enumerate((638, 700, 766), 1):
        alone = write(tmp_path, f"alone-{i}.yaml", one_segment(n).replace("name: test", f"name: host-{i}"))
        single = json.loads(run("estimate", alone, "--format", "json").stdout)
        assert single["source"] == alone
        single["source"] = f"{path}#{i}"
        assert single == doc["hosts"][i - 1]


def test_estimate_json_of_several_hosts_is_each_hosts_text_indented(tmp_path):
    """The file's text holds each host's text as ``render`` writes a file of
    one (written a cell at a time too), moved to its depth (4 spaces): here
    with a re-placed mapping (4 KiB past 1 TiB: not 2 MiB-aligned)."""
    from ptcalc.model.evaluate import Options, evaluate
    from ptcalc.render.estimate_json import render

    misaligned = one_segment(2, address="0x10000001000", mapping_extra="\n        size: 4MiB")
    path = write(tmp_path, "fleet.yaml", fleet(638, 700) + "---\n" + misaligned)
    r = run("estimate", path, "--format", "json")
    assert r.exit_code == 0, r.output
    hosts = [render(evaluate(w, Options())) for w in load_workloads(path)]
    assert '"reason": "misaligned"' in hosts[2]
    assert r.stdout == ('{\n  "schema_version": 2,\n  "source": %s,\n  "hosts": [\n    ' % json.dumps(path)
                        + ",\n    ".join(h.replace("\n", "\n    ") for h in hosts) + "\n  ]\n}\n")


def test_estimate_json_of_one_document_is_unchanged(tmp_path):
    path = write(tmp_path, "one.yaml", one_segment(10))
    doc = json.loads(run("estimate", path, "--format", "json").stdout)
    assert "hosts" not in doc and doc["source"] == path and doc["workload"] == "test"


def test_estimate_table_and_markdown_of_several_hosts(tmp_path):
    path = write(tmp_path, "fleet.yaml", fleet(638, 700, 766))
    r = run("estimate", path, "--width", "200", "--ascii")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith(f"ptcalc estimate - {path}: 3 hosts (YAML documents)")
    summary = out.split("host 1 of 3")[0]
    rows = [line for line in summary.splitlines() if "host-" in line]
    assert len(rows) == 3
    assert "OK" in rows[0] and "TIGHT" in rows[1] and "OOM" in rows[2]
    for i in (1, 2, 3):
        assert f"host {i} of 3: host-{i}" in out
        assert f"ptcalc estimate - host-{i}" in out
    md = run("estimate", path, "--format", "markdown").stdout
    assert md.startswith(f"## ptcalc estimate: `{path}`, 3 hosts")
    assert [line for line in md.splitlines() if line.startswith("### ")] == [
        "### Host 1 of 3: host-1", "### Host 2 of 3: host-2", "### Host 3 of 3: host-3"]
    assert "| 3 | host-3 | 10 GiB | 766 |" in md and "**OOM**" in md


def test_estimate_reads_several_documents_from_stdin():
    r = run("estimate", "-", "--format", "json", input=fleet(10, 20))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["source"] == "<stdin>" and [h["source"] for h in doc["hosts"]] == ["<stdin>#1", "<stdin>#2"]


def test_estimate_error_in_a_later_document_exits_2(tmp_path):
    path = write(tmp_path, "fleet.yaml", fleet(10, 20).replace("size: 4GiB", "size: 4GiBs"))
    r = run("estimate", path)
    assert r.exit_code == 2
    # the first document's segment size comes first in the file (its line 8)
    assert r.stderr == f"{path}:8:11: segments.s.size: unknown unit 'GiBs' in '4GiBs' (sizes are binary: K, M, " \
                       "G, T, P with optional B or iB, e.g. 300GiB)\n"
    assert r.stdout == ""


# --- check ------------------------------------------------------------------------------


def test_check_gates_on_every_host(tmp_path):
    path = write(tmp_path, "fleet.yaml", fleet(638, 700, 10))
    r = run("check", path, "--scheme", "private")
    assert r.exit_code == 1
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith(f"PASS  {path}#1 [private @ 4 KiB shmem] verdict OK")
    assert lines[1].startswith(f"FAIL  {path}#2 [private @ 4 KiB shmem] verdict: TIGHT")
    assert lines[2].startswith(f"PASS  {path}#3 [private @ 4 KiB shmem] verdict OK")
    assert lines[3] == "ptcalc check: 3 workloads in 1 file: 2 passed, 1 failed, 0 invalid; exit status 1"
    assert run("check", path, "--scheme", "private", "--require", "tight").exit_code == 0


def test_check_json_and_junit_name_each_host(tmp_path):
    path = write(tmp_path, "fleet.yaml", fleet(638, 766))
    junit = tmp_path / "junit.xml"
    r = run("check", path, "--format", "json", "--junit", junit)
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert [(f["file"], f["document"], f["workload"], f["status"]) for f in doc["files"]] == [
        (path, 1, "host-1", "pass"), (path, 2, "host-2", "fail")]
    assert doc["files"][1]["checks"][0]["page_table_bytes"] == 766 * PER
    xml = junit.read_text()
    assert f'classname="{path}#1"' in xml and f'classname="{path}#2"' in xml
    # a file of one document: "document" is null and the name is the path
    one = write(tmp_path, "one.yaml", one_segment(10))
    doc = json.loads(run("check", one, "--format", "json").stdout)
    assert doc["files"][0]["document"] is None and doc["files"][0]["file"] == one


def test_check_worst_status_wins_over_files_and_hosts(tmp_path):
    ok = write(tmp_path, "ok.yaml", one_segment(10))
    fails = write(tmp_path, "fleet.yaml", fleet(10, 766))
    assert run("check", ok, fails).exit_code == 1
    # a host that cannot be judged (no host.memory) is invalid: exit 2, the others still checked
    nomem = write(tmp_path, "nomem.yaml", fleet(10, 766).replace("  memory: 10GiB\n", "", 1))
    r = run("check", nomem)
    assert r.exit_code == 2
    assert r.stderr.strip() == f"{nomem}#1: host.memory is not given: check needs it to judge an OOM"
    lines = r.stdout.strip().splitlines()
    assert lines[0] == (f"ERROR {nomem}#1: invalid input: {nomem}#1: host.memory is not given: check needs it "
                        "to judge an OOM")
    assert lines[1].startswith(f"FAIL  {nomem}#2 [hugetlb-pmd @ 4 KiB shmem] verdict: OOM")
    # an invalid document makes the whole file invalid
    bad = write(tmp_path, "bad.yaml", fleet(10, 20).replace("count: 20", "count: 0"))
    r = run("check", bad, ok)
    assert r.exit_code == 2
    assert r.stdout.splitlines()[0].startswith(f"ERROR {bad}: invalid input: {bad}:31:12: processes[0].count:")


# --- commands that read one workload ---------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("sweep", "--processes", "1:10"),
    ("explain",),
    ("measure",),
])
def test_one_workload_commands_refuse_several_documents(tmp_path, args):
    path = write(tmp_path, "fleet.yaml", fleet(10, 20))
    r = run(args[0], path, *args[1:])
    assert r.exit_code == 2
    assert r.stderr == (
        f"{path}:19:1: a second workload (YAML document) starts here: this file holds 2 documents, one workload "
        f"(host) each, and ptcalc {args[0]} reads one; split the file, one document per file (ptcalc estimate "
        "and ptcalc check read every document)\n")
    assert r.stdout == ""


def test_one_workload_commands_read_a_leading_separator(tmp_path):
    path = write(tmp_path, "one.yaml", "---\n" + one_segment(10))
    assert run("explain", path).exit_code == 0
    assert run("sweep", path, "--processes", "1:10").exit_code == 0


def test_the_documented_multi_host_example_shape():
    doc = (CONFIGS.parent / "docs" / "workload-format.md").read_text()
    blocks = doc.split("```yaml\n")[1:]
    (instances,) = [b.split("```", 1)[0] for b in blocks if b.startswith("host: {memory: 384GiB")]
    w = loads_workload(textwrap.dedent(instances), "doc.yaml")
    assert len(w.segments) == 41 and w.groups[-1].name == "pg-40: client backends"
