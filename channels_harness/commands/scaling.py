"""Measure echo throughput against the number of server processes.

1, 2 and 4 processes of each server (each on its own port) share the Redis
channel layer; the closed loop spreads its connections over them and
measures the echo of each flavour. Every fleet runs twice: all server
processes on the server core with the generator on the other core, then
unpinned. Rows go into a new run under results/ (kind "scaling", section
"scaling"), with each fleet's growth over one process as a note.
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

if TYPE_CHECKING:
    from channels_harness.report.rows import ScalingRow

NAME = "scaling"
HELP = "echo msgs/s with 1, 2 and 4 server processes sharing the Redis layer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--servers", default="daphne,uvicorn,hypercorn", help="(default: daphne,uvicorn,hypercorn)"
    )
    parser.add_argument("--flavours", default="async,sync", help="(default: async,sync)")
    parser.add_argument("--processes", default="1,2,4", help="server processes (default 1,2,4)")
    parser.add_argument(
        "--pinnings",
        default="server core,unpinned",
        help="'server core' (servers on one core, generator on the other) and/or "
        "'unpinned' (default: both)",
    )
    parser.add_argument("--layer", default="redis", help="channel layer (default redis)")
    parser.add_argument("--redis-url", default=None, help="Redis for the Redis layers")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run (default 3)")
    parser.add_argument("--runs", type=int, default=2, help="runs per cell (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="(default 64)")
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.experiments.scaling import PINNINGS, ScalingPlan, run_scaling
    from channels_harness.servers.redis import LAYERS

    console = Console()
    check_host(args)
    servers = server_names(args.servers, default=())
    counts = integers(args.processes, "--processes")
    pinnings = names(args.pinnings) or []
    if set(pinnings) - set(PINNINGS) or args.layer not in LAYERS:
        return refuse(console, f"--pinnings of {PINNINGS}, --layer of {LAYERS}")
    if min(counts, default=0) < 1 or args.runs < 1 or args.connections < 1 or args.duration <= 0:
        return refuse(console, "--processes, --runs, --connections, --duration must be positive")
    plan = ScalingPlan(
        servers=servers,
        flavours=names(args.flavours) or [],
        processes=counts,
        pinnings=pinnings,
        layer=args.layer,
        redis_url=args.redis_url,
        connections=args.connections,
        duration_s=args.duration,
        runs=args.runs,
        host=args.host,
        allow_remote=args.allow_remote_target,
    )
    options = {
        "servers": servers,
        "flavours": list(plan.flavours),
        "processes": counts,
        "pinnings": pinnings,
        "layer": args.layer,
        "connections": args.connections,
        "duration_s": args.duration,
        "runs": args.runs,
    }
    run_, rows = record(
        console, args, "scaling", options, lambda run: run_scaling(run, plan, say(console))
    )
    growth = [note for note in run_.data["notes"] if note.startswith("Scaling (")]
    return conclude(console, run_, [*map(_line, rows), *growth])


def _line(row: ScalingRow) -> str:
    return (
        f"{row.pinning:12} {row.server:10} x{row.processes} {row.flavour:6} "
        f"{row.msgs_per_s:>9.1f} msgs/s  spread {row.spread_pct}%  "
        f"gen-bound {row.generator_bound}"
    )
