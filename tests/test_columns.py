"""The column-by-column reader of large mapping tables (ptcalc.workload.columns)
against the node reader through libyaml: the same Workload, or the same
error, on a generated scan-style workload and on variants of it whose rows
the column reader must leave to the node reader (other spellings, problems)."""

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptcalc.errors import WorkloadError
from ptcalc.units import parse_size
from ptcalc.workload import columns, fastyaml
from ptcalc.workload.loader import loads_workload

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import workloads  # noqa: E402

TEXT = workloads.distinct(groups=12, per_group=100)  # 1,200 rows: read column by column


def load(text):
    try:
        return loads_workload(text, "t.yaml")
    except WorkloadError as e:
        return str(e)


def slow(text, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(fastyaml, "parse_documents", lambda text, max_nodes=None: None)
        return load(text)


def nth(text, pattern, n, new):
    """``text`` with the n-th match of ``pattern`` replaced by ``new``."""
    matches = list(re.finditer(pattern, text, re.M))
    m = matches[n % len(matches)]
    return text[:m.start()] + m.expand(new) + text[m.end():]


VARIANTS = {
    "as generated": lambda t: t,
    "a quoted size": lambda t: nth(t, r"size: (\d+MiB)$", 7, r'size: "\1"'),
    "a decimal size": lambda t: nth(t, r"size: (\d+)MiB$", 3, r"size: \1.0MiB"),
    "an offset in hex": lambda t: nth(t, r"offset: 0$", 0, "offset: 0x0"),
    "an address in decimal": lambda t: nth(t, r"address: 0x10000000000$", 0, "address: 1TiB"),
    "an address auto": lambda t: nth(t, r"address: 0x[0-9a-f]+$", 5, "address: auto"),
    "a misaligned address": lambda t: nth(t, r"address: (0x[0-9a-f]+)000$", 11, r"address: \g<1>200"),
    "ranges out of order": lambda t: nth(t, r"touch: \[(\w+-\w+), (\w+-\w+)\]$", 2, r"touch: [\2, \1]"),
    "an empty range": lambda t: nth(t, r"touch: \[(\w+)-\w+,", 4, r"touch: [\1-\1,"),
    "a range past the end": lambda t: nth(t, r"touch: \[(\w+)-\w+,", 6, r"touch: [\1-999G,"),
    "an empty list": lambda t: nth(t, r"touch: \[[^\]\n]*\]$", 8, "touch: []"),
    "a fraction": lambda t: nth(t, r"touch: 1\.0$", 9, "touch: 0.3"),
    "a percentage": lambda t: nth(t, r"touch: 1\.0$", 10, "touch: 100%"),
    "a boolean touch": lambda t: nth(t, r"touch: 1\.0$", 11, "touch: yes"),
    "a touch past 1": lambda t: nth(t, r"touch: 1\.0$", 12, "touch: 1.5"),
    "a touch prefix past the size": lambda t: nth(t, r"touch: 1\.0$", 13, "touch: 64GiB"),
    "a touch size not in whole pages": lambda t: nth(t, r"touch: 1\.0$", 14, "touch: 5KiB"),
    "a touch size of nothing": lambda t: nth(t, r"touch: 1\.0$", 15, "touch: 0KiB"),
    "a touch size in bytes": lambda t: nth(t, r"touch: 1\.0$", 16, "touch: 8192B"),
    "a touch in digits alone": lambda t: nth(t, r"touch: 1\.0$", 17, "touch: 4096"),
    "a touch size past MAX_SIZE": lambda t: nth(t, r"touch: 1\.0$", 18, "touch: 999999999999999999PiB"),
    "a quoted touch size": lambda t: nth(t, r"touch: 1\.0$", 19, 'touch: "12KiB"'),
    "PROT_NONE touched": lambda t: nth(t, r"protection: rw$", 12, "protection: none"),
    "PROT_NONE untouched": lambda t: nth(t, r"protection: rw\n(\s+)touch: 1\.0$", 1, r"protection: none\n\1touch: 0"),
    "an unknown segment": lambda t: nth(t, r'segment: "seg4"$', 13, 'segment: "seg44"'),
    "a boolean segment": lambda t: nth(t, r'segment: "seg4"$', 14, "segment: yes"),
    "userfaultfd and soft-dirty": lambda t: nth(t, r"protection: rw$", 15,
                                                "protection: rw\n        userfaultfd: wp\n        soft_dirty: true"),
    "past the segment": lambda t: nth(t, r"offset: \d+KiB$", 16, "offset: 64GiB"),
    # private rows (WorkloadReader.private_table), read without nodes when plain
    "a private touch fraction": lambda t: nth(t, r'(name: "libraries"\n.*\n.*\n\s+)touch: 4KiB$', 3, r"\1touch: 0.3"),
    "a private touch past the size": lambda t: nth(t, r'(name: "libraries"\n.*\n.*\n\s+)touch: 4KiB$', 4,
                                                  r"\1touch: 64GiB"),
    "a private touch as ranges": lambda t: nth(t, r'(name: "libraries"\n.*\n.*\n\s+)touch: 4KiB$', 5,
                                              r"\1touch: [0-8K]"),
    "a private touch of nothing": lambda t: nth(t, r'(name: "heap"\n.*\n.*\n\s+)touch: 1\.0$', 6, r"\1touch: 0%"),
    "a blank quoted private name": lambda t: nth(t, r'name: "heap"$', 7, 'name: " "'),
    "a quoted private name yes": lambda t: nth(t, r'name: "heap"$', 8, 'name: "yes"'),
    "a plain private name": lambda t: nth(t, r'name: "heap"$', 9, "name: heap"),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_columns_read_what_the_node_reader_reads(name, monkeypatch):
    text = VARIANTS[name](TEXT)
    assert text != TEXT or name == "as generated"
    calls = []
    real = columns.read_rows
    monkeypatch.setattr(columns, "read_rows", lambda *a: calls.append(1) or real(*a))
    fast = load(text)
    expected = slow(text, monkeypatch)
    assert fast == expected
    if not isinstance(expected, str):
        assert calls, "the column reader was not used"
        assert type(fast.groups[0].mappings.specs).__name__ == "SpecTable"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_rows_read_a_part_at_a_time_read_the_same(name, monkeypatch):
    """columns.read_rows reads a key order's rows _PART_ROWS at a time (its
    temporaries bounded): parts of 37 rows, so that every variant's odd row
    falls in some part and parts end in the middle of groups, give the same
    Workload (or error) as the node reader."""
    text = VARIANTS[name](TEXT)
    monkeypatch.setattr(columns, "_PART_ROWS", 37)
    calls = []
    real = columns._read_shape
    monkeypatch.setattr(columns, "_read_shape", lambda *a: calls.append(len(a[3])) or real(*a))
    fast = load(text)
    assert fast == slow(text, monkeypatch)
    if not isinstance(fast, str):
        assert len(calls) > 1 and max(calls) == 37


def test_scan_style_private_rows_are_read_without_nodes(monkeypatch):
    """The generated private rows (quoted names, a touch size) take the row
    reader (WorkloadReader.private_table), not the node-by-node one."""
    from ptcalc.workload.reader import WorkloadReader

    took = []
    real = WorkloadReader.private_table
    monkeypatch.setattr(WorkloadReader, "private_table", lambda *a: took.append(real(*a)) or took[-1])
    w = load(TEXT)
    assert took and all(t is not None for t in took)
    assert w == slow(TEXT, monkeypatch)
    libraries = [m for m in w.groups[0].private_mappings if m.name == "libraries"]
    assert libraries and libraries[0].touched == ((0, 4096),)  # touch: 4KiB, by hand


_UNIT_TEXTS = ["", "B", "K", "KB", "KiB", "M", "MB", "MiB", "G", "GB", "GiB", "T", "TB", "TiB", "P", "PB", "PiB"]


@given(st.lists(st.one_of(
    st.tuples(st.integers(0, 10 ** 18 - 1), st.sampled_from(_UNIT_TEXTS)).map(lambda t: f"{t[0]}{t[1]}"),
    st.tuples(st.sampled_from(["0x", "0X"]), st.integers(0, 16 ** 15 - 1), st.booleans())
    .map(lambda t: t[0] + (f"{t[1]:X}" if t[2] else f"{t[1]:x}")),
), max_size=6), st.booleans())
def test_a_column_of_sizes_reads_as_each_size_alone(values, hexes_only):
    """columns._sizes reads a column at once on its bytes (decimal sizes with
    binary units, or hex): the same numbers as reading each value alone
    (columns._size, the plain form parse_size reads; past MAX_SIZE rejected)."""
    if hexes_only:
        values = [v for v in values if v[:2] in ("0x", "0X")]
    got = columns._sizes(values)
    assert list(got) == [columns._size(v) for v in values]
    for v, n in zip(values, got):  # and by hand: digits times the unit, or base 16
        if n != columns.REJECT:
            assert n == (int(v, 16) if v[:2] in ("0x", "0X") else parse_size(v))


@given(st.lists(st.tuples(st.integers(0, 10 ** 16 - 1), st.sampled_from(["", "K", "M", "G", "T"])),
                min_size=2, max_size=10).filter(lambda t: len(t) % 2 == 0))
def test_range_numbers_read_on_bytes_are_the_numbers(tokens):
    """columns._range_numbers (the numbers of a column's touched-range lists,
    read on the text's bytes) against int() and the unit's power of 1024 by
    hand; None when one is 2**62 or more."""
    import numpy as np

    texts = [f"{n}{u}" for n, u in tokens]
    text = ",".join(f"{a}-{b}" for a, b in zip(texts[::2], texts[1::2]))
    expected = [n * 1024 ** " KMGT".index(u or " ") for n, u in tokens]
    got = columns._range_numbers(np, text)
    if max(expected) >= 1 << 62:
        assert got is None
    else:
        assert got.tolist() == expected


_SIZE_CHARS = "0123456789abcdefxXABCDEFKMGTPiB -."


@given(st.lists(st.one_of(
    st.text(st.sampled_from(_SIZE_CHARS), max_size=8),
    st.tuples(st.integers(0, 10 ** 19), st.sampled_from(_UNIT_TEXTS + ["iB", "Ki", "BB", "k"]))
    .map(lambda t: f"{t[0]}{t[1]}"),
    st.tuples(st.sampled_from(["0x", "0X", "x", "00x"]), st.text(st.sampled_from("0123456789abcdefABCDEFg"),
                                                                max_size=17)).map("".join),
), min_size=1, max_size=6), st.booleans())
def test_a_column_is_known_plain_as_a_regular_expression_knows_it(values, hexa):
    """columns._plain_lines (each line's form checked on the bytes) says what
    the line-anchored patterns _DECIMALS and _HEXES say of every line."""
    joined = "\n".join(values)
    pattern = columns._HEXES if hexa else columns._DECIMALS
    assert columns._plain_lines(joined, len(values), hexa)[0] == (len(pattern.findall(joined)) == len(values))


@pytest.mark.parametrize("touch", [
    "[0-4K, 8K-12K]", "[8K-12K, 0-4K]", "[0-4K, 2K-6K]", "[ 1-2 ,3-4097 ]", "[0-31M]", "[0-30M]", "[0-40M]",
    "[4K-4K]", "[8K-4K]", "[0-4K,]", "[0-4K, null]", "[0-1.5K]", "[0 - 4K]", "[0x0-4K]", "[01-4K]", "[]", "[ ]",
])
def test_private_rows_range_lists_read_as_the_node_reader(touch, monkeypatch):
    """A private row's list of ranges (private_table, without nodes when in
    the form scan writes) gives the node reader's touched ranges, or its
    located error; the libraries mapping is 30 MiB (the ranges by hand:
    rounded out to 4 KiB pages, merged when they meet, refused when empty or
    past the end)."""
    text = nth(TEXT, r'^(        name: "libraries"\n        size: 30MiB\n        address: .*\n)        touch: 4KiB$', 0,
               rf"\1        touch: {touch}")
    assert text != TEXT
    w = load(text)
    assert w == slow(text, monkeypatch)
    by_hand = {"[0-4K, 8K-12K]": ((0, 4096), (8192, 12288)), "[0-4K, 2K-6K]": ((0, 8192),),
               "[ 1-2 ,3-4097 ]": ((0, 8192),), "[0-30M]": ((0, 30 << 20),)}
    if touch in by_hand:
        libraries = [m for m in w.groups[0].private_mappings if m.name == "libraries"]
        assert libraries[0].touched == by_hand[touch]


_RANGE_PARTS = ["0", "1", "12", "05", "1234567890123456", "12345678901234567", "K", "M", "G", "T", "P", "-", ",",
                " ", ", ", "[", "]", "x", "4K-8K", "0-2M"]


@given(st.lists(st.one_of(
    st.lists(st.tuples(st.sampled_from(["0", "1", "05", "4096", "1234567890123456", "12345678901234567"]),
                       st.sampled_from(["", "K", "M", "G", "T", "P"]),
                       st.sampled_from(["0", "3", "12", "1234567890123456", "12345678901234567"]),
                       st.sampled_from(["", "K", "M", "T"])), min_size=1, max_size=3)
    .map(lambda rs: ", ".join(f"{a}{u}-{b}{v}" for a, u, b, v in rs)),
    st.lists(st.sampled_from(_RANGE_PARTS), max_size=8).map("".join),
).flatmap(lambda inner: st.sampled_from(["[", "[ ", ""]).map(lambda o: o + inner)
          .flatmap(lambda t: st.sampled_from(["]", " ]", ""]).map(lambda c: t + c))), min_size=1, max_size=5))
def test_range_lists_checked_at_once_as_each_alone(lists):
    """columns._RANGE_LINES (a part's touched-range lists, one a line,
    checked by one possessive fullmatch) accepts exactly when every list is
    a match of _RANGES alone (the plain form scan writes)."""
    whole = columns._RANGE_LINES.fullmatch("\n".join(lists)) is not None
    assert whole == all(columns._RANGES.fullmatch(t) is not None for t in lists)
