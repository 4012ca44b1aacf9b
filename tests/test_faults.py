"""Harness faults against real runs, then a look at the process table.

A server SIGKILLed in the middle of a bench or load cell, a locust process
SIGKILLed in the middle of its cell, and Ctrl-C (SIGINT to the harness's
process group, as a terminal sends it) of ``conformance`` and ``all --quick``.
Each time: the affected cell is a failure in data.json with the server's log
tail, the other cells go on and are kept, the exit code says what happened,
and no process the run started is left. (SIGINT of ``all --quick --stages
bench`` is tests/test_report_run.py's.)

And the harness itself SIGKILLed (it cannot clean up) in the middle of a bench
and of a load cell: the kernel's parent-death signal must still end every
process it started (servers, generator workers, locust, redis-server), found
by a mark in their environment wherever they were reparented to.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from channels_harness.report.schema import validate
from channels_harness.runtime import procgroup
from channels_harness.runtime.timeouts import scaled
from channels_harness.testing.suites import require_or_skip

HARNESS = [sys.executable, "-m", "channels_harness.cli"]
# Every process of one run inherits this variable, set to the run's own mark.
MARK = "CHANNELS_HARNESS_TEST_RUN"


class Harness:
    """One ``channels-harness`` run in its own session, every descendant remembered."""

    def __init__(self, args: list[str], results: Path) -> None:
        self.results = results
        self.mark = uuid.uuid4().hex
        self.log = open(results.parent / f"{results.name}.log", "wb")  # noqa: SIM115
        # Its own process group with a parent-death signal (tests/_spawn.py's way).
        self.popen = procgroup.spawn(
            [*HARNESS, *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200", MARK: self.mark},
        )
        self.seen: dict[int, psutil.Process] = {}

    def descendants(self) -> list[psutil.Process]:
        """The live descendants now (also remembered for the final check)."""
        try:
            found = psutil.Process(self.popen.pid).children(recursive=True)
        except psutil.Error:
            return []
        for proc in found:
            self.seen.setdefault(proc.pid, proc)
        return found

    def find(self, *words: str) -> list[psutil.Process]:
        """Descendants whose command line contains every one of ``words``."""
        found = []
        for proc in self.descendants():
            with contextlib.suppress(psutil.Error):
                line = " ".join(proc.cmdline())
                if all(word in line for word in words) and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        return found

    def wait_for(
        self, what: str, check: Callable[[], list[psutil.Process]], timeout: float = 120
    ) -> list[psutil.Process]:
        """Poll ``check`` until it finds processes; fail if the run ends or time runs out."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            assert self.popen.poll() is None, f"the run ended before {what}:\n{self.output()}"
            time.sleep(0.05)
        pytest.fail(f"no {what} within {scaled(timeout):.0f} s:\n{self.output()}")

    def wait(self, timeout: float = 240) -> int:
        return self.popen.wait(timeout=scaled(timeout))

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def data(self) -> dict:
        (data_file,) = self.results.glob("*/data.json")
        data = json.loads(data_file.read_text())
        validate(data)
        return data

    def left_running(self) -> list[str]:
        """Every process of this run still alive (pids checked with their start time)."""
        time.sleep(0.3)
        left = []
        for proc in self.seen.values():
            with contextlib.suppress(psutil.Error):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
        return left

    def marked(self) -> list[psutil.Process]:
        """Every live process carrying this run's mark in its environment, wherever
        it now is in the process tree (the harness itself included)."""
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.environ().get(MARK) == self.mark and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        return found

    def sigkill(self) -> None:
        """SIGKILL the harness process alone, as the OOM killer would: it gets no
        chance to stop what it started."""
        self.descendants()
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def left_after(self, timeout: float) -> list[str]:
        """What of this run is still alive ``timeout`` (scaled) seconds from now, or
        [] as soon as nothing is."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            left = {proc.pid: proc for proc in self.marked()}
            for proc in self.seen.values():
                with contextlib.suppress(psutil.Error):
                    if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                        left.setdefault(proc.pid, proc)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        lines = []
        for pid, proc in sorted(left.items()):
            with contextlib.suppress(psutil.Error):
                lines.append(f"{pid} {' '.join(proc.cmdline())[:120]}")
        return lines

    def kill_all(self) -> None:
        procgroup.stop_group(self.popen, grace=1.0)
        for proc in [*self.seen.values(), *self.marked()]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        self.log.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    started: list[Harness] = []

    def start(*args: str) -> Harness:
        results = tmp_path / f"results{len(started)}"
        results.mkdir()
        run = Harness(
            [*args, "--results" if args[0] != "all" else "--results-dir", str(results)], results
        )
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill_all()


def test_a_server_or_generator_killed_mid_bench_fails_its_cell_and_the_bench_goes_on(
    harness: Callable[..., Harness],
) -> None:
    run = harness(
        "bench", "--quick", "--servers", "uvicorn", "--flavours", "sync,async", "--runs", "1"
    )

    def under_load() -> list[psutil.Process]:
        """The app's uvicorn while a generator worker loads it."""
        if not run.find("channels_harness.generators.engine.worker"):
            return []
        return run.find("-m uvicorn", "refsite.asgi")

    (server,) = run.wait_for("a uvicorn cell under load", under_load)
    server.kill()
    # The next cell runs on a restarted server: kill its generator this time.
    (worker,) = run.wait_for(
        "a generator on the restarted server",
        lambda: (
            run.find("channels_harness.generators.engine.worker")
            if [p for p in under_load() if p.pid != server.pid]
            else []
        ),
    )
    worker.kill()
    assert run.wait() == 1, run.output()
    data = run.data()
    assert data["status"] == "complete"
    failures = [f for f in data["failures"] if f["cell"].get("server") == "uvicorn"]
    assert "exited during the run (code -9)" in failures[0]["message"], failures[0]
    assert "log_tail" in failures[0]
    assert "GeneratorError" in failures[1]["message"], failures
    assert "(code -9)" in failures[1]["message"], failures[1]
    # Only cells built on the two failed ones may fail after them.
    assert all("no throughput figure" in f["message"] for f in failures[2:]), failures
    failed = {(f["section"], f["cell"].get("flavour")) for f in failures}
    # The other cells were measured (on a restarted server) and kept.
    kept = {
        (section, row.get("flavour"))
        for section in ("throughput", "latency", "handshake")
        for row in data[section]
        if row.get("server") == "uvicorn"
    }
    assert kept and not kept & failed, (kept, failed)
    assert data["breakdown"], "the sections after the failed cells were measured"
    assert run.left_running() == []


def test_a_server_or_locust_killed_mid_load_fails_that_cell_and_the_run_goes_on(
    harness: Callable[..., Harness],
) -> None:
    run = harness(
        "load",
        "--servers",
        "uvicorn",
        "--flavours",
        "sync,async,generic-async",
        "--users",
        "5",
        "--duration",
        "4",
        "--no-baseline",
    )
    locust_cmd = ("locust", "--headless")
    (first,) = run.wait_for("locust in the first cell", lambda: run.find(*locust_cmd))
    (server,) = run.wait_for("the first cell's server", lambda: run.find("-m uvicorn"))
    time.sleep(scaled(1.0))
    server.kill()
    (second,) = run.wait_for(
        "locust in the second cell",
        lambda: [p for p in run.find(*locust_cmd) if p.pid != first.pid],
    )
    time.sleep(scaled(1.0))
    second.kill()
    assert run.wait() == 1, run.output()
    data = run.data()
    assert data["status"] == "complete"
    by_flavour = {f["cell"]["flavour"]: f for f in data["failures"]}
    assert set(by_flavour) == {"sync", "async"}, data["failures"]
    assert "exited during the run (code -9)" in by_flavour["sync"]["message"]
    assert "locust exited with code -9" in by_flavour["async"]["message"]
    assert [(r["server"], r["flavour"]) for r in data["locust"]] == [("uvicorn", "generic-async")]
    assert run.left_running() == []


def test_ctrl_c_of_conformance_exits_130_and_marks_the_run_incomplete(
    harness: Callable[..., Harness],
) -> None:
    run = harness("conformance", "--servers", "uvicorn", "--flavours", "async", "--workers", "1")
    run.wait_for("a server under the suite", lambda: run.find("-m uvicorn"))
    time.sleep(scaled(1.0))
    os.killpg(run.popen.pid, signal.SIGINT)
    assert run.wait(60) == 130, run.output()
    assert run.data()["status"] == "incomplete"
    assert not list(run.results.rglob(".tmp-*"))
    assert run.left_running() == []


def test_ctrl_c_of_all_quick_during_load_exits_130_and_marks_the_run_incomplete(
    harness: Callable[..., Harness],
) -> None:
    run = harness(
        "all", "--quick", "--servers", "uvicorn", "--flavours", "async", "--stages", "load,bench"
    )
    run.wait_for("locust", lambda: run.find("locust", "--headless"))
    time.sleep(scaled(1.0))
    os.killpg(run.popen.pid, signal.SIGINT)
    assert run.wait(60) == 130, run.output()
    data = run.data()
    assert data["status"] == "incomplete"
    assert not list(run.results.rglob(".tmp-*"))
    assert run.left_running() == []


# How long the processes of a SIGKILLed harness may take to follow it.
ORPHAN_EXIT_S = 20


def test_sigkill_of_the_harness_mid_bench_leaves_no_server_or_generator_behind(
    harness: Callable[..., Harness],
) -> None:
    run = harness("bench", "--quick", "--servers", "uvicorn", "--flavours", "async", "--runs", "1")

    def under_load() -> list[psutil.Process]:
        """The app's uvicorn and the generator worker loading it."""
        workers = run.find("channels_harness.generators.engine.worker")
        servers = run.find("-m uvicorn", "refsite.asgi")
        return [*workers, *servers] if workers and servers else []

    started = run.wait_for("a uvicorn cell under load", under_load)
    time.sleep(scaled(0.5))
    run.sigkill()
    assert run.left_after(ORPHAN_EXIT_S) == [], [p.pid for p in started]


@pytest.mark.parametrize(
    ("scale", "wanted"),
    [
        pytest.param(
            ("--layer", "redis", "--workers", "1"),
            [("redis-server",), ("locust", "--master"), ("locust", "--worker")],
            id="redis-master-and-worker",
        ),
        # locust forks two of these itself: the parent-death signal reaches only
        # the one the harness started, which must take the others along.
        pytest.param(("--processes", "2"), [("locust", "--processes")] * 3, id="forked-processes"),
    ],
)
def test_sigkill_of_the_harness_mid_load_leaves_no_server_locust_or_redis_behind(
    harness: Callable[..., Harness], scale: tuple[str, ...], wanted: list[tuple[str, ...]]
) -> None:
    if "redis" in scale and shutil.which("redis-server") is None:
        require_or_skip("redis-server", "not installed (Debian package: redis-server)")
    run = harness(
        "load",
        "--servers",
        "uvicorn",
        "--flavours",
        "async",
        "--users",
        "4",
        "--duration",
        "60",
        "--no-baseline",
        *scale,
    )
    wanted = [("-m uvicorn",), *wanted]

    def all_running() -> list[psutil.Process]:
        matches = {words: run.find(*words) for words in wanted}
        found = {proc.pid: proc for procs in matches.values() for proc in procs}
        return list(found.values()) if all(matches.values()) and len(found) >= len(wanted) else []

    started = run.wait_for(" and ".join(" ".join(words) for words in wanted), all_running)
    time.sleep(scaled(1.0))
    run.sigkill()
    assert run.left_after(ORPHAN_EXIT_S) == [], [p.pid for p in started]
