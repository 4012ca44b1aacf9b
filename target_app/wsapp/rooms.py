"""Chat-room consumers: every message a member sends is broadcast to the room.

The room is a channel-layer group (``group_add`` on connect, ``group_send`` per
message, ``group_discard`` on disconnect), so fan-out goes through whichever
channel layer the settings choose (in-memory by default, Redis when configured).
The broadcast carries the message unchanged, so a sender can put a timestamp in
it and members can measure delivery latency.
"""

from asgiref.sync import async_to_sync
from channels.consumer import AsyncConsumer, SyncConsumer
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer

from .live import Counted


def group_name(scope: dict) -> str:
    return "room-" + scope["url_route"]["kwargs"]["room"]


def broadcast_event(text: str | None, data: bytes | None) -> dict:
    return {"type": "room.message", "text": text, "bytes": data}


def send_event(event: dict) -> dict:
    if event.get("text") is not None:
        return {"type": "websocket.send", "text": event["text"]}
    return {"type": "websocket.send", "bytes": event.get("bytes") or b""}


class SyncRoomConsumer(Counted, SyncConsumer):
    def websocket_connect(self, event):
        self.group = group_name(self.scope)
        async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.send({"type": "websocket.accept"})

    def websocket_receive(self, event):
        message = broadcast_event(event.get("text"), event.get("bytes"))
        async_to_sync(self.channel_layer.group_send)(self.group, message)

    def room_message(self, event):
        self.send(send_event(event))

    def websocket_disconnect(self, event):
        async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)
        raise StopConsumer()


class AsyncRoomConsumer(Counted, AsyncConsumer):
    async def websocket_connect(self, event):
        self.group = group_name(self.scope)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send({"type": "websocket.accept"})

    async def websocket_receive(self, event):
        message = broadcast_event(event.get("text"), event.get("bytes"))
        await self.channel_layer.group_send(self.group, message)

    async def room_message(self, event):
        await self.send(send_event(event))

    async def websocket_disconnect(self, event):
        await self.channel_layer.group_discard(self.group, self.channel_name)
        raise StopConsumer()


class GenericSyncRoomConsumer(Counted, WebsocketConsumer):
    def connect(self):
        self.group = group_name(self.scope)
        async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.accept()

    def receive(self, text_data=None, bytes_data=None):
        async_to_sync(self.channel_layer.group_send)(
            self.group, broadcast_event(text_data, bytes_data)
        )

    def room_message(self, event):
        if event.get("text") is not None:
            self.send(text_data=event["text"])
        else:
            self.send(bytes_data=event.get("bytes") or b"")

    def disconnect(self, code):
        async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)


class GenericAsyncRoomConsumer(Counted, AsyncWebsocketConsumer):
    async def connect(self):
        self.group = group_name(self.scope)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(self.group, broadcast_event(text_data, bytes_data))

    async def room_message(self, event):
        if event.get("text") is not None:
            await self.send(text_data=event["text"])
        else:
            await self.send(bytes_data=event.get("bytes") or b"")

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)
