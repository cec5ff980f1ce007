"""Options and plumbing every sub-command shares: input, output format and writing, errors."""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ptcalc.cli.params import PAGE_SIZE, SIZE, WIDTH, FormatChoice
from ptcalc.errors import OutputError, ParameterError, PtcalcError
from ptcalc.model.whatif import CONFIGURED
from ptcalc.render.registry import Format, formats
from ptcalc.workload.types import MSHARE_VARIANTS, Workload

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 70
EXIT_OUTPUT = 74
"""An output could not be written (EX_IOERR): a full disk, a file that cannot be created."""


@contextmanager
def writing(what: str) -> Iterator[None]:
    """Turn a failure to write ``what`` into an :class:`OutputError`.  A closed
    pipe (``| head``) is no failure: the reader has what it wanted, the rest
    is dropped without a word, and the command ends with the status it would
    have had (check's and measure's verdicts included).  (Python itself drops
    the rest of a write the reader left in the middle of without an error, so
    no other status could be given consistently.)"""
    try:
        yield
    except BrokenPipeError:
        _discard_stdout()
    except OSError as e:
        if what == "standard output":
            _discard_stdout()
        raise OutputError(what, e) from None


def _flush_stdout() -> None:
    stdout = sys.stdout
    if stdout is not None:
        with writing("standard output"):
            stdout.flush()


def _discard_stdout() -> None:
    """Send whatever is still to be written to standard output to /dev/null
    (else the interpreter's last flush fails again and exits with status 120)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (click's CliRunner)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


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


@contextmanager
def gc_off() -> Iterator[None]:
    """The cyclic GC off for a while (rendering a large explanation: its
    100,000 findings' JSON objects would set off collections that walk
    every one made so far)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def kept(make: Callable[[], T]) -> T:
    """What ``make`` computes, which lives until the command exits (a large
    explanation: 100,000 mappings' attribution and findings), made with the
    cyclic GC off and then frozen, as a workload is read (``_frozen``)."""
    return _frozen(make)


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
    """Turn input errors into one line on stderr and exit 2; never a traceback.

    A ParameterError (a value that does not fit the workload) is reported by
    click against the option it came from: ``Invalid value for '--group': ...``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            try:
                return func(*args, **kwargs)
            finally:
                _flush_stdout()  # a full disk shows here, not in the interpreter's last flush
        except ParameterError as e:
            raise click.BadParameter(e.message, param_hint=f"'--{e.param.replace('_', '-')}'") from None
        except PtcalcError as e:
            click.echo(str(e), err=True)
            sys.exit(EXIT_INPUT)
        except KeyboardInterrupt:
            click.echo("ptcalc: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # pragma: no cover - every write to stdout is inside writing()
            _discard_stdout()
            sys.exit(EXIT_OK)
        except OutputError as e:
            click.echo(f"ptcalc: {e.message}", err=True)
            sys.exit(EXIT_OUTPUT)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # pragma: no cover - a bug: report it without a traceback
            if os.environ.get("PTCALC_DEBUG"):
                raise
            click.echo(f"ptcalc: internal error: {type(e).__name__}: {e} "
                       "(a bug; set PTCALC_DEBUG=1 for the traceback and please report it)", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Output:
    """Where and how results are written: stdout, ``--color``, ``--width``, ``--ascii``."""

    color: str = "auto"
    width: int | None = None
    ascii_only: bool = False


def output_options(command: str) -> Callable[[F], F]:
    """``-f/--format`` (the formats ``command``'s renderers know), ``--color``,
    ``--width`` and ``--ascii``; the command gets ``fmt`` (a Format) and ``out``
    (an Output)."""

    def deco(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, color: str, width: int | None, ascii_only: bool, **kwargs: Any) -> Any:
            return func(*args, out=Output(color=color, width=width, ascii_only=ascii_only), **kwargs)

        f: Any = wrapper
        f = click.option("--ascii", "ascii_only", is_flag=True,
                         help="ASCII borders and symbols only (survives e-mail and tickets).")(f)
        f = click.option("--width", type=WIDTH, default=None, metavar="N",
                         help="Output width in columns (default: the terminal's; in a pipe $COLUMNS, else 120).")(f)
        f = click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
                         show_default=True, help="Colour the table output; NO_COLOR is respected.")(f)
        f = click.option("-f", "--format", "fmt", type=FormatChoice(command), default=formats(command)[0].name,
                         show_default=True, help="Output format.")(f)
        return f  # type: ignore[no-any-return]

    return deco


def emit(fmt: Format, result: Any, out: Output) -> None:
    """Write ``result`` to stdout in format ``fmt``: its renderer's text (a str,
    or an iterable of its pieces), or its rich tables (rich is imported here, for table output only)."""
    render = fmt.renderer()
    with writing("standard output"):
        if fmt.console:
            from ptcalc.render.console import Style, make_console

            render(result, make_console(color=out.color, width=out.width), Style(ascii_only=out.ascii_only))
        else:
            text = render(result)
            if isinstance(text, str):
                click.echo(text)
            else:  # pieces, written as they come (a large JSON report is never held whole)
                for piece in text:
                    click.echo(piece, nl=False)
                click.echo()


def model_options(func: F) -> F:
    """``--file-cached-threshold`` and ``--mshare-variant``, overriding the workload's."""
    func = click.option("--mshare-variant", type=click.Choice(MSHARE_VARIANTS), default=None,
                        help="mshare v3 (P4D_SIZE regions: 512 GiB on x86-64; default) "
                             "or ptshare (PTE tables only).")(func)
    func = click.option("--file-cached-threshold", type=SIZE, default=None,
                        help="Smallest segment file-cached sharing applies to (default 2MiB).")(func)
    return func


PAGE_SIZE_HELP = ("Page size to evaluate: 'configured' (the workload as written, the default) or a "
                  "page size such as 4KiB, 2MiB or 1GiB for that what-if column (shmem/hugetlb "
                  "segments moved to those pages, as in estimate).")


def page_size_option(func: F) -> F:
    """``--page-size configured|SIZE``: the command gets None (configured) or bytes."""
    return click.option("--page-size", "page_size", type=PAGE_SIZE, default="configured", show_default=True,
                        help=PAGE_SIZE_HELP)(func)  # type: ignore[no-any-return]


def column_of(page_size: int | None) -> str | int:
    """The evaluation's column selection for ``--page-size``."""
    return CONFIGURED if page_size is None else page_size
