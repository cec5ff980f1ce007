"""``ptcalc check``: pass/fail conditions on a workload, for CI gates.

Pure computation: :func:`check_workload` evaluates the conditions on one
evaluation (``ptcalc.model.evaluate``) and returns :class:`CheckResult` values; rendering (text lines, JSON,
JUnit XML) lives in ``ptcalc.render.check_*`` and the exit status in
:func:`exit_status`.

Conditions, for each chosen scheme on the chosen page-size column:

* ``verdict``: the budget verdict (``ptcalc.model.budget``) is no worse than
  ``require`` in the order ok < tight < oom < wont-start;
* ``max-page-tables`` (when given): page-table bytes <= the limit, a size or
  a percentage of ``host.memory``; the bytes of one accounting view
  (``Thresholds.view``, ``Cell.figure``): physical (default), what the
  kernel's PageTables counts on ``host.kernel``, or VmPTE summed;
* ``min-headroom`` (when given): available - demand >= the limit, a size or a
  percentage of available memory (``host.memory - host.reserved``, the base
  the ``tight`` verdict uses).

Percentages are compared exactly (``bytes * 100 <= memory * percent``), never
rounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ptcalc.errors import PtcalcError
from ptcalc.model.budget import VERDICTS
from ptcalc.model.evaluate import Evaluation
from ptcalc.model.whatif import Column

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INVALID = 2

REQUIRE_CHOICES: tuple[str, ...] = ("ok", "tight")
DEFAULT_SCHEMES: tuple[str, ...] = ("hugetlb-pmd",)
"""What the running kernel does (mainline Linux): the default scheme to gate on."""


@dataclass(frozen=True)
class Limit:
    """A threshold written as a size or as a percentage of some base."""

    kind: str  # "bytes" or "percent"
    value: int
    text: str

    def bound(self, base: int | None) -> int | None:
        """The limit in bytes, rounded down (for display); None when a
        percentage has no base."""
        if self.kind == "bytes":
            return self.value
        if base is None:
            return None
        return base * self.value // 100


@dataclass(frozen=True)
class Thresholds:
    require: str = "ok"
    max_page_tables: Limit | None = None
    min_headroom: Limit | None = None
    view: str = "physical"
    """Which page-table figure ``max_page_tables`` limits (``ptcalc.model.evaluate.VIEWS``)."""


@dataclass(frozen=True)
class Condition:
    """One condition on one (file, scheme, column); ``ptcalc.render.check_words`` words it."""

    name: str  # verdict | max-page-tables | min-headroom
    passed: bool
    actual: int | str | None
    """The verdict, the page-table bytes (of ``view``), or the free bytes."""
    limit: int | str | None
    """The worst verdict accepted, or the limit in bytes (rounded down)."""
    threshold: Limit | None = None
    """The limit as given (a size or a percentage)."""
    base: int | None = None
    """What a percentage is of: host memory (max-page-tables) or available memory (min-headroom)."""
    view: str | None = None
    """max-page-tables: the accounting view of ``actual``."""


@dataclass(frozen=True)
class CheckResult:
    """Every condition for one scheme on one page-size column of one file."""

    scheme: str
    column: Column
    verdict: str | None
    page_table_bytes: int
    demand_bytes: int
    available_bytes: int | None
    free_bytes: int | None
    conditions: tuple[Condition, ...]
    pool_short: dict[int, int] = field(default_factory=dict)
    """Per hugetlb page size, the pages a configured pool lacks (verdict wont-start)."""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.conditions)

    @property
    def failed(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if not c.passed)


@dataclass(frozen=True)
class FileResult:
    """What checking one file (or one document of a file of several) gave:
    results, or the input error that stopped it."""

    path: str
    title: str | None = None
    checks: tuple[CheckResult, ...] = ()
    error: str | None = None
    document: int | None = None
    """Which YAML document (host) of the file, from 1, when it holds several."""

    @property
    def name(self) -> str:
        """How reports name it: the path, ``PATH#N`` for document N of several."""
        return self.path if self.document is None else f"{self.path}#{self.document}"

    @property
    def status(self) -> str:
        """``error``, ``fail`` or ``pass``."""
        if self.error is not None:
            return "error"
        return "pass" if all(c.passed for c in self.checks) else "fail"


@dataclass(frozen=True)
class CheckRun:
    """Every file checked in one run, against which thresholds: what the
    renderers show and what decides the exit status."""

    files: tuple[FileResult, ...]
    thresholds: Thresholds
    schemes: tuple[str, ...]
    page_size: int | None
    """The page-size column checked: None for the configured one."""

    @property
    def exit_status(self) -> int:
        return exit_status(self.files)


def exit_status(files: Sequence[FileResult]) -> int:
    """2 when any file is invalid, else 1 when any condition failed, else 0.

    An invalid file takes precedence: the gate cannot vouch for a change it
    could not read, and a CI job must not treat a typo as a pass or as a
    capacity failure.
    """
    statuses = {f.status for f in files}
    if "error" in statuses:
        return EXIT_INVALID
    if "fail" in statuses:
        return EXIT_FAIL
    return EXIT_PASS


def _verdict_rank(v: str) -> int:
    return VERDICTS.index(v)


def check_workload(ev: Evaluation, thresholds: Thresholds) -> tuple[CheckResult, ...]:
    """Evaluate every condition for each scheme of ``ev`` on its one column.

    Raises PtcalcError when the workload cannot be judged (no host memory,
    or the what-if column is not available).
    """
    column = ev.column
    w = ev.workload
    memory, available = w.host.memory, w.host.available
    if memory is None or available is None:
        raise PtcalcError(f"{w.source}: host.memory is not given: check needs it to judge an OOM")
    out: list[CheckResult] = []
    for cell in ev.cells_of(column):
        result, b = cell.result, cell.budget
        verdict = b.verdict
        assert verdict is not None
        conds = [Condition(name="verdict", passed=_verdict_rank(verdict) <= _verdict_rank(thresholds.require),
                           actual=verdict, limit=thresholds.require)]
        pt = result.physical_bytes
        if thresholds.max_page_tables is not None:
            lim = thresholds.max_page_tables
            seen = cell.figure(thresholds.view)
            passed = seen * 100 <= memory * lim.value if lim.kind == "percent" else seen <= lim.value
            conds.append(Condition(name="max-page-tables", passed=passed, actual=seen, limit=lim.bound(memory),
                                   threshold=lim, base=memory, view=thresholds.view))
        if thresholds.min_headroom is not None:
            lim = thresholds.min_headroom
            free = available - b.demand_bytes
            passed = free * 100 >= available * lim.value if lim.kind == "percent" else free >= lim.value
            conds.append(Condition(name="min-headroom", passed=passed, actual=free, limit=lim.bound(available),
                                   threshold=lim, base=available))
        out.append(CheckResult(
            scheme=cell.scheme, column=column, verdict=verdict, page_table_bytes=pt, demand_bytes=b.demand_bytes,
            available_bytes=available, free_bytes=b.free_bytes, conditions=tuple(conds), pool_short=b.pools.short))
    return tuple(out)
