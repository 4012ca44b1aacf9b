"""One connection driven through a warm-up and measured phases, for the meter.

The connection runs a :class:`~channels_harness.protocol.conversation.Conversation`
(the reference echo as a one-step scenario, ``--message`` as one step per
message, or a scenario file), one step after the other, each ended by its
reply, with no think time: a phase holds nothing but messages and their
replies, no sleeps during which the server's timers would run. The steps'
timeouts are stretched by :data:`SLOWDOWN`, since a server under callgrind runs
about that many times slower.
"""

from __future__ import annotations

import dataclasses
import time
from types import TracebackType
from typing import TYPE_CHECKING

from channels_harness.errors import CostError
from channels_harness.experiments.first_contact import await_step, open_connection
from channels_harness.protocol.conversation import Conversation
from channels_harness.protocol.scenario import Scenario, Step, parse
from channels_harness.protocol.traffic import Traffic

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

# How many times slower a server runs under callgrind (about), for step timeouts.
SLOWDOWN = 50.0
# What the reference echo sends: the bench headline's 32-byte text message.
ECHO_PAYLOAD = "x" * 32


def echo_scenario() -> Scenario:
    """The reference echo as a scenario: one step, 32 bytes of text, any reply."""
    return parse({"name": "echo", "step": [{"name": "echo", "send": ECHO_PAYLOAD}]}, "echo")


def slowed(scenario: Scenario, factor: float = SLOWDOWN) -> Scenario:
    """``scenario`` with every step's timeout ``factor`` times longer."""

    def stretch(steps: tuple[Step, ...]) -> tuple[Step, ...]:
        return tuple(dataclasses.replace(step, timeout_s=step.timeout_s * factor) for step in steps)

    return dataclasses.replace(
        scenario, steps=stretch(scenario.steps), connect=stretch(scenario.connect)
    )


class Connection:
    """One connection to ``url`` (with ``traffic``'s handshake) running ``talk``'s
    steps on demand; its connect steps run when it opens."""

    def __init__(self, url: str, traffic: Traffic, talk: Conversation) -> None:
        self.url = url
        self.traffic = traffic
        self.talk = talk
        self.where = f"scenario {talk.scenario.name!r} on {url}"
        self._ws: ClientConnection | None = None

    def __enter__(self) -> Connection:
        self._ws = open_connection(self.url, self.traffic)
        try:
            self.run(len(self.talk.scenario.connect))
        except BaseException:
            self._ws.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ws is not None:
            self._ws.close()

    def run(self, steps: int) -> None:
        """Run the next ``steps`` step instances, each to its end; CostError when one
        fails (a wrong reply, a timeout, the connection closed)."""
        assert self._ws is not None
        for _ in range(steps):
            step, n = self.talk.next_step()
            pending = self.talk.begin(step, n, time.monotonic())
            if pending.text is not None:
                self._ws.send(pending.text.encode() if step.binary else pending.text)
            failed = await_step(self._ws, self.talk, pending, self.where)
            if failed is not None:
                raise CostError(f"{self.where}: {failed.reason}")
