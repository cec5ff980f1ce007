"""The workload loader on valid input: every default, every field, auto
addresses, touch rounding, aliases and merges, and the error object itself.

Expected values are worked out by hand from the format's rules
(docs/workload-format.md, docs/semantics.md section 1), never copied from
the loader's output.
"""

import io
import sys
from pathlib import Path

import pytest
import yaml

from ptcalc.workload import yamlnodes
from ptcalc.model.geometry import X86_64, X86_64_LA57
from ptcalc.errors import WorkloadError
from ptcalc.workload.loader import load_workload, loads_workload
from ptcalc.workload.types import Workload

KiB, MiB, GiB, TiB, PiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40, 1 << 50

MINIMAL = """
segments:
  sga:
    size: 1GiB
processes:
  - count: 3
    mappings:
      - segment: sga
"""


def only_mapping(w: Workload):
    (g,) = w.groups
    (m,) = g.mappings
    return m


def test_minimal_workload_gets_every_default():
    w = loads_workload(MINIMAL, "min.yaml")
    assert w.name is None and w.source == "min.yaml"
    h = w.host
    assert h.memory is None
    assert h.arch is X86_64
    assert h.pti is False
    assert h.reserved == 0
    assert h.hugepages is None
    assert h.process_overhead == 96 * 1024
    assert h.headroom_percent == 10
    s = w.segments["sga"]
    assert (s.name, s.size, s.backing, s.page_size) == ("sga", GiB, "shmem", 4096)
    (g,) = w.groups
    assert (g.name, g.count, g.private_memory, g.origin) == ("group 1", 3, 0, "processes[0]")
    m = only_mapping(w)
    assert m.segment == "sga"
    assert m.offset == 0
    assert m.size == GiB  # the rest of the segment
    assert m.address == 1 << 40  # first auto window starts at 1 TiB
    assert m.auto is True
    assert m.protection == "rw"
    assert m.touched == ((0, GiB),)  # touch defaults to 1.0
    assert m.userfaultfd == "none"
    assert m.soft_dirty is False
    assert m.origin == "processes[0].mappings[0]"
    assert w.options.file_cached_threshold == 2 * MiB
    assert w.options.mshare_variant == "v3"


def test_every_field_given():
    w = loads_workload(
        """
name: Oracle SGA, 1500 dedicated servers
host:
  memory: 512GiB
  arch: x86_64-la57
  pti: true
  reserved: 8GiB
  hugepages: {2MiB: 153700, 1GiB: 2}
  process_overhead: 128KiB
  headroom: 15%
segments:
  sga:
    size: 300GiB
    backing: hugetlb
    page_size: 2MiB
  cache:
    size: 16GiB
    backing: file
    page_size: 4KiB
processes:
  - name: dedicated servers
    count: 1500
    private_memory: 10MiB
    mappings:
      - segment: sga
        offset: 2GiB
        size: 100GiB
        address: 0x7f0000000000
        protection: r
        touch: 0.5
        userfaultfd: missing
        soft_dirty: true
options:
  file_cached_threshold: 64MiB
  mshare_variant: ptshare
""",
        "full.yaml",
    )
    assert w.name == "Oracle SGA, 1500 dedicated servers"
    h = w.host
    assert h.memory == 512 * GiB
    assert h.arch is X86_64_LA57
    assert h.pti is True
    assert h.reserved == 8 * GiB
    assert h.hugepages == {2 * MiB: 153700, GiB: 2}
    assert h.process_overhead == 128 * KiB
    assert h.headroom_percent == 15
    assert h.available == 504 * GiB
    assert w.segments["sga"].backing == "hugetlb" and w.segments["sga"].page_size == 2 * MiB
    assert w.segments["cache"].backing == "file" and w.segments["cache"].size == 16 * GiB
    (g,) = w.groups
    assert (g.name, g.count, g.private_memory) == ("dedicated servers", 1500, 10 * MiB)
    m = only_mapping(w)
    assert (m.segment, m.offset, m.size) == ("sga", 2 * GiB, 100 * GiB)
    assert m.address == 0x7F0000000000 and m.auto is False
    assert m.protection == "r"
    assert m.touched == ((0, 50 * GiB),)
    assert m.userfaultfd == "missing"
    assert m.soft_dirty is True
    assert w.options.file_cached_threshold == 64 * MiB
    assert w.options.mshare_variant == "ptshare"


def test_no_host_section_means_no_memory_and_x86_64():
    w = loads_workload(MINIMAL)
    assert w.host.memory is None and w.host.available is None and w.host.arch is X86_64


@pytest.mark.parametrize(
    ("backing", "page_size"),
    [("shmem", 4 * KiB), ("file", 4 * KiB), ("hugetlb", 2 * MiB)],
)
def test_default_page_size_per_backing(backing, page_size):
    # hugetlb without a size flag uses the default huge page size (2 MiB on x86-64)
    w = loads_workload(MINIMAL.replace("size: 1GiB", f"size: 1GiB\n    backing: {backing}"))
    assert w.segments["sga"].page_size == page_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("4KiB", 4 * KiB),
        ("4K", 4 * KiB),
        ("4KB", 4 * KiB),
        ("'4 KiB'", 4 * KiB),
        ("2MiB", 2 * MiB),
        ("1.5GiB", 3 * GiB // 2),
        ("300G", 300 * GiB),
        ("0x100000", MiB),
        ('"8GB"', 8 * GiB),
        ("1T", TiB),
    ],
)
def test_size_spellings(text, expected):
    w = loads_workload(MINIMAL.replace("size: 1GiB", f"size: {text}"))
    assert w.segments["sga"].size == expected


@pytest.mark.parametrize(
    ("touch", "size", "page", "expected"),
    [
        # fraction: ceil(f * size), then up to the page
        ("0.3", "1GiB", "4KiB", 78644 * 4096),  # 0.3 * 262144 pages = 78643.2 -> 78644
        ("0.3", "1GiB", "2MiB", 154 * 2 * MiB),  # 0.3 * 512 pages = 153.6 -> 154
        ("30%", "1GiB", "4KiB", 78644 * 4096),
        ("0.5", "1GiB", "4KiB", 512 * MiB),
        ("1", "1GiB", "4KiB", GiB),
        ("1.0", "1GiB", "2MiB", GiB),
        ("100%", "1GiB", "4KiB", GiB),
        ("0.000001", "1GiB", "4KiB", 4096),  # 1073.7 bytes -> one page
        # exact arithmetic: 0.07 * 100 pages is 7 pages; a float gives 28672.000000000004
        ("0.07", "400KiB", "4KiB", 7 * 4096),
        # a size: the prefix, rounded up to the page
        ("10MiB", "1GiB", "4KiB", 10 * MiB),
        ("10241KiB", "1GiB", "4KiB", 2561 * 4096),  # 2560.25 pages -> 2561
        ("3MiB", "1GiB", "2MiB", 4 * MiB),
        ("1GiB", "1GiB", "4KiB", GiB),
    ],
)
def test_touch_rounding(touch, size, page, expected):
    backing = "hugetlb" if page != "4KiB" else "shmem"
    w = loads_workload(
        f"""
segments: {{s: {{size: {size}, page_size: {page}, backing: {backing}}}}}
processes: [{{count: 1, mappings: [{{segment: s, touch: {touch}}}]}}]
"""
    )
    m = only_mapping(w)
    assert m.touched == ((0, expected),)
    assert m.touched_bytes == expected


@pytest.mark.parametrize("touch", ["0", "0.0", "0%", "0B"])
def test_touch_zero_touches_nothing(touch):
    w = loads_workload(MINIMAL.replace("segment: sga", f"segment: sga\n        touch: {touch}"))
    assert only_mapping(w).touched == ()


def test_prot_none_touches_nothing_by_default_and_accepts_touch_zero():
    for extra in ("", "\n        touch: 0"):
        w = loads_workload(
            MINIMAL.replace("segment: sga", "segment: sga\n        protection: none" + extra)
        )
        m = only_mapping(w)
        assert m.protection == "none" and m.touched == ()


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("0x7f0000000000", 0x7F0000000000),
        ("0X7F0000000000", 0x7F0000000000),
        ("'0x7f0000000000'", 0x7F0000000000),
        ("139637976727552", 0x7F0000000000),
        ("2TiB", 2 * TiB),
        ("65536", 65536),
    ],
)
def test_explicit_addresses(text, address):
    w = loads_workload(MINIMAL.replace("segment: sga", f"segment: sga\n        address: {text}"))
    m = only_mapping(w)
    assert m.address == address and m.auto is False


def test_address_may_end_exactly_at_the_top_of_user_space():
    # TASK_SIZE_MAX on 4-level x86-64 is 2^47 - 4 KiB
    top = (1 << 47) - 4096
    w = loads_workload(
        MINIMAL.replace("size: 1GiB", "size: 4KiB").replace(
            "segment: sga", f"segment: sga\n        address: {top - 4096:#x}"
        )
    )
    assert only_mapping(w).end == top


def test_la57_allows_addresses_above_128_tib():
    w = loads_workload(
        "host: {arch: x86_64-la57}\n"
        + MINIMAL.replace("segment: sga", f"segment: sga\n        address: {1 << 55:#x}")
    )
    assert only_mapping(w).address == 1 << 55


def test_auto_addresses_are_placed_in_windows_of_their_own():
    w = loads_workload(
        """
segments:
  a: {size: 600GiB}
  b: {size: 8GiB}
processes:
  - count: 1
    mappings:
      - segment: a                   # 600 GiB: two 512 GiB windows from 1 TiB
      - segment: b
        offset: 3GiB
        size: 2MiB
        address: 0x20000000000       # explicit, in window 4 (2 TiB)
      - segment: b
        offset: 3GiB                 # 3 GiB mod 1 GiB = 0
        size: 4MiB
      - segment: b                   # auto again
        offset: 2MiB
        size: 2MiB
  - count: 2
    mappings:
      - segment: b
        offset: 5GiB
        size: 1GiB
"""
    )
    g0, g1 = w.groups
    a, explicit, b1, b2 = g0.mappings
    win = 512 * GiB
    # windows are numbered from 0: 1 TiB is window 2
    assert a.address == 2 * win and a.auto
    assert explicit.address == 4 * win and not explicit.auto
    # windows 2-3 are a's, 4 is the explicit mapping's: the next free one is 5,
    # and the address keeps the offset modulo 1 GiB (3 GiB -> 0).
    assert b1.address == 5 * win + 0 and b1.auto
    assert b2.address == 6 * win + 2 * MiB and b2.auto
    # every group places its own mappings from 1 TiB again
    (c,) = g1.mappings
    assert c.address == 2 * win + 0  # 5 GiB mod 1 GiB = 0
    assert c.origin == "processes[1].mappings[0]"


def test_auto_address_keeps_offset_modulo_1gib():
    w = loads_workload(
        """
segments: {sga: {size: 8GiB, backing: hugetlb}}
processes: [{count: 1, mappings: [{segment: sga, offset: 3074MiB}]}]
"""
    )
    # 3074 MiB = 3 GiB + 2 MiB: the window base plus 2 MiB
    assert only_mapping(w).address == TiB + 2 * MiB


def test_many_groups_and_mappings_get_disjoint_addresses():
    maps = "".join(f"      - {{segment: s, offset: {i}GiB, size: 1GiB}}\n" for i in range(40))
    groups = "".join(f"  - count: {i + 1}\n    mappings:\n{maps}" for i in range(5))
    w = loads_workload("segments: {s: {size: 40GiB}}\nprocesses:\n" + groups)
    assert [g.count for g in w.groups] == [1, 2, 3, 4, 5]
    assert [g.name for g in w.groups] == [f"group {i}" for i in range(1, 6)]
    for g in w.groups:
        starts = [m.address for m in g.mappings]
        # each 1 GiB mapping gets the next 512 GiB window, offset mod 1 GiB = 0
        assert starts == [TiB + i * 512 * GiB for i in range(40)]


def test_headroom_spellings():
    for text, value in (("25%", 25), ("25", 25), ("0", 0), ("99%", 99), ("'5 %'", 5)):
        assert (
            loads_workload(f"host: {{headroom: {text}}}\n" + MINIMAL).host.headroom_percent == value
        )


def test_booleans_accept_yaml_1_1_spellings():
    for text, value in (
        ("true", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("No", False),
    ):
        assert loads_workload(f"host: {{pti: {text}}}\n" + MINIMAL).host.pti is value


def test_quoted_numbers_are_read_as_numbers():
    w = loads_workload(MINIMAL.replace("count: 3", 'count: "1500"'))
    assert w.groups[0].count == 1500


def test_count_limit_is_inclusive():
    w = loads_workload(MINIMAL.replace("count: 3", f"count: {1 << 40}"))
    assert w.groups[0].count == 1 << 40


def test_segment_limit_is_inclusive():
    w = loads_workload(
        MINIMAL.replace("size: 1GiB", "size: 128PiB").replace(
            "segment: sga", "segment: sga\n        size: 1GiB"
        )
    )
    assert w.segments["sga"].size == 1 << 57


def test_hugepage_pools_may_be_empty_or_zero():
    assert loads_workload("host: {hugepages: {}}\n" + MINIMAL).host.hugepages == {}
    w = loads_workload("host: {hugepages: {2097152: 0, 1G: 4}}\n" + MINIMAL)
    assert w.host.hugepages == {2 * MiB: 0, GiB: 4}


def test_group_without_mappings():
    w = loads_workload("segments: {s: {size: 1GiB}}\nprocesses: [{count: 5, private_memory: 1GiB}]")
    assert w.groups[0].mappings == () and w.groups[0].private_memory == GiB


def test_aliases_share_definitions():
    w = loads_workload(
        """
segments:
  sga: &seg {size: 4GiB}
  other: *seg
processes:
  - &servers
    name: servers
    count: 10
    mappings: &maps
      - {segment: sga, size: 1GiB}
      - {segment: other, touch: 0.25}
  - *servers
  - name: background
    count: 1
    mappings: *maps
"""
    )
    assert w.segments["other"].size == 4 * GiB
    assert [g.name for g in w.groups] == ["servers", "servers", "background"]
    for i, g in enumerate(w.groups):
        assert [m.origin for m in g.mappings] == [
            f"processes[{i}].mappings[0]",
            f"processes[{i}].mappings[1]",
        ]
        assert g.mappings[1].touched == ((0, GiB),)


def test_merge_keys():
    w = loads_workload(
        """
segments:
  sga: &base {size: 4GiB, backing: hugetlb}
  big:
    <<: *base
    size: 8GiB          # explicit keys win over merged ones
  multi:
    <<: [{page_size: 1GiB}, *base]   # earlier merged mappings win
processes: [{count: 1}]
"""
    )
    assert w.segments["big"].size == 8 * GiB and w.segments["big"].backing == "hugetlb"
    assert w.segments["multi"].page_size == GiB and w.segments["multi"].size == 4 * GiB


def test_segment_names_are_free_text():
    w = loads_workload(
        "segments: {'shared buffers': {size: 1GiB}, 1: {size: 2GiB}}\n"
        "processes: [{count: 1, mappings: [{segment: shared buffers}, {segment: 1}]}]"
    )
    assert [m.segment for m in w.groups[0].mappings] == ["shared buffers", "1"]


def test_bytes_input_with_utf8_bom_and_crlf():
    data = b"\xef\xbb\xbf" + MINIMAL.replace("\n", "\r\n").encode()
    w = loads_workload(data, "bom.yaml")
    assert w.segments["sga"].size == GiB


def test_load_workload_reads_the_file_and_names_it_as_given(tmp_path, monkeypatch):
    (tmp_path / "w.yaml").write_text(MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert load_workload("w.yaml").source == "w.yaml"
    assert load_workload(tmp_path / "w.yaml").source == str(tmp_path / "w.yaml")
    (tmp_path / "bad.yaml").write_text(MINIMAL.replace("count: 3", "count: 0"))
    with pytest.raises(WorkloadError) as e:
        load_workload("bad.yaml")
    assert (
        str(e.value)
        == "bad.yaml:6:12: processes[0].count: a process count must be at least 1, got 0"
    )
    assert (e.value.source, e.value.line, e.value.column, e.value.keypath) == (
        "bad.yaml",
        6,
        12,
        "processes[0].count",
    )
    assert e.value.message == "a process count must be at least 1, got 0"


def test_dash_reads_standard_input(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MINIMAL.encode())))
    w = load_workload("-")
    assert w.source == "<stdin>" and w.groups[0].count == 3


def test_missing_file_is_a_workload_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkloadError) as e:
        load_workload("nope.yaml")
    assert str(e.value) == "nope.yaml: cannot read the file: No such file or directory"
    with pytest.raises(WorkloadError) as e:
        load_workload(".")
    assert str(e.value) == ".: cannot read the file: Is a directory"


class _PurePythonLoader(yaml.SafeLoader):
    resolve = yamlnodes._Loader.resolve


def test_pure_python_parser_gives_the_same_workload(monkeypatch):
    fast = loads_workload(MINIMAL)
    monkeypatch.setattr(yamlnodes, "_Loader", _PurePythonLoader)
    slow = loads_workload(MINIMAL)
    assert slow == fast
    with pytest.raises(WorkloadError) as e:
        loads_workload(MINIMAL.replace("count: 3", "count: 0"), "x.yaml")
    assert (
        str(e.value) == "x.yaml:6:12: processes[0].count: a process count must be at least 1, got 0"
    )
    with pytest.raises(WorkloadError) as e:
        loads_workload("name: " + "[" * 5000 + "]" * 5000, "deep.yaml")
    # refused before either parser runs: the 1,000th "[" is at column 1006
    assert str(e.value) == "deep.yaml:1:1006: YAML syntax error: collections are nested more than 1000 levels deep"


def test_the_documented_example_loads():
    doc = (Path(__file__).parent.parent / "docs" / "workload-format.md").read_text(encoding="utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    w = loads_workload(example, "example.yaml")
    assert w.host.hugepages == {2 * MiB: 153700}
    assert w.groups[0].count == 1500
    m = only_mapping(w)
    assert (m.size, m.address, m.touched) == (300 * GiB, TiB, ((0, 300 * GiB),))


def test_the_first_problem_in_the_file_is_reported_fast_path_or_not():
    # group 0 has overlapping explicit mappings, group 1 a bad count: the
    # overlap comes first in the file and is the one reported, whichever
    # reader (fastyaml or libyaml) read the document
    doc = (
        "segments:\n  s: {size: 4GiB}\n"
        "processes:\n"
        "- count: 1\n  mappings:\n"
        "  - {segment: s, size: 2GiB, address: 0x10000000000}\n"
        "  - {segment: s, size: 1GiB, address: 0x10040000000}\n"
        "- count: zero\n  mappings:\n  - {segment: s}\n"
    )
    with pytest.raises(WorkloadError) as e:
        loads_workload(doc, "x.yaml")
    # line 7: "  - {segment: s, size: 1GiB, address: " is 38 characters, the value at column 39
    assert str(e.value).startswith("x.yaml:7:39: processes[0].mappings[1].address: [0x10040000000, ")


def test_private_mapping_flow_rows_read_fast_and_located_when_wrong():
    """Private mappings as ``ptcalc scan`` writes them (one flow line each) read
    without nodes; a wrong one still gets its located message."""
    from ptcalc.workload.loader import loads_workload

    head = "segments: {}\nprocesses:\n  - count: 2\n    private_mappings:\n"
    good = ("      - {kind: file, name: libc.so.6, address: 0x7f0000000000, size: 1876KiB}\n"
            "      - {kind: anon, name: anon, address: 0x7f0000400000, size: 4MiB, page_size: 2MiB}\n"
            "      - {kind: stack, address: 0x7ffd00000000, size: 132KiB}\n")
    w = loads_workload(head + good, source="w.yaml")
    (g,) = w.groups
    assert [(p.kind, p.name, p.address, p.size, p.page_size, p.touched, p.origin) for p in g.private_mappings] == [
        ("file", "libc.so.6", 0x7f0000000000, 1876 << 10, 4096, ((0, 1876 << 10),), "processes[0].private_mappings[0]"),
        ("anon", "anon", 0x7f0000400000, 4 << 20, 2 << 20, ((0, 4 << 20),), "processes[0].private_mappings[1]"),
        ("stack", "stack", 0x7ffd00000000, 132 << 10, 4096, ((0, 132 << 10),), "processes[0].private_mappings[2]")]
    assert g.private_memory == (4 << 20) + (132 << 10)  # what the anon and stack mappings touch
    bad = good.replace("0x7f0000400000", "0x7f0000401000")  # not a multiple of the 2 MiB page
    with pytest.raises(WorkloadError) as e:
        loads_workload(head + bad, source="w.yaml")
    assert str(e.value).startswith("w.yaml:6:") and "processes[0].private_mappings[1].address" in str(e.value)
    stack = good.replace("size: 132KiB}", "size: 2MiB, page_size: 2MiB}")  # a stack has base pages only
    with pytest.raises(WorkloadError) as e:
        loads_workload(head + stack, source="w.yaml")
    assert "processes[0].private_mappings[2].page_size" in str(e.value)
