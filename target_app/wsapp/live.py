"""How many consumers are alive in this process, per consumer class.

Every consumer of the app mixes in :class:`Counted`; ``GET /stats/`` reports
the counts, so a test can check that after clients go away (cleanly or not)
no consumer task or thread is left behind.
"""

import threading
from collections import Counter

_lock = threading.Lock()
_live: Counter[str] = Counter()
_started: Counter[str] = Counter()


def snapshot() -> dict[str, dict[str, int]]:
    """Live and ever-started consumers per class name."""
    with _lock:
        return {
            "live": {k: v for k, v in _live.items() if v},
            "started": dict(_started),
            "total_live": sum(_live.values()),
        }


class Counted:
    """Counts the consumer as live from the start of ``__call__`` to its end."""

    async def __call__(self, scope, receive, send):
        name = type(self).__name__
        with _lock:
            _live[name] += 1
            _started[name] += 1
        try:
            return await super().__call__(scope, receive, send)
        finally:
            with _lock:
                _live[name] -= 1
