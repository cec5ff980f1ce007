"""The column-by-column reader of large mapping tables (ptcalc.workload.columns)
against the node reader through libyaml: the same Workload, or the same
error, on a generated scan-style workload and on variants of it whose rows
the column reader must leave to the node reader (other spellings, problems)."""

import re
import sys
from pathlib import Path

import pytest

from ptcalc.errors import WorkloadError
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
    "PROT_NONE touched": lambda t: nth(t, r"protection: rw$", 12, "protection: none"),
    "PROT_NONE untouched": lambda t: nth(t, r"protection: rw\n(\s+)touch: 1\.0$", 1, r"protection: none\n\1touch: 0"),
    "an unknown segment": lambda t: nth(t, r'segment: "seg4"$', 13, 'segment: "seg44"'),
    "a boolean segment": lambda t: nth(t, r'segment: "seg4"$', 14, "segment: yes"),
    "userfaultfd and soft-dirty": lambda t: nth(t, r"protection: rw$", 15,
                                                "protection: rw\n        userfaultfd: wp\n        soft_dirty: true"),
    "past the segment": lambda t: nth(t, r"offset: \d+KiB$", 16, "offset: 64GiB"),
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
