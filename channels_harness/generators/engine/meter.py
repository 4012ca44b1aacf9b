"""CPU used and CPU wanted: what a generator process reports over its window.

CPU time alone cannot show a generator starved by its neighbours on a shared
core (it used little CPU because it got little). Linux's
``/proc/self/schedstat`` also says how long the process sat runnable on the
run queue without a CPU; CPU share plus that wait share close to one core
means the generator wanted a whole core, so it was the limit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from channels_harness.runtime import noise
from channels_harness.runtime.cpu import CpuMeter, ProcessesCpu

if TYPE_CHECKING:
    from channels_harness.generators.engine.result import WorkerResult

SCHEDSTAT = Path("/proc/self/schedstat")


def runqueue_wait_s() -> float:
    """Seconds this process's main thread has waited runnable for a CPU (0 off Linux)."""
    try:
        fields = SCHEDSTAT.read_text().split()
        return int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class WindowMeter:
    """Started at the beginning of a measurement window; :meth:`stop` at its end.

    With ``watch`` (a server's process ids) it also measures those processes'
    CPU time and the machine's noise counters over the same window
    (:meth:`record_server`).
    """

    def __init__(self, watch: Sequence[int] = ()) -> None:
        self.server = ProcessesCpu(watch) if watch else None
        self.system = noise.Snapshot.take() if watch else None
        self.cpu = CpuMeter(os.getpid())
        self.wait_started = runqueue_wait_s()
        self.wait_share = 0.0
        self.server_cpu_s: float | None = None
        self.window: noise.Window | None = None

    def stop(self) -> tuple[float, float]:
        """(CPU share of one core, run-queue wait share) over the window."""
        cpu_share = self.cpu.stop()
        if self.server is not None and self.system is not None:
            self.server_cpu_s = round(self.server.seconds(), 4)
            self.window = noise.Snapshot.take().since(self.system)
        wall = self.cpu.wall_s
        waited = runqueue_wait_s() - self.wait_started
        self.wait_share = waited / wall if wall > 0 else 0.0
        return cpu_share, self.wait_share

    def record_server(self, result: WorkerResult) -> None:
        """Copy the watched server's CPU and the window's noise counters into ``result``."""
        result.server_cpu_s = self.server_cpu_s
        result.noise = self.window.to_json() if self.window is not None else None
