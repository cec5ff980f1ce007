"""``check --format json``: every condition with exact byte values.

Schema version 1: ``status`` (pass/fail/error) and ``exit_status`` at the top,
then per file its ``checks`` (scheme x column) and their ``conditions``; a file
of several YAML documents (hosts) has an entry per document, ``document``
its number from 1 (null for a file of one).
"""

from __future__ import annotations

import json
from typing import Any

from ptcalc.model.check import CheckRun
from ptcalc.render.check_words import message
from ptcalc.render.words import column_label
from ptcalc.units import size_token

SCHEMA_VERSION = 1


def _limit(lim: Any) -> dict[str, Any] | None:
    if lim is None:
        return None
    return {"kind": lim.kind, "value": lim.value, "text": lim.text}


def document(run: CheckRun) -> dict[str, Any]:
    files, thresholds = run.files, run.thresholds
    code = run.exit_status
    return {
        "schema_version": SCHEMA_VERSION,
        "status": {0: "pass", 1: "fail", 2: "error"}[code],
        "exit_status": code,
        "thresholds": {
            "require": thresholds.require,
            "max_page_tables": _limit(thresholds.max_page_tables),
            "view": thresholds.view,
            "min_headroom": _limit(thresholds.min_headroom),
            "schemes": list(run.schemes),
            "page_size": "configured" if run.page_size is None else size_token(run.page_size),
        },
        "files": [
            {
                "file": f.path,
                "document": f.document,
                "workload": f.title,
                "status": f.status,
                "error": f.error,
                "checks": [
                    {
                        "scheme": c.scheme,
                        "column": c.column.key,
                        "label": column_label(c.column),
                        "passed": c.passed,
                        "verdict": c.verdict,
                        "page_table_bytes": c.page_table_bytes,
                        "demand_bytes": c.demand_bytes,
                        "available_bytes": c.available_bytes,
                        "free_bytes": c.free_bytes,
                        "conditions": [
                            {"name": k.name, "passed": k.passed, "actual": k.actual, "limit": k.limit,
                             "message": message(c, k)}
                            for k in c.conditions
                        ],
                    }
                    for c in f.checks
                ],
            }
            for f in files
        ],
    }


def render(run: CheckRun) -> str:
    return json.dumps(document(run), indent=2)
