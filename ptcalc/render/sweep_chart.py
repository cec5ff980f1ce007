"""A terminal line chart of memory demand against the swept value, drawn with rich.

One letter per scheme (p, h, m, f), a horizontal line where demand reaches
available memory (above it: OOM).  Plain characters only, so it survives
``--ascii`` and ``--color never``; colour, when on, tells the schemes apart.
The y axis has round labels (:func:`y_axis`), from 0 B up.
"""

from __future__ import annotations

from rich.text import Text

from ptcalc.render.console import Style
from ptcalc.model.sweep import SweepResult
from ptcalc.render.layout import wrap
from ptcalc.render.sweep_words import axis_label, axis_value
from ptcalc.units import SizeError, format_size, parse_size

MARKERS: dict[str, str] = {"private": "p", "hugetlb-pmd": "h", "mshare": "m", "file-cached": "f"}
COLORS: dict[str, str] = {"private": "red", "hugetlb-pmd": "cyan", "mshare": "magenta", "file-cached": "green"}
HEIGHT = 13
"""Rows of the plot: 12 steps of top/12, a label every 2, 3, 4 or 6 rows (:func:`y_axis`)."""
_MULTIPLES = (1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 40, 50, 64, 80, 100, 128, 160, 200, 256, 320, 400, 500, 512,
              640, 800)
_UNITS = tuple(1 << (10 * k) for k in range(7))


def _exact(v: int) -> bool:
    """``format_size(v)`` says ``v`` exactly (``1.5 TiB``, not ``1.3 TiB`` for 1,280 GiB)."""
    try:
        return parse_size(format_size(v).replace(" ", "").replace(",", "")) == v
    except SizeError:
        return False


def y_axis(top: int) -> tuple[int, int]:
    """(step, ticks): the y axis that reaches ``top`` bytes lowest with labels
    every 12/ticks rows, each a round figure the byte formatter writes exactly.

    >>> from ptcalc.units import GiB
    >>> [(format_size(s), t) for s, t in (y_axis(1008 * GiB), y_axis(630 * GiB), y_axis(5 * GiB), y_axis(1))]
    [('256 GiB', 4), ('160 GiB', 4), ('1 GiB', 6), ('1 B', 2)]
    """
    best: tuple[int, int, int] | None = None
    for ticks in (6, 4, 3, 2):
        found = next((m * unit for unit in _UNITS for m in _MULTIPLES
                      if m * unit * ticks >= top and all(_exact(k * m * unit) for k in range(1, ticks + 1))), None)
        if found is not None and (best is None or (found * ticks, -ticks) < (best[0], -best[1])):
            best = (found * ticks, ticks, found)
    assert best is not None
    return best[2], best[1]


RESOLUTION = 200
"""Points the chart asks for across the process-count axis (evenly spaced)."""


def chart(sw: SweepResult, width: int, style: Style) -> Text:
    """The chart as one Text of ``HEIGHT`` + 3 lines, at most ``width`` columns."""
    if sw.demand_at is not None and sw.points:
        lo, hi = sw.points[0], sw.points[-1]
        xs = sorted({lo + (hi - lo) * i // (RESOLUTION - 1) for i in range(RESOLUTION)})
        series = sw.demand_at(xs)
    else:
        xs, series = sw.points, {s.scheme: s.demand_bytes for s in sw.series}
    avail = sw.available_bytes
    top = max((max(v) for v in series.values() if v), default=1)
    if avail is not None:
        top = min(max(top, avail * 5 // 4), avail * 2)  # keep the OOM line in view
    step, ticks = y_axis(max(top, 1))
    top = step * ticks
    every = (HEIGHT - 1) // ticks
    labels = {r: format_size(step * ((HEIGHT - 1 - r) // every)) for r in range(0, HEIGHT, every)}
    label_w = max(len(x) for x in labels.values())
    plot_w = max(10, width - label_w - 2)
    x0, x1 = xs[0], xs[-1]
    span = max(x1 - x0, 1)
    grid: list[list[tuple[str, str]]] = [[(" ", "")] * plot_w for _ in range(HEIGHT)]

    def row_of(v: int) -> int:
        r = HEIGHT - 1 - (v * (HEIGHT - 1) + top // 2) // top
        return max(0, r)

    oom_row = row_of(avail) if avail is not None and avail <= top else None
    if oom_row is not None:
        line = "-" if style.ascii_only else "─"
        grid[oom_row] = [(line, "red")] * plot_w
    # identical series are drawn once, under the first scheme's letter
    same: dict[str, list[str]] = {}
    for scheme, values in series.items():
        twin = next((k for k in same if series[k] == values), None)
        if twin is None:
            same[scheme] = [scheme]
        else:
            same[twin].append(scheme)
    for scheme in same:
        values = series[scheme]
        mark = MARKERS.get(scheme, "?")
        for x, v in zip(xs, values):
            col = (x - x0) * (plot_w - 1) // span
            r = row_of(min(v, top))
            if v > top:
                r = 0
            ch = mark if v <= top else "^"
            prev = grid[r][col][0]
            if prev not in (" ", "-", "─", ch):
                ch = "*"  # two schemes on one spot
            grid[r][col] = (ch, COLORS.get(scheme, "") if ch != "*" else "bold")
    out = Text()
    title = "memory demand"
    if oom_row is not None:
        title += f"; {'-' if style.ascii_only else '─'} = available ({format_size(avail or 0)}), above it OOM"
    title += "; " + ", ".join(f"{MARKERS.get(s, '?')} " + " = ".join(names) for s, names in same.items())
    title += "; * several"
    if any(max(v) > top for v in series.values() if v):
        title += "; ^ above the chart"
    out.append(wrap(Text(title, style="bold"), width))
    out.append("\n")
    for r in range(HEIGHT):
        out.append(f"{labels.get(r, ''):>{label_w}} |")
        cells = grid[r]
        end = len(cells)
        while end and cells[end - 1][0] == " ":  # no trailing blanks
            end -= 1
        for ch, st in cells[:end]:
            out.append(ch, style=st or None)
        out.append("\n")
    out.append(" " * label_w + " +" + "-" * plot_w + "\n")
    left, right = axis_value(sw, x0), axis_value(sw, x1)
    mid = axis_label(sw)
    pad = max(1, plot_w - len(left) - len(right) - len(mid))
    out.append(" " * (label_w + 2) + left + " " * (pad // 2) + mid + " " * (pad - pad // 2) + right)
    return out
