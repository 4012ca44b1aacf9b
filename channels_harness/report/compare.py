"""Compare two runs cell by cell, and decide which changes are regressions.

Every cell present in both runs is compared: closed-loop throughput and its
latency percentiles, open-loop latency, handshakes per second, memory per
idle connection, locust rates, and each conformance grade (server x case x
flavour). A cell's figure comes with an interval: its 95% confidence interval
when the run stored one (``ci95``), else the range of its repeated runs, else
the single value.

A throughput or handshake cell *regresses* when its median fell by more than
``max_drop`` percent and the two intervals do not overlap (a drop the runs' own
spread can explain is noise, not a regression); a p99 latency regresses when it
rose by more than ``max_p99_rise`` percent, by the same rule; a conformance
grade regresses when it got worse (PASS/INFO/N/A -> NON-STRICT -> FAIL) unless
conformance changes are allowed. Cells found in one run only are listed, never
failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from channels_harness.report.rows import (
    ConformanceRow,
    HandshakeRow,
    LatencyRow,
    LocustRow,
    MemoryRow,
    ThroughputRow,
    rows_of,
)

Data = Mapping[str, Any]
Interval = tuple[float, float]

# How bad a grade is for the gate: only a move up this scale is a regression.
GRADE_RANK = {"PASS": 0, "INFO": 0, "N/A": 0, "NON-STRICT": 1, "FAIL": 2}


@dataclass(frozen=True)
class Thresholds:
    """When a change fails the comparison (None: that kind of change never fails)."""

    max_drop_pct: float | None = None
    max_p99_rise_pct: float | None = None
    allow_conformance_change: bool = False


@dataclass(frozen=True)
class Figure:
    """One measured value of one cell in one run, with its interval."""

    value: float
    low: float
    high: float

    @classmethod
    def of(
        cls, value: float, runs: Iterable[float] = (), ci95: Iterable[float] | None = None
    ) -> Figure:
        bounds = [float(v) for v in ci95 or []]
        if len(bounds) != 2:
            bounds = [float(v) for v in runs if v is not None] or [float(value)]
        return cls(float(value), min(bounds), max(bounds))

    def overlaps(self, other: Figure) -> bool:
        return self.low <= other.high and other.low <= self.high


@dataclass
class Change:
    """One cell compared: ``kind`` (section), ``cell`` (what was measured), ``metric``,
    both values, the change in percent, and why it is a regression (None if it is not)."""

    kind: str
    cell: str
    metric: str
    old: Figure | str
    new: Figure | str
    change_pct: float | None = None
    regression: str | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}: {self.cell} {self.metric}".strip()


@dataclass
class Comparison:
    """Everything two runs have in common, and what only one of them has."""

    old_id: str
    new_id: str
    changes: list[Change] = field(default_factory=list)
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [change for change in self.changes if change.regression]


# -- the cells of each kind ------------------------------------------------------------

STACK_KEYS = ("django", "channels", "daphne", "uvicorn")


def _stack(row: Any) -> str:
    """``"[channels=4.1.0 ...] "`` for a row a versions run measured in one stack, else ""."""
    stack = getattr(row, "stack", None) or {}
    named = " ".join(f"{key}={stack[key]}" for key in STACK_KEYS if key in stack)
    return f"[{named}] " if named else ""


def _step(row: Any) -> str:
    """``" chat:say"`` for a scenario file's step row (``" chat"`` for its
    handshakes), else ""."""
    step = getattr(row, "step", None)
    if step is not None:
        return f" {row.scenario}:{step}"
    # A scenario file's handshakes are named after it (--message's are "app").
    named = isinstance(row, HandshakeRow) and row.scenario not in (None, "echo", "app")
    return f" {row.scenario}" if named else ""


Cells = dict[str, tuple[str, Figure, bool]]  # name -> (metric, figure, higher is better)


def _throughput(data: Data) -> Iterator[tuple[str, str, Figure, bool]]:
    for r in rows_of(data, ThroughputRow):
        flavour = f"{r.flavour} TLS" if r.tls else r.flavour
        what = _step(r) or f" {r.payload}"
        cell = f"{_stack(r)}{r.server} {flavour} c={r.concurrency}{what}"
        yield cell, "msgs/s", Figure.of(r.msgs_per_s, r.msgs_per_s_runs, r.ci95), True
        for metric, value, runs in (("p50 ms", r.p50_ms, ()), ("p99 ms", r.p99_ms, r.p99_ms_runs)):
            if value is not None:
                yield cell, metric, Figure.of(value, runs), False


def _handshake(data: Data) -> Iterator[tuple[str, str, Figure, bool]]:
    for r in rows_of(data, HandshakeRow):
        figure = Figure.of(r.handshakes_per_s, r.handshakes_per_s_runs, r.ci95)
        flavour = f"{r.flavour} TLS" if r.tls else r.flavour
        yield f"{_stack(r)}{r.server} {flavour}{_step(r)}", "handshakes/s", figure, True


def _latency(data: Data) -> Iterator[tuple[str, str, Figure, bool]]:
    for r in rows_of(data, LatencyRow):
        if r.p99_ms is not None:
            share = f"at {r.share_of_peak or 0:.0%} of peak"
            cell = f"{_stack(r)}{r.server} {r.flavour} {share}{_step(r)}"
            yield cell, "p99 ms", Figure.of(r.p99_ms), False


def _memory(data: Data) -> Iterator[tuple[str, str, Figure, bool]]:
    for r in rows_of(data, MemoryRow):
        if r.bytes_per_connection is not None:
            cell = f"{_stack(r)}{r.server} {r.flavour} x{r.connections}"
            yield cell, "bytes/conn", Figure.of(r.bytes_per_connection), False


def _locust(data: Data) -> Iterator[tuple[str, str, Figure, bool]]:
    groups: dict[str, list[LocustRow]] = {}
    for r in rows_of(data, LocustRow):
        groups.setdefault(f"{r.scenario} {r.server} {r.flavour} u={r.users}", []).append(r)
    for cell, rows in groups.items():
        rates = sorted(float(r.msgs_per_s) for r in rows)
        yield cell, "msgs/s", Figure.of(rates[len(rates) // 2], rates), True


MEASURED: dict[str, Callable[[Data], Iterator[tuple[str, str, Figure, bool]]]] = {
    "throughput": _throughput,
    "handshake": _handshake,
    "latency": _latency,
    "memory": _memory,
    "locust": _locust,
}


def _judge(
    kind: str, metric: str, old: Figure, new: Figure, higher_better: bool, limits: Thresholds
) -> Change:
    change_pct = (new.value - old.value) / old.value * 100.0 if old.value else None
    change = Change(kind, "", metric, old, new, change_pct)
    if change_pct is None or old.overlaps(new):
        return change
    if higher_better and kind in ("throughput", "handshake", "locust"):
        limit = limits.max_drop_pct
        if limit is not None and -change_pct > limit:
            change.regression = (
                f"fell {-change_pct:.1f}% (more than {limit:g}%), outside the runs' spread"
            )
    elif metric == "p99 ms":
        limit = limits.max_p99_rise_pct
        if limit is not None and change_pct > limit:
            change.regression = (
                f"rose {change_pct:.1f}% (more than {limit:g}%), outside the runs' spread"
            )
    return change


def _measured(old: Data, new: Data, limits: Thresholds, result: Comparison) -> None:
    for kind, cells_of in MEASURED.items():
        before = {
            (cell, metric): (figure, better) for cell, metric, figure, better in cells_of(old)
        }
        after = {(cell, metric): (figure, better) for cell, metric, figure, better in cells_of(new)}
        for key in before.keys() & after.keys():
            (was, better), (now, _) = before[key], after[key]
            change = _judge(kind, key[1], was, now, better, limits)
            change.cell = key[0]
            result.changes.append(change)
        result.only_old += sorted(f"{kind}: {c} {m}" for c, m in before.keys() - after.keys())
        result.only_new += sorted(f"{kind}: {c} {m}" for c, m in after.keys() - before.keys())


def _grades(data: Data) -> dict[str, ConformanceRow]:
    return {
        f"{_stack(r)}{r.server} {r.case} [{r.flavour}]": r for r in rows_of(data, ConformanceRow)
    }


def _conformance(old: Data, new: Data, limits: Thresholds, result: Comparison) -> None:
    before, after = _grades(old), _grades(new)
    for key in sorted(before.keys() & after.keys()):
        was, now = before[key], after[key]
        change = Change("conformance", key, "grade", was.grade, now.grade)
        worse = GRADE_RANK.get(now.grade, 0) > GRADE_RANK.get(was.grade, 0)
        if worse and not limits.allow_conformance_change:
            change.regression = f"grade {was.grade} -> {now.grade}: {now.observed}"
        result.changes.append(change)
    result.only_old += [f"conformance: {key}" for key in sorted(before.keys() - after.keys())]
    result.only_new += [f"conformance: {key}" for key in sorted(after.keys() - before.keys())]


def compare(old: Data, new: Data, limits: Thresholds = Thresholds()) -> Comparison:
    """Every cell of ``new`` against the same cell of ``old``."""
    result = Comparison(str(old.get("run_id")), str(new.get("run_id")))
    _measured(old, new, limits, result)
    _conformance(old, new, limits, result)
    result.changes.sort(key=lambda c: (c.kind != "throughput", c.kind, c.cell, c.metric))
    return result
