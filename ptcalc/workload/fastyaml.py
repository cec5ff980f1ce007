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
from itertools import takewhile
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
_KEY = re.compile(rf"(?:({_PLAIN_FLOW})|\"([^\"\\#]*)\"):(?: +|$)")
"""``key:`` or ``"key":`` (double-quoted without escapes or ``#``, as ``ptcalc scan``
writes segment names) at the start of a line's content, and the spaces after it."""
_BLOCK_VALUE = re.compile(rf"(?:({_PLAIN_BLOCK})|\"([^\"\\#]*)\"|'([^'#]*)') *{_COMMENT}")
_FLOW_ITEM = re.compile(rf"({_PLAIN_FLOW}): ({_PLAIN_FLOW})")
_EMPTY = re.compile(rf" *{_COMMENT}")
_FLOW_MAPPING = re.compile(r"\{ *(.*?) *\}" + _COMMENT)
_EMPTY_FLOW_SEQUENCE = re.compile(r"\[ *\]" + _COMMENT)


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
    """A sequence of one-line flow mappings of plain scalars, kept as row
    numbers (no node per scalar): ``rows[i]`` is item i's index in
    ``distinct``, the document's distinct rows -- (keys, values), each once,
    shared by every table of the document (a generated workload repeats a
    few hundred rows thousands of times).  ``item(i)`` and ``value`` build
    the item nodes, for code that reads it as an ordinary sequence."""

    id = "sequence"
    tag = SEQ
    __slots__ = ("rows", "distinct", "start_mark")

    def __init__(self, rows: list[int], distinct: list[tuple[tuple[str, ...], tuple[str, ...]]],
                 start_mark: Mark) -> None:
        self.rows = rows
        self.distinct = distinct
        self.start_mark = start_mark

    def __len__(self) -> int:
        return len(self.rows)

    def item(self, i: int) -> Mapping:
        """Item ``i`` as a mapping node."""
        keys, values = self.distinct[self.rows[i]]
        mark = self.start_mark
        return Mapping([(Scalar(PLAIN, k, mark), Scalar(PLAIN, v, mark)) for k, v in zip(keys, values)], mark)

    def scalar(self, i: int, k: int) -> Scalar:
        """The value node of item ``i``'s ``k``-th key (``item(i).value[k][1]``)."""
        return Scalar(PLAIN, self.distinct[self.rows[i]][1][k], self.start_mark)

    @property
    def value(self) -> list[Mapping]:
        return [self.item(i) for i in range(len(self))]


Node = Scalar | Mapping | Sequence | Table


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


class _Parser:
    """Reads lines on demand: ``line(pos)`` skips blank and comment lines and
    returns (position, indentation, content); a table's rows are matched on
    the raw lines, indentation included, without splitting them first."""

    def __init__(self, text: str, max_nodes: int | None) -> None:
        self.raw = text.split("\n")
        self.n = len(self.raw)
        self.nodes = 0
        self.max_nodes = max_nodes
        self.shapes: dict[tuple[int, tuple[str, ...]], re.Pattern[str]] = {}
        self.checked: set[str] = set()  # table values known to be plain scalars of the subset
        # table rows: each distinct (keys, values) once (Table.distinct), and
        # the row of every table line read so far
        self.distinct: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self.row_nodes: list[int] = []  # nodes of each distinct row (a mapping, its keys and values)
        self.row_of: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        self.row_of_line: dict[int, dict[str, int]] = {}  # per indentation: line -> row
        # a line read as something else than it looks (the item after "- ")
        self.override: dict[int, tuple[int, str]] = {}

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
            m = _KEY.match(content)
            if m is None:
                raise Decline("not a key")
            mark = Mark(pos, indent)
            key = Scalar(PLAIN, m.group(1), mark) if m.group(1) is not None else Scalar(STR, m.group(2), mark)
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
        if self.line(pos)[2].startswith("- {"):
            table = self.table(pos, indent)
            if table is not None:
                return table
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
            lines = map(raw.__getitem__, range(pos, n))
            seen = cast("list[int]", list(takewhile(_is_row, map(known, lines))))
            rows.extend(seen)
            pos += len(seen)
            if pos < n and starts_row(raw[pos]):
                # new lines: the block of consecutive lines from pos that are rows
                block = list(takewhile(starts_row, map(raw.__getitem__, range(pos, n))))
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
                    distinct.append(row)
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
        if _EMPTY_FLOW_SEQUENCE.fullmatch(text):  # ``private_mappings: []``
            self.count(1)
            return Sequence([], mark)
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


__all__ = ["MAP", "PLAIN", "SEQ", "STR", "Mapping", "Mark", "Node", "Scalar", "Sequence", "Table", "parse",
           "parse_documents"]
