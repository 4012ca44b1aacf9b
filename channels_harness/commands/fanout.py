"""Measure group fan-out through each channel layer.

For each layer (memory, redis, redis-pubsub), server and consumer flavour, a
room of 1, 10, 100 and 1,000 members gets timestamped broadcasts from one of
them; every member times each delivery. Deliveries per second, delivery
latency percentiles and lost deliveries go into a new run under results/
(kind "fanout", section "fanout"), with the Redis layers' cost against the
in-memory layer as a note. Redis layers use --redis-url, or a local
redis-server the harness starts and stops. Exit code 1 when a cell failed or
lost deliveries.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from channels_harness.commands._common import (
    add_target_arguments,
    check_host,
    conclude,
    integers,
    names,
    record,
    refuse,
    say,
    server_names,
)
from channels_harness.servers.registry import FOCUS_SERVERS

if TYPE_CHECKING:
    from channels_harness.report.rows import FanoutRow

NAME = "fanout"
HELP = "group broadcast deliveries/s and latency per channel layer, server and flavour"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--layers", default="memory,redis,redis-pubsub", help="comma-separated (default: all 3)"
    )
    focus = ",".join(FOCUS_SERVERS)
    parser.add_argument("--servers", default=focus, help=f"(default: {focus})")
    parser.add_argument("--flavours", default="sync,async", help="(default: sync,async)")
    parser.add_argument(
        "--sizes", default="1,10,100,1000", help="group sizes (default: 1,10,100,1000)"
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=None,
        help="broadcasts per run for every size (default: 200 for 1 and 10, 50 for 100, "
        "10 for 1000)",
    )
    parser.add_argument("--runs", type=int, default=2, help="runs per cell (default 2)")
    parser.add_argument("--redis-url", default=None, help="Redis for the Redis layers")
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.experiments.fanout import FanoutPlan, run_fanout
    from channels_harness.servers.redis import LAYERS

    console = Console()
    check_host(args)
    layers = names(args.layers) or []
    sizes = integers(args.sizes, "--sizes")
    if set(layers) - set(LAYERS) or not layers:
        return refuse(console, f"--layers must be some of {', '.join(LAYERS)}")
    if args.runs < 1 or min(sizes, default=0) < 1 or (args.messages or 1) < 1:
        return refuse(console, "--runs, --sizes and --messages must be at least 1")
    servers = server_names(args.servers, default=())
    plan = FanoutPlan(
        layers=layers,
        servers=servers,
        flavours=names(args.flavours) or [],
        group_sizes=sizes,
        messages={size: args.messages for size in sizes} if args.messages else None,
        runs=args.runs,
        host=args.host,
        allow_remote=args.allow_remote_target,
        redis_url=args.redis_url,
    )
    options = {
        "layers": layers,
        "servers": servers,
        "flavours": list(plan.flavours),
        "group_sizes": sizes,
        "messages": {size: plan.messages_for(size) for size in sizes},
        "runs": args.runs,
    }
    run_, rows = record(
        console, args, "fanout", options, lambda run: run_fanout(run, plan, say(console))
    )
    costs = [note for note in run_.data["notes"] if note.startswith("Fan-out cost")]
    lost = any(row.lost for row in rows)
    return conclude(console, run_, [*map(_line, rows), *costs], failed=lost)


def _line(row: FanoutRow) -> str:
    return (
        f"{row.layer:13} {row.server:10} {row.flavour:6} x{row.group_size:<5} "
        f"{row.deliveries_per_s:>9.1f} deliveries/s  p50 {row.p50_ms} ms  "
        f"p99 {row.p99_ms} ms  lost {row.lost}"
    )
