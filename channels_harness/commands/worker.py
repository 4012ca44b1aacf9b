"""Send load from this host for a `channels-harness load` run on another one.

On the master host::

    channels-harness load --master-bind 10.0.0.5 --expect-workers 2 --server-bind 10.0.0.5

On each load host (only this package installed; nothing else to copy)::

    channels-harness worker --master 10.0.0.5

The worker waits up to ``--wait`` seconds for the master, then runs a locust
worker for each cell of the run: the master sends the locustfile, the scenario
file, the messages and every option. It exits 0 once the run is over (no master
for ``--wait`` seconds after at least one), 2 with one line when no master ever
answered. The master port is unauthenticated and a worker runs the locustfile
its master sends: use both only on a network you trust (docs/distributed.md).
"""

from __future__ import annotations

import argparse

NAME = "worker"
HELP = "run locust workers here for a `load --master-bind` run on another host"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from channels_harness.experiments.load.workers import DEFAULT_MASTER_PORT, DEFAULT_WAIT_S

    parser.add_argument(
        "--master",
        required=True,
        metavar="HOST[:PORT]",
        help=f"the host running `channels-harness load --master-bind` (port {DEFAULT_MASTER_PORT} "
        "unless given; IPv6: [ADDR]:PORT)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help=f"how long to wait for the master, and for its next cell (default {DEFAULT_WAIT_S:g})",
    )
    parser.add_argument(
        "--cells",
        type=int,
        default=None,
        metavar="N",
        help="stop after serving N cells (default: until no master comes for --wait seconds)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.errors import UsageError
    from channels_harness.experiments.load.remote import WorkerPlan, serve
    from channels_harness.experiments.load.workers import split_address

    if args.wait <= 0 or (args.cells is not None and args.cells < 1):
        raise UsageError("--wait must be above 0 and --cells at least 1")
    host, port = split_address(args.master, "--master")
    console = Console()
    plan = WorkerPlan(host, port, args.wait, args.cells)
    served = serve(plan, lambda line: console.print(f"worker: {line}", highlight=False))
    console.print(f"worker: served {served} cell(s) of {plan.address}", highlight=False)
    return 0
