#!/usr/bin/env python3
"""Tables for docs/whole-process.md from records written by benchmarks/postgres_cluster.py.

    python benchmarks/whole_process_report.py benchmarks/results/postgres-off-*.json.gz ...

Prints Markdown: the processes and their VmPTE against the pagemap count, a
backend's tables by level and kind of mapping, a backend's private layout
(sizes, resident and touched pages per kind), and the machine-wide PageTables
delta reconciled with the sum of VmPTE (+ one PGD page per process, + the
client's growth, - the hugetlb PMD tables shared between processes, which each
sharer's VmPTE counts but the machine holds once).
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from postgres_cluster import role  # noqa: E402
from proc_tables import KINDS, PAGE  # noqa: E402

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PRIVATE = {"text", "libs", "bss", "heap", "anon", "stack", "vdso"}


def load(path: str) -> dict[str, Any]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def group(label: str) -> str:
    """private / segment / mixed / other shared, for a kind label such as ``libs+segment``."""
    kinds = set(label.replace(" (deposited)", "").split("+"))
    if kinds <= PRIVATE:
        return "private"
    if kinds == {"segment"}:
        return "segment"
    if kinds == {"shared"}:
        return "other shared"
    return "mixed"


def roles_table(rec: dict[str, Any]) -> list[str]:
    by: dict[str, list[dict]] = defaultdict(list)
    for s in rec["samples"]:
        by[role(s["title"])].append(s)
    out = ["| process | n | VmPTE (KiB) | pagemap count = VmPTE | PTE / PMD / PUD tables | VmRSS (MiB) |",
           "|---|---:|---:|---:|---|---:|"]
    for r, ss in by.items():
        v = sorted(s["vmpte_kernel"] // KiB for s in ss)
        exact = sum(s["vmpte_kernel"] == sum(s["counted"].values()) * PAGE for s in ss)
        lv = Counter((s["counted"]["pte"], s["counted"]["pmd"], s["counted"]["pud"]) for s in ss)
        lvs = ", ".join(f"{a}/{b}/{c}" + (f" (x{n})" if n > 1 else "") for (a, b, c), n in lv.most_common(3))
        rss = statistics.median(s["status"]["VmRSS"] for s in ss) / MiB
        vr = f"{v[0]:,}" if v[0] == v[-1] else f"{v[0]:,} - {v[-1]:,} (median {statistics.median(v):,.0f})"
        out.append(f"| {r} | {len(ss)} | {vr} | {exact} of {len(ss)} | {lvs} | {rss:,.1f} |")
    return out


def backends(rec: dict[str, Any]) -> list[dict]:
    return [s for s in rec["samples"] if role(s["title"]) == "backend"]


def median_backend(rec: dict[str, Any]) -> dict:
    bs = sorted(backends(rec), key=lambda s: s["vmpte_kernel"])
    return bs[len(bs) // 2]


def kinds_table(s: dict) -> list[str]:
    """One process's tables by level and kind label, grouped."""
    out = ["| level | kinds under the table | tables | group |", "|---|---|---:|---|"]
    for lvl in ("pte", "pmd", "pud"):
        for label, n in sorted(s["by_kind"][lvl].items(), key=lambda kv: (group(kv[0]), -kv[1])):
            out.append(f"| {lvl.upper()} | {label} | {n} | {group(label)} |")
    return out


def groups_table(rec: dict[str, Any]) -> list[str]:
    """Per backend (mean over backends) and per group: tables by level."""
    bs = backends(rec)
    tot: dict[tuple[str, str], int] = Counter()
    for s in bs:
        for lvl in ("pte", "pmd", "pud"):
            for label, n in s["by_kind"][lvl].items():
                tot[(group(label), lvl)] += n
    out = ["| group | PTE | PMD | PUD | KiB per backend |", "|---|---:|---:|---:|---:|"]
    for g in ("private", "segment", "mixed", "other shared"):
        row = [tot[(g, lvl)] / len(bs) for lvl in ("pte", "pmd", "pud")]
        if any(row):
            out.append(f"| {g} | " + " | ".join(f"{x:.2f}" for x in row) + f" | {sum(row) * 4:.1f} |")
    allrow = [sum(tot[(g, lvl)] for g in ("private", "segment", "mixed", "other shared")) / len(bs)
              for lvl in ("pte", "pmd", "pud")]
    out.append("| all | " + " | ".join(f"{x:.2f}" for x in allrow) + f" | {sum(allrow) * 4:.1f} |")
    return out


def layout_table(s: dict) -> list[str]:
    """A process's mappings per kind: count, size, resident, touched pages, 2 MiB blocks touched."""
    per: dict[str, dict[str, Any]] = {k: {"n": 0, "size": 0, "rss": 0, "occ": 0, "blocks": set(), "lo": None,
                                          "hi": None} for k in KINDS}
    for v in s["vmas"]:
        if v["path"] == "[vsyscall]":
            continue
        d = per[v["kind"]]
        d["n"] += 1
        d["size"] += v["end"] - v["start"]
        d["rss"] += v["rss"]
        d["occ"] += v["occupied"] * PAGE
        for a, b in v["runs"]:
            d["blocks"].update(range(a >> 21, ((b - 1) >> 21) + 1))
        d["lo"] = v["start"] if d["lo"] is None else min(d["lo"], v["start"])
        d["hi"] = v["end"] if d["hi"] is None else max(d["hi"], v["end"])
    out = ["| kind | mappings | size | resident (smaps Rss) | touched (pagemap) | 2 MiB blocks touched | "
           "from - to |", "|---|---:|---:|---:|---:|---:|---|"]
    for k in KINDS:
        d = per[k]
        if d["n"]:
            out.append(f"| {k} | {d['n']} | {d['size'] / KiB:,.0f} KiB | {d['rss'] / KiB:,.0f} KiB | "
                       f"{d['occ'] / KiB:,.0f} KiB | {len(d['blocks'])} | {d['lo']:#x} - {d['hi']:#x} |")
    return out


def shared_pmd_savings(rec: dict[str, Any]) -> tuple[int, int]:
    """(windows, tables saved): hugetlb PMD tables shared (huge_pmd_share) for whole 1 GiB windows of the
    segment, counted in each sharer's VmPTE but held once."""
    if rec["huge_pages"] != "on":
        return 0, 0
    sharers: Counter[int] = Counter()
    windows: set[int] = set()
    for s in rec["samples"]:
        for v in s["vmas"]:
            if v["kind"] != "segment" or v["page_size"] != 2 * MiB:
                continue
            first, last = -(-v["start"] // GiB), v["end"] // GiB
            windows.update(range(first, last))
            hit = set()
            for a, b in v["runs"]:
                hit.update(w for w in range(a // GiB, (b - 1) // GiB + 1) if first <= w < last)
            sharers.update(hit)
    return len(windows), sum(n - 1 for n in sharers.values() if n > 1)


def system_table(rec: dict[str, Any]) -> list[str]:
    n = len(rec["samples"])
    vm = sum(s["vmpte_kernel"] for s in rec["samples"])
    before, idle, stopped = (rec[k]["PageTables"] for k in ("meminfo_before", "meminfo_idle", "meminfo_stopped"))
    client = rec["client_vmpte"] - rec["client_vmpte_before"]
    windows, saved = shared_pmd_savings(rec)
    expect = vm + n * PAGE + client - saved * PAGE
    return [
        "| | KiB |", "|---|---:|",
        f"| sum of VmPTE over the {n} processes | {vm // KiB:,} |",
        f"| + one PGD page each ({n} x 4 KiB; NR_PAGETABLE counts PGDs on 6.18) | {n * 4:,} |",
        f"| + the client's (this script's) VmPTE growth | {client // KiB:,} |",
        f"| - hugetlb PMD tables shared between processes ({windows} whole 1 GiB windows, {saved} "
        f"attachments beyond the first) | {saved * 4:,} |",
        f"| = expected PageTables growth | {expect // KiB:,} |",
        f"| measured: PageTables before {before // KiB:,}, idle {idle // KiB:,} (delta) | {(idle - before) // KiB:,} |",
        f"| measured - expected (other work on the machine) | {(idle - before - expect) // KiB:+,} |",
        f"| PageTables after the server stopped | {stopped // KiB:,} |",
    ]


def report(rec: dict[str, Any], name: str) -> str:
    s = median_backend(rec)
    vm = sum(x["vmpte_kernel"] for x in rec["samples"])
    lines = [f"### {name}: huge_pages={rec['huge_pages']}",
             f"{rec['postgres']}, kernel {rec['kernel']}, {len(rec['samples'])} processes, shared memory "
             f"{rec['shared_memory_size_mb']} MB ({rec['shared_memory_size_in_huge_pages']} huge pages), table "
             f"{rec['table']['bytes'] / MiB:.0f} MiB ({rec['table']['pages']} pages), query `{rec.get('query')}`"
             + ("".join(f", `{x}`" for x in rec.get("settings", ()))) + f"; sum of VmPTE {vm / MiB:.1f} MiB.",
             "", *roles_table(rec), "",
             "Tables per backend (mean over the backends) by group of mapping kinds:", "", *groups_table(rec), "",
             f"The median backend (pid {s['pid']}, VmPTE {s['vmpte_kernel'] // KiB} KiB), table by table:", "",
             *kinds_table(s), "", "Its mappings:", "", *layout_table(s), "",
             "Machine-wide:", "", *system_table(rec), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(report(load(p), Path(p).name))
