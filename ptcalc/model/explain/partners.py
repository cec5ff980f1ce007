"""Who else uses a mapping's shared tables, without comparing every pair.

A pool of shared tables (``attribution.PoolBuild``) can have thousands of
users: every mapping of a segment at one alignment class under hugetlb PMD
sharing, every process attached to an mshare region.  Listing, for each
mapping, every other mapping it shares a table with is quadratic in the
pool's users, in work and in output.  What a reader needs per mapping and
level is bounded instead:

* ``shared``: how many of its tables have another user (as before);
* ``sharers``: the fewest and most users one of its tables has, its own
  processes included -- the kernel's reference count of that table: every
  process's VMA that links a shared PMD table in (``huge_pmd_share()``
  raises ``pt_share_count`` once per VMA), every process attached to an
  mshare region;
* ``partners``: the first ``NAMED`` other users, in the order of their first
  table in common with it, then workload order, with their tables in common;
  ``more_partners`` says whether there are others.

All three come from one sweep over the pool's elementary segments (the
intervals between consecutive table-range ends, which every user covers
wholly or not at all): the users per segment by a difference array, each
segment's first users by a sorted active list, and per mapping a walk over
its segments that stops once ``NAMED`` + 1 partners are found.  The cost is
linear in the pool's ranges and segments (times ``NAMED``), not in pairs of
users.  tests/test_explain_partners.py checks every field against the
pairwise definition on generated workloads.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ptcalc.model.explain.types import Interval, Partner
from ptcalc.workload.types import made

NAMED = 3
"""Partners named per mapping and level; the rest are summed up by ``more_partners``."""


def overlap(a: Sequence[Interval], b: Sequence[Interval]) -> int:
    """Total length of the intersection of two merged interval lists."""
    i = j = total = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


@dataclass(frozen=True)
class Partners:
    """One mapping's use of one level of a pool, as the module docstring says."""

    others: int
    """Its tables with two or more users: for a mapping of one process, those
    another user uses too."""
    sharers: tuple[int, int]
    partners: tuple[Partner, ...]
    more_partners: bool


@dataclass(frozen=True)
class User:
    """One user of a pool at one level: a mapping (keyed pools) or a group
    (mshare: a process attaches its region once)."""

    order: int
    """Workload order: rank of (group, mapping) among the level's users' first mappings."""
    weight: int
    """Processes: the group's count."""
    intervals: list[Interval]


class Sweep:
    """The users of one pool at one level over its elementary segments."""

    def __init__(self, users: list[User], cap: int, queries: Sequence[Sequence[Interval]] = ()) -> None:
        """``cap``: users kept per segment; ``queries``: the intervals that will
        be asked about, when they are not users' (mshare: a group's mappings,
        merged into one user), so that their ends are segment bounds."""
        self.users = users
        lo = [x for u in users for x, _ in u.intervals]
        hi = [y for u in users for _, y in u.intervals]
        w = [u.weight for u in users for _ in u.intervals]
        uid = [ui for ui, u in enumerate(users) for _ in u.intervals]
        ends = lo + hi + [x for q in queries for iv in q for x in iv]
        self.bounds = bp = np.unique(np.array(ends, dtype=np.int64))
        m = max(len(bp) - 1, 0)
        self.length = np.diff(bp)
        # users per segment: a difference array over every user's segment ranges
        s0 = np.searchsorted(bp, np.array(lo, dtype=np.int64)).tolist()
        s1 = np.searchsorted(bp, np.array(hi, dtype=np.int64)).tolist()
        dtype = object if sum(w) >= 1 << 62 else np.int64  # past int64: Python ints
        diff = np.zeros(m + 1, dtype=dtype)
        np.add.at(diff, s0, np.array(w, dtype=dtype))
        np.subtract.at(diff, s1, np.array(w, dtype=dtype))
        self.count = np.cumsum(diff[:-1])
        # blocks of segments 0..i-1 with two or more users (prefix sums: each query O(1))
        self.multi = np.concatenate([np.zeros(1, dtype=np.int64),
                                     np.cumsum(np.where(self.count >= 2, self.length, 0)).astype(np.int64)])
        # each segment's first ``cap`` users (by workload order) that have processes
        starts: list[list[int]] = [[] for _ in range(m + 1)]
        stops: list[list[int]] = [[] for _ in range(m + 1)]
        for ui, a, b, wt in zip(uid, s0, s1, w):
            if wt:
                starts[a].append(ui)
                stops[b].append(ui)
        key = [u.order for u in users]
        active: list[tuple[int, int]] = []
        self.first: list[list[int]] = []
        for i in range(m):
            for ui in stops[i]:
                del active[bisect_left(active, (key[ui], ui))]
            for ui in starts[i]:
                insort(active, (key[ui], ui))
            self.first.append([ui for _, ui in active[:cap]])
        # range minimum and maximum of the users per segment (sparse tables)
        self.mins, self.maxs = [self.count], [self.count]
        k = 1
        while 2 * k <= m:
            low, high = self.mins[-1], self.maxs[-1]
            self.mins.append(np.minimum(low[:-k], low[k:]))
            self.maxs.append(np.maximum(high[:-k], high[k:]))
            k *= 2
        # the same as lists of Python ints: a mapping's queries read a few
        # elements each (numpy's per-element indexing and searchsorted on
        # scalars cost more than the lookups themselves)
        self._bounds: list[int] = bp.tolist()
        self._mins: list[list[int]] = [a.tolist() for a in self.mins]
        self._maxs: list[list[int]] = [a.tolist() for a in self.maxs]
        self._multi: list[int] = self.multi.tolist()

    def segments(self, a: int, b: int) -> tuple[int, int]:
        bp = self._bounds
        return bisect_left(bp, a), bisect_left(bp, b)

    def extremes(self, s0: int, s1: int) -> tuple[int, int]:
        """Fewest and most users over segments ``[s0, s1)``."""
        j = (s1 - s0).bit_length() - 1
        mins, maxs = self._mins[j], self._maxs[j]
        return min(mins[s0], mins[s1 - (1 << j)]), max(maxs[s0], maxs[s1 - (1 << j)])

    def shared_blocks(self, s0: int, s1: int) -> int:
        """Blocks of segments ``[s0, s1)`` with two or more users."""
        return self._multi[s1] - self._multi[s0]


def level_partners(sweep: Sweep, intervals: list[Interval], own_user: int | None,
                   partner: Callable[[int, list[Interval]], Partner]) -> Partners:
    """``Partners`` of the mapping with ``intervals`` (merged, in blocks):
    ``own_user`` is its user (never its own partner); ``partner`` names a user."""
    extremes: list[tuple[int, int]] = []
    others = 0
    found: list[int] = []
    seen = {own_user}
    for a, b in intervals:
        s0, s1 = sweep.segments(a, b)
        if s0 >= s1:
            continue
        extremes.append(sweep.extremes(s0, s1))
        others += sweep.shared_blocks(s0, s1)
        i = s0
        while len(found) <= NAMED and i < s1:
            for ui in sweep.first[i]:
                if ui not in seen:
                    seen.add(ui)
                    found.append(ui)
            i += 1
    sharers = (min(lo for lo, _ in extremes), max(hi for _, hi in extremes)) if extremes else (0, 0)
    return made(Partners, others=others, sharers=sharers,
                partners=tuple([partner(ui, intervals) for ui in found[:NAMED]]), more_partners=len(found) > NAMED)
