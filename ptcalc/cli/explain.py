"""``ptcalc explain``: why page tables are (not) shared, and what would share them."""

from __future__ import annotations

import click

from ptcalc.cli._common import (Output, column_of, emit, gc_off, guarded, kept, model_options, output_options,
                                page_size_option, read_workload)
from ptcalc.model.schemes import SCHEMES
from ptcalc.render.registry import Format


@click.command("explain")
@click.argument("workload", metavar="WORKLOAD.yaml")
@click.option("-s", "--scheme", type=click.Choice(SCHEMES), default="hugetlb-pmd", show_default=True,
              help="Scheme to explain (default: what mainline Linux does).")
@page_size_option
@model_options
@output_options("explain")
@guarded
def command(workload: str, scheme: str, page_size: int | None, file_cached_threshold: int | None,
            mshare_variant: str | None, fmt: Format, out: Output) -> None:
    """Per group and mapping: the page tables per level, which are shared and with whom,
    and for each part that is not shared the rule that stopped it and the smallest change
    that would let it share (with what it saves, computed by the model).

    WORKLOAD is a YAML file, or - for standard input.  Exit status: 0 when the
    explanation was made, 2 on invalid input.
    """
    from ptcalc.model.evaluate import Options, evaluate
    from ptcalc.model.explain import explain

    ev = evaluate(read_workload(workload, "ptcalc explain"),
                  Options(schemes=(scheme,), columns=column_of(page_size), file_cached_threshold=file_cached_threshold,
                          mshare_variant=mshare_variant))
    e = kept(lambda: explain(ev.selected_cell(scheme)))
    with gc_off():
        emit(fmt, e, out)
