"""Names are data, not terminal commands or markup (issue 16.2, issue 15.3).

Workload files refuse names with control or formatting characters
(tests/corpus: name-*, group-name-*, segment-name-*, instance-name-*); what
ptcalc shows but did not write -- names, file paths, process names read from
/proc by scan -- is escaped for each output: the terminal (no escape
sequences, no rich markup), markdown (the same in GitHub and GitLab), JUnit
XML (well-formed), CSV (no formulas).
"""

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from ptcalc.cli import main
from ptcalc.names import csv_cell, markdown, printable, unprintable
from ptcalc.render.scan_yaml import render_scan
from ptcalc.workload.loader import loads_workload

from test_scan import DeniedFS, FakeProc, _pages, postgres_smaps, scan, smaps_entry

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

HOSTILE = "[bold]pg[/bold] <b>x</b> a|b `c` *d* [e](f) &amp; =1+2"
"""Printable, so a workload may hold it: markup for rich, HTML and table cells for markdown."""


def _workload(name: str = HOSTILE, group: str = HOSTILE) -> str:
    return (f"name: {json.dumps(name)}\nhost: {{memory: 64GiB}}\nsegments:\n  sga: {{size: 1GiB}}\n"
            f"processes:\n  - name: {json.dumps(group)}\n    count: 2\n    mappings: [{{segment: sga}}]\n")


def _run(*args, text=None):
    r = CliRunner().invoke(main, list(args), input=text)
    return r


@pytest.mark.parametrize("command", [["estimate"], ["explain"], ["sweep", "--processes", "1:3", "--group", HOSTILE]])
def test_rich_markup_in_names_prints_as_written(command):
    r = _run(*command, "-", "--width", "200", text=_workload())
    assert r.exit_code == 0, r.output
    assert "[bold]pg[/bold]" in r.output
    assert not CONTROL.search(r.output)


@pytest.mark.parametrize("command", [["estimate"], ["explain"]])
def test_markdown_escapes_names_the_same_for_github_and_gitlab(command):
    r = _run(*command, "-", "-f", "markdown", text=_workload())
    assert r.exit_code == 0, r.output
    out = r.output
    assert "<b>" not in out and "</b>" not in out  # no HTML from a name
    escaped = markdown(HOSTILE)
    assert escaped == (r"\[bold\]pg\[/bold\] &lt;b&gt;x&lt;/b&gt; a\|b \`c\` \*d\* \[e\](f) &amp;amp; =1+2")
    assert escaped in out
    # every table row has as many cells as its header: the name's "|" did not split one
    for block in re.findall(r"(?m)(?:^\|.*\|\n)+", out):
        rows = block.splitlines()
        cells = [len(re.split(r"(?<!\\)\|", row)) for row in rows]
        assert len(set(cells)) == 1, rows


def test_markdown_of_several_hosts_escapes_their_names():
    text = _workload() + "---\n" + _workload(name="<script>alert(1)</script>", group="g")
    r = _run("estimate", "-", "-f", "markdown", text=text)
    assert r.exit_code == 0, r.output
    assert "<script>" not in r.output and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.output


def test_a_file_path_with_an_escape_sequence_is_shown_escaped(tmp_path):
    path = tmp_path / "box\x1b[2J\x1b]8;;x\x07.yaml"
    path.write_text(_workload("box", "g"))
    for args in (["estimate", str(path)], ["estimate", str(path), "-f", "markdown"], ["check", str(path)],
                 ["explain", str(path)]):
        r = _run(*args)
        assert r.exit_code == 0, r.output
        assert "\x1b" not in r.output and "\x07" not in r.output
        assert args[0] == "explain" or "box\\x1b[2J" in r.output or "box\\\\x1b\\[2J" in r.output
    path.write_text("host: {memory: 0}\n")
    r = _run("estimate", str(path))
    assert r.exit_code == 2 and "\x1b" not in r.output and "box\\x1b[2J" in r.output


def test_junit_is_well_formed_xml_whatever_the_file_is_called(tmp_path):
    good = tmp_path / "ok\x1b[31m\x0c.yaml"
    good.write_text(_workload(group="a<b>&\"c\""))
    bad = tmp_path / "bad\x01.yaml"
    bad.write_text("name: [\n")
    junit = tmp_path / "junit.xml"
    r = _run("check", str(good), str(bad), "--junit", str(junit))
    assert r.exit_code == 2
    root = ET.parse(junit).getroot()  # raises on control characters
    classnames = {tc.get("classname") for tc in root.iter("testcase")}
    assert classnames == {str(good).replace("\x1b", "\\x1b").replace("\x0c", "\\x0c"),
                          str(bad).replace("\x01", "\\x01")}
    assert not CONTROL.search(junit.read_text(encoding="utf-8"))


@pytest.mark.parametrize("cell, shown", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-1+1", "'-1+1"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "\\x09x"), ("\rx", "\\x0dx"), ("processes", "processes"),
    (-5, -5), (12, 12),
])
def test_csv_cells_never_start_a_formula(cell, shown):
    assert csv_cell(cell) == shown


def test_sweep_csv_has_no_formula_cells():
    r = _run("sweep", "-", "--processes", "1:3", "-f", "csv", text=_workload())
    assert r.exit_code == 0, r.output
    for line in r.output.splitlines():
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), line


def test_printable_leaves_no_control_character():
    every = "".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xa0))) + "\u202e\u2028\ufeff"
    out = printable(every)
    assert unprintable(out) is None
    assert out.count("\\") == len(every)


def test_scan_makes_hostile_process_and_segment_names_safe(tmp_path):
    """A local user names a process (prctl PR_SET_NAME, /proc/PID/comm) and a
    memfd as they like; scan's group and segment names, its YAML and the
    estimate of that YAML show them escaped, and the file loads."""
    fp = FakeProc(tmp_path)
    comm = "\x1b]8;;http://evil/\x07pg\x1b[2J\r"
    memfd = "/memfd:\x1b[31mbuf\u202e (deleted)"
    addr = 0x38000000  # (inside the fake pagemap)
    entry = smaps_entry(addr, 4 * 1024 * 1024, "rw-s", 0, "00:01", 4242, memfd)
    for pid in (200, 201):
        fp.process(pid, comm, postgres_smaps() + entry, _pages(addr, addr + 4096))
    fs = DeniedFS(fp.proc, fp.sys)
    r = scan(fs=fs, high_va=lambda: False, now=datetime(2026, 1, 2, tzinfo=timezone.utc), min_size=0)
    names = [g.name for g in r.workload.groups] + list(r.workload.segments)
    # the class is argv[0]'s basename (the comm has a '/'): its control characters escaped
    assert names[0] == printable("\x07pg\x1b[2J") == "\\x07pg\\x1b[2J"
    assert any("memfd:\\x1b[31mbuf\\u202e" in n for n in names)
    assert all(unprintable(n) is None for n in names)
    text = render_scan(r)
    assert not CONTROL.search(text)
    loaded = loads_workload(text, "scan.yaml")
    assert [g.name for g in loaded.groups] == [g.name for g in r.workload.groups]
    out = _run("estimate", "-", text=text)
    assert out.exit_code == 0 and not CONTROL.search(out.output)
