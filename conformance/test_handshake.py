"""Opening handshake and the WebSocket connection scope.

See RFC 6455 4.2 (server-side requirements) and ASGI www 2.5 "WebSocket
Connection Scope". The scope is read back from the probe consumer.

RFC 6455 4.2.1 lists what the client's opening handshake must hold: a GET
request of HTTP/1.1 or higher, a Host header, ``Upgrade: websocket``, a
Connection header with the ``Upgrade`` token, a Sec-WebSocket-Key that is the
base64 of 16 bytes and ``Sec-WebSocket-Version: 13``. A request that breaks
one of them MUST NOT complete the handshake and MUST get an HTTP response
with an error code ("such as 400 Bad Request"); each requirement has a case
that breaks it alone. An unknown version gets 426 and the versions the
server understands (4.2.2).
"""

from __future__ import annotations

import base64
import os
from typing import Any

from channels_harness.experiments.conformance import featuretable
from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.features import Features
from channels_harness.experiments.conformance.live import client, echo_target, record
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import probe, wire
from channels_harness.servers.process import ServerProcess


def probe_scope(server: ServerProcess, path: str | None = None, **options: Any) -> dict[str, Any]:
    """The scope the async probe saw for one connection (closed cleanly after)."""
    probe_id = probe.new_id()
    target = path or probe.probe_path("async", probe_id)
    if path is not None:
        target = f"{path}?id={probe_id}"
    with client(server, target, **options) as conn:
        conn.connect()
        conn.send_close(1000)
        conn.wait_closing(1.0)
    scope: dict[str, Any] = probe.decode_hex(record(server, probe_id, wait_exit=False)["scope"])
    return scope


@case("RFC 6455 4.2.2")
def test_handshake_answers_101_with_accept_key(server: ServerProcess, verdict: Verdict) -> None:
    """A valid upgrade gets 101 with Upgrade, Connection and the right Sec-WebSocket-Accept."""
    with client(server, probe.probe_path("async", probe.new_id())) as conn:
        response = conn.connect()
        conn.send_close(1000)
        conn.wait_closing(1.0)
    verdict.must(
        response.status == 101, expected="status 101", observed=f"status {response.status}"
    )
    assert conn.key is not None
    verdict.must(
        response.header("sec-websocket-accept") == wire.accept_key(conn.key),
        expected="Sec-WebSocket-Accept derived from the key",
        observed=f"Sec-WebSocket-Accept {response.header('sec-websocket-accept')!r}",
    )
    verdict.must(
        (response.header("upgrade") or "").lower() == "websocket"
        and "upgrade" in (response.header("connection") or "").lower(),
        expected="Upgrade: websocket and Connection: Upgrade",
        observed=f"Upgrade {response.header('upgrade')!r}, "
        f"Connection {response.header('connection')!r}",
    )


def answer_to(server: ServerProcess, **changes: Any) -> wire.HandshakeResponse | None:
    """The answer to an upgrade request to the echo endpoint built with ``changes``
    (options of :func:`wire.handshake_request`); None when the server closed the
    connection without an answer or never answered."""
    path = echo_target(server)
    with client(server, path) as conn:
        fields: dict[str, Any] = {"key": conn.key, "host": f"{server.host}:{server.port}"}
        fields.update(changes)
        host, key = fields.pop("host"), fields.pop("key")
        request = wire.handshake_request(host, path, key, **fields)
        try:
            response = conn.connect(request)
        except (ConnectionError, TimeoutError):
            return None
        if response.status == 101:
            conn.send_close(1000)
    return response


def expect_refused(verdict: Verdict, response: wire.HandshakeResponse | None, broken: str) -> None:
    """Grade the answer to a request that breaks RFC 6455 4.2.1 by ``broken``: the
    handshake is not completed and the server answers with an HTTP error (MUST); a
    4xx, the client's fault, such as 400 (SHOULD)."""
    status = response.status if response is not None else None
    verdict.observe("status", "no answer" if status is None else status)
    seen = "no HTTP answer" if status is None else f"status {status}"
    verdict.must(status != 101, expected=f"no 101 for {broken}", observed=seen)
    if status == 101:
        return
    verdict.must(
        status is not None and status >= 400,
        expected="an HTTP response with an error code",
        observed=seen,
    )
    if status is not None and status >= 400:
        verdict.should(
            status < 500, expected="a 4xx: the request is at fault (such as 400)", observed=seen
        )


@case("RFC 6455 4.2.1")
def test_handshake_without_key_is_refused(server: ServerProcess, verdict: Verdict) -> None:
    """An upgrade without Sec-WebSocket-Key is not completed and gets an HTTP 4xx."""
    expect_refused(verdict, answer_to(server, key=None), "a request without a key")


@case("RFC 6455 4.2.1")
def test_handshake_with_a_key_of_12_bytes_is_refused(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A Sec-WebSocket-Key that is the base64 of 12 bytes, not 16, gets an HTTP 4xx."""
    key = base64.b64encode(os.urandom(12)).decode("ascii")
    expect_refused(verdict, answer_to(server, key=key), "a key of 12 bytes")


@case("RFC 6455 4.2.1")
def test_handshake_with_a_key_that_is_not_base64_is_refused(
    server: ServerProcess, verdict: Verdict
) -> None:
    """A Sec-WebSocket-Key that is not base64 at all gets an HTTP 4xx."""
    response = answer_to(server, key="not base64, 24 chars!!!!")
    expect_refused(verdict, response, "a key that is not base64")


@case("RFC 6455 4.2.1")
def test_handshake_with_post_is_refused(server: ServerProcess, verdict: Verdict) -> None:
    """An upgrade request with the POST method (not GET) gets an HTTP 4xx."""
    expect_refused(verdict, answer_to(server, method="POST"), "a POST request")


@case("RFC 6455 4.2.1")
def test_handshake_over_http_1_0_is_refused(server: ServerProcess, verdict: Verdict) -> None:
    """An upgrade request of HTTP/1.0 (lower than 1.1) gets an HTTP 4xx."""
    expect_refused(verdict, answer_to(server, http_version="1.0"), "an HTTP/1.0 request")


@case("RFC 6455 4.2.1")
def test_handshake_without_host_is_refused(server: ServerProcess, verdict: Verdict) -> None:
    """An upgrade request without a Host header gets an HTTP 4xx."""
    expect_refused(verdict, answer_to(server, host=None), "a request without Host")


@case("RFC 6455 4.2.1")
def test_handshake_upgrading_to_another_protocol_is_refused(
    server: ServerProcess, verdict: Verdict
) -> None:
    """An upgrade request whose Upgrade header names another protocol (irc/6.9) gets a 4xx."""
    expect_refused(verdict, answer_to(server, upgrade="irc/6.9"), "Upgrade: irc/6.9")


@case("RFC 6455 4.2.1")
def test_handshake_without_connection_upgrade_is_refused(
    server: ServerProcess, verdict: Verdict
) -> None:
    """An upgrade request whose Connection header lacks the Upgrade token gets a 4xx."""
    response = answer_to(server, connection="keep-alive")
    expect_refused(verdict, response, "Connection: keep-alive")


@case("RFC 6455 4.2.1")
def test_handshake_without_version_is_refused(server: ServerProcess, verdict: Verdict) -> None:
    """An upgrade request without Sec-WebSocket-Version gets an HTTP 4xx."""
    expect_refused(verdict, answer_to(server, version=None), "a request without a version")


@case("RFC 6455 4.2.2")
def test_handshake_with_unknown_version_gets_426(server: ServerProcess, verdict: Verdict) -> None:
    """An unsupported Sec-WebSocket-Version is refused with an error naming version 13."""
    response = answer_to(server, version="8")
    status = response.status if response else None
    verdict.must(status != 101, expected="no 101 for version 8", observed=f"status {status}")
    advertised = response.header("sec-websocket-version") if response else None
    verdict.observe("status", "no answer" if status is None else status)
    verdict.observe("sec_websocket_version", advertised)
    if status != 101:
        verdict.must(
            advertised is not None and "13" in advertised,
            expected="an error status with Sec-WebSocket-Version: 13 (such as 426)",
            observed=f"status {status}, Sec-WebSocket-Version {advertised!r}",
        )


@case("ASGI 2.5 websocket scope type")
def test_scope_type_is_websocket(server: ServerProcess, verdict: Verdict) -> None:
    """The scope's type is "websocket"."""
    scope = probe_scope(server)
    verdict.must(
        scope.get("type") == "websocket",
        expected='type "websocket"',
        observed=f"type {scope.get('type')!r}",
    )


@case("ASGI 2.5 websocket scope asgi.version")
def test_scope_asgi_version_is_3(server: ServerProcess, verdict: Verdict) -> None:
    """scope["asgi"]["version"] is "3.0"."""
    asgi = probe_scope(server).get("asgi") or {}
    verdict.must(
        asgi.get("version") == "3.0",
        expected='asgi.version "3.0"',
        observed=f"asgi.version {asgi.get('version')!r}",
    )


@case("ASGI 2.5 websocket scope asgi.spec_version")
def test_scope_spec_version_is_recorded(
    server: ServerProcess, verdict: Verdict, features: Features
) -> None:
    """The spec version and extensions the server advertises (2.0 when absent)."""
    given = "" if features.spec_version_given else " (absent: 2.0 assumed)"
    extensions = ", ".join(sorted(features.extensions)) or "none"
    verdict.info(f"spec_version {features.spec_version}{given}; extensions: {extensions}")
    verdict.feature(featuretable.SPEC_VERSION, f"{features.spec_version}{given}")
    verdict.feature(
        featuretable.DENIAL_RESPONSE,
        "advertised" if "websocket.http.response" in features.extensions else "not advertised",
    )


@case("ASGI 2.5 websocket scope path")
def test_scope_path_is_percent_decoded(server: ServerProcess, verdict: Verdict) -> None:
    """A percent-encoded request path reaches the app decoded."""
    scope = probe_scope(server, "/ws/probe/%61sync/")
    verdict.must(
        scope.get("path") == "/ws/probe/async/",
        expected='path "/ws/probe/async/" for /ws/probe/%61sync/',
        observed=f"path {scope.get('path')!r}",
    )


@case("ASGI 2.5 websocket scope raw_path")
def test_scope_raw_path_keeps_the_request_bytes(server: ServerProcess, verdict: Verdict) -> None:
    """raw_path, when given, is the path exactly as sent (it is optional)."""
    scope = probe_scope(server, "/ws/probe/%61sync/")
    raw = scope.get("raw_path")
    if raw is None:
        verdict.info("raw_path not provided (optional)")
        return
    verdict.must(
        raw == b"/ws/probe/%61sync/",
        expected="raw_path b'/ws/probe/%61sync/'",
        observed=f"raw_path {raw!r}",
    )


@case("ASGI 2.5 websocket scope query_string")
def test_scope_query_string_is_not_decoded(server: ServerProcess, verdict: Verdict) -> None:
    """query_string is the bytes after "?", still percent-encoded."""
    probe_id = probe.new_id()
    with client(server, f"/ws/probe/async/?id={probe_id}&x=%C3%A9+y") as conn:
        conn.connect()
        conn.send_close(1000)
        conn.wait_closing(1.0)
    scope = probe.decode_hex(record(server, probe_id, wait_exit=False)["scope"])
    expected = f"id={probe_id}&x=%C3%A9+y".encode()
    verdict.must(
        scope.get("query_string") == expected,
        expected=f"query_string {expected!r}",
        observed=f"query_string {scope.get('query_string')!r}",
    )


@case("ASGI 2.5 websocket scope headers")
def test_scope_headers_are_lowercased_byte_pairs(server: ServerProcess, verdict: Verdict) -> None:
    """Headers arrive as [name, value] byte pairs with lowercased names."""
    scope = probe_scope(server, headers=(("X-Conformance-Check", "Value-1"),))
    headers = scope.get("headers") or []
    verdict.must(
        all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in headers),
        expected="byte string names and values",
        observed=f"types {sorted({(type(n).__name__, type(v).__name__) for n, v in headers})}",
    )
    names = [n for n, _ in headers if isinstance(n, bytes)]
    verdict.should(
        b"x-conformance-check" in names,
        expected="header name lowercased (x-conformance-check)",
        observed=f"names {names!r}",
    )
    values = [v for n, v in headers if isinstance(n, bytes) and n.lower() == b"x-conformance-check"]
    verdict.must(
        values == [b"Value-1"], expected="value b'Value-1' kept", observed=f"values {values!r}"
    )


@case("ASGI 2.5 websocket scope headers")
def test_scope_duplicate_headers_are_kept_in_order(server: ServerProcess, verdict: Verdict) -> None:
    """Repeated request headers are all kept, in the order sent."""
    scope = probe_scope(server, headers=(("X-Dup", "one"), ("X-Dup", "two")))
    values = [v for n, v in scope.get("headers") or [] if n.lower() == b"x-dup"]
    verdict.observe("x_dup", repr(values))
    verdict.must(
        sorted(values) == [b"one", b"two"],
        expected="both x-dup headers kept",
        observed=f"x-dup values {values!r}",
    )
    verdict.should(
        values == [b"one", b"two"], expected="order kept", observed=f"x-dup values {values!r}"
    )


@case("ASGI 2.5 websocket scope scheme")
def test_scope_scheme_is_ws(server: ServerProcess, verdict: Verdict) -> None:
    """scheme, when given, is "ws" on a plain connection and "wss" over TLS (never empty)."""
    wanted = "wss" if server.tls else "ws"
    scheme = probe_scope(server).get("scheme", wanted)
    verdict.must(scheme == wanted, expected=f"scheme {wanted!r}", observed=f"scheme {scheme!r}")


@case("ASGI 2.5 websocket scope subprotocols")
def test_scope_lists_offered_subprotocols(server: ServerProcess, verdict: Verdict) -> None:
    """The subprotocols the client offered are in the scope, in order."""
    scope = probe_scope(server, subprotocols=("chat", "superchat"))
    offered = list(scope.get("subprotocols") or [])
    verdict.must(
        offered == ["chat", "superchat"],
        expected="subprotocols ['chat', 'superchat']",
        observed=f"subprotocols {offered!r}",
    )


@case("ASGI 2.5 websocket scope client, server")
def test_scope_client_and_server_are_host_port(server: ServerProcess, verdict: Verdict) -> None:
    """client and server, when given, are [host, port] of each end."""
    scope = probe_scope(server)
    peer = scope.get("server")
    for key in ("server", "client"):
        where = scope.get(key)
        port = where[1] if where and len(where) == 2 else None
        verdict.observe(f"{key}_port_type", type(port).__name__ if port is not None else None)
    verdict.must(
        peer is None or list(peer) == [server.host, server.port],
        expected=f"server [{server.host!r}, {server.port}] or absent",
        observed=f"server {peer!r}",
    )
    remote = scope.get("client")
    verdict.must(
        remote is None
        or (len(remote) == 2 and remote[0] == "127.0.0.1" and isinstance(remote[1], int)),
        expected="client ['127.0.0.1', port] or absent",
        observed=f"client {remote!r}",
    )


@case("ASGI 2.5 websocket scope http_version")
def test_scope_http_version_is_1_1(server: ServerProcess, verdict: Verdict) -> None:
    """http_version, when given, is "1.1" for an HTTP/1.1 upgrade."""
    version = probe_scope(server).get("http_version", "1.1")
    verdict.must(
        version == "1.1", expected='http_version "1.1"', observed=f"http_version {version!r}"
    )


@case("ASGI 2.5 websocket.connect")
def test_first_event_is_websocket_connect(server: ServerProcess, verdict: Verdict) -> None:
    """The first event the application receives is websocket.connect."""
    probe_id = probe.new_id()
    with client(server, probe.probe_path("async", probe_id)) as conn:
        conn.connect()
        conn.send_close(1000)
        conn.wait_closing(1.0)
    events = probe.received_events(record(server, probe_id))
    first = events[0]["type"] if events else None
    verdict.must(
        first == "websocket.connect",
        expected="websocket.connect first",
        observed=f"first event {first!r}",
    )
