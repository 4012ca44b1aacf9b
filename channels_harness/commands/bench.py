"""Measure the benchmark matrix with the harness's own load generator.

Closed-loop throughput per server x consumer flavour (median of interleaved
runs, repeated until its interval is narrow enough, with the
server's CPU per message and the noise seen meanwhile), plain and over TLS,
open-loop latency, handshake rate, memory per idle connection, blocking
handlers and the layered cost breakdown, into a new run under results/ (kind
"bench"). Prints the Sync vs Async, server vs server and TLS vs plain ratios
with their intervals and the generator's headroom over the best Channels cell.

``--quick`` takes a few minutes; the default ``standard`` matrix about 20 (every
server over TLS too); ``--matrix full`` measures every server, flavour, payload
and concurrency (about an hour on 2 cores).

With ``--app`` (your ASGI app, under each of ``--servers``, default daphne and
uvicorn) or ``--url`` (a server that is already running) it measures your
WebSocket path (``--path``) with your messages instead: closed-loop msgs/s
with p50/p99, open-loop latency at half that peak, and handshakes/s
(:mod:`channels_harness.experiments.appbench`). With ``--scenario-file`` (for
the reference app, ``--app`` or ``--url``) it runs a scenario file instead,
one row per step (:mod:`channels_harness.experiments.scenariobench`).

``--cost`` measures only what a message costs each server, counted under
valgrind: user-space instructions and syscalls per message over a measured
phase, per server x flavour (or for ``--app``/``--scenario-file``), steady to
a fraction of a percent on a busy machine, where wall clock is not
(:mod:`channels_harness.experiments.cost`).

``--threshold EXPR`` (repeatable) checks the run's cells against bounds such as
``p99<50ms``; a missed one exits 1 (:mod:`channels_harness.report.thresholds`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from channels_harness.commands._common import (
    add_app_arguments,
    add_results_argument,
    add_scenario_argument,
    add_threshold_arguments,
    check_thresholds,
    conclude,
    known_servers,
    names,
    progress_bar,
    record,
    refuse,
    scenario_target_from_args,
    target_from_args,
    thresholds_from_args,
    wide_console,
)
from channels_harness.errors import UsageError
from channels_harness.servers.registry import FOCUS_SERVERS

if TYPE_CHECKING:
    from rich.console import Console

    from channels_harness.experiments.target import Target
    from channels_harness.report.model import Run
    from channels_harness.report.thresholds import Threshold

NAME = "bench"
HELP = "measure throughput, latency, handshakes, memory and the layer breakdown"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the quick matrix (a few minutes)")
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
        "--runs",
        type=int,
        default=None,
        help="runs per cell, exactly (default: at least 6, the fewest that give a 95%% "
        "confidence interval, more until it is within 5%% of the median; fewer runs give "
        "the range of the runs instead; caps the breakdown and headroom runs)",
    )
    parser.add_argument(
        "--max-runs",
        type=int,
        default=None,
        help="the most runs per cell while its confidence interval is too wide "
        "(default: the matrix's; 6 for the headline cells of quick and standard)",
    )
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also measure throughput and handshakes over TLS (wss://) "
        "(default: yes, but not with --quick)",
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
    cost = parser.add_argument_group(
        "deterministic cost (valgrind)",
        "--cost counts instead of timing: user-space instructions and syscalls per message "
        "under valgrind's callgrind, no wall-clock cells",
    )
    cost.add_argument(
        "--cost",
        action="store_true",
        help="measure only the cost per message under valgrind (default servers: "
        "daphne, uvicorn, hypercorn, granian; with --quick: daphne and uvicorn, sync and async)",
    )
    cost.add_argument(
        "--cost-messages",
        type=int,
        default=None,
        metavar="N",
        help="messages in the first counted phase; the second has 2N (default 300, quick 100)",
    )
    cost.add_argument(
        "--cost-warmup",
        type=int,
        default=None,
        metavar="N",
        help="messages sent before counting (default 50, quick 30)",
    )
    add_results_argument(parser)
    add_app_arguments(parser)
    add_scenario_argument(parser)
    add_threshold_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from channels_harness.report.console import print_summary
    from channels_harness.servers.reference import FLAVOURS

    console = wide_console()
    if any(value is not None and value < 1 for value in (args.runs, args.max_runs)) or (
        args.processes < 1
    ):
        return refuse(console, "--runs, --max-runs and --processes must be at least 1")
    thresholds = thresholds_from_args(args)
    if args.cost:
        return _bench_cost(console, args, thresholds)
    if args.cost_messages is not None or args.cost_warmup is not None:
        return refuse(console, "--cost-messages and --cost-warmup go with --cost")
    if args.scenario_file is not None:
        return _bench_scenario(console, args, thresholds)
    target = target_from_args(args)
    if target.own:
        return _bench_own(console, args, target, thresholds)
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
        "max_runs": args.max_runs,
        "tls": args.tls,
        "processes": args.processes,
    }
    run_, _ = record(
        console, args, "bench", options, lambda run: _measure(console, run, options, args.profile)
    )
    print_summary(console, run_.data)
    missed = check_thresholds(console, run_, thresholds, args.junit)
    return conclude(console, run_, list_failures=False, failed=missed)


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
            max_runs=options["max_runs"],
            tls=options["tls"],
        )
        if profile:
            from channels_harness.experiments.profile import measure_profiles

            measure_profiles(run, run.data["options"]["bench"]["servers"], progress=progress)


def _bench_own(
    console: Console, args: argparse.Namespace, target: Target, thresholds: list[Threshold]
) -> int:
    """``bench --app`` / ``bench --url``: your path measured per server (or at the URL)."""
    import dataclasses

    from channels_harness.experiments.appbench import QUICK, AppBenchPlan, run_app_bench
    from channels_harness.report.console import print_summary

    if args.flavours or args.matrix:
        return refuse(console, "--flavours and --matrix are the reference app's; leave them out")
    plan = QUICK if args.quick else AppBenchPlan()
    servers = known_servers(args.servers)
    plan = dataclasses.replace(
        plan,
        servers=tuple(servers) if servers else plan.servers,
        runs=args.runs or plan.runs,
        generator_processes=args.processes,
    )
    options = {"quick": args.quick, **target.describe(), **dataclasses.asdict(plan)}

    def measure(run: Run) -> None:
        with progress_bar(console, "bench") as progress:
            run_app_bench(run, target, plan, progress)

    run_, _ = record(console, args, "bench", options, measure)
    print_summary(console, run_.data)
    missed = check_thresholds(console, run_, thresholds, args.junit)
    return conclude(console, run_, list_failures=False, failed=missed)


def _bench_scenario(console: Console, args: argparse.Namespace, thresholds: list[Threshold]) -> int:
    """``bench --scenario-file``: the scenario per server, one row per step."""
    import dataclasses

    from channels_harness.experiments.bench.plan import Rounds
    from channels_harness.experiments.scenariobench import (
        QUICK,
        ScenarioBenchPlan,
        run_scenario_bench,
    )
    from channels_harness.report.console import print_summary

    if args.flavours or args.matrix or args.tls or args.profile:
        raise UsageError(
            "--flavours, --matrix, --tls and --profile are the reference matrix's: "
            "leave them out with --scenario-file"
        )
    target = scenario_target_from_args(args)
    assert target.scenario is not None
    if all(step.count == 0 and step.until is None for step in target.scenario.steps):
        raise UsageError(
            f"scenario file {args.scenario_file}: every [[step]] has count = 0, so nothing "
            "waits for the app; a benchmark needs a step that expects a frame"
        )
    plan = QUICK if args.quick else ScenarioBenchPlan()
    servers = known_servers(args.servers)
    least = args.runs or plan.rounds.minimum
    most = args.runs or max(args.max_runs or plan.rounds.maximum, least)
    plan = dataclasses.replace(
        plan,
        servers=tuple(servers) if servers else plan.servers,
        rounds=Rounds(least, most),
        generator_processes=args.processes,
    )
    options = {"quick": args.quick, **target.describe(), **plan.describe()}

    def measure(run: Run) -> None:
        with progress_bar(console, "bench") as progress:
            run_scenario_bench(run, target, plan, progress)

    run_, _ = record(console, args, "bench", options, measure)
    print_summary(console, run_.data)
    missed = check_thresholds(console, run_, thresholds, args.junit)
    return conclude(console, run_, list_failures=False, failed=missed)


def _bench_cost(console: Console, args: argparse.Namespace, thresholds: list[Threshold]) -> int:
    """``bench --cost``: instructions and syscalls per message under valgrind, per
    server x flavour (or for your app or scenario)."""
    import dataclasses

    from channels_harness.experiments.cost.run import DEFAULT, QUICK, run_cost
    from channels_harness.experiments.cost.valgrind import find_tools
    from channels_harness.report.console import print_summary
    from channels_harness.servers.reference import FLAVOURS

    if thresholds or args.tls or args.profile or args.matrix or args.runs or args.max_runs:
        raise UsageError(
            "--cost counts, it does not time: leave out --threshold, --tls, --profile, "
            "--matrix, --runs and --max-runs"
        )
    if any(v is not None and v < 1 for v in (args.cost_messages, args.cost_warmup)):
        return refuse(console, "--cost-messages and --cost-warmup must be at least 1")
    find_tools()
    target = scenario_target_from_args(args) if args.scenario_file else target_from_args(args)
    flavours = names(args.flavours)
    if flavours and target.own:
        return refuse(console, "--flavours are the reference app's; leave them out with --app")
    unknown = set(flavours or ()) - set(FLAVOURS)
    if unknown:
        return refuse(console, f"unknown flavour(s) {sorted(unknown)}; choose from {FLAVOURS}")
    plan = QUICK if args.quick else DEFAULT
    servers = known_servers(args.servers)
    plan = dataclasses.replace(
        plan,
        servers=tuple(servers) if servers else plan.servers,
        flavours=tuple(flavours) if flavours else plan.flavours,
        messages=args.cost_messages or plan.messages,
        warmup=args.cost_warmup or plan.warmup,
    )
    options = {"quick": args.quick, "cost": plan.describe(), **target.describe()}

    def measure(run: Run) -> None:
        with progress_bar(console, "cost") as progress:
            run_cost(run, target, plan, progress)

    run_, _ = record(console, args, "bench", options, measure)
    print_summary(console, run_.data)
    return conclude(console, run_)
