"""The application closes: codes and reasons on the wire, and the closing handshake.

See ASGI www 2.5 "Close - send event" (code defaults to 1000; ``reason`` added
in spec 2.3) and "Disconnect - receive event", and RFC 6455 5.5 (control
frames carry at most 125 bytes), 5.5.1, 7.1.1 and 7.4.1 (reserved codes).
"""

from __future__ import annotations

from channels_harness.experiments.conformance import featuretable
from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.live import (
    ending,
    observe_disconnects,
    open_probe,
    received,
    record,
)
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol.rawclient import Closing
from channels_harness.protocol.wire import MAX_CONTROL_PAYLOAD
from channels_harness.servers.process import ServerProcess


def app_closes(server: ServerProcess, flavour: str, close: dict) -> tuple[Closing, str]:
    """How the connection ended when the app sends ``close`` after a message, and the
    probe id."""
    conn, probe_id = open_probe(server, flavour, {"receive": [{"send": close}]})
    with conn:
        conn.send_text("close please")
        closing = conn.wait_closing(1.5)
    return closing, probe_id


@case("ASGI 2.5 websocket.close code")
def test_close_without_code_sends_1000(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """websocket.close without a code puts a close frame with 1000 on the wire."""
    closing, _ = app_closes(server, probe_flavour, {"type": "websocket.close"})
    verdict.must(closing.code == 1000, expected="close 1000", observed=closing.describe())


@case("ASGI 2.5 websocket.close code")
def test_close_sends_the_app_code(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """The code given in websocket.close is the code on the wire."""
    closing, _ = app_closes(server, probe_flavour, {"type": "websocket.close", "code": 4001})
    verdict.must(closing.code == 4001, expected="close 4001", observed=closing.describe())


@case("ASGI 2.3 websocket.close reason", min_spec="2.3")
def test_close_reason_reaches_the_client(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """The reason given in websocket.close is in the close frame."""
    close = {"type": "websocket.close", "code": 4002, "reason": "bye now"}
    closing, _ = app_closes(server, probe_flavour, close)
    reason = closing.frame.close_reason() if closing.frame else None
    sent = "sent" if reason == b"bye now" else f"not sent ({closing.describe()})"
    verdict.feature(featuretable.CLOSE_REASON, f"app to client: {sent}")
    verdict.must(
        closing.code == 4002 and reason == b"bye now",
        expected="close 4002 reason 'bye now'",
        observed=closing.describe(),
    )


@case("ASGI 2.3 websocket.close reason", min_spec="2.3")
def test_close_non_ascii_reason_reaches_the_client(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A non-ASCII close reason arrives UTF-8 encoded."""
    close = {"type": "websocket.close", "code": 4003, "reason": "au revoir, été 🎉"}
    closing, _ = app_closes(server, probe_flavour, close)
    reason = closing.frame.close_reason() if closing.frame else None
    verdict.must(
        reason == "au revoir, été 🎉".encode(),
        expected="reason 'au revoir, été 🎉' in UTF-8",
        observed=closing.describe(),
    )


@case("RFC 6455 5.5; ASGI 2.3 websocket.close reason", min_spec="2.3")
def test_close_reason_over_123_bytes_is_not_sent_whole(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A 200-byte reason never yields a close frame over 125 bytes; the connection ends."""
    close = {"type": "websocket.close", "code": 4004, "reason": "x" * 200}
    closing, probe_id = app_closes(server, probe_flavour, close)
    size = len(closing.frame.payload) if closing.frame else None
    errors = send_errors(server, probe_id)
    verdict.observe("close", ending(closing))
    verdict.observe("close_payload_bytes", size)
    for error in errors or [None]:
        verdict.observe("send_error", error)
    seen = f"close frame of {size} bytes" if size else closing.describe()
    seen += f"; send errors {errors}"
    verdict.must(
        size is None or size <= MAX_CONTROL_PAYLOAD,
        expected="no close frame over 125 bytes",
        observed=seen,
    )
    verdict.must(
        closing.frame is not None or closing.eof, expected="the connection ends", observed=seen
    )


def send_errors(server: ServerProcess, probe_id: str) -> list[str]:
    """The exception types the probe's send raised."""
    return [e["error"] for e in record(server, probe_id, wait_exit=False)["send_errors"]]


@case("RFC 6455 7.4.1")
def test_close_with_reserved_code_1005_is_not_sent(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """An app close with 1005 (reserved: no status) never puts 1005 on the wire."""
    closing, _ = app_closes(server, probe_flavour, {"type": "websocket.close", "code": 1005})
    verdict.observe("close", ending(closing))
    verdict.must(closing.code != 1005, expected="no close frame 1005", observed=closing.describe())
    verdict.must(
        closing.frame is not None or closing.eof,
        expected="the connection ends",
        observed=closing.describe(),
    )


@case("RFC 6455 7.4.1")
def test_close_with_reserved_code_1006_is_not_sent(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """An app close with 1006 (reserved: abnormal closure) never puts 1006 on the wire."""
    closing, _ = app_closes(server, probe_flavour, {"type": "websocket.close", "code": 1006})
    verdict.observe("close", ending(closing))
    verdict.must(closing.code != 1006, expected="no close frame 1006", observed=closing.describe())
    verdict.must(
        closing.frame is not None or closing.eof,
        expected="the connection ends",
        observed=closing.describe(),
    )


@case("RFC 6455 7.1.1, 5.5.1")
def test_server_closes_tcp_after_the_closing_handshake(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """After the app's close and the client's reply, the server closes the TCP connection."""
    closing, _ = app_closes(server, probe_flavour, {"type": "websocket.close"})
    verdict.must(closing.frame is not None, expected="a close frame", observed=closing.describe())
    verdict.should(closing.eof, expected="the server closes TCP first", observed=closing.describe())


@case("ASGI 2.5 websocket.disconnect")
def test_app_close_is_followed_by_one_disconnect_event(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """After the app closes (and the client answers), the app receives one disconnect."""
    _, probe_id = app_closes(server, probe_flavour, {"type": "websocket.close", "code": 4005})
    events = [e for e in received(server, probe_id) if e["type"] == "websocket.disconnect"]
    observe_disconnects(verdict, events)
    verdict.must(
        len(events) == 1,
        expected="exactly one websocket.disconnect",
        observed=f"{len(events)} disconnect event(s) {events}",
    )
    if events:
        verdict.should(
            events[0].get("code") == 4005,
            expected="its code is the close code 4005",
            observed=f"code {events[0].get('code')}",
        )
