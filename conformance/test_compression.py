"""permessage-deflate (RFC 7692): negotiation, compressed round trips, and the frames a
compressing peer must refuse.

See RFC 7692 5 and 7.1 (the server accepts one offer or none; its response
names only known parameters, once each, with valid values; it may not grant
a larger server window than offered, nor answer client_max_window_bits the
client did not offer), 6 (RSV1 marks the first frame of a compressed message;
set on a continuation or a control frame it fails the connection), 7.2
(bodies are raw DEFLATE, with or without context takeover) and RFC 6455 5.2
(RSV1 without a negotiated extension fails the connection). ASGI www 2.5 has
no compression events: the application sees plain messages either way.
Cases that need compression are N/A on servers that decline every offer.
"""

from __future__ import annotations

import json
import os
import random

from channels_harness.experiments.conformance import featuretable
from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.exchange import (
    FAIL_WAIT_S,
    INVALID_DATA,
    PROTOCOL_ERROR,
    after_sending,
    exchange,
)
from channels_harness.experiments.conformance.features import DEFAULT_DEFLATE_OFFER
from channels_harness.experiments.conformance.live import (
    expect_connection_failed,
    observe_closing,
    open_echo,
    open_probe,
    received,
)
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import wire
from channels_harness.protocol.rawclient import RawClient
from channels_harness.protocol.wire import DeflateOffer, Opcode
from channels_harness.servers.process import ServerProcess

DEFLATE = wire.PERMESSAGE_DEFLATE
KIB = 1 << 10
KIND = {Opcode.TEXT: "text", Opcode.BINARY: "binary"}
_random = random.Random(7692)


def chat_json(size: int) -> bytes:
    """JSON chat messages of about ``size`` bytes: repetitive, as real traffic is."""
    message = {"type": "chat.message", "room": "lobby", "user": "alice", "text": "hello there"}
    one = json.dumps(message).encode() + b"\n"
    return (one * (size // len(one) + 1))[:size]


def random_letters(size: int) -> bytes:
    """ASCII letters at random: valid text that compresses poorly."""
    return bytes(_random.choices(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", k=size))


TEXTS = {
    "empty": b"",
    "small": "héllo, compressed wörld".encode(),
    "64 KiB of chat JSON": chat_json(64 * KIB),
    "64 KiB of one letter": b"a" * (64 * KIB),
    "64 KiB of random letters": random_letters(64 * KIB),
}
BINARIES = {
    "empty": b"",
    "small": bytes(range(40)),
    "64 KiB of every byte value": bytes(range(256)) * 256,
    "64 KiB of zeros": bytes(64 * KIB),
    "64 KiB of random bytes": os.urandom(64 * KIB),
}


def deflate_echo(
    server: ServerProcess, offers: tuple[DeflateOffer, ...] = (DEFAULT_DEFLATE_OFFER,)
) -> RawClient:
    """A connected echo client that offered ``offers``."""
    return open_echo(server, deflate=offers)


def round_trips(
    conn: RawClient,
    opcode: int,
    payloads: dict[str, bytes],
    fragment_size: int | None = None,
) -> tuple[list[str], list[bool]]:
    """Send each payload compressed; return what went wrong (empty if nothing) and
    which replies came compressed."""
    problems: list[str] = []
    compressed: list[bool] = []
    for name, payload in payloads.items():
        conn.send_message(opcode, payload, compress=True, fragment_size=fragment_size)
        got = exchange(conn, messages=1)
        compressed += got.compressed
        if got.messages() != [(KIND[Opcode(opcode)], payload)]:
            problems.append(f"{name}: {got.describe()}")
            if got.closing is not None:
                break
    return problems, compressed


def replies(compressed: list[bool]) -> str:
    return f"{sum(compressed)} of {len(compressed)} replies compressed"


@case("RFC 7692 5, 7.1")
def test_deflate_offer_is_answered_validly(server: ServerProcess, verdict: Verdict) -> None:
    """A browser's offer (with client_max_window_bits) is accepted validly, or declined."""
    with deflate_echo(server) as conn:
        response = conn.response
        assert response is not None
        answered = response.header_values("sec-websocket-extensions")
        conn.send_close(1000)
        conn.wait_closing(1.0)
    if not answered:
        verdict.feature(featuretable.PERMESSAGE_DEFLATE, "declined (no extension in the 101)")
        verdict.info("offer declined: no Sec-WebSocket-Extensions in the 101")
        return
    verdict.feature(featuretable.PERMESSAGE_DEFLATE, f"agreed: {', '.join(answered)}")
    verdict.must(
        conn.deflate is not None and conn.deflate_error is None,
        expected="a valid response to the offer (RFC 7692 7.1)",
        observed=f"Sec-WebSocket-Extensions {answered}"
        + (f": {conn.deflate_error}" if conn.deflate_error else ""),
    )


# Autobahn's offer variants: (server_no_context_takeover, server_max_window_bits),
# each offer also saying client_max_window_bits, and one list of three offers.
OFFER_VARIANTS = (
    *(
        (
            DeflateOffer(
                server_no_context_takeover=takeover,
                server_max_window_bits=bits,
                client_max_window_bits=True,
            ),
        )
        for takeover, bits in (
            (False, None),
            (True, None),
            (False, 9),
            (False, 15),
            (True, 9),
            (True, 15),
        )
    ),
    (
        DeflateOffer(server_no_context_takeover=True, server_max_window_bits=9),
        DeflateOffer(server_no_context_takeover=True),
        DeflateOffer(),
    ),
)
VARIANT_SIZES = (16, 64, 256, 1024, 4 * KIB, 16 * KIB, 64 * KIB, 128 * KIB)


def describe_offers(offers: tuple[DeflateOffer, ...]) -> str:
    return " | ".join(
        offer.header().removeprefix(DEFLATE).strip("; ") or "(plain)" for offer in offers
    )


@case("RFC 7692 7.1, 7.2", wire_extension=DEFLATE)
def test_every_offer_variant_is_answered_validly_and_works(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Offers with and without no-context-takeover and window limits: each is declined, or
    accepted validly and messages of 16 bytes to 128 KiB round-trip under its terms."""
    declined = []
    for offers in OFFER_VARIANTS:
        name = describe_offers(offers)
        with deflate_echo(server, offers) as conn:
            if conn.deflate is None and conn.deflate_error is None:
                declined.append(name)
                continue
            verdict.must(
                conn.deflate_error is None,
                expected="a valid response to each offer (RFC 7692 7.1)",
                observed=f"offer {name}: {conn.deflate_error}",
            )
            if conn.deflate is None:
                continue
            payloads = {f"{size} bytes": chat_json(size) for size in VARIANT_SIZES}
            problems, _ = round_trips(conn, Opcode.TEXT, payloads)
            conn.send_close(1000)
        verdict.must(
            not problems,
            expected="messages round-trip under the agreed terms",
            observed=f"offer {name}: " + ("; ".join(problems) or "all round-tripped"),
        )
    if declined:
        verdict.info(f"declined offers: {declined}")
    verdict.feature(
        featuretable.PERMESSAGE_DEFLATE,
        f"declines {', '.join(declined)}" if declined else "accepts every offer variant tried",
    )


@case("RFC 7692 7.2; RFC 6455 5.6", wire_extension=DEFLATE)
def test_compressed_text_round_trips(server: ServerProcess, verdict: Verdict) -> None:
    """Compressed text (empty, small, 64 KiB compressible and not) comes back as sent."""
    with deflate_echo(server) as conn:
        problems, compressed = round_trips(conn, Opcode.TEXT, TEXTS)
        conn.send_close(1000)
    verdict.must(
        not problems,
        expected="every text echoed unchanged",
        observed="; ".join(problems) or "all echoed",
    )
    verdict.info(replies(compressed))


@case("RFC 7692 7.2; RFC 6455 5.6", wire_extension=DEFLATE)
def test_compressed_binary_round_trips(server: ServerProcess, verdict: Verdict) -> None:
    """Compressed binary (empty, small, 64 KiB of zeros, of random bytes) comes back as sent."""
    with deflate_echo(server) as conn:
        problems, compressed = round_trips(conn, Opcode.BINARY, BINARIES)
        conn.send_close(1000)
    verdict.must(
        not problems,
        expected="every message echoed unchanged",
        observed="; ".join(problems) or "all echoed",
    )
    verdict.info(replies(compressed))


@case("RFC 7692 6.1, 7.2; RFC 6455 5.4", wire_extension=DEFLATE)
def test_compressed_fragmented_messages_round_trip(server: ServerProcess, verdict: Verdict) -> None:
    """Compressed messages of 8 KiB to 128 KiB in fragments of 256 bytes to 32 KiB round-trip."""
    problems = []
    for size, fragment in (
        (8 * KIB, 256),
        (32 * KIB, 256),
        (128 * KIB, KIB),
        (128 * KIB, 32 * KIB),
    ):
        with deflate_echo(server) as conn:
            payloads = {f"{size // KIB} KiB in {fragment}-byte fragments": random_letters(size)}
            found, _ = round_trips(conn, Opcode.TEXT, payloads, fragment_size=fragment)
            problems += found
            conn.send_close(1000)
    verdict.must(
        not problems,
        expected="every message echoed unchanged",
        observed="; ".join(problems) or "all echoed",
    )


MANY = 200
MANY_SIZES = (16, 64, 256, 1024, 4 * KIB, 8 * KIB, 16 * KIB, 32 * KIB, 64 * KIB, 128 * KIB)
WINDOW = 20


@case("RFC 7692 7.2.3", wire_extension=DEFLATE)
def test_many_compressed_messages_keep_their_context(
    server: ServerProcess, verdict: Verdict
) -> None:
    """200 compressed messages of 16 bytes to 128 KiB in a row, sharing the compression
    context, come back complete and in order."""
    sent = [
        chat_json(MANY_SIZES[i % len(MANY_SIZES)])[: MANY_SIZES[i % len(MANY_SIZES)] - i % 7]
        for i in range(MANY)
    ]
    back: list[tuple[str, bytes]] = []
    with deflate_echo(server) as conn:
        for start in range(0, MANY, WINDOW):
            for message in sent[start : start + WINDOW]:
                conn.send_message(Opcode.TEXT, message, compress=True)
            got = exchange(conn, messages=len(sent[start : start + WINDOW]))
            back += got.messages()
            if got.closing is not None:
                break
        conn.send_close(1000)
    first_wrong = next((i for i, (_, data) in enumerate(back) if data != sent[i]), None)
    verdict.must(
        back == [("text", message) for message in sent],
        expected=f"{MANY} echoes in order, unchanged",
        observed=f"{len(back)} echoes"
        + (f", first difference at #{first_wrong}" if first_wrong is not None else ""),
    )


@case("RFC 6455 5.2; RFC 7692 6", bad_input=True)
def test_compressed_message_without_negotiation_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A compressed message (RSV1 set) on a connection without an extension fails it."""
    data = wire.build_frame(Opcode.TEXT, wire.deflate_message(b"never negotiated"), rsv=wire.RSV1)
    expect_connection_failed(verdict, after_sending(server, data), PROTOCOL_ERROR)


def fails_with_deflate(
    server: ServerProcess, verdict: Verdict, data: bytes, codes: tuple[int, ...]
) -> None:
    """Send ``data`` on a connection that agreed to deflate: it must fail the connection
    (RFC 6455 7.1.7), a close frame with one of ``codes`` first (SHOULD)."""
    with deflate_echo(server) as conn:
        agreed = conn.deflate is not None
        conn.send_raw(data)
        closing = conn.wait_closing(FAIL_WAIT_S)
    observe_closing(verdict, closing)
    verdict.must(agreed, expected="deflate agreed", observed="agreed" if agreed else "declined")
    verdict.must(
        not closing.data,
        expected="the bad message is not delivered",
        observed=f"{len(closing.data)} data frame(s) back",
    )
    ended = closing.frame is not None or closing.eof
    verdict.must(ended, expected="the server fails the connection", observed=closing.describe())
    if ended:
        verdict.should(
            closing.code in codes,
            expected=f"close frame {' or '.join(map(str, codes))} before the TCP close",
            observed=closing.describe(),
        )


@case("RFC 7692 6.1", wire_extension=DEFLATE, bad_input=True)
def test_rsv1_on_a_continuation_frame_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A compressed message whose continuation frame also has RSV1 set fails the connection."""
    body = wire.deflate_message(b"x" * 300)
    data = wire.build_frame(Opcode.TEXT, body[:5], fin=False, rsv=wire.RSV1) + wire.build_frame(
        Opcode.CONT, body[5:], rsv=wire.RSV1
    )
    fails_with_deflate(server, verdict, data, (PROTOCOL_ERROR,))


@case("RFC 7692 6", wire_extension=DEFLATE, bad_input=True)
def test_rsv1_on_a_ping_fails_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """A ping with RSV1 set fails the connection even with deflate agreed."""
    data = wire.build_frame(Opcode.PING, wire.deflate_message(b"ping"), rsv=wire.RSV1)
    fails_with_deflate(server, verdict, data, (PROTOCOL_ERROR,))


@case("RFC 7692 7.2.2; RFC 6455 7.1.7", wire_extension=DEFLATE, bad_input=True)
def test_corrupt_compressed_data_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A compressed message whose body is not DEFLATE data fails the connection (1007 or 1002)."""
    data = wire.build_frame(Opcode.BINARY, b"\xff\xff\xff\xff not deflate", rsv=wire.RSV1)
    fails_with_deflate(server, verdict, data, (INVALID_DATA, PROTOCOL_ERROR))


@case("RFC 7692 7.2; RFC 6455 8.1", wire_extension=DEFLATE, bad_input=True)
def test_compressed_invalid_utf8_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Compressed text that decompresses to invalid UTF-8 fails the connection with 1007."""
    data = wire.build_frame(
        Opcode.TEXT, wire.deflate_message(b"ok \xff\xfe not utf-8"), rsv=wire.RSV1
    )
    fails_with_deflate(server, verdict, data, (INVALID_DATA,))


@case("ASGI 2.5 websocket.receive, websocket.send; RFC 7692 7.2", wire_extension=DEFLATE)
def test_app_never_sees_compression(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """Compressed text and bytes reach the app plain; what it sends back decompresses."""
    text, data = "héllo, plain to the app " * 20, bytes(range(256)) * 4
    conn, probe_id = open_probe(server, probe_flavour, deflate=(DEFAULT_DEFLATE_OFFER,))
    with conn:
        agreed = conn.deflate is not None
        if agreed:
            conn.send_message(Opcode.TEXT, text.encode(), compress=True)
            conn.send_message(Opcode.BINARY, data, compress=True)
        got = exchange(conn, messages=2 if agreed else 0)
        conn.send_close(1000)
        conn.wait_closing(1.0)
    events = [e for e in received(server, probe_id) if e["type"] == "websocket.receive"]
    plain = [{k: v for k, v in e.items() if k != "type"} for e in events]
    verdict.must(agreed, expected="deflate agreed", observed="agreed" if agreed else "declined")
    verdict.must(
        plain
        in (
            [{"text": text}, {"bytes": data}],
            [{"text": text, "bytes": None}, {"text": None, "bytes": data}],
        ),
        expected="the app receives the plain text, then the plain bytes, nothing else",
        observed=f"events {[(list(p), len(str(p))) for p in plain]}",
    )
    verdict.must(
        got.messages() == [("text", text.encode()), ("binary", data)],
        expected="the app's echoes reach the client intact",
        observed=got.describe(),
    )
