"""Measure the benchmark matrix with the harness's own load generator.

Closed-loop throughput per server x consumer flavour (median of repeated runs
and their spread), open-loop latency, handshake rate, memory per idle
connection, blocking handlers and the layered cost breakdown, into a new run
under results/ (kind "bench"). Prints the Sync vs Async and server vs server
ratios and the generator's headroom over the best Channels cell.

``--quick`` takes under 2 minutes; the default ``standard`` matrix under 15;
``--matrix full`` measures every server, flavour, payload and concurrency
(about an hour on 2 cores).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from channels_harness.commands._common import (
    add_results_argument,
    conclude,
    known_servers,
    names,
    progress_bar,
    record,
    refuse,
    wide_console,
)
from channels_harness.servers.registry import FOCUS_SERVERS

if TYPE_CHECKING:
    from rich.console import Console

    from channels_harness.report.model import Run

NAME = "bench"
HELP = "measure throughput, latency, handshakes, memory and the layer breakdown"


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
        help=f"comma-separated servers (default: {','.join(FOCUS_SERVERS)} with --quick, "
        "else all installed)",
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
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then profile each server's bare ASGI, async and sync echo with py-spy, in runs "
        "of their own (about 15 s per server and flavour)",
    )
    add_results_argument(parser)


def run(args: argparse.Namespace) -> int:
    from channels_harness.report.console import print_summary
    from channels_harness.servers.reference import FLAVOURS

    console = wide_console()
    if (args.runs is not None and args.runs < 1) or args.processes < 1:
        return refuse(console, "--runs and --processes must be at least 1")
    servers = known_servers(args.servers)
    flavours = names(args.flavours)
    unknown = set(flavours or ()) - set(FLAVOURS)
    if unknown:
        return refuse(console, f"unknown flavour(s) {sorted(unknown)}; choose from {FLAVOURS}")
    options = {
        "quick": args.quick,
        "matrix": args.matrix,
        "servers": servers,
        "flavours": flavours,
        "runs": args.runs,
        "processes": args.processes,
    }
    run_, _ = record(
        console, args, "bench", options, lambda run: _measure(console, run, options, args.profile)
    )
    print_summary(console, run_.data)
    return conclude(console, run_, list_failures=False)


def _measure(console: Console, run: Run, options: dict[str, Any], profile: bool = False) -> None:
    """The bench matrix ``options`` ask for, into ``run``, under a progress bar; then,
    with ``profile``, the profile of every benchmarked server."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

    from channels_harness.experiments.bench.run import run_bench

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with progress_bar(console, "bench", columns) as progress:
        run_bench(
            run,
            quick=options["quick"],
            servers=options["servers"],
            flavours=options["flavours"],
            progress=progress,
            matrix=options["matrix"],
            runs=options["runs"],
            generator_processes=options["processes"],
        )
        if profile:
            from channels_harness.experiments.profile import measure_profiles

            measure_profiles(run, run.data["options"]["bench"]["servers"], progress=progress)
