"""WebSocket users for locust: the only module of the harness that imports locust.

Locustfiles import this module first, so gevent's monkey-patching (done by
``import locust``) happens before any socket library is loaded, and
websocket-client, which uses the standard ``socket`` module, becomes
gevent-friendly. The client sets ``TCP_NODELAY`` so small frames are never held
back by Nagle's algorithm.

What each user reports to locust (request type, name = ``scenario/flavour``):

- ``WS-CONNECT``: the opening handshake, timed from the TCP connect to the
  101 response; a refused connection or a rejected handshake is a failure.
- ``WS``: one message, timed from the send to the echoed reply (echo, churn,
  idle), or from the send timestamp in the payload to its delivery (fanout),
  or from the send to the next message the server sends (``AppUser``: your
  app, your messages).
- ``WS-CLOSE``: the closing handshake (churn), timed from our close frame to
  the server's.
- A close the client did not ask for is a failure carrying the close code
  (:class:`WebSocketClosedError`).

Targets are loopback only (:func:`channels_harness.runtime.loopback.check_target`): a
non-loopback ``--host`` or ``--ws-hosts`` entry stops locust at start with a
clear message, unless ``--ws-allow-remote-target`` or
``HARNESS_ALLOW_REMOTE_TARGET=1``. ``--ws-hosts a,b,c`` spreads the users
round-robin over several servers (several processes of one app).

In a distributed run each worker writes its own ``--ws-report-file``
(``<file>.worker-<pid>.json``) with what it reported to the master, so the
master's totals can be checked against the workers' sum.

Your own app: ``AppUser`` (``locustfiles/app.py``) sends ``--ws-message``
texts (or the lines of ``--ws-message-file``) in turn on ``--ws-path`` and
checks each reply against ``--ws-expect``; every user's handshake carries
``--ws-header``, ``--ws-origin``, ``--ws-subprotocol`` and ``--ws-cookie``
(and the session cookie of ``--ws-login USER:PASSWORD --ws-login-url PATH``,
fetched once per process); ``--ws-insecure`` skips the wss:// certificate
check. ``{n}`` and ``{conn}`` become the message's number on its connection
and the user's number, both from 0 (``{conn}`` also in ``--ws-path``).

Importing this module also gives locust finer latency buckets
(:func:`fine_bucket`, resolution :data:`RESOLUTION_MS` below 10 ms) and adds the
``--ws-*`` command line options the users read.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import socket
import ssl
import struct
import sys
import time
from typing import Any, ClassVar, NoReturn

import gevent
import gevent.lock
import locust.stats
import websocket
from gevent.greenlet import Greenlet
from locust import User, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import Runner, WorkerRunner

from channels_harness.errors import HarnessError, TargetRefusedError
from channels_harness.protocol.traffic import (
    Traffic,
    build_traffic,
    login_cookie,
    read_messages,
    with_cookie,
)
from channels_harness.runtime import forkguard
from channels_harness.runtime.loopback import check_target
from channels_harness.runtime.options import comma_list

# locust --processes forks its workers from this process: they die with it.
forkguard.arm()

HANDSHAKE = "WS-CONNECT"
MESSAGE = "WS"
CLOSE = "WS-CLOSE"

# Latency buckets: steps of RESOLUTION_MS below 10 ms, three significant digits above.
RESOLUTION_DECIMALS = 2
RESOLUTION_MS = 10.0**-RESOLUTION_DECIMALS
BUCKETING = f"{RESOLUTION_MS} ms steps below 10 ms, three significant digits above"
# After a failed handshake a user waits this long before trying again.
RECONNECT_PAUSE_S = 0.5

NORMAL_CLOSURE = 1000
NO_STATUS = 1005

_user_numbers = itertools.count()
# What this process (a worker) reported to its master: (type, name) -> [requests, failures].
_reported: dict[tuple[str, str], list[int]] = {}
_reported_errors: dict[str, dict[str, Any]] = {}
# Exit code of a run stopped because its target was refused.
REFUSED_EXIT_CODE = 2
ALLOW_OPTION_HINT = "With plain locust the option is --ws-allow-remote-target."


def fine_bucket(response_time: float) -> float:
    """Locust's bucketing hook with :data:`RESOLUTION_MS` steps under 10 ms.

    Locust's own rounds everything under 100 ms to whole milliseconds, which
    collapses sub-millisecond echo times into 0, 1 and 2. Above 10 ms this keeps
    three significant digits, so the histogram stays small (about 900 keys per
    decade) for distributed runs.
    """
    if response_time < 10:
        return round(response_time, RESOLUTION_DECIMALS)
    digits = 3 - len(str(int(response_time)))
    return float(round(response_time, digits))


locust.stats.bucket_response_time = fine_bucket  # type: ignore[assignment]


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("channels-harness WebSocket users")
    group.add_argument(
        "--ws-payload-size", type=int, default=32, help="message size in bytes (default 32)"
    )
    group.add_argument(
        "--ws-binary", action="store_true", default=False, help="send bytes frames, not text"
    )
    group.add_argument(
        "--ws-path",
        default="",
        help="use this path instead of the scenario's (e.g. / for the raw echo baseline)",
    )
    group.add_argument(
        "--ws-timeout", type=float, default=10.0, help="seconds to wait on the socket (10)"
    )
    group.add_argument("--ws-room-size", type=int, default=10, help="fanout: members per room")
    group.add_argument(
        "--ws-fanout-interval",
        type=float,
        default=1.0,
        help="fanout: seconds between two broadcasts of one member (1.0)",
    )
    group.add_argument(
        "--ws-report-file",
        default="",
        help="at exit, write the error list and the latency resolution to this JSON file",
    )
    group.add_argument(
        "--ws-idle-interval",
        type=float,
        default=5.0,
        help="idle: seconds between two messages on a held connection (5.0)",
    )
    group.add_argument(
        "--ws-hosts",
        default="",
        help="comma-separated ws:// base URLs; users pick theirs round-robin (instead of --host)",
    )
    group.add_argument(
        "--ws-allow-remote-target",
        action="store_true",
        default=False,
        help="allow non-loopback targets (also HARNESS_ALLOW_REMOTE_TARGET=1)",
    )
    _add_app_options(group)


def _add_app_options(group: Any) -> None:
    """The options of your own app's traffic (same names as channels-harness's)."""
    group.add_argument(
        "--ws-message",
        action="append",
        default=[],
        help="AppUser: a message to send (repeatable, used in turn)",
    )
    group.add_argument("--ws-message-file", default=None, help="AppUser: messages, one per line")
    group.add_argument("--ws-expect", default=None, help="AppUser: every reply must match (regex)")
    group.add_argument(
        "--ws-header", action="append", default=[], help="handshake header 'Name: value'"
    )
    group.add_argument("--ws-origin", default=None, help="the handshake's Origin header")
    group.add_argument("--ws-subprotocol", default=None, help="the subprotocol to ask for")
    group.add_argument("--ws-cookie", action="append", default=[], help="a cookie name=value")
    group.add_argument("--ws-login", default=None, help="USER:PASSWORD for a Django login form")
    group.add_argument("--ws-login-url", default=None, help="the login form's path")
    group.add_argument(
        "--ws-insecure", action="store_true", default=False, help="wss://: no certificate check"
    )


_traffic: dict[int, Traffic] = {}
# One login per process: the users that start meanwhile wait for its cookie.
_traffic_lock = gevent.lock.BoundedSemaphore()


def traffic_of(environment: Environment, base_url: str) -> Traffic:
    """The handshake and messages the ``--ws-*`` options describe, built (and the
    ``--ws-login`` cookie fetched from ``base_url``) once per process."""
    with _traffic_lock:
        return _build_traffic(environment, base_url)


def _build_traffic(environment: Environment, base_url: str) -> Traffic:
    options = environment.parsed_options
    key = id(options)
    if key in _traffic:
        return _traffic[key]

    def option(name: str, default: Any) -> Any:
        return getattr(options, name, default) if options is not None else default

    traffic = build_traffic(
        messages=read_messages(option("ws_message", []), option("ws_message_file", None)),
        expect=option("ws_expect", None),
        headers=option("ws_header", []),
        origin=option("ws_origin", None),
        cookies=option("ws_cookie", []),
        subprotocol=option("ws_subprotocol", None),
        insecure=bool(option("ws_insecure", False)),
    )
    login = option("ws_login", None)
    if login:
        http_base = base_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
        cookie = login_cookie(
            http_base, option("ws_login_url", None) or "/", login, insecure=traffic.insecure
        )
        traffic = with_cookie(traffic, cookie)
    _traffic[key] = traffic
    return traffic


def target_hosts(environment: Environment) -> list[str]:
    """The base URLs users connect to: ``--ws-hosts`` if given, else ``--host``."""
    hosts = comma_list(getattr(environment.parsed_options, "ws_hosts", ""))
    if hosts:
        return hosts
    return [environment.host] if environment.host else []


def refusal(environment: Environment) -> str | None:
    """Why load may not go to this environment's targets, or None if it may."""
    allow = bool(getattr(environment.parsed_options, "ws_allow_remote_target", False))
    for host in target_hosts(environment):
        try:
            check_target(host, allow_remote=allow)
        except TargetRefusedError as exc:
            return f"{exc} {ALLOW_OPTION_HINT}"
    return None


@events.init.add_listener
def _on_init(environment: Environment, runner: Runner | None = None, **_kwargs: Any) -> None:
    """Refuse a non-loopback target before anything starts; on a worker, count what
    it reports to the master (listening after locust's own stats listener)."""
    if isinstance(runner, WorkerRunner):
        environment.events.report_to_master.add_listener(_count_report)
        return
    reason = refusal(environment)
    if reason is not None:
        logging.error("channels-harness: %s", reason)
        sys.exit(REFUSED_EXIT_CODE)


def _count_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    for entry in data.get("stats", []):
        counts = _reported.setdefault((entry["method"], entry["name"]), [0, 0])
        counts[0] += int(entry["num_requests"])
        counts[1] += int(entry["num_failures"])
    for key, error in data.get("errors", {}).items():
        seen = _reported_errors.setdefault(key, {**error, "occurrences": 0})
        seen["occurrences"] += int(error["occurrences"])


def worker_report_path(path: str, pid: int) -> str:
    """Where the worker ``pid`` writes the report of ``--ws-report-file path``."""
    stem = path[: -len(".json")] if path.endswith(".json") else path
    return f"{stem}.worker-{pid}.json"


@events.quitting.add_listener
def _write_report(environment: Environment, **_kwargs: Any) -> None:
    """With ``--ws-report-file``: the errors (message, count) and the resolution used.

    Locust's ``--json-file`` holds the request statistics but not the error
    messages, and its failures CSV can be a second old at exit.
    """
    path = getattr(environment.parsed_options, "ws_report_file", "")
    runner = environment.runner
    if not path or runner is None or runner.stats is None:
        return
    report: dict[str, Any] = {"resolution_ms": RESOLUTION_MS, "bucketing": BUCKETING}
    errors: list[Any]
    if isinstance(runner, WorkerRunner):
        # A worker's own statistics are reset at every report: keep what it sent.
        path = worker_report_path(path, os.getpid())
        errors = list(_reported_errors.values())
        report["reported"] = [
            {"method": method, "name": name, "requests": counts[0], "failures": counts[1]}
            for (method, name), counts in sorted(_reported.items())
        ]
    else:
        errors = list(runner.stats.serialize_errors().values())
    report["errors"] = [
        {key: error[key] for key in ("method", "name", "error", "occurrences")} for error in errors
    ]
    try:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
    except OSError as exc:
        logging.error("channels-harness: could not write %s: %s", path, exc)


class WebSocketClosedError(Exception):
    """The server closed the connection when the client did not ask for it."""

    def __init__(self, code: int, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(f"connection closed by the server with code {code}{detail}")
        self.code = code
        self.reason = reason


class HandshakeRejectedError(Exception):
    """The server answered the opening handshake with an HTTP status, not 101."""

    def __init__(self, status: int) -> None:
        super().__init__(f"handshake rejected with HTTP {status}")
        self.status = status


class EchoMismatchError(Exception):
    """The reply differs from the message sent."""


def _close_frame_fields(data: bytes) -> tuple[int, str]:
    if len(data) < 2:
        return NO_STATUS, ""
    (code,) = struct.unpack("!H", data[:2])
    return code, data[2:].decode("utf-8", "replace")


class WebSocketClient:
    """One WebSocket connection that reports its handshake, messages and close to locust."""

    def __init__(
        self,
        environment: Environment,
        url: str,
        name: str,
        timeout: float,
        traffic: Traffic | None = None,
    ) -> None:
        self.environment = environment
        self.url = url
        self.name = name
        self.timeout = timeout
        self.traffic = traffic or Traffic()
        self.ws: websocket.WebSocket | None = None

    def report(
        self,
        request_type: str,
        started: float,
        length: int = 0,
        exception: BaseException | None = None,
    ) -> None:
        """Fire locust's request event, timed from ``started`` (a ``perf_counter``)."""
        self.environment.events.request.fire(
            request_type=request_type,
            name=self.name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=length,
            exception=exception,
            context={},
        )

    @property
    def connected(self) -> bool:
        return self.ws is not None and self.ws.connected

    def connect(self) -> bool:
        """Open the connection; report the handshake; return whether it succeeded."""
        traffic = self.traffic
        ws = websocket.WebSocket(
            skip_utf8_validation=True,
            sockopt=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            sslopt={"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
            if traffic.insecure
            else None,
        )
        origin = traffic.header("Origin")
        started = time.perf_counter()
        try:
            ws.connect(
                self.url,
                timeout=self.timeout,
                suppress_origin=origin is None,
                origin=origin,
                header=[f"{n}: {v}" for n, v in traffic.headers if n.lower() != "origin"],
                subprotocols=[traffic.subprotocol] if traffic.subprotocol else None,
            )
        except websocket.WebSocketBadStatusException as exc:
            # Its message carries the response headers (a Date among them): one
            # locust error line per second. The status is what matters.
            self.report(HANDSHAKE, started, exception=HandshakeRejectedError(exc.status_code))
            ws.shutdown()
            return False
        except Exception as exc:
            self.report(HANDSHAKE, started, exception=exc)
            ws.shutdown()
            return False
        self.report(HANDSHAKE, started)
        self.ws = ws
        return True

    def send(self, payload: str | bytes) -> None:
        """Send one data frame (text for ``str``, binary for ``bytes``)."""
        assert self.ws is not None
        opcode = (
            websocket.ABNF.OPCODE_TEXT if isinstance(payload, str) else websocket.ABNF.OPCODE_BINARY
        )
        self.ws.send(payload, opcode)

    def receive(self) -> bytes:
        """The next data message; answers pings; raises :class:`WebSocketClosedError` on close."""
        assert self.ws is not None
        ws = self.ws
        while True:
            frame = ws.recv_frame()
            opcode = frame.opcode
            if opcode in (
                websocket.ABNF.OPCODE_TEXT,
                websocket.ABNF.OPCODE_BINARY,
                websocket.ABNF.OPCODE_CONT,
            ):
                if frame.fin and opcode != websocket.ABNF.OPCODE_CONT:
                    return bytes(frame.data)
                ws.cont_frame.validate(frame)
                ws.cont_frame.add(frame)
                if ws.cont_frame.is_fire(frame):
                    _opcode, whole = ws.cont_frame.extract(frame)
                    return bytes(whole.data)
            elif opcode == websocket.ABNF.OPCODE_PING:
                ws.pong(frame.data)
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                code, reason = _close_frame_fields(frame.data)
                self.abandon(reply_code=code)
                raise WebSocketClosedError(code, reason)

    def round_trip(self, payload: str | bytes) -> bool:
        """Send ``payload``, wait for its echo, report the round trip; return success."""
        expected = payload.encode() if isinstance(payload, str) else payload
        started = time.perf_counter()
        try:
            self.send(payload)
            reply = self.receive()
            if reply != expected:
                raise EchoMismatchError(
                    f"echo of {len(expected)} bytes came back as {len(reply)} different bytes"
                )
        except Exception as exc:
            self.report(MESSAGE, started, exception=exc)
            self.abandon()
            return False
        self.report(MESSAGE, started, length=len(reply))
        return True

    def app_round_trip(self, message: str) -> bool:
        """Send ``message``, wait for the next message the server sends, check it against
        ``--ws-expect`` and report the round trip; return success."""
        started = time.perf_counter()
        try:
            self.send(message)
            reply = self.receive()
            problem = self.traffic.mismatch(reply)
            if problem is not None:
                raise EchoMismatchError(problem)
        except Exception as exc:
            self.report(MESSAGE, started, exception=exc)
            if not isinstance(exc, EchoMismatchError):
                self.abandon()
            return False
        self.report(MESSAGE, started, length=len(reply))
        return True

    def close(self) -> bool:
        """Run the closing handshake with code 1000 and report it; return success."""
        if self.ws is None:
            return False
        ws = self.ws
        started = time.perf_counter()
        try:
            ws.send_close(NORMAL_CLOSURE)
            while True:
                frame = ws.recv_frame()
                if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
            code, reason = _close_frame_fields(frame.data)
            if code not in (NORMAL_CLOSURE, NO_STATUS):
                raise WebSocketClosedError(code, reason)
        except Exception as exc:
            self.report(CLOSE, started, exception=exc)
            self.abandon()
            return False
        self.report(CLOSE, started)
        self.abandon()
        return True

    def abandon(self, reply_code: int | None = None) -> None:
        """Drop the connection without reporting (answering a server's close if given)."""
        ws, self.ws = self.ws, None
        if ws is None:
            return
        if reply_code is not None:
            # The server may already have dropped the socket.
            with contextlib.suppress(Exception):
                ws.send_close(reply_code if reply_code != NO_STATUS else NORMAL_CLOSURE)
        ws.shutdown()


class WebSocketUser(User):
    """A locust user with one :class:`WebSocketClient` to ``host`` + the scenario's path.

    Subclasses set ``scenario``, ``path`` (formatted with ``flavour``) and, in the
    locustfiles, ``flavour``.
    """

    abstract = True
    scenario: ClassVar[str] = ""
    flavour: ClassVar[str] = ""
    path: ClassVar[str] = "ws/echo/{flavour}/"

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.number = next(_user_numbers)
        self.options = environment.parsed_options
        self.client = WebSocketClient(
            environment, self.url(), self.request_name(), self.option("ws_timeout", 10.0)
        )
        self.payload = self.make_payload(self.option("ws_payload_size", 32))

    def option(self, name: str, default: Any) -> Any:
        """A ``--ws-*`` option, or ``default`` when locust runs without a parser (tests)."""
        return getattr(self.options, name, default) if self.options is not None else default

    def url_path(self) -> str:
        return self.option("ws_path", "") or self.path.format(flavour=self.flavour)

    def base_url(self) -> str:
        """This user's server: ``--ws-hosts`` round-robin by user number, else ``--host``."""
        hosts = comma_list(self.option("ws_hosts", ""))
        if hosts:
            return hosts[self.number % len(hosts)]
        return self.host or ""

    def url(self) -> str:
        """The user's server (:meth:`base_url`) joined with the path (``{conn}`` replaced)."""
        path = self.url_path().lstrip("/").replace("{conn}", str(self.number))
        return f"{self.base_url().rstrip('/')}/{path}"

    def request_name(self) -> str:
        """How locust names this user's requests: ``scenario/flavour``."""
        if self.option("ws_path", ""):
            return f"{self.scenario} {self.url_path()}"
        return f"{self.scenario}/{self.flavour}"

    def make_payload(self, size: int) -> str | bytes:
        """``size`` bytes of text, or of bytes with ``--ws-binary``."""
        if self.option("ws_binary", False):
            return bytes(i % 251 for i in range(size))
        return "x" * size

    def ensure_connected(self) -> bool:
        """Connect if not connected; after a failed handshake pause before the next try."""
        if self.client.connected:
            return True
        if self.client.connect():
            return True
        gevent.sleep(RECONNECT_PAUSE_S)
        return False

    def on_start(self) -> None:
        """Stop the run with a clear message when the target is not allowed (a host
        typed in the web UI, or a worker's, are known only now)."""
        allow = bool(self.option("ws_allow_remote_target", False))
        try:
            check_target(self.client.url, allow_remote=allow)
        except TargetRefusedError as exc:
            self._stop_run(f"{exc} {ALLOW_OPTION_HINT}")
        try:
            self.client.traffic = traffic_of(self.environment, self.base_url())
        except HarnessError as exc:
            self._stop_run(str(exc))

    def _stop_run(self, message: str) -> NoReturn:
        """Stop the whole run with exit code 2 and ``message``, as a refused target does."""
        logging.error("channels-harness: %s", message)
        self.environment.process_exit_code = REFUSED_EXIT_CODE
        runner = self.environment.runner
        if runner is not None:
            gevent.spawn(runner.stop)
        raise StopUser(f"channels-harness: {message}")

    def on_stop(self) -> None:
        self.client.abandon()


class EchoUser(WebSocketUser):
    """Closed-loop ping-pong on one connection: send, wait for the echo, repeat."""

    abstract = True
    scenario = "echo"

    def wait_time(self) -> float:
        return 0.0

    @task
    def echo(self) -> None:
        if self.ensure_connected():
            self.client.round_trip(self.payload)


class ChurnUser(WebSocketUser):
    """Connect, one message, close, repeat: handshakes per second and their latency."""

    abstract = True
    scenario = "churn"

    def wait_time(self) -> float:
        return 0.0

    @task
    def churn(self) -> None:
        if self.ensure_connected() and self.client.round_trip(self.payload):
            self.client.close()


class IdleUser(WebSocketUser):
    """Hold a connection open with a message every ``--ws-idle-interval`` seconds."""

    abstract = True
    scenario = "idle"

    def wait_time(self) -> float:
        return float(self.option("ws_idle_interval", 5.0))

    @task
    def ping(self) -> None:
        if self.ensure_connected():
            self.client.round_trip(self.payload)


class FanoutUser(WebSocketUser):
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

    def url_path(self) -> str:
        return self.option("ws_path", "") or self.path.format(
            room=self.room(), flavour=self.flavour
        )

    def wait_time(self) -> float:
        return float(self.option("ws_fanout_interval", 1.0))

    def make_payload(self, size: int) -> str | bytes:
        return "x" * max(0, size - 40)

    @task
    def broadcast(self) -> None:
        if not self.client.connected:
            if self.receiver is not None:
                self.receiver.kill()
            if not self.ensure_connected():
                return
            self.receiver = gevent.spawn(self._receive_loop)
        message = json.dumps({"t": time.monotonic_ns(), "pad": self.payload})
        try:
            self.client.send(message)
        except Exception as exc:
            self.client.report(MESSAGE, time.perf_counter(), exception=exc)
            self.client.abandon()

    def _receive_loop(self) -> None:
        while self.client.connected:
            try:
                data = self.client.receive()
                sent_ns = json.loads(data)["t"]
            except Exception as exc:
                if self.client.connected or isinstance(exc, WebSocketClosedError):
                    self.client.report(MESSAGE, time.perf_counter(), exception=exc)
                self.client.abandon()
                return
            self.environment.events.request.fire(
                request_type=MESSAGE,
                name=self.client.name,
                response_time=(time.monotonic_ns() - sent_ns) / 1e6,
                response_length=len(data),
                exception=None,
                context={},
            )

    def on_stop(self) -> None:
        if self.receiver is not None:
            self.receiver.kill(block=False)
        super().on_stop()


class AppUser(WebSocketUser):
    """Your app: on ``--ws-path``, send ``--ws-message`` texts in turn; a round trip
    ends at the next message the server sends (checked against ``--ws-expect``)."""

    abstract = True
    scenario = "app"
    path = "/"

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.sent = 0

    def on_start(self) -> None:
        super().on_start()
        if not self.client.traffic.messages:
            self._stop_run("AppUser needs --ws-message or --ws-message-file")

    def request_name(self) -> str:
        return f"{self.scenario} {self.url_path()}"

    def wait_time(self) -> float:
        return 0.0

    @task
    def message(self) -> None:
        if self.ensure_connected():
            text = self.client.traffic.message(self.sent, self.number)
            self.sent += 1
            self.client.app_round_trip(text)
