"""``ptcalc schema``: print the JSON Schema of the workload format."""

from __future__ import annotations

import click

from ptcalc.cli._common import guarded, writing


@click.command("schema")
@click.option("--path", "path", is_flag=True,
              help="Print where the schema file of this installation is, instead of the schema.")
@guarded
def command(path: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of a workload file.

    Made from ptcalc's description of every key: editors use it to complete
    and check workload files as they are written (yaml-language-server in VS
    Code or Neovim), CI to check them with check-jsonschema. A file of several
    documents is valid when each is. The schema checks keys, kinds of value,
    choices and required keys; `ptcalc estimate` still checks the rest (page
    alignment, sizes against segments) with a located message.
    """
    from ptcalc.workload.schema import schema_text, shipped_path

    with writing("standard output"):
        if path:
            click.echo(shipped_path())
        else:
            click.echo(schema_text(), nl=False)
