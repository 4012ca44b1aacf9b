"""The JSON schema of data.json, built from the typed rows, and its check.

The envelope (run id, status, environment...) is written out here; every
row section's item schema comes from its dataclass in
:mod:`channels_harness.report.rows`, so a field is declared once.
``schema.json`` beside this file is the same schema, written out for readers
and other tools (a test keeps it in step: ``python -m
channels_harness.report.schema > channels_harness/report/schema.json``).
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from channels_harness.report.rows import ROW_TYPES
from channels_harness.runtime.records import Record, record_items

SCHEMA_FILE = Path(__file__).with_name("schema.json")
SCHEMA_VERSION = 1

# Sections every data.json has had since version 1; later sections are optional, so
# older runs stay valid (Run.load gives a missing section an empty list).
REQUIRED_SECTIONS = (
    "conformance",
    "throughput",
    "latency",
    "handshake",
    "memory",
    "breakdown",
    "blocking",
    "headroom",
    "locust",
    "failures",
)

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean"}

ENVELOPE: dict[str, Any] = {
    "schema_version": {"const": SCHEMA_VERSION},
    "run_id": {"type": "string", "pattern": "^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9-]+$"},
    "kind": {"type": "string"},
    "status": {"enum": ["complete", "incomplete"]},
    "started": {"type": "string"},
    "finished": {"type": ["string", "null"]},
    "command": {"type": "array", "items": {"type": "string"}},
    "options": {"type": "object"},
    "environment": {
        "type": "object",
        "required": ["date", "host", "cpu_model", "cpu_count", "os", "python", "git", "versions"],
        "properties": {
            "versions": {"type": "object", "additionalProperties": {"type": "string"}},
            "cpu_count": {"type": ["integer", "null"]},
        },
    },
    "servers": {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "required": ["name", "version", "command"],
            "properties": {
                "command": {"type": "array", "items": {"type": "string"}},
                "version": {"type": "string"},
            },
        },
    },
    "notes": {"type": "array", "items": {"type": "string"}},
}


def _type_schema(hint: Any) -> dict[str, Any]:
    """The JSON schema of one annotated field type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [_type_schema(arg) for arg in typing.get_args(hint)]
        if all(set(option) == {"type"} for option in options):
            names: list[str] = []
            for option in options:
                names += option["type"] if isinstance(option["type"], list) else [option["type"]]
            return {"type": names}
        return {"anyOf": options}
    if hint is type(None):
        return {"type": "null"}
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    if origin is list or hint is list:
        items = record_items(hint)
        return {"type": "array", "items": row_schema(items)} if items else {"type": "array"}
    if origin is dict or hint is dict:
        return {"type": "object"}
    return {}


def row_schema(kind: type[Record]) -> dict[str, Any]:
    """The item schema of ``kind``'s section (or of a record a row holds a list of):
    every field typed, the ones without a default required, nothing else allowed."""
    assert is_dataclass(kind)
    hints = typing.get_type_hints(kind)
    properties = {f.name: _type_schema(hints[f.name]) for f in fields(kind)}
    required = [
        f.name for f in fields(kind) if f.default is MISSING and f.default_factory is MISSING
    ]
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def build() -> dict[str, Any]:
    """The whole data.json schema."""
    sections = {kind.SECTION: {"type": "array", "items": row_schema(kind)} for kind in ROW_TYPES}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"channels-harness/data.json/v{SCHEMA_VERSION}",
        "title": "One run of the Channels load and conformance harness",
        "type": "object",
        "required": [*ENVELOPE, *REQUIRED_SECTIONS],
        "properties": {**ENVELOPE, **sections},
    }


@cache
def schema() -> dict[str, Any]:
    """The schema as shipped in ``schema.json``."""
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def validate(data: dict[str, Any]) -> None:
    """Raise :class:`jsonschema.ValidationError` if ``data`` is not a valid data.json."""
    jsonschema.Draft202012Validator(schema()).validate(data)


if __name__ == "__main__":
    print(json.dumps(build(), indent=1))
