"""Reading processes in parallel for ``ptcalc scan --jobs N``: forked workers.

What a scan of a partly present segment costs is the kernel's page walks, one
process after another (docs/scan.md, Speed).  The walks of different
processes share no lock, so N processes read N at a time divide it -- in
processes, not threads: each call's Python holds the GIL.

:func:`read_all` calls ``read(pid)`` for each PID and yields the results in
PID-list order.  With one job it is a plain loop in this process (what ``scan``
always did).  With more it forks that many workers (``os.fork``, after
every import: a worker inherits the caller's state, a fake /proc tree and
the ``scan_read.Reader`` included, and keeps its own ``Reader`` from then on)
and hands out indices of the list one at a time, at most :data:`DEPTH`
queued per worker, as workers finish: each worker reads the PIDs it is given
in list order, so what its ``Reader`` reuses (a process read before, ``like``)
is always a PID earlier in the list, which the caller has consumed before.
Results come back pickled through a pipe, each tagged with its index; the
caller gets them in list order (at most :data:`WINDOW` per worker read ahead
of it).

Workers are gentle: each lowers its priority by :data:`WORKER_NICE`
(``os.nice``) so that the host's own work goes first, and ignores SIGINT (the
terminal's Ctrl-C reaches the whole process group): the parent, interrupted,
kills its workers (SIGKILL, by PID) and reaps them before it reports.  A
worker that dies (killed, out of memory) or fails is a :class:`WorkerError`
naming it and the process it was reading; a worker whose parent died sees its
task pipe close and exits.
"""

from __future__ import annotations

import os
import pickle
import selectors
import signal
import struct
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

from ptcalc.linux.errors import WorkerError

T = TypeVar("T")

JOBS_CAP = 8
"""``--jobs auto`` uses at most this many workers."""

CPUS_PER_JOB = 4
"""``--jobs auto``: one worker per this many CPUs the scan may run on (a
quarter of the host: a capacity tool on a production machine leaves it the
rest)."""

PROCESSES_PER_JOB = 16
"""``--jobs auto``: at least this many processes to read per worker (a fork and
a worker's first process read in full cost more than a few processes read)."""

WORKER_NICE = 10
"""Each worker's priority is lowered by this (``os.nice``)."""

DEPTH = 2
"""Indices queued per worker: the one it reads and the next."""

WINDOW = 8
"""Results per worker that may be read ahead of the one the caller waits for."""

_INDEX = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")


def auto_jobs(processes: int, cpus: int | None = None) -> int:
    """How many workers ``--jobs auto`` uses to read ``processes`` processes on
    ``cpus`` CPUs (default: the ones this process may run on,
    ``os.sched_getaffinity``): one per :data:`CPUS_PER_JOB` CPUs, at most
    :data:`JOBS_CAP`, and no more than one per :data:`PROCESSES_PER_JOB`
    processes; 1 (no worker: the scan reads in its own process) on a host of
    fewer than 8 CPUs.

    >>> auto_jobs(1500, 2), auto_jobs(1500, 8), auto_jobs(1500, 24), auto_jobs(1500, 128), auto_jobs(20, 64)
    (1, 2, 6, 8, 1)
    """
    if cpus is None:
        cpus = len(os.sched_getaffinity(0))
    return max(1, min(JOBS_CAP, cpus // CPUS_PER_JOB, processes // PROCESSES_PER_JOB))


def jobs_for(jobs: int | None, processes: int) -> int:
    """Workers to read ``processes`` processes with: ``jobs`` (None: :func:`auto_jobs`),
    no more than there are processes, at least 1."""
    n = auto_jobs(processes) if jobs is None else jobs
    return max(1, min(n, processes))


def read_all(read: Callable[[int], T], pids: list[int], jobs: int) -> Generator[T, None, None]:
    """``read(pid)`` of every PID, in order: in this process (``jobs`` 1), or
    in ``jobs`` forked workers (:mod:`ptcalc.linux.scan_jobs`).  ``read``
    must not raise (a worker reports what it raises as a :class:`WorkerError`);
    close the iterator when done with it early (it then stops its workers)."""
    if jobs <= 1:
        return (read(pid) for pid in pids)
    return _parallel(read, pids, jobs)


@dataclass
class _Worker:
    pid: int
    tasks: int
    """Write end of its task pipe (indices, 4 bytes each)."""
    results: int
    """Read end of its result pipe (length-prefixed pickles)."""
    pending: list[int] = field(default_factory=list)
    """Indices sent and not yet answered, in order."""
    buf: bytearray = field(default_factory=bytearray)


def _parallel(read: Callable[[int], T], pids: list[int], jobs: int) -> Generator[T, None, None]:
    workers: list[_Worker] = []
    done = False
    try:
        for _ in range(jobs):
            task_r, task_w = os.pipe()
            result_r, result_w = os.pipe()
            try:
                pid = os.fork()
            except OSError as e:
                for fd in (task_r, task_w, result_r, result_w):
                    os.close(fd)
                raise WorkerError(f"ptcalc scan: cannot start reading worker {len(workers) + 1} of {jobs}: "
                                  f"{e.strerror or e} (--jobs 1 reads in one process)") from None
            if pid == 0:  # the worker: never returns
                os.close(task_w)
                os.close(result_r)
                for w in workers:  # the other workers' pipes: theirs and the parent's alone
                    os.close(w.tasks)
                    os.close(w.results)
                _work(read, pids, task_r, result_w)
            os.close(task_r)
            os.close(result_w)
            workers.append(_Worker(pid, task_w, result_r))
        yield from _collect(workers, pids)
        done = True
    finally:
        _stop(workers, kill=not done)


def _collect(workers: list[_Worker], pids: list[int]) -> Iterator[T]:
    sel = selectors.DefaultSelector()
    for w in workers:
        sel.register(w.results, selectors.EVENT_READ, w)
    ready: dict[int, T] = {}
    sent = want = 0
    try:
        while want < len(pids):
            for w in sorted(workers, key=lambda w: len(w.pending)):
                while len(w.pending) < DEPTH and sent < len(pids) and sent < want + WINDOW * len(workers):
                    try:
                        os.write(w.tasks, _INDEX.pack(sent))
                    except OSError:  # (BrokenPipeError: it exited) its result pipe says how
                        break
                    w.pending.append(sent)
                    sent += 1
            if want in ready:
                yield ready.pop(want)
                want += 1
                continue
            for key, _ in sel.select():
                w = key.data
                chunk = os.read(w.results, 1 << 20)
                if not chunk:
                    raise _died(w, pids)
                w.buf += chunk
                while len(w.buf) >= _LENGTH.size:
                    (n,) = _LENGTH.unpack_from(w.buf)
                    if len(w.buf) < _LENGTH.size + n:
                        break
                    i, ok, value = pickle.loads(w.buf[_LENGTH.size:_LENGTH.size + n])
                    del w.buf[:_LENGTH.size + n]
                    w.pending.remove(i)
                    if not ok:
                        raise WorkerError(f"ptcalc scan: reading worker {w.pid} failed reading process {pids[i]}: "
                                          f"{value}")
                    ready[i] = value
    finally:
        sel.close()


def _died(w: _Worker, pids: list[int]) -> WorkerError:
    """The error for a worker whose result pipe closed: how it ended, reaped."""
    try:
        _, status = os.waitpid(w.pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        code = None
    w.pid = -w.pid  # reaped
    how = ("ended" if code is None else f"was killed by {signal.Signals(-code).name}" if code < 0
           else f"exited with status {code}")
    what = f" while reading process {pids[w.pending[0]]}" if w.pending else ""
    return WorkerError(f"ptcalc scan: reading worker {-w.pid} {how}{what}; nothing was written "
                       "(--jobs 1 reads in one process)")


def _stop(workers: list[_Worker], kill: bool) -> None:
    """Close the task pipes (an idle worker then exits); ``kill``: SIGKILL each
    first (interrupted, or a worker failed).  Then reap them."""
    for w in workers:
        if kill and w.pid > 0:
            try:
                os.kill(w.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.close(w.tasks)
    for w in workers:
        os.close(w.results)
        if w.pid > 0:
            try:
                os.waitpid(w.pid, 0)
            except ChildProcessError:
                pass


def _work(read: Callable[[int], object], pids: list[int], tasks: int, results: int) -> NoReturn:
    """A worker: read the index of each PID it is given, answer ``(index, True,
    read(pid))`` (or ``(index, False, what went wrong)``), until its task pipe
    closes.  Leaves by ``os._exit`` (none of the parent's exit handlers, no
    flush of its buffers)."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            os.nice(WORKER_NICE)
        except OSError:
            pass
        while True:
            head = _read_exact(tasks, _INDEX.size)
            if head is None:
                break
            (i,) = _INDEX.unpack(head)
            try:
                payload = pickle.dumps((i, True, read(pids[i])), pickle.HIGHEST_PROTOCOL)
            except Exception as e:  # a bug: reported by the parent as one line
                payload = pickle.dumps((i, False, f"{type(e).__name__}: {e}"), pickle.HIGHEST_PROTOCOL)
            _write_all(results, _LENGTH.pack(len(payload)) + payload)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _read_exact(fd: int, n: int) -> bytes | None:
    """``n`` bytes from ``fd``; None at end of file."""
    out = b""
    while len(out) < n:
        chunk = os.read(fd, n - len(out))
        if not chunk:
            return None
        out += chunk
    return out


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
