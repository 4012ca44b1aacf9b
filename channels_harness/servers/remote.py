"""A server that is already running (``--url``): the harness loads it but does not own it.

:class:`RemoteServer` answers what a :class:`~channels_harness.servers.process.ServerProcess`
answers about where it listens (``ws_url``, ``http_url``, ``host``, ``port``,
``name``) so the same experiments can load it. What only the owner of the
process can see (its CPU, resident memory, open descriptors, log, live
consumers) is None: reported as not measured, never guessed.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from channels_harness.errors import TargetUnreachableError, UsageError
from channels_harness.runtime.timeouts import scaled

DEFAULT_PORTS = {"ws": 80, "wss": 443}
REMOTE_NAME = "url"


@dataclass
class RemoteServer:
    """The server at ``url`` (``ws://HOST:PORT/PATH`` or ``wss://...``), loaded as it is."""

    url: str
    name: str = REMOTE_NAME
    scheme: str = field(init=False)
    host: str = field(init=False)
    port: int = field(init=False)
    path: str = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise UsageError(
                f"--url {self.url!r} is not a ws:// or wss:// URL; write it like "
                "ws://127.0.0.1:8000/ws/chat/lobby/"
            )
        try:
            port = parts.port
        except ValueError:
            raise UsageError(
                f"--url {self.url!r}: the port is not a number from 1 to 65535"
            ) from None
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = port or DEFAULT_PORTS[parts.scheme]
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    # -- the ServerProcess interface the experiments use ----------------------

    def __enter__(self) -> RemoteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> RemoteServer:
        """Check that something accepts connections at the URL; TargetUnreachableError if not."""
        try:
            with socket.create_connection((self.host, self.port), timeout=scaled(5.0)):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise TargetUnreachableError(
                f"nothing accepts connections at {self.url} ({reason}); start your server "
                "first, or check --url"
            ) from None
        return self

    def stop(self, grace: float = 0.0) -> None:
        """Nothing to stop: the server is not the harness's."""

    @property
    def version(self) -> str:
        return "not known"

    @property
    def running(self) -> bool:
        """Whether it still accepts connections."""
        try:
            with socket.create_connection((self.host, self.port), timeout=scaled(2.0)):
                return True
        except OSError:
            return False

    @property
    def pid(self) -> None:
        """Not known: the process is not the harness's."""
        return None

    @property
    def popen(self) -> None:
        return None

    @property
    def startup_s(self) -> None:
        return None

    @property
    def tls(self) -> bool:
        return self.scheme == "wss"

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """For wss://, a client context that checks the server's certificate against the
        system's trusted authorities (None for ws://), as any client would."""
        return ssl.create_default_context() if self.tls else None

    def ws_url(self, path: str | None = None) -> str:
        """The URL of ``path`` on this server (default: the URL's own path)."""
        path = self.path if path is None else path
        return f"{self.scheme}://{self._netloc()}/{path.lstrip('/')}"

    def http_url(self, path: str = "/") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self._netloc()}/{path.lstrip('/')}"

    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        return ""

    def processes(self) -> list[Any]:
        return []

    def rss_bytes(self) -> int | None:
        """Not measured: the process is not the harness's."""
        return None

    def info(self) -> dict[str, Any]:
        """What a result records about this server (``command`` empty: not started here)."""
        return {"name": self.name, "version": self.version, "command": [], "url": self.url}
