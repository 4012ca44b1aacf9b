"""What is left of a server after an attack: does it still answer, are consumers gone.

``GET /stats/`` of the reference app counts live consumers per process; after
every client of an attack is gone the count must come back to zero within a
bounded wait, or consumer tasks or threads leaked. The user's app has no such
count: there the consumers are not measured (None).
"""

from __future__ import annotations

import time
import urllib.error
from typing import overload

from channels_harness.experiments.attacks.victim import Victim
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess

__all__ = ["canary_within", "live_consumers", "wait_no_consumers"]


def canary_within(server: Victim, wait: float) -> tuple[str | None, float, str | None]:
    """Retry the canary until it answers or ``wait`` (scaled) seconds pass.

    A server busy tearing down thousands of connections may miss the first
    try and answer a second later. Returns why the last try failed (None if
    one answered), the seconds it took, and why the first try failed (None if
    it answered at once).
    """
    started = time.monotonic()
    deadline = started + scaled(wait)
    first = why = server.canary()
    while why is not None and server.running and time.monotonic() < deadline:
        time.sleep(0.2)
        why = server.canary()
    return why, time.monotonic() - started, first


@overload
def live_consumers(server: ServerProcess, timeout: float = 5.0) -> int: ...
@overload
def live_consumers(server: Victim, timeout: float = 5.0) -> int | None: ...
def live_consumers(server: ServerProcess | Victim, timeout: float = 5.0) -> int | None:
    """The reference app's ``total_live`` consumer count (None when not measured: the
    user's app); raises OSError if ``GET /stats/`` does not answer."""
    victim = server if isinstance(server, Victim) else Victim(server)
    return victim.live_consumers(timeout)


def wait_no_consumers(server: Victim, wait: float, baseline: int = 0) -> tuple[int | None, float]:
    """Poll until no more than ``baseline`` consumers are live (those that were
    live before the attack, held by other clients) or ``wait`` (scaled) seconds pass.

    Returns how many more than ``baseline`` are still live (None when
    ``/stats/`` never answered, or consumers are not measured) and the seconds it took.
    """
    if not server.counts_consumers:
        return None, 0.0
    started = time.monotonic()
    deadline = started + scaled(wait)
    count: int | None = None
    while True:
        try:
            live = server.live_consumers()
            count = None if live is None else max(0, live - baseline)
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            count = None
        if count == 0 or time.monotonic() >= deadline:
            return count, time.monotonic() - started
        time.sleep(0.1)
