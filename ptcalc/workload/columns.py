"""Reading many table rows at once: the mappings of a large fastyaml document,
column by column.

A scanned host's workload file lists 100,000 mappings, no two alike (each at
its own address, offset and touched ranges), as block tables
(:class:`ptcalc.workload.fastyaml.Table`).  Reading them one by one, node by
node (:meth:`ptcalc.workload.reader.WorkloadReader.mapping_spec`), costs tens
of microseconds each.  :func:`read_rows` reads the values of every row of one
key order at once: each key's texts are parsed through a memo (each distinct
text once), the checks between keys run on arrays, and the specs go into the
reader's :class:`~ptcalc.workload.types.SpecTable` as columns.

It takes only what it can read exactly as the node reader does -- sizes and
ranges in the plain forms ``ptcalc scan`` writes (``63352KiB``, ``0x7f00...``,
``[0-2M, 4M-6M]``), the common ``touch`` texts -- and leaves every other row,
and every row with a problem, to the node reader (which reports the problem;
the loader then re-reads the document through libyaml to locate it).
``tests/test_columns.py`` requires the same workload either way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ptcalc.errors import WorkloadError
from ptcalc.model.geometry import Arch
from ptcalc.workload.fastyaml import SEP, Row
from ptcalc.workload.keys import MAPPING, MAX_SIZE
from ptcalc.workload.types import PROTECTIONS, USERFAULTFD_MODES, Segment
from ptcalc.workload.values import _BOOLS, _NULLS

if TYPE_CHECKING:
    from ptcalc.workload.reader import WorkloadReader

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MiB": 1 << 20,
          "G": 1 << 30, "GB": 1 << 30, "GiB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TiB": 1 << 40,
          "P": 1 << 50, "PB": 1 << 50, "PiB": 1 << 50}
_SIZE = re.compile(r"(0|[1-9][0-9]{0,17})(|B|[KMGTP](?:i?B)?)|0[xX][0-9a-fA-F]{1,15}")
"""A size in a form whose value is plain to read (as parse_size reads it):
digits (no leading zero) and a binary unit, or hex; small enough for int64."""
_RANGE = r"(?:0|[1-9][0-9]{0,15})[KMGT]?-(?:0|[1-9][0-9]{0,15})[KMGT]?"
_RANGES = re.compile(rf"\[ *{_RANGE}(?: *, *{_RANGE})* *\]")
"""A list of ranges as ``ptcalc scan`` writes them (values.touch_ranges' plain form)."""
_RANGE_P = r"(?:0|[1-9][0-9]{0,15}+)[KMGT]?+-(?:0|[1-9][0-9]{0,15}+)[KMGT]?+"
_RANGES_P = rf"\[ *+{_RANGE_P}(?: *+, *+{_RANGE_P})*+ *+\]"
_RANGE_LINES = re.compile(rf"(?:{_RANGES_P}\n)*+{_RANGES_P}")
"""Lines of :data:`_RANGES`, one list a line, checked by one ``fullmatch``:
the same forms written possessive (a form ends where the next character
cannot go on with it), so no backtracking state is kept and no string is
made per line (half the time of a ``findall`` of ``^_RANGES$``)."""
_INNER = str.maketrans({"[": None, "]": None, " ": None, "\n": ";"})
"""Lines of :data:`_RANGES` to their ranges (:func:`_touch_lists`)."""
_FULL = frozenset({"1", "1.0", "100%"})
_WHOLE = object()
_NOTHING = object()
"""Touch texts read once per column (:func:`_read_shape`): the whole mapping, nothing."""
_NONE = frozenset({"0", "0.0", "0%"})
_KNOWN = frozenset(MAPPING.names)
_PART_ROWS = 1 << 14
"""Rows read together (:func:`_read_shape`): the temporaries of a part
(arrays of its rows, of its touched ranges' numbers) stay at a few MiB
whatever the file's size."""
REJECT = -1
AUTO = -2


def _text(raw: str) -> tuple[str, bool]:
    """A kept table value's text and whether it was quoted (fastyaml.Table)."""
    if raw[:1] in ('"', "'"):
        return raw[1:-1], True
    return raw, False


def _scalar(raw: str) -> str | None:
    """NodeReader.scalar: the text, or None for a plain null or boolean (an error there)."""
    text, quoted = _text(raw)
    if not quoted and (text in _NULLS or text.lower() in _BOOLS):
        return None
    return text


def _size(raw: str) -> int:
    """A size's bytes, or REJECT when it is not in the plain form (the node reader decides)."""
    text = _scalar(raw)
    if text is None:
        return REJECT
    text = text.strip()
    m = _SIZE.fullmatch(text)
    if m is None:
        return REJECT
    value = int(text, 16) if m.group(1) is None else int(m.group(1)) * _UNITS[m.group(2)]
    return value if value <= MAX_SIZE else REJECT  # (the node reader says what the limit is)


def _prefix_size(text: str) -> str | int:
    """A scalar ``touch`` text (stripped): its bytes when it is a size in
    the plain form with a unit (``60KiB``; as WorkloadReader.touch_prefix
    reads it: digits alone are a fraction there), else the text (which
    touch_prefix reads, row by row)."""
    m = _SIZE.fullmatch(text)
    if m is None or m.group(1) is None or not m.group(2):
        return text
    value = int(m.group(1)) * _UNITS[m.group(2)]
    return value if value <= MAX_SIZE else text


def _address(raw: str) -> int:
    """An address, AUTO, or REJECT (the node reader decides)."""
    text = _scalar(raw)
    if text is None:
        return REJECT
    text = text.strip()
    if text == "auto":
        return AUTO
    if text[:2] not in ("0x", "0X"):
        return REJECT
    return _size(text)


def _choice(choices: Sequence[str]) -> Callable[[str], int]:
    def code(raw: str) -> int:
        text = _scalar(raw)
        return choices.index(text) if text in choices else REJECT
    return code


def _boolean(raw: str) -> int:
    if raw[:1] in ('"', "'"):
        return REJECT
    value = _BOOLS.get(raw.lower())
    return REJECT if value is None else int(value)


_DECIMALS = re.compile(r"^(?:0|[1-9][0-9]{0,17})(?:B|[KMGTP](?:i?B)?)?$", re.M)
"""Lines of a plain decimal size (as _SIZE's first form)."""
_HEXES = re.compile(r"^0[xX][0-9a-fA-F]{1,15}$", re.M)
_DIGIT_VALUE = bytes.maketrans(b"0123456789abcdefABCDEF", bytes(range(16)) + bytes(range(10, 16)))
_UNIT_SHIFT = {ord("K"): 10, ord("M"): 20, ord("G"): 30, ord("T"): 40, ord("P"): 50}


def _sizes(values: Sequence[str], read: Callable[[str], int] = _size) -> Any:
    """:func:`_size` of every value: at once, as an int64 array, when all are
    plain decimal sizes or all hex (a column of 100,000 distinct offsets or
    addresses: :func:`_plain_lines`), else one by one (a list)."""
    joined = "\n".join(values)
    n = len(values)
    out = None
    hexa = joined[:2] in ("0x", "0X")  # (the form to try first: a column of addresses is hex)
    if n:
        out = _plain_lines(joined, n, hexa, numbers=True)[1]
    if out is None:  # (another form, or past MAX_SIZE)
        return list(map(read, values))
    return out


def _plain_lines(joined: str, n: int, hexa: bool, numbers: bool = False) -> tuple[bool, Any]:
    """Whether each of the ``n`` lines of ``joined`` is a match of
    :data:`_HEXES` (``hexa``) or of :data:`_DECIMALS` -- as ``findall``
    counts them, but checked on the text's bytes with numpy (a line's
    length, its digits, then its unit), not by a regular expression tried
    at every character (0.05 s a column of 100,000 values) -- and, with
    ``numbers``, when they are, their numbers as an int64 array read on the
    same bytes (no string or int per value; None when one is more than
    MAX_SIZE: the values are then read one by one, which says so)."""
    if not joined.isascii():
        return len((_HEXES if hexa else _DECIMALS).findall(joined)) == n, None
    import numpy as np

    i64 = np.int64
    raw = joined.encode("ascii")
    b = np.frombuffer(raw, np.uint8)
    nl = np.flatnonzero(b == ord("\n"))
    if nl.size + 1 != n:
        return False, None
    starts = np.concatenate([np.zeros(1, i64), nl + 1])
    length = np.concatenate([nl, np.full(1, b.size, i64)]) - starts
    del nl
    shift = np.zeros(starts.size, i64)
    if hexa:
        # 0x, then 1 to 15 hex digits: the x the one byte a line that is not a hex digit
        if bool(((length < 3) | (length > 17)).any()) or bool((b[starts] != ord("0")).any()):
            return False, None
        x = b[starts + 1]
        if not bool(((x == ord("x")) | (x == ord("X"))).all()):
            return False, None
        not_hex = np.ones(256, np.bool_)
        not_hex[np.frombuffer(b"0123456789abcdefABCDEF\n", np.uint8)] = False
        if int(np.count_nonzero(not_hex[b])) != n:
            return False, None
        if not numbers:
            return True, None
        n_digits, first, base = length - 2, starts + 2, 16  # past 0x
    else:
        if bool((length < 1).any()):
            return False, None
        digit = (b >= ord("0")) & (b <= ord("9"))
        n_digits = np.add.reduceat(digit, starts, dtype=i64)
        del digit
        unit = length - n_digits  # (where the unit starts: no digit after it, so the digits come first)
        if bool(((n_digits < 1) | (n_digits > 18) | (unit > 3)).any()):
            return False, None
        if bool(((n_digits > 1) & (b[starts] == ord("0"))).any()):
            return False, None  # a leading zero
        at = starts + n_digits
        last = b.size - 1
        c0 = b[np.minimum(at, last)]
        c1 = b[np.minimum(at + 1, last)]
        c2 = b[np.minimum(at + 2, last)]
        is_unit = np.isin(c0, np.frombuffer(b"KMGTP", np.uint8))
        ok = ((unit == 0)
              | ((unit == 1) & (is_unit | (c0 == ord("B"))))
              | ((unit == 2) & is_unit & (c1 == ord("B")))
              | ((unit == 3) & is_unit & (c1 == ord("i")) & (c2 == ord("B"))))
        if not bool(ok.all()):
            return False, None
        if not numbers:
            return True, None
        shift_of = np.zeros(256, i64)
        for c, k in _UNIT_SHIFT.items():
            shift_of[c] = k
        has_unit = unit > 0
        shift[has_unit] = shift_of[c0[has_unit]]  # B alone: 0
        first, base = starts, 10
    value = np.frombuffer(raw.translate(_DIGIT_VALUE), np.uint8)
    number = _digits_number(np, value, first + n_digits - 1, n_digits, base)
    if bool((number > (MAX_SIZE >> shift)).any()):
        return True, None
    return True, number << shift


def _digits_number(np: Any, value: Any, last: Any, n_digits: Any, base: int) -> Any:
    """The numbers whose digits' values (``value``, a uint8 array, a digit's
    value at its position) end at the positions ``last``, ``n_digits`` each
    (at most 18 in base 10, 15 in base 16: within int64), as an int64 array:
    a pass per digit place over every number at once, so the temporaries
    are a few arrays of one value per number, whatever the digits."""
    i64 = np.int64
    number = np.zeros(last.size, i64)
    place = np.ones(1, i64)  # base ** k
    for k in range(int(n_digits.max()) if n_digits.size else 0):
        has = n_digits > k
        digit = value[np.where(has, last - k, 0)].astype(i64)
        digit[~has] = 0
        number += digit * place
        place *= base
    return number

def _addresses(values: Sequence[str]) -> list[int]:
    """:func:`_address` of every value (hex ones at once)."""
    if "auto" not in values:  # (a quoted or spaced auto: _address reads it, one by one)
        return _sizes(values, _address)
    auto = [v == "auto" for v in values]
    hexes = _sizes([v for v, a in zip(values, auto) if not a], _address)
    it = iter(hexes)
    return [AUTO if a else next(it) for a in auto]


def _memoised(memo: dict[str, int], values: Sequence[str], read: Callable[[str], int]) -> list[int]:
    for v in set(values).difference(memo):
        memo[v] = read(v)
    return list(map(memo.__getitem__, values))


def read_rows(reader: WorkloadReader, distinct: list[Row], rows: list[int],
              segments: dict[str, Segment], arch: Arch) -> None:
    """Read those ``rows`` (row numbers into the document's ``distinct``
    rows) that can be read column by column: their items (code, address,
    auto) put in ``reader.row_items`` (no dict of them made first), their
    specs appended to ``reader.specs``; the others are left out."""
    import numpy as np

    reader.row_items.reserve(len(distinct))
    keys_of = list(map(itemgetter(0), map(distinct.__getitem__, rows)))
    by_keys: dict[tuple[str, ...], list[int]] = {}
    if keys_of.count(keys_of[0]) == len(keys_of):  # one key order (the usual case): no row by row grouping
        by_keys[keys_of[0]] = rows
    else:
        for r, k in zip(rows, keys_of):
            by_keys.setdefault(k, []).append(r)
    del keys_of
    for keys, group in by_keys.items():
        if "segment" in keys and _KNOWN.issuperset(keys):
            for at in range(0, len(group), _PART_ROWS):  # (a part at a time: its temporaries stay small)
                part = group[at:at + _PART_ROWS]
                # every row's values, then every k-th of them: a column (fastyaml.Row)
                values = SEP.join(map(itemgetter(1), map(distinct.__getitem__, part))).split(SEP)
                cols = {key: values[k::len(keys)] for k, key in enumerate(keys)}
                del values
                _read_shape(np, reader, cols, part, segments, arch)


def _read_shape(np: Any, reader: WorkloadReader, cols: dict[str, list[str]],
                rows: list[int], segments: dict[str, Segment], arch: Arch) -> None:
    """:func:`read_rows` of rows with one key order, given as their values by key."""
    i64 = np.int64
    n = len(rows)
    memo = reader.column_memo
    names = list(segments)
    seg_page = np.asarray([s.page_size for s in segments.values()], i64)
    seg_size = np.asarray([s.size for s in segments.values()], i64)

    def column(key: str, read: Callable[[str], int]) -> Any:
        if read is _size:
            return np.asarray(_sizes(cols[key]), i64)
        if read is _address:
            return np.asarray(_addresses(cols[key]), i64)
        return np.asarray(_memoised(memo.setdefault(key, {}), cols[key], read), i64)

    index = {name: i for i, name in enumerate(names)}

    def segment(raw: str) -> int:
        text = _scalar(raw)
        return index.get(text, REJECT) if text is not None else REJECT

    seg = column("segment", segment)
    ok = seg >= 0
    seg = np.where(ok, seg, 0)
    page = seg_page[seg]
    ssize = seg_size[seg]
    # offset, size: mapping_spec's checks
    zeros = np.zeros(n, i64)
    off = column("offset", _size) if "offset" in cols else zeros
    ok &= off >= 0
    off = np.where(ok, off, 0)
    ok &= ((off & (page - 1)) == 0) & ((off == 0) | (off < ssize))
    if "size" in cols:
        size = column("size", _size)
        ok &= (size >= MAPPING["size"].minimum) & (size <= MAX_SIZE)
        size = np.where(ok, size, page)
        ok &= ((size & (page - 1)) == 0) & (off + size <= ssize)
    else:
        size = ssize - off
        ok &= size <= arch.user_limit
    prot = column("protection", _choice(PROTECTIONS)) if "protection" in cols else \
        np.full(n, PROTECTIONS.index(MAPPING["protection"].default), i64)
    uffd = column("userfaultfd", _choice(USERFAULTFD_MODES)) if "userfaultfd" in cols else \
        np.full(n, USERFAULTFD_MODES.index(MAPPING["userfaultfd"].default), i64)
    soft = column("soft_dirty", _boolean) if "soft_dirty" in cols else np.zeros(n, i64)
    ok &= (prot >= 0) & (uffd >= 0) & (soft >= 0)
    # address
    if "address" in cols:
        address = column("address", _address)
        auto = address == AUTO
        ok &= auto | ((address >= 0) & ((address & (page - 1)) == 0) & (address + size <= arch.user_limit))
        address = np.where(auto | ~ok, 0, address)
    else:
        auto = np.ones(n, bool)
        address = zeros
    # touch: (row, start, end) pieces, relative to the mapping
    none = PROTECTIONS.index("none")
    sizes = size.tolist()
    pages = page.tolist()
    p_row: list[Any] = []
    p_start: list[Any] = []
    p_end: list[Any] = []
    if "touch" in cols:
        texts = cols["touch"]
        firsts = "".join(map(itemgetter(0), texts))
        is_list = np.frombuffer(firsts.encode(), np.uint8) == ord("[")
        scalar_rows = np.flatnonzero(~is_list & ok).tolist()
        # each distinct text looked at once: None (not a scalar), whole, nothing, or a prefix to work out
        kind_of: dict[str, Any] = {}
        for raw in set(map(texts.__getitem__, scalar_rows)):
            text = _scalar(raw)
            kind_of[raw] = None if text is None else _WHOLE if text.strip() in _FULL else \
                _NOTHING if text.strip() in _NONE else _prefix_size(text.strip())
        kinds = list(map(kind_of.__getitem__, map(texts.__getitem__, scalar_rows)))
        whole = [i for i, k in zip(scalar_rows, kinds) if k is _WHOLE]
        f_row: list[int] = []
        f_start: list[int] = []
        f_end: list[int] = []
        for i, text in zip(scalar_rows, kinds):
            if text is None:
                ok[i] = False
            elif type(text) is int:  # a size: the prefix of that many bytes, in whole pages (touch_prefix)
                if text > sizes[i]:
                    ok[i] = False  # (touch_prefix says so)
                elif text:
                    f_row.append(i)
                    f_start.append(0)
                    f_end.append(-(-text // pages[i]) * pages[i])
            elif text is not _WHOLE and text is not _NOTHING:
                try:
                    touched = reader.touch_memo.get((text, sizes[i], pages[i]))
                    if touched is None:
                        touched = reader.touch_memo[(text, sizes[i], pages[i])] = reader.touch_prefix(
                            None, "", text, sizes[i], pages[i])
                except WorkloadError:
                    ok[i] = False
                    continue
                for a, b in touched:
                    f_row.append(i)
                    f_start.append(a)
                    f_end.append(b)
        if f_row:
            p_row.append(f_row)
            p_start.append(f_start)
            p_end.append(f_end)
        if whole:
            w = np.asarray(whole, i64)
            p_row.append(w)
            p_start.append(np.zeros(len(whole), i64))
            p_end.append(size[w])
        list_rows = np.flatnonzero(is_list & ok)
        if list_rows.size:
            _touch_lists(np, texts, list_rows, size, page, ok, p_row, p_start, p_end)
    else:
        w = np.flatnonzero(prot != none)
        p_row.append(w)
        p_start.append(np.zeros(len(w), i64))
        p_end.append(size[w])
    pr = np.concatenate([np.asarray(x, i64) for x in p_row]) if p_row else np.zeros(0, i64)
    ps = np.concatenate([np.asarray(x, i64) for x in p_start]) if p_start else np.zeros(0, i64)
    pe = np.concatenate([np.asarray(x, i64) for x in p_end]) if p_end else np.zeros(0, i64)
    # a PROT_NONE mapping touches nothing: a touch there is an error
    ok[pr[prot[pr] == none]] = False
    keep = ok[pr]
    pr, ps, pe = pr[keep], ps[keep], pe[keep]
    order = np.argsort(pr, kind="stable")
    pr, ps, pe = pr[order], ps[order], pe[order]
    counts = np.bincount(pr, minlength=n)[ok]
    # the specs, as columns
    specs = reader.specs
    taken = np.flatnonzero(ok)
    k = int(taken.size)
    base = len(specs)
    seg_l = seg[taken].tolist()
    specs.segment.extend(map(names.__getitem__, seg_l))
    specs.offset.frombytes(off[taken].astype(i64).tobytes())  # (int64 arrays: SpecTable)
    specs.size.frombytes(size[taken].astype(i64).tobytes())
    specs.protection.extend(map(PROTECTIONS.__getitem__, prot[taken].tolist()))
    specs.userfaultfd.extend(map(USERFAULTFD_MODES.__getitem__, uffd[taken].tolist()))
    specs.soft_dirty.extend(map(bool, soft[taken].tolist()))
    first = specs.touch_first[-1]
    specs.touch_start.frombytes(ps.astype(i64).tobytes())
    specs.touch_end.frombytes(pe.astype(i64).tobytes())
    specs.touch_first.frombytes((np.cumsum(counts) + first).astype(i64).tobytes())
    items = reader.row_items  # (room for every row: read_rows)
    at = np.asarray(rows, i64)[taken]
    np.frombuffer(items.code, i64)[at] = np.arange(base, base + k, dtype=i64)
    np.frombuffer(items.address, i64)[at] = address[taken]
    np.frombuffer(items.auto, np.int8)[at] = auto[taken]


_SHIFT = {ord("K"): 10, ord("M"): 20, ord("G"): 30, ord("T"): 40}


def _range_numbers(np: Any, text: str) -> Any:
    """The numbers of ``text`` -- :data:`_RANGE` tokens (digits, no leading
    zero, at most 16, then K, M, G, T or nothing) between ``,``, ``;`` and
    ``-`` -- as an int64 array, read on its bytes (no string per number);
    None when one is 2**62 or more."""
    i64 = np.int64
    raw = text.encode("ascii")
    b = np.frombuffer(raw, np.uint8)
    sep = np.flatnonzero((b == ord(",")) | (b == ord("-")) | (b == ord(";")))
    last = np.concatenate([sep - 1, [b.size - 1]])  # each token's last character
    shift_of = np.zeros(256, i64)
    for c, k in _SHIFT.items():
        shift_of[c] = k
    shift = shift_of[b[last]]
    unit = shift > 0
    n_digits = (last + 1 - np.concatenate([[0], sep + 1])) - unit
    del sep
    number = _digits_number(np, np.frombuffer(raw.translate(_DIGIT_VALUE), np.uint8), last - unit, n_digits, 10)
    if bool((number >= np.left_shift(1, 62 - shift)).any()):
        return None
    return number << shift


def _touch_lists(np: Any, texts: Sequence[str], list_rows: Any, size: Any, page: Any, ok: Any,
                 p_row: list[Any], p_start: list[Any], p_end: list[Any]) -> None:
    """The touched pieces of rows whose ``touch`` is a list of ranges
    (values.touch_ranges, then touched.normalise): each range checked, rounded
    out to whole pages, and merged with the one before it when they meet.
    A row whose ranges are not in order (normalise would sort them) is left
    to the node reader."""
    i64 = np.int64
    idx = list_rows.tolist()
    lists = list(map(texts.__getitem__, idx))
    joined = "\n".join(lists)
    if not _RANGE_LINES.fullmatch(joined):
        good = list(map(_RANGES.fullmatch, lists))
        bad = [i for i, g in zip(idx, good) if g is None]
        if bad:
            ok[bad] = False
        kept = [(i, t) for i, t, g in zip(idx, lists, good) if g is not None]
        idx = [i for i, _ in kept]
        joined = "\n".join(t for _, t in kept)
    if not idx:
        return
    # the ranges, a list's after the one before it: its brackets and spaces
    # dropped (a _RANGES list has brackets only at its ends), ";" between lists
    inner = joined.translate(_INNER)
    values = _range_numbers(np, inner)
    if values is None:
        ok[idx] = False  # past int64: the node reader, with Python ints
        return
    pairs = values.reshape(-1, 2)
    s0, e0 = pairs[:, 0], pairs[:, 1]
    # each range's row: the lists (";") before its "-" (a range's one "-")
    b = np.frombuffer(inner.encode("ascii"), np.uint8)
    rr = np.asarray(idx, i64)[np.searchsorted(np.flatnonzero(b == ord(";")), np.flatnonzero(b == ord("-")))]
    del b
    pg = page[rr]
    bad_rows = rr[(e0 <= s0) | (e0 > size[rr])]
    s = s0 & ~(pg - 1)
    e = -((-e0) & ~(pg - 1))
    same = rr[1:] == rr[:-1]
    unsorted = same & ((s[1:] < s[:-1]) | (e[1:] < e[:-1]))
    ok[bad_rows] = False
    ok[rr[1:][unsorted]] = False
    # merge runs that meet once rounded (ends are in order within a row)
    starts = np.concatenate([np.ones(1, bool), ~(same & (s[1:] <= e[:-1]))])
    ends = np.concatenate([starts[1:], np.ones(1, bool)])
    p_row.append(rr[starts])
    p_start.append(s[starts])
    p_end.append(e[ends])


__all__ = ["read_rows"]
