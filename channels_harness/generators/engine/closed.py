"""Closed loop: every connection sends its next message as soon as the last
one came back, for peak throughput.

The reply callback sends the next message, so there is no coroutine and no
queue per message. Each round trip is timed from its own send; only round
trips answered inside the measurement window count. A conversation (a
scenario file or the user's messages) runs its steps the same way
(:mod:`.scenario_loops`), in the same window (:func:`measure_window`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any, Protocol

from channels_harness.generators.engine.client import (
    Counters,
    EchoConnection,
    Measuring,
    run_echo,
)
from channels_harness.generators.engine.meter import WindowMeter
from channels_harness.generators.engine.result import Barrier, LoadConfig, WorkerResult
from channels_harness.runtime import stats


class Loop(Protocol):
    """What :func:`measure_window` needs of a closed loop."""

    measuring: bool
    stopping: bool
    idle: asyncio.Future[None]

    def start(self, conns: Sequence[Any]) -> None: ...


class ClosedLoop(Measuring):
    """Ping-pong on every connection until told to stop or a connection's
    ``limit`` of messages is reached."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.histogram = stats.new_histogram()
        self.measuring = False
        self.stopping = False
        self.measured = 0
        self.active = 0
        self.idle = asyncio.get_running_loop().create_future()

    def start(self, conns: Sequence[EchoConnection]) -> None:
        self.active = len(conns)
        now = perf_counter()
        for conn in conns:
            conn.send(now)

    def on_reply(self, conn: EchoConnection, now: float) -> None:
        sent_at = conn.pending.popleft()
        if self.measuring:
            stats.record_us(self.histogram, (now - sent_at) * 1e6)
            self.measured += 1
        if self.stopping or (self.limit is not None and conn.sent >= self.limit):
            self._retire()
        else:
            conn.send(perf_counter())

    def on_lost(self, conn: EchoConnection) -> None:
        self._retire()

    def _retire(self) -> None:
        self.active -= 1
        if self.active <= 0 and not self.idle.done():
            self.idle.set_result(None)


async def run_closed(config: LoadConfig, ready: Barrier | None = None) -> WorkerResult:
    """Run one closed-loop echo measurement in this process and event loop."""
    loop = ClosedLoop(config.messages)
    result = WorkerResult(mode="closed", connections=config.connections)

    async def measure(conns: list[EchoConnection], counters: Counters) -> None:
        def give_up() -> None:
            for _ in range(sum(len(conn.pending) for conn in conns)):
                counters.error(f"no reply within the {config.drain_s}s drain")

        await measure_window(config, loop, conns, result, give_up)

    return await run_echo(config, loop, result, measure, ready)


async def measure_window(
    config: LoadConfig,
    loop: Loop,
    conns: Sequence[Any],
    result: WorkerResult,
    give_up: Callable[[], None],
) -> None:
    """Run ``loop`` on ``conns``: warm-up, then ``duration_s`` measured (or, with
    ``messages``, until every connection is done, ``duration_s`` at most), the
    generator's and the server's CPU over the window into ``result``; then wait
    ``drain_s`` for what is in flight and call ``give_up()`` if it is not over."""
    if config.messages is not None:
        loop.measuring = True
        meter = WindowMeter(config.server_pids)
        started = perf_counter()
        loop.start(conns)
        try:
            await asyncio.wait_for(asyncio.shield(loop.idle), config.duration_s)
        except TimeoutError:
            loop.stopping = True
        result.window_s = perf_counter() - started
        loop.measuring = False
        result.cpu, result.cpu_wait = meter.stop()
        meter.record_server(result)
    else:
        loop.start(conns)
        await asyncio.sleep(config.warmup_s)
        meter = WindowMeter(config.server_pids)
        started = perf_counter()
        loop.measuring = True
        await asyncio.sleep(config.duration_s)
        loop.measuring = False
        result.window_s = perf_counter() - started
        result.cpu, result.cpu_wait = meter.stop()
        meter.record_server(result)
        loop.stopping = True
    try:
        await asyncio.wait_for(asyncio.shield(loop.idle), config.drain_s)
    except TimeoutError:
        give_up()
