"""Upgrade requests a server must refuse: oversized, malformed, or not WebSocket at all.

Each is sent whole over a fresh connection; the outcome says what came back
(a status, a 101, nothing) and whether the server then closed the connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from channels_harness.experiments.attacks.base import (
    Attack,
    Outcome,
    Settings,
    connect,
    has_head,
    reset,
    status_of,
    watch,
)
from channels_harness.experiments.attacks.base import upgrade_request as request
from channels_harness.experiments.attacks.victim import Victim
from channels_harness.protocol import wire

# How long to wait, after an error answer, to see whether the server closes.
CLOSE_WAIT_S = 2.0


def _big_line(server: Victim) -> bytes:
    head = request(server, server.path(1))[:-2]
    return head + b"X-Big: " + b"a" * (64 * 1024) + b"\r\n\r\n"


def _many_headers(server: Victim) -> bytes:
    head = request(server, server.path(1))[:-2]
    return head + b"".join(b"X-Header-%d: value\r\n" % i for i in range(1000)) + b"\r\n"


def _no_key(server: Victim) -> bytes:
    return request(server, server.path(1), key=None)


def _bad_key(server: Victim) -> bytes:
    return request(server, server.path(1), key="not base64 at all!")


def _post(server: Victim) -> bytes:
    return b"POST" + request(server, server.path(1))[3:]


def _http10(server: Victim) -> bytes:
    return request(server, server.path(1)).replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)


REQUESTS = {
    "header-64k-line": (_big_line, "one 64 KiB header line"),
    "header-1000-lines": (_many_headers, "1,000 extra header lines"),
    "missing-key": (_no_key, "no Sec-WebSocket-Key"),
    "bad-key": (_bad_key, "Sec-WebSocket-Key that is not base64 of 16 bytes"),
    "post-method": (_post, "POST instead of GET"),
    "http-1.0": (_http10, "HTTP/1.0 request line"),
}


def send_request(server: Victim, data: bytes, settings: Settings) -> Outcome:
    """Send ``data`` as the whole request and describe the server's answer."""
    sock = connect(server)
    try:
        error = ""
        try:
            sock.sendall(data)
        except OSError as exc:
            error = f"{type(exc).__name__} while sending {len(data)} bytes"
        seen = watch(sock, settings.answer_wait_s, until=has_head)
        status = status_of(seen.data)
        if status is None:
            if seen.ended:
                what = "reset" if seen.ended == "reset" else "closed"
                return Outcome(f"{what} without an answer", error or f"after {seen.at:.1f} s")
            return Outcome(
                f"no answer in {seen.at:.0f} s", error or f"{len(seen.data)} bytes came back"
            )
        split = wire.split_head(seen.data)
        reason = wire.parse_response_head(split[0]).reason if split else ""
        if status == 101:
            with contextlib.suppress(OSError):
                sock.sendall(wire.build_frame(wire.Opcode.CLOSE, wire.close_payload(1000)))
            return Outcome("101 accepted", f"{status} {reason}".strip())
        after = watch(sock, CLOSE_WAIT_S)
        then = "then close" if after.ended else f"kept open {after.at:.0f} s"
        return Outcome(f"{status} {then}", f"{status} {reason}; {error}".strip("; "))
    finally:
        reset(sock)


def _attack(build: Callable[[Victim], bytes]) -> Attack:
    def attack(server: Victim, settings: Settings) -> Outcome:
        return send_request(server, build(server), settings)

    return attack


ATTACKS: dict[str, tuple[Attack, str]] = {
    name: (_attack(build), description) for name, (build, description) in REQUESTS.items()
}
