"""The example projects under examples/ run, under daphne and uvicorn, as their scenario
files say (issue 21, sections 1 and 4).

Each example (chat with history, djangochannelsrestframework, strawberry GraphQL, a
push-only ticker) is copied to a temporary folder, migrated, and started once per
server with the harness's own machinery (:class:`~channels_harness.experiments.target.
Target`, the user's-app readiness of :mod:`channels_harness.servers.userapp`). A plain
client (websockets' sync client) then drives the harness's own sans-I/O
:class:`~channels_harness.protocol.conversation.Conversation` through the example's
``scenario.toml``, strictly: every step must end well and every frame the server
sends must be one a step was waiting for (none counted as other), so a file that
passes here says exactly what the server does. The same file with one expectation
changed must fail.

The examples' libraries are pinned in their requirements.txt and, with the same
versions, in the ``examples`` extra of pyproject.toml (part of ``dev``), never in the
harness's runtime dependencies; the last tests hold the three in agreement.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections import Counter
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
from channels_harness.protocol.conversation import (
    Conversation,
    Done,
    Event,
    Failed,
    Frame,
    Other,
    Pending,
)
from channels_harness.protocol.scenario import Scenario, load, parse, render
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
# How long a handshake or a reply may take, and how old a pushed frame's own timestamp.
REPLY_S = 10.0
PUSH_AGE_S = 60.0
ROUNDS = 3

pytestmark = pytest.mark.slow


class Mismatch(AssertionError):
    """A step of the scenario that did not end well, or a frame no step could use."""


def scenario(example: str) -> Scenario:
    """The example's scenario file, read by the harness's own parser."""
    return load(EXAMPLES_DIR / example / "scenario.toml")


# -- a plain client driving the harness's conversation ------------------------


def open_connection(server: ServerProcess, plan: Scenario, conn: int) -> ClientConnection:
    """A connection to the scenario's path with its handshake (Origin, headers,
    subprotocols)."""
    ws = connect(
        server.ws_url(plan.url_path(conn)),
        origin=plan.origin,
        subprotocols=list(plan.subprotocols) or None,
        additional_headers=list(plan.headers),
        open_timeout=scaled(REPLY_S),
        compression=None,
        proxy=None,
    )
    if plan.subprotocols:
        assert ws.subprotocol == plan.subprotocols[0], ws.subprotocol
    return ws


def _events(ws: ClientConnection, talk: Conversation, pending: Pending) -> list[Event]:
    """What the next frame (or its absence) did to the conversation."""
    try:
        data = ws.recv(timeout=max(pending.deadline - time.monotonic(), 0.0))
    except TimeoutError:
        return list(talk.expire(time.monotonic()))
    except ConnectionClosed as exc:
        return list(talk.abandon(time.monotonic(), f"the server closed the connection ({exc})"))
    frame = Frame(data.encode(), False) if isinstance(data, str) else Frame(data, True)
    return talk.receive(frame, time.monotonic(), time.time())


def converse(server: ServerProcess, plan: Scenario, conn: int, rounds: int) -> list[Done]:
    """The connect steps, then ``rounds`` rounds of the steps on connection ``conn``,
    one step at a time (as the closed loop does); every step that ended. A failed
    step or a frame no step could use raises Mismatch with the server's log tail."""
    talk = Conversation(plan, conn)
    done: list[Done] = []
    with open_connection(server, plan, conn) as ws:
        for _ in range(len(plan.connect) + rounds * len(plan.steps)):
            step, n = talk.next_step()
            pending = talk.begin(step, n, time.monotonic())
            if pending.text is not None:
                ws.send(pending.text)
            while any(waiting is pending for waiting in talk.pending):
                for event in _events(ws, talk, pending):
                    if not isinstance(event, Done):
                        log = f"--- {server.name} log ---\n{server.log_tail()}"
                        raise Mismatch(f"{describe(event)}\n{log}")
                    done.append(event)
    return done


def describe(event: Failed | Other) -> str:
    """What went wrong, in one line."""
    if isinstance(event, Failed):
        return event.reason
    return f"a frame no step could use ({event.kind}): {event.frame.quote()}"


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
    traffic = build_traffic(
        origin=plan.origin,
        headers=[f"{key}: {value}" for key, value in plan.headers],
        subprotocol=next(iter(plan.subprotocols), None),
    )
    target = Target(app=APP, app_dir=folder, path=plan.path, traffic=traffic)
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


def test_the_scenario_file_describes_the_running_example(
    running: tuple[Project, ServerProcess],
) -> None:
    project, server = running
    plan = scenario(project.name)
    for conn in (0, 1):
        done = converse(server, plan, conn, ROUNDS)
        ended = Counter(event.step.name for event in done)
        assert ended == {
            **{step.name: len(plan.connect) for step in plan.connect},
            **{step.name: ROUNDS for step in plan.steps},
        }
        for event in done:
            # A pushed frame's ts is this machine's time.time() when it was sent.
            assert all(-1.0 <= lag <= scaled(PUSH_AGE_S) for lag in event.push_latencies_s)
        pushed = [lag for event in done for lag in event.push_latencies_s]
        assert bool(pushed) == any(step.latency_from for step in plan.steps)


# One expectation of each file's last step changed, and what the conversation says.
CHANGED = {
    "chat": (
        {"expect": {"type": "message", "message": "hi {n} from {conn}", "user": "somebody"}},
        r'wrong reply .*user = "anonymous", expected "somebody"',
    ),
    "drf": (
        {"expect": {"request_id": "count-{n}", "action": "count", "response_status": 500}},
        r"wrong reply .*response_status = 200, expected 500",
    ),
    "graphql": ({"count": 6}, r"ended it after 5 of 6"),
    "ticker": ({"expect": {"type": "tick", "symbol": "ZZZ"}}, r"a frame no step could use"),
}


def test_the_same_file_with_one_expectation_changed_fails(
    running: tuple[Project, ServerProcess],
) -> None:
    """The passing conversation above says something: the same walk fails once one
    expectation is not what the server does."""
    project, server = running
    document = copy.deepcopy(dict(scenario(project.name).document))
    change, says = CHANGED[project.name]
    document["step"][-1].update(change)
    with pytest.raises(Mismatch, match=says):
        converse(server, parse(document, "changed.toml"), conn=2, rounds=1)


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
    assert all(0 <= time.time() - ts <= scaled(PUSH_AGE_S) for ts in stamps), stamps


BEHAVIOUR = {
    "chat": chat_keeps_history,
    "drf": drf_replies_carry_request_ids,
    "graphql": graphql_needs_connection_init,
    "ticker": ticker_pushes_then_closes,
}


def test_the_example_behaves_as_its_readme_says(running: tuple[Project, ServerProcess]) -> None:
    project, server = running
    BEHAVIOUR[project.name](server)


# -- the files themselves ------------------------------------------------------


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_a_scenario_file_reads_as_the_harness_reads_it(name: str) -> None:
    plan = scenario(name)  # the harness's parser: a UsageError names any fault
    assert plan.name == name
    assert plan.path.startswith("/ws/")
    names = [step.name for step in plan.steps]
    assert len(names) == len(set(names)), names
    values = {"{n}": "0", "{conn}": "0", "{uuid}": "u"}
    for step in (*plan.connect, *plan.steps):
        if step.send is not None:
            json.loads(render(step.send, values))  # what is sent is JSON


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
