"""Repeated runs of several members measured side by side, interleaved.

The machine is shared and its load drifts, so figures that are compared (the
flavours of one throughput cell, the layers of the breakdown, the two sides of
the headroom ratio) are measured in rounds: run 1 of every member, then run 2
of every member, and so on. A change in the machine's load then hits every
member alike and their ratios stay fair.

:class:`Interleaving` keeps the runs so far and measures one round at a time;
:func:`interleave` runs a fixed number of rounds, :func:`repeat_until_settled`
at least a minimum and then more, up to a budget, until every member's runs
have settled (their interval is narrow enough).

A round in which the machine was too busy for a fair figure (a run's CPU steal
or other processes' load on the pinned cores over
:func:`~channels_harness.runtime.noise.Noise.too_noisy`'s bounds) is dropped
whole, so every member keeps the same rounds, and measured again, at most
``rounds.redo`` times per measurement; each member counts the runs it lost
(:attr:`Interleaving.dropped`), and its row says so. Once the redo budget is
spent, noisy rounds are kept (and their cells marked noisy).
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
    ``too_noisy(result)``, when given, says whether a run's window was too busy
    for a fair figure (see the module doc).
    """

    session: BenchSession
    members: Sequence[M]
    describe: Callable[[M, int], str]
    measure: Callable[[M], LoadResult]
    # True: the first failure ends the measurement (every member is needed).
    stop_at_first_failure: bool = False
    too_noisy: Callable[[LoadResult], bool] | None = None
    redo: int = 0
    results: list[list[LoadResult]] = field(init=False)
    dropped: list[int] = field(init=False)
    failed: set[int] = field(init=False, default_factory=set)
    stopped: bool = field(init=False, default=False)
    rounds_done: int = field(init=False, default=0)
    rounds_dropped: int = field(init=False, default=0)
    steps: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.results = [[] for _ in self.members]
        self.dropped = [0 for _ in self.members]

    def run_round(self, index: int) -> bool:
        """Run ``index`` of every member in order, each one progress step; whether
        the round was kept (False: dropped as too noisy, or the measurement stopped).

        A member that failed in an earlier round is skipped (its step still
        counts, so the progress total holds); with :attr:`stop_at_first_failure`
        a failure stops the round and marks the whole measurement stopped.
        """
        runs: dict[int, LoadResult] = {}
        for position, member in enumerate(self.members):
            self.steps += 1
            with self.session.step(self.describe(member, index)):
                if position in self.failed:
                    continue
                try:
                    runs[position] = self.measure(member)
                except CellFailed:
                    self.failed.add(position)
                    if self.stop_at_first_failure:
                        self.stopped = True
                        self._keep(runs)
                        return False
        if self._drops(runs):
            for position in runs:
                self.dropped[position] += 1
            self.rounds_dropped += 1
            return False
        self._keep(runs)
        self.rounds_done += 1
        return True

    def _keep(self, runs: dict[int, LoadResult]) -> None:
        for position, result in runs.items():
            self.results[position].append(result)

    def _drops(self, runs: dict[int, LoadResult]) -> bool:
        """Whether a round of ``runs`` is dropped: a run was too noisy and the redo
        budget is not spent."""
        if self.too_noisy is None or self.rounds_dropped >= self.redo:
            return False
        return any(self.too_noisy(result) for result in runs.values())

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


def _close(session: BenchSession, interleaving: Interleaving[M], rounds: Rounds) -> None:
    """Count the planned steps that will not run, saying why the rounds ended."""
    left = (rounds.maximum + rounds.redo) * len(interleaving.members) - interleaving.steps
    measured = interleaving.measured()
    done = interleaving.rounds_done
    if interleaving.stopped or not measured:
        why = f"stopped after {done} round(s): a member failed"
        if not measured:
            why = f"every member failed; {done} round(s) measured"
    elif done < rounds.maximum:
        why = f"settled after {done} rounds"
    else:
        why = f"{done} rounds measured"
    if interleaving.rounds_dropped:
        why += f", {interleaving.rounds_dropped} too noisy dropped and redone"
    session.skip(left, why)


def repeat_until_settled(
    session: BenchSession,
    members: Sequence[M],
    rounds: Rounds,
    describe: Callable[[M, int], str],
    measure: Callable[[M], LoadResult],
    settled: Callable[[list[LoadResult]], bool],
    *,
    stop_at_first_failure: bool = False,
    too_noisy: Callable[[LoadResult], bool] | None = None,
) -> Interleaving[M]:
    """Measure interleaved rounds of ``members``: at least ``rounds.minimum``, then
    one more at a time, up to ``rounds.maximum``, until ``settled(runs)`` holds for
    the runs of every member still measured (a failed member drops out; when
    every member failed, the measurement ends). A round ``too_noisy`` condemns is
    measured again, up to ``rounds.redo`` times (see the module doc).

    The progress total counts ``rounds.maximum + rounds.redo`` rounds; the steps
    of rounds not needed are counted as skipped at the end.
    """
    interleaving = Interleaving(
        session, members, describe, measure, stop_at_first_failure, too_noisy, rounds.redo
    )
    while interleaving.rounds_done < rounds.maximum and not interleaving.stopped:
        if not interleaving.run_round(interleaving.rounds_done):
            continue
        measured = interleaving.measured()
        if not measured:
            break
        if interleaving.rounds_done >= rounds.minimum and all(
            settled(runs) for _member, runs in measured
        ):
            break
    _close(session, interleaving, rounds)
    return interleaving
