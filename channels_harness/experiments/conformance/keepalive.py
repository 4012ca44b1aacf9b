"""The keepalive pings a server sends on its own, watched over the whole session.

RFC 6455 5.5.2 lets either end ping; servers use it to find dead peers, with
an interval and a timeout of tens of seconds. No single case can wait that
long, so at the start of the session a :class:`KeepaliveWatch` per server
starts a server process of its own (its idle connections never show in
another test's counts) and opens two idle connections to it: one that
answers every ping and one that never does. They are read until both have
taught what they can or :data:`WATCH_S` passes, and the findings are written
to a JSON file in the session's folder (:func:`watch_dir`), where the case
that reports them, run late, reads them from whichever process it runs in.
With pytest-xdist the first worker to claim a server's watch runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels_harness.errors import HarnessError
from channels_harness.protocol import wire
from channels_harness.protocol.rawclient import Closing, RawClient
from channels_harness.report.model import write_atomic
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import get_spec

# Long enough to see a 20 s interval twice and a 30 s timeout after the first ping.
# The harness's own tests that run the suite only to check its plumbing set
# HARNESS_KEEPALIVE_WATCH_S lower (the case is INFO and SHOULD, never a MUST, and
# a shorter watch reports "no ping within N s"): it spares them the wait.
WATCH_VARIABLE = "HARNESS_KEEPALIVE_WATCH_S"


def _watch_s(default: float = 56.0) -> float:
    """The watch's length: $HARNESS_KEEPALIVE_WATCH_S when it is a positive number."""
    with contextlib.suppress(ValueError):
        value = float(os.environ.get(WATCH_VARIABLE, ""))
        if value > 0:
            return value
    return default


WATCH_S = _watch_s()
POLL_S = 0.5
WATCH_PATH = "/ws/echo/async/"
# The session's folder for claims and findings; set by the plugin, inherited by workers.
DIR_VARIABLE = "HARNESS_KEEPALIVE_DIR"


def watch_dir() -> Path:
    """The folder this test session shares its keepalive findings in."""
    folder = os.environ.get(DIR_VARIABLE)
    if not folder:
        raise HarnessError(f"{DIR_VARIABLE} is not set: the conformance plugin sets it")
    return Path(folder)


@dataclass
class Observation:
    """What one idle connection saw: ping times and how (and when) it ended."""

    answers: bool
    pings: list[float] = field(default_factory=list)
    ended_at: float | None = None
    ending: str = ""


class KeepaliveWatch:
    """One server process of ``name`` and two idle connections, read in daemon threads;
    the findings go to ``result_path`` once settled (or when stopped)."""

    def __init__(self, name: str, result_path: Path, limit_s: float = WATCH_S) -> None:
        self.name = name
        self.result_path = result_path
        self.limit_s = limit_s
        self.started = time.monotonic()
        self.answering = Observation(answers=True)
        self.silent = Observation(answers=False)
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"keepalive-{name}")
        self._thread.start()

    def _run(self) -> None:
        try:
            with ServerProcess(get_spec(name=self.name)) as server:
                self.started = time.monotonic()
                readers = [self._reader(server, obs) for obs in (self.answering, self.silent)]
                while not self._stop.is_set() and not self.settled:
                    time.sleep(POLL_S)
                self._stop.set()
                for reader in readers:
                    reader.join(POLL_S * 4)
        except (HarnessError, OSError, ValueError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            write_atomic(self.result_path, json.dumps(self.findings()))

    def _reader(self, server: ServerProcess, observation: Observation) -> threading.Thread:
        assert server.port is not None
        client = RawClient(server.host, server.port, WATCH_PATH)
        client.connect()
        thread = threading.Thread(target=self._read, args=(client, observation), daemon=True)
        thread.start()
        return thread

    def _read(self, client: RawClient, observation: Observation) -> None:
        end = self.started + self.limit_s
        with client:
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
        observation.ended_at = time.monotonic() - self.started
        observation.ending = how

    @property
    def settled(self) -> bool:
        """Whether waiting longer can teach nothing more (both seen, or time is up)."""
        if time.monotonic() - self.started >= self.limit_s:
            return True
        interval_seen = len(self.answering.pings) >= 2 or self.answering.ended_at is not None
        return interval_seen and self.silent.ended_at is not None

    def stop(self, wait_s: float) -> None:
        """Let the watch settle (at most ``wait_s`` more seconds), then end it: its
        connections and its server are closed and its findings written."""
        deadline = time.monotonic() + wait_s
        while self._thread.is_alive() and not self.settled and time.monotonic() < deadline:
            time.sleep(POLL_S)
        self._stop.set()
        self._thread.join(30.0)

    def findings(self) -> dict[str, Any]:
        """The interval, the timeout and what became of the answering connection."""
        answering = self.answering
        return {
            "error": self.error,
            "interval": self.interval(),
            "timeout": self.timeout(),
            "answering_closed": None
            if answering.ended_at is None
            else f"closed after {answering.ended_at:.0f} s: {answering.ending}",
        }

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


_watches: dict[str, KeepaliveWatch] = {}
_lock = threading.Lock()


def claim(name: str, folder: Path) -> None:
    """Start the watch of server ``name`` here, unless a process of this session has."""
    with _lock:
        try:
            os.close(os.open(folder / f"{name}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        _watches[name] = KeepaliveWatch(name, folder / f"{name}.json")


def findings(name: str, folder: Path, wait_s: float) -> dict[str, Any] | None:
    """The findings of server ``name``'s watch (claimed now if nobody has), waiting for
    them at most ``wait_s`` seconds; None if they did not come."""
    claim(name, folder)
    path = folder / f"{name}.json"
    deadline = time.monotonic() + wait_s
    while not path.exists():
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_S)
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def stop_all() -> None:
    """End this process's watches, each once it has settled (the end of the session)."""
    with _lock:
        watches = list(_watches.values())
        _watches.clear()
    for watch in watches:
        watch.stop(WATCH_S)
