"""Which renderer writes which command's result in which ``--format``: the one registry.

A command never branches on its format: ``--format`` is a
:class:`ptcalc.cli.params.FormatChoice` whose value is the :class:`Format`
chosen here, and the command hands its result to it (``cli._common.emit``),
as pip-audit's ``OutputFormatChoice.to_format()`` picks a formatter.  A
format is a function of one renderer module, imported when it is chosen (so
that JSON never imports rich): it returns the text to write (or its pieces), or, for the
``console`` formats (tables), prints to a rich Console in a :class:`Style`.
Adding a format is a line here and a module in ``ptcalc/render``.

    command          result                             formats
    ---------------  ---------------------------------  --------------------
    estimate         model.evaluate.Evaluation          table json markdown openmetrics
    estimate-hosts   model.evaluate.Hosts               table json markdown openmetrics
    explain          model.explain.Explanation          table json markdown
    sweep            model.sweep.SweepResult            table csv json
    check            model.check.CheckRun               text json openmetrics
    measure          linux.measure.MeasureResult        table json markdown
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Format:
    """One output format of one command."""

    name: str
    module: str
    """The renderer module, in ``ptcalc.render``."""
    function: str = "render"
    console: bool = False
    """The function prints to a rich Console (``function(result, console, style)``);
    else it returns the text (``function(result) -> str``), or its pieces in
    order (an iterable of str: ``cli._common.emit`` writes them as they come)."""

    def renderer(self) -> Callable[..., Any]:
        module = importlib.import_module(f"ptcalc.render.{self.module}")
        fn: Callable[..., Any] = getattr(module, self.function)
        return fn


FORMATS: dict[str, tuple[Format, ...]] = {
    "estimate": (Format("table", "estimate_table", console=True), Format("json", "estimate_json", "render_pieces"),
                 Format("markdown", "estimate_markdown"), Format("openmetrics", "openmetrics")),
    "estimate-hosts": (Format("table", "estimate_hosts", "render_table", console=True),
                       Format("json", "estimate_json", "render_hosts"),
                       Format("markdown", "estimate_hosts", "render_markdown"),
                       Format("openmetrics", "openmetrics", "render_hosts")),
    "explain": (Format("table", "explain_table", console=True), Format("json", "explain_json"),
                Format("markdown", "explain_markdown")),
    "sweep": (Format("table", "sweep_table", console=True), Format("csv", "sweep_csv"), Format("json", "sweep_json")),
    "check": (Format("text", "check_text", console=True), Format("json", "check_json"),
              Format("openmetrics", "openmetrics", "render_check")),
    "measure": (Format("table", "measure_table", console=True), Format("json", "measure_json"),
                Format("markdown", "measure_markdown")),
}
"""Per command, its formats; the first is the default."""


def formats(command: str) -> tuple[Format, ...]:
    return FORMATS[command]


def same_format(fmt: Format, command: str) -> Format:
    """The format of the same name for another command (estimate of one
    host or of several).

    >>> same_format(formats("estimate")[1], "estimate-hosts").function
    'render_hosts'
    """
    return next(f for f in formats(command) if f.name == fmt.name)
