"""``ptcalc sweep``: page-table memory and verdicts as the process count or a segment grows."""

from __future__ import annotations

import click

from ptcalc.cli._common import (Output, column_of, emit, guarded, model_options, output_options, page_size_option,
                                read_workload)
from ptcalc.cli.params import RANGE, SIZE_RANGE
from ptcalc.errors import UsageError
from ptcalc.model.schemes import SCHEMES
from ptcalc.render.registry import Format

Range = tuple[int, int, "int | None"]


@click.command("sweep")
@click.argument("workload", metavar="WORKLOAD.yaml")
@click.option("--processes", type=RANGE, default=None,
              help="Sweep the total process count from START (at least 1) to STOP (all groups scaled by one "
                   "factor, or only --group).")
@click.option("--size", "size", type=SIZE_RANGE, default=None,
              help="Sweep the size of a segment, e.g. 100GiB:1TiB:100GiB (at most 1,000 points).")
@click.option("--segment", default=None, help="The segment --size resizes (needed when there are several).")
@click.option("--group", default=None, help="With --processes: grow only this group; the others keep their counts.")
@click.option("-s", "--scheme", "schemes", multiple=True, type=click.Choice(SCHEMES),
              help="Show only this scheme (repeatable; default: all four).")
@page_size_option
@model_options
@output_options("sweep")
@guarded
def command(workload: str, processes: Range | None, size: Range | None, segment: str | None, group: str | None,
            schemes: tuple[str, ...], page_size: int | None, file_cached_threshold: int | None,
            mshare_variant: str | None, fmt: Format, out: Output) -> None:
    """Page-table memory, demand and verdict per scheme as WORKLOAD grows, and the exact
    process count (or segment size) at which each scheme first stops fitting.

    \b
    Give one of --processes or --size.  Without STEP, the smallest round step
    giving at most 100 process counts (often about 50) or 20 sizes; with STEP,
    at most 1,000,000 counts or 1,000 sizes.  The table shows a sample, --format
    csv|json every point.  WORKLOAD is a YAML file, or - for standard input.  Exit status: 0
    when the sweep was made (whatever the verdicts), 2 on invalid input.
    """
    from ptcalc.model.evaluate import Options, evaluate
    from ptcalc.model.sweep import DEFAULT_COUNT_POINTS, MAX_COUNT_POINTS, grid, sweep_processes, sweep_size

    if (processes is None) == (size is None):
        raise UsageError("sweep: give exactly one of --processes START:STOP[:STEP] or --size START:STOP[:STEP]")
    if group is not None and processes is None:
        raise UsageError("--group goes with --processes")
    if segment is not None and size is None:
        raise UsageError("--segment goes with --size")
    points = grid(*processes, DEFAULT_COUNT_POINTS, MAX_COUNT_POINTS, "processes") if processes else None
    ev = evaluate(read_workload(workload, "ptcalc sweep"),
                  Options(schemes=tuple(s for s in SCHEMES if s in schemes) if schemes else SCHEMES,
                          columns=column_of(page_size), file_cached_threshold=file_cached_threshold,
                          mshare_variant=mshare_variant))
    if points is not None:
        emit(fmt, sweep_processes(ev, points, group), out)
    else:
        assert size is not None
        emit(fmt, sweep_size(ev, segment, *size), out)
