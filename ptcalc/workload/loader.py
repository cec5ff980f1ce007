"""The workload loader: YAML text in, a validated :class:`Workload` out.

Anything wrong with the input raises exactly one :class:`WorkloadError`,
located at the offending node (``FILE:LINE:COL: KEYPATH: message``); a
missing key is located at the mapping that lacks it.  A file may hold
several workloads (YAML documents, one per host: :func:`load_workloads`),
and a workload several instances, expanded here into ordinary segments and
groups (``instances:``, :mod:`ptcalc.workload.instances`).  The format is
documented in ``docs/workload-format.md`` and described key by key in
:mod:`ptcalc.workload.keys`.

The layers, each used once per document: the text becomes a node graph
(:mod:`ptcalc.workload.fastyaml` for the plain subset generated files are
written in, else libyaml through :mod:`ptcalc.workload.yamlnodes`, which
also owns positions, syntax errors and size limits); the graph is read
section by section (:mod:`ptcalc.workload.reader`), value by value
(:mod:`ptcalc.workload.values`), into the immutable types of
:mod:`ptcalc.workload.types`.

>>> w = loads_workload('''
... host: {memory: 64GiB}
... segments: {sga: {size: 1GiB}}
... processes: [{count: 10, mappings: [{segment: sga, touch: 0.5}]}]
... ''')
>>> m = w.groups[0].mappings[0]
>>> hex(m.address), m.touched, m.auto
('0x10000000000', ((0, 536870912),), True)
"""

from __future__ import annotations

import os
from typing import Any

from ptcalc.errors import WorkloadError
from ptcalc.names import printable
from ptcalc.workload import fastyaml
from ptcalc.workload.keys import MAX_COUNT, MAX_SIZE
from ptcalc.workload.reader import Budget, WorkloadReader
from ptcalc.workload.types import Workload
from ptcalc.workload.yamlnodes import MAX_FILE_BYTES, MAX_NODES, check_expansion, compose_all, decode, no_gc, read_file

Node = Any

MAX_DOCUMENTS = 1000
"""Most YAML documents (workloads, one per host) in one file."""


def load_workload(path: str | os.PathLike[str], *, command: str = "load_workload") -> Workload:
    """Read and validate a workload file of one document; ``-`` reads standard input.

    A file of several documents (hosts) is an error located at the second,
    saying that ``command`` reads one workload.  Raises only
    :class:`WorkloadError`, whose ``str`` names the path as given.
    """
    source = _source(path)
    return loads_workload(decode(read_file(path, source), source), source, command=command)


def loads_workload(text: str | bytes, source: str = "<stdin>", *, command: str = "load_workload") -> Workload:
    """Validate a workload given as YAML text (or UTF-8 bytes) of one document.

    Raises only :class:`WorkloadError`, located in ``source``.
    """
    (workload,) = _load(text, source, single=command)
    return workload


def load_workloads(path: str | os.PathLike[str]) -> list[Workload]:
    """Read and validate a workload file of one or more YAML documents
    (``---`` between them), a workload (host) each; ``-`` reads standard input.
    In a file of several, document N's ``Workload.source`` is ``PATH#N``.

    Raises only :class:`WorkloadError` (line:column count from the start of
    the file), for the first problem in any document.
    """
    source = _source(path)
    return loads_workloads(decode(read_file(path, source), source), source)  # (the bytes freed before reading)


def loads_workloads(text: str | bytes, source: str = "<stdin>") -> list[Workload]:
    """:func:`load_workloads` on YAML text (or UTF-8 bytes)."""
    return _load(text, source, single=None)


def _source(path: str | os.PathLike[str]) -> str:
    """The file as messages and reports name it (control characters in a
    path shown as escapes: ptcalc.names)."""
    source = os.fspath(path)
    return "<stdin>" if source == "-" else printable(source)


def _load(text: str | bytes, source: str, single: str | None) -> list[Workload]:
    """The workloads of every document; ``single``: the command that reads
    one, when several are an error."""
    if isinstance(text, bytes):
        text = decode(text, source)
    with no_gc():
        # The plain subset of YAML that workload files are written in is read
        # directly (ptcalc.workload.fastyaml), several times faster than libyaml through
        # PyYAML; anything else -- and any document with a problem, so that
        # the message is located exactly -- goes through libyaml.
        fast = fastyaml.parse_documents(text, MAX_NODES) if len(text) <= MAX_FILE_BYTES else None
        if fast is not None and len(fast) <= (1 if single is not None else MAX_DOCUMENTS):
            try:
                budget = Budget()
                n = len(fast)
                workloads = [WorkloadReader(source, fast=True, budget=budget).workload(root, i, n)
                             for i, root in enumerate(fast)]
            except WorkloadError:
                pass
            else:
                # The node graph dropped while the GC is still off (as below):
                # alive when it is re-enabled, its first pass would walk the
                # graph's 100,000 row tuples (0.04 s at 100,000 mappings).
                del fast
                return workloads
        del fast
        roots: list[Node] = []
        try:
            roots = compose_all(text, source, MAX_DOCUMENTS)
            if not roots:
                raise WorkloadReader(source).empty(None, 0, 1)
            if single is not None and len(roots) > 1:
                second = roots[1].start_mark
                raise WorkloadError(
                    f"a second workload (YAML document) starts here: this file holds {len(roots)} "
                    f"documents, one workload (host) each, and {single} reads one; split the file, "
                    "one document per file (ptcalc estimate and ptcalc check read every document)",
                    source=source, line=second.line + 1, column=second.column + 1,
                )
            _check_nodes(roots, source)
            budget = Budget()
            return [WorkloadReader(source, budget=budget).workload(root, i, len(roots)) for i, root in enumerate(roots)]
        finally:
            # Drop the node graph while the GC is still off: re-enabled with
            # millions of young nodes alive, its first pass would walk them all.
            del roots


def _check_nodes(roots: list[Node], source: str) -> None:
    """MAX_NODES, with every alias expanded, for all documents together."""
    used = 0
    for i, root in enumerate(roots):
        try:
            used += check_expansion(root, source, MAX_NODES - used)
        except WorkloadError as e:
            if i == 0:
                raise
            raise WorkloadError(
                f"with the documents before it, this expands to more than {MAX_NODES:,} YAML nodes "
                "with its aliases expanded; that is past the limit for a file",
                source=source, line=e.line, column=e.column,
            ) from None



__all__ = ["MAX_COUNT", "MAX_DOCUMENTS", "MAX_NODES", "MAX_SIZE", "load_workload", "load_workloads",
           "loads_workload", "loads_workloads"]
