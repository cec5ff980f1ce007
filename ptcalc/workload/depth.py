"""How deeply a YAML text's collections nest, found before any parser sees it.

PyYAML's C extension composes a node graph by recursion, one C stack frame
per level of nesting; with the libyaml 0.2.5 its wheels up to 6.0.3 bundle,
nothing bounds the depth, and a file of 100,000 ``[`` ends the process with
a segmentation fault (PyYAML 6.0.4's libyaml stops at 1,000 levels).  A
workload needs 5 levels.  :func:`too_deep` reads the text once, knowing just
enough of YAML's lexical rules to count the collections that would be open
at each point -- flow ``[``/``{`` outside quoted scalars, comments and block
scalars, and block collections by their indentation (``key:``, ``- ``,
``? ``, compact ``- - x``) -- and says where the count first passes the
limit, so that the message is located exactly where libyaml's own would be.

Its count may exceed the true depth in text that is not valid YAML (libyaml
would refuse it anyway); it never stays below the depth libyaml's events
reach (a property test checks this against libyaml's event stream, which is
produced without recursion).  A cheap bound (:func:`bound`) skips the scan
for ordinary files.

>>> too_deep("a: [[1]]\\n", 3) is None
True
>>> too_deep("a: [[[1]]]\\n", 3)
(1, 6)
>>> too_deep("- - - - x\\n", 3)
(1, 7)
>>> too_deep("a: '[[[[['\\n# [[[[\\n", 3) is None
True
"""

from __future__ import annotations

import re

_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
"""YAML's line breaks (libyaml counts lines by these)."""

_BLANK = " \t"
_FLOW_INDICATORS = ",[]{}"
_PROPERTY = re.compile(r"[0-9A-Za-z_-]*")
"""The rest of an anchor or alias (libyaml 0.2.5's characters; later ones
take more, but a node cannot follow one without a blank)."""
_TAG = re.compile(r"[^\s,{}]*")
"""The rest of a tag: libyaml before 0.2.5 takes ``[`` and ``]`` into a tag
(since, they end it, and a tag must be followed by a blank or ``,``)."""
_PLAIN_FLOW = re.compile(r"(?:[^\s,\[\]{}:]|:(?=[^\s,\[\]{}]))+")
"""A run of a plain scalar in a flow collection (stops before ``: ``, ``:``
before an indicator or the line's end, blanks and flow indicators)."""
_PLAIN_BLOCK_END = re.compile(r":(?=[ \t]|$)|[ \t]#")
"""Where a plain scalar in a block ends on its line: ``: `` (it was a key) or a comment."""
_DOUBLE_END = re.compile(r'(?:[^"\\]|\\.)*"')
"""The rest of a double-quoted scalar, to its closing quote (``\\`` escapes)."""
_BLOCK_SCALAR_HEADER = re.compile(r"[|>][0-9+-]*")


def _single_end(line: str, i: int) -> int:
    """Index after the quote closing a single-quoted scalar whose text starts
    at ``i`` (``''`` is an escaped quote), or -1 when it goes on past the line."""
    while True:
        j = line.find("'", i)
        if j < 0:
            return -1
        if line.startswith("'", j + 1):
            i = j + 2
            continue
        return j + 1


def _quote_end(line: str, i: int, quote: str) -> int:
    if quote == "'":
        return _single_end(line, i)
    m = _DOUBLE_END.match(line, i)
    return -1 if m is None else m.end()


_COMMENT_LINE = re.compile(r"(?m)^[ \t]*#.*$")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LEADING = re.compile(r"(?m)^(?:[ \t]*(?:[-?:](?=[ \t]|$)|&\S*|!\S*))*[ \t]*")
"""A line's indentation with the block indicators and properties that follow it."""


def bound(text: str) -> int | None:
    """An upper bound of the nesting depth of ``text``, computed without
    reading it token by token, or None when quotes, tags or comments after
    content could hide brackets from it.

    Flow: without quotes, tags and comments, every bracket is one, and the
    running count of ``[{`` less ``]}`` (never below 0) is at least the flow
    depth; a pair written in a flow sequence (``[a: b]``) is a mapping of
    its own, so at most twice that.  Block: collections open at one time
    have distinct columns but for a sequence written at its mapping's
    indentation, and a line opens them only in its indentation, the
    indicators and properties after it (``- - ? x``) and one key; so at most
    two per column of the longest such prefix, plus one.

    >>> bound("a: [[1]]\\n- {b: 2}\\n")
    11
    >>> bound("a: '[[['\\n") is None
    True
    """
    if "\r" in text or "\x85" in text or "\u2028" in text or "\u2029" in text:
        text = _BREAK.sub("\n", text)
    body = _COMMENT_LINE.sub("", text) if "#" in text else text
    if "'" in body or '"' in body or "#" in body or "!" in body:
        return None
    depth = peak = 0
    for c in _NOT_BRACKET.sub("", body):
        if c in "[{":
            depth += 1
            if depth > peak:
                peak = depth
        elif depth:
            depth -= 1
    lead = max(map(len, _LEADING.findall(body)), default=0)
    return 2 * peak + 2 * (lead + 1) + 1


class _Scan:
    """The state carried from line to line."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.cols: list[int] = []  # columns of the open block collections
        self.kinds: list[str] = []  # "m" (mapping) or "s" (sequence) for each
        self.fstack: list[str] = []  # open flow collections: "[", "{", "p" (a single pair in a sequence)
        self.entry = -1  # column where the current entry of a flow sequence began (-1: none yet)
        self.flow_col = 0
        self.first_at: list[int] = []  # where each depth of the current flow collection was first reached  # column where the outermost flow collection began (a key?)
        self.in_plain = False  # in flow: inside a plain scalar (quotes are text)
        self.expect = True  # in flow: the next token starts a node
        self.quote = ""  # a quoted scalar goes on to the next line
        self.quote_col = 0
        self.scalar: int | None = None  # in a block scalar: its parent's column
        self.scalar_indent: int | None = None  # the block scalar's content column, once seen
        self.plain_block = False  # a plain scalar in a block may go on on the next line
        self.line = 0
        self.pending: tuple[int, int] | None = None  # properties that ended a line, for the next node

    def depth(self) -> int:
        return len(self.cols) + len(self.fstack)

    def over(self, column: int) -> None:
        if self.depth() > self.limit:
            if self.pending is not None:  # properties on the line before start the collection
                raise _TooDeep(*self.pending)
            raise _TooDeep(self.line, column + 1)

    def top(self) -> int:
        return self.cols[-1] if self.cols else -1

    # -- block context ---------------------------------------------------------

    def open_block(self, col: int, kind: str) -> bool:
        """A block collection of ``kind`` at ``col``: the one open there, or a
        new one (True)."""
        cols, kinds = self.cols, self.kinds
        if cols and cols[-1] == col:
            if kinds[-1] == kind:
                return False
            if kind == "m" and len(cols) >= 2 and cols[-2] == col and kinds[-2] == "m":
                cols.pop()  # the next key ends a sequence written at its mapping's indentation
                kinds.pop()
                return False
            if kind == "m":
                kinds[-1] = kind  # not YAML (libyaml refuses it): keep counting
                return False
        elif cols and cols[-1] > col:  # pragma: no cover - closed before (line start)
            return False
        cols.append(col)
        kinds.append(kind)
        self.over(col)
        return True

    def block_line(self, line: str) -> None:
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        content = stripped.lstrip(_BLANK)
        if self.scalar is not None:
            # a block scalar's text: blank lines and lines indented past its parent
            if indent == 0 and _marker(line):
                self.scalar = self.scalar_indent = None
            elif not content or (indent > self.scalar and (self.scalar_indent is None or indent >= self.scalar_indent)):
                if content and self.scalar_indent is None:
                    self.scalar_indent = indent
                return
            else:
                self.scalar = self.scalar_indent = None
        if not content:
            return
        if content[0] == "#":
            self.plain_block = False  # a comment line ends a plain scalar
            return
        if self.plain_block and indent > self.top() and not (indent == 0 and _marker(line)):
            # a plain scalar's next line: text, to the end of the line or a comment
            if _PLAIN_BLOCK_END.search(line, indent) is not None:
                self.plain_block = False
            return
        self.plain_block = False
        if indent == 0 and (content[0] == "%" or _marker(line)):
            self.cols.clear()
            self.kinds.clear()
            if line.startswith("---"):
                self.node(line, 3)
            return
        while self.cols and self.cols[-1] > indent:
            self.cols.pop()
            self.kinds.pop()
        self.node(line, indent)

    def node(self, line: str, i: int) -> None:
        """A node starts at ``i`` (block context): indicators, properties, then
        a flow collection, a quoted, block or plain scalar."""
        n = len(line)
        prop = -1  # where the node's properties began (a key's mapping starts there)
        while True:
            while i < n and line[i] in _BLANK:
                i += 1
            if i >= n or line[i] == "#":
                if prop >= 0:
                    self.pending = (self.line, prop + 1)
                return
            c = line[i]
            if c == "#":
                return
            if c in "-?:" and (i + 1 == n or line[i + 1] in _BLANK):
                self.open_block(i if prop < 0 else prop, "s" if c == "-" else "m")
                prop = -1
                i += 1
                continue
            if c in "&!":
                if prop < 0:
                    prop = i
                i = (_TAG if c == "!" else _PROPERTY).match(line, i + 1).end()  # type: ignore[union-attr]
                continue
            if c in "|>":
                self.scalar = self.top()
                digits = [d for d in _BLOCK_SCALAR_HEADER.match(line, i).group() if d.isdigit()]  # type: ignore[union-attr]
                # libyaml: an indentation indicator counts from the parent's indentation
                self.scalar_indent = max(self.scalar, 0) + int(digits[0]) if digits else None
                return
            col = i if prop < 0 else prop
            prop = -1
            if c in "[{":
                self.flow_col = col
                i = self.flow_line(line, i)
                if self.fstack:
                    return  # the collection goes on on the next lines
                self.after_node(line, i, col, flow=True)
                return
            elif c in "'\"":
                end = _quote_end(line, i + 1, c)
                if end < 0:
                    self.quote, self.quote_col = c, col
                    return
                i = end
            elif c == "*":
                i = _PROPERTY.match(line, i + 1).end()  # type: ignore[union-attr]
            else:
                m = _PLAIN_BLOCK_END.search(line, i)
                if m is None:
                    self.plain_block = True
                    return
                if m.group()[0] != ":":
                    return  # a comment ends it
                self.open_block(col, "m")  # a plain key
                i = m.end()
                continue
            self.after_node(line, i, col)
            return

    def after_node(self, line: str, i: int, col: int, flow: bool = False) -> None:
        """After a quoted scalar, alias or (``flow``) a flow collection on this
        line that began at ``col``: ``:`` makes it a key; then the value."""
        m = _PLAIN_BLOCK_END.search(line, i)  # (libyaml lets text stand between a key and its ":")
        if m is not None and m.group()[0] == ":":
            i = m.start()
            if self.open_block(col, "m") and flow:
                # the mapping began before its key: the key's collections were one level deeper
                k = self.limit - self.depth() + 1
                if 1 <= k <= len(self.first_at):
                    raise _TooDeep(self.line, self.first_at[k - 1] + 1)
            self.node(line, i + 1)

    # -- flow context ----------------------------------------------------------

    def flow_line(self, line: str, i: int) -> int:
        """Read flow tokens from ``i``; returns where the outermost collection
        closed (block context again), or the line's end."""
        n = len(line)
        stack = self.fstack
        if not stack:
            end = self.flow_counted(line, i)
            if end >= 0:
                return end
        while i < n:
            c = line[i]
            if c in _BLANK:
                i += 1
                continue
            if c in "[{":
                self.entry_start(i)
                if not stack:
                    self.first_at = []
                stack.append(c)
                if len(stack) > len(self.first_at):
                    self.first_at.append(i)
                self.over(i)
                self.expect, self.in_plain, self.entry = True, False, -1
                i += 1
            elif c in "]}":
                if stack and stack[-1] == "p":
                    stack.pop()
                if stack:
                    stack.pop()
                self.expect = self.in_plain = False
                self.entry = -2  # (after a collection: an entry already began)
                i += 1
                if not stack:
                    return i
            elif c == ",":
                if stack and stack[-1] == "p":
                    stack.pop()
                self.expect, self.in_plain, self.entry = True, False, -1
                i += 1
            elif c == "#" and (i == 0 or line[i - 1] in _BLANK or not self.in_plain):
                return n  # a comment
            elif (c == ":" and (not self.in_plain or i + 1 == n or line[i + 1] in _BLANK + _FLOW_INDICATORS)) or (
                    c == "?" and not self.in_plain and (i + 1 == n or line[i + 1] in _BLANK)):
                if stack and stack[-1] == "[":
                    # a single pair in a sequence is a mapping of its own, from the key on
                    stack.append("p")
                    at = self.entry if self.entry >= 0 else i
                    if len(stack) > len(self.first_at):
                        self.first_at.append(at)
                    self.over(at)
                self.expect, self.in_plain = True, False
                i += 1
            elif not self.in_plain and c in "'\"":
                self.entry_start(i)
                end = _quote_end(line, i + 1, c)
                if end < 0:
                    self.quote = c
                    return n
                self.expect = self.in_plain = False
                i = end
            elif not self.in_plain and c in "&!":
                self.entry_start(i)
                i = (_TAG if c == "!" else _PROPERTY).match(line, i + 1).end()  # type: ignore[union-attr]
                self.expect = True
            elif not self.in_plain and c == "*":
                self.entry_start(i)
                i = _PROPERTY.match(line, i + 1).end()  # type: ignore[union-attr]
                self.expect = False
            elif not self.in_plain and c == "-" and (i + 1 == n or line[i + 1] in _BLANK):
                self.expect = True
                i += 1
            else:
                self.entry_start(i)
                m = _PLAIN_FLOW.match(line, i)
                i = m.end() if m is not None and m.end() > i else i + 1
                self.in_plain, self.expect = True, False
        self.entry = -2 if self.entry >= 0 else self.entry  # a key ends with its line
        return n

    def entry_start(self, i: int) -> None:
        if self.entry == -1:
            self.entry = i

    def flow_counted(self, line: str, i: int) -> int:
        """A flow collection from ``i`` that closes on this line, with no quote,
        comment or property, and the limit out of reach even if every ``:``
        made a mapping: counted, not read; returns where it closed (-1: read it)."""
        rest = line[i:]
        opens = rest.count("[") + rest.count("{")
        if (any(c in rest for c in "'\"#&!*") or rest.count("[") != rest.count("]")
                or rest.count("{") != rest.count("}") or self.depth() + opens + rest.count(":") > self.limit):
            return -1
        # the outermost collection closes at the last bracket (counts are equal:
        # libyaml refuses any other order)
        self.first_at = []
        return i + max(rest.rfind("]"), rest.rfind("}")) + 1

    # -- lines -----------------------------------------------------------------

    def read(self, line: str) -> None:
        pending = self.pending
        self.read_line(line)
        if self.pending is pending:
            self.pending = None

    def read_line(self, line: str) -> None:
        i = 0
        if self.quote:
            end = _quote_end(line, 0, self.quote)
            if end < 0:
                return
            self.quote = ""
            i = end
            if not self.fstack:
                self.after_node(line, i, self.quote_col)
                return
            self.expect = self.in_plain = False
        if self.fstack:
            i = self.flow_line(line, i)
            if not self.fstack:
                self.after_node(line, i, self.flow_col)  # (a key is one line: not one)
            return
        self.block_line(line)


def _marker(line: str) -> bool:
    """A document marker line (``---`` or ``...`` at column 0)."""
    return line.startswith(("---", "...")) and (len(line) == 3 or line[3] in _BLANK)


class _TooDeep(Exception):
    def __init__(self, line: int, column: int) -> None:
        self.where = (line, column)


def too_deep(text: str, limit: int) -> tuple[int, int] | None:
    """The 1-based (line, column) where ``text``'s collections first nest
    more than ``limit`` deep, or None."""
    quick = bound(text)
    if quick is not None and quick <= limit:
        return None
    scan = _Scan(limit)
    try:
        for number, line in enumerate(_BREAK.split(text), 1):
            scan.line = number
            scan.read(line)
    except _TooDeep as e:
        return e.where
    return None


__all__ = ["too_deep"]
