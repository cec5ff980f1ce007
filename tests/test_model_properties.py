"""Property tests: the closed-form model against the brute-force simulator.

Hypothesis generates small random workloads (see ``workloads()``): addresses
and file offsets on and off 2 MiB and 1 GiB boundaries, mappings straddling
512 GiB (and, with 5-level paging, 256 TiB) boundaries, several groups and
segments, several mappings per group (some of the same segment twice, some
adjacent), rw / r / none protections, touched prefixes and multi-range
touched sets, base-page shmem/file, shmem THP, every hugetlb page size of
the profile (arm64 contiguous-PTE and contiguous-PMD sizes included),
userfaultfd and soft-dirty flags, ``auto`` addresses, groups of 0 to 3
processes, both mshare variants, several file-cached thresholds, with and
without PTI, on every architecture profile (``ptcalc.model.geometry.ARCHES``: x86_64,
x86_64-la57, arm64-4k, arm64-16k, arm64-64k).  Mappings can be large (up to
3 PUD_SIZE and more) but each touches at most a few hundred pages, so an
example's page walk stays small and the simulator fast.

``test_model_equals_simulator`` (once per profile) asserts
``ptcalc.model.tables.compute`` and ``ptcalc.simulator.walk.simulate`` agree exactly on every field of SchemeResult
(except the free-text ``notes``), table by table and group by group, under
every scheme and both mshare variants.  The other tests check invariants on
the model alone (it is fast).  Example counts come from the hypothesis
profile (tests/conftest.py).

A failure prints the falsifying workload and a ``@reproduce_failure`` blob;
see docs/simulator.md.
"""

from dataclasses import replace

import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from ptcalc.model.geometry import ARCHES, ARM64_4K, ARM64_16K, ARM64_64K, X86_64, X86_64_LA57
from ptcalc.model.tables import compute
from ptcalc.simulator.walk import simulate
from ptcalc.units import GiB, KiB, MiB, TiB
from ptcalc.workload.address_space import place_private
from ptcalc.workload.types import (Host, Mapping, ModelOptions, PrivateMapping, ProcessGroup, Segment, Workload,
                                   resolve_addresses)


class Geo:
    """What the strategies need to know of a profile: the PMD_SIZE and
    PUD_SIZE boundaries, the page kinds, and the top-table boundaries
    (512 GiB on x86-64) mappings should straddle."""

    def __init__(self, arch, kinds, boundaries, spacing):
        self.arch = arch
        self.pmd = arch.pmd_size  # what one PTE table covers
        self.pud = arch.pud_size  # what one PMD table covers
        self.kind_list = kinds
        self.kinds = st.sampled_from(kinds)
        self.boundaries = boundaries
        self.spacing = spacing  # between the neighbourhoods of a process's mappings
        self.base = arch.base_page
        self.largest = max(p for _, p in kinds)

    def __repr__(self):
        return self.arch.name


# Page kinds per profile: base-page shmem and file, shmem THP at PMD_SIZE,
# every hugetlb size (arm64: contiguous-PTE, PMD, contiguous-PMD, and PUD on
# 4K).  Boundaries: where a PUD table (x86-64, arm64 4K: 512 GiB), a P4D
# table (LA57: 256 TiB), a PGD entry (arm64 16K: 128 TiB, the PUD table's
# span; arm64 64K: 4 TiB, the PMD table's span) begins.
X86_KINDS = [("shmem", 4 * KiB), ("file", 4 * KiB), ("shmem", 2 * MiB), ("hugetlb", 2 * MiB), ("hugetlb", 1 * GiB)]
X86 = Geo(X86_64, X86_KINDS, [1 * TiB, 3 * 512 * GiB], 4 * TiB)
X86_LA57 = Geo(X86_64_LA57, X86_KINDS, [1 * TiB, 3 * 512 * GiB, 256 * TiB], 4 * TiB)
ARM4K = Geo(
    ARM64_4K,
    [("shmem", 4 * KiB), ("file", 4 * KiB), ("hugetlb", 64 * KiB), ("shmem", 2 * MiB), ("hugetlb", 2 * MiB),
     ("hugetlb", 32 * MiB), ("hugetlb", 1 * GiB)],
    [1 * TiB, 3 * 512 * GiB],
    4 * TiB,
)
ARM16K = Geo(
    ARM64_16K,
    [("shmem", 16 * KiB), ("file", 16 * KiB), ("hugetlb", 2 * MiB), ("shmem", 32 * MiB), ("hugetlb", 32 * MiB),
     ("hugetlb", 1 * GiB)],
    [1 * TiB, 128 * TiB],
    4 * TiB,
)
ARM64K = Geo(
    ARM64_64K,
    [("shmem", 64 * KiB), ("file", 64 * KiB), ("hugetlb", 2 * MiB), ("hugetlb", 512 * MiB), ("shmem", 512 * MiB),
     ("hugetlb", 16 * GiB)],
    [4 * TiB, 8 * TiB],
    32 * TiB,
)
GEOS = [X86, X86_LA57, ARM4K, ARM16K, ARM64K]
GEO_OF = {g.arch.name: g for g in GEOS}


def touch_limit(geo, page):
    """Most pages one mapping touches: keeps each example's walk to a few thousand pages."""
    if page == geo.base:
        return 128
    return 3 if page == geo.largest else 48


# (scheme, options override) pairs: every scheme, both mshare variants.
VARIANTS = [
    ("private", {}),
    ("hugetlb-pmd", {}),
    ("mshare", {"mshare_variant": "v3"}),
    ("mshare", {"mshare_variant": "ptshare"}),
    ("file-cached", {}),
]
SHARING = VARIANTS[1:]

EXAMPLES = settings().max_examples  # of the profile tests/conftest.py loaded
"""Examples per invariant test, and per profile of the model-simulator comparison."""


# --- strategies ----------------------------------------------------------------------


def _rounddown(x, a):
    return x - x % a


# Strategies are built once: building one per draw is most of the generation time.
_U = st.integers(0, 2**62)
_KIND = st.sampled_from(["any", "pmd", "pud", "pud", "lo", "hi"])
_END_SHIFT = st.sampled_from([0, 0, 1, 2])
_SHIFT = st.sampled_from([-2, -1, 0, 0, 0, 0, 1, 2])
_SEG_PMDS = st.sampled_from([0, 1, 3, 255])  # PMD_SIZE blocks over whole PUD_SIZE windows
_SEG_PAGES = st.sampled_from([0, 0, 1, 3, 256])  # base pages over whole PMD_SIZE blocks
_TOUCH_MODE = st.sampled_from(["all", "prefix", "prefix", "ranges", "ranges", "ranges", "none"])
_PLACE_FIRST = st.sampled_from(["fresh", "fresh", "auto"])
_PLACE = st.sampled_from(["fresh", "fresh", "adjacent", "auto"])
_GAP = st.sampled_from([0, 0, 1, "pmd", "pud-pmd"])  # base pages, or PMD_SIZE, or PUD_SIZE - PMD_SIZE
_PROT = st.sampled_from(["rw", "rw", "rw", "r", "none"])
_UFFD = st.sampled_from(["none"] * 6 + ["missing", "wp", "minor"])
_SOFT_DIRTY = st.sampled_from([False] * 5 + [True])
_ALL_GEO = st.sampled_from(GEOS)
_ARM_GEO = st.sampled_from([ARM4K, ARM16K, ARM64K])
_THRESHOLD = st.sampled_from([512, 512, 1, 256, 16384, 1 << 18, 3 << 18])  # in base pages (2 MiB on x86-64 ...)
_VARIANT = st.sampled_from(["v3", "ptshare"])
_COUNT = st.sampled_from([1, 1, 2, 2, 3, 3, 0])  # a group of 0 still has per-process figures


def between(draw, lo, hi):
    """An integer in [lo, hi], shrinking towards lo."""
    return lo + draw(_U) % (hi - lo + 1)


def near_boundary(draw, geo, page, lo, hi):
    """A multiple of ``page`` in [lo, hi] (lo, hi multiples of page), often at or
    a few pages off a PMD_SIZE or PUD_SIZE boundary, or at either end."""
    kind = draw(_KIND)
    if kind == "any":
        return between(draw, lo // page, hi // page) * page
    if kind == "lo":
        v = lo + draw(_END_SHIFT) * page
    elif kind == "hi":
        v = hi - draw(_END_SHIFT) * page
    else:
        a = max(geo.pmd if kind == "pmd" else geo.pud, page)
        first, last = -(-lo // a), hi // a
        base = between(draw, first, last) * a if first <= last else lo
        v = base + draw(_SHIFT) * page
    return min(max(v, lo), hi)


def segment(draw, geo, name):
    backing, page = draw(geo.kinds)
    if page == geo.largest:
        size = between(draw, 1, 3) * page
    else:
        size = between(draw, 0, 3) * geo.pud + draw(_SEG_PMDS) * geo.pmd
        if page == geo.base:
            size += draw(_SEG_PAGES) * page
        size = max(_rounddown(size, page), page)
    return Segment(name=name, size=size, backing=backing, page_size=page)


def touched_ranges(draw, geo, address, size, page):
    """Sorted, disjoint, non-adjacent page-aligned ranges, at most touch_limit pages."""
    n, limit = size // page, touch_limit(geo, page)
    mode = draw(_TOUCH_MODE)
    if mode == "none":
        return ()
    if mode == "all" and n <= limit:
        return ((0, size),)
    if mode == "prefix":
        return ((0, between(draw, 1, min(n, limit)) * page),)
    # A few ranges, each starting anywhere or at/near a PMD_SIZE / PUD_SIZE
    # boundary of the virtual address (where zones and tables begin and end).
    k = between(draw, 1, 4)
    pages = []
    for _ in range(k):
        first = (near_boundary(draw, geo, page, address, address + size - page) - address) // page
        pages.append((first, min(first + between(draw, 1, max(1, limit // k)), n)))
    pages.sort()
    merged = []
    for s, e in pages:
        if merged and s <= merged[-1][1]:  # overlapping or adjacent: merge
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return tuple((s * page, e * page) for s, e in merged)


def mapping(draw, geo, segs, j, prev):
    """Mapping ``j`` of a process and whether it is auto; ``prev`` is the previous one."""
    seg = segs[between(draw, 0, len(segs) - 1)]
    page = seg.page_size
    size = near_boundary(draw, geo, page, page, min(seg.size, 3 * geo.pud + 2 * geo.pmd))
    offset = near_boundary(draw, geo, page, 0, seg.size - size)
    place = draw(_PLACE if prev else _PLACE_FIRST)
    if place == "adjacent":
        gap = draw(_GAP)
        gap = {"pmd": geo.pmd, "pud-pmd": geo.pud - geo.pmd}.get(gap, gap * geo.base)
        address = -(-(prev.end + gap) // page) * page
    else:
        # Each mapping gets its own neighbourhood of a top-table boundary (512
        # GiB on x86-64, 256 TiB with LA57); it may start up to 3 PUD_SIZE
        # before it and straddle it.
        base = geo.boundaries[between(draw, 0, len(geo.boundaries) - 1)] + j * geo.spacing
        address = near_boundary(draw, geo, page, max(base - 3 * geo.pud, page), base + 3 * geo.pud)
    protection = draw(_PROT)
    m = Mapping(
        segment=seg.name,
        offset=offset,
        size=size,
        address=address,
        protection=protection,
        touched=() if protection == "none" else touched_ranges(draw, geo, address, size, page),
        userfaultfd=draw(_UFFD),
        soft_dirty=draw(_SOFT_DIRTY),
    )
    return m, place == "auto"


def _overlap(ms):
    spans = sorted((m.address, m.end) for m in ms)
    return any(a_end > b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


_PRIVATE_N = st.sampled_from([0, 0, 1, 2, 3])
_PRIVATE_KIND = st.sampled_from(["anon", "anon", "file", "stack"])
_PRIVATE_PLACE = st.sampled_from(["before", "after", "after", "fresh", "auto"])


def private_mapping(draw, geo, ms, j):
    """A private mapping (anon, file or stack; anon and file also on PMD_SIZE
    pages: anonymous THP with its deposited PTE table, a PMD-mapped file
    folio), often right before or after a shared mapping (so that tables
    cover both), or at a fresh boundary, or auto (the kernel's top-down
    placement below mmap_base / STACK_TOP)."""
    kind = draw(_PRIVATE_KIND)
    page = geo.pmd if kind != "stack" and draw(st.booleans()) else geo.base
    size = near_boundary(draw, geo, page, page, 2 * geo.pmd + (geo.pud if page == geo.base else 0))
    place = draw(_PRIVATE_PLACE)
    gap = draw(_GAP)
    gap = {"pmd": geo.pmd, "pud-pmd": geo.pud - geo.pmd}.get(gap, gap * geo.base)
    if place == "before" and ms:
        m = ms[between(draw, 0, len(ms) - 1)]
        address = _rounddown(m.address - gap - size, page)
    elif place == "after" and ms:
        m = ms[between(draw, 0, len(ms) - 1)]
        address = -(-(m.end + gap) // page) * page
    elif place == "auto":
        address = -1
    else:
        base = geo.boundaries[between(draw, 0, len(geo.boundaries) - 1)] + (j + 5) * geo.spacing
        address = near_boundary(draw, geo, page, max(base - 3 * geo.pud, page), base + 3 * geo.pud)
    touched = touched_ranges(draw, geo, max(address, 0), size, page)
    return PrivateMapping(kind, address, size, page, touched, auto=address < 0)


def group(draw, geo, segs, name):
    count = draw(_COUNT)
    pairs = []
    prev = None
    for j in range(between(draw, 1, 3)):
        m, auto = mapping(draw, geo, segs, j, prev)
        pairs.append((m, auto))
        prev = m
    try:
        ms = tuple(resolve_addresses(pairs, geo.arch))
    except ValueError:  # no room left for an auto mapping
        assume(False)
    assume(not _overlap(ms) and all(m.end <= geo.arch.user_limit for m in ms))
    private = [private_mapping(draw, geo, ms, j) for j in range(draw(_PRIVATE_N))]
    fixed = [p for p in private if not p.auto]
    assume(all(0 < p.address and p.end <= geo.arch.user_limit for p in fixed))
    if fixed and any(auto for _, auto in pairs):
        # as the loader does: auto shared mappings are placed clear of the
        # process's explicit private mappings too
        blocks = [(Mapping(segment="", offset=0, size=p.size, address=p.address), False) for p in fixed]
        try:
            ms = tuple(resolve_addresses(pairs + blocks, geo.arch)[:len(pairs)])
        except ValueError:
            assume(False)
    assume(not _overlap(list(ms) + fixed))
    if any(p.auto for p in private):
        try:
            placed = iter(place_private(geo.arch, [(m.address, m.end) for m in list(ms) + fixed],
                                        [(p.kind, p.size, p.page_size) for p in private if p.auto]))
        except ValueError:
            assume(False)
        private = [replace(p, address=next(placed)) if p.auto else p for p in private]
    return ProcessGroup(name=name, count=count, mappings=ms, private_mappings=tuple(private))


@st.composite
def workloads(draw, min_groups=1, max_groups=3, geos=_ALL_GEO):
    """Small random workloads (see the module docstring)."""
    geo = draw(geos)
    segs = [segment(draw, geo, f"s{i}") for i in range(between(draw, 1, 3))]
    gs = tuple(group(draw, geo, segs, f"g{i}") for i in range(between(draw, min_groups, max_groups)))
    options = ModelOptions(file_cached_threshold=draw(_THRESHOLD) * geo.base, mshare_variant=draw(_VARIANT))
    return Workload(
        host=Host(memory=None, arch=geo.arch, pti=draw(st.booleans())),
        segments={s.name: s for s in segs},
        groups=gs,
        options=options,
    )


def comparable(r):
    """Every field of a SchemeResult but the free-text notes."""
    return {
        "scheme": r.scheme,
        "tables": r.tables,
        "shared_tables": r.shared_tables,
        "physical_bytes": r.physical_bytes,
        "shared_bytes": r.shared_bytes,
        "mshare_regions": r.mshare_regions,
        "groups": [
            (g.name, g.count, g.own_tables, g.attached_tables, g.per_process_bytes, g.vmpte_bytes, g.private_tables,
             g.mixed_tables) for g in r.groups
        ],
    }


def describe(w):
    """A compact, readable account of a workload, for failure reports."""
    lines = [f"arch={w.arch.name} pti={w.host.pti} {w.options}"]
    for s in w.segments.values():
        lines.append(f"  segment {s.name}: {s.backing} page={s.page_size:#x} size={s.size:#x}")
    for g in w.groups:
        lines.append(f"  group {g.name} x{g.count}:")
        for m in g.mappings:
            touched = ", ".join(f"{a:#x}-{b:#x}" for a, b in m.touched)
            flags = f" uffd={m.userfaultfd}" * (m.userfaultfd != "none") + " soft_dirty" * m.soft_dirty
            lines.append(
                f"    {m.segment} [{m.offset:#x}+{m.size:#x}] at {m.address:#x}{' (auto)' * m.auto}"
                f" {m.protection}{flags} touched [{touched}]"
            )
        for p in g.private_mappings:
            touched = ", ".join(f"{a:#x}-{b:#x}" for a, b in p.touched)
            lines.append(f"    private {p.kind} [{p.size:#x}] page={p.page_size:#x} at {p.address:#x}"
                         f"{' (auto)' * p.auto} touched [{touched}]")
    return "\n".join(lines)


def options_for(w, overrides):
    return replace(w.options, **overrides)


# --- the model equals the simulator --------------------------------------------------


def assert_model_equals_simulator(w):
    note(describe(w))
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        note(f"scheme={scheme} options={opts}")
        assert comparable(compute(w, scheme, opts)) == comparable(simulate(w, scheme, opts))


@pytest.mark.parametrize("geo", GEOS, ids=repr)
@given(data=st.data())
def test_model_equals_simulator(geo, data):
    # One run per profile (x86-64 4- and 5-level; arm64 4K, 16K with 2-entry
    # PGD and 16-byte PGD_SIZE, 64K with 3 levels, no PUD and no PMD
    # sharing), contiguous-PTE/PMD hugetlb pages included: nothing in either
    # implementation may assume the x86-64 geometry.
    assert_model_equals_simulator(data.draw(workloads(geos=st.just(geo))))


def test_every_profile_is_covered():
    assert sorted(g.arch.name for g in GEOS) == sorted(ARCHES)
    for g in GEOS:  # every page size of the profile is generated
        assert sorted({p for _, p in g.kind_list}) == sorted(g.arch.page_sizes()), g


# --- invariants, on the model ----------------------------------------------------------


@given(w=workloads(), data=st.data())
def test_adding_a_process_never_lowers_physical_bytes(w, data):
    note(describe(w))
    i = data.draw(st.integers(0, len(w.groups) - 1))
    more = list(w.groups)
    more[i] = replace(more[i], count=more[i].count + 1)
    w2 = replace(w, groups=tuple(more))
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        assert compute(w2, scheme, opts).physical_bytes >= compute(w, scheme, opts).physical_bytes


@given(w=workloads(min_groups=2))
def test_adding_a_group_never_lowers_physical_bytes(w):
    note(describe(w))
    fewer = replace(w, groups=w.groups[:-1])
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        assert compute(w, scheme, opts).physical_bytes >= compute(fewer, scheme, opts).physical_bytes


@given(w=workloads())
def test_sharing_never_costs_more_than_private(w):
    note(describe(w))
    # hugetlb-pmd, file-cached and ptshare replace a process's table by a
    # shared one only where the process would have had that table itself (the
    # shared window or block lies wholly inside one mapping), so they never
    # cost more.  mshare v3 is different: every region has a host mm (a PGD,
    # and P4D tables on 5-level) and lays its tables out at the file offsets,
    # which can need more tables than the processes' own layout; see
    # test_mshare_v3_costs_no_more_than_private_when_shared.
    private = compute(w, "private", w.options).physical_bytes
    for scheme, overrides in [v for v in SHARING if v[1] != {"mshare_variant": "v3"}]:
        assert compute(w, scheme, options_for(w, overrides)).physical_bytes <= private


@st.composite
def mshare_friendly(draw):
    """One group of >= 4 processes; each mapping of its own segment, touching
    something, at an address congruent to its file offset modulo the mshare
    alignment (P4D_SIZE: 512 GiB on x86-64, 128 TiB on arm64 16K, 4 TiB on
    arm64 64K) in an mshare_align window of its own."""
    geo = draw(_ALL_GEO)
    align = geo.arch.mshare_align
    # Every segment is smaller than 4 PUD_SIZE (segment()), so windows of
    # ``stride`` keep the mappings apart.  arm64 16K: user space is two 128 TiB
    # PGD entries, room for one window above 0.
    stride = -(-4 * geo.pud // align) * align
    n = between(draw, 1, min(3, geo.arch.user_limit // stride - 1))
    segs, ms = [], []
    for j in range(n):
        seg = segment(draw, geo, f"s{j}")
        page = seg.page_size
        size = near_boundary(draw, geo, page, page, min(seg.size, 3 * geo.pud))
        offset = near_boundary(draw, geo, page, 0, seg.size - size)
        address = (j + 1) * stride + offset  # offset + size < 4 PUD_SIZE <= stride
        touched = touched_ranges(draw, geo, address, size, page)
        assume(touched)
        segs.append(seg)
        ms.append(Mapping(segment=seg.name, offset=offset, size=size, address=address,
                          protection=draw(st.sampled_from(["rw", "r"])), touched=touched))
    g = ProcessGroup(name="g", count=between(draw, 4, 6), mappings=tuple(ms))
    return Workload(host=Host(memory=None, arch=geo.arch, pti=draw(st.booleans())),
                    segments={s.name: s for s in segs}, groups=(g,))


@given(w=mshare_friendly())
def test_mshare_v3_costs_no_more_than_private_when_shared(w):
    note(describe(w))
    # With address = offset (mod mshare_align) and one region per window,
    # the host tree of a region is exactly one process's tree for it.  With N
    # processes and R regions: private = N x (PGD [+ P4D] + sum of trees),
    # mshare = N x (PGD [+ P4D]) + sum over regions of (host PGD [+ host P4D] +
    # tree); private - mshare = (N - 1) x trees - R x (PGD [+ P4D]).  A touched
    # region's tree has at least one table of 4 KiB or more (a PUD for 1 GiB
    # pages), and PGD + P4D is at most 8 + 4 KiB (PTI, 5-level; arm64's PGD is
    # 4 KiB, 16 or 512 bytes), so N >= 4 suffices.  (With
    # N = 2, one region of 1 GiB pages, PTI and 5-level, mshare costs 40 KiB
    # against private's 32 KiB.)
    opts = replace(w.options, mshare_variant="v3")
    assert compute(w, "mshare", opts).physical_bytes <= compute(w, "private", opts).physical_bytes


# --- splitting a mapping ---------------------------------------------------------------


def split_mapping(m, at):
    """Two adjacent mappings with contiguous offsets, ``at`` bytes into ``m``."""
    lo, hi = [], []
    for s, e in m.touched:
        if s < at:
            lo.append((s, min(e, at)))
        if e > at:
            hi.append((max(s, at) - at, e - at))
    first = replace(m, size=at, touched=tuple(lo))
    second = replace(m, address=m.address + at, offset=m.offset + at, size=m.size - at, touched=tuple(hi))
    return first, second


def _in_shared_window(m, at, pud):
    """The split point falls strictly inside a PUD_SIZE window lying wholly
    inside the mapping: hugetlb_split() unshares that window's PMD table."""
    va = m.address + at
    window = _rounddown(va, pud)
    return va != window and m.address <= window and window + pud <= m.end


SHARED_FIELDS = ("shared_tables", "shared_bytes")


def split_keeps(m, seg, at, scheme, opts, arch):
    """Which figures splitting ``m`` at ``at`` must leave unchanged: the names
    of the fields of ``comparable()`` that may change (empty: none may), or
    None when the split may change anything.

    * private: any page-aligned split -- tables are per VA block, not per mapping.
    * hugetlb-pmd and file-cached: a split that does not fall strictly inside a
      PUD_SIZE window lying wholly inside the mapping: a VMA split there
      unshares that window in the kernel (commit "hugetlb: unshare some PMDs
      when splitting VMAs", 2023; hugetlb_split() since "mm/hugetlb: unshare
      page tables during VMA split, not before", 2025), and the file-cached
      proposal follows hugetlb.  In particular every split at a
      PUD_SIZE-aligned address.  For file-cached base pages the split
      must also not cut a PMD_SIZE block of a shared-PTE zone, so it must be
      PMD_SIZE-aligned in address.
    * mshare ptshare: a PMD_SIZE-aligned split of a mapping whose address and
      size are PMD_SIZE multiples (both halves stay eligible, same key); any
      split of a mapping of pages mapped above the PTE level (ptshare leaves
      it private).  "Base pages" are pages mapped at the PTE level, arm64
      contiguous-PTE hugetlb pages included (semantics.md).
    * mshare v3: any page-aligned split leaves the tables and every process's
      figures unchanged: the host tree depends on the touched file ranges
      only, the process keeps its PGD (and P4D) tables.  ``shared_tables``
      may change: semantics.md 3.4 counts a table's sharers per mapping zone,
      so a host table under touched pages of both halves gains a sharer (one
      process alone then "shares" it with itself).
    """
    va = m.address + at
    pmd_size, pud = arch.pmd_size, arch.pud_size
    base_pages = arch.leaf_index(seg.page_size) == 0
    if scheme == "private":
        return ()
    if scheme == "mshare" and opts.mshare_variant == "v3":
        return SHARED_FIELDS
    if scheme == "mshare":
        if not base_pages:
            return ()
        eligible = m.address % pmd_size == 0 and m.size % pmd_size == 0
        return () if eligible and va % pmd_size == 0 else None
    if _in_shared_window(m, at, pud):
        return None
    if scheme == "file-cached" and base_pages and va % pmd_size:
        return None
    return ()


def _split(w, gi, mi, at):
    g = w.groups[gi]
    first, second = split_mapping(g.mappings[mi], at)
    gs = list(w.groups)
    gs[gi] = replace(g, mappings=g.mappings[:mi] + (first, second) + g.mappings[mi + 1:])
    return replace(w, groups=tuple(gs))


def _assert_same(w, w2, scheme, opts, may_change):
    note(f"scheme={scheme} options={opts}")
    a, b = comparable(compute(w2, scheme, opts)), comparable(compute(w, scheme, opts))
    for f in may_change:
        del a[f], b[f]
    assert a == b


@given(w=workloads(max_groups=2), data=st.data())
def test_splitting_a_mapping(w, data):
    note(describe(w))
    where = [(gi, mi) for gi, g in enumerate(w.groups) for mi, m in enumerate(g.mappings)
             if m.size > w.segments[m.segment].page_size]
    assume(where)
    gi, mi = data.draw(st.sampled_from(where))
    m = w.groups[gi].mappings[mi]
    seg = w.segments[m.segment]
    geo = GEO_OF[w.arch.name]
    at = near_boundary(data.draw, geo, seg.page_size, m.address + seg.page_size, m.end - seg.page_size) - m.address
    note(f"split groups[{gi}].mappings[{mi}] at +{at:#x} (va {m.address + at:#x})")
    w2 = _split(w, gi, mi, at)
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        may_change = split_keeps(m, seg, at, scheme, opts, w.arch)
        if may_change is not None:
            _assert_same(w, w2, scheme, opts, may_change)


@given(w=workloads(max_groups=2), data=st.data())
def test_splitting_at_a_pud_boundary_changes_nothing(w, data):
    note(describe(w))
    # The case the brief names: a split at a PUD_SIZE-aligned address (offsets
    # stay contiguous) changes nothing under private, hugetlb-pmd and
    # file-cached, nor under ptshare for an eligible mapping, nor the tables
    # under mshare v3 (see split_keeps).
    pud, pmd_size = w.arch.pud_size, w.arch.pmd_size

    def first_cut(m):  # the first PUD_SIZE-aligned address strictly inside m
        return -(-(m.address + 1) // pud) * pud

    where = [(gi, mi) for gi, g in enumerate(w.groups) for mi, m in enumerate(g.mappings) if first_cut(m) < m.end]
    assume(where)
    gi, mi = data.draw(st.sampled_from(where))
    m = w.groups[gi].mappings[mi]
    va = data.draw(st.integers(first_cut(m) // pud, (m.end - 1) // pud)) * pud
    note(f"split groups[{gi}].mappings[{mi}] at va {va:#x}")
    w2 = _split(w, gi, mi, va - m.address)
    seg = w.segments[m.segment]
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        may_change = split_keeps(m, seg, va - m.address, scheme, opts, w.arch)
        if scheme == "mshare" and opts.mshare_variant == "ptshare" and w.arch.leaf_index(seg.page_size) == 0:
            if not (m.address % pmd_size == 0 and m.size % pmd_size == 0):
                continue  # ineligible whole, but its PMD-aligned tail may be eligible
        assert may_change is not None
        _assert_same(w, w2, scheme, opts, may_change)
