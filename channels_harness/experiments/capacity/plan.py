"""What a capacity run measures, and how hard it may push.

:class:`CapacityPlan` holds every knob of the climb (paced, level by level),
of the burst acceptance and of the look at the limit. :data:`QUICK` is the
small CI-sized run; the defaults are the full one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channels_harness.runtime.loopback import LOOPBACK

if TYPE_CHECKING:
    from channels_harness.experiments.target import Target
    from channels_harness.protocol.traffic import Traffic

# Descriptors a process needs beyond its connections (interpreter, logs, Redis).
FD_MARGIN = 1024
# Connections per loopback source address: well inside one address's
# ephemeral ports, where connect() still finds a free one at once.
PER_SOURCE_SHARE = 0.7


@dataclass(frozen=True)
class CapacityPlan:
    """Which servers, how far, how fast, and the bounds of every wait."""

    servers: Sequence[str] = ("daphne", "uvicorn", "hypercorn", "granian")
    flavour: str = "async"
    # "redis": the layer a deployment runs; "memory" costs O(connections) per
    # connect (channels' InMemoryChannelLayer scans every channel in receive()).
    layer: str = "redis"
    redis_url: str | None = None
    max_connections: int = 50_000
    step: int | None = None
    # Pacing of the climb (connections per second, handshakes at once).
    start_rate: float = 100.0
    min_rate: float = 5.0
    max_rate: float = 2000.0
    max_inflight: int = 64
    target_latency_s: float = 0.25
    connect_timeout_s: float = 10.0
    # Failed handshakes that end the climb: this many in a row, or this many
    # making a tenth of a level's attempts.
    fail_limit: int = 20
    # A level opened slower than this (connections per second) ends the climb.
    min_accept_rate: float = 10.0
    # Seconds of climbing per server at most.
    budget_s: float = 900.0
    # Server RSS that ends the climb; None: 70 % of the memory available at the start.
    memory_budget_bytes: int | None = None
    # Seconds between the end of a level's opening and its measurements (the
    # server's CPU over them is its cost of holding the connections idle).
    settle_s: float = 2.0
    canaries: int = 4
    canary_messages: int = 25
    canary_timeout_s: float = 5.0
    ping_timeout_s: float = 10.0
    # Burst acceptance: connections started at once, on a fresh server each.
    bursts: Sequence[int] = (100, 1000, 5000)
    burst_timeout_s: float = 30.0
    # At the limit: fresh connection attempts, and the wait for recovery.
    probe_connections: int = 20
    recovery_wait_s: float = 30.0
    # Listen backlog for every server (None: each server's own default).
    backlog: int | None = None
    # Worker processes of every server (one socket; see ServerSpec.with_workers).
    workers: int = 1
    # Capacity generator processes (None: as many as the open-file limit needs).
    generator_processes: int | None = None
    sources: int | None = None
    host: str = LOOPBACK
    allow_remote: bool = False
    # The user's app (--app): its path, handshake and messages instead of the
    # reference app's echo; None for the reference app.
    target: Target | None = None

    @property
    def own(self) -> bool:
        """Whether the climb is for the user's app (``--app``)."""
        return self.target is not None and self.target.own

    @property
    def ws_path(self) -> str:
        """The path every connection opens (``{conn}`` left for the generator)."""
        if self.target is not None and self.own:
            return self.target.path or "/"
        return f"ws/echo/{self.flavour}/"

    @property
    def cell(self) -> str:
        """What rows name in their ``flavour`` column: the flavour, or the app's path."""
        return self.target.label if self.target is not None and self.own else self.flavour

    @property
    def traffic(self) -> Traffic | None:
        """The user's handshake and messages (None: the reference app's echo)."""
        return self.target.traffic if self.target is not None and self.own else None

    @property
    def level_step(self) -> int:
        """Connections between two levels (a twentieth of the maximum by default)."""
        return self.step or max(1, math.ceil(self.max_connections / 20))

    def levels(self) -> list[int]:
        """The connection counts where the climb stops to measure, up to the maximum."""
        step = self.level_step
        levels = list(range(step, self.max_connections, step))
        return [*levels, self.max_connections]

    def descriptors(self) -> int:
        """Open files the server and the generator each need for this plan."""
        return self.max_connections + max(self.bursts, default=0) + FD_MARGIN

    def source_count(self, ports_per_address: int) -> int:
        """Loopback source addresses the held connections and bursts need (0: only
        the default address, when the target is not IPv4 loopback)."""
        if self.sources is not None:
            return self.sources
        if not self.host.startswith("127."):
            return 0
        per_source = max(1, int(ports_per_address * PER_SOURCE_SHARE))
        wanted = self.max_connections + max(self.bursts, default=0)
        return max(1, math.ceil(wanted / per_source))


QUICK = CapacityPlan(
    servers=("daphne", "uvicorn"),
    max_connections=2000,
    step=500,
    bursts=(100, 500),
    budget_s=120.0,
)


def with_options(plan: CapacityPlan, **changes: Any) -> CapacityPlan:
    """``plan`` with the options that are not None replaced."""
    return dataclasses.replace(plan, **{k: v for k, v in changes.items() if v is not None})
