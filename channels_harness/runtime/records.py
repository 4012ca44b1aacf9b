"""Dataclasses that travel as JSON: between processes (a generator's config and
result) and into data.json (report rows).

:class:`Record` gives a dataclass ``to_json`` and a tolerant ``from_json``
(keys it does not know are ignored, missing ones take the field's default), so
every such type is written once and old files still load. A field typed as a
list of records (``list[Other] | None``) is written and read back as one.
"""

from __future__ import annotations

import functools
import types
import typing
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
        nested = _nested(cls)
        values = {k: v for k, v in data.items() if k in names}
        for name, kind in nested.items():
            if isinstance(values.get(name), list):
                values[name] = [
                    kind.from_json(item) if isinstance(item, dict) else item
                    for item in values[name]
                ]
        return cls(**values)


def record_items(hint: Any) -> type[Record] | None:
    """The record type of a ``list[R]`` (or ``list[R] | None``) annotation, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [record_items(arg) for arg in typing.get_args(hint)]
        return next((kind for kind in found if kind is not None), None)
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (None,)
        if isinstance(item, type) and issubclass(item, Record):
            return item
    return None


@functools.cache
def _nested(cls: type) -> dict[str, type[Record]]:
    """The fields of ``cls`` that hold lists of records, with the record type."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}  # annotations only a type checker can resolve: no record lists there
    found = {f.name: record_items(hints[f.name]) for f in fields(cls)}
    return {name: kind for name, kind in found.items() if kind is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list) and any(isinstance(item, Record) for item in value):
        return [_plain(item) for item in value]
    return value
