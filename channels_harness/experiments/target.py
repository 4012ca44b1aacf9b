"""What the load goes to, and a first round trip before anything is measured.

A :class:`Target` is the reference app (the default), the user's app started
under each server (``--app``, ``--app-dir``, ``--settings``), or a server that
is already running (``--url``); with the path to load (``--path`` replaces
the URL's own), the :class:`~channels_harness.protocol.traffic.Traffic`
clients send and, for a scenario file, its
:class:`~channels_harness.protocol.scenario.Scenario`.

Before a measuring experiment loads a server it calls :meth:`Target.prepare`:
it logs in when asked (``--login``), then makes one real round trip (connect
with the handshake, send the first message, wait for a reply) so that a
refused handshake, a reply that never comes or a reply ``--expect`` rejects is
one clear error (:class:`~channels_harness.errors.TargetError`, exit 2) instead
of a run full of failed cells. For a scenario the round trip is the connect
steps and one round of the steps (:mod:`.first_contact`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels_harness.errors import ReplyError, UsageError
from channels_harness.experiments.first_contact import first_conversation, open_connection
from channels_harness.protocol.scenario import Scenario
from channels_harness.protocol.traffic import Traffic, login_cookie, with_cookie
from channels_harness.runtime.loopback import check_target
from channels_harness.runtime.paths import TARGET_APP_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import get_spec
from channels_harness.servers.remote import RemoteServer
from channels_harness.servers.userapp import Readiness, check_app

# How long the first round trip waits for the reply.
REPLY_WAIT_S = 10.0

Server = ServerProcess | RemoteServer


@dataclass(frozen=True)
class Target:
    """The app or server the load is for, and what clients send it (see the module doc)."""

    app: str | None = None
    app_dir: Path | None = None
    settings: str | None = None
    url: str | None = None
    path: str | None = None
    ready_path: str | None = None
    traffic: Traffic = field(default_factory=Traffic)
    login: str | None = None
    login_url: str | None = None
    allow_remote: bool = False
    scenario: Scenario | None = None

    @property
    def own(self) -> bool:
        """Whether this is the user's app or running server (not the reference app)."""
        return self.app is not None or self.url is not None

    @property
    def label(self) -> str:
        """How rows name what was loaded: the path (or ``--url``'s), else ``app``."""
        if self.url is not None and self.path is None:
            return RemoteServer(self.url).path
        return self.path or "app"

    def check(self, require_path: bool = True) -> Target:
        """Check the options before anything starts (the app imports, the URL may be
        loaded; ``--app`` has a ``--path`` when ``require_path``); return the target.
        Raises a HarnessError naming the problem."""
        if self.url is not None:
            if self.app is not None:
                raise UsageError("--url and --app exclude each other: load one or the other")
            check_target(self.url, self.allow_remote)
            RemoteServer(self.url)
        elif self.app is not None:
            if self.path is None and require_path:
                raise UsageError(
                    "--app needs --path: the WebSocket path to load, e.g. /ws/chat/lobby/"
                )
            check_app(self.app, self.app_directory, self.settings)
        if self.login is not None and self.login_url is None:
            raise UsageError(
                "--login needs --login-url, the login page's path (e.g. /accounts/login/)"
            )
        return self

    @property
    def app_directory(self) -> Path:
        """The folder the app is imported from (the reference app's for the default)."""
        return (self.app_dir or Path.cwd()).resolve() if self.app else TARGET_APP_DIR

    def server(self, name: str, serving: bool = False, **options: Any) -> ServerProcess:
        """A (not yet started) ServerProcess of server ``name`` running this target's app
        (ready as :meth:`server_options` says)."""
        if self.app is None:
            return ServerProcess(get_spec(name), **options)
        return ServerProcess(get_spec(name), **self.server_options(serving), **options)

    def server_options(self, serving: bool = False) -> dict[str, Any]:
        """What a ServerProcess needs to run the user's app (empty for the reference app).

        It is ready when a handshake at ``--path`` (``/`` without one) completes, and
        a refusal is an error. ``serving`` (``serve``, which only has to be up): ready
        on any HTTP answer to that handshake, or without ``--path`` on any HTTP answer
        on ``/``."""
        if self.app is None:
            return {}
        ws_path = (self.path or "/").replace("{conn}", "0")
        if serving:
            readiness = Readiness(
                ws_path if self.path else None, self.ready_path, self.traffic, True
            )
        else:
            readiness = Readiness(ws_path, self.ready_path, self.traffic)
        return {
            "app": self.app,
            "app_dir": self.app_directory,
            "settings": self.settings,
            "readiness": readiness,
        }

    def remote(self) -> RemoteServer:
        """The running server of ``--url`` (checked to accept connections)."""
        assert self.url is not None
        return RemoteServer(self.url).start()

    def ws_url(self, server: Server) -> str:
        """The URL the load goes to on ``server`` (``{conn}`` left for the client)."""
        if isinstance(server, RemoteServer):
            return server.ws_url(self.path)
        return server.ws_url(self.path or "/")

    def prepare(self, server: Server, *, round_trip: bool = True) -> Traffic:
        """Log in when asked, then (unless ``round_trip`` is off) make one round trip;
        return the traffic to load with (the session cookie added). Raises TargetError
        with the problem and the fix."""
        traffic = self.traffic
        if self.login is not None and self.login_url is not None:
            cookie = login_cookie(
                server.http_url("/"), self.login_url, self.login, insecure=traffic.insecure
            )
            traffic = with_cookie(traffic, cookie)
        url = self.ws_url(server).replace("{conn}", "0")
        if not round_trip:
            return traffic
        if self.scenario is not None:
            first_conversation(url, self.scenario, traffic)
        else:
            first_round_trip(url, traffic)
        return traffic

    def describe(self) -> dict[str, Any]:
        """What a result's options record about the target (no secrets: headers by name)."""
        return {
            "app": self.app,
            "app_dir": str(self.app_directory) if self.app else None,
            "settings": self.settings,
            "url": self.url,
            "path": self.path,
            "messages": list(self.traffic.messages),
            "expect": self.traffic.expect,
            "headers": [name for name, _ in self.traffic.headers],
            "subprotocol": self.traffic.subprotocol,
            "login_url": self.login_url,
            **({"scenario": self.scenario.name} if self.scenario is not None else {}),
            **({"scenario_file": self.scenario.source} if self.scenario is not None else {}),
        }

    def replace(self, **changes: Any) -> Target:
        return dataclasses.replace(self, **changes)


def first_round_trip(url: str, traffic: Traffic, wait: float = REPLY_WAIT_S) -> None:
    """Connect to ``url`` with ``traffic``'s handshake; with messages, send the first and
    wait (``wait`` s, scaled) for a reply that ``expect`` accepts (frames that do not
    match are passed over, as the load passes them over). Raises
    TargetUnreachableError, HandshakeRefusedError or ReplyError."""
    with open_connection(url, traffic) as ws:
        if traffic.echo:
            return
        message = traffic.message(0, 0)
        ws.send(message)
        deadline = time.monotonic() + scaled(wait)
        skipped: list[str] = []
        while True:
            try:
                reply = ws.recv(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise ReplyError(_no_reply(message, url, traffic, skipped, scaled(wait))) from None
            except Exception as exc:  # the server closed the connection
                raise ReplyError(
                    f"the server closed the connection instead of replying to {message[:60]!r} "
                    f"on {url} ({exc}); check --message against what the consumer expects"
                ) from None
            data = reply.encode() if isinstance(reply, str) else reply
            problem = traffic.mismatch(data)
            if problem is None:
                return
            skipped.append(problem)


def _no_reply(message: str, url: str, traffic: Traffic, skipped: list[str], wait: float) -> str:
    """Why the first round trip failed: no frame at all, or none ``expect`` accepts."""
    if not skipped:
        return (
            f"no reply within {wait:.0f} s to {message[:60]!r} on {url}: a round trip "
            "ends at the next message the server sends; does the consumer answer "
            "(to the sender, or to a group it joined)?"
        )
    return (
        f"{len(skipped)} frame(s) within {wait:.0f} s after {message[:60]!r} on {url}, none "
        f"accepted: the last {skipped[-1]} (first message); fix --expect or --message"
    )
