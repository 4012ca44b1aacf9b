"""Your app: closed-loop messages on your own WebSocket path (msgs/s, round-trip latency).

A round trip ends at the next message the server sends on the connection.
Options: --ws-path, --ws-message (repeatable) or --ws-message-file, --ws-expect,
and for the handshake --ws-origin, --ws-header, --ws-cookie, --ws-subprotocol,
--ws-login USER:PASSWORD --ws-login-url PATH, --ws-insecure.

Run: `locust -f locustfiles/app.py --host ws://127.0.0.1:8000 --ws-path /ws/chat/lobby/
--ws-origin http://127.0.0.1 --ws-message '{"message": "hi"}' AppUser`.
"""

from channels_harness.generators import locust_users


class AppUser(locust_users.AppUser):
    """Your WebSocket path and messages."""
