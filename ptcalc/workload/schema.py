"""The JSON Schema (draft 2020-12) of the workload format, made from the
description of every key (:mod:`ptcalc.workload.keys`): what ``ptcalc
schema`` prints and ``ptcalc/workload/workload.schema.json`` holds.

The schema checks the shape of a document -- known keys, value kinds,
choices, required keys -- as an editor (yaml-language-server) or
check-jsonschema sees it after YAML has turned the text into data.  The
rules that tie keys together (an offset is a multiple of its segment's page
size, ``reserved`` is less than ``memory``) and exact limits on text stay
the loader's, which reads every value from its text: a file the schema
accepts can still be refused by ptcalc, with a located message.

A file of several documents (``---``) is valid when each document is.

>>> s = workload_schema()
>>> s["$schema"], sorted(s["properties"])[:3], s["$defs"]["mapping"]["required"]
('https://json-schema.org/draft/2020-12/schema', ['host', 'instances', 'name'], ['segment'])
"""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any

from ptcalc.model.accounting import KERNEL_PATTERN
from ptcalc.units import SIZE_NUMBER_PATTERN, SIZE_PATTERN, SIZE_UNIT_PATTERN
from ptcalc.workload.keys import MAX_HEADROOM, WORKLOAD, WORKLOAD_ALTERNATIVES, Key, Kind, Section, spelled

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SHIPPED = "workload.schema.json"
"""The generated schema, shipped in this package (a test keeps it equal to :func:`workload_schema`)."""

_DEFS = {"host": "host", "segments": "segment", "processes": "process_group", "Mappings": "mapping",
         "Private mappings": "private_mapping", "instances": "instance", "options": "options"}
"""The name of each section's definition, by Section.name."""

_BOOLEAN_TEXT = "|".join(
    "".join(f"[{c.upper()}{c}]" for c in word) for word in ("true", "false", "yes", "no", "on", "off"))
_SIZE_BODY = rf"(?:{SIZE_NUMBER_PATTERN}\s*{SIZE_UNIT_PATTERN}?|0[xX][0-9a-fA-F]+)"


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _size(key: Key | None = None) -> dict[str, Any]:
    integer: dict[str, Any] = {"type": "integer", "minimum": key.minimum if key is not None else 0}
    if key is not None and key.maximum is not None:
        integer["maximum"] = key.maximum
    return {"anyOf": [integer, {"type": "string", "pattern": _anchored(SIZE_PATTERN)}]}


def _count(key: Key) -> dict[str, Any]:
    integer: dict[str, Any] = {"type": "integer", "minimum": key.minimum}
    if key.maximum is not None:
        integer["maximum"] = key.maximum
    return {"anyOf": [integer, {"type": "string", "pattern": r"^\s*\+?(?:0|[1-9][0-9]*)\s*$"}]}


def _value(key: Key) -> dict[str, Any]:
    """The schema of a key's value, without its description."""
    kind = key.kind
    if kind is Kind.SIZE:
        return _size(key)
    if kind is Kind.PAGE_SIZE:
        return _size()
    if kind is Kind.COUNT:
        return _count(key)
    if kind is Kind.BOOLEAN:
        # YAML 1.1 booleans: a YAML 1.2 reader (yaml-language-server) sees yes/no/on/off as text
        return {"anyOf": [{"type": "boolean"}, {"type": "string", "pattern": _anchored(_BOOLEAN_TEXT)}]}
    if kind is Kind.CHOICE:
        return {"enum": list(key.choices)}
    if kind is Kind.NAME:
        # any scalar but null; a number or boolean is read as written
        return {"anyOf": [{"type": "string", "pattern": r"\S"}, {"type": ["number", "boolean"]}]}
    if kind is Kind.SEGMENT_NAME:
        return {"type": ["string", "number"]}
    if kind is Kind.PERCENTAGE:
        assert key.maximum == MAX_HEADROOM == 99  # the pattern below: 0 .. 99
        return {"anyOf": [{"type": "integer", "minimum": key.minimum, "maximum": key.maximum},
                          {"type": "string", "pattern": r"^\s*(?:0|[1-9][0-9]?)(?:\s*%)?\s*$"}]}
    if kind is Kind.POOLS:
        assert key.maximum is not None
        return {"type": "object", "propertyNames": {"pattern": _anchored(SIZE_PATTERN)},
                "additionalProperties": _count(Key("pages", Kind.COUNT, "", maximum=key.maximum))}
    if kind is Kind.KERNEL:
        return {"anyOf": [{"type": "string", "pattern": _anchored(KERNEL_PATTERN)}, {"type": "number"}]}
    if kind is Kind.ADDRESS:
        return {"anyOf": [{"const": "auto"}, *_size()["anyOf"]]}
    if kind is Kind.TOUCH:
        fraction = r"0+(?:\.[0-9]*)?|0*\.[0-9]+|0*1(?:\.0*)?"
        percent = r"(?:0*(?:[0-9]{1,2}(?:\.[0-9]*)?|\.[0-9]+)|0*100(?:\.0*)?)\s*%"
        with_unit = rf"{SIZE_NUMBER_PATTERN}\s*{SIZE_UNIT_PATTERN}"
        text = _anchored(rf"\s*(?:{fraction}|{percent}|{with_unit})\s*")
        ranges = {"type": "array", "items": {"anyOf": [
            {"type": "string", "pattern": _anchored(rf"\s*{_SIZE_BODY}\s*-\s*{_SIZE_BODY}\s*")},
            {"type": "array", "prefixItems": [_size(), _size()], "minItems": 2, "maxItems": 2},
        ]}}
        return {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "string", "pattern": text},
                          ranges]}
    assert key.section is not None
    ref = {"$ref": f"#/$defs/{_DEFS[key.section.name]}"}
    if kind is Kind.SECTION:
        return ref
    if kind is Kind.NAMED:
        return {"type": "object", "propertyNames": {"pattern": r"\S"}, "additionalProperties": ref,
                **({"minProperties": 1} if key.non_empty else {})}
    if kind is Kind.LIST:
        return {"type": "array", "items": ref, **({"minItems": 1} if key.non_empty else {})}
    raise ValueError(kind)  # pragma: no cover


def _default(key: Key) -> Any:
    """The key's default as JSON, or None when it has no fixed one."""
    if key.required or key.default is None:
        return None
    if key.kind is Kind.SIZE and key.default:
        return spelled(key.default, key.kind)
    if key.kind is Kind.LIST:
        return list(key.default)
    return key.default


def _property(key: Key) -> dict[str, Any]:
    out = {"description": key.meaning, **_value(key)}
    default = _default(key)
    if default is not None:
        out["default"] = default
    return out


def _object(section: Section) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "description": section.meaning,
        "properties": {k.name: _property(k) for k in section.keys},
        "additionalProperties": False,
    }
    required = [k.name for k in section.keys if k.required]
    if required:
        out["required"] = required
    return out


def _sections(section: Section, into: dict[str, Section]) -> dict[str, Section]:
    """Every section under ``section``, by definition name, depth first."""
    for k in section.keys:
        if k.section is not None and _DEFS[k.section.name] not in into:
            into[_DEFS[k.section.name]] = k.section
            _sections(k.section, into)
    return into


def workload_schema() -> dict[str, Any]:
    """The JSON Schema of one workload document."""
    root = _object(WORKLOAD)
    defs = _sections(WORKLOAD, {})
    # WORKLOAD_ALTERNATIVES: segments and processes, or instances, or all three
    root["anyOf"] = [{"required": list(keys)} for keys in WORKLOAD_ALTERNATIVES]
    together = WORKLOAD_ALTERNATIVES[0]
    root["dependentRequired"] = {k: [o for o in together if o != k] for k in together}
    return {
        "$schema": DRAFT,
        "title": "ptcalc workload",
        **root,
        "description": root["description"] + " A file of several documents (---) is valid when each one is. "
        "Written by ptcalc schema from ptcalc/workload/keys.py; docs/workload-format.md explains every key.",
        "$defs": {name: _object(s) for name, s in defs.items()},
    }


def schema_text() -> str:
    """:func:`workload_schema` as ``ptcalc schema`` prints it (and the shipped file holds)."""
    return json.dumps(workload_schema(), indent=2, ensure_ascii=False) + "\n"


def shipped_text() -> str:
    """The schema shipped in the package (``ptcalc/workload/workload.schema.json``)."""
    return resources.files("ptcalc.workload").joinpath(SHIPPED).read_text(encoding="utf-8")


def shipped_path() -> str:
    """Where the shipped schema lives on this machine: an absolute path, what
    ``ptcalc scan``'s modeline names by default (``ptcalc schema --path``)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), SHIPPED)


def modeline(ref: str) -> str:
    """The comment that points yaml-language-server (VS Code, Neovim) at a schema:
    ``ref`` is a URL, an absolute path or a path relative to the file.

    >>> modeline("./ptcalc-workload.schema.json")
    '# yaml-language-server: $schema=./ptcalc-workload.schema.json'
    """
    return f"# yaml-language-server: $schema={ref}"


__all__ = ["DRAFT", "SHIPPED", "modeline", "schema_text", "shipped_path", "shipped_text", "workload_schema"]
