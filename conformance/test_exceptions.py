"""The application fails or returns: the connection must not be left hanging.

See ASGI www 2.5 "WebSocket Connection Scope" (if the application dies the
socket should be closed), "Connect - receive event" (the handshake is not
completed without a reply) and RFC 6455 7.4.1 (1011: unexpected condition).
"""

from __future__ import annotations

from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.live import observe_closing, open_probe
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol.rawclient import Closing
from channels_harness.servers.process import ServerProcess


def handshake_status(server: ServerProcess, flavour: str, actions: list[dict]) -> int | None:
    """The HTTP status of a handshake whose connect handler runs ``actions``."""
    try:
        conn, _ = open_probe(server, flavour, {"connect": actions})
    except (ConnectionError, TimeoutError):
        return None
    with conn:
        assert conn.response is not None
        return conn.response.status


def ends_after_accept(server: ServerProcess, flavour: str, action: dict) -> Closing:
    """How the connection ends when the receive handler runs ``action``."""
    conn, _ = open_probe(server, flavour, {"receive": [action]})
    with conn:
        conn.send_text("trigger")
        return conn.wait_closing(1.5)


@case("ASGI 2.5 websocket.connect")
def test_exception_before_accept_refuses_the_handshake(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """An app that raises in connect does not get a completed handshake: HTTP 5xx."""
    status = handshake_status(server, probe_flavour, [{"raise": "boom before accept"}])
    verdict.observe("status", "no answer" if status is None else status)
    verdict.must(status != 101, expected="no 101", observed=f"status {status}")
    verdict.should(
        status is not None and status >= 500,
        expected="an HTTP 5xx answer",
        observed="no HTTP answer" if status is None else f"status {status}",
    )


@case("ASGI 2.5 websocket.connect")
def test_app_return_before_accept_refuses_the_handshake(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """An app that returns in connect without accepting gets no 101 and an HTTP error."""
    status = handshake_status(server, probe_flavour, [{"stop": True}])
    verdict.observe("status", "no answer" if status is None else status)
    verdict.must(status != 101, expected="no 101", observed=f"status {status}")
    verdict.should(
        status is not None and status >= 400,
        expected="an HTTP error answer (403 or 5xx)",
        observed="no HTTP answer" if status is None else f"status {status}",
    )


@case("ASGI 2.5 websocket scope; RFC 6455 7.4.1")
def test_exception_after_accept_closes_with_1011(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """An app that raises after accept gets its connection closed with 1011."""
    closing = ends_after_accept(server, probe_flavour, {"raise": "boom after accept"})
    observe_closing(verdict, closing)
    verdict.should(
        closing.frame is not None or closing.eof,
        expected="the connection is closed",
        observed=closing.describe(),
    )
    verdict.should(closing.code == 1011, expected="close 1011", observed=closing.describe())


@case("ASGI 2.5 websocket scope")
def test_app_return_after_accept_closes_the_connection(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """An app that returns after accept without closing gets its connection closed."""
    closing = ends_after_accept(server, probe_flavour, {"stop": True})
    observe_closing(verdict, closing)
    verdict.should(
        closing.frame is not None,
        expected="a close frame (the socket is closed)",
        observed=closing.describe(),
    )
