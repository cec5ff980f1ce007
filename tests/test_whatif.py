"""What-if conversion on the model's arrays (whatif.convert_layout, used by
estimate's columns) against a mapping-by-mapping reference: the previous
implementation, which converted each Mapping object and placed auto
mappings again with resolve_addresses.  Same workload or the same error, on
the property-test workloads, every page size, both array backends."""

from dataclasses import replace

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from test_model_properties import _ARM_GEO, EXAMPLES, VARIANTS, comparable, describe, options_for, workloads

from ptcalc.model.evaluate import Options, evaluate
from ptcalc.model.explain import explain
from ptcalc.model.geometry import X86_64
from ptcalc.render.explain_words import placement_lines
from ptcalc.model.layout import Layout
from ptcalc.units import GiB, KiB, MiB, TiB, format_size
from ptcalc.model.tables import count, resident_bytes, resident_on_pages, zones
from ptcalc.model.whatif import columns, convert, convert_layout, convert_placed, materialise
from ptcalc.simulator.walk import page_visits, simulate
from ptcalc.workload.types import (Host, Mapping, PrivateMapping, ProcessGroup, Segment, Workload,
                                   resolve_addresses)


def _down(x, a):
    return x // a * a


def _up(x, a):
    return -(-x // a) * a


def _free_top_down(taken, size, align, limit, low, phase=0):
    """The highest start = phase (mod align) of ``size`` bytes ending at or
    below ``limit``, at or above ``low``, clear of ``taken``: the free gaps
    between the taken intervals, tried from the top."""
    merged = []
    for s0, e0 in sorted(taken):
        if merged and s0 <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e0)
        else:
            merged.append([s0, e0])
    gaps, prev = [], low
    for s0, e0 in merged:
        gaps.append((prev, s0))
        prev = max(prev, e0)
    gaps.append((prev, limit))
    for lo, hi in reversed(gaps):
        hi = min(hi, limit)
        start = _down(hi - size - phase, align) + phase
        if start >= lo and start + size <= hi:
            return start
    return None


def reference_convert(workload, page_size, aligned=False):
    """The mapping-by-mapping conversion (ptcalc 0.1's whatif.convert), with
    the kernel's placement of the mappings it cannot keep: an explicit
    mapping whose address is not a multiple of its new pages, or the later
    (else the earlier) explicit one of two that would overlap, goes to the
    highest gap aligned to its pages that ends by where it ended (or below the
    default map window), highest first; ``aligned``: to the best address
    instead, congruent to the file offset modulo PUD_SIZE."""
    arch = workload.arch
    base = arch.base_page
    segments = {}
    for name, seg in workload.segments.items():
        if seg.backing == "file":
            ps = base if page_size == base else seg.page_size
            segments[name] = replace(seg, page_size=ps, size=_up(seg.size, ps))
        else:
            backing = "shmem" if page_size == base else "hugetlb"
            segments[name] = replace(seg, backing=backing, page_size=page_size, size=_up(seg.size, page_size))
    groups, done = [], []
    for g in workload.groups:
        placed = []
        for m in g.mappings:
            ps = segments[m.segment].page_size
            new_off = _down(m.offset, ps)
            delta = m.offset - new_off
            new_size = min(_up(m.offset + m.size, ps), segments[m.segment].size) - new_off
            touched = tuple((_down(s + delta, ps), min(_up(e + delta, ps), new_size)) for s, e in m.touched)
            merged = []
            for s, e in touched:
                if merged and s <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], e))
                else:
                    merged.append((s, e))
            placed.append((replace(m, offset=new_off, size=new_size, address=m.address - delta,
                                   touched=tuple(merged)), m.auto))
        # a process's private mappings do not move, and auto mappings are placed clear of them
        fixed = [(Mapping(segment="", offset=0, size=p.size, address=p.address), False) for p in g.private_mappings]
        if any(a for _, a in placed):
            mappings = resolve_addresses(placed + fixed, arch)[:len(placed)]
        else:
            mappings = [m for m, _ in placed]
        mappings = list(mappings)
        pages = [segments[m.segment].page_size for m in mappings]
        move = {j for j, (m, auto) in enumerate(placed) if not auto and m.address % pages[j]}
        privates = list(g.private_mappings)
        placed_once = False
        for _ in range(3):
            spans = [(m.address, m.end, j) for j, m in enumerate(mappings)]
            spans += [(p.address, p.end, -1) for p in privates]
            spans.sort(key=lambda t: t[0])
            more = set()
            for i, (s1, e1, j1) in enumerate(spans):
                for s2, e2, j2 in spans[i + 1:]:
                    if s2 < e1:
                        # overlap: move the one whose pages changed, the later of two;
                        # else the other (private and auto mappings stay)
                        cands = [j for j in (j2, j1) if j >= 0 and not placed[j][1]]
                        cands.sort(key=lambda j: workload.segments[g.mappings[j].segment].page_size == pages[j])
                        if cands:
                            more.add(cands[0])
            if more - move:
                move |= more
            elif placed_once or not move:
                break
            # private mappings below one to place (created after it), where it
            # goes with nothing later in its way, are placed again below it
            stay = [m for j, m in enumerate(mappings) if j not in move] + privates
            room, gone = [], {}
            for j in move:
                old, ps, size = g.mappings[j], pages[j], mappings[j].size
                space = min([old.end, arch.user_limit] + [m.address for m in stay if m.address >= old.end])
                spot = _down(min(space, _down(arch.user_limit, ps)) - size, ps)
                if base <= spot < old.address:
                    room.append((spot, spot + size))
                    for k, p in enumerate(privates):
                        if p.address < old.address and p.end > spot:
                            gone[k] = max(gone.get(k, 0), space)  # searched from below the mapping above
            keep = [(m.address, m.end) for j, m in enumerate(mappings) if j not in move] + room
            keep += [(p.address, p.end) for k, p in enumerate(privates) if k not in gone]
            for k in sorted(gone, key=lambda k: -privates[k].address):
                p = privates[k]
                top = _down(arch.user_limit, p.page_size)
                for limit in (min(gone[k], top), min(arch.map_window, top), top):
                    spot = _free_top_down(keep, p.size, p.page_size, limit, base)
                    if spot is not None:
                        privates[k] = replace(p, address=spot)
                        keep.append((spot, spot + p.size))
                        break
            taken = [(m.address, m.end) for j, m in enumerate(mappings) if j not in move]
            taken += [(p.address, p.end) for p in privates]
            # highest first, as a top-down allocator created them
            for j in sorted(move, key=lambda j: (-g.mappings[j].end, j)):
                m0 = placed[j][0]
                old_end = g.mappings[j].end
                ps = pages[j]
                top = _down(arch.user_limit, ps)
                spot = None
                for limit in (min(old_end, top), min(arch.map_window, top), top):
                    spot = _free_top_down(taken, m0.size, ps, limit, base)
                    if spot is not None:
                        break
                if spot is None:
                    raise ValueError(f"{m0.origin or m0.segment}: no room for {format_size(m0.size)} of "
                                     f"{format_size(ps)} pages in the address space (the kernel would refuse "
                                     "the mapping: ENOMEM)")
                if aligned:
                    phase = m0.offset % arch.pud_size
                    best = _free_top_down(taken, m0.size, arch.pud_size, spot + m0.size, base, phase)
                    if best is None:
                        best = _free_top_down(taken, m0.size, arch.pud_size, arch.map_window, base, phase)
                    spot = spot if best is None else best
                mappings[j] = replace(m0, address=spot)
                taken.append((spot, spot + m0.size))
            placed_once = True
        done.append((g, mappings, privates, move))
    # a mapping placed again in several processes at one address before (made
    # once, inherited) goes to the lowest of their places, where that is clear
    lowest = {}
    for g, mappings, _, move in done:
        for j in move:
            old = g.mappings[j]
            key = (old.segment, old.offset, old.address, old.end)
            lowest[key] = min(lowest.get(key, mappings[j].address), mappings[j].address)
    again = True
    while again:  # one moved down can make room for another
        again = False
        for g, mappings, privates, move in done:
            for j in sorted(move):
                old, m = g.mappings[j], mappings[j]
                low = lowest[(old.segment, old.offset, old.address, old.end)]
                others = [x for k, x in enumerate(mappings) if k != j] + privates
                if low != m.address and all(x.address >= low + m.size or x.end <= low for x in others):
                    mappings[j] = replace(m, address=low)
                    again = True
    for g, mappings, privates, _ in done:
        ordered = sorted([(m.address, m.end, m) for m in mappings] + [(p.address, p.end, None)
                                                                       for p in privates],
                         key=lambda t: t[0])
        for (_, prev_end, prev), (start, _, nxt) in zip(ordered, ordered[1:]):
            if prev_end > start:
                shared = nxt if nxt is not None else prev
                raise ValueError(f"{shared.origin or shared.segment}: overlaps another mapping on "
                                 f"{format_size(page_size)} pages")
        groups.append(replace(g, mappings=tuple(mappings), private_mappings=tuple(privates)))
    return replace(workload, segments=segments, groups=tuple(groups))


def outcome(f, *args):
    try:
        return f(*args)
    except ValueError as e:
        return str(e)


def assert_converts_alike(w):
    note(describe(w))
    sizes = sorted(set(w.arch.page_sizes()) | {w.arch.base_page})
    for ps in sizes:
        expected = outcome(reference_convert, w, ps)
        assert outcome(convert, w, ps) == expected, format_size(ps)
        if not isinstance(expected, str):
            conv = convert_placed(Layout.from_workload(w), w, ps)
            if conv.aligned is not None:
                # the best case: the re-placed mappings congruent to their offset modulo PUD_SIZE
                assert materialise(w, conv.aligned, conv.segments) == reference_convert(w, ps, aligned=True)
            if conv.replaced and page_visits(expected) <= 200_000:
                # the model on the re-placed layout is the simulator on the workload it stands for
                for scheme, overrides in VARIANTS:
                    opts = options_for(w, overrides)
                    got = count(conv.layout, zones(conv.layout, scheme, opts))
                    assert comparable(got) == comparable(simulate(expected, scheme, opts)), scheme
                best = conv.aligned
                if best is not None:
                    # and on the best case's, which takes what the column counted over
                    # file offsets (mshare's host trees) from the column's layout
                    assert best.file_counts is conv.layout.file_counts
                    best_w = reference_convert(w, ps, aligned=True)
                    for scheme, overrides in VARIANTS:
                        opts = options_for(w, overrides)
                        got = count(best, zones(best, scheme, opts))
                        assert comparable(got) == comparable(simulate(best_w, scheme, opts)), ("best case", scheme)
        for backend in ("numpy", "python"):
            layout = Layout.from_workload(w, backend=backend)
            got = outcome(lambda: materialise(w, *convert_layout(layout, w, ps)))
            assert got == expected, (backend, format_size(ps))
            if not isinstance(expected, str):
                # the converted arrays are what flattening the converted workload gives
                new, _ = convert_layout(layout, w, ps)
                flat = Layout.from_workload(expected, backend=backend)
                for f in ("row_group", "row_addr", "row_end", "row_off", "row_page", "row_leaf", "row_backing",
                          "row_seg_size", "row_auto", "piece_row", "piece_start", "piece_end"):
                    assert [int(x) for x in getattr(new, f).tolist()] == \
                        [int(x) for x in getattr(flat, f).tolist()], f
                assert new.row_index == flat.row_index
                # the bytes touched on the new pages: the configured ranges'
                # union in whole pages is the converted workload's union
                pages = tuple(seg.page_size for seg in expected.segments.values())
                assert resident_on_pages(layout, [pages]) == [resident_bytes(flat)], (backend, format_size(ps))
                # and None: the configured bytes themselves, from the same union
                assert resident_on_pages(layout, [None, pages]) == [resident_bytes(layout), resident_bytes(flat)]


@settings(max_examples=EXAMPLES)
@given(w=workloads())
def test_convert_matches_the_mapping_by_mapping_reference(w):
    assert_converts_alike(w)


def _w(*mappings, segs=None):
    segs = segs or [Segment("s", 4 * GiB, "shmem", 4 * KiB)]
    return Workload(host=Host(memory=None, arch=X86_64), segments={s.name: s for s in segs},
                    groups=(ProcessGroup("g", 1, tuple(mappings)),))


def test_auto_mapping_pushed_past_the_address_space_is_placed_again():
    # An explicit mapping fills [1 TiB, 127.5 TiB); the auto mapping of
    # 512 GiB - 4 KiB gets the last 512 GiB window and ends exactly at the
    # 4-level user limit (128 TiB - 4 KiB).  On 2 MiB pages it rounds up to
    # 512 GiB and no longer fits: placing it again fails, as the reference does.
    big = Segment("big", 253 * 512 * GiB, "shmem", 4 * KiB)
    seg = Segment("s", 512 * GiB, "shmem", 4 * KiB)
    fixed = Mapping("big", 0, 253 * 512 * GiB, TiB, touched=((0, 4 * KiB),), origin="m0")
    auto = Mapping("s", 0, 512 * GiB - 4 * KiB, 0, touched=((0, 4 * KiB),), origin="m1")
    w = _w(*resolve_addresses([(fixed, False), (auto, True)], X86_64), segs=[big, seg])
    assert w.groups[0].mappings[1].address == 255 * 512 * GiB
    assert w.groups[0].mappings[1].end == X86_64.user_limit
    with pytest.raises(ValueError, match="no room for an auto-placed mapping"):
        reference_convert(w, 2 * MiB)
    with pytest.raises(ValueError, match="no room for an auto-placed mapping"):
        convert(w, 2 * MiB)
    assert convert(w, 4 * KiB) == reference_convert(w, 4 * KiB) == w


@given(w=workloads(geos=_ARM_GEO))
def test_convert_matches_the_reference_on_arm64_like_geometries(w):
    # 16 GiB pages on the 64 KiB granule: larger than the 1 GiB auto alignment,
    # so auto mappings can need more windows and are placed again
    assert_converts_alike(w)


def test_a_mapping_the_kernel_cannot_keep_is_placed_as_the_kernel_would():
    seg = Segment("s", 4 * GiB, "shmem", 4 * KiB)
    a = Mapping("s", 0, 4 * MiB, TiB + 4 * KiB, origin="processes[0].mappings[0]")
    b = Mapping("s", 4 * MiB, 4 * MiB, TiB + 2 * GiB, origin="processes[0].mappings[1]")
    w = _w(b, a, segs=[seg])
    # a is not 2 MiB-aligned: the highest 2 MiB-aligned 4 MiB gap ending by its
    # end, 1 TiB + 4 MiB + 4 KiB (placed top-down, it ended where the next mapping
    # began), starts at 1 TiB; the best case, 1 GiB-aligned (offset 0), is that too.
    # At 1 TiB + 2 MiB + 4 KiB it goes to 1 TiB + 2 MiB, the best case to 1 TiB.
    (col,) = [c for c in columns(w) if c.key == "2MiB-hugetlb"]
    (r,) = col.replaced
    assert (r.group, r.mapping, r.old_address, r.address, r.aligned_address, r.reason) == (
        0, 1, TiB + 4 * KiB, TiB, TiB, "misaligned")
    assert convert(w, 2 * MiB).groups[0].mappings[1].address == TiB
    w = _w(b, replace(a, address=TiB + 2 * MiB + 4 * KiB), segs=[seg])
    (col,) = [c for c in columns(w) if c.key == "2MiB-hugetlb"]
    (r,) = col.replaced
    assert (r.address, r.aligned_address) == (TiB + 2 * MiB, TiB)
    # two mappings 1 MiB apart: on 2 MiB pages both round out to [1 TiB, + 2 MiB);
    # the later is placed below the earlier, 2 MiB-aligned: 1 TiB - 2 MiB (best: 1 TiB - 1 GiB)
    c = Mapping("s", 0, 1 * MiB, TiB, origin="processes[0].mappings[0]")
    d = Mapping("s", 1 * MiB, 1 * MiB, TiB + 1 * MiB, origin="processes[0].mappings[1]")
    (col,) = [x for x in columns(_w(c, d, segs=[seg])) if x.key == "2MiB-hugetlb"]
    (r,) = col.replaced
    assert (r.mapping, r.address, r.aligned_address, r.reason) == (1, TiB - 2 * MiB, TiB - GiB, "overlap")


def _two_processes_2gib_off_by_4kib() -> Workload:
    """2 processes map 2 GiB (offset 0) at 1 TiB + 2 MiB + 4 KiB, wholly touched.  On
    2 MiB hugetlb pages the kernel puts it 2 MiB-aligned, ending by where it
    ended: at 1 TiB + 2 MiB, not 1 GiB-aligned: it then covers one whole
    PUD-sized window (one shared PMD table) and two partial ones (a PMD table per
    process each): 1 + 2 x 2 = 5 PMD tables under hugetlb-pmd; at a 1 GiB-aligned
    address, two whole windows: 2 shared PMD tables.  On 1 GiB pages the kernel's
    address is 1 GiB-aligned, congruent to offset 0."""
    seg = Segment("s", 4 * GiB, "shmem", 4 * KiB)
    a = Mapping("s", 0, 2 * GiB, TiB + 2 * MiB + 4 * KiB, touched=((0, 2 * GiB),),
                origin="processes[0].mappings[0]")
    w = _w(a, segs=[seg])
    return replace(w, groups=(replace(w.groups[0], count=2),))


def test_the_placement_note_says_which_placement_is_the_best_case():
    from ptcalc.model.evaluate import evaluate
    from ptcalc.render.words import placement_notes

    seg = Segment("s", 4 * GiB, "shmem", 4 * KiB)
    ev = evaluate(_two_processes_2gib_off_by_4kib())
    cols = {c.key: c for c in ev.columns}
    (r,) = cols["1GiB-hugetlb"].replaced
    assert r.address % GiB == 0 and r.address == r.aligned_address
    cell = ev.cell("hugetlb-pmd", "2MiB-hugetlb")
    assert cell.result.tables["pmd"] == 5 and cell.aligned.result.tables["pmd"] == 2
    two, one = placement_notes(ev)
    assert "'1 GiB-aligned' is the best case" in two and "already the best case" not in two
    assert "that is already the best case: its address is congruent to the file offset modulo 1 GiB." in one
    # one process, 4 MiB: one PMD table wherever it is 2 MiB-aligned in one window,
    # so the aligned address saves nothing and no best case is shown
    small = Mapping("s", 0, 4 * MiB, TiB + 2 * MiB + 4 * KiB, touched=((0, 4 * MiB),),
                    origin="processes[0].mappings[0]")
    ev = evaluate(_w(small, segs=[seg]))
    assert all(c.aligned is None for c in ev.cells_of(ev.columns[1]))
    assert placement_notes(ev)[0].endswith(
        "an address congruent to the file offset modulo 1 GiB would not save tables here.")


def test_an_estimate_lets_go_of_each_whatif_layout_once_its_cells_are_made():
    from ptcalc.model.evaluate import Options, evaluate
    from ptcalc.model.tables import count, resident_bytes, resident_on_pages, zones

    # on 2 MiB hugetlb pages 5 PMD tables under hugetlb-pmd where the kernel
    # places it, 2 at the best case
    w = _two_processes_2gib_off_by_4kib()
    ev = evaluate(w)
    cols = {c.key: c for c in ev.columns}
    two = cols["2MiB-hugetlb"]
    # every column selected: each what-if column's cells are made as it is
    # converted, and its layout is let go before the next one is converted
    assert two.kept is not None and not two.kept.held
    assert ev.configured.kept is not None and ev.configured.kept.held
    cell = ev.cell("hugetlb-pmd", "2MiB-hugetlb")
    assert cell.result.tables["pmd"] == 5 and cell.aligned.result.tables["pmd"] == 2
    assert cell.note is None and cell.budget.pools.required == {2 * MiB: 2048}  # the 4 GiB segment on 2 MiB pages
    assert not two.kept.held  # (read from what was made, not counted again)
    # explain and check read the layout: made again, the same placement
    lay = two.layout
    assert lay is not None and two.kept.held
    assert count(lay, zones(lay, "hugetlb-pmd", w.options)).tables["pmd"] == 5
    best = two.aligned.layout
    assert count(best, zones(best, "hugetlb-pmd", w.options)).tables["pmd"] == 2
    # one column selected (explain, check): its layout stays
    (col,) = evaluate(w, Options(columns=2 * MiB)).columns
    assert col.kept is not None and col.kept.held


def test_the_kernel_refuses_what_does_not_fit():
    # 100 TiB at 2 MiB leaves [100 TiB + 2 MiB, 128 TiB - 4 KiB): 28 TiB - 4 MiB
    # of 2 MiB pages.  The second mapping, 28 TiB - 4 MiB + 4 KiB at a 4 KiB
    # offset into that room, grows to 28 TiB - 2 MiB on 2 MiB pages: no gap holds it
    big = Segment("big", 100 * TiB, "shmem", 4 * KiB)
    seg = Segment("s", 28 * TiB, "shmem", 4 * KiB)
    m1 = Mapping("big", 0, 100 * TiB, 2 * MiB, origin="processes[0].mappings[0]")
    m2 = Mapping("s", 0, 28 * TiB - 4 * MiB + 4 * KiB, 100 * TiB + 2 * MiB + 4 * KiB,
                 origin="processes[0].mappings[1]")
    assert m2.end <= X86_64.user_limit
    w = _w(m1, m2, segs=[big, seg])
    with pytest.raises(ValueError, match=r"processes\[0\]\.mappings\[1\]: no room for .* of 2 MiB pages in the "
                                         r"address space \(the kernel would refuse the mapping: ENOMEM\)"):
        convert(w, 2 * MiB)
    with pytest.raises(ValueError, match="ENOMEM"):
        reference_convert(w, 2 * MiB)


def test_columns_keep_the_configured_layout():
    seg = Segment("s", 4 * GiB, "hugetlb", 2 * MiB)
    w = _w(Mapping("s", 0, 4 * GiB, TiB, touched=((0, GiB),)), segs=[seg])
    cols = columns(w)
    assert [c.key for c in cols] == ["4KiB", "2MiB-hugetlb", "1GiB-hugetlb"]
    configured = next(c for c in cols if c.configured)
    assert configured.key == "2MiB-hugetlb" and configured.workload is w
    assert cols[0].workload == reference_convert(w, 4 * KiB)


def test_a_private_mapping_made_after_the_segment_does_not_push_it_down():
    # PostgreSQL's pattern: the main segment (2 GiB + 12 KiB on 4 KiB pages)
    # right below the libraries, and in one process a small DSM file mapped
    # later, right below the segment.  On 2 MiB pages the segment rounds up to
    # 2 GiB + 2 MiB and goes, in both processes, to the highest 2 MiB-aligned
    # start ending by the libraries' start L = 0x7f0040123000:
    # round_down(L - (2 GiB + 2 MiB), 2 MiB) = 0x7effbfe00000, ending at
    # 0x7f0040000000.  The DSM file, made later, goes where the kernel put it:
    # the highest gap below L, which is the 1.1 MiB the alignment left above
    # the segment: L - 28 KiB = 0x7f004011c000.  (Kept in the way, it would
    # push the segment below itself: to 0x7effbfc00000 in that process only.)
    lib = 0x7F0040123000
    size = 2 * GiB + 12 * KiB
    main = Mapping("main", 0, size, lib - size, touched=((0, size),))
    libs = PrivateMapping("file", lib, 8 * MiB, 4 * KiB, ((0, 8 * MiB),), name="libc.so.6")
    dsm = PrivateMapping("file", lib - size - 28 * KiB, 28 * KiB, 4 * KiB, ((0, 28 * KiB),), name="PostgreSQL.1")
    w = Workload(host=Host(memory=None, arch=X86_64), segments={"main": Segment("main", size, "shmem", 4 * KiB)},
                 groups=(ProcessGroup("postmaster", 1, (main,), private_mappings=(libs, dsm)),
                         ProcessGroup("checkpointer", 1, (main,), private_mappings=(libs,))))
    for backend in (None, "python"):
        lay = Layout.from_workload(w, backend=backend)
        new, segs = convert_layout(lay, w, 2 * MiB)
        got = materialise(w, new, segs)
        assert [g.mappings[0].address for g in got.groups] == [0x7EFFBFE00000] * 2
        assert got.groups[0].private_mappings[1].address == 0x7F004011C000
        assert got == reference_convert(w, 2 * MiB)
    # both at one phase: the two whole 1 GiB windows, [0x7effc0000000,
    # 0x7f0000000000) and [0x7f0000000000, 0x7f0040000000), are two PMD tables
    # the processes share (pushed down by 2 MiB, the postmaster's would map
    # other file offsets there, and nothing would be shared)
    lay = Layout.from_workload(got, backend=None)
    assert count(lay, zones(lay, "hugetlb-pmd", w.options)).shared_tables["pmd"] == 2
    # explain names the move (and its JSON lists it)
    ev = evaluate(w, Options(schemes=("hugetlb-pmd",), columns=2 * MiB))
    assert ev.column.moved_private == ((0, 1, lib - size - 28 * KiB, 0x7F004011C000),)
    text = "\n".join(placement_lines(explain(ev.selected_cell("hugetlb-pmd"))))
    assert f"PostgreSQL.1 of postmaster from {lib - size - 28 * KiB:#x} to 0x7f004011c000" in text, text


def test_a_segment_inherited_by_several_processes_is_placed_once():
    # Two processes with the main segment (2 GiB + 12 KiB on 4 KiB pages) at one
    # address, inherited through fork, ending where a locale file C =
    # 0x7f0040123000 begins.  Only the first touched the locale file, so only
    # its scan lists it; the other shows libc at 0x7f0040300000 as the next
    # mapping above.  Alone, the first gets round_down(C - (2 GiB + 2 MiB),
    # 2 MiB) = 0x7effbfe00000 and the second, below min(round_up(C, 2 MiB),
    # libc) = 0x7f0040200000, 0x7effc0000000.  The kernel placed the segment
    # once, in the process that made it, which had the locale file: both get
    # 0x7effbfe00000, the lower place, clear in both.
    c = 0x7F0040123000
    size = 2 * GiB + 12 * KiB
    main = Mapping("main", 0, size, c - size, touched=((0, size),))
    locale = PrivateMapping("file", c, 348 * KiB, 4 * KiB, ((0, 4 * KiB),), name="LC_CTYPE")
    libc = PrivateMapping("file", 0x7F0040300000, 2 * MiB, 4 * KiB, ((0, 2 * MiB),), name="libc.so.6")
    w = Workload(host=Host(memory=None, arch=X86_64), segments={"main": Segment("main", size, "shmem", 4 * KiB)},
                 groups=(ProcessGroup("postmaster", 1, (main,), private_mappings=(locale, libc)),
                         ProcessGroup("checkpointer", 1, (main,), private_mappings=(libc,))))
    for backend in (None, "python"):
        lay = Layout.from_workload(w, backend=backend)
        got = materialise(w, *convert_layout(lay, w, 2 * MiB))
        assert [g.mappings[0].address for g in got.groups] == [0x7EFFBFE00000] * 2
        assert got == reference_convert(w, 2 * MiB)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 12)), min_size=1, max_size=9),
                min_size=1, max_size=5))
def test_overlapping_rows_are_found_on_every_path(spans):
    """``overlap_pairs`` (which rows of a process overlap, each with the
    first row before it reaching furthest) against a row-by-row reading of
    that rule, on numpy (the packed running maximum, and the doubling it
    falls back to beyond 2**62) and on pure-Python arrays."""
    from ptcalc.model import xp as backends
    from ptcalc.model.whatif import overlap_pairs

    np_backend = backends.backend("numpy")

    seg = Segment("s", 64 * MiB, "shmem", 4 * KiB)
    groups = tuple(ProcessGroup(f"g{gi}", 1, tuple(Mapping("s", 0, 4 * KiB, (1 + mi) * GiB) for mi in range(len(row))))
                   for gi, row in enumerate(spans))
    w = Workload(host=Host(memory=None, arch=X86_64), segments={"s": seg}, groups=groups)
    # per row (groups in order, mappings in order): an address and a size in pages (0: empty)
    flat = [(gi, mi, a * 4 * KiB, z * 4 * KiB) for gi, row in enumerate(spans) for mi, (a, z) in enumerate(row)]
    expected_pairs = []
    for gi in range(len(spans)):
        rows = sorted((r for r, f in enumerate(flat) if f[0] == gi), key=lambda r: (flat[r][2], flat[r][1]))
        best = None  # (furthest end so far, the first row to reach it)
        for r in rows:
            start, end = flat[r][2], flat[r][2] + flat[r][3]
            if best is not None and best[0] > start:
                expected_pairs.append((best[1], r))
            if best is None or end > best[0]:
                best = (end, r)
    expected = sorted(expected_pairs, key=lambda p: (flat[p[1]][0], flat[p[1]][2], flat[p[1]][1]))
    for backend, fits in (("numpy", None), ("numpy", lambda bound: False), ("python", None)):
        lay = Layout.from_workload(w, backend=backend)
        xp = lay.xp
        addr = xp.asarray([f[2] for f in flat], xp.int64)
        size = xp.asarray([f[3] for f in flat], xp.int64)
        saved = np_backend.fits
        if fits is not None:
            np_backend.fits = fits
        try:
            earlier, later = overlap_pairs(lay, addr, size)
        finally:
            np_backend.fits = saved
        assert list(zip(earlier.tolist(), later.tolist())) == expected, (backend, fits)
