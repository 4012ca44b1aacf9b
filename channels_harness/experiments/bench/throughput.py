"""Closed-loop throughput: one :class:`ThroughputRow` per cell of the plan.

The cells of one concurrency and payload (every server, flavour, plain and
TLS) are measured together, their runs interleaved round by round
(:mod:`.interleave`), so every ratio between them (async over sync, server
over server, TLS over plain) pairs runs made under the same machine load.
Rounds repeat until every cell's 95% confidence interval is narrow enough or
the plan's budget is spent (:func:`.interleave.repeat_until_settled`). A
cell's figure is the median of its runs, its latency percentiles come from
the runs' merged histograms; the server's CPU per message and the noise come
from the windows the engine watched (:mod:`.figures`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict

from channels_harness.experiments.bench.figures import Figures, settled
from channels_harness.experiments.bench.interleave import repeat_until_settled
from channels_harness.experiments.bench.plan import BenchPlan, Cell
from channels_harness.experiments.bench.session import BenchSession, LiveServer
from channels_harness.generators.engine import GENERATOR_NAME, LoadResult, payload
from channels_harness.report.rows import ThroughputRow
from channels_harness.runtime import stats
from channels_harness.servers.reference import echo_path

# The live server (plain or TLS) a cell is measured on.
LiveLookup = Callable[[Cell], LiveServer]


def step_count(plan: BenchPlan) -> int:
    """Progress steps: one per run of every cell, at the most runs the plan allows."""
    return sum(plan.rounds_for(cell).maximum for cell in plan.cells)


def measure_throughput(session: BenchSession) -> None:
    """Every throughput cell of the plan, grouped by concurrency and payload, in
    plan order; each server (plain and TLS) runs for the whole section."""
    with ExitStack() as servers:
        lives: dict[tuple[str, bool], LiveServer] = {}

        def live_for(cell: Cell) -> LiveServer:
            key = (cell.server, cell.tls)
            if key not in lives:
                lives[key] = servers.enter_context(session.live_server(cell.server, tls=cell.tls))
            return lives[key]

        for group in _groups(session.plan.cells):
            _measure_group(session, live_for, group)


def _groups(cells: tuple[Cell, ...]) -> list[list[Cell]]:
    """``cells`` grouped by (concurrency, payload), in order of first appearance."""
    groups: dict[tuple[int, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.concurrency, cell.payload), []).append(cell)
    return list(groups.values())


def series_name(cell: Cell) -> str:
    """The series a cell's row belongs to: every cell of its concurrency and payload."""
    return f"throughput c={cell.concurrency} {cell.payload}"


def _measure_group(session: BenchSession, live_for: LiveLookup, cells: list[Cell]) -> None:
    """Interleaved closed-loop runs of ``cells`` until they settle; a row for
    every cell that never failed."""
    plan = session.plan
    rounds = plan.rounds_for(cells[0])

    def describe(cell: Cell, index: int) -> str:
        return f"{cell.label} {rounds.describe(index)}"

    def measure(cell: Cell) -> LoadResult:
        return session.load(
            live_for(cell),
            "throughput",
            asdict(cell),
            echo_path(cell.flavour),
            connections=cell.concurrency,
            payload=cell.payload,
            duration_s=plan.duration_s,
            warmup_s=plan.warmup_s,
        )

    done = repeat_until_settled(
        session,
        cells,
        rounds,
        describe,
        measure,
        lambda runs: settled(runs, plan.target_ci_pct),
    )
    session.run.extend(
        [throughput_row(session, cell, results) for cell, results in done.measured()]
    )


def throughput_row(session: BenchSession, cell: Cell, results: list[LoadResult]) -> ThroughputRow:
    """The row of ``cell`` from its runs: median rate and its interval, merged
    percentiles, worst generator load, the server's CPU per message, the noise."""
    figures = Figures.of(session, results)
    summary = stats.summarize(stats.combine(r.histogram for r in results))
    return ThroughputRow(
        scenario="echo",
        server=cell.server,
        flavour=cell.flavour,
        concurrency=cell.concurrency,
        payload=cell.payload,
        payload_bytes=payload(cell.payload).size,
        mode="closed",
        generator=GENERATOR_NAME,
        generator_processes=results[0].processes,
        runs=len(results),
        msgs_per_s=figures.rate,
        msgs_per_s_runs=figures.rates,
        spread_pct=stats.spread_pct(figures.rates),
        p50_ms=summary.p50_ms,
        p90_ms=summary.p90_ms,
        p95_ms=summary.p95_ms,
        p99_ms=summary.p99_ms,
        p999_ms=summary.p999_ms,
        max_ms=summary.max_ms,
        errors=sum(r.errors for r in results),
        sent=sum(r.sent for r in results),
        generator_cpu=round(max(r.generator_cpu for r in results), 3),
        generator_demand=round(max(r.generator_demand for r in results), 3),
        generator_bound=any(r.generator_bound for r in results),
        server_cpus=session.server_cpus,
        generator_cpus=session.generator_cpus,
        ci95=figures.ci95,
        p99_ms_runs=[r.summary.p99_ms for r in results],
        series=series_name(cell),
        unstable=figures.unstable,
        tls=cell.tls,
        server_cpu_us_per_msg=figures.server_cpu_us,
        server_cpu_us_per_msg_runs=figures.server_cpu_us_runs,
        noise=figures.noise,
    )
