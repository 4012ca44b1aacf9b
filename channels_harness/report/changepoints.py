"""Change points of a series of measured figures: where a cell moved beyond its noise.

Read after asv's step detection (airspeed-velocity/asv, ``asv/step_detect.py``):
fit a piecewise-constant function to the series with a penalty per step, so that
noise alone does not buy a step and not every wiggle is flagged. What differs
here, and why:

- Every point carries its own interval (a 95% CI, the range of its runs, or a
  fixed bound for deterministic counts), so the fit weighs each point by it
  (weight ``1 / sigma**2`` with the interval taken as two sigmas either side)
  instead of estimating one noise level from the series: a history is a handful
  of runs, too few to estimate noise from, while each run measured its own.
- The fit is exact: optimal partitioning, a dynamic programme over every
  segment start (O(n^2) with prefix sums), which costs nothing for tens of runs.
  The penalty per step is the Bayesian information criterion's for two new
  parameters (where, and the new level): ``2 ln n`` in chi-square units.
- A fitted step is kept only where the two levels lie apart beyond their
  points' own intervals: a level's interval reaches below and above its
  weighted mean as far as its points' intervals reach from their values (the
  median of them), and the two must not overlap, the rule ``compare`` applies
  to two runs. A step inside that noise is merged away and the rest re-judged.
- Positive figures (rates, ratios, latencies, counts per message) are fitted on
  a log scale, where a step is a ratio and a relative interval is symmetric.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    """One point of a series: its figure and its interval (``low == high`` when it has none)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Level:
    """A stretch of the series at one level: points ``start`` to ``end`` (exclusive),
    the level and the interval its points' noise allows around it."""

    start: int
    end: int
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Step:
    """A change point: the series moved from ``before`` to ``after`` at point ``at``
    (the first point of ``after``)."""

    at: int
    before: Level
    after: Level

    @property
    def ratio(self) -> float:
        """``after`` over ``before`` (inf when ``before`` is zero)."""
        return self.after.value / self.before.value if self.before.value else math.inf


@dataclass(frozen=True)
class _Fitted:
    """The series on the fitted scale: each point's value, how far its interval
    reaches below and above it, and its weight."""

    y: list[float]
    down: list[float]
    up: list[float]
    weight: list[float]


def _prepare(points: Sequence[Measure], log: bool, floor: float) -> _Fitted:
    """Points on the fitted scale. A point without an interval gets the median reach
    of the points that have one (else ``floor``); no reach is below ``floor``."""

    def scale(v: float) -> float:
        return math.log(v) if log else v

    y = [scale(p.value) for p in points]
    down = [y[i] - scale(min(p.low, p.value)) for i, p in enumerate(points)]
    up = [scale(max(p.high, p.value)) - y[i] for i, p in enumerate(points)]
    known = [d + u for d, u in zip(down, up, strict=True) if d + u > 0]
    typical = statistics.median(known) / 2 if known else floor
    for i in range(len(points)):
        if down[i] + up[i] <= 0:
            down[i] = up[i] = typical
        down[i], up[i] = max(down[i], floor), max(up[i], floor)
    # The interval is about two sigmas either side of the value.
    weight = [4.0 / ((d + u) / 2) ** 2 for d, u in zip(down, up, strict=True)]
    return _Fitted(y, down, up, weight)


def _partition(fitted: _Fitted, penalty: float) -> list[int]:
    """The starts of the segments (after the first) of the least penalised
    piecewise-constant fit: weighted squared error plus ``penalty`` per step."""
    n = len(fitted.y)
    sums = [(0.0, 0.0, 0.0)]
    for y, w in zip(fitted.y, fitted.weight, strict=True):
        s0, s1, s2 = sums[-1]
        sums.append((s0 + w, s1 + w * y, s2 + w * y * y))

    def cost(start: int, end: int) -> float:
        w = sums[end][0] - sums[start][0]
        wy = sums[end][1] - sums[start][1]
        wyy = sums[end][2] - sums[start][2]
        return max(0.0, wyy - wy * wy / w)

    best = [-penalty] + [math.inf] * n
    previous = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end):
            total = best[start] + cost(start, end) + penalty
            if total < best[end]:
                best[end], previous[end] = total, start
    starts = []
    end = previous[n]
    while end > 0:
        starts.append(end)
        end = previous[end]
    return sorted(starts)


def _level(fitted: _Fitted, start: int, end: int) -> tuple[float, float, float]:
    """The weighted mean of points ``start:end`` and how far below and above it
    their noise reaches, on the fitted scale."""
    w = fitted.weight[start:end]
    mean = sum(wi * yi for wi, yi in zip(w, fitted.y[start:end], strict=True)) / sum(w)
    down = statistics.median(fitted.down[start:end])
    return mean, mean - down, mean + statistics.median(fitted.up[start:end])


def _weakest_overlap(fitted: _Fitted, starts: list[int]) -> int | None:
    """The position in ``starts`` of the step whose two levels overlap the most
    (measured against their reach), or None when every step clears the noise."""
    bounds = [0, *starts, len(fitted.y)]
    levels = [_level(fitted, a, b) for a, b in itertools.pairwise(bounds)]
    worst: tuple[float, int] | None = None
    for i in range(len(starts)):
        (m0, lo0, hi0), (m1, lo1, hi1) = levels[i], levels[i + 1]
        gap = (lo1 - hi0) if m1 >= m0 else (lo0 - hi1)
        reach = (hi0 - lo0) + (hi1 - lo1)
        clearance = gap / reach if reach > 0 else gap
        if clearance <= 0 and (worst is None or clearance < worst[0]):
            worst = (clearance, i)
    return None if worst is None else worst[1]


def find_steps(
    points: Sequence[Measure],
    *,
    log: bool = True,
    floor: float = 1e-3,
    penalty: float | None = None,
) -> list[Step]:
    """Every change point of ``points`` (in series order), each with the levels
    before and after it (in the points' own units).

    ``log``: fit on a log scale (every value must be positive). ``floor``: the
    least reach an interval gets on the fitted scale (relative on a log scale, so
    0.01 is about 1%; the whole bound for figures without noise). ``penalty``:
    the cost of one step in chi-square units (default ``2 ln n``).
    """
    if len(points) < 2:
        return []
    if log and any(p.value <= 0 or p.low <= 0 for p in points):
        raise ValueError("a log-scale series needs positive values and intervals")
    fitted = _prepare(points, log, floor)
    starts = _partition(fitted, 2.0 * math.log(len(points)) if penalty is None else penalty)
    while (weakest := _weakest_overlap(fitted, starts)) is not None:
        del starts[weakest]
    bounds = [0, *starts, len(points)]

    def level(a: int, b: int) -> Level:
        mean, low, high = _level(fitted, a, b)
        back = math.exp if log else float
        return Level(a, b, back(mean), back(low), back(high))

    levels = [level(a, b) for a, b in itertools.pairwise(bounds)]
    return [Step(start, levels[i], levels[i + 1]) for i, start in enumerate(starts)]
