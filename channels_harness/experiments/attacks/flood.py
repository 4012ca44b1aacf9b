"""A flood of WebSocket connections, all opened at once and held together.

The harness raises its own open-file limit first (servers it starts after
that inherit it). Every connection does a real upgrade to an echo endpoint;
they are held while the app's live-consumer count is read, then all aborted
with resets. Bounded by count and by ``flood_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections import Counter

from channels_harness.experiments.attacks.base import Outcome, Settings, status_of
from channels_harness.experiments.attacks.base import upgrade_request as request
from channels_harness.experiments.attacks.victim import Victim
from channels_harness.runtime.timeouts import scaled


def raise_open_files() -> int:
    """Raise the soft RLIMIT_NOFILE of this process to its hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _open(
    server: Victim, index: int, gate: asyncio.Semaphore, wait: float
) -> tuple[str, asyncio.StreamWriter | None]:
    """One upgrade; ``("101", writer)`` or why not and None."""
    async with gate:
        writer: asyncio.StreamWriter | None = None
        try:
            reader, opened = await asyncio.wait_for(
                asyncio.open_connection(server.host, server.port), wait
            )
            writer = opened
            opened.write(request(server, server.path(index)))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), wait)
        except TimeoutError:
            why = "timeout"
        except asyncio.IncompleteReadError:
            why = "closed"
        except OSError as exc:
            why = type(exc).__name__
        else:
            status = status_of(head)
            if status == 101:
                return "101", writer
            why = str(status)
        if writer is not None:
            writer.transport.abort()
        return why, None


async def _flood(server: Victim, settings: Settings) -> Outcome:
    count = settings.flood_connections
    gate = asyncio.Semaphore(settings.flood_concurrency)
    started = time.monotonic()
    tasks = [
        asyncio.ensure_future(_open(server, i, gate, scaled(settings.answer_wait_s)))
        for i in range(count)
    ]
    done, pending = await asyncio.wait(tasks, timeout=scaled(settings.flood_timeout_s))
    for task in pending:
        task.cancel()
    results = [task.result() for task in done if not task.cancelled()]
    took = time.monotonic() - started
    writers = [writer for _, writer in results if writer is not None]
    try:
        try:
            held = await asyncio.to_thread(server.live_consumers, 5.0)
            live = "not measured" if held is None else str(held)
        except (OSError, ValueError, KeyError) as exc:
            live = f"unknown ({type(exc).__name__})"
    finally:
        for writer in writers:
            writer.transport.abort()
        await asyncio.sleep(0)
    refused = Counter(why for why, writer in results if writer is None)
    if pending:
        refused["unfinished at the time bound"] += len(pending)
    outcome = f"{len(writers)}/{count} accepted in {took:.1f} s"
    if refused:
        outcome += ", " + ", ".join(f"{n} {why}" for why, n in refused.most_common())
    return Outcome(
        outcome,
        f"{count} upgrades, up to {settings.flood_concurrency} in flight; "
        f"consumers live while held: {live}; all then reset",
    )


def flood(server: Victim, settings: Settings) -> Outcome:
    """Open ``settings.flood_connections`` WebSocket connections and hold them."""
    raise_open_files()
    return asyncio.run(_flood(server, settings))
