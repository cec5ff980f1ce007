"""``ptcalc sweep``: process counts and segment sizes, the exact first count that OOMs.

Every expected number is derived from the geometry in the comments: the seed
scenario (configs/oracle-sga-300g.yaml) is 300 GiB of 4 KiB shmem mapped whole
by 1500 processes on a 512 GiB host with 8 GiB reserved (504 GiB available),
10 MiB private memory and 96 KiB kernel overhead per process.
"""

import csv
import io
import json
from dataclasses import replace

import pytest

from clihelp import POSTGRES, SEED, SEED_PRIVATE_TABLES, postgres_1000, run

from ptcalc.model.budget import budget
from ptcalc.workload.loader import load_workload
from ptcalc.model.layout import Layout
from ptcalc.model.tables import SCHEMES, count, resident_bytes, zones
from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
from ptcalc.model.sweep import CountSweeper

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
T = 4 * KiB
AVAILABLE = 504 * GiB
SHMEM = 300 * GiB
PER_PROCESS = 10 * MiB + 96 * KiB  # private memory + overhead

# Every process also owns the 114 tables of its own mappings (program, PGA,
# libraries, stack: clihelp.SEED_PRIVATE), under every scheme.
OWN = SEED_PRIVATE_TABLES * T
# Tables per process under private (and hugetlb-pmd, which does not share 4 KiB shmem):
# 300 GiB / 2 MiB = 153,600 PTE + 300 PMD + 1 PUD + 1 PGD, and its own.
PRIVATE_OWN = (300 * 512 + 300 + 1 + 1) * T + OWN
# mshare: each process owns its PGD (and its own mappings' tables); the
# region's host mm holds 153,600 PTE + 300 PMD + 1 PUD + its own PGD, once.
MSHARE_OWN, MSHARE_SHARED = T + OWN, (300 * 512 + 300 + 1 + 1) * T
# file-cached: each process owns 1 PUD + 1 PGD (and its own); 300 shared PMD
# tables and the 153,600 PTE tables below them are counted once.
FILE_OWN, FILE_SHARED = 2 * T + OWN, (300 * 512 + 300) * T


def first_oom(shared, own):
    """Smallest N with 300 GiB + shared + N x (own + 10 MiB + 96 KiB) > 504 GiB (section 5)."""
    room = AVAILABLE - SHMEM - shared
    return room // (own + PER_PROCESS) + 1


EXPECTED = {
    "private": first_oom(0, PRIVATE_OWN),
    "hugetlb-pmd": first_oom(0, PRIVATE_OWN),
    "mshare": first_oom(MSHARE_SHARED, MSHARE_OWN),
    "file-cached": first_oom(FILE_SHARED, FILE_OWN),
}


def test_expected_by_hand():
    # room / per-process cost, worked out: 219,043,332,096 / 641,433,600 = 341.5
    assert EXPECTED["private"] == 342
    assert EXPECTED["mshare"] == 19757  # 218,412,949,504 / 11,055,104 = 19,756.8
    assert EXPECTED["file-cached"] == 19750  # 218,412,957,696 / 11,059,200 = 19,749.4


def test_seed_first_oom_per_scheme_json():
    r = run("sweep", SEED, "--processes", "100:20000", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # no STEP: a round one (250) and the points on its multiples
    assert doc["points"][:4] == [100, 250, 500, 750] and doc["points"][-1] == 20000 and len(doc["points"]) == 81
    for scheme in SCHEMES:
        s = doc["schemes"][scheme]
        assert s["first_not_fitting"] == EXPECTED[scheme], scheme
        assert s["first_not_fitting_verdict"] == "oom"
    # every point: exact page-table bytes
    p = doc["points"]
    i = p.index(1000)
    assert doc["schemes"]["private"]["page_table_bytes"][i] == 1000 * PRIVATE_OWN
    assert doc["schemes"]["mshare"]["page_table_bytes"][i] == MSHARE_SHARED + 1000 * MSHARE_OWN
    assert doc["schemes"]["file-cached"]["demand_bytes"][i] == SHMEM + FILE_SHARED + 1000 * (FILE_OWN + PER_PROCESS)
    # the crossing: the last point below it fits, the first at or above it does not
    for scheme in ("private", "mshare"):
        v = doc["schemes"][scheme]["verdicts"]
        n = EXPECTED[scheme]
        assert all(x in ("ok", "tight") for x, q in zip(v, p) if q < n)
        assert all(x == "oom" for x, q in zip(v, p) if q >= n)


def test_table_and_chart():
    r = run("sweep", SEED, "--processes", "100:30000:10", "--width", "100", "--color", "never")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "first OOM at 342; fits up to 341" in out
    assert "first OOM at 19,757" in out and "first OOM at 19,750" in out
    assert "of 2,991 points" in out  # a sample of the rows
    assert "available (504 GiB), above it OOM" in out  # the chart's OOM line
    assert "p private = hugetlb-pmd" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_csv_every_point():
    r = run("sweep", SEED, "--processes", "1:1001:250", "-s", "private", "-s", "mshare", "--format", "csv")
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(int(x["value"]), x["scheme"]) for x in rows] == [
        (n, s) for n in (1, 251, 501, 751, 1001) for s in ("private", "mshare")]
    by = {(int(x["value"]), x["scheme"]): x for x in rows}
    assert int(by[251, "private"]["page_table_bytes"]) == 251 * PRIVATE_OWN
    assert by[251, "private"]["verdict"] == "ok" and by[501, "private"]["verdict"] == "oom"
    # VmPTE excludes the host's tables: each process shows its own mappings' alone
    assert int(by[1001, "mshare"]["vmpte_total_bytes"]) == 1001 * OWN


def test_exactly_the_most_points():
    """1,000,000 points is the limit, and allowed; STOP off the step is one point more."""
    r = run("sweep", SEED, "--processes", "1:1000000:1", "-s", "private")
    assert r.exit_code == 0, r.output
    assert " of 1,000,000 points" in r.stdout
    r = run("sweep", SEED, "--processes", "1:1999999:2", "-s", "private")
    assert r.exit_code == 0, r.output
    r = run("sweep", SEED, "--processes", "1:2000000:2", "-s", "private")  # 1, 3, ..., 1,999,999 and 2,000,000
    assert r.exit_code == 2 and "1,000,001 points is more than the 1,000,000 allowed" in r.stderr


def test_default_points_are_at_most_100():
    for spec, n in (("1:10000", 51), ("1:100", 100), ("5:995", 51), ("1:3000", 61)):
        doc = json.loads(run("sweep", SEED, "--processes", spec, "--format", "json").stdout)
        assert len(doc["points"]) == n, spec


def test_one_group_grows(tmp_path):
    # PostgreSQL, only the client backends grow.  Each backend: 33,860 tables
    # (66 GiB / 2 MiB PTE + 66 PMD + 1 PUD + 1 PGD) + 24 MiB + 96 KiB.  Fixed:
    # 66 GiB shmem + 3 autovacuum x (tables + 64 MiB + 96 KiB) + 6 background
    # x (tables + 8 MiB + 96 KiB).  Available 252 GiB.
    own = 33860 * T
    per = own + 24 * MiB + 96 * KiB
    fixed = 66 * GiB + 3 * (own + 64 * MiB + 96 * KiB) + 6 * (own + 8 * MiB + 96 * KiB)
    first = (252 * GiB - fixed) // per + 1
    assert first == 1209
    r = run("sweep", postgres_1000(tmp_path), "--processes", "100:2000:100", "--group", "client backends",
            "-s", "private",
            "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["schemes"]["private"]["first_not_fitting"] == first
    assert doc["group_counts"][0] == [100, 3, 6]


def model_demand(w, scheme, counts):
    """Demand of ``w`` with these group counts, through compute + budget (estimate's path)."""
    wc = replace(w, groups=tuple(replace(g, count=c) for g, c in zip(w.groups, counts)))
    layout = Layout.from_workload(wc)
    names = list(wc.segments)
    resident = {names[i]: b for i, b in resident_bytes(layout).items()}
    return budget(wc, count(layout, zones(layout, scheme, wc.options)), resident).demand_bytes


def hamilton(base, n):
    """Largest-remainder counts, written out plainly."""
    n0 = sum(base)
    floors = [b * n // n0 for b in base]
    rems = [b * n % n0 for b in base]
    left = n - sum(floors)
    for i in sorted(range(len(base)), key=lambda i: (-rems[i], i))[:left]:
        floors[i] += 1
    return floors


@pytest.mark.parametrize("scheme", ["private", "file-cached"])
def test_all_groups_scaled_matches_the_model_point_by_point(scheme):
    # Several groups, rounded counts: every point's demand equals the model's
    # for the workload with those counts, and the first count that does not fit
    # is the first where that demand exceeds 252 GiB (checked on either side).
    w = load_workload(POSTGRES)
    base = [g.count for g in w.groups]
    sw = CountSweeper(evaluate(w, Options(schemes=(scheme,), columns=CONFIGURED)))
    pts = [1, 7, 100, 1009, 1217, 1218, 5000]
    counts, vals = sw.evaluate(pts)
    for n, row, demand in zip(pts, counts.tolist(), vals[scheme][2]):
        assert row == hamilton(base, n) and sum(row) == n
        assert demand == model_demand(w, scheme, row)
    first = sw.crossing(scheme).first_failing
    avail = 252 * GiB
    assert model_demand(w, scheme, hamilton(base, first)) > avail
    assert all(model_demand(w, scheme, hamilton(base, n)) <= avail for n in range(max(first - 30, 0), first))


def test_size_sweep_finds_the_exact_size():
    # private, 1500 processes, the SGA at S bytes (a multiple of 4 KiB, auto
    # address at 1 TiB): demand = S + 1500 x 4 KiB x (ceil(S / 2 MiB) PTE +
    # ceil(S / 1 GiB) PMD + 1 PUD + 1 PGD + 114 own) + 1500 x (10 MiB + 96 KiB).
    def demand(s):
        tables = -(-s // (2 * MiB)) + -(-s // GiB) + 2 + SEED_PRIVATE_TABLES
        return s + 1500 * T * tables + 1500 * PER_PROCESS

    lo, hi = 100 * GiB // T, 200 * GiB // T  # in pages: fits at 100 GiB, not at 200 GiB
    assert demand(lo * T) <= AVAILABLE < demand(hi * T)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if demand(mid * T) > AVAILABLE else (mid, hi)
    expected = hi * T
    # By hand: a GiB costs 1 GiB + 1500 x (512 + 1) tables = 4,225,613,824; the
    # room is 504 GiB - 1500 x (116 tables + 10 MiB + 96 KiB) = 524,577,079,296.
    # 124 whole GiB fit, leaving 600,965,120; the 125th GiB's PMD tables take
    # 6,144,000; each 2 MiB block then costs 2 MiB + 1500 PTE tables = 8,241,152:
    # 72 blocks fit (593,362,944), leaving 1,458,176 -- less than the 1500
    # PTE tables of the next block's first page.
    assert expected == 124 * GiB + 72 * 2 * MiB + T
    r = run("sweep", SEED, "--size", "100GiB:400GiB:100GiB", "-s", "private", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    s = doc["schemes"]["private"]
    assert s["first_not_fitting"] == expected and s["status"] == "crosses"
    assert doc["points"] == [100 * GiB, 200 * GiB, 300 * GiB, 400 * GiB]
    assert s["page_table_bytes"][0] == 1500 * T * (51200 + 100 + 2 + SEED_PRIVATE_TABLES)


@pytest.mark.parametrize("args, message", [
    ([], "exactly one of --processes"),
    (["--processes", "1:10", "--size", "1GiB:2GiB"], "exactly one of"),
    (["--processes", "10:1"], "below START"),
    (["--processes", "1:10:0"], "STEP must be positive"),
    (["--processes", "1:10000000:1"], "10,000,000 points is more than the 1,000,000 allowed"),
    (["--processes", "0:10"], "START must be at least 1 process"),
    (["--processes", "a:b"], "not a whole number"),
    (["--size", "1GiB:2GiB:1000"], "multiple of 4 KiB"),
    (["--size", "4KiB:4000GiB:4KiB"], "more than the 1,000 allowed"),
    (["--processes", "1:10", "--group", "nobody"], "no group named"),
    (["--size", "1GiB:2GiB", "--segment", "nope"], "no segment named"),
])
def test_usage_errors(args, message):
    r = run("sweep", SEED, *args)
    assert r.exit_code == 2
    assert message in r.stderr, r.stderr
