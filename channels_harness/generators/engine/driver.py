"""Run a load with one or more generator processes and merge what they measured.

Each process is ``python -m channels_harness.generators.engine.worker``, started
by :func:`channels_harness.runtime.procgroup.spawn` in its own session and
pinned to one of the generator cores; all of them open their
connections first and start measuring together. Their HdrHistograms are
merged here. Every process is killed and reaped on every exit path.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

from hdrh.histogram import HdrHistogram

from channels_harness.errors import GeneratorError
from channels_harness.generators.engine.client import GENERATOR_NAME
from channels_harness.generators.engine.result import LoadConfig, WorkerResult
from channels_harness.generators.engine.worker import GO, READY, RESULT
from channels_harness.runtime import cpu, procgroup, stats
from channels_harness.runtime.timeouts import scaled

STARTUP_S = 30.0
# How long a worker may take to exit on SIGTERM before it gets SIGKILL.
_STOP_GRACE_S = 2.0


@dataclass
class LoadResult:
    """The merged measurement of every generator process of one run."""

    config: LoadConfig
    workers: list[WorkerResult]
    generator_cpus: list[int] | None = None
    histogram: HdrHistogram = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.histogram = stats.merge(w.histogram for w in self.workers)

    @property
    def processes(self) -> int:
        return len(self.workers)

    @property
    def rate(self) -> float:
        """Messages (or handshakes) per second, all processes together."""
        return sum(w.rate for w in self.workers)

    @property
    def sent(self) -> int:
        return sum(w.sent for w in self.workers)

    @property
    def received(self) -> int:
        return sum(w.received for w in self.workers)

    @property
    def measured(self) -> int:
        return sum(w.measured for w in self.workers)

    @property
    def errors(self) -> int:
        return sum(w.errors for w in self.workers)

    @property
    def error_samples(self) -> list[str]:
        return [s for w in self.workers for s in w.error_samples][:5]

    @property
    def unsolicited(self) -> int:
        return sum(w.unsolicited for w in self.workers)

    @property
    def connected(self) -> int:
        return sum(w.connected for w in self.workers)

    @property
    def step_names(self) -> list[str]:
        """The measured steps of a conversation, in the scenario's order ([] for the echo)."""
        return list(dict.fromkeys(name for w in self.workers for name in w.steps))

    @property
    def other(self) -> dict[str, int]:
        """Frames no step could use, by kind, over every process, most frequent first."""
        total: Counter[str] = Counter()
        for worker in self.workers:
            total.update(worker.other)
        return dict(total.most_common())

    def for_step(self, name: str) -> LoadResult:
        """This result as step ``name`` alone: its measured count, latencies and
        errors (plus the connections' errors, which belong to no step), with
        the run's window, CPU and noise (KeyError for a step it does not have)."""
        return LoadResult(
            self.config,
            [_step_view(worker, name) for worker in self.workers],
            self.generator_cpus,
        )

    def push_summary(self, name: str) -> stats.LatencySummary | None:
        """Step ``name``'s push latency percentiles (None when it measured none)."""
        encoded = [w.steps[name].push_histogram for w in self.workers if name in w.steps]
        if not any(encoded):
            return None
        return stats.summarize(stats.merge(encoded))

    @property
    def cpu_per_process(self) -> list[float]:
        return [round(w.cpu, 3) for w in self.workers]

    @property
    def generator_cpu(self) -> float:
        """The busiest process's CPU, as a share of one core."""
        return max(self.cpu_per_process, default=0.0)

    @property
    def generator_demand(self) -> float:
        """The hungriest process's CPU used plus CPU waited for, as a share of one core."""
        return max((w.cpu + w.cpu_wait for w in self.workers), default=0.0)

    @property
    def target_rate(self) -> float:
        return sum(w.target_rate for w in self.workers)

    @property
    def achieved_rate(self) -> float:
        return round(sum(w.achieved_rate for w in self.workers), 1)

    @property
    def summary(self) -> stats.LatencySummary:
        return stats.summarize(self.histogram)

    @property
    def generator_bound(self) -> bool:
        """Whether the generator, not the server, was the limit: its hungriest
        process near a full core (used, or used plus waited for on a shared
        core), all processes together near all their cores, or an open loop
        short of its target rate."""
        open_loop = self.config.mode == "open"
        if cpu.generator_bound(
            self.generator_demand,
            self.achieved_rate if open_loop else None,
            self.target_rate if open_loop else None,
        ):
            return True
        cores = len(self.generator_cpus) if self.generator_cpus else os.cpu_count() or 1
        return sum(self.cpu_per_process) >= cpu.SATURATED_CPU * cores

    def describe(self) -> dict[str, Any]:
        """The generator fields every result row carries."""
        return {
            "generator": GENERATOR_NAME,
            "generator_processes": self.processes,
            "generator_cpu": round(self.generator_cpu, 3),
            "generator_cpu_wait": round(max(w.cpu_wait for w in self.workers), 3),
            "generator_cpu_per_process": self.cpu_per_process,
            "generator_bound": self.generator_bound,
        }


def _step_view(worker: WorkerResult, name: str) -> WorkerResult:
    """``worker`` as step ``name`` alone (see :meth:`LoadResult.for_step`); ``sent``
    counts the step's instances begun."""
    step = worker.steps[name]
    connection_errors = worker.errors - sum(s.errors for s in worker.steps.values())
    step_samples = {s for other in worker.steps.values() for s in other.error_samples}
    general = [s for s in worker.error_samples if s not in step_samples]
    return replace(
        worker,
        measured=step.measured,
        sent=step.begun,
        histogram=step.histogram,
        errors=step.errors + connection_errors,
        error_samples=(step.error_samples + general)[:5],
        steps={name: step},
    )


def split(config: LoadConfig, processes: int) -> list[LoadConfig]:
    """Share ``config``'s connections (and rate) between ``processes`` processes,
    numbering the connections on from one process to the next."""
    processes = max(1, min(processes, config.connections))
    base, extra = divmod(config.connections, processes)
    rate = config.rate / processes if config.rate else None
    counts = [base + (1 if i < extra else 0) for i in range(processes)]
    return [
        replace(
            config, connections=count, rate=rate, first_conn=config.first_conn + sum(counts[:i])
        )
        for i, count in enumerate(counts)
    ]


class _Worker:
    """One worker subprocess (started by :func:`procgroup.spawn`) and a thread
    that queues its stdout lines."""

    def __init__(self, config: LoadConfig, core: int | None) -> None:
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in kill)
        self.popen = procgroup.spawn(
            [sys.executable, "-m", "channels_harness.generators.engine.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            cpus=frozenset({core}) if core is not None else None,
        )
        try:
            self.lines: queue.Queue[str | None] = queue.Queue()
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
            self.send(json.dumps(config.to_json()))
        except BaseException:
            self.kill()
            raise

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.popen.stdin.write(line.encode() + b"\n")
            self.popen.stdin.flush()

    def expect(self, prefix: str, deadline: float) -> str:
        """The first stdout line starting with ``prefix``; GeneratorError otherwise."""
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.0))
            except queue.Empty:
                raise GeneratorError(
                    f"generator process {self.popen.pid} sent no {prefix.strip()} in time"
                    f"{self.stderr_tail()}"
                ) from None
            if line is None:
                raise GeneratorError(
                    f"generator process {self.popen.pid} exited (code {self.popen.wait()}) "
                    f"before {prefix.strip()}{self.stderr_tail()}"
                )
            if line.startswith(prefix):
                return line[len(prefix) :]

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode("utf-8", "replace").strip()
        return f"\n{text[-2000:]}" if text else ""

    def kill(self) -> None:
        """Stop the worker's whole session and reap it (a worker that already
        printed its result has exited; one that hangs gets SIGKILL after a grace)."""
        procgroup.stop_group(self.popen, grace=_STOP_GRACE_S)
        self.stderr.close()


def run_parts(
    configs: Sequence[LoadConfig], cpus: Sequence[int] | frozenset[int] | None = None
) -> tuple[list[WorkerResult], list[int]]:
    """Run each config in its own worker process pinned round-robin to ``cpus``
    (unpinned when None), all starting together; return their results and the cores.

    Raises :class:`GeneratorError` when a worker dies or overruns its time.
    """
    cores = sorted(cpus) if cpus else []
    longest = max(configs, key=lambda c: c.warmup_s + c.duration_s + 2 * c.drain_s)
    workers: list[_Worker] = []
    try:
        for i, part in enumerate(configs):
            workers.append(_Worker(part, cores[i % len(cores)] if cores else None))
        deadline = time.monotonic() + scaled(STARTUP_S + longest.open_budget_s)
        for worker in workers:
            worker.expect(READY, deadline)
        for worker in workers:
            worker.send(GO)
        run_s = longest.warmup_s + longest.duration_s + 2 * longest.drain_s
        deadline = time.monotonic() + scaled(run_s + longest.connect_timeout_s + 10.0)
        results = [
            WorkerResult.from_json(json.loads(worker.expect(RESULT, deadline)))
            for worker in workers
        ]
    finally:
        for worker in workers:
            worker.kill()
    return results, cores


def run_load(
    config: LoadConfig, processes: int = 1, cpus: Sequence[int] | frozenset[int] | None = None
) -> LoadResult:
    """Run ``config`` split over ``processes`` worker processes pinned round-robin
    to ``cpus`` (unpinned when None); return the merged result.

    Raises :class:`GeneratorError` when a worker dies or overruns its time.
    """
    results, cores = run_parts(split(config, processes), cpus)
    return LoadResult(config, results, cores or None)
