"""Reading back what a server answers to a sequence of frames, in arrival order.

A case sends frames (valid or not, whole or in pieces) and then reads an
:class:`Exchange`: the messages and pongs that came back, in order, and how
the connection ended if it did. Reading stops as soon as what the case waits
for has come, so a conforming server costs no fixed wait.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from channels_harness.experiments.conformance.live import ARRIVAL_WAIT_S, MARKER, open_echo
from channels_harness.experiments.conformance.live import INVALID_DATA as INVALID_DATA
from channels_harness.experiments.conformance.live import PROTOCOL_ERROR as PROTOCOL_ERROR
from channels_harness.protocol import wire
from channels_harness.protocol.rawclient import Closing, RawClient
from channels_harness.protocol.wire import Opcode
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess

# How long a case waits for a server to fail a connection it should fail at once.
FAIL_WAIT_S = 1.5
KINDS: dict[int, str] = {Opcode.TEXT: "text", Opcode.BINARY: "binary"}


@dataclass
class Exchange:
    """What came back: ``(kind, payload)`` events in order (``text``, ``binary``,
    ``pong``), how the connection ended (None: still open), and for each data
    message whether it came compressed (permessage-deflate, decompressed here)."""

    events: list[tuple[str, bytes]] = field(default_factory=list)
    closing: Closing | None = None
    compressed: list[bool] = field(default_factory=list)

    def messages(self) -> list[tuple[str, bytes]]:
        return [event for event in self.events if event[0] != "pong"]

    def pongs(self) -> list[bytes]:
        return [payload for kind, payload in self.events if kind == "pong"]

    def describe(self, limit: int = 40) -> str:
        """One line: the events (payloads cut to ``limit`` bytes) and the ending."""
        shown = [
            f"{kind} {payload[:limit]!r}{'...' if len(payload) > limit else ''}"
            + (f" ({len(payload)} bytes)" if len(payload) > limit else "")
            for kind, payload in self.events
        ]
        text = ", ".join(shown) or "nothing"
        return text + ("; still open" if self.closing is None else f"; {self.closing.describe()}")


def exchange(
    conn: RawClient,
    *,
    messages: int | None = None,
    pongs: int = 0,
    timeout: float = ARRIVAL_WAIT_S,
) -> Exchange:
    """Read until ``messages`` data messages (None: until the :data:`MARKER` echo,
    which is not kept) and ``pongs`` pongs came, the connection ended, or the wait
    ran out. Pings are answered; a close frame is answered with its code."""
    result = Exchange()
    parts: list[wire.Frame] = []
    marker_seen = False
    deadline = time.monotonic() + scaled(timeout)
    while True:
        got = sum(1 for kind, _ in result.events if kind != "pong")
        enough = marker_seen if messages is None else got >= messages
        if enough and len(result.pongs()) >= pongs:
            return result
        try:
            frame = conn.frame_before(deadline)
        except TimeoutError:
            result.closing = Closing()
            return result
        except OSError:
            result.closing = Closing(eof=True)
            return result
        if frame.opcode == Opcode.CLOSE:
            with contextlib.suppress(OSError):
                conn.send_frame(Opcode.CLOSE, frame.payload[:2])
            result.closing = conn.wait_closing(0.5, reply=False)
            result.closing.frame = frame
            return result
        if frame.opcode == Opcode.PING:
            with contextlib.suppress(OSError):
                conn.send_frame(Opcode.PONG, frame.payload)
        elif frame.opcode == Opcode.PONG:
            result.events.append(("pong", frame.payload))
        else:
            parts.append(frame)
            if frame.fin:
                kind, payload, compressed = _message(conn, parts)
                parts.clear()
                if kind == "text" and payload == MARKER.encode() and messages is None:
                    marker_seen = True
                else:
                    result.events.append((kind, payload))
                    result.compressed.append(compressed)


def _message(conn: RawClient, parts: list[wire.Frame]) -> tuple[str, bytes, bool]:
    """The kind and payload of a whole message, decompressed if it came compressed
    (kind ``corrupt`` when it does not decompress), and whether it did."""
    kind = KINDS.get(parts[0].opcode, f"opcode {parts[0].opcode}")
    payload = b"".join(part.payload for part in parts)
    compressed = bool(parts[0].rsv & wire.RSV1) and conn.deflate is not None
    if compressed:
        assert conn.deflate is not None
        try:
            payload = conn.deflate.incoming.decompress(payload)
        except wire.WireError:
            kind = "corrupt"
    return kind, payload, compressed


def after_sending(server: ServerProcess, data: bytes, *, chop: int | None = None) -> Closing:
    """How a fresh echo connection ended within :data:`FAIL_WAIT_S` after ``data``
    (written ``chop`` bytes at a time if given); data frames on the way are kept."""
    with open_echo(server) as conn:
        if chop:
            conn.send_chopped(data, chop)
        else:
            conn.send_raw(data)
        return conn.wait_closing(FAIL_WAIT_S)


def frames(*parts: tuple[int, bytes] | tuple[int, bytes, bool]) -> bytes:
    """Masked frames back to back: ``(opcode, payload)`` or ``(opcode, payload, fin)``."""
    out = b""
    for part in parts:
        fin = part[2] if len(part) == 3 else True
        out += wire.build_frame(part[0], part[1], fin=fin)
    return out
