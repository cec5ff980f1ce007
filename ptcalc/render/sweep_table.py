"""``sweep`` as a rich table (a sample of the points), the crossings, and a chart."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ptcalc.render.console import Style, verdict_text
from ptcalc.render.facts import host_line
from ptcalc.render.layout import Col, Grid, emit, print_grid, print_text
from ptcalc.render.sweep_words import axis_label, axis_value, grows_text, rounding_text
from ptcalc.render.words import sweep_column_label
from ptcalc.render.sweep_chart import chart
from ptcalc.model.sweep import Crossing, SweepResult
from ptcalc.units import format_size

MAX_ROWS = 24
MAX_GROUP_COUNTS = 8
"""Most groups whose counts the table lists per point (csv and json list them all)."""


def sample(sw: SweepResult, limit: int = MAX_ROWS) -> list[int]:
    """Indices of the points to show: all when few; else evenly spaced, the
    ends, and the points either side of each scheme's change of verdict."""
    n = len(sw.points)
    if n <= limit:
        return list(range(n))
    keep = {0, n - 1}
    for s in sw.series:
        for i in range(1, n):
            if s.verdicts[i] != s.verdicts[i - 1]:
                keep.update((i - 1, i))
    room = max(limit - len(keep), 2)
    keep.update(i * (n - 1) // (room - 1) for i in range(room))
    return sorted(keep)


def crossing_sentence(sw: SweepResult, c: Crossing) -> str:
    if c.status == "unknown":
        return "no verdicts: host.memory is not given"
    if c.status == "fits":
        if sw.axis == "processes":
            return "fits at every count: nothing grows with the process count"
        return f"fits up to {axis_value(sw, sw.points[-1])} (the end of the range)"
    assert c.first_failing is not None
    what = "cannot start (hugetlb pool too small)" if c.verdict == "wont-start" else "OOM"
    if c.status == "never-fits":
        low = "0 processes" if sw.axis == "processes" else f"{format_size(c.first_failing)} (the smallest size)"
        return f"{what} already at {low}"
    if sw.axis == "size":
        return (f"first {what} at {format_size(c.first_failing)} ({c.first_failing:,} bytes); fits up to "
                f"{format_size(sw.granularity)} less")
    return f"first {what} at {c.first_failing:,}; fits up to {c.first_failing - 1:,}"


def render(sw: SweepResult, console: Console, style: Style) -> None:
    w = sw.workload
    print_text(console, Text(f"ptcalc sweep {style.dash} {w.title} {style.dash} {axis_label(sw)}, "
                             f"{sweep_column_label(sw.column)}", style="bold"))
    print_text(console, host_line(w))
    print_text(console, f"grows: {grows_text(sw)}; rounding: {rounding_text(sw)}", hanging="  ", style="dim")
    idx = sample(sw)
    shown = f"{len(idx)} of {len(sw.points):,} points" if len(idx) < len(sw.points) else f"{len(idx)} points"
    title = Text(f"Page tables (physical) and verdict per scheme; {shown}"
                 + ("; --format csv for every point" if len(idx) < len(sw.points) else ""), style="italic")
    multi = sw.group_counts is not None and 1 < len(sw.group_names) <= MAX_GROUP_COUNTS
    if sw.group_counts is not None and len(sw.group_names) > MAX_GROUP_COUNTS:
        title.append(f"; the counts of the {len(sw.group_names):,} groups are in --format csv|json")

    def grid(between: str) -> Grid:
        """The table; ``between`` the figure and its verdict: a blank, or a line break (narrower)."""
        g = Grid([Col(axis_label(sw), justify="right")], title=title)
        if multi:
            g.cols.append(Col("group counts", justify="right", prose=True))
        for s in sw.series:
            g.cols.append(Col(s.scheme, justify="right"))
        for i in idx:
            row: list[str | Text] = [axis_value(sw, sw.points[i])]
            if multi:
                assert sw.group_counts is not None
                row.append(" + ".join(f"{c:,}" for c in sw.group_counts[i]))
            for s in sw.series:
                label, vstyle = verdict_text(s.verdicts[i])
                row.append(Text.assemble(format_size(s.page_table_bytes[i]), between, (label, vstyle)))
            g.add(*row)
        return g

    stacked = grid("\n")
    stacked.title = None
    print_grid(console, grid(" "), style, stacked)
    print_text(console, Text("Where each scheme stops fitting (exact):", style="bold"))
    for c in sw.crossings:
        print_text(console, f"  {c.scheme}: {crossing_sentence(sw, c)}", hanging="    ")
    console.print()
    emit(console, chart(sw, console.width, style))
