"""``measure --format json``: every number exact, in bytes (schema version 1)."""

from __future__ import annotations

import json
from typing import Any

from ptcalc.linux.measure import MeasureResult
from ptcalc.render.measure_facts import repaired_lines

SCHEMA_VERSION = 1


def to_dict(r: MeasureResult) -> dict[str, Any]:
    """The JSON document as a dict."""
    return {
        "schema_version": SCHEMA_VERSION,
        "command": "measure",
        "workload": r.title,
        "source": r.source,
        "kernel": r.kernel,
        "scale": r.scale,
        "scheme": r.scheme,
        "processes": r.workload.process_count,
        "calibration": {
            "pgd_bytes": r.calibration.pgd_bytes,
            "pagetables_tables": r.calibration.pagetables_tables,
            "vmpte_bytes": r.calibration.vmpte_bytes,
            "pud_counted": r.calibration.pud_counted,
        },
        "levels": [
            {"level": row.level, "model_tables": row.model_tables, "counted": row.counted, "why": row.why}
            for row in r.levels
        ],
        "pagetables": {
            "model_bytes": r.model_pagetables_bytes,
            "kernel_bytes": r.kernel_pagetables_bytes,
            "others_adjust_bytes": r.others_adjust_bytes,
            "agree": r.pagetables_agree,
            "trusted": not r.noise,
            "transitions_bytes": list(r.transitions),
        },
        "groups": [
            {
                "name": g.name,
                "count": g.count,
                "model_vmpte_bytes": g.model_vmpte,
                "kernel_vmpte_bytes": [{"bytes": v, "processes": n} for v, n in g.kernel_values()],
                "agree": g.agree,
            }
            for g in r.groups
        ],
        "verdict": r.verdict,
        "differences": r.differences(),
        "problems": list(r.problems),
        "noise": list(r.noise),
        "notes": list(r.notes),
        "repaired": repaired_lines(r.repaired),
        "elapsed_seconds": round(r.elapsed, 3),
    }


def render(r: MeasureResult) -> str:
    return json.dumps(to_dict(r), indent=2)
