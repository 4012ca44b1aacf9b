"""What a running server advertises in the WebSocket scope, read through the probe."""

from __future__ import annotations

from dataclasses import dataclass

from channels_harness.protocol import probe
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
