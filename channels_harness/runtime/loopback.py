"""Where load may go: loopback only, unless the user says otherwise, explicitly.

Every load generator of the harness (locust users, the measurement engine,
soak and attack runs) checks its target with :func:`check_target` before it
sends anything.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Collection
from urllib.parse import urlparse

from channels_harness.errors import TargetRefusedError

LOOPBACK = "127.0.0.1"
ALLOW_ENV = "HARNESS_ALLOW_REMOTE_TARGET"


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_target(url: str, allow_remote: bool = False, allowed: Collection[str] = ()) -> str:
    """Return ``url`` if load may be sent there; raise :class:`TargetRefusedError` if not.

    Loopback targets (127.0.0.0/8, ::1, names resolving only to them) are always
    allowed, and so are the hosts in ``allowed``, exactly as written (the address
    the harness itself bound its servers to, ``load --server-bind``). Anything else
    needs ``allow_remote`` (the ``--allow-remote-target`` option) or
    ``HARNESS_ALLOW_REMOTE_TARGET=1``.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("ws", "wss", "http", "https") or not parsed.hostname:
        raise TargetRefusedError(f"{url!r} is not a ws://, wss://, http:// or https:// URL")
    if is_loopback(parsed.hostname) or parsed.hostname in {h.strip("[]").lower() for h in allowed}:
        return url
    if allow_remote or os.environ.get(ALLOW_ENV) == "1":
        return url
    raise TargetRefusedError(
        f"refusing to send load to {parsed.hostname}: it is not a loopback address. "
        "Load tests can hurt machines you do not own; if this one is yours, pass "
        f"--allow-remote-target (or set {ALLOW_ENV}=1)."
    )
