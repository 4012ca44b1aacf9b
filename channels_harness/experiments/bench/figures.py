"""What a cell's runs add up to, beyond its rate.

For every run the engine watched the server's processes and the machine over
exactly the measured window (see
:class:`~channels_harness.generators.engine.meter.WindowMeter`): from that come
the server's CPU time per message (or handshake) and the run's noise
evidence. :class:`Figures` gathers, for one cell, the median rate and its 95%
confidence interval (:mod:`channels_harness.runtime.confidence`), whether the
interval settled, the server's CPU per message and the worst noise of its runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from channels_harness.experiments.bench.session import BenchSession
from channels_harness.generators.engine import LoadResult
from channels_harness.runtime import confidence, noise, pinning, stats


def server_cpu_us(result: LoadResult) -> float | None:
    """The server's CPU microseconds per message (or handshake) of one run
    (None when the server was not watched or nothing completed)."""
    first = result.workers[0] if result.workers else None
    if first is None or first.server_cpu_s is None or first.window_s <= 0 or result.rate <= 0:
        return None
    return first.server_cpu_s / first.window_s / result.rate * 1e6


def run_noise(pins: pinning.Pinning, result: LoadResult) -> noise.Noise | None:
    """The noise evidence of one run's window, the server and the generator pinned
    as ``pins`` say (None when it was not recorded)."""
    first = result.workers[0] if result.workers else None
    if first is None or first.noise is None or first.server_cpu_s is None:
        return None
    generator_cpu_s = sum(w.cpu * w.window_s for w in result.workers)
    return noise.evidence(
        noise.Window.from_json(first.noise),
        pins.server,
        pins.generator,
        first.server_cpu_s,
        generator_cpu_s,
    )


def settled(results: Sequence[LoadResult], target_pct: float) -> bool:
    """Whether the rates of ``results`` give a median interval within ``target_pct``."""
    return confidence.settled([r.rate for r in results], target_pct)


def too_noisy(session: BenchSession, result: LoadResult) -> bool:
    """Whether the machine was too busy during ``result``'s window to keep it
    (:meth:`~channels_harness.runtime.noise.Noise.too_noisy`; False when not recorded)."""
    found = run_noise(session.pins, result)
    return found is not None and found.too_noisy()


@dataclass(frozen=True)
class Figures:
    """One cell's figures from its runs."""

    rate: float
    rates: list[float]
    ci95: list[float] | None
    unstable: bool
    server_cpu_us: float | None
    server_cpu_us_runs: list[float]
    noise: dict[str, Any] | None

    @classmethod
    def of(cls, session: BenchSession, results: Sequence[LoadResult]) -> Figures:
        """The figures of ``results`` of a benchmark session (see :meth:`measure`)."""
        return cls.measure(results, session.pins, session.plan.target_ci_pct)

    @classmethod
    def measure(
        cls, results: Sequence[LoadResult], pins: pinning.Pinning, target_pct: float
    ) -> Figures:
        """The figures of ``results`` measured with ``pins``: ``ci95`` only where
        the runs give a 95% confidence interval (from
        :data:`~channels_harness.runtime.confidence.MIN_CI_RUNS` runs; fewer give
        a range, which the runs themselves show); unstable when there are at
        least two runs and the interval (or range) reaches further than
        ``target_pct`` from the median."""
        rates = [r.rate for r in results]
        interval = confidence.median_interval(rates)
        unstable = interval is not None and interval.half_width_pct > target_pct
        cpu = [us for us in (server_cpu_us(r) for r in results) if us is not None]
        noises = [n for n in (run_noise(pins, r) for r in results) if n is not None]
        worst = noise.worst(noises)
        return cls(
            rate=round(stats.median(rates), 1),
            rates=[round(rate, 1) for rate in rates],
            ci95=interval.as_list() if interval is not None and interval.is_ci else None,
            unstable=unstable,
            server_cpu_us=round(stats.median(cpu), 1) if cpu else None,
            server_cpu_us_runs=[round(us, 1) for us in cpu],
            noise=worst.to_json() if worst is not None else None,
        )
