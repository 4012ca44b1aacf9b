"""ServerProcess: start, stop, errors, and no process left behind on any path."""

from __future__ import annotations

import socket

import pytest
from websockets.sync.client import connect

from channels_harness.errors import PortInUseError, ServerStartError, UnknownServerError
from channels_harness.servers.process import ServerProcess, group_members
from channels_harness.servers.registry import SERVERS, get_spec


def test_every_server_starts_echoes_and_leaves_nothing(server_name: str) -> None:
    with ServerProcess(get_spec(server_name)) as server:
        pgid = server.pid
        assert pgid is not None
        assert group_members(pgid), "the server's group should be alive while it runs"
        with connect(server.ws_url("ws/echo/async/")) as ws:
            ws.send("alive")
            assert ws.recv(timeout=5) == "alive"
        info = server.info()
        assert info["version"] == get_spec(server_name).version() != "not installed"
        assert info["command"][-1] != "" and info["startup_s"] > 0
    assert group_members(pgid) == []
    assert server.returncode is not None


def test_a_port_in_use_gives_a_clear_error_and_starts_nothing() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = ServerProcess(get_spec("uvicorn"), port=port)
        with pytest.raises(PortInUseError, match=f"port {port} .* already in use"):
            server.start()
        assert server.pid is None


def test_a_bad_app_path_gives_the_log_tail_and_leaves_nothing(server_name: str) -> None:
    server = ServerProcess(
        get_spec(server_name), app="no_such_module:application", startup_timeout=15
    )
    with pytest.raises(ServerStartError) as caught:
        server.start()
    message = str(caught.value)
    assert "no_such_module" in message
    assert "log tail" in message
    assert server.pid is None
    assert not server.running


def test_an_unknown_server_name_lists_the_choices() -> None:
    with pytest.raises(UnknownServerError) as caught:
        get_spec("apache")
    for name in SERVERS:
        assert name in str(caught.value)


def test_stop_reaps_a_server_that_was_killed_from_outside() -> None:
    with ServerProcess(get_spec("daphne")) as server:
        pgid = server.pid
        assert pgid is not None
        server.processes()[0].kill()
        server.popen.wait(timeout=5)  # type: ignore[union-attr]
        assert not server.running
    assert group_members(pgid) == []
    assert server.returncode == -9


def test_the_raw_echo_baseline_echoes_and_leaves_nothing() -> None:
    with ServerProcess(get_spec("raw-echo")) as server:
        pgid = server.pid
        assert pgid is not None
        with connect(server.ws_url("/")) as ws:
            ws.send("baseline")
            assert ws.recv(timeout=5) == "baseline"
            ws.send(bytes(range(256)))
            assert ws.recv(timeout=5) == bytes(range(256))
    assert group_members(pgid) == []
