"""docs/workload-format.md and ptcalc/workload/keys.py say the same: every
section's key table lists exactly the described keys, in the same order,
with the same default, and names every allowed value; every top-level key
has a section of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ptcalc.workload.keys import (GROUP, HOST, INSTANCE, MAPPING, OPTIONS, PRIVATE_MAPPING, SECTIONS, SEGMENT,
                                  WORKLOAD, Kind)

DOC = Path(__file__).resolve().parents[1] / "docs" / "workload-format.md"
HEADER = "| key | default | meaning |"


def key_tables(text: str) -> dict[str, list[tuple[str, str, str]]]:
    """Per heading, the rows (key, default, meaning) of its key table."""
    tables: dict[str, list[tuple[str, str, str]]] = {}
    heading, rows = "", None
    for line in text.splitlines():
        if line.startswith("#"):
            heading, rows = line.lstrip("#").strip(), None
        elif line.strip() == HEADER:
            assert heading not in tables, f"two key tables under {heading!r}"
            rows = tables[heading] = []
        elif rows is not None and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set(cells[0]) <= {"-"}:
                continue
            m = re.fullmatch(r"`([a-z_]+)`", cells[0])
            assert m, f"{heading}: a key cell is `name`, got {cells[0]!r}"
            rows.append((m.group(1), cells[1], "|".join(cells[2:])))
        elif rows is not None and not line.strip():
            rows = None
    return tables


TABLES = key_tables(DOC.read_text())
DOCUMENTED = [HOST, SEGMENT, GROUP, MAPPING, PRIVATE_MAPPING, INSTANCE, OPTIONS]


def table_of(section):
    """The key table under the heading that names the section (``## `host` ...``, ``### Mappings``)."""
    found = [h for h in TABLES if h == section.name or h.startswith(f"`{section.name}`")]
    assert len(found) == 1, f"{section.name}: headings {found}"
    return TABLES[found[0]]


def test_every_section_but_the_workload_has_a_key_table():
    assert {id(s) for s in DOCUMENTED} == {id(s) for s in SECTIONS if s is not WORKLOAD}
    assert len(TABLES) == len(DOCUMENTED)


@pytest.mark.parametrize("section", DOCUMENTED, ids=[s.name for s in DOCUMENTED])
def test_a_key_table_is_the_description(section):
    rows = table_of(section)
    assert [k for k, _, _ in rows] == list(section.names)
    for (name, default, meaning), key in zip(rows, section.keys):
        assert default.replace("`", "") == key.documented_default(), name
        for choice in key.choices:
            assert f"`{choice}`" in meaning, f"{section.name}.{name}: {choice!r} not in the docs"
        if key.kind is Kind.CHOICE:
            assert key.choices


def test_every_top_level_key_has_a_heading():
    headings = [line.lstrip("#").strip() for line in DOC.read_text().splitlines() if line.startswith("## ")]
    for key in WORKLOAD.keys:
        assert any(h.startswith(f"`{key.name}`") for h in headings), key.name


def test_the_docs_table_parser_reads_rows_and_stops_at_a_blank_line():
    text = f"## `x` (a section)\n\n{HEADER}\n|---|---|---|\n| `a` | `1` | one, `p` |\n\nafter\n| not | a | row |\n"
    assert key_tables(text) == {"`x` (a section)": [("a", "`1`", "one, `p`")]}
