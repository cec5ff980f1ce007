"""A process's own mappings as the workload's ``private_mappings``.

Every MAP_PRIVATE mapping with pages present becomes rows of
:class:`~ptcalc.workload.types.PrivateMapping` (small MAP_SHARED mappings the
scan leaves out of the segments too: their tables are the process's own):

    in /proc/PID/maps                           kind    name
    ------------------------------------------  ------  ------------------------------------
    a file (program, library, locale archive)   file    its base name (``libc.so.6``)
    anonymous right after a private file map    anon    ``<file> bss`` (the ELF loader's .bss)
    [heap]                                      anon    heap
    [stack]                                     stack   stack
    [vdso], [uprobes]                           anon    vdso, uprobes
    [anon:NAME] (PR_SET_VMA_ANON_NAME)          anon    NAME
    other anonymous memory                      anon    anon
    hugetlb, MAP_PRIVATE                        file    hugetlb (2 MiB pages: PMD entries, no deposit)
    a small MAP_SHARED mapping                  file    the segment's name

Pieces a huge PMD maps (PMD-mapped THP) are rows of ``page_size`` PMD_SIZE:
anonymous ones carry the deposited PTE table (``pgtable_trans_huge_deposit``),
file ones do not.

What a row spans.  Page tables are per address block, so what the model needs
of a mapping is which blocks hold touched pages.  The rows are the *touched
extents*: with ``--touched tables`` (the default), the part of each run of
address-contiguous mappings of one kind and name that lies in a 2 MiB block
(PMD_SIZE, one PTE table's span) holding a touched page -- every row wholly
touched, so it is written as one plain flow line without a ``touch`` list; the
blocks at every level are exactly those of the pages present, so every table
count is unchanged.  With ``--touched pages`` the rows are the exact runs of
pages present.  Mappings with nothing present have no tables and no rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ptcalc.linux.parsers import SmapsEntry
from ptcalc.linux.proctitle import plain_label
from ptcalc.model.geometry import Arch
from ptcalc.workload.touched import Range
from ptcalc.workload.types import PrivateKind, PrivateMapping

_SPECIAL = {"[heap]": "heap", "[vdso]": "vdso", "[uprobes]": "uprobes"}


def private_kind(e: SmapsEntry, prev: SmapsEntry | None) -> tuple[PrivateKind, str]:
    """(kind, name) of a MAP_PRIVATE mapping; ``prev`` is the mapping before it.

    >>> from ptcalc.linux.parsers import parse_smaps
    >>> a, b = parse_smaps("1000-2000 rw-p 0 fe:00 9 /usr/lib/libz.so.1\\n2000-3000 rw-p 0 00:00 0\\n")
    >>> private_kind(a, None), private_kind(b, a)
    (('file', 'libz.so.1'), ('anon', 'libz.so.1 bss'))
    """
    path = e.maps.path
    if e.hugetlb:
        return "file", "hugetlb"
    if path.startswith("[stack"):
        return "stack", "stack"
    if path in _SPECIAL:
        return "anon", _SPECIAL[path]
    if path.startswith("[anon:"):
        return "anon", plain_label(path[6:-1])
    if path.startswith("/"):
        return "file", plain_label(path.rsplit("/", 1)[-1])
    if not path and prev is not None and prev.maps.end == e.maps.start and not prev.maps.shared \
            and prev.maps.perms[1] == "w" and prev.maps.path.startswith("/") and not prev.hugetlb:
        # the ELF loader's .bss: anonymous, right after the writable data segment
        return "anon", plain_label(prev.maps.path.rsplit("/", 1)[-1] + " bss")
    return "anon", plain_label(path.strip("[]")) if path else "anon"


@dataclass
class Own:
    """One of a process's own mappings as read: absolute touched runs, the
    ones a huge PMD maps (2 MiB-aligned) apart."""

    kind: PrivateKind
    name: str
    start: int
    end: int
    starts: np.ndarray
    ends: np.ndarray
    huge_starts: np.ndarray
    huge_ends: np.ndarray


def _merge(pairs: Iterable[Range]) -> list[Range]:
    """Sorted ranges with the overlapping and abutting ones joined."""
    out: list[Range] = []
    for s, e in pairs:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _minus(lo: int, hi: int, holes: Sequence[Range]) -> list[Range]:
    """``[lo, hi)`` without the sorted, disjoint ``holes``."""
    out, at = [], lo
    for s, e in holes:
        if s > at:
            out.append((at, min(s, hi)))
        at = max(at, e)
    if at < hi:
        out.append((at, hi))
    return [r for r in out if r[0] < r[1]]


def _intersect(a: Sequence[Range], b: Sequence[Range]) -> list[Range]:
    """The intersection of two sorted lists of disjoint ranges."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _blocks(starts: np.ndarray, ends: np.ndarray, block: int) -> list[Range]:
    """The ``block``-aligned ranges covering every block a run touches, merged."""
    if starts.size == 0:
        return []
    lo = starts // block
    hi = (ends - 1) // block + 1
    new = np.concatenate(([True], lo[1:] > hi[:-1]))
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:] - 1, [lo.size - 1]))
    return list(zip((lo[first] * block).tolist(), (hi[last] * block).tolist()))


def private_rows(owns: Sequence[Own], arch: Arch, mode: str) -> tuple[PrivateMapping, ...]:
    """The process's ``private_mappings``: its touched extents (``mode``
    ``tables``) or runs of pages (``pages``), by kind and name, in address order."""
    block = arch.pmd_size
    rows: list[tuple[int, int, PrivateKind, str, int]] = []  # start, end, kind, name, page size
    owns = sorted(owns, key=lambda o: o.start)
    # PMD-mapped pieces: whole huge pages, joined where they abut
    # (a THP in a stack is anonymous memory: the stack kind has base pages only)
    huge: list[tuple[int, int, PrivateKind, str]] = [
        (hs, he, "anon" if o.kind == "stack" else o.kind, o.name)
        for o in owns for hs, he in zip(o.huge_starts.tolist(), o.huge_ends.tolist())]
    for hs, he, kind, name in huge:
        if rows and rows[-1][1] == hs and rows[-1][2:4] == (kind, name):
            rows[-1] = (rows[-1][0], he, kind, name, block)
        else:
            rows.append((hs, he, kind, name, block))
    # base-page pieces: runs of address-contiguous mappings of one kind and name
    i = 0
    while i < len(owns):
        j = i
        while j + 1 < len(owns) and owns[j + 1].start == owns[j].end \
                and (owns[j + 1].kind, owns[j + 1].name) == (owns[i].kind, owns[i].name):
            j += 1
        run = owns[i:j + 1]
        i = j + 1
        holes = [(int(s), int(e)) for o in run for s, e in zip(o.huge_starts.tolist(), o.huge_ends.tolist())]
        container = _minus(run[0].start, run[-1].end, holes)
        s = np.concatenate([o.starts for o in run])
        e = np.concatenate([o.ends for o in run])
        if holes and s.size:  # the base part of the runs
            parts = _intersect(_merge(zip(s.tolist(), e.tolist())), container)
            s = np.array([p[0] for p in parts], np.int64)
            e = np.array([p[1] for p in parts], np.int64)
        if s.size == 0:
            continue
        if mode == "tables":
            extents = _intersect(container, _blocks(s, e, block))
        else:
            extents = _merge(zip(s.tolist(), e.tolist()))
        rows += [(a, b, run[0].kind, run[0].name, arch.base_page) for a, b in extents]
    rows.sort()
    return tuple(PrivateMapping(kind, a, b - a, page, ((0, b - a),), name=name) for a, b, kind, name, page in rows)
