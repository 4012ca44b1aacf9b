"""Control frames: pings and pongs of every shape, and frames with bits or opcodes
no extension gave a meaning.

See RFC 6455 5.2 (RSV bits must be 0 and opcodes 0x3-0x7 and 0xB-0xF are
reserved unless an extension says otherwise: the connection fails), 5.4
(control frames are never fragmented), 5.5.2 and 5.5.3 (a ping gets a pong
with the same data, "as soon as practical"; an endpoint may answer only the
most recent of several pings; an unsolicited pong gets no answer). Once the
connection has failed nothing after the bad frame is processed: the ping
sent right behind it must go unanswered.
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
    ending,
    expect_connection_failed,
    open_echo,
)
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import wire
from channels_harness.protocol.rawclient import Closing
from channels_harness.protocol.wire import Opcode
from channels_harness.servers.process import ServerProcess

MARKER_FRAME = wire.build_frame(Opcode.TEXT, MARKER.encode())
RESERVED_OPCODES = (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)


@case("RFC 6455 5.5.2, 5.5.3")
def test_empty_ping_gets_an_empty_pong(server: ServerProcess, verdict: Verdict) -> None:
    """A ping without payload is answered by a pong without payload."""
    with open_echo(server) as conn:
        conn.send_raw(wire.build_frame(Opcode.PING, b"") + MARKER_FRAME)
        got = exchange(conn)
        conn.send_close(1000)
    verdict.must(
        got.events == [("pong", b"")],
        expected="one empty pong",
        observed=got.describe(),
    )


@case("RFC 6455 5.5.2, 5.5.3")
def test_ten_pings_get_their_pongs(server: ServerProcess, verdict: Verdict) -> None:
    """Ten pings sent at once get pongs carrying their payloads (at least the last one)."""
    payloads = [b"ping %d" % i for i in range(10)]
    for name, chop in (("in one write", None), ("one byte per write", 1)):
        with open_echo(server) as conn:
            data = b"".join(wire.build_frame(Opcode.PING, p) for p in payloads) + MARKER_FRAME
            conn.send_chopped(data, chop or len(data))
            got = exchange(conn)
            conn.send_close(1000)
        pongs = got.pongs()
        seen = f"{name}: {len(pongs)} pongs {pongs[:3]}{'...' if len(pongs) > 3 else ''}"
        verdict.must(
            bool(pongs) and pongs[-1] == payloads[-1] and set(pongs) <= set(payloads),
            expected="pongs echo ping payloads, the last ping answered",
            observed=seen + ("" if got.closing is None else f"; {got.closing.describe()}"),
        )
        if pongs != payloads:
            verdict.info(f"{name}: answered {len(pongs)} of 10 pings (allowed: the latest)")


@case("RFC 6455 5.5.2")
def test_ping_written_one_byte_at_a_time_gets_its_pong(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A 125-byte ping written one byte per TCP write is answered in full."""
    payload = bytes(range(125))
    with open_echo(server) as conn:
        conn.send_chopped(wire.build_frame(Opcode.PING, payload), 1)
        got = exchange(conn, messages=0, pongs=1)
        conn.send_close(1000)
    verdict.must(
        got.pongs() == [payload],
        expected="one pong with the 125-byte payload",
        observed=got.describe(),
    )


@case("RFC 6455 5.5.3")
def test_unsolicited_pongs_then_a_ping_get_one_pong(
    server: ServerProcess, verdict: Verdict
) -> None:
    """An empty pong and a pong with data get no answer; the ping after them gets its pong."""
    with open_echo(server) as conn:
        conn.send_raw(
            frames((Opcode.PONG, b""), (Opcode.PONG, b"unasked"), (Opcode.PING, b"asked"))
            + MARKER_FRAME
        )
        got = exchange(conn)
        conn.send_close(1000)
    verdict.must(
        got.events == [("pong", b"asked")],
        expected="exactly one pong, b'asked'",
        observed=got.describe(),
    )


@case("RFC 6455 5.2", bad_input=True)
def test_rsv_bits_on_control_frames_fail_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A ping with RSV2+RSV3 set, and a close with all three RSV bits, fail the connection."""
    for opcode, rsv, body in (
        (Opcode.PING, 3, b"rsv"),
        (Opcode.CLOSE, 7, wire.close_payload(1000)),
    ):
        closing = after_sending(server, wire.build_frame(opcode, body, rsv=rsv))
        expect_connection_failed(verdict, closing, PROTOCOL_ERROR)


@case("RFC 6455 5.2", bad_input=True)
def test_every_reserved_opcode_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Frames with each reserved opcode (3-7, B-F), empty and not, fail the connection."""
    outcomes: list[tuple[str, Closing]] = []
    for opcode in RESERVED_OPCODES:
        for body in (b"", b"reserved"):
            data = wire.build_frame(opcode, body) + wire.build_frame(Opcode.PING, b"after")
            outcomes.append(
                (f"0x{opcode:X}{' + data' if body else ''}", after_sending(server, data))
            )
    for name, closing in outcomes:
        verdict.observe("close", ending(closing))
        verdict.must(
            not closing.data and (closing.frame is not None or closing.eof),
            expected="each reserved opcode fails the connection, nothing delivered",
            observed=f"opcode {name}: {closing.describe()}",
        )
    codes = sorted({str(closing.code) for _, closing in outcomes})
    verdict.should(
        all(closing.code == PROTOCOL_ERROR for _, closing in outcomes),
        expected=f"close {PROTOCOL_ERROR} each time",
        observed=f"close codes seen: {', '.join(codes)} ({outcomes[0][1].describe()})",
    )


# After a good message: a frame with RSV bits or a reserved opcode, then a ping.
AFTER_GOOD = (
    ("text with RSV2", wire.build_frame(Opcode.TEXT, b"bad", rsv=2)),
    ("text with RSV1+RSV2", wire.build_frame(Opcode.TEXT, b"bad", rsv=3)),
    ("binary with RSV1", wire.build_frame(Opcode.BINARY, b"bad", rsv=4)),
    *((f"opcode 0x{op:X}", wire.build_frame(op, b"reserved")) for op in (5, 6, 7, 0xD, 0xE, 0xF)),
)


@case("RFC 6455 5.2, 7.1.7", bad_input=True)
def test_bad_frame_after_a_good_message_fails_before_the_next_ping(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A good message is echoed; a bad frame after it fails the connection; the ping behind
    the bad frame gets no pong."""
    for name, bad in AFTER_GOOD:
        with open_echo(server) as conn:
            conn.send_text("good")
            first = exchange(conn, messages=1)
            conn.send_raw(bad + wire.build_frame(Opcode.PING, b"too late"))
            closing = conn.wait_closing(1.5)
        verdict.must(
            first.messages() == [("text", b"good")],
            expected="the good message echoed",
            observed=f"{name}: {first.describe()}",
        )
        answered = [p for p in conn.pongs if p == b"too late"]
        verdict.must(
            not closing.data and not answered and (closing.frame is not None or closing.eof),
            expected="the connection fails, the ping behind the bad frame unanswered",
            observed=f"{name}: {closing.describe()}"
            + (" and the ping got its pong" if answered else ""),
        )


@case("RFC 6455 5.4, 5.5", bad_input=True)
def test_fragmented_pong_fails_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """A pong with FIN clear (a fragmented control frame) fails the connection (1002)."""
    data = frames((Opcode.PONG, b"half", False), (Opcode.CONT, b"pong"))
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)
