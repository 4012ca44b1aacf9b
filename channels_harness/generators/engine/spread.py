"""Load spread over several targets: one generator process per part, all
starting together, as :func:`~.driver.run_load` does for one target.

The scaling benchmark uses it to put a share of the connections on each of
several server processes listening on their own ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from channels_harness.generators.engine.driver import LoadResult, run_parts
from channels_harness.generators.engine.result import LoadConfig


def spread(config: LoadConfig, urls: Sequence[str], processes: int) -> list[LoadConfig]:
    """``processes`` configs sharing ``config``'s connections (and rate); process ``i``
    loads ``urls[i % len(urls)]``."""
    if not urls:
        raise ValueError("spread needs at least one URL")
    processes = max(1, min(processes, config.connections))
    base, extra = divmod(config.connections, processes)
    rate = config.rate / processes if config.rate else None
    counts = [base + (i < extra) for i in range(processes)]
    return [
        replace(
            config,
            url=urls[i % len(urls)],
            connections=count,
            rate=rate,
            first_conn=config.first_conn + sum(counts[:i]),
        )
        for i, count in enumerate(counts)
    ]


def run_spread(
    configs: Sequence[LoadConfig], cpus: Sequence[int] | frozenset[int] | None = None
) -> LoadResult:
    """Run each config in its own generator process pinned round-robin to ``cpus``
    (unpinned when None), started together; return the merged result.

    Raises :class:`~channels_harness.errors.GeneratorError` when a process dies or
    overruns.
    """
    results, cores = run_parts(configs, cpus)
    total = replace(configs[0], connections=sum(c.connections for c in configs))
    return LoadResult(total, results, cores or None)
