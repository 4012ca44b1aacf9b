"""Burst acceptance: N connections started at once against one server.

Apart from the paced climb, because a server that takes connections one by
one may still choke when many arrive together: its accept loop falls behind,
the listen queue (its backlog, capped by ``net.core.somaxconn``) fills, and
the kernel drops the SYNs (or the handshake's last ACK) that do not fit, so
those clients retransmit after 1 s, 3 s, 7 s... Each burst is timed until the
last connection is open; its sockets' own retransmissions (TCP_INFO) and the
kernel's listen-queue counters over the burst show whether that happened.
After each burst every connection closes and the server's live consumers
must return to zero; how many were still live after the wait is recorded
(``live_consumers_after``). Failures that were the generator's own (it ran out
of ports or descriptors) are counted apart (``client_failed``), never as the
server's failed handshakes.
"""

from __future__ import annotations

from collections.abc import Callable

from channels_harness.experiments.attacks.aftermath import wait_no_consumers
from channels_harness.experiments.capacity import kernel
from channels_harness.experiments.capacity.climb import hold_config, victim_of
from channels_harness.experiments.capacity.holders import REPLY_GRACE_S
from channels_harness.experiments.capacity.plan import CapacityPlan
from channels_harness.generators.engine.hold import MODULE, BurstReport
from channels_harness.generators.engine.idle import CLIENT_SIDE_FAILURES
from channels_harness.generators.session import GeneratorSession
from channels_harness.report.rows import BurstRow
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess

# A burst whose slowest connections took this long went through retries or a
# stalled accept loop, even when no socket of ours counted a retransmission.
SLOW_MS = 1000.0


def client_failed(report: BurstReport) -> int:
    """The burst's failures that were the generator's own (out of ports or descriptors)."""
    return sum(count for kind, count in report.failures.items() if kind in CLIENT_SIDE_FAILURES)


def verdict(report: BurstReport, leaked: int | None = None) -> str:
    """How the server took the burst: ``clean``, ``slow``, ``retransmits``,
    ``consumers leaked`` (``leaked`` consumers still live after every connection
    closed) or ``handshakes failed`` (the worst that applies); ``generator-limited``
    when only the generator's own failures kept it from opening every connection."""
    if report.failed - client_failed(report):
        return "handshakes failed"
    if leaked:
        return "consumers leaked"
    if report.failed:
        return "generator-limited"
    if report.retransmitted:
        return "retransmits"
    if report.max_ms is not None and report.max_ms >= SLOW_MS:
        return "slow"
    return "clean"


def burst_row(
    server: ServerProcess,
    plan: CapacityPlan,
    layer: str,
    report: BurstReport,
    counters: dict[str, int | None],
    effective_backlog: int | None,
    leaked: int | None = None,
) -> BurstRow:
    """The row of one burst (``leaked``: live consumers left after it, None when
    not measured)."""
    own = client_failed(report)
    return BurstRow(
        server=server.spec.name,
        flavour=plan.cell,
        layer=layer,
        size=report.count,
        listen_backlog=server.spec.listen_backlog,
        listen_backlog_effective=effective_backlog,
        opened=report.opened,
        failed=report.failed - own,
        client_failed=own,
        failures=report.failures,
        failure_samples=report.failure_samples,
        all_open_s=report.all_open_s,
        p50_ms=report.p50_ms,
        p99_ms=report.p99_ms,
        max_ms=report.max_ms,
        retransmitted=report.retransmitted,
        retransmits=report.retransmits,
        listen_overflows=counters["ListenOverflows"],
        listen_drops=counters["ListenDrops"],
        syn_retrans=counters["TCPSynRetrans"],
        syncookies_sent=counters["SyncookiesSent"],
        live_consumers_after=leaked,
        verdict=verdict(report, leaked),
    )


def bursts(
    server: ServerProcess,
    plan: CapacityPlan,
    progress: Callable[[str], None],
    cpus: frozenset[int] | None = None,
    layer: str = "",
) -> list[BurstRow]:
    """One :class:`BurstRow` per size of ``plan.bursts`` against ``server``."""
    rows: list[BurstRow] = []
    effective = kernel.listen_backlog(server.port) if server.port else None
    timeout = scaled(plan.burst_timeout_s)
    with GeneratorSession(MODULE, hold_config(server, plan).to_json(), cpus) as generator:
        for size in plan.bursts:
            before = kernel.tcp_counters()
            reply = generator.call(
                {"op": "burst", "count": size, "timeout_s": timeout},
                2 * timeout + scaled(REPLY_GRACE_S),
            )
            counters = kernel.counters_delta(before, kernel.tcp_counters())
            leaked = None
            if server.running:
                leaked, _ = wait_no_consumers(victim_of(server, plan), plan.recovery_wait_s)
            report = BurstReport.from_json(reply)
            row = burst_row(server, plan, layer or plan.layer, report, counters, effective, leaked)
            rows.append(row)
            progress(
                f"burst {server.spec.name}: {row.opened}/{size} open in {row.all_open_s} s, "
                f"{row.retransmitted} retransmitted, {row.verdict}"
            )
            if not server.running:
                break
    return rows
