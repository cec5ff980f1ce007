"""``--format openmetrics``: metrics for Prometheus, through node_exporter's textfile collector.

Written with the ``prometheus-client`` package (its OpenMetrics exposition,
which escapes label values and which node_exporter and ``promtool check
metrics`` read), imported here only, so that no other format pays for it.
Every series carries the labels ``host`` (the machine ptcalc ran on),
``workload`` (the workload's name, as reports head it) and ``source`` (the
file, ``FILE#N`` for document N of several), which keep the series of the
hosts of one file apart; a cell's series add ``scheme``, ``column`` (the
page-size column's key, as in JSON: ``4KiB``, ``2MiB-hugetlb``,
``configured``) and ``configured`` (``true`` for the workload as written).

    metric                          labels (besides host, workload, source)   what
    ------------------------------  ----------------------------------------  ---------------------------------
    ptcalc_page_tables_bytes        scheme column configured view             physical (each table once) or
                                                                              vmpte (VmPTE summed over processes)
    ptcalc_memory_demand_bytes      scheme column configured                  demand of the cell
    ptcalc_headroom_bytes           scheme column configured                  available - demand (< 0: OOM)
    ptcalc_max_processes            scheme column configured                  largest process count that fits
    ptcalc_verdict                  scheme column configured verdict          1 for the cell's verdict, 0 else
    ptcalc_memory_available_bytes   -                                         host.memory - host.reserved
    ptcalc_processes                -                                         processes as configured
    ptcalc_check_passed             scheme column configured                  check: every condition passed
    ptcalc_check_condition_passed   scheme column configured condition        check: one condition
    ptcalc_check_status             status                                    check: 1 for pass|fail|error

Values are the exact byte counts of ``--format json``; Prometheus stores
float64, so a figure above 2^53 bytes (8 PiB) is rounded there.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ptcalc.model.budget import VERDICTS

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge

    from ptcalc.model.check import CheckRun
    from ptcalc.model.evaluate import Cell, Evaluation, Hosts
    from ptcalc.model.whatif import Column
    from ptcalc.workload.types import Workload

WHO = ("host", "workload", "source")
CELL = WHO + ("scheme", "column", "configured")
VIEWS = ("physical", "vmpte")
CHECK_STATUSES = ("pass", "fail", "error")


def hostname() -> str:
    """The ``host`` label: the machine ptcalc runs on, as ``ptcalc scan`` names it."""
    return socket.gethostname()


class _Metrics:
    """The gauges of one output, in one registry of its own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        self.host = hostname()
        self.page_tables = self._gauge(
            "ptcalc_page_tables", "Page-table memory of the workload's mappings: view=physical counts each table "
            "once (what decides an OOM), view=vmpte sums every process's VmPTE", CELL + ("view",), "bytes")
        self.demand = self._gauge("ptcalc_memory_demand", "Memory the workload needs under this scheme and page "
                                  "size: touched shmem, hugetlb pools, page tables, private memory, overhead",
                                  CELL, "bytes")
        self.headroom = self._gauge("ptcalc_headroom", "Memory left free: available minus demand (negative: OOM)",
                                    CELL, "bytes")
        self.max_processes = self._gauge("ptcalc_max_processes", "Largest total process count that fits "
                                         "(all groups scaled by one factor)", CELL)
        self.verdict = self._gauge("ptcalc_verdict", "The verdict: 1 for the cell's verdict "
                                   "(ok, tight, oom, wont-start), 0 for the others", CELL + ("verdict",))
        self.available = self._gauge("ptcalc_memory_available", "Memory available to the workload: "
                                     "host.memory - host.reserved", WHO, "bytes")
        self.processes = self._gauge("ptcalc_processes", "Processes of the workload as configured", WHO)

    def _gauge(self, name: str, doc: str, labels: tuple[str, ...], unit: str = "") -> Gauge:
        from prometheus_client import Gauge

        return Gauge(name, doc, labels, unit=unit, registry=self.registry)

    def who(self, workload: str, source: str) -> dict[str, str]:
        return {"host": self.host, "workload": workload, "source": source}

    def workload(self, w: Workload) -> dict[str, str]:
        who = self.who(w.title, w.source)
        if w.host.available is not None:
            self.available.labels(**who).set(w.host.available)
        self.processes.labels(**who).set(w.process_count)
        return who

    def cell_labels(self, who: dict[str, str], scheme: str, column: Column) -> dict[str, str]:
        return {**who, "scheme": scheme, "column": column.key, "configured": _bool(column.configured)}

    def budget(self, labels: dict[str, str], verdict: str | None, demand: int, free: int | None) -> None:
        self.demand.labels(**labels).set(demand)
        if free is not None:
            self.headroom.labels(**labels).set(free)
        if verdict is not None:
            for v in VERDICTS:
                self.verdict.labels(**labels, verdict=v).set(1 if v == verdict else 0)

    def cell(self, who: dict[str, str], c: Cell) -> None:
        labels = self.cell_labels(who, c.scheme, c.column)
        self.page_tables.labels(**labels, view="physical").set(c.result.physical_bytes)
        self.page_tables.labels(**labels, view="vmpte").set(c.result.vmpte_total)
        self.budget(labels, c.verdict, c.budget.demand_bytes, c.budget.free_bytes)
        if c.max_processes is not None:
            self.max_processes.labels(**labels).set(c.max_processes)

    def evaluation(self, ev: Evaluation) -> None:
        who = self.workload(ev.workload)
        for c in ev.cells:
            self.cell(who, c)

    def text(self) -> str:
        from prometheus_client.openmetrics.exposition import generate_latest

        out: bytes = generate_latest(self.registry)
        return out.decode("utf-8").rstrip("\n")


def _bool(b: bool) -> str:
    return "true" if b else "false"


def _estimate(evaluations: Iterable[Evaluation]) -> str:
    m = _Metrics()
    for ev in evaluations:
        m.evaluation(ev)
    return m.text()


def render(ev: Evaluation) -> str:
    """``estimate``: every cell (scheme x page-size column) of one workload."""
    return _estimate([ev])


def render_hosts(hosts: Hosts) -> str:
    """``estimate`` of a file of several workloads (hosts): each one's series, told apart by ``source``."""
    return _estimate(hosts.evaluations)


def render_check(run: CheckRun) -> str:
    """``check``: the cells checked, each condition and each file's status."""
    m = _Metrics()
    passed = m._gauge("ptcalc_check_passed", "ptcalc check: 1 when every condition on this scheme and "
                      "page size passed, else 0", CELL)
    condition = m._gauge("ptcalc_check_condition_passed", "ptcalc check: 1 when the condition "
                         "(verdict, max-page-tables, min-headroom) passed, else 0", CELL + ("condition",))
    status = m._gauge("ptcalc_check_status", "ptcalc check: 1 for the file's status (pass, fail, "
                      "error: invalid input), 0 for the others", WHO + ("status",))
    for f in run.files:
        who = m.who(f.title or "", f.name)
        for s in CHECK_STATUSES:
            status.labels(**who, status=s).set(1 if s == f.status else 0)
        for c in f.checks:
            labels: dict[str, Any] = m.cell_labels(who, c.scheme, c.column)
            m.page_tables.labels(**labels, view="physical").set(c.page_table_bytes)
            m.budget(labels, c.verdict, c.demand_bytes, c.free_bytes)
            passed.labels(**labels).set(1 if c.passed else 0)
            for k in c.conditions:
                condition.labels(**labels, condition=k.name).set(1 if k.passed else 0)
        if f.checks and f.checks[0].available_bytes is not None:
            m.available.labels(**who).set(f.checks[0].available_bytes)
    return m.text()
