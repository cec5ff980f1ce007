"""Write a workload as a workload file (YAML) that the loader reads back.

Hand-written rather than ``yaml.dump`` so the file reads like the shipped
configs: sizes in binary units, addresses in hex, comments where the caller
has something to say, and touched ranges as one compact flow list.  Every
value is exact: a size is written in the largest unit that divides it.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping as MappingOf, Sequence

from ptcalc.workload.touched import touch_value
from ptcalc.units import GiB, KiB, MiB, PiB, TiB
from ptcalc.workload.types import Mapping, PrivateMapping, Workload

_LONG_UNITS = (("PiB", PiB), ("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB))

TOUCH_LINE_WIDTH = 100
COMMENT_WIDTH = 100


def exact_size(n: int) -> str | int:
    """``n`` bytes in the largest binary unit that divides it, else the integer.

    >>> exact_size(300 * GiB), exact_size(24684096 * KiB), exact_size(100), exact_size(0)
    ('300GiB', '24684096KiB', 100, 0)
    """
    if n == 0:
        return 0
    for name, unit in _LONG_UNITS:
        if n % unit == 0:
            return f"{n // unit}{name}"
    return n


def quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _comment(lines: Sequence[str], indent: str) -> list[str]:
    out: list[str] = []
    for line in lines:
        for para in line.splitlines() or [""]:
            wrapped = textwrap.wrap(para, COMMENT_WIDTH - len(indent) - 2, subsequent_indent="  ",
                                    break_long_words=False, break_on_hyphens=False) or [""]
            out.extend(f"{indent}# {part}".rstrip() for part in wrapped)
    return out


def flow_list(items: Sequence[str], first_prefix: str, indent: str, width: int = TOUCH_LINE_WIDTH) -> list[str]:
    """``first_prefix[a, b, ...]`` wrapped at ``width``, continuation lines at ``indent``."""
    lines: list[str] = []
    cur = first_prefix + "["
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "]")
        if len(cur) + len(piece) + 1 > width and not cur.endswith("["):
            lines.append(cur)
            cur = indent + piece
        else:
            cur += ("" if cur.endswith("[") else " ") + piece
    lines.append(cur)
    return lines


def _touch_lines(m: Mapping | PrivateMapping, indent: str) -> list[str]:
    value = touch_value(m.touched, m.size)
    if isinstance(value, list):
        return flow_list(value, f"{indent}touch: ", indent + "  ")
    if isinstance(value, float):
        return [f"{indent}touch: {value}"]
    return [f"{indent}touch: {exact_size(value)}"]


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.+()/-]*(?: [A-Za-z0-9_.+()/-]+)*")

YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
"""Plain scalars YAML 1.1 (PyYAML) reads as a boolean or null, not a string."""


def is_plain_name(name: str) -> bool:
    """Whether ``name`` can be written bare in a flow row: YAML and the fast
    reader both read it as that plain string.

    >>> is_plain_name("libc.so.6"), is_plain_name("[heap]"), is_plain_name("no"), is_plain_name("2.0")
    (True, False, False, False)
    """
    return _PLAIN_NAME.fullmatch(name) is not None and name.lower() not in YAML_WORDS


def _private_lines(private: Sequence[PrivateMapping], base_page: int) -> list[str]:
    """A group's private mappings, one line each.  A wholly touched mapping
    with a plain name is a flow row (``- {kind: file, name: libc.so.6, address:
    0x7f.., size: 2044KiB}``: the fast reader takes a run of them as a table;
    ``ptcalc scan`` writes hundreds per group); any other is a block."""
    out: list[str] = []
    for p in private:
        named = p.name and p.name != p.kind
        page = f", page_size: {exact_size(p.page_size)}" if p.page_size != base_page else ""
        whole = p.touched == ((0, p.size),)
        if whole and (not named or is_plain_name(p.name)):
            name = f", name: {p.name}" if named else ""
            out.append(f"      - {{kind: {p.kind}{name}, address: {p.address:#x}, size: {exact_size(p.size)}{page}}}")
            continue
        out.append(f"      - kind: {p.kind}")
        if named:
            out.append(f"        name: {quote(p.name)}")
        out.append(f"        size: {exact_size(p.size)}")
        out.append(f"        address: {p.address:#x}")
        if page:
            out.append(f"        page_size: {exact_size(p.page_size)}")
        out.extend(_touch_lines(p, "        "))
    return out


def dump_workload(w: Workload, header: Sequence[str] = (), segment_comments: MappingOf[str, Sequence[str]] | None = None,
                  group_comments: Sequence[Sequence[str]] = (), first_line: str | None = None) -> str:
    """The workload file text for ``w``, with optional comments: ``first_line``
    (a modeline, written as given), ``header`` lines at the top, per segment
    name, and per group (by index)."""
    segment_comments = segment_comments or {}
    out: list[str] = ([first_line] if first_line else []) + _comment(header, "")
    if w.name:
        out.append(f"name: {quote(w.name)}")
    h = w.host
    out.append("host:")
    if h.memory is not None:
        out.append(f"  memory: {exact_size(h.memory)}")
    out.append(f"  arch: {h.arch.name}")
    out.append(f"  pti: {'true' if h.pti else 'false'}")
    if h.kernel is not None:
        out.append(f"  kernel: '{h.kernel[0]}.{h.kernel[1]}'")
    if h.reserved:
        out.append(f"  reserved: {exact_size(h.reserved)}")
    if h.hugepages is not None:
        pools = ", ".join(f"{exact_size(ps)}: {n}" for ps, n in sorted(h.hugepages.items()))
        out.append(f"  hugepages: {{{pools}}}")
    out.append("segments:" if w.segments else "segments: {}")
    for name, seg in w.segments.items():
        out.extend(_comment(segment_comments.get(name, ()), "  "))
        out.append(f"  {quote(name)}:")
        out.append(f"    size: {exact_size(seg.size)}")
        out.append(f"    backing: {seg.backing}")
        out.append(f"    page_size: {exact_size(seg.page_size)}")
    out.append("processes:" if w.groups else "processes: []")
    for gi, g in enumerate(w.groups):
        if gi < len(group_comments):
            out.extend(_comment(group_comments[gi], "  "))
        out.append(f"  - name: {quote(g.name)}")
        out.append(f"    count: {g.count}")
        if g.private_memory:
            out.append(f"    private_memory: {exact_size(g.private_memory)}")
        out.append("    mappings:" if g.mappings else "    mappings: []")
        for m in g.mappings:
            out.append(f"      - segment: {quote(m.segment)}")
            out.append(f"        offset: {exact_size(m.offset)}")
            out.append(f"        size: {exact_size(m.size)}")
            out.append(f"        address: {m.address:#x}")
            out.append(f"        protection: {m.protection}")
            if m.userfaultfd != "none":
                out.append(f"        userfaultfd: {m.userfaultfd}")
            if m.soft_dirty:
                out.append("        soft_dirty: true")
            out.extend(_touch_lines(m, "        "))
        if g.default_layout:
            continue  # (the loader gives it the default layout again)
        out.append("    private_mappings:" if g.private_mappings else "    private_mappings: []")
        out.extend(_private_lines(g.private_mappings, h.arch.base_page))
    return "\n".join(out) + "\n"
