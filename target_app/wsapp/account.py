"""Consumers that show what the app's security stack decided.

``WhoAmIConsumer`` tells the client which user ``AuthMiddlewareStack`` put in
the scope; with ``?require_auth=1`` it refuses anonymous users before
accepting (HTTP 403). ``ws/secure/echo/`` is the async echo behind
``AllowedHostsOriginValidator``.
"""

import json
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from .live import Counted


class WhoAmIConsumer(Counted, AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        authenticated = bool(user is not None and user.is_authenticated)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        if query.get("require_auth") == ["1"] and not authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        await self.send(
            text_data=json.dumps(
                {
                    "authenticated": authenticated,
                    "username": user.get_username() if authenticated else None,
                }
            )
        )
