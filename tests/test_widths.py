"""Narrow terminals (issue 15): at widths 60, 80, 100 and 200, every figure
and verdict of every command's text output stays whole -- on one line,
uncut -- on every shipped config, and no line is wider than asked.

The figures are taken from each command's ``--format json`` (formatted as
the text formats them: ``units.format_size``, ``format_kib``, thousands
separators, upper-case verdicts), so the test follows the JSON rather than
a copy of the text: a field added to JSON changes nothing here, and a
figure the text drops or cuts fails.  JSON's figures are checked against
hand-derived ones by the other tests."""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Iterable

import pytest
from rich.cells import cell_len

from clihelp import CONFIGS, ROOT, run

from ptcalc.units import format_kib, format_size

FILES = sorted(f"configs/{p.name}" for p in CONFIGS.glob("*.yaml"))
WIDTHS = (60, 80, 100, 200)
LEVELS_BELOW_PGD = ("pte", "pmd", "pud", "p4d")


@pytest.fixture(autouse=True)
def _in_checkout(monkeypatch):
    """Relative paths, as an operator types them (a file name is a token the
    text never breaks: an absolute temporary path could be wider than 60)."""
    monkeypatch.chdir(ROOT)


def text_of(*args: str, width: int) -> str:
    r = run(*args, "--width", width, "--color", "never")
    assert r.exit_code in (0, 1), r.output
    return r.stdout


@functools.lru_cache(maxsize=None)
def json_of(*args: str) -> dict:
    """(Each command's JSON once for the four widths: do not change what it returns.)"""
    r = run(*args, "--format", "json")
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


def verdict(v: str | None) -> str:
    return (v or "n/a").upper()


def count(n: int) -> str:
    return f"{n:,}"


def whole(text: str, figure: str) -> bool:
    """``figure`` on one line of ``text`` (it holds no line break), not part of a
    longer number or word."""
    return re.search(r"(?<![\w.,])" + re.escape(figure) + r"(?!\w|[.,]\d)", text) is not None


def check_layout(text: str, figures: Iterable[str], width: int | None) -> None:
    missing = sorted({f for f in figures if not whole(text, f)})
    assert not missing, f"figures cut or missing at width {width}: {missing}"
    assert "…" not in text and "..." not in text.replace("... and ", "")
    for line in text.splitlines():
        assert line == line.rstrip(), f"trailing blanks: {line!r}"
        if width is not None:
            assert cell_len(line) <= width, f"{cell_len(line)} > {width}: {line!r}"


# --- estimate ----------------------------------------------------------------------------


def estimate_figures(doc: dict) -> list[str]:
    """What ``estimate``'s text shows of one host: every cell's physical page
    tables and verdict; for the configured column VmPTE summed, demand and the
    largest process count; per group (up to 30) its count, owned bytes and VmPTE."""
    out = []
    host = doc["host"]
    if host["memory_bytes"] is not None:
        out.append(format_size(host["memory_bytes"]))
        out.append(format_size(host["available_bytes"]))
    out.append(count(host["processes"]))
    for c in doc["cells"]:
        out += [format_size(c["page_tables"]["physical_bytes"]), verdict(c["verdict"])]
        if c["configured"]:
            out += [format_size(c["page_tables"]["vmpte_total_bytes"]), format_size(c["memory"]["demand_bytes"])]
            if c["max_processes"] is not None:
                out.append(count(c["max_processes"]))
            groups = c["page_tables"]["groups"]
            if len(groups) <= 30:
                for g in groups:
                    out += [count(g["count"]), format_size(g["per_process_bytes"]), format_kib(g["vmpte_bytes"])]
    return out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_estimate(path, width):
    doc = json_of("estimate", path)
    figures = [f for d in doc.get("hosts", [doc]) for f in estimate_figures(d)]
    check_layout(text_of("estimate", path, width=width), figures, width)


def test_several_hosts_keep_their_names(tmp_path):
    """The summary of a file of several hosts shows every host's name (FILE#N)
    and figures whole, however narrow."""
    body = (ROOT / FILES[-1]).read_text()
    two = tmp_path / "a-rather-long-file-name-of-several-hosts.yaml"
    two.write_text(body + "\n---\n" + body.replace("count: 1100", "count: 110"))
    doc = json_of("estimate", str(two))
    for width in WIDTHS:
        text = text_of("estimate", str(two), width=width)
        figures = [f for d in doc["hosts"] for f in estimate_figures(d)]
        check_layout(text, figures + [d["workload"] for d in doc["hosts"]], None)


# --- check -------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_check(width):
    """One line per result, never wrapped (CI logs grep them): each passing
    check's page tables, free memory and verdict, each failed condition's
    message (JSON's ``message``), whole on its line."""
    args = ["check", *FILES, "--scheme", "private", "--scheme", "hugetlb-pmd", "--scheme", "mshare",
            "--min-headroom", "5%", "--max-page-tables", "1%"]
    doc = json_of(*args)
    figures = []
    for f in doc["files"]:
        for c in f["checks"]:
            if c["passed"]:
                figures += [format_size(c["page_table_bytes"]), format_size(c["free_bytes"]), verdict(c["verdict"])]
            figures += [k["message"] for k in c["conditions"] if not k["passed"]]
    assert len(figures) > 10
    check_layout(text_of(*args, width=width), figures, None)


# --- sweep -------------------------------------------------------------------------------


def sweep_figures(doc: dict) -> list[str]:
    axis = (lambda v: format_size(v)) if doc["axis"] == "size" else count
    out = [axis(p) for p in doc["points"]]
    for s in doc["schemes"].values():
        out += [format_size(b) for b in s["page_table_bytes"]] + [verdict(v) for v in s["verdicts"]]
        if s["first_not_fitting"] is not None:
            out.append(axis(s["first_not_fitting"]))
    if doc["available_bytes"] is not None:
        out.append(format_size(doc["available_bytes"]))
    return out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_sweep(path, width):
    args = ["sweep", path, "--processes", "100:2400:100"]  # 24 points: the table shows every one
    doc = json_of(*args)
    assert len(doc["points"]) == 24
    check_layout(text_of(*args, width=width), sweep_figures(doc), width)


@pytest.mark.parametrize("width", (60, 80))
def test_sweep_of_a_segment_size(width):
    args = ["sweep", "configs/oracle-sga-300g.yaml", "--size", "100GiB:400GiB:100GiB"]
    doc = json_of(*args)
    check_layout(text_of(*args, width=width), sweep_figures(doc), width)


# --- explain -----------------------------------------------------------------------------


def explain_figures(doc: dict) -> list[str]:
    out = []
    for g in doc["groups"]:
        out += [count(g["count"]), format_size(g["per_process_bytes"]), format_kib(g["vmpte_bytes"])]
        for m in g["mappings"]:
            out += [f"{m['address']:#x}", f"{m['address'] + m['size']:#x}", format_size(m["size"])]
            out += [count(n) for lv, n in m["own_tables"].items() if lv in LEVELS_BELOW_PGD and n]
    for lv, n in doc["totals"]["total"].items():
        if n:
            out.append(count(n))
    out.append(format_size(doc["totals"]["physical_bytes"]))
    for f in doc["findings"]:
        for fix in [f["fix"], *f["alternatives"]]:
            if fix:
                out += [format_size(fix["physical_before"]), format_size(fix["physical_after"]),
                        format_size(fix["saves"])]
    v = doc["vmpte"]
    out += [format_size(v["summed_bytes"]), format_size(v["physical_bytes"])]
    return out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_explain(path, width):
    for scheme in ("hugetlb-pmd", "mshare") if width == 60 else ("hugetlb-pmd",):  # mshare: pools, regions
        args = ["explain", path, "--scheme", scheme]
        doc = json_of(*args)
        check_layout(text_of(*args, width=width), explain_figures(doc), width)


# --- measure's renderer, on a recorded result ----------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_measure_renderer(width):
    from test_measure import _result

    from ptcalc.render import measure_json, measure_table
    from ptcalc.render.console import Style, make_console

    KiB = 1024
    for r in (_result(6 * 4096, (12 * KiB,) * 4), _result(7 * 4096, (12 * KiB,) * 3 + (16 * KiB,))):
        doc = json.loads(measure_json.render(r))
        figures = [count(lv["model_tables"]) for lv in doc["levels"]]
        figures += [format_kib(doc["pagetables"]["model_bytes"]), format_kib(doc["pagetables"]["kernel_bytes"])]
        for g in doc["groups"]:
            figures += [count(g["count"]), format_kib(g["model_vmpte_bytes"])]
            figures += [format_kib(k["bytes"]) for k in g["kernel_vmpte_bytes"]]
        out = io.StringIO()
        measure_table.render(r, make_console(color="never", width=width, file=out), Style())
        check_layout(out.getvalue(), figures, width)


# --- the layout itself -----------------------------------------------------------------------


def test_a_figure_is_never_split_from_its_unit():
    from ptcalc.render.layout import longest_token, wrap_plain

    text = "page tables 880.6 GiB -> 12.9 MiB (saves 880.6 GiB), VmPTE 1,204 KiB and 0 B"
    for width in range(10, 60):
        lines = wrap_plain(text, width)
        for fig in ("880.6 GiB", "12.9 MiB", "1,204 KiB", "0 B"):
            assert any(fig in line for line in lines), (width, lines)
        assert all(len(line) <= max(width, longest_token(text)) for line in lines)
    assert longest_token("a 1,204 KiB b") == len("1,204 KiB")


@pytest.mark.parametrize("text", [
    "", "plain line", "two\nlines  with trailing blanks  \n", "\n\nblank first", "╭─ box ─╮\n│ cell │",
    "wide 日本語 and ★ × →", "a tab\there", "a bell\x07 and a return\r", "ends in a newline\n",
])
@pytest.mark.parametrize("style", ["", "bold"])
def test_emit_writes_what_rich_writes(text, style):
    """``layout.emit`` (and ``emit_plain``) on a console without colour
    bypasses rich's Text for printable text: the bytes must be rich's own."""
    from rich.console import Console
    from rich.text import Text

    from ptcalc.render.layout import emit, emit_plain

    def console():
        return Console(file=io.StringIO(), color_system=None, width=20, force_terminal=False)

    expected = console()
    expected.print(Text(text, style=style), no_wrap=True, overflow="ignore", crop=False)
    for write in (lambda c: emit(c, Text(text, style=style)), lambda c: emit_plain(c, text)):
        c = console()
        write(c)
        assert c.file.getvalue() == expected.file.getvalue()


@pytest.mark.parametrize("text", [
    "", "a sentence long enough to wrap over several lines of a narrow console, 880.6 GiB per host",
    "  indented\n\nafter a blank paragraph   ", "wide 日本語 words wrap ★ too", "a tab\there and a bell\x07",
])
def test_print_text_writes_what_wrap_and_rich_write(text):
    """``print_text`` on a console without colour lays the text out as a str:
    the bytes must be those of ``wrap`` printed by rich."""
    from rich.console import Console
    from rich.text import Text

    from ptcalc.render.layout import print_text, wrap

    def console():
        return Console(file=io.StringIO(), color_system=None, width=24, force_terminal=False)

    for given in (text, Text(text, style="bold")):
        expected = console()
        expected.print(wrap(given, 24, "  ", "    "), no_wrap=True, overflow="ignore", crop=False)
        c = console()
        print_text(c, given, indent="  ", hanging="    ")
        assert c.file.getvalue() == expected.file.getvalue()
