"""``bench --scenario-file``: a scenario file measured by the engine, per server.

For the reference app, ``--app`` (under each of the plan's servers) or ``--url``
(once), every server started first and checked with one round of the
scenario (:meth:`~channels_harness.experiments.target.Target.prepare`):

- throughput: the closed loop (:mod:`~channels_harness.generators.engine.scenario_loops`),
  ``connections`` clients each running the steps in order, the servers'
  runs interleaved round by round until every step's 95% confidence interval
  is narrow enough or the budget is spent (the shared
  :func:`~channels_harness.experiments.bench.interleave.repeat_until_settled`
  and :class:`~channels_harness.experiments.bench.figures.Figures`). One
  :class:`ThroughputRow` per server and step name: the step's completions per
  second (median of the runs, its interval, unstable flag, the server's CPU
  per completion, the noise), its latency percentiles, push latency, errors,
  and the cell's frames no step could use, by kind;
- latency: the open loop at :data:`LATENCY_SHARE` of the server's closed-loop
  peak (steps begun per second, all steps together), latency from the intended
  begin time; one :class:`LatencyRow` per step (none for a scenario whose
  steps only wait for pushes: a send rate means nothing there);
- handshakes: connect, the connect steps, close, as fast as the server
  allows, interleaved like throughput; one :class:`HandshakeRow` per server.

A cell that fails (the server died, nothing could connect, nothing was
measured) is recorded with :meth:`Run.fail` and its server drops out of the
later rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

from channels_harness.errors import RunError
from channels_harness.experiments.bench import window
from channels_harness.experiments.bench.figures import Figures, settled
from channels_harness.experiments.bench.interleave import repeat_until_settled
from channels_harness.experiments.bench.plan import BenchPlan, Rounds
from channels_harness.experiments.bench.session import BenchSession, CellFailed
from channels_harness.experiments.bench.window import Window
from channels_harness.experiments.target import Server, Target
from channels_harness.generators.engine import GENERATOR_NAME, LoadConfig, LoadResult, run_load
from channels_harness.protocol.scenario import Scenario
from channels_harness.protocol.traffic import Traffic
from channels_harness.report.model import Run
from channels_harness.report.rows import HandshakeRow, LatencyRow, ThroughputRow
from channels_harness.runtime import stats

LATENCY_SHARE = 0.5
PAYLOAD = "scenario"

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ScenarioBenchPlan:
    """How long and how hard each section loads the target."""

    servers: tuple[str, ...] = ("daphne", "uvicorn")
    connections: int = 50
    rounds: Rounds = field(default_factory=lambda: Rounds(5, 10))
    duration_s: float = 2.0
    # The closed loop's windows grow up to this for slow rounds (bench.window).
    max_duration_s: float = 20.0
    warmup_s: float = 0.5
    latency_duration_s: float = 2.0
    handshake_concurrency: int = 10
    handshake_duration_s: float = 1.5
    handshake_rounds: Rounds = field(default_factory=lambda: Rounds(3, 5))
    generator_processes: int = 1

    def describe(self) -> dict[str, Any]:
        """The plan as a run's options record it."""
        return {
            "servers": list(self.servers),
            "connections": self.connections,
            "runs": self.rounds.minimum,
            "max_runs": self.rounds.maximum,
            "duration_s": self.duration_s,
            "max_duration_s": self.max_duration_s,
            "warmup_s": self.warmup_s,
            "latency_duration_s": self.latency_duration_s,
            "latency_share": LATENCY_SHARE,
            "handshake_concurrency": self.handshake_concurrency,
            "handshake_duration_s": self.handshake_duration_s,
            "handshake_runs": self.handshake_rounds.minimum,
            "generator_processes": self.generator_processes,
        }

    def steps(self, members: int) -> int:
        """Progress steps for ``members`` servers: the sizing window, every run at most,
        latency, handshakes."""
        return members * (1 + self.rounds.maximum + 1 + self.handshake_rounds.maximum)


# The smallest settings that still give an interval: about a minute for two servers.
QUICK = ScenarioBenchPlan(
    rounds=Rounds(5, 6),
    duration_s=1.0,
    max_duration_s=3.0,
    warmup_s=0.3,
    latency_duration_s=1.0,
    handshake_duration_s=1.0,
    handshake_rounds=Rounds(3, 3),
)


@dataclass
class _Member:
    """One server under the scenario, with the traffic its first round proved."""

    name: str
    server: Server
    traffic: Traffic
    peak: float = 0.0


@dataclass
class _Bench:
    session: BenchSession
    plan: ScenarioBenchPlan
    target: Target
    scenario: Scenario
    members: list[_Member] = field(default_factory=list)

    @property
    def run(self) -> Run:
        return self.session.run

    def load(self, member: _Member, section: str, **options: Any) -> LoadResult:
        """One load of ``member``'s server; a failure recorded and CellFailed raised."""
        cell = {"server": member.name, "path": self.target.label, "scenario": self.scenario.name}
        server = member.server
        try:
            config = LoadConfig(
                url=self.target.ws_url(server),
                traffic=member.traffic,
                scenario=self.scenario,
                server_pids=[process.pid for process in server.processes()],
                **options,
            )
            result = run_load(config, self.plan.generator_processes, self.session.pins.generator)
        except (RunError, OSError) as exc:
            self._fail(section, cell, f"{type(exc).__name__}: {exc}", member)
        if not server.running:
            self._fail(section, cell, "the server exited during the run", member)
        if result.measured == 0:
            why = "; ".join(result.error_samples) or "no step ended in the window"
            self._fail(section, cell, f"nothing measured: {why}", member)
        return result

    def _fail(self, section: str, cell: dict[str, Any], message: str, member: _Member) -> NoReturn:
        self.run.fail(section, cell, message, member.server.log_tail())
        raise CellFailed


def run_scenario_bench(
    run: Run,
    target: Target,
    plan: ScenarioBenchPlan,
    progress: Progress | None = None,
) -> None:
    """Measure ``target``'s scenario with ``plan`` into ``run`` (see the module doc)."""
    scenario = target.scenario
    assert scenario is not None
    names = ("url",) if target.url is not None else plan.servers
    bench_plan = BenchPlan(
        matrix="scenario",
        servers=tuple(names),
        flavours=(),
        cells=(),
        generator_processes=plan.generator_processes,
    )
    session = BenchSession(run, bench_plan, plan.steps(len(names)), progress)
    bench = _Bench(session, plan, target, scenario)
    run.note(
        f"Scenario {scenario.name!r} ({scenario.source}) on {target.label}: closed loop at "
        f"{plan.connections} connections, open loop at {LATENCY_SHARE:.0%} of each server's "
        f"peak, handshakes (with the connect steps) from {plan.handshake_concurrency} clients."
    )
    with ExitStack() as servers:
        for name in names:
            server = servers.enter_context(_server(bench, name))
            bench.members.append(_Member(name, server, target.prepare(server)))
        _throughput(bench)
        _latency(bench)
        _handshakes(bench)


@contextmanager
def _server(bench: _Bench, name: str) -> Iterator[Server]:
    """The running server ``name`` (or the ``--url`` one), recorded in the run."""
    target = bench.target
    if target.url is not None:
        remote = target.remote()
        bench.run.record_server(remote.info())
        yield remote
        return
    with target.server(name, cpus=bench.session.pins.server) as server:
        bench.run.record_server(server.info())
        yield server


def _series(bench: _Bench, kind: str) -> str:
    return f"{kind} {bench.scenario.name} {bench.target.label} c={bench.plan.connections}"


def _throughput(bench: _Bench) -> None:
    """Interleaved closed-loop rounds of every server until every step settled."""
    plan = bench.plan
    steps = bench.scenario.step_names

    sized = _size_window(bench)
    if sized is None:
        return
    window, members = sized

    def describe(member: _Member, index: int) -> str:
        return f"{member.name} {bench.scenario.name} closed loop {plan.rounds.describe(index)}"

    def measure(member: _Member) -> LoadResult:
        return bench.load(
            member,
            "throughput",
            connections=plan.connections,
            duration_s=window.seconds,
            warmup_s=plan.warmup_s,
        )

    def steady(runs: list[LoadResult]) -> bool:
        target_pct = bench.session.plan.target_ci_pct
        return all(settled([r.for_step(step) for r in runs], target_pct) for step in steps)

    done = repeat_until_settled(bench.session, members, plan.rounds, describe, measure, steady)
    for member, results in done.measured():
        member.peak = stats.median([r.rate for r in results])
        bench.run.extend([_throughput_row(bench, member, results, step) for step in steps])


def _size_window(bench: _Bench) -> tuple[Window, list[_Member]] | None:
    """One uncounted closed-loop window per server; the measured windows are then
    long enough for the slowest server's rounds (:mod:`~.bench.window`). Returns
    the window and the servers whose sizing load ran (None when none did: their
    failures are recorded)."""
    plan = bench.plan
    windows = []
    members = []
    for member in bench.members:
        with bench.session.step(f"{member.name} {bench.scenario.name} sizing the window"):
            try:
                result = bench.load(
                    member,
                    "throughput",
                    connections=plan.connections,
                    duration_s=plan.duration_s,
                    warmup_s=plan.warmup_s,
                )
            except CellFailed:
                continue
        members.append(member)
        windows.append(
            window.fitted(
                plan.duration_s,
                plan.max_duration_s,
                plan.duration_s,
                result.measured,
                len(bench.scenario.steps),
                plan.connections,
            )
        )
    if not windows:
        return None
    chosen = max(windows, key=lambda w: w.seconds)
    bench.run.note(f"Scenario closed loop: {chosen.describe()}.")
    return chosen, members


def _throughput_row(
    bench: _Bench, member: _Member, results: list[LoadResult], step: str
) -> ThroughputRow:
    """Step ``step``'s row from ``member``'s runs."""
    views = [r.for_step(step) for r in results]
    figures = Figures.of(bench.session, views)
    summary = stats.summarize(stats.combine(r.histogram for r in views))
    push = _push(results, step)
    return ThroughputRow(
        scenario=bench.scenario.name,
        step=step,
        server=member.name,
        flavour=bench.target.label,
        concurrency=bench.plan.connections,
        payload=PAYLOAD,
        mode="closed",
        generator=GENERATOR_NAME,
        generator_processes=results[0].processes,
        runs=len(results),
        msgs_per_s=figures.rate,
        msgs_per_s_runs=figures.rates,
        spread_pct=stats.spread_pct(figures.rates),
        ci95=figures.ci95,
        unstable=figures.unstable,
        series=_series(bench, "throughput"),
        p50_ms=summary.p50_ms,
        p90_ms=summary.p90_ms,
        p95_ms=summary.p95_ms,
        p99_ms=summary.p99_ms,
        p999_ms=summary.p999_ms,
        max_ms=summary.max_ms,
        p99_ms_runs=[r.summary.p99_ms for r in views],
        push_p50_ms=push.p50_ms if push else None,
        push_p99_ms=push.p99_ms if push else None,
        errors=sum(r.errors for r in views),
        sent=sum(r.sent for r in views),
        error_samples=_samples(views),
        other_frames=_other(results),
        generator_cpu=round(max(r.generator_cpu for r in results), 3),
        generator_demand=round(max(r.generator_demand for r in results), 3),
        generator_bound=any(r.generator_bound for r in results),
        server_cpus=bench.session.server_cpus,
        generator_cpus=bench.session.generator_cpus,
        server_cpu_us_per_msg=figures.server_cpu_us,
        server_cpu_us_per_msg_runs=figures.server_cpu_us_runs,
        noise=figures.noise,
    )


def _push(results: list[LoadResult], step: str) -> stats.LatencySummary | None:
    """Step ``step``'s push latency over every run (None when it measured none)."""
    encoded = [w.steps[step].push_histogram for r in results for w in r.workers if step in w.steps]
    return stats.summarize(stats.merge(encoded)) if any(encoded) else None


def _samples(results: list[LoadResult]) -> list[str]:
    return list(dict.fromkeys(s for r in results for s in r.error_samples))[:5]


def _other(results: list[LoadResult]) -> dict[str, int] | None:
    total: dict[str, int] = {}
    for result in results:
        for kind, count in result.other.items():
            total[kind] = total.get(kind, 0) + count
    return dict(sorted(total.items(), key=lambda item: -item[1])) or None


def _latency(bench: _Bench) -> None:
    """Each server's open loop at a share of its peak (a step row each)."""
    plan = bench.plan
    sends = any(not step.pushed for step in bench.scenario.steps)
    for member in bench.members:
        with bench.session.step(f"{member.name} {bench.scenario.name} open loop"):
            if not member.peak:
                continue
            if not sends:
                bench.run.note(
                    f"{member.name}: no open loop: scenario {bench.scenario.name!r} only waits "
                    "for pushes, so a send rate means nothing"
                )
                continue
            rate = max(1.0, round(member.peak * LATENCY_SHARE))
            try:
                result = bench.load(
                    member,
                    "latency",
                    mode="open",
                    rate=rate,
                    connections=plan.connections,
                    duration_s=plan.latency_duration_s,
                    warmup_s=plan.warmup_s,
                )
            except CellFailed:
                continue
            bench.run.extend(
                [_latency_row(bench, member, rate, result, step) for step in result.step_names]
            )


def _latency_row(
    bench: _Bench, member: _Member, rate: float, result: LoadResult, step: str
) -> LatencyRow:
    view = result.for_step(step)
    summary = view.summary
    push = _push([result], step)
    return LatencyRow(
        server=member.name,
        flavour=bench.target.label,
        connections=bench.plan.connections,
        share_of_peak=LATENCY_SHARE,
        target_rate=float(rate),
        achieved_rate=result.achieved_rate,
        p50_ms=summary.p50_ms,
        p90_ms=summary.p90_ms,
        p95_ms=summary.p95_ms,
        p99_ms=summary.p99_ms,
        p999_ms=summary.p999_ms,
        max_ms=summary.max_ms,
        errors=view.errors,
        sent=view.sent,
        generator_cpu=round(result.generator_cpu, 3),
        generator_bound=result.generator_bound,
        scenario=bench.scenario.name,
        step=step,
        push_p50_ms=push.p50_ms if push else None,
        push_p99_ms=push.p99_ms if push else None,
        other_frames=_other([result]),
        error_samples=view.error_samples,
    )


def _handshakes(bench: _Bench) -> None:
    """Interleaved handshake rounds (connect, connect steps, close) of every server."""
    plan = bench.plan

    def describe(member: _Member, index: int) -> str:
        return f"{member.name} handshakes {plan.handshake_rounds.describe(index)}"

    def measure(member: _Member) -> LoadResult:
        return bench.load(
            member,
            "handshake",
            mode="handshake",
            connections=plan.handshake_concurrency,
            duration_s=plan.handshake_duration_s,
        )

    target_pct = bench.session.plan.target_ci_pct
    done = repeat_until_settled(
        bench.session,
        bench.members,
        plan.handshake_rounds,
        describe,
        measure,
        lambda runs: settled(runs, target_pct),
    )
    for member, results in done.measured():
        figures = Figures.of(bench.session, results)
        merged = stats.summarize(stats.combine(r.histogram for r in results))
        bench.run.add(
            HandshakeRow(
                server=member.name,
                flavour=bench.target.label,
                scenario=bench.scenario.name,
                concurrency=plan.handshake_concurrency,
                handshakes_per_s=figures.rate,
                handshakes_per_s_runs=figures.rates,
                ci95=figures.ci95,
                p50_ms=merged.p50_ms,
                p99_ms=merged.p99_ms,
                runs=len(results),
                spread_pct=stats.spread_pct(figures.rates),
                errors=sum(r.errors for r in results),
                sent=sum(r.sent for r in results),
                error_samples=_samples(results),
                generator_cpu=round(max(r.generator_cpu for r in results), 3),
                generator_bound=any(r.generator_bound for r in results),
                series=_series(bench, "handshake"),
                unstable=figures.unstable,
                server_cpu_us_per_handshake=figures.server_cpu_us,
                noise=figures.noise,
            )
        )
