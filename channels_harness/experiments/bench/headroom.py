"""The generator's headroom: one :class:`HeadroomRow` per benchmark run.

The raw echo baseline (no ASGI server) over the best server-limited Channels
cell of this run, both measured again at the end side by side (their runs
interleaved, :mod:`.interleave`), so the ratio compares the two under the same
machine load: it is the median of the per-round ratios, and its interval is
that median's (:func:`~channels_harness.runtime.confidence.ratio_interval`,
paired), one statistic for the figure and its interval. A ratio under
:data:`HEADROOM_TARGET` gets a note saying what limited the baseline.
"""

from __future__ import annotations

from typing import NamedTuple

from channels_harness.experiments.bench.interleave import interleave
from channels_harness.experiments.bench.plan import BenchPlan, Cell
from channels_harness.experiments.bench.session import BenchSession, LiveServer
from channels_harness.generators.engine import GENERATOR_NAME, LoadResult
from channels_harness.report.model import Run
from channels_harness.report.rows import HeadroomRow, ThroughputRow
from channels_harness.runtime import confidence, stats
from channels_harness.runtime import cpu as cpu_module
from channels_harness.servers.reference import echo_path
from channels_harness.servers.registry import RAW_ECHO, SERVERS

HEADROOM_TARGET = 5.0


class _Side(NamedTuple):
    """One side of the headroom ratio: where it is loaded and how progress names it."""

    live: LiveServer
    path: str
    label: str


def step_count(plan: BenchPlan) -> int:
    """Progress steps: one per run of the baseline and of the best cell."""
    return 2 * plan.headroom_runs


def best_channels_cell(run: Run) -> ThroughputRow | None:
    """This run's fastest plain (not TLS) Channels throughput row that the
    generator did not limit."""
    rows = [
        r
        for r in run.rows(ThroughputRow)
        if r.server in SERVERS and not r.generator_bound and not r.tls
    ]
    return max(rows, key=lambda row: row.msgs_per_s) if rows else None


def measure_headroom(session: BenchSession) -> None:
    """Measure the baseline and the best cell, interleaved, into the headroom
    row; nothing if there is no best cell or a run of either side failed."""
    best = best_channels_cell(session.run)
    if best is None:
        return
    plan = session.plan
    best_label = Cell(best.server, best.flavour, best.concurrency, best.payload).label

    def describe(side: _Side, index: int) -> str:
        return f"headroom run {index + 1}/{plan.headroom_runs}: {side.label}"

    def measure(side: _Side) -> LoadResult:
        return session.load(
            side.live,
            "headroom",
            {"server": side.live.name, "best_cell": best_label},
            side.path,
            connections=best.concurrency,
            payload=best.payload,
            duration_s=plan.duration_s,
            warmup_s=plan.warmup_s,
        )

    with (
        session.live_server(RAW_ECHO.name) as raw,
        session.live_server(best.server) as cell_live,
    ):
        sides = (_Side(raw, "", "raw echo"), _Side(cell_live, echo_path(best.flavour), best_label))
        done = interleave(
            session, sides, plan.headroom_runs, describe, measure, stop_at_first_failure=True
        )
    if done.failed:
        return
    baseline_results, best_results = done.results
    add_headroom(session.run, best_label, baseline_results, best_results)


def add_headroom(
    run: Run, best_label: str, baseline_results: list[LoadResult], best_results: list[LoadResult]
) -> None:
    """Add the headroom row from both sides' runs, and a note if the ratio is short."""
    rates = [r.rate for r in baseline_results]
    best_rates = [r.rate for r in best_results]
    baseline = stats.median(rates)
    best = stats.median(best_rates)
    interval = confidence.ratio_interval(rates, best_rates, paired=True)
    paired = round(interval.value, 2) if interval is not None else None
    ratio = paired if paired is not None else stats.ratio(baseline, best) or 0.0
    # The CPU of the run that gave the median figure, not of another run.
    middle = sorted(baseline_results, key=lambda r: r.rate)[len(baseline_results) // 2]
    capacity = stats.median([r.rate / max(r.generator_cpu, 1e-9) for r in baseline_results])
    capacity_ratio = stats.ratio(capacity, best)
    run.add(
        HeadroomRow(
            generator=GENERATOR_NAME,
            generator_processes=baseline_results[0].processes,
            baseline=RAW_ECHO.name,
            baseline_msgs_per_s=round(baseline, 1),
            baseline_msgs_per_s_runs=[round(rate, 1) for rate in rates],
            baseline_spread_pct=stats.spread_pct(rates),
            best_channels_msgs_per_s=round(best, 1),
            best_channels_msgs_per_s_runs=[round(rate, 1) for rate in best_rates],
            best_cell=best_label,
            ratio=ratio,
            generator_cpu=round(middle.generator_cpu, 3),
            generator_demand=round(middle.generator_demand, 3),
            generator_msgs_per_cpu_s=round(capacity, 1),
            capacity_ratio=capacity_ratio,
            target=HEADROOM_TARGET,
            ok=ratio >= HEADROOM_TARGET,
            ratio_ci95=interval.as_list(2) if interval is not None and interval.is_ci else None,
            ratio_interval=interval.kind if interval is not None else None,
        )
    )
    if ratio < HEADROOM_TARGET:
        run.note(_short_headroom_note(ratio, middle, capacity, capacity_ratio))


def _short_headroom_note(
    ratio: float, middle: LoadResult, capacity: float, capacity_ratio: float | None
) -> str:
    """Why the ratio is under the target: whether the generator was saturated in
    the baseline's median run, and the generator's own capacity."""
    cpu = middle.generator_cpu
    demand = middle.generator_demand
    limit = (
        "the generator was saturated"
        if demand >= cpu_module.SATURATED_CPU
        else "the generator was not saturated, so the raw echo server on the "
        "(shared) server core was the limit"
    )
    return (
        f"Headroom ratio {ratio} is below {HEADROOM_TARGET}: the raw echo baseline's "
        f"median run reached {middle.rate:.0f} msgs/s with the generator at "
        f"{cpu:.0%} of a core "
        f"(CPU used plus waited for: {demand:.0%}); {limit}. The generator's own "
        f"capacity, {capacity:.0f} msgs per CPU-second, is {capacity_ratio}x the "
        "best Channels cell."
    )
