"""Scenarios and traffic, each built from the other, so there is one app path.

- :func:`handshake_traffic`: the :class:`~channels_harness.protocol.traffic.Traffic`
  a scenario's connections open with (its origin, headers, cookie and
  subprotocols, and those the command line adds), so the handshake and login
  code of :mod:`~channels_harness.protocol.traffic` serve scenario files too.
- :func:`messages_scenario`: the ``--message``/``--expect`` traffic as a
  scenario of one step per message, all named ``message``. A reply is the next
  frame the server sends (no ``--expect``), or, with ``--expect``, the next frame
  that matches it: frames before it (a greeting, other members' messages) are
  counted as other, by kind, never taken as the reply, and a reply that never
  comes is an error at the step's timeout: the scenario files' rule, in the
  engine and in locust's ``AppUser`` alike. :class:`MessageConversation`
  numbers its steps as the options always did: ``{n}`` is the message's number
  on its connection (with several messages, a scenario file's ``{n}`` counts
  rounds instead).
"""

from __future__ import annotations

from typing import Any

from channels_harness.errors import UsageError
from channels_harness.protocol.conversation import Conversation
from channels_harness.protocol.scenario import Scenario, Step, parse
from channels_harness.protocol.traffic import Traffic, cookie_header, parse_header

# The step name of every --message, and the scenario name its rows carry.
MESSAGE_STEP = "message"
MESSAGES_SCENARIO = "app"


def handshake_traffic(scenario: Scenario, given: Traffic | None = None) -> Traffic:
    """The traffic ``scenario``'s connections open with: its headers, origin, cookie
    and subprotocols, under ``given``'s (the command line's): a header ``given``
    names (``--origin``, ``--header``) replaces the file's of that name, cookies
    join, ``--subprotocol`` replaces the file's list. UsageError naming the file
    for a header the client writes itself or a bad cookie."""
    given = given or Traffic()
    where = f"scenario file {scenario.source}"
    mine = [*scenario.headers, *([("Origin", scenario.origin)] if scenario.origin else [])]
    headers: list[tuple[str, str]] = []
    for name, value in mine:
        try:
            headers.append(parse_header(f"{name}: {value}"))
        except UsageError as exc:
            raise UsageError(f"{where}: headers: {exc}") from None
    replaced = {name.lower() for name, _ in given.headers} | {"cookie"}
    headers = [(n, v) for n, v in headers if n.lower() not in replaced]
    headers += [(n, v) for n, v in given.headers if n.lower() != "cookie"]
    cookies = _cookies(scenario.cookie, where) + _cookies(given.header("Cookie"), "--cookie")
    cookie = cookie_header(cookies)
    if cookie:
        headers.append(("Cookie", cookie))
    return Traffic(
        headers=tuple(headers),
        subprotocol=given.subprotocol or ", ".join(scenario.subprotocols) or None,
        insecure=given.insecure,
    )


def _cookies(text: str | None, where: str) -> list[str]:
    parts = [part.strip() for part in (text or "").split(";") if part.strip()]
    try:
        cookie_header(parts)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    return parts


def messages_scenario(traffic: Traffic) -> Scenario:
    """``traffic``'s messages as a scenario (see the module doc); ValueError without any."""
    if traffic.echo:
        raise ValueError("echo traffic has no messages to make a scenario of")
    steps: list[dict[str, Any]] = []
    for text in traffic.messages:
        step: dict[str, Any] = {"name": MESSAGE_STEP, "send": text}
        if traffic.expect is not None:
            step["regex"] = traffic.expect
        steps.append(step)
    return parse({"name": MESSAGES_SCENARIO, "step": steps}, "--message")


class MessageConversation(Conversation):
    """The conversation of :func:`messages_scenario`: ``{n}`` is the message's number
    on its connection (from 0), not the round's."""

    def __init__(self, scenario: Scenario, conn: int, seed: int | None = None) -> None:
        super().__init__(scenario, conn, seed)
        self.numbered = 0

    def next_step(self) -> tuple[Step, int]:
        step, _round = super().next_step()
        self.numbered += 1
        return step, self.numbered - 1
