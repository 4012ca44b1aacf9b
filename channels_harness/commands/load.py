"""Load every chosen server and consumer flavour with locust, headless.

For each cell a fresh server is started on the server core, locust runs on the
other core(s) for the given duration, and its final statistics, its own CPU
and the server's CPU go into a new run under results/ (kind "load"), next to
locust's JSON, CSV, HTML and log for every cell. The comparison table shows
msgs/s (handshakes/s for churn), p50/p95/p99, failures, generator CPU and the
Sync vs Async, server vs server and vs raw echo ratios. Exit code 1 when a
cell failed or had failed requests, 2 for options that cannot work.

Scale: ``--workers N`` runs locust as a master with N worker processes (on
loopback), ``--layer redis|redis-pubsub`` (with ``--redis-url``, or a local
redis-server started for the run) puts the app on a Redis channel layer, and
``--server-processes N`` starts N server processes sharing it, the users spread
round-robin over them. Load goes to loopback only unless ``--allow-remote-target``.
"""

from __future__ import annotations

import argparse

NAME = "load"
HELP = "run locust headless against each server x flavour and compare"


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from channels_harness.experiments.load.locustproc import FLAVOUR_CLASSES, SCENARIOS
    from channels_harness.servers.redis import LAYERS
    from channels_harness.servers.registry import RAW_ECHO, SERVERS

    parser.add_argument(
        "--servers",
        default="daphne,uvicorn",
        help=f"comma-separated, of {', '.join([*SERVERS, RAW_ECHO.name])} "
        "(default: daphne,uvicorn)",
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
    parser.add_argument("--results", default=None, help="results folder (default: results/)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.progress import Progress

    from channels_harness.errors import LocustRunError, RedisUnavailableError
    from channels_harness.experiments.load.run import check_scale, run_load
    from channels_harness.report.console import load_comparison as comparison_table
    from channels_harness.report.model import Run
    from channels_harness.runtime.paths import RESULTS_DIR

    console = Console()
    if min(args.users, args.duration, args.processes, args.repeat, args.server_processes) < 1:
        console.print(
            "[red]--users, --duration, --processes, --repeat and --server-processes "
            "must be at least 1[/]"
        )
        return 2
    if args.workers and args.processes > 1:
        console.print("[red]--workers and --processes exclude each other: choose one[/]")
        return 2
    try:
        check_scale(args.layer, args.server_processes, args.workers)
    except LocustRunError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        return 2
    options = {
        "servers": _names(args.servers),
        "flavours": _names(args.flavours),
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
    run = Run.create(
        Path(args.results) if args.results else RESULTS_DIR, kind="load", options=options
    )
    try:
        with run.recording(), Progress(console=console, transient=True) as bar:
            task = bar.add_task("locust", total=None)

            def progress(description: str, done: int, total: int) -> None:
                bar.update(task, description=description, completed=done, total=total)

            rows = run_load(
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
            )
    except RedisUnavailableError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        console.print(f"run left incomplete: {run.path}", highlight=False)
        return 2
    title = f"locust {args.scenario}, {args.users} users, {args.layer} layer"
    if args.server_processes > 1:
        title += f", {args.server_processes} server processes"
    if args.workers:
        title += f", master + {args.workers} workers"
    console.print(comparison_table(rows, title=title))
    failed = run.data["failures"]
    for failure in failed:
        console.print(
            f"[red]failed cell[/] {failure['cell']}: {failure['message']}", highlight=False
        )
    for row in rows:
        if row.failures:
            errors = "; ".join(f"{e['occurrences']} x {e['error']}" for e in row.errors)
            console.print(
                f"[red]{row.failures} failed requests[/] in {row.scenario} "
                f"{row.server} {row.flavour}: {errors}",
                highlight=False,
            )
    console.print(f"results: {run.path}", highlight=False)
    return 1 if failed or any(row.failures for row in rows) else 0
