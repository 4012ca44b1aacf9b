"""WebSocket routes of the ticker app."""

from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    re_path(r"ws/ticker/(?P<symbol>\w+)/$", consumers.TickerConsumer.as_asgi()),
]
