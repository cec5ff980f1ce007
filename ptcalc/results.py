"""What a page-table computation produces, for one scheme over one workload.

The closed-form model (``ptcalc.model``) and the brute-force simulator
(``ptcalc.simulate``) both return these types, so they can be compared field
by field.  Counts are tables (not pages, not bytes) per level, keyed by the
kernel's level names; every dict has all five keys, folded levels at 0.

    field                     where an operator sees it
    ------------------------  --------------------------------------------------
    tables                    /proc/meminfo PageTables (physical, shared once;
                              which levels it counts depends on the kernel)
    groups[i].vmpte_bytes     /proc/PID/status VmPTE of one process of the
                              group, for the workload's mappings
    groups[i].own_tables      tables only that process uses (freed at its exit)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ptcalc.arch import LEVEL_NAMES


def zero_levels() -> dict[str, int]:
    """A per-level count with every level at 0.

    >>> zero_levels()
    {'pte': 0, 'pmd': 0, 'pud': 0, 'p4d': 0, 'pgd': 0}
    """
    return {name: 0 for name in LEVEL_NAMES}


@dataclass(frozen=True)
class GroupResult:
    """Page tables of one process of a group (all processes of a group are alike)."""

    name: str
    count: int
    own_tables: dict[str, int]
    """Tables this process owns alone, per level (PGD included)."""
    attached_tables: dict[str, int]
    """Shared tables this process links in and VmPTE counts, per level."""
    per_process_bytes: int
    """Bytes of ``own_tables``."""
    vmpte_bytes: int
    """VmPTE for the workload's mappings: own + attached pte/pmd/pud tables."""


@dataclass(frozen=True)
class SchemeResult:
    """Page tables of the whole workload under one scheme."""

    scheme: str
    tables: dict[str, int]
    """Physical tables per level, shared ones once."""
    shared_tables: dict[str, int]
    """Of ``tables``, those with two or more sharers."""
    physical_bytes: int
    shared_bytes: int
    groups: tuple[GroupResult, ...]
    mshare_regions: int = 0
    """mshare host mms (one per segment and protection); their PGDs are in ``tables``."""
    notes: tuple[str, ...] = field(default=())
    """Why the scheme shares less than it might (for the report)."""

    @property
    def vmpte_total(self) -> int:
        """VmPTE summed over every process: overstates memory when tables are shared."""
        return sum(g.count * g.vmpte_bytes for g in self.groups)
