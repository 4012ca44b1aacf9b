"""Load every chosen server and consumer flavour with locust, headless.

For each cell a fresh server is started on the server core, locust runs on the
other core(s) for the given duration, and its final statistics, its own CPU
and the server's CPU go into a new run under results/ (kind "load"), next to
locust's JSON, CSV, HTML and log for every cell. The comparison table shows
msgs/s (handshakes/s for churn), p50/p95/p99, failures, generator CPU and the
Sync vs Async, server vs server and vs raw echo ratios. Exit code 1 when a
cell failed, had failed requests or missed a ``--threshold``, 2 for options that
cannot work.

Scale: ``--workers N`` runs locust as a master with N worker processes (on
loopback), ``--layer redis|redis-pubsub`` (with ``--redis-url``, or a local
redis-server started for the run) puts the app on a Redis channel layer, and
``--server-processes N`` starts N server processes sharing it, the users spread
round-robin over them. Load goes to loopback only unless ``--allow-remote-target``.

Other hosts: ``--master-bind ADDR[:PORT] --expect-workers N`` binds each cell's
locust master to ADDR (port 5557 by default) and waits up to ``--worker-wait``
seconds for N workers started on the load hosts with ``channels-harness worker
--master ADDR[:PORT]`` (docs/distributed.md); ``--server-bind ADDR`` puts the
servers the harness starts on an address those workers reach. Every row holds
each worker's figures beside the merged ones; a worker lost during a cell
fails that cell, and the run goes on.

Your own app: ``--app`` starts it under each of ``--servers`` (``--url`` loads
a server that is already running instead) and locust's ``AppUser`` sends your
messages on ``--path`` with your handshake options; with ``--url`` the
server's CPU and memory are not measured.

Your own conversation: ``--scenario-file FILE`` runs a scenario file
(docs/scenarios.md) with locust's ``ScenarioUser``, ``--locustfile FILE``
(``--user-class NAME``) your own locustfile (docs/locust.md); for the reference
app, ``--app`` or ``--url``, one cell per server, one row per step (request name).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

from channels_harness.commands._common import (
    add_app_arguments,
    add_results_argument,
    add_threshold_arguments,
    check_thresholds,
    conclude,
    create_run,
    names,
    progress_bar,
    refuse,
    scenario_target_from_args,
    target_from_args,
    thresholds_from_args,
)
from channels_harness.servers.registry import FOCUS_SERVERS

if TYPE_CHECKING:
    from rich.table import Table

    from channels_harness.commands._common import Step
    from channels_harness.experiments.load.custom import CustomLoad
    from channels_harness.experiments.target import Target
    from channels_harness.report.model import Run
    from channels_harness.report.rows import LocustRow

NAME = "load"
HELP = "run locust headless against each server x flavour and compare"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_load_arguments(parser)
    _add_custom_arguments(parser)
    _add_scale_arguments(parser)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure every cell this many times, in rounds; the table shows medians (default 1)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the raw echo baseline cell (echo, churn, idle)",
    )
    parser.add_argument(
        "--locust-option",
        action="append",
        default=[],
        metavar="ARG",
        help="extra locust argument, repeatable (e.g. --locust-option=--ws-payload-size=1024)",
    )
    add_results_argument(parser)
    add_app_arguments(parser, allow_remote=False)
    add_threshold_arguments(parser)


def _add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """What each cell runs: servers, flavours, scenario, users, duration, generators."""
    from channels_harness.experiments.load.locustproc import FLAVOUR_CLASSES, SCENARIOS
    from channels_harness.servers.registry import RAW_ECHO, SERVERS

    focus = ",".join(FOCUS_SERVERS)
    parser.add_argument(
        "--servers",
        default=focus,
        help=f"comma-separated, of {', '.join([*SERVERS, RAW_ECHO.name])} (default: {focus})",
    )
    parser.add_argument(
        "--flavours",
        default="sync,async",
        help=f"comma-separated, of {', '.join(FLAVOUR_CLASSES)} (default: sync,async)",
    )
    parser.add_argument("--scenario", choices=SCENARIOS, default=None, help="(default: echo)")
    parser.add_argument("--users", type=int, default=50, help="locust users (default 50)")
    parser.add_argument(
        "--spawn-rate", type=float, default=None, help="users started per second (default: all)"
    )
    parser.add_argument("--duration", type=int, default=20, help="seconds per cell (default 20)")
    parser.add_argument(
        "--processes", type=int, default=1, help="locust generator processes (default 1)"
    )


def _add_custom_arguments(parser: argparse.ArgumentParser) -> None:
    """Your own conversation: a scenario file, or your own locustfile."""
    group = parser.add_argument_group("your own scenario or locustfile (instead of --scenario)")
    group.add_argument(
        "--scenario-file",
        metavar="FILE",
        help="a scenario file (TOML, docs/scenarios.md) run by locust's ScenarioUser; "
        "one row per step",
    )
    group.add_argument(
        "--locustfile",
        metavar="FILE",
        help="your own locustfile (docs/locust.md); one row per request name",
    )
    group.add_argument(
        "--user-class",
        action="append",
        default=[],
        metavar="NAME",
        help="with --locustfile: a user class to run (repeatable; default: every class)",
    )


def _add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """Scale: locust workers, the channel layer, server processes, remote targets."""
    from channels_harness.servers.redis import LAYERS

    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run locust as a master with this many worker processes (default 0: no master)",
    )
    parser.add_argument(
        "--layer",
        choices=LAYERS,
        default="memory",
        help="the app's channel layer; fanout is the scenario that uses it (default: memory)",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Redis for the redis layers (default: start a local redis-server for the run)",
    )
    parser.add_argument(
        "--server-processes",
        type=int,
        default=1,
        help="server processes per cell, sharing a Redis layer; users spread over them (default 1)",
    )
    parser.add_argument(
        "--allow-remote-target",
        action="store_true",
        help="let locust send load to non-loopback addresses (refused by default)",
    )
    _add_host_arguments(parser)


def _add_host_arguments(parser: argparse.ArgumentParser) -> None:
    """Workers on other hosts: the master's address, how many, the servers' address."""
    from channels_harness.experiments.load.workers import DEFAULT_MASTER_PORT, DEFAULT_WAIT_S

    group = parser.add_argument_group(
        "workers on other hosts (docs/distributed.md)",
        "each load host runs `channels-harness worker --master ADDR[:PORT]`; the master "
        "port is unauthenticated: open it to your load hosts only",
    )
    group.add_argument(
        "--master-bind",
        metavar="ADDR[:PORT]",
        help=f"bind the locust master here instead of loopback (port {DEFAULT_MASTER_PORT} "
        "unless given); needs --expect-workers",
    )
    group.add_argument(
        "--expect-workers",
        type=int,
        default=None,
        metavar="N",
        help="with --master-bind: start each cell when N workers have joined",
    )
    group.add_argument(
        "--worker-wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help=f"how long each cell waits for its workers (default {DEFAULT_WAIT_S:g})",
    )
    group.add_argument(
        "--server-bind",
        metavar="ADDR",
        help="with --master-bind: the servers the harness starts listen on ADDR (an address "
        "the workers reach) instead of 127.0.0.1, and load may go there",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.errors import RedisUnavailableError, WorkersMissingError
    from channels_harness.report.console import load_comparison as comparison_table

    console = Console()
    problem = _problem(args)
    if problem:
        return refuse(console, problem)
    thresholds = thresholds_from_args(args)
    custom_given = bool(args.scenario_file or args.locustfile)
    target = target_from_args(args, require_path=not custom_given)
    custom, target = _custom(args, target)
    options = {**_options(args), **(target.describe() if target.own else {})}
    if custom is not None:
        options.update(scenario=custom.name, flavours=[custom.flavour], **custom.describe())
        options["scenario_file"] = args.scenario_file
    run_ = create_run(args, "load", options)
    try:
        with run_.recording(), progress_bar(console, "locust") as progress:
            rows = _measure(run_, args, options, progress, target, custom)
    except (RedisUnavailableError, WorkersMissingError) as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        console.print(f"run left incomplete: {run_.path}", highlight=False)
        return 2
    table = comparison_table(rows, title=_title(args, custom))
    console.print(table)
    if any(row.per_worker for row in rows):
        console.print(_workers_table(rows))
    missed = check_thresholds(console, run_, thresholds, args.junit)
    requests = [_failed_requests(row) for row in rows if row.failures]
    return conclude(
        console, run_, failure_label="failed cell", after=requests, failed=bool(requests) or missed
    )


def _problem(args: argparse.Namespace) -> str | None:
    """Why these options cannot work, or None."""
    from channels_harness.errors import LocustRunError
    from channels_harness.experiments.load.run import check_scale

    if min(args.users, args.duration, args.processes, args.repeat, args.server_processes) < 1:
        return (
            "--users, --duration, --processes, --repeat and --server-processes must be at least 1"
        )
    if args.workers and args.processes > 1:
        return "--workers and --processes exclude each other: choose one"
    hosts = _hosts_problem(args)
    if hosts:
        return hosts
    custom = _custom_problem(args)
    if custom:
        return custom
    try:
        check_scale(args.layer, args.server_processes, args.workers)
    except LocustRunError as exc:
        return str(exc)
    return None


def _hosts_problem(args: argparse.Namespace) -> str | None:
    """Why the options for workers on other hosts cannot work together, or None."""
    if (args.master_bind is None) != (args.expect_workers is None):
        return "--master-bind and --expect-workers go together: give both (or neither)"
    if args.server_bind is not None and args.master_bind is None:
        return (
            "--server-bind is for workers on other hosts: give --master-bind and "
            "--expect-workers too (alone, the servers stay on loopback)"
        )
    if args.master_bind is None:
        return None
    if args.expect_workers < 1 or args.worker_wait <= 0:
        return "--expect-workers must be at least 1 and --worker-wait above 0"
    if args.workers or args.processes > 1:
        return (
            "--master-bind waits for workers on other hosts: leave out --workers and "
            "--processes (run more `channels-harness worker` commands instead)"
        )
    if args.server_bind is not None:
        if args.url:
            return "--server-bind binds the servers the harness starts: --url loads a running one"
        if ":" in args.server_bind or args.server_bind in ("0.0.0.0", "*", ""):
            return (
                f"--server-bind {args.server_bind}: the workers connect to this address, so "
                "give one they reach (an IPv4 address or host name of this host)"
            )
    from channels_harness.errors import UsageError
    from channels_harness.experiments.load.workers import split_address
    from channels_harness.runtime.loopback import is_loopback

    try:
        host, _ = split_address(args.master_bind, "--master-bind")
    except UsageError as exc:
        return str(exc)
    if not (is_loopback(host) or args.server_bind or args.url):
        return (
            "with workers on other hosts the servers must be reachable from them: give "
            "--server-bind ADDR (this host's address), or --url for a running server"
        )
    return None


def _custom_problem(args: argparse.Namespace) -> str | None:
    """Why the scenario-file or locustfile options cannot work together, or None."""
    if args.scenario_file and args.locustfile:
        return "--scenario-file and --locustfile exclude each other: choose one"
    if args.user_class and not args.locustfile:
        return "--user-class picks a class of --locustfile: give --locustfile too"
    if (args.scenario_file or args.locustfile) and args.scenario:
        return "--scenario is a bundled scenario: leave it out with --scenario-file or --locustfile"
    if args.scenario_file and (args.message or args.message_file or args.expect):
        return (
            "the scenario file says what to send and expect: leave out --message, "
            "--message-file and --expect"
        )
    return None


def _custom(args: argparse.Namespace, target: Target) -> tuple[CustomLoad | None, Target]:
    """The scenario file's or your locustfile's load (checked: UsageError otherwise),
    and the target with what a scenario file says of the connection."""
    from pathlib import Path

    from channels_harness.experiments.load import custom
    from channels_harness.experiments.load.locustproc import check_locustfile
    from channels_harness.experiments.load.run import custom_options

    given = custom_options(target)
    if args.scenario_file:
        # The connection as bench opens it (path, handshake and login rules in one
        # place), so both engines load the same thing; its first check is the
        # scenario's connect steps and one round.
        shaped = scenario_target_from_args(args)
        scenario = shaped.scenario
        assert scenario is not None
        merged = target.replace(
            path=shaped.path,
            traffic=shaped.traffic,
            login=shaped.login,
            login_url=shaped.login_url,
            scenario=scenario,
        )
        load_ = custom.scenario_load(
            scenario, Path(args.scenario_file), merged.label if merged.own else None
        )
        return dataclasses.replace(load_, options=(*load_.options, *given)), merged
    if args.locustfile:
        classes = tuple(name for text in args.user_class for name in names(text) or [])
        load_ = custom.locustfile_load(check_locustfile(Path(args.locustfile), classes))
        return dataclasses.replace(load_, options=(*load_.options, *given)), target
    return None, target


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The options data.json records."""
    return {
        "servers": names(args.servers) or [],
        "flavours": names(args.flavours) or [],
        "scenario": args.scenario or "echo",
        "users": args.users,
        "duration_s": args.duration,
        "processes": args.processes,
        "repeats": args.repeat,
        "spawn_rate": args.spawn_rate,
        "baseline": not args.no_baseline,
        "locust_options": list(args.locust_option),
        "workers": args.workers,
        "layer": args.layer,
        "redis_url": args.redis_url,
        "server_processes": args.server_processes,
        "allow_remote_target": args.allow_remote_target,
        "master_bind": args.master_bind,
        "expect_workers": args.expect_workers,
        "worker_wait_s": args.worker_wait if args.master_bind else None,
        "server_bind": args.server_bind,
    }


def _measure(
    run: Run,
    args: argparse.Namespace,
    options: dict[str, Any],
    progress: Step,
    target: Target,
    custom: CustomLoad | None,
) -> list[LocustRow]:
    from channels_harness.experiments.load.run import run_load
    from channels_harness.experiments.load.workers import RemoteWorkers, split_address

    remote = None
    if args.master_bind is not None:
        host, port = split_address(args.master_bind, "--master-bind")
        remote = RemoteWorkers(host, port, args.expect_workers, args.worker_wait, args.server_bind)
    return run_load(
        run,
        servers=options["servers"],
        flavours=options["flavours"],
        scenario=args.scenario or "echo",
        users=args.users,
        duration_s=args.duration,
        processes=args.processes,
        progress=progress,
        baseline=options["baseline"],
        spawn_rate=args.spawn_rate,
        options=tuple(args.locust_option),
        repeats=args.repeat,
        layer=args.layer,
        redis_url=args.redis_url,
        server_processes=args.server_processes,
        workers=args.workers,
        allow_remote=args.allow_remote_target,
        target=target,
        custom=custom,
        remote=remote,
    )


def _title(args: argparse.Namespace, custom: CustomLoad | None) -> str:
    scenario = args.scenario or "echo"
    if custom is not None:
        scenario = custom.name
    elif args.app or args.url:
        scenario = "app"
    title = f"locust {scenario}, {args.users} users, {args.layer} layer"
    if args.server_processes > 1:
        title += f", {args.server_processes} server processes"
    if args.workers:
        title += f", master + {args.workers} workers"
    if args.master_bind:
        title += f", master at {args.master_bind} + {args.expect_workers} workers on other hosts"
    return title


def _workers_table(rows: list[LocustRow]) -> Table:
    """Each locust worker's figures, per cell (a cell's rows share them)."""
    from rich import box
    from rich.table import Table

    table = Table(
        title="locust workers",
        caption="CPU as a share of one core over the steady window, ! = generator-bound",
        box=box.SIMPLE_HEAD,
    )
    for header in ("cell", "worker", "address", "users", "requests", "failures", "msgs/s", "CPU"):
        table.add_column(header, justify="left" if header in ("cell", "address") else "right")
    seen: set[str] = set()
    for row in rows:
        cell = f"{row.server} {row.flavour} #{row.repeat + 1}"
        if cell in seen or not row.per_worker:
            continue
        seen.add(cell)
        for worker in row.per_worker:
            cpu = "-" if worker.cpu is None else f"{worker.cpu:.2f}"
            table.add_row(
                cell,
                str(worker.index),
                worker.address or worker.host,
                str(worker.users),
                str(worker.requests),
                str(worker.failures),
                "-" if worker.msgs_per_s is None else f"{worker.msgs_per_s:g}",
                cpu + ("!" if worker.generator_bound else ""),
            )
    return table


def _failed_requests(row: LocustRow) -> str:
    errors = "; ".join(f"{e['occurrences']} x {e['error']}" for e in row.errors)
    step = f" {row.step}" if row.step else ""
    return (
        f"[red]{row.failures} failed requests[/] in {row.scenario} "
        f"{row.server} {row.flavour}{step}: {errors}"
    )
