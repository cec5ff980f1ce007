"""Words every format shares: the names of page-size columns, the rules that
stop sharing (``Why``) and the notes of a cell that shares nothing.

The model speaks in codes and values; these turn them into what an operator
reads, the same in a table, in markdown and in JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from ptcalc.model.evaluate import Cell, Evaluation, Note
from ptcalc.model.geometry import Arch
from ptcalc.model.schemes import Why
from ptcalc.model.whatif import Column, Replaced, ReplacedRows
from ptcalc.units import format_size, size_token


def count_of(n: int, one: str, many: str | None = None) -> str:
    """``1 process``, ``1,500 processes``: a count and its noun, singular for one.

    >>> count_of(1, "process", "processes"), count_of(1500, "process", "processes"), count_of(2, "group")
    ('1 process', '1,500 processes', '2 groups')
    """
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def pages_text(col: Column) -> str:
    """The pages of the configured workload's segments: ``4 KiB shmem, 2 MiB hugetlb``."""
    return ", ".join(f"{format_size(ps)} {backing}" for ps, backing in col.pages)


def column_label(col: Column) -> str:
    """A column's name: ``2 MiB hugetlb``, ``4 KiB``, the configured pages
    (``4 KiB shmem``) where a what-if is the workload as configured, or
    ``configured (...)`` where none is."""
    if col.configured:
        return pages_text(col) if col.merged else f"configured ({pages_text(col)})"
    assert col.page_size is not None
    return format_size(col.page_size) + (" hugetlb" if col.hugetlb else "")


def column_title(col: Column) -> str:
    """What "as configured (...)" titles say of a column: its pages."""
    return pages_text(col) if col.configured else column_label(col)


def sweep_column_label(col: Column) -> str:
    """The column a sweep runs on: ``4 KiB shmem (as configured)``, ``2 MiB hugetlb (what-if)``,
    ``configured (4 KiB shmem, 2 MiB hugetlb)`` (which says it once)."""
    if col.configured and not col.merged:
        return column_label(col)
    return column_label(col) + (" (as configured)" if col.configured else " (what-if)")


def explain_column_label(col: Column) -> str:
    """The column explained: ``configured (...)``, ``as configured (4 KiB shmem)``, ``what-if: 2 MiB hugetlb pages``."""
    if col.configured:
        return column_label(col) if not col.merged else f"as configured ({column_title(col)})"
    return f"what-if: {column_label(col)} pages"


def _spans(arch: Arch) -> tuple[str, str]:
    pmd_size = format_size(arch.levels[0].table_span)
    pmd = arch.level("pmd")
    pud_size = format_size(pmd.table_span) if pmd else "PUD_SIZE"
    return pmd_size, pud_size


@lru_cache(maxsize=256)
def reason(why: Why, level: str, arch: Arch) -> str:
    """One sentence: why tables at ``level`` ("pmd" or "pte") are not shared
    (the same few sentences for every mapping of a large explain: made once).

    >>> from ptcalc.model.geometry import X86_64
    >>> reason(Why.MISALIGNED, "pmd", X86_64)
    'address not congruent to the file offset modulo 1 GiB'
    """
    pmd_size, pud_size = _spans(arch)
    window = pud_size if level == "pmd" else pmd_size
    share = arch.pmd_share_size
    return {
        Why.SHARED: "shared",
        Why.PRIVATE_SCHEME: "the private scheme shares nothing",
        Why.NOT_HUGETLB: "mainline Linux shares page tables only for hugetlb mappings",
        Why.NOT_PMD_PAGES: (f"hugetlb PMD sharing needs {format_size(share)} pages (huge_pte_alloc)"
                            if share else "this architecture has no hugetlb PMD sharing"),
        Why.ARCH_NO_PMD_SHARE: f"{arch.name} has no hugetlb PMD sharing (CONFIG_ARCH_WANT_HUGE_PMD_SHARE)",
        Why.PROT_NONE: "a PROT_NONE mapping is never faulted in: it has no page tables",
        Why.USERFAULTFD: "userfaultfd write-protect/minor registration needs private tables "
                         "(uffd_disable_huge_pmd_share)",
        Why.SOFT_DIRTY: "soft-dirty tracking needs per-process tables",
        Why.BELOW_THRESHOLD: "the segment is smaller than the file-cached size threshold",
        Why.MISALIGNED: f"address not congruent to the file offset modulo {window}",
        Why.NO_WHOLE_WINDOW: f"no whole {window}-aligned {window} window lies inside the mapping",
        Why.NO_TABLES_AT_LEVEL: (f"its pages are mapped above the {level.upper()} level: "
                                 f"there are no {level.upper()} tables to share"),
        Why.PTSHARE_ALIGNMENT: f"ptshare needs the address and size to be multiples of {pmd_size}",
        Why.PRIVATE_MAPPING: "a MAP_PRIVATE mapping's tables are its process's own under every scheme",
    }[why]


def note_text(note: Note | None, arch: Arch) -> str | None:
    """Why a scheme saves nothing in a cell, as the comparison shows it."""
    if note is None:
        return None
    if note.kind == "costs-more":
        return "costs more than private here: the region's host mm needs its own top-level tables"
    if note.kind == "one-user":
        return ("equals private: the touched pages lie in shareable ranges, but no two processes map them alike "
                "(each shareable table has one user)")
    if note.kind == "nothing-shareable" or note.why is None or note.level is None:
        return "equals private: no touched page lies in a shareable range"
    return f"equals private: {reason(note.why, note.level, arch)}"


def placement_text(cell: Cell) -> str | None:
    """The best case of a what-if whose mappings the kernel would place
    elsewhere, when it differs: ``1 GiB-aligned: 5.5 MiB``."""
    best = cell.aligned
    if best is None or best.result.physical_bytes == cell.result.physical_bytes:
        return None
    figure = format_size(best.result.physical_bytes)
    if figure == format_size(cell.result.physical_bytes):  # the same once rounded: say by how much
        figure += f" ({format_size(cell.result.physical_bytes - best.result.physical_bytes)} less)"
    return f"{format_size(cell.arch.pud_size)}-aligned: {figure}"


def _already_best(replaced: Sequence[Replaced]) -> bool:
    """Whether the kernel's placement of every re-placed mapping is the best
    case (1 GiB pages: aligned to the page size is aligned to PUD_SIZE)."""
    if isinstance(replaced, ReplacedRows):
        return replaced.address == replaced.aligned_address
    return all(r.address == r.aligned_address for r in replaced)


def placement_notes(report: Evaluation) -> list[str]:
    """One sentence per what-if column whose mappings the kernel would place
    elsewhere: how its figures place them, and what the best case is."""
    out = []
    for col in report.columns:
        if not col.replaced or not col.available:
            continue
        n = len(col.replaced)
        pud = format_size(report.workload.arch.pud_size)
        they, them = ("they", "them") if n != 1 else ("it", "it")
        what = f"{n} mapping{'s are' if n != 1 else ' is'}"
        head = (f"{column_label(col)}: {what} not where {they} could be on these pages (an address not aligned to "
                f"them, or an overlap once grown to them): the figures place {them} as the kernel would "
                f"(hugetlb_get_unmapped_area: aligned to the page size, top-down below where {they} ended); ")
        if _already_best(col.replaced):
            tail = (f"that is already the best case: {'their addresses are' if n != 1 else 'its address is'} "
                    f"congruent to the file offset modulo {pud}.")
        elif any(c.aligned is not None for c in report.cells_of(col)):
            tail = (f"'{pud}-aligned' is the best case, at an address congruent to the file offset modulo {pud} "
                    f"(an mmap or shmat address hint; explain --page-size {size_token(col.page_size or 0)} "
                    f"says which).")
        else:
            # e.g. a segment among the libraries: moved down to a congruent address it
            # leaves the PMD/PUD tables it shares with them (Cell.aligned)
            tail = f"an address congruent to the file offset modulo {pud} would not save tables here."
        out.append(head + tail)
    return out
