"""Run everything and publish one run under results/: the conformance suite,
the locust load comparison, the benchmark matrix and the hostile clients, with
progress as it goes.

``--quick`` is the short run for CI and first-time users; the default is the
full run. Ctrl-C (or a crash) keeps every finished cell, marks the run
incomplete and still renders its report.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

NAME = "all"
HELP = "run conformance, load, benchmarks and attacks; publish a report under results/"

STAGES = ("conformance", "load", "bench", "attacks")
QUICK_SERVERS = ("daphne", "uvicorn")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the short run (a few minutes)")
    parser.add_argument(
        "--servers",
        default=None,
        help="comma-separated servers for load and bench "
        f"(default: {','.join(QUICK_SERVERS)} with --quick, every installed one otherwise)",
    )
    parser.add_argument(
        "--conformance-servers",
        default=None,
        help="comma-separated servers for the conformance suite (and the attacks of a full "
        "run; a quick run attacks the --servers) (default: every installed one)",
    )
    parser.add_argument(
        "--flavours", default=None, help="comma-separated consumer flavours (default: all four)"
    )
    parser.add_argument(
        "--stages",
        default=",".join(STAGES),
        help=f"comma-separated stages to run, in this order: {','.join(STAGES)} (default: all)",
    )
    parser.add_argument(
        "--results",
        "--results-dir",
        dest="results_dir",
        default=None,
        help="results folder the run folder goes into (default: results/)",
    )
    parser.add_argument(
        "--strict-spec", action="store_true", help="grade known deviations as failures"
    )


def _names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.markdown import Markdown
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from channels_harness.report.markdown import verdict
    from channels_harness.report.model import Run
    from channels_harness.report.publish import publish
    from channels_harness.runtime import pinning
    from channels_harness.runtime.paths import RESULTS_DIR
    from channels_harness.servers.reference import FLAVOURS
    from channels_harness.servers.registry import SERVERS, get_spec

    console = Console()
    stages = _names(args.stages) or list(STAGES)
    unknown = set(stages) - set(STAGES)
    if unknown:
        console.print(f"[red]unknown stage(s) {sorted(unknown)}; choose from {STAGES}[/]")
        return 2
    available = [name for name, spec in SERVERS.items() if spec.available()]
    servers = _names(args.servers) or (
        [s for s in QUICK_SERVERS if s in available] if args.quick else available
    )
    conformance_servers = _names(args.conformance_servers) or available
    for name in {*servers, *conformance_servers}:
        get_spec(name)  # a clear error for a wrong name, before anything starts
    flavours = _names(args.flavours) or list(FLAVOURS)
    results_dir = Path(args.results_dir) if args.results_dir else RESULTS_DIR

    options: dict[str, Any] = {
        "quick": args.quick,
        "stages": stages,
        "servers": servers,
        "conformance_servers": conformance_servers,
        "flavours": flavours,
        "strict_spec": args.strict_spec,
        "pinning": pinning.choose().describe(),
    }
    run_ = Run.create(results_dir, kind="all-quick" if args.quick else "all", options=options)
    console.print(f"run folder: {run_.path}")
    started = time.monotonic()
    status = "incomplete"
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[stage]:<12}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=console,
        ) as progress:
            tasks = {
                stage: progress.add_task("waiting", total=None, stage=stage, start=False)
                for stage in stages
            }

            def reporter(stage: str) -> Callable[[str, int, int], None]:
                def report(description: str, done: int, total: int) -> None:
                    progress.update(
                        tasks[stage], description=description, completed=done, total=total
                    )

                return report

            for stage in stages:
                progress.start_task(tasks[stage])
                progress.update(tasks[stage], description="running")
                ok = _run_stage(
                    stage, run_, args, servers, conformance_servers, flavours, reporter(stage)
                )
                task = progress.tasks[tasks[stage]]
                total = task.total or 1
                progress.update(
                    tasks[stage],
                    total=total,
                    completed=total,
                    description="done" if ok else "[red]failed (see report)[/]",
                )
        status = "complete"
    finally:
        run_.note(f"wall time of the whole run: {time.monotonic() - started:.0f} s")
        run_.finish(status)
        written = publish(run_)
        console.print(Markdown(verdict(run_.data)))
        console.print(f"report: {written['report.md']}")
        console.print(f"html:   {written['report.html']}")
        console.print(f"index:  {written['index']}")
    return 0 if not run_.data["failures"] else 1


def _run_stage(
    stage: str,
    run_: Any,
    args: argparse.Namespace,
    servers: list[str],
    conformance_servers: list[str],
    flavours: list[str],
    progress: Callable[[str, int, int], None],
) -> bool:
    """Run one stage into ``run_``; a stage that raises is recorded and the run goes on
    (Ctrl-C is not caught: it ends the run as incomplete)."""
    try:
        if stage == "conformance":
            from channels_harness.experiments.conformance.runner import run_suite

            progress("pytest conformance/", 0, 1)
            code = run_suite(
                run_,
                servers=conformance_servers,
                flavours=flavours,
                strict=args.strict_spec,
                workers=2,
            )
            progress(f"pytest exited {code}", 1, 1)
            return code == 0
        if stage == "load":
            from channels_harness.experiments.load.run import run_load

            run_load(
                run_,
                servers=servers,
                flavours=flavours,
                scenario="echo",
                users=50,
                duration_s=5 if args.quick else 10,
                processes=1,
                progress=progress,
            )
            return True
        if stage == "bench":
            from channels_harness.experiments.bench.run import run_bench

            run_bench(run_, quick=args.quick, servers=servers, flavours=flavours, progress=progress)
            return True
        from channels_harness.experiments.attacks.base import SMALL
        from channels_harness.experiments.attacks.run import run_attacks

        # The full run keeps the small settings (300-connection flood, 2 s holds) so it
        # stays under 20 minutes; `channels-harness attack` runs the big ones.
        run_attacks(
            run_,
            servers=servers if args.quick else conformance_servers,
            progress=progress,
            settings=SMALL,
        )
        return True
    except Exception as exc:  # recorded in the run, shown in the report
        import traceback

        run_.fail(stage, {"stage": stage}, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        return False
