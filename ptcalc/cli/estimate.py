"""``ptcalc estimate``: the comparison table and verdicts for each workload (host) of a file."""

from __future__ import annotations

import click

from ptcalc.cli._common import Output, emit, guarded, model_options, output_options, read_workloads
from ptcalc.cli.params import PERCENT
from ptcalc.model.schemes import SCHEMES
from ptcalc.render.registry import Format, same_format


@click.command("estimate")
@click.argument("workload", metavar="WORKLOAD.yaml")
@click.option("-s", "--scheme", "schemes", multiple=True, type=click.Choice(SCHEMES),
              help="Show only this scheme (repeatable; default: all four).")
@click.option("--headroom", type=PERCENT, default=None,
              help="Call a fit 'tight' when less than this much memory stays free (default 10%).")
@model_options
@output_options("estimate")
@guarded
def command(workload: str, schemes: tuple[str, ...], headroom: int | None, file_cached_threshold: int | None,
            mshare_variant: str | None, fmt: Format, out: Output) -> None:
    """Page-table memory of WORKLOAD under every scheme and page size, and OOM verdicts.

    WORKLOAD is a YAML file, or - for standard input; a file of several YAML
    documents (--- between them, a host each) gets a summary and a report per
    host.  Exit status: 0 when the estimate was made (whatever the verdicts),
    2 on invalid input.
    """
    from ptcalc.model.evaluate import Hosts, Options, evaluate

    options = Options(schemes=tuple(s for s in SCHEMES if s in schemes) if schemes else SCHEMES,
                      file_cached_threshold=file_cached_threshold, mshare_variant=mshare_variant,
                      headroom_percent=headroom)
    evaluations = tuple(evaluate(w, options) for w in read_workloads(workload))
    if len(evaluations) == 1:
        emit(fmt, evaluations[0], out)
    else:  # a file of several workloads (hosts): a summary, then each host's report
        emit(same_format(fmt, "estimate-hosts"), Hosts("<stdin>" if workload == "-" else workload, evaluations), out)
