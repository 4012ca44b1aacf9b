"""Repeated runs of several members measured side by side, interleaved.

The machine is shared and its load drifts, so figures that are compared (the
flavours of one throughput cell, the layers of the breakdown, the two sides of
the headroom ratio) are measured in rounds: run 1 of every member, then run 2
of every member, and so on. A change in the machine's load then hits every
member alike and their ratios stay fair.

:class:`Interleaving` keeps the runs so far and measures one round at a time;
:func:`interleave` runs a fixed number of rounds, :func:`repeat_until_settled`
at least a minimum and then more, up to a budget, until every member's runs
have settled (their confidence interval is narrow enough).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from channels_harness.experiments.bench.plan import Rounds
from channels_harness.experiments.bench.session import BenchSession, CellFailed
from channels_harness.generators.engine import LoadResult

M = TypeVar("M")


@dataclass
class Interleaving(Generic[M]):
    """The interleaved runs of ``members``, round by round.

    ``describe(member, index)`` names the progress step of run ``index`` (from
    0) of ``member``; ``measure(member)`` makes one run and raises
    :class:`CellFailed` (the failure already recorded) when it fails.
    """

    session: BenchSession
    members: Sequence[M]
    describe: Callable[[M, int], str]
    measure: Callable[[M], LoadResult]
    # True: the first failure ends the measurement (every member is needed).
    stop_at_first_failure: bool = False
    results: list[list[LoadResult]] = field(init=False)
    failed: set[int] = field(init=False, default_factory=set)
    stopped: bool = field(init=False, default=False)
    rounds_done: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.results = [[] for _ in self.members]

    def run_round(self, index: int) -> None:
        """Run ``index`` of every member in order, each one progress step.

        A member that failed in an earlier round is skipped (its step still
        counts, so the progress total holds); with :attr:`stop_at_first_failure`
        a failure stops the round and marks the whole measurement stopped.
        """
        for position, member in enumerate(self.members):
            with self.session.step(self.describe(member, index)):
                if position in self.failed:
                    continue
                try:
                    self.results[position].append(self.measure(member))
                except CellFailed:
                    self.failed.add(position)
                    if self.stop_at_first_failure:
                        self.stopped = True
                        return
        self.rounds_done += 1

    def measured(self) -> list[tuple[M, list[LoadResult]]]:
        """Every member that never failed and has runs, with its runs, in member order."""
        return [
            (member, runs)
            for position, (member, runs) in enumerate(zip(self.members, self.results, strict=True))
            if position not in self.failed and runs
        ]


def interleave(
    session: BenchSession,
    members: Sequence[M],
    runs: int,
    describe: Callable[[M, int], str],
    measure: Callable[[M], LoadResult],
    *,
    stop_at_first_failure: bool = False,
) -> Interleaving[M]:
    """Measure ``runs`` interleaved rounds of ``members`` (see :class:`Interleaving`)."""
    return repeat_until_settled(
        session,
        members,
        Rounds(runs, runs),
        describe,
        measure,
        lambda runs_so_far: True,
        stop_at_first_failure=stop_at_first_failure,
    )


def repeat_until_settled(
    session: BenchSession,
    members: Sequence[M],
    rounds: Rounds,
    describe: Callable[[M, int], str],
    measure: Callable[[M], LoadResult],
    settled: Callable[[list[LoadResult]], bool],
    *,
    stop_at_first_failure: bool = False,
) -> Interleaving[M]:
    """Measure interleaved rounds of ``members``: at least ``rounds.minimum``, then
    one more at a time, up to ``rounds.maximum``, until ``settled(runs)`` holds for
    the runs of every member still measured (a failed member drops out).

    The progress total counts ``rounds.maximum`` rounds; the steps of rounds
    not needed are counted as skipped when the members settle early.
    """
    interleaving = Interleaving(session, members, describe, measure, stop_at_first_failure)
    for index in range(rounds.maximum):
        if interleaving.stopped:
            return interleaving
        interleaving.run_round(index)
        if index + 1 >= rounds.minimum and all(
            settled(runs) for _member, runs in interleaving.measured()
        ):
            break
    left = rounds.maximum - interleaving.rounds_done
    session.skip(left * len(members), f"settled after {interleaving.rounds_done} rounds")
    return interleaving
