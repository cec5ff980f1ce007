"""``ptcalc estimate``: the comparison table and verdicts for one workload."""

from __future__ import annotations

from dataclasses import replace

import click

from ptcalc.commands._common import (console_for, guarded, model_options, output_options, read_workload,
                                     resolve_options)
from ptcalc.errors import UsageError
from ptcalc.model import SCHEMES


@click.command("estimate")
@click.argument("workload", metavar="WORKLOAD.yaml")
@click.option("-s", "--scheme", "schemes", multiple=True, type=click.Choice(SCHEMES),
              help="Show only this scheme (repeatable; default: all four).")
@click.option("--headroom", metavar="PERCENT", default=None,
              help="Call a fit 'tight' when less than this much memory stays free (default 10%).")
@model_options
@output_options()
@guarded
def command(workload: str, schemes: tuple[str, ...], headroom: str | None, file_cached_threshold: str | None,
            mshare_variant: str | None, fmt: str, color: str, width: int | None, ascii_only: bool) -> None:
    """Page-table memory of WORKLOAD under every scheme and page size, and OOM verdicts.

    WORKLOAD is a YAML file, or - for standard input.  Exit status: 0 when the
    estimate was made (whatever the verdicts), 2 on invalid input.
    """
    from ptcalc.report import build_report

    w = read_workload(workload)
    if headroom is not None:
        text = headroom.strip().rstrip("%")
        if not text.isdigit() or not 0 <= int(text) < 100:
            raise UsageError(f"--headroom: {headroom!r} is not a percentage from 0% to 99%")
        w = replace(w, host=replace(w.host, headroom_percent=int(text)))
    options = resolve_options(w, file_cached_threshold, mshare_variant)
    chosen = tuple(s for s in SCHEMES if s in schemes) if schemes else SCHEMES
    report = build_report(w, options, chosen)
    if fmt == "json":
        from ptcalc.render import estimate_json

        click.echo(estimate_json.render(report))
    elif fmt == "markdown":
        from ptcalc.render import estimate_markdown

        click.echo(estimate_markdown.render(report))
    else:
        from ptcalc.render import estimate_table

        console, style = console_for(color, width, ascii_only)
        estimate_table.render(report, console, style)
