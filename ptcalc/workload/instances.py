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
the template got.  The reader (:meth:`ptcalc.workload.reader.WorkloadReader.instances`)
builds each copy's groups from the template's, with the copy's specs.

>>> from ptcalc.workload.types import MappingSpec, Segment
>>> segs = {"shm": Segment("shm", 1 << 30, "shmem", 4096)}
>>> list(copy_segments("pg-2", segs)), copy_specs("pg-2", (MappingSpec("shm", 0, 1 << 30),))[0].segment
(['pg-2/shm'], 'pg-2/shm')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ptcalc.workload.types import MappingSpec, Segment, SpecTable

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


def copy_segments(label: str, segments: dict[str, Segment]) -> dict[str, Segment]:
    """Copy ``label``'s segments: the template's, renamed."""
    renamed = {name: segment_name(label, name) for name in segments}
    return {renamed[name]: replace(s, name=renamed[name]) for name, s in segments.items()}


def copy_specs(label: str, specs: Sequence[MappingSpec]) -> Sequence[MappingSpec]:
    """Copy ``label``'s mapping specs: the template's, each naming its copy's segment."""
    if isinstance(specs, SpecTable):
        names = {name: segment_name(label, name) for name in set(specs.segment)}
        return specs.renamed(list(map(names.__getitem__, specs.segment)))
    return tuple(replace(s, segment=segment_name(label, s.segment)) for s in specs)


__all__ = ["LIMITS", "MAX_GROUPS", "MAX_MAPPINGS", "MAX_SEGMENTS", "SEPARATOR", "copy_labels", "copy_segments", "copy_specs", "group_name", "segment_name"]
