"""Every headline cell of a results folder as a series over its runs, and where each moved.

Reads every run under RESULTS (folders with a data.json), orders them by date,
commit and, for a versions run, stack (each stack is a point), and prints each
headline cell (Sync vs Async ratios, the headline cell's throughput and p99,
handshakes per second, cost per message where measured, conformance grade
counts per server) at every point with the interval its run states (a 95% CI,
the range of its runs, or none).

A change point is the first point where a cell moved beyond its own noise: a
piecewise-constant fit over the points, weighted by their intervals, with a
penalty per step, keeps a step only where the levels either side lie apart
beyond their points' intervals (cost counts get a fixed ±1%, grade counts are
exact). Each is printed with the figures before and after and what changed
between the two points (commit, versions, machine).
"""

from __future__ import annotations

import argparse

from channels_harness.commands._common import wide_console

NAME = "history"
HELP = "every headline cell across the runs of a results folder, with its change points"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", nargs="?", default="results", help="the results folder (default: ./results)"
    )
    parser.add_argument(
        "--cell",
        default="",
        metavar="TEXT",
        help="only the cells whose name contains TEXT (e.g. 'uvicorn async')",
    )
    parser.add_argument(
        "--last",
        type=int,
        default=8,
        metavar="N",
        help="the console tables show the last N points of each series (default 8; the "
        "change points and plots use every point)",
    )
    parser.add_argument(
        "--plots",
        metavar="DIR",
        default=None,
        help="also draw one SVG per kind of headline cell into DIR: a panel per cell, "
        "every point with its interval, change points in red",
    )
    parser.add_argument(
        "--write-index",
        action="store_true",
        help="also regenerate RESULTS/README.md (the index, with this history) and its "
        "trend plots (RESULTS/trend--*.svg)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from channels_harness.errors import UsageError
    from channels_harness.report import history, history_console, index
    from channels_harness.report.model import write_atomic_bytes

    results = Path(args.results)
    if not results.is_dir():
        raise UsageError(f"{results} is not a folder: give the results folder that holds the runs")
    if args.last < 1:
        raise UsageError(f"--last takes a number of points of 1 or more, not {args.last}")
    found = history.collect(results)
    if not found.contexts:
        raise UsageError(f"{results} holds no run (no */data.json): nothing to show")
    console = wide_console()
    history_console.show(console, found, last=args.last, cell=args.cell)
    if args.plots:
        from channels_harness.report import history_plots

        for headline in history.HEADLINES:
            shown = [s for s in found.of(headline) if args.cell.lower() in s.cell.lower()]
            svg = history_plots.panels(headline, shown)
            if svg is not None:
                path = Path(args.plots) / f"{headline.key}.svg"
                try:
                    write_atomic_bytes(path, svg)
                except OSError as exc:
                    raise UsageError(f"--plots {args.plots}: cannot write there ({exc})") from None
                console.print(f"plot: {path}", highlight=False)
    if args.write_index:
        console.print(f"index: {index.write(results)}", highlight=False)
    return 0
