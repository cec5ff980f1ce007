"""Run ``ptcalc measure`` on one of measure_cases.CASES, as the CLI does.

    python tests/measure_runner.py CASE [measure options...]

The case's workload stands in for the YAML file (the CLI's ``read_workload``
is replaced), so the test exercises the command itself: exit statuses,
signal handling, output formats.

With PTCALC_TEST_PAUSE_AT=PHASE (a phase ``measure.run`` reports: pools,
thp, forking, reading, mapping, unmapping) the run stops the first time it
reaches that phase, prints ``paused at PHASE`` on stderr and sleeps, so that
a test can signal it there.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from measure_cases import CASES  # noqa: E402

import ptcalc.cli.measure as command  # noqa: E402
from ptcalc.cli import main  # noqa: E402
from ptcalc.linux import measure  # noqa: E402


def _pause_at(target: str) -> None:
    real = measure.run
    paused: list[str] = []

    def phase(name: str) -> None:
        if name == target and not paused:
            paused.append(name)
            print(f"paused at {name}", file=sys.stderr, flush=True)
            time.sleep(120)  # the test signals us here

    measure.run = lambda *a, **k: real(*a, phase=phase, **k)  # type: ignore[assignment]


if __name__ == "__main__":
    case = CASES[sys.argv[1]]
    command.read_workload = lambda path, *what: case.workload  # type: ignore[attr-defined]
    if os.environ.get("PTCALC_TEST_PAUSE_AT"):
        _pause_at(os.environ["PTCALC_TEST_PAUSE_AT"])
    main(["measure", f"<{sys.argv[1]}>", *sys.argv[2:]], prog_name="ptcalc")
