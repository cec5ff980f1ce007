"""Options and plumbing every sub-command shares: input, output format, errors."""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ptcalc.errors import PtcalcError, UsageError
from ptcalc.units import SizeError, parse_size
from ptcalc.workload.types import MSHARE_VARIANTS, ModelOptions, Workload

if TYPE_CHECKING:
    from ptcalc.render.console import Style

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 70


def read_workload(path: str, command: str) -> Workload:
    """Load a workload file of one document, or standard input for ``-``;
    a file of several documents (hosts) is an input error saying that
    ``command`` reads one."""
    from ptcalc.workload.loader import load_workload

    return _frozen(lambda: load_workload(path, command=command))


def read_workloads(path: str) -> list[Workload]:
    """Load every document (workload, host) of a file, or of standard input for ``-``."""
    from ptcalc.workload.loader import load_workloads

    return _frozen(lambda: load_workloads(path))


T = TypeVar("T")


def _frozen(load: Callable[[], T]) -> T:
    """What ``load`` reads, which lives until the command exits: the cyclic GC
    stays off while it is read, and its (up to millions of) objects are then
    moved out of the GC's sight (freeze) before the GC is back on -- else
    the first collection would walk every one of them, and later ones again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        out = load()
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
    return out


def guarded(func: F) -> F:
    """Turn input errors into one line on stderr and exit 2; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PtcalcError as e:
            click.echo(str(e), err=True)
            sys.exit(EXIT_INPUT)
        except KeyboardInterrupt:
            click.echo("ptcalc: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # stdout closed early (| head): not an error of ours
            os._exit(0)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # pragma: no cover - a bug: report it without a traceback
            if os.environ.get("PTCALC_DEBUG"):
                raise
            click.echo(f"ptcalc: internal error: {type(e).__name__}: {e} "
                       "(a bug; set PTCALC_DEBUG=1 for the traceback and please report it)", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


def output_options(formats: tuple[str, ...] = ("table", "json", "markdown")) -> Callable[[F], F]:
    """``-f/--format``, ``--color``, ``--width``, ``--ascii``."""

    def deco(func: F) -> F:
        func = click.option("--ascii", "ascii_only", is_flag=True,
                            help="ASCII borders and symbols only (survives e-mail and tickets).")(func)
        func = click.option("--width", type=click.IntRange(40, 1000), default=None,
                            help="Output width in columns (default: the terminal's, 120 in a pipe).")(func)
        func = click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
                            show_default=True, help="Colour the table output; NO_COLOR is respected.")(func)
        func = click.option("-f", "--format", "fmt", type=click.Choice(formats), default=formats[0],
                            show_default=True, help="Output format.")(func)
        return func

    return deco


def model_options(func: F) -> F:
    """``--file-cached-threshold`` and ``--mshare-variant``, overriding the workload's."""
    func = click.option("--mshare-variant", type=click.Choice(MSHARE_VARIANTS), default=None,
                        help="mshare v3 (P4D_SIZE regions: 512 GiB on x86-64; default) "
                             "or ptshare (PTE tables only).")(func)
    func = click.option("--file-cached-threshold", metavar="SIZE", default=None,
                        help="Smallest segment file-cached sharing applies to (default 2MiB).")(func)
    return func


def resolve_options(threshold: str | None, variant: str | None) -> tuple[int | None, str | None]:
    """``--file-cached-threshold`` in bytes and ``--mshare-variant``, None where not given."""
    if threshold is None:
        return None, variant
    try:
        return parse_size(threshold), variant
    except SizeError as e:
        raise UsageError(f"--file-cached-threshold: {e}") from None


def workload_options(w: Workload, threshold: str | None, variant: str | None) -> ModelOptions:
    """The workload's model options with the command line's overrides."""
    t, v = resolve_options(threshold, variant)
    opts = w.options
    if t is not None:
        opts = replace(opts, file_cached_threshold=t)
    if v is not None:
        opts = replace(opts, mshare_variant=v)
    return opts


def console_for(color: str, width: int | None, ascii_only: bool) -> tuple[Any, Style]:
    # rich is imported here, for table output only: JSON, CSV and markdown never load it
    from ptcalc.render.console import Style, make_console

    return make_console(color=color, width=width), Style(ascii_only=ascii_only)


def parse_percent_or_size(text: str, what: str) -> tuple[str, int]:
    """``10%`` -> ("percent", 10); ``64GiB`` -> ("bytes", ...)."""
    t = text.strip()
    if t.endswith("%"):
        try:
            value = int(t[:-1])
        except ValueError:
            raise UsageError(f"{what}: {text!r} is not a whole percentage like 10%") from None
        if not 0 <= value <= 100:
            raise UsageError(f"{what}: {text!r} must be between 0% and 100%")
        return "percent", value
    try:
        return "bytes", parse_size(t)
    except SizeError as e:
        raise UsageError(f"{what}: {e}") from None
