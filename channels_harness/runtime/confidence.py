"""95% confidence intervals for figures from repeated runs, by bootstrap.

Every figure of the benchmark is the median of its runs, so its interval is a
percentile bootstrap of the median: resample the runs with replacement many
times, take each resample's median, and keep the middle 95% of those medians.
For the median this interval is close to the distribution-free one built from
order statistics, so it assumes nothing about the shape of the run-to-run
noise (which on a shared machine is lopsided: a neighbour only ever slows a
run down). It is honest from about five runs on; with fewer it is too narrow
(with three runs it is the range of the runs), which is why the benchmark
measures at least five before it calls a cell settled.

A ratio of two figures measured in the same interleaved rounds (run k of one
right after run k of the other) is paired: each round gives one ratio, in
which a change in the machine's load cancels out, and the ratio's figure and
interval are the median of the per-round ratios and its bootstrap. Unpaired
ratios resample both sides independently.

The resampling uses a fixed seed, so the same runs always give the same
interval and a report re-renders byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RESAMPLES = 4000
SEED = 6455
# A figure has settled when its interval reaches no further than this from it.
TARGET_HALF_WIDTH_PCT = 5.0


@dataclass(frozen=True)
class Interval:
    """A figure (a median) and its 95% confidence interval."""

    value: float
    low: float
    high: float

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


def _medians(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The median of each of :data:`RESAMPLES` resamples of ``samples``."""
    picks = rng.integers(0, len(samples), size=(RESAMPLES, len(samples)))
    return np.median(samples[picks], axis=1)


def _percentiles(statistics: np.ndarray) -> tuple[float, float]:
    tail = (1.0 - LEVEL) / 2.0
    low, high = np.quantile(statistics, [tail, 1.0 - tail])
    return float(low), float(high)


def median_interval(values: Sequence[float]) -> Interval | None:
    """The median of ``values`` and its 95% bootstrap interval (None for fewer
    than two values: one run says nothing about the next)."""
    if len(values) < 2:
        return None
    samples = np.asarray(values, dtype=float)
    low, high = _percentiles(_medians(samples, np.random.default_rng(SEED)))
    return Interval(float(np.median(samples)), low, high)


def settled(values: Sequence[float], target_pct: float = TARGET_HALF_WIDTH_PCT) -> bool:
    """Whether the interval of ``values``' median reaches at most ``target_pct``
    percent from it (never with fewer than two values)."""
    interval = median_interval(values)
    return interval is not None and interval.half_width_pct <= target_pct


def ratio_interval(top: Sequence[float], bottom: Sequence[float], paired: bool) -> Interval | None:
    """``top`` over ``bottom`` with its 95% bootstrap interval.

    Paired (run k of each measured in the same round): the median of the
    per-round ratios, resampling rounds. Unpaired: the ratio of the medians,
    resampling each side on its own. None with fewer than two runs on a side,
    unequal run counts when paired, or a zero in ``bottom``.
    """
    if len(top) < 2 or len(bottom) < 2 or min(bottom) <= 0:
        return None
    upper = np.asarray(top, dtype=float)
    lower = np.asarray(bottom, dtype=float)
    if paired:
        if len(top) != len(bottom):
            return None
        return median_interval(list(upper / lower))
    # One stream for both sides, so their picks are independent of each other.
    rng = np.random.default_rng(SEED)
    resampled_top = _medians(upper, rng)
    low, high = _percentiles(resampled_top / _medians(lower, rng))
    return Interval(float(np.median(upper) / np.median(lower)), low, high)
