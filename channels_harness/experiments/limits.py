"""Concurrency limits: how many idle WebSocket connections each server holds.

The harness raises its own open-file limit before it starts the server (the
server inherits it), then opens idle connections to the echo endpoint in
steps (1,000 at a time by default) up to ``max_connections``. After each step
it waits a moment, checks that the server lives and that every connection is
still open, and samples the server's RSS. The first step that fails (a
refused or timed-out handshake, connections the server dropped, the server
dead, the step over its time bound) stops the climb, and the row records the
connections held, memory per connection (RSS growth over the idle server,
divided by connections held) and what stopped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import picows

from channels_harness.errors import RunError
from channels_harness.experiments.attacks.aftermath import live_consumers
from channels_harness.generators.engine import raise_nofile_limit
from channels_harness.report.model import Run
from channels_harness.report.rows import LimitsRow
from channels_harness.runtime import pinning
from channels_harness.runtime.loopback import LOOPBACK, check_target
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import get_spec

# File descriptors beyond the connections: the interpreter, logs, Redis, pipes.
FD_MARGIN = 1024


@dataclass(frozen=True)
class LimitsPlan:
    """Which servers, how far and in which steps."""

    servers: Sequence[str] = ("daphne", "uvicorn", "hypercorn", "granian")
    flavour: str = "async"
    max_connections: int = 10_000
    step: int = 1000
    step_timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    settle_s: float = 1.0
    parallel: int = 100
    host: str = LOOPBACK
    allow_remote: bool = False


class Idle(picows.WSListener):
    """One idle client connection; remembers whether the server dropped it."""

    def __init__(self, held: HeldConnections) -> None:
        self.held = held
        self.transport: picows.WSTransport | None = None

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if not self.held.closing:
            self.held.dropped += 1


@dataclass
class HeldConnections:
    """Every connection opened so far, and how the opening went."""

    conns: list[Idle] = field(default_factory=list)
    dropped: int = 0
    failed: int = 0
    failure_samples: list[str] = field(default_factory=list)
    closing: bool = False

    @property
    def open(self) -> int:
        return len(self.conns) - self.dropped

    async def add(self, url: str, count: int, timeout: float, parallel: int) -> None:
        gate = asyncio.Semaphore(parallel)

        async def one() -> None:
            async with gate:
                try:
                    _transport, listener = await asyncio.wait_for(
                        picows.ws_connect(
                            lambda: Idle(self), url, websocket_handshake_timeout=timeout
                        ),
                        timeout,
                    )
                except (OSError, picows.WSError, TimeoutError) as exc:
                    self.failed += 1
                    if len(self.failure_samples) < 3:
                        self.failure_samples.append(f"{type(exc).__name__}: {exc}")
                    return
                if not isinstance(listener, Idle):
                    self.failed += 1
                    if len(self.failure_samples) < 3:
                        self.failure_samples.append("closed before the handshake completed")
                    return
                self.conns.append(listener)

        await asyncio.gather(*(one() for _ in range(count)))

    async def close(self, timeout: float) -> None:
        self.closing = True
        transports = [c.transport for c in self.conns if c.transport is not None]
        for transport in transports:
            transport.send_close(picows.WSCloseCode.OK)
        await asyncio.gather(
            *(asyncio.wait_for(t.wait_disconnected(), timeout) for t in transports),
            return_exceptions=True,
        )
        for transport in transports:
            transport.disconnect()


async def climb(
    server: ServerProcess, plan: LimitsPlan, progress: Callable[[str], None]
) -> LimitsRow:
    """Open connections step by step until one fails or ``max_connections``; the row."""
    url = check_target(server.ws_url(f"ws/echo/{plan.flavour}/"), plan.allow_remote)
    held = HeldConnections()
    base_rss = server.rss_bytes()
    good_rss, good_held, reason = base_rss, 0, f"reached the maximum asked ({plan.max_connections})"
    try:
        while good_held < plan.max_connections:
            count = min(plan.step, plan.max_connections - len(held.conns))
            started = time.monotonic()
            try:
                await asyncio.wait_for(
                    held.add(url, count, scaled(plan.connect_timeout_s), plan.parallel),
                    scaled(plan.step_timeout_s),
                )
            except TimeoutError:
                reason = f"step to {len(held.conns) + count} took over {plan.step_timeout_s:.0f} s"
                break
            await asyncio.sleep(plan.settle_s)
            progress(
                f"limits {server.spec.name}: {held.open} open "
                f"({time.monotonic() - started:.1f} s for the step)"
            )
            if not server.running:
                reason = f"server died at {len(held.conns)} connections"
                break
            if held.failed:
                reason = f"handshakes failed: {held.failed} ({'; '.join(held.failure_samples)})"
                break
            if held.dropped:
                reason = f"the server dropped {held.dropped} open connections"
                break
            good_held, good_rss = held.open, server.rss_bytes()
        live = None
        with contextlib.suppress(OSError, ValueError):
            live = live_consumers(server) if server.running else None
    finally:
        await held.close(scaled(plan.connect_timeout_s))
    return LimitsRow(
        server=server.spec.name,
        flavour=plan.flavour,
        connections_target=plan.max_connections,
        connections_held=good_held,
        connections_opened=len(held.conns),
        bytes_per_connection=round((good_rss - base_rss) / good_held) if good_held else None,
        rss_idle_bytes=base_rss,
        rss_held_bytes=good_rss,
        live_consumers_at_end=live,
        limit_reason=reason,
    )


def run_limits(
    run: Run, plan: LimitsPlan, progress: Callable[[str], None] | None = None
) -> list[LimitsRow]:
    """One ``limits`` row per server into ``run`` (a failed start is a failure row)."""
    say = progress or (lambda text: None)
    wanted = plan.max_connections + FD_MARGIN
    limit = raise_nofile_limit(wanted)
    cores = pinning.choose()
    run.note(
        f"Limits: open-file soft limit raised to {limit} in the harness before each server "
        f"starts (inherited; {wanted} wanted), idle connections to ws/echo/{plan.flavour}/ "
        f"in steps of {plan.step}, server on core(s) {sorted(cores.server or ()) or 'all'}; "
        "bytes per connection = (server RSS with the connections held - RSS idle) / held."
    )
    rows = []
    for name in plan.servers:
        cell = {"server": name, "flavour": plan.flavour}
        try:
            with ServerProcess(get_spec(name), cpus=cores.server, host=plan.host) as server:
                run.record_server(server.info())
                row = asyncio.run(climb(server, plan, say))
                if not server.running:
                    row.log_tail = server.log_tail(20)
        except RunError as exc:
            run.fail("limits", cell, str(exc))
            continue
        run.add(row)
        rows.append(row)
    return rows
