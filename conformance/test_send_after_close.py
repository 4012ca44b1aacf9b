"""Sending on a closed connection (ASGI spec 2.4) and after the app's own close.

See ASGI www 2.5 "Disconnected Client - send exception" (send on a closed
connection should raise a server-specific OSError subclass, added in 2.4) and
RFC 6455 5.5.1 (no data frames after a close frame).
"""

from __future__ import annotations

from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.live import open_probe, record
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.servers.process import ServerProcess

LATE_SEND = {"send": {"type": "websocket.send", "text": "late"}}


def send_error_kinds(server: ServerProcess, probe_id: str) -> list[tuple[str, bool]]:
    return [(e["error"], bool(e["is_oserror"])) for e in record(server, probe_id)["send_errors"]]


def observe_errors(verdict: Verdict, errors: list[tuple[str, bool]]) -> None:
    """Record what each late send raised (``send_error``; ``none`` when nothing did)."""
    for error, is_oserror in errors or [("none", False)]:
        kind = "" if error == "none" else (" (an OSError)" if is_oserror else " (not an OSError)")
        verdict.observe("send_error", f"{error}{kind}")


@case("ASGI 2.4 send exception", min_spec="2.4")
def test_send_after_disconnect_raises_oserror(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """send() after websocket.disconnect raises a subclass of OSError."""
    conn, probe_id = open_probe(server, probe_flavour, {"disconnect": [LATE_SEND]})
    with conn:
        conn.send_close(1000)
        conn.wait_closing(1.0)
    errors = send_error_kinds(server, probe_id)
    observe_errors(verdict, errors)
    verdict.should(
        len(errors) == 1 and errors[0][1],
        expected="send raises an OSError subclass",
        observed=f"send errors {errors}" if errors else "send returned without error",
    )


@case("ASGI 2.4 send exception", min_spec="2.4")
def test_send_after_app_close_raises_oserror(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """send() right after the app's own websocket.close raises a subclass of OSError."""
    actions = [{"send": {"type": "websocket.close"}}, {"sleep": 0.2}, LATE_SEND]
    conn, probe_id = open_probe(server, probe_flavour, {"receive": actions})
    with conn:
        conn.send_text("go")
        conn.wait_closing(1.5)
    errors = send_error_kinds(server, probe_id)
    observe_errors(verdict, errors)
    verdict.should(
        bool(errors) and errors[0][1],
        expected="send raises an OSError subclass",
        observed=f"send errors {errors}" if errors else "send returned without error",
    )


@case("RFC 6455 5.5.1")
def test_send_after_app_close_puts_no_data_on_the_wire(
    server: ServerProcess, probe_flavour: str, verdict: Verdict
) -> None:
    """A send right after the app's websocket.close never follows the close frame."""
    actions = [{"send": {"type": "websocket.close"}}, LATE_SEND]
    conn, _ = open_probe(server, probe_flavour, {"receive": actions})
    with conn:
        conn.send_text("go")
        closing = conn.wait_closing(1.5)
    verdict.must(
        not closing.data,
        expected="no data frame after the close frame",
        observed=f"{len(closing.data)} data frame(s); {closing.describe()}",
    )
