"""``ptcalc measure``: reproduce a workload on the running kernel, model next to kernel."""

from __future__ import annotations

import sys
import tempfile

import click

from ptcalc.cli._common import EXIT_FAIL, EXIT_INPUT, Output, emit, guarded, output_options, read_workload
from ptcalc.render.registry import Format

EXIT_STATUS = {"agree": 0, "disagree": EXIT_FAIL, "inconclusive": EXIT_INPUT}


@click.command("measure")
@click.argument("workload", metavar="WORKLOAD.yaml")
@click.option("--scale", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Divide process counts and whole 1 GiB windows of every mapping by N, keeping addresses "
                   "and alignment (docs/measure.md), to check a big workload on a small machine.")
@click.option("--file-dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, writable=True),
              default=None, help="Directory for the real files that back 'file' segments "
                                 "(default: the system temporary directory).")
@click.option("--file-as-shmem", is_flag=True,
              help="Map 'file' segments as shmem (a memfd) instead of real files: the same 4 KiB page tables.")
@click.option("--settle", type=click.FloatRange(min=0.05, max=30), default=1.0, show_default=True,
              metavar="SECONDS", help="Time between PageTables readings; two equal readings in a row are needed "
                                      "(page-table frees are RCU-deferred).")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
@output_options("measure")
@guarded
def command(workload: str, scale: int, file_dir: str | None, file_as_shmem: bool, settle: float, quiet: bool,
            fmt: Format, out: Output) -> None:
    """Run WORKLOAD on this machine's kernel and show the model's figures next to the kernel's.

    Forks the workload's processes, maps memfd segments at the workload's
    addresses, faults in the touched ranges, and compares the PageTables
    growth (/proc/meminfo) and every process's VmPTE with the model
    (hugetlb-pmd scheme: mainline Linux).  Needs root: for hugetlb pools and
    THP settings, which are restored on every exit path, and to read
    PageTables exactly.  See docs/measure.md.

    Exit status: 0 model = kernel, 1 they differ, 2 invalid input or nothing
    comparable could be measured, 130/143 interrupted by SIGINT/SIGTERM.
    """
    from ptcalc.linux import measure
    from ptcalc.linux.signals import Interrupted

    w = read_workload(workload, "ptcalc measure")
    directory = None if file_as_shmem else (file_dir or tempfile.gettempdir())

    def say(message: str) -> None:
        if not quiet:
            click.echo(f"ptcalc measure: {message}", err=True)

    try:
        result = measure.run(w, scale=scale, file_dir=directory, settle=settle, progress=say,
                             warn=lambda message: click.echo(f"ptcalc measure: {message}", err=True))
    except Interrupted as e:
        click.echo(f"ptcalc measure: interrupted by {e}; processes reaped, hugetlb pools and THP settings "
                   "restored", err=True)
        sys.exit(e.exit_status)
    emit(fmt, result, out)
    sys.exit(EXIT_STATUS[result.verdict])
