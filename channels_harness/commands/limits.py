"""Find how many concurrent idle WebSocket connections each server really holds.

For each server: bursts of connections started at once (--bursts), then a
climb that opens connections at a pace following the server, measuring every
--step connections (memory, descriptors, a ping to every connection, canary
echo latency), until --max or a real limit of the server (failed or refused
handshakes, dropped connections, no answer, its death, its descriptors, the
machine's memory, a collapsed accept rate), which the row names. Then how
the server behaves at that limit and whether it recovers once the
connections close. Everything goes into a new run under results/ (kind
"limits"; sections limits, capacity, burst, at_limit).

Your own app: ``--app`` climbs it under each of ``--servers`` on ``--path``
with your handshake options (``--origin``, ``--cookie``, ``--login``...); the
canary sends your first message and any reply answers it. Its own settings
choose its channel layer; live consumers are not measured.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from channels_harness.commands._common import (
    add_app_arguments,
    add_target_arguments,
    check_host,
    conclude,
    integers,
    record,
    say,
    server_names,
    target_from_args,
)

if TYPE_CHECKING:
    from channels_harness.experiments.capacity import CapacityPlan
    from channels_harness.report.model import Run

NAME = "limits"
HELP = "how many concurrent idle connections each server holds, and what it does at the limit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--servers", default=None, help="comma-separated servers (default: every installed one)"
    )
    parser.add_argument("--flavour", default="async", help="echo flavour (default async)")
    parser.add_argument(
        "--max", type=int, default=None, help="connections to climb to (default 10000)"
    )
    parser.add_argument(
        "--step", type=int, default=None, help="connections between measurements (default max/20)"
    )
    parser.add_argument(
        "--layer",
        default=None,
        help="channel layer of the app: redis (default, what a deployment runs), memory, "
        "redis-pubsub",
    )
    parser.add_argument("--redis-url", default=None, help="use this Redis (default: start one)")
    parser.add_argument(
        "--bursts",
        default=None,
        help="comma-separated burst sizes, or 'none' (default 100,1000,5000)",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=None,
        help="listen backlog of every server (default: its own)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes of every server on one socket (uvicorn, hypercorn, granian; "
        "default 1): past one process's open-file limit",
    )
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds of climbing per server (default 900)"
    )
    parser.add_argument(
        "--max-rate", type=float, default=None, help="new connections per second at most (2000)"
    )
    parser.add_argument(
        "--generator-processes",
        type=int,
        default=None,
        help="processes holding the connections (default: as many as the open-file limit needs)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the small run: daphne, uvicorn to 2000; bursts 100,500",
    )
    add_target_arguments(parser)
    add_app_arguments(parser, url=False, allow_remote=False)


def _bursts(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    from channels_harness.errors import UsageError

    sizes = tuple(integers(text, "--bursts", "sizes (or 'none')"))
    if any(size < 1 for size in sizes):
        raise UsageError("--bursts sizes must be positive")
    return sizes


def plan_from(args: argparse.Namespace) -> CapacityPlan:
    """The :class:`CapacityPlan` the options ask for; a UsageError for a bad one."""
    from channels_harness.errors import UsageError
    from channels_harness.experiments.capacity import QUICK, CapacityPlan
    from channels_harness.experiments.capacity.plan import with_options
    from channels_harness.servers.redis import LAYERS
    from channels_harness.servers.reference import FLAVOURS
    from channels_harness.servers.registry import get_spec

    base = QUICK if args.quick else CapacityPlan(max_connections=10_000)
    servers = server_names(args.servers, base.servers if args.quick else None)
    for name in servers:
        spec = get_spec(name)
        if args.backlog is not None:
            spec.with_backlog(args.backlog)
        spec.with_workers(args.workers)
    checks = {
        "--max must be positive": args.max is not None and args.max < 1,
        "--step must be positive": args.step is not None and args.step < 1,
        "--budget must be positive": args.budget is not None and args.budget <= 0,
        "--max-rate must be positive": args.max_rate is not None and args.max_rate <= 0,
        "--generator-processes must be positive": (
            args.generator_processes is not None and args.generator_processes < 1
        ),
        f"--flavour must be one of {', '.join(FLAVOURS)}": args.flavour not in FLAVOURS,
        f"--layer must be one of {', '.join(LAYERS)}": args.layer not in (None, *LAYERS),
    }
    for message, bad in checks.items():
        if bad:
            raise UsageError(message)
    target = target_from_args(args)
    if target.own and (args.layer is not None or args.redis_url is not None):
        raise UsageError(
            "--layer and --redis-url are the reference app's; your app's settings "
            "choose its channel layer"
        )
    return with_options(
        base,
        servers=servers,
        flavour=args.flavour,
        max_connections=args.max,
        step=args.step,
        layer="app" if target.own else args.layer,
        redis_url=args.redis_url,
        target=target if target.own else None,
        bursts=_bursts(args.bursts),
        backlog=args.backlog,
        workers=args.workers,
        budget_s=args.budget,
        max_rate=args.max_rate,
        generator_processes=args.generator_processes,
        host=args.host,
        allow_remote=args.allow_remote_target or None,
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.experiments.capacity import run_capacity
    from channels_harness.experiments.capacity.kernel import settings
    from channels_harness.runtime import pinning

    console = Console()
    check_host(args)
    plan = plan_from(args)
    shown = (
        "servers",
        "flavour",
        "layer",
        "max_connections",
        "step",
        "bursts",
        "backlog",
        "workers",
    )
    options = {
        **{name: getattr(plan, name) for name in shown},
        "budget_s": plan.budget_s,
        "quick": args.quick,
        "pinning": pinning.choose().describe(),
        "kernel": settings(),
        **(plan.target.describe() if plan.target is not None else {}),
    }
    run_, _rows = record(
        console, args, "limits", options, lambda run: run_capacity(run, plan, say(console))
    )
    return conclude(console, run_, _lines(run_))


def _lines(run: Run) -> list[str]:
    """One line per burst, then one per server: what it held and how it met its limit."""
    from channels_harness.report.rows import AtLimitRow, BurstRow, LimitsRow

    lines = [
        f"{b.server:20} burst {b.size:>6}: {b.opened} open in {b.all_open_s} s, p99 "
        f"{b.p99_ms} ms, {b.retransmitted} retransmitted  {b.verdict}"
        for b in run.rows(BurstRow)
    ]
    behaviours = {row.server: row for row in run.rows(AtLimitRow)}
    for row in run.rows(LimitsRow):
        per = row.bytes_per_connection
        at = behaviours.get(row.server)
        lines.append(
            f"{row.server:20} held {row.connections_held:>6} of {row.connections_target}"
            f"  {per if per is not None else '-':>8} B/conn  {row.accept_rate}/s  "
            f"limit ({row.limit_side}): {row.limit_reason}"
            + (f"; at the limit: {at.behaviour}, recovered: {at.recovered}" if at else "")
        )
    return lines
