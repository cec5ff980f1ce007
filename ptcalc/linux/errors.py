"""What can go wrong on the Linux side, as types.

    error          raised when                                         who handles it
    -------------  --------------------------------------------------  ----------------------------
    ProcessGone    a process exited while its /proc files were read    scan skips it ("vanished");
                   (ENOENT with /proc/PID gone, ESRCH, a short          measure's readings retry
                   pagemap read)
    NoAccess       its /proc files are closed to us (EACCES, EPERM)    scan skips it ("permission
                                                                       denied")
    KernelError    the running kernel or machine cannot do what        the CLI: one line, exit 2
                   ``measure`` needs (no hugetlb size, not root, ...)
    Inconclusive   a KernelError: the machine was too busy for the      measure's CLI: one line, exit 3
                   calibration to read a figure it could trust
    WorkerError    a worker of ``scan --jobs N`` died or failed         the CLI: one line, exit 2
                   (``ptcalc.linux.scan_jobs``)

``ProcessGone`` and ``NoAccess`` are raised in one place,
``ptcalc.linux.procfs.ProcFS`` (like psutil's ``wrap_exceptions``); nothing
else turns an ``OSError`` of a process's files into them.
"""

from __future__ import annotations

from ptcalc.errors import PtcalcError


class ProcessError(Exception):
    """A file of process ``pid`` could not be read: ``path`` (as under the
    real /proc) and ``reason`` (the strerror, or what went wrong)."""

    def __init__(self, pid: int | str, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.pid = pid
        self.path = path
        self.reason = reason


class ProcessGone(ProcessError):
    """The process exited while we read it."""


class NoAccess(ProcessError):
    """The process's files are not readable to us."""


class KernelError(PtcalcError):
    """The running kernel or machine cannot do what ``measure`` needs (exit 2)."""


class Inconclusive(KernelError):
    """The machine was too busy to read a figure that could be trusted (the
    calibration): ``ptcalc measure`` exits 3, as for an inconclusive verdict."""


class WorkerError(PtcalcError):
    """A reading worker of ``ptcalc scan --jobs N`` died (killed, out of memory)
    or failed: which one, and the process it was reading (exit 2, one line)."""
