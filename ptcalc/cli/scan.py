"""``ptcalc scan``: write a workload file describing the processes running here."""

from __future__ import annotations

import os
import sys

import click

from ptcalc.cli._common import EXIT_FAIL, guarded, writing
from ptcalc.names import printable
from ptcalc.cli.params import JOBS, SCHEMA_REF, SIZE

# ptcalc.linux.scan.TOUCHED_MODES; spelled here so that other commands do not import
# the scanner (and numpy) just to build the command line.
TOUCHED_MODES = ("tables", "pages")


@click.command("scan")
@click.option("-p", "--pid", "pids", type=click.IntRange(min=1), multiple=True, metavar="PID",
              help="Scan this process (repeatable). Default: every process.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the workload here instead of standard output.")
@click.option("--touched", type=click.Choice(TOUCHED_MODES), default="tables", show_default=True,
              help="tables: compress touched ranges without changing any page-table count; "
                   "pages: the exact pages present.")
@click.option("--min-size", type=SIZE, default="1MiB", show_default=True,
              help="A shared mapping no process maps this much of is each process's own, not a segment "
                   "(0 keeps all as segments).")
@click.option("--read-all", is_flag=True,
              help="Read every process in full, page by page: also one identical to a process read before, "
                   "and a partly present segment (not by 2 MiB blocks).")
@click.option("-j", "--jobs", type=JOBS, default="auto", show_default=True,
              help="Read processes in N worker processes at once (each at nice +10); 1 reads them in this "
                   "process. auto: one per 4 CPUs this scan may run on, at most 8, and at most one per 16 "
                   "processes to read -- so 1 on a host of fewer than 8 CPUs. The file is the same for any N.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar on standard error.")
@click.option("--schema", "schema", type=SCHEMA_REF, default="installed", show_default=True,
              help="The JSON Schema the file's first line (a yaml-language-server modeline) names, for "
                   "editors: 'installed' (this installation's schema file, by absolute path), a URL, a path "
                   "(relative to the file), or 'none' for no modeline.")
@guarded
def command(pids: tuple[int, ...], output: str | None, touched: str, min_size: int, read_all: bool,
            jobs: int | None, quiet: bool, schema: str | None) -> None:
    """Build a workload file of whole processes from the running system.

    Reads every process (or --pid ...): its SysV segments, memfd/shmem,
    hugetlb and MAP_SHARED file mappings, its own mappings (program,
    libraries, heap, stack), which of their pages are present
    (/proc/PID/pagemap), and the host's memory, hugetlb pools and kernel;
    groups processes with an identical layout; and checks that the file's
    model gives every process the VmPTE the kernel reports. The file feeds
    `ptcalc estimate` and `ptcalc measure`. Processes that cannot be read are
    skipped and counted.
    """
    from ptcalc.render.progress import ScanProgress
    from ptcalc.render.scan_yaml import pagetables_summary, render_scan, skipped_summary, vmpte_summary
    from ptcalc.linux.scan import scan

    with ScanProgress() as progress:
        result = scan(pids or None, touched=touched, min_size=min_size, reuse=not read_all,
                      progress=None if quiet else progress, jobs=jobs)
    skipped = skipped_summary(result)
    if skipped:
        hint = "" if os.geteuid() == 0 else " (run as root to read every process)"
        click.echo(f"ptcalc scan: {skipped}{hint}", err=True)
    if not result.workload.groups:
        click.echo("ptcalc scan: no process could be read; no workload written", err=True)
        sys.exit(EXIT_FAIL)
    if result.vmpte_differences():
        click.echo(f"ptcalc scan: {vmpte_summary(result)}", err=True)
    text = render_scan(result, schema=schema)
    if output is None:
        with writing("standard output"):
            click.echo(text, nl=False)
        return
    with writing(f"-o {printable(output)}"), open(output, "w", encoding="utf-8") as f:
        f.write(text)
    w = result.workload
    click.echo(f"ptcalc scan: wrote {output}: {_n(len(w.segments), 'segment')}, "
               f"{_n(w.process_count, 'process', 'processes')} in {_n(len(w.groups), 'group')}", err=True)
    host = pagetables_summary(result, short=True)
    if host:
        click.echo(f"ptcalc scan: {host}", err=True)


def _n(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"
