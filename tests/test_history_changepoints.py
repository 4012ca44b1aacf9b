"""Change points on synthetic series: a known step is found at exactly its point,
noise is not a step, and a step inside the points' own intervals is not flagged.

The series are generated data with a known truth, not measurements: each point
is the median of five simulated runs with the range of the runs as its interval.
"""

from __future__ import annotations

import random

import pytest

from channels_harness.report.changepoints import Measure, find_steps


def noisy(levels: list[float], spread: float, seed: int, runs: int = 5) -> list[Measure]:
    """One point per level: the median of ``runs`` draws around it (relative sd
    ``spread``), with the range of the draws as its interval."""
    rng = random.Random(seed)
    points = []
    for level in levels:
        draws = sorted(level * (1 + rng.gauss(0, spread)) for _ in range(runs))
        points.append(Measure(draws[len(draws) // 2], draws[0], draws[-1]))
    return points


def exact(values: list[float], reach: float) -> list[Measure]:
    """Points with an interval of ``reach`` (relative) either side."""
    return [Measure(v, v * (1 - reach), v * (1 + reach)) for v in values]


def test_one_known_step_is_found_at_exactly_its_point() -> None:
    steps = find_steps(noisy([100.0] * 8 + [140.0] * 7, 0.05, seed=1))
    assert [step.at for step in steps] == [8]
    (step,) = steps
    assert step.before.value == pytest.approx(100, rel=0.05)
    assert step.after.value == pytest.approx(140, rel=0.05)
    assert step.ratio == pytest.approx(1.4, rel=0.07)


def test_a_step_between_two_runs_is_found_and_no_step_without_one() -> None:
    assert [s.at for s in find_steps(exact([100.0, 130.0], 0.05))] == [1]
    assert find_steps(exact([100.0, 102.0], 0.05)) == []
    assert find_steps(exact([100.0], 0.05)) == []


def test_a_flat_noisy_series_has_no_change_point() -> None:
    assert find_steps(noisy([100.0] * 20, 0.05, seed=2)) == []


def test_noise_alone_almost_never_makes_a_step() -> None:
    flagged = sum(bool(find_steps(noisy([100.0] * 20, 0.05, seed))) for seed in range(300))
    assert flagged <= 6  # at most 2% of flat series


def test_two_steps_are_both_found() -> None:
    steps = find_steps(noisy([100.0] * 7 + [140.0] * 7 + [95.0] * 6, 0.05, seed=3))
    assert [step.at for step in steps] == [7, 14]
    assert steps[0].after is steps[1].before or steps[0].after == steps[1].before


def test_known_steps_are_found_in_nearly_every_noisy_series() -> None:
    found = sum(
        [s.at for s in find_steps(noisy([100.0] * 10 + [140.0] * 10, 0.05, seed))] == [10]
        for seed in range(300)
    )
    assert found >= 290


def test_a_step_inside_the_intervals_is_not_flagged_and_the_same_step_outside_is() -> None:
    values = [100.0] * 6 + [103.0] * 6
    assert find_steps(exact(values, 0.10)) == []
    assert [s.at for s in find_steps(exact(values, 0.005))] == [6]


def test_a_single_outlier_inside_its_own_interval_is_not_a_step() -> None:
    points = exact([100.0] * 5, 0.03)
    points[2] = Measure(104.0, 80.0, 130.0)  # a noisy run: its interval covers the rest
    assert find_steps(points) == []


def test_a_point_without_an_interval_takes_the_others_noise() -> None:
    points = [*exact([100.0, 101.0, 99.0], 0.05), Measure(103.0, 103.0, 103.0)]
    assert find_steps(points) == []
    points[-1] = Measure(150.0, 150.0, 150.0)
    assert [s.at for s in find_steps(points)] == [3]


def test_counts_on_a_linear_scale_change_by_one() -> None:
    counts = [Measure(v, v, v) for v in (10.0, 10.0, 11.0, 11.0)]
    assert [s.at for s in find_steps(counts, log=False, floor=0.25)] == [2]
    flat = [Measure(v, v, v) for v in (0.0, 0.0, 0.0)]
    assert find_steps(flat, log=False, floor=0.25) == []


def test_a_log_scale_series_refuses_a_figure_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        find_steps([Measure(1.0, 0.5, 1.5), Measure(0.0, 0.0, 0.0)])
