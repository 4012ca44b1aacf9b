"""The example projects under examples/ run, under daphne and uvicorn, as their scenario
files say (issue 21, sections 1 and 4).

Each example (chat with history, djangochannelsrestframework, strawberry GraphQL, a
push-only ticker) is copied to a temporary folder, migrated, and started once per
server with the harness's own machinery (:class:`~channels_harness.experiments.target.
Target`, the user's-app readiness of :mod:`channels_harness.servers.userapp`). A plain
client (websockets' sync client) then walks the conversation its ``scenario.toml``
describes, strictly: every frame the server sends must be the one the file expects
next, so a file that passes here says exactly what the server does. The walker reads
the file the way issue 21 section 1 defines it; the scenario engine of bench and load
is the one that measures it.

The examples' libraries are pinned in their requirements.txt and, with the same
versions, in the ``examples`` extra of pyproject.toml (part of ``dev``), never in the
harness's runtime dependencies; the last tests hold the three in agreement.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.sync.client import ClientConnection, connect

from channels_harness.experiments.target import Target
from channels_harness.protocol.traffic import build_traffic
from channels_harness.runtime.paths import CHECKOUT_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.userapp import server_environment
from channels_harness.testing.plugin import require_or_skip

assert CHECKOUT_DIR is not None
EXAMPLES_DIR = CHECKOUT_DIR / "examples"
APP = "mysite.asgi:application"
SERVERS = ("daphne", "uvicorn")
# Each example and the modules it needs beyond Django and Channels.
EXAMPLES = {
    "chat": (),
    "drf": ("rest_framework", "djangochannelsrestframework"),
    "graphql": ("strawberry",),
    "ticker": (),
}
# What a scenario file may say (issue 21, section 1).
TOP_KEYS = {"name", "path", "subprotocols", "origin", "headers", "cookie", "login"}
TOP_KEYS |= {"connect", "step"}
STEP_KEYS = {"name", "send", "expect", "count", "until", "regex", "think", "latency_from"}
# How long a reply may take, and how old a pushed frame's own timestamp may be.
REPLY_S = 10.0
PUSH_AGE_S = 60.0

pytestmark = pytest.mark.slow


class Mismatch(AssertionError):
    """A frame that is not the one the scenario file expects next, or none at all."""


def scenario(example: str) -> dict[str, Any]:
    """The example's scenario file, parsed."""
    with open(EXAMPLES_DIR / example / "scenario.toml", "rb") as file:
        return tomllib.load(file)


# -- the scenario file's rules, as a plain client applies them -----------------


def fill(value: Any, n: int, conn: int, uid: str) -> Any:
    """``value`` with ``{n}``, ``{conn}`` and ``{uuid}`` replaced in every string
    (inside tables and arrays too); other braces and non-strings are left alone."""
    if isinstance(value, str):
        return value.replace("{n}", str(n)).replace("{conn}", str(conn)).replace("{uuid}", uid)
    if isinstance(value, dict):
        return {key: fill(item, n, conn, uid) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, n, conn, uid) for item in value]
    return value


_MISSING = object()


def lookup(frame: Any, dotted: str) -> Any:
    """The value at a dotted key (``payload.data.hello``), or ``_MISSING``."""
    for part in dotted.split("."):
        if not isinstance(frame, dict) or part not in frame:
            return _MISSING
        frame = frame[part]
    return frame


def same(got: Any, want: Any) -> bool:
    """Equal with their JSON types: ``5`` is not ``"5"``, ``true`` is not ``1``."""
    if type(got) in (int, float) and type(want) in (int, float):
        return bool(got == want)
    return type(got) is type(want) and got == want


def problems(text: str, expect: dict[str, Any], regex: str | None) -> list[str]:
    """Why the frame ``text`` does not match ``expect`` (JSON fields, dotted keys) and
    ``regex`` (searched in the text); empty when it matches."""
    found = []
    if regex is not None and not re.search(regex, text):
        found.append(f"no match for regex {regex!r}")
    if not expect:
        return found
    try:
        frame = json.loads(text)
    except ValueError:
        return [*found, "not JSON"]
    for key, want in expect.items():
        got = lookup(frame, key)
        if got is _MISSING:
            found.append(f"{key} missing")
        elif not same(got, want):
            found.append(f"{key} = {got!r}, expected {want!r}")
    return found


@dataclass
class Walker:
    """One connection walking a scenario: its connect steps, then its steps in rounds."""

    ws: ClientConnection
    conn: int = 0
    uid: str = ""

    def receive(self, what: str) -> str:
        """The next frame, as text; Mismatch when none comes or the server closes."""
        try:
            frame = self.ws.recv(timeout=scaled(REPLY_S))
        except TimeoutError:
            raise Mismatch(f"{what}: no frame within {scaled(REPLY_S):.0f} s") from None
        except ConnectionClosed as exc:
            raise Mismatch(f"{what}: the server closed the connection ({exc})") from None
        return frame if isinstance(frame, str) else frame.decode()

    def step(self, step: dict[str, Any], n: int) -> list[dict[str, Any]]:
        """Walk one step in round ``n``: send, then exactly ``count`` frames matching
        ``expect``/``regex``, then the ``until`` frame; return the matched frames."""
        name = f"step {step.get('name', 'connect')!r} round {n}"
        if "send" in step:
            self.ws.send(fill(step["send"], n, self.conn, self.uid))
        expect = fill(step.get("expect", {}), n, self.conn, self.uid)
        matched = []
        for index in range(step.get("count", 1)):
            text = self.receive(f"{name}, frame {index + 1}")
            wrong = problems(text, expect, step.get("regex"))
            if wrong:
                raise Mismatch(f"{name}, frame {index + 1}: {text[:200]!r}: {'; '.join(wrong)}")
            matched.append(json.loads(text) if expect else {"text": text})
        if "until" in step:
            text = self.receive(f"{name}, its until frame")
            wrong = problems(text, fill(step["until"], n, self.conn, self.uid), None)
            if wrong:
                raise Mismatch(f"{name}, until: {text[:200]!r}: {'; '.join(wrong)}")
        if "latency_from" in step:
            for frame in matched:
                check_timestamp(frame, step["latency_from"], name)
        return matched

    def walk(self, plan: dict[str, Any], rounds: int) -> dict[str, list[dict[str, Any]]]:
        """The connect steps, then ``rounds`` rounds of the steps; the frames per step."""
        seen: dict[str, list[dict[str, Any]]] = {}
        for step in plan.get("connect", []):
            seen.setdefault("connect", []).extend(self.step(step, 0))
        for n in range(rounds):
            for step in plan["step"]:
                seen.setdefault(step["name"], []).extend(self.step(step, n))
        return seen


def check_timestamp(frame: dict[str, Any], key: str, name: str) -> None:
    """A ``latency_from`` field: seconds since the epoch, taken on this machine lately."""
    ts = lookup(frame, key)
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise Mismatch(f"{name}: {key} = {ts!r} is not a timestamp in seconds")
    age = time.time() - ts
    if not -1.0 <= age <= scaled(PUSH_AGE_S):
        raise Mismatch(f"{name}: {key} = {ts!r} is {age:.1f} s from now, not seconds since 1970")


def open_connection(server: ServerProcess, plan: dict[str, Any], conn: int) -> ClientConnection:
    """A connection to the scenario's path with its handshake (the Origin and the
    subprotocols the examples' files use)."""
    path = fill(plan["path"], 0, conn, "")
    ws = connect(
        server.ws_url(path),
        origin=plan.get("origin"),
        subprotocols=plan.get("subprotocols"),
        open_timeout=scaled(REPLY_S),
        compression=None,
        proxy=None,
    )
    if plan.get("subprotocols"):
        assert ws.subprotocol == plan["subprotocols"][0], ws.subprotocol
    return ws


# -- the examples, running ----------------------------------------------------


@dataclass(frozen=True)
class Project:
    """One example, migrated in its own copy, and the target that runs that copy."""

    name: str
    target: Target


def copy_example(name: str, base: Path) -> Project:
    """``examples/NAME`` copied under ``base`` and migrated; its target checked."""
    for module in EXAMPLES[name]:
        if importlib.util.find_spec(module) is None:
            require_or_skip(
                f"the {name} example's {module}", "pip install -e '.[examples]' (part of dev)"
            )
    folder = base / name
    shutil.copytree(
        EXAMPLES_DIR / name, folder, ignore=shutil.ignore_patterns("db.sqlite3", "__pycache__")
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=folder,
        env=server_environment(folder, None),
        check=True,
        timeout=scaled(120),
    )
    plan = scenario(name)
    subprotocols = plan.get("subprotocols", [])
    traffic = build_traffic(origin=plan.get("origin"), subprotocol=next(iter(subprotocols), None))
    target = Target(app=APP, app_dir=folder, path=plan["path"], traffic=traffic)
    return Project(name, target.check())


@pytest.fixture(scope="module")
def projects() -> dict[str, Project]:
    """Each example's migrated copy, made on first use, shared by both servers."""
    return {}


@pytest.fixture(
    scope="module",
    params=[(name, server) for name in EXAMPLES for server in SERVERS],
    ids=[f"{name}-{server}" for name in EXAMPLES for server in SERVERS],
)
def running(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Project, ServerProcess]]:
    """One example under one server, for the whole module."""
    name, server_name = request.param
    if name not in projects:
        projects[name] = copy_example(name, tmp_path_factory.mktemp("examples"))
    project = projects[name]
    with project.target.server(server_name) as server:
        yield project, server


def walk(server: ServerProcess, plan: dict[str, Any], conn: int, rounds: int) -> dict[str, Any]:
    """``rounds`` rounds of ``plan`` on connection ``conn``, the frames per step; a
    Mismatch carries the server's log tail."""
    with open_connection(server, plan, conn) as ws:
        try:
            return Walker(ws, conn, str(uuid.uuid4())).walk(plan, rounds)
        except Mismatch as exc:
            raise Mismatch(f"{exc}\n--- {server.name} log ---\n{server.log_tail()}") from None


def test_the_scenario_file_describes_the_running_example(
    running: tuple[Project, ServerProcess],
) -> None:
    project, server = running
    plan = scenario(project.name)
    for conn in (0, 1):
        seen = walk(server, plan, conn, rounds=3)
        for step in plan["step"]:
            assert len(seen[step["name"]]) == 3 * step.get("count", 1), step["name"]


def test_a_frame_the_file_does_not_expect_is_a_mismatch(
    running: tuple[Project, ServerProcess],
) -> None:
    """The same walk with one expectation changed fails at that step: the walker
    really compares, so the passing walk above says something."""
    project, server = running
    plan = scenario(project.name)
    last = plan["step"][-1]
    if project.name == "graphql":
        last["count"] = 4  # the subscription sends 5 `next` frames before `complete`
        expected = r"until: .*type = 'next', expected 'complete'"
    else:
        key = "message" if project.name == "chat" else next(iter(last["expect"]))
        last["expect"][key] = "not what the server sends"
        expected = f"{key} = .*, expected 'not what the server sends'"
    with pytest.raises(Mismatch, match=expected):
        walk(server, plan, conn=2, rounds=1)


def _connect(server: ServerProcess, path: str, **options: Any) -> ClientConnection:
    return connect(
        server.ws_url(path), origin="http://127.0.0.1", open_timeout=scaled(REPLY_S), **options
    )


def _recv_json(ws: ClientConnection) -> Any:
    return json.loads(ws.recv(timeout=scaled(REPLY_S)))


def chat_keeps_history(server: ServerProcess) -> None:
    """A room at /ws/rooms/ sends its history (oldest first) before live messages; the
    tutorial's room at /ws/chat/ keeps nothing and its first frame is the echo."""
    room = f"/ws/rooms/history_{server.name}/"
    with _connect(server, room) as ws:
        assert _recv_json(ws) == {"type": "history", "messages": []}
        for text in ("first", "second"):
            ws.send(json.dumps({"message": text}))
            assert _recv_json(ws) == {"type": "message", "message": text, "user": "anonymous"}
    with _connect(server, room) as ws:
        history = _recv_json(ws)
    assert history["type"] == "history"
    assert [(m["message"], m["user"]) for m in history["messages"]] == [
        ("first", "anonymous"),
        ("second", "anonymous"),
    ]
    with _connect(server, f"/ws/chat/history_{server.name}/") as ws:
        ws.send(json.dumps({"message": "hello"}))
        assert _recv_json(ws) == {"message": "hello", "user": "anonymous"}


def drf_replies_carry_request_ids(server: ServerProcess) -> None:
    """Every reply carries its request's request_id, errors too (a missing note, an
    unknown action); the HTTP API serves the same notes."""
    with _connect(server, "/ws/notes/") as ws:
        ws.send(json.dumps({"action": "retrieve", "request_id": 77, "pk": 10**9}))
        missing = _recv_json(ws)
        assert missing["request_id"] == 77 and missing["response_status"] == 404, missing
        ws.send(json.dumps({"action": "no_such_action", "request_id": "x"}))
        refused = _recv_json(ws)
        assert refused["request_id"] == "x" and refused["response_status"] == 405, refused
    with urllib.request.urlopen(server.http_url("/api/notes/1/"), timeout=REPLY_S) as reply:
        assert json.loads(reply.read())["title"] == "Welcome"


def graphql_needs_connection_init(server: ServerProcess) -> None:
    """An operation before connection_init closes the connection with 4401
    (graphql-transport-ws): the scenario's connect step is needed."""
    with _connect(server, "/ws/graphql/", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=scaled(REPLY_S))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, closed.value


def ticker_pushes_then_closes(server: ServerProcess) -> None:
    """The ticker pushes ``count`` ticks without being asked, in order, each with its
    own send time, then closes normally."""
    ticks = []
    url = "/ws/ticker/acme/?interval_ms=1&count=5"
    with _connect(server, url) as ws, pytest.raises(ConnectionClosedOK) as closed:
        while len(ticks) < 10:
            ticks.append(_recv_json(ws))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert [tick["seq"] for tick in ticks] == [0, 1, 2, 3, 4]
    assert {tick["symbol"] for tick in ticks} == {"ACME"}
    stamps = [tick["ts"] for tick in ticks]
    assert stamps == sorted(stamps)
    for tick in ticks:
        check_timestamp(tick, "ts", "tick")


BEHAVIOUR = {
    "chat": chat_keeps_history,
    "drf": drf_replies_carry_request_ids,
    "graphql": graphql_needs_connection_init,
    "ticker": ticker_pushes_then_closes,
}


def test_the_example_behaves_as_its_readme_says(running: tuple[Project, ServerProcess]) -> None:
    project, server = running
    BEHAVIOUR[project.name](server)


# -- the walker's rules, without a server --------------------------------------


@pytest.mark.parametrize(
    ("frame", "expect", "regex", "wrong"),
    [
        pytest.param(
            '{"id": "q0", "type": "next"}', {"id": "q0", "type": "next"}, None, [], id="fields"
        ),
        pytest.param('{"a": {"b": 5}}', {"a.b": 5}, None, [], id="dotted"),
        pytest.param(
            '{"a": {"b": 5}}',
            {"a.b": "5"},
            None,
            ["a.b = 5, expected '5'"],
            id="number-is-not-string",
        ),
        pytest.param(
            '{"a": 1}', {"a": True}, None, ["a = 1, expected True"], id="number-is-not-bool"
        ),
        pytest.param('{"a": 1.0}', {"a": 1}, None, [], id="number-is-number"),
        pytest.param('{"a": [1]}', {"a.b": 1}, None, ["a.b missing"], id="missing"),
        pytest.param('{"count": 3}', {}, r'"count": [1-9]', [], id="regex"),
        pytest.param(
            '{"count": 0}',
            {},
            r'"count": [1-9]',
            ["no match for regex '\"count\": [1-9]'"],
            id="regex-fails",
        ),
        pytest.param("not json", {"a": 1}, None, ["not JSON"], id="not-json"),
    ],
)
def test_a_frame_matches_by_json_fields_with_their_types(
    frame: str, expect: dict[str, Any], regex: str | None, wrong: list[str]
) -> None:
    assert problems(frame, expect, regex) == wrong


def test_templates_fill_every_string_and_leave_other_braces() -> None:
    plan = {
        "send": '{"q": "{ hello }", "id": "h{n}-{conn}-{uuid}"}',
        "expect": {"n": 5, "x": ["{n}"]},
    }
    filled = fill(plan, 3, 1, "u")
    assert filled["send"] == '{"q": "{ hello }", "id": "h3-1-u"}'
    assert filled["expect"] == {"n": 5, "x": ["3"]}


@pytest.mark.parametrize(
    ("age", "ok"),
    [
        pytest.param(0.0, True, id="now"),
        pytest.param(5.0, True, id="five-seconds-ago"),
        pytest.param(-3600.0, False, id="an-hour-ahead"),
        pytest.param(None, False, id="milliseconds"),
    ],
)
def test_a_push_timestamp_is_seconds_since_the_epoch(age: float | None, ok: bool) -> None:
    ts = time.time() * 1000 if age is None else time.time() - age
    if ok:
        check_timestamp({"ts": ts}, "ts", "tick")
    else:
        with pytest.raises(Mismatch, match="not seconds since 1970"):
            check_timestamp({"ts": ts}, "ts", "tick")


@pytest.mark.parametrize("ts", ["1", None, True, float("nan")])
def test_a_push_timestamp_must_be_a_number(ts: Any) -> None:
    with pytest.raises(Mismatch, match="is not a timestamp in seconds"):
        check_timestamp({"ts": ts}, "ts", "tick")


# -- the files themselves ------------------------------------------------------


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_a_scenario_file_uses_the_vocabulary_of_issue_21(name: str) -> None:
    plan = scenario(name)
    assert plan["name"] == name
    assert set(plan) <= TOP_KEYS, set(plan) - TOP_KEYS
    assert plan["path"].startswith("/ws/")
    steps = [*plan.get("connect", []), *plan["step"]]
    names = [step["name"] for step in plan["step"]]
    assert len(names) == len(set(names)), names
    for step in steps:
        assert set(step) <= STEP_KEYS, set(step) - STEP_KEYS
        assert "expect" in step or "regex" in step, step
        if "send" in step:
            json.loads(fill(step["send"], 0, 0, "u"))  # the message is JSON once filled
        if "regex" in step:
            re.compile(step["regex"])


def test_an_example_is_a_django_project_that_imports_nothing_of_the_harness() -> None:
    for name in EXAMPLES:
        folder = EXAMPLES_DIR / name
        for part in ("manage.py", "mysite/settings.py", "mysite/asgi.py", "requirements.txt"):
            assert (folder / part).is_file(), f"{name}/{part}"
        asgi = (folder / "mysite/asgi.py").read_text()
        assert "ProtocolTypeRouter" in asgi and "AllowedHostsOriginValidator" in asgi, name
        for source in folder.rglob("*.py"):
            assert "channels_harness" not in source.read_text(), source


def _pins(lines: list[str]) -> dict[str, str]:
    """``name==version`` lines as {canonical name: version} (other lines refused)."""
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{line}: pin an exact version"
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_the_examples_pins_agree_with_the_lock_and_the_examples_extra() -> None:
    project = tomllib.loads((CHECKOUT_DIR / "pyproject.toml").read_text())["project"]
    lock = _pins((CHECKOUT_DIR / "requirements.lock").read_text().splitlines())
    extra = _pins(project["optional-dependencies"]["examples"])
    runtime = {canonicalize_name(Requirement(line).name) for line in project["dependencies"]}
    own: dict[str, str] = {}
    for name in EXAMPLES:
        pins = _pins((EXAMPLES_DIR / name / "requirements.txt").read_text().splitlines())
        for package, version in pins.items():
            assert lock.get(package) == version, f"{name}: {package}=={version} vs the lock"
            if package not in runtime:
                own[package] = version
    # The examples' own libraries are exactly the extra, never a runtime dependency.
    assert own == extra
    assert not set(extra) & runtime
    assert "examples" in project["optional-dependencies"]["dev"][0]
