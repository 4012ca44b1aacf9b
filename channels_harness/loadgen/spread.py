"""Load spread over several targets: one generator process per part, all
starting together, as :func:`~.driver.run_load` does for one target.

The scaling benchmark uses it to put a share of the connections on each of
several server processes listening on their own ports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace

from ..timeouts import scaled
from .driver import STARTUP_S, LoadResult, _Worker
from .result import LoadConfig, WorkerResult
from .worker import GO, READY, RESULT


def spread(config: LoadConfig, urls: Sequence[str], processes: int) -> list[LoadConfig]:
    """``processes`` configs sharing ``config``'s connections (and rate); process ``i``
    loads ``urls[i % len(urls)]``."""
    if not urls:
        raise ValueError("spread needs at least one URL")
    processes = max(1, min(processes, config.connections))
    base, extra = divmod(config.connections, processes)
    rate = config.rate / processes if config.rate else None
    return [
        replace(config, url=urls[i % len(urls)], connections=base + (i < extra), rate=rate)
        for i in range(processes)
    ]


def run_spread(
    configs: Sequence[LoadConfig], cpus: Sequence[int] | frozenset[int] | None = None
) -> LoadResult:
    """Run each config in its own generator process pinned round-robin to ``cpus``
    (unpinned when None), started together; return the merged result.

    Raises :class:`~.driver.GeneratorError` when a process dies or overruns.
    """
    cores = sorted(cpus) if cpus else []
    workers: list[_Worker] = []
    longest = max(configs, key=lambda c: c.warmup_s + c.duration_s + 2 * c.drain_s)
    try:
        for i, part in enumerate(configs):
            workers.append(_Worker(part, cores[i % len(cores)] if cores else None))
        deadline = time.monotonic() + scaled(STARTUP_S + longest.connect_timeout_s)
        for worker in workers:
            worker.expect(READY, deadline)
        for worker in workers:
            worker.send(GO)
        run_s = longest.warmup_s + longest.duration_s + 2 * longest.drain_s
        deadline = time.monotonic() + scaled(run_s + longest.connect_timeout_s + 10.0)
        results = [
            WorkerResult.from_json(json.loads(worker.expect(RESULT, deadline)))
            for worker in workers
        ]
    finally:
        for worker in workers:
            worker.kill()
    total = replace(configs[0], connections=sum(c.connections for c in configs))
    return LoadResult(total, results, cores or None)
