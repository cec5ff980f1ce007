"""Fuzzing the loader: whatever the text, ``loads_workload`` returns a valid
Workload or raises one located WorkloadError -- never anything else.

Three generators: arbitrary text and bytes, character-level mutations of a
valid workload, and structural mutations (a value replaced by a random YAML
value, a key dropped or added) of a valid workload.  Bounded by
``max_examples`` so the module runs in about 10-20 s; set
PTCALC_FUZZ_EXAMPLES for a longer run.
"""

import os
import re
from unittest import mock

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptcalc.errors import WorkloadError
from ptcalc.names import unprintable
from ptcalc.workload import fastyaml
from ptcalc.workload.loader import MAX_COUNT, loads_workload
from ptcalc.workload.types import Workload

SOURCE = "fuzz.yaml"
LOCATED = re.compile(r"fuzz\.yaml:[1-9][0-9]*:[1-9][0-9]*: \S.*")

VALID = {
    "name": "fuzz",
    "host": {
        "memory": "64GiB",
        "arch": "x86_64",
        "pti": False,
        "reserved": "1GiB",
        "hugepages": {"2MiB": 1024},
        "process_overhead": "96KiB",
        "headroom": "10%",
    },
    "segments": {
        "sga": {"size": "4GiB", "backing": "hugetlb", "page_size": "2MiB"},
        "buf": {"size": "64MiB", "backing": "shmem", "page_size": "4KiB"},
    },
    "processes": [
        {
            "name": "servers",
            "count": 100,
            "private_memory": "10MiB",
            "mappings": [
                {
                    "segment": "sga",
                    "offset": "1GiB",
                    "size": "2GiB",
                    "address": "auto",
                    "protection": "rw",
                    "touch": 0.5,
                    "userfaultfd": "none",
                    "soft_dirty": False,
                },
                {"segment": "buf", "address": "0x7f0000000000", "touch": "1MiB"},
            ],
        },
        {"count": 3, "mappings": [{"segment": "buf", "protection": "none"}]},
    ],
    "options": {"file_cached_threshold": "2MiB", "mshare_variant": "v3"},
}
VALID_TEXT = yaml.safe_dump(VALID, sort_keys=False)

FUZZ = settings(
    max_examples=int(os.environ.get("PTCALC_FUZZ_EXAMPLES", "500")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check_workload(w: Workload) -> None:
    """What a loaded workload guarantees (docs/workload-format.md)."""
    arch = w.host.arch
    assert w.groups and w.segments
    # names are shown on terminals: nothing that is not printable (ptcalc.names)
    for name in [w.name or "", *w.segments, *(g.name for g in w.groups)]:
        assert unprintable(name) is None, repr(name)
    if w.host.memory is not None:
        assert 0 <= w.host.reserved < w.host.memory
    for s in w.segments.values():
        assert s.page_size in arch.page_sizes()
        assert 0 < s.size and s.size % s.page_size == 0
    for g in w.groups:
        assert 1 <= g.count <= MAX_COUNT
        spans = []
        for m in g.mappings:
            s = w.segments[m.segment]
            page = s.page_size
            assert m.offset % page == 0 and m.size % page == 0 and m.address % page == 0
            assert 0 < m.size and m.offset + m.size <= s.size
            assert m.end <= arch.user_limit
            for start, end in m.touched:
                assert 0 <= start < end <= m.size and start % page == 0 and end % page == 0
            if m.protection == "none":
                assert m.touched == ()
            spans.append((m.address, m.end))
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end <= start, "mappings of one process overlap"


def _libyaml_only(text: str | bytes) -> Workload | str:
    """What the loader makes of ``text`` without the fast reader: the
    workload, or the message."""
    with mock.patch.object(fastyaml, "parse_documents", lambda text, max_nodes=None: None):
        try:
            return loads_workload(text, SOURCE)
        except WorkloadError as e:
            return str(e)


def check(text: str | bytes) -> None:
    try:
        w = loads_workload(text, SOURCE)
    except WorkloadError as e:
        message = str(e)
        assert message.isprintable(), repr(message)  # one line, nothing raw
        assert LOCATED.fullmatch(message), message
        assert _libyaml_only(text) == message  # both readers say the same
        return
    assert isinstance(w, Workload)
    check_workload(w)
    assert _libyaml_only(text) == w  # the fast reader and libyaml agree


def test_the_valid_workload_loads():
    check_workload(loads_workload(VALID_TEXT, SOURCE))


YAMLISH = st.sampled_from(
    list(" \n\t-:{}[],#&*!|>'\"%@`?~.0123456789abcdefxyzKMGiBsegmntprocw_")
    + ["\x00", "\x85", "\ufeff", "é", "\ud800", "segments:", "processes:", "- count: 1\n", "<<: "]
    # issue 16.6: what a second, independent corpus would try
    + ["\r", "\r\n", "\x7f", "\x0c", "\u2028", "\u2029", "# x\r", "%TAG !e! tag:e,2000:\n---\n",
       "%YAML 1.2\n---\n", "!e!int ", '"<<": ', "~: ", "&k count", "*k : ", "? [a]\n: b\n", "\uff11",
       "\u0663", "0x1GiB", "1e3MiB", "18446744073709551616", "[[[[[", "\u202e", "\x1b[2J", "\x9b"]
)


@FUZZ
@given(st.lists(YAMLISH, max_size=80).map("".join))
def test_arbitrary_yamlish_text(text):
    check(text)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data):
    check(data)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(VALID_TEXT)),
            st.integers(min_value=0, max_value=4),
            st.lists(YAMLISH, max_size=4).map("".join),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_valid_text(edits):
    text = VALID_TEXT
    for at, delete, insert in edits:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + delete :]
    check(text)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "auto",
            "0x7f0000000000",
            "1:30",
            "0o17",
            "017",
            ".nan",
            "-.inf",
            "yes",
            "1.5 bytes",
            "10GiBs",
            "4KiB",
            "2MiB",
            "1GiB",
            "300GiB",
            "128TiB",
            "64PiB",
            "1%",
            "150%",
            "0.07",
            "-1",
            "0",
            "1e3",
            "1_000",
            "sga",
            "buf",
            "hugetlb",
            "shmem",
            "file",
            "none",
            "r",
            "wp",
            "minor",
            "x86_64-la57",
            "ptshare",
            # issue 16.6
            "\uff11GiB",
            "\u0661\u0660",
            "0x10GiB",
            "1e3MiB",
            "18446744073709551616",
            "1" + "0" * 400,
            ["4K-4K"],
            ["8K-4K"],
            ["0-1G", "512M-2G"],
            "0x7ffffffff000",
            "0x7fffffffe000",
            "0x800000000000",
            "0xffff800000000000",
            "0x100000000000000",
            "0x7f0000001000",
            "64KiB",
            "16KiB",
            "512MiB",
            "16GiB",
            "arm64-64k",
            "\x1b[2J",
            "a\u202eb",
            "x\ry",
            "[bold]x",
            "=1+2",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node, prefix=()):
    """Every key path into the structure (to a value, dict or list)."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(VALID) if p]


def _copy(node):
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


MUTATION = st.tuples(
    st.sampled_from(PATHS),
    st.sampled_from(["replace", "delete", "add"]),
    VALUES,
    st.text(max_size=10),
)


def _mutate(doc, mutations):
    """Apply (path, replace|delete|add, value, key) mutations to ``doc`` in place."""
    for path, how, value, key in mutations:
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            last = path[-1]
            if how == "replace":
                parent[last] = value
            elif how == "delete":
                del parent[last]
            elif isinstance(parent, dict):
                parent[key] = value
            elif isinstance(parent, list):
                parent.append(value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path


@FUZZ
@given(st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_valid_structure(mutations):
    doc = _copy(VALID)
    _mutate(doc, mutations)
    check(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


# --- instances and several documents ------------------------------------------------

VALID_INSTANCES = {
    "host": {"memory": "512GiB", "hugepages": {"2MiB": 4096}},
    "instances": [
        {"name": "oracle", "segments": {"sga": {"size": "8GiB", "backing": "hugetlb", "page_size": "2MiB"}},
         "processes": [{"name": "servers", "count": 300, "mappings": [{"segment": "sga"}]}]},
        {"name": "pg", "count": 3, "segments": {"shm": {"size": "1GiB"}},
         "processes": [{"count": 50, "mappings": [{"segment": "shm", "touch": 0.5}]},
                       {"count": 6, "mappings": [{"segment": "shm"}]}]},
    ],
}
INSTANCE_PATHS = [p for p in _paths(VALID_INSTANCES) if p]


def check_all(text: str) -> None:
    from ptcalc.workload.loader import loads_workloads

    try:
        ws = loads_workloads(text, SOURCE)
    except WorkloadError as e:
        message = str(e)
        assert message.isprintable(), repr(message)
        assert LOCATED.fullmatch(message), message
        return
    for w in ws:
        check_workload(w)


def test_the_valid_instances_load():
    (w,) = [loads_workload(yaml.safe_dump(VALID_INSTANCES, sort_keys=False), SOURCE)]
    check_workload(w)
    assert len(w.segments) == 4 and len(w.groups) == 7


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(INSTANCE_PATHS), st.sampled_from(["replace", "delete", "add"]), VALUES,
                          st.text(max_size=10)), min_size=1, max_size=3),
       st.integers(min_value=1, max_value=3))
def test_mutated_instances_in_several_documents(mutations, documents):
    doc = _copy(VALID_INSTANCES)
    _mutate(doc, mutations)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    valid = yaml.safe_dump(VALID_INSTANCES, sort_keys=False)
    check_all("---\n".join([valid] * (documents - 1) + [text]))
