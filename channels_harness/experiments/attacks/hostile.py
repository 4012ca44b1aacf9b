"""Clients that misbehave at the TCP level: resets, silence, and a slow handshake."""

from __future__ import annotations

import contextlib
import select
import socket
import time

from channels_harness.experiments.attacks.aftermath import wait_no_consumers
from channels_harness.experiments.attacks.base import (
    Outcome,
    Settings,
    Watch,
    connect,
    frames_in,
    has_head,
    reset,
    status_of,
    watch,
    watch_many,
)
from channels_harness.experiments.attacks.base import upgrade_request as request
from channels_harness.experiments.attacks.victim import Victim
from channels_harness.protocol import wire
from channels_harness.runtime.timeouts import scaled


def _handshake(server: Victim, path: str, wait: float) -> tuple[socket.socket, bytes]:
    """A socket whose upgrade to ``path`` was answered 101, and the bytes after the head."""
    sock = connect(server)
    try:
        sock.sendall(request(server, path))
        seen = watch(sock, wait, until=has_head)
        if status_of(seen.data) != 101:
            raise ConnectionError(f"handshake on {path} answered {seen.data[:60]!r}")
    except BaseException:
        reset(sock)
        raise
    split = wire.split_head(seen.data)
    return sock, split[1] if split else b""


def _after_resets(server: Victim, settings: Settings, detail: str) -> Outcome:
    """How long the server took to end the consumers of the reset connections."""
    left, took = wait_no_consumers(server, settings.settle_s)
    if not server.counts_consumers:
        return Outcome("resets done; live consumers not measured", detail)
    if left == 0:
        return Outcome(f"consumers ended in {took:.1f} s", detail)
    if left is None:
        return Outcome("GET /stats/ did not answer", detail)
    return Outcome(f"{left} consumer(s) live after {took:.0f} s", detail)


def reset_mid_frame(server: Victim, settings: Settings) -> Outcome:
    """Handshake, send half of a 1 KiB text frame, then abort with a TCP reset."""
    frame = wire.build_frame(wire.Opcode.TEXT, b"x" * 1024)
    for index in range(settings.resets):
        sock, _ = _handshake(server, server.path(index), settings.answer_wait_s)
        try:
            sock.sendall(frame[: len(frame) // 2])
        finally:
            reset(sock)
    return _after_resets(
        server,
        settings,
        f"{settings.resets} connections over the four flavours, each reset after "
        f"{len(frame) // 2} of {len(frame)} frame bytes",
    )


def reset_mid_echo(server: Victim, settings: Settings) -> Outcome:
    """Send a whole 256 KiB message, then reset at once while the server echoes it."""
    frame = wire.build_frame(wire.Opcode.TEXT, b"y" * (256 * 1024))
    for index in range(settings.resets):
        sock, _ = _handshake(server, server.path(index), settings.answer_wait_s)
        try:
            sock.sendall(frame)
        finally:
            reset(sock)
    return _after_resets(
        server,
        settings,
        f"{settings.resets} connections over the four flavours, each reset right after "
        "sending a 256 KiB message (the echo goes to a dead socket)",
    )


def abandoned_close(server: Victim, settings: Settings) -> Outcome:
    """Send a close frame, then neither read the answer nor close TCP."""
    hold = scaled(settings.hold_s)
    socks: list[socket.socket] = []
    rests: list[bytes] = []
    try:
        for index in range(4):
            sock, rest = _handshake(server, server.path(index), settings.answer_wait_s)
            socks.append(sock)
            rests.append(rest)
            sock.sendall(wire.build_frame(wire.Opcode.CLOSE, wire.close_payload(1000)))
        seen = watch_many(socks, time.monotonic() + hold)
    finally:
        for sock in socks:
            reset(sock)
    texts = []
    for rest, watched in zip(rests, seen, strict=True):
        closes = [f for f in frames_in(rest + watched.data) if f.opcode == wire.Opcode.CLOSE]
        code = closes[0].close_code() if closes and len(closes[0].payload) != 1 else None
        said = f"close {code}" if closes else "no close frame"
        if watched.ended:
            texts.append(f"{said}, TCP closed after {watched.at:.1f} s")
        else:
            texts.append(f"{said}, TCP held open {hold:.0f} s")
    outcome = texts[0] if len(set(texts)) == 1 else "; ".join(sorted(set(texts)))
    return Outcome(
        outcome, f"4 connections sent close 1000 and then stayed silent for up to {hold:.0f} s"
    )


def reset_mid_handshake(server: Victim, settings: Settings) -> Outcome:
    """Send half of the upgrade request, then abort with a TCP reset."""
    for index in range(settings.resets):
        sock = connect(server)
        data = request(server, server.path(index))
        try:
            sock.sendall(data[: len(data) // 2])
        finally:
            reset(sock)
    return _after_resets(
        server, settings, f"{settings.resets} connections reset halfway through the request"
    )


def _describe_hold(seen: Watch, frames: list[wire.Frame], hold: float) -> str:
    pings = sum(1 for f in frames if f.opcode == wire.Opcode.PING)
    closes = [f for f in frames if f.opcode == wire.Opcode.CLOSE]
    said = f", {pings} ping(s)" if pings else ""
    if closes:
        code = closes[0].close_code() if len(closes[0].payload) != 1 else None
        return f"close {code} after {seen.at:.1f} s{said}"
    if seen.ended:
        return f"{'reset' if seen.ended == 'reset' else 'closed'} after {seen.at:.1f} s{said}"
    return f"held open {hold:.0f} s{said}"


def half_open(server: Victim, settings: Settings) -> Outcome:
    """Complete the handshake on every flavour, then stay silent (no pongs either)."""
    hold = scaled(settings.hold_s)
    socks: list[tuple[str, socket.socket, bytes]] = []
    try:
        for index in range(4):
            path = server.path(index)
            sock, rest = _handshake(server, path, settings.answer_wait_s)
            socks.append((path, sock, rest))
        seen = watch_many([sock for _, sock, _ in socks], time.monotonic() + hold)
        seen_per = [
            (path, watched, frames_in(rest + watched.data))
            for (path, _, rest), watched in zip(socks, seen, strict=True)
        ]
    finally:
        for _, sock, _ in socks:
            reset(sock)
    texts = [_describe_hold(seen, frames, hold) for _, seen, frames in seen_per]
    outcome = texts[0] if len(set(texts)) == 1 else "; ".join(sorted(set(texts)))
    detail = "; ".join(
        f"{path}: {text}" for (path, _, _), text in zip(seen_per, texts, strict=True)
    )
    return Outcome(outcome, f"silent after 101 for up to {hold:.0f} s, then reset. {detail}")


def idle_tcp(server: Victim, settings: Settings) -> Outcome:
    """Open TCP connections and send nothing at all."""
    hold = scaled(settings.hold_s)
    socks = [connect(server) for _ in range(4)]
    try:
        seen = watch_many(socks, time.monotonic() + hold)
    finally:
        for sock in socks:
            reset(sock)
    first = seen[0]
    status = status_of(first.data)
    if status is not None:
        outcome = f"{status} after {first.at:.1f} s"
    elif first.data:
        outcome = f"sent {len(first.data)} bytes, no HTTP status"
    elif first.ended:
        outcome = f"{'reset' if first.ended == 'reset' else 'closed'} after {first.at:.1f} s"
    else:
        outcome = f"held open {hold:.0f} s"
    ended = sum(1 for s in seen if s.ended)
    return Outcome(
        outcome, f"4 connections, nothing sent for up to {hold:.0f} s; {ended} ended by the server"
    )


def _echoed(data: bytes) -> bool:
    return any(frame.payload == b"slow" for frame in frames_in(data))


def slow_handshake(server: Victim, settings: Settings) -> Outcome:
    """Send a valid upgrade request one byte at a time, then check the connection echoes."""
    data = request(server, server.path(1))
    delay = scaled(settings.byte_delay_s)
    sock = connect(server)
    started = time.monotonic()
    try:
        for sent in range(1, len(data) + 1):
            error = ""
            try:
                sock.sendall(data[sent - 1 : sent])
            except OSError as exc:
                error = type(exc).__name__
            if error or (sent < len(data) and select.select([sock], [], [], 0)[0]):
                # The server spoke or hung up before the request was whole.
                early = watch(sock, 1.0, until=has_head)
                took = time.monotonic() - started
                status = status_of(early.data)
                what = f"{status} before the end of the request" if status else "closed"
                return Outcome(
                    f"{what} after {took:.1f} s",
                    f"at byte {sent} of {len(data)} ({delay * 1000:.0f} ms/byte)"
                    + (f", {error}" if error else ""),
                )
            time.sleep(delay)
        seen = watch(sock, settings.answer_wait_s, until=has_head)
        took = time.monotonic() - started
        status = status_of(seen.data)
        where = f"{len(data)} bytes at {delay * 1000:.0f} ms/byte over {took:.1f} s"
        if status != 101:
            what = str(status) if status is not None else (seen.ended or "no answer")
            return Outcome(f"{what} after {took:.1f} s", where)
        split = wire.split_head(seen.data)
        rest = split[1] if split else b""
        sock.sendall(wire.build_frame(wire.Opcode.TEXT, b"slow"))
        reply = watch(sock, settings.answer_wait_s, until=lambda data: _echoed(rest + data))
        echoed = _echoed(rest + reply.data)
        with contextlib.suppress(OSError):
            sock.sendall(wire.build_frame(wire.Opcode.CLOSE, wire.close_payload(1000)))
        return Outcome(f"101 after {took:.1f} s{', echoes' if echoed else ', no echo'}", where)
    finally:
        reset(sock)
