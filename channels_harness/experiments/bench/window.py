"""How long a closed-loop window must be for an app whose rounds are slow.

A closed-loop rate is the number of steps that ended inside the window over its
length. When one round of a connection (its steps, one after the other) takes
about as long as the window, each connection ends only one or two rounds in it,
and the count moves in jumps of the connection count: examples/chat (one SQLite
commit per message) measured exactly 50 steps/s at 50 connections in every 1 s
window, a "95% CI" of 50-50 that said nothing. A sizing window, not counted,
first measures how many rounds a connection ends per second; the measured
windows are then long enough for :data:`ROUNDS_PER_CONNECTION` rounds each, up
to the plan's cap. Where the cap binds, the run says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Rounds each connection should end in a window: with 20, a connection's
# partial round at either edge moves the count by at most about 5%.
ROUNDS_PER_CONNECTION = 20


@dataclass(frozen=True)
class Window:
    """The measured window: ``seconds`` long, expected to hold ``rounds`` rounds per
    connection; ``capped`` when the plan's longest window still holds fewer than
    :data:`ROUNDS_PER_CONNECTION`."""

    seconds: float
    rounds: float
    capped: bool

    def describe(self) -> str:
        text = f"{self.seconds:g} s windows (about {self.rounds:.0f} rounds per connection)"
        if self.capped:
            text += (
                f", fewer than {ROUNDS_PER_CONNECTION}: the rates move in steps of a whole "
                "round per connection; a longer --matrix gives longer windows"
            )
        return text


def fitted(
    planned_s: float,
    cap_s: float,
    sizing_s: float,
    steps_ended: int,
    steps_per_round: int,
    connections: int,
) -> Window:
    """The window for a closed loop whose sizing window of ``sizing_s`` seconds
    ended ``steps_ended`` steps over ``connections`` connections, each round
    being ``steps_per_round`` steps: at least ``planned_s``, at most ``cap_s``
    (never below ``planned_s``), long enough for :data:`ROUNDS_PER_CONNECTION`
    rounds per connection where the cap allows."""
    if sizing_s <= 0 or connections <= 0 or steps_per_round <= 0:
        raise ValueError("a sizing window needs a length, connections and steps")
    rounds_per_s = steps_ended / steps_per_round / connections / sizing_s
    if rounds_per_s <= 0:
        # Nothing ended: the slowest the plan allows, and say it is capped.
        return Window(max(planned_s, cap_s), 0.0, capped=True)
    wanted = ROUNDS_PER_CONNECTION / rounds_per_s
    seconds = max(planned_s, min(cap_s, math.ceil(wanted * 2) / 2))
    rounds = rounds_per_s * seconds
    return Window(seconds, rounds, capped=rounds < ROUNDS_PER_CONNECTION)
