"""The interval a report shows next to a stored figure, computed from its runs.

Rows store their runs, so every renderer (tables, plots, ``compare``) derives
a figure's interval from them with :mod:`channels_harness.runtime.confidence`,
the same way for a run measured today and for one published earlier: a 95%
CI where the runs allow one, else the range of the runs, and each called by
its name. Only a row without its runs (a layer breakdown measured before they
were stored) falls back to the interval it stored, named by its run count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from channels_harness.report.columns import fmt
from channels_harness.report.rows import BreakdownRow, HandshakeRow, HeadroomRow, ThroughputRow
from channels_harness.runtime import confidence
from channels_harness.runtime.confidence import Interval


def of_runs(
    runs: Sequence[float] | None,
    stored: Sequence[float] | None = None,
    count: int = 0,
    value: float = 0.0,
) -> Interval | None:
    """The interval of the median of ``runs`` (two or more); without them, the
    ``stored`` ``[low, high]`` around ``value``, a figure of ``count`` runs
    (None: no interval)."""
    if runs and len(runs) >= 2:
        return confidence.median_interval([float(v) for v in runs])
    if stored and len(stored) == 2 and count >= 2:
        rank = confidence.ci_rank(count) or 1
        low, high = float(stored[0]), float(stored[1])
        return Interval(value, low, high, count, confidence.coverage(count, rank))
    return None


def throughput(row: ThroughputRow) -> Interval | None:
    """The interval of a throughput cell's msgs/s."""
    return of_runs(row.msgs_per_s_runs, row.ci95, row.runs, row.msgs_per_s)


def handshake(row: HandshakeRow) -> Interval | None:
    """The interval of a handshake cell's handshakes/s."""
    return of_runs(row.handshakes_per_s_runs, row.ci95, row.runs, row.handshakes_per_s)


def breakdown(row: BreakdownRow) -> Interval | None:
    """The interval of a layer's µs per message: its runs' rates turned into
    microseconds per message (a run that completed nothing costs infinitely many)."""
    costs = [1e6 / rate if rate > 0 else math.inf for rate in row.msgs_per_s_runs]
    return of_runs(costs, row.ci95, row.runs, row.us_per_msg)


def headroom(row: HeadroomRow) -> Interval | None:
    """The headroom ratio from both sides' interleaved runs: the median of the
    per-round ratios and its interval (None for a row without paired runs)."""
    return confidence.ratio_interval(
        row.baseline_msgs_per_s_runs, row.best_channels_msgs_per_s_runs, paired=True
    )


def headroom_figure(row: HeadroomRow) -> tuple[float, Interval | None]:
    """The headroom ratio a report shows, and its interval: for a row measured
    with intervals, the median of the per-round ratios recomputed from its runs;
    for an older row, its stored ratio (the ratio of the medians) alone."""
    found = headroom(row) if row.ratio_ci95 is not None or row.ratio_interval else None
    return (round(found.value, 2), found) if found is not None else (float(row.ratio), None)


def text(interval: Interval | None) -> str:
    """``95% CI low-high`` or ``range low-high`` (blank for no interval)."""
    if interval is None:
        return ""
    return f"{interval.kind} {fmt(interval.low)}-{fmt(interval.high)}"


def bars(intervals: Iterable[Interval | None]) -> str:
    """What error bars drawn from ``intervals`` are: ``95% CI``, ``range of the
    runs``, or both named when a plot has both."""
    kinds = {interval.is_ci for interval in intervals if interval is not None}
    if kinds == {True}:
        return "95% CI"
    if kinds == {False}:
        return "range of the runs"
    return f"95% CI ({confidence.MIN_CI_RUNS}+ runs) or range of the runs"
