"""The workload file ``ptcalc scan`` writes: the workload plus comments that
say where each part came from and what the scan could not see."""

from __future__ import annotations

from ptcalc.model.evaluate import CONFIGURED, Options, evaluate
from ptcalc.linux.scan import GroupNote, ScanResult
from ptcalc.units import format_kib, format_size
from ptcalc.workload.schema import modeline
from ptcalc.workload.writer import dump_workload

MAX_PIDS_LISTED = 20


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('s') else 's'}"


def _signed_kib(n: int) -> str:
    return ("+" if n > 0 else "-") + format_kib(abs(n))


def skipped_summary(r: ScanResult) -> str | None:
    """``2 processes skipped (1 vanished, 1 permission denied)``, or None."""
    if not r.skipped_total:
        return None
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(r.skipped.items()))
    return f"{_plural(r.skipped_total, 'process')} skipped ({why})"


def vmpte_summary(r: ScanResult) -> str:
    """Whether the model reproduces every scanned process's VmPTE, in one sentence."""
    total = sum(len(g.pids) for g in r.group_notes)
    diff = r.vmpte_differences()
    if not diff:
        return (f"VmPTE: the model of this file gives every one of the {_plural(total, 'process')} the VmPTE "
                "the kernel reported at scan time, exactly.")
    more = [d for d in diff if d[1] > d[2]]
    less = [d for d in diff if d[1] < d[2]]
    parts = []
    if more:
        extra = format_kib(sum(k - m for _, k, m in more))
        verb = "holds" if len(more) == 1 else "hold"
        parts.append(f"{_plural(len(more), 'process')} {verb} {extra} of tables more than their pages present "
                     "explain (tables with no entry the pagemap can show: emptied by a partial munmap or "
                     "MADV_DONTNEED, or under [vvar]); the model counts fewer there")
    if less:
        verb = "shows" if len(less) == 1 else "show"
        parts.append(f"{_plural(len(less), 'process')} {verb} less VmPTE than the model of its pages present "
                     "(it changed while read, or THP counted at 4 KiB)")
    return (f"VmPTE: the model reproduces {total - len(diff)} of {_plural(total, 'process')} exactly; "
            + "; ".join(parts) + " (see the groups' comments).")


def pagetables_summary(r: ScanResult, short: bool = False) -> str | None:
    """The machine's PageTables beside this file's model, for a scan of every
    process (None for a scan of some); ``short``: one line for standard error."""
    t = r.pagetables
    if t is None:
        return None
    low, high = min(t.before, t.after), max(t.before, t.after)
    kernel = format_size(low) if low == high else f"{format_size(low)} to {format_size(high)}"
    scanner = t.scanner or 0
    # the kernel's figure without the scanner's own tables, the nearer end of the range
    target = min((low - scanner, high - scanner), key=lambda k: abs(k - t.model))
    share = f", {t.model * 100 / target:.1f}% of the kernel's without this scan's own" if target > 0 else ""
    if short:
        return (f"page tables: this file's model {format_size(t.model)}, the kernel's PageTables {kernel}"
                f"{share.replace(', ', ' (', 1) + ')' if share else ''}")
    rest = [f"this scan's own process ({format_kib(scanner)})"] if t.scanner is not None else []
    if r.skipped_total:
        rest.append(f"the {_plural(r.skipped_total, 'process')} not read")
    rest += ["processes that started or ended while it ran", "the kernel's own page tables"]
    return (f"PageTables (kernel, /proc/meminfo) during the scan: {kernel}; this file's model as this kernel counts "
            f"PageTables: {format_size(t.model)}{share}. The kernel's also holds " + ", ".join(rest[:-1])
            + f" and {rest[-1]}.")


def _decided_room(r: ScanResult) -> str:
    """What the blocks VmPTE decided may hide: per process, as many untouched
    blocks as its VmPTE leaves room for empty tables elsewhere."""
    table = min(lv.table_bytes for lv in r.workload.arch.levels)
    inexact = {room: n for room, n in r.decided_room.items() if room}
    if not inexact:
        return "Exact: in none of them could an empty table elsewhere stand for an untouched block."
    blocks = sum(room // table * n for room, n in inexact.items())
    n = sum(inexact.values())
    return (f"In {_plural(n, 'process')} of them VmPTE leaves room for empty tables elsewhere (a table "
            f"wherever their mappings cover a block with no page): up to {_plural(blocks, 'block')} in all "
            "written touched may hold no page; `ptcalc scan --read-all` reads every block.")


def header_lines(r: ScanResult) -> list[str]:
    w = r.workload
    levels = len(w.arch.levels)
    lines = [
        f"Workload scanned by `ptcalc scan` on {r.hostname} at {r.when.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"(Linux {r.kernel}, {w.arch.name}: {levels}-level paging, PTI {'on' if w.host.pti else 'off'}).",
        f"Processes: {r.processes_read} read -> {_plural(len(w.groups), 'group')} of identical layout "
        "(shared segments and private mappings alike).",
    ]
    if r.skipped_total:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(r.skipped.items()))
        lines.append(f"Skipped (unreadable): {_plural(r.skipped_total, 'process')} ({why}).")
    else:
        lines.append("Skipped (unreadable): none.")
    if w.groups:
        lines.append(vmpte_summary(r))
        host = pagetables_summary(r)
        if host:
            lines.append(host)
    if r.ignored_mappings:
        what = ", ".join(f"{n} {kind}" for kind, n in sorted(r.ignored_mappings.items()))
        lines.append(f"Not modelled: shared mappings of devices and special files ({what}).")
    if r.unseen_mappings:
        what = ", ".join(f"{n} {path}" for path, n in sorted(r.unseen_mappings.items()))
        lines.append(f"Not seen: private mappings whose entries the pagemap does not show (VM_IO/VM_PFNMAP: "
                     f"{what}); a table under them alone is not counted.")
    if r.small_segments:
        listed = sorted(r.small_segments)
        shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
        n = sum(r.small_segments.values())
        lines.append(f"Not segments: {_plural(len(listed), 'shared mapping')} smaller than "
                     f"{format_size(r.min_size)} in every process ({_plural(n, 'mapping')}: {shown}); each is "
                     "written as the process's own file mapping (its tables are the process's own).")
    if r.touched_mode == "tables":
        lines.append("touch: ranges are compressed without changing any page-table count (gaps inside "
                     "2 MiB blocks already touched are filled), so touched shmem bytes may be "
                     "overstated; `ptcalc scan --touched pages` writes the exact pages.")
        if r.decided:
            lines.append(f"Blocks decided by VmPTE: {_plural(r.decided, 'process')}, whose VmPTE was the most "
                         "the model gives with every 2 MiB block of their partly present shared mappings holding "
                         "a page, had those blocks read as touched, a sample of them checked (docs/scan.md, "
                         f"Speed). {_decided_room(r)}")
        lines.append("private_mappings: each process's own mappings with pages present, as the parts of them "
                     "in 2 MiB blocks holding a touched page (what their page tables cover), by kind and name; "
                     "PMD-mapped THP as 2 MiB pieces.")
    else:
        lines.append("touch: the exact pages present (pagemap), as page runs; private_mappings: the runs of "
                     "pages present in each process's own mappings, by kind and name.")
    lines.append("private_memory: per process, RssAnon (resident anonymous memory), averaged over the group.")
    for note in r.notes:
        lines.append(f"Note: {note}")
    return lines


def group_lines(gn: GroupNote) -> list[str]:
    """The comment above a group: its PIDs, the kernel's VmPTE and the model's."""
    pids = ", ".join(str(p) for p in gn.pids[:MAX_PIDS_LISTED])
    if len(gn.pids) > MAX_PIDS_LISTED:
        pids += f", ... ({len(gn.pids)} in all)"
    lines = [f"pid {pids}"]
    shown = [v for v in gn.vmpte if v is not None]
    if shown:
        lo, hi = min(shown), max(shown)
        span = format_kib(lo) if lo == hi else f"{format_kib(lo)} to {format_kib(hi)}"
        lines.append(f"VmPTE (kernel, whole process, at scan time): {span}")
    if gn.model_vmpte is not None:
        diff = gn.differing()
        if not diff:
            lines.append(f"VmPTE of this group's model: {format_kib(gn.model_vmpte)}, the kernel's exactly")
        else:
            listed = ", ".join(f"pid {p} {format_kib(v)} ({_signed_kib(v - gn.model_vmpte)})"
                               for p, v in diff[:MAX_PIDS_LISTED])
            lines.append(f"VmPTE of this group's model: {format_kib(gn.model_vmpte)}; the kernel's differs for "
                         f"{_plural(len(diff), 'process')}: {listed}")
    if gn.unsettled:
        lines.append("VmPTE moved while these were read (three times): "
                     + ", ".join(str(p) for p in gn.unsettled[:MAX_PIDS_LISTED]))
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
        if note.present_bytes is None:
            lines.append(f"pages present in the scanned processes: read by 2 MiB blocks, not counted "
                         f"(the touch ranges cover {format_size(covered)})")
        elif covered != note.present_bytes:
            lines.append(f"pages present in the scanned processes: {format_size(note.present_bytes)} "
                         f"(the touch ranges cover {format_size(covered)})")
        else:
            lines.append(f"pages present in the scanned processes: {format_size(note.present_bytes)}")
        seg_comments[name] = lines
    group_comments: list[list[str]] = []
    for gn in r.group_notes:
        group_comments.append(group_lines(gn))
    return dump_workload(w, header=header_lines(r), segment_comments=seg_comments, group_comments=group_comments,
                         first_line=modeline(schema) if schema else None)
