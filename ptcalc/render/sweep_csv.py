"""``sweep --format csv``: one row per point and scheme (long format), exact bytes."""

from __future__ import annotations

import csv
import io

from ptcalc.model.sweep import SweepResult
from ptcalc.names import csv_cell

HEADER = ["axis", "value", "scheme", "page_table_bytes", "vmpte_total_bytes", "demand_bytes", "available_bytes",
          "verdict", "group_counts"]


def render(sw: SweepResult) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(HEADER)
    for i, v in enumerate(sw.points):
        counts = " ".join(str(c) for c in sw.group_counts[i]) if sw.group_counts is not None else ""
        for s in sw.series:
            out.writerow(map(csv_cell, [sw.axis, v, s.scheme, s.page_table_bytes[i], s.vmpte_total_bytes[i],
                                        s.demand_bytes[i], "" if sw.available_bytes is None else sw.available_bytes,
                                        s.verdicts[i] or "", counts]))
    return buf.getvalue().rstrip("\n")
