"""The user's own ASGI app under a server the harness starts: its environment,
a check that ``--app`` names an ASGI application, and when it is ready.

- :func:`server_environment`: a clean environment, not the harness's own (no
  ``HARNESS_*`` variables, no reference app settings, no checkout on the
  path): what a server needs to run (``PATH``, ``HOME``, the locale, the
  temporary folder), ``--app-dir`` on ``PYTHONPATH`` and ``--settings`` as
  ``DJANGO_SETTINGS_MODULE`` when given.
- :func:`check_app`: imports ``--app`` once in that environment, in a child
  process (:func:`~channels_harness.runtime.procgroup.spawn`), and raises
  :class:`~channels_harness.errors.AppError` with the problem and the fix
  before any server starts.
- :class:`Readiness`: the port accepting, then a completed WebSocket handshake
  at the load's path, or an HTTP answer on ``--ready-path``; an app that
  answers the handshake with an HTTP error is "ready but refusing"
  (:class:`~channels_harness.errors.HandshakeRefusedError`, with the likely fix).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from channels_harness.errors import AppError, HandshakeRefusedError
from channels_harness.protocol.rawclient import PeerClosed, RawClient
from channels_harness.protocol.traffic import Traffic
from channels_harness.runtime import procgroup
from channels_harness.runtime.timeouts import scaled

# What a server process needs from the caller's environment, and nothing else.
KEPT_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM")
_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

# Run as ``python -c _CHECK MODULE:ATTR`` in the server's environment: prints one JSON line.
_CHECK = """\
import importlib, json, sys
module_name, _, attr = sys.argv[1].partition(":")
try:
    target = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
except BaseException as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "kind": type(exc).__name__}))
else:
    ok = callable(target) and not isinstance(target, type(sys))
    print(json.dumps({"error": None if ok else f"it is a {type(target).__name__}", "kind": ""}))
"""


def server_environment(app_dir: Path, settings: str | None) -> dict[str, str]:
    """The environment of a server running the user's app (see the module doc)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name in KEPT_VARIABLES or name.startswith("LC_")
    }
    env["PYTHONPATH"] = str(app_dir)
    env["PYTHONUNBUFFERED"] = "1"
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    return env


def check_app(app: str, app_dir: Path, settings: str | None) -> None:
    """Raise :class:`AppError` unless ``app`` (``MODULE:ATTR``) imports from ``app_dir``
    with ``settings`` and is callable (an ASGI application)."""
    if not _APP.match(app):
        raise AppError(f"--app {app!r} is not MODULE:ATTR; write it like mysite.asgi:application")
    if not app_dir.is_dir():
        raise AppError(f"--app-dir {app_dir} is not a folder; give the folder that holds manage.py")
    try:
        popen = procgroup.spawn(
            [sys.executable, "-c", _CHECK, app],
            cwd=app_dir,
            env=server_environment(app_dir, settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            out, _ = popen.communicate(timeout=scaled(60.0))
        finally:
            procgroup.stop_group(popen, grace=1.0)
        answer = json.loads(out.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        raise AppError(f"--app {app}: could not check it: {exc}") from None
    if answer["error"] is None:
        return
    raise AppError(_app_problem(app, app_dir, settings, answer["error"], answer["kind"]))


def _app_problem(app: str, app_dir: Path, settings: str | None, error: str, kind: str) -> str:
    """One line: what is wrong with ``--app`` and how to fix it."""
    first = error.splitlines()[0] if error else "unknown error"
    if not kind:
        return (
            f"--app {app} is not an ASGI application ({first}); name the callable, "
            "e.g. mysite.asgi:application"
        )
    if kind == "ModuleNotFoundError":
        return (
            f"--app {app}: {first} from --app-dir {app_dir}; give the folder that holds "
            "the project (where manage.py is) as --app-dir"
        )
    if kind == "AttributeError":
        return f"--app {app}: {first}; check the name after the colon"
    if "settings" in first.lower() or kind == "ImproperlyConfigured":
        hint = "" if settings else "; pass --settings mysite.settings"
        return f"--app {app}: importing it failed with {first}{hint}"
    return f"--app {app}: importing it failed with {first}"


@dataclass(frozen=True)
class Readiness:
    """When the user's app is ready: the port accepting, then a completed WebSocket
    handshake at ``ws_path`` (with ``traffic``'s headers), or an HTTP answer
    (2xx or 3xx) on ``http_path``; with neither, any HTTP answer on ``/``.
    ``refusal_is_ready``: a handshake answered with an HTTP error means ready too
    (the server is up; ``serve`` then says what a client needs)."""

    ws_path: str | None = None
    http_path: str | None = None
    traffic: Traffic = field(default_factory=Traffic)
    refusal_is_ready: bool = False

    def describe(self) -> str:
        """What is waited for, for messages."""
        if self.http_path:
            return f"GET {self.http_path} answered with 2xx or 3xx"
        if self.ws_path:
            return f"a WebSocket handshake at {self.ws_path}"
        return "an HTTP answer on /"

    def ready(self, host: str, port: int) -> bool:
        """True when ready, False to poll again; raises HandshakeRefusedError when the app
        answered the handshake with an HTTP error (it runs, but refuses the connection)."""
        try:
            with socket.create_connection((host, port), timeout=1.0):
                pass
        except OSError:
            return False
        if self.http_path:
            status = _http_status(host, port, self.http_path)
            return status is not None and 200 <= status < 400
        if self.ws_path:
            return self._handshake(host, port, self.ws_path)
        return _http_status(host, port, "/") is not None

    def _handshake(self, host: str, port: int, path: str) -> bool:
        status = handshake_status(host, port, path, self.traffic)
        if status is None:
            return False
        if status == 101 or self.refusal_is_ready:
            return True
        raise HandshakeRefusedError(refusal(f"ws://{host}:{port}{path}", status, self.traffic))


def handshake_status(host: str, port: int, path: str, traffic: Traffic) -> int | None:
    """The HTTP status a WebSocket handshake at ``path`` with ``traffic``'s headers and
    subprotocol gets (101: accepted, and closed again); None without an HTTP answer."""
    client = RawClient(
        host,
        port,
        path,
        subprotocols=(traffic.subprotocol,) if traffic.subprotocol else (),
        headers=traffic.headers,
        timeout=scaled(5.0),
    )
    with client:
        try:
            response = client.connect()
        except (PeerClosed, TimeoutError, OSError):
            return None
        if response.status == 101:
            client.send_close(1000)
        return int(response.status)


def refusal(url: str, status: int, traffic: Traffic) -> str:
    """One line: the app at ``url`` refused the handshake with ``status``, and the likely fix."""
    text = f"the app at {url} is ready but refused the WebSocket handshake with HTTP {status}"
    if status == 403 and traffic.header("Origin") is None:
        return (
            f"{text}: an app behind AllowedHostsOriginValidator refuses connections without "
            "an allowed Origin; pass --origin http://HOST:PORT with a host in ALLOWED_HOSTS"
        )
    if status == 403:
        return (
            f"{text}: check that --origin ({traffic.header('Origin')}) is in ALLOWED_HOSTS, "
            "and log in (--login USER:PASSWORD --login-url PATH) if the consumer needs a user"
        )
    if status in (404, 500):
        return f"{text}: is --path a WebSocket route of the app (and its URL pattern's form)?"
    return f"{text}: check --path, --origin, --header and --subprotocol"


def _http_status(host: str, port: int, path: str) -> int | None:
    """The status of ``GET path`` (None when the server does not answer)."""
    conn = http.client.HTTPConnection(host, port, timeout=2.0)
    try:
        conn.request("GET", path, headers={"Host": f"{host}:{port}"})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
