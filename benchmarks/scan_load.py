#!/usr/bin/env python3
"""How big a scanned file of a big host is, and how fast ``ptcalc estimate`` reads it.

A host of P processes, each its own group (the worst case: processes started
by exec, their libraries placed by ASLR, as Oracle's dedicated servers are),
each with one shared segment and the private mappings ``ptcalc scan`` writes
for a PostgreSQL 15 backend (benchmarks/postgres_whole.py: about 80 rows --
the program, 40 libraries and their bss, heap, anonymous mmaps, stack -- here
R rows of 1-2 MiB spread over the mmap area, moved by a random offset per
process).  The file is written by ``ptcalc.workload.writer`` as the scan
writes it (private mappings as one flow line each); then, each in a fresh
process, timed over a few rounds:

    python -m ptcalc estimate FILE --format json      the whole command
    python -c "import ptcalc.cli"                     the import floor

    python benchmarks/scan_load.py                     # 1,500 processes x 80 rows
    python benchmarks/scan_load.py -P 300 -R 250

Prints the file's size and lines, the median seconds of each, the estimate
less the floor, and the peak RSS (/usr/bin/time).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from ptcalc.model.geometry import X86_64  # noqa: E402
from ptcalc.workload.types import Host, Mapping, PrivateMapping, ProcessGroup, Segment, Workload  # noqa: E402
from ptcalc.workload.writer import dump_workload  # noqa: E402

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


def host_file(processes: int, rows: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    seg = Segment("sga", 300 * GiB, "hugetlb", 2 * MiB)
    groups = []
    for i in range(processes):
        top = 0x7F0000000000 + rng.randrange(1 << 27) * 4 * KiB  # the mmap area, randomised
        own = [PrivateMapping("file", 0x555555554000 + rng.randrange(1 << 20) * 4 * KiB, 8 * MiB, 4 * KiB,
                              ((0, 8 * MiB),), name="oracle")]
        at = top
        for j in range(rows - 2):
            size = rng.choice((4 * KiB, 64 * KiB, 1 * MiB, 2 * MiB))
            at -= size + rng.choice((0, 4 * KiB, 2 * MiB))
            kind = "file" if j % 2 == 0 else "anon"
            own.append(PrivateMapping(kind, at, size, 4 * KiB, ((0, size),), name=f"lib{j // 2}.so"))
        own.append(PrivateMapping("stack", 0x7FFD00000000 + rng.randrange(1 << 20) * 4 * KiB, 132 * KiB, 4 * KiB,
                                  ((0, 132 * KiB),), name="stack"))
        own.sort(key=lambda m: m.address)
        groups.append(ProcessGroup(f"oracleORCL (LOCAL=NO) ({i + 1})" if i else "oracleORCL (LOCAL=NO)", 1,
                                   (Mapping("sga", 0, 300 * GiB, 0x60000000, touched=((0, 300 * GiB),)),),
                                   private_memory=5 * MiB, private_mappings=tuple(own)))
    w = Workload(host=Host(memory=2048 * GiB, arch=X86_64, kernel=(6, 18)), segments={"sga": seg},
                 groups=tuple(groups), name="a scanned host")
    return dump_workload(w, header=["benchmarks/scan_load.py: a host as ptcalc scan writes it"])


def timed(argv: list[str]) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name, *argv], capture_output=True, text=True,
                           cwd=ROOT)
        seconds = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:6])}: exit {p.returncode}\n{p.stderr[-2000:]}")
        return seconds, int(tf.read().split()[-1]) * KiB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-P", "--processes", type=int, default=1500)
    ap.add_argument("-R", "--rows", type=int, default=80, help="private mapping rows per process")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    text = host_file(a.processes, a.rows)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "host.yaml"
        path.write_text(text)
        py = sys.executable
        rows = {"estimate --format json": [py, "-m", "ptcalc", "estimate", str(path), "--format", "json"],
                "import floor": [py, "-c", "import ptcalc.cli"]}
        got: dict[str, list[tuple[float, int]]] = {k: [] for k in rows}
        for _ in range(a.runs):
            for name, argv in rows.items():
                got[name].append(timed(argv))
    print(f"a scanned host: {a.processes} processes, each a group of its own with {a.rows} private mapping rows "
          f"and one shared mapping: {len(text) / MiB:.1f} MiB, {text.count(chr(10)):,} lines")
    med = {k: statistics.median(s for s, _ in v) for k, v in got.items()}
    for name, v in got.items():
        print(f"  {name:<24} {med[name]:6.2f} s (median of {a.runs})  peak RSS {max(r for _, r in v) / MiB:6.1f} MiB")
    print(f"  estimate above the import floor: {med['estimate --format json'] - med['import floor']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
