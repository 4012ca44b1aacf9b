"""List the ASGI servers in the registry, with versions and availability."""

from __future__ import annotations

import argparse
import json

NAME = "servers"
HELP = "list the registered ASGI servers with their versions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from channels_harness.servers.registry import SERVERS

    rows = [{**spec.describe(), "available": spec.available()} for spec in SERVERS.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="ASGI servers")
    columns = ("name", "version", "ws_impl", "available", "description")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    Console().print(table)
    return 0
