"""The fast YAML subset reader (ptcalc.workload.fastyaml) against libyaml.

Whenever fastyaml accepts a document, its node graph must be exactly what
libyaml composes (tags, values, structure, node count) and the loader must
build the same Workload as through libyaml; anything it is unsure of it must
decline.  Checked on every corpus file, the examples, the benchmark
workloads and generated documents built from tricky YAML fragments.
"""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptcalc.workload import fastyaml, loader, yamlnodes
from ptcalc.errors import WorkloadError
from ptcalc.workload.loader import loads_workload
from ptcalc.workload.reader import WorkloadReader

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"


def graph(node):
    """A node graph as plain data: scalars (tag, text), collections (kind, items)."""
    if node is None:
        return None
    if node.id == "scalar":
        return ("scalar", node.tag, node.value)
    if node.id == "mapping":
        return ("mapping", node.tag, [(graph(k), graph(v)) for k, v in node.value])
    return ("sequence", node.tag, [graph(i) for i in node.value])


def libyaml_graph(text):
    try:
        root = yamlnodes.compose(text, "t.yaml")
    except WorkloadError:
        return "error"
    return graph(root)


def slow_load(text, monkeypatch):
    """loads_workload through libyaml only."""
    with monkeypatch.context() as m:
        m.setattr(fastyaml, "parse_documents", lambda text, max_nodes=None: None)
        try:
            return loads_workload(text, "t.yaml")
        except WorkloadError as e:
            return str(e)


def fast_or_slow_load(text):
    try:
        return loads_workload(text, "t.yaml")
    except WorkloadError as e:
        return str(e)


def check(text, monkeypatch=None):
    """fastyaml either declines ``text`` or reads it as libyaml does; returns
    whether it accepted."""
    parser = fastyaml._Parser(text, None)
    try:
        root = parser.document() if text.isascii() else None
    except fastyaml.Decline:
        root = None
    assert (fastyaml.parse(text) is not None) == (root is not None)
    if root is None:
        return False
    expected = libyaml_graph(text)
    assert expected != "error", "fastyaml accepted a document libyaml refuses"
    assert graph(root) == expected
    assert parser.nodes == yamlnodes.check_expansion(yamlnodes.compose(text, "t.yaml"), "t.yaml")
    if monkeypatch is not None:
        assert fast_or_slow_load(text) == slow_load(text, monkeypatch)
    return True


def examples():
    out = [p for p in (ROOT / "configs").glob("*.yaml")]
    out += sorted(CORPUS.glob("*.yaml"))
    return out


@pytest.mark.parametrize("path", examples(), ids=lambda p: p.name)
def test_corpus_and_examples(path, monkeypatch):
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        pytest.skip("not UTF-8: the loader refuses it before parsing")
    check(text, monkeypatch)


def test_the_examples_and_benchmark_workloads_take_the_fast_path(monkeypatch):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import workloads

    texts = [p.read_text() for p in (ROOT / "configs").glob("*.yaml")]
    texts += [workloads.big(groups=4, per_group=13), workloads.huge()]
    doc = (ROOT / "docs" / "workload-format.md").read_text()
    texts.append(doc.split("```yaml\n", 1)[1].split("```", 1)[0])
    for text in texts:
        assert check(text, monkeypatch), text[:200]
    # the big workload's mappings are read as a table, not node by node
    root = fastyaml.parse(workloads.big(groups=2, per_group=5))
    procs = dict((k.value, v) for k, v in root.value)["processes"]
    group = dict((k.value, v) for k, v in procs.value[0].value)
    assert isinstance(group["mappings"], fastyaml.Table)


def test_a_scanned_file_takes_the_fast_path(monkeypatch):
    """What ``ptcalc scan`` writes: quoted segment names as keys, private mappings
    as flow rows (one table per group)."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import scan_load

    text = scan_load.host_file(3, 6)
    assert check(text, monkeypatch)
    root = fastyaml.parse(text)
    procs = dict((k.value, v) for k, v in root.value)["processes"]
    assert isinstance(dict((k.value, v) for k, v in procs.value[0].value)["private_mappings"], fastyaml.Table)


def test_declines():
    for text in [
        "a: &x 1\nb: *x\n",  # anchors, aliases
        "a: !!str 1\n",  # tags
        "a: [[1, 2]]\n",  # nested flow sequences
        "a: [1, {b: 2}]\n",  # flow mappings in them
        "a: [1,, 2]\n",  # empty items
        "a: [1, 2,]\n",  # a trailing comma
        "a: [1,\n  2]\n",  # over several lines, outside a table
        "a:\n- k: [1,\n  2]\n",  # a continuation line not indented past the key
        "a:\n- k: x\n    y\n",  # a plain scalar over several lines
        "a: |\n  text\n",  # block scalars
        "a: b\n  c\n",  # a multi-line plain scalar
        'a: "x\\ty"\n',  # escapes
        "a:\tb\n",  # tabs
        "a: b\r\n",  # CR
        "a: caf\u00e9\n",  # non-ASCII
        "---\na: 1\n",  # document markers
        "- a\n",  # not a mapping
        "? a\n: b\n",  # complex keys
        "a: {b: {c: d}}\n",  # nested flow
        "a: 1:30\n",  # colons in scalars
        "<<: {a: 1}\n",  # merge keys
        "a:\n  -\n    b: 1\n",  # an empty dash then a block
        "a: b\n c: d\n",  # odd indentation
    ]:
        assert fastyaml.parse(text) is None, text


def test_node_limit_left_to_libyaml():
    text = "a:\n" + "".join(f"- {{k: {i}}}\n" for i in range(100))
    # the root, key a, the sequence, 100 x (a mapping, its key, its value)
    assert fastyaml.parse(text, max_nodes=303) is not None
    assert fastyaml.parse(text, max_nodes=302) is None


# --- generated documents -----------------------------------------------------------

KEYS = ["a", "b", "name", "count", "my seg", "2MiB", "-k", "yes", "0x10", "a.b", "k:", "k :", "'q'", '"d"',
        "&x", "<<", "k#", "k_1", '"memfd:x y"', '"a#b"', '"x\\y"', '""', '"yes"']
VALUES = ["", "1", "x", "a b", "a  b", "a, b", "0.5", "10%", "-1", "-", "- x", ".5", "+1", "(x)", "a/b", "yes",
          "~", "null", "1:30", "0x7f00", "'q'", "'it''s'", '"d"', '"a\\"b"', '"a#b"', "'a # b'", "a #c", "a#c",
          "# c", "{}", "{ }", "{a: 1}", "{a: 1, b: x y}", "{a: 1,}", "{a: {b: c}}", "{a: 1} # c", "[1]", "&x 1",
          "*x", "!!str 1", "|", ">", "%x", "@x", "`x`", "?x", ":x", "a: b", "x]", "a[b", "a{b", "a\\b", "é",
          "a\tb", "=", "<<", ",x", "x,", "[1, 2]", "[a b,c ]", "[]", "[ ]", "[1,, 2]", "[a, [b]]", "[a,]",
          "[0-2M, 4M-6M] # c", "[-1]", "[- 1]", "[a: b]", "[x, {a: 1}]"]
INDENTS = [0, 0, 1, 2, 2, 4]


@st.composite
def documents(draw):
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        indent = " " * draw(st.sampled_from(INDENTS))
        kind = draw(st.integers(0, 9))
        key, value = draw(st.sampled_from(KEYS)), draw(st.sampled_from(VALUES))
        if kind <= 4:
            lines.append(f"{indent}{key}: {value}".rstrip() if value else f"{indent}{key}:")
        elif kind == 5:
            lines.append(f"{indent}- {key}: {value}")
        elif kind == 6:
            lines.append(f"{indent}- {value}")
        elif kind == 7:
            n = draw(st.integers(0, 3))
            items = ", ".join(f"{draw(st.sampled_from(KEYS))}: {draw(st.sampled_from(VALUES))}" for _ in range(n))
            lines.append(f"{indent}- {{{items}}}")
        elif kind == 8:
            lines.append(f"{indent}# comment {value}")
        else:
            lines.append(indent)
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "\n# end\n"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents())
def test_generated_lines(text):
    check(text)


SAFE_KEYS = ["a", "b", "name", "count", "my seg", "2MiB", "k_1", "a.b", "yes", "x-y"]
SAFE_VALUES = ["1", "x", "a b", "a, b", "0.5", "10%", "-1", ".5", "+1", "(x)", "a/b", "yes", "null", "0x7f00",
               "'q'", '"d"', "'a: b'", '"a, b"', "", "a [b]", "a{b}", "x!", "a*b", "a&b", "caf'e", 'x"y', "a\\b",
               "[0-2M, 4M-6M]", "[]", "[a b, c]", "[1.0,x]"]


@st.composite
def trees(draw, depth=0):
    """A random mapping: scalars, nested mappings and sequences."""
    out = []
    # mostly keys and values of the subset, now and then anything
    key_st = st.one_of(st.sampled_from(SAFE_KEYS), st.sampled_from(KEYS)) if depth else st.sampled_from(SAFE_KEYS)
    value_st = st.sampled_from(SAFE_VALUES) | st.sampled_from(SAFE_VALUES) | st.sampled_from(VALUES)
    for key in draw(st.lists(key_st, min_size=1, max_size=4)):
        kind = draw(st.integers(0, 5 if depth < 3 else 1))
        if kind <= 1:
            out.append((key, draw(value_st)))
        elif kind <= 3:
            out.append((key, ("map", draw(trees(depth + 1)))))
        else:
            items = []
            for _ in range(draw(st.integers(1, 3))):
                k = draw(st.integers(0, 2))
                items.append(draw(st.sampled_from(SAFE_VALUES)) if k == 0 else ("map", draw(trees(depth + 1))))
            out.append((key, ("seq", items)))
    return out


def flat(pairs):
    return all(isinstance(v, str) and v and v[0] not in "'\"{" for _, v in pairs)


@st.composite
def tree_documents(draw):
    """A random tree written out in block style, each choice drawn: indentation
    widths, compact or indented sequences, flow mappings for flat ones,
    spaces after dashes, comments and blank lines."""
    lines = []

    def comment():
        return draw(st.sampled_from(["", "", "", "  # c", " #c", "   # a: b"]))

    def mapping(pairs, indent, first_prefix=None):
        for i, (key, value) in enumerate(pairs):
            lead = first_prefix if (i == 0 and first_prefix is not None) else " " * indent
            if draw(st.integers(0, 9)) == 0:
                lines.append(draw(st.sampled_from(["", "# note", " " * indent + "# indented note"])))
            if isinstance(value, str):
                lines.append(f"{lead}{key}: {value}{comment()}".rstrip() if value else f"{lead}{key}:{comment()}")
            elif value[0] == "map":
                if flat(value[1]) and draw(st.booleans()):
                    items = ", ".join(f"{k}: {v}" for k, v in value[1])
                    lines.append(f"{lead}{key}: {{{items}}}{comment()}")
                else:
                    lines.append(f"{lead}{key}:{comment()}")
                    mapping(value[1], indent + draw(st.sampled_from([1, 2, 2, 4])))
            else:
                lines.append(f"{lead}{key}:{comment()}")
                sequence(value[1], indent + draw(st.sampled_from([0, 0, 2, 3])))

    def sequence(items, indent):
        for item in items:
            dash = " " * indent + "-" + " " * draw(st.sampled_from([1, 1, 1, 3]))
            if isinstance(item, str):
                lines.append(f"{dash}{item}{comment()}".rstrip() if item else dash.rstrip())
            elif flat(item[1]) and draw(st.booleans()):
                lines.append(dash + "{" + ", ".join(f"{k}: {v}" for k, v in item[1]) + "}" + comment())
            else:
                mapping(item[1], len(dash), first_prefix=dash)

    mapping(draw(trees()), 0)
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=tree_documents())
def test_generated_documents(text):
    check(text)


FLOW_ITEMS = ["0-2M", "4M-6M", "1G-1050M", "a b", "x", "-1", "(y)", "1.5", "a: b", "[c]", "", "#", "'q'"]


@st.composite
def block_tables(draw):
    """Sequences of block mappings as ptcalc scan writes them (every value on
    its key's line, flow sequences wrapped over deeper lines), with drawn
    deviations: other key orders, missing keys, comments, blank lines,
    badly indented continuations, nested blocks."""
    indent = draw(st.sampled_from([0, 2, 4, 6]))
    keys = draw(st.lists(st.sampled_from(["segment", "offset", "size", "address", "touch", "name", "k"]),
                         min_size=1, max_size=5, unique=True))
    lines = ["top:" if indent else "top:", ]
    for _ in range(draw(st.integers(1, 8))):
        order = keys if draw(st.integers(0, 4)) else draw(st.permutations(keys))
        if draw(st.integers(0, 9)) == 0:
            order = order[:-1] or order
        for j, key in enumerate(order):
            lead = " " * indent + ("- " if j == 0 else "  ")
            kind = draw(st.integers(0, 9))
            if kind <= 5:
                lines.append(f"{lead}{key}: {draw(st.sampled_from(SAFE_VALUES + ['0x7f00', '1GiB', 'rw']))}".rstrip())
            elif kind <= 7:
                items = draw(st.lists(st.sampled_from(FLOW_ITEMS), max_size=6))
                wrap = draw(st.integers(0, 3))
                text = f"{lead}{key}: ["
                for i, item in enumerate(items):
                    sep = "" if i == 0 else ","
                    if wrap and i % wrap == 0 and i:
                        lines.append(text + sep)
                        text = " " * (indent + draw(st.sampled_from([2, 3, 4, 6]))) + item
                    else:
                        text += (sep + " " if i else "") + item
                lines.append(text + "]")
            elif kind == 8:
                lines.append(f"{lead}{key}: {draw(st.sampled_from(VALUES))}".rstrip())
            else:
                lines.append(f"{lead}{key}:")
                lines.append(" " * (indent + 4) + "x: 1")
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", "# c", " " * indent + "# c", " " * (indent + 2) + "# c"])))
    lines.append("after: 1")
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=block_tables())
def test_generated_block_tables(text):
    check(text)


@st.composite
def workload_texts(draw):
    """Valid-looking workloads in the subset, with values drawn to hit every
    rule: the loader must build the same Workload, or report the same error,
    either way."""
    seg_kinds = ["{size: 4GiB}", "{size: 4GiB, backing: hugetlb}", "{size: 2GiB, backing: file, page_size: 4KiB}",
                 "{size: 3GiB, backing: hugetlb, page_size: 1GiB}", "{size: 0}", "{size: 1GiB, backing: nope}"]
    lines = ["host: {memory: " + draw(st.sampled_from(["64GiB", "1TiB", "0", "8GiB"])) + "}", "segments:"]
    for i in range(draw(st.integers(1, 3))):
        lines.append(f"  s{i}: {draw(st.sampled_from(seg_kinds))}")
    lines.append("processes:")
    fields = {
        "segment": ["s0", "s1", "s9"],
        "offset": ["0", "1GiB", "2MiB", "4KiB", "3GiB", "-1"],
        "size": ["1GiB", "2MiB", "4KiB", "0", "8GiB"],
        "address": ["auto", "0x10000000000", "0x10000200000", "0x10000001000", "0x7fffffffe000", "1TiB", "x"],
        "touch": ["1.0", "0.5", "0", "10%", "1MiB", "2", "yes"],
        "protection": ["rw", "r", "none", "rwx"],
        "userfaultfd": ["none", "wp", "minor"],
        "soft_dirty": ["true", "false", "maybe"],
        "nonsense": ["1"],
    }
    for g in range(draw(st.integers(1, 3))):
        lines += [f"- name: g{g}", f"  count: {draw(st.sampled_from(['1', '3', '0', '1500']))}", "  mappings:"]
        for _ in range(draw(st.integers(0, 6))):
            keys = draw(st.lists(st.sampled_from(list(fields)), min_size=1, max_size=5, unique=True))
            if "segment" not in keys and draw(st.booleans()):
                keys.insert(0, "segment")
            items = ", ".join(f"{k}: {draw(st.sampled_from(fields[k]))}" for k in keys)
            lines.append(f"  - {{{items}}}")
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=workload_texts())
def test_generated_workloads_load_the_same_either_way(text):
    fast = fast_or_slow_load(text)
    mp = pytest.MonkeyPatch()
    try:
        slow = slow_load(text, mp)
    finally:
        mp.undo()
    assert fast == slow
    assert check(text)


def test_table_rows_are_memoised_but_read_as_any_mapping(monkeypatch):
    # 3 groups x 4 mappings of 2 distinct texts: each distinct text is read once
    calls = []
    real = WorkloadReader.mapping_spec

    def spy(self, path, node, e, segments, arch):
        calls.append(path)
        return real(self, path, node, e, segments, arch)

    monkeypatch.setattr(WorkloadReader, "mapping_spec", spy)
    text = "segments:\n  s: {size: 8GiB}\nprocesses:\n" + "".join(
        "- count: 1\n  mappings:\n" + "".join(
            f"  - {{segment: s, offset: {j % 2}GiB, size: 1GiB, address: {hex((1 << 44) + j * (1 << 31))}}}\n"
            for j in range(4))
        for _ in range(3))
    w = loads_workload(text)
    assert len(calls) == 2
    assert [m.offset for m in w.groups[2].mappings] == [0, 1 << 30, 0, 1 << 30]
    assert [m.origin for m in w.groups[1].mappings][3] == "processes[1].mappings[3]"


def test_table_lines_are_known_per_indentation():
    # "    - {x: 1}" was read as a row of a table at indentation 4: after the
    # table at indentation 6 it is a badly indented item, not another row
    text = "a:\n    - {x: 1}\nb:\n  c:\n      - {x: 1}\n    - {x: 1}\n"
    assert fastyaml.parse(text) is None
    assert libyaml_graph(text) == "error"


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(st.sampled_from("ab -:#{}[]\r\t\x7f\x00~"), max_size=6), max_size=8),
       big=st.booleans())
def test_lines_are_cut_from_the_text_as_split_cuts_them(lines, big):
    """fastyaml._Lines (where each line starts, no string per line until
    asked for) against str.split, CRLF, tabs, empty lines and a missing last
    line break included; ``big``: past a megabyte, where numpy finds the line
    breaks a megabyte at a time (a line across the cut included)."""
    text = "\n".join(lines)
    if big:
        text = "x" * (fastyaml._CHUNK - 3) + "\n" + text + "\nyy\r\n" + "z" * 5
    expected = text.split("\n")
    got = fastyaml._Lines(text)
    assert len(got) == len(expected)
    assert [got[i] for i in range(len(got))] == expected
    for pos in (0, len(expected) // 2, len(expected) - 1):
        assert list(got.from_line(pos)) == expected[pos:]
    # a large text is looked at for control characters in the same pass
    # (with and without the CR of its last lines)
    for t in (text, text.replace("\r", "y")):
        assert fastyaml._Lines(t).control == (fastyaml._has_control(t) if big else None)


@pytest.mark.parametrize("groups", [
    [["a", "b"], ["c", "d"]],            # every row new (distinct mappings): numbered in order
    [["a", "b"], ["b", "c"]],            # a row of an earlier group again
    [["a", "a", "b"], ["c"]],            # a row twice within a group
    [["a", "b"], ["a", "b"], ["a"]],     # a whole group again
])
def test_block_table_rows_are_numbered_on_first_sight(groups):
    """Each distinct row of the document is numbered once, in the order it is
    first met, whether every item of a run is new (block_rows_of's shortcut)
    or not; empty and wrapped flow sequences count their nodes as libyaml's
    (check)."""
    touch = {"a": "[]", "b": "[ ]", "c": "[0-2M, 4M-6M]", "d": "1.0"}
    lines = []
    for g, names in enumerate(groups):
        lines.append(f"g{g}:")
        for name in names:
            lines += [f"  - segment: {name}", "    size: 4KiB", f"    touch: {touch[name]}"]
    text = "\n".join(lines) + "\n"
    assert check(text)
    root = fastyaml.parse(text)
    tables = [v for _, v in root.value]
    assert all(isinstance(t, fastyaml.Table) for t in tables)
    order = list(dict.fromkeys(name for names in groups for name in names))
    assert [[order.index(n) for n in names] for names in groups] == [t.rows for t in tables]
    assert [fastyaml.unpack(r)[1][0] for r in tables[0].distinct] == order


@pytest.mark.parametrize("value", [
    "[a ]", "[ a , b ]", "[a b, c]", "[a  b]", "[a,]", "[,a]", "[ ]", "[]", "x[ ]", "a, b", "a b", "a  b",
    "a b  ", "a:b", "a #b", '"a b"', "'a b'", '"a\\"', "[a, b", "[0-2M,\n       4M-6M]", "[0-2M,\n 4M-6M]",
    "[a]b", "-a", "- a", "-", "[-a, a-]",
])
def test_block_table_values_as_libyaml(value):
    """A block table's values are matched by possessive forms (block_shape):
    each is read as libyaml reads it, declined, or read item by item; the
    node count with it (block_rows_of: flow sequences among plain scalars)
    is libyaml's."""
    for other in ("1.0", "[0-2M]", "[ ]"):
        lines = []
        for v in (value, other, value):
            lines += ["  - segment: s", f"    touch: {v}", "    size: 4KiB"]
        check("t:\n" + "\n".join(lines) + "\n")


@pytest.mark.parametrize("second", [
    ["  - segment: a", "    size: 4KiB", "    touch: 1.0"],                  # a longer key order: its own pattern
    ["  - segment: a", "    size: 4KiB", "  - segment: b", "    size: 4KiB", "    touch: 1.0"],
    ["  - segment: a", "    size: 4KiB", "    # a comment", "    touch: 1.0"],
    ["  - segment: a", "    size: 4KiB", "      # deeper", "    touch: 1.0"],
    ["  - segment: a", "    size: 4KiB", "    ", "  - segment: b", "    size: 4KiB"],
    ["  - segment: a", "    size: 4KiB", "", "    touch: 1.0"],
    ["  - segment: a", "    size: 4KiB", "       more", "  - segment: b", "    size: 4KiB"],
    ["  - segment: a", "    size: 4KiB", "    size: 8KiB"],                   # a duplicate key
    ["  - segment: a", "    size: 4KiB", "    touch:  1.0"],
    ["  - segment: a", "    size: 4KiB", "    "],
])
def test_block_tables_after_a_key_order_met_before(second):
    """A block table is matched first with the key orders met last at its
    indentation (block_table's recent keys): an item that goes on with more
    key lines, or lines block_keys refuses, is read as libyaml reads it or
    declined, as when its keys are read afresh."""
    first = ["  - segment: x", "    size: 4KiB", "  - segment: y", "    size: 8KiB"]
    text = "\n".join(["t1:", *first, "t2:", *second, "t3:", *first]) + "\n"
    check(text)
    check(text.rstrip("\n"))
