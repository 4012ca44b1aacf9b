"""Fragmented messages: control frames between fragments, empty fragments, and
byte streams cut anywhere.

See RFC 6455 5.4 (control frames may be injected between the fragments of a
message and are handled at once; a continuation needs a message to continue),
5.5.1 (a close frame is answered with one; nothing after it is processed),
5.5.2 (a ping is answered "as soon as is practical") and ASGI www 2.5
"Receive" (the application gets whole messages). The byte stream is written
in one piece, frame by frame and one byte at a time: how TCP cuts it must not
matter.
"""

from __future__ import annotations

from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.exchange import (
    PROTOCOL_ERROR,
    after_sending,
    exchange,
    frames,
)
from channels_harness.experiments.conformance.live import (
    MARKER,
    expect_connection_failed,
    observe_closing,
    open_echo,
    open_probe,
    received,
)
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import wire
from channels_harness.protocol.wire import Opcode
from channels_harness.servers.process import ServerProcess

PARTS = (b"one-", b"two-", b"three")
WHOLE = b"".join(PARTS)
# After which fragments the control frames go: the first, the second, both.
POSITIONS = ((1,), (2,), (1, 2))
EARLY_PONG_WAIT_S = 1.0


def with_controls(parts: tuple[bytes, ...], controls: dict[int, list[tuple[int, bytes]]]) -> bytes:
    """A text message in ``parts`` with ``controls[i]`` sent after fragment ``i`` (1-based)."""
    out = b""
    for index, part in enumerate(parts, start=1):
        opcode = Opcode.TEXT if index == 1 else Opcode.CONT
        out += wire.build_frame(opcode, part, fin=index == len(parts))
        for control, payload in controls.get(index, []):
            out += wire.build_frame(control, payload)
    return out


def where(position: tuple[int, ...]) -> str:
    return "after fragment " + " and ".join(str(i) for i in position)


@case("RFC 6455 5.4, 5.5.2")
def test_ping_between_fragments_in_every_position_is_answered(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A ping after any fragment of a 3-part message gets its pong; the message arrives whole."""
    for position in POSITIONS:
        pings = {i: [(int(Opcode.PING), b"ping-%d" % i)] for i in position}
        with open_echo(server) as conn:
            conn.send_raw(with_controls(PARTS, pings))
            got = exchange(conn, messages=1, pongs=len(position))
            conn.send_close(1000)
        wanted = [b"ping-%d" % i for i in position]
        verdict.must(
            sorted(got.pongs()) == wanted and got.messages() == [("text", WHOLE)],
            expected=f"pongs {wanted} and the whole message {WHOLE!r}",
            observed=f"{where(position)}: {got.describe()}",
        )


@case("RFC 6455 5.4, 5.5.3")
def test_pong_between_fragments_in_every_position_is_ignored(
    server: ServerProcess, verdict: Verdict
) -> None:
    """An unsolicited pong after any fragment gets no answer; the message arrives whole."""
    for position in POSITIONS:
        pongs = {i: [(int(Opcode.PONG), b"pong-%d" % i)] for i in position}
        with open_echo(server) as conn:
            conn.send_raw(
                with_controls(PARTS, pongs) + wire.build_frame(Opcode.TEXT, MARKER.encode())
            )
            got = exchange(conn)
            conn.send_close(1000)
        verdict.must(
            got.events == [("text", WHOLE)] and got.closing is None,
            expected=f"only the whole message {WHOLE!r}",
            observed=f"{where(position)}: {got.describe()}",
        )


@case("RFC 6455 5.5.2, 5.4")
def test_ping_between_fragments_is_answered_before_the_message_ends(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A ping in the middle of a message is answered before the rest of the message is sent."""
    with open_echo(server) as conn:
        conn.send_raw(frames((Opcode.TEXT, b"a", False), (Opcode.CONT, b"b", False)))
        conn.send_frame(Opcode.PING, b"early")
        early = exchange(conn, messages=0, pongs=1, timeout=EARLY_PONG_WAIT_S)
        conn.send_raw(
            frames((Opcode.CONT, b"c", False), (Opcode.PING, b"late"), (Opcode.CONT, b"d"))
        )
        rest = exchange(conn, messages=1, pongs=2 - len(early.pongs()))
        conn.send_close(1000)
    verdict.must(
        early.pongs() + rest.pongs() == [b"early", b"late"]
        and rest.messages() == [("text", b"abcd")],
        expected="pongs 'early' and 'late' and the message 'abcd'",
        observed=f"{early.describe()}; then {rest.describe()}",
    )
    verdict.should(
        early.pongs() == [b"early"],
        expected="the pong while the message is still unfinished",
        observed=f"within {EARLY_PONG_WAIT_S} s: {early.describe()}",
    )


@case("RFC 6455 5.4, 5.5.1")
def test_close_between_fragments_ends_the_connection_cleanly(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A close after fragment 1 or 2 is answered with close 1000; the rest is ignored."""
    for position in (1, 2):
        data = with_controls(PARTS, {position: [(int(Opcode.CLOSE), wire.close_payload(1000))]})
        with open_echo(server) as conn:
            conn.send_raw(data)
            got = exchange(conn, messages=1)
        closing = got.closing
        if closing is None:
            verdict.observe("close", "still open")
        else:
            observe_closing(verdict, closing)
        seen = f"close after fragment {position}: {got.describe()}"
        verdict.must(
            not got.messages(), expected="the unfinished message never echoed", observed=seen
        )
        verdict.must(
            closing is not None and closing.frame is not None,
            expected="a close frame in reply",
            observed=seen,
        )
        verdict.should(
            closing is not None and closing.code == 1000,
            expected="the reply echoes 1000",
            observed=seen,
        )


@case("RFC 6455 5.4, 5.5.1; ASGI 2.5 websocket.receive")
def test_close_between_fragments_never_delivers_the_partial_message(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """After fragment, close, fragment the app gets no websocket.receive, only one disconnect."""
    conn, probe_id = open_probe(server, probe_flavour, {"receive": []})
    with conn:
        conn.send_raw(
            frames(
                (Opcode.BINARY, b"part", False),
                (Opcode.CLOSE, wire.close_payload(1000)),
                (Opcode.CONT, b"rest"),
            )
        )
        conn.wait_closing(1.0)
    events = received(server, probe_id)
    kinds = [event["type"] for event in events]
    verdict.must(
        "websocket.receive" not in kinds,
        expected="no websocket.receive",
        observed=f"events {[e for e in events if e['type'] == 'websocket.receive']}",
    )
    verdict.must(
        kinds.count("websocket.disconnect") == 1,
        expected="one websocket.disconnect",
        observed=f"event types {kinds}",
    )


@case("RFC 6455 5.4; ASGI 2.5 websocket.receive")
def test_fragmented_message_with_controls_reaches_the_app_once(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """Four binary fragments with a ping and a pong between them reach the app as one event."""
    conn, probe_id = open_probe(server, probe_flavour, {"receive": []})
    with conn:
        conn.send_raw(
            frames(
                (Opcode.BINARY, b"\x00\x01", False),
                (Opcode.PING, b"p"),
                (Opcode.CONT, b"\x02", False),
                (Opcode.PONG, b"q"),
                (Opcode.CONT, b"", False),
                (Opcode.CONT, b"\x03"),
            )
        )
        got = exchange(conn, messages=0, pongs=1)
        conn.send_close(1000)
        conn.wait_closing(1.0)
    events = [e for e in received(server, probe_id) if e["type"] == "websocket.receive"]
    verdict.must(
        len(events) == 1
        and events[0].get("bytes") == b"\x00\x01\x02\x03"
        and events[0].get("text") is None,
        expected="one websocket.receive with bytes b'\\x00\\x01\\x02\\x03'",
        observed=f"events {events}; on the wire {got.describe()}",
    )


@case("RFC 6455 5.4, 5.6")
def test_empty_fragments_make_up_a_message(server: ServerProcess, verdict: Verdict) -> None:
    """Three empty fragments are an empty message; empty first and last ones add nothing."""
    for parts, whole in (((b"", b"", b""), b""), ((b"", b"middle", b""), b"middle")):
        with open_echo(server) as conn:
            conn.send_raw(with_controls(parts, {}) + wire.build_frame(Opcode.TEXT, MARKER.encode()))
            got = exchange(conn)
            conn.send_close(1000)
        echoed = ", ".join(f"{kind} {payload!r}" for kind, payload in got.events)
        verdict.observe("echoed", echoed or "nothing")
        verdict.must(
            got.events == [("text", whole)],
            expected=f"the message {whole!r} echoed",
            observed=f"fragments {list(parts)}: {got.describe()}",
        )


@case("RFC 6455 5.4, 5.5.2")
def test_stream_cut_anywhere_is_read_the_same(server: ServerProcess, verdict: Verdict) -> None:
    """Fragments with a ping between them, written whole, frame by frame or byte by byte."""
    parts = [
        wire.build_frame(Opcode.TEXT, b"chop", fin=False),
        wire.build_frame(Opcode.PING, b"between"),
        wire.build_frame(Opcode.CONT, b"ped"),
    ]
    for name, pieces in (
        ("one write", [b"".join(parts)]),
        ("a write per frame", parts),
        ("a write per byte", wire.chops(b"".join(parts), 1)),
    ):
        with open_echo(server) as conn:
            for piece in pieces:
                conn.send_raw(piece)
            got = exchange(conn, messages=1, pongs=1)
            conn.send_close(1000)
        verdict.must(
            got.pongs() == [b"between"] and got.messages() == [("text", b"chopped")],
            expected="pong 'between' and the message 'chopped'",
            observed=f"{name}: {got.describe()}",
        )


@case("RFC 6455 5.4", bad_input=True)
def test_stray_unfinished_continuation_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A continuation with FIN clear and nothing to continue, then a text, fails the connection."""
    data = frames((Opcode.CONT, b"orphan", False), (Opcode.TEXT, b"after"))
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


@case("RFC 6455 5.4", bad_input=True)
def test_continuation_after_a_finished_message_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A finished 2-fragment message, then a continuation of nothing, fails the connection."""
    data = frames(
        (Opcode.TEXT, b"fini", False),
        (Opcode.CONT, b"shed"),
        (Opcode.CONT, b"orphan", False),
        (Opcode.TEXT, b"after"),
    )
    closing = after_sending(server, data)
    expect_connection_failed(verdict, closing, PROTOCOL_ERROR, allowed=(b"finished",))
