"""Command-line entry point: wires sub-commands, computes nothing itself.

Each sub-command lives in ``ptcalc/cli/<name>.py`` and is added here.
"""

from __future__ import annotations

import click

from ptcalc import __version__
from ptcalc.model import xp

# The command line owns its process: numpy, if a large run needs it, gets
# one BLAS thread and a malloc that keeps freed memory (see ptcalc.model.xp).
xp.tune_process()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="ptcalc")
def main() -> None:
    """How much memory Linux page tables take for a shared-memory workload.

    Reads a workload (YAML), computes page-table memory under each sharing
    scheme (private, hugetlb-pmd, mshare, file-cached) and page size, and
    says whether the host runs out of memory.
    """


from ptcalc.cli import check, estimate, explain, measure, scan, sweep  # noqa: E402  (they import this package)

main.add_command(estimate.command)
main.add_command(check.command)
main.add_command(sweep.command)
main.add_command(explain.command)
main.add_command(measure.command)
main.add_command(scan.command)
from ptcalc.cli import schema  # noqa: E402
main.add_command(schema.command)
