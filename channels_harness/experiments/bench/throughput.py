"""Closed-loop throughput: one :class:`ThroughputRow` per cell of the plan.

Per server, the cells of one concurrency and payload (one per flavour) are
measured together, their runs interleaved (:mod:`.interleave`), so the
flavours' ratio is fair; a cell's figure is the median of its runs, its
latency percentiles come from the runs' merged histograms.
"""

from __future__ import annotations

from dataclasses import asdict

from channels_harness.experiments.bench.interleave import interleave
from channels_harness.experiments.bench.plan import BenchPlan, Cell
from channels_harness.experiments.bench.session import BenchSession, LiveServer
from channels_harness.generators.engine import GENERATOR_NAME, LoadResult, payload
from channels_harness.report.rows import ThroughputRow
from channels_harness.runtime import stats
from channels_harness.servers.reference import echo_path


def step_count(plan: BenchPlan) -> int:
    """Progress steps: one per run of every cell."""
    return len(plan.cells) * plan.runs


def measure_throughput(session: BenchSession, live: LiveServer) -> None:
    """Every throughput cell of ``live``'s server, in plan order, grouped by
    concurrency and payload."""
    for group in _groups(session.plan.cells, live.name):
        _measure_group(session, live, group)


def _groups(cells: tuple[Cell, ...], server: str) -> list[list[Cell]]:
    """``server``'s cells grouped by (concurrency, payload), in order of first appearance."""
    groups: dict[tuple[int, str], list[Cell]] = {}
    for cell in cells:
        if cell.server == server:
            groups.setdefault((cell.concurrency, cell.payload), []).append(cell)
    return list(groups.values())


def _measure_group(session: BenchSession, live: LiveServer, cells: list[Cell]) -> None:
    """Interleaved closed-loop runs of ``cells``; a row for every cell that never failed."""
    plan = session.plan

    def describe(cell: Cell, index: int) -> str:
        return f"{cell.label} run {index + 1}/{plan.runs}"

    def measure(cell: Cell) -> LoadResult:
        return session.load(
            live,
            "throughput",
            asdict(cell),
            echo_path(cell.flavour),
            connections=cell.concurrency,
            payload=cell.payload,
            duration_s=plan.duration_s,
            warmup_s=plan.warmup_s,
        )

    measured = interleave(session, cells, plan.runs, describe, measure).measured()
    for cell, results in measured:
        session.run.add(throughput_row(session, cell, results))


def throughput_row(session: BenchSession, cell: Cell, results: list[LoadResult]) -> ThroughputRow:
    """The row of ``cell`` from its runs: median rate, merged percentiles, worst generator load."""
    rates = [r.rate for r in results]
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
        msgs_per_s=round(stats.median(rates), 1),
        msgs_per_s_runs=[round(rate, 1) for rate in rates],
        spread_pct=stats.spread_pct(rates),
        p50_ms=summary.p50_ms,
        p90_ms=summary.p90_ms,
        p99_ms=summary.p99_ms,
        p999_ms=summary.p999_ms,
        max_ms=summary.max_ms,
        errors=sum(r.errors for r in results),
        generator_cpu=round(max(r.generator_cpu for r in results), 3),
        generator_demand=round(max(r.generator_demand for r in results), 3),
        generator_bound=any(r.generator_bound for r in results),
        server_cpus=session.server_cpus,
        generator_cpus=session.generator_cpus,
    )
