"""The benchmark matrix: servers x flavours measured by the engine into a Run.

:func:`run_bench` only orchestrates; each section is its own module. It
measures, in this order: the closed-loop throughput cells of every server at
once, interleaved so servers, flavours and TLS compare under the same load
(:mod:`.throughput`); then per server open-loop latency (:mod:`.latency`),
handshake rate (:mod:`.handshake`), memory per idle connection
(:mod:`.memory`) and blocking handlers (:mod:`.blocking`); then the layered
cost breakdown, raw echo first (:mod:`.breakdown`); then the headroom: the
raw echo baseline and the best Channels cell measured again side by side
(:mod:`.headroom`); then echo with and without permessage-deflate on each server
that agrees to it (:mod:`.compression`); last, in the standard and full
matrices, the fan-out and scaling steps (:mod:`.extra`).

The machine is shared and its load drifts, so what is compared is measured
side by side, its runs interleaved (:mod:`.interleave`). Server and generator
are pinned to different cores (:func:`channels_harness.runtime.pinning.choose`).
A cell that fails (server died, generator crashed) is recorded with
:meth:`Run.fail` and its server log tail, and the matrix goes on
(:meth:`.session.BenchSession.load`).
"""

from __future__ import annotations

from collections.abc import Sequence

from channels_harness.experiments.bench import (
    blocking,
    breakdown,
    handshake,
    headroom,
    latency,
    memory,
    throughput,
)
from channels_harness.experiments.bench.compression import CompressionConfig, run_compression
from channels_harness.experiments.bench.extra import run_extra_steps
from channels_harness.experiments.bench.plan import BenchPlan, make_plan
from channels_harness.experiments.bench.session import BenchSession, Progress
from channels_harness.generators.engine import raise_nofile_limit
from channels_harness.report.model import Run
from channels_harness.servers.reference import FLAVOURS
from channels_harness.servers.registry import FOCUS_SERVERS, SERVERS, get_spec

# permessage-deflate against plain echo, per preset (a few seconds per server in quick).
COMPRESSION = {
    "quick": CompressionConfig(messages=500, runs=2),
    "standard": CompressionConfig(),
    "full": CompressionConfig(runs=5),
}


def default_servers(quick: bool) -> tuple[str, ...]:
    """Quick: the installed focus servers (daphne and uvicorn); otherwise every
    installed server."""
    installed = tuple(name for name, spec in SERVERS.items() if spec.available())
    if quick:
        return tuple(name for name in FOCUS_SERVERS if name in installed)
    return installed


def step_count(plan: BenchPlan) -> int:
    """Progress steps of the whole matrix but the fan-out and scaling steps
    (which report their own progress)."""
    return (
        headroom.step_count(plan)
        + throughput.step_count(plan)
        + latency.step_count(plan)
        + handshake.step_count(plan)
        + memory.step_count(plan)
        + blocking.step_count(plan)
        + breakdown.step_count(plan)
    )


def run_bench(
    run: Run,
    *,
    quick: bool,
    servers: Sequence[str] | None = None,
    flavours: Sequence[str] | None = None,
    progress: Progress | None = None,
    matrix: str | None = None,
    runs: int | None = None,
    generator_processes: int = 1,
    max_runs: int | None = None,
    tls: bool | None = None,
) -> None:
    """Measure the benchmark matrix into ``run``.

    ``matrix`` is ``quick``, ``standard`` or ``full`` (see
    :mod:`channels_harness.experiments.bench.plan`); by default ``quick`` when ``quick`` is
    true, else ``standard``. ``runs``, ``max_runs`` and ``tls`` adjust it (see
    :func:`~channels_harness.experiments.bench.plan.make_plan`).
    ``progress(description, done, total)`` is called before and after every step.
    """
    chosen = tuple(servers) if servers else default_servers(quick)
    for name in chosen:
        get_spec(name)
    plan = make_plan(
        matrix or ("quick" if quick else "standard"),
        chosen,
        tuple(flavours) if flavours else FLAVOURS,
        runs=runs,
        generator_processes=generator_processes,
        max_runs=max_runs,
        tls=tls,
    )
    # Servers inherit this limit: a thousand idle connections need the descriptors.
    raise_nofile_limit(max(4096, plan.memory_connections * 2 + 256))
    session = BenchSession(run, plan, step_count(plan), progress)
    run.data["options"]["bench"] = plan.describe()
    run.data["options"]["pinning"] = session.pins.describe()
    run.save()
    throughput.measure_throughput(session)
    for name in plan.servers:
        _measure_server(session, name)
    for name in plan.breakdown_servers:
        breakdown.measure_breakdown(session, name)
    headroom.measure_headroom(session)
    run_compression(run, plan.servers, config=COMPRESSION[plan.matrix], say=session.say)
    run_extra_steps(run, plan.matrix, plan.servers, session.say)


def _measure_server(session: BenchSession, name: str) -> None:
    """Every per-server section after throughput for ``name`` on one (restartable) server."""
    with session.live_server(name) as live:
        latency.measure_latency(session, live)
        handshake.measure_handshakes(session, live)
        memory.measure_memory(session, name)
        blocking.measure_blocking(session, live)
