"""Every headline cell of a results folder as a series over its runs, with change points.

A *point* is one run, or one stack of a ``versions`` run (each stack measured the
same cells in its own environment, so each is a point of its own). Points are
ordered by date, then commit, then the stacks' order in their run. The headline
cells are what a run's summary leads with: the Sync vs Async ratios, the
headline cell's throughput and p99, handshakes per second, cost per message
(the ``cost`` section's instructions and syscalls, where a run has it) and the
conformance grade counts per server.

Each point keeps its interval as its row states it (a 95% CI, the range of its
runs, or none) and that label; cost counts are deterministic, so each gets a
fixed relative bound (:data:`COST_BOUND`), and grade counts are exact. A
series' change points come from :func:`~channels_harness.report.changepoints.find_steps`,
each with what changed between the two points (commit, versions, machine).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels_harness.report import summary
from channels_harness.report.changepoints import Level, Measure, find_steps
from channels_harness.report.columns import fmt
from channels_harness.report.grades import GRADE_ORDER
from channels_harness.report.rows import HandshakeRow, ThroughputRow, VersionRow, rows_of, unstacked

Data = Mapping[str, Any]
# One headline figure of one point: (cell, value, low, high, interval label).
Figure = tuple[str, float, float, float, str]

# A cost count is taken as exact to within this share either way, so a cost cell
# changed when it moved by more than twice this (2%, the rise compare gates on).
COST_BOUND = 0.01
# The least reach of a measured interval, relative (a figure is never known better).
MEASURED_FLOOR = 0.005
# Grade counts are exact: any change of one case or more clears this reach.
COUNT_REACH = 0.25
# The fewest runs whose interval is a 95% confidence interval of their median: with
# fewer, no interval of the runs covers it with 95% (runtime.confidence's rule), so a
# row with fewer runs shows the range of its runs, called so.
MIN_CI_RUNS = 6
# The versions a stack label names, in this order.
STACK_KEYS = ("django", "channels", "daphne", "uvicorn")
MACHINE_KEYS = ("cpu_model", "host", "cpu_count", "kernel", "python")


@dataclass(frozen=True)
class Context:
    """Where a point was measured: a run (and a stack of a versions run)."""

    number: int
    run_id: str
    date: str
    kind: str
    commit: str
    stack: str | None
    versions: dict[str, str] = field(compare=False)
    machine: dict[str, str] = field(compare=False)

    @property
    def name(self) -> str:
        """``RUN`` or ``RUN [stack]``."""
        return f"{self.run_id} [{self.stack}]" if self.stack else self.run_id


@dataclass(frozen=True)
class Point:
    """One headline figure at one context, with its interval and how the row labels it."""

    context: Context
    value: float
    low: float
    high: float
    label: str


@dataclass(frozen=True)
class Headline:
    """One kind of headline cell: how to read its figures from a run and how to fit them."""

    key: str
    title: str
    unit: str
    figures: Callable[[Data], Iterator[Figure]]
    log: bool = True
    floor: float = MEASURED_FLOOR


@dataclass(frozen=True)
class ChangePoint:
    """Where a series moved beyond its noise: the last point before, the first point
    after, the levels either side and what changed between the two points."""

    headline: Headline
    cell: str
    previous: Point
    point: Point
    before: Level
    after: Level
    changed: list[str]


@dataclass
class Series:
    """One headline cell over every point that measured it, oldest first."""

    headline: Headline
    cell: str
    points: list[Point]
    changes: list[ChangePoint] = field(default_factory=list)


@dataclass
class History:
    """Every point of a results folder, oldest first, every headline series, and what
    was left out (a run that could not be read, a figure that could not be placed),
    one line each with why."""

    contexts: list[Context]
    series: list[Series]
    left_out: list[str]

    @property
    def changes(self) -> list[ChangePoint]:
        """Every change point, in the order of the points they happened at."""
        found = [change for s in self.series for change in s.changes]
        return sorted(found, key=lambda c: c.point.context.number)

    def of(self, headline: Headline) -> list[Series]:
        return [s for s in self.series if s.headline is headline]


# -- intervals as the rows state them ---------------------------------------------------


def interval(value: float, ci95: list[float] | None, runs: list[float]) -> tuple[float, float, str]:
    """A row's interval and its label: its ``ci95`` where it rests on enough runs for a
    95% confidence interval (:data:`MIN_CI_RUNS`), else the range of its runs
    ("range"), else none ("one run")."""
    measured = [float(v) for v in runs if v]
    if ci95 and len(ci95) == 2 and len(measured) >= MIN_CI_RUNS:
        return float(ci95[0]), float(ci95[1]), "95% CI"
    if len(measured) >= 2:
        return min(measured), max(measured), "range"
    return value, value, "one run"


def _ratio_label(ratio: summary.Ratio) -> str:
    """How the summary labels a ratio's interval (its ``kind`` where it states one)."""
    return str(getattr(ratio, "kind", "95% CI")) if ratio.ci else "range"


def _where(view: Data) -> str:
    cell = summary.headline_cell(unstacked(view, ThroughputRow))
    return f"c={cell[1]} {cell[0]}" if cell else ""


def _sync_vs_async(view: Data) -> Iterator[Figure]:
    where = _where(view)
    for r in summary.sync_vs_async(view):
        yield f"{r.label}, {where}", r.value, r.low, r.high, _ratio_label(r)


def _echo_cell(row: ThroughputRow) -> str:
    return f"{row.server} {row.flavour} c={row.concurrency} {row.payload}"


def _throughput(view: Data) -> Iterator[Figure]:
    for row in summary.headline_rows(view):
        if not row.generator_bound:
            value = float(row.msgs_per_s)
            yield _echo_cell(row), value, *interval(value, row.ci95, row.msgs_per_s_runs)


def _p99(view: Data) -> Iterator[Figure]:
    for row in summary.headline_rows(view):
        if not row.generator_bound and row.p99_ms:
            value = float(row.p99_ms)
            yield _echo_cell(row), value, *interval(value, None, row.p99_ms_runs)


def _handshakes(view: Data) -> Iterator[Figure]:
    for row in unstacked(view, HandshakeRow):
        if not row.generator_bound and row.handshakes_per_s:
            value = float(row.handshakes_per_s)
            low, high, label = interval(value, row.ci95, row.handshakes_per_s_runs)
            flavour = f"{row.flavour} TLS" if row.tls else row.flavour
            yield f"{row.server} {flavour} c={row.concurrency}", value, low, high, label


def _cost(metric: str) -> Callable[[Data], Iterator[Figure]]:
    """The ``metric`` of every ``cost`` row (a deterministic count: a fixed bound)."""

    def figures(view: Data) -> Iterator[Figure]:
        for row in view.get("cost") or []:
            value = row.get(metric)
            if isinstance(value, int | float) and value > 0 and row.get("stack") is None:
                extra = [str(row[k]) for k in ("scenario", "step", "payload") if row.get(k)]
                cell = " ".join([str(row.get("server", "")), str(row.get("flavour", "")), *extra])
                bound = f"±{COST_BOUND:.0%} bound"
                yield cell, value, value * (1 - COST_BOUND), value * (1 + COST_BOUND), bound

    return figures


def _grades(view: Data) -> Iterator[Figure]:
    for server, counts in summary.grade_counts(view).items():
        for grade in GRADE_ORDER:
            count = float(counts.get(grade, 0))
            yield f"{server} {grade}", count, count, count, "count"


HEADLINES: tuple[Headline, ...] = (
    Headline("sync-vs-async", "Sync vs Async (async msgs/s over sync)", "x", _sync_vs_async),
    Headline("throughput", "Throughput of the headline cell", "msgs/s", _throughput),
    Headline("p99", "p99 latency of the headline cell (closed loop)", "ms", _p99),
    Headline("handshakes", "Handshakes per second", "handshakes/s", _handshakes),
    Headline(
        "instructions",
        "Cost: user-space instructions per message",
        "instructions/msg",
        _cost("instructions_per_msg"),
        floor=COST_BOUND,
    ),
    Headline(
        "syscalls",
        "Cost: syscalls per message",
        "syscalls/msg",
        _cost("syscalls_per_msg"),
        floor=COST_BOUND,
    ),
    Headline(
        "conformance", "Conformance grade counts", "cases", _grades, log=False, floor=COUNT_REACH
    ),
)


# -- points: runs, and the stacks of a versions run -------------------------------------


def _stack_key(stack: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(stack.items()))


def stacks(data: Data) -> dict[tuple[tuple[str, str], ...], str]:
    """The stacks a run measured (rows with a ``stack``), in the order its rows first
    name them, each with its label (the versions rows' ``stack_label``, else the
    versions of :data:`STACK_KEYS`)."""
    labels = {_stack_key(r.stack): r.stack_label for r in rows_of(data, VersionRow)}
    found: dict[tuple[tuple[str, str], ...], str] = {}
    for rows in data.values():
        if isinstance(rows, list):
            for row in rows:
                stack = row.get("stack") if isinstance(row, dict) else None
                if stack and _stack_key(stack) not in found:
                    key = _stack_key(stack)
                    named = ", ".join(f"{k} {stack[k]}" for k in STACK_KEYS if k in stack)
                    found[key] = labels.get(key) or named
    return found


def view(data: Data, stack: tuple[tuple[str, str], ...] | None) -> dict[str, Any]:
    """``data`` with only the rows of one stack (``None``: the rows without a stack),
    their ``stack`` cleared, so the summary's functions read that stack as a run."""
    out = dict(data)
    for key, rows in data.items():
        if isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows):
            out[key] = [
                {**row, "stack": None}
                for row in rows
                if (_stack_key(row["stack"]) if row.get("stack") else None) == stack
            ]
    return out


def _commit(environment: Mapping[str, Any]) -> str:
    git = environment.get("git") or {}
    commit = str(git.get("commit") or "")[:10] or "unknown"
    return f"{commit}+dirty" if git.get("dirty") else commit


def _contexts(data: Data, first: int) -> list[tuple[Context, dict[str, Any]]]:
    """The points of one run, numbered from ``first``: the run itself, then each stack."""
    environment = data.get("environment") or {}
    versions = {str(k): str(v) for k, v in (environment.get("versions") or {}).items()}
    machine = {k: str(environment[k]) for k in MACHINE_KEYS if environment.get(k) is not None}
    found: list[tuple[Context, dict[str, Any]]] = []
    stacked = stacks(data)
    for key, label in [(None, None), *stacked.items()]:
        shown = view(data, key)
        if key is None and stacked and not _has_figures(shown):
            continue  # a versions run: its stacks are its points
        context = Context(
            number=first + len(found),
            run_id=str(data.get("run_id", "")),
            date=str(data.get("started") or environment.get("date") or ""),
            kind=str(data.get("kind", "")),
            commit=_commit(environment),
            stack=label,
            versions={**versions, **dict(key or ())},
            machine=machine,
        )
        found.append((context, shown))
    return found


def _has_figures(data: Data) -> bool:
    return any(next(headline.figures(data), None) for headline in HEADLINES)


def read_runs(results_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every run's data under ``results_dir``, oldest first (date, commit, run id), and
    one line for each run folder whose data.json could not be read."""
    found, unreadable = [], []
    for data_file in sorted(results_dir.glob("*/data.json")):
        try:
            data = json.loads(data_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            unreadable.append(f"{data_file.parent.name}: {exc}")
            continue
        if not isinstance(data, dict):
            unreadable.append(f"{data_file.parent.name}: data.json is not an object")
            continue
        data.setdefault("run_id", data_file.parent.name)
        found.append(data)

    def order(data: dict[str, Any]) -> tuple[str, str, str]:
        environment = data.get("environment") or {}
        date = str(data.get("started") or environment.get("date") or "")
        return (date, _commit(environment), str(data["run_id"]))

    return sorted(found, key=order), unreadable


# -- series and their change points -----------------------------------------------------


def changed(before: Context, after: Context) -> list[str]:
    """What differs between two points: commit, versions (those both recorded), machine
    and run kind; one line saying nothing did when nothing recorded differs."""
    out = [f"commit {before.commit} -> {after.commit}"] if before.commit != after.commit else []
    for name, version in before.versions.items():
        if after.versions.get(name, version) != version:
            out.append(f"{name} {version} -> {after.versions[name]}")
    for name, value in before.machine.items():
        if after.machine.get(name, value) != value:
            out.append(f"{name} {value} -> {after.machine[name]}")
    if before.kind != after.kind:
        out.append(f"run kind {before.kind} -> {after.kind}")
    return out or ["nothing recorded changed (same commit, versions and machine)"]


def _changes(series: Series) -> list[ChangePoint]:
    points = series.points
    measures = [Measure(p.value, p.low, p.high) for p in points]
    steps = find_steps(measures, log=series.headline.log, floor=series.headline.floor)
    return [
        ChangePoint(
            series.headline,
            series.cell,
            points[step.at - 1],
            points[step.at],
            step.before,
            step.after,
            changed(points[step.at - 1].context, points[step.at].context),
        )
        for step in steps
    ]


Figures = dict[str, list[Figure]]


def _figures(data: Data) -> Figures:
    """Every headline's figures of one point, by headline key."""
    return {headline.key: list(headline.figures(data)) for headline in HEADLINES}


def _collect_series(points: list[tuple[Context, Figures]], left_out: list[str]) -> list[Series]:
    """Every headline series over ``points`` (in headline order, then cell name); a
    conformance series that is zero throughout is left out (a grade never given), and
    a figure a log scale cannot hold (zero or less) is named in ``left_out``."""
    cells: dict[tuple[str, str], Series] = {}
    for headline in HEADLINES:
        for context, figures in points:
            for cell, value, low, high, label in figures[headline.key]:
                if headline.log and value <= 0:
                    left_out.append(f"{context.name} {headline.key} {cell}: figure {value}")
                    continue
                key = (headline.key, cell)
                if key not in cells:
                    cells[key] = Series(headline, cell, [])
                low = low if not headline.log or low > 0 else value
                cells[key].points.append(Point(context, value, low, high, label))
    order = {h.key: i for i, h in enumerate(HEADLINES)}
    found = sorted(cells.values(), key=lambda s: (order[s.headline.key], s.cell))
    return [s for s in found if s.headline.log or any(p.value for p in s.points)]


def collect(results_dir: Path) -> History:
    """The history of every run under ``results_dir``: its points, oldest first, and
    every headline series with its change points. A run whose rows this version
    cannot read, and a figure that cannot be placed, are named in ``left_out``."""
    runs, left_out = read_runs(results_dir)
    points: list[tuple[Context, Figures]] = []
    for data in runs:
        try:
            found = [(c, _figures(v)) for c, v in _contexts(data, len(points) + 1)]
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            left_out.append(f"{data['run_id']}: rows this version cannot read ({exc!r})")
            continue
        points += found
    series = _collect_series(points, left_out)
    for s in series:
        s.changes = _changes(s)
    return History([context for context, _ in points], series, left_out)


# -- text -------------------------------------------------------------------------------


def value_text(headline: Headline, value: float) -> str:
    """A figure of ``headline`` as the reports write it (ratios as ``1.76x``)."""
    if headline.unit == "x":
        return f"{value:.2f}x"
    if not headline.log:
        return f"{value:.0f}"
    return fmt(value)


def point_text(headline: Headline, point: Point) -> str:
    """``value [low-high] label``, or the value alone where it has no interval."""
    value = value_text(headline, point.value)
    if point.high - point.low <= 1e-9 * max(1.0, abs(point.value)):
        return value
    low, high = value_text(headline, point.low), value_text(headline, point.high)
    return f"{value} [{low}-{high}] {point.label}"


def change_text(change: ChangePoint) -> str:
    """``before -> after (+12%)`` of a change point's two points."""
    headline, before, after = change.headline, change.previous.value, change.point.value
    moved = f" ({(after - before) / before:+.0%})" if before else ""
    return f"{value_text(headline, before)} -> {value_text(headline, after)}{moved}"
