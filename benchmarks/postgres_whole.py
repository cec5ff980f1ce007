#!/usr/bin/env python3
"""``ptcalc scan`` then ``ptcalc estimate`` on a real PostgreSQL 15 cluster, whole processes.

Issue 13's "done when": Debian's PostgreSQL server runs as the unprivileged
``postgres`` user in a throwaway cluster (benchmarks/postgres_cluster.py:
shared_buffers 2GB, a 300 MB table prewarmed into shared buffers, 50 backends
that each read it with ``SELECT count(*)`` and stay idle), with
``huge_pages = off`` and ``= on``.  Then:

* ``ptcalc scan`` of the cluster's processes writes a workload file, and
  ``ptcalc estimate --format json`` of that file gives each group's VmPTE and
  the PageTables the workload adds (``pagetables_bytes``, mainline
  ``hugetlb-pmd``, as configured);
* for every process it prints the kernel's VmPTE (/proc/PID/status, as the
  scan read it, before and after the process's pagemap) and ptcalc's -- they
  must be equal; and whether the process's VmPTE moved after the scan (an
  auxiliary process waking up);
* the totals: the sum of VmPTE, and the machine's PageTables growth (from
  before the server started to the backends idling) and its drop when the
  server stops, against ``pagetables_bytes`` -- within 1%.  PageTables is
  machine-wide: each reading is taken with the VmPTE of every other process
  (this harness, which holds the 50 connections, included) and their PGDs
  subtracted (``ptcalc.linux.readings``, as ``measure`` does); what other work
  does inside the kernel still moves it, so the run is repeated, up to
  ``--tries``, while it is off by more;
* a hand-written workload for the same cluster (benchmarks/postgres_handwritten.yaml,
  docs/whole-process.md: only ``private_memory`` and the default layout) against the
  kernel's sum of VmPTE -- within 15%;
* with both settings: the huge_pages=off scan's 2 MiB hugetlb what-if (the
  segment re-placed as the kernel would place it) against the huge_pages=on
  run's sum of VmPTE and PageTables growth.  With ``--no-aslr`` (the server
  started under ``setarch -R``: both runs lay the processes out alike) they
  must agree within 1%; with randomisation on, each run has its own layout
  and 1 GiB phase, and the comparison is only shown;
* the kernel memory per backend besides page tables: KernelStack and Slab
  (/proc/meminfo after /proc/sys/vm/stat_refresh) before and after the 50
  backends connect, divided by 50 (docs/whole-process.md, ``process_overhead``).

    python benchmarks/postgres_whole.py                  # off and on, about a minute each
    python benchmarks/postgres_whole.py --huge-pages on --backends 50
    python benchmarks/postgres_whole.py --no-aslr        # the what-if against the kernel, table for table

Needs root (runuser, the hugetlb pool, the backends' pagemap), psycopg 3
(``pip install -e '.[bench]'``), Debian's postgresql package.  Holds
/tmp/ptcalc-kernel.lock for the whole run; restores the hugetlb pool.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import postgres_cluster as pgc  # noqa: E402  (benchmarks/postgres_cluster.py)

from ptcalc.linux.proctitle import process_class  # noqa: E402
from ptcalc.linux.procfs import ProcFS  # noqa: E402
from ptcalc.linux.readings import read_snapshot  # noqa: E402

KiB, MiB = 1 << 10, 1 << 20
HANDWRITTEN = HERE / "postgres_handwritten.yaml"
TOTAL_TOLERANCE = 0.01
HAND_TOLERANCE = 0.15
WHATIF_TOLERANCE = 0.01


def pagetables(fs: ProcFS, cluster: set[int], pgd: int) -> int:
    """PageTables less every other process's VmPTE and PGD (this harness's included)."""
    return read_snapshot(fs, skip=cluster).corrected(pgd)


def meminfo(fs: ProcFS) -> dict[str, int]:
    """/proc/meminfo in bytes, every CPU's vmstat deltas folded first (stat_refresh)."""
    fs.refresh_vmstat()
    return fs.meminfo()


def vmpte(fs: ProcFS, pid: int) -> int:
    return fs.vmpte(pid)


def estimate(path: Path, column: str | None = None) -> dict[str, Any]:
    """``ptcalc estimate PATH --format json``: the hugetlb-pmd cell, as configured
    or of ``column`` (a what-if: ``2MiB-hugetlb``)."""
    out = subprocess.run([sys.executable, "-m", "ptcalc", "estimate", str(path), "--format", "json"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    doc = json.loads(out)
    return next(c for c in doc["cells"] if c["scheme"] == "hugetlb-pmd"
                and (c["configured"] if column is None else c["column"] == column))


def one_run(huge_pages: str, backends: int, table: int, keep: Path | None = None, aslr: bool = True
            ) -> dict[str, Any]:
    """Start, measure, scan, estimate, stop (the kernel lock held by the caller);
    the scanned workload file is copied into ``keep`` when given."""
    from ptcalc.linux.scan import scan
    from ptcalc.render.scan_yaml import render_scan

    fs = ProcFS()
    pgd = 4 * KiB  # 6.18 counts the PGD in PageTables (ptcalc.model.accounting); no PTI here
    rec: dict[str, Any] = {"huge_pages": huge_pages, "backends": backends}
    pgc.settle()
    pt0 = pagetables(fs, set(), pgd)
    work = Path(tempfile.mkdtemp(prefix="ptcalc-pgwhole-"))
    rec["aslr"] = aslr
    with pgc.Cluster(huge_pages, "2GB", aslr=aslr) as c:
        rec["postgres"] = c._as_postgres(f"{c.bin}/postgres", "--version").strip()
        rec["shared_memory_size_mb"] = c.shared_memory_size_mb
        rec["table"] = c.load_table(table)
        pgc.settle()
        mi1 = meminfo(fs)
        c.open_backends(backends)
        pgc.settle()
        mi2 = meminfo(fs)
        pids = c.pids()
        pt2 = pagetables(fs, set(pids), pgd)
        t0 = time.perf_counter()
        r = scan(pids)
        rec["scan_seconds"] = time.perf_counter() - t0
        path = work / f"postgres-{huge_pages}.yaml"
        path.write_text(render_scan(r))
        cell = estimate(path)
        if huge_pages == "off":  # what huge pages would change, as the kernel would place the segment
            w = estimate(path, "2MiB-hugetlb")["page_tables"]
            rec["whatif_2mib"] = {"sum_vmpte": w["vmpte_total_bytes"], "pagetables_bytes": w["pagetables_bytes"]}
        after = {p: vmpte(fs, p) for p in pids}
        pt3 = pagetables(fs, set(pids), pgd)
        titles = {p: process_class(fs.pid_text(p, "comm"), fs.pid_text(p, "cmdline").replace("\0", " "))
                  for p in pids}
    pgc.settle()
    pt4 = pagetables(fs, set(), pgd)
    groups = cell["page_tables"]["groups"]
    model_of: dict[int, int] = {}
    for g, note in zip(groups, r.group_notes):
        for p in note.pids:
            model_of[p] = g["vmpte_bytes"]
    scanned = {p: v for n in r.group_notes for p, v in zip(n.pids, n.vmpte)}
    rec["processes"] = [{"pid": p, "class": titles[p], "kernel_vmpte": scanned[p], "vmpte_after_scan": after[p],
                         "ptcalc_vmpte": model_of[p]} for p in sorted(scanned)]
    rec["skipped"] = dict(r.skipped)
    rec["groups"] = len(groups)
    rec["file_lines"] = path.read_text().count("\n")
    rec["sum_kernel_vmpte"] = sum(scanned.values())
    rec["sum_ptcalc_vmpte"] = cell["page_tables"]["vmpte_total_bytes"]
    rec["pagetables_bytes"] = cell["page_tables"]["pagetables_bytes"]
    rec["pagetables_growth"] = pt2 - pt0
    rec["pagetables_drop"] = pt3 - pt4
    rec["pagetables_drift_during_scan"] = pt3 - pt2
    rec["kernel_memory"] = {k: mi2.get(k, 0) - mi1.get(k, 0) for k in ("KernelStack", "Slab", "SUnreclaim",
                                                                         "SReclaimable", "PageTables")}
    rec["hand"] = hand_estimate(huge_pages)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / path.name).write_text(path.read_text())
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    return rec


def hand_estimate(huge_pages: str) -> dict[str, int]:
    """The hand-written workload's document for ``huge_pages``, estimated: its
    processes, sum of VmPTE and pagetables_bytes."""
    docs = HANDWRITTEN.read_text().split("\n---\n")
    text = next(d for d in docs if f"huge_pages={huge_pages}" in d)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        cell = estimate(Path(f.name))
    finally:
        os.unlink(f.name)
    pt = cell["page_tables"]
    return {"processes": sum(g["count"] for g in pt["groups"]), "sum_vmpte": pt["vmpte_total_bytes"],
            "pagetables_bytes": pt["pagetables_bytes"]}


def within(a: int, b: int, tolerance: float) -> bool:
    return abs(a - b) <= tolerance * b


def report(rec: dict[str, Any]) -> tuple[str, bool, bool]:
    """The printed report of one run; (text, per-process and totals all good, PageTables within 1%)."""
    procs = rec["processes"]
    lines = [f"{rec['postgres']}, huge_pages={rec['huge_pages']}, {len(procs)} processes, shared memory "
             f"{rec['shared_memory_size_mb']} MB, table {rec['table']['bytes'] / MiB:.0f} MiB; "
             f"ptcalc scan {rec['scan_seconds']:.2f} s -> {rec['groups']} groups, {rec['file_lines']} lines"]
    lines.append(f"  {'pid':>7}  {'process':<32} {'kernel VmPTE':>13} {'ptcalc VmPTE':>13}")
    exact = 0
    for p in procs:
        same = p["kernel_vmpte"] == p["ptcalc_vmpte"]
        exact += same
        moved = p["vmpte_after_scan"] - p["kernel_vmpte"]
        lines.append(f"  {p['pid']:>7}  {p['class'][:32]:<32} {p['kernel_vmpte'] // KiB:>9} KiB "
                     f"{p['ptcalc_vmpte'] // KiB:>9} KiB  {'equal' if same else 'DIFFERENT'}"
                     + (f"  (VmPTE {moved // KiB:+d} KiB after the scan)" if moved else ""))
    lines.append(f"  per process: {exact} of {len(procs)} equal")
    sk, sp = rec["sum_kernel_vmpte"], rec["sum_ptcalc_vmpte"]
    lines.append(f"  sum of VmPTE: kernel {sk / KiB:,.0f} KiB, ptcalc {sp / KiB:,.0f} KiB "
                 f"({(sp - sk) / sk:+.2%})")
    pt, g, d = rec["pagetables_bytes"], rec["pagetables_growth"], rec["pagetables_drop"]
    lines.append(f"  PageTables: ptcalc pagetables_bytes {pt / KiB:,.0f} KiB; kernel: growth {g / KiB:,.0f} KiB "
                 f"({(pt - g) / g:+.2%}), drop at stop {d / KiB:,.0f} KiB ({(pt - d) / d:+.2%}) (other processes' "
                 f"VmPTE and PGDs subtracted; the rest moved by {rec['pagetables_drift_during_scan'] / KiB:+,.0f} "
                 "KiB during the scan)")
    h = rec["hand"]
    lines.append(f"  hand-written workload ({h['processes']} processes, private_memory and the default layout): "
                 f"sum of VmPTE {h['sum_vmpte'] / KiB:,.0f} KiB ({(h['sum_vmpte'] - sk) / sk:+.1%} of the kernel's), "
                 f"pagetables_bytes {h['pagetables_bytes'] / KiB:,.0f} KiB")
    km = rec["kernel_memory"]
    n = rec["backends"]
    lines.append(f"  kernel memory per backend besides page tables ({n} backends connecting): KernelStack "
                 f"{km['KernelStack'] / n / KiB:.1f} KiB, Slab {km['Slab'] / n / KiB:.1f} KiB (unreclaimable "
                 f"{km['SUnreclaim'] / n / KiB:.1f}), sum {(km['KernelStack'] + km['Slab']) / n / KiB:.1f} KiB")
    good = exact == len(procs) and within(sp, sk, TOTAL_TOLERANCE) and within(h["sum_vmpte"], sk, HAND_TOLERANCE)
    pagetables_ok = within(pt, g, TOTAL_TOLERANCE) and within(pt, d, TOTAL_TOLERANCE)
    return "\n".join(lines), good, pagetables_ok


def whatif_report(off: dict[str, Any], on: dict[str, Any]) -> tuple[str, bool]:
    """The huge_pages=off scan's 2 MiB what-if next to the huge_pages=on run's
    kernel figures; close when within ``WHATIF_TOLERANCE`` -- asked only of
    runs with address-space randomisation off (``--no-aslr``): with it on,
    each run draws its own mmap_base, so its own layout and 1 GiB phase, and
    the comparison is shown, not judged."""
    w = off["whatif_2mib"]
    sk, g = on["sum_kernel_vmpte"], on["pagetables_growth"]
    judged = not off["aslr"] and not on["aslr"]
    lines = ["what huge pages would change: the huge_pages=off scan's 2 MiB hugetlb what-if (the segment placed "
             "as the kernel would place it) against the kernel with huge_pages=on"
             + ("" if judged else " (ASLR on: each run lays the processes out anew; shown, not judged)"),
             f"  sum of VmPTE: what-if {w['sum_vmpte'] / KiB:,.0f} KiB, kernel {sk / KiB:,.0f} KiB "
             f"({(w['sum_vmpte'] - sk) / sk:+.2%}); PageTables: what-if {w['pagetables_bytes'] / KiB:,.0f} KiB, "
             f"kernel growth {g / KiB:,.0f} KiB ({(w['pagetables_bytes'] - g) / g:+.2%}); as configured "
             f"(4 KiB pages) {off['pagetables_bytes'] / KiB:,.0f} KiB"]
    close = within(w["sum_vmpte"], sk, WHATIF_TOLERANCE) and within(w["pagetables_bytes"], g, WHATIF_TOLERANCE)
    if judged and not close:
        lines.append(f"  not within {WHATIF_TOLERANCE:.0%}")
    return "\n".join(lines), close or not judged


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--huge-pages", choices=("off", "on", "both"), default="both")
    ap.add_argument("--backends", type=int, default=50)
    ap.add_argument("--table-mb", type=int, default=300)
    ap.add_argument("--tries", type=int, default=3, help="runs while PageTables is off by more than 1%% (noise)")
    ap.add_argument("-o", "--output", type=Path, help="JSON record (default benchmarks/results/...)")
    ap.add_argument("--no-aslr", action="store_true",
                    help="start the server with address-space randomisation off (setarch -R): the off and on runs "
                         "then lay the processes out alike, and the what-if is compared with the kernel table for table")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="keep the scanned workload files (postgres-off.yaml, ...)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (runuser, the hugetlb pool, the backends' pagemap)")
    modes = ("off", "on") if a.huge_pages == "both" else (a.huge_pages,)
    print(f"ptcalc scan + estimate on PostgreSQL, whole processes: Linux {platform.release()}, "
          f"{os.cpu_count()} CPUs")
    records, ok = [], True
    with pgc.kernel_lock():
        for mode in modes:
            for attempt in range(1, a.tries + 1):
                rec = one_run(mode, a.backends, a.table_mb * MiB, a.keep, not a.no_aslr)
                text, good, pagetables_ok = report(rec)
                rec["attempt"] = attempt
                records.append(rec)
                print(f"\n[huge_pages={mode}, run {attempt}]\n{text}", flush=True)
                if good and pagetables_ok:
                    break
                if not good:
                    ok = False
                    break
            else:
                print(f"  PageTables stayed off by more than 1% in {a.tries} runs: other work on this machine",
                      flush=True)
                ok = False
    last = {r["huge_pages"]: r for r in records}
    if "off" in last and "on" in last:
        text, close = whatif_report(last["off"], last["on"])
        print(f"\n{text}")
        ok = ok and close
    out = a.output or HERE / "results" / f"postgres_whole-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"kernel": platform.release(), "runs": records}, indent=1))
    print(f"\nrecord: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
