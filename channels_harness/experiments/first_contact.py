"""The first contact with a target, before anything is measured.

:func:`open_connection` opens one WebSocket connection with a traffic's
handshake (headers, every offered subprotocol, TLS checking), turning a
refusal or an unreachable server into one clear error. :func:`first_conversation`
then runs a scenario once on it, as a check: the connect steps and one round
of the measured steps (think times left out), each judged by the same
:class:`~channels_harness.protocol.conversation.Conversation` the engines
drive, so a wrong reply, a step that times out or a server that closes is one
:class:`~channels_harness.errors.ReplyError` naming the step and the frame.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from channels_harness.errors import HandshakeRefusedError, ReplyError, TargetUnreachableError
from channels_harness.protocol.conversation import Conversation, Failed, Frame, Pending
from channels_harness.protocol.scenario import Scenario
from channels_harness.protocol.traffic import Traffic
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.userapp import refusal

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection


def open_connection(url: str, traffic: Traffic) -> ClientConnection:
    """A websockets client connection to ``url`` with ``traffic``'s handshake (its
    subprotocols offered). Raises TargetUnreachableError or HandshakeRefusedError."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect

    offered = [p.strip() for p in (traffic.subprotocol or "").split(",") if p.strip()]
    try:
        return connect(
            url,
            additional_headers=traffic.headers,
            subprotocols=offered or None,  # type: ignore[arg-type]
            ssl=traffic.ssl_context(),
            compression=None,
            proxy=None,
            open_timeout=scaled(10.0),
            max_size=None,
        )
    except InvalidStatus as exc:
        raise HandshakeRefusedError(refusal(url, exc.response.status_code, traffic)) from None
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise TargetUnreachableError(
            f"no WebSocket connection to {url}: {type(exc).__name__}: {exc}"
        ) from None


def first_conversation(url: str, scenario: Scenario, traffic: Traffic) -> None:
    """Run ``scenario``'s connect steps and one round of its steps on one connection
    to ``url`` (as connection 0). Raises TargetUnreachableError,
    HandshakeRefusedError, or ReplyError with the failed step's reason."""
    talk = Conversation(scenario, conn=0)
    where = f"scenario {scenario.name!r} on {url}"
    with open_connection(url, traffic) as ws:
        for _ in range(len(scenario.connect) + len(scenario.steps)):
            step, n = talk.next_step()
            pending = talk.begin(step, n, time.monotonic())
            if pending.text is not None:
                ws.send(pending.text.encode() if step.binary else pending.text)
            failed = await_step(ws, talk, pending, where)
            if failed is not None:
                raise ReplyError(
                    f"{where}: {failed.reason}; fix the scenario file's step or what the app "
                    "sends (the first round is a check, before anything is measured)"
                )


def await_step(
    ws: ClientConnection, talk: Conversation, pending: Pending, where: str
) -> Failed | None:
    """Receive frames until ``pending`` ends; the Failed event if it ended badly
    (ReplyError naming ``where`` if the server closes the connection)."""
    while pending in talk.pending:
        try:
            message = ws.recv(timeout=max(pending.deadline - time.monotonic(), 0.0))
        except TimeoutError:
            failed = talk.expire(pending.deadline)
            return failed[0] if failed else None
        except Exception as exc:  # the server closed the connection
            raise ReplyError(
                f"{where}: the server closed the connection during step "
                f"{pending.step.name!r} ({exc})"
            ) from None
        frame = Frame(message.encode()) if isinstance(message, str) else Frame(message, binary=True)
        for event in talk.receive(frame, time.monotonic(), time.time()):
            if isinstance(event, Failed):
                return event
    return None
