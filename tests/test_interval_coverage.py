"""The intervals the benchmark publishes cover what they claim to, on synthetic runs.

Runs with a known median, drawn from noise of several shapes (symmetric,
lopsided the way a shared machine is: a neighbour only ever slows a run down,
a second mode when a neighbour is busy, heavy tails), go through the real
adaptive procedure (:func:`~channels_harness.experiments.bench.interleave.repeat_until_settled`,
which stops a cell once its interval is narrow) and the real row and report code
(:func:`~channels_harness.experiments.bench.throughput.throughput_row`, then the
interval the report shows). For every round budget the presets use, a published
95% CI covers the true median at least 93% of the time (95% nominal, minus
room for a few thousand trials), and where a budget cannot give a CI the
interval is published as a range, with the coverage the order statistics give
it. The same holds for the paired ratio of two cells measured in the same rounds.
"""

from __future__ import annotations

import copy
import math
import random
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

from channels_harness.experiments.bench.interleave import repeat_until_settled
from channels_harness.experiments.bench.plan import (
    MATRICES,
    Cell,
    Rounds,
    make_plan,
)
from channels_harness.experiments.bench.session import BenchSession
from channels_harness.experiments.bench.throughput import throughput_row
from channels_harness.generators.engine import LoadConfig, LoadResult
from channels_harness.generators.engine.result import WorkerResult
from channels_harness.report import intervals, summary
from channels_harness.report.model import Run
from channels_harness.runtime import confidence

TRIALS = 1000
NEEDED = 0.93
MEDIAN = 1000.0

# One generator of a run's noise factor per shape, and the factor's true median.
Shape = tuple[Callable[[random.Random], float], float]
_NEIGHBOUR_MEDIAN = 1.0 + 0.01 * statistics.NormalDist().inv_cdf(1 / 3)
SHAPES: dict[str, Shape] = {
    "normal": (lambda rng: 1.0 + 0.03 * rng.gauss(0, 1), 1.0),
    "slowdowns": (lambda rng: 1.0 - rng.expovariate(1 / 0.03), 1.0 - 0.03 * math.log(2)),
    "lognormal": (lambda rng: math.exp(0.04 * rng.gauss(0, 1)), 1.0),
    "busy neighbour": (
        lambda rng: (0.7 if rng.random() < 0.25 else 1.0) + 0.01 * rng.gauss(0, 1),
        # 3/4 of the runs near 1.0 and 1/4 near 0.7: the median is the 1/3 quantile
        # of the upper mode
        _NEIGHBOUR_MEDIAN,
    ),
    "heavy tails": (
        lambda rng: 1.0 + 0.02 * rng.gauss(0, 1) / math.sqrt(-math.log(1.0 - rng.random())),
        1.0,
    ),
}

_TEMPLATE = LoadResult(LoadConfig(url="ws://127.0.0.1:9/"), workers=[])


def _result(rate: float) -> LoadResult:
    """A one-process closed-loop result of ``rate`` messages per second (a copy of an
    empty result, so thousands of trials do not each allocate a histogram)."""
    result = copy.copy(_TEMPLATE)
    result.workers = [
        WorkerResult(mode="closed", connections=50, measured=round(rate * 100), window_s=100.0)
    ]
    return result


def _plan_rounds() -> list[Rounds]:
    """Every distinct round budget of the presets: headline cells, sweeps, handshakes."""
    found: dict[tuple[int, int], Rounds] = {}
    for matrix in MATRICES:
        plan = make_plan(matrix, ("daphne", "uvicorn"))
        sweep = plan.rounds_for(Cell("daphne", "sync", 1000, "32B-text"))
        for rounds in (plan.rounds, sweep, plan.handshake_rounds):
            found.setdefault((rounds.minimum, rounds.maximum), rounds)
    return list(found.values())


@pytest.fixture
def session(tmp_path: Path) -> BenchSession:
    plan = make_plan("quick", ("uvicorn",), ("sync", "async"))
    return BenchSession(Run.create(tmp_path, kind="bench"), plan, 0)


def _settles(session: BenchSession) -> Callable[[list[LoadResult]], bool]:
    target = session.plan.target_ci_pct
    return lambda runs: confidence.settled([r.rate for r in runs], target)


CELL = Cell("uvicorn", "async", 50, "32B-text")


def test_the_presets_round_budgets_are_the_ones_checked_here() -> None:
    assert {(r.minimum, r.maximum) for r in _plan_rounds()} == {(6, 6), (3, 3), (3, 5), (6, 10)}


@pytest.mark.parametrize("rounds", _plan_rounds(), ids=lambda r: f"{r.minimum}-{r.maximum}")
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_published_interval_covers_the_true_median(
    session: BenchSession, rounds: Rounds, shape: str
) -> None:
    noise, factor_median = SHAPES[shape]
    rng = random.Random(f"{shape} {rounds}")
    truth = MEDIAN * factor_median
    covered = {True: 0, False: 0}
    published = {True: 0, False: 0}
    for _ in range(TRIALS):
        done = repeat_until_settled(
            session,
            [CELL],
            rounds,
            lambda cell, index: "",
            lambda cell: _result(MEDIAN * noise(rng)),
            _settles(session),
        )
        ((cell, results),) = done.measured()
        row = throughput_row(session, cell, results)
        interval = intervals.throughput(row)
        assert interval is not None
        assert (row.ci95 is not None) == interval.is_ci  # stored only when a CI
        assert intervals.text(interval).startswith(interval.kind)
        published[interval.is_ci] += 1
        covered[interval.is_ci] += interval.contains(truth)
    if rounds.maximum < confidence.MIN_CI_RUNS:
        # too few runs for a CI: always a range, covering as the order statistics say
        assert published[True] == 0
        expected = confidence.coverage(rounds.minimum, 1)
        assert covered[False] / TRIALS >= expected - 0.05
    else:
        assert published[False] == 0
        assert covered[True] / TRIALS >= NEEDED, covered[True] / TRIALS


@pytest.mark.parametrize("rounds", [Rounds(6, 6), Rounds(6, 10)], ids=["6-6", "6-10"])
@pytest.mark.parametrize("shape", ["slowdowns", "busy neighbour"])
def test_a_published_paired_ratio_covers_the_true_ratio(
    session: BenchSession, rounds: Rounds, shape: str
) -> None:
    # each round the machine's load (of this shape) hits both cells; each run has
    # its own small noise too, so the per-round ratio's median is exactly 2
    load, _ = SHAPES[shape]
    rng = random.Random(f"paired {shape} {rounds}")
    sync, asynchronous = Cell("uvicorn", "sync", 50, "32B-text"), CELL
    base = {sync: 1000.0, asynchronous: 2000.0}
    covered = 0
    factor = {"load": 1.0}

    def measure(cell: Cell) -> LoadResult:
        if cell is sync:  # the round's load, drawn at its first run
            factor["load"] = load(rng)
        jitter = math.exp(0.02 * rng.gauss(0, 1))
        return _result(base[cell] * factor["load"] * jitter)

    for _ in range(TRIALS):
        done = repeat_until_settled(
            session, [sync, asynchronous], rounds, lambda c, i: "", measure, _settles(session)
        )
        rows = [throughput_row(session, cell, runs) for cell, runs in done.measured()]
        for row in rows:
            row.series = "throughput c=50 32B-text"
        found = summary.ratio("", rows[1], rows[0], "flavour")
        assert found is not None and found.paired and found.is_ci
        covered += found.low <= 2.0 <= found.high
    assert covered / TRIALS >= NEEDED, covered / TRIALS
