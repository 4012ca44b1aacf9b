"""Handshake rate: connect, get accepted, close, over and over.

``connections`` clients each run the cycle back to back for ``duration_s``
(or ``messages`` cycles each). The histogram holds the opening handshake's
time (TCP connect to the 101 response); the rate counts whole cycles,
closing handshake included, completed per second. With a scenario that has
connect steps, a cycle is connect, the connect steps, close: the histogram
then holds the time from the TCP connect to the last connect step's end, and
a failed connect step fails the cycle.
"""

from __future__ import annotations

import asyncio
import ssl
from time import perf_counter

import picows

from channels_harness.generators.engine.client import (
    MAX_FRAME_SIZE,
    Counters,
    client_ssl_context,
    connection_url,
)
from channels_harness.generators.engine.conversing import (
    ConnectStepFailed,
    ConversationConnection,
)
from channels_harness.generators.engine.meter import WindowMeter
from channels_harness.generators.engine.result import (
    Barrier,
    LoadConfig,
    WorkerResult,
    connect_budget_s,
)
from channels_harness.protocol.conversation import Conversation
from channels_harness.protocol.traffic import Traffic
from channels_harness.runtime import stats


async def handshake_cycle(
    url: str,
    timeout: float,
    traffic: Traffic | None = None,
    ssl_context: ssl.SSLContext | None = None,
    conversation: Conversation | None = None,
) -> float:
    """One connect-accept-close cycle (with ``traffic``'s handshake headers and,
    with ``conversation``, its connect steps before the close); returns the
    seconds to the opening handshake (to the last connect step). Raises
    ConnectStepFailed when a connect step fails."""
    started = perf_counter()
    transport, listener = await asyncio.wait_for(
        picows.ws_connect(
            picows.WSListener
            if conversation is None
            else lambda: ConversationConnection(conversation, Counters(), None),
            url,
            ssl_context=ssl_context,
            extra_headers=traffic.handshake_headers() if traffic is not None else None,
            websocket_handshake_timeout=timeout,
            max_frame_size=MAX_FRAME_SIZE,
        ),
        timeout,
    )
    failure = None
    if isinstance(listener, ConversationConnection):
        failure = await _connect_steps(listener, timeout)
    opened = perf_counter() - started
    transport.send_close(picows.WSCloseCode.OK)
    try:
        await asyncio.wait_for(transport.wait_disconnected(), timeout)
    except TimeoutError:
        transport.disconnect()
        raise
    if failure is not None:
        raise ConnectStepFailed(failure)
    return opened


async def _connect_steps(conn: ConversationConnection, timeout: float) -> str | None:
    """Wait for ``conn``'s connect steps (each on its own timer); why one failed, or None."""
    conn.closing = True  # the cycle closes it: the server's close is no error
    budget = connect_budget_s(conn.conversation.scenario, timeout)
    try:
        return await asyncio.wait_for(asyncio.shield(conn.ready), budget)
    except TimeoutError:
        return f"connect steps not done within {budget:g} s"


async def run_handshakes(config: LoadConfig, ready: Barrier | None = None) -> WorkerResult:
    """Measure connect-accept-close cycles per second in this process."""
    counters = Counters()
    histogram = stats.new_histogram()
    deadline = 0.0
    limit = config.messages
    completed = 0
    traffic = config.traffic
    context = client_ssl_context(config.ca_file)
    if context is None and traffic is not None:
        context = traffic.ssl_context()

    scenario = config.scenario if config.scenario is not None and config.scenario.connect else None

    async def client(number: int) -> None:
        nonlocal completed
        done = 0
        url = connection_url(config.url, number)
        while perf_counter() < deadline and (limit is None or done < limit):
            done += 1
            talk = Conversation(scenario, number) if scenario is not None else None
            try:
                opened = await handshake_cycle(
                    url, config.connect_timeout_s, traffic, context, talk
                )
            except (OSError, picows.WSError, TimeoutError, ConnectStepFailed) as exc:
                counters.error(f"handshake failed: {type(exc).__name__}: {exc}")
                # A refused connection fails at once: do not spin on it.
                await asyncio.sleep(0.01)
                continue
            stats.record_us(histogram, opened * 1e6)
            completed += 1

    if ready is not None:
        await ready()
    deadline = perf_counter() + config.duration_s
    meter = WindowMeter(config.server_pids)
    started = perf_counter()
    first = config.first_conn
    await asyncio.gather(*(client(first + i) for i in range(config.connections)))
    cpu_share, wait_share = meter.stop()
    result = WorkerResult(
        mode="handshake",
        connections=config.connections,
        connected=completed,
        sent=completed + counters.errors,
        received=completed,
        measured=completed,
        window_s=perf_counter() - started,
        errors=counters.errors,
        error_samples=counters.error_samples,
        cpu=cpu_share,
        cpu_wait=wait_share,
        histogram=stats.encode(histogram),
    )
    meter.record_server(result)
    return result
