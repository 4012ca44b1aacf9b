"""The row of every data.json section, defined once.

A producer builds one of these and hands it to
:meth:`~channels_harness.report.model.Run.add`; data.json stores its fields;
every renderer (console, Markdown, HTML, plots, compare) reads rows back with
:func:`rows_of` and takes its columns from :mod:`channels_harness.report.columns`.
A new field is added here, in one place.

Fields are in the order data.json shows them. Fields with a default are the
ones older runs (or some producers) may lack; a row read from an old run gets
the default. ``stack``, on the rows a ``versions`` run collects from its
environments, maps each distribution of the measured stack to its version
(None in every other run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from channels_harness.runtime.records import Record


@dataclass(kw_only=True)
class Row(Record):
    """A row of one data.json section (:attr:`SECTION`)."""

    SECTION: ClassVar[str] = ""


R = TypeVar("R", bound=Row)


def rows_of(data: Mapping[str, Any], kind: type[R]) -> list[R]:
    """The rows of ``kind``'s section of a data.json document, typed."""
    return [kind.from_json(row) for row in data.get(kind.SECTION) or []]


def unstacked(data: Mapping[str, Any], kind: type[R]) -> list[R]:
    """:func:`rows_of` without the rows a versions run measured in other stacks
    (they carry a ``stack``): what every section but the versions ones shows."""
    return [row for row in rows_of(data, kind) if getattr(row, "stack", None) is None]


@dataclass(kw_only=True)
class ConformanceRow(Row):
    """One graded case on one server and flavour."""

    SECTION: ClassVar[str] = "conformance"
    case: str
    clause: str
    title: str = ""
    area: str = ""
    server: str
    flavour: str
    grade: str
    expected: str = ""
    observed: str
    known_deviation: bool = False
    stack: dict[str, str] | None = None
    # For an N/A case that ran anyway: the grade its checks earned ("" otherwise).
    would_be: str = ""


@dataclass(kw_only=True)
class ThroughputRow(Row):
    """Closed-loop echo throughput of one cell: the median of its runs."""

    SECTION: ClassVar[str] = "throughput"
    scenario: str = "echo"
    server: str
    flavour: str
    concurrency: int
    payload: str
    payload_bytes: int | None = None
    mode: str = "closed"
    generator: str = ""
    generator_processes: int = 1
    runs: int
    msgs_per_s: float
    msgs_per_s_runs: list[float] = field(default_factory=list)
    spread_pct: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    max_ms: float | None = None
    errors: int = 0
    # Messages (handshakes) the clients started, warm-up included: what errors are a share of.
    sent: int | None = None
    generator_cpu: float | None = None
    generator_demand: float | None = None
    generator_bound: bool
    server_cpus: list[int] | None = None
    generator_cpus: list[int] | None = None
    # The 95% confidence interval of msgs_per_s (from 6 runs; with fewer the
    # runs' range is the interval, see runtime.confidence), and each run's p99.
    ci95: list[float] | None = None
    p99_ms_runs: list[float] = field(default_factory=list)
    # Rows of one series were measured in the same interleaved rounds, so their
    # runs pair up by index; unstable: the interval never narrowed to the target.
    series: str | None = None
    unstable: bool = False
    tls: bool = False
    # The server's CPU time (its whole process tree, user + system) per message.
    server_cpu_us_per_msg: float | None = None
    server_cpu_us_per_msg_runs: list[float] = field(default_factory=list)
    # What else the machine did meanwhile (channels_harness.runtime.noise.Noise).
    noise: dict[str, Any] | None = None
    # Runs measured and dropped because their round was too noisy (measured again).
    dropped_runs: int = 0
    stack: dict[str, str] | None = None
    # A scenario file's step this row measures (None: the whole echo or message round trip);
    # its push latency (latency_from) percentiles, the cell's frames no step could use by
    # kind (the same on every step row of the cell) and some error messages.
    step: str | None = None
    push_p50_ms: float | None = None
    push_p99_ms: float | None = None
    other_frames: dict[str, int] | None = None
    error_samples: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class LatencyRow(Row):
    """Open-loop latency of one cell at one rate (a share of its peak)."""

    SECTION: ClassVar[str] = "latency"
    server: str
    flavour: str
    connections: int | None = None
    share_of_peak: float | None = None
    target_rate: float
    achieved_rate: float
    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None
    p999_ms: float | None = None
    max_ms: float | None = None
    errors: int = 0
    sent: int | None = None
    generator_cpu: float | None = None
    generator_bound: bool = False
    stack: dict[str, str] | None = None
    scenario: str | None = None
    step: str | None = None
    # As on ThroughputRow: push latency, the cell's other frames by kind, error messages.
    push_p50_ms: float | None = None
    push_p99_ms: float | None = None
    other_frames: dict[str, int] | None = None
    error_samples: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class HandshakeRow(Row):
    """Connect-accept-close cycles per second of one server and flavour."""

    SECTION: ClassVar[str] = "handshake"
    server: str
    flavour: str
    concurrency: int | None = None
    handshakes_per_s: float
    handshakes_per_s_runs: list[float] = field(default_factory=list)
    ci95: list[float] | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    runs: int = 1
    spread_pct: float | None = None
    errors: int = 0
    sent: int | None = None
    generator_cpu: float | None = None
    generator_bound: bool = False
    series: str | None = None
    unstable: bool = False
    tls: bool = False
    server_cpu_us_per_handshake: float | None = None
    noise: dict[str, Any] | None = None
    dropped_runs: int = 0
    stack: dict[str, str] | None = None
    # A scenario file's handshakes: each cycle runs its connect steps before the close.
    scenario: str | None = None
    error_samples: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class MemoryRow(Row):
    """Server memory with ``connections`` idle connections open."""

    SECTION: ClassVar[str] = "memory"
    server: str
    flavour: str
    connections: int
    opened: int | None = None
    errors: int = 0
    rss_idle_bytes: int | None = None
    rss_loaded_bytes: int | None = None
    bytes_per_connection: int | None
    stack: dict[str, str] | None = None


@dataclass(kw_only=True)
class BreakdownRow(Row):
    """One layer of the stack: microseconds per message up to and including it."""

    SECTION: ClassVar[str] = "breakdown"
    server: str
    layer: str
    us_per_msg: float
    msgs_per_s: float | None = None
    runs: int = 1
    # The 95% confidence interval of us_per_msg (from 6 runs; fewer: the runs' range).
    ci95: list[float] | None = None
    msgs_per_s_runs: list[float] = field(default_factory=list)
    stack: dict[str, str] | None = None


@dataclass(kw_only=True)
class BlockingRow(Row):
    """Throughput when the handler sleeps (``block``) or awaits (``await``)."""

    SECTION: ClassVar[str] = "blocking"
    server: str
    flavour: str
    kind: str
    delay_ms: int
    concurrency: int | None = None
    msgs_per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    generator_bound: bool = False
    stack: dict[str, str] | None = None


@dataclass(kw_only=True)
class HeadroomRow(Row):
    """The generator against the no-ASGI echo baseline, over the best Channels cell."""

    SECTION: ClassVar[str] = "headroom"
    generator: str
    generator_processes: int = 1
    baseline: str = ""
    baseline_msgs_per_s: float
    baseline_msgs_per_s_runs: list[float] = field(default_factory=list)
    baseline_spread_pct: float | None = None
    best_channels_msgs_per_s: float | None = None
    best_channels_msgs_per_s_runs: list[float] = field(default_factory=list)
    best_cell: str = ""
    ratio: float
    generator_cpu: float | None = None
    generator_demand: float | None = None
    generator_msgs_per_cpu_s: float | None = None
    capacity_ratio: float | None = None
    target: float | None = None
    ok: bool | None = None
    # The 95% confidence interval of ratio: the median of the per-round ratios
    # (paired runs), from 6 rounds; ratio_interval says "95% CI" or "range".
    ratio_ci95: list[float] | None = None
    ratio_interval: str | None = None
    stack: dict[str, str] | None = None


@dataclass(kw_only=True)
class WorkerFigures(Record):
    """What one locust worker of a distributed cell did, as its master saw it.

    ``requests`` and ``failures`` count every request type; ``msgs_per_s`` is the
    row's request type per second (steady seconds, as the row's own rate); ``cpu``
    the worker process's share of one core over the cell's steady window (None:
    fewer than two samples in it); ``lost`` why the worker was lost during the run.
    """

    index: int | None = None
    host: str = ""
    address: str | None = None
    pid: int | None = None
    users: int | None = None
    requests: int = 0
    failures: int = 0
    msgs_per_s: float | None = None
    cpu: float | None = None
    generator_bound: bool | None = None
    lost: str | None = None


@dataclass(kw_only=True)
class LocustRow(Row):
    """One locust cell: what locust measured against one server and flavour."""

    SECTION: ClassVar[str] = "locust"
    scenario: str
    server: str
    flavour: str
    layer: str = "memory"
    server_processes: int = 1
    workers: int = 0
    users: int | None = None
    processes: int | None = None
    duration_s: float | None = None
    request_type: str = ""
    requests: int = 0
    failures: int
    msgs_per_s: float
    avg_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    handshakes: int = 0
    generator_cpu: float | None = None
    generator_cpu_total: float | None = None
    generator_bound: bool | None
    server_cpu: float | None = None
    resolution_ms: float | None = None
    server_cpus: list[int] | None = None
    generator_cpus: list[int] | None = None
    errors: list[Any] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    generator_bound_unknown: str | None = None
    worker_requests: int | None = None
    master_requests: int | None = None
    worker_commands: list[list[str]] | None = None
    # Workers on other hosts: the address the master bound (None: loopback or no master).
    master_bind: str | None = None
    # Each locust worker's own figures (the row's are the merged ones).
    per_worker: list[WorkerFigures] | None = None
    repeat: int = 0
    machine_load_1m: float | None = None
    output: str | None = None
    server_rss_idle_bytes: int | None = None
    server_rss_bytes: int | None = None
    rss_per_connection_bytes: int | None = None
    # A scenario file's step (locust's request name) this row measures, if any.
    step: str | None = None
    # Frames no request was waiting for, by kind (the cell's, on each of its rows).
    other_frames: dict[str, int] | None = None


@dataclass(kw_only=True)
class FanoutRow(Row):
    """One room size: deliveries per second and delivery latency through the layer."""

    SECTION: ClassVar[str] = "fanout"
    layer: str
    server: str
    flavour: str
    group_size: int
    messages: int | None = None
    deliveries_per_s: float
    spread_pct: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    delivered: int = 0
    lost: int = 0
    errors: int = 0
    runs: int = 1
    generator_cpu: float | None = None
    generator_bound: bool = False


@dataclass(kw_only=True)
class ScalingRow(Row):
    """Closed-loop throughput of ``processes`` server processes sharing a layer."""

    SECTION: ClassVar[str] = "scaling"
    server: str
    layer: str
    processes: int
    flavour: str = ""
    pinning: str = ""
    msgs_per_s: float
    spread_pct: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    runs: int = 1
    connections: int | None = None
    generator_processes: int | None = None
    generator_cpu: float | None = None
    generator_bound: bool = False
    server_cpus: list[int] | str | None = None


@dataclass(kw_only=True)
class SoakSampleRow(Row):
    """One sample of a soak: the server's state and the load's counters at ``t_s``."""

    SECTION: ClassVar[str] = "soak"
    server: str
    flavour: str = ""
    t_s: float
    rss_bytes: int | None = None
    open_fds: int | None = None
    live_consumers: int | None = None
    errors: int = 0
    msgs_per_s: float | None = None
    handshakes: int = 0
    deliveries: int = 0


@dataclass(kw_only=True)
class SoakSummaryRow(Row):
    """A whole soak of one server and flavour, and its verdict."""

    SECTION: ClassVar[str] = "soak_summary"
    server: str
    flavour: str = ""
    minutes: float | None = None
    samples: int = 0
    rss_start_bytes: int | None = None
    rss_end_bytes: int | None = None
    rss_growth_pct: float | None = None
    fds_start: int | None = None
    fds_under_load: int | None = None
    fds_end: int | None = None
    live_consumers_end: int | None = None
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    echo_sent: int = 0
    echo_p99_ms: float | None = None
    handshakes: int = 0
    deliveries: int = 0
    lost_deliveries: int = 0
    generator_cpu: float | None = None
    verdict: str


@dataclass(kw_only=True)
class LimitsRow(Row):
    """How many idle connections one server held, and what stopped the climb.

    ``limit_kind`` names the limit and ``limit_side`` whose it is: ``server``
    (``died``, ``dropped``, ``refused``, ``fd-limit``, ``unresponsive``,
    ``slow-accept``: the server or its app gave up), ``machine`` (``memory``)
    or ``experiment`` (``target``, ``time budget``, ``generator``).
    ``accept_rate`` is connections opened per second of opening over the
    whole climb.
    """

    SECTION: ClassVar[str] = "limits"
    server: str
    flavour: str = ""
    connections_target: int | None = None
    connections_held: int
    connections_opened: int | None = None
    bytes_per_connection: int | None = None
    rss_idle_bytes: int | None = None
    rss_held_bytes: int | None = None
    live_consumers_at_end: int | None = None
    limit_reason: str = ""
    log_tail: str | None = None
    layer: str = ""
    limit_kind: str = ""
    limit_side: str = ""
    step: int | None = None
    levels: int | None = None
    duration_s: float | None = None
    accept_rate: float | None = None
    handshakes_failed: int = 0
    connections_dropped: int = 0
    server_nofile: int | None = None
    listen_backlog: int | None = None
    sources: int | None = None
    generator_cpu_max: float | None = None
    generator_bound: bool = False
    generator_processes: int = 1


@dataclass(kw_only=True)
class AttackRow(Row):
    """One hostile client against one server, and what was left of the server after."""

    SECTION: ClassVar[str] = "attacks"
    server: str
    attack: str
    seconds: float | None = None
    outcome: str
    canary_ok: bool
    canary_s: float | None = None
    leaked_consumers: int | None = None
    detail: str = ""


# The groups a profile's samples are attributed to, in the order charts stack them
# (the wire first, the idle loop last); PROFILE_OTHER holds what no rule claimed.
PROFILE_GROUPS: tuple[str, ...] = (
    "server protocol and parsing",
    "ASGI glue",
    "Channels dispatch",
    "asgiref sync_to_async and thread hops",
    "Django (database connections, signals)",
    "consumer code",
    "event loop and idle",
)
PROFILE_OTHER = "other (not attributed)"


@dataclass(kw_only=True)
class ProfileRow(Row):
    """Where one server and flavour spend their time: py-spy samples taken in a
    separate run of the echo cell, attributed to named groups.

    ``groups`` maps each of :data:`PROFILE_GROUPS` (and :data:`PROFILE_OTHER`) to
    its share of the counted samples; ``us_per_msg`` is the same as thread time
    per echoed message. ``flamegraph`` is an SVG's path inside the run folder.
    """

    SECTION: ClassVar[str] = "profile"
    server: str
    flavour: str
    app: str = ""
    groups: dict[str, float]
    attributed_share: float
    flamegraph: str
    us_per_msg: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    samples_seen: int = 0
    rate_hz: int | None = None
    duration_s: float | None = None
    msgs_per_s: float | None = None
    server_cpu_us_per_msg: float | None = None


@dataclass(kw_only=True)
class ProfileFindingRow(Row):
    """One question the layer breakdown leaves open, answered from the profiles:
    how much of ``flavour``'s thread time per message over the bare ASGI app
    (``extra_us_per_msg``) is ``part`` (``part_us_per_msg``)."""

    SECTION: ClassVar[str] = "profile_findings"
    server: str
    flavour: str
    part: str
    part_us_per_msg: float
    extra_us_per_msg: float
    share: float | None = None
    text: str


@dataclass(kw_only=True)
class FailureRow(Row):
    """A cell that could not be measured: it stays out of every figure."""

    SECTION: ClassVar[str] = "failures"
    section: str
    cell: dict[str, Any]
    message: str
    log_tail: str = ""
    stack: dict[str, str] | None = None


@dataclass(kw_only=True)
class VersionRow(Row):
    """One stack of a ``versions`` run on one server and flavour, against the first stack:
    throughput of the headline cell as a ratio, and how many conformance grades changed."""

    SECTION: ClassVar[str] = "versions"
    stack_label: str
    stack: dict[str, str]
    first: bool = False
    server: str
    flavour: str
    concurrency: int | None = None
    payload: str | None = None
    msgs_per_s: float | None = None
    spread_pct: float | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    # "95% CI" or "range" (too few runs a side for a confidence interval).
    ratio_interval: str | None = None
    generator_bound: bool = False
    deviations: int | None = None
    changed: int | None = None


@dataclass(kw_only=True)
class VersionChangeRow(Row):
    """A conformance case whose grade on one server changed between the first stack of a
    ``versions`` run and another stack (flavours with the same change are listed together)."""

    SECTION: ClassVar[str] = "version_changes"
    stack_label: str
    stack: dict[str, str]
    server: str
    case: str
    clause: str = ""
    flavours: str
    before: str
    after: str
    observed: str = ""


@dataclass(kw_only=True)
class ConformanceFeatureRow(Row):
    """What the conformance suite observed of one feature of one server (the feature table)."""

    SECTION: ClassVar[str] = "conformance_features"
    server: str
    feature: str
    value: str
    cases: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class CompressionRow(Row):
    """Echo round trips with permessage-deflate on or off, measured in one run.

    ``compression`` is ``off`` or the extension the server agreed to. The
    ratios compare this row with the ``off`` row of the same server, flavour
    and payload, run for run (paired); ``client_cpu_us_per_msg`` is what the
    client itself spent, compression included.
    """

    SECTION: ClassVar[str] = "compression"
    server: str
    flavour: str
    payload: str
    payload_bytes: int
    compression: str
    client: str = ""
    messages: int
    runs: int
    msgs_per_s: float
    msgs_per_s_runs: list[float] = field(default_factory=list)
    wire_bytes_per_msg: float
    wire_bytes_sent: int = 0
    wire_bytes_received: int = 0
    client_cpu_us_per_msg: float | None = None
    msgs_per_s_ratio: float | None = None
    wire_bytes_ratio: float | None = None
    errors: int = 0


@dataclass(kw_only=True)
class CapacityPointRow(Row):
    """One level of a capacity climb: the server with ``connections`` held.

    ``bytes_per_connection`` is (RSS now - RSS idle) / connections;
    ``server_cpu_ms_per_handshake`` the server's CPU time while the level
    opened divided by the connections opened (it includes what the held
    connections cost meanwhile); ``server_idle_cpu`` its CPU share of one core
    while it held the level with nothing opening. Pings go to every held
    connection; the canary echo latency is measured on a few connections
    apart from the held ones, after the level is open.
    """

    SECTION: ClassVar[str] = "capacity"
    server: str
    flavour: str = ""
    layer: str = ""
    level: int
    connections: int
    t_s: float | None = None
    opened: int = 0
    failed: int = 0
    dropped: int = 0
    open_s: float | None = None
    accept_rate: float | None = None
    pace_rate: float | None = None
    handshake_p50_ms: float | None = None
    handshake_p99_ms: float | None = None
    retransmits: int = 0
    rss_bytes: int | None = None
    bytes_per_connection: int | None = None
    open_fds: int | None = None
    server_cpu_s: float | None = None
    server_cpu_ms_per_handshake: float | None = None
    server_idle_cpu: float | None = None
    pinged: int = 0
    ping_answered: int = 0
    ping_p50_ms: float | None = None
    ping_max_ms: float | None = None
    canary_p50_ms: float | None = None
    canary_p99_ms: float | None = None
    canary_max_ms: float | None = None
    canary_errors: int = 0
    generator_cpu: float | None = None
    generator_wait: float | None = None
    generator_rss_bytes: int | None = None


@dataclass(kw_only=True)
class BurstRow(Row):
    """``size`` connections started at once against one server.

    ``retransmitted``/``retransmits``: the burst's own sockets that had to
    retransmit (their SYN or request: the listen queue was full) and how many
    segments, from TCP_INFO. The ``listen_*``, ``syn_retrans`` and
    ``syncookies_sent`` counters are the kernel's for the whole network
    namespace over the burst (other traffic on the machine counts too).
    """

    SECTION: ClassVar[str] = "burst"
    server: str
    flavour: str = ""
    layer: str = ""
    size: int
    listen_backlog: int | None = None
    listen_backlog_effective: int | None = None
    opened: int
    # Handshakes the server failed; client_failed: the generator's own failures
    # (out of ports or descriptors), which say nothing about the server.
    failed: int = 0
    client_failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    failure_samples: list[str] = field(default_factory=list)
    all_open_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    retransmitted: int = 0
    retransmits: int = 0
    listen_overflows: int | None = None
    listen_drops: int | None = None
    syn_retrans: int | None = None
    syncookies_sent: int | None = None
    # Live consumers left once every connection of the burst closed (None: not measured).
    live_consumers_after: int | None = None
    verdict: str


@dataclass(kw_only=True)
class AtLimitRow(Row):
    """What one server did where its climb stopped, and after the connections closed.

    ``behaviour``: how the server met the limit (``refuses cleanly``,
    ``stops accepting``, ``stalls``, ``drops connections``, ``dies``,
    ``keeps accepting``, or ``no server limit reached``). ``new_*``: a few
    fresh connection attempts at the limit; ``held_*``: a ping to every held
    connection. Recovery: once every connection closed, whether a fresh
    canary echoed (``recovered``), the live consumers left and how much of
    the memory the connections took came back.
    """

    SECTION: ClassVar[str] = "at_limit"
    server: str
    flavour: str = ""
    layer: str = ""
    limit_kind: str
    limit_side: str = ""
    connections_held: int
    behaviour: str
    server_alive: bool = True
    new_attempts: int = 0
    new_opened: int = 0
    new_failures: dict[str, int] = field(default_factory=dict)
    new_p50_ms: float | None = None
    new_max_ms: float | None = None
    held_pinged: int = 0
    held_answered: int = 0
    canary_ok: bool | None = None
    canary_p99_ms: float | None = None
    recovered: bool | None = None
    recovery_s: float | None = None
    recovery_detail: str = ""
    rss_idle_bytes: int | None = None
    rss_peak_bytes: int | None = None
    rss_after_close_bytes: int | None = None
    memory_returned_pct: float | None = None
    fds_after_close: int | None = None
    live_consumers_after_close: int | None = None
    detail: str = ""


@dataclass(kw_only=True)
class ThresholdRow(Row):
    """One ``--threshold`` and its verdict over the run's rows.

    ``threshold`` is the expression as given; ``metric`` (``p99``,
    ``msgs_per_s``, ``errors``, ``error_rate`` ...), ``op`` and ``bound`` (in
    ``unit``: ms for latency, per second for rates, a count, or % for the error
    rate) what it was read as; ``step`` limits it to rows of that scenario step
    (None: every row). ``cells`` counts the rows that measure the metric; each
    must hold the bound. ``missed`` lists every cell that did not, as
    ``{"cell": ..., "value": ...}`` (value None: the cell did not measure it);
    ``worst`` and ``worst_cell`` are the value furthest on the wrong side (or
    nearest the bound). ``passed`` is false when a cell missed or no cell
    measured the metric (``reason`` says so).
    """

    SECTION: ClassVar[str] = "thresholds"
    threshold: str
    step: str | None = None
    metric: str
    op: str
    bound: float
    unit: str = ""
    cells: int = 0
    missed: list[dict[str, Any]] = field(default_factory=list)
    worst: float | None = None
    worst_cell: str | None = None
    passed: bool
    reason: str = ""


@dataclass(kw_only=True)
class CostRow(Row):
    """What a message costs one server, counted under valgrind: deterministic, so it
    decides regressions where wall clock cannot.

    ``instructions_per_msg``: the user-space instructions the server's processes
    executed per message (guest instructions under callgrind; no kernel code);
    ``syscalls_per_msg``: the syscalls they made per message, but the vDSO ones
    (``vdso_calls_per_msg``: clock reads, which natively enter no kernel), and the
    commonest ones by name (``syscalls_by_name``, per message). Both are the
    difference of two phases on one connection after ``warmup`` messages,
    ``messages`` then twice as many (``phase_instructions`` and ``phase_syscalls``
    hold each phase's total), divided by ``messages``: what a phase costs whatever
    its length cancels out. ``fixed_share``: the share of the first phase that
    per-message cost does not explain (near 0: the cost is linear in messages).
    For ``--app`` and scenario files ``flavour`` holds the path and ``unit`` is a
    ``step``. ``error`` says why a server or flavour could not be counted (its
    figures are None then)."""

    SECTION: ClassVar[str] = "cost"
    server: str
    flavour: str
    scenario: str = "echo"
    unit: str = "message"
    instructions_per_msg: float | None = None
    syscalls_per_msg: float | None = None
    vdso_calls_per_msg: float | None = None
    syscalls_by_name: dict[str, float] = field(default_factory=dict)
    messages: int = 0
    warmup: int = 0
    phase_instructions: list[int] = field(default_factory=list)
    phase_syscalls: list[int] = field(default_factory=list)
    fixed_share: float | None = None
    processes: int = 0
    method: str = ""
    error: str = ""
    stack: dict[str, str] | None = None


ROW_TYPES: tuple[type[Row], ...] = (
    ConformanceRow,
    ThroughputRow,
    LatencyRow,
    HandshakeRow,
    MemoryRow,
    BreakdownRow,
    BlockingRow,
    HeadroomRow,
    LocustRow,
    FanoutRow,
    ScalingRow,
    SoakSampleRow,
    SoakSummaryRow,
    LimitsRow,
    AttackRow,
    FailureRow,
    VersionRow,
    VersionChangeRow,
    ProfileRow,
    ProfileFindingRow,
    ConformanceFeatureRow,
    CompressionRow,
    CapacityPointRow,
    BurstRow,
    AtLimitRow,
    ThresholdRow,
    CostRow,
)

# The row sections of data.json, in the order the document lists them.
SECTIONS: tuple[str, ...] = tuple(kind.SECTION for kind in ROW_TYPES)
