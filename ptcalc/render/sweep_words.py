"""What every ``sweep`` format says about the sweep: its axis, what grows, how counts round."""

from __future__ import annotations

from ptcalc.model.sweep import SweepResult
from ptcalc.units import format_size


def axis_label(sw: SweepResult) -> str:
    """``processes``, ``processes in NAME`` (one group chosen), ``size of SEGMENT``."""
    if sw.axis == "size":
        return f"size of {sw.grows_name}"
    return f"processes in {sw.grows_name}" if sw.chosen else "processes"


def axis_value(sw: SweepResult, v: int) -> str:
    return format_size(v) if sw.axis == "size" else f"{v:,}"


def grows_text(sw: SweepResult) -> str:
    """``all groups``, ``group NAME``, ``segment NAME``."""
    return "all groups" if sw.grows == "all-groups" else f"{sw.grows} {sw.grows_name}"


ROUNDING = {
    "none": "none: one group grows, its count is the axis value",
    "largest-remainder": ("largest remainder: each group gets floor(count x N / total), the processes left over go "
                          "one each to the groups with the largest remainders (ties: the group listed first)"),
    "scale-touched": "mappings of the whole segment grow with it; touched ranges scale, rounded out to pages",
}


def rounding_text(sw: SweepResult) -> str:
    return ROUNDING[sw.rounding]
