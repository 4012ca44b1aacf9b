"""The keepalive pings a server sends on its own, watched over the whole session.

RFC 6455 5.5.2 lets either end ping; servers use it to find dead peers, with
an interval and a timeout of tens of seconds. No single case can wait that
long, so the first case that uses a server starts a :class:`KeepaliveWatch`:
two idle connections, one that answers every ping and one that never does,
read by a background thread until they end or :data:`WATCH_S` passes. A case
run late in the session reads what the watch saw.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from channels_harness.protocol import wire
from channels_harness.protocol.rawclient import Closing, RawClient
from channels_harness.servers.process import ServerProcess

# Long enough to see a 20 s interval twice and a 30 s timeout after the first ping.
WATCH_S = 56.0
POLL_S = 0.5
WATCH_PATH = "/ws/echo/async/"


@dataclass
class Observation:
    """What one idle connection saw: ping times and how (and when) it ended."""

    answers: bool
    pings: list[float] = field(default_factory=list)
    ended_at: float | None = None
    ending: str = ""


class KeepaliveWatch:
    """Two idle connections to one server process, read in a daemon thread."""

    def __init__(self, server: ServerProcess, limit_s: float = WATCH_S) -> None:
        self.pid = server.pid
        self.started = time.monotonic()
        self.limit_s = limit_s
        self.answering = Observation(answers=True)
        self.silent = Observation(answers=False)
        self._stop = threading.Event()
        self._clients: list[RawClient] = []
        self._threads: list[threading.Thread] = []
        assert server.port is not None
        for observation in (self.answering, self.silent):
            client = RawClient(server.host, server.port, WATCH_PATH)
            client.connect()
            self._clients.append(client)
            thread = threading.Thread(
                target=self._read, args=(client, observation), daemon=True, name="keepalive"
            )
            self._threads.append(thread)
            thread.start()

    def _read(self, client: RawClient, observation: Observation) -> None:
        end = self.started + self.limit_s
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                frame = client.frame_before(min(end, time.monotonic() + POLL_S))
            except TimeoutError:
                continue
            except OSError as exc:
                self._ended(observation, f"TCP closed without a close frame ({exc})")
                return
            if frame.opcode == wire.Opcode.PING:
                observation.pings.append(time.monotonic() - self.started)
                if observation.answers:
                    with contextlib.suppress(OSError):
                        client.send_frame(wire.Opcode.PONG, frame.payload)
            elif frame.opcode == wire.Opcode.CLOSE:
                self._ended(observation, Closing(frame=frame).describe())
                return

    def _ended(self, observation: Observation, how: str) -> None:
        if not self._stop.is_set():
            observation.ended_at = time.monotonic() - self.started
            observation.ending = how

    @property
    def settled(self) -> bool:
        """Whether waiting longer can teach nothing more (both seen, or time is up)."""
        if time.monotonic() - self.started >= self.limit_s:
            return True
        interval_seen = len(self.answering.pings) >= 2 or self.answering.ended_at is not None
        return interval_seen and self.silent.ended_at is not None

    def wait(self) -> None:
        """Block until :attr:`settled` (at most until the watch's limit)."""
        while not self.settled:
            time.sleep(POLL_S)

    def stop(self) -> None:
        """End the reading threads and close both connections."""
        self._stop.set()
        for thread in self._threads:
            thread.join(POLL_S * 4)
        for client in self._clients:
            client.close()

    def interval(self) -> str:
        """The ping interval as seen by the connection that answers."""
        pings = self.answering.pings
        if not pings:
            return f"no ping within {self.limit_s:.0f} s"
        text = f"first ping after {pings[0]:.0f} s"
        if len(pings) > 1:
            text += f", then every {(pings[-1] - pings[0]) / (len(pings) - 1):.0f} s"
        return text

    def timeout(self) -> str:
        """What happened to the connection that never answers a ping."""
        silent = self.silent
        if silent.ended_at is None:
            if not silent.pings:
                return "not tested (no ping)"
            return f"still open {self.limit_s:.0f} s after opening, pings unanswered"
        if not silent.pings:
            return f"closed after {silent.ended_at:.0f} s without a ping: {silent.ending}"
        after = silent.ended_at - silent.pings[0]
        return f"closed {after:.0f} s after the first unanswered ping: {silent.ending}"


_watches: dict[tuple[str, int | None], KeepaliveWatch] = {}
_lock = threading.Lock()


def watch_for(server: ServerProcess) -> KeepaliveWatch:
    """The watch of this server process, started on the first call."""
    key = (server.spec.name, server.pid)
    with _lock:
        if key not in _watches:
            _watches[key] = KeepaliveWatch(server)
        return _watches[key]


def stop_all() -> None:
    """Stop every watch (the end of the session)."""
    with _lock:
        for watch in _watches.values():
            watch.stop()
        _watches.clear()
