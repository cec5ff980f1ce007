"""YAML with positions: text in, a composed node graph out, or one located error.

The loader validates the *composed* node graph, not constructed Python
objects: every node keeps its start mark (line, column), so a problem is
reported where it is written, and duplicate keys -- which PyYAML's
constructor would silently collapse -- are still visible.

Scalars are not resolved here.  A plain (unquoted) scalar gets the tag
:data:`PLAIN` and a quoted or block scalar :data:`STR`; an explicit tag
(``!!int 5``) is kept.  The validation layer reads each value from its text,
knowing what type the key wants, so YAML 1.1's guesses (``yes`` is a boolean,
``1:30`` is 90, ``017`` is 15) never turn into a silent wrong number.

Parsing uses libyaml (``yaml.CSafeLoader``, bundled with PyYAML's wheels) when
it is there, else the pure-Python ``SafeLoader``; only syntax-error wording
differs between the two.
"""

from __future__ import annotations

import gc
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from ptcalc.errors import WorkloadError
from ptcalc.units import MiB
from ptcalc.workload.depth import too_deep

if TYPE_CHECKING:
    import yaml
    from yaml.nodes import Node

MAX_FILE_BYTES = 32 * MiB
"""Largest workload file read (checked before reading)."""

MAX_DEPTH = 1000
"""Deepest collection nesting parsed (PyYAML 6.0.4's libyaml limit, checked
before parsing for every PyYAML version; the format needs 5)."""

MAX_NODES = 2_000_000
"""Most nodes a document may expand to with every alias expanded.  100,000
mappings with every key written out take about 2,000,000; a 'billion laughs'
document (aliases of aliases) is refused before anything walks it."""

PLAIN = "!plain"
"""Tag of a plain (unquoted) scalar, left for the validation layer to read."""
STR = "tag:yaml.org,2002:str"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"


def _make_loader() -> type:
    """The composing loader class (imports yaml: only documents outside
    :mod:`ptcalc.workload.fastyaml`'s subset, and errors, need it)."""
    import yaml
    from yaml.nodes import MappingNode, ScalarNode

    base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # type: ignore[misc, valid-type]
        """Composes only; leaves plain scalars unresolved (the resolver's regexes
        cost more than libyaml's whole parse)."""

        def resolve(self, kind: type, value: object, implicit: object) -> str:
            if kind is ScalarNode:
                return PLAIN if implicit[0] else STR  # type: ignore[index]
            return MAP if kind is MappingNode else SEQ

    return _Loader


def _loader_class() -> type:
    loader = globals().get("_Loader")
    if loader is None:
        loader = globals()["_Loader"] = _make_loader()
    return loader  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    # yaml is imported on first use: a document in the fast subset never needs it.
    if name == "_Loader":
        return _loader_class()
    if name == "LIBYAML":
        import yaml

        return hasattr(yaml, "CSafeLoader")
    if name in ("MappingNode", "Node", "ScalarNode", "SequenceNode"):
        import yaml.nodes

        return getattr(yaml.nodes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# YAML 1.1 c-printable (section 5.1): everything else is rejected by the parser.
_NON_PRINTABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]"
)


def position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of character ``index`` in ``text``.

    >>> position("a: 1\\nbb: 2", 6)
    (2, 2)
    """
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def read_file(path: str | os.PathLike[str], source: str) -> bytes:
    """Read a workload file, refusing one over :data:`MAX_FILE_BYTES` before reading it.

    ``-`` reads standard input (with the same limit).
    """
    try:
        if os.fspath(path) == "-":
            stdin = getattr(sys.stdin, "buffer", None)
            if stdin is None:
                raise WorkloadError("there is no standard input to read", source=source)
            return read_stream(stdin, source)
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            raise too_large(size, source)
        with open(path, "rb") as f:
            return read_stream(f, source)
    except OSError as e:
        raise WorkloadError(f"cannot read the file: {e.strerror or e}", source=source) from None


def read_stream(stream: BinaryIO, source: str) -> bytes:
    """Read at most :data:`MAX_FILE_BYTES` from ``stream``; more is an error."""
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise too_large(None, source)
    return data


def too_large(size: int | None, source: str) -> WorkloadError:
    """The error for input over :data:`MAX_FILE_BYTES`."""
    what = f"{size:,} bytes" if size is not None else "more than 32 MiB"
    return WorkloadError(
        f"the file is {what}; a workload file may be at most 32 MiB",
        source=source,
        line=1,
        column=1,
    )


def decode(data: bytes, source: str) -> str:
    """UTF-8 bytes (an optional BOM is dropped) to text, or a located error."""
    if len(data) > MAX_FILE_BYTES:
        raise too_large(len(data), source)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise WorkloadError(
            "the file is UTF-16 text; save it as UTF-8", source=source, line=1, column=1
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start
        line = data.count(b"\n", 0, start) + 1
        line_start = data.rfind(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode("utf-8", "replace")) + 1
        raise WorkloadError(
            f"the file is not UTF-8 text (byte 0x{data[start]:02x}: {e.reason}); save it as UTF-8",
            source=source,
            line=line,
            column=column,
        ) from None


@contextmanager
def no_gc() -> Iterator[None]:
    # Composing allocates millions of small tracked objects; the cyclic GC
    # would rescan the growing heap again and again (3x slower at 100,000
    # mappings).  The graph has no cycles to collect but recursive aliases,
    # which are garbage collected normally once the GC is back on.
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compose(text: str, source: str) -> Node | None:
    """Parse one YAML document into its node graph (aliases are shared nodes,
    never expanded here).  Returns None for a document with no content."""
    _check_text(text, source)
    loader = _loader_class()(text)
    try:
        with _yaml_errors(text, source), no_gc():
            return loader.get_single_node()  # type: ignore[no-any-return]
    finally:
        loader.dispose()


def compose_all(text: str, source: str, max_documents: int) -> list[Node]:
    """Parse every YAML document of ``text`` (``---`` separates them) into its
    node graph; marks are file-absolute.  An empty file gives []; an explicit
    empty document gives an empty plain scalar.  More than ``max_documents``
    documents is an error located at the first one too many, raised before
    the rest is parsed."""
    _check_text(text, source)
    loader = _loader_class()(text)
    roots: list[Node] = []
    try:
        with _yaml_errors(text, source), no_gc():
            while loader.check_node():
                root = loader.get_node()
                if len(roots) == max_documents:
                    raise WorkloadError(
                        f"more than {max_documents:,} YAML documents (workloads) in one file; "
                        "split it into several files",
                        source=source,
                        line=root.start_mark.line + 1,
                        column=root.start_mark.column + 1,
                    )
                roots.append(root)
        return roots
    finally:
        loader.dispose()


def _check_text(text: str, source: str) -> None:
    """What is refused before parsing: too much text, characters YAML forbids,
    collections nested past :data:`MAX_DEPTH` (PyYAML up to 6.0.3 composes
    them by recursion in C, and a deep enough file kills the process:
    :mod:`ptcalc.workload.depth`)."""
    if len(text) > MAX_FILE_BYTES:
        raise too_large(None, source)
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        line, column = position(text, bad.start())
        what = "control character" if ord(bad.group()) < 0xA0 else "character"
        raise WorkloadError(
            f"{what} U+{ord(bad.group()):04X} is not allowed in YAML (is this a binary file?)",
            source=source,
            line=line,
            column=column,
        )
    _check_breaks(text, source)
    deep = too_deep(text, MAX_DEPTH)
    if deep is not None:
        raise WorkloadError(f"YAML syntax error: {_TOO_DEEP}", source=source, line=deep[0], column=deep[1])


_TOO_DEEP = f"collections are nested more than {MAX_DEPTH} levels deep"

_LONE_CR = re.compile("\r(?!\n)")


def _check_breaks(text: str, source: str) -> None:
    """Refuse a lone carriage return (a CR LF ends a line as usual), NEL, the
    Unicode line and paragraph separators, and a byte order mark after the
    start: libyaml starts a new line at each of the first four (a key after
    one, inside a comment, would be read though no editor shows it), and a
    BOM in the middle is most likely two files joined."""
    found = [i for i in (text.find("\x85"), text.find("\u2028"), text.find("\u2029"), text.find("\ufeff", 1))
             if i >= 0]
    if "\r" in text and (cr := _LONE_CR.search(text)) is not None:
        found.append(cr.start())
    if not found:
        return
    at = min(found)
    line, column = position(text, at)
    c = text[at]
    if c == "\ufeff":
        message = ("a byte order mark (U+FEFF) in the middle of the file (were two files joined?); "
                   "remove it")
    else:
        name = {"\r": "a carriage return (U+000D) not followed by a line feed", "\x85": "NEL (U+0085)",
                "\u2028": "a line separator (U+2028)", "\u2029": "a paragraph separator (U+2029)"}[c]
        message = (f"{name} is a line break to YAML but not to most editors: text after it could hide a key; "
                   "end lines with LF (or CR LF)")
    raise WorkloadError(message, source=source, line=line, column=column)


@contextmanager
def _yaml_errors(text: str, source: str) -> Iterator[None]:
    """PyYAML's and libyaml's errors while parsing, as one located WorkloadError."""
    import yaml

    try:
        yield
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(e, text, source) from None
    except yaml.reader.ReaderError as e:
        line, column = position(text, e.position)
        raise WorkloadError(
            f"YAML syntax error: {e.reason} (character U+{e.character:04X})"
            if isinstance(e.character, int)
            else f"YAML syntax error: {e.reason}",
            source=source,
            line=line,
            column=column,
        ) from None
    except yaml.YAMLError as e:
        raise WorkloadError(
            f"YAML syntax error: {' '.join(str(e).split())}", source=source, line=1, column=1
        ) from None
    except RecursionError:
        # Only the pure-Python composer recurses; libyaml stops at MAX_DEPTH.
        raise WorkloadError(
            "YAML syntax error: collections are nested too deeply", source=source, line=1, column=1
        ) from None


def check_expansion(root: Node, source: str, limit: int = MAX_NODES) -> int:
    """Count the nodes of ``root`` with every alias expanded, without
    expanding anything (one pass over the distinct nodes, sizes memoised).

    Raises a located error when the count passes ``limit`` (at the first
    collection whose expansion does) or when an alias refers to a collection
    that contains it.  Returns the count.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative post-order over collections; scalars are counted in place.
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        nid = id(node)
        if _kind(node) == "scalar":
            continue
        if children_done:
            on_path.discard(nid)
            total = 1
            for child in _children(node):
                total += 1 if _kind(child) == "scalar" else sizes[id(child)]
            if total > limit:
                line, column = node.start_mark.line + 1, node.start_mark.column + 1
                raise WorkloadError(
                    f"this expands to more than {limit:,} YAML nodes with its aliases expanded; "
                    "that is past the limit",
                    source=source,
                    line=line,
                    column=column,
                )
            sizes[nid] = total
            continue
        if nid in sizes:
            continue
        on_path.add(nid)
        stack.append((node, True))
        for child in _children(node):
            cid = id(child)
            if _kind(child) == "scalar" or cid in sizes:
                continue
            if cid in on_path:
                raise WorkloadError(
                    "an alias refers to a collection that contains it (a recursive structure)",
                    source=source,
                    line=child.start_mark.line + 1,
                    column=child.start_mark.column + 1,
                )
            stack.append((child, False))
    return 1 if _kind(root) == "scalar" else sizes[id(root)]


def _kind(node: Node) -> str:
    """``scalar``, ``sequence`` or ``mapping``: the ``id`` PyYAML's node classes
    set (types-PyYAML does not declare it on ``Node``)."""
    return str(getattr(node, "id"))


def _children(node: Node) -> list[Node]:
    if _kind(node) == "mapping":
        return [n for pair in node.value for n in pair]
    return node.value  # type: ignore[no-any-return]


def _syntax_error(e: yaml.MarkedYAMLError, text: str, source: str) -> WorkloadError:
    """One line from a PyYAML/libyaml error: the problem at its mark, plus context."""
    mark = e.problem_mark or e.context_mark
    line = mark.line + 1 if mark is not None else 1
    column = mark.column + 1 if mark is not None else 1
    index = mark.index if mark is not None else 0
    problem = (e.problem or "").strip()
    context = (e.context or "").strip()
    cmark = e.context_mark

    def at(m: yaml.Mark | None) -> str:
        return f"line {m.line + 1}, column {m.column + 1}" if m is not None else ""

    if context.startswith("expected a single document"):
        message = "a second YAML document starts here; a workload file holds one document"
    elif "duplicate anchor" in context:
        name = _token(text, cmark.index + 1) if cmark is not None else ""
        message = f"anchor &{name} is defined twice (first at {at(cmark)})"
    elif problem.startswith("found undefined alias"):
        message = f"alias *{_token(text, index + 1)} refers to no anchor defined before it"
    elif "maximum nesting depth" in problem:
        message = _TOO_DEEP
    elif 0 <= index < len(text) and text[index] == "\t":
        message = "a tab character cannot be used here; indent YAML with spaces"
    else:
        message = problem or context or "cannot parse"
        if context and problem:
            where = at(cmark) if cmark is not None and cmark is not mark else ""
            message += f" ({context}{' at ' + where if where else ''})"
    message = " ".join(message.split())
    return WorkloadError(f"YAML syntax error: {message}", source=source, line=line, column=column)


def _token(text: str, index: int) -> str:
    """The anchor or alias name starting at ``index`` (for messages)."""
    m = re.compile(r"[^\s,\[\]{}]{1,64}").match(text, index)
    return m.group() if m else ""


__all__ = [
    "LIBYAML",
    "MAP",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "PLAIN",
    "SEQ",
    "STR",
    "MappingNode",
    "Node",
    "ScalarNode",
    "SequenceNode",
    "check_expansion",
    "compose",
    "compose_all",
    "no_gc",
    "decode",
    "position",
    "read_file",
    "read_stream",
]
