"""``check`` as lines: one per failed condition, one PASS per passing scheme.

Every line starts with PASS, FAIL or ERROR and the file name (``FILE#N`` for
document N of a file of several), so a CI log can be grepped.  Lines are never wrapped (whatever ``--width``), so a path and its
verdict stay on one line.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ptcalc.model.check import CheckRun, FileResult, exit_status
from ptcalc.render import check_words
from ptcalc.render.console import Style
from ptcalc.units import format_size

_STATUS_STYLE = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta"}


def lines(files: list[FileResult]) -> list[tuple[str, str]]:
    """(status word, rest of the line) for every line of the report."""
    out: list[tuple[str, str]] = []
    for f in files:
        if f.error is not None:
            out.append(("ERROR", f"{f.name}: invalid input: {f.error}"))
            continue
        for c in f.checks:
            where = f"{f.name} [{check_words.where(c)}]"
            if c.passed:
                extra = f"page tables {format_size(c.page_table_bytes)}"
                if c.free_bytes is not None:
                    extra += f", {format_size(c.free_bytes)} free"
                out.append(("PASS", f"{where} verdict {(c.verdict or 'n/a').upper()}; {extra}"))
            for cond in c.failed:
                out.append(("FAIL", f"{where} {cond.name}: {check_words.message(c, cond)}"))
    return out


def summary(files: list[FileResult]) -> str:
    n = {s: sum(1 for f in files if f.status == s) for s in ("pass", "fail", "error")}
    paths = len({f.path for f in files})
    what = f"{len(files)} file{'s' if len(files) != 1 else ''}"
    if any(f.document is not None for f in files):  # files of several documents (hosts)
        what = f"{len(files)} workload{'s' if len(files) != 1 else ''} in {paths} file{'s' if paths != 1 else ''}"
    return (f"ptcalc check: {what}: {n['pass']} passed, "
            f"{n['fail']} failed, {n['error']} invalid; exit status {exit_status(files)}")


def render(run: CheckRun, console: Console, style: Style) -> None:
    files = list(run.files)
    for word, rest in lines(files):
        t = Text()
        t.append(f"{word:<5}", style=_STATUS_STYLE[word])
        t.append(" ")
        t.append(rest)
        console.print(t, soft_wrap=True)
    console.print(Text(summary(files), style="dim"), soft_wrap=True)
