"""The client closes or goes away: what the consumer receives.

See ASGI www 2.5 "Disconnect - receive event" (the client's code; 1005 when
its close frame had none; ``reason`` added in spec 2.5) and RFC 6455 5.5.1,
7.1.5 (1006 when TCP closes without a close frame).
"""

from __future__ import annotations

from channels_harness.experiments.conformance import featuretable
from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.live import open_echo, open_probe, received
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import wire
from channels_harness.servers.process import ServerProcess


def disconnects(server: ServerProcess, probe_id: str) -> list[dict]:
    return [e for e in received(server, probe_id) if e["type"] == "websocket.disconnect"]


def client_closes(
    server: ServerProcess, flavour: str, code: int | None, reason: str = ""
) -> list[dict]:
    """The disconnect events the consumer got after the client closed with ``code``."""
    conn, probe_id = open_probe(server, flavour)
    with conn:
        conn.send_close(code, reason)
        conn.wait_closing(1.0)
    return disconnects(server, probe_id)


@case("ASGI 2.5 websocket.disconnect code")
def test_client_close_code_reaches_the_consumer(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """The code of the client's close frame is the disconnect event's code."""
    events = client_closes(server, probe_flavour, 4002)
    codes = [e.get("code") for e in events]
    verdict.must(codes == [4002], expected="disconnect code 4002", observed=f"codes {codes}")


@case("ASGI 2.5 websocket.disconnect reason", min_spec="2.5")
def test_client_close_reason_reaches_the_consumer(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """The reason of the client's close frame is the disconnect event's reason."""
    events = client_closes(server, probe_flavour, 4002, "client leaving")
    reasons = [e.get("reason") for e in events]
    verdict.feature(
        featuretable.CLOSE_REASON,
        "client to app: "
        + ("delivered" if reasons == ["client leaving"] else f"not delivered ({reasons})"),
    )
    verdict.must(
        reasons == ["client leaving"],
        expected="disconnect reason 'client leaving'",
        observed=f"reasons {reasons}",
    )


@case("ASGI 2.5 websocket.disconnect code")
def test_empty_close_frame_gives_1005(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A close frame without a code reaches the consumer as code 1005."""
    events = client_closes(server, probe_flavour, None)
    codes = [e.get("code") for e in events]
    verdict.must(len(codes) == 1, expected="one disconnect", observed=f"codes {codes}")
    verdict.should(codes == [1005], expected="disconnect code 1005", observed=f"codes {codes}")


@case("RFC 6455 7.1.5; ASGI 2.5 websocket.disconnect")
def test_tcp_drop_gives_1006(server: ServerProcess, probe_flavour: str, verdict: Verdict) -> None:
    """A client that drops TCP without a close frame reaches the consumer as code 1006."""
    conn, probe_id = open_probe(server, probe_flavour)
    conn.drop()
    codes = [e.get("code") for e in disconnects(server, probe_id)]
    verdict.must(len(codes) == 1, expected="one disconnect", observed=f"codes {codes}")
    verdict.should(codes == [1006], expected="disconnect code 1006", observed=f"codes {codes}")


@case("ASGI 2.5 websocket.disconnect")
def test_client_close_gives_exactly_one_disconnect(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A normal client close (1000) gives exactly one disconnect event with 1000."""
    events = client_closes(server, probe_flavour, 1000)
    codes = [e.get("code") for e in events]
    verdict.must(len(codes) == 1, expected="one disconnect", observed=f"codes {codes}")
    verdict.should(codes == [1000], expected="disconnect code 1000", observed=f"codes {codes}")


@case("RFC 6455 5.5.1")
def test_server_answers_client_close_with_close_frame(
    server: ServerProcess, verdict: Verdict
) -> None:
    """The server answers the client's close frame with its own, echoing the code."""
    with open_echo(server) as conn:
        conn.send_close(4321, "done")
        closing = conn.wait_closing(1.0, reply=False)
    verdict.must(
        closing.frame is not None, expected="a close frame back", observed=closing.describe()
    )
    verdict.should(closing.code == 4321, expected="close 4321 echoed", observed=closing.describe())


@case("RFC 6455 7.1.1")
def test_server_closes_tcp_after_client_close(server: ServerProcess, verdict: Verdict) -> None:
    """After answering the client's close frame the server closes the TCP connection."""
    with open_echo(server) as conn:
        conn.send_close(1000)
        closing = conn.wait_closing(1.0, reply=False)
    verdict.should(
        closing.frame is not None and closing.eof,
        expected="close frame, then the server closes TCP",
        observed=closing.describe(),
    )


@case("RFC 6455 5.5.1")
def test_data_after_client_close_is_not_delivered(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A text frame sent after the client's close frame does not reach the app."""
    conn, probe_id = open_probe(server, probe_flavour, {"receive": []})
    with conn:
        conn.send_raw(
            wire.build_frame(wire.Opcode.CLOSE, wire.close_payload(1000))
            + wire.build_frame(wire.Opcode.TEXT, b"too late")
        )
        conn.wait_closing(1.0)
    late = [e for e in received(server, probe_id) if e["type"] == "websocket.receive"]
    verdict.must(not late, expected="no websocket.receive", observed=f"received {late}")
