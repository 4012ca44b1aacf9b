"""The soak's steady mixed load, from one generator process.

Three loads run together for ``duration_s``, each at a fixed rate well below
what any server manages:

- echo: an open loop of ``echo_rate`` messages per second over
  ``echo_connections`` connections (:class:`~.openloop.OpenLoop` matching,
  latency from the intended send time);
- churn: ``churn_rate`` connect-accept-close cycles per second;
- room: ``room_members`` members of one room, one of them broadcasting
  ``broadcast_rate`` timestamped messages per second (:mod:`.fanout`).

Every ``sample_s`` while the load runs it prints one JSON line of cumulative
counters (the parent samples the server at the same moment); after the drain
it prints ``RESULT <json>``.
Run as ``python -m channels_harness.generators.engine.soak '<config json>'``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, fields
from time import perf_counter, perf_counter_ns
from typing import Any

import picows
import uvloop

from channels_harness.generators.engine.churn import _cycle
from channels_harness.generators.engine.client import Counters, close_all, connect_many, payload
from channels_harness.generators.engine.fanout import (
    RESULT,
    FanoutConfig,
    FanoutOutcome,
    Room,
    join,
    leave,
)
from channels_harness.generators.engine.meter import WindowMeter
from channels_harness.generators.engine.openloop import MIN_SLEEP_S, OpenLoop
from channels_harness.runtime import stats


@dataclass(frozen=True)
class SoakLoad:
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SoakLoad:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class Soak:
    """The three loads' counters, and the line printed at each sample."""

    def __init__(self, load: SoakLoad) -> None:
        self.load = load
        self.echo = Counters()
        self.driver = OpenLoop()
        self.driver.window_start = 0.0
        self.churn_ok = 0
        self.churn_errors = 0
        self.churn_samples: list[str] = []
        self.broadcasts = int(load.duration_s * load.broadcast_rate) + 1
        self.room = Room(load.room_members, self.broadcasts)
        self.room_outcome = FanoutOutcome(group_size=load.room_members, messages=self.broadcasts)
        self.broadcast_sent = 0
        self.started = perf_counter()

    @property
    def errors(self) -> int:
        return self.echo.errors + self.churn_errors + self.room_outcome.errors

    def line(self) -> dict[str, Any]:
        return {
            "t_s": round(perf_counter() - self.started, 2),
            "echo_sent": self.echo.sent,
            "echo_received": self.echo.received,
            "handshakes": self.churn_ok,
            "broadcasts": self.broadcast_sent,
            "deliveries": self.room.delivered,
            "errors": self.errors,
        }

    async def churn(self, stop_at: float) -> None:
        tasks: set[asyncio.Task[None]] = set()

        async def cycle() -> None:
            try:
                await _cycle(self.load.echo_url, self.load.connect_timeout_s)
                self.churn_ok += 1
            except (OSError, picows.WSError, TimeoutError) as exc:
                self.churn_errors += 1
                if len(self.churn_samples) < 5:
                    self.churn_samples.append(f"churn: {type(exc).__name__}: {exc}")

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


async def run_soak(load: SoakLoad) -> dict[str, Any]:
    """Hold the mixed load for ``duration_s``, printing a counters line every ``sample_s``."""
    soak = Soak(load)
    message = payload("32B-text")
    conns = await connect_many(
        load.echo_url,
        load.echo_connections,
        soak.driver,
        soak.echo,
        message,
        load.connect_timeout_s,
    )
    room_config = FanoutConfig(
        url=load.room_url, group_size=load.room_members, messages=soak.broadcasts
    )
    members = await join(room_config, soak.room, soak.room_outcome)
    meter = WindowMeter()
    soak.started = perf_counter()
    stop_at = soak.started + load.duration_s
    k = 0

    def send_echo() -> None:
        nonlocal k
        live = [c for c in conns if not c.lost]
        if not live:
            soak.echo.error("message not sent: no echo connection left")
            return
        soak.driver.outstanding += 1
        live[k % len(live)].send(perf_counter())
        k += 1

    def broadcast() -> None:
        sender = members[0] if members else None
        if sender is None or sender.transport is None:
            soak.room_outcome.error("broadcast not sent: no room member")
            return
        stamp = f"{soak.broadcast_sent} {perf_counter_ns()}".encode()
        sender.transport.send(picows.WSMsgType.TEXT, stamp)
        soak.broadcast_sent += 1

    def report() -> None:
        print(json.dumps(soak.line()), flush=True)

    try:
        await asyncio.gather(
            soak.every(1.0 / load.echo_rate, stop_at, send_echo),
            soak.every(1.0 / load.broadcast_rate, stop_at, broadcast),
            soak.churn(stop_at),
            soak.every(load.sample_s, stop_at, report),
        )
        soak.driver.sending_done = True
        soak.driver.check_idle()
        try:
            await asyncio.wait_for(asyncio.shield(soak.driver.idle), load.drain_s)
        except TimeoutError:
            for conn in conns:
                for _ in conn.pending:
                    soak.echo.error(f"no echo within the {load.drain_s}s drain")
        expected = soak.broadcast_sent * len(members)
        drain_end = perf_counter() + load.drain_s
        while soak.room.delivered < expected and perf_counter() < drain_end:
            await asyncio.sleep(0.05)
    finally:
        await close_all(conns, load.connect_timeout_s)
        await leave(members, load.connect_timeout_s)
    cpu_share, cpu_wait = meter.stop()
    summary = stats.summarize(soak.driver.histogram)
    return {
        **soak.line(),
        "lost_deliveries": soak.broadcast_sent * len(members) - soak.room.delivered,
        "members_joined": len(members),
        "echo_connected": len(conns),
        "echo_p50_ms": summary.p50_ms,
        "echo_p99_ms": summary.p99_ms,
        "delivery_p99_ms": stats.summarize(soak.room.histogram).p99_ms,
        "error_samples": (
            soak.echo.error_samples + soak.churn_samples + soak.room_outcome.error_samples
        )[:5],
        "generator_cpu": round(cpu_share, 3),
        "generator_cpu_wait": round(cpu_wait, 3),
    }


def main() -> None:
    load = SoakLoad.from_json(json.loads(sys.argv[1]))
    result = uvloop.run(run_soak(load))
    print(RESULT + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
