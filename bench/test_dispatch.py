"""Per-message dispatch cost of each consumer flavour, in one process.

A WebsocketCommunicator drives the reference app's echo consumer directly (no
server, no socket): what is left is Channels' own cost per message, including
the SyncConsumer's hand-off to its thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from channels.testing import WebsocketCommunicator
from pytest_benchmark.fixture import BenchmarkFixture
from wsapp.echo import (
    AsyncEchoConsumer,
    GenericAsyncEchoConsumer,
    GenericSyncEchoConsumer,
    SyncEchoConsumer,
)

from .conftest import MESSAGES_PER_ROUND, run

CONSUMERS = {
    "sync": SyncEchoConsumer,
    "async": AsyncEchoConsumer,
    "generic-sync": GenericSyncEchoConsumer,
    "generic-async": GenericAsyncEchoConsumer,
}
MESSAGE = "x" * 32


@pytest.fixture
def communicator(loop: asyncio.AbstractEventLoop, flavour: str) -> Iterator[WebsocketCommunicator]:
    """A connected communicator for ``flavour``'s echo consumer."""
    comm = WebsocketCommunicator(CONSUMERS[flavour].as_asgi(), "/ws/echo/")
    connected, _ = run(loop, comm.connect())
    assert connected
    try:
        yield comm
    finally:
        run(loop, comm.disconnect())


async def _round_trips(comm: WebsocketCommunicator, count: int) -> None:
    for _ in range(count):
        await comm.send_to(text_data=MESSAGE)
        assert await comm.receive_from() == MESSAGE


def test_dispatch_cost_per_flavour(
    benchmark: BenchmarkFixture,
    loop: asyncio.AbstractEventLoop,
    communicator: WebsocketCommunicator,
    flavour: str,
) -> None:
    benchmark.group = "dispatch: 100 echo round trips through a communicator"
    benchmark.extra_info["messages_per_round"] = MESSAGES_PER_ROUND
    benchmark.extra_info["flavour"] = flavour
    benchmark.pedantic(
        lambda: run(loop, _round_trips(communicator, MESSAGES_PER_ROUND)),
        rounds=20,
        warmup_rounds=2,
    )
