"""Options shared by the fan-out, scaling, soak and limits commands."""

from __future__ import annotations

import argparse
from typing import Any


def names(text: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None for an empty option."""
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--host`` (where servers listen and load goes) and ``--allow-remote-target``."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the servers listen on and the load goes to (default 127.0.0.1); "
        "anything outside loopback is refused without --allow-remote-target",
    )
    parser.add_argument(
        "--allow-remote-target",
        action="store_true",
        help="allow load to a non-loopback --host (only on machines you own)",
    )
    parser.add_argument("--results", default=None, help="results folder (default: results/)")


def check_host(args: argparse.Namespace) -> None:
    """Refuse a non-loopback ``--host`` before anything starts (TargetRefusedError)."""
    from channels_harness.runtime.loopback import check_target

    check_target(f"ws://{args.host}/", args.allow_remote_target)


def create_run(args: argparse.Namespace, kind: str, options: dict[str, Any]) -> Any:
    """A new run folder under ``--results`` (default results/)."""
    from pathlib import Path

    from channels_harness.report.model import Run
    from channels_harness.runtime.paths import RESULTS_DIR

    return Run.create(
        Path(args.results) if args.results else RESULTS_DIR, kind=kind, options=options
    )
