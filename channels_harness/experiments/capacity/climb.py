"""One server's capacity climb: paced levels up to its limit, then a look at the limit.

The held connections live in the capacity generator process
(:mod:`channels_harness.generators.engine.hold`), pinned to the generator
core. At each level of the plan it opens connections at a pace that follows
the server's handshake latency; then the climb lets the server settle and
samples it (RSS, open descriptors, CPU), pings every held connection and
times the echo on a few canary connections. :func:`~.limit.decide` says
whether that level reached a limit. Where the climb stops, a few fresh
connection attempts, a ping sweep and the canary show how the server meets
its limit; then every connection closes and the server must echo a fresh
canary, its live consumers return to zero, and its memory is read again.
"""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from channels_harness.errors import GeneratorError
from channels_harness.experiments.attacks.aftermath import (
    canary_within,
    live_consumers,
    wait_no_consumers,
)
from channels_harness.experiments.attacks.victim import Victim
from channels_harness.experiments.capacity import kernel
from channels_harness.experiments.capacity.holders import Holders, processes_needed
from channels_harness.experiments.capacity.limit import LevelEvidence, Limit, behaviour, decide
from channels_harness.experiments.capacity.plan import CapacityPlan
from channels_harness.generators.engine.hold import (
    CANARY_TEXT,
    CanaryReport,
    HoldConfig,
    OpenReport,
    SweepReport,
)
from channels_harness.generators.engine.idle import loopback_sources
from channels_harness.report.rows import AtLimitRow, CapacityPointRow, LimitsRow
from channels_harness.runtime.cpu import SATURATED_CPU
from channels_harness.runtime.loopback import check_target
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess

# Limits that make a level's connections count as not held.
LOST_HOLD = ("died", "dropped", "unresponsive")


@dataclass(frozen=True)
class ServerSample:
    """The server's process tree at one moment (``at``: monotonic seconds)."""

    rss: int | None
    fds: int | None
    cpu_s: float | None
    nofile: int | None
    at: float = 0.0

    def cpu_since(self, earlier: ServerSample) -> float | None:
        """CPU seconds the server used between ``earlier`` and this sample."""
        if self.cpu_s is None or earlier.cpu_s is None:
            return None
        return round(self.cpu_s - earlier.cpu_s, 3)


@dataclass(frozen=True)
class LevelSamples:
    """The server before a level, as its opening ended, and after it settled."""

    before: ServerSample
    opened: ServerSample
    settled: ServerSample

    def opening_cpu(self) -> float | None:
        return self.opened.cpu_since(self.before)

    def idle_cpu_share(self) -> float | None:
        """The server's CPU share of one core while it held the level idle."""
        cpu = self.settled.cpu_since(self.opened)
        wall = self.settled.at - self.opened.at
        return round(cpu / wall, 3) if cpu is not None and wall > 0 else None


def sample(server: ServerProcess) -> ServerSample:
    """RSS, open descriptors and CPU seconds of the server's tree, and its open-file limit."""
    procs = server.processes()
    if not procs:
        return ServerSample(None, None, None, None, time.monotonic())
    rss = fds = 0
    cpu = 0.0
    counts = []  # (open descriptors, open-file limit) of each process
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            rss += proc.memory_info().rss
            open_fds = proc.num_fds()
            fds += open_fds
            times = proc.cpu_times()
            cpu += times.user + times.system
            counts.append((open_fds, int(proc.rlimit(psutil.RLIMIT_NOFILE)[0])))
    return ServerSample(rss, fds, cpu, descriptor_capacity(counts), time.monotonic())


def descriptor_capacity(counts: Sequence[tuple[int, int]]) -> int | None:
    """The open files the server's tree may hold for connections, from each
    process's (open descriptors, open-file limit).

    Each process has its own open-file limit, so several workers on one socket
    hold more connections than one process may: the capacity is the sum of the
    limits of the processes that hold connections (at least half their limit
    in use). A supervisor that holds none (hypercorn's, granian's, uvicorn's
    with --workers) does not add its limit once the workers fill up; before
    any process is half full, every process counts.
    """
    limits = [limit for _used, limit in counts]
    holding = [limit for used, limit in counts if used * 2 >= limit]
    return sum(holding or limits) if limits else None


def victim_of(server: ServerProcess, plan: CapacityPlan) -> Victim:
    """``server`` as the attacks' aftermath checks see it: the reference app's echo
    and live consumers, or the user's app (its path, handshake and first message)."""
    return Victim(server, plan.target if plan.own else None, plan.traffic)


@dataclass
class ClimbOutcome:
    """Every row one server's climb produced."""

    summary: LimitsRow
    points: list[CapacityPointRow]
    at_limit: AtLimitRow


def hold_config(server: ServerProcess, plan: CapacityPlan) -> HoldConfig:
    """The capacity generator's configuration for a climb or bursts on ``server``."""
    url = check_target(server.ws_url(plan.ws_path), plan.allow_remote)
    traffic = plan.traffic
    return HoldConfig(
        url=url,
        canary_url=url,
        headers=[list(pair) for pair in traffic.handshake_headers()] if traffic else [],
        message=traffic.message(0, 0) if traffic and not traffic.echo else CANARY_TEXT,
        sources=loopback_sources(plan.source_count(kernel.ephemeral_ports())),
        canaries=plan.canaries,
        connect_timeout_s=scaled(plan.connect_timeout_s),
        start_rate=plan.start_rate,
        min_rate=plan.min_rate,
        max_rate=plan.max_rate,
        max_inflight=plan.max_inflight,
        target_latency_s=plan.target_latency_s,
        fail_limit=plan.fail_limit,
        nofile=plan.descriptors(),
    )


@dataclass
class Climb:
    """The state of one server's climb (see the module doc)."""

    server: ServerProcess
    plan: CapacityPlan
    holders: Holders
    say: Callable[[str], None]
    memory_budget: int | None
    layer: str
    points: list[CapacityPointRow] = field(default_factory=list)
    base: ServerSample = ServerSample(None, None, None, None)
    started: float = 0.0
    dropped: int = 0
    failed: int = 0
    best: CapacityPointRow | None = None
    last: OpenReport | None = None
    # The descriptor capacity at the last level (see descriptor_capacity).
    nofile: int | None = None

    def canary(self, messages: int) -> CanaryReport:
        return self.holders.canary(messages, scaled(self.plan.canary_timeout_s))

    def sweep(self) -> SweepReport:
        return self.holders.sweep(scaled(self.plan.ping_timeout_s))

    def point(
        self,
        level: int,
        samples: LevelSamples,
        opened: OpenReport | None,
        sweep: SweepReport | None,
        canary: CanaryReport,
    ) -> CapacityPointRow:
        """The curve point of one level (level 0: the idle server)."""
        held = sweep.held if sweep else opened.held if opened else 0
        dropped = max(opened.dropped_total if opened else 0, sweep.dropped_total if sweep else 0)
        cpu = samples.opening_cpu()
        now = samples.settled
        grown = now.rss - self.base.rss if now.rss and self.base.rss else None
        return CapacityPointRow(
            server=self.server.spec.name,
            flavour=self.plan.cell,
            layer=self.layer,
            level=level,
            connections=held,
            t_s=round(time.monotonic() - self.started, 2),
            opened=opened.opened if opened else 0,
            failed=opened.failed if opened else 0,
            dropped=dropped,
            open_s=opened.elapsed_s if opened else None,
            accept_rate=opened.accept_rate if opened else None,
            pace_rate=opened.rate_end if opened else None,
            handshake_p50_ms=opened.handshake_p50_ms if opened else None,
            handshake_p99_ms=opened.handshake_p99_ms if opened else None,
            retransmits=opened.retransmits if opened else 0,
            rss_bytes=now.rss,
            bytes_per_connection=round(grown / held) if grown is not None and held else None,
            open_fds=now.fds,
            server_cpu_s=cpu,
            server_cpu_ms_per_handshake=(
                round(cpu * 1000 / opened.opened, 3) if cpu and opened and opened.opened else None
            ),
            server_idle_cpu=samples.idle_cpu_share(),
            pinged=sweep.pinged if sweep else 0,
            ping_answered=sweep.answered if sweep else 0,
            ping_p50_ms=sweep.p50_ms if sweep else None,
            ping_max_ms=sweep.max_ms if sweep else None,
            canary_p50_ms=canary.p50_ms,
            canary_p99_ms=canary.p99_ms,
            canary_max_ms=canary.max_ms,
            canary_errors=canary.errors,
            generator_cpu=opened.generator_cpu if opened else None,
            generator_wait=opened.generator_wait if opened else None,
            generator_rss_bytes=opened.generator_rss_bytes if opened else None,
        )

    def baseline(self) -> None:
        """Sample the idle server and time the canary with no connection held."""
        self.started = time.monotonic()
        self.base = sample(self.server)
        time.sleep(self.plan.settle_s)
        samples = LevelSamples(self.base, self.base, sample(self.server))
        canary = self.canary(self.plan.canary_messages)
        self.points.append(self.point(0, samples, None, None, canary))

    def level(self, level: int, deadline: float) -> Limit | None:
        """Open up to ``level``, measure, and return the limit it reached (if any)."""
        before = sample(self.server)
        remaining = max(0.0, deadline - time.monotonic())
        opened = self.holders.open(level, remaining, scaled(self.plan.connect_timeout_s))
        after_opening = sample(self.server)
        time.sleep(self.plan.settle_s)
        samples = LevelSamples(before, after_opening, sample(self.server))
        now = samples.settled
        sweep = self.sweep()
        canary = self.canary(self.plan.canary_messages)
        row = self.point(level, samples, opened, sweep, canary)
        self.points.append(row)
        self.say(
            f"capacity {self.server.spec.name}: {opened.held} held ({opened.accept_rate:.0f}/s, "
            f"RSS {(now.rss or 0) / 2**20:.0f} MiB, canary p99 {canary.p99_ms} ms)"
        )
        evidence = LevelEvidence(
            level=level,
            opened=opened,
            sweep=sweep,
            canary=canary,
            dropped_before=self.dropped,
            server_exit=None if self.server.running else _exit_code(self.server),
            rss_bytes=now.rss,
            open_fds=now.fds,
            nofile=now.nofile,
            machine_nofile=machine_nofile(self.plan.descriptors()),
        )
        self.last = opened
        self.nofile = now.nofile or self.nofile
        self.dropped = max(opened.dropped_total, sweep.dropped_total)
        self.failed += opened.failed
        limit = decide(evidence, self.plan.min_accept_rate, self.memory_budget)
        if limit is None or limit.kind not in LOST_HOLD:
            self.best = row
        return limit

    def run_levels(self) -> Limit:
        """Climb level by level until a limit or the maximum asked."""
        deadline = time.monotonic() + self.plan.budget_s
        for level in self.plan.levels():
            if time.monotonic() >= deadline:
                return Limit("time budget", f"the time budget ran out before {level} connections")
            limit = self.level(level, deadline)
            if limit is not None:
                return limit
        return Limit("target", f"reached the maximum asked ({self.plan.max_connections})")

    def examine(self, limit: Limit) -> AtLimitRow:
        """How the server meets ``limit``; then close everything and check its recovery."""
        probe = held = canary = None
        if limit.side != "experiment" and self.server.running:
            timeout = scaled(self.plan.connect_timeout_s)
            probe = self.holders.burst(self.plan.probe_connections, timeout)
            held = self.sweep()
            canary = self.canary(5)
        alive = self.server.running
        held_ok = held is None or (not held.unanswered and not held.lost)
        held_ok = held_ok and (canary is None or not canary.errors)
        peak = sample(self.server)
        row = AtLimitRow(
            server=self.server.spec.name,
            flavour=self.plan.cell,
            layer=self.layer,
            limit_kind=limit.kind,
            limit_side=limit.side,
            connections_held=self.last.held if self.last else 0,
            behaviour=behaviour(
                limit,
                alive,
                max(self.dropped, held.dropped_total if held else 0),
                probe.opened if probe else 0,
                probe.failures if probe else {},
                held_ok,
            ),
            server_alive=alive,
            new_attempts=probe.count if probe else 0,
            new_opened=probe.opened if probe else 0,
            new_failures=probe.failures if probe else {},
            new_p50_ms=probe.p50_ms if probe else None,
            new_max_ms=probe.max_ms if probe else None,
            held_pinged=held.pinged if held else 0,
            held_answered=held.answered if held else 0,
            canary_ok=None if canary is None else not canary.errors,
            canary_p99_ms=canary.p99_ms if canary else None,
            rss_idle_bytes=self.base.rss,
            rss_peak_bytes=peak.rss,
            detail=limit.reason,
        )
        self.recover(row)
        return row

    def close_all(self) -> str:
        """Close every held connection; "" when the generators did, else what went
        wrong: then the generator processes are stopped, which makes the kernel
        close their connections, so none is left open either way."""
        try:
            self.holders.close(scaled(self.plan.recovery_wait_s))
        except GeneratorError as exc:
            self.holders.stop()
            return (
                f"closing the held connections failed ({exc}), so the generator processes "
                "were stopped, which closed them; "
            )
        return ""

    def recover(self, row: AtLimitRow) -> None:
        """Close every connection and record how the server recovers into ``row``."""
        closing = self.close_all()
        if not self.server.running:
            row.recovered = False
            row.recovery_detail = (
                f"{closing}the server is gone (exit code {_exit_code(self.server)})"
            )
            return
        victim = victim_of(self.server, self.plan)
        why, seconds, _first = canary_within(victim, self.plan.recovery_wait_s)
        consumers, _ = wait_no_consumers(victim, self.plan.recovery_wait_s)
        after = sample(self.server)
        row.recovered = why is None
        row.recovery_s = round(seconds, 2)
        row.recovery_detail = closing + (why or "a fresh connection echoed")
        row.live_consumers_after_close = consumers
        row.rss_after_close_bytes = after.rss
        row.fds_after_close = after.fds
        if after.rss and row.rss_peak_bytes and self.base.rss:
            grown = row.rss_peak_bytes - self.base.rss
            if grown > 0:
                returned = (row.rss_peak_bytes - after.rss) / grown * 100
                row.memory_returned_pct = round(returned, 1)

    def summary(self, limit: Limit, backlog: int | None, sources: int) -> LimitsRow:
        """The server's one-line answer: connections held and what stopped the climb."""
        best = self.best
        opening = sum(p.open_s or 0.0 for p in self.points)
        opened = sum(p.opened for p in self.points)
        gen_cpu = max(((p.generator_cpu or 0) + (p.generator_wait or 0)) for p in self.points)
        return LimitsRow(
            server=self.server.spec.name,
            flavour=self.plan.cell,
            connections_target=self.plan.max_connections,
            connections_held=best.ping_answered if best else 0,
            connections_opened=opened,
            bytes_per_connection=best.bytes_per_connection if best else None,
            rss_idle_bytes=self.base.rss,
            rss_held_bytes=best.rss_bytes if best else None,
            limit_reason=limit.reason,
            layer=self.layer,
            limit_kind=limit.kind,
            limit_side=limit.side,
            step=self.plan.level_step,
            levels=len(self.points) - 1,
            duration_s=round(time.monotonic() - self.started, 1),
            accept_rate=round(opened / opening, 1) if opening else None,
            handshakes_failed=self.failed,
            connections_dropped=self.dropped,
            server_nofile=self.nofile or self.base.nofile,
            listen_backlog=backlog,
            sources=sources,
            generator_cpu_max=round(gen_cpu, 3),
            generator_bound=gen_cpu >= SATURATED_CPU,
        )


def machine_nofile(wanted: int) -> int | None:
    """This process's hard open-file limit if it is below ``wanted`` (and cannot be
    raised: :func:`~channels_harness.generators.engine.idle.raise_nofile_limit`
    already tried), else None."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard if hard != resource.RLIM_INFINITY and hard < wanted else None


def _exit_code(server: ServerProcess) -> int | None:
    popen = server.popen
    return popen.poll() if popen is not None else server.returncode


def climb(
    server: ServerProcess,
    plan: CapacityPlan,
    progress: Callable[[str], None],
    cpus: frozenset[int] | None = None,
    memory_budget: int | None = None,
    layer: str = "",
) -> ClimbOutcome:
    """Climb ``server`` to its limit or ``plan.max_connections``; every row of it."""
    config = hold_config(server, plan)
    held_at_most = plan.max_connections + plan.probe_connections + plan.canaries
    count = plan.generator_processes or processes_needed(
        held_at_most, resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    )

    def on_progress(line: dict[str, Any]) -> None:
        held, rate = line.get("held"), line.get("rate")
        progress(f"capacity {server.spec.name}: opening, {held} held, {rate}/s")

    with Holders(config, count, cpus, on_progress) as holders:
        state = Climb(server, plan, holders, progress, memory_budget, layer or plan.layer)
        state.baseline()
        limit = state.run_levels()
        live = backlog = None
        if server.running and server.port:
            backlog = kernel.listen_backlog(server.port)
            with contextlib.suppress(OSError, ValueError, KeyError):
                live = live_consumers(victim_of(server, plan))
        at_limit = state.examine(limit)
    summary = state.summary(limit, backlog, len(config.sources))
    summary.live_consumers_at_end = live
    summary.generator_processes = count
    return ClimbOutcome(summary=summary, points=state.points, at_limit=at_limit)
