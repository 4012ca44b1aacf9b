"""The map from Autobahn|Testsuite's case ids to the harness's cases.

Autobahn's fuzzing cases of sections 1-7, 9, 10, 12 and 13 (517 ids) are the
floor of the suite: ``conformance/autobahn_map.toml`` maps every id (or a
group such as ``6.4.*``) to the cases that check the same behaviour, or says
why it does not apply. :data:`AUTOBAHN_GROUPS` is the shape of Autobahn's id
list; :func:`load_map` reads and checks the map file.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

from channels_harness.runtime.paths import CONFORMANCE_DIR

DEFAULT_PATH = CONFORMANCE_DIR / "autobahn_map.toml"

# Autobahn's id groups and how many cases each holds: "6.4": 4 means 6.4.1-6.4.4;
# a one-part key ("2": 11) means 2.1-2.11.
AUTOBAHN_GROUPS: dict[str, int] = {
    "1.1": 8, "1.2": 8, "2": 11, "3": 7, "4.1": 5, "4.2": 5, "5": 20,
    "6.1": 3, "6.2": 4, "6.3": 2, "6.4": 4, "6.5": 5, "6.6": 11, "6.7": 4, "6.8": 2,
    "6.9": 4, "6.10": 3, "6.11": 5, "6.12": 8, "6.13": 5, "6.14": 10, "6.15": 1,
    "6.16": 3, "6.17": 5, "6.18": 5, "6.19": 5, "6.20": 7, "6.21": 8, "6.22": 34,
    "6.23": 7,
    "7.1": 6, "7.3": 6, "7.5": 1, "7.7": 13, "7.9": 9, "7.13": 2,
    "9.1": 6, "9.2": 6, "9.3": 9, "9.4": 9, "9.5": 6, "9.6": 6, "9.7": 6, "9.8": 6,
    "10.1": 1,
    **{f"12.{group}": 18 for group in range(1, 6)},
    **{f"13.{group}": 18 for group in range(1, 8)},
}  # fmt: skip


class MapFileError(ValueError):
    """The map file is malformed; the message names the entry."""


@dataclass(frozen=True)
class MapEntry:
    """Some Autobahn ids, what they check (in our words), and our cases or why none."""

    ids: tuple[str, ...]
    what: str
    cases: tuple[str, ...] = ()
    reason: str = ""
    note: str = ""

    def covers(self, case_id: str) -> bool:
        """Whether one of :attr:`ids` is ``case_id`` or a ``group.*`` containing it."""
        return any(matches(pattern, case_id) for pattern in self.ids)


def autobahn_ids() -> list[str]:
    """Every case id of the sections mapped, in Autobahn's order."""
    return [f"{group}.{n}" for group, count in AUTOBAHN_GROUPS.items() for n in range(1, count + 1)]


def matches(pattern: str, case_id: str) -> bool:
    """``6.4.*`` matches 6.4.1 and 6.4.12; anything else matches only itself."""
    if pattern.endswith(".*"):
        return case_id.startswith(pattern[:-1])
    return case_id == pattern


def _entry(index: int, raw: dict[str, object]) -> MapEntry:
    where = f"map entry #{index + 1} ({raw.get('ids', '?')})"
    ids, cases, what = raw.get("ids"), raw.get("cases", []), raw.get("what")
    reason = raw.get("reason", "")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise MapFileError(f"{where}: ids is a non-empty list of strings")
    if not isinstance(what, str) or not what:
        raise MapFileError(f"{where}: what says, in a line, what the ids check")
    if not isinstance(cases, list) or not isinstance(reason, str):
        raise MapFileError(f"{where}: cases is a list, reason a string")
    if bool(cases) == bool(reason):
        raise MapFileError(f"{where}: give either cases or a reason")
    return MapEntry(
        ids=tuple(ids),
        what=what,
        cases=tuple(str(c) for c in cases),
        reason=reason,
        note=str(raw.get("note", "")),
    )


def load_map(path: Path = DEFAULT_PATH) -> list[MapEntry]:
    """The entries of the map file, checked for shape (not for coverage)."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    return [_entry(index, raw) for index, raw in enumerate(data.get("autobahn", []))]


def declared_cases(folder: Path = CONFORMANCE_DIR) -> set[str]:
    """The names of the test functions marked as cases in ``folder/test_*.py``."""
    names = set()
    for path in folder.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", "") == "case"
                for d in node.decorator_list
            ):
                names.add(node.name)
    return names
