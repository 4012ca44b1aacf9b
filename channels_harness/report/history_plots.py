"""Plots of a results folder's history (matplotlib, SVG, in the style of
:mod:`channels_harness.report.plots`): a small trend plot per headline cell for
the results index, and one page of panels per kind of headline cell.

Both draw each point's interval around it and mark the first point after each
change point in red, on a linear scale (the fit's log scale is for finding
steps, not for reading figures); x is the point's number in the history's list
of points (runs, and the stacks of versions runs).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from channels_harness.report.history import Headline, Series
from channels_harness.report.plots import _svg

LINE = "#1e88e5"
CHANGE = "#e53935"
INTERVAL = "#90a4ae"
BAND = "#cfd8dc"
# No creator, date or format block: the file is the drawing alone, and the same for the same data.
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


def slug(text: str) -> str:
    """``text`` as a file name: lower case, runs of other characters as one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _draw(ax: Axes, series: Series, marker_size: float) -> None:
    """The series' points with their intervals, change points in red."""
    xs = [p.context.number for p in series.points]
    ys = [p.value for p in series.points]
    below = [max(0.0, p.value - p.low) for p in series.points]
    above = [max(0.0, p.high - p.value) for p in series.points]
    ax.errorbar(xs, ys, yerr=[below, above], fmt="none", ecolor=INTERVAL, elinewidth=1)
    ax.plot(xs, ys, color=LINE, linewidth=1, marker="o", markersize=marker_size)
    moved = [c.point for c in series.changes]
    ax.plot(
        [p.context.number for p in moved],
        [p.value for p in moved],
        linestyle="none",
        marker="o",
        markersize=marker_size + 1,
        color=CHANGE,
    )


def sparkline(series: Series, span: int) -> bytes:
    """A small trend plot of one series for a table cell: no axes, x from the first to
    the last of ``span`` points (so every cell's plot lines up), the intervals as a
    band, change points as red dots; a few kilobytes."""
    fig, ax = plt.subplots(figsize=(1.6, 0.4))
    ax.set_xlim(0.5, span + 0.5)
    points = series.points
    xs = [p.context.number for p in points]
    ax.fill_between(xs, [p.low for p in points], [p.high for p in points], color=BAND, lw=0)
    ax.plot(xs, [p.value for p in points], color=LINE, linewidth=1)
    moved = [c.point for c in series.changes]
    ax.plot([p.context.number for p in moved], [p.value for p in moved], "o", ms=2.5, c=CHANGE)
    ax.set_axis_off()
    ax.margins(y=0.1)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata=_NO_METADATA)
    plt.close(fig)
    return buffer.getvalue()


def panels(headline: Headline, series: Sequence[Series]) -> bytes | None:
    """One small panel per series of ``headline``, with its axes (None without series)."""
    if not series:
        return None
    columns = min(4, len(series))
    rows = -(-len(series) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.3 * columns, 1.8 * rows + 0.6), squeeze=False, sharex=True
    )
    for ax, one in zip(axes.flat, series, strict=False):
        _draw(ax, one, marker_size=2.5)
        ax.set_title(one.cell.replace(", ", "\n", 1), fontsize=6.5)
        ax.tick_params(labelsize=6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(series) :]:
        ax.set_axis_off()
    fig.suptitle(
        f"{headline.title} ({headline.unit}) by point: bars = each point's interval, "
        "red = first point after a change",
        fontsize=8,
    )
    fig.tight_layout()
    return _svg(fig)
