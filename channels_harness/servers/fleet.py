"""Several processes of one server sharing one channel layer, as one unit.

N independent server processes, each on its own loopback port, with the same
environment (layer, Redis URL); the generator spreads its connections over
them round-robin (:meth:`Fleet.urls`). Every process is a
:class:`~channels_harness.servers.process.ServerProcess`, so each is reaped on every
exit path.

Why separate processes rather than a server's own workers (``uvicorn
--workers N`` and the like): not every server has them (daphne does not), and
those that do share one listening port, so how connections spread over the
workers is up to the kernel and the ``accept`` races. One port per process treats every server
alike and makes the spread exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from channels_harness.runtime.loopback import LOOPBACK
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import ServerSpec


@dataclass
class Fleet:
    """``processes`` server processes of ``spec`` with one environment (layer, Redis);
    ``server_options`` go to every :class:`ServerProcess` (the user's app, its settings)."""

    spec: ServerSpec
    processes: int = 1
    env: dict[str, str] = field(default_factory=dict)
    cpus: frozenset[int] | None = None
    host: str = LOOPBACK
    server_options: dict[str, Any] = field(default_factory=dict)
    members: list[ServerProcess] = field(default_factory=list, init=False)

    def __enter__(self) -> Fleet:
        try:
            for _ in range(self.processes):
                self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self) -> None:
        server = ServerProcess(
            self.spec, env=dict(self.env), cpus=self.cpus, host=self.host, **self.server_options
        )
        self.members.append(server)
        server.start()

    def stop(self) -> None:
        for server in self.members:
            server.stop()

    def urls(self, path: str) -> list[str]:
        """The WebSocket URL of ``path`` on each server process."""
        return [server.ws_url(path) for server in self.members]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(server.log_tail(lines) for server in self.members)
