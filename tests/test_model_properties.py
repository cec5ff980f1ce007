"""Property tests: the closed-form model against the brute-force simulator.

Hypothesis generates small random workloads (see ``workloads()``): addresses
and file offsets on and off 2 MiB and 1 GiB boundaries, mappings straddling
512 GiB (and, with 5-level paging, 256 TiB) boundaries, several groups and
segments, several mappings per group (some of the same segment twice, some
adjacent), rw / r / none protections, touched prefixes and multi-range
touched sets, 4 KiB shmem/file, 2 MiB hugetlb and shmem THP and 1 GiB
hugetlb pages, userfaultfd and soft-dirty flags, ``auto`` addresses, both
mshare variants, several file-cached thresholds, x86_64 and x86_64-la57,
with and without PTI.  Each example's page walk is kept to a few thousand
page visits so the simulator stays fast.

``test_model_equals_simulator`` asserts ``ptcalc.model.compute`` and
``ptcalc.simulate.simulate`` agree exactly on every field of SchemeResult
(except the free-text ``notes``), table by table and group by group.  The
other tests check invariants on the model alone (it is fast).

A failure prints the falsifying workload and a ``@reproduce_failure`` blob;
see docs/simulator.md.
"""

from dataclasses import replace

import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from ptcalc.arch import X86_64, X86_64_LA57
from ptcalc.model import compute
from ptcalc.simulate import simulate
from ptcalc.units import GiB, KiB, MiB, TiB
from ptcalc.workload import Host, Mapping, ModelOptions, ProcessGroup, Segment, Workload, resolve_addresses

PMD_SIZE, PUD_SIZE = 2 * MiB, 1 * GiB  # x86-64, both profiles

# (backing, page size): 4 KiB shmem/file, 2 MiB shmem THP, 2 MiB and 1 GiB hugetlb.
PAGE_KINDS = [
    ("shmem", 4 * KiB),
    ("file", 4 * KiB),
    ("shmem", 2 * MiB),
    ("hugetlb", 2 * MiB),
    ("hugetlb", 1 * GiB),
]
TOUCH_LIMIT = {4 * KiB: 128, 2 * MiB: 48, 1 * GiB: 3}
"""Most pages one mapping touches: keeps each example's walk to a few thousand pages."""

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
"""Examples per invariant test; the model-simulator comparison runs 4 times as many."""


# --- strategies ----------------------------------------------------------------------


def _rounddown(x, a):
    return x - x % a


# Strategies are built once: building one per draw is most of the generation time.
_U = st.integers(0, 2**62)
_KIND = st.sampled_from(["any", "pmd", "pud", "pud", "lo", "hi"])
_END_SHIFT = st.sampled_from([0, 0, 1, 2])
_SHIFT = st.sampled_from([-2, -1, 0, 0, 0, 0, 1, 2])
_PAGE_KIND = st.sampled_from(PAGE_KINDS)
_SEG_MIB = st.sampled_from([0, 2 * MiB, 6 * MiB, 510 * MiB])
_SEG_KIB = st.sampled_from([0, 0, 4 * KiB, 12 * KiB, 1 * MiB])
_TOUCH_MODE = st.sampled_from(["all", "prefix", "prefix", "ranges", "ranges", "ranges", "none"])
_PLACE_FIRST = st.sampled_from(["fresh", "fresh", "auto"])
_PLACE = st.sampled_from(["fresh", "fresh", "adjacent", "auto"])
_GAP = st.sampled_from([0, 0, 4 * KiB, 2 * MiB, 1 * GiB - 2 * MiB])
_PROT = st.sampled_from(["rw", "rw", "rw", "r", "none"])
_UFFD = st.sampled_from(["none"] * 6 + ["missing", "wp", "minor"])
_SOFT_DIRTY = st.sampled_from([False] * 5 + [True])
_ARCH = st.sampled_from([X86_64, X86_64, X86_64_LA57])
_THRESHOLD = st.sampled_from([2 * MiB, 2 * MiB, 4 * KiB, 1 * MiB, 64 * MiB, 1 * GiB, 3 * GiB])
_VARIANT = st.sampled_from(["v3", "ptshare"])


def between(draw, lo, hi):
    """An integer in [lo, hi], shrinking towards lo."""
    return lo + draw(_U) % (hi - lo + 1)


def near_boundary(draw, page, lo, hi):
    """A multiple of ``page`` in [lo, hi] (lo, hi multiples of page), often at or
    a few pages off a 2 MiB or 1 GiB boundary, or at either end."""
    kind = draw(_KIND)
    if kind == "any":
        return between(draw, lo // page, hi // page) * page
    if kind == "lo":
        v = lo + draw(_END_SHIFT) * page
    elif kind == "hi":
        v = hi - draw(_END_SHIFT) * page
    else:
        a = max(PMD_SIZE if kind == "pmd" else PUD_SIZE, page)
        first, last = -(-lo // a), hi // a
        base = between(draw, first, last) * a if first <= last else lo
        v = base + draw(_SHIFT) * page
    return min(max(v, lo), hi)


def segment(draw, name):
    backing, page = draw(_PAGE_KIND)
    if page == 1 * GiB:
        size = between(draw, 1, 3) * GiB
    else:
        size = between(draw, 0, 3) * GiB + draw(_SEG_MIB)
        if page == 4 * KiB:
            size += draw(_SEG_KIB)
        size = max(size, page)
    return Segment(name=name, size=size, backing=backing, page_size=page)


def touched_ranges(draw, address, size, page):
    """Sorted, disjoint, non-adjacent page-aligned ranges, at most TOUCH_LIMIT pages."""
    n, limit = size // page, TOUCH_LIMIT[page]
    mode = draw(_TOUCH_MODE)
    if mode == "none":
        return ()
    if mode == "all" and n <= limit:
        return ((0, size),)
    if mode == "prefix":
        return ((0, between(draw, 1, min(n, limit)) * page),)
    # A few ranges, each starting anywhere or at/near a 2 MiB / 1 GiB boundary of
    # the virtual address (which is where zones and tables begin and end).
    k = between(draw, 1, 4)
    pages = []
    for _ in range(k):
        first = (near_boundary(draw, page, address, address + size - page) - address) // page
        pages.append((first, min(first + between(draw, 1, max(1, limit // k)), n)))
    pages.sort()
    merged = []
    for s, e in pages:
        if merged and s <= merged[-1][1]:  # overlapping or adjacent: merge
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return tuple((s * page, e * page) for s, e in merged)


def mapping(draw, segs, j, prev, la57):
    """Mapping ``j`` of a process and whether it is auto; ``prev`` is the previous one."""
    seg = segs[between(draw, 0, len(segs) - 1)]
    page = seg.page_size
    size = near_boundary(draw, page, page, min(seg.size, 3 * GiB + 4 * MiB))
    offset = near_boundary(draw, page, 0, seg.size - size)
    place = draw(_PLACE if prev else _PLACE_FIRST)
    if place == "adjacent":
        address = -(-(prev.end + draw(_GAP)) // page) * page
    else:
        # Each mapping gets its own neighbourhood (4 TiB apart) of a 512 GiB or
        # 256 TiB boundary; it may start up to 3 GiB before it and straddle it.
        bases = [1 * TiB, 3 * 512 * GiB] + ([256 * TiB] if la57 else [])
        base = bases[between(draw, 0, len(bases) - 1)] + j * 4 * TiB
        address = near_boundary(draw, page, base - 3 * GiB, base + 3 * GiB)
    protection = draw(_PROT)
    m = Mapping(
        segment=seg.name,
        offset=offset,
        size=size,
        address=address,
        protection=protection,
        touched=() if protection == "none" else touched_ranges(draw, address, size, page),
        userfaultfd=draw(_UFFD),
        soft_dirty=draw(_SOFT_DIRTY),
    )
    return m, place == "auto"


def _overlap(ms):
    spans = sorted((m.address, m.end) for m in ms)
    return any(a_end > b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def group(draw, segs, arch, name):
    count = between(draw, 1, 3)
    pairs = []
    prev = None
    for j in range(between(draw, 1, 3)):
        m, auto = mapping(draw, segs, j, prev, arch is X86_64_LA57)
        pairs.append((m, auto))
        prev = m
    ms = tuple(resolve_addresses(pairs, arch))
    assume(not _overlap(ms))
    return ProcessGroup(name=name, count=count, mappings=ms)


@st.composite
def workloads(draw, min_groups=1, max_groups=3):
    """Small random workloads (see the module docstring)."""
    arch = draw(_ARCH)
    segs = [segment(draw, f"s{i}") for i in range(between(draw, 1, 3))]
    gs = tuple(group(draw, segs, arch, f"g{i}") for i in range(between(draw, min_groups, max_groups)))
    options = ModelOptions(file_cached_threshold=draw(_THRESHOLD), mshare_variant=draw(_VARIANT))
    return Workload(
        host=Host(memory=None, arch=arch, pti=draw(st.booleans())),
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
            (g.name, g.count, g.own_tables, g.attached_tables, g.per_process_bytes, g.vmpte_bytes) for g in r.groups
        ],
    }


def options_for(w, overrides):
    return replace(w.options, **overrides)


# --- the model equals the simulator --------------------------------------------------


@settings(max_examples=4 * EXAMPLES)
@given(w=workloads())
def test_model_equals_simulator(w):
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        note(f"scheme={scheme} options={opts}")
        assert comparable(compute(w, scheme, opts)) == comparable(simulate(w, scheme, opts))


# --- invariants, on the model ----------------------------------------------------------


@given(w=workloads(), data=st.data())
def test_adding_a_process_never_lowers_physical_bytes(w, data):
    i = data.draw(st.integers(0, len(w.groups) - 1))
    more = list(w.groups)
    more[i] = replace(more[i], count=more[i].count + 1)
    w2 = replace(w, groups=tuple(more))
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        assert compute(w2, scheme, opts).physical_bytes >= compute(w, scheme, opts).physical_bytes


@given(w=workloads(min_groups=2))
def test_adding_a_group_never_lowers_physical_bytes(w):
    fewer = replace(w, groups=w.groups[:-1])
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        assert compute(w, scheme, opts).physical_bytes >= compute(fewer, scheme, opts).physical_bytes


@given(w=workloads())
def test_sharing_never_costs_more_than_private(w):
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
    something, at an address congruent to its file offset modulo 512 GiB
    (P4D_SIZE, the mshare alignment) in a 512 GiB window of its own."""
    arch = draw(st.sampled_from([X86_64, X86_64_LA57]))
    n = between(draw, 1, 3)
    segs, ms = [], []
    for j in range(n):
        seg = segment(draw, f"s{j}")
        page = seg.page_size
        size = near_boundary(draw, page, page, min(seg.size, 3 * GiB))
        offset = near_boundary(draw, page, 0, seg.size - size)
        address = (j + 2) * 512 * GiB + offset  # offset < 4 GiB: stays in its window
        touched = touched_ranges(draw, address, size, page)
        assume(touched)
        segs.append(seg)
        ms.append(Mapping(segment=seg.name, offset=offset, size=size, address=address,
                          protection=draw(st.sampled_from(["rw", "r"])), touched=touched))
    g = ProcessGroup(name="g", count=between(draw, 4, 6), mappings=tuple(ms))
    return Workload(host=Host(memory=None, arch=arch, pti=draw(st.booleans())),
                    segments={s.name: s for s in segs}, groups=(g,))


@given(w=mshare_friendly())
def test_mshare_v3_costs_no_more_than_private_when_shared(w):
    # With address = offset (mod 512 GiB) and one region per 512 GiB window,
    # the host tree of a region is exactly one process's tree for it.  With N
    # processes and R regions: private = N x (PGD [+ P4D] + sum of trees),
    # mshare = N x (PGD [+ P4D]) + sum over regions of (host PGD [+ host P4D] +
    # tree); private - mshare = (N - 1) x trees - R x (PGD [+ P4D]).  A touched
    # region's tree has at least one 4 KiB table (a PUD for 1 GiB pages), and
    # PGD + P4D is at most 8 + 4 KiB (PTI, 5-level), so N >= 4 suffices.  (With
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


def _in_shared_window(m, at):
    """The split point falls strictly inside a PUD_SIZE window lying wholly
    inside the mapping: hugetlb_split() unshares that window's PMD table."""
    va = m.address + at
    window = _rounddown(va, PUD_SIZE)
    return va != window and m.address <= window and window + PUD_SIZE <= m.end


SHARED_FIELDS = ("shared_tables", "shared_bytes")


def split_keeps(m, seg, at, scheme, opts):
    """Which figures splitting ``m`` at ``at`` must leave unchanged: the names
    of the fields of ``comparable()`` that may change (empty: none may), or
    None when the split may change anything.

    * private: any page-aligned split -- tables are per VA block, not per mapping.
    * hugetlb-pmd and file-cached: a split that does not fall strictly inside a
      PUD_SIZE window lying wholly inside the mapping (a VMA split there
      unshares the window in the kernel: hugetlb_split/hugetlb_unshare_pmds,
      and the file-cached proposal follows hugetlb); in particular every split
      at a PUD_SIZE-aligned address.  For file-cached 4 KiB pages the split
      must also not cut a 2 MiB block of a shared-PTE zone, so it must be
      PMD_SIZE-aligned in address.
    * mshare ptshare: a PMD_SIZE-aligned split of a mapping whose address and
      size are PMD_SIZE multiples (both halves stay eligible, same key); any
      split of a mapping of 2 MiB or 1 GiB pages (ptshare leaves it private).
    * mshare v3: any page-aligned split leaves the tables and every process's
      figures unchanged: the host tree depends on the touched file ranges
      only, the process keeps its PGD (and P4D) tables.  ``shared_tables``
      may change: semantics.md 3.4 counts a table's sharers per mapping zone,
      so a host table under touched pages of both halves gains a sharer (one
      process alone then "shares" it with itself).
    """
    va = m.address + at
    if scheme == "private":
        return ()
    if scheme == "mshare" and opts.mshare_variant == "v3":
        return SHARED_FIELDS
    if scheme == "mshare":
        if seg.page_size != 4 * KiB:
            return ()
        eligible = m.address % PMD_SIZE == 0 and m.size % PMD_SIZE == 0
        return () if eligible and va % PMD_SIZE == 0 else None
    if _in_shared_window(m, at):
        return None
    if scheme == "file-cached" and seg.page_size == 4 * KiB and va % PMD_SIZE:
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
    where = [(gi, mi) for gi, g in enumerate(w.groups) for mi, m in enumerate(g.mappings)
             if m.size > w.segments[m.segment].page_size]
    assume(where)
    gi, mi = data.draw(st.sampled_from(where))
    m = w.groups[gi].mappings[mi]
    seg = w.segments[m.segment]
    at = near_boundary(data.draw, seg.page_size, m.address + seg.page_size, m.end - seg.page_size) - m.address
    note(f"split groups[{gi}].mappings[{mi}] at +{at:#x} (va {m.address + at:#x})")
    w2 = _split(w, gi, mi, at)
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        may_change = split_keeps(m, seg, at, scheme, opts)
        if may_change is not None:
            _assert_same(w, w2, scheme, opts, may_change)


@given(w=workloads(max_groups=2), data=st.data())
def test_splitting_at_a_pud_boundary_changes_nothing(w, data):
    # The case the brief names: a split at a PUD_SIZE-aligned address (offsets
    # stay contiguous) changes nothing under private, hugetlb-pmd and
    # file-cached, nor under ptshare for an eligible mapping, nor the tables
    # under mshare v3 (see split_keeps).
    def first_cut(m):  # the first PUD_SIZE-aligned address strictly inside m
        return -(-(m.address + 1) // PUD_SIZE) * PUD_SIZE

    where = [(gi, mi) for gi, g in enumerate(w.groups) for mi, m in enumerate(g.mappings) if first_cut(m) < m.end]
    assume(where)
    gi, mi = data.draw(st.sampled_from(where))
    m = w.groups[gi].mappings[mi]
    va = data.draw(st.integers(first_cut(m) // PUD_SIZE, (m.end - 1) // PUD_SIZE)) * PUD_SIZE
    note(f"split groups[{gi}].mappings[{mi}] at va {va:#x}")
    w2 = _split(w, gi, mi, va - m.address)
    seg = w.segments[m.segment]
    for scheme, overrides in VARIANTS:
        opts = options_for(w, overrides)
        may_change = split_keeps(m, seg, va - m.address, scheme, opts)
        if scheme == "mshare" and opts.mshare_variant == "ptshare" and seg.page_size == 4 * KiB:
            if not (m.address % PMD_SIZE == 0 and m.size % PMD_SIZE == 0):
                continue  # ineligible whole, but its PMD-aligned tail may be eligible
        assert may_change is not None
        _assert_same(w, w2, scheme, opts, may_change)
