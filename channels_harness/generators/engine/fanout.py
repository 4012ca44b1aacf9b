"""Fan-out through a channel-layer group, measured from one generator process.

``group_size`` members join one room (``ws/room/<room>/<flavour>/``); member 0
also sends ``messages`` broadcasts, each carrying its sequence number and its
send time (``perf_counter_ns`` of this process, so send and receipt share one
clock). Every member times each delivery from that stamp. At most ``window``
broadcasts are in flight (sent and not yet delivered to every member), which
keeps each member's channel-layer queue far below its capacity (100 by
default) so the figure is the layer's speed, not its overflow. Deliveries
still missing once none has come for ``drain_s`` (or past the run's bound)
are counted as lost.

Run as ``python -m channels_harness.generators.engine.fanout '<FanoutConfig json>'``: it
prints one ``RESULT <json>`` line (a :class:`FanoutOutcome`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from time import perf_counter, perf_counter_ns

import picows
import uvloop

from channels_harness.generators.engine.client import MAX_FRAME_SIZE, ErrorLog
from channels_harness.generators.engine.idle import raise_nofile_limit
from channels_harness.generators.engine.meter import WindowMeter
from channels_harness.runtime import stats
from channels_harness.runtime.records import Record

RESULT = "RESULT "


@dataclass(frozen=True)
class FanoutConfig(Record):
    """One fan-out measurement: ``group_size`` members, ``messages`` broadcasts."""

    url: str
    group_size: int
    messages: int
    window: int = 4
    connect_timeout_s: float = 10.0
    duration_s: float = 30.0
    drain_s: float = 5.0
    # Handshakes at once while joining: each runs a group_add, and redis-py 8's
    # asyncio pool (100 connections) turns a burst of ~100 into HTTP 500s.
    parallel: int = 20


@dataclass
class FanoutOutcome(Record, ErrorLog):
    """What the generator measured: deliveries, their latency and its own CPU."""

    group_size: int
    messages: int
    connected: int = 0
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    wall_s: float = 0.0
    cpu: float = 0.0
    cpu_wait: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    histogram: str = ""

    @property
    def deliveries_per_s(self) -> float:
        return self.delivered / self.wall_s if self.wall_s > 0 else 0.0


class Room:
    """Per-broadcast delivery counts shared by every member of one room."""

    def __init__(self, members: int, messages: int) -> None:
        self.members = members
        self.remaining = [members] * messages
        self.complete = 0  # broadcasts 0 .. complete-1 reached every member
        self.delivered = 0
        self.last_delivery = 0.0
        self.histogram = stats.new_histogram()
        self.progress = asyncio.Event()

    def deliver(self, seq: int, sent_ns: int, now_ns: int) -> None:
        if not 0 <= seq < len(self.remaining) or self.remaining[seq] <= 0:
            return
        self.remaining[seq] -= 1
        self.delivered += 1
        self.last_delivery = perf_counter()
        stats.record_us(self.histogram, (now_ns - sent_ns) / 1000)
        while self.complete < len(self.remaining) and self.remaining[self.complete] == 0:
            self.complete += 1
        self.progress.set()


class Member(picows.WSListener):
    """One room member: parses ``"<seq> <sent_ns>"`` broadcasts and reports them."""

    def __init__(self, room: Room, outcome: FanoutOutcome) -> None:
        self.room = room
        self.outcome = outcome
        self.transport: picows.WSTransport | None = None
        self.closing = False

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.CLOSE:
            if not self.closing:
                self.outcome.error(f"server closed a member (code {frame.get_close_code()})")
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type not in (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY):
            return
        now_ns = perf_counter_ns()
        try:
            seq_text, sent_text = frame.get_payload_as_ascii_text().split(" ", 1)
            seq, sent_ns = int(seq_text), int(sent_text)
        except ValueError:
            self.outcome.error("a delivery that is not '<seq> <sent_ns>'")
            return
        self.room.deliver(seq, sent_ns, now_ns)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if not self.closing:
            self.outcome.error("member connection lost")


async def join(config: FanoutConfig, room: Room, outcome: FanoutOutcome) -> list[Member]:
    """Connect ``config.group_size`` members to the room (failures counted in ``outcome``)."""
    gate = asyncio.Semaphore(config.parallel)

    async def one() -> Member | None:
        async with gate:
            try:
                _transport, listener = await asyncio.wait_for(
                    picows.ws_connect(
                        lambda: Member(room, outcome),
                        config.url,
                        websocket_handshake_timeout=config.connect_timeout_s,
                        max_frame_size=MAX_FRAME_SIZE,
                    ),
                    config.connect_timeout_s,
                )
            except (OSError, picows.WSError, TimeoutError) as exc:
                outcome.error(f"member could not join: {type(exc).__name__}: {exc}")
                return None
            assert isinstance(listener, Member)
            return listener

    joined = await asyncio.gather(*(one() for _ in range(config.group_size)))
    return [member for member in joined if member is not None]


async def _broadcast(config: FanoutConfig, sender: Member, room: Room, deadline: float) -> int:
    """Send the broadcasts, at most ``window`` in flight; return how many went out."""
    assert sender.transport is not None
    sent = 0
    for seq in range(config.messages):
        while seq - room.complete >= config.window:
            room.progress.clear()
            left = deadline - perf_counter()
            if left <= 0:
                return sent
            try:
                await asyncio.wait_for(room.progress.wait(), min(left, config.drain_s))
            except TimeoutError:
                # A delivery is late or lost: move on rather than stall the run.
                room.complete = max(room.complete, seq - config.window + 1)
        sender.transport.send(picows.WSMsgType.TEXT, f"{seq} {perf_counter_ns()}".encode())
        sent += 1
    return sent


async def run_fanout(config: FanoutConfig) -> FanoutOutcome:
    """Join the room, broadcast, wait for the deliveries (bounded), leave."""
    raise_nofile_limit(config.group_size + 256)
    outcome = FanoutOutcome(group_size=config.group_size, messages=config.messages)
    room = Room(config.group_size, config.messages)
    members = await join(config, room, outcome)
    outcome.connected = len(members)
    try:
        if len(members) == config.group_size:
            meter = WindowMeter()
            started = perf_counter()
            deadline = started + config.duration_s
            outcome.sent = await _broadcast(config, members[0], room, deadline)
            expected = outcome.sent * config.group_size
            # Late is not lost: wait while deliveries keep coming (each gap at most
            # drain_s), within the run's bound.
            hard_end = deadline + config.drain_s
            while room.delivered < expected and perf_counter() < hard_end:
                room.progress.clear()
                wait = min(config.drain_s, hard_end - perf_counter())
                try:
                    await asyncio.wait_for(room.progress.wait(), max(wait, 0.0))
                except TimeoutError:
                    break
            outcome.wall_s = max(room.last_delivery, started) - started
            outcome.cpu, outcome.cpu_wait = meter.stop()
            outcome.delivered = room.delivered
            outcome.lost = expected - room.delivered
    finally:
        await leave(members, config.connect_timeout_s)
    outcome.histogram = stats.encode(room.histogram)
    return outcome


async def leave(members: list[Member], timeout: float) -> None:
    """Close every member politely, waiting at most ``timeout`` s for each."""
    for member in members:
        member.closing = True
        if member.transport is not None:
            member.transport.send_close(picows.WSCloseCode.OK)

    async def closed(member: Member) -> None:
        if member.transport is None:
            return
        try:
            await asyncio.wait_for(member.transport.wait_disconnected(), timeout)
        except TimeoutError:
            member.transport.disconnect()

    await asyncio.gather(*(closed(member) for member in members))


def main() -> None:
    config = FanoutConfig.from_json(json.loads(sys.argv[1]))
    outcome = uvloop.run(run_fanout(config))
    print(RESULT + json.dumps(outcome.to_json()), flush=True)


if __name__ == "__main__":
    main()
