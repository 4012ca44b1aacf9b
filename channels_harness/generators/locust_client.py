"""The WebSocket client of every harness locust user (public as :mod:`channels_harness.locust`).

One :class:`WebSocketClient` is one user's connection: websocket-client on
gevent-patched sockets with ``TCP_NODELAY``, reporting to locust as request
events. Its conversation is judged by the scenario core
(:class:`channels_harness.protocol.conversation.Conversation`), so a check written
in Python (``request(..., expect={"type": "message"})``) means exactly what the
same check means in a scenario file.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import ssl
import struct
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gevent
import locust.env  # before websocket: gevent's monkey-patching first
import websocket

from channels_harness.errors import UsageError
from channels_harness.generators.locust_types import (
    CLOSE,
    HANDSHAKE,
    MESSAGE,
    OTHER,
    PUSH,
)
from channels_harness.protocol.conversation import Conversation, Done, Event, Frame, Other
from channels_harness.protocol.scenario import Scenario, Step, make_step, render

NORMAL_CLOSURE = 1000
NO_STATUS = 1005
# After a failed handshake a user waits this long before trying again.
RECONNECT_PAUSE_S = 0.5
# Distinct failure messages shown per request name and process; later ones are
# counted under one message, so a frame quoted in each message cannot flood the
# error table (and data.json) with thousands of lines.
DISTINCT_ERRORS = 20
_distinct_errors: dict[tuple[str, str], set[str]] = {}

Json = Mapping[str, Any]
Expect = Json | str | None


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


class StepFailedError(Exception):
    """A request or receive that did not get what it expected (its reason, with the
    frame at fault when there was one)."""


@dataclass(frozen=True)
class Handshake:
    """What the opening handshake carries besides the URL."""

    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    insecure: bool = False

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), if any."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def over(self, base: Handshake) -> Handshake:
        """``base`` with this handshake on top: a header here replaces ``base``'s of
        the same name (cookies are joined), subprotocols here replace ``base``'s."""
        mine = {name.lower() for name, _ in self.headers}
        headers = [(n, v) for n, v in base.headers if n.lower() not in mine]
        for name, value in self.headers:
            given = base.header(name) if name.lower() == "cookie" else None
            headers.append((name, f"{given}; {value}" if given else value))
        return Handshake(
            tuple(headers), self.subprotocols or base.subprotocols, self.insecure or base.insecure
        )


def _close_frame_fields(data: bytes) -> tuple[int, str]:
    if len(data) < 2:
        return NO_STATUS, ""
    (code,) = struct.unpack("!H", data[:2])
    return code, data[2:].decode("utf-8", "replace")


@functools.lru_cache(maxsize=512)
def _built_step(call: str, name: str, table: str) -> Step:
    """The :class:`Step` of one ``request``/``receive`` call, from its table as JSON
    text (so calls with the same arguments share one)."""
    return make_step(json.loads(table), name=name, where=f"{call}(name={name!r})")


def step_of(
    name: str,
    expect: Expect,
    *,
    count: int,
    until: Json | None,
    timeout: float,
    latency_from: str | None = None,
    strict: bool = False,
    send: bool = True,
) -> Step:
    """The step a ``request`` (``send``) or ``receive`` call describes: ``expect`` a
    table of JSON fields or a regular expression; UsageError for a bad argument."""
    table: dict[str, Any] = {"count": count, "timeout": timeout, "strict": strict}
    if isinstance(expect, Mapping):
        table["expect"] = dict(expect)
    elif expect is not None:
        table["regex"] = expect
    if until is not None:
        table["until"] = dict(until)
    if latency_from is not None:
        table["latency_from"] = latency_from
    if send:
        table["send"] = ""  # the caller sends the message itself
    call = "request" if send else "receive"
    try:
        text = json.dumps(table, sort_keys=True)
    except TypeError as exc:
        where = f"{call}(name={name!r})"
        raise UsageError(f"{where}: expect and until hold JSON values: {exc}") from None
    return _built_step(call, name, text)


class WebSocketClient:
    """One WebSocket connection that reports to locust: the handshake (``WS-CONNECT``),
    each request or receive (``WS``, named), push latencies (``WS-PUSH``), frames no
    request was waiting for (``WS-OTHER``, named by kind) and the close (``WS-CLOSE``).

    ``{n}`` in a message is the number of messages this client sent before it, from 0
    (in an expectation: the number of the message just sent); ``{conn}`` is ``conn``,
    the user's number. See :mod:`channels_harness.locust` for the whole contract.
    """

    def __init__(
        self,
        environment: locust.env.Environment,
        url: str,
        name: str,
        timeout: float = 10.0,
        handshake: Handshake | None = None,
        conn: int = 0,
    ) -> None:
        self.environment = environment
        self.url = url
        self.name = name
        self.timeout = timeout
        self.handshake = handshake or Handshake()
        self.conn = conn
        self.n = 0
        self.ws: websocket.WebSocket | None = None
        self.scenario: Scenario | None = None
        self.conversation: Conversation | None = None
        self.other: Counter[str] = Counter()
        self.on_connect: Callable[[], None] | None = None
        # Why this client may not connect (the run is being stopped), if so.
        self.refused: str | None = None

    # -- reporting ------------------------------------------------------------------------

    def report(
        self,
        request_type: str,
        started: float,
        length: int = 0,
        exception: BaseException | None = None,
        name: str | None = None,
    ) -> None:
        """Fire locust's request event, timed from ``started`` (a ``perf_counter``)."""
        self.fire(
            request_type,
            name or self.name,
            (time.perf_counter() - started) * 1000.0,
            length,
            exception,
        )

    def fire(
        self,
        request_type: str,
        name: str,
        response_time_ms: float | None,
        length: int = 0,
        exception: BaseException | None = None,
    ) -> None:
        """Fire locust's request event (``response_time_ms`` None: counted, not timed)."""
        if exception is not None:
            exception = self._capped(request_type, name, exception)
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=response_time_ms,
            response_length=length,
            exception=exception,
            context={},
        )

    def _capped(self, request_type: str, name: str, exception: BaseException) -> BaseException:
        seen = _distinct_errors.setdefault((request_type, name), set())
        text = str(exception)
        if text in seen or len(seen) < DISTINCT_ERRORS:
            seen.add(text)
            return exception
        return StepFailedError(
            f"{name}: another failure (its message is not shown: over "
            f"{DISTINCT_ERRORS} distinct messages in one locust process)"
        )

    # -- the connection -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.ws is not None and self.ws.connected

    def connect(self) -> bool:
        """Open the connection (``{conn}`` in the URL replaced); report the handshake;
        return whether it succeeded. A new connection starts a new conversation."""
        if not self.url:
            raise RuntimeError(
                "the client has no URL: WebSocketUser.on_start gives it one; "
                "call super().on_start() from your on_start"
            )
        handshake = self.handshake
        ws = websocket.WebSocket(
            skip_utf8_validation=True,
            sockopt=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            sslopt={"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
            if handshake.insecure
            else None,
        )
        origin = handshake.header("Origin")
        started = time.perf_counter()
        try:
            ws.connect(
                self.url.replace("{conn}", str(self.conn)),
                timeout=self.timeout,
                suppress_origin=origin is None,
                origin=origin,
                header=[f"{n}: {v}" for n, v in handshake.headers if n.lower() != "origin"],
                subprotocols=list(handshake.subprotocols) or None,
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
        scenario = self.scenario or Scenario(name=self.name, path=self.url, steps=())
        self.conversation = Conversation(scenario, self.conn)
        return True

    def ensure_connected(self) -> bool:
        """Connect if not connected and run :attr:`on_connect`; after a failed
        handshake pause :data:`RECONNECT_PAUSE_S` before saying False."""
        if self.connected:
            return True
        if self.refused is None and self.connect():
            if self.on_connect is not None:
                self.on_connect()
            return self.connected
        gevent.sleep(RECONNECT_PAUSE_S)
        return False

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

    # -- frames ---------------------------------------------------------------------------

    def send_frame(self, payload: str | bytes) -> None:
        """Send one data frame as it is (text for ``str``, binary for ``bytes``)."""
        assert self.ws is not None
        opcode = (
            websocket.ABNF.OPCODE_TEXT if isinstance(payload, str) else websocket.ABNF.OPCODE_BINARY
        )
        self.ws.send(payload, opcode)

    def next_frame(self, timeout: float | None = None) -> Frame | None:
        """The next whole data message (None when ``timeout`` seconds pass first;
        default the client's timeout, then a WebSocketTimeoutException); answers
        pings; raises :class:`WebSocketClosedError` on a close."""
        assert self.ws is not None
        ws = self.ws
        ws.settimeout(self.timeout if timeout is None else max(timeout, 0.001))
        while True:
            try:
                frame = ws.recv_frame()
            except websocket.WebSocketTimeoutException:
                if timeout is None:
                    raise
                return None
            opcode = frame.opcode
            data = (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY)
            if opcode in data and frame.fin:
                return Frame(bytes(frame.data), opcode == websocket.ABNF.OPCODE_BINARY)
            if opcode in (
                websocket.ABNF.OPCODE_TEXT,
                websocket.ABNF.OPCODE_BINARY,
                websocket.ABNF.OPCODE_CONT,
            ):
                ws.cont_frame.validate(frame)
                ws.cont_frame.add(frame)
                if ws.cont_frame.is_fire(frame):
                    first, whole = ws.cont_frame.extract(frame)
                    return Frame(bytes(whole.data), first == websocket.ABNF.OPCODE_BINARY)
            elif opcode == websocket.ABNF.OPCODE_PING:
                ws.pong(frame.data)
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                code, reason = _close_frame_fields(frame.data)
                self.abandon(reply_code=code)
                raise WebSocketClosedError(code, reason)

    def round_trip(self, payload: str | bytes) -> bool:
        """Echo: send ``payload``, wait for the same bytes back, report the round trip
        (``WS``); return success. A failure drops the connection."""
        expected = payload.encode() if isinstance(payload, str) else payload
        started = time.perf_counter()
        try:
            self.send_frame(payload)
            frame = self.next_frame()
            assert frame is not None
            if frame.data != expected:
                raise EchoMismatchError(
                    f"echo of {len(expected)} bytes came back as {len(frame.data)} different bytes"
                )
        except Exception as exc:
            self.report(MESSAGE, started, exception=exc)
            self.abandon()
            return False
        self.report(MESSAGE, started, length=len(frame.data))
        return True

    # -- the public conversation ----------------------------------------------------------

    def send(self, message: str | bytes) -> bool:
        """Send ``message`` (``{n}`` and ``{conn}`` replaced in text), connecting first
        if needed; nothing is reported unless the connection fails. Return success."""
        if not self.ensure_connected():
            return False
        text = self._render(message, self.n)
        self.n += 1
        try:
            self.send_frame(text)
        except Exception as exc:
            self.report(MESSAGE, time.perf_counter(), exception=exc, name=self.name)
            self.abandon()
            return False
        return True

    def request(
        self,
        message: str | bytes,
        expect: Expect = None,
        *,
        name: str | None = None,
        count: int = 1,
        until: Json | None = None,
        timeout: float | None = None,
        latency_from: str | None = None,
        strict: bool = False,
    ) -> list[Frame] | None:
        """Send ``message`` and wait for what it expects; report it as one ``WS``
        request named ``name``; return the frames it took (None when it failed)."""
        step = step_of(
            name or self.name,
            expect,
            count=count,
            until=until,
            timeout=self.timeout if timeout is None else timeout,
            latency_from=latency_from,
            strict=strict,
        )
        if not self.ensure_connected():
            return None
        n = self.n
        self.n += 1
        return self.run_step(step, n, message=message)

    def receive(
        self,
        expect: Expect = None,
        *,
        name: str | None = None,
        count: int = 1,
        until: Json | None = None,
        timeout: float | None = None,
        latency_from: str | None = None,
        strict: bool = False,
    ) -> list[Frame] | None:
        """Wait for ``count`` frames matching ``expect`` (pushed by the server), report
        the wait as one ``WS`` request named ``name``; return the frames it took
        (None when it failed)."""
        step = step_of(
            name or self.name,
            expect,
            count=count,
            until=until,
            timeout=self.timeout if timeout is None else timeout,
            latency_from=latency_from,
            strict=strict,
            send=False,
        )
        if not self.ensure_connected():
            return None
        return self.run_step(step, max(self.n - 1, 0), message=None)

    def run_step(
        self,
        step: Step,
        n: int,
        *,
        message: str | bytes | None = None,
        request_type: str = MESSAGE,
    ) -> list[Frame] | None:
        """Run one step instance for round ``n`` on the open connection: send
        ``message`` (default the step's own ``send``), judge every frame until the
        step ends, report it as ``request_type`` under the step's name; return the
        frames it took, or None when it failed (a lost connection is dropped)."""
        assert self.conversation is not None
        conversation = self.conversation
        started = time.perf_counter()
        pending = conversation.begin(step, n, started)
        text = pending.text if message is None else self._render(message, n)
        taken: list[Frame] = []
        ended: bool | None = None
        try:
            if text is not None:
                self.send_frame(text.encode() if step.binary and isinstance(text, str) else text)
            if pending not in conversation.pending:  # nothing to wait for
                self.fire(request_type, step.name, (time.perf_counter() - started) * 1000.0)
                return taken
            while ended is None:
                events = self._wait(conversation, pending.deadline)
                frames, ended = self._judged(events, request_type)
                taken += frames
        except Exception as exc:
            lost = conversation.abandon(time.perf_counter(), f"{type(exc).__name__}: {exc}")
            self._judged([*lost], request_type)
            self.abandon()
            return None
        return taken if ended else None

    def _wait(self, conversation: Conversation, deadline: float) -> list[Event | _Taken]:
        """The events of the next frame, or of the deadline passing first."""
        frame = self.next_frame(deadline - time.perf_counter())
        now = time.perf_counter()
        if frame is None:
            return list(conversation.expire(now))
        events: list[Event | _Taken] = [*conversation.receive(frame, now, wall=time.time())]
        # A frame the waiting step took (going on, or ending well) is part of its result.
        if not events or any(isinstance(event, Done) for event in events):
            events.insert(0, _Taken(frame))
        return events

    def _judged(
        self, events: list[Event | _Taken], request_type: str
    ) -> tuple[list[Frame], bool | None]:
        """Report ``events``; the frames the waiting step took, and whether it ended
        well (True), badly (False) or not yet (None)."""
        taken: list[Frame] = []
        ended: bool | None = None
        for event in events:
            if isinstance(event, _Taken):
                taken.append(event.frame)
            elif isinstance(event, Other):
                self.other[event.kind] += 1
                self.fire(OTHER, event.kind, None, len(event.frame.data))
            elif isinstance(event, Done):
                ended = True
                self.fire(request_type, event.step.name, event.latency_s * 1000.0)
                for latency in event.push_latencies_s:
                    self.fire(PUSH, event.step.name, latency * 1000.0)
            else:
                ended = False
                self.fire(
                    request_type,
                    event.step.name,
                    (event.ended - event.started) * 1000.0,
                    exception=StepFailedError(event.reason),
                )
        return taken, ended

    def _render(self, message: str | bytes, n: int) -> str | bytes:
        """``message`` with ``{n}`` and ``{conn}`` replaced (bytes are sent as they are)."""
        if isinstance(message, bytes):
            return message
        return render(message, {"{n}": str(n), "{conn}": str(self.conn)})


@dataclass(frozen=True)
class _Taken:
    """A frame the waiting step took without ending."""

    frame: Frame
