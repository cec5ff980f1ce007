"""``ptcalc explain``: why page tables are (not) shared, and what would share them."""

from __future__ import annotations

import click

from ptcalc.cli._choose import page_size_option, parse_page_size
from ptcalc.cli._common import console_for, guarded, model_options, output_options, read_workload, resolve_options
from ptcalc.model.schemes import SCHEMES


@click.command("explain")
@click.argument("workload", metavar="WORKLOAD.yaml")
@click.option("-s", "--scheme", type=click.Choice(SCHEMES), default="hugetlb-pmd", show_default=True,
              help="Scheme to explain (default: what mainline Linux does).")
@page_size_option
@model_options
@output_options()
@guarded
def command(workload: str, scheme: str, page_size: str, file_cached_threshold: str | None,
            mshare_variant: str | None, fmt: str, color: str, width: int | None, ascii_only: bool) -> None:
    """Per group and mapping: the page tables per level, which are shared and with whom,
    and for each part that is not shared the rule that stopped it and the smallest change
    that would let it share (with what it saves, computed by the model).

    WORKLOAD is a YAML file, or - for standard input.  Exit status: 0 when the
    explanation was made, 2 on invalid input.
    """
    from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
    from ptcalc.model.explain import explain

    ps = parse_page_size(page_size)
    threshold, variant = resolve_options(file_cached_threshold, mshare_variant)
    w = read_workload(workload, "ptcalc explain")
    ev = evaluate(w, Options(schemes=(scheme,), columns=CONFIGURED if ps is None else ps,
                             file_cached_threshold=threshold, mshare_variant=variant))
    e = explain(ev.selected_cell(scheme))
    if fmt == "json":
        from ptcalc.render import explain_json

        click.echo(explain_json.render(e))
    elif fmt == "markdown":
        from ptcalc.render import explain_markdown

        click.echo(explain_markdown.render(e))
    else:
        from ptcalc.render import explain_table

        console, style = console_for(color, width, ascii_only)
        explain_table.render(e, console, style)
