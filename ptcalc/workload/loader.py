"""The workload loader: YAML text in, a validated :class:`Workload` out.

Anything wrong with the input raises exactly one :class:`WorkloadError`,
located at the offending node (``FILE:LINE:COL: KEYPATH: message``); a
missing key is located at the mapping that lacks it.  A file may hold
several workloads (YAML documents, one per host: :func:`load_workloads`),
and a workload several instances, expanded here into ordinary segments and
groups (``instances:``, :mod:`ptcalc.workload.instances`).  The format is
documented in ``docs/workload-format.md``; the YAML layer (positions,
syntax errors, size limits) is :mod:`ptcalc.workload.yamlnodes`.

>>> w = loads_workload('''
... host: {memory: 64GiB}
... segments: {sga: {size: 1GiB}}
... processes: [{count: 10, mappings: [{segment: sga, touch: 0.5}]}]
... ''')
>>> m = w.groups[0].mappings[0]
>>> hex(m.address), m.touched, m.auto
('0x10000000000', ((0, 536870912),), True)
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Callable, Iterable
from itertools import chain
from fractions import Fraction
from typing import Any, NamedTuple, TypeVar

from ptcalc.model.geometry import ARCHES, X86_64, Arch
from ptcalc.errors import WorkloadError
from ptcalc.workload.touched import normalise
from ptcalc.units import SizeError, parse_size
from ptcalc.workload.types import (
    BACKINGS,
    CODED_FIELDS,
    DEFAULT_FILE_CACHED_THRESHOLD,
    DEFAULT_PROCESS_OVERHEAD,
    MSHARE_VARIANTS,
    PROTECTIONS,
    USERFAULTFD_MODES,
    Host,
    ModelOptions,
    ProcessGroup,
    Segment,
    Workload,
    place_addresses,
    place_side_by_side,
)
from ptcalc.workload import fastyaml
from ptcalc.workload import instances as expand
from ptcalc.workload.yamlnodes import (
    MAP,
    MAX_FILE_BYTES,
    MAX_NODES,
    PLAIN,
    SEQ,
    check_expansion,
    compose_all,
    decode,
    no_gc,
    read_file,
)

# Nodes come from libyaml (yaml.nodes) or from ptcalc.workload.fastyaml; the reader
# tells them apart by their ``id`` ("scalar", "mapping", "sequence"), as
# both spell it, so that reading the fast subset never imports yaml.
Node = Any
ScalarNode = Any

MAX_COUNT = 1 << 40
"""Largest process count of a group and hugetlb pool (2^40)."""
MAX_SIZE = 1 << 57
"""Largest segment, host or per-process size (128 PiB, the 5-level address space)."""
MAX_MERGE_DEPTH = 20
"""Deepest chain of merge keys (a mapping merging one that merges ...)."""
MAX_SCALAR = 64
"""Longest text read as a number (longer is never a sensible size or count)."""

MAX_DOCUMENTS = 1000
"""Most YAML documents (workloads, one per host) in one file."""

TOP_KEYS = ("name", "host", "segments", "processes", "instances", "options")
INSTANCE_KEYS = ("name", "count", "segments", "processes")
HOST_KEYS = ("memory", "arch", "pti", "reserved", "hugepages", "process_overhead", "headroom")
SEGMENT_KEYS = ("size", "backing", "page_size")
GROUP_KEYS = ("name", "count", "private_memory", "mappings")
MAPPING_KEYS = (
    "segment",
    "offset",
    "size",
    "address",
    "protection",
    "touch",
    "userfaultfd",
    "soft_dirty",
)
OPTION_KEYS = ("file_cached_threshold", "mshare_variant")

_BOOLS = {
    "true": True,
    "yes": True,
    "on": True,
    "false": False,
    "no": False,
    "off": False,
}  # YAML 1.1 bool (yaml/resolver.py), case-folded as its regex allows
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_SCALAR_TAGS = frozenset(
    {PLAIN, "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
)
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NAME_TAGS = _SCALAR_TAGS | {_BOOL_TAG, "tag:yaml.org,2002:timestamp"}
_NULL_TAG = "tag:yaml.org,2002:null"

_TOUCH_WHAT = "a fraction from 0 to 1, a percentage, a size such as 10GiB, or a list of ranges"
_DIGITS = re.compile(r"[0-9]+")
_WORD = re.compile(r"[A-Za-z0-9_-]+")
_EXPONENT = re.compile(r"[-+]?[0-9.]+[eE][-+]?[0-9]+")
_SIGNED_INT = re.compile(r"[-+]?[0-9]+")
_PLAIN_RANGE = re.compile(r"(0|[1-9][0-9]{0,19})([KMGT]?)-(0|[1-9][0-9]{0,19})([KMGT]?)")
_RANGE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_UNIT_SUFFIX = re.compile(r"[-+]?[0-9.]*[0-9]\s*[A-Za-z]+")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)")


def load_workload(path: str | os.PathLike[str], *, command: str = "load_workload") -> Workload:
    """Read and validate a workload file of one document; ``-`` reads standard input.

    A file of several documents (hosts) is an error located at the second,
    saying that ``command`` reads one workload.  Raises only
    :class:`WorkloadError`, whose ``str`` names the path as given.
    """
    source = _source(path)
    return loads_workload(read_file(path, source), source, command=command)


def loads_workload(text: str | bytes, source: str = "<stdin>", *, command: str = "load_workload") -> Workload:
    """Validate a workload given as YAML text (or UTF-8 bytes) of one document.

    Raises only :class:`WorkloadError`, located in ``source``.
    """
    (workload,) = _load(text, source, single=command)
    return workload


def load_workloads(path: str | os.PathLike[str]) -> list[Workload]:
    """Read and validate a workload file of one or more YAML documents
    (``---`` between them), a workload (host) each; ``-`` reads standard input.
    In a file of several, document N's ``Workload.source`` is ``PATH#N``.

    Raises only :class:`WorkloadError` (line:column count from the start of
    the file), for the first problem in any document.
    """
    source = _source(path)
    return loads_workloads(read_file(path, source), source)


def loads_workloads(text: str | bytes, source: str = "<stdin>") -> list[Workload]:
    """:func:`load_workloads` on YAML text (or UTF-8 bytes)."""
    return _load(text, source, single=None)


def _source(path: str | os.PathLike[str]) -> str:
    source = os.fspath(path)
    return "<stdin>" if source == "-" else source


def _load(text: str | bytes, source: str, single: str | None) -> list[Workload]:
    """The workloads of every document; ``single``: the command that reads
    one, when several are an error."""
    if isinstance(text, bytes):
        text = decode(text, source)
    with no_gc():
        # The plain subset of YAML that workload files are written in is read
        # directly (ptcalc.workload.fastyaml), several times faster than libyaml through
        # PyYAML; anything else -- and any document with a problem, so that
        # the message is located exactly -- goes through libyaml.
        fast = fastyaml.parse_documents(text, MAX_NODES) if len(text) <= MAX_FILE_BYTES else None
        if fast is not None and len(fast) <= (1 if single is not None else MAX_DOCUMENTS):
            try:
                budget = _Budget()
                n = len(fast)
                return [_Reader(source, fast=True, budget=budget).workload(root, i, n)
                        for i, root in enumerate(fast)]
            except WorkloadError:
                pass
        del fast
        roots: list[Node] = []
        try:
            roots = compose_all(text, source, MAX_DOCUMENTS)
            if not roots:
                raise _Reader(source).empty(None, 0, 1)
            if single is not None and len(roots) > 1:
                second = roots[1].start_mark
                raise WorkloadError(
                    f"a second workload (YAML document) starts here: this file holds {len(roots)} "
                    f"documents, one workload (host) each, and {single} reads one; split the file, "
                    "one document per file (ptcalc estimate and ptcalc check read every document)",
                    source=source, line=second.line + 1, column=second.column + 1,
                )
            _check_nodes(roots, source)
            budget = _Budget()
            return [_Reader(source, budget=budget).workload(root, i, len(roots)) for i, root in enumerate(roots)]
        finally:
            # Drop the node graph while the GC is still off: re-enabled with
            # millions of young nodes alive, its first pass would walk them all.
            del roots


def _check_nodes(roots: list[Node], source: str) -> None:
    """MAX_NODES, with every alias expanded, for all documents together."""
    used = 0
    for i, root in enumerate(roots):
        try:
            used += check_expansion(root, source, MAX_NODES - used)
        except WorkloadError as e:
            if i == 0:
                raise
            raise WorkloadError(
                f"with the documents before it, this expands to more than {MAX_NODES:,} YAML nodes "
                "with its aliases expanded; that is past the limit for a file",
                source=source, line=e.line, column=e.column,
            ) from None


class _Budget:
    """Segments, process groups and mappings of the file so far (every
    document, every instance expanded): instances may not take the file past
    :data:`expand.LIMITS`."""

    def __init__(self) -> None:
        self.counts = {what: 0 for what in expand.LIMITS}

    def add(self, segments: int, groups: int, mappings: int) -> None:
        for what, n in zip(expand.LIMITS, (segments, groups, mappings)):
            self.counts[what] += n

    def over(self, segments: int, groups: int, mappings: int) -> tuple[str, int] | None:
        """What adding these would take past its limit (what, new total), if anything."""
        for what, n in zip(expand.LIMITS, (segments, groups, mappings)):
            if self.counts[what] + n > expand.LIMITS[what]:
                return what, self.counts[what] + n
        return None


# --------------------------------------------------------------------------
# helpers for messages


def _exact(n: int) -> str:
    """A byte count as written by a person: the largest binary unit that
    divides it, else plain bytes.

    >>> _exact(300 << 30), _exact(4097), _exact(3 << 19)
    ('300 GiB', '4,097 bytes', '1,536 KiB')
    """
    for name, shift in (("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift:,} {name}"
    return f"{n:,} bytes"


def _show(text: str) -> str:
    """A user's value, quoted and shortened for a one-line message."""
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def _one_of(choices: Iterable[str]) -> str:
    c = list(choices)
    return ", ".join(c[:-1]) + " or " + c[-1] if len(c) > 1 else c[0]


def _user_limit(arch: Arch) -> str:
    """TASK_SIZE in words: x86-64 keeps the last page below 2^47 (2^56) unmapped.

    >>> from ptcalc.model.geometry import ARM64_16K
    >>> _user_limit(X86_64), _user_limit(ARM64_16K)
    ('TASK_SIZE_MAX, 128 TiB less one page', 'TASK_SIZE, 256 TiB')
    """
    limit = arch.user_limit
    if limit & (limit - 1) == 0:
        return f"TASK_SIZE, {_exact(limit)}"
    return f"TASK_SIZE_MAX, {_exact(limit + arch.base_page)} less one page"


def _closest(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word[:100], list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ''."""
    close = _closest(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


def _join(path: str, key: str) -> str:
    """``host.memory``; a key that is not a plain word is quoted: ``segments['my seg']``.

    >>> _join("segments", "sga"), _join("segments", "a b")
    ('segments.sga', "segments['a b']")
    """
    if _WORD.fullmatch(key) is None:
        return f"{path}[{_show(key)}]"
    return f"{path}.{key}" if path else key


@functools.lru_cache(maxsize=4096)
def _size_of(text: str) -> int:
    """parse_size plus hex (``0x1000``), memoised: a large workload repeats a
    few size texts thousands of times."""
    if _HEX.fullmatch(text):
        return int(text, 16)
    return parse_size(text)


@functools.lru_cache(maxsize=4096)
def _fraction(text: str) -> Fraction:
    """The exact value of a decimal text (``0.3`` is 3/10), memoised."""
    return Fraction(text)


def _number_hint(text: str) -> str | None:
    """Why a YAML 1.1 number-looking text is refused, if it is one."""
    if _SPECIAL_FLOAT.fullmatch(text):
        return f"{text} is not a finite number"
    if _SEXAGESIMAL.fullmatch(text):
        return (
            f"{_show(text)} is a base-60 number in YAML 1.1 (it looks like a time), "
            "not a plain number"
        )
    if _LEADING_ZERO.fullmatch(text):
        return (
            f"{_show(text)} has a leading zero, which YAML 1.1 reads as octal; "
            "write it without, or in hex (0x...)"
        )
    if text[:2].lower() in ("0o", "0b"):
        return f"{_show(text)}: write numbers in decimal, or in hex (0x...)"
    if _EXPONENT.fullmatch(text):
        return f"{_show(text)}: write the number out in full, or with a unit (e.g. 4GiB)"
    if "_" in text and re.fullmatch(r"[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[A-Za-z]*", text):
        return f"{_show(text)}: write numbers without digit separators (_)"
    return None


# --------------------------------------------------------------------------
# the reader


_K = TypeVar("_K")
_V = TypeVar("_V")


def _memoised(memo: dict[_K, _V], keys: list[_K], read: Callable[[int, _K], _V]) -> list[_V]:
    """``memo[key]`` for every key (looked up all at once), and for a key not
    there yet ``read(j, key)`` (``j``: the key's index), remembered."""
    found = list(map(memo.get, keys))
    if None in found:
        for j, key in enumerate(keys):
            if found[j] is None:
                value = memo.get(key)
                if value is None:
                    value = memo[key] = read(j, key)
                found[j] = value
    return found  # type: ignore[return-value]  # no None is left


class _Reader:
    """Walks the node graph with the schema (its alias-expanded size has
    been checked against MAX_NODES by ``check_expansion``)."""

    def __init__(self, source: str, fast: bool = False, budget: _Budget | None = None) -> None:
        self.source = source
        self.fast = fast  # reading a fastyaml document (see processes())
        self.budget = budget if budget is not None else _Budget()  # the file's, for instances
        # Reading a fastyaml document, the groups keep their mappings as codes
        # into one table of distinct mappings (ProcessGroup.from_codes): the
        # table (CODED_FIELDS) and each row's code.
        self.coded_table: list[_Coded] = []
        self.code_of: dict[_Coded, int] = {}
        # table rows read so far (see table()): by row number, (code, address);
        # and the fields but the address by (keys, values but the address's)
        self.row_specs: dict[int, tuple[int, int]] = {}
        self.fields_memo: dict[tuple[tuple[str, ...], tuple[str, ...]], _Fields] = {}
        self.address_memo: dict[tuple[str, int, int], tuple[bool, int]] = {}
        self.touch_memo: dict[tuple[str, int, int], tuple[tuple[int, int], ...]] = {}

    # -- errors ----------------------------------------------------------

    def error(self, node: Node | None, keypath: str, message: str) -> WorkloadError:
        if not message.isprintable():  # keep it one line, whatever the user wrote
            message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        if node is None:
            return WorkloadError(message, source=self.source, line=1, column=1, keypath=keypath)
        mark = node.start_mark
        return WorkloadError(
            message, source=self.source, line=mark.line + 1, column=mark.column + 1, keypath=keypath
        )

    # -- structure ---------------------------------------------------------

    def entries(
        self,
        node: Node,
        keypath: str,
        known: tuple[str, ...] | None,
        what: str,
        merging: frozenset[int] = frozenset(),
    ) -> dict[str, tuple[ScalarNode, Node]]:
        """A mapping's entries by key text, merges (``<<``) applied.

        Rejects non-mappings, non-scalar keys, duplicate keys and (when
        ``known`` is given) unknown keys.
        """
        if node.id != "mapping" or node.tag != MAP:
            raise self.type_error(node, keypath, what)
        pairs = node.value
        out: dict[str, tuple[ScalarNode, Node]] = {}
        merges: list[Node] = []
        for knode, vnode in pairs:
            if knode.id != "scalar":
                raise self.error(knode, keypath, f"a key must be a plain name, not {_kind(knode)}")
            key = knode.value
            if key == "<<" and knode.tag == PLAIN:
                if merges:
                    raise self.error(
                        knode,
                        keypath,
                        "duplicate merge key '<<' "
                        "(list the mappings to merge instead: <<: [*a, *b])",
                    )
                merges.append(vnode)
                continue
            if key in out:
                first = out[key][0].start_mark
                raise self.error(
                    knode,
                    _join(keypath, key),
                    f"duplicate key {_show(key)} "
                    f"(first at line {first.line + 1}, column {first.column + 1})",
                )
            if known is not None and key not in known:
                hint = _suggest(key, known) or f" (known keys: {', '.join(known)})"
                raise self.error(knode, _join(keypath, key), f"unknown key {_show(key)}{hint}")
            out[key] = (knode, vnode)
        if merges:
            self.merge(out, merges, keypath, known, what, merging | {id(node)})
        return out

    def merge(
        self,
        out: dict[str, tuple[ScalarNode, Node]],
        merges: list[Node],
        keypath: str,
        known: tuple[str, ...] | None,
        what: str,
        merging: frozenset[int],
    ) -> None:
        """YAML merge keys: explicit keys win, then earlier merged mappings.

        ``merging`` holds the mappings being merged into, so a merge that
        includes one of them (``&a {<<: *a}``) is an error, not a loop."""
        for vnode in merges:
            sources = vnode.value if vnode.id == "sequence" else [vnode]
            for src in sources:
                if id(src) in merging:
                    raise self.error(src, keypath, "a merge (<<) includes the mapping it is in")
                if len(merging) > MAX_MERGE_DEPTH:
                    raise self.error(
                        src, keypath, f"merges (<<) are nested more than {MAX_MERGE_DEPTH} deep"
                    )
                inner = self.entries(src, keypath, known, what, merging)
                for key, pair in inner.items():
                    out.setdefault(key, pair)

    def type_error(self, node: Node | None, keypath: str, what: str) -> WorkloadError:
        return self.error(node, keypath, f"expected {what}, got {self.describe(node)}")

    @staticmethod
    def describe(node: Node | None) -> str:
        if node is None:
            return "nothing"
        tag = node.tag
        if node.id == "scalar":
            text = node.value
            if tag == _NULL_TAG or (tag == PLAIN and text in _NULLS):
                return "nothing (null)"
            if (tag == PLAIN or tag == _BOOL_TAG) and text.lower() in _BOOLS:
                return f"the boolean {text} (YAML reads yes/no/on/off/true/false as booleans)"
            if tag in _SCALAR_TAGS:
                return _show(text)
        elif tag in (MAP, SEQ):
            return _kind(node)
        return f"a value tagged {_tag(tag)}"

    def scalar(self, node: Node, keypath: str, what: str) -> str:
        """The text of a scalar that is not null or a boolean."""
        if node.id != "scalar" or node.tag not in _SCALAR_TAGS:
            raise self.type_error(node, keypath, what)
        text: str = node.value
        if node.tag == PLAIN and (text in _NULLS or text.lower() in _BOOLS):
            raise self.type_error(node, keypath, what)
        return text

    def sequence(self, node: Node, keypath: str, what: str) -> list[Node]:
        if node.id != "sequence" or node.tag != SEQ:
            raise self.type_error(node, keypath, what)
        return node.value  # type: ignore[no-any-return]

    def missing(self, node: Node, keypath: str, key: str, why: str = "") -> WorkloadError:
        return self.error(node, _join(keypath, key), f"required key {key!r} is missing{why}")

    # -- values --------------------------------------------------------------

    def text(self, node: Node, keypath: str) -> str:
        """A name: any scalar's text (booleans and numbers as written)."""
        if (
            node.id != "scalar"
            or node.tag not in _NAME_TAGS
            or (node.tag == PLAIN and node.value in _NULLS)
        ):
            raise self.type_error(node, keypath, "a name")
        if not node.value.strip():
            raise self.error(node, keypath, "a name cannot be empty")
        return node.value  # type: ignore[no-any-return]

    def boolean(self, node: Node, keypath: str) -> bool:
        if node.id == "scalar" and node.tag in (PLAIN, _BOOL_TAG):
            value = _BOOLS.get(node.value.lower())
            if value is not None:
                return value
        raise self.type_error(node, keypath, "true or false")

    def choice(self, node: Node, keypath: str, choices: Iterable[str], what: str) -> str:
        options = tuple(choices)
        text = self.scalar(node, keypath, f"{what} ({_one_of(options)})")
        if text not in options:
            raise self.error(
                node,
                keypath,
                f"unknown {what} {_show(text)} (expected {_one_of(options)}"
                + (f"; did you mean {close!r}?)" if (close := _closest(text, options)) else ")"),
            )
        return text

    def size(
        self,
        node: Node,
        keypath: str,
        *,
        limit: int = MAX_SIZE,
        minimum: int = 0,
        what: str = "size",
    ) -> int:
        """A size (``300GiB``, ``4096``, ``0x1000``) in bytes, minimum..limit."""
        text = self.scalar(node, keypath, "a size such as 300GiB or a number of bytes")
        value = self.parse_size(node, keypath, text)
        if value < minimum:
            raise self.error(
                node,
                keypath,
                f"{what} must be more than 0"
                if minimum == 1
                else f"{what} must be at least {_exact(minimum)}",
            )
        if value > limit:
            raise self.error(
                node, keypath, f"{what} {_exact(value)} is more than the limit of {_exact(limit)}"
            )
        return value

    def parse_size(self, node: Node, keypath: str, text: str) -> int:
        t = text.strip()
        if len(t) > MAX_SCALAR:
            raise self.error(node, keypath, f"{_show(t)} is too long to be a size")
        if _LEADING_ZERO.fullmatch(t) is None:
            try:
                return _size_of(t)
            except SizeError as e:
                raise self.error(node, keypath, _number_hint(t) or str(e)) from None
        raise self.error(node, keypath, _number_hint(t) or f"{_show(t)} is not a size")

    def integer(self, node: Node, keypath: str, *, minimum: int, limit: int, what: str) -> int:
        text = self.scalar(node, keypath, "a whole number").strip()
        if len(text) > MAX_SCALAR:
            raise self.error(node, keypath, f"{_show(text)} is too long to be a {what}")
        if not _SIGNED_INT.fullmatch(text) or _LEADING_ZERO.fullmatch(text):
            hint = _number_hint(text)
            if hint is not None:
                raise self.error(node, keypath, hint)
            if _DECIMAL.fullmatch(text):
                raise self.error(node, keypath, f"a {what} must be a whole number, got {text}")
            raise self.error(node, keypath, f"expected a whole number, got {_show(text)}")
        value = int(text)
        if value < minimum:
            raise self.error(node, keypath, f"a {what} must be at least {minimum}, got {value}")
        if value > limit:
            raise self.error(
                node, keypath, f"a {what} of {value:,} is more than the limit of {limit:,} (2^40)"
            )
        return value

    # -- sections --------------------------------------------------------------

    def empty(self, root: Node | None, index: int, count: int) -> WorkloadError:
        """The error for an empty document ``index`` of ``count``."""
        if count > 1:
            return self.error(
                root, "", f"document {index + 1} of {count} is empty; each YAML document (between --- "
                "lines) is a workload with host, segments and processes"
            )
        return self.error(root, "", "the file is empty; a workload needs host, segments and processes")

    def workload(self, root: Node | None, index: int = 0, count: int = 1) -> Workload:
        """Document ``index`` of the ``count`` in the file."""
        if root is None or (
            root.id == "scalar" and root.tag == PLAIN and root.value in _NULLS
        ):
            raise self.empty(root, index, count)
        if root.id != "mapping":
            raise self.error(
                root,
                "",
                f"a workload is a mapping with keys {', '.join(TOP_KEYS)}; "
                f"got {self.describe(root)}",
            )
        top = self.entries(root, "", TOP_KEYS, "a mapping")
        name = self.text(top["name"][1], "name") if "name" in top else None
        host = self.host(top["host"][1]) if "host" in top else Host(memory=None, arch=X86_64)
        segments: dict[str, Segment] = {}
        groups: tuple[ProcessGroup, ...] = ()
        if "instances" not in top or "segments" in top or "processes" in top:
            # without instances both are required; with them, optional together
            if "segments" not in top:
                raise self.missing(root, "", "segments")
            segments = self.segments(top["segments"][1], host.arch)
            if "processes" not in top:
                why = " (top-level segments need top-level processes; or move them into an instance)"
                raise self.missing(root, "", "processes", why if "instances" in top else "")
            groups = self.processes(top["processes"][1], segments, host.arch)
        self.budget.add(len(segments), len(groups), sum(map(_mapping_count, groups)))
        if "instances" in top:
            segments, groups = _read_instances(self, top["instances"][1], segments, groups, host.arch)
        options = self.options(top["options"][1]) if "options" in top else ModelOptions()
        return Workload(
            host=host,
            segments=segments,
            groups=groups,
            name=name,
            source=self.source if count == 1 else f"{self.source}#{index + 1}",
            options=options,
        )

    def host(self, node: Node) -> Host:
        e = self.entries(node, "host", HOST_KEYS, "a mapping (memory, arch, ...)")
        arch = X86_64
        if "arch" in e:
            anode = e["arch"][1]
            if self.scalar(anode, "host.arch", "an architecture").strip() in ("aarch64", "arm64"):
                raise self.error(
                    anode,
                    "host.arch",
                    "arm64 has a profile per page size (granule): arm64-4k, arm64-16k or arm64-64k "
                    "(getconf PAGESIZE on the host prints 4096, 16384 or 65536)",
                )
            arch = ARCHES[self.choice(anode, "host.arch", ARCHES, "architecture")]
        memory = None
        if "memory" in e:
            memory = self.size(e["memory"][1], "host.memory", minimum=1, what="host memory")
        pti = self.boolean(e["pti"][1], "host.pti") if "pti" in e else False
        reserved = 0
        if "reserved" in e:
            rnode = e["reserved"][1]
            reserved = self.size(rnode, "host.reserved", what="reserved memory")
            if memory is not None and reserved >= memory:
                raise self.error(
                    rnode,
                    "host.reserved",
                    f"reserved memory ({_exact(reserved)}) must be less than "
                    f"host memory ({_exact(memory)})",
                )
        hugepages = self.hugepages(e["hugepages"][1], arch) if "hugepages" in e else None
        overhead = DEFAULT_PROCESS_OVERHEAD
        if "process_overhead" in e:
            overhead = self.size(
                e["process_overhead"][1], "host.process_overhead", what="process overhead"
            )
        headroom = self.headroom(e["headroom"][1]) if "headroom" in e else 10
        return Host(
            memory=memory,
            arch=arch,
            pti=pti,
            reserved=reserved,
            hugepages=hugepages,
            process_overhead=overhead,
            headroom_percent=headroom,
        )

    def hugepages(self, node: Node, arch: Arch) -> dict[int, int]:
        e = self.entries(
            node, "host.hugepages", None, "a mapping of page size to page count, e.g. {2MiB: 1024}"
        )
        pools: dict[int, int] = {}
        seen: dict[int, str] = {}
        sizes = ", ".join(_exact(s) for s in arch.hugetlb_sizes)
        for key, (knode, vnode) in e.items():
            path = _join("host.hugepages", key)
            page = self.parse_size(knode, path, key)
            if page not in arch.hugetlb_sizes:
                raise self.error(
                    knode,
                    path,
                    f"{_exact(page)} is not a hugetlb page size on {arch.name} ({sizes})",
                )
            if page in seen:
                raise self.error(
                    knode, path, f"the {_exact(page)} pool is already given as {_show(seen[page])}"
                )
            seen[page] = key
            pools[page] = self.integer(vnode, path, minimum=0, limit=MAX_COUNT, what="page count")
        return pools

    def headroom(self, node: Node) -> int:
        path = "host.headroom"
        text = self.scalar(node, path, "a percentage such as 10%").strip()
        number = text[:-1].strip() if text.endswith("%") else text
        if not _DIGITS.fullmatch(number) or len(number) > 3 or _LEADING_ZERO.fullmatch(number):
            raise self.error(
                node, path, f"headroom must be a whole percentage from 0 to 99, got {_show(text)}"
            )
        value = int(number)
        if value >= 100:
            raise self.error(
                node, path, f"headroom must be a whole percentage from 0 to 99, got {_show(text)}"
            )
        return value

    def options(self, node: Node) -> ModelOptions:
        e = self.entries(
            node, "options", OPTION_KEYS, "a mapping (file_cached_threshold, mshare_variant)"
        )
        threshold = DEFAULT_FILE_CACHED_THRESHOLD
        if "file_cached_threshold" in e:
            threshold = self.size(
                e["file_cached_threshold"][1], "options.file_cached_threshold", what="threshold"
            )
        variant = "v3"
        if "mshare_variant" in e:
            variant = self.choice(
                e["mshare_variant"][1], "options.mshare_variant", MSHARE_VARIANTS, "mshare variant"
            )
        return ModelOptions(file_cached_threshold=threshold, mshare_variant=variant)

    def segments(self, node: Node, arch: Arch) -> dict[str, Segment]:
        e = self.entries(
            node,
            "segments",
            None,
            "a mapping of segment names to segments, e.g. sga: {size: 300GiB}",
        )
        if not e:
            raise self.error(node, "segments", "at least one segment is needed")
        out: dict[str, Segment] = {}
        for name, (knode, vnode) in e.items():
            path = _join("segments", name)
            if not name.strip():
                raise self.error(knode, path, "a segment name cannot be empty")
            out[name] = self.segment(name, vnode, path, arch)
        return out

    def segment(self, name: str, node: Node, path: str, arch: Arch) -> Segment:
        e = self.entries(node, path, SEGMENT_KEYS, "a mapping (size, backing, page_size)")
        backing = "shmem"
        if "backing" in e:
            backing = self.choice(e["backing"][1], f"{path}.backing", BACKINGS, "backing")
        base = arch.base_page
        pmd = arch.level("pmd")
        thp = pmd.entry_span if pmd is not None else None
        if "page_size" in e:
            pnode = e["page_size"][1]
            ppath = f"{path}.page_size"
            page = self.parse_size(
                pnode, ppath, self.scalar(pnode, ppath, "a page size such as 4KiB or 2MiB")
            )
            supported = arch.page_sizes()
            if page not in supported:
                raise self.error(
                    pnode,
                    ppath,
                    f"{_exact(page)} is not a page size on {arch.name} "
                    f"({_one_of(_exact(s) for s in supported)})",
                )
            if backing == "hugetlb" and page not in arch.hugetlb_sizes:
                raise self.error(
                    pnode,
                    ppath,
                    f"a hugetlb segment needs a huge page size "
                    f"({_one_of(_exact(s) for s in arch.hugetlb_sizes)}), not {_exact(page)}",
                )
            if backing != "hugetlb" and page not in (base, thp):
                allowed = _one_of(_exact(s) for s in (base, thp) if s is not None)
                raise self.error(
                    pnode,
                    ppath,
                    f"{backing} pages are {allowed} (transparent huge pages); "
                    f"{_exact(page)} pages need backing: hugetlb",
                )
        else:
            # SHM_HUGETLB / MAP_HUGETLB without a size flag use the default
            # hstate (HPAGE_SIZE = PMD_SIZE, 2 MiB on x86-64, 32 MiB on arm64
            # 16K: mm/hugetlb.c default_hstate).
            page = arch.hpage_size if backing == "hugetlb" else base
        if "size" not in e:
            raise self.missing(node, path, "size", " (every segment needs a size)")
        snode = e["size"][1]
        spath = f"{path}.size"
        size = self.size(snode, spath, minimum=1, what="a segment's size")
        if size % page:
            raise self.error(
                snode,
                spath,
                f"size {_exact(size)} is not a multiple of the segment's page size "
                f"({_exact(page)})",
            )
        return Segment(name=name, size=size, backing=backing, page_size=page)  # type: ignore[arg-type]

    def processes(
        self, node: Node, segments: dict[str, Segment], arch: Arch
    ) -> tuple[ProcessGroup, ...]:
        items = self.sequence(node, "processes", "a list of process groups (- count: 1500 ...)")
        if not items:
            raise self.error(node, "processes", "at least one process group is needed")
        if not self.fast:
            # group by group: the first problem in the file is the one reported
            return tuple(self.place(self.group_fields(i, g, segments, arch), arch) for i, g in enumerate(items))
        # A document fastyaml read: any problem sends it back through libyaml
        # (and so group by group); here the auto mappings of every group are
        # placed at once, on arrays.
        return self.place_all([self.group_fields(i, g, segments, arch) for i, g in enumerate(items)], arch)

    def group_fields(self, index: int, node: Node, segments: dict[str, Segment], arch: Arch) -> _Group:
        """A process group, its mappings read but not yet placed."""
        path = f"processes[{index}]"
        e = self.entries(
            node, path, GROUP_KEYS, "a mapping (name, count, private_memory, mappings)"
        )
        name = self.text(e["name"][1], f"{path}.name") if "name" in e else f"group {index + 1}"
        if "count" not in e:
            raise self.missing(node, path, "count", " (how many processes the group has)")
        count = self.integer(
            e["count"][1], f"{path}.count", minimum=1, limit=MAX_COUNT, what="process count"
        )
        private = 0
        if "private_memory" in e:
            private = self.size(
                e["private_memory"][1], f"{path}.private_memory", what="private memory"
            )
        mnode: Node | None = None
        cols: _Columns = _NO_COLUMNS
        codes: tuple[int, ...] = ()
        addresses: tuple[int, ...] = ()
        address_nodes: list[Node] | _TableItems = []
        if "mappings" in e:
            mnode = e["mappings"][1]
            if isinstance(mnode, fastyaml.Table):
                codes, addresses = self.table(path, mnode, segments, arch)
                address_nodes = _TableItems(mnode)
            else:
                items = self.sequence(
                    mnode, f"{path}.mappings", "a list of mappings (- segment: NAME ...)"
                )
                specs = []
                for j, item in enumerate(items):
                    spec, anode = self.mapping(f"{path}.mappings[{j}]", item, segments, arch)
                    specs.append(spec)
                    address_nodes.append(anode)  # type: ignore[union-attr]
                if self.fast:
                    codes, addresses = tuple(map(self.code, specs)), tuple(spec[3] for spec in specs)
                elif specs:
                    cols = tuple(zip(*specs))  # type: ignore[assignment]
        if self.fast:
            return _Group(name, count, private, path, mnode, None, address_nodes, codes, addresses)
        return _Group(name, count, private, path, mnode, cols, address_nodes)

    def code(self, spec: _Spec) -> int:
        """The code of a mapping's fields but its address in :attr:`coded_table`."""
        sname, offset, size, _, protection, touched, uffd, soft_dirty, auto = spec
        row = (sname, offset, size, protection, touched, auto, uffd, soft_dirty)  # CODED_FIELDS
        code = self.code_of.get(row)
        if code is None:
            code = self.code_of[row] = len(self.coded_table)
            self.coded_table.append(row)
        return code

    def columns_of(self, part: _Group) -> _Columns:
        """A group's mappings as columns (_Spec order), codes or not."""
        if part.cols is not None:
            return part.cols
        if not part.codes:
            return _NO_COLUMNS
        sname, offset, size, protection, touched, auto, uffd, soft_dirty = zip(
            *map(self.coded_table.__getitem__, part.codes))
        return sname, offset, size, part.addresses, protection, touched, uffd, soft_dirty, auto

    def place(self, part: _Group, arch: Arch, placed: tuple[int, ...] | None = None,
              checked: bool = False) -> ProcessGroup:
        """The group, its explicit addresses checked (unless ``checked``:
        already done) and its auto mappings placed (``placed``: the
        addresses, when already known)."""
        sname, offset, size, address, protection, touched, uffd, soft_dirty, auto = self.columns_of(part)
        if not checked:
            self.check_overlaps(part.path, address, size, auto, part.address_nodes)
        if placed is None:
            try:
                placed = tuple(place_addresses(list(zip(address, size, offset, auto)), arch))
            except ValueError:
                raise self.error(
                    part.mnode,
                    f"{part.path}.mappings",
                    f"no room below {arch.user_limit:#x} to place every auto mapping "
                    f"(each takes {_exact(arch.auto_window)} windows of its own, "
                    f"from {_exact(arch.auto_base)} up); "
                    "give some mappings explicit addresses",
                ) from None
        # The group keeps its mappings as codes or as columns (MAPPING_FIELDS
        # order); the Mapping objects are made when something reads them.
        if part.cols is None:
            return ProcessGroup.from_codes(part.name, part.processes, self.coded_table, part.codes, placed,
                                           part.private, part.path)
        columns = (sname, offset, size, placed, protection, touched, auto, uffd, soft_dirty)
        return ProcessGroup.from_columns(part.name, part.processes, columns, part.private, part.path)

    def place_all(self, parts: list[_Group], arch: Arch) -> tuple[ProcessGroup, ...]:
        """Every group of a fastyaml document (its mappings as codes) checked
        for overlapping explicit mappings and placed, on arrays: side by side
        where that is what first-fit does (workload.place_side_by_side), else
        one by one.  (Any problem sends the document back through libyaml,
        group by group: which group's problem is raised here does not matter.)"""
        from ptcalc.model import xp as _xp

        sizes = [len(p.codes) for p in parts]
        n = sum(sizes)
        xp = _xp.for_size(n)
        i64 = xp.int64
        table = self.coded_table
        codes = xp.fromiter(chain.from_iterable(p.codes for p in parts), i64, n)

        def field(name: str, dtype: Any = i64) -> Any:
            """One field of every mapping: the table's, gathered by code."""
            k = CODED_FIELDS.index(name)
            return xp.asarray([row[k] for row in table], dtype)[codes] if n else xp.zeros(0, dtype)

        group = xp.repeat(xp.arange(len(parts)), xp.asarray(sizes, i64))
        address = xp.fromiter(chain.from_iterable(p.addresses for p in parts), i64, n)
        size, offset, auto = field("size"), field("offset"), field("auto", xp.bool_)
        overlapping = _overlapping_groups(xp, group, address, size, auto)
        if overlapping:  # raise that group's error, as group by group
            first = parts[overlapping[0]]
            cols = self.columns_of(first)
            self.check_overlaps(first.path, cols[3], cols[2], cols[8], first.address_nodes)
        placed, ok = place_side_by_side(group, address, size, offset, auto, len(parts), arch)
        flat = placed.tolist()
        out = []
        row = 0
        for part, k, simple in zip(parts, sizes, ok):
            if simple:
                out.append(ProcessGroup.from_codes(part.name, part.processes, table, part.codes,
                                                   tuple(flat[row:row + k]), part.private, part.path))
            else:
                out.append(self.place(part, arch, None, checked=True))
            row += k
        return tuple(out)

    def check_overlaps(self, path: str, address: tuple[int, ...], size: tuple[int, ...],
                       auto: tuple[bool, ...], nodes: list[Node] | _TableItems) -> None:
        """Explicit addresses of one process must not overlap (auto ones are
        placed clear of everything)."""
        explicit = [(a, a + z, j) for j, (a, z, au) in enumerate(zip(address, size, auto)) if not au]
        explicit.sort()
        for (_, prev_end, i), (start, _, j) in zip(explicit, explicit[1:], strict=False):
            if start < prev_end:
                first, later = min(i, j), max(i, j)
                a, b = address[first], address[later]
                raise self.error(
                    nodes[later],
                    f"{path}.mappings[{later}].address",
                    f"[{b:#x}, {b + size[later]:#x}) overlaps mappings[{first}] at "
                    f"[{a:#x}, {a + size[first]:#x}) in the same process",
                )
        # A sorted sweep comparing neighbours finds an overlap whenever one
        # exists: if any two intervals overlap, some pair of neighbours does.

    def mapping(
        self, path: str, node: Node, segments: dict[str, Segment], arch: Arch
    ) -> tuple[_Spec, Node]:
        e = self.entries(node, path, MAPPING_KEYS, "a mapping (segment, offset, size, ...)")
        sname, offset, size, protection, touched, uffd, soft_dirty, page = self.mapping_fields(
            path, node, e, segments, arch
        )
        pair = e.get("address")
        anode: Node = node if pair is None else pair[1]
        auto, address = True, 0
        if pair is not None:
            auto, address = self.address(anode, f"{path}.address", page, size, arch)
        return (sname, offset, size, address, protection, touched, uffd, soft_dirty, auto), anode

    def table(
        self, path: str, table: fastyaml.Table, segments: dict[str, Segment], arch: Arch
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The mappings of a :class:`fastyaml.Table` (one-line flow mappings),
        as codes into :attr:`coded_table` and addresses (0 for auto).

        Each distinct row of the document is read once (:meth:`table_row`),
        as any mapping is; the items are then looked up by row number.  Any
        problem raises as usual (the loader then re-reads the document
        through libyaml to locate it)."""

        def read_row(j: int, row: int) -> tuple[int, int]:
            spec = self.table_row(f"{path}.mappings[{j}]", table, j, segments, arch)
            return self.code(spec), spec[3]

        found = _memoised(self.row_specs, table.rows, read_row)
        if not found:
            return (), ()
        codes, addresses = zip(*found)
        return codes, addresses

    def table_row(self, path: str, table: fastyaml.Table, j: int, segments: dict[str, Segment],
                  arch: Arch) -> _Spec:
        """Item ``j`` of a table, read by :meth:`mapping_fields` and
        :meth:`address` as any mapping is, memoised on its texts: a generated
        workload maps the same few mappings at many addresses, and reading
        one costs more than looking it up."""
        keys, values = table.distinct[table.rows[j]]
        ai = keys.index("address") if "address" in keys else -1
        fkey = (keys, values[:ai] + values[ai + 1:] if ai >= 0 else values)
        fields = self.fields_memo.get(fkey)
        if fields is None:
            node = table.item(j)
            e = self.entries(node, path, MAPPING_KEYS, "a mapping (segment, offset, size, ...)")
            fields = self.fields_memo[fkey] = self.mapping_fields(path, node, e, segments, arch)
        sname, offset, size, protection, touched, uffd, soft_dirty, page = fields
        auto, address = True, 0
        if ai >= 0:
            akey = (values[ai], page, size)
            got = self.address_memo.get(akey)
            if got is None:
                anode = table.scalar(j, ai)
                got = self.address_memo[akey] = self.address(anode, f"{path}.address", page, size, arch)
            auto, address = got
        return sname, offset, size, address, protection, touched, uffd, soft_dirty, auto

    def mapping_fields(
        self, path: str, node: Node, e: dict[str, tuple[ScalarNode, Node]],
        segments: dict[str, Segment], arch: Arch
    ) -> _Fields:
        """Everything of a mapping but its address: (segment, offset, size,
        protection, touched bytes, userfaultfd, soft_dirty, page size)."""
        get = e.get
        # segment
        pair = get("segment")
        if pair is None:
            raise self.missing(node, path, "segment", " (which segment this maps)")
        snode = pair[1]
        sname = self.scalar(snode, f"{path}.segment", "a segment name")
        seg = segments.get(sname)
        if seg is None:
            # difflib is quadratic-ish per candidate: suggest among a sane number only
            hint = _suggest(sname, segments) if len(segments) <= 1000 else ""
            if not hint:
                names = ", ".join(_show(n) for n in list(segments)[:5])
                hint = f" (segments: {names}{', ...' if len(segments) > 5 else ''})"
            raise self.error(snode, f"{path}.segment", f"no segment named {_show(sname)}{hint}")
        page = seg.page_size
        # offset
        offset = 0
        pair = get("offset")
        if pair is not None:
            onode = pair[1]
            opath = f"{path}.offset"
            offset = self.size(onode, opath, what="offset")
            if offset % page:
                raise self.error(
                    onode,
                    opath,
                    f"offset {_exact(offset)} is not a multiple of the page size of segment "
                    f"{_show(sname)} ({_exact(page)})",
                )
            if offset >= seg.size:
                raise self.error(
                    onode,
                    opath,
                    f"offset {_exact(offset)} is at or past the end of segment {_show(sname)} "
                    f"({_exact(seg.size)})",
                )
        # size
        pair = get("size")
        if pair is None:
            size = seg.size - offset
            znode: Node = node
            zpath = f"{path}.size"
            if size > arch.user_limit:
                raise self.error(
                    node,
                    zpath,
                    f"the rest of segment {_show(sname)} ({_exact(size)}) does not fit in the user "
                    f"address space of {arch.name}; map part of it (size: ...)",
                )
        else:
            znode = pair[1]
            zpath = f"{path}.size"
            size = self.size(znode, zpath, minimum=1, limit=MAX_SIZE, what="a mapping's size")
            if size % page:
                raise self.error(
                    znode,
                    zpath,
                    f"size {_exact(size)} is not a multiple of the page size of segment "
                    f"{_show(sname)} ({_exact(page)})",
                )
            if offset + size > seg.size:
                raise self.error(
                    znode,
                    zpath,
                    f"the mapping runs past the segment's end: offset {_exact(offset)} + size "
                    f"{_exact(size)} > {_exact(seg.size)} (segment {_show(sname)})",
                )
        # protection, userfaultfd, soft_dirty
        protection = "rw"
        pair = get("protection")
        if pair is not None:
            protection = self.choice(pair[1], f"{path}.protection", PROTECTIONS, "protection")
        uffd = "none"
        pair = get("userfaultfd")
        if pair is not None:
            uffd = self.choice(
                pair[1], f"{path}.userfaultfd", USERFAULTFD_MODES, "userfaultfd mode"
            )
        soft_dirty = False
        pair = get("soft_dirty")
        if pair is not None:
            soft_dirty = self.boolean(pair[1], f"{path}.soft_dirty")
        # touch
        pair = get("touch")
        touched: tuple[tuple[int, int], ...]
        if pair is None:
            touched = ((0, size),) if protection != "none" else ()
        else:
            touched = self.touch(pair[1], f"{path}.touch", size, page)
            if touched and protection == "none":
                raise self.error(
                    pair[1],
                    f"{path}.touch",
                    "a PROT_NONE mapping cannot be faulted in (protection: none touches nothing; "
                    "use touch: 0 or leave it out)",
                )
        # the touched ranges as Mapping.touched holds them (one tuple, shared
        # by every mapping read from the same text)
        return sname, offset, size, protection, touched, uffd, soft_dirty, page

    def touch(self, node: Node, path: str, size: int, page: int) -> tuple[tuple[int, int], ...]:
        """Touched ranges: a prefix of ``ceil(fraction * size)`` bytes or of a
        size, rounded up to the page size (docs/semantics.md section 1), or a
        list of ranges (``touch_ranges``)."""
        if node.id == "sequence":
            return self.touch_ranges(node, path, size, page)
        text = self.scalar(node, path, _TOUCH_WHAT).strip()
        # memoised: a large workload gives the same few touch texts to
        # mappings of the same few sizes (exact Fraction arithmetic is slow)
        key = (text, size, page)
        touched = self.touch_memo.get(key)
        if touched is None:
            touched = self.touch_memo[key] = self.touch_prefix(node, path, text, size, page)
        return touched

    def touch_prefix(self, node: Node, path: str, text: str, size: int, page: int) -> tuple[tuple[int, int], ...]:
        """:meth:`touch` of a scalar: the touched prefix."""
        if len(text) > MAX_SCALAR:
            raise self.error(node, path, f"{_show(text)} is too long for touch")
        percent = text.endswith("%")
        number = text[:-1].strip() if percent else text
        if _DECIMAL.fullmatch(number):
            fraction = _fraction(number) / 100 if percent else _fraction(number)
            if not 0 <= fraction <= 1:
                if percent:
                    raise self.error(node, path, f"touch {text} is not between 0% and 100%")
                hint = ""
                if _DIGITS.fullmatch(number):
                    hint = f"; to touch a prefix of {number} bytes write a unit ({number}B)"
                raise self.error(node, path, f"touch {text} is not a fraction from 0 to 1{hint}")
            prefix = -(-fraction.numerator * size // fraction.denominator)
        elif not percent and _UNIT_SUFFIX.fullmatch(text):
            prefix = self.parse_size(node, path, text)
            if prefix > size:
                raise self.error(
                    node,
                    path,
                    f"touch {_exact(prefix)} is more than the mapping's size ({_exact(size)})",
                )
        else:
            reason = _number_hint(number) or f"expected {_TOUCH_WHAT}, got {_show(text)}"
            raise self.error(node, path, reason)
        prefix = -(-prefix // page) * page
        return ((0, prefix),) if prefix else ()

    def touch_ranges(self, node: Node, path: str, size: int, page: int) -> tuple[tuple[int, int], ...]:
        """``touch: [0-2M, 4M-6M]`` or ``[[0, 2MiB], ...]``: byte ranges from the
        mapping start, end exclusive, in any order.  Each is rounded out to
        whole pages (touching a byte faults its page); overlapping and
        adjacent ranges merge (ptcalc.workload.touched.normalise).  What ``ptcalc scan``
        writes for the scattered pages a real process touches."""
        ranges: list[tuple[int, int]] = []
        for i, item in enumerate(self.sequence(node, path, "a list of ranges")):
            ipath = f"{path}[{i}]"
            if item.id == "sequence":
                ends = self.sequence(item, ipath, "[start, end]")
                if len(ends) != 2:
                    raise self.error(item, ipath, f"a range is [start, end], got {len(ends)} items")
                start = self.size(ends[0], f"{ipath}[0]", what="a range's start")
                end = self.size(ends[1], f"{ipath}[1]", what="a range's end")
                shown = f"[{ends[0].value}, {ends[1].value}]"
            else:
                text = self.scalar(item, ipath, "a range start-end such as 4M-6M, or [start, end]").strip()
                if len(text) > 2 * MAX_SCALAR:
                    raise self.error(item, ipath, f"{_show(text)} is too long for a range")
                fast = _PLAIN_RANGE.fullmatch(text)
                if fast is not None:  # what scan writes: whole numbers, K/M/G/T (no Fraction)
                    a, ua, b, ub = fast.groups()
                    ranges.append(self.checked_range(
                        item, ipath, text, int(a) * _RANGE_UNITS[ua], int(b) * _RANGE_UNITS[ub], size))
                    continue
                head, sep, tail = text.partition("-")
                if not (sep and head.strip() and tail.strip()):
                    raise self.error(
                        item, ipath, f"{_show(text)} is not a range: write start-end, e.g. 4M-6M (end exclusive)"
                    )
                start = self.parse_size(item, ipath, head.strip())
                end = self.parse_size(item, ipath, tail.strip())
                shown = text
            ranges.append(self.checked_range(item, ipath, shown, start, end, size))
        return normalise(ranges, page)

    def checked_range(self, node: Node, path: str, shown: str, start: int, end: int,
                      size: int) -> tuple[int, int]:
        if end <= start:
            raise self.error(node, path, f"range {shown} is empty: its end must be above its start")
        if end > size:
            raise self.error(node, path, f"range {shown} ends past the end of the mapping ({_exact(size)})")
        return start, end

    def address(self, node: Node, path: str, page: int, size: int, arch: Arch) -> tuple[bool, int]:
        text = self.scalar(node, path, "auto or an address such as 0x7f0000000000").strip()
        if text == "auto":
            return True, 0
        if text.startswith("-") and text[1:2].isdigit():
            raise self.error(node, path, f"an address cannot be negative, got {_show(text)}")
        if not (_HEX.fullmatch(text) or _UNIT_SUFFIX.fullmatch(text) or _DECIMAL.fullmatch(text)):
            raise self.error(
                node,
                path,
                _number_hint(text)
                or "expected auto, a hex address such as 0x7f0000000000 or a number of bytes, "
                f"got {_show(text)}",
            )
        address = self.parse_size(node, path, text)
        if address % page:
            raise self.error(
                node,
                path,
                f"address {address:#x} is not a multiple of the page size ({_exact(page)})",
            )
        if address + size > arch.user_limit:
            raise self.error(
                node,
                path,
                f"the mapping [{address:#x}, {address + size:#x}) ends above the user address "
                f"space of {arch.name}, which ends at {arch.user_limit:#x} "
                f"({_user_limit(arch)})",
            )
        return False, address


_Fields = tuple[str, int, int, str, tuple[tuple[int, int], ...], str, bool, int]
"""segment, offset, size, protection, touched, userfaultfd, soft_dirty, page size"""
_Spec = tuple[str, int, int, int, str, tuple[tuple[int, int], ...], str, bool, bool]
"""segment, offset, size, address, protection, touched, userfaultfd, soft_dirty, auto"""
_Columns = tuple[tuple[Any, ...], ...]
"""_Spec fields as columns, one tuple per field, one entry per mapping"""
_Coded = tuple[str, int, int, str, tuple[tuple[int, int], ...], bool, str, bool]
"""a mapping's fields but its address, in CODED_FIELDS order"""
_NO_COLUMNS: _Columns = ((),) * 9


class _Group(NamedTuple):
    """A process group read, its mappings not yet placed."""

    name: str
    processes: int  # the group's count (``count`` would shadow tuple.count)
    private: int
    path: str
    mnode: Any
    cols: _Columns | None  # the mappings' columns (_Spec order), or None: codes
    address_nodes: Any
    codes: tuple[int, ...] = ()  # without cols: into _Reader.coded_table (a fastyaml document)
    addresses: tuple[int, ...] = ()  # without cols: explicit addresses, 0 for auto


class _TableItems:
    """A table's item nodes by index, built only when an error needs one."""

    def __init__(self, table: fastyaml.Table) -> None:
        self.table = table

    def __getitem__(self, i: int) -> Node:
        return self.table.item(i)


def _overlapping_groups(xp: Any, group: Any, address: Any, size: Any, auto: Any) -> list[int]:
    """The groups (ascending) two of whose explicit mappings overlap: rows
    sorted by (group, address), neighbours compared, as check_overlaps does
    for one group.  Arrays of one :mod:`ptcalc.model.xp` backend, one row per
    mapping, rows grouped by group."""
    explicit = ~auto
    if not explicit.any():
        return []
    g, a, e = group[explicit], address[explicit], (address + size)[explicit]
    if not bool((((g[1:] == g[:-1]) & (a[1:] >= a[:-1])) | (g[1:] > g[:-1])).all()):
        order = xp.lexsort((a, g))
        g, a, e = g[order], a[order], e[order]
    # e[:-1] > a[1:] for sorted neighbours of one group: the later one starts
    # before the earlier one ends
    clash = (g[1:] == g[:-1]) & (a[1:] < e[:-1])
    return sorted(set(g[1:][clash].tolist()))


def _mapping_count(g: ProcessGroup) -> int:
    """How many mappings a group has (its columns not built for it)."""
    coded = g.coded()
    return len(coded[1]) if coded is not None else len(g.columns()[0])


def _tag(tag: str) -> str:
    """``!!omap`` for ``tag:yaml.org,2002:omap``."""
    return "!!" + tag[18:] if tag.startswith("tag:yaml.org,2002:") else tag


def _kind(node: Node) -> str:
    if node.id == "mapping":
        return "a mapping"
    if node.id == "sequence":
        return "a list"
    return "a value"


# --------------------------------------------------------------------------
# instances (docs/workload-format.md): read as templates, then copied


def _read_instances(
    r: _Reader, node: Node, segments: dict[str, Segment], groups: tuple[ProcessGroup, ...], arch: Arch
) -> tuple[dict[str, Segment], tuple[ProcessGroup, ...]]:
    """``instances:`` added to the top-level ``segments`` and ``groups``:
    each instance's segments and processes read as a template (segment
    names scoped to it, key paths under ``instances[i]``), then copied
    ``count`` times (:mod:`ptcalc.workload.instances`), within the file's budget."""
    items = r.sequence(node, "instances", "a list of instances (- name: pg ...)")
    if not items:
        raise r.error(node, "instances", "at least one instance is needed (or leave the key out)")
    out_segments = dict(segments)
    out_groups = list(groups)
    labels: dict[str, tuple[int, str, int]] = {}  # copy name -> (instance, its name, its count)
    for i, item in enumerate(items):
        path = f"instances[{i}]"
        e = r.entries(item, path, INSTANCE_KEYS, "a mapping (name, count, segments, processes)")
        if "name" not in e:
            raise r.missing(item, path, "name", " (every instance needs one, e.g. name: pg)")
        nnode = e["name"][1]
        name = r.text(nnode, f"{path}.name")
        if expand.SEPARATOR in name:
            raise r.error(
                nnode, f"{path}.name",
                f"an instance name cannot contain {expand.SEPARATOR!r}, which separates it from its "
                f"segments' names ({expand.segment_name('NAME', 'SEGMENT')})",
            )
        count, cnode = 1, None
        if "count" in e:
            cnode = e["count"][1]
            count = r.integer(cnode, f"{path}.count", minimum=1, limit=MAX_COUNT, what="count of copies")
        _check_labels(r, labels, i, name, count, nnode, f"{path}.name")
        scoped = _ScopedReader(r, f"{path}.")
        if "segments" not in e:
            raise r.missing(item, path, "segments", " (an instance has segments of its own)")
        tsegments = scoped.segments(e["segments"][1], arch)
        if "processes" not in e:
            raise r.missing(item, path, "processes", " (the instance's processes that map its segments)")
        tgroups = scoped.processes(e["processes"][1], tsegments, arch)
        sizes = (len(tsegments), len(tgroups), sum(map(_mapping_count, tgroups)))
        over = r.budget.over(*(count * n for n in sizes))
        if over is not None:
            what, total = over
            each = dict(zip(expand.LIMITS, sizes))[what]
            one = {"segments": "segment", "process groups": "process group", "mappings": "mapping"}
            raise r.error(
                cnode if cnode is not None else item, f"{path}.count" if cnode is not None else path,
                f"{count:,} {'copies' if count != 1 else 'copy'} of instance {_show(name)} "
                f"({each:,} {what if each != 1 else one[what]} each) bring the file to {total:,} {what}; "
                f"instances may expand a file to at most {expand.LIMITS[what]:,} {what}",
            )
        r.budget.add(*(count * n for n in sizes))
        for label in expand.copy_labels(name, count):
            copy_segments, copy_groups = expand.copy_instance(label, tsegments, tgroups, f"{path}.")
            for sname in copy_segments:
                if sname in out_segments:  # only a top-level segment can have this name
                    raise r.error(
                        nnode, f"{path}.name",
                        f"segment {_show(sname)} of this instance has the name of a top-level segment; "
                        "rename one",
                    )
            out_segments.update(copy_segments)
            out_groups.extend(copy_groups)
    return out_segments, tuple(out_groups)


def _check_labels(
    r: _Reader, labels: dict[str, tuple[int, str, int]], i: int, name: str, count: int, node: Node, path: str
) -> None:
    """Instance names are unique, and so are the names of their copies (``pg``
    with ``count: 3`` is ``pg-1`` .. ``pg-3``); ``labels`` holds those of the
    instances before ``i``."""
    for j, jname, _ in labels.values():
        if jname == name:
            raise r.error(node, path, f"instance name {_show(name)} is already used by instances[{j}]")

    def which(instance: str, n: int, label: str) -> str:
        return instance if n == 1 else f"copy {label.rsplit('-', 1)[1]} of {instance}"

    new = expand.copy_labels(name, count)
    for label in new:
        prev = labels.get(label)
        if prev is not None:
            j, jname, jcount = prev
            earlier = f"instances[{j}] ({_show(jname)}, count {jcount:,})" if jcount > 1 else f"instances[{j}]"
            raise r.error(
                node, path,
                f"{_show(label)} would name both {which(earlier, jcount, label)} and "
                f"{which('this instance', count, label)} (copies of an instance with count N are "
                "NAME-1 .. NAME-N); rename one",
            )
    for label in new:
        labels[label] = (i, name, count)


class _ScopedReader(_Reader):
    """Reads an instance's segments and processes as a workload's, its key
    paths under the instance's (``instances[2].segments.sga.size``), with
    memos of its own (the same mapping text means other segments here)."""

    def __init__(self, parent: _Reader, scope: str) -> None:
        super().__init__(parent.source, parent.fast, parent.budget)
        self.scope = scope

    def error(self, node: Node | None, keypath: str, message: str) -> WorkloadError:
        if message.startswith("no segment named") and keypath.endswith(".segment"):
            message += "; a mapping names a segment of its own instance"  # (mapping_fields)
        return super().error(node, self.scope + keypath, message)


__all__ = ["MAX_COUNT", "MAX_DOCUMENTS", "MAX_NODES", "MAX_SIZE", "load_workload", "load_workloads",
           "loads_workload", "loads_workloads"]
