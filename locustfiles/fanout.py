"""Fan-out: room members broadcast through the channel layer (group_send).

Each WS request is one delivery, timed from the send timestamp in the payload.
Options: --ws-room-size N (members per room), --ws-fanout-interval S.

Run: `locust -f locustfiles/fanout.py --host ws://127.0.0.1:PORT FanoutAsyncUser`.
"""

from channels_harness.generators.locust_users import FanoutUser


class FanoutSyncUser(FanoutUser):
    """SyncConsumer endpoint."""

    flavour = "sync"


class FanoutAsyncUser(FanoutUser):
    """AsyncConsumer endpoint."""

    flavour = "async"


class FanoutGenericSyncUser(FanoutUser):
    """WebsocketConsumer endpoint."""

    flavour = "generic-sync"


class FanoutGenericAsyncUser(FanoutUser):
    """AsyncWebsocketConsumer endpoint."""

    flavour = "generic-async"
