"""Frames no conforming client sends: the server must fail the connection.

See RFC 6455 5.1 (client frames are masked), 5.2 (reserved bits and
opcodes), 5.4 (fragmentation rules), 5.5 (control frames: at most 125 bytes,
never fragmented), 5.5.1 (close payload), 7.1.7 (failing the connection:
a close frame SHOULD precede the TCP close), 7.4 (status codes) and 8.1
(invalid UTF-8: 1007). After each case a fresh connection must still echo
(the canary); a server that stops answering fails the case and is restarted.
"""

from __future__ import annotations

from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.exchange import after_sending
from channels_harness.experiments.conformance.live import (
    INVALID_DATA,
    PROTOCOL_ERROR,
    expect_connection_failed,
    expect_invalid_close_code_failed,
)
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import wire
from channels_harness.protocol.wire import Opcode
from channels_harness.servers.process import ServerProcess


@case("RFC 6455 8.1, 5.6", bad_input=True)
def test_invalid_utf8_text_fails_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """A text message that is not UTF-8 fails the connection with 1007."""
    closing = after_sending(server, wire.build_frame(Opcode.TEXT, b"ok \xff\xfe not utf-8"))
    expect_connection_failed(verdict, closing, INVALID_DATA)


@case("RFC 6455 8.1, 5.4", bad_input=True)
def test_invalid_utf8_across_fragments_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A fragmented text message ending inside a UTF-8 sequence fails with 1007."""
    data = wire.build_frame(Opcode.TEXT, b"abc", fin=False) + wire.build_frame(
        Opcode.CONT, "é".encode()[:1]
    )
    expect_connection_failed(verdict, after_sending(server, data), INVALID_DATA)


@case("RFC 6455 5.5.1, 8.1", bad_input=True)
def test_invalid_utf8_close_reason_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A close frame whose reason is not UTF-8 is answered with 1007."""
    data = wire.build_frame(Opcode.CLOSE, wire.close_payload(1000, b"\xff\xfe"))
    expect_connection_failed(verdict, after_sending(server, data), INVALID_DATA)


@case("RFC 6455 5.1", bad_input=True)
def test_unmasked_client_frame_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """An unmasked frame from the client fails the connection (1002)."""
    data = wire.build_frame(Opcode.TEXT, b"unmasked", mask=False)
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


@case("RFC 6455 5.2", bad_input=True)
def test_rsv1_without_extension_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """RSV1 set with no extension negotiated fails the connection (1002)."""
    data = wire.build_frame(Opcode.TEXT, b"rsv1", rsv=4)
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


@case("RFC 6455 5.2", bad_input=True)
def test_rsv2_and_rsv3_fail_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """RSV2 and RSV3 set fail the connection (1002)."""
    data = wire.build_frame(Opcode.BINARY, b"rsv23", rsv=3)
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


@case("RFC 6455 5.2", bad_input=True)
def test_reserved_data_opcode_fails_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """A frame with reserved non-control opcode 0x3 fails the connection (1002)."""
    data = wire.build_frame(0x3, b"reserved")
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


@case("RFC 6455 5.2", bad_input=True)
def test_reserved_control_opcode_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A frame with reserved control opcode 0xB fails the connection (1002)."""
    data = wire.build_frame(0xB, b"reserved")
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


@case("RFC 6455 5.5", bad_input=True)
def test_ping_over_125_bytes_fails_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """A ping with a 126-byte payload fails the connection (1002), no pong."""
    closing = after_sending(server, wire.build_frame(Opcode.PING, b"p" * 126))
    expect_connection_failed(verdict, closing, PROTOCOL_ERROR)


@case("RFC 6455 5.5, 5.4", bad_input=True)
def test_fragmented_ping_fails_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """A ping with FIN clear (a fragmented control frame) fails the connection (1002)."""
    data = wire.build_frame(Opcode.PING, b"half", fin=False) + wire.build_frame(
        Opcode.CONT, b"ping"
    )
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


@case("RFC 6455 5.4", bad_input=True)
def test_stray_continuation_fails_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """A continuation frame with no message to continue fails the connection (1002)."""
    data = wire.build_frame(Opcode.CONT, b"orphan")
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


@case("RFC 6455 5.4", bad_input=True)
def test_new_message_inside_fragmented_message_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A new text frame before the fragmented one is finished fails the connection (1002)."""
    data = wire.build_frame(Opcode.TEXT, b"first", fin=False) + wire.build_frame(
        Opcode.TEXT, b"second"
    )
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


@case("RFC 6455 5.5.1", bad_input=True)
def test_one_byte_close_payload_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A close frame with a 1-byte payload (half a code) is answered with 1002."""
    data = wire.build_frame(Opcode.CLOSE, b"\x03")
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


def invalid_close_code(server: ServerProcess, verdict: Verdict, code: int) -> None:
    data = wire.build_frame(Opcode.CLOSE, wire.close_payload(code))
    expect_invalid_close_code_failed(verdict, after_sending(server, data), code)


@case("RFC 6455 7.4.2", bad_input=True)
def test_close_code_below_1000_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A close frame with code 999 (unused range) is answered with 1002."""
    invalid_close_code(server, verdict, 999)


@case("RFC 6455 7.4.1", bad_input=True)
def test_close_code_1005_on_the_wire_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A close frame carrying 1005 (must never be sent) is answered with 1002."""
    invalid_close_code(server, verdict, 1005)


@case("RFC 6455 7.4.2", bad_input=True)
def test_unassigned_close_code_1016_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A close frame with unassigned protocol code 1016 is answered with 1002."""
    invalid_close_code(server, verdict, 1016)


@case("RFC 6455 7.4.2", bad_input=True)
def test_close_code_5000_fails_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """A close frame with code 5000 (outside every range) is answered with 1002."""
    invalid_close_code(server, verdict, 5000)
