"""Run the conformance suites against every server and record the graded matrix.

Runs ``pytest conformance/`` in a subprocess (pytest-xdist, 2 workers by
default) into a new run under results/ (kind "conformance"): the rows in
data.json, matrix.json, matrix.md and pytest.log in its ``conformance/``
folder. Prints a per-server summary of grades and the cases that deviate.
The exit code is pytest's: 0 when every server behaves as the spec or as
conformance/deviations.toml records.

``--url ws://HOST:PORT/PATH`` runs the wire-only cases against the echo
endpoint PATH of a server that is already running (the cases that need the
reference app's probe consumer are N/A there); ``--server-name NAME`` says
which server it is, so that the deviations recorded for NAME apply (without
it the rows say ``url`` and every deviation is new). ``--deviations FILE``
reads the known deviations from FILE instead of conformance/deviations.toml.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from channels_harness.commands._common import add_results_argument, known_servers, names, record
from channels_harness.errors import UsageError

if TYPE_CHECKING:
    from rich.table import Table

NAME = "conformance"
HELP = "run the ASGI/RFC 6455 conformance suites and write the graded matrix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--servers", default=None, help="comma-separated servers (default: every installed one)"
    )
    parser.add_argument(
        "--flavours", default=None, help="comma-separated consumer flavours (default: all)"
    )
    parser.add_argument(
        "--strict-spec",
        action="store_true",
        help="fail on every deviation, also the ones recorded in conformance/deviations.toml",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="pytest-xdist workers (default 2; 1 = no xdist)"
    )
    add_results_argument(parser)
    parser.add_argument(
        "--url",
        metavar="URL",
        default=None,
        help="a running server's echo endpoint, ws://HOST:PORT/PATH: the wire-only cases",
    )
    parser.add_argument(
        "--server-name",
        metavar="NAME",
        default=None,
        help="with --url: the running server's name (such as uvicorn), whose known "
        "deviations apply to it (default: url, which has none)",
    )
    parser.add_argument(
        "--deviations",
        metavar="FILE",
        default=None,
        help="the known deviations file (default: conformance/deviations.toml)",
    )
    parser.add_argument(
        "--allow-remote-target",
        action="store_true",
        help="allow --url outside loopback (only servers you own)",
    )
    parser.add_argument(
        "--junit",
        metavar="FILE",
        default=None,
        help="also write JUnit XML: one testcase per case and flavour per server "
        "(unknown deviations fail, known ones and N/A are skipped)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from channels_harness.experiments.conformance.runner import run_suite

    servers = known_servers(args.servers)
    flavours = names(args.flavours)
    deviations = _deviations_file(args.deviations)
    if args.server_name is not None and not args.url:
        raise UsageError("--server-name names the running server of --url; give --url too")
    console = Console()
    if args.url:
        from channels_harness.runtime.loopback import check_target
        from channels_harness.servers.remote import RemoteServer

        check_target(args.url, args.allow_remote_target)
        RemoteServer(args.url).start()
    options = {
        "servers": servers,
        "flavours": flavours,
        "strict_spec": args.strict_spec,
        "workers": args.workers,
        "url": args.url,
        "server_name": args.server_name,
        "deviations": str(deviations) if deviations else None,
    }
    run_, code = record(
        console,
        args,
        "conformance",
        options,
        lambda run: run_suite(
            run,
            servers=servers,
            flavours=flavours,
            strict=args.strict_spec,
            workers=args.workers,
            url=args.url,
            server_name=args.server_name,
            deviations=deviations,
        ),
        timed=False,
        announce="conformance run",
    )
    table, lists = _summary(run_.data["conformance"], code)
    console.print(table)
    for line in lists:
        console.print(line, highlight=False)
    console.print(f"matrix: {run_.path / 'conformance' / 'matrix.md'}")
    if args.junit:
        from channels_harness.report.export import conformance_junit
        from channels_harness.report.model import write_atomic_bytes

        write_atomic_bytes(Path(args.junit), conformance_junit(run_.data))
        console.print(f"junit: {args.junit}")
    return code


def _deviations_file(path: str | None) -> Path | None:
    """``--deviations FILE`` as a path, checked to exist and to be a valid deviations
    file (UsageError naming what is wrong otherwise); None without the option."""
    if path is None:
        return None
    from channels_harness.experiments.conformance.deviations import (
        DeviationFileError,
        Deviations,
    )

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--deviations {path}: no such file")
    try:
        Deviations.load(file)
    except (DeviationFileError, ValueError) as exc:  # tomllib's errors are ValueErrors
        raise UsageError(f"--deviations {path}: {exc}") from None
    return file.resolve()


def _summary(rows: list[dict[str, Any]], code: int) -> tuple[Table, list[str]]:
    """The grades per server as a table, and per server a line naming the cases that
    deviate (``(NEW)`` where conformance/deviations.toml does not record it)."""
    from rich.table import Table

    from channels_harness.experiments.conformance.matrix import GRADE_ORDER, servers_of, summary

    counts = summary(rows)
    table = Table(title=f"Conformance by server (pytest exit {code})")
    table.add_column("server")
    for grade in GRADE_ORDER:
        table.add_column(grade, justify="right")
    table.add_column("deviating cases")
    lists = []
    for name in servers_of(rows):
        deviating: dict[str, bool] = {}
        for row in rows:
            if row["server"] == name and row["grade"] in ("FAIL", "NON-STRICT"):
                known = deviating.get(row["case"], True) and bool(row["known_deviation"])
                deviating[row["case"]] = known
        table.add_row(
            name, *(str(counts[name].get(g, 0)) for g in GRADE_ORDER), str(len(deviating))
        )
        if deviating:
            cases = ", ".join(
                f"{case.removeprefix('test_')}{'' if known else ' (NEW)'}"
                for case, known in sorted(deviating.items())
            )
            lists.append(f"[bold]{name}[/] deviates in: {cases}")
    return table, lists
