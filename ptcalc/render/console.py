"""The rich Console every table renderer prints to: colour, width, box style."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import IO

from rich import box
from rich.console import Console

VERDICT_STYLE: dict[str, str] = {
    "ok": "bold green",
    "tight": "bold yellow",
    "oom": "bold red",
    "wont-start": "bold magenta",
}

DEFAULT_WIDTH = 120
"""Width when stdout is not a terminal (pipes, CI logs, tickets) and
``$COLUMNS`` does not say another."""


def pipe_width() -> int:
    """The width of output that is not a terminal: ``$COLUMNS`` when it is a
    width ``--width`` accepts (40 to 1000; ``COLUMNS=80 ptcalc ... | less``),
    else :data:`DEFAULT_WIDTH`."""
    text = os.environ.get("COLUMNS", "").strip()
    if text.isascii() and text.isdigit() and 40 <= int(text) <= 1000:
        return int(text)
    return DEFAULT_WIDTH


@dataclass(frozen=True)
class Style:
    """How a table renderer draws: borders and the few non-ASCII glyphs."""

    ascii_only: bool = False

    @property
    def box(self) -> box.Box:
        # ASCII borders survive e-mail and ticket systems.
        return box.ASCII2 if self.ascii_only else box.ROUNDED

    @property
    def star(self) -> str:
        return "*" if self.ascii_only else "★"

    @property
    def times(self) -> str:
        return "x" if self.ascii_only else "×"

    @property
    def arrow(self) -> str:
        return "->" if self.ascii_only else "→"

    @property
    def dash(self) -> str:
        return "-" if self.ascii_only else "—"


class _Console(Console):
    """rich's Console, but a closed pipe is left to the command line
    (``cli._common.guarded``: status 141 for every command and format)
    rather than ended here with status 1."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def make_console(color: str = "auto", width: int | None = None, file: IO[str] | None = None) -> Console:
    """A Console honouring ``--color auto|always|never``, NO_COLOR and ``--width``.

    ``auto`` colours only a terminal, and not when NO_COLOR is set
    (https://no-color.org); ``always`` colours even a pipe.
    """
    out = file if file is not None else sys.stdout
    is_tty = bool(getattr(out, "isatty", lambda: False)())
    if color == "always":
        force: bool | None = True
        no_color = False
    elif color == "never":
        force, no_color = False, True
    else:
        force, no_color = None, bool(os.environ.get("NO_COLOR"))
    return _Console(
        file=out,
        force_terminal=force,
        no_color=no_color,
        color_system=None if no_color else "auto",
        width=width or (None if is_tty else pipe_width()),
        emoji=False,
        highlight=False,
        markup=False,  # names are data: "[bold]" in a name prints as written (ptcalc.names)
        soft_wrap=False,
    )


def verdict_text(verdict: str | None) -> tuple[str, str]:
    """(label, style) for a verdict; ``n/a`` when host memory is not given."""
    if verdict is None:
        return "n/a", "dim"
    return verdict.upper(), VERDICT_STYLE[verdict]
