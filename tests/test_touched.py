"""Touched ranges: the compact notation, and compression that keeps every table count."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptcalc.model.geometry import X86_64, X86_64_LA57
from ptcalc.model.tables import SCHEMES, compute
from ptcalc.simulator.walk import simulate
from ptcalc.workload.touched import (as_ranges, coarsen, fill_blocks, format_offset, format_range, normalise,
                                    touch_value)
from ptcalc.model.whatif import convert
from ptcalc.workload.types import Host, Mapping, ModelOptions, ProcessGroup, Segment, Workload

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
PAGE = 4 * KiB
BLOCK = 2 * MiB


def test_format():
    assert format_range((GiB, GiB + 2 * MiB)) == "1G-1026M"
    assert format_range((100, 4097)) == "100-4097"
    assert format_offset(3 * TiB) == "3T"
    assert format_offset(GiB + 8 * KiB) == "1048584K"


def test_formatted_ranges_load_back():
    rs = ((0, PAGE), (4 * MiB, 6 * MiB), (GiB + 8 * KiB, GiB + 12 * KiB), (3 * GiB, 4 * GiB))
    text = "[" + ", ".join(format_range(r) for r in rs) + "]"
    assert _load_touch(text, size="4GiB") == rs


def test_normalise_rounds_out_and_merges():
    assert normalise([], PAGE) == ()
    assert normalise([(5000, 5001)], PAGE) == ((PAGE, 2 * PAGE),)
    assert normalise([(3 * MiB, 4 * MiB), (0, 1), (1, 2 * MiB)], 2 * MiB) == ((0, 4 * MiB),)
    assert normalise([(0, PAGE), (2 * PAGE, 3 * PAGE)], PAGE) == ((0, PAGE), (2 * PAGE, 3 * PAGE))


def test_touch_value():
    assert touch_value([], GiB) == 0
    assert touch_value([(0, GiB)], GiB) == 1.0
    assert touch_value([(0, 300 * MiB)], GiB) == 300 * MiB
    assert touch_value([(0, PAGE), (2 * MiB, 4 * MiB)], GiB) == ["0-4K", "2M-4M"]


def _coarsen(ranges, address, offset):
    s = np.array([r[0] for r in ranges], dtype=np.int64)
    e = np.array([r[1] for r in ranges], dtype=np.int64)
    return as_ranges(*coarsen(s, e, address, offset, BLOCK))


def test_coarsen_hand_cases():
    # gaps inside one 2 MiB block are filled; a gap over an untouched block is kept
    rs = [(0, PAGE), (MiB, MiB + PAGE), (2 * MiB - PAGE, 2 * MiB), (6 * MiB, 6 * MiB + PAGE)]
    assert _coarsen(rs, 0, 0) == ((0, 2 * MiB), (6 * MiB, 6 * MiB + PAGE))
    # last page of block 0 and first of block 1: the gap lies in blocks already touched
    assert _coarsen([(0, PAGE), (3 * MiB, 3 * MiB + PAGE)], 0, 0) == ((0, 3 * MiB + PAGE),)
    # the same in VA, but the file offset is shifted by 1 MiB: file blocks 0 and 2 with
    # untouched file block 1 between them -> kept (mshare's host tree would see it)
    assert _coarsen([(0, PAGE), (3 * MiB, 3 * MiB + PAGE)], 0, MiB) == ((0, PAGE), (3 * MiB, 3 * MiB + PAGE))
    # one page per block everywhere: all merged into one range (every block touched anyway)
    one_per_block = [(k * BLOCK, k * BLOCK + PAGE) for k in range(100)]
    assert _coarsen(one_per_block, 0, 0) == ((0, 99 * BLOCK + PAGE),)
    assert _coarsen([], 0, 0) == () and _coarsen([(0, PAGE)], 0, 0) == ((0, PAGE),)


def _fill(ranges, address, offset, size):
    s = np.array([r[0] for r in ranges], dtype=np.int64)
    e = np.array([r[1] for r in ranges], dtype=np.int64)
    return as_ranges(*fill_blocks(s, e, address, offset, size, BLOCK))


def test_fill_blocks_hand_cases():
    # aligned (address and offset alike mod 2 MiB): every touched block whole, within the mapping
    assert _fill([(0, PAGE), (MiB, MiB + PAGE), (6 * MiB, 6 * MiB + PAGE)], 0, 0, 7 * MiB) == \
        ((0, 2 * MiB), (6 * MiB, 7 * MiB))
    assert _fill([(4 * MiB, 4 * MiB + PAGE)], 2 * MiB, 2 * MiB, 10 * MiB) == ((4 * MiB, 6 * MiB),)
    # the mapping starts 1 MiB into a VA block, at file offset 0: a page at 3 MiB lies in VA
    # block 2 ([3 MiB, 5 MiB) of the mapping) and file block 1 ([2 MiB, 4 MiB)): [3, 4) MiB
    assert _fill([(3 * MiB, 3 * MiB + PAGE)], BLOCK + MiB, 0, 8 * MiB) == ((3 * MiB, 4 * MiB),)
    # more than coarsen: the first and last touched pages do not matter, only their blocks
    a = _fill([(PAGE, 2 * PAGE), (9 * MiB, 9 * MiB + PAGE)], MiB, 0, 16 * MiB)
    b = _fill([(3 * PAGE, 4 * PAGE), (9 * MiB + 8 * PAGE, 9 * MiB + 9 * PAGE)], MiB, 0, 16 * MiB)
    assert a == b
    # and every gap coarsen() fills is filled
    rs = [(PAGE, 2 * PAGE), (MiB - PAGE, MiB), (3 * MiB, 3 * MiB + PAGE), (9 * MiB, 9 * MiB + PAGE)]
    filled = _fill(rs, MiB, 0, 16 * MiB)
    assert all(any(fs <= cs and ce <= fe for fs, fe in filled) for cs, ce in _coarsen(rs, MiB, 0))
    assert _fill([], 0, 0, MiB) == ()


def _workload(arch, seg_pages, mappings_per_group, pti=False):
    segs = {name: Segment(name, size, backing, ps) for name, (size, backing, ps) in seg_pages.items()}
    groups = tuple(ProcessGroup(f"g{i}", count, tuple(ms)) for i, (count, ms) in enumerate(mappings_per_group))
    return Workload(host=Host(memory=None, arch=arch, pti=pti), segments=segs, groups=groups)


def _compress(w: Workload, fill: bool = False) -> Workload:
    groups = []
    for g in w.groups:
        ms = []
        for m in g.mappings:
            touched = _fill(m.touched, m.address, m.offset, m.size) if fill else \
                _coarsen(m.touched, m.address, m.offset)
            ms.append(replace(m, touched=touched))
        groups.append(replace(g, mappings=tuple(ms)))
    return replace(w, groups=tuple(groups))


def _fingerprint(w: Workload, scheme: str, options: ModelOptions):
    r = compute(w, scheme, options)
    return (r.tables, r.shared_tables, r.physical_bytes, r.shared_bytes, r.mshare_regions,
            [(g.own_tables, g.attached_tables, g.per_process_bytes, g.vmpte_bytes) for g in r.groups])


@st.composite
def scattered_workloads(draw):
    """Two 4 KiB segments and a 2 MiB hugetlb one, mapped by two groups at
    addresses and offsets with every alignment, touching scattered pages
    (runs of pages, so gaps fall inside and across 2 MiB blocks)."""
    arch = draw(st.sampled_from([X86_64, X86_64_LA57]))
    seg_size = 16 * MiB
    segs = {"a": (seg_size, "shmem", PAGE), "b": (seg_size, "file", PAGE), "h": (4 * GiB, "hugetlb", 2 * MiB)}
    groups = []
    for gi in range(2):
        count = draw(st.integers(1, 3))
        ms = []
        base = (gi + 1) * 2 * TiB
        # one 4 KiB mapping per segment, both in the same 1 GiB window so blocks are shared
        cursor = base + draw(st.integers(0, 1023)) * PAGE
        for name in ("a", "b"):
            off = draw(st.integers(0, 1023)) * PAGE
            size = draw(st.integers(1, (seg_size - off) // PAGE)) * PAGE
            npages = size // PAGE
            starts = sorted(draw(st.sets(st.integers(0, npages - 1), max_size=12)))
            pages: set[int] = set()
            for s0 in starts:
                pages.update(range(s0, min(npages, s0 + draw(st.integers(1, 40)))))
            rs = normalise([(p * PAGE, (p + 1) * PAGE) for p in pages], PAGE)
            prot = draw(st.sampled_from(["rw", "r"]))
            ms.append(Mapping(name, off, size, cursor, protection=prot, touched=rs))
            cursor += size + draw(st.integers(0, 600)) * PAGE
        hoff = draw(st.integers(0, 8)) * 2 * MiB
        hsize = draw(st.integers(1, 1500)) * 2 * MiB
        haddr = base + 512 * GiB + draw(st.integers(0, 511)) * 2 * MiB
        hpages = sorted(draw(st.sets(st.integers(0, hsize // (2 * MiB) - 1), max_size=8)))
        hr = normalise([(p * 2 * MiB, (p + 1) * 2 * MiB) for p in hpages], 2 * MiB)
        ms.append(Mapping("h", hoff, hsize, haddr, touched=hr))
        groups.append((count, ms))
    return _workload(arch, segs, groups, pti=draw(st.booleans()))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=scattered_workloads(), threshold=st.sampled_from([2 * MiB, 64 * MiB]),
       variant=st.sampled_from(["v3", "ptshare"]), fill=st.booleans())
def test_compression_changes_no_table_count(w, threshold, variant, fill):
    """coarsen() and fill_blocks() (what ptcalc scan writes) alike."""
    c = _compress(w, fill)
    opts = ModelOptions(file_cached_threshold=threshold, mshare_variant=variant)
    for scheme in SCHEMES:
        assert _fingerprint(w, scheme, opts) == _fingerprint(c, scheme, opts), scheme
    # nor in the what-if columns (every segment on 2 MiB or 1 GiB pages)
    for ps in (2 * MiB, GiB):
        try:
            cw = convert(w, ps)
        except ValueError:
            continue  # an explicit address that is not aligned: the column is unavailable either way
        cc = convert(c, ps)
        for scheme in SCHEMES:
            assert _fingerprint(cw, scheme, opts) == _fingerprint(cc, scheme, opts), (ps, scheme)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=scattered_workloads(), variant=st.sampled_from(["v3", "ptshare"]), fill=st.booleans())
def test_compressed_simulated_equals_uncompressed_modelled(w, variant, fill):
    """The brute-force simulator (no code shared with the model) walking the
    compressed ranges page by page counts what the model counts for the exact ones."""
    c = _compress(w, fill)
    opts = ModelOptions(mshare_variant=variant)
    for scheme in SCHEMES:
        m, s = compute(w, scheme, opts), simulate(c, scheme, opts)
        assert (m.tables, [(g.own_tables, g.vmpte_bytes) for g in m.groups]) == \
               (s.tables, [(g.own_tables, g.vmpte_bytes) for g in s.groups]), scheme


def test_compression_shrinks_a_scattered_300_gib_mapping():
    """One page in every other 2 MiB block of 300 GiB: 76,800 runs, which
    compression cannot merge (each gap spans an untouched block); one page
    in every block: a single range."""
    size = 300 * GiB
    blocks = size // BLOCK
    every_other = np.arange(0, blocks, 2, dtype=np.int64) * BLOCK
    s, e = coarsen(every_other, every_other + PAGE, 1 << 40, 0, BLOCK)
    assert s.size == blocks // 2
    every = np.arange(0, blocks, dtype=np.int64) * BLOCK + 17 * PAGE
    s, e = coarsen(every, every + PAGE, 1 << 40, 0, BLOCK)
    assert as_ranges(s, e) == ((17 * PAGE, (blocks - 1) * BLOCK + 18 * PAGE),)


# --- the workload format: touch as a list of ranges (ptcalc.workload.loader) ----------------------

def _load_touch(touch: str, *, size="1GiB", page="4KiB", backing="shmem", protection="rw"):
    from ptcalc.workload.loader import loads_workload

    text = f"""\
host: {{memory: 64GiB}}
segments:
  s: {{size: 4GiB, backing: {backing}, page_size: {page}}}
processes:
  - name: p
    count: 2
    mappings:
      - segment: s
        size: {size}
        address: 0x10000000000
        protection: {protection}
        touch: {touch}
"""
    return loads_workload(text, source="t.yaml").groups[0].mappings[0].touched


def test_loader_touch_range_forms():
    assert _load_touch("[0-2M, 4M-6M]") == ((0, 2 * MiB), (4 * MiB, 6 * MiB))
    assert _load_touch("[[0, 2MiB], [4MiB, 6MiB]]") == ((0, 2 * MiB), (4 * MiB, 6 * MiB))
    assert _load_touch("['0x1000-0x3000', [8KiB, 16K]]") == ((4 * KiB, 16 * KiB),)  # hex, merged
    # any order; overlapping and adjacent ranges merge; rounded out to whole pages
    assert _load_touch("[4M-6M, 0-4K, 5M-8M, 4K-8K, 10M-10485761]") == \
           ((0, 8 * KiB), (4 * MiB, 8 * MiB), (10 * MiB, 10 * MiB + PAGE))
    assert _load_touch("[1K-2K]", page="2MiB", backing="hugetlb") == ((0, 2 * MiB),)
    assert _load_touch("[]") == ()
    assert _load_touch("[]", protection="none") == ()
    # a multi-line flow list, as ptcalc scan writes one
    assert _load_touch("[0-4K,\n          1G-1G,\n          8K-12K]".replace("1G-1G", "1020M-1G")) == \
           ((0, 4 * KiB), (8 * KiB, 12 * KiB), (1020 * MiB, GiB))
    # the prefix forms still mean a single range from 0
    assert _load_touch("0.5") == ((0, 512 * MiB),)
    assert _load_touch("300MiB") == ((0, 300 * MiB),)
    assert _load_touch("0") == ()


def test_loader_touch_range_errors():
    from ptcalc.errors import WorkloadError

    with pytest.raises(WorkloadError, match=r"t.yaml:12:\d+: processes\[0\].mappings\[0\].touch: a PROT_NONE"):
        _load_touch("[0-4K]", protection="none")
    with pytest.raises(WorkloadError, match=r"touch\[0\]: range 0-2G ends past the end of the mapping"):
        _load_touch("[0-2G]")
    with pytest.raises(WorkloadError, match=r"t.yaml:12:17: .*touch\[0\]: range \[0, 0\] is empty"):
        _load_touch("[[0, 0]]")
    with pytest.raises(WorkloadError, match=r"touch\[0\]\[1\]: .*not a size"):
        _load_touch("[[0, lots]]")
    with pytest.raises(WorkloadError, match=r"touch\[0\]: '4K -' is not a range"):
        _load_touch("['4K - ']")


@settings(max_examples=60, deadline=None)
@given(a=st.integers(0, 5000), b=st.integers(1, 5000), ua=st.sampled_from(["", "K", "M", "KiB", "MB"]),
       ub=st.sampled_from(["", "K", "M", "G"]), spaced=st.booleans())
def test_loader_range_fast_and_general_paths_agree(a, b, ua, ub, spaced):
    """``4M-6M`` (what scan writes) is read without Fraction arithmetic; it must
    mean what the general size parser says, e.g. for ``[4M, 6M]``."""
    from ptcalc.errors import WorkloadError

    text = f"{a}{ua} - {b}{ub}" if spaced else f"{a}{ua}-{b}{ub}"
    try:
        got = _load_touch(f"['{text}']", size="4GiB")
    except WorkloadError as e:
        got = ("error", str(e).split(": ", 2)[-1])
    try:
        want = _load_touch(f"[['{a}{ua}', '{b}{ub}']]", size="4GiB")
    except WorkloadError as e:
        want = ("error", str(e).split(": ", 2)[-1].replace(f"[{a}{ua}, {b}{ub}]", text))
    assert got == want
