"""Measure one stack with the harness inside its own environment.

Each measurement is that environment's ``channels-harness conformance``,
``channels-harness bench`` or ``channels-harness bench --cost``, run as a
child process (its own process group, bounded in time, reaped on every exit
path) into a scratch results folder.
Its data.json rows are read back and every row is tagged with the stack's
versions; a child that leaves no rows becomes one failure row with its
output's tail.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from channels_harness.experiments.versions.envs import Env, clean_environ
from channels_harness.report.rows import ROW_TYPES, FailureRow, Row, rows_of
from channels_harness.runtime.paths import PROJECT_DIR
from channels_harness.runtime.procgroup import spawn, stop_group
from channels_harness.runtime.timeouts import scaled

# Bounds that only stop a hang: the suite takes 1-2 minutes, the quick bench 2-4.
TIMEOUTS_S = {"conformance": 1200.0, "bench": 1800.0, "cost": 900.0}
# The subcommand each measurement runs (cost is `bench --cost`).
SUBCOMMANDS = {"conformance": "conformance", "bench": "bench", "cost": "bench"}
TIMEOUT_EXIT = 124
LOG_TAIL_LINES = 40


@dataclass
class Measured:
    """What one child measured: its rows (tagged), exit code, time and its run's options."""

    command: str
    code: int
    seconds: float
    rows: list[Row] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


def tagged(data: dict[str, Any], stack: dict[str, str]) -> list[Row]:
    """Every row of a data.json document, with ``stack`` set on the row types that have it."""
    found: list[Row] = []
    for kind in ROW_TYPES:
        has_stack = "stack" in {f.name for f in fields(kind)}
        for row in rows_of(data, kind):
            found.append(replace(row, stack=stack) if has_stack else row)  # type: ignore[call-arg]
    return found


def _tail(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


def _child(argv: Sequence[str], log_path: Path, timeout: float) -> int:
    """Run ``argv`` from the checkout with its output in ``log_path``; its exit code
    (TIMEOUT_EXIT when it overran ``timeout``)."""
    environ = {**clean_environ(), "COLUMNS": "120"}
    with open(log_path, "wb") as log:
        popen = spawn(argv, cwd=PROJECT_DIR, env=environ, stdout=log, stderr=subprocess.STDOUT)
        try:
            return int(popen.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            return TIMEOUT_EXIT
        finally:
            stop_group(popen)


def measure(env: Env, command: str, args_for: Callable[[Path], list[str]]) -> Measured:
    """Run ``command`` (``conformance``, ``bench`` or ``cost``) with ``args_for(results_folder)`` in
    ``env`` and read its rows back (see the module doc)."""
    with tempfile.TemporaryDirectory(prefix=f"channels-harness-{command}-") as scratch:
        results = Path(scratch) / "results"
        argv = [
            str(env.python),
            "-m",
            "channels_harness",
            SUBCOMMANDS[command],
            *args_for(results),
        ]
        started = time.monotonic()
        code = _child(argv, Path(scratch) / "output.log", scaled(TIMEOUTS_S[command]))
        measured = Measured(command=command, code=code, seconds=time.monotonic() - started)
        documents = sorted(results.glob("*/data.json"))
        data = json.loads(documents[0].read_text(encoding="utf-8")) if documents else {}
        measured.rows = tagged(data, env.versions)
        measured.options = dict(data.get("options") or {})
        if not any(row.SECTION != FailureRow.SECTION for row in measured.rows):
            why = (
                f"did not finish within {scaled(TIMEOUTS_S[command]):.0f} s"
                if code == TIMEOUT_EXIT
                else f"exited {code} without a row"
            )
            measured.rows.append(
                FailureRow(
                    section=command,
                    cell={"stack": env.stack.label},
                    message=f"channels-harness {command} in {env.stack.label} {why}",
                    log_tail=_tail(Path(scratch) / "output.log"),
                    stack=env.versions,
                )
            )
    return measured
