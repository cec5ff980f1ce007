"""Run ``ptcalc measure`` on one of measure_cases.CASES, as the CLI does.

    python tests/measure_runner.py CASE [measure options...]

The case's workload stands in for the YAML file (the CLI's ``read_workload``
is replaced), so the test exercises the command itself: exit statuses,
signal handling, output formats.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from measure_cases import CASES  # noqa: E402

import ptcalc.cli.measure as command  # noqa: E402
from ptcalc.cli import main  # noqa: E402

if __name__ == "__main__":
    case = CASES[sys.argv[1]]
    command.read_workload = lambda path, *what: case.workload  # type: ignore[attr-defined]
    main(["measure", f"<{sys.argv[1]}>", *sys.argv[2:]], prog_name="ptcalc")
