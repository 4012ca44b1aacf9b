"""The capacity run: burst acceptance and the paced climb for every server of a plan.

For each server: a fresh server takes the bursts (:mod:`.burst`), then
another fresh one is climbed to its limit (:mod:`.climb`). Before any server
starts, the harness raises its open-file limit (the servers inherit it) so
that descriptors are the server's limit only when the machine allows no
more. Servers run on the server core, the capacity generator on the
generator core; the Redis layer (when chosen) gets its own redis-server.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

from channels_harness.errors import RunError
from channels_harness.experiments.capacity import kernel
from channels_harness.experiments.capacity.burst import bursts
from channels_harness.experiments.capacity.climb import climb
from channels_harness.experiments.capacity.plan import CapacityPlan
from channels_harness.generators.engine.idle import raise_nofile_limit
from channels_harness.report.model import Run
from channels_harness.report.rows import LimitsRow
from channels_harness.runtime import pinning
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.redis import layer_env, redis_for
from channels_harness.servers.registry import ServerSpec, get_spec

# Share of the memory available at the start a server may take before the
# climb stops (the generator, Redis and the rest of the machine need the rest).
MEMORY_SHARE = 0.7


def memory_budget(plan: CapacityPlan) -> int | None:
    """The server RSS that ends a climb (see :data:`MEMORY_SHARE`)."""
    if plan.memory_budget_bytes is not None:
        return plan.memory_budget_bytes
    available = kernel.memory_available()
    return int(available * MEMORY_SHARE) if available else None


def describe(plan: CapacityPlan, nofile: int, wanted: int, budget: int | None) -> list[str]:
    """The notes that say how the run measured."""
    cores = pinning.choose()
    generator = sorted(cores.generator or ()) or "all"
    server = sorted(cores.server or ()) or "all"
    notes = [
        f"Capacity: idle connections to {plan.ws_path} "
        + (
            "of your app (--app; its own channel layer)"
            if plan.own
            else f"on the {plan.layer} channel layer"
        )
        + f", opened from a generator process on core(s) {generator} (server on {server})"
        f" at a pace that follows the server (x1.25 every 0.5 s while handshakes take under "
        f"{plan.target_latency_s:g} s, halved on a failure or a slower one; at most "
        f"{plan.max_inflight} at once), measured every {plan.levels()[0]} connections: server "
        "RSS and descriptors, a ping to every held connection, and the echo latency of "
        f"{plan.canaries} canary connections ({plan.canary_messages} messages each).",
        f"Limits: {plan.fail_limit} failed handshakes in a row (or making a tenth of a level's "
        "attempts), any dropped connection, an "
        f"unanswered ping or canary, the server's exit, under {plan.min_accept_rate:g} "
        f"connections/s accepted, server RSS over "
        f"{f'{budget / 2**30:.1f} GiB' if budget else 'no memory budget'}, or "
        f"{plan.budget_s:.0f} s of climbing per server.",
        f"Open-file limit raised to {nofile} in the harness before each server starts "
        f"(inherited; {wanted} wanted).",
        "Kernel: " + ", ".join(f"{k}={v}" for k, v in kernel.settings().items()),
    ]
    if nofile < wanted:
        notes.append(
            f"The open-file limit stopped at {nofile}: the hard limit. Root (or CAP_SYS_RESOURCE) "
            "raises it; another user needs a higher `ulimit -Hn` (limits.conf, or LimitNOFILE= "
            "in a systemd unit)."
        )
    if plan.layer == "memory":
        notes.append(
            "The in-memory channel layer scans every channel on each receive(), and every "
            "consumer receives once as it connects: each connect costs more the more are open."
        )
    return notes


def server_spec(name: str, plan: CapacityPlan) -> ServerSpec:
    """The server's spec, with the plan's listen backlog when it sets one, and its
    worker processes."""
    spec = get_spec(name)
    spec = spec.with_backlog(plan.backlog) if plan.backlog else spec
    return spec.with_workers(plan.workers)


def measure_server(
    run: Run,
    spec: ServerSpec,
    plan: CapacityPlan,
    env: dict[str, str],
    budget: int | None,
    say: Callable[[str], None],
) -> LimitsRow:
    """Bursts on one fresh server, the climb on another; their rows into ``run``."""
    cores = pinning.choose()
    own = plan.target.server_options() if plan.target is not None else {}
    if plan.bursts:
        with ServerProcess(spec, cpus=cores.server, host=plan.host, env=env, **own) as server:
            backlog = kernel.listen_backlog(server.port) if server.port else None
            run.record_server({**server.info(), "listen_backlog_effective": backlog})
            run.extend(bursts(server, prepared(plan, server), say, cores.generator))
    with ServerProcess(spec, cpus=cores.server, host=plan.host, env=env, **own) as server:
        run.record_server(server.info())
        outcome = climb(server, prepared(plan, server), say, cores.generator, budget)
        if not server.running:
            outcome.summary.log_tail = server.log_tail(20)
    run.extend([outcome.summary, *outcome.points, outcome.at_limit])
    return outcome.summary


def prepared(plan: CapacityPlan, server: ServerProcess) -> CapacityPlan:
    """``plan`` ready for ``server``: for the user's app, logged in when asked (the
    session cookie joins the handshake) and one round trip made, so that a refused
    handshake or a silent consumer is one clear error before the climb."""
    if plan.target is None or not plan.own:
        return plan
    traffic = plan.target.prepare(server)
    return dataclasses.replace(plan, target=plan.target.replace(traffic=traffic, login=None))


def run_capacity(
    run: Run, plan: CapacityPlan, progress: Callable[[str], None] | None = None
) -> list[LimitsRow]:
    """Bursts and a climb for every server of ``plan`` into ``run``; the summary rows.

    A server that cannot be measured (it does not start, the generator fails)
    is a failure row, and the run goes on with the next one.
    """
    say = progress or (lambda text: None)
    wanted = plan.descriptors()
    nofile = raise_nofile_limit(wanted)
    budget = memory_budget(plan)
    for note in describe(plan, nofile, wanted, budget):
        run.note(note)
    rows = []
    layer = contextlib.nullcontext(None) if plan.own else redis_for(plan.layer, plan.redis_url)
    with layer as redis_url:
        env = {} if plan.own else layer_env(plan.layer, redis_url)
        for name in plan.servers:
            cell = {"server": name, "flavour": plan.cell, "layer": plan.layer}
            try:
                spec = server_spec(name, plan)
                rows.append(measure_server(run, spec, plan, env, budget, say))
            except RunError as exc:
                run.fail("limits", cell, str(exc))
    return rows
