"""The profile section: where each server's time goes, per consumer flavour.

For every server, three cells are profiled, each on a fresh server: the bare
ASGI echo app (no Channels: the reference for what a flavour adds), and the
reference app's ``async`` and ``sync`` echo endpoints. Each cell is the
benchmark's headline echo cell (closed loop, 50 connections, 32 B text),
measured again in a run of its own while py-spy samples the server
(:mod:`.sampler`): profiling costs the server time, so it is never on in the
measured cells. The samples become a :class:`ProfileRow` (:mod:`.attribution`)
and a flame graph in the run folder (:mod:`.flamegraph`); the rows of one
server then answer the breakdown's open questions (:func:`.attribution.findings`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

from channels_harness.errors import ProfilerError, RunError
from channels_harness.experiments.bench.plan import HEADLINE_CONCURRENCY, HEADLINE_PAYLOAD
from channels_harness.experiments.profile import flamegraph, sampler
from channels_harness.experiments.profile.attribution import BARE, findings, profile_row
from channels_harness.experiments.profile.groups import counted
from channels_harness.experiments.profile.stacks import parse_raw
from channels_harness.generators.engine import LoadConfig, LoadResult, run_load
from channels_harness.report.model import Run, write_atomic
from channels_harness.report.rows import ProfileRow
from channels_harness.runtime import pinning
from channels_harness.runtime.cpu import CpuMeter
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.reference import DEFAULT_APP, echo_path
from channels_harness.servers.registry import get_spec

Progress = Callable[[str, int, int], None]

BARE_APP = "channels_harness.servers.apps.bare:application"
PROFILE_FLAVOURS: tuple[str, ...] = (BARE, "async", "sync")
PROFILES_DIR = "profiles"


@dataclass(frozen=True)
class ProfilePlan:
    """What one profile section samples, and for how long."""

    servers: tuple[str, ...]
    flavours: tuple[str, ...] = PROFILE_FLAVOURS
    seconds: float = 4.0
    rate_hz: int = 100
    connections: int = HEADLINE_CONCURRENCY
    payload: str = HEADLINE_PAYLOAD
    warmup_s: float = 0.5

    @property
    def load_s(self) -> float:
        """How long each cell's load runs after its warm-up: past the sampling,
        with room for py-spy to attach."""
        return self.seconds + max(3.0, self.seconds / 2)


def measure_profiles(
    run: Run,
    servers: Sequence[str],
    *,
    seconds: float = 4.0,
    rate_hz: int = 100,
    flavours: Sequence[str] = PROFILE_FLAVOURS,
    progress: Progress | None = None,
) -> list[ProfileRow]:
    """Profile every server in ``servers`` under each of ``flavours`` into ``run``
    (a ``profile`` row per cell, then the ``profile_findings`` rows); a cell that
    fails is recorded with :meth:`Run.fail` and the others go on."""
    plan = ProfilePlan(tuple(servers), tuple(flavours), seconds, rate_hz)
    pins = pinning.choose()
    cells = [(server, flavour) for server in plan.servers for flavour in plan.flavours]
    run.data["options"]["profile"] = {
        "servers": list(plan.servers),
        "flavours": list(plan.flavours),
        "seconds": plan.seconds,
        "rate_hz": plan.rate_hz,
        "connections": plan.connections,
        "payload": plan.payload,
        "pinning": pins.describe(),
    }
    rows: list[ProfileRow] = []
    for done, (server, flavour) in enumerate(cells):
        if progress is not None:
            progress(f"profile {server} {flavour}", done, len(cells))
        try:
            rows.append(profile_cell(run, plan, server, flavour, pins))
        except RunError as exc:
            run.fail("profile", {"server": server, "flavour": flavour}, str(exc))
            continue
        run.add(rows[-1])
    run.extend(findings(rows))
    if progress is not None:
        progress("profile", len(cells), len(cells))
    return rows


def profile_cell(
    run: Run, plan: ProfilePlan, server: str, flavour: str, pins: pinning.Pinning
) -> ProfileRow:
    """One cell on a fresh server: load it, sample it, write its flame graph, return its row."""
    app, path = (BARE_APP, "/") if flavour == BARE else (DEFAULT_APP, echo_path(flavour))
    with ServerProcess(get_spec(server), app=app, cpus=pins.server) as process:
        info = process.info()
        info["name"] = server if app == DEFAULT_APP else f"{server} [{app.rsplit(':', 1)[-1]}]"
        run.record_server(info)
        config = LoadConfig(
            url=process.ws_url(path),
            connections=plan.connections,
            payload=plan.payload,
            duration_s=plan.load_s,
            warmup_s=plan.warmup_s,
        )
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(run_load, config, 1, pins.generator)
            raw, meter = _sample_under(load, process, plan, pins)
            result = load.result(timeout=scaled(plan.load_s + 60))
    samples = parse_raw(raw, default_pid=process.pid or 0)
    graph = f"{PROFILES_DIR}/{server}-{flavour}.svg"
    title = f"{server} {flavour}: {app} under the echo load ({plan.rate_hz} Hz, {plan.seconds:g} s)"
    write_atomic(run.path / graph, flamegraph.render(counted(samples), title))
    return profile_row(
        server,
        flavour,
        app,
        samples,
        result.rate,
        flamegraph=graph,
        rate_hz=plan.rate_hz,
        duration_s=plan.seconds,
        server_cpu_us_per_msg=round(meter.share / result.rate * 1e6, 2) if result.rate else None,
    )


def _sample_under(
    load: Future[LoadResult], process: ServerProcess, plan: ProfilePlan, pins: pinning.Pinning
) -> tuple[str, CpuMeter]:
    """Once every connection is open, sample the server; the raw stacks and the
    server's CPU over the sampling. :class:`ProfilerError` if the load never
    connected or ended before the sampling did."""
    _wait_connected(load, process, plan.connections)
    assert process.pid is not None
    meter = CpuMeter(process.pid)
    with tempfile.TemporaryDirectory(prefix="channels-harness-profile-") as folder:
        raw = sampler.record(
            process.pid, Path(folder) / "stacks.txt", plan.seconds, plan.rate_hz, pins.generator
        )
    meter.stop()
    if load.done():
        load.result()  # a generator failure says why
        raise ProfilerError(
            f"the load ended before py-spy finished sampling {process.spec.name}; "
            "the samples would include an idle server"
        )
    return raw, meter


def _wait_connected(load: Future[LoadResult], process: ServerProcess, connections: int) -> None:
    """Poll until the server holds ``connections`` established connections."""
    deadline = time.monotonic() + scaled(30)
    while _established(process) < connections:
        if load.done():
            result = load.result()
            raise ProfilerError(
                f"the load ended before {connections} connections were open "
                f"({result.connected} opened: {'; '.join(result.error_samples)})"
            )
        if time.monotonic() > deadline:
            raise ProfilerError(f"{connections} connections were not open within 30 s")
        time.sleep(0.05)


def _established(process: ServerProcess) -> int:
    """Established TCP connections on the server's port."""
    return sum(
        1
        for conn in psutil.net_connections(kind="tcp")
        if conn.laddr and conn.laddr.port == process.port and conn.status == psutil.CONN_ESTABLISHED
    )
