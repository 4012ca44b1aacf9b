"""A WebSocket echo app written against ASGI alone: the server's own cost.

Serve it with ``channels_harness.servers.apps.bare:application``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """Complete startup and shutdown at once."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def http_ok(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer any HTTP request with ``200 ok`` (ServerProcess polls /healthz/ until it does)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def websocket_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then return every message as it came until the client leaves."""
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            text = message.get("text")
            if text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
        elif kind == "websocket.disconnect":
            return


def by_protocol(websocket: ASGIApp) -> ASGIApp:
    """An app sending WebSocket scopes to ``websocket``, HTTP to :func:`http_ok`
    and lifespan to :func:`lifespan` (a dict lookup: no routing cost to speak of)."""
    apps = {"websocket": websocket, "http": http_ok, "lifespan": lifespan}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await apps[scope["type"]](scope, receive, send)

    return app


application = by_protocol(websocket_echo)
