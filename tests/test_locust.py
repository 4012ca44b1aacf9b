"""The locustfiles and the load runner, with real locust subprocesses against real servers.

locust is never imported here: importing it monkey-patches the process with
gevent. Everything locust runs in a subprocess, as a user would run it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import _spawn
import psutil
import pytest

from channels_harness.experiments.load.locustproc import run_locust
from channels_harness.experiments.load.run import run_load
from channels_harness.report.model import Run
from channels_harness.runtime.paths import PROJECT_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess, free_port
from channels_harness.servers.registry import get_spec

pytestmark = pytest.mark.slow

DURATION_S = 3
USERS = 5
FANOUT_FAST = ("--ws-fanout-interval", "0.2")
IDLE_FAST = ("--ws-idle-interval", "0.5")
ALL_USER_CLASSES = [
    f"{scenario}{flavour}User"
    for scenario in ("Echo", "Churn", "Fanout", "Idle")
    for flavour in ("Sync", "Async", "GenericSync", "GenericAsync")
]


def test_locust_list_shows_every_scenario_user_class() -> None:
    listed = _spawn.run(
        [sys.executable, "-m", "locust", "-f", "locustfiles/", "--list"],
        cwd=PROJECT_DIR,
        timeout=scaled(60),
        check=True,
    )
    names = set(listed.stdout.split())
    assert set(ALL_USER_CLASSES) <= names, listed.stdout
    abstract = {"WebSocketUser", "EchoUser", "ChurnUser", "FanoutUser", "IdleUser"}
    assert not abstract & names


@pytest.mark.parametrize(
    ("scenario", "flavour", "options", "request_type"),
    [
        pytest.param("echo", "sync", (), "WS", id="echo-sync"),
        pytest.param("echo", "generic-async", ("--ws-binary",), "WS", id="echo-generic-async"),
        pytest.param("churn", "async", (), "WS-CONNECT", id="churn-async"),
        pytest.param(
            "fanout",
            "generic-sync",
            ("--ws-fanout-interval", "0.2"),
            "WS",
            id="fanout-generic-sync",
        ),
        pytest.param(
            "idle", "generic-async", ("--ws-idle-interval", "0.5"), "WS", id="idle-generic-async"
        ),
    ],
)
def test_a_headless_run_of_each_scenario_measures_requests_without_failures(
    uvicorn: ServerProcess,
    tmp_path: Path,
    scenario: str,
    flavour: str,
    options: tuple[str, ...],
    request_type: str,
    nothing_left: Callable[..., bool],
) -> None:
    prefix = tmp_path / scenario
    result = run_locust(
        host=f"ws://{uvicorn.host}:{uvicorn.port}",
        scenario=scenario,
        flavour=flavour,
        users=USERS,
        duration_s=DURATION_S,
        prefix=prefix,
        options=options,
    )
    summaries = result.summaries
    assert result.failures == 0, result.error_text() or result.log_tail()
    assert result.returncode == 0, result.log_tail()
    primary = summaries[request_type]
    assert primary.requests > 0
    assert 0 < primary.p50_ms <= primary.p95_ms <= primary.p99_ms <= primary.max_ms
    assert summaries["WS-CONNECT"].requests >= USERS
    if scenario == "churn":
        assert summaries["WS-CLOSE"].requests > 0
    assert result.report["resolution_ms"] == 0.01
    for suffix in (".json", "_stats.csv", "_failures.csv", ".html", ".log"):
        assert Path(f"{prefix}{suffix}").stat().st_size > 0, suffix
    assert nothing_left(result.pid)


def test_latencies_are_bucketed_finer_than_a_millisecond(
    uvicorn: ServerProcess, tmp_path: Path
) -> None:
    result = run_locust(
        host=f"ws://{uvicorn.host}:{uvicorn.port}",
        scenario="echo",
        flavour="async",
        users=1,
        duration_s=2,
        prefix=tmp_path / "fine",
    )
    (entry,) = [e for e in result.entries if e["method"] == "WS"]
    keys = [float(key) for key in entry["response_times"]]
    # One user on loopback: round trips well under 10 ms, kept to 0.01 ms.
    assert any(key != int(key) for key in keys), sorted(keys)[:20]
    assert all(round(key, 2) == key for key in keys if key < 10)


def test_a_run_against_a_port_where_nothing_listens_fails_clearly_and_leaves_nothing(
    tmp_path: Path, nothing_left: Callable[..., bool]
) -> None:
    port = free_port()
    result = run_locust(
        host=f"ws://127.0.0.1:{port}",
        scenario="echo",
        flavour="async",
        users=2,
        duration_s=2,
        prefix=tmp_path / "refused",
    )
    assert result.returncode != 0
    handshake = result.summaries["WS-CONNECT"]
    assert handshake.failures == handshake.requests > 0
    assert "WS" not in result.summaries
    assert "Connection refused" in result.error_text(), result.error_text()
    assert nothing_left(result.pid)


def test_the_client_sets_tcp_nodelay_on_its_socket() -> None:
    # In a subprocess: importing the locust users monkey-patches with gevent.
    script = (
        "import socket\n"
        "from channels_harness.locust import WebSocketClient\n"
        "from locust.env import Environment\n"
        "import sys\n"
        "client = WebSocketClient(Environment(), sys.argv[1], 'nodelay', 5.0)\n"
        "assert client.connect()\n"
        "sock = client.ws.sock\n"
        "print(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))\n"
        "assert client.round_trip('hello')\n"
        "assert client.close()\n"
    )
    with ServerProcess(get_spec("raw-echo")) as raw:
        out = _spawn.run(
            [sys.executable, "-c", script, raw.ws_url("/")], timeout=scaled(30), check=True
        )
    assert out.stdout.strip() == "1", out.stderr


def test_run_load_adds_one_row_per_cell_and_the_raw_echo_baseline(tmp_path: Path) -> None:
    run = Run.create(tmp_path, kind="load")
    calls: list[tuple[str, int, int]] = []
    rows = run_load(
        run,
        servers=["uvicorn"],
        flavours=["async"],
        users=USERS,
        duration_s=DURATION_S,
        progress=lambda text, done, total: calls.append((text, done, total)),
    )
    assert [(r.server, r.flavour) for r in rows] == [
        ("uvicorn", "async"),
        ("raw-echo", "none"),
    ]
    saved = json.loads(run.data_file.read_text())
    assert saved["locust"] == [row.to_json() for row in rows]
    assert {"uvicorn", "raw-echo"} <= set(saved["servers"])
    for row in rows:
        assert row.requests > 0 and row.failures == 0
        assert row.msgs_per_s > 0
        assert row.generator_cpu > 0 and isinstance(row.generator_bound, bool)
        assert row.resolution_ms == 0.01
        assert row.command[1:3] == ["-m", "locust"]
        assert (run.path / row.output).with_suffix(".json").exists()
    assert calls[0][1:] == (0, 2) and calls[-1][1:] == (2, 2)


def test_a_cell_whose_server_dies_is_recorded_as_failed_and_the_run_goes_on(
    uvicorn: ServerProcess, tmp_path: Path
) -> None:
    run = Run.create(tmp_path, kind="load")
    me = psutil.Process(os.getpid())
    stop = threading.Event()

    def commands() -> list[tuple[int, str]]:
        found = []
        for child in me.children(recursive=True):
            try:
                found.append((child.pid, " ".join(child.cmdline())))
            except psutil.Error:
                continue
        return found

    def kill_the_server_once_locust_loads_it() -> None:
        # Wait for the cell's locust, give it a second of load, then kill the cell's server.
        while not stop.is_set() and not any("-m locust" in cmd for _, cmd in commands()):
            time.sleep(0.1)
        if stop.wait(1.0):
            return
        for pid, cmd in commands():
            if pid != uvicorn.pid and "uvicorn" in cmd:
                os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_the_server_once_locust_loads_it, daemon=True)
    killer.start()
    try:
        rows = run_load(run, servers=["uvicorn"], flavours=["async"], users=USERS, duration_s=6)
    finally:
        stop.set()
        killer.join()
    assert [row.server for row in rows] == ["raw-echo"]
    (failure,) = run.data["failures"]
    assert failure["section"] == "locust"
    assert failure["cell"]["server"] == "uvicorn"
    assert "exited" in failure["message"]


def test_several_generator_processes_report_merged_fine_stats_and_their_cpu(
    uvicorn: ServerProcess, tmp_path: Path, nothing_left: Callable[..., bool]
) -> None:
    result = run_locust(
        host=f"ws://{uvicorn.host}:{uvicorn.port}",
        scenario="echo",
        flavour="async",
        users=4,
        duration_s=DURATION_S,
        prefix=tmp_path / "workers",
        processes=2,
    )
    assert result.failures == 0, result.error_text() or result.log_tail()
    assert result.summaries["WS"].requests > 0
    assert result.generator_processes == 3  # the master and two workers
    assert result.generator_cpu is not None and result.generator_cpu_total is not None
    assert 0 < result.generator_cpu <= result.generator_cpu_total
    (entry,) = [e for e in result.entries if e["method"] == "WS"]
    # The workers bucketed (the master only merges): keys finer than 1 ms.
    assert any(float(key) != int(float(key)) for key in entry["response_times"])
    assert nothing_left(result.pid)


def test_the_idle_scenario_holds_every_connection_and_measures_server_memory(
    tmp_path: Path,
) -> None:
    run = Run.create(tmp_path, kind="load")
    (row,) = run_load(
        run,
        servers=["daphne"],
        flavours=["sync"],
        scenario="idle",
        users=20,
        duration_s=DURATION_S,
        baseline=False,
        options=IDLE_FAST,
    )
    assert row.failures == 0, row.errors
    assert row.handshakes == 20
    assert row.server_rss_bytes > row.server_rss_idle_bytes > 0
    assert row.rss_per_connection_bytes > 0


def probe_path(script: dict[str, object]) -> str:
    """The scriptable probe endpoint running ``script``."""
    return "/ws/probe/async/?" + urlencode({"id": "locust-test", "script": json.dumps(script)})


@pytest.mark.parametrize(
    ("script", "message"),
    [
        pytest.param(
            {"receive": [{"send": {"type": "websocket.close", "code": 4001}}]},
            "connection closed by the server with code 4001",
            id="close-after-a-message",
        ),
        pytest.param(
            {"connect": [{"send": {"type": "websocket.close", "code": 4003}}]},
            "handshake rejected with HTTP 403",
            id="handshake-denied",
        ),
    ],
)
def test_a_server_close_is_a_failure_that_carries_its_code(
    uvicorn: ServerProcess, tmp_path: Path, script: dict[str, object], message: str
) -> None:
    result = run_locust(
        host=f"ws://{uvicorn.host}:{uvicorn.port}",
        scenario="echo",
        flavour="async",
        users=2,
        duration_s=2,
        prefix=tmp_path / "closed",
        options=("--ws-path", probe_path(script)),
    )
    assert result.returncode != 0
    assert result.failures > 0
    assert message in result.error_text(), result.error_text()


def test_the_load_command_prints_the_table_and_writes_a_complete_run(
    tmp_path: Path,
    cli: Callable[..., subprocess.CompletedProcess[str]],
    run_data: Callable[[Path], Any],
) -> None:
    done = cli(
        "load",
        "--servers=uvicorn",
        "--flavours=sync,async",
        "--users=3",
        "--duration=2",
        "--no-baseline",
        f"--results={tmp_path}",
        timeout=120,
        columns=160,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "uvicorn sync" in done.stdout and "uvicorn async" in done.stdout
    data = run_data(tmp_path)
    assert data["kind"] == "load" and data["status"] == "complete"
    assert [row["flavour"] for row in data["locust"]] == ["sync", "async"]
