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

from channels_harness.commands._common import add_target_arguments, check_host, create_run, names

NAME = "fanout"
HELP = "group broadcast deliveries/s and latency per channel layer, server and flavour"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--layers", default="memory,redis,redis-pubsub", help="comma-separated (default: all 3)"
    )
    parser.add_argument("--servers", default="daphne,uvicorn", help="(default: daphne,uvicorn)")
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
    import time

    from rich.console import Console

    from channels_harness.experiments.fanout import FanoutPlan, run_fanout
    from channels_harness.servers.redis import LAYERS
    from channels_harness.servers.registry import get_spec

    console = Console()
    check_host(args)
    layers = names(args.layers) or []
    servers = names(args.servers) or []
    flavours = names(args.flavours) or []
    sizes = [int(size) for size in names(args.sizes) or []]
    if set(layers) - set(LAYERS) or not layers:
        console.print(f"[red]--layers must be some of {', '.join(LAYERS)}[/]")
        return 2
    if args.runs < 1 or min(sizes, default=0) < 1 or (args.messages or 1) < 1:
        console.print("[red]--runs, --sizes and --messages must be at least 1[/]")
        return 2
    for name in servers:
        get_spec(name)
    plan = FanoutPlan(
        layers=layers,
        servers=servers,
        flavours=flavours,
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
        "flavours": flavours,
        "group_sizes": sizes,
        "messages": {size: plan.messages_for(size) for size in sizes},
        "runs": args.runs,
    }
    run_ = create_run(args, "fanout", options)
    started = time.monotonic()
    with run_.recording():
        rows = run_fanout(run_, plan, lambda text: console.print(text, highlight=False))
        run_.note(f"fanout took {time.monotonic() - started:.0f} s")
    for row in rows:
        console.print(
            f"{row.layer:13} {row.server:10} {row.flavour:6} x{row.group_size:<5} "
            f"{row.deliveries_per_s:>9.1f} deliveries/s  p50 {row.p50_ms} ms  "
            f"p99 {row.p99_ms} ms  lost {row.lost}",
            highlight=False,
        )
    for note in run_.data["notes"]:
        if note.startswith("Fan-out cost"):
            console.print(note, highlight=False)
    for failure in run_.data["failures"]:
        console.print(f"[red]failed[/] {failure['cell']}: {failure['message']}", highlight=False)
    console.print(f"results: {run_.path}", highlight=False)
    return 1 if run_.data["failures"] or any(row.lost for row in rows) else 0
