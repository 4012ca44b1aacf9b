"""UTF-8 in text messages: every edge of the encoding, and when invalid text is noticed.

See RFC 6455 5.6 (text is UTF-8), 8.1 (an endpoint that finds invalid UTF-8
MUST fail the connection; 1007) and RFC 3629 (what UTF-8 is: no overlong
forms, no surrogates, nothing above U+10FFFF). Noncharacters such as U+FFFE
are valid UTF-8 and must be echoed. The byte sequences are the classic UTF-8
decoder stress tests, grouped by what is wrong with them. Failing "fast" (as
soon as the invalid fragment arrives, before the message is whole) is what
RFC 6455 8.1 implies for a streaming reader; it is graded as a SHOULD.
"""

from __future__ import annotations

from collections import Counter

from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.exchange import (
    FAIL_WAIT_S,
    INVALID_DATA,
    after_sending,
    exchange,
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

HELLO = "Hello-µ@ßöäüàá-UTF-8!!".encode()
KOSME = bytes.fromhex("cebae1bdb9cf83cebcceb5")


def hexes(*values: str) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


NONCHARACTERS = [
    chr(plane * 0x10000 + low).encode() for plane in range(17) for low in (0xFFFE, 0xFFFF)
]
VALID = [
    HELLO,
    KOSME,
    *hexes("68656c6c6f24776f726c64", "68656c6c6fc2a2776f726c64", "68656c6c6fe282ac776f726c64"),
    *hexes("68656c6c6ff0a4ada2776f726c64", "ceba", "cebae1bdb9", "cebae1bdb9cf83"),
    # first and last code point of each length, and the edges around the surrogates
    *hexes("00", "c280", "e0a080", "f0908080", "7f", "dfbf", "efbfbf", "f48fbfbf"),
    *hexes("ed9fbf", "ee8080", "efbfbd"),
    # the specials block U+FFF9..U+FFFF, and every plane's two noncharacters
    *[chr(code).encode() for code in range(0xFFF9, 0x10000)],
    *NONCHARACTERS,
]
TRUNCATED = hexes(
    "ce", "cebae1", "cebae1bd", "cebae1bdb9cf", "cebae1bdb9cf83ce", "cebae1bdb9cf83cebcce",
    "c0", "e080", "f08080", "f8808080", "fc80808080", "df", "efbf", "f7bfbf", "fbbfbfbf",
    "fdbfbfbfbf",
    "c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbfbfbf",
)  # fmt: skip
BEYOND_UNICODE = hexes(
    "f888808080", "fc8480808080", "f7bfbfbf", "fbbfbfbfbf", "fdbfbfbfbfbf", "f4908080",
    "fe", "ff", "fefeffff",
)  # fmt: skip
LONE_CONTINUATIONS = [
    *hexes("80", "bf", "80bf", "80bf80", "80bf80bf", "80bf80bf80", "80bf80bf80bf"),
    bytes(range(0x80, 0xC0)),
    *[b"".join(bytes([lead, 0x20]) for lead in range(low, high)) for low, high in (
        (0xC0, 0xE0), (0xE0, 0xF0), (0xF0, 0xF8), (0xF8, 0xFC), (0xFC, 0xFE))],
]  # fmt: skip
OVERLONG = hexes(
    "c0af", "e080af", "f08080af", "f8808080af", "fc80808080af",
    "c1bf", "e09fbf", "f08fbfbf", "f887bfbfbf", "fc83bfbfbfbf",
    "c080", "e08080", "f0808080", "f880808080", "fc8080808080",
)  # fmt: skip
SURROGATES = hexes(
    "eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80", "edbfbf",
    "eda080edb080", "eda080edbfbf", "edadbfedb080", "edadbfedbfbf",
    "edae80edb080", "edae80edbfbf", "edafbfedb080", "edafbfedbfbf",
)  # fmt: skip


def expect_each_fails(server: ServerProcess, verdict: Verdict, payloads: list[bytes]) -> None:
    """Each payload as a text message on a fresh connection: each must fail it (1007)."""
    outcomes: dict[bytes, Closing] = {
        payload: after_sending(server, wire.build_frame(Opcode.TEXT, payload))
        for payload in payloads
    }
    echoed = [p.hex() for p, closing in outcomes.items() if closing.data]
    still_open = [
        p.hex() for p, closing in outcomes.items() if not closing.frame and not closing.eof
    ]
    for closing in outcomes.values():
        verdict.observe("close", ending(closing))
    endings = Counter(closing.describe() for closing in outcomes.values())
    summary = "; ".join(f"{count}x {ending}" for ending, count in endings.items())
    verdict.must(
        not echoed,
        expected="no invalid text delivered",
        observed=f"echoed: {echoed}" if echoed else f"none of {len(payloads)} echoed",
    )
    verdict.must(
        not still_open,
        expected="the connection fails every time",
        observed=f"still open after: {still_open}" if still_open else summary,
    )
    verdict.should(
        all(closing.code == INVALID_DATA for closing in outcomes.values()),
        expected=f"close {INVALID_DATA} every time",
        observed=summary,
    )


@case("RFC 6455 5.6, 8.1; RFC 3629")
def test_valid_utf8_edge_sequences_round_trip(server: ServerProcess, verdict: Verdict) -> None:
    """Text at every edge of UTF-8 (code point limits, specials, noncharacters) is echoed."""
    with open_echo(server) as conn:
        conn.send_raw(
            b"".join(wire.build_frame(Opcode.TEXT, payload) for payload in VALID)
            + wire.build_frame(Opcode.TEXT, MARKER.encode())
        )
        got = exchange(conn)
        conn.send_close(1000)
    wrong = [
        (sent.hex(), back[1].hex())
        for sent, back in zip(VALID, got.events, strict=False)
        if back != ("text", sent)
    ]
    verdict.must(
        got.events == [("text", payload) for payload in VALID],
        expected=f"all {len(VALID)} messages echoed unchanged",
        observed=f"{len(got.events)} echoed"
        + (f"; first differences {wrong[:3]}" if wrong else "")
        + ("" if got.closing is None else f"; {got.closing.describe()}"),
    )


@case("RFC 6455 5.4, 8.1")
def test_utf8_split_anywhere_across_fragments_round_trips(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Text cut into fragments at a code point edge, or one byte per fragment, is echoed whole."""
    cut = HELLO.index("ü".encode())
    variants = [
        ("two fragments at a code point edge", HELLO, [HELLO[:cut], HELLO[cut:]]),
        ("one byte per fragment", HELLO, wire.chops(HELLO, 1)),
        ("one byte per fragment", KOSME, wire.chops(KOSME, 1)),
    ]
    for name, text, parts in variants:
        with open_echo(server) as conn:
            for index, part in enumerate(parts):
                opcode = Opcode.TEXT if index == 0 else Opcode.CONT
                conn.send_frame(opcode, part, fin=index == len(parts) - 1)
            got = exchange(conn, messages=1)
            conn.send_close(1000)
        verdict.must(
            got.messages() == [("text", text)],
            expected=f"{text.decode()!r} echoed",
            observed=f"{name}: {got.describe()}",
        )


@case("RFC 6455 8.1; RFC 3629 3", bad_input=True)
def test_truncated_utf8_sequences_fail_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Text that ends inside a multi-byte sequence (or holds cut sequences) fails the connection."""
    expect_each_fails(server, verdict, TRUNCATED)


@case("RFC 6455 8.1; RFC 3629 3", bad_input=True)
def test_utf8_beyond_unicode_fails_the_connection(server: ServerProcess, verdict: Verdict) -> None:
    """5- and 6-byte forms, code points above U+10FFFF and the bytes FE and FF fail it."""
    expect_each_fails(server, verdict, BEYOND_UNICODE)


@case("RFC 6455 8.1; RFC 3629 3", bad_input=True)
def test_lone_utf8_continuation_bytes_fail_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Continuation bytes with no lead byte, and lead bytes followed by a space, fail it."""
    expect_each_fails(server, verdict, LONE_CONTINUATIONS)


@case("RFC 6455 8.1; RFC 3629 3, 10", bad_input=True)
def test_overlong_utf8_encodings_fail_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Overlong encodings (such as C0 AF for '/') fail the connection."""
    expect_each_fails(server, verdict, OVERLONG)


@case("RFC 6455 8.1; RFC 3629 3", bad_input=True)
def test_utf16_surrogates_in_utf8_fail_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """UTF-16 surrogates encoded as UTF-8 (alone or paired) fail the connection."""
    expect_each_fails(server, verdict, SURROGATES)


@case("RFC 6455 8.1, 5.4", bad_input=True)
def test_invalid_utf8_in_one_byte_fragments_fails_the_connection(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Text with a surrogate, sent one byte per fragment, fails the connection."""
    payload = KOSME + bytes.fromhex("eda080") + b"edited"
    data = b"".join(wire.message_frames(Opcode.TEXT, payload, fragment_size=1))
    expect_connection_failed(verdict, after_sending(server, data), INVALID_DATA)


# The middle part makes the text invalid: a code point above U+10FFFF (F4 90 80 80).
FAST_VARIANTS = (
    (KOSME, bytes.fromhex("f4908080"), b"edited"),
    (KOSME + b"\xf4", b"\x90", b"\x80\x80edited"),
)


STAGES = ("after the valid first fragment", "at the invalid fragment", "at the end")


def where_it_fails(server: ServerProcess, parts: tuple[bytes, bytes, bytes]) -> tuple[str, str]:
    """Send the three fragments and return when the connection failed (one of
    :data:`STAGES`, or why not) and how.

    The first two fragments are each followed by a ping: the server handles
    frames in order, so a pong back means nothing before the ping failed the
    connection and no fixed wait is needed. After the last one the case waits.
    """
    with open_echo(server) as conn:
        for index, part in enumerate(parts[:-1]):
            try:
                conn.send_frame(Opcode.TEXT if index == 0 else Opcode.CONT, part, fin=False)
                conn.send_frame(Opcode.PING, b"after %d" % index)
            except OSError as exc:
                return STAGES[index], f"TCP closed ({type(exc).__name__} while sending)"
            closing = exchange(conn, messages=0, pongs=1).closing
            if closing is not None and (closing.frame is not None or closing.eof):
                return STAGES[index], closing.describe()
            if closing is not None:
                return "never (no pong and no close within the wait)", closing.describe()
        conn.send_frame(Opcode.CONT, parts[-1])
        closing = conn.wait_closing(FAIL_WAIT_S)
    if closing.frame is not None or closing.eof:
        return STAGES[-1], closing.describe()
    return "never", closing.describe()


@case("RFC 6455 8.1, 5.4", bad_input=True)
def test_invalid_utf8_in_a_middle_fragment_fails_fast(
    server: ServerProcess, verdict: Verdict
) -> None:
    """The connection fails as soon as the invalid middle fragment arrives, not at the end."""
    for parts in FAST_VARIANTS:
        when, how = where_it_fails(server, parts)
        verdict.observe("failed", when)
        verdict.observe("close", how)
        seen = f"{parts[1].hex()} in the middle: failed {when} ({how})"
        verdict.must(
            when in STAGES[1:],
            expected="the connection fails (at the latest when the message is whole)",
            observed=seen,
        )
        verdict.should(
            when == STAGES[1],
            expected="it fails at the invalid fragment (fail fast)",
            observed=seen,
        )


@case("RFC 6455 8.1", bad_input=True)
def test_invalid_utf8_in_the_middle_of_a_frame_is_noticed(
    server: ServerProcess, verdict: Verdict
) -> None:
    """When invalid UTF-8 inside one unfinished frame is noticed: mid-frame or at its end."""
    first, middle, last = FAST_VARIANTS[1]
    frame = wire.build_frame(Opcode.TEXT, first + middle + last)
    head = len(frame) - len(first + middle + last)
    with open_echo(server) as conn:
        conn.send_raw(frame[: head + len(first) + len(middle)])
        early = conn.wait_closing(FAIL_WAIT_S / 3)
        if early.frame is None and not early.eof:
            conn.send_raw(frame[head + len(first) + len(middle) :])
            late = conn.wait_closing(FAIL_WAIT_S)
    if early.frame is not None or early.eof:
        verdict.info(f"failed mid-frame, at the invalid byte: {early.describe()}")
        return
    verdict.must(
        late.frame is not None or late.eof,
        expected="the connection fails once the frame is whole",
        observed=late.describe(),
    )
    verdict.info(f"failed once the frame was whole: {late.describe()}")
