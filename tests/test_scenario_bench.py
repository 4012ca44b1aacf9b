"""``channels-harness bench --scenario-file``, as a user runs it.

Against the reference app, against examples/chat (the Channels tutorial's chat:
a room per connection, behind AllowedHostsOriginValidator) under daphne and
uvicorn with ``--app``, and against it already running with ``--url``; every
bad file is one line and exit code 2. The chat example is copied to a
temporary folder per module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_harness.protocol.traffic import build_traffic
from channels_harness.report.compare import compare
from channels_harness.report.markdown import render
from channels_harness.runtime.paths import CHECKOUT_DIR
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import get_spec
from channels_harness.servers.userapp import Readiness

assert CHECKOUT_DIR is not None
SCENARIOS = Path(__file__).parent / "scenarios"
EXAMPLE = CHECKOUT_DIR / "examples" / "chat"
APP = "mysite.asgi:application"
# The shortest bench that still gives every row: 2 closed-loop rounds of 1 s.
SHORT = ("--quick", "--runs", "2", "--processes", "1")

RunData = Callable[[Path], dict[str, Any]]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chat example with its database migrated."""
    folder = tmp_path_factory.mktemp("chat") / "chat"
    shutil.copytree(EXAMPLE, folder)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=folder, check=True, timeout=120
    )
    return folder


def _one_line_exit_2(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected in " ".join(done.stderr.split()), done.stderr


@pytest.mark.parametrize(
    ("text", "extra", "expected"),
    [
        (None, (), "--scenario-file missing.toml: No such file or directory"),
        ("[[step]\n", (), "is not valid TOML"),
        ("[[step]]\nsend = 'x'\nexpct = {}", (), "unknown key 'expct'"),
        ("[[step]]\nsend = 'x'", ("--message", "m"), "exclude --scenario-file"),
        ("[[step]]\nsend = 'x'\ncount = 0", (), "every [[step]] has count = 0"),
        ("headers = ['Host: x']\n[[step]]\nsend = 'x'", (), "writes that header itself"),
        ("[[step]]\nsend = 'x'", ("--tls",), "are the reference matrix's"),
    ],
)
def test_a_bad_scenario_file_is_one_line_and_exit_2(
    cli: Any, tmp_path: Path, text: str | None, extra: tuple[str, ...], expected: str
) -> None:
    name = "missing.toml"  # relative: not in the folder the command runs in
    if text is not None:
        name = str(tmp_path / "bad.toml")
        Path(name).write_text(text)
    done = cli("bench", "--scenario-file", name, *extra, "--results", str(tmp_path / "r"))
    _one_line_exit_2(done, expected)
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("*/data.json"))


def test_a_scenario_that_can_never_match_stops_at_the_first_round(cli: Any, tmp_path: Path) -> None:
    done = cli(
        "bench",
        *("--scenario-file", str(SCENARIOS / "never.toml"), "--servers", "uvicorn", *SHORT),
        *("--results", str(tmp_path)),
        timeout=120,
    )
    _one_line_exit_2(done, 'ping: no frame matching {type = "pong"} within 0.5 s')


def test_the_reference_app_gets_a_row_per_step_and_compare_names_them(
    cli: Any, tmp_path: Path, run_data: RunData
) -> None:
    done = cli(
        "bench",
        *("--scenario-file", str(SCENARIOS / "json-echo.toml"), "--servers", "uvicorn", *SHORT),
        *("--threshold", "ping:p99<60000ms", "--threshold", "get:errors<1"),
        *("--results", str(tmp_path)),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Scenario steps (closed loop)" in done.stdout
    data = run_data(tmp_path)
    verdicts = {row["threshold"]: row for row in data["thresholds"]}
    assert verdicts["ping:p99<60000ms"]["passed"] and verdicts["get:errors<1"]["passed"]
    # Per step: the closed and the open loop's row of that step (not the other step's).
    assert verdicts["ping:p99<60000ms"]["cells"] == 2, verdicts
    rows = data["throughput"]
    assert [(r["scenario"], r["step"], r["server"]) for r in rows] == [
        ("json-echo", "ping", "uvicorn"),
        ("json-echo", "get", "uvicorn"),
    ]
    for row in rows:
        assert row["errors"] == 0 and row["msgs_per_s"] > 0, row
        assert row["flavour"] == "/ws/echo/async/" and row["runs"] == 2
        # Two runs: a range, not a 95% CI (that needs 6), so no ci95 is stored.
        assert row["series"] and row["ci95"] is None and row["noise"] is not None
        assert len(row["msgs_per_s_runs"]) == 2
        assert row["other_frames"] is None and row["error_samples"] == []
    assert {(r["step"], r["scenario"]) for r in data["latency"]} == {
        ("ping", "json-echo"),
        ("get", "json-echo"),
    }
    (handshake,) = data["handshake"]
    assert handshake["scenario"] == "json-echo" and handshake["errors"] == 0
    assert data["options"]["scenario"] == "json-echo"
    report = render(data)
    assert "## Scenario steps (closed loop)" in report and "| json-echo | ping |" in report
    cells = {change.cell for change in compare(data, data).changes}
    assert "uvicorn /ws/echo/async/ c=50 json-echo:ping" in cells
    assert "uvicorn /ws/echo/async/ at 50% of peak json-echo:get" in cells
    assert "uvicorn /ws/echo/async/ json-echo" in cells


def test_the_chat_example_under_daphne_and_uvicorn_has_zero_errors(
    cli: Any, chat: Path, tmp_path: Path, run_data: RunData
) -> None:
    done = cli(
        *("bench", "--app", APP, "--app-dir", str(chat), "--servers", "daphne,uvicorn"),
        *("--scenario-file", str(SCENARIOS / "chat.toml"), *SHORT, "--results", str(tmp_path)),
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = run_data(tmp_path)
    rows = {(r["server"], r["step"]): r for r in data["throughput"]}
    assert set(rows) == {("daphne", "say"), ("uvicorn", "say")}
    for row in rows.values():
        assert row["errors"] == 0 and row["msgs_per_s"] > 0, row
        assert row["flavour"] == "/ws/chat/c{conn}/" and row["scenario"] == "chat"
    assert {r["server"] for r in data["latency"]} == {"daphne", "uvicorn"}
    assert all(r["errors"] == 0 for r in data["latency"] + data["handshake"])
    assert {row["server"] for row in data["handshake"]} == {"daphne", "uvicorn"}


@pytest.fixture(scope="module")
def chat_server(chat: Path) -> Iterator[ServerProcess]:
    """The chat example under uvicorn, ready once a handshake with an Origin completes."""
    readiness = Readiness("/ws/chat/lobby/", traffic=build_traffic(origin="http://127.0.0.1"))
    with ServerProcess(get_spec("uvicorn"), app=APP, app_dir=chat, readiness=readiness) as server:
        yield server


@pytest.mark.parametrize(
    ("path", "loaded"),
    [("", "/ws/chat/c{conn}/"), ("/ws/chat/url{conn}/", "/ws/chat/url{conn}/")],
    ids=["scenario-path", "url-path"],
)
def test_with_url_a_path_in_the_url_wins_over_the_scenarios(
    cli: Any, chat_server: ServerProcess, tmp_path: Path, run_data: RunData, path: str, loaded: str
) -> None:
    url = f"ws://127.0.0.1:{chat_server.port}{path}"
    done = cli(
        *("bench", "--url", url, "--scenario-file", str(SCENARIOS / "chat.toml"), *SHORT),
        *("--results", str(tmp_path)),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = run_data(tmp_path)
    assert {(r["server"], r["flavour"]) for r in data["throughput"]} == {("url", loaded)}
    assert all(r["errors"] == 0 for r in data["throughput"]), json.dumps(data["throughput"])


def test_a_step_threshold_no_server_meets_exits_1(cli: Any, tmp_path: Path) -> None:
    done = cli(
        "bench",
        *("--scenario-file", str(SCENARIOS / "json-echo.toml"), "--servers", "uvicorn", *SHORT),
        *("--threshold", "get:msgs_per_s>100000000", "--results", str(tmp_path)),
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "threshold missed" in done.stdout and "get:msgs_per_s>100000000" in done.stdout
