"""The WebSocket client side of the engine: picows connections and payloads.

picows (a Cython RFC 6455 implementation) on uvloop calls :meth:`on_ws_frame`
for every frame without creating a coroutine per message, which is what makes
the engine several times faster than a stock asyncio client (see
``bench/compare_clients.py`` for the measurement that chose it).

:class:`Connection` is what every engine connection shares (the server's
CLOSE, pings, a lost connection, the polite close). :class:`EchoConnection`
is the reference echo's, whose behaviour is set by a :class:`Driver`: the
closed loop sends the next message from the reply callback, the open loop
sends on a schedule and matches replies in order (an echo keeps each
connection's order), a reply is matched by its size. :func:`run_echo` is the
frame both measure in: open the connections, measure, close them on every
exit path. The user's messages and scenario files are conversations
(:mod:`.conversing`), on connections of their own.

``{conn}`` in the URL becomes the connection's number, and a
:class:`~channels_harness.protocol.traffic.Traffic`'s headers and subprotocol
go into every handshake.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, TypeVar

import picows

from channels_harness.protocol.traffic import Traffic
from channels_harness.runtime import tls

if TYPE_CHECKING:
    from hdrh.histogram import HdrHistogram

    from channels_harness.generators.engine.result import Barrier, LoadConfig, WorkerResult

GENERATOR_NAME = "loadgen/picows"

_PAYLOAD = re.compile(r"^(\d+)(B|KiB|MiB)-(text|bytes)$")
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 * 1024}
# Replies bigger than picows' default frame limit must still be read whole.
MAX_FRAME_SIZE = 64 * 1024 * 1024
# Error messages a result keeps (the count is always complete).
ERROR_SAMPLES = 5

C = TypeVar("C", bound="Connection")
CONTROL = frozenset({picows.WSMsgType.CLOSE, picows.WSMsgType.PING, picows.WSMsgType.PONG})


@dataclass(frozen=True)
class Payload:
    """A message to echo: its bytes, and whether it goes as a text frame."""

    label: str
    data: bytes
    text: bool

    @property
    def msg_type(self) -> picows.WSMsgType:
        return picows.WSMsgType.TEXT if self.text else picows.WSMsgType.BINARY

    @property
    def size(self) -> int:
        return len(self.data)


def payload(label: str) -> Payload:
    """The payload a label like ``"32B-text"``, ``"4KiB-bytes"`` or ``"64KiB-bytes"`` names."""
    match = _PAYLOAD.match(label)
    if match is None:
        raise ValueError(f"payload label {label!r} is not like '32B-text' or '4KiB-bytes'")
    size = int(match.group(1)) * _UNITS[match.group(2)]
    text = match.group(3) == "text"
    # ASCII filler: valid UTF-8 for text frames, and no compression tricks matter.
    data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    return Payload(label, data, text)


class ErrorLog:
    """Mixin for a dataclass with ``errors`` and ``error_samples`` fields: count an
    error and keep the first :data:`ERROR_SAMPLES` messages for the report."""

    errors: int
    error_samples: list[str]

    def error(self, message: str) -> None:
        """Count one error and keep its message if there are few so far."""
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(message)


@dataclass
class Counters(ErrorLog):
    """What one generator process counted; every connection adds to the same one."""

    sent: int = 0
    received: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    unsolicited: int = 0


class Connection(picows.WSListener):
    """What every engine connection shares: its transport, the server's CLOSE
    (an error unless we were closing), pings and pongs (picows answers pings),
    a lost connection (an error) and the polite close."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.transport: picows.WSTransport | None = None
        self.closing = False
        self.lost = False
        self.closed = asyncio.get_running_loop().create_future()

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def control(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        """Handle a frame of :data:`CONTROL`: answer a CLOSE (an error unless we
        were closing); pings are answered by picows, pongs need nothing."""
        if frame.msg_type == picows.WSMsgType.CLOSE:
            if not self.closing:
                self.counters.error(f"server closed the connection (code {frame.get_close_code()})")
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if not self.closing:
            self.lost = True
            self.counters.error("connection lost")
            self.on_lost()
        if not self.closed.done():
            self.closed.set_result(None)

    def on_lost(self) -> None:
        """The connection went away before we closed it (already counted as an error)."""

    async def close(self, timeout: float) -> None:
        """Close politely and wait (at most ``timeout`` s) for the server to agree."""
        self.closing = True
        transport = self.transport
        if transport is None:
            return
        if not self.closed.done():
            transport.send_close(picows.WSCloseCode.OK)
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), timeout)
            except TimeoutError:
                transport.disconnect()


class Driver:
    """What an :class:`EchoConnection` does with a complete reply or a lost connection."""

    def on_reply(self, conn: EchoConnection, now: float) -> None:
        raise NotImplementedError

    def on_lost(self, conn: EchoConnection) -> None:
        """The connection went away before we closed it (already counted as an error)."""


class EchoConnection(Connection):
    """One WebSocket connection that counts and times echoed messages.

    ``pending`` holds the send time (``perf_counter`` seconds; the intended
    time in the open loop) of each message not yet answered, oldest first.
    """

    def __init__(self, driver: Driver, counters: Counters, message: Payload) -> None:
        super().__init__(counters)
        self.driver = driver
        self.message = message
        self.pending: deque[float] = deque()
        self.sent = 0
        self._reply_size = 0

    def send(self, stamp: float) -> None:
        """Send the payload once, remembering ``stamp`` as its send time."""
        assert self.transport is not None
        self.pending.append(stamp)
        self.sent += 1
        self.counters.sent += 1
        self.transport.send(self.message.msg_type, self.message.data)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type in CONTROL:
            self.control(transport, frame)
            return
        self._reply_size += frame.payload_size
        if not frame.fin:
            return
        now = perf_counter()
        size, self._reply_size = self._reply_size, 0
        if not self.pending:
            self.counters.error("reply without a message waiting for it")
            return
        if size != self.message.size:
            self.counters.error(f"echo of {self.message.size} bytes came back as {size}")
        self.counters.received += 1
        self.driver.on_reply(self, now)

    def on_lost(self) -> None:
        self.driver.on_lost(self)


def connection_url(url: str, number: int) -> str:
    """``url`` with ``{conn}`` replaced by the connection's ``number``."""
    return url.replace("{conn}", str(number))


def client_ssl_context(ca_file: str | None) -> ssl.SSLContext | None:
    """The TLS context for wss:// connections: trusting the authority in
    ``ca_file`` only (None: picows' default, the system's authorities)."""
    return tls.client_context(ca_file) if ca_file else None


async def connect(
    url: str,
    make: Callable[[], C],
    counters: Counters,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
    traffic: Traffic | None = None,
) -> C | None:
    """Open one connection to ``url`` (over TLS for wss://, with ``ssl_context``;
    with ``traffic``'s handshake headers) whose listener ``make()`` builds; on
    failure count an error and return None."""
    try:
        _transport, listener = await asyncio.wait_for(
            picows.ws_connect(
                make,
                url,
                ssl_context=ssl_context,
                extra_headers=traffic.handshake_headers() if traffic is not None else None,
                websocket_handshake_timeout=timeout,
                max_frame_size=MAX_FRAME_SIZE,
            ),
            timeout,
        )
    except (OSError, picows.WSError, TimeoutError) as exc:
        counters.error(f"connect failed: {type(exc).__name__}: {exc}")
        return None
    return listener  # type: ignore[return-value]


async def connect_many(
    url: str,
    count: int,
    make: Callable[[int], C],
    counters: Counters,
    timeout: float,
    parallel: int = 100,
    ssl_context: ssl.SSLContext | None = None,
    traffic: Traffic | None = None,
    first: int = 0,
) -> list[C]:
    """Open ``count`` connections numbered from ``first`` (``{conn}`` in ``url``
    becomes the number; ``make(number)`` builds each listener), at most
    ``parallel`` handshakes at a time (see :func:`connect` for the rest)."""
    gate = asyncio.Semaphore(parallel)
    if ssl_context is None and traffic is not None:
        ssl_context = traffic.ssl_context()

    async def one(number: int) -> C | None:
        async with gate:
            return await connect(
                connection_url(url, number),
                lambda: make(number),
                counters,
                timeout,
                ssl_context,
                traffic,
            )

    opened = await asyncio.gather(*(one(first + i) for i in range(count)))
    return [conn for conn in opened if conn is not None]


async def close_all(conns: Sequence[Connection], timeout: float) -> None:
    """Close every connection, waiting at most ``timeout`` s in all."""
    await asyncio.gather(*(conn.close(timeout) for conn in conns))


class Measuring(Driver):
    """A driver that times the replies it sees: ``measured`` of them are in ``histogram``."""

    measured: int
    histogram: HdrHistogram


async def run_echo(
    config: LoadConfig,
    driver: Measuring,
    result: WorkerResult,
    measure: Callable[[list[EchoConnection], Counters], Awaitable[None]],
    ready: Barrier | None = None,
) -> WorkerResult:
    """Open ``config``'s connections under ``driver``, wait for ``ready``, then await
    ``measure(conns, counters)`` (skipped when no connection opened); close every
    connection on every exit path and return ``result`` with the counters, the
    driver's measured count and its histogram."""
    counters = Counters()
    message = payload(config.payload)
    conns = await connect_many(
        config.url,
        config.connections,
        lambda _number: EchoConnection(driver, counters, message),
        counters,
        config.connect_timeout_s,
        traffic=config.traffic,
        first=config.first_conn,
        ssl_context=client_ssl_context(config.ca_file),
    )
    result.connected = len(conns)
    try:
        if ready is not None:
            await ready()
        if conns:
            await measure(conns, counters)
    finally:
        await close_all(conns, config.connect_timeout_s)
    return result.take(counters, driver.measured, driver.histogram)
