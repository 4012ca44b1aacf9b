"""The live round trip per server and flavour: a real socket, a real server.

One synchronous client sends 32 B and waits for the echo, 100 times per
round, against each server chosen with ``--servers`` and each flavour: the
unloaded latency a single user sees. Throughput under load is
``channels-harness bench``'s job, not this suite's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from websockets.sync.client import ClientConnection, connect

from channels_harness.servers.process import ServerProcess

from .conftest import MESSAGES_PER_ROUND

MESSAGE = "x" * 32


@pytest.fixture
def client(server: ServerProcess, flavour: str) -> Iterator[ClientConnection]:
    with connect(server.ws_url(f"ws/echo/{flavour}/")) as ws:
        yield ws


def _round_trips(ws: ClientConnection, count: int) -> None:
    for _ in range(count):
        ws.send(MESSAGE)
        assert ws.recv(timeout=10) == MESSAGE


def test_live_round_trip(
    benchmark: BenchmarkFixture, client: ClientConnection, server_name: str, flavour: str
) -> None:
    benchmark.group = f"live: 100 echo round trips, {flavour}"
    benchmark.extra_info.update(
        {"server": server_name, "flavour": flavour, "messages_per_round": MESSAGES_PER_ROUND}
    )
    benchmark.pedantic(lambda: _round_trips(client, MESSAGES_PER_ROUND), rounds=10, warmup_rounds=1)
