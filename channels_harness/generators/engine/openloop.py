"""Open loop: a fixed total message rate, whatever the server does.

Message ``k`` is due at ``start + k / rate`` on connection ``k % n`` and its
latency runs from that intended time, not from when it was actually sent:
when the server (or this generator) stalls, the messages that should have
gone out meanwhile carry the stall in their latency instead of being quietly
postponed. That is what avoids coordinated omission. Messages still
unanswered at the end are errors and enter the histogram with the time they
had waited so far, so a stall can never make the percentiles look better.
A conversation's steps are begun on the same schedule (:func:`schedule`,
:mod:`.scenario_loops`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from time import perf_counter
from typing import Any

from channels_harness.generators.engine.client import (
    Counters,
    EchoConnection,
    Measuring,
    run_echo,
)
from channels_harness.generators.engine.meter import WindowMeter
from channels_harness.generators.engine.result import Barrier, LoadConfig, WorkerResult
from channels_harness.runtime import stats

MIN_SLEEP_S = 0.001


class Paced:
    """The part of an open loop :func:`schedule` drives: the measurement window,
    what is outstanding, and :attr:`idle` once sending is done and nothing is."""

    def __init__(self) -> None:
        self.window_start = float("inf")
        self.window_end = float("inf")
        self.outstanding = 0
        self.sending_done = False
        self.idle: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def in_window(self, intended: float) -> bool:
        return self.window_start <= intended < self.window_end

    def check_idle(self) -> None:
        if self.sending_done and self.outstanding <= 0 and not self.idle.done():
            self.idle.set_result(None)

    def begin(self, conn: Any, intended: float) -> None:
        """Send what is due at ``intended`` on ``conn``."""
        raise NotImplementedError

    def give_up(self, conns: Sequence[Any], counters: Counters, drain_s: float) -> None:
        """The ``drain_s`` drain ended with some still outstanding: count them as
        errors (and, if due in the window, their wait so far as their latency)."""
        raise NotImplementedError


class OpenLoop(Paced, Measuring):
    """Match each reply to its intended send time and record the latency of
    messages due inside the window."""

    def __init__(self) -> None:
        super().__init__()
        self.histogram = stats.new_histogram()
        self.measured = 0

    def begin(self, conn: EchoConnection, intended: float) -> None:
        self.outstanding += 1
        conn.send(intended)

    def give_up(self, conns: Sequence[EchoConnection], counters: Counters, drain_s: float) -> None:
        now = perf_counter()
        for conn in conns:
            for intended in conn.pending:
                counters.error(f"no reply within the {drain_s}s drain")
                if self.in_window(intended):
                    stats.record_us(self.histogram, (now - intended) * 1e6)

    def on_reply(self, conn: EchoConnection, now: float) -> None:
        intended = conn.pending.popleft()
        self.outstanding -= 1
        if self.in_window(intended):
            stats.record_us(self.histogram, (now - intended) * 1e6)
            self.measured += 1
        self.check_idle()

    def on_lost(self, conn: EchoConnection) -> None:
        self.outstanding -= len(conn.pending)
        conn.pending.clear()
        self.check_idle()


async def run_open(config: LoadConfig, ready: Barrier | None = None) -> WorkerResult:
    """Run one open-loop measurement at ``config.rate`` in this process."""
    assert config.rate is not None
    loop = OpenLoop()
    result = WorkerResult(mode="open", connections=config.connections, target_rate=config.rate)

    async def measure(conns: list[EchoConnection], counters: Counters) -> None:
        await schedule(config, loop, conns, counters, result)

    return await run_echo(config, loop, result, measure, ready)


async def schedule(
    config: LoadConfig,
    loop: Paced,
    conns: Sequence[Any],
    counters: Counters,
    result: WorkerResult,
) -> None:
    """Begin what is due at ``start + k / rate`` on connection ``k % n`` (``loop.begin``),
    warm-up first, then the window; the achieved rate and the generator's CPU into
    ``result``; wait ``drain_s`` for what is outstanding, then ``loop.give_up``."""
    assert config.rate is not None
    interval = 1.0 / config.rate
    warmup = int(config.warmup_s * config.rate)
    total = warmup + max(1, int(config.duration_s * config.rate))
    start = perf_counter() + 0.005
    loop.window_start = start + warmup * interval
    loop.window_end = start + total * interval
    meter: WindowMeter | None = None
    last_window_send = loop.window_start
    k = 0
    while k < total:
        now = perf_counter()
        while k < total:
            intended = start + k * interval
            if intended > now:
                break
            if k == warmup:
                meter = WindowMeter()
            conn = conns[k % len(conns)]
            if conn.lost:
                counters.error("message not sent: connection lost")
            else:
                loop.begin(conn, intended)
            k += 1
        if k >= warmup:
            last_window_send = perf_counter()
        if k < total:
            # The loop's timers tick in milliseconds: a shorter sleep would spin.
            delay = start + k * interval - perf_counter()
            await asyncio.sleep(max(delay, MIN_SLEEP_S))
    window_s = config.duration_s if total > warmup else 0.0
    result.window_s = window_s
    span = max(window_s, last_window_send - loop.window_start)
    result.achieved_rate = round((total - warmup) / span, 1) if span > 0 else 0.0
    if meter is not None:
        result.cpu, result.cpu_wait = meter.stop()
    loop.sending_done = True
    loop.check_idle()
    try:
        await asyncio.wait_for(asyncio.shield(loop.idle), config.drain_s)
    except TimeoutError:
        loop.give_up(conns, counters, config.drain_s)
