"""Connections that hold a conversation: scenario files and the user's messages.

A :class:`ConversationConnection` drives a
:class:`~channels_harness.protocol.conversation.Conversation` from picows'
frame callbacks: fragments are joined into whole messages, each judged by the
conversation (CLOSE, PING and PONG are handled as on every engine
connection). Right after the handshake it runs the scenario's connect steps,
each timed out on its own timer; :attr:`ConversationConnection.ready` then
holds None, or why a connect step failed. After that a :class:`Conductor`
(the closed or the open loop) begins the measured steps and is told how each
ended; frames no step could use are counted by the conversation, by kind.

:class:`StepMeters` keeps one HdrHistogram per step name (and one for push
latency), the measured count and the errors with samples.
:func:`conversations` says which conversation a config's connections hold:
its scenario file's, or its ``--message`` traffic's.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING

import picows

from channels_harness.generators.engine.client import (
    CONTROL,
    Connection,
    Counters,
    ErrorLog,
    client_ssl_context,
    close_all,
    connect_many,
)
from channels_harness.generators.engine.result import StepResult
from channels_harness.protocol.conversation import Conversation, Done, Failed, Frame
from channels_harness.protocol.scenario import Scenario, Step
from channels_harness.protocol.scenario_traffic import MessageConversation, messages_scenario
from channels_harness.runtime import stats

if TYPE_CHECKING:
    from hdrh.histogram import HdrHistogram

    from channels_harness.generators.engine.result import LoadConfig

# The shortest and longest pause between two sweeps for timed-out steps.
SWEEP_MIN_S = 0.005
SWEEP_MAX_S = 0.1


def conversations(config: LoadConfig) -> tuple[Scenario, Callable[[int], Conversation]]:
    """The scenario ``config``'s connections run and how to make connection
    ``number``'s conversation: the scenario file's, else the ``--message``
    traffic's (ValueError for echo traffic)."""
    if config.scenario is not None:
        scenario = config.scenario
        return scenario, lambda number: Conversation(scenario, number)
    if config.traffic is None:
        raise ValueError("a conversation needs a scenario or messages")
    messages = messages_scenario(config.traffic)
    return messages, lambda number: MessageConversation(messages, number)


class Conductor:
    """What a :class:`ConversationConnection` reports to once connected: the end
    of each measured step instance, by a frame (:meth:`on_event`) or by its
    timeout or loss (:meth:`on_timeout`)."""

    def on_event(self, conn: ConversationConnection, event: Done | Failed) -> None:
        raise NotImplementedError

    def on_timeout(self, conn: ConversationConnection, failed: Failed) -> None:
        self.on_event(conn, failed)


class ConversationConnection(Connection):
    """One connection holding one conversation (see the module doc)."""

    def __init__(
        self, conversation: Conversation, counters: Counters, conductor: Conductor | None
    ) -> None:
        super().__init__(counters)
        self.conversation = conversation
        self.conductor = conductor
        self.ready: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.begun = 0
        self._parts: list[bytes] = []
        self._binary = False
        self._timer: asyncio.TimerHandle | None = None
        scenario = conversation.scenario
        self._wall = any(step.latency_from for step in (*scenario.connect, *scenario.steps))

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        super().on_ws_connected(transport)
        self._next_connect_step()

    def begin(self, step: Step, n: int, now: float) -> Done | None:
        """Begin an instance of ``step`` for round ``n`` at ``now`` (the intended
        time in the open loop) and send its text; a Done when it is over at once
        (``count = 0``: sent, nothing awaited)."""
        self.begun += 1
        pending = self.conversation.begin(step, n, now)
        if pending.text is not None:
            self.send_text(pending.text, step.binary)
        if step.count > 0 or step.until is not None:
            return None  # it waits (Conversation.begin's rule)
        return Done(step, n, now, perf_counter(), 0)

    def send_text(self, text: str, binary: bool = False) -> None:
        assert self.transport is not None
        kind = picows.WSMsgType.BINARY if binary else picows.WSMsgType.TEXT
        self.transport.send(kind, text.encode())
        self.counters.sent += 1

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind in CONTROL:
            self.control(transport, frame)
            return
        if kind != picows.WSMsgType.CONTINUATION:
            self._binary = kind == picows.WSMsgType.BINARY
        if not frame.fin or self._parts:
            self._parts.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return
            data = b"".join(self._parts)
            self._parts.clear()
        else:
            data = frame.get_payload_as_bytes()
        now = perf_counter()
        self.counters.received += 1
        wall = time.time() if self._wall else None
        for event in self.conversation.receive(Frame(data, self._binary), now, wall):
            if isinstance(event, Done | Failed):
                self.ended(event, timed_out=False)

    def expire(self, now: float) -> None:
        """End the instances whose timeout passed by ``now``."""
        for failed in self.conversation.expire(now):
            self.ended(failed, timed_out=True)

    def on_lost(self) -> None:
        for failed in self.conversation.abandon(perf_counter(), "connection lost"):
            self.ended(failed, timed_out=True)
        if not self.ready.done():
            self.ready.set_result("connection lost")

    def ended(self, event: Done | Failed, timed_out: bool) -> None:
        """Route the end of a step instance: to the connect steps while they run,
        then to the conductor (by its timeout or loss when ``timed_out``)."""
        if not self.ready.done():
            self._connect_step_ended(event)
        elif self.conductor is not None:
            if timed_out and isinstance(event, Failed):
                self.conductor.on_timeout(self, event)
            else:
                self.conductor.on_event(self, event)

    # -- the connect steps -----------------------------------------------------------

    def _next_connect_step(self) -> None:
        if not self.conversation.connecting:
            if not self.ready.done():
                self.ready.set_result(None)
            return
        step, n = self.conversation.next_step()
        think = self.conversation.think_s(step)
        if think > 0:
            asyncio.get_running_loop().call_later(think, self._begin_connect_step, step, n)
        else:
            self._begin_connect_step(step, n)

    def _begin_connect_step(self, step: Step, n: int) -> None:
        if self.ready.done() or self.transport is None:
            return
        if self.begin(step, n, perf_counter()) is not None:
            self._next_connect_step()
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(step.timeout_s, lambda: self.expire(perf_counter()))

    def _connect_step_ended(self, event: Done | Failed) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if isinstance(event, Failed):
            self.ready.set_result(event.reason)
        else:
            self._next_connect_step()


class Sweeper:
    """Ends timed-out step instances on every registered connection, every
    :attr:`tick` seconds, until :meth:`stop`."""

    def __init__(self, scenario: Scenario) -> None:
        shortest = min(step.timeout_s for step in scenario.steps)
        self.tick = min(SWEEP_MAX_S, max(SWEEP_MIN_S, shortest / 4))
        self.conns: list[ConversationConnection] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            now = perf_counter()
            for conn in self.conns:
                if conn.conversation.pending:
                    conn.expire(now)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


@dataclass
class StepMeter(ErrorLog):
    """One step name's figures in one generator process."""

    measured: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    histogram: HdrHistogram = field(default_factory=stats.new_histogram)
    push_measured: int = 0
    push: HdrHistogram = field(default_factory=stats.new_histogram)
    begun: int = 0

    def record(self, event: Done, latency_s: float) -> None:
        """Count one measured instance with ``latency_s``, and its push latencies."""
        self.measured += 1
        stats.record_us(self.histogram, latency_s * 1e6)
        for push_s in event.push_latencies_s:
            self.push_measured += 1
            stats.record_us(self.push, push_s * 1e6)

    def waited(self, latency_s: float) -> None:
        """Put an instance that never ended well in the histogram with the time it
        waited (the open loop's rule: a stall never makes the percentiles better)."""
        stats.record_us(self.histogram, latency_s * 1e6)

    def result(self) -> StepResult:
        return StepResult(
            measured=self.measured,
            errors=self.errors,
            error_samples=list(self.error_samples),
            histogram=stats.encode(self.histogram),
            push_measured=self.push_measured,
            push_histogram=stats.encode(self.push) if self.push_measured else "",
            begun=self.begun,
        )


class StepMeters:
    """A :class:`StepMeter` per measured step name."""

    def __init__(self, scenario: Scenario) -> None:
        self.meters = {name: StepMeter() for name in scenario.step_names}

    def record(self, event: Done, latency_s: float) -> None:
        self.meters[event.step.name].record(event, latency_s)

    def begin(self, step: Step) -> None:
        """Count one instance of ``step`` begun."""
        meter = self.meters.get(step.name)
        if meter is not None:
            meter.begun += 1

    def fail(self, event: Failed, waited: bool = False) -> None:
        """Count ``event`` as its step's error; with ``waited``, its wait into the
        step's histogram too."""
        meter = self.meters[event.step.name]
        meter.error(event.reason)
        if waited:
            meter.waited(event.ended - event.started)

    @property
    def measured(self) -> int:
        return sum(meter.measured for meter in self.meters.values())

    @property
    def errors(self) -> int:
        return sum(meter.errors for meter in self.meters.values())

    def histogram(self) -> HdrHistogram:
        """Every step's latencies in one histogram."""
        return stats.combine(meter.histogram for meter in self.meters.values())

    def results(self) -> dict[str, StepResult]:
        return {name: meter.result() for name, meter in self.meters.items()}


def other_frames(conns: Iterable[ConversationConnection]) -> dict[str, int]:
    """The frames no step could use on ``conns``, by kind, most frequent first."""
    total: Counter[str] = Counter()
    for conn in conns:
        total.update(conn.conversation.other)
    return dict(total.most_common())


def give_up(conns: Iterable[ConversationConnection], why: str) -> None:
    """End every instance still waiting on ``conns``, each an error saying it was
    still waiting before ``why`` (told to the connection's conductor)."""
    now = perf_counter()
    for conn in conns:
        for failed in conn.conversation.unfinished(now, why):
            conn.ended(failed, timed_out=True)


class ConnectStepFailed(Exception):
    """A connect step of the scenario failed (the message says which and why)."""


async def open_conversations(
    config: LoadConfig,
    make: Callable[[int], ConversationConnection],
    counters: Counters,
) -> list[ConversationConnection]:
    """Open ``config``'s connections (``make(number)`` builds each) and wait for
    their connect steps; a connection that failed one is closed and counted as
    an error with its reason. The connections ready to measure."""
    opened = await connect_many(
        config.url,
        config.connections,
        make,
        counters,
        config.connect_timeout_s,
        traffic=config.traffic,
        first=config.first_conn,
        ssl_context=client_ssl_context(config.ca_file),
    )
    budget = config.open_budget_s

    async def settle(conn: ConversationConnection) -> str | None:
        try:
            return await asyncio.wait_for(asyncio.shield(conn.ready), budget)
        except TimeoutError:
            return f"connect steps not done within {budget:g} s"

    reasons = await asyncio.gather(*(settle(conn) for conn in opened))
    ready, failed = [], []
    for conn, reason in zip(opened, reasons, strict=True):
        if reason is None:
            ready.append(conn)
            continue
        failed.append(conn)
        if not conn.lost:  # a lost connection is counted already
            counters.error(f"connect step failed: {reason}")
    await close_all(failed, config.connect_timeout_s)
    return ready
