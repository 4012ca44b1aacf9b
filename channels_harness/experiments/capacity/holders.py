"""The capacity generator processes of one climb, driven as one.

A process holds no more connections than its open-file limit allows. When a
climb needs more descriptors than that, its connections are shared among as
many generator processes (all pinned to the generator cores) as it takes, so
the generator never runs out before the server does. :class:`Holders` sends
each command to every process at once and merges their answers; the canaries
and the bursts belong to the first process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from channels_harness.experiments.capacity.plan import FD_MARGIN
from channels_harness.generators.engine.hold import (
    MODULE,
    BurstReport,
    CanaryReport,
    HoldConfig,
    OpenReport,
    SweepReport,
)
from channels_harness.generators.session import GeneratorSession
from channels_harness.runtime import stats
from channels_harness.runtime.timeouts import scaled

# Seconds a generator command may run past its own bound before it counts as hung.
REPLY_GRACE_S = 30.0
# Which stop of one process's ``open`` speaks for all of them, most telling first.
STOPS = ("client", "failures", "deadline", "target")


def processes_needed(connections: int, nofile: int) -> int:
    """Generator processes that hold ``connections`` under an open-file limit of ``nofile``."""
    per_process = max(1000, nofile - FD_MARGIN)
    return max(1, math.ceil(connections / per_process))


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` shares that differ by one at most, largest first."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def _latency(encoded: Sequence[str]) -> stats.LatencySummary | None:
    summary = stats.summarize(stats.merge(text for text in encoded if text))
    return summary if summary.count else None


def merge_open(reports: Sequence[OpenReport], target: int) -> OpenReport:
    """One report for the processes' ``open`` answers."""
    failures: Counter[str] = Counter()
    for report in reports:
        failures.update(report.failures)
    elapsed = max(report.elapsed_s for report in reports)
    opened = sum(report.opened for report in reports)
    latency = _latency([report.histogram for report in reports])
    return OpenReport(
        target=target,
        held=sum(report.held for report in reports),
        opened=opened,
        failed=sum(report.failed for report in reports),
        failures=dict(failures),
        failure_samples=[s for report in reports for s in report.failure_samples][:5],
        dropped_total=sum(report.dropped_total for report in reports),
        stopped=min((report.stopped for report in reports), key=STOPS.index),
        elapsed_s=elapsed,
        accept_rate=round(opened / elapsed, 1) if elapsed > 0 else 0.0,
        rate_end=round(sum(report.rate_end for report in reports), 1),
        handshake_p50_ms=latency.p50_ms if latency else None,
        handshake_p99_ms=latency.p99_ms if latency else None,
        handshake_max_ms=latency.max_ms if latency else None,
        retransmits=sum(report.retransmits for report in reports),
        generator_cpu=max((report.generator_cpu or 0.0) for report in reports),
        generator_wait=max((report.generator_wait or 0.0) for report in reports),
        generator_rss_bytes=sum((report.generator_rss_bytes or 0) for report in reports),
    )


def merge_sweep(reports: Sequence[SweepReport]) -> SweepReport:
    """One report for the processes' ``sweep`` answers."""
    latency = _latency([report.histogram for report in reports])
    return SweepReport(
        pinged=sum(report.pinged for report in reports),
        answered=sum(report.answered for report in reports),
        unanswered=sum(report.unanswered for report in reports),
        lost=sum(report.lost for report in reports),
        held=sum(report.held for report in reports),
        dropped_total=sum(report.dropped_total for report in reports),
        p50_ms=latency.p50_ms if latency else None,
        max_ms=latency.max_ms if latency else None,
        elapsed_s=max(report.elapsed_s for report in reports),
    )


class Holders:
    """``count`` capacity generator processes sharing one climb's connections."""

    def __init__(
        self,
        config: HoldConfig,
        count: int,
        cpus: frozenset[int] | None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.count = count
        self.configs = [
            dataclasses.replace(
                config,
                canaries=config.canaries if index == 0 else 0,
                start_rate=config.start_rate / count,
                max_rate=config.max_rate / count,
                min_rate=config.min_rate / count,
                max_inflight=max(1, config.max_inflight // count),
                nofile=math.ceil(config.nofile / count) + FD_MARGIN,
            )
            for index in range(count)
        ]
        self.cpus = cpus
        self.on_progress = on_progress
        self._progress: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()
        self.sessions: list[GeneratorSession] = []

    def __enter__(self) -> Holders:
        try:
            for index, config in enumerate(self.configs):
                session = GeneratorSession(
                    MODULE, config.to_json(), self.cpus, self._reporter(index)
                )
                self.sessions.append(self._stack.enter_context(session))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every generator process and reap its group (safe to repeat): the
        kernel closes the connections they held."""
        self._stack.close()

    @property
    def pids(self) -> list[int]:
        return [session.pid for session in self.sessions if session.pid is not None]

    def _reporter(self, index: int) -> Callable[[dict[str, Any]], None]:
        def report(line: dict[str, Any]) -> None:
            with self._lock:
                self._progress[index] = line
                held = sum(int(p.get("held", 0)) for p in self._progress.values())
                rate = sum(float(p.get("rate", 0.0)) for p in self._progress.values())
            if self.on_progress is not None:
                self.on_progress({"held": held, "rate": round(rate, 1)})

        return report

    def _everywhere(
        self, commands: Sequence[dict[str, Any]], bound_s: float
    ) -> list[dict[str, Any]]:
        """Send ``commands[i]`` to process i, all at once; their replies in order."""
        timeout = bound_s + scaled(REPLY_GRACE_S)
        with ThreadPoolExecutor(max_workers=self.count) as pool:
            calls = [
                pool.submit(session.call, command, timeout)
                for session, command in zip(self.sessions, commands, strict=True)
            ]
            return [call.result() for call in calls]

    def open(self, target: int, deadline_s: float, connect_timeout_s: float) -> OpenReport:
        """Open paced connections until ``target`` are held among all processes."""
        commands = [
            {"op": "open", "target": share, "deadline_s": deadline_s}
            for share in split(target, self.count)
        ]
        replies = self._everywhere(commands, deadline_s + connect_timeout_s)
        return merge_open([OpenReport.from_json(reply) for reply in replies], target)

    def sweep(self, timeout_s: float) -> SweepReport:
        """Ping every held connection of every process."""
        replies = self._everywhere(
            [{"op": "sweep", "timeout_s": timeout_s}] * self.count, timeout_s
        )
        return merge_sweep([SweepReport.from_json(reply) for reply in replies])

    def canary(self, messages: int, timeout_s: float) -> CanaryReport:
        """Echo round trips on the first process's canaries."""
        command = {"op": "canary", "messages": messages, "timeout_s": timeout_s}
        bound = messages * timeout_s + scaled(REPLY_GRACE_S)
        return CanaryReport.from_json(self.sessions[0].call(command, bound))

    def burst(self, count: int, timeout_s: float) -> BurstReport:
        """``count`` connections at once from the first process, then closed."""
        command = {"op": "burst", "count": count, "timeout_s": timeout_s}
        bound = 2 * timeout_s + scaled(REPLY_GRACE_S)
        return BurstReport.from_json(self.sessions[0].call(command, bound))

    def close(self, timeout_s: float) -> int:
        """Close every held connection; how many were open."""
        replies = self._everywhere(
            [{"op": "close", "timeout_s": timeout_s}] * self.count, timeout_s
        )
        return sum(int(reply.get("closed", 0)) for reply in replies)
