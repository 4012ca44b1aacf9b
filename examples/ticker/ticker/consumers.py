"""A push-only endpoint: once connected, the server sends a price tick for the symbol
every ``interval_ms`` milliseconds (default 10), ``count`` ticks in all (default 360,000,
an hour at 10 ms), then closes normally. The client never needs to send anything.

Each tick is {"type": "tick", "symbol": ..., "seq": 0, 1, ..., "price": ..., "ts": ...}
where ``ts`` is when the server sent it (time.time(), seconds since the epoch), so a
client on the same machine can measure how late each push arrives.

    ws://HOST/ws/ticker/ACME/?interval_ms=10&count=6000
"""

import asyncio
import json
import random
import time
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

DEFAULT_INTERVAL_MS = 10.0
DEFAULT_COUNT = 360_000
MAX_COUNT = 10_000_000


def _number(params, name, default, low, high):
    """The query parameter ``name`` as a number within [low, high] (default if absent)."""
    try:
        value = float(params[name][0])
    except (KeyError, ValueError):
        return default
    return min(max(value, low), high)


class TickerConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.symbol = self.scope["url_route"]["kwargs"]["symbol"].upper()
        params = parse_qs(self.scope["query_string"].decode("latin-1"))
        interval = _number(params, "interval_ms", DEFAULT_INTERVAL_MS, 0.0, 60_000.0) / 1000
        count = int(_number(params, "count", DEFAULT_COUNT, 0, MAX_COUNT))
        await self.accept()
        self.pusher = asyncio.create_task(self.push(interval, count))

    async def disconnect(self, close_code):
        self.pusher.cancel()

    async def receive(self, text_data=None, bytes_data=None):
        """Nothing a client sends changes the feed."""

    async def push(self, interval, count):
        price = 100.0
        try:
            for seq in range(count):
                price = round(price * (1 + random.uniform(-0.001, 0.001)), 4)
                tick = {"type": "tick", "symbol": self.symbol, "seq": seq, "price": price}
                tick["ts"] = time.time()
                await self.send(text_data=json.dumps(tick))
                await asyncio.sleep(interval)
            await self.close()
        except OSError:
            # The client went away between two ticks (ASGI 2.4 servers raise on such a
            # send); the disconnect handler cancels this task next.
            pass
