"""RFC 6455 on the wire, sans-I/O: build and parse frames and the opening handshake.

Pure functions over bytes, no sockets (the socket layer is
:mod:`channels_harness.protocol.rawclient`). The builder deliberately lets a caller
produce frames no conforming client would send (unmasked, reserved bits set,
reserved opcodes, fragmented or oversized control frames, bad close payloads),
because the conformance suites need exactly those.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import os
import struct
from dataclasses import dataclass

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_CONTROL_PAYLOAD = 125


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 5.2); 0x3-0x7 and 0xB-0xF are reserved."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})


class WireError(ValueError):
    """Bytes that are not a well-formed frame or handshake response."""


@dataclass(frozen=True)
class Frame:
    """One parsed frame; ``opcode`` is an int so reserved opcodes survive parsing."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0
    masked: bool = False

    @property
    def is_control(self) -> bool:
        return self.opcode >= 0x8

    def close_code(self) -> int | None:
        """The status code of a close frame, or None when its payload is empty."""
        return parse_close(self.payload)[0]

    def close_reason(self) -> bytes:
        """The raw reason bytes of a close frame (possibly not UTF-8)."""
        return parse_close(self.payload)[1]


def mask_payload(payload: bytes, key: bytes) -> bytes:
    """``payload`` XOR-ed with the 4-byte ``key`` repeated (RFC 6455 5.3)."""
    if len(key) != 4:
        raise ValueError("a masking key is 4 bytes")
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    mask_key: bytes | None = None,
) -> bytes:
    """The bytes of one frame.

    ``rsv`` is the three reserved bits as a number 0-7 (RSV1 = 4). ``mask``
    False builds the unmasked frame a client must never send. The payload
    length uses the minimal encoding (7, 16 or 64 bits).
    """
    if not 0 <= opcode <= 0xF:
        raise ValueError(f"opcode {opcode} does not fit in 4 bits")
    if not 0 <= rsv <= 7:
        raise ValueError(f"rsv {rsv} does not fit in 3 bits")
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        head.append(mask_bit | length)
    elif length < 1 << 16:
        head.append(mask_bit | 126)
        head += struct.pack("!H", length)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", length)
    if not mask:
        return bytes(head) + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return bytes(head) + key + mask_payload(payload, key)


def close_payload(code: int | None = None, reason: bytes | str = b"") -> bytes:
    """A close frame body: nothing, or the 2-byte code then the reason (RFC 6455 5.5.1).

    Codes are not validated so that invalid ones can be sent on purpose.
    """
    if code is None:
        if reason:
            raise ValueError("a close reason needs a code")
        return b""
    raw = reason.encode("utf-8") if isinstance(reason, str) else reason
    return struct.pack("!H", code) + raw


def parse_close(payload: bytes) -> tuple[int | None, bytes]:
    """``(code, reason bytes)`` from a close frame body; ``(None, b"")`` if empty.

    A 1-byte body is malformed and raises :class:`WireError`.
    """
    if not payload:
        return None, b""
    if len(payload) == 1:
        raise WireError("a close payload of one byte has no complete status code")
    return struct.unpack("!H", payload[:2])[0], payload[2:]


def parse_frame(data: bytes | bytearray) -> tuple[Frame, int] | None:
    """The first complete frame in ``data`` and how many bytes it used, or None
    when ``data`` does not hold a whole frame yet. Masked frames are unmasked."""
    if len(data) < 2:
        return None
    first, second = data[0], data[1]
    masked = bool(second & 0x80)
    length = second & 0x7F
    offset = 2
    if length == 126:
        if len(data) < 4:
            return None
        length = struct.unpack_from("!H", data, 2)[0]
        offset = 4
    elif length == 127:
        if len(data) < 10:
            return None
        length = struct.unpack_from("!Q", data, 2)[0]
        offset = 10
    key = b""
    if masked:
        if len(data) < offset + 4:
            return None
        key = bytes(data[offset : offset + 4])
        offset += 4
    end = offset + length
    if len(data) < end:
        return None
    payload = bytes(data[offset:end])
    if masked:
        payload = mask_payload(payload, key)
    frame = Frame(
        opcode=first & 0x0F,
        payload=payload,
        fin=bool(first & 0x80),
        rsv=(first >> 4) & 0x07,
        masked=masked,
    )
    return frame, end


def parse_frames(data: bytes | bytearray) -> tuple[list[Frame], bytes]:
    """Every complete frame in ``data`` and the bytes left over."""
    frames: list[Frame] = []
    view = bytes(data)
    while True:
        parsed = parse_frame(view)
        if parsed is None:
            return frames, view
        frame, used = parsed
        frames.append(frame)
        view = view[used:]


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64 (RFC 6455 4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key`` (RFC 6455 4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_request(
    host: str,
    path: str,
    key: str | None,
    *,
    subprotocols: tuple[str, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    version: str = "13",
) -> bytes:
    """An HTTP/1.1 upgrade request; ``key`` None leaves the key header out."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Version: {version}",
    ]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True)
class HandshakeResponse:
    """The server's HTTP response to the upgrade request."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


def split_head(data: bytes | bytearray) -> tuple[bytes, bytes] | None:
    """``(head, rest)`` split at the first blank line, or None if not all arrived."""
    index = bytes(data).find(b"\r\n\r\n")
    if index < 0:
        return None
    return bytes(data[:index]), bytes(data[index + 4 :])


def parse_response_head(head: bytes) -> HandshakeResponse:
    """Status line and headers of an HTTP/1.1 response head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise WireError(f"not an HTTP status line: {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise WireError(f"malformed header line: {line!r}")
        headers.append((name.strip(), value.strip()))
    return HandshakeResponse(
        status=int(parts[1]),
        reason=parts[2] if len(parts) > 2 else "",
        headers=tuple(headers),
    )


def dechunk(data: bytes | bytearray) -> bytes | None:
    """The body of a complete ``Transfer-Encoding: chunked`` stream, or None if incomplete."""
    body = bytearray()
    view = bytes(data)
    while True:
        line_end = view.find(b"\r\n")
        if line_end < 0:
            return None
        size_text = view[:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise WireError(f"bad chunk size line {view[:line_end]!r}") from None
        start = line_end + 2
        if size == 0:
            return bytes(body)
        if len(view) < start + size + 2:
            return None
        body += view[start : start + size]
        view = view[start + size + 2 :]
