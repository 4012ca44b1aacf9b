"""The cost of AuthMiddlewareStack and URLRouter, in one process.

Middleware and routing act once per connection (they build the scope), not per
message, so each round is a whole connection: connect, one echo, disconnect;
once straight into the consumer, once through URLRouter, once through the
reference app's AuthMiddlewareStack(URLRouter(...)).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from pytest_benchmark.fixture import BenchmarkFixture
from refsite.dbsetup import ensure_database
from wsapp.echo import AsyncEchoConsumer
from wsapp.routing import websocket_urlpatterns

from .conftest import run

STACKS: dict[str, Callable[[], Any]] = {
    "consumer": lambda: AsyncEchoConsumer.as_asgi(),
    "URLRouter": lambda: URLRouter(websocket_urlpatterns),
    "AuthMiddlewareStack+URLRouter": lambda: AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
}
CONNECTIONS_PER_ROUND = 20


async def _connections(app: Any, count: int) -> None:
    for _ in range(count):
        comm = WebsocketCommunicator(app, "/ws/echo/async/")
        connected, _ = await comm.connect()
        assert connected
        await comm.send_to(text_data="x")
        assert await comm.receive_from() == "x"
        await comm.disconnect()


@pytest.mark.parametrize("stack", list(STACKS))
def test_connection_cost_per_stack(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, stack: str
) -> None:
    ensure_database()
    app = STACKS[stack]()
    benchmark.group = "stack: 20 connections (connect, one echo, disconnect)"
    benchmark.extra_info["connections_per_round"] = CONNECTIONS_PER_ROUND
    benchmark.pedantic(
        lambda: run(loop, _connections(app, CONNECTIONS_PER_ROUND)), rounds=10, warmup_rounds=1
    )
