"""The History section of the results index: the points, the change points and,
per headline cell, its first and latest figure, a small trend plot and its
change points."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from channels_harness.report.history import (
    HEADLINES,
    ChangePoint,
    Context,
    History,
    Series,
    change_text,
    point_text,
)
from channels_harness.report.history_plots import slug
from channels_harness.report.markdown import table

# Every trend plot's file name starts so: files beside the index, never a folder (a
# folder in a results folder reads as a run to whoever takes its newest entry).
TREND_PREFIX = "trend--"
# How many moved cells the change-point table names per point (the rest are counted).
NAMED_CELLS = 6

INTRO = """## History

Each headline cell of the runs above as a series over {points} points ({runs} runs; each
stack of a versions run is a point of its own), oldest first: its first and latest figure
with the interval its run states, a trend (the band is each point's interval; red: the
first point after a change) and its change points. A change point is where a cell moved
beyond its own noise: a piecewise-constant fit over the points weighted by their
intervals, with a penalty per step (after asv's step detection), keeps a step only where
the levels either side lie apart beyond their points' intervals. Cost counts are
deterministic and get a fixed ±1% each; grade counts are exact.
`channels-harness history results` prints every point with its interval.
"""


def trend_name(series: Series) -> str:
    """The trend plot's file name, beside the index."""
    return f"{TREND_PREFIX}{series.headline.key}--{slug(series.cell)}.svg"


def drawn(history: History) -> list[Series]:
    """The series that get a trend plot: those with two points or more."""
    return [s for s in history.series if len(s.points) >= 2]


def _points(contexts: Sequence[Context]) -> str:
    return table(
        ("#", "run [stack]", "date", "kind", "commit", "CPU"),
        (
            [c.number, c.name, c.date[:16], c.kind, c.commit, c.machine.get("cpu_model", "")]
            for c in contexts
        ),
    )


def _moved(changes: Sequence[ChangePoint]) -> str:
    """The cells that moved at one point: the first few with their figures, then counts."""
    named = [f"{c.headline.key} {c.cell}: {change_text(c)}" for c in changes[:NAMED_CELLS]]
    rest = Counter(c.headline.key for c in changes[NAMED_CELLS:])
    if rest:
        named.append("and " + ", ".join(f"{n} more {key}" for key, n in rest.items()))
    return "; ".join(named)


def _changes(history: History) -> str:
    by_point: dict[Context, list[ChangePoint]] = defaultdict(list)
    for change in history.changes:
        by_point[change.point.context].append(change)
    if not by_point:
        return "No cell moved beyond its own noise."
    return table(
        ("at", "what changed since the point before", "cells that moved"),
        (
            [f"#{point.number} {point.name}", "; ".join(found[0].changed), _moved(found)]
            for point, found in by_point.items()
        ),
    )


def _series(history: History, with_plots: set[int]) -> list[str]:
    parts = []
    for headline in HEADLINES:
        rows = []
        for s in history.of(headline):
            first, latest = s.points[0], s.points[-1]
            trend = f"![trend]({trend_name(s)})" if id(s) in with_plots else ""
            rows.append(
                [
                    s.cell,
                    len(s.points),
                    f"#{first.context.number}: {point_text(headline, first)}",
                    f"#{latest.context.number}: {point_text(headline, latest)}",
                    trend,
                    "; ".join(f"#{c.point.context.number}: {change_text(c)}" for c in s.changes),
                ]
            )
        if rows:
            headers = ("cell", "points", "first", "latest", "trend", "change points")
            parts += [f"### {headline.title} ({headline.unit})", "", table(headers, rows), ""]
    return parts


def section(history: History) -> str:
    """The History section, its trend plots named by :func:`trend_name` (drawn for
    :func:`drawn`); a sentence alone while no cell has two points."""
    if not drawn(history):
        return "## History\n\nNo headline cell has two points yet: no history to show.\n"
    runs = len({c.run_id for c in history.contexts})
    parts = [INTRO.format(points=len(history.contexts), runs=runs)]
    for line in history.left_out:
        parts += [f"Left out: {line}", ""]
    parts += ["### Points", "", _points(history.contexts), ""]
    parts += ["### Change points", "", _changes(history), ""]
    parts += _series(history, {id(s) for s in drawn(history)})
    return "\n".join(parts)
