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

from channels_harness.commands._common import create_run, names

if TYPE_CHECKING:
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
        "--runs", type=int, default=None, help="runs per bench cell (default 3, 1 with --quick)"
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
    parser.add_argument("--results", default=None, help="results folder (default: results/)")


def _plan(args: argparse.Namespace) -> VersionsPlan:
    from pathlib import Path

    from channels_harness.errors import UsageError
    from channels_harness.experiments.versions.envs import default_cache
    from channels_harness.experiments.versions.matrix import parse_with, stacks
    from channels_harness.experiments.versions.plan import VersionsPlan
    from channels_harness.servers.reference import FLAVOURS
    from channels_harness.servers.registry import get_spec

    if not args.pins:
        raise UsageError("name at least one release: --with NAME==VERSION (repeatable)")
    servers = tuple(names(args.servers) or ())
    for name in servers:
        get_spec(name)  # an unknown name exits 2 with the choices
    flavours = tuple(names(args.flavours) or ()) or None
    unknown = sorted(set(flavours or ()) - set(FLAVOURS))
    if unknown or not servers:
        raise UsageError(f"--servers is empty or flavours {unknown} are not among {FLAVOURS}")
    if (args.runs is not None and args.runs < 1) or args.workers < 1:
        raise UsageError("--runs and --workers must be at least 1")
    return VersionsPlan(
        stacks=tuple(stacks(parse_with(args.pins), args.combine)),
        cache=Path(args.env_cache) if args.env_cache else default_cache(),
        servers=servers,
        flavours=flavours,
        quick=args.quick,
        runs=args.runs,
        workers=args.workers,
        installer=args.installer,
        combine=args.combine,
    )


def run(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console

    from channels_harness.experiments.versions.run import prepare, run_versions
    from channels_harness.report import sections
    from channels_harness.report.console import print_failures, print_sections
    from channels_harness.report.publish import publish

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    plan = _plan(args)
    console.print(f"{len(plan.stacks)} stack(s): " + "; ".join(s.label for s in plan.stacks))
    started = time.monotonic()
    envs = prepare(plan, lambda text: console.print(text, highlight=False))
    run_ = create_run(args, "versions", {})
    with run_.recording():

        def progress(description: str, done: int, total: int) -> None:
            console.print(f"[{done}/{total}] {description}", highlight=False)

        run_versions(run_, plan, envs, progress)
        run_.note(f"versions took {time.monotonic() - started:.0f} s")
    publish(run_)
    print_sections(console, run_.data, (sections.VERSIONS, sections.VERSION_CHANGES))
    print_failures(console, run_.data)
    console.print(f"results: {run_.path}", highlight=False)
    return 1 if run_.data["failures"] else 0
