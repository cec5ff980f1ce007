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
