"""The reference simulator: build every process's page tables page by page.

This is the slow, obviously correct oracle the closed-form model
(``ptcalc.model.tables``) is checked against.  It shares no counting code with the
model: where the model does interval arithmetic over zones, this walks every
touched page of every mapping of every process (one process at a time, even
in a group of thousands), decides for that one page which tables it needs and
whether each is the process's own or a shared one (and under which key), and
records them in sets.  Counting is then ``len()`` of those sets.

    what                         kept as
    ---------------------------  ---------------------------------------------
    a process's own tables       dict (level index, va // table_span(level))
                                 -> the kinds of mapping under it (segment,
                                 private); an anonymous THP's deposited PTE
                                 table is its own entry
    a process's attached tables  set of (level index, mapping index, key)
    a shared table               dict (level index, key) -> set of sharers
                                 (process, mapping); an mshare host mm's
                                 tables, PGD included, are shared tables too

The rules are those of ``docs/semantics.md``, applied to a single page at a
time (e.g. "the page's PUD_SIZE window lies wholly inside the mapping").  It
is meant for small workloads: :func:`simulate` refuses a workload whose page
walk would exceed a budget of page visits.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import NamedTuple

from ptcalc.model.geometry import LEVEL_NAMES, VMPTE_LEVELS, Arch
from ptcalc.model.results import GroupResult, GroupResults, SchemeResult, zero_levels
from ptcalc.workload.types import Mapping, ModelOptions, PrivateMapping, Segment, Workload

SCHEMES: tuple[str, ...] = ("private", "hugetlb-pmd", "mshare", "file-cached")

PAGE_VISIT_BUDGET = 5_000_000
"""Most page visits (touched pages x processes) :func:`simulate` accepts."""


_NONE: tuple = ()


class _Page(NamedTuple):
    """What one touched page of one process needs, as the scheme decides it."""

    own_from: int
    """The process owns the tables at levels ``own_from`` .. below the PGD
    (one per level: the block of the address at that level)."""
    shared: tuple[tuple[int, Hashable], ...] = _NONE
    """Shared tables the page goes through: (level index, key)."""
    attached: tuple[tuple[int, Hashable], ...] = _NONE
    """Of ``shared``, those the process linked in itself (counted in VmPTE)."""
    host: Hashable | None = None
    """mshare v3: the region whose host mm holds the page (at its file offset)."""


class _Geometry:
    """The few numbers of an architecture profile the page rules use."""

    def __init__(self, arch: Arch) -> None:
        self.arch = arch
        self.names = [lv.name for lv in arch.levels]
        self.spans = [lv.table_span for lv in arch.levels]
        self.top = len(arch.levels) - 1  # the PGD's index
        self.pte = self.names.index("pte")
        self.pmd = self.names.index("pmd") if "pmd" in self.names else None
        self.p4d = self.names.index("p4d") if "p4d" in self.names else None
        # PMD_SIZE = what one PTE table covers; PUD_SIZE = what one PMD table covers.
        self.pmd_size = arch.levels[self.pte].table_span
        self.pud_size = arch.levels[self.pmd].table_span if self.pmd is not None else 0
        # mshare v3 attaches at the P4D entry on 5-level paging, else at the PGD entry.
        self.attach = self.p4d if self.p4d is not None else self.top


def _hugetlb_pmd_eligible(m: Mapping, seg: Segment, arch: Arch) -> bool:
    # mm/hugetlb.c want_pmd_share(): hugetlb, PMD-sized pages on an arch with
    # CONFIG_ARCH_WANT_HUGE_PMD_SHARE, not disabled by uffd wp/minor
    # (uffd_disable_huge_pmd_share); PROT_NONE mappings fault nothing.
    return (
        seg.backing == "hugetlb"
        and arch.pmd_share_size is not None
        and seg.page_size == arch.pmd_share_size
        and m.protection != "none"
        and m.userfaultfd not in ("wp", "minor")
    )


PageRule = Callable[[int], _Page]
"""Decides for the page at one virtual address of a mapping."""


class _Rules:
    """Per-page decisions of each scheme (docs/semantics.md section 3).

    :meth:`rule` looks at what is fixed for the whole mapping (backing, page
    size, protection, flags, the alignment class ``address - offset``) and
    returns a function that decides for a single page from its address alone,
    e.g. "the page's PUD_SIZE window lies wholly inside the mapping".
    """

    def __init__(self, geo: _Geometry, scheme: str, options: ModelOptions) -> None:
        self.geo = geo
        self.scheme = scheme
        self.options = options

    def rule(self, m: Mapping, seg: Segment, leaf: int) -> PageRule:
        """The page rule of mapping ``m`` (pages at leaf level ``leaf``) under the scheme."""
        if self.scheme == "private":
            return self.private(leaf)
        if self.scheme == "hugetlb-pmd":
            return self.hugetlb_pmd(m, seg, leaf)
        if self.scheme == "file-cached":
            return self.file_cached(m, seg, leaf)
        if self.options.mshare_variant == "ptshare":
            return self.ptshare(m, leaf)
        return self.mshare_v3(m, leaf)

    @staticmethod
    def private(leaf: int) -> PageRule:
        page = _Page(own_from=leaf)  # every level from the leaf up is the process's
        return lambda va: page

    def _inside(self, m: Mapping, start: int, size: int) -> bool:
        """``[start, start + size)`` lies wholly inside the mapping (vma_shareable)."""
        return m.address <= start and start + size <= m.end

    def _shared_pmd_key(self, m: Mapping, window: int) -> Hashable:
        # page_table_shareable(): same segment, same vm_flags (protection), same
        # (address - offset) mod PUD_SIZE; the key names the file window.
        pud = self.geo.pud_size
        c = (m.address - m.offset) % pud
        k = (window - m.address + m.offset) // pud
        return ("pmd", m.segment, m.protection, c, k)

    def _pte_cache_key(self, m: Mapping, block: int) -> Hashable:
        # file-cached: one PTE cache per (segment, protection), indexed by file block.
        return ("pte-cache", m.segment, m.protection, (block - m.address + m.offset) // self.geo.pmd_size)

    def hugetlb_pmd(self, m: Mapping, seg: Segment, leaf: int) -> PageRule:
        geo = self.geo
        if not _hugetlb_pmd_eligible(m, seg, geo.arch):
            return self.private(leaf)
        private = _Page(own_from=leaf)
        pmd = geo.pmd
        assert pmd is not None  # pmd_share_size is set only where there is a PMD level

        def page(va: int) -> _Page:
            window = va - va % geo.pud_size
            if not self._inside(m, window, geo.pud_size):
                return private
            key = ((pmd, self._shared_pmd_key(m, window)),)
            # huge_pmd_share(): the process keeps its PUD (and up); the PMD table is
            # the shared one, and mm_inc_nr_pmds() puts it in this process's VmPTE.
            return _Page(own_from=pmd + 1, shared=key, attached=key)

        return page

    def file_cached(self, m: Mapping, seg: Segment, leaf: int) -> PageRule:
        geo = self.geo
        if seg.backing == "hugetlb":
            return self.hugetlb_pmd(m, seg, leaf)  # mainline hugetlb sharing stays, no threshold
        if (
            m.protection == "none"
            or m.userfaultfd == "wp"
            or m.soft_dirty
            or seg.size < self.options.file_cached_threshold
            or geo.pmd is None
            or leaf > geo.pmd  # 1 GiB pages: nothing to share
        ):
            return self.private(leaf)
        private = _Page(own_from=leaf)
        pmd = geo.pmd  # not None: checked above
        delta = m.address - m.offset
        pmd_congruent = delta % geo.pud_size == 0  # cached PMD tables need address = offset mod PUD_SIZE
        pte_congruent = leaf == geo.pte and delta % geo.pmd_size == 0

        def page(va: int) -> _Page:
            window = va - va % geo.pud_size
            if pmd_congruent and self._inside(m, window, geo.pud_size):
                pmd_key = (pmd, self._shared_pmd_key(m, window))
                if leaf == geo.pte:
                    # the cached PMD table points at the cached PTE tables
                    pte_key = (geo.pte, self._pte_cache_key(m, va - va % geo.pmd_size))
                    return _Page(own_from=pmd + 1, shared=(pmd_key, pte_key), attached=(pmd_key,))
                return _Page(own_from=pmd + 1, shared=(pmd_key,), attached=(pmd_key,))
            block = va - va % geo.pmd_size
            if pte_congruent and self._inside(m, block, geo.pmd_size):
                key = ((geo.pte, self._pte_cache_key(m, block)),)
                return _Page(own_from=geo.pte + 1, shared=key, attached=key)
            return private

        return page

    def ptshare(self, m: Mapping, leaf: int) -> PageRule:
        geo = self.geo
        # MAP_SHARED_PT (Dec 2022): base pages, PMD-aligned address and size;
        # only the PTE tables are shared, the host mm owns them (not in VmPTE).
        if leaf != geo.pte or m.address % geo.pmd_size or m.size % geo.pmd_size:
            return self.private(leaf)
        c: Hashable = "auto" if m.auto else m.address - m.offset

        def page(va: int) -> _Page:
            block = va - va % geo.pmd_size
            key = ("ptshare", m.segment, m.protection, c, (block - m.address + m.offset) // geo.pmd_size)
            return _Page(own_from=geo.pte + 1, shared=((geo.pte, key),))

        return page

    def mshare_v3(self, m: Mapping, leaf: int) -> PageRule:
        if m.protection == "none":
            return self.private(leaf)
        # The region's host mm holds the tables below the attach level (and its
        # own PGD, and P4D tables on 5-level); the process keeps only the levels
        # at and above the attach level: its PGD (counted per process) and, on
        # 5-level paging, its P4D tables.
        page = _Page(own_from=self.geo.attach, host=(m.segment, m.protection))
        return lambda va: page


def _private_pages(m: PrivateMapping, geo: _Geometry) -> list[tuple[int, int, bool]]:
    """Every touched page of a private mapping: (address, leaf level, deposit).

    A private mapping is never shared (MAP_PRIVATE).  Pages of PMD_SIZE are
    mapped by a PMD entry (leaf: the PMD level); an anonymous one keeps the
    PTE table ``__do_huge_pmd_anonymous_page`` deposited for it
    (``pgtable_trans_huge_deposit``), a file one none (``do_set_pmd``:
    ``arch_needs_pgtable_deposit()`` is false on x86-64 and arm64)."""
    huge = m.page_size != geo.arch.base_page
    leaf = geo.arch.leaf_index(m.page_size)
    deposit = huge and m.kind == "anon"
    return [(m.address + rel, leaf, deposit) for start, end in m.touched for rel in range(start, end, m.page_size)]


def page_visits(workload: Workload) -> int:
    """How many pages :func:`simulate` walks for ``workload``: touched pages x processes.

    >>> from ptcalc.model.geometry import X86_64
    >>> from ptcalc.workload.types import Host, Mapping, ProcessGroup, Segment
    >>> sga = Segment("sga", 1 << 30, "shmem", 4096)
    >>> m = Mapping("sga", offset=0, size=1 << 30, address=1 << 40, touched=((0, 1 << 20),))
    >>> w = Workload(Host(None, X86_64), {"sga": sga}, (ProcessGroup("db", 3, (m,)),))
    >>> page_visits(w)
    768
    >>> simulate(w, "private").tables  # 1 MiB in one 2 MiB block: 1 PTE, 1 PMD, 1 PUD, 1 PGD each
    {'pte': 3, 'pmd': 3, 'pud': 3, 'p4d': 0, 'pgd': 3}
    """
    total = 0
    for g in workload.groups:
        per_process = sum(m.touched_bytes // workload.segments[m.segment].page_size for m in g.mappings)
        per_process += sum(m.touched_bytes // m.page_size for m in g.private_mappings)
        total += max(g.count, 1) * per_process
    return total


def simulate(
    workload: Workload,
    scheme: str,
    options: ModelOptions | None = None,
    *,
    budget: int = PAGE_VISIT_BUDGET,
) -> SchemeResult:
    """Page tables of ``workload`` under ``scheme``, built page by page.

    Raises ValueError for an unknown scheme or a workload whose page walk
    exceeds ``budget`` page visits (see :func:`page_visits`).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r} (one of {', '.join(SCHEMES)})")
    options = options if options is not None else workload.options
    if scheme == "mshare" and options.mshare_variant not in ("v3", "ptshare"):
        raise ValueError(f"unknown mshare variant {options.mshare_variant!r}")
    visits = page_visits(workload)
    if visits > budget:
        raise ValueError(
            f"the simulator would visit {visits} pages (budget {budget}): it is for small workloads"
        )

    arch = workload.arch
    geo = _Geometry(arch)
    rules = _Rules(geo, scheme, options)
    spans, top = geo.spans, geo.top

    shared: dict[tuple[int, Hashable], set[tuple[int, int]]] = {}
    physical = [0] * len(arch.levels)  # tables owned by processes, summed
    groups: list[GroupResult] = []
    serial = 0  # process number across the workload

    for group in workload.groups:
        first: tuple[list[int], list[int], list[int], list[int]] | None = None
        # A group of 0 processes still gets its per-process figures (one
        # phantom process that is not added to the physical count).
        for i in range(max(group.count, 1)):
            real = i < group.count
            # (level, block) -> which kinds of mapping it maps: "segment", "private"
            own: dict[tuple[int, Hashable], set[str]] = {}
            attached: set[tuple[int, int, Hashable]] = set()
            for pm in group.private_mappings:
                for va, leaf, deposit in _private_pages(pm, geo):
                    for level in range(leaf, top):
                        own.setdefault((level, va // spans[level]), set()).add("private")
                    if deposit:
                        own.setdefault((geo.pte, ("deposit", va // spans[geo.pte])), set()).add("private")
            for mi, m in enumerate(group.mappings):
                seg = workload.segments[m.segment]
                leaf = arch.leaf_index(seg.page_size)
                rule = rules.rule(m, seg, leaf)
                for start, end in m.touched:
                    for rel in range(start, end, seg.page_size):
                        va = m.address + rel
                        page = rule(va)
                        for level in range(page.own_from, top):
                            own.setdefault((level, va // spans[level]), set()).add("segment")
                        for level, key in page.attached:
                            attached.add((level, mi, key))
                        if not real:
                            continue
                        for level_key in page.shared:
                            shared.setdefault(level_key, set()).add((serial, mi))
                        if page.host is not None:
                            # The host mm lays the region out at file offsets; its
                            # whole tree (its PGD, block 0 of the top level, and P4D
                            # tables included) is counted once (semantics.md 3.3, 3.4).
                            fo = m.offset + rel
                            for level in range(leaf, top + 1):
                                hkey = (level, ("host", page.host, fo // spans[level]))
                                sharers = shared.setdefault(hkey, set())
                                # A process attaches a region once, however many
                                # of its mappings lie in it; no walk enters the
                                # host's own PGD/P4D, so those have no sharers.
                                if level < geo.attach:
                                    sharers.add((serial, -1))
            own_counts = [0] * len(arch.levels)
            private_counts = [0] * len(arch.levels)
            mixed_counts = [0] * len(arch.levels)
            for (level, _), kinds in own.items():
                own_counts[level] += 1
                if kinds == {"private"}:
                    private_counts[level] += 1
                elif len(kinds) == 2:
                    mixed_counts[level] += 1
            own_counts[geo.top] = 1  # the PGD: always one per process
            att_counts = [0] * len(arch.levels)
            for level, _, _ in attached:
                att_counts[level] += 1
            if first is None:
                first = (own_counts, att_counts, private_counts, mixed_counts)
            elif first != (own_counts, att_counts, private_counts, mixed_counts):  # pragma: no cover
                raise AssertionError(f"processes of group {group.name!r} differ")
            if real:
                for level, n in enumerate(own_counts):
                    physical[level] += n
                serial += 1
        assert first is not None
        groups.append(_group_result(group.name, group.count, first[0], first[1], geo, workload, first[2], first[3]))

    tables = list(physical)
    shared_counts = [0] * len(arch.levels)
    for (level, _), sharers in shared.items():
        tables[level] += 1
        if len(sharers) >= 2:
            shared_counts[level] += 1
    # A region has a host mm (counted by its PGD) once anything in it is touched.
    regions = {key[1] for level, key in shared
               if level == geo.top and isinstance(key, tuple) and key[0] == "host"}

    return SchemeResult(
        scheme=scheme,
        tables=_by_name(tables, geo),
        shared_tables=_by_name(shared_counts, geo),
        physical_bytes=_bytes(tables, geo, workload),
        shared_bytes=_bytes(shared_counts, geo, workload),
        groups=GroupResults.of(groups),
        mshare_regions=len(regions),
    )


def _table_bytes(level: int, geo: _Geometry, workload: Workload) -> int:
    if level == geo.top:
        return workload.arch.pgd_bytes(workload.host.pti)
    return workload.arch.levels[level].table_bytes


def _bytes(counts: list[int], geo: _Geometry, workload: Workload) -> int:
    return sum(n * _table_bytes(level, geo, workload) for level, n in enumerate(counts))


def _by_name(counts: list[int], geo: _Geometry) -> dict[str, int]:
    out = zero_levels()
    for level, n in enumerate(counts):
        out[geo.names[level]] = n
    assert list(out) == list(LEVEL_NAMES)
    return out


def _group_result(
    name: str, count: int, own: list[int], attached: list[int], geo: _Geometry, workload: Workload,
    private: list[int], mixed: list[int],
) -> GroupResult:
    vmpte = sum(
        (own[level] + attached[level]) * _table_bytes(level, geo, workload)
        for level in range(len(own))
        if geo.names[level] in VMPTE_LEVELS
    )
    return GroupResult(
        name=name,
        count=count,
        own_tables=_by_name(own, geo),
        attached_tables=_by_name(attached, geo),
        per_process_bytes=_bytes(own, geo, workload),
        vmpte_bytes=vmpte,
        private_tables=_by_name(private, geo),
        mixed_tables=_by_name(mixed, geo),
    )
