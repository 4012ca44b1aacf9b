"""Hold a steady mixed load for minutes and watch the server for growth.

An open-loop echo well below capacity, a connection churn and a room
broadcast run together for --minutes (fractions allowed: 0.5 for CI) per
server and flavour, while the harness samples the server's RSS, open file
descriptors and live consumers every few seconds. Samples go into the run's
"soak" section, one summary per server and flavour with its verdict into
"soak_summary" (kind "soak"). Exit code 1 when a verdict is not "stable", a
cell failed or a ``--threshold`` was missed.

Your own app: ``--app`` soaks it under each of ``--servers``, ``--url`` soaks
a running server; the echo sends your messages on ``--path`` with your
handshake options. Live consumers are not measured for your app, nor RSS and
descriptors for ``--url``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from channels_harness.commands._common import (
    add_app_arguments,
    add_target_arguments,
    add_threshold_arguments,
    check_host,
    check_thresholds,
    conclude,
    names,
    record,
    refuse,
    say,
    server_names,
    target_from_args,
    thresholds_from_args,
)

if TYPE_CHECKING:
    from channels_harness.report.rows import SoakSummaryRow

NAME = "soak"
HELP = "steady mixed load for M minutes; RSS, open fds, live consumers and errors over time"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="per server and flavour (default 10)"
    )
    parser.add_argument(
        "--server", "--servers", dest="servers", default="daphne", help="(default: daphne)"
    )
    parser.add_argument("--flavours", default="async", help="comma-separated (default: async)")
    parser.add_argument(
        "--sample",
        type=float,
        default=None,
        help="seconds between samples (default 5, or less for a soak under a minute)",
    )
    parser.add_argument("--echo-rate", type=float, default=200.0, help="echo msgs/s (default 200)")
    parser.add_argument(
        "--churn-rate", type=float, default=5.0, help="handshakes per second (default 5)"
    )
    parser.add_argument(
        "--layer", default="memory", help="channel layer: memory, redis, redis-pubsub"
    )
    parser.add_argument("--redis-url", default=None, help="Redis for the Redis layers")
    add_target_arguments(parser)
    add_app_arguments(parser, allow_remote=False)
    add_threshold_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.experiments.soak import SoakPlan, run_soak

    console = Console()
    check_host(args)
    thresholds = thresholds_from_args(args)
    target = target_from_args(args)
    if target.own and args.layer != "memory":
        return refuse(
            console, "--layer is the reference app's; your app's settings choose its layer"
        )
    servers = server_names(args.servers, default=())
    flavours = names(args.flavours) or []
    sample = args.sample or (5.0 if args.minutes >= 1 else 2.0)
    problem = _problem(args, flavours, sample)
    if problem:
        return refuse(console, problem)
    plan = SoakPlan(
        minutes=args.minutes,
        servers=servers,
        flavours=flavours,
        sample_s=sample,
        echo_rate=args.echo_rate,
        churn_rate=args.churn_rate,
        layer=args.layer,
        redis_url=args.redis_url,
        host=args.host,
        allow_remote=args.allow_remote_target,
        target=target,
    )
    options = {
        "minutes": args.minutes,
        "servers": servers,
        "flavours": flavours,
        "sample_s": sample,
        "echo_rate": args.echo_rate,
        "churn_rate": args.churn_rate,
        "layer": args.layer,
        **(target.describe() if target.own else {}),
    }
    run_, summaries = record(
        console, args, "soak", options, lambda run: run_soak(run, plan, say(console))
    )
    for summary in summaries:
        console.print(_line(summary), highlight=False)
    unstable = any(row.verdict != "stable" for row in summaries)
    missed = check_thresholds(console, run_, thresholds, args.junit)
    return conclude(console, run_, failed=unstable or missed)


def _problem(args: argparse.Namespace, flavours: list[str], sample: float) -> str | None:
    """Why these options cannot work, or None."""
    from channels_harness.servers.redis import LAYERS
    from channels_harness.servers.reference import FLAVOURS

    bad = set(flavours) - set(FLAVOURS)
    if args.minutes <= 0 or sample <= 0 or args.echo_rate <= 0 or args.churn_rate <= 0 or bad:
        return (
            f"--minutes, --sample and the rates must be positive; flavours of {', '.join(FLAVOURS)}"
        )
    if args.layer not in LAYERS:
        return f"--layer must be one of {', '.join(LAYERS)}"
    return None


def _line(row: SoakSummaryRow) -> str:
    if row.rss_start_bytes is None:
        rss = "RSS not measured"
    else:
        rss = f"RSS {row.rss_start_bytes} -> {row.rss_end_bytes} ({row.rss_growth_pct}%)"
    fds = "fds not measured" if row.fds_start is None else f"fds {row.fds_start} -> {row.fds_end}"
    return f"{row.server} {row.flavour}: {rss}, {fds}, errors {row.errors}: {row.verdict}"
