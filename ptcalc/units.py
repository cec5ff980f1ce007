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

_SIZE_RE = re.compile(r"^\s*([+-]?)(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$")


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
    exact = Fraction(number) * factor
    if exact.denominator != 1:
        raise SizeError(f"{value!r} is not a whole number of bytes")
    return int(exact)


def format_size(n: int) -> str:
    """Format bytes in IEC units with at most one decimal, rounded half up.

    Whole values print without a decimal.

    >>> format_size(322122547200), format_size(945526849536), format_size(512)
    ('300 GiB', '880.6 GiB', '512 B')
    >>> format_size(1232896)
    '1.2 MiB'
    """
    if n < 0:
        return "-" + format_size(-n)
    for name, unit in _IEC:
        if n >= unit:
            if n % unit == 0:
                return f"{n // unit:,} {name}"
            tenths = (n * 10 + unit // 2) // unit
            if tenths % 10 == 0:
                return f"{tenths // 10:,}.0 {name}"
            return f"{tenths // 10:,}.{tenths % 10} {name}"
    return f"{n:,} B"


def format_kib(n: int) -> str:
    """Format bytes as whole KiB, the way ``/proc/PID/status`` prints VmPTE.

    >>> format_kib(1232896)
    '1,204 KiB'
    """
    return f"{n // KiB:,} KiB" if n % KiB == 0 else f"{n:,} B"


def format_count(n: int) -> str:
    """Thousands separators for counts.

    >>> format_count(153600)
    '153,600'
    """
    return f"{n:,}"
