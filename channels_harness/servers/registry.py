"""The ASGI servers the harness can run: :data:`SERVERS` and how to launch each.

A :class:`ServerSpec` says how to launch an ASGI application under one server
with one option set; :func:`get_spec` finds one by name (the raw echo
baseline, :data:`RAW_ECHO`, included).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from channels_harness.errors import UnknownServerError, UsageError
from channels_harness.runtime.loopback import LOOPBACK
from channels_harness.runtime.tls import TlsFiles
from channels_harness.servers.reference import DEFAULT_APP

# How a server is launched over TLS: (app, host, port, certificate files) -> arguments.
TlsArgs = Callable[[str, str, int, TlsFiles], list[str]]


@dataclass(frozen=True)
class ServerSpec:
    """How to launch an ASGI application under one server with one option set.

    ``args`` turns ``(app, host, port)`` into the arguments after
    ``python -m <module>``; ``tls_args`` does the same for serving wss://
    with the given certificate files (None: the server cannot serve TLS here).
    """

    name: str
    distribution: str
    module: str
    args: Callable[[str, str, int], list[str]]
    description: str
    ws_impl: str
    extra_modules: tuple[str, ...] = ()
    # "http": ready when GET /healthz/ answers 200 (the Django app is loaded);
    # "tcp": ready when the port accepts a connection (servers without that route).
    health: str = "http"
    # The listen backlog the server asks the kernel for when launched with
    # ``args`` (the kernel caps it at net.core.somaxconn), and how to launch it
    # with another one: ``(app, host, port, backlog)`` -> arguments (None: the
    # server has no such option).
    listen_backlog: int | None = None
    backlog_args: Callable[[str, str, int, int], list[str]] | None = None
    tls_args: TlsArgs | None = None
    # The option that runs several worker processes on one socket (None: the server
    # runs one process).
    workers_option: str | None = None

    def with_backlog(self, backlog: int) -> ServerSpec:
        """This spec launching the server with a listen backlog of ``backlog``;
        a :class:`UsageError` if the server cannot be given one."""
        backlog_args = self.backlog_args
        if backlog_args is None:
            raise UsageError(f"{self.name} has no listen backlog option")
        if backlog < 1:
            raise UsageError(f"a listen backlog must be positive, not {backlog}")

        def args(app: str, host: str, port: int) -> list[str]:
            return backlog_args(app, host, port, backlog)

        return dataclasses.replace(self, args=args, listen_backlog=backlog)

    def with_workers(self, workers: int) -> ServerSpec:
        """This spec launching ``workers`` worker processes sharing one listening socket,
        named so (``uvicorn (3 workers)``); a :class:`UsageError` for a server that
        runs one process."""
        if workers == 1:
            return self
        option = self.workers_option
        if option is None:
            raise UsageError(f"{self.name} runs one process; it has no worker option")
        if workers < 1:
            raise UsageError(f"a worker count must be positive, not {workers}")
        base = self.args

        def args(app: str, host: str, port: int) -> list[str]:
            return [*base(app, host, port), option, str(workers)]

        return dataclasses.replace(self, name=f"{self.name} ({workers} workers)", args=args)

    def command(
        self,
        app: str,
        host: str,
        port: int,
        extra_args: Sequence[str] = (),
        tls: TlsFiles | None = None,
    ) -> list[str]:
        """The full command line (this Python interpreter, ``-m module``, arguments);
        with ``tls``, serving wss:// with those certificate files.

        Raises :class:`ValueError` if ``tls`` is given and the server has no TLS option set.
        """
        if tls is None:
            args = self.args(app, host, port)
        elif self.tls_args is None:
            raise ValueError(f"{self.name} has no TLS option set in the harness")
        else:
            args = self.tls_args(app, host, port, tls)
        return [sys.executable, "-m", self.module, *args, *extra_args]

    @property
    def serves_tls(self) -> bool:
        """Whether the harness can launch this server serving wss://."""
        return self.tls_args is not None

    def available(self) -> bool:
        """Whether the server and the modules its option set needs are importable."""
        return all(
            importlib.util.find_spec(module) is not None
            for module in (self.module, *self.extra_modules)
        )

    def version(self) -> str:
        """The installed version of the server's distribution, or ``"not installed"``."""
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    def describe(self) -> dict[str, Any]:
        """Name, version, WebSocket implementation, description and the command line
        (with ``{port}`` where each run puts its port), for results."""
        template = self.command(DEFAULT_APP, LOOPBACK, cast(int, "{port}"))
        return {
            "name": self.name,
            "version": self.version(),
            "ws_impl": self.ws_impl,
            "description": self.description,
            "command": template,
            "listen_backlog": self.listen_backlog,
        }


def _dist_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _daphne(app: str, host: str, port: int) -> list[str]:
    # -v 0: no access log line per connection (errors are still logged)
    return ["-b", host, "-p", str(port), "-v", "0", app]


def _daphne_backlog(app: str, host: str, port: int, backlog: int) -> list[str]:
    # daphne has no backlog option; a Twisted endpoint description has one.
    interface = host.strip("[]").replace(":", r"\:")
    endpoint = f"tcp:port={port}:interface={interface}:backlog={backlog}"
    return ["-e", endpoint, "-v", "0", app]


def _uvicorn(ws: str | None) -> Callable[[str, str, int], list[str]]:
    def args(app: str, host: str, port: int) -> list[str]:
        ws_args = ["--ws", ws] if ws else []
        return [
            app,
            "--host",
            host,
            "--port",
            str(port),
            *ws_args,
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ]

    return args


def _backlog_option(
    args: Callable[[str, str, int], list[str]],
) -> Callable[[str, str, int, int], list[str]]:
    """``args`` followed by ``--backlog N`` (uvicorn, hypercorn and granian spell it so)."""

    def with_backlog(app: str, host: str, port: int, backlog: int) -> list[str]:
        return [*args(app, host, port), "--backlog", str(backlog)]

    return with_backlog


def _hypercorn(app: str, host: str, port: int) -> list[str]:
    return ["--bind", f"{host}:{port}", app]


def _granian(app: str, host: str, port: int) -> list[str]:
    return ["--interface", "asgi", "--host", host, "--port", str(port), "--no-access-log", app]


def _endpoint_path(path: object) -> str:
    """A path inside a Twisted endpoint string (colons escaped)."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:")


def _daphne_tls(app: str, host: str, port: int, tls: TlsFiles) -> list[str]:
    endpoint = (
        f"ssl:port={port}:interface={host}"
        f":privateKey={_endpoint_path(tls.key_file)}:certKey={_endpoint_path(tls.cert_file)}"
    )
    return ["-e", endpoint, "-v", "0", app]


def _with_tls(
    args: Callable[[str, str, int], list[str]], key_option: str, cert_option: str
) -> TlsArgs:
    """``args`` followed by the key and certificate options a server names as given."""

    def tls_args(app: str, host: str, port: int, tls: TlsFiles) -> list[str]:
        return [
            *args(app, host, port),
            key_option,
            str(tls.key_file),
            cert_option,
            str(tls.cert_file),
        ]

    return tls_args


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec(
            name="daphne",
            distribution="daphne",
            module="daphne",
            args=_daphne,
            tls_args=_daphne_tls,
            description="Daphne (Twisted + autobahn), the Channels project's server",
            ws_impl=f"autobahn {_dist_version('autobahn')}",
            listen_backlog=50,  # Twisted's default
            backlog_args=_daphne_backlog,
        ),
        ServerSpec(
            name="uvicorn",
            distribution="uvicorn",
            module="uvicorn",
            args=_uvicorn(None),
            listen_backlog=2048,
            backlog_args=_backlog_option(_uvicorn(None)),
            tls_args=_with_tls(_uvicorn(None), "--ssl-keyfile", "--ssl-certfile"),
            workers_option="--workers",
            description="uvicorn with its default --ws auto (websockets' sans-I/O protocol)",
            ws_impl=f"websockets {_dist_version('websockets')} (sans-I/O, uvicorn's auto)",
            extra_modules=("websockets",),
        ),
        ServerSpec(
            name="uvicorn-wsproto",
            distribution="uvicorn",
            module="uvicorn",
            args=_uvicorn("wsproto"),
            listen_backlog=2048,
            backlog_args=_backlog_option(_uvicorn("wsproto")),
            tls_args=_with_tls(_uvicorn("wsproto"), "--ssl-keyfile", "--ssl-certfile"),
            workers_option="--workers",
            description="uvicorn with --ws wsproto",
            ws_impl=f"wsproto {_dist_version('wsproto')}",
            extra_modules=("wsproto",),
        ),
        ServerSpec(
            name="uvicorn-websockets",
            distribution="uvicorn",
            module="uvicorn",
            args=_uvicorn("websockets"),
            listen_backlog=2048,
            backlog_args=_backlog_option(_uvicorn("websockets")),
            tls_args=_with_tls(_uvicorn("websockets"), "--ssl-keyfile", "--ssl-certfile"),
            workers_option="--workers",
            description="uvicorn with --ws websockets (websockets' legacy asyncio protocol)",
            ws_impl=f"websockets {_dist_version('websockets')} (legacy)",
            extra_modules=("websockets",),
        ),
        ServerSpec(
            name="hypercorn",
            distribution="hypercorn",
            module="hypercorn",
            args=_hypercorn,
            listen_backlog=100,
            backlog_args=_backlog_option(_hypercorn),
            tls_args=_with_tls(_hypercorn, "--keyfile", "--certfile"),
            workers_option="--workers",
            description="Hypercorn (asyncio worker, wsproto)",
            ws_impl=f"wsproto {_dist_version('wsproto')}",
        ),
        ServerSpec(
            name="granian",
            distribution="granian",
            module="granian",
            args=_granian,
            listen_backlog=1024,  # granian accepts no less than 128
            backlog_args=_backlog_option(_granian),
            tls_args=_with_tls(_granian, "--ssl-keyfile", "--ssl-certificate"),
            workers_option="--workers",
            description="Granian (Rust, tokio + tungstenite), ASGI interface",
            ws_impl="tungstenite (built in)",
        ),
    )
}


def _rawecho(app: str, host: str, port: int) -> list[str]:
    return ["--host", host, "--port", str(port)]


# Not an ASGI server: the no-ASGI echo baseline for headroom and layer breakdowns.
RAW_ECHO = ServerSpec(
    name="raw-echo",
    distribution="picows",
    module="channels_harness.servers.rawecho",
    args=_rawecho,
    description="picows echo server on uvloop, no ASGI, no Django (baseline)",
    ws_impl=f"picows {_dist_version('picows')}",
    health="tcp",
    listen_backlog=100,  # asyncio's create_server default
)


# The servers a quick run measures and every deep dive focuses on: the Channels
# project's own server and the most used ASGI server.
FOCUS_SERVERS = ("daphne", "uvicorn")


def get_spec(name: str) -> ServerSpec:
    """The registered spec called ``name``; a clear error naming the choices if none."""
    if name == RAW_ECHO.name:
        return RAW_ECHO
    try:
        return SERVERS[name]
    except KeyError:
        choices = ", ".join(SERVERS)
        raise UnknownServerError(f"unknown server {name!r}; choose one of: {choices}") from None
