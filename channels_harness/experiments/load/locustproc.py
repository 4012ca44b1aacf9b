"""Run locust headless in subprocesses, pinned, measured, and always reaped.

:func:`run_locust` starts ``python -m locust`` on one scenario file and user
class with :func:`channels_harness.runtime.procgroup.spawn` (its own process group,
pinned to the generator's cores), writes JSON, CSV, HTML and a log under one
prefix, measures the CPU of every locust process over the steady part of the
run (from "all users spawned" to just before the run-time limit) with
:class:`~channels_harness.runtime.cpu.CpuMeter`, and stops every group on every exit
path (:func:`~channels_harness.runtime.procgroup.stop_group`).

Two ways to use several generator processes: ``processes=N`` is locust's
``--processes`` (it forks its workers), ``workers=N`` is the real distributed
mode: a ``--master`` bound to 127.0.0.1 and N ``--worker`` processes started
as separate commands that connect to it, as they would from other machines.
``remote`` (:class:`~.workers.RemoteWorkers`) is that mode across hosts: the
master binds the given address and waits for workers started elsewhere
(``channels-harness worker``). Either way the master waits for its workers for
a bounded time (:class:`~channels_harness.errors.WorkersMissingError` says how
many came), and a worker lost during the run fails it (:func:`~.workers.lost`).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from channels_harness.errors import LocustRunError, UsageError
from channels_harness.experiments.load.locuststats import EntrySummary, by_type, load_entries
from channels_harness.experiments.load.workers import RemoteWorkers, lost, missing
from channels_harness.runtime import procgroup
from channels_harness.runtime.cpu import CpuMeter
from channels_harness.runtime.loopback import LOOPBACK, check_target
from channels_harness.runtime.paths import LOCUSTFILES_DIR, PROJECT_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import free_port

SCENARIOS = ("echo", "churn", "fanout", "idle")
# Your own app (--app or --url): locustfiles/app.py's AppUser, whatever the "flavour".
APP_SCENARIO = "app"
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
# Workers leave on the master's quit message; after the master exited, wait this long.
_WORKER_EXIT_S = 10.0
# How long importing your locustfile may take.
_CHECK_S = 60.0
# How long a master waits for its local workers (--workers) to join.
_LOCAL_WORKERS_WAIT_S = 60.0


def user_class(scenario: str, flavour: str) -> str:
    """``("echo", "generic-async")`` -> ``"EchoGenericAsyncUser"``; ``"AppUser"`` for
    the ``app`` scenario (your app: the flavour is its path)."""
    if scenario == APP_SCENARIO:
        return "AppUser"
    if scenario not in SCENARIOS:
        raise LocustRunError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if flavour not in FLAVOUR_CLASSES:
        raise LocustRunError(
            f"unknown flavour {flavour!r}; choose one of {', '.join(FLAVOUR_CLASSES)}"
        )
    return f"{scenario.capitalize()}{FLAVOUR_CLASSES[flavour]}User"


@dataclass(frozen=True)
class Locustfile:
    """A locustfile, the user classes to run from it (none: every class it has) and
    the folder locust starts in (None: the project's, where the bundled files are)."""

    path: Path
    user_classes: tuple[str, ...] = ()
    cwd: Path | None = None


def bundled(scenario: str, flavour: str) -> Locustfile:
    """The bundled locustfile and user class of a scenario and flavour."""
    return Locustfile(LOCUSTFILES_DIR / f"{scenario}.py", (user_class(scenario, flavour),))


def check_locustfile(path: Path, user_classes: tuple[str, ...] = ()) -> Locustfile:
    """Your locustfile at ``path``, imported in a subprocess as locust would (so this
    process is not patched by gevent), with ``user_classes`` checked against the classes
    it has; UsageError in one line when it does not import or a class is missing."""
    if not path.is_file():
        raise UsageError(f"--locustfile {path}: no such file")
    command = [sys.executable, "-m", "channels_harness.generators.locustcheck", str(path.resolve())]
    popen = procgroup.spawn(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        out, _ = popen.communicate(timeout=scaled(_CHECK_S))
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"--locustfile {path}: importing it took over {scaled(_CHECK_S):.0f} s"
        ) from None
    finally:
        procgroup.stop_group(popen, grace=1.0)
    found = json.loads(out or '{"error": "the check printed nothing"}')
    if "error" in found:
        raise UsageError(f"--locustfile {path} does not import: {found['error']}")
    classes = found["classes"]
    if not classes:
        raise UsageError(
            f"--locustfile {path} has no user class (a subclass of locust's User, not abstract)"
        )
    for name in user_classes:
        if name not in classes:
            raise UsageError(
                f"--user-class {name}: {path} has no user class {name!r} "
                f"(it has {', '.join(classes)})"
            )
    return Locustfile(path.resolve(), tuple(user_classes), Path.cwd())


def locust_command(
    *,
    host: str,
    locustfile: Locustfile,
    users: int,
    spawn_rate: float,
    duration_s: int,
    processes: int,
    prefix: Path,
    options: tuple[str, ...] = (),
    master: RemoteWorkers | None = None,
) -> list[str]:
    """The headless locust command line for one cell, writing under ``prefix``
    (with ``master``, a master bound to its address, waiting for its workers)."""
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile.path),
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
    if master is not None:
        command += _master_options(master)
    return [*command, *options, *locustfile.user_classes]


def _master_options(binding: RemoteWorkers) -> list[str]:
    """A master bound to ``binding``'s address, waiting for its workers, bounded."""
    return [
        "--master",
        "--master-bind-host",
        binding.host,
        "--master-bind-port",
        str(binding.port),
        "--expect-workers",
        str(binding.expect),
        "--expect-workers-max-wait",
        str(binding.wait_whole_s),
    ]


def worker_command(*, locustfile: Locustfile, master_port: int) -> list[str]:
    """A locust worker that connects to the master on loopback ``master_port``.

    The master sends it the host, the user counts and the ``--ws-*`` options.
    """
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile.path),
        "--worker",
        "--master-host",
        LOOPBACK,
        "--master-port",
        str(master_port),
        *locustfile.user_classes,
    ]


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
    # In a distributed run: what each worker reported to the master (its --ws-report-file).
    worker_reports: list[dict[str, Any]] = field(default_factory=list)
    worker_commands: list[list[str]] = field(default_factory=list)
    worker_pids: list[int] = field(default_factory=list)
    # The steady window in wall-clock seconds (what remote workers' samples are on).
    window: tuple[float, float] | None = None

    @property
    def summaries(self) -> dict[str, EntrySummary]:
        return by_type(self.entries)

    @property
    def failures(self) -> int:
        return sum(int(entry["num_failures"]) for entry in self.entries)

    @property
    def requests(self) -> int:
        """Every request of every type the master (or the single process) counted."""
        return sum(int(entry["num_requests"]) for entry in self.entries)

    @property
    def worker_requests(self) -> int | None:
        """The sum of what the workers reported to the master (None if not distributed)."""
        if not self.worker_reports:
            return None
        return sum(
            int(entry["requests"]) for report in self.worker_reports for entry in report["reported"]
        )

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


def _rss(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in bytes."""
    total = 0
    for proc in procgroup.tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


@dataclass
class _Window:
    """CpuMeters on every locust process (and watched pids) over the steady window.

    ``leaders`` are the locust commands started (one, or a master and its
    workers); a leader's tree holds the workers locust forked with ``--processes``.
    """

    leaders: list[int]
    watched: dict[str, int]
    meters: dict[int, CpuMeter] = field(default_factory=dict)
    wall: list[float] = field(default_factory=list)
    watched_meters: dict[str, CpuMeter] = field(default_factory=dict)
    shares: dict[int, float] = field(default_factory=dict)
    watched_shares: dict[str, float] = field(default_factory=dict)
    watched_rss: dict[str, int] = field(default_factory=dict)
    # Which leader's tree each measured process was in.
    owner: dict[int, int] = field(default_factory=dict)

    def start(self) -> None:
        self.owner = {
            proc.pid: leader for leader in self.leaders for proc in procgroup.tree(leader)
        }
        self.meters = {pid: CpuMeter(pid) for pid in self.owner}
        self.watched_meters = {name: CpuMeter(pid) for name, pid in self.watched.items()}
        self.wall = [time.time()]

    def stop(self) -> None:
        self.shares = {pid: meter.stop() for pid, meter in self.meters.items()}
        self.watched_shares = {name: meter.stop() for name, meter in self.watched_meters.items()}
        self.watched_rss = {name: _rss(pid) for name, pid in self.watched.items()}
        self.wall.append(time.time())

    def span(self) -> tuple[float, float] | None:
        """The window's wall-clock start and end, or None when it was not measured."""
        if not self.shares or len(self.wall) != 2:
            return None
        return self.wall[0], self.wall[1]

    def busiest_and_total(self) -> tuple[float | None, float | None]:
        """The busiest single process's share of a core, and all locust processes'
        together (None when the window was never measured)."""
        if not self.shares:
            return None, None
        own: list[float] = []
        total = 0.0
        for leader in self.leaders:
            tree_share = self.shares.get(leader, 0.0)
            children = [
                share
                for pid, share in self.shares.items()
                if pid != leader and self.owner.get(pid) == leader
            ]
            own += [max(0.0, tree_share - sum(children)), *children]
            total += tree_share
        return max(own, default=0.0), total


def run_locust(
    *,
    host: str,
    scenario: str = "",
    flavour: str = "",
    users: int,
    duration_s: int,
    prefix: Path,
    processes: int = 1,
    workers: int = 0,
    spawn_rate: float | None = None,
    cpus: frozenset[int] | None = None,
    options: tuple[str, ...] = (),
    watch: dict[str, int] | None = None,
    hosts: tuple[str, ...] = (),
    allow_remote: bool = False,
    locustfile: Locustfile | None = None,
    remote: RemoteWorkers | None = None,
) -> LocustResult:
    """Run one locust cell to completion and return its final statistics.

    ``locustfile`` (default: the bundled file and class of ``scenario`` and
    ``flavour``) says what locust runs.

    ``hosts`` (several servers) spreads the users round-robin over them
    (``--ws-hosts``); ``host`` is then the first. ``workers`` > 0 runs a
    master and that many worker commands; ``remote`` a master that waits for
    workers on other hosts (load may go to its ``server_bind``). ``watch``
    names other processes (e.g. the server) whose CPU is measured over the
    same steady window. Raises :class:`~channels_harness.errors.TargetRefusedError` for a
    non-loopback target without ``allow_remote``,
    :class:`~channels_harness.errors.WorkersMissingError` when too few workers joined,
    :class:`LocustRunError` when locust wrote no statistics or a worker was lost
    during the run; every group is stopped whatever happens.
    """
    targets = hosts or (host,)
    allowed = (remote.server_bind,) if remote is not None and remote.server_bind else ()
    for target in targets:
        check_target(target, allow_remote=allow_remote, allowed=allowed)
    _clear_outputs(prefix)
    local = 0 if remote is not None else workers
    binding = remote or _local_binding(local)
    locustfile = locustfile or bundled(scenario, flavour)
    command = locust_command(
        host=targets[0],
        locustfile=locustfile,
        users=users,
        spawn_rate=spawn_rate or users,
        duration_s=duration_s,
        processes=processes,
        prefix=prefix,
        options=_target_options(options, targets, allow_remote, allowed),
        master=binding,
    )
    worker_commands = [
        worker_command(locustfile=locustfile, master_port=binding.port)
        for _ in range(local)
        if binding is not None
    ]
    window = _Window([], dict(watch or {}))
    master, worker_pids = _run_processes(
        command,
        worker_commands,
        prefix=prefix,
        cpus=cpus,
        window=window,
        duration_s=duration_s,
        ramp_s=users / (spawn_rate or users),
        cwd=locustfile.cwd or PROJECT_DIR,
        wait_s=binding.wait_s if binding is not None else 0.0,
    )
    return _result(
        prefix,
        command,
        master,
        window=window,
        worker_commands=worker_commands,
        worker_pids=worker_pids,
        binding=binding,
    )


def _local_binding(workers: int) -> RemoteWorkers | None:
    """A loopback master on a free port for ``workers`` local workers (None without)."""
    if not workers:
        return None
    return RemoteWorkers(LOOPBACK, free_port(), workers, scaled(_LOCAL_WORKERS_WAIT_S))


def _clear_outputs(prefix: Path) -> None:
    """Create ``prefix``'s folder and remove what an earlier run left under ``prefix``."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for stale in [Path(f"{prefix}.json"), *prefix.parent.glob(f"{prefix.name}_harness*.json")]:
        stale.unlink(missing_ok=True)


def _target_options(
    options: tuple[str, ...],
    targets: tuple[str, ...],
    allow_remote: bool,
    allowed: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """``options`` plus the ``--ws-*`` options for several targets or remote ones."""
    extra = list(options)
    if len(targets) > 1:
        extra += ["--ws-hosts", ",".join(targets)]
    if allow_remote:
        extra.append("--ws-allow-remote-target")
    if allowed:
        extra += ["--ws-allow-target", ",".join(allowed)]
    return tuple(extra)


def _run_processes(
    command: list[str],
    worker_commands: list[list[str]],
    *,
    prefix: Path,
    cpus: frozenset[int] | None,
    window: _Window,
    duration_s: int,
    ramp_s: float,
    cwd: Path = PROJECT_DIR,
    wait_s: float = 0.0,
) -> tuple[subprocess.Popen[Any], list[int]]:
    """Start the locust command (and its workers) pinned to ``cpus``, measure the
    steady ``window``, wait for the end; return the exited master and the worker
    pids. Every process started is stopped and reaped, whatever happens."""
    log_path = Path(f"{prefix}.log")
    started: list[subprocess.Popen[Any]] = []
    try:
        with open(log_path, "wb") as log:
            master = procgroup.spawn(
                command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, cpus=cpus
            )
        started.append(master)
        for number, argv in enumerate(worker_commands):
            with open(f"{prefix}.worker{number}.log", "wb") as worker_log:
                started.append(
                    procgroup.spawn(
                        argv,
                        cwd=cwd,
                        stdout=worker_log,
                        stderr=subprocess.STDOUT,
                        cpus=cpus,
                    )
                )
        window.leaders = [popen.pid for popen in started]
        _follow(master, log_path, window, duration_s, ramp_s=ramp_s, wait_s=wait_s)
        if master.returncode is not None and master.returncode >= 0:
            for worker in started[1:]:
                # They quit on the master's word, after sending their last statistics.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(timeout=scaled(_WORKER_EXIT_S))
    finally:
        for popen in reversed(started):
            procgroup.stop_group(popen, grace=5.0 if popen.poll() is None else 1.0)
    return master, [popen.pid for popen in started[1:]]


def _result(
    prefix: Path,
    command: list[str],
    master: subprocess.Popen[Any],
    *,
    window: _Window,
    worker_commands: list[list[str]],
    worker_pids: list[int],
    binding: RemoteWorkers | None = None,
) -> LocustResult:
    """What locust wrote under ``prefix`` (statistics, the harness's report, the
    workers' reports) with the CPU ``window`` measured;
    :class:`~channels_harness.errors.WorkersMissingError` when the master (bound as
    ``binding`` says) gave up waiting for its workers,
    :class:`LocustRunError` with the log tail when it wrote no statistics, or saying
    which worker was lost during the run."""
    log_path = Path(f"{prefix}.log")
    result_file = Path(f"{prefix}.json")
    if not result_file.exists():
        log = log_path.read_text(errors="replace")
        if binding is not None:
            shortfall = missing(log, binding.expect, binding.address, binding.wait_whole_s)
            if shortfall is not None:
                raise shortfall
        tail = "\n".join(log.splitlines()[-30:])
        raise LocustRunError(
            f"locust exited with code {master.returncode} without writing {result_file}\n"
            f"command: {' '.join(command)}\nlog tail:\n{tail}"
        )
    report_file = Path(f"{prefix}_harness.json")
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    reason = lost(report)
    if reason is not None:
        raise LocustRunError(reason)
    worker_reports = [
        json.loads(path.read_text())
        for path in sorted(prefix.parent.glob(f"{prefix.name}_harness.worker-*.json"))
    ]
    busiest, total = window.busiest_and_total()
    return LocustResult(
        command=command,
        pid=master.pid,
        returncode=int(master.returncode),
        entries=load_entries(result_file),
        report=report,
        log_path=log_path,
        generator_cpu=busiest,
        generator_cpu_total=total,
        generator_processes=max(1, len(window.shares)),
        watched_cpu=window.watched_shares,
        watched_rss=window.watched_rss,
        worker_reports=worker_reports,
        worker_commands=worker_commands,
        worker_pids=worker_pids,
        window=window.span(),
    )


def _follow(
    popen: subprocess.Popen[Any],
    log_path: Path,
    window: _Window,
    duration_s: int,
    ramp_s: float,
    wait_s: float = 0.0,
) -> None:
    """Wait for locust to exit (at most ``wait_s`` for its workers, the run and its
    start-up and shutdown), measuring CPU from when every user runs (logged, or
    ``ramp_s`` plus a second after the timer started) to just before the limit."""
    deadline = time.monotonic() + wait_s + duration_s + scaled(_STARTUP_AND_SHUTDOWN_S)
    timer_at: float | None = None
    started = stopped = False
    while popen.poll() is None:
        now = time.monotonic()
        if now > deadline:
            raise LocustRunError(
                f"locust did not finish within {duration_s}s plus "
                f"{wait_s + scaled(_STARTUP_AND_SHUTDOWN_S):.0f}s; killed it"
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
