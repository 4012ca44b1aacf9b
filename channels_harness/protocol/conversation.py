"""The sans-I/O core of a scenario: one connection's conversation with the app.

Both engines drive a :class:`Conversation`: the picows engine from its frame
callbacks, the locust users from their receive loop. It says what to send for
each step and judges every whole data frame the connection receives (the rules
are in :mod:`channels_harness.protocol.scenario`); it never touches a socket or
a clock: callers pass ``now`` (monotonic seconds) and, for push latency,
``wall`` (seconds since the epoch).
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from channels_harness.protocol.scenario import (
    NUMERIC_PLACEHOLDERS,
    Check,
    Scenario,
    Step,
    render,
    templated,
)

# Keys that name a frame's kind, for counting frames no step waited for.
_KIND_KEYS = ("type", "event", "action", "op")
# How much of a frame an error message quotes.
QUOTE = 200

_MISSING = object()


def _lookup(document: Any, path: str) -> Any:
    """The value at dotted ``path`` in a parsed JSON document (``_MISSING`` if absent)."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


@dataclass(frozen=True)
class _Number:
    """An expected value written as a lone ``"{n}"`` or ``"{conn}"``: the number,
    sent by the app as a JSON number or as its decimal string."""

    value: int

    def __str__(self) -> str:
        return str(self.value)


def _shown(expected: Any) -> str:
    return str(expected) if isinstance(expected, _Number) else json.dumps(expected)


def _same(expected: Any, actual: Any) -> bool:
    """JSON equality that keeps types apart (``True`` is not ``1``, ``"5"`` is not ``5``)."""
    if isinstance(expected, _Number):
        number = isinstance(actual, int) and not isinstance(actual, bool)
        return (number and actual == expected.value) or actual == str(expected.value)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    if type(expected) is not type(actual):
        return False
    return bool(expected == actual)


@dataclass(frozen=True)
class Frame:
    """One whole data message the server sent: its bytes, whether it was binary,
    and its JSON document parsed on first use (None when it is not JSON)."""

    data: bytes
    binary: bool = False

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    @property
    def document(self) -> Any:
        cached = self.__dict__.get("_document", _MISSING)
        if cached is _MISSING:
            try:
                cached = None if self.binary else json.loads(self.data.decode("utf-8"))
            except ValueError:
                cached = None
            object.__setattr__(self, "_document", cached)
        return cached

    @property
    def kind(self) -> str:
        """What to count this frame as when no step wanted it: its ``type`` (or
        ``event``, ``action``, ``op``) value, else ``json``, ``text`` or ``binary``."""
        if self.binary:
            return "binary"
        document = self.document
        if isinstance(document, dict):
            for key in _KIND_KEYS:
                if isinstance(document.get(key), str | int):
                    return str(document[key])
            return "json"
        return "json" if document is not None else "text"

    def quote(self) -> str:
        text = self.text if not self.binary else self.data[:QUOTE].hex()
        return repr(text[:QUOTE] + ("..." if len(text) > QUOTE else ""))


def bind(check: Check, values: Mapping[str, str]) -> Bound:
    """``check`` with one step instance's placeholder values filled in."""
    fields: list[tuple[str, Any, bool]] = []
    for key, value in check.fields:
        if isinstance(value, str) and value in NUMERIC_PLACEHOLDERS:
            fields.append((key, _Number(int(values[value])), True))
        elif isinstance(value, str):
            fields.append((key, render(value, values), templated(value)))
        else:
            fields.append((key, value, False))
    regex = render(check.regex, values) if check.regex is not None else None
    pattern = re.compile(regex) if regex is not None else None
    return Bound(check, tuple(fields), pattern, templated(check.regex))


MATCH, OTHER, WRONG = "match", "other", "wrong"


def _uses_uuid(step: Step) -> bool:
    """Whether ``step``'s send or checks hold ``{uuid}`` (a fresh one per instance)."""
    checks = [step.expect, *([step.until] if step.until is not None else [])]
    texts = [step.send or ""] + [c.regex or "" for c in checks]
    texts += [v for c in checks for _, v in c.fields if isinstance(v, str)]
    return any("{uuid}" in text for text in texts)


@dataclass(frozen=True)
class Bound:
    """A :class:`Check` bound to one step instance: it says whether a frame is the
    instance's (``MATCH``), not its (``OTHER``), or its but wrong (``WRONG``)."""

    check: Check
    fields: tuple[tuple[str, Any, bool], ...]
    pattern: re.Pattern[str] | None
    regex_templated: bool

    def judge(self, frame: Frame) -> tuple[str, str]:
        """``(verdict, why)``: why is empty on a match."""
        correlated_ok = True
        problems: list[str] = []
        if self.fields:
            document = frame.document
            for key, expected, templated in self.fields:
                actual = _lookup(document, key) if document is not None else _MISSING
                if actual is _MISSING or not _same(expected, actual):
                    shown = "missing" if actual is _MISSING else json.dumps(actual)
                    problems.append(f"{key} = {shown}, expected {_shown(expected)}")
                    correlated_ok = correlated_ok and not templated
        if self.pattern is not None and not self.pattern.search(frame.text):
            problems.append(f"no match for regex {self.pattern.pattern!r}")
            correlated_ok = correlated_ok and not self.regex_templated
        if not problems:
            return MATCH, ""
        # Its templated parts match, and it has some: the frame answers this instance, wrongly.
        if self.check.correlated and correlated_ok:
            return WRONG, "; ".join(problems)
        return OTHER, "; ".join(problems)


@dataclass(eq=False)
class Pending:
    """One step instance on one connection: what it sent and how far it got (each
    instance is only ever equal to itself)."""

    step: Step
    n: int
    started: float
    text: str | None
    expect: Bound
    until: Bound | None
    deadline: float
    matched: int = 0
    first: float | None = None
    push_latencies_s: list[float] = field(default_factory=list)

    @property
    def waiting_for_until(self) -> bool:
        return self.until is not None and self.matched >= self.step.count


@dataclass(frozen=True)
class Done:
    """A step instance that ended well: ``started`` (its send, or when it began
    waiting) to ``ended`` (the frame that ended it); ``frames`` it took;
    ``push_latencies_s`` from the frames' own timestamps (``latency_from``)."""

    step: Step
    n: int
    started: float
    ended: float
    frames: int
    first: float | None = None
    push_latencies_s: tuple[float, ...] = ()

    @property
    def latency_s(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True)
class Failed:
    """A step instance that ended badly, and why (with the frame at fault, if any)."""

    step: Step
    n: int
    started: float
    ended: float
    reason: str


@dataclass(frozen=True)
class Other:
    """A frame no waiting step could use, by kind."""

    kind: str
    frame: Frame


Event = Done | Failed | Other


class Conversation:
    """One connection's conversation: the connect steps once, then the measured
    steps in order, round after round.

    Sequential engines (closed loop, locust) call :meth:`next_step`, then
    :meth:`begin` and feed frames to :meth:`receive` until the instance ends;
    an open loop calls :meth:`begin` on its own schedule, so several instances
    may wait at once (frames go to the oldest instance they match).
    :meth:`expire` ends instances whose timeout passed.
    """

    def __init__(self, scenario: Scenario, conn: int, seed: int | None = None) -> None:
        self.scenario = scenario
        self.conn = conn
        self.pending: list[Pending] = []
        self.other: Counter[str] = Counter()
        self.last_other: Frame | None = None
        self._random = random.Random(conn if seed is None else seed)
        self._position = 0
        # Per step and check (by identity): whether it needs a fresh {uuid}, and
        # the bound form of checks with no placeholder (the same for every instance).
        self._uuid: dict[int, bool] = {}
        self._bound: dict[int, Bound] = {}

    @property
    def connecting(self) -> bool:
        """True until every connect step has been begun."""
        return self._position < len(self.scenario.connect)

    def next_step(self) -> tuple[Step, int]:
        """The next step in order and its round number ``n`` (connect steps have n = 0)."""
        connect = self.scenario.connect
        if self._position < len(connect):
            step, n = connect[self._position], 0
        else:
            index = self._position - len(connect)
            steps = self.scenario.steps
            step, n = steps[index % len(steps)], index // len(steps)
        self._position += 1
        return step, n

    def think_s(self, step: Step) -> float:
        """How long to wait before ``step`` (its ``think``, drawn per connection)."""
        low, high = step.think
        return low if low == high else self._random.uniform(low, high)

    def values(self, n: int, fresh_uuid: bool = True) -> dict[str, str]:
        """The placeholders' values for round ``n`` (``{uuid}`` only when ``fresh_uuid``)."""
        values = {"{n}": str(n), "{conn}": str(self.conn)}
        if fresh_uuid:
            values["{uuid}"] = str(uuid.uuid4())
        return values

    def begin(self, step: Step, n: int, now: float) -> Pending:
        """Start an instance of ``step`` for round ``n`` at ``now``; send its
        ``text`` (None: nothing to send). With ``count = 0`` and no ``until``
        it is over at once (the caller just sends)."""
        uses_uuid = self._uuid.get(id(step))
        if uses_uuid is None:
            uses_uuid = self._uuid[id(step)] = _uses_uuid(step)
        values = self.values(n, uses_uuid)
        pending = Pending(
            step=step,
            n=n,
            started=now,
            text=render(step.send, values) if step.send is not None else None,
            expect=self._bind(step.expect, values),
            until=self._bind(step.until, values) if step.until is not None else None,
            deadline=now + step.timeout_s,
        )
        if step.count > 0 or step.until is not None:
            self.pending.append(pending)
        return pending

    def _bind(self, check: Check, values: Mapping[str, str]) -> Bound:
        """``check`` bound to ``values`` (once for all instances when it has no placeholder)."""
        if check.correlated:
            return bind(check, values)
        bound = self._bound.get(id(check))
        if bound is None:
            bound = self._bound[id(check)] = bind(check, values)
        return bound

    def receive(self, frame: Frame, now: float, wall: float | None = None) -> list[Event]:
        """Judge one whole data frame that arrived at ``now`` (``wall``: the
        epoch time, for ``latency_from``); the events it caused."""
        for pending in list(self.pending):
            taken, event = self._offer(pending, frame, now, wall)
            if taken:
                return [] if event is None else [event]
        strict = next((p for p in self.pending if p.step.strict), None)
        if strict is not None:
            return [self._fail(strict, now, f"unexpected frame {frame.quote()}")]
        self.other[frame.kind] += 1
        self.last_other = frame
        return [Other(frame.kind, frame)]

    def expire(self, now: float) -> list[Failed]:
        """End every instance whose timeout passed by ``now``."""
        late = [p for p in self.pending if p.deadline <= now]
        return [self._fail(p, now, self._timeout_reason(p)) for p in late]

    def abandon(self, now: float, reason: str) -> list[Failed]:
        """End every waiting instance (the connection closed or the run stops)."""
        return [self._fail(p, now, reason) for p in list(self.pending)]

    def unfinished(self, now: float, why: str) -> list[Failed]:
        """End every waiting instance because the run ended first (``why``, like
        "the run ended"), each saying what it still waited for and the last frame
        it could not use."""
        return [
            self._fail(p, now, self._waiting_for(p, f" before {why}")) for p in list(self.pending)
        ]

    def _offer(
        self, pending: Pending, frame: Frame, now: float, wall: float | None
    ) -> tuple[bool, Event | None]:
        """Whether ``frame`` belongs to ``pending``, and the event it caused (None:
        taken, the instance goes on)."""
        expect, why = pending.expect.judge(frame)
        if pending.until is not None:
            ended, until_why = pending.until.judge(frame)
            if pending.waiting_for_until and ended == MATCH:
                return True, self._done(pending, now)
            if not pending.waiting_for_until and ended == MATCH and expect != MATCH:
                got = f"{pending.matched} of {pending.step.count}"
                return True, self._fail(pending, now, f"{frame.quote()} ended it after {got}")
            if pending.waiting_for_until and ended == WRONG and expect != MATCH:
                return True, self._fail(pending, now, f"wrong reply {frame.quote()}: {until_why}")
        if expect == WRONG:
            return True, self._fail(pending, now, f"wrong reply {frame.quote()}: {why}")
        if expect == OTHER:
            return False, None
        problem = self._count(pending, frame, now, wall)
        if problem is not None:
            return True, self._fail(pending, now, problem)
        if pending.matched >= pending.step.count and pending.until is None:
            return True, self._done(pending, now)
        return True, None

    def _count(self, pending: Pending, frame: Frame, now: float, wall: float | None) -> str | None:
        pending.matched += 1
        if pending.first is None:
            pending.first = now
        key = pending.step.latency_from
        if key is None:
            return None
        stamp = _lookup(frame.document, key) if frame.document is not None else _MISSING
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            return f"frame {frame.quote()} has no number at {key!r} (latency_from)"
        pending.push_latencies_s.append((wall if wall is not None else 0.0) - float(stamp))
        return None

    def _done(self, pending: Pending, now: float) -> Done:
        self.pending.remove(pending)
        return Done(
            pending.step,
            pending.n,
            pending.started,
            now,
            pending.matched + (1 if pending.until is not None else 0),
            pending.first,
            tuple(pending.push_latencies_s),
        )

    def _fail(self, pending: Pending, now: float, reason: str) -> Failed:
        if pending in self.pending:
            self.pending.remove(pending)
        return Failed(
            pending.step, pending.n, pending.started, now, f"{pending.step.name}: {reason}"
        )

    def _timeout_reason(self, pending: Pending) -> str:
        return self._waiting_for(pending, f" within {pending.step.timeout_s:g} s")

    def _waiting_for(self, pending: Pending, when: str = "") -> str:
        step = pending.step
        wanted = step.until.describe() if pending.waiting_for_until and step.until else None
        wanted = wanted or step.expect.describe()
        got = f" ({pending.matched} of {step.count} so far)" if step.count > 1 else ""
        last = f"; last unused frame {self.last_other.quote()}" if self.last_other else ""
        return f"no frame matching {wanted}{when}{got}{last}"
