"""Idle connections: the one client the harness holds many connections with.

An :class:`IdleConnection` sends nothing on its own. It answers the server's
pings (picows' auto-pong), can ping the server and wait for the pong
(:meth:`IdleConnection.ping`), can echo one message (:meth:`IdleConnection.echo`,
for canaries), and remembers whether the server dropped it. :func:`open_idle`
opens one, optionally from another loopback source address (127.0.0.2, ...),
so one client can hold more connections than one address has ephemeral ports;
a failure comes back as a short kind (:func:`failure_kind`).

:func:`hold_idle` keeps ``count`` connections open while a sample of the
server is taken (the benchmark's memory per connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import resource
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

import picows
from picows.url import WSParsedURL

# Linux: bind() leaves the port to connect(), which picks one unique for the
# whole 4-tuple instead of one unique for the source address.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
# struct tcp_info (linux/tcp.h): tcpi_total_retrans is the u32 at byte 100.
_TCP_INFO_LEN = 104
_TOTAL_RETRANS = struct.Struct("=I")
_TOTAL_RETRANS_OFFSET = 100
# An idle connection reads a ping or a short echo; picows grows the buffer if needed.
READ_BUFFER_BYTES = 1024
NR_OPEN = Path("/proc/sys/fs/nr_open")


def raise_nofile_limit(wanted: int) -> int:
    """Raise this process's open-file soft limit to ``wanted``; return the soft limit now.

    The hard limit is raised too when the process may (root, or
    CAP_SYS_RESOURCE), up to ``fs.nr_open``; otherwise the soft limit stops
    at the hard one.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return int(soft)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        ceiling = wanted
        with contextlib.suppress(OSError, ValueError):
            ceiling = min(wanted, int(NR_OPEN.read_text()))
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, ceiling))
            return ceiling
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def loopback_sources(count: int) -> list[str]:
    """``count`` loopback source addresses after 127.0.0.1: 127.0.0.2, 127.0.0.3, ..."""
    if not 0 <= count <= 250:
        raise ValueError(f"between 0 and 250 source addresses, not {count}")
    return [f"127.0.0.{2 + index}" for index in range(count)]


def source_socket(source: str) -> Callable[[WSParsedURL], socket.socket]:
    """A picows socket factory: a non-blocking TCP socket bound to ``source``,
    its port left to connect()."""

    def factory(_url: WSParsedURL) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    return factory


def failure_kind(exc: BaseException) -> str:
    """A short name for why a connection attempt failed, for counting by kind."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, picows.WSInvalidStatusError) and exc.response is not None:
        return f"http {exc.response.status}"
    if isinstance(exc, picows.WSError):
        return "handshake error"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        return "client out of descriptors"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRNOTAVAIL:
        return "client out of ports"
    return type(exc).__name__


_PONG = (picows.WSMsgType.PONG,)
_DATA = (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY)
# Kinds that say the client, not the server, could not go on.
CLIENT_SIDE_FAILURES = frozenset({"client out of descriptors", "client out of ports"})


class IdleConnection(picows.WSListener):
    """One held connection: silent, answering pings, knowing if the server dropped it."""

    def __init__(self, on_drop: Callable[[IdleConnection], None] | None = None) -> None:
        self.on_drop = on_drop
        self.transport: picows.WSTransport | None = None
        self.closing = False
        self.dropped = False
        self.close_code: int | None = None
        self._waiter: asyncio.Future[float] | None = None
        self._expect: tuple[picows.WSMsgType, ...] = ()

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind == picows.WSMsgType.CLOSE:
            self.close_code = frame.get_close_code().value
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if kind in self._expect:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(perf_counter())

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if not self.closing and not self.dropped:
            self.dropped = True
            if self.on_drop is not None:
                self.on_drop(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("connection lost"))

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.dropped and not self.closing

    async def ping(self, timeout: float) -> float:
        """Seconds until the server's pong; TimeoutError or ConnectionError otherwise."""
        return await self._round_trip(lambda t: t.send_ping(b"hold"), _PONG, timeout)

    async def echo(self, text: str, timeout: float) -> float:
        """Seconds until the server echoes ``text`` back (any data frame counts)."""
        message = text.encode()
        return await self._round_trip(
            lambda t: t.send(picows.WSMsgType.TEXT, message), _DATA, timeout
        )

    async def _round_trip(
        self,
        send: Callable[[picows.WSTransport], None],
        expect: tuple[picows.WSMsgType, ...],
        timeout: float,
    ) -> float:
        if not self.open or self.transport is None:
            raise ConnectionResetError("connection not open")
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiter, self._expect = waiter, expect
        started = perf_counter()
        send(self.transport)
        try:
            return await asyncio.wait_for(waiter, timeout) - started
        finally:
            self._waiter, self._expect = None, ()

    def retransmits(self) -> int:
        """TCP segments this connection's socket retransmitted so far (SYN included);
        0 when the kernel does not say."""
        if self.transport is None:
            return 0
        sock = self.transport.underlying_transport.get_extra_info("socket")
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
        except (OSError, AttributeError):
            return 0
        if len(info) < _TOTAL_RETRANS_OFFSET + _TOTAL_RETRANS.size:
            return 0
        return int(_TOTAL_RETRANS.unpack_from(info, _TOTAL_RETRANS_OFFSET)[0])

    def close(self) -> None:
        """Start a polite close (the server's close frame or EOF ends it)."""
        self.closing = True
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close(picows.WSCloseCode.OK)

    def abort(self) -> None:
        """Drop the TCP connection now."""
        self.closing = True
        if self.transport is not None:
            self.transport.disconnect(graceful=False)


async def open_idle(
    url: str,
    timeout: float,
    source: str | None = None,
    on_drop: Callable[[IdleConnection], None] | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> IdleConnection:
    """One open :class:`IdleConnection` to ``url`` (from ``source`` when given, with
    extra handshake ``headers``); raises what the attempt raised (see :func:`failure_kind`)."""
    _transport, listener = await asyncio.wait_for(
        picows.ws_connect(
            lambda: IdleConnection(on_drop),
            url,
            websocket_handshake_timeout=timeout,
            read_buffer_init_size=READ_BUFFER_BYTES,
            socket_factory=source_socket(source) if source else None,
            extra_headers=list(headers) or None,
        ),
        timeout,
    )
    if not isinstance(listener, IdleConnection):
        # picows hands back its own listener when the server hung up mid-handshake.
        raise ConnectionResetError("the server closed the connection during the handshake")
    return listener


async def close_idle(conns: list[IdleConnection], timeout: float) -> None:
    """Close every connection politely, then drop whatever is still open after ``timeout``."""
    transports = [c.transport for c in conns if c.transport is not None]
    for conn in conns:
        conn.close()
    await asyncio.gather(
        *(asyncio.wait_for(t.wait_disconnected(), timeout) for t in transports),
        return_exceptions=True,
    )
    for transport in transports:
        transport.disconnect(graceful=False)


@dataclass
class IdleOutcome:
    """How many connections were open when ``sample`` ran, and what it returned."""

    opened: int
    errors: int
    value: int = 0
    error_samples: list[str] = field(default_factory=list)


async def hold_idle(
    url: str,
    count: int,
    sample: Callable[[], int],
    *,
    settle_s: float = 1.0,
    timeout: float = 10.0,
    parallel: int = 50,
) -> IdleOutcome:
    """Open ``count`` connections, wait ``settle_s``, call ``sample()``, close them all."""
    raise_nofile_limit(count + 256)
    gate = asyncio.Semaphore(parallel)
    outcome = IdleOutcome(opened=0, errors=0)

    async def one() -> IdleConnection | None:
        async with gate:
            try:
                return await open_idle(url, timeout)
            except (OSError, picows.WSError, TimeoutError) as exc:
                outcome.errors += 1
                if len(outcome.error_samples) < 5:
                    outcome.error_samples.append(f"{type(exc).__name__}: {exc}")
                return None

    conns = [c for c in await asyncio.gather(*(one() for _ in range(count))) if c]
    outcome.opened = len(conns)
    try:
        await asyncio.sleep(settle_s)
        outcome.value = sample()
    finally:
        await close_idle(conns, timeout)
    return outcome
