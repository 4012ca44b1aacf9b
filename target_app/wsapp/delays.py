"""Simulated handler work, chosen per connection by the query string.

``?block_ms=N`` makes every message handler block its thread for N ms
(``time.sleep``); ``?await_ms=N`` makes an async handler await N ms
(``asyncio.sleep``). Benchmarks use these to show what a handler that does
real work costs each consumer style.
"""

from urllib.parse import parse_qs

MAX_DELAY_MS = 1000.0


def handler_delays(scope: dict) -> tuple[float, float]:
    """Return ``(block_s, await_s)`` from the connection's query string."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))

    def seconds(name: str) -> float:
        try:
            value = float(query.get(name, ["0"])[0])
        except ValueError:
            return 0.0
        return min(max(value, 0.0), MAX_DELAY_MS) / 1000.0

    return seconds("block_ms"), seconds("await_ms")
