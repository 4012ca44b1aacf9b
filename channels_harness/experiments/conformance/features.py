"""What a running server advertises: in the WebSocket scope (read through the probe)
and on the wire (the WebSocket extensions it agrees to when offered)."""

from __future__ import annotations

from dataclasses import dataclass

from channels_harness.experiments.conformance.live import echo_target
from channels_harness.protocol import probe, wire
from channels_harness.protocol.rawclient import RawClient
from channels_harness.servers.process import ServerProcess

DEFAULT_SPEC_VERSION = "2.0"


@dataclass(frozen=True)
class Features:
    """``scope["asgi"]["spec_version"]`` (``2.0`` when absent) and ``scope["extensions"]``."""

    spec_version: str
    spec_version_given: bool
    extensions: frozenset[str]


_cache: dict[tuple[str, int | None, int | None], Features] = {}


def server_features(server: ServerProcess) -> Features:
    """The features of ``server``, asked once per server process."""
    key = (server.spec.name, server.port, server.pid)
    if key not in _cache:
        probe_id = probe.new_id()
        assert server.port is not None
        context = server.client_ssl_context()
        path = probe.probe_path("async", probe_id)
        with RawClient(server.host, server.port, path, ssl_context=context) as client:
            client.connect()
            client.send_close(1000)
            client.wait_closing(1.0)
        record = probe.fetch_record(
            server.http_url(), probe_id, wait_exit=False, ssl_context=context
        )
        scope = record["scope"]
        asgi = scope.get("asgi") or {}
        given = isinstance(asgi.get("spec_version"), str)
        _cache[key] = Features(
            spec_version=asgi["spec_version"] if given else DEFAULT_SPEC_VERSION,
            spec_version_given=given,
            extensions=frozenset(scope.get("extensions") or {}),
        )
    return _cache[key]


# The offer a browser makes: permessage-deflate, any client window.
DEFAULT_DEFLATE_OFFER = wire.DeflateOffer(client_max_window_bits=True)
_agreed: dict[tuple[str, int | None, int | None], frozenset[str]] = {}


def wire_extensions(server: ServerProcess) -> frozenset[str]:
    """The WebSocket extensions ``server`` answers in its 101 when offered
    permessage-deflate on its echo endpoint (asked once per server process)."""
    key = (server.name, server.port, server.pid)
    if key not in _agreed:
        assert server.port is not None
        with RawClient(
            server.host,
            server.port,
            echo_target(server),
            deflate=(DEFAULT_DEFLATE_OFFER,),
            ssl_context=server.client_ssl_context(),
        ) as client:
            response = client.connect()
            if response.status == 101:
                client.send_close(1000)
                client.wait_closing(1.0)
        answered = wire.parse_extensions(response.header_values("sec-websocket-extensions"))
        _agreed[key] = frozenset(name for name, _ in answered)
    return _agreed[key]
