"""What each locust worker did, as its master saw it: the per-worker figures of a
distributed run, and the workers lost during it.

Worker side (:func:`start_sampling`): every :data:`SAMPLE_S` seconds the worker
sends its master a custom message (:data:`SAMPLE`) with its pid, host name,
address toward the master, worker index, users, CPU time
(:func:`time.process_time`) and monotonic clock, so the master can tell its CPU
share over any window, whichever host it runs on.

Master side (:func:`start_tallying`): per worker, what its statistics reports
carried (requests and failures per request type, requests per second), its
samples (each with the master's wall-clock time of arrival), and whether it was
lost while the test ran, decided when the test stops: locust marked it missing
(no heartbeat for 3 s), it left the master, or nothing came from it in the last
:data:`LOST_AFTER_S` seconds. :func:`report` gives it all as JSON for the
master's ``--ws-report-file``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

# The custom message a worker sends its master, and how often.
SAMPLE = "channels-harness-sample"
SAMPLE_S = 1.0
# A worker the master heard nothing from for this long when the test stopped was
# lost (locust's own heartbeat liveness: three missed one-second heartbeats).
LOST_AFTER_S = 3.0


@dataclass
class _Worker:
    """What the master knows of one worker (by locust client id)."""

    client_id: str
    index: int | None = None
    last_seen: float = 0.0
    users: int = 0
    identity: dict[str, Any] = field(default_factory=dict)
    samples: list[list[float]] = field(default_factory=list)
    types: dict[str, dict[str, Any]] = field(default_factory=dict)
    lost: str | None = None
    lost_at: float | None = None


_workers: dict[str, _Worker] = {}
_times: dict[str, float] = {}


def _worker(client_id: str) -> _Worker:
    seen = _workers.get(client_id)
    if seen is None:
        seen = _workers[client_id] = _Worker(client_id)
    seen.last_seen = time.time()
    return seen


def start_tallying(environment: Environment, runner: MasterRunner) -> None:
    """On a master: tally every worker's reports and samples from now on."""

    def on_connect(client_id: str, **_kwargs: Any) -> None:
        _worker(client_id).index = runner.get_worker_index(client_id)

    def on_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        worker = _worker(client_id)
        worker.users = max(worker.users, int(data.get("user_count") or 0))
        for entry in data.get("stats", []):
            tally = worker.types.setdefault(
                entry["method"], {"requests": 0, "failures": 0, "per_second": {}}
            )
            tally["requests"] += int(entry["num_requests"])
            tally["failures"] += int(entry["num_failures"])
            per_second = tally["per_second"]
            for second, count in entry.get("num_reqs_per_sec", {}).items():
                per_second[int(second)] = per_second.get(int(second), 0) + int(count)

    def on_sample(msg: Any, **_kwargs: Any) -> None:
        worker = _worker(msg.node_id)
        data = msg.data
        if worker.index is None:
            worker.index = data.get("index")
        worker.identity = {key: data.get(key) for key in ("host", "address", "pid")}
        worker.samples.append([time.time(), data["t"], data["cpu_s"], data["users"]])

    def on_start(**_kwargs: Any) -> None:
        _times["test_start"] = time.time()

    def on_stopping(**_kwargs: Any) -> None:
        _times["test_stop"] = time.time()
        _judge(runner, _times["test_stop"])

    environment.events.worker_connect.add_listener(on_connect)
    environment.events.worker_report.add_listener(on_report)
    environment.events.test_start.add_listener(on_start)
    environment.events.test_stopping.add_listener(on_stopping)
    runner.register_message(SAMPLE, on_sample)


def _judge(runner: MasterRunner, now: float) -> None:
    """Mark the workers lost during the test, with why (see the module doc)."""
    for client_id, worker in _workers.items():
        if worker.lost is not None:
            continue
        node = runner.clients.get(client_id)
        if node is None and worker.last_seen < _times.get("test_start", now):
            worker.lost = "it left the master before the test started"
        elif node is None:
            worker.lost = "it left the master while the test ran"
        elif node.state == STATE_MISSING:
            worker.lost = "it stopped answering the master's heartbeats"
        elif now - worker.last_seen > LOST_AFTER_S:
            worker.lost = f"nothing came from it in the last {now - worker.last_seen:.1f} s"
        if worker.lost is not None:
            worker.lost_at = worker.last_seen


def report() -> dict[str, Any]:
    """The master's record of its workers (JSON-ready): when the test started and
    stopped (wall clock) and, per worker, its identity, samples
    (``[arrival, worker clock, worker CPU s, users]``), tallies per request type and
    whether it was lost."""
    return {
        **_times,
        "workers": [
            {
                "client_id": worker.client_id,
                "index": worker.index,
                **worker.identity,
                "users": worker.users,
                "samples": worker.samples,
                "types": worker.types,
                "lost": worker.lost,
                "lost_at": worker.lost_at,
            }
            for worker in sorted(_workers.values(), key=lambda w: (w.index is None, w.index))
        ],
    }


def start_sampling(runner: WorkerRunner) -> None:
    """On a worker: send the master a sample every :data:`SAMPLE_S` seconds."""
    identity = {
        "host": socket.gethostname(),
        "address": _address_toward(runner.master_host, runner.master_port),
        "pid": os.getpid(),
    }

    def loop() -> None:
        while True:
            data = {
                **identity,
                "index": runner.worker_index,
                "users": runner.user_count,
                "cpu_s": time.process_time(),
                "t": time.monotonic(),
            }
            with contextlib.suppress(Exception):
                runner.send_message(SAMPLE, data)
            gevent.sleep(SAMPLE_S)

    runner.greenlet.spawn(loop)


def _address_toward(host: str, port: int) -> str | None:
    """This host's address on the route to ``host`` (a UDP socket's source address:
    connecting one sends nothing), or None when it cannot be told."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(address)
            return str(probe.getsockname()[0])
    except OSError:
        return None
