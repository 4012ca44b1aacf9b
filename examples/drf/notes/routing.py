"""WebSocket routes of the notes app."""

from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    re_path(r"ws/notes/$", consumers.NoteConsumer.as_asgi()),
]
