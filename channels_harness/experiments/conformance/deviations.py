"""The known deviations: one data file, each entry a strict xfail.

``conformance/deviations.toml`` lists behaviours that differ from the spec:
the case (or cases, when one behaviour shows in several), the servers (and
optionally the flavours), the grade, the observation (what the case saw, as
the keys it records with :meth:`~.verdict.Verdict.observe`: the close code,
the HTTP status, what the consumer got...), what was observed in prose and why
it deviates. While a server behaves as recorded (the same grade and the same
observation) its case is an expected failure; the day it changes (passes, or
deviates with another grade or for another reason) the suite goes red. An
entry marked ``flaky`` (a race that shows only sometimes) is a non-strict xfail.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from channels_harness.experiments.conformance.grades import Grade
from channels_harness.experiments.conformance.verdict import observation_text, observation_toml
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
    # key -> the distinct values the case observed (one, or several for a repeated exchange)
    observation: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def covers(self, case: str, server: str, flavour: str) -> bool:
        """Whether this entry is about ``case`` on ``server`` in ``flavour``."""
        return (
            case in self.cases
            and server in self.servers
            and (self.flavours is None or flavour in self.flavours)
        )

    def mismatch(self, grade: Grade, observations: Mapping[str, list[str]]) -> str | None:
        """None when a case that ended ``grade`` having observed ``observations`` is this
        deviation (same grade, every recorded key seen with the same values); else what
        differs, in a line per difference."""
        differences = []
        if grade is not self.grade:
            differences.append(f"grade: recorded {self.grade}, now {grade}")
        for key, recorded in self.observation.items():
            seen = observations.get(key)
            if seen is None:
                differences.append(f"{key}: recorded {_shown(recorded)}, not observed now")
            elif set(seen) != set(recorded):
                differences.append(f"{key}: recorded {_shown(recorded)}, now {_shown(seen)}")
        if not differences:
            return None
        now = observation_toml(observations) if observations else "nothing observed"
        return "\n".join([*differences, f"now: {now}"])


def _shown(values: tuple[str, ...] | list[str]) -> str:
    return repr(values[0]) if len(values) == 1 else repr(list(values))


def _observation(where: str, raw: object) -> dict[str, tuple[str, ...]]:
    """The ``observation`` table of an entry: key -> one value or a list of values."""
    if not isinstance(raw, dict) or not raw:
        raise DeviationFileError(
            f"{where}: observation is a table of what the case observed, such as "
            '{ close = "TCP closed" } (a deviating case prints its own)'
        )
    table = {}
    for key, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str | int | bool) for v in values):
            raise DeviationFileError(
                f"{where}: observation {key} is a string, a number or a list of them"
            )
        table[str(key)] = tuple(observation_text(v) for v in values)
    return table


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
        observation=_observation(where, raw.get("observation")),
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
