"""Every report section's columns, in the order report.md shows them.

Each :class:`~channels_harness.report.columns.Section` here is read by the
Markdown report, the console tables and the CSV export alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from channels_harness.report import intervals
from channels_harness.report.columns import Column, Section
from channels_harness.report.cost_ratios import CostRatioRow, cost_ratios
from channels_harness.report.grades import DEVIATING_GRADES
from channels_harness.report.loadcells import LoadCell, step_label
from channels_harness.report.rows import (
    PROFILE_GROUPS,
    PROFILE_OTHER,
    AtLimitRow,
    AttackRow,
    BlockingRow,
    BreakdownRow,
    BurstRow,
    CapacityPointRow,
    CompressionRow,
    ConformanceRow,
    CostRow,
    FanoutRow,
    HandshakeRow,
    HeadroomRow,
    LatencyRow,
    LimitsRow,
    LocustRow,
    MemoryRow,
    ProfileFindingRow,
    ProfileRow,
    Row,
    ScalingRow,
    SoakSummaryRow,
    ThresholdRow,
    ThroughputRow,
    VersionChangeRow,
    VersionRow,
    unstacked,
)
from channels_harness.report.stacks import against_first
from channels_harness.report.summary import Deviation, FeatureLine
from channels_harness.report.thresholds import missed_text, value_text, verdict_text
from channels_harness.runtime.noise import Noise

SERVER: Column[Any] = Column("server", "server")
FLAVOUR: Column[Any] = Column("flavour", "flavour")
P50: Column[Any] = Column("p50 ms", "p50_ms")
P99: Column[Any] = Column("p99 ms", "p99_ms")
P999: Column[Any] = Column("p99.9 ms", "p999_ms")
MAX: Column[Any] = Column("max ms", "max_ms")
RUNS: Column[Any] = Column("runs", "runs")
SPREAD: Column[Any] = Column("spread %", "spread_pct")
GEN_CPU: Column[Any] = Column("gen CPU", "generator_cpu")
GEN_BOUND: Column[Any] = Column("gen-bound", "generator_bound")
MSGS: Column[Any] = Column("msgs/s", "msgs_per_s")


def _interval(row: ThroughputRow | HandshakeRow | BreakdownRow) -> str:
    """The cell's ``95% CI`` or ``range``, computed from its runs."""
    if isinstance(row, ThroughputRow):
        return intervals.text(intervals.throughput(row))
    if isinstance(row, HandshakeRow):
        return intervals.text(intervals.handshake(row))
    return intervals.text(intervals.breakdown(row))


def _flags(row: ThroughputRow | HandshakeRow) -> str:
    """``unstable``, ``noisy`` and how many noisy runs were redone (blank for a
    settled cell on a quiet machine)."""
    flags = ["unstable"] if row.unstable else []
    if row.noise and Noise.from_json(row.noise).noisy:
        flags.append("noisy")
    if row.dropped_runs:
        flags.append(f"{row.dropped_runs} noisy run(s) redone")
    return ", ".join(flags)


CI: Column[Any] = Column("interval", "ci95", _interval)
TLS: Column[Any] = Column("TLS", "tls")
FLAGS: Column[Any] = Column("flags", "flags", _flags)

# The scenarios of the reference app's rows (None: throughput's echo before scenarios were
# named); any other is your app's: "app" for --message, or a scenario file's name.
REFERENCE_SCENARIOS = (None, "echo", "churn", "fanout", "idle")


def own_app(row: Any) -> bool:
    """Whether ``row`` measured your app (its ``flavour`` then holds the path loaded), or
    a scenario file's step (whatever the file's name)."""
    scenario = getattr(row, "scenario", None)
    return scenario not in REFERENCE_SCENARIOS or getattr(row, "step", None) is not None


def scenario_file(row: Any) -> bool:
    """Whether ``row`` measured a scenario file in ``bench``: a step's row, or a
    handshake row named after the file (``--message`` rows are scenario ``app``)."""
    if getattr(row, "step", None) is not None:
        return True
    return isinstance(row, HandshakeRow) and own_app(row) and row.scenario != "app"


def _own_messages(row: Any) -> bool:
    return own_app(row) and not scenario_file(row)


def _what(row: Any) -> str:
    """What your app was sent: ``your messages`` (--message) or the scenario's name."""
    return "your messages" if row.scenario == "app" else str(row.scenario)


# Your app's rows: the path loaded (stored in ``flavour``), what it was sent, and the step.
PATH: Column[Any] = Column("path", "flavour")
SCENARIO: Column[Any] = Column("scenario", "scenario", _what)
STEP: Column[Any] = Column("step", "step")


def _throughput_order(row: ThroughputRow) -> tuple[str, int, str, str, bool]:
    return (str(row.payload), int(row.concurrency or 0), row.server, row.flavour, row.tls)


_GEN_BOUND_FOOTER = (
    "A cell marked gen-bound was limited by the load generator, not the server; "
    "it is never used in the summary."
)

# Runs measured before confidence intervals (no series): their table as it was.
THROUGHPUT = Section(
    ThroughputRow,
    "Throughput (closed loop echo)",
    (
        SERVER,
        FLAVOUR,
        Column("conns", "concurrency"),
        Column("payload", "payload"),
        MSGS,
        SPREAD,
        RUNS,
        P50,
        P99,
        P999,
        Column("errors", "errors"),
        GEN_CPU,
        GEN_BOUND,
    ),
    plots=(("throughput", "throughput"), ("latency percentiles", "latency_percentiles")),
    footer=_GEN_BOUND_FOOTER,
    order=_throughput_order,
    where=lambda row: row.series is None and not own_app(row),
)

THROUGHPUT_CI = Section(
    ThroughputRow,
    "Throughput (closed loop echo)",
    (
        SERVER,
        FLAVOUR,
        TLS,
        Column("conns", "concurrency"),
        Column("payload", "payload"),
        MSGS,
        CI,
        RUNS,
        Column("server µs/msg", "server_cpu_us_per_msg"),
        P50,
        P99,
        Column("errors", "errors"),
        GEN_CPU,
        GEN_BOUND,
        FLAGS,
    ),
    plots=(("throughput", "throughput"), ("latency percentiles", "latency_percentiles")),
    intro="msgs/s is the median of the runs; interval: its 95% confidence interval (order "
    "statistics of the runs, whatever the shape of the noise) from 6 runs on, else the range "
    "of the runs, which is not a confidence interval. server µs/msg is the server's CPU time "
    "(all its processes, user + system) per message. unstable: the interval never narrowed "
    "to the target; noisy: other processes or CPU steal took the server's or the generator's "
    "cores during a run; redone: runs whose round was too noisy to keep were measured again.",
    footer=_GEN_BOUND_FOOTER,
    order=_throughput_order,
    where=lambda row: row.series is not None and not own_app(row),
)

THROUGHPUT_APP = Section(
    ThroughputRow,
    "Throughput of your app (closed loop)",
    (
        SERVER,
        PATH,
        SCENARIO,
        STEP,
        Column("conns", "concurrency"),
        MSGS,
        SPREAD,
        RUNS,
        P50,
        P99,
        P999,
        Column("errors", "errors"),
        GEN_CPU,
        GEN_BOUND,
    ),
    intro="Each connection sends the next message as soon as the reply to the last one came "
    "(a round trip ends at the next message the server sends, or as the scenario's step "
    "says); msgs/s is the median of the runs, latencies are over every run.",
    footer=_GEN_BOUND_FOOTER,
    where=_own_messages,
)

_LATENCY_COLUMNS: tuple[Column[Any], ...] = (
    Column("target/s", "target_rate"),
    Column("achieved/s", "achieved_rate"),
    P50,
    P99,
    P999,
    MAX,
    GEN_BOUND,
)

LATENCY = Section(
    LatencyRow,
    "Latency against load (open loop)",
    (SERVER, FLAVOUR, *_LATENCY_COLUMNS),
    plots=(("Latency against load (open loop)", "latency_vs_load"),),
    where=lambda row: not own_app(row),
)

LATENCY_APP = Section(
    LatencyRow,
    "Latency of your app against load (open loop)",
    (SERVER, PATH, SCENARIO, STEP, *_LATENCY_COLUMNS),
    plots=(("Latency against load (open loop)", "latency_vs_load"),),
    intro="Messages sent at a fixed rate (a share of the closed loop's peak), latency from "
    "each message's intended send time.",
    where=_own_messages,
)

HANDSHAKE = Section(
    HandshakeRow,
    "Handshakes",
    (SERVER, FLAVOUR, Column("per second", "handshakes_per_s"), P50, P99, SPREAD, RUNS),
    plots=(("Handshakes", "handshake"),),
    where=lambda row: row.series is None and not own_app(row),
)

HANDSHAKE_APP = Section(
    HandshakeRow,
    "Handshakes with your app",
    (
        SERVER,
        PATH,
        Column("per second", "handshakes_per_s"),
        P50,
        P99,
        Column("errors", "errors"),
        GEN_BOUND,
    ),
    plots=(("Handshakes", "handshake"),),
    intro="Connect with your handshake options, get accepted, close, as fast as the server allows.",
    where=_own_messages,
)

HANDSHAKE_CI = Section(
    HandshakeRow,
    "Handshakes",
    (
        SERVER,
        FLAVOUR,
        TLS,
        Column("per second", "handshakes_per_s"),
        CI,
        RUNS,
        Column("server µs/handshake", "server_cpu_us_per_handshake"),
        P50,
        P99,
        FLAGS,
    ),
    plots=(("Handshakes", "handshake"),),
    intro="Connect, accept and close cycles per second (over TLS the TLS handshake "
    "included); the median of the runs with its interval (a 95% confidence interval from "
    "6 runs on, else the range of the runs).",
    where=lambda row: row.series is not None and not own_app(row),
)

# -- scenario files: one row per step --------------------------------------------------

ERRORS: Column[Any] = Column("errors", "errors")
PUSH_P99: Column[Any] = Column("push p99 ms", "push_p99_ms")


def _other_frames(row: ThroughputRow | LatencyRow) -> str:
    """The cell's frames no step could use, by kind: ``chat.message 120, ping 3``."""
    return ", ".join(f"{kind} {count}" for kind, count in (row.other_frames or {}).items())


def _first_error(row: ThroughputRow | LatencyRow | HandshakeRow) -> str:
    """The first error message the row kept, cut to 100 characters."""
    first = row.error_samples[0] if row.error_samples else ""
    return first if len(first) <= 100 else first[:99] + "…"


OTHER_FRAMES: Column[Any] = Column("other frames", "other_frames", _other_frames)
FIRST_ERROR: Column[Any] = Column("first error", "error_samples", _first_error)


def _step_order(row: ThroughputRow | LatencyRow) -> tuple[str, str, str]:
    return (str(row.scenario), row.server, row.flavour)


SCENARIO_THROUGHPUT = Section(
    ThroughputRow,
    "Scenario steps (closed loop)",
    (
        SERVER,
        PATH,
        SCENARIO,
        STEP,
        Column("steps/s", "msgs_per_s"),
        CI,
        RUNS,
        Column("server µs/step", "server_cpu_us_per_msg"),
        P50,
        P99,
        PUSH_P99,
        ERRORS,
        OTHER_FRAMES,
        FIRST_ERROR,
        GEN_BOUND,
        FLAGS,
    ),
    intro="Each connection runs the scenario's steps in order, round after round. steps/s: "
    "the step's instances that ended well per second (median of the runs, with a 95% CI "
    "from 6 runs, else the range of the runs); p50/p99: from its send (or, for a step "
    "that waits for pushes, from when it began waiting) to the frame that ended it; "
    "push p99: now minus the "
    "frame's own timestamp (latency_from). errors: the step's failed instances (a wrong "
    "reply, a timeout, a lost connection) plus the cell's connection errors; other "
    "frames: what no waiting step could use, by kind, over the whole cell (the same on "
    "each step row); server µs/step: the server's CPU over the window per instance of "
    "this step (with steps in order, per round).",
    footer=_GEN_BOUND_FOOTER,
    order=_step_order,
    where=scenario_file,
)

SCENARIO_LATENCY = Section(
    LatencyRow,
    "Scenario steps against load (open loop)",
    (
        SERVER,
        PATH,
        SCENARIO,
        STEP,
        Column("target/s", "target_rate"),
        Column("achieved/s", "achieved_rate"),
        P50,
        P99,
        P999,
        MAX,
        PUSH_P99,
        ERRORS,
        OTHER_FRAMES,
        FIRST_ERROR,
        GEN_BOUND,
    ),
    intro="Steps begun on a fixed schedule (target/s and achieved/s count every step "
    "together), each on its connection in the scenario's order, think times left out; "
    "latency from the intended begin time, and a step that timed out or was still waiting "
    "at the end counts with the time it waited.",
    order=_step_order,
    where=scenario_file,
)

SCENARIO_HANDSHAKE = Section(
    HandshakeRow,
    "Scenario handshakes (connect steps included)",
    (
        SERVER,
        PATH,
        SCENARIO,
        Column("per second", "handshakes_per_s"),
        CI,
        RUNS,
        Column("server µs/handshake", "server_cpu_us_per_handshake"),
        P50,
        P99,
        ERRORS,
        FIRST_ERROR,
        FLAGS,
    ),
    plots=(("Handshakes", "handshake"),),
    intro="Connect, the scenario's connect steps, close, per second (median of the runs, "
    "95% CI); p50/p99 from the TCP connect to the end of the last connect step.",
    where=scenario_file,
)

MEMORY = Section(
    MemoryRow,
    "Memory per idle connection",
    (
        SERVER,
        FLAVOUR,
        Column("connections", "connections"),
        Column("RSS idle", "rss_idle_bytes"),
        Column("RSS loaded", "rss_loaded_bytes"),
        Column("bytes/conn", "bytes_per_connection"),
    ),
    plots=(("Memory per idle connection", "memory"),),
)

_BREAKDOWN_INTRO = (
    "Each layer adds one piece of the stack to the one before it; the difference "
    "between two rows is that piece's cost per message."
)

BREAKDOWN = Section(
    BreakdownRow,
    "Layer breakdown",
    (SERVER, Column("layer", "layer"), Column("µs/msg", "us_per_msg"), MSGS),
    plots=(("Layer breakdown", "breakdown"),),
    intro=_BREAKDOWN_INTRO,
    where=lambda row: row.ci95 is None and len(row.msgs_per_s_runs) < 2,
)

BREAKDOWN_CI = Section(
    BreakdownRow,
    "Layer breakdown",
    (SERVER, Column("layer", "layer"), Column("µs/msg", "us_per_msg"), CI, MSGS, RUNS),
    plots=(("Layer breakdown", "breakdown"),),
    intro=_BREAKDOWN_INTRO,
    where=lambda row: row.ci95 is not None or len(row.msgs_per_s_runs) >= 2,
)


# Short headers for PROFILE_GROUPS and PROFILE_OTHER, in that order.
_PROFILE_HEADERS: tuple[str, ...] = ("protocol", "ASGI glue", "Channels", "hops", "Django")
_PROFILE_HEADERS += ("consumer", "loop/idle", "other")


def _share_column(group: str, header: str) -> Column[ProfileRow]:
    return Column(f"{header} %", "groups", lambda r: round(100 * r.groups.get(group, 0.0), 1))


def _profile_order(row: ProfileRow) -> tuple[str, int]:
    order = ("bare-asgi", "async", "sync")
    return (row.server, order.index(row.flavour) if row.flavour in order else len(order))


PROFILE = Section(
    ProfileRow,
    "Where the time goes (py-spy profiles)",
    (
        SERVER,
        FLAVOUR,
        *(
            _share_column(group, header)
            for group, header in zip(
                (*PROFILE_GROUPS, PROFILE_OTHER), _PROFILE_HEADERS, strict=True
            )
        ),
        Column("attributed %", "attributed_share", lambda r: round(100 * r.attributed_share, 1)),
        MSGS,
        Column("server CPU µs/msg", "server_cpu_us_per_msg"),
        Column("flame graph", "flamegraph", lambda r: f"[svg]({r.flamegraph})"),
    ),
    plots=(("Where the time goes", "profile"),),
    intro="Each cell is the echo cell (closed loop) run again on a fresh server while py-spy "
    "samples every thread of it; profiling is never on in the measured cells. `bare-asgi` is "
    "the bare ASGI echo app (no Channels), `async` and `sync` the reference app's consumers. "
    "Shares are of the samples of the threads that serve: the event loop's thread at every "
    "sample (its idle time is `loop/idle`), other threads while they are not waiting for work. "
    "A sample goes to the group of the first frame, from the innermost out, that a rule "
    "claims, passing over generic helpers (threading, asyncio futures); the README says how.",
    order=_profile_order,
)

PROFILE_FINDINGS = Section(
    ProfileFindingRow,
    "Where the time goes: the breakdown's open questions",
    (
        SERVER,
        FLAVOUR,
        Column("hop µs/msg", "part_us_per_msg"),
        Column("added over bare ASGI µs/msg", "extra_us_per_msg"),
        Column(
            "hop share of added", "share", lambda r: None if r.share is None else f"{r.share:.0%}"
        ),
    ),
    intro="Thread time per message from the profiles above (every group but the idle loop). "
    "For `async` the hop is the per-message database-connection cleanup: AsyncConsumer.dispatch "
    "awaits aclose_old_connections, a sync_to_async call to the shared executor thread, and "
    "Django's close_old_connections runs there. For `sync` it is the hops to and from the single "
    "shared executor thread: SyncToAsync for each handler, AsyncToSync for each send, and the "
    "thread wake-ups.",
)

BLOCKING = Section(
    BlockingRow,
    "Handlers that do work",
    (
        SERVER,
        FLAVOUR,
        Column("kind", "kind"),
        Column("delay ms", "delay_ms"),
        Column("conns", "concurrency"),
        MSGS,
        P50,
        P99,
    ),
    intro="`block` sleeps in the handler's thread (time.sleep); `await` awaits "
    "(asyncio.sleep, async flavours only).",
)

COMPRESSION = Section(
    CompressionRow,
    "permessage-deflate (echo with and without compression)",
    (
        SERVER,
        FLAVOUR,
        Column("payload", "payload"),
        Column("compression", "compression"),
        MSGS,
        Column("msgs/s vs off", "msgs_per_s_ratio"),
        Column("wire bytes/msg", "wire_bytes_per_msg"),
        Column("bytes vs off", "wire_bytes_ratio"),
        Column("client µs/msg", "client_cpu_us_per_msg"),
        RUNS,
        Column("errors", "errors"),
    ),
    intro="Closed-loop echo over a few connections, deflate off and on, runs interleaved and "
    "ratios paired run by run. Wire bytes count both directions after the handshake, frame "
    "headers included. The client is websockets' sans-I/O protocol in Python: its CPU per "
    "message (compression included) is shown so its share of the slowdown can be told from "
    "the server's. Servers that decline deflate are not measured.",
)

_LOCUST_COLUMNS: tuple[Column[Any], ...] = (
    Column("users", "users"),
    Column("procs", "processes"),
    MSGS,
    P50,
    Column("p95 ms", "p95_ms"),
    P99,
    Column("failures", "failures"),
    GEN_CPU,
    GEN_BOUND,
    Column("resolution ms", "resolution_ms"),
)

LOCUST = Section(
    LocustRow,
    "Locust runs",
    (Column("scenario", "scenario"), SERVER, FLAVOUR, *_LOCUST_COLUMNS),
    plots=(("Locust runs", "locust"),),
    where=lambda row: not own_app(row),
)

LOCUST_APP = Section(
    LocustRow,
    "Locust runs against your app",
    (SERVER, PATH, SCENARIO, Column("step", "step", step_label), *_LOCUST_COLUMNS),
    where=own_app,
)


@dataclass(kw_only=True)
class LocustWorkerRow(Row):
    """One locust worker of a distributed cell (derived from the cell's ``per_worker``)."""

    SECTION: ClassVar[str] = "locust_workers"
    cell: str
    worker: str
    address: str
    users: int | None = None
    requests: int = 0
    failures: int = 0
    msgs_per_s: float | None = None
    cpu: float | None = None
    generator_bound: bool | None = None
    lost: str = ""


def _locust_workers(data: Mapping[str, Any]) -> list[LocustWorkerRow]:
    """Each worker's figures once per cell (the rows of one cell share them)."""
    found: list[LocustWorkerRow] = []
    seen: set[str] = set()
    for row in unstacked(data, LocustRow):
        cell = f"{row.scenario} {row.server} {row.flavour} #{row.repeat + 1}"
        if cell in seen or not row.per_worker:
            continue
        seen.add(cell)
        found += [
            LocustWorkerRow(
                cell=cell,
                worker=str(worker.index),
                address=worker.address or worker.host,
                users=worker.users,
                requests=worker.requests,
                failures=worker.failures,
                msgs_per_s=worker.msgs_per_s,
                cpu=worker.cpu,
                generator_bound=worker.generator_bound,
                lost=worker.lost or "",
            )
            for worker in row.per_worker
        ]
    return found


LOCUST_WORKERS = Section(
    LocustWorkerRow,
    "Locust workers",
    (
        Column("cell", "cell"),
        Column("worker", "worker"),
        Column("address", "address"),
        Column("users", "users"),
        Column("requests", "requests"),
        Column("failures", "failures"),
        Column("msgs/s", "msgs_per_s"),
        Column("CPU", "cpu"),
        GEN_BOUND,
        Column("lost", "lost"),
    ),
    intro="A distributed run's workers, each as its master saw it: CPU is the worker "
    "process's share of one core over the cell's steady window; the cell's own row "
    "holds the merged figures.",
    derive=_locust_workers,
)

FANOUT = Section(
    FanoutRow,
    "Fan-out through the channel layer",
    (
        Column("layer", "layer"),
        SERVER,
        FLAVOUR,
        Column("members", "group_size"),
        Column("messages", "messages"),
        Column("deliveries/s", "deliveries_per_s"),
        P50,
        P99,
        MAX,
        Column("lost", "lost"),
        RUNS,
        GEN_BOUND,
    ),
    plots=(("Fan-out through the channel layer", "fanout"),),
    intro="One member broadcasts timestamped messages to the room; latency runs from the "
    "send stamp to each member's receipt on the generator's clock.",
)

SCALING = Section(
    ScalingRow,
    "Throughput against server processes",
    (
        Column("pinning", "pinning"),
        SERVER,
        Column("layer", "layer"),
        Column("processes", "processes"),
        FLAVOUR,
        MSGS,
        SPREAD,
        RUNS,
        Column("server cores", "server_cpus"),
        GEN_BOUND,
    ),
)

SOAK = Section(
    SoakSummaryRow,
    "Soak",
    (
        SERVER,
        FLAVOUR,
        Column("minutes", "minutes"),
        Column("RSS start", "rss_start_bytes"),
        Column("RSS end", "rss_end_bytes"),
        Column("RSS growth %", "rss_growth_pct"),
        Column("fds before", "fds_start"),
        Column("fds after", "fds_end"),
        Column("errors", "errors"),
        Column("verdict", "verdict"),
    ),
    plots=(("Soak", "soak"),),
    intro="Samples of RSS, open descriptors and live consumers over time are in data.json "
    "(section soak); the verdict rule is in the notes below.",
)

# Runs of the old step method (no limit kind) keep their table as published.
LIMITS = Section(
    LimitsRow,
    "Concurrent idle connections",
    (
        SERVER,
        FLAVOUR,
        Column("target", "connections_target"),
        Column("held", "connections_held"),
        Column("bytes/conn", "bytes_per_connection"),
        Column("stopped by", "limit_reason"),
    ),
    where=lambda row: not row.limit_kind,
)

CAPACITY_LIMITS = Section(
    LimitsRow,
    "Capacity: concurrent idle connections",
    (
        SERVER,
        FLAVOUR,
        Column("layer", "layer"),
        Column("target", "connections_target"),
        Column("held", "connections_held"),
        Column("bytes/conn", "bytes_per_connection"),
        Column("conns/s", "accept_rate"),
        Column("limit", "limit_kind"),
        Column("whose", "limit_side"),
        Column("stopped by", "limit_reason"),
    ),
    plots=(("Capacity curves", "capacity"),),
    intro="Idle connections opened at a pace that follows the server, measured at every "
    "level, until the maximum asked or a limit: `whose` says if it is the server's, the "
    "machine's or the experiment's own bound (docs/capacity.md says how to read the curves).",
    where=lambda row: bool(row.limit_kind),
)


def _mib(value: int | None) -> str:
    return "" if value is None else f"{value / 2**20:.0f}"


CAPACITY = Section(
    CapacityPointRow,
    "Capacity curves: every level of the climb",
    (
        SERVER,
        Column("held", "connections"),
        Column("RSS MiB", "rss_bytes", lambda r: _mib(r.rss_bytes)),
        Column("bytes/conn", "bytes_per_connection"),
        Column("fds", "open_fds"),
        Column("conns/s", "accept_rate"),
        Column("CPU ms/handshake", "server_cpu_ms_per_handshake"),
        Column("idle CPU", "server_idle_cpu"),
        Column("ping max ms", "ping_max_ms"),
        Column("canary p50 ms", "canary_p50_ms"),
        Column("canary p99 ms", "canary_p99_ms"),
        Column("failed", "failed"),
        GEN_CPU,
    ),
    footer="idle CPU: the server's share of one core while it held the level with nothing "
    "opening; ping max: the slowest answer when every held connection was pinged at once.",
)

BURST = Section(
    BurstRow,
    "Burst acceptance",
    (
        SERVER,
        Column("burst", "size"),
        Column("backlog", "listen_backlog_effective"),
        Column("opened", "opened"),
        Column("failed", "failed"),
        Column("generator failed", "client_failed"),
        Column("all open s", "all_open_s"),
        P50,
        P99,
        Column("retransmitted", "retransmitted"),
        Column("leaked consumers", "live_consumers_after"),
        Column("verdict", "verdict"),
    ),
    intro="Connections started at once on a fresh server. failed: handshakes the server "
    "failed; generator failed: connections the generator itself could not open (out of "
    "ports or descriptors), which say nothing about the server. retransmitted: the burst's "
    "own sockets that had to resend their SYN or request because the listen queue was full "
    "(the client waits 1 s, 3 s, 7 s...). leaked consumers: live consumers left once every "
    "connection closed (blank: not measured).",
)

AT_LIMIT = Section(
    AtLimitRow,
    "At the limit, and after",
    (
        SERVER,
        Column("limit", "limit_kind"),
        Column("held", "connections_held"),
        Column("behaviour", "behaviour"),
        Column("new opened", "new_opened", lambda r: f"{r.new_opened}/{r.new_attempts}"),
        Column("held answered", "held_answered"),
        Column("recovered", "recovered"),
        Column("consumers after", "live_consumers_after_close"),
        Column("memory back %", "memory_returned_pct"),
    ),
    intro="Where the climb stopped: a few fresh connection attempts and a ping to every "
    "held connection; then every connection closed and a fresh canary had to echo.",
)

ATTACKS = Section(
    AttackRow,
    "Hostile clients",
    (
        SERVER,
        Column("attack", "attack"),
        Column("outcome", "outcome"),
        Column("canary echoed", "canary_ok"),
        Column("leaked consumers", "leaked_consumers"),
        Column("detail", "detail"),
    ),
    intro="After each attack a fresh client must still get its echo (the canary) and the "
    "app's live-consumer count must return to zero.",
)

HEADROOM = Section(
    HeadroomRow,
    "Generator headroom",
    (
        Column("generator", "generator"),
        Column("baseline msgs/s", "baseline_msgs_per_s"),
        Column("best Channels msgs/s", "best_channels_msgs_per_s"),
        Column("best cell", "best_cell"),
        Column("ratio", "ratio"),
        GEN_CPU,
    ),
    where=lambda row: row.ratio_ci95 is None and row.ratio_interval is None,
)


def _headroom_ratio(row: HeadroomRow) -> float:
    """The median of the per-round ratios (the row's stored ratio without paired runs)."""
    found = intervals.headroom(row)
    return round(found.value, 2) if found is not None else row.ratio


HEADROOM_CI = Section(
    HeadroomRow,
    "Generator headroom",
    (
        Column("generator", "generator"),
        Column("baseline msgs/s", "baseline_msgs_per_s"),
        Column("best Channels msgs/s", "best_channels_msgs_per_s"),
        Column("best cell", "best_cell"),
        Column("ratio", "ratio", _headroom_ratio),
        Column("ratio interval", "ratio_ci95", lambda r: intervals.text(intervals.headroom(r))),
        GEN_CPU,
    ),
    intro="The baseline and the best cell run in interleaved rounds; the ratio is the median "
    "of the per-round ratios, with its 95% confidence interval from 6 rounds on, else the "
    "range of the rounds' ratios.",
    where=lambda row: row.ratio_ci95 is not None or row.ratio_interval is not None,
)


def _ratio_range(row: VersionRow) -> str:
    if row.ratio_low is None or row.ratio_high is None:
        return ""
    return f"{row.ratio_interval or 'range'} {row.ratio_low:.2f}-{row.ratio_high:.2f}"


def _times(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


VERSIONS = Section(
    VersionRow,
    "Versions: each stack against the first",
    (
        Column("stack", "stack_label"),
        SERVER,
        FLAVOUR,
        MSGS,
        SPREAD,
        Column("x first", "ratio", lambda r: _times(r.ratio)),
        Column("interval", "ratio_range", _ratio_range),
        GEN_BOUND,
        Column("deviations", "deviations"),
        Column("changed", "changed"),
    ),
    plots=(("Throughput of each stack against the first", "versions"),),
    intro="Every stack ran in its own environment with the same harness and reference app; "
    "what a stack does not name is at the version of requirements.lock (each row's `stack` "
    "in data.json lists them all). msgs/s is the closed-loop echo at the headline cell; "
    "`x first` is its ratio to the first stack's same cell: the ratio of the two medians, "
    "since each stack ran in its own process after the other and no run of one pairs with a "
    "run of another. `interval` is that ratio's 95% confidence interval where both sides "
    "have 7 runs or more, else the range the runs allow (slowest over fastest to fastest "
    "over slowest). `deviations` counts the cases graded FAIL or NON-STRICT, `changed` the "
    "cases whose grade differs from the first stack's (listed below).",
    stacked=True,
    derive=against_first,
)

VERSION_CHANGES = Section(
    VersionChangeRow,
    "Versions: conformance grades that changed against the first stack",
    (
        Column("stack", "stack_label"),
        SERVER,
        Column("case", "case"),
        Column("clause", "clause"),
        Column("first stack", "before"),
        Column("this stack", "after"),
        Column("flavours", "flavours"),
        Column("observed", "observed"),
    ),
    stacked=True,
)

# The cells that missed a threshold a table lists (data.json has them all).
MISSED_SHOWN = 10

THRESHOLDS = Section(
    ThresholdRow,
    "Thresholds",
    (
        Column("threshold", "threshold"),
        Column("cells", "cells"),
        Column(
            "worst",
            "worst",
            lambda r: (
                "" if r.worst_cell is None else f"{value_text(r.metric, r.worst)} ({r.worst_cell})"
            ),
        ),
        Column("verdict", "passed", verdict_text),
        Column("cells that missed", "missed", lambda r: missed_text(r, MISSED_SHOWN)),
    ),
    intro="Each threshold is checked in every cell that measures its metric (a server with "
    "its flavour or path, a concurrency or rate, a step; the raw echo baseline is not a "
    "cell), and every cell must hold it. A threshold no cell measures is missed, never passed. "
    "A missed threshold makes the command exit 1.",
)


# The measurement sections of report.md, after the summary and conformance.
def _cost_order(row: CostRow) -> tuple[str, str, int, str]:
    flavours = ("sync", "async", "generic-sync", "generic-async")
    rank = flavours.index(row.flavour) if row.flavour in flavours else len(flavours)
    return (row.server, row.scenario, rank, _cost_stack(row))


def _top_syscalls(row: CostRow) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in list(row.syscalls_by_name.items())[:5])


COST_INTRO = (
    "Counted, not timed: the server ran under valgrind's callgrind (PYTHONHASHSEED=0, "
    "one connection, each message sent after the previous reply, no sleeps); after a "
    "warm-up, two phases of N and 2N messages were counted and their difference divided "
    "by N. **instructions/msg**: user-space instructions of all the server's processes "
    "(Python, C extensions, libc; no kernel time, no waiting, no cache or branch misses). "
    "**syscalls/msg**: the calls that enter the kernel (the thread hops of SyncConsumer "
    "show here as futex and wake-up calls); vDSO clock reads are counted apart. Both "
    "repeat to a fraction of a percent on a busy machine, so they decide regressions "
    "wall clock cannot; they say nothing about concurrency, latency or what the kernel "
    "and network cost. fixed share: the part of the N phase per-message cost does not "
    "explain (near 0: linear)."
)


def _cost_stack(row: CostRow) -> str:
    """``channels 4.1.0, django 5.2`` for a row a versions run counted in one stack."""
    stack = row.stack or {}
    return ", ".join(
        f"{k} {stack[k]}" for k in ("channels", "django", "daphne", "uvicorn") if k in stack
    )


def _cost_server(row: CostRow) -> str:
    """The server, and the stack a versions run counted it in: ``uvicorn (channels 4.1.0)``."""
    stack = _cost_stack(row)
    return f"{row.server} ({stack})" if stack else row.server


COST = Section(
    CostRow,
    "Cost per message (valgrind, deterministic)",
    (
        Column("server", "server", _cost_server),
        FLAVOUR,
        Column("instructions/msg", "instructions_per_msg"),
        Column("syscalls/msg", "syscalls_per_msg"),
        Column("vDSO/msg", "vdso_calls_per_msg"),
        Column("commonest syscalls/msg", "", _top_syscalls),
        Column("N", "messages"),
        Column("fixed share", "fixed_share"),
        Column("error", "error"),
    ),
    intro=COST_INTRO,
    order=_cost_order,
    stacked=True,
)

COST_RATIOS = Section(
    CostRatioRow,
    "Cost ratios: counted against timed",
    (
        Column("pair", "pair"),
        Column("top", "top"),
        Column("bottom", "bottom"),
        Column("instructions", "instructions"),
        Column("syscalls", "syscalls"),
        Column("wall clock (time/msg)", "wall_clock"),
        Column("server CPU/msg", "server_cpu"),
    ),
    intro=(
        "Each ratio is top / bottom: above 1, a message costs top more. instructions and "
        "syscalls come from the counted rows (one connection, one message at a time); wall "
        "clock is the time per message from the bench headline cell (many connections: "
        "it adds waiting, contention, the kernel and the machine's noise) and server CPU "
        "its CPU time per message, when this run timed the same pair."
    ),
    derive=cost_ratios,
)

REPORT_SECTIONS: tuple[Section[Any], ...] = (
    THRESHOLDS,
    VERSIONS,
    VERSION_CHANGES,
    THROUGHPUT,
    THROUGHPUT_CI,
    THROUGHPUT_APP,
    SCENARIO_THROUGHPUT,
    LATENCY,
    LATENCY_APP,
    SCENARIO_LATENCY,
    HANDSHAKE,
    HANDSHAKE_CI,
    HANDSHAKE_APP,
    SCENARIO_HANDSHAKE,
    MEMORY,
    BREAKDOWN,
    BREAKDOWN_CI,
    PROFILE,
    PROFILE_FINDINGS,
    BLOCKING,
    COMPRESSION,
    LOCUST,
    LOCUST_APP,
    LOCUST_WORKERS,
    FANOUT,
    SCALING,
    SOAK,
    LIMITS,
    CAPACITY_LIMITS,
    CAPACITY,
    BURST,
    AT_LIMIT,
    ATTACKS,
    HEADROOM,
    HEADROOM_CI,
    COST,
    COST_RATIOS,
)

# Conformance: a server's deviations (one row per case), and the recorded values.
DEVIATIONS = Section(
    Deviation,
    "deviations",
    (
        Column("case", "case"),
        Column("clause", "clause"),
        Column("grade", "grade"),
        Column("observed", "observed"),
        Column("flavours", "flavours"),
    ),
)
INFO = Section(
    ConformanceRow,
    "Recorded values (INFO)",
    (SERVER, Column("case", "case"), Column("clause", "clause"), Column("observed", "observed")),
)


def _would_be(row: ConformanceRow) -> str:
    return f"N/A (would be {row.would_be})"


# N/A cases that ran anyway and deviated: nothing hides behind N/A.
NOT_APPLICABLE_RAN = Section(
    ConformanceRow,
    "Not applicable, but deviated when run anyway",
    (
        SERVER,
        Column("case", "case"),
        Column("grade", "would_be", _would_be),
        Column("observed", "observed"),
    ),
    where=lambda row: row.grade == "N/A" and row.would_be in DEVIATING_GRADES,
)


def _observed_on(server: str) -> Callable[[FeatureLine], str]:
    return lambda line: line.values.get(server, "-")


def feature_table(servers: Sequence[str]) -> Section[FeatureLine]:
    """The conformance feature table's columns: the feature, then one per server."""
    columns = [Column[FeatureLine]("feature", "feature")]
    columns += [Column(server, server, _observed_on(server)) for server in servers]
    return Section(FeatureLine, "Features (as observed)", tuple(columns))


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _generator_cpu(cell: LoadCell) -> str:
    if cell.generator_cpu is None:
        return "?"
    return f"{cell.generator_cpu:.0%}{'!' if cell.generator_bound else ''}"


def _rate(cell: LoadCell) -> str:
    spread = f" ±{cell.spread:.0%}" if cell.repeats > 1 else ""
    return f"{cell.msgs_per_s:.0f}{spread}"


def _server_cpu(cell: LoadCell) -> str:
    return "?" if cell.server_cpu is None else f"{cell.server_cpu:.0%}"


def _dash(value: float | None, template: str = "{:.0f}") -> str:
    return "-" if value is None else template.format(value)


def load_comparison(first: str, churn: bool, memory: bool) -> Section[LoadCell]:
    """The locust comparison table's columns: ``/first`` names the first server,
    ``churn`` counts handshakes, ``memory`` adds connections and KB per connection."""
    columns: list[Column[LoadCell]] = [
        Column(
            "server flavour",
            "cell",
            lambda c: " ".join(filter(None, (c.server, c.flavour, c.step))),
        ),
        Column("handshakes/s" if churn else "msgs/s", "msgs_per_s", _rate),
        Column("p50", "p50_ms", lambda c: _ms(c.p50_ms)),
        Column("p95", "p95_ms", lambda c: _ms(c.p95_ms)),
        Column("p99", "p99_ms", lambda c: _ms(c.p99_ms)),
        Column("fail", "failures", lambda c: str(c.failures)),
        Column("gen", "generator_cpu", _generator_cpu),
        Column("srv", "server_cpu", _server_cpu),
        Column("/sync", "vs_sync", lambda c: _ratio(c.vs_sync)),
        Column(f"/{first}", "vs_first", lambda c: _ratio(c.vs_first)),
        Column("/raw", "vs_raw", lambda c: _ratio(c.vs_raw)),
    ]
    if memory:
        columns += [
            Column(
                "conns",
                "connections",
                lambda c: "-" if c.connections is None else f"{c.connections:.0f}",
            ),
            Column(
                "KB/conn",
                "rss_per_connection",
                lambda c: (
                    "-" if c.rss_per_connection is None else f"{c.rss_per_connection / 1024:.1f}"
                ),
            ),
        ]
    return Section(LoadCell, "locust load", tuple(columns))
