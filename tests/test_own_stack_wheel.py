"""The installed package as a new user meets it: the wheel built here, installed
into a fresh venv, run from an empty directory against a Channels project it
has never seen (examples/chat: the tutorial's shape, Origin validation on).

The fresh venv gets only the wheel (``pip install --no-deps``); its
dependencies come from this venv's site-packages through a ``.pth`` file, so
the test is fast and needs no network. Nothing of the checkout is importable
there: the test checks that ``channels_harness`` is the wheel's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import _spawn
import psutil
import pytest
from websockets.sync.client import connect

from channels_harness.runtime.paths import CHECKOUT_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import free_port

pytestmark = pytest.mark.slow

assert CHECKOUT_DIR is not None
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
PACKAGES = ("channels_harness", "target_app", "locustfiles", "conformance")
APP = "mysite.asgi:application"
ORIGIN = "http://127.0.0.1"
MESSAGE = '{"message": "hi {n}"}'
PASSWORD = "wonderland-42"


@dataclass
class Installed:
    """The fresh venv with the wheel, an empty working directory and the chat project."""

    wheel: Path
    venv: Path
    work: Path
    chat: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self) -> dict[str, str]:
        keep = ("HOME", "LANG", "TMPDIR", "HARNESS_TIMEOUT_FACTOR", "HARNESS_REQUIRE_ALL")
        env = {name: os.environ[name] for name in keep if name in os.environ}
        # The conformance run checks the wheel's suite runs, not the servers' pings.
        env["HARNESS_KEEPALIVE_WATCH_S"] = "3"
        env["PATH"] = f"{self.bin}{os.pathsep}/usr/local/bin:/usr/bin:/bin"
        env["COLUMNS"] = "200"
        return env

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``args`` (the first one looked up in the venv's bin) in the empty directory."""
        return _spawn.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.work,
            env=self.env(),
            timeout=scaled(timeout),
        )

    def harness(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = self.run("channels-harness", *args, timeout=timeout)
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
        return done

    def app_options(self, path: str = "/ws/chat/c{conn}/") -> list[str]:
        return ["--app", APP, "--app-dir", str(self.chat), "--path", path, "--origin", ORIGIN]


def _build_wheel(into: Path) -> Path:
    """The wheel of a copy of the checkout's sources (no build isolation: offline)."""
    source = into / "source"
    source.mkdir()
    for name in SOURCES:
        shutil.copy2(CHECKOUT_DIR / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "db.sqlite3*")
    for name in PACKAGES:
        shutil.copytree(CHECKOUT_DIR / name, source / name, ignore=skip)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(into / "dist"),
            str(source),
        ],
        check=True,
        timeout=scaled(300),
    )
    (wheel,) = (into / "dist").glob("channels_harness-*.whl")
    return wheel


def _fresh_venv(venv: Path, wheel: Path) -> None:
    """A venv holding only the wheel; the dependencies seen through a .pth file."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    (purelib / "harness-dependencies.pth").write_text(site.getsitepackages()[0] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        timeout=scaled(300),
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    started = time.monotonic()
    wheel = _build_wheel(base)
    _fresh_venv(base / "venv", wheel)
    print(f"wheel built and installed in {time.monotonic() - started:.0f} s")
    work = base / "empty"
    work.mkdir()
    chat = base / "chat"
    shutil.copytree(CHECKOUT_DIR / "examples" / "chat", chat)
    result = Installed(wheel, base / "venv", work, chat)
    python = str(result.bin / "python")
    for command in (
        ["migrate", "-v", "0"],
        ["createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com"],
    ):
        subprocess.run(
            [python, "manage.py", *command],
            cwd=chat,
            env={**result.env(), "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
            check=True,
            timeout=scaled(120),
        )
    return result


def _leftovers(marker: str, keep: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and proc.info["pid"] not in keep and proc.info["pid"] != os.getpid():
            found.append(cmdline)
    return found


def test_the_wheel_carries_the_reference_app_locustfiles_suites_and_schema(
    installed: Installed,
) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for part in (
        "channels_harness/_bundled/target_app/refsite/asgi.py",
        "channels_harness/_bundled/target_app/wsapp/templates/registration/login.html",
        "channels_harness/_bundled/locustfiles/app.py",
        "channels_harness/_bundled/locustfiles/scenario.py",
        "channels_harness/locust.py",
        "channels_harness/_bundled/conformance/deviations.toml",
        "channels_harness/_bundled/conformance/conftest.py",
        "channels_harness/report/schema.json",
        "channels_harness/experiments/attacks/known.toml",
    ):
        assert part in names, part
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(installed.wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "channels_harness.testing.plugin" in text


def test_the_installed_harness_runs_from_an_empty_directory(installed: Installed) -> None:
    where = installed.run(
        "python", "-c", "import channels_harness; print(channels_harness.__file__)"
    )
    assert where.stdout.startswith(str(installed.venv)), where.stdout + where.stderr
    version = installed.harness("--version").stdout
    assert re.match(r"channels-harness \d+\.\d+", version)
    assert installed.run("python", "-m", "channels_harness", "--version").stdout == version
    assert "daphne" in installed.harness("servers", "--json").stdout


def test_the_bundled_locustfiles_are_found_for_plain_locust(installed: Installed) -> None:
    folder = installed.harness("locustfiles").stdout.strip()
    assert folder.startswith(str(installed.venv)) and folder.endswith("_bundled/locustfiles")
    listed = installed.run("python", "-m", "locust", "-f", folder, "--list", timeout=60)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert {"EchoAsyncUser", "AppUser", "ScenarioUser"} <= set(listed.stdout.split())


def test_serve_your_app(installed: Installed) -> None:
    command = [
        str(installed.bin / "channels-harness"),
        "serve",
        "--server",
        "daphne",
        *installed.app_options("/ws/chat/lobby/"),
    ]
    with _spawn.started(
        command,
        cwd=installed.work,
        env=installed.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + scaled(60)
        lines = []
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"(ws://127\.0\.0\.1:\d+/ws/chat/lobby/)", line)
            url = found.group(1) if found else None
        assert url is not None, "".join(lines)
        with connect(url, origin=ORIGIN, open_timeout=10) as ws:  # type: ignore[arg-type]
            ws.send('{"message": "hello"}')
            assert json.loads(ws.recv(timeout=10)) == {"message": "hello", "user": "anonymous"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=scaled(30)) == 130  # interrupted, as after Ctrl-C
    assert not _leftovers(str(installed.chat))


def test_bench_your_app_under_daphne_and_uvicorn(installed: Installed) -> None:
    done = installed.harness(
        "bench",
        "--quick",
        *installed.app_options(),
        "--message",
        MESSAGE,
        "--expect",
        r'"hi \d+"',
        timeout=600,
    )
    print(done.stdout)
    (data_file,) = (installed.work / "results").glob("*/data.json")
    data = json.loads(data_file.read_text())
    assert {row["server"] for row in data["throughput"]} == {"daphne", "uvicorn"}
    assert all(row["msgs_per_s"] > 0 and row["errors"] == 0 for row in data["throughput"])
    assert {row["server"] for row in data["handshake"]} == {"daphne", "uvicorn"}
    assert {row["server"] for row in data["latency"]} == {"daphne", "uvicorn"}
    assert data["failures"] == []
    assert not _leftovers(str(installed.chat))


@pytest.fixture(scope="module")
def running(installed: Installed) -> Iterator[str]:
    """Your app under uvicorn, started as a deployment would be; its base ws:// URL."""
    port = free_port()
    command = [
        str(installed.bin / "python"),
        "-m",
        "uvicorn",
        APP,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with _spawn.started(command, cwd=installed.chat, env=installed.env()):
        deadline = time.monotonic() + scaled(60)
        while time.monotonic() < deadline:
            try:
                with connect(
                    f"ws://127.0.0.1:{port}/ws/chat/up/",
                    origin=ORIGIN,  # type: ignore[arg-type]
                    open_timeout=2,
                ):
                    break
            except OSError:
                time.sleep(0.2)
        yield f"ws://127.0.0.1:{port}"


def _url_options(running: str) -> list[str]:
    return ["--url", f"{running}/ws/chat/c{{conn}}/", "--message", MESSAGE, "--origin", ORIGIN]


def test_load_a_running_server_with_a_login(installed: Installed, running: str) -> None:
    done = installed.harness(
        "load",
        *_url_options(running),
        "--users",
        "5",
        "--duration",
        "5",
        "--login",
        f"alice:{PASSWORD}",
        "--login-url",
        "/admin/login/",
        "--expect",
        '"user": "alice"',
        timeout=300,
    )
    results = sorted((installed.work / "results").glob("*/data.json"))
    data = json.loads(results[-1].read_text())
    (row,) = data["locust"]
    assert row["scenario"] == "app" and row["server"] == "url"
    assert row["requests"] > 0 and row["failures"] == 0, done.stdout
    assert row["server_cpu"] is None
    assert data["servers"]["url"]["command"] == []


def test_soak_a_running_server(installed: Installed, running: str) -> None:
    done = installed.harness(
        "soak", "--minutes", "0.15", *_url_options(running), "--echo-rate", "40", timeout=300
    )
    assert "stable" in done.stdout
    data = json.loads(sorted((installed.work / "results").glob("*/data.json"))[-1].read_text())
    (summary,) = data["soak_summary"]
    assert summary["rss_start_bytes"] is None and summary["live_consumers_end"] is None
    assert summary["echo_sent"] > 0 and summary["errors"] == 0


def test_attack_a_running_server(installed: Installed, running: str) -> None:
    installed.harness(
        "attack",
        "--quick",
        "--attacks",
        "reset-mid-frame,half-open,missing-key",
        *_url_options(running),
        timeout=300,
    )
    data = json.loads(sorted((installed.work / "results").glob("*/data.json"))[-1].read_text())
    assert {row["attack"] for row in data["attacks"]} == {
        "reset-mid-frame",
        "half-open",
        "missing-key",
    }
    assert all(row["canary_ok"] and row["leaked_consumers"] is None for row in data["attacks"])


CHAT_TEST = """
import json

from websockets.sync.client import connect


def test_chat(channels_server):
    url = channels_server.ws_url("/ws/chat/lobby/")
    with connect(url, origin="http://127.0.0.1") as ws:
        ws.send(json.dumps({"message": "hello"}))
        assert json.loads(ws.recv(timeout=10))["message"] == "hello"
    assert channels_server.http_url("/chat/").startswith("http://127.0.0.1:")
    assert channels_server.name in ("daphne", "uvicorn") and channels_server.version
"""


def test_the_plugin_runs_your_tests_once_per_server(installed: Installed) -> None:
    project = installed.work / "project"
    project.mkdir()
    (project / "test_chat.py").write_text(CHAT_TEST)
    (project / "pytest.ini").write_text(
        f"[pytest]\nchannels_app = {APP}\nchannels_app_dir = {installed.chat}\n"
    )
    done = _spawn.run(
        [str(installed.bin / "python"), "-m", "pytest", "-v", "-p", "no:cacheprovider"],
        cwd=project,
        env=installed.env(),
        timeout=scaled(300),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_chat.py::test_chat[daphne] PASSED" in done.stdout
    assert "test_chat.py::test_chat[uvicorn] PASSED" in done.stdout
    assert not _leftovers(str(installed.chat))


def test_conformance_runs_from_the_wheel(installed: Installed) -> None:
    done = installed.run(
        "channels-harness",
        "conformance",
        "--servers",
        "uvicorn",
        "--flavours",
        "async",
        "--workers",
        "1",
        timeout=900,
    )
    # uvicorn deviates only as conformance/deviations.toml records: exit 0.
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(sorted((installed.work / "results").glob("*/data.json"))[-1].read_text())
    assert len(data["conformance"]) > 50
    assert {row["server"] for row in data["conformance"]} == {"uvicorn"}
