"""The fan-out and scaling steps of the benchmark matrix, sized per preset.

``quick`` has neither (it must stay under 2 minutes); ``standard`` measures a
small fan-out (in-memory and Redis, async, one run per size) and the scaling
of the async echo with the servers pinned to one core; ``full`` runs both as
their commands do by default (every layer, sync and async, both pinnings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from channels_harness.experiments.fanout import FanoutPlan, run_fanout
from channels_harness.experiments.scaling import ScalingPlan, run_scaling
from channels_harness.report.model import Run
from channels_harness.servers.registry import FOCUS_SERVERS


def plans(matrix: str, servers: Sequence[str]) -> tuple[FanoutPlan | None, ScalingPlan | None]:
    """The fan-out and scaling plans of ``matrix`` for the chosen servers (None: no step)."""
    chosen = tuple(name for name in FOCUS_SERVERS if name in servers) or tuple(servers[:1])
    if matrix == "standard":
        return (
            FanoutPlan(layers=("memory", "redis"), servers=chosen, flavours=("async",), runs=1),
            ScalingPlan(servers=chosen, flavours=("async",), pinnings=("server core",), runs=1),
        )
    if matrix == "full":
        return FanoutPlan(servers=chosen), ScalingPlan(servers=tuple(servers))
    return None, None


def run_extra_steps(
    run: Run, matrix: str, servers: Sequence[str], say: Callable[[str], None]
) -> None:
    """Measure the fan-out and scaling steps of ``matrix`` into ``run``."""
    fanout, scaling = plans(matrix, servers)
    if fanout is not None:
        run_fanout(run, fanout, say)
    if scaling is not None:
        run_scaling(run, scaling, say)
