"""What a benchmark run measures: the matrix presets and how long they take.

The whole matrix (every server x 4 flavours x 4 concurrencies x 3 payloads,
3 runs each, plus latency, handshakes, memory, breakdown and blocking) takes
far more than 15 minutes on a 2-core machine, so there are three presets,
chosen with ``--matrix``:

- ``quick`` (under 2 minutes): daphne and uvicorn, 4 flavours, 50 connections,
  32 B text, 3 short runs; headroom, handshakes, one open-loop latency cell,
  one layer breakdown (uvicorn, one run per layer).
- ``standard`` (the default, under 15 minutes): every server x 4 flavours at
  50 connections and 32 B text; for the focus servers (daphne and uvicorn,
  :data:`~channels_harness.servers.registry.FOCUS_SERVERS`) the concurrency sweep
  (1, 10, 100, 1000) and the payload sweep (4 KiB, 64 KiB bytes) for sync and
  async; open-loop latency, handshakes and memory per idle connection per
  server; breakdown for daphne and uvicorn; blocking handlers for daphne and
  uvicorn.
- ``full``: the whole matrix for every server (about an hour).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from channels_harness.servers.reference import FLAVOURS
from channels_harness.servers.registry import FOCUS_SERVERS

MATRICES = ("quick", "standard", "full")
HEADLINE_CONCURRENCY = 50
HEADLINE_PAYLOAD = "32B-text"


@dataclass(frozen=True)
class Cell:
    """One closed-loop throughput cell."""

    server: str
    flavour: str
    concurrency: int
    payload: str

    @property
    def label(self) -> str:
        """The cell as progress and the headroom row name it: ``uvicorn async c=50 32B-text``."""
        return f"{self.server} {self.flavour} c={self.concurrency} {self.payload}"


@dataclass(frozen=True)
class BenchPlan:
    """Everything one benchmark run measures, and for how long."""

    matrix: str
    servers: tuple[str, ...]
    flavours: tuple[str, ...]
    cells: tuple[Cell, ...]
    runs: int = 3
    duration_s: float = 2.0
    warmup_s: float = 0.5
    generator_processes: int = 1
    # open-loop latency: (server, flavour) at these shares of the cell's peak
    latency_cells: tuple[tuple[str, str], ...] = ()
    latency_shares: tuple[float, ...] = (0.25, 0.5, 0.75)
    latency_duration_s: float = 3.0
    handshake_flavours: tuple[str, ...] = ("sync", "async")
    handshake_concurrency: int = 10
    handshake_runs: int = 3
    handshake_duration_s: float = 1.5
    memory_flavours: tuple[str, ...] = ()
    memory_connections: int = 1000
    breakdown_servers: tuple[str, ...] = ()
    breakdown_runs: int = 3
    blocking_servers: tuple[str, ...] = ()
    blocking_delays_ms: tuple[int, ...] = (1, 5, 10)
    blocking_duration_s: float = 2.0

    def describe(self) -> dict[str, object]:
        """For ``run.data["options"]``: what was measured, without the cell list."""
        return {
            "matrix": self.matrix,
            "servers": list(self.servers),
            "flavours": list(self.flavours),
            "throughput_cells": len(self.cells),
            "concurrencies": sorted({c.concurrency for c in self.cells}),
            "payloads": sorted({c.payload for c in self.cells}),
            "runs": self.runs,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "generator_processes": self.generator_processes,
            "latency_cells": [list(c) for c in self.latency_cells],
            "latency_shares": list(self.latency_shares),
            "handshake_flavours": list(self.handshake_flavours),
            "memory_flavours": list(self.memory_flavours),
            "memory_connections": self.memory_connections,
            "breakdown_servers": list(self.breakdown_servers),
            "blocking_servers": list(self.blocking_servers),
            "blocking_delays_ms": list(self.blocking_delays_ms),
        }


def _headline(servers: tuple[str, ...], flavours: tuple[str, ...]) -> list[Cell]:
    return [
        Cell(server, flavour, HEADLINE_CONCURRENCY, HEADLINE_PAYLOAD)
        for server in servers
        for flavour in flavours
    ]


def _sweeps(
    servers: tuple[str, ...],
    flavours: tuple[str, ...],
    concurrencies: tuple[int, ...],
    payloads: tuple[str, ...],
) -> list[Cell]:
    return [
        Cell(server, flavour, concurrency, payload)
        for server in servers
        for flavour in flavours
        for concurrency in concurrencies
        for payload in payloads
    ]


def _dedupe(cells: list[Cell]) -> tuple[Cell, ...]:
    return tuple(dict.fromkeys(cells))


def _pick(wanted: tuple[str, ...], chosen: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in wanted if name in chosen)


def _quick(servers: tuple[str, ...], flavours: tuple[str, ...], pair: tuple[str, ...]) -> BenchPlan:
    focus = servers[:2]
    return BenchPlan(
        matrix="quick",
        servers=focus,
        flavours=flavours,
        cells=_dedupe(_headline(focus, flavours)),
        duration_s=1.5,
        warmup_s=0.3,
        latency_cells=tuple((focus[-1], flavour) for flavour in pair[-1:]),
        latency_shares=(0.5,),
        latency_duration_s=2.0,
        handshake_flavours=pair,
        handshake_runs=1,
        handshake_duration_s=1.0,
        breakdown_servers=focus[-1:],
        breakdown_runs=1,
    )


def _standard(
    servers: tuple[str, ...], flavours: tuple[str, ...], pair: tuple[str, ...]
) -> BenchPlan:
    focus = _pick(FOCUS_SERVERS, servers) or servers[:2]
    cells = _headline(servers, flavours)
    cells += _sweeps(focus, pair, (1, 10, 100, 1000), (HEADLINE_PAYLOAD,))
    cells += _sweeps(focus, pair, (HEADLINE_CONCURRENCY,), ("4KiB-bytes", "64KiB-bytes"))
    return BenchPlan(
        matrix="standard",
        servers=servers,
        flavours=flavours,
        cells=_dedupe(cells),
        duration_s=1.5,
        warmup_s=0.3,
        latency_cells=tuple((s, f) for s in focus for f in pair),
        latency_duration_s=2.0,
        handshake_duration_s=1.0,
        blocking_duration_s=1.5,
        handshake_flavours=pair,
        memory_flavours=pair,
        breakdown_servers=focus,
        blocking_servers=focus,
    )


def _full(servers: tuple[str, ...], flavours: tuple[str, ...], pair: tuple[str, ...]) -> BenchPlan:
    cells = _sweeps(
        servers, flavours, (1, 10, 100, 1000), (HEADLINE_PAYLOAD, "4KiB-bytes", "64KiB-bytes")
    )
    return BenchPlan(
        matrix="full",
        servers=servers,
        flavours=flavours,
        cells=_dedupe(_headline(servers, flavours) + cells),
        latency_cells=tuple((s, f) for s in servers for f in flavours),
        handshake_flavours=flavours,
        memory_flavours=flavours,
        breakdown_servers=servers,
        blocking_servers=servers,
    )


_PRESETS = {"quick": _quick, "standard": _standard, "full": _full}


def make_plan(
    matrix: str,
    servers: tuple[str, ...],
    flavours: tuple[str, ...] = FLAVOURS,
    runs: int | None = None,
    generator_processes: int = 1,
) -> BenchPlan:
    """The preset ``matrix`` restricted to ``servers`` and ``flavours``; ``runs``
    (if given) sets the throughput runs and caps the handshake and breakdown runs."""
    if matrix not in MATRICES:
        raise ValueError(f"matrix {matrix!r} is not one of {MATRICES}")
    pair = _pick(("sync", "async"), flavours) or flavours[:2]
    plan = _PRESETS[matrix](servers, flavours, pair)
    if runs is None:
        return replace(plan, generator_processes=generator_processes)
    return replace(
        plan,
        runs=runs,
        handshake_runs=min(runs, plan.handshake_runs),
        breakdown_runs=min(runs, plan.breakdown_runs),
        generator_processes=generator_processes,
    )
