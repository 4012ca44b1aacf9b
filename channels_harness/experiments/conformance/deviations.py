"""The known deviations: one data file, each entry a strict xfail.

``conformance/deviations.toml`` lists behaviours that differ from the spec:
the case (or cases, when one behaviour shows in several), the servers (and
optionally the flavours), the grade, what was observed and why it deviates.
While a server behaves as recorded its case is an expected failure; the day
it changes (passes, or deviates differently) the suite goes red. An entry
marked ``flaky`` (a race that shows only sometimes) is a non-strict xfail.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from channels_harness.experiments.conformance.grades import Grade
from channels_harness.runtime.paths import CONFORMANCE_DIR

DEFAULT_PATH = CONFORMANCE_DIR / "deviations.toml"


class DeviationFileError(ValueError):
    """The deviations file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Deviation:
    """One recorded deviation of one case on some servers and flavours."""

    cases: tuple[str, ...]
    servers: tuple[str, ...]
    flavours: tuple[str, ...] | None
    grade: Grade
    clause: str
    observed: str
    why: str
    flaky: bool = False

    def covers(self, case: str, server: str, flavour: str) -> bool:
        """Whether this entry is about ``case`` on ``server`` in ``flavour``."""
        return (
            case in self.cases
            and server in self.servers
            and (self.flavours is None or flavour in self.flavours)
        )


def _entry(index: int, raw: dict[str, object]) -> Deviation:
    named = raw.get("cases", raw.get("case"))
    where = f"deviation #{index + 1} ({named or '?'})"
    missing = {"servers", "grade", "clause", "observed", "why"} - set(raw)
    if missing or not named:
        raise DeviationFileError(f"{where}: missing {sorted(missing) or ['case or cases']}")
    cases = [named] if isinstance(named, str) else named
    if not isinstance(cases, list):
        raise DeviationFileError(f"{where}: cases is a list of case names")
    try:
        grade = Grade(str(raw["grade"]))
    except ValueError:
        raise DeviationFileError(f"{where}: unknown grade {raw['grade']!r}") from None
    if not grade.is_deviation:
        raise DeviationFileError(f"{where}: a deviation is FAIL or NON-STRICT, not {grade}")
    servers = raw["servers"]
    flavours = raw.get("flavours")
    if not isinstance(servers, list) or not servers:
        raise DeviationFileError(f"{where}: servers is a non-empty list")
    if flavours is not None and not isinstance(flavours, list):
        raise DeviationFileError(f"{where}: flavours is a list")
    return Deviation(
        cases=tuple(str(c) for c in cases),
        servers=tuple(str(s) for s in servers),
        flavours=tuple(str(f) for f in flavours) if flavours is not None else None,
        grade=grade,
        clause=str(raw["clause"]),
        observed=str(raw["observed"]).strip(),
        why=str(raw["why"]).strip(),
        flaky=bool(raw.get("flaky", False)),
    )


class Deviations:
    """The parsed file; :meth:`find` answers for one case, server and flavour."""

    def __init__(self, entries: list[Deviation]) -> None:
        self.entries = entries

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> Deviations:
        """Read and validate ``path`` (an absent file means no known deviations)."""
        if not path.exists():
            return cls([])
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        raw_entries = data.get("deviation", [])
        entries = [_entry(i, raw) for i, raw in enumerate(raw_entries)]
        seen: dict[tuple[str, str, str], int] = {}
        for index, entry in enumerate(entries):
            for case in entry.cases:
                for server in entry.servers:
                    for flavour in entry.flavours or ("*",):
                        key = (case, server, flavour)
                        if key in seen:
                            raise DeviationFileError(
                                f"deviation #{index + 1}: {case} on {server} "
                                f"is already recorded in #{seen[key] + 1}"
                            )
                        seen[key] = index
        return cls(entries)

    def find(self, case: str, server: str, flavour: str) -> Deviation | None:
        """The entry covering this cell, or None."""
        for entry in self.entries:
            if entry.covers(case, server, flavour):
                return entry
        return None
