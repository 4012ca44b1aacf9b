"""Helpers the test modules share, as fixtures.

- ``command``: run one subcommand in this process, through its handler.
- ``cli``: run ``channels-harness`` in a subprocess, as a user does.
- ``run_data``: the data.json of the one run a command wrote into a folder.
- ``run_copy``: a copy of the published full run, changed the way a test needs
  (every rate or latency figure of every cell scaled: median, runs, interval
  and percentiles alike).
- ``nothing_left``: whether every process group of some leaders is gone.
- ``uvicorn`` and ``raw_echo``: a reference-app uvicorn and the raw echo
  server, one of each per test module.

(The live-server fixtures of the conformance suites, ``server``, ``server_name``,
``flavour``, ``redis_url`` and friends, come from
:mod:`channels_harness.testing.suites`, which the root conftest.py loads.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _spawn
import pytest

from channels_harness.cli import build_parser
from channels_harness.runtime.paths import RESULTS_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess, group_members, serving
from channels_harness.servers.registry import get_spec

HARNESS = [sys.executable, "-m", "channels_harness.cli"]
# The full run published under results/: real rows of every section, with the
# intervals (ci95, series, noise) every current run has.
PUBLISHED_RUN = RESULTS_DIR / "20261130T013000Z-vm"

# Every rate figure of a row, and every latency figure, by section.
RATES = {
    "throughput": ("msgs_per_s", "msgs_per_s_runs", "ci95"),
    "handshake": ("handshakes_per_s", "handshakes_per_s_runs", "ci95"),
    "locust": ("msgs_per_s",),
}
LATENCIES = {
    "throughput": ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "p99_ms_runs"),
    "latency": ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"),
    "handshake": ("p50_ms", "p99_ms"),
}


def scale_figures(data: dict[str, Any], fields: dict[str, tuple[str, ...]], factor: float) -> None:
    """Multiply every named figure (a number or a list of numbers) of every row of
    ``data``'s sections by ``factor``, in place."""
    for section, names in fields.items():
        for row in data.get(section) or []:
            for name in names:
                value = row.get(name)
                if isinstance(value, list):
                    row[name] = [v * factor for v in value]
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    row[name] = value * factor


Command = Callable[[list[str]], int]
Cli = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def command() -> Command:
    """``command(argv)`` runs one subcommand in this process and returns its exit code.

    It calls the handler directly, without :func:`channels_harness.cli.main`'s
    last-resort ``stop_all`` (which would also stop the session's Redis server),
    so a HarnessError propagates to the test instead of becoming an exit code.
    """

    def run(argv: list[str]) -> int:
        args = build_parser().parse_args(argv)
        return int(args.handler(args))

    return run


@pytest.fixture
def cli() -> Cli:
    """``cli(*args, timeout=60, columns=200)`` runs ``channels-harness ARGS`` in a
    subprocess (output captured as text, the console ``columns`` wide) and returns it
    once it exits; the timeout is scaled by HARNESS_TIMEOUT_FACTOR."""

    def run(
        *args: str, timeout: float = 60, columns: int = 200
    ) -> subprocess.CompletedProcess[str]:
        return _spawn.run(
            [*HARNESS, *args],
            timeout=scaled(timeout),
            env={**os.environ, "COLUMNS": str(columns)},
        )

    return run


@pytest.fixture
def run_data() -> Callable[[Path], dict[str, Any]]:
    """``run_data(results)``: the parsed data.json of the only run folder in ``results``
    (the test fails when there is none or more than one)."""

    def read(results: Path) -> dict[str, Any]:
        (data_file,) = results.glob("*/data.json")
        data: dict[str, Any] = json.loads(data_file.read_text())
        return data

    return read


@pytest.fixture
def run_copy(tmp_path: Path) -> Callable[..., Path]:
    """``run_copy(name, change=None, throughput=1.0, latency=1.0)``: a folder
    ``tmp_path/name`` holding the published full run's data.json with every rate
    figure of every cell (throughput, handshakes, locust: median, runs and
    interval) times ``throughput`` and every latency figure (percentiles and the
    runs' p99) times ``latency``, then passed through ``change(data)``."""

    def copy(
        name: str,
        change: Callable[[dict[str, Any]], None] | None = None,
        throughput: float = 1.0,
        latency: float = 1.0,
    ) -> Path:
        data = json.loads((PUBLISHED_RUN / "data.json").read_text(encoding="utf-8"))
        scale_figures(data, RATES, throughput)
        scale_figures(data, LATENCIES, latency)
        if change is not None:
            change(data)
        folder = tmp_path / name
        folder.mkdir(parents=True)
        (folder / "data.json").write_text(json.dumps(data), encoding="utf-8")
        return folder

    return copy


@pytest.fixture
def nothing_left() -> Callable[..., bool]:
    """``nothing_left(*pids)``: True when no live process is left in any of the
    process groups these leaders led."""
    return lambda *pids: all(not group_members(pid) for pid in pids)


@pytest.fixture(scope="module")
def uvicorn() -> Iterator[ServerProcess]:
    """The reference app under uvicorn, shared by one test module."""
    with ServerProcess(get_spec("uvicorn")) as server:
        yield server


@pytest.fixture(scope="module")
def raw_echo() -> Iterator[ServerProcess]:
    """The no-ASGI raw echo server, shared by one test module."""
    with serving("raw-echo") as server:
        yield server
