"""Compare two runs cell by cell, and decide which changes are regressions.

Every cell present in both runs is compared: closed-loop throughput and its
latency percentiles, open-loop latency, handshakes per second, memory per
idle connection, locust rates, and each conformance grade (server x case x
flavour). A cell's figure comes with an interval computed from its stored runs
(:mod:`channels_harness.report.intervals`: its 95% confidence interval from 6
runs on, else the range of the runs); a figure of one run has no interval: no
spread was measured.

A throughput or handshake cell *regresses* when its median fell by more than
``max_drop`` percent and the two intervals do not overlap (a drop the runs' own
spread can explain is noise, not a regression); a p99 latency regresses when it
rose by more than ``max_p99_rise`` percent, by the same rule; a conformance
grade regresses when it got worse (PASS/INFO/N/A -> NON-STRICT -> FAIL) unless
conformance changes are allowed.

A gated cell that did not regress is *undecided* when its intervals are too
wide to see a change of the threshold's size: the old interval reaches ``a``
below its median and the new one ``b`` above its own (fractions of each
median), and a drop of exactly the threshold ``T`` would still leave them
overlapping, ``(1 - T)(1 + b) >= 1 - a`` (for a rise of p99, ``(1 + T)(1 - b)
<= 1 + a`` with ``a`` above the old median and ``b`` below the new one); a
figure of a single run is always undecided. Roughly: undecided when the two
half-widths add up to the threshold or more. An undecided cell is listed apart,
never passed in silence.

A cost cell (instructions per message counted under valgrind, see
:mod:`channels_harness.experiments.cost`) regresses when its instructions rose by
more than ``max_cost_rise`` percent: the count repeats to a fraction of a
percent, so no interval is needed and wall-clock noise cannot hide or fake a
change. Its syscalls per message are compared and listed, never gated (they
move a few percent with thread timing).

The comparison also fails (:attr:`Comparison.problems`) on a cell found in the
old run only (unless missing cells are allowed), on a new run that recorded
failed cells, and on a new run whose status is not complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from channels_harness.report import intervals
from channels_harness.report.rows import (
    ConformanceRow,
    CostRow,
    FailureRow,
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
    """When a change fails the comparison (None: that kind of change never fails);
    ``allow_missing``: a cell of the old run missing from the new one does not
    fail it; ``fail_undecided``: an undecided cell does."""

    max_drop_pct: float | None = None
    max_p99_rise_pct: float | None = None
    max_cost_rise_pct: float | None = None
    allow_conformance_change: bool = False
    allow_missing: bool = False
    fail_undecided: bool = False


@dataclass(frozen=True)
class Figure:
    """One measured value of one cell in one run, with its interval and what the
    interval is: ``95% CI``, ``range``, or "" (one run: no spread measured)."""

    value: float
    low: float
    high: float
    kind: str = ""

    @classmethod
    def of(
        cls, value: float, runs: Iterable[float] = (), ci95: Iterable[float] | None = None
    ) -> Figure:
        """``value`` with the interval of its ``runs`` (two or more), else its stored
        ``ci95``, else none."""
        measured = [float(v) for v in runs if v is not None]
        found = intervals.of_runs(measured, list(ci95 or []), len(measured), float(value))
        if found is None:
            return cls(float(value), float(value), float(value))
        return cls(float(value), found.low, found.high, found.kind)

    @property
    def spread(self) -> bool:
        """Whether the figure comes with a measured spread (an interval)."""
        return bool(self.kind)

    def overlaps(self, other: Figure) -> bool:
        return self.low <= other.high and other.low <= self.high

    def below(self) -> float:
        """How far the interval reaches below the figure, as a fraction of it."""
        return (self.value - self.low) / self.value if self.value else 0.0

    def above(self) -> float:
        """How far the interval reaches above the figure, as a fraction of it."""
        return (self.high - self.value) / self.value if self.value else 0.0


@dataclass
class Change:
    """One cell compared: ``kind`` (section), ``cell`` (what was measured), ``metric``,
    both values, the change in percent, and why it is a regression or undecided
    (None if it is not)."""

    kind: str
    cell: str
    metric: str
    old: Figure | str
    new: Figure | str
    change_pct: float | None = None
    regression: str | None = None
    undecided: str | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}: {self.cell} {self.metric}".strip()


@dataclass
class Comparison:
    """Everything two runs have in common, what only one of them has, and the new
    run's failed cells and status."""

    old_id: str
    new_id: str
    changes: list[Change] = field(default_factory=list)
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    status: str = "complete"
    limits: Thresholds = field(default_factory=Thresholds)

    @property
    def regressions(self) -> list[Change]:
        return [change for change in self.changes if change.regression]

    @property
    def undecided(self) -> list[Change]:
        return [change for change in self.changes if change.undecided]

    @property
    def problems(self) -> list[str]:
        """Why the comparison fails beyond its cells' regressions: cells the new run
        lost, cells it failed to measure, an unfinished run."""
        found = [] if self.limits.allow_missing else [f"missing: {c}" for c in self.only_old]
        found += [f"failed in the new run: {failure}" for failure in self.failures]
        if self.status != "complete":
            found.append(f"the new run is {self.status}: some of its cells were never measured")
        return found

    @property
    def failed(self) -> bool:
        """Whether the comparison fails (exit code 1)."""
        undecided = self.limits.fail_undecided and bool(self.undecided)
        return bool(self.regressions or self.problems or undecided)


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


def _locust_cell(r: LocustRow) -> str:
    """A locust cell's name: with its step (and the step's request type, unless ``WS``)."""
    step = ""
    if r.step is not None:
        kind = f" [{r.request_type}]" if r.request_type not in ("", "WS") else ""
        step = f" {r.step}{kind}"
    return f"{r.scenario} {r.server} {r.flavour}{step} u={r.users}"


def _locust(data: Data) -> Iterator[tuple[str, str, Figure, bool]]:
    groups: dict[str, list[LocustRow]] = {}
    for r in rows_of(data, LocustRow):
        groups.setdefault(_locust_cell(r), []).append(r)
    for cell, rows in groups.items():
        rates = sorted(float(r.msgs_per_s) for r in rows)
        yield cell, "msgs/s", Figure.of(rates[len(rates) // 2], rates), True


def _cost(data: Data) -> Iterator[tuple[str, str, Figure, bool]]:
    for r in rows_of(data, CostRow):
        if r.instructions_per_msg is None:
            continue  # not counted: the cell is missing (and failed) in this run
        cell = f"{_stack(r)}{r.server} {r.flavour}"
        cell += f" {r.scenario}" if r.scenario not in ("echo", "app") else ""
        yield cell, "instructions/msg", Figure.of(r.instructions_per_msg), False
        if r.syscalls_per_msg is not None:
            yield cell, "syscalls/msg", Figure.of(r.syscalls_per_msg), False


MEASURED: dict[str, Callable[[Data], Iterator[tuple[str, str, Figure, bool]]]] = {
    "throughput": _throughput,
    "handshake": _handshake,
    "latency": _latency,
    "memory": _memory,
    "locust": _locust,
    "cost": _cost,
}


def undecidable(old: Figure, new: Figure, limit_pct: float, drop: bool) -> str | None:
    """Why a change of ``limit_pct`` percent (a drop when ``drop``, else a rise)
    could not be told from the runs' noise (None when it could; see the module doc)."""
    if not old.spread or not new.spread:
        one = "both" if not old.spread and not new.spread else "old" if not old.spread else "new"
        return f"one run a side ({one}): no spread measured to judge a change against"
    limit = limit_pct / 100.0
    if drop:
        a, b = old.below(), new.above()
        hidden = (1.0 - limit) * (1.0 + b) >= 1.0 - a
        sides = f"the old interval reaches {a:.1%} below its median, the new {b:.1%} above"
    else:
        a, b = old.above(), new.below()
        hidden = (1.0 + limit) * (1.0 - b) <= 1.0 + a
        sides = f"the old interval reaches {a:.1%} above its median, the new {b:.1%} below"
    if not hidden:
        return None
    move = "drop" if drop else "rise"
    return f"{sides}: a {limit_pct:g}% {move} could not be told from noise"


def _gate(change: Change, limit: float | None, drop: bool) -> None:
    """Mark ``change`` a regression or undecided against ``limit`` percent."""
    old, new = change.old, change.new
    if limit is None or change.change_pct is None:
        return
    if not isinstance(old, Figure) or not isinstance(new, Figure):
        return
    moved = -change.change_pct if drop else change.change_pct
    if moved > limit and old.spread and new.spread and not old.overlaps(new):
        verb = "fell" if drop else "rose"
        change.regression = f"{verb} {moved:.1f}% (more than {limit:g}%), outside the runs' spread"
        return
    change.undecided = undecidable(old, new, limit, drop)


def _gate_count(change: Change, limit: float | None) -> None:
    """Mark a counted instructions cell a regression when it rose by more than
    ``limit`` percent (a count has no noise to judge against)."""
    if limit is None or change.change_pct is None or change.metric != "instructions/msg":
        return
    if change.change_pct > limit:
        change.regression = f"rose {change.change_pct:.2f}% (more than {limit:g}%), counted"


def _judge(
    kind: str, metric: str, old: Figure, new: Figure, higher_better: bool, limits: Thresholds
) -> Change:
    change_pct = (new.value - old.value) / old.value * 100.0 if old.value else None
    change = Change(kind, "", metric, old, new, change_pct)
    if kind == "cost":
        _gate_count(change, limits.max_cost_rise_pct)
    elif higher_better and kind in ("throughput", "handshake", "locust"):
        _gate(change, limits.max_drop_pct, drop=True)
    elif metric == "p99 ms":
        _gate(change, limits.max_p99_rise_pct, drop=False)
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


def _failures(data: Data) -> list[str]:
    """The failed cells a run recorded, one line each."""
    found = []
    for row in rows_of(data, FailureRow):
        cell = " ".join(f"{key}={value}" for key, value in row.cell.items())
        found.append(f"{row.section} {cell}: {row.message}")
    return found


def compare(old: Data, new: Data, limits: Thresholds = Thresholds()) -> Comparison:
    """Every cell of ``new`` against the same cell of ``old``, and the new run's
    failed cells and status."""
    result = Comparison(str(old.get("run_id")), str(new.get("run_id")), limits=limits)
    result.failures = _failures(new)
    result.status = str(new.get("status") or "complete")
    _measured(old, new, limits, result)
    _conformance(old, new, limits, result)
    result.changes.sort(key=lambda c: (c.kind != "throughput", c.kind, c.cell, c.metric))
    return result
