"""Denying the connection: close before accept, and the websocket.http.response extension.

See ASGI www 2.5 "Close - send event" (before accept: HTTP 403, handshake not
completed) and the "WebSocket Denial Response" extension.
"""

from __future__ import annotations

from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.live import open_probe
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import probe
from channels_harness.servers.process import ServerProcess

EXTENSION = "websocket.http.response"


def deny(server: ServerProcess, flavour: str, actions: list[dict]) -> tuple[int, dict, bytes]:
    """Status, lowercased headers and body of a handshake the app answers with ``actions``."""
    conn, _ = open_probe(server, flavour, {"connect": actions})
    with conn:
        response = conn.response
        assert response is not None
    headers = {name.lower(): value for name, value in response.headers}
    return response.status, headers, response.body


@case("ASGI 2.5 websocket.close before accept")
def test_close_before_accept_gives_403(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """websocket.close before accept refuses the handshake with HTTP 403."""
    status, _, _ = deny(server, probe_flavour, [{"send": {"type": "websocket.close"}}])
    verdict.must(status == 403, expected="HTTP 403", observed=f"status {status}")


@case("ASGI 2.5 websocket.close before accept")
def test_close_with_code_before_accept_still_gives_403(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A close code given before accept does not change the HTTP 403."""
    status, _, _ = deny(
        server, probe_flavour, [{"send": {"type": "websocket.close", "code": 4003}}]
    )
    verdict.must(status == 403, expected="HTTP 403", observed=f"status {status}")


@case("ASGI websocket.http.response extension", extension=EXTENSION)
def test_denial_response_sends_status_and_body(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """websocket.http.response.start/body before accept send that HTTP response."""
    status, _, body = deny(
        server,
        probe_flavour,
        [
            {"send": {"type": "websocket.http.response.start", "status": 401, "headers": []}},
            {"send": {"type": "websocket.http.response.body", "body": probe.hexbytes(b"nope")}},
        ],
    )
    verdict.observe("status", status)
    verdict.observe("body", repr(body[:60]))
    verdict.must(status == 401, expected="HTTP 401", observed=f"status {status}")
    verdict.must(body == b"nope", expected="body b'nope'", observed=f"body {body[:60]!r}")


@case("ASGI websocket.http.response extension", extension=EXTENSION)
def test_denial_response_headers_reach_the_client(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """Headers of websocket.http.response.start are in the HTTP response."""
    header = [probe.hexbytes(b"x-denied-by"), probe.hexbytes(b"probe")]
    status, headers, _ = deny(
        server,
        probe_flavour,
        [
            {"send": {"type": "websocket.http.response.start", "status": 403, "headers": [header]}},
            {"send": {"type": "websocket.http.response.body", "body": probe.hexbytes(b"")}},
        ],
    )
    verdict.must(status == 403, expected="HTTP 403", observed=f"status {status}")
    verdict.must(
        headers.get("x-denied-by") == "probe",
        expected="X-Denied-By: probe",
        observed=f"X-Denied-By {headers.get('x-denied-by')!r}",
    )


@case("ASGI websocket.http.response extension", extension=EXTENSION)
def test_denial_response_body_chunks_are_joined(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """Body events with more_body are concatenated into one response body."""
    start = {"type": "websocket.http.response.start", "status": 400, "headers": []}
    first = {
        "type": "websocket.http.response.body",
        "body": probe.hexbytes(b"part one, "),
        "more_body": True,
    }
    last = {"type": "websocket.http.response.body", "body": probe.hexbytes(b"part two")}
    status, _, body = deny(
        server, probe_flavour, [{"send": start}, {"send": first}, {"send": last}]
    )
    verdict.observe("status", status)
    verdict.observe("body", repr(body[:60]))
    verdict.must(status == 400, expected="HTTP 400", observed=f"status {status}")
    verdict.must(
        body == b"part one, part two",
        expected="body b'part one, part two'",
        observed=f"body {body[:60]!r}",
    )
