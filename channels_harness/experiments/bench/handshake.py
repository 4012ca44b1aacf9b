"""Handshake rate: one :class:`HandshakeRow` per server, handshake flavour and
transport (plain, and TLS where the plan asks for it).

Connect, accept and close as fast as the server allows, from a fixed number
of concurrent clients; over TLS every cycle includes the TLS handshake. A
server's flavours and transports are measured in interleaved rounds until
their 95% confidence intervals are narrow enough or the budget is spent
(:func:`.interleave.repeat_until_settled`); the figure is the median of the
runs.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import NamedTuple

from channels_harness.experiments.bench.figures import Figures, settled
from channels_harness.experiments.bench.interleave import repeat_until_settled
from channels_harness.experiments.bench.plan import BenchPlan
from channels_harness.experiments.bench.session import BenchSession, LiveServer
from channels_harness.generators.engine import LoadResult
from channels_harness.report.rows import HandshakeRow
from channels_harness.runtime import stats
from channels_harness.servers.reference import echo_path


class _Member(NamedTuple):
    """One handshake measurement: a flavour's endpoint on a plain or TLS server."""

    flavour: str
    tls: bool

    @property
    def label(self) -> str:
        return f"{self.flavour} TLS" if self.tls else self.flavour


def step_count(plan: BenchPlan) -> int:
    """Progress steps: one per run of every server's handshake measurements, at
    the most runs the plan allows."""
    members = sum(len(plan.handshake_members(name)) for name in plan.servers)
    return members * plan.handshake_max_runs


def measure_handshakes(session: BenchSession, live: LiveServer) -> None:
    """The handshake rate of every handshake flavour on ``live`` (and on a TLS
    instance of its server when the plan measures TLS handshakes)."""
    plan = session.plan
    members = [_Member(flavour, tls) for flavour, tls in plan.handshake_members(live.name)]
    with ExitStack() as servers:
        lives = {False: live}
        if any(member.tls for member in members):
            lives[True] = servers.enter_context(session.live_server(live.name, tls=True))

        def describe(member: _Member, index: int) -> str:
            return f"{live.name} {member.label} handshakes {plan.handshake_rounds.describe(index)}"

        def measure(member: _Member) -> LoadResult:
            return session.load(
                lives[member.tls],
                "handshake",
                {"server": live.name, "flavour": member.flavour, "tls": member.tls},
                echo_path(member.flavour),
                mode="handshake",
                connections=plan.handshake_concurrency,
                duration_s=plan.handshake_duration_s,
            )

        done = repeat_until_settled(
            session,
            members,
            plan.handshake_rounds,
            describe,
            measure,
            lambda runs: settled(runs, plan.target_ci_pct),
        )
    session.run.extend(
        [
            handshake_row(session, live.name, member.flavour, member.tls, results)
            for member, results in done.measured()
        ]
    )


def handshake_row(
    session: BenchSession, server: str, flavour: str, tls: bool, results: list[LoadResult]
) -> HandshakeRow:
    """The row of one flavour and transport from its runs: median rate and its
    interval, merged percentiles, the server's CPU per handshake, the noise."""
    figures = Figures.of(session, results)
    merged = stats.summarize(stats.combine(r.histogram for r in results))
    return HandshakeRow(
        server=server,
        flavour=flavour,
        concurrency=session.plan.handshake_concurrency,
        handshakes_per_s=figures.rate,
        handshakes_per_s_runs=figures.rates,
        ci95=figures.ci95,
        p50_ms=merged.p50_ms,
        p99_ms=merged.p99_ms,
        runs=len(results),
        spread_pct=stats.spread_pct(figures.rates),
        errors=sum(r.errors for r in results),
        sent=sum(r.sent for r in results),
        generator_cpu=round(max(r.generator_cpu for r in results), 3),
        generator_bound=any(r.generator_bound for r in results),
        series=f"handshake {server}",
        unstable=figures.unstable,
        tls=tls,
        server_cpu_us_per_handshake=figures.server_cpu_us,
        noise=figures.noise,
    )
