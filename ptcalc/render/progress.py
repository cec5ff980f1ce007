"""The progress bar ``ptcalc scan`` shows on standard error while it reads.

Shown only on a terminal, and only once the scan has taken longer than
:data:`DELAY` seconds (a quick scan prints nothing); it disappears when the
scan ends.  ``ptcalc scan --quiet`` does without it.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

DELAY = 1.0
"""Seconds a scan runs before its progress bar appears."""


class ScanProgress:
    """A ``progress(done, total)`` callback for ``ptcalc.linux.scan.scan``; a context manager."""

    def __init__(self, stream: IO[str] | None = None, delay: float = DELAY) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        self.start = time.monotonic()
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.start < self.delay or not self.stream.isatty():
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("ptcalc scan: reading processes"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(file=self.stream), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("scan", total=total)
        assert self.task is not None
        self.bar.update(self.task, completed=done, total=total)

    def __enter__(self) -> ScanProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.stop()
