"""Idle: hold many open connections, one message every --ws-idle-interval seconds.

Run many users (e.g. -u 1000) and watch the server's memory per connection.

Run: `locust -f locustfiles/idle.py --host ws://127.0.0.1:PORT IdleAsyncUser`.
"""

from channels_harness.generators.locust_users import IdleUser


class IdleSyncUser(IdleUser):
    """SyncConsumer endpoint."""

    flavour = "sync"


class IdleAsyncUser(IdleUser):
    """AsyncConsumer endpoint."""

    flavour = "async"


class IdleGenericSyncUser(IdleUser):
    """WebsocketConsumer endpoint."""

    flavour = "generic-sync"


class IdleGenericAsyncUser(IdleUser):
    """AsyncWebsocketConsumer endpoint."""

    flavour = "generic-async"
