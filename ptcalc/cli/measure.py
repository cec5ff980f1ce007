"""``ptcalc measure``: reproduce a workload on the running kernel, model next to kernel."""

from __future__ import annotations

import sys
import tempfile

import click

from ptcalc.cli._common import EXIT_FAIL, Output, emit, guarded, output_options, read_workload
from ptcalc.render.registry import Format

EXIT_INCONCLUSIVE = 3
"""The kernel's figures could not be trusted (other activity): neither equal nor different."""
EXIT_STATUS = {"agree": 0, "disagree": EXIT_FAIL, "inconclusive": EXIT_INCONCLUSIVE}


@click.command("measure")
@click.argument("workload", metavar="WORKLOAD.yaml", required=False)
@click.option("--scale", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Divide process counts and whole 1 GiB windows of every mapping by N, keeping addresses "
                   "and alignment (docs/measure.md), to check a big workload on a small machine.")
@click.option("--file-dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, writable=True),
              default=None, help="Directory for the real files that back 'file' segments "
                                 "(default: the system temporary directory).")
@click.option("--file-as-shmem", is_flag=True,
              help="Map 'file' segments as shmem (a memfd) instead of real files: the same 4 KiB page tables.")
@click.option("--settle", type=click.FloatRange(min=0.05, max=30), default=0.5, show_default=True,
              metavar="SECONDS", help="Time between PageTables readings, each after an RCU grace period; a reading "
                                      "is taken once its smallest value has been seen three times.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
@click.option("--repair", is_flag=True,
              help="Only put back what a measure killed with SIGKILL left: hugetlb pools, THP settings, "
                   "measuring processes (from its state file in /run/ptcalc). Every measure does this first.")
@output_options("measure")
@guarded
def command(workload: str | None, scale: int, file_dir: str | None, file_as_shmem: bool, settle: float, quiet: bool,
            repair: bool, fmt: Format, out: Output) -> None:
    """Run WORKLOAD on this machine's kernel and show the model's figures next to the kernel's.

    Forks the workload's processes, maps memfd segments at the workload's
    addresses, faults in the touched ranges, and compares the PageTables
    growth (/proc/meminfo) and every process's VmPTE with the model
    (hugetlb-pmd scheme: mainline Linux).  Needs root: for hugetlb pools and
    THP settings, which are restored on every exit path, and to read
    PageTables exactly.  See docs/measure.md.

    Exit status: 0 model = kernel, 1 they differ, 2 invalid input or it
    cannot measure here, 3 inconclusive (the machine was too busy for
    figures to be trusted; run again), 130/143 interrupted by SIGINT/SIGTERM.

    ptcalc measure --repair (no WORKLOAD.yaml): only put back what a measure
    killed with SIGKILL left.
    """
    from ptcalc.linux import measure
    from ptcalc.linux.errors import Inconclusive
    from ptcalc.linux.signals import Interrupted

    if repair:
        if workload is not None:
            raise click.UsageError("--repair takes no WORKLOAD.yaml")
        _repair()
        return
    if workload is None:
        raise click.UsageError("Missing argument 'WORKLOAD.yaml'.")
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
    except Inconclusive as e:
        click.echo(f"ptcalc measure: inconclusive: {e}", err=True)
        sys.exit(EXIT_INCONCLUSIVE)
    emit(fmt, result, out)
    sys.exit(EXIT_STATUS[result.verdict])


def _repair() -> None:
    """``--repair``: put back what killed runs left, say what, exit 0."""
    from ptcalc.linux.errors import KernelError
    from ptcalc.linux.host import is_root
    from ptcalc.linux.runstate import repair, state_dir
    from ptcalc.render.measure_facts import repaired_lines

    if not is_root():
        raise KernelError("ptcalc measure --repair needs root: it writes hugetlb pools and THP settings")
    lines = repaired_lines(repair())
    for line in lines or [f"nothing to repair: no state file of a killed measure in {state_dir()}"]:
        click.echo(f"ptcalc measure: {line}")
