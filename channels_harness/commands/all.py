"""Run everything and publish one run under results/: the conformance suite,
the locust load comparison, the benchmark matrix, the cost per message counted
under valgrind and the hostile clients, with progress as it goes.

``--quick`` is the short run for CI and first-time users; the default is the
full run. Ctrl-C (or a crash) keeps every finished cell, marks the run
incomplete and still renders its report.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels_harness.commands._common import (
    Step,
    create_run,
    known_servers,
    names,
    refuse,
    server_names,
)
from channels_harness.servers.registry import FOCUS_SERVERS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from channels_harness.report.model import Run

NAME = "all"
HELP = "run conformance, load, benchmarks and attacks; publish a report under results/"

# Every stage, in the order a run takes them; a quick run leaves out the slow ones.
STAGES = ("conformance", "load", "bench", "cost", "profile", "capacity", "attacks")
QUICK_STAGES = ("conformance", "load", "bench", "cost", "attacks")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the short run (a few minutes)")
    parser.add_argument(
        "--servers",
        default=None,
        help="comma-separated servers for load and bench "
        f"(default: {','.join(FOCUS_SERVERS)} with --quick, every installed one otherwise)",
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
        default=None,
        help=f"comma-separated stages to run, in this order: {','.join(STAGES)} "
        f"(default: all of them; with --quick: {','.join(QUICK_STAGES)})",
    )
    parser.add_argument(
        "--results",
        "--results-dir",
        dest="results",
        metavar="RESULTS_DIR",
        default=None,
        help="results folder the run folder goes into (default: results/)",
    )
    parser.add_argument(
        "--strict-spec", action="store_true", help="grade known deviations as failures"
    )


@dataclass(frozen=True)
class AllPlan:
    """The stages to run, in order, and what each one measures."""

    quick: bool
    stages: Sequence[str]
    servers: Sequence[str]
    conformance_servers: Sequence[str]
    flavours: Sequence[str]
    strict_spec: bool

    @property
    def attacked(self) -> Sequence[str]:
        """The servers the attacks stage attacks: the --servers of a quick run, else
        the conformance servers."""
        return self.servers if self.quick else self.conformance_servers


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.runtime import pinning

    console = Console()
    stages = names(args.stages) or list(QUICK_STAGES if args.quick else STAGES)
    unknown = set(stages) - set(STAGES)
    if unknown:
        return refuse(console, f"unknown stage(s) {sorted(unknown)}; choose from {STAGES}")
    plan = _plan(args, stages)
    options = {
        "quick": plan.quick,
        "stages": stages,
        "servers": plan.servers,
        "conformance_servers": plan.conformance_servers,
        "flavours": plan.flavours,
        "strict_spec": plan.strict_spec,
        "pinning": pinning.choose().describe(),
    }
    run_ = create_run(args, "all-quick" if plan.quick else "all", options)
    console.print(f"run folder: {run_.path}")
    started = time.monotonic()
    status = "incomplete"
    try:
        _run_stages(console, run_, plan)
        status = "complete"
    finally:
        _publish(console, run_, status, started)
    return 0 if not run_.data["failures"] else 1


def _plan(args: argparse.Namespace, stages: list[str]) -> AllPlan:
    """The plan the options ask for; an unknown server name raises before anything starts."""
    from channels_harness.servers.reference import FLAVOURS

    available = server_names(None)
    servers = known_servers(args.servers) or (
        [s for s in FOCUS_SERVERS if s in available] if args.quick else available
    )
    return AllPlan(
        quick=args.quick,
        stages=stages,
        servers=servers,
        conformance_servers=server_names(args.conformance_servers),
        flavours=names(args.flavours) or list(FLAVOURS),
        strict_spec=args.strict_spec,
    )


def _run_stages(console: Console, run_: Run, plan: AllPlan) -> None:
    """Run each stage in order under one progress display, a row per stage."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
            for stage in plan.stages
        }
        for stage in plan.stages:
            task = tasks[stage]
            progress.start_task(task)
            progress.update(task, description="running")
            ok = _run_stage(stage, run_, plan, _reporter(progress, task))
            total = progress.tasks[task].total or 1
            progress.update(
                task,
                total=total,
                completed=total,
                description="done" if ok else "[red]failed (see report)[/]",
            )


def _reporter(progress: Progress, task: TaskID) -> Step:
    """The progress callback of the stage shown by ``task``."""

    def report(description: str, done: int, total: int) -> None:
        progress.update(task, description=description, completed=done, total=total)

    return report


def _publish(console: Console, run_: Run, status: str, started: float) -> None:
    """Note the wall time, finish the run as ``status``, render and index it, and print
    the verdict and where the report went."""
    from rich.markdown import Markdown

    from channels_harness.report.markdown import verdict
    from channels_harness.report.publish import publish

    run_.note(f"wall time of the whole run: {time.monotonic() - started:.0f} s")
    run_.finish(status)
    written = publish(run_)
    console.print(Markdown(verdict(run_.data)))
    console.print(f"report: {written['report.md']}")
    console.print(f"html:   {written['report.html']}")
    console.print(f"index:  {written['index']}")


def _run_stage(stage: str, run_: Run, plan: AllPlan, progress: Step) -> bool:
    """Run one stage into ``run_``; a stage that raises is recorded and the run goes on
    (Ctrl-C is not caught: it ends the run as incomplete)."""
    try:
        return _STAGE_RUNNERS[stage](run_, plan, progress)
    except Exception as exc:  # recorded in the run, shown in the report
        import traceback

        run_.fail(stage, {"stage": stage}, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        return False


def _conformance(run_: Run, plan: AllPlan, progress: Step) -> bool:
    from channels_harness.experiments.conformance.runner import run_suite

    progress("pytest conformance/", 0, 1)
    code = run_suite(
        run_,
        servers=plan.conformance_servers,
        flavours=plan.flavours,
        strict=plan.strict_spec,
        workers=2,
    )
    progress(f"pytest exited {code}", 1, 1)
    return code == 0


def _load(run_: Run, plan: AllPlan, progress: Step) -> bool:
    from channels_harness.experiments.load.run import run_load

    run_load(
        run_,
        servers=plan.servers,
        flavours=plan.flavours,
        scenario="echo",
        users=50,
        duration_s=5 if plan.quick else 10,
        processes=1,
        progress=progress,
    )
    return True


def _bench(run_: Run, plan: AllPlan, progress: Step) -> bool:
    from channels_harness.experiments.bench.run import run_bench

    run_bench(
        run_, quick=plan.quick, servers=plan.servers, flavours=plan.flavours, progress=progress
    )
    return True


def _cost(run_: Run, plan: AllPlan, progress: Step) -> bool:
    import dataclasses

    from channels_harness.experiments.cost.run import DEFAULT, QUICK, run_cost
    from channels_harness.experiments.target import Target

    # Quick: sync and async on the focus servers, 100 and 200 counted messages (about a
    # minute); the full run: every flavour, 300 and 600.
    preset = QUICK if plan.quick else DEFAULT
    flavours = tuple(f for f in preset.flavours if f in plan.flavours) or preset.flavours
    cost = dataclasses.replace(preset, servers=tuple(plan.servers), flavours=flavours)
    rows = run_cost(run_, Target(), cost, progress)
    return not any(row.error for row in rows)


def _profile(run_: Run, plan: AllPlan, progress: Step) -> bool:
    from channels_harness.experiments.profile import measure_profiles

    measure_profiles(run_, plan.servers, progress=progress)
    return True


def _capacity(run_: Run, plan: AllPlan, progress: Step) -> bool:
    from channels_harness.experiments.capacity import CapacityPlan, run_capacity

    # Every server to 50,000 idle connections or its named limit; then uvicorn with
    # three workers on one socket, past one process's open-file limit.
    plans = [CapacityPlan(servers=tuple(plan.servers), max_connections=50_000)]
    if "uvicorn" in plan.servers:
        plans.append(
            CapacityPlan(servers=("uvicorn",), max_connections=50_000, workers=3, bursts=())
        )
    for index, capacity in enumerate(plans):

        def say(text: str, done: int = index) -> None:
            progress(text, done, len(plans))

        run_capacity(run_, capacity, say)
    progress("capacity done", len(plans), len(plans))
    return True


def _attacks(run_: Run, plan: AllPlan, progress: Step) -> bool:
    from channels_harness.experiments.attacks.base import SMALL
    from channels_harness.experiments.attacks.run import run_attacks

    # The full run keeps the small settings (300-connection flood, 2 s holds) so it
    # stays under 20 minutes; `channels-harness attack` runs the big ones.
    run_attacks(run_, servers=plan.attacked, progress=progress, settings=SMALL)
    return True


_STAGE_RUNNERS: dict[str, Callable[[Run, AllPlan, Step], bool]] = {
    "conformance": _conformance,
    "load": _load,
    "bench": _bench,
    "cost": _cost,
    "profile": _profile,
    "capacity": _capacity,
    "attacks": _attacks,
}
