"""``ptcalc check``: gate a CI job on page-table memory and OOM verdicts."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ptcalc.cli._common import (Output, column_of, emit, guarded, model_options, output_options, page_size_option,
                                read_workloads, writing)
from ptcalc.cli.params import PERCENT_OR_SIZE
from ptcalc.errors import PtcalcError, UsageError
from ptcalc.model.schemes import SCHEMES
from ptcalc.render.registry import Format

if TYPE_CHECKING:
    from ptcalc.model.check import Limit


@click.command("check")
@click.argument("workloads", metavar="WORKLOAD.yaml...", nargs=-1, required=True)
@click.option("-s", "--scheme", "schemes", multiple=True, type=click.Choice(SCHEMES),
              help="Scheme to check (repeatable; default: hugetlb-pmd, what mainline Linux does).")
@page_size_option
@click.option("--require", type=click.Choice(["ok", "tight"]), default="ok", show_default=True,
              help="Worst acceptable verdict: 'ok' fails a tight fit too, 'tight' fails only OOM "
                   "and wont-start.")
@click.option("--max-page-tables", type=PERCENT_OR_SIZE, default=None,
              help="Fail when physical page-table memory exceeds this size, or this percentage of host memory.")
@click.option("--view", type=click.Choice(["physical", "pagetables", "vmpte"]), default="physical",
              show_default=True,
              help="Which page-table figure --max-page-tables limits: physical (every table once, what decides an "
                   "OOM), pagetables (what /proc/meminfo PageTables counts on host.kernel) or vmpte (VmPTE summed "
                   "over every process).")
@click.option("--min-headroom", type=PERCENT_OR_SIZE, default=None,
              help="Fail when less than this much memory stays free (a size, or a percentage of "
                   "available memory = host.memory - host.reserved).")
@click.option("--junit", "junit", metavar="FILE", default=None,
              help="Also write a JUnit XML report to FILE (one testcase per file, scheme and condition).")
@model_options
@output_options("check")
@guarded
def command(workloads: tuple[str, ...], schemes: tuple[str, ...], page_size: int | None, require: str,
            max_page_tables: Limit | None, view: str, min_headroom: Limit | None, junit: str | None,
            file_cached_threshold: int | None, mshare_variant: str | None, fmt: Format, out: Output) -> None:
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
    page tables (of --view) <= the limit; with --min-headroom, free memory >= it.
    See docs/ci.md.
    """
    from ptcalc.model.check import CheckRun, FileResult, Thresholds, check_workload
    from ptcalc.model.evaluate import Options, evaluate
    from ptcalc.names import printable

    options = Options(schemes=tuple(s for s in SCHEMES if s in schemes) if schemes else ("hugetlb-pmd",),
                      columns=column_of(page_size), file_cached_threshold=file_cached_threshold,
                      mshare_variant=mshare_variant)
    if workloads.count("-") > 1:
        raise UsageError("check: '-' (standard input) is given more than once; it can be read only once")
    thresholds = Thresholds(require=require, max_page_tables=max_page_tables, min_headroom=min_headroom, view=view)
    results: list[FileResult] = []
    for path in workloads:
        shown = "<stdin>" if path == "-" else printable(path)  # (names are data: ptcalc.names)
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
    run = CheckRun(files=tuple(results), thresholds=thresholds, schemes=options.schemes, page_size=page_size)
    if junit is not None:
        from ptcalc.render import check_junit

        with writing(f"--junit {printable(junit)}"):
            check_junit.write(run, junit)
    emit(fmt, run, out)
    sys.exit(run.exit_status)
