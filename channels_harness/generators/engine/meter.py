"""CPU used and CPU wanted: what a generator process reports over its window.

CPU time alone cannot show a generator starved by its neighbours on a shared
core (it used little CPU because it got little). Linux's
``/proc/self/schedstat`` also says how long the process sat runnable on the
run queue without a CPU; CPU share plus that wait share close to one core
means the generator wanted a whole core, so it was the limit.
"""

from __future__ import annotations

import os
from pathlib import Path

from channels_harness.runtime.cpu import CpuMeter

SCHEDSTAT = Path("/proc/self/schedstat")


def runqueue_wait_s() -> float:
    """Seconds this process's main thread has waited runnable for a CPU (0 off Linux)."""
    try:
        fields = SCHEDSTAT.read_text().split()
        return int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class WindowMeter:
    """Started at the beginning of a measurement window; :meth:`stop` at its end."""

    def __init__(self) -> None:
        self.cpu = CpuMeter(os.getpid())
        self.wait_started = runqueue_wait_s()
        self.wait_share = 0.0

    def stop(self) -> tuple[float, float]:
        """(CPU share of one core, run-queue wait share) over the window."""
        cpu_share = self.cpu.stop()
        wall = self.cpu.wall_s
        waited = runqueue_wait_s() - self.wait_started
        self.wait_share = waited / wall if wall > 0 else 0.0
        return cpu_share, self.wait_share
