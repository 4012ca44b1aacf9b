"""Message sizes: every payload length encoding, large messages, many small fragments,
small TCP writes, and many messages in a row.

See RFC 6455 5.2 (payload lengths of 7, 16 and 64 bits: 125/126/127 and
65535/65536 are the edges), 5.4 (any number of fragments) and 10.4 (a server
may limit message size; over its limit it refuses with 1009, judged in
test_limits.py). Each size is tried up to the first one the server refuses;
what it refused is recorded, not judged.
"""

from __future__ import annotations

from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.exchange import exchange
from channels_harness.experiments.conformance.live import MARKER, open_echo
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import wire
from channels_harness.protocol.wire import Opcode
from channels_harness.servers.process import ServerProcess

KIB = 1 << 10
MIB = 1 << 20
EDGES = (1, 125, 126, 127, 128, 65535, 65536)
LARGE_WAIT_S = 10.0
ECHOED = "echoed"
KIND = {Opcode.TEXT: "text", Opcode.BINARY: "binary"}


def payload(opcode: int, size: int) -> bytes:
    """``size`` bytes of ASCII text or of every byte value, repeating."""
    unit = b"abcdefghijklmnopqrstuvwxyz0123456789" if opcode == Opcode.TEXT else bytes(range(256))
    return (unit * (size // len(unit) + 1))[:size]


def echo_one(
    server: ServerProcess,
    opcode: int,
    size: int,
    *,
    fragment_size: int | None = None,
    chop: int | None = None,
) -> str:
    """:data:`ECHOED`, or what happened instead, for one message on a fresh connection."""
    data = payload(opcode, size)
    frames = b"".join(wire.message_frames(opcode, data, fragment_size=fragment_size))
    with open_echo(server) as conn:
        if chop:
            conn.send_chopped(frames, chop)
            stopped = None
        else:
            stopped = conn.send_watching(frames, LARGE_WAIT_S)
        got = exchange(conn, messages=1, timeout=LARGE_WAIT_S if stopped is None else 0.5)
        if got.closing is None:
            conn.send_close(1000)
    if got.messages() == [(KIND[Opcode(opcode)], data)]:
        return ECHOED
    if got.messages():
        kind, back = got.messages()[0]
        return f"corrupted: {kind} of {len(back)} bytes back"
    return f"{stopped or 'sent'}; {got.describe()}"


def size_name(size: int) -> str:
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


def grade_sizes(verdict: Verdict, outcomes: list[tuple[str, str]]) -> None:
    """MUST: every message is echoed unchanged or refused by ending the connection."""
    bad = [
        (name, outcome)
        for name, outcome in outcomes
        if outcome != ECHOED and ("corrupted" in outcome or "still open" in outcome)
    ]
    text = "; ".join(f"{name}: {outcome}" for name, outcome in outcomes)
    verdict.must(
        not bad,
        expected="each message echoed unchanged, or refused by ending the connection",
        observed=text,
    )
    if not bad and outcomes[-1][1] != ECHOED:
        verdict.info(f"refused at {outcomes[-1][0]} ({outcomes[-1][1]}); smaller ones echoed")


def try_sizes(
    server: ServerProcess, opcode: int, sizes: tuple[int, ...], **options: int
) -> list[tuple[str, str]]:
    """Echo each size in turn, stopping at the first that is not echoed."""
    outcomes = []
    for size in sizes:
        outcome = echo_one(server, opcode, size, **options)
        outcomes.append((size_name(size), outcome))
        if outcome != ECHOED:
            break
    return outcomes


def edges_round_trip(server: ServerProcess, verdict: Verdict, opcode: int) -> None:
    messages = [payload(opcode, size) for size in EDGES]
    with open_echo(server) as conn:
        conn.send_raw(
            b"".join(wire.build_frame(opcode, message) for message in messages)
            + wire.build_frame(Opcode.TEXT, MARKER.encode())
        )
        got = exchange(conn)
        conn.send_close(1000)
    sizes = [len(message) for _, message in got.events]
    verdict.must(
        got.events == [(KIND[Opcode(opcode)], message) for message in messages],
        expected=f"{KIND[Opcode(opcode)]} messages of {list(EDGES)} bytes echoed unchanged",
        observed=f"{len(sizes)} echoes of {sizes} bytes"
        + ("" if got.closing is None else f"; {got.closing.describe()}"),
    )


@case("RFC 6455 5.2, 5.6")
def test_text_at_every_length_encoding_edge_round_trips(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Text of 1, 125, 126, 127, 128, 65535 and 65536 bytes comes back unchanged."""
    edges_round_trip(server, verdict, Opcode.TEXT)


@case("RFC 6455 5.2, 5.6")
def test_binary_at_every_length_encoding_edge_round_trips(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Binary of 1, 125, 126, 127, 128, 65535 and 65536 bytes comes back unchanged."""
    edges_round_trip(server, verdict, Opcode.BINARY)


@case("RFC 6455 5.2")
def test_messages_in_small_tcp_writes_round_trip(server: ServerProcess, verdict: Verdict) -> None:
    """64 KiB written 997 bytes at a time and 1 MiB written 64 bytes at a time are echoed."""
    outcomes = []
    for opcode in (Opcode.TEXT, Opcode.BINARY):
        for size, chop in ((64 * KIB, 997), (MIB, 64)):
            outcome = echo_one(server, opcode, size, chop=chop)
            outcomes.append((f"{KIND[opcode]} {size_name(size)} in {chop}-byte writes", outcome))
    grade_sizes(verdict, outcomes)


@case("RFC 6455 5.2, 10.4")
def test_large_text_messages_round_trip(server: ServerProcess, verdict: Verdict) -> None:
    """Text of 64 KiB, 256 KiB, 1, 4 and 16 MiB is echoed, up to the server's limit."""
    sizes = (64 * KIB, 256 * KIB, MIB, 4 * MIB, 16 * MIB)
    grade_sizes(verdict, try_sizes(server, Opcode.TEXT, sizes))


@case("RFC 6455 5.2, 10.4")
def test_large_binary_messages_round_trip(server: ServerProcess, verdict: Verdict) -> None:
    """Binary of 64 KiB, 256 KiB, 4 and 8 MiB is echoed, up to the server's limit."""
    sizes = (64 * KIB, 256 * KIB, 4 * MIB, 8 * MIB)
    grade_sizes(verdict, try_sizes(server, Opcode.BINARY, sizes))


# (message size, fragment size): many tiny fragments, then fewer larger ones.
FRAGMENTED = ((64 * KIB, 1300), (256 * KIB, 64), (MIB, KIB), (4 * MIB, 64 * KIB))


def fragmented_round_trip(server: ServerProcess, verdict: Verdict, opcode: int) -> None:
    outcomes = []
    for size, fragment in FRAGMENTED:
        outcome = echo_one(server, opcode, size, fragment_size=fragment)
        outcomes.append((f"{size_name(size)} in {-(-size // fragment)} fragments", outcome))
        if outcome != ECHOED:
            break
    grade_sizes(verdict, outcomes)


@case("RFC 6455 5.4, 10.4")
def test_large_text_in_many_fragments_round_trips(server: ServerProcess, verdict: Verdict) -> None:
    """Text of up to 4 MiB in fragments of 64 bytes to 64 KiB is reassembled and echoed."""
    fragmented_round_trip(server, verdict, Opcode.TEXT)


@case("RFC 6455 5.4, 10.4")
def test_large_binary_in_many_fragments_round_trips(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Binary of up to 4 MiB in fragments of 64 bytes to 64 KiB is reassembled and echoed."""
    fragmented_round_trip(server, verdict, Opcode.BINARY)


MANY = 1000
WINDOW = 100
MANY_SIZES = (1, 16, 64, 256, 1024, 4096)


@case("RFC 6455 5.6; ASGI 2.5 websocket.receive")
def test_a_thousand_messages_round_trip_in_order(server: ServerProcess, verdict: Verdict) -> None:
    """1000 messages, text and binary of 1 byte to 4 KiB, come back complete and in order."""
    sent = [
        (Opcode.TEXT if i % 2 else Opcode.BINARY, payload(Opcode.BINARY, MANY_SIZES[i % 6]))
        for i in range(MANY)
    ]
    sent = [
        (op, data if op == Opcode.BINARY else payload(Opcode.TEXT, len(data))) for op, data in sent
    ]
    back: list[tuple[str, bytes]] = []
    with open_echo(server) as conn:
        for start in range(0, MANY, WINDOW):
            window = sent[start : start + WINDOW]
            conn.send_raw(b"".join(wire.build_frame(op, data) for op, data in window))
            got = exchange(conn, messages=len(window))
            back += got.messages()
            if got.closing is not None:
                break
        conn.send_close(1000)
    wanted = [(KIND[op], data) for op, data in sent]
    first_wrong = next((i for i, pair in enumerate(back) if pair != wanted[i]), None)
    verdict.must(
        back == wanted,
        expected=f"{MANY} echoes in the order sent, types and bytes kept",
        observed=f"{len(back)} echoes"
        + (f", first difference at #{first_wrong}" if first_wrong is not None else ""),
    )
