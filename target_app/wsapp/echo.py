"""Echo consumers, one per consumer style.

Each returns every message as it came: text as text, bytes as bytes, byte for
byte, empty messages included.

- ``sync``: :class:`SyncConsumer` (handlers in a thread pool)
- ``async``: :class:`AsyncConsumer` (handlers on the event loop)
- ``generic-sync``: :class:`WebsocketConsumer`
- ``generic-async``: :class:`AsyncWebsocketConsumer`
"""

import asyncio
import time

from channels.consumer import AsyncConsumer, SyncConsumer
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer

from .delays import handler_delays
from .live import Counted


def echo_event(event: dict) -> dict:
    """The ``websocket.send`` event that returns ``event``'s message unchanged."""
    text = event.get("text")
    if text is not None:
        return {"type": "websocket.send", "text": text}
    return {"type": "websocket.send", "bytes": event.get("bytes") or b""}


class SyncEchoConsumer(Counted, SyncConsumer):
    def websocket_connect(self, event):
        self.block_s, _ = handler_delays(self.scope)
        self.send({"type": "websocket.accept"})

    def websocket_receive(self, event):
        if self.block_s:
            time.sleep(self.block_s)
        self.send(echo_event(event))

    def websocket_disconnect(self, event):
        raise StopConsumer()


class AsyncEchoConsumer(Counted, AsyncConsumer):
    async def websocket_connect(self, event):
        self.block_s, self.await_s = handler_delays(self.scope)
        await self.send({"type": "websocket.accept"})

    async def websocket_receive(self, event):
        if self.block_s:
            time.sleep(self.block_s)
        if self.await_s:
            await asyncio.sleep(self.await_s)
        await self.send(echo_event(event))

    async def websocket_disconnect(self, event):
        raise StopConsumer()


class GenericSyncEchoConsumer(Counted, WebsocketConsumer):
    def connect(self):
        self.block_s, _ = handler_delays(self.scope)
        self.accept()

    def receive(self, text_data=None, bytes_data=None):
        if self.block_s:
            time.sleep(self.block_s)
        if text_data is not None:
            self.send(text_data=text_data)
        else:
            self.send(bytes_data=bytes_data or b"")


class GenericAsyncEchoConsumer(Counted, AsyncWebsocketConsumer):
    async def connect(self):
        self.block_s, self.await_s = handler_delays(self.scope)
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        if self.block_s:
            time.sleep(self.block_s)
        if self.await_s:
            await asyncio.sleep(self.await_s)
        if text_data is not None:
            await self.send(text_data=text_data)
        else:
            await self.send(bytes_data=bytes_data or b"")
