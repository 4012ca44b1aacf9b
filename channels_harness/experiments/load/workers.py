"""The locust workers of a distributed cell: where they come from, what each did,
and why a cell without all of them fails.

:class:`RemoteWorkers` is ``load --master-bind ADDR[:PORT] --expect-workers N``:
the master binds that address instead of loopback and waits (bounded) for N
workers started elsewhere with ``channels-harness worker``. Whatever their
origin, the master records what each worker did
(:mod:`channels_harness.generators.locust_workers`); :func:`figures` turns that
record into one :class:`~channels_harness.report.rows.WorkerFigures` per worker,
:func:`lost` says which workers the cell lost, and :func:`missing` reads the
master's log when too few joined.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from channels_harness.errors import UsageError, WorkersMissingError
from channels_harness.experiments.load.locuststats import steady_rate
from channels_harness.report.rows import WorkerFigures
from channels_harness.runtime.cpu import generator_bound

# locust's default master port, the one `channels-harness worker --master HOST` assumes.
DEFAULT_MASTER_PORT = 5557
# How long a master waits for its workers, by default.
DEFAULT_WAIT_S = 60.0
# locust's master log: one line per worker that joins, and its line when it gives up.
_JOINED = re.compile(r"\(index (\d+)\) reported as ready")
_GAVE_UP = "Gave up waiting for workers to connect"


@dataclass(frozen=True)
class RemoteWorkers:
    """Workers on other hosts: the master binds ``host``:``port`` and waits up to
    ``wait_s`` seconds for ``expect`` of them; the servers the harness starts listen
    on ``server_bind`` (None: loopback, for a ``--url`` target or workers on this host)."""

    host: str
    port: int = DEFAULT_MASTER_PORT
    expect: int = 1
    wait_s: float = DEFAULT_WAIT_S
    server_bind: str | None = None

    @property
    def wait_whole_s(self) -> int:
        """``wait_s`` in whole seconds, as locust takes it (at least 1: 0 is forever)."""
        return max(1, math.ceil(self.wait_s))

    @property
    def address(self) -> str:
        """``host:port`` (an IPv6 host in brackets), as ``worker --master`` takes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def split_address(
    text: str, option: str, default_port: int = DEFAULT_MASTER_PORT
) -> tuple[str, int]:
    """``HOST[:PORT]`` (IPv6 in brackets: ``[::1]:5557``) -> ``(host, port)``;
    UsageError naming ``option`` otherwise."""
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?", text.strip())
    if not match:
        raise UsageError(f"{option} {text!r}: expected HOST or HOST:PORT (IPv6: [ADDR]:PORT)")
    host = match.group(1) or match.group(3)
    port_text = match.group(2) or match.group(4)
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise UsageError(f"{option} {text!r}: port {port} is not between 1 and 65535")
    return host, port


def missing(log: str, expect: int, where: str, wait_s: float) -> WorkersMissingError | None:
    """The error for a master that gave up waiting for its ``expect`` workers (its
    ``log`` says so), naming how many joined; None when it did not give up."""
    if _GAVE_UP not in log:
        return None
    joined = len(set(_JOINED.findall(log)))
    return WorkersMissingError(
        f"only {joined} of {expect} locust workers joined the master at {where} within "
        f"{wait_s:g} s: start `channels-harness worker --master {where}` on each load "
        "host, and let it reach that port"
    )


def figures(
    report: dict[str, Any], window: tuple[float, float] | None, request_type: str
) -> list[WorkerFigures]:
    """One :class:`WorkerFigures` per worker of the master's ``report`` (its
    ``workers`` list), CPU over the steady ``window`` (wall-clock seconds; None: not
    measured), the rate that of ``request_type``."""
    return [_figures(worker, window, request_type) for worker in report.get("workers", [])]


def _figures(
    worker: dict[str, Any], window: tuple[float, float] | None, request_type: str
) -> WorkerFigures:
    types = worker.get("types", {})
    tally = types.get(request_type)
    rate = None
    if tally is not None and tally["requests"]:
        entry = {"num_reqs_per_sec": tally["per_second"], "num_requests": tally["requests"]}
        rate = round(steady_rate(entry), 1)
    cpu = _cpu(worker.get("samples", []), window)
    in_window = [int(s[3]) for s in worker.get("samples", []) if _within(s[0], window)]
    return WorkerFigures(
        index=worker.get("index"),
        host=str(worker.get("host") or worker.get("client_id", "").rsplit("_", 1)[0]),
        address=worker.get("address"),
        pid=worker.get("pid"),
        users=max(in_window, default=int(worker.get("users") or 0)),
        requests=sum(int(t["requests"]) for t in types.values()),
        failures=sum(int(t["failures"]) for t in types.values()),
        msgs_per_s=rate,
        cpu=cpu,
        generator_bound=generator_bound(cpu) if cpu is not None else None,
        lost=worker.get("lost"),
    )


def _within(at: float, window: tuple[float, float] | None) -> bool:
    return window is not None and window[0] <= at <= window[1]


def _cpu(samples: list[list[float]], window: tuple[float, float] | None) -> float | None:
    """The worker's share of one core between its first and last sample in ``window``
    (its own clocks), or None with fewer than two samples a second apart there."""
    inside = [s for s in samples if _within(s[0], window)]
    if len(inside) < 2:
        return None
    first, last = inside[0], inside[-1]
    span = last[1] - first[1]
    if span < 1.0:
        return None
    return round(max(0.0, (last[2] - first[2]) / span), 3)


def lost(report: dict[str, Any]) -> str | None:
    """Why the cell lost a worker (the first, with how long into the test), or None."""
    start = report.get("test_start")
    for worker in report.get("workers", []):
        if worker.get("lost"):
            name = worker.get("address") or worker.get("host") or worker.get("client_id")
            when = ""
            if start is not None and worker.get("lost_at") is not None:
                when = f", last heard {max(0.0, worker['lost_at'] - start):.1f} s into the test"
            return (
                f"locust worker {worker.get('index')} ({name}) was lost during the run: "
                f"{worker['lost']}{when}; the cell's figures would miss its users"
            )
    return None
