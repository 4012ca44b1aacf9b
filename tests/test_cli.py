"""The command line as a user runs it: a real subprocess, real signals."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import _spawn
import psutil
import pytest
from websockets.sync.client import connect

from channels_harness.runtime.timeouts import scaled

HARNESS = [sys.executable, "-m", "channels_harness.cli"]
Cli = Callable[..., subprocess.CompletedProcess[str]]


@contextlib.contextmanager
def serve(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``channels-harness serve`` and yield it with the base ws URL it printed."""
    with _spawn.started(
        [*HARNESS, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ) as proc:
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + scaled(30)
            seen = []
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                seen.append(line)
                match = re.search(r"locust --host: (ws://127\.0\.0\.1:\d+)", line)
                if match:
                    yield proc, match.group(1)
                    return
            raise AssertionError("serve never printed its URL:\n" + "".join(seen))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def descendants(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def all_gone(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        alive = [
            p
            for p in pids
            if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        if not alive:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("server_name", ["daphne", "uvicorn"])
def test_serve_answers_the_seed_endpoints_and_ctrl_c_leaves_nothing(server_name: str) -> None:
    with serve("--server", server_name) as (proc, base):
        children = [p.pid for p in descendants(proc)]
        assert children, "serve should have started a server process"
        for path in ("ws/sc/", "ws/ac/"):
            with connect(f"{base}/{path}") as ws:
                ws.send("hi")
                assert ws.recv(timeout=5) == "Message sent to client"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=scaled(15)) == 130
    assert all_gone(children)


def test_serve_on_sigterm_stops_its_server() -> None:
    with serve("--server", "hypercorn") as (proc, _):
        children = [p.pid for p in descendants(proc)]
        proc.terminate()
        assert proc.wait(timeout=scaled(15)) == 130
    assert all_gone(children)


def test_a_killed_harness_takes_its_server_down_with_it() -> None:
    with serve("--server", "uvicorn") as (proc, _):
        children = [p.pid for p in descendants(proc)]
        proc.kill()  # no chance to clean up: the kernel's parent-death signal must do it
        proc.wait()
    assert all_gone(children), f"orphaned server processes: {children}"


def test_serve_with_an_unknown_server_exits_2_with_the_choices(cli: Cli) -> None:
    done = cli("serve", "--server", "nginx", timeout=30)
    assert done.returncode == 2
    assert "unknown server 'nginx'" in done.stderr
    assert "daphne" in done.stderr and "granian" in done.stderr


def test_serve_on_a_port_in_use_exits_2_and_starts_nothing(cli: Cli) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = cli("serve", "--server", "daphne", "--port", str(port), timeout=30)
    assert done.returncode == 2
    assert f"port {port}" in done.stderr and "in use" in done.stderr


def test_servers_lists_every_server_with_a_version(cli: Cli) -> None:
    done = cli("servers", "--json", timeout=30)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert {"daphne", "uvicorn", "uvicorn-wsproto", "hypercorn", "granian"} <= set(rows)
    assert all(row["version"] != "not installed" for row in rows.values())


def test_main_called_in_process_leaves_its_callers_processes_alone() -> None:
    from channels_harness.cli import main
    from channels_harness.servers.process import ServerProcess
    from channels_harness.servers.registry import get_spec

    with ServerProcess(get_spec("daphne")) as outer:
        assert main(["servers", "--json"]) == 0
        assert outer.running, "main() stopped a server its caller had started"
