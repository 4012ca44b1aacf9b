"""Intervals for figures from repeated runs: order statistics, free of any noise shape.

Every figure of the benchmark is the median of its runs. Sort the n runs,
x(1) <= ... <= x(n): the interval [x(k), x(n+1-k)] contains the true median
(the median of the distribution the runs come from) with probability
1 - 2 P(B <= k - 1), B ~ Binomial(n, 1/2), whatever the shape of the
run-to-run noise; it needs only runs that are independent and alike. On a
shared machine the noise is lopsided (a neighbour only ever slows a run down),
which is why no normal or bootstrap approximation is used. The probabilities
are exact binomial sums (:func:`coverage`), a few lines of integer arithmetic
(scipy's ``quantile_test`` computes the same, at the cost of a large dependency).

- From :data:`MIN_CI_RUNS` (6) runs on, the narrowest such interval whose
  coverage reaches 95% is the figure's **95% CI**: the range of the runs for
  6 to 8 runs (96.9% to 99.2%), the second smallest to the second largest for
  9 to 11, and so on.
- With 2 to 5 runs no interval of runs reaches 95%: the figure's interval is
  the **range** of its runs, which covers the median with probability 50%,
  75%, 87.5% and 93.75% for 2, 3, 4 and 5 runs. It is published as a range,
  never as a confidence interval.

A ratio of two figures measured in the same interleaved rounds (run k of one
right after run k of the other) is **paired**: each round gives one ratio, in
which a change in the machine's load cancels out, and the ratio's figure and
interval are the median of the per-round ratios and its interval as above.
Figures measured apart (not in the same rounds) are **unpaired**: the figure is
the ratio of the two medians; its 95% CI divides the two medians' 97.5%
intervals (each covering its median with at least 97.5%, so the ratio of the
true medians lies inside with at least 95%), which needs 7 runs a side; with
fewer it is the range the runs allow, slowest over fastest to fastest over
slowest.

Which interval a cell publishes when its runs repeat until the interval is
narrow (the adaptive rounds of the benchmark) is checked by
``tests/test_interval_coverage.py``: synthetic runs with a known median,
several noise shapes, through the real repeat procedure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from channels_harness.runtime.stats import median

LEVEL = 0.95
# A figure has settled when its interval reaches no further than this from it.
TARGET_HALF_WIDTH_PCT = 5.0


@cache
def coverage(runs: int, rank: int) -> float:
    """The probability that [x(rank), x(runs + 1 - rank)] of ``runs`` sorted runs
    contains the true median: 1 - 2 P(Binomial(runs, 1/2) <= rank - 1)."""
    if runs < 1 or not 1 <= rank <= (runs + 1) // 2:
        raise ValueError(f"no interval of rank {rank} in {runs} runs")
    below = sum(math.comb(runs, i) for i in range(rank))
    return 1.0 - 2.0 * below / 2**runs


def ci_rank(runs: int, level: float = LEVEL) -> int | None:
    """The largest rank k whose interval [x(k), x(runs + 1 - k)] covers the median
    with at least ``level`` (None when even the range of the runs does not)."""
    found = None
    for rank in range(1, (runs + 1) // 2 + 1):
        if coverage(runs, rank) < level:
            break
        found = rank
    return found


MIN_CI_RUNS = next(n for n in range(1, 64) if ci_rank(n) is not None)


@dataclass(frozen=True)
class Interval:
    """A figure (a median, or a ratio) and its interval.

    ``coverage`` is the probability the method's interval contains the true
    figure (a lower bound for unpaired ratios); from :data:`LEVEL` on it is a
    95% confidence interval, below it the range of the runs. ``runs`` is how
    many runs (or rounds) it rests on.
    """

    value: float
    low: float
    high: float
    runs: int = 0
    coverage: float = 0.0

    @property
    def is_ci(self) -> bool:
        """Whether the interval is a 95% confidence interval (not only a range)."""
        return self.coverage >= LEVEL

    @property
    def kind(self) -> str:
        """``95% CI`` or ``range``: what a report calls the interval."""
        return "95% CI" if self.is_ci else "range"

    @property
    def half_width_pct(self) -> float:
        """How far the interval reaches from the figure, on its wider side, in
        percent of the figure (infinite for a zero figure)."""
        if self.value == 0:
            return 0.0 if self.low == self.high == 0 else float("inf")
        return max(self.value - self.low, self.high - self.value) / abs(self.value) * 100.0

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_list(self, digits: int = 1) -> list[float]:
        """``[low, high]`` rounded, as rows store it."""
        return [round(self.low, digits), round(self.high, digits)]


def median_interval(values: Sequence[float]) -> Interval | None:
    """The median of ``values`` and its interval: the 95% CI from
    :data:`MIN_CI_RUNS` runs on, else the range of the runs (None for fewer than
    two values: one run says nothing about the next)."""
    if len(values) < 2:
        return None
    ordered = sorted(float(v) for v in values)
    n = len(ordered)
    rank = ci_rank(n) or 1
    return Interval(median(ordered), ordered[rank - 1], ordered[n - rank], n, coverage(n, rank))


def settled(values: Sequence[float], target_pct: float = TARGET_HALF_WIDTH_PCT) -> bool:
    """Whether the interval of ``values``' median reaches at most ``target_pct``
    percent from it (never with fewer than two values)."""
    interval = median_interval(values)
    return interval is not None and interval.half_width_pct <= target_pct


def _quotient(top: float, bottom: float) -> float | None:
    """``top / bottom`` of one round: infinite over a zero ``bottom`` (None when
    both measured nothing: the round says nothing about the ratio)."""
    if bottom > 0:
        return top / bottom
    return math.inf if top > 0 else None


def paired_ratios(top: Sequence[float], bottom: Sequence[float]) -> tuple[list[float], int]:
    """The per-round ratios of two sides measured in the same rounds (round k with
    round k), and how many rounds were left out because both sides measured nothing."""
    if len(top) != len(bottom):
        raise ValueError(f"{len(top)} and {len(bottom)} runs cannot be paired round by round")
    quotients = [_quotient(t, b) for t, b in zip(top, bottom, strict=True)]
    kept = [q for q in quotients if q is not None]
    return kept, len(quotients) - len(kept)


def _unpaired(top: Sequence[float], bottom: Sequence[float]) -> Interval | None:
    """The ratio of the medians and its interval (see the module doc)."""
    upper, lower = sorted(top), sorted(bottom)
    n, m = len(upper), len(lower)
    if median(lower) <= 0:
        return None
    value = median(upper) / median(lower)
    half = 1.0 - (1.0 - LEVEL) / 2.0
    k, j = ci_rank(n, half), ci_rank(m, half)
    if k is not None and j is not None:
        low, high = _quotient(upper[k - 1], lower[m - j]), _quotient(upper[n - k], lower[j - 1])
        bound = 1.0 - (1.0 - coverage(n, k)) - (1.0 - coverage(m, j))
    else:
        low, high = _quotient(upper[0], lower[-1]), _quotient(upper[-1], lower[0])
        bound = coverage(n, 1) * coverage(m, 1)
    return Interval(value, low or 0.0, math.inf if high is None else high, min(n, m), bound)


def ratio_interval(top: Sequence[float], bottom: Sequence[float], paired: bool) -> Interval | None:
    """``top`` over ``bottom`` with its interval (see the module doc).

    Paired (run k of each measured in the same round): the median of the
    per-round ratios and its interval. Unpaired: the ratio of the medians. None
    with fewer than two runs (or rounds that measured something) on a side,
    unequal run counts when paired, or a zero median below.
    """
    if len(top) < 2 or len(bottom) < 2:
        return None
    if paired:
        if len(top) != len(bottom):
            return None
        ratios, _left_out = paired_ratios(top, bottom)
        return median_interval(ratios)
    return _unpaired(top, bottom)
