"""Re-render a run from its data.json alone (plots, report.md, report.html and
the results index), or compare it with another run."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "re-render a published run, or compare two runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run folder, its data.json, or a run id under results/")
    parser.add_argument(
        "--csv",
        metavar="DIR",
        default=None,
        help="also write one CSV file per report section into DIR (the report's columns)",
    )
    parser.add_argument(
        "--compare",
        metavar="OTHER",
        default=None,
        help="another run: show each headline figure's change and whether it is outside "
        "the runs' spread (written to RUN/compare-OTHER.md)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.markdown import Markdown

    from channels_harness.report import compare_output
    from channels_harness.report.compare import compare
    from channels_harness.report.export import write_csv
    from channels_harness.report.model import load_valid, write_atomic
    from channels_harness.report.publish import publish

    console = Console()
    target = load_valid(args.run)
    if args.compare:
        other = load_valid(args.compare)
        text = compare_output.to_markdown(compare(other.data, target.data))
        out = target.path / f"compare-{other.data['run_id']}.md"
        write_atomic(out, text)
        console.print(Markdown(text))
        console.print(f"written: {out}")
        return 0
    if args.csv:
        for path in write_csv(target.data, Path(args.csv)):
            console.print(f"csv: {path}", highlight=False)
    written = publish(target)
    for name, path in written.items():
        console.print(f"{name}: {path}", emoji=False, highlight=False)
    return 0
