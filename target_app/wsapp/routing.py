"""WebSocket URL patterns, mounted by ``refsite.asgi`` under AuthMiddlewareStack.

``ws/sc/`` and ``ws/ac/`` are the setup notes' consumers. Echo, room and probe
endpoints come in the consumer styles the harness compares::

    ws/echo/<sync|async|generic-sync|generic-async>/
    ws/room/<room>/<sync|async|generic-sync|generic-async>/
    ws/probe/<sync|async>/
    ws/whoami/               which user AuthMiddlewareStack found (session cookie)
    ws/secure/echo/          generic-async echo behind AllowedHostsOriginValidator
"""

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from . import account, consumers, echo, probe, rooms

ROOM = r"(?P<room>[A-Za-z0-9_-]{1,50})"

websocket_urlpatterns = [
    path("ws/sc/", consumers.MySyncConsumer.as_asgi()),
    path("ws/ac/", consumers.MyAsyncConsumer.as_asgi()),
    path("ws/echo/sync/", echo.SyncEchoConsumer.as_asgi()),
    path("ws/echo/async/", echo.AsyncEchoConsumer.as_asgi()),
    path("ws/echo/generic-sync/", echo.GenericSyncEchoConsumer.as_asgi()),
    path("ws/echo/generic-async/", echo.GenericAsyncEchoConsumer.as_asgi()),
    re_path(rf"^ws/room/{ROOM}/sync/$", rooms.SyncRoomConsumer.as_asgi()),
    re_path(rf"^ws/room/{ROOM}/async/$", rooms.AsyncRoomConsumer.as_asgi()),
    re_path(rf"^ws/room/{ROOM}/generic-sync/$", rooms.GenericSyncRoomConsumer.as_asgi()),
    re_path(rf"^ws/room/{ROOM}/generic-async/$", rooms.GenericAsyncRoomConsumer.as_asgi()),
    path("ws/probe/sync/", probe.SyncProbeConsumer.as_asgi()),
    path("ws/probe/async/", probe.AsyncProbeConsumer.as_asgi()),
    path("ws/whoami/", account.WhoAmIConsumer.as_asgi()),
    path("ws/secure/echo/", AllowedHostsOriginValidator(echo.GenericAsyncEchoConsumer.as_asgi())),
]
