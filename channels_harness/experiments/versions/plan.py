"""What a ``versions`` run measures in each stack's environment, and how."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from channels_harness.experiments.versions.matrix import Stack

DEFAULT_SERVERS = ("daphne", "uvicorn")


# Stacks are measured apart, so a ratio of two stacks is unpaired: its 95% CI divides
# the two medians' 97.5% intervals, which takes 7 runs a side (runtime.confidence).
UNPAIRED_CI_RUNS = 7


@dataclass(frozen=True)
class VersionsPlan:
    """The stacks (the first is the one the others are compared with), the servers and
    flavours measured in each, and where the environments are built and cached.

    In each stack: the conformance suite on ``servers`` x ``flavours`` (every flavour
    when None), then the bench's quick matrix (Sync vs Async and the other flavours at
    the headline cell, plus its handshake, latency and layer cells), with ``runs``
    runs per cell (7, the fewest that give the ratio of two stacks' medians a 95%
    CI, measured apart as they are; 1 with ``quick``), then the cost per message counted under
    valgrind (``bench --cost --quick``: deterministic, so a stack's change shows
    whatever the machine's noise).
    """

    stacks: tuple[Stack, ...]
    cache: Path
    servers: tuple[str, ...] = DEFAULT_SERVERS
    flavours: tuple[str, ...] | None = None
    quick: bool = False
    runs: int | None = None
    workers: int = 2
    installer: str = "auto"
    combine: str = "product"

    @property
    def bench_runs(self) -> int:
        if self.runs is not None:
            return self.runs
        return 1 if self.quick else UNPAIRED_CI_RUNS

    def conformance_args(self, results: Path) -> list[str]:
        """The ``channels-harness conformance`` arguments for one stack."""
        args = ["--servers", ",".join(self.servers), "--workers", str(self.workers)]
        if self.flavours:
            args += ["--flavours", ",".join(self.flavours)]
        return [*args, "--results", str(results)]

    def bench_args(self, results: Path) -> list[str]:
        """The ``channels-harness bench`` arguments for one stack."""
        args = ["--quick", "--servers", ",".join(self.servers), "--runs", str(self.bench_runs)]
        if self.flavours:
            args += ["--flavours", ",".join(self.flavours)]
        return [*args, "--results", str(results)]

    def cost_args(self, results: Path) -> list[str]:
        """The ``channels-harness bench --cost`` arguments for one stack: the quick
        cost plan (sync and async, 100 and 200 counted messages) on the servers."""
        args = ["--cost", "--quick", "--servers", ",".join(self.servers)]
        if self.flavours:
            args += ["--flavours", ",".join(self.flavours)]
        return [*args, "--results", str(results)]

    def describe(self) -> dict[str, Any]:
        """For ``run.data["options"]``."""
        return {
            "stacks": [[pin.requirement for pin in stack.pins] for stack in self.stacks],
            "combine": self.combine,
            "servers": list(self.servers),
            "flavours": list(self.flavours) if self.flavours else None,
            "quick": self.quick,
            "bench_runs": self.bench_runs,
            "conformance_workers": self.workers,
        }
