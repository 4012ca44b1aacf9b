"""The soak's steady mixed load, from one generator process.

Three loads run together for ``duration_s``, each at a fixed rate well below
what any server manages:

- echo: an open loop of ``echo_rate`` messages per second over
  ``echo_connections`` connections (:class:`~.openloop.OpenLoop` matching,
  latency from the intended send time);
- churn: ``churn_rate`` connect-accept-close cycles per second;
- room: ``room_members`` members of one room, one of them broadcasting
  ``broadcast_rate`` timestamped messages per second (:mod:`.fanout`).

For the user's app (``traffic`` with messages) the echo is their conversation
(:class:`~.scenario_loops.OpenSteps`: a reply is the next message the server
sends), every handshake carries the traffic's headers, and there is no room
when ``room_url`` is empty.

Every ``sample_s`` while the load runs it prints one JSON line of cumulative
counters (a :class:`SoakCounters`; the parent samples the server at the same
moment); after the drain it prints ``RESULT <json>`` (a :class:`SoakOutcome`).
Run as ``python -m channels_harness.generators.engine.soak '<SoakLoad json>'``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from time import perf_counter, perf_counter_ns
from typing import Any

import picows
import uvloop

from channels_harness.generators.engine.churn import handshake_cycle
from channels_harness.generators.engine.client import (
    Connection,
    Counters,
    EchoConnection,
    close_all,
    connect_many,
    payload,
)
from channels_harness.generators.engine.conversing import (
    ConversationConnection,
    StepMeters,
    Sweeper,
    conversations,
    open_conversations,
)
from channels_harness.generators.engine.fanout import (
    RESULT,
    FanoutConfig,
    FanoutOutcome,
    Member,
    Room,
    join,
    leave,
)
from channels_harness.generators.engine.meter import WindowMeter
from channels_harness.generators.engine.openloop import MIN_SLEEP_S, OpenLoop, Paced
from channels_harness.generators.engine.result import LoadConfig
from channels_harness.generators.engine.scenario_loops import OpenSteps
from channels_harness.protocol.traffic import Traffic
from channels_harness.runtime import stats
from channels_harness.runtime.records import Record


@dataclass(frozen=True)
class SoakLoad(Record):
    """What the soak generator sends, and for how long."""

    echo_url: str
    room_url: str
    duration_s: float
    sample_s: float = 5.0
    echo_rate: float = 200.0
    echo_connections: int = 20
    churn_rate: float = 5.0
    room_members: int = 10
    broadcast_rate: float = 2.0
    connect_timeout_s: float = 10.0
    drain_s: float = 5.0
    traffic: Traffic | None = None

    def __post_init__(self) -> None:
        if isinstance(self.traffic, dict):
            object.__setattr__(self, "traffic", Traffic.from_json(self.traffic))


@dataclass
class SoakCounters(Record):
    """The load's cumulative counters, printed as one JSON line at every sample."""

    t_s: float
    echo_sent: int
    echo_received: int
    handshakes: int
    broadcasts: int
    deliveries: int
    errors: int


@dataclass
class SoakOutcome(SoakCounters):
    """The final counters and what the drain and the generator's meter add to them."""

    lost_deliveries: int = 0
    members_joined: int = 0
    echo_connected: int = 0
    echo_p50_ms: float = 0.0
    echo_p99_ms: float = 0.0
    delivery_p99_ms: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    generator_cpu: float = 0.0
    generator_cpu_wait: float = 0.0


class Soak:
    """The three loads, their connections and counters, run as steps:
    :meth:`connect`, :meth:`hold`, :meth:`drain`, :meth:`close`, :meth:`outcome`."""

    def __init__(self, load: SoakLoad) -> None:
        self.load = load
        self.echo = Counters()
        self.talk = LoadConfig(
            url=load.echo_url,
            connections=load.echo_connections,
            connect_timeout_s=load.connect_timeout_s,
            traffic=load.traffic,
        )
        self.meters: StepMeters | None = None
        self.sweeper: Sweeper | None = None
        self.driver: Paced = OpenLoop()
        if self.talk.converses:
            scenario, _ = conversations(self.talk)
            self.meters = StepMeters(scenario)
            self.sweeper = Sweeper(scenario)
            self.driver = OpenSteps(self.meters)
        self.driver.window_start = 0.0
        self.conns: list[Connection] = []
        self.echo_next = 0
        self.churn_ok = 0
        self.churn_failures = Counters()
        self.broadcasts = int(load.duration_s * load.broadcast_rate) + 1
        self.room = Room(load.room_members, self.broadcasts)
        self.room_outcome = FanoutOutcome(group_size=load.room_members, messages=self.broadcasts)
        self.members: list[Member] = []
        self.broadcast_sent = 0
        self.started = perf_counter()

    @property
    def errors(self) -> int:
        echo = self.echo.errors + (self.meters.errors if self.meters is not None else 0)
        return echo + self.churn_failures.errors + self.room_outcome.errors

    def counters(self) -> SoakCounters:
        """The cumulative counters now."""
        return SoakCounters(
            t_s=round(perf_counter() - self.started, 2),
            echo_sent=self.echo.sent,
            echo_received=self.echo.received,
            handshakes=self.churn_ok,
            broadcasts=self.broadcast_sent,
            deliveries=self.room.delivered,
            errors=self.errors,
        )

    async def connect(self) -> None:
        """Open the echo connections and join the room's members."""
        load = self.load
        self.conns = await self._open_echo()
        if not load.room_url:
            return
        room = FanoutConfig(
            url=load.room_url, group_size=load.room_members, messages=self.broadcasts
        )
        self.members = await join(room, self.room, self.room_outcome)

    async def _open_echo(self) -> list[Connection]:
        """The echo connections: the reference echo's, or the user's conversations."""
        if self.sweeper is None:
            assert isinstance(self.driver, OpenLoop)
            driver, message = self.driver, payload("32B-text")
            return list(
                await connect_many(
                    self.load.echo_url,
                    self.load.echo_connections,
                    lambda _number: EchoConnection(driver, self.echo, message),
                    self.echo,
                    self.load.connect_timeout_s,
                    traffic=self.load.traffic,
                )
            )
        _, conversation = conversations(self.talk)
        sweeper, conductor = self.sweeper, self.driver
        assert isinstance(conductor, OpenSteps)

        def make(number: int) -> ConversationConnection:
            conn = ConversationConnection(conversation(number), self.echo, conductor)
            sweeper.conns.append(conn)
            return conn

        sweeper.start()
        return list(await open_conversations(self.talk, make, self.echo))

    async def hold(self) -> None:
        """Run the three loads and the sampling together for ``duration_s``."""
        load = self.load
        self.started = perf_counter()
        stop_at = self.started + load.duration_s
        loads = [
            self.every(1.0 / load.echo_rate, stop_at, self.send_echo),
            self.churn(stop_at),
            self.every(load.sample_s, stop_at, self.report),
        ]
        if load.room_url:
            loads.append(self.every(1.0 / load.broadcast_rate, stop_at, self.broadcast))
        await asyncio.gather(*loads)

    async def drain(self) -> None:
        """Wait (at most ``drain_s`` each) for the echo replies and the room's deliveries;
        a reply still missing then is an error."""
        drain_s = self.load.drain_s
        self.driver.sending_done = True
        self.driver.check_idle()
        try:
            await asyncio.wait_for(asyncio.shield(self.driver.idle), drain_s)
        except TimeoutError:
            self.driver.give_up(self.conns, self.echo, drain_s)
        expected = self.broadcast_sent * len(self.members)
        drain_end = perf_counter() + drain_s
        while self.room.delivered < expected and perf_counter() < drain_end:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Close every echo connection and every room member."""
        await close_all(self.conns, self.load.connect_timeout_s)
        await leave(self.members, self.load.connect_timeout_s)
        if self.sweeper is not None:
            self.sweeper.stop()

    def outcome(self, cpu_share: float, cpu_wait: float) -> SoakOutcome:
        """The final counters with latency, losses, error samples and the generator's CPU."""
        if self.meters is not None:
            echo = stats.summarize(self.meters.histogram())
            step_samples = [s for m in self.meters.meters.values() for s in m.error_samples]
        else:
            assert isinstance(self.driver, OpenLoop)
            echo = stats.summarize(self.driver.histogram)
            step_samples = []
        samples = [
            *self.echo.error_samples,
            *step_samples,
            *self.churn_failures.error_samples,
            *self.room_outcome.error_samples,
        ]
        return SoakOutcome(
            **self.counters().to_json(),
            lost_deliveries=self.broadcast_sent * len(self.members) - self.room.delivered,
            members_joined=len(self.members),
            echo_connected=len(self.conns),
            echo_p50_ms=echo.p50_ms,
            echo_p99_ms=echo.p99_ms,
            delivery_p99_ms=stats.summarize(self.room.histogram).p99_ms,
            error_samples=samples[:5],
            generator_cpu=round(cpu_share, 3),
            generator_cpu_wait=round(cpu_wait, 3),
        )

    def send_echo(self) -> None:
        """Send the next echo message, round-robin over the connections still open."""
        live = [c for c in self.conns if not c.lost]
        if not live:
            self.echo.error("message not sent: no echo connection left")
            return
        self.driver.begin(live[self.echo_next % len(live)], perf_counter())
        self.echo_next += 1

    def broadcast(self) -> None:
        """Send the next timestamped broadcast from the room's first member."""
        sender = self.members[0] if self.members else None
        if sender is None or sender.transport is None:
            self.room_outcome.error("broadcast not sent: no room member")
            return
        stamp = f"{self.broadcast_sent} {perf_counter_ns()}".encode()
        sender.transport.send(picows.WSMsgType.TEXT, stamp)
        self.broadcast_sent += 1

    def report(self) -> None:
        """Print the counters line the parent samples the server by."""
        print(json.dumps(self.counters().to_json()), flush=True)

    async def churn(self, stop_at: float) -> None:
        """Start a connect-accept-close cycle every ``1 / churn_rate`` s until ``stop_at``."""
        tasks: set[asyncio.Task[None]] = set()
        traffic = self.load.traffic
        context = traffic.ssl_context() if traffic is not None else None
        url = self.load.echo_url.replace("{conn}", "churn")

        async def cycle() -> None:
            try:
                await handshake_cycle(url, self.load.connect_timeout_s, traffic, context)
                self.churn_ok += 1
            except (OSError, picows.WSError, TimeoutError) as exc:
                self.churn_failures.error(f"churn: {type(exc).__name__}: {exc}")

        await self.every(1.0 / self.load.churn_rate, stop_at, lambda: _spawn(tasks, cycle()))
        await asyncio.gather(*tasks)

    async def every(self, interval: float, stop_at: float, act: Callable[[], None]) -> None:
        """Call ``act()`` at ``start + k * interval`` until ``stop_at`` (catching up if late)."""
        start = perf_counter()
        k = 0
        while True:
            due = start + k * interval
            if due >= stop_at:
                return
            now = perf_counter()
            if due > now:
                await asyncio.sleep(max(due - now, MIN_SLEEP_S))
                continue
            act()
            k += 1


def _spawn(tasks: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def run_soak(load: SoakLoad) -> SoakOutcome:
    """Hold the mixed load for ``duration_s``, printing a :class:`SoakCounters` line
    every ``sample_s``, then drain it, close everything and return the outcome."""
    soak = Soak(load)
    try:
        await soak.connect()
        meter = WindowMeter()
        await soak.hold()
        await soak.drain()
    finally:
        await soak.close()
    return soak.outcome(*meter.stop())


def main() -> None:
    load = SoakLoad.from_json(json.loads(sys.argv[1]))
    outcome = uvloop.run(run_soak(load))
    print(RESULT + json.dumps(outcome.to_json()), flush=True)


if __name__ == "__main__":
    main()
