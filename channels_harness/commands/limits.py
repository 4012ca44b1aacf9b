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
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from channels_harness.commands._common import add_target_arguments, check_host, create_run, names

if TYPE_CHECKING:
    from channels_harness.experiments.capacity import CapacityPlan

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
        "--budget", type=float, default=None, help="seconds of climbing per server (default 900)"
    )
    parser.add_argument(
        "--max-rate", type=float, default=None, help="new connections per second at most (2000)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the small run: daphne, uvicorn to 2000; bursts 100,500",
    )
    add_target_arguments(parser)


def _bursts(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    from channels_harness.errors import UsageError

    try:
        sizes = tuple(int(part) for part in names(text) or [])
    except ValueError:
        raise UsageError(f"--bursts takes sizes like 100,1000 or 'none', not {text!r}") from None
    if any(size < 1 for size in sizes):
        raise UsageError("burst sizes must be positive")
    return sizes


def plan_from(args: argparse.Namespace) -> CapacityPlan:
    """The :class:`CapacityPlan` the options ask for; a UsageError for a bad one."""
    from channels_harness.errors import UsageError
    from channels_harness.experiments.capacity import QUICK, CapacityPlan
    from channels_harness.experiments.capacity.plan import with_options
    from channels_harness.servers.redis import LAYERS
    from channels_harness.servers.reference import FLAVOURS
    from channels_harness.servers.registry import SERVERS, get_spec

    base = QUICK if args.quick else CapacityPlan(max_connections=10_000)
    servers = names(args.servers) or (
        None if args.quick else [n for n, s in SERVERS.items() if s.available()]
    )
    for name in servers or base.servers:
        spec = get_spec(name)
        if args.backlog is not None:
            spec.with_backlog(args.backlog)
    checks = {
        "--max must be positive": args.max is not None and args.max < 1,
        "--step must be positive": args.step is not None and args.step < 1,
        "--budget must be positive": args.budget is not None and args.budget <= 0,
        "--max-rate must be positive": args.max_rate is not None and args.max_rate <= 0,
        f"--flavour must be one of {', '.join(FLAVOURS)}": args.flavour not in FLAVOURS,
        f"--layer must be one of {', '.join(LAYERS)}": args.layer not in (None, *LAYERS),
    }
    for message, bad in checks.items():
        if bad:
            raise UsageError(message)
    return with_options(
        base,
        servers=servers,
        flavour=args.flavour,
        max_connections=args.max,
        step=args.step,
        layer=args.layer,
        redis_url=args.redis_url,
        bursts=_bursts(args.bursts),
        backlog=args.backlog,
        budget_s=args.budget,
        max_rate=args.max_rate,
        host=args.host,
        allow_remote=args.allow_remote_target or None,
    )


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from rich.console import Console

    from channels_harness.experiments.capacity import run_capacity
    from channels_harness.experiments.capacity.kernel import settings
    from channels_harness.report.rows import AtLimitRow, BurstRow

    console = Console()
    check_host(args)
    plan = plan_from(args)
    options = {
        **{k: v for k, v in dataclasses.asdict(plan).items() if k != "redis_url"},
        "kernel": settings(),
    }
    run_ = create_run(args, "limits", options)
    started = time.monotonic()
    with run_.recording():
        rows = run_capacity(run_, plan, lambda text: console.print(text, highlight=False))
        run_.note(f"limits took {time.monotonic() - started:.0f} s")
    for burst in run_.rows(BurstRow):
        console.print(
            f"{burst.server:20} burst {burst.size:>6}: {burst.opened} open in "
            f"{burst.all_open_s} s, p99 {burst.p99_ms} ms, {burst.retransmitted} retransmitted"
            f"  {burst.verdict}",
            highlight=False,
        )
    behaviours = {row.server: row for row in run_.rows(AtLimitRow)}
    for row in rows:
        per = row.bytes_per_connection
        at = behaviours.get(row.server)
        console.print(
            f"{row.server:20} held {row.connections_held:>6} of {row.connections_target}"
            f"  {per if per is not None else '-':>8} B/conn  {row.accept_rate}/s  "
            f"limit ({row.limit_side}): {row.limit_reason}"
            + (f"; at the limit: {at.behaviour}, recovered: {at.recovered}" if at else ""),
            highlight=False,
        )
    for failure in run_.data["failures"]:
        console.print(f"[red]failed[/] {failure['cell']}: {failure['message']}", highlight=False)
    console.print(f"results: {run_.path}", highlight=False)
    return 1 if run_.data["failures"] else 0
