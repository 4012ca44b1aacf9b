"""What every attack shares: its settings, its result, and raw-socket helpers.

An attack is a function ``(server, settings) -> Outcome`` that talks to a live
:class:`~channels_harness.experiments.attacks.victim.Victim` over raw loopback sockets,
closes every connection it opened before returning, and says in a few words
what the server did.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels_harness.protocol import wire
from channels_harness.runtime.timeouts import scaled

if TYPE_CHECKING:
    from channels_harness.experiments.attacks.victim import Victim

# SO_LINGER on, zero seconds: close() sends a TCP RST instead of a FIN.
RESET_LINGER = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class Settings:
    """How hard the attacks push. The command's defaults; tests use :data:`SMALL`."""

    flood_connections: int = 3000
    flood_concurrency: int = 200
    flood_timeout_s: float = 60.0
    hold_s: float = 10.0
    byte_delay_s: float = 0.05
    resets: int = 20
    answer_wait_s: float = 5.0
    settle_s: float = 15.0


FULL = Settings()
SMALL = Settings(
    flood_connections=300,
    flood_concurrency=100,
    flood_timeout_s=30.0,
    hold_s=2.0,
    byte_delay_s=0.01,
    resets=8,
)


@dataclass(frozen=True)
class Outcome:
    """What the server did (short) and the particulars (longer)."""

    outcome: str
    detail: str = ""


Attack = Callable[["Victim", Settings], Outcome]


def connect(server: Victim, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to ``server`` with Nagle off (nothing sent yet)."""
    assert server.port is not None
    sock = socket.create_connection((server.host, server.port), timeout=scaled(timeout))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def reset(sock: socket.socket) -> None:
    """Abort ``sock`` with a TCP reset (no FIN, no close frame)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_LINGER)
    with contextlib.suppress(OSError):
        sock.close()


def upgrade_request(server: Victim, path: str, key: str | None = "") -> bytes:
    """A well-formed upgrade request for ``path`` (``key`` "" = a fresh key) with the
    victim's handshake headers."""
    return wire.handshake_request(
        f"{server.host}:{server.port}",
        path,
        wire.new_key() if key == "" else key,
        headers=server.headers,
    )


@dataclass
class Watch:
    """What came back on a socket while we watched it.

    ``ended`` is "eof", "reset" or "" (still open at the end of the wait);
    ``at`` is when it ended, or the end of the wait if it did not.
    """

    data: bytes = b""
    ended: str = ""
    at: float = 0.0
    first_byte_at: float | None = None


def watch(
    sock: socket.socket,
    seconds: float = 0.0,
    *,
    deadline: float | None = None,
    until: Callable[[bytes], bool] | None = None,
) -> Watch:
    """Read from ``sock`` for ``seconds`` (scaled), or up to ``deadline`` (a
    ``time.monotonic()`` value), or until the peer ends it.

    With ``until``, stop as soon as it is true of the bytes received so far
    (for example :func:`has_head`).
    """
    if deadline is None:
        deadline = time.monotonic() + scaled(seconds)
    return watch_many([sock], deadline, until=until)[0]


def watch_many(
    socks: list[socket.socket],
    deadline: float,
    *,
    until: Callable[[bytes], bool] | None = None,
) -> list[Watch]:
    """:func:`watch` on several sockets at once, timed from one start.

    Whatever is already readable at the deadline is still read, so an end that
    came during the wait is never missed.
    """
    started = time.monotonic()
    seen = [Watch() for _ in socks]
    buffers = [bytearray() for _ in socks]
    open_ = dict(enumerate(socks))
    while open_:
        remaining = max(0.0, deadline - time.monotonic())
        readable, _, _ = select.select(list(open_.values()), [], [], remaining)
        if not readable:
            break
        for index, sock in list(open_.items()):
            if sock not in readable:
                continue
            now = time.monotonic() - started
            try:
                chunk = sock.recv(256 * 1024)
            except OSError:
                chunk, seen[index].ended = b"", "reset"
            if not chunk:
                seen[index].ended = seen[index].ended or "eof"
                seen[index].at = now
                del open_[index]
                continue
            if seen[index].first_byte_at is None:
                seen[index].first_byte_at = now
            buffers[index] += chunk
            seen[index].at = now
            if until is not None and until(bytes(buffers[index])):
                del open_[index]
    end = time.monotonic() - started
    for index, watched in enumerate(seen):
        watched.data = bytes(buffers[index])
        if not watched.ended:
            watched.at = end
    return seen


def has_head(data: bytes) -> bool:
    """Whether ``data`` holds a whole HTTP response head."""
    return wire.split_head(data) is not None


def status_of(data: bytes) -> int | None:
    """The HTTP status of the response head at the start of ``data``, if any."""
    split = wire.split_head(data)
    if split is None:
        return None
    try:
        return wire.parse_response_head(split[0]).status
    except wire.WireError:
        return None


def frames_in(data: bytes) -> list[wire.Frame]:
    """The whole frames in ``data`` (a trailing partial frame is ignored)."""
    try:
        return wire.parse_frames(data)[0]
    except wire.WireError:
        return []
