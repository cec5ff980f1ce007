"""Hostile input that is still valid gets the right figure (issue 16.6).

Every case of tests/corpus gets a located error; these inputs are valid, and
each test states the figure derived by hand from the geometry (x86-64:
4 KiB tables, a PTE table maps 2 MiB, a PMD table 1 GiB, a PUD table 512 GiB,
a P4D table 256 TiB; one PGD per process, 4 KiB without PTI), never one
copied from ptcalc's output.  Both readers (the fast one and libyaml) give it.
"""

import json

import pytest
from click.testing import CliRunner

from ptcalc.cli import main
from ptcalc.workload import fastyaml
from ptcalc.workload.loader import loads_workload

KiB = 1024
# (private_mappings: [] -- the segment's tables alone, as derived below)
BODY = ("host: {memory: 64GiB}\nsegments:\n  sga: {size: SIZE}\nprocesses:\n  - count: 1\n"
        "    private_mappings: []\n    mappings:\n      - {segment: sga}\n")
ONE_GIB = BODY.replace("SIZE", "1GiB")
# 1 GiB of 4 KiB pages, fully touched, one process at an auto (1 GiB-aligned)
# address: 512 PTE + 1 PMD + 1 PUD tables + 1 PGD = 515 pages of 4 KiB.
ONE_GIB_BYTES = 515 * 4 * KiB


def _physical(text: str, monkeypatch=None) -> int:
    r = CliRunner().invoke(main, ["estimate", "-", "-f", "json", "-s", "private"], input=text)
    assert r.exit_code == 0, r.output
    (cell,) = [c for c in json.loads(r.stdout)["cells"] if c["configured"]]
    return cell["page_tables"]["physical_bytes"]


def _both_readers(text: str, monkeypatch) -> int:
    fast = _physical(text)
    with monkeypatch.context() as m:
        m.setattr(fastyaml, "parse_documents", lambda text, max_nodes=None: None)
        assert _physical(text) == fast
    return fast


@pytest.mark.parametrize("text", [
    ONE_GIB,
    ONE_GIB.replace("\n", "\r\n"),  # Windows line ends: CR LF is one line break
    "\ufeff" + ONE_GIB,  # a byte order mark at the start only
    "%YAML 1.1\n---\n" + ONE_GIB,  # a YAML directive libyaml knows
    "%YAML 1.2\n---\n" + ONE_GIB,
    "%TAG !p! tag:yaml.org,2002:\n---\n" + ONE_GIB.replace("{size: 1GiB}", "{size: !p!str 1GiB}"),
    BODY.replace("SIZE", "0x40000000"),  # hex bytes, no unit
    BODY.replace("SIZE", "1073741824"),
    ONE_GIB + "# a comment with a tab\there and [[[[[ brackets and 'quotes\n",
], ids=["plain", "crlf", "bom", "yaml-1.1", "yaml-1.2", "tag-directive", "hex", "bytes", "comment"])
def test_valid_variants_give_the_hand_derived_figure(text, monkeypatch):
    assert _both_readers(text, monkeypatch) == ONE_GIB_BYTES


def test_a_mapping_ending_at_task_size_max():
    # the last page below TASK_SIZE_MAX (0x7ffffffff000; the guard page above
    # it is refused: tests/corpus/address-guard-page.yaml): one page needs
    # 1 PTE + 1 PMD + 1 PUD + 1 PGD = 4 tables
    text = ONE_GIB.replace("{segment: sga}", "{segment: sga, size: 4KiB, address: 0x7fffffffe000}")
    assert _physical(text) == 4 * 4 * KiB


def test_an_address_only_5_level_paging_has():
    # 128 TiB is the canonical hole with 4-level paging (refused:
    # tests/corpus/address-canonical-hole.yaml); with LA57 it is user space,
    # in the second 256 TiB P4D range: 1 PTE + 1 PMD + 1 PUD + 1 P4D + 1 PGD
    text = ONE_GIB.replace("{memory: 64GiB}", "{memory: 64GiB, arch: x86_64-la57}").replace(
        "{segment: sga}", "{segment: sga, size: 4KiB, address: 0x800000000000}")
    assert _physical(text) == 5 * 4 * KiB
    w = loads_workload(text)
    assert w.groups[0].mappings[0].address == 128 * 2**40


def test_touch_ranges_at_the_mapping_end_and_merged():
    # the last 4 MiB of the 1 GiB mapping: 2 PTE + 1 PMD + 1 PUD + 1 PGD
    end = ONE_GIB.replace("{segment: sga}", "{segment: sga, touch: [1020M-1G]}")
    assert _physical(end) == 5 * 4 * KiB
    # overlapping ranges count once: [0, 3 MiB) is 2 PTE tables
    overlap = ONE_GIB.replace("{segment: sga}", "{segment: sga, touch: [0-2M, 1M-3M]}")
    assert _physical(overlap) == (2 + 1 + 1 + 1) * 4 * KiB


def test_counts_at_the_limit_are_exact():
    # 2^40 processes (the limit) each with 1 GiB: (512 + 1 + 1 + 1) tables each, exactly
    text = ONE_GIB.replace("count: 1\n", "count: 1099511627776\n")
    assert _physical(text) == 1099511627776 * ONE_GIB_BYTES
