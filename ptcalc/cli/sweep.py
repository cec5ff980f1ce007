"""``ptcalc sweep``: page-table memory and verdicts as the process count or a segment grows."""

from __future__ import annotations

import click

from ptcalc.cli._choose import page_size_option, parse_page_size
from ptcalc.cli._common import console_for, guarded, model_options, output_options, read_workload, resolve_options
from ptcalc.errors import UsageError
from ptcalc.model.schemes import SCHEMES


@click.command("sweep")
@click.argument("workload", metavar="WORKLOAD.yaml")
@click.option("--processes", metavar="START:STOP[:STEP]", default=None,
              help="Sweep the total process count (all groups scaled by one factor, or only --group).")
@click.option("--size", "size", metavar="START:STOP[:STEP]", default=None,
              help="Sweep the size of a segment, e.g. 100GiB:1TiB:100GiB (at most 1,000 points).")
@click.option("--segment", default=None, help="The segment --size resizes (needed when there are several).")
@click.option("--group", default=None, help="With --processes: grow only this group; the others keep their counts.")
@click.option("-s", "--scheme", "schemes", multiple=True, type=click.Choice(SCHEMES),
              help="Show only this scheme (repeatable; default: all four).")
@page_size_option
@model_options
@output_options(("table", "csv", "json"))
@guarded
def command(workload: str, processes: str | None, size: str | None, segment: str | None, group: str | None,
            schemes: tuple[str, ...], page_size: str, file_cached_threshold: str | None,
            mshare_variant: str | None, fmt: str, color: str, width: int | None, ascii_only: bool) -> None:
    """Page-table memory, demand and verdict per scheme as WORKLOAD grows, and the exact
    process count (or segment size) at which each scheme first stops fitting.

    \b
    Give one of --processes or --size.  Without STEP, about 100 process counts
    (20 sizes) evenly spaced; the table shows a sample, --format csv|json every
    point.  WORKLOAD is a YAML file, or - for standard input.  Exit status: 0
    when the sweep was made (whatever the verdicts), 2 on invalid input.
    """
    from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
    from ptcalc.model.sweep import DEFAULT_COUNT_POINTS, MAX_COUNT_POINTS, grid, parse_range, sweep_processes, sweep_size

    if (processes is None) == (size is None):
        raise UsageError("sweep: give exactly one of --processes START:STOP[:STEP] or --size START:STOP[:STEP]")
    if group is not None and processes is None:
        raise UsageError("--group goes with --processes")
    if segment is not None and size is None:
        raise UsageError("--segment goes with --size")
    chosen = tuple(s for s in SCHEMES if s in schemes) if schemes else SCHEMES
    ps = parse_page_size(page_size)
    if processes is not None:
        start, stop, step = parse_range(processes, "--processes", sizes=False)
        points = grid(start, stop, step, DEFAULT_COUNT_POINTS, MAX_COUNT_POINTS, "--processes")
    else:
        start, stop, step = parse_range(size, "--size", sizes=True)  # type: ignore[arg-type]
    threshold, variant = resolve_options(file_cached_threshold, mshare_variant)
    w = read_workload(workload, "ptcalc sweep")
    ev = evaluate(w, Options(schemes=chosen, columns=CONFIGURED if ps is None else ps,
                             file_cached_threshold=threshold, mshare_variant=variant))
    if processes is not None:
        result = sweep_processes(ev, points, group)
    else:
        result = sweep_size(ev, segment, start, stop, step)
    if fmt == "json":
        from ptcalc.render import sweep_json

        click.echo(sweep_json.render(result))
    elif fmt == "csv":
        from ptcalc.render import sweep_csv

        click.echo(sweep_csv.render(result))
    else:
        from ptcalc.render import sweep_table

        console, style = console_for(color, width, ascii_only)
        sweep_table.render(result, console, style)
