"""Which cores the server and the load generator get.

On a machine with two or more usable cores the server gets one set and the
generator the rest, so they do not steal each other's CPU; on one core they
share it, and results say so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Pinning:
    server: frozenset[int] | None
    generator: frozenset[int] | None

    @property
    def pinned(self) -> bool:
        return self.server is not None and self.generator is not None

    def describe(self) -> dict[str, object]:
        """For results: the cores of each side, or why nothing was pinned."""
        if not self.pinned:
            return {"pinned": False, "why": "fewer than 2 usable cores: server and generator share"}
        return {
            "pinned": True,
            "server_cpus": sorted(self.server or ()),
            "generator_cpus": sorted(self.generator or ()),
        }


def choose(server_cores: int = 1) -> Pinning:
    """Give the server the first ``server_cores`` usable cores and the generator the rest."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return Pinning(server=None, generator=None)
    server_cores = max(1, min(server_cores, len(cores) - 1))
    return Pinning(
        server=frozenset(cores[:server_cores]), generator=frozenset(cores[server_cores:])
    )


def pin_self(cpus: frozenset[int] | None) -> None:
    """Pin the calling process (and what it starts later) to ``cpus``."""
    if cpus:
        os.sched_setaffinity(0, cpus)
