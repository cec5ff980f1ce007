"""``ptcalc estimate`` through the CLI: exit codes, JSON fields, formats.

Expected numbers are derived by hand (see tests/test_model.py for the
geometry); the seed scenario is model.md section 5.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from clihelp import SEED_PRIVATE, SEED_PRIVATE_TABLES
from ptcalc.cli import main

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "configs" / "oracle-sga-300g.yaml")


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), input=input, env=env)


def cells(doc):
    return {(c["scheme"], c["column"]): c for c in doc["cells"]}


@pytest.fixture(scope="module")
def seed_json():
    r = run("estimate", SEED, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_seed_json_shape(seed_json):
    assert seed_json["schema_version"] == 2
    assert seed_json["workload"] == "Oracle SGA, 1500 dedicated servers"
    c = seed_json["cells"][0]
    for key in ("scheme", "page_size", "configured", "page_tables", "memory", "verdict", "max_processes"):
        assert key in c
    for key in ("physical_bytes", "shared_bytes", "tables", "groups"):
        assert key in c["page_tables"]
    assert set(c["page_tables"]["tables"]) == {"pgd", "p4d", "pud", "pmd", "pte"}
    for key in ("name", "count", "per_process_bytes", "vmpte_bytes", "private_tables", "mixed_tables", "vmpte_parts"):
        assert key in c["page_tables"]["groups"][0]
    assert seed_json["host"]["kernel"] is None and seed_json["host"]["pagetables_levels"] == [
        "pte", "pmd", "pud", "p4d", "pgd"]
    assert {"demand_bytes", "available_bytes"} <= set(c["memory"])


def test_seed_private_4k_is_oom(seed_json):
    c = cells(seed_json)[("private", "4KiB")]
    assert c["configured"] is True and c["page_size"] == 4096
    t = c["page_tables"]["tables"]
    # the SGA: 1500 x 300 GiB / 2 MiB PTE tables = 878.9 GiB; + 300 PMD + 1 PUD
    # each (880.6 GiB with the PGDs); and each server's own mappings
    # (clihelp.SEED_PRIVATE: 110 PTE + 2 PMD + 2 PUD)
    own = SEED_PRIVATE
    assert t["pte"] == 1500 * (153600 + own["pte"]) and t["pmd"] == 1500 * (300 + own["pmd"])
    assert t["pud"] == 1500 * (1 + own["pud"])
    assert round(1500 * 153600 * 4 * KiB / GiB, 1) == 878.9
    assert round(1500 * (153600 + 300 + 1 + 1) * 4 * KiB / GiB, 1) == 880.6
    assert round(c["page_tables"]["physical_bytes"] / GiB, 1) == 881.3
    g = c["page_tables"]["groups"][0]
    assert g["vmpte_bytes"] == (153600 + 300 + 1 + SEED_PRIVATE_TABLES) * 4 * KiB
    assert g["private_tables"] == {**own, "p4d": 0, "pgd": 0}
    assert g["vmpte_parts"] == {"segments_bytes": (153600 + 300 + 1) * 4 * KiB,
                                "private_bytes": SEED_PRIVATE_TABLES * 4 * KiB, "mixed_bytes": 0,
                                "dominant": "segments"}
    assert c["verdict"] == "oom"
    assert c["memory"]["available_bytes"] == 504 * GiB


def test_seed_hugetlb_2m_whatif(seed_json):
    c = cells(seed_json)[("hugetlb-pmd", "2MiB-hugetlb")]
    assert c["configured"] is False and c["page_size"] == 2 * MiB
    t = c["page_tables"]["tables"]
    own = SEED_PRIVATE  # each server's own mappings stay on 4 KiB pages
    assert (t["pte"], t["pmd"], t["pud"], t["pgd"]) == (
        1500 * own["pte"], 300 + 1500 * own["pmd"], 1500 * (1 + own["pud"]), 1500)
    # the SGA's part of VmPTE is model.md's 1,204 KiB (300 shared PMD + 1 PUD)
    g = c["page_tables"]["groups"][0]
    assert g["vmpte_bytes"] == 1204 * KiB + SEED_PRIVATE_TABLES * 4 * KiB
    assert g["vmpte_parts"]["segments_bytes"] == 1204 * KiB
    # the what-if sizes the 2 MiB pool to the 300 GiB SGA
    assert c["memory"]["hugetlb_pages_required"] == {str(2 * MiB): 153600}
    assert c["verdict"] == "ok"


def test_seed_hugetlb_pmd_4k_says_why(seed_json):
    c = cells(seed_json)[("hugetlb-pmd", "4KiB")]
    p = cells(seed_json)[("private", "4KiB")]
    assert c["page_tables"]["physical_bytes"] == p["page_tables"]["physical_bytes"]
    assert "hugetlb" in c["note"]


def test_seed_max_processes_by_hand(seed_json):
    # private, 4 KiB: each process costs its tables (153,901 for the SGA, its
    # 114 own, and a 4 KiB PGD), 10 MiB private memory and 96 KiB overhead;
    # fixed: the 300 GiB SGA.
    per = (153901 + SEED_PRIVATE_TABLES + 1) * 4 * KiB + 10 * MiB + 96 * KiB
    expected = (504 * GiB - 300 * GiB) // per
    assert cells(seed_json)[("private", "4KiB")]["max_processes"] == expected


def test_table_output_and_ascii(tmp_path):
    r = run("estimate", SEED, "--ascii", "--color", "never")
    assert r.exit_code == 0
    assert "881.3 GiB" in r.output and "OOM" in r.output
    assert r.output.isascii()
    assert "\x1b[" not in r.output


def test_no_color_env_and_always():
    r = run("estimate", SEED, env={"NO_COLOR": "1"})
    assert "\x1b[" not in r.output
    r = run("estimate", SEED, "--color", "always")
    assert "\x1b[" in r.output


def test_markdown():
    r = run("estimate", SEED, "-f", "markdown")
    assert r.exit_code == 0
    assert "| `private` | 881.3 GiB **OOM**" in r.output


def test_stdin():
    r = run("estimate", "-", "-f", "json", input=Path(SEED).read_text())
    assert r.exit_code == 0
    assert json.loads(r.output)["source"] == "<stdin>"


def test_scheme_filter():
    r = run("estimate", SEED, "-f", "json", "-s", "mshare")
    assert {c["scheme"] for c in json.loads(r.output)["cells"]} == {"mshare"}


@pytest.mark.parametrize("text, where", [
    ("segments: {s: {size: 1GiB}}\nprocesses: [{count: 0, mappings: [{segment: s}]}]\n", "<stdin>:2:"),
    ("segments: [\n", "<stdin>:"),
    ("segments: {s: {size: 1GiB, backing: hugetlb, page_size: 4KiB}}\nprocesses: [{count: 1}]\n", "<stdin>:1:"),
])
def test_bad_input_one_line_exit_2(text, where):
    r = CliRunner().invoke(main, ["estimate", "-"], input=text)
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(where), r.output
    assert "Traceback" not in r.output


def test_missing_file_exit_2():
    r = run("estimate", "/nonexistent/workload.yaml")
    assert r.exit_code == 2
    assert "Traceback" not in r.output


def test_headroom_option():
    r = run("estimate", SEED, "--headroom", "200%")
    assert r.exit_code == 2


def test_file_cached_threshold_option():
    # A threshold above the 300 GiB SGA stops file-cached sharing: equals private.
    r = run("estimate", SEED, "-f", "json", "--file-cached-threshold", "400GiB")
    c = cells(json.loads(r.output))
    assert (c[("file-cached", "4KiB")]["page_tables"]["physical_bytes"]
            == c[("private", "4KiB")]["page_tables"]["physical_bytes"])
    r = run("estimate", SEED, "--file-cached-threshold", "lots")
    assert r.exit_code == 2


def test_python_dash_m_and_version():
    r = subprocess.run([sys.executable, "-m", "ptcalc", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("ptcalc")


def test_wont_start_with_small_pool():
    text = """
host: {memory: 64GiB, hugepages: {2MiB: 100}}
segments: {s: {size: 1GiB, backing: hugetlb, page_size: 2MiB}}
processes: [{count: 2, mappings: [{segment: s}]}]
"""
    r = CliRunner().invoke(main, ["estimate", "-", "-f", "json"], input=text)
    doc = json.loads(r.output)
    configured = [c for c in doc["cells"] if c["configured"]]
    # 1 GiB of 2 MiB pages needs 512; the pool has 100
    assert {c["verdict"] for c in configured} == {"wont-start"}
    assert configured[0]["memory"]["hugetlb_pages_short"] == {str(2 * MiB): 412}
    r = CliRunner().invoke(main, ["estimate", "-", "--color", "never"], input=text)
    assert "412" in r.output and "WONT-START" in r.output


def _note_and_finding(tmp_path, text):
    from clihelp import write

    path = write(tmp_path, "w.yaml", text)
    doc = json.loads(run("estimate", path, "--format", "json").stdout)
    note = next(c["note"] for c in doc["cells"] if c["configured"] and c["scheme"] == "hugetlb-pmd")
    (finding,) = json.loads(run("explain", path, "--format", "json").stdout)["findings"]
    return note, finding["rule"]


def test_estimate_note_agrees_with_explain(tmp_path):
    """One process maps a 4 GiB hugetlb segment (2 MiB pages) at an aligned
    address: its 4 PMD tables are shareable under want_pmd_share, but nobody
    shares them.  Four processes map a 3 GiB one 2 MiB past a 1 GiB boundary
    and touch its first 300 MiB: those pages lie in the first window, only
    partly inside the mapping, so no touched page is in a shareable range."""
    note, rule = _note_and_finding(tmp_path, """\
        host: {memory: 64GiB}
        segments: {s: {size: 4GiB, backing: hugetlb, page_size: 2MiB}}
        processes: [{name: db, count: 1, mappings: [{segment: s}]}]
    """)
    assert rule == "alone"
    assert note == ("equals private: the touched pages lie in shareable ranges, but no two processes map them "
                    "alike (each shareable table has one user)")
    note, rule = _note_and_finding(tmp_path, """\
        host: {memory: 64GiB}
        segments: {s: {size: 3GiB, backing: hugetlb, page_size: 2MiB}}
        processes: [{name: db, count: 4, mappings: [{segment: s, address: 0x10000200000, touch: 0.1}]}]
    """)
    assert rule == "partial-window"
    assert note == "equals private: no touched page lies in a shareable range"


def test_json_written_in_pieces_is_the_whole_document():
    """``-f json`` is written a cell at a time (``render_pieces``): one JSON
    document, each column's re-placed mappings (here one, 4 KiB past 1 TiB:
    not 2 MiB-aligned) in each of its cells."""
    from ptcalc.model.evaluate import Options, evaluate
    from ptcalc.model.geometry import X86_64
    from ptcalc.render.estimate_json import render_pieces
    from ptcalc.workload.types import Host, Mapping, ProcessGroup, Segment, Workload

    TiB = 1 << 40
    w = Workload(host=Host(memory=64 * GiB, arch=X86_64), segments={"s": Segment("s", 4 * GiB, "shmem", 4 * KiB)},
                 groups=(ProcessGroup("g", 2, (Mapping("s", 0, 4 * MiB, TiB + 4 * KiB,
                                                       origin="processes[0].mappings[0]"),)),))
    pieces = list(render_pieces(evaluate(w, Options())))
    assert len(pieces) > 3
    text = "".join(pieces)
    doc = json.loads(text)
    replaced = {c["column"]: c["replaced"] for c in doc["cells"]}
    # on 2 MiB pages the kernel places it at 1 TiB (the highest 2 MiB-aligned
    # address at or below it: nothing else is mapped)
    assert [(r["old_address"], r["address"]) for r in replaced["2MiB-hugetlb"]] == [(TiB + 4 * KiB, TiB)]
    assert replaced["4KiB"] == []
    # laid out as json.dumps(indent=2) lays it out, but a column's re-placed
    # mappings (and a cell's groups) one to a line
    assert text.startswith('{\n  "schema_version": 2,\n') and text.endswith("\n  ]\n}")
    assert ('\n      "replaced": [\n        {"group": 0, "mapping": 0, "old_address": %d, "address": %d,'
            % (TiB + 4 * KiB, TiB)) in text
    empty = Workload(host=Host(memory=None, arch=X86_64), segments={}, groups=())
    report = evaluate(empty, Options())
    assert len(json.loads("".join(render_pieces(report)))["cells"]) == len(report.cells)
