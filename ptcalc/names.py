"""Names are data: text ptcalc did not write, made safe wherever it is shown.

Names come from workload files (refused there when they hold a character
:func:`unprintable` finds), from file paths given on the command line, and
from ``/proc`` (``scan`` copies process names, which any local user sets):
none of it may move the operator's cursor, clear the screen, open a
hyperlink (OSC 8), overwrite a line (``\\r``), reorder text (bidi
overrides) or inject markup.  One module, used by the loader, ``scan`` and
every renderer:

* :func:`unprintable`: where a name holds a character that is not printable
  (``str.isprintable``: C0 and C1 controls, DEL, ESC, format characters
  such as bidi overrides and zero-width spaces, line and paragraph
  separators, spaces other than U+0020, unassigned code points);
* :func:`printable`: the text with each such character written as a visible
  escape (``\\x1b``, ``\\u202e``), for the terminal, JUnit XML and names
  read from ``/proc``;
* :func:`markdown`: printable, and inert in GitHub's and GitLab's markdown
  (CommonMark backslash escapes and HTML entities render the same in both);
* :func:`csv_cell`: a spreadsheet shows a cell starting with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return as text, not a formula.

(rich tables need no escaping of their own: the Console is made with
``markup=False``, so ``[bold]`` in a name prints as written.)
"""

from __future__ import annotations

import re


def unprintable(text: str) -> int | None:
    """Index of the first character of ``text`` that is not printable, or None.

    >>> unprintable("dedicated servers") is None
    True
    >>> unprintable("pg\\x1b[2J")
    2
    >>> unprintable("evil\\u202egnp.exe")
    4
    """
    if text.isprintable():
        return None
    return next(i for i, c in enumerate(text) if not c.isprintable())


def describe(c: str) -> str:
    """A character as a reader can name it: ``U+001B``.

    >>> describe("\\x1b")
    'U+001B'
    """
    return f"U+{ord(c):04X}"


def _escape(c: str) -> str:
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character that is not printable written as a
    visible escape; printable text is returned as it is.

    >>> printable("pg\\x1b]8;;http://x\\x07link\\r")
    'pg\\\\x1b]8;;http://x\\\\x07link\\\\x0d'
    >>> printable("rtl\\u202eabc")
    'rtl\\\\u202eabc'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


_MARKDOWN = re.compile(r"[\\`*_\[\]<>&|~#!]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def markdown(text: str) -> str:
    """``text`` (printable) as inert GitHub/GitLab markdown: ``& < >`` as
    entities (no HTML), ``|`` escaped (no extra table cell), and the
    characters of emphasis, code, links and headings backslash-escaped.

    >>> markdown("<b>pg|1</b> `x` *y* [a](b)")
    '&lt;b&gt;pg\\\\|1&lt;/b&gt; \\\\`x\\\\` \\\\*y\\\\* \\\\[a\\\\](b)'
    """
    return _MARKDOWN.sub(lambda m: _ENTITIES.get(m.group(), "\\" + m.group()), printable(text))


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell: text that a spreadsheet would take for a formula gets a
    leading ``'`` (OWASP's advice); numbers and other text pass unchanged.

    >>> csv_cell("=cmd|' /C calc'!A0"), csv_cell(-5), csv_cell("ok")
    ("'=cmd|' /C calc'!A0", -5, 'ok')
    """
    if isinstance(value, str):
        value = printable(value)
        if value.startswith(_FORMULA):
            return "'" + value
    return value


__all__ = ["csv_cell", "describe", "markdown", "printable", "unprintable"]
