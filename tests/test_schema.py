"""``ptcalc schema``: the JSON Schema made from ptcalc/workload/keys.py.

Checked with check-jsonschema (its click command, run in-process): the
schema is a valid draft 2020-12 schema, accepts every document of every
shipped config and every complete workload example of README.md and
docs/*.md, and rejects unknown keys, wrong types and missing required keys
-- files the loader rejects too.  The shipped copy
(ptcalc/workload/workload.schema.json) is what the description generates.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from check_jsonschema import main as check_jsonschema
from click.testing import CliRunner

from ptcalc.cli import main
from ptcalc.errors import WorkloadError
from ptcalc.workload.loader import loads_workloads
from ptcalc.workload.schema import DRAFT, schema_text, shipped_text, workload_schema

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory) -> Path:
    """``ptcalc schema``'s output, as a file."""
    r = CliRunner().invoke(main, ["schema"])
    assert r.exit_code == 0, r.output
    path = tmp_path_factory.mktemp("schema") / "workload.schema.json"
    path.write_text(r.stdout)
    return path


def validate(schema: Path, files: list[Path]) -> dict[str, list[str]]:
    """check-jsonschema on ``files``: per file, the paths of its errors ([] when valid)."""
    r = CliRunner().invoke(check_jsonschema, ["--schemafile", str(schema), "-o", "json", *map(str, files)])
    report = json.loads(r.stdout)
    assert not report.get("parse_errors"), report["parse_errors"]
    out: dict[str, list[str]] = {str(f): [] for f in files}
    for e in report.get("errors", []):
        out[e["filename"]].append(f"{e['path']}: {e['message']}")
    assert (r.exit_code == 0) == (not report.get("errors")), r.output
    return out


def documents(text: str) -> list[str]:
    """The YAML documents of a file (check-jsonschema reads one per file)."""
    parts = re.split(r"(?m)^---[ \t]*(?:#.*)?\n", text)
    return [p for p in parts if p.strip()]


def doc_examples() -> list[tuple[str, str]]:
    """(name, text) of every ```yaml block of README.md and docs/*.md that is
    a whole workload ptcalc reads (tests/golden/cases.py's rule, less the
    sketches with ``[...]`` in them, which ptcalc refuses)."""
    out = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for i, text in enumerate(re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)):
            if re.search(r"^(processes|instances):", text, re.M):
                try:
                    loads_workloads(text)
                except WorkloadError:
                    assert "[...]" in text, f"{doc.name} block {i} is not a workload ptcalc reads"
                    continue
                out.append((f"{doc.name}-{i}", text))
    return out


def test_the_shipped_schema_is_the_generated_one():
    assert shipped_text() == schema_text(), "regenerate: ptcalc schema > ptcalc/workload/workload.schema.json"
    assert json.loads(schema_text()) == workload_schema()


def test_ptcalc_schema_prints_a_valid_draft_2020_12_schema(schema_file):
    s = json.loads(schema_file.read_text())
    assert s["$schema"] == DRAFT
    r = CliRunner().invoke(check_jsonschema, ["--check-metaschema", str(schema_file)])
    assert r.exit_code == 0, r.output
    assert schema_file.read_text() == schema_text()


def test_every_shipped_config_and_docs_example_is_valid(schema_file, tmp_path):
    files = []
    for path in CONFIGS:
        for k, text in enumerate(documents(path.read_text())):
            files.append(tmp_path / f"{path.stem}.{k}.yaml")
            files[-1].write_text(text)
    examples = doc_examples()
    for name, text in examples:
        for k, part in enumerate(documents(text)):
            files.append(tmp_path / f"{name}.{k}.yaml")
            files[-1].write_text(part)
    assert len(CONFIGS) >= 4 and len(examples) >= 4 and len(files) >= 8
    errors = validate(schema_file, files)
    assert {f: e for f, e in errors.items() if e} == {}


def test_a_multi_document_example_is_checked_document_by_document():
    text = "name: a\nsegments: {s: {size: 1GiB}}\nprocesses: [{count: 1, mappings: [{segment: s}]}]\n"
    assert documents(text + "---\n" + text) == [text, text]
    assert documents("---\n" + text + "--- # two\n" + text) == [text, text]


SEED = (ROOT / "configs" / "oracle-sga-300g.yaml").read_text()

# (name, edit of the seed config, the schema error's path and a word of its message)
BROKEN = [
    ("unknown top-level key", lambda t: t + "colour: red\n", "$", "'colour' was unexpected"),
    ("unknown host key", lambda t: t.replace("host:\n", "host:\n  swap: 4GiB\n"), "$.host", "'swap' was unexpected"),
    ("unknown mapping key", lambda t: re.sub(r"(\n\s+- segment: sga\n)", r"\1        prot: rw\n", t, count=1),
     "$.processes[0].mappings[0]", "'prot' was unexpected"),
    ("count is text", lambda t: re.sub(r"count: \d+", "count: many", t, count=1), "$.processes[0].count", "many"),
    ("pti is a number", lambda t: t.replace("pti: false", "pti: 3"), "$.host.pti", "3"),
    ("a size that is not one", lambda t: t.replace("size: 300GiB", "size: 300 gigs"), "$.segments.sga.size",
     "300 gigs"),
    ("unknown backing", lambda t: t.replace("backing: shmem", "backing: tmpfs"), "$.segments.sga.backing", "tmpfs"),
    ("segments is a list", lambda t: t.replace("segments:\n  sga:\n", "segments:\n- sga:\n"), "$.segments",
     "is not of type 'object'"),
    ("no count", lambda t: re.sub(r"\n\s+count: \d+", "", t, count=1), "$.processes[0]", "'count' is a required"),
    ("no segment size", lambda t: re.sub(r"(?m)^    size: 300GiB\n", "", t), "$.segments.sga",
     "'size' is a required"),
    ("no processes", lambda t: t[:t.index("processes:")], "$", "'processes' is a dependency of 'segments'"),
    ("no segment of a mapping", lambda t: t.replace("- segment: sga\n        offset: 0\n", "- offset: 0\n"),
     "$.processes[0].mappings[0]", "'segment' is a required"),
]


def test_the_seed_config_has_what_the_edits_change():
    for needle in ("host:\n", "pti: false", "segments:\n  sga:\n", "size: 300GiB", "- segment: sga\n        offset: 0\n", "backing: shmem", "processes:\n", "    size: 300GiB\n"):
        assert needle in SEED, needle
    assert re.search(r"count: \d+", SEED)


@pytest.mark.parametrize("name,edit,path,word", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_are_rejected_by_the_schema_and_the_loader(schema_file, tmp_path, name, edit, path, word):
    text = edit(SEED)
    assert text != SEED
    with pytest.raises(WorkloadError):
        loads_workloads(text)
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    errors = validate(schema_file, [f])[str(f)]
    assert errors, f"{name}: the schema accepts it"
    assert any(e.startswith(f"{path}: ") and word in e for e in errors), errors


def test_instances_alone_or_with_top_level_segments_and_processes(schema_file, tmp_path):
    instance = "instances: [{name: pg, segments: {shm: {size: 1GiB}}, processes: [{count: 2, mappings: " \
               "[{segment: shm}]}]}]\n"
    top = "segments: {s: {size: 1GiB}}\nprocesses: [{count: 1, mappings: [{segment: s}]}]\n"
    cases = {"alone": instance, "both": top + instance, "top only": top,
             "segments without processes": "segments: {s: {size: 1GiB}}\n" + instance,
             "nothing": "name: x\n", "an instance without a name": instance.replace("name: pg, ", "")}
    files = {}
    for name, text in cases.items():
        files[name] = tmp_path / f"{name.replace(' ', '-')}.yaml"
        files[name].write_text(text)
    errors = validate(schema_file, list(files.values()))
    valid = {name for name, f in files.items() if not errors[str(f)]}
    loads = set()
    for name, text in cases.items():
        try:
            loads_workloads(text)
            loads.add(name)
        except WorkloadError:
            pass
    assert valid == loads == {"alone", "both", "top only"}


def test_values_as_the_loader_reads_them(schema_file, tmp_path):
    # what the format allows that a naive schema would not: quoted counts,
    # YAML 1.1 booleans as text (a YAML 1.2 editor reads yes as a string),
    # sizes with spaces and in hex, touch as a percentage, a size or ranges
    text = """name: 42
host: {memory: '512 GiB', pti: yes, headroom: 15%, hugepages: {2MiB: '10'}}
segments:
  s: {size: 0x40000000, page_size: 4KiB}
processes:
  - count: '3'
    mappings:
      - {segment: s, size: 512MiB, touch: 30%}
      - {segment: s, offset: 512MiB, address: 0x20000000000, touch: 1MiB}
  - count: 1
    mappings:
      - segment: s
        touch: [0-2M, [4MiB, 6MiB], 0x1000000-0x1400000]
        soft_dirty: off
"""
    loads_workloads(text)
    f = tmp_path / "values.yaml"
    f.write_text(text)
    assert validate(schema_file, [f]) == {str(f): []}
