"""The closed loop's window for slow rounds (channels_harness.experiments.bench.window).

examples/chat committed one SQLite row per message and answered in waves: every
1 s window held exactly one round of each of its 50 connections, so six runs gave
50 steps/s six times and a "95% CI" of 50-50. The window is now sized from an
uncounted first window so that each connection ends about 20 rounds in it.
"""

from __future__ import annotations

import pytest

from channels_harness.experiments.bench.window import ROUNDS_PER_CONNECTION, fitted


def test_a_fast_app_keeps_the_planned_window() -> None:
    # 50 connections, 2,000 steps in 1 s: 40 rounds per connection per second.
    window = fitted(1.0, 8.0, 1.0, 2_000, 1, 50)
    assert window.seconds == 1.0
    assert window.rounds == pytest.approx(40.0)
    assert not window.capped


def test_a_slow_app_gets_a_window_long_enough_for_its_rounds() -> None:
    # One round (two steps) per connection per second: 20 s would be needed, 8 s is
    # the cap, and the window says it holds fewer rounds than wanted.
    window = fitted(1.0, 8.0, 1.0, 100, 2, 50)
    assert window.seconds == 8.0
    assert window.rounds == pytest.approx(8.0)
    assert window.capped
    assert "fewer than" in window.describe()
    # With room under the cap it asks for just enough (rounded up to half seconds).
    roomy = fitted(1.0, 30.0, 1.0, 100, 2, 50)
    assert roomy.seconds == 20.0
    assert not roomy.capped
    assert roomy.rounds >= ROUNDS_PER_CONNECTION


def test_a_sizing_window_that_ended_nothing_takes_the_longest_and_says_so() -> None:
    window = fitted(1.0, 8.0, 1.0, 0, 1, 50)
    assert (window.seconds, window.capped) == (8.0, True)


def test_a_sizing_window_needs_a_length_connections_and_steps() -> None:
    with pytest.raises(ValueError):
        fitted(1.0, 8.0, 0.0, 10, 1, 50)
    with pytest.raises(ValueError):
        fitted(1.0, 8.0, 1.0, 10, 0, 50)
