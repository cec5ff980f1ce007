"""Choosing what a command evaluates: the page-size column."""

from __future__ import annotations

import click

from ptcalc.errors import UsageError
from ptcalc.units import SizeError, parse_size

PAGE_SIZE_HELP = ("Page size to evaluate: 'configured' (the workload as written, the default) or a "
                  "page size such as 4KiB, 2MiB or 1GiB for that what-if column (shmem/hugetlb "
                  "segments moved to those pages, as in estimate).")


def page_size_option(func):  # type: ignore[no-untyped-def]
    """``--page-size configured|SIZE``."""
    return click.option("--page-size", "page_size", metavar="configured|SIZE", default="configured",
                        show_default=True, help=PAGE_SIZE_HELP)(func)


def parse_page_size(text: str) -> int | None:
    """``configured`` -> None; ``2MiB``, ``2MiB-hugetlb`` -> bytes.  Raises UsageError."""
    t = text.strip()
    if t.lower() == "configured":
        return None
    if t.lower().endswith("-hugetlb"):
        t = t[: -len("-hugetlb")]
    try:
        return parse_size(t)
    except SizeError as e:
        raise UsageError(f"--page-size: {e} (or 'configured')") from None
