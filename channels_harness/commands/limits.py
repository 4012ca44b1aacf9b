"""Find how many concurrent idle WebSocket connections each server holds.

The harness raises the open-file limit (inherited by the server it starts),
then opens idle connections in steps up to --max (10,000 by default), and
stops at the first step that fails: refused or timed-out handshakes,
connections dropped, the server dead, or a step over its time bound. Each
server's row (connections held, bytes per connection, what stopped it) goes
into a new run under results/ (kind "limits", section "limits").
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from channels_harness.commands._common import (
    add_target_arguments,
    check_host,
    conclude,
    names,
    record,
    say,
)

if TYPE_CHECKING:
    from channels_harness.report.rows import LimitsRow

NAME = "limits"
HELP = "the most concurrent idle connections each server holds, and memory per connection"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--servers", default=None, help="comma-separated servers (default: every installed one)"
    )
    parser.add_argument("--flavour", default="async", help="echo flavour (default async)")
    parser.add_argument(
        "--max", type=int, default=10_000, help="connections to aim for (default 10000)"
    )
    parser.add_argument(
        "--step", type=int, default=None, help="connections per step (default 1000, or --max/5)"
    )
    parser.add_argument(
        "--step-timeout", type=float, default=60.0, help="seconds per step at most (default 60)"
    )
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.experiments.limits import LimitsPlan, run_limits
    from channels_harness.servers.reference import FLAVOURS
    from channels_harness.servers.registry import SERVERS, get_spec

    console = Console()
    check_host(args)
    servers = names(args.servers) or [n for n, s in SERVERS.items() if s.available()]
    for name in servers:
        get_spec(name)
    step = args.step or min(1000, max(1, args.max // 5))
    if args.max < 1 or step < 1 or args.step_timeout <= 0 or args.flavour not in FLAVOURS:
        console.print(
            f"[red]--max, --step, --step-timeout must be positive; --flavour one of "
            f"{', '.join(FLAVOURS)}[/]"
        )
        return 2
    plan = LimitsPlan(
        servers=servers,
        flavour=args.flavour,
        max_connections=args.max,
        step=step,
        step_timeout_s=args.step_timeout,
        host=args.host,
        allow_remote=args.allow_remote_target,
    )
    options = {"servers": servers, "flavour": args.flavour, "max": args.max, "step": step}
    run_, rows = record(
        console, args, "limits", options, lambda run: run_limits(run, plan, say(console))
    )
    return conclude(console, run_, map(_line, rows))


def _line(row: LimitsRow) -> str:
    per = row.bytes_per_connection
    return (
        f"{row.server:20} held {row.connections_held:>6} of {row.connections_target}"
        f"  {per if per is not None else '-':>8} B/conn  stopped: {row.limit_reason}"
    )
