"""Instances: copies of a template's segments and process groups, each copy
under names of its own.

A workload's ``instances:`` (docs/workload-format.md) are read like a
workload's top-level ``segments`` and ``processes`` -- the template -- and
then copied, once per instance copy, into the ordinary workload: segment
``S`` of copy ``L`` becomes ``L/S``, group ``G`` becomes ``L: G``, and every
mapping names its copy's segments.  Each copy is a separate shared segment
mapped by separate processes, so the model, the renderers and every command
see an ordinary workload.  Addresses are copied as placed: ``address: auto``
places each process on its own, so every copy of a group gets the addresses
the template got.

>>> from ptcalc.workload.types import Segment
>>> segs = {"shm": Segment("shm", 1 << 30, "shmem", 4096)}
>>> cols = (("shm",), (0,), (1 << 30,), (1 << 40,), ("rw",), (((0, 1 << 30),),), (True,), ("none",), (False,))
>>> groups = (ProcessGroup.from_columns("backends", 100, cols, 0, "processes[0]"),)
>>> s, g = copy_instance("pg-2", segs, groups, "instances[0].")
>>> list(s), g[0].name, g[0].mappings[0].segment, g[0].mappings[0].origin
(['pg-2/shm'], 'pg-2: backends', 'pg-2/shm', 'instances[0].processes[0].mappings[0]')
"""

from __future__ import annotations

from dataclasses import replace

from ptcalc.workload.types import ProcessGroup, Segment

SEPARATOR = "/"
"""Between a copy's name and its segment's name (``pg-7/shared_memory``)."""
MAX_SEGMENTS = 10_000
MAX_GROUPS = 10_000
MAX_MAPPINGS = 100_000
"""Most segments, process groups and mappings that instances may expand a
file to (every document, every copy): ``estimate`` answers in about 2 s at
10,000 groups and segments, and 100,000 mappings is the benchmarked size
(docs/workload-format.md, Limits)."""
LIMITS = {"segments": MAX_SEGMENTS, "process groups": MAX_GROUPS, "mappings": MAX_MAPPINGS}


def copy_labels(name: str, count: int) -> list[str]:
    """The names of an instance's copies: the name itself for one copy,
    ``NAME-1`` .. ``NAME-N`` for ``count: N``.

    >>> copy_labels("asm", 1), copy_labels("pg", 3)
    (['asm'], ['pg-1', 'pg-2', 'pg-3'])
    """
    if count == 1:
        return [name]
    return [f"{name}-{k}" for k in range(1, count + 1)]


def segment_name(label: str, segment: str) -> str:
    """The expanded name of a copy's segment: ``pg-7/shared_memory``."""
    return f"{label}{SEPARATOR}{segment}"


def group_name(label: str, group: str) -> str:
    """The expanded name of a copy's process group: ``pg-7: client backends``."""
    return f"{label}: {group}"


def copy_instance(label: str, segments: dict[str, Segment], groups: tuple[ProcessGroup, ...],
                  origin_prefix: str) -> tuple[dict[str, Segment], tuple[ProcessGroup, ...]]:
    """One copy of an instance's template: its segments and groups renamed
    for copy ``label``; group origins (key paths in the file) get
    ``origin_prefix`` (``instances[2].``), the same for every copy."""
    renamed = {name: segment_name(label, name) for name in segments}
    segs = {renamed[name]: replace(s, name=renamed[name]) for name, s in segments.items()}
    out = []
    for g in groups:
        cols = g.columns()
        columns = (tuple(renamed[s] for s in cols[0]),) + tuple(cols[1:])
        out.append(ProcessGroup.from_columns(group_name(label, g.name), g.count, columns, g.private_memory,
                                             origin_prefix + g.origin))
    return segs, tuple(out)


__all__ = ["LIMITS", "MAX_GROUPS", "MAX_MAPPINGS", "MAX_SEGMENTS", "SEPARATOR", "copy_instance", "copy_labels", "group_name", "segment_name"]
