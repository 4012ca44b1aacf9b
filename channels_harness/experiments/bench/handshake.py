"""Handshake rate: one :class:`HandshakeRow` per server and handshake flavour.

Connect, accept and close as fast as the server allows, from a fixed number
of concurrent clients; the figure is the median of the runs.
"""

from __future__ import annotations

from channels_harness.experiments.bench.plan import BenchPlan
from channels_harness.experiments.bench.session import BenchSession, CellFailed, LiveServer
from channels_harness.generators.engine import LoadResult
from channels_harness.report.rows import HandshakeRow
from channels_harness.runtime import stats
from channels_harness.servers.reference import echo_path


def step_count(plan: BenchPlan) -> int:
    """Progress steps: one per server and handshake flavour (all its runs together)."""
    return len(plan.servers) * len(plan.handshake_flavours)


def measure_handshakes(session: BenchSession, live: LiveServer) -> None:
    """The handshake rate of every handshake flavour on ``live``."""
    for flavour in session.plan.handshake_flavours:
        with session.step(f"{live.name} {flavour} handshakes"):
            _measure_flavour(session, live, flavour)


def _measure_flavour(session: BenchSession, live: LiveServer, flavour: str) -> None:
    """The runs of one flavour, one after another; none recorded if one fails."""
    plan = session.plan
    cell = {"server": live.name, "flavour": flavour}
    try:
        results = [
            session.load(
                live,
                "handshake",
                cell,
                echo_path(flavour),
                mode="handshake",
                connections=plan.handshake_concurrency,
                duration_s=plan.handshake_duration_s,
            )
            for _ in range(plan.handshake_runs)
        ]
    except CellFailed:
        return
    session.run.add(handshake_row(live.name, flavour, plan.handshake_concurrency, results))


def handshake_row(
    server: str, flavour: str, concurrency: int, results: list[LoadResult]
) -> HandshakeRow:
    """The row of one flavour from its runs: median rate, merged percentiles."""
    rates = [r.rate for r in results]
    merged = stats.summarize(stats.combine(r.histogram for r in results))
    return HandshakeRow(
        server=server,
        flavour=flavour,
        concurrency=concurrency,
        handshakes_per_s=round(stats.median(rates), 1),
        handshakes_per_s_runs=[round(rate, 1) for rate in rates],
        p50_ms=merged.p50_ms,
        p99_ms=merged.p99_ms,
        runs=len(results),
        spread_pct=stats.spread_pct(rates),
        errors=sum(r.errors for r in results),
        generator_cpu=round(max(r.generator_cpu for r in results), 3),
        generator_bound=any(r.generator_bound for r in results),
    )
