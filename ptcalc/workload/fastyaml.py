"""A fast reader for the plain subset of YAML that workload files are written in.

libyaml composes about 5 MB of YAML a second through PyYAML (every node and
every position mark is a Python object); a generated workload of 100,000
mappings is 8 MB.  This module reads the common subset of YAML directly,
line by line, and a run of one-line flow mappings (``- {segment: sga, size:
1GiB}``, how generated workloads list their mappings) with one regular
expression per line, into the same kind of node graph the loader validates
(:mod:`ptcalc.workload.yamlnodes`): nodes with ``id`` (``scalar``/``mapping``/
``sequence``), ``tag`` (:data:`PLAIN` for a plain scalar, :data:`STR` for a
quoted one), ``value`` and ``start_mark``.  It never imports yaml.

It is deliberately conservative: anything outside the subset -- anchors,
aliases, tags, flow sequences, block scalars, multi-line or escaped scalars,
tabs, non-ASCII text, ``---``, complex keys, odd indentation -- makes
:func:`parse` return None (:func:`parse_documents` reads several documents
separated by lines of ``---``), and the loader then parses the document with
libyaml as before.  Within the subset it yields what libyaml composes (a test
compares the two on every corpus file, every example and generated
documents).  Positions are approximate (a line and the indentation): the
loader re-reads any document with a problem through libyaml, so every error
message is located exactly as before.

The subset:

* block mappings (``key: value``, ``key:`` then a nested block or nothing)
  and block sequences (``- item``; ``- key: value`` starts a mapping), with
  consistent indentation by spaces;
* plain scalars of letters, digits and ``_ . + - / % ( )`` with single
  spaces between words (in a block, any visible character but ``:`` and
  ``#`` after the first); quoted scalars on one line without escapes
  (``"..."``, ``'...'``); block mapping keys plain or double-quoted;
* one-line flow mappings of plain scalars (``{a: 1, b: 2}``, ``{}``), and the
  empty flow sequence ``[]``;
* ``# comments`` on lines of their own or after a value; blank lines.

>>> root = parse("host: {memory: 64GiB}\\nprocesses:\\n- count: 2  # two\\n")
>>> [(k.value, v.id) for k, v in root.value]
[('host', 'mapping'), ('processes', 'sequence')]
>>> parse("a: &x 1\\n") is None  # an anchor: left to libyaml
True
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from itertools import accumulate, repeat, takewhile
from functools import partial
from operator import is_not, methodcaller
from typing import Any, cast

PLAIN = "!plain"
"""Tag of a plain (unquoted) scalar (as :data:`ptcalc.workload.yamlnodes.PLAIN`)."""
STR = "tag:yaml.org,2002:str"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"

MAX_NESTING = 64
"""Deeper documents are left to libyaml (a workload needs 5 levels)."""

_WORD = r"[A-Za-z0-9_.+%/()-]+"
# A plain scalar: not starting with an indicator; "-" only before a word character.
_PLAIN_FLOW = rf"(?:[A-Za-z0-9_.+(]|-(?=[A-Za-z0-9_.]))[A-Za-z0-9_.+%/()-]*(?: {_WORD})*"
# In a block, a plain scalar runs to ": " or " #"; the subset takes any
# visible character but ":" and "#" after the first.
_PLAIN_BLOCK = r"(?:[A-Za-z0-9_.+(/]|-(?=[A-Za-z0-9_.]))[^\x00-\x20:#]*(?: [^\x00-\x20:#]+)*"
_COMMENT = r"(?: +#.*)?"

_PLAIN_FLOW_VALUE = re.compile(_PLAIN_FLOW)
_KEY = re.compile(rf"({_PLAIN_FLOW}):(?: +|$)")
"""``key:`` at the start of a line's content, and the spaces after it."""
_QUOTED_KEY = re.compile(r"(?:\"([^\"\\#]*)\"|'([^'#]*)'):(?: +|$)")
"""A quoted key and the spaces after it."""
_BLOCK_VALUE = re.compile(rf"(?:({_PLAIN_BLOCK})|\"([^\"\\#]*)\"|'([^'#]*)') *{_COMMENT}")
_FLOW_ITEM = re.compile(rf"({_PLAIN_FLOW}): ({_PLAIN_FLOW})")
_EMPTY = re.compile(rf" *{_COMMENT}")
_FLOW_MAPPING = re.compile(r"\{ *(.*?) *\}" + _COMMENT)
_FLOW_SEQUENCE_TEXT = rf"\[ *(?:{_PLAIN_FLOW}(?: *, *{_PLAIN_FLOW})*)? *\]"
_FLOW_SEQUENCE = re.compile(f"({_FLOW_SEQUENCE_TEXT}){_COMMENT}")
"""A one-line flow sequence of plain scalars (``[0-2M, 4M-6M]``), a comment after it."""
_FLOW_VALUE = re.compile("\x00\\[[^\\]]*\\]")
_EMPTY_FLOW_VALUE = re.compile("\x00\\[ *\\]")
"""A block table's flow sequence, an empty one, after the SEP before it
(_Parser.block_rows_of)."""
# The same forms, possessive (no backtracking state kept: each form ends
# where the next character cannot go on with it, and the forms start with
# different characters -- "[", a quote, a plain scalar's first -- so the
# first that matches is the only one that can), for the block-table items
# matched one after another (_Parser.block_shape; 25% less time there).
_WORD_P = r"[A-Za-z0-9_.+%/()-]++"
_PLAIN_FLOW_P = rf"(?:[A-Za-z0-9_.+(]|-(?=[A-Za-z0-9_.]))[A-Za-z0-9_.+%/()-]*+(?: {_WORD_P})*+"
_PLAIN_BLOCK_P = r"(?:[A-Za-z0-9_.+(/]|-(?=[A-Za-z0-9_.]))[^\x00-\x20:#]*+(?: [^\x00-\x20:#]++)*+"
_FLOW_SEQUENCE_TEXT_P = rf"\[ *+(?:{_PLAIN_FLOW_P}(?: *+, *+{_PLAIN_FLOW_P})*+)?+ *+\]"
_TABLE_VALUE = re.compile(rf"{_PLAIN_BLOCK}|\"[^\"\\#]*\"|'[^'#]*'|{_FLOW_SEQUENCE_TEXT}")
"""A value in a table row as it is kept (:class:`Table`): a plain scalar, a
quoted one with its quotes, or a flow sequence of plain scalars with its
brackets (spaces after its line breaks folded to one); no comment."""



SEP = "\x00"
"""Between the values of a table row as kept (:class:`Table`): no value
holds it (a control character anywhere declines the document)."""

Row = tuple[tuple[str, ...], str]
"""A table row as kept: its keys, and its values joined by :data:`SEP` (one
string a row, not one a value: 11 MiB instead of 53 for 100,000 rows of six
values)."""


def unpack(row: Row) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A row's keys and values (:data:`Row`).

    >>> unpack((("segment", "size"), "sga" + SEP + "1GiB")), unpack(((), ""))
    ((('segment', 'size'), ('sga', '1GiB')), ((), ()))
    """
    keys, values = row
    return keys, tuple(values.split(SEP)) if keys else ()


_groups = re.Match.groups
_is_row = partial(is_not, None)
"""Whether a line's row number was found (is not None)."""


class Decline(Exception):
    """The document is outside the subset: let libyaml read it."""


class Mark:
    """Where a node starts (0-based, as yaml.Mark): the line and its indentation."""

    __slots__ = ("line", "column")

    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column


class Scalar:
    id = "scalar"
    __slots__ = ("tag", "value", "start_mark")

    def __init__(self, tag: str, value: str, start_mark: Mark) -> None:
        self.tag = tag
        self.value = value
        self.start_mark = start_mark


class Mapping:
    id = "mapping"
    tag = MAP
    __slots__ = ("value", "start_mark")

    def __init__(self, value: list[tuple[Any, Any]], start_mark: Mark) -> None:
        self.value = value
        self.start_mark = start_mark


class Sequence:
    id = "sequence"
    tag = SEQ
    __slots__ = ("value", "start_mark")

    def __init__(self, value: list[Any], start_mark: Mark) -> None:
        self.value = value
        self.start_mark = start_mark


class Table:
    """A sequence of flat mappings -- one-line flow mappings of plain scalars
    (``- {segment: sga, size: 1GiB}``), or block mappings whose every value
    is on its key's line (what ``ptcalc scan`` writes) -- kept as row
    numbers (no node per scalar): ``rows[i]`` is item i's index in
    ``distinct``, the document's distinct rows -- (keys, values) as
    :data:`Row` (:func:`unpack`), each once, shared by every table of the
    document (a generated workload repeats a few hundred rows thousands of
    times).  A value is kept as written (:func:`value_node` reads it): a
    plain scalar, a quoted one with its quotes, or a flow sequence of plain
    scalars with its brackets.
    ``item(i)`` and ``value`` build the item nodes, for code that reads it
    as an ordinary sequence."""

    id = "sequence"
    tag = SEQ
    __slots__ = ("rows", "distinct", "start_mark")

    def __init__(self, rows: list[int], distinct: list[Row], start_mark: Mark) -> None:
        self.rows = rows
        self.distinct = distinct
        self.start_mark = start_mark

    def __len__(self) -> int:
        return len(self.rows)

    def item(self, i: int) -> Mapping:
        """Item ``i`` as a mapping node."""
        keys, values = unpack(self.distinct[self.rows[i]])
        mark = self.start_mark
        return Mapping([(Scalar(PLAIN, k, mark), value_node(v, mark)) for k, v in zip(keys, values)], mark)

    def scalar(self, i: int, k: int) -> Node:
        """The value node of item ``i``'s ``k``-th key (``item(i).value[k][1]``)."""
        return value_node(unpack(self.distinct[self.rows[i]])[1][k], self.start_mark)

    @property
    def value(self) -> list[Mapping]:
        return [self.item(i) for i in range(len(self))]


Node = Scalar | Mapping | Sequence | Table


def value_node(text: str, mark: Mark) -> Scalar | Sequence:
    """The node of a table row's value as kept (:class:`Table`): ``"x"`` and
    ``'x'`` are quoted scalars, ``[a, b]`` a flow sequence of plain scalars,
    anything else a plain scalar.

    >>> m = Mark(0, 0)
    >>> [(n.id, n.tag) for n in (value_node("rw", m), value_node('"sga"', m))]
    [('scalar', '!plain'), ('scalar', 'tag:yaml.org,2002:str')]
    >>> [i.value for i in value_node("[0-2M, 4M-6M]", m).value]
    ['0-2M', '4M-6M']
    """
    first = text[:1]
    if first == '"' or first == "'":
        return Scalar(STR, text[1:-1], mark)
    if first == "[":
        inner = text[1:-1].strip(" ")
        items = [Scalar(PLAIN, item.strip(" "), mark) for item in inner.split(",")] if inner else []
        return Sequence(items, mark)
    return Scalar(PLAIN, text, mark)



def parse(text: str, max_nodes: int | None = None) -> Node | None:
    """The node graph of ``text`` if it is a mapping in the subset, else None.

    ``max_nodes``: refuse (None) a document of more nodes, leaving the limit's
    error to libyaml's path."""
    if not text.isascii():
        return None
    try:
        return _Parser(text, max_nodes).document()
    except (Decline, RecursionError):
        return None


_SEPARATOR = re.compile(r"---(?: +(?:#[^\n]*)?)?(?=\n|\Z)")
"""A line that starts a document and holds nothing else (a comment may follow)."""


def _separators(text: str) -> list[int]:
    """Where the separator lines start (found with str.find: a regular
    expression anchored at every line start would cost 0.2 s on 8 MB)."""
    starts = [0] if text.startswith("---") else []
    i = text.find("\n---")
    while i >= 0:
        starts.append(i + 1)
        i = text.find("\n---", i + 1)
    return [i for i in starts if _SEPARATOR.match(text, i)]


def parse_documents(text: str, max_nodes: int | None = None) -> list[Node] | None:
    """The node graphs of the documents of ``text`` -- separated by lines of
    ``---`` alone, each a mapping in the subset -- or None.

    Text before the first ``---`` is a document only if it has content (a
    leading ``---`` just starts the first document).  Anything else --
    ``...``, directives, ``---`` followed by content on its line, an empty
    document -- is left to libyaml (None).  ``max_nodes`` bounds the nodes
    of all documents together.  Each graph's marks count lines from the
    start of its own document (positions are approximate anyway: the loader
    re-reads any document with a problem through libyaml)."""
    if not text.isascii():
        return None
    cuts = _separators(text)
    if not cuts:
        root = parse(text, max_nodes)
        return None if root is None else [root]
    chunks = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
    chunks[1:] = [c.split("\n", 1)[1] if "\n" in c else "" for c in chunks[1:]]  # drop the --- lines
    if _EMPTY_DOCUMENT.fullmatch(chunks[0]):
        del chunks[0]
    roots: list[Node] = []
    used = 0
    try:
        for chunk in chunks:
            parser = _Parser(chunk, None if max_nodes is None else max_nodes - used)
            roots.append(parser.document())
            used += parser.nodes
    except (Decline, RecursionError):
        return None
    return roots


_EMPTY_DOCUMENT = re.compile(r"(?:[ ]*(?:#[^\n]*)?\n)*[ ]*(?:#[^\n]*)?")
"""Text of blank and comment lines only."""


_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n"
_CHUNK = 1 << 20


def _has_control(text: str) -> bool:
    """Whether ASCII ``text`` holds a character that is not printable, a tab
    and a new line aside (``str.isprintable`` of the text without them):
    each megabyte encoded and its printable bytes deleted, in C."""
    if not text.isascii():  # (never read: the parser declines it)
        return not text.replace("\n", "").replace("\t", " ").isprintable()
    return any(text[i:i + _CHUNK].encode("ascii").translate(None, _PRINTABLE) for i in range(0, len(text), _CHUNK))


def _line_starts(text: str) -> tuple[array[int], bool | None]:
    """Where each line of ASCII ``text`` starts (the lines of
    ``text.split("\\n")``), then ``len(text) + 1`` (where a line after the
    last would start): 8 bytes a line.  A text of a megabyte or more is
    searched for its line breaks with numpy, a megabyte at a time, rather
    than cut into lines (a string each: 39 MiB for 17.6 MB of YAML); and in
    the same bytes for a control character (:func:`_has_control`'s answer,
    by comparisons with constants: a third of its time).  Returns the starts
    and that answer (None for a shorter text: not looked for)."""
    starts = array("q", [0])
    if len(text) < _CHUNK:
        starts.extend(accumulate(map((1).__add__, map(len, text.split("\n")))))
        return starts, None
    import numpy as np

    control = False
    for i in range(0, len(text), _CHUNK):
        b = np.frombuffer(text[i:i + _CHUNK].encode("ascii"), np.uint8)
        breaks = np.flatnonzero(b == ord("\n"))
        starts.frombytes((breaks + (i + 1)).astype(np.int64).tobytes())
        if not control:
            # below a space only tabs and line breaks are printable here; DEL is not
            below = int(np.count_nonzero(b < 0x20))
            control = below != breaks.size + int(np.count_nonzero(b == ord("\t"))) or bool((b == 0x7F).any())
    starts.append(len(text) + 1)
    return starts, control


class _Lines:
    """The lines of a text, as ``text.split("\\n")`` gives them, each cut
    from the text when asked for (:func:`_line_starts`)."""

    __slots__ = ("text", "starts", "control")

    def __init__(self, text: str) -> None:
        self.text = text
        # (control: whether the text holds a control character; None: not looked for)
        self.starts, self.control = _line_starts(text)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, i: int) -> str:
        starts = self.starts
        return self.text[starts[i]:starts[i + 1] - 1]

    def from_line(self, pos: int) -> Iterator[str]:
        """Lines ``pos``, ``pos + 1``, ... to the last, cut as they are taken."""
        starts = self.starts
        ends = map((1).__rsub__, map(starts.__getitem__, range(pos + 1, len(starts))))
        return map(self.text.__getitem__, map(slice, map(starts.__getitem__, range(pos, len(starts) - 1)), ends))


class _Parser:
    """Reads lines on demand: ``line(pos)`` skips blank and comment lines and
    returns (position, indentation, content); a table's rows are matched on
    the text, indentation included, without cutting it into lines first
    (:class:`_Lines`)."""

    def __init__(self, text: str, max_nodes: int | None) -> None:
        # control characters (a tab or a new line aside) anywhere, comments
        # included: a CR there would hide the rest of the line from this reader
        # but not from libyaml; libyaml refuses a NUL or a form feed
        self.raw = _Lines(text)
        control = self.raw.control  # (found with the line breaks in a large text)
        self.control = _has_control(text) if control is None else control
        self.n = len(self.raw)
        self.nodes = 0
        self.max_nodes = max_nodes
        self.shapes: dict[tuple[int, tuple[str, ...]], re.Pattern[str]] = {}
        self.checked: set[str] = set()  # table values known to be plain scalars of the subset
        # table rows: each distinct (keys, values) once (Table.distinct), and
        # the row of every table line read so far
        self.distinct: list[Row] = []
        self.row_nodes: list[int] = []  # nodes of each distinct row (a mapping, its keys and values)
        self.row_of: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        self.row_of_line: dict[int, dict[str, int]] = {}  # per indentation: line -> row
        # a line read as something else than it looks (the item after "- ")
        self.override: dict[int, tuple[int, str]] = {}
        # block tables: the distinct rows of each key order (values -> row),
        # and the values known to be of the subset, with the items of each
        self.block_rows: dict[tuple[str, ...], dict[str, int]] = {}
        self.block_shapes: dict[tuple[int, tuple[str, ...]], re.Pattern[str]] = {}
        self.key_orders: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.recent_keys: dict[int, list[tuple[str, ...]]] = {}  # per indentation, the key orders met last
        self.text = text

    def line(self, pos: int) -> tuple[int, int, str]:
        """The next line with content at or after ``pos``: (pos, indent,
        content); (n, -1, "") at the end."""
        raw, n = self.raw, self.n
        while pos < n:
            if pos in self.override:
                ind, content = self.override[pos]
                return pos, ind, content
            line = raw[pos]
            content = line.lstrip(" ")
            if content and content[0] != "#":
                if not line.isprintable():  # tabs, CR, control characters
                    raise Decline("control character")
                return pos, len(line) - len(content), content.rstrip(" ")
            pos += 1
        return n, -1, ""

    def count(self, n: int) -> None:
        self.nodes += n
        if self.max_nodes is not None and self.nodes > self.max_nodes:
            raise Decline("too many nodes")

    def document(self) -> Node:
        if self.control:
            raise Decline("control character")
        pos, ind, content = self.line(0)
        if ind != 0 or content.startswith(("---", "...", "%", "-")) or _KEY.match(content) is None:
            raise Decline("not a block mapping")
        root, pos = self.mapping(pos, 0, 0)
        if self.line(pos)[0] != self.n:
            raise Decline("content after the document")
        return root

    # -- blocks ----------------------------------------------------------------

    def mapping(self, pos: int, indent: int, depth: int) -> tuple[Mapping, int]:
        """The block mapping whose first key is on line ``pos`` at ``indent``."""
        if depth > MAX_NESTING:
            raise Decline("deep")
        pairs: list[tuple[Any, Any]] = []
        start = Mark(pos, indent)
        while True:
            pos, ind, content = self.line(pos)
            if ind != indent:
                if ind > indent:
                    raise Decline("indentation")
                break
            mark = Mark(pos, indent)
            m = _KEY.match(content)
            if m is not None:
                key = Scalar(PLAIN, m.group(1), mark)
            else:
                m = _QUOTED_KEY.match(content)  # ``"sga":``, as ptcalc scan writes segment names
                if m is None:
                    raise Decline("not a key")
                key = Scalar(STR, m.group(1) if m.group(1) is not None else m.group(2), mark)
            rest = content[m.end():]
            if not rest or rest[0] == "#":
                # the value is on the next lines: a nested block, a sequence
                # at the same indentation, or nothing (null)
                npos, nind, ncontent = self.line(pos + 1)
                if nind > indent:
                    value, pos = self.block(npos, nind, depth + 1)
                elif nind == indent and ncontent[0] == "-" and ncontent[1:2] in (" ", ""):
                    value, pos = self.sequence(npos, indent, depth + 1)
                else:
                    value, pos = Scalar(PLAIN, "", mark), pos + 1
                    self.count(1)
            else:
                value = self.inline(rest, mark)
                pos += 1
            pairs.append((key, value))
        self.count(1 + len(pairs))
        return Mapping(pairs, start), pos

    def block(self, pos: int, indent: int, depth: int) -> tuple[Node, int]:
        content = self.line(pos)[2]
        if content[0] == "-" and content[1:2] in (" ", ""):
            return self.sequence(pos, indent, depth)
        return self.mapping(pos, indent, depth)

    def sequence(self, pos: int, indent: int, depth: int) -> tuple[Node, int]:
        """The block sequence whose first ``-`` is on line ``pos`` at ``indent``."""
        if depth > MAX_NESTING:
            raise Decline("deep")
        first = self.line(pos)[2]
        if first.startswith("- {"):
            table = self.table(pos, indent)
            if table is not None:
                return table
        elif _KEY.match(first, 2) is not None and first[1:2] == " ":
            block = self.block_table(pos, indent)
            if block is not None:
                return block
        items: list[Any] = []
        start = Mark(pos, indent)
        while True:
            pos, ind, content = self.line(pos)
            if ind != indent or content[0] != "-":
                if ind > indent:
                    raise Decline("indentation")
                break
            rest = content[1:]
            item = rest.lstrip(" ")
            if not item or item[0] == "#" or rest[:1] != " ":
                raise Decline("empty item")  # "-" then a nested block: rare, left to libyaml
            col = indent + len(content) - len(item)
            if item[0] == "-" and item[1:2] in (" ", ""):
                raise Decline("nested sequence")
            mark = Mark(pos, col)
            if item[0] == "{":
                items.append(self.flow_mapping(item, mark))
                pos += 1
            elif _KEY.match(item) is not None:
                # "- key: value": a mapping whose keys line up after the dash
                self.override[pos] = (col, item)
                node, pos = self.mapping(pos, col, depth + 1)
                items.append(node)
            else:
                items.append(self.inline(item, mark))
                pos += 1
        self.count(1)
        return Sequence(items, start), pos

    def table(self, pos: int, indent: int) -> tuple[Table, int] | None:
        """A run of ``- {k: v, ...}`` lines at ``indent`` (comment lines may
        come between), read a block of consecutive lines at a time
        (:meth:`rows`).  None when a line is anything else (the item-by-item
        reader then decides)."""
        raw, n = self.raw, self.n
        starts_row = methodcaller("startswith", " " * indent + "- {")
        known = self.row_of_line.setdefault(indent, {}).get
        rows: list[int] = []
        start_line = pos
        while True:
            # lines read before (the same text, at this indentation): looked up
            lines = raw.from_line(pos)
            seen = cast("list[int]", list(takewhile(_is_row, map(known, lines))))
            rows.extend(seen)
            pos += len(seen)
            if pos < n and starts_row(raw[pos]):
                # new lines: the block of consecutive lines from pos that are rows
                block = list(takewhile(starts_row, raw.from_line(pos)))
                pos += len(block)
                if not self.rows(block, indent, rows):
                    return None
                continue
            npos, nind, ncontent = self.line(pos)
            if nind == indent and ncontent.startswith("- {"):
                pos = npos  # the table goes on after a comment or blank line
                continue
            if nind > indent or (nind == indent and ncontent[:1] == "-"):
                return None  # continuation lines, or other items: item by item
            break
        self.count(1 + sum(map(self.row_nodes.__getitem__, rows)))
        return Table(rows, self.distinct, Mark(start_line, indent)), pos

    def rows(self, lines: list[str], indent: int, rows: list[int]) -> bool:
        """Append the row numbers of consecutive ``- {...}`` lines to ``rows``;
        False when one is not a flow mapping of the subset.  A line read
        before (the same text) is not read again."""
        row_of_line = self.row_of_line[indent]
        found = list(map(row_of_line.get, lines))
        if None in found:
            new = list(dict.fromkeys(line for line, row in zip(lines, found) if row is None))
            parsed = self.parse_rows(new, indent)
            if parsed is None:
                return False
            row_of, distinct, row_nodes = self.row_of, self.distinct, self.row_nodes
            for line, row in zip(new, parsed):
                number = row_of.get(row)
                if number is None:
                    number = row_of[row] = len(distinct)
                    distinct.append((row[0], SEP.join(row[1])))
                    row_nodes.append(1 + 2 * len(row[0]))
                row_of_line[line] = number
            rows.extend(map(row_of_line.__getitem__, lines))
        else:
            rows.extend(cast("list[int]", found))  # (no None in it)
        return True

    def parse_rows(self, lines: list[str], indent: int
                   ) -> list[tuple[tuple[str, ...], tuple[str, ...]]] | None:
        """(keys, values) of each ``- {...}`` line; None when one is not a
        flow mapping of the subset.  One regular expression for the first
        line's key order reads them all when they share it."""
        first = self.flow_row(lines[0].lstrip(" "))
        if first is None:
            return None
        keys = first[0]
        found = self.shape(indent, keys).findall("\n".join(lines))
        if len(found) == len(lines):
            if len(keys) == 1:
                found = [(v,) for v in found]
            # the pattern only took each row apart at its separators: each
            # distinct value must now prove to be a plain scalar of the subset
            checked = self.checked
            new = set().union(*found) - checked
            if all(_PLAIN_FLOW_VALUE.fullmatch(v) for v in new):
                checked |= new
                return [(keys, values) for values in found]
        out = []
        for line in lines:  # key orders differ: line by line
            row = self.flow_row(line.lstrip(" "))
            if row is None:
                return None
            out.append(row)
        return out

    def shape(self, indent: int, keys: tuple[str, ...]) -> re.Pattern[str]:
        """The regular expression of ``- {k1: v1, k2: v2}`` lines indented by
        ``indent``, with these keys in this order (one match per line)."""
        pattern = self.shapes.get((indent, keys))
        if pattern is None:
            # values: anything but the flow indicators, checked value by value
            # afterwards (rows() -- faster than the exact pattern per line)
            inner = ", ".join(f"{re.escape(k)}: ([^,{{}}#:\n]+)" for k in keys)
            pattern = re.compile("(?m)^" + " " * indent + r"- \{ *" + inner + r" *\} *$")
            self.shapes[(indent, keys)] = pattern
        return pattern

    def block_table(self, pos: int, indent: int) -> tuple[Table, int] | None:
        """A run of block mappings at ``indent`` whose every value is on its
        key's line (a flow sequence may go on over lines indented deeper), as
        ``ptcalc scan`` writes mappings; None when any item is otherwise (the
        item-by-item reader then decides).  Items with the keys of the one
        before, in the same order (the usual case), are matched on the text
        by one regular expression per key order, item after item
        (:meth:`block_shape`), without cutting the text into lines."""
        text = self.text
        rows: list[int] = []
        start_line = pos
        nodes = 0
        recent = self.recent_keys.setdefault(indent, [])
        while True:
            offset = self.raw.starts[pos]
            # the key orders met last at this indentation first (every
            # table of a generated file has the same one or two): the first
            # that matches is the first item's keys (block_keys) unless the
            # last item matched goes on with a key line (a longer key order)
            for keys in recent:
                matches = self.block_items(keys, indent, offset)
                if matches and not self.goes_on(matches[-1].end(), indent):
                    break
            else:
                found_keys = self.block_keys(pos, indent)
                if found_keys is None:
                    return None
                # one tuple a key order: its rows' keys compare by identity
                # (columns.read_rows checks that every row has the first's)
                keys = self.key_orders.setdefault(found_keys, found_keys)
                matches = self.block_items(keys, indent, offset)
                if not matches:
                    return None
                recent.insert(0, keys)
                del recent[4:]
            end = matches[-1].end()
            lines = text.count("\n", offset, end)
            if end == len(text) and not text.endswith("\n"):
                lines += 1
            found = list(map(_groups, matches))
            del matches
            if lines != len(found) * len(keys):  # a flow sequence over several lines
                joined = self.folded(found, indent)
                if joined is None:
                    return None
                found = joined
            nodes += self.block_rows_of(keys, found, rows)
            pos += lines
            npos, nind, ncontent = self.line(pos)
            if nind == indent and ncontent[:2] == "- " and _KEY.match(ncontent, 2) is not None:
                pos = npos  # another key order, or the items go on after a comment or blank line
                continue
            if nind > indent or (nind == indent and ncontent[:1] == "-"):
                return None
            break
        self.count(1 + nodes)
        return Table(rows, self.distinct, Mark(start_line, indent)), pos

    def block_items(self, keys: tuple[str, ...], indent: int, offset: int) -> list[re.Match[str]]:
        """The items with these keys at ``indent`` from ``offset`` on, one
        after another (:meth:`block_shape`)."""
        # Pattern.scanner (CPython's, untyped in typeshed): matches one after another, each where the last ended
        scanner = self.block_shape(indent, keys).scanner(self.text, offset)  # type: ignore[attr-defined]
        return list(iter(scanner.match, None))

    def goes_on(self, end: int, indent: int) -> bool:
        """Whether the line at ``end`` is indented as an item's key line
        (``indent + 2`` spaces and no more): the item before it has more
        keys, or a line block_keys refuses."""
        lead = indent + 2
        text = self.text
        return text.startswith(" " * lead, end) and text[end + lead:end + lead + 1] != " "

    def block_keys(self, pos: int, indent: int) -> tuple[str, ...] | None:
        """The keys of the item on line ``pos`` (``- k: v``, then ``k: v``
        lines at indent + 2, each key followed by one space and a value on
        its line; lines indented deeper go on with a flow sequence), or None."""
        raw, n = self.raw, self.n
        lead = indent + 2
        head = " " * indent + "- "
        keys: list[str] = []
        while pos < n:
            line = raw[pos]
            if keys and line[:lead + 1] == " " * (lead + 1):
                pos += 1  # a flow sequence going on
                continue
            if line[:lead] != head:
                break
            m = _KEY.match(line, lead)
            if m is None or m.end() != lead + len(m.group(1)) + 2:  # "key: value", one space
                return None
            keys.append(m.group(1))
            head = " " * lead
            pos += 1
        if not keys or len(set(keys)) != len(keys):
            return None  # (a duplicate key: the loader's own path reports it)
        return tuple(keys)

    def block_shape(self, indent: int, keys: tuple[str, ...]) -> re.Pattern[str]:
        """The regular expression of one item with these keys in this order at
        ``indent``: a group per value, which must be a value of the subset
        (:data:`_TABLE_VALUE`), or a flow sequence over lines indented
        deeper (checked once its lines are joined: :meth:`folded`)."""
        pattern = self.block_shapes.get((indent, keys))
        if pattern is None:
            deeper = " " * (indent + 3)
            value = (rf"((?>{_PLAIN_BLOCK_P}|\"[^\"\\#\n]*+\"|'[^'#\n]*+'|{_FLOW_SEQUENCE_TEXT_P}"
                     rf"|\[[^\[\]{{}}#\n]*(?:\n{deeper}[^\[\]{{}}#\n]*)+\])) *+")
            lines = [" " * indent + "- " + re.escape(keys[0]) + ": " + value]
            lines += [" " * (indent + 2) + re.escape(k) + ": " + value for k in keys[1:]]
            pattern = re.compile("\n".join(lines) + r"(?:\n|\Z)")
            self.block_shapes[(indent, keys)] = pattern
        return pattern

    @staticmethod
    def folded(found: list[tuple[str, ...]], indent: int) -> list[tuple[str, ...]] | None:
        """Rows with each flow sequence written over several lines joined
        (line breaks and the indentation after them folded to one space, as
        YAML does); None when one is then not of the subset."""
        out = []
        for row in found:
            if any("\n" in v for v in row):
                row = tuple(re.sub(r"\n +", " ", v) for v in row)
                if not all(_TABLE_VALUE.fullmatch(v) for v in row):
                    return None
            out.append(row)
        return out

    def block_rows_of(self, keys: tuple[str, ...], found: list[tuple[str, ...]], rows: list[int]) -> int:
        """Append the row numbers of items with these keys and values to
        ``rows`` (each distinct row of the document numbered once); returns
        their nodes (each item's mapping, keys and values, and the items of
        its flow sequences)."""
        packed = list(map(SEP.join, found))  # (Row)
        # the flow sequences' items, counted on every value joined, each after
        # a SEP: a flow sequence is a value that starts with "[" and holds no
        # bracket inside (nor a line break, nor a SEP), so each matches
        # _FLOW_VALUE whole, an empty one _EMPTY_FLOW_VALUE
        extra = 0
        every = SEP + SEP.join(packed)
        if "[" in every:
            flows = _FLOW_VALUE.findall(every)
            if flows:
                extra = "".join(flows).count(",") + len(flows) - len(_EMPTY_FLOW_VALUE.findall(every))
        del every
        row_of = self.block_rows.setdefault(keys, {})
        base = len(self.distinct)
        if row_of.keys().isdisjoint(packed):
            known = len(row_of)
            row_of.update(zip(packed, range(base, base + len(packed))))
            if len(row_of) == known + len(packed):
                # every item a row not seen before (distinct mappings): numbered in order
                self.distinct.extend(zip(repeat(keys), packed))
                self.row_nodes.extend(repeat(1 + 2 * len(keys), len(packed)))
                rows.extend(range(base, base + len(packed)))
                return len(found) * (1 + 2 * len(keys)) + extra
            for v in packed:  # a row twice among them: as it was (none of them was there), numbered below
                row_of.pop(v, None)
        new = [v for v in dict.fromkeys(packed) if v not in row_of]
        if new:
            base = len(self.distinct)
            row_of.update(zip(new, range(base, base + len(new))))
            self.distinct.extend(zip(repeat(keys), new))
            self.row_nodes.extend(repeat(1 + 2 * len(keys), len(new)))  # (flow tables' count; never a block row's)
        rows.extend(map(row_of.__getitem__, packed))
        return len(found) * (1 + 2 * len(keys)) + extra

    @staticmethod
    def flow_row(content: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """(keys, values) of a ``- {k: v, ...}`` line, or None."""
        m = _FLOW_MAPPING.fullmatch(content, 2) if content.startswith("- ") else None
        if m is None:
            return None
        inner = m.group(1)
        if not inner:
            return (), ()
        keys: list[str] = []
        values: list[str] = []
        for item in inner.split(","):
            im = _FLOW_ITEM.fullmatch(item.strip(" "))
            if im is None:
                return None
            keys.append(im.group(1))
            values.append(im.group(2))
        if len(set(keys)) != len(keys):
            return None  # a duplicate key: the loader's own path reports it
        return tuple(keys), tuple(values)

    # -- values on one line -------------------------------------------------------

    def inline(self, text: str, mark: Mark) -> Node:
        """A value written after ``key:`` or ``-`` on the same line."""
        if text[0] == "{":
            return self.flow_mapping(text, mark)
        if text[0] == "[":
            m = _FLOW_SEQUENCE.fullmatch(text)  # ``private_mappings: []``, ``touch: [0-2M, 4M-6M]``
            if m is None:
                raise Decline("flow sequence")
            node = value_node(m.group(1), mark)
            self.count(1 + len(node.value))
            return node
        m = _BLOCK_VALUE.fullmatch(text)
        if m is None:
            raise Decline("value")
        self.count(1)
        plain, double, single = m.groups()
        if plain is not None:
            return Scalar(PLAIN, plain, mark)
        return Scalar(STR, double if double is not None else single, mark)

    def flow_mapping(self, text: str, mark: Mark) -> Mapping:
        m = _FLOW_MAPPING.fullmatch(text)
        if m is None:
            raise Decline("flow")
        inner = m.group(1)
        pairs: list[tuple[Any, Any]] = []
        if inner:
            for item in inner.split(","):
                im = _FLOW_ITEM.fullmatch(item.strip(" "))
                if im is None:
                    raise Decline("flow item")
                pairs.append((Scalar(PLAIN, im.group(1), mark), Scalar(PLAIN, im.group(2), mark)))
        self.count(1 + 2 * len(pairs))
        return Mapping(pairs, mark)


__all__ = ["MAP", "PLAIN", "SEP", "SEQ", "STR", "Mapping", "Mark", "Node", "Row", "Scalar", "Sequence", "Table",
           "parse", "parse_documents", "unpack", "value_node"]
