"""``check --format json``: every condition with exact byte values.

Schema version 1: ``status`` (pass/fail/error) and ``exit_status`` at the top,
then per file its ``checks`` (scheme x column) and their ``conditions``; a file
of several YAML documents (hosts) has an entry per document, ``document``
its number from 1 (null for a file of one).
"""

from __future__ import annotations

import json
from typing import Any

from ptcalc.model.check import FileResult, Thresholds, exit_status

SCHEMA_VERSION = 1


def _limit(lim: Any) -> dict[str, Any] | None:
    if lim is None:
        return None
    return {"kind": lim.kind, "value": lim.value, "text": lim.text}


def document(files: list[FileResult], thresholds: Thresholds, schemes: tuple[str, ...],
             page_size: str) -> dict[str, Any]:
    code = exit_status(files)
    return {
        "schema_version": SCHEMA_VERSION,
        "status": {0: "pass", 1: "fail", 2: "error"}[code],
        "exit_status": code,
        "thresholds": {
            "require": thresholds.require,
            "max_page_tables": _limit(thresholds.max_page_tables),
            "min_headroom": _limit(thresholds.min_headroom),
            "schemes": list(schemes),
            "page_size": page_size,
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
                        "column": c.column_key,
                        "label": c.column_label,
                        "passed": c.passed,
                        "verdict": c.verdict,
                        "page_table_bytes": c.page_table_bytes,
                        "demand_bytes": c.demand_bytes,
                        "available_bytes": c.available_bytes,
                        "free_bytes": c.free_bytes,
                        "conditions": [
                            {"name": k.name, "passed": k.passed, "actual": k.actual, "limit": k.limit,
                             "message": k.message}
                            for k in c.conditions
                        ],
                    }
                    for c in f.checks
                ],
            }
            for f in files
        ],
    }


def render(files: list[FileResult], thresholds: Thresholds, schemes: tuple[str, ...], page_size: str) -> str:
    return json.dumps(document(files, thresholds, schemes, page_size), indent=2)
