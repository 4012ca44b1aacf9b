"""The server under attack and how to reach its WebSocket endpoint.

For the reference app a :class:`Victim` spreads connections over the echo
endpoints of the four flavours, its canary is an echo, and its live consumers
come from ``GET /stats/``. For the user's app or running server
(a :class:`~channels_harness.experiments.target.Target`) every connection
goes to the target's path with its handshake headers (``--origin``,
``--cookie``...), the canary is one of its messages answered (and matching
``--expect``), and live consumers are not measured (None).
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels_harness.experiments.conformance.live import canary as echo_canary
from channels_harness.protocol.rawclient import RawClient
from channels_harness.protocol.traffic import Traffic
from channels_harness.protocol.wire import Opcode
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.reference import FLAVOURS
from channels_harness.servers.remote import RemoteServer

if TYPE_CHECKING:
    from channels_harness.experiments.target import Target


@dataclass
class Victim:
    """A running server (started here, or ``--url``'s) and what the attacks send it."""

    server: ServerProcess | RemoteServer
    target: Target | None = None
    traffic: Traffic | None = None

    @property
    def own(self) -> bool:
        return self.target is not None and self.target.own

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int | None:
        return self.server.port

    @property
    def running(self) -> bool:
        return self.server.running

    @property
    def exit_code(self) -> int | str:
        popen = self.server.popen
        code = popen.poll() if popen is not None else None
        return "?" if code is None else code

    def log_tail(self, lines: int = 40) -> str:
        return self.server.log_tail(lines)

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Extra headers of every upgrade request (the user's handshake options)."""
        if self.traffic is None:
            return ()
        return tuple(self.traffic.handshake_headers())

    def path(self, index: int = 1) -> str:
        """The endpoint of the ``index``-th connection: the reference app's echo over
        the four flavours round robin, or the target's path (``{conn}`` = ``index``)."""
        if self.own:
            assert self.target is not None
            path = RemoteServer(self.target.url).path if self.target.url else self.target.path
            return "/" + (path or "/").lstrip("/").replace("{conn}", str(index))
        return f"/ws/echo/{FLAVOURS[index % len(FLAVOURS)]}/"

    @property
    def counts_consumers(self) -> bool:
        """Whether live consumers can be read (the reference app's ``GET /stats/``)."""
        return not self.own

    def live_consumers(self, timeout: float = 5.0) -> int | None:
        """The app's live consumers (None when not measured); OSError if /stats/ is silent."""
        if not self.counts_consumers:
            return None
        url = self.server.http_url("stats/")
        with urllib.request.urlopen(url, timeout=scaled(timeout)) as reply:
            return int(json.loads(reply.read())["total_live"])

    def canary(self) -> str | None:
        """None if a fresh connection still answers (an echo, or a reply to the user's
        first message that ``--expect`` accepts), else why not."""
        if not self.own:
            assert isinstance(self.server, ServerProcess)
            return echo_canary(self.server)
        if not self.running:
            return "server process exited" if self.server.popen else "server not reachable"
        return self._message_canary()

    def _message_canary(self) -> str | None:
        traffic = self.traffic or Traffic()
        assert self.port is not None
        client = RawClient(self.host, self.port, self.path(0), headers=self.headers, timeout=5.0)
        try:
            with client:
                response = client.connect()
                if response.status != 101:
                    return f"handshake answered {response.status}"
                if traffic.echo:
                    return None
                client.send_text(traffic.message(0, 0))
                reply = client.recv_message(3.0)
                client.send_close(1000)
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if reply.opcode not in (Opcode.TEXT, Opcode.BINARY):
            return f"unexpected reply {reply.opcode}"
        return traffic.mismatch(reply.payload)
