"""WebSocket routes of the chat app: the tutorial's room, and the room that keeps its history."""

from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    re_path(r"ws/chat/(?P<room_name>\w+)/$", consumers.ChatConsumer.as_asgi()),
    re_path(r"ws/rooms/(?P<room_name>\w+)/$", consumers.RoomConsumer.as_asgi()),
]
