"""Open-loop latency: one :class:`LatencyRow` per latency cell and share.

Each (server, flavour) latency cell is loaded at a fixed rate, a share of its
headline closed-loop figure measured earlier in the run, with latency taken
from the intended send time.
"""

from __future__ import annotations

from channels_harness.experiments.bench.plan import (
    HEADLINE_CONCURRENCY,
    HEADLINE_PAYLOAD,
    BenchPlan,
)
from channels_harness.experiments.bench.session import BenchSession, CellFailed, LiveServer
from channels_harness.generators.engine import LoadResult
from channels_harness.report.model import Run
from channels_harness.report.rows import LatencyRow, ThroughputRow
from channels_harness.servers.reference import echo_path


def step_count(plan: BenchPlan) -> int:
    """Progress steps: one per latency cell and share of peak."""
    return len(plan.latency_cells) * len(plan.latency_shares)


def measure_latency(session: BenchSession, live: LiveServer) -> None:
    """Every latency cell of ``live``'s server, at every share of its peak."""
    for server, flavour in session.plan.latency_cells:
        if server == live.name:
            _measure_flavour(session, live, flavour)


def headline_rate(run: Run, server: str, flavour: str) -> float:
    """This run's headline msgs/s for ``server`` and ``flavour`` over plain
    WebSocket (0 when unmeasured)."""
    for row in run.rows(ThroughputRow):
        if (
            not row.tls
            and row.server == server
            and row.flavour == flavour
            and row.concurrency == HEADLINE_CONCURRENCY
            and row.payload == HEADLINE_PAYLOAD
        ):
            return row.msgs_per_s
    return 0.0


def _measure_flavour(session: BenchSession, live: LiveServer, flavour: str) -> None:
    peak = headline_rate(session.run, live.name, flavour)
    for share in session.plan.latency_shares:
        with session.step(f"{live.name} {flavour} open loop at {share:.0%} of peak"):
            _measure_share(session, live, flavour, share, peak)


def _measure_share(
    session: BenchSession, live: LiveServer, flavour: str, share: float, peak: float
) -> None:
    """One open-loop run at ``share`` of ``peak``; a failure without a peak to share."""
    cell = {"server": live.name, "flavour": flavour, "share_of_peak": share}
    if not peak:
        session.run.fail("latency", cell, "no throughput figure to take a share of")
        return
    rate = round(peak * share)
    try:
        result = session.load(
            live,
            "latency",
            cell,
            echo_path(flavour),
            mode="open",
            rate=rate,
            connections=HEADLINE_CONCURRENCY,
            duration_s=session.plan.latency_duration_s,
            warmup_s=session.plan.warmup_s,
        )
    except CellFailed:
        return
    session.run.add(latency_row(live.name, flavour, HEADLINE_CONCURRENCY, share, rate, result))


def latency_row(
    server: str,
    flavour: str,
    connections: int,
    share: float,
    rate: float,
    result: LoadResult,
    scenario: str | None = None,
) -> LatencyRow:
    """The row of one open-loop run at ``rate`` (``share`` of the peak); ``scenario``
    names what your app was sent (None: the reference app's echo)."""
    summary = result.summary
    return LatencyRow(
        scenario=scenario,
        server=server,
        flavour=flavour,
        connections=connections,
        share_of_peak=share,
        target_rate=float(rate),
        achieved_rate=result.achieved_rate,
        p50_ms=summary.p50_ms,
        p90_ms=summary.p90_ms,
        p95_ms=summary.p95_ms,
        p99_ms=summary.p99_ms,
        p999_ms=summary.p999_ms,
        max_ms=summary.max_ms,
        errors=result.errors,
        sent=result.sent,
        generator_cpu=round(result.generator_cpu, 3),
        generator_bound=result.generator_bound,
    )
