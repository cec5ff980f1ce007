"""``ptcalc check`` through the CLI: exit codes, lines, JSON and JUnit.

Expected verdicts and margins are derived by hand in the comments (x86-64:
a PTE table maps 2 MiB, a PMD table 1 GiB, tables are 4 KiB).
"""

import json
import xml.etree.ElementTree as ET

import pytest

from clihelp import KVM, SEED, SEED_PRIVATE_TABLES, one_segment, postgres_1000, run, write

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
T = 4 * KiB

# A 10 GiB host (no reserve, no per-process overhead), a 4 GiB shmem segment on
# 4 KiB pages mapped whole by N processes: each owns 2048 PTE + 4 PMD + 1 PUD +
# 1 PGD = 2054 tables = 8,413,184 bytes.  demand = 4 GiB + N x 8,413,184.
# tight above 90 % of 10 GiB: N x 8,413,184 > 5 GiB  <=>  N >= 639
# OOM above 10 GiB:            N x 8,413,184 > 6 GiB  <=>  N >= 766
PER = 2054 * T
assert 638 * PER <= 5 * GiB < 639 * PER and 765 * PER <= 6 * GiB < 766 * PER


@pytest.mark.parametrize("count, require, code, verdict", [
    (638, "ok", 0, "ok"),
    (639, "ok", 1, "tight"),
    (700, "tight", 0, "tight"),
    (765, "tight", 0, "tight"),
    (766, "tight", 1, "oom"),
    (766, "ok", 1, "oom"),
])
def test_require_and_exit_codes(tmp_path, count, require, code, verdict):
    path = write(tmp_path, "w.yaml", one_segment(count))
    r = run("check", path, "--require", require, "--format", "json")
    assert r.exit_code == code, r.output
    doc = json.loads(r.stdout)
    (c,) = doc["files"][0]["checks"]
    assert c["verdict"] == verdict and c["scheme"] == "hugetlb-pmd"
    assert c["page_table_bytes"] == count * PER
    assert doc["exit_status"] == code


def test_default_is_require_ok_and_lines(tmp_path):
    path = write(tmp_path, "w.yaml", one_segment(700))
    r = run("check", path)
    assert r.exit_code == 1
    (line, summary) = r.stdout.strip().splitlines()
    assert line.startswith(f"FAIL  {path} [hugetlb-pmd @ 4 KiB shmem] verdict: TIGHT")
    assert "worst accepted OK" in line
    assert "1 failed" in summary and "exit status 1" in summary


def test_seed_fails_private_and_mainline_passes_with_sharing():
    # 1500 x (300 x 512 + 300 + 1 + 1 + 114 own) tables = 881.3 GiB of page tables > 504 GiB.
    r = run("check", SEED)
    assert r.exit_code == 1 and "verdict: OOM" in r.stdout
    r = run("check", SEED, "--scheme", "mshare", "--scheme", "file-cached")
    assert r.exit_code == 0
    assert [ln.split()[0] for ln in r.stdout.splitlines()[:-1]] == ["PASS", "PASS"]
    # On 2 MiB hugetlb pages (what-if column): 300 shared PMD + 1500 x (PUD +
    # PGD + the server's 114 own tables, clihelp.SEED_PRIVATE).
    r = run("check", SEED, "--page-size", "2MiB", "--format", "json")
    assert r.exit_code == 0
    c = json.loads(r.stdout)["files"][0]["checks"][0]
    assert c["column"] == "2MiB-hugetlb" and c["page_table_bytes"] == (300 + 1500 * (2 + SEED_PRIVATE_TABLES)) * T


def test_max_page_tables_percent_of_host_memory(tmp_path):
    POSTGRES = postgres_1000(tmp_path)
    # PostgreSQL: 1009 processes x (66 GiB / 2 MiB = 33,792 PTE + 66 PMD + 1 PUD + 1 PGD)
    # = 1009 x 33,860 tables = 139,938,775,040 bytes = 50.9 % of 256 GiB.
    pt = 1009 * 33860 * T
    assert pt * 100 > 50 * 256 * GiB and pt * 100 <= 51 * 256 * GiB
    r = run("check", POSTGRES, "--max-page-tables", "51%", "--format", "json")
    assert r.exit_code == 0, r.stdout
    r = run("check", POSTGRES, "--max-page-tables", "50%", "--format", "json")
    assert r.exit_code == 1
    cond = [c for c in json.loads(r.stdout)["files"][0]["checks"][0]["conditions"] if not c["passed"]]
    assert [c["name"] for c in cond] == ["max-page-tables"]
    assert cond[0]["actual"] == pt and cond[0]["limit"] == 50 * 256 * GiB // 100
    r = run("check", POSTGRES, "--max-page-tables", "130GiB")
    assert r.exit_code == 1 and "max-page-tables: page tables 130.3 GiB > limit 130 GiB" in r.stdout


def test_min_headroom(tmp_path):
    POSTGRES = postgres_1000(tmp_path)
    # PostgreSQL, private tables: demand = 66 GiB + 139,938,775,040 (tables)
    # + 1000 x 24 MiB + 3 x 64 MiB + 6 x 8 MiB + 1009 x 96 KiB = 236,322,406,400;
    # available = 252 GiB: 34,260,533,248 free = 12.66 % (OK: more than 10 %).
    demand = 66 * GiB + 1009 * 33860 * T + (1000 * 24 + 3 * 64 + 6 * 8) * MiB + 1009 * 96 * KiB
    free = 252 * GiB - demand
    assert free == 34_260_533_248
    assert run("check", POSTGRES, "--min-headroom", "12%").exit_code == 0
    assert run("check", POSTGRES, "--min-headroom", "13%").exit_code == 1
    assert run("check", POSTGRES, "--min-headroom", "31GiB").exit_code == 0
    r = run("check", POSTGRES, "--min-headroom", "32GiB", "--format", "json")  # 34,359,738,368 > free
    assert r.exit_code == 1
    cond = json.loads(r.stdout)["files"][0]["checks"][0]["conditions"][-1]
    assert cond["name"] == "min-headroom" and cond["actual"] == free and not cond["passed"]


def test_invalid_file_among_several_exits_2_and_the_rest_are_checked(tmp_path):
    POSTGRES = postgres_1000(tmp_path)
    bad = write(tmp_path, "bad.yaml", one_segment(10).replace("size: 4GiB", "size: 4 parsecs"))
    junit = tmp_path / "report.xml"
    r = run("check", SEED, bad, POSTGRES, "--junit", junit)
    assert r.exit_code == 2
    assert "bad.yaml:" in r.stderr and "Traceback" not in r.stderr + r.stdout
    words = [ln.split()[0] for ln in r.stdout.splitlines()[:-1]]
    assert words == ["FAIL", "ERROR", "PASS"]
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("errors") == "1"
    cases = suite.findall("testcase")
    assert [c.get("classname") for c in cases] == [SEED, bad, POSTGRES]
    assert cases[0].find("failure") is not None and cases[1].find("error") is not None
    assert cases[2].find("failure") is None and cases[2].find("error") is None


def test_junit_one_testcase_per_file_scheme_condition(tmp_path):
    junit = tmp_path / "j.xml"
    r = run("check", SEED, KVM, "-s", "private", "-s", "mshare", "--max-page-tables", "10%",
            "--min-headroom", "5%", "--junit", junit)
    assert r.exit_code == 1
    cases = ET.parse(junit).getroot().find("testsuite").findall("testcase")
    assert len(cases) == 2 * 2 * 3
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    # seed, private: OOM, 880.6 GiB > 51.2 GiB, and no headroom
    assert failed == {(SEED, f"private @ 4 KiB shmem: {n}") for n in ("verdict", "max-page-tables", "min-headroom")}


def test_stdin(tmp_path):
    r = run("check", "-", "--format", "json", input=one_segment(10))
    assert r.exit_code == 0
    assert json.loads(r.stdout)["files"][0]["file"] == "<stdin>"


@pytest.mark.parametrize("args", [
    ["--max-page-tables", "10 parsecs"],
    ["--max-page-tables", "120%"],
    ["--min-headroom", "x%"],
    ["--require", "oom"],
    ["--page-size", "3MiB"],
    ["--scheme", "nope"],
])
def test_usage_errors_exit_2(args):
    r = run("check", SEED, *args)
    assert r.exit_code == 2
    assert "Traceback" not in r.output


def test_no_host_memory_is_invalid(tmp_path):
    path = write(tmp_path, "w.yaml", one_segment(10).replace("  memory: 10GiB\n", ""))
    r = run("check", path)
    assert r.exit_code == 2 and "host.memory is not given" in r.stderr


def test_missing_file_exits_2(tmp_path):
    r = run("check", str(tmp_path / "nope.yaml"), SEED)
    assert r.exit_code == 2
    assert r.stdout.splitlines()[0].startswith("ERROR")


def test_standard_input_once():
    """``-`` twice would read standard input twice (the second time empty): refused."""
    text = open(SEED).read()
    r = run("check", "-", "-", input=text)
    assert r.exit_code == 2
    assert r.stderr.strip() == "check: '-' (standard input) is given more than once; it can be read only once"
    r = run("check", "-", SEED, input=text)
    assert r.exit_code == 1 and r.stdout.count("FAIL") == 2
