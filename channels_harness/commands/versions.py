"""Measure the same harness against several releases of the stack, and publish one run.

Each ``--with NAME==VERSION`` names one release; the stacks are every
combination of them (``--combine product``, the default) or the first release
of each plus one change at a time (``--combine each``). Every stack gets its
own environment (uv when available, else venv and pip; cached between runs
under ~/.cache/channels-harness/envs) with the harness and the reference app
from this checkout, the versions of requirements.lock for everything the stack
does not name, and runs the conformance suite and the quick bench in it. The
rows go into one run of kind "versions" under results/, each tagged with its
stack's versions, and the report compares every stack with the first:
throughput as a ratio, conformance grades that changed.

A release that does not exist or does not install stops the command with
exit code 2 before any results folder is made. The exit code is otherwise 1
when a measurement failed, 0 when none did.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from channels_harness.commands._common import (
    add_results_argument,
    conclude,
    known_servers,
    names,
    record,
    refuse,
    say,
    wide_console,
)

if TYPE_CHECKING:
    from rich.console import Console

    from channels_harness.experiments.versions.plan import VersionsPlan

NAME = "versions"
HELP = "measure several releases of channels, daphne, uvicorn... and compare them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--with",
        dest="pins",
        action="append",
        default=[],
        metavar="NAME==VERSION",
        help="one release of one distribution; repeat it (e.g. --with channels==4.1.0 "
        "--with channels==4.3.2 --with uvicorn==0.49.0)",
    )
    parser.add_argument(
        "--combine",
        choices=("product", "each"),
        default="product",
        help="product: every combination (default); each: the first release of every "
        "distribution, then one change at a time",
    )
    parser.add_argument("--quick", action="store_true", help="one run per bench cell")
    parser.add_argument(
        "--servers", default="daphne,uvicorn", help="comma-separated (default: daphne,uvicorn)"
    )
    parser.add_argument(
        "--flavours", default=None, help="comma-separated consumer flavours (default: all four)"
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="runs per bench cell (default 7, the fewest that give the ratio of two stacks "
        "a 95%% CI; 1 with --quick)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="pytest-xdist workers for the conformance suite"
    )
    parser.add_argument(
        "--env-cache",
        default=None,
        help="where environments are kept (default: $CHANNELS_HARNESS_ENV_CACHE or "
        "~/.cache/channels-harness/envs)",
    )
    parser.add_argument(
        "--installer",
        choices=("auto", "uv", "pip"),
        default="auto",
        help="how environments are built (default: uv when installed, else venv + pip)",
    )
    add_results_argument(parser)


def _plan(console: Console, args: argparse.Namespace) -> VersionsPlan | int:
    """The plan the options ask for, or the exit code 2 after saying what is wrong."""
    from pathlib import Path

    from channels_harness.experiments.versions.envs import default_cache
    from channels_harness.experiments.versions.matrix import parse_with, stacks
    from channels_harness.experiments.versions.plan import VersionsPlan
    from channels_harness.servers.reference import FLAVOURS

    if not args.pins:
        return refuse(console, "name at least one release: --with NAME==VERSION (repeatable)")
    servers = known_servers(args.servers)
    if not servers:
        return refuse(console, "--servers names no server")
    flavours = names(args.flavours)
    unknown = sorted(set(flavours or ()) - set(FLAVOURS))
    if unknown:
        return refuse(console, f"unknown flavour(s) {unknown}; choose from {FLAVOURS}")
    if (args.runs is not None and args.runs < 1) or args.workers < 1:
        return refuse(console, "--runs and --workers must be at least 1")
    return VersionsPlan(
        stacks=tuple(stacks(parse_with(args.pins), args.combine)),
        cache=Path(args.env_cache) if args.env_cache else default_cache(),
        servers=tuple(servers),
        flavours=tuple(flavours) if flavours else None,
        quick=args.quick,
        runs=args.runs,
        workers=args.workers,
        installer=args.installer,
        combine=args.combine,
    )


def run(args: argparse.Namespace) -> int:
    from channels_harness.experiments.versions.run import prepare, run_versions
    from channels_harness.report import sections
    from channels_harness.report.console import section_table
    from channels_harness.report.publish import publish

    console = wide_console()
    plan = _plan(console, args)
    if isinstance(plan, int):
        return plan
    console.print(f"{len(plan.stacks)} stack(s): " + "; ".join(s.label for s in plan.stacks))
    # Every environment first: a release that does not install stops here, before a run folder.
    envs = prepare(plan, say(console))

    def progress(description: str, done: int, total: int) -> None:
        console.print(f"[{done}/{total}] {description}", highlight=False)

    run_, _ = record(
        console, args, "versions", {}, lambda run: run_versions(run, plan, envs, progress)
    )
    publish(run_)
    shown = [
        section_table(spec, rows)
        for spec in (sections.VERSIONS, sections.VERSION_CHANGES)
        if (rows := spec.rows(run_.data))
    ]
    return conclude(console, run_, shown)
