"""Run the reference app, or your own (``--app``), under one ASGI server in the foreground.

Prints the WebSocket URLs it serves (point ``locust -f locustfiles/ --host`` at
the base URL), then waits until Ctrl-C, which stops the server and every
process it started. Your app runs in a clean environment: ``--app-dir`` on its
path and as its working directory, ``--settings`` as its
``DJANGO_SETTINGS_MODULE``; it is up when a WebSocket handshake at ``--path``
gets any HTTP answer (with ``--origin`` and the other handshake options), or
when ``GET --ready-path`` answers, or else on any HTTP answer on ``/``. Then
``serve`` tries a handshake at ``--path`` (``/`` without one) and says what a
client needs: nothing more, an allowed Origin, a login, or a path the app
routes. It serves either way.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import TYPE_CHECKING

from channels_harness.commands._common import (
    add_app_arguments,
    integers,
    target_from_args,
    wide_console,
)
from channels_harness.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from channels_harness.experiments.target import Target
    from channels_harness.protocol.traffic import Traffic
    from channels_harness.servers.process import ServerProcess

NAME = "serve"
HELP = "serve the reference app (or yours, --app) under one server until Ctrl-C"


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
        help="channel layer of the reference app (default: memory)",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Redis server for the Redis layers (default: start a local redis-server)",
    )
    add_app_arguments(parser, url=False, allow_remote=False)


def parse_cpus(text: str | None) -> frozenset[int] | None:
    """``"0,1"`` -> ``{0, 1}``; None stays None; UsageError for anything else."""
    cores = integers(text, "--cpus", what="core numbers")
    return frozenset(cores) if cores else None


def check_port(port: int | None) -> int | None:
    """``port`` if it is a TCP port number (or None); UsageError otherwise."""
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port: choose one from 1 to 65535")
    return port


def run(args: argparse.Namespace) -> int:
    from channels_harness.servers.redis import layer_env, redis_for
    from channels_harness.servers.registry import get_spec

    console = wide_console()
    spec = get_spec(args.server)
    port = check_port(args.port)
    cpus = parse_cpus(args.cpus)
    target = target_from_args(args, require_path=False)
    if target.own and args.layer != "memory":
        raise UsageError("--layer is the reference app's; your app's settings choose its layer")
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_for(args.layer, args.redis_url))
        env = layer_env(args.layer, redis_url)
        server = stack.enter_context(
            target.server(spec.name, serving=True, port=port, cpus=cpus, env=env)
        )
        if redis_url:
            console.print(f"channel layer: {args.layer} at {redis_url}")
        _announce(console, server, target)
        while server.running:
            time.sleep(0.2)
        code = server.popen.returncode if server.popen else None
        console.print(f"[red]{spec.name} exited on its own[/] (code {code})")
        console.print(server.log_tail(), highlight=False, markup=False)
        return 1


def _announce(console: Console, server: ServerProcess, target: Target) -> None:
    """What is served where, and how to stop it."""
    from channels_harness.servers.reference import endpoint_paths

    what = f"your app {target.app}" if target.own else "the reference app"
    console.print(
        f"[bold]{server.name} {server.version}[/] serving {what} "
        f"(pid {server.pid}, started in {server.startup_s:.2f}s)",
        highlight=False,
    )
    console.print(f"command: {' '.join(server.command)}", highlight=False)
    console.print(f"base URL for locust --host: ws://{server.host}:{server.port}", highlight=False)
    if target.own:
        from channels_harness.servers.userapp import handshake_status

        console.print(f"  {server.http_url('/')}", highlight=False)
        if target.path:
            console.print(f"  {server.ws_url(target.path)}", highlight=False)
        path = (target.path or "/").replace("{conn}", "0")
        assert server.port is not None  # a started server has its port
        status = handshake_status(server.host, server.port, path, target.traffic)
        console.print(
            client_needs(path, status, target.traffic, bool(target.path)), highlight=False
        )
    else:
        for path in endpoint_paths():
            console.print(f"  {server.ws_url(path)}", highlight=False)
    console.print("Ctrl-C stops it.")


def client_needs(path: str, status: int | None, traffic: Traffic, path_given: bool) -> str:
    """One line: what the handshake at ``path`` (made with ``traffic``'s headers) got
    (``status``, None for no HTTP answer), and what a client needs to connect."""
    origin = traffic.header("Origin")
    head = f"WebSocket handshake at {path}"
    if status == 101:
        return f"{head}: accepted" + (f" with Origin {origin}" if origin else "")
    if status is None:
        return f"{head}: no HTTP answer; check the server's log, and that it serves WebSockets"
    head = f"{head}: refused with HTTP {status}"
    if status == 403 and origin is None:
        return (
            f"{head}: the app checks the Origin (AllowedHostsOriginValidator); a client must send "
            "an Origin header with a host in ALLOWED_HOSTS, e.g. http://127.0.0.1 (the harness's "
            "--origin, locust's --ws-origin)"
        )
    if status == 403:
        return (
            f"{head} even with Origin {origin}: ALLOWED_HOSTS must hold its host, and a consumer "
            "that needs a user needs a logged-in session (--login USER:PASSWORD --login-url PATH)"
        )
    if not path_given:
        return (
            f"{head}: / is not a WebSocket route of the app; a client needs the path of one "
            "(--path /ws/... checks it here)"
        )
    return f"{head}: is {path} a WebSocket route of the app (and its URL pattern's form)?"
