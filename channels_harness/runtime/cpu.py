"""CPU used by a process tree over a measured interval.

Load generators report their own CPU next to every figure: a generator close
to a full core per process, or one that fell short of its target rate, was the
limit, not the server (see :func:`generator_bound`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from channels_harness.runtime.procgroup import tree

# A generator process above this share of one core is treated as saturated.
SATURATED_CPU = 0.90
# An open-loop run that achieved less than this share of its target rate fell short.
RATE_SHORTFALL = 0.95


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by ``pid`` and its live descendants."""
    total = 0.0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


class ProcessesCpu:
    """CPU seconds (user plus system) a fixed set of processes used since this
    object was made: a server's whole process tree over a measured window.

    The processes are looked up once, here, so each reading costs one small
    /proc read per process and no scan of the process table; a process that
    ends during the window keeps what it had used when last read.
    """

    def __init__(self, pids: Iterable[int]) -> None:
        self.processes: list[psutil.Process] = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                self.processes.append(psutil.Process(pid))
        self._last = {process.pid: 0.0 for process in self.processes}
        self.started = self._total()

    def _total(self) -> float:
        for process in self.processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                self._last[process.pid] = times.user + times.system
        return sum(self._last.values())

    def seconds(self) -> float:
        """CPU seconds the processes used since this object was made."""
        return self._total() - self.started


@dataclass
class CpuMeter:
    """``meter = CpuMeter(pid); ...; meter.stop()`` gives CPU use as a share of one core."""

    pid: int
    started_cpu: float = 0.0
    started_wall: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    def __post_init__(self) -> None:
        self.started_cpu = cpu_seconds(self.pid)
        self.started_wall = time.monotonic()

    def stop(self) -> float:
        """End the interval; return CPU seconds per wall second (1.0 = one full core)."""
        self.cpu_s = cpu_seconds(self.pid) - self.started_cpu
        self.wall_s = time.monotonic() - self.started_wall
        return self.share

    @property
    def share(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


def generator_bound(
    cpu_share_per_process: float,
    achieved_rate: float | None = None,
    target_rate: float | None = None,
) -> bool:
    """Whether the generator, not the server, limited a cell: its busiest process
    used at least :data:`SATURATED_CPU` of a core, or it achieved less than
    :data:`RATE_SHORTFALL` of the rate it was asked for."""
    if cpu_share_per_process >= SATURATED_CPU:
        return True
    if achieved_rate is not None and target_rate:
        return achieved_rate < RATE_SHORTFALL * target_rate
    return False
