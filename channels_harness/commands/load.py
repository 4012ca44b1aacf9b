"""Load every chosen server and consumer flavour with locust, headless.

For each cell a fresh server is started on the server core, locust runs on the
other core(s) for the given duration, and its final statistics, its own CPU
and the server's CPU go into a new run under results/ (kind "load"), next to
locust's JSON, CSV, HTML and log for every cell. The comparison table shows
msgs/s (handshakes/s for churn), p50/p95/p99, failures, generator CPU and the
Sync vs Async, server vs server and vs raw echo ratios. Exit code 1 when a
cell failed or had failed requests.
"""

from __future__ import annotations

import argparse

NAME = "load"
HELP = "run locust headless against each server x flavour and compare"


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..loadrun.locustproc import FLAVOUR_CLASSES, SCENARIOS
    from ..servers import RAW_ECHO, SERVERS

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

    from ..loadrun import run_load
    from ..loadrun.table import comparison_table
    from ..paths import RESULTS_DIR
    from ..report.model import Run

    console = Console()
    if min(args.users, args.duration, args.processes, args.repeat) < 1:
        console.print("[red]--users, --duration, --processes and --repeat must be at least 1[/]")
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
    }
    run = Run.create(
        Path(args.results) if args.results else RESULTS_DIR, kind="load", options=options
    )
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
        )
    console.print(comparison_table(rows, title=f"locust {args.scenario}, {args.users} users"))
    failed = run.data["failures"]
    for failure in failed:
        console.print(
            f"[red]failed cell[/] {failure['cell']}: {failure['message']}", highlight=False
        )
    for row in rows:
        if row["failures"]:
            errors = "; ".join(f"{e['occurrences']} x {e['error']}" for e in row["errors"])
            console.print(
                f"[red]{row['failures']} failed requests[/] in {row['scenario']} "
                f"{row['server']} {row['flavour']}: {errors}",
                highlight=False,
            )
    console.print(f"results: {run.path}", highlight=False)
    return 1 if failed or any(row["failures"] for row in rows) else 0
