"""Run hostile clients against every server and record what each one did.

For each server and attack (abrupt resets mid-frame and mid-handshake,
half-open and idle connections, a byte-by-byte handshake, a flood of
connections, oversized and malformed upgrade requests) the run records what
the server did, whether a canary connection still echoed afterwards and how
many consumers were still live after a bounded wait, into a new run under
results/ (kind "attack", section "attacks"). A server that dies is a row
"server died" with its log tail; the next attack gets a fresh server. Exit
code 1 when a canary failed or consumers leaked where
channels_harness/experiments/attacks/known.toml does not record it.
"""

from __future__ import annotations

import argparse

NAME = "attack"
HELP = "hostile clients (resets, half-open, floods, malformed upgrades) against every server"


def _names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


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
    parser.add_argument("--results", default=None, help="results folder (default: results/)")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from channels_harness.experiments.attacks.base import FULL, SMALL
    from channels_harness.experiments.attacks.run import ATTACKS, known, run_attacks
    from channels_harness.report.model import Run
    from channels_harness.runtime.paths import RESULTS_DIR
    from channels_harness.servers.registry import SERVERS, get_spec

    console = Console()
    if args.list:
        for name, (_function, description) in ATTACKS.items():
            console.print(f"{name:20} {description}", highlight=False)
        return 0
    settings = SMALL if args.quick else FULL
    if args.flood is not None:
        settings = dataclasses.replace(settings, flood_connections=args.flood)
    if args.hold is not None:
        settings = dataclasses.replace(settings, hold_s=args.hold)
    if settings.flood_connections < 1 or settings.hold_s <= 0:
        console.print("[red]--flood and --hold must be positive[/]")
        return 2
    attacks = _names(args.attacks) or list(ATTACKS)
    unknown = [name for name in attacks if name not in ATTACKS]
    if unknown:
        console.print(f"[red]unknown attack(s) {', '.join(unknown)}[/]; see --list")
        return 2
    servers = _names(args.servers) or [n for n, s in SERVERS.items() if s.available()]
    for name in servers:
        get_spec(name)  # an unknown name fails here, before a run folder exists
    run_ = Run.create(
        Path(args.results) if args.results else RESULTS_DIR,
        kind="attack",
        options={"servers": servers, "attacks": attacks, **dataclasses.asdict(settings)},
    )
    console.print(f"attack run: {run_.path}", highlight=False)
    with run_.recording(), Progress(console=console, transient=True) as bar:
        task = bar.add_task("attacks", total=None)

        def progress(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        rows = run_attacks(
            run_, servers=servers, attacks=attacks, progress=progress, settings=settings
        )
    recorded = known()
    table = Table(title="What each server did (canary / leaked consumers after each attack)")
    table.add_column("attack")
    names = [name for name in servers if any(row.server == name for row in rows)]
    for name in names:
        table.add_column(name)
    unexpected = 0
    for attack in attacks:
        cells = []
        for name in names:
            row = next((r for r in rows if r.server == name and r.attack == attack), None)
            if row is None:
                cells.append("-")
                continue
            bad = not row.canary_ok or row.leaked_consumers != 0
            if bad and (name, attack) not in recorded:
                unexpected += 1
            mark = "" if not bad else " [red](canary dead or leak)[/]"
            cells.append(f"{row.outcome}{mark}")
        table.add_row(attack, *cells)
    console.print(table)
    for failure in run_.data["failures"]:
        console.print(f"[red]failed[/] {failure['cell']}: {failure['message']}", highlight=False)
    console.print(f"results: {run_.path}", highlight=False)
    return 1 if unexpected or run_.data["failures"] else 0
