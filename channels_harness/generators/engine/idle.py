"""Idle connections: open many, hold them while something is measured, close.

Used for the server's memory per connection: the caller samples the server's
RSS while :func:`hold_idle` keeps ``count`` accepted connections open.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from dataclasses import dataclass, field

import picows


def raise_nofile_limit(wanted: int) -> int:
    """Raise this process's open-file soft limit towards ``wanted`` (up to the
    hard limit); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


@dataclass
class IdleOutcome:
    """How many connections were open when ``sample`` ran, and what it returned."""

    opened: int
    errors: int
    value: int = 0
    error_samples: list[str] = field(default_factory=list)


async def hold_idle(
    url: str,
    count: int,
    sample: Callable[[], int],
    *,
    settle_s: float = 1.0,
    timeout: float = 10.0,
    parallel: int = 50,
) -> IdleOutcome:
    """Open ``count`` connections, wait ``settle_s``, call ``sample()``, close them all."""
    raise_nofile_limit(count + 256)
    gate = asyncio.Semaphore(parallel)
    outcome = IdleOutcome(opened=0, errors=0)

    async def one() -> picows.WSTransport | None:
        async with gate:
            try:
                transport, _ = await asyncio.wait_for(
                    picows.ws_connect(picows.WSListener, url, websocket_handshake_timeout=timeout),
                    timeout,
                )
            except (OSError, picows.WSError, TimeoutError) as exc:
                outcome.errors += 1
                if len(outcome.error_samples) < 5:
                    outcome.error_samples.append(f"{type(exc).__name__}: {exc}")
                return None
            return transport

    transports = [t for t in await asyncio.gather(*(one() for _ in range(count))) if t]
    outcome.opened = len(transports)
    try:
        await asyncio.sleep(settle_s)
        outcome.value = sample()
    finally:
        for transport in transports:
            transport.send_close(picows.WSCloseCode.OK)
        await asyncio.gather(
            *(asyncio.wait_for(t.wait_disconnected(), timeout) for t in transports),
            return_exceptions=True,
        )
        for transport in transports:
            transport.disconnect()
    return outcome
