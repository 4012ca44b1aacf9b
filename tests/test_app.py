"""The reference app under every server: seed endpoints, echo in every flavour,
probe read-back and room fan-out, over real sockets."""

from __future__ import annotations

from websockets.sync.client import connect

from channels_harness.protocol.probe import fetch_record, new_id, probe_path, received_events
from channels_harness.servers.process import ServerProcess

TIMEOUT = 5


def test_seed_sync_consumer_replies_as_the_notes_show(server: ServerProcess) -> None:
    with connect(server.ws_url("ws/sc/")) as ws:
        ws.send("hello")
        assert ws.recv(timeout=TIMEOUT) == "Message sent to client"
        ws.send("again")
        assert ws.recv(timeout=TIMEOUT) == "Message sent to client"


def test_seed_async_consumer_replies_as_the_notes_show(server: ServerProcess) -> None:
    with connect(server.ws_url("ws/ac/")) as ws:
        ws.send(b"\x01\x02")
        assert ws.recv(timeout=TIMEOUT) == "Message sent to client"


def test_echo_returns_text_as_text_and_bytes_as_bytes(server: ServerProcess, flavour: str) -> None:
    every_byte = bytes(range(256))
    with connect(server.ws_url(f"ws/echo/{flavour}/")) as ws:
        ws.send("héllo wörld ✓ 🚀")
        assert ws.recv(timeout=TIMEOUT) == "héllo wörld ✓ 🚀"
        ws.send(every_byte)
        assert ws.recv(timeout=TIMEOUT) == every_byte
        ws.send(b"x" * 70_000)
        assert ws.recv(timeout=TIMEOUT) == b"x" * 70_000


def test_probe_records_what_the_consumer_received(
    server: ServerProcess, probe_flavour: str
) -> None:
    probe_id = new_id()
    with connect(server.ws_url(probe_path(probe_flavour, probe_id))) as ws:
        ws.send("ping")
        assert ws.recv(timeout=TIMEOUT) == "ping"
        ws.send(b"\x00")
        assert ws.recv(timeout=TIMEOUT) == b"\x00"
    record = fetch_record(server.http_url(), probe_id)
    types = [event["type"] for event in received_events(record)]
    assert types == [
        "websocket.connect",
        "websocket.receive",
        "websocket.receive",
        "websocket.disconnect",
    ]
    events = received_events(record)
    assert events[1].get("text") == "ping"
    assert events[2].get("bytes") == b"\x00"
    assert record["scope"]["type"] == "websocket"
    assert record["scope"]["path"] == f"/ws/probe/{probe_flavour}/"
    assert record["exit"]["how"] == "disconnect"
    assert record["send_errors"] == []


def test_probe_script_closes_before_accept_and_records_it(
    server: ServerProcess, probe_flavour: str
) -> None:
    probe_id = new_id()
    script = {"connect": [{"send": {"type": "websocket.close", "code": 4001}}]}
    try:
        with connect(server.ws_url(probe_path(probe_flavour, probe_id, script))):
            raise AssertionError("the handshake should have been refused")
    except Exception as exc:  # websockets raises InvalidStatus for an HTTP denial
        assert "403" in str(exc) or "rejected" in str(exc).lower(), exc
    record = fetch_record(server.http_url(), probe_id, wait_exit=False)
    assert received_events(record)[0]["type"] == "websocket.connect"
    assert any(entry.get("sent", {}).get("type") == "websocket.close" for entry in record["log"])


def test_room_broadcasts_to_every_member(server: ServerProcess, flavour: str) -> None:
    room = f"r{new_id()[:12]}"
    url = server.ws_url(f"ws/room/{room}/{flavour}/")
    with connect(url) as alice, connect(url) as bob:
        # membership is set up before accept, so both are in the group now
        alice.send("hi all")
        assert alice.recv(timeout=TIMEOUT) == "hi all"
        assert bob.recv(timeout=TIMEOUT) == "hi all"
        bob.send(b"\x00bin")
        assert alice.recv(timeout=TIMEOUT) == b"\x00bin"
        assert bob.recv(timeout=TIMEOUT) == b"\x00bin"
