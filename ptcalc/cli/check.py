"""``ptcalc check``: gate a CI job on page-table memory and OOM verdicts."""

from __future__ import annotations

import sys

import click

from ptcalc.cli._choose import page_size_option, parse_page_size
from ptcalc.cli._common import (console_for, guarded, model_options, output_options, parse_percent_or_size,
                                read_workloads, resolve_options)
from ptcalc.errors import PtcalcError, UsageError
from ptcalc.model.schemes import SCHEMES


@click.command("check")
@click.argument("workloads", metavar="WORKLOAD.yaml...", nargs=-1, required=True)
@click.option("-s", "--scheme", "schemes", multiple=True, type=click.Choice(SCHEMES),
              help="Scheme to check (repeatable; default: hugetlb-pmd, what mainline Linux does).")
@page_size_option
@click.option("--require", type=click.Choice(["ok", "tight"]), default="ok", show_default=True,
              help="Worst acceptable verdict: 'ok' fails a tight fit too, 'tight' fails only OOM "
                   "and wont-start.")
@click.option("--max-page-tables", metavar="SIZE|PERCENT", default=None,
              help="Fail when physical page-table memory exceeds this size, or this percentage of host memory.")
@click.option("--min-headroom", metavar="SIZE|PERCENT", default=None,
              help="Fail when less than this much memory stays free (a size, or a percentage of "
                   "available memory = host.memory - host.reserved).")
@click.option("--junit", "junit", metavar="FILE", default=None,
              help="Also write a JUnit XML report to FILE (one testcase per file, scheme and condition).")
@model_options
@output_options(("text", "json"))
@guarded
def command(workloads: tuple[str, ...], schemes: tuple[str, ...], page_size: str, require: str,
            max_page_tables: str | None, min_headroom: str | None, junit: str | None,
            file_cached_threshold: str | None, mshare_variant: str | None, fmt: str, color: str,
            width: int | None, ascii_only: bool) -> None:
    """Check WORKLOAD files against memory thresholds; the exit status says whether all pass.

    \b
    Exit status:
      0  every file passes every condition
      1  some condition failed (and every file was valid)
      2  invalid input or usage: a file that cannot be read or judged makes
         the run exit 2 even if others fail; the valid files are still checked
    Each WORKLOAD is a YAML file, or - for standard input; every YAML document
    (host) of a file is checked, and named FILE#N.  Conditions, for each
    scheme: the verdict is no worse than --require; with --max-page-tables,
    physical page tables <= the limit; with --min-headroom, free memory >= it.
    See docs/ci.md.
    """
    from ptcalc.model.check import FileResult, Limit, Thresholds, check_workload, exit_status
    from ptcalc.model.evaluate import CONFIGURED, Options, evaluate

    chosen = tuple(s for s in SCHEMES if s in schemes) if schemes else ("hugetlb-pmd",)
    ps = parse_page_size(page_size)
    threshold, variant = resolve_options(file_cached_threshold, mshare_variant)
    options = Options(schemes=chosen, columns=CONFIGURED if ps is None else ps, file_cached_threshold=threshold,
                      mshare_variant=variant)

    def limit(text: str | None, what: str) -> Limit | None:
        if text is None:
            return None
        kind, value = parse_percent_or_size(text, what)
        return Limit(kind=kind, value=value, text=text.strip())

    thresholds = Thresholds(require=require, max_page_tables=limit(max_page_tables, "--max-page-tables"),
                            min_headroom=limit(min_headroom, "--min-headroom"))
    results: list[FileResult] = []
    for path in workloads:
        shown = "<stdin>" if path == "-" else path
        try:
            ws = read_workloads(path)
        except PtcalcError as e:
            click.echo(str(e), err=True)
            results.append(FileResult(path=shown, error=str(e)))
            continue
        for i, w in enumerate(ws, 1):
            # a file of several documents (hosts): each is judged, and named, on its own
            document = i if len(ws) > 1 else None
            try:
                checks = check_workload(evaluate(w, options), thresholds)
            except UsageError:
                raise
            except PtcalcError as e:
                click.echo(str(e), err=True)
                results.append(FileResult(path=shown, document=document, title=w.title, error=str(e)))
                continue
            results.append(FileResult(path=shown, document=document, title=w.title, checks=checks))

    if junit is not None:
        from ptcalc.render import check_junit

        try:
            check_junit.write(results, junit)
        except OSError as e:
            raise UsageError(f"--junit: cannot write {junit}: {e.strerror or e}") from None
    if fmt == "json":
        from ptcalc.render import check_json

        click.echo(check_json.render(results, thresholds, chosen, page_size))
    else:
        from ptcalc.render import check_text

        console, style = console_for(color, width, ascii_only)
        check_text.render(results, console, style)
    sys.exit(exit_status(results))
