"""Choosing what a command evaluates: the page-size column and the schemes."""

from __future__ import annotations

import click

from ptcalc.errors import PtcalcError, UsageError
from ptcalc.units import SizeError, format_size, parse_size
from ptcalc.model.whatif import Column, columns
from ptcalc.workload.types import Workload

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


def pick_column(workload: Workload, page_size: int | None) -> Column:
    """The configured column (``page_size`` None) or the what-if column with
    that page size.  Raises PtcalcError when the architecture has no such page
    size or the workload cannot be placed on it."""
    cols = columns(workload)
    if page_size is None:
        return next(c for c in cols if c.configured)
    arch = workload.arch
    if page_size not in arch.page_sizes():
        sizes = ", ".join(format_size(p).replace(" ", "") for p in arch.page_sizes())
        raise UsageError(f"--page-size: {format_size(page_size)} is not a page size of {arch.name} "
                         f"(choose from configured, {sizes})")
    # Prefer the what-if column (key like 2MiB-hugetlb); the configured column
    # carries that key too when the workload already is on those pages.
    for c in cols:
        if c.page_size == page_size and c.key != "configured":
            if c.workload is None:
                raise PtcalcError(f"{workload.source}: the {c.label} what-if is not available: {c.unavailable}")
            return c
    raise PtcalcError(f"{workload.source}: no {format_size(page_size)} column")  # pragma: no cover
