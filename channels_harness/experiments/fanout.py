"""The fan-out benchmark: group broadcasts through each channel layer.

For every layer (in-memory, Redis, Redis pub/sub), server and consumer flavour
one server runs on the server core with the app pointed at that layer; for
each group size the generator (:mod:`channels_harness.generators.engine.fanout`, one
process on the generator core) joins that many members to a fresh room, one
of them broadcasts ``messages`` timestamped messages, and every member times
each delivery. Rows go into the run's ``fanout`` section; the Redis layers'
cost against the in-memory layer, for the same cells, goes into a note.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from channels_harness.errors import GeneratorError, RunError
from channels_harness.generators.engine import raise_nofile_limit
from channels_harness.generators.engine.fanout import FanoutConfig, FanoutOutcome
from channels_harness.generators.launcher import run_generator
from channels_harness.report.model import Run
from channels_harness.report.rows import FanoutRow
from channels_harness.runtime import cpu, pinning, stats
from channels_harness.runtime.loopback import LOOPBACK, check_target
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.redis import layer_env, redis_for
from channels_harness.servers.reference import room_path
from channels_harness.servers.registry import FOCUS_SERVERS, get_spec

GENERATOR_MODULE = "channels_harness.generators.engine.fanout"
# Broadcasts per group size: members x messages stays around 10,000 deliveries.
DEFAULT_MESSAGES = {1: 200, 10: 200, 100: 50, 1000: 10}
_rooms = itertools.count()


@dataclass(frozen=True)
class FanoutPlan:
    """Which cells to measure and how much."""

    layers: Sequence[str] = ("memory", "redis", "redis-pubsub")
    servers: Sequence[str] = FOCUS_SERVERS
    flavours: Sequence[str] = ("sync", "async")
    group_sizes: Sequence[int] = (1, 10, 100, 1000)
    messages: dict[int, int] | None = None
    runs: int = 2
    window: int = 4
    duration_s: float = 30.0
    host: str = LOOPBACK
    allow_remote: bool = False
    redis_url: str | None = None

    def messages_for(self, size: int) -> int:
        table = self.messages or DEFAULT_MESSAGES
        return table.get(size, max(5, 10_000 // max(size, 1)))


Progress = Callable[[str], None]


def measure_once(
    url: str, size: int, messages: int, plan: FanoutPlan, cpus: frozenset[int] | None
) -> FanoutOutcome:
    """One generator run against the room at ``url`` (a fresh room name each time)."""
    check_target(url, plan.allow_remote)
    config = FanoutConfig(
        url=url,
        group_size=size,
        messages=messages,
        window=plan.window,
        duration_s=plan.duration_s,
    )
    timeout = scaled(config.connect_timeout_s * 2 + config.duration_s + config.drain_s * 2 + 20)
    result = run_generator(GENERATOR_MODULE, config.to_json(), cpus, timeout)
    return FanoutOutcome.from_json(result)


def summarize(layer: str, server: str, flavour: str, outcomes: list[FanoutOutcome]) -> FanoutRow:
    """One ``fanout`` row from repeated runs: median rate, merged latency, lost summed."""
    rates = [o.deliveries_per_s for o in outcomes]
    summary = stats.summarize(stats.merge(o.histogram for o in outcomes))
    busiest = max((o.cpu + o.cpu_wait for o in outcomes), default=0.0)
    return FanoutRow(
        layer=layer,
        server=server,
        flavour=flavour,
        group_size=outcomes[0].group_size,
        messages=outcomes[0].messages,
        deliveries_per_s=round(stats.median(rates), 1),
        spread_pct=stats.spread_pct(rates),
        p50_ms=summary.p50_ms,
        p99_ms=summary.p99_ms,
        max_ms=summary.max_ms,
        delivered=sum(o.delivered for o in outcomes),
        lost=sum(o.lost for o in outcomes),
        errors=sum(o.errors for o in outcomes),
        runs=len(outcomes),
        generator_cpu=round(max(o.cpu for o in outcomes), 3),
        generator_bound=cpu.generator_bound(busiest),
    )


def _cell_rows(
    run: Run,
    server: ServerProcess,
    layer: str,
    flavour: str,
    plan: FanoutPlan,
    cpus: frozenset[int] | None,
    progress: Progress,
) -> list[FanoutRow]:
    rows: list[FanoutRow] = []
    for size in plan.group_sizes:
        messages = plan.messages_for(size)
        cell = {"layer": layer, "server": server.spec.name, "flavour": flavour, "group_size": size}
        progress(f"fanout {layer} {server.spec.name} {flavour} x{size}")
        outcomes = []
        try:
            for _ in range(plan.runs):
                url = server.ws_url(room_path(f"fan{next(_rooms)}", flavour))
                outcome = measure_once(url, size, messages, plan, cpus)
                if outcome.connected < size:
                    raise GeneratorError(
                        f"only {outcome.connected} of {size} members joined: "
                        f"{'; '.join(outcome.error_samples)}"
                    )
                outcomes.append(outcome)
        except RunError as exc:
            run.fail("fanout", cell, str(exc), server.log_tail())
            if not server.running:
                return rows
            continue
        row = summarize(layer, server.spec.name, flavour, outcomes)
        run.add(row)
        rows.append(row)
    return rows


def run_fanout(run: Run, plan: FanoutPlan, progress: Progress | None = None) -> list[FanoutRow]:
    """Measure every cell of ``plan`` into ``run``; return the rows.

    A server that fails to start, or dies, fails its cells (with its log tail)
    and the run goes on with the next.
    """
    say: Progress = progress or (lambda text: None)
    cores = pinning.choose()
    raise_nofile_limit(max(plan.group_sizes, default=1) * 2 + 1024)
    run.note(
        "Fan-out: "
        + (
            f"server on core(s) {sorted(cores.server or ())}, generator on core(s) "
            f"{sorted(cores.generator or ())}"
            if cores.pinned
            else "server and generator share the cores (fewer than 2 usable)"
        )
        + f"; at most {plan.window} broadcasts in flight; latency from the sender's "
        "timestamp to each member's receipt, both on the generator's clock."
    )
    rows: list[FanoutRow] = []
    for layer in plan.layers:
        with redis_for(layer, plan.redis_url) as redis_url:
            env = layer_env(layer, redis_url)
            for name, flavour in itertools.product(plan.servers, plan.flavours):
                cell = {"layer": layer, "server": name, "flavour": flavour}
                try:
                    with ServerProcess(
                        get_spec(name), env=env, cpus=cores.server, host=plan.host
                    ) as server:
                        run.record_server(server.info())
                        rows += _cell_rows(run, server, layer, flavour, plan, cores.generator, say)
                except RunError as exc:
                    run.fail("fanout", cell, str(exc))
    for text in redis_cost_notes(rows):
        run.note(text)
    return rows


def redis_cost_notes(rows: list[FanoutRow]) -> list[str]:
    """For each Redis layer: in-memory deliveries/s over that layer's, per cell, in one line."""
    memory = {
        (r.server, r.flavour, r.group_size): r.deliveries_per_s for r in rows if r.layer == "memory"
    }
    notes = []
    for layer in ("redis", "redis-pubsub"):
        parts = []
        for row in rows:
            key = (row.server, row.flavour, row.group_size)
            if row.layer != layer or key not in memory:
                continue
            ratio = stats.ratio(memory[key], row.deliveries_per_s)
            if ratio is not None:
                parts.append(f"{key[0]} {key[1]} x{key[2]}: {ratio}x")
        if parts:
            notes.append(
                f"Fan-out cost of the {layer} layer (in-memory deliveries/s divided by "
                f"{layer}'s, same server, flavour and group size): " + "; ".join(parts)
            )
    return notes
