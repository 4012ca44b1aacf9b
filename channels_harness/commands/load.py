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

Your own app: ``--app`` starts it under each of ``--servers`` (``--url`` loads
a server that is already running instead) and locust's ``AppUser`` sends your
messages on ``--path`` with your handshake options; with ``--url`` the
server's CPU and memory are not measured.
"""

from __future__ import annotations

import argparse
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
    target_from_args,
    thresholds_from_args,
)
from channels_harness.servers.registry import FOCUS_SERVERS

if TYPE_CHECKING:
    from channels_harness.commands._common import Step
    from channels_harness.experiments.target import Target
    from channels_harness.report.model import Run
    from channels_harness.report.rows import LocustRow

NAME = "load"
HELP = "run locust headless against each server x flavour and compare"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_load_arguments(parser)
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
    parser.add_argument("--scenario", choices=SCENARIOS, default="echo", help="(default: echo)")
    parser.add_argument("--users", type=int, default=50, help="locust users (default 50)")
    parser.add_argument(
        "--spawn-rate", type=float, default=None, help="users started per second (default: all)"
    )
    parser.add_argument("--duration", type=int, default=20, help="seconds per cell (default 20)")
    parser.add_argument(
        "--processes", type=int, default=1, help="locust generator processes (default 1)"
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


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.errors import RedisUnavailableError
    from channels_harness.report.console import load_comparison as comparison_table

    console = Console()
    problem = _problem(args)
    if problem:
        return refuse(console, problem)
    thresholds = thresholds_from_args(args)
    target = target_from_args(args)
    options = {**_options(args), **(target.describe() if target.own else {})}
    run_ = create_run(args, "load", options)
    try:
        with run_.recording(), progress_bar(console, "locust") as progress:
            rows = _measure(run_, args, options, progress, target)
    except RedisUnavailableError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        console.print(f"run left incomplete: {run_.path}", highlight=False)
        return 2
    table = comparison_table(rows, title=_title(args))
    console.print(table)
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
    try:
        check_scale(args.layer, args.server_processes, args.workers)
    except LocustRunError as exc:
        return str(exc)
    return None


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The options data.json records."""
    return {
        "servers": names(args.servers) or [],
        "flavours": names(args.flavours) or [],
        "scenario": args.scenario,
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
    }


def _measure(
    run: Run, args: argparse.Namespace, options: dict[str, Any], progress: Step, target: Target
) -> list[LocustRow]:
    from channels_harness.experiments.load.run import run_load

    return run_load(
        run,
        servers=options["servers"],
        flavours=options["flavours"],
        scenario=args.scenario,
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
    )


def _title(args: argparse.Namespace) -> str:
    scenario = "app" if args.app or args.url else args.scenario
    title = f"locust {scenario}, {args.users} users, {args.layer} layer"
    if args.server_processes > 1:
        title += f", {args.server_processes} server processes"
    if args.workers:
        title += f", master + {args.workers} workers"
    return title


def _failed_requests(row: LocustRow) -> str:
    errors = "; ".join(f"{e['occurrences']} x {e['error']}" for e in row.errors)
    return (
        f"[red]{row.failures} failed requests[/] in {row.scenario} "
        f"{row.server} {row.flavour}: {errors}"
    )
