"""A Redis server for the Redis channel layers: use the one at a URL, or start a
local ``redis-server`` on a free loopback port and stop it afterwards.

:func:`redis_for` is what commands and fixtures call: for the in-memory layer
it yields None; for ``redis`` and ``redis-pubsub`` it yields a URL that answers
PING, or raises :class:`RedisUnavailableError` saying what to do.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlparse

from channels_harness.errors import RedisUnavailableError
from channels_harness.runtime import procgroup
from channels_harness.runtime.loopback import LOOPBACK
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import free_port

LAYERS = ("memory", "redis", "redis-pubsub")


def ping(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers PING at ``url`` (``redis://host:port/db``)."""
    parsed = urlparse(url)
    host, port = parsed.hostname or LOOPBACK, parsed.port or 6379
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def local_redis() -> Iterator[str]:
    """Start ``redis-server`` on a free loopback port (no persistence); yield its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailableError(
            "the Redis layer needs a Redis server: none was given (--redis-url) and "
            "redis-server is not installed (Debian: apt-get install redis-server)"
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="harness-redis-")
    argv = [
        binary,
        "--bind",
        LOOPBACK,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        workdir,
        "--daemonize",
        "no",
    ]
    with tempfile.TemporaryFile() as log:
        popen = procgroup.spawn(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"redis://{LOOPBACK}:{port}/0"
            deadline = time.monotonic() + scaled(10)
            while not ping(url):
                if popen.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read()[-2000:].decode("utf-8", "replace")
                    raise RedisUnavailableError(f"redis-server did not start:\n{tail}")
                time.sleep(0.05)
            yield url
        finally:
            procgroup.stop_group(popen)
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_for(layer: str, url: str | None = None) -> Iterator[str | None]:
    """The Redis URL the app should use for ``layer`` (None for ``memory``).

    With ``url``, that server must answer PING; without, a local redis-server is
    started for the duration of the block.
    """
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS}, not {layer!r}")
    if layer == "memory":
        yield None
        return
    if url:
        if not ping(url, timeout=scaled(2)):
            raise RedisUnavailableError(
                f"no Redis server answers PING at {url}; start one there, or omit "
                "--redis-url to let the harness start a local redis-server"
            )
        yield url
        return
    with local_redis() as started:
        yield started


def layer_env(layer: str, url: str | None) -> dict[str, str]:
    """The environment that points the reference app at ``layer``."""
    env = {"CHANNEL_LAYER": layer}
    if url:
        env["REDIS_URL"] = url
    return env
