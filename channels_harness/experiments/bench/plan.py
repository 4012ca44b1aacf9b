"""What a benchmark run measures: the matrix presets and how long they take.

The whole matrix (every server x 4 flavours x 4 concurrencies x 3 payloads,
plain and TLS, plus latency, handshakes, memory, breakdown and blocking) takes
far more than 15 minutes on a 2-core machine, so there are three presets,
chosen with ``--matrix``:

- ``quick`` (a few minutes): daphne and uvicorn, 4 flavours, 50 connections,
  32 B text, short runs (6 rounds); headroom, handshakes (3 rounds), one
  open-loop latency cell, one layer breakdown (uvicorn, one run per layer).
  No TLS unless asked.
- ``standard`` (the default, about 20 minutes on 2 cores): every server x 4 flavours at
  50 connections and 32 B text, and sync and async over TLS (6 rounds of
  1 s); for the focus servers (daphne and uvicorn,
  :data:`~channels_harness.servers.registry.FOCUS_SERVERS`) the concurrency
  sweep (1, 10, 100, 1000) and the payload sweep (4 KiB, 64 KiB bytes) for
  sync and async (3 rounds); open-loop latency, handshakes (plain and TLS, 3
  to 5 rounds) and memory per idle connection per server; breakdown for
  daphne and uvicorn; blocking handlers for daphne and uvicorn.
- ``full``: the whole matrix for every server (about an hour): headline cells
  and handshakes 6 to 10 rounds, the sweeps 3.

Throughput cells and handshakes repeat adaptively (:class:`Rounds`): at least
their minimum of interleaved rounds, then more, up to their budget, until every
cell's interval reaches at most
:data:`~channels_harness.runtime.confidence.TARGET_HALF_WIDTH_PCT` percent from
its median; a cell that never gets there is stored as unstable. A cell's
interval is a 95% confidence interval from
:data:`~channels_harness.runtime.confidence.MIN_CI_RUNS` (6) runs on, which is
why the headline cells, whose ratios are the verdict, measure at least 6; with
fewer (the sweeps, the quick and standard handshakes) it is the range of the
runs and reports call it so. A round the machine made too noisy is measured
again, up to ``noisy_redo`` times per measurement
(:mod:`~channels_harness.experiments.bench.interleave`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from channels_harness.runtime.confidence import TARGET_HALF_WIDTH_PCT
from channels_harness.servers.reference import FLAVOURS
from channels_harness.servers.registry import FOCUS_SERVERS, get_spec

MATRICES = ("quick", "standard", "full")
HEADLINE_CONCURRENCY = 50
HEADLINE_PAYLOAD = "32B-text"


@dataclass(frozen=True)
class Rounds:
    """How many interleaved rounds a measurement takes: at least ``minimum``, and
    more, up to ``maximum``, until every member's figure has settled; and how
    many rounds too noisy to keep may be measured again (``redo``)."""

    minimum: int
    maximum: int
    redo: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"rounds must satisfy 1 <= minimum <= maximum, not {self}")

    def describe(self, index: int) -> str:
        """Round ``index`` (from 0) for progress: ``run 3/5`` or ``run 6 (5-10)``."""
        if self.minimum == self.maximum:
            return f"run {index + 1}/{self.maximum}"
        return f"run {index + 1} ({self.minimum}-{self.maximum})"


@dataclass(frozen=True)
class Cell:
    """One closed-loop throughput cell (over TLS when ``tls``)."""

    server: str
    flavour: str
    concurrency: int
    payload: str
    tls: bool = False

    @property
    def label(self) -> str:
        """The cell as progress and the headroom row name it: ``uvicorn async c=50 32B-text``
        (``uvicorn async TLS c=50 32B-text`` over TLS)."""
        flavour = f"{self.flavour} TLS" if self.tls else self.flavour
        return f"{self.server} {flavour} c={self.concurrency} {self.payload}"


@dataclass(frozen=True)
class BenchPlan:
    """Everything one benchmark run measures, and for how long."""

    matrix: str
    servers: tuple[str, ...]
    flavours: tuple[str, ...]
    cells: tuple[Cell, ...]
    # throughput at the headline cell: at least `runs` rounds, at most `max_runs`;
    # the other concurrencies and payloads (the sweeps): `sweep_runs` to `sweep_max_runs`
    runs: int = 6
    max_runs: int = 10
    sweep_runs: int = 3
    sweep_max_runs: int = 3
    target_ci_pct: float = TARGET_HALF_WIDTH_PCT
    # rounds too noisy to keep that each measurement may measure again
    noisy_redo: int = 2
    duration_s: float = 2.0
    warmup_s: float = 0.5
    generator_processes: int = 1
    # open-loop latency: (server, flavour) at these shares of the cell's peak
    latency_cells: tuple[tuple[str, str], ...] = ()
    latency_shares: tuple[float, ...] = (0.25, 0.5, 0.75)
    latency_duration_s: float = 3.0
    handshake_flavours: tuple[str, ...] = ("sync", "async")
    handshake_concurrency: int = 10
    handshake_duration_s: float = 1.5
    handshake_runs: int = 6
    handshake_max_runs: int = 10
    # handshakes over TLS too (for the servers that can serve it)
    tls_handshakes: bool = False
    headroom_runs: int = 3
    memory_flavours: tuple[str, ...] = ()
    memory_connections: int = 1000
    breakdown_servers: tuple[str, ...] = ()
    breakdown_runs: int = 3
    blocking_servers: tuple[str, ...] = ()
    blocking_delays_ms: tuple[int, ...] = (1, 5, 10)
    blocking_duration_s: float = 2.0

    @property
    def rounds(self) -> Rounds:
        """The rounds of the headline throughput cells."""
        return Rounds(self.runs, self.max_runs, self.noisy_redo)

    def rounds_for(self, cell: Cell) -> Rounds:
        """The rounds of ``cell``: the headline's, or the sweeps' for other
        concurrencies and payloads."""
        if (cell.concurrency, cell.payload) == (HEADLINE_CONCURRENCY, HEADLINE_PAYLOAD):
            return self.rounds
        return Rounds(self.sweep_runs, self.sweep_max_runs, self.noisy_redo)

    @property
    def handshake_rounds(self) -> Rounds:
        """The rounds of handshake measurements."""
        return Rounds(self.handshake_runs, self.handshake_max_runs, self.noisy_redo)

    def handshake_members(self, server: str) -> list[tuple[str, bool]]:
        """(flavour, over TLS) of every handshake measurement of ``server``."""
        tls = (False, True) if self.tls_handshakes and get_spec(server).serves_tls else (False,)
        return [(flavour, over_tls) for flavour in self.handshake_flavours for over_tls in tls]

    def describe(self) -> dict[str, object]:
        """For ``run.data["options"]``: what was measured, without the cell list."""
        return {
            "matrix": self.matrix,
            "servers": list(self.servers),
            "flavours": list(self.flavours),
            "throughput_cells": len(self.cells),
            "tls_cells": sum(1 for c in self.cells if c.tls),
            "concurrencies": sorted({c.concurrency for c in self.cells}),
            "payloads": sorted({c.payload for c in self.cells}),
            "runs": self.runs,
            "max_runs": self.max_runs,
            "sweep_runs": self.sweep_runs,
            "sweep_max_runs": self.sweep_max_runs,
            "target_ci_pct": self.target_ci_pct,
            "noisy_redo": self.noisy_redo,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "generator_processes": self.generator_processes,
            "latency_cells": [list(c) for c in self.latency_cells],
            "latency_shares": list(self.latency_shares),
            "handshake_flavours": list(self.handshake_flavours),
            "handshake_runs": self.handshake_runs,
            "handshake_max_runs": self.handshake_max_runs,
            "tls_handshakes": self.tls_handshakes,
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


def _tls(servers: tuple[str, ...], flavours: tuple[str, ...]) -> list[Cell]:
    """The headline cell over TLS for ``flavours`` on every server that can serve it."""
    return [
        Cell(server, flavour, HEADLINE_CONCURRENCY, HEADLINE_PAYLOAD, tls=True)
        for server in servers
        if get_spec(server).serves_tls
        for flavour in flavours
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
        max_runs=6,
        duration_s=1.5,
        warmup_s=0.3,
        latency_cells=tuple((focus[-1], flavour) for flavour in pair[-1:]),
        latency_shares=(0.5,),
        latency_duration_s=2.0,
        handshake_flavours=pair,
        handshake_duration_s=1.0,
        handshake_runs=3,
        handshake_max_runs=3,
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
    cells += _tls(servers, pair)
    return BenchPlan(
        matrix="standard",
        servers=servers,
        flavours=flavours,
        cells=_dedupe(cells),
        max_runs=6,
        duration_s=1.0,
        warmup_s=0.3,
        latency_cells=tuple((s, f) for s in focus for f in pair),
        latency_duration_s=2.0,
        handshake_duration_s=1.0,
        handshake_runs=3,
        handshake_max_runs=5,
        blocking_duration_s=1.5,
        handshake_flavours=pair,
        tls_handshakes=True,
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
        cells=_dedupe(_headline(servers, flavours) + cells + _tls(servers, flavours)),
        latency_cells=tuple((s, f) for s in servers for f in flavours),
        handshake_flavours=flavours,
        tls_handshakes=True,
        memory_flavours=flavours,
        breakdown_servers=servers,
        blocking_servers=servers,
    )


_PRESETS = {"quick": _quick, "standard": _standard, "full": _full}


def _with_tls(plan: BenchPlan, tls: bool) -> BenchPlan:
    """``plan`` with (the headline pair over TLS, TLS handshakes) or without TLS."""
    if not tls:
        return replace(plan, cells=tuple(c for c in plan.cells if not c.tls), tls_handshakes=False)
    pair = _pick(("sync", "async"), plan.flavours) or plan.flavours[:2]
    cells = _dedupe([*plan.cells, *_tls(plan.servers, pair)])
    return replace(plan, cells=cells, tls_handshakes=True)


def make_plan(
    matrix: str,
    servers: tuple[str, ...],
    flavours: tuple[str, ...] = FLAVOURS,
    runs: int | None = None,
    generator_processes: int = 1,
    max_runs: int | None = None,
    tls: bool | None = None,
) -> BenchPlan:
    """The preset ``matrix`` restricted to ``servers`` and ``flavours``.

    ``runs`` (if given) sets the least rounds of the headline throughput cells
    and caps the sweeps', handshake, breakdown and headroom runs; ``max_runs``
    the most rounds of throughput cells and handshakes (default: the preset's,
    or exactly ``runs`` when only that is given). ``tls`` adds or removes the TLS cells and
    handshakes (default: the preset's choice).
    """
    if matrix not in MATRICES:
        raise ValueError(f"matrix {matrix!r} is not one of {MATRICES}")
    pair = _pick(("sync", "async"), flavours) or flavours[:2]
    plan = replace(
        _PRESETS[matrix](servers, flavours, pair), generator_processes=generator_processes
    )
    if tls is not None:
        plan = _with_tls(plan, tls)
    if runs is not None:
        plan = replace(
            plan,
            runs=runs,
            max_runs=runs,
            sweep_runs=min(runs, plan.sweep_runs),
            sweep_max_runs=min(runs, plan.sweep_runs),
            handshake_runs=min(runs, plan.handshake_runs),
            handshake_max_runs=min(runs, plan.handshake_runs),
            breakdown_runs=min(runs, plan.breakdown_runs),
            headroom_runs=min(runs, plan.headroom_runs),
        )
    if max_runs is not None:
        plan = replace(
            plan,
            max_runs=max(max_runs, plan.runs),
            sweep_max_runs=max(max_runs, plan.sweep_runs),
            handshake_max_runs=max(max_runs, plan.handshake_runs),
        )
    return plan
