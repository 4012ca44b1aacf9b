"""The closed and the open loop for conversations (scenario files, the user's messages).

- Closed loop (:class:`ClosedSteps`): each connection runs the measured steps
  in order, round after round: the next step begins when the last one ended
  (after its think time; a step with no ``send`` waits for pushes). A step
  instance's latency runs from its send (or from when it began waiting) to
  the frame that ended it; only instances that ended well inside the
  measurement window count, each in its step name's histogram (push latency
  from ``latency_from`` in a histogram of its own). A failed instance (wrong
  reply, timeout, lost connection) is an error of its step at any time, with
  its reason sampled. Frames no step could use are counted by kind, never
  taken as a reply.
- Open loop (:class:`OpenSteps`): steps are begun on the fixed schedule of
  :func:`~.openloop.schedule` (think times do not apply), each on its
  connection in the scenario's order, several waiting at once; latency runs
  from the intended begin time (no coordinated omission), and an instance that
  times out or is still waiting at the end enters its histogram with the time
  it waited.

Timeouts are checked on a timer (:class:`~.conversing.Sweeper`); every loop
is bounded by the window, the drain and each step's timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter

from channels_harness.generators.engine.client import Counters, close_all
from channels_harness.generators.engine.closed import measure_window
from channels_harness.generators.engine.conversing import (
    Conductor,
    ConversationConnection,
    StepMeters,
    Sweeper,
    conversations,
    give_up,
    open_conversations,
    other_frames,
)
from channels_harness.generators.engine.openloop import Paced, schedule
from channels_harness.generators.engine.result import Barrier, LoadConfig, WorkerResult
from channels_harness.protocol.conversation import Conversation, Done, Failed
from channels_harness.protocol.scenario import Scenario, Step

Measure = Callable[[list[ConversationConnection], Counters], Awaitable[None]]
# A config's scenario and how to make connection n's conversation (conversing.conversations).
Talk = tuple[Scenario, Callable[[int], Conversation]]


class ClosedSteps(Conductor):
    """Every connection runs its steps back to back until told to stop or a
    connection has begun ``limit`` steps."""

    def __init__(self, meters: StepMeters, limit: int | None) -> None:
        self.meters = meters
        self.limit = limit
        self.measuring = False
        self.stopping = False
        self.active = 0
        self.retired: set[int] = set()
        self.idle: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def start(self, conns: Sequence[ConversationConnection]) -> None:
        self.active = len(conns)
        for conn in conns:
            self.advance(conn)

    def advance(self, conn: ConversationConnection) -> None:
        """Begin ``conn``'s next step, after its think time (or retire ``conn``)."""
        if self.stopping or conn.lost or (self.limit is not None and conn.begun >= self.limit):
            self._retire(conn)
            return
        step, n = conn.conversation.next_step()
        think = conn.conversation.think_s(step)
        if think > 0:
            asyncio.get_running_loop().call_later(think, self._begin, conn, step, n)
        else:
            self._begin(conn, step, n)

    def _begin(self, conn: ConversationConnection, step: Step, n: int) -> None:
        if self.stopping or conn.lost:
            self._retire(conn)
            return
        self.meters.begin(step)
        done = conn.begin(step, n, perf_counter())
        if done is not None:
            # Over at once (count = 0): go on from the loop, not from this frame.
            asyncio.get_running_loop().call_soon(self.on_event, conn, done)

    def on_event(self, conn: ConversationConnection, event: Done | Failed) -> None:
        if isinstance(event, Done):
            if self.measuring:
                self.meters.record(event, event.latency_s)
        else:
            self.meters.fail(event)
        self.advance(conn)

    def _retire(self, conn: ConversationConnection) -> None:
        if id(conn) in self.retired:
            return
        self.retired.add(id(conn))
        self.active -= 1
        if self.active <= 0 and not self.idle.done():
            self.idle.set_result(None)


class OpenSteps(Paced, Conductor):
    """Begin the next step of a connection at each scheduled time and time every
    instance from that intended time."""

    def __init__(self, meters: StepMeters) -> None:
        super().__init__()
        self.meters = meters

    def begin(self, conn: ConversationConnection, intended: float) -> None:
        step, n = conn.conversation.next_step()
        self.outstanding += 1
        self.meters.begin(step)
        done = conn.begin(step, n, intended)
        if done is not None:
            self.on_event(conn, done)

    def on_event(self, conn: ConversationConnection, event: Done | Failed) -> None:
        self.outstanding -= 1
        if isinstance(event, Failed):
            self.meters.fail(event)
        elif self.in_window(event.started):
            self.meters.record(event, event.latency_s)
        self.check_idle()

    def on_timeout(self, conn: ConversationConnection, failed: Failed) -> None:
        self.outstanding -= 1
        self.meters.fail(failed, waited=self.in_window(failed.started))
        self.check_idle()

    def give_up(
        self, conns: Sequence[ConversationConnection], counters: Counters, drain_s: float
    ) -> None:
        give_up(conns, f"the {drain_s:g} s drain ended")


async def run_conversations(
    config: LoadConfig,
    talk: Talk,
    conductor: Conductor,
    meters: StepMeters,
    result: WorkerResult,
    measure: Measure,
    ready: Barrier | None = None,
) -> WorkerResult:
    """Open ``config``'s connections holding ``talk``'s conversations (connect
    steps done), wait for ``ready``, await ``measure(conns, counters)`` (skipped
    when none opened), close every connection on every exit path; ``result``
    with the counters, every step's figures and the other frames."""
    scenario, conversation = talk
    counters = Counters()
    sweeper = Sweeper(scenario)

    def make(number: int) -> ConversationConnection:
        conn = ConversationConnection(conversation(number), counters, conductor)
        sweeper.conns.append(conn)
        return conn

    sweeper.start()
    try:
        conns = await open_conversations(config, make, counters)
        result.connected = len(conns)
        try:
            if ready is not None:
                await ready()
            if conns:
                await measure(conns, counters)
        finally:
            await close_all(conns, config.connect_timeout_s)
    finally:
        sweeper.stop()
    return result.take_steps(counters, meters, other_frames(sweeper.conns))


async def run_closed_steps(config: LoadConfig, ready: Barrier | None = None) -> WorkerResult:
    """One closed-loop measurement of ``config``'s conversation in this process."""
    talk = conversations(config)
    meters = StepMeters(talk[0])
    loop = ClosedSteps(meters, config.messages)
    result = WorkerResult(mode="closed", connections=config.connections)

    async def measure(conns: list[ConversationConnection], counters: Counters) -> None:
        def stop() -> None:
            give_up(conns, f"the {config.drain_s:g} s drain ended")

        await measure_window(config, loop, conns, result, stop)

    return await run_conversations(config, talk, loop, meters, result, measure, ready)


async def run_open_steps(config: LoadConfig, ready: Barrier | None = None) -> WorkerResult:
    """One open-loop measurement of ``config``'s conversation at ``config.rate``."""
    assert config.rate is not None
    talk = conversations(config)
    meters = StepMeters(talk[0])
    loop = OpenSteps(meters)
    result = WorkerResult(mode="open", connections=config.connections, target_rate=config.rate)

    async def measure(conns: list[ConversationConnection], counters: Counters) -> None:
        await schedule(config, loop, conns, counters, result)

    return await run_conversations(config, talk, loop, meters, result, measure, ready)
