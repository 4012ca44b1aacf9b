"""Run the conformance suites against every server and record the graded matrix.

Runs ``pytest conformance/`` in a subprocess (pytest-xdist, 2 workers by
default) into a new run under results/ (kind "conformance"): the rows in
data.json, matrix.json, matrix.md and pytest.log in its ``conformance/``
folder. Prints a per-server summary of grades and the cases that deviate.
The exit code is pytest's: 0 when every server behaves as the spec or as
conformance/deviations.toml records.
"""

from __future__ import annotations

import argparse

NAME = "conformance"
HELP = "run the ASGI/RFC 6455 conformance suites and write the graded matrix"


def _names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


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
    parser.add_argument("--results", default=None, help="results folder (default: results/)")
    parser.add_argument(
        "--junit",
        metavar="FILE",
        default=None,
        help="also write JUnit XML: one testcase per case and flavour per server "
        "(unknown deviations fail, known ones and N/A are skipped)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from channels_harness.experiments.conformance.matrix import GRADE_ORDER, servers_of, summary
    from channels_harness.experiments.conformance.runner import run_suite
    from channels_harness.report.model import Run
    from channels_harness.runtime.paths import RESULTS_DIR
    from channels_harness.servers.registry import get_spec

    servers = _names(args.servers)
    for name in servers or ():
        get_spec(name)  # an unknown name fails here, before a run folder exists
    flavours = _names(args.flavours)
    console = Console()
    run_ = Run.create(
        Path(args.results) if args.results else RESULTS_DIR,
        kind="conformance",
        options={
            "servers": servers,
            "flavours": flavours,
            "strict_spec": args.strict_spec,
            "workers": args.workers,
        },
    )
    console.print(f"conformance run: {run_.path}")
    with run_.recording():
        code = run_suite(
            run_,
            servers=servers,
            flavours=flavours,
            strict=args.strict_spec,
            workers=args.workers,
        )
    rows = run_.data["conformance"]
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
