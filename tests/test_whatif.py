"""What-if conversion on the model's arrays (whatif.convert_layout, used by
estimate's columns) against a mapping-by-mapping reference: the previous
implementation, which converted each Mapping object and placed auto
mappings again with resolve_addresses.  Same workload or the same error, on
the property-test workloads, every page size, both array backends."""

from dataclasses import replace

import pytest
from hypothesis import given, note, settings
from test_model_properties import _ARM_GEO, EXAMPLES, describe, workloads

from ptcalc.model.geometry import X86_64
from ptcalc.model.layout import Layout
from ptcalc.units import GiB, KiB, MiB, TiB, format_size
from ptcalc.model.whatif import columns, convert, convert_layout, materialise
from ptcalc.workload.types import Host, Mapping, ProcessGroup, Segment, Workload, resolve_addresses


def _down(x, a):
    return x // a * a


def _up(x, a):
    return -(-x // a) * a


def reference_convert(workload, page_size):
    """The mapping-by-mapping conversion (ptcalc 0.1's whatif.convert)."""
    base = workload.arch.base_page
    segments = {}
    for name, seg in workload.segments.items():
        if seg.backing == "file":
            ps = base if page_size == base else seg.page_size
            segments[name] = replace(seg, page_size=ps, size=_up(seg.size, ps))
        else:
            backing = "shmem" if page_size == base else "hugetlb"
            segments[name] = replace(seg, backing=backing, page_size=page_size, size=_up(seg.size, page_size))
    groups = []
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
            address = m.address - delta
            if not m.auto and address % ps:
                raise ValueError(f"{m.origin or m.segment}: address {m.address:#x} is not aligned to "
                                 f"{format_size(ps)} pages")
            placed.append((replace(m, offset=new_off, size=new_size, address=address, touched=tuple(merged)),
                           m.auto))
        # a process's private mappings do not move, and auto mappings are placed clear of them
        fixed = [(Mapping(segment="", offset=0, size=p.size, address=p.address), False) for p in g.private_mappings]
        if any(a for _, a in placed):
            mappings = resolve_addresses(placed + fixed, workload.arch)[:len(placed)]
        else:
            mappings = [m for m, _ in placed]
        ordered = sorted(list(mappings) + [m for m, _ in fixed], key=lambda m: m.address)
        for prev, nxt in zip(ordered, ordered[1:]):
            if prev.end > nxt.address:
                shared = nxt if nxt.segment else prev  # name the shared mapping of the two
                raise ValueError(f"{shared.origin or shared.segment}: overlaps another mapping on "
                                 f"{format_size(page_size)} pages")
        groups.append(replace(g, mappings=tuple(mappings)))
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


def test_errors_are_worded_as_before():
    seg = Segment("s", 4 * GiB, "shmem", 4 * KiB)
    a = Mapping("s", 0, 4 * MiB, TiB + 4 * KiB, origin="processes[0].mappings[0]")
    b = Mapping("s", 4 * MiB, 4 * MiB, TiB + 2 * GiB, origin="processes[0].mappings[1]")
    w = _w(b, a, segs=[seg])
    with pytest.raises(ValueError, match=r"processes\[0\]\.mappings\[0\]: address 0x10000001000 is not aligned "
                                         r"to 2 MiB pages"):
        convert(w, 2 * MiB)
    # two mappings 4 KiB apart: on 2 MiB pages both round out over the same page
    c = Mapping("s", 0, 1 * MiB, TiB, origin="processes[0].mappings[0]")
    d = Mapping("s", 1 * MiB, 1 * MiB, TiB + 1 * MiB, origin="processes[0].mappings[1]")
    with pytest.raises(ValueError, match=r"processes\[0\]\.mappings\[1\]: overlaps another mapping on 2 MiB pages"):
        convert(_w(c, d, segs=[seg]), 2 * MiB)


def test_columns_keep_the_configured_layout():
    seg = Segment("s", 4 * GiB, "hugetlb", 2 * MiB)
    w = _w(Mapping("s", 0, 4 * GiB, TiB, touched=((0, GiB),)), segs=[seg])
    cols = columns(w)
    assert [c.key for c in cols] == ["4KiB", "2MiB-hugetlb", "1GiB-hugetlb"]
    configured = next(c for c in cols if c.configured)
    assert configured.key == "2MiB-hugetlb" and configured.workload is w
    assert cols[0].workload == reference_convert(w, 4 * KiB)
