"""What is left of a server after an attack: does it still echo, are consumers gone.

``GET /stats/`` of the reference app counts live consumers per process; after
every client of an attack is gone the count must come back to zero within a
bounded wait, or consumer tasks or threads leaked.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from channels_harness.experiments.conformance.live import canary
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess

__all__ = ["canary", "canary_within", "live_consumers", "wait_no_consumers"]


def canary_within(server: ServerProcess, wait: float) -> tuple[str | None, float, str | None]:
    """Retry the canary until it echoes or ``wait`` (scaled) seconds pass.

    A server busy tearing down thousands of connections may miss the first
    try and answer a second later. Returns why the last try failed (None if
    one echoed), the seconds it took, and why the first try failed (None if
    it echoed at once).
    """
    started = time.monotonic()
    deadline = started + scaled(wait)
    first = why = canary(server)
    while why is not None and server.running and time.monotonic() < deadline:
        time.sleep(0.2)
        why = canary(server)
    return why, time.monotonic() - started, first


def live_consumers(server: ServerProcess, timeout: float = 5.0) -> int:
    """The app's ``total_live`` consumer count; raises OSError if it does not answer."""
    with urllib.request.urlopen(server.http_url("stats/"), timeout=scaled(timeout)) as reply:
        return int(json.loads(reply.read())["total_live"])


def wait_no_consumers(
    server: ServerProcess, wait: float, baseline: int = 0
) -> tuple[int | None, float]:
    """Poll until no more than ``baseline`` consumers are live (those that were
    live before the attack, held by other clients) or ``wait`` (scaled) seconds pass.

    Returns how many more than ``baseline`` are still live (None when
    ``/stats/`` never answered) and the seconds it took.
    """
    started = time.monotonic()
    deadline = started + scaled(wait)
    count: int | None = None
    while True:
        try:
            count = max(0, live_consumers(server) - baseline)
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            count = None
        if count == 0 or time.monotonic() >= deadline:
            return count, time.monotonic() - started
        time.sleep(0.1)
