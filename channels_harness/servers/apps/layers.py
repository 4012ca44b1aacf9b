"""The reference app's echo consumers without AuthMiddlewareStack and URLRouter.

Each attribute is a whole ASGI app whose WebSocket side is one consumer,
whatever the path: ``channels_harness.servers.apps.layers:async_consumer`` and so on.
Set up Django first (the consumers come from ``wsapp``, on the server's
PYTHONPATH), as ``refsite.asgi`` does.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "refsite.settings")
django.setup()

from wsapp.echo import (  # noqa: E402
    AsyncEchoConsumer,
    GenericAsyncEchoConsumer,
    GenericSyncEchoConsumer,
    SyncEchoConsumer,
)

from channels_harness.servers.apps.bare import by_protocol  # noqa: E402

async_consumer = by_protocol(AsyncEchoConsumer.as_asgi())
sync_consumer = by_protocol(SyncEchoConsumer.as_asgi())
generic_async_consumer = by_protocol(GenericAsyncEchoConsumer.as_asgi())
generic_sync_consumer = by_protocol(GenericSyncEchoConsumer.as_asgi())
