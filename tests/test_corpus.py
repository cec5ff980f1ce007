"""Broken and hostile workloads: each gets exactly the one-line message in
tests/corpus/expected.txt (``NAME.yaml:LINE:COL: KEYPATH: message``).

The cases too big to commit (a 100 MB file, 100,000 levels of nesting, a
'billion laughs' inside the schema) are generated here.
"""

import io
import time
from pathlib import Path

import pytest

from ptcalc.workload import yamlnodes
from ptcalc.errors import WorkloadError
from ptcalc.workload.loader import load_workload, load_workloads, loads_workload, loads_workloads

CORPUS = Path(__file__).parent / "corpus"


def _expected() -> dict[str, str]:
    out = {}
    for line in (CORPUS / "expected.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            name = line.split(":", 1)[0]
            assert name not in out, f"{name} twice in expected.txt"
            out[name] = line
    return out


EXPECTED = _expected()


def test_every_corpus_file_has_one_expected_message():
    files = {p.name for p in CORPUS.glob("*.yaml")}
    assert files == set(EXPECTED)
    assert len(files) >= 60


def _check(name: str, message: str) -> None:
    if "YAML syntax error" in EXPECTED[name] and not yamlnodes.LIBYAML:
        # PyYAML without libyaml words syntax errors its own way.
        assert message.startswith(f"{name}:") and "YAML syntax error" in message
        return
    assert message == EXPECTED[name]


def _loaders(name: str):
    """``documents-*.yaml`` hold several workloads (YAML documents): they are
    read as estimate and check read them; every other file as one workload."""
    if name.startswith("documents-"):
        return load_workloads, loads_workloads
    return load_workload, loads_workload


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name, monkeypatch):
    monkeypatch.chdir(CORPUS)
    with pytest.raises(WorkloadError) as e:
        _loaders(name)[0](name)
    message = str(e.value)
    assert "\n" not in message
    _check(name, message)
    # every message names file:line:column
    assert e.value.line is not None and e.value.line >= 1
    assert e.value.column is not None and e.value.column >= 1


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_bytes_give_the_same_message(name):
    with pytest.raises(WorkloadError) as e:
        _loaders(name)[1]((CORPUS / name).read_bytes(), name)
    _check(name, str(e.value))


def test_100_mb_file_fails_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "huge.yaml"
    with open(big, "wb") as f:
        f.truncate(100 * 1000 * 1000)  # sparse: nothing is written
    monkeypatch.chdir(tmp_path)

    def no_read(*args, **kwargs):
        raise AssertionError("the file was opened")

    monkeypatch.setattr("builtins.open", no_read)
    start = time.perf_counter()
    with pytest.raises(WorkloadError) as e:
        load_workload("huge.yaml")
    assert time.perf_counter() - start < 1
    assert str(e.value) == (
        "huge.yaml:1:1: the file is 100,000,000 bytes; a workload file may be at most 32 MiB"
    )


def test_100_mb_of_yaml_text_is_refused_fast():
    text = "name: x\n" + "#" * (100 * 1000 * 1000)
    start = time.perf_counter()
    with pytest.raises(WorkloadError) as e:
        loads_workload(text, "big.yaml")
    assert time.perf_counter() - start < 1
    assert (
        str(e.value)
        == "big.yaml:1:1: the file is more than 32 MiB; a workload file may be at most 32 MiB"
    )
    with pytest.raises(WorkloadError) as e:
        loads_workload(text.encode(), "big.yaml")
    assert str(e.value) == (
        "big.yaml:1:1: the file is 100,000,008 bytes; a workload file may be at most 32 MiB"
    )


def test_endless_stream_is_cut_at_the_limit():
    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            b[:] = b"a" * len(b)
            return len(b)

    with pytest.raises(WorkloadError) as e:
        yamlnodes.read_stream(io.BufferedReader(Endless()), "<stdin>")
    assert (
        str(e.value)
        == "<stdin>:1:1: the file is more than 32 MiB; a workload file may be at most 32 MiB"
    )


def test_a_file_of_exactly_the_limit_is_read(tmp_path):
    text = "segments: {s: {size: 1GiB}}\nprocesses: [{count: 1}]\n"
    text += "#" * (yamlnodes.MAX_FILE_BYTES - len(text))
    (tmp_path / "w.yaml").write_text(text)
    assert load_workload(tmp_path / "w.yaml").groups[0].count == 1


@pytest.mark.skipif(not yamlnodes.LIBYAML, reason="libyaml's nesting limit")
def test_100000_levels_of_nesting():
    text = "name: " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(WorkloadError) as e:
        loads_workload(text, "deep.yaml")
    # libyaml stops at depth 1000: the top mapping is level 1, so the 1000th
    # bracket (column 6 + 1000) is one too many
    assert str(e.value) == (
        "deep.yaml:1:1006: YAML syntax error: collections are nested more than 1000 levels deep"
    )


def test_deep_block_nesting():
    text = "".join(" " * i + "a:\n" for i in range(3000))
    with pytest.raises(WorkloadError) as e:
        loads_workload(text, "deep.yaml")
    # line N holds the N-th nested mapping at column N: the 1,001st is refused
    # before any parser sees the text, whichever PyYAML is installed
    assert str(e.value) == (
        "deep.yaml:1001:1001: YAML syntax error: "
        "collections are nested more than 1000 levels deep"
    )


def _laughs(groups: int, mappings: int) -> str:
    maps = ", ".join(["{segment: s, size: 4KiB}"] * mappings)
    return (
        "segments: {s: {size: 1GiB}}\n"
        f"processes:\n  - &g {{count: 1, mappings: [{maps}]}}\n" + "  - *g\n" * (groups - 1)
    )


def test_billion_laughs_inside_the_schema_is_refused_before_walking():
    # processes: 1,000,000 aliases of one group of 505 nodes (100 mappings
    # of 5 nodes, the list, count, keys): 505 million nodes once expanded,
    # from 7 MB of text.
    text = _laughs(groups=1_000_000, mappings=100)
    start = time.perf_counter()
    with pytest.raises(WorkloadError) as e:
        loads_workload(text, "laughs.yaml")
    assert time.perf_counter() - start < 15
    # the processes list (line 3, column 3) is the first collection past the limit
    assert str(e.value) == (
        "laughs.yaml:3:3: this expands to more than 2,000,000 YAML nodes with its aliases "
        "expanded; that is past the limit"
    )


def test_aliases_within_the_limit_are_fine():
    w = loads_workload(_laughs(groups=100, mappings=100), "ok.yaml")
    assert len(w.groups) == 100 and all(len(g.mappings) == 100 for g in w.groups)


def test_nested_aliases_classic_billion_laughs():
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, 30):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "\n".join(lines) + "\n"
    start = time.perf_counter()
    with pytest.raises(WorkloadError) as e:
        loads_workload(text, "lol.yaml")
    assert time.perf_counter() - start < 2
    # a_i has 1 + 10 * size(a_(i-1)) nodes, a0 has 2: a5 has 211,111 and
    # a6 (line 7, anchor at column 5) 2,111,111, the first past 2,000,000
    assert str(e.value) == (
        "lol.yaml:7:5: this expands to more than 2,000,000 YAML nodes with its aliases "
        "expanded; that is past the limit"
    )
