"""Binary sizes: parse what operators write, print what they read.

Every unit is a power of 1024, as Oracle (``sga_target=300G``) and
PostgreSQL (``shared_buffers = 8GB``) use them: ``K``, ``KB`` and ``KiB`` all
mean 1024 bytes.  Parsing is exact (``fractions.Fraction``); a size that is not
a whole number of bytes is an error, never rounded.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
PiB = 1 << 50
EiB = 1 << 60

_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": KiB,
    "kb": KiB,
    "kib": KiB,
    "m": MiB,
    "mb": MiB,
    "mib": MiB,
    "g": GiB,
    "gb": GiB,
    "gib": GiB,
    "t": TiB,
    "tb": TiB,
    "tib": TiB,
    "p": PiB,
    "pb": PiB,
    "pib": PiB,
}

# ASCII digits and blanks only: Python's \d and \s would take "６４GiB" (fullwidth)
# or an ideographic space (issue 16.6)
_SIZE_RE = re.compile(r"^[ \t]*([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[ \t]*([A-Za-z]*)[ \t]*$")


def _any_case(text: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in text)


SIZE_UNIT_PATTERN = "(?:" + "|".join(_any_case(u) for u in sorted(_UNITS, key=len, reverse=True) if u) + ")"
"""The units :func:`parse_size` takes, as a regular expression (any case)."""
SIZE_NUMBER_PATTERN = r"(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)"
"""The number of a size: decimal, no sign, no leading zero (YAML 1.1 reads ``017`` as octal)."""
SIZE_PATTERN = rf"\s*(?:\+?{SIZE_NUMBER_PATTERN}\s*{SIZE_UNIT_PATTERN}?|0[xX][0-9a-fA-F]+)\s*"
"""A size as the workload format writes one (``300GiB``, ``1.5 T``, ``4096``,
``0x1000``), as a regular expression that is valid ECMA-262 and Python (the
JSON Schema of ``ptcalc schema`` uses it).  Whether it is a whole number of
bytes is for :func:`parse_size` to say.

>>> import re
>>> [bool(re.fullmatch(SIZE_PATTERN, t)) for t in ("300GiB", "1.5 t", "0x1000", "+4K", "-4K", "10GiBs", "017")]
[True, True, True, True, False, False, False]
"""
N = Any
"""An int, or an array of ints (numpy, or ``ptcalc.model.xp``'s pure-Python arrays)."""


def floor_div(x: N, d: int) -> N:
    """``x // d``: a shift when ``d`` is a power of two, as every table span
    and page size is (an arithmetic shift floors negative values too).
    Works on ints and on arrays alike.

    >>> floor_div(-5, 4), floor_div(5, 3)
    (-2, 1)
    """
    if d > 0 and d & (d - 1) == 0:
        return x >> (d.bit_length() - 1)
    return x // d


def ceil_div(x: N, d: int) -> N:
    """``x / d`` rounded up: the number of ``d``-blocks up to ``x``.

    >>> ceil_div(5, 4), ceil_div(8, 4), ceil_div(-5, 4)
    (2, 2, -1)
    """
    return -floor_div(-x, d)


def mod(x: N, d: int) -> N:
    """``x % d`` (a mask for a power of two: the floored remainder, as %)."""
    if d > 0 and d & (d - 1) == 0:
        return x & (d - 1)
    return x % d


def round_up(x: N, d: int) -> N:
    """``x`` up to a multiple of ``d``.

    >>> round_up(5000, 4096), round_up(4096, 4096)
    (8192, 4096)
    """
    return ceil_div(x, d) * d


def round_down(x: N, d: int) -> N:
    """``x`` down to a multiple of ``d``."""
    return floor_div(x, d) * d


_IEC = (("EiB", EiB), ("PiB", PiB), ("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB))


class SizeError(ValueError):
    """A size that does not parse; the message says why and what is accepted."""


def parse_size(value: object) -> int:
    """Parse a size into exact bytes.

    >>> parse_size("300GiB"), parse_size("8GB"), parse_size("512 K"), parse_size(4096)
    (322122547200, 8589934592, 524288, 4096)
    >>> parse_size("1.5T") == 3 * TiB // 2
    True
    >>> parse_size("10 GiBs")
    Traceback (most recent call last):
    ...
    ptcalc.units.SizeError: unknown unit 'GiBs' in '10 GiBs' (sizes are binary: K, M, G, T, P with optional B or iB, e.g. 300GiB)
    """
    if isinstance(value, bool):
        raise SizeError(f"expected a size such as 300GiB or a number of bytes, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise SizeError(f"a size cannot be negative, got {value}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SizeError(f"a size must be finite, got {value!r}")
        if value < 0:
            raise SizeError(f"a size cannot be negative, got {value!r}")
        if value != int(value):
            raise SizeError(f"a size must be a whole number of bytes, got {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise SizeError(f"expected a size such as 300GiB or a number of bytes, got {type(value).__name__}")
    m = _SIZE_RE.match(value)
    if m is None:
        raise SizeError(f"{value!r} is not a size (write e.g. 300GiB, 10MiB, 4096)")
    sign, number, unit = m.groups()
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise SizeError(
            f"unknown unit {unit!r} in {value!r} "
            "(sizes are binary: K, M, G, T, P with optional B or iB, e.g. 300GiB)"
        )
    if sign == "-":
        raise SizeError(f"a size cannot be negative, got {value!r}")
    if "." not in number:  # digits only (_SIZE_RE): the exact product without a Fraction
        return int(number) * factor
    exact = Fraction(number) * factor
    if exact.denominator != 1:
        raise SizeError(f"{value!r} is not a whole number of bytes")
    return int(exact)


def format_size(n: int, unit: str | None = None) -> str:
    """Format bytes in IEC units with at most one decimal, rounded half up;
    whole values print without a decimal.  ``unit`` (``"KiB"``, ...) prints
    that unit alone, in whole numbers, as ``/proc`` prints VmPTE (bytes when
    ``n`` is not a whole number of it, and for zero, written ``0 B`` in every
    unit).  The one byte formatter: every figure a reader sees goes through it.

    >>> format_size(322122547200), format_size(945526849536), format_size(512)
    ('300 GiB', '880.6 GiB', '512 B')
    >>> format_size(1232896), format_size(1232896, "KiB"), format_size(1000, "KiB"), format_size(0, "KiB")
    ('1.2 MiB', '1,204 KiB', '1,000 B', '0 B')
    """
    if n < 0:
        return "-" + format_size(-n, unit)
    if unit is not None:
        size = dict(_IEC)[unit]
        return f"{n // size:,} {unit}" if n % size == 0 and n else f"{n:,} B"
    for name, size in _IEC:
        if n >= size:
            if n % size == 0:
                return f"{n // size:,} {name}"
            tenths = (n * 10 + size // 2) // size
            return f"{tenths // 10:,}.{tenths % 10} {name}"
    return f"{n:,} B"


def size_token(n: int) -> str:
    """A size as one word, for keys and option values: ``2MiB``, ``4KiB``.

    >>> size_token(2 << 20), size_token(16384)
    ('2MiB', '16KiB')
    """
    return format_size(n).replace(" ", "")


def format_kib(n: int) -> str:
    """Bytes as whole KiB, the way ``/proc/PID/status`` prints VmPTE (``format_size(n, "KiB")``).

    >>> format_kib(1232896)
    '1,204 KiB'
    """
    return format_size(n, "KiB")


def format_count(n: int) -> str:
    """Thousands separators for counts.

    >>> format_count(153600)
    '153,600'
    """
    return f"{n:,}"
