"""Errors a user can cause, located in the file they wrote.

Every problem with a workload is reported as one line::

    configs/bad.yaml:12:15: processes[0].mappings[0].offset: 4097 is not a multiple of the page size (4 KiB)

and exit status 2.  Nothing else the user controls may raise anything but a
``PtcalcError``; the CLI turns these into that line.
"""

from __future__ import annotations


class PtcalcError(Exception):
    """Base of every error that is the input's fault (exit status 2)."""


class WorkloadError(PtcalcError):
    """A problem with a workload file, located by file:line:column and key path."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "<workload>",
        line: int | None = None,
        column: int | None = None,
        keypath: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        self.keypath = keypath

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        path = f" {self.keypath}:" if self.keypath else ""
        return f"{where}:{path} {self.message}"


class OutputError(Exception):
    """An output could not be written: standard output on a full disk, a
    ``--junit`` or ``-o`` file that cannot be created (exit status 74, EX_IOERR
    of sysexits.h).  A closed pipe (``| head``) is not one: the rest of the
    output is dropped quietly and the command keeps its own exit status."""

    def __init__(self, what: str, error: OSError) -> None:
        super().__init__(f"cannot write {what}: {error.strerror or error}")
        self.what = what
        self.message = str(self)


class UsageError(PtcalcError):
    """A bad command-line argument (exit status 2)."""


class ParameterError(UsageError):
    """A value given for one of a computation's parameters does not fit the
    workload (exit status 2).  ``param`` names the parameter as the model
    calls it (``group``, ``segment``, ``size``, ``processes``, ``page_size``);
    the command line reports it against its option (``--page-size``)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message
