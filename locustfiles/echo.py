"""Echo: closed-loop ping-pong on one connection per user (msgs/s, round-trip latency).

Options: --ws-payload-size N, --ws-binary. Against the raw echo baseline
(`channels-harness serve --server raw-echo`) add --ws-path /.

Run: `locust -f locustfiles/echo.py --host ws://127.0.0.1:PORT EchoAsyncUser`.
"""

from channels_harness.generators.locust_users import EchoUser


class EchoSyncUser(EchoUser):
    """SyncConsumer endpoint."""

    flavour = "sync"


class EchoAsyncUser(EchoUser):
    """AsyncConsumer endpoint."""

    flavour = "async"


class EchoGenericSyncUser(EchoUser):
    """WebsocketConsumer endpoint."""

    flavour = "generic-sync"


class EchoGenericAsyncUser(EchoUser):
    """AsyncWebsocketConsumer endpoint."""

    flavour = "generic-async"
