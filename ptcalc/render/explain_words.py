"""Wording ``explain`` shares between its table and markdown renderers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

from ptcalc.model.explain import Explanation, Finding, Fix, GroupExplain, MappingExplain, Pool, Sharing, VmpteNote
from ptcalc.model.explain.alike import Alike, merged
from ptcalc.model.explain.types import FindingList, PrivateExplain
from ptcalc.render.words import count_of, reason
from ptcalc.units import format_kib, format_size, size_token
from ptcalc.model.whatif import Replaced, ReplacedRows
from ptcalc.workload.types import Mapping, Mappings, SpecTable

LEVELS_SHOWN: tuple[str, ...] = ("pte", "pmd", "pud", "p4d", "pgd")

# What the text and markdown outputs list (JSON lists every one)
MAX_MAPPING_ROWS = 40
"""Most mappings a group's table lists: those owning the most tables."""
MAX_FINDINGS = 50
"""Most (merged) findings listed."""
MAX_NAMES = 100
"""Most mappings a merged finding names."""
JSON_HINT = "--format json lists every one"


def most(weights: list[int], limit: int) -> list[int]:
    """The indices of the ``limit`` largest weights (ties: the earlier), in order."""
    if len(weights) <= limit:
        return list(range(len(weights)))
    return sorted(sorted(range(len(weights)), key=lambda i: -weights[i])[:limit])


def shown_mappings(e: Explanation, g: GroupExplain) -> list[int]:
    """The mappings of ``g`` a table lists: the ``MAX_MAPPING_ROWS`` owning the most tables."""
    tb = e.table_bytes
    below = tuple(n for n in levels_of(e) if n != "pgd")
    return most([sum(own[n] * tb.get(n, 0) for n in below) for own in g.mappings.own()], MAX_MAPPING_ROWS)


def more_mappings_text(hidden: int) -> str:
    return f"... and {hidden:,} more mappings"


def more_findings_text(findings: int, mappings: int) -> str:
    return f"... and {findings:,} more findings (about {mappings:,} mappings); {JSON_HINT}"


def levels_of(e: Explanation) -> tuple[str, ...]:
    """The levels the architecture has, leaf first."""
    return tuple(n for n in LEVELS_SHOWN if n in e.table_bytes)


def mapping_label(me: MappingExplain) -> str:
    m = me.mapping
    return (f"#{me.index} {m.segment} [{format_size(m.offset)} + {format_size(m.size)}] "
            f"{m.protection}{' (auto)' if m.auto else ''}")


def va_range(me: MappingExplain, sep: str = "-") -> str:
    """``0x10000000000-0x14b00000000``; a table gives ``sep=" - "`` to let it wrap."""
    m = me.mapping
    return f"{m.address:#x}{sep}{m.end:#x}"


def pages(me: MappingExplain) -> str:
    return f"{format_size(me.page_size)} {me.backing}"


PRIVATE_KIND_WORDS = {"anon": "anonymous", "file": "private file", "stack": "stack"}


def private_label(pe: PrivateExplain) -> str:
    """``program (private file)``: a private mapping's name and kind."""
    m = pe.mapping
    kind = PRIVATE_KIND_WORDS[m.kind]
    name = m.name if m.name and m.name != m.kind else ""
    return f"{name} ({kind})" if name else kind


def private_va_range(pe: PrivateExplain, sep: str = "-") -> str:
    return f"{pe.mapping.address:#x}{sep}{pe.mapping.end:#x}"


def private_pages(pe: PrivateExplain, base_page: int) -> str:
    m = pe.mapping
    if m.page_size == base_page:
        return f"{format_size(m.page_size)} private"
    return f"{format_size(m.page_size)} {'anon THP' if m.kind == 'anon' else 'PMD-mapped'}"


MAX_PRIVATE_ROWS = 8
"""Most own mappings a group's table lists one by one; a scanned process has
dozens (every library's text, data and bss), which are then summed per kind
(``--format json`` lists every one)."""


@dataclass(frozen=True)
class PrivateRow:
    """A row of a group's own mappings: one mapping, or every one of a kind
    and page size summed."""

    label: str
    va_range: str
    pages: str
    own: dict[str, int]
    note: str


def private_rows(g: GroupExplain, base_page: int, sep: str = "-") -> list[PrivateRow]:
    """The rows of ``g``'s own mappings: each one while they are few
    (:data:`MAX_PRIVATE_ROWS`), else one per kind and page size, in the order
    the kinds first appear, with the tables only its members need summed
    (a table several of them use is on the table's "used by several" row)."""
    pes = g.private_mappings
    own_note = "- (MAP_PRIVATE: its own)"
    if len(pes) <= MAX_PRIVATE_ROWS:
        return [PrivateRow(private_label(pe), private_va_range(pe, sep), private_pages(pe, base_page), pe.own,
                           own_note) for pe in pes]
    kinds: dict[tuple[str, str], list[PrivateExplain]] = {}
    for pe in pes:
        kinds.setdefault((pe.mapping.kind, private_pages(pe, base_page)), []).append(pe)
    rows = []
    for (kind, page_words), members in kinds.items():
        names = list(dict.fromkeys(m.mapping.name for m in members if m.mapping.name and m.mapping.name != kind))
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4:,} more" if len(names) > 4 else "")
        label = (f"{len(members):,} {PRIVATE_KIND_WORDS[kind]} mappings" if len(members) != 1
                 else private_label(members[0]))
        va = f"{min(m.mapping.address for m in members):#x}{sep}{max(m.mapping.end for m in members):#x}"
        own = {n: sum(m.own[n] for m in members) for n in members[0].own}
        rows.append(PrivateRow(label, va, page_words, own,
                               own_note + (f": {shown}" if shown and len(members) != 1 else "")))
    return rows


def split_text(g: GroupExplain) -> str | None:
    """How one process's VmPTE splits between the shared segments and its own
    mappings, and which dominates (None without private mappings)."""
    parts = g.vmpte_parts
    if parts is None or not g.private_mappings:
        return None
    text = (f"VmPTE {format_kib(g.vmpte_bytes)} per process: shared segments {format_kib(parts.segments)}, "
            f"its own (private) mappings {format_kib(parts.private)}")
    if parts.mixed:
        text += f", tables covering both {format_kib(parts.mixed)}"
    text += ("; the private mappings dominate" if parts.dominant == "private" else "; the shared segments dominate")
    if g.default_layout:
        text += " (private mappings: the kernel's default layout, as no private_mappings are listed)"
    return text


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


MAX_POOL_USERS = 8
"""Users named per pool in tables and markdown (JSON lists every one)."""


def pool_users_text(e: Explanation, p: Pool, escape: Callable[[str], str] = str) -> str:
    """``db #0 (10), app #1 (40)``: the first users of a pool, then how many
    more mappings and processes (``escape``: markdown's, for names)."""
    shown = [f"{escape(e.groups[g].name)} #{mi} ({n:,})" for g, mi, n in p.users[:MAX_POOL_USERS]]
    rest = p.users[MAX_POOL_USERS:]
    if rest:
        shown.append(f"and {len(rest):,} more mappings ({sum(n for _, _, n in rest):,} processes)")
    return ", ".join(shown)


def sharing_text(e: Explanation, s: Sharing, group_count: int) -> str:
    """``pmd: 300 tables of pool 0, all shared with the group's 1,500 processes
    and db #0 (10 proc., 300 tables in common); 1,510 users each``."""
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
        who.append(f"{p.group} #{p.mapping} ({p.processes:,} proc., {p.tables:,} table{'s' if p.tables != 1 else ''} "
                   "in common)")
    if s.more_partners:
        who.append(f"more mappings of pool {s.pool}")
    link = "" if s.attached else ", reached through a shared table" if e.pools[s.pool].kind != "mshare" else ""
    fewest, most = s.sharers
    users = f"{most:,} user{'s' if most != 1 else ''} each" if fewest == most else f"{fewest:,} to {most:,} users each"
    return (f"{s.level}: {s.tables:,} table{'s' if s.tables != 1 else ''} of pool {s.pool}{link}, {how}"
            + (f" with {'; '.join(who)}" if who else "") + (f" ({users})" if s.tables and s.shared else ""))


PROT_WORDS = {"rw": "read-write", "r": "read-only", "none": "PROT_NONE"}


def _shift(delta: int) -> str:
    return f"{'+' if delta > 0 else '-'}{format_size(abs(delta))}"


def _as(like: tuple[str, ...]) -> str:
    return f"as {', '.join(like)} {'does' if len(like) == 1 else 'do'} (if the application allows)"


def fix_description(f: Fix) -> str:
    """What the fix changes: ``move the mapping by -2 MiB (to 0x10000000000)``."""
    if f.kind == "move":
        assert f.delta is not None and f.new_range is not None
        return f"move the mapping by {_shift(f.delta)} (to {f.new_range[0]:#x})"
    if f.kind == "grow":
        assert f.new_range is not None and f.new_offset is not None
        start, end = f.new_range
        return (f"grow the mapping to cover [{start:#x}, {end:#x}) (file offsets {f.new_offset:#x} to "
                f"{f.new_offset + end - start:#x})")
    if f.kind == "userfaultfd":
        return "register the range with userfaultfd in missing mode only (no write-protect or minor faults)"
    if f.kind == "soft-dirty":
        return "stop soft-dirty tracking of this process (no clear_refs 4)"
    if f.kind == "threshold":
        assert f.threshold is not None
        return (f"lower the file-cached threshold to {format_size(f.threshold)} or less "
                f"(--file-cached-threshold {size_token(f.threshold)})")
    if f.kind == "hugetlb-pages":
        assert f.page_size is not None
        return f"put segment {f.segment} on {format_size(f.page_size)} hugetlb pages (SHM_HUGETLB / MAP_HUGETLB, hugetlbfs)"
    if f.kind == "protection":
        prot = PROT_WORDS[f.protection or "rw"]
        if f.delta is not None and f.new_range is not None:
            return f"map it {prot} and move it by {_shift(f.delta)} (to {f.new_range[0]:#x}), {_as(f.like)}"
        return f"map it {prot}, {_as(f.like)}"
    raise ValueError(f"unknown fix {f.kind!r}")  # pragma: no cover


def fix_text(f: Fix) -> str:
    return (f"{fix_description(f)}: page tables {format_size(f.physical_before)} -> {format_size(f.physical_after)} "
            f"(saves {format_size(f.saves)})")


def _class(c: int | str | None) -> str:
    """An ``address - offset`` class: ``0``, ``2 MiB``, ``auto``."""
    if isinstance(c, int):
        return format_size(c) if c else "0"
    return str(c)


def reason_text(e: Explanation, f: Finding) -> str:
    """Why the finding's tables stay private, in one sentence."""
    if f.why is not None:
        return reason(f.why, f.why_level, e.workload.arch)
    what = "windows" if f.level == "pmd" else "blocks"
    if f.rule == "partial-window":
        span = format_size(f.span or 0)
        where = " and ".join(f"[{a:#x}, {b:#x})" for a, b in f.ranges)
        return (f"{where} lie in {span} windows only partly inside the mapping: a {f.level.upper()} table is shared "
                f"only for a {span}-aligned window wholly inside it "
                f"({'vma_shareable' if f.level == 'pmd' else 'the file-cached rule'})")
    if f.rule == "alone" and f.segment is not None:  # an mshare region
        return (f"only one process maps region ({f.segment}, {f.protection}): its host mm's tables cost more than "
                "private tables would")
    if f.rule == "alone":
        return (f"no other process maps these file {what} with the same alignment and protection: the tables are "
                "shareable but have one user")
    who = ", ".join(f.others)
    verb = "maps" if len(f.others) == 1 else "map"
    apart = ""
    if f.alignment != f.their_alignment:
        modulo = f" modulo {format_size(f.span or 0)}" if f.level == "pmd" else ""
        apart = f"address - offset = {_class(f.their_alignment)}{modulo} where this mapping has {_class(f.alignment)}"
    if f.rule == "protection-differs":
        return (f"{who} {verb} the same file {what} {PROT_WORDS[f.their_protection or 'rw']}"
                f"{', with ' + apart if apart else ''}; this mapping is {PROT_WORDS[f.protection or 'rw']}: tables "
                "are shared only between mappings with the same vm_flags (and alignment: page_table_shareable), so "
                "they keep separate tables")
    return (f"{who} {verb} the same file {what} with {apart}: tables are shared only between mappings with the same "
            "alignment (page_table_shareable)")


_NOTES = {
    "no-single-change": "no single change to this mapping would save page-table memory here",
    "file-not-hugetlb": ("a file on a regular filesystem cannot use hugetlb pages; the file-cached proposal or "
                         "mshare would share its tables"),
    "prot-none-no-tables": "a PROT_NONE mapping is never faulted in: it has no tables to share",
    "above-level": "its pages are mapped by entries above this level: there is nothing to share here",
    "private-baseline": ("the private scheme is the baseline: compare it with --scheme hugetlb-pmd, mshare or "
                         "file-cached"),
    "nothing-to-save": "nothing to share and nothing to save",
    "mshare-from-two": "mshare pays off from two processes on",
    "no-gain-yet": "nothing to gain until another process maps them",
}


def note_text(f: Finding) -> str | None:
    """Why the finding has no fix, or what else to know."""
    if f.note is None:
        return None
    if f.note == "segment-too-small":
        return (f"segment {f.segment} ({format_size(f.segment_size or 0)}) is smaller than one "
                f"{format_size(f.span or 0)} window: no table of this level can be shared")
    return _NOTES[f.note]


def vmpte_text(v: VmpteNote) -> str:
    """Why VmPTE summed over the processes differs from the physical page tables."""
    summed, physical = v.summed_bytes, v.physical_bytes
    if summed > physical:
        head = f"exceeds the physical page tables ({format_size(physical)}) by {format_size(summed - physical)}"
    elif summed < physical:
        head = f"is below the physical page tables ({format_size(physical)}) by {format_size(physical - summed)}"
    else:
        head = f"equals the physical page tables ({format_size(physical)})"
    lines = [f"VmPTE summed over the {count_of(v.processes, 'process', 'processes')} ({format_size(summed)}) {head}."]
    lines.append(f"Both hold the PTE/PMD/PUD tables the processes own ({format_size(v.own_bytes)}).")
    if v.attachments:
        lines.append(
            f"VmPTE adds {format_size(v.attached_bytes)}: {v.attachments:,} links to shared tables, each shared table "
            f"counted in every process that links it in, while physically those tables exist once "
            f"({format_size(v.linked_bytes)}). The OOM killer's badness adds the same per-process figure, so every "
            "sharer is charged for them.")
    elif v.linked_bytes:
        lines.append(f"Physical adds the shared tables, counted once ({format_size(v.linked_bytes)}).")
    unlinked = v.pool_bytes - v.linked_bytes
    if unlinked:
        what = {"mshare-host": "the mshare host mm's tables, which belong to the region, not to the processes",
                "ptshare": "ptshare's shared PTE tables, which belong to the shared mm",
                "below-shared-pmd": "the PTE tables below shared PMD tables, which no process links in itself",
                }[v.unlinked]
        lines.append(f"Physical adds {what} ({format_size(unlinked)}).")
    if v.top_bytes:
        lines.append(f"Physical adds the processes' PGD/P4D tables ({format_size(v.top_bytes)}), which VmPTE never "
                     "counts.")
    return " ".join(lines)


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


def grouped(e: Explanation, a: Alike | None = None) -> list[list[int]]:
    """Findings that say the same thing (rule, reason, tables, fix) about several
    mappings -- of one group, or of alike groups (instance copies), each on its
    own segments -- merged: indices into ``e.findings``, in order, each list
    worded by its first (:func:`ptcalc.model.explain.alike.merged`)."""
    return merged(e, a)


def _where(e: Explanation) -> tuple[Sequence[int], Sequence[int]]:
    """Per finding, its group and mapping (no Finding made where they are kept as columns)."""
    fl = e.findings
    if isinstance(fl, FindingList):
        return fl.group, fl.mapping
    return [f.group for f in fl], [f.mapping for f in fl]


def where_all(e: Explanation, fs: list[int], limit: int | None = None) -> str:
    """Every mapping a (merged) finding is about (``fs``: indices into
    ``e.findings``), each named (the first ``limit`` of them, and how many
    more, when ``limit`` is given)."""
    if len(fs) == 1:
        return finding_where(e, e.findings[fs[0]])
    group, mapping = _where(e)
    names = []
    for i in fs[:limit]:
        g, mi = e.groups[group[i]], mapping[i]
        names.append(g.name if mi < 0 else f"{g.name} #{mi} ({g.mappings.segment(mi)})")
    groups = len({group[i] for i in fs})
    what = "groups" if all(mapping[i] < 0 for i in fs) else "mappings"
    head = f"{len(fs)} {what}" + (f" of {groups} groups" if what == "mappings" and groups > 1 else "")
    more = f" and {len(fs) - len(names):,} more" if len(names) < len(fs) else ""
    return f"{head}: " + ", ".join(names) + more


def copies_text(e: Explanation, fs: list[int]) -> str | None:
    """For a finding merged over alike groups that name their own segments
    (``fs``: indices into ``e.findings``): that the wording is the first's,
    and the same holds for each."""
    groups = e.groups
    group, mapping = _where(e)
    segments = {groups[group[i]].mappings.segment(mapping[i]) for i in fs if mapping[i] >= 0}
    if len(segments) < 2 or mapping[fs[0]] < 0:
        return None
    return (f"the same for each of them, on its own segment ({len(segments)} segments); worded for "
            f"{e.groups[group[fs[0]]].name}")


def alike_text(names: list[str]) -> str:
    """After a group's table: the groups it stands for too."""
    return (f"The same for {count_of(len(names), 'more group', 'more groups')} alike, figure for figure, each with "
            f"its own segments and pools: {', '.join(names)}")


MAX_PLACEMENT_LINES = 20
"""Most re-placements ``explain`` text describes (alike ones merged); JSON lists all."""


def moved_private_lines(e: Explanation) -> list[str]:
    """The processes' own mappings the what-if moved out of a re-placed
    mapping's way: one line, the same move in several groups named once."""
    moved = e.column.moved_private
    if not moved:
        return []
    src = e.column.source
    assert src is not None
    alike: dict[tuple[str, int, int], list[str]] = {}
    for gi, j, old, new in moved:
        g = src.groups[gi]
        pm = g.private_mappings[j]
        alike.setdefault((pm.name or pm.kind, old, new), []).append(g.name)
    parts = [f"{name} of {groups[0] if len(groups) == 1 else f'{len(groups)} groups'} from {old:#x} to {new:#x}"
             for (name, old, new), groups in list(alike.items())[:3]]
    more = len(alike) - len(parts)
    one = len(moved) == 1
    return [f"Made after {'the mapping' if len(e.column.replaced) == 1 else 'those mappings'} and in "
            f"{'its' if len(e.column.replaced) == 1 else 'their'} way, {len(moved):,} of the processes' own "
            f"mapping{'' if one else 's'} {'goes' if one else 'go'} where the kernel put "
            f"{'it' if one else 'them'} instead (above {'it' if len(e.column.replaced) == 1 else 'them'} when "
            f"the alignment leaves room, else below): {'; '.join(parts)}"
            + (f"; and {more:,} more" if more > 0 else "") + "."]


def _segment_size(mappings: Sequence[Mapping], j: int) -> tuple[str, int]:
    """Mapping ``j``'s segment and size, read from its group's spec columns
    when it has them: no Mapping, nor MappingSpec, object (20,000 re-placed
    mappings of 1,000 groups made 100,000 of the first, 20,000 of the
    second)."""
    if isinstance(mappings, Mappings):
        specs, c = mappings.specs, mappings.codes[j]
        if isinstance(specs, SpecTable):
            return specs.segment[c], specs.size[c]
        spec = specs[c]
        return spec.segment, spec.size
    m = mappings[j]
    return m.segment, m.size


def _replaced_columns(replaced: Sequence[Replaced]) -> tuple[list[int], list[int], list[int], list[int], list[int],
                                                                list[bool]]:
    """The re-placed mappings' group, mapping, old address, address, best-case
    address and misalignment, as lists (a :class:`ReplacedRows`' own columns:
    no object per mapping)."""
    if isinstance(replaced, ReplacedRows):
        return (replaced.group, replaced.mapping, replaced.old_address, replaced.address, replaced.aligned_address,
                replaced.misaligned)
    return ([r.group for r in replaced], [r.mapping for r in replaced], [r.old_address for r in replaced],
            [r.address for r in replaced], [r.aligned_address for r in replaced],
            [r.reason == "misaligned" for r in replaced])


def placement_lines(e: Explanation) -> list[str]:
    """What the what-if placed as the kernel would, and the best case: one
    line per re-placement (the same mapping of several groups placed alike
    is one line), then the figures."""
    col = e.column
    if not col.replaced:
        return []
    page = format_size(col.page_size or 0)
    pud_size = e.workload.arch.pud_size
    pud = format_size(pud_size)
    helps = e.aligned_physical_bytes is not None
    alike: dict[tuple[str, int, int, int, int, bool], list[str]] = {}
    groups = e.workload.groups
    known: dict[int, tuple[str, Sequence[Mapping]]] = {}  # per group: its name and mappings
    cols = _replaced_columns(col.replaced)
    for gi, mi, old, addr, best, misaligned in zip(*cols):
        got = known.get(gi)
        if got is None:
            g = groups[gi]
            got = known[gi] = (g.name, g.mappings)
        name, mappings = got
        segment, size = _segment_size(mappings, mi)
        key = (segment, size, old, addr, best, misaligned)
        where = alike.get(key)
        if where is None:
            where = alike[key] = []
        where.append(f"{name} #{mi}")
    out = []
    for (segment, size, old, addr, best, misaligned), where in list(alike.items())[:MAX_PLACEMENT_LINES]:
        one = len(where) == 1
        its, it = ("its", "it") if one else ("their", "each")
        why = (f"{its} address is not a multiple of {page}" if misaligned
               else f"grown to {page} pages {'it' if one else 'each'} would overlap another mapping")
        who = where[0] if one else f"{len(where)} mappings ({', '.join(where)})"
        line = (f"{who} {segment}: configured at {old:#x}; {why}, so the kernel would place {it} at {addr:#x} "
                f"({page}-aligned, top-down: hugetlb_get_unmapped_area).")
        if size < pud_size:
            line += (f" Smaller than {pud}, {'it fills' if one else 'they fill'} no {pud} window wherever "
                     f"{'it is' if one else 'they are'}: no PMD table of {'it' if one else 'them'} is shared.")
        elif addr == best:
            line += f" That address is congruent to {its} file offset modulo {pud}: the best case."
        elif helps:
            line += (f" At {best:#x}, congruent to {its} file offset modulo {pud}, whole {pud} windows line up "
                     f"with every sharer's: map {'it' if one else 'them'} there with an address hint (mmap addr / "
                     f"shmat shmaddr) or MAP_FIXED_NOREPLACE.")
        out.append(line)
    if len(alike) > MAX_PLACEMENT_LINES:
        rest = sum(len(w) for w in list(alike.values())[MAX_PLACEMENT_LINES:])
        out.append(f"... and {rest:,} more mappings placed again; --format json lists every one.")
    out += moved_private_lines(e)
    them = "them" if len(col.replaced) > 1 else "it"
    figure = format_size(e.result.physical_bytes)
    if e.aligned_physical_bytes is not None:
        best_figure = format_size(e.aligned_physical_bytes)
        if best_figure == figure:
            best_figure += f" ({format_size(e.result.physical_bytes - e.aligned_physical_bytes)} less)"
        out.append(f"Page tables as the kernel would place {them}: {figure}; {pud}-aligned: {best_figure}.")
    elif cols[3] != cols[4]:  # (some address is not the best case's)
        out.append(f"Page tables as the kernel would place {them}: {figure}; an address congruent to the file "
                   f"offset modulo {pud} would not save tables here.")
    return out
