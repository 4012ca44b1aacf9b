"""The generator-bound rule: when the load generator, not the server, set a cell's
figure (its busiest process near a full core, used or waited for; all its
processes near all their cores; an open loop short of its target rate).

Each rule is tried with inputs that make it true and inputs that make it false,
on :func:`channels_harness.runtime.cpu.generator_bound` and on the merged
measurement of several generator processes (:class:`LoadResult`).
"""

from __future__ import annotations

import pytest

from channels_harness.generators.engine.driver import LoadResult
from channels_harness.generators.engine.result import LoadConfig, WorkerResult
from channels_harness.runtime import cpu


@pytest.mark.parametrize(
    ("share", "achieved", "target", "bound"),
    [
        (0.50, None, None, False),
        (cpu.SATURATED_CPU, None, None, True),
        (0.89, None, None, False),
        (1.20, None, None, True),
        (0.30, 900.0, 1000.0, True),
        (0.30, 950.0, 1000.0, False),
        (0.30, 949.9, 1000.0, True),
        (0.30, 10.0, None, False),
        (0.30, 10.0, 0.0, False),
        (0.95, 1000.0, 1000.0, True),
    ],
    ids=[
        "half-a-core",
        "at-saturation",
        "just-under-saturation",
        "over-a-core",
        "open-loop-10-percent-short",
        "open-loop-at-95-percent",
        "open-loop-just-under-95-percent",
        "no-target",
        "zero-target",
        "saturated-on-target",
    ],
)
def test_generator_bound_by_cpu_share_or_rate(
    share: float, achieved: float | None, target: float | None, bound: bool
) -> None:
    assert cpu.generator_bound(share, achieved, target) is bound


def result(
    mode: str, workers: list[dict[str, float]], cores: list[int] | None = None
) -> LoadResult:
    """A merged measurement of ``workers`` (their cpu, cpu_wait and rates) in ``mode``."""
    config = LoadConfig(url="ws://127.0.0.1:9/", mode=mode, rate=1000.0 if mode == "open" else None)
    return LoadResult(
        config,
        [WorkerResult(mode=mode, connections=10, **fields) for fields in workers],
        generator_cpus=cores,
    )


@pytest.mark.parametrize(
    ("mode", "workers", "cores", "bound"),
    [
        ("closed", [{"cpu": 0.5, "cpu_wait": 0.1}], [1], False),
        ("closed", [{"cpu": 0.95}], [1], True),
        ("closed", [{"cpu": 0.5, "cpu_wait": 0.45}], [1], True),
        ("closed", [{"cpu": 0.5}, {"cpu": 0.5}], [1], True),
        ("closed", [{"cpu": 0.5}, {"cpu": 0.5}], [0, 1], False),
        ("closed", [{"cpu": 0.61}, {"cpu": 0.61}, {"cpu": 0.61}], [0, 1], True),
        ("closed", [{"cpu": 0.5}, {"cpu": 0.5}, {"cpu": 0.5}], [0, 1], False),
        ("closed", [{"cpu": 0.3, "target_rate": 1000.0, "achieved_rate": 10.0}], [1], False),
        ("open", [{"cpu": 0.3, "target_rate": 1000.0, "achieved_rate": 900.0}], [1], True),
        ("open", [{"cpu": 0.3, "target_rate": 1000.0, "achieved_rate": 990.0}], [1], False),
        (
            "open",
            [
                {"cpu": 0.3, "target_rate": 500.0, "achieved_rate": 500.0},
                {"cpu": 0.3, "target_rate": 500.0, "achieved_rate": 400.0},
            ],
            [0, 1],
            True,
        ),
    ],
    ids=[
        "closed-half-a-core",
        "closed-saturated",
        "closed-waiting-for-a-shared-core",
        "two-processes-filling-one-core",
        "two-processes-on-two-cores",
        "three-processes-filling-two-cores",
        "three-processes-within-two-cores",
        "closed-loop-ignores-rates",
        "open-loop-short-of-its-rate",
        "open-loop-on-its-rate",
        "open-loop-short-in-total",
    ],
)
def test_a_merged_load_is_generator_bound_by_its_processes(
    mode: str, workers: list[dict[str, float]], cores: list[int], bound: bool
) -> None:
    merged = result(mode, workers, cores)
    assert merged.generator_bound is bound
    assert merged.describe()["generator_bound"] is bound
