"""The benchmark for your own app (``--app``) or running server (``--url``).

The reference matrix's Sync vs Async does not exist in someone else's app:
what is measured is one WebSocket path (``--path``) with the user's messages,
per server the harness starts (or once for ``--url``):

- throughput: the closed loop, ``connections`` clients each sending the next
  message as soon as the reply came, ``runs`` times; the median msgs/s with
  its interval (the range of the runs below 6 runs), unstable when that
  reaches further than 5% from the median, the server's CPU per message and
  the noise of each window (:class:`~.bench.figures.Figures`), and the merged
  latency percentiles (a :class:`ThroughputRow`, scenario ``app``, flavour =
  the path, which the report shows as ``path``; its own series: the servers
  are measured one after another, so their runs never pair up);
- latency: the open loop at :data:`LATENCY_SHARE` of that peak, latency from
  the intended send time (a :class:`LatencyRow`, scenario ``app``);
- handshakes: connect (with the handshake options), get accepted, close, as
  fast as the server allows (a :class:`HandshakeRow`, scenario ``app``).

Before each server is loaded, :meth:`~channels_harness.experiments.target.Target.prepare`
makes one round trip, so a refused handshake or a reply that never comes is
one clear error. A cell that fails later is recorded with :meth:`Run.fail`.
For ``--url`` nothing about the server process is measured (see
:class:`~channels_harness.servers.remote.RemoteServer`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from channels_harness.errors import RunError
from channels_harness.experiments.bench import window
from channels_harness.experiments.bench.figures import Figures
from channels_harness.experiments.bench.latency import latency_row
from channels_harness.experiments.target import Server, Target
from channels_harness.generators.engine import GENERATOR_NAME, LoadConfig, LoadResult, run_load
from channels_harness.protocol.traffic import Traffic
from channels_harness.report.model import Run
from channels_harness.report.rows import HandshakeRow, ThroughputRow
from channels_harness.runtime import pinning, stats
from channels_harness.runtime.confidence import TARGET_HALF_WIDTH_PCT

LATENCY_SHARE = 0.5
SCENARIO = "app"

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class AppBenchPlan:
    """How long and how hard each section loads the target."""

    servers: tuple[str, ...] = ("daphne", "uvicorn")
    connections: int = 50
    runs: int = 3
    duration_s: float = 2.0
    # The closed loop's windows grow up to this for slow replies (bench.window).
    max_duration_s: float = 20.0
    warmup_s: float = 0.5
    latency_duration_s: float = 2.0
    handshake_concurrency: int = 10
    handshake_duration_s: float = 1.5
    generator_processes: int = 1

    @property
    def steps(self) -> int:
        """Progress steps per server: the sizing window, the throughput runs, latency,
        handshakes."""
        return 1 + self.runs + 2


# The smallest settings: about 10 s per server.
QUICK = AppBenchPlan(
    runs=2,
    duration_s=1.0,
    max_duration_s=3.0,
    warmup_s=0.3,
    latency_duration_s=1.0,
    handshake_duration_s=1.0,
)


class CellFailed(Exception):
    """A cell could not be measured; already recorded with :meth:`Run.fail`."""


@dataclass
class _Bench:
    run: Run
    plan: AppBenchPlan
    target: Target
    progress: Progress | None
    pins: pinning.Pinning = field(default_factory=pinning.choose)
    done: int = 0
    total: int = 0

    def step(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text, self.done, self.total)
        self.done += 1

    def load(
        self, server: Server, name: str, section: str, traffic: Traffic, **options: Any
    ) -> LoadResult:
        """One load of the target on ``server``; a failure recorded and CellFailed raised."""
        cell = {"server": name, "path": self.target.label, **options}
        try:
            pids = [process.pid for process in server.processes()]
            result = run_load(
                LoadConfig(
                    url=self.target.ws_url(server), traffic=traffic, server_pids=pids, **options
                ),
                self.plan.generator_processes,
                self.pins.generator,
            )
        except (RunError, OSError) as exc:
            self.run.fail(section, cell, f"{type(exc).__name__}: {exc}", server.log_tail())
            raise CellFailed from exc
        if not server.running:
            self.run.fail(section, cell, "the server exited during the run", server.log_tail())
            raise CellFailed
        if result.measured == 0:
            why = "; ".join(result.error_samples) or "no reply in the window"
            self.run.fail(section, cell, f"nothing measured: {why}", server.log_tail())
            raise CellFailed
        return result


def run_app_bench(
    run: Run, target: Target, plan: AppBenchPlan, progress: Progress | None = None
) -> None:
    """Measure ``target`` with ``plan`` into ``run`` (see the module doc)."""
    bench = _Bench(run, plan, target, progress)
    names = ("url",) if target.url is not None else plan.servers
    bench.total = len(names) * plan.steps
    run.note(
        f"Your app: {target.label} with {len(target.traffic.messages) or 'echo'} message(s); "
        f"closed loop at {plan.connections} connections ({plan.runs} runs of "
        f"{plan.duration_s:g} s), open loop at {LATENCY_SHARE:.0%} of that peak, "
        f"handshakes from {plan.handshake_concurrency} clients. A round trip ends at the "
        "next message the server sends on the connection."
    )
    for name in names:
        with _server(bench, name) as server:
            traffic = target.prepare(server)
            _measure(bench, server, name, traffic)


@contextmanager
def _server(bench: _Bench, name: str) -> Iterator[Server]:
    """The running server ``name`` (or the ``--url`` one), recorded in the run."""
    target = bench.target
    if target.url is not None:
        remote = target.remote()
        bench.run.record_server(remote.info())
        yield remote
        return
    with target.server(name, cpus=bench.pins.server) as server:
        bench.run.record_server(server.info())
        yield server


def _measure(bench: _Bench, server: Server, name: str, traffic: Traffic) -> None:
    """Throughput, then latency at a share of its peak, then handshakes."""
    peak = None
    with suppress(CellFailed):
        peak = _throughput(bench, server, name, traffic)
    if peak:
        with suppress(CellFailed):
            _latency(bench, server, name, traffic, peak)
    with suppress(CellFailed):
        _handshakes(bench, server, name, traffic)


def _throughput(bench: _Bench, server: Server, name: str, traffic: Traffic) -> float:
    plan = bench.plan
    bench.step(f"{name} {bench.target.label} sizing the closed loop's window")
    sizing = bench.load(
        server,
        name,
        "throughput",
        traffic,
        connections=plan.connections,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
    )
    sized = window.fitted(
        plan.duration_s,
        plan.max_duration_s,
        plan.duration_s,
        sizing.measured,
        1,
        plan.connections,
    )
    bench.run.note(f"{name} closed loop: {sized.describe()}.")
    results = []
    for index in range(plan.runs):
        bench.step(f"{name} {bench.target.label} closed loop run {index + 1}/{plan.runs}")
        results.append(
            bench.load(
                server,
                name,
                "throughput",
                traffic,
                connections=plan.connections,
                duration_s=sized.seconds,
                warmup_s=plan.warmup_s,
            )
        )
    bench.run.add(throughput_row(bench, name, results))
    unsolicited = sum(r.unsolicited for r in results)
    if unsolicited:
        bench.run.note(
            f"{name}: {unsolicited} message(s) arrived while no message of ours waited for a "
            "reply (a room broadcasting to several connections); they were not counted"
        )
    return stats.median([r.rate for r in results])


def throughput_row(bench: _Bench, name: str, results: list[LoadResult]) -> ThroughputRow:
    """The closed-loop row of server ``name`` from its runs (see the module doc)."""
    plan = bench.plan
    figures = Figures.measure(results, bench.pins, TARGET_HALF_WIDTH_PCT)
    summary = stats.summarize(stats.combine(r.histogram for r in results))
    return ThroughputRow(
        scenario=SCENARIO,
        server=name,
        flavour=bench.target.label,
        concurrency=plan.connections,
        payload="app",
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
        server_cpus=sorted(bench.pins.server) if bench.pins.server else None,
        generator_cpus=sorted(bench.pins.generator) if bench.pins.generator else None,
        ci95=figures.ci95,
        p99_ms_runs=[r.summary.p99_ms for r in results],
        series=f"{SCENARIO} {name} c={plan.connections}",
        unstable=figures.unstable,
        server_cpu_us_per_msg=figures.server_cpu_us,
        server_cpu_us_per_msg_runs=figures.server_cpu_us_runs,
        noise=figures.noise,
    )


def _latency(bench: _Bench, server: Server, name: str, traffic: Traffic, peak: float) -> None:
    plan = bench.plan
    bench.step(f"{name} {bench.target.label} open loop at {LATENCY_SHARE:.0%} of peak")
    rate = max(1.0, round(peak * LATENCY_SHARE))
    result = bench.load(
        server,
        name,
        "latency",
        traffic,
        mode="open",
        rate=rate,
        connections=plan.connections,
        duration_s=plan.latency_duration_s,
        warmup_s=plan.warmup_s,
    )
    bench.run.add(
        latency_row(
            name, bench.target.label, plan.connections, LATENCY_SHARE, rate, result, SCENARIO
        )
    )


def _handshakes(bench: _Bench, server: Server, name: str, traffic: Traffic) -> None:
    plan = bench.plan
    bench.step(f"{name} {bench.target.label} handshakes")
    result = bench.load(
        server,
        name,
        "handshake",
        traffic,
        mode="handshake",
        connections=plan.handshake_concurrency,
        duration_s=plan.handshake_duration_s,
    )
    summary = result.summary
    figures = Figures.measure([result], bench.pins, TARGET_HALF_WIDTH_PCT)
    bench.run.add(
        HandshakeRow(
            scenario=SCENARIO,
            server=name,
            flavour=bench.target.label,
            concurrency=plan.handshake_concurrency,
            handshakes_per_s=round(result.rate, 1),
            handshakes_per_s_runs=[round(result.rate, 1)],
            p50_ms=summary.p50_ms,
            p99_ms=summary.p99_ms,
            runs=1,
            errors=result.errors,
            sent=result.sent,
            generator_cpu=round(result.generator_cpu, 3),
            generator_bound=result.generator_bound,
            series=f"{SCENARIO} handshake {name}",
            server_cpu_us_per_handshake=figures.server_cpu_us,
            noise=figures.noise,
        )
    )
