"""The sans-I/O frame layer (RFC 6455 5, 4.2.2) and the raw client over a live server."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels_harness.protocol import wire
from channels_harness.protocol.rawclient import RawClient
from channels_harness.protocol.wire import Opcode
from channels_harness.servers.process import ServerProcess


class TestFrameExamples:
    """The examples of RFC 6455 5.7, byte for byte."""

    def test_unmasked_text_hello(self) -> None:
        expected = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        assert wire.build_frame(Opcode.TEXT, b"Hello", mask=False) == expected

    def test_masked_text_hello(self) -> None:
        frame = wire.build_frame(Opcode.TEXT, b"Hello", mask_key=bytes([0x37, 0xFA, 0x21, 0x3D]))
        assert frame == bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])

    def test_parse_masked_hello_unmasks(self) -> None:
        data = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        parsed = wire.parse_frame(data)
        assert parsed == (wire.Frame(Opcode.TEXT, b"Hello", masked=True), len(data))

    def test_fragmented_hello(self) -> None:
        first = wire.build_frame(Opcode.TEXT, b"Hel", fin=False, mask=False)
        second = wire.build_frame(Opcode.CONT, b"lo", mask=False)
        assert first == bytes([0x01, 0x03, 0x48, 0x65, 0x6C])
        assert second == bytes([0x80, 0x02, 0x6C, 0x6F])

    def test_256_byte_binary_uses_16_bit_length(self) -> None:
        frame = wire.build_frame(Opcode.BINARY, b"\x00" * 256, mask=False)
        assert frame[:4] == bytes([0x82, 0x7E, 0x01, 0x00])

    def test_64_kib_binary_uses_64_bit_length(self) -> None:
        frame = wire.build_frame(Opcode.BINARY, b"\x00" * 65536, mask=False)
        assert frame[:10] == bytes([0x82, 0x7F]) + struct.pack("!Q", 65536)


class TestBuilderAcceptsWhatClientsMustNotSend:
    def test_reserved_bits_and_opcode(self) -> None:
        frame = wire.build_frame(0xB, b"", rsv=7, mask=False)
        assert frame == bytes([0x80 | 0x70 | 0x0B, 0x00])

    def test_oversized_control_frame(self) -> None:
        parsed = wire.parse_frame(wire.build_frame(Opcode.PING, b"p" * 126))
        assert parsed is not None and len(parsed[0].payload) == 126

    def test_out_of_range_values_are_refused(self) -> None:
        with pytest.raises(ValueError):
            wire.build_frame(16)
        with pytest.raises(ValueError):
            wire.build_frame(Opcode.TEXT, rsv=8)


@settings(deadline=None)
@given(
    opcode=st.integers(0, 15),
    payload=st.binary(max_size=70000),
    fin=st.booleans(),
    rsv=st.integers(0, 7),
    mask=st.booleans(),
)
def test_build_then_parse_round_trips(
    opcode: int, payload: bytes, fin: bool, rsv: int, mask: bool
) -> None:
    data = wire.build_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask)
    assert wire.parse_frame(data) == (wire.Frame(opcode, payload, fin, rsv, mask), len(data))


@settings(deadline=None)
@given(payload=st.binary(max_size=300), cut=st.integers(0, 400))
def test_incomplete_frame_parses_as_none(payload: bytes, cut: int) -> None:
    data = wire.build_frame(Opcode.BINARY, payload)
    if cut < len(data):
        assert wire.parse_frame(data[:cut]) is None


def test_parse_frames_keeps_the_rest() -> None:
    data = wire.build_frame(Opcode.TEXT, b"a") + wire.build_frame(Opcode.PING, b"b")
    frames, rest = wire.parse_frames(data + b"\x81")
    assert [f.payload for f in frames] == [b"a", b"b"]
    assert rest == b"\x81"


class TestClose:
    """RFC 6455 5.5.1: an optional 2-byte code, then a UTF-8 reason."""

    def test_payload_round_trip(self) -> None:
        assert wire.parse_close(wire.close_payload(4001, "bye é")) == (4001, "bye é".encode())

    def test_empty_payload_has_no_code(self) -> None:
        assert wire.close_payload() == b""
        assert wire.parse_close(b"") == (None, b"")

    def test_one_byte_payload_is_malformed(self) -> None:
        with pytest.raises(wire.WireError):
            wire.parse_close(b"\x03")

    def test_reason_needs_a_code(self) -> None:
        with pytest.raises(ValueError):
            wire.close_payload(None, "why")


class TestHandshake:
    def test_accept_key_of_the_rfc_example(self) -> None:
        """RFC 6455 1.3: the sample nonce and its accept value."""
        assert wire.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    def test_request_without_key(self) -> None:
        request = wire.handshake_request("h:1", "/p", None, version="8").decode()
        assert "Sec-WebSocket-Key" not in request
        assert "Sec-WebSocket-Version: 8" in request
        assert request.endswith("\r\n\r\n")

    def test_request_breaks_each_requirement_on_demand(self) -> None:
        """RFC 6455 4.2.1: method, HTTP version and every header can be changed or left out."""
        default = wire.handshake_request("h:1", "/p", "k").decode()
        assert default.startswith("GET /p HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\n")
        assert "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: k" in default
        broken = wire.handshake_request(
            None, "/p", "k", method="POST", http_version="1.0", upgrade=None, connection="close",
            version=None,
        ).decode()  # fmt: skip
        assert broken.startswith("POST /p HTTP/1.0\r\nConnection: close\r\n")
        for absent in ("Host:", "Upgrade:", "Sec-WebSocket-Version:"):
            assert absent not in broken

    def test_response_head_parses_repeated_headers(self) -> None:
        head = b"HTTP/1.1 101 Switching Protocols\r\nSet-Cookie: a=1\r\nset-cookie: b=2"
        response = wire.parse_response_head(head)
        assert response.status == 101
        assert response.header_values("SET-COOKIE") == ["a=1", "b=2"]

    def test_not_http_is_an_error(self) -> None:
        with pytest.raises(wire.WireError):
            wire.parse_response_head(b"SSH-2.0-OpenSSH")

    def test_dechunk(self) -> None:
        stream = b"4\r\nnope\r\n3;ext=1\r\n!!!\r\n0\r\n\r\n"
        assert wire.dechunk(stream) == b"nope!!!"
        assert wire.dechunk(stream[:-7]) is None


class TestMessageFrames:
    def test_one_frame_when_it_fits(self) -> None:
        frames = wire.message_frames(Opcode.TEXT, b"abc", fragment_size=3, mask=False)
        assert frames == [b"\x81\x03abc"]

    def test_fragments_carry_rsv_on_the_first_frame_only(self) -> None:
        frames = wire.message_frames(Opcode.BINARY, b"abcde", fragment_size=2, rsv=4)
        parsed = [wire.parse_frame(frame)[0] for frame in frames]  # type: ignore[index]
        assert [(f.opcode, f.payload, f.fin, f.rsv) for f in parsed] == [
            (Opcode.BINARY, b"ab", False, 4),
            (Opcode.CONT, b"cd", False, 0),
            (Opcode.CONT, b"e", True, 0),
        ]

    def test_chops(self) -> None:
        assert wire.chops(b"abcde", 2) == [b"ab", b"cd", b"e"]
        assert wire.chops(b"", 3) == [b""]
        with pytest.raises(ValueError):
            wire.chops(b"x", 0)


class TestExtensionHeaders:
    """RFC 6455 9.1: extension lists over one or several header lines."""

    def test_lists_and_lines_read_alike(self) -> None:
        parsed = wire.parse_extensions(
            ["permessage-deflate; client_max_window_bits=10, x-other", 'foo; a="1"; b']
        )
        assert parsed == [
            ("permessage-deflate", (("client_max_window_bits", "10"),)),
            ("x-other", ()),
            ("foo", (("a", "1"), ("b", None))),
        ]

    def test_offer_header(self) -> None:
        offer = wire.DeflateOffer(
            server_no_context_takeover=True, server_max_window_bits=9, client_max_window_bits=True
        )
        assert offer.header() == (
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; "
            "client_max_window_bits"
        )


class TestDeflateAgreement:
    """RFC 7692 7.1: what a client must refuse in a server's response."""

    OFFER = wire.DeflateOffer(client_max_window_bits=True)

    def test_empty_response_is_the_defaults(self) -> None:
        assert wire.deflate_agreement(self.OFFER, ()) == wire.DeflateAgreement()

    def test_parameters_are_read(self) -> None:
        params = (("server_no_context_takeover", None), ("client_max_window_bits", "10"))
        agreement = wire.deflate_agreement(self.OFFER, params)
        assert agreement.server_no_context_takeover
        assert agreement.client_max_window_bits == 10

    @pytest.mark.parametrize(
        ("offer", "params", "rule"),
        [
            (OFFER, (("x", None),), "unknown"),
            (OFFER, (("server_max_window_bits", "9"),) * 2, "more than once"),
            (OFFER, (("server_no_context_takeover", "1"),), "no value"),
            (OFFER, (("server_max_window_bits", "16"),), "outside"),
            (OFFER, (("server_max_window_bits", None),), "needs a value"),
            (OFFER, (("client_max_window_bits", "09"),), "needs a value"),
            (wire.DeflateOffer(), (("client_max_window_bits", "10"),), "not in the offer"),
            (wire.DeflateOffer(server_max_window_bits=9), (), "limited"),
            (
                wire.DeflateOffer(server_max_window_bits=9),
                (("server_max_window_bits", "10"),),
                "limited",
            ),
            (wire.DeflateOffer(server_no_context_takeover=True), (), "accepted without"),
        ],
    )
    def test_invalid_responses_are_refused(
        self, offer: wire.DeflateOffer, params: wire.ExtensionParams, rule: str
    ) -> None:
        with pytest.raises(wire.WireError, match=rule):
            wire.deflate_agreement(offer, params)


class TestDeflate:
    """RFC 7692 7.2: compressed bodies, with the examples of 7.2.3."""

    def test_hello_of_the_rfc(self) -> None:
        assert wire.deflate_message(b"Hello") == bytes.fromhex("f248cdc9c90700")
        assert wire.inflate_message(bytes.fromhex("f248cdc9c90700")) == b"Hello"

    def test_context_takeover_of_the_rfc(self) -> None:
        deflater = wire.MessageDeflater()
        assert deflater.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")
        assert deflater.compress(b"Hello") == bytes.fromhex("f200110000")
        inflater = wire.MessageInflater()
        assert inflater.decompress(bytes.fromhex("f248cdc9c90700")) == b"Hello"
        assert inflater.decompress(bytes.fromhex("f200110000")) == b"Hello"

    def test_without_context_takeover_every_message_stands_alone(self) -> None:
        deflater = wire.MessageDeflater(context_takeover=False)
        first, second = deflater.compress(b"Hello"), deflater.compress(b"Hello")
        assert first == second == wire.deflate_message(b"Hello")

    def test_corrupt_body_is_an_error(self) -> None:
        with pytest.raises(wire.WireError):
            wire.inflate_message(b"\xff\xff\xff")

    def test_session_follows_the_agreement(self) -> None:
        agreement = wire.DeflateAgreement(
            client_no_context_takeover=True, server_max_window_bits=10
        )
        session = wire.DeflateSession(agreement)
        assert not session.outgoing.context_takeover
        assert session.incoming.window_bits == 10


@settings(deadline=None)
@given(messages=st.lists(st.binary(max_size=3000), max_size=5), takeover=st.booleans())
def test_deflate_then_inflate_round_trips(messages: list[bytes], takeover: bool) -> None:
    deflater = wire.MessageDeflater(10, context_takeover=takeover)
    inflater = wire.MessageInflater(10, context_takeover=takeover)
    for message in messages:
        assert inflater.decompress(deflater.compress(message)) == message


@pytest.fixture(scope="module")
def uvicorn_server() -> Iterator[ServerProcess]:
    from channels_harness.servers.registry import get_spec

    server = ServerProcess(get_spec("uvicorn"))
    with server:
        yield server


def test_raw_client_echoes_and_closes(uvicorn_server: ServerProcess) -> None:
    """Against a live server: handshake, a fragmented message, ping, closing handshake."""
    assert uvicorn_server.port is not None
    with RawClient(uvicorn_server.host, uvicorn_server.port, "/ws/echo/async/") as conn:
        response = conn.connect()
        assert response.status == 101
        assert conn.key is not None
        assert response.header("sec-websocket-accept") == wire.accept_key(conn.key)
        conn.send_frame(Opcode.TEXT, b"ab", fin=False)
        conn.send_frame(Opcode.PING, b"p")
        conn.send_frame(Opcode.CONT, b"c")
        message = conn.recv_message()
        assert (message.opcode, message.payload) == (Opcode.TEXT, b"abc")
        assert conn.pongs == [b"p"]
        conn.send_close(1000)
        closing = conn.wait_closing()
    assert closing.code == 1000 and closing.eof


def test_raw_client_reads_an_error_response(uvicorn_server: ServerProcess) -> None:
    """An upgrade the app refuses gets its HTTP status and no socket left open."""
    assert uvicorn_server.port is not None
    with RawClient(uvicorn_server.host, uvicorn_server.port, "/ws/no-such-route/") as conn:
        response = conn.connect()
    assert response.status != 101
    assert conn.sock is None


def test_raw_client_negotiates_and_uses_permessage_deflate(uvicorn_server: ServerProcess) -> None:
    """Against a live server: a deflate offer is agreed and compressed messages round-trip."""
    assert uvicorn_server.port is not None
    offer = wire.DeflateOffer(server_no_context_takeover=True, client_max_window_bits=True)
    with RawClient(
        uvicorn_server.host, uvicorn_server.port, "/ws/echo/async/", deflate=(offer,)
    ) as conn:
        assert conn.connect().status == 101
        assert conn.deflate is not None and conn.deflate_error is None
        assert conn.deflate.agreement.server_no_context_takeover
        for payload in (b"", b"hello " * 1000, bytes(range(256))):
            sent = conn.send_message(Opcode.BINARY, payload, compress=True, fragment_size=100)
            assert wire.parse_frame(sent)[0].rsv == wire.RSV1  # type: ignore[index]
            reply = conn.recv_message()
            assert (reply.opcode, reply.payload) == (Opcode.BINARY, payload)
        conn.send_close(1000)
        assert conn.wait_closing().code == 1000
