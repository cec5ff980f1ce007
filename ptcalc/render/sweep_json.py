"""``sweep --format json``: every point, exact bytes.  Schema version 1."""

from __future__ import annotations

import json
from typing import Any

from ptcalc.model.sweep import SweepResult
from ptcalc.render.facts import about
from ptcalc.render.sweep_words import axis_label, grows_text, rounding_text
from ptcalc.render.words import sweep_column_label

SCHEMA_VERSION = 1


def document(sw: SweepResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        **about(sw.workload),
        "axis": sw.axis,
        "axis_label": axis_label(sw),
        "grows": grows_text(sw),
        "rounding": rounding_text(sw),
        "column": sweep_column_label(sw.column),
        "available_bytes": sw.available_bytes,
        "headroom_percent": sw.headroom_percent,
        "points": sw.points,
        "groups": list(sw.group_names),
        "group_counts": [list(c) for c in sw.group_counts] if sw.group_counts is not None else None,
        "schemes": {
            s.scheme: {
                "page_table_bytes": s.page_table_bytes,
                "vmpte_total_bytes": s.vmpte_total_bytes,
                "demand_bytes": s.demand_bytes,
                "verdicts": s.verdicts,
                "first_not_fitting": sw.crossing_for(s.scheme).first_failing,
                "first_not_fitting_verdict": sw.crossing_for(s.scheme).verdict,
                "status": sw.crossing_for(s.scheme).status,
            }
            for s in sw.series
        },
    }


def render(sw: SweepResult) -> str:
    return json.dumps(document(sw), indent=2)
