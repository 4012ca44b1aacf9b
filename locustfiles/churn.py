"""Churn: connect, one message, close, repeat (handshakes/s, handshake latency).

The handshake is the WS-CONNECT request type, the close handshake WS-CLOSE.

Run: `locust -f locustfiles/churn.py --host ws://127.0.0.1:PORT ChurnAsyncUser`.
"""

from channels_harness.generators.locust_users import ChurnUser


class ChurnSyncUser(ChurnUser):
    """SyncConsumer endpoint."""

    flavour = "sync"


class ChurnAsyncUser(ChurnUser):
    """AsyncConsumer endpoint."""

    flavour = "async"


class ChurnGenericSyncUser(ChurnUser):
    """WebsocketConsumer endpoint."""

    flavour = "generic-sync"


class ChurnGenericAsyncUser(ChurnUser):
    """AsyncWebsocketConsumer endpoint."""

    flavour = "generic-async"
