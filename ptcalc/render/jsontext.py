"""JSON text as ``json.dumps(obj, indent=2)`` lays it out, fast for large reports.

Python's json module encodes in C only without ``indent``; with it, a report
of 1,000 groups x 16 cells (and 100,000 re-placed mappings) takes seconds in
its pure-Python encoder.  :func:`dumps` indents the outer structure the same
way, and writes each item of a :class:`Lines` list (the groups of a cell)
on one line of its own (C-encoded).  A :class:`Raw` value is JSON text
encoded already (a list the same in several cells is encoded once).

>>> print(dumps({"a": 1, "b": Lines([{"x": 1}, {"x": 2}]), "c": []}))
{
  "a": 1,
  "b": [
    {"x": 1},
    {"x": 2}
  ],
  "c": []
}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice
from typing import Any, Callable

def _compact_encoder() -> Callable[[Any], str]:
    """``json.JSONEncoder(separators=(", ", ": ")).encode``, with its C
    encoder made once rather than on every call (a :class:`Lines` list of
    100,000 items is 100,000 calls)."""
    encoder = json.JSONEncoder(separators=(", ", ": "))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator
        return encoder.encode
    iterencode = make({}, encoder.default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False,
                      True)  # as JSONEncoder.iterencode(_one_shot=True) makes it
    return lambda obj: "".join(iterencode(obj, 0))


_compact = _compact_encoder()


class Raw(str):
    """JSON text, written as it is."""


class Lines(list):  # type: ignore[type-arg]
    """A list written one item a line, each item on its line (no Raw in them)."""


def records(items: list[dict[str, Any]], level: int) -> Raw:
    """A list of flat objects of numbers and fixed words (no text of a user's,
    which could hold ``}, {``), one per line at ``level``: one C-encoded call."""
    if not items:
        return Raw("[]")
    pad = "\n" + "  " * (level + 1)
    inner = json.dumps(items, separators=(", ", ": "))[1:-1]
    return Raw("[" + pad + inner.replace("}, {", "}," + pad + "{") + "\n" + "  " * level + "]")


def lines_text(items: list[str], level: int) -> Raw:
    """A list of items encoded already (JSON text each, on one line), one per
    line at ``level``, as :func:`records` lays them out."""
    if not items:
        return Raw("[]")
    pad = "\n" + "  " * (level + 1)
    return Raw("[" + pad + ("," + pad).join(items) + "\n" + "  " * level + "]")


def lines_pieces(items: Iterable[str], level: int, chunk: int = 4096) -> list[str]:
    """:func:`lines_text` of ``items`` in pieces of ``chunk`` items each (the
    same text when joined): a long list is never held as one string beside
    its items."""
    pad = "\n" + "  " * (level + 1)
    sep = "," + pad
    it = iter(items)
    out: list[str] = []
    while True:
        part = list(islice(it, chunk))
        if not part:
            break
        out.append(("[" + pad if not out else sep) + sep.join(part))
    if not out:
        return ["[]"]
    out.append("\n" + "  " * level + "]")
    return out


def dumps(obj: Any) -> str:
    out: list[str] = []
    _write(obj, 0, out)
    return "".join(out)


def _write(obj: Any, level: int, out: list[str]) -> None:
    if isinstance(obj, Raw):
        out.append(obj)
        return
    pad = "\n" + "  " * (level + 1)
    if isinstance(obj, dict) and obj:
        sep = "{" + pad
        for k, v in obj.items():
            out.append(sep + _compact(k if isinstance(k, str) else str(k)) + ": ")
            _write(v, level + 1, out)
            sep = "," + pad
        out.append("\n" + "  " * level + "}")
    elif isinstance(obj, list) and obj:
        if isinstance(obj, Lines):
            out.append("[" + pad + ("," + pad).join(map(_compact, obj)) + "\n" + "  " * level + "]")
            return
        sep = "[" + pad
        for v in obj:
            out.append(sep)
            _write(v, level + 1, out)
            sep = "," + pad
        out.append("\n" + "  " * level + "]")
    else:
        out.append(_compact(obj))


__all__ = ["Lines", "Raw", "dumps", "lines_pieces", "lines_text", "records"]
