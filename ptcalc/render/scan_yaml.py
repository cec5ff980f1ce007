"""The workload file ``ptcalc scan`` writes: the workload plus comments that
say where each part came from and what the scan could not see."""

from __future__ import annotations

from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
from ptcalc.linux.scan import ScanResult
from ptcalc.units import format_kib, format_size
from ptcalc.workload.schema import modeline
from ptcalc.workload.writer import dump_workload

MAX_PIDS_LISTED = 20


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('s') else 's'}"


def skipped_summary(r: ScanResult) -> str | None:
    """``2 processes skipped (1 vanished, 1 permission denied)``, or None."""
    if not r.skipped_total:
        return None
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(r.skipped.items()))
    return f"{_plural(r.skipped_total, 'process')} skipped ({why})"


def header_lines(r: ScanResult) -> list[str]:
    w = r.workload
    levels = len(w.arch.levels)
    lines = [
        f"Workload scanned by `ptcalc scan` on {r.hostname} at {r.when.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"(Linux {r.kernel}, {w.arch.name}: {levels}-level paging, PTI {'on' if w.host.pti else 'off'}).",
        f"Processes: {r.processes_read} read; {w.process_count} map shared segments -> "
        f"{_plural(len(w.groups), 'group')} of identical layout.",
    ]
    if r.other_processes:
        lines.append(f"{_plural(r.other_processes, 'other process')} map no shared segment and are not in this "
                     f"workload ({format_size(r.other_private_bytes)} of private memory: add it to "
                     "host.reserved to count it).")
    if r.skipped_total:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(r.skipped.items()))
        lines.append(f"Skipped (unreadable): {_plural(r.skipped_total, 'process')} ({why}).")
    else:
        lines.append("Skipped (unreadable): none.")
    if r.ignored_mappings:
        what = ", ".join(f"{n} {kind}" for kind, n in sorted(r.ignored_mappings.items()))
        lines.append(f"Not modelled: shared mappings of devices and special files ({what}).")
    if r.small_segments:
        listed = sorted(r.small_segments)
        shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
        n = sum(r.small_segments.values())
        lines.append(f"Left out: {_plural(len(listed), 'segment')} mapped smaller than "
                     f"{format_size(r.min_size)} everywhere ({_plural(n, 'mapping')}): {shown}.")
    if r.touched_mode == "tables":
        lines.append("touch: ranges are compressed without changing any page-table count (gaps inside "
                     "2 MiB blocks already touched are filled), so touched shmem bytes may be "
                     "overstated; `ptcalc scan --touched pages` writes the exact pages.")
    else:
        lines.append("touch: the exact pages present (pagemap), as page runs.")
    lines.append("private_memory: per process, Private_Clean + Private_Dirty of its private "
                 "mappings (smaps), averaged over the group: approximate.")
    if any(not g.private_mappings and not g.default_layout for g in w.groups):
        lines.append("private_mappings: [] leaves out the processes' own mappings (program, libraries, heap, "
                     "stack): the page tables counted are the shared segments' alone, while VmPTE below is "
                     "the whole process's.")
    for note in r.notes:
        lines.append(f"Note: {note}")
    return lines


def render_scan(r: ScanResult, schema: str | None = None) -> str:
    """The YAML text for a scan; ``schema``, when given, is the schema a
    ``# yaml-language-server: $schema=`` modeline on the first line names."""
    w = r.workload
    resident = evaluate(w, Options(schemes=(), columns=CONFIGURED)).resident if w.groups else {}
    seg_comments: dict[str, list[str]] = {}
    for name, note in zip(w.segments, (r.segment_notes[n] for n in w.segments)):
        lines = [note.source]
        covered = resident.get(name, 0)
        if covered != note.present_bytes:
            lines.append(f"pages present in the scanned processes: {format_size(note.present_bytes)} "
                         f"(the touch ranges cover {format_size(covered)})")
        else:
            lines.append(f"pages present in the scanned processes: {format_size(note.present_bytes)}")
        seg_comments[name] = lines
    group_comments: list[list[str]] = []
    for gn in r.group_notes:
        pids = ", ".join(str(p) for p in gn.pids[:MAX_PIDS_LISTED])
        if len(gn.pids) > MAX_PIDS_LISTED:
            pids += f", ... ({len(gn.pids)} in all)"
        lines = [f"pid {pids}"]
        if gn.vmpte:
            lo, hi = min(gn.vmpte), max(gn.vmpte)
            span = format_kib(lo) if lo == hi else f"{format_kib(lo)} to {format_kib(hi)}"
            lines.append(f"VmPTE (kernel, whole process, at scan time): {span}")
        group_comments.append(lines)
    return dump_workload(w, header=header_lines(r), segment_comments=seg_comments, group_comments=group_comments,
                         first_line=modeline(schema) if schema else None)
