"""Locust past one process: a real master with workers, the Redis channel layers,
several server processes, and the loopback-only rule for targets.

Everything locust runs in subprocesses (importing locust here would
monkey-patch pytest with gevent), against real servers and a real Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import _spawn
import pytest

from channels_harness.errors import LocustRunError, TargetRefusedError
from channels_harness.experiments.load.locustproc import run_locust
from channels_harness.experiments.load.run import check_scale, run_load
from channels_harness.experiments.load.workers import figures
from channels_harness.report.model import Run
from channels_harness.report.schema import validate
from channels_harness.runtime import procgroup
from channels_harness.runtime.loopback import ALLOW_ENV
from channels_harness.runtime.paths import LOCUSTFILES_DIR, PROJECT_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess, free_port
from channels_harness.servers.redis import layer_env
from channels_harness.servers.registry import get_spec

# A documentation address (RFC 5737): never routed, and never contacted here.
REMOTE = "ws://192.0.2.1:8000"
FANOUT_FAST = ("--ws-fanout-interval", "0.2", "--ws-room-size", "4")


def counts_by_request(entries: list[dict]) -> dict[tuple[str, str], int]:
    return {(entry["method"], entry["name"]): int(entry["num_requests"]) for entry in entries}


def worker_sum(reports: list[dict]) -> dict[tuple[str, str], int]:
    total: dict[tuple[str, str], int] = {}
    for report in reports:
        for entry in report["reported"]:
            key = (entry["method"], entry["name"])
            total[key] = total.get(key, 0) + int(entry["requests"])
    return total


@pytest.mark.slow
def test_a_master_with_two_workers_counts_exactly_what_the_workers_reported(
    tmp_path: Path, nothing_left: Callable[..., bool]
) -> None:
    with ServerProcess(get_spec("uvicorn")) as server:
        result = run_locust(
            host=server.ws_url(""),
            scenario="echo",
            flavour="async",
            users=4,
            duration_s=3,
            prefix=tmp_path / "dist",
            workers=2,
        )
    assert result.failures == 0, result.error_text() or result.log_tail()
    assert result.returncode == 0, result.log_tail()
    assert len(result.worker_reports) == 2, list(tmp_path.iterdir())
    master = counts_by_request(result.entries)
    assert master[("WS", "echo/async")] > 0
    # Every worker ran users, and the master holds exactly their sum.
    for report in result.worker_reports:
        assert any(e["method"] == "WS" and e["requests"] > 0 for e in report["reported"])
    assert worker_sum(result.worker_reports) == master
    assert result.worker_requests == result.requests
    # The master's own record of each worker holds the same counts.
    workers = figures(result.report, result.window, "WS")
    assert sorted(worker.index for worker in workers) == [0, 1]
    assert sum(worker.requests for worker in workers) == result.requests
    assert all(worker.users == 2 and worker.lost is None for worker in workers), workers
    assert "--master" in result.command and "--expect-workers" in result.command
    assert all("--worker" in command for command in result.worker_commands)
    assert result.generator_processes == 3
    assert nothing_left(result.pid, *result.worker_pids)


def live_connections(server: ServerProcess) -> int:
    with urllib.request.urlopen(server.http_url("stats/"), timeout=scaled(5)) as response:
        return int(json.load(response)["total_live"])


@pytest.mark.slow
@pytest.mark.redis
def test_fanout_users_spread_over_two_server_processes_sharing_the_redis_layer(
    redis_url: str, tmp_path: Path, nothing_left: Callable[..., bool]
) -> None:
    env = layer_env("redis", redis_url)
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(ServerProcess(get_spec("uvicorn"), env=env)) for _ in range(2)
        ]
        peak = [0, 0]
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.2):
                for index, server in enumerate(servers):
                    with contextlib.suppress(OSError):
                        peak[index] = max(peak[index], live_connections(server))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            result = run_locust(
                host=servers[0].ws_url(""),
                hosts=tuple(server.ws_url("") for server in servers),
                scenario="fanout",
                flavour="async",
                users=4,
                duration_s=3,
                prefix=tmp_path / "spread",
                options=FANOUT_FAST,
            )
        finally:
            done.set()
            watcher.join()
    assert result.failures == 0, result.error_text() or result.log_tail()
    assert result.summaries["WS"].requests > 0
    # Two users on each process (round-robin), all four in one room.
    assert peak == [2, 2]
    assert nothing_left(result.pid)


@pytest.mark.slow
@pytest.mark.redis
def test_the_fanout_scenario_runs_on_the_redis_layer_without_failures(
    redis_url: str, tmp_path: Path
) -> None:
    run = Run.create(tmp_path, kind="load", options={"layer": "redis"})
    (row,) = run_load(
        run,
        servers=["uvicorn"],
        flavours=["async"],
        scenario="fanout",
        users=4,
        duration_s=3,
        options=FANOUT_FAST,
        layer="redis",
        redis_url=redis_url,
    )
    assert row.failures == 0, row.errors
    assert row.requests > 0 and row.msgs_per_s > 0
    assert (row.layer, row.server_processes, row.workers) == ("redis", 1, 0)
    assert isinstance(row.generator_bound, bool)
    run.finish("complete")
    validate(json.loads(run.data_file.read_text()))


def test_several_server_processes_need_a_shared_layer() -> None:
    with pytest.raises(LocustRunError, match="need a shared channel layer"):
        check_scale("memory", 2, 0)
    with pytest.raises(LocustRunError, match="unknown layer"):
        check_scale("postgres", 1, 0)
    check_scale("redis-pubsub", 3, 2)


def test_the_load_command_refuses_several_processes_on_the_memory_layer(
    tmp_path: Path, cli: Callable[..., CompletedProcess[str]]
) -> None:
    done = cli("load", "--server-processes=2", f"--results={tmp_path}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "shared channel layer" in done.stdout
    assert not list(tmp_path.iterdir())


def test_run_locust_refuses_a_remote_target_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    with pytest.raises(TargetRefusedError, match="not a loopback address"):
        run_locust(
            host="ws://127.0.0.1:9",
            hosts=("ws://127.0.0.1:9", REMOTE),
            scenario="echo",
            flavour="async",
            users=1,
            duration_s=1,
            prefix=tmp_path / "refused",
        )
    assert not (tmp_path / "refused.log").exists()


@pytest.fixture
def no_remote_env() -> Iterator[dict[str, str]]:
    env = {key: value for key, value in os.environ.items() if key != ALLOW_ENV}
    yield env


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(("--host", REMOTE), id="host"),
        pytest.param(
            ("--host", "ws://127.0.0.1:9", "--ws-hosts", f"ws://127.0.0.1:9,{REMOTE}"),
            id="ws-hosts",
        ),
    ],
)
def test_plain_locust_stops_at_start_on_a_remote_target(
    target: tuple[str, ...], no_remote_env: dict[str, str]
) -> None:
    done = _spawn.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILES_DIR / "echo.py"),
            "--headless",
            "-u",
            "1",
            "-t",
            "30s",
            "--json",
            *target,
            "EchoAsyncUser",
        ],
        cwd=PROJECT_DIR,
        timeout=scaled(60),
        env=no_remote_env,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "refusing to send load to 192.0.2.1" in done.stderr
    assert "--ws-allow-remote-target" in done.stderr
    # It stopped at test start, before any connection: no request at all.
    assert json.loads(done.stdout) == [], done.stdout
    assert "run-time limit reached" not in done.stderr


def get_json(url: str, data: dict[str, object] | None = None) -> dict:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(url, data=body, timeout=scaled(5)) as response:
        return json.load(response)


def test_a_remote_host_typed_in_the_web_ui_stops_the_run_before_any_connection(
    tmp_path: Path, no_remote_env: dict[str, str]
) -> None:
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "webui.log"
    with open(log_path, "wb") as log:
        popen = procgroup.spawn(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILES_DIR / "echo.py"),
                "--web-host",
                "127.0.0.1",
                "--web-port",
                str(port),
                "--host",
                "ws://127.0.0.1:9",
                "EchoAsyncUser",
            ],
            cwd=PROJECT_DIR,
            env=no_remote_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + scaled(30)
        while True:
            try:
                get_json(f"{web}/stats/requests")
                break
            except OSError:
                assert popen.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        started = get_json(f"{web}/swarm", {"user_count": 1, "spawn_rate": 1, "host": REMOTE})
        assert started["success"], started
        state = get_json(f"{web}/stats/requests")
        while state["state"] != "stopped":
            assert time.monotonic() < deadline, state
            time.sleep(0.1)
            state = get_json(f"{web}/stats/requests")
        assert sum(entry["num_requests"] for entry in state["stats"]) == 0, state["stats"]
    finally:
        code = procgroup.stop_group(popen)
    assert "refusing to send load to 192.0.2.1" in log_path.read_text()
    assert code == 2
