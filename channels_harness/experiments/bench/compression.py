"""permessage-deflate in the bench: echo msgs/s and bytes on the wire with and without it.

The load engine (picows) has no permessage-deflate, so this step has its own
client: websockets' sans-I/O :class:`~websockets.client.ClientProtocol`
(RFC 7692 done by a well-kept library, the same code for both arms) driven
over asyncio streams. Driving the protocol ourselves gives exact byte counts:
every byte written and read after the handshake is counted, frame headers
included. The client is Python and costs CPU of its own, more with
compression on; each row carries the client's CPU per message so a reader
can tell the server's cost from the client's.

The two arms run interleaved (off, on, off, on...) on the same server process
and the ratios are paired run by run, so drift on a shared machine cancels.
Servers that decline every deflate offer are skipped (:func:`supports_deflate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import websockets
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from channels_harness.errors import RunError
from channels_harness.report.model import Run
from channels_harness.report.rows import CompressionRow
from channels_harness.runtime import pinning
from channels_harness.servers.process import ServerProcess, serving

CLIENT = f"websockets {websockets.__version__} sans-I/O client on asyncio streams"
OFF = "off"
READ_SIZE = 1 << 16
ECHO_OPCODES = (Opcode.TEXT, Opcode.CONT)


WORDS = (
    "hello", "there", "how", "are", "you", "today", "meeting", "at", "noon", "see", "the",
    "new", "build", "is", "green", "lunch", "coffee", "later", "please", "review", "my",
    "change", "ship", "it", "thanks", "great", "idea", "let", "us", "talk", "about",
    "release", "notes", "tomorrow", "morning", "sounds", "good",
)  # fmt: skip


def chat_messages(size: int, count: int = 64, seed: int = 7692) -> tuple[bytes, ...]:
    """``count`` different payloads of ``size`` bytes, each a run of JSON chat events
    with their own ids, users and words: repetitive in shape, as real traffic is,
    but never the same message twice in a row."""
    rng = random.Random(seed)
    payloads = []
    for index in range(count):
        lines: list[str] = []
        while sum(len(line) + 1 for line in lines) < size:
            event = {
                "type": "chat.message",
                "id": index * 1000 + len(lines),
                "room": "lobby",
                "user": f"user{rng.randrange(100)}",
                "text": " ".join(rng.choices(WORDS, k=rng.randrange(3, 12))),
            }
            lines.append(json.dumps(event, separators=(",", ":")))
        payloads.append("\n".join(lines).encode()[:size])
    return tuple(payloads)


@dataclass(frozen=True)
class CompressionConfig:
    """One measurement: ``messages`` echo round trips per run over ``connections``
    closed-loop connections (cycling through ``payloads``), ``runs`` runs per
    arm, each run bounded by ``timeout_s``."""

    payload_name: str = "chat JSON, 1 KiB, 64 different messages"
    payloads: tuple[bytes, ...] = chat_messages(1024)
    connections: int = 4
    messages: int = 2000
    runs: int = 3
    timeout_s: float = 30.0


@dataclass
class ArmRun:
    """One run of one arm: round trips done, bytes each way, wall and client CPU time."""

    messages: int = 0
    sent: int = 0
    received: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    errors: int = 0
    agreed: str = OFF


class _Echo:
    """One closed-loop echo connection driven through websockets' sans-I/O protocol."""

    def __init__(self, url: str, compress: bool) -> None:
        extensions = [ClientPerMessageDeflateFactory()] if compress else None
        self.protocol = ClientProtocol(parse_uri(url), extensions=extensions, max_size=None)
        self.sent = self.received = 0
        self.agreed = OFF

    async def open(self, host: str, port: int, deadline: float) -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        self.protocol.send_request(self.protocol.connect())
        await self._flush(count=False)
        while self.protocol.state is State.CONNECTING:
            await self._read(deadline, count=False)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.agreed = event.headers.get("Sec-WebSocket-Extensions", OFF)
        if self.protocol.state is not State.OPEN:
            raise RunError(f"handshake failed: {self.protocol.handshake_exc}")

    async def _flush(self, *, count: bool = True) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
                self.sent += len(data) if count else 0
        await self.writer.drain()

    async def _read(self, deadline: float, *, count: bool = True) -> None:
        data = await asyncio.wait_for(self.reader.read(READ_SIZE), deadline - time.monotonic())
        if not data:
            raise RunError("the server closed the connection")
        self.received += len(data) if count else 0
        self.protocol.receive_data(data)

    async def round_trip(self, payload: bytes, deadline: float) -> None:
        """Send ``payload`` as text and wait for the whole echo (answering pings)."""
        self.protocol.send_text(payload)
        await self._flush()
        while True:
            await self._read(deadline)
            await self._flush()
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode in ECHO_OPCODES and event.fin:
                    return

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.protocol.send_close()
            await self._flush(count=False)
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def _connection(
    server: ServerProcess,
    path: str,
    compress: bool,
    payloads: tuple[bytes, ...],
    count: int,
    deadline: float,
) -> ArmRun:
    assert server.port is not None
    echo = _Echo(f"ws://{server.host}:{server.port}{path}", compress)
    result = ArmRun()
    try:
        await echo.open(server.host, server.port, deadline)
        result.agreed = echo.agreed
        while result.messages < count and time.monotonic() < deadline:
            await echo.round_trip(payloads[result.messages % len(payloads)], deadline)
            result.messages += 1
    except (OSError, RunError, TimeoutError, websockets.exceptions.WebSocketException):
        result.errors += 1
    finally:
        if hasattr(echo, "writer"):
            await echo.close()
    result.sent, result.received = echo.sent, echo.received
    return result


def run_arm(server: ServerProcess, path: str, compress: bool, config: CompressionConfig) -> ArmRun:
    """One run of one arm: ``config.connections`` connections, ``config.messages`` in all."""
    per_connection = max(1, config.messages // config.connections)

    async def main() -> list[ArmRun]:
        deadline = time.monotonic() + config.timeout_s
        jobs = [
            _connection(
                server,
                path,
                compress,
                config.payloads[i:] + config.payloads[:i],
                per_connection,
                deadline,
            )
            for i in range(config.connections)
        ]
        return await asyncio.gather(*jobs)

    cpu, wall = time.process_time(), time.monotonic()
    parts = asyncio.run(main())
    total = ArmRun(wall_s=time.monotonic() - wall, cpu_s=time.process_time() - cpu)
    for part in parts:
        total.messages += part.messages
        total.sent += part.sent
        total.received += part.received
        total.errors += part.errors
        total.agreed = part.agreed if part.agreed != OFF else total.agreed
    return total


def supports_deflate(server: ServerProcess, path: str = "/ws/echo/async/") -> bool:
    """Whether ``server`` agrees to permessage-deflate when a client offers it."""
    config = CompressionConfig(connections=1, messages=1, timeout_s=10.0)
    return run_arm(server, path, True, config).agreed != OFF


def _row(
    server: ServerProcess, flavour: str, config: CompressionConfig, runs: list[ArmRun]
) -> CompressionRow:
    done = [r for r in runs if r.messages]
    rates = [r.messages / r.wall_s for r in done if r.wall_s > 0]
    return CompressionRow(
        server=server.spec.name,
        flavour=flavour,
        payload=config.payload_name,
        payload_bytes=round(statistics.mean(len(p) for p in config.payloads)),
        compression=next((r.agreed for r in runs if r.agreed != OFF), OFF),
        client=CLIENT,
        messages=sum(r.messages for r in runs),
        runs=len(runs),
        msgs_per_s=statistics.median(rates) if rates else 0.0,
        msgs_per_s_runs=[round(rate, 1) for rate in rates],
        wire_bytes_per_msg=statistics.median((r.sent + r.received) / r.messages for r in done)
        if done
        else 0.0,
        wire_bytes_sent=sum(r.sent for r in runs),
        wire_bytes_received=sum(r.received for r in runs),
        client_cpu_us_per_msg=statistics.median(r.cpu_s / r.messages * 1e6 for r in done)
        if done
        else None,
        errors=sum(r.errors for r in runs),
    )


def _paired(on: list[ArmRun], off: list[ArmRun]) -> tuple[float | None, float | None]:
    """Median of the per-run ratios on / off: msgs/s and wire bytes per message."""
    rates, sizes = [], []
    for with_, without in zip(on, off, strict=True):
        if with_.messages and without.messages and with_.wall_s and without.wall_s:
            rates.append((with_.messages / with_.wall_s) / (without.messages / without.wall_s))
            sizes.append(
                ((with_.sent + with_.received) / with_.messages)
                / ((without.sent + without.received) / without.messages)
            )
    if not rates:
        return None, None
    return round(statistics.median(rates), 3), round(statistics.median(sizes), 3)


def measure_compression(
    server: ServerProcess, flavour: str = "async", config: CompressionConfig | None = None
) -> list[CompressionRow]:
    """The ``off`` row and the ``permessage-deflate`` row of ``server``'s echo consumer
    of ``flavour`` (runs interleaved, ratios paired), or [] if it declines deflate."""
    config = config or CompressionConfig()
    path = f"/ws/echo/{flavour}/"
    if not supports_deflate(server, path):
        return []
    off: list[ArmRun] = []
    on: list[ArmRun] = []
    for _ in range(config.runs):
        off.append(run_arm(server, path, False, config))
        on.append(run_arm(server, path, True, config))
    off_row, on_row = _row(server, flavour, config, off), _row(server, flavour, config, on)
    on_row.msgs_per_s_ratio, on_row.wire_bytes_ratio = _paired(on, off)
    return [off_row, on_row]


@contextlib.contextmanager
def pinned_client(cpus: frozenset[int] | None) -> Iterator[None]:
    """Pin this process (the client) to ``cpus`` for the block, then restore."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def run_compression(
    run: Run,
    servers: Sequence[str],
    *,
    flavour: str = "async",
    config: CompressionConfig | None = None,
    say: Callable[[str], None] | None = None,
) -> None:
    """Measure each server in ``servers`` (started here, pinned apart from the client)
    and add its rows to ``run``; a server that declines deflate gets a note, one that
    fails (does not start, dies) a failure row, and the others go on."""
    cores = pinning.choose()
    for name in servers:
        if say is not None:
            say(f"compression {name}")
        try:
            with serving(name, cpus=cores.server) as server, pinned_client(cores.generator):
                rows = measure_compression(server, flavour, config)
        except RunError as exc:
            run.fail("compression", {"server": name, "flavour": flavour}, str(exc))
            continue
        if rows:
            run.extend(rows)
        else:
            run.note(f"compression: {name} declines permessage-deflate; not measured")
