"""Helpers the cases share for talking to a live server: connect, echo, probe."""

from __future__ import annotations

import json
import time
from typing import Any

from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import probe, wire
from channels_harness.protocol.rawclient import Closing, PeerClosed, RawClient
from channels_harness.protocol.wire import Frame, Opcode
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.remote import RemoteServer

CANARY_TEXT = "canary"
# The close codes of a failed connection (RFC 6455 7.4.1).
PROTOCOL_ERROR = 1002
INVALID_DATA = 1007


def client(server: ServerProcess, path: str, **options: Any) -> RawClient:
    """A :class:`RawClient` to ``path`` on ``server`` (not yet connected)."""
    assert server.port is not None
    options.setdefault("ssl_context", server.client_ssl_context())
    return RawClient(server.host, server.port, path, **options)


def echo_path(flavour: str) -> str:
    return f"/ws/echo/{flavour}/"


def echo_target(server: ServerProcess, flavour: str = "async") -> str:
    """The path of ``flavour``'s echo endpoint (a running server's own echo path, for
    ``--url``)."""
    return server.path if isinstance(server, RemoteServer) else echo_path(flavour)


def open_echo(server: ServerProcess, flavour: str = "async", **options: Any) -> RawClient:
    """A connected client on the echo endpoint of ``flavour`` (a running server's own
    echo path, for ``--url``); raises if refused."""
    conn = client(server, echo_target(server, flavour), **options)
    try:
        response = conn.connect()
    except BaseException:
        conn.close()
        raise
    if response.status != 101:
        conn.close()
        raise PeerClosed(f"echo handshake answered {response.status}")
    return conn


def open_probe(
    server: ServerProcess, flavour: str, script: dict[str, Any] | None = None, **options: Any
) -> tuple[RawClient, str]:
    """A client (connected) on a probe running ``script`` and the probe id."""
    probe_id = probe.new_id()
    conn = client(server, probe.probe_path(flavour, probe_id, script), **options)
    try:
        conn.connect()
    except BaseException:
        conn.close()
        raise
    return conn, probe_id


def record(server: ServerProcess, probe_id: str, *, wait_exit: bool = True) -> dict[str, Any]:
    """The probe record of ``probe_id`` (waits for the consumer to end, bounded)."""
    return probe.fetch_record(
        server.http_url(),
        probe_id,
        wait_exit=wait_exit,
        timeout=3.0,
        ssl_context=server.client_ssl_context(),
    )


def received(server: ServerProcess, probe_id: str, *, wait_exit: bool = True) -> list[dict]:
    """The ASGI events the probe consumer received."""
    return probe.received_events(record(server, probe_id, wait_exit=wait_exit))


def canary(server: ServerProcess) -> str | None:
    """None if a fresh connection to ``server`` echoes a text message, else why not."""
    if not server.running:
        return f"server process exited (code {server.popen.poll() if server.popen else '?'})"
    try:
        with open_echo(server) as conn:
            conn.send_text(CANARY_TEXT)
            reply = conn.recv_message(3.0)
            conn.send_close(1000)
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if reply.opcode != Opcode.TEXT or reply.payload != CANARY_TEXT.encode():
        return f"unexpected reply {reply.opcode} {reply.payload[:40]!r}"
    return None


def ending(closing: Closing) -> str:
    """How a connection ended, in the words observations use: ``close 1002``,
    ``close without code``, ``malformed close``, ``TCP closed`` (no close frame,
    by EOF or reset) or ``still open`` (neither within the wait)."""
    if closing.frame is not None:
        try:
            code, _ = wire.parse_close(closing.frame.payload)
        except wire.WireError:
            return "malformed close"
        return "close without code" if code is None else f"close {code}"
    return "TCP closed" if closing.eof else "still open"


def observe_closing(verdict: Verdict, closing: Closing) -> None:
    """Record how the connection ended (``close``) and the close frame's reason, if it
    had one (``close_reason``)."""
    verdict.observe("close", ending(closing))
    try:
        reason = closing.frame.close_reason() if closing.frame is not None else b""
    except wire.WireError:
        reason = b""
    if reason:
        verdict.observe("close_reason", reason.decode("utf-8", "replace"))


def observe_disconnects(verdict: Verdict, events: list[dict[str, Any]]) -> None:
    """Record the code of each of the consumer's websocket.disconnect ``events``
    (``disconnect_code``; ``no event`` when it got none)."""
    codes = [event.get("code") for event in events]
    if not codes:
        verdict.observe("disconnect_code", "no event")
    for code in codes:
        verdict.observe("disconnect_code", code)


def expect_connection_failed(
    verdict: Verdict, closing: Closing, code: int, *, allowed: tuple[bytes, ...] = ()
) -> None:
    """Grade how the server failed the connection after bad input (RFC 6455 7.1.7).

    MUST: the bad message is not delivered and the connection ends. SHOULD: a
    close frame with ``code`` comes before the TCP close. ``allowed``: echoes
    of valid messages sent before the bad frame, which may come back first.
    Observes how the connection ended.
    """
    observe_closing(verdict, closing)
    unexpected = [frame for frame in closing.data if frame.payload not in allowed]
    verdict.must(
        not unexpected,
        expected="the bad input is not delivered as a message"
        + (" (only the valid messages before it echoed)" if allowed else ""),
        observed=f"the server answered with {len(unexpected)} unexpected data frame(s)"
        + (f" {[f.payload[:40] for f in unexpected]}" if unexpected else ""),
    )
    ended = closing.frame is not None or closing.eof
    verdict.must(
        ended,
        expected="the server fails the connection",
        observed=closing.describe(),
    )
    if ended:
        verdict.should(
            closing.code == code,
            expected=f"close frame {code} before the TCP close",
            observed=closing.describe(),
        )


def expect_invalid_close_code_failed(verdict: Verdict, closing: Closing, code: int) -> None:
    """Grade the answer to a client close frame carrying ``code``, which no endpoint
    may send (RFC 6455 7.4.1, 7.4.2): the code is never echoed back, and the
    connection is failed as for any bad input (1002)."""
    verdict.must(
        closing.code != code,
        expected=f"the invalid code {code} never echoed on the wire",
        observed=f"code {code}: {closing.describe()}",
    )
    expect_connection_failed(verdict, closing, PROTOCOL_ERROR)


MARKER = "--conformance-marker--"
# A text message starting with this carries its own probe actions (target_app's probe).
PROBE_COMMAND_PREFIX = "probe:"
# Waits for something that should come: long, since they end as soon as it does.
ARRIVAL_WAIT_S = 3.0


def probe_marker_command() -> str:
    """A probe message whose only action is to send :data:`MARKER` back."""
    return PROBE_COMMAND_PREFIX + json.dumps(
        [{"send": {"type": "websocket.send", "text": MARKER}}], separators=(",", ":")
    )


def frames_before_marker(
    conn: RawClient, timeout: float = ARRIVAL_WAIT_S
) -> tuple[list[Frame], Closing | None]:
    """Data frames that arrive before the :data:`MARKER` echo the caller asked for.

    Messages are handled in order, so once the marker is back everything the
    earlier message caused has been sent: no fixed "quiet" wait is needed to
    conclude that something did not come. Returns the frames and None, or the
    frames and how the connection ended if it ended first (or the wait ran out).
    """
    frames: list[Frame] = []
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            frame = conn.frame_before(deadline)
        except TimeoutError:
            return frames, Closing(data=frames)
        except OSError:
            return frames, Closing(eof=True, data=frames)
        if frame.opcode == Opcode.PING:
            conn.send_frame(Opcode.PONG, frame.payload)
        elif frame.opcode == Opcode.CLOSE:
            closing = conn.wait_closing(0.5)
            closing.frame = frame
            closing.data = frames
            return frames, closing
        elif frame.opcode == Opcode.TEXT and frame.payload == MARKER.encode():
            return frames, None
        elif frame.opcode != Opcode.PONG:
            frames.append(frame)
