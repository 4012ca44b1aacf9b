"""Run the reference app under one ASGI server in the foreground.

Prints the WebSocket URLs it serves (point ``locust -f locustfiles/ --host`` at
the base URL), then waits until Ctrl-C, which stops the server and every
process it started.
"""

from __future__ import annotations

import argparse
import contextlib
import time

from channels_harness.commands._common import integers

NAME = "serve"
HELP = "serve the reference app under one server until Ctrl-C"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from channels_harness.servers.redis import LAYERS
    from channels_harness.servers.registry import SERVERS

    parser.add_argument(
        "--server", default="daphne", help=f"one of: {', '.join(SERVERS)} (default: daphne)"
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("--cpus", default=None, help="pin the server to these cores, e.g. 0 or 0,1")
    parser.add_argument(
        "--layer",
        choices=LAYERS,
        default="memory",
        help="channel layer of the app (default: memory)",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Redis server for the Redis layers (default: start a local redis-server)",
    )


def parse_cpus(text: str | None) -> frozenset[int] | None:
    """``"0,1"`` -> ``{0, 1}``; None stays None; UsageError for anything else."""
    cores = integers(text, "--cpus", what="core numbers")
    return frozenset(cores) if cores else None


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.servers.process import ServerProcess
    from channels_harness.servers.redis import layer_env, redis_for
    from channels_harness.servers.reference import endpoint_paths
    from channels_harness.servers.registry import get_spec

    console = Console()
    spec = get_spec(args.server)
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_for(args.layer, args.redis_url))
        env = layer_env(args.layer, redis_url)
        server = stack.enter_context(
            ServerProcess(spec, port=args.port, cpus=parse_cpus(args.cpus), env=env)
        )
        if redis_url:
            console.print(f"channel layer: {args.layer} at {redis_url}")
        console.print(
            f"[bold]{spec.name} {spec.version()}[/] serving the reference app "
            f"(pid {server.pid}, started in {server.startup_s:.2f}s)"
        )
        console.print(f"command: {' '.join(server.command)}", highlight=False)
        console.print(f"base URL for locust --host: ws://{server.host}:{server.port}")
        for path in endpoint_paths():
            console.print(f"  {server.ws_url(path)}", highlight=False)
        console.print("Ctrl-C stops it.")
        while server.running:
            time.sleep(0.2)
        code = server.popen.returncode if server.popen else None
        console.print(f"[red]{spec.name} exited on its own[/] (code {code})")
        console.print(server.log_tail(), highlight=False, markup=False)
        return 1
