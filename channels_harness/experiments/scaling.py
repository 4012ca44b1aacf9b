"""Echo throughput against the number of server processes, on the Redis layer.

For each server, process count (1, 2, 4) and pinning, a
:class:`~channels_harness.servers.fleet.Fleet` runs with the app on the Redis
channel layer (what a multi-process deployment needs for groups), and the
closed loop measures the echo of each flavour with the connections spread over
the fleet's sockets (:mod:`channels_harness.generators.engine.spread`; the same
number of generator processes for every process count, so the generator's own
cost does not change with it).

Two pinnings, for a machine of few cores (the reference machine has 2):

- ``server core``: every server process on the server core, the generator on
  the other one. More processes on one core can only share that core, so
  this shows the cost (or the gain, when one process cannot use its core) of
  running N processes rather than one;
- ``unpinned``: servers and generator float over every core, the situation of
  a real deployment, where extra processes may take the generator's core.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from channels_harness.errors import RunError
from channels_harness.generators.engine import LoadConfig
from channels_harness.generators.engine.spread import run_spread, spread
from channels_harness.report.model import Run
from channels_harness.report.rows import ScalingRow
from channels_harness.runtime import pinning, stats
from channels_harness.runtime.loopback import LOOPBACK, check_target
from channels_harness.servers.fleet import Fleet
from channels_harness.servers.redis import layer_env, redis_for
from channels_harness.servers.reference import echo_path
from channels_harness.servers.registry import get_spec

PINNINGS = ("server core", "unpinned")


@dataclass(frozen=True)
class ScalingPlan:
    """Which fleets to measure, and how."""

    servers: Sequence[str] = ("daphne", "uvicorn", "hypercorn")
    flavours: Sequence[str] = ("async", "sync")
    processes: Sequence[int] = (1, 2, 4)
    pinnings: Sequence[str] = PINNINGS
    layer: str = "redis"
    redis_url: str | None = None
    connections: int = 64
    generator_processes: int = 4
    duration_s: float = 3.0
    warmup_s: float = 0.5
    runs: int = 2
    host: str = LOOPBACK
    allow_remote: bool = False


def _cpus(mode: str) -> tuple[frozenset[int] | None, frozenset[int] | None]:
    """(server cores, generator cores) for a pinning mode."""
    if mode == "unpinned":
        return None, None
    cores = pinning.choose()
    return cores.server, cores.generator


def measure(fleet: Fleet, flavour: str, plan: ScalingPlan, cpus: frozenset[int] | None) -> Any:
    """One closed-loop run of the echo of ``flavour`` over every socket of ``fleet``."""
    urls = [check_target(url, plan.allow_remote) for url in fleet.urls(echo_path(flavour))]
    base = LoadConfig(
        url=urls[0],
        mode="closed",
        connections=plan.connections,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
    )
    return run_spread(spread(base, urls, plan.generator_processes), cpus)


def _row(
    fleet: Fleet, flavour: str, mode: str, plan: ScalingPlan, results: list[Any]
) -> ScalingRow:
    rates = [r.rate for r in results]
    summary = stats.summarize(stats.combine(r.histogram for r in results))
    server_cpus = sorted(fleet.cpus) if fleet.cpus else "all"
    return ScalingRow(
        server=fleet.spec.name,
        layer=plan.layer,
        processes=fleet.processes,
        flavour=flavour,
        pinning=mode,
        msgs_per_s=round(stats.median(rates), 1),
        spread_pct=stats.spread_pct(rates),
        p50_ms=summary.p50_ms,
        p99_ms=summary.p99_ms,
        errors=sum(r.errors for r in results),
        runs=len(results),
        connections=plan.connections,
        generator_processes=results[0].processes,
        generator_cpu=round(max(r.generator_cpu for r in results), 3),
        generator_bound=any(r.generator_bound for r in results),
        server_cpus=server_cpus,
    )


def run_scaling(
    run: Run, plan: ScalingPlan, progress: Callable[[str], None] | None = None
) -> list[ScalingRow]:
    """Measure every fleet of ``plan`` into ``run``'s ``scaling`` section; return the rows."""
    say = progress or (lambda text: None)
    pinned_server, pinned_generator = _cpus("server core")
    run.note(
        f"Scaling: closed-loop echo, {plan.connections} connections from "
        f"{plan.generator_processes} generator processes spread over the server processes' "
        f"sockets, app on the {plan.layer} layer. Pinning 'server core': every server process "
        f"on core(s) {sorted(pinned_server or ()) or 'all'}, generator on "
        f"{sorted(pinned_generator or ()) or 'all'}, so N processes share one core and the "
        "table shows what more processes cost or gain on that core; 'unpinned': servers and "
        "generator share both cores, as a real 2-core deployment would (more server "
        "processes then also compete with the generator)."
    )
    rows: list[ScalingRow] = []
    with redis_for(plan.layer, plan.redis_url) as redis_url:
        env = layer_env(plan.layer, redis_url)
        for mode, name, count in itertools.product(plan.pinnings, plan.servers, plan.processes):
            server_cpus, generator_cpus = _cpus(mode)
            fleet = Fleet(get_spec(name), count, env, server_cpus, plan.host)
            try:
                with fleet:
                    for member in fleet.members:
                        run.record_server(member.info())
                    for flavour in plan.flavours:
                        say(f"scaling {name} x{count} {flavour} ({mode})")
                        results = [
                            measure(fleet, flavour, plan, generator_cpus) for _ in range(plan.runs)
                        ]
                        row = _row(fleet, flavour, mode, plan, results)
                        run.add(row)
                        rows.append(row)
            except RunError as exc:
                cell = {"server": name, "processes": count, "pinning": mode}
                run.fail("scaling", cell, str(exc), fleet.log_tail())
    for text in growth_notes(rows):
        run.note(text)
    return rows


def growth_notes(rows: list[ScalingRow]) -> list[str]:
    """Per pinning, server and flavour: msgs/s with N processes over msgs/s with 1."""
    one = {(r.pinning, r.server, r.flavour): r.msgs_per_s for r in rows if r.processes == 1}
    parts: dict[str, list[str]] = {}
    for row in rows:
        key = (row.pinning, row.server, row.flavour)
        if row.processes == 1 or key not in one:
            continue
        ratio = stats.ratio(row.msgs_per_s, one[key])
        if ratio is not None:
            parts.setdefault(row.pinning, []).append(
                f"{row.server} {row.flavour} x{row.processes}: {ratio}x"
            )
    return [
        f"Scaling ({mode}): msgs/s with N server processes over 1 process: " + "; ".join(items)
        for mode, items in parts.items()
    ]
