"""Accepting the connection: subprotocol selection and accept headers.

See ASGI www 2.5 "Accept - send event" (headers added in spec 2.1) and
RFC 6455 4.2.2 (Sec-WebSocket-Protocol in the server's response).
"""

from __future__ import annotations

from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.live import open_probe
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import probe
from channels_harness.servers.process import ServerProcess


def accept_with(
    server: ServerProcess, flavour: str, accept: dict, subprotocols: tuple[str, ...] = ()
) -> tuple[int, list[str], list[str]]:
    """Status, Sec-WebSocket-Protocol values and x-accept-check values of one handshake."""
    conn, _ = open_probe(
        server, flavour, {"connect": [{"send": accept}]}, subprotocols=subprotocols
    )
    with conn:
        response = conn.response
        assert response is not None
        if response.status == 101:
            conn.send_close(1000)
            conn.wait_closing(1.0)
    return (
        response.status,
        response.header_values("sec-websocket-protocol"),
        response.header_values("set-cookie"),
    )


def observe_cookies(verdict: Verdict, status: int, cookies: list[str]) -> None:
    """Record the handshake's status and its Set-Cookie values (``none`` without any)."""
    verdict.observe("status", status)
    for cookie in cookies or [None]:
        verdict.observe("set_cookie", cookie)


@case("RFC 6455 4.2.2")
def test_accept_without_offer_sends_no_subprotocol(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """With no subprotocol offered, the 101 carries no Sec-WebSocket-Protocol."""
    status, chosen, _ = accept_with(server, probe_flavour, {"type": "websocket.accept"})
    verdict.must(status == 101, expected="status 101", observed=f"status {status}")
    verdict.must(
        not chosen,
        expected="no Sec-WebSocket-Protocol",
        observed=f"Sec-WebSocket-Protocol {chosen}",
    )


@case("ASGI 2.5 websocket.accept subprotocol")
def test_accept_with_subprotocol_selects_it(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """The subprotocol the app accepts is the one in the 101 response."""
    status, chosen, _ = accept_with(
        server,
        probe_flavour,
        {"type": "websocket.accept", "subprotocol": "superchat"},
        ("chat", "superchat"),
    )
    verdict.must(status == 101, expected="status 101", observed=f"status {status}")
    verdict.must(
        chosen == ["superchat"],
        expected="Sec-WebSocket-Protocol: superchat",
        observed=f"Sec-WebSocket-Protocol {chosen}",
    )


@case("RFC 6455 4.2.2")
def test_accept_without_choice_sends_no_subprotocol(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """When the app picks no subprotocol of those offered, none is in the 101."""
    status, chosen, _ = accept_with(
        server, probe_flavour, {"type": "websocket.accept"}, ("chat", "superchat")
    )
    verdict.must(status == 101, expected="status 101", observed=f"status {status}")
    verdict.must(
        not chosen,
        expected="no Sec-WebSocket-Protocol (the app chose none)",
        observed=f"Sec-WebSocket-Protocol {chosen}",
    )


@case("ASGI 2.1 websocket.accept headers", min_spec="2.1")
def test_accept_headers_reach_the_client(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """Headers given in websocket.accept are in the 101 response."""
    accept = {
        "type": "websocket.accept",
        "headers": [[probe.hexbytes(b"set-cookie"), probe.hexbytes(b"flavour=vanilla")]],
    }
    status, _, cookies = accept_with(server, probe_flavour, accept)
    observe_cookies(verdict, status, cookies)
    verdict.must(status == 101, expected="status 101", observed=f"status {status}")
    verdict.must(
        cookies == ["flavour=vanilla"],
        expected="Set-Cookie: flavour=vanilla",
        observed=f"Set-Cookie {cookies}",
    )


@case("ASGI 2.1 websocket.accept headers", min_spec="2.1")
def test_accept_repeated_headers_are_all_sent(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """Two Set-Cookie headers in websocket.accept both reach the client, in order."""
    accept = {
        "type": "websocket.accept",
        "headers": [
            [probe.hexbytes(b"set-cookie"), probe.hexbytes(b"a=1")],
            [probe.hexbytes(b"set-cookie"), probe.hexbytes(b"b=2")],
        ],
    }
    status, _, cookies = accept_with(server, probe_flavour, accept)
    observe_cookies(verdict, status, cookies)
    verdict.must(status == 101, expected="status 101", observed=f"status {status}")
    verdict.must(
        cookies == ["a=1", "b=2"],
        expected="Set-Cookie a=1 then b=2, not joined",
        observed=f"Set-Cookie {cookies}",
    )
