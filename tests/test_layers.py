"""Channel layers: the room fans out on every layer, and with a Redis layer a
group message sent in one server process reaches members connected to others,
none lost, in order per sender."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request

import pytest
from websockets.sync.client import ClientConnection, connect

from channels_harness.protocol.probe import new_id
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess, group_members
from channels_harness.servers.redis import layer_env
from channels_harness.servers.registry import get_spec

TIMEOUT = 10


def layer_url(layer: str, request: pytest.FixtureRequest) -> str | None:
    return None if layer == "memory" else str(request.getfixturevalue("redis_url"))


@pytest.mark.parametrize("layer", ["memory", "redis", "redis-pubsub"])
@pytest.mark.parametrize("flavour", ["sync", "async", "generic-sync", "generic-async"])
def test_the_room_fans_out_on_every_layer(
    layer: str, flavour: str, request: pytest.FixtureRequest
) -> None:
    env = layer_env(layer, layer_url(layer, request))
    room = f"fan{new_id()[:10]}"
    with ServerProcess(get_spec("uvicorn"), env=env) as server:
        url = server.ws_url(f"ws/room/{room}/{flavour}/")
        with contextlib.ExitStack() as stack:
            members = [stack.enter_context(connect(url)) for _ in range(5)]
            members[0].send("to all")
            for member in members:
                assert member.recv(timeout=TIMEOUT) == "to all"


def receive_all(member: ClientConnection, count: int) -> list[dict[str, int]]:
    return [json.loads(member.recv(timeout=TIMEOUT)) for _ in range(count)]


@pytest.mark.parametrize("layer", ["redis", "redis-pubsub"])
@pytest.mark.parametrize("server_name", ["daphne", "uvicorn"])
def test_a_group_message_reaches_members_in_other_processes_in_order(
    layer: str, server_name: str, redis_url: str
) -> None:
    env = layer_env(layer, redis_url)
    room = f"x{new_id()[:10]}"
    spec = get_spec(server_name)
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(ServerProcess(spec, env=env)) for _ in range(3)]
        pids = {s.pid for s in servers}
        assert len(pids) == 3
        # two members on every process, the senders on the first two
        members = [
            stack.enter_context(connect(s.ws_url(f"ws/room/{room}/async/")))
            for s in servers
            for _ in range(2)
        ]
        count = 50
        for seq in range(count):
            members[0].send(json.dumps({"sender": 0, "seq": seq}))
            members[2].send(json.dumps({"sender": 1, "seq": seq}))
        for member in members:
            got = receive_all(member, 2 * count)
            for sender in (0, 1):
                seqs = [m["seq"] for m in got if m["sender"] == sender]
                assert seqs == list(range(count)), f"sender {sender} seen as {seqs[:10]}..."
        pgids = [s.pid for s in servers]
    for pgid in pgids:
        assert pgid is not None and group_members(pgid) == []


def test_uvicorn_workers_share_the_redis_layer(redis_url: str) -> None:
    """uvicorn --workers 2 imports the app inside each worker's event loop; both
    workers serve, and a room spans them."""
    env = layer_env("redis", redis_url)
    room = f"w{new_id()[:10]}"
    with ServerProcess(get_spec("uvicorn"), env=env, extra_args=["--workers", "2"]) as server:
        assert len(server.processes()) >= 3  # the supervisor and two workers
        # The server is ready once one worker answers; the other may still be importing
        # the app (slowly on a loaded machine): keep asking, new connections each time.
        answered = set()
        deadline = time.monotonic() + scaled(30)
        while len(answered) < 2 and time.monotonic() < deadline:
            with urllib.request.urlopen(server.http_url("healthz/"), timeout=5) as response:
                answered.add(json.loads(response.read())["pid"])
            time.sleep(0.02)
        assert len(answered) == 2, f"only worker(s) {answered} answered within 30 s"
        with contextlib.ExitStack() as stack:
            members = [
                stack.enter_context(connect(server.ws_url(f"ws/room/{room}/async/")))
                for _ in range(8)
            ]
            members[0].send("across workers")
            for member in members:
                assert member.recv(timeout=TIMEOUT) == "across workers"
        pgid = server.pid
    assert pgid is not None and group_members(pgid) == []
