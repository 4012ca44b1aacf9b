"""Write your own locust scenarios for a Channels app: the harness's public locust API.

A complete locustfile (``mychat.py``; the reference is docs/locust.md)::

    from locust import task

    from channels_harness.locust import WebSocketUser


    class ChatUser(WebSocketUser):
        path = "/ws/chat/c{conn}/"           # {conn}: this user's number, from 0
        origin = "http://127.0.0.1"          # behind AllowedHostsOriginValidator

        def on_connect(self):                 # after every handshake
            self.client.receive({"type": "history"}, name="history")

        @task
        def say(self):
            self.client.request(
                '{"message": "hi {n}"}',          # {n}: this user's message number
                expect={"message": "hi {n}"},
                name="say",
            )

Run it with plain locust (``locust -f mychat.py --host ws://127.0.0.1:8000``)
or through the harness, which starts the servers, pins them, and writes
data.json and the reports: ``channels-harness load --locustfile mychat.py
--app mysite.asgi:application``.

Importing this module imports locust first (gevent's monkey-patching) and
adds the ``--ws-*`` options; it never exits the process. A non-loopback target
stops the run at test start (exit code 2) unless ``--ws-allow-remote-target``.

:class:`WebSocketUser`
    A locust ``User`` with one connection, ``self.client``. Class attributes:
    ``path`` (``{conn}`` allowed: the user's number, from 0; on locust worker i of a
    distributed run, from i * 1,000,000), ``name`` (request name of the handshake and
    of requests given none; default the path), ``origin``, ``headers`` (a dict
    or ``"Name: value"`` strings), ``cookie``, ``subprotocols``. The ``--ws-*``
    options win over them. :meth:`WebSocketUser.on_connect` runs after every
    (re)connection. The client connects on first use; after a failed handshake
    it pauses half a second and the call returns None (``send``: False).

:class:`WebSocketClient` (``self.client``)
    ``send(message)``
        Send a text (``{n}``, ``{conn}`` replaced) or bytes; nothing is measured.
    ``request(message, expect=None, *, name=None, count=1, until=None, timeout=None,
    latency_from=None, strict=False)``
        Send ``message`` and wait for ``count`` frames matching ``expect`` (then the
        ``until`` frame, if given); one ``WS`` request named ``name``, timed from the
        send to the frame that ends it. Returns the frames it took
        (:class:`Frame`: ``text``, ``data``, ``document`` (parsed JSON), ``kind``),
        or None when it failed (reported as a failure with its reason).
    ``receive(expect=None, *, name=None, count=1, until=None, timeout=None,
    latency_from=None, strict=False)``
        The same without sending: wait for frames the server pushes, timed from the
        call. ``latency_from="ts"`` also reports each frame's push latency (now minus
        the epoch timestamp at that key) as ``WS-PUSH``.
    ``connect()``, ``close()``, ``connected``, ``n`` (the next message's number).

    ``expect`` is what a scenario file's ``expect`` is (docs/scenarios.md): a dict of
    JSON fields (dotted keys reach into objects, values keep their JSON types,
    ``"{n}"`` is the number as a number or string), or a string: a regular
    expression searched in the frame. A field with ``{n}`` or ``{conn}``
    correlates: a frame whose templated fields match but whose others do not is a
    wrong reply, a failure. Frames no request is waiting for are counted as
    ``WS-OTHER`` requests named by kind (their ``type``), never taken as a reply
    (``strict=True``: a failure instead). A request waits ``timeout`` seconds
    (default ``--ws-timeout``, 10) before it fails. In an expectation ``{n}`` is
    the number of the message sent by this request (``receive``: the last one sent).

:class:`ScenarioUser`
    Runs a scenario file (``--ws-scenario-file FILE`` or the class attribute
    ``scenario_file``): connect steps as ``WS-CONNECT-STEP`` requests, measured
    steps as ``WS`` requests named after each step. In a distributed run the
    master reads the file and sends it to its workers.

Request types: ``WS-CONNECT`` (handshake), ``WS``, ``WS-PUSH``, ``WS-CONNECT-STEP``,
``WS-OTHER``, ``WS-CLOSE`` (:data:`HANDSHAKE`, :data:`MESSAGE`, ...).
"""

from channels_harness.generators.locust_client import (
    Handshake,
    HandshakeRejectedError,
    StepFailedError,
    WebSocketClient,
    WebSocketClosedError,
)
from channels_harness.generators.locust_types import (
    CLOSE,
    CONNECT_STEP,
    HANDSHAKE,
    MESSAGE,
    OTHER,
    PUSH,
)
from channels_harness.generators.locust_user import ScenarioUser, WebSocketUser
from channels_harness.protocol.conversation import Frame

__all__ = [
    "CLOSE",
    "CONNECT_STEP",
    "HANDSHAKE",
    "MESSAGE",
    "OTHER",
    "PUSH",
    "Frame",
    "Handshake",
    "HandshakeRejectedError",
    "ScenarioUser",
    "StepFailedError",
    "WebSocketClient",
    "WebSocketClosedError",
    "WebSocketUser",
]
