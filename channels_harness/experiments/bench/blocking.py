"""Blocking handlers: one :class:`BlockingRow` per blocking server, kind and delay.

The consumer waits ``delay_ms`` per message, either blocking its thread
(``block``: ``time.sleep``) or awaiting (``await``: ``asyncio.sleep``); the
rows show what that does to throughput and latency.
"""

from __future__ import annotations

from channels_harness.experiments.bench.plan import HEADLINE_CONCURRENCY, BenchPlan
from channels_harness.experiments.bench.session import BenchSession, CellFailed, LiveServer
from channels_harness.report.rows import BlockingRow
from channels_harness.servers.reference import echo_path

# (flavour, kind): "block" is time.sleep, "await" asyncio.sleep.
BLOCKING_KINDS = (("sync", "block"), ("async", "block"), ("async", "await"))


def step_count(plan: BenchPlan) -> int:
    """Progress steps: one per blocking server, kind and delay."""
    return len(plan.blocking_servers) * len(BLOCKING_KINDS) * len(plan.blocking_delays_ms)


def measure_blocking(session: BenchSession, live: LiveServer) -> None:
    """Every kind and delay on ``live``, if its server is one of the blocking servers."""
    if live.name not in session.plan.blocking_servers:
        return
    for flavour, kind in BLOCKING_KINDS:
        for delay_ms in session.plan.blocking_delays_ms:
            with session.step(f"{live.name} {flavour} {kind} {delay_ms} ms"):
                _measure_cell(session, live, flavour, kind, delay_ms)


def _measure_cell(
    session: BenchSession, live: LiveServer, flavour: str, kind: str, delay_ms: int
) -> None:
    """One closed-loop run with the handler waiting ``delay_ms`` per message."""
    cell = {"server": live.name, "flavour": flavour, "kind": kind, "delay_ms": delay_ms}
    try:
        result = session.load(
            live,
            "blocking",
            cell,
            f"{echo_path(flavour)}?{kind}_ms={delay_ms}",
            connections=HEADLINE_CONCURRENCY,
            duration_s=session.plan.blocking_duration_s,
            warmup_s=session.plan.warmup_s,
            drain_s=10.0,
        )
    except CellFailed:
        return
    summary = result.summary
    session.run.add(
        BlockingRow(
            server=live.name,
            flavour=flavour,
            kind=kind,
            delay_ms=delay_ms,
            concurrency=HEADLINE_CONCURRENCY,
            msgs_per_s=round(result.rate, 1),
            p50_ms=summary.p50_ms,
            p99_ms=summary.p99_ms,
            errors=result.errors,
            generator_bound=result.generator_bound,
        )
    )
