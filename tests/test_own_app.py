"""Your own stack from the harness's venv: the user's app under real servers, its
clean environment, its handshake, and every bad input as one line.

The chat example (examples/chat: the Channels tutorial's project with Origin
validation) is copied to a temporary folder per module; the wheel, a fresh
venv and a separate directory are exercised in test_own_stack_wheel.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import _spawn
import psutil
import pytest
from websockets.sync.client import connect

from channels_harness.errors import AppError, HandshakeRefusedError, ReplyError, UsageError
from channels_harness.experiments.appbench import QUICK, run_app_bench
from channels_harness.experiments.target import Target, first_round_trip
from channels_harness.generators.engine import LoadConfig, run_load
from channels_harness.protocol.traffic import build_traffic, parse_header
from channels_harness.report import intervals
from channels_harness.report.model import Run
from channels_harness.report.rows import HandshakeRow, ThroughputRow, rows_of
from channels_harness.runtime.paths import CHECKOUT_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess, free_port
from channels_harness.servers.registry import get_spec
from channels_harness.servers.userapp import Readiness, check_app

assert CHECKOUT_DIR is not None
EXAMPLE = CHECKOUT_DIR / "examples" / "chat"
APP = "mysite.asgi:application"
ORIGIN = "http://127.0.0.1"
HI = '{"message": "hi {n} from {conn}"}'

pytestmark = pytest.mark.slow

# An ASGI app that answers every HTTP request with its own environment as JSON.
ENV_APP = """
import json, os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = json.dumps(dict(os.environ)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
"""


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chat example with its database migrated."""
    folder = tmp_path_factory.mktemp("chat") / "chat"
    shutil.copytree(EXAMPLE, folder)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=folder, check=True, timeout=120
    )
    return folder


@pytest.fixture(scope="module")
def chat_server(chat: Path) -> Iterator[ServerProcess]:
    """The chat example under uvicorn, ready once a handshake with an Origin completes."""
    traffic = build_traffic(origin=ORIGIN)
    readiness = Readiness(ws_path="/ws/chat/lobby/", traffic=traffic)
    with ServerProcess(get_spec("uvicorn"), app=APP, app_dir=chat, readiness=readiness) as server:
        yield server


def test_user_app_gets_a_clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "envapp.py").write_text(ENV_APP)
    monkeypatch.setenv("HARNESS_LEAK_CANARY", "1")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "refsite.settings")
    monkeypatch.setenv("PYTHONPATH", str(CHECKOUT_DIR))
    spec = get_spec("uvicorn")
    with ServerProcess(spec, app="envapp:app", app_dir=tmp_path, settings="mysite.settings") as srv:
        import urllib.request

        with urllib.request.urlopen(srv.http_url("/"), timeout=10) as reply:
            env = json.loads(reply.read())
    assert not [name for name in env if name.startswith("HARNESS_")]
    assert env["DJANGO_SETTINGS_MODULE"] == "mysite.settings"
    assert env["PYTHONPATH"] == str(tmp_path)
    assert str(CHECKOUT_DIR) not in env["PYTHONPATH"]
    assert env["PATH"]


def test_reference_app_keeps_the_harness_environment() -> None:
    server = ServerProcess(get_spec("uvicorn"))
    assert server.reference_app
    assert server.environment()["DJANGO_SETTINGS_MODULE"] == "refsite.settings"


@pytest.mark.parametrize(
    ("app", "folder", "expected"),
    [
        ("mysite.asgi", "chat", "is not MODULE:ATTR"),
        ("nosuch.asgi:application", "chat", "No module named 'nosuch'"),
        ("mysite.asgi:nothing", "chat", "has no attribute 'nothing'"),
        ("mysite.settings:DEBUG", "chat", "is not an ASGI application"),
        (APP, "missing", "is not a folder"),
    ],
)
def test_a_wrong_app_is_one_line_naming_the_fix(
    chat: Path, app: str, folder: str, expected: str
) -> None:
    with pytest.raises(AppError) as caught:
        check_app(app, chat.parent / folder if folder != "chat" else chat, None)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_the_right_app_passes_the_check(chat: Path) -> None:
    """The verdict is check_app's: it raises AppError for an app that does not import
    (the test above makes it raise for each wrong app), so this fails if it does here."""
    check_app(APP, chat, None)


def test_a_refused_handshake_is_ready_but_refusing(chat: Path) -> None:
    readiness = Readiness(ws_path="/ws/chat/lobby/")
    server = ServerProcess(get_spec("daphne"), app=APP, app_dir=chat, readiness=readiness)
    with pytest.raises(
        HandshakeRefusedError, match=r"refused the WebSocket handshake with HTTP 403.*--origin"
    ):
        server.start()
    assert not server.running
    assert server.pid is None


def test_messages_round_trip_through_the_room(chat_server: ServerProcess) -> None:
    """The verdict is first_round_trip's: it raises ReplyError when no reply matches
    (the next test makes it raise), so this fails if the room does not echo."""
    traffic = build_traffic(messages=[HI], origin=ORIGIN, expect=r'"hi 0 from 0"')
    first_round_trip(chat_server.ws_url("/ws/chat/solo/"), traffic)


def test_a_reply_that_never_matches_is_a_reply_error(chat_server: ServerProcess) -> None:
    traffic = build_traffic(messages=[HI], origin=ORIGIN, expect="never there")
    with pytest.raises(ReplyError, match=r"none accepted: the last reply .* does not match"):
        first_round_trip(chat_server.ws_url("/ws/chat/solo/"), traffic, wait=2)


def test_a_greeting_before_the_reply_is_passed_over(chat_server: ServerProcess) -> None:
    """The chat with history sends the room's history first: with --expect the round
    trip waits for the reply that matches (the issue's first case)."""
    traffic = build_traffic(messages=[HI], origin=ORIGIN, expect='"type": "message"')
    first_round_trip(chat_server.ws_url("/ws/rooms/greeted/"), traffic)
    with pytest.raises(ReplyError, match=r"no reply|none accepted"):
        strict = build_traffic(messages=[HI], origin=ORIGIN, expect='"type": "nothing"')
        first_round_trip(chat_server.ws_url("/ws/rooms/greeted2/"), strict, wait=2)


def test_the_engine_sends_the_users_messages(chat_server: ServerProcess) -> None:
    traffic = build_traffic(messages=[HI], origin=ORIGIN, expect=r'"hi \d+ from \d+"')
    config = LoadConfig(
        url=chat_server.ws_url("/ws/chat/c{conn}/"),
        connections=4,
        duration_s=1.0,
        warmup_s=0.2,
        traffic=traffic,
    )
    result = run_load(config, processes=2)
    assert result.connected == 4
    assert result.measured > 0
    assert result.errors == 0, result.error_samples
    assert result.unsolicited == 0


def test_a_shared_room_counts_other_members_messages_apart(chat_server: ServerProcess) -> None:
    traffic = build_traffic(messages=[HI], origin=ORIGIN)
    # An open loop at a low rate: most of the time a member waits for nothing, so the
    # other members' messages, broadcast to it, arrive unsolicited.
    config = LoadConfig(
        url=chat_server.ws_url("/ws/chat/shared/"),
        mode="open",
        rate=30.0,
        connections=3,
        duration_s=1.0,
        warmup_s=0.2,
        traffic=traffic,
    )
    result = run_load(config)
    assert result.measured > 0
    assert result.unsolicited > 0
    assert result.errors == 0, result.error_samples


def test_target_prepares_with_a_login(chat: Path, chat_server: ServerProcess) -> None:
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "createsuperuser",
            "--noinput",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
        ],
        cwd=chat,
        env={"DJANGO_SUPERUSER_PASSWORD": "wonderland-42", "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=60,
    )
    target = Target(
        app=APP,
        app_dir=chat,
        path="/ws/chat/c{conn}/",
        traffic=build_traffic(messages=[HI], origin=ORIGIN, expect='"user": "alice"'),
        login="alice:wonderland-42",
        login_url="/admin/login/",
    )
    traffic = target.prepare(chat_server)
    assert "sessionid=" in (traffic.header("Cookie") or "")
    with pytest.raises(UsageError, match="no session cookie"):
        target.replace(login="alice:wrong").prepare(chat_server)


def test_your_apps_bench_rows_carry_their_interval_series_and_noise(
    chat: Path, tmp_path: Path
) -> None:
    target = Target(
        app=APP,
        app_dir=chat,
        path="/ws/chat/c{conn}/",
        traffic=build_traffic(messages=[HI], origin=ORIGIN),
    )
    plan = dataclasses.replace(QUICK, servers=("uvicorn",), runs=3)
    run = Run.create(tmp_path, kind="bench")
    run_app_bench(run, target, plan)
    [row] = rows_of(run.data, ThroughputRow)
    assert row.runs == 3 and row.ci95 is None  # three runs: a range, not a 95% CI
    assert isinstance(row.unstable, bool) and row.series == "app uvicorn c=50"
    # the server was watched over each window: its CPU per message and the noise
    assert row.server_cpu_us_per_msg and len(row.server_cpu_us_per_msg_runs) == 3
    assert row.noise is not None and row.noise["runs"] == 3
    [handshake] = rows_of(run.data, HandshakeRow)
    assert handshake.series == "app handshake uvicorn" and handshake.noise is not None
    interval = intervals.throughput(row)
    assert interval is not None and interval.kind == "range"
    assert row.unstable == (interval.half_width_pct > 5.0)


@pytest.mark.parametrize(
    "text", ["no colon here", "Bad Name: x", ": empty name", "X-Empty:", "Upgrade: h2c"]
)
def test_a_malformed_header_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--header"):
        parse_header(text)


def test_messages_keep_their_braces_and_fill_placeholders() -> None:
    traffic = build_traffic(messages=['{"a": {n}}', "b {conn}"])
    assert traffic.message(0, 7) == '{"a": 0}'
    assert traffic.message(1, 7) == "b 7"
    assert traffic.message(2, 7) == '{"a": 2}'


def _leftovers(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["serve", "--port", "70000"], "--port 70000 is not a TCP port"),
        (["bench", "--quick", "--results", "/proc/no/such/folder"], "cannot create the results"),
        (["bench", "--app", APP, "--path", "/ws/chat/x/"], "No module named 'mysite'"),
        (
            [
                "bench",
                "--app",
                "mysite.asgi:application",
                "--app-dir",
                "{chat}",
                "--servers",
                "uvicorn",
                "--path",
                "/ws/chat/x/",
            ],
            "HTTP 403: an app behind AllowedHostsOriginValidator",
        ),
        (["load", "--url", "ws://127.0.0.1:{port}/ws/x/", "--message", "m"], "nothing accepts"),
        (["load", "--url", "ws://127.0.0.1:{port}/ws/x/", "--header", "oops"], "--header 'oops'"),
        (["bench", "--url", "ws://10.1.2.3:9/ws/"], "--allow-remote-target"),
        (["bench", "--path", "/ws/x/"], "give --app or --url too"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_left(
    cli: object, chat: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    port = free_port()
    argv = [a.replace("{chat}", str(chat)).replace("{port}", str(port)) for a in args]
    done = (
        cli(*argv, "--results", str(tmp_path), timeout=120)
        if "--results" not in argv and argv[0] != "serve"
        else cli(*argv, timeout=120)
    )  # type: ignore[operator]
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected in " ".join(done.stderr.split()), done.stderr
    assert not _leftovers(str(chat)), "a server was left running"


def test_conformance_url_runs_the_wire_cases_on_a_running_echo(
    cli: object, uvicorn: ServerProcess, tmp_path: Path, run_data: object
) -> None:
    url = uvicorn.ws_url("/ws/echo/async/")
    done = cli(  # type: ignore[operator]
        "conformance", "--url", url, "--workers", "1", "--results", str(tmp_path), timeout=300
    )
    rows = run_data(tmp_path)["conformance"]  # type: ignore[operator]
    assert len(rows) > 20, done.stdout + done.stderr
    assert {row["server"] for row in rows} == {"url"}
    assert not [row for row in rows if "case error" in row["observed"]]
    # A running server has no recorded deviations: each one it shows fails the run.
    deviating = [row for row in rows if row["grade"] in ("FAIL", "NON-STRICT")]
    assert done.returncode == (1 if deviating else 0), done.stdout + done.stderr
    assert not [row for row in rows if "probe" in row["case"]]
    log = next(tmp_path.glob("*/conformance/pytest.log")).read_text()
    assert "N/A: needs the reference app's probe consumer" in log


def test_locust_offers_the_class_picker_from_the_project_root() -> None:
    import time
    import urllib.request

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        "locustfiles/",
        "--host",
        "ws://127.0.0.1:9",
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(port),
    ]
    with _spawn.started(
        command, cwd=CHECKOUT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ):
        page = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    page = reply.read().decode()
            except OSError:
                time.sleep(0.3)
    assert '"show_userclass_picker": true' in page
    assert '"AppUser"' in page and '"EchoAsyncUser"' in page


def test_limits_climbs_the_users_app_with_its_handshake(
    cli: object, chat: Path, tmp_path: Path, run_data: object
) -> None:
    """limits --app: the chat (behind its Origin check) held to --max on per-connection
    rooms, the canary answered by the room's broadcast, nothing of the reference app."""
    done = cli(  # type: ignore[operator]
        *("limits", "--app", APP, "--app-dir", str(chat), "--servers", "uvicorn"),
        *("--path", "/ws/chat/c{conn}/", "--origin", ORIGIN, "--message", HI),
        *("--max", "300", "--step", "150", "--bursts", "50", "--budget", "60"),
        *("--results", str(tmp_path)),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = run_data(tmp_path)  # type: ignore[operator]
    (limits,) = data["limits"]
    assert limits["server"] == "uvicorn" and limits["flavour"] == "/ws/chat/c{conn}/"
    assert limits["connections_held"] == 300, limits
    assert {row["layer"] for row in data["capacity"]} == {"app"}
    assert all(row["canary_errors"] == 0 for row in data["capacity"]), data["capacity"]
    (burst,) = data["burst"]
    assert burst["opened"] == 50, burst
    (at_limit,) = data["at_limit"]
    assert at_limit["recovered"] is True, at_limit
    assert at_limit["live_consumers_after_close"] is None  # not measured for the user's app
    assert data["options"]["app"] == APP
    assert not _leftovers(str(chat)), "a server was left running"


def test_limits_refuses_a_layer_for_the_users_app(cli: object, chat: Path) -> None:
    done = cli(  # type: ignore[operator]
        *("limits", "--app", APP, "--app-dir", str(chat), "--path", "/ws/chat/x/"),
        *("--layer", "memory"),
        timeout=60,
    )
    assert done.returncode == 2 and "your app's settings choose" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ((), "WebSocket handshake at /: refused with HTTP 403: the app checks the Origin"),
        (("--origin", ORIGIN), "/ is not a WebSocket route of the app"),
        (("--path", "/ws/chat/lobby/"), "a client must send an Origin header"),
        (
            ("--path", "/ws/chat/lobby/", "--origin", ORIGIN),
            "WebSocket handshake at /ws/chat/lobby/: accepted with Origin http://127.0.0.1",
        ),
    ],
    ids=["no-path-no-origin", "no-path", "no-origin", "both"],
)
def test_serve_serves_the_app_and_says_what_a_client_needs(
    chat: Path, options: tuple[str, ...], says: str
) -> None:
    command = [sys.executable, "-m", "channels_harness.cli", "serve", "--server", "uvicorn"]
    command += ["--app", APP, "--app-dir", str(chat), *options]
    with _spawn.started(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + scaled(60)
        while time.monotonic() < deadline and not (lines and "Ctrl-C" in lines[-1]):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        text = "".join(lines)
        try:
            assert "Ctrl-C stops it." in text, text
            assert says in text, text
            base = re.search(r"locust --host: (ws://127\.0\.0\.1:\d+)", text)
            assert base is not None, text
            with connect(f"{base.group(1)}/ws/chat/lobby/", origin=ORIGIN) as ws:  # type: ignore[arg-type]
                ws.send('{"message": "still serving"}')
                assert json.loads(ws.recv(timeout=10))["message"] == "still serving"
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=scaled(30))
    assert code == 130, code
    assert not _leftovers(str(chat)), "a server was left running"
