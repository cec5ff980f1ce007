"""Memory demand against host memory: verdicts and the largest process count.

docs/semantics.md section 5.  Everything is exact integer arithmetic.

    demand = shmem segments' touched pages       (shared, once)
           + hugetlb pools                       (configured, or sized to fit)
           + page tables, physical               (this scheme)
           + count x (private_memory + process_overhead)   per group
    available = host.memory - host.reserved
"""

from __future__ import annotations

from dataclasses import dataclass

from ptcalc.model.results import SchemeResult
from ptcalc.workload.types import Workload

VERDICTS: tuple[str, ...] = ("ok", "tight", "oom", "wont-start")
"""Best to worst; ``ptcalc check --require`` compares by this order."""


@dataclass(frozen=True)
class Pools:
    """hugetlb pages the segments need and what the host gives them, per page size."""

    required: dict[int, int]
    configured: dict[int, int] | None
    """``host.hugepages``; None when ptcalc sizes the pools to fit."""

    @property
    def effective(self) -> dict[int, int]:
        """Pages taken from RAM: the configured pools, or exactly what is needed."""
        if self.configured is None:
            return dict(self.required)
        return dict(self.configured)

    @property
    def short(self) -> dict[int, int]:
        """Per page size, how many pages a configured pool lacks (absent when enough)."""
        if self.configured is None:
            return {}
        return {ps: n - self.configured.get(ps, 0)
                for ps, n in self.required.items() if n > self.configured.get(ps, 0)}

    def bytes(self) -> int:
        return sum(ps * n for ps, n in self.effective.items())


def hugetlb_required(workload: Workload) -> dict[int, int]:
    """hugetlb pages per page size: every hugetlb segment is reserved whole
    (shmget(SHM_HUGETLB) reserves the segment, hugetlb_reserve_pages())."""
    need: dict[int, int] = {}
    for seg in workload.segments.values():
        if seg.backing == "hugetlb":
            need[seg.page_size] = need.get(seg.page_size, 0) + seg.size // seg.page_size
    return need


def verdict_of(demand: int, available: int | None, headroom_percent: int, pool_short: bool) -> str | None:
    """The verdict rule (docs/semantics.md section 5), for any demand: a
    hugetlb pool that is short stops the workload from starting; without host
    memory there is no verdict; else ``oom`` above available memory,
    ``tight`` when less than ``headroom_percent`` of it stays free, ``ok``.
    Exact: the percentage is compared by multiplying, never dividing.

    >>> verdict_of(95, 100, 10, False), verdict_of(90, 100, 10, False), verdict_of(101, 100, 10, False)
    ('tight', 'ok', 'oom')
    """
    if pool_short:
        return "wont-start"
    if available is None:
        return None
    if demand > available:
        return "oom"
    if demand * 100 > available * (100 - headroom_percent):
        return "tight"
    return "ok"


@dataclass(frozen=True)
class Budget:
    """What one cell of the comparison needs from the host."""

    shmem_bytes: int
    page_cache_bytes: int
    """Touched pages of ``file`` segments: reclaimable page cache, not in demand."""
    pools: Pools
    page_table_bytes: int
    private_bytes: int
    overhead_bytes: int
    available_bytes: int | None
    headroom_percent: int
    per_process_bytes: int
    """Everything that grows with the process count, summed over all processes."""
    process_count: int

    @property
    def hugetlb_bytes(self) -> int:
        return self.pools.bytes()

    @property
    def demand_bytes(self) -> int:
        return (self.shmem_bytes + self.hugetlb_bytes + self.page_table_bytes
                + self.private_bytes + self.overhead_bytes)

    @property
    def free_bytes(self) -> int | None:
        if self.available_bytes is None:
            return None
        return self.available_bytes - self.demand_bytes

    @property
    def verdict(self) -> str | None:
        """``ok``, ``tight``, ``oom`` or ``wont-start``; None without host memory."""
        return verdict_of(self.demand_bytes, self.available_bytes, self.headroom_percent, bool(self.pools.short))

    @property
    def max_processes(self) -> int | None:
        """Largest total process count that fits (demand <= available), all
        groups scaled by one factor; None without host memory or when the
        hugetlb pool stops the workload from starting at all."""
        if self.available_bytes is None or self.pools.short or self.process_count == 0:
            return None
        fixed = self.demand_bytes - self.per_process_bytes
        room = self.available_bytes - fixed
        if room <= 0:
            return 0
        return room * self.process_count // self.per_process_bytes


def budget(workload: Workload, result: SchemeResult, resident: dict[str, int],
           use_configured_pools: bool = True) -> Budget:
    """The memory budget of ``workload`` under the tables of ``result``.

    ``resident`` maps segment name to touched bytes (``model.resident_bytes``).
    """
    host = workload.host
    shmem = sum(resident.get(n, 0) for n, s in workload.segments.items() if s.backing == "shmem")
    cache = sum(resident.get(n, 0) for n, s in workload.segments.items() if s.backing == "file")
    pools = Pools(required=hugetlb_required(workload),
                  configured=host.hugepages if use_configured_pools else None)
    own_tables = result.groups.own_bytes_total()
    private = sum(g.count * g.private_memory for g in workload.groups)
    overhead = workload.process_count * host.process_overhead
    return Budget(
        shmem_bytes=shmem,
        page_cache_bytes=cache,
        pools=pools,
        page_table_bytes=result.physical_bytes,
        private_bytes=private,
        overhead_bytes=overhead,
        available_bytes=host.available,
        headroom_percent=host.headroom_percent,
        per_process_bytes=own_tables + private + overhead,
        process_count=workload.process_count,
    )
