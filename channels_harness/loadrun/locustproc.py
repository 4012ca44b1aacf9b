"""Run locust headless in a subprocess, pinned, measured, and always reaped.

:func:`run_locust` starts ``python -m locust`` on one scenario file and user
class in its own session (process group), pinned to the generator's cores,
writes JSON, CSV, HTML and a log under one prefix, measures the CPU of every
locust process over the steady part of the run (from "all users spawned" to
just before the run-time limit) with :class:`~channels_harness.cpu.CpuMeter`,
and kills the whole group on every exit path.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from ..cpu import CpuMeter
from ..paths import LOCUSTFILES_DIR, PROJECT_DIR
from ..servers import ServerError, group_members
from ..timeouts import scaled
from .locuststats import EntrySummary, by_type, load_entries

SCENARIOS = ("echo", "churn", "fanout", "idle")
FLAVOUR_CLASSES = {
    "sync": "Sync",
    "async": "Async",
    "generic-sync": "GenericSync",
    "generic-async": "GenericAsync",
}
# Locust's log lines that bound the steady part of a run: its run-time timer
# starts when it logs _TIMER, users are all running at one of _SPAWNED (a
# master may log the second instead), and _LIMIT comes when the timer fires.
_TIMER = "Run time limit set"
_SPAWNED = ("All users spawned", "Spawning is complete")
_LIMIT = "run-time limit reached"
# Time for locust to import, start its workers and write its files, beyond -t.
_STARTUP_AND_SHUTDOWN_S = 45.0
# The CPU window ends this long before the run-time limit, before users are stopped.
_WINDOW_MARGIN_S = 0.5


class LocustRunError(ServerError):
    """Locust did not produce its statistics (crash, bad arguments, timeout)."""


def user_class(scenario: str, flavour: str) -> str:
    """``("echo", "generic-async")`` -> ``"EchoGenericAsyncUser"``."""
    if scenario not in SCENARIOS:
        raise LocustRunError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if flavour not in FLAVOUR_CLASSES:
        raise LocustRunError(
            f"unknown flavour {flavour!r}; choose one of {', '.join(FLAVOUR_CLASSES)}"
        )
    return f"{scenario.capitalize()}{FLAVOUR_CLASSES[flavour]}User"


def locust_command(
    *,
    host: str,
    scenario: str,
    flavour: str,
    users: int,
    spawn_rate: float,
    duration_s: int,
    processes: int,
    prefix: Path,
    options: tuple[str, ...] = (),
) -> list[str]:
    """The headless locust command line for one cell, writing under ``prefix``."""
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILES_DIR / f"{scenario}.py"),
        "--headless",
        "--host",
        host,
        "-u",
        str(users),
        "-r",
        f"{spawn_rate:g}",
        "-t",
        f"{duration_s}s",
        "--only-summary",
        "--json-file",
        str(prefix),
        "--csv",
        str(prefix),
        "--html",
        f"{prefix}.html",
        "--ws-report-file",
        f"{prefix}_harness.json",
    ]
    if processes > 1:
        command += ["--processes", str(processes)]
    return [*command, *options, user_class(scenario, flavour)]


@dataclass
class LocustResult:
    """What one locust run produced and what it cost."""

    command: list[str]
    pid: int
    returncode: int
    entries: list[dict[str, Any]]
    report: dict[str, Any]
    log_path: Path
    generator_cpu: float | None
    generator_cpu_total: float | None
    generator_processes: int
    watched_cpu: dict[str, float] = field(default_factory=dict)
    # Resident memory of the watched processes at the end of the window (users connected).
    watched_rss: dict[str, int] = field(default_factory=dict)

    @property
    def summaries(self) -> dict[str, EntrySummary]:
        return by_type(self.entries)

    @property
    def failures(self) -> int:
        return sum(int(entry["num_failures"]) for entry in self.entries)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.report.get("errors", []))

    def error_text(self) -> str:
        """One line per distinct error: ``count x TYPE name: message``."""
        return "\n".join(
            f"{e['occurrences']} x {e['method']} {e['name']}: {e['error']}" for e in self.errors
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _pin(cpus: frozenset[int] | None) -> Callable[[], None] | None:
    if not cpus:
        return None

    def setup() -> None:
        os.sched_setaffinity(0, cpus)

    return setup


def _stop_group(popen: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the group led by ``popen``, SIGKILL what is left after ``grace``, reap."""
    pgid = popen.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=grace)
    left = []
    for pid in group_members(pgid):
        with contextlib.suppress(psutil.Error):
            left.append(psutil.Process(pid))
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    popen.wait()


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _rss(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in bytes."""
    total = 0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


@dataclass
class _Window:
    """CpuMeters on every locust process (and watched pids) over the steady window."""

    leader: int
    watched: dict[str, int]
    meters: dict[int, CpuMeter] = field(default_factory=dict)
    watched_meters: dict[str, CpuMeter] = field(default_factory=dict)
    shares: dict[int, float] = field(default_factory=dict)
    watched_shares: dict[str, float] = field(default_factory=dict)
    watched_rss: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        self.meters = {proc.pid: CpuMeter(proc.pid) for proc in _tree(self.leader)}
        self.watched_meters = {name: CpuMeter(pid) for name, pid in self.watched.items()}

    def stop(self) -> None:
        self.shares = {pid: meter.stop() for pid, meter in self.meters.items()}
        self.watched_shares = {name: meter.stop() for name, meter in self.watched_meters.items()}
        self.watched_rss = {name: _rss(pid) for name, pid in self.watched.items()}

    def busiest_and_total(self) -> tuple[float | None, float | None]:
        """The busiest single process's share of a core, and the whole tree's
        (None when the window was never measured)."""
        if not self.shares:
            return None, None
        total = self.shares.get(self.leader, 0.0)
        workers = [share for pid, share in self.shares.items() if pid != self.leader]
        leader_only = max(0.0, total - sum(workers))
        return max([leader_only, *workers], default=0.0), total


def run_locust(
    *,
    host: str,
    scenario: str,
    flavour: str,
    users: int,
    duration_s: int,
    prefix: Path,
    processes: int = 1,
    spawn_rate: float | None = None,
    cpus: frozenset[int] | None = None,
    options: tuple[str, ...] = (),
    watch: dict[str, int] | None = None,
) -> LocustResult:
    """Run one locust cell to completion and return its final statistics.

    ``watch`` names other processes (e.g. the server) whose CPU is measured over
    the same steady window. Raises :class:`LocustRunError` when locust wrote no
    statistics; the group is killed and reaped whatever happens.
    """
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", "_harness.json"):
        Path(f"{prefix}{suffix}").unlink(missing_ok=True)
    command = locust_command(
        host=host,
        scenario=scenario,
        flavour=flavour,
        users=users,
        spawn_rate=spawn_rate or users,
        duration_s=duration_s,
        processes=processes,
        prefix=prefix,
        options=options,
    )
    log_path = Path(f"{prefix}.log")
    window = _Window(0, dict(watch or {}))
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pin(cpus),
        )
    window.leader = popen.pid
    try:
        _follow(popen, log_path, window, duration_s, ramp_s=users / (spawn_rate or users))
    finally:
        if popen.poll() is None:
            _stop_group(popen)
        else:
            _stop_group(popen, grace=1.0)
    result_file = Path(f"{prefix}.json")
    if not result_file.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise LocustRunError(
            f"locust exited with code {popen.returncode} without writing {result_file}\n"
            f"command: {' '.join(command)}\nlog tail:\n{tail}"
        )
    report_file = Path(f"{prefix}_harness.json")
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    busiest, total = window.busiest_and_total()
    return LocustResult(
        command=command,
        pid=popen.pid,
        returncode=int(popen.returncode),
        entries=load_entries(result_file),
        report=report,
        log_path=log_path,
        generator_cpu=busiest,
        generator_cpu_total=total,
        generator_processes=max(1, len(window.shares)),
        watched_cpu=window.watched_shares,
        watched_rss=window.watched_rss,
    )


def _follow(
    popen: subprocess.Popen[bytes],
    log_path: Path,
    window: _Window,
    duration_s: int,
    ramp_s: float,
) -> None:
    """Wait for locust to exit, measuring CPU from when every user runs (logged, or
    ``ramp_s`` plus a second after the timer started) to just before the limit."""
    deadline = time.monotonic() + duration_s + scaled(_STARTUP_AND_SHUTDOWN_S)
    timer_at: float | None = None
    started = stopped = False
    while popen.poll() is None:
        now = time.monotonic()
        if now > deadline:
            raise LocustRunError(
                f"locust did not finish within {duration_s}s plus "
                f"{scaled(_STARTUP_AND_SHUTDOWN_S):.0f}s; killed it"
            )
        if not stopped:
            text = log_path.read_text(errors="replace")
            if timer_at is None and _TIMER in text:
                timer_at = now
            spawned = any(marker in text for marker in _SPAWNED)
            ramped = timer_at is not None and now >= timer_at + ramp_s + 1.0
            if not started and (spawned or ramped):
                window.start()
                started = True
            if started and (
                _LIMIT in text
                or (timer_at is not None and now >= timer_at + duration_s - _WINDOW_MARGIN_S)
            ):
                window.stop()
                stopped = True
        time.sleep(0.05)
    if started and not stopped:
        window.shares = {}
