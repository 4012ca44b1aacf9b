"""Several processes of one server sharing one channel layer, as one unit.

uvicorn (and its ``--ws`` variants) and hypercorn run ``--workers N`` behind
one listening socket (the kernel hands each connection to one worker); the
others (daphne, granian) run N independent processes on their own ports and
the generator spreads its connections over them round-robin (:meth:`Fleet.urls`).
Every process is a :class:`~channels_harness.servers.ServerProcess`, so each
is reaped on every exit path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil

from .servers import ServerProcess, ServerSpec

# Servers whose own --workers option runs N processes behind one socket.
WORKERS_OPTION = {"uvicorn", "uvicorn-wsproto", "uvicorn-websockets", "hypercorn"}


@dataclass
class Fleet:
    """``processes`` server processes of ``spec`` with one environment (layer, Redis)."""

    spec: ServerSpec
    processes: int = 1
    env: dict[str, str] = field(default_factory=dict)
    cpus: frozenset[int] | None = None
    members: list[ServerProcess] = field(default_factory=list, init=False)

    @property
    def mode(self) -> str:
        """``workers`` (one socket, the server's --workers) or ``ports`` (one per process)."""
        if self.processes > 1 and self.spec.name in WORKERS_OPTION:
            return "workers"
        return "ports"

    def __enter__(self) -> Fleet:
        try:
            if self.mode == "workers":
                self._start(["--workers", str(self.processes)])
            else:
                for _ in range(self.processes):
                    self._start([])
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, extra_args: list[str]) -> None:
        server = ServerProcess(self.spec, env=dict(self.env), cpus=self.cpus, extra_args=extra_args)
        self.members.append(server)
        server.start()

    def stop(self) -> None:
        for server in self.members:
            server.stop()

    def urls(self, path: str) -> list[str]:
        """The WebSocket URL of ``path`` on each listening socket."""
        return [server.ws_url(path) for server in self.members]

    @property
    def running(self) -> bool:
        return bool(self.members) and all(server.running for server in self.members)

    def os_processes(self) -> list[psutil.Process]:
        """Every OS process of the fleet (leaders and their workers)."""
        return [proc for server in self.members for proc in server.processes()]

    def rss_bytes(self) -> int:
        return sum(server.rss_bytes() for server in self.members)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(server.log_tail(lines) for server in self.members)

    def info(self) -> dict[str, Any]:
        info = self.members[0].info() if self.members else self.spec.describe()
        return {**info, "processes": self.processes, "fleet_mode": self.mode}


@contextlib.contextmanager
def fleet(
    spec: ServerSpec,
    processes: int,
    env: dict[str, str] | None = None,
    cpus: frozenset[int] | None = None,
) -> Iterator[Fleet]:
    """``with fleet(spec, 4, env) as servers:`` starts them all and always stops them."""
    with Fleet(spec, processes, dict(env or {}), cpus) as running:
        yield running
