"""RFC 6455 on the wire, sans-I/O: build and parse frames and the opening handshake.

Pure functions over bytes, no sockets (the socket layer is
:mod:`channels_harness.protocol.rawclient`). The builder deliberately lets a caller
produce frames no conforming client would send (unmasked, reserved bits set,
reserved opcodes, fragmented or oversized control frames, bad close payloads),
because the conformance suites need exactly those. permessage-deflate (RFC
7692) is here too: parsing and checking the negotiation, and compressing and
decompressing message bodies with zlib (state objects, still no I/O).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass, field

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
    host: str | None,
    path: str,
    key: str | None,
    *,
    subprotocols: tuple[str, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    version: str | None = "13",
    method: str = "GET",
    http_version: str = "1.1",
    upgrade: str | None = "websocket",
    connection: str | None = "Upgrade",
) -> bytes:
    """An upgrade request (RFC 6455 4.1), by default the one a conforming client sends.

    Each part can be changed to break one requirement of RFC 6455 4.2.1: another
    ``method`` or ``http_version``, and ``None`` for ``host``, ``key``,
    ``version``, ``upgrade`` or ``connection`` leaves that header out.
    """
    fields = [
        ("Host", host),
        ("Upgrade", upgrade),
        ("Connection", connection),
        ("Sec-WebSocket-Version", version),
        ("Sec-WebSocket-Key", key),
    ]
    lines = [f"{method} {path} HTTP/{http_version}"]
    lines += [f"{name}: {value}" for name, value in fields if value is not None]
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


# -- messages as frames and byte streams in pieces --------------------------------


def message_frames(
    opcode: int,
    payload: bytes,
    *,
    fragment_size: int | None = None,
    rsv: int = 0,
    mask: bool = True,
) -> list[bytes]:
    """The frames of one message: one frame, or fragments of ``fragment_size`` bytes.

    ``rsv`` goes on the first frame only (where RFC 7692 6 puts the
    "compressed" bit); continuations carry opcode 0 and FIN is set on the last
    frame. An empty payload is always one frame.
    """
    if fragment_size is None or len(payload) <= fragment_size:
        return [build_frame(opcode, payload, rsv=rsv, mask=mask)]
    if fragment_size < 1:
        raise ValueError("a fragment holds at least one byte")
    parts = chops(payload, fragment_size)
    return [
        build_frame(
            opcode if index == 0 else Opcode.CONT,
            part,
            fin=index == len(parts) - 1,
            rsv=rsv if index == 0 else 0,
            mask=mask,
        )
        for index, part in enumerate(parts)
    ]


def chops(data: bytes, size: int) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes (the last one may be shorter)."""
    if size < 1:
        raise ValueError("a piece holds at least one byte")
    return [data[start : start + size] for start in range(0, len(data), size)] or [b""]


# -- extensions (RFC 6455 9.1) and permessage-deflate (RFC 7692) -------------------

PERMESSAGE_DEFLATE = "permessage-deflate"
# What a sync flush ends with; RFC 7692 7.2.1 strips it, 7.2.2 appends it back.
DEFLATE_TAIL = b"\x00\x00\xff\xff"
MIN_WINDOW_BITS = 8
MAX_WINDOW_BITS = 15
# zlib cannot compress with a 256-byte window: it uses 512 (9 bits) instead.
ZLIB_MIN_WINDOW_BITS = 9
RSV1 = 4

ExtensionParams = tuple[tuple[str, str | None], ...]


def parse_extensions(values: list[str] | tuple[str, ...]) -> list[tuple[str, ExtensionParams]]:
    """``Sec-WebSocket-Extensions`` values as ``(name, params)`` in order.

    Several header lines and comma-separated lists read alike. Parameters keep
    their order and their duplicates (so a caller can refuse duplicates);
    a parameter without ``=`` has the value None; quoted values are unquoted.
    """
    extensions: list[tuple[str, ExtensionParams]] = []
    for value in values:
        for item in value.split(","):
            parts = [part.strip() for part in item.split(";")]
            if not parts[0]:
                continue
            params: list[tuple[str, str | None]] = []
            for part in parts[1:]:
                if not part:
                    continue
                name, sep, raw = part.partition("=")
                params.append((name.strip(), raw.strip().strip('"') if sep else None))
            extensions.append((parts[0], tuple(params)))
    return extensions


@dataclass(frozen=True)
class DeflateOffer:
    """One permessage-deflate offer of a client (RFC 7692 7.1).

    ``client_max_window_bits`` True offers the parameter without a value (the
    client can use whatever the server answers).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | bool = False

    def header(self) -> str:
        """The offer as one ``Sec-WebSocket-Extensions`` element."""
        parts = [PERMESSAGE_DEFLATE]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits is True:
            parts.append("client_max_window_bits")
        elif self.client_max_window_bits:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


@dataclass(frozen=True)
class DeflateAgreement:
    """What a server's permessage-deflate response puts in force for both directions."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = MAX_WINDOW_BITS
    client_max_window_bits: int = MAX_WINDOW_BITS


_NO_VALUE_PARAMS = ("server_no_context_takeover", "client_no_context_takeover")
_BITS_PARAMS = ("server_max_window_bits", "client_max_window_bits")


def _window_bits(name: str, value: str | None) -> int:
    if value is None or not value.isdigit() or value.startswith("0"):
        raise WireError(f"{name} needs a value 8-15 in a response, got {value!r}")
    bits = int(value)
    if not MIN_WINDOW_BITS <= bits <= MAX_WINDOW_BITS:
        raise WireError(f"{name}={bits} is outside 8-15")
    return bits


def deflate_agreement(offer: DeflateOffer, params: ExtensionParams) -> DeflateAgreement:
    """The agreement a permessage-deflate response ``params`` makes for ``offer``.

    Raises :class:`WireError` naming the rule of RFC 7692 7.1 the response
    breaks: an unknown or repeated parameter, a value where none belongs or a
    bad window size, ``client_max_window_bits`` the client did not offer,
    ``server_max_window_bits`` above the offered one, or a
    ``server_no_context_takeover`` offer accepted without it.
    """
    names = [name for name, _ in params]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise WireError(f"parameter(s) {', '.join(repeated)} given more than once")
    unknown = sorted(set(names) - set(_NO_VALUE_PARAMS) - set(_BITS_PARAMS))
    if unknown:
        raise WireError(f"unknown parameter(s) {', '.join(unknown)}")
    given = dict(params)
    for name in _NO_VALUE_PARAMS:
        if name in given and given[name] is not None:
            raise WireError(f"{name} takes no value, got {given[name]!r}")
    bits = {name: _window_bits(name, given[name]) for name in _BITS_PARAMS if name in given}
    if "client_max_window_bits" in bits and offer.client_max_window_bits is False:
        raise WireError("client_max_window_bits in the response but not in the offer")
    offered_server_bits = offer.server_max_window_bits
    if offered_server_bits is not None:
        answered = bits.get("server_max_window_bits")
        if answered is None or answered > offered_server_bits:
            raise WireError(
                f"offer limited server_max_window_bits to {offered_server_bits}, "
                f"response says {answered}"
            )
    if offer.server_no_context_takeover and "server_no_context_takeover" not in given:
        raise WireError("server_no_context_takeover offered, accepted without it")
    return DeflateAgreement(
        server_no_context_takeover="server_no_context_takeover" in given,
        client_no_context_takeover="client_no_context_takeover" in given,
        server_max_window_bits=bits.get("server_max_window_bits", MAX_WINDOW_BITS),
        client_max_window_bits=bits.get("client_max_window_bits", MAX_WINDOW_BITS),
    )


def deflate_message(payload: bytes, window_bits: int = MAX_WINDOW_BITS) -> bytes:
    """``payload`` compressed as one message without context takeover (RFC 7692 7.2.1)."""
    return MessageDeflater(window_bits, context_takeover=False).compress(payload)


def inflate_message(payload: bytes, window_bits: int = MAX_WINDOW_BITS) -> bytes:
    """One compressed message body decompressed on its own (RFC 7692 7.2.2)."""
    return MessageInflater(window_bits, context_takeover=False).decompress(payload)


class MessageDeflater:
    """Compresses the messages one side sends (RFC 7692 7.2.1): raw DEFLATE, a sync
    flush, the trailing ``00 00 ff ff`` removed. With context takeover the LZ77
    window carries over from message to message; without, each starts afresh."""

    def __init__(self, window_bits: int = MAX_WINDOW_BITS, *, context_takeover: bool = True):
        self.window_bits = max(window_bits, ZLIB_MIN_WINDOW_BITS)
        self.context_takeover = context_takeover
        self._compressor = self._new()

    def _new(self) -> zlib._Compress:
        return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.window_bits)

    def compress(self, payload: bytes) -> bytes:
        """The compressed body of one message."""
        if not self.context_takeover:
            self._compressor = self._new()
        data = self._compressor.compress(payload) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        return data[: -len(DEFLATE_TAIL)] if data.endswith(DEFLATE_TAIL) else data


class MessageInflater:
    """Decompresses the messages the other side sends (RFC 7692 7.2.2).

    ``window_bits`` is the window the sender agreed to use (at most).
    """

    def __init__(self, window_bits: int = MAX_WINDOW_BITS, *, context_takeover: bool = True):
        self.window_bits = max(window_bits, ZLIB_MIN_WINDOW_BITS)
        self.context_takeover = context_takeover
        self._decompressor = zlib.decompressobj(-self.window_bits)

    def decompress(self, payload: bytes) -> bytes:
        """The original body of one compressed message; :class:`WireError` if corrupt."""
        if not self.context_takeover:
            self._decompressor = zlib.decompressobj(-self.window_bits)
        try:
            return self._decompressor.decompress(payload + DEFLATE_TAIL)
        except zlib.error as exc:
            raise WireError(f"not a valid DEFLATE body: {exc}") from None


@dataclass
class DeflateSession:
    """The compression state of one client connection after a permessage-deflate
    agreement: what the client sends and how to read what the server sends."""

    agreement: DeflateAgreement
    outgoing: MessageDeflater = field(init=False)
    incoming: MessageInflater = field(init=False)

    def __post_init__(self) -> None:
        self.outgoing = MessageDeflater(
            self.agreement.client_max_window_bits,
            context_takeover=not self.agreement.client_no_context_takeover,
        )
        self.incoming = MessageInflater(
            self.agreement.server_max_window_bits,
            context_takeover=not self.agreement.server_no_context_takeover,
        )
