"""A server process that never leaks: start on a free loopback port, wait until
it answers, capture its log, stop and reap its whole group on every exit path.

:class:`ServerProcess` runs one :class:`~channels_harness.servers.registry.ServerSpec`
with an application; :func:`stop_all` is the command line's last line of defence.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import importlib.util
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from channels_harness.errors import (
    PortInUseError,
    ServerError,
    ServerStartError,
    ServerUnavailableError,
)
from channels_harness.runtime import procgroup, tls
from channels_harness.runtime.loopback import LOOPBACK
from channels_harness.runtime.paths import TARGET_APP_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.reference import DEFAULT_APP, DEFAULT_SETTINGS, HEALTH_PATH
from channels_harness.servers.registry import ServerSpec, get_spec
from channels_harness.servers.userapp import Readiness, server_environment


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Whether binding ``host:port`` fails because something holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


_live: weakref.WeakSet[ServerProcess] = weakref.WeakSet()
_live_lock = threading.Lock()


def live() -> tuple[set[int], set[int]]:
    """What is running now: (ids of ServerProcess objects, spawned group leaders)."""
    with _live_lock:
        servers = {id(process) for process in _live}
    return servers, procgroup.live()


def stop_all(keep: tuple[set[int], set[int]] | None = None) -> None:
    """Stop every server this process started and has not stopped yet, then every
    other process group the harness spawned; ``keep`` (from :func:`live`) spares
    what was already running when a caller took that snapshot."""
    keep_servers, keep_groups = keep or (set(), set())
    with _live_lock:
        processes = [process for process in _live if id(process) not in keep_servers]
    for process in processes:
        process.stop()
    procgroup.stop_all(keep=keep_groups)


@dataclass
class ServerProcess:
    """One server running the app in its own process group on loopback.

    Use as a context manager (or call :meth:`start` and :meth:`stop`); the
    group is terminated and reaped on every exit path, including exceptions and
    Ctrl-C. ``cpus`` pins the server (and its children) to those cores;
    ``wrapper`` runs it under another command (a profiler, valgrind). With
    ``tls`` it serves wss:// (and https://) with the certificates of
    :func:`channels_harness.runtime.tls.certificates`.

    The reference app (``app_dir`` is ``target_app/``) runs in the harness's
    environment and is ready when ``GET /healthz/`` answers. Any other app
    (the user's) runs in a clean environment
    (:func:`~channels_harness.servers.userapp.server_environment`: ``app_dir``
    on its path and as its working directory, ``settings`` as
    ``DJANGO_SETTINGS_MODULE`` when given, then ``env``) and is ready as its
    ``readiness`` says (default: the port accepting and an HTTP answer on ``/``).
    """

    spec: ServerSpec
    app: str = DEFAULT_APP
    port: int | None = None
    host: str = LOOPBACK
    cpus: frozenset[int] | None = None
    env: dict[str, str] = field(default_factory=dict)
    extra_args: Sequence[str] = ()
    startup_timeout: float = 30.0
    app_dir: Path = TARGET_APP_DIR
    log_path: Path | None = None
    settings: str | None = None
    readiness: Readiness | None = None
    tls: bool = False
    # A command the server runs under (``valgrind --tool=callgrind ...``): its
    # arguments go before the server's own command line.
    wrapper: Sequence[str] = ()

    popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    startup_s: float | None = field(default=None, init=False)
    returncode: int | None = field(default=None, init=False)
    final_log: str = field(default="", init=False, repr=False)
    _own_log: bool = field(default=False, init=False, repr=False)

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __hash__(self) -> int:
        return id(self)

    def start(self) -> ServerProcess:
        """Start the server and return once it answers HTTP; raise :class:`ServerError`."""
        if self.popen is not None:
            raise ServerError(f"{self.spec.name} is already started")
        if not self.spec.available():
            missing = [
                m
                for m in (self.spec.module, *self.spec.extra_modules)
                if importlib.util.find_spec(m) is None
            ]
            raise ServerUnavailableError(
                f"{self.spec.name} cannot run: module(s) {', '.join(missing)} not installed"
            )
        if not self.app_dir.is_dir():
            raise ServerStartError(f"application directory {self.app_dir} does not exist")
        if self.tls and not self.spec.serves_tls:
            raise ServerUnavailableError(f"{self.spec.name} cannot serve TLS in the harness")
        if self.port is not None:
            if port_in_use(self.port, self.host):
                raise PortInUseError(
                    f"port {self.port} on {self.host} is already in use{_holder(self.port)}; "
                    "choose another port or omit it to get a free one"
                )
            self._launch(self.port)
            return self
        for attempt in range(3):
            port = free_port(self.host)
            try:
                self._launch(port)
            except ServerStartError as exc:
                # Another process may have taken the port between our probe and the bind.
                if attempt < 2 and "address already in use" in str(exc).lower():
                    continue
                raise
            self.port = port
            return self
        raise AssertionError("unreachable")

    def _launch(self, port: int) -> None:
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"channels-harness-{self.spec.name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
            self._own_log = True
        command = self.spec.command(
            self.app, self.host, port, self.extra_args, tls.certificates() if self.tls else None
        )
        command = [*self.wrapper, *command]
        env = self.environment()
        self._command = command
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.popen = procgroup.spawn(
                command,
                cwd=self.app_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cpus=self.cpus,
            )
        with _live_lock:
            _live.add(self)
        try:
            self._wait_ready(port)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started

    @property
    def reference_app(self) -> bool:
        """Whether this server runs the reference app (else the user's own)."""
        return self.app_dir.resolve() == TARGET_APP_DIR.resolve()

    def environment(self) -> dict[str, str]:
        """The server's environment (see the class doc)."""
        if self.reference_app:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self.app_dir), env.get("PYTHONPATH", "")) if p
            )
            env.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
            if self.settings:
                env["DJANGO_SETTINGS_MODULE"] = self.settings
        else:
            env = server_environment(self.app_dir, self.settings)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.env)
        return env

    def _ready(self, port: int) -> bool:
        if self.readiness is None and self.reference_app:
            return _answers(self.host, port, self.spec.health, self.client_ssl_context())
        return (self.readiness or Readiness()).ready(self.host, port)

    def _waited_for(self) -> str:
        if self.readiness is None and self.reference_app:
            return f"GET {HEALTH_PATH}" if self.spec.health == "http" else "a TCP connection"
        return (self.readiness or Readiness()).describe()

    def _wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + scaled(self.startup_timeout)
        assert self.popen is not None
        while True:
            code = self.popen.poll()
            if code is not None:
                raise ServerStartError(
                    f"{self.spec.name} exited with code {code} before answering on "
                    f"{self.host}:{port}\ncommand: {' '.join(self._command)}\n"
                    f"log tail:\n{self.log_tail()}"
                )
            if self._ready(port):
                return
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.spec.name} did not answer ({self._waited_for()}) on {self.host}:{port} "
                    f"within {scaled(self.startup_timeout):.0f}s\n"
                    f"command: {' '.join(self._command)}\nlog tail:\n{self.log_tail()}"
                )
            time.sleep(0.01)

    def stop(self, grace: float = 5.0) -> int | None:
        """Terminate the whole process group, reap it, and return the leader's exit code.

        SIGTERM first; whatever is still in the group after ``grace`` seconds gets
        SIGKILL. Safe to call more than once.
        """
        popen = self.popen
        if popen is None:
            return self.returncode
        procgroup.stop_group(popen, grace)
        self.returncode = popen.returncode
        self.final_log = self.log_tail(200)
        self.popen = None
        with _live_lock:
            _live.discard(self)
        if self._own_log and self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
            self.log_path = None
            self._own_log = False
        return self.returncode

    # -- what tests and reports read ----------------------------------------

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def command(self) -> list[str]:
        """The command line the server runs (or ran) with."""
        return list(getattr(self, "_command", []))

    @property
    def name(self) -> str:
        """The server's name in the registry (``daphne``, ``uvicorn``, ...)."""
        return self.spec.name

    @property
    def version(self) -> str:
        """The installed version of the server."""
        return self.spec.version()

    def ws_url(self, path: str = "/") -> str:
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{self.host}:{self.port}/{path.lstrip('/')}"

    def http_url(self, path: str = "/") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}/{path.lstrip('/')}"

    @property
    def ca_file(self) -> Path | None:
        """The certificate authority a client must trust (None for a plain server)."""
        return tls.certificates().ca_file if self.tls else None

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """A client context that trusts this server's certificate (None for a plain server)."""
        ca_file = self.ca_file
        return tls.client_context(ca_file) if ca_file is not None else None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server's output (also after :meth:`stop`)."""
        if self.log_path is None or not self.log_path.exists():
            return "\n".join(self.final_log.splitlines()[-lines:])
        with open(self.log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - 64 * 1024))
            text = log.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def processes(self) -> list[psutil.Process]:
        """The leader and every descendant still alive."""
        return procgroup.tree(self.popen.pid) if self.popen is not None else []

    def rss_bytes(self) -> int:
        """Resident memory of the leader and all its descendants, in bytes."""
        total = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def info(self) -> dict[str, Any]:
        """What a result records about this server run."""
        return {
            **self.spec.describe(),
            "command": self.command,
            "app": self.app,
            **({} if self.reference_app else {"app_dir": str(self.app_dir)}),
            **({"settings": self.settings} if self.settings else {}),
            "port": self.port,
            "cpus": sorted(self.cpus) if self.cpus else None,
            "startup_s": round(self.startup_s, 3) if self.startup_s is not None else None,
            **({"tls": True} if self.tls else {}),
        }


def _answers(
    host: str, port: int, health: str = "http", context: ssl.SSLContext | None = None
) -> bool:
    if health == "tcp":
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False
    conn = (
        http.client.HTTPSConnection(host, port, timeout=1.0, context=context)
        if context is not None
        else http.client.HTTPConnection(host, port, timeout=1.0)
    )
    try:
        conn.request("GET", HEALTH_PATH, headers={"Host": f"{host}:{port}"})
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


group_members = procgroup.group_members


def _holder(port: int) -> str:
    """`` (held by pid N: name)`` when psutil can tell who listens on ``port``."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if (
                conn.laddr
                and conn.laddr.port == port
                and conn.status == psutil.CONN_LISTEN
                and conn.pid
            ):
                return f" (held by pid {conn.pid}: {psutil.Process(conn.pid).name()})"
    except (psutil.Error, OSError):
        pass
    return ""


@contextlib.contextmanager
def serving(name: str, **kwargs: Any) -> Iterator[ServerProcess]:
    """``with serving("daphne") as server:`` starts the named server and always stops it."""
    with ServerProcess(get_spec(name), **kwargs) as server:
        yield server
