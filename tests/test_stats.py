"""stats: HdrHistogram summaries, merging across processes, run-to-run spread; and
confidence: the intervals of medians and ratios from order statistics."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels_harness.runtime import confidence, stats


def test_summary_of_known_values_gives_their_percentiles_in_ms() -> None:
    histogram = stats.new_histogram()
    for us in range(1, 1001):  # 1 us .. 1000 us
        stats.record_us(histogram, us * 1000)  # 1 ms .. 1000 ms
    summary = stats.summarize(histogram)
    assert summary.count == 1000
    # 3 significant figures: values come back within 0.1 %
    assert abs(summary.p50_ms - 500) <= 0.5
    assert abs(summary.p90_ms - 900) <= 0.9
    assert abs(summary.p95_ms - 950) <= 1.0
    assert abs(summary.p99_ms - 990) <= 1.0
    assert abs(summary.p999_ms - 999) <= 1.0
    assert abs(summary.max_ms - 1000) <= 1.0
    assert set(summary.as_row()) == {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms"}


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


def test_the_median_of_no_runs_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match="no runs"):
        stats.median([])
    assert stats.median([0.0]) == 0.0  # a run that measured nothing is a real zero


def test_median_of_present_skips_runs_that_measured_nothing() -> None:
    assert stats.median_of_present([None, 4.0, 1.0, None, 2.0]) == 2.0
    assert stats.median_of_present([None, None]) is None
    assert stats.median_of_present([]) is None


def test_ratio_is_none_when_the_denominator_is_zero() -> None:
    assert stats.ratio(10.0, 4.0) == 2.5
    assert stats.ratio(10.0, 0.0) is None


# -- confidence intervals (runtime.confidence) -------------------------------------------


def test_the_coverage_of_order_statistics_is_the_binomial_sum() -> None:
    # the range of n runs misses the median only when every run falls on one side
    for runs in range(2, 12):
        assert confidence.coverage(runs, 1) == pytest.approx(1 - 2 / 2**runs)
    assert confidence.coverage(9, 2) == pytest.approx(1 - 2 * (1 + 9) / 2**9)
    assert confidence.MIN_CI_RUNS == 6
    assert [confidence.ci_rank(n) for n in (5, 6, 8, 9, 11, 12)] == [None, 1, 1, 2, 2, 3]


def test_constant_runs_give_a_zero_width_interval_that_has_settled() -> None:
    interval = confidence.median_interval([1000.0] * 6)
    assert interval is not None and (interval.low, interval.value, interval.high) == (1000,) * 3
    assert interval.half_width_pct == 0.0 and interval.is_ci
    assert confidence.settled([1000.0] * 6)


def test_one_run_has_no_interval_and_never_settles() -> None:
    assert confidence.median_interval([1000.0]) is None
    assert not confidence.settled([1000.0])


def test_fewer_than_six_runs_give_their_range_and_never_a_95_percent_ci() -> None:
    for runs in ([900.0, 1000.0, 1100.0], [900.0, 950.0, 1000.0, 1050.0, 1100.0]):
        interval = confidence.median_interval(runs)
        assert interval is not None and not interval.is_ci and interval.kind == "range"
        assert (interval.low, interval.high) == (900.0, 1100.0)
        assert interval.coverage == pytest.approx(1 - 2 / 2 ** len(runs))


def test_from_six_runs_the_interval_is_a_95_percent_ci_of_order_statistics() -> None:
    six = confidence.median_interval([1030.0, 980.0, 1010.0, 1000.0, 990.0, 1005.0])
    assert six is not None and six.is_ci and six.kind == "95% CI"
    assert (six.low, six.value, six.high) == (980.0, 1002.5, 1030.0)
    # from 9 runs on, the most extreme run on each side no longer bounds it
    nine = confidence.median_interval([float(v) for v in range(1, 10)])
    assert nine is not None and nine.is_ci and (nine.low, nine.high) == (2.0, 8.0)


def test_shifting_every_run_shifts_the_interval_by_as_much() -> None:
    runs = [980.0, 1010.0, 1000.0, 1030.0, 990.0, 1020.0]
    base = confidence.median_interval(runs)
    moved = confidence.median_interval([r + 500.0 for r in runs])
    assert base is not None and moved is not None
    assert (moved.low, moved.value, moved.high) == (
        base.low + 500,
        base.value + 500,
        base.high + 500,
    )


def test_scattered_runs_do_not_settle_and_tight_runs_do() -> None:
    # the spread two consecutive quick runs showed on a shared 2-core machine
    scattered = [9424.0, 11014.0, 8100.0, 10700.0, 12000.0, 10100.0]
    tight = [10000.0, 10100.0, 9950.0, 10050.0, 10020.0, 9990.0]
    assert not confidence.settled(scattered)
    assert confidence.settled(tight)
    wide = confidence.median_interval(scattered)
    assert wide is not None and wide.half_width_pct > confidence.TARGET_HALF_WIDTH_PCT


def test_a_paired_ratio_cancels_load_that_hit_both_sides_alike() -> None:
    # each round the machine's load scales both sides; async stays twice sync
    load = [1.0, 0.6, 1.3, 0.8, 1.1, 0.7]
    sync = [1000.0 * f for f in load]
    asynchronous = [2000.0 * f * (1 + 0.01 * (-1) ** i) for i, f in enumerate(load)]
    paired = confidence.ratio_interval(asynchronous, sync, paired=True)
    unpaired = confidence.ratio_interval(asynchronous, sync, paired=False)
    assert paired is not None and unpaired is not None
    assert paired.contains(2.0) and paired.half_width_pct < 2 and paired.is_ci
    assert unpaired.high - unpaired.low > 5 * (paired.high - paired.low)


def test_a_ratio_whose_interval_spans_one_is_no_clear_difference() -> None:
    same = confidence.ratio_interval(
        [100.0, 104, 97, 101, 99, 100], [101.0, 98, 102, 99, 100, 100], True
    )
    faster = confidence.ratio_interval(
        [150.0, 156, 146, 152, 149, 150], [101.0, 98, 102, 99, 100, 100], True
    )
    assert same is not None and same.contains(1.0)
    assert faster is not None and not faster.contains(1.0) and faster.low > 1.4


def test_a_ratio_needs_two_runs_a_side_and_equal_rounds_when_paired() -> None:
    assert confidence.ratio_interval([1.0], [1.0], paired=True) is None
    assert confidence.ratio_interval([1.0, 2.0, 3.0], [1.0, 2.0], paired=True) is None
    assert confidence.ratio_interval([1.0, 2.0], [0.0, 0.0], paired=False) is None


def test_a_round_that_measured_nothing_keeps_its_place_in_a_paired_ratio() -> None:
    # round 2 of the bottom side measured nothing: its ratio is infinite, it is not
    # dropped, and the rounds after it still pair with their own rounds
    top, bottom = [200.0, 210.0, 190.0], [100.0, 0.0, 95.0]
    ratios, left_out = confidence.paired_ratios(top, bottom)
    assert ratios == [2.0, math.inf, 2.0] and left_out == 0
    both_idle = confidence.paired_ratios([200.0, 0.0], [100.0, 0.0])
    assert both_idle == ([2.0], 1)


def test_an_unpaired_ratio_is_the_ratio_of_the_medians_with_the_runs_range() -> None:
    top, bottom = [16174.4, 11535.1, 16106.7], [5825.5, 5638.5, 6858.3]
    found = confidence.ratio_interval(top, bottom, paired=False)
    assert found is not None and found.kind == "range"
    assert found.value == pytest.approx(16106.7 / 5825.5)
    assert (found.low, found.high) == (11535.1 / 6858.3, 16174.4 / 5638.5)


def test_an_unpaired_ratio_is_a_95_percent_ci_from_seven_runs_a_side() -> None:
    top = [2000.0 + 10 * i for i in range(7)]
    bottom = [1000.0 + 5 * i for i in range(7)]
    found = confidence.ratio_interval(top, bottom, paired=False)
    assert found is not None and found.is_ci and found.coverage >= 0.95
    # each side's 97.5% interval is its range at 7 runs (98.4%)
    assert (found.low, found.high) == (2000.0 / 1030.0, 2060.0 / 1000.0)
    six = confidence.ratio_interval(top[:6], bottom[:6], paired=False)
    assert six is not None and not six.is_ci


def test_a_versions_run_measures_enough_runs_for_a_stack_ratio_ci_by_default(
    tmp_path: Path,
) -> None:
    from channels_harness.experiments.versions.plan import VersionsPlan

    plan = VersionsPlan(stacks=(), cache=tmp_path)
    runs = [float(1000 + i) for i in range(plan.bench_runs)]
    found = confidence.ratio_interval(runs, runs, paired=False)
    assert found is not None and found.is_ci
    fewer = confidence.ratio_interval(runs[:-1], runs[:-1], paired=False)
    assert fewer is not None and not fewer.is_ci
    assert VersionsPlan(stacks=(), cache=tmp_path, quick=True).bench_runs == 1
