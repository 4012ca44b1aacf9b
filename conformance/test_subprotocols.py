"""Subprotocol negotiation, both directions: what the app sees offered and what the
server puts in the 101.

See RFC 6455 4.1 (the client's Sec-WebSocket-Protocol lists values in order
of preference; a header may appear on several lines, RFC 7230 3.2.2), 4.2.2
(the server answers with a single value, and it MUST be one of the offered
ones, or none) and ASGI www 2.5 "WebSocket Connection Scope" (``subprotocols``
lists the offers in order; empty when there are none) and "Accept - send
event" (``subprotocol`` is what the server sends). An app that selects a
value the client never offered is an app error the server should report;
putting it on the wire makes a conforming client fail the connection.
"""

from __future__ import annotations

from typing import Any

from channels_harness.experiments.conformance import featuretable
from channels_harness.experiments.conformance.cases import case
from channels_harness.experiments.conformance.live import client, record
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.protocol import probe
from channels_harness.servers.process import ServerProcess

PROTOCOL_HEADER = "Sec-WebSocket-Protocol"


def handshake(
    server: ServerProcess, actions: list[dict[str, Any]], **options: Any
) -> tuple[int | None, list[str], dict[str, Any]]:
    """Status (None: no HTTP answer), the Sec-WebSocket-Protocol values of the
    response and the probe record of one handshake whose connect handler runs
    ``actions``."""
    probe_id = probe.new_id()
    with client(
        server, probe.probe_path("async", probe_id, {"connect": actions}), **options
    ) as conn:
        try:
            response = conn.connect()
        except (ConnectionError, TimeoutError):
            return None, [], record(server, probe_id, wait_exit=False)
        if response.status == 101:
            conn.send_close(1000)
            conn.wait_closing(1.0)
    return (
        response.status,
        response.header_values("sec-websocket-protocol"),
        record(server, probe_id, wait_exit=False),
    )


def offered_in_scope(server: ServerProcess, **options: Any) -> list[str] | None:
    """``scope["subprotocols"]`` for one connection (None when the key is absent)."""
    probe_id = probe.new_id()
    with client(server, probe.probe_path("async", probe_id), **options) as conn:
        conn.connect()
        conn.send_close(1000)
        conn.wait_closing(1.0)
    scope = record(server, probe_id, wait_exit=False)["scope"]
    value = scope.get("subprotocols")
    return None if value is None else list(value)


def accept(subprotocol: str) -> dict[str, Any]:
    return {"send": {"type": "websocket.accept", "subprotocol": subprotocol}}


@case("RFC 6455 4.1; RFC 7230 3.2.2; ASGI 2.5 websocket scope subprotocols")
def test_offers_on_several_header_lines_are_all_listed(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Offers split over two Sec-WebSocket-Protocol lines all reach the scope, in order."""
    headers = ((PROTOCOL_HEADER, "first"), (PROTOCOL_HEADER, "second, third"))
    offered = offered_in_scope(server, headers=headers)
    listed = "all listed" if offered == ["first", "second", "third"] else f"listed as {offered}"
    verdict.observe("subprotocols", repr(offered))
    verdict.feature(featuretable.SUBPROTOCOLS, f"offers on two header lines: {listed}")
    verdict.must(
        offered == ["first", "second", "third"],
        expected="subprotocols ['first', 'second', 'third']",
        observed=f"subprotocols {offered!r}",
    )


@case("RFC 6455 4.1; ASGI 2.5 websocket scope subprotocols")
def test_offers_are_trimmed_and_kept_in_order(server: ServerProcess, verdict: Verdict) -> None:
    """Offers with odd spacing ('chat ,  superchat,v1.json') reach the scope trimmed, in order."""
    offered = offered_in_scope(server, headers=((PROTOCOL_HEADER, "chat ,  superchat,v1.json"),))
    verdict.must(
        offered == ["chat", "superchat", "v1.json"],
        expected="subprotocols ['chat', 'superchat', 'v1.json']",
        observed=f"subprotocols {offered!r}",
    )


@case("ASGI 2.5 websocket scope subprotocols")
def test_scope_subprotocols_is_empty_without_an_offer(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Without an offer, subprotocols is an empty list (or absent, which means the same)."""
    offered = offered_in_scope(server)
    verdict.must(
        offered in (None, []),
        expected="subprotocols [] or absent",
        observed=f"subprotocols {offered!r}",
    )


@case("RFC 6455 4.2.2; ASGI 2.5 websocket.accept subprotocol")
def test_selected_offer_from_a_later_header_line_is_answered_alone(
    server: ServerProcess, verdict: Verdict
) -> None:
    """The app picks an offer from the second header line: the 101 names exactly that one."""
    headers = ((PROTOCOL_HEADER, "first"), (PROTOCOL_HEADER, "second, third"))
    status, chosen, _ = handshake(server, [accept("third")], headers=headers)
    verdict.must(status == 101, expected="status 101", observed=f"status {status}")
    verdict.must(
        chosen == ["third"],
        expected="one Sec-WebSocket-Protocol: third",
        observed=f"Sec-WebSocket-Protocol {chosen}",
    )


@case("RFC 6455 4.2.2; ASGI 2.5 websocket.accept subprotocol")
def test_selecting_the_first_of_several_offers_answers_one_value(
    server: ServerProcess, verdict: Verdict
) -> None:
    """Three offers, the app picks the first: the 101 carries that single value."""
    status, chosen, _ = handshake(
        server, [accept("chat")], subprotocols=("chat", "superchat", "v1.json")
    )
    verdict.must(status == 101, expected="status 101", observed=f"status {status}")
    verdict.must(
        chosen == ["chat"],
        expected="one Sec-WebSocket-Protocol: chat (a single value, no list)",
        observed=f"Sec-WebSocket-Protocol {chosen}",
    )


def unoffered_selection(server: ServerProcess, verdict: Verdict, offers: tuple[str, ...]) -> str:
    """Grade an accept naming 'nope', which the client did not offer, after which the
    app closes (before an accept that worked, a close means HTTP 403).

    Returns what happened, in a few words, for the feature table.
    """
    actions = [accept("nope"), {"send": {"type": "websocket.close"}}]
    status, chosen, probe_record = handshake(server, actions, subprotocols=offers, timeout=1.0)
    errors = {
        e["event"]["type"]: f"{e['error'].rsplit('.', 1)[-1]}: {e['message']}"
        for e in probe_record["send_errors"]
    }
    verdict.observe("status", "no answer" if status is None else status)
    verdict.observe("sec_websocket_protocol", ", ".join(chosen) or None)
    for event in ("websocket.accept", "websocket.close"):
        raised = errors.get(event)
        verdict.observe(f"{event.split('.')[1]}_raised", raised.split(":")[0] if raised else None)
    seen = (
        f"{'no HTTP answer' if status is None else f'status {status}'}, "
        f"Sec-WebSocket-Protocol {chosen}, send raised {errors or 'nothing'}"
    )
    sent = "nope" in ",".join(chosen)
    verdict.must(
        not sent, expected="no Sec-WebSocket-Protocol the client did not offer", observed=seen
    )
    if sent:
        return "sent to the client anyway"
    raised = errors.get("websocket.accept")
    verdict.should(raised is not None, expected="the app is told: accept raises", observed=seen)
    verdict.should(
        status is not None and status >= 400,
        expected="the client gets an HTTP error (the app then closed)",
        observed=seen,
    )
    answer = "no HTTP answer" if status is None else f"HTTP {status}"
    if raised is not None:
        return f"refused (accept raises {raised.split(':')[0]}), then {answer}"
    return f"dropped without an error for the app, then {answer}"


@case("RFC 6455 4.2.2; ASGI 2.5 websocket.accept subprotocol")
def test_selecting_an_unoffered_subprotocol_never_reaches_the_wire(
    server: ServerProcess, verdict: Verdict
) -> None:
    """The app accepts with a subprotocol the client did not offer: it is not in the 101."""
    what = unoffered_selection(server, verdict, ("chat",))
    verdict.feature(featuretable.SUBPROTOCOLS, f"app picks a value not offered: {what}")


@case("RFC 6455 4.2.2; ASGI 2.5 websocket.accept subprotocol")
def test_selecting_a_subprotocol_without_any_offer_never_reaches_the_wire(
    server: ServerProcess, verdict: Verdict
) -> None:
    """The app accepts with a subprotocol when none was offered: none is in the 101."""
    unoffered_selection(server, verdict, ())
