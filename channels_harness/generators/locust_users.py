"""The harness's own locust users: the bundled locustfiles' scenarios.

Each is a :class:`HarnessUser`, a :class:`~.locust_user.WebSocketUser` (the public
API, :mod:`channels_harness.locust`) named ``scenario/flavour`` for the reference
app's consumer flavours. What each reports to locust (request type, name):

- ``WS-CONNECT``: the opening handshake, timed from the TCP connect to the
  101 response; a refused connection or a rejected handshake is a failure.
- ``WS``: one message, timed from the send to the echoed reply (echo, churn,
  idle), or from the send timestamp in the payload to its delivery (fanout),
  or from the send to the next message matching ``--ws-expect`` (``AppUser``:
  your app, your messages; others are ``WS-OTHER``, named by kind).
- ``WS-CLOSE``: the closing handshake (churn), timed from our close frame to
  the server's.
- A close the client did not ask for is a failure carrying the close code
  (:class:`WebSocketClosedError`).

Your own app: ``AppUser`` (``locustfiles/app.py``) sends ``--ws-message``
texts (or the lines of ``--ws-message-file``) in turn on ``--ws-path``; every
user's handshake carries ``--ws-header``, ``--ws-origin``, ``--ws-subprotocol``
and ``--ws-cookie`` (and the session cookie of ``--ws-login USER:PASSWORD
--ws-login-url PATH``, fetched once per process); ``--ws-insecure`` skips the
wss:// certificate check. ``{n}`` and ``{conn}`` become the message's number
on its connection and the user's number, both from 0 (``{conn}`` also in
``--ws-path``). Options, loopback rule and reports: :mod:`.locust_setup`.
"""

from __future__ import annotations

import json
import os
import time
from typing import ClassVar

import gevent
from gevent.greenlet import Greenlet
from locust import task
from locust.env import Environment

from channels_harness.generators.locust_client import WebSocketClosedError
from channels_harness.generators.locust_setup import traffic_of
from channels_harness.generators.locust_types import MESSAGE
from channels_harness.generators.locust_user import WebSocketUser
from channels_harness.protocol.scenario import render


class HarnessUser(WebSocketUser):
    """A user of one of the reference app's scenarios: ``path`` holds ``{flavour}``,
    requests are named ``scenario/flavour`` (``scenario PATH`` with ``--ws-path``)."""

    abstract = True
    scenario: ClassVar[str] = ""
    flavour: ClassVar[str] = ""
    path: ClassVar[str] = "ws/echo/{flavour}/"

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.payload = self.make_payload(int(self.option("ws_payload_size", 32)))

    def path_values(self) -> dict[str, str]:
        """The placeholders of ``path`` besides ``{conn}``."""
        return {"{flavour}": self.flavour}

    def url_path(self) -> str:
        return str(self.option("ws_path", "") or render(self.path, self.path_values()))

    def request_name(self) -> str:
        if self.option("ws_path", ""):
            return f"{self.scenario} {self.url_path()}"
        return f"{self.scenario}/{self.flavour}"

    def make_payload(self, size: int) -> str | bytes:
        """``size`` bytes of text, or of bytes with ``--ws-binary``."""
        if self.option("ws_binary", False):
            return bytes(i % 251 for i in range(size))
        return "x" * size


class EchoUser(HarnessUser):
    """Closed-loop ping-pong on one connection: send, wait for the echo, repeat."""

    abstract = True
    scenario = "echo"

    def wait_time(self) -> float:
        return 0.0

    @task
    def echo(self) -> None:
        if self.client.ensure_connected():
            self.client.round_trip(self.payload)


class ChurnUser(HarnessUser):
    """Connect, one message, close, repeat: handshakes per second and their latency."""

    abstract = True
    scenario = "churn"

    def wait_time(self) -> float:
        return 0.0

    @task
    def churn(self) -> None:
        if self.client.ensure_connected() and self.client.round_trip(self.payload):
            self.client.close()


class IdleUser(HarnessUser):
    """Hold a connection open with a message every ``--ws-idle-interval`` seconds."""

    abstract = True
    scenario = "idle"

    def wait_time(self) -> float:
        return float(self.option("ws_idle_interval", 5.0))

    @task
    def ping(self) -> None:
        if self.client.ensure_connected():
            self.client.round_trip(self.payload)


class FanoutUser(HarnessUser):
    """A room member: broadcasts a timestamped message every ``--ws-fanout-interval``
    seconds, and reports each broadcast it receives (its own included) as a
    ``WS`` request whose time is the delivery latency from the send timestamp.

    Rooms hold ``--ws-room-size`` users of one locust process. Timestamps use
    ``time.monotonic_ns`` (CLOCK_MONOTONIC, shared by every process on Linux).
    """

    abstract = True
    scenario = "fanout"
    path = "ws/room/{room}/{flavour}/"

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.receiver: Greenlet | None = None

    def room(self) -> str:
        size = max(1, int(self.option("ws_room_size", 10)))
        return f"load{os.getpid()}x{self.number // size}"

    def path_values(self) -> dict[str, str]:
        return {"{room}": self.room(), "{flavour}": self.flavour}

    def wait_time(self) -> float:
        return float(self.option("ws_fanout_interval", 1.0))

    def make_payload(self, size: int) -> str | bytes:
        return "x" * max(0, size - 40)

    @task
    def broadcast(self) -> None:
        if not self.client.connected:
            if self.receiver is not None:
                self.receiver.kill()
            if not self.client.ensure_connected():
                return
            self.receiver = gevent.spawn(self._receive_loop)
        message = json.dumps({"t": time.monotonic_ns(), "pad": self.payload})
        try:
            self.client.send_frame(message)
        except Exception as exc:
            self.client.report(MESSAGE, time.perf_counter(), exception=exc)
            self.client.abandon()

    def _receive_loop(self) -> None:
        while self.client.connected:
            try:
                frame = self.client.next_frame()
                assert frame is not None
                sent_ns = json.loads(frame.data)["t"]
            except Exception as exc:
                if self.client.connected or isinstance(exc, WebSocketClosedError):
                    self.client.report(MESSAGE, time.perf_counter(), exception=exc)
                self.client.abandon()
                return
            delivery_ms = (time.monotonic_ns() - sent_ns) / 1e6
            self.client.fire(MESSAGE, self.client.name, delivery_ms, len(frame.data))

    def on_stop(self) -> None:
        if self.receiver is not None:
            self.receiver.kill(block=False)
        super().on_stop()


class AppUser(HarnessUser):
    """Your app: on ``--ws-path``, send ``--ws-message`` texts in turn; a round trip
    ends at the next message the server sends that matches ``--ws-expect`` (any
    message without it); the others are counted as ``WS-OTHER``, by kind."""

    abstract = True
    scenario = "app"
    path = "/"

    messages: tuple[str, ...] = ()
    expect: str | None = None

    def on_start(self) -> None:
        super().on_start()
        if self.client.refused is not None:
            return
        traffic = traffic_of(self.environment)  # checked by on_start
        if not traffic.messages:
            self._refuse("AppUser needs --ws-message or --ws-message-file")
        self.messages = traffic.messages
        self.expect = traffic.expect

    def request_name(self) -> str:
        return f"{self.scenario} {self.url_path()}"

    def wait_time(self) -> float:
        return 0.0

    @task
    def message(self) -> None:
        if not self.client.ensure_connected():
            return
        text = self.messages[self.client.n % len(self.messages)]
        self.client.request(text, self.expect, name=self.client.name)
