"""Noise evidence: what else the machine did while a figure was measured.

A figure measured while other processes used the server's or the generator's
cores, or while the hypervisor stole CPU time from them, says less about the
server (and past :meth:`Noise.too_noisy`'s bounds its round is measured
again). Over a measurement window this module reads from /proc:

- ``/proc/stat``, per core: time spent running tasks (user, nice, system) and
  time stolen by the hypervisor (steal), in clock ticks;
- ``/proc/pressure/cpu``: how long at least one runnable task waited for a
  CPU (Linux pressure stall information, microseconds). The server's own
  threads competing for its core count here too, so it is recorded as
  evidence and does not by itself mark a window noisy.

:class:`Snapshot` is one reading, :meth:`Snapshot.since` the :class:`Window`
between two (it travels from a generator process as JSON), and
:func:`evidence` turns a window into a :class:`Noise`: steal on the measured
cores, and the CPU that processes other than the server and the generator
used on them. :func:`worst` keeps the worst of a cell's runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from channels_harness.runtime.records import Record

PROC_STAT = Path("/proc/stat")
PRESSURE = Path("/proc/pressure/cpu")
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")

# A window is noisy when the hypervisor stole at least this share of a measured
# core, or other processes used at least this share of the server's or the
# generator's cores (percent of one core).
NOISY_STEAL_PCT = 2.0
NOISY_OTHER_PCT = 10.0
# A window is too noisy to keep (its round is measured again, within a budget)
# from these: a twentieth of a core stolen, or a fifth of a core taken by others,
# changes a run's rate by more than the 5% a figure is meant to settle within.
DROP_STEAL_PCT = 5.0
DROP_OTHER_PCT = 20.0


def _read_stat(text: str) -> tuple[list[float], list[float]]:
    """Task time and steal time per core, in seconds, from /proc/stat's text."""
    busy: dict[int, float] = {}
    steal: dict[int, float] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        values = [int(v) for v in rest.split()]
        core = int(name[3:])
        # user, nice, system; guest time is already inside user
        busy[core] = sum(values[:3]) * TICK_S
        steal[core] = (values[7] if len(values) > 7 else 0) * TICK_S
    cores = range(max(busy, default=-1) + 1)
    return [busy.get(c, 0.0) for c in cores], [steal.get(c, 0.0) for c in cores]


def _read_pressure(text: str) -> float | None:
    """Seconds some task waited for a CPU, from /proc/pressure/cpu's text."""
    for line in text.splitlines():
        if line.startswith("some "):
            for part in line.split():
                if part.startswith("total="):
                    return int(part[len("total=") :]) / 1e6
    return None


@dataclass(frozen=True)
class Snapshot:
    """One reading of the machine's CPU counters."""

    wall: float
    busy_s: list[float]
    steal_s: list[float]
    pressure_s: float | None

    @classmethod
    def take(cls) -> Snapshot:
        """Read the counters now (zeros where /proc does not have them)."""
        try:
            busy, steal = _read_stat(PROC_STAT.read_text())
        except (OSError, ValueError):
            busy, steal = [], []
        try:
            pressure = _read_pressure(PRESSURE.read_text())
        except (OSError, ValueError):
            pressure = None
        return cls(time.monotonic(), busy, steal, pressure)

    def since(self, start: Snapshot) -> Window:
        """The window from ``start`` to this reading."""
        pressure = (
            None
            if self.pressure_s is None or start.pressure_s is None
            else self.pressure_s - start.pressure_s
        )
        return Window(
            wall_s=self.wall - start.wall,
            busy_s=[round(a - b, 3) for a, b in zip(self.busy_s, start.busy_s, strict=False)],
            steal_s=[round(a - b, 3) for a, b in zip(self.steal_s, start.steal_s, strict=False)],
            pressure_s=None if pressure is None else round(pressure, 6),
        )


@dataclass
class Window(Record):
    """The machine over one measurement window: per core (index = core number)
    the seconds spent running tasks and the seconds stolen, and the seconds
    some task waited for a CPU (None where the kernel does not say)."""

    wall_s: float
    busy_s: list[float] = field(default_factory=list)
    steal_s: list[float] = field(default_factory=list)
    pressure_s: float | None = None


@dataclass
class Noise(Record):
    """Noise evidence of a window or of a cell's runs (then the worst of them).

    Percentages are of one core over the window: ``steal_pct`` on the worst
    measured core; ``server_cores_other_pct`` and ``generator_cores_other_pct``
    what processes other than the server and the generator used on their
    cores (the same figure twice when nothing was pinned); ``cpu_pressure_pct``
    the share of the window some task on the machine waited for a CPU.
    """

    steal_pct: float = 0.0
    cpu_pressure_pct: float | None = None
    server_cores_other_pct: float | None = None
    generator_cores_other_pct: float | None = None
    noisy: bool = False
    runs: int = 1
    noisy_runs: int = 0

    def too_noisy(self) -> bool:
        """Whether the window was too busy to keep: CPU steal from
        :data:`DROP_STEAL_PCT`, or other processes' load on the server's or the
        generator's cores from :data:`DROP_OTHER_PCT` (percent of one core)."""
        others = (self.server_cores_other_pct, self.generator_cores_other_pct)
        return self.steal_pct >= DROP_STEAL_PCT or any(
            (other or 0.0) >= DROP_OTHER_PCT for other in others
        )

    def reasons(self) -> list[str]:
        """Why the window was noisy, in words (empty when it was not)."""
        found = []
        if self.steal_pct >= NOISY_STEAL_PCT:
            found.append(f"CPU steal {self.steal_pct:.0f}%")
        if (self.server_cores_other_pct or 0.0) >= NOISY_OTHER_PCT:
            found.append(f"other load on the server core(s) {self.server_cores_other_pct:.0f}%")
        if (self.generator_cores_other_pct or 0.0) >= NOISY_OTHER_PCT:
            found.append(
                f"other load on the generator core(s) {self.generator_cores_other_pct:.0f}%"
            )
        return found


def _on(values: Sequence[float], cores: Collection[int] | None) -> list[float]:
    """The values of ``cores`` (every core when None)."""
    if cores is None:
        return list(values)
    return [values[c] for c in sorted(cores) if c < len(values)]


def _other_pct(window: Window, cores: Collection[int] | None, ours_s: float) -> float | None:
    if window.wall_s <= 0 or not window.busy_s:
        return None
    other = sum(_on(window.busy_s, cores)) - ours_s
    return round(max(0.0, other) / window.wall_s * 100.0, 1)


def evidence(
    window: Window,
    server_cores: Collection[int] | None,
    generator_cores: Collection[int] | None,
    server_cpu_s: float,
    generator_cpu_s: float,
) -> Noise:
    """The noise of one window, given the cores the server and the generator were
    pinned to (None: not pinned, so every core is shared) and the CPU seconds
    they used in the window."""
    wall = window.wall_s
    if server_cores is None or generator_cores is None:
        shared = _other_pct(window, None, server_cpu_s + generator_cpu_s)
        server_other, generator_other = shared, shared
        measured: Collection[int] | None = None
    else:
        server_other = _other_pct(window, server_cores, server_cpu_s)
        generator_other = _other_pct(window, generator_cores, generator_cpu_s)
        measured = set(server_cores) | set(generator_cores)
    steal = max(_on(window.steal_s, measured), default=0.0)
    noise = Noise(
        steal_pct=round(steal / wall * 100.0, 1) if wall > 0 else 0.0,
        cpu_pressure_pct=(
            None
            if window.pressure_s is None or wall <= 0
            else round(min(window.pressure_s / wall, 1.0) * 100.0, 1)
        ),
        server_cores_other_pct=server_other,
        generator_cores_other_pct=generator_other,
    )
    noise.noisy = bool(noise.reasons())
    noise.noisy_runs = int(noise.noisy)
    return noise


def _max(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def worst(runs: Sequence[Noise]) -> Noise | None:
    """One :class:`Noise` for a cell: the worst of each figure over its runs,
    noisy if any run was, and how many runs were (None for no runs)."""
    if not runs:
        return None
    return Noise(
        steal_pct=max(run.steal_pct for run in runs),
        cpu_pressure_pct=_max([run.cpu_pressure_pct for run in runs]),
        server_cores_other_pct=_max([run.server_cores_other_pct for run in runs]),
        generator_cores_other_pct=_max([run.generator_cores_other_pct for run in runs]),
        noisy=any(run.noisy for run in runs),
        runs=sum(run.runs for run in runs),
        noisy_runs=sum(run.noisy_runs for run in runs),
    )
