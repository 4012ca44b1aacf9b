"""The client closes or goes away: what the server answers and what the consumer receives.

See ASGI www 2.5 "Disconnect - receive event" (the client's code; 1005 when
its close frame had none; ``reason`` added in spec 2.5) and RFC 6455 5.5 (a
close payload is at most 125 bytes), 5.5.1 (a close frame is answered by one;
nothing is processed after it), 7.1.5 (1006 when TCP closes without a close
frame) and 7.4 (which codes may be sent: 1000-1003, 1007-1011 and 3000-4999
here; 1004-1006, 1015 and the rest of 0-2999 are not).
"""

from __future__ import annotations

from channels_harness.experiments.conformance import featuretable
from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.exchange import PROTOCOL_ERROR, after_sending, frames
from channels_harness.experiments.conformance.live import (
    expect_connection_failed,
    expect_invalid_close_code_failed,
    observe_closing,
    observe_disconnects,
    open_echo,
    open_probe,
    received,
)
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import wire
from channels_harness.protocol.rawclient import RawClient
from channels_harness.protocol.wire import Opcode
from channels_harness.servers.process import ServerProcess


def disconnects(server: ServerProcess, probe_id: str) -> list[dict]:
    return [e for e in received(server, probe_id) if e["type"] == "websocket.disconnect"]


def client_closes(
    server: ServerProcess, flavour: str, code: int | None, reason: str = ""
) -> list[dict]:
    """The disconnect events the consumer got after the client closed with ``code``."""
    conn, probe_id = open_probe(server, flavour)
    with conn:
        conn.send_close(code, reason)
        conn.wait_closing(1.0)
    return disconnects(server, probe_id)


@case("ASGI 2.5 websocket.disconnect code")
def test_client_close_code_reaches_the_consumer(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """The code of the client's close frame is the disconnect event's code."""
    events = client_closes(server, probe_flavour, 4002)
    observe_disconnects(verdict, events)
    codes = [e.get("code") for e in events]
    verdict.must(codes == [4002], expected="disconnect code 4002", observed=f"codes {codes}")


@case("ASGI 2.5 websocket.disconnect reason", min_spec="2.5")
def test_client_close_reason_reaches_the_consumer(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """The reason of the client's close frame is the disconnect event's reason."""
    events = client_closes(server, probe_flavour, 4002, "client leaving")
    reasons = [e.get("reason") for e in events]
    verdict.feature(
        featuretable.CLOSE_REASON,
        "client to app: "
        + ("delivered" if reasons == ["client leaving"] else f"not delivered ({reasons})"),
    )
    verdict.must(
        reasons == ["client leaving"],
        expected="disconnect reason 'client leaving'",
        observed=f"reasons {reasons}",
    )


@case("ASGI 2.5 websocket.disconnect code")
def test_empty_close_frame_gives_1005(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A close frame without a code reaches the consumer as code 1005."""
    events = client_closes(server, probe_flavour, None)
    observe_disconnects(verdict, events)
    codes = [e.get("code") for e in events]
    verdict.must(len(codes) == 1, expected="one disconnect", observed=f"codes {codes}")
    verdict.should(codes == [1005], expected="disconnect code 1005", observed=f"codes {codes}")


@case("RFC 6455 7.1.5; ASGI 2.5 websocket.disconnect")
def test_tcp_drop_gives_1006(server: ServerProcess, probe_flavour: str, verdict: Verdict) -> None:
    """A client that drops TCP without a close frame reaches the consumer as code 1006."""
    conn, probe_id = open_probe(server, probe_flavour)
    conn.drop()
    events = disconnects(server, probe_id)
    observe_disconnects(verdict, events)
    codes = [e.get("code") for e in events]
    verdict.must(len(codes) == 1, expected="one disconnect", observed=f"codes {codes}")
    verdict.should(codes == [1006], expected="disconnect code 1006", observed=f"codes {codes}")


@case("ASGI 2.5 websocket.disconnect")
def test_client_close_gives_exactly_one_disconnect(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A normal client close (1000) gives exactly one disconnect event with 1000."""
    events = client_closes(server, probe_flavour, 1000)
    observe_disconnects(verdict, events)
    codes = [e.get("code") for e in events]
    verdict.must(len(codes) == 1, expected="one disconnect", observed=f"codes {codes}")
    verdict.should(codes == [1000], expected="disconnect code 1000", observed=f"codes {codes}")


@case("RFC 6455 5.5.1")
def test_server_answers_client_close_with_close_frame(
    server: ServerProcess, verdict: Verdict
) -> None:
    """The server answers the client's close frame with its own, echoing the code."""
    with open_echo(server) as conn:
        conn.send_close(4321, "done")
        closing = conn.wait_closing(1.0, reply=False)
    observe_closing(verdict, closing)
    verdict.must(
        closing.frame is not None, expected="a close frame back", observed=closing.describe()
    )
    verdict.should(closing.code == 4321, expected="close 4321 echoed", observed=closing.describe())


@case("RFC 6455 7.1.1")
def test_server_closes_tcp_after_client_close(server: ServerProcess, verdict: Verdict) -> None:
    """After answering the client's close frame the server closes the TCP connection."""
    with open_echo(server) as conn:
        conn.send_close(1000)
        closing = conn.wait_closing(1.0, reply=False)
    verdict.should(
        closing.frame is not None and closing.eof,
        expected="close frame, then the server closes TCP",
        observed=closing.describe(),
    )


@case("RFC 6455 5.5.1")
def test_data_after_client_close_is_not_delivered(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A text frame sent after the client's close frame does not reach the app."""
    conn, probe_id = open_probe(server, probe_flavour, {"receive": []})
    with conn:
        conn.send_raw(
            wire.build_frame(wire.Opcode.CLOSE, wire.close_payload(1000))
            + wire.build_frame(wire.Opcode.TEXT, b"too late")
        )
        conn.wait_closing(1.0)
    late = [e for e in received(server, probe_id) if e["type"] == "websocket.receive"]
    verdict.must(not late, expected="no websocket.receive", observed=f"received {late}")


@case("RFC 6455 5.5.1, 7.1.2")
def test_message_then_close_at_once_gets_a_clean_close(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A message and a close in one write: a close reply with 1000, nothing after it."""
    with open_echo(server) as conn:
        conn.send_raw(
            frames((Opcode.TEXT, b"last words"), (Opcode.CLOSE, wire.close_payload(1000)))
        )
        closing = conn.wait_closing(1.0, reply=False)
    verdict.must(
        closing.frame is not None, expected="a close frame back", observed=closing.describe()
    )
    verdict.should(closing.code == 1000, expected="close 1000 echoed", observed=closing.describe())
    echoed = [frame.payload for frame in closing.data]
    verdict.must(
        echoed in ([], [b"last words"]),
        expected="at most the echo of the message, before the close frame",
        observed=f"data frames {echoed}",
    )
    verdict.info(
        "the message was echoed before the close" if echoed else "no echo before the close"
    )


def frames_until_eof(conn: RawClient) -> list[wire.Frame]:
    """Every frame the server sends until it closes TCP (bounded by the client's timeout)."""
    seen: list[wire.Frame] = []
    while True:
        try:
            seen.append(conn.recv_frame(1.0))
        except (TimeoutError, OSError):
            return seen


def after_client_close(server: ServerProcess, data: bytes) -> list[wire.Frame]:
    """What an echo connection sends back after ``data`` (which starts with a close)."""
    with open_echo(server) as conn:
        conn.send_raw(data)
        return frames_until_eof(conn)


def describe_frames(seen: list[wire.Frame]) -> str:
    return ", ".join(f"{f.opcode}:{f.payload[:20]!r}" for f in seen) or "nothing"


@case("RFC 6455 5.5.1")
def test_second_close_frame_is_ignored(server: ServerProcess, verdict: Verdict) -> None:
    """Two close frames in a row get exactly one close frame back and nothing else."""
    close = (Opcode.CLOSE, wire.close_payload(1000))
    seen = after_client_close(server, frames(close, close))
    verdict.must(
        [f.opcode for f in seen] == [Opcode.CLOSE],
        expected="one close frame, then the TCP close",
        observed=describe_frames(seen),
    )


@case("RFC 6455 5.5.1")
def test_ping_after_close_gets_no_pong(server: ServerProcess, verdict: Verdict) -> None:
    """A ping sent right after the client's close frame gets no pong."""
    seen = after_client_close(
        server, frames((Opcode.CLOSE, wire.close_payload(1000)), (Opcode.PING, b"after close"))
    )
    verdict.must(
        any(f.opcode == Opcode.CLOSE for f in seen),
        expected="a close frame back",
        observed=describe_frames(seen),
    )
    verdict.should(
        not any(f.opcode == Opcode.PONG for f in seen),
        expected="no pong after the close",
        observed=describe_frames(seen),
    )


@case("RFC 6455 5.5.1")
def test_text_after_close_gets_no_echo(server: ServerProcess, verdict: Verdict) -> None:
    """A text frame sent right after the client's close frame is never echoed."""
    seen = after_client_close(
        server, frames((Opcode.CLOSE, wire.close_payload(1000)), (Opcode.TEXT, b"too late"))
    )
    verdict.must(
        not any(f.opcode in (Opcode.TEXT, Opcode.BINARY) for f in seen),
        expected="no data frame",
        observed=describe_frames(seen),
    )


@case("RFC 6455 5.5.1, 7.1.5")
def test_empty_close_frame_gets_a_close_reply(server: ServerProcess, verdict: Verdict) -> None:
    """A close frame without payload is answered by a close frame (empty or 1000)."""
    with open_echo(server) as conn:
        conn.send_close(None)
        closing = conn.wait_closing(1.0, reply=False)
    verdict.must(
        closing.frame is not None, expected="a close frame back", observed=closing.describe()
    )
    verdict.should(
        closing.code in (None, 1000),
        expected="an empty close frame or 1000",
        observed=closing.describe(),
    )


@case("RFC 6455 5.5, 5.5.1")
def test_close_reason_of_123_bytes_is_accepted(server: ServerProcess, verdict: Verdict) -> None:
    """A close with a 123-byte reason (a 125-byte payload, the maximum) gets a clean close."""
    with open_echo(server) as conn:
        conn.send_close(1000, "r" * 123)
        closing = conn.wait_closing(1.0, reply=False)
    verdict.must(
        closing.frame is not None, expected="a close frame back", observed=closing.describe()
    )
    verdict.should(closing.code == 1000, expected="close 1000 echoed", observed=closing.describe())


@case("RFC 6455 5.5", bad_input=True)
def test_close_frame_over_125_bytes_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A close with a 124-byte reason (126-byte payload, too long) fails the connection (1002)."""
    data = wire.build_frame(Opcode.CLOSE, wire.close_payload(1000, "r" * 124))
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


VALID_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999)
INVALID_CODES = (0, 1004, 1006, 1015, 1100, 2000, 2999, 65535)


@case("RFC 6455 7.4.1, 7.4.2, 5.5.1")
def test_every_valid_close_code_gets_a_close_reply(server: ServerProcess, verdict: Verdict) -> None:
    """A client close with each valid code (1000-1003, 1007-1011, 3000-4999) is answered."""
    outcomes = {}
    for code in VALID_CODES:
        with open_echo(server) as conn:
            conn.send_close(code)
            outcomes[code] = conn.wait_closing(1.0, reply=False)
    unanswered = [code for code, closing in outcomes.items() if closing.frame is None]
    verdict.must(
        not unanswered,
        expected="a close frame back each time",
        observed=f"no close frame for {unanswered}" if unanswered else "answered every time",
    )
    replies = {code: closing.code for code, closing in outcomes.items() if closing.frame}
    other = {code: reply for code, reply in replies.items() if reply not in (code, 1000)}
    verdict.should(
        not other,
        expected="each reply echoes the code (or says 1000)",
        observed=f"replies {other}"
        if other
        else f"replies {sorted(set(map(str, replies.values())))}",
    )


@case("ASGI 2.5 websocket.disconnect code; RFC 6455 7.4")
def test_every_valid_close_code_reaches_the_consumer(
    server: ServerProcess, verdict: Verdict
) -> None:
    """The consumer's disconnect code is the client's close code, for each valid code."""
    codes = {}
    for code in VALID_CODES:
        events = client_closes(server, "async", code)
        observe_disconnects(verdict, events)
        codes[code] = [e.get("code") for e in events]
    wrong = {code: got for code, got in codes.items() if got != [code]}
    verdict.must(
        not wrong,
        expected="one disconnect with the client's code each time",
        observed=f"disconnect codes {wrong}" if wrong else f"all {len(codes)} codes delivered",
    )


@case("RFC 6455 7.4.1, 7.4.2", bad_input=True)
def test_every_invalid_close_code_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Close codes 0, 1004, 1006, 1015, 1100, 2000, 2999 and 65535 fail the connection."""
    for code in INVALID_CODES:
        closing = after_sending(server, wire.build_frame(Opcode.CLOSE, wire.close_payload(code)))
        expect_invalid_close_code_failed(verdict, closing, code)
