"""The capacity generator: one process that holds idle connections and climbs on command.

Run as ``python -m channels_harness.generators.engine.hold '<HoldConfig json>'``
(pinned to the generator core by :class:`~channels_harness.generators.session.GeneratorSession`).
It reads one command per line on stdin and answers each with one JSON line on
stdout; ``{"progress": ...}`` lines may come before the answer to a long one:

- ``{"op": "open", "target": N, "deadline_s": S}``: open connections at a
  paced rate (:class:`~.pacer.Pacer`) until N are held, S seconds pass,
  the server keeps failing handshakes (``fail_limit`` in a row, or
  ``fail_limit`` making :data:`FAIL_SHARE` of the attempts), or the client
  itself runs out of ports or descriptors. Answer: :class:`OpenReport`.
- ``{"op": "sweep", "timeout_s": T}``: ping every held connection. :class:`SweepReport`.
- ``{"op": "canary", "messages": M, "timeout_s": T}``: echo M messages, one
  after the other, on each canary connection (opened on first use, from
  127.0.0.1, apart from the held ones). :class:`CanaryReport`.
- ``{"op": "burst", "count": N, "timeout_s": T}``: open N connections at
  once, then close them. :class:`BurstReport`.
- ``{"op": "close", "timeout_s": T}``: close every held connection. :class:`CloseReport`.
- ``{"op": "exit"}`` or the end of stdin: close everything and exit.

Held connections take their source address in turn from ``sources``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import picows
import psutil
import uvloop

from channels_harness.generators.engine.idle import (
    CLIENT_SIDE_FAILURES,
    IdleConnection,
    close_idle,
    failure_kind,
    open_idle,
    raise_nofile_limit,
)
from channels_harness.generators.engine.meter import WindowMeter
from channels_harness.generators.engine.pacer import Pacer
from channels_harness.runtime import stats
from channels_harness.runtime.records import Record

MODULE = "channels_harness.generators.engine.hold"
# Seconds between two adjustments of the pace.
CONTROL_S = 0.5
CANARY_TEXT = "canary"
# The number ``{conn}`` becomes in a canary connection's URL (plus its index).
CANARY_CONN = 1_000_000
# Failed handshakes stop an ``open`` once they are this share of its attempts
# (and at least ``fail_limit``): sporadic failures of an overloaded moment are
# counted and reported, persistent ones are the server's limit.
FAIL_SHARE = 0.1
_ERRORS = (OSError, picows.WSError, TimeoutError)


@dataclass(kw_only=True)
class HoldConfig(Record):
    """Where to connect and how to pace (sent to the process as JSON)."""

    url: str
    canary_url: str
    # Extra handshake headers (the user's Origin, cookies, subprotocol...) and the
    # canary's message (any data frame back answers it). ``{conn}`` in a URL
    # becomes the connection's number (the canaries count from CANARY_CONN).
    headers: list[list[str]] = field(default_factory=list)
    message: str = CANARY_TEXT
    sources: list[str] = field(default_factory=list)
    canaries: int = 4
    connect_timeout_s: float = 10.0
    start_rate: float = 100.0
    min_rate: float = 5.0
    max_rate: float = 2000.0
    max_inflight: int = 64
    target_latency_s: float = 0.5
    fail_limit: int = 20
    progress_s: float = 2.0
    nofile: int = 0


@dataclass(kw_only=True)
class OpenReport(Record):
    """One ``open`` command: how the connections came, and why it stopped."""

    target: int
    held: int
    opened: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    failure_samples: list[str] = field(default_factory=list)
    dropped_total: int = 0
    stopped: str = ""
    elapsed_s: float = 0.0
    accept_rate: float = 0.0
    rate_end: float = 0.0
    handshake_p50_ms: float | None = None
    handshake_p99_ms: float | None = None
    handshake_max_ms: float | None = None
    # The handshake latencies (stats.encode), for merging several generators' reports.
    histogram: str = ""
    retransmits: int = 0
    generator_cpu: float | None = None
    generator_wait: float | None = None
    generator_rss_bytes: int | None = None


@dataclass(kw_only=True)
class SweepReport(Record):
    """One ping to every held connection (``dropped_total``: every connection the
    server dropped since the process started, ``lost`` the ones during the sweep)."""

    pinged: int
    answered: int
    unanswered: int
    lost: int
    held: int = 0
    dropped_total: int = 0
    p50_ms: float | None = None
    max_ms: float | None = None
    histogram: str = ""
    elapsed_s: float = 0.0


@dataclass(kw_only=True)
class CanaryReport(Record):
    """Echo round trips on the canary connections."""

    sent: int
    answered: int
    errors: int
    error: str | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None


@dataclass(kw_only=True)
class BurstReport(Record):
    """``count`` connections started at once."""

    count: int
    opened: int
    failed: int
    failures: dict[str, int] = field(default_factory=dict)
    failure_samples: list[str] = field(default_factory=list)
    all_open_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    retransmitted: int = 0
    retransmits: int = 0


@dataclass(kw_only=True)
class CloseReport(Record):
    """Every held connection closed."""

    closed: int
    elapsed_s: float


@dataclass
class Attempts:
    """Connection attempts of one command: counts, failures by kind, latencies."""

    opened: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    histogram: Any = field(default_factory=stats.new_histogram)
    retransmits: int = 0
    retransmitted: int = 0
    in_a_row: int = 0
    window: list[float] = field(default_factory=list)
    window_failures: int = 0
    inflight: dict[asyncio.Future[None], float] = field(default_factory=dict)
    last_open_at: float = 0.0

    def succeeded(self, conn: IdleConnection, seconds: float) -> None:
        self.opened += 1
        self.in_a_row = 0
        self.window.append(seconds)
        stats.record_us(self.histogram, seconds * 1e6)
        self.last_open_at = perf_counter()
        retransmits = conn.retransmits()
        self.retransmits += retransmits
        self.retransmitted += retransmits > 0

    def fail(self, exc: BaseException) -> None:
        kind = failure_kind(exc)
        self.failed += 1
        self.in_a_row += 1
        self.window_failures += 1
        self.failures[kind] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind}: {type(exc).__name__}: {exc}"[:200])

    def persistent(self, limit: int) -> bool:
        """Whether the failures are the server's answer, not an accident (see FAIL_SHARE)."""
        share = self.failed >= FAIL_SHARE * (self.failed + self.opened)
        return self.in_a_row >= limit or (self.failed >= limit and share)

    @property
    def client_failed(self) -> bool:
        return any(kind in CLIENT_SIDE_FAILURES for kind in self.failures)

    def latency(self) -> tuple[float | None, float | None, float | None]:
        """(p50, p99, max) in ms of the successful attempts, or Nones."""
        summary = stats.summarize(self.histogram)
        if not summary.count:
            return None, None, None
        return summary.p50_ms, summary.p99_ms, summary.max_ms


class Holder:
    """The connections this process holds, and the commands it answers."""

    def __init__(self, config: HoldConfig) -> None:
        self.config = config
        self.conns: list[IdleConnection] = []
        self.canaries: list[IdleConnection] = []
        self.held = 0
        self.dropped = 0
        self.next_source = 0
        self.numbered = 0
        self.headers = [(name, value) for name, value in config.headers]
        self.pacer = Pacer(
            rate=config.start_rate,
            min_rate=config.min_rate,
            max_rate=config.max_rate,
            target_latency_s=config.target_latency_s,
        )

    def _on_drop(self, conn: IdleConnection) -> None:
        self.held -= 1
        self.dropped += 1

    async def _attempt(
        self,
        attempts: Attempts,
        source: str | None,
        timeout: float,
        on_drop: Callable[[IdleConnection], None] | None = None,
    ) -> IdleConnection | None:
        started = perf_counter()
        try:
            self.numbered += 1
            url = self.config.url.replace("{conn}", str(self.numbered - 1))
            conn = await open_idle(url, timeout, source, on_drop, self.headers)
        except Exception as exc:  # every failed attempt is counted, whatever raised
            attempts.fail(exc)
            return None
        attempts.succeeded(conn, perf_counter() - started)
        return conn

    def _source(self) -> str | None:
        sources = self.config.sources
        if not sources:
            return None
        self.next_source += 1
        return sources[self.next_source % len(sources)]

    async def _hold_one(self, attempts: Attempts) -> None:
        timeout = self.config.connect_timeout_s
        conn = await self._attempt(attempts, self._source(), timeout, self._on_drop)
        if conn is not None:
            self.conns.append(conn)
            self.held += 1

    def _start_one(self, attempts: Attempts) -> None:
        task = asyncio.ensure_future(self._hold_one(attempts))
        attempts.inflight[task] = perf_counter()
        task.add_done_callback(lambda done: attempts.inflight.pop(done, None))

    def _stop_reason(self, attempts: Attempts, target: int, deadline: float) -> str | None:
        if self.held >= target:
            return "target"
        if attempts.client_failed:
            return "client"
        if attempts.persistent(self.config.fail_limit):
            return "failures"
        if perf_counter() >= deadline:
            return "deadline"
        return None

    def _adjust(self, attempts: Attempts, now: float) -> None:
        waiting = now - min(attempts.inflight.values()) if attempts.inflight else 0.0
        self.pacer.adjust(attempts.window, attempts.window_failures, waiting)
        attempts.window, attempts.window_failures = [], 0

    async def open(self, target: int, deadline_s: float) -> OpenReport:
        """Open paced connections until ``target`` are held or a stop reason (see module doc)."""
        meter = WindowMeter()
        attempts = Attempts()
        started = perf_counter()
        deadline = started + deadline_s
        next_at = last_adjust = last_progress = started
        while (stopped := self._stop_reason(attempts, target, deadline)) is None:
            now = perf_counter()
            if now - last_adjust >= CONTROL_S:
                self._adjust(attempts, now)
                last_adjust = now
            if now - last_progress >= self.config.progress_s:
                _say({"progress": {"held": self.held, "rate": round(self.pacer.rate, 1)}})
                last_progress = now
            room = target - self.held - len(attempts.inflight)
            full = len(attempts.inflight) >= self.config.max_inflight
            if room <= 0 or full or now < next_at:
                pause = next_at - now if room > 0 and not full else CONTROL_S
                await _wait(attempts, min(max(pause, 0.0005), CONTROL_S, deadline - now))
                continue
            self._start_one(attempts)
            next_at = max(next_at, now - self.pacer.interval) + self.pacer.interval
        if attempts.inflight:
            await asyncio.wait(list(attempts.inflight), timeout=self.config.connect_timeout_s + 5)
        cpu, wait = meter.stop()
        return self._open_report(target, stopped, attempts, perf_counter() - started, cpu, wait)

    def _open_report(
        self,
        target: int,
        stopped: str,
        attempts: Attempts,
        elapsed: float,
        cpu: float,
        wait: float,
    ) -> OpenReport:
        p50, p99, top = attempts.latency()
        return OpenReport(
            target=target,
            held=self.held,
            opened=attempts.opened,
            failed=attempts.failed,
            failures=dict(attempts.failures),
            failure_samples=attempts.samples,
            dropped_total=self.dropped,
            stopped=stopped,
            elapsed_s=round(elapsed, 3),
            accept_rate=round(attempts.opened / elapsed, 1) if elapsed > 0 else 0.0,
            rate_end=round(self.pacer.rate, 1),
            handshake_p50_ms=p50,
            handshake_p99_ms=p99,
            handshake_max_ms=top,
            histogram=stats.encode(attempts.histogram),
            retransmits=attempts.retransmits,
            generator_cpu=round(cpu, 3),
            generator_wait=round(wait, 3),
            generator_rss_bytes=psutil.Process().memory_info().rss,
        )

    async def sweep(self, timeout_s: float) -> SweepReport:
        """Ping every held connection at once; count the pongs within ``timeout_s``."""
        started = perf_counter()
        conns = [conn for conn in self.conns if conn.open]
        results = await asyncio.gather(
            *(conn.ping(timeout_s) for conn in conns), return_exceptions=True
        )
        histogram = stats.new_histogram()
        unanswered = lost = 0
        for result in results:
            if isinstance(result, float):
                stats.record_us(histogram, result * 1e6)
            elif isinstance(result, TimeoutError):
                unanswered += 1
            else:
                lost += 1
        summary = stats.summarize(histogram)
        self.conns = [conn for conn in self.conns if conn.open]
        return SweepReport(
            pinged=len(conns),
            answered=summary.count,
            unanswered=unanswered,
            lost=lost,
            held=self.held,
            dropped_total=self.dropped,
            p50_ms=summary.p50_ms if summary.count else None,
            max_ms=summary.max_ms if summary.count else None,
            histogram=stats.encode(histogram),
            elapsed_s=round(perf_counter() - started, 3),
        )

    async def _canary_connection(self, index: int, errors: list[str]) -> IdleConnection | None:
        while len(self.canaries) <= index:
            self.canaries.append(IdleConnection())
        conn = self.canaries[index]
        if conn.open:
            return conn
        try:
            url = self.config.canary_url.replace("{conn}", str(CANARY_CONN + index))
            conn = await open_idle(url, self.config.connect_timeout_s, headers=self.headers)
        except _ERRORS as exc:
            errors.append(f"canary connect: {failure_kind(exc)}: {exc}"[:200])
            return None
        self.canaries[index] = conn
        return conn

    async def _echoes(
        self, index: int, messages: int, timeout_s: float, errors: list[str]
    ) -> list[float]:
        conn = await self._canary_connection(index, errors)
        if conn is None:
            return []
        seconds = []
        for _ in range(messages):
            try:
                seconds.append(await conn.echo(self.config.message, timeout_s))
            except _ERRORS as exc:
                errors.append(f"canary echo: {failure_kind(exc)}: {exc}"[:200])
                break
        return seconds

    async def canary(self, messages: int, timeout_s: float) -> CanaryReport:
        """Echo ``messages`` messages on each canary connection (all canaries at once)."""
        errors: list[str] = []
        runs = await asyncio.gather(
            *(self._echoes(i, messages, timeout_s, errors) for i in range(self.config.canaries))
        )
        histogram = stats.new_histogram()
        for seconds in runs:
            for value in seconds:
                stats.record_us(histogram, value * 1e6)
        summary = stats.summarize(histogram)
        return CanaryReport(
            sent=messages * self.config.canaries,
            answered=summary.count,
            errors=len(errors),
            error=errors[0] if errors else None,
            p50_ms=summary.p50_ms if summary.count else None,
            p99_ms=summary.p99_ms if summary.count else None,
            max_ms=summary.max_ms if summary.count else None,
        )

    async def burst(self, count: int, timeout_s: float) -> BurstReport:
        """Start ``count`` connections at once (each may take ``timeout_s``), wait for
        them all, report, close them."""
        attempts = Attempts()
        started = perf_counter()
        opened = await asyncio.gather(
            *(self._attempt(attempts, self._source(), timeout_s) for _ in range(count))
        )
        conns = [conn for conn in opened if conn is not None]
        p50, p99, top = attempts.latency()
        report = BurstReport(
            count=count,
            opened=attempts.opened,
            failed=attempts.failed,
            failures=dict(attempts.failures),
            failure_samples=attempts.samples,
            all_open_s=round(attempts.last_open_at - started, 3) if conns else None,
            p50_ms=p50,
            p99_ms=p99,
            max_ms=top,
            retransmitted=attempts.retransmitted,
            retransmits=attempts.retransmits,
        )
        await close_idle(conns, timeout_s)
        return report

    async def close(self, timeout_s: float) -> CloseReport:
        """Close every held connection (and the canaries)."""
        started = perf_counter()
        conns = [conn for conn in self.conns if conn.open]
        await close_idle([*conns, *self.canaries], timeout_s)
        self.conns, self.canaries, self.held = [], [], 0
        return CloseReport(closed=len(conns), elapsed_s=round(perf_counter() - started, 3))

    async def handle(self, command: dict[str, Any]) -> Record:
        """Run one command; raises ValueError for an unknown one."""
        op = command.get("op")
        if op == "open":
            return await self.open(int(command["target"]), float(command["deadline_s"]))
        if op == "sweep":
            return await self.sweep(float(command["timeout_s"]))
        if op == "canary":
            return await self.canary(int(command["messages"]), float(command["timeout_s"]))
        if op == "burst":
            return await self.burst(int(command["count"]), float(command["timeout_s"]))
        if op == "close":
            return await self.close(float(command["timeout_s"]))
        raise ValueError(f"unknown command {op!r}")


async def _wait(attempts: Attempts, seconds: float) -> None:
    """Sleep ``seconds``, or less if a handshake in flight finishes first."""
    if attempts.inflight:
        await asyncio.wait(
            list(attempts.inflight), timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
    else:
        await asyncio.sleep(seconds)


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve(config: HoldConfig) -> None:
    """Answer commands from stdin until ``exit`` or its end, then close everything."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    holder = Holder(config)
    try:
        while line := await reader.readline():
            command = json.loads(line)
            if command.get("op") == "exit":
                break
            _say({"reply": (await holder.handle(command)).to_json()})
    finally:
        for conn in [*holder.conns, *holder.canaries]:
            conn.abort()


def main() -> None:
    config = HoldConfig.from_json(json.loads(sys.argv[1]))
    if config.nofile:
        raise_nofile_limit(config.nofile)
    uvloop.run(serve(config))


if __name__ == "__main__":
    main()
