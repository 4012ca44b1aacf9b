"""Scenario files: a conversation with an app, read once, run by every engine.

A scenario is a TOML file (see ``docs/scenarios.md``)::

    name = "graphql"
    path = "/ws/graphql/"                  # {conn} allowed
    subprotocols = ["graphql-transport-ws"]

    [[connect]]                            # after the handshake, before measuring
    send = '{"type": "connection_init"}'
    expect = { type = "connection_ack" }

    [[step]]                               # the measured loop, steps in order, repeated
    name = "hello"
    send = '{"id": "h{n}", "type": "subscribe", "payload": {"query": "{ hello }"}}'
    expect = { id = "h{n}", type = "next" }
    count = 3
    until = { id = "h{n}", type = "complete" }

:func:`load` (or :func:`parse`) checks every key and gives a :class:`Scenario`;
:class:`channels_harness.protocol.conversation.Conversation` is the sans-I/O
core both engines drive with it.

Rules a user relies on (docs/scenarios.md says them too):

- Templates: ``{n}`` (the round's number on the connection, from 0), ``{conn}``
  (the connection's number) and ``{uuid}`` (a fresh UUID per step instance) are
  replaced in ``send``, ``path``, ``regex`` and ``expect``/``until`` string
  values; any other brace is left alone (JSON and GraphQL braces included).
- Expected values compare with their JSON types: ``5`` matches the number 5,
  ``"5"`` the string; a value that is exactly ``"{n}"`` or ``"{conn}"`` stands for
  the number, which the app may send as a JSON number or as its decimal
  string. Dotted keys (``"payload.data.hello"``) and nested tables reach into
  objects, and a number in a path indexes a list.
- Correlation: an expectation with a templated value (``id = "h{n}"``) belongs to
  one step instance. A frame whose templated fields match but whose other fields
  do not is a *wrong reply*: an error carrying the frame, never a success. A frame
  that matches no waiting step is counted as *other*, by kind (its ``type``), and
  never taken as a reply (unless the step says ``strict = true``: then it is an
  error too). A step that waits longer than its ``timeout`` is an error naming the
  last frame it could not use.
- A step ends at its ``count``-th matching frame, or, with ``until``, at the
  frame matching ``until`` after them (more matching frames before it are
  taken as part of the step); ``until`` arriving before ``count`` matches is an
  error. ``count = 0`` sends and expects nothing. A step with no ``send`` waits
  for frames the server pushes; ``latency_from = "ts"`` turns each matching
  frame's own timestamp (seconds since the epoch, same machine) into a push
  latency.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels_harness.errors import UsageError

# The placeholders a scenario may use; nothing else in braces is touched.
PLACEHOLDERS = ("{n}", "{conn}", "{uuid}")
NUMERIC_PLACEHOLDERS = ("{n}", "{conn}")
DEFAULT_TIMEOUT_S = 10.0

_SCENARIO_KEYS = {
    "name",
    "description",
    "path",
    "subprotocols",
    "origin",
    "headers",
    "cookie",
    "login",
    "login_url",
    "timeout",
    "connect",
    "step",
}
_STEP_KEYS = {
    "name",
    "send",
    "binary",
    "expect",
    "regex",
    "count",
    "until",
    "think",
    "latency_from",
    "timeout",
    "strict",
}


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each placeholder of ``values`` (``{"{n}": "3"}``) replaced."""
    for key, value in values.items():
        if key in text:
            text = text.replace(key, value)
    return text


def templated(value: Any) -> bool:
    return isinstance(value, str) and any(p in value for p in PLACEHOLDERS)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c.d": 2}`` -> ``{"a.b": 1, "c.d": 2}`` (nested tables reach in)."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


@dataclass(frozen=True)
class Check:
    """What a frame must hold: JSON fields by dotted path, and/or a regular
    expression searched in its text. Values may hold placeholders."""

    fields: tuple[tuple[str, Any], ...] = ()
    regex: str | None = None

    @functools.cached_property
    def correlated(self) -> bool:
        """Whether it belongs to one step instance (a templated value or regex)."""
        return any(templated(v) for _, v in self.fields) or templated(self.regex)

    def describe(self) -> str:
        parts = [f"{key} = {json.dumps(value)}" for key, value in self.fields]
        if self.regex is not None:
            parts.append(f"regex {self.regex!r}")
        return "{" + ", ".join(parts) + "}" if parts else "any frame"


@dataclass(frozen=True)
class Step:
    """One step of a conversation (see the module's rules)."""

    name: str
    send: str | None = None
    binary: bool = False
    expect: Check = Check()
    count: int = 1
    until: Check | None = None
    think: tuple[float, float] = (0.0, 0.0)
    latency_from: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    strict: bool = False

    @property
    def pushed(self) -> bool:
        """True when the client sends nothing and waits for what the server pushes."""
        return self.send is None


@dataclass(frozen=True)
class Scenario:
    """A scenario file, checked. :meth:`to_json`/:meth:`from_json` carry it to
    generator processes and locust workers (as the document it was read from)."""

    name: str
    path: str
    steps: tuple[Step, ...]
    connect: tuple[Step, ...] = ()
    subprotocols: tuple[str, ...] = ()
    origin: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    cookie: str | None = None
    login: str | None = None
    login_url: str | None = None
    description: str = ""
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    source: str = ""

    @property
    def step_names(self) -> list[str]:
        """The measured steps' names, each once, in order (one report row each)."""
        return list(dict.fromkeys(step.name for step in self.steps))

    def url_path(self, conn: int) -> str:
        """The path for connection ``conn`` (``{conn}`` replaced)."""
        return self.path.replace("{conn}", str(conn))

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "document": dict(self.document)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scenario:
        return parse(data["document"], str(data.get("source") or "scenario"))


def load(path: str | Path) -> Scenario:
    """The scenario in the TOML file at ``path``; UsageError saying what is wrong."""
    file = Path(path)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--scenario-file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"scenario file {path} is not valid TOML: {exc}") from None
    return parse(document, str(path), default_name=file.stem)


def parse(document: Mapping[str, Any], source: str, default_name: str = "scenario") -> Scenario:
    """The :class:`Scenario` a parsed TOML ``document`` describes; UsageError
    naming the file (``source``), the step and the key at fault."""
    where = f"scenario file {source}"
    _known(document, _SCENARIO_KEYS, where)
    timeout = _number(document.get("timeout", DEFAULT_TIMEOUT_S), f"{where}: timeout")
    connect = _steps(document.get("connect", []), "connect", where, timeout)
    steps = _steps(document.get("step", []), "step", where, timeout)
    if not steps:
        raise UsageError(f"{where} has no [[step]]: the measured loop needs at least one")
    path = _text(document.get("path", "/"), f"{where}: path")
    if not path.startswith("/"):
        raise UsageError(f"{where}: path {path!r} must start with '/'")
    return Scenario(
        name=_text(document.get("name", default_name), f"{where}: name"),
        description=_text(document.get("description", ""), f"{where}: description"),
        path=path,
        connect=connect,
        steps=steps,
        subprotocols=tuple(_texts(document.get("subprotocols", []), f"{where}: subprotocols")),
        origin=_optional_text(document.get("origin"), f"{where}: origin"),
        headers=_headers(document.get("headers", {}), where),
        cookie=_optional_text(document.get("cookie"), f"{where}: cookie"),
        login=_optional_text(document.get("login"), f"{where}: login"),
        login_url=_optional_text(document.get("login_url"), f"{where}: login_url"),
        document=document,
        source=source,
    )


def _known(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{where} must be a string, not {value!r}")
    return value


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _texts(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where} must be a string or a list of strings")
    return list(value)


def _number(value: Any, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise UsageError(f"{where} must be a number >= {minimum:g}, not {value!r}")
    return float(value)


def _headers(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """``headers`` as a table (``{ Authorization = "Bearer x" }``) or ``["Name: value"]``."""
    if isinstance(value, Mapping):
        pairs = [(str(k), _text(v, f"{where}: headers.{k}")) for k, v in value.items()]
    else:
        pairs = []
        for line in _texts(value, f"{where}: headers"):
            name, sep, text = line.partition(":")
            if not sep or not name.strip():
                raise UsageError(f"{where}: header {line!r} is not 'Name: value'")
            pairs.append((name.strip(), text.strip()))
    return tuple(pairs)


def _steps(value: Any, kind: str, where: str, timeout: float) -> tuple[Step, ...]:
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise UsageError(f"{where}: [[{kind}]] must be tables (write [[{kind}]] sections)")
    return tuple(
        _step(table, f"{kind}{i}", f"{where}: [[{kind}]] #{i}", timeout)
        for i, table in enumerate(value, start=1)
    )


def make_step(
    table: Mapping[str, Any], *, name: str, where: str, timeout: float = DEFAULT_TIMEOUT_S
) -> Step:
    """The :class:`Step` a ``[[step]]`` table describes (the keys, defaults and checks of a
    file; ``name`` when the table has none), for steps built in code (the locust API);
    UsageError naming ``where`` and the key at fault."""
    return _step(table, name, where, timeout)


def _step(table: Mapping[str, Any], default_name: str, where: str, timeout: float) -> Step:
    _known(table, _STEP_KEYS, where)
    name = _text(table.get("name", default_name), f"{where}: name")
    where = f"{where} ({name!r})"
    send = table.get("send")
    if isinstance(send, Mapping):  # a table is sent as its JSON text
        send = json.dumps(send)
    send = _optional_text(send, f"{where}: send")
    count = table.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UsageError(f"{where}: count must be a whole number >= 0, not {count!r}")
    if count == 0 and send is None:
        raise UsageError(f"{where}: count = 0 with no send does nothing")
    expect = _check(table.get("expect"), table.get("regex"), f"{where}: expect")
    until = table.get("until")
    return Step(
        name=name,
        send=send,
        binary=bool(table.get("binary", False)),
        expect=expect,
        count=count,
        until=None if until is None else _check(until, None, f"{where}: until"),
        think=_think(table.get("think", 0.0), f"{where}: think"),
        latency_from=_optional_text(table.get("latency_from"), f"{where}: latency_from"),
        timeout_s=_number(table.get("timeout", timeout), f"{where}: timeout", 0.001),
        strict=bool(table.get("strict", False)),
    )


def _check(expect: Any, regex: Any, where: str) -> Check:
    if expect is not None and not isinstance(expect, Mapping):
        raise UsageError(f'{where} must be a table of JSON fields, like {{ type = "message" }}')
    if regex is not None:
        regex = _text(regex, f"{where} regex")
        try:
            re.compile(render(regex, {"{n}": "0", "{conn}": "0", "{uuid}": str(uuid.uuid4())}))
        except re.error as exc:
            raise UsageError(
                f"{where}: regex {regex!r} is not a regular expression: {exc}"
            ) from None
    fields = tuple(_flatten(expect or {}).items())
    return Check(fields=fields, regex=regex)


def _think(value: Any, where: str) -> tuple[float, float]:
    if isinstance(value, list) and len(value) == 2:
        low, high = (_number(v, where) for v in value)
        if high < low:
            raise UsageError(f"{where}: [lo, hi] needs lo <= hi, not {value!r}")
        return low, high
    seconds = _number(value, where)
    return seconds, seconds


def summary(scenario: Scenario) -> str:
    """One line per step, for logs and reports: ``hello: send -> 3 x {...} until {...}``."""
    lines = []
    for kind, steps in (("connect", scenario.connect), ("step", scenario.steps)):
        for step in steps:
            action = "send" if step.send is not None else "wait"
            wants = f"{step.count} x {step.expect.describe()}" if step.count else "nothing"
            until = f" until {step.until.describe()}" if step.until is not None else ""
            lines.append(f"{kind} {step.name}: {action} -> {wants}{until}")
    return "\n".join(lines)
