"""Helpers the test modules share, as fixtures.

- ``command``: run one subcommand in this process, through its handler.
- ``cli``: run ``channels-harness`` in a subprocess, as a user does.
- ``run_data``: the data.json of the one run a command wrote into a folder.
- ``run_copy``: a copy of the published full run, changed the way a test needs.
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

import pytest

from channels_harness.cli import build_parser
from channels_harness.runtime.paths import RESULTS_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess, group_members, serving
from channels_harness.servers.registry import get_spec

HARNESS = [sys.executable, "-m", "channels_harness.cli"]
# The full run published under results/: real rows of every section.
PUBLISHED_RUN = RESULTS_DIR / "20261125T121306Z-vm"

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
        return subprocess.run(
            [*HARNESS, *args],
            capture_output=True,
            text=True,
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
    """``run_copy(name, change=None, throughput=1.0)``: a folder ``tmp_path/name``
    holding the published full run's data.json with every throughput figure (median
    and runs) times ``throughput``, then passed through ``change(data)``."""

    def copy(
        name: str, change: Callable[[dict[str, Any]], None] | None = None, throughput: float = 1.0
    ) -> Path:
        data = json.loads((PUBLISHED_RUN / "data.json").read_text(encoding="utf-8"))
        for row in data["throughput"]:
            row["msgs_per_s"] *= throughput
            row["msgs_per_s_runs"] = [value * throughput for value in row["msgs_per_s_runs"]]
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
