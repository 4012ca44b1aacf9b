"""The ``channels-harness`` command line.

Every module in :mod:`channels_harness.commands` is one subcommand: it defines
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``, and
imports anything heavy (locust, matplotlib) inside ``run`` so that one command
never pays for another's imports.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from rich.console import Console
from rich.markup import escape

from channels_harness import __version__, commands
from channels_harness.errors import HarnessError
from channels_harness.servers.process import live, stop_all

err = Console(stderr=True, soft_wrap=True)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per module in ``commands``."""
    parser = argparse.ArgumentParser(
        prog="channels-harness",
        description="Load and conformance harness for Django Channels WebSocket apps.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Unwind like Ctrl-C so every context manager stops what it started.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the exit code is 0 on success, 2 on a usage or
    server error, 130 when interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Called in-process (tests), main() must not stop what its caller started.
    already_running = live()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: stopping everything this run started[/]")
        return 130
    except HarnessError as exc:
        # The message is text, not markup: "[[step]]" must print as written.
        err.print(f"[red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        return exc.exit_code
    finally:
        stop_all(keep=already_running)
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
