"""Reading one value of a workload file from its YAML node, with one
located error for anything wrong: the node layer of the loader.

:class:`NodeReader` knows YAML's node graph (mappings with merge keys,
sequences, scalars read from their text) and the kinds of value of
:mod:`ptcalc.workload.keys` -- sizes, whole numbers, booleans, choices,
names, percentages, touched ranges, addresses -- each with the exact
message the format promises (docs/workload-format.md, tests/corpus/).
Which key holds which kind, and what ties keys together, is
:mod:`ptcalc.workload.reader`'s.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from ptcalc.errors import WorkloadError
from ptcalc.model.geometry import Arch
from ptcalc.names import describe, unprintable
from ptcalc.units import SizeError, parse_size
from ptcalc.workload.keys import MAX_SIZE, Key, Kind, Section
from ptcalc.workload.touched import normalise
from ptcalc.workload.yamlnodes import MAP, PLAIN, SEQ

# Nodes come from libyaml (yaml.nodes) or from ptcalc.workload.fastyaml; the reader
# tells them apart by their ``id`` ("scalar", "mapping", "sequence"), as
# both spell it, so that reading the fast subset never imports yaml.
Node = Any
ScalarNode = Any
Entries = dict[str, tuple[ScalarNode, Node]]
"""A mapping node's entries by key text: (key node, value node)."""

MAX_MERGE_DEPTH = 20
"""Deepest chain of merge keys (a mapping merging one that merges ...)."""
MAX_SCALAR = 64
"""Longest text read as a number (longer is never a sensible size or count)."""

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


def plain_range(text: str) -> tuple[int, int] | None:
    """(start, end) of a range in the form ``ptcalc scan`` writes (``4M-6M``:
    whole numbers, K/M/G/T, no Fraction), else None.

    >>> plain_range("4M-6M"), plain_range("4 M-6M")
    ((4194304, 6291456), None)
    """
    m = _PLAIN_RANGE.fullmatch(text)
    if m is None:
        return None
    a, ua, b, ub = m.groups()
    return int(a) * _RANGE_UNITS[ua], int(b) * _RANGE_UNITS[ub]
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_UNIT_SUFFIX = re.compile(r"[-+]?[0-9.]*[0-9]\s*[A-Za-z]+")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)")

# --------------------------------------------------------------------------
# helpers for messages


def exact(n: int) -> str:
    """A byte count as written by a person: the largest binary unit that
    divides it, else plain bytes.

    >>> exact(300 << 30), exact(4097), exact(3 << 19)
    ('300 GiB', '4,097 bytes', '1,536 KiB')
    """
    for name, shift in (("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift:,} {name}"
    return f"{n:,} bytes"


def show(text: str) -> str:
    """A user's value, quoted and shortened for a one-line message."""
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def one_of(choices: Iterable[str]) -> str:
    c = list(choices)
    return ", ".join(c[:-1]) + " or " + c[-1] if len(c) > 1 else c[0]


def user_limit(arch: Arch) -> str:
    """TASK_SIZE in words: x86-64 keeps the last page below 2^47 (2^56) unmapped.

    >>> from ptcalc.model.geometry import ARM64_16K, X86_64
    >>> user_limit(X86_64), user_limit(ARM64_16K)
    ('TASK_SIZE_MAX, 128 TiB less one page', 'TASK_SIZE, 256 TiB')
    """
    limit = arch.user_limit
    if limit & (limit - 1) == 0:
        return f"TASK_SIZE, {exact(limit)}"
    return f"TASK_SIZE_MAX, {exact(limit + arch.base_page)} less one page"


def closest(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word[:100], list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ''."""
    close = closest(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


def join(path: str, key: str) -> str:
    """``host.memory``; a key that is not a plain word is quoted: ``segments['my seg']``.

    >>> join("segments", "sga"), join("segments", "a b")
    ('segments.sga', "segments['a b']")
    """
    if _WORD.fullmatch(key) is None:
        return f"{path}[{show(key)}]"
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
            f"{show(text)} is a base-60 number in YAML 1.1 (it looks like a time), "
            "not a plain number"
        )
    if _LEADING_ZERO.fullmatch(text):
        return (
            f"{show(text)} has a leading zero, which YAML 1.1 reads as octal; "
            "write it without, or in hex (0x...)"
        )
    if text[:2].lower() in ("0o", "0b"):
        return f"{show(text)}: write numbers in decimal, or in hex (0x...)"
    if _EXPONENT.fullmatch(text):
        return f"{show(text)}: write the number out in full, or with a unit (e.g. 4GiB)"
    if "_" in text and re.fullmatch(r"[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[A-Za-z]*", text):
        return f"{show(text)}: write numbers without digit separators (_)"
    return None



class NodeReader:
    """Reads values from nodes; every problem is one located :class:`WorkloadError`
    (:meth:`error`: ``source``, the node's position and the key path)."""

    def __init__(self, source: str) -> None:
        self.source = source
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
    ) -> Entries:
        """A mapping's entries by key text, merges (``<<``) applied.

        Rejects non-mappings, non-scalar keys, duplicate keys and (when
        ``known`` is given) unknown keys.
        """
        if node.id != "mapping" or node.tag != MAP:
            raise self.type_error(node, keypath, what)
        pairs = node.value
        out: Entries = {}
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
                    join(keypath, key),
                    f"duplicate key {show(key)} "
                    f"(first at line {first.line + 1}, column {first.column + 1})",
                )
            if known is not None and key not in known:
                hint = suggest(key, known) or f" (known keys: {', '.join(known)})"
                raise self.error(knode, join(keypath, key), f"unknown key {show(key)}{hint}")
            out[key] = (knode, vnode)
        if merges:
            self.merge(out, merges, keypath, known, what, merging | {id(node)})
        return out

    def merge(
        self,
        out: Entries,
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
                return show(text)
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
        return self.error(node, join(keypath, key), f"required key {key!r} is missing{why}")

    # -- sections and keys (ptcalc.workload.keys) ----------------------------

    def section(self, node: Node, keypath: str, section: Section) -> Entries:
        """The entries of a mapping of ``section``'s keys (unknown keys are errors)."""
        return self.entries(node, keypath, section.names, section.what)

    def require(self, e: Entries, node: Node, keypath: str, key: Key) -> Node:
        """The value node of a required key; its absence is an error at ``node``."""
        pair = e.get(key.name)
        if pair is None:
            raise self.missing(node, keypath, key.name, key.why)
        return pair[1]

    def value(self, node: Node, keypath: str, key: Key) -> Any:
        """The value of ``key`` at ``node`` (a key of a simple kind: size, count,
        boolean, choice, name or percentage), read with the key's limits."""
        kind = key.kind
        if kind is Kind.SIZE:
            return self.size(node, keypath, minimum=key.minimum,
                             limit=key.maximum if key.maximum is not None else MAX_SIZE, what=key.what)
        if kind is Kind.COUNT:
            assert key.maximum is not None
            return self.integer(node, keypath, minimum=key.minimum, limit=key.maximum, what=key.what)
        if kind is Kind.BOOLEAN:
            return self.boolean(node, keypath)
        if kind is Kind.CHOICE:
            return self.choice(node, keypath, key.choices, key.what)
        if kind is Kind.NAME:
            return self.text(node, keypath)
        if kind is Kind.PERCENTAGE:
            return self.percentage(node, keypath, key)
        raise ValueError(f"{key.name}: a {kind.value} is read by its section")  # pragma: no cover

    def get(self, e: Entries, keypath: str, key: Key) -> Any:
        """:meth:`value` of ``key`` in ``e`` (at ``keypath.NAME``), or its default."""
        pair = e.get(key.name)
        if pair is None:
            return key.default
        # (every key's name is a plain word: no quoting, as join() would)
        return self.value(pair[1], f"{keypath}.{key.name}" if keypath else key.name, key)

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
        self.check_name(node, keypath, node.value)
        return node.value  # type: ignore[no-any-return]

    def check_name(self, node: Node, keypath: str, name: str) -> None:
        """Names are shown on terminals and in reports: no control or
        formatting characters (ESC, CR, C1 controls, bidi overrides, ...)."""
        i = unprintable(name)
        if i is not None:
            raise self.error(node, keypath, f"a name cannot hold control or formatting characters: character "
                                            f"{i + 1} is {describe(name[i])} ({show(name)})")

    def boolean(self, node: Node, keypath: str) -> bool:
        if node.id == "scalar" and node.tag in (PLAIN, _BOOL_TAG):
            value = _BOOLS.get(node.value.lower())
            if value is not None:
                return value
        raise self.type_error(node, keypath, "true or false")

    def choice(self, node: Node, keypath: str, choices: Iterable[str], what: str) -> str:
        options = tuple(choices)
        text = self.scalar(node, keypath, f"{what} ({one_of(options)})")
        if text not in options:
            raise self.error(
                node,
                keypath,
                f"unknown {what} {show(text)} (expected {one_of(options)}"
                + (f"; did you mean {close!r}?)" if (close := closest(text, options)) else ")"),
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
                else f"{what} must be at least {exact(minimum)}",
            )
        if value > limit:
            raise self.error(
                node, keypath, f"{what} {exact(value)} is more than the limit of {exact(limit)}"
            )
        return value

    def parse_size(self, node: Node, keypath: str, text: str) -> int:
        t = text.strip()
        if len(t) > MAX_SCALAR:
            raise self.error(node, keypath, f"{show(t)} is too long to be a size")
        if _LEADING_ZERO.fullmatch(t) is None:
            try:
                return _size_of(t)
            except SizeError as e:
                raise self.error(node, keypath, _number_hint(t) or str(e)) from None
        raise self.error(node, keypath, _number_hint(t) or f"{show(t)} is not a size")

    def integer(self, node: Node, keypath: str, *, minimum: int, limit: int, what: str) -> int:
        text = self.scalar(node, keypath, "a whole number").strip()
        if len(text) > MAX_SCALAR:
            raise self.error(node, keypath, f"{show(text)} is too long to be a {what}")
        if not _SIGNED_INT.fullmatch(text) or _LEADING_ZERO.fullmatch(text):
            hint = _number_hint(text)
            if hint is not None:
                raise self.error(node, keypath, hint)
            if _DECIMAL.fullmatch(text):
                raise self.error(node, keypath, f"a {what} must be a whole number, got {text}")
            raise self.error(node, keypath, f"expected a whole number, got {show(text)}")
        value = int(text)
        if value < minimum:
            raise self.error(node, keypath, f"a {what} must be at least {minimum}, got {value}")
        if value > limit:
            raise self.error(
                node, keypath, f"a {what} of {value:,} is more than the limit of {limit:,} (2^40)"
            )
        return value

    def percentage(self, node: Node, path: str, key: Key) -> int:
        """A whole percentage ``key.minimum``..``key.maximum``, ``%`` optional."""
        text = self.scalar(node, path, "a percentage such as 10%").strip()
        number = text[:-1].strip() if text.endswith("%") else text
        limit = key.maximum if key.maximum is not None else 100
        if (not _DIGITS.fullmatch(number) or len(number) > 3 or _LEADING_ZERO.fullmatch(number)
                or not key.minimum <= int(number) <= limit):
            raise self.error(
                node, path, f"{key.name} must be a whole percentage from {key.minimum} to {limit}, got {show(text)}"
            )
        return int(number)

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
            raise self.error(node, path, f"{show(text)} is too long for touch")
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
                    f"touch {exact(prefix)} is more than the mapping's size ({exact(size)})",
                )
        else:
            reason = _number_hint(number) or f"expected {_TOUCH_WHAT}, got {show(text)}"
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
                    raise self.error(item, ipath, f"{show(text)} is too long for a range")
                fast = plain_range(text)
                if fast is not None:  # what scan writes: whole numbers, K/M/G/T (no Fraction)
                    ranges.append(self.checked_range(item, ipath, text, *fast, size))
                    continue
                head, sep, tail = text.partition("-")
                if not (sep and head.strip() and tail.strip()):
                    raise self.error(
                        item, ipath, f"{show(text)} is not a range: write start-end, e.g. 4M-6M (end exclusive)"
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
            raise self.error(node, path, f"range {shown} ends past the end of the mapping ({exact(size)})")
        return start, end

    def address(self, node: Node, path: str, page: int, size: int, arch: Arch) -> int | None:
        """A mapping's address, or None for ``auto``."""
        text = self.scalar(node, path, "auto or an address such as 0x7f0000000000").strip()
        if text == "auto":
            return None
        if text.startswith("-") and text[1:2].isdigit():
            raise self.error(node, path, f"an address cannot be negative, got {show(text)}")
        if not (_HEX.fullmatch(text) or _UNIT_SUFFIX.fullmatch(text) or _DECIMAL.fullmatch(text)):
            raise self.error(
                node,
                path,
                _number_hint(text)
                or "expected auto, a hex address such as 0x7f0000000000 or a number of bytes, "
                f"got {show(text)}",
            )
        address = self.parse_size(node, path, text)
        if address % page:
            raise self.error(
                node,
                path,
                f"address {address:#x} is not a multiple of the page size ({exact(page)})",
            )
        if address + size > arch.user_limit:
            raise self.error(
                node,
                path,
                f"the mapping [{address:#x}, {address + size:#x}) ends above the user address "
                f"space of {arch.name}, which ends at {arch.user_limit:#x} "
                f"({user_limit(arch)})",
            )
        return address



def _tag(tag: str) -> str:
    """``!!omap`` for ``tag:yaml.org,2002:omap``."""
    return "!!" + tag[18:] if tag.startswith("tag:yaml.org,2002:") else tag


def _kind(node: Node) -> str:
    if node.id == "mapping":
        return "a mapping"
    if node.id == "sequence":
        return "a list"
    return "a value"

