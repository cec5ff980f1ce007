"""sweep and check without the CLI: workloads built from the dataclasses.

Expected values are derived by hand (see tests/test_sweep.py and
tests/test_check.py for the arithmetic, which these repeat).
"""

from ptcalc.model.geometry import X86_64
from ptcalc.model.check import (EXIT_FAIL, EXIT_INVALID, EXIT_PASS, CheckResult, Condition, FileResult, Limit,
                          Thresholds, check_workload, exit_status)
from ptcalc.model.tables import SCHEMES
from ptcalc.model.sweep import CountSweeper, grid, nice_step, resize_segment, sweep_processes
from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
from ptcalc.model.whatif import Column
from ptcalc.workload.types import Host, Mapping, ProcessGroup, Segment, Workload, resolve_addresses

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
T = 4 * KiB


def seed(count=1500):
    """configs/oracle-sga-300g.yaml as dataclasses."""
    m = resolve_addresses([(Mapping("sga", 0, 300 * GiB, 0, "rw", touched=((0, 300 * GiB),)), True)], X86_64)[0]
    return Workload(host=Host(memory=512 * GiB, arch=X86_64, reserved=8 * GiB),
                    segments={"sga": Segment("sga", 300 * GiB, "shmem", 4 * KiB)},
                    groups=(ProcessGroup("servers", count, (m,), private_memory=10 * MiB),))


def test_seed_crossings():
    # room = 504 GiB - 300 GiB (- shared tables); cost per process = own tables + 10 MiB + 96 KiB
    per = 10 * MiB + 96 * KiB
    room = 504 * GiB - 300 * GiB
    expected = {
        "private": room // ((300 * 512 + 302) * T + per) + 1,
        "hugetlb-pmd": room // ((300 * 512 + 302) * T + per) + 1,
        "mshare": (room - (300 * 512 + 302) * T) // (T + per) + 1,
        "file-cached": (room - (300 * 512 + 300) * T) // (2 * T + per) + 1,
    }
    w = seed()
    sw = sweep_processes(configured(w, *SCHEMES), [100, 1000])
    assert {c.scheme: c.first_failing for c in sw.crossings} == expected == {
        "private": 342, "hugetlb-pmd": 342, "mshare": 20629, "file-cached": 20621}
    assert sw.series_for("private").page_table_bytes == [100 * (300 * 512 + 302) * T, 1000 * (300 * 512 + 302) * T]


def test_huge_counts_stay_exact():
    # 10^15 processes: products beyond int64 switch to Python ints, still exact.
    w = seed()
    sw = CountSweeper(configured(w, "private"))
    _, vals = sw.evaluate([10**15])
    assert vals["private"][0] == [10**15 * (300 * 512 + 302) * T]
    assert vals["private"][0][0] > 2**63


def test_resize_scales_whole_mappings():
    w = resize_segment(seed(), "sga", 100 * GiB)
    (m,) = w.groups[0].mappings
    assert w.segments["sga"].size == m.size == 100 * GiB and m.touched == ((0, 100 * GiB),)


def test_grid_and_steps():
    assert grid(100, 20000, None, 100, 10**6, "x")[:3] == [100, 250, 500]
    assert grid(0, 10, 3, 100, 10**6, "x") == [0, 3, 6, 9, 10]
    assert [nice_step(r, False) for r in (1, 3, 7, 201)] == [1, 5, 10, 250]
    assert nice_step(5 * GiB, True, 4 * KiB) == 8 * GiB


def configured(w, *schemes):
    return evaluate(w, Options(schemes=schemes, columns=CONFIGURED))


def test_check_tight_and_oom():
    # 638 processes of 2054 tables each on 4 GiB + 10 GiB host: OK; 700: TIGHT; 766: OOM.
    def w(count):
        m = Mapping("s", 0, 4 * GiB, TiB, "rw", touched=((0, 4 * GiB),))
        return Workload(host=Host(memory=10 * GiB, arch=X86_64, process_overhead=0),
                        segments={"s": Segment("s", 4 * GiB, "shmem", 4 * KiB)},
                        groups=(ProcessGroup("g", count, (m,)),))

    for count, require, verdict, passed in [(638, "ok", "ok", True), (700, "ok", "tight", False),
                                            (700, "tight", "tight", True), (766, "tight", "oom", False)]:
        wl = w(count)
        (c,) = check_workload(configured(wl, "hugetlb-pmd"), Thresholds(require=require))
        assert (c.verdict, c.passed) == (verdict, passed)
        assert c.page_table_bytes == count * 2054 * T
    wl = w(700)
    (c,) = check_workload(configured(wl, "private"),
                          Thresholds(require="tight", max_page_tables=Limit("percent", 55, "55%")))
    # 700 x 2054 x 4 KiB = 5.49 GiB = 54.9 % of 10 GiB
    assert c.passed and c.conditions[1].actual == 700 * 2054 * T


def test_exit_status_precedence():
    col = Column(key="configured", page_size=4096, configured=True)
    ok = CheckResult("private", col, "ok", 0, 0, 1, 1, (Condition("verdict", True, "ok", "ok"),))
    bad = CheckResult("private", col, "oom", 0, 2, 1, -1, (Condition("verdict", False, "oom", "ok"),))
    assert exit_status([FileResult("a", checks=(ok,))]) == EXIT_PASS
    assert exit_status([FileResult("a", checks=(ok,)), FileResult("b", checks=(bad,))]) == EXIT_FAIL
    assert exit_status([FileResult("b", checks=(bad,)), FileResult("c", error="c:1:1: x")]) == EXIT_INVALID
