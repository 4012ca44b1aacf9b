"""Run hostile clients against every server and record what each one did.

For each server and attack (abrupt resets mid-frame and mid-handshake,
half-open and idle connections, a byte-by-byte handshake, a flood of
connections, oversized and malformed upgrade requests) the run records what
the server did, whether a canary connection still echoed afterwards and how
many consumers were still live after a bounded wait, into a new run under
results/ (kind "attack", section "attacks"). A server that dies is a row
"server died" with its log tail; the next attack gets a fresh server. Exit
code 1 when a server failed an attack (died, canary dead, consumers leaked)
otherwise than channels_harness/experiments/attacks/known.toml records.

Your own app: ``--app`` (under each of ``--servers``, default daphne and
uvicorn) or ``--url`` (a running ws:// server): every attack goes to ``--path``
with your handshake options, the canary is your first message answered, and
live consumers are not measured.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from channels_harness.commands._common import (
    add_app_arguments,
    add_results_argument,
    conclude,
    names,
    progress_bar,
    record,
    refuse,
    server_names,
    target_from_args,
)
from channels_harness.servers.registry import FOCUS_SERVERS

if TYPE_CHECKING:
    from rich.table import Table

    from channels_harness.experiments.attacks.base import Settings
    from channels_harness.experiments.attacks.run import KnownFailure
    from channels_harness.report.model import Run
    from channels_harness.report.rows import AttackRow

NAME = "attack"
HELP = "hostile clients (resets, half-open, floods, malformed upgrades) against every server"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--servers", default=None, help="comma-separated servers (default: every installed one)"
    )
    parser.add_argument(
        "--attacks", default=None, help="comma-separated attacks (default: all; see --list)"
    )
    parser.add_argument("--list", action="store_true", help="list the attacks and exit")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the tests' small settings: a 300-connection flood, 2 s holds (about 15 s a server)",
    )
    parser.add_argument(
        "--flood",
        type=int,
        default=None,
        help="connections in the flood (default 3000, 300 with --quick)",
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=None,
        help="seconds to hold half-open and idle connections (default 10, 2 with --quick)",
    )
    add_results_argument(parser)
    add_app_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from rich.console import Console

    from channels_harness.experiments.attacks.run import ATTACKS, run_attacks

    console = Console()
    if args.list:
        for name, (_function, description) in ATTACKS.items():
            console.print(f"{name:20} {description}", highlight=False)
        return 0
    settings = _settings(args)
    if settings.flood_connections < 1 or settings.hold_s <= 0:
        return refuse(console, "--flood and --hold must be positive")
    attacks = names(args.attacks) or list(ATTACKS)
    unknown = [name for name in attacks if name not in ATTACKS]
    if unknown:
        return refuse(console, f"unknown attack(s) {', '.join(unknown)}; see --list")
    target = target_from_args(args)
    if target.url is not None and target.url.startswith("wss:"):
        return refuse(console, "attack speaks raw ws:// only: give the server's plain ws:// URL")
    servers = server_names(args.servers, FOCUS_SERVERS if target.own else None)
    if target.url is not None:
        servers = ["url"]
    options = {
        "servers": servers,
        "attacks": attacks,
        **dataclasses.asdict(settings),
        **(target.describe() if target.own else {}),
    }

    def measure(run: Run) -> list[AttackRow]:
        with progress_bar(console, "attacks") as progress:
            return run_attacks(
                run,
                servers=servers,
                attacks=attacks,
                progress=progress,
                settings=settings,
                target=target,
            )

    run_, rows = record(
        console, args, "attack", options, measure, timed=False, announce="attack run"
    )
    table, unexpected = _table(rows, servers, attacks, consumers_measured=not target.own)
    return conclude(console, run_, [table], failed=unexpected > 0)


def _settings(args: argparse.Namespace) -> Settings:
    """The small (``--quick``) or full settings, with ``--flood`` and ``--hold`` applied."""
    import dataclasses

    from channels_harness.experiments.attacks.base import FULL, SMALL

    settings = SMALL if args.quick else FULL
    if args.flood is not None:
        settings = dataclasses.replace(settings, flood_connections=args.flood)
    if args.hold is not None:
        settings = dataclasses.replace(settings, hold_s=args.hold)
    return settings


def _table(
    rows: Sequence[AttackRow],
    servers: Sequence[str],
    attacks: Sequence[str],
    consumers_measured: bool = True,
    recorded: Mapping[tuple[str, str], KnownFailure] | None = None,
) -> tuple[Table, int]:
    """What each server did after each attack, and how many cells went wrong in a way
    ``recorded`` (default: experiments/attacks/known.toml) does not record (a leak
    only where consumers are ``consumers_measured``)."""
    from rich.table import Table

    from channels_harness.experiments.attacks.run import failures, known

    recorded = known() if recorded is None else recorded
    table = Table(title="What each server did (canary / leaked consumers after each attack)")
    table.add_column("attack")
    shown = [name for name in servers if any(row.server == name for row in rows)]
    for name in shown:
        table.add_column(name)
    unexpected = 0
    for attack in attacks:
        cells = []
        for name in shown:
            row = next((r for r in rows if r.server == name and r.attack == attack), None)
            if row is None:
                cells.append("-")
                continue
            found = failures(row, consumers_measured)
            entry = recorded.get((name, attack))
            if found and (entry is None or not entry.matches(found)):
                unexpected += 1
            mark = f" [red]({', '.join(sorted(found))})[/]" if found else ""
            cells.append(f"{row.outcome}{mark}")
        table.add_row(attack, *cells)
    return table, unexpected
