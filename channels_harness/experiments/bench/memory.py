"""Memory per idle connection: one :class:`MemoryRow` per server and memory flavour.

Always on a fresh server: a process that already served a thousand
connections keeps that memory (CPython's allocator rarely gives it back),
which would hide the cost of the idle ones.
"""

from __future__ import annotations

import uvloop

from channels_harness.errors import RunError
from channels_harness.experiments.bench.plan import BenchPlan
from channels_harness.experiments.bench.session import BenchSession, LiveServer
from channels_harness.generators.engine import IdleOutcome, hold_idle
from channels_harness.report.rows import MemoryRow
from channels_harness.servers.reference import echo_path


def step_count(plan: BenchPlan) -> int:
    """Progress steps: one per server and memory flavour."""
    return len(plan.servers) * len(plan.memory_flavours)


def measure_memory(session: BenchSession, name: str) -> None:
    """Server RSS before and while ``memory_connections`` idle connections are
    open, per memory flavour, each on a fresh server ``name``."""
    for flavour in session.plan.memory_flavours:
        with (
            session.step(f"{name} {flavour} memory per idle connection"),
            session.live_server(name) as live,
        ):
            _measure_flavour(session, live, flavour)


def _measure_flavour(session: BenchSession, live: LiveServer, flavour: str) -> None:
    """The memory row of ``flavour`` on ``live``, or its failure."""
    count = session.plan.memory_connections
    cell = {"server": live.name, "flavour": flavour, "connections": count}
    try:
        idle, outcome = _hold_idle(session, live, flavour, count)
    except (RunError, OSError) as exc:
        session.run.fail("memory", cell, f"{type(exc).__name__}: {exc}", live.log_tail())
        return
    if live.died() or outcome.opened == 0:
        message = "server died" if live.died() else "; ".join(outcome.error_samples)
        session.run.fail("memory", cell, f"could not hold connections: {message}", live.log_tail())
        return
    session.run.add(
        MemoryRow(
            server=live.name,
            flavour=flavour,
            connections=count,
            opened=outcome.opened,
            errors=outcome.errors,
            rss_idle_bytes=idle,
            rss_loaded_bytes=outcome.value,
            bytes_per_connection=round((outcome.value - idle) / outcome.opened),
        )
    )


def _hold_idle(
    session: BenchSession, live: LiveServer, flavour: str, count: int
) -> tuple[int, IdleOutcome]:
    """The server's RSS once warmed up, and the outcome of holding ``count`` idle
    connections (its value: the RSS while they are open)."""
    server = live.get(session.run)
    url = server.ws_url(echo_path(flavour))
    # Warm up (lazy imports, first consumer instance) before the idle figure.
    uvloop.run(hold_idle(url, 10, server.rss_bytes, settle_s=0.2))
    idle = server.rss_bytes()
    return idle, uvloop.run(hold_idle(url, count, server.rss_bytes, settle_s=1.0))
