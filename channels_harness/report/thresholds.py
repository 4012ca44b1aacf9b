"""Thresholds (``--threshold EXPR`` on bench, load and soak) and their verdicts.

An expression is a metric, a comparison and a bound, as in k6: ``p99<50ms``,
``hello:p95<20ms`` (only the rows of the scenario step ``hello``),
``errors<0.1%`` (errors as a share of the messages and handshakes sent),
``errors<5`` (a count), ``msgs_per_s>1000``. :func:`parse` reads one (a
:class:`~channels_harness.errors.UsageError` naming what is allowed
otherwise); :func:`evaluate` checks each against a run's rows and returns one
:class:`~channels_harness.report.rows.ThresholdRow` per threshold.

What a threshold means over a run:

- Every row that measures the metric is a cell (a server with its flavour or
  path, a concurrency, a rate, a step, a repeat), and every cell must hold the
  bound. The verdict's ``missed`` lists each cell that did not; a cell whose
  row has no value for the metric (not measured) misses too.
- A threshold that no row of the run measures misses, and says so: it is
  never passed by default.
- ``STEP:`` keeps the rows of that scenario step; without it every row of
  the run counts, whatever its step.
- Latency metrics are message round trips: the closed-loop throughput rows,
  the open-loop latency rows, locust's requests and the soak's echo (a
  handshake row's rate and errors count, its handshake times do not).
- The raw echo baseline (``raw-echo``) measures the load generator, not a
  server: it is never a cell.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from channels_harness.errors import UsageError
from channels_harness.report import junit
from channels_harness.report.columns import fmt
from channels_harness.report.rows import (
    HandshakeRow,
    LatencyRow,
    LocustRow,
    Row,
    SoakSummaryRow,
    ThresholdRow,
    ThroughputRow,
    unstacked,
)

LATENCY = ("p50", "p90", "p95", "p99", "p999", "max")
RATES = ("msgs_per_s", "handshakes_per_s")
ERRORS = "errors"
ERROR_RATE = "error_rate"
RAW = "raw-echo"

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
ALLOWED = (
    "write [STEP:]METRIC<BOUND (or <=, >, >=) with METRIC one of "
    f"{', '.join(LATENCY)} (a bound in ms or s), {', '.join(RATES)} (per second), "
    "errors (a count, or a share of what was sent with %); "
    "e.g. p99<50ms, hello:p95<20ms, errors<0.1%, msgs_per_s>1000"
)
_EXPRESSION = re.compile(
    r"^\s*(?:(?P<step>[^:<>=\s][^:<>=]*?)\s*:)?\s*(?P<metric>[A-Za-z_][\w.()]*)\s*"
    r"(?P<op><=|>=|<|>)\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s|%|/s)?\s*$"
)
_K6_PERCENTILE = re.compile(r"^p\((?P<n>[\d.]+)\)$")
UNITS = {**dict.fromkeys(LATENCY, "ms"), **dict.fromkeys(RATES, "/s"), ERRORS: "", ERROR_RATE: "%"}


@dataclass(frozen=True)
class Threshold:
    """One parsed ``--threshold``: ``metric`` ``op`` ``bound`` (in :data:`UNITS`), over
    the rows of ``step`` (None: every row)."""

    text: str
    metric: str
    op: str
    bound: float
    step: str | None = None

    @property
    def unit(self) -> str:
        return UNITS[self.metric]

    def holds(self, value: float) -> bool:
        """Whether ``value`` (in :attr:`unit`) is on the right side of the bound."""
        return OPERATORS[self.op](value, self.bound)


def parse(text: str) -> Threshold:
    """``text`` as a :class:`Threshold`; UsageError (one line, saying what is
    allowed) for anything else."""
    match = _EXPRESSION.match(text)
    if match is None:
        raise UsageError(f"--threshold {text!r} is not a threshold: {ALLOWED}")
    metric = _metric(match["metric"])
    number, unit = float(match["number"]), match["unit"]
    if metric in LATENCY:
        if unit not in ("ms", "s"):
            raise UsageError(
                f"--threshold {text!r}: {metric} needs a bound in ms or s, e.g. {metric}<50ms"
            )
        bound = number * 1000 if unit == "s" else number
    elif metric in RATES:
        if unit not in (None, "/s"):
            raise UsageError(
                f"--threshold {text!r}: {metric} is per second, e.g. {metric}>1000, not {unit}"
            )
        bound = number
    elif metric == ERRORS and unit == "%":
        metric, bound = ERROR_RATE, number
    elif metric == ERRORS and unit is None and number.is_integer():
        bound = number
    elif metric == ERRORS:
        raise UsageError(
            f"--threshold {text!r}: errors takes a whole count (errors<5) or a share of "
            "what was sent (errors<0.1%)"
        )
    else:
        raise UsageError(f"--threshold {text!r}: unknown metric {match['metric']!r}; {ALLOWED}")
    return Threshold(text.strip(), metric, match["op"], bound, match["step"] or None)


def _metric(name: str) -> str:
    """A metric's canonical name: ``p(95)`` (k6) is ``p95``, ``p99.9`` is ``p999``."""
    name = name.lower()
    k6 = _K6_PERCENTILE.match(name)
    if k6 is not None:
        name = f"p{k6['n']}"
    return "p999" if name == "p99.9" else name


def parse_all(texts: Iterable[str]) -> list[Threshold]:
    """Every ``--threshold`` parsed, in order (UsageError at the first bad one)."""
    return [parse(text) for text in texts]


# -- what each kind of row measures -------------------------------------------------


def _share(errors: int, sent: int | None) -> float | None:
    """``errors`` as a percentage of ``sent`` (None when nothing says what was sent)."""
    return None if not sent else 100.0 * errors / sent


def _latencies(row: Any, names: Sequence[str] = LATENCY) -> dict[str, float | None]:
    return {name: getattr(row, f"{name}_ms") for name in names}


def _throughput(row: ThroughputRow) -> dict[str, float | None]:
    return {
        **_latencies(row),
        "msgs_per_s": row.msgs_per_s,
        ERRORS: row.errors,
        ERROR_RATE: _share(row.errors, row.sent),
    }


def _latency(row: LatencyRow) -> dict[str, float | None]:
    return {**_latencies(row), ERRORS: row.errors, ERROR_RATE: _share(row.errors, row.sent)}


def _handshake(row: HandshakeRow) -> dict[str, float | None]:
    return {
        "handshakes_per_s": row.handshakes_per_s,
        ERRORS: row.errors,
        ERROR_RATE: _share(row.errors, row.sent),
    }


def _locust(row: LocustRow) -> dict[str, float | None]:
    rate = "handshakes_per_s" if row.request_type == "WS-CONNECT" else "msgs_per_s"
    return {
        **_latencies(row, ("p50", "p95", "p99")),
        rate: row.msgs_per_s,
        ERRORS: row.failures,
        ERROR_RATE: _share(row.failures, row.requests),
    }


def _soak(row: SoakSummaryRow) -> dict[str, float | None]:
    # The soak counts errors of its echo, churn and room together, not what they
    # are a share of: its error rate is not measured.
    return {"p99": row.echo_p99_ms, ERRORS: row.errors, ERROR_RATE: None}


def _label(row: Any, what: str) -> str:
    """``server flavour-or-path [TLS] what [step S] [(gen-bound)]``."""
    tls = " TLS" if getattr(row, "tls", False) else ""
    step = f" step {row.step}" if getattr(row, "step", None) else ""
    bound = " (gen-bound)" if getattr(row, "generator_bound", False) else ""
    return f"{row.server} {row.flavour}{tls} {what}{step}{bound}"


def _throughput_cell(row: ThroughputRow) -> str:
    payload = "" if row.payload == "app" else f" {row.payload}"
    return _label(row, f"closed loop c={row.concurrency}{payload}")


def _latency_cell(row: LatencyRow) -> str:
    return _label(row, f"open loop at {fmt(row.target_rate)}/s")


def _locust_cell(row: LocustRow) -> str:
    return _label(row, f"locust {row.scenario} #{row.repeat + 1}")


@dataclass(frozen=True)
class _Source:
    """A row type thresholds read: what names a cell, and what a row measures."""

    kind: type[Row]
    cell: Callable[[Any], str]
    measures: Callable[[Any], dict[str, float | None]]


# A row, its cell's name and what it measures.
_Cell = tuple[Any, str, dict[str, float | None]]

SOURCES = (
    _Source(ThroughputRow, _throughput_cell, _throughput),
    _Source(LatencyRow, _latency_cell, _latency),
    _Source(HandshakeRow, lambda row: _label(row, "handshakes"), _handshake),
    _Source(LocustRow, _locust_cell, _locust),
    _Source(SoakSummaryRow, lambda row: _label(row, "soak"), _soak),
)


def _rows(data: Mapping[str, Any]) -> list[_Cell]:
    """(row, cell name, what it measures) of every row thresholds read."""
    return [
        (row, source.cell(row), source.measures(row))
        for source in SOURCES
        for row in unstacked(data, source.kind)
        if getattr(row, "server", None) != RAW
    ]


def _of_step(rows: list[_Cell], step: str | None) -> list[_Cell]:
    """The rows of scenario step ``step`` (every row for None)."""
    return [found for found in rows if step is None or getattr(found[0], "step", None) == step]


# -- verdicts ------------------------------------------------------------------------


def evaluate(data: Mapping[str, Any], thresholds: Sequence[Threshold]) -> list[ThresholdRow]:
    """One verdict per threshold over the rows of ``data`` (see the module doc)."""
    rows = _rows(data)
    return [_verdict(threshold, rows) for threshold in thresholds]


def _verdict(threshold: Threshold, rows: list[_Cell]) -> ThresholdRow:
    kept = _of_step(rows, threshold.step)
    cells = [
        (cell, measures[threshold.metric])
        for _, cell, measures in kept
        if threshold.metric in measures
    ]
    measured = [(cell, value) for cell, value in cells if value is not None]
    missed = [
        {"cell": cell, "value": None if value is None else round(float(value), 3)}
        for cell, value in cells
        if value is None or not threshold.holds(float(value))
    ]
    worst = None
    if measured:
        pick = max if threshold.op in ("<", "<=") else min
        worst = pick(measured, key=lambda found: float(found[1] or 0))
    return ThresholdRow(
        threshold=threshold.text,
        step=threshold.step,
        metric=threshold.metric,
        op=threshold.op,
        bound=threshold.bound,
        unit=threshold.unit,
        cells=len(cells),
        missed=missed,
        worst=None if worst is None else round(float(worst[1] or 0), 3),
        worst_cell=None if worst is None else worst[0],
        passed=bool(cells) and not missed,
        reason=_reason(threshold, rows, len(cells), missed),
    )


def _reason(
    threshold: Threshold,
    rows: list[_Cell],
    cells: int,
    missed: list[dict[str, Any]],
) -> str:
    """Why the threshold missed ("" when it held)."""
    if cells == 0:
        return _unmeasured(threshold, rows)
    if not missed:
        return ""
    unmeasured = sum(1 for found in missed if found["value"] is None)
    text = f"{len(missed)} of {cells} cell(s) missed"
    return (
        f"{text} ({unmeasured} did not measure {spelled(threshold.metric)})" if unmeasured else text
    )


def _unmeasured(threshold: Threshold, rows: list[_Cell]) -> str:
    """Why no row of the run measures ``threshold``: no row of its step, or no such metric."""
    steps = sorted({str(row.step) for row, _, _ in rows if getattr(row, "step", None)})
    if threshold.step is not None and threshold.step not in steps:
        named = f"its steps are {', '.join(steps)}" if steps else "it has no named steps"
        return f"not measured: no row of this run is of step {threshold.step!r} ({named})"
    metrics = sorted(
        {spelled(name) for _, _, measures in _of_step(rows, threshold.step) for name in measures}
    )
    what = f"its rows measure {', '.join(metrics)}" if metrics else "it has no rows to check"
    return f"not measured: no row of this run measures {spelled(threshold.metric)} ({what})"


def spelled(metric: str) -> str:
    """A metric as a threshold writes it (the error rate is ``errors %``)."""
    return "errors %" if metric == ERROR_RATE else metric


def failed(rows: Iterable[ThresholdRow]) -> list[ThresholdRow]:
    """The thresholds that missed."""
    return [row for row in rows if not row.passed]


# -- text ------------------------------------------------------------------------------


def value_text(metric: str, value: float | None) -> str:
    """A metric's value with its unit (``not measured`` for None)."""
    if value is None:
        return "not measured"
    unit = UNITS.get(metric, "")
    if unit == "ms":
        return f"{fmt(value)} ms"
    if unit == "%":
        return f"{value:.3g}%"
    if unit == "/s":
        return f"{fmt(value)}/s"
    return f"{value:g}"


def missed_text(row: ThresholdRow, limit: int | None = None) -> str:
    """The cells that missed, each with its value (the first ``limit``, then how many
    more there are)."""
    shown = row.missed if limit is None else row.missed[:limit]
    text = "; ".join(f"{m['cell']}: {value_text(row.metric, m['value'])}" for m in shown)
    more = len(row.missed) - len(shown)
    return f"{text}; and {more} more (data.json lists them)" if more > 0 else text


def verdict_text(row: ThresholdRow) -> str:
    """``pass``, or ``MISSED`` with why."""
    return "pass" if row.passed else f"MISSED: {row.reason}"


def to_junit(rows: Sequence[ThresholdRow], title: str) -> bytes:
    """JUnit XML: one testcase per threshold, a failure naming every cell that missed."""
    return junit.write(
        title,
        (
            junit.Case(
                suite="thresholds",
                classname="thresholds",
                name=row.threshold,
                failure=None if row.passed else "threshold",
                message=row.reason,
                detail=missed_text(row) or row.reason,
                output=f"{row.cells} cell(s) checked; worst {row.worst_cell}: "
                f"{value_text(row.metric, row.worst)}",
            )
            for row in rows
        ),
    )
