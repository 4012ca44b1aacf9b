"""The verdict a case builds while it runs: checks, each with its grade if missed,
and what it observed (the keys a known deviation is matched on)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from channels_harness.experiments.conformance.grades import Grade, worst


class SpecDeviation(AssertionError):
    """A case ended NON-STRICT or FAIL; the message says what was expected and seen."""


# A value a case observes: a close code, an HTTP status, a frame, a word.
Observed = str | int | bool | None


def observation_text(value: Observed) -> str:
    """How an observed value is written and compared: ``None`` as ``none``, booleans
    as ``true``/``false``, anything else as its ``str``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def observation_toml(observations: Mapping[str, Iterable[str]]) -> str:
    """The ``observation = {...}`` line of a deviations.toml entry for these observations
    (one value as a string, several as a list), ready to paste."""
    parts = []
    for key, values in observations.items():
        listed = list(values)
        shown = json.dumps(listed[0] if len(listed) == 1 else listed, ensure_ascii=False)
        parts.append(f"{key} = {shown}")
    return "observation = { " + ", ".join(parts) + " }"


@dataclass
class Check:
    """One expectation: what the spec asks, what happened, the grade if it is missed."""

    expected: str
    observed: str
    ok: bool
    miss: Grade


@dataclass
class Verdict:
    """Collects a case's checks and recorded values; ``grade`` is the worst outcome."""

    checks: list[Check] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    not_applicable: str | None = None
    # What the case observed about the server for its feature table: name -> value.
    features: dict[str, str] = field(default_factory=dict)
    # What the case saw, by key (close, status, disconnect_code, ...): each distinct value
    # once, in the order seen. A known deviation records these and must match them.
    observations: dict[str, list[str]] = field(default_factory=dict)

    def check(self, ok: bool, *, expected: str, observed: str, miss: Grade = Grade.FAIL) -> bool:
        """Record an expectation; ``miss`` is FAIL for a MUST, NON_STRICT for a SHOULD."""
        if miss not in (Grade.FAIL, Grade.NON_STRICT):
            raise ValueError("a missed check is FAIL or NON-STRICT")
        self.checks.append(Check(expected, observed, bool(ok), miss))
        return bool(ok)

    def must(self, ok: bool, *, expected: str, observed: str) -> bool:
        """A MUST of the spec: missing it is a FAIL."""
        return self.check(ok, expected=expected, observed=observed, miss=Grade.FAIL)

    def should(self, ok: bool, *, expected: str, observed: str) -> bool:
        """A SHOULD of the spec: missing it is NON-STRICT."""
        return self.check(ok, expected=expected, observed=observed, miss=Grade.NON_STRICT)

    def observe(self, key: str, value: Observed) -> None:
        """Record what the case saw under ``key`` (for example ``close``: ``close 1002``).
        A key observed several times (a case that repeats its exchange) keeps each
        distinct value once, in order. Not graded: a known deviation is matched on it."""
        seen = self.observations.setdefault(key, [])
        text = observation_text(value)
        if text not in seen:
            seen.append(text)

    @property
    def observation(self) -> dict[str, list[str]]:
        """What a known deviation is matched on: the observed keys, or, for a case that
        observes none, its observed text under ``observed``."""
        return self.observations or {"observed": [self.observed]}

    def info(self, observed: str) -> None:
        """Record a value the case measures without judging it (grade INFO)."""
        self.infos.append(observed)

    def feature(self, name: str, value: str) -> None:
        """Record what the server showed of one feature (the table per server); not graded."""
        self.features[name] = value

    @property
    def grade(self) -> Grade:
        if self.not_applicable is not None:
            return Grade.NOT_APPLICABLE
        missed = [c.miss for c in self.checks if not c.ok]
        if missed:
            return worst(missed)
        if self.infos:
            return Grade.INFO
        return Grade.PASS

    @property
    def would_be(self) -> Grade | None:
        """For an N/A case that ran anyway, the grade its checks earned; else None."""
        if self.not_applicable is None or not (self.checks or self.infos):
            return None
        return Verdict(self.checks, self.infos).grade

    @property
    def expected(self) -> str:
        """What the spec asks, one clause per check."""
        return "; ".join(dict.fromkeys(c.expected for c in self.checks)) or "recorded value"

    @property
    def observed(self) -> str:
        """What happened: missed checks first, then recorded values, else the passed ones."""
        missed = [c.observed for c in self.checks if not c.ok]
        parts = missed + self.infos if missed else self.infos + [c.observed for c in self.checks]
        return "; ".join(dict.fromkeys(parts))

    def message(self) -> str:
        """The failure message of a deviating case: the missed checks, then the
        observation line a deviations.toml entry records."""
        lines = [f"{self.grade}:"]
        lines += [
            f"  [{c.miss}] expected {c.expected}; observed {c.observed}"
            for c in self.checks
            if not c.ok
        ]
        lines.append(f"  {observation_toml(self.observation)}")
        return "\n".join(lines)
