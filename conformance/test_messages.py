"""Data messages: text and bytes both ways, fragmentation, order, and the event keys.

See RFC 6455 5.4 (fragmentation), 5.6 (data frames), 8.1 (UTF-8 judged on
whole messages) and ASGI www 2.5 "Receive" and "Send" (exactly one of
``bytes`` / ``text`` non-None; servers deliver whole messages).
"""

from __future__ import annotations

from typing import Any

from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.live import (
    MARKER,
    frames_before_marker,
    open_echo,
    open_probe,
    probe_marker_command,
    received,
    record,
)
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import wire
from channels_harness.protocol.rawclient import RawClient
from channels_harness.servers.process import ServerProcess

# Waits for an expected echo end as soon as it comes; long, for a loaded machine.
ECHO_WAIT_S = 3.0
STILL_OPEN = "still open"


def echo_once(
    server: ServerProcess, flavour: str, opcode: int, payload: bytes
) -> wire.Frame | None:
    """The echo of one message on ``flavour``'s echo endpoint (None if none came)."""
    with open_echo(server, flavour) as conn:
        conn.send_frame(opcode, payload)
        conn.send_text(MARKER)
        frames, _ = frames_before_marker(conn)
        conn.send_close(1000)
    return frames[0] if frames else None


def expect_echo(verdict: Verdict, reply: wire.Frame | None, opcode: int, payload: bytes) -> None:
    kind = "text" if opcode == wire.Opcode.TEXT else "binary"
    if reply is None:
        observed = "no reply within the wait"
    elif reply.opcode == wire.Opcode.CLOSE:
        observed = f"close frame {reply.payload[:2].hex()} instead of the echo"
    else:
        observed = f"opcode {reply.opcode}, {len(reply.payload)} bytes"
    verdict.observe("reply", observed)
    verdict.must(
        reply is not None and reply.opcode == opcode and reply.payload == payload,
        expected=f"the same {kind} message back ({len(payload)} bytes)",
        observed=observed,
    )


@case("RFC 6455 5.6")
def test_ascii_text_round_trips(server: ServerProcess, flavour: str, verdict: Verdict) -> None:
    """An ASCII text message comes back unchanged as text."""
    payload = b"hello, conformance"
    expect_echo(verdict, echo_once(server, flavour, wire.Opcode.TEXT, payload), 1, payload)


@case("RFC 6455 5.6")
def test_non_ascii_text_round_trips(server: ServerProcess, flavour: str, verdict: Verdict) -> None:
    """Text with 2-, 3- and 4-byte UTF-8 sequences comes back unchanged."""
    payload = "é ü \u2013 漢字 🎉 \u0301".encode()
    expect_echo(verdict, echo_once(server, flavour, wire.Opcode.TEXT, payload), 1, payload)


@case("RFC 6455 5.6")
def test_binary_with_every_byte_value_round_trips(
    server: ServerProcess, flavour: str, verdict: Verdict
) -> None:
    """A binary message holding every byte value 0-255 comes back unchanged."""
    payload = bytes(range(256)) * 4
    expect_echo(verdict, echo_once(server, flavour, wire.Opcode.BINARY, payload), 2, payload)


@case("RFC 6455 5.6")
def test_empty_text_message_is_echoed(
    server: ServerProcess, flavour: str, verdict: Verdict
) -> None:
    """An empty text message is a message: the echo consumer returns it."""
    expect_echo(verdict, echo_once(server, flavour, wire.Opcode.TEXT, b""), 1, b"")


@case("RFC 6455 5.6")
def test_empty_binary_message_is_echoed(
    server: ServerProcess, flavour: str, verdict: Verdict
) -> None:
    """An empty binary message is a message: the echo consumer returns it."""
    expect_echo(verdict, echo_once(server, flavour, wire.Opcode.BINARY, b""), 2, b"")


def send_fragments(conn: RawClient, opcode: int, parts: list[bytes]) -> None:
    for index, part in enumerate(parts):
        conn.send_frame(
            opcode if index == 0 else wire.Opcode.CONT, part, fin=index == len(parts) - 1
        )


@case("RFC 6455 5.4; ASGI 2.5 websocket (whole messages)")
def test_fragmented_text_is_reassembled(
    server: ServerProcess, flavour: str, verdict: Verdict
) -> None:
    """A text message in three fragments reaches the app whole and comes back whole."""
    with open_echo(server, flavour) as conn:
        send_fragments(conn, wire.Opcode.TEXT, [b"frag", b"ment", b"ed"])
        reply = conn.recv_message(ECHO_WAIT_S)
        conn.send_close(1000)
    expect_echo(verdict, reply, wire.Opcode.TEXT, b"fragmented")


@case("RFC 6455 5.4; ASGI 2.5 websocket (whole messages)")
def test_fragmented_binary_is_reassembled(
    server: ServerProcess, flavour: str, verdict: Verdict
) -> None:
    """A binary message in three fragments reaches the app whole and comes back whole."""
    with open_echo(server, flavour) as conn:
        send_fragments(conn, wire.Opcode.BINARY, [b"\x00\x01", b"\x02", b"\xff"])
        reply = conn.recv_message(ECHO_WAIT_S)
        conn.send_close(1000)
    expect_echo(verdict, reply, wire.Opcode.BINARY, b"\x00\x01\x02\xff")


@case("RFC 6455 5.4, 5.5.2")
def test_ping_between_fragments_is_answered(server: ServerProcess, verdict: Verdict) -> None:
    """A ping between two fragments gets its pong and the message still arrives whole."""
    with open_echo(server) as conn:
        conn.send_frame(wire.Opcode.TEXT, b"before-", fin=False)
        conn.send_frame(wire.Opcode.PING, b"mid")
        conn.send_frame(wire.Opcode.CONT, b"after")
        frames = []
        try:
            while len(frames) < 2:
                frames.append(conn.recv_frame(ECHO_WAIT_S))
        except (TimeoutError, ConnectionError):
            pass
        conn.send_close(1000)
    pongs = [f.payload for f in frames if f.opcode == wire.Opcode.PONG]
    texts = [f.payload for f in frames if f.opcode == wire.Opcode.TEXT]
    verdict.must(pongs == [b"mid"], expected="pong b'mid'", observed=f"pongs {pongs}")
    verdict.must(
        texts == [b"before-after"],
        expected="text b'before-after' echoed",
        observed=f"text frames {texts}",
    )


@case("RFC 6455 8.1")
def test_utf8_split_across_fragments_is_accepted(server: ServerProcess, verdict: Verdict) -> None:
    """A multi-byte character split between fragments is valid: the message is echoed."""
    text = "🎉".encode()
    with open_echo(server) as conn:
        send_fragments(conn, wire.Opcode.TEXT, [text[:2], text[2:]])
        try:
            reply: wire.Frame | None = conn.recv_message(ECHO_WAIT_S)
        except (TimeoutError, ConnectionError):
            reply = None
        conn.send_close(1000)
    expect_echo(verdict, reply, wire.Opcode.TEXT, text)


@case("RFC 6455 5.4; ASGI 2.5 websocket.receive")
def test_back_to_back_messages_keep_their_order(
    server: ServerProcess, flavour: str, verdict: Verdict
) -> None:
    """Fifty messages sent at once come back complete and in order, text and bytes alike."""
    sent = [(wire.Opcode.TEXT if i % 2 else wire.Opcode.BINARY, b"%d" % i) for i in range(50)]
    replies: list[tuple[int, bytes]] = []
    with open_echo(server, flavour) as conn:
        conn.send_raw(b"".join(wire.build_frame(op, data) for op, data in sent))
        try:
            while len(replies) < len(sent):
                reply = conn.recv_message(ECHO_WAIT_S)
                replies.append((reply.opcode, reply.payload))
        except (TimeoutError, ConnectionError):
            pass
        conn.send_close(1000)
    first_wrong = next((i for i, pair in enumerate(replies) if pair != sent[i]), None)
    verdict.must(
        replies == [(int(op), data) for op, data in sent],
        expected="50 echoes in the order sent, types kept",
        observed=f"{len(replies)} echoes"
        + (f", first difference at #{first_wrong}" if first_wrong is not None else ""),
    )


def probe_receives(server: ServerProcess, flavour: str, opcode: int, payload: bytes) -> list[dict]:
    """The websocket.receive events the probe got for one message."""
    conn, probe_id = open_probe(server, flavour, {"receive": []})
    with conn:
        conn.send_frame(opcode, payload)
        conn.send_close(1000)
        conn.wait_closing(1.0)
    return [e for e in received(server, probe_id) if e.get("type") == "websocket.receive"]


def one_key_set(event: dict[str, Any], key: str, value: Any) -> bool:
    other = "bytes" if key == "text" else "text"
    return event.get(key) == value and event.get(other) is None


@case("ASGI 2.5 websocket.receive")
def test_consumer_receives_text_with_only_text_set(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A text message reaches the app as one event with text set and bytes None or absent."""
    events = probe_receives(server, probe_flavour, wire.Opcode.TEXT, b"abc")
    verdict.must(
        len(events) == 1 and one_key_set(events[0], "text", "abc"),
        expected="one websocket.receive with text 'abc' and no bytes",
        observed=f"events {events}",
    )


@case("ASGI 2.5 websocket.receive")
def test_consumer_receives_bytes_with_only_bytes_set(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A binary message reaches the app as one event with bytes set and text None or absent."""
    events = probe_receives(server, probe_flavour, wire.Opcode.BINARY, b"\x00\xff")
    verdict.must(
        len(events) == 1 and one_key_set(events[0], "bytes", b"\x00\xff"),
        expected="one websocket.receive with bytes b'\\x00\\xff' and no text",
        observed=f"events {events}",
    )


@case("ASGI 2.5 websocket.receive")
def test_consumer_receives_empty_text(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """An empty text message reaches the app as text '' (not dropped, not None)."""
    events = probe_receives(server, probe_flavour, wire.Opcode.TEXT, b"")
    verdict.must(
        len(events) == 1 and one_key_set(events[0], "text", ""),
        expected="one websocket.receive with text ''",
        observed=f"events {events}",
    )


@case("ASGI 2.5 websocket.receive")
def test_consumer_receives_empty_bytes(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """An empty binary message reaches the app as bytes b'' (not dropped, not None)."""
    events = probe_receives(server, probe_flavour, wire.Opcode.BINARY, b"")
    verdict.must(
        len(events) == 1 and one_key_set(events[0], "bytes", b""),
        expected="one websocket.receive with bytes b''",
        observed=f"events {events}",
    )


def app_sends(server: ServerProcess, flavour: str, event: dict) -> tuple[list[str], dict, str]:
    """Frames the client saw, the probe record and how the connection ended after the app
    hands ``event`` to send."""
    conn, probe_id = open_probe(server, flavour, {"receive": [{"send": event}]})
    with conn:
        conn.send_text("go")
        conn.send_text(probe_marker_command())
        frames, closing = frames_before_marker(conn)
        seen = [f"{f.opcode}:{f.payload!r}" for f in frames]
        if closing is None:
            ending = STILL_OPEN
        elif closing.frame is None and not closing.eof:
            ending = "no answer (no marker, no close) within the wait"
        else:
            ending = closing.describe()
        if closing is None:
            conn.send_close(1000)
            conn.wait_closing(0.5)
    return seen, record(server, probe_id, wait_exit=False), ending


def rejected(record: dict, ending: str) -> bool:
    """Whether the server refused the event: send raised, or it closed the connection."""
    closed = ending.startswith(("close", "malformed close", "TCP closed"))
    return bool(record["send_errors"]) or closed


def describe_refusal(seen: list[str], record: dict, ending: str) -> str:
    errors = [e["error"] for e in record["send_errors"]]
    return f"frames {seen}; send errors {errors}; connection {ending}"


def observe_send(verdict: Verdict, seen: list[str], record: dict, ending: str) -> None:
    """Record what one send event gave: the frames on the wire (``frame``), what send
    raised (``send_error``) and the connection afterwards (``connection``)."""
    for frame in seen or [None]:
        verdict.observe("frame", frame)
    for error in [e["error"] for e in record["send_errors"]] or [None]:
        verdict.observe("send_error", error)
    verdict.observe("connection", ending)


@case("ASGI 2.5 websocket.send")
def test_send_with_text_and_bytes_none_sends_text(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """websocket.send with text set and bytes None (both keys present) sends the text."""
    seen, record, ending = app_sends(
        server, probe_flavour, {"type": "websocket.send", "text": "x", "bytes": None}
    )
    verdict.must(
        seen == ["1:b'x'"] and not record["send_errors"],
        expected="one text frame 'x'",
        observed=describe_refusal(seen, record, ending),
    )


@case("ASGI 2.5 websocket.send")
def test_send_with_both_keys_set_is_refused(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """websocket.send with both text and bytes set is an app error the server refuses."""
    event = {"type": "websocket.send", "text": "x", "bytes": {"$hex": "79"}}
    seen, record, ending = app_sends(server, probe_flavour, event)
    observe_send(verdict, seen, record, ending)
    verdict.must(
        len(seen) <= 1,
        expected="never two messages for one event",
        observed=describe_refusal(seen, record, ending),
    )
    verdict.should(
        rejected(record, ending) and not seen,
        expected="the event refused (send raises or the connection closes)",
        observed=describe_refusal(seen, record, ending),
    )


@case("ASGI 2.5 websocket.send")
def test_send_with_neither_key_is_refused(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """websocket.send with neither text nor bytes is an app error the server refuses."""
    seen, record, ending = app_sends(server, probe_flavour, {"type": "websocket.send"})
    observe_send(verdict, seen, record, ending)
    verdict.should(
        rejected(record, ending) and not seen,
        expected="the event refused (send raises or the connection closes)",
        observed=describe_refusal(seen, record, ending),
    )


@case("ASGI 2.5 websocket.send; RFC 6455 8.1")
def test_send_with_bytes_as_text_is_refused(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """websocket.send whose text is bytes (not UTF-8) never puts invalid text on the wire."""
    event = {"type": "websocket.send", "text": {"$hex": "ff"}}
    seen, record, ending = app_sends(server, probe_flavour, event)
    observe_send(verdict, seen, record, ending)
    verdict.must(
        "1:b'\\xff'" not in seen,
        expected="no text frame with invalid UTF-8",
        observed=describe_refusal(seen, record, ending),
    )
    verdict.should(
        rejected(record, ending) and not seen,
        expected="the event refused (send raises or the connection closes)",
        observed=describe_refusal(seen, record, ending),
    )


@case("RFC 6455 5.6; ASGI 2.5 websocket.send")
def test_app_sending_empty_text_reaches_the_client(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """websocket.send with text '' puts an empty text frame on the wire."""
    seen, record, ending = app_sends(server, probe_flavour, {"type": "websocket.send", "text": ""})
    observe_send(verdict, seen, record, ending)
    verdict.must(
        seen == ["1:b''"],
        expected="one empty text frame",
        observed=describe_refusal(seen, record, ending),
    )


@case("RFC 6455 5.6; ASGI 2.5 websocket.send")
def test_app_sending_empty_bytes_reaches_the_client(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """websocket.send with bytes b'' puts an empty binary frame on the wire."""
    event = {"type": "websocket.send", "bytes": {"$hex": ""}}
    seen, record, ending = app_sends(server, probe_flavour, event)
    observe_send(verdict, seen, record, ending)
    verdict.must(
        seen == ["2:b''"],
        expected="one empty binary frame",
        observed=describe_refusal(seen, record, ending),
    )
