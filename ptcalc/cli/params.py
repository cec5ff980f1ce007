"""click parameter types: the command line's values, typed before a command runs.

Each turns the text an operator typed into the value the model takes, or
fails through click's own machinery (``Invalid value for '--size': ...``,
exit status 2), as check-jsonschema's ``cli/param_types.py`` does.

    type              accepts                                   gives
    ----------------  ----------------------------------------  ------------------------------
    SIZE              300GiB, 8GB, 512K, 4096                   bytes (int)
    RANGE / SIZE_RANGE  START:STOP[:STEP]: counts / sizes       (start, stop, step or None)
    PERCENT           10 or 10% (0 to 99)                       int
    PERCENT_OR_SIZE   10% (of a base) or a size                 check.Limit
    PAGE_SIZE         configured, 2MiB, 2MiB-hugetlb            bytes, or None for configured
    WIDTH             40 to 1000 columns                        int
    FormatChoice      a format the command's renderers know     render.registry.Format
    SCHEMA_REF        installed, none, a URL or a path          what a modeline names, or None
    JOBS              auto or a count (1 or more)               int, or None for auto
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ptcalc.render.registry import Format, formats
from ptcalc.units import SizeError, parse_size

if TYPE_CHECKING:
    from ptcalc.model.check import Limit


class Size(click.ParamType):
    """A size in bytes: binary units (``K``, ``KiB`` and ``KB`` all mean 1024)."""

    name = "size"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except SizeError as e:
            self.fail(str(e), param, ctx)


class Range(click.ParamType):
    """``START:STOP[:STEP]`` of process counts (``sizes`` false) or of sizes."""

    name = "range"

    def __init__(self, sizes: bool) -> None:
        self.sizes = sizes

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "START:STOP[:STEP]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> tuple[int, int, int | None]:
        if isinstance(value, tuple):
            return value
        parts = str(value).split(":")
        if len(parts) not in (2, 3) or any(not p.strip() for p in parts):
            example = "100GiB:1TiB[:100GiB]" if self.sizes else "100:20000[:100]"
            self.fail(f"{value!r} is not START:STOP[:STEP] (e.g. {example})", param, ctx)
        values: list[int] = []
        for p in parts:
            p = p.strip().replace("_", "").replace(",", "")
            if self.sizes:
                try:
                    values.append(parse_size(p))
                except SizeError as e:
                    self.fail(str(e), param, ctx)
            else:
                if not p.isdigit():
                    self.fail(f"{p!r} is not a whole number of processes", param, ctx)
                values.append(int(p))
        start, stop = values[0], values[1]
        step = values[2] if len(values) == 3 else None
        if not self.sizes and start < 1:
            self.fail(f"START must be at least 1 process, got {parts[0].strip()} (a workload has processes)",
                      param, ctx)
        if stop < start:
            self.fail(f"STOP ({parts[1].strip()}) is below START ({parts[0].strip()})", param, ctx)
        if step is not None and step <= 0:
            self.fail("STEP must be positive", param, ctx)
        return start, stop, step


class Percent(click.ParamType):
    """A whole percentage, ``10`` or ``10%``, from 0 up to ``below``."""

    name = "percent"

    def __init__(self, below: int = 100) -> None:
        self.below = below

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "PERCENT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().rstrip("%")
        if not text.isdigit() or not 0 <= int(text) < self.below:
            self.fail(f"{value!r} is not a percentage from 0% to {self.below - 1}%", param, ctx)
        return int(text)


class PercentOrSize(click.ParamType):
    """``10%`` (of a base the condition names) or a size: a ``check.Limit``."""

    name = "percent-or-size"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "SIZE|PERCENT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Limit:
        from ptcalc.model.check import Limit

        if isinstance(value, Limit):
            return value
        t = str(value).strip()
        if t.endswith("%"):
            try:
                percent = int(t[:-1])
            except ValueError:
                self.fail(f"{value!r} is not a whole percentage like 10%", param, ctx)
            if not 0 <= percent <= 100:
                self.fail(f"{value!r} must be between 0% and 100%", param, ctx)
            return Limit(kind="percent", value=percent, text=t)
        try:
            return Limit(kind="bytes", value=parse_size(t), text=t)
        except SizeError as e:
            self.fail(str(e), param, ctx)


class PageSize(click.ParamType):
    """``configured`` (None: the workload as written) or a page size, for that
    what-if column (``2MiB`` and ``2MiB-hugetlb``, as estimate's column keys,
    both name it)."""

    name = "page-size"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "configured|SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        t = str(value).strip()
        if t.lower() == "configured":
            return None
        if t.lower().endswith("-hugetlb"):
            t = t[: -len("-hugetlb")]
        try:
            return parse_size(t)
        except SizeError as e:
            self.fail(f"{e} (or 'configured')", param, ctx)


class FormatChoice(click.Choice):  # type: ignore[type-arg]
    """The output formats of one command's renderers (``ptcalc.render.registry``):
    the value is the :class:`Format` that renders it."""

    def __init__(self, command: str) -> None:
        self.command = command
        super().__init__([f.name for f in formats(command)])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Format:
        if isinstance(value, Format):
            return value
        name = super().convert(value, param, ctx)
        return next(f for f in formats(self.command) if f.name == name)


class SchemaRef(click.ParamType):
    """What a ``# yaml-language-server: $schema=`` modeline names: ``installed``
    (the schema file of this ptcalc installation, by absolute path), ``none``
    (no modeline: None), or a URL or path as given (a relative path is relative
    to the file written).  yaml-language-server reads the value up to the
    first blank, so it may hold none."""

    name = "schema"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "installed|none|URL|PATH"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str | None:
        if value is None:
            return None
        t = str(value).strip()
        if t == "none":
            return None
        if t == "installed":
            from pathlib import Path

            from ptcalc.workload.schema import shipped_path

            path = shipped_path()
            return path if not any(c.isspace() for c in path) else Path(path).as_uri()
        if not t or any(c.isspace() for c in t):
            self.fail(f"{value!r}: a modeline's schema cannot hold a blank (write a path with blanks as a "
                      "file:// URL, with %20)", param, ctx)
        return t


class Jobs(click.IntRange):
    """``auto`` (None: the command decides) or a number of processes, 1 or more."""

    name = "jobs"

    def __init__(self) -> None:
        super().__init__(min=1)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or str(value).strip() == "auto":
            return None
        if not isinstance(value, int) and not str(value).strip().isdigit():
            self.fail(f"{value!r} is neither auto nor a number of processes (1 or more)", param, ctx)
        return super().convert(value, param, ctx)


SIZE = Size()
RANGE = Range(sizes=False)
SIZE_RANGE = Range(sizes=True)
PERCENT = Percent(below=100)
PERCENT_OR_SIZE = PercentOrSize()
PAGE_SIZE = PageSize()
WIDTH = click.IntRange(40, 1000)
SCHEMA_REF = SchemaRef()
JOBS = Jobs()
