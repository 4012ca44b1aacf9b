"""The pace of new connections: as fast as the server takes them, no faster.

:class:`Pacer` adapts a rate both ways multiplicatively: every control window
it multiplies the rate by ``increase`` while handshakes come back within
``target_latency_s`` and none fail, and by ``decrease`` as soon as one fails
or the slow end of the window's handshakes (its 90th percentile, or the
oldest handshake still waiting) passes the target. The rate stays between
``min_rate`` and ``max_rate``. Pure arithmetic: the opener feeds it
observations and asks for the next send time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def p90(values: Sequence[float]) -> float:
    """The 90th percentile of ``values`` (nearest rank); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


@dataclass
class Pacer:
    """A connection rate (per second) that follows the server's handshake latency."""

    rate: float
    min_rate: float
    max_rate: float
    target_latency_s: float
    increase: float = 1.25
    decrease: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.min_rate <= self.max_rate:
            raise ValueError(f"rates must be 0 < min <= max, not {self.min_rate}, {self.max_rate}")
        if self.target_latency_s <= 0:
            raise ValueError("the target handshake latency must be positive")
        self.rate = min(self.max_rate, max(self.min_rate, self.rate))

    @property
    def interval(self) -> float:
        """Seconds between two new connections at the current rate."""
        return 1.0 / self.rate

    def slow(self, latencies: Sequence[float], oldest_waiting_s: float) -> bool:
        """Whether the window's slow handshakes passed the target latency."""
        return max(p90(latencies), oldest_waiting_s) > self.target_latency_s

    def adjust(self, latencies: Sequence[float], failures: int, oldest_waiting_s: float) -> float:
        """The new rate after a window with these handshake ``latencies`` (seconds),
        ``failures`` and the age of the oldest handshake still waiting.

        A window with nothing finished and nothing waiting leaves the rate alone.
        """
        if failures or self.slow(latencies, oldest_waiting_s):
            self.rate = max(self.min_rate, self.rate * self.decrease)
        elif latencies:
            self.rate = min(self.max_rate, self.rate * self.increase)
        return self.rate
