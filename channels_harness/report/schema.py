"""The JSON schema of data.json (``schema.json`` beside this file) and its check."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_FILE = Path(__file__).with_name("schema.json")


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def validate(data: dict[str, Any]) -> None:
    """Raise :class:`jsonschema.ValidationError` if ``data`` is not a valid data.json."""
    jsonschema.Draft202012Validator(schema()).validate(data)
