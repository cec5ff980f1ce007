#!/usr/bin/env python3
"""What one process's partly touched segment costs to read, by the two ways
``ptcalc scan`` can ask PAGEMAP_SCAN (Linux 6.7+), and what bounds a scan at
seed scale (1,500 processes x 300 GiB):

    python benchmarks/pagemap_cells.py              # a 4 GiB memfd, 7 rounds
    python benchmarks/pagemap_cells.py -S 1GiB --runs 3

One child maps a memfd of S bytes (MADV_NOHUGEPAGE: 4 KiB pages) and touches
a pattern of it -- all of it, 10% or 1% of the pages scattered at random, 10%
in one run -- and waits; this process then times, over ``--runs`` rounds:

    walk    ptcalc.linux.pagemap.scan_regions, return_mask 0: every entry of every
            PTE table visited, one region per run of pages (what ``--read-all``
            and ``--touched pages`` read)
    cells   ptcalc.linux.pagemap.touched_cells: one ioctl per 2 MiB block holding
            a page, max_pages 1 (what ``ptcalc scan`` reads, ``--touched tables``)
    ioctl   an ioctl over an empty range: the floor of one call, from Python

and prints the minimum and the median, per entry (walk) and per cell (cells:
what a 2 MiB block of addresses and one of file offsets have in common; the
memfd is mapped at offset 0 at an address numpy's mmap leaves where the
kernel put it, in general not 2 MiB-aligned, so most blocks are two cells),
and both scaled to a 300 GiB mapping and to 1,500 processes of one (linear in
S: the same pattern over a bigger segment).  Nothing is changed but the
memfd, freed at the end; no lock is needed (no pool, no setting).
"""

from __future__ import annotations

import argparse
import fcntl
import mmap
import os
import signal
import statistics
import sys
import time

import numpy as np

from ptcalc.linux import pagemap as pm

PAGE, MiB, GiB = mmap.PAGESIZE, 1 << 20, 1 << 30
BLOCK = 2 * MiB
SEED_PROCESSES, SEED_SIZE = 1500, 300 * GiB
PATTERNS = ("100%", "10% scattered", "1% scattered", "10% in one run")


def plan(pattern: str, npages: int) -> np.ndarray:
    if pattern == "100%":
        return np.arange(npages)
    if pattern == "10% in one run":
        return np.arange(npages // 10)
    frac = 0.1 if pattern.startswith("10") else 0.01
    return np.sort(np.random.default_rng(1).choice(npages, int(npages * frac), replace=False))


def cell_count(s: np.ndarray, e: np.ndarray, shift: int) -> int:
    """Cells in the runs (one ioctl each): each run's cuts at address blocks and,
    when the file's blocks are ``shift`` off them (offset 0 at an address not
    2 MiB-aligned), at file blocks, plus one."""
    va = (e - 1) // BLOCK - s // BLOCK
    fo = ((e - 1 - shift) // BLOCK - (s - shift) // BLOCK) if shift else 0
    return int((1 + va + fo).sum())


def timed(fn, runs: int) -> tuple[float, float, object]:
    out = [fn() for _ in range(runs)]
    secs = [o[0] for o in out]
    return min(secs), statistics.median(secs), out[0][1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-S", "--size", default="4GiB")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    size = int(args.size.lower().removesuffix("gib")) * GiB
    probe = os.open("/proc/self/pagemap", os.O_RDONLY)
    if not pm.pagemap_scan_supported(probe):
        raise SystemExit("needs PAGEMAP_SCAN (Linux 6.7+)")
    os.close(probe)
    npages, nblocks = size // PAGE, size // BLOCK
    print(f"pagemap cells: Linux {os.uname().release}, {os.cpu_count()} CPUs, a {size // GiB} GiB memfd "
          f"({npages:,} entries, {nblocks:,} blocks of 2 MiB), {args.runs} rounds; load {os.getloadavg()[0]:.2f}")
    print(f"{'pattern':<16} {'runs':>8} {'walk ms':>13} {'ns/entry':>9} {'cells':>6} {'cells ms':>13}"
          f" {'us/cell':>8} {'300 GiB: walk':>14} {'cells':>7} {'x 1,500: walk':>14} {'cells':>9}")
    for pattern in PATTERNS:
        fd = os.memfd_create("ptcalc-pagemap-cells")
        os.ftruncate(fd, size)
        os.posix_fallocate(fd, 0, size)
        buf = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
        buf.madvise(mmap.MADV_NOHUGEPAGE)
        view = np.frombuffer(buf, np.uint8)
        start = int(view.__array_interface__["data"][0])
        end = start + size
        pages = plan(pattern, npages) * PAGE
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                view[pages] = 1
                os.write(w, b"r")
                time.sleep(3600)
            finally:
                os._exit(0)
        try:
            os.read(r, 1)
            pfd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)

            def walk() -> tuple[float, int]:
                t = time.perf_counter()
                n = sum(len(x) for x in pm.scan_regions(pfd, start, end, return_mask=0))
                return time.perf_counter() - t, n

            def cells() -> tuple[float, int]:
                t = time.perf_counter()
                s, e, _ = pm.touched_cells(pfd, start, end, 0, BLOCK)
                return time.perf_counter() - t, cell_count(s, e, start % BLOCK)

            w_min, w_med, nruns = timed(walk, args.runs)
            c_min, c_med, ncells = timed(cells, args.runs)
            os.close(pfd)
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            os.close(w)
            del view
            buf.close()
            os.close(fd)
        scale = SEED_SIZE / size
        print(f"{pattern:<16} {nruns:>8,} {w_min * 1e3:>6.2f}/{w_med * 1e3:<6.2f} {w_med / npages * 1e9:>9.2f}"
              f" {ncells:>6,} {c_min * 1e3:>6.2f}/{c_med * 1e3:<6.2f} {c_med / max(ncells, 1) * 1e6:>8.2f}"
              f" {w_med * scale:>12.2f} s {c_med * scale:>5.2f} s {w_med * scale * SEED_PROCESSES / 60:>10.1f} min"
              f" {c_med * scale * SEED_PROCESSES / 60:>5.1f} min")
    # the floor of one call: an empty range
    fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    arg = bytearray(pm.PM_SCAN_ARG.pack(pm.PM_SCAN_ARG.size, 0, 0, 0, 0, 0, 0, 0, 0, 0, pm.TOUCHED, 0))
    calls = []
    for _ in range(args.runs):
        t = time.perf_counter()
        for _ in range(20000):
            fcntl.ioctl(fd, pm.PAGEMAP_SCAN, arg, True)
        calls.append((time.perf_counter() - t) / 20000)
    os.close(fd)
    print(f"one PAGEMAP_SCAN over an empty range, from Python: {statistics.median(calls) * 1e6:.2f} us "
          f"(min {min(calls) * 1e6:.2f}); load {os.getloadavg()[0]:.2f}")
    print("(walk and cells: min/median ms; per entry, per cell and the scaled figures from the median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
