"""Measure the benchmark matrix with the harness's own load generator.

Closed-loop throughput per server x consumer flavour (median of repeated runs
and their spread), open-loop latency, handshake rate, memory per idle
connection, blocking handlers and the layered cost breakdown, into a new run
under results/ (kind "bench"). Prints the Sync vs Async and server vs server
ratios and the generator's headroom over the best Channels cell.

``--quick`` takes under 2 minutes; the default ``standard`` matrix under 15;
``--matrix full`` is the issue's whole matrix (about an hour on 2 cores).
"""

from __future__ import annotations

import argparse

NAME = "bench"
HELP = "measure throughput, latency, handshakes, memory and the layer breakdown"


def _names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the quick matrix (under 2 minutes)")
    parser.add_argument(
        "--matrix",
        choices=("quick", "standard", "full"),
        default=None,
        help="which matrix (default: quick with --quick, else standard)",
    )
    parser.add_argument(
        "--servers",
        default=None,
        help="comma-separated servers (default: daphne,uvicorn with --quick, else all installed)",
    )
    parser.add_argument(
        "--flavours", default=None, help="comma-separated flavours (default: all four)"
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per cell (default 3; caps the other sections)"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="generator processes per cell (default 1)"
    )
    parser.add_argument("--results", default=None, help="results folder (default: results/)")


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from channels_harness.experiments.bench.run import run_bench
    from channels_harness.report.console import print_summary
    from channels_harness.report.model import Run
    from channels_harness.runtime.paths import RESULTS_DIR
    from channels_harness.servers.reference import FLAVOURS
    from channels_harness.servers.registry import get_spec

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    if (args.runs is not None and args.runs < 1) or args.processes < 1:
        console.print("[red]--runs and --processes must be at least 1[/]")
        return 2
    for name in _names(args.servers) or ():
        get_spec(name)  # an unknown name exits 2 with the choices, before any run folder
    unknown = set(_names(args.flavours) or ()) - set(FLAVOURS)
    if unknown:
        console.print(f"[red]unknown flavour(s) {sorted(unknown)}; choose from {FLAVOURS}[/]")
        return 2
    options = {
        "quick": args.quick,
        "matrix": args.matrix,
        "servers": _names(args.servers),
        "flavours": _names(args.flavours),
        "runs": args.runs,
        "processes": args.processes,
    }
    run_ = Run.create(
        Path(args.results) if args.results else RESULTS_DIR, kind="bench", options=options
    )
    started = time.monotonic()
    with (
        run_.recording(),
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task("bench", total=None)

        def progress(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        run_bench(
            run_,
            quick=args.quick,
            servers=_names(args.servers),
            flavours=_names(args.flavours),
            progress=progress,
            matrix=args.matrix,
            runs=args.runs,
            generator_processes=args.processes,
        )
        run_.note(f"bench took {time.monotonic() - started:.0f} s")
    print_summary(console, run_.data)
    console.print(f"results: {run_.path}", highlight=False)
    return 1 if run_.data["failures"] else 0
