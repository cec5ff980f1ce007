"""The sentence of each ``check`` condition, as every format shows it (text, JSON, JUnit)."""

from __future__ import annotations

from ptcalc.model.check import CheckResult, Condition
from ptcalc.render.words import column_label
from ptcalc.units import format_size


def where(c: CheckResult) -> str:
    """``hugetlb-pmd @ 4 KiB shmem``: the scheme and the column."""
    return f"{c.scheme} @ {column_label(c.column)}"


def message(c: CheckResult, cond: Condition) -> str:
    """What ``cond`` found: ``OK (demand ... free); worst accepted TIGHT``,
    ``page tables 1.2 GiB <= limit 5% of 512 GiB host memory = 25.6 GiB (--max-page-tables 5%)``."""
    if cond.name == "verdict":
        verdict = str(cond.actual)
        available = c.available_bytes or 0
        if verdict == "wont-start":
            short = ", ".join(f"{n:,} x {format_size(ps)}" for ps, n in sorted(c.pool_short.items()))
            detail = f"the hugetlb pool is {short} pages short"
        elif verdict == "oom":
            detail = f"demand {format_size(c.demand_bytes)} > {format_size(available)} available"
        else:
            detail = (f"demand {format_size(c.demand_bytes)} of {format_size(available)} available, "
                      f"{format_size(c.free_bytes or 0)} free")
        return f"{verdict.upper()} ({detail}); worst accepted {str(cond.limit).upper()}"
    lim = cond.threshold
    assert lim is not None and isinstance(cond.actual, int)
    if cond.name == "max-page-tables":
        what = {"pagetables": "PageTables", "vmpte": "VmPTE summed"}.get(cond.view or "physical", "page tables")
        rel, base = "<=" if cond.passed else ">", "host memory"
        limit = "limit"
    else:
        what, rel, base = "free memory", ">=" if cond.passed else "<", "available"
        limit = "required"
    if lim.kind == "percent":
        shown = f"{lim.value}% of {format_size(cond.base or 0)} {base} = {format_size(int(cond.limit or 0))}"
    else:
        shown = format_size(lim.value)
    return f"{what} {format_size(cond.actual)} {rel} {limit} {shown} (--{cond.name} {lim.text})"
