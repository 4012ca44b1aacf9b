"""Re-render a run from its data.json alone (plots, report.md, report.html and
the results index), or compare it with another run."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "re-render a published run, or compare two runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run folder, its data.json, or a run id under results/")
    parser.add_argument(
        "--compare",
        metavar="OTHER",
        default=None,
        help="another run: show each headline figure's change and whether it is outside "
        "the runs' spread (written to RUN/compare-OTHER.md)",
    )


def resolve(text: str) -> object:
    """The run folder ``text`` names (a path, or a run id under results/)."""
    from pathlib import Path

    from channels_harness.runtime.paths import RESULTS_DIR

    path = Path(text)
    if path.name == "data.json":
        path = path.parent
    if not path.exists() and (RESULTS_DIR / text).exists():
        path = RESULTS_DIR / text
    if not (path / "data.json").exists():
        raise SystemExit(f"error: {text} is not a run folder (no data.json there)")
    return path


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.markdown import Markdown

    from channels_harness.report import compare
    from channels_harness.report.model import Run, write_atomic
    from channels_harness.report.publish import publish
    from channels_harness.report.schema import validate

    console = Console()
    target = Run.load(Path(str(resolve(args.run))))
    validate(target.data)
    if args.compare:
        other = Run.load(Path(str(resolve(args.compare))))
        validate(other.data)
        text = compare.render(target.data, other.data)
        out = target.path / f"compare-{other.data['run_id']}.md"
        write_atomic(out, text)
        console.print(Markdown(text))
        console.print(f"written: {out}")
        return 0
    written = publish(target)
    for name, path in written.items():
        console.print(f"{name}: {path}")
    return 0
