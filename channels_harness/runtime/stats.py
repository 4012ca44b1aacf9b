"""Latency histograms and run-to-run summaries (HdrHistogram based).

Latencies are recorded in microseconds in an :class:`~hdrh.histogram.HdrHistogram`
(1 us to 60 s, 3 significant figures). Generator processes ship their
histogram to the parent as text (:func:`encode`), where :func:`merge` adds
them up. :func:`summarize` turns a histogram into the percentiles the results
model stores (milliseconds), and :func:`median` (or :func:`median_of_present`,
which skips runs that measured nothing) and :func:`spread_pct` turn repeated
runs into one figure and its spread.

No pytest and no locust imports: everything here is plain data.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_FIGURES = 3


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds (1 us .. 60 s, 3 significant figures)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def record_us(histogram: HdrHistogram, microseconds: float) -> None:
    """Record one latency, clamped into the histogram's trackable range."""
    histogram.record_value(min(max(int(microseconds), LOWEST_US), HIGHEST_US))


def encode(histogram: HdrHistogram) -> str:
    """The histogram as compressed base64 text, for sending between processes."""
    data = histogram.encode()
    return data.decode("ascii") if isinstance(data, bytes) else str(data)


def decode(text: str) -> HdrHistogram:
    """The histogram :func:`encode` produced."""
    return HdrHistogram.decode(text.encode("ascii"))


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """One histogram holding every value of the encoded histograms."""
    total = new_histogram()
    for text in encoded:
        if text:
            total.add(decode(text))
    return total


def combine(histograms: Iterable[HdrHistogram]) -> HdrHistogram:
    """One histogram holding every value of ``histograms`` (left unchanged)."""
    total = new_histogram()
    for histogram in histograms:
        total.add(histogram)
    return total


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of one histogram, in milliseconds, and how many values it holds."""

    count: int
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    def as_row(self) -> dict[str, float]:
        """The percentile fields as the results model names them (no count)."""
        row = asdict(self)
        row.pop("count")
        return row


def _ms(microseconds: float) -> float:
    return round(microseconds / 1000.0, 3)


def summarize(histogram: HdrHistogram) -> LatencySummary:
    """p50, p90, p95, p99, p99.9 and max of ``histogram`` in ms (all 0 when it is empty)."""
    count = int(histogram.get_total_count())
    if count == 0:
        return LatencySummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return LatencySummary(
        count=count,
        p50_ms=_ms(histogram.get_value_at_percentile(50)),
        p90_ms=_ms(histogram.get_value_at_percentile(90)),
        p95_ms=_ms(histogram.get_value_at_percentile(95)),
        p99_ms=_ms(histogram.get_value_at_percentile(99)),
        p999_ms=_ms(histogram.get_value_at_percentile(99.9)),
        max_ms=_ms(histogram.get_max_value()),
    )


def median(values: Sequence[float]) -> float:
    """The median of repeated measurements (0 for none)."""
    middle = median_of_present(values)
    return 0.0 if middle is None else middle


def spread_pct(values: Sequence[float]) -> float:
    """Run-to-run spread: (max - min) / median, in percent (0 for fewer than 2 runs)."""
    if len(values) < 2:
        return 0.0
    mid = median(values)
    if mid == 0:
        return 0.0
    return round((max(values) - min(values)) / mid * 100.0, 1)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` rounded to 2 places, or None when the denominator is 0."""
    if not denominator:
        return None
    return round(numerator / denominator, 2)


def median_of_present(values: Sequence[float | None]) -> float | None:
    """The median of the values that are not None (None when there are none)."""
    present = [value for value in values if value is not None]
    return float(statistics.median(present)) if present else None
