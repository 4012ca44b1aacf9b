"""Scenario files in the measurement engine, against real servers on loopback.

The engine runs in real generator subprocesses (:func:`run_load`) against the
reference app under uvicorn (its JSON-agnostic echo and its chat room) and
against a small websockets server in a thread that does what Channels apps
do and the reference app does not: a greeting on connect, replies in
fragments, pushes with a timestamp. No timing thresholds: the assertions are
counts and what each frame was taken for.
"""

from __future__ import annotations

import json
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.server import ServerConnection, serve

from channels_harness.generators.engine import LoadConfig, LoadResult, run_load
from channels_harness.protocol.scenario import Scenario, load, parse
from channels_harness.servers.process import ServerProcess

SCENARIOS = Path(__file__).parent / "scenarios"
# The most frames the thread server pushes on one connection (its loops are bounded).
MAX_TICKS = 2000

pytestmark = pytest.mark.slow


def scenario(text: str) -> Scenario:
    return parse(tomllib.loads(text), "test.toml")


def measure(url: str, talk: Scenario, **options: object) -> LoadResult:
    settings: dict[str, object] = {"connections": 4, "duration_s": 1.0, "warmup_s": 0.2}
    settings.update(options)
    return run_load(LoadConfig(url=url, scenario=talk, **settings), processes=2)  # type: ignore[arg-type]


# -- a server that greets, fragments and pushes -------------------------------------------


def _handler(ws: ServerConnection) -> None:
    """/hist/: a history frame on connect, then every message echoed in two
    fragments; /tick/: a timestamped tick every 10 ms."""
    path = ws.request.path if ws.request is not None else "/"
    if path.startswith("/tick/"):
        for n in range(MAX_TICKS):
            try:
                ws.send(json.dumps({"type": "tick", "n": n, "ts": time.time()}))
                ws.recv(timeout=0.01)
            except TimeoutError:
                continue
            except Exception:  # the client closed
                return
        return
    ws.send(json.dumps({"type": "history", "items": ["a", "b"]}))
    for message in ws:
        text = str(message)
        ws.send([text[: len(text) // 2], text[len(text) // 2 :]])


@pytest.fixture(scope="module")
def app_like() -> Iterator[str]:
    """The thread server's ws:// base URL."""
    with serve(_handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        host, port = server.socket.getsockname()[:2]
        yield f"ws://{host}:{port}"
        server.shutdown()
    thread.join(timeout=10)


def test_a_greeting_is_a_connect_step_and_fragmented_replies_arrive_whole(app_like: str) -> None:
    talk = scenario(
        """
        [[connect]]
        expect = { type = "history", "items.1" = "b" }
        [[step]]
        name = "echo"
        send = '{"type": "msg", "n": {n}, "conn": "{conn}"}'
        expect = { type = "msg", n = "{n}", conn = "{conn}" }
        """
    )
    result = measure(f"{app_like}/hist/", talk)
    assert result.connected == 4
    assert result.errors == 0, result.error_samples
    assert result.step_names == ["echo"] and result.for_step("echo").measured > 0
    # Whole messages (no half-JSON "text" frames), the greeting taken by the connect step.
    assert result.other == {}


def test_a_push_step_measures_latency_from_the_frames_own_timestamp(app_like: str) -> None:
    talk = scenario(
        """
        [[step]]
        name = "tick"
        expect = { type = "tick" }
        count = 5
        latency_from = "ts"
        """
    )
    result = measure(f"{app_like}/tick/", talk)
    assert result.errors == 0, result.error_samples
    ticks = result.for_step("tick")
    assert ticks.measured > 0
    push = result.push_summary("tick")
    assert push is not None and push.count >= 5 * ticks.measured
    assert result.push_summary("tick") is not None and ticks.summary.count == ticks.measured


def test_a_connect_step_that_fails_is_a_connection_error_with_its_reason(
    uvicorn: ServerProcess,
) -> None:
    talk = scenario(
        """
        [[connect]]
        expect = { type = "welcome" }
        timeout = 0.3
        [[step]]
        send = "x"
        """
    )
    result = measure(uvicorn.ws_url("/ws/echo/async/"), talk)
    assert result.connected == 0 and result.measured == 0
    assert result.errors == 4
    assert (
        'connect step failed: connect1: no frame matching {type = "welcome"} within 0.3 s'
        in (result.error_samples[0])
    )
    cycles = measure(uvicorn.ws_url("/ws/echo/async/"), talk, mode="handshake", connections=2)
    assert cycles.measured == 0 and cycles.errors > 0
    assert "ConnectStepFailed" in cycles.error_samples[0]


# -- the reference app ---------------------------------------------------------------------


def test_a_json_scenario_runs_in_every_mode_with_a_row_per_step(uvicorn: ServerProcess) -> None:
    talk = load(SCENARIOS / "json-echo.toml")
    url = uvicorn.ws_url(talk.path)
    closed = measure(url, talk)
    assert closed.errors == 0, closed.error_samples
    assert closed.step_names == ["ping", "get"]
    ping, get = closed.for_step("ping"), closed.for_step("get")
    assert ping.measured > 0 and get.measured > 0
    assert closed.measured == ping.measured + get.measured
    # Steps alternate on every connection: their counts differ by at most one per connection.
    assert abs(ping.measured - get.measured) <= 4
    assert closed.other == {}  # the connect step took its greeting
    opened = measure(url, talk, mode="open", rate=200.0)
    assert opened.errors == 0, opened.error_samples
    assert opened.for_step("ping").measured > 0 and opened.for_step("get").measured > 0
    cycles = measure(url, talk, mode="handshake", connections=2)
    assert cycles.errors == 0 and cycles.measured > 0


def test_in_a_shared_room_other_members_messages_are_other_never_replies(
    uvicorn: ServerProcess,
) -> None:
    """The issue's defect: the old closed loop took whatever frame came next as the
    reply, so the other members' broadcasts ended a round trip early."""
    talk = load(SCENARIOS / "room.toml")
    result = measure(uvicorn.ws_url(talk.path), talk, connections=3)
    assert result.errors == 0, result.error_samples
    assert result.measured > 0
    # Every message reaches all 3 members: 2 of each 3 deliveries are someone else's.
    assert result.other.get("said", 0) >= 2 * result.measured
    assert set(result.other) == {"said"}


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_a_reply_that_can_never_match_gives_errors_never_successes(
    uvicorn: ServerProcess, mode: str
) -> None:
    talk = load(SCENARIOS / "never.toml")
    result = measure(uvicorn.ws_url(talk.path), talk, mode=mode, rate=50.0)
    assert result.measured == 0
    assert result.errors > 0
    sample = result.error_samples[0]
    assert sample.startswith('ping: no frame matching {type = "pong"}'), sample
    assert "last unused frame" in sample and '"ping"' in sample
    assert result.other.get("ping", 0) > 0  # the echoes: other frames, not replies


def test_a_reply_to_this_step_with_a_wrong_field_is_an_error_at_once(
    uvicorn: ServerProcess,
) -> None:
    talk = scenario(
        """
        [[step]]
        name = "ask"
        send = '{"n": {n}, "type": "ping"}'
        expect = { n = "{n}", type = "pong" }
        """
    )
    result = measure(uvicorn.ws_url("/ws/echo/async/"), talk)
    assert result.measured == 0
    # One error per round trip, not one per timeout: the reply carried this step's n.
    assert result.errors > 20
    assert "wrong reply" in result.error_samples[0] and "type" in result.error_samples[0]


def test_the_closed_loop_waits_each_steps_think_time(uvicorn: ServerProcess) -> None:
    talk = scenario(
        """
        [[step]]
        send = '{"n": {n}}'
        expect = { n = "{n}" }
        think = 0.25
        """
    )
    result = measure(uvicorn.ws_url("/ws/echo/async/"), talk, connections=2)
    assert result.errors == 0, result.error_samples
    # 1 s measured, a quarter of a second before each step: at most 5 per connection
    # (an echo without think time does hundreds).
    assert 0 < result.measured <= 10
