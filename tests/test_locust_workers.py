"""Locust workers apart from their master, on loopback: ``channels-harness worker``,
``load --master-bind --expect-workers``, each worker's figures, ``{conn}`` numbers
across workers, and workers that never come or leave mid-run.

(The same across real network namespaces: tests/test_locust_netns.py.)
Everything locust runs in subprocesses, against real servers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from channels_harness.cli import build_parser
from channels_harness.commands.load import _problem
from channels_harness.errors import TargetRefusedError, UsageError
from channels_harness.experiments.load.locustproc import Locustfile, run_locust
from channels_harness.experiments.load.run import run_load
from channels_harness.experiments.load.workers import figures, lost, missing, split_address
from channels_harness.report.model import Run
from channels_harness.report.schema import validate
from channels_harness.runtime import procgroup
from channels_harness.runtime.loopback import ALLOW_ENV, check_target
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess, free_port

HARNESS = [sys.executable, "-m", "channels_harness"]
# One request name per user: the rows show every {conn}.
CONNS_LOCUSTFILE = """\
from locust import task

from channels_harness.locust import WebSocketUser


class ConnUser(WebSocketUser):
    path = "/ws/echo/async/"

    def wait_time(self):
        return 0.02

    @task
    def echo(self):
        self.client.request("c{conn} {n}", expect="^c{conn} {n}$", name=f"conn {self.number}")
"""


@pytest.mark.slow
def test_user_numbers_do_not_collide_across_workers(uvicorn: ServerProcess, tmp_path: Path) -> None:
    locustfile = tmp_path / "conns.py"
    locustfile.write_text(CONNS_LOCUSTFILE)
    result = run_locust(
        host=uvicorn.ws_url("").rstrip("/"),
        users=4,
        duration_s=3,
        prefix=tmp_path / "conns",
        workers=2,
        locustfile=Locustfile(locustfile),
    )
    names = {e["name"] for e in result.entries if e["method"] == "WS"}
    # Two users on each worker: worker 0 numbers them from 0, worker 1 from 1,000,000.
    assert names == {"conn 0", "conn 1", "conn 1000000", "conn 1000001"}, names
    assert result.failures == 0, result.error_text()


def own_workers() -> list[psutil.Process]:
    """The local locust workers this test process started (never anyone else's)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):  # gone, or a zombie not reaped yet
            command = child.cmdline()
            if "--worker" in command and "locust" in " ".join(command):
                found.append(child)
    return found


@pytest.mark.slow
def test_a_worker_that_leaves_mid_run_fails_its_cell_and_the_run_goes_on(tmp_path: Path) -> None:
    run = Run.create(tmp_path, kind="load", options={})
    stopped: list[int] = []

    def stop_one_worker_of_the_first_cell() -> None:
        deadline = time.monotonic() + scaled(60)
        log = None
        while time.monotonic() < deadline:
            log = next(iter(run.path.glob("locust/*-r0/locust.log")), None)
            if log is not None and "All users spawned" in log.read_text():
                break
            time.sleep(0.1)
        time.sleep(0.5)
        victim = own_workers()[0]
        stopped.append(victim.pid)
        victim.send_signal(signal.SIGTERM)

    killer = threading.Thread(target=stop_one_worker_of_the_first_cell)
    killer.start()
    try:
        rows = run_load(
            run,
            servers=["uvicorn"],
            flavours=["async"],
            users=4,
            duration_s=4,
            workers=2,
            repeats=2,
            baseline=False,
        )
    finally:
        killer.join()
    assert stopped, "no worker was stopped"
    (failure,) = run.data["failures"]
    assert failure["cell"]["repeat"] == 0
    assert "was lost during the run: it left the master while the test ran" in failure["message"]
    # The next round ran with fresh workers, complete.
    (row,) = rows
    assert row.repeat == 1 and row.failures == 0 and row.per_worker is not None
    assert [worker.lost for worker in row.per_worker] == [None, None]
    run.finish("complete")
    validate(json.loads(run.data_file.read_text()))


def start_worker(port: int, log: Path, *extra: str) -> subprocess.Popen[Any]:
    with open(log, "wb") as out:
        return procgroup.spawn(
            [*HARNESS, "worker", "--master", f"127.0.0.1:{port}", *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.slow
def test_load_with_a_worker_command_writes_its_figures_and_both_exit_cleanly(
    tmp_path: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    port = free_port()
    worker = start_worker(port, tmp_path / "worker.log", "--wait", "60", "--cells", "1")
    try:
        done = cli(
            "load", "--servers=uvicorn", "--flavours=async", "--users=2", "--duration=3",
            "--no-baseline", f"--master-bind=127.0.0.1:{port}", "--expect-workers=1",
            f"--results={tmp_path / 'results'}",
            timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert worker.wait(timeout=scaled(30)) == 0, (tmp_path / "worker.log").read_text()
    finally:
        procgroup.stop_group(worker)
    assert "locust workers" in done.stdout
    (data_file,) = (tmp_path / "results").glob("*/data.json")
    (row,) = json.loads(data_file.read_text())["locust"]
    (own,) = row["per_worker"]
    assert row["master_bind"] == "127.0.0.1" and row["workers"] == 1
    assert own["users"] == 2 and own["requests"] == row["master_requests"] > 0
    assert row["worker_requests"] == row["master_requests"]
    assert "served 1 cell(s)" in (tmp_path / "worker.log").read_text()


@pytest.mark.slow
def test_a_master_whose_workers_never_come_stops_the_run_with_one_line(
    tmp_path: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    port = free_port()
    done = cli(
        "load", "--servers=uvicorn", "--flavours=async", "--users=2", "--duration=3",
        "--no-baseline", "--repeat=3", f"--master-bind=127.0.0.1:{port}",
        "--expect-workers=2", "--worker-wait=2", f"--results={tmp_path}",
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"only 0 of 2 locust workers joined the master at 127.0.0.1:{port} within 2 s" in (
        done.stdout.replace("\n", " ")
    )
    assert "Traceback" not in done.stdout + done.stderr
    (data_file,) = tmp_path.glob("*/data.json")
    data = json.loads(data_file.read_text())
    # It stopped at the first cell instead of waiting again in every round.
    assert data["status"] == "incomplete" and len(data["failures"]) == 1


def test_the_worker_command_says_in_one_line_that_no_master_answers(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    port = free_port()
    done = cli("worker", "--master", f"127.0.0.1:{port}", "--wait", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"no locust master answered at 127.0.0.1:{port} within 1 s" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_master_log_names_how_many_workers_joined() -> None:
    # locust's own lines, as its master logs them.
    log = (
        "[2026-12-07 19:37:05,822] vm/INFO/locust.runners: vm_b08d (index 0) reported as "
        "ready. 1 workers connected.\n"
        "[2026-12-07 19:37:06,001] vm/INFO/root: Waiting for workers to be ready, 1 of 3\n"
        "[2026-12-07 19:37:09,001] vm/ERROR/root: Gave up waiting for workers to connect\n"
    )
    error = missing(log, 3, "10.0.0.5:5557", 60)
    assert error is not None and str(error).startswith(
        "only 1 of 3 locust workers joined the master at 10.0.0.5:5557 within 60 s"
    )
    assert missing(log.replace("Gave up", "Still"), 3, "10.0.0.5:5557", 60) is None


def worker_record(**changes: Any) -> dict[str, Any]:
    record = {
        "client_id": "loadhost_1234",
        "index": 1,
        "host": "loadhost",
        "address": "10.0.0.7",
        "pid": 42,
        "users": 5,
        # [arrival (master clock), worker clock, worker CPU seconds, users]
        "samples": [[100.0, 5.0, 1.0, 5], [101.0, 6.0, 1.5, 5], [102.0, 7.0, 2.1, 5]],
        "types": {"WS": {"requests": 30, "failures": 1, "per_second": {"99": 5, "100": 10}}},
        "lost": None,
        "lost_at": None,
    }
    return {**record, **changes}


def test_worker_figures_come_from_the_masters_record() -> None:
    report = {"test_start": 98.0, "workers": [worker_record()]}
    (worker,) = figures(report, (100.0, 102.0), "WS")
    assert (worker.index, worker.address, worker.users) == (1, "10.0.0.7", 5)
    assert (worker.requests, worker.failures) == (30, 1)
    assert worker.cpu == pytest.approx(0.55)  # 1.1 CPU seconds over 2 s of its clock
    assert worker.generator_bound is False
    # One sample in the window is no measure; outside it, none either.
    (worker,) = figures(report, (100.5, 101.5), "WS")
    assert worker.cpu is None and worker.generator_bound is None
    (worker,) = figures(report, None, "WS-CONNECT")
    assert worker.cpu is None and worker.msgs_per_s is None and worker.users == 5
    assert lost(report) is None


def test_a_lost_worker_is_named_with_why_and_when() -> None:
    report = {"test_start": 98.0, "workers": [worker_record(lost="it left", lost_at=101.0)]}
    assert lost(report) == (
        "locust worker 1 (10.0.0.7) was lost during the run: it left, last heard 3.0 s "
        "into the test; the cell's figures would miss its users"
    )


def test_addresses_take_a_default_port_and_brackets_for_ipv6() -> None:
    assert split_address("10.0.0.5", "--master") == ("10.0.0.5", 5557)
    assert split_address("load-master:6000", "--master") == ("load-master", 6000)
    assert split_address("[::1]:6000", "--master") == ("::1", 6000)
    for bad in ("a:b:c", "host:0", "host:70000", ""):
        with pytest.raises(UsageError, match="--master"):
            split_address(bad, "--master")


def test_the_servers_own_address_is_allowed_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    url = "ws://10.199.0.1:8000/ws/echo/async/"
    assert check_target(url, allowed=("10.199.0.1",)) == url
    with pytest.raises(TargetRefusedError, match="not a loopback address"):
        check_target(url)
    with pytest.raises(TargetRefusedError, match="not a loopback address"):
        check_target("ws://10.199.0.2:8000/", allowed=("10.199.0.1",))


def load_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["load", *argv])


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--master-bind=10.0.0.5"], "go together"),
        (["--expect-workers=2"], "go together"),
        (["--server-bind=10.0.0.5"], "--server-bind is for workers on other hosts"),
        (["--master-bind=10.0.0.5", "--expect-workers=2"], "reachable from them"),
        (["--master-bind=10.0.0.5", "--expect-workers=0"], "at least 1"),
        (
            ["--master-bind=10.0.0.5", "--expect-workers=2", "--server-bind=0.0.0.0"],
            "give one they reach",
        ),
        (["--master-bind=127.0.0.1", "--expect-workers=2", "--workers=2"], "leave out --workers"),
        (["--master-bind=host:99999", "--expect-workers=2"], "not between 1 and 65535"),
        (
            [
                "--master-bind=10.0.0.5",
                "--expect-workers=2",
                "--server-bind=10.0.0.5",
                "--url=ws://10.0.0.9/ws/",
            ],
            "--url loads a running one",
        ),
    ],
)
def test_options_for_other_hosts_that_cannot_work_are_refused(
    argv: list[str], problem: str
) -> None:
    found = _problem(load_args(*argv))
    assert found is not None and problem in found, found


@pytest.mark.parametrize(
    "argv",
    [
        ["--master-bind=0.0.0.0", "--expect-workers=2", "--server-bind=10.0.0.5"],
        ["--master-bind=127.0.0.1:6000", "--expect-workers=1"],
        ["--master-bind=0.0.0.0", "--expect-workers=2", "--url=ws://10.0.0.9/ws/"],
    ],
)
def test_options_for_other_hosts_that_work_are_accepted(argv: list[str]) -> None:
    assert _problem(load_args(*argv)) is None
