"""``ptcalc scan --jobs 2`` on the live kernel: forked children sharing a memfd
mapped 1 MiB past a 2 MiB boundary (its blocks of addresses and of file offsets
differ, as PostgreSQL's shared memory where the kernel put it), read in two
workers, give the file and the estimate that one process reading them gives,
and the estimate ``--read-all`` gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from test_scan_reuse import _forked, _scan_ioctl

from ptcalc.linux.scan import scan
from ptcalc.render.scan_yaml import render_scan

pytestmark = pytest.mark.kernel

if sys.platform != "linux":
    pytest.skip("reads /proc and forks", allow_module_level=True)

KiB, MiB = 1 << 10, 1 << 20
ROOT = Path(__file__).resolve().parent.parent
ATTEMPTS = 3
NOW = datetime(2026, 12, 8, 0, 0, 0, tzinfo=timezone.utc)

# The memfd (64 MiB) is mapped 1 MiB past a 2 MiB boundary: the whole 2 MiB
# blocks of addresses j = 1..31 hold file offsets [(2j - 1) MiB, (2j + 1) MiB).
# EVERY touches one page in each block of addresses (the partial ones at both
# ends included): VmPTE decides its blocks and the file blocks are probed one by
# one.  OTHERS touches other pages of the same blocks, HALF every other block
# (VmPTE lower than every block present: read by cells).
EVERY = [0] + [(2 * j - 1) * MiB for j in range(1, 33)]
OTHERS = [off + 4 * KiB for off in EVERY]
HALF = [(2 * j - 1) * MiB for j in range(1, 33, 2)]


@pytest.fixture
def misaligned():
    if not _scan_ioctl():
        pytest.skip("no PAGEMAP_SCAN (Linux 6.7+): every process is read in full")
    yield from _forked({"size": 64 * MiB, "touch": [], "shift": MiB,
                        "children": [EVERY, EVERY, EVERY, OTHERS, OTHERS, HALF]})


def _cli(pids: list[int], out: Path, *args: str) -> dict:
    """``ptcalc scan`` of ``pids`` into ``out``, then ``ptcalc estimate`` of it: every cell's page tables."""
    every = [a for p in pids for a in ("-p", str(p))]
    subprocess.run([sys.executable, "-m", "ptcalc", "scan", "-q", *every, *args, "-o", str(out)], cwd=ROOT,
                   check=True, capture_output=True)
    got = subprocess.run([sys.executable, "-m", "ptcalc", "estimate", str(out), "--format", "json"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return {(c["scheme"], c["column"]): c["page_tables"] for c in json.loads(got)["cells"]}


def test_two_workers_write_what_one_process_writes(misaligned):
    pids = misaligned
    for _ in range(ATTEMPTS):  # the children are still: a difference would have to persist
        one, two = scan(pids, now=NOW), scan(pids, now=NOW, jobs=2)
        all1, all2 = scan(pids, now=NOW, reuse=False), scan(pids, now=NOW, reuse=False, jobs=2)
        if render_scan(one) == render_scan(two) and render_scan(all1) == render_scan(all2):
            break
    assert render_scan(two) == render_scan(one)
    assert render_scan(all2) == render_scan(all1)
    assert not one.vmpte_differences()
    # VmPTE decided the five children touching every block, not HALF's
    assert one.decided == two.decided == 5
    # the first child read in full, the five others by its reading; with two workers
    # each worker's first child is read in full (PIDs 0 and 1 go to the first worker,
    # 2 and 3 to the second, before either answers)
    assert (one.reused, two.reused, all1.reused, all2.reused) == (5, 4, 0, 0)
    # EVERY and OTHERS touch the same blocks: one group of 5; HALF its own
    assert sorted(g.count for g in one.workload.groups) == [1, 5]


def test_jobs_2_gives_the_estimate_of_jobs_1_and_of_read_all(misaligned, tmp_path):
    pids = misaligned
    for _ in range(ATTEMPTS):
        two = _cli(pids, tmp_path / "two.yaml", "--jobs", "2")
        one = _cli(pids, tmp_path / "one.yaml", "--jobs", "1")
        full = _cli(pids, tmp_path / "all.yaml", "--read-all")
        if two == one == full:
            break
    assert two == one
    assert two == full
