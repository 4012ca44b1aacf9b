"""Property-based frame fuzzing (RFC 6455 5 and 7.1.7) against every server.

Hypothesis builds sequences of frames with :mod:`channels_harness.protocol.wire`:
random opcodes (reserved ones too), RSV bits, masked or not, fragmented,
payload lengths across the 7/16/64-bit encodings (also non-minimal ones),
close frames with any code and invalid UTF-8. Each sequence goes to a fresh
echo connection followed by a well-formed close. Whatever the sequence, the
server must end the connection within a bound, with a well-formed close frame
or by dropping TCP, never hang, and a canary connection must still echo.

Bounded for CI: 25 examples per server, derandomized (the same examples on
every run), no shrinking (a failure prints its example; shrinking it against
a live server can take minutes).
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from channels_harness.experiments.conformance.live import canary
from channels_harness.protocol import wire
from channels_harness.protocol.rawclient import RawClient
from channels_harness.servers.pool import ServerPool
from channels_harness.servers.reference import FLAVOURS

# How long a server may take to end the connection after the final close.
END_BOUND_S = 5.0
VALID_CLOSE_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}

INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ok\xe2\x82")

payloads = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=60).map(lambda text: text.encode("utf-8")),
    st.sampled_from(INVALID_UTF8),
    st.builds(
        wire.close_payload,
        st.one_of(st.integers(0, 65535), st.sampled_from(sorted(VALID_CLOSE_CODES))),
        st.one_of(st.binary(max_size=10), st.sampled_from(INVALID_UTF8)),
    ),
    st.sampled_from([125, 126, 127, 65535, 65536]).map(lambda size: b"a" * size),
)


def non_minimal(frame: bytes) -> bytes:
    """``frame`` (short payload) re-encoded with a 64-bit length, which RFC 6455
    5.2 forbids ("the minimal number of bytes MUST be used")."""
    length = frame[1] & 0x7F
    if length >= 126:
        return frame
    return bytes([frame[0], (frame[1] & 0x80) | 127]) + struct.pack("!Q", length) + frame[2:]


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    opcode = draw(st.one_of(st.sampled_from(list(wire.Opcode)), st.integers(0, 15)), label="opcode")
    data = wire.build_frame(
        opcode,
        draw(payloads, label="payload"),
        fin=draw(st.booleans(), label="fin"),
        rsv=draw(st.one_of(st.just(0), st.integers(0, 7)), label="rsv"),
        mask=draw(st.booleans(), label="mask") or draw(st.booleans()),
    )
    return non_minimal(data) if draw(st.integers(0, 9), label="non-minimal") == 0 else data


def check_close_frame(frame: wire.Frame) -> None:
    """A server's close frame is well formed (RFC 6455 5.2, 5.5, 5.5.1, 7.4)."""
    assert not frame.masked, "a server's frames are never masked"
    assert frame.fin and frame.rsv == 0, frame
    assert len(frame.payload) <= wire.MAX_CONTROL_PAYLOAD, frame
    code, reason = wire.parse_close(frame.payload)
    assert code is None or code in VALID_CLOSE_CODES or 3000 <= code <= 4999, code
    reason.decode("utf-8")


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sequence=st.lists(frames(), min_size=1, max_size=5), flavour=st.sampled_from(FLAVOURS))
def test_every_frame_sequence_ends_in_a_close_or_a_drop_and_the_server_still_echoes(
    server_pool: ServerPool, server_name: str, sequence: list[bytes], flavour: str
) -> None:
    server = server_pool.get(server_name)
    assert server.port is not None
    with RawClient(server.host, server.port, f"/ws/echo/{flavour}/") as conn:
        assert conn.connect().status == 101
        final_close = wire.build_frame(wire.Opcode.CLOSE, wire.close_payload(1000))
        conn.send_watching(b"".join(sequence) + final_close, timeout=END_BOUND_S)
        closing = conn.wait_closing(END_BOUND_S)
    assert closing.frame is not None or closing.eof, (
        f"the connection did not end within {END_BOUND_S} s: {closing.describe()}"
    )
    if closing.frame is not None:
        check_close_frame(closing.frame)
    assert server.running, server.log_tail()
    assert canary(server) is None
