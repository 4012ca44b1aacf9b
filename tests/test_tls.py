"""wss:// end to end: certificates made at start, a real server serving TLS,
the load engine and the raw client trusting only the harness's authority, and
the conformance suite's handshake, message and close cases over TLS."""

from __future__ import annotations

import json
import os
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import _spawn
import pytest

from channels_harness.generators.engine import LoadConfig, run_load
from channels_harness.protocol.rawclient import RawClient
from channels_harness.runtime import tls
from channels_harness.runtime.paths import PROJECT_DIR
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import SERVERS, get_spec


def test_every_server_has_a_tls_command_with_the_certificate_files() -> None:
    files = tls.certificates()
    assert files.key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    for spec in SERVERS.values():
        command = " ".join(spec.command("app:application", "127.0.0.1", 8443, tls=files))
        assert str(files.key_file) in command and str(files.cert_file) in command, spec.name
        assert spec.serves_tls


@pytest.fixture(scope="module")
def tls_uvicorn() -> Iterator[ServerProcess]:
    with ServerProcess(get_spec("uvicorn"), tls=True) as server:
        yield server


def test_the_engine_echoes_over_wss_trusting_the_harness_ca(tls_uvicorn: ServerProcess) -> None:
    url = tls_uvicorn.ws_url("/ws/echo/async/")
    assert url.startswith("wss://")
    result = run_load(
        LoadConfig(
            url=url,
            connections=4,
            messages=20,
            duration_s=10.0,
            ca_file=str(tls_uvicorn.ca_file),
            server_pids=[p.pid for p in tls_uvicorn.processes()],
        )
    )
    assert (result.connected, result.errors) == (4, 0)
    assert result.measured == 4 * 20
    assert result.workers[0].server_cpu_s is not None and result.workers[0].server_cpu_s > 0


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_uvicorn: ServerProcess) -> None:
    assert tls_uvicorn.port is not None
    untrusting = ssl.create_default_context()  # the system's authorities only
    with (
        RawClient(
            tls_uvicorn.host, tls_uvicorn.port, "/ws/echo/async/", ssl_context=untrusting
        ) as conn,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        conn.connect()
    trusting = tls_uvicorn.client_ssl_context()
    with RawClient(
        tls_uvicorn.host, tls_uvicorn.port, "/ws/echo/async/", ssl_context=trusting
    ) as conn:
        assert conn.connect().status == 101
        conn.send_text("over tls")
        assert conn.recv_message().payload == b"over tls"
        conn.send_close(1000)


@pytest.mark.slow
def test_conformance_handshake_message_and_close_cases_pass_over_tls(tmp_path: Path) -> None:
    """The suite's own cases with ``--tls``: known deviations stay strict xfails, so a
    server that behaves differently over TLS fails the run."""
    suites = [f"conformance/test_{name}.py" for name in ("handshake", "messages", "close")]
    done = _spawn.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *suites,
            "--tls",
            "--servers",
            "daphne,uvicorn",
            "--flavours",
            "async",
            "--conformance-out",
            str(tmp_path),
            "-q",
        ],
        cwd=PROJECT_DIR,
        env=dict(os.environ),
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((tmp_path / "matrix.json").read_text())["rows"]
    assert {row["server"] for row in rows} == {"daphne", "uvicorn"}
    areas = {row["area"] for row in rows}
    assert {"handshake", "close"} <= areas
    schemes = {row["server"]: row["observed"] for row in rows if "scheme" in row["case"]}
    assert schemes == {"daphne": "scheme 'wss'", "uvicorn": "scheme 'wss'"}
