"""Layout for the table formats that never cuts a figure, at any width.

rich shrinks a table that is too wide by folding or cropping its cells
("TIG...", "143.2" over "GiB").  The table renderers do not let it: they
describe a table as a :class:`Grid` (columns, rows of cells, a title) and
print it with :func:`print_grid`, which decides the widths itself:

* a **figure** column (the default) keeps every line of every cell whole:
  its width is at least its longest line;
* a **prose** column wraps its cells between words, never inside one and
  never between a number and its unit (``880.6 GiB`` stays together): its
  width is at least its longest such token;
* headers wrap between words.

When every column gets its minimum within the console's width, the grid is
a table (columns widened towards their natural width as room allows);
otherwise each row becomes a block of ``label  value`` lines under the row's
first cell -- a vertical layout in which nothing is cut either.  Sentences
outside tables go through :func:`wrap` (the same word rule, a hanging
indent for continuation lines, no trailing blanks).

    >>> wrap_plain("page tables 880.6 GiB per host", 16)
    ['page tables', '880.6 GiB per', 'host']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from rich.cells import cell_len as _rich_cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from ptcalc.render.console import Style

UNIT = re.compile(r"(?:B|KiB|MiB|GiB|TiB|PiB|EiB|kB)(?![A-Za-z0-9_])")
"""A unit after a number: the blank between them is not a place to break."""

def cell_len(text: str) -> int:
    """Columns ``text`` takes on a terminal (rich's ``cell_len``; printable ASCII
    without asking rich, one column a character)."""
    return len(text) if text.isascii() and text.isprintable() else _rich_cell_len(text)


@lru_cache(maxsize=4096)
def _breaks(plain: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of every unbreakable token of one line: words, a number
    glued to the unit after it.  Kept per line (the cells of a table repeat:
    their widths are measured, then they are wrapped)."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", plain)]
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out:
            ps, pe = out[-1]
            if plain[pe - 1].isdigit() and UNIT.match(plain, s):
                out[-1] = (ps, e)
                continue
        out.append((s, e))
    return tuple(out)


def longest_token(text: str | Text) -> int:
    """Width of the widest token that :func:`wrap` never breaks."""
    plain = text.plain if isinstance(text, Text) else text
    if plain.isascii() and plain.replace("\n", "").isprintable():  # a character a column: a token's length
        return max((e - s for line in plain.split("\n") for s, e in _breaks(line)), default=0)
    return max((cell_len(line[s:e]) for line in plain.split("\n") for s, e in _breaks(line)), default=0)


def _wrap_offsets(plain: str, width: int, first: int, rest: int) -> list[tuple[int, int]]:
    """(start, end) of each output line of one input line, greedy."""
    toks = _breaks(plain)
    if not toks:
        return [(0, 0)]
    lines: list[tuple[int, int]] = []
    start, end = toks[0]
    room = width - first
    ascii_ = plain.isascii() and plain.isprintable()  # then a slice's width is its length
    for s, e in toks[1:]:
        if (e - start if ascii_ else cell_len(plain[start:e])) <= room:
            end = e
        else:
            lines.append((start, end))
            start, end = s, e
            room = width - rest
    lines.append((start, end))
    return lines


def wrap_plain(text: str, width: int, indent: str = "", hanging: str = "") -> list[str]:
    """``text`` as lines of at most ``width`` columns (a token wider than that
    stands alone on its line): ``indent`` before the first line of each
    paragraph, ``hanging`` before the lines that continue it."""
    return [line.plain for line in wrap(text, width, indent, hanging).split("\n")]


def _slice(t: Text, start: int, end: int) -> Text:
    """``t[start:end]``, which rich makes by dividing the whole text (a cost
    linear in its length for every slice): without spans, made directly as
    rich would make it."""
    if t.spans:
        return t[start:end]
    return Text(t.plain[start:end], style=t.style, justify=t.justify, overflow=t.overflow)


def _plan(plain: str, width: int, indent: str, hanging: str, keep: int) -> list[tuple[str, int, int, int]]:
    """How :func:`wrap` lays ``plain`` out: per output line, the text before
    it, the offset of its paragraph in ``plain`` and where in the paragraph
    it starts and ends (trailing blanks then left out); start -1: a blank
    paragraph (the text before it alone, trailing blanks left out)."""
    out: list[tuple[str, int, int, int]] = []
    pos = 0
    for n, para in enumerate(plain.split("\n")):
        at = pos
        pos += len(para) + 1
        lead = len(para) - len(para.lstrip(" "))
        first = (indent if n == 0 else hanging) + para[:lead]
        if not para.strip():
            out.append((first.rstrip(), at, -1, -1))
            continue
        offsets = ([(lead, len(para.rstrip()))] if n < keep
                   else _wrap_offsets(para, width, cell_len(first), cell_len(hanging)))
        for i, (a, b) in enumerate(offsets):
            out.append((first if i == 0 else hanging, at, a, b))
    return out


def wrap(text: str | Text, width: int, indent: str = "", hanging: str = "", style: str = "", keep: int = 0) -> Text:
    """:func:`wrap_plain` keeping the styles of a rich Text: ``indent`` before
    the first line, ``hanging`` before every other; the first ``keep`` lines
    of ``text`` are kept whole."""
    t = text if isinstance(text, Text) else Text(text, style=style)
    plain = t.plain
    out: list[Text] = []
    piece = t
    piece_at = -1
    for before, at, a, b in _plan(plain, width, indent, hanging, keep):
        if a < 0:
            out.append(Text(before))
            continue
        if at != piece_at:
            stop = plain.find("\n", at)
            piece, piece_at = _slice(t, at, len(plain) if stop < 0 else stop), at
        line = _slice(piece, a, b)
        line.rstrip()
        out.append(Text.assemble(before, line))
    return Text("\n").join(out)


def wrapped_plain(plain: str, width: int, keep: int = 0, indent: str = "", hanging: str = "") -> str:
    """``wrap(plain, width, indent, hanging, keep=keep).plain`` for a text
    without control characters, made without rich Text objects."""
    lines = []
    for before, at, a, b in _plan(plain, width, indent, hanging, keep):
        lines.append(before if a < 0 else before + plain[at + a:at + b].rstrip())
    return "\n".join(lines)


class _Plain:
    """Lines of plain text, printable, as one segment and a line end: what
    rich prints for a ``Text`` of them on a console without colour
    (:func:`emit`), without the ``Text`` per line rich makes to print one."""

    def __init__(self, plain: str) -> None:
        self.plain = plain

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Segment(self.plain)
        yield Segment.line()


def _printable(plain: str) -> bool:
    """No character rich would strip, expand or measure otherwise (control
    characters, tabs) on any line of ``plain``."""
    return plain.replace("\n", "").isprintable()


def _print(console: Console, laid_out: _Plain | Text) -> None:
    """Print text already laid out: never re-wrapped, folded or cropped by rich
    (a token wider than the console runs past its edge rather than lose a character)."""
    console.print(laid_out, no_wrap=True, overflow="ignore", crop=False)


def emit_plain(console: Console, plain: str) -> None:
    """:func:`emit` of ``Text(plain)``.  On a console without colour, a
    printable text goes out as it is (rich would write the same characters:
    styles render as nothing there); else through rich."""
    _print(console, _Plain(plain) if console.color_system is None and _printable(plain) else Text(plain))


def emit(console: Console, text: Text) -> None:
    """Print text already laid out (:func:`_print`); on a console without
    colour, printable and not justified, as :func:`emit_plain` does."""
    plain = console.color_system is None and text.justify is None and _printable(text.plain)
    _print(console, _Plain(text.plain) if plain else text)


@dataclass(frozen=True)
class Col:
    """A column: its header, and how its cells may be laid out."""

    header: str
    justify: str = "left"
    prose: bool = False
    """Cells wrap between words; else each line of a cell stays whole."""
    min_width: int = 0
    """For prose: the narrowest it is made while room allows more (a sentence,
    not a column of single words)."""
    keep: int = 0
    """For prose: the first ``keep`` lines of each cell stay whole (a figure
    and its verdict above a note that wraps)."""


@dataclass
class Grid:
    """A table before it is laid out; ``rows`` hold a cell (str or Text) per column."""

    cols: list[Col]
    rows: list[list[str | Text]] = field(default_factory=list)
    title: str | Text | None = None
    caption: str | Text | None = None
    show_lines: bool = False
    sections: set[int] = field(default_factory=set)
    """Rows before which a table draws a rule (rich's add_section)."""

    def add(self, *cells: str | Text, section: bool = False) -> None:
        if section:
            self.sections.add(len(self.rows))
        self.rows.append(list(cells))


def _as_text(cell: str | Text) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _plain(cell: str | Text) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _line_width(cell: str | Text) -> int:
    plain = _plain(cell)
    return max((cell_len(line) for line in plain.split("\n")), default=0)


def _needs(col: Col, cells: Sequence[str | Text]) -> tuple[int, int]:
    """(narrowest, natural) content width of a column."""
    head_min, head_max = longest_token(col.header), _line_width(col.header)
    natural = max([head_max] + [_line_width(c) for c in cells])
    if col.prose:
        narrow = max([head_min] + [longest_token(c) for c in cells]
                     + [_line_width("\n".join(_plain(c).split("\n")[:col.keep])) for c in cells if col.keep])
        narrow = max(narrow, min(col.min_width, natural))
    else:
        narrow = max([head_min] + [_line_width(c) for c in cells])
    return narrow, natural


def column_widths(grid: Grid, width: int) -> list[int] | None:
    """Content widths that fit ``width`` with every figure whole, or None.

    A boxed table with one blank either side of each cell takes
    ``sum(widths) + 3 * columns + 1`` columns."""
    n = len(grid.cols)
    overhead = 3 * n + 1
    needs = [_needs(c, [r[i] for r in grid.rows]) for i, c in enumerate(grid.cols)]
    lo = [a for a, _ in needs]
    hi = [b for _, b in needs]
    if sum(hi) + overhead <= width:
        return hi
    room = width - overhead - sum(lo)
    if room < 0:
        return None
    widths = list(lo)
    # columns that can be made whole with little room first (a header or an
    # address on one line), then the rest shared evenly (prose, wrapped less)
    for i in sorted(range(n), key=lambda i: (hi[i] - lo[i], i)):
        if 0 < hi[i] - lo[i] <= room:
            room -= hi[i] - lo[i]
            widths[i] = hi[i]
    while room > 0:
        short = [i for i in range(n) if widths[i] < hi[i]]
        if not short:
            break
        step = max(1, room // len(short))
        for i in short:
            give = min(step, hi[i] - widths[i], room)
            widths[i] += give
            room -= give
    return widths


def _fit_cell(cell: str | Text, col: Col, width: int) -> Text:
    t = _as_text(cell)
    return wrap(t, width, keep=col.keep) if col.prose else t


def _table(grid: Grid, widths: list[int], style: Style) -> Table:
    t = Table(box=style.box, show_lines=grid.show_lines, padding=(0, 1))
    for col, w in zip(grid.cols, widths):
        t.add_column(wrap(col.header, w), justify=col.justify,  # type: ignore[arg-type]
                     width=w, no_wrap=True, overflow="fold")
    for i, row in enumerate(grid.rows):
        if i in grid.sections and i:
            t.add_section()
        t.add_row(*(_fit_cell(c, col, w) for c, col, w in zip(row, grid.cols, widths)))
    return t


def _drawn(console: Console, grid: Grid, widths: list[int], style: Style) -> str | None:
    """The lines rich draws for ``_table(grid, widths, style)`` on a console
    without colour, drawn here (rich renders each cell through its console,
    which costs most of a large explanation's text output): the same box
    characters, a blank either side of each cell, headers at the bottom of
    the header row and cells at the top of theirs, justified in their
    widths, a rule under the header and between rows (``show_lines``) or
    sections.  None where rich's drawing would differ (colour, a cell that
    rich would fold, control characters): then rich draws it."""
    if console.color_system is not None:
        return None
    box = style.box.substitute(console.options, safe=console.safe_box)
    rows = [[wrapped_plain(col.header, w) for col, w in zip(grid.cols, widths)]]
    rows += [[wrapped_plain(_plain(c), w, col.keep) if col.prose else _plain(c)
              for c, col, w in zip(row, grid.cols, widths)] for row in grid.rows]
    padded = [w + 2 for w in widths]
    right = [col.justify == "right" for col in grid.cols]
    if any(col.justify not in ("left", "right") for col in grid.cols):
        return None
    out = [box.get_top(padded)]
    last = len(rows) - 1
    for i, row in enumerate(rows):
        left, divider, end = ((box.head_left, box.head_vertical, box.head_right) if i == 0 else
                              (box.foot_left, box.foot_vertical, box.foot_right) if i == last else
                              (box.mid_left, box.mid_vertical, box.mid_right))
        cells = []
        for plain in row:
            if plain.endswith("\n"):
                return None
            cells.append(plain.split("\n"))
        height = max(len(c) for c in cells)
        shaped = []
        for lines, w, r in zip(cells, widths, right):
            blank = [""] * (height - len(lines))
            padded_lines = []
            for line in (blank + lines if i == 0 else lines + blank):
                if line.isascii() and line.isprintable():
                    n = len(line)
                elif not line.isprintable():
                    return None
                else:
                    n = _rich_cell_len(line)
                if n > w:
                    return None
                padded_lines.append(" " + (" " * (w - n) + line if r else line + " " * (w - n)) + " ")
            shaped.append(padded_lines)
        for k in range(height):
            out.append(left + divider.join(c[k] for c in shaped) + end)
        if i == 0:
            out.append(box.get_row(padded, "head", edge=True))
        elif i < last and (grid.show_lines or i in grid.sections):
            out.append(box.get_row(padded, "row", edge=True))
    out.append(box.get_bottom(padded))
    return "\n".join(out)


def _records(grid: Grid, width: int) -> Text:
    """Each row as a block: its first cell, then ``label  value`` lines."""
    labels = [" ".join(c.header.split()) for c in grid.cols[1:]]
    cap = max(8, width // 3)  # a longer label goes on a line of its own
    label_w = max((cell_len(x) for x in labels if cell_len(x) <= cap), default=0)
    value_w = width - 2 - label_w - 2
    out: list[Text] = []
    for r, row in enumerate(grid.rows):
        if r and (grid.show_lines or r in grid.sections or len(grid.cols) > 2):
            out.append(Text(""))
        key = _as_text(row[0])
        if key.plain.strip():
            k = key.copy()
            if not k.style and not k.spans:
                k.stylize("bold")
            out.append(wrap(k, width))
        for label, col, cell in zip(labels, grid.cols[1:], row[1:]):
            value = _as_text(cell)
            if not value.plain.strip():
                continue
            if not col.prose and "\n" in value.plain:  # whole lines side by side when they fit
                side = Text("  ").join(value.split("\n"))
                if cell_len(side.plain) <= value_w:
                    value = side
            fits = _needs(Col("", prose=col.prose, keep=col.keep), [value])[0] <= value_w
            if cell_len(label) <= label_w and fits:
                first, rest = "  " + label + " " * (label_w - cell_len(label)) + "  ", " " * (label_w + 4)
            else:  # the label on a line of its own, the value under it
                out.append(wrap(label, width, indent="  ", hanging="  "))
                first = rest = "    "
            if col.prose:
                out.append(wrap(value, width, indent=first, hanging=rest, keep=col.keep))
            else:  # whole lines: only indented
                out.append(Text("\n").join(Text.assemble(first if i == 0 else rest, line)
                                           for i, line in enumerate(value.split("\n"))))
    return Text("\n").join(out)


def print_grid(console: Console, grid: Grid, style: Style, *narrower: Grid) -> None:
    """Print ``grid`` at the console's width: a table when every figure fits
    whole in its column, else the first of the ``narrower`` variants (the same
    figures stacked in fewer columns) that fits as a table, else ``grid`` as
    one block per row (see the module's docstring)."""
    width = console.width
    if grid.title is not None:
        emit(console, wrap(grid.title, width))
    for g in (grid, *narrower):
        widths = column_widths(g, width)
        if widths is not None:
            drawn = _drawn(console, g, widths, style)
            if drawn is None:
                console.print(_table(g, widths, style))
            else:
                emit_plain(console, drawn)
            break
    else:
        emit(console, _records(grid, width))
    if grid.caption is not None:
        emit(console, wrap(grid.caption, width))


def print_text(console: Console, text: str | Text, indent: str = "", hanging: str | None = None,
               style: str = "") -> None:
    """A sentence or paragraph at the console's width: wrapped between words,
    continuation lines under ``hanging`` (default: as deep as ``indent``)."""
    hang = indent if hanging is None else hanging
    plain = text.plain if isinstance(text, Text) else text
    if console.color_system is None and _printable(plain + indent + hang):  # no styles to keep: laid out as a str
        _print(console, _Plain(wrapped_plain(plain, console.width, 0, indent, hang)))
    else:
        emit(console, wrap(text, console.width, indent, hang, style=style))
