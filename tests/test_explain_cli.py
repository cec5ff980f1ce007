"""``ptcalc explain`` through the CLI: a misaligned hugetlb workload, markdown, JSON."""

import json


from clihelp import SEED, run, write

MiB, GiB, TiB = 1 << 20, 1 << 30, 1 << 40
T = 4096

MISALIGNED = """\
name: misaligned SGA on hugetlb
host:
  memory: 64GiB
  arch: x86_64
segments:
  sga:
    size: 4GiB
    backing: hugetlb
    page_size: 2MiB
processes:
  - name: servers
    count: 4
    mappings:
      - segment: sga
        size: 2GiB
        address: 0x10000200000   # 1 TiB + 2 MiB
    private_mappings: []        # (model.md's case: the segment's tables alone)
"""


def test_misaligned_hugetlb_names_rule_and_fix(tmp_path):
    # model.md (verified): 2 GiB of 2 MiB hugetlb in 4 processes, shifted by
    # 2 MiB from a 1 GiB boundary: 1 shared PMD + 4 x (1 PUD + 2 private PMD)
    # = 13 tables; aligned: 2 shared PMD + 4 PUD = 6.  The fix: move by -2 MiB.
    path = write(tmp_path, "sga.yaml", MISALIGNED)
    r = run("explain", path, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (f,) = doc["findings"]
    assert f["rule"] == "partial-window" and f["level"] == "pmd"
    assert f["tables"] == {"pmd": 2}
    assert f["fix"]["kind"] == "move" and f["fix"]["delta"] == -2 * MiB
    assert f["fix"]["new_range"] == [TiB, TiB + 2 * GiB]
    assert f["fix"]["saves"] == (13 - 6) * T
    assert doc["totals"]["total"]["pmd"] == 1 + 4 * 2
    r = run("explain", path, "--width", "200")
    assert "move the mapping by -2 MiB (to 0x10000000000)" in r.stdout
    assert "vma_shareable" in r.stdout


def test_markdown_for_tickets():
    r = run("explain", SEED, "--format", "markdown")
    assert r.exit_code == 0
    out = r.stdout
    assert out.startswith("### ptcalc explain: Oracle SGA")
    assert "(`not-hugetlb`, all)" in out
    assert "put segment sga on 2 MiB hugetlb pages" in out
    assert "| mapping |" in out


def test_scheme_and_page_size():
    r = run("explain", SEED, "--scheme", "hugetlb-pmd", "--page-size", "2MiB", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["column"].startswith("what-if: 2 MiB hugetlb")
    assert doc["findings"] == []
    assert "exceeds" in doc["vmpte"]["text"]
    r = run("explain", SEED, "--scheme", "file-cached", "--format", "json")
    assert json.loads(r.stdout)["pools"][0]["kind"] == "pmd"


CONSOLIDATED = "configs/consolidated-oracle-asm-postgres.yaml"


def test_consolidated_config_merges_the_instance_copies():
    # By hand, from the config: Oracle's SGA is on 2 MiB hugetlb pages at a
    # 1 GiB-aligned address (shared: no finding).  ASM's 1,076 MiB on 4 KiB
    # shmem, touched whole by 2 groups: 1076 / 2 = 538 PTE tables and 2 PMD
    # tables (1,076 MiB from 1 TiB crosses into a second GiB): one finding.
    # Each of the 40 PostgreSQL copies maps its own 4,256 MiB of 4 KiB shmem:
    # client backends and autovacuum workers touch half, 2,128 MiB: 1,064 PTE
    # and 3 PMD tables; background processes all of it: 2,128 PTE and 5 PMD.
    # So 2 + 40 x 3 = 122 findings say 3 distinct things.
    r = run("explain", CONSOLIDATED, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    findings = doc["findings"]
    assert len(findings) == 2 + 40 * 3
    merged = doc["merged_findings"]
    assert sorted(i for m in merged for i in m) == list(range(len(findings)))  # each once
    tables = [findings[m[0]]["tables"] for m in merged]
    assert tables == [{"pte": 538, "pmd": 2}, {"pte": 1064, "pmd": 3}, {"pte": 2128, "pmd": 5}]
    assert [len(m) for m in merged] == [2, 80, 40]
    assert all(findings[i]["rule"] == "not-hugetlb" for m in merged for i in m)
    # the 40 copies of each PostgreSQL group are alike; Oracle's and ASM's groups are each one of a kind
    assert sorted(len(c) for c in doc["alike_groups"]) == [40, 40, 40]
    assert sorted(c[0] for c in doc["alike_groups"]) == ["pg-1: autovacuum workers", "pg-1: background processes",
                                                         "pg-1: client backends"]
    names = [g["name"] for g in doc["groups"]]
    assert len(names) == 124
    # table and markdown: 3 findings and 7 group tables, each affected group still named
    affected = {findings[i]["group"] for m in merged for i in m}
    assert len(affected) == 2 + 40 * 3
    for fmt in ("table", "markdown"):
        r = run("explain", CONSOLIDATED, "--format", fmt, "--width", "200")
        assert r.exit_code == 0, r.output
        out = " ".join(r.stdout.replace("\\", "").split())  # (lines wrap between words; markdown escapes)
        why = out[out.index("not shared"):]
        for name in affected:
            assert f"{name} #0" in why, (fmt, name)
        assert why.count("[not-hugetlb, all]" if fmt == "table" else "(`not-hugetlb`, all)") == 3
        assert out.count("The same for 39 more groups alike") == 3
        for i in range(2, 41):  # every copy named beside the table shown for pg-1
            assert f"pg-{i}: client backends" in out[:out.index("not shared")]
    md = run("explain", CONSOLIDATED, "--format", "markdown").stdout
    assert md.count("| mapping |") == 7  # one table per kind of group, not 124


def _many(groups, per_group):
    """``groups`` groups of ``per_group`` 4 KiB shmem mappings of 4 MiB, 1 GiB
    apart (each its own PMD table and 2 PTE tables), no two groups alike."""
    lines = ["name: many mappings", "host: {memory: 1TiB, arch: x86_64}", "segments:",
             "  s: {size: 512GiB, backing: shmem, page_size: 4KiB}", "processes:"]
    for g in range(groups):
        lines += [f"  - name: g{g}", f"    count: {g + 1}", "    private_mappings: []", "    mappings:"]
        for j in range(per_group):
            lines.append(f"      - {{segment: s, offset: {j * 4}MiB, size: 4MiB, address: {hex(TiB + j * GiB)}}}")
    return "\n".join(lines) + "\n"


def test_text_lists_the_first_mappings_and_groups_json_all(tmp_path):
    # 35 groups of 45 mappings: the text shows 30 groups (those owning the most
    # tables: the 30 with the most processes, g5..g34), 40 mappings each and a
    # line for the other 5 (4 MiB of 4 KiB pages each: 2 PTE tables, and a
    # PMD table of its own: 10 PTE + 5 PMD); JSON lists everything.
    path = write(tmp_path, "many.yaml", _many(35, 45))
    text = run("explain", path, "--width", "200").stdout
    assert "... and 5 more mappings" in text
    assert text.count("... and 5 more mappings") == 30
    assert "g34: 35 processes" in text and "g5: 6 processes" in text and "g4: 5 processes" not in text
    assert "... and 5 more groups (15 processes); --format json lists every group" in text
    row = next(line for line in text.splitlines() if "... and 5 more mappings" in line)
    assert [c.strip() for c in row.split("│")[4:6]] == ["10", "5"]  # own PTE, own PMD of the 5 left out
    doc = json.loads(run("explain", path, "--format", "json").stdout)
    assert len(doc["groups"]) == 35 and all(len(g["mappings"]) == 45 for g in doc["groups"])


def _scanned_like():
    """Two groups of 2 processes, as a scan writes them: a 4 GiB and a 1 MiB
    segment at 4 KiB-aligned addresses, and ten libraries of 4 KiB each, each
    in its own 2 MiB block of one 1 GiB window."""
    libs = "\n".join(f"      - {{kind: file, name: lib{i}, address: {0x10000000 + i * 2 * MiB:#x}, size: 4KiB}}"
                     for i in range(10))
    groups = "".join(f"""\
  - name: {name}
    count: 2
    mappings:
      - {{segment: s, offset: 0, size: 4GiB, address: 0x7f0000201000}}
      - {{segment: small, offset: 0, size: 1MiB, address: 0x7e0000201000}}
    private_mappings:
{libs}
""" for name in ("a", "b"))
    return f"""\
name: scanned like
host: {{memory: 64GiB, arch: x86_64}}
segments:
  s: {{size: 4GiB, backing: shmem, page_size: 4KiB}}
  small: {{size: 1MiB, backing: shmem, page_size: 4KiB}}
processes:
{groups}"""


def test_many_own_mappings_are_summed_by_kind_and_alike_placements_merged(tmp_path):
    path = write(tmp_path, "w.yaml", _scanned_like())
    text = run("explain", path, "--page-size", "2MiB", "--width", "200").stdout
    # the ten libraries: one row, a PTE table each (own), their PMD and PUD
    # table used by all ten (on the "several" row)
    row = next(line for line in text.splitlines() if "10 private file mappings" in line)
    cells = [c.strip() for c in row.split("│")]
    assert cells[2:7] == ["0x10000000 - 0x11201000", "4 KiB private", "10", "-", "-"]
    assert "lib0, lib1, lib2, lib3 and 6 more" in cells[7]
    several = next(line for line in text.splitlines() if "tables used by several" in line)
    assert [c.strip() for c in several.split("│")][4:7] == ["-", "1", "1"]
    # the same re-placement in both groups is one paragraph.  4 GiB ending at
    # 0x7f0100201000, so the kernel's 2 MiB-aligned place ending by there starts
    # at 0x7f0000200000; the best case 0x7f0000000000
    flat = " ".join(text.split())
    assert ("2 mappings (a #0, b #0) s: configured at 0x7f0000201000; their address is not a multiple of 2 MiB, "
            "so the kernel would place each at 0x7f0000200000") in flat
    assert "At 0x7f0000000000, congruent to their file offset modulo 1 GiB" in flat
    assert ("2 mappings (a #1, b #1) small: configured at 0x7e0000201000; their address is not a multiple of "
            "2 MiB, so the kernel would place each at 0x7e0000000000") in flat
    assert "Smaller than 1 GiB, they fill no 1 GiB window wherever they are" in flat
    # per process: PTE 10, PMD 2 (s's partial windows) + 1 (small) + 1 (libs),
    # PUD 3, PGD 1 = 18 tables, 72 KiB; 4 processes and 3 shared PMD tables:
    # 300 KiB.  1 GiB-aligned: s's 4 windows whole, 4 shared PMD tables and
    # 16 tables a process: 4 x 64 KiB + 16 KiB = 272 KiB
    assert "a: 2 processes; each owns 72 KiB, VmPTE 80 KiB" in text
    assert "Page tables as the kernel would place them: 300 KiB; 1 GiB-aligned: 272 KiB." in flat
    # JSON lists every own mapping
    doc = json.loads(run("explain", path, "--page-size", "2MiB", "-f", "json").stdout)
    assert len(doc["groups"][0]["private_mappings"]) == 10


def test_markdown_lists_what_the_text_lists(tmp_path):
    # the same 35 groups of 45 mappings: 30 groups (g5..g34), 40 mappings
    # each and a row for the other 5 (10 PTE + 5 PMD tables), a line for
    # the 5 groups left out
    path = write(tmp_path, "many.yaml", _many(35, 45))
    md = run("explain", path, "--format", "markdown").stdout
    assert md.count("| mapping |") == 30
    assert "**g34**: 35 processes" in md and "**g5**: 6 processes" in md and "**g4**:" not in md
    rows = [line for line in md.splitlines() if "_... and 5 more mappings_" in line]
    assert len(rows) == 30
    assert [c.strip() for c in rows[0].split("|")[4:6]] == ["10", "5"]
    assert "--format json lists every one" in rows[0]
    assert "... and 5 more groups (15 processes); --format json lists every group" in md
