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

from channels_harness.commands._common import add_target_arguments, check_host, create_run, names

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
    import time

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
    run_ = create_run(args, "limits", options)
    started = time.monotonic()
    with run_.recording():
        rows = run_limits(run_, plan, lambda text: console.print(text, highlight=False))
        run_.note(f"limits took {time.monotonic() - started:.0f} s")
    for row in rows:
        per = row.bytes_per_connection
        console.print(
            f"{row.server:20} held {row.connections_held:>6} of {row.connections_target}"
            f"  {per if per is not None else '-':>8} B/conn  stopped: {row.limit_reason}",
            highlight=False,
        )
    for failure in run_.data["failures"]:
        console.print(f"[red]failed[/] {failure['cell']}: {failure['message']}", highlight=False)
    console.print(f"results: {run_.path}", highlight=False)
    return 1 if run_.data["failures"] else 0
