"""Dataclasses that travel as JSON: between processes (a generator's config and
result) and into data.json (report rows).

:class:`Record` gives a dataclass ``to_json`` and a tolerant ``from_json``
(keys it does not know are ignored, missing ones take the field's default), so
every such type is written once and old files still load.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, Self


class Record:
    """Mixin for a dataclass that is read from and written to JSON."""

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict, in declaration order."""
        assert is_dataclass(self)
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """An instance from ``data``; unknown keys are ignored."""
        assert is_dataclass(cls)
        names = {f.name for f in fields(cls) if f.init}
        return cls(**{k: v for k, v in data.items() if k in names})


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
