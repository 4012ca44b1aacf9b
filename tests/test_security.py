"""The app's security stack over real sockets: AllowedHostsOriginValidator,
AuthMiddlewareStack with a session made through the app's own HTTP login, and
the live-consumer count returning to zero after clients leave."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from channels_harness.runtime.paths import TARGET_APP_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.reference import FLAVOURS
from channels_harness.servers.registry import get_spec

PASSWORD = "correct horse battery staple"


def refused_status(url: str, **kwargs: object) -> int | None:
    """The HTTP status a refused handshake got, or None if it was accepted."""
    try:
        with connect(url, open_timeout=scaled(5), **kwargs):  # type: ignore[arg-type]
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


def test_a_foreign_origin_is_refused_and_an_allowed_one_accepted(server: ServerProcess) -> None:
    url = server.ws_url("ws/secure/echo/")
    assert refused_status(url, origin="http://evil.example") == 403
    with connect(url, origin=f"http://127.0.0.1:{server.port}") as ws:
        ws.send("same origin")
        assert ws.recv(timeout=5) == "same origin"
    # channels' OriginValidator denies a handshake without an Origin header
    assert refused_status(url) == 403


def manage(db: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=TARGET_APP_DIR,
        env={**os.environ, "REFSITE_DB": str(db), **(env or {})},
        check=True,
        capture_output=True,
        timeout=scaled(60),
    )


@pytest.fixture(scope="module")
def user_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh SQLite database with one user, made with the app's manage.py."""
    db = tmp_path_factory.mktemp("auth") / "db.sqlite3"
    manage(db, "migrate", "--noinput")
    manage(
        db,
        "createsuperuser",
        "--noinput",
        "--username",
        "demo",
        "--email",
        "d@example.org",
        env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD},
    )
    return db


@pytest.fixture
def auth_server(server_name: str, user_db: Path) -> Iterator[ServerProcess]:
    with ServerProcess(get_spec(server_name), env={"REFSITE_DB": str(user_db)}) as server:
        yield server


def log_in(server: ServerProcess, password: str = PASSWORD) -> str:
    """Log in through Django's LoginView; return the session cookie value ('' if refused)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(server.http_url("accounts/login/"), timeout=scaled(10)) as page:
        html = page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token, "the login page carries a CSRF token"
    form = urllib.parse.urlencode(
        {"username": "demo", "password": password, "csrfmiddlewaretoken": token.group(1)}
    ).encode()
    with contextlib.suppress(urllib.error.HTTPError):
        opener.open(server.http_url("accounts/login/"), data=form, timeout=scaled(10)).close()
    return next((c.value for c in jar if c.name == "sessionid"), "")


def whoami(server: ServerProcess, cookie: str | None, query: str = "") -> dict[str, object]:
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    with connect(server.ws_url(f"ws/whoami/{query}"), additional_headers=headers) as ws:
        return dict(json.loads(ws.recv(timeout=5)))


def test_a_logged_in_session_reaches_the_consumer_as_that_user(
    auth_server: ServerProcess,
) -> None:
    cookie = log_in(auth_server)
    assert cookie, "a correct password gives a session cookie"
    assert whoami(auth_server, cookie) == {"authenticated": True, "username": "demo"}
    assert whoami(auth_server, cookie, "?require_auth=1")["username"] == "demo"


def test_no_session_and_a_forged_session_are_anonymous(auth_server: ServerProcess) -> None:
    assert log_in(auth_server, password="wrong") == ""
    assert whoami(auth_server, None) == {"authenticated": False, "username": None}
    forged = "x" * 32
    assert whoami(auth_server, forged) == {"authenticated": False, "username": None}
    assert (
        refused_status(
            auth_server.ws_url("ws/whoami/?require_auth=1"),
            additional_headers={"Cookie": f"sessionid={forged}"},
        )
        == 403
    )


def live_consumers(server: ServerProcess) -> int:
    with urllib.request.urlopen(server.http_url("stats/"), timeout=scaled(5)) as response:
        return int(json.loads(response.read())["total_live"])


def test_consumers_end_when_clients_leave_cleanly_or_abruptly(server: ServerProcess) -> None:
    with contextlib.ExitStack() as stack:
        opened = []
        for flavour in FLAVOURS:
            for _ in range(3):
                ws = stack.enter_context(connect(server.ws_url(f"ws/echo/{flavour}/")))
                ws.send("x")
                assert ws.recv(timeout=5) == "x"
                opened.append(ws)
        assert live_consumers(server) >= len(opened)
        for ws in opened[::2]:  # half drop TCP with a reset, no close frame
            ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.socket.close()
    deadline = time.monotonic() + scaled(20)
    while live_consumers(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_consumers(server) == 0
