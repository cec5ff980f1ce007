"""What a running ``measure`` has changed, kept on disk, so that a later run
can put it back after the first was killed with SIGKILL.

SIGINT, SIGTERM and SIGHUP are caught and everything is put back as the
exception unwinds (``ptcalc.linux.signals``); the measuring processes die
with ptcalc (PR_SET_PDEATHSIG), and their memfds with them.  SIGKILL leaves
the hugetlb pools raised and THP settings changed; this file says which,
and to what they go back.

    file                          written                              removed
    ----------------------------  -----------------------------------  ----------------------------
    STATE_DIR/measure-PID.json    before the first process is forked   when every tunable is back
    (STATE_DIR: /run/ptcalc, or   and before each tunable is written;  and every process reaped
    $PTCALC_STATE_DIR)            with the pids once all are forked

    {"version": 1, "pid": 1234, "start_time": 5678,
     "tunables": [{"path": "/sys/.../nr_hugepages", "old": "0", "new": "1536"}, ...],
     "children": {"comm": "ptcm-1234", "pids": [1240, 1241]}}

``repair()`` -- run first by every ``measure``, and alone by
``ptcalc measure --repair`` -- reads the files whose process is gone (no
process with that pid and start time), ends any measuring process still
alive (pid, start after ptcalc's, and comm must match), writes back every
tunable that still has the value the dead run wrote (one changed since by
someone else is left alone, and said so), and removes the file.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass

from ptcalc.linux.errors import KernelError, ProcessError
from ptcalc.linux.procfs import ProcFS
from ptcalc.linux.tunables import Tunables

STATE_DIR = "/run/ptcalc"
VERSION = 1


def state_dir() -> str:
    """Where run state files live: $PTCALC_STATE_DIR, else /run/ptcalc (tmpfs: a
    reboot, which puts every tunable back anyway, empties it)."""
    return os.environ.get("PTCALC_STATE_DIR") or STATE_DIR


def _start_time(fs: ProcFS, pid: int) -> int | None:
    try:
        return fs.stat(pid)[3]
    except (ProcessError, OSError, IndexError, ValueError):
        return None


class Journal:
    """The state file of this run: created by ``open()``, rewritten (atomically)
    at each change, removed by ``close()``."""

    def __init__(self, fs: ProcFS, directory: str | None = None) -> None:
        self.fs = fs
        self.directory = directory or state_dir()
        self.pid = os.getpid()
        self.path = os.path.join(self.directory, f"measure-{self.pid}.json")
        self.tunables: list[dict[str, str]] = []
        self.comm = ""
        self.pids: list[int] = []
        self.is_open = False

    def open(self) -> None:
        """Write the file before anything is changed; KernelError when it cannot be."""
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError as e:
            raise KernelError(f"cannot create {self.directory} for measure's state file: {e.strerror}; "
                              "set PTCALC_STATE_DIR to a writable directory") from None
        self.is_open = True
        self._write()

    def _write(self) -> None:
        if not self.is_open:
            return
        doc = {"version": VERSION, "pid": self.pid, "start_time": _start_time(self.fs, self.pid),
               "tunables": self.tunables, "children": {"comm": self.comm, "pids": self.pids}}
        tmp = f"{self.path}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(doc, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            raise KernelError(f"cannot write measure's state file {self.path}: {e.strerror}") from None

    def tunable(self, path: str, old: str, new: str) -> None:
        """``path`` is about to be set to ``new``; it was ``old`` before this run."""
        for t in self.tunables:
            if t["path"] == path:
                t["new"] = new
                break
        else:
            self.tunables.append({"path": path, "old": old, "new": new})
        self._write()

    def children(self, comm: str, pids: list[int]) -> None:
        """The measuring processes forked (named ``comm``)."""
        self.comm = comm
        self.pids = [p for p in pids if p > 0]
        self._write()

    def close(self) -> None:
        """Everything is back: remove the file."""
        if not self.is_open:
            return
        self.is_open = False
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@dataclass(frozen=True)
class Repaired:
    """What ``repair`` found after one measure that did not finish."""

    pid: int
    """The measure that left it."""
    ended: tuple[int, ...]
    """Its measuring processes that were still alive, killed."""
    restored: tuple[tuple[str, str, str], ...]
    """(path, value found, value written back)."""
    left: tuple[tuple[str, str | None, str], ...]
    """(path, value found, value it had before that run): changed since by someone else, left alone."""
    problems: tuple[str, ...] = ()
    """What could not be put back (the state file is kept for another try)."""


def _comm(fs: ProcFS, pid: int) -> str | None:
    try:
        return fs.pid_text(pid, "comm").strip()
    except (ProcessError, OSError):
        return None


def _end(fs: ProcFS, pids: list[int], comm: str, after: int) -> tuple[int, ...]:
    """SIGKILL each of ``pids`` that is still a measuring process named ``comm``
    started at or after tick ``after``; wait (5 s at most) until they are gone."""
    ended = []
    for pid in pids:
        start = _start_time(fs, pid)
        if start is None or start < after or _comm(fs, pid) != comm:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            ended.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while ended and time.monotonic() < deadline and any(_comm(fs, p) == comm for p in ended):
        time.sleep(0.05)
    return tuple(ended)


def _leftover(fs: ProcFS, path: str) -> dict | None:
    """The document of a state file whose process is gone; None for a live run's."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        pid = int(doc["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    start = doc.get("start_time")
    if pid != os.getpid() and (start is None or _start_time(fs, pid) != start):
        return doc
    return None


def repair(fs: ProcFS | None = None, directory: str | None = None) -> list[Repaired]:
    """Put back what every measure that did not finish left (see the module)."""
    fs = fs or ProcFS()
    directory = directory or state_dir()
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith("measure-") and n.endswith(".json"))
    except OSError:
        return []
    out = []
    for name in names:
        path = os.path.join(directory, name)
        doc = _leftover(fs, path)
        if doc is None:
            continue
        kids = doc.get("children") or {}
        ended = _end(fs, [int(p) for p in kids.get("pids", [])], str(kids.get("comm", "")),
                     int(doc.get("start_time") or 0))
        restore = Tunables(fs)
        restored: list[tuple[str, str, str]] = []
        left: list[tuple[str, str | None, str]] = []
        for t in doc.get("tunables", []):
            now = fs.read_value(t["path"])
            if now == t["new"] and now != t["old"]:
                restore.remember(t["path"], t["old"])
                restored.append((t["path"], t["new"], t["old"]))
            elif now != t["old"]:
                left.append((t["path"], now, t["old"]))
        restore.restore()
        problems = tuple(restore.restore_problems)
        if not problems:
            try:
                os.unlink(path)
            except OSError:
                pass
        out.append(Repaired(int(doc["pid"]), ended, tuple(restored), tuple(left), problems))
    return out
