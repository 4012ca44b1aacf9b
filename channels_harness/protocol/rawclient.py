"""A thin blocking socket layer over :mod:`channels_harness.protocol.wire`.

:class:`RawClient` performs the opening handshake by hand, sends any frame the
caller builds (valid or not) and reads frames back with timeouts. It hides
nothing: pings are answered only where a method says so, and every wait is
bounded (scaled by ``HARNESS_TIMEOUT_FACTOR``). Given permessage-deflate
offers it negotiates compression (RFC 7692) and keeps what the server agreed
to in :attr:`RawClient.deflate`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import time
from dataclasses import dataclass, field
from types import TracebackType

from channels_harness.protocol import wire
from channels_harness.runtime.timeouts import scaled

MAX_ERROR_BODY = 64 * 1024
# A non-blocking TLS socket's "not yet": retry, like BlockingIOError on plain TCP.
_TLS_WANTS = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


class PeerClosed(ConnectionError):
    """The server closed the TCP connection (EOF or reset)."""


@dataclass
class Closing:
    """How a connection ended, as seen from the client.

    ``frame`` is the server's close frame (None if it sent none), ``eof``
    whether the TCP connection was closed by the server within the wait,
    ``data`` the data frames that arrived before the end.
    """

    frame: wire.Frame | None = None
    eof: bool = False
    data: list[wire.Frame] = field(default_factory=list)

    @property
    def code(self) -> int | None:
        """The close code the server sent, or None (no close frame or empty payload)."""
        if self.frame is None:
            return None
        try:
            return self.frame.close_code()
        except wire.WireError:
            return None

    def describe(self) -> str:
        """One line: what the client saw."""
        if self.frame is not None:
            try:
                code, reason = wire.parse_close(self.frame.payload)
            except wire.WireError:
                text = f"malformed close frame {self.frame.payload!r}"
            else:
                text = "close frame without code" if code is None else f"close {code}"
                if reason:
                    text += f" reason {reason.decode('utf-8', 'replace')!r}"
        elif self.eof:
            text = "TCP closed without a close frame"
        else:
            text = "no close frame and no TCP close within the wait"
        if self.data:
            text += f" (after {len(self.data)} data frame(s))"
        return text


class RawClient:
    """One WebSocket connection driven frame by frame.

    ``connect()`` sends the upgrade request and reads the response;
    ``response`` keeps it (101 or an HTTP error with its body). With an
    ``ssl_context`` the connection runs over TLS (wss://), checked against
    ``host`` as the server name.
    """

    def __init__(
        self,
        host: str,
        port: int,
        path: str = "/",
        *,
        subprotocols: tuple[str, ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
        key: str | None = "",
        version: str = "13",
        timeout: float = 2.0,
        ssl_context: ssl.SSLContext | None = None,
        deflate: tuple[wire.DeflateOffer, ...] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.subprotocols = subprotocols
        self.headers = headers
        self.key = wire.new_key() if key == "" else key
        self.version = version
        self.timeout = scaled(timeout)
        self.sock: socket.socket | None = None
        self.response: wire.HandshakeResponse | None = None
        self._buffer = bytearray()
        self.pongs: list[bytes] = []
        self.ssl_context = ssl_context
        self.offers = deflate
        # After connect: the compression agreed on, or why the answer was not valid.
        self.deflate: wire.DeflateSession | None = None
        self.deflate_error: str | None = None

    def __enter__(self) -> RawClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- connection ---------------------------------------------------------

    def connect(self, request: bytes | None = None) -> wire.HandshakeResponse:
        """Open TCP, send the handshake (``request``, else the one built from the
        options), return the server's response.

        For a non-101 response the body is read too (Content-Length, or until
        the server closes, bounded). Raises :class:`PeerClosed` if the server
        closes without answering and :class:`TimeoutError` if it never answers.
        """
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            self.sock = self.ssl_context.wrap_socket(self.sock, server_hostname=self.host)
        if request is None:
            request = wire.handshake_request(
                f"{self.host}:{self.port}",
                self.path,
                self.key,
                subprotocols=self.subprotocols,
                headers=self.headers + self._offer_headers(),
                version=self.version,
            )
        self.sock.sendall(request)
        deadline = time.monotonic() + self.timeout
        while (split := wire.split_head(self._buffer)) is None:
            self._fill(deadline)
        head, rest = split
        response = wire.parse_response_head(head)
        self._buffer = bytearray(rest)
        if response.status != 101:
            response = wire.HandshakeResponse(
                response.status, response.reason, response.headers, self._read_body(response)
            )
        self.response = response
        if response.status == 101 and self.offers:
            self._agree(response)
        return response

    def _offer_headers(self) -> tuple[tuple[str, str], ...]:
        if not self.offers:
            return ()
        return (("Sec-WebSocket-Extensions", ", ".join(o.header() for o in self.offers)),)

    def _agree(self, response: wire.HandshakeResponse) -> None:
        """Read the server's answer to the deflate offers into :attr:`deflate`."""
        answered = wire.parse_extensions(response.header_values("sec-websocket-extensions"))
        deflates = [params for name, params in answered if name == wire.PERMESSAGE_DEFLATE]
        others = [name for name, _ in answered if name != wire.PERMESSAGE_DEFLATE]
        if others or len(deflates) > 1:
            self.deflate_error = f"the server answered with extensions {answered}"
            return
        if not deflates:
            return
        errors = []
        for offer in self.offers:
            try:
                agreement = wire.deflate_agreement(offer, deflates[0])
            except wire.WireError as exc:
                errors.append(str(exc))
            else:
                self.deflate = wire.DeflateSession(agreement)
                return
        self.deflate_error = "; ".join(dict.fromkeys(errors))

    def _read_body(self, response: wire.HandshakeResponse) -> bytes:
        """The error response's body: Content-Length, chunked, or up to the close."""
        deadline = time.monotonic() + self.timeout
        chunked = "chunked" in (response.header("transfer-encoding") or "").lower()
        length = response.header("content-length")
        with contextlib.suppress(PeerClosed, TimeoutError, OSError):
            if chunked:
                while wire.dechunk(self._buffer) is None:
                    self._fill(deadline)
            else:
                wanted = int(length) if length and length.isdigit() else MAX_ERROR_BODY
                while len(self._buffer) < min(wanted, MAX_ERROR_BODY):
                    self._fill(deadline)
        raw = bytes(self._buffer)
        self._buffer.clear()
        if chunked:
            return wire.dechunk(raw) or b""
        return raw[: int(length)] if length and length.isdigit() else raw[:MAX_ERROR_BODY]

    @property
    def accepted(self) -> bool:
        """Whether the handshake ended in 101 Switching Protocols."""
        return self.response is not None and self.response.status == 101

    def close(self) -> None:
        """Close the socket (no close frame: use :meth:`send_close` for that)."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None

    def drop(self) -> None:
        """Abort the TCP connection with a reset, as a crashed client would."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            self.close()

    # -- sending ---------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are."""
        if self.sock is None:
            raise PeerClosed("not connected")
        self.sock.sendall(data)

    def send_watching(self, data: bytes, timeout: float | None = None) -> str | None:
        """Send ``data`` while reading whatever the server sends meanwhile.

        For large messages a server may refuse halfway: reading as we write
        keeps its close frame instead of losing it to a reset. Returns None
        when everything was sent, else why the send stopped.
        """
        if self.sock is None:
            raise PeerClosed("not connected")
        deadline = self._deadline(timeout)
        view = memoryview(data)
        self.sock.setblocking(False)
        try:
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return f"send stalled with {len(view)} bytes unsent"
                readable, writable, _ = select.select([self.sock], [self.sock], [], remaining)
                if readable:
                    try:
                        chunk = self.sock.recv(256 * 1024)
                    except _TLS_WANTS:
                        continue
                    except OSError as exc:
                        return f"{type(exc).__name__} while sending"
                    if not chunk:
                        return "the server closed the TCP connection while we sent"
                    self._buffer += chunk
                if writable:
                    try:
                        view = view[self.sock.send(view[: 256 * 1024]) :]
                    except (BlockingIOError, *_TLS_WANTS):
                        continue
                    except OSError as exc:
                        return f"{type(exc).__name__} while sending"
            return None
        finally:
            if self.sock is not None:
                self.sock.setblocking(True)

    def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv: int = 0,
        mask: bool = True,
    ) -> None:
        """Build one frame with :func:`wire.build_frame` and send it."""
        self.send_raw(wire.build_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask))

    def send_chopped(self, data: bytes, size: int, pause: float = 0.0) -> None:
        """Send ``data`` in writes of ``size`` bytes, ``pause`` seconds apart: how a
        slow or odd client splits the byte stream (the server must not care)."""
        for index, piece in enumerate(wire.chops(data, size)):
            if pause and index:
                time.sleep(pause)
            self.send_raw(piece)

    def send_message(
        self,
        opcode: int,
        payload: bytes,
        *,
        compress: bool = False,
        fragment_size: int | None = None,
    ) -> bytes:
        """Send one message (compressed with the agreed deflate if ``compress``, in
        fragments of ``fragment_size`` bytes if given) and return the bytes sent."""
        rsv = 0
        if compress:
            if self.deflate is None:
                raise ValueError("no permessage-deflate was agreed on this connection")
            payload = self.deflate.outgoing.compress(payload)
            rsv = wire.RSV1
        data = b"".join(wire.message_frames(opcode, payload, fragment_size=fragment_size, rsv=rsv))
        self.send_raw(data)
        return data

    def send_text(self, text: str) -> None:
        self.send_frame(wire.Opcode.TEXT, text.encode("utf-8"))

    def send_binary(self, data: bytes) -> None:
        self.send_frame(wire.Opcode.BINARY, data)

    def send_close(self, code: int | None = 1000, reason: bytes | str = b"") -> None:
        self.send_frame(wire.Opcode.CLOSE, wire.close_payload(code, reason))

    # -- receiving -------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        """Read more bytes into the buffer before ``deadline``."""
        if self.sock is None:
            raise PeerClosed("not connected")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the server within the wait")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(256 * 1024)
        except TimeoutError:
            raise TimeoutError("no data from the server within the wait") from None
        except ConnectionResetError as exc:
            raise PeerClosed("connection reset by the server") from exc
        if not chunk:
            raise PeerClosed("the server closed the TCP connection")
        self._buffer += chunk

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (scaled(timeout) if timeout is not None else self.timeout)

    def recv_frame(self, timeout: float | None = None) -> wire.Frame:
        """The next frame; :class:`TimeoutError` or :class:`PeerClosed` otherwise."""
        return self.frame_before(self._deadline(timeout))

    def frame_before(self, deadline: float) -> wire.Frame:
        """The next frame if it arrives before ``deadline`` (a ``time.monotonic()`` value)."""
        while True:
            parsed = wire.parse_frame(self._buffer)
            if parsed is not None:
                frame, used = parsed
                del self._buffer[:used]
                return frame
            self._fill(deadline)

    def recv_message(self, timeout: float | None = None) -> wire.Frame:
        """The next whole message (fragments joined) or the server's close frame.

        Pings are answered with pongs and pongs are kept in :attr:`pongs`. A
        compressed message (RSV1 on its first frame, deflate agreed) comes back
        decompressed with ``rsv`` still showing RSV1; a corrupt one raises
        :class:`wire.WireError`.
        """
        deadline = self._deadline(timeout)
        parts: list[wire.Frame] = []
        while True:
            frame = self.frame_before(deadline)
            if frame.opcode == wire.Opcode.PING:
                self.send_frame(wire.Opcode.PONG, frame.payload)
                continue
            if frame.opcode == wire.Opcode.PONG:
                self.pongs.append(frame.payload)
                continue
            if frame.opcode == wire.Opcode.CLOSE:
                return frame
            parts.append(frame)
            if frame.fin:
                payload = b"".join(p.payload for p in parts)
                if parts[0].rsv & wire.RSV1 and self.deflate is not None:
                    payload = self.deflate.incoming.decompress(payload)
                return wire.Frame(opcode=parts[0].opcode, payload=payload, rsv=parts[0].rsv)

    def wait_closing(self, timeout: float | None = None, *, reply: bool = True) -> Closing:
        """Read until the server's close frame and its TCP close, or the wait ends.

        With ``reply`` the client answers the server's close frame with the
        same code, as RFC 6455 5.5.1 asks. Data frames on the way are kept,
        pongs go to :attr:`pongs`.
        """
        deadline = self._deadline(timeout)
        closing = Closing()
        while True:
            try:
                frame = self.frame_before(deadline)
            except TimeoutError:
                return closing
            except (PeerClosed, OSError):
                closing.eof = True
                return closing
            if frame.opcode == wire.Opcode.CLOSE and closing.frame is None:
                closing.frame = frame
                if reply:
                    with contextlib.suppress(OSError):
                        self.send_frame(wire.Opcode.CLOSE, frame.payload[:2])
            elif frame.opcode == wire.Opcode.PING:
                with contextlib.suppress(OSError):
                    self.send_frame(wire.Opcode.PONG, frame.payload)
            elif frame.opcode == wire.Opcode.PONG:
                self.pongs.append(frame.payload)
            elif frame.opcode in (wire.Opcode.TEXT, wire.Opcode.BINARY, wire.Opcode.CONT):
                closing.data.append(frame)
