"""One running server per name for a test session: started on first use,
restarted when a test left it dead, all stopped at the end."""

from __future__ import annotations

from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import get_spec


class ServerPool:
    """One running server per name, started on first use and restarted if dead;
    with ``tls`` every one serves wss:// (see :class:`ServerProcess`)."""

    def __init__(self, tls: bool = False) -> None:
        self._servers: dict[str, ServerProcess] = {}
        self.tls = tls

    def get(self, name: str) -> ServerProcess:
        server = self._servers.get(name)
        if server is not None and server.running:
            return server
        if server is not None:
            server.stop()
        server = ServerProcess(get_spec(name), tls=self.tls)
        self._servers[name] = server.start()
        return server

    def restart(self, name: str) -> ServerProcess:
        server = self._servers.pop(name, None)
        if server is not None:
            server.stop()
        return self.get(name)

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()
