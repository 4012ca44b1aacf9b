"""The chat consumers.

- ChatConsumer: the Channels tutorial's, as written there: every message sent
  to a room goes to every member of its group, nothing is kept.
- RoomConsumer: a room that keeps its messages, as real chats do: on connect
  the room's latest messages ({"type": "history", "messages": [...]}), then
  each message sent to the room ({"type": "message", "message": ..., "user": ...}).
"""

import json

from channels.generic.websocket import AsyncWebsocketConsumer

from .models import Message

# How many of the room's latest messages a member gets on connect.
HISTORY_LENGTH = 50


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"

        # Join room group
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)

        await self.accept()

    async def disconnect(self, close_code):
        # Leave room group
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    # Receive message from WebSocket
    async def receive(self, text_data):
        text_data_json = json.loads(text_data)
        message = text_data_json["message"]
        user = self.scope["user"]

        # Send message to room group
        await self.channel_layer.group_send(
            self.room_group_name,
            {
                "type": "chat.message",
                "message": message,
                "user": user.username if user.is_authenticated else "anonymous",
            },
        )

    # Receive message from room group
    async def chat_message(self, event):
        # Send message to WebSocket
        await self.send(text_data=json.dumps({"message": event["message"], "user": event["user"]}))


class RoomConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"room_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

        latest = Message.objects.filter(room=self.room_name).order_by("-id")[:HISTORY_LENGTH]
        history = [message.as_json() async for message in latest]
        history.reverse()
        await self.send(text_data=json.dumps({"type": "history", "messages": history}))

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data):
        text = json.loads(text_data)["message"]
        user = self.scope["user"]
        username = user.username if user.is_authenticated else "anonymous"
        await Message.objects.acreate(room=self.room_name, user=username, text=text)
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "room.message", "message": text, "user": username}
        )

    async def room_message(self, event):
        await self.send(
            text_data=json.dumps(
                {"type": "message", "message": event["message"], "user": event["user"]}
            )
        )
