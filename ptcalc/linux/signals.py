"""SIGINT, SIGTERM and SIGHUP while ``measure`` has the machine changed.

``measure`` raises hugetlb pools, changes THP settings and forks thousands of
processes; a signal must not leave any of that behind.

    helper                  inside the block
    ----------------------  ------------------------------------------------------------
    signals_as_exceptions   SIGINT/SIGTERM/SIGHUP raise ``Interrupted`` (cleanup runs as
                            it unwinds; exit status 128 + the signal number)
    signals_deferred        they are noted, not acted on, until the block ends (cleanup
                            that must finish: reaping, restoring tunables)
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; cleanup runs as the exception unwinds.

    A BaseException, like KeyboardInterrupt, so no ``except Exception``
    swallows it.  ``exit_status`` is 128 + the signal number (130, 143).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


CLEANUP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _cleanup_signals_to(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` takes SIGINT, SIGTERM and SIGHUP inside the block; the
    original handlers are back when the block exits."""
    old = {s: signal.getsignal(s) for s in CLEANUP_SIGNALS}
    for s in CLEANUP_SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into ``Interrupted`` inside the block.

    Without this SIGTERM would kill the process with the hugetlb pools still
    raised.  The original handlers are back when the block exits.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    with _cleanup_signals_to(handler):
        yield


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP off in the block (cleanup that must
    finish); one that arrived meanwhile is raised again when the block ends.

    Python handlers always run in the main thread, but with helper threads
    about (numpy's BLAS) the kernel may deliver the signal to any of them, so
    blocking it with pthread_sigmask in this thread would not hold it off:
    the handlers are swapped for ones that only take note instead.
    """
    pending: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    try:
        with _cleanup_signals_to(note):
            yield
    finally:
        if pending:
            signal.raise_signal(pending[0])
