"""Wording ``explain`` shares between its table and markdown renderers."""

from __future__ import annotations

from ptcalc.model.explain import Explanation, Finding, Fix, MappingExplain, Pool, Sharing
from ptcalc.units import format_size

LEVELS_SHOWN: tuple[str, ...] = ("pte", "pmd", "pud", "p4d", "pgd")


def levels_of(e: Explanation) -> tuple[str, ...]:
    """The levels the architecture has, leaf first."""
    return tuple(n for n in LEVELS_SHOWN if n in e.table_bytes)


def mapping_label(me: MappingExplain) -> str:
    m = me.mapping
    return (f"#{me.index} {m.segment} [{format_size(m.offset)} + {format_size(m.size)}] "
            f"{m.protection}{' (auto)' if m.auto else ''}")


def va_range(me: MappingExplain) -> str:
    m = me.mapping
    return f"{m.address:#x}-{m.end:#x}"


def pages(me: MappingExplain) -> str:
    return f"{format_size(me.page_size)} {me.backing}"


def pool_label(p: Pool) -> str:
    what = {"pmd": "shared PMD tables", "pte": "shared PTE tables", "mshare": "mshare region host mm"}[p.kind]
    text = f"pool {p.id}: {what} of {p.segment} ({p.protection})"
    if isinstance(p.alignment, int):
        text += f", address - offset = {format_size(p.alignment) if p.alignment else '0'}"
        if p.kind == "pmd":
            text += " mod PUD_SIZE"
    elif p.alignment == "auto":
        text += ", auto-placed"
    return text


def sharing_text(e: Explanation, s: Sharing, group_count: int) -> str:
    """``pmd: 300 tables of pool 0, all shared (1,500 processes of this group; db 2 x 10)``."""
    if s.shared == s.tables:
        how = "all shared" if s.tables else "none"
    elif s.shared == 0:
        how = "none shared"
    else:
        how = f"{s.shared:,} shared"
    who = []
    if group_count >= 2:
        who.append(f"the group's {group_count:,} processes")
    for p in s.partners:
        who.append(f"{p.group} #{p.mapping} ({p.processes:,} proc., {p.tables:,} tables in common)")
    link = "" if s.attached else ", reached through a shared table" if e.pools[s.pool].kind != "mshare" else ""
    return (f"{s.level}: {s.tables:,} table{'s' if s.tables != 1 else ''} of pool {s.pool}{link}, {how}"
            + (f" with {'; '.join(who)}" if who else ""))


def fix_text(f: Fix) -> str:
    return (f"{f.text}: page tables {format_size(f.physical_before)} -> {format_size(f.physical_after)} "
            f"(saves {format_size(f.saves)})")


def finding_where(e: Explanation, f: Finding) -> str:
    g = e.groups[f.group]
    if f.mapping < 0:
        return g.name
    me = g.mappings[f.mapping]
    return f"{g.name} {mapping_label(me)} at {va_range(me)}"


def finding_tables(f: Finding) -> str:
    if not f.tables:
        return "no tables"
    parts = [f"{n:,} {lv.upper()}" for lv, n in f.tables.items() if n]
    if not parts:
        return "no tables"
    one = len(parts) == 1 and sum(f.tables.values()) == 1
    if f.rule in ("alignment-differs", "protection-differs"):
        return " + ".join(parts) + (" table" if one else " tables") + " per process kept in a set of their own"
    if f.rule == "alone":
        return " + ".join(parts) + (" table" if one else " tables") + " per process with no other user"
    return " + ".join(parts) + (" table per process stays private" if one else " tables per process stay private")


def grouped(e: Explanation) -> list[tuple[list[Finding], Finding]]:
    """Findings that say the same thing (rule, reason, tables, fix) about several
    mappings, merged: (the findings, one of them to word it by), in order."""
    out: list[tuple[list[Finding], Finding]] = []
    index: dict[tuple, int] = {}
    for f in e.findings:
        key: tuple = (f.rule, f.level, f.reason, tuple(sorted(f.tables.items())), f.note,
               f.fix.text if f.fix else None, f.fix.saves if f.fix else None,
               tuple(a.text for a in f.alternatives))
        if f.ranges and f.rule not in ("not-hugetlb", "private-scheme", "prot-none"):
            key += (f.group, f.mapping)  # ranges are in the reason or specific to the mapping
        if key in index:
            out[index[key]][0].append(f)
        else:
            index[key] = len(out)
            out.append(([f], f))
    return out


def where_all(e: Explanation, fs: list[Finding]) -> str:
    if len(fs) == 1:
        return finding_where(e, fs[0])
    names = []
    for f in fs:
        g = e.groups[f.group]
        names.append(g.name if f.mapping < 0 else f"{g.name} #{f.mapping} ({g.mappings[f.mapping].mapping.segment})")
    return f"{len(fs)} mappings: " + ", ".join(names)
