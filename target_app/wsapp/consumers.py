"""The two consumers of the Channels setup notes, working.

``MySyncConsumer`` (mounted at ``ws/sc/``) runs in a thread pool;
``MyAsyncConsumer`` (``ws/ac/``) runs on the event loop. Both accept on connect,
answer every message with a fixed text, and stop on disconnect.
"""

from channels.consumer import AsyncConsumer, SyncConsumer
from channels.exceptions import StopConsumer


class MySyncConsumer(SyncConsumer):
    def websocket_connect(self, event):
        print("WebSocket Connect...")
        self.send({"type": "websocket.accept"})

    def websocket_receive(self, event):
        print("WebSocket Received...")
        self.send({"type": "websocket.send", "text": "Message sent to client"})

    def websocket_disconnect(self, event):
        print("WebSocket Disconnect...")
        raise StopConsumer()


class MyAsyncConsumer(AsyncConsumer):
    async def websocket_connect(self, event):
        print("WebSocket Connected...")
        await self.send({"type": "websocket.accept"})

    async def websocket_receive(self, event):
        print("Message Received...")
        await self.send({"type": "websocket.send", "text": "Message sent to client"})

    async def websocket_disconnect(self, event):
        print("WebSocket Disconnected...")
        raise StopConsumer()
