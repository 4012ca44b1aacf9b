"""Load runs with locust: one cell per (server, flavour), each on a fresh server.

For every cell :func:`run_load` starts the server pinned to the server core(s)
(:func:`channels_harness.pinning.choose`), runs locust headless on the other
core(s) against it (:func:`~.locustproc.run_locust`), reads the statistics
locust writes at shutdown, and adds one ``locust`` row to the :class:`Run`. A
cell that could not be measured (server died, locust crashed) is recorded with
:meth:`Run.fail` and the run goes on. For the scenarios a plain echo server can
serve (echo, churn, idle) a baseline cell runs against the raw no-ASGI echo
server (``raw-echo``), to show what the client itself can do on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import pinning
from ..cpu import generator_bound
from ..report.model import Run
from ..servers import RAW_ECHO, ServerError, ServerProcess, get_spec
from .locustproc import SCENARIOS, LocustResult, LocustRunError, run_locust, user_class

__all__ = ["BASELINE_FLAVOUR", "SCENARIOS", "LocustRunError", "run_cell", "run_load", "user_class"]

SECTION = "locust"
# The flavour recorded for the raw echo baseline (no consumer at all).
BASELINE_FLAVOUR = "none"
# Which request type a scenario's figures describe.
PRIMARY = {"echo": "WS", "churn": "WS-CONNECT", "fanout": "WS", "idle": "WS"}
# Scenarios the raw echo server can serve (it echoes on any path; it has no rooms).
BASELINE_SCENARIOS = ("echo", "churn", "idle")

Progress = Callable[[str, int, int], None]


def _cpus(cpus: frozenset[int] | None) -> list[int] | None:
    return sorted(cpus) if cpus else None


def build_row(
    result: LocustResult,
    *,
    scenario: str,
    server: str,
    flavour: str,
    users: int,
    processes: int,
    duration_s: int,
    layout: pinning.Pinning,
) -> dict[str, Any]:
    """The ``locust`` section row of one measured cell."""
    summaries = result.summaries
    primary = summaries.get(PRIMARY[scenario])
    handshake = summaries.get("WS-CONNECT")
    busiest = result.generator_cpu
    return {
        "scenario": scenario,
        "server": server,
        "flavour": flavour,
        "users": users,
        "processes": processes,
        "duration_s": duration_s,
        "request_type": PRIMARY[scenario],
        "requests": primary.requests if primary else 0,
        "failures": result.failures,
        "msgs_per_s": round(primary.per_s, 1) if primary else 0.0,
        "avg_ms": round(primary.avg_ms, 3) if primary else None,
        "p50_ms": primary.p50_ms if primary else None,
        "p95_ms": primary.p95_ms if primary else None,
        "p99_ms": primary.p99_ms if primary else None,
        "handshakes": handshake.requests - handshake.failures if handshake else 0,
        "generator_cpu": round(busiest, 3) if busiest is not None else None,
        "generator_cpu_total": (
            round(result.generator_cpu_total, 3) if result.generator_cpu_total is not None else None
        ),
        "generator_bound": generator_bound(busiest) if busiest is not None else None,
        "server_cpu": (
            round(result.watched_cpu["server"], 3) if "server" in result.watched_cpu else None
        ),
        "resolution_ms": result.report.get("resolution_ms"),
        "server_cpus": _cpus(layout.server),
        "generator_cpus": _cpus(layout.generator),
        "errors": result.errors,
        "command": result.command,
    }


def run_cell(
    run: Run,
    *,
    server: str,
    flavour: str,
    scenario: str,
    users: int,
    duration_s: int,
    processes: int = 1,
    spawn_rate: float | None = None,
    options: tuple[str, ...] = (),
    layout: pinning.Pinning | None = None,
    repeat: int = 0,
) -> dict[str, Any] | None:
    """Measure one cell (its ``repeat``-th time) on a fresh server; return its row,
    or None when it failed (then recorded with :meth:`Run.fail`, with the
    server's log tail)."""
    layout = layout or pinning.choose()
    baseline = server == RAW_ECHO.name
    spec = get_spec(server)
    cell = {
        "scenario": scenario,
        "server": server,
        "flavour": flavour,
        "users": users,
        "repeat": repeat,
    }
    name = f"{scenario}-{server}-{flavour}-u{users}-p{processes}-r{repeat}"
    prefix = run.path / SECTION / name / "locust"
    if baseline:
        options = (*options, "--ws-path", "/")
    process = ServerProcess(spec, cpus=layout.server)
    try:
        with process:
            run.record_server(process.info())
            assert process.pid is not None
            rss_before = process.rss_bytes()
            result = run_locust(
                host=f"ws://{process.host}:{process.port}",
                scenario=scenario,
                flavour="async" if baseline else flavour,
                users=users,
                duration_s=duration_s,
                prefix=prefix,
                processes=processes,
                spawn_rate=spawn_rate,
                cpus=layout.generator,
                options=options,
                watch={"server": process.pid},
            )
            if not process.running:
                raise ServerError(f"{server} exited during the run (code {process.returncode})")
    except ServerError as exc:
        run.fail(SECTION, cell, str(exc), process.log_tail() or process.final_log)
        return None
    row = build_row(
        result,
        scenario=scenario,
        server=server,
        flavour=flavour,
        users=users,
        processes=processes,
        duration_s=duration_s,
        layout=layout,
    )
    row["repeat"] = repeat
    # Other work on the machine shows here (locust and the server add about 2).
    row["machine_load_1m"] = round(os.getloadavg()[0], 2)
    row["output"] = str(Path(prefix).relative_to(run.path))
    held = result.watched_rss.get("server")
    if scenario == "idle" and row["handshakes"] and held is not None:
        # Connections still open at the end of the window, over the server's growth.
        row["server_rss_idle_bytes"] = rss_before
        row["server_rss_bytes"] = held
        row["rss_per_connection_bytes"] = round((held - rss_before) / row["handshakes"])
    run.add(SECTION, row)
    return row


def run_load(
    run: Run,
    *,
    servers: Sequence[str],
    flavours: Sequence[str],
    scenario: str = "echo",
    users: int = 50,
    duration_s: int = 20,
    processes: int = 1,
    progress: Progress | None = None,
    baseline: bool = True,
    spawn_rate: float | None = None,
    options: tuple[str, ...] = (),
    repeats: int = 1,
) -> list[dict[str, Any]]:
    """Measure every (server, flavour) cell, plus the raw echo baseline when
    ``baseline`` and the scenario allows, ``repeats`` times (rounds over all
    cells, so drift on the machine hits every cell alike); return the rows."""
    if scenario not in SCENARIOS:
        raise LocustRunError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    for flavour in flavours:
        user_class(scenario, flavour)
    for server in servers:
        get_spec(server)
    layout = pinning.choose()
    cells = [
        (server, flavour) for server in servers if server != RAW_ECHO.name for flavour in flavours
    ]
    if RAW_ECHO.name in servers or (baseline and scenario in BASELINE_SCENARIOS):
        if scenario not in BASELINE_SCENARIOS:
            raise LocustRunError(f"the raw echo server has no rooms: it cannot run {scenario}")
        cells.append((RAW_ECHO.name, BASELINE_FLAVOUR))
    if layout.pinned:
        run.note(
            f"locust {scenario}: servers pinned to cores {_cpus(layout.server)}, "
            f"locust to cores {_cpus(layout.generator)}"
        )
    else:
        run.note(f"locust {scenario}: fewer than 2 usable cores, server and locust share them")
    rounds = [(repeat, server, flavour) for repeat in range(repeats) for server, flavour in cells]
    rows = []
    for done, (repeat, server, flavour) in enumerate(rounds):
        if progress is not None:
            progress(f"locust {scenario} {server} {flavour} #{repeat + 1}", done, len(rounds))
        row = run_cell(
            run,
            server=server,
            flavour=flavour,
            scenario=scenario,
            users=users,
            duration_s=duration_s,
            processes=processes,
            spawn_rate=spawn_rate,
            options=options,
            layout=layout,
            repeat=repeat,
        )
        if row is not None:
            rows.append(row)
    if progress is not None:
        progress(f"locust {scenario} done", len(rounds), len(rounds))
    return rows
