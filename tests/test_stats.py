"""stats: HdrHistogram summaries, merging across processes, run-to-run spread."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from channels_harness.runtime import stats


def test_summary_of_known_values_gives_their_percentiles_in_ms() -> None:
    histogram = stats.new_histogram()
    for us in range(1, 1001):  # 1 us .. 1000 us
        stats.record_us(histogram, us * 1000)  # 1 ms .. 1000 ms
    summary = stats.summarize(histogram)
    assert summary.count == 1000
    # 3 significant figures: values come back within 0.1 %
    assert abs(summary.p50_ms - 500) <= 0.5
    assert abs(summary.p90_ms - 900) <= 0.9
    assert abs(summary.p99_ms - 990) <= 1.0
    assert abs(summary.p999_ms - 999) <= 1.0
    assert abs(summary.max_ms - 1000) <= 1.0
    assert set(summary.as_row()) == {"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"}


def test_an_empty_histogram_summarizes_to_zeros() -> None:
    summary = stats.summarize(stats.new_histogram())
    assert summary.count == 0
    assert summary.as_row() == dict.fromkeys(summary.as_row(), 0.0)


def test_values_outside_the_range_are_clamped_not_lost() -> None:
    histogram = stats.new_histogram()
    stats.record_us(histogram, 0)
    stats.record_us(histogram, 10 * stats.HIGHEST_US)
    assert histogram.get_total_count() == 2
    assert histogram.get_min_value() == stats.LOWEST_US
    assert histogram.get_max_value() >= stats.HIGHEST_US


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(min_value=1, max_value=stats.HIGHEST_US), max_size=50), max_size=4
    )
)
def test_merging_encoded_histograms_equals_recording_everything_in_one(
    parts: list[list[int]],
) -> None:
    encoded = []
    everything = stats.new_histogram()
    for values in parts:
        histogram = stats.new_histogram()
        for value in values:
            stats.record_us(histogram, value)
            stats.record_us(everything, value)
        encoded.append(stats.encode(histogram))
    merged = stats.merge(encoded)
    assert merged.get_total_count() == everything.get_total_count()
    assert stats.summarize(merged) == stats.summarize(everything)
    assert stats.summarize(stats.combine(stats.decode(text) for text in encoded)) == (
        stats.summarize(everything)
    )


def test_median_and_spread_of_repeated_runs() -> None:
    assert stats.median([10.0, 30.0, 20.0]) == 20.0
    assert stats.spread_pct([90.0, 100.0, 110.0]) == 20.0
    assert stats.spread_pct([100.0]) == 0.0
    assert stats.median([]) == 0.0


def test_median_of_present_skips_runs_that_measured_nothing() -> None:
    assert stats.median_of_present([None, 4.0, 1.0, None, 2.0]) == 2.0
    assert stats.median_of_present([None, None]) is None
    assert stats.median_of_present([]) is None


def test_ratio_is_none_when_the_denominator_is_zero() -> None:
    assert stats.ratio(10.0, 4.0) == 2.5
    assert stats.ratio(10.0, 0.0) is None
