"""Keepalive pings and message size limits.

See RFC 6455 5.5.2, 5.5.3 (ping, pong), 7.4.1 (1009: message too big) and
ASGI www 2.5 "WebSocket" (servers handle ping/pong themselves). Sizes and the
keepalive interval and timeout are INFO: the RFC sets neither, so each
server's is recorded (and goes into the feature table), not judged.
"""

from __future__ import annotations

from channels_harness.experiments.conformance import featuretable, keepalive
from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.live import open_echo
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import wire
from channels_harness.protocol.wire import Opcode
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.remote import RemoteServer

MIB = 1 << 20
# The sizes tried, in order: at and just over 1 MiB and the common 16 MiB default.
SIZES = (1 * MIB, 1 * MIB + 1, 16 * MIB, 16 * MIB + 1)
TOO_BIG = 1009


def echo_of(server: ServerProcess, size: int) -> tuple[str, str]:
    """What came back for a binary message of ``size`` bytes: "echoed" or how it ended,
    in a phrase and in the words of observations (``close 1009``, ``close without
    code``, ``TCP closed``, ``still open``, ``echoed``, ``N bytes back``)."""
    payload = b"\x5a" * size
    with open_echo(server) as conn:
        stopped = conn.send_watching(wire.build_frame(Opcode.BINARY, payload), 10.0)
        try:
            reply = conn.recv_message(10.0 if stopped is None else 0.5)
        except (TimeoutError, ConnectionError) as exc:
            ended = "still open" if isinstance(exc, TimeoutError) else "TCP closed"
            return f"{stopped or 'sent'}; no echo and no close frame ({type(exc).__name__})", ended
        if reply.opcode == Opcode.CLOSE:
            code, _ = wire.parse_close(reply.payload)
            if code is None:
                return "close frame without code", "close without code"
            return f"close {code}", f"close {code}"
        conn.send_close(1000)
        text = "echoed" if reply.payload == payload else f"{len(reply.payload)} bytes back"
        return text, text


@case("RFC 6455 5.5.2, 5.5.3")
def test_ping_gets_pong_with_the_same_payload(server: ServerProcess, verdict: Verdict) -> None:
    """A ping is answered by a pong carrying the same application data."""
    with open_echo(server) as conn:
        conn.send_frame(Opcode.PING, b"\x00keepalive\xff")
        try:
            frame: wire.Frame | None = conn.recv_frame(1.0)
        except (TimeoutError, ConnectionError):
            frame = None
        conn.send_close(1000)
    got = f"opcode {frame.opcode} payload {frame.payload!r}" if frame else "nothing"
    verdict.must(
        frame is not None and frame.opcode == Opcode.PONG and frame.payload == b"\x00keepalive\xff",
        expected="pong with the ping's payload",
        observed=got,
    )


@case("RFC 6455 5.5")
def test_ping_with_125_bytes_gets_pong(server: ServerProcess, verdict: Verdict) -> None:
    """A ping with the largest allowed payload (125 bytes) is answered in full."""
    payload = bytes(range(125))
    with open_echo(server) as conn:
        conn.send_frame(Opcode.PING, payload)
        try:
            frame: wire.Frame | None = conn.recv_frame(1.0)
        except (TimeoutError, ConnectionError):
            frame = None
        conn.send_close(1000)
    verdict.must(
        frame is not None and frame.opcode == Opcode.PONG and frame.payload == payload,
        expected="pong with the 125-byte payload",
        observed=f"opcode {frame.opcode}, {len(frame.payload)} bytes" if frame else "nothing",
    )


@case("RFC 6455 5.5.3")
def test_unsolicited_pong_is_ignored(server: ServerProcess, verdict: Verdict) -> None:
    """An unsolicited pong gets no answer and the connection keeps working."""
    with open_echo(server) as conn:
        conn.send_frame(Opcode.PONG, b"unsolicited")
        conn.send_text("still here")
        try:
            frame: wire.Frame | None = conn.recv_frame(1.0)
        except (TimeoutError, ConnectionError):
            frame = None
        conn.send_close(1000)
    verdict.must(
        frame is not None and frame.opcode == Opcode.TEXT and frame.payload == b"still here",
        expected="the next message echoed, nothing else",
        observed=f"opcode {frame.opcode} {frame.payload[:40]!r}" if frame else "nothing",
    )


def size_text(size: int) -> str:
    """``1 MiB``, ``16 MiB + 1 byte`` or a plain byte count."""
    mib, rest = divmod(size, MIB)
    if not mib:
        return f"{size} bytes"
    return f"{mib} MiB" + (f" + {rest} byte{'s' if rest > 1 else ''}" if rest else "")


@case("RFC 6455 10.4")
def test_message_size_limit_is_recorded(server: ServerProcess, verdict: Verdict) -> None:
    """The largest binary message echoed among 1 MiB (+1 byte) and 16 MiB (+1 byte)."""
    outcomes = []
    largest = None
    for size in SIZES:
        outcome, _ = echo_of(server, size)
        outcomes.append(f"{size} bytes: {outcome}")
        if outcome != "echoed":
            limit = f"{size_text(largest)}" if largest else f"under {size_text(size)}"
            verdict.feature(featuretable.MAX_MESSAGE, f"{limit} ({size_text(size)}: {outcome})")
            break
        largest = size
    else:
        verdict.feature(featuretable.MAX_MESSAGE, f"at least {size_text(SIZES[-1])}")
    verdict.info("; ".join(outcomes))


@case("RFC 6455 5.5.2, 5.5.3", late=True)
def test_keepalive_pings_are_recorded(server: ServerProcess, verdict: Verdict) -> None:
    """The pings an idle connection gets, and what becomes of one that never answers them."""
    if isinstance(server, RemoteServer):
        verdict.not_applicable = "the keepalive watch needs a server process of its own (--url)"
        return
    wait = keepalive.WATCH_S + scaled(60.0)
    found = keepalive.findings(server.spec.name, keepalive.watch_dir(), wait)
    if found is None or found["error"]:
        why = f"the watch failed: {found['error']}" if found else f"no findings within {wait:.0f} s"
        verdict.must(False, expected="the keepalive watch reports", observed=why)
        return
    verdict.feature(featuretable.KEEPALIVE_INTERVAL, found["interval"])
    verdict.feature(featuretable.KEEPALIVE_TIMEOUT, found["timeout"])
    verdict.info(f"{found['interval']}; a client that never answers: {found['timeout']}")
    verdict.should(
        found["answering_closed"] is None,
        expected="a client that answers every ping stays connected",
        observed=found["answering_closed"] or "still open",
    )


@case("RFC 6455 7.4.1", bad_input=True)
def test_message_over_the_limit_closes_with_1009(server: ServerProcess, verdict: Verdict) -> None:
    """A message over the server's limit (tried: 16 MiB + 1) is refused with close 1009."""
    outcome, ended = echo_of(server, SIZES[-1])
    verdict.observe("close", ended)
    if outcome == "echoed":
        verdict.info(f"no limit at {SIZES[-1]} bytes: echoed")
        return
    verdict.should(
        outcome == f"close {TOO_BIG}",
        expected="close 1009 (message too big)",
        observed=outcome,
    )
