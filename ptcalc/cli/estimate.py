"""``ptcalc estimate``: the comparison table and verdicts for each workload (host) of a file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ptcalc.cli._common import console_for, guarded, model_options, output_options, read_workloads, resolve_options
from ptcalc.errors import UsageError
from ptcalc.model.schemes import SCHEMES

if TYPE_CHECKING:
    from ptcalc.model.evaluate import Evaluation


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

    WORKLOAD is a YAML file, or - for standard input; a file of several YAML
    documents (--- between them, a host each) gets a summary and a report per
    host.  Exit status: 0 when the estimate was made (whatever the verdicts),
    2 on invalid input.
    """
    from ptcalc.model.evaluate import Options, evaluate

    workloads = read_workloads(workload)
    percent = None
    if headroom is not None:
        text = headroom.strip().rstrip("%")
        if not text.isdigit() or not 0 <= int(text) < 100:
            raise UsageError(f"--headroom: {headroom!r} is not a percentage from 0% to 99%")
        percent = int(text)
    chosen = tuple(s for s in SCHEMES if s in schemes) if schemes else SCHEMES
    threshold, variant = resolve_options(file_cached_threshold, mshare_variant)
    options = Options(schemes=chosen, file_cached_threshold=threshold, mshare_variant=variant,
                      headroom_percent=percent)
    reports = [evaluate(w, options) for w in workloads]
    if len(reports) > 1:
        _render_hosts(reports, "<stdin>" if workload == "-" else workload, fmt, color, width, ascii_only)
        return
    report = reports[0]
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


def _render_hosts(reports: list[Evaluation], source: str, fmt: str, color: str, width: int | None,
                  ascii_only: bool) -> None:
    """A file of several workloads (hosts): a summary, then each host's report."""
    if fmt == "json":
        from ptcalc.render import estimate_json

        click.echo(estimate_json.render_hosts(reports, source))
        return
    from ptcalc.render import estimate_hosts

    if fmt == "markdown":
        click.echo(estimate_hosts.render_markdown(reports, source))
    else:
        console, style = console_for(color, width, ascii_only)
        estimate_hosts.render_table(reports, source, console, style)
